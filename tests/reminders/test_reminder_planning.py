"""From a client's dates to appointments and reminder rows (no sending here)."""
import datetime as dt

import pytest
from sqlalchemy import inspect, select, update

from gateway import appointments, reminders
from gateway.appointments.events import ArtDispensed
from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Appointment, Client, Reminder

# 05:00 UTC = 07:00 in Johannesburg, before the default 09:00 reminder hour.
NOW = dt.datetime(2026, 3, 2, 5, 0)
TODAY = dt.date(2026, 3, 2)


@pytest.fixture
def at_now(app):
    with clock.frozen(NOW):
        yield NOW


def enrol(client, headers, **body):
    r = client.post("/api/v1/clients", json={"phone": "082 123 4567", "consent": True, **body}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def schedule(client, headers, cid):
    r = client.get(f"/api/v1/clients/{cid}/schedule", headers=headers)
    assert r.status_code == 200
    return r.get_json()


def live(sched):
    return [(r["send_date"], r["template"], r["status"]) for r in sched["reminders"]]


def test_art_refill_gets_reminders_3_and_1_days_before_and_1_after(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    sched = schedule(client, admin_headers, cid)
    assert [(a["kind"], a["due_date"], a["status"]) for a in sched["appointments"]] == [
        ("art_refill", "2026-03-05", "due")]
    assert live(sched) == [("2026-03-02", "before", "scheduled"), ("2026-03-04", "before", "scheduled"),
                           ("2026-03-06", "missed", "scheduled")]
    # 09:00 in Johannesburg is 07:00 UTC.
    assert sched["reminders"][0]["send_at"] == "2026-03-02T07:00:00Z"


def test_one_sms_a_day_names_every_visit_of_that_day(client, admin_headers, at_now):
    """Twins born today plus the mother's own refill due in 3 days."""
    twins = [{"date_of_birth": "2026-03-02"}, {"date_of_birth": "2026-03-02"}]
    cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30}, infants=twins)
    sched = schedule(client, admin_headers, cid)
    today = [r for r in sched["reminders"] if r["send_date"] == "2026-03-02"]
    assert len(today) == 1 and today[0]["template"] == "today"
    names = {a["id"]: (a["name"], a.get("infant_id")) for a in sched["appointments"]}
    covered = sorted(names[i][0] for i in today[0]["appointment_ids"])
    # Both babies' birth doses and tests; the refill due in 3 days gets its own -1 and +1 reminders.
    assert covered == sorted(["BCG", "OPV0", "PCR birth"] * 2)
    assert len({names[i][1] for i in today[0]["appointment_ids"]}) == 2
    days = [r["send_date"] for r in sched["reminders"]]
    assert len(days) == len(set(days))  # never two on one day
    assert ("2026-03-04", "before", "scheduled") in live(sched)


def test_unexposed_infant_gets_no_hiv_tests(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, infants=[{"date_of_birth": "2026-03-01", "hiv_exposed": False}])
    kinds = {a["kind"] for a in schedule(client, admin_headers, cid)["appointments"]}
    assert kinds == {"immunisation"}


def test_a_moment_already_past_is_skipped_not_sent_late(client, admin_headers, app):
    with clock.frozen(dt.datetime(2026, 3, 2, 10, 0)):  # 12:00 local, after the 09:00 moment
        cid = enrol(client, admin_headers, infants=[{"date_of_birth": "2026-03-02"}])
        assert live(schedule(client, admin_headers, cid))[0] == ("2026-03-02", "today", "skipped")


def test_pickup_closes_the_refill_and_moves_the_reminders(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    old = {r["id"]: r for r in schedule(client, admin_headers, cid)["reminders"]}
    r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                    json={"type": "art_dispensed", "date": "2026-03-02", "days_supply": 90})
    assert r.status_code == 201, r.get_json()
    sched = r.get_json()
    refills = [(a["due_date"], a["status"], a["done_on"]) for a in sched["appointments"]]
    assert refills == [("2026-03-05", "done", "2026-03-02"), ("2026-05-31", "due", None)]
    # The old reminders are cancelled (with a new version), the new refill is beyond the 35-day horizon.
    assert sched["reminders"] == []
    for rid in old:
        row = db.session.get(Reminder, rid)
        assert row.status == "cancelled" and row.version == 2


def test_planning_one_client_reads_her_live_reminders_not_her_history(client, admin_headers, app):
    with clock.frozen(NOW):
        cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    # Three days on: the reminders of 2 and 4 March went out; the one of 6 March is still to come.
    db.session.execute(update(Reminder).where(Reminder.client_id == cid, Reminder.send_date < dt.date(2026, 3, 5))
                       .values(status="sent"))
    db.session.commit()
    db.session.remove()
    later = dt.datetime(2026, 3, 5, 5, 0)
    with clock.frozen(later):
        mother = db.session.get(Client, cid)
        appointments.record_event(mother, ArtDispensed(dt.date(2026, 3, 5), 90), "test")
        read = sorted(obj.send_date for obj in db.session.identity_map.values() if isinstance(obj, Reminder))
        assert "reminders" in inspect(mother).unloaded
        db.session.commit()
    assert read == [dt.date(2026, 3, 6)]
    rows = db.session.execute(select(Reminder.send_date, Reminder.status, Reminder.version)
                              .where(Reminder.client_id == cid).order_by(Reminder.send_date)).all()
    assert [tuple(r) for r in rows] == [(dt.date(2026, 3, 2), "sent", 1), (dt.date(2026, 3, 4), "sent", 1),
                                        (dt.date(2026, 3, 6), "cancelled", 2)]


def test_planning_one_client_reads_her_working_appointments_not_her_done_refills(client, admin_headers, app):
    with clock.frozen(NOW):
        cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    pickups = [dt.date(2026, 3, 5), dt.date(2026, 4, 4), dt.date(2026, 5, 4), dt.date(2026, 6, 3)]
    for day in pickups:
        db.session.remove()  # each pick-up in a request of its own
        with clock.frozen(dt.datetime.combine(day, dt.time(7, 0))):
            mother = db.session.get(Client, cid)
            appointments.record_event(mother, ArtDispensed(day, 30),
                                      "test")
            read = [(a.kind, a.status) for a in db.session.identity_map.values() if isinstance(a, Appointment)]
            db.session.commit()
    # The last pick-up read the refill it closed and the one it opened, not the three done before it.
    assert sorted(read) == [("art_refill", "done"), ("art_refill", "due")]
    db.session.remove()
    with clock.frozen(dt.datetime(2026, 6, 3, 7, 0)):
        history = schedule(client, admin_headers, cid)["appointments"]
    assert [(a["due_date"], a["status"], a["done_on"]) for a in history] == [
        ("2026-03-05", "done", "2026-03-05"), ("2026-04-04", "done", "2026-04-04"), ("2026-05-04", "done", "2026-05-04"),
        ("2026-06-03", "done", "2026-06-03"), ("2026-07-03", "due", None)]
    # And a batch loads the same working rows.
    loaded = db.session.scalars(select(Client).where(Client.id == cid).options(*appointments.planning_options())).one()
    assert [(a.due_date, a.status) for a in loaded.appointments] == [(dt.date(2026, 7, 3), "due")]


def test_reminder_hour_change_moves_send_at(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    r = client.patch(f"/api/v1/clients/{cid}", json={"reminder_hour": 17}, headers=admin_headers)
    assert r.status_code == 200
    send_at = [x["send_at"] for x in schedule(client, admin_headers, cid)["reminders"]]
    assert send_at == ["2026-03-02T15:00:00Z", "2026-03-04T15:00:00Z", "2026-03-06T15:00:00Z"]


def test_send_window_clamps_the_hour(app):
    assert reminders.send_moment(TODAY, 5, "Africa/Johannesburg") == dt.datetime(2026, 3, 2, 6, 0)   # 08:00
    assert reminders.send_moment(TODAY, 23, "Africa/Johannesburg") == dt.datetime(2026, 3, 2, 16, 0)  # 18:00
    assert reminders.send_moment(TODAY, 9, "Africa/Nairobi") == dt.datetime(2026, 3, 2, 6, 0)


def test_opt_out_cancels_and_opt_in_restores(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    client.patch(f"/api/v1/clients/{cid}", json={"opted_out": True}, headers=admin_headers)
    assert schedule(client, admin_headers, cid)["reminders"] == []
    client.patch(f"/api/v1/clients/{cid}", json={"opted_out": False}, headers=admin_headers)
    assert [s for _, _, s in live(schedule(client, admin_headers, cid))] == ["scheduled"] * 3


def test_dose_given_late_pushes_the_next_dose(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, infants=[{"date_of_birth": "2026-01-01", "hiv_exposed": False}])
    infant_id = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["infants"][0]["id"]
    r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                    json={"type": "dose_given", "infant_id": infant_id, "dose": "Hexa1", "date": "2026-03-01"})
    assert r.status_code == 201, r.get_json()
    by_name = {a["name"]: a for a in r.get_json()["appointments"]}
    assert by_name["Hexa1"]["status"] == "done"
    assert by_name["Hexa2"]["due_date"] == "2026-03-29"  # 4 weeks after the late Hexa1, not 10 weeks from birth
    assert by_name["OPV1"]["status"] == "overdue"  # 6 weeks old, not recorded as given


def test_breastfeeding_end_adds_the_final_test(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, infants=[{"date_of_birth": "2025-10-01"}])
    infant_id = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["infants"][0]["id"]
    before = {a["name"] for a in schedule(client, admin_headers, cid)["appointments"]}
    r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                    json={"type": "breastfeeding_ended", "infant_id": infant_id, "date": "2026-03-01"})
    assert r.status_code == 201
    added = {a["name"] for a in r.get_json()["appointments"]} - before
    assert len(added) == 1


@pytest.mark.parametrize("body,field", [
    ({"type": "art_dispensed", "date": "2026-03-03", "days_supply": 30}, "date"),
    ({"type": "art_dispensed", "date": "2026-03-01", "days_supply": 0}, "days_supply"),
    ({"type": "art_dispensed", "date": "2026-03-01", "days_supply": 1000}, "days_supply"),
    ({"type": "dose_given", "infant_id": 999999, "dose": "BCG", "date": "2026-03-01"}, "infant_id"),
    ({"type": "dose_given", "infant_id": "INFANT", "dose": "Yellow fever", "date": "2026-03-01"}, "dose"),
    ({"type": "dose_given", "infant_id": "INFANT", "dose": "BCG", "date": "2025-12-01"}, "date"),
    ({"type": "breastfeeding_ended", "infant_id": "INFANT", "date": "2026-04-01"}, "date"),
    ({"type": "infant_born", "date_of_birth": "2026-03-09"}, "date_of_birth"),
    ({"type": "infant_born", "date_of_birth": "2026-03-01", "twins": True}, "twins"),
    ({"type": "haircut"}, "type"),
])
def test_bad_events_are_422_and_change_nothing(client, admin_headers, at_now, body, field):
    cid = enrol(client, admin_headers, infants=[{"date_of_birth": "2026-01-01"}],
                art={"last_dispensed": "2026-02-03", "days_supply": 30})
    infant_id = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["infants"][0]["id"]
    if body.get("infant_id") == "INFANT":
        body = {**body, "infant_id": infant_id}
    before = schedule(client, admin_headers, cid)
    r = client.post(f"/api/v1/clients/{cid}/events", json=body, headers=admin_headers)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["fields"]
    assert schedule(client, admin_headers, cid) == before


def test_another_clients_infant_is_refused(client, admin_headers, at_now):
    a = enrol(client, admin_headers, infants=[{"date_of_birth": "2026-01-01"}])
    b = enrol(client, admin_headers, phone="0831112222")
    infant_a = client.get(f"/api/v1/clients/{a}", headers=admin_headers).get_json()["infants"][0]["id"]
    r = client.post(f"/api/v1/clients/{b}/events", headers=admin_headers,
                    json={"type": "breastfeeding_ended", "infant_id": infant_a, "date": "2026-03-01"})
    assert r.status_code == 422 and "infant_id" in r.get_json()["fields"]


def test_plan_ahead_plans_visits_as_days_go_by(client, admin_headers, app):
    with clock.frozen(NOW):
        cid = enrol(client, admin_headers, art={"last_dispensed": "2026-03-01", "days_supply": 60})
        assert schedule(client, admin_headers, cid)["reminders"] == []  # due 2026-04-30, beyond 35 days
    later = dt.datetime(2026, 4, 10, 5, 0)
    with clock.frozen(later):
        assert appointments.plan_ahead(later) == 1
        assert [r[0] for r in live(schedule(client, admin_headers, cid))] == ["2026-04-27", "2026-04-29", "2026-05-01"]
        assert appointments.plan_ahead(later) == 0  # planned already today


def test_csv_imported_clients_are_planned_ahead(app, at_now, tmp_path, runner):
    path = tmp_path / "register.csv"
    path.write_text("consent,phone,art_last_dispensed,art_days_supply,infant_date_of_birth\n"
                    "yes,0821234567,2026-02-03,30,\nyes,0831112222,,,2026-03-01\n")
    result = runner.invoke(args=["clients", "import", str(path)])
    assert result.exit_code == 0, result.output
    kinds = db.session.execute(select(Appointment.kind).distinct()).scalars().all()
    assert set(kinds) == {"art_refill", "immunisation", "infant_hiv_test"}
    assert db.session.scalar(select(Reminder.id).limit(1)) is not None


def test_a_booked_next_visit_is_when_the_refill_is_due_and_lateness_counts_from_it(client, admin_headers, at_now):
    cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                    json={"type": "art_dispensed", "date": "2026-03-02", "days_supply": 90, "next_visit": "2026-03-20"})
    assert r.status_code == 201, r.get_json()
    due = [a["due_date"] for a in r.get_json()["appointments"] if a["status"] == "due"]
    assert due == ["2026-03-20"]  # the clinic's date, not 2 March + 90 days
    art = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["art"]
    assert (art["next_pickup"], art["next_visit"]) == ("2026-03-20", "2026-03-20")
    with clock.frozen(dt.datetime(2026, 4, 20, 8, 0)):  # 31 days after the booked date: an interruption
        art = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["art"]
        assert (art["status"], art["days_late"]) == ("interruption", 31)
    # A pick-up without a booked date goes back to date + supply.
    r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                    json={"type": "art_dispensed", "date": "2026-03-02", "days_supply": 30})
    assert [a["due_date"] for a in r.get_json()["appointments"] if a["status"] == "due"] == ["2026-04-01"]


@pytest.mark.parametrize("next_visit,reason", [
    ("2026-03-01", "is before the pick-up date"),
    ("2027-03-04", "is more than a year after the pick-up date"),
    ("03/04/2026", None),
])
def test_a_next_visit_that_cannot_be_is_422_naming_it_and_changes_nothing(client, admin_headers, at_now,
                                                                          next_visit, reason):
    cid = enrol(client, admin_headers, art={"last_dispensed": "2026-02-03", "days_supply": 30})
    before = schedule(client, admin_headers, cid)
    r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                    json={"type": "art_dispensed", "date": "2026-03-02", "days_supply": 90, "next_visit": next_visit})
    assert r.status_code == 422
    assert list(r.get_json()["fields"]) == ["next_visit"]
    if reason:
        assert r.get_json()["fields"]["next_visit"] == reason
    assert schedule(client, admin_headers, cid) == before


def test_the_end_of_breastfeeding_recorded_after_the_final_test_plans_it_again(client, admin_headers):
    with clock.frozen(dt.datetime(2026, 3, 2, 5, 0)):
        cid = enrol(client, admin_headers, country="MW", phone="0991234567",
                    infants=[{"date_of_birth": "2024-08-01"}])
        infant_id = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["infants"][0]["id"]
        r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                        json={"type": "dose_given", "infant_id": infant_id, "dose": "Final HIV test", "date": "2026-02-02"})
        assert r.status_code == 201
        final = [a for a in r.get_json()["appointments"] if a["name"] == "Final HIV test"]
        assert [(a["status"], a["done_on"]) for a in final] == [("done", "2026-02-02")]
        r = client.post(f"/api/v1/clients/{cid}/events", headers=admin_headers,
                        json={"type": "breastfeeding_ended", "infant_id": infant_id, "date": "2026-03-01"})
        assert r.status_code == 201
        final = [a for a in r.get_json()["appointments"] if a["name"] == "Final HIV test"]
        assert [(a["status"], a["due_date"]) for a in final] == [("due", "2026-06-01")]  # 3 months after


def test_enrolment_records_doses_already_given_and_up_to_date(client, admin_headers, at_now):
    # Born 1 Nov 2025: the 6- and 10-week visits are past; enrolled 2 March 2026.
    cid = enrol(client, admin_headers, infants=[
        {"date_of_birth": "2025-11-01", "doses_given": {"OPV1": "2025-12-15", "BCG": "2025-11-01"}},
        {"date_of_birth": "2025-11-01", "up_to_date": True, "name": "Twin"}])
    got = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()
    first, second = got["infants"]
    assert "up_to_date_on" not in first and second["up_to_date_on"] == "2026-03-02"
    rows = schedule(client, admin_headers, cid)["appointments"]
    mine = {a["name"]: a for a in rows if a["infant_id"] == first["id"]}
    assert (mine["OPV1"]["status"], mine["OPV1"]["done_on"]) == ("done", "2025-12-15")
    assert mine["RV1"]["status"] == "overdue" and "given_unrecorded" not in mine["RV1"]
    twin = {a["name"]: a for a in rows if a["infant_id"] == second["id"]}
    past = [a for a in twin.values() if a["due_date"] < "2026-03-02"]
    assert past and all(a["status"] == "done" and a["given_unrecorded"] and a["done_on"] is None for a in past)
    assert all(a["status"] == "due" for a in twin.values() if a["due_date"] >= "2026-03-02")


@pytest.mark.parametrize("infant,field", [
    ({"date_of_birth": "2025-11-01", "doses_given": {"Yellow fever": "2025-12-15"}}, "infants[0].doses_given.Yellow fever"),
    ({"date_of_birth": "2025-11-01", "doses_given": {"OPV1": "2025-10-15"}}, "infants[0].doses_given.OPV1"),
    ({"date_of_birth": "2025-11-01", "doses_given": {"OPV1": "2026-04-01"}}, "infants[0].doses_given.OPV1"),
    ({"date_of_birth": "2025-11-01", "doses_given": ["OPV1"]}, "infants[0].doses_given"),
    ({"date_of_birth": "2025-11-01", "up_to_date": "sometimes"}, "infants[0].up_to_date"),
])
def test_bad_doses_given_or_up_to_date_is_422_naming_it(client, admin_headers, at_now, infant, field):
    r = client.post("/api/v1/clients", json={"phone": "082 123 4567", "infants": [infant]}, headers=admin_headers)
    assert r.status_code == 422 and field in r.get_json()["fields"], r.get_json()
    assert db.session.scalar(select(Client.id)) is None
