"""Closing a client: she has died, moved or transferred out. One function, ``close``, for every caller.

A minimal version for the follow-up of missed visits (a Mentor Mother's
outcome ``died`` or ``transferred_out``): nothing more is sent to her (her SMS
are stopped without a confirmation), her open appointments and pending
reminders are cancelled, and the closing is audited with its reason. The
client's own ``status`` / ``closed_reason`` fields (and re-opening) belong to
the closing of clients and infants; ``is_closed`` is the one question the
rest of the gateway asks.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from gateway.adapters.database import db
from gateway.core import audit, clock
from gateway.core.models import Appointment, Client, Reminder

CLOSE_REASONS = ("transferred_out", "died", "moved_away", "declined", "other")


def is_closed(client: Client) -> bool:
    """True when the client has left the programme (nothing is sent to her, no follow-up opens)."""
    return getattr(client, "status", "active") == "closed"


def close(client: Client, date: dt.date, reason: str, actor: str) -> None:
    """Close her record on ``date`` for ``reason`` (one of CLOSE_REASONS), audited. The caller commits."""
    if reason not in CLOSE_REASONS:
        raise ValueError(f"reason must be one of {CLOSE_REASONS}")
    if hasattr(client, "status"):
        client.status = "closed"
    if hasattr(client, "closed_reason"):
        client.closed_reason = reason
    if not client.opted_out:
        client.opted_out, client.opted_out_at = True, clock.utcnow()
    cancelled = db.session.execute(
        update(Appointment).where(Appointment.client_id == client.id, Appointment.status == "due")
        .values(status="cancelled", version=Appointment.version + 1)).rowcount
    db.session.execute(
        update(Reminder).where(Reminder.client_id == client.id, Reminder.status.in_(("scheduled", "queued")))
        .values(status="cancelled", version=Reminder.version + 1))
    audit.record(actor, "client.closed", "client", client.id,
                 {"reason": reason, "date": date.isoformat(), "appointments_cancelled": cancelled})
