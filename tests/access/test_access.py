"""One access rule (gateway.access): a coordinator of site A cannot see a client of site B, whichever way in.

Through the JSON API, the console and the coordinator's USSD look-up; and the
rule's two forms (``may_see`` for a client in hand, ``client_condition`` for
a query) give the same answers.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gateway import access, users
from gateway.adapters.database import db
from gateway.clients import enrolment
from gateway.core.models import Client, Site

A_PHONE, B_PHONE, NOSITE_PHONE = "+27825550101", "+27825550202", "+27825550303"


@pytest.fixture
def world(app):
    a = Site(name="Site A", country="ZA", timezone="Africa/Johannesburg")
    b = Site(name="Site B", country="ZA", timezone="Africa/Johannesburg")
    db.session.add_all([a, b])
    db.session.flush()
    made = {}
    for phone, site in ((A_PHONE, a), (B_PHONE, b), (NOSITE_PHONE, None)):
        data = enrolment.parse_enrolment({"phone": phone, "consent": True,
                                          "infants": [{"date_of_birth": "2026-09-01"}]}, "ZA")
        data.site_id = site.id if site else None
        made[phone] = enrolment.enrol(data, "test")
    nurse = users.create_user("nurse-a@example.org", "coordinator", "a long password for a", "test", site_ids=[a.id])
    nurse.pin_hash = users.hash_pin("2580")
    nurse.phone = "+27825559999"
    admin = users.create_user("boss@example.org", "admin", "a long password for b", "test")
    db.session.commit()
    return {"a": a, "b": b, "clients": made, "nurse": nurse, "admin": admin}


def test_the_rule_and_its_query_agree(world):
    for user in (world["nurse"], world["admin"]):
        seen_by_query = set(db.session.scalars(select(Client.phone).where(access.client_condition(user))))
        seen_by_rule = {phone for phone, c in world["clients"].items() if access.may_see(user, c)}
        assert seen_by_query == seen_by_rule
    assert {p for p, c in world["clients"].items() if access.may_see(world["nurse"], c)} == {A_PHONE}
    assert all(access.may_see(world["admin"], c) for c in world["clients"].values())


def test_through_the_api(world, client):
    token = users.issue_token(world["nurse"], "test")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    mine, theirs = world["clients"][A_PHONE], world["clients"][B_PHONE]
    assert client.get(f"/api/v1/clients/{mine.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/clients/{theirs.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/clients", query_string={"phone": B_PHONE}, headers=headers).get_json() == {"clients": []}
    assert client.post(f"/api/v1/clients/{theirs.id}/events", headers=headers,
                       json={"type": "breastfeeding_ended", "infant_id": 1, "date": "2026-10-01"}).status_code == 404


def test_through_the_console(world, client):
    page = client.get("/console/login")
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    signed_in = client.post("/console/login", data={"email": "nurse-a@example.org",
                                                    "password": "a long password for a", "csrf_token": token})
    assert signed_in.status_code == 302
    mine, theirs = world["clients"][A_PHONE], world["clients"][B_PHONE]
    assert client.get(f"/console/clients/{mine.id}").status_code == 200
    assert client.get(f"/console/clients/{theirs.id}").status_code == 404
    listing = client.get("/console/clients", query_string={"q": "0202"}).get_data(as_text=True)
    assert f"/console/clients/{theirs.id}" not in listing


def test_through_the_coordinators_ussd_look_up(world):
    from gateway.ussd.context import lookup_client

    today = dt.date(2026, 11, 1)
    assert lookup_client(world["nurse"], A_PHONE, today) is not None
    assert lookup_client(world["nurse"], B_PHONE, today) is None
    assert lookup_client(world["nurse"], NOSITE_PHONE, today) is None
    assert lookup_client(world["admin"], B_PHONE, today) is not None
