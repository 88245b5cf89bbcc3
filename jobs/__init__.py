"""RQ jobs: thin verbs that take ids and call services. Queues are nouns.

Jobs are enqueued only after the rows they read are committed, carry ids
(never objects), serialise as JSON, and re-read their rows before acting.

The periodic table below is the one place periodic work is declared. Each
worker looks at it between jobs (at least every ``TICK_SECONDS``); a Redis
key per period makes sure only one worker enqueues each run, and the job
itself holds a non-blocking Redis lock so two runs never overlap.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from flask import current_app
from rq import Queue, SimpleWorker, Worker
from rq.serializers import JSONSerializer

from gateway import translations
from gateway.adapters.database import db
from gateway.adapters.redis_store import get_redis

log = logging.getLogger(__name__)

# sms: sending batches of text messages; default: the periodic passes and the rest.
QUEUES = ("sms", "default")
TICK_SECONDS = 20

# name -> (seconds between runs, function path). Deterministic job ids: "periodic-<name>-<period>".
PERIODIC = {
    "dispatch": (60, "jobs.dispatch_pass"),  # job names stay stable across releases: RQ stores them in Redis
    "plan-ahead": (600, "jobs.plan_ahead"),
    # Hourly look: on DHIS2_PUSH_DAY (or later, until DHIS2 answers) the previous month goes to DHIS2.
    "dhis2-push": (3600, "jobs.dhis2_monthly_push"),
    "purge-texts": (86400, "jobs.purge_message_texts"),
    "follow-ups": (3600, "jobs.follow_ups"),
}


def queue(name: str) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(), serializer=JSONSerializer)


SEND_JOB = {"timeout": 120, "result_ttl": 600, "failure_ttl": 86400}
ENQUEUE_CHUNK = 1000  # jobs per Redis pipeline


class RedisSendQueue:
    """RQ's ``sms`` queue as dispatch's ``SendQueue``: where the domain's send jobs go."""

    def put(self, batches: list[list[int]], marked_at: dt.datetime | None = None) -> None:
        """One send job per list of message ids, pipelined: a pass of a million messages is ten thousand jobs.

        ``marked_at`` is when its messages were marked enqueued (see ``oldest_waiting``).
        """
        q = queue("sms")
        meta = {"marked_at": marked_at.isoformat()} if marked_at is not None else None
        for start in range(0, len(batches), ENQUEUE_CHUNK):
            q.enqueue_many([Queue.prepare_data(_path(send_messages), (list(ids),), meta=meta, **SEND_JOB)
                            for ids in batches[start:start + ENQUEUE_CHUNK]])

    def oldest_waiting(self) -> dt.datetime | None:
        """When the messages of the oldest send job still waiting in Redis were marked enqueued, if any.

        Jobs leave the ``sms`` queue in order, so a message marked since then may
        still be waiting behind a backlog; one marked before it and still queued
        had its job taken, or lost. None when the queue is empty (or was emptied).
        """
        q = queue("sms")
        for job_id in q.get_job_ids(0, 5):
            job = q.fetch_job(job_id)
            if job is None:
                continue  # expired or deleted between the two reads: look at the next
            mark = (job.meta or {}).get("marked_at")
            return dt.datetime.fromisoformat(mark) if mark else None
        return None


SEND_QUEUE = RedisSendQueue()


def _path(verb) -> str:
    """A verb's import path, as RQ stores it: jobs are named from the functions themselves, never typed."""
    return f"{verb.__module__}.{verb.__name__}"


def enqueue_pending() -> None:
    """Put send jobs for queued messages on the queue now, not at the next pass (call after commit).

    Never raises: with Redis down the periodic pass enqueues them, and the
    request that called this (a callback, a console action) must still answer.
    """
    from gateway.core import clock
    from gateway.messages.dispatch import PassCounts, enqueue_waiting, sending_blocked

    now = clock.utcnow()
    if sending_blocked(now) is None:
        try:
            enqueue_waiting(now, PassCounts(), SEND_QUEUE)
        except Exception:
            db.session.rollback()
            log.exception("could not enqueue pending messages now; the next pass will")


def enqueue_plan_ahead() -> None:
    """Plan new clients' schedules now (after a bulk import), not at the next periodic run."""
    queue("default").enqueue(_path(plan_ahead), job_timeout=3600)


# --- the verbs -----------------------------------------------------------------------------------

def send_messages(message_ids: list[int]) -> dict:
    from gateway.messages.dispatch import send_messages as send

    counts = send(message_ids)
    return {"sent": counts.sent, "retry": counts.retry, "failed": counts.failed, "cancelled": counts.cancelled,
            "not_claimed": counts.not_claimed}


# A periodic run's lock lives this long unless the run renews it (after every batch). A worker killed
# mid-run so holds up the next run for at most this long, not for the whole of a long run's budget.
LOCK_SECONDS = 60


def _exclusive(name: str, seconds: int = LOCK_SECONDS):
    """A non-blocking Redis lock: None if another run holds it."""
    lock = get_redis().lock(f"lock:{name}", timeout=seconds, blocking=False)
    return lock if lock.acquire(blocking=False) else None


def _renewer(lock):
    """A function that gives ``lock`` its full time again; harmless if it has expired meanwhile.

    The lock only saves work: two overlapping passes are safe (claims skip
    locked rows), so a run that lost its lock goes on rather than fail.
    """
    from redis.exceptions import LockError

    def renew(*_) -> None:
        try:
            lock.reacquire()
        except LockError:
            pass
    return renew


def dispatch_pass() -> dict | None:
    """The periodic dispatch pass: due reminders -> queued messages -> send jobs."""
    from gateway.messages.dispatch import send_due

    lock = _exclusive("dispatch")
    if lock is None:
        return None
    try:
        counts = send_due(enqueue=SEND_QUEUE, progress=_renewer(lock))
        log.info("dispatch pass: %s", counts)
        return counts.__dict__
    finally:
        _release(lock)


def plan_ahead() -> dict | None:
    """New clients get their schedules; everyone's reminders stay planned ahead as days go by."""
    from gateway.appointments import plan_ahead as refresh_all

    lock = _exclusive("plan-ahead")
    if lock is None:
        return None
    try:
        return {"planned": refresh_all(progress=_renewer(lock))}
    finally:
        _release(lock)


def dhis2_monthly_push() -> dict | None:
    """The previous month's indicators to DHIS2 once a month, when DHIS2_URL is set (gateway.indicators.dhis2)."""
    from gateway.indicators.dhis2 import monthly_push

    lock = _exclusive("dhis2-push", seconds=3600)
    if lock is None:
        return None
    try:
        result = monthly_push(current_app.config["SETTINGS"])
        if result is None:
            return None
        return {"push_id": result.push_id, "status": result.summary.status, "summary": result.summary.describe()}
    finally:
        _release(lock)


def purge_message_texts() -> dict | None:
    """SMS texts older than MESSAGE_RETENTION_DAYS are replaced by a marker, in batches."""
    from gateway.messages.retention import purge_old_texts

    lock = _exclusive("purge-texts")
    if lock is None:
        return None
    try:
        return {"purged": purge_old_texts(progress=_renewer(lock))}
    finally:
        _release(lock)


def follow_ups() -> dict | None:
    """Missed visits become tasks for the Mentor Mothers; feeding questions are asked (gateway.appointments.missed_visits)."""
    from gateway.appointments.missed_visits import close_resolved_tasks, open_feeding_questions, open_missed_visit_tasks

    lock = _exclusive("follow-ups")
    if lock is None:
        return None
    try:
        return {"resolved": close_resolved_tasks(), "missed_visits": open_missed_visit_tasks(),
                "feeding_questions": open_feeding_questions()}
    finally:
        _release(lock)


def _release(lock) -> None:
    from redis.exceptions import LockError

    try:
        lock.release()
    except LockError:
        pass  # it expired (and another run may hold it now): not ours to release


# --- the worker --------------------------------------------------------------------------------

def enqueue_periodic(now: float | None = None) -> list[str]:
    """Enqueue each periodic job whose period has begun, once across all workers."""
    now = time.time() if now is None else now
    enqueued = []
    conn = get_redis()
    for name, (every, func) in PERIODIC.items():
        period = int(now // every)
        job_id = f"periodic-{name}-{period}"
        if conn.set(f"periodic-mark:{name}:{period}", 1, nx=True, ex=every * 3):
            queue("default").enqueue(func, job_id=job_id, job_timeout=max(every * 5, 600), result_ttl=every * 3)
            enqueued.append(job_id)
    return enqueued


class _PeriodicTable:
    """Worker behaviour shared by both worker classes: keep the periodic table on the heartbeat."""

    _last_tick = 0.0

    def heartbeat(self, *args, **kwargs):
        # RQ beats between jobs and on every idle dequeue timeout (worker_ttl - 15 s),
        # which makes the beat the worker's clock for periodic work.
        result = super().heartbeat(*args, **kwargs)
        if not getattr(self, "_is_horse", False) and time.monotonic() - self._last_tick >= TICK_SECONDS:
            self._last_tick = time.monotonic()
            try:
                enqueue_periodic()
            except Exception:  # a Redis hiccup must not stop the worker; the next tick retries
                log.exception("could not enqueue periodic jobs")
        return result


    def execute_job(self, job, queue):
        translations.refresh()  # the texts programme staff changed, as a web request gets them
        return super().execute_job(job, queue)


class GatewayWorker(_PeriodicTable, SimpleWorker):
    """The worker: runs each job in the worker process itself, and keeps the periodic table.

    No fork per job: a forked work horse had to open its own database
    connection and compile its own SQL, and that cost more than a job of 100
    SMS (docs/performance.md). Each job still starts from a clean
    database session, so a job that failed mid-transaction leaves nothing
    behind for the next. A SIGKILL takes the job with it, exactly as it would
    take a horse: the crash window is the same request (docs/reminders.md).
    """

    def execute_job(self, job, queue):
        try:
            return super().execute_job(job, queue)
        finally:
            db.session.remove()  # roll back anything left open; connections go back to the pool


class ForkingGatewayWorker(_PeriodicTable, Worker):
    """RQ's classic worker, a forked work horse per job (``run_worker(fork=True)``): isolation at a price."""

    def main_work_horse(self, job, queue):
        # The forked horse must not share the parent's pooled connections.
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


def run_worker(names=QUEUES, burst: bool = False, fork: bool = False) -> bool:
    """Work the queues inside the app context, so jobs share the app's config.

    ``fork=True`` runs each job in a forked horse (RQ's default), isolating
    jobs from each other at the cost of a process and a connection per job.
    """
    app = current_app._get_current_object()
    worker_class = ForkingGatewayWorker if fork else GatewayWorker
    # worker_ttl 35 s: an idle worker wakes every 20 s (ttl - 15), so periodic jobs are never late by more.
    worker = worker_class([queue(n) for n in names], connection=get_redis(), serializer=JSONSerializer,
                           worker_ttl=TICK_SECONDS + 15)
    with app.app_context():
        return worker.work(with_scheduler=True, burst=burst)
