"""The life cycle of a client and of an infant: closed and reopened, an infant's HIV test results, a child's ART.

A client is ``active`` or ``closed`` (transferred out, died, moved away,
declined, other). While she is closed nothing is planned or sent to her:
closing cancels her open appointments, her pending reminders and any message
still waiting to go, in the caller's transaction, and says nothing to her
(unlike an opt-out, which is her own choice and is confirmed by SMS).
Reopening plans her schedule afresh: a visit missed while she was closed is
due on the day she was reopened.

An infant is closed and reopened the same way (died, transferred out, other):
its visits are cancelled and no reminder mentions it. A positive infant HIV
test ends the child's testing and flags it as needing ART (its refills are
``art_dispensed`` events with its ``infant_id``); an indeterminate one plans a
repeat test (the country's ``infant_test_repeat`` rule).

The functions here change one record and audit it; ``record_event`` checks
the event first (``client_problems``, ``infant_problems``) and refreshes her
schedule after. The caller commits.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from sqlalchemy import update

from gateway.appointments import events
from gateway.adapters.database import db
from gateway.clients.sites import zone_of
from gateway.core import audit, clock
from gateway.core.errors import ValidationError
from gateway.core.models import Client, Infant, Message
from gateway.schedules import schedule_for
from gateway.schedules.planning import MAX_REPEATS, repeat_name

CLIENT_EVENTS = ("client_closed", "client_reopened")
INFANT_EVENTS = ("infant_closed", "infant_reopened", "infant_test_result", "art_dispensed")


def enrolled_on(client: Client) -> dt.date:
    """The local day she was enrolled (a client not yet written: today)."""
    return clock.local_date(zone_of(client), client.created_at) if client.created_at else clock.local_date(zone_of(client))


def client_problems(client: Client, kind: str, values: Mapping[str, Any], today: dt.date) -> dict[str, str]:
    """What is wrong with closing or reopening her now, by field."""
    errors: dict[str, str] = {}
    if kind == "client_closed" and client.status == "closed":
        errors["type"] = f"she is already closed (since {client.closed_on.isoformat()})"
    elif kind == "client_reopened" and client.status != "closed":
        errors["type"] = "she is not closed"
    date = values.get("date")
    if date and date > today:
        errors["date"] = "must not be in the future"
    elif date and date < enrolled_on(client):
        errors["date"] = f"is before she was enrolled ({enrolled_on(client).isoformat()})"
    elif date and kind == "client_reopened" and client.closed_on and date < client.closed_on:
        errors["date"] = f"is before she was closed ({client.closed_on.isoformat()})"
    return errors


def test_names(client: Client, infant: Infant) -> set[str]:
    """The infant HIV tests a result may be recorded for: its schedule's, and the repeats planned for it."""
    from gateway.appointments import plan_of

    names = {d.name for d in schedule_for(client.country).doses
             if d.kind == "infant_hiv_test" and (infant.hiv_exposed or not d.hiv_exposed_only)}
    planned = {v.name for v in plan_of(client, infant) if v.kind == "infant_hiv_test"}
    given = {d.dose for d in infant.doses}
    repeats = {repeat_name(t, n) for t in names for n in range(1, MAX_REPEATS + 1)}
    return names | planned | (given & repeats)


def infant_problems(client: Client, infant: Infant, kind: str, values: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with an infant event for this infant (its status, its schedule, its result), by field."""
    errors: dict[str, str] = {}
    date = values.get("date")
    if kind == "infant_closed" and infant.status == "closed":
        errors["infant_id"] = f"this infant is already closed (since {infant.closed_on.isoformat()})"
    elif kind == "infant_reopened" and infant.status != "closed":
        errors["infant_id"] = "this infant is not closed"
    elif kind == "infant_reopened" and date and infant.closed_on and date < infant.closed_on:
        errors["date"] = f"is before the infant was closed ({infant.closed_on.isoformat()})"
    elif kind == "infant_test_result" and values.get("test"):
        names = test_names(client, infant)
        if values["test"] not in names:
            errors["test"] = (f"{values['test']!r} is not an HIV test of this child's schedule "
                              f"({', '.join(sorted(names)) or 'none: the child is not HIV-exposed'})")
    elif kind == "art_dispensed":
        if infant.hiv_result != "positive":
            errors["infant_id"] = "this child has no positive HIV test recorded (infant_test_result first)"
        elif date and infant.art_last_dispensed and date < infant.art_last_dispensed:
            errors["date"] = f"is before the child's last recorded dispensing ({infant.art_last_dispensed.isoformat()})"
    return errors


def set_status(record: Client | Infant, event: events.Event, actor: str) -> None:
    """Close or reopen a client or an infant (``client_closed`` / ``infant_closed``, ``..._reopened``), audited.

    The refresh that follows cancels (or plans afresh) the visits and reminders. Closing a client is silent:
    her one-off messages still waiting are cancelled here (her reminders' by planning).
    """
    entity = "client" if isinstance(record, Client) else "infant"
    before = {"status": record.status, "closed_reason": record.closed_reason, "closed_on": record.closed_on}
    if isinstance(event, (events.ClientClosed, events.InfantClosed)):
        record.status, record.closed_reason, record.closed_on = "closed", event.reason, event.date
        action = f"{entity}.closed"
    else:
        record.status, record.closed_reason, record.closed_on = "active", None, None
        record.reopened_on = event.date
        action = f"{entity}.reopened"
    if entity == "client" and record.status == "closed":
        db.session.execute(update(Message).where(Message.client_id == record.id, Message.direction == "out",
                                                 Message.status == "queued", Message.reminder_id.is_(None))
                           .values(status="cancelled", updated_at=clock.utcnow()))
    after = {"status": record.status, "closed_reason": record.closed_reason, "closed_on": record.closed_on}
    audit.record(actor, action, entity, record.id, audit.diff(before, after))


def test_result(infant: Infant, test: str, result: str, actor: str) -> None:
    """The result of a test already recorded as taken (``dose_given``): kept on the test and on the infant.

    A positive result stays the infant's result (it needs ART); a later negative does not undo it
    here: a wrong positive is corrected by recording the same test again.
    """
    row = next(d for d in infant.doses if d.dose == test)
    before = infant.hiv_result
    row.result = result
    positive_elsewhere = any(d.result == "positive" for d in infant.doses if d is not row)
    infant.hiv_result = "positive" if positive_elsewhere else result
    audit.record(actor, "infant.test_result", "infant", infant.id,
                 {"test": test, "result": result, "hiv_result": [before, infant.hiv_result]})


def correct_exposure(client: Client, correction: tuple[int, bool], actor: str) -> Infant:
    """Correct whether one of her children is HIV-exposed, audited, and refresh her schedule (its HIV tests are
    planned or cancelled). An exposed child makes an ``unknown`` mother ``positive``; a ``negative`` mother's
    child cannot be exposed (ValidationError naming ``hiv_exposed``). The caller commits."""
    from gateway.appointments import _infant_of, refresh

    infant_id, exposed = correction
    errors: dict[str, str] = {}
    infant = _infant_of(client, infant_id, errors)
    if infant is not None and exposed and client.hiv_status == "negative":
        errors["hiv_exposed"] = "her HIV status is negative: a child of hers is not HIV-exposed"
    if errors:
        raise ValidationError("some fields are not valid", errors)
    if infant.hiv_exposed != exposed:
        audit.record(actor, "infant.exposure_corrected", "infant", infant.id, {"hiv_exposed": [infant.hiv_exposed, exposed]})
        infant.hiv_exposed = exposed
        if exposed and client.hiv_status == "unknown":
            audit.record(actor, "client.updated", "client", client.id, {"hiv_status": ["unknown", "positive"]})
            client.hiv_status = "positive"
        refresh(client)
    return infant
