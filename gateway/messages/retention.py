"""Retention: an SMS's words are kept ``MESSAGE_RETENTION_DAYS`` (default 90), then replaced by a fixed marker.

What a message said (her reply, a reminder naming a visit) is what could
disclose her status; what delivery charts and indicators read stays: who,
direction, status, dates, cost, failure reason, the reminder it carried. Only
messages that are done with are purged (never one still queued or sending).
``purge_old_texts`` runs as a periodic job (``jobs.purge_message_texts``,
daily) in batches, each its own transaction, so it never holds many rows
locked and a killed run resumes where it stopped.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

from flask import current_app
from sqlalchemy import select, update

from gateway.adapters.database import db
from gateway.core import clock
from gateway.core.models import Message

PURGED_TEXT = "[removed after the retention period]"
PURGE_BATCH = 1000
FINISHED = ("outbox", "sent", "delivered", "failed", "cancelled", "received")


def purge_old_texts(now: dt.datetime | None = None, *, days: int | None = None, batch: int = PURGE_BATCH,
                    progress: Callable[[int], None] | None = None) -> int:
    """Replace the text of every finished message older than the retention period; how many were purged."""
    days = current_app.config["SETTINGS"].message_retention_days if days is None else days
    cutoff = (now or clock.utcnow()) - dt.timedelta(days=days)
    purged, after = 0, 0
    while True:
        ids = list(db.session.scalars(
            select(Message.id).where(Message.id > after, Message.created_at < cutoff, Message.status.in_(FINISHED),
                                     Message.text != PURGED_TEXT)
            .order_by(Message.id).limit(batch)))
        if not ids:
            db.session.commit()
            return purged
        db.session.execute(update(Message).where(Message.id.in_(ids), Message.status.in_(FINISHED))
                           .values(text=PURGED_TEXT).execution_options(synchronize_session=False))
        db.session.commit()
        purged += len(ids)
        after = ids[-1]
        if progress is not None:
            progress(len(ids))
