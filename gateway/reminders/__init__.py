"""Reminders: which SMS a client gets on which local day, as rows with a state.

``plan`` turns a client's open appointments into reminder rows by the
reminder rules (data: gateway/schedules/data/reminder_rules.yaml), at most
one per local day, inside the send window, at her preferred hour, for the
next ``HORIZON_DAYS`` days. ``appointments.plan_ahead`` plans further as the
days go by. See docs/reminders.md for the life cycle.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from sqlalchemy import literal_column, select, update

from gateway.core import clock
from gateway.clients.sites import zone_of
from gateway.adapters.database import db, unread
from gateway.core.models import Appointment, Client, Message, Reminder
from gateway.schedules import reminder_rules
from gateway.schedules.window import send_moment

# How far ahead reminder rows exist. Appointments further out are planned as
# the days go by, so enrolment stays cheap and rows stay few.
HORIZON_DAYS = 35
# Written as a literal, not a bound parameter: only then can the database tell that a query on live
# reminders meets the partial index's condition (uq_reminders_client_day_live: status != 'cancelled').
CANCELLED = literal_column("'cancelled'")



@dataclass(frozen=True)
class _Wanted:
    appointment_ids: frozenset[int]
    due_date: dt.date
    template: str
    send_at: dt.datetime
    stale_at: dt.datetime


class Visit(NamedTuple):
    """An appointment as planning reads it, for rows written in bulk (``new_rows``), not as ORM objects."""

    id: int
    kind: str
    due_date: dt.date  # local calendar date
    status: str


def _template(days: int) -> str:
    return "before" if days < 0 else "today" if days == 0 else "missed"


def wanted_reminders(client: Client, appointments: Sequence[Appointment | Visit], today: dt.date) -> dict[dt.date, _Wanted]:
    """The reminders the rules ask for, one per local day from ``today`` to the horizon.

    When rules put several reminders on one day, the day's message is about the
    nearest visit (today's, then yesterday's missed one, then the soonest
    upcoming), and it names every open appointment due on that visit's date
    (several doses, twins, the mother's own pick-up): one SMS a day, never a
    message that mixes dates.
    """
    rules = reminder_rules()
    zone = zone_of(client)
    horizon = today + dt.timedelta(days=HORIZON_DAYS)
    candidates: dict[dt.date, list[tuple[tuple[int, int], Appointment, object]]] = defaultdict(list)
    for appointment in appointments:
        for rule in rules.for_kind(appointment.kind):
            day = appointment.due_date + dt.timedelta(days=rule.days)
            if today <= day <= horizon:
                # Nearest first; on a tie, the missed visit before the upcoming one.
                candidates[day].append(((abs(rule.days), 0 if rule.days > 0 else 1), appointment, rule))
    wanted: dict[dt.date, _Wanted] = {}
    for day, items in candidates.items():
        rank, first, rule = min(items, key=lambda item: (item[0], item[1].due_date, item[1].id))
        same_visit = frozenset(a.id for r, a, _ in items if a.due_date == first.due_date and r == rank)
        send_at = send_moment(day, client.reminder_hour, zone)
        # Stale after the rule's cutoff, and never later than the end of that day's send window:
        # a reminder that could not go in daylight is skipped, not sent at night.
        window_end = clock.utc_of_local(day, rules.window_end_hour, zone)
        wanted[day] = _Wanted(same_visit, first.due_date, _template(rule.days), send_at,
                              min(send_at + dt.timedelta(hours=rule.stale_after_hours), window_end))
    return wanted


def plan(client: Client, appointments: Sequence[Appointment], now: dt.datetime | None = None) -> None:
    """Reconcile the client's reminder rows with what the rules want now (caller commits).

    ``appointments`` are her working appointments as the appointments package
    reads them (``appointments.working_appointments``); ``appointments.replan``
    is the call for a client whose dates did not change (her hour, her SMS).

    ``appointments.plan_ahead`` writes the rows of clients who have none yet
    in bulk: the same computation (``_reconcile``, through ``new_rows``).

    Only rows not yet handed to a sender change: a scheduled row is moved or
    cancelled; a queued row is changed only if its message can still be
    cancelled before a send job claims it. Each change bumps the row's version.
    """
    now = now or clock.utcnow()
    if client.opted_out or client.phone_flag:
        _cancel_one_offs(client, now)
    appointments_by_id = {a.id: a for a in appointments}
    loaded = not unread(client, "reminders")
    added, client.planned_through = _reconcile(client, appointments, now)
    for values, appointment_ids in added:
        row = Reminder(**values)
        row.appointments = [appointments_by_id[i] for i in appointment_ids]
        if loaded:
            client.reminders.append(row)
        else:  # her collection stays unread: her reminder history is not loaded to add a row to it
            row.client_id = client.id
            db.session.add(row)


def new_rows(client: Client, appointments: Sequence[Visit],
             now: dt.datetime) -> tuple[list[tuple[dict, list[int]]], dt.date]:
    """What ``plan`` would add for a client who has no reminder rows yet, for a bulk writer.

    ``appointments`` are her appointment rows as ``Visit`` records (written in
    bulk, they have no ORM objects). Returns the rows to add, each as column
    values (``client_id`` aside) with the sorted ids of the appointments it
    names, and her new ``planned_through``; nothing is written here.
    """
    if client.reminders:
        raise ValueError(f"client {client.id} has reminder rows already: plan() reconciles those")
    return _reconcile(client, appointments, now)


def _reconcile(client: Client, appointments: Sequence[Appointment | Visit],
               now: dt.datetime) -> tuple[list[tuple[dict, list[int]]], dt.date]:
    """Move or cancel the client's live reminder rows in place; return the rows to add and her planned-through date.

    The one computation of a client's reminders, shared by ``plan`` and
    ``new_rows``. Each row to add comes as its column values (``client_id``
    aside) and the sorted ids of the appointments it names. The date is the
    last local day her reminders now exist for (``Client.planned_through``).
    """
    today = clock.local_date(zone_of(client), now)
    if client.opted_out or client.phone_flag or client.status == "closed":
        wanted = {}
    else:
        since = today - dt.timedelta(days=reminder_rules().max_days_after)
        wanted = wanted_reminders(client, [a for a in appointments
                                           if a.status == "due" and a.due_date >= since], today)
    existing = _live_rows(client, today)
    appointments_by_id = {a.id: a for a in appointments}
    for row in existing:
        want = wanted.pop(row.send_date, None)
        if row.status not in ("scheduled", "queued"):
            continue  # already sent, failed or skipped: that day has had its reminder
        same = want is not None and (frozenset(a.id for a in row.appointments), row.due_date, row.template,
                                     row.send_at, row.stale_at) == (want.appointment_ids, want.due_date,
                                                                    want.template, want.send_at, want.stale_at)
        if same:
            continue
        if row.status == "queued" and not _cancel_pending_message(row):
            continue  # a send job has it: too late to change this one
        row.version += 1
        if want is None:
            row.status = "cancelled"
        else:
            _fill(row, want, appointments_by_id, now)
    added = [({"send_date": day, "version": 1, **_columns(want, now)}, sorted(want.appointment_ids))
             for day, want in wanted.items()]
    return added, today + dt.timedelta(days=HORIZON_DAYS)


def _live_rows(client: Client, today: dt.date) -> Sequence[Reminder]:
    """Her reminder rows for ``today`` on that are not cancelled.

    From her loaded collection when it is loaded (a batch read with
    ``appointments.planning_options``, or a client planned in bulk); else one
    query on the partial index, so that planning one client does not read
    every reminder she was ever sent.
    """
    if not unread(client, "reminders"):
        return [r for r in client.reminders if r.send_date >= today and r.status != "cancelled"]
    return db.session.scalars(
        select(Reminder).where(Reminder.client_id == client.id, Reminder.status != CANCELLED,
                               Reminder.send_date >= today).order_by(Reminder.id)).all()


def _fill(row: Reminder, want: _Wanted, appointments_by_id: dict[int, Appointment], now: dt.datetime) -> None:
    row.appointments = [appointments_by_id[i] for i in sorted(want.appointment_ids)]
    for key, value in _columns(want, now).items():
        setattr(row, key, value)


def _columns(want: _Wanted, now: dt.datetime) -> dict:
    """The columns a wanted reminder sets on its row, new or moved."""
    return {"due_date": want.due_date, "template": want.template, "send_at": want.send_at,
            "stale_at": want.stale_at,
            # A moment already past when the row is made is not sent late.
            "status": "skipped" if want.send_at <= now else "scheduled"}


def _cancel_one_offs(client: Client, now: dt.datetime) -> None:
    """Cancel her welcome SMS and broadcast copies still waiting (for their send window): she said STOP."""
    db.session.execute(update(Message).where(
        Message.client_id == client.id, Message.status == "queued", Message.kind.is_not(None),
    ).values(status="cancelled", updated_at=now))


def _cancel_pending_message(row: Reminder) -> bool:
    """Cancel the queued message of ``row`` unless a send job already claimed it. True if cancelled."""
    result = db.session.execute(update(Message).where(
        Message.reminder_id == row.id, Message.reminder_version == row.version, Message.status == "queued",
    ).values(status="cancelled", updated_at=clock.utcnow()))
    return result.rowcount > 0 or db.session.scalar(select(Message.id).where(
        Message.reminder_id == row.id, Message.reminder_version == row.version)) is None
