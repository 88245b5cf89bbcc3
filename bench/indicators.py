"""Benchmark: a month's programme indicators for every site, over 100,000 clients and a year of history.

    .venv/bin/python bench/indicators.py [--clients 100000] [--sites 200] [--database-url URL]

The world is written straight into the tables with ``gateway.adapters.bulk.bulk_insert``
(COPY on PostgreSQL), as bench/scheduling.py's would look after a year:
200 sites in five countries; clients enrolled over the last two years; ART
clients with a monthly refill each month of the last year (most on time, some
late, some never collected); infants with their immunisations and HIV tests;
a reminder and an SMS for most visits. Then, timed, each as the gateway does it:

- ``month_all_sites``: every indicator of last month for every site (what the
  DHIS2 push and ``GET /api/v1/indicators`` count): the target is under 10 s;
- ``year_all_sites``: the same for thirteen months (the Programme page, all sites);
- ``year_one_site``: thirteen months of one site (a coordinator's page);
- ``reminder_comparison`` and ``line_list``: the rest of the Programme page.

Each is run three times; the best and the median are kept. Writes the numbers with the
machine to bench/results/indicators-<database>.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ussd import machine, prepare_database  # noqa: E402  (the shared bench plumbing)

COUNTRIES = (("ZA", "Africa/Johannesburg"), ("KE", "Africa/Nairobi"), ("MW", "Africa/Blantyre"),
             ("UG", "Africa/Kampala"), ("ZM", "Africa/Lusaka"))
IMMUNISATIONS = (("BCG", 0), ("OPV1", 42), ("Hexa1", 42), ("Hexa2", 70), ("Hexa3", 98), ("MR1", 183),
                 ("PCV3", 274), ("MR2", 365), ("Hexa4", 548))
TESTS = (("PCR birth", 0), ("PCR 10 weeks", 70), ("PCR 6 months", 183), ("HIV antibody 18 months", 548))


def build_world(clients: int, sites: int, today: dt.date, seed: int = 5) -> dict:
    """Write the world; returns the row counts."""
    from gateway.adapters.bulk import bulk_insert
    from gateway.adapters.database import db
    from gateway.core.models import Appointment, Client, Infant, Message, Reminder, Site, reminder_appointments

    rng = random.Random(seed)
    next_id = {}  # ids are given here (an empty database): COPY then needs no RETURNING

    def insert(table, rows: list[dict]) -> list[int]:
        first = next_id.get(table.name, 1)
        ids = list(range(first, first + len(rows)))
        next_id[table.name] = first + len(rows)
        bulk_insert(table, [{"id": i, **row} for i, row in zip(ids, rows)])
        return ids
    now = dt.datetime.combine(today, dt.time(12))
    site_rows = [{"name": f"Site {i:03d}", "country": COUNTRIES[i % 5][0], "timezone": COUNTRIES[i % 5][1],
                  "created_at": now, "updated_at": now} for i in range(sites)]
    site_ids = insert(Site.__table__, site_rows)
    counts = {"sites": sites, "clients": 0, "infants": 0, "appointments": 0, "reminders": 0, "messages": 0}
    batch = 5000
    for start in range(0, clients, batch):
        rows = []
        for i in range(start, min(start + batch, clients)):
            site = rng.randrange(sites)
            created = now - dt.timedelta(days=rng.randint(0, 730))
            rows.append({"phone": f"+2782{i:07d}", "country": COUNTRIES[site % 5][0], "language": "en",
                         "site_id": site_ids[site], "reminder_hour": 9, "explicit_wording": False,
                         "opted_out": rng.random() < 0.05, "pin_failures": 0, "consecutive_failures": 0,
                         "created_at": created, "updated_at": created})
        ids = insert(Client.__table__, rows)
        counts["clients"] += len(ids)
        appointments, infants = [], []
        for client_id, row in zip(ids, rows):
            if rng.random() < 0.65:  # on ART: a refill due each month of the last year
                due = max(row["created_at"].date(), today - dt.timedelta(days=365)) + dt.timedelta(days=30)
                while due < today + dt.timedelta(days=30):
                    luck = rng.random()
                    if due >= today or luck < 0.04:
                        status, done = "due", None  # not yet, or never collected
                    else:
                        status, done = "done", due + dt.timedelta(days=0 if luck < 0.75 else rng.randint(1, 40))
                    appointments.append(_visit(client_id, None, "art_refill", "ART refill", due, status, done, now))
                    due = (done or due) + dt.timedelta(days=30)
            if rng.random() < 0.4:
                infants.append({"client_id": client_id, "date_of_birth": today - dt.timedelta(days=rng.randint(0, 700)),
                                "hiv_exposed": rng.random() < 0.9, "created_at": now, "updated_at": now})
        infant_ids = insert(Infant.__table__, infants)
        counts["infants"] += len(infant_ids)
        for infant_id, infant in zip(infant_ids, infants):
            doses = IMMUNISATIONS + (TESTS if infant["hiv_exposed"] else ())
            for name, days in doses:
                due = infant["date_of_birth"] + dt.timedelta(days=days)
                kind = "infant_hiv_test" if name in dict(TESTS) else "immunisation"
                given = due + dt.timedelta(days=rng.randint(0, 45)) if rng.random() < 0.8 else None
                done = given if given and given < today else None
                appointments.append(_visit(infant["client_id"], infant_id, kind, name, due,
                                           "done" if done else "due", done, now))
        appointment_ids = insert(Appointment.__table__, appointments)
        counts["appointments"] += len(appointment_ids)
        # One reminder a client a day, naming every visit due that day; none for some (opted out, no phone).
        by_day: dict[tuple[int, dt.date], tuple[dict, list[int]] | None] = {}
        for appointment_id, visit in zip(appointment_ids, appointments):
            if visit["due_date"] > today:
                continue
            key = (visit["client_id"], visit["due_date"])
            if key not in by_day:
                by_day[key] = None if rng.random() < 0.15 else ({
                    "client_id": key[0], "send_date": key[1], "send_at": dt.datetime.combine(key[1], dt.time(7)),
                    "stale_at": dt.datetime.combine(key[1], dt.time(17)), "template": "today", "due_date": key[1],
                    "status": rng.choice(("delivered",) * 8 + ("sent", "failed")), "version": 1,
                    "created_at": now, "updated_at": now}, [])
            if by_day[key] is not None:
                by_day[key][1].append(appointment_id)
        planned = [entry for entry in by_day.values() if entry is not None]
        reminder_ids = insert(Reminder.__table__, [r for r, _ in planned])
        counts["reminders"] += len(reminder_ids)
        links, messages = [], []
        for reminder_id, (reminder, visit_ids) in zip(reminder_ids, planned):
            links += [{"reminder_id": reminder_id, "appointment_id": a} for a in visit_ids]
            sent, status = reminder["send_at"], reminder["status"]
            messages.append({"client_id": reminder["client_id"], "direction": "out", "phone": "+27820000000",
                             "text": "Reminder: clinic visit", "status": status, "backend": "africastalking",
                             "sent_at": sent, "delivered_at": sent + dt.timedelta(minutes=1)
                             if status == "delivered" else None, "reminder_id": reminder_id, "attempts": 1,
                             "created_at": sent, "updated_at": sent})
        bulk_insert(reminder_appointments, links)
        insert(Message.__table__, messages)
        counts["messages"] += len(messages)
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        for table in next_id:  # the ids were given: the sequences must follow for any later insert
            db.session.execute(db.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {next_id[table]})"))
        db.session.execute(db.text("ANALYZE"))  # as autovacuum would, soon after a load this size
    db.session.commit()
    return counts


def _visit(client_id, infant_id, kind, name, due, status, done, now) -> dict:
    return {"client_id": client_id, "infant_id": infant_id, "kind": kind, "name": name, "due_date": due,
            "status": status, "done_on": done, "version": 1, "created_at": now, "updated_at": now}


def timed(work, repeat: int = 3) -> dict:
    from gateway.adapters.database import db

    seconds = []
    for _ in range(repeat):
        db.session.remove()
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return {"best_seconds": round(min(seconds), 3), "median_seconds": round(statistics.median(seconds), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--database-url", help="PostgreSQL to work in (a scratch schema is made and dropped); "
                                               "default: a new SQLite file")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from gateway import create_app, indicators
    from gateway.core.config import Settings
    from gateway.adapters.database import db

    started = machine()
    work = Path(tempfile.mkdtemp(prefix="bench-indicators-"))
    url, drop = prepare_database(args.database_url, work)
    today = dt.date.today()
    try:
        app = create_app(Settings(instance_path=work, database_url=url, redis_url=None, secret_key="bench"))
        with app.app_context():
            upgrade()
            print(f"building {args.clients} clients over {args.sites} sites...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            counts = build_world(args.clients, args.sites, today)
            build_seconds = round(time.perf_counter() - t0, 1)
            print(f"built in {build_seconds} s: {counts}", file=sys.stderr, flush=True)
            month = indicators.Period(today.year, today.month).minus(1)
            months = indicators.last_months(month, 13)
            one_site = db.session.scalar(db.text("SELECT min(id) FROM sites"))
            results = {
                "month_all_sites": timed(lambda: indicators.compute([month], None)),
                "year_all_sites": timed(lambda: indicators.compute(months, None)),
                "year_one_site": timed(lambda: indicators.compute(months, [one_site])),
                "reminder_comparison": timed(lambda: [indicators.reminder_comparison(c, month, None) for c, i in
                                                      indicators.definitions().items() if i.compare_reminders]),
                "line_list": timed(lambda: indicators.line_list("art_refills_on_time", month, [one_site])),
            }
            sample = indicators.totals(indicators.compute([month], None))
            server = db.session.execute(db.text("SELECT version()")).scalar() if url.startswith("postgresql") \
                else None
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
    result = {"benchmark": "indicators", "at": dt.datetime.now().isoformat(timespec="seconds"),
              "machine": started | {"load_average_at_end": list(__import__("os").getloadavg())},
              "database": url.split(":")[0], "database_server": server, "rows": counts,
              "build_seconds": build_seconds, "month": month.label, "timings": results,
              "all_sites_month_values": {code: v[month.label] for code, v in sample.items()}}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"indicators-{result['database'].split('+')[0]}.json").write_text(json.dumps(result, indent=2))
    print(f"indicators ({result['database']}, {counts['clients']} clients, {counts['appointments']} appointments, "
          f"{counts['messages']} SMS): " + "; ".join(f"{name} {r['best_seconds']} s (median {r['median_seconds']})"
                                                     for name, r in results.items()))


if __name__ == "__main__":
    main()
