"""The send window: the local hours in which any SMS may reach a client (data: reminder_rules.yaml's ``send_window``).

One place for it: reminders are planned inside it (``send_moment``), and
messages that are not planned reminders (the welcome SMS, broadcasts) wait
for it (``next_send_moment``).
"""
from __future__ import annotations

import datetime as dt

from gateway.core import clock
from gateway.schedules import reminder_rules


def send_moment(day: dt.date, preferred_hour: int, zone: str) -> dt.datetime:
    """UTC moment of the client's preferred hour on ``day``, pulled inside the send window."""
    rules = reminder_rules()
    hour = min(max(preferred_hour, rules.window_start_hour), rules.window_end_hour - 1)
    return clock.utc_of_local(day, hour, zone)


def next_send_moment(zone: str, now: dt.datetime) -> dt.datetime:
    """The first UTC moment at or after ``now`` inside the send window in ``zone``: ``now`` itself when inside it.

    For messages that are not planned reminders (the welcome SMS, broadcasts):
    outside the window they wait for the next day's first send hour, never the night.
    """
    today = clock.local_date(zone, now)
    opens = send_moment(today, 0, zone)  # an hour before the window is pulled to its start
    if now < opens:
        return opens
    if now < clock.utc_of_local(today, reminder_rules().window_end_hour, zone):
        return now
    return send_moment(today + dt.timedelta(days=1), 0, zone)


def reminder_hours() -> tuple[int, int]:
    """The first and last local hour a client may choose for her reminders: the send window's hours."""
    rules = reminder_rules()
    return rules.window_start_hour, rules.window_end_hour - 1
