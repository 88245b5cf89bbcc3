"""The PIN rule: three wrong PINs in a row lock what the PIN protects for 30 minutes.

Pure, so the caller's ``verify_pin`` (which holds the stored hash and the
failure count) and the tests apply the same rule.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_FAILURES = 3
LOCK_MINUTES = 30


@dataclass(frozen=True)
class PinAttempt:
    """The verdict on one PIN typed, and what to store: failures in a row and the lock's end (naive UTC)."""

    verdict: str  # "ok" | "wrong" | "locked"
    failures: int
    locked_until: dt.datetime | None


def is_locked(locked_until: dt.datetime | None, now: dt.datetime) -> bool:
    """True while a lock set at an earlier attempt still holds."""
    return locked_until is not None and now < locked_until


def check_pin_attempt(matches: bool, failures: int, locked_until: dt.datetime | None,
                      now: dt.datetime) -> PinAttempt:
    """Apply one attempt: ``matches`` is whether the typed PIN matched the stored hash.

    While locked every attempt is refused, right or wrong (so guessing goes
    nowhere). A lock that has run out starts the count again. The attempt that
    makes ``MAX_FAILURES`` wrong in a row sets the lock and is answered "locked".
    """
    if is_locked(locked_until, now):
        return PinAttempt("locked", failures, locked_until)
    if locked_until is not None:  # an old lock, run out
        failures = 0
    if matches:
        return PinAttempt("ok", 0, None)
    failures += 1
    if failures >= MAX_FAILURES:
        return PinAttempt("locked", failures, now + dt.timedelta(minutes=LOCK_MINUTES))
    return PinAttempt("wrong", failures, None)
