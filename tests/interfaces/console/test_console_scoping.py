"""A coordinator never sees or changes another site's clients: every page and action, through HTTP."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.adapters.database import db
from gateway.core import audit
from gateway.core.models import AuditEntry, Client, Message, Task


@pytest.fixture
def kenyan(seeded):
    return seeded["kenyan"]


ACTIONS = [
    ("events", {"type": "art_dispensed", "date": "2025-01-01", "days_supply": "30"}),
    ("details", {"name": "Stolen", "phone": "0712 345 678", "language": "sw", "reminder_hour": "9"}),
    ("sms", {"sms": "stop"}),
    ("pin-reset", {}),
    ("message", {"template": "missed"}),
]


def test_another_sites_client_page_is_404(as_role, kenyan):
    assert as_role("nurse").get(f"/console/clients/{kenyan.id}").status_code == 404
    assert as_role("other").get(f"/console/clients/{kenyan.id}").status_code == 200
    assert as_role("admin").get(f"/console/clients/{kenyan.id}").status_code == 200


@pytest.mark.parametrize("action,data", ACTIONS)
def test_another_sites_client_actions_are_404_and_change_nothing(as_role, kenyan, action, data):
    changes = select(func.count()).select_from(AuditEntry).where(AuditEntry.action.not_in(audit.READS))
    before = db.session.scalar(changes)
    r = as_role("nurse").post(f"/console/clients/{kenyan.id}/{action}", data)
    assert r.status_code == 404
    assert db.session.scalar(changes) == before + 1  # her sign-in only (reads are audited apart)
    client = db.session.get(Client, kenyan.id)
    assert client.name == "Akinyi" and not client.opted_out


def test_search_and_lists_show_only_her_sites_clients(as_role, seeded):
    nurse, other = as_role("nurse"), as_role("other")
    link = f"/console/clients/{seeded['kenyan'].id}"
    for query in ("0712 345 678", "+254712345678", "Akinyi", "345678"):
        page = nurse.text(f"/console/clients?q={query}")
        assert link not in page and "0 found" in page
        assert link in other.text(f"/console/clients?q={query}")
    assert "Akinyi" not in nurse.text("/console/clients")
    messages = nurse.text("/console/messages")
    assert "Kenyan secret message" not in messages and "Reminder:" in messages
    assert "Kenyan secret message" in as_role("admin").text("/console/messages")


def test_another_sites_message_cannot_be_retried(as_role, kenyan):
    message = db.session.scalar(select(Message).where(Message.client_id == kenyan.id))
    assert as_role("nurse").post(f"/console/messages/{message.id}/retry").status_code == 404
    assert db.session.get(Message, message.id).status == "failed"


def test_another_sites_tasks_and_dashboard_are_404(as_role, seeded, sites):
    za, ke = sites
    nurse = as_role("nurse")
    assert nurse.get(f"/console/?site={ke.id}").status_code == 404
    assert nurse.get("/console/?site=none").status_code == 404
    task = db.session.scalar(select(Task).where(Task.client_id == seeded["kenyan"].id))
    assert nurse.post(f"/console/tasks/{task.id}/done").status_code == 404
    assert db.session.get(Task, task.id).status == "open"
    assert "Akinyi" not in nurse.text("/console/")


def test_enrolment_requests_show_on_the_sites_of_the_callers_country(as_role, seeded, sites):
    za, ke = sites
    request = db.session.scalar(select(Task).where(Task.kind == "enrolment_request"))  # a +27 caller
    assert "+27829990000" in as_role("nurse").text("/console/")
    assert "+27829990000" not in as_role("other").text("/console/")
    assert as_role("other").post(f"/console/tasks/{request.id}/reject").status_code == 404
    assert as_role("other").get(f"/console/enrol?request={request.id}").status_code == 404


def test_a_coordinator_cannot_enrol_or_import_into_another_site(as_role, sites):
    za, ke = sites
    nurse = as_role("nurse")
    r = nurse.post("/console/enrol", {"site_id": str(ke.id), "phone": "0712 000 111", "consent": "yes"})
    assert r.status_code == 422 and "choose one of your sites" in r.get_data(as_text=True)
    from io import BytesIO

    r = nurse.post("/console/import", {"site_id": str(ke.id), "file": (BytesIO(b"consent,phone\nyes,0712000111\n"), "x.csv")},
                   content_type="multipart/form-data")
    assert r.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Client)) == 0


def test_an_import_report_is_only_for_the_person_who_uploaded(as_role, seeded):
    report = seeded["report_ids"]["nurse"]
    assert as_role("nurse").get(f"/console/import/{report}").status_code == 200
    assert as_role("other").get(f"/console/import/{report}").status_code == 404
    assert as_role("other").get(f"/console/import/{report}/refused.csv").status_code == 404
    assert as_role("nurse").get("/console/import/not-a-report").status_code == 404
