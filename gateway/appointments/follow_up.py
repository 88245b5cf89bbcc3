"""The outcome of a follow-up task: what her Mentor Mother found, fed back into the client's record.

A ``missed_visit`` task (opened by ``gateway.appointments.missed_visits``) is open until
someone records its outcome; then it is ``done`` with the outcome, a note and
who did it (``closed_by``), audited ``task.outcome``. The outcome acts:

- ``reached_already_went``: the visit is recorded as done on the date she went
  (a refill: a pick-up with her usual supply; a child's visit: every dose of it
  still open, given that day);
- ``died``, ``transferred_out``: the client is closed, as a ``client_closed`` event closes her
  (silently: her visits, reminders and waiting messages cancelled);
- ``reached_will_come``, ``not_reachable``, ``wrong_number``: recorded only (the
  visit stays due; a visit still missed later is a task already, not a new one).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from gateway.adapters.database import db
from gateway.appointments import dispensed, dose_given, event_problems, events, record_event, refresh
from gateway.clients.sites import local_today
from gateway.core import audit, clock
from gateway.core.errors import ValidationError
from gateway.core.models import TASK_OUTCOMES, Appointment, Client, Infant, Task

CLOSING = {"died": "died", "transferred_out": "transferred_out"}
DEFAULT_DAYS_SUPPLY = 30


def record_outcome(task: Task, outcome: str, note: str | None, date: dt.date | None, actor: str) -> None:
    """Close an open ``missed_visit`` task with ``outcome``; ``date``: when she went (or died, or moved).

    ValidationError names the field (``task``, ``outcome``, ``date``) and nothing changes. The caller commits.
    """
    if task.kind != "missed_visit":
        raise ValidationError("this task takes no outcome", {"task": "only a missed visit has an outcome"})
    if task.status != "open":
        raise ValidationError("this task is closed already", {"task": f"already {task.status}"})
    if outcome not in TASK_OUTCOMES:
        raise ValidationError("unknown outcome", {"outcome": f"must be one of {', '.join(TASK_OUTCOMES)}"})
    client = db.session.get(Client, task.client_id)
    today = local_today(client.country)
    details = task.details or {}
    if outcome == "reached_already_went":
        if date is None:
            raise ValidationError("the date she went is needed", {"date": "is required: the day she went"})
        _visit_done(client, details, date, actor)
    elif outcome in CLOSING:
        day = date or today
        if day > today:
            raise ValidationError("the date is in the future", {"date": "must not be in the future"})
        if client.status != "closed":
            record_event(client, events.ClientClosed(date=day, reason=CLOSING[outcome]), actor)
        _close_her_other_tasks(task, outcome, actor)
    task.status, task.outcome, task.note = "done", outcome, note
    task.closed_at, task.closed_by = clock.utcnow(), actor
    audit.record(actor, "task.outcome", "task", task.id,
                 {"kind": task.kind, "status": ["open", "done"], "outcome": outcome,
                  **({"date": date.isoformat()} if date else {}), "note": bool(note)})


def _close_her_other_tasks(task: Task, outcome: str, actor: str) -> None:
    """She has left: her other open follow-ups (missed visits, feeding questions) are done too, audited."""
    others = db.session.scalars(select(Task).where(
        Task.client_id == task.client_id, Task.id != task.id, Task.status == "open",
        Task.kind.in_(("missed_visit", "feeding_question")))).all()
    for other in others:
        other.status, other.closed_at, other.closed_by = "done", clock.utcnow(), actor
        if other.kind == "missed_visit":
            other.outcome = outcome
        audit.record(actor, "task.outcome", "task", other.id,
                     {"kind": other.kind, "status": ["open", "done"], "outcome": outcome, "with_task": task.id})


def _visit_done(client: Client, details: dict, date: dt.date, actor: str) -> None:
    """The missed visit was made after all, on ``date``: recorded as a pick-up or the child's doses."""
    if details.get("kind") == "art_refill":
        errors = event_problems(client, "art_dispensed", {"date": date})
        if errors:
            raise ValidationError("some fields are not valid", errors)
        dispensed(client, date, client.art_days_supply or DEFAULT_DAYS_SUPPLY, actor)
    else:
        infant = db.session.get(Infant, details.get("infant_id"))
        errors = event_problems(client, "visit_done", {"infant_id": infant.id, "date": date})
        if errors:
            raise ValidationError("some fields are not valid", errors)
        still_due = set(db.session.scalars(select(Appointment.name).where(
            Appointment.id.in_(details.get("appointment_ids") or []), Appointment.status == "due")))
        for name in details.get("names") or []:
            if name in still_due:
                dose_given(infant, name, date, actor)
    refresh(client)
