"""Benchmark: whole USSD sessions through ``POST /ussd`` on gunicorn, offered open loop at a fixed rate.

    .venv/bin/python bench/ussd.py [--clients 3000] [--rate 200] [--duration 30]
                                   [--saturation-duration 15] [--concurrency 16] [--workers 2]
                                   [--database-url URL] [--redis-url URL]

Starts ``gunicorn wsgi:app`` (the project's gunicorn.conf.py, WEB_CONCURRENCY
workers) on a free loopback port against a new SQLite file and an embedded
Redis in a temporary folder, or against DATABASE_URL (PostgreSQL: in a schema
of its own, dropped afterwards) and REDIS_URL. Enrols ``--clients`` clients
(some with a USSD PIN, some with a baby), a coordinator, and then:

1. **Open loop.** Requests are sent at ``--rate`` a second, evenly spaced,
   for ``--duration`` seconds, whether or not earlier ones have been
   answered. Each request is the next step of a session waiting for its
   next answer (a session sends its next answer once its screen came back),
   else the first request of a new session. Sessions are whole journeys, as
   AT sends them (cumulative ``text``): next visit, medicine collected, a
   baby, reminder time, language, call back, an unknown number asking to
   join, a coordinator's look-up or call-backs. Latency is measured from the
   moment a request was due, not sent, so a client falling behind counts
   against the server (no coordinated omission).
2. **Saturation.** ``--concurrency`` players send sessions back to back for
   ``--saturation-duration`` seconds: the requests answered per second is
   the saturation throughput.

Every reply is checked: HTTP 200, ``CON ``/``END ``, within 160 characters,
and the screen the journey expects. Prints one summary line and writes
bench/results/ussd.json. Loopback only; every count and duration is bounded.
The load generator runs on the same machine and takes part of its CPU.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import platform
import random
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


# ---------------------------------------------------------------- the world the sessions run in


def client_phone(i: int) -> str:
    return f"+2782{i:07d}"


def unknown_phone(rng: random.Random) -> str:
    return f"+2784{rng.randrange(10_000_000):07d}"


def write_csv(path: Path, n: int, today: dt.date, seed: int = 11) -> None:
    rng = random.Random(seed)
    with path.open("w") as fh:
        fh.write("phone,country,language,art_last_dispensed,art_days_supply,infant_date_of_birth\n")
        for i in range(n):
            art = (today - dt.timedelta(days=rng.randint(0, 80))).isoformat()
            days = rng.choice([30, 60, 90])
            dob = (today - dt.timedelta(days=rng.randint(0, 600))).isoformat() if i % 3 == 0 else ""
            fh.write(f"0{client_phone(i)[3:]},ZA,en,{art},{days},{dob}\n")


def prepare_database(url: str | None, work: Path) -> tuple[str, callable]:
    """A database URL with nothing in it yet, and how to drop it afterwards."""
    if not url:
        return f"sqlite:///{work / 'bench.db'}", lambda: None
    import sqlalchemy as sa

    from gateway.config import Settings

    url = Settings.from_env(work, {"DATABASE_URL": url, "SECRET_KEY": "bench"}).database_url
    if not url.startswith("postgresql"):
        return url, lambda: None
    schema = f"bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query) + [("options", f"-csearch_path={schema}")]

    def drop():
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query))), drop


def seed(database_url: str, redis_url: str, work: Path, clients: int) -> dict:
    """Migrate, enrol the clients (appointments and reminders planned), give some a PIN; add a coordinator."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select, update
    from werkzeug.security import generate_password_hash

    from gateway import create_app, users
    from gateway.appointments import plan_ahead
    from gateway.clients.importer import import_csv
    from gateway.config import Settings
    from gateway.extensions import db
    from gateway.models import Appointment, Client, Site
    from gateway.ussd.services import PIN_HASH_METHOD

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
                           .values(ussd_pin_hash=generate_password_hash(CLIENT_PIN, method=PIN_HASH_METHOD)))
        # The coordinator is made as the console and CLI make one (users.create_user hashes her PIN).
        users.create_user("coordinator@example.org", "coordinator", None, "bench", phone=COORDINATOR_PHONE,
                          pin=COORDINATOR_PIN, site_ids=[site.id])
        db.session.commit()
        pins = set(db.session.scalars(select(Client.phone).where(Client.ussd_pin_hash.is_not(None))))
        appointments = db.session.scalar(select(func.count()).select_from(Appointment))
    return {"imported": report.imported, "appointments": appointments, "pins": pins,
            "seed_seconds": round(time.perf_counter() - t0, 1)}


# ---------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, database_url: str, redis_url: str, workers: int, work: Path) -> subprocess.Popen:
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SECRET_KEY": "bench", "WEB_CONCURRENCY": str(workers), "SMS_BACKEND": "outbox", "AT_API_KEY": "",
           "CALLBACK_TOKEN": ""}
    log = (work / "gunicorn.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {work / 'gunicorn.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    stop_gunicorn(process)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def drain(port: int, limit: float = 120.0) -> float:
    """Wait until the server answers at once again (requests given up on may still be queued); seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=limit):
                pass
        except OSError:
            pass
        if time.monotonic() - sent < 0.5:
            break
    return round(time.monotonic() - began, 1)


def service_times(log: Path, skip_lines: int) -> tuple[dict, int]:
    """Server-side times of the /ussd requests gunicorn logged after line ``skip_lines`` (its access log's ``%M``)."""
    lines = log.read_text(errors="replace").splitlines()
    times = [float(line.rsplit(" ", 1)[1][:-2]) / 1000 for line in lines[skip_lines:]
             if '"POST /ussd"' in line and line.endswith("ms")]
    return summary(times), len(lines)


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


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

    def next_text(self, last_screen: str | None) -> str | None:
        """The ``text`` of the next request, or None when the journey is over (or went astray)."""
        if not self.started:
            self.started = True
            return ""
        if last_screen is None or last_screen.startswith("END "):
            return None
        if self.answers:
            self.sent.append(self.answers.pop(0))
        elif "\n98. " in last_screen and self.more_pages < 5:  # a long list: read on
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
    latencies: list[float] = field(default_factory=list)  # seconds, from when each request was due
    by_kind: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: int = 0  # no answer, not a 200, or a malformed or oversized reply
    astray: int = 0  # a well-formed reply, but not the screen the journey expected
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
            if body.startswith("CON ") or session.answers or "not available" in body or "did not work" in body:
                self.astray += 1
        return following


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(latencies: list[float]) -> dict:
    ms = [v * 1000 for v in latencies]
    return {"requests": len(ms), **{f"p{p}_ms": round(percentile(ms, p), 1) for p in (50, 95, 99)},
            "max_ms": round(max(ms), 1) if ms else None}


async def open_loop(port: int, rate: float, duration: float, clients: int, pins: set[str], seed: int) -> dict:
    """Offer ``rate`` requests a second for ``duration`` seconds, each the next step of a waiting session."""
    rng = random.Random(seed)
    tally, ready = Tally(), collections.deque()
    total = int(rate * duration)
    tasks = set()

    async def fire(due: float, session: Session, text: str) -> None:
        try:
            status, body = await asyncio.wait_for(post(port, session, text), REQUEST_TIMEOUT)
        except (OSError, asyncio.TimeoutError, ValueError, IndexError):
            status, body = 0, ""
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
    if tasks:
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
    achieved = total / max(sent_by - start, 1e-9)
    return {"offered_per_second": rate, "duration_seconds": duration, "sent_per_second": round(achieved, 1),
            **summary(tally.latencies), "errors": tally.errors, "astray": tally.astray,
            "sessions_finished": tally.sessions_done,
            "p99_ms_by_journey": {k: round(percentile([v * 1000 for v in vs], 99), 1)
                                  for k, vs in sorted(tally.by_kind.items())}}


async def closed_loop(port: int, concurrency: int, duration: float, clients: int, pins: set[str],
                      seed: int) -> dict:
    """``concurrency`` players, each sending sessions back to back: the rate the server sustains."""
    rng = random.Random(seed)
    tally = Tally()
    stop_at = time.perf_counter() + duration

    async def player() -> None:
        while time.perf_counter() < stop_at:
            session = new_session(rng, clients, pins)
            text = session.next_text(None)
            while text is not None and time.perf_counter() < stop_at:
                sent = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(post(port, session, text), REQUEST_TIMEOUT)
                except (OSError, asyncio.TimeoutError, ValueError, IndexError):
                    status, body = 0, ""
                tally.latencies.append(time.perf_counter() - sent)
                text = tally.next_text(session, status, body)

    began = time.perf_counter()
    await asyncio.gather(*(player() for _ in range(concurrency)))
    took = time.perf_counter() - began
    return {"concurrency": concurrency, "duration_seconds": round(took, 1),
            "requests_per_second": round(len(tally.latencies) / took, 1), **summary(tally.latencies),
            "errors": tally.errors, "astray": tally.astray}


# ---------------------------------------------------------------- the run


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=200.0, help="offered requests per second (open loop)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of open-loop load (at most 300)")
    parser.add_argument("--saturation-duration", type=float, default=15.0, help="seconds (at most 300; 0: skip)")
    parser.add_argument("--concurrency", type=int, default=16, help="players in the saturation run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn worker processes")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="default: DATABASE_URL, else a new SQLite file")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="default: REDIS_URL, else an embedded Redis in a temporary folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (gunicorn.log) afterwards")
    args = parser.parse_args()
    if not (0 < args.duration <= 300 and 0 <= args.saturation_duration <= 300 and 0 < args.rate <= 5000
            and 0 < args.clients <= 200_000 and 0 < args.concurrency <= 256):
        parser.error("durations up to 300 s, rate up to 5000/s, clients up to 200000, concurrency up to 256")

    from gateway.redis_store import embedded_url, stop_embedded

    work = Path(tempfile.mkdtemp(prefix="bench-ussd-"))
    database_url, drop_database = prepare_database(args.database_url, work)
    redis_url = args.redis_url or embedded_url(work)
    process = None
    try:
        world = seed(database_url, redis_url, work, args.clients)
        port = free_port()
        process = start_gunicorn(port, database_url, redis_url, args.workers, work)
        log = work / "gunicorn.log"
        load_before = machine()["load_average"]
        # Warm-up: every worker reads and checks the menus on its first session.
        asyncio.run(closed_loop(port, args.workers * 2, 3.0, args.clients, world["pins"], args.seed + 1))
        drain(port)
        _, mark = service_times(log, 0)
        steady = asyncio.run(open_loop(port, args.rate, args.duration, args.clients, world["pins"], args.seed))
        steady["drain_seconds"] = drain(port)
        steady["server"], mark = service_times(log, mark)
        saturation = None
        if args.saturation_duration:
            saturation = asyncio.run(closed_loop(port, args.concurrency, args.saturation_duration, args.clients,
                                                 world["pins"], args.seed + 2))
            saturation["server"], mark = service_times(log, mark)
    finally:
        if process is not None:
            stop_gunicorn(process)
        drop_database()
        if not args.redis_url:
            stop_embedded(work)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    result = {
        "benchmark": "ussd",
        "at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat(),
        "machine": {**machine(), "load_average_before": load_before},
        "setup": {"clients": args.clients, "imported": world["imported"], "appointments": world["appointments"],
                  "clients_with_pin": len(world["pins"]), "seed_seconds": world["seed_seconds"],
                  "gunicorn_workers": args.workers, "database": database_url.split(":")[0],
                  "redis": "embedded" if not args.redis_url else "REDIS_URL", "journeys_per_100": JOURNEYS},
        "open_loop": steady,
        "saturation": saturation,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ussd.json").write_text(json.dumps(result, indent=2) + "\n")
    sat = f"{saturation['requests_per_second']} req/s" if saturation else "not measured"
    print(f"ussd: offered {steady['offered_per_second']:g} req/s for {steady['duration_seconds']:g} s "
          f"({steady['requests']} requests, {steady['sessions_finished']} sessions): "
          f"p50 {steady['p50_ms']} ms, p95 {steady['p95_ms']} ms, p99 {steady['p99_ms']} ms, "
          f"max {steady['max_ms']} ms, {steady['errors']} errors, {steady['astray']} astray "
          f"(server-side p50 {steady['server']['p50_ms']} ms, p99 {steady['server']['p99_ms']} ms); "
          f"saturation {sat} at concurrency {args.concurrency}; {args.workers} gunicorn workers, "
          f"{result['setup']['database']}, {args.clients} clients, {result['machine']['cpus']} CPUs, "
          f"load {result['machine']['load_average_before']}")


if __name__ == "__main__":
    main()
