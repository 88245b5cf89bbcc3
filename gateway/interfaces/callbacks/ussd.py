"""``POST /ussd`` and ``POST /ussd/events``: Africa's Talking's USSD session callback and end-of-session notification.

The only place that knows AT's USSD field names and its ``CON ``/``END ``
replies. A session callback is parsed into ``AtUssdCallback``, handed to
``gateway.ussd.handle`` as a neutral ``UssdRequest``, and the screen that
comes back is answered as ``text/plain``: ``CON <text>`` while the session
goes on, ``END <text>`` when it is over. A callback that is not one (no
session id or phone number, not a form) gets a 400; every other request, even
one the gateway fails on, gets a screen, since an error status would only
end the caller's session with the operator's own message.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from flask import current_app

from gateway import ussd
from gateway.adapters.database import db
from gateway.i18n import render
from gateway.core.phones import PhoneError, normalise
from gateway.interfaces.callbacks import BadCallback, ControlCharacter, bp, form

log = logging.getLogger(__name__)

# A path of answers longer than this is not a session's (operators take 80-90 characters an answer).
MAX_TEXT_CHARS = 4000
PLAIN = {"Content-Type": "text/plain; charset=utf-8"}


@dataclass(frozen=True)
class AtUssdCallback:
    """AT's USSD session callback: ``sessionId, serviceCode, phoneNumber, networkCode, text``."""

    session_id: str
    phone_number: str
    service_code: str | None
    network_code: str | None
    text: str  # every answer so far joined by "*"; "" on the first request

    @classmethod
    def from_form(cls) -> "AtUssdCallback":
        fields = form("sessionId", "phoneNumber", optional=("serviceCode", "networkCode", "text"),
                      max_len=MAX_TEXT_CHARS, answers=("text",))
        session_id = fields["sessionId"].strip()
        if len(session_id) > ussd.MAX_SESSION_ID_CHARS:
            raise BadCallback("field too long: sessionId")
        return cls(session_id=session_id, phone_number=fields["phoneNumber"].strip(),
                   service_code=fields.get("serviceCode"), network_code=(fields.get("networkCode") or "").strip(),
                   text=fields.get("text", ""))

    def request(self) -> ussd.UssdRequest:
        return ussd.UssdRequest(session_id=self.session_id, phone=self.phone_number, path=self.text,
                                network=self.network_code or None, service_code=self.service_code)


@bp.post("/ussd")
def ussd_session():
    try:
        callback = AtUssdCallback.from_form()
    except ControlCharacter as exc:
        # A screen, not a 400 (an error status ends her session with the operator's own words); nothing kept.
        log.info("USSD callback refused: %s", exc.reason)
        limit = current_app.config["SETTINGS"].ussd_max_chars
        return "END " + render("ussd.failed", "en")[:limit - 4], 200, PLAIN
    try:
        screen = ussd.handle(callback.request())
    except ussd.BadRequest as exc:
        raise BadCallback(str(exc)) from None
    except Exception:  # handle() answers its own failures; this is the last guard against a 500
        db.session.rollback()
        log.exception("USSD callback failed")
        limit = current_app.config["SETTINGS"].ussd_max_chars
        screen = ussd.Screen(render("ussd.unavailable", "en")[:limit - 4], True)
    return at_reply(screen.text, screen.end), 200, PLAIN


def at_reply(text: str, end: bool) -> str:
    """AT's USSD reply body: ``CON `` (more input) or ``END `` (session over), then the screen.

    The one place that writes them; the console's phone and the terminal
    simulator ask it to show a screen as the handset gets it.
    """
    return ("END " if end else "CON ") + text


@dataclass(frozen=True)
class AtUssdNotification:
    """AT's end-of-session notification. ``input`` and ``lastAppResponse`` are read but not kept (a PIN, dates)."""

    session_id: str
    phone: str
    service_code: str | None
    network_code: str | None
    status: str | None  # Incomplete | Success | Failed
    cost: str | None
    duration_ms: int | None
    hops: int | None
    error_message: str | None
    ended_at: dt.datetime | None  # naive UTC

    @classmethod
    def from_form(cls) -> "AtUssdNotification":
        fields = form("sessionId", "phoneNumber", optional=(
            "date", "serviceCode", "networkCode", "status", "cost", "durationInMillis", "hopsCount", "input",
            "lastAppResponse", "errorMessage"), max_len=MAX_TEXT_CHARS)
        session_id = fields["sessionId"].strip()
        if len(session_id) > ussd.MAX_SESSION_ID_CHARS:
            raise BadCallback("field too long: sessionId")
        try:
            phone = normalise(fields["phoneNumber"], current_app.config["SETTINGS"].default_country)
        except PhoneError as exc:
            raise BadCallback(f"phoneNumber: {exc}") from None
        return cls(session_id=session_id, phone=phone, service_code=fields.get("serviceCode"),
                   network_code=fields.get("networkCode"), status=fields.get("status"), cost=fields.get("cost"),
                   duration_ms=_whole(fields, "durationInMillis"), hops=_whole(fields, "hopsCount"),
                   error_message=fields.get("errorMessage"), ended_at=_utc(fields.get("date")))


def _whole(fields: dict[str, str], name: str) -> int | None:
    raw = (fields.get(name) or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise BadCallback(f"{name}: must be a whole number")
    return int(raw)


def _utc(raw: str | None) -> dt.datetime | None:
    """AT's ``date``: UTC ``yyyy-MM-dd HH:mm:ss`` (ISO forms with a zone are read too)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadCallback("date: must be yyyy-MM-dd HH:mm:ss (UTC)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


@bp.post("/ussd/events")
def ussd_session_ended():
    note = AtUssdNotification.from_form()
    ussd.services.record_session_end(
        note.session_id, note.phone, service_code=note.service_code, network_code=note.network_code,
        status=note.status, cost=note.cost, duration_ms=note.duration_ms, hops=note.hops,
        error_message=note.error_message, ended_at=note.ended_at)
    db.session.commit()
    return "ok\n", 200, PLAIN
