"""``/api/v1/broadcasts``: preview, refusals naming the field, a coordinator's reach, sending to the outbox."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Broadcast, Client, Message

NOON = dt.datetime(2026, 3, 2, 10, 0)  # 12:00 in Johannesburg: inside the send window
TEXT = "The clinic is closed this Friday. Please come on Monday instead."


@pytest.fixture(autouse=True)
def at_noon(app):
    with clock.frozen(NOON):
        yield


@pytest.fixture
def world(client, make_user):
    """Two sites' coordinators, an admin, and clients: two at site A (one opted out), one at site B."""
    admin = make_user("admin")[1]
    a_user, a = make_user("coordinator", sites=["Site A"])
    b_user, b = make_user("coordinator", sites=["Site B"])
    site_a, site_b = a_user.sites[0].id, b_user.sites[0].id
    for phone, site in (("082 100 0001", site_a), ("082 100 0002", site_a), ("082 100 0003", site_b)):
        r = client.post("/api/v1/clients", headers=admin, json={"consent": True, "phone": phone, "site_id": site, "welcome_sms": False})
        assert r.status_code == 201
    r = client.patch(f"/api/v1/clients/{r.get_json()['id'] - 1}", headers=admin, json={"opted_out": True})
    assert r.status_code == 200
    return {"admin": admin, "a": a, "b": b, "site_a": site_a, "site_b": site_b}


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_preview_writes_nothing_and_counts(client, world):
    r = client.post("/api/v1/broadcasts", headers=world["a"], json={"text": TEXT, "audience": "all", "preview": True})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() | {"estimated_cost": None} == {
        "text": TEXT, "characters": len(TEXT), "segments": 1, "gsm7": True, "disclosing": [], "recipients": 1,
        "skipped_opted_out": 1, "skipped_daily": 0, "waiting": 0, "estimated_cost": None, "currency": None,
        "problems": {}}
    r = client.post("/api/v1/broadcasts", headers=world["admin"], json={"text": "Bring your ARVs", "audience": "all",
                                                                        "preview": True})
    assert r.status_code == 200 and r.get_json()["disclosing"] == ["ARVs"]
    assert r.get_json()["recipients"] == 2 and "text" in r.get_json()["problems"]
    assert count(Broadcast) == 0 and count(Message, Message.kind == "broadcast") == 0


@pytest.mark.parametrize("body,fields", [
    ({"text": "Your HIV clinic is closed", "audience": "all"}, ["text"]),
    ({"text": TEXT}, ["audience"]),
    ({"text": TEXT, "audience": "visit_date"}, ["visit_date"]),
    ({"text": TEXT, "audience": "all", "urgent": "soon", "preview": 3}, ["preview", "urgent"]),
    ({"text": TEXT, "audience": "all", "when": "now"}, ["when"]),
])
def test_refusals_name_the_field_and_change_nothing(client, world, body, fields):
    r = client.post("/api/v1/broadcasts", headers=world["a"], json=body)
    assert r.status_code == 422
    assert sorted(r.get_json()["fields"]) == fields
    assert count(Broadcast) == 0 and count(Message, Message.kind == "broadcast") == 0


def test_a_coordinator_cannot_reach_another_sites_clients(client, world):
    r = client.post("/api/v1/broadcasts", headers=world["a"],
                    json={"text": TEXT, "audience": "site", "site_id": world["site_b"]})
    assert r.status_code == 422 and r.get_json()["fields"] == {"site_id": "is not one of your sites"}
    assert count(Broadcast) == 0


def test_sent_to_the_outbox_and_listed(client, world):
    r = client.post("/api/v1/broadcasts", headers=world["a"], json={"text": TEXT, "audience": "all"})
    assert r.status_code == 201, r.get_json()
    sent = r.get_json()
    assert (sent["recipients"], sent["skipped_opted_out"], sent["waiting"], sent["audience"]) == (1, 1, 1, "all")
    [copy] = db.session.scalars(select(Message).where(Message.broadcast_id == sent["id"])).all()
    assert copy.phone == "+27821000001" and copy.status == "queued" and copy.next_attempt_at == NOON
    assert count(AuditEntry, AuditEntry.action == "broadcast.sent", AuditEntry.entity_id == sent["id"]) == 1

    from gateway.messages import dispatch

    # The send job the request enqueued (ids only), as a worker runs it.
    assert dispatch.send_messages([copy.id]).sent == 1
    db.session.rollback()
    assert db.session.get(Message, copy.id).status == "outbox"
    listed = client.get("/api/v1/broadcasts", headers=world["a"]).get_json()["broadcasts"]
    assert [(b["id"], b["sent"], b["waiting"]) for b in listed] == [(sent["id"], 1, 0)]
    assert client.get("/api/v1/broadcasts", headers=world["b"]).get_json() == {"broadcasts": []}
    opted_out = db.session.scalar(select(Client).where(Client.opted_out.is_(True)))
    assert count(Message, Message.client_id == opted_out.id) == 0
