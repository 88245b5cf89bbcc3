"""Clinical schedules as data: infant immunisations and HIV tests, ART thresholds, reminder rules.

The data files are in ``gateway/schedules/data`` (one per country plus the
WHO default; see docs/schedules.md); this package loads and checks them and
computes plans from a child's or client's own dates. It is pure: no database,
no Flask, no clock.
"""
from __future__ import annotations

from gateway.schedules.dates import Offset, add_offset
from gateway.schedules.loader import (
    After,
    ArtThresholds,
    CountrySchedule,
    Dose,
    ReminderRule,
    ReminderRules,
    ScheduleError,
    all_schedules,
    load_reminder_rules,
    load_schedule_file,
    load_schedules,
    reminder_rules,
    schedule_for,
)
from gateway.schedules.planning import (
    DAYS_PER_MONTH,
    PlannedVisit,
    art_days_late,
    art_next_pickup,
    art_status,
    infant_plan,
)

__all__ = [
    "DAYS_PER_MONTH",
    "After",
    "ArtThresholds",
    "CountrySchedule",
    "Dose",
    "Offset",
    "PlannedVisit",
    "ReminderRule",
    "ReminderRules",
    "ScheduleError",
    "add_offset",
    "all_schedules",
    "art_days_late",
    "art_next_pickup",
    "art_status",
    "infant_plan",
    "load_reminder_rules",
    "load_schedule_file",
    "load_schedules",
    "reminder_rules",
    "schedule_for",
]
