"""The USSD phone: a feature phone on a page, playing real sessions through ``gateway.ussd.handle``.

Each Send is a form post carrying what Africa's Talking would send: the
session id (``SIMUid_…``, made here on Dial, as ``flask ussd simulate``
makes it), the number, the network code and the cumulative ``text`` (every
answer so far joined by ``*``). The view hands them to ``ussd.handle``, the
one function ``POST /ussd`` calls, and shows the screen that comes back. So
the menus, session records, replay and effects are the real ones: a request
to join appears on Today, a client's pick-up is recorded. Sending the same
form again (a reload) is AT's retry: the same screen, nothing done twice.

Who may play as whom (checked on every post, through ``ussd.context.find_caller``,
the same look-up the session makes): anyone as a number that is no one's; a
coordinator as a client of her own sites or as herself; an admin as anyone.
Playing as a real person's number shows her details as the phone would, so it
is audited once per session (``ussd_phone.played``, with the session id that
the effects' own ledger entries carry).
"""
from __future__ import annotations

import datetime as dt
import logging
import re

import phonenumbers
from flask import current_app, render_template, request
from flask_login import current_user
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from sqlalchemy import select

from gateway.core import audit, clock
from gateway import ussd
from gateway.interfaces.callbacks.ussd import MAX_TEXT_CHARS
from gateway.core.countries import LANGUAGES
from gateway.adapters.database import db
from gateway.i18n import render
from gateway.core.models import AuditEntry
from gateway.core.phones import PhoneError, normalise
from gateway.ussd.context import Caller, find_caller, first_site
from gateway.interfaces.callbacks.ussd import at_reply
from gateway.interfaces.simulator import session_id as new_session_id
from gateway.interfaces.console import bp, scope
from gateway.interfaces.console.auth import actor
from gateway.interfaces.console.views import int_arg

log = logging.getLogger(__name__)

FIELDS = ("phone", "network", "language", "session", "text", "screen", "end", "answer")
KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
DELETE = "del"
# An answer is typed into one screen; AT passes up to 182 characters.
MAX_ANSWER_CHARS = 182
SESSION_ID = re.compile(r"SIMUid_[0-9a-f]{32}")
NETWORK_NAMES = {"63902": "Safaricom, Kenya", "63903": "Airtel, Kenya"}
AUDIT_ACTION = "ussd_phone.played"
REFUSED = ("You may play as a number that is not enrolled, a client of your own sites, or yourself. "
           "This number is none of these.")


def _country() -> str:
    """Where a typed number is read and the test number comes from: the user's first site's country."""
    site = first_site(current_user.user)
    return site.country if site else current_app.config["SETTINGS"].default_country


def made_up_number(country: str) -> str:
    """A made-up mobile number of ``country`` (its numbering plan's example) that is nobody's here."""
    example = phonenumbers.example_number_for_type(country, PhoneNumberType.MOBILE)
    if example is None:
        example = phonenumbers.example_number_for_type("ZA", PhoneNumberType.MOBILE)
    base = phonenumbers.format_number(example, PhoneNumberFormat.E164)
    for step in range(100):
        candidate = base[:-2] + f"{(int(base[-2:]) + step) % 100:02d}"
        if find_caller(candidate).kind == "unknown":
            return candidate
    return base


def _player(raw: str) -> tuple[Caller | None, str | None, int]:
    """The caller this number is, if the user may play as it: (caller, None, 200), else (None, why, status)."""
    try:
        phone = normalise(raw, _country())
    except PhoneError as exc:
        return None, str(exc), 422
    caller = find_caller(phone)
    if current_user.is_admin or caller.kind == "unknown":
        return caller, None, 200
    if caller.kind == "client" and caller.client.site_id in current_user.site_ids:
        return caller, None, 200
    if caller.kind == "coordinator" and caller.user.id == current_user.user.id:
        return caller, None, 200
    return None, REFUSED, 403


def _audit_once(caller: Caller, sid: str, values: dict[str, str]) -> None:
    """Record, once per session, that this user plays as a real person's number."""
    if caller.kind == "unknown":
        return
    entity, row = ("client", caller.client) if caller.kind == "client" else ("user", caller.user)
    since = clock.utcnow() - dt.timedelta(days=1)
    earlier = db.session.scalars(select(AuditEntry.changes).where(
        AuditEntry.actor == actor(), AuditEntry.action == AUDIT_ACTION, AuditEntry.entity == entity,
        AuditEntry.entity_id == row.id, AuditEntry.at >= since))
    if any(isinstance(c, dict) and c.get("session") == sid for c in earlier):
        return
    audit.record(actor(), AUDIT_ACTION, entity, row.id,
                 {"session": sid, "menu": caller.kind, "network": values["network"] or None,
                  "language": values["language"] or None})
    db.session.commit()


def _play(caller: Caller, values: dict[str, str]) -> tuple[ussd.Screen | None, str | None]:
    """One request through ``ussd.handle``, as ``POST /ussd`` makes it. Returns (screen, None) or (None, why)."""
    _audit_once(caller, values["session"], values)
    settings = current_app.config["SETTINGS"]
    try:
        screen = ussd.handle(ussd.UssdRequest(
            session_id=values["session"], phone=caller.phone, path=values["text"], network=values["network"] or None,
            service_code=settings.ussd_service_code, language=values["language"] or None))
    except ussd.BadRequest as exc:
        return None, str(exc)
    except Exception:  # as the endpoint: handle() answers its own failures; this is the last guard
        db.session.rollback()
        log.exception("USSD phone: the session failed")
        limit = ussd.max_chars_for(values["network"] or None)
        screen = ussd.Screen(render("ussd.unavailable", values["language"] or "en")[:limit - 4], True)
    return screen, None


def _who(caller: Caller | None) -> dict | None:
    """What the page says about the number being played."""
    if caller is None:
        return None
    own = LANGUAGES.get(caller.language, caller.language)  # hers, or her number's country's
    if caller.kind == "client":
        client = caller.client
        return {"kind": "client", "real": True, "name": client.name or "(no name)",
                "site": client.site.name if client.site else None, "own": own}
    if caller.kind == "coordinator":
        mine = caller.user.id == current_user.user.id
        return {"kind": "coordinator", "real": True, "mine": mine, "own": own,
                "name": caller.user.name or caller.user.email}
    return {"kind": "unknown", "real": False, "own": own}


def _render(values: dict[str, str], errors: dict[str, str] | None = None, status: int = 200, *,
            caller: Caller | None = None, in_call: bool = False, note: str | None = None):
    default_limit = current_app.config["SETTINGS"].ussd_max_chars
    networks = [("", f"Any other network ({default_limit})")] + [
        (code, f"{NETWORK_NAMES.get(code, 'Network')} {code} ({limit})")
        for code, limit in sorted(ussd.PER_NETWORK_MAX_CHARS.items())]
    languages = [("", "The caller's own")] + list(LANGUAGES.items())
    limit = ussd.max_chars_for(values.get("network") or None)
    shown = at_reply(values.get("screen", ""), bool(values.get("end")))
    return render_template(
        "console/phone.html", values=values, errors=errors or {}, in_call=in_call, who=_who(caller), note=note,
        networks=networks, languages=languages, keys=KEYS, delete=DELETE, limit=limit, shown_chars=len(shown),
        network_titles=NETWORK_NAMES, language_names=dict(languages), max_answer=MAX_ANSWER_CHARS,
        service_code=current_app.config["SETTINGS"].ussd_service_code), status


@bp.get("/phone")
def phone():
    values = dict.fromkeys(FIELDS, "")
    client_id = int_arg("client")
    if client_id is not None:
        values["phone"] = scope.client_or_404(client_id).phone
        audit.viewed(actor(), client_id, "console phone")  # her number is on the page
        db.session.commit()
    else:
        values["phone"] = made_up_number(_country())
    return _render(values)


@bp.post("/phone")
def phone_post():
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    values["answer"] = request.form.get("answer", "")[:MAX_ANSWER_CHARS]  # spaces may be part of an answer
    values["screen"] = values["screen"].replace("\r\n", "\n")  # a form sends the shown screen's lines as CRLF
    action, key = request.form.get("action", ""), request.form.get("key")
    errors: dict[str, str] = {}
    if values["network"] and values["network"] not in ussd.PER_NETWORK_MAX_CHARS:
        errors["network"] = "choose one of the networks listed"
    if values["language"] and values["language"] not in LANGUAGES:
        errors["language"] = "choose one of the languages listed"
    caller, why, status = _player(values["phone"])
    if why:
        errors["phone"] = why
    if errors:
        return _render({**values, "session": "", "text": ""}, errors, status if why else 422)
    values["phone"] = caller.phone

    if action == "dial" and key is None:
        values.update(session=new_session_id(), text="", answer="")
    else:
        if not SESSION_ID.fullmatch(values["session"]):
            return _render({**values, "session": ""}, {"form": "There is no call going on: dial first."}, 400)
        if action == "hangup" and key is None:
            return _render({**values, "session": "", "text": "", "answer": ""}, caller=caller, note="You hung up.")
        if values["end"]:
            return _render(values, {"form": "The session has ended: dial again."}, 409, caller=caller, in_call=True)
        if key is not None:  # a keypad key without the page's script: type it, send nothing
            if key == DELETE:
                values["answer"] = values["answer"][:-1]
            elif key in KEYS and len(values["answer"]) < MAX_ANSWER_CHARS:
                values["answer"] += key
            return _render(values, caller=caller, in_call=True)
        if action != "send":
            return _render(values, {"form": "Press Send, or hang up."}, 400, caller=caller, in_call=True)
        # AT's text: every answer so far joined by "*".
        values["text"] = values["answer"] if values["text"] == "" else values["text"] + "*" + values["answer"]
        values["answer"] = ""
        if len(values["text"]) > MAX_TEXT_CHARS:
            return _render({**values, "session": "", "text": ""},
                           {"form": "This session is too long for the network: dial again."}, 422, caller=caller)

    screen, why = _play(caller, values)
    if why:
        return _render({**values, "session": "", "text": ""}, {"phone": why}, 422)
    values.update(screen=screen.text, end="1" if screen.end else "")
    return _render(values, caller=caller, in_call=True)
