"""The welcome SMS: sent once through the real SDK to the local AT server, in her send window, never stale.

Times: Johannesburg is UTC+2 and the send window is 08:00-19:00 local (06:00-17:00 UTC).
"""
import datetime as dt
import io

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.core import clock
from gateway.clients import welcome
from gateway.clients import enrolment, importer
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Message
from gateway.messages import dispatch
from gateway.schedules.window import next_send_moment

PHONE = "+27821234567"
WELCOME = ("Welcome to the clinic's SMS reminders. Dial *384*123# for your next visit and settings. "
           "Reply STOP to stop these SMS.")


def send_due(gateway, at_moment: str) -> str:
    with gateway.app_context():
        result = gateway.test_cli_runner().invoke(args=["reminders", "send-due", "--now", at_moment])
    assert result.exit_code == 0, result.output
    return result.output


def enrol_by_api(gateway, headers, at: dt.datetime, **body):
    with clock.frozen(at):
        r = gateway.test_client().post("/api/v1/clients", headers=headers, json={"consent": True, "phone": "082 123 4567", **body})
    assert r.status_code == 201, r.get_json()
    db.session.rollback()
    return r.get_json()["id"]


def welcomes(phone=PHONE) -> list[Message]:
    db.session.rollback()  # a fresh snapshot: the gateway committed in its own sessions
    return db.session.scalars(select(Message).where(Message.kind == "welcome", Message.phone == phone)).all()


def test_enrolled_in_the_morning_she_is_welcomed_once_in_her_window(gateway, at, make_user):
    _, headers = make_user("admin")
    # 07:00 local: before the window opens at 08:00 (06:00 UTC).
    enrol_by_api(gateway, headers, dt.datetime(2026, 3, 2, 5, 0))
    [message] = welcomes()
    assert (message.status, message.next_attempt_at, message.text) == ("queued", dt.datetime(2026, 3, 2, 6, 0), WELCOME)

    send_due(gateway, "2026-03-02T05:30")
    assert at.sent == []  # 07:30 local: not yet
    out = send_due(gateway, "2026-03-02T06:01")
    assert "sent 1," in out, out
    assert [(m["number"], m["message"]) for m in at.sent] == [(PHONE, WELCOME)]
    # The pass again, and the send job again on the same message: nothing goes twice.
    send_due(gateway, "2026-03-02T06:30")
    send_due(gateway, "2026-03-03T06:30")
    with gateway.app_context(), clock.frozen(dt.datetime(2026, 3, 2, 6, 40)):
        assert dispatch.send_messages([message.id]).not_claimed == 1
    assert len(at.sent) == 1 and at.duplicates() == {}
    [message] = welcomes()
    assert message.status == "sent" and message.provider_id.startswith("ATXid_") and message.cost_amount is not None
    assert "HIV" not in message.text and "ARV" not in message.text


def test_enrolled_at_night_she_is_welcomed_the_next_morning_never_dropped_as_stale(gateway, at, make_user):
    _, headers = make_user("admin")
    enrol_by_api(gateway, headers, dt.datetime(2026, 3, 2, 20, 30))  # 22:30 local
    [message] = welcomes()
    assert message.next_attempt_at == dt.datetime(2026, 3, 3, 6, 0)  # 08:00 local the next day
    for night in ("2026-03-02T20:31", "2026-03-02T23:00", "2026-03-03T03:59", "2026-03-03T05:59"):
        send_due(gateway, night)
    assert at.sent == []
    # The morning's first passes were missed (an outage): it still goes, however late in the day.
    send_due(gateway, "2026-03-03T14:00")
    assert [m["message"] for m in at.sent] == [WELCOME]
    assert welcomes()[0].status == "sent"


def test_enrolled_inside_her_window_she_is_welcomed_at_the_next_pass(gateway, at, make_user):
    _, headers = make_user("admin")
    enrol_by_api(gateway, headers, dt.datetime(2026, 3, 2, 9, 15))
    assert welcomes()[0].next_attempt_at == dt.datetime(2026, 3, 2, 9, 15)
    send_due(gateway, "2026-03-02T09:16")
    assert [m["message"] for m in at.sent] == [WELCOME]


@pytest.mark.parametrize("held_back", [False, "no", "false"])
def test_welcome_sms_false_holds_it_back(gateway, at, make_user, held_back):
    _, headers = make_user("admin")
    cid = enrol_by_api(gateway, headers, dt.datetime(2026, 3, 2, 9, 15), welcome_sms=held_back)
    send_due(gateway, "2026-03-02T09:16")
    assert welcomes() == [] and at.sent == []
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.entity_id == cid,
                                                       AuditEntry.action == "client.enrolled"))
    assert entry.changes["welcome_sms"] is False


def test_a_bad_welcome_sms_value_is_named_and_changes_nothing(client, admin_headers):
    r = client.post("/api/v1/clients", headers=admin_headers, json={"consent": True, "phone": "082 123 4567", "welcome_sms": "maybe"})
    assert r.status_code == 422
    assert r.get_json()["fields"] == {"welcome_sms": "must be true or false"}
    assert db.session.scalar(select(func.count()).select_from(Client)) == 0
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_retried_enrolment_makes_no_second_welcome(gateway, at, make_user):
    _, headers = make_user("admin")
    enrol_by_api(gateway, headers, dt.datetime(2026, 3, 2, 9, 15))
    with clock.frozen(dt.datetime(2026, 3, 2, 9, 16)):
        r = gateway.test_client().post("/api/v1/clients", headers=headers, json={"consent": True, "phone": "082 123 4567"})
    assert r.status_code == 409
    assert len(welcomes()) == 1
    # And the database itself refuses a second welcome for her, whoever would try.
    client = db.session.scalar(select(Client))
    with gateway.app_context():
        welcome.queue(client)
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_stop_before_the_morning_cancels_her_welcome(gateway, at, make_user):
    _, headers = make_user("admin")
    enrol_by_api(gateway, headers, dt.datetime(2026, 3, 2, 20, 30))
    with clock.frozen(dt.datetime(2026, 3, 2, 21, 0)):
        r = gateway.test_client().post("/sms/inbound", data={"from": PHONE, "to": "12345", "text": "STOP",
                                                            "id": "in-1", "date": "2026-03-02 21:00:00"})
    assert r.status_code == 200
    send_due(gateway, "2026-03-03T07:00")
    assert welcomes()[0].status == "cancelled"
    assert [m["message"] for m in at.sent] == ["You will get no more reminders. Reply START to get them again."]


CSV = (b"consent,phone,language,welcome_sms\n"
       b"yes,0821234567,en,yes\n"
       b"yes,0831234567,sw,\n"
       b"yes,0841234567,en,no\n"
       b"yes,0851234567,en,perhaps\n")


def test_csv_welcome_sms_column_and_a_second_import_adds_no_welcome(app):
    with clock.frozen(dt.datetime(2026, 3, 2, 20, 30)):  # at night: each waits for the morning
        report = importer.import_csv(io.BytesIO(CSV), default_country="ZA", actor="test")
        db.session.commit()
        again = importer.import_csv(io.BytesIO(CSV), default_country="ZA", actor="test")
        db.session.commit()
    assert report.imported == 3
    assert [(r["line"], r["reason"]) for r in report.refused] == [(5, "welcome_sms: must be true or false")]
    assert (again.imported, again.skipped) == (0, 3)
    rows = db.session.execute(select(Message.phone, Message.text, Message.next_attempt_at, Message.status)
                              .where(Message.kind == "welcome").order_by(Message.phone)).all()
    morning = dt.datetime(2026, 3, 3, 6, 0)
    assert rows == [("+27821234567", WELCOME, morning, "queued"),
                    ("+27831234567", "Karibu kwenye vikumbusho vya kliniki kwa SMS. Piga *384*123# kuona siku yako "
                                     "ya kliniki. Jibu STOP kusitisha SMS hizi.", morning, "queued")]


def test_the_window_rule_is_the_reminders_own(app):
    zone = "Africa/Johannesburg"
    assert next_send_moment(zone, dt.datetime(2026, 3, 2, 3, 0)) == dt.datetime(2026, 3, 2, 6, 0)
    assert next_send_moment(zone, dt.datetime(2026, 3, 2, 6, 0)) == dt.datetime(2026, 3, 2, 6, 0)
    assert next_send_moment(zone, dt.datetime(2026, 3, 2, 16, 59)) == dt.datetime(2026, 3, 2, 16, 59)
    assert next_send_moment(zone, dt.datetime(2026, 3, 2, 17, 0)) == dt.datetime(2026, 3, 3, 6, 0)
    # Nairobi (UTC+3): 08:00 local is 05:00 UTC.
    assert next_send_moment("Africa/Nairobi", dt.datetime(2026, 3, 2, 22, 0)) == dt.datetime(2026, 3, 3, 5, 0)


def test_a_kenyan_client_at_a_site_is_welcomed_in_the_sites_zone(app, make_user):
    from gateway.core.models import Site

    site = Site(name="Kisumu", country="KE", timezone="Africa/Nairobi")
    db.session.add(site)
    db.session.flush()
    with clock.frozen(dt.datetime(2026, 3, 2, 4, 0)):  # 07:00 in Nairobi
        enrolment.enrol(enrolment.parse_enrolment({"consent": True, "phone": "0712 345 678", "country": "KE", "site_id": site.id,
                                                   "language": "sw"},
                                                  "ZA"), "test")
        db.session.commit()
    message = db.session.scalar(select(Message).where(Message.kind == "welcome"))
    assert message.next_attempt_at == dt.datetime(2026, 3, 2, 5, 0)
    assert message.text.startswith("Karibu")  # in her language
