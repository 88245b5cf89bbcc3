"""A coordinator's look-up of a client on her phone is audited after the step (the step itself stays pure)."""
from __future__ import annotations

import json

from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import AuditEntry
from tests.ussd.conftest import CLIENT_PHONE, COORDINATOR_PHONE, UNKNOWN_PHONE


def test_a_look_up_writes_one_viewed_entry_without_her_number(at, make_coordinator, make_client):
    client = make_client(art={"last_dispensed": "2025-11-01", "days_supply": 30})
    user = make_coordinator()
    session = at(COORDINATOR_PHONE)
    session.dial()
    session.send("2468")
    session.send("2")
    assert session.send("0821234567").startswith("END Next visits for +27821234567")
    assert session.repeat().startswith("END Next visits")  # AT's retry: the same screen, read once
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "client.viewed")).all()
    assert [(e.actor, e.entity, e.entity_id, e.changes) for e in entries] == [
        (f"ussd:user:{user.id}", "client", client.id, {"via": "ussd"})]
    assert CLIENT_PHONE not in json.dumps(entries[0].changes)
    # A number that is no one's (or not hers to see) reads nothing and records nothing.
    other = at(COORDINATOR_PHONE)
    other.play("2468", "2", UNKNOWN_PHONE)
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "client.viewed")).all()) == 1
