"""A phone for the menus: dial, send answers, read the screens as the adapter would send them."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

import menus
from gateway import i18n
from menus import Context, check_pin_attempt

TODAY = dt.date(2025, 11, 25)  # a Tuesday
NOW = dt.datetime(2025, 11, 25, 8, 0)


class PinStore:
    """What the adapter keeps for one PIN (hash match, failures, lock), with the real rule applied."""

    def __init__(self, pin: str = "1234"):
        self.pin, self.failures, self.locked_until, self.now = pin, 0, None, NOW

    def verify(self, typed: str) -> str:
        attempt = check_pin_attempt(typed == self.pin, self.failures, self.locked_until, self.now)
        self.failures, self.locked_until = attempt.failures, attempt.locked_until
        return attempt.verdict

    @property
    def locked(self) -> bool:
        return menus.is_locked(self.locked_until, self.now)


class Phone:
    """One handset in one USSD session; ``screen`` is what the adapter would answer (CON/END included)."""

    def __init__(self, menu: str, **context):
        self.menu = menus.get(menu)
        # The languages offered with the shipped catalogues only (no staff texts here): English, pt and sw.
        context.setdefault("languages", i18n.offered_languages())
        self.ctx = Context(today=TODAY, **context)
        self.state = None
        self.reply = None
        self.effects: list[dict] = []

    def _take(self, reply, state) -> str:
        # The state goes through JSON, as it does through Redis.
        self.reply, self.state = reply, json.loads(json.dumps(state))
        assert len(self.screen) <= self.ctx.max_chars
        if reply.effect:
            self.effects.append(dict(reply.effect))
        return self.screen

    @property
    def screen(self) -> str:
        return ("END " if self.reply.end else "CON ") + self.reply.text

    def dial(self) -> str:
        return self._take(*menus.step(self.menu, None, "", self.ctx))

    def send(self, text: str) -> str:
        return self._take(*menus.step(self.menu, self.state, text, self.ctx))

    def context(self, **changes) -> None:
        self.ctx = dataclasses.replace(self.ctx, **changes)


@pytest.fixture
def phone():
    """``phone("client", language="sw", ...)``: a new handset on a menu, with a context."""
    return Phone


@pytest.fixture
def pins():
    return PinStore()
