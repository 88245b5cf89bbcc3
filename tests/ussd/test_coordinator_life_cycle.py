"""Through ``POST /ussd``: a coordinator closes a client's file and records a baby's HIV test result; a baby
registered over USSD is HIV-exposed exactly when its mother is positive (unknown: a task to find out)."""
import datetime as dt

import pytest
from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import Appointment, AuditEntry, Client, DoseGiven, Infant, Reminder, Task
from tests.ussd.conftest import CLIENT_PHONE, COORDINATOR_PHONE, OTHER_PHONE, TODAY, count, fresh


def coordinator(at):
    session = at(COORDINATOR_PHONE)
    session.dial()
    session.send("2468")
    return session


def test_a_coordinator_closes_a_clients_file(at, make_coordinator, make_client):
    client = make_client(art={"last_dispensed": "2025-11-01", "days_supply": 30})
    make_coordinator()
    assert count(Reminder, Reminder.status == "scheduled") > 0
    session = coordinator(at)
    assert session.play("4", "0821234567", "2", "1") == "END File of +27821234567 closed. No more SMS will be sent to her."
    client = fresh(client)
    assert (client.status, client.closed_reason, client.closed_on) == ("closed", "died", TODAY)
    assert count(Reminder, Reminder.status == "scheduled") == 0
    assert count(Appointment, Appointment.status == "due") == 0
    assert db.session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "client.closed")).startswith("ussd:user:")
    # Twice: said so, nothing changes.
    assert coordinator(at).play("4", "0821234567", "1", "1") == "END The file of +27821234567 is closed already."
    assert fresh(client).closed_reason == "died"


def test_a_coordinator_cannot_close_another_sites_client(at, make_coordinator, make_client):
    other = make_client(phone=OTHER_PHONE, site_name="Elsewhere")
    make_coordinator()
    assert coordinator(at).play("4", OTHER_PHONE, "1", "1") == "END No client with this number at your sites."
    assert fresh(other).status == "active"


def test_a_coordinator_records_a_babys_positive_test(at, make_coordinator, make_client):
    make_client(infants=[{"date_of_birth": "2025-10-01"}])
    make_coordinator()
    # The sample was taken on 12 Nov: the test due last before it is PCR birth (10 weeks is due 10 Dec).
    assert coordinator(at).play("5", "0821234567", "01102025", "12112025", "2", "1") == \
        "END Result recorded for the baby of +27821234567."
    infant = db.session.scalar(select(Infant))
    assert infant.hiv_result == "positive"
    assert db.session.execute(select(DoseGiven.dose, DoseGiven.given_on, DoseGiven.result)).all() == [
        ("PCR birth", dt.date(2025, 11, 12), "positive")]
    left = db.session.scalars(select(Appointment.status).where(Appointment.kind == "infant_hiv_test",
                                                               Appointment.name != "PCR birth")).all()
    assert left and set(left) == {"cancelled"}  # no more infant tests


@pytest.mark.parametrize("born,outcome", [
    ("02102025", "END No baby of +27821234567 born on that day."),
])
def test_a_result_for_a_baby_not_found_changes_nothing(at, make_coordinator, make_client, born, outcome):
    make_client(infants=[{"date_of_birth": "2025-10-01"}])
    make_coordinator()
    assert coordinator(at).play("5", "0821234567", born, "12112025", "1", "1") == outcome
    assert count(DoseGiven) == 0


def test_a_baby_registered_over_ussd_follows_its_mothers_status(at, make_client):
    positive = make_client(hiv_status="positive")
    unknown = make_client(phone=OTHER_PHONE)
    for phone in (CLIENT_PHONE, OTHER_PHONE):
        assert at(phone).play("3", "1", "01102025", "1").startswith("END ")  # My baby, register, date, yes
    exposed = dict(db.session.execute(select(Infant.client_id, Infant.hiv_exposed)).all())
    assert exposed == {positive.id: True, unknown.id: False}
    tasks = db.session.execute(select(Task.kind, Task.client_id, Task.status)).all()
    assert tasks == [("hiv_status", unknown.id, "open")]
    assert fresh(unknown).hiv_status == "unknown"


def test_a_coordinator_enrolling_a_mother_of_unknown_status_leaves_a_task(at, make_coordinator):
    make_coordinator()
    assert coordinator(at).play("1", "0821234567", "1", "2", "01102025", "3", "1", "1").startswith("END Enrolled")
    client = db.session.scalar(select(Client))
    assert (client.hiv_status, client.consent_at is not None) == ("unknown", True)
    assert db.session.scalar(select(Infant.hiv_exposed)) is False
    assert db.session.scalar(select(Task.kind)) == "hiv_status"
