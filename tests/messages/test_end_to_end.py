"""The whole path: enrol -> appointments -> reminders -> send-due -> the real SDK -> AT -> delivery -> STOP."""
import datetime as dt

from sqlalchemy import select

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Message, Reminder

PHONE = "+27821234567"
# 05:00 UTC = 07:00 in Johannesburg; reminders go at the client's 09:00 (07:00 UTC).
ENROLLED = dt.datetime(2026, 3, 2, 5, 0)


def sent_texts(at, phone=PHONE):
    return [m["message"] for m in at.sent if m["number"] == phone]


def send_due(gateway, at_moment: str):
    # The runner uses whatever app context is current: make it the AT-wired gateway's.
    with gateway.app_context():
        result = gateway.test_cli_runner().invoke(args=["reminders", "send-due", "--now", at_moment])
    assert result.exit_code == 0, result.output
    return result.output


def test_enrol_remind_deliver_stop(gateway, at, make_user):
    _, headers = make_user("admin")
    api = gateway.test_client()
    with clock.frozen(ENROLLED):
        r = api.post("/api/v1/clients", headers=headers, json={
            "phone": "082 123 4567", "consent": True,
            "welcome_sms": False,  # this test follows her reminders; tests/test_welcome.py follows the welcome
            "art": {"last_dispensed": "2026-02-02", "days_supply": 30},  # pick-up due 2026-03-04, in 2 days
            "infants": [{"date_of_birth": "2026-03-02", "hiv_exposed": True}],  # born today
        })
        assert r.status_code == 201, r.get_json()
        cid = r.get_json()["id"]
        sched = api.get(f"/api/v1/clients/{cid}/schedule", headers=headers).get_json()
    names = sorted(a["name"] for a in sched["appointments"] if a["due_date"] == "2026-03-02")
    assert names == ["BCG", "OPV0", "PCR birth"]
    assert [(x["send_date"], x["template"]) for x in sched["reminders"]] == [
        ("2026-03-02", "today"), ("2026-03-03", "before"), ("2026-03-05", "missed")]

    # Before 09:00 local nothing is due.
    assert "claimed 0" in send_due(gateway, "2026-03-02T06:59")
    assert at.sent == []

    # 09:05 local: the baby's birth visit, discreetly, through the SDK to AT.
    out = send_due(gateway, "2026-03-02T07:05")
    assert "sent 1," in out, out
    assert sent_texts(at) == ["Reminder for today: your child's clinic visit. Please come to the clinic."]
    # Run again: nothing is sent twice.
    send_due(gateway, "2026-03-02T07:30")
    assert len(at.sent) == 1

    # The next day: the pick-up tomorrow.
    send_due(gateway, "2026-03-03T07:05")
    assert sent_texts(at)[1] == "Reminder: pick up your medicine on Wed 4 Mar. Please come to the clinic."
    assert "HIV" not in " ".join(sent_texts(at)) and "ARV" not in " ".join(sent_texts(at))

    # AT reports delivery to the gateway's callback.
    assert at.wait_for_deliveries(2, timeout=10), at.deliveries
    db.session.rollback()  # a fresh snapshot: the callbacks committed in other threads
    messages = db.session.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)).all()
    assert [m.status for m in messages] == ["delivered", "delivered"]
    assert all(m.provider_id and m.provider_id.startswith("ATXid_") and m.cost_amount is not None for m in messages)
    reminders = db.session.scalars(select(Reminder).order_by(Reminder.send_date)).all()
    assert [r.status for r in reminders] == ["delivered", "delivered", "scheduled"]

    # She replies STOP: opted out, confirmed once, and the missed-visit reminder never goes.
    with clock.frozen(dt.datetime(2026, 3, 3, 7, 40)):
        for _ in range(2):  # AT retries: the same message twice has the effect of one
            r = gateway.test_client().post("/sms/inbound", data={"from": PHONE, "to": "12345", "text": " Stop ",
                                                                "id": "in-1", "date": "2026-03-03 07:40:00"})
            assert r.status_code == 200
    send_due(gateway, "2026-03-03T08:00")
    send_due(gateway, "2026-03-05T07:05")
    assert sent_texts(at)[2:] == ["You will get no more reminders. Reply START to get them again."]
    db.session.rollback()  # a fresh snapshot: the callbacks committed in other threads
    assert db.session.scalars(select(Reminder.status).order_by(Reminder.send_date)).all() == [
        "delivered", "delivered", "cancelled"]
    assert at.duplicates() == {}
