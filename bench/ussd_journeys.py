"""Benchmark: what each USSD journey costs the app, in-process: CPU and statements, per session and per request.

    .venv/bin/python bench/ussd_journeys.py [--clients 3000] [--sessions 600] [--warmup 200]
                                            [--database-url URL] [--redis-url URL]

The same world and the same journeys as bench/ussd.py (its ``seed`` and
``new_session``, in its proportions), played through Flask's test client in
this one process and thread: no gunicorn, no load generator, no other request
in flight. For each journey it counts the thread's CPU time (the app, its
database driver and Redis client included; the database and Redis servers
not) and the SQL statements sent; over the whole mix, also the CPU of the
database server when it is a PostgreSQL on this machine. That tells where
bench/ussd.py's CPU per request goes, and what the cheapest journey (an
unknown number who declines: a form, a number, the session lock and record,
one read, one screen) costs: the floor every request pays before it does
anything of its own.

The database is a new SQLite file, or DATABASE_URL (PostgreSQL: a schema of
its own, or a scratch database when the URL names none; dropped afterwards).
Redis is a private ``redis-server`` on a free port (an embedded one if there
is none on the PATH), or REDIS_URL. Prints one summary line and writes the
raw numbers to bench/results/ussd-journeys.json.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ussd as world_of  # noqa: E402  (the world and journeys of bench/ussd.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=600, help="sessions measured (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=200, help="sessions played first and not counted")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--redis-url", default=None, help="default: a private redis-server on a free port")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "ussd-journeys.json"))
    args = parser.parse_args()
    if not (0 < args.clients <= 200_000 and 0 < args.sessions <= 100_000 and 0 <= args.warmup <= 100_000):
        parser.error("clients up to 200000, sessions up to 100000")

    from sqlalchemy import event

    from gateway import create_app
    from gateway.core.config import Settings
    from gateway.adapters.database import db

    work = Path(tempfile.mkdtemp(prefix="bench-journeys-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        kept = cleanup.enter_context(world_of.stores(args.database_url, args.redis_url, work))
        database_url, redis_url = kept.database_url, kept.redis_url
        world = world_of.seed(database_url, redis_url, work, args.clients)
        app = create_app(Settings(instance_path=work, database_url=database_url, redis_url=redis_url,
                                  secret_key="bench"))
        statements = [0]
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute",
                         lambda *_: statements.__setitem__(0, statements[0] + 1))
        http = app.test_client()
        rng = random.Random(args.seed)
        # journey -> [sessions, requests, cpu seconds, statements]; each reply checked as bench/ussd.py checks it
        tally: dict[str, list] = collections.defaultdict(lambda: [0, 0, 0.0, 0])
        checks: dict[str, world_of.Tally] = collections.defaultdict(world_of.Tally)

        def play(count: int, counted: bool, progress) -> None:
            for done in range(count):
                session = world_of.new_session(rng, args.clients, world["pins"])
                text, row = session.next_text(None), tally[session.kind]
                check = checks[session.kind] if counted else world_of.Tally()
                while text is not None:
                    form = {"sessionId": session.session_id, "serviceCode": "*384*123#",
                            "phoneNumber": session.phone, "networkCode": "63902", "text": text}
                    cpu, sent = time.thread_time(), statements[0]
                    response = http.post("/ussd", data=form)
                    if counted:
                        row[1] += 1
                        row[2] += time.thread_time() - cpu
                        row[3] += statements[0] - sent
                    text = check.next_text(session, response.status_code, response.get_data(as_text=True))
                row[0] += counted
                progress(done + 1, count)

        def bar(label: str):
            def show(done: int, total: int) -> None:
                if done == total or done % 20 == 0:
                    filled = int(30 * done / total)
                    print(f"\r  {label:<8} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="",
                          file=sys.stderr, flush=True)
                    if done == total:
                        print(file=sys.stderr)
            return show

        play(args.warmup, False, bar("warm-up"))
        postgres = world_of.postgres_of(database_url)
        before = world_of.postgres_seconds(postgres)
        play(args.sessions, True, bar("measured"))
        database_cpu = world_of.used_since(before, world_of.postgres_seconds(postgres)) if postgres else None
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    total_cpu = sum(row[2] for row in tally.values())
    total_requests = sum(row[1] for row in tally.values())
    total_sessions = sum(row[0] for row in tally.values())
    journeys = {
        kind: {"sessions": s, "requests_per_session": round(r / s, 2), "cpu_ms_per_session": round(1000 * c / s, 2),
               "cpu_ms_per_request": round(1000 * c / r, 3), "statements_per_session": round(q / s, 2),
               "share_of_cpu": round(c / total_cpu, 3), "errors": checks[kind].errors,
               "astray": checks[kind].astray}
        for kind, (s, r, c, q) in sorted(tally.items(), key=lambda kv: -kv[1][2]) if s}
    floor = journeys.get("unknown_no", {}).get("cpu_ms_per_request")
    result = {
        "benchmark": "ussd-journeys",
        "at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat(),
        "machine": world_of.machine(),
        "setup": {"clients": args.clients, "sessions": args.sessions, "warmup_sessions": args.warmup,
                  "database": database_url.split(":")[0], "journeys_per_100": world_of.JOURNEYS,
                  "measured": "thread CPU time of the test client's requests (app, driver and clients; "
                              "not the database or Redis servers); over the mix also the database server's "
                              "(database_cpu_ms_per_request, a PostgreSQL on this machine)"},
        "journeys": journeys,
        "mix": {"sessions": total_sessions, "requests": total_requests,
                "cpu_ms_per_request": round(1000 * total_cpu / total_requests, 3) if total_requests else None,
                "statements_per_request": round(sum(row[3] for row in tally.values()) / total_requests, 2)
                if total_requests else None,
                # The database server's own CPU (every PostgreSQL process on this machine), when it runs here.
                "database_cpu_ms_per_request": round(1000 * database_cpu / total_requests, 3)
                if database_cpu is not None and total_requests else None,
                "errors": sum(t.errors for t in checks.values()), "astray": sum(t.astray for t in checks.values())},
        "floor_cpu_ms_per_request": floor,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    mix = result["mix"]
    print(f"ussd-journeys: {mix['cpu_ms_per_request']} ms CPU and {mix['statements_per_request']} statements "
          f"a request over the mix ({mix['requests']} requests, {mix['errors']} errors, {mix['astray']} astray"
          + (f"; PostgreSQL {mix['database_cpu_ms_per_request']} ms CPU a request"
             if mix["database_cpu_ms_per_request"] is not None else "") + "); "
          f"cheapest journey "
          f"(unknown number declining) {floor} ms a request; costliest a request: "
          + ", ".join(f"{k} {v['cpu_ms_per_request']} ms" for k, v in
                      sorted(journeys.items(), key=lambda kv: -kv[1]["cpu_ms_per_request"])[:3])
          + f"; {result['setup']['database']}, {args.clients} clients -> {out}")


if __name__ == "__main__":
    main()
