"""What a USSD session's effects do: each through the domain services, in one transaction, audited.

``execute(effect, caller, session_id, step)`` carries out one effect of the
menus (docs/ussd.md lists them) and returns its outcome: ``"done"``, or a
name ``menus.outcome_reply`` knows (``"exists"``), or ``"failed"``.

Done once per session and step. Every effect writes a ledger entry to the
audit log, ``ussd.<action>`` with ``{"session", "step"}``, in the same
transaction as the change; before acting, the ledger is read. So an effect
whose session record was lost in Redis (and whose path is replayed), or a
retry that raced past the session lock, finds its own entry and does
nothing again. ``step`` is the length of the path that reached the effect:
it grows with every request of a session and names no answer (a path may
hold a PIN). Effects are also idempotent by nature where it is cheap to be:
a call-back or enrolment request already open is not opened twice, a
pick-up already recorded with the same date and supply is not recorded again.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable, Mapping

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from gateway import access, appointments, messages as messaging, users
from gateway.appointments import events
from gateway.core import audit, clock
from gateway import access
from gateway.clients import enrolment, sites, transfers
from gateway.core.countries import LANGUAGES
from gateway.core.errors import Conflict, GatewayError
from gateway.adapters.database import db
from gateway.i18n import offered_languages
from gateway.schedules import DAYS_PER_MONTH
from gateway.core.models import AuditEntry, Client, Task, UssdSession, User
from gateway.core.phones import masked
from gateway.tasks import follow_up
from gateway.ussd.context import Caller, CallerChanged, first_site

log = logging.getLogger(__name__)

# Local hours of the reminder-time choices (inside the send window, schedules.window.reminder_hours).
SLOT_HOURS = {"morning": 8, "midday": 12, "evening": 17}
MONTHS = (1, 2, 3, 6)
# How far back the ledger is read: far longer than any session and its retries.
LEDGER_HOURS = 24
CONSENT_VERSIONS = ("ussd-consent-1",)


class Refused(Exception):
    """The effect cannot be done as asked; ``outcome`` names why for ``menus.outcome_reply``."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


class Deferred(Refused):
    """The effect was not done as asked but handed on (to an admin): what the handler wrote is kept."""


def execute(effect: Mapping[str, Any], caller: Caller, session_id: str, step: int) -> str:
    """Carry out ``effect`` once for this session and step; commit; return its outcome."""
    action = str(effect.get("action"))
    handler = HANDLERS.get((caller.kind, action))
    if handler is None:
        log.error("USSD effect %s is not one a %s caller may have", action, caller.kind)
        return "failed"
    try:
        if _done_before(caller, action, session_id, step):
            return "done"
        entity, entity_id = handler(effect, caller)
        audit.record(caller.actor, f"ussd.{action}", entity, entity_id, {"session": session_id, "step": step})
        caller.saw_change()
        db.session.commit()
        return "done"
    except Deferred as deferred:  # no ledger entry: done again (a lost record's replay), it hands on nothing twice
        db.session.commit()
        return deferred.outcome
    except Refused as refused:
        db.session.rollback()
        return refused.outcome
    except GatewayError as exc:  # the domain refused what the menu accepted (its checks differ)
        db.session.rollback()
        log.warning("USSD effect %s refused for %s (session %s): %s %s", action, masked(caller.phone),
                    session_id, exc.message, exc.fields)
        return "failed"
    except CallerChanged:  # her number is not hers any more: the session ends (gateway.ussd.handle)
        db.session.rollback()
        raise
    except Exception:
        db.session.rollback()
        log.exception("USSD effect %s failed for %s (session %s)", action, masked(caller.phone), session_id)
        return "failed"


# The caller's ledger entries for one action (built once: every effect reads its ledger first). By
# actor, which names the caller (``Caller.actor``) and is indexed with the time (ix_audit_actor_at).
_LEDGER = select(AuditEntry.changes).where(AuditEntry.actor == bindparam("actor"),
                                           AuditEntry.at >= bindparam("since"),
                                           AuditEntry.action == bindparam("action"))


def _done_before(caller: Caller, action: str, session_id: str, step: int) -> bool:
    """True if the ledger has this effect for this session and step."""
    since = clock.utcnow() - dt.timedelta(hours=LEDGER_HOURS)
    entries = db.session.execute(_LEDGER, {"actor": caller.actor, "action": f"ussd.{action}", "since": since})
    return any(isinstance(c, dict) and c.get("session") == session_id and c.get("step") == step
               for c in entries.scalars())


# ---------------------------------------------------------------- a client's effects


def _client(caller: Caller) -> Client:
    return caller.client


def record_pickup(effect, caller) -> tuple[str, int]:
    """Medicine collected today: an ``art_dispensed`` event of 30 days a month, which reschedules the refills;
    with ``next_visit`` (``record_pickup_booked``), the date on her clinic card, when the refill is due."""
    client = _client(caller)
    months = int(effect["months"])
    if months not in MONTHS:
        raise ValueError(f"months must be one of {MONTHS}")
    today = caller.today()
    days = DAYS_PER_MONTH * months
    booked = dt.date.fromisoformat(effect["next_visit"]) if effect.get("next_visit") else None
    if (client.art_last_dispensed, client.art_days_supply, client.art_next_visit) != (today, days, booked):
        appointments.record_event(client, events.ArtDispensed(date=today, days_supply=days, next_visit=booked),
                                  caller.actor)
    return "client", client.id


def register_baby(effect, caller) -> tuple[str, int]:
    """A baby born: an ``infant_born`` event, HIV-exposed exactly when its mother is positive."""
    client = _client(caller)
    dob = dt.date.fromisoformat(effect["date_of_birth"])
    # Not deduplicated by date of birth: the menu asks "twins?" when the date is one she has registered
    # already (Context.known), and only a "yes" gets here. The ledger guards replays.
    # Exposed exactly when she is positive; unknown: her Mentor Mother finds out (a task).
    appointments.record_event(client, events.InfantBorn(date_of_birth=dob, hiv_exposed=client.hiv_status == "positive"),
                              caller.actor)
    if client.hiv_status == "unknown":
        follow_up(client, "hiv_status", {"source": "ussd"})
    return "client", client.id


def breastfeeding_ended(effect, caller) -> tuple[str, int]:
    """Her baby stopped breastfeeding (today, or on ``stopped_on``): a ``breastfeeding_ended`` event for her
    youngest baby (both, for twins), which plans the final HIV test again. No baby: refused (``no_baby``)."""
    client = _client(caller)
    day = dt.date.fromisoformat(effect["stopped_on"]) if effect.get("stopped_on") else caller.today()
    if not client.infants:
        raise Refused("no_baby")
    youngest = max(i.date_of_birth for i in client.infants)
    for infant in client.infants:
        if infant.date_of_birth == youngest:
            appointments.record_event(client, events.BreastfeedingEnded(infant_id=infant.id, date=day), caller.actor)
    return "client", client.id


def set_language(effect, caller) -> tuple[str, int]:
    client = _client(caller)
    lang = effect["lang"]
    if lang not in offered_languages():  # the menu offered it, but it may have been withdrawn since
        raise ValueError("language not offered")
    enrolment.update(client, {"language": lang}, caller.actor)
    return "client", client.id


def set_reminder_time(effect, caller) -> tuple[str, int]:
    """Morning, midday or evening: the client's preferred local hour, and her reminders moved to it."""
    client = _client(caller)
    hour = SLOT_HOURS[effect["slot"]]
    if enrolment.update(client, {"reminder_hour": hour}, caller.actor):
        appointments.replan(client)
    return "client", client.id


def opt_out(effect, caller) -> tuple[str, int]:
    # The confirmation SMS is queued with the change; the next dispatch pass sends it
    # (enqueueing here would make a USSD answer wait on every queued message).
    messaging.set_opt_out(_client(caller), True, caller.actor, confirm=True)
    return "client", caller.client.id


def opt_in(effect, caller) -> tuple[str, int]:
    messaging.set_opt_out(_client(caller), False, caller.actor, confirm=True)
    return "client", caller.client.id


def set_pin(effect, caller) -> tuple[str, int]:
    """A new 4-digit PIN: only its hash is kept, and any count of wrong PINs starts again."""
    client = _client(caller)
    pin = str(effect["pin"])
    if not (len(pin) == 4 and pin.isascii() and pin.isdigit()):
        raise ValueError("a PIN is 4 digits")
    had_pin = client.ussd_pin_hash is not None
    client.ussd_pin_hash = users.hash_pin(pin)
    client.pin_failures, client.pin_locked_until = 0, None
    audit.record(caller.actor, "client.pin_set", "client", client.id, {"had_pin": had_pin})
    return "client", client.id


def request_callback(effect, caller) -> tuple[str, int]:
    """A call-back request for the client's site; one already open is not opened twice."""
    client = _client(caller)
    task_open = db.session.scalar(select(Task.id).where(
        Task.kind == "callback", Task.client_id == client.id, Task.status == "open"))
    if task_open is None:
        task = Task(kind="callback", status="open", client_id=client.id, site_id=client.site_id, phone=client.phone,
                    details={"source": "ussd"})
        db.session.add(task)
        db.session.flush()
        audit.record(caller.actor, "task.created", "task", task.id, {"kind": "callback", "client_id": client.id})
    return "client", client.id


# ---------------------------------------------------------------- an unknown number's effect


def request_enrolment(effect, caller) -> tuple[str, int]:
    """The caller asks to join: a request coordinators see, with her consent to keeping her number."""
    version = str(effect.get("consent_version"))
    if str(effect.get("consent")).lower() != "true" or version not in CONSENT_VERSIONS:
        raise ValueError("no consent recorded")
    task = db.session.scalar(select(Task).where(
        Task.kind == "enrolment_request", Task.phone == caller.phone, Task.status == "open"))
    if task is None:
        now = clock.utcnow()
        task = Task(kind="enrolment_request", status="open", phone=caller.phone,
                    details={"consent": True, "consent_version": version,
                             "at": now.isoformat(timespec="seconds") + "Z", "source": "ussd"})
        db.session.add(task)
        db.session.flush()
        audit.record(caller.actor, "task.created", "task", task.id,
                     {"kind": "enrolment_request", "consent_version": version})
    return "task", task.id


# ---------------------------------------------------------------- a coordinator's effect


def _art_dates(next_pickup: dt.date, today: dt.date) -> tuple[dt.date, int]:
    """A last dispensing and a supply that put the next pick-up on ``next_pickup`` (never dispensed in the future)."""
    days = (next_pickup - today).days
    if days >= DAYS_PER_MONTH:
        return today, days
    return next_pickup - dt.timedelta(days=DAYS_PER_MONTH), DAYS_PER_MONTH


def enrol_client(effect, caller) -> tuple[str, int]:
    """Enrol a phone number at the coordinator's site, through the one enrolment path; then plan her visits."""
    user: User = caller.user
    site = first_site(user)
    country = site.country if site else current_app.config["SETTINGS"].default_country
    programme, day = effect["programme"], dt.date.fromisoformat(effect["date"])
    body: dict[str, Any] = {"phone": effect["phone"], "country": country, "language": effect["language"],
                            "programme": programme, "welcome_sms": effect.get("welcome_sms", True),
                            "hiv_status": effect["hiv_status"], "consent": effect.get("consent") is True}
    if site is not None:
        body["site_id"] = site.id
    if programme == "pregnant":
        body["expected_delivery_date"] = day.isoformat()
    elif programme == "mother":
        # Exposed exactly when she is positive; unknown: her Mentor Mother finds out (a task, below).
        body["infants"] = [{"date_of_birth": day.isoformat(), "hiv_exposed": effect["hiv_status"] == "positive"}]
    elif programme == "art":
        last, days = _art_dates(day, sites.local_today(country))
        body["art"] = {"last_dispensed": last.isoformat(), "days_supply": days}
    else:
        raise ValueError("unknown programme")
    data = enrolment.parse_enrolment(body, current_app.config["SETTINGS"].default_country)
    elsewhere = transfers.held_elsewhere(data, lambda c: access.may_see(user, c))
    if elsewhere is not None:  # enrolled at a site she does not see: the admin decides, and she learns no more
        transfers.request_transfer(elsewhere, data.site_id, caller.actor)
        raise Deferred("pending")
    try:
        client = enrolment.enrol(data, caller.actor)
    except Conflict:
        raise Refused("exists") from None
    except IntegrityError:  # enrolled by someone else between the check and the insert
        raise Refused("exists") from None
    appointments.refresh(client)
    if programme == "mother" and client.hiv_status == "unknown":
        follow_up(client, "hiv_status", {"source": "ussd"})
    return "user", user.id


def _coordinators_client(caller, phone: str) -> Client:
    """The client with this number, if the coordinator may see her; else Refused("missing")."""
    client = db.session.scalar(select(Client).where(Client.phone == phone))
    if client is None or not access.may_see(caller.user, client):
        raise Refused("missing")
    return client


def close_client(effect, caller) -> tuple[str, int]:
    """Close a client's file today (a ``client_closed`` event): silent, her visits and reminders cancelled."""
    client = _coordinators_client(caller, effect["phone"])
    if client.status == "closed":
        raise Refused("closed")
    event = events.ClientClosed(date=sites.local_today(client.country), reason=effect["reason"])
    appointments.record_event(client, event, caller.actor)
    return "client", client.id


def record_test_result(effect, caller) -> tuple[str, int]:
    """A baby's HIV test result (an ``infant_test_result`` event). The baby is the client's child born on
    ``date_of_birth`` (of twins, the first without a result for the test); the test is the one of its
    schedule due last on or before the day the sample was taken (else the first), among those without a result."""
    client = _coordinators_client(caller, effect["phone"])
    dob, taken = dt.date.fromisoformat(effect["date_of_birth"]), dt.date.fromisoformat(effect["date"])
    babies = [i for i in client.infants if i.date_of_birth == dob]
    if not babies:
        raise Refused("no_baby")
    for infant in babies:
        test = _test_taken(client, infant, taken)
        if test is not None:
            event = events.InfantTestResult(infant_id=infant.id, test=test, date=taken, result=effect["result"])
            appointments.record_event(client, event, caller.actor)
            return "infant", infant.id
    raise Refused("no_test")


def _test_taken(client: Client, infant, taken: dt.date) -> str | None:
    with_result = {d.dose for d in infant.doses if d.result}
    tests = [v for v in appointments.plan_of(client, infant)
             if v.kind == "infant_hiv_test" and v.name not in with_result]
    before = [v for v in tests if v.due_date <= taken]
    chosen = before[-1] if before else (tests[0] if tests else None)
    return chosen.name if chosen else None


HANDLERS: dict[tuple[str, str], Callable[[Mapping[str, Any], Caller], tuple[str, int]]] = {
    ("client", "record_pickup"): record_pickup,
    ("client", "record_pickup_booked"): record_pickup,
    ("client", "register_baby"): register_baby,
    ("client", "breastfeeding_ended"): breastfeeding_ended,
    ("client", "breastfeeding_ended_today"): breastfeeding_ended,
    ("client", "set_language"): set_language,
    ("client", "set_reminder_time"): set_reminder_time,
    ("client", "opt_out"): opt_out,
    ("client", "opt_in"): opt_in,
    ("client", "set_pin"): set_pin,
    ("client", "request_callback"): request_callback,
    ("unknown", "request_enrolment"): request_enrolment,
    ("coordinator", "enrol_client"): enrol_client,
    ("coordinator", "close_client"): close_client,
    ("coordinator", "record_test_result"): record_test_result,
}


# ---------------------------------------------------------------- reads


def record_reads(caller: Caller) -> None:
    """Audit the client records the step read (a coordinator's look-up by number), after the step; commits."""
    if not caller.looked_up:
        return
    for client_id in caller.looked_up:
        audit.viewed(caller.actor, client_id, "ussd")
    caller.looked_up.clear()
    db.session.commit()


# ---------------------------------------------------------------- how sessions ended


def record_session_end(session_id: str, phone: str, *, service_code: str | None, network_code: str | None,
                       status: str | None, cost: str | None, duration_ms: int | None, hops: int | None,
                       error_message: str | None, ended_at: dt.datetime | None) -> UssdSession:
    """Keep (or update) how a session ended, from the network's end-of-session notification; the caller commits.

    The number of a caller who is neither a client nor a user is kept masked:
    the unknown menu tells someone who declines that her number was not kept.
    The answers typed and the last screen are not kept (they may hold a PIN
    or a client's dates).
    """
    known = (db.session.scalar(select(Client.id).where(Client.phone == phone)) is not None
             or db.session.scalar(select(User.id).where(User.phone == phone)) is not None)
    values = dict(phone=phone if known else masked(phone), service_code=_cut(service_code, 40),
                  network_code=_cut(network_code, 10), status=_cut(status, 20), cost=_cut(cost, 30),
                  duration_ms=duration_ms, hops=hops, error_message=_cut(error_message, 255), ended_at=ended_at)
    row = db.session.scalar(select(UssdSession).where(UssdSession.session_id == session_id))
    if row is None:
        row = UssdSession(session_id=session_id, **values)
        db.session.add(row)
        try:
            db.session.flush()
            return row
        except IntegrityError:  # the same notification, twice at once: update the row the other one made
            db.session.rollback()
            row = db.session.scalar(select(UssdSession).where(UssdSession.session_id == session_id))
    for key, value in values.items():
        setattr(row, key, value)
    return row


def _cut(value: str | None, size: int) -> str | None:
    value = (value or "").strip()
    return value[:size] or None


def session_phone(session_id: str) -> str | None:
    """The number an ended session (one the network has reported) belonged to, as kept."""
    return db.session.scalar(select(UssdSession.phone).where(UssdSession.session_id == session_id))


__all__ = ["execute", "record_session_end", "session_phone", "SLOT_HOURS", "Refused"]
