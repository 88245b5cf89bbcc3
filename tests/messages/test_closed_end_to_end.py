"""A mother and her HIV-exposed baby; the baby's first PCR is positive; she transfers out. For 60 days after,
through the real SDK and the AT test server, nothing is sent to her and she is in no missed list."""
import datetime as dt

from sqlalchemy import select

from gateway import users
from gateway.adapters.database import db
from gateway.core import clock
from gateway.core.models import Message, Reminder, Site
from tests.interfaces.console.conftest import PASSWORD, Session
from tests.messages.test_end_to_end import send_due, sent_texts

PHONE = "+27821234567"
ENROLLED = dt.datetime(2026, 3, 2, 5, 0)  # 07:00 in Johannesburg


def section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end)]


def test_a_transferred_out_mother_gets_nothing_for_60_days(gateway, at, make_user):
    site = Site(name="Khayelitsha CHC", country="ZA", timezone="Africa/Johannesburg")
    db.session.add(site)
    db.session.commit()
    users.create_user("nurse@example.org", "coordinator", PASSWORD, "test", name="Nomsa Nurse", site_ids=[site.id])
    db.session.commit()
    _, headers = make_user("admin")
    api = gateway.test_client()
    with clock.frozen(ENROLLED):
        r = api.post("/api/v1/clients", headers=headers, json={
            "phone": "082 123 4567", "consent": True, "name": "Thandi", "site_id": site.id,
            "art": {"last_dispensed": "2026-02-02", "days_supply": 30},  # pick-up due 2026-03-04
            "infants": [{"date_of_birth": "2026-02-27", "name": "Lwazi"}]})  # exposed by default
        assert r.status_code == 201, r.get_json()
        cid, infant_id = r.get_json()["id"], r.get_json()["infants"][0]["id"]
        assert r.get_json()["hiv_status"] == "positive"
        planned = api.get(f"/api/v1/clients/{cid}/schedule", headers=headers).get_json()["reminders"]
        assert len(planned) >= 2  # without the closing below, these would go out

        r = api.post(f"/api/v1/clients/{cid}/events", headers=headers, json={
            "type": "infant_test_result", "infant_id": infant_id, "test": "PCR birth", "date": "2026-02-27",
            "result": "positive"})
        assert r.status_code == 201, r.get_json()
        r = api.post(f"/api/v1/clients/{cid}/events", headers=headers, json={
            "type": "client_closed", "date": "2026-03-02", "reason": "transferred_out"})
        assert r.status_code == 201, r.get_json()

    start = ENROLLED.date()
    for day in range(61):
        moment = dt.datetime.combine(start + dt.timedelta(days=day), dt.time(7, 5))
        send_due(gateway, moment.isoformat(timespec="minutes"))
    assert sent_texts(at) == [] and at.sent == []
    db.session.rollback()
    # Nothing was sent: her welcome SMS, still waiting for her send window when she was closed, was cancelled.
    assert db.session.scalars(select(Message.status).where(Message.client_id == cid)).all() in ([], ["cancelled"])
    assert db.session.scalars(select(Reminder).where(Reminder.client_id == cid,
                                                     Reminder.status != "cancelled")).all() == []

    # Day 60: her refill would be 58 days late (an interruption); she is listed only as closed.
    nurse = Session(gateway.test_client())
    with clock.frozen(dt.datetime.combine(start + dt.timedelta(days=60), dt.time(8, 0))):
        assert nurse.login("nurse@example.org").status_code == 302
        page = nurse.text("/console/")
    missed = section(page, 'id="missed"', 'id="closed"')
    assert "Thandi" not in missed and "None." in missed
    assert "Thandi" not in section(page, 'id="due-today"', 'id="missed"')
    closed = section(page, 'id="closed"', 'id="follow-ups"')
    assert "Closed: 1" in closed and "Thandi" in closed and "transferred out" in closed
