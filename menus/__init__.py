"""USSD menus: the three journeys as data (``client``, ``coordinator``, ``unknown``) and the engine that runs them.

The caller (the USSD adapter) picks the menu for the phone number, builds a
``Context`` and calls ``step`` once per request::

    menu = menus.get("client")
    reply, state = menus.step(menu, stored_state, latest_answer, ctx)
    body = ("END " if reply.end else "CON ") + reply.text
    if reply.effect: carry it out (docs/ussd.md lists every action)

``load_all`` reads and checks every menu; call it at start-up so a broken
definition stops the process instead of a caller's session.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable, Mapping

from menus.definitions import check, load_menu, parse_menu
from menus.engine import (
    ACTIONS,
    DEFAULT_MAX_CHARS,
    PREFIX_CHARS,
    SCREEN_TYPES,
    VALIDATORS,
    Context,
    Menu,
    MenuError,
    Reply,
    outcome_reply,
    start,
    step,
)
from menus.pin import LOCK_MINUTES, MAX_FAILURES, PinAttempt, check_pin_attempt, is_locked

MENU_DIR = Path(__file__).resolve().parent
MENU_NAMES = ("client", "coordinator", "unknown")


@functools.cache
def _load(name: str, limits: tuple[int, ...]) -> Menu:
    return load_menu(MENU_DIR / f"{name}.yaml", limits)


def load_all(limits: Iterable[int] = (DEFAULT_MAX_CHARS,)) -> dict[str, Menu]:
    """Every menu, checked at each screen limit in ``limits`` (160 is always among them); ``MenuError`` lists all problems."""
    limits = tuple(sorted({DEFAULT_MAX_CHARS, *limits}))
    menus, problems = {}, []
    for name in MENU_NAMES:
        try:
            menus[name] = _load(name, limits)
        except MenuError as exc:
            problems.extend(exc.errors)
    if problems:
        raise MenuError(problems)
    return menus


def get(name: str) -> Menu:
    """One menu by name, checked at the default screen limit."""
    if name not in MENU_NAMES:
        raise KeyError(f"no menu {name!r}")
    return _load(name, (DEFAULT_MAX_CHARS,))


def screen_limit(network_code: str | None, default: int = DEFAULT_MAX_CHARS,
                 per_network: Mapping[str, int] | None = None) -> int:
    """The screen limit (CON/END included) for an AT ``networkCode``: its own if configured, else ``default``."""
    return (per_network or {}).get((network_code or "").strip(), default)


__all__ = [
    "ACTIONS", "DEFAULT_MAX_CHARS", "PREFIX_CHARS", "SCREEN_TYPES", "VALIDATORS", "Context", "Menu", "MenuError",
    "Reply", "check", "load_menu", "outcome_reply", "parse_menu", "start", "step", "load_all", "get",
    "screen_limit", "MENU_NAMES", "LOCK_MINUTES", "MAX_FAILURES", "PinAttempt", "check_pin_attempt", "is_locked",
]
