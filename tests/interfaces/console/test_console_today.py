"""Today: due today and this week, missed by the schedules' thresholds, call-backs with a done action."""
from __future__ import annotations

from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Task


def section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end)]


def test_due_today_this_week_and_missed(as_role, sites, enrol):
    za, _ = sites
    today = enrol(za, "082 000 0001", "Due Today", art_days_ago=30)
    week = enrol(za, "082 000 0002", "Due Friday", art_days_ago=26)
    late = enrol(za, "082 000 0003", "Late Lerato", art_days_ago=35)
    interrupted = enrol(za, "082 000 0004", "Interrupted Ina", art_days_ago=30 + 40, days_supply=30)
    lost = enrol(za, "082 000 0005", "Lost Lindi", art_days_ago=200, days_supply=90)
    page = as_role("nurse").text("/console/")
    assert "Due Today" in section(page, 'id="due-today"', 'id="this-week"')
    assert "Due Friday" in section(page, 'id="this-week"', 'id="missed"')
    missed = section(page, 'id="missed"', 'id="follow-ups"')
    late_part = section(missed, "Late: 1", "Interruption:")
    assert "Late Lerato" in late_part and "Interrupted Ina" not in late_part
    assert "Interrupted Ina" in section(missed, "Interruption: 1", "Lost:")
    assert "Lost Lindi" in section(missed, "Lost: 1", "Overdue:")
    for client in (today, week, late, interrupted, lost):
        assert f"/console/clients/{client.id}" in page


def test_a_call_back_is_marked_done(as_role, sites, enrol, people):
    za, _ = sites
    client = enrol(za, "082 000 0001", "Caller")
    task = Task(kind="callback", client_id=client.id, site_id=za.id, phone=client.phone, status="open")
    db.session.add(task)
    db.session.commit()
    nurse = as_role("nurse")
    page = nurse.text("/console/")
    assert "Call-back request" in page and 'href="tel:+27820000001"' in page
    r = nurse.post(f"/console/tasks/{task.id}/done", {"next": f"/console/?site={za.id}"})
    assert r.status_code == 302 and r.headers["Location"] == f"/console/?site={za.id}"
    task = db.session.get(Task, task.id)
    assert task.status == "done" and task.closed_by == f"user:{people['nurse'].id}" and task.closed_at
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.entity == "task")) == "task.done"
    page = nurse.text("/console/")
    assert "Call-back request: marked done." in page and "Nothing to follow up." in page
    # Twice is harmless, and says so.
    r = nurse.post(f"/console/tasks/{task.id}/done")
    assert "already done" in nurse.text(r.headers["Location"])


def test_only_enrolment_requests_can_be_rejected(as_role, sites, enrol):
    client = enrol(sites[0], "082 000 0001", "Caller")
    task = Task(kind="callback", client_id=client.id, site_id=sites[0].id, phone=client.phone, status="open")
    db.session.add(task)
    db.session.commit()
    assert as_role("nurse").post(f"/console/tasks/{task.id}/reject").status_code == 404


def test_an_admin_picks_the_site_and_sees_clients_without_one(as_role, sites, enrol):
    za, ke = sites
    enrol(ke, "0712 345 678", "Akinyi", art_days_ago=30)
    enrol(None, "082 000 0009", "Siteless", art_days_ago=30)
    admin = as_role("admin")
    assert "Akinyi" in admin.text(f"/console/?site={ke.id}")
    assert "Siteless" in admin.text("/console/?site=none")
    assert admin.get("/console/?site=abc").status_code == 404


def test_a_coordinator_without_a_site_is_told_so(web, people, app):
    from gateway import users

    users.create_user("new@example.org", "coordinator", "a long password", "test")
    db.session.commit()
    web.login("new@example.org")
    assert "You coordinate no site yet" in web.text("/console/")
