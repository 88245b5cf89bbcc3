"""The bulk planner for new clients (``appointments._refresh_new``) writes what the ORM path writes.

``plan_ahead`` plans clients who have no rows yet with Core reads and bulk
writes, everyone else through ``refresh`` + ``reminders.plan``. Both must
compute the same thing: here identical twins (same dates, different phones)
go one down each path, and their rows must match field for field. Then the
ORM path, run again over the bulk-written rows, must find nothing to change.
"""
import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from gateway import appointments, reminders
from gateway.core import clock
from gateway.clients.enrolment import build_client, parse_enrolment
from gateway.adapters.database import db
from gateway.core.models import Appointment, Client, DoseGiven, Reminder, Site

NOW = dt.datetime(2026, 3, 2, 5, 0)  # 07:00 in Johannesburg, 08:00 in Nairobi
TODAY = NOW.date()

# A local mobile number per country (the last digits vary).
PHONES = {"ZA": "082 {:03d} {:04d}", "KE": "0712 {:03d} {:03d}", "MW": "0991 {:03d} {:03d}",
          "UG": "0772 {:03d} {:03d}", "ZM": "0971 {:03d} {:03d}"}


def days(n):
    return (TODAY - dt.timedelta(days=n)).isoformat()


# Each: the enrolment body (phone aside), doses given per infant, and what else is set on her.
PROFILES = [
    ({"country": "ZA", "art": {"last_dispensed": days(27), "days_supply": 30}}, [], {}),
    ({"country": "KE", "art": {"last_dispensed": days(1), "days_supply": 30}, "reminder_hour": 18}, [], {}),
    ({"country": "MW", "infants": [{"date_of_birth": days(0)}, {"date_of_birth": days(0)}],
      "art": {"last_dispensed": days(28), "days_supply": 30}}, [], {}),
    ({"country": "UG", "infants": [{"date_of_birth": days(40), "hiv_exposed": False}]}, [["BCG", "OPV0"]], {}),
    ({"country": "ZM", "infants": [{"date_of_birth": days(300)}]}, [[]], {"breastfeeding_ended_on": days(10)}),
    ({"country": "ZA", "infants": [{"date_of_birth": days(45)}], "reminder_hour": 8}, [["BCG", "OPV0"]], {}),
    ({"country": "KE", "art": {"last_dispensed": days(70), "days_supply": 60}}, [], {"site": "Nairobi"}),
    ({"country": "ZA", "art": {"last_dispensed": days(20), "days_supply": 30}}, [], {"opted_out": True}),
    ({"country": "MW", "art": {"last_dispensed": days(20), "days_supply": 30}}, [], {"phone_flag": "InvalidPhone"}),
    ({"country": "ZA", "expected_delivery_date": (TODAY + dt.timedelta(days=30)).isoformat()}, [], {}),
]

_numbers = itertools.count(1)


def _make(body, doses, extra, sites):
    n = next(_numbers)
    phone = PHONES[body["country"]].format(n // 1000 + 100, n % 1000 + (1000 if body["country"] == "ZA" else 0))
    client = build_client(parse_enrolment({**body, "phone": phone, "consent": True}, "ZA"))
    if "site" in extra:
        client.site = sites[extra["site"]]
    client.opted_out = extra.get("opted_out", False)
    client.phone_flag = extra.get("phone_flag")
    for infant, given in zip(client.infants, doses):
        infant.doses = [DoseGiven(dose=name, given_on=infant.date_of_birth) for name in given]
        if "breastfeeding_ended_on" in extra:
            infant.breastfeeding_ended_on = dt.date.fromisoformat(extra["breastfeeding_ended_on"])
    db.session.add(client)
    return client


def _rows(client_id):
    """Her appointments and reminders, by natural key, ids and timestamps left out."""
    appts = db.session.scalars(select(Appointment).where(Appointment.client_id == client_id)).all()
    infant_index = {i: k for k, i in enumerate(sorted({a.infant_id for a in appts if a.infant_id}))}
    key = {a.id: (infant_index.get(a.infant_id, -1), a.kind, a.name) for a in appts}  # -1: her own
    appointment_rows = sorted(((key[a.id], a.due_date, a.status, a.done_on, a.version) for a in appts), key=repr)
    reminder_rows = sorted(
        (r.send_date, r.send_at, r.stale_at, r.due_date, r.template, r.status, r.version,
         tuple(sorted(key[a.id] for a in r.appointments)))
        for r in db.session.scalars(select(Reminder).where(Reminder.client_id == client_id)))
    planned = db.session.get(Client, client_id).planned_through
    return appointment_rows, reminder_rows, planned


@pytest.fixture
def twins(app):
    with clock.frozen(NOW):
        sites = {"Nairobi": Site(name="Kibera clinic", country="KE", timezone="Africa/Nairobi")}
        db.session.add_all(sites.values())
        pairs = [(_make(*p, sites), _make(*p, sites)) for p in PROFILES]
        db.session.commit()
        yield [(a.id, b.id) for a, b in pairs]


def test_bulk_path_writes_what_the_orm_path_writes(twins):
    cutoff = TODAY + dt.timedelta(days=reminders.HORIZON_DAYS - 1)
    with clock.frozen(NOW):
        for orm_id, _ in twins:
            appointments.refresh(db.session.get(Client, orm_id), NOW)
        db.session.commit()
        appointments._refresh_new([bulk_id for _, bulk_id in twins], NOW, cutoff)
        db.session.commit()
        db.session.expire_all()
        planned_some = False
        for (orm_id, bulk_id), profile in zip(twins, PROFILES):
            orm, bulk = _rows(orm_id), _rows(bulk_id)
            assert bulk[:2] == orm[:2], profile[0]
            # The bulk path never sets a date before the pass's cutoff (so the pass does not loop on her).
            assert bulk[2] == max(orm[2], cutoff)
            planned_some = planned_some or bool(orm[1])
        assert planned_some  # the profiles do produce reminders: the comparison is not of empty lists


def test_orm_path_finds_nothing_to_change_in_bulk_written_rows(twins):
    cutoff = TODAY + dt.timedelta(days=reminders.HORIZON_DAYS - 1)
    with clock.frozen(NOW):
        bulk_ids = [bulk_id for _, bulk_id in twins]
        appointments._refresh_new(bulk_ids, NOW, cutoff)
        db.session.commit()
        db.session.expire_all()
        before = {cid: _rows(cid)[:2] for cid in bulk_ids}
        clients = db.session.scalars(select(Client).where(Client.id.in_(bulk_ids))
                                     .options(*appointments.planning_options())).all()
        for client in clients:
            appointments.refresh(client, NOW)
        db.session.commit()
        db.session.expire_all()
        assert {cid: _rows(cid)[:2] for cid in bulk_ids} == before


def test_plan_ahead_takes_new_clients_down_the_bulk_path_and_the_rest_through_the_orm(twins, monkeypatch):
    seen = []
    real = appointments._refresh_new
    monkeypatch.setattr(appointments, "_refresh_new", lambda ids, *a: (seen.extend(ids), real(ids, *a)))
    first = twins[0][0]
    with clock.frozen(NOW):
        appointments.refresh(db.session.get(Client, first), NOW)  # she has rows now
        db.session.commit()
        client = db.session.get(Client, first)
        client.planned_through = None  # ...and is due for a pass again
        db.session.commit()
        appointments.plan_ahead(NOW, batch_size=4)
    everyone = [cid for pair in twins for cid in pair]
    opted_out = {cid for pair, p in zip(twins, PROFILES) if p[2].get("opted_out") for cid in pair}
    assert sorted(seen) == sorted(set(everyone) - {first} - opted_out)
