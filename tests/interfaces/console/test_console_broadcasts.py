"""Broadcasts on the console: preview (parts, discretion, reach, cost), refusal, scoping, sending to the outbox."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from gateway.core import clock
from gateway.adapters.database import db
from gateway.messages import set_opt_out
from gateway.core.models import AuditEntry, Broadcast, Message
from gateway.messages import dispatch

# 22:00 in Johannesburg, 23:00 in Nairobi: every copy waits for the morning's window (08:00 local).
NIGHT = dt.datetime(2026, 3, 2, 20, 0)
ZA_MORNING = dt.datetime(2026, 3, 3, 6, 0)
CLOSED = "The clinic is closed this Friday. Please come on Monday instead."


@pytest.fixture(autouse=True)
def at_night(app):
    with clock.frozen(NIGHT):
        yield


@pytest.fixture
def clients(sites, enrol):
    """At the ZA site: Thandi, Lerato (a pick-up reminder tomorrow), Zodwa (said STOP); at the KE site: Akinyi."""
    za, ke = sites
    thandi = enrol(za, "082 100 0001", "Thandi")
    lerato = enrol(za, "082 100 0002", "Lerato", art_days_ago=28)  # due in 2 days: reminded tomorrow
    zodwa = enrol(za, "082 100 0003", "Zodwa")
    set_opt_out(zodwa, True, "test", confirm=False)
    akinyi = enrol(ke, "0712 345 678", "Akinyi")
    db.session.commit()
    return {"thandi": thandi, "lerato": lerato, "zodwa": zodwa, "akinyi": akinyi}


def form(**fields):
    return {"text": CLOSED, "audience": "all", "site_id": "", "visit_date": "", **fields}


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_page_is_in_the_nav_for_coordinators_and_admins(as_role, people):
    for who in ("nurse", "admin"):
        page = as_role(who).text("/console/broadcasts")
        assert 'href="/console/broadcasts">Broadcasts</a>' in page and "No broadcasts yet." in page


def test_preview_counts_parts_reach_and_who_is_left_out(as_role, people, clients):
    r = as_role("nurse").post("/console/broadcasts/preview", form())
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert f"{len(CLOSED)} characters, <strong>1 SMS part</strong>" in page
    assert "Discretion check: passed" in page
    # Her site's clients only: Thandi; Lerato already gets a reminder that day; Zodwa said STOP; not Akinyi.
    assert "<strong>1 client</strong> will get it (1 outside their send window now" in page
    assert "Left out: 1 who said STOP or whose number is refused;\n      1 who already get an SMS that day" in page
    assert "Estimated cost: not known yet" in page
    assert "Send to 1 client</button>" in page
    assert count(Broadcast) == 0 and count(Message, Message.kind == "broadcast") == 0  # a preview writes nothing

    urgent = as_role("nurse").post("/console/broadcasts/preview", form(urgent="yes")).get_data(as_text=True)
    assert "<strong>2 clients</strong> will get it" in urgent and "Send to 2 clients</button>" in urgent


def test_the_estimate_comes_from_what_sms_cost_lately(as_role, people, clients):
    db.session.add(Message(client_id=clients["thandi"].id, direction="out", phone="+27821000001", text="x",
                           status="delivered", backend="africastalking", attempts=1, cost_amount=0.8,
                           cost_currency="ZAR", sent_at=NIGHT - dt.timedelta(days=1)))
    db.session.commit()
    page = as_role("admin").post("/console/broadcasts/preview", form(text="a" * 200, urgent="yes")).get_data(
        as_text=True)
    # Two parts to Thandi, Lerato and Akinyi: 3 x 2 x 0.80.
    assert "<strong>2 SMS parts</strong>" in page and "<strong>3 clients</strong>" in page
    assert "Estimated cost: 4.80 ZAR" in page


@pytest.mark.parametrize("text,words", [("Bring your ARV card on Friday.", "ARV"),
                                        ("HIV clinic closed; TB clinic open", "HIV, TB")])
def test_a_text_that_could_disclose_is_refused_at_preview_and_at_send(as_role, people, clients, text, words):
    nurse = as_role("nurse")
    r = nurse.post("/console/broadcasts/preview", form(text=text))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert f"<strong class=\"error\">refused</strong>, it names {words}" in page
    assert "could disclose a client&#39;s status" in page and "broadcast-confirm" not in page
    r = nurse.post("/console/broadcasts", form(text=text))
    assert r.status_code == 422
    assert count(Broadcast) == 0 and count(Message, Message.kind == "broadcast") == 0


def test_a_coordinator_cannot_reach_another_sites_clients(as_role, people, sites, clients):
    _, ke = sites
    nurse = as_role("nurse")
    for url in ("/console/broadcasts/preview", "/console/broadcasts"):
        r = nurse.post(url, form(audience="site", site_id=str(ke.id)))
        assert r.status_code == 422
        assert 'id="err-site_id">is not one of your sites' in r.get_data(as_text=True)
    assert count(Broadcast) == 0
    # Her "all" is her own sites' clients: Akinyi (Kenya) is never among them.
    assert nurse.post("/console/broadcasts", form(urgent="yes")).status_code == 303
    phones = db.session.scalars(select(Message.phone).where(Message.kind == "broadcast")).all()
    assert sorted(phones) == ["+27821000001", "+27821000002"]


def test_bad_fields_are_named_and_change_nothing(as_role, people, clients):
    nurse = as_role("nurse")
    for fields, name, reason in [({"text": "  "}, "text", "is required"),
                                 ({"text": "a" * 500}, "text", "is 4 SMS parts; at most 3"),
                                 ({"audience": "everyone"}, "audience", "must be one of site, visit_date, all"),
                                 ({"audience": "visit_date"}, "visit_date", "is required"),
                                 ({"audience": "visit_date", "visit_date": "2026-02-30"}, "visit_date",
                                  "is not a date"),
                                 ({"audience": "site"}, "site_id", "is required")]:
        r = nurse.post("/console/broadcasts", form(**fields))
        assert r.status_code == 422, fields
        assert f'id="err-{name}">{reason}' in r.get_data(as_text=True), fields
    assert count(Broadcast) == 0 and count(AuditEntry, AuditEntry.action == "broadcast.sent") == 0


def test_sent_to_the_outbox_in_the_send_window_opt_outs_skipped_and_listed(as_role, people, sites, clients, app):
    za, _ = sites
    nurse = as_role("nurse")
    r = nurse.post("/console/broadcasts", form(audience="site", site_id=str(za.id)))
    assert r.status_code == 303
    broadcast = db.session.scalar(select(Broadcast))
    assert (broadcast.recipients, broadcast.skipped_opted_out, broadcast.skipped_daily, broadcast.segments,
            broadcast.user_id, broadcast.urgent) == (1, 1, 1, 1, people["nurse"].id, False)
    [copy] = db.session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)).all()
    assert (copy.client_id, copy.text, copy.status, copy.kind, copy.next_attempt_at) == (
        clients["thandi"].id, CLOSED, "queued", "broadcast", ZA_MORNING)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "broadcast.sent"))
    assert entry.actor == f"user:{people['nurse'].id}" and entry.entity_id == broadcast.id
    assert entry.changes["recipients"] == 1 and entry.changes["skipped_opted_out"] == 1

    def run_pass(now):
        jobs = []
        with clock.frozen(now):
            dispatch.send_due(now, enqueue=jobs.append)
            for ids in jobs:
                dispatch.send_messages(ids)
        db.session.rollback()

    run_pass(NIGHT + dt.timedelta(hours=2))  # midnight local: it waits
    assert db.session.get(Message, copy.id).status == "queued"
    run_pass(ZA_MORNING + dt.timedelta(minutes=1))
    assert db.session.get(Message, copy.id).status == "outbox"
    assert count(Message, Message.client_id == clients["zodwa"].id, Message.kind == "broadcast") == 0

    page = nurse.text("/console/broadcasts")
    assert CLOSED in page and 'id="broadcast-list"' in page
    # Recipients 1, delivered 0 (+1 in the outbox), failed 0, waiting 0, left out 2.
    assert '<td data-label="Recipients">1</td>' in page and '<td data-label="Left out">2</td>' in page
    assert '<span class="muted">+1 sent</span>' in page
    # The other site's coordinator does not see it.
    assert CLOSED not in as_role("other").text("/console/broadcasts")


def test_a_visit_date_reaches_only_those_with_a_visit_due_that_day(as_role, people, clients):
    due = (clients["lerato"].art_last_dispensed + dt.timedelta(days=30)).isoformat()
    r = as_role("admin").post("/console/broadcasts", form(audience="visit_date", visit_date=due, urgent="yes"))
    assert r.status_code == 303
    assert db.session.scalars(select(Message.client_id).where(Message.kind == "broadcast")).all() == [
        clients["lerato"].id]
    assert db.session.scalar(select(Broadcast.visit_date)).isoformat() == due


def test_delivered_and_failed_are_counted_from_the_copies(as_role, people, clients):
    as_role("admin").post("/console/broadcasts", form(urgent="yes"))
    copies = db.session.scalars(select(Message).where(Message.kind == "broadcast").order_by(Message.id)).all()
    assert len(copies) == 3  # Thandi, Lerato, Akinyi: Zodwa said STOP
    copies[0].status, copies[1].status = "delivered", "failed"
    db.session.commit()
    page = as_role("admin").text("/console/broadcasts")
    assert '<td data-label="Delivered">1</td>' in page and '<td data-label="Failed">1</td>' in page
    assert '<td data-label="Waiting">1</td>' in page
