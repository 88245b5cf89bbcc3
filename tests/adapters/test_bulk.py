"""gateway/adapters/bulk.py's statements write what the plain SQLAlchemy statements write, on either database.

On PostgreSQL they are hand-built (``unnest`` over binary arrays, ``= ANY``),
so the values that are easy to get wrong go through them here: texts with
quotes, commas, braces, backslashes and non-Latin letters, NULLs among
values, a value the same in every row (sent once), decimals and timestamps.
"""
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from gateway.adapters import bulk
from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Client, Message

AWKWARD = ['plain', 'a "quoted", {braced} text', "back\\slash and 'single' quotes", "NULL", "",
           "Kliniki: ziara yako ni Jumatatu — asante ✓", "multi\nline"]
NOW = dt.datetime(2026, 11, 23, 9, 30, 15, 123456)


def _client():
    client_id = db.session.execute(insert(Client).values(phone="+27820000001", country="ZA", language="en",
                                                         reminder_hour=9)).inserted_primary_key[0]
    return client_id


def _message_rows(client_id, n):
    return [{"client_id": client_id if i % 2 else None, "direction": "out", "phone": f"+2782{i:07d}",
             "status": "queued", "backend": "africastalking", "text": AWKWARD[i % len(AWKWARD)],
             "reminder_id": None, "reminder_version": i, "attempts": 0,
             "enqueued_at": NOW if i % 3 else None} for i in range(n)]


def _stored(ids, columns):
    rows = {row.id: row for row in db.session.execute(select(Message).where(Message.id.in_(ids))).scalars()}
    return [{name: getattr(rows[i], name) for name in columns} for i in ids]


def test_insert_returning_ids_stores_every_value_and_returns_ids_in_row_order(app):
    rows = _message_rows(_client(), 40)
    ids = bulk.insert_returning_ids(Message.__table__, rows, key="reminder_version")
    assert len(set(ids)) == 40
    assert _stored(ids, rows[0].keys()) == rows  # each id is its own row's: the order of RETURNING is not trusted


def test_insert_returning_ids_refuses_a_key_that_repeats_and_writes_nothing(app):
    rows = _message_rows(_client(), 3)
    with pytest.raises(ValueError, match="reminder_id must differ"):
        bulk.insert_returning_ids(Message.__table__, rows, key="reminder_id")  # all None
    assert db.session.scalar(select(Message.id)) is None


def test_update_rows_sets_each_rows_own_values_and_leaves_other_rows_alone(app):
    rows = _message_rows(_client(), 30)
    ids = bulk.insert_returning_ids(Message.__table__, rows, key="reminder_version")
    before = _stored(ids, ["status", "text", "provider_id"])
    changes = [{"id": mid, "status": "sent" if i % 4 else "outbox", "provider_id": f"ATXid_{i}" if i % 5 else None,
                "status_code": 101, "cost_amount": Decimal("0.8000") if i % 2 else None,
                "cost_currency": "KES", "text": AWKWARD[(i + 3) % len(AWKWARD)], "sent_at": NOW,
                "last_error": None, "updated_at": NOW}
               for i, mid in enumerate(ids[:20])]
    bulk.update_rows(Message.__table__, changes)
    db.session.commit()
    assert _stored(ids[:20], changes[0].keys()) == changes
    assert _stored(ids[20:], ["status", "text", "provider_id"]) == before[20:]


def test_among_matches_in_for_long_lists(app):
    ids = bulk.insert_returning_ids(Message.__table__, _message_rows(_client(), 1200), key="reminder_version")
    wanted = ids[::3]
    found = db.session.scalars(select(Message.id).where(bulk.among(Message.id, wanted))).all()
    assert sorted(found) == sorted(wanted)
    assert db.session.scalars(select(Message.id).where(bulk.among(Message.id, []))).all() == []


def test_python_side_defaults_are_filled_in_as_sqlalchemy_would(app):
    with clock.frozen(NOW):
        ids = bulk.insert_returning_ids(Message.__table__, _message_rows(_client(), 3), key="reminder_version")
    later = NOW + dt.timedelta(hours=1)
    with clock.frozen(later):
        bulk.update_rows(Message.__table__, [{"id": mid, "status": "sent"} for mid in ids[:2]])
    db.session.commit()
    assert _stored(ids, ["status", "created_at", "updated_at"]) == [
        {"status": "sent", "created_at": NOW, "updated_at": later},
        {"status": "sent", "created_at": NOW, "updated_at": later},
        {"status": "queued", "created_at": NOW, "updated_at": NOW}]
