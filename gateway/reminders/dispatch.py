"""Dispatch: due reminders become messages, messages go out through the SMS backend.

The database is the source of truth and Redis is transport (docs/reminders.md):

1. ``send_due`` (the periodic pass, every minute) claims due reminders in
   batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at
   a time, which is just as safe), renders each one in the client's language
   and writes a ``queued`` message for it in the same transaction.
2. It then enqueues send jobs for every queued message whose time has come
   and that has not been enqueued in the last ``REENQUEUE_AFTER``: identical
   texts go together so Africa's Talking's bulk mode can carry them. A job
   lost with Redis is simply enqueued again by a later pass.
3. A send job (``send_messages``) claims its messages ``queued -> sending``
   atomically, so two jobs for the same message send it once; sends one
   request per identical text and chunk; records each recipient's outcome.

The crash window: a worker killed after Africa's Talking accepted a request
and before the outcome was committed leaves those messages ``sending``; after
``SENDING_TIMEOUT`` they go back to ``queued`` and are sent again. That is the
only way a message can go out twice, and only the messages of that one request.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
from collections import defaultdict
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from .. import clock
from ..extensions import db
from ..models import Alert, Client, Message, Reminder, Task
from ..phones import masked
from . import texts

log = logging.getLogger(__name__)

CLAIM_BATCH = 500
# A message left "sending" this long was being sent by a worker that died.
# Longer than one AT request can take (the SDK's 3.05 s + 9.05 s timeouts) with room to spare.
SENDING_TIMEOUT = dt.timedelta(minutes=5)
REENQUEUE_AFTER = dt.timedelta(seconds=90)
MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=2)
# Failures in a row before a person is asked to follow the client up.
FAILURES_BEFORE_FOLLOW_UP = 3


@dataclass
class PassCounts:
    claimed: int = 0
    queued: int = 0
    skipped: int = 0
    cancelled: int = 0
    recovered: int = 0
    enqueued_jobs: int = 0
    enqueued_messages: int = 0
    paused: bool = False

    def __str__(self) -> str:
        return (f"claimed {self.claimed} due reminders: {self.queued} queued, {self.skipped} skipped (stale), "
                f"{self.cancelled} cancelled; {self.enqueued_messages} messages in {self.enqueued_jobs} send jobs; "
                f"{self.recovered} recovered from a crash" + ("; SENDING IS PAUSED" if self.paused else ""))


def sending_paused() -> Alert | None:
    """The unresolved pause an admin must lift (``flask reminders resume`` or the console), if any."""
    return db.session.scalar(select(Alert).where(Alert.kind == "sending_paused", Alert.resolved_at.is_(None)))


def sending_blocked(now: dt.datetime) -> str | None:
    """Why nothing may be sent now: a pause, or today's spend cap reached (lifts at 00:00 UTC); else None."""
    paused = sending_paused()
    if paused is not None:
        return paused.message
    cap = current_app.config["SETTINGS"].sms_daily_spend_cap
    if cap is None:
        return None
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    spent = db.session.scalar(select(func.coalesce(func.sum(Message.cost_amount), 0)).where(
        Message.direction == "out", Message.sent_at >= day)) or 0
    if spent < cap:
        return None
    reason = f"Daily SMS spend cap of {cap} reached ({spent} spent today); sending resumes at 00:00 UTC."
    if db.session.scalar(select(Alert.id).where(Alert.kind == "spend_cap", Alert.created_at >= day)) is None:
        db.session.add(Alert(kind="spend_cap", message=reason[:255]))
        db.session.commit()
        log.error("%s", reason)
    return reason


def send_due(now: dt.datetime | None = None, enqueue=None) -> PassCounts:
    """One dispatch pass: claim due reminders, queue their messages, enqueue send jobs. Commits."""
    now = now or clock.utcnow()
    counts = PassCounts()
    counts.recovered = _recover_stuck_sends(now)
    if sending_blocked(now) is None:
        while True:
            batch = _claim_due_reminders(now)
            if not batch:
                break
            counts.claimed += len(batch)
            _queue_messages(batch, now, counts)
            db.session.commit()
    else:
        counts.paused = True
    if not counts.paused:
        enqueue_sends(now, counts, enqueue)
    return counts


def _recover_stuck_sends(now: dt.datetime) -> int:
    result = db.session.execute(update(Message).where(
        Message.status == "sending", Message.sending_started_at < now - SENDING_TIMEOUT,
    ).values(status="queued", enqueued_at=None, last_error="recovered: worker stopped mid-send", updated_at=now))
    db.session.commit()
    if result.rowcount:
        log.warning("recovered %d messages left sending by a stopped worker", result.rowcount)
    return result.rowcount


def _claim_due_reminders(now: dt.datetime) -> list[Reminder]:
    """Atomically move a batch of due reminders scheduled -> queued and return them."""
    due = (select(Reminder.id).where(Reminder.status == "scheduled", Reminder.send_at <= now)
           .order_by(Reminder.send_at).limit(CLAIM_BATCH).with_for_update(skip_locked=True))
    ids = db.session.scalars(
        update(Reminder).where(Reminder.id.in_(due.scalar_subquery()), Reminder.status == "scheduled")
        .values(status="queued", updated_at=now).returning(Reminder.id)).all()
    if not ids:
        db.session.commit()
        return []
    return db.session.scalars(select(Reminder).where(Reminder.id.in_(ids))
                              .options(selectinload(Reminder.appointments))).all()


def _queue_messages(batch: list[Reminder], now: dt.datetime, counts: PassCounts) -> None:
    backend = current_app.config["SETTINGS"].sms_backend
    clients = {c.id: c for c in db.session.scalars(select(Client).where(Client.id.in_({r.client_id for r in batch})))}
    for reminder in batch:
        client = clients[reminder.client_id]
        still_due = [a for a in reminder.appointments if a.status == "due"]
        if client.opted_out or client.phone_flag or not still_due:
            reminder.status, reminder.version = "cancelled", reminder.version + 1
            counts.cancelled += 1
            continue
        if now > reminder.stale_at:
            reminder.status = "skipped"
            counts.skipped += 1
            continue
        db.session.add(Message(
            client_id=client.id, direction="out", phone=client.phone, status="queued", backend=backend,
            text=texts.reminder_text(client, reminder.template, still_due, reminder.due_date),
            reminder_id=reminder.id, reminder_version=reminder.version, attempts=0))
        counts.queued += 1


def enqueue_sends(now: dt.datetime, counts: PassCounts, enqueue=None) -> None:
    """Queue send jobs for messages whose time has come; commit the marks before enqueueing."""
    settings = current_app.config["SETTINGS"]
    rows = db.session.execute(select(Message.id, Message.text, Message.phone).where(
        Message.direction == "out", Message.status == "queued",
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        or_(Message.enqueued_at.is_(None), Message.enqueued_at < now - REENQUEUE_AFTER),
    ).order_by(Message.id)).all()
    if not rows:
        return
    jobs = _group_for_sending([(r.id, r.text, r.phone) for r in rows], settings.at_max_recipients)
    db.session.execute(update(Message).where(Message.id.in_([r.id for r in rows])).values(enqueued_at=now))
    db.session.commit()  # enqueue only after the marks are committed
    if enqueue is None:
        from jobs import enqueue_send as enqueue
    for ids in jobs:
        enqueue(ids)
    counts.enqueued_jobs += len(jobs)
    counts.enqueued_messages += len(rows)


def _group_for_sending(rows: list[tuple[int, str, str]], cap: int) -> list[list[int]]:
    """Message ids in jobs of at most ``cap`` with one text each and no phone twice in a job."""
    by_text: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for mid, text_, phone in rows:
        by_text[text_].append((mid, phone))
    jobs: list[list[int]] = []
    for items in by_text.values():
        chunks: list[tuple[list[int], set[str]]] = []
        for mid, phone in items:
            for ids, phones in chunks:
                if len(ids) < cap and phone not in phones:
                    ids.append(mid)
                    phones.add(phone)
                    break
            else:
                chunks.append(([mid], {phone}))
        jobs.extend(ids for ids, _ in chunks)
    return jobs


# --- the send job -----------------------------------------------------------------------------

@dataclass
class SendCounts:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    cancelled: int = 0
    not_claimed: int = 0

    def add(self, other: "SendCounts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def send_messages(message_ids: list[int], backend=None) -> SendCounts:
    """Send these queued messages (one text per job). Safe to run twice: a message is claimed once."""
    from ..sms import get_backend

    now = clock.utcnow()
    counts = SendCounts()
    if sending_blocked(now) is not None:
        counts.not_claimed = len(message_ids)  # left queued; a pass after the pause is lifted sends them
        return counts
    claimed = db.session.scalars(update(Message).where(
        Message.id.in_(message_ids), Message.status == "queued",
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    ).values(status="sending", sending_started_at=now, attempts=Message.attempts + 1, updated_at=now)
        .returning(Message.id)).all()
    db.session.commit()
    counts.not_claimed = len(message_ids) - len(claimed)
    if not claimed:
        return counts
    messages = db.session.scalars(select(Message).where(Message.id.in_(claimed)).order_by(Message.id)).all()
    live = []
    for message in messages:
        if message.reminder_id is not None:
            reminder = db.session.get(Reminder, message.reminder_id)
            if reminder is None or reminder.version != message.reminder_version or reminder.status != "queued":
                message.status = "cancelled"  # the reminder changed after this message was made
                counts.cancelled += 1
                continue
        live.append(message)
    db.session.commit()
    settings = current_app.config["SETTINGS"]
    backend = backend or get_backend(settings)
    by_id = {m.id: m for m in live}
    # One request per text, no phone twice in a request (AT answers once per number).
    for ids in _group_for_sending([(m.id, m.text, m.phone) for m in live], settings.at_max_recipients):
        group = [by_id[i] for i in ids]
        text_ = group[0].text
        if settings.sms_daily_spend_cap is not None and sending_blocked(clock.utcnow()) is not None:
            for message in group:  # the cap was reached mid-job: these wait, their attempt not counted
                message.status, message.attempts, message.enqueued_at = "queued", message.attempts - 1, None
            counts.not_claimed += len(group)
            db.session.commit()
            continue
        result = backend.send(text_, [m.phone for m in group])
        _record(group, result, clock.utcnow(), counts)
        db.session.commit()  # each request's outcome is kept before the next request goes
    return counts


def _backoff(attempts: int) -> dt.timedelta:
    """Exponential backoff with jitter: a random wait between half and all of 1, 2, 4 ... minutes, capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    return dt.timedelta(seconds=random.uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))


def _record(group: list[Message], result, now: dt.datetime, counts: SendCounts) -> None:
    """Write one request's outcome to its messages, their reminders and clients."""
    paused = result.insufficient_balance or bool(result.account_refusal)
    if paused:
        reason = result.account_refusal or "InsufficientBalance"
        _pause_sending(f"Africa's Talking refused sending: {reason}. Top up or fix the account, then resume.")
    for message in group:
        outcome = result.outcomes.get(message.phone)
        request_problem = result.account_refusal or result.retryable_error
        if outcome is None or (request_problem and outcome.state != "accepted"):
            state, reason = "retry", (request_problem or "no answer for this recipient")
        else:
            state, reason = outcome.state, outcome.reason
        reminder = db.session.get(Reminder, message.reminder_id) if message.reminder_id else None
        client = db.session.get(Client, message.client_id) if message.client_id else None
        if state == "accepted":
            message.status = "outbox" if message.backend == "outbox" else "sent"
            message.provider_id, message.status_code = outcome.provider_id, outcome.status_code
            message.cost_amount, message.cost_currency = outcome.cost_amount, outcome.cost_currency
            message.sent_at, message.last_error = now, None
            if reminder:
                reminder.status = "sent"
            counts.sent += 1
            continue
        message.last_error = (reason or state)[:255]
        message.status_code = outcome.status_code if outcome else None
        if paused and state in ("retry", "failed"):
            # An account problem is not this message's fault: it waits, its attempt not counted.
            message.status, message.attempts, message.enqueued_at = "queued", message.attempts - 1, None
            counts.retry += 1
            continue
        if state == "retry" and message.attempts < MAX_ATTEMPTS:
            message.status, message.next_attempt_at, message.enqueued_at = "queued", now + _backoff(message.attempts), None
            counts.retry += 1
            continue
        message.status, message.failure_reason = "failed", (reason or state)[:64]
        counts.failed += 1
        if reminder:
            reminder.status = "failed"
        if client is not None:
            if state == "permanent":
                client.phone_flag = (reason or "refused by the network")[:40]
                follow_up(client, "undeliverable", {"reason": message.failure_reason, "message_id": message.id})
            else:
                note_failure(client, message)


def _pause_sending(message: str) -> None:
    if sending_paused() is None:
        db.session.add(Alert(kind="sending_paused", message=message[:255]))
        log.error("sending paused: %s", message)


def note_failure(client: Client, message: Message) -> None:
    """Count a failed message; after FAILURES_BEFORE_FOLLOW_UP in a row a person follows her up."""
    client.consecutive_failures = (client.consecutive_failures or 0) + 1
    if client.consecutive_failures >= FAILURES_BEFORE_FOLLOW_UP:
        follow_up(client, "undeliverable", {"reason": message.failure_reason, "failures_in_a_row":
                                            client.consecutive_failures, "message_id": message.id})


def follow_up(client: Client, kind: str, details: dict) -> None:
    """Open a follow-up task for the client's Mentor Mother, unless one of that kind is open already."""
    exists = db.session.scalar(select(Task.id).where(Task.client_id == client.id, Task.kind == kind,
                                                    Task.status == "open"))
    if exists is None:
        db.session.add(Task(kind=kind, client_id=client.id, site_id=client.site_id, phone=client.phone,
                            details=details, status="open"))
        log.info("follow-up task %s for client %s (%s)", kind, client.id, masked(client.phone))
