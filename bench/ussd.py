"""Benchmark: whole USSD sessions through ``POST /ussd`` on gunicorn, beside a bare Flask endpoint.

    .venv/bin/python bench/ussd.py [--clients 3000] [--rates 200,500] [--duration 30]
                                   [--concurrency 50,200] [--saturation-duration 20] [--workers 2]
                                   [--database-url URL] [--redis-url URL]

Two gunicorns are started on free loopback ports with the same settings (the
project's gunicorn.conf.py, the same ``--workers``, its worker class):
``wsgi:app``, the gateway, and ``bench.bare_app:app``, a Flask app whose
``POST /ussd`` returns a fixed ``CON`` screen and touches nothing else (the
floor: what gunicorn, Flask and loopback HTTP cost). The gateway runs against
a new SQLite file, or DATABASE_URL: PostgreSQL gets a schema of its own in
the database named, or a scratch database (``bench_ussd_<hex>``) when the URL
names none; either is dropped afterwards. Redis is a private ``redis-server``
on a free port with no persistence (an embedded one if there is no
redis-server on the PATH), or REDIS_URL. Enrols ``--clients`` clients (one in
ten with a USSD PIN, one in three with a baby), a coordinator, and then, each
measurement on the bare endpoint and then on the gateway, in one run:

1. **Open loop**, at each of ``--rates`` (requests a second), for
   ``--duration`` seconds: requests evenly spaced whether or not earlier ones
   have been answered. Each request is the next step of a session waiting for
   its next answer (a session sends its next answer once its screen came
   back), else the first request of a new session. Sessions are whole
   journeys, as AT sends them (cumulative ``text``): next visit, medicine
   collected, a baby, reminder time, language, call back, an unknown number
   asking to join, a coordinator's look-up or call-backs. Latency is measured
   from the moment a request was due, not sent, so a load generator falling
   behind counts against the server (no coordinated omission); how far behind
   it fell is reported too (``generator_lag_*``).
2. **Closed loop** (saturation), at each of ``--concurrency``: that many
   players send sessions back to back with no think time for
   ``--saturation-duration`` seconds; requests answered a second is the
   saturation throughput.

The gateway's replies are checked: HTTP 200, ``CON ``/``END ``, within 160
characters, and the screen the journey expects (``astray`` counts the
others). The bare endpoint's: HTTP 200 and ``CON ``. Server-side times come
from gunicorn's access log (``%M``). CPU is measured per phase: the load
generator (this process), gunicorn (master and workers), Redis, PostgreSQL when
it runs on this machine, and the whole machine (cores busy); the generator
shares the machine's CPUs with the server.

Prints one summary line (both endpoints and the ratio, against the targets:
p99 < 50 ms at 200 req/s offered, at least half the bare endpoint's
saturation throughput) and writes bench/results/ussd.json. Loopback only;
every duration, wait and count is bounded, and every process started is
stopped by its pid (a SIGTERM or Ctrl-C unwinds through the clean-up).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import platform
import random
import resource
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GUNICORN_CONF = ROOT / "gunicorn.conf.py"
# The two WSGI apps compared, as gunicorn is told them (module:variable, imported from ROOT).
TARGETS = {"bare": "bench.bare_app:app", "app": "wsgi:app"}
MAX_CHARS = 160
CLIENT_PIN, COORDINATOR_PIN = "1357", "2468"
COORDINATOR_PHONE = "+27720000001"
# Journeys and how often each starts (per 100 sessions). Coordinators are few beside clients.
JOURNEYS = {
    "next_visit": 34, "pickup": 15, "reminder_time": 7, "language": 3, "call_back": 7, "baby": 3,
    "unknown_join": 20, "unknown_no": 9, "coordinator_lookup": 1, "coordinator_callbacks": 1,
}
PIN_EVERY = 10  # one client in ten has a USSD PIN
REQUEST_TIMEOUT = 15.0  # seconds; AT gives up after about 10
TARGET_P99_MS, TARGET_RATE, TARGET_SHARE = 50.0, 200.0, 0.5  # the targets


# ---------------------------------------------------------------- the world the sessions run in


def client_phone(i: int) -> str:
    return f"+2782{i:07d}"


def unknown_phone(rng: random.Random) -> str:
    return f"+2784{rng.randrange(10_000_000):07d}"


def write_csv(path: Path, n: int, today: dt.date, seed: int = 11) -> None:
    rng = random.Random(seed)
    with path.open("w") as fh:
        fh.write("consent,phone,country,language,art_last_dispensed,art_days_supply,infant_date_of_birth\n")
        for i in range(n):
            art = (today - dt.timedelta(days=rng.randint(0, 80))).isoformat()
            days = rng.choice([30, 60, 90])
            dob = (today - dt.timedelta(days=rng.randint(0, 600))).isoformat() if i % 3 == 0 else ""
            fh.write(f"yes,0{client_phone(i)[3:]},ZA,en,{art},{days},{dob}\n")


def prepare_database(url: str | None, work: Path) -> tuple[str, callable]:
    """A database URL with nothing in it yet, and how to drop it afterwards.

    No URL: a new SQLite file. PostgreSQL naming a database: a new schema in
    it. PostgreSQL naming none (``postgresql://user@host:port``): a new
    scratch database.
    """
    if not url:
        return f"sqlite:///{work / 'bench.db'}", lambda: None
    import sqlalchemy as sa

    from gateway.core.config import Settings

    url = Settings.from_env(work, {"DATABASE_URL": url, "SECRET_KEY": "bench"}).database_url
    if not url.startswith("postgresql"):
        return url, lambda: None
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        name = f"bench_ussd_{secrets.token_hex(4)}"
        admin = sa.create_engine(urllib.parse.urlunsplit(parts._replace(path="/postgres")),
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

        def drop_database():
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), drop_database
    schema = f"bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    query = urllib.parse.parse_qsl(parts.query) + [("options", f"-csearch_path={schema}")]

    def drop_schema():
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query))), drop_schema


def seed(database_url: str, redis_url: str, work: Path, clients: int) -> dict:
    """Migrate, enrol the clients (appointments and reminders planned), give some a PIN; add a coordinator."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select, update

    from gateway import create_app, users
    from gateway.appointments import plan_ahead
    from gateway.clients.importer import import_csv
    from gateway.core.config import Settings
    from gateway.adapters.database import db
    from gateway.core.models import Appointment, Client, Site

    app = create_app(Settings(instance_path=work, database_url=database_url, redis_url=redis_url,
                              secret_key="bench"))
    today = dt.date.today()
    t0 = time.perf_counter()
    with app.app_context():
        upgrade()
        site = Site(name="Bench clinic", country="ZA", timezone="Africa/Johannesburg")
        db.session.add(site)
        db.session.commit()
        path = work / "clients.csv"
        write_csv(path, clients, today)
        with path.open("rb") as stream:
            report = import_csv(stream, default_country="ZA", actor="bench", site_id=site.id, batch_size=1000)
        plan_ahead()
        # Clients' PINs are hashed as the USSD service hashes them when a client sets one.
        db.session.execute(update(Client).where(Client.id % PIN_EVERY == 0)
                           .values(ussd_pin_hash=users.hash_pin(CLIENT_PIN)))
        # The coordinator is made as the console and CLI make one (users.create_user hashes her PIN).
        users.create_user("coordinator@example.org", "coordinator", None, "bench", phone=COORDINATOR_PHONE,
                          pin=COORDINATOR_PIN, site_ids=[site.id])
        db.session.commit()
        pins = set(db.session.scalars(select(Client.phone).where(Client.ussd_pin_hash.is_not(None))))
        appointments = db.session.scalar(select(func.count()).select_from(Appointment))
        db.session.remove()
        db.engine.dispose()  # no idle connection of ours is left to hold the schema or database
    return {"imported": report.imported, "appointments": appointments, "pins": pins,
            "seed_seconds": round(time.perf_counter() - t0, 1)}


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen | None, grace: float = 20.0) -> None:
    """SIGTERM the process group this bench started (its own session), then SIGKILL; bounded waits."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # Whatever of the group is left (a gunicorn worker outliving its master) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def start_redis(work: Path) -> tuple[str, subprocess.Popen]:
    """A private redis-server on a free loopback port, no persistence."""
    import redis

    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(work), "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
            if client.ping():
                client.close()
                return url, process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop_group(process, 5)
    raise SystemExit("the private redis-server did not start within 15 s")


def _leave_folder(work: Path, keep: bool) -> None:
    if keep:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Stores:
    """The database and Redis a benchmark's gateway runs on (see ``stores``)."""

    database_url: str
    redis_url: str
    redis_process: subprocess.Popen | None  # a private redis-server this bench started
    embedded: bool  # an embedded Redis (no redis-server on the PATH)

    @property
    def redis_kind(self) -> str:
        return "embedded" if self.embedded else ("private redis-server" if self.redis_process else "REDIS_URL")


@contextlib.contextmanager
def stores(database_url: str | None, redis_url: str | None, work: Path) -> Iterator[Stores]:
    """An empty database (``prepare_database``) and a Redis: ``redis_url``, else a private redis-server on a
    free port, else an embedded one. Everything made here is dropped or stopped on the way out."""
    redis_process, embedded, drop_database = None, False, lambda: None  # noqa: E731
    try:
        database_url, drop_database = prepare_database(database_url, work)
        if not redis_url:
            if shutil.which("redis-server"):
                redis_url, redis_process = start_redis(work)
            else:
                from gateway.adapters.redis_store import embedded_url
                redis_url, embedded = embedded_url(work), True
        yield Stores(database_url, redis_url, redis_process, embedded)
    finally:
        with contextlib.suppress(Exception):
            drop_database()
        if redis_process is not None:
            stop_group(redis_process, 5)
        if embedded:
            from gateway.adapters.redis_store import stop_embedded
            with contextlib.suppress(Exception):
                stop_embedded(work)


def gunicorn_settings(workers: int) -> dict:
    """The settings gunicorn.conf.py gives (worker class and count) with this bench's environment."""
    saved = os.environ.get("WEB_CONCURRENCY")
    os.environ["WEB_CONCURRENCY"] = str(workers)
    try:
        conf = runpy.run_path(str(GUNICORN_CONF))
    finally:
        if saved is None:
            os.environ.pop("WEB_CONCURRENCY", None)
        else:
            os.environ["WEB_CONCURRENCY"] = saved
    return {"config": GUNICORN_CONF.name, "workers": conf.get("workers"),
            "worker_class": conf.get("worker_class", "sync"), "threads": conf.get("threads", 1),
            "timeout": conf.get("timeout"), "accesslog": conf.get("accesslog")}


def start_gunicorn(name: str, port: int, database_url: str, redis_url: str, workers: int,
                   work: Path, target: str | None = None) -> subprocess.Popen:
    """``gunicorn -c gunicorn.conf.py TARGETS[name]`` (or ``target``) on ``port``, its own process group;
    up once /healthz answers."""
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SECRET_KEY": "bench", "WEB_CONCURRENCY": str(workers), "SMS_BACKEND": "outbox", "AT_API_KEY": "",
           "CALLBACK_TOKEN": ""}
    env.pop("PORT", None)
    with (work / f"gunicorn-{name}.log").open("w") as log:
        command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), target or TARGETS[name]]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn ({name}) exited; see {work / f'gunicorn-{name}.log'} (--keep keeps it)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    stop_group(process)
    raise SystemExit(f"gunicorn ({name}) did not answer /healthz within 60 s")


def drain(port: int, limit: float = 120.0) -> float:
    """Wait until the server answers at once again (requests given up on may still be queued); seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                        timeout=max(1.0, limit - (sent - began))):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        if time.monotonic() - sent < 0.5:
            break
    return round(time.monotonic() - began, 1)


def service_times(log: Path, skip_lines: int) -> tuple[dict, int]:
    """Server-side times of the /ussd requests gunicorn logged after line ``skip_lines`` (its access log's ``%M``)."""
    lines = log.read_text(errors="replace").splitlines()
    times = []
    for line in lines[skip_lines:]:
        if '"POST /ussd"' in line and line.endswith("ms"):
            with contextlib.suppress(ValueError, IndexError):
                times.append(float(line.rsplit(" ", 1)[1][:-2]) / 1000)
    return summary(times), len(lines)


def postgres_of(database_url: str) -> tuple[int, str] | None:
    """PostgreSQL's main process and the database's name, when it runs on this machine: what
    bench/dispatch.py's ``cpu_sample`` needs to count its background processes and this database's
    backends (not other databases')."""
    parts = urllib.parse.urlsplit(database_url)
    if not parts.scheme.startswith("postgresql") or (parts.hostname or "localhost") not in (
            "localhost", "127.0.0.1", "::1"):
        return None
    from bench.dispatch import postmaster_pid

    pid = postmaster_pid(database_url)
    return (pid, parts.path.lstrip("/") or "postgres") if pid else None


def postgres_seconds(postgres: tuple[int, str] | None):
    """A sample of PostgreSQL's CPU (see ``postgres_of``), or None; ``used_since`` turns two into seconds."""
    from bench.dispatch import cpu_sample

    return cpu_sample({}, postgres) if postgres else None


def used_since(before, after) -> float:
    """PostgreSQL's CPU seconds between two ``postgres_seconds`` samples (0 without them)."""
    from bench.dispatch import cpu_delta

    return cpu_delta(before, after, 1.0).get("postgresql", 0.0) if before and after else 0.0


class CpuMeter:
    """CPU seconds, per component, between ``start`` and ``stop``: the load generator, gunicorn, Redis,
    PostgreSQL (when it runs on this machine), the machine."""

    def __init__(self, gunicorn_pid: int, redis_pid: int | None, postgres: tuple[int, str] | None = None) -> None:
        self.gunicorn_pid, self.redis_pid, self.postgres = gunicorn_pid, redis_pid, postgres

    @staticmethod
    def _tree(pid: int | None) -> float:
        import psutil

        if pid is None:
            return 0.0
        total = 0.0
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    def _sample(self) -> tuple:
        import psutil

        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        return (time.monotonic(), time.process_time(), self._tree(self.gunicorn_pid), self._tree(self.redis_pid),
                busy), postgres_seconds(self.postgres)

    def start(self) -> None:
        self.before, self.before_postgres = self._sample()

    def stop(self) -> dict:
        after, after_postgres = self._sample()
        wall = max(after[0] - self.before[0], 1e-9)
        used = [(a - b) / wall for a, b in zip(after[1:], self.before[1:])]
        generator, gunicorn, redis_, machine = used
        postgres = used_since(self.before_postgres, after_postgres) / wall
        out = {"load_generator": round(generator, 3), "gunicorn": round(gunicorn, 3)}
        if self.redis_pid:
            out["redis"] = round(redis_, 3)
        if self.postgres:
            out["postgres"] = round(postgres, 3)
        out["machine_busy"] = round(machine, 3)
        # Other processes on the machine, the kernel's share not charged to a process (and PostgreSQL if remote).
        out["rest"] = round(machine - generator - gunicorn - redis_ - postgres, 3)
        out["machine_cores"] = os.cpu_count()
        return out


# ---------------------------------------------------------------- sessions as AT plays them


@dataclass
class Session:
    """One journey: the answers it will give, and what it has seen so far."""

    kind: str
    phone: str
    answers: list[str]
    session_id: str = field(default_factory=lambda: "ATUid_" + secrets.token_hex(16))
    sent: list[str] = field(default_factory=list)
    started: bool = False
    more_pages: int = 0
    MAX_MORE_PAGES = 5  # a caller reads a long list this far, then hangs up (not a fault)

    def next_text(self, last_screen: str | None) -> str | None:
        """The ``text`` of the next request, or None when the journey is over (or went astray)."""
        if not self.started:
            self.started = True
            return ""
        if last_screen is None or last_screen.startswith("END "):
            return None
        if self.answers:
            self.sent.append(self.answers.pop(0))
        elif "\n98. " in last_screen and self.more_pages < self.MAX_MORE_PAGES:  # a long list: read on
            self.more_pages += 1
            self.sent.append("98")
        else:
            return None
        return "*".join(self.sent)


def new_session(rng: random.Random, clients: int, pins: set[str]) -> Session:
    kind = rng.choices(list(JOURNEYS), weights=list(JOURNEYS.values()))[0]
    if kind.startswith("unknown"):
        return Session(kind, unknown_phone(rng), ["1", "1"] if kind == "unknown_join" else ["2"])
    if kind.startswith("coordinator"):
        tail = ["2", client_phone(rng.randrange(clients))] if kind == "coordinator_lookup" else ["3"]
        return Session(kind, COORDINATOR_PHONE, [COORDINATOR_PIN, *tail])
    phone = client_phone(rng.randrange(clients))
    pin = [CLIENT_PIN] if phone in pins else []
    dob = (dt.date.today() - dt.timedelta(days=rng.randint(1, 300))).strftime("%d%m%Y")
    answers = {
        "next_visit": ["1", *pin],
        "pickup": ["2", *pin, rng.choice(["1", "2", "3", "6"]), "1"],
        "baby": ["3", *pin, dob, "1"],
        "reminder_time": ["4", "2", rng.choice(["1", "2", "3"])],
        "language": ["4", "1", "1"],
        "call_back": ["5", "1"],
    }[kind]
    return Session(kind, phone, answers)


async def post(port: int, session: Session, text: str) -> tuple[int, str]:
    """One form POST to /ussd over a new loopback connection (gunicorn's sync workers close each one)."""
    body = urllib.parse.urlencode({"sessionId": session.session_id, "serviceCode": "*384*123#",
                                   "phoneNumber": session.phone, "networkCode": "63902", "text": text}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /ussd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, payload.decode("utf-8", "replace")


@dataclass
class Tally:
    strict: bool = True  # check the screens the journeys expect (the gateway); else only CON/END (bare)
    latencies: list[float] = field(default_factory=list)  # seconds, from when each request was due
    by_kind: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    lags: list[float] = field(default_factory=list)  # seconds the generator sent each request late (open loop)
    errors: int = 0  # no answer, not a 200, or a malformed or oversized reply
    timeouts: int = 0  # of which: no answer within REQUEST_TIMEOUT
    astray: int = 0  # a well-formed reply, but not the screen the journey expected
    astray_examples: list[dict] = field(default_factory=list)  # the first few, to see what went astray
    sessions_done: int = 0

    def next_text(self, session: Session, status: int, body: str) -> str | None:
        """Check a reply; the session's next request, or None when it is over (counted)."""
        if status != 200 or not body.startswith(("CON ", "END ")) or len(body) > MAX_CHARS:
            self.errors += 1
            self.sessions_done += 1
            return None
        following = session.next_text(body)
        if following is None:
            self.sessions_done += 1
            # Ended before the journey's last answer, stopped on a question, or the gateway failed.
            read_enough = session.more_pages >= session.MAX_MORE_PAGES and "\n98. " in body
            if self.strict and not read_enough and (body.startswith("CON ") or session.answers
                                                    or "not available" in body or "did not work" in body):
                self.astray += 1
                if len(self.astray_examples) < 5:
                    self.astray_examples.append({"journey": session.kind, "text": "*".join(session.sent),
                                                 "left": list(session.answers), "reply": body[:MAX_CHARS]})
        return following


async def exchange(port: int, session: Session, text: str, tally: Tally) -> tuple[int, str]:
    try:
        return await asyncio.wait_for(post(port, session, text), REQUEST_TIMEOUT)
    except asyncio.TimeoutError:
        tally.timeouts += 1
    except (OSError, ValueError, IndexError):
        pass
    return 0, ""


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(latencies: list[float]) -> dict:
    ms = [v * 1000 for v in latencies]
    return {"requests": len(ms), **{f"p{p}_ms": round(percentile(ms, p), 1) for p in (50, 95, 99)},
            "max_ms": round(max(ms), 1) if ms else None}


async def open_loop(port: int, rate: float, duration: float, clients: int, pins: set[str], seed: int,
                    strict: bool) -> dict:
    """Offer ``rate`` requests a second for ``duration`` seconds, each the next step of a waiting session."""
    rng = random.Random(seed)
    tally, ready = Tally(strict), collections.deque()
    total = int(rate * duration)
    tasks = set()

    async def fire(due: float, session: Session, text: str) -> None:
        tally.lags.append(time.perf_counter() - due)
        status, body = await exchange(port, session, text, tally)
        elapsed = time.perf_counter() - due
        tally.latencies.append(elapsed)
        tally.by_kind[session.kind].append(elapsed)
        following = tally.next_text(session, status, body)
        if following is not None:
            ready.append((session, following))

    start = time.perf_counter() + 0.2
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if ready:
            session, text = ready.popleft()
        else:
            session = new_session(rng, clients, pins)
            text = session.next_text(None)
        task = asyncio.create_task(fire(due, session, text))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_by = time.perf_counter()
    if tasks:  # each is bounded by REQUEST_TIMEOUT; asyncio.run cancels any left after this
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
    achieved = total / max(sent_by - start, 1e-9)
    lag = summary(tally.lags)
    return {"offered_per_second": rate, "duration_seconds": duration, "sent_per_second": round(achieved, 1),
            **summary(tally.latencies), "errors": tally.errors, "timeouts": tally.timeouts,
            "astray": tally.astray if strict else None, "astray_examples": tally.astray_examples or None,
            "sessions_finished": tally.sessions_done, "generator_lag_p99_ms": lag["p99_ms"], "generator_lag_max_ms": lag["max_ms"],
            "p99_ms_by_journey": {k: round(percentile([v * 1000 for v in vs], 99), 1)
                                  for k, vs in sorted(tally.by_kind.items())} if strict else None}


async def closed_loop(port: int, concurrency: int, duration: float, clients: int, pins: set[str],
                      seed: int, strict: bool) -> dict:
    """``concurrency`` players, each sending sessions back to back: the rate the server sustains."""
    rng = random.Random(seed)
    tally = Tally(strict)
    stop_at = time.perf_counter() + duration

    async def player() -> None:
        while time.perf_counter() < stop_at:
            session = new_session(rng, clients, pins)
            text = session.next_text(None)
            while text is not None and time.perf_counter() < stop_at:
                sent = time.perf_counter()
                status, body = await exchange(port, session, text, tally)
                tally.latencies.append(time.perf_counter() - sent)
                text = tally.next_text(session, status, body)

    began = time.perf_counter()
    await asyncio.gather(*(player() for _ in range(concurrency)))
    took = time.perf_counter() - began
    return {"concurrency": concurrency, "duration_seconds": round(took, 1),
            "requests_per_second": round(len(tally.latencies) / took, 1), **summary(tally.latencies),
            "errors": tally.errors, "timeouts": tally.timeouts, "astray": tally.astray if strict else None,
            "astray_examples": tally.astray_examples or None, "sessions_finished": tally.sessions_done}


# ---------------------------------------------------------------- the run


def machine() -> dict:
    import psutil

    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def numbers(text: str, kind=float) -> list:
    return [kind(x) for x in text.split(",") if x.strip()]


def raise_file_limit() -> None:
    """Open loop above the server's capacity keeps up to rate x REQUEST_TIMEOUT connections open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that serves the gateway under gunicorn: its stores, and keeping its logs."""
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="default: DATABASE_URL, else a new SQLite file; PostgreSQL without a database name: "
                             "a scratch database")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="default: REDIS_URL, else a private redis-server on a free port")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (gunicorn logs) afterwards")


def main() -> None:
    # A SIGTERM (or timeout(1)) unwinds through the finally block: gunicorns, Redis and the database go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--rates", "--rate", default="200,500",
                        help="offered requests per second (open loop), comma separated")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of each open-loop run (at most 300)")
    parser.add_argument("--concurrency", default="50,200",
                        help="concurrent sessions of the closed-loop (saturation) runs, comma separated")
    parser.add_argument("--saturation-duration", type=float, default=20.0,
                        help="seconds of each closed-loop run (at most 300; 0: skip)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server (at most 60)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn worker processes (WEB_CONCURRENCY), the same for both servers")
    add_server_options(parser)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "ussd.json"))
    args = parser.parse_args()
    try:
        rates, concurrencies = numbers(args.rates), numbers(args.concurrency, int)
    except ValueError:
        parser.error("--rates and --concurrency are comma-separated numbers")
    if not (rates and 0 < args.duration <= 300 and 0 <= args.saturation_duration <= 300
            and all(0 < r <= 5000 for r in rates) and 0 < args.clients <= 200_000
            and all(0 < c <= 1000 for c in concurrencies) and 0 <= args.warmup <= 60 and 0 < args.workers <= 64
            and (concurrencies or not args.saturation_duration)):
        parser.error("durations up to 300 s, rates up to 5000/s, clients up to 200000, concurrency up to 1000")
    raise_file_limit()

    work = Path(tempfile.mkdtemp(prefix="bench-ussd-"))
    servers: dict[str, subprocess.Popen] = {}
    started = time.monotonic()
    load_before = load_average()
    open_results: dict[str, dict] = {}
    closed_results: dict[str, dict] = {}
    # Undone in reverse on the way out: the gunicorns, then the database and Redis, then the folder.
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(_leave_folder, work, args.keep)
        kept = cleanup.enter_context(stores(args.database_url, args.redis_url, work))
        cleanup.callback(lambda: [stop_group(process) for process in servers.values()])
        database_url, redis_url, redis_process = kept.database_url, kept.redis_url, kept.redis_process
        world = seed(database_url, redis_url, work, args.clients)
        print(f"seeded {world['imported']} clients, {world['appointments']} appointments "
              f"in {world['seed_seconds']} s", file=sys.stderr, flush=True)
        ports = {name: free_port() for name in TARGETS}
        for name in TARGETS:
            servers[name] = start_gunicorn(name, ports[name], database_url, redis_url, args.workers, work)
        logs = {name: work / f"gunicorn-{name}.log" for name in TARGETS}
        marks = dict.fromkeys(TARGETS, 0)
        postgres = postgres_of(database_url)
        meters = {name: CpuMeter(servers[name].pid, redis_process.pid if redis_process else None,
                                 postgres=postgres)
                  for name in TARGETS}

        def measure(name: str, coroutine) -> dict:
            """Run one measurement against one server; add its CPU, drain time and server-side times."""
            meters[name].start()
            result = asyncio.run(coroutine)
            result["cpu_cores"] = meters[name].stop()
            result["drain_seconds"] = drain(ports[name])
            result["server"], marks[name] = service_times(logs[name], marks[name])
            return result

        def progress(what: str, name: str, r: dict) -> None:
            print(f"  {what:<18} {name:<4}: {r.get('requests_per_second', r.get('sent_per_second'))} req/s, "
                  f"p50 {r['p50_ms']} p99 {r['p99_ms']} ms, {r['errors']} errors, cpu {r['cpu_cores']}",
                  file=sys.stderr, flush=True)

        for name in TARGETS:  # warm-up: every worker loads and checks the menus on its first session
            if args.warmup:
                asyncio.run(closed_loop(ports[name], args.workers * 2, args.warmup, args.clients, world["pins"],
                                        args.seed + 1, name == "app"))
            drain(ports[name])
            _, marks[name] = service_times(logs[name], 0)
        for i, rate in enumerate(rates):
            runs = {}
            for name in TARGETS:
                runs[name] = measure(name, open_loop(ports[name], rate, args.duration, args.clients, world["pins"],
                                                     args.seed + 10 + i, name == "app"))
                progress(f"open {rate:g}/s", name, runs[name])
            open_results[f"{rate:g}"] = runs
        for i, concurrency in enumerate(concurrencies if args.saturation_duration else []):
            runs = {}
            for name in TARGETS:
                runs[name] = measure(name, closed_loop(ports[name], concurrency, args.saturation_duration,
                                                       args.clients, world["pins"], args.seed + 20 + i,
                                                       name == "app"))
                progress(f"closed {concurrency}", name, runs[name])
            bare = runs["bare"]["requests_per_second"]
            runs["app_to_bare"] = round(runs["app"]["requests_per_second"] / bare, 3) if bare else None
            closed_results[str(concurrency)] = runs

    # The saturation throughput is the best of the closed-loop runs, for each server.
    best = {name: max((runs[name]["requests_per_second"] for runs in closed_results.values()), default=None)
            for name in TARGETS}
    share = round(best["app"] / best["bare"], 3) if best["app"] and best["bare"] else None
    at_target = open_results.get(f"{TARGET_RATE:g}", {}).get("app")
    targets = {
        f"p99_under_{TARGET_P99_MS:g}ms_at_{TARGET_RATE:g}_per_second":
            (at_target["p99_ms"] < TARGET_P99_MS and at_target["errors"] == 0) if at_target else None,
        f"saturation_at_least_{TARGET_SHARE:g}_of_bare": (share >= TARGET_SHARE) if share is not None else None,
    }
    result = {
        "benchmark": "ussd",
        "at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat(),
        "machine": {**machine(), "load_average_before": load_before, "load_average_after": load_average()},
        "setup": {"clients": args.clients, "imported": world["imported"], "appointments": world["appointments"],
                  "clients_with_pin": len(world["pins"]), "seed_seconds": world["seed_seconds"],
                  "gunicorn": gunicorn_settings(args.workers), "targets": TARGETS,
                  "database": database_url.split(":")[0],
                  "redis": kept.redis_kind,
                  "journeys_per_100": JOURNEYS, "request_timeout_seconds": REQUEST_TIMEOUT,
                  "open_loop_seconds": args.duration, "closed_loop_seconds": args.saturation_duration,
                  "order": "for each measurement: bare, then app; open loop first, then closed loop",
                  "wall_seconds": round(time.monotonic() - started, 1)},
        "open_loop": open_results,
        "saturation": closed_results,
        "saturation_best": {**best, "app_to_bare": share},
        "targets": targets,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    def latency(r: dict) -> str:
        return (f"p50/p95/p99 {r['p50_ms']}/{r['p95_ms']}/{r['p99_ms']} ms"
                + (f" ({r['errors']} errors)" if r["errors"] else ""))

    opened = "; ".join(f"{rate}/s offered: app {latency(runs['app'])} vs bare {latency(runs['bare'])}"
                       for rate, runs in open_results.items())
    closed = "; ".join(f"{c} sessions: app {runs['app']['requests_per_second']:g} vs bare "
                       f"{runs['bare']['requests_per_second']:g} req/s (x{runs['app_to_bare']})"
                       for c, runs in closed_results.items())
    astray = sum((runs["app"]["astray"] or 0) for runs in [*open_results.values(), *closed_results.values()])
    generator = max((runs[name]["cpu_cores"]["load_generator"] for runs in [*open_results.values(),
                     *closed_results.values()] for name in TARGETS), default=0)
    verdict = ", ".join(f"{k} {'yes' if v else 'NO' if v is not None else 'n/a'}" for k, v in targets.items())
    print(f"ussd: {opened}; saturation {closed}; best app/bare {share}; targets: {verdict}; "
          f"app astray {astray}; load generator up to {generator} cores; {args.workers} "
          f"{result['setup']['gunicorn']['worker_class']} gunicorn workers each, "
          f"{result['setup']['database']}, {args.clients} clients, {result['machine']['cpus']} CPUs, "
          f"load {load_before} -> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
