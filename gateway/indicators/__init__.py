"""Programme indicators: counts per site and calendar month, defined as data in ``indicators.yaml``.

The file says *what* each indicator counts in a small vocabulary (a source,
filters, a period rule); this module turns each entry into one SQLAlchemy
query that counts every month asked for and every site at once (one
``count(CASE ...)`` column per month, grouped by site), so a year of
history for all sites is one query per indicator, never one per client.

- ``definitions()``: the checked entries of the packaged file (loaded once).
- ``parse_period``: ``"2026-11"`` -> a ``Period``, refusing bad text and the future.
- ``compute``: the numbers, ``{code: {period: {site_id: n}}}``.
- ``line_list``: the rows behind one number (for the console's drill-down).
- ``reminder_comparison``: on-time rates of visits whose reminder was delivered, and of the others.

Closed clients leave every count from their closing day: ``still_open`` is
the one place that says so. Dates are the client's local calendar dates;
timestamps (enrolment, SMS) are counted in each site's own time zone.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sqlalchemy import ColumnElement, Date, Select, and_, case, false, func, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from yaml.nodes import Node, ScalarNode, SequenceNode

from gateway.core import clock
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.core.models import (
    APPOINTMENT_KINDS,
    Appointment,
    Client,
    Infant,
    Message,
    Reminder,
    Site,
    reminder_appointments,
)
from gateway.schedules import all_schedules, schedule_for
from gateway.schedules.loader import ScheduleError, LineReader

FILE = Path(__file__).resolve().with_name("indicators.yaml")
SOURCES = ("clients", "appointments", "infants", "messages")
# The period rules each source understands (docs/indicators.md).
PERIOD_RULES = {
    "clients": ("in_care_at_end",),
    "appointments": ("due", "done", "interruption", "lost"),
    "infants": ("in_care_at_end",),
    "messages": ("sent", "delivered", "failed"),
}
# The filters each source understands, and the kind of value each takes.
FILTERS = {
    "clients": {},
    "appointments": {"kind": "kinds", "status": "statuses", "final_test": "boolean",
                     "done_within_days": "days", "infant_hiv_exposed": "boolean"},
    "infants": {"hiv_exposed": "boolean", "younger_than_months": "months"},
    "messages": {},
}
APPOINTMENT_STATUSES = ("due", "done")  # cancelled visits are never counted
FINAL_TEST_MONTHS = 18  # an infant HIV test due at this age or later is the final one


class IndicatorError(ScheduleError):
    """The indicators file is wrong: one ``file:line: problem`` line per problem (``errors``)."""


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    words: str
    source: str
    period: str
    where: tuple[tuple[str, object], ...] = ()
    denominator_words: str | None = None
    denominator: str | None = None  # the code of the indicator that counts the denominator
    compare_reminders: bool = False
    line: int = 0

    def filter(self, name: str, default=None):
        return dict(self.where).get(name, default)


# --- the file ------------------------------------------------------------------------------------

_CODE = re.compile(r"[a-z][a-z0-9_]{1,49}")


def load(path: Path | str = FILE) -> dict[str, Indicator]:
    """Read and check an indicators file; raises IndicatorError naming every problem with its line."""
    path = Path(path)
    reader = LineReader(path)
    root = reader.root(path)
    found: dict[str, Indicator] = {}
    if root is not None:
        top = reader.mapping(root, "the file", ("indicators",))
        for item in reader.sequence(top["indicators"], "indicators") if top and "indicators" in top else []:
            indicator = _read_indicator(reader, item)
            if indicator is None:
                continue
            if indicator.code in found:
                reader.error(item, f"indicator '{indicator.code}' is defined twice")
            found[indicator.code] = indicator
        for indicator in found.values():
            if indicator.denominator and indicator.denominator not in found:
                reader.errors.append(f"{path.name}:{indicator.line}: indicator '{indicator.code}': denominator "
                                     f"names unknown indicator '{indicator.denominator}'")
    if reader.errors:
        raise IndicatorError(reader.errors)
    return found


def _read_indicator(reader: LineReader, item: Node) -> Indicator | None:
    keys = reader.mapping(item, "indicator", ("code", "name", "numerator"), ("denominator", "compare_reminders"))
    if keys is None or "code" not in keys:
        return None
    code = reader.text(keys["code"], "code")
    if code is None:
        return None
    if not _CODE.fullmatch(code):
        reader.error(keys["code"], f"code {code!r}: lower-case letters, digits and _ only")
        return None
    what = f"indicator '{code}'"
    name = reader.text(keys["name"], f"{what}: name") if "name" in keys else None
    numerator = keys.get("numerator")
    top = reader.mapping(numerator, f"{what}: numerator", ("words", "count", "period"), ("where",)) \
        if numerator is not None else None
    if not top or len(top) < 3:
        return None
    words = reader.text(top["words"], f"{what}: numerator words")
    source = reader.text(top["count"], f"{what}: count")
    if source not in SOURCES:
        reader.error(top["count"], f"{what}: count {source!r}: expected one of {', '.join(SOURCES)}")
        return None
    period = reader.text(top["period"], f"{what}: period")
    if period not in PERIOD_RULES[source]:
        reader.error(top["period"], f"{what}: period {period!r}: for {source} expected one of "
                                    f"{', '.join(PERIOD_RULES[source])}")
        return None
    where = _read_where(reader, top.get("where"), source, what)
    denominator_words = denominator = None
    if "denominator" in keys:
        bottom = reader.mapping(keys["denominator"], f"{what}: denominator", ("words", "indicator"))
        if bottom and len(bottom) == 2:
            denominator_words = reader.text(bottom["words"], f"{what}: denominator words")
            denominator = reader.text(bottom["indicator"], f"{what}: denominator indicator")
    compare = False
    if "compare_reminders" in keys:
        compare = bool(reader.boolean(keys["compare_reminders"], f"{what}: compare_reminders"))
        if compare and (source != "appointments" or period != "due" or denominator is None):
            reader.error(keys["compare_reminders"], f"{what}: compare_reminders is for appointments counted "
                                                    "by their due date, with a denominator")
    if None in (name, words, where):
        return None
    return Indicator(code, name, words, source, period, where, denominator_words, denominator, compare,
                     item.start_mark.line + 1)


def _read_where(reader: LineReader, node: Node | None, source: str, what: str) -> tuple | None:
    if node is None:
        return ()
    allowed = FILTERS[source]
    if not allowed:
        reader.error(node, f"{what}: {source} take no filters")
        return None
    keys = reader.mapping(node, f"{what}: where", (), tuple(allowed))
    if keys is None:
        return None
    out = []
    for key, value in keys.items():
        label = f"{what}: {key}"
        kind = allowed[key]
        if kind == "boolean":
            parsed = reader.boolean(value, label)
        elif kind in ("days", "months"):
            parsed = reader.integer(value, label, minimum=0)
        else:
            choices = APPOINTMENT_KINDS if kind == "kinds" else APPOINTMENT_STATUSES
            items = value.value if isinstance(value, SequenceNode) else [value]
            parsed = []
            for one in items:
                text = one.value.strip() if isinstance(one, ScalarNode) else ""
                if text not in choices:
                    reader.error(one, f"{label}: {text!r} is not one of {', '.join(choices)}")
                    return None
                parsed.append(text)
            parsed = tuple(parsed)
        if parsed is None:
            return None
        out.append((key, parsed))
    return tuple(out)


@functools.cache
def definitions() -> dict[str, Indicator]:
    """The packaged indicators, in file order (loaded and checked once per process)."""
    return load(FILE)


# --- periods -------------------------------------------------------------------------------------

def latest_today() -> dt.date:
    """Today where the programme's day is furthest on: the latest local date of any site's zone.

    Counts are capped at "today" so a month in progress counts nothing yet to come; with sites
    east of UTC (Kenya is UTC+3), the UTC date would leave out what happened there after midnight.
    """
    zones = db.session.scalars(select(Site.timezone).distinct()).all()
    return max([clock.today_utc(), *(clock.local_date(zone) for zone in zones if zone)])


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month: ``start`` is its first day, ``end`` the first day of the next."""

    year: int
    month: int

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def dhis2(self) -> str:
        return f"{self.year:04d}{self.month:02d}"

    def minus(self, months: int) -> Period:
        index = self.year * 12 + self.month - 1 - months
        return Period(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return self.label


_PERIOD = re.compile(r"(\d{4})-(\d{2})")


def parse_period(text: str | None, today: dt.date | None = None, field_name: str = "period") -> Period:
    """``"2026-11"`` -> Period(2026, 11). A ValidationError names ``field_name`` for bad text or a future month."""
    match = _PERIOD.fullmatch((text or "").strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValidationError(f"{field_name} must be a month written YYYY-MM, e.g. 2026-11",
                              {field_name: f"{(text or '')[:20]!r} is not a month written YYYY-MM"})
    period = Period(int(match.group(1)), int(match.group(2)))
    today = today or latest_today()
    if period.start > today:
        raise ValidationError(f"{field_name} {period} is in the future", {field_name: f"{period} is in the future"})
    return period


def last_months(period: Period, count: int) -> list[Period]:
    """``count`` months ending with ``period``, oldest first."""
    return [period.minus(i) for i in range(count - 1, -1, -1)]


# --- SQL pieces ------------------------------------------------------------------------------------

class add_days(FunctionElement):
    """``date + n days`` on SQLite and PostgreSQL (``n`` a whole number from the checked file)."""

    type = Date()
    inherit_cache = True
    name = "add_days"


@compiles(add_days)
def _add_days_sqlite(element, compiler, **kw):
    column, days = list(element.clauses)
    return f"date({compiler.process(column, **kw)}, '+' || {compiler.process(days, **kw)} || ' days')"


@compiles(add_days, "postgresql")
def _add_days_postgresql(element, compiler, **kw):
    column, days = list(element.clauses)
    return f"({compiler.process(column, **kw)} + CAST({compiler.process(days, **kw)} AS INTEGER))"


def still_open(on) -> ColumnElement[bool]:
    """The client was not closed on day ``on`` (a date or a date column): the ONE closed-client filter.

    A client closed and later reopened counts again from her reopening (her
    ``closed_on`` is kept, ``status`` is active again)."""
    return or_(Client.status != "closed", Client.closed_on.is_(None), Client.closed_on > on)


@dataclass
class Scope:
    """Which clients count: those of ``sites`` (and, when ``unsited``, those without a site)."""

    sites: list[Site]
    unsited: bool = False

    @classmethod
    def of(cls, site_ids: Iterable[int] | None) -> Scope:
        """``None``: every site and the clients without one (an admin's whole programme)."""
        query = select(Site).order_by(Site.id)
        if site_ids is not None:
            ids = list(site_ids)
            if not ids:
                return cls([], False)
            query = query.where(Site.id.in_(ids))
        return cls(list(db.session.scalars(query)), site_ids is None)

    def condition(self, group: list[int | None] | None = None) -> ColumnElement[bool]:
        """Rows of these sites' clients (``group``: of those sites only; ``None`` in it: the unsited)."""
        ids = [s.id for s in self.sites] + ([None] if self.unsited else []) if group is None else group
        known = [i for i in ids if i is not None]
        parts = [Client.site_id.in_(known)] if known else []
        if None in ids:
            parts.append(Client.site_id.is_(None))
        return or_(*parts) if parts else false()

    def groups(self, key) -> dict:
        """``{key(site): [site ids]}``: the sites sharing a zone or thresholds; ``key(None)`` for the unsited."""
        groups: dict = defaultdict(list)
        for site in self.sites:
            groups[key(site)].append(site.id)
        if self.unsited:
            groups[key(None)].append(None)
        return groups


def _zone(site: Site | None) -> str:
    return site.timezone if site is not None else "UTC"


def _thresholds(site: Site | None):
    return schedule_for(site.country if site is not None else None).thresholds


@functools.cache
def final_test_names() -> tuple[str, ...]:
    """Every country's final infant HIV test: the tests due at ``FINAL_TEST_MONTHS`` of age or later."""
    per_month = {"d": 1 / 30.44, "w": 7 / 30.44, "m": 1, "y": 12}
    names = {dose.name for schedule in all_schedules().values() for dose in schedule.doses
             if dose.kind == "infant_hiv_test" and dose.due is not None
             and dose.due.amount * per_month[dose.due.unit] >= FINAL_TEST_MONTHS}
    return tuple(sorted(names))


def _months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31))


# --- one indicator as SQL ----------------------------------------------------------------------------

def _source(indicator: Indicator) -> tuple[Select, ColumnElement]:
    """The FROM (with the client joined) and the row counted."""
    if indicator.source == "clients":
        return select().select_from(Client), Client.id
    if indicator.source == "infants":
        return select().select_from(Infant).join(Client, Client.id == Infant.client_id), Infant.id
    if indicator.source == "messages":
        return select().select_from(Message).join(Client, Client.id == Message.client_id), Message.id
    query = select().select_from(Appointment).join(Client, Client.id == Appointment.client_id)
    if indicator.filter("infant_hiv_exposed") is not None:
        query = query.join(Infant, Infant.id == Appointment.infant_id)
    return query, Appointment.id


def _filters(indicator: Indicator) -> list[ColumnElement[bool]]:
    """The period-independent conditions of the entry's ``where``."""
    out: list[ColumnElement[bool]] = []
    if indicator.source == "appointments":
        out.append(Appointment.status != "cancelled")
        kinds = indicator.filter("kind")
        if kinds:
            out.append(Appointment.kind.in_(kinds) if len(kinds) > 1 else Appointment.kind == kinds[0])
        statuses = indicator.filter("status")
        if statuses:
            out.append(Appointment.status.in_(statuses))
        if indicator.filter("final_test") is not None:
            final = Appointment.name.in_(final_test_names())
            out.append(final if indicator.filter("final_test") else ~final)
        within = indicator.filter("done_within_days")
        if within is not None:
            on = Appointment.due_date if within == 0 else add_days(Appointment.due_date, within)
            out.append(and_(Appointment.status == "done", Appointment.done_on <= on))
        if indicator.filter("infant_hiv_exposed") is not None:
            out.append(Infant.hiv_exposed.is_(bool(indicator.filter("infant_hiv_exposed"))))
    elif indicator.source == "infants":
        if indicator.filter("hiv_exposed") is not None:
            out.append(Infant.hiv_exposed.is_(bool(indicator.filter("hiv_exposed"))))
    elif indicator.source == "messages":
        out.append(Message.direction == "out")
    return out


def _group_key(indicator: Indicator):
    """What a site's rows depend on besides the month: its zone (timestamps), its country's ART thresholds
    (interruption, lost), or nothing (dates)."""
    if indicator.period in ("interruption", "lost"):
        return _thresholds
    if indicator.source == "appointments":
        return lambda site: None
    return _zone


def _period_condition(indicator: Indicator, period: Period, key, today: dt.date,
                      bound: bool = False) -> ColumnElement[bool]:
    """The condition that a row counts in ``period`` (the entry's period rule), closed clients left out.

    ``key`` is the sites' group key (``_group_key``). ``bound=True``: a looser condition true for every row
    counted in any month from ``period.start`` to ``period.end`` (a span of months), for the WHERE.
    """
    rule = indicator.period
    last_day = min(period.end, today + dt.timedelta(days=1)) - dt.timedelta(days=1)
    if indicator.source == "appointments":
        if rule in ("due", "done"):
            column = Appointment.due_date if rule == "due" else Appointment.done_on
            return and_(column >= period.start, column <= last_day, true() if bound else still_open(column))
        days = key.interruption_after_days if rule == "interruption" else key.lost_after_days
        reached = add_days(Appointment.due_date, days)  # the day it became an interruption / a loss
        return and_(Appointment.due_date >= period.start - dt.timedelta(days=days),
                    Appointment.due_date <= last_day - dt.timedelta(days=days),
                    or_(Appointment.status == "due", Appointment.done_on >= reached),
                    true() if bound else still_open(reached))
    if indicator.source in ("clients", "infants"):
        # In care at the end of the month: enrolled by then (in the site's zone), and not closed.
        enrolled = Client.created_at < clock.utc_of_local(last_day + dt.timedelta(days=1), 0, key)
        if indicator.source == "clients":
            return enrolled if bound else and_(enrolled, still_open(last_day))
        months = indicator.filter("younger_than_months")
        # For a span: born by its end, and young enough at the end of its first month.
        first_end = min(dt.date(period.start.year + period.start.month // 12, period.start.month % 12 + 1, 1),
                        today + dt.timedelta(days=1)) - dt.timedelta(days=1)
        born_after = _months_before(first_end if bound else last_day, months) if months is not None else None
        return and_(enrolled, Infant.date_of_birth <= last_day,
                    Infant.date_of_birth > born_after if born_after else true(),
                    true() if bound else still_open(last_day))
    column = {"sent": Message.sent_at, "delivered": Message.delivered_at, "failed": Message.updated_at}[rule]
    return and_(column >= clock.utc_of_local(period.start, 0, key),
                column < clock.utc_of_local(last_day + dt.timedelta(days=1), 0, key),
                Message.status == "failed" if rule == "failed" else true())


@dataclass(frozen=True)
class _Span:
    """Months from ``start`` (a first day) to ``end`` (the first day after the last month)."""

    start: dt.date
    end: dt.date


def _scoped(indicator: Indicator, scope: Scope, today: dt.date, span: _Span):
    """``(group key, WHERE)`` for each group of sites: the scope, the filters and the span's bound."""
    for key, ids in scope.groups(_group_key(indicator)).items():
        yield key, and_(scope.condition(ids), *_filters(indicator),
                        _period_condition(indicator, span, key, today, bound=True))


def compute(periods: list[Period], site_ids: Iterable[int] | None = None, codes: Iterable[str] | None = None,
            today: dt.date | None = None) -> dict[str, dict[str, dict[int | None, int]]]:
    """``{code: {"YYYY-MM": {site_id: n}}}`` for every period and site asked (``site_ids=None``: all, and the
    clients without a site under ``None``).

    Per indicator, one query for each group of sites that share a zone (or, for interruptions and losses,
    their country's thresholds): every month asked is a ``count(CASE ...)`` column of it, grouped by site.
    """
    today = today or latest_today()
    scope = Scope.of(site_ids)
    wanted = definitions() if codes is None else {c: definitions()[c] for c in codes}
    span = _Span(min(p.start for p in periods), max(p.end for p in periods)) if periods else None
    out: dict[str, dict[str, dict[int | None, int]]] = {}
    for code, indicator in wanted.items():
        out[code] = {p.label: {} for p in periods}
        if not periods:
            continue
        for group, where in _scoped(indicator, scope, today, span):
            query, key = _source(indicator)
            columns = [func.count(case((_period_condition(indicator, p, group, today), key))) for p in periods]
            query = query.add_columns(Client.site_id, *columns).where(where).group_by(Client.site_id)
            for site_id, *counts in db.session.execute(query):
                for period, n in zip(periods, counts):
                    if n:
                        out[code][period.label][site_id] = n
    return out


def totals(values: dict[str, dict[str, dict[int | None, int]]], site_id: int | None = None
           ) -> dict[str, dict[str, int]]:
    """``{code: {period: n}}``: one site's numbers (``site_id``), or the sum over every site computed."""
    return {code: {period: (by_site.get(site_id, 0) if site_id is not None else sum(by_site.values()))
                   for period, by_site in by_period.items()} for code, by_period in values.items()}


def for_period(period: Period, site_ids: Iterable[int] | None = None, site_id: int | None = None
               ) -> dict[str, int]:
    """``{code: n}`` for one month: one site's (``site_id``) or the sum over ``site_ids``."""
    values = compute([period], [site_id] if site_id is not None else site_ids)
    return {code: by_period[period.label] for code, by_period in totals(values, site_id).items()}


# --- the rows behind a number ---------------------------------------------------------------------------

LINE_LIST_LIMIT = 5000


@dataclass
class LineList:
    columns: list[str]
    rows: list[dict]
    truncated: bool = False


def line_list(code: str, period: Period, site_ids: Iterable[int] | None, limit: int = LINE_LIST_LIMIT,
              today: dt.date | None = None) -> LineList:
    """The clients behind one number: what a coordinator needs to follow them up, nothing more.

    Each row: the client's id, name, phone (the page masks it), site, and the counted item's
    own dates (a visit's name, due and done days; an infant's birth; an SMS's status and day).
    """
    indicator = definitions()[code]
    today = today or latest_today()
    scope = Scope.of(site_ids)
    query, key = _source(indicator)
    columns = [Client.id.label("client_id"), Client.name.label("client_name"), Client.phone.label("phone"),
               Client.site_id.label("site_id")]
    names = ["client_id", "client_name", "phone", "site_id"]
    if indicator.source == "appointments":
        columns += [Appointment.kind, Appointment.name, Appointment.due_date, Appointment.status, Appointment.done_on]
        names += ["kind", "name", "due_date", "status", "done_on"]
        order = [Appointment.due_date, Appointment.id]
    elif indicator.source == "infants":
        columns += [Infant.id.label("infant_id"), Infant.date_of_birth]
        names += ["infant_id", "date_of_birth"]
        order = [Infant.date_of_birth, Infant.id]
    elif indicator.source == "messages":
        columns += [Message.status, Message.sent_at, Message.delivered_at, Message.failure_reason]
        names += ["status", "sent_at", "delivered_at", "failure_reason"]
        order = [Message.id]
    else:
        columns += [Client.created_at.label("enrolled_at")]
        names += ["enrolled_at"]
        order = [Client.id]
    wheres = [and_(where, _period_condition(indicator, period, group, today))
              for group, where in _scoped(indicator, scope, today, period)]
    query = query.add_columns(*columns).where(or_(false(), *wheres)).order_by(*order).limit(limit + 1)
    rows = [dict(zip(names, row)) for row in db.session.execute(query)]
    return LineList(names, rows[:limit], len(rows) > limit)


# --- did the reminder help? -------------------------------------------------------------------------------

DELIVERED, SENT, NOT_DELIVERED = "delivered", "sent", "not_delivered"
REMINDER_GROUPS = (DELIVERED, SENT, NOT_DELIVERED)


@dataclass
class Comparison:
    """Visits due in a month, by what became of their reminder: how many, and how many kept on time."""

    code: str
    due: dict[str, int] = field(default_factory=dict)
    on_time: dict[str, int] = field(default_factory=dict)

    def rate(self, group: str) -> float | None:
        return self.on_time.get(group, 0) / self.due[group] if self.due.get(group) else None


def reminder_comparison(code: str, period: Period, site_ids: Iterable[int] | None,
                        today: dt.date | None = None) -> Comparison:
    """For the visits counted by ``code``'s denominator: on-time counts by reminder outcome.

    A visit's reminder outcome is the best of its reminders: ``delivered`` (a delivery report came),
    ``sent`` (accepted, no report), else ``not_delivered`` (failed, or never sent: opted out, no
    phone, cancelled or skipped). Observational: the groups differ in more than their reminders.
    """
    numerator = definitions()[code]
    denominator = definitions()[numerator.denominator]
    today = today or latest_today()
    scope = Scope.of(site_ids)
    best = (select(reminder_appointments.c.appointment_id.label("appointment_id"),
                   func.max(case((Reminder.status == "delivered", 2), (Reminder.status == "sent", 1), else_=0))
                   .label("best"))
            .join(Reminder, Reminder.id == reminder_appointments.c.reminder_id)
            .where(Reminder.due_date >= period.start, Reminder.due_date < period.end)
            .group_by(reminder_appointments.c.appointment_id).subquery())
    group = case((best.c.best == 2, DELIVERED), (best.c.best == 1, SENT), else_=NOT_DELIVERED)
    result = Comparison(code)
    for indicator, into in ((denominator, result.due), (numerator, result.on_time)):
        query, key = _source(indicator)
        wheres = [and_(where, _period_condition(indicator, period, key_, today))
                  for key_, where in _scoped(indicator, scope, today, period)]
        query = (query.outerjoin(best, best.c.appointment_id == Appointment.id)
                 .add_columns(group.label("grp"), func.count(key)).where(or_(false(), *wheres)).group_by(group))
        for name, n in db.session.execute(query):
            into[name] = n
    return result
