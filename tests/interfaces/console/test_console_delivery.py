"""Delivery: the outbox with filters, retries of failed messages, charts, and lifting a pause on sending."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

import jobs
from gateway.core import clock
from gateway.clients.sites import local_today
from gateway.adapters.database import db
from gateway.core.models import Alert, AuditEntry, Message, Reminder


def test_filters_by_status_reason_direction_and_date(app, as_role, seeded):
    admin = as_role("admin")
    page = admin.text("/console/messages?status=failed")
    assert "We missed you at the clinic" in page and "Reminder: &lt;i&gt;clinic" not in page
    page = admin.text("/console/messages?reason=DeliveryFailure")
    assert "We missed you at the clinic" in page and "Kenyan secret message" not in page
    assert '<option value="DeliveryFailure"' in page  # reasons seen lately are offered
    page = admin.text("/console/messages?direction=in")
    assert "call me" in page and "We missed you" not in page
    # The console reads dates in its zone: an admin's is the default country's (after 22:00 UTC, ZA's tomorrow).
    today = local_today(app.config["SETTINGS"].default_country)
    page = admin.text(f"/console/messages?from={(today + dt.timedelta(days=2)).isoformat()}")
    assert "No messages match." in page
    page = admin.text(f"/console/messages?from={(today - dt.timedelta(days=1)).isoformat()}&to={today.isoformat()}")
    assert "We missed you at the clinic" in page


def test_a_bad_date_filter_is_refused_next_to_the_field(as_role, seeded):
    r = as_role("nurse").get("/console/messages?from=31/12/2025&status=nonsense")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="err-from">is not a date (YYYY-MM-DD)' in page and 'value="31/12/2025"' in page
    assert 'id="err-status">choose a status from the list' in page


def test_older_messages_page_by_page(as_role, sites, enrol):
    client = enrol(sites[0], "082 123 4567", "Busy")
    db.session.add_all([Message(client_id=client.id, direction="out", phone=client.phone, text=f"message {i}",
                                status="outbox", backend="outbox") for i in range(60)])
    db.session.commit()
    nurse = as_role("nurse")
    page = nurse.text("/console/messages")
    assert "message 59" in page and "message 9<" not in page
    older = re.search(r'href="(/console/messages\?before=\d+)">Older messages', page).group(1)
    page = nurse.text(older)
    assert "message 9<" in page and "message 59" not in page and "Older messages" not in page


def test_retry_a_failed_message(as_role, seeded, people):
    db.session.delete(db.session.scalar(select(Alert)))  # sending is not paused
    db.session.commit()
    message = db.session.scalar(select(Message).where(Message.failure_reason == "DeliveryFailure"))
    r = as_role("nurse").post(f"/console/messages/{message.id}/retry", {"next": "/console/messages?status=failed"})
    assert r.status_code == 302 and r.headers["Location"] == "/console/messages?status=failed"
    message = db.session.get(Message, message.id)
    assert (message.status, message.attempts, message.failure_reason, message.next_attempt_at) == ("queued", 0, None,
                                                                                                  None)
    assert message.enqueued_at is not None  # enqueue_pending ran after the commit
    assert jobs.queue("sms").count >= 1
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "message.retried"))
    assert entry.actor == f"user:{people['nurse'].id}" and entry.changes["status"] == ["failed", "queued"]


def test_only_failed_outgoing_messages_are_retried(as_role, seeded):
    delivered = db.session.scalar(select(Message).where(Message.status == "delivered"))
    nurse = as_role("nurse")
    r = nurse.post(f"/console/messages/{delivered.id}/retry")
    assert "not retried: is not a failed SMS" in nurse.text(r.headers["Location"])
    assert db.session.get(Message, delivered.id).status == "delivered"


@pytest.fixture
def failed_reminder(seeded):
    """A reminder whose message failed, still within its send window."""
    client = seeded["long"]
    now = clock.utcnow()
    reminder = Reminder(client_id=client.id, send_date=now.date(), send_at=now - dt.timedelta(hours=1),
                        stale_at=now + dt.timedelta(hours=3), template="before", due_date=now.date(),
                        status="failed", version=2)
    db.session.add(reminder)
    db.session.flush()
    message = Message(client_id=client.id, direction="out", phone=client.phone, text="Reminder", status="failed",
                      backend="africastalking", reminder_id=reminder.id, reminder_version=2, attempts=6,
                      failure_reason="DeliveryFailure")
    db.session.add(message)
    db.session.commit()
    return reminder, message


def test_a_reminders_message_is_retried_while_the_reminder_is_current(as_role, failed_reminder):
    reminder, message = failed_reminder
    as_role("nurse").post(f"/console/messages/{message.id}/retry")
    assert db.session.get(Message, message.id).status == "queued"
    assert db.session.get(Reminder, reminder.id).status == "queued"  # else the send job would cancel it


@pytest.mark.parametrize("change,reason", [("stale", "too late"), ("version", "its reminder changed since")])
def test_a_stale_or_changed_reminder_is_not_sent_late(as_role, failed_reminder, change, reason):
    reminder, message = failed_reminder
    if change == "stale":
        reminder.stale_at = clock.utcnow() - dt.timedelta(minutes=1)
    else:
        reminder.version = 3
    db.session.commit()
    nurse = as_role("nurse")
    r = nurse.post(f"/console/messages/{message.id}/retry")
    assert reason in nurse.text(r.headers["Location"])
    assert db.session.get(Message, message.id).status == "failed"


def test_charts_are_inline_svg_with_text(as_role, seeded):
    page = as_role("admin").text("/console/messages/stats")
    assert page.count("<svg") == 2  # per day, and the cost per month in ZAR
    assert "<title" in page and "SMS per day, last 30 days" in page and "SMS cost per month (ZAR)" in page
    assert "delivered</title>" in page
    assert re.search(r"<b>2</b>sent in 30 days", page)  # the delivered and the failed one were both sent
    assert "0.80 ZAR" in page
    assert "http://" not in page and "https://" not in page


def test_a_coordinators_charts_count_only_her_clients(as_role, seeded):
    page = as_role("other").text("/console/messages/stats")
    assert re.search(r"<b>0</b>sent in 30 days", page) and re.search(r"<b>1</b>failed", page)


def test_sending_paused_banner_and_resume(as_role, seeded, people):
    nurse, admin = as_role("nurse"), as_role("admin")
    assert "Sending is paused" not in nurse.text("/console/")
    page = admin.text("/console/clients")
    assert "Sending is paused" in page and "InsufficientBalance" in page and "Resume sending" in page
    alert = db.session.scalar(select(Alert))
    assert nurse.post(f"/console/alerts/{alert.id}/resolve").status_code == 404
    r = admin.post(f"/console/alerts/{alert.id}/resolve", {"next": "/console/clients"})
    assert r.status_code == 302 and r.headers["Location"] == "/console/clients"
    alert = db.session.get(Alert, alert.id)
    assert alert.resolved_at and alert.resolved_by == f"user:{people['admin'].id}"
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.entity == "alert")) == "sending.resumed"
    assert "Sending is paused" not in admin.text("/console/clients")
    # What waited goes out now: the queued message got its send job.
    # (A one-off: not a welcome SMS or a broadcast's copy, which wait for her send window, and the night may be
    # outside it.)
    assert db.session.scalar(select(Message.enqueued_at).where(
        Message.status == "queued", Message.kind.is_(None))) is not None
