"""A child's visit in one go: every dose and test due on or before the day (and still open) recorded at once."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gateway.clients.enrolment import local_today
from gateway.adapters.database import db
from gateway.core.models import Appointment, AuditEntry, DoseGiven


@pytest.fixture
def thandi(sites, enrol):
    """Her baby is 10 weeks old today: birth, 6-week and 10-week doses and tests are all due."""
    return enrol(sites[0], "082 123 4567", "Thandi", infant_days_old=70)


def doses_given(infant_id) -> dict[str, dt.date]:
    return dict(db.session.execute(select(DoseGiven.dose, DoseGiven.given_on)
                                   .where(DoseGiven.infant_id == infant_id)).all())


def open_visits(client_id) -> dict[str, dt.date]:
    return dict(db.session.execute(select(Appointment.name, Appointment.due_date).where(
        Appointment.client_id == client_id, Appointment.status == "due", Appointment.infant_id.is_not(None))).all())


def test_visit_done_records_every_dose_and_test_due_with_one_date(as_role, thandi, people):
    nurse = as_role("nurse")
    baby = thandi.infants[0]
    today = local_today("ZA")
    page = nurse.text(f"/console/clients/{thandi.id}")
    assert 'id="visit"' in page and "Visit done" in page
    assert "BCG" in page.split('id="visit"', 1)[1].split("</details>", 1)[0]  # what it will record is listed
    r = nurse.post(f"/console/clients/{thandi.id}/visit", {"infant_id": str(baby.id), "date": today.isoformat()})
    assert r.status_code == 302
    given = doses_given(baby.id)
    assert set(given) == {"BCG", "OPV0", "PCR birth", "OPV1", "RV1", "Hexa1", "PCV1", "PCR 10 weeks"}
    assert set(given.values()) == {today}
    # Hexa2 follows Hexa1 by 4 weeks: not given with it, due 4 weeks after today.
    assert open_visits(thandi.id)["Hexa2"] == today + dt.timedelta(weeks=4)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "dose.given")).all()
    assert len(entries) == 8 and {e.actor for e in entries} == {f"user:{people['nurse'].id}"}
    assert {e.entity_id for e in entries} == {baby.id}
    flashed = nurse.text(f"/console/clients/{thandi.id}")
    assert "Visit recorded" in flashed and "Hexa2" in flashed


def test_a_visit_on_an_earlier_day_records_what_was_due_by_then(as_role, thandi):
    baby = thandi.infants[0]
    day = local_today("ZA") - dt.timedelta(days=30)  # the baby was 40 days old: only the birth doses were due
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/visit", {"infant_id": str(baby.id),
                                                                      "date": day.isoformat()})
    assert r.status_code == 302
    assert doses_given(baby.id) == {"BCG": day, "OPV0": day, "PCR birth": day}
    assert "Hexa1" in open_visits(thandi.id)


@pytest.mark.parametrize("values,field,reason", [
    ({"date": "tomorrow"}, "date", "is not a date"),
    ({"date": "+1"}, "date", "must not be in the future"),
    ({"date": "-100"}, "date", "is before the infant"),
    ({"date": "", "infant_id": ""}, "infant_id", "is required"),
])
def test_a_bad_visit_is_refused_next_to_its_field_and_records_nothing(as_role, thandi, values, field, reason):
    baby = thandi.infants[0]
    today = local_today("ZA")
    body = {"infant_id": str(baby.id), "date": today.isoformat()} | values
    if body["date"][:1] in "+-" and body["date"][1:].isdigit():
        body["date"] = (today + dt.timedelta(days=int(body["date"]))).isoformat()
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/visit", body)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert f'id="err-visit-{field}">' in page and reason in page.split(f'id="err-visit-{field}">', 1)[1][:120]
    assert '<details id="visit" open>' in page
    assert doses_given(baby.id) == {}


def test_nothing_due_is_said_so(as_role, thandi):
    nurse = as_role("nurse")
    baby = thandi.infants[0]
    today = local_today("ZA").isoformat()
    assert nurse.post(f"/console/clients/{thandi.id}/visit", {"infant_id": str(baby.id), "date": today}
                      ).status_code == 302
    r = nurse.post(f"/console/clients/{thandi.id}/visit", {"infant_id": str(baby.id), "date": today})
    assert r.status_code == 422 and "nothing was due for this child" in r.get_data(as_text=True)


def test_another_clients_child_or_another_sites_client_is_refused(as_role, thandi, sites, enrol):
    neighbour = enrol(sites[0], "083 765 4321", "Neighbour", infant_days_old=10)
    today = local_today("ZA").isoformat()
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/visit",
                              {"infant_id": str(neighbour.infants[0].id), "date": today})
    assert r.status_code == 422 and "no such infant for this client" in r.get_data(as_text=True)
    r = as_role("other").post(f"/console/clients/{thandi.id}/visit",
                              {"infant_id": str(thandi.infants[0].id), "date": today})
    assert r.status_code == 404
    assert doses_given(thandi.infants[0].id) == {} and doses_given(neighbour.infants[0].id) == {}


def test_visit_done_from_today(as_role, sites, enrol):
    """On Today, a child's visit due today has its own Visit done button, and comes back to Today."""
    six_weeks = enrol(sites[0], "082 123 4567", "Nandi", infant_days_old=42)
    baby = six_weeks.infants[0]
    nurse = as_role("nurse")
    page = nurse.text(f"/console/?site={sites[0].id}")
    assert f'action="/console/clients/{six_weeks.id}/visit"' in page and f'value="{baby.id}"' in page
    r = nurse.post(f"/console/clients/{six_weeks.id}/visit", {
        "infant_id": str(baby.id), "date": local_today("ZA").isoformat(), "next": f"/console/?site={sites[0].id}"})
    assert r.status_code == 302 and r.headers["Location"] == f"/console/?site={sites[0].id}"
    assert {"BCG", "OPV1", "Hexa1"} <= set(doses_given(baby.id))
    twin = enrol(sites[0], "082 123 4568", "Zanele", infant_days_old=42)
    r = nurse.post(f"/console/clients/{twin.id}/visit", {
        "infant_id": str(twin.infants[0].id), "date": local_today("ZA").isoformat(),
        "next": "https://elsewhere.example/"})
    assert r.status_code == 302 and r.headers["Location"] == f"/console/clients/{twin.id}"  # never another host
