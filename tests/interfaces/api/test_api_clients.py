"""Enrolment and changes through the JSON API, as another system would use it."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from gateway.clients.sites import local_today
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Infant


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def today():
    """Today where the clients these tests enrol live (ZA, the default country), as the API reckons their dates."""
    return local_today("ZA")


def test_enrol_with_art_and_infants(client, admin_headers):
    dob = (today() - dt.timedelta(days=10)).isoformat()
    body = {"phone": "082 123 4567", "consent": True, "language": "sw", "name": "Nomsa",
            "art": {"last_dispensed": today().isoformat(), "days_supply": 30},
            "infants": [{"date_of_birth": dob, "name": "Baby"}, {"date_of_birth": dob, "hiv_exposed": False}]}
    r = client.post("/api/v1/clients", json=body, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["phone"] == "+27821234567"
    assert got["country"] == "ZA" and got["language"] == "sw" and got["programme"] == "mother"
    assert got["art"] == {"last_dispensed": today().isoformat(), "days_supply": 30, "started": None,
                          "next_pickup": (today() + dt.timedelta(days=30)).isoformat(),
                          "status": "on_track", "days_late": 0}
    assert [i["hiv_exposed"] for i in got["infants"]] == [True, False]
    assert got["consent_version"] and got["consent_at"]
    assert client.get(f"/api/v1/clients/{got['id']}", headers=admin_headers).get_json() == got
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.enrolled"))
    assert entry.entity_id == got["id"] and entry.actor.startswith("token:")


def test_country_decides_how_local_numbers_are_read(client, admin_headers):
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "0712 345 678", "country": "KE"}, headers=admin_headers)
    assert r.status_code == 201
    assert r.get_json()["phone"] == "+254712345678"
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "82 123 4567", "country": "MZ"}, headers=admin_headers)
    assert r.get_json()["language"] == "pt"  # Mozambique's default language


def test_same_phone_twice_is_409_in_any_form(client, admin_headers):
    assert client.post("/api/v1/clients", json={"consent": True, "phone": "0821234567"}, headers=admin_headers).status_code == 201
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "+27 82 123 4567"}, headers=admin_headers)
    assert r.status_code == 409
    assert r.get_json()["fields"] == {"phone": "already enrolled"}
    assert count(Client) == 1


FUTURE = (dt.date.today() + dt.timedelta(days=3)).isoformat()


@pytest.mark.parametrize("body,field", [
    ({}, "phone"),
    ({"phone": "011 123 4567"}, "phone"),
    ({"phone": 821234567}, "phone"),
    ({"phone": "0821234567", "country": "XX"}, "country"),
    ({"phone": "0821234567", "country": 7}, "country"),
    ({"phone": "0821234567", "language": "klingon"}, "language"),
    ({"phone": "0821234567", "reminder_hour": 3}, "reminder_hour"),
    ({"phone": "0821234567", "reminder_hour": "nine"}, "reminder_hour"),
    ({"phone": "0821234567", "reminder_hour": True}, "reminder_hour"),
    ({"phone": "0821234567", "art": {"last_dispensed": "2025-02-31", "days_supply": 30}}, "art.last_dispensed"),
    ({"phone": "0821234567", "art": {"last_dispensed": FUTURE, "days_supply": 30}}, "art.last_dispensed"),
    ({"phone": "0821234567", "art": {"last_dispensed": "2026-01-01", "days_supply": 0}}, "art.days_supply"),
    ({"phone": "0821234567", "art": {"last_dispensed": "2026-01-01", "days_supply": 1000}}, "art.days_supply"),
    ({"phone": "0821234567", "art": "monthly"}, "art"),
    ({"phone": "0821234567", "infants": {"date_of_birth": "2026-01-01"}}, "infants"),
    ({"phone": "0821234567", "infants": [{"date_of_birth": FUTURE}]}, "infants[0].date_of_birth"),
    ({"phone": "0821234567", "infants": [{"date_of_birth": "2015-01-01"}]}, "infants[0].date_of_birth"),
    ({"phone": "0821234567", "infants": [{"date_of_birth": "01/02/2026"}]}, "infants[0].date_of_birth"),
    ({"phone": "0821234567", "infants": [{}]}, "infants[0].date_of_birth"),
    ({"phone": "0821234567", "infants": [{"date_of_birth": "2026-11-01", "hiv_exposed": "maybe"}]},
     "infants[0].hiv_exposed"),
    ({"phone": "0821234567", "name": "x" * 500}, "name"),
    ({"phone": "0821234567", "name": "bad\x00name"}, "name"),
    ({"phone": "0821234567", "favourite_colour": "blue"}, "favourite_colour"),
    ({"phone": "0821234567", "consent": False}, "consent"),
    ({"phone": "0821234567", "consent": None}, "consent"),
    ({"phone": "0821234567", "consent": "perhaps"}, "consent"),
    ({"phone": "0821234567", "hiv_status": "maybe"}, "hiv_status"),
    ({"phone": "0821234567", "hiv_status": "negative", "infants": [{"date_of_birth": "2026-11-01"}]}, "hiv_status"),
    ({"phone": "0821234567", "hiv_status": "negative", "art": {"last_dispensed": "2026-11-01", "days_supply": 30}},
     "hiv_status"),
])
def test_bad_input_is_422_naming_the_field_and_stores_nothing(client, admin_headers, body, field):
    body = {"consent": True, **body} if "consent" not in body and body else body
    r = client.post("/api/v1/clients", json=body, headers=admin_headers)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["fields"], r.get_json()
    assert count(Client) == 0 and count(Infant) == 0
    assert count(AuditEntry) == 2  # only the test's user and token


def test_every_bad_field_is_named_at_once(client, admin_headers):
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "nope", "language": "xx", "reminder_hour": 99},
                    headers=admin_headers)
    assert set(r.get_json()["fields"]) == {"phone", "language", "reminder_hour"}


@pytest.mark.parametrize("kwargs,status", [
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": b'{"phone": "\xff\xfe"}', "content_type": "application/json"}, 400),
    ({"data": "phone=0821234567", "content_type": "application/x-www-form-urlencoded"}, 400),
    ({"json": ["0821234567"]}, 400),
    ({"json": {"phone": "0821234567", "name": "x" * 70000}}, 400),
])
def test_malformed_bodies_are_4xx_json(client, admin_headers, kwargs, status):
    r = client.post("/api/v1/clients", headers=admin_headers, **kwargs)
    assert r.status_code == status
    assert "error" in r.get_json() and "body" in r.get_json()["fields"]
    assert count(Client) == 0


def test_unknown_client_and_route_are_json_404(client, admin_headers):
    r = client.get("/api/v1/clients/999", headers=admin_headers)
    assert r.status_code == 404 and r.get_json()["error"]
    assert client.get("/api/v1/nothing-here", headers=admin_headers).get_json()["error"]


def _enrol(client, headers, **extra):
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "0821234567", **extra}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_patch_changes_are_applied_and_audited(client, admin_headers):
    cid = _enrol(client, admin_headers)
    r = client.patch(f"/api/v1/clients/{cid}", headers=admin_headers,
                     json={"language": "pt", "reminder_hour": 17, "opted_out": True, "phone": "083 555 0000"})
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    assert (got["language"], got["reminder_hour"], got["opted_out"], got["phone"]) == ("pt", 17, True, "+27835550000")
    assert got["opted_out_at"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.updated"))
    assert entry.changes["language"] == ["en", "pt"] and entry.changes["phone"] == ["+27821234567", "+27835550000"]
    r = client.patch(f"/api/v1/clients/{cid}", headers=admin_headers, json={"opted_out": False})
    assert r.get_json()["opted_out"] is False and r.get_json()["opted_out_at"] is None


def test_bad_patch_changes_nothing(client, admin_headers):
    cid = _enrol(client, admin_headers)
    other = _enrol(client, admin_headers, phone="0831112222")
    r = client.patch(f"/api/v1/clients/{cid}", headers=admin_headers, json={"language": "pt", "reminder_hour": 2})
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"reminder_hour"}
    # A language known but not offered (its translation incomplete) is refused, naming the field.
    r = client.patch(f"/api/v1/clients/{cid}", headers=admin_headers, json={"language": "st"})
    assert r.status_code == 422 and "not offered" in r.get_json()["fields"]["language"]
    r = client.patch(f"/api/v1/clients/{cid}", headers=admin_headers, json={"phone": "0831112222"})
    assert r.status_code == 409
    r = client.patch(f"/api/v1/clients/{cid}", headers=admin_headers, json={"country": "KE"})
    assert r.status_code == 422 and "country" in r.get_json()["fields"]
    db.session.expire_all()
    assert db.session.get(Client, cid).language == "en"
    assert db.session.get(Client, cid).phone == "+27821234567"
    assert db.session.get(Client, other).phone == "+27831112222"


def test_lookup_by_phone_in_any_form(client, admin_headers):
    cid = _enrol(client, admin_headers)
    for form in ("082 123 4567", "+27821234567", "0027821234567"):
        r = client.get("/api/v1/clients", query_string={"phone": form}, headers=admin_headers)
        assert [c["id"] for c in r.get_json()["clients"]] == [cid]
    assert client.get("/api/v1/clients", query_string={"phone": "0839990000"},
                      headers=admin_headers).get_json()["clients"] == []


@pytest.mark.parametrize("days_late,status", [(0, "on_track"), (1, "late"), (27, "late"), (28, "interruption"),
                                              (90, "lost")])
def test_art_status_follows_the_thresholds(client, admin_headers, days_late, status):
    dispensed = today() - dt.timedelta(days=30 + days_late)
    cid = _enrol(client, admin_headers, art={"last_dispensed": dispensed.isoformat(), "days_supply": 30})
    art = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["art"]
    assert (art["status"], art["days_late"]) == (status, days_late)


@pytest.mark.parametrize("kind", [[], {}, 7, None, True])
def test_an_event_type_that_is_not_text_is_a_422_naming_type(client, admin_headers, kind):
    made = client.post("/api/v1/clients", json={"consent": True, "phone": "0825550777"}, headers=admin_headers).get_json()
    r = client.post(f"/api/v1/clients/{made['id']}/events", json={"type": kind, "date": "2026-01-01"},
                    headers=admin_headers)
    assert r.status_code == 422 and "type" in r.get_json()["fields"]
