"""Benchmark: how much of the bare endpoint's saturation a USSD request can keep once it does the I/O it must.

    .venv/bin/python bench/ussd_floor.py [--clients 3000] [--rounds 5] [--duration 12] [--concurrency 50]
                                         [--workers 2] [--database-url URL] [--redis-url URL] [--keep]

bench/ussd.py compares the gateway's saturation with a bare Flask endpoint's
(the issue's target: at least half). This benchmark puts three floors
between the two (bench/floor_app.py): apps that parse AT's callback with
the gateway's parser and answer the bare endpoint's fixed screen, and in
between do only the session store's two Redis round trips (``redis``), only
the caller's look-up in the database on every request (``database``), or
both as the gateway does them, the look-up on a session's first request
only (``session``). Nothing of menus, wording, effects or audit: the least a
request costs with the gateway's session store and look-up as they are. So
it tells how much of the ratio is left for the gateway's own work.

All five (``bare``, the three floors, ``app`` = ``wsgi:app``) are served at
once by gunicorns with the same settings (gunicorn.conf.py, ``--workers``),
on the same world as bench/ussd.py (``seed``), and played in closed loop
(``--concurrency`` sessions back to back, no think time, bench/ussd.py's
journeys) for ``--duration`` seconds each, one after another, for
``--rounds`` rounds, the order turned by one each round: CPU speed on a
shared machine moves within minutes, so each round's ratios are of the same
minutes. CPU per request of gunicorn, Redis and PostgreSQL (when it runs on
this machine) is measured per run. The gateway's screens are checked as
bench/ussd.py checks them; the others' for ``200`` and ``CON``. A floor that
lost Redis goes on without it (as the gateway does) and would look fast: the
gunicorn logs are counted for the store's warning, and a target with errors
or such warnings gets no ratio.

Prints one summary line (each target's median ratio to the bare endpoint)
and writes bench/results/ussd-floor.json.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ussd as u  # noqa: E402  (its world, sessions, gunicorn and CPU meter)

TARGETS = {
    "bare": "bench.bare_app:app",
    "redis": "bench.floor_app:redis_app",
    "database": "bench.floor_app:database_app",
    "session": "bench.floor_app:session_app",
    "app": "wsgi:app",
}
WARMUP_SECONDS = 3.0  # per server, before the rounds: every worker's first requests (imports, pools, menus)


def redis_warnings(log: Path) -> int:
    """How many times the session store said it went on without Redis (gateway.ussd.sessions)."""
    with log.open(errors="replace") as lines:
        return sum("USSD sessions: Redis" in line for line in lines)


def main() -> None:
    # A SIGTERM (or timeout(1)) unwinds through the clean-up: gunicorns, Redis and the database go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of each closed-loop run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    u.add_server_options(parser)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "ussd-floor.json"))
    args = parser.parse_args()
    if not (0 < args.clients <= 200_000 and 0 < args.rounds <= 20 and 0 < args.duration <= 300
            and 0 < args.concurrency <= 1000 and 0 < args.workers <= 64):
        parser.error("clients up to 200000, rounds up to 20, duration up to 300 s, concurrency up to 1000, "
                     "workers up to 64")
    u.raise_file_limit()

    started, load_before = time.monotonic(), u.load_average()
    runs: dict[str, list[dict]] = {name: [] for name in TARGETS}
    work = Path(tempfile.mkdtemp(prefix="bench-ussd-floor-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(u._leave_folder, work, args.keep)
        kept = cleanup.enter_context(u.stores(args.database_url, args.redis_url, work))
        servers: dict = {}
        cleanup.callback(lambda: [u.stop_group(process) for process in servers.values()])
        world = u.seed(kept.database_url, kept.redis_url, work, args.clients)
        ports = {name: u.free_port() for name in TARGETS}
        for name, target in TARGETS.items():
            servers[name] = u.start_gunicorn(name, ports[name], kept.database_url, kept.redis_url, args.workers,
                                             work, target=target)
        postgres = u.postgres_of(kept.database_url)
        redis_pid = kept.redis_process.pid if kept.redis_process else None
        for name in TARGETS:
            asyncio.run(u.closed_loop(ports[name], args.workers * 2, WARMUP_SECONDS, args.clients, world["pins"],
                                      args.seed + 1, name == "app"))
            u.drain(ports[name])
        names = list(TARGETS)
        total = args.rounds * len(names)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                meter = u.CpuMeter(servers[name].pid, redis_pid, postgres=postgres)
                meter.start()
                result = asyncio.run(u.closed_loop(ports[name], args.concurrency, args.duration, args.clients,
                                                   world["pins"], args.seed + 20 + r, name == "app"))
                result["cpu_cores"] = meter.stop()
                result["round"] = r + 1
                u.drain(ports[name])
                runs[name].append(result)
                done = sum(len(v) for v in runs.values())
                filled = int(30 * done / total)
                print(f"\r  [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}  {name:<8} "
                      f"{result['requests_per_second']:>7g} req/s", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        warnings = {name: redis_warnings(work / f"gunicorn-{name}.log") for name in TARGETS}

    def per_request_ms(result: dict, part: str) -> float | None:
        """CPU of ``part`` a request in one run; None where it was not measured (a remote server)."""
        cores = result["cpu_cores"].get(part)
        return 1000 * cores / result["requests_per_second"] if cores is not None \
            and result["requests_per_second"] else None

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 3) if values else None

    summary = {}
    for name in TARGETS:
        errors = sum(run["errors"] for run in runs[name])
        ratios = [run["requests_per_second"] / bare["requests_per_second"]
                  for run, bare in zip(runs[name], runs["bare"]) if bare["requests_per_second"]]
        trusted = not errors and not warnings[name]  # else a ratio would flatter a floor that skipped its work
        summary[name] = {
            "requests_per_second": [run["requests_per_second"] for run in runs[name]],
            "to_bare": [round(x, 3) for x in ratios],
            "to_bare_median": median(ratios) if trusted else None,
            "errors": errors,
            "redis_warnings": warnings[name],
            "astray": sum(run["astray"] or 0 for run in runs[name]) if name == "app" else None,
            **{f"{part}_cpu_ms_per_request_median": median(
                [v for run in runs[name] if (v := per_request_ms(run, part)) is not None])
               for part in ("gunicorn", "redis", "postgres", "load_generator")},
        }
    result = {
        "benchmark": "ussd-floor",
        "at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat(),
        "machine": {**u.machine(), "load_average_before": load_before, "load_average_after": u.load_average()},
        "setup": {"clients": args.clients, "imported": world["imported"], "appointments": world["appointments"],
                  "clients_with_pin": len(world["pins"]), "seed": args.seed, "warmup_seconds": WARMUP_SECONDS,
                  "request_timeout_seconds": u.REQUEST_TIMEOUT, "rounds": args.rounds,
                  "closed_loop_seconds": args.duration,
                  "concurrency": args.concurrency, "gunicorn": u.gunicorn_settings(args.workers),
                  "targets": TARGETS, "database": kept.database_url.split(":")[0], "redis": kept.redis_kind,
                  "journeys_per_100": u.JOURNEYS,
                  "order": "each round: every target in turn, the order turned by one each round",
                  "wall_seconds": round(time.monotonic() - started, 1)},
        "summary": summary,
        "runs": runs,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("ussd-floor: saturation against the bare endpoint (median of "
          f"{args.rounds} rounds, {args.concurrency} sessions): "
          + ", ".join(f"{name} x{s['to_bare_median'] or 'n/a'} ({statistics.median(s['requests_per_second']):g} req/s, "
                      f"gunicorn {s['gunicorn_cpu_ms_per_request_median']} ms a request)"
                      for name, s in summary.items())
          + f"; errors {sum(s['errors'] for s in summary.values())}, app astray {summary['app']['astray']}, "
          f"Redis warnings {sum(warnings.values())}; "
          f"{result['setup']['database']}, {args.clients} clients, {result['machine']['cpus']} CPUs -> "
          f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
