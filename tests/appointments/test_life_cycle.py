"""A client's and an infant's life cycle through the API: closing, reopening, infant test results, a child's ART."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from gateway.adapters.database import db
from gateway.core import clock
from gateway.core.models import AuditEntry, Client, DoseGiven, Infant, Message, Reminder
from gateway.messages import queue_message, set_opt_out
from tests.reminders.test_reminder_planning import NOW, at_now, schedule  # noqa: F401 (at_now: a fixture)

TODAY = NOW.date().isoformat()  # 2026-03-02, 07:00 in Johannesburg
DOB = "2026-01-05"  # 8 weeks old: PCR birth is past, PCR 10 weeks in two weeks


def enrol(api, headers, **body):
    r = api.post("/api/v1/clients", json={"phone": "082 123 4567", "consent": True, **body}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def event(api, headers, cid, **body):
    return api.post(f"/api/v1/clients/{cid}/events", json=body, headers=headers)


def mother_and_baby(api, headers):
    made = enrol(api, headers, art={"last_dispensed": "2026-02-10", "days_supply": 30},
                 infants=[{"date_of_birth": DOB, "name": "Lwazi"}])
    return made["id"], made["infants"][0]["id"]


def rows():
    """Changes audited (reads are audited too, and a read changes nothing)."""
    return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action != "client.viewed"))


def test_hiv_status_at_enrolment(client, admin_headers, at_now):
    assert enrol(client, admin_headers, art={"last_dispensed": "2026-02-10", "days_supply": 30})["hiv_status"] == "positive"
    assert enrol(client, admin_headers, phone="0831110001",
                 infants=[{"date_of_birth": DOB}])["hiv_status"] == "positive"
    assert enrol(client, admin_headers, phone="0831110002",
                 infants=[{"date_of_birth": DOB, "hiv_exposed": False}])["hiv_status"] == "unknown"
    made = enrol(client, admin_headers, phone="0831110003", hiv_status="negative", expected_delivery_date="2026-06-01")
    assert (made["hiv_status"], made["status"], made["closed_reason"]) == ("negative", "active", None)
    r = client.post("/api/v1/clients", json={"phone": "0831110004", "hiv_status": "negative",
                                             "infants": [{"date_of_birth": DOB}]}, headers=admin_headers)
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"hiv_status", "consent"}


def test_the_day_she_started_art_is_kept_and_checked(client, admin_headers, at_now):
    made = enrol(client, admin_headers, art={"last_dispensed": "2026-02-10", "days_supply": 30, "started": "2019-05-01"})
    assert made["art"]["started"] == "2019-05-01"
    r = client.post("/api/v1/clients", json={"phone": "0831110004", "consent": True, "art": {
        "last_dispensed": "2026-02-10", "days_supply": 30, "started": "2026-02-11"}}, headers=admin_headers)
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"art.started"}


def test_closing_cancels_everything_silently_and_reopening_plans_afresh(client, admin_headers, at_now):
    cid, infant_id = mother_and_baby(client, admin_headers)
    with_queued = db.session.get(Client, cid)
    queue_message(with_queued, "A one-off message")  # waiting to go when she is closed
    db.session.commit()
    before = schedule(client, admin_headers, cid)
    assert [r for r in before["reminders"] if r["status"] == "scheduled"]

    r = event(client, admin_headers, cid, type="client_closed", date=TODAY, reason="transferred_out")
    assert r.status_code == 201, r.get_json()
    after = schedule(client, admin_headers, cid)
    assert after["reminders"] == []  # every pending reminder cancelled (live ones only are listed)
    assert {a["status"] for a in after["appointments"]} <= {"cancelled", "done"}
    got = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()
    assert (got["status"], got["closed_reason"], got["closed_on"]) == ("closed", "transferred_out", TODAY)
    # Every message still waiting is cancelled: the one-off and her welcome SMS.
    assert db.session.scalars(select(Message.status).where(Message.client_id == cid)).all() == ["cancelled"] * 2
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action != "client.viewed").order_by(AuditEntry.id.desc())) == "client.closed"

    # Nothing goes to her now: no confirmation of an opt-out, no one-off message.
    her = db.session.get(Client, cid)
    set_opt_out(her, True, "test")
    assert queue_message(her, "hello") is None
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.status == "queued")) == 0
    set_opt_out(her, False, "test")
    db.session.commit()

    # Reopened a month later: the refill she missed meanwhile is due the day she came back.
    with clock.frozen(NOW + dt.timedelta(days=30)):
        r = event(client, admin_headers, cid, type="client_reopened", date="2026-04-01")
        assert r.status_code == 201, r.get_json()
        again = schedule(client, admin_headers, cid)
    refill = [a for a in again["appointments"] if a["kind"] == "art_refill" and a["status"] != "cancelled"]
    assert [(a["due_date"], a["status"]) for a in refill] == [("2026-04-01", "due")]
    pcr = [a for a in again["appointments"] if a["name"] == "PCR 10 weeks" and a["status"] != "cancelled"]
    assert pcr[0]["due_date"] == "2026-04-01"  # due 16 March, missed while closed
    assert any(r["status"] == "scheduled" for r in again["reminders"])
    got = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()
    assert (got["status"], got["closed_reason"], got["closed_on"]) == ("active", None, None)


@pytest.mark.parametrize("body,field", [
    ({"type": "client_closed", "date": TODAY, "reason": "bored"}, "reason"),
    ({"type": "client_closed", "date": TODAY}, "reason"),
    ({"type": "client_closed", "date": "2026-03-09", "reason": "died"}, "date"),
    ({"type": "client_closed", "date": "2026-02-01", "reason": "died"}, "date"),  # before she was enrolled
    ({"type": "client_reopened", "date": TODAY}, "type"),  # she is not closed
    ({"type": "infant_closed", "infant_id": 0, "date": TODAY, "reason": "died"}, "infant_id"),
    ({"type": "infant_closed", "date": TODAY, "reason": "moved_away"}, "reason"),
    ({"type": "infant_closed", "date": "2025-12-01", "reason": "died"}, "date"),  # before birth
    ({"type": "infant_reopened", "date": TODAY}, "infant_id"),  # not closed
    ({"type": "infant_test_result", "test": "OPV1", "date": TODAY, "result": "negative"}, "test"),
    ({"type": "infant_test_result", "test": "PCR birth", "date": TODAY, "result": "maybe"}, "result"),
    ({"type": "infant_test_result", "test": "PCR birth", "date": "2026-03-03", "result": "negative"}, "date"),
    ({"type": "art_dispensed", "date": TODAY, "days_supply": 30}, "infant_id"),  # the child is not positive
])
def test_bad_events_are_422_naming_the_field_and_change_nothing(client, admin_headers, at_now, body, field):
    with clock.frozen(NOW - dt.timedelta(days=10)):
        cid, infant_id = mother_and_baby(client, admin_headers)
    if body["type"] != "client_closed" and "infant_id" not in body:
        body = {**body, "infant_id": infant_id}
    before = (rows(), schedule(client, admin_headers, cid))
    r = event(client, admin_headers, cid, **body)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["fields"], r.get_json()
    assert (rows(), schedule(client, admin_headers, cid)) == before


def test_closing_a_closed_client_is_refused(client, admin_headers, at_now):
    cid, _ = mother_and_baby(client, admin_headers)
    assert event(client, admin_headers, cid, type="client_closed", date=TODAY, reason="died").status_code == 201
    r = event(client, admin_headers, cid, type="client_closed", date=TODAY, reason="moved_away")
    assert r.status_code == 422 and "type" in r.get_json()["fields"]
    assert db.session.get(Client, cid).closed_reason == "died"


def test_a_closed_infant_leaves_every_reminder_and_comes_back(client, admin_headers, at_now):
    made = enrol(client, admin_headers, infants=[{"date_of_birth": DOB}, {"date_of_birth": DOB}])
    cid, (twin1, twin2) = made["id"], [i["id"] for i in made["infants"]]
    r = event(client, admin_headers, cid, type="infant_closed", infant_id=twin1, date=TODAY, reason="died")
    assert r.status_code == 201, r.get_json()
    sched = schedule(client, admin_headers, cid)
    assert {a["status"] for a in sched["appointments"] if a.get("infant_id") == twin1} == {"cancelled"}
    named = {i for r in sched["reminders"] for i in r["appointment_ids"]}
    ids = {a["id"]: a.get("infant_id") for a in sched["appointments"]}
    assert named and {ids[i] for i in named} == {twin2}
    got = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["infants"]
    assert [(i["status"], i["closed_reason"]) for i in got] == [("closed", "died"), ("active", None)]

    r = event(client, admin_headers, cid, type="infant_reopened", infant_id=twin1, date=TODAY)
    assert r.status_code == 201, r.get_json()
    sched = schedule(client, admin_headers, cid)
    assert any(a["status"] == "overdue" or a["status"] == "due" for a in sched["appointments"]
               if a.get("infant_id") == twin1)


def test_a_positive_test_ends_testing_and_the_childs_art_is_reminded_discreetly(client, admin_headers, at_now):
    cid, infant_id = mother_and_baby(client, admin_headers)
    r = event(client, admin_headers, cid, type="infant_test_result", infant_id=infant_id, test="PCR birth",
              date="2026-01-05", result="positive")
    assert r.status_code == 201, r.get_json()
    sched = schedule(client, admin_headers, cid)
    tests = [(a["name"], a["status"]) for a in sched["appointments"] if a["kind"] == "infant_hiv_test"]
    assert tests == [("PCR birth", "done")] + [(n, "cancelled") for n in ("PCR 10 weeks", "PCR 6 months",
                                                                          "HIV antibody 18 months")]
    infant = client.get(f"/api/v1/clients/{cid}", headers=admin_headers).get_json()["infants"][0]
    assert (infant["hiv_result"], infant["needs_art"], infant["art"]) == ("positive", True, None)

    r = event(client, admin_headers, cid, type="art_dispensed", infant_id=infant_id, date=TODAY, days_supply=30)
    assert r.status_code == 201, r.get_json()
    refills = [(a["due_date"], a.get("infant_id")) for a in schedule(client, admin_headers, cid)["appointments"]
               if a["kind"] == "art_refill" and a["status"] == "due"]
    assert sorted(refills, key=str) == sorted([("2026-03-12", None), ("2026-04-01", infant_id)], key=str)
    # Her own pick-up leaves the child's refill as it is, and the other way round.
    r = event(client, admin_headers, cid, type="art_dispensed", date=TODAY, days_supply=60)
    assert r.status_code == 201, r.get_json()
    refills = [(a["due_date"], a.get("infant_id")) for a in schedule(client, admin_headers, cid)["appointments"]
               if a["kind"] == "art_refill" and a["status"] == "due"]
    assert sorted(refills, key=str) == sorted([("2026-05-01", None), ("2026-04-01", infant_id)], key=str)
    # The child's earlier dispensing is refused.
    r = event(client, admin_headers, cid, type="art_dispensed", infant_id=infant_id, date="2026-02-20", days_supply=30)
    assert r.status_code == 422 and "date" in r.get_json()["fields"]


def test_an_indeterminate_test_plans_a_repeat(client, admin_headers, at_now):
    cid, infant_id = mother_and_baby(client, admin_headers)
    r = event(client, admin_headers, cid, type="infant_test_result", infant_id=infant_id, test="PCR birth",
              date="2026-02-26", result="indeterminate")
    assert r.status_code == 201, r.get_json()
    sched = schedule(client, admin_headers, cid)
    repeat = [a for a in sched["appointments"] if a["name"] == "PCR birth repeat"]
    assert [(a["due_date"], a["status"]) for a in repeat] == [("2026-03-05", "due")]  # 7 days, the WHO default
    # The repeat is a test of this child's schedule now: its result is recorded like any other.
    r = event(client, admin_headers, cid, type="infant_test_result", infant_id=infant_id, test="PCR birth repeat",
              date=TODAY, result="negative")
    assert r.status_code == 201, r.get_json()
    assert db.session.get(Infant, infant_id).hiv_result == "negative"
    results = dict(db.session.execute(select(DoseGiven.dose, DoseGiven.result)).all())
    assert results == {"PCR birth": "indeterminate", "PCR birth repeat": "negative"}


def test_a_closed_clients_due_reminder_is_skipped_by_dispatch(client, admin_headers, at_now, app):
    """Belt and braces: a reminder row somehow left live for a closed client is cancelled, not sent."""
    from gateway.messages.dispatch import send_due

    cid, _ = mother_and_baby(client, admin_headers)
    live = db.session.scalars(select(Reminder).where(Reminder.client_id == cid, Reminder.status == "scheduled")).all()
    assert live
    her = db.session.get(Client, cid)
    her.status, her.closed_reason, her.closed_on = "closed", "other", dt.date(2026, 3, 2)  # behind planning's back
    db.session.commit()
    first = min(r.send_at for r in live)
    counts = send_due(first + dt.timedelta(minutes=1), enqueue=lambda ids: None)
    assert (counts.queued, counts.cancelled) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.reminder_id.is_not(None))) == 0


def test_a_message_queued_before_she_was_closed_is_not_sent(client, admin_headers, at_now):
    """A one-off message made before closing and claimed by a send job after it: the job sends nothing."""
    from gateway.messages.dispatch import send_messages

    cid, _ = mother_and_baby(client, admin_headers)
    message = queue_message(db.session.get(Client, cid), "A one-off message")
    db.session.commit()
    her = db.session.get(Client, cid)
    her.status, her.closed_reason, her.closed_on = "closed", "other", dt.date(2026, 3, 2)  # behind the event's back
    db.session.commit()

    class Refuse:
        def send(self, text, phones):
            raise AssertionError("nothing may be sent to a closed client")

    counts = send_messages([message.id], backend=Refuse())
    assert counts.cancelled == 1
    assert db.session.get(Message, message.id).status == "cancelled"
