"""Dispatch: due reminders become messages, messages go out through the SMS backend.

The database is the source of truth and Redis is transport (docs/reminders.md):

1. ``send_due`` (the periodic pass, every minute) claims due reminders in
   batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at
   a time, which is just as safe), renders each one in the client's language
   and writes a ``queued`` message for it in the same transaction, marked as
   enqueued. After each commit it enqueues send jobs for the texts that fill a
   request; the rest go at the end of the pass, so workers start sending while
   a long pass is still claiming.
2. It then enqueues send jobs for every other queued message whose time has
   come and that has not been enqueued in the last ``REENQUEUE_AFTER`` (nor
   since the oldest send job still waiting in Redis): identical texts go
   together so Africa's Talking's bulk mode can carry them. A job lost with
   Redis is simply enqueued again by a later pass.
3. A send job (``send_messages``) claims its messages ``queued -> sending``
   atomically, so two jobs for the same message send it once; sends one
   request per identical text and chunk; records each recipient's outcome and
   commits it before the next request.

The crash window: a worker killed after Africa's Talking accepted a request
and before the outcome was committed leaves those messages ``sending``; after
``SENDING_TIMEOUT`` they go back to ``queued`` and are sent again. That is the
only way a message can go out twice, and only the messages of that one request.

Speed (docs/performance.md): the hot path uses Core statements on
rows, not ORM objects, and statements whose text does not grow with the
rows (gateway/adapters/bulk.py: on PostgreSQL, id lists and rows go as array
parameters): a claim is one ``UPDATE ... RETURNING``, a batch's messages
one ``INSERT``, a request's outcomes one ``UPDATE`` per kind of outcome.
The ORM is kept for the rare paths (failures, follow-up tasks, pauses).
"""
from __future__ import annotations

import datetime as dt
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, NamedTuple, Protocol

from flask import current_app
from sqlalchemy import any_, bindparam, func, or_, select, update

from gateway.core import clock
from gateway.adapters.bulk import among, insert_returning_ids, update_rows
from gateway.adapters.database import db
from gateway.core.models import Alert, Appointment, Client, Message, Reminder, reminder_appointments
from gateway.tasks import follow_up, note_failure
from gateway.reminders import texts

log = logging.getLogger(__name__)

CLAIM_BATCH = 500
# A message left "sending" this long was being sent by a worker that died.
# Longer than one AT request can take (the SDK's 3.05 s + 9.05 s timeouts) with room to spare.
SENDING_TIMEOUT = dt.timedelta(minutes=5)
REENQUEUE_AFTER = dt.timedelta(seconds=90)
MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=2)
# Requests (of up to AT_MAX_RECIPIENTS) per send job: a job's fixed costs (RQ's own round trips, the
# pause check, the claim, the stale check, its commits) are shared by this many requests. A job then
# takes at most 5 x 12.1 s (the SDK's timeouts), within its 120 s (jobs.SEND_JOB). A worker killed
# mid-job still re-sends at most the one request in flight: each outcome is committed before the next.
REQUESTS_PER_JOB = 5
# Queued messages read per round when enqueueing (keeps each IN list and each transaction small).
ENQUEUE_BATCH = 10_000

_messages = Message.__table__
_reminders = Reminder.__table__



class SendQueue(Protocol):
    """Where send jobs go. The domain does not know the queue: the caller hands one in
    (``jobs.SEND_QUEUE``, RQ's ``sms`` queue, in the worker and the CLI)."""

    def put(self, batches: list[list[int]], marked_at: dt.datetime) -> None:
        """One send job per list of message ids, marked enqueued at ``marked_at``."""

    def oldest_waiting(self) -> dt.datetime | None:
        """When the messages of the oldest send job still waiting were marked enqueued (None: none waits)."""


class _OneAtATime:
    """A caller's function that takes one job's message ids (tests, ``send-due --wait``): nothing waits in it."""

    def __init__(self, enqueue: Callable[[list[int]], object]):
        self._enqueue = enqueue

    def put(self, batches: list[list[int]], marked_at: dt.datetime) -> None:
        for ids in batches:
            self._enqueue(ids)

    def oldest_waiting(self) -> None:
        return None


def _queue_of(enqueue: SendQueue | Callable[[list[int]], object]) -> SendQueue:
    """A ``SendQueue`` as given, or a one-job-at-a-time function wrapped as one."""
    if hasattr(enqueue, "put") and hasattr(enqueue, "oldest_waiting"):
        return enqueue
    if callable(enqueue):
        return _OneAtATime(enqueue)
    raise TypeError("dispatch needs a SendQueue (jobs.SEND_QUEUE) or a function taking one job's message ids")


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


def send_due(now: dt.datetime | None = None, enqueue: SendQueue | Callable[[list[int]], object] = None,
             progress: Callable[[], None] | None = None) -> PassCounts:
    """One dispatch pass: claim due reminders, queue their messages, put send jobs on ``enqueue``. Commits.

    ``enqueue`` is a ``SendQueue`` (``jobs.SEND_QUEUE``) or a function that takes one job's message ids.

    ``progress()`` is called after each committed batch (the worker renews its pass lock there).
    """
    now = now or clock.utcnow()
    counts = PassCounts()
    counts.recovered = _recover_stuck_sends(now)
    if sending_blocked(now) is not None:
        counts.paused = True
        return counts
    queue = _queue_of(enqueue)
    cap = current_app.config["SETTINGS"].at_max_recipients
    waiting: dict[str, list[tuple[int, str]]] = defaultdict(list)  # text -> (message id, phone), committed
    renders: dict[tuple, str] = {}
    while True:
        batch = _claim_due_reminders(now)
        if not batch:
            break
        counts.claimed += len(batch)
        made = _queue_messages(batch, now, counts, renders)
        db.session.commit()  # the messages exist, marked enqueued at `now`, before any job names them
        for mid, text_, phone in made:
            waiting[text_].append((mid, phone))
        # Full requests go now, so workers send while the pass claims; a partial one waits for more.
        full = [ids for text_ in list(waiting) for ids in _take_full(waiting, text_, cap)]
        _put(queue, full, now, counts)
        if progress:
            progress()
    rest = _group_for_sending([(mid, t, phone) for t, items in waiting.items() for mid, phone in items], cap)
    _put(queue, rest, now, counts)
    enqueue_waiting(now, counts, queue, progress)
    return counts


def _take_full(waiting: dict[str, list[tuple[int, str]]], text_: str, cap: int) -> list[list[int]]:
    """The full requests (``cap`` messages, no phone twice) that can be made of one text's waiting messages."""
    items = waiting[text_]
    if len(items) < cap:
        return []
    requests = _group_for_sending([(mid, text_, phone) for mid, phone in items], cap)
    full = [ids for ids in requests if len(ids) == cap]
    taken = {mid for ids in full for mid in ids}
    waiting[text_] = [(mid, phone) for mid, phone in items if mid not in taken]
    return full


def _put(queue: SendQueue, requests: list[list[int]], marked_at: dt.datetime, counts: PassCounts) -> None:
    """Enqueue the messages of these requests, ``REQUESTS_PER_JOB`` requests to a send job."""
    jobs = [[mid for ids in requests[start:start + REQUESTS_PER_JOB] for mid in ids]
            for start in range(0, len(requests), REQUESTS_PER_JOB)]
    if jobs:
        queue.put(jobs, marked_at)
        counts.enqueued_jobs += len(jobs)
        counts.enqueued_messages += sum(len(ids) for ids in jobs)


def _recover_stuck_sends(now: dt.datetime) -> int:
    result = db.session.execute(update(Message).where(
        Message.status == "sending", Message.sending_started_at < now - SENDING_TIMEOUT,
    ).values(status="queued", enqueued_at=None, last_error="recovered: worker stopped mid-send", updated_at=now))
    db.session.commit()
    if result.rowcount:
        log.warning("recovered %d messages left sending by a stopped worker", result.rowcount)
    return result.rowcount


class _Claimed(NamedTuple):
    id: int
    client_id: int
    template: str
    due_date: dt.date
    stale_at: dt.datetime
    version: int


def _claim_due_reminders(now: dt.datetime) -> list[_Claimed]:
    """Atomically move a batch of due reminders scheduled -> queued and return them (one statement)."""
    r = _reminders.c
    due = (select(r.id).where(r.status == "scheduled", r.send_at <= now)
           .order_by(r.send_at).limit(CLAIM_BATCH).with_for_update(skip_locked=True)).scalar_subquery()
    if db.session.get_bind().dialect.name == "postgresql":
        # ARRAY(subquery) runs once (an InitPlan). A plain IN (subquery) may become a nested-loop semi join
        # (stale statistics pick it) that re-runs the LIMIT ... FOR UPDATE SKIP LOCKED for every row, each
        # run skipping the rows this statement already updated: one "batch" then claimed every due
        # reminder, in quadratic time (minutes for 50,000; tests/faults, bench/faults.py).
        claimed = r.id == any_(func.array(due))
    else:
        claimed = r.id.in_(due)  # SQLite evaluates the subquery once, and has one writer at a time
    rows = db.session.execute(
        update(_reminders).where(claimed, r.status == "scheduled").values(status="queued", updated_at=now)
        .returning(r.id, r.client_id, r.template, r.due_date, r.stale_at, r.version)).all()
    if not rows:
        db.session.commit()
    return [_Claimed(*row) for row in rows]


class _Addressee(NamedTuple):
    """What a reminder's wording may depend on (texts.reminder_text reads only these)."""

    language: str
    explicit_wording: bool


class _Visit(NamedTuple):
    kind: str


def _queue_messages(batch: list[_Claimed], now: dt.datetime, counts: PassCounts,
                    renders: dict[tuple, str]) -> list[tuple[int, str, str]]:
    """Write a queued message for each claimed reminder still worth sending; (id, text, phone) of each.

    ``renders`` caches texts for the pass: a text is a function of its key
    (the addressee's language and wording choice, template, visit kinds, date),
    and a million reminders have a few hundred distinct texts. Passing
    ``texts.reminder_text`` plain tuples keeps that honest: if it ever reads
    another field, it fails loudly here instead of caching a wrong text.
    """
    backend = current_app.config["SETTINGS"].sms_backend
    ids = [r.id for r in batch]
    clients = {row.id: row for row in db.session.execute(
        select(Client.id, Client.phone, Client.language, Client.explicit_wording, Client.opted_out,
               Client.phone_flag, Client.status).where(among(Client.id, {r.client_id for r in batch})))}
    kinds: dict[int, set[str]] = defaultdict(set)
    for reminder_id, kind, infant_id in db.session.execute(
            select(reminder_appointments.c.reminder_id, Appointment.kind, Appointment.infant_id)
            .join(Appointment, Appointment.id == reminder_appointments.c.appointment_id)
            .where(among(reminder_appointments.c.reminder_id, ids), Appointment.status == "due")):
        kinds[reminder_id].add(texts.label_kind(kind, infant_id))
    cancelled, skipped, rows = [], [], []
    for reminder in batch:
        client = clients[reminder.client_id]
        # A closed client gets nothing: planning cancelled her reminders, and one somehow left is cancelled here.
        if client.opted_out or client.phone_flag or client.status == "closed" or not kinds[reminder.id]:
            cancelled.append(reminder.id)
            continue
        if now > reminder.stale_at:
            skipped.append(reminder.id)
            continue
        addressee = _Addressee(client.language, bool(client.explicit_wording))
        visits = tuple(sorted(kinds[reminder.id]))
        key = (addressee, reminder.template, visits, reminder.due_date)
        text_ = renders.get(key)
        if text_ is None:
            text_ = renders[key] = texts.reminder_text(addressee, reminder.template,
                                                       [_Visit(k) for k in visits], reminder.due_date)
        rows.append({"client_id": client.id, "direction": "out", "phone": client.phone, "status": "queued",
                     "backend": backend, "text": text_, "reminder_id": reminder.id,
                     "reminder_version": reminder.version, "attempts": 0, "enqueued_at": now})
    if cancelled:
        db.session.execute(update(Reminder).where(Reminder.id.in_(cancelled))
                           .values(status="cancelled", version=Reminder.version + 1, updated_at=now))
        counts.cancelled += len(cancelled)
    if skipped:
        db.session.execute(update(Reminder).where(Reminder.id.in_(skipped)).values(status="skipped", updated_at=now))
        counts.skipped += len(skipped)
    if not rows:
        return []
    made = insert_returning_ids(_messages, rows, key="reminder_id")
    counts.queued += len(rows)
    return [(mid, row["text"], row["phone"]) for mid, row in zip(made, rows)]


def enqueue_waiting(now: dt.datetime, counts: PassCounts, enqueue: SendQueue | Callable[[list[int]], object],
                    progress: Callable[[], None] | None = None) -> None:
    """Queue send jobs for messages whose time has come; commit the marks before enqueueing.

    A message is (re-)enqueued when it was never enqueued, or longer ago than
    ``REENQUEUE_AFTER`` and before the oldest send job still waiting in Redis
    was marked: a message marked since then may simply be waiting in the queue
    behind a backlog, and enqueueing it again would only add a job that finds
    nothing to claim. Jobs lost with Redis leave no waiting job, so they are
    enqueued again as soon as ``REENQUEUE_AFTER`` has passed.
    """
    settings = current_app.config["SETTINGS"]
    queue = _queue_of(enqueue)
    before = now - REENQUEUE_AFTER
    oldest = queue.oldest_waiting()
    if oldest is not None:
        before = min(before, oldest)
    last_id = 0
    while True:
        rows = db.session.execute(select(Message.id, Message.text, Message.phone).where(
            Message.direction == "out", Message.status == "queued", Message.id > last_id,
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
            or_(Message.enqueued_at.is_(None), Message.enqueued_at < before),
        ).order_by(Message.id).limit(ENQUEUE_BATCH)).all()
        if not rows:
            return
        last_id = rows[-1].id
        requests = _group_for_sending([(r.id, r.text, r.phone) for r in rows], settings.at_max_recipients)
        db.session.execute(update(_messages).where(among(_messages.c.id, [r.id for r in rows]))
                           .values(enqueued_at=now))
        db.session.commit()  # enqueue only after the marks are committed
        _put(queue, requests, now, counts)
        if progress:
            progress()


def _group_for_sending(rows: list[tuple[int, str, str]], cap: int) -> list[list[int]]:
    """Message ids in AT requests of at most ``cap``, one text each and no phone twice in a request.

    Each message goes to the first request of its text with room and without
    its phone. Full requests are dropped from the search, so the work is
    linear in the messages (times how often one phone repeats), not quadratic.
    """
    by_text: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for mid, text_, phone in rows:
        by_text[text_].append((mid, phone))
    requests: list[list[int]] = []
    for items in by_text.values():
        chunks: list[tuple[list[int], set[str]]] = []
        open_chunks: list[tuple[list[int], set[str]]] = []  # in creation order, not yet full
        for mid, phone in items:
            for chunk in open_chunks:
                ids, phones = chunk
                if phone not in phones:
                    ids.append(mid)
                    phones.add(phone)
                    if len(ids) >= cap:
                        open_chunks.remove(chunk)
                    break
            else:
                chunk = ([mid], {phone})
                chunks.append(chunk)
                if cap > 1:
                    open_chunks.append(chunk)
        requests.extend(ids for ids, _ in chunks)
    return requests


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


class _Sending(NamedTuple):
    """A message this job claimed (queued -> sending), as the claim returned it."""

    id: int
    phone: str
    text: str
    backend: str
    client_id: int | None
    reminder_id: int | None
    reminder_version: int | None
    attempts: int  # counting this one


def send_messages(message_ids: list[int], backend=None) -> SendCounts:
    """Send these queued messages, a request per text and ``at_max_recipients``. Safe to run twice: a message
    is claimed once."""
    from gateway.messages.backends import get_backend

    now = clock.utcnow()
    counts = SendCounts()
    if sending_blocked(now) is not None:
        counts.not_claimed = len(message_ids)  # left queued; a pass after the pause is lifted sends them
        return counts
    claimed = [_Sending(*row) for row in db.session.execute(_send_claim(message_ids, now))]
    counts.not_claimed = len(message_ids) - len(claimed)
    if not claimed:
        db.session.commit()
        return counts
    # A reminder changed after its message was made (a visit moved, a pick-up recorded, she was closed): nothing.
    reminder_ids = {m.reminder_id for m in claimed if m.reminder_id is not None}
    current = {row.id: row for row in db.session.execute(
        select(Reminder.id, Reminder.version, Reminder.status).where(among(Reminder.id, reminder_ids)))} \
        if reminder_ids else {}
    # A client closed after her message was made (a one-off message; a reminder's is caught above): nothing.
    client_ids = {m.client_id for m in claimed if m.client_id is not None}
    closed = set(db.session.scalars(select(Client.id).where(among(Client.id, client_ids), Client.status == "closed"))) \
        if client_ids else set()
    live, stale = [], []
    for message in claimed:
        if message.client_id in closed:
            stale.append(message.id)
            continue
        if message.reminder_id is not None:
            reminder = current.get(message.reminder_id)
            if reminder is None or reminder.version != message.reminder_version or reminder.status != "queued":
                stale.append(message.id)
                continue
        live.append(message)
    if stale:
        db.session.execute(update(Message).where(Message.id.in_(stale)).values(status="cancelled", updated_at=now))
        counts.cancelled += len(stale)
    db.session.commit()  # claimed (and cancelled) before anything is sent
    live.sort(key=lambda m: m.id)
    settings = current_app.config["SETTINGS"]
    backend = backend or get_backend(settings)
    by_id = {m.id: m for m in live}
    # One request per text, no phone twice in a request (AT answers once per number).
    for ids in _group_for_sending([(m.id, m.text, m.phone) for m in live], settings.at_max_recipients):
        group = [by_id[i] for i in ids]
        if settings.sms_daily_spend_cap is not None and sending_blocked(clock.utcnow()) is not None:
            # The cap was reached mid-job: these wait, their attempt not counted.
            db.session.execute(update(Message).where(Message.id.in_(ids)).values(
                status="queued", attempts=Message.attempts - 1, enqueued_at=None, updated_at=clock.utcnow()))
            counts.not_claimed += len(group)
            db.session.commit()
            continue
        result = backend.send(group[0].text, [m.phone for m in group])
        _record(group, result, clock.utcnow(), counts)
        db.session.commit()  # each request's outcome is kept before the next request goes
    return counts


def _send_claim(message_ids: list[int], now: dt.datetime):
    """The statement that moves these messages queued -> sending, if their time has come, returning them.

    It finds them by primary key only: ``status || ''`` keeps the status
    index out of the plan. With statistics that say few messages are queued
    (a table not analysed since a big pass began, or never), PostgreSQL
    otherwise ANDs that index with the primary key and reads the index entry
    of every queued message for each job: 19 ms for a 100-message job with
    200,000 queued, and dispatch fell to a fifth of its speed
    (tests/faults/test_claim_plan.py, docs/performance.md).
    """
    m = _messages.c
    return (update(_messages).where(
        among(m.id, message_ids), (m.status + "") == "queued",
        or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now),
    ).values(status="sending", sending_started_at=now, attempts=m.attempts + 1, updated_at=now)
        .returning(m.id, m.phone, m.text, m.backend, m.client_id, m.reminder_id, m.reminder_version, m.attempts))


def _backoff(attempts: int) -> dt.timedelta:
    """Exponential backoff with jitter: a random wait between half and all of 1, 2, 4 ... minutes, capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    return dt.timedelta(seconds=random.uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))


# An account problem is not the message's fault: it waits, its attempt not counted.
_SET_WAIT = update(_messages).where(_messages.c.id == bindparam("mid")).values(
    status="queued", attempts=_messages.c.attempts - 1, enqueued_at=None, last_error=bindparam("error"),
    status_code=bindparam("code"), updated_at=bindparam("at"))


def _record(group: list[_Sending], result, now: dt.datetime, counts: SendCounts) -> None:
    """Write one request's outcome to its messages, their reminders and clients.

    One statement per kind of outcome; failures (rare, with tasks and flags
    to write) go through the ORM one message at a time.
    """
    paused = result.insufficient_balance or bool(result.account_refusal)
    if paused:
        reason = result.account_refusal or "InsufficientBalance"
        _pause_sending(f"Africa's Talking refused sending: {reason}. Top up or fix the account, then resume.")
    request_problem = result.account_refusal or result.retryable_error
    sent, sent_reminders, retry, wait, failed = [], [], [], [], []
    for message in group:
        outcome = result.outcomes.get(message.phone)
        if outcome is None or (request_problem and outcome.state != "accepted"):
            state, reason = "retry", (request_problem or "no answer for this recipient")
        else:
            state, reason = outcome.state, outcome.reason
        code = outcome.status_code if outcome else None
        if state == "accepted":
            sent.append({"id": message.id, "status": "outbox" if message.backend == "outbox" else "sent",
                         "provider_id": outcome.provider_id, "status_code": outcome.status_code,
                         "cost_amount": outcome.cost_amount, "cost_currency": outcome.cost_currency,
                         "sent_at": now, "last_error": None, "updated_at": now})
            if message.reminder_id is not None:
                sent_reminders.append(message.reminder_id)
        elif paused and state in ("retry", "failed"):
            wait.append({"mid": message.id, "error": (reason or state)[:255], "code": code, "at": now})
        elif state == "retry" and message.attempts < MAX_ATTEMPTS:
            retry.append({"id": message.id, "status": "queued", "next_attempt_at": now + _backoff(message.attempts),
                          "enqueued_at": None, "last_error": (reason or state)[:255], "status_code": code,
                          "updated_at": now})
        else:
            failed.append((message, state, reason, code))
    update_rows(_messages, sent)
    update_rows(_messages, retry)
    if wait:
        db.session.execute(_SET_WAIT, wait)
    if sent_reminders:
        db.session.execute(update(_reminders).where(among(_reminders.c.id, sent_reminders))
                           .values(status="sent", updated_at=now))
    counts.sent += len(sent)
    counts.retry += len(retry) + len(wait)
    for message, state, reason, code in failed:
        _record_failure(message, state, reason, code)
        counts.failed += 1


def _record_failure(sending: _Sending, state: str, reason: str | None, code: int | None) -> None:
    """Give one message up: failed, its reminder failed, and her number flagged or her failures counted."""
    message = db.session.get(Message, sending.id)
    message.last_error = (reason or state)[:255]
    message.status_code = code
    message.status, message.failure_reason = "failed", (reason or state)[:64]
    reminder = db.session.get(Reminder, sending.reminder_id) if sending.reminder_id else None
    if reminder:
        reminder.status = "failed"
    client = db.session.get(Client, sending.client_id) if sending.client_id else None
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
