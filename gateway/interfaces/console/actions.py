"""Small changes the console makes that no domain service offered yet.

Each one is audited in the caller's transaction and commits nothing, like
the services beside it; the views commit, then enqueue sends. They are here,
not in the views, so they can be tested without HTTP and moved into the
domain later without changing their callers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from gateway.indicators import dhis2
from gateway.core import audit, clock, fields
from gateway import passwords, users
from gateway.clients.sites import local_today, site_region
from gateway.core.countries import COUNTRIES
from gateway.core.errors import Conflict, ValidationError
from gateway.adapters.database import db
from gateway.core.fields import FieldError
from gateway.messages import queue_message
from gateway.core.models import ROLES, Alert, Appointment, Client, Message, Reminder, Site, Task, User
from gateway.core.phones import PhoneError, normalise
from gateway.reminders.texts import reminder_text


# --- clients --------------------------------------------------------------------------------------

def reset_client_pin(client: Client, actor: str) -> bool:
    """Clear the client's USSD PIN and its lock; she chooses a new one on her phone. True if one was set."""
    had_pin = client.ussd_pin_hash is not None
    client.ussd_pin_hash, client.pin_failures, client.pin_locked_until = None, 0, None
    audit.record(actor, "client.pin_reset", "client", client.id, {"had_pin": had_pin})
    return had_pin


def clear_phone_flag(client: Client, actor: str) -> None:
    """A corrected number starts afresh: AT's refusal of the old one no longer holds."""
    if client.phone_flag or client.consecutive_failures:
        audit.record(actor, "client.phone_flag_cleared", "client", client.id,
                     {"phone_flag": [client.phone_flag, None]})
        client.phone_flag, client.consecutive_failures = None, 0


@dataclass(frozen=True)
class OneOff:
    """A one-off SMS a coordinator may send: a catalogue template filled with the client's own visits."""

    key: str
    label: str
    text: str


def one_off_messages(client: Client) -> list[OneOff]:
    """The messages that fit this client today, rendered exactly as she would get them.

    Only the catalogue's reminder templates, in her language and with her
    wording (discreet unless she opted into explicit wording): a coordinator
    never types free text to a shared phone.
    """
    today = local_today(client.country)
    due = [a for a in client.appointments if a.status == "due"]
    choices: list[OneOff] = []
    upcoming = sorted({a.due_date for a in due if a.due_date > today})
    if upcoming:
        day = upcoming[0]
        choices.append(OneOff("next_visit", f"Next visit ({day.isoformat()})",
                              _text(client, "before", due, day)))
    if any(a.due_date == today for a in due):
        choices.append(OneOff("today", "Visit due today", _text(client, "today", due, today)))
    missed = sorted({a.due_date for a in due if a.due_date < today})
    if missed:
        day = missed[-1]
        choices.append(OneOff("missed", f"Missed visit ({day.isoformat()})", _text(client, "missed", due, day)))
    return choices


def _text(client: Client, template: str, due: list[Appointment], day: dt.date) -> str:
    return reminder_text(client, template, [a for a in due if a.due_date == day], day)


def send_one_off(client: Client, key: str, actor: str) -> Message:
    """Queue the one-off message ``key`` (from ``one_off_messages``) to the client, audited."""
    choice = next((c for c in one_off_messages(client) if c.key == key), None)
    if choice is None:
        raise ValidationError("choose one of the messages offered", {"template": "choose one of the messages offered"})
    if client.status == "closed":
        raise ValidationError("she is closed", {"template": "she is closed: nothing is sent to her; reopen her first"})
    if client.opted_out:
        raise ValidationError("she asked for no SMS", {"template": "she stopped SMS; restart them first"})
    if client.phone_flag:
        raise ValidationError("the number is refused", {"template": f"the network refuses this number "
                                                                    f"({client.phone_flag}); correct the phone first"})
    message = queue_message(client, choice.text)
    db.session.flush()
    audit.record(actor, "message.queued", "message", message.id, {"client_id": client.id, "template": key})
    return message


# --- messages, tasks, alerts --------------------------------------------------------------------

def retry_message(message: Message, actor: str) -> None:
    """Queue a failed outgoing message again, with its attempts reset. ValidationError says why not.

    A reminder's message goes again only while the reminder is still current
    and not stale: "your visit is in 3 days" must not arrive two days later.
    """
    if message.direction != "out" or message.status != "failed":
        raise ValidationError("only a failed outgoing message can be retried", {"message": "is not a failed SMS"})
    client = db.session.get(Client, message.client_id) if message.client_id else None
    if client is not None and client.phone != message.phone:
        raise ValidationError("the client's number changed", {"message": "her number changed since; send a new one"})
    if client is not None and client.phone_flag:
        raise ValidationError("the number is refused", {"message": f"the network refuses this number "
                                                                   f"({client.phone_flag}); correct the phone first"})
    reminder = db.session.get(Reminder, message.reminder_id) if message.reminder_id else None
    if message.reminder_id is not None:
        if reminder is None or reminder.version != message.reminder_version:
            raise ValidationError("the reminder changed", {"message": "its reminder changed since; a new one is planned"})
        if clock.utcnow() >= reminder.stale_at:
            raise ValidationError("too late", {"message": "too late: its reminder's moment has passed"})
    before = {"status": message.status, "attempts": message.attempts, "failure_reason": message.failure_reason}
    message.status, message.attempts, message.failure_reason = "queued", 0, None
    message.next_attempt_at = message.enqueued_at = message.sending_started_at = None
    if reminder is not None and reminder.status == "failed":
        reminder.status = "queued"  # the send job sends a reminder's message only while the reminder is queued
    audit.record(actor, "message.retried", "message", message.id,
                 audit.diff(before, {"status": "queued", "attempts": 0, "failure_reason": None}))


def close_task(task: Task, status: str, actor: str) -> None:
    """Mark an open task done (or an enrolment request rejected), audited."""
    if status not in ("done", "rejected"):
        raise ValueError(status)
    if task.status != "open":
        raise ValidationError("this task is closed already", {"task": f"already {task.status}"})
    task.status, task.closed_at, task.closed_by = status, clock.utcnow(), actor
    audit.record(actor, f"task.{status}", "task", task.id, {"kind": task.kind, "status": ["open", status]})


def resolve_alert(alert: Alert, actor: str) -> None:
    """Resolve an alert; for ``sending_paused`` that lifts the pause (the caller then enqueues what waited)."""
    if alert.resolved_at is not None:
        return
    alert.resolved_at, alert.resolved_by = clock.utcnow(), actor
    action = "sending.resumed" if alert.kind == "sending_paused" else "alert.resolved"
    audit.record(actor, action, "alert", alert.id, {"kind": alert.kind, "message": alert.message})


# --- sites and users -----------------------------------------------------------------------------

def create_site(name: str, country: str, timezone: str | None, actor: str, region: str | None = None,
                org_unit: str | None = None) -> Site:
    """A new site; its zone defaults to its country's; its region (optional) must be one of its
    country's schedule file; its DHIS2 organisation unit (optional) an 11-character uid.
    ValidationError / Conflict name the field."""
    errors: dict[str, str] = {}
    try:
        name = fields.text(name, 120, required=True)
    except FieldError as exc:
        errors["name"] = str(exc)
    country = (country or "").strip().upper()
    if country not in COUNTRIES:
        errors["country"] = "choose a country"
    zone = (timezone or "").strip() or (COUNTRIES[country].timezone if country in COUNTRIES else None)
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = "not a time zone name (e.g. Africa/Nairobi)"
    if country in COUNTRIES:
        try:
            region = site_region(country, region)
        except FieldError as exc:
            errors["region"] = str(exc)
    try:
        org_unit = dhis2.check_uid(org_unit, "org_unit")
    except ValidationError as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationError("some fields are not valid", errors)
    if db.session.scalar(select(Site.id).where(Site.name == name)) is not None:
        raise Conflict("a site with this name exists", {"name": "a site with this name exists"})
    site = Site(name=name, country=country, timezone=zone, region=region, dhis2_org_unit=org_unit)
    db.session.add(site)
    db.session.flush()
    audit.record(actor, "site.created", "site", site.id, {"name": name, "country": country, "timezone": zone,
                                                          "region": region, "dhis2_org_unit": org_unit})
    return site


def update_user(user: User, actor: str, *, name: str | None, role: str, active: bool, site_ids: list[int],
                password: str | None = None, phone: str | None = None, pin: str | None = None,
                country: str = "ZA", acting_user_id: int | None = None) -> dict:
    """Change a user's details, role, sites, password, USSD phone or PIN; audited without secrets.

    A new password or deactivation ends all her sessions; deactivation also revokes her API tokens.

    An admin cannot take away her own admin role or deactivate herself (someone must stay able to sign in).
    """
    errors: dict[str, str] = {}
    if role not in ROLES:
        errors["role"] = f"must be one of {', '.join(ROLES)}"
    if acting_user_id == user.id and (role != "admin" or not active) and user.role == "admin":
        errors["role"] = "you cannot remove your own admin role or deactivate yourself"
    try:
        name = fields.text(name, 120)
    except FieldError as exc:
        errors["name"] = str(exc)
    if password and (reason := passwords.problem(password, user.email)):
        errors["password"] = reason
    e164 = user.phone
    if phone is not None:
        if phone.strip():
            try:
                e164 = normalise(phone, country)
            except PhoneError as exc:
                errors["phone"] = str(exc)
        else:
            e164 = None
    if pin and not (pin.isdigit() and len(pin) == 4):
        errors["pin"] = "must be 4 digits"
    sites = [db.session.get(Site, i) for i in site_ids]
    if any(s is None for s in sites):
        errors["sites"] = "no such site"
    if errors:
        raise ValidationError("some fields are not valid", errors)
    if e164 and db.session.scalar(select(User.id).where(User.phone == e164, User.id != user.id)) is not None:
        raise Conflict("a user with this phone exists", {"phone": "already used by another user"})
    before = {"name": user.name, "role": user.role, "active": user.active, "phone": user.phone,
              "sites": sorted(s.id for s in user.sites)}
    after = {"name": name, "role": role, "active": active, "phone": e164, "sites": sorted(s.id for s in sites)}
    deactivated = user.active and not active
    user.name, user.role, user.active, user.phone, user.sites = name, role, active, e164, sites
    changes = audit.diff(before, after)
    if deactivated:
        # For good: reactivating her later revives neither a token nor a session; she signs in afresh.
        changes["tokens_revoked"] = users.revoke_tokens(user, actor)
        users.end_sessions(user)
    if password:
        users.set_password(user, password)
        changes["password"] = "changed"  # never the password or its hash
    if pin:
        user.ussd_pin_hash = users.hash_pin(pin)
        changes["pin"] = "changed"
    if changes:
        audit.record(actor, "user.updated", "user", user.id, changes)
    return changes
