"""Fault drills, the long versions, in one command: kills, Redis flushes, PostgreSQL restarts, AT outages.

    .venv/bin/python bench/faults.py [--reminders 50000] [--kills 20] [--flushes 3] [--pg-restarts 2]
                                     [--workers 2] [--cap 100] [--seed N] [--only kill,flush,outage,postgres]

The same drills as tests/faults/test_drills.py and test_postgres_restart.py
(tests/faults/drills.py: one way to do each thing), at sizes CI has no time
for. Each drill dispatches ``--reminders`` due reminders through real
``flask --app wsgi worker`` processes and the real SDK:

- kill: workers SIGKILLed ``--kills`` times at random moments, restarted each
  time; duplicates allowed only for messages in a request cut by a kill
  (``cap`` per kill);
- flush: Redis emptied ``--flushes`` times mid-run; no duplicate allowed;
- outage: the fake AT answers 500 for a while, then times out, then drops
  connections, then recovers; no duplicate allowed;
- postgres: PostgreSQL stopped (``pg_ctl stop -m fast``) and started again
  ``--pg-restarts`` times; duplicates allowed only for messages in a request
  cut by the stop (``cap`` per worker per restart).

Afterwards every due reminder must be sent exactly once or pending with a
retry time, and none lost. Everything runs on 127.0.0.1 and nothing shared is
touched: a private PostgreSQL cluster (Debian's binaries, a temporary folder,
a free port; as root it runs as the ``postgres`` user), a private
``redis-server``, the fake AT (``devtools.at_server``) in a thread. Every
process started is stopped by its pid; every wait is bounded.

Prints one line per drill and one summary line; writes the raw numbers to
``bench/results/faults.json``. Exit status 1 if any drill failed its verdict.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import drills  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DRILLS = ("kill", "flush", "outage", "postgres")


def run_drill(name: str, rig: drills.Rig, pg: drills.PrivatePostgres, args) -> drills.DrillResult:
    if name == "kill":
        return drills.kill_drill(rig, args.reminders, args.kills, seed=args.seed, workers=args.workers,
                                 settle_timeout=args.timeout)
    if name == "flush":
        return drills.flush_drill(rig, args.reminders, args.flushes, seed=args.seed, workers=args.workers,
                                  settle_timeout=args.timeout)
    if name == "outage":
        return drills.outage_drill(rig, args.reminders, seed=args.seed, workers=args.workers,
                                   settle_timeout=args.timeout)
    return drills.postgres_restart_drill(rig, pg, args.reminders, seed=args.seed, restarts=args.pg_restarts,
                                         down=args.pg_down, workers=args.workers, settle_timeout=args.timeout)


def main(argv: list[str] | None = None) -> int:
    # A SIGTERM (or timeout(1)) unwinds through the finally blocks: workers, servers and the cluster go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=50_000, help="due reminders per drill")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--flushes", type=int, default=3)
    parser.add_argument("--pg-restarts", type=int, default=2)
    parser.add_argument("--pg-down", type=float, default=5.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cap", type=int, default=100, help="AT_MAX_RECIPIENTS")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", default=",".join(DRILLS), help="drills to run, comma separated")
    parser.add_argument("--timeout", type=float, default=300, help="seconds any one wait may take at most")
    parser.add_argument("--output", default=str(RESULTS / "faults.json"))
    args = parser.parse_args(argv)
    args.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10 ** 6)
    chosen = [d for d in args.only.split(",") if d]
    unknown = set(chosen) - set(DRILLS)
    if unknown:
        parser.error(f"unknown drill(s): {', '.join(sorted(unknown))}")
    reason = drills.PrivatePostgres.unavailable()
    if reason:
        print(f"faults: cannot run: {reason}", file=sys.stderr)
        return 2

    from devtools.at_server import create_app as create_at_app
    from devtools.at_server import serve_in_thread
    from gateway import create_app
    from gateway.core.config import Settings
    from gateway.adapters.database import db

    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    logdir = work / "logs"
    logdir.mkdir()
    report: dict = {"started": dt.datetime.now().isoformat(timespec="seconds"), "machine_cores": os.cpu_count(),
                    "reminders": args.reminders, "workers": args.workers, "cap": args.cap, "seed": args.seed,
                    "logs": str(logdir), "drills": []}
    results: list[drills.DrillResult] = []
    began = time.monotonic()
    pg = private_redis = stop_at = app = None
    try:
        pg = drills.PrivatePostgres()
        pg.start()
        url = pg.create_database("faults")
        private_redis = drills.PrivateRedis(work)
        at_app = create_at_app(api_key=drills.AT_KEY)
        at_url, stop_at = serve_in_thread(at_app)
        at = at_app.extensions["at_server"]
        at.url = at_url
        (work / "instance").mkdir()
        app = create_app(Settings(instance_path=work / "instance", database_url=url, redis_url=private_redis.url,
                                  secret_key="bench", sms_backend="africastalking", at_username="sandbox",
                                  at_api_key=drills.AT_KEY, at_api_url=at_url, at_sender_id=drills.SENDER_ID,
                                  at_max_recipients=args.cap))
        drills.migrate(app)
        rig = drills.Rig(app=app, at=at, database_url=url, redis_url=private_redis.url, cap=args.cap, logdir=logdir)
        for name in chosen:
            drills.clear_tables(app)
            rig.redis().flushdb()
            at.reset()
            result = run_drill(name, rig, pg, args)
            results.append(result)
            report["drills"].append(result.as_dict())
            print(f"  {result.line()}" + ("" if result.ok else f"  FAILED: {result.failures}")
                  + "".join(f"\n    note: {note}" for note in result.notes), flush=True)
    finally:
        if stop_at is not None:
            stop_at()
        if private_redis is not None:
            private_redis.stop()
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        if pg is not None:
            pg.close()
    report["seconds"] = round(time.monotonic() - began, 1)
    totals = {
        "kills": sum(r.kills for r in results), "redis_flushes": sum(r.redis_flushes for r in results),
        "postgres_restarts": sum(r.postgres_restarts for r in results),
        "duplicates": sum(r.verdict.duplicates for r in results),
        "allowed_duplicates": sum(r.allowed_duplicates for r in results),
        "duplicates_outside_window": sum(r.duplicates_outside_window for r in results),
        "sent": sum(r.verdict.sent for r in results),
        "pending_with_retry": sum(r.verdict.pending_with_retry for r in results),
        "lost": sum(r.verdict.lost for r in results),
        "ok": bool(results) and all(r.ok for r in results),
    }
    report["totals"] = totals
    if totals["ok"]:
        shutil.rmtree(work, ignore_errors=True)  # the workers' logs are kept only when something failed
        report["logs"] = None
    Path(args.output).write_text(json.dumps(report, indent=2, default=str))
    dup_parts = ", ".join(f"{r.name} {r.verdict.duplicates}/{r.allowed_duplicates}" for r in results)
    faults = [f"{totals[key]} {what}" for key, what in (("kills", "kills"), ("redis_flushes", "Redis flushes"),
                                                         ("postgres_restarts", "PostgreSQL restarts")) if totals[key]]
    faults += ["AT 500s, timeouts and drops"] if "outage" in chosen else []
    print(f"faults: {len(results)} drills x {args.reminders} reminders ({', '.join(faults)}): "
          f"duplicates {totals['duplicates']} (drill/allowed: {dup_parts}), sent {totals['sent']}, "
          f"pending with retry {totals['pending_with_retry']}, lost {totals['lost']}; "
          f"{'OK' if totals['ok'] else 'FAILED'} in {report['seconds']} s (seed {args.seed}) -> {args.output}")
    return 0 if totals["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
