"""Benchmark: N due reminders dispatched by real workers through the real SDK to a local fake AT.

    .venv/bin/python bench/dispatch.py [--reminders 1000000] [--workers 1,2,4] [--naive-sample 5000]

Everything runs on this machine and talks only to 127.0.0.1:

- PostgreSQL: a scratch database (``bench_dispatch_<pid>``) on the machine's
  server (``--pg-url``), created by Alembic's migrations and dropped at the
  end (``--keep-db`` keeps it).
- Redis: a private ``redis-server`` on a free loopback port (no persistence),
  or ``--redis-url`` (flushed before each run).
- Africa's Talking: ``devtools.at_server`` in processes of its own
  (``--at-servers``), each worker pointed at one of them; its capacity is
  measured on its own first, and its CPU is measured during each run, to show
  it is not what limits the result.
- Workers: real ``flask --app wsgi worker`` processes (1, 2, 4 ...), each
  sending through the ``africastalking`` SDK (``AT_API_URL`` pointing at the
  fake AT).

For each worker count: the reminders are re-seeded (bulk ``INSERT ... SELECT``
with ``generate_series``: one client, one appointment, one due reminder
each), the workers are started and left to go idle, then one dispatch pass is
enqueued (``jobs.dispatch_pass``, as the periodic table does) and the clock
runs until the fake AT has accepted every reminder's SMS. Throughput is
SMS accepted by AT / seconds from enqueueing the pass to the last acceptance
(``steady_sms_per_second``: between 10 % and 90 % of them). Afterwards the
database must show every message and reminder ``sent``, and the fake AT,
which records every recipient it accepted, is asked for duplicates: a
(number, text) accepted twice, or a number that got two SMS at all (each
client has one reminder). ``bulk_mode_share`` is the share of SMS that came
with ``bulkSMSMode=1``.

The naive baseline runs in the same invocation on a sample (``--naive-sample``)
with ``AT_MAX_RECIPIENTS=1``: one RQ job and one HTTP request per SMS, with
the same worker counts (``--naive-workers``); each bulk run's ``ratio_to_naive``
is against the naive run with as many workers.

CPU is measured per component for each run, in cores (CPU seconds / wall
seconds): workers, fake AT, Redis, this process, PostgreSQL (the server's
background processes and the bench database's backends, not other
databases'), and the whole machine.

Prints progress, then one summary line (SMS/s per worker count, the ratio to
the naive baseline, the speed-up against one worker, the 5,000 SMS/s target,
duplicates) and writes the raw numbers (machine, PostgreSQL settings, per-run
timelines, CPU per component) to ``bench/results/dispatch.json`` (a run that
failed or was stopped writes ``dispatch.failed.json`` instead). Every run is
bounded in time (``--timeout``), every wait is bounded, and every process it
starts is stopped by its pid (a SIGTERM or Ctrl-C unwinds through the
clean-up); the worker and fake AT logs stay in the temporary folder named in
the results (``logs``).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import drills  # noqa: E402
from tests.faults.drills import AT_KEY, PrivateRedis, free_port, stop_process  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _shown(path) -> str:
    """A results path as the summary names it: relative to the repository when inside it (no machine paths)."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"
DB_NAME = "bench_dispatch"  # prefix: each invocation makes bench_dispatch_<pid>
TARGET_SMS_PER_SECOND = 5000  # the target, with AT's bulk mode
LANGUAGES = ("en", "pt", "sw", "ny", "st", "zu")


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    """``drills.wait_until``, raising instead of returning False: a benchmark stops on a timeout."""
    if not drills.wait_until(predicate, timeout, interval):
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class FakeAT:
    """``devtools.at_server`` in a process of its own (``serve-at`` below), with a compact count route."""

    def __init__(self, logdir: Path, name: str, **options) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(logdir / f"{name}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "serve-at", "--port",
                                      str(self.port), "--options", json.dumps(options)],
                                     cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._up, 20, what=f"fake AT on port {self.port}")
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        try:
            return requests.get(self.url + "/_bench/count", timeout=1).ok
        except requests.RequestException:
            return False

    def count(self) -> dict:
        return requests.get(self.url + "/_bench/count", timeout=10).json()

    def configure(self, **options) -> dict:
        return requests.post(self.url + "/_control", json=options, timeout=10).json()

    def pairs(self) -> list[str]:
        """Every accepted recipient as ``number<TAB>crc32(text)<TAB>bulkSMSMode``."""
        return requests.get(self.url + "/_bench/pairs", timeout=120).text.split("\n")

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


def serve_at(port: int, options: dict) -> None:
    """The fake AT (``devtools.at_server``) plus two cheap read-only routes for the benchmark.

    ``GET /_sent`` counts duplicates on every call, too slow to poll at a
    million records; ``/_bench/count`` is O(1) and ``/_bench/pairs`` lets
    several servers' records be merged to count duplicates across them.
    """
    from flask import Response, jsonify
    from werkzeug.serving import WSGIRequestHandler, make_server

    from devtools.at_server import create_app

    app = create_app(**options)
    fake = app.extensions["at_server"]

    @app.get("/_bench/count")
    def bench_count():
        with fake._lock:
            last = fake.sent[-1]["at"] if fake.sent else None
            first = fake.sent[0]["at"] if fake.sent else None
            return jsonify(count=len(fake.sent), requests=fake.requests, first_at=first, last_at=last)

    @app.get("/_bench/pairs")
    def bench_pairs():
        with fake._lock:
            records = list(fake.sent)
        body = "\n".join(f"{r['number']}\t{zlib.crc32(r['message'].encode()):08x}\t{r.get('bulkSMSMode')}"
                         for r in records)
        return Response(body, content_type="text/plain")

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)
    server.socket.listen(1024)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        fake.close()
        server.server_close()


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:  # the worker keeps its own copy of the descriptor
        return drills.start_worker(env, log)


def stop_worker(proc: subprocess.Popen) -> None:
    """``drills.stop_worker``, then whatever is left of its process group (RQ's scheduler child) is killed."""
    drills.stop_worker(proc, grace=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# --- CPU accounting ---------------------------------------------------------------------------

@dataclass
class CpuSample:
    machine: object
    by_pid: dict[int, float] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)


def _cpu(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)


def postmaster_pid(db_url: str) -> int | None:
    """The PostgreSQL server's main process (the parent of our backend), if it runs on this machine."""
    import psutil
    import sqlalchemy as sa

    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            try:
                return psutil.Process(backend).ppid()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return None
    finally:
        engine.dispose()


def _ours(proc, postmaster: int, db_name: str) -> bool:
    """A process of our PostgreSQL server that works for this benchmark: a background process, or a
    backend of the bench database (other databases' backends, e.g. someone's tests, are left out)."""
    if proc.info["pid"] == postmaster:
        return True
    if proc.info["ppid"] != postmaster:
        return False
    title = " ".join(proc.info["cmdline"] or [])
    is_backend = "(" in title or "[local]" in title  # "postgres: user db 127.0.0.1(5432) idle"
    return not is_backend or f" {db_name} " in f"{title} "


def cpu_sample(groups: dict[str, list[int]], postgres: tuple[int, str] | None = None) -> CpuSample:
    """CPU seconds of the processes in ``groups`` (and their children), and of PostgreSQL's processes
    (``postgres``: its main process and the bench database's name; see ``_ours``)."""
    import psutil

    sample = CpuSample(psutil.cpu_times())
    wanted = {pid: name for name, pids in groups.items() for pid in pids}
    for proc in psutil.process_iter(["pid", "name", "username", "ppid", "cmdline"]):
        try:
            info = proc.info
            name = wanted.get(info["pid"]) or wanted.get(info["ppid"])
            if name is None and postgres and _ours(proc, *postgres):
                name = "postgresql"
            if name is None:
                continue
            sample.by_pid[info["pid"]] = _cpu(proc)
            sample.names[info["pid"]] = name
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sample


def cpu_delta(before: CpuSample, after: CpuSample, wall: float) -> dict:
    """Cores used per component between two samples (CPU seconds / wall seconds)."""
    used: dict[str, float] = {}
    for pid, seconds in after.by_pid.items():
        name = after.names[pid]
        used[name] = used.get(name, 0.0) + seconds - before.by_pid.get(pid, 0.0)
    busy = lambda t: sum(t) - t.idle - getattr(t, "iowait", 0.0)  # noqa: E731
    machine = busy(after.machine) - busy(before.machine)
    out = {name: round(seconds / wall, 3) for name, seconds in sorted(used.items())}
    out["machine_busy_cores"] = round(machine / wall, 3)
    out["machine_cores"] = os.cpu_count()
    return out


# --- the database ----------------------------------------------------------------------------

def create_database(pg_url: str, name: str):
    import sqlalchemy as sa

    admin = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{pg_url}/{name}"


def drop_database(pg_url: str, name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_app(db_url: str, redis_url: str, workdir: Path):
    from gateway import create_app
    from gateway.core.config import Settings

    url = db_url.replace("postgresql://", "postgresql+psycopg://")
    return create_app(Settings(instance_path=workdir, database_url=url, redis_url=redis_url, secret_key="bench",
                               sms_backend="outbox"))


def seed_clients(n: int, today: dt.date) -> None:
    """n clients, each with one due appointment, in one INSERT ... SELECT per table (PostgreSQL).

    Client g: phone +2782<g:7>, language by g, explicit wording for one in ten;
    appointment kind and date follow the reminder template the client will get
    (see ``seed_reminders``), so that texts vary as they would in real life.
    """
    import sqlalchemy as sa

    from gateway.adapters.database import db
    from gateway.core.models import Appointment, Client

    g = sa.literal_column("g")
    now = sa.literal(dt.datetime.utcnow())
    langs = sa.literal_column("(ARRAY[%s])[1 + g %% %d]" % (", ".join(f"'{x}'" for x in LANGUAGES), len(LANGUAGES)))
    series = sa.func.generate_series(1, n).alias("g")
    clients = Client.__table__
    db.session.execute(clients.insert().from_select(
        ["id", "phone", "country", "language", "reminder_hour", "explicit_wording", "opted_out", "pin_failures",
         "consecutive_failures", "planned_through", "created_at", "updated_at"],
        sa.select(g, sa.literal("+2782") + sa.func.lpad(sa.cast(g, sa.Text), 7, "0"), sa.literal("ZA"), langs,
                  sa.literal(9), (g % 10) == 0, sa.false(), sa.literal(0), sa.literal(0),
                  sa.literal(today + dt.timedelta(days=400)), now, now).select_from(series)))
    # template by g % 3: 0 before (refill in 2 days), 1 today (a child's dose or test), 2 missed (refill yesterday).
    kind = sa.case((g % 3 != 1, "art_refill"), ((g % 6) == 1, "immunisation"), else_="infant_hiv_test")
    name = sa.case((g % 3 != 1, "ART refill"), ((g % 6) == 1, "OPV1"), else_="PCR 6 weeks")
    due = sa.case((g % 3 == 0, sa.literal(today + dt.timedelta(days=2))), (g % 3 == 1, sa.literal(today)),
                  else_=sa.literal(today - dt.timedelta(days=1)))
    db.session.execute(Appointment.__table__.insert().from_select(
        ["id", "client_id", "kind", "name", "due_date", "status", "version", "created_at", "updated_at"],
        sa.select(g, g, kind, name, due, sa.literal("due"), sa.literal(1), now, now).select_from(series)))
    db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence('clients', 'id'), :n)"), {"n": n})
    db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence('appointments', 'id'), :n)"), {"n": n})
    db.session.commit()


def reset_reminders() -> None:
    """No reminders, messages, tasks or alerts: the clients and appointments stay."""
    import sqlalchemy as sa

    from gateway.adapters.database import db

    db.session.execute(sa.text("TRUNCATE messages, reminder_appointments, reminders, tasks, alerts "
                               "RESTART IDENTITY CASCADE"))
    db.session.commit()


def seed_reminders(n: int, today: dt.date, now: dt.datetime) -> None:
    """Clients 1..n each get one reminder due now (templates before / today / missed), nothing else."""
    import sqlalchemy as sa

    from gateway.adapters.database import db
    from gateway.core.models import Reminder, reminder_appointments

    g = sa.literal_column("g")
    template = sa.case((g % 3 == 0, "before"), (g % 3 == 1, "today"), else_="missed")
    due = sa.case((g % 3 == 0, sa.literal(today + dt.timedelta(days=2))), (g % 3 == 1, sa.literal(today)),
                  else_=sa.literal(today - dt.timedelta(days=1)))
    series = sa.func.generate_series(1, n).alias("g")
    db.session.execute(Reminder.__table__.insert().from_select(
        ["id", "client_id", "send_date", "send_at", "stale_at", "template", "due_date", "status", "version",
         "created_at", "updated_at"],
        sa.select(g, g, sa.literal(today), sa.literal(now - dt.timedelta(minutes=10)),
                  sa.literal(now + dt.timedelta(days=1)), template, due, sa.literal("scheduled"), sa.literal(1),
                  sa.literal(now), sa.literal(now)).select_from(series)))
    db.session.execute(reminder_appointments.insert().from_select(
        ["reminder_id", "appointment_id"], sa.select(g, g).select_from(series)))
    db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence('reminders', 'id'), :n)"), {"n": n})
    db.session.commit()


def vacuum(db_url: str, tables: str = "") -> None:
    """VACUUM ANALYZE (all tables, or the ones named): fresh statistics for the planner."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {tables}"))
    engine.dispose()


def database_state(db_url: str) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        messages = dict(conn.execute(sa.text("SELECT status, count(*) FROM messages GROUP BY status")).all())
        reminders = dict(conn.execute(sa.text("SELECT status, count(*) FROM reminders GROUP BY status")).all())
        retry_pending = conn.execute(sa.text(
            "SELECT count(*) FROM messages WHERE status = 'queued' AND next_attempt_at IS NOT NULL")).scalar()
    engine.dispose()
    return {"messages": messages, "reminders": reminders, "queued_with_retry_time": retry_pending}


# --- measuring the fake AT on its own ---------------------------------------------------------

def at_capacity(at: FakeAT, seconds: float = 5.0, threads: int = 8, recipients: int = 100) -> dict:
    """Recipients/s the fake AT accepts from ``threads`` clients posting AT's form, for ``seconds``."""
    stop_at = time.monotonic() + seconds
    counts = [0] * threads
    form_base = {"username": "sandbox", "message": "Capacity probe: please come to the clinic.", "bulkSMSMode": 1}

    def client(i: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            to = ",".join(f"+2799{i:02d}{(n * recipients + k) % 10**6:06d}" for k in range(recipients))
            r = requests.post(at.url + "/version1/messaging", data={**form_base, "to": to},
                              headers={"apiKey": AT_KEY, "Accept": "application/json"}, timeout=30)
            r.raise_for_status()
            counts[i] += recipients
            n += 1

    started = time.monotonic()
    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.monotonic() - started
    at.configure(reset=True)
    return {"recipients_per_second": round(sum(counts) / wall), "threads": threads,
            "recipients_per_request": recipients, "seconds": round(wall, 2)}


# --- one run ----------------------------------------------------------------------------------

def run_once(label: str, n: int, workers: int, cap: int, args, db_url: str, redis_url: str, app, logdir: Path,
             today: dt.date) -> dict:
    """Start ``workers`` idle workers, seed n due reminders, enqueue one dispatch pass, time it, check it."""
    import redis
    from rq import Queue, Worker
    from rq.serializers import JSONSerializer

    from gateway.core import clock

    with app.app_context():
        reset_reminders()
    conn = redis.Redis.from_url(redis_url, socket_timeout=30, socket_connect_timeout=10)
    conn.flushdb()
    servers: list[FakeAT] = []
    procs: list[subprocess.Popen] = []
    timeline: list[tuple[float, int]] = []
    result: dict = {"label": label, "reminders": n, "workers": workers, "recipients_per_request": cap}
    try:
        for i in range(args.at_servers):
            servers.append(FakeAT(logdir, f"{label}-at{i}", api_key=AT_KEY))
        for i in range(workers):
            env = drills.worker_env(db_url, redis_url, servers[i % len(servers)].url, cap, AT_SENDER_ID="CLINIC")
            procs.append(start_worker(env, logdir / f"{label}-worker{i}.log"))
        wait_until(lambda: len(Worker.all(connection=conn)) >= workers, 60, what="workers to register")
        time.sleep(1.0)  # their first tick's passes (nothing due yet) are done
        # Seeded while the workers idle, so the clock below starts with the pass. A periodic pass may
        # still start a moment before ours: the first message's creation time catches that.
        with app.app_context():
            seed_reminders(n, today, clock.utcnow())
        vacuum(db_url, "reminders, reminder_appointments")
        groups = {"workers": [p.pid for p in procs], "fake_at": [s.proc.pid for s in servers],
                  "redis": [args.redis_pid] if args.redis_pid else [], "bench": [os.getpid()]}
        before = cpu_sample(groups, args.postgres)
        enqueued = time.time()
        pass_job = Queue("default", connection=conn, serializer=JSONSerializer).enqueue(
            "jobs.dispatch_pass", job_timeout=3600, result_ttl=3600)
        deadline = time.monotonic() + args.timeout
        total = 0
        while time.monotonic() < deadline:
            try:
                total = sum(s.count()["count"] for s in servers)
            except requests.RequestException:  # a busy server answers the next poll
                time.sleep(0.5)
                continue
            timeline.append((round(time.time() - enqueued, 2), total))
            if total >= n:
                break
            dead = [p.pid for p in procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"worker(s) {dead} exited; see {logdir}")
            time.sleep(0.5)
        after = cpu_sample(groups, args.postgres)
        wall = time.time() - enqueued
        counts = [s.count() for s in servers]
        last_at = max((c["last_at"] or 0) for c in counts)
        first_at = min((c["first_at"] or float("inf")) for c in counts)
        started = min(enqueued, first_message_created(db_url) or enqueued)
        elapsed = (last_at - started) if total >= n else (time.time() - started)
        result.update(
            complete=total >= n, accepted_at_at=total, seconds=round(elapsed, 2),
            sms_per_second=round(total / elapsed, 1) if elapsed > 0 else None,
            pass_started_early_by=round(enqueued - started, 2),
            seconds_to_first_sms=round(first_at - started, 2) if first_at != float("inf") else None,
            requests=sum(c["requests"] for c in counts),
            cpu_cores=cpu_delta(before, after, wall),
            dispatch_pass=pass_outcome(pass_job),
        )
        time.sleep(1.0)  # the last request's outcome is committed just after AT answers
    finally:
        for proc in procs:
            stop_worker(proc)
        pairs: list[str] = []
        for server in servers:
            with contextlib.suppress(requests.RequestException):
                pairs.extend(p for p in server.pairs() if p)
            server.stop()
    seen: dict[str, int] = {}
    numbers: dict[str, int] = {}
    bulk_mode = 0
    for line in pairs:
        number, crc, bulk = (line.split("\t") + ["", ""])[:3]
        seen[f"{number}\t{crc}"] = seen.get(f"{number}\t{crc}", 0) + 1
        numbers[number] = numbers.get(number, 0) + 1
        bulk_mode += bulk == "1"
    # Each client has exactly one due reminder: a (number, text) twice is a duplicate SMS, and so is
    # any number that got two SMS at all.
    result["duplicates_at_at"] = sum(c - 1 for c in seen.values() if c > 1)
    result["numbers_sent_more_than_once_at_at"] = sum(1 for c in numbers.values() if c > 1)
    result["distinct_recipients_at_at"] = len(numbers)
    result["records_at_at"] = len(pairs)
    result["bulk_mode_share"] = round(bulk_mode / len(pairs), 4) if pairs else None
    result["database"] = database_state(db_url)
    # Complete: every client's SMS reached AT exactly once, and the database says every message was sent
    # (AT's count reaching n alone could hide a duplicate standing in for a missing SMS).
    result["complete"] = bool(result.get("complete") and len(numbers) == n and len(pairs) == n
                              and result["database"]["messages"] == {"sent": n}
                              and result["database"]["reminders"] == {"sent": n})
    result["timeline"] = _thin(timeline, 200)
    result["steady_sms_per_second"] = _steady_rate(timeline)
    return result


def pass_outcome(job) -> dict | None:
    """How long our dispatch pass (one RQ job: claim, render, insert, enqueue) ran, and what it counted.

    The pass is one job on one worker however many there are: with one worker
    no SMS goes before it ends; with more, it is the ceiling once the senders
    keep up with it.
    """
    try:
        job.refresh()
        took = (job.ended_at - job.started_at).total_seconds() if job.ended_at and job.started_at else None
        status = job.get_status()
        return {"status": getattr(status, "value", str(status)), "seconds": round(took, 2) if took is not None else None,
                "counts": job.return_value()}
    except Exception as exc:  # expired or not finished: the run's numbers stand without it
        return {"error": f"{type(exc).__name__}: {exc}"}


def first_message_created(db_url: str) -> float | None:
    """When the first message was made (epoch seconds), i.e. when the first pass claimed its first batch."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT min(created_at) FROM messages")).scalar()
    engine.dispose()
    return first.replace(tzinfo=dt.timezone.utc).timestamp() if first else None


def _thin(points: list, at_most: int) -> list:
    if len(points) <= at_most:
        return points
    step = len(points) / at_most
    return [points[int(i * step)] for i in range(at_most)] + [points[-1]]


def _steady_rate(timeline: list[tuple[float, int]]) -> float | None:
    """SMS/s between 10 % and 90 % of the final count (start-up and tail left out)."""
    if not timeline or timeline[-1][1] == 0:
        return None
    final = timeline[-1][1]
    lo = next(((t, c) for t, c in timeline if c >= final * 0.1), None)
    hi = next(((t, c) for t, c in timeline if c >= final * 0.9), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        return None
    return round((hi[1] - lo[1]) / (hi[0] - lo[0]), 1)


# --- main -------------------------------------------------------------------------------------

def describe_machine(db_url: str, redis_url: str) -> dict:
    """The machine, PostgreSQL and Redis the numbers were measured on (for docs/performance.md)."""
    import platform

    import psutil
    import redis
    import sqlalchemy as sa

    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        pg = {name: conn.execute(sa.text(f"SHOW {name}")).scalar()
              for name in ("server_version", "shared_buffers", "synchronous_commit", "fsync", "max_connections",
                           "autovacuum")}
    engine.dispose()
    client = redis.Redis.from_url(redis_url)
    redis_version = client.info("server").get("redis_version")
    client.close()
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform(), "postgresql": pg,
            "redis": redis_version, "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}


def summarise(report: dict, args) -> str:
    """Ratios, speed-ups and the targets, into ``report``; the one summary line."""
    naive = {r["workers"]: r["sms_per_second"] for r in report["runs"]
             if r["label"].startswith("naive") and r.get("sms_per_second")}
    bulk = [r for r in report["runs"] if r["label"].startswith("bulk") and r.get("sms_per_second")]
    best_naive = max(naive.values()) if naive else None
    one = next((r["sms_per_second"] for r in bulk if r["workers"] == 1), None)
    for r in bulk:
        base = naive.get(r["workers"])  # the same number of workers, one SMS per job and request
        r["ratio_to_naive"] = round(r["sms_per_second"] / base, 1) if base else None
        r["ratio_to_best_naive"] = round(r["sms_per_second"] / best_naive, 1) if best_naive else None
        r["speedup_vs_1_worker"] = round(r["sms_per_second"] / one, 2) if one else None
    # A (number, text) twice is also a number twice: the larger of the two counts per run.
    dups = sum(max(r.get("duplicates_at_at", 0), r.get("numbers_sent_more_than_once_at_at", 0))
               for r in report["runs"])
    complete = bool(report["runs"]) and all(r.get("complete") for r in report["runs"])
    best = max(bulk, key=lambda r: r["sms_per_second"], default=None)
    best_by_workers: dict[int, float] = {}
    for r in bulk:
        best_by_workers[r["workers"]] = max(best_by_workers.get(r["workers"], 0), r["sms_per_second"])
    by_workers = [v for _, v in sorted(best_by_workers.items())]
    report["targets"] = {
        "sms_per_second_target": TARGET_SMS_PER_SECOND,
        "best_sms_per_second": best["sms_per_second"] if best else None,
        "best_workers": best["workers"] if best else None,
        "met": bool(best and best["sms_per_second"] >= TARGET_SMS_PER_SECOND),
        "grows_with_workers": (all(b > a for a, b in zip(by_workers, by_workers[1:]))
                               if len(by_workers) > 1 else None),
        "duplicates_at_at": dups,
        "all_sent": complete,
    }
    parts = ", ".join(f"{r['workers']}w x {r['reminders']}: {r['sms_per_second']:.0f} SMS/s "
                      f"(x{r['ratio_to_naive'] or r['ratio_to_best_naive']} naive, x{r['speedup_vs_1_worker']} of 1w, "
                      f"pass {(r.get('dispatch_pass') or {}).get('seconds')} s)" for r in bulk)
    naive_text = ", ".join(f"{w}w {v:.0f}" for w, v in sorted(naive.items()))
    t = report["targets"]
    return (f"dispatch (bulk, {args.recipients} recipients/request): {parts or 'no run'}; "
            f"naive ({args.naive_sample} reminders, 1 SMS per job and request): {naive_text or 'not run'} SMS/s; "
            f"target {TARGET_SMS_PER_SECOND} SMS/s {'met' if t['met'] else 'NOT met'} (best {t['best_sms_per_second']}"
            f" with {t['best_workers']}w); grows with workers: {t['grows_with_workers']}; "
            f"duplicates at AT {dups}; {'all sent' if complete else 'NOT ALL SENT'}"
            + (f"; FAILED: {report['error']}" if report.get("error") else "")
            + f"; {report['machine'].get('cpus')} CPUs, load {report['machine'].get('load_average_at_start')}"
            f" -> {_shown(args.output)}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-at"]:
        sub = argparse.ArgumentParser()
        sub.add_argument("--port", type=int, required=True)
        sub.add_argument("--options", default="{}")
        opts = sub.parse_args(argv[1:])
        serve_at(opts.port, json.loads(opts.options))
        return
    # A SIGTERM (or timeout(1)) unwinds through the finally blocks: workers, servers and the database go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", default="1000000",
                        help="due reminders per bulk run: one number for every run, or one per --workers entry "
                             "(e.g. --workers 1,2,4 --reminders 250000,500000,1000000)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma separated (one bulk "
                        "run each, in this order)")
    parser.add_argument("--naive-sample", type=int, default=5_000, help="reminders in the naive baseline (0: skip)")
    parser.add_argument("--naive-workers", default=None, help="worker counts for the baseline (default: --workers)")
    parser.add_argument("--recipients", type=int, default=100, help="AT_MAX_RECIPIENTS for the bulk runs")
    parser.add_argument("--at-servers", type=int, default=1, help="fake AT processes (workers spread over them)")
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL server (no database name)")
    parser.add_argument("--redis-url", default=None,
                        help="default: a private redis-server on a free port; a URL given is FLUSHED before each run")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one run may take at most")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--output", default=str(RESULTS / "dispatch.json"))
    args = parser.parse_args(argv)
    try:
        worker_counts = [int(x) for x in args.workers.split(",") if x]
        naive_counts = [int(x) for x in (args.naive_workers or args.workers).split(",") if x]
        sizes = [int(x.replace("_", "")) for x in args.reminders.split(",") if x]
    except ValueError:
        parser.error("--reminders, --workers and --naive-workers are comma-separated numbers")
    if len(sizes) == 1:
        sizes = sizes * len(worker_counts)
    if len(sizes) != len(worker_counts):
        parser.error("--reminders: one number, or one per --workers entry")
    args.reminders = max(sizes)
    args.sizes = sizes
    if not (all(0 < n <= 5_000_000 for n in sizes) and 0 <= args.naive_sample <= 1_000_000 and 0 < args.recipients <= 1000
            and all(0 < w <= 32 for w in worker_counts + naive_counts) and 0 < args.at_servers <= 8
            and 0 < args.timeout <= 7200):
        parser.error("reminders up to 5,000,000, naive sample up to 1,000,000, 1-32 workers, 1-8 fake AT servers, "
                     "timeout up to 7200 s")

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    logdir = work / "logs"
    logdir.mkdir()
    # A database of its own per invocation: two runs at once (or someone's tests) never drop each other's.
    db_name = f"{DB_NAME}_{os.getpid()}"
    args.db_name = db_name
    private_redis = None
    args.redis_pid = None
    args.postgres = None
    report: dict = {"started": dt.datetime.now().isoformat(timespec="seconds"), "machine": {},
                    "reminders": args.reminders, "reminders_per_run": dict(zip(map(str, worker_counts), sizes))
                    if len(set(worker_counts)) == len(worker_counts) else sizes,
                    "naive_sample": args.naive_sample, "recipients": args.recipients,
                    "database": db_name, "logs": str(logdir), "runs": []}
    began = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - began:6.0f} s] {text}", flush=True)

    created = False
    try:
        if args.redis_url is None:
            private_redis = PrivateRedis(work)
            args.redis_url, args.redis_pid = private_redis.url, private_redis.proc.pid
        db_url = create_database(args.pg_url, db_name)
        created = True
        report["machine"] = describe_machine(db_url, args.redis_url)
        postmaster = postmaster_pid(db_url)
        args.postgres = (postmaster, db_name) if postmaster else None
        from flask_migrate import upgrade

        from gateway.core import clock

        app = make_app(db_url, args.redis_url, work)
        today = clock.utcnow().date()
        with app.app_context():
            upgrade()
            t = time.perf_counter()
            seed_clients(max(args.reminders, args.naive_sample), today)
            report["seed_clients_seconds"] = round(time.perf_counter() - t, 1)
        vacuum(db_url)
        say(f"seeded {max(args.reminders, args.naive_sample)} clients and appointments in "
            f"{report['seed_clients_seconds']} s")
        probe = FakeAT(logdir, "capacity", api_key=AT_KEY)
        try:
            report["fake_at_capacity"] = at_capacity(probe)
        finally:
            probe.stop()
        say(f"fake AT alone: {report['fake_at_capacity']['recipients_per_second']} recipients/s")
        plan = [("naive", w, args.naive_sample, 1) for w in (naive_counts if args.naive_sample else [])]
        plan += [("bulk", w, n, args.recipients) for w, n in zip(worker_counts, sizes)]
        for kind, w, n, cap in plan:
            run = run_once(f"{kind}-w{w}", n, w, cap, args, db_url, args.redis_url, app, logdir, today)
            report["runs"].append(run)
            say(f"{kind:<5} {w} worker(s), {n} reminders: {run['sms_per_second']} SMS/s ({run['seconds']} s, "
                f"pass {(run.get('dispatch_pass') or {}).get('seconds')} s, steady "
                f"{run['steady_sms_per_second']}), {run['requests']} requests, duplicates {run['duplicates_at_at']}, "
                f"complete {run['complete']}, cpu {run['cpu_cores']}")
        with app.app_context():
            from gateway.adapters.database import db
            db.session.remove()
            db.engine.dispose()
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if private_redis:
            private_redis.stop()
        if created and not args.keep_db:
            with contextlib.suppress(Exception):
                drop_database(args.pg_url, db_name)
        report["wall_seconds"] = round(time.monotonic() - began, 1)
        report["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        # A run that failed or was stopped does not overwrite the last good results.
        output = Path(args.output)
        if report.get("error"):
            output = output.with_name(output.stem + ".failed.json")
            args.output = str(output)
        line = summarise(report, args)
        report["summary"] = line
        output.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(line, flush=True)


if __name__ == "__main__":
    main()
