"""The USSD service: one request of a session in, one screen out.

``handle(UssdRequest) -> Screen(text, end)`` is what the Africa's Talking
callback (``gateway/interfaces/callbacks/ussd.py``), ``flask ussd simulate`` and the
console's USSD phone (``gateway/interfaces/console/views/phone.py``) call.
It knows sessions, paths and screens, not HTTP: the callback adds ``CON ``
or ``END `` and speaks AT's field names.

One request:

1. Under the session's lock (AT retries while a slow answer is still being
   made), the session record is read (``sessions.SessionStore``). A record of
   another number ends the request: a session id is not shared.
2. The caller is the one the session began with, else found by number
   (``context.find_caller``): client, coordinator or unknown, and with her the
   menu. A request whose path is the one already answered gets the same reply
   again, and nothing is done twice.
3. The newest answer is what the path adds to the recorded one
   (``sessions.latest_answer``), and one engine step (``menus.step``) gives the
   reply. Without a usable record (expired, Redis flushed or down, a path that
   does not extend it) the whole path is replayed from the first screen, and
   only the newest answer acts. The step is pure: its PIN checks go to a
   ledger in memory (``pins.ledger_for``), stored after it (``pins.store``),
   so a PIN counts however it arrives.
4. An effect is carried out once per session and step (``services.execute``);
   if it does not go as its screen says, ``menus.outcome_reply`` replaces it.
5. The record is saved; the reply goes back.

Nothing raises to the caller but ``BadRequest`` (a request that is not one):
anything unexpected is logged, rolled back, and answered with a short
"not available now" END in the caller's language. Every screen fits the
limit of the caller's network, ``CON ``/``END `` included.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Mapping, NamedTuple

from flask import Flask, current_app

import menus

from gateway.adapters.database import db
from gateway.i18n import language as supported_language
from gateway.i18n import render
from gateway.core.phones import PhoneError, masked, normalise
from gateway.ussd import effects as services, pins, sessions
from gateway.ussd.context import Caller, CallerChanged, build_context, find_caller, recall_caller
from gateway.ussd.sessions import (BusySession, SessionRecord, SessionStore, answers_of, extends, latest_answer,
                                   path_digest)
from menus.engine import SECRET_FIELDS

log = logging.getLogger(__name__)

# Screen limits (CON/END included) of networks that differ from USSD_MAX_CHARS, by AT's networkCode.
# Safaricom (Kenya) 160, Airtel Kenya 184; every other network gets USSD_MAX_CHARS. A network that
# cuts Portuguese screens (sent as UCS-2) gets a lower value here.
PER_NETWORK_MAX_CHARS: Mapping[str, int] = {"63902": 160, "63903": 184}
# A path longer than this many answers is not replayed: no one answers that many screens in
# AT's 180 s, and a replay costs a step per answer. Such a request starts the menu afresh.
MAX_REPLAY_ANSWERS = 40
MAX_SESSION_ID_CHARS = 80  # ussd_sessions.session_id


@dataclass(frozen=True)
class UssdRequest:
    """One request of a USSD session, in the network's terms but without its field names."""

    session_id: str
    phone: str  # as the network sends it; any form ``phones.normalise`` reads
    path: str = ""  # every answer so far joined by "*"; "" on a session's first request
    network: str | None = None  # the mobile network's code, for its screen limit
    service_code: str | None = None
    # The screens' language instead of the caller's own (the console's USSD phone; AT never sets it).
    language: str | None = None


class Screen(NamedTuple):
    """What the phone shows: ``text`` (no CON/END), and whether the session ends with it."""

    text: str
    end: bool


class BadRequest(ValueError):
    """A request that cannot be a USSD session's (no session id, an unusable number)."""


def init_app(app: Flask) -> None:
    """Read and check every menu at every screen limit in use, and that every effect a menu's end screen
    asks for has a handler: a broken menu stops the start (``menus.MenuError``), not a caller's session."""
    with app.app_context():
        loaded = menus.load_all(screen_limits())
    check_handlers(loaded, services.HANDLERS)
    app.extensions["ussd_menus"] = loaded
    from gateway.clients import erasure

    erasure.after_erasure(sessions.forget_phone)  # an erased client's live session records go too


def check_handlers(loaded: Mapping[str, menus.Menu], handlers: Mapping[tuple[str, str], object]) -> None:
    """Every (menu, action) an end screen names has a handler, and every handler an action a menu may name."""
    wanted = {(name, screen.effect["action"]) for name, menu in loaded.items()
              for screen in menu.screens.values() if screen.effect}
    problems = [f"menus/{name}.yaml: the action {action!r} has no handler in gateway/ussd/effects.py (HANDLERS)"
                for name, action in sorted(wanted - set(handlers))]
    problems += [f"gateway/ussd/effects.py: HANDLERS names the action {action!r} for the {name!r} menu, "
                 f"which is not an action menus know (menus.ACTIONS)"
                 for name, action in sorted(handlers) if action not in menus.ACTIONS]
    if problems:
        raise menus.MenuError(problems)


def screen_limits() -> tuple[int, ...]:
    """Every screen limit callers may have: ``USSD_MAX_CHARS`` and the per-network ones."""
    return tuple(sorted({current_app.config["SETTINGS"].ussd_max_chars, *PER_NETWORK_MAX_CHARS.values()}))


def max_chars_for(network: str | None) -> int:
    """The screen limit (CON/END included) for a network code."""
    return menus.screen_limit(network, current_app.config["SETTINGS"].ussd_max_chars, PER_NETWORK_MAX_CHARS)


def _menus() -> Mapping[str, menus.Menu]:
    return current_app.extensions["ussd_menus"]  # read and checked once, by init_app


def handle(request: UssdRequest) -> Screen:
    """Answer one request of a USSD session (see the module's docstring). Raises only ``BadRequest``."""
    session_id = (request.session_id or "").strip()
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        raise BadRequest(f"a session id is 1 to {MAX_SESSION_ID_CHARS} characters")
    try:
        phone = normalise(request.phone, current_app.config["SETTINGS"].default_country)
    except PhoneError as exc:
        raise BadRequest(f"phone number: {exc}") from None
    limit = max_chars_for(request.network)
    caller = None
    store = _store()
    try:
        with store.locked(session_id) as held:
            record = held.record
            if record is not None and record.phone != phone:
                return _not_yours(session_id, find_caller(phone), limit)
            # The caller a session began with stays its caller (the same menu throughout; a client without a query).
            caller = (recall_caller(phone, record.caller) if record is not None else None) or find_caller(phone)
            caller.chosen_language = request.language
            return _answer(held, session_id, request.path or "", caller, limit, record)
    except BusySession:
        log.warning("USSD session %s: still answering an earlier request; this one gave up", session_id)
    except CallerChanged:
        db.session.rollback()
        log.warning("USSD session %s: its client's number changed during the session; ended", session_id)
    except Exception:
        db.session.rollback()
        log.exception("USSD session %s of %s failed", session_id, masked(phone))
    return _unavailable(_language(caller, phone, request.language), limit)


def _language(caller: Caller | None, phone: str, chosen: str | None = None) -> str:
    """The caller's language for a last screen, as far as it can still be found out."""
    if chosen:
        return supported_language(chosen)
    if caller is not None:
        return caller.language
    try:
        return find_caller(phone).language
    except Exception:  # the database is what failed
        db.session.rollback()
        return "en"


def _store() -> SessionStore:
    try:
        return SessionStore(sessions.connection())
    except Exception as exc:  # the embedded Redis would not start: sessions run on their paths alone
        store = SessionStore(None)
        store._failed("connect", exc)
        return store


def _unavailable(language: str, limit: int) -> Screen:
    return Screen(render("ussd.unavailable", language)[:limit - menus.PREFIX_CHARS], True)


def _answer(held: sessions.Held, session_id: str, path: str, caller: Caller, limit: int,
            record: SessionRecord | None) -> Screen:
    if record is None and path:
        # Going on with a session whose record is gone: not one the network reported ended for another number.
        # (A first request touches nothing of anyone's, so it is not looked up.)
        kept = services.session_phone(session_id)
        if kept is not None and kept not in (caller.phone, masked(caller.phone)):
            return _not_yours(session_id, caller, limit)
    if record is not None and record.path == path_digest(path):
        return Screen(record.reply_text, record.reply_end)  # AT's retry: the same screen, nothing done again

    menu = _menus()[caller.kind]
    ledger = pins.ledger_for(caller)
    ctx = build_context(caller, limit, ledger)
    if record is not None and extends(record.path, path):
        # A late retry of an earlier request (AT gave up on it and went on): its screen again, rebuilt
        # without acting, and the session stays where it is. Its PINs were stored when first answered.
        reply, _ = _replay(menu, path, ctx)
        return Screen(reply.text, reply.end)
    answer = latest_answer(record.path, path) if record is not None and record.state is not None else None
    if answer is not None:
        reply, state = menus.step(menu, record.state, answer, ctx)
    elif path == "":
        reply, state = menus.step(menu, None, "", ctx)
    else:
        reply, state = _replay(menu, path, ctx)
    pins.store(caller, ledger)  # every PIN the step checked counts, replayed ones too
    services.record_reads(caller)  # a coordinator's look-up of a client, audited after the step
    if reply.effect:
        outcome = services.execute(reply.effect, caller, session_id, len(path))
        if outcome != "done":
            reply = menus.outcome_reply(reply.effect, outcome, state["lang"], ctx)
    # A state holding a new PIN (typed, not yet confirmed) is not kept: the next request replays the path.
    kept_state = None if SECRET_FIELDS & set(state.get("answers") or ()) else state
    held.keep(SessionRecord(caller.phone, path_digest(path), kept_state, reply.text, reply.end, caller.key))
    return Screen(reply.text, reply.end)


def _replay(menu: menus.Menu, path: str, ctx: menus.Context):
    """The reply to the last answer of ``path``, every earlier answer replayed from the first screen.

    Earlier answers act on nothing: an effect among them (only a path split
    wrongly at a typed ``*`` has one) is not carried out. Their PINs are
    checked through the same ledger as the last answer's, so they count.
    """
    answers = answers_of(path)
    if not answers or len(answers) > MAX_REPLAY_ANSWERS:
        return menus.step(menu, None, "", ctx)
    reply, state = menus.step(menu, None, "", ctx)
    for answer in answers:
        if reply.end:  # the session ended on the way (a locked PIN): the rest is not read, nothing acts
            return dataclasses.replace(reply, effect=None), state
        reply, state = menus.step(menu, state, answer, ctx)
    return reply, state


def _not_yours(session_id: str, caller: Caller, limit: int) -> Screen:
    # Someone else's session id: end this request, keep theirs as it is.
    log.warning("USSD session %s: used by another number (%s); refused", session_id, masked(caller.phone))
    return _unavailable(caller.language, limit)


__all__ = ["UssdRequest", "Screen", "BadRequest", "handle", "init_app", "max_chars_for", "screen_limits",
           "PER_NETWORK_MAX_CHARS"]
