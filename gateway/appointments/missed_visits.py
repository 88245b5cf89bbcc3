"""Missed visits become follow-up tasks for the client's Mentor Mothers (docs/reminders.md).

(Not a module named ``follow_up``: importing it would hide ``gateway.tasks.follow_up``, the function.)

``open_missed_visit_tasks`` is run by a periodic job (``jobs.follow_ups``). It
opens ONE ``missed_visit`` task per client and visit:

- a missed ART pick-up, from the country's ``late_after_days`` after the due
  date (the booked date, when the clinic gave one);
- a child's missed dose or test, ``infant_visit_grace_days`` after its due
  date (reminder_rules.yaml); the doses and tests of a child due the same day
  are one visit, so one task.

A task names its visit with ``visit_key`` ("art:<appointment id>",
"infant:<infant id>:<due date>"); a unique index on (client, kind, visit_key)
makes a second run, or a racing one, unable to open the same task again.

``close_resolved_tasks`` closes the open ones whose visit was recorded since
(a pick-up, a child's doses) or cancelled: nobody is sent after a visit made.

``open_feeding_questions`` opens a ``feeding_question`` task when an
HIV-exposed child reaches one of the rules' ``feeding_question_ages`` and the
end of breastfeeding is not recorded: the Mentor Mother asks, and records the
end of breastfeeding on the client's page (which plans the final HIV test).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from sqlalchemy import select

from gateway.adapters.database import db
from gateway.clients.closing import is_closed
from gateway.clients.sites import zone_of
from gateway.core import audit, clock
from gateway.core.models import Appointment, Client, Infant, Task
from gateway.schedules import add_offset, reminder_rules, schedule_for

log = logging.getLogger(__name__)

INFANT_KINDS = ("immunisation", "infant_hiv_test")
# Visits missed longer ago than this are no longer a task (ART "lost" starts at 90 days in most countries).
LOOKBACK_DAYS = 365
BATCH = 500


def visit_key(appointment: Appointment) -> str:
    """The visit an appointment belongs to: a refill is its own; a child's doses due the same day are one."""
    if appointment.kind == "art_refill":
        return f"art:{appointment.id}"
    return f"infant:{appointment.infant_id}:{appointment.due_date.isoformat()}"


def _missed(appointment: Appointment, today: dt.date, country: str) -> bool:
    days_late = (today - appointment.due_date).days
    if appointment.kind == "art_refill":
        return days_late >= schedule_for(country).thresholds.late_after_days
    return days_late >= reminder_rules().infant_visit_grace_days


def _existing_keys(client_ids: list[int], kind: str) -> set[tuple[int, str]]:
    return set(db.session.execute(select(Task.client_id, Task.visit_key).where(
        Task.client_id.in_(client_ids), Task.kind == kind, Task.visit_key.is_not(None))).all())


def open_missed_visit_tasks(now: dt.datetime | None = None) -> int:
    """Open the missing ``missed_visit`` tasks; return how many were opened. Commits per batch."""
    now = now or clock.utcnow()
    # A day's margin either side of UTC's date; each client's own local date decides below.
    earliest = now.date() - dt.timedelta(days=LOOKBACK_DAYS)
    opened, last_id = 0, 0
    while True:
        client_ids = db.session.scalars(
            select(Appointment.client_id).distinct().where(
                Appointment.status == "due", Appointment.due_date < now.date() + dt.timedelta(days=1),
                Appointment.due_date >= earliest, Appointment.client_id > last_id)
            .order_by(Appointment.client_id).limit(BATCH)).all()
        if not client_ids:
            return opened
        last_id = client_ids[-1]
        clients = {c.id: c for c in db.session.scalars(select(Client).where(Client.id.in_(client_ids)))}
        rows = db.session.scalars(select(Appointment).where(
            Appointment.client_id.in_(client_ids), Appointment.status == "due",
            Appointment.due_date >= earliest).order_by(Appointment.due_date, Appointment.id)).all()
        known = _existing_keys(client_ids, "missed_visit")
        visits: dict[tuple[int, str], list[Appointment]] = defaultdict(list)
        for row in rows:
            client = clients[row.client_id]
            if is_closed(client):
                continue
            today = clock.local_date(zone_of(client))
            if row.due_date < today and _missed(row, today, client.country):
                visits[(client.id, visit_key(row))].append(row)
        for (client_id, key), group in visits.items():
            if (client_id, key) in known:
                continue
            client = clients[client_id]
            first = group[0]
            db.session.add(Task(kind="missed_visit", status="open", client_id=client.id, site_id=client.site_id,
                                phone=client.phone, visit_key=key,
                                details={"kind": first.kind, "due_date": first.due_date.isoformat(),
                                         "infant_id": first.infant_id, "appointment_ids": [a.id for a in group],
                                         "names": [a.name for a in group]}))
            opened += 1
        db.session.commit()


def close_resolved_tasks(now: dt.datetime | None = None) -> int:
    """Close open ``missed_visit`` tasks whose visit is no longer due (recorded since, or cancelled):
    done with no outcome, by ``system``, audited ``task.resolved``. Returns how many. Commits."""
    now = now or clock.utcnow()
    tasks = db.session.scalars(select(Task).where(Task.kind == "missed_visit", Task.status == "open")).all()
    ids = {i for t in tasks for i in (t.details or {}).get("appointment_ids", [])}
    still_due = set(db.session.scalars(select(Appointment.id).where(
        Appointment.id.in_(ids), Appointment.status == "due"))) if ids else set()
    closed = 0
    for task in tasks:
        if not still_due.intersection((task.details or {}).get("appointment_ids", [])):
            task.status, task.closed_at, task.closed_by = "done", now, "system"
            audit.record("system", "task.resolved", "task", task.id,
                         {"kind": task.kind, "status": ["open", "done"], "reason": "the visit is no longer due"})
            closed += 1
    db.session.commit()
    return closed


def open_feeding_questions(now: dt.datetime | None = None) -> int:
    """Open a ``feeding_question`` task for each exposed child past an asking age, breastfeeding end unknown."""
    now = now or clock.utcnow()
    ages = reminder_rules().feeding_question_ages
    if not ages:
        return 0
    opened, last_id = 0, 0
    while True:
        infants = db.session.scalars(select(Infant).where(
            Infant.hiv_exposed.is_(True), Infant.breastfeeding_ended_on.is_(None), Infant.id > last_id)
            .order_by(Infant.id).limit(BATCH)).all()
        if not infants:
            return opened
        last_id = infants[-1].id
        clients = {c.id: c for c in db.session.scalars(
            select(Client).where(Client.id.in_({i.client_id for i in infants})))}
        known = _existing_keys(list(clients), "feeding_question")
        for infant in infants:
            client = clients[infant.client_id]
            if is_closed(client):
                continue
            today = clock.local_date(zone_of(client))
            reached = [age for age in ages if add_offset(infant.date_of_birth, age) <= today]
            if not reached:
                continue
            # Only the latest age reached: a child enrolled at 20 months is asked once, not four times.
            key = f"feeding:{infant.id}:{reached[-1]}"
            if (client.id, key) in known:
                continue
            db.session.add(Task(kind="feeding_question", status="open", client_id=client.id,
                                site_id=client.site_id, phone=client.phone, visit_key=key,
                                details={"infant_id": infant.id, "age": str(reached[-1])}))
            opened += 1
        db.session.commit()
