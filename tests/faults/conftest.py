"""Fault drills reuse the AT-wired gateway fixtures of the reminder tests."""
from tests.reminders.conftest import at, gateway  # noqa: F401
