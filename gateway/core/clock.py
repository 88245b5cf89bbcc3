"""The one clock. Everything that asks "what time is it" asks here.

Times are stored as naive UTC datetimes (the database column carries no zone);
local times exist only at the edges, computed from a site's or client's zone.
Tests and ``reminders send-due --now`` move the clock with ``frozen``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from zoneinfo import ZoneInfo

_frozen: dt.datetime | None = None


def utcnow() -> dt.datetime:
    """Now, as a naive UTC datetime."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def today_utc() -> dt.date:
    return utcnow().date()


@contextlib.contextmanager
def frozen(at: dt.datetime):
    """Pin the clock to ``at`` (naive UTC) for the duration of the block."""
    global _frozen
    previous, _frozen = _frozen, at
    try:
        yield at
    finally:
        _frozen = previous


def local_date(zone: str, at: dt.datetime | None = None) -> dt.date:
    """The calendar date in IANA ``zone`` at UTC moment ``at`` (default: now)."""
    moment = (at or utcnow()).replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(ZoneInfo(zone)).date()


def utc_of_local(day: dt.date, hour: int, zone: str) -> dt.datetime:
    """The naive UTC moment of ``hour``:00 local time on ``day`` in ``zone``."""
    local = dt.datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)
