"""Appointments: the visits a client and her infants are due for, computed from their own dates.

``refresh`` reconciles a client's appointment rows with what her dates and
her country's schedule say now (creating, moving, closing rows and bumping
their version), then re-plans her reminders. Every event (a pick-up, a birth,
a dose, the end of breastfeeding) changes the client's dates and calls it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from gateway.core import audit, clock, fields
from gateway import reminders
from gateway.adapters.bulk import bulk_insert
from gateway.appointments import events, life_cycle
from gateway.appointments.working import WORKING_APPOINTMENTS, working_appointments
from gateway.clients.enrolment import ART_DAYS_SUPPLY, MAX_INFANT_AGE_DAYS
from gateway.clients.sites import local_today, region_of, zone_of
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.core.fields import FieldError
from gateway.core.models import Appointment, Client, DoseGiven, Infant, Reminder, Site, reminder_appointments
from gateway.schedules import art_next_pickup, art_status, infant_plan, schedule_for

ART_NAME = "ART refill"
# A booked pick-up date at most this many days after the pick-up (a year: more than any supply given).
NEXT_VISIT_MAX_DAYS = 366


def replan(client: Client, now: dt.datetime | None = None) -> None:
    """Re-plan her reminders when her dates did not change but what decides them did
    (her hour, her site's zone, her SMS stopped or restarted). The caller commits."""
    reminders.plan(client, working_appointments(client), now)


def refresh(client: Client, now: dt.datetime | None = None, plan: bool = True) -> None:
    """Bring the client's appointments (and, with ``plan``, her reminders) in line with her dates.

    Works on the client's loaded collections (``appointments``, ``infants``
    and their ``doses``), so a batch loaded with ``planning_options`` costs a
    few queries, not a few per client. Of her appointments only the working
    ones (``working.WORKING_APPOINTMENTS``) are read. The caller commits.
    """
    now = now or clock.utcnow()
    # What it reads (her rows, her infants and their doses) does not depend on changes not yet
    # flushed: the changes of the event and these go to the database in one flush, not two.
    with db.session.no_autoflush:
        working_appointments(client)  # her done refills are not read (an unread collection)
        for values in _reconcile(client):
            client.appointments.append(Appointment(**values))
    if plan:
        db.session.flush()
        reminders.plan(client, working_appointments(client), now)


def _reconcile(client: Client) -> list[dict[str, Any]]:
    """Move or cancel the client's appointment rows in place; return the rows to add, as column values.

    The one computation of a client's appointments: ``refresh`` adds the rows
    it returns as ORM objects, ``plan_ahead`` inserts them in bulk for clients
    who have no rows yet (for them nothing is moved, every row is new). The
    rows come in the order they are made: each infant's visits (by due date
    and name), then the open ART refill. ``client_id`` is left to the writer.
    """
    added: list[dict[str, Any]] = []
    existing = {(a.infant_id, a.kind, a.name): a for a in client.appointments if a.kind != "art_refill"}
    wanted: dict[tuple, tuple[dt.date, dt.date | None, bool]] = {}
    schedule = schedule_for(client.country)
    active = client.status != "closed"  # a closed client: every open row is cancelled, nothing planned
    for infant in client.infants:
        if not active or infant.status == "closed":
            continue
        # "Up to date at enrolment": what was due before that day was given, its date not recorded (done, no date).
        settled = infant.up_to_date_on
        for visit in plan_of(client, infant):
            unrecorded = settled is not None and visit.given_on is None and visit.due_date < settled
            wanted[(infant.id, visit.kind, visit.name)] = (visit.due_date, visit.given_on, unrecorded)
    for key, (due, given_on, unrecorded) in wanted.items():
        row = existing.pop(key, None)
        status = "done" if given_on or unrecorded else "due"
        if row is None:
            added.append({"infant_id": key[0], "kind": key[1], "name": key[2], "due_date": due,
                          "status": status, "done_on": given_on, "version": 1})
        elif (row.due_date, row.status, row.done_on) != (due, status, given_on):
            row.due_date, row.status, row.done_on = due, status, given_on
            row.version += 1
    for row in existing.values():  # no longer in the child's schedule (e.g. exposure corrected)
        if row.status == "due":
            row.status = "cancelled"
            row.version += 1

    _art_refill(client, None, client if active else None, client.reopened_on, added)
    for infant in client.infants:  # a child's own ART (its HIV test was positive)
        if infant.art_last_dispensed or any(a.kind == "art_refill" and a.infant_id == infant.id
                                            for a in client.appointments):
            open_ = active and infant.status != "closed"
            _art_refill(client, infant.id, infant if open_ else None, _later(client.reopened_on, infant.reopened_on),
                        added)
    return added


def _later(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return max(a, b) if a and b else a or b


def _art_refill(client: Client, infant_id: int | None, holder, not_before: dt.date | None,
                added: list[dict[str, Any]]) -> None:
    """Keep one open refill for the mother's ART (``infant_id`` None) or a child's, from ``holder``'s last
    dispensing (``holder`` None: closed, no refill). A refill missed while closed is due on reopening."""
    art_due = [a for a in client.appointments if a.kind == "art_refill" and a.status == "due"
               and a.infant_id == infant_id]
    next_pickup = (art_next_pickup(holder.art_last_dispensed, holder.art_days_supply,
                                   getattr(holder, "art_next_visit", None))  # a booked date: hers, not a child's
                   if holder is not None and holder.art_last_dispensed and holder.art_days_supply else None)
    if next_pickup and not_before and next_pickup < not_before:
        next_pickup = not_before
    current = art_due[0] if art_due else None
    for extra in art_due[1:]:  # never more than one open refill
        extra.status, extra.version = "cancelled", extra.version + 1
    if next_pickup and current is None:
        added.append({"infant_id": infant_id, "kind": "art_refill", "name": ART_NAME, "due_date": next_pickup,
                      "status": "due", "done_on": None, "version": 1})
    elif next_pickup and current.due_date != next_pickup:
        current.due_date, current.version = next_pickup, current.version + 1
    elif not next_pickup and current is not None:
        current.status, current.version = "cancelled", current.version + 1


def plan_of(client: Client, infant: Infant) -> list:
    """The infant's visits now (``schedules.infant_plan``): its doses, results, end of breastfeeding, reopening."""
    given = {d.dose: d.given_on for d in infant.doses}
    results = {d.dose: d.result for d in infant.doses if d.result}
    return infant_plan(schedule_for(client.country), infant.date_of_birth, infant.hiv_exposed, given,
                       infant.breastfeeding_ended_on, region=region_of(client), results=results,
                       not_before=_later(client.reopened_on, infant.reopened_on))


def planning_options():
    """Loader options that fetch everything ``refresh`` and ``reminders.plan`` read, a batch at a time.

    Of the appointments, the working ones (not her done refills, which grow
    by one a pick-up). Of the reminders, only live ones (not cancelled): planning reads no
    others, and that is the partial index's condition, so the lookup by
    client uses it instead of scanning every reminder ever planned.
    """
    return (selectinload(Client.site), selectinload(Client.appointments.and_(WORKING_APPOINTMENTS)),
            selectinload(Client.infants).selectinload(Infant.doses),
            selectinload(Client.reminders.and_(Reminder.status != reminders.CANCELLED))
            .selectinload(Reminder.appointments))


def plan_ahead(now: dt.datetime | None = None, batch_size: int = 500, progress=None) -> int:
    """Refresh every client not yet planned through today + HORIZON_DAYS - 1; commit per batch.

    Run by the periodic job and after a CSV import: new clients get their
    appointments and reminders, and everyone's reminders stay planned
    ``reminders.HORIZON_DAYS`` ahead as the days go by (schedule corrections
    in the data files reach existing clients the same way). Returns how many
    clients it refreshed; ``progress(n)`` is told after each batch.

    Clients who have no appointment or live reminder rows yet (just enrolled
    or imported) go through the same computation, but are read and written
    in bulk (``_refresh_new``) instead of through the ORM's unit of work:
    that is what makes a national import plannable in minutes.
    """
    now = now or clock.utcnow()
    # A day's margin covers zones ahead of UTC (UTC+1..+3), whose local date can be a day past UTC's.
    cutoff = now.date() + dt.timedelta(days=reminders.HORIZON_DAYS - 1)
    done = 0
    last_id = 0
    while True:
        # Walking the ids (not re-reading from the start) keeps each batch's query cheap on a large
        # table and visits each client once per pass.
        ids = db.session.scalars(select(Client.id).where(
            or_(Client.planned_through.is_(None), Client.planned_through < cutoff),
            Client.opted_out.is_(False), Client.status == "active", Client.id > last_id,
        ).order_by(Client.id).limit(batch_size)).all()
        if not ids:
            return done
        last_id = ids[-1]
        with_rows = set(db.session.scalars(
            select(Appointment.client_id).where(Appointment.client_id.in_(ids)).union(
                select(Reminder.client_id).where(Reminder.client_id.in_(ids), Reminder.status != reminders.CANCELLED))))
        if with_rows:
            known = db.session.scalars(select(Client).where(Client.id.in_(with_rows))
                                       .order_by(Client.id).options(*planning_options())).all()
            for client in known:
                refresh(client, now, plan=False)
            db.session.flush()  # one round of inserts for the whole batch's new appointments
            for client in known:
                reminders.plan(client, working_appointments(client), now)
                if client.planned_through < cutoff:  # a zone behind UTC's date: don't loop on it today
                    client.planned_through = cutoff
        _refresh_new([i for i in ids if i not in with_rows], now, cutoff)
        db.session.commit()
        done += len(ids)
        if progress:
            progress(len(ids))


class _Site(NamedTuple):
    timezone: str
    region: str | None = None  # region-limited doses (sites.region)


class _Dose(NamedTuple):
    dose: str
    given_on: dt.date
    result: str | None


@dataclass
class _NewInfant:
    id: int
    date_of_birth: dt.date
    hiv_exposed: bool
    breastfeeding_ended_on: dt.date | None
    status: str
    hiv_result: str | None
    reopened_on: dt.date | None
    art_last_dispensed: dt.date | None
    art_days_supply: int | None
    up_to_date_on: dt.date | None
    doses: list[_Dose] = field(default_factory=list)


@dataclass
class _NewClient:
    """What planning reads of a client who has no appointment or reminder rows yet, read with Core.

    Duck-types the ``Client`` attributes ``_reconcile`` and ``reminders.new_rows``
    read (the equivalence with the ORM path is tested in tests/appointments/test_planning_batches.py).
    """

    id: int
    country: str
    site: _Site | None
    reminder_hour: int
    opted_out: bool
    phone_flag: str | None
    art_last_dispensed: dt.date | None
    art_days_supply: int | None
    status: str
    reopened_on: dt.date | None
    art_next_visit: dt.date | None
    infants: list[_NewInfant] = field(default_factory=list)
    appointments: tuple = ()  # none yet: that is what makes her new
    reminders: tuple = ()


def _load_new(client_ids: list[int]) -> list[_NewClient]:
    """The clients ``client_ids`` with their infants and doses (in id order, as the ORM loads them)."""
    c = Client.__table__
    clients = {row.id: _NewClient(row.id, row.country, _Site(row.timezone, row.region) if row.timezone else None,
                                  row.reminder_hour, row.opted_out, row.phone_flag, row.art_last_dispensed,
                                  row.art_days_supply, row.status, row.reopened_on, row.art_next_visit)
               for row in db.session.execute(
                   select(c.c.id, c.c.country, Site.__table__.c.timezone, Site.__table__.c.region, c.c.reminder_hour,
                          c.c.opted_out, c.c.phone_flag, c.c.art_last_dispensed, c.c.art_days_supply, c.c.status,
                          c.c.reopened_on, c.c.art_next_visit)
                   .select_from(c.outerjoin(Site.__table__)).where(c.c.id.in_(client_ids)).order_by(c.c.id))}
    i = Infant.__table__
    infants = {}
    for row in db.session.execute(select(i.c.id, i.c.client_id, i.c.date_of_birth, i.c.hiv_exposed,
                                         i.c.breastfeeding_ended_on, i.c.status, i.c.hiv_result, i.c.reopened_on,
                                         i.c.art_last_dispensed, i.c.art_days_supply, i.c.up_to_date_on)
                                  .where(i.c.client_id.in_(client_ids)).order_by(i.c.id)):
        infants[row.id] = infant = _NewInfant(row.id, row.date_of_birth, row.hiv_exposed, row.breastfeeding_ended_on,
                                              row.status, row.hiv_result, row.reopened_on, row.art_last_dispensed,
                                              row.art_days_supply, row.up_to_date_on)
        clients[row.client_id].infants.append(infant)
    if infants:
        d = DoseGiven.__table__
        for row in db.session.execute(select(d.c.infant_id, d.c.dose, d.c.given_on, d.c.result)
                                      .where(d.c.infant_id.in_(list(infants))).order_by(d.c.id)):
            infants[row.infant_id].doses.append(_Dose(row.dose, row.given_on, row.result))
    return list(clients.values())


def _refresh_new(client_ids: list[int], now: dt.datetime, cutoff: dt.date) -> None:
    """``refresh`` + ``reminders.plan`` for clients with no appointment or live reminder rows, in bulk.

    The rows are what ``_reconcile`` and ``reminders.new_rows`` compute for
    them, the same computation ``refresh`` and ``plan`` make; only the reading
    and writing differ: Core queries instead of ORM objects, a bulk insert per
    table and one UPDATE per distinct ``planned_through`` (at least
    ``cutoff``), no per-row events. The caller commits.
    """
    if not client_ids:
        return
    clients = _load_new(client_ids)
    stamp = clock.utcnow()
    rows = [{**values, "client_id": client.id, "created_at": stamp, "updated_at": stamp}
            for client in clients for values in _reconcile(client)]
    visits: dict[int, list[reminders.Visit]] = {client_id: [] for client_id in client_ids}
    if rows:
        table = Appointment.__table__
        bulk_insert(table, rows)
        # Her rows are the ones just inserted, so the natural key (infant, kind, name) names each.
        ids = {(r.client_id, r.infant_id, r.kind, r.name): r.id for r in db.session.execute(
            select(table.c.id, table.c.client_id, table.c.infant_id, table.c.kind, table.c.name)
            .where(table.c.client_id.in_(client_ids)))}
        for row in rows:
            visits[row["client_id"]].append(reminders.Visit(
                ids[(row["client_id"], row["infant_id"], row["kind"], row["name"])],
                row["kind"], row["due_date"], row["status"]))

    reminder_rows: list[dict] = []
    links: list[list[int]] = []
    through: dict[dt.date, list[int]] = defaultdict(list)
    for client in clients:
        added, planned_through = reminders.new_rows(client, visits[client.id], now)
        through[max(planned_through, cutoff)].append(client.id)
        for values, appointment_ids in added:
            reminder_rows.append({**values, "client_id": client.id, "created_at": stamp, "updated_at": stamp})
            links.append(appointment_ids)
    if reminder_rows:
        table = Reminder.__table__
        bulk_insert(table, reminder_rows)
        # At most one live reminder a client a day: (client, day) names each new row.
        ids = {(r.client_id, r.send_date): r.id for r in db.session.execute(
            select(table.c.id, table.c.client_id, table.c.send_date)
            .where(table.c.client_id.in_(client_ids), table.c.status != reminders.CANCELLED))}
        bulk_insert(reminder_appointments, [
            {"reminder_id": ids[(row["client_id"], row["send_date"])], "appointment_id": appointment_id}
            for row, appointment_ids in zip(reminder_rows, links) for appointment_id in appointment_ids])
    table = Client.__table__
    for day, ids_on_day in through.items():  # a few distinct days (one per zone's local date)
        db.session.execute(update(table).where(table.c.id.in_(ids_on_day))
                           .values(planned_through=day, updated_at=stamp))


# --- events -------------------------------------------------------------------------------------


def record_event(client: Client, event: events.Event, actor: str) -> dict[str, Any]:
    """Apply one care event (a typed value the edge has read) to her dates, audited, then refresh.

    Checks what only the domain can know (``event_problems``) and raises
    ValidationError naming the fields; nothing is changed then. The caller commits.
    """
    _raise(event_problems(client, event.type, dataclasses.asdict(event)))
    result: dict[str, Any] = {"type": event.type}
    if isinstance(event, events.ArtDispensed) and event.infant_id is None:
        dispensed(client, event.date, event.days_supply, actor, next_visit=event.next_visit)
    elif isinstance(event, events.InfantBorn):
        result["infant_id"] = register_infant(client, event.date_of_birth, event.hiv_exposed, event.name, actor).id
    elif isinstance(event, (events.ClientClosed, events.ClientReopened)):
        life_cycle.set_status(client, event, actor)
    else:
        infant = db.session.get(Infant, event.infant_id)
        if isinstance(event, events.DoseGiven):
            dose_given(infant, event.dose, event.date, actor)
        elif isinstance(event, events.BreastfeedingEnded):
            breastfeeding_ended(infant, event.date, actor)
        elif isinstance(event, events.ArtDispensed):
            dispensed(client, event.date, event.days_supply, actor, infant)
        elif isinstance(event, events.InfantTestResult):
            dose_given(infant, event.test, event.date, actor)
            life_cycle.test_result(infant, event.test, event.result, actor)
        else:
            life_cycle.set_status(infant, event, actor)
        result["infant_id"] = infant.id
    refresh(client)
    return result


def event_problems(client: Client, kind: str, values: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with an event's values for this client (her today, her last pick-up, her infants, her
    country's schedule), by field. Values that are missing (the edge refused them) are not looked at, so
    the edge can show these beside its own reasons: every problem at once."""
    today = local_today(client.country)
    errors: dict[str, str] = {}
    date = values.get("date")
    if kind in life_cycle.CLIENT_EVENTS:
        return life_cycle.client_problems(client, kind, values, today)
    if kind == "art_dispensed" and values.get("infant_id") is None:
        if date and date > today:
            errors["date"] = "must not be in the future"
        elif date and client.art_last_dispensed and date < client.art_last_dispensed:
            errors["date"] = f"is before the last recorded dispensing ({client.art_last_dispensed.isoformat()})"
        booked = values.get("next_visit")
        if booked and date and booked < date:
            errors["next_visit"] = "is before the pick-up date"
        elif booked and date and booked > date + dt.timedelta(days=NEXT_VISIT_MAX_DAYS):
            errors["next_visit"] = "is more than a year after the pick-up date"
    elif kind == "infant_born":
        dob = values.get("date_of_birth")
        if dob and dob > today:
            errors["date_of_birth"] = "must not be in the future"
        elif dob and (today - dob).days > MAX_INFANT_AGE_DAYS:
            errors["date_of_birth"] = "is more than 5 years ago"
    else:
        infant = _infant_of(client, values["infant_id"], errors) if values.get("infant_id") is not None else None
        if date and date > today:
            errors["date"] = "must not be in the future"
        elif date and infant and date < infant.date_of_birth:
            errors["date"] = "is before the infant's date of birth"
        if kind in life_cycle.INFANT_EVENTS and infant:
            errors.update(life_cycle.infant_problems(client, infant, kind, values))
        dose = values.get("dose")
        if kind == "dose_given" and dose and infant:
            names = {d.name for d in schedule_for(client.country).doses if infant.hiv_exposed or not d.hiv_exposed_only}
            if dose not in names:
                errors["dose"] = f"{dose!r} is not in this child's schedule ({', '.join(sorted(names))})"
    return errors


def visit_done(client: Client, infant_id: int, date: dt.date, actor: str) -> tuple[Infant, list[str], list[str]]:
    """A child's visit: every dose and test due on or before ``date`` and still open is given that day.

    The child and the date are checked as a ``dose_given`` event's (``event_problems``). Each dose is
    recorded by ``dose_given`` (audited ``dose.given``, as one at a time), then she is refreshed once. A dose
    that must follow another by an interval (``after``) waits unless that one was recorded before this visit:
    Hexa2 is not given with Hexa1. Returns (the child, the doses given, the doses left waiting).
    """
    _raise(event_problems(client, "visit_done", {"infant_id": infant_id, "date": date}))
    infant = db.session.get(Infant, infant_id)
    due = db.session.scalars(select(Appointment.name).where(
        Appointment.client_id == client.id, Appointment.infant_id == infant.id, Appointment.status == "due",
        Appointment.due_date <= date).order_by(Appointment.due_date, Appointment.name)).all()
    if not due:
        raise ValidationError("nothing was due", {"date": f"nothing was due for this child on or before {date}"})
    before = {d.dose for d in infant.doses}
    follows = {d.name: d.after.dose for d in schedule_for(client.country).doses if d.after is not None}
    given = [name for name in due if name not in follows or follows[name] in before]
    waiting = [name for name in due if name not in given]
    if not given:
        raise ValidationError("only doses that wait for another are due",
                              {"date": f"{', '.join(waiting)} must first wait after an earlier dose"})
    for name in given:
        dose_given(infant, name, date, actor)
    refresh(client)
    return infant, given, waiting


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError("some fields are not valid", errors)


def _infant_of(client: Client, infant_id: int, errors: dict[str, str]) -> Infant | None:
    infant = db.session.get(Infant, infant_id) if 0 < infant_id <= fields.MAX_ID else None
    if infant is None or infant.client_id != client.id:
        errors["infant_id"] = "no such infant for this client"
        return None
    return infant


def dispensed(client: Client, date: dt.date, days_supply: int, actor: str, infant: Infant | None = None,
              next_visit: dt.date | None = None) -> None:
    """A pick-up of her ART (or, with ``infant``, of that child's own): the open refill is done, the next one
    is due on ``next_visit`` (the date the clinic booked; hers only) when given, else ``days_supply`` days
    after ``date``."""
    holder = infant if infant is not None else client
    infant_id = infant.id if infant is not None else None
    open_refill = next((a for a in working_appointments(client)
                        if a.kind == "art_refill" and a.status == "due" and a.infant_id == infant_id), None)
    if open_refill is not None:
        open_refill.status, open_refill.done_on, open_refill.version = "done", date, open_refill.version + 1
    before = {"art_last_dispensed": holder.art_last_dispensed, "art_days_supply": holder.art_days_supply}
    after = {"art_last_dispensed": date, "art_days_supply": days_supply}
    holder.art_last_dispensed, holder.art_days_supply = date, days_supply
    if infant is None:
        before["art_next_visit"], after["art_next_visit"] = client.art_next_visit, next_visit
        client.art_next_visit = next_visit
    audit.record(actor, "art.dispensed", "infant" if infant is not None else "client", holder.id,
                 audit.diff(before, after))


def register_infant(client: Client, dob: dt.date, hiv_exposed: bool, name: str | None, actor: str) -> Infant:
    infant = Infant(date_of_birth=dob, hiv_exposed=hiv_exposed, name=name)
    client.infants.append(infant)
    if client.programme in (None, "pregnant", "art"):
        client.programme = "mother"
    db.session.flush()
    audit.record(actor, "infant.registered", "infant", infant.id, {"client_id": client.id, "hiv_exposed": hiv_exposed})
    return infant


def dose_given(infant: Infant, dose: str, date: dt.date, actor: str) -> None:
    row = next((d for d in infant.doses if d.dose == dose), None)
    before = row.given_on if row else None
    if row is None:
        infant.doses.append(DoseGiven(dose=dose, given_on=date))
    else:
        row.given_on = date
    audit.record(actor, "dose.given", "infant", infant.id, {dose: [_iso(before), date.isoformat()]})


def breastfeeding_ended(infant: Infant, date: dt.date, actor: str) -> None:
    before = infant.breastfeeding_ended_on
    infant.breastfeeding_ended_on = date
    audit.record(actor, "breastfeeding.ended", "infant", infant.id, {"breastfeeding_ended_on": [_iso(before), date.isoformat()]})


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


# --- reading ------------------------------------------------------------------------------------

def display_status(appointment: Appointment, today: dt.date, thresholds) -> str:
    """What a coordinator sees: due / done / cancelled, or overdue (a dose) / late, interruption, lost (ART)."""
    if appointment.status != "due" or appointment.due_date >= today:
        return appointment.status
    if appointment.kind == "art_refill":
        return art_status(appointment.due_date, today, thresholds)
    return "overdue"


def schedule_json(client: Client) -> dict[str, Any]:
    """The client's whole picture: every appointment (past included) and her live reminders."""
    from gateway.core.models import Reminder

    today = local_today(client.country)
    thresholds = schedule_for(client.country).thresholds
    appointments = db.session.scalars(select(Appointment).where(Appointment.client_id == client.id)
                                      .order_by(Appointment.due_date, Appointment.id)).all()
    rows = db.session.scalars(select(Reminder).where(Reminder.client_id == client.id, Reminder.status != "cancelled")
                              .order_by(Reminder.send_date)).all()
    zone = zone_of(client)
    return {
        "appointments": [
            {"id": a.id, "kind": a.kind, "name": a.name, "due_date": a.due_date.isoformat(),
             "status": display_status(a, today, thresholds), "done_on": _iso(a.done_on),
             **({"infant_id": a.infant_id} if a.infant_id else {}),
             # "Up to date at enrolment": given before she joined, on a day not recorded (not overdue).
             **({"given_unrecorded": True} if a.status == "done" and a.done_on is None else {})}
            for a in appointments
        ],
        "reminders": [
            {"id": r.id, "appointment_ids": sorted(a.id for a in r.appointments),
             "send_at": r.send_at.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z"),
             "send_date": r.send_date.isoformat(), "template": r.template, "status": r.status}
            for r in rows
        ],
        "timezone": zone,
    }
