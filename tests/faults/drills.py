"""What the fault drills share (here and in bench/faults.py): seeding, workers, services, the drills, the verdict.

The verdict (``outcome``) is the one the drills exist for: afterwards every
due reminder was sent exactly once, or is still pending with a retry time;
copies beyond the first at the fake AT are counted as duplicates (only the
documented crash window may make one, docs/reminders.md).

A drill runs on a ``Rig``: an app wired to the fake Africa's Talking (in this
process, ``devtools.at_server``) on the drill's database and Redis, and real
``flask --app wsgi worker`` processes started from it. The drills themselves
(``kill_drill``, ``flush_drill``, ``outage_drill``, ``postgres_restart_drill``)
take their sizes as arguments: tests/faults/test_drills.py runs them small
enough for CI, bench/faults.py runs the long versions.

Workers run on the real clock, so they cannot wait out ``SENDING_TIMEOUT`` (5
min) or a retry's backoff within a drill. That last part is done as the
existing drill does it: later passes run here, in this process, with the clock
moved on (``finish``), and their send jobs with them.

Every process started here is stopped by its pid (or its own process group)
in a ``finally``, and every wait is bounded.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import glob
import math
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

from sqlalchemy import func, insert, select

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Appointment, Client, Message, Reminder, reminder_appointments

ROOT = Path(__file__).resolve().parents[2]
SEED_CHUNK = 2000
AT_KEY = "at-key-for-tests"  # the fake AT's key in the tests' fixtures, and what worker_env gives the workers
SENDER_ID = "CLINIC"
# Lines the drills report (duplicates and all); tests/faults/conftest.py prints them after a pytest run.
REPORTED: list[str] = []


def seed_due(n: int, now: dt.datetime, *, first: int = 0, prefix: str = "+2783") -> list[str]:
    """n clients, each with one appointment due today and one reminder due at ``now``; their phones.

    Bulk Core inserts (any database), fast enough for 100,000 in a benchmark.
    Texts vary with language and template as in real life, so requests carry
    one text to many phones and several texts are in flight at once.
    """
    phones = [f"{prefix}{first + i:07d}" for i in range(n)]
    today = now.date()
    for start in range(0, n, SEED_CHUNK):
        chunk = phones[start:start + SEED_CHUNK]
        client_ids = db.session.execute(insert(Client).returning(Client.id, sort_by_parameter_order=True), [
            {"phone": phone, "country": "ZA", "language": ("en", "sw", "pt")[(start + i) % 3], "reminder_hour": 9,
             "explicit_wording": False, "opted_out": False, "pin_failures": 0, "consecutive_failures": 0,
             "planned_through": today + dt.timedelta(days=400)} for i, phone in enumerate(chunk)]).scalars().all()
        appointment_ids = db.session.execute(
            insert(Appointment).returning(Appointment.id, sort_by_parameter_order=True),
            [{"client_id": cid, "kind": "immunisation", "name": "OPV1", "due_date": today, "status": "due",
              "version": 1} for cid in client_ids]).scalars().all()
        reminder_ids = db.session.execute(insert(Reminder).returning(Reminder.id, sort_by_parameter_order=True), [
            {"client_id": cid, "send_date": today, "send_at": now - dt.timedelta(minutes=1),
             "stale_at": now + dt.timedelta(days=1), "template": ("today", "missed")[(start + i) % 2],
             "due_date": today, "status": "scheduled", "version": 1}
            for i, cid in enumerate(client_ids)]).scalars().all()
        db.session.execute(insert(reminder_appointments), [
            {"reminder_id": rid, "appointment_id": aid} for rid, aid in zip(reminder_ids, appointment_ids)])
        db.session.commit()
    return phones


def expected_requests(n: int, cap: int) -> int:
    """AT requests a healthy dispatch of ``seed_due(n)`` makes: its 6 texts, ``cap`` recipients a request."""
    return 6 * math.ceil(n / 6 / cap)


# --- processes ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds: this process only (by its pid)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def worker_env(database_url: str, redis_url: str, at_url: str, cap: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AT_", "SMS_", "CALLBACK_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, AT_USERNAME="sandbox", AT_API_KEY=AT_KEY,
               AT_API_URL=at_url, AT_MAX_RECIPIENTS=str(cap), SMS_BACKEND="africastalking", SECRET_KEY="test",
               PYTHONUNBUFFERED="1", **extra)
    return env


def start_worker(env: dict[str, str], log=subprocess.DEVNULL) -> subprocess.Popen:
    """A real ``flask --app wsgi worker``, in a session of its own so it can be killed with its children."""
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT if log is not subprocess.DEVNULL else log,
                            start_new_session=True)


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and anything it forked (RQ's scheduler): its process group (by the worker's own pid).

    Only while the worker is not yet reaped: its pid, the group's id, cannot
    have been given to another process.
    """
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(timeout=10)


def stop_worker(worker: subprocess.Popen, grace: float = 20.0) -> None:
    """A warm shutdown (SIGTERM: RQ finishes the job in hand and stops its scheduler), then SIGKILL if it lingers."""
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            worker.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=grace)
    kill_worker(worker)


class Workers:
    """``count`` real worker processes; each slot can be killed and restarted. ``stop`` stops them all by pid."""

    def __init__(self, env: dict[str, str], count: int, logdir: Path | None = None, label: str = "worker") -> None:
        self.env, self.count, self.logdir, self.label = env, count, logdir, label
        self.procs: list[subprocess.Popen | None] = [None] * count
        self.spawned = 0
        self.killed = 0  # live workers SIGKILLed
        self._ours: set[int] = set()  # pids that ended because we ended them

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for slot in range(self.count):
            self.restart(slot)

    def restart(self, slot: int) -> None:
        """A fresh worker in ``slot`` (the old one must be gone)."""
        log: Any = subprocess.DEVNULL
        if self.logdir is not None:
            log = open(self.logdir / f"{self.label}-{self.spawned:03d}.log", "wb")
        try:
            self.procs[slot] = start_worker(self.env, log)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # the worker has its own copy of the descriptor
        self.spawned += 1

    def kill(self, slot: int) -> bool:
        """SIGKILL the worker in ``slot`` (and its group); True if it was alive."""
        proc = self.procs[slot]
        if proc is None:
            return False
        alive = proc.poll() is None
        self._ours.add(proc.pid)
        kill_worker(proc)
        self.killed += alive
        return alive

    def died(self) -> list[int]:
        """Pids of workers that exited without being told to (a crash is a finding)."""
        return [p.pid for p in self.procs if p is not None and p.poll() is not None and p.pid not in self._ours]

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None:
                if proc.poll() is None:
                    self._ours.add(proc.pid)
                try:
                    stop_worker(proc)
                except BaseException:
                    kill_worker(proc)
                    raise


# --- private services --------------------------------------------------------------------------

class PrivateRedis:
    """A throwaway ``redis-server`` on a free loopback port, no persistence; ``stop`` ends it by its pid."""

    def __init__(self, workdir: Path) -> None:
        import redis

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        if not wait_until(up, 10, 0.1):
            self.stop()
            raise RuntimeError("the private redis-server did not come up")

    def stop(self) -> None:
        stop_process(self.proc)


def _postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server binaries (``/usr/lib/postgresql/<v>/bin``), or ``initdb`` on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
                   if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A PostgreSQL cluster of the drill's own, in a temporary folder, on a free loopback port.

    Never the machine's shared server (CI uses it): this one may be stopped
    and started at will. initdb refuses to run as root, so as root the cluster
    belongs to the ``postgres`` system user and its commands run through
    ``runuser``. ``fsync`` is off (a fast or smart stop still writes
    everything; only a machine crash could lose data, and this is scratch).
    ``close`` stops it (by ``pg_ctl``, else by the postmaster's pid) and
    deletes the folder.
    """

    @staticmethod
    def unavailable() -> str | None:
        """Why a private cluster cannot be made here, or None."""
        if _postgres_bin() is None:
            return "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin nor on PATH"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root (initdb refuses root) and there is no 'postgres' user to run it as"
            if shutil.which("runuser") is None:
                return "running as root (initdb refuses root) and runuser is not available"
        return None

    def __init__(self) -> None:
        reason = self.unavailable()
        if reason:
            raise RuntimeError(reason)
        self.bin = _postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="drill-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgresql.log"
        self.port = free_port()
        self.as_user: list[str] = []
        try:
            if os.geteuid() == 0:
                user = pwd.getpwnam("postgres")
                os.chown(self.dir, user.pw_uid, user.pw_gid)
                self.as_user = ["runuser", "-u", "postgres", "--"]
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--no-instructions" if self._has_no_instructions() else "-N")
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _has_no_instructions(self) -> bool:
        out = subprocess.run([str(self.bin / "initdb"), "--help"], capture_output=True, text=True, timeout=30)
        return "--no-instructions" in out.stdout

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run([*self.as_user, str(self.bin / program), *args], cwd=self.dir, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({proc.returncode}): "
                               f"{(proc.stderr or proc.stdout)[-1500:]}\n{self.tail_log()}")
        return proc

    def tail_log(self, chars: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-o", options, "start",
                  timeout=45)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast``: clients are disconnected, every open transaction rolled back."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", timeout=45)

    def running(self) -> bool:
        return subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                              cwd=self.dir, capture_output=True, timeout=30).returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        return None

    def close(self) -> None:
        try:
            if self.running():
                with contextlib.suppress(Exception):
                    self.stop("immediate")
            pid = self._postmaster_pid()
            if pid is not None and self.running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # only if pg_ctl could not stop it: our own postmaster's pid
                wait_until(lambda: not self.running(), 10, 0.2)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def migrate(app) -> None:
    """Build the schema with the Alembic migrations, as the suite and a deploy do."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def clear_tables(app) -> None:
    """Every row of the gateway's tables gone (the schema stays): a fresh start for the next drill."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


# --- the rig and the dispatch -------------------------------------------------------------------

@dataclass
class Rig:
    """What a drill runs on.

    ``app`` is wired to the fake AT with ``at_max_recipients == cap`` (the
    final passes and the verdict run in its context); ``at`` is the fake AT's
    ``ATServer`` with ``url`` set; workers get ``database_url`` and
    ``redis_url``, the same database and Redis as ``app``.
    """

    app: Any
    at: Any
    database_url: str
    redis_url: str
    cap: int
    logdir: Path | None = None
    _redis: Any = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        return worker_env(self.database_url, self.redis_url, self.at.url, self.cap, AT_SENDER_ID=SENDER_ID)

    def redis(self):
        """A client of the drill's Redis (one connection pool for the drill)."""
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.redis_url, socket_timeout=10)
        return self._redis

    def sending_ids(self) -> set[int]:
        """Messages ``sending`` now: in a request, or left there by a worker that died."""
        with self.app.app_context():
            return set(db.session.scalars(select(Message.id).where(Message.status == "sending")))

    def job_of_worker(self, pid: int) -> str | None:
        """The function of the job the RQ worker with this pid is (or was, when it died) running, if any."""
        from rq import Worker
        from rq.serializers import JSONSerializer

        for worker in Worker.all(connection=self.redis(), serializer=JSONSerializer):
            if worker.pid == pid:
                job = worker.get_current_job()
                return job.func_name if job is not None else None
        return None

    def waiting_jobs(self) -> int:
        conn = self.redis()
        return sum(conn.llen(f"rq:queue:{name}") for name in ("sms", "default"))


def enqueue_pass(rig: Rig) -> None:
    """One dispatch pass for the workers, as the periodic table enqueues it."""
    from jobs import queue

    with rig.app.app_context():
        queue("default").enqueue("jobs.dispatch_pass", job_timeout=600, result_ttl=600)


def later_pass_to_redis(rig: Rig, at: dt.datetime):
    """The pass a worker would run at ``at``, run here with the clock there; its send jobs go to Redis.

    Workers run on the real clock, so the re-enqueueing that a real pass does
    ``REENQUEUE_AFTER`` after Redis lost its jobs is done here, at once, and
    the workers send what it enqueues.
    """
    from gateway.messages import dispatch

    with rig.app.app_context(), clock.frozen(at):
        return dispatch.send_due(at)


def wait_for_requests(rig: Rig, target: int, timeout: float, stall: float | None = None) -> bool:
    """Until the fake AT has seen ``target`` requests (True), or ``timeout`` passed or none came for ``stall`` s."""
    deadline = time.monotonic() + timeout
    last, since = rig.at.requests, time.monotonic()
    while rig.at.requests < target:
        now = time.monotonic()
        if now >= deadline:
            return False
        if rig.at.requests != last:
            last, since = rig.at.requests, now
        elif stall is not None and now - since >= stall:
            return False
        time.sleep(0.01)
    return True


def settle(rig: Rig, *, ignore: set[int] = frozenset(), quiet: float = 1.5, timeout: float = 60) -> bool:
    """Until the workers have nothing left to do: no job waiting, nothing ``sending`` (but ``ignore``,
    left there by killed workers), and no request for ``quiet`` seconds. False if ``timeout`` came first."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        busy = rig.waiting_jobs() > 0 or bool(rig.sending_ids() - ignore)
        if busy or rig.at.requests != last:
            last, since = rig.at.requests, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
        time.sleep(0.1)
    return False


def finish(rig: Rig, start: dt.datetime, *, step: dt.timedelta = dt.timedelta(minutes=10),
           rounds: int = 12) -> dict[str, int]:
    """Later passes, run here with the clock moved on, and their send jobs, until nothing is left to send.

    The first pass runs at ``start`` (past ``SENDING_TIMEOUT`` after a crash:
    it returns the messages a dead worker left ``sending`` to ``queued``),
    each next one ``step`` later (past any retry's backoff). The same
    mechanism as tests/faults/test_worker_killed.py.
    """
    from gateway.messages import dispatch

    totals = {"passes": 0, "jobs": 0, "recovered": 0, "sent": 0, "retry": 0, "failed": 0}
    moment = start
    with rig.app.app_context():
        for _ in range(rounds):
            jobs: list[list[int]] = []
            with clock.frozen(moment):
                counts = dispatch.send_due(moment, enqueue=jobs.append)
                for ids in jobs:
                    result = dispatch.send_messages(ids)
                    totals["sent"] += result.sent
                    totals["retry"] += result.retry
                    totals["failed"] += result.failed
            db.session.rollback()
            totals["passes"] += 1
            totals["jobs"] += len(jobs)
            totals["recovered"] += counts.recovered
            left = (db.session.scalar(select(func.count()).select_from(Message).where(
                Message.status.in_(("queued", "sending")))) or 0) + (db.session.scalar(
                    select(func.count()).select_from(Reminder).where(Reminder.status == "scheduled")) or 0)
            db.session.rollback()
            if not left:
                break
            moment += step
    return totals


def message_states(rig: Rig) -> dict[str, Any]:
    """Messages by status now, and how many wait for a retry (queued, attempted, with a retry time)."""
    with rig.app.app_context():
        by_status = dict(db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
        retrying = db.session.scalar(select(func.count()).select_from(Message).where(
            Message.status == "queued", Message.attempts > 0, Message.next_attempt_at.is_not(None))) or 0
        no_retry_time = db.session.scalar(select(func.count()).select_from(Message).where(
            Message.status == "queued", Message.attempts > 0, Message.next_attempt_at.is_(None))) or 0
    return {"by_status": by_status, "pending_with_retry": retrying, "attempted_without_retry_time": no_retry_time}


# --- the verdict --------------------------------------------------------------------------------

@dataclass
class Outcome:
    """How the drill ended, reminder by reminder."""

    reminders: int = 0
    sent_once: int = 0
    sent_more_than_once: int = 0
    duplicates: int = 0  # copies beyond the first, at the fake AT
    pending_with_retry: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def sent(self) -> int:
        return self.sent_once + self.sent_more_than_once

    @property
    def lost(self) -> int:
        """Due reminders neither sent nor pending with a retry time."""
        return self.reminders - self.sent - self.pending_with_retry

    def __str__(self) -> str:
        return (f"{self.reminders} due reminders: {self.sent_once} sent once, {self.sent_more_than_once} sent more "
                f"than once ({self.duplicates} duplicates at AT), {self.pending_with_retry} pending with a retry "
                f"time; {len(self.problems)} problems" + (f": {self.problems[:5]}" if self.problems else ""))


def outcome(phones: list[str], accepted: list[dict]) -> Outcome:
    """Check every seeded reminder against the database and what the fake AT accepted (``ATServer.sent``).

    Sent: reminder and message ``sent`` (or ``delivered``), AT has the (phone,
    text) at least once. Pending: reminder ``queued``, its message ``queued``
    with a ``next_attempt_at`` (AT may have it once already: the crash window).
    Anything else, a message at AT for nobody, or a reminder with two live
    messages, is a problem.
    """
    db.session.rollback()  # a fresh snapshot: workers and callbacks committed elsewhere
    at_count = Counter((r["number"], r["message"]) for r in accepted)
    wanted = set(phones)
    result = Outcome(reminders=len(phones))
    rows = db.session.execute(
        select(Client.phone, Reminder.id, Reminder.status, Message.id, Message.status, Message.text,
               Message.next_attempt_at)
        .join(Reminder, Reminder.client_id == Client.id)
        .outerjoin(Message, (Message.reminder_id == Reminder.id) & (Message.status != "cancelled"))
        .where(Client.phone.in_(wanted) if len(wanted) < 30_000 else Client.phone.like("+%"))).all()
    by_phone: dict[str, list] = {}
    for row in rows:
        if row[0] in wanted:
            by_phone.setdefault(row[0], []).append(row)
    for phone in phones:
        mine = by_phone.get(phone, [])
        if len(mine) != 1:
            result.problems.append(f"{phone}: {len(mine)} live messages")
            continue
        _, _, reminder_status, message_id, message_status, text_, next_at = mine[0]
        copies = at_count.get((phone, text_), 0) if text_ is not None else 0
        if reminder_status in ("sent", "delivered") and message_status in ("sent", "delivered") and copies >= 1:
            if copies == 1:
                result.sent_once += 1
            else:
                result.sent_more_than_once += 1
                result.duplicates += copies - 1
        elif reminder_status == "queued" and message_status == "queued" and next_at is not None and copies <= 1:
            result.pending_with_retry += 1
        else:
            result.problems.append(f"{phone}: reminder {reminder_status}, message {message_status}, at AT {copies}x")
    strangers = {number for number, _ in at_count} - wanted
    if strangers:
        result.problems.append(f"{len(strangers)} numbers at AT that no reminder was for")
    return result


def duplicated_messages(accepted: list[dict]) -> dict[int, int]:
    """Message id -> copies beyond the first that the fake AT accepted, for every message it has twice."""
    counts = Counter((r["number"], r["message"]) for r in accepted)
    pairs = {pair: n - 1 for pair, n in counts.items() if n > 1}
    if not pairs:
        return {}
    db.session.rollback()
    rows = db.session.execute(select(Message.id, Message.phone, Message.text).where(
        Message.direction == "out", Message.status != "cancelled",
        Message.phone.in_({phone for phone, _ in pairs}))).all()
    return {mid: pairs[(phone, text_)] for mid, phone, text_ in rows if (phone, text_) in pairs}


# --- the drills ---------------------------------------------------------------------------------

@dataclass
class DrillResult:
    """One drill's numbers. ``ok``: the verdict holds and duplicates stay inside the crash window."""

    name: str
    seed: int
    reminders: int
    cap: int
    workers: int
    seconds: float = 0.0
    kills: int = 0  # live workers SIGKILLed
    redis_flushes: int = 0
    postgres_restarts: int = 0
    at_requests: int = 0
    in_flight_at_faults: int = 0  # messages 'sending' right after a kill or a PostgreSQL stop
    stranded: int = 0  # messages still 'sending' when the workers were stopped
    allowed_duplicates: int = 0  # the crash window's bound: cap x requests that can have been cut
    duplicates_outside_window: int = 0  # duplicated messages that were not in flight at any fault
    workers_died: int = 0  # workers that exited on their own
    settled: bool = True
    between: dict[str, Any] = field(default_factory=dict)
    finish: dict[str, int] = field(default_factory=dict)
    verdict: Outcome = field(default_factory=Outcome)
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        out = list(self.verdict.problems[:10])
        if self.verdict.duplicates > self.allowed_duplicates:
            out.append(f"{self.verdict.duplicates} duplicates, more than the {self.allowed_duplicates} the crash "
                       "window allows")
        if self.duplicates_outside_window:
            out.append(f"{self.duplicates_outside_window} duplicated messages were in no request cut by a fault")
        if self.workers_died:
            out.append(f"{self.workers_died} workers exited on their own (see the logs)")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    def line(self) -> str:
        faults = [f"{n} {what}" for n, what in ((self.kills, "kills"), (self.redis_flushes, "Redis flushes"),
                                                (self.postgres_restarts, "PostgreSQL restarts")) if n]
        phases = self.between.get("phase_requests")
        if phases:
            faults.append("AT " + "/".join(phases) + " for " + "/".join(str(n) for n in phases.values()) + " requests")
        v = self.verdict
        return (f"{self.name}: {v.reminders} reminders, {', '.join(faults) or 'no fault'}: {v.sent_once} sent once, "
                f"{v.sent_more_than_once} twice+ ({v.duplicates} duplicates at AT, allowed {self.allowed_duplicates}), "
                f"{v.pending_with_retry} pending with retry, {v.lost} lost; {self.seconds:.1f} s (seed {self.seed})")

    def as_dict(self) -> dict[str, Any]:
        v = self.verdict
        return {"name": self.name, "seed": self.seed, "reminders": self.reminders, "cap": self.cap,
                "workers": self.workers, "seconds": round(self.seconds, 2), "kills": self.kills,
                "redis_flushes": self.redis_flushes, "postgres_restarts": self.postgres_restarts,
                "at_requests": self.at_requests, "in_flight_at_faults": self.in_flight_at_faults,
                "stranded": self.stranded, "allowed_duplicates": self.allowed_duplicates,
                "duplicates": v.duplicates, "sent": v.sent, "sent_once": v.sent_once,
                "sent_more_than_once": v.sent_more_than_once, "pending_with_retry": v.pending_with_retry,
                "lost": v.lost, "problems": v.problems[:20], "duplicates_outside_window":
                self.duplicates_outside_window, "workers_died": self.workers_died, "settled": self.settled,
                "between": self.between, "finish": self.finish, "notes": self.notes, "ok": self.ok}


def _judge(rig: Rig, result: DrillResult, phones: list[str], in_flight: set[int], started: float) -> DrillResult:
    """The verdict, and whether every duplicate was a message in flight when a fault struck."""
    accepted = list(rig.at.sent)
    with rig.app.app_context():
        result.verdict = outcome(phones, accepted)
        duplicated = duplicated_messages(accepted)
    result.duplicates_outside_window = len(set(duplicated) - in_flight)
    result.in_flight_at_faults = len(in_flight)
    result.at_requests = rig.at.requests
    result.seconds = time.monotonic() - started
    REPORTED.append(result.line())
    return result


def _points(rng: random.Random, count: int, lo: float, hi: float) -> list[float]:
    return sorted(rng.uniform(lo, hi) for _ in range(count))


class _Begun(NamedTuple):
    rng: random.Random
    started: float  # time.monotonic()
    now: dt.datetime
    phones: list[str]
    base: int  # AT requests before the drill
    expected: int  # AT requests a healthy dispatch of the drill's reminders makes


def _begin(rig: Rig, n: int, seed: int, prefix: str) -> _Begun:
    """What every drill starts with: its random source, the clock, ``n`` due reminders, AT's request count."""
    rng = random.Random(seed)
    started = time.monotonic()
    now = clock.utcnow()
    with rig.app.app_context():
        phones = seed_due(n, now, prefix=prefix)
    return _Begun(rng, started, now, phones, rig.at.requests, expected_requests(n, rig.cap))


def kill_drill(rig: Rig, n: int, kills: int, *, seed: int, workers: int = 2, latency: float = 0.05,
               settle_timeout: float = 60, prefix: str = "+2783") -> DrillResult:
    """Workers SIGKILLed ``kills`` times at random moments of a dispatch of ``n`` reminders, restarted each time.

    A moment is a random point of the dispatch's progress (AT requests made,
    0 to 90 %: the first ones can catch the pass itself), then a random
    fraction of one request (AT waits ``latency`` before it answers, so many
    kills land while AT holds a request it will accept). Right after each
    kill the messages ``sending`` are noted: only those can be doubled. Then
    the workers finish what they can, and ``finish`` recovers the rest past
    ``SENDING_TIMEOUT``. Allowed duplicates: ``cap`` per kill.
    """
    from gateway.messages import dispatch

    rng, started, now, phones, base, expected = _begin(rig, n, seed, prefix)
    result = DrillResult("kill -9 workers", seed, n, rig.cap, workers)
    in_flight: set[int] = set()
    passes_killed = 0
    rig.at.configure(latency=latency)
    pool = Workers(rig.env(), workers, rig.logdir, "kill")
    try:
        pool.start()
        enqueue_pass(rig)
        for point in _points(rng, kills, 0.0, 0.9):
            # Bounded: a kill that stopped the pass leaves nothing to send until its lock runs out (60 s) or `finish`.
            wait_for_requests(rig, base + int(point * expected), timeout=settle_timeout, stall=3)
            time.sleep(rng.uniform(0, 2 * latency))
            slot = rng.randrange(workers)
            pid = pool.procs[slot].pid
            pool.kill(slot)
            in_flight |= rig.sending_ids()
            stopped_pass = rig.job_of_worker(pid) == "jobs.dispatch_pass"  # a dead worker's record stays a while
            pool.restart(slot)
            if stopped_pass:
                # Its Redis lock (up to 60 s) keeps every worker's periodic pass off: the drill runs the pass
                # that would come after it, now, so that the next kills still find work in flight.
                passes_killed += 1
                later_pass_to_redis(rig, clock.utcnow())
        result.settled = settle(rig, ignore=in_flight, timeout=settle_timeout)
        result.workers_died = len(pool.died())
    finally:
        pool.stop()
        rig.at.configure(latency=0.0)
    if passes_killed:
        result.notes.append(f"{passes_killed} kill(s) stopped the dispatch pass: its Redis lock keeps every "
                            "worker's next passes off until it runs out (up to 60 s); the drill "
                            "ran the next pass itself")
    result.kills = pool.killed
    result.allowed_duplicates = rig.cap * pool.killed
    result.stranded = len(rig.sending_ids())
    result.between = message_states(rig)
    result.finish = finish(rig, clock.utcnow() + dispatch.SENDING_TIMEOUT + dt.timedelta(seconds=1))
    return _judge(rig, result, phones, in_flight, started)


def flush_drill(rig: Rig, n: int, flushes: int, *, seed: int, workers: int = 2, latency: float = 0.02,
                settle_timeout: float = 60, prefix: str = "+2785") -> DrillResult:
    """Redis emptied (FLUSHDB) ``flushes`` times at random moments of a dispatch; no crash, so no duplicate.

    After each flush the pass that would come ``REENQUEUE_AFTER`` later runs
    here (``later_pass_to_redis``) and the workers go on sending what it
    enqueued. A Redis flush must lose nothing and double nothing, and leave
    nothing ``sending`` once the workers are stopped.
    """
    from gateway.messages import dispatch

    rng, started, now, phones, base, expected = _begin(rig, n, seed, prefix)
    result = DrillResult("Redis emptied", seed, n, rig.cap, workers)
    rig.at.configure(latency=latency)
    pool = Workers(rig.env(), workers, rig.logdir, "flush")
    later = now
    try:
        pool.start()
        enqueue_pass(rig)
        for point in _points(rng, flushes, 0.05, 0.8):
            wait_for_requests(rig, base + int(point * expected), timeout=settle_timeout, stall=3)
            time.sleep(rng.uniform(0, 2 * latency))
            rig.redis().flushdb()
            result.redis_flushes += 1
            time.sleep(rng.uniform(0.2, 1.0))  # workers find empty queues for a moment
            later = max(later, clock.utcnow()) + dispatch.REENQUEUE_AFTER + dt.timedelta(seconds=1)
            later_pass_to_redis(rig, later)
        result.settled = settle(rig, timeout=settle_timeout)
        result.workers_died = len(pool.died())
    finally:
        pool.stop()
        rig.at.configure(latency=0.0)
    result.stranded = len(rig.sending_ids())
    if result.stranded:
        result.verdict.problems.append(f"{result.stranded} messages left 'sending' with no worker killed")
    result.between = message_states(rig)
    result.finish = finish(rig, later + dispatch.SENDING_TIMEOUT + dt.timedelta(seconds=1))
    problems = list(result.verdict.problems)
    _judge(rig, result, phones, set(), started)
    result.verdict.problems[:0] = problems
    return result


def outage_drill(rig: Rig, n: int, *, seed: int, workers: int = 2, phase_requests: int | None = None,
                 settle_timeout: float = 90, prefix: str = "+2786") -> DrillResult:
    """The fake AT answers 500 for a while, then times out, then drops connections, then recovers.

    Phases are counted in requests (``phase_requests`` each for 500s and
    drops; one per worker for the timeouts, which hold a worker for the SDK's
    read timeout). None of these is a crash and the fake AT accepts nothing in
    them, so there may be no duplicate at all. When the workers are stopped,
    every message hit is ``queued`` with a retry time (``between``); then
    ``finish`` moves the clock past the backoffs and everything goes out once.
    """
    from gateway.messages import dispatch
    from gateway.adapters.africastalking import DEFAULT_TIMEOUT_S

    rng, started, now, phones, base, expected = _begin(rig, n, seed, prefix)
    k = phase_requests or max(4, expected // 8)
    hang = DEFAULT_TIMEOUT_S[1] + 1.0  # longer than the SDK's read timeout: the gateway gives up first
    result = DrillResult("AT outages", seed, n, rig.cap, workers)
    phases: dict[str, int] = {}
    pool = Workers(rig.env(), workers, rig.logdir, "outage")
    big = 10 ** 9
    try:
        pool.start()
        enqueue_pass(rig)
        wait_for_requests(rig, base + rng.randint(1, k), timeout=settle_timeout)  # healthy for a while
        for name, on, off, count, wait in (
                ("http_500", {"fail_next": big}, {"fail_next": 0}, k, 30),
                ("timeout", {"hang": hang}, {"hang": 0.0}, workers, 30),
                ("dropped", {"drop_next": big}, {"drop_next": 0}, k, 30 + hang)):
            before = rig.at.requests
            rig.at.configure(**on)
            wait_for_requests(rig, before + count, timeout=wait)
            rig.at.configure(**off)
            phases[name] = rig.at.requests - before
        result.settled = settle(rig, timeout=settle_timeout)
        result.workers_died = len(pool.died())
    finally:
        pool.stop()
        rig.at.configure(fail_next=0, drop_next=0, hang=0.0)
    result.stranded = len(rig.sending_ids())
    result.between = {**message_states(rig), "phase_requests": phases}
    problems = []
    if result.stranded:
        problems.append(f"{result.stranded} messages left 'sending' with no worker killed")
    if result.between["attempted_without_retry_time"]:
        problems.append(f"{result.between['attempted_without_retry_time']} messages retried without a retry time")
    if result.between["by_status"].get("failed"):
        problems.append(f"{result.between['by_status']['failed']} messages failed with attempts left")
    result.finish = finish(rig, clock.utcnow() + dispatch.SENDING_TIMEOUT + dt.timedelta(seconds=1))
    _judge(rig, result, phones, set(), started)
    result.verdict.problems[:0] = problems
    return result


def postgres_restart_drill(rig: Rig, pg: PrivatePostgres, n: int, *, seed: int, restarts: int = 1,
                           down: float = 3.0, workers: int = 2, latency: float = 0.05,
                           settle_timeout: float = 60, prefix: str = "+2787") -> DrillResult:
    """The drill's own PostgreSQL (``pg``, ``rig``'s database) stopped (``-m fast``) mid-dispatch and started again.

    While it is down, jobs fail and Redis loses them to RQ's failed registry;
    a request AT accepted whose outcome could not be committed leaves its
    messages ``sending``: the crash window again, at most ``cap`` per worker
    per restart. After the restart the pass that would come later runs here
    with its jobs to Redis, the workers (which must survive the outage) send
    them, and ``finish`` recovers what is left.
    """
    from gateway.messages import dispatch

    rng, started, now, phones, base, expected = _begin(rig, n, seed, prefix)
    result = DrillResult("PostgreSQL restarted", seed, n, rig.cap, workers)
    in_flight: set[int] = set()
    rig.at.configure(latency=latency)
    pool = Workers(rig.env(), workers, rig.logdir, "pg")
    later = now
    try:
        pool.start()
        enqueue_pass(rig)
        for point in _points(rng, restarts, 0.1, 0.7):
            wait_for_requests(rig, base + int(point * expected), timeout=settle_timeout, stall=5)
            time.sleep(rng.uniform(0, 2 * latency))
            pg.stop("fast")
            result.postgres_restarts += 1
            time.sleep(down)
            pg.start()
            in_flight |= rig.sending_ids()
            later = max(later, clock.utcnow()) + dispatch.REENQUEUE_AFTER + dt.timedelta(seconds=1)
            later_pass_to_redis(rig, later)
        result.settled = settle(rig, ignore=in_flight, timeout=settle_timeout)
        result.workers_died = len(pool.died())
    finally:
        pool.stop()
        rig.at.configure(latency=0.0)
        if not pg.running():
            pg.start()
    result.allowed_duplicates = rig.cap * workers * result.postgres_restarts
    result.stranded = len(rig.sending_ids())
    result.between = message_states(rig)
    result.finish = finish(rig, later + dispatch.SENDING_TIMEOUT + dt.timedelta(seconds=1))
    return _judge(rig, result, phones, in_flight, started)
