"""Missed visits become follow-up tasks (one per client and visit), and their outcomes feed back, on the console."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

import jobs
from gateway.adapters.database import db
from gateway.clients.sites import local_today
from gateway.core.models import Appointment, AuditEntry, Client, Reminder, Task
from gateway.appointments.missed_visits import open_feeding_questions, open_missed_visit_tasks


def section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end)]


def missed_tasks(client_id: int) -> list[Task]:
    return db.session.scalars(select(Task).where(Task.client_id == client_id, Task.kind == "missed_visit")
                              .order_by(Task.id)).all()


def test_a_missed_pickup_becomes_one_task_however_often_the_job_runs(app, sites, enrol):
    za, _ = sites
    late = enrol(za, "082 000 0001", "Late Lerato", art_days_ago=32)  # due 2 days ago: late from day 1 in ZA
    on_time = enrol(za, "082 000 0002", "On Time", art_days_ago=30)  # due today: not missed
    assert open_missed_visit_tasks() == 1
    assert open_missed_visit_tasks() == 0  # the second run (or a racing one) opens nothing
    jobs.follow_ups()  # the periodic job's verb
    [task] = missed_tasks(late.id)
    assert (task.status, task.site_id, task.details["kind"], task.visit_key[:4]) == ("open", za.id, "art_refill", "art:")
    assert missed_tasks(on_time.id) == []


def test_the_unique_index_refuses_a_second_task_for_the_same_visit(app, sites, enrol):
    import pytest
    from sqlalchemy.exc import IntegrityError

    client = enrol(sites[0], "082 000 0001", "Late", art_days_ago=32)
    open_missed_visit_tasks()
    [task] = missed_tasks(client.id)
    db.session.add(Task(kind="missed_visit", client_id=client.id, site_id=task.site_id, phone=client.phone,
                        visit_key=task.visit_key, status="open"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_childs_missed_doses_of_one_day_are_one_task_after_the_grace_period(app, sites, enrol):
    za, _ = sites
    # 6-week visit (OPV1, RV1, Hexa1, PCV1) was 20 days ago: past the 14-day grace; 10-week visit 8 days ago: not yet.
    client = enrol(za, "082 000 0001", "Mother", infant_days_old=42 + 20)
    open_missed_visit_tasks()
    tasks = missed_tasks(client.id)
    six_weeks = [t for t in tasks if set(t.details["names"]) >= {"OPV1", "RV1", "Hexa1", "PCV1"}]
    assert len(six_weeks) == 1
    assert all(dt.date.fromisoformat(t.details["due_date"]) <= local_today("ZA") - dt.timedelta(days=14)
               for t in tasks)
    assert len({t.visit_key for t in tasks}) == len(tasks)


def test_today_groups_tasks_by_client_and_records_an_outcome(as_role, sites, enrol, people):
    za, _ = sites
    client = enrol(za, "082 000 0001", "Late Lerato", art_days_ago=32, infant_days_old=42 + 20)
    db.session.add(Task(kind="callback", client_id=client.id, site_id=za.id, phone=client.phone, status="open"))
    db.session.commit()
    open_missed_visit_tasks()
    nurse = as_role("nurse")
    page = section(nurse.text("/console/"), 'id="follow-ups"', 'id="requests"')
    assert page.count('class="task-group"') == 1  # every task of hers in one block
    assert "Missed visit: Medicine pick-up ART refill" in page and "Call-back request" in page
    assert page.count("Missed visit: Immunisation") + page.count("Missed visit: Child HIV test") >= 1
    art = next(t for t in missed_tasks(client.id) if t.details["kind"] == "art_refill")
    r = nurse.post(f"/console/tasks/{art.id}/outcome", {"outcome": "reached_will_come",
                                                         "note": "She will come\r\non Friday"})
    assert r.status_code == 302
    task = db.session.get(Task, art.id)
    assert (task.status, task.outcome, task.note, task.closed_by) == (
        "done", "reached_will_come", "She will come on Friday", f"user:{people['nurse'].id}")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "task.outcome"))
    assert entry.entity_id == task.id and entry.changes["outcome"] == "reached_will_come"
    # The refill stays due: she said she will come.
    assert db.session.scalar(select(func.count()).select_from(Appointment).where(
        Appointment.client_id == client.id, Appointment.kind == "art_refill", Appointment.status == "due")) == 1
    # A closed task takes no second outcome; a task never opens again for the same visit.
    r = nurse.post(f"/console/tasks/{art.id}/outcome", {"outcome": "died"})
    assert "already done" in nurse.text(r.headers["Location"])
    assert open_missed_visit_tasks() == 0


def test_already_went_records_the_visit_on_that_date(as_role, sites, enrol):
    za, _ = sites
    client = enrol(za, "082 000 0001", "Mother", art_days_ago=32, infant_days_old=42 + 20)
    open_missed_visit_tasks()
    nurse = as_role("nurse")
    went = local_today("ZA") - dt.timedelta(days=1)
    art = next(t for t in missed_tasks(client.id) if t.details["kind"] == "art_refill")
    r = nurse.post(f"/console/tasks/{art.id}/outcome", {"outcome": "reached_already_went", "date": went.isoformat()})
    assert r.status_code == 302
    client = db.session.get(Client, client.id)
    assert client.art_last_dispensed == went and client.art_days_supply == 30
    child = next(t for t in missed_tasks(client.id) if "OPV1" in t.details["names"])
    nurse.post(f"/console/tasks/{child.id}/outcome", {"outcome": "reached_already_went", "date": went.isoformat()})
    done = dict(db.session.execute(select(Appointment.name, Appointment.done_on).where(
        Appointment.id.in_(child.details["appointment_ids"]))).all())
    assert set(done.values()) == {went}


def test_already_went_needs_the_date_and_a_bad_outcome_is_named(as_role, sites, enrol):
    client = enrol(sites[0], "082 000 0001", "Mother", art_days_ago=32)
    open_missed_visit_tasks()
    [task] = missed_tasks(client.id)
    nurse = as_role("nurse")
    for form, words in (({"outcome": "reached_already_went"}, "date: is required"),
                        ({"outcome": "eloped"}, "outcome: must be one of"),
                        ({"outcome": "reached_already_went", "date": "2999-01-01"}, "date: must not be in the future"),
                        ({"outcome": "died", "date": "1 March"}, "date: is not a date")):
        r = nurse.post(f"/console/tasks/{task.id}/outcome", form)
        assert words in nurse.text(r.headers["Location"])
    task = db.session.get(Task, task.id)
    assert task.status == "open" and task.outcome is None
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(("task.outcome", "client.closed")))) == 0


def test_died_closes_her_record_and_nothing_more_is_sent(as_role, sites, enrol):
    client = enrol(sites[0], "082 000 0001", "Mother", art_days_ago=32, infant_days_old=10)
    open_missed_visit_tasks()
    [task] = missed_tasks(client.id)
    other = Task(kind="feeding_question", client_id=client.id, site_id=sites[0].id, phone=client.phone,
                 status="open", visit_key="feeding:1:6m")
    db.session.add(other)
    db.session.commit()
    r = as_role("nurse").post(f"/console/tasks/{task.id}/outcome", {"outcome": "died", "note": "Family told us"})
    assert r.status_code == 302
    client = db.session.get(Client, client.id)
    assert (client.status, client.closed_reason) == ("closed", "died")  # closed, not opted out: sent nothing
    assert db.session.scalar(select(func.count()).select_from(Appointment).where(
        Appointment.client_id == client.id, Appointment.status == "due")) == 0
    assert db.session.scalar(select(func.count()).select_from(Reminder).where(
        Reminder.client_id == client.id, Reminder.status.in_(("scheduled", "queued")))) == 0
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.closed"))
    assert entry.entity_id == client.id and "died" in str(entry.changes)  # the reason, as the closing audits it
    assert db.session.get(Task, other.id).status == "done"  # her other follow-ups end with her


def test_a_task_whose_visit_was_recorded_since_is_closed_by_the_job(as_role, sites, enrol):
    client = enrol(sites[0], "082 000 0001", "Mother", art_days_ago=32)
    open_missed_visit_tasks()
    [task] = missed_tasks(client.id)
    today = local_today("ZA")
    r = as_role("nurse").post(f"/console/clients/{client.id}/events",
                              {"type": "art_dispensed", "date": today.isoformat(), "days_supply": "30"})
    assert r.status_code == 302
    assert jobs.follow_ups()["resolved"] == 1
    task = db.session.get(Task, task.id)
    assert (task.status, task.outcome, task.closed_by) == ("done", None, "system")
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.entity == "task")) == "task.resolved"


def test_an_outcome_on_another_sites_task_is_404_and_changes_nothing(as_role, sites, enrol):
    _, ke = sites
    client = enrol(ke, "0712 345 678", "Akinyi", art_days_ago=40)
    open_missed_visit_tasks()
    [task] = missed_tasks(client.id)
    assert as_role("nurse").post(f"/console/tasks/{task.id}/outcome", {"outcome": "died"}).status_code == 404
    assert as_role("other").post(f"/console/tasks/{task.id}/outcome",
                                 {"outcome": "not_reachable"}).status_code == 302
    assert db.session.get(Task, task.id).outcome == "not_reachable"
    assert db.session.get(Client, client.id).status == "active"


def test_an_exposed_child_past_an_asking_age_gets_one_feeding_question(as_role, sites, enrol):
    client = enrol(sites[0], "082 000 0001", "Mother", infant_days_old=400)  # about 13 months: asked at 12m
    assert open_feeding_questions() == 1
    assert open_feeding_questions() == 0
    task = db.session.scalar(select(Task).where(Task.kind == "feeding_question"))
    assert task.client_id == client.id and task.visit_key.endswith(":12m")
    assert "Ask: still breastfeeding?" in as_role("nurse").text("/console/")


def test_a_visit_with_several_doses_is_one_row_on_today(as_role, sites, enrol):
    enrol(sites[0], "082 000 0001", "Mother", infant_days_old=42 + 3)  # the 6-week visit: 4 doses, 3 days ago
    page = as_role("nurse").text("/console/")
    missed = section(page, 'id="missed"', 'id="follow-ups"')
    overdue = section(missed, "Overdue:", "</table>")
    six_weeks = [line for line in overdue.splitlines() if "OPV1" in line]
    assert len(six_weeks) == 1
    assert all(name in six_weeks[0] for name in ("RV1", "Hexa1", "PCV1"))


def test_the_module_does_not_hide_the_follow_up_function():
    import gateway.appointments.missed_visits  # noqa: F401 (imported by the job: must not shadow the function)
    from gateway.tasks import follow_up

    assert callable(follow_up)
