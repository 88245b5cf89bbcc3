"""Messages in and out beyond reminders: delivery reports, inbound SMS, opt-out and opt-in, one-off sends."""
from __future__ import annotations

import logging

from sqlalchemy import select

from gateway.core import audit, clock
from gateway.adapters.database import db
from gateway.i18n import render, stop_words, start_words
from gateway.core.models import Client, Message, Reminder, Task
from gateway.tasks import follow_up, note_failure

log = logging.getLogger(__name__)

# AT delivery statuses: final ones decide; the others say it is on its way.
DELIVERED = {"Success"}
FAILED = {"Failed", "Rejected", "Expired"}
IN_FLIGHT = {"Sent", "Submitted", "Buffered"}


def delivery_report(provider_id: str, status: str, failure_reason: str | None) -> bool:
    """Apply one AT delivery report. Idempotent; a late non-final report never undoes a final one.

    Returns True if anything changed. Raises LookupError for an unknown message id,
    ValueError for an unknown status.
    """
    if status not in DELIVERED | FAILED | IN_FLIGHT:
        raise ValueError(f"unknown delivery status: {status[:30]}")
    message = db.session.scalar(select(Message).where(Message.provider_id == provider_id,
                                                      Message.direction == "out").with_for_update())
    if message is None:
        raise LookupError("unknown message id")
    if message.status in ("delivered", "failed") or status in IN_FLIGHT:
        return False  # final already (a duplicate or out-of-order report), or not final yet
    reminder = db.session.get(Reminder, message.reminder_id) if message.reminder_id else None
    client = db.session.get(Client, message.client_id) if message.client_id else None
    now = clock.utcnow()
    if status in DELIVERED:
        message.status, message.delivered_at = "delivered", now
        if reminder is not None:
            reminder.status = "delivered"
        if client is not None:
            client.consecutive_failures = 0
    else:
        message.status, message.failure_reason = "failed", (failure_reason or status)[:64]
        if reminder is not None:
            reminder.status = "failed"
        if client is not None:
            note_failure(client, message)
    return True


def _keyword(text: str) -> str:
    """A reply reduced for keyword matching: upper case, no spaces ("Stop all" -> "STOPALL")."""
    return "".join(text.upper().split())


def _is(text: str, words: frozenset[str]) -> bool:
    return _keyword(text) in {_keyword(w) for w in words}


def inbound(phone: str, text: str, provider_id: str, to: str | None = None) -> Message:
    """Store an inbound SMS once (AT retries) and act on STOP / START; anything else waits for a person."""
    key = f"in:{provider_id}"[:64]
    existing = db.session.scalar(select(Message).where(Message.provider_id == key))
    if existing is not None:
        return existing  # AT's retry of a message we already have
    client = db.session.scalar(select(Client).where(Client.phone == phone))
    message = Message(client_id=client.id if client else None, direction="in", phone=phone, text=text[:1600],
                      status="received", backend="africastalking", provider_id=key)
    db.session.add(message)
    db.session.flush()
    if client is not None and _is(text, stop_words()):
        set_opt_out(client, True, f"sms:{client.id}")
    elif client is not None and _is(text, start_words()):
        set_opt_out(client, False, f"sms:{client.id}")
    else:
        db.session.add(Task(kind="inbound_sms", client_id=client.id if client else None,
                            site_id=client.site_id if client else None, phone=phone,
                            details={"message_id": message.id}, status="open"))
    return message


def set_opt_out(client: Client, opted_out: bool, actor: str, confirm: bool = True) -> bool:
    """Stop or restart a client's SMS; re-plan her reminders; confirm once by SMS. True if it changed."""
    from gateway import appointments

    if client.opted_out == opted_out:
        return False
    client.opted_out = opted_out
    client.opted_out_at = clock.utcnow() if opted_out else None
    audit.record(actor, "client.opted_out" if opted_out else "client.opted_in", "client", client.id,
                 {"opted_out": [not opted_out, opted_out]})
    appointments.replan(client)
    if confirm and client.status != "closed":  # a closed client is sent nothing, not even this
        # The confirmation goes out even though she has just opted out: it is the one message she asked for.
        queue_message(client, render("sms.opt_out.confirm" if opted_out else "sms.opt_in.confirm", client.language))
    return True


def queue_message(client: Client, text: str, **columns) -> Message | None:
    """Queue a one-off SMS to a client (not a reminder); the next pass, or ``jobs.enqueue_pending`` after commit, sends it.

    ``columns`` sets more of the message (``kind``, ``next_attempt_at``: not before that UTC moment).
    A closed client is sent nothing: no message is made for her (None).
    """
    from flask import current_app

    if client.status == "closed":
        return None

    message = Message(client_id=client.id, direction="out", phone=client.phone, text=text, status="queued",
                      backend=current_app.config["SETTINGS"].sms_backend, attempts=0, **columns)
    db.session.add(message)
    return message


__all__ = ["delivery_report", "inbound", "set_opt_out", "queue_message"]
