"""Who is calling, and the engine's ``Context`` for them: an enrolled client, a coordinator, or an unknown number.

The menu follows the caller: a user with a USSD PIN gets the coordinator
menu (even if the number is also a client's: a mentor mother may be both,
and her own visits are in the console), an enrolled number the client menu, a
user without a PIN the coordinator menu (which tells her to ask for one), any
other number the unknown menu.

The context's list sources are read-only closures that query only when
their screen is shown. ``verify_pin`` is a ``menus.PinLedger``'s: the rule
applied in memory; ``gateway.ussd.pins`` stores the attempts after the step.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

import redis
from flask import current_app
from sqlalchemy import and_, bindparam, literal, null, or_, select, union_all
from werkzeug.security import check_password_hash

import menus

from gateway.core import audit, clock
from gateway import access, users
from gateway.clients.sites import local_today
from gateway.core.countries import COUNTRIES
from gateway.adapters.database import db
from gateway.i18n import language as supported_language
from gateway.i18n import format_date, offered_languages, render
from gateway.reminders.texts import label_kind
from gateway.core.models import Appointment, Client, Infant, Site, Task, User
from gateway.core.phones import masked, region_of

# Open visits shown on "My next visit" and a coordinator's look-up: at most this many lines
# (the engine pages them), from this many days back (a visit missed lately is still to be made;
# older misses are a coordinator's to follow up).
MAX_VISIT_LINES = 6
MISSED_VISIT_DAYS = 30
# Overdue visits this old still show on her own "My next visit", said plainly (one line a kind of visit).
OVERDUE_VISIT_DAYS = 365
# A coordinator's call-back list on the phone: the oldest this many of today's (about ten pages).
MAX_CALLBACK_LINES = 60
# Coordinator PIN failures live in Redis: users have no columns for them (see docs/ussd-adapter.md).
USER_PIN_PREFIX = "ussd:pin:user:"


@dataclass(frozen=True)
class ClientView:
    """What the menus read of a client, kept in her session record so a screen needs no query.

    A client's row is read once a session (or once per change): the menus
    read this, and only what changes her, checks her PIN or lists her visits
    goes to the database.
    """

    id: int
    language: str
    country: str
    site_id: int | None
    pin_set: bool
    pin_locked_until: dt.datetime | None  # naive UTC
    opted_out: bool

    @classmethod
    def of(cls, client: Client) -> "ClientView":
        return cls(client.id, client.language, client.country, client.site_id, bool(client.ussd_pin_hash),
                   client.pin_locked_until, bool(client.opted_out))

    def kept(self) -> dict:
        """As a session record keeps it (JSON)."""
        locked = self.pin_locked_until.isoformat() if self.pin_locked_until else None
        return {"id": self.id, "language": self.language, "country": self.country, "site_id": self.site_id,
                "pin_set": self.pin_set, "pin_locked_until": locked, "opted_out": self.opted_out}

    @classmethod
    def from_kept(cls, kept: dict) -> "ClientView":
        """Raises (KeyError, TypeError, ValueError) on a record of another shape."""
        locked = kept["pin_locked_until"]
        view = cls(int(kept["id"]), str(kept["language"]), str(kept["country"]), kept["site_id"],
                   bool(kept["pin_set"]), dt.datetime.fromisoformat(locked) if locked else None,
                   bool(kept["opted_out"]))
        if view.site_id is not None and not isinstance(view.site_id, int):
            raise TypeError("site_id")
        return view


class CallerChanged(Exception):
    """The client a session began with no longer has its number (changed or removed mid-session)."""


@dataclass
class Caller:
    """The person on the phone, as the menus see her.

    A client is known by her ``ClientView``; her row (``client``) is read
    from the database the first time something needs it, and checked to be
    still hers.
    """

    kind: str  # "client" | "coordinator" | "unknown": the menu's name
    phone: str  # E.164
    view: ClientView | None = None
    user: User | None = None
    chosen_language: str | None = None  # the screens' language, when the request names one (UssdRequest.language)
    looked_up: list[int] = field(default_factory=list)  # clients whose record the step read (audited after it)
    _client: Client | None = None

    @property
    def client(self) -> Client | None:
        """The client's row, read on first use. Raises ``CallerChanged`` if the number is no longer hers."""
        if self._client is None and self.view is not None:
            client = db.session.get(Client, self.view.id)
            if client is None or client.phone != self.phone:
                raise CallerChanged(self.view.id)
            self._client = client
        return self._client

    @property
    def client_id(self) -> int | None:
        return self.view.id if self.view is not None else None

    def saw_change(self) -> None:
        """Her row was changed (an effect, a PIN count): her view is taken from it, before the commit expires it."""
        if self._client is not None:
            self.view = ClientView.of(self._client)

    @property
    def key(self) -> dict:
        """What a session record keeps of its caller, for ``recall_caller``."""
        if self.kind == "client":
            return {"kind": "client", "client": self.view.kept()}
        return {"kind": self.kind, "id": self.user.id if self.user is not None else None}

    @property
    def actor(self) -> str:
        """The audit actor: ``ussd:client:<id>``, ``ussd:user:<id>``, or ``ussd:<phone>`` for an unknown number."""
        if self.user is not None:
            return f"ussd:user:{self.user.id}"
        if self.view is not None:
            return f"ussd:client:{self.view.id}"
        return f"ussd:{self.phone}"

    @functools.cached_property
    def country(self) -> str:
        """ISO country: a client's own; a coordinator's first site's; an unknown number's calling code's; else the default."""
        if self.view is not None:
            return self.view.country
        if self.user is not None:
            site = first_site(self.user)
            if site is not None and site.country in COUNTRIES:
                return site.country
        else:  # an unknown number: the country of its calling code, if the gateway serves it
            region = region_of(self.phone)
            if region in COUNTRIES:
                return region
        return current_app.config["SETTINGS"].default_country

    @property
    def language(self) -> str:
        if self.chosen_language:
            return supported_language(self.chosen_language)
        if self.view is not None:
            return supported_language(self.view.language)
        return COUNTRIES[self.country].language if self.country in COUNTRIES else "en"

    def today(self) -> dt.date:
        """The caller's local date. A client's is her country's, as ``appointments.record_event`` reads it."""
        return local_today(self.country) if self.country in COUNTRIES else clock.today_utc()


def _who_has_statement():
    # The client's SELECT comes first: the union's columns take its types (a date read back as a date on SQLite).
    clients = select(literal("client").label("who"), Client.id, Client.ussd_pin_hash.is_not(None).label("pin_set"),
                     Client.language, Client.country, Client.site_id, Client.pin_locked_until, Client.opted_out
                     ).where(Client.phone == bindparam("phone"))
    users_ = select(literal("user"), User.id, User.ussd_pin_hash.is_not(None), null(), null(), null(), null(), null()
                    ).where(User.phone == bindparam("phone"), User.active.is_(True))
    return union_all(clients, users_)


# Built once: building a statement costs more than running it (a caller is looked up on every first screen).
_WHO_HAS = _who_has_statement()


def _who_has(phone: str) -> list:
    """The client and the active user with this number, in one query: (who, id, pin_set, then a client's fields)."""
    return db.session.connection().execute(_WHO_HAS, {"phone": phone}).all()


def find_caller(phone: str) -> Caller:
    """The caller for an E.164 number (one query; a coordinator's row is read too)."""
    rows = {row.who: row for row in _who_has(phone)}
    user, client = rows.get("user"), rows.get("client")
    if user is not None and (user.pin_set or client is None):
        return Caller("coordinator", phone, user=db.session.get(User, user.id))
    if client is not None:
        view = ClientView(client.id, client.language, client.country, client.site_id, bool(client.pin_set),
                          client.pin_locked_until, bool(client.opted_out))
        return Caller("client", phone, view=view)
    return Caller("unknown", phone)


def recall_caller(phone: str, key: dict | None) -> Caller | None:
    """The caller a session began with (``Caller.key``); None if it cannot be told, or a coordinator's number changed.

    A client is recalled as she was last seen, without a query: her row is
    read, and checked to still have this number, when something needs it.
    """
    if not isinstance(key, dict):
        return None
    kind = key.get("kind")
    if kind == "unknown":
        return Caller("unknown", phone)
    if kind == "client":
        try:
            return Caller("client", phone, view=ClientView.from_kept(key["client"]))
        except (KeyError, TypeError, ValueError):
            return None
    if kind == "coordinator" and isinstance(key.get("id"), int):
        user = db.session.get(User, key["id"])
        if user is not None and user.phone == phone and user.active:
            return Caller("coordinator", phone, user=user)
    return None


def first_site(user: User) -> Site | None:
    """A coordinator's site for new clients: her only one, else her first (lowest id)."""
    return min(user.sites, key=lambda s: s.id) if user.sites else None


def client_births(caller: Caller) -> set[str]:
    """Her babies' dates of birth (ISO), read when a date of birth is typed: twins are asked about."""
    return {d.isoformat() for d in db.session.scalars(
        select(Infant.date_of_birth).where(Infant.client_id == caller.view.id))}


def build_context(caller: Caller, max_chars: int, ledger: menus.PinLedger | None = None) -> menus.Context:
    """The engine's context for one request of ``caller`` at a screen limit of ``max_chars``.

    Everything the step may read, as values or read-only sources; its PIN
    checks go to ``ledger`` (``pins.ledger_for``), in memory, stored after the step.
    """
    today = caller.today()
    common = dict(today=today, language=caller.language, max_chars=max_chars, country=caller.country,
                  languages=offered_languages())
    if caller.kind == "client":
        view = caller.view
        return menus.Context(
            **common,
            pin_set=view.pin_set,
            pin_locked=ledger.locked() if ledger else False,
            verify_pin=ledger.verify if ledger else None,
            opted_out=view.opted_out,
            visits=lambda: client_visits(caller, today),
            known=lambda name: client_births(caller) if name == "date_of_birth" else (),
        )
    if caller.kind == "coordinator":
        user = caller.user
        return menus.Context(
            **common,
            pin_set=bool(user.ussd_pin_hash),
            pin_locked=ledger.locked() if ledger else False,
            verify_pin=ledger.verify if ledger else None,
            lookup_client=lambda phone: lookup_client(user, phone, today, caller.looked_up),
            list_callbacks=lambda: list_callbacks(user),
        )
    return menus.Context(**common)


# ---------------------------------------------------------------- list sources


def _open_appointments_statement(with_phone: bool):
    query = select(Appointment.due_date, Appointment.kind, Appointment.name, Appointment.infant_id).where(
        Appointment.client_id == bindparam("client_id"), Appointment.status == "due",
        Appointment.due_date >= bindparam("since"))
    if with_phone:
        query = query.join(Client, Client.id == Appointment.client_id).where(Client.phone == bindparam("phone"))
    return query.order_by(Appointment.due_date, Appointment.id)


_OPEN_APPOINTMENTS = {False: _open_appointments_statement(False), True: _open_appointments_statement(True)}


def _open_appointments(client_id: int, today: dt.date, phone: str | None = None,
                       days_back: int = MISSED_VISIT_DAYS) -> list:
    """(due_date, kind, name) of a client's open visits, soonest first; only while she has ``phone``, if given."""
    params = {"client_id": client_id, "since": today - dt.timedelta(days=days_back)}
    if phone is not None:
        params["phone"] = phone
    return db.session.connection().execute(_OPEN_APPOINTMENTS[phone is not None], params).all()


def client_visits(caller: Caller, today: dt.date) -> list[tuple[dt.date | str, str]]:
    """A client's open visits, each as (date, discreet label in her language): the upcoming ones first, soonest
    first, one line per kind a day; then what is overdue, one line per kind, said plainly ("Overdue since
    Wed 12 Nov"), from the oldest visit of that kind still open.

    Read by her id and number together: a session recalled after her number
    changed hands lists nothing of hers (and raises ``CallerChanged``).
    """
    lines: list[tuple[dt.date | str, str]] = []
    overdue: dict[str, dt.date] = {}
    language = caller.view.language
    appointments = _open_appointments(caller.client_id, today, caller.phone, OVERDUE_VISIT_DAYS)
    if not appointments:
        _ = caller.client  # none, or not hers any more (CallerChanged): her row tells which
    for appointment in appointments:
        label = render(f"label.{label_kind(appointment.kind, appointment.infant_id)}", language)
        if appointment.due_date < today:
            overdue.setdefault(label, appointment.due_date)  # soonest first: the oldest of that label
            continue
        line = (appointment.due_date, label)
        if line not in lines and len(lines) < MAX_VISIT_LINES:
            lines.append(line)
    for label, since in sorted(overdue.items(), key=lambda item: item[1]):
        day = format_date(since, language, year=since.year != today.year)
        lines.append((render("ussd.client.visits.overdue", language, date=day), label))
    return lines


def lookup_client(user: User, phone: str, today: dt.date,
                  looked_up: list[int] | None = None) -> list[tuple[dt.date, str]] | None:
    """A client's open visits for a coordinator: (date, the schedule's names that day); None if not hers to see.

    The id of a client found is added to ``looked_up``: the adapter audits the read after the step
    (``gateway.ussd``), so the step stays pure.

    Behind the coordinator's PIN, so the names are the schedule's own
    (``ART refill``, ``PCR 10 weeks``, ``OPV1``).
    """
    client = db.session.scalar(select(Client).where(Client.phone == phone))
    if client is None or not access.may_see(user, client):
        return None
    if looked_up is not None and client.id not in looked_up:
        looked_up.append(client.id)
    by_date: dict[dt.date, list[str]] = {}
    for appointment in _open_appointments(client.id, today):
        names = by_date.setdefault(appointment.due_date, [])
        if appointment.name not in names:
            names.append(appointment.name)
    return [(day, ", ".join(names)) for day, names in list(by_date.items())[:MAX_VISIT_LINES]]


def list_callbacks(user: User) -> list[str]:
    """Open call-back requests made today (each site's local date) at the coordinator's sites, oldest first.

    One short line each: the masked number, the local time asked, the name if
    known; at most ``MAX_CALLBACK_LINES`` (the console lists them all). An
    admin sees every site's. Only today's rows are read: each site's local
    day is turned into a UTC moment, so the query's cost follows the lines
    shown, not every request of the last day or of every site.
    """
    sites = {s.id: s for s in (db.session.scalars(select(Site)) if user.role == "admin" else user.sites)}
    if not sites:
        return []
    now = clock.utcnow()
    by_start: dict[dt.datetime, list[int]] = {}  # sites in one zone share the UTC start of their day
    for site_id, site in sites.items():
        by_start.setdefault(clock.utc_of_local(clock.local_date(site.timezone, now), 0, site.timezone),
                            []).append(site_id)
    today = or_(*(and_(Task.site_id.in_(ids), Task.created_at >= start) for start, ids in by_start.items()))
    rows = db.session.execute(
        select(Task.site_id, Task.created_at, Task.phone, Client.name).outerjoin(Client, Client.id == Task.client_id)
        .where(Task.kind == "callback", Task.status == "open", today)
        .order_by(Task.created_at, Task.id).limit(MAX_CALLBACK_LINES)).all()
    lines = []
    for task in rows:
        local = task.created_at.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(sites[task.site_id].timezone))
        lines.append(" ".join(part for part in (masked(task.phone), local.strftime("%H:%M"), task.name) if part))
    return lines
