"""Retention: finished SMS older than MESSAGE_RETENTION_DAYS lose their text, keep what the charts read."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

import jobs
from gateway.adapters.database import db
from gateway.core import clock
from gateway.core.config import Settings
from gateway.core.models import Message
from gateway.messages.retention import PURGED_TEXT, purge_old_texts

NOW = dt.datetime(2026, 6, 1, 12, 0)


def _message(days_old: int, status: str = "delivered", direction: str = "out", text: str = "Visit the clinic") -> int:
    created = NOW - dt.timedelta(days=days_old)
    row = Message(direction=direction, phone="+27821234567", text=text, status=status, backend="outbox",
                  created_at=created, sent_at=created, delivered_at=created if status == "delivered" else None,
                  cost_amount=0.5, cost_currency="ZAR")
    db.session.add(row)
    db.session.commit()
    return row.id


def test_old_finished_texts_are_purged_in_batches_and_metadata_stays(app):
    old = [_message(91), _message(200, "failed"), _message(95, "received", "in", "please call me")]
    young = _message(89)
    waiting = _message(120, "queued")  # not yet sent: never purged
    batches = []
    with clock.frozen(NOW):
        assert purge_old_texts(batch=2, progress=batches.append) == 3
    assert batches == [2, 1]
    db.session.expire_all()
    for message_id in old:
        row = db.session.get(Message, message_id)
        assert row.text == PURGED_TEXT
        assert row.status in ("delivered", "failed", "received") and row.sent_at is not None
        assert row.cost_amount is not None and row.phone == "+27821234567"
    assert db.session.get(Message, young).text == "Visit the clinic"
    assert db.session.get(Message, waiting).text == "Visit the clinic"
    with clock.frozen(NOW):
        assert purge_old_texts() == 0  # a second run finds nothing left


def test_the_setting_and_the_periodic_job(app, tmp_path):
    assert Settings.from_env(tmp_path, {}).message_retention_days == 90
    assert Settings.from_env(tmp_path, {"MESSAGE_RETENTION_DAYS": "30"}).message_retention_days == 30
    assert jobs.PERIODIC["purge-texts"] == (86400, "jobs.purge_message_texts")
    _message(400)
    assert jobs.purge_message_texts() == {"purged": 1}
    assert db.session.scalar(sa.select(Message.text)) == PURGED_TEXT
