"""Dispatch and sending: each Africa's Talking answer, retries, pauses, races and duplicates."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from gateway import appointments
from gateway.appointments.events import ArtDispensed
from gateway.core import clock
from gateway.clients import enrolment
from gateway.adapters.database import db
from gateway.core.models import Alert, Client, Message, Reminder, Task
from gateway.messages import dispatch
from gateway import tasks

# 07:05 UTC = 09:05 in Johannesburg: the default 09:00 reminders of the day are due.
NOW = dt.datetime(2026, 3, 2, 7, 5)


def enrol_due_today(n=1, first=1000):
    """n clients whose baby was born today: one 'today' reminder each, due at NOW."""
    with clock.frozen(NOW - dt.timedelta(hours=2)):
        clients = []
        for i in range(n):
            data = enrolment.parse_enrolment(
                {"phone": f"083{first + i:07d}", "consent": True, "infants": [{"date_of_birth": "2026-03-02"}],
                 "welcome_sms": False}, "ZA")  # reminders only (tests/clients/test_welcome.py: the welcome)
            client = enrolment.enrol(data, "test")
            appointments.refresh(client)
            clients.append(client)
        db.session.commit()
    return clients


def run_pass(gateway, now=NOW):
    """One pass plus the send jobs it enqueued, run here, with the AT-wired gateway's settings."""
    jobs = []
    with gateway.app_context(), clock.frozen(now):
        counts = dispatch.send_due(now, enqueue=jobs.append)
        results = [dispatch.send_messages(ids) for ids in jobs]
    db.session.rollback()
    return counts, jobs, results


def statuses(model, column="status"):
    return db.session.scalars(select(getattr(model, column)).order_by(model.id)).all()


def test_identical_texts_go_in_one_request(gateway, at):
    enrol_due_today(3)
    counts, jobs, _ = run_pass(gateway)
    assert (counts.claimed, counts.queued, counts.enqueued_jobs) == (3, 3, 1)
    assert at.requests == 1 and len(at.sent) == 3
    assert statuses(Message) == ["sent"] * 3 and statuses(Reminder).count("sent") == 3


def test_recipients_per_request_are_capped(gateway, at, settings):
    enrol_due_today(5)
    gateway.config["SETTINGS"] = gateway.config["SETTINGS"].replace(at_max_recipients=2)
    counts, jobs, results = run_pass(gateway)
    # The two full requests share a job, enqueued while the pass claims; the partial one goes at its end.
    assert sorted(len(j) for j in jobs) == [1, 4] and counts.enqueued_jobs == 2
    assert at.requests == 3 and len(at.sent) == 5 and at.duplicates() == {}
    assert sorted(r.sent for r in results) == [1, 4]


def test_a_send_job_carries_at_most_requests_per_job_requests(gateway, at, settings, monkeypatch):
    enrol_due_today(5)
    gateway.config["SETTINGS"] = gateway.config["SETTINGS"].replace(at_max_recipients=2)
    monkeypatch.setattr(dispatch, "REQUESTS_PER_JOB", 1)
    counts, jobs, results = run_pass(gateway)
    assert sorted(len(j) for j in jobs) == [1, 2, 2]
    assert at.requests == 3 and len(at.sent) == 5 and sum(r.sent for r in results) == 5


def test_a_job_run_twice_sends_once(gateway, at):
    enrol_due_today(2)
    counts, jobs, results = run_pass(gateway)
    with gateway.app_context(), clock.frozen(NOW):
        again = dispatch.send_messages(jobs[0])  # Redis delivered the job twice
    assert again.sent == 0 and again.not_claimed == 2
    assert len(at.sent) == 2 and at.duplicates() == {}


def test_a_pickup_recorded_after_queueing_cancels_the_stale_message(gateway, at):
    """The reminder changed between the pass and the send job: the job sends nothing."""
    with clock.frozen(NOW - dt.timedelta(days=1)):
        data = enrolment.parse_enrolment({"phone": "0831110000", "consent": True,
                                          "art": {"last_dispensed": "2026-02-01", "days_supply": 30},
                                          "welcome_sms": False}, "ZA")
        client = enrolment.enrol(data, "test")
        appointments.refresh(client)
        db.session.commit()
    # Refill due 2026-03-03: its 'before' reminder is due today at 09:00.
    jobs = []
    with gateway.app_context(), clock.frozen(NOW):
        assert dispatch.send_due(NOW, enqueue=jobs.append).queued == 1
    with clock.frozen(NOW + dt.timedelta(minutes=1)):
        client = db.session.get(Client, client.id)
        appointments.record_event(client, ArtDispensed(dt.date(2026, 3, 2), 30), "test")
        db.session.commit()
    with gateway.app_context(), clock.frozen(NOW + dt.timedelta(minutes=2)):
        result = dispatch.send_messages(jobs[0])
    assert result.sent == 0 and at.sent == []
    db.session.rollback()
    assert statuses(Message) == ["cancelled"]


def test_permanent_refusal_flags_the_number_and_asks_a_person(gateway, at):
    (client,) = enrol_due_today(1)
    at.configure(statuses={client.phone: 406})
    run_pass(gateway)
    message = db.session.scalar(select(Message))
    assert (message.status, message.failure_reason, message.status_code) == ("failed", "UserInBlacklist", 406)
    client = db.session.get(Client, client.id)
    assert client.phone_flag
    task = db.session.scalar(select(Task))
    assert (task.kind, task.client_id, task.status) == ("undeliverable", client.id, "open")
    assert statuses(Reminder)[0] == "failed"


def test_server_errors_are_retried_with_backoff_then_failed(gateway, at):
    (client,) = enrol_due_today(1)
    at.configure(fail_next=100)
    now = NOW
    for attempt in range(1, dispatch.MAX_ATTEMPTS + 1):
        run_pass(gateway, now)
        message = db.session.scalar(select(Message))
        assert message.attempts == attempt
        if attempt < dispatch.MAX_ATTEMPTS:
            assert message.status == "queued"
            wait = message.next_attempt_at - now
            ceiling = min(dispatch.BACKOFF_CAP, dispatch.BACKOFF_BASE * 2 ** (attempt - 1))
            assert ceiling / 2 <= wait <= ceiling
            run_pass(gateway, now + wait / 2)  # not yet: nothing is sent early
            assert db.session.scalar(select(Message)).attempts == attempt
            now = message.next_attempt_at
    assert message.status == "failed"
    assert db.session.get(Client, client.id).consecutive_failures == 1
    assert at.sent == []


def test_insufficient_balance_pauses_sending_without_burning_retries(gateway, at, runner):
    enrol_due_today(2)
    at.configure(statuses={"+2783": 405})
    counts, _, _ = run_pass(gateway)
    alert = db.session.scalar(select(Alert))
    assert alert.kind == "sending_paused" and alert.resolved_at is None
    assert statuses(Message) == ["queued", "queued"]
    assert statuses(Message, "attempts") == [0, 0]
    # While paused, passes claim nothing and send nothing.
    counts, jobs, _ = run_pass(gateway, NOW + dt.timedelta(minutes=5))
    assert counts.paused and jobs == []
    at.configure(statuses={})
    result = runner.invoke(args=["reminders", "resume"])
    assert "sending resumed" in result.output
    counts, jobs, results = run_pass(gateway, NOW + dt.timedelta(minutes=10))
    assert sum(r.sent for r in results) == 2 and len(at.sent) == 2


def test_account_refusal_pauses_sending(gateway, at):
    enrol_due_today(1)
    at.configure(refusal="InvalidSenderId")
    run_pass(gateway)
    assert db.session.scalar(select(Alert.message)).startswith("Africa's Talking refused sending")
    assert statuses(Message) == ["queued"]


def test_messages_left_sending_by_a_dead_worker_are_recovered(gateway, at):
    enrol_due_today(1)
    with gateway.app_context(), clock.frozen(NOW):
        dispatch.send_due(NOW, enqueue=lambda ids: None)  # the job is lost
    db.session.execute(db.update(Message).values(status="sending", sending_started_at=NOW, attempts=1))
    db.session.commit()
    counts, jobs, results = run_pass(gateway, NOW + dispatch.SENDING_TIMEOUT - dt.timedelta(seconds=1))
    assert counts.recovered == 0 and jobs == []
    counts, jobs, results = run_pass(gateway, NOW + dispatch.SENDING_TIMEOUT + dt.timedelta(seconds=1))
    assert counts.recovered == 1 and sum(r.sent for r in results) == 1


def test_lost_jobs_are_enqueued_again(gateway, at):
    enrol_due_today(1)
    with gateway.app_context(), clock.frozen(NOW):
        dispatch.send_due(NOW, enqueue=lambda ids: None)  # Redis lost the job
    counts, jobs, _ = run_pass(gateway, NOW + dt.timedelta(seconds=30))
    assert jobs == []  # too soon to tell a lost job from a slow one
    counts, jobs, results = run_pass(gateway, NOW + dispatch.REENQUEUE_AFTER + dt.timedelta(seconds=1))
    assert len(jobs) == 1 and sum(r.sent for r in results) == 1


def test_stale_and_opted_out_reminders_are_not_sent(gateway, at):
    a, b = enrol_due_today(2)
    db.session.get(Client, b.id).opted_out = True  # set directly: no re-plan, as if she opted out mid-pass
    db.session.commit()
    counts, _, _ = run_pass(gateway, NOW + dt.timedelta(hours=12))  # after the day's send window
    assert (counts.skipped, counts.cancelled, counts.queued) == (1, 1, 0)
    assert at.sent == []


def _sent_message(gateway, at):
    enrol_due_today(1)
    run_pass(gateway)
    return db.session.scalar(select(Message))


def report(gateway, **form):
    return gateway.test_client().post("/sms/delivery", data=form)


def test_delivery_reports_are_idempotent_and_order_safe(gateway, at):
    message = _sent_message(gateway, at)
    assert report(gateway, id=message.provider_id, status="Success").status_code == 200
    r = report(gateway, id=message.provider_id, status="Success")
    assert r.status_code == 200 and b"no change" in r.data
    r = report(gateway, id=message.provider_id, status="Buffered")  # late, out of order
    assert b"no change" in r.data
    db.session.rollback()
    assert db.session.scalar(select(Message.status)) == "delivered"
    assert db.session.scalar(select(Reminder.status).where(Reminder.status != "scheduled")) == "delivered"


def test_failed_delivery_counts_towards_a_follow_up(gateway, at):
    message = _sent_message(gateway, at)
    client = db.session.get(Client, message.client_id)
    client.consecutive_failures = tasks.FAILURES_BEFORE_FOLLOW_UP - 1
    db.session.commit()
    report(gateway, id=message.provider_id, status="Failed", failureReason="UserIsInactive")
    db.session.rollback()
    assert db.session.scalar(select(Message.failure_reason)) == "UserIsInactive"
    assert db.session.scalar(select(Task.kind)) == "undeliverable"


@pytest.mark.parametrize("form,status", [
    ({"id": "ATXid_unknown", "status": "Success"}, 404),
    ({"status": "Success"}, 400),
    ({"id": "X", "status": "Delivered-ish"}, 400),
])
def test_bad_delivery_reports_change_nothing(gateway, at, form, status):
    message = _sent_message(gateway, at)
    if form.get("id") == "X":
        form = {**form, "id": message.provider_id}
    r = report(gateway, **form)
    assert r.status_code == status and r.mimetype == "text/plain"
    db.session.rollback()
    assert db.session.scalar(select(Message.status)) == "sent"


def test_callback_token_is_enforced(gateway, at, settings):
    from gateway import create_app

    guarded = create_app(settings.replace(callback_token="s3cret"))
    message = _sent_message(gateway, at)
    c = guarded.test_client()
    assert c.post("/sms/delivery", data={"id": message.provider_id, "status": "Success"}).status_code == 403
    assert c.post("/sms/delivery?token=wrong", data={"id": message.provider_id, "status": "Success"}).status_code == 403
    db.session.rollback()
    assert db.session.scalar(select(Message.status)) == "sent"
    assert c.post("/sms/delivery?token=s3cret", data={"id": message.provider_id, "status": "Success"}).status_code == 200


def inbound(gateway, text, sender="+27830001000", mid="in-9"):
    return gateway.test_client().post("/sms/inbound", data={"from": sender, "to": "12345", "text": text, "id": mid,
                                                            "date": "2026-03-02T07:10:00Z"})


@pytest.mark.parametrize("word", ["STOP", "stop all", "Unsubscribe", "quit", "acha", "Parar"])
def test_stop_words_opt_out_in_any_case(gateway, at, word):
    enrol_due_today(1)
    with clock.frozen(NOW):
        assert inbound(gateway, word).status_code == 200
    db.session.rollback()
    assert db.session.scalar(select(Client.opted_out)) is True


def test_start_restores_and_other_text_waits_for_a_person(gateway, at):
    enrol_due_today(1)
    with clock.frozen(NOW - dt.timedelta(hours=1)):
        inbound(gateway, "STOP", mid="a")
        inbound(gateway, "start", mid="b")
        inbound(gateway, "Who is this? I need help", mid="c")
        inbound(gateway, "hello", sender="+27839999999", mid="d")  # not enrolled
    db.session.rollback()
    client = db.session.scalar(select(Client))
    assert client.opted_out is False
    assert statuses(Reminder) == ["cancelled", "scheduled"]  # STOP cancelled it; START planned it again
    tasks = db.session.scalars(select(Task).order_by(Task.id)).all()
    assert [(t.kind, t.client_id is not None) for t in tasks] == [("inbound_sms", True), ("inbound_sms", False)]
    texts = db.session.scalars(select(Message.text).where(Message.direction == "out").order_by(Message.id)).all()
    assert texts == ["You will get no more reminders. Reply START to get them again.",
                     "Your reminders are on again. Reply STOP to stop them."]


@pytest.mark.parametrize("form", [{"to": "1", "text": "STOP", "id": "x"}, {"from": "nonsense", "text": "STOP", "id": "y"},
                                  {"from": "+27830001000", "text": "STOP"}])
def test_bad_inbound_is_400_and_changes_nothing(gateway, at, form):
    enrol_due_today(1)
    r = gateway.test_client().post("/sms/inbound", data=form)
    assert r.status_code == 400
    db.session.rollback()
    assert db.session.scalar(select(Client.opted_out)) is False
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_daily_spend_cap_stops_sending_until_the_next_day(gateway, at):
    from decimal import Decimal

    enrol_due_today(3)
    at.configure(cost="0.8000")
    with gateway.app_context():
        gateway.config["SETTINGS"] = gateway.config["SETTINGS"].replace(sms_daily_spend_cap=Decimal("1.00"),
                                                                      at_max_recipients=1)
    counts, jobs, results = run_pass(gateway)
    # 0.80 spent after the first request, 1.60 after the second: the cap stops the third.
    assert sum(r.sent for r in results) == 2 and len(at.sent) == 2
    assert db.session.scalar(select(Alert.kind)) == "spend_cap"
    counts, jobs, _ = run_pass(gateway, NOW + dt.timedelta(hours=1))
    assert counts.paused and jobs == []
    assert statuses(Message).count("queued") == 1 and statuses(Message, "attempts").count(0) == 1
