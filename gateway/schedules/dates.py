"""Date arithmetic for schedules: offsets such as ``6w`` or ``9m`` added to calendar dates.

The conventions (docs/schedules.md; tested in tests/schedules):

- ``d`` and ``w`` add days; a week is exactly 7 days, so ``6w`` is day 42.
- ``m`` and ``y`` are calendar months and years: same day of the month, clamped
  to the last day of a shorter month (31 Aug + 6m = 28 Feb; 29 Feb + 1y = 28 Feb).

Dates are plain ``datetime.date`` values: local calendar dates, no time zone.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["d", "w", "m", "y"]

_OFFSET = re.compile(r"([+-]?\d+)\s*([dwmy])")


@dataclass(frozen=True)
class Offset:
    """A signed amount of days, weeks, calendar months or calendar years (negative = earlier)."""

    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> Offset:
        """``"6w"`` -> Offset(6, "w"). Raises ValueError saying what a valid offset looks like."""
        if not isinstance(text, str):
            raise ValueError(f"{text!r} is not an offset: write a whole number and a unit, e.g. 6w")
        match = _OFFSET.fullmatch(text.strip().lower())
        if match is None:
            raise ValueError(f"{text!r} is not an offset: write a whole number and a unit "
                             "d (days), w (weeks), m (months) or y (years), e.g. 0d, 6w, 9m, 1y")
        return cls(int(match.group(1)), match.group(2))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def negative(self) -> bool:
        return self.amount < 0


def add_offset(anchor: dt.date, offset: Offset | str) -> dt.date:
    """The date ``offset`` after ``anchor`` (before it when the amount is negative).

    ``offset`` may be written as text ("6w"), as in the data files.
    """
    if isinstance(offset, str):
        offset = Offset.parse(offset)
    if offset.unit == "d":
        return anchor + dt.timedelta(days=offset.amount)
    if offset.unit == "w":
        return anchor + dt.timedelta(weeks=offset.amount)
    months = offset.amount * (12 if offset.unit == "y" else 1)
    # Count months from year 0 so that negative offsets cross year boundaries too.
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    # Clamp, don't roll over: a child born on 31 Aug is due "at 6 months" in
    # February, not in early March.
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)
