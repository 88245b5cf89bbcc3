"""Benchmark: enrol N clients by CSV, then compute all their appointments and reminders.

    .venv/bin/python bench/scheduling.py [--clients 100000] [--database-url URL]

Prints one summary line and writes raw numbers to bench/results/scheduling.json.
Peak memory is the process's maximum resident set size; to see that memory
is flat in the number of clients, run it at two sizes and compare.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sys
import tempfile
import time
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
        fh.write("phone,country,language,art_last_dispensed,art_days_supply,expected_delivery_date,"
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
            fh.write(f"{phone},{country},,{art},{days},{edd},{dob},{exposed}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary folder")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from gateway import create_app
    from gateway.appointments import plan_ahead
    from gateway.clients.importer import import_csv
    from gateway.config import Settings
    from gateway.extensions import db
    from gateway.models import Appointment, Reminder

    work = Path(tempfile.mkdtemp(prefix="bench-scheduling-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    settings = Settings(instance_path=work, database_url=url, redis_url=None, secret_key="bench")
    app = create_app(settings)
    today = dt.date.today()
    csv_path = work / "clients.csv"
    write_csv(csv_path, args.clients, today)
    with app.app_context():
        upgrade()
        t0 = time.perf_counter()
        with csv_path.open("rb") as stream:
            report = import_csv(stream, default_country="ZA", actor="bench", batch_size=1000)
        t1 = time.perf_counter()
        planned = plan_ahead()
        t2 = time.perf_counter()
        appts = db.session.scalar(select(func.count()).select_from(Appointment))
        rems = db.session.scalar(select(func.count()).select_from(Reminder))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "clients": args.clients, "imported": report.imported, "refused": report.refused_count,
        "import_seconds": round(t1 - t0, 2), "plan_seconds": round(t2 - t1, 2),
        "total_seconds": round(t2 - t0, 2), "clients_per_second": round(args.clients / (t2 - t0), 1),
        "appointments": appts, "reminders": rems, "planned": planned, "peak_rss_mb": round(peak_mb, 1),
        "database": url.split(":")[0],
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scheduling.json").write_text(json.dumps(result, indent=2))
    print(f"scheduling: {result['clients']} clients in {result['total_seconds']} s "
          f"(import {result['import_seconds']} s, plan {result['plan_seconds']} s), "
          f"{result['clients_per_second']} clients/s, {appts} appointments, {rems} reminders, "
          f"peak RSS {result['peak_rss_mb']} MB ({result['database']})")


if __name__ == "__main__":
    main()
