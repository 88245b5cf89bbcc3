"""Pure planning: an infant's visits from its dates, the next ART pick-up, ART status.

No database and no clock: callers pass the dates in (local calendar dates).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Mapping

from gateway.schedules.dates import add_offset
from gateway.schedules.loader import ArtThresholds, CountrySchedule

ON_TRACK, LATE, INTERRUPTION, LOST = "on_track", "late", "interruption", "lost"


@dataclass(frozen=True)
class PlannedVisit:
    """One dose or test an infant is due for, and the date it was given if it was."""

    name: str  # the schedule's dose name, e.g. OPV1, PCR 10 weeks
    kind: str  # "immunisation" | "infant_hiv_test"
    due_date: dt.date
    given_on: dt.date | None


# An indeterminate test is repeated; a repeat that is indeterminate again is repeated, at most this often.
MAX_REPEATS = 3


def repeat_name(test: str, n: int) -> str:
    """The name of the ``n``-th repeat of an indeterminate test: "PCR 10 weeks repeat", "... repeat 2"."""
    return f"{test} repeat" if n == 1 else f"{test} repeat {n}"


def infant_plan(schedule: CountrySchedule, date_of_birth: dt.date, hiv_exposed: bool,
                given: Mapping[str, dt.date], breastfeeding_ended: dt.date | None = None,
                region: str | None = None, results: Mapping[str, str] | None = None,
                not_before: dt.date | None = None) -> list[PlannedVisit]:
    """Every dose and test of ``schedule`` for this infant, sorted by (due date, name).

    ``given`` maps dose names to the date each was given (names not in the
    schedule are ignored). Exposed-only doses are planned only for HIV-exposed
    infants. A dose is due at the latest of the anchors that are known:
    birth + its age; the date its ``after`` dose was given + the interval (once
    that dose is recorded as given); the end of breastfeeding + its
    ``after_breastfeeding_stops`` offset (once breastfeeding has ended). A dose
    anchored only on the end of breastfeeding appears when that is recorded.
    A dose limited to some regions (a malaria vaccine, yellow fever) is planned
    only when ``region`` (the family's site's) is one of them: no region, no such dose.

    ``results`` maps tests to their results: an ``indeterminate`` test is
    repeated ``schedule.repeat_after_days`` after it was taken (``repeat_name``);
    once any test is ``positive`` no further test is planned (those not taken
    are left out). ``not_before`` (the day a closed infant was reopened): a
    visit not given and due before it is due on it instead.

    Such a dose (the final HIV test) given before the recorded end of
    breastfeeding is due again: an end recorded (or corrected) later re-plans it.
    """
    if breastfeeding_ended is not None and breastfeeding_ended < date_of_birth:
        raise ValueError(f"breastfeeding ended ({breastfeeding_ended}) before the date of birth ({date_of_birth})")
    visits: list[PlannedVisit] = []
    for dose in schedule.doses:
        if (dose.hiv_exposed_only and not hiv_exposed) or not dose.applies_in(region):
            continue
        anchors: list[dt.date] = []
        if dose.due is not None:
            anchors.append(add_offset(date_of_birth, dose.due))
        if dose.after_breastfeeding_stops is not None and breastfeeding_ended is not None:
            anchors.append(add_offset(breastfeeding_ended, dose.after_breastfeeding_stops))
        if not anchors:
            continue  # waits for the end of breastfeeding
        if dose.after is not None and dose.after.dose in given:
            anchors.append(add_offset(given[dose.after.dose], dose.after.interval))
        given_on = given.get(dose.name)
        if (given_on is not None and dose.after_breastfeeding_stops is not None and breastfeeding_ended is not None
                and given_on < breastfeeding_ended):
            given_on = None  # a test made while she still breastfed is not the final one: planned again
        visits.append(PlannedVisit(dose.name, dose.kind, max(anchors), given_on))
    results = results or {}
    for test in [v for v in visits if v.kind == "infant_hiv_test"]:
        name = test.name
        for n in range(1, MAX_REPEATS + 1):
            if results.get(name) != "indeterminate" or name not in given or not schedule.repeat_after_days:
                break
            due = given[name] + dt.timedelta(days=schedule.repeat_after_days)
            name = repeat_name(test.name, n)
            visits.append(PlannedVisit(name, "infant_hiv_test", due, given.get(name)))
    if "positive" in results.values():  # the child needs ART, not more tests
        visits = [v for v in visits if v.kind != "infant_hiv_test" or v.given_on is not None]
    if not_before is not None:
        visits = [v if v.given_on or v.due_date >= not_before else dataclasses.replace(v, due_date=not_before)
                  for v in visits]
    return sorted(visits, key=lambda visit: (visit.due_date, visit.name))


# A "month" of medicine, as clients and clinics count it (docs/schedules.md): the one place this is written.
DAYS_PER_MONTH = 30


def art_next_pickup(dispensed: dt.date, days_supply: int, booked: dt.date | None = None) -> dt.date:
    """The next pick-up date: the date the clinic booked (``booked``, on her clinic card) when it gave
    one, else the day the medicine dispensed on ``dispensed`` runs out.

    ``days_supply`` is in days; a "month" of medicine is ``DAYS_PER_MONTH`` days. Late, interruption
    and lost count from this date (``art_status``).
    """
    if days_supply < 1:
        raise ValueError(f"days of supply must be at least 1, not {days_supply}")
    return booked or dispensed + dt.timedelta(days=days_supply)


def art_days_late(due: dt.date, today: dt.date) -> int:
    """Whole days past the pick-up date ``due`` (0 until the day after it)."""
    return max(0, (today - due).days)


def art_status(due: dt.date, today: dt.date, thresholds: ArtThresholds) -> str:
    """``on_track`` (not yet due, or due today), ``late``, ``interruption`` or ``lost``.

    Each status holds from its threshold in days late on (``lost`` from
    ``lost_after_days``, and so on); the thresholds come from the country file.
    """
    days = art_days_late(due, today)
    if days >= thresholds.lost_after_days:
        return LOST
    if days >= thresholds.interruption_after_days:
        return INTERRUPTION
    if days >= thresholds.late_after_days:
        return LATE
    return ON_TRACK
