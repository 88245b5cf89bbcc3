"""The PIN rule: three wrong PINs in a row lock what the PIN protects for 30 minutes.

Pure, so the caller's ``verify_pin`` (which holds the stored hash and the
failure count) and the tests apply the same rule.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

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


@dataclass
class PinLedger:
    """A caller's PIN as one request sees it, and every attempt made during it: pure, in memory.

    The step asks ``verify`` (the context's ``verify_pin``), which applies the
    rule to the stored counts and notes the attempt; it touches no database,
    Redis or audit. ``read`` gives the stored hash's matcher, the failures and
    the lock, once, when a PIN is first typed (most requests type none).
    After the step the caller stores what ``attempts`` holds
    (``gateway.ussd.pins``), so every PIN checked counts, typed live or inside
    a replayed path.
    """

    read: Callable[[], tuple[Callable[[str], bool], int, dt.datetime | None]]
    locked_until: dt.datetime | None  # as known before the step: whether a PIN screen is shown at all
    now: dt.datetime
    attempts: list[tuple[bool, str | None]] = field(default_factory=list)  # (matched, the PIN if it matched)
    _held: tuple | None = field(default=None, repr=False)

    def locked(self) -> bool:
        return is_locked(self.locked_until, self.now)

    def verify(self, pin: str) -> str:
        if self._held is None:
            self._held = self.read()
        matches, failures, locked_until = self._held
        matched = matches(pin)
        attempt = check_pin_attempt(matched, failures, locked_until, self.now)
        self._held = (matches, attempt.failures, attempt.locked_until)
        self.locked_until = attempt.locked_until
        self.attempts.append((matched, pin if matched else None))
        return attempt.verdict
