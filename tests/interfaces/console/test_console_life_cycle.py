"""The client page: close and reopen her file (reason, date, a confirmation), a child's file, its HIV test
result, its own medicine, its exposure corrected; the enrol form's HIV status; Today lists her apart."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from gateway.adapters.database import db
from gateway.clients.sites import local_today
from gateway.core.models import Appointment, AuditEntry, Client, Infant, Reminder, Task


@pytest.fixture
def thandi(sites, enrol):
    # Her refill is 40 days late (an interruption); her baby, 70 days old, is HIV-exposed.
    return enrol(sites[0], "082 123 4567", "Thandi", art_days_ago=70, infant_days_old=70)


def events_url(client):
    return f"/console/clients/{client.id}/events"


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_closing_asks_for_a_confirmation_then_she_leaves_the_missed_lists(as_role, thandi, sites):
    nurse = as_role("nurse")
    today = local_today("ZA").isoformat()
    page = nurse.text("/console/")
    assert "Thandi" in page[page.index('id="missed"'):page.index('id="closed"')]

    r = nurse.post(events_url(thandi), {"type": "client_closed", "date": today, "reason": "transferred_out"})
    assert r.status_code == 422
    text = r.get_data(as_text=True)
    assert 'id="err-confirm">tick the box to confirm' in text and '<details id="close" open>' in text
    assert db.session.get(Client, thandi.id).status == "active"

    r = nurse.post(events_url(thandi), {"type": "client_closed", "date": today, "reason": "bored", "confirm": "yes"})
    assert r.status_code == 422 and 'id="err-close-reason">must be one of transferred_out' in r.get_data(as_text=True)

    r = nurse.post(events_url(thandi), {"type": "client_closed", "date": today, "reason": "transferred_out",
                                        "confirm": "yes"})
    assert r.status_code == 302
    client = db.session.get(Client, thandi.id)
    assert (client.status, client.closed_reason) == ("closed", "transferred_out")
    assert count(Appointment, Appointment.client_id == thandi.id, Appointment.status == "due") == 0
    assert count(Reminder, Reminder.client_id == thandi.id, Reminder.status == "scheduled") == 0
    page = nurse.text(f"/console/clients/{thandi.id}")
    assert "closed: transferred out since" in page and "Reopen her file" in page and "Close her file" not in page

    assert '<span class="badge closed">closed</span>' in nurse.text("/console/clients?q=Thandi")
    today_page = nurse.text("/console/")
    missed = today_page[today_page.index('id="missed"'):today_page.index('id="closed"')]
    closed = today_page[today_page.index('id="closed"'):today_page.index('id="follow-ups"')]
    assert "Thandi" not in missed and "Thandi" in closed and "Closed: 1" in closed and "transferred out" in closed

    r = nurse.post(events_url(thandi), {"type": "client_reopened", "date": today})
    assert r.status_code == 302
    assert db.session.get(Client, thandi.id).status == "active"
    assert count(Appointment, Appointment.client_id == thandi.id, Appointment.status == "due") > 0
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "client",
                                                                 AuditEntry.entity_id == thandi.id)).all()
    assert "client.closed" in actions and "client.reopened" in actions


def test_another_sites_coordinator_cannot_close_her(as_role, thandi):
    r = as_role("other").post(events_url(thandi), {"type": "client_closed", "date": local_today("ZA").isoformat(),
                                                   "reason": "died", "confirm": "yes"})
    assert r.status_code == 404
    assert db.session.get(Client, thandi.id).status == "active"


def test_a_childs_result_medicine_file_and_exposure(as_role, thandi):
    nurse = as_role("nurse")
    baby = thandi.infants[0]
    today = local_today("ZA")
    r = nurse.post(events_url(thandi), {"type": "infant_test_result", "infant_id": str(baby.id), "test": "OPV1",
                                        "date": today.isoformat(), "result": "positive"})
    assert r.status_code == 422 and 'id="err-result-test"' in r.get_data(as_text=True)
    r = nurse.post(events_url(thandi), {"type": "infant_test_result", "infant_id": str(baby.id), "test": "PCR birth",
                                        "date": baby.date_of_birth.isoformat(), "result": "positive"})
    assert r.status_code == 302
    page = nurse.text(f"/console/clients/{thandi.id}")
    assert "HIV test positive" in page and "needs ART" in page and "Record a child's medicine pick-up" in page
    r = nurse.post(events_url(thandi), {"type": "art_dispensed", "infant_id": str(baby.id),
                                        "date": today.isoformat(), "days_supply": "30"})
    assert r.status_code == 302
    child_refill = db.session.scalar(select(Appointment.due_date).where(
        Appointment.infant_id == baby.id, Appointment.kind == "art_refill", Appointment.status == "due"))
    assert child_refill == today + dt.timedelta(days=30)

    r = nurse.post(events_url(thandi), {"type": "infant_closed", "infant_id": str(baby.id),
                                        "date": today.isoformat(), "reason": "transferred_out"})
    assert r.status_code == 302
    assert count(Appointment, Appointment.infant_id == baby.id, Appointment.status == "due") == 0
    r = nurse.post(events_url(thandi), {"type": "infant_reopened", "infant_id": str(baby.id),
                                        "date": today.isoformat()})
    assert r.status_code == 302
    assert db.session.get(Infant, baby.id).status == "active"



def test_correcting_a_childs_exposure_replans_its_tests(as_role, thandi):
    nurse = as_role("nurse")
    baby = thandi.infants[0]
    assert count(Appointment, Appointment.infant_id == baby.id, Appointment.kind == "infant_hiv_test",
                 Appointment.status == "due") > 0
    r = nurse.post(f"/console/clients/{thandi.id}/exposure", {"infant_id": str(baby.id), "hiv_exposed": "false"})
    assert r.status_code == 302
    assert db.session.get(Infant, baby.id).hiv_exposed is False
    assert count(Appointment, Appointment.infant_id == baby.id, Appointment.kind == "infant_hiv_test",
                 Appointment.status == "due") == 0
    r = nurse.post(f"/console/clients/{thandi.id}/exposure", {"infant_id": str(baby.id), "hiv_exposed": ""})
    assert r.status_code == 422 and 'id="err-exp-hiv_exposed"' in r.get_data(as_text=True)


def test_a_negative_mothers_child_cannot_be_marked_exposed(as_role, sites):
    nurse = as_role("nurse")
    za = sites[0]
    r = nurse.post("/console/enrol", {"site_id": str(za.id), "phone": "0831112222", "hiv_status": "negative",
                                      "reminder_hour": "9", "consent": "yes",
                                      "infants[0].date_of_birth": local_today("ZA").isoformat(),
                                      "infants[0].hiv_exposed": "false"})
    assert r.status_code == 302, r.get_data(as_text=True)
    client = db.session.scalar(select(Client))
    assert client.hiv_status == "negative"
    r = nurse.post(f"/console/clients/{client.id}/exposure",
                   {"infant_id": str(client.infants[0].id), "hiv_exposed": "true"})
    assert r.status_code == 422 and "her HIV status is negative" in r.get_data(as_text=True)
    assert db.session.get(Infant, client.infants[0].id).hiv_exposed is False


def test_the_enrol_form_refuses_a_negative_mother_of_an_exposed_baby(as_role, sites):
    r = as_role("nurse").post("/console/enrol", {
        "site_id": str(sites[0].id), "phone": "0831112222", "hiv_status": "negative", "reminder_hour": "9",
        "consent": "yes", "infants[0].date_of_birth": local_today("ZA").isoformat(),
        "infants[0].hiv_exposed": "true"})
    assert r.status_code == 422 and 'id="err-hiv_status">cannot be negative' in r.get_data(as_text=True)
    assert count(Client) == 0


def test_a_closed_clients_missed_visit_task_leaves_today(as_role, thandi, sites):
    db.session.add(Task(kind="missed_visit", client_id=thandi.id, site_id=sites[0].id, phone=thandi.phone,
                        status="open"))
    db.session.commit()
    nurse = as_role("nurse")
    assert "Missed visit" in nurse.text("/console/")
    nurse.post(events_url(thandi), {"type": "client_closed", "date": local_today("ZA").isoformat(),
                                    "reason": "died", "confirm": "yes"})
    page = nurse.text("/console/")
    assert "Missed visit" not in page[page.index('id="follow-ups"'):]
