"""Benchmark: enrol N clients by CSV, then compute all their appointments and reminders.

    .venv/bin/python bench/scheduling.py [--clients 20000,100000] [--database-url URL]

The same path as ``flask clients import FILE --plan``: ``import_csv`` streams
the file in batches of ``import_batch_size`` rows, then ``plan_ahead``
computes every client's appointments and reminders, a batch at a time.

Each size runs in a process of its own, on an empty database (SQLite: a new
file; PostgreSQL: a new schema in the given database, dropped afterwards), so
each run's peak resident set size is its own: memory that is flat in the
number of clients shows as the same peak at every size. The resident set is
also sampled after every batch (``rss_samples``: phase, clients done, MB).

Prints one summary line and writes the raw numbers, with the machine they
were measured on, to bench/results/scheduling-<database>.json (sqlite or postgresql).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Local mobile prefixes that phonenumbers accepts, per country (national format).
PREFIXES = {"ZA": "082", "KE": "0712", "MW": "0991", "UG": "0772", "ZM": "0977"}
LENGTH = {"ZA": 10, "KE": 10, "MW": 10, "UG": 10, "ZM": 10}


def write_csv(path: Path, n: int, today: dt.date, seed: int = 7) -> None:
    rng = random.Random(seed)
    countries = list(PREFIXES)
    with path.open("w") as fh:
        fh.write("consent,phone,country,language,art_last_dispensed,art_days_supply,expected_delivery_date,"
                 "infant_date_of_birth,infant_hiv_exposed\n")
        for i in range(n):
            country = countries[i % len(countries)]
            prefix = PREFIXES[country]
            phone = prefix + str(1000000 + i).rjust(LENGTH[country] - len(prefix), "0")[-(LENGTH[country] - len(prefix)):]
            kind = rng.random()
            art = edd = dob = ""
            days = ""
            if kind < 0.5 or kind > 0.8:  # ART (half of them with a baby too)
                art = (today - dt.timedelta(days=rng.randint(0, 80))).isoformat()
                days = rng.choice(["30", "60", "90"])
            if 0.5 <= kind < 0.65:  # pregnant
                edd = (today + dt.timedelta(days=rng.randint(10, 250))).isoformat()
            if kind >= 0.65:  # mother with a baby under 2
                dob = (today - dt.timedelta(days=rng.randint(0, 700))).isoformat()
            exposed = ("yes" if rng.random() < 0.9 else "no") if dob else ""
            fh.write(f"yes,{phone},{country},,{art},{days},{edd},{dob},{exposed}\n")


def rss_mb() -> float:
    """The process's resident set size now, in MB (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _with_search_path(url: str, schema: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query) + [("options", f"-csearch_path={schema}")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def run_one(clients: int, database_url: str | None) -> dict:
    """One size, in this process, on an empty database. Returns the raw numbers."""
    import sqlalchemy as sa
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from gateway import create_app
    from gateway.appointments import plan_ahead
    from gateway.clients.importer import import_csv
    from gateway.core.config import Settings
    from gateway.adapters.database import db
    from gateway.core.models import Appointment, Reminder, reminder_appointments

    work = Path(tempfile.mkdtemp(prefix="bench-scheduling-"))
    schema = engine = None
    if database_url:
        url = Settings.from_env(work, {"DATABASE_URL": database_url}).database_url
        schema = f"bench_{secrets.token_hex(4)}"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = _with_search_path(url, schema)
    else:
        url = f"sqlite:///{work / 'bench.db'}"
    settings = Settings(instance_path=work, database_url=url, redis_url=None, secret_key="bench")
    app = create_app(settings)
    today = dt.date.today()
    csv_path = work / "clients.csv"
    write_csv(csv_path, clients, today)
    samples: list[tuple[str, int, float]] = []
    try:
        with app.app_context():
            upgrade()
            server = db.session.execute(sa.text("SELECT version()")).scalar() if schema else None
            size = csv_path.stat().st_size
            done = [0]

            def imported(bytes_read: int) -> None:  # rows read so far, from the bytes read
                samples.append(("import", round(clients * bytes_read / size), round(rss_mb(), 1)))

            def planned(n: int) -> None:
                done[0] += n
                samples.append(("plan", done[0], round(rss_mb(), 1)))

            rss_before = rss_mb()
            w0, c0 = time.perf_counter(), time.process_time()
            with csv_path.open("rb") as stream:
                report = import_csv(stream, default_country="ZA", actor="bench",
                                    batch_size=settings.import_batch_size, progress=imported)
            w1, c1 = time.perf_counter(), time.process_time()
            plan_ahead(progress=planned)
            w2, c2 = time.perf_counter(), time.process_time()
            count = lambda table: db.session.scalar(select(func.count()).select_from(table))  # noqa: E731
            counts = {"appointments": count(Appointment), "reminders": count(Reminder),
                      "reminder_appointments": count(reminder_appointments)}
            db.session.remove()
            db.engine.dispose()
    finally:
        if engine is not None:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    plan_rss = [mb for phase, _, mb in samples if phase == "plan"]
    return {
        "clients": clients, "imported": report.imported, "refused": report.refused_count, **counts,
        "import_seconds": round(w1 - w0, 2), "plan_seconds": round(w2 - w1, 2), "total_seconds": round(w2 - w0, 2),
        "import_cpu_seconds": round(c1 - c0, 2), "plan_cpu_seconds": round(c2 - c1, 2),
        "clients_per_second": round(clients / (w2 - w0), 1),
        "rows_per_second": round((clients + sum(counts.values())) / (w2 - w0), 1),
        "rss_before_mb": round(rss_before, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
        "plan_rss_mb_first_last": [plan_rss[0], plan_rss[-1]] if plan_rss else None,
        "rss_samples": samples,
        "database": url.split(":")[0], "database_server": server,
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "load_average_at_start": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="100000",
                        help="a size, or sizes separated by commas (each runs in its own process)")
    parser.add_argument("--database-url", help="a PostgreSQL database to work in (a scratch schema is made "
                                               "and dropped); default: a new SQLite file in a temporary folder")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one size, JSON out
    args = parser.parse_args()
    sizes = [int(s) for s in args.clients.split(",")]

    if args.one:
        print(json.dumps(run_one(sizes[0], args.database_url)))
        return
    started = machine()
    runs = []
    for size in sizes:
        command = [sys.executable, __file__, "--one", "--clients", str(size)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        child = subprocess.run(command, capture_output=True, text=True)
        if child.returncode:
            sys.stderr.write(child.stderr)
            raise SystemExit(f"the {size}-client run failed")
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
    result = {"benchmark": "scheduling", "at": dt.datetime.now().isoformat(timespec="seconds"),
              "machine": started | {"load_average_at_end": os.getloadavg()}, "runs": runs}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scheduling-{runs[0]['database'].split('+')[0]}.json").write_text(json.dumps(result, indent=2))
    print(f"scheduling ({runs[0]['database']}): " + "; ".join(
        f"{r['clients']} clients in {r['total_seconds']} s (import {r['import_seconds']} s, "
        f"plan {r['plan_seconds']} s), {r['clients_per_second']} clients/s, {r['rows_per_second']} rows/s, "
        f"{r['appointments']} appointments, {r['reminders']} reminders, peak RSS {r['peak_rss_mb']} MB"
        for r in runs))


if __name__ == "__main__":
    main()
