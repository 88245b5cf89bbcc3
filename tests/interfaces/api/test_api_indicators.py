"""GET /api/v1/indicators: a month's numbers, scoped to the caller's sites."""
from __future__ import annotations

import datetime as dt

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Appointment, Client, Site

URL = "/api/v1/indicators"


def _month() -> str:
    return clock.today_utc().strftime("%Y-%m")


def _world(make_user):
    admin = make_user("admin")[1]
    nurse_user, nurse = make_user("coordinator", sites=["Mine"])
    make_user("coordinator", sites=["Theirs"])
    mine, theirs = (db.session.query(Site).filter_by(name=n).one() for n in ("Mine", "Theirs"))
    today = clock.today_utc()
    for i, site in enumerate((mine, theirs, mine)):
        c = Client(phone=f"+2782111000{i}", country="ZA", language="en", site_id=site.id,
                   created_at=clock.utcnow() - dt.timedelta(days=40))
        db.session.add(c)
        db.session.flush()
        db.session.add(Appointment(client_id=c.id, kind="art_refill", name="ART refill", due_date=today.replace(day=1)))
    db.session.commit()
    return admin, nurse, mine, theirs


def test_scoped_numbers(client, make_user):
    admin, nurse, mine, theirs = _world(make_user)
    body = client.get(URL, query_string={"period": _month()}, headers=admin).get_json()
    assert body["period"] == _month() and body["site_id"] is None
    assert body["indicators"]["clients_active"] == 3 and body["indicators"]["art_refills_due"] == 3
    assert set(body["indicators"]) >= {"sms_failed", "final_tests_done", "immunisations_on_time"}
    body = client.get(URL, query_string={"period": _month()}, headers=nurse).get_json()
    assert body["indicators"]["clients_active"] == 2  # her site's only
    body = client.get(URL, query_string={"period": _month(), "site_id": theirs.id}, headers=admin).get_json()
    assert body["site_id"] == theirs.id and body["indicators"]["clients_active"] == 1
    assert client.get(URL, query_string={"period": _month(), "site_id": mine.id}, headers=nurse).get_json()[
        "indicators"]["art_refills_due"] == 2


def test_refusals(client, make_user):
    admin, nurse, mine, theirs = _world(make_user)
    response = client.get(URL, query_string={"period": _month(), "site_id": theirs.id}, headers=nurse)
    assert response.status_code == 404 and response.get_json()["fields"] == {"site_id": "no such site"}
    assert client.get(URL, query_string={"period": _month(), "site_id": 999999}, headers=admin).status_code == 404
    for bad in ("2026-13", "last month", ""):
        response = client.get(URL, query_string={"period": bad}, headers=admin)
        assert response.status_code == 422 and "period" in response.get_json()["fields"], bad
    future = (clock.today_utc().replace(day=1) + dt.timedelta(days=40)).strftime("%Y-%m")
    response = client.get(URL, query_string={"period": future}, headers=admin)
    assert response.status_code == 422 and "future" in response.get_json()["fields"]["period"]
    response = client.get(URL, query_string={"period": _month(), "site_id": "1O"}, headers=admin)
    assert response.status_code == 422 and "site_id" in response.get_json()["fields"]
    assert client.get(URL, query_string={"period": _month()}).status_code == 401
