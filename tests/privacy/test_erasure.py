"""Erasure: ``DELETE /api/v1/clients/<id>``, the console's action and ``flask clients erase`` remove her for good.

Afterwards she is a 404 by id and by number, nothing in the database or in
Redis names her number, queued send jobs that carry her message ids send
nothing, the audit log keeps ids and the fact only, and the number may be
enrolled again.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
import redis
import sqlalchemy as sa

from gateway.adapters.database import db
from gateway.clients import erasure
from gateway.core.models import (Appointment, AuditEntry, Client, Infant, Message, Reminder, Task, UssdSession)
from gateway.messages import dispatch

PHONE = "+27821234567"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def her(app, client, sites, enrol):
    """A client with a child, visits, reminders, SMS both ways, a task, a live USSD session and a session note."""
    za, _ = sites
    row = enrol(za, PHONE, name="Zodwa Dlamini", art_days_ago=10, infant_days_old=20)
    assert client.post("/sms/inbound", data=f"from={PHONE}&id=ATin1&text=please+call", headers=FORM).status_code == 200
    assert client.post("/ussd", data=f"sessionId=S1&phoneNumber={PHONE}&text=", headers=FORM).status_code == 200
    assert client.post("/ussd/events", data=f"sessionId=S0&phoneNumber={PHONE}&status=Success",
                       headers=FORM).status_code == 200
    queued = Message(client_id=row.id, direction="out", phone=PHONE, text="A reminder", status="queued",
                     backend="outbox")
    db.session.add(queued)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder).where(Reminder.client_id == row.id))
    return row.id, queued.id


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _nothing_names_her(app, client_id: int) -> None:
    db.session.expire_all()
    assert db.session.get(Client, client_id) is None
    assert _count(Infant, Infant.client_id == client_id) == 0
    assert _count(Appointment, Appointment.client_id == client_id) == 0
    assert _count(Reminder, Reminder.client_id == client_id) == 0
    assert _count(Message, sa.or_(Message.client_id == client_id, Message.phone == PHONE)) == 0
    assert _count(Task, sa.or_(Task.client_id == client_id, Task.phone == PHONE)) == 0
    assert _count(UssdSession, UssdSession.phone == PHONE) == 0
    for entry in db.session.scalars(sa.select(AuditEntry)):
        assert PHONE not in entry.actor and PHONE not in json.dumps(entry.changes), (entry.action, entry.changes)
        assert "Zodwa" not in json.dumps(entry.changes, ensure_ascii=False), (entry.action, entry.changes)
    erased = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "client.erased"))
    assert erased.entity == "client" and erased.entity_id == client_id
    conn = redis.Redis.from_url(app.config["SETTINGS"].redis_url)
    for key in conn.scan_iter():
        if conn.type(key) == b"string":
            assert PHONE.encode() not in conn.get(key), key


def test_api_erases_her_and_the_number_can_be_enrolled_again(app, client, her, make_user):
    client_id, queued_id = her
    admin, headers = make_user("admin")
    _, nurse = make_user("coordinator", sites=["Khayelitsha CHC"])
    assert client.delete(f"/api/v1/clients/{client_id}", headers=nurse).status_code == 403
    response = client.delete(f"/api/v1/clients/{client_id}", headers=headers)
    assert response.status_code == 204 and response.data == b""
    _nothing_names_her(app, client_id)

    assert client.delete(f"/api/v1/clients/{client_id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/clients/{client_id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/clients?phone={PHONE}", headers=headers).get_json() == {"clients": []}
    # A send job queued before the erasure carries her message's id: it finds nothing to send.
    counts = dispatch.send_messages([queued_id])
    assert counts.not_claimed == 1 and _count(Message) == 0
    again = client.post("/api/v1/clients", headers=headers, json={"consent": True, "phone": PHONE, "country": "ZA"})
    assert again.status_code == 201


def test_cli_erases_once_then_says_already_erased(app, runner, her):
    client_id, _ = her
    first = runner.invoke(args=["clients", "erase", str(client_id), "--yes"])
    assert first.exit_code == 0, first.output
    assert f"Erased client {client_id}" in first.output and PHONE not in first.output
    _nothing_names_her(app, client_id)
    second = runner.invoke(args=["clients", "erase", str(client_id), "--yes"])
    assert second.exit_code == 0 and "already erased" in second.output


def test_cli_asks_before_erasing(app, runner, her):
    client_id, _ = her
    refused = runner.invoke(args=["clients", "erase", str(client_id)], input="n\n")
    assert refused.exit_code == 1
    assert db.session.get(Client, client_id) is not None


def test_console_erases_after_the_admin_types_erase(app, her, as_role):
    client_id, _ = her
    nurse = as_role("nurse")
    assert "Erase her record" not in nurse.text(f"/console/clients/{client_id}")
    assert nurse.post(f"/console/clients/{client_id}/erase", {"confirm": "ERASE"}).status_code == 404
    admin = as_role("admin")
    assert "Erase her record" in admin.text(f"/console/clients/{client_id}")
    unconfirmed = admin.post(f"/console/clients/{client_id}/erase", {"confirm": "yes"})
    assert unconfirmed.status_code == 302 and db.session.get(Client, client_id) is not None
    done = admin.post(f"/console/clients/{client_id}/erase", {"confirm": "ERASE"})
    assert done.status_code == 302
    _nothing_names_her(app, client_id)
    assert admin.get(f"/console/clients/{client_id}").status_code == 404


def test_earlier_audit_entries_keep_their_ids_but_not_her_details(app, client, her, make_user):
    client_id, _ = her
    _, headers = make_user("admin")
    assert client.patch(f"/api/v1/clients/{client_id}", headers=headers,
                        json={"name": "Zodwa M", "phone": "+27831234567"}).status_code == 200
    before = {(e.action, e.entity, e.entity_id) for e in db.session.scalars(sa.select(AuditEntry))}
    erasure.erase(client_id, "test")
    after = {(e.action, e.entity, e.entity_id) for e in db.session.scalars(sa.select(AuditEntry))}
    assert before < after
    for entry in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.entity_id == client_id,
                                                                AuditEntry.entity == "client")):
        assert entry.action == "client.erased" or entry.changes is None
        assert "+27831234567" not in json.dumps(entry.changes)



def test_erasure_waits_for_a_dispatch_pass_that_holds_her_reminders(app, her):
    """A pass has claimed her reminders (row locks): the erasure waits, then deletes the messages it made."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite has one writer at a time)")
    client_id, _ = her
    with db.engine.connect() as other:
        pass_tx = other.begin()
        ids = [r.id for r in other.execute(sa.select(Reminder.id).where(Reminder.client_id == client_id)
                                           .with_for_update(skip_locked=True))]
        assert ids
        done = threading.Event()
        failure = []

        def erase_in_thread():
            try:
                with app.app_context():
                    erasure.erase(client_id, "test")
            except Exception as exc:  # pragma: no cover - reported below
                failure.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=erase_in_thread)
        worker.start()
        time.sleep(0.5)
        assert not done.is_set(), "the erasure must wait for the pass's locks"
        other.execute(sa.insert(Message).values(client_id=client_id, direction="out", phone=PHONE,
                                                text="made by the pass", status="queued", backend="outbox",
                                                reminder_id=ids[0]))
        pass_tx.commit()
        worker.join(10)
    assert done.is_set() and not failure, failure
    _nothing_names_her(app, client_id)
