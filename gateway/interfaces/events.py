"""Reading a care event at the edge: a JSON object (the API) or a form's values (the console) into a typed
event (``gateway.appointments.events``), or a ValidationError naming every field that is wrong."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from gateway.appointments import events
from gateway.clients.enrolment import ART_DAYS_SUPPLY
from gateway.core import fields
from gateway.core.errors import ValidationError
from gateway.core.fields import FieldError
from gateway.core.models import CLIENT_CLOSE_REASONS, INFANT_CLOSE_REASONS, INFANT_HIV_RESULTS

def _optional_id(value: Any) -> int | None:
    return None if value is None else fields.identifier(value)


# Each event's fields: name -> (reader, its arguments, keyword arguments).
_FIELDS: dict[str, dict[str, tuple]] = {
    "art_dispensed": {"date": (fields.date, (), {"required": True}),
                      "days_supply": (fields.integer, ART_DAYS_SUPPLY, {"required": True}),
                      "infant_id": (_optional_id, (), {}),
                      "next_visit": (fields.date, (), {})},
    "infant_born": {"date_of_birth": (fields.date, (), {"required": True}),
                    "hiv_exposed": (fields.boolean, (), {"default": True}),
                    "name": (fields.text, (120,), {})},
    "dose_given": {"infant_id": (fields.identifier, (), {}),
                   "dose": (fields.text, (60,), {"required": True}),
                   "date": (fields.date, (), {"required": True})},
    "breastfeeding_ended": {"infant_id": (fields.identifier, (), {}),
                            "date": (fields.date, (), {"required": True})},
    "client_closed": {"date": (fields.date, (), {"required": True}),
                      "reason": (fields.choice, (CLIENT_CLOSE_REASONS,), {"required": True})},
    "client_reopened": {"date": (fields.date, (), {"required": True})},
    "infant_closed": {"infant_id": (fields.identifier, (), {}),
                      "date": (fields.date, (), {"required": True}),
                      "reason": (fields.choice, (INFANT_CLOSE_REASONS,), {"required": True})},
    "infant_reopened": {"infant_id": (fields.identifier, (), {}),
                        "date": (fields.date, (), {"required": True})},
    "infant_test_result": {"infant_id": (fields.identifier, (), {}),
                           "test": (fields.text, (60,), {"required": True}),
                           "date": (fields.date, (), {"required": True}),
                           "result": (fields.choice, (INFANT_HIV_RESULTS,), {"required": True})},
}
assert set(_FIELDS) == set(events.EVENTS), "every event has its fields here"


def parse(body: Any, problems: Callable[[str, Mapping[str, Any]], dict[str, str]] | None = None) -> events.Event:
    """The event a JSON object describes (``{"type": ..., fields...}``); ValidationError names what is wrong.

    ``problems(type, values)`` (``appointments.event_problems`` for the client)
    adds the domain's reasons for the fields that were read, so a refusal
    names every problem at once.
    """
    if not isinstance(body, Mapping):
        raise ValidationError("the body must be a JSON object", {"body": "must be a JSON object"})
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in events.EVENTS:
        raise ValidationError("unknown event type", {"type": f"must be one of {', '.join(events.EVENT_TYPES)}"})
    wanted = _FIELDS[kind]
    errors = {str(key)[:40]: "unknown field for this event" for key in set(body) - set(wanted) - {"type"}}
    values = {}
    for name, (reader, args, kwargs) in wanted.items():
        try:
            values[name] = reader(body.get(name), *args, **kwargs)
        except FieldError as exc:
            errors[name] = str(exc)
    if errors:
        if problems is not None:
            errors = {**problems(kind, {k: v for k, v in values.items() if k not in errors}), **errors}
        raise ValidationError("some fields are not valid", errors)
    return events.EVENTS[kind](**{k: v for k, v in values.items() if v is not None or k == "name"})


def parse_visit(body: Mapping[str, Any]) -> tuple[int, dt.date]:
    """A child's visit (``{"infant_id", "date"}``): the child's id and the day; ValidationError names what is wrong."""
    errors: dict[str, str] = {}
    values = {}
    for name, reader in (("infant_id", fields.identifier), ("date", lambda v: fields.date(v, required=True))):
        try:
            values[name] = reader(body.get(name))
        except FieldError as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationError("some fields are not valid", errors)
    return values["infant_id"], values["date"]


def parse_exposure(body: Mapping[str, Any]) -> tuple[int, bool]:
    """A correction of a child's exposure (``{"infant_id", "hiv_exposed"}``); ValidationError names what is wrong."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    raw_id = body.get("infant_id")
    for name, reader in (("infant_id", fields.identifier), ("hiv_exposed", fields.boolean)):
        try:
            values[name] = reader(int(raw_id) if name == "infant_id" and isinstance(raw_id, str) and raw_id.isdigit()
                                  else body.get(name))
        except FieldError as exc:
            errors[name] = str(exc)
    if values.get("hiv_exposed") is None and "hiv_exposed" not in errors:
        errors["hiv_exposed"] = "is required (yes or no)"
    if errors:
        raise ValidationError("some fields are not valid", errors)
    return values["infant_id"], values["hiv_exposed"]


def parse_outcome(body: Mapping[str, Any]) -> tuple[str, str | None, dt.date | None]:
    """A follow-up task's outcome (``{"outcome", "note"?, "date"?}``): the outcome, the note (its lines
    joined) and the date; ValidationError names what is wrong. Which outcomes exist is the domain's
    (``appointments.follow_up.record_outcome`` refuses an unknown one, naming ``outcome``)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    note = body.get("note")
    if isinstance(note, str):
        note = " ".join(note.split())  # a textarea's lines: one line of text
    for name, reader, value in (("outcome", lambda v: fields.text(v, 30, required=True), body.get("outcome")),
                                ("note", lambda v: fields.text(v, 1000), note),
                                ("date", fields.date, body.get("date"))):
        try:
            values[name] = reader(value)
        except FieldError as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationError("some fields are not valid", errors)
    return values["outcome"], values["note"], values["date"]
