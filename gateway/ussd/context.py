"""Who is calling, and the engine's ``Context`` for them: an enrolled client, a coordinator, or an unknown number.

The menu follows the caller: a user with a USSD PIN gets the coordinator
menu (even if the number is also a client's: a mentor mother may be both,
and her own visits are in the console), an enrolled number the client menu, a
user without a PIN the coordinator menu (which tells her to ask for one), any
other number the unknown menu.

The context's list sources are closures that query only when their screen
is shown. ``verify_pin`` has two forms: live (the rule applied and stored)
and replayed (a path rebuilt after its session record was lost: the answer
is checked against the hash, and nothing is counted again).
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Callable
from zoneinfo import ZoneInfo

import phonenumbers
import redis
from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash

import menus

from .. import audit, clock, users
from ..clients.enrolment import local_today
from ..countries import COUNTRIES
from ..extensions import db
from ..i18n import language as supported_language
from ..i18n import render
from ..models import Appointment, Client, Site, Task, User
from ..phones import masked

# Open visits shown on "My next visit" and a coordinator's look-up: at most this many lines
# (the engine pages them), from this many days back (a visit missed lately is still to be made;
# older misses are a coordinator's to follow up).
MAX_VISIT_LINES = 6
MISSED_VISIT_DAYS = 30
# Coordinator PIN failures live in Redis: users have no columns for them (see docs/ussd-adapter.md).
USER_PIN_PREFIX = "ussd:pin:user:"


@dataclass
class Caller:
    """The person on the phone, as the menus see her."""

    kind: str  # "client" | "coordinator" | "unknown": the menu's name
    phone: str  # E.164
    client: Client | None = None
    user: User | None = None
    chosen_language: str | None = None  # the screens' language, when the request names one (UssdRequest.language)

    @property
    def key(self) -> list:
        """What a session record keeps of its caller, for ``recall_caller``: ``[kind, id or None]``."""
        row = self.client if self.kind == "client" else self.user
        return [self.kind, row.id if row is not None else None]

    @property
    def actor(self) -> str:
        """The audit actor: ``ussd:client:<id>``, ``ussd:user:<id>``, or ``ussd:<phone>`` for an unknown number."""
        if self.user is not None:
            return f"ussd:user:{self.user.id}"
        if self.client is not None:
            return f"ussd:client:{self.client.id}"
        return f"ussd:{self.phone}"

    @functools.cached_property
    def country(self) -> str:
        """ISO country: a client's own; a coordinator's first site's; an unknown number's calling code's; else the default."""
        if self.client is not None:
            return self.client.country
        if self.user is not None:
            site = first_site(self.user)
            if site is not None and site.country in COUNTRIES:
                return site.country
        else:  # an unknown number: the country of its calling code, if the gateway serves it
            region = phonenumbers.region_code_for_number(phonenumbers.parse(self.phone))
            if region in COUNTRIES:
                return region
        return current_app.config["SETTINGS"].default_country

    @property
    def language(self) -> str:
        if self.chosen_language:
            return supported_language(self.chosen_language)
        if self.client is not None:
            return supported_language(self.client.language)
        return COUNTRIES[self.country].language if self.country in COUNTRIES else "en"

    def today(self) -> dt.date:
        """The caller's local date. A client's is her country's, as ``appointments.record_event`` reads it."""
        return local_today(self.country) if self.country in COUNTRIES else clock.today_utc()


def find_caller(phone: str) -> Caller:
    """The caller for an E.164 number."""
    user = db.session.scalar(select(User).where(User.phone == phone, User.active.is_(True)))
    if user is not None and user.ussd_pin_hash:
        return Caller("coordinator", phone, user=user)
    client = db.session.scalar(select(Client).where(Client.phone == phone))
    if client is not None:
        return Caller("client", phone, client=client)
    if user is not None:
        return Caller("coordinator", phone, user=user)
    return Caller("unknown", phone)


def recall_caller(phone: str, key: list | None) -> Caller | None:
    """The caller a session began with (``Caller.key``), if the number is still hers; else None."""
    if not isinstance(key, list) or len(key) != 2:
        return None
    kind, ident = key
    if kind == "unknown":
        return Caller("unknown", phone)
    if kind == "client" and isinstance(ident, int):
        client = db.session.get(Client, ident)
        if client is not None and client.phone == phone:
            return Caller("client", phone, client=client)
    if kind == "coordinator" and isinstance(ident, int):
        user = db.session.get(User, ident)
        if user is not None and user.phone == phone and user.active:
            return Caller("coordinator", phone, user=user)
    return None


def first_site(user: User) -> Site | None:
    """A coordinator's site for new clients: her only one, else her first (lowest id)."""
    return min(user.sites, key=lambda s: s.id) if user.sites else None


def build_context(caller: Caller, max_chars: int, replaying: bool = False) -> menus.Context:
    """The engine's context for one request of ``caller`` at a screen limit of ``max_chars``."""
    today = caller.today()
    common = dict(today=today, language=caller.language, max_chars=max_chars, country=caller.country)
    if caller.kind == "client":
        client = caller.client
        return menus.Context(
            **common,
            pin_set=bool(client.ussd_pin_hash),
            pin_locked=menus.is_locked(client.pin_locked_until, clock.utcnow()),
            verify_pin=_client_pin_replayed(client) if replaying else _client_pin(client, caller.actor),
            opted_out=bool(client.opted_out),
            visits=lambda: client_visits(client, today),
        )
    if caller.kind == "coordinator":
        user = caller.user
        pins = UserPins(user)
        return menus.Context(
            **common,
            pin_set=bool(user.ussd_pin_hash),
            pin_locked=pins.locked() if user.ussd_pin_hash else False,
            verify_pin=pins.verify_replayed if replaying else pins.verify,
            lookup_client=lambda phone: lookup_client(user, phone, today),
            list_callbacks=lambda: list_callbacks(user),
        )
    return menus.Context(**common)


# ---------------------------------------------------------------- PINs


def _matches(pin_hash: str | None, pin: str) -> bool:
    return bool(pin_hash) and check_password_hash(pin_hash, pin)


def _client_pin(client: Client, actor: str) -> Callable[[str], str]:
    def verify(pin: str) -> str:
        matches = _matches(client.ussd_pin_hash, pin)
        # Read the counters under a row lock: two sessions of one client must not lose a failure.
        db.session.refresh(client, with_for_update=True)
        attempt = menus.check_pin_attempt(matches, client.pin_failures or 0, client.pin_locked_until, clock.utcnow())
        if (attempt.failures, attempt.locked_until) != (client.pin_failures, client.pin_locked_until):
            if attempt.locked_until is not None and attempt.locked_until != client.pin_locked_until:
                audit.record(actor, "client.pin_locked", "client", client.id,
                             {"until": attempt.locked_until.isoformat(timespec="seconds")})
            client.pin_failures, client.pin_locked_until = attempt.failures, attempt.locked_until
        db.session.commit()
        return attempt.verdict
    return verify


def _client_pin_replayed(client: Client) -> Callable[[str], str]:
    # A replayed PIN was counted when it was first typed: check it, count nothing.
    def verify(pin: str) -> str:
        if menus.is_locked(client.pin_locked_until, clock.utcnow()):
            return "wrong"
        return "ok" if _matches(client.ussd_pin_hash, pin) else "wrong"
    return verify


class UserPins:
    """A coordinator's PIN failures and lock, kept in Redis beside her sessions.

    The same rule as clients' (``menus.check_pin_attempt``). A Redis error is
    not read as "no failures": it propagates, and the caller is told the
    service is unavailable rather than given unlimited guesses.
    """

    def __init__(self, user: User):
        self.user = user
        self.key = f"{USER_PIN_PREFIX}{user.id}"

    def _conn(self) -> redis.Redis:
        from .sessions import connection

        return connection()

    def _read(self) -> tuple[int, dt.datetime | None]:
        data = self._conn().hgetall(self.key)
        failures = int(data.get(b"failures", 0) or 0)
        until = data.get(b"locked_until")
        return failures, (dt.datetime.fromisoformat(until.decode()) if until else None)

    def locked(self) -> bool:
        return menus.is_locked(self._read()[1], clock.utcnow())

    def verify(self, pin: str) -> str:
        matches = _matches(self.user.ussd_pin_hash, pin)
        failures, until = self._read()
        attempt = menus.check_pin_attempt(matches, failures, until, clock.utcnow())
        conn = self._conn()
        if attempt.failures == 0 and attempt.locked_until is None:
            conn.delete(self.key)
        else:
            mapping = {"failures": attempt.failures,
                       "locked_until": attempt.locked_until.isoformat() if attempt.locked_until else ""}
            pipe = conn.pipeline()
            pipe.hset(self.key, mapping=mapping)
            # Forgotten a day after the last attempt: a lock lasts LOCK_MINUTES.
            pipe.expire(self.key, 24 * 3600)
            pipe.execute()
            if attempt.locked_until is not None and attempt.locked_until != until:
                audit.record(f"ussd:user:{self.user.id}", "user.pin_locked", "user", self.user.id,
                             {"until": attempt.locked_until.isoformat(timespec="seconds")})
                db.session.commit()
        if attempt.verdict == "ok" and not users.pin_hash_is_current(self.user.ussd_pin_hash):
            # A PIN kept the slow way (scrypt, before users.PIN_HASH_METHOD): kept the quick way from now on.
            self.user.ussd_pin_hash = users.hash_pin(pin)
            audit.record(f"ussd:user:{self.user.id}", "user.pin_rehashed", "user", self.user.id,
                         {"method": users.PIN_HASH_METHOD})
            db.session.commit()
        return attempt.verdict

    def verify_replayed(self, pin: str) -> str:
        if self.locked():
            return "wrong"
        return "ok" if _matches(self.user.ussd_pin_hash, pin) else "wrong"


# ---------------------------------------------------------------- list sources


def _open_appointments(client_id: int, today: dt.date) -> list[Appointment]:
    since = today - dt.timedelta(days=MISSED_VISIT_DAYS)
    return list(db.session.scalars(
        select(Appointment).where(Appointment.client_id == client_id, Appointment.status == "due",
                                  Appointment.due_date >= since)
        .order_by(Appointment.due_date, Appointment.id)))


def client_visits(client: Client, today: dt.date) -> list[tuple[dt.date, str]]:
    """A client's open visits, soonest first, each as (date, discreet label in her language); one line per kind a day."""
    lines: list[tuple[dt.date, str]] = []
    for appointment in _open_appointments(client.id, today):
        line = (appointment.due_date, render(f"label.{appointment.kind}", client.language))
        if line not in lines:
            lines.append(line)
        if len(lines) == MAX_VISIT_LINES:
            break
    return lines


def _may_see(user: User, client: Client) -> bool:
    if user.role == "admin":
        return True
    return client.site_id is not None and client.site_id in {s.id for s in user.sites}


def lookup_client(user: User, phone: str, today: dt.date) -> list[tuple[dt.date, str]] | None:
    """A client's open visits for a coordinator: (date, the schedule's names that day); None if not hers to see.

    Behind the coordinator's PIN, so the names are the schedule's own
    (``ART refill``, ``PCR 10 weeks``, ``OPV1``).
    """
    client = db.session.scalar(select(Client).where(Client.phone == phone))
    if client is None or not _may_see(user, client):
        return None
    by_date: dict[dt.date, list[str]] = {}
    for appointment in _open_appointments(client.id, today):
        names = by_date.setdefault(appointment.due_date, [])
        if appointment.name not in names:
            names.append(appointment.name)
    return [(day, ", ".join(names)) for day, names in list(by_date.items())[:MAX_VISIT_LINES]]


def list_callbacks(user: User) -> list[str]:
    """Open call-back requests made today (each site's local date) at the coordinator's sites, oldest first.

    One short line each: the masked number, the local time asked, the name if known.
    An admin sees every site's.
    """
    sites = {s.id: s for s in (db.session.scalars(select(Site)) if user.role == "admin" else user.sites)}
    if not sites:
        return []
    now = clock.utcnow()
    rows = db.session.execute(
        select(Task, Client.name).outerjoin(Client, Client.id == Task.client_id)
        .where(Task.kind == "callback", Task.status == "open", Task.site_id.in_(list(sites)),
               Task.created_at >= now - dt.timedelta(hours=30))  # a day in any zone, and a margin
        .order_by(Task.created_at, Task.id)).all()
    lines = []
    for task, name in rows:
        zone = sites[task.site_id].timezone
        if clock.local_date(zone, task.created_at) != clock.local_date(zone, now):
            continue
        local = task.created_at.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(zone))
        lines.append(" ".join(part for part in (masked(task.phone), local.strftime("%H:%M"), name) if part))
    return lines
