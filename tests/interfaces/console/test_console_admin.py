"""Admin pages: users, sites, schedules, the audit log, operations."""
from __future__ import annotations

from sqlalchemy import select
from werkzeug.security import check_password_hash

import jobs
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Site, User
from gateway.adapters.redis_store import get_redis


def user_form(**fields):
    return {"email": "", "name": "", "role": "coordinator", "password": "", "phone": "", "pin": "", "active": "yes"} \
        | fields


def test_create_a_coordinator_with_a_ussd_phone(as_role, sites, people):
    za, _ = sites
    r = as_role("admin").post("/console/users/new", user_form(
        email="Mentor@Example.org", name="Mentor", password="long enough pw", phone="082 999 0000", pin="4321",
        sites=[str(za.id)]))
    assert r.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "mentor@example.org"))
    assert user.phone == "+27829990000" and [s.id for s in user.sites] == [za.id]
    assert check_password_hash(user.ussd_pin_hash, "4321")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.created",
                                                       AuditEntry.entity_id == user.id))
    assert entry.actor == f"user:{people['admin'].id}" and "4321" not in str(entry.changes)


def test_a_bad_user_is_refused_field_by_field_and_secrets_are_not_echoed(as_role, people):
    r = as_role("admin").post("/console/users/new", user_form(email="nurse@example.org", password="short",
                                                              pin="12"))
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="err-password">must be at least 12 characters' in page
    assert 'id="err-pin">must be 4 digits' in page and 'value="short"' not in page
    r = as_role("admin").post("/console/users/new", user_form(email="nurse@example.org", password="long enough pw"))
    assert r.status_code == 409 and "already exists" in r.get_data(as_text=True)


def test_edit_a_user_audits_without_secrets(as_role, sites, people):
    za, ke = sites
    nurse = people["nurse"]
    r = as_role("admin").post(f"/console/users/{nurse.id}", user_form(
        name="Nomsa M.", role="coordinator", sites=[str(za.id), str(ke.id)], password="another long one",
        active="yes"))
    assert r.status_code == 302
    user = db.session.get(User, nurse.id)
    assert {s.id for s in user.sites} == {za.id, ke.id} and user.name == "Nomsa M."
    changes = db.session.scalar(select(AuditEntry.changes).where(AuditEntry.action == "user.updated"))
    assert changes["password"] == "changed" and "another long one" not in str(changes)
    assert changes["name"] == ["Nomsa Nurse", "Nomsa M."]


def test_an_admin_cannot_lock_herself_out(as_role, people):
    admin = people["admin"]
    r = as_role("admin").post(f"/console/users/{admin.id}", user_form(name="Ada", role="coordinator", active="yes"))
    assert r.status_code == 422 and "cannot remove your own admin role" in r.get_data(as_text=True)
    r = as_role("admin").post(f"/console/users/{admin.id}", user_form(name="Ada", role="admin", active=""))
    assert r.status_code == 422
    assert db.session.get(User, admin.id).role == "admin" and db.session.get(User, admin.id).active


def test_users_page_lists_everyone(as_role, people):
    page = as_role("admin").text("/console/users")
    for person in people.values():
        assert person.email in page


def test_create_a_site(as_role, people):
    admin = as_role("admin")
    r = admin.post("/console/sites", {"name": "Lilongwe HC", "country": "MW", "timezone": ""})
    assert r.status_code == 302
    site = db.session.scalar(select(Site).where(Site.name == "Lilongwe HC"))
    assert (site.country, site.timezone) == ("MW", "Africa/Blantyre")
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.entity == "site")) == "site.created"
    r = admin.post("/console/sites", {"name": "Lilongwe HC", "country": "MW", "timezone": ""})
    assert r.status_code == 409
    r = admin.post("/console/sites", {"name": "", "country": "XX", "timezone": "Mars/Olympus"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="err-name">is required' in page and 'id="err-country"' in page


def test_console_site_form_takes_and_checks_the_region(as_role, people):
    admin = as_role("admin")
    r = admin.post("/console/sites", {"name": "Homa Bay HC", "country": "KE", "timezone": "", "region": "Atlantis"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="err-region"' in page and "is not a region of KE" in page
    assert db.session.scalar(select(Site).where(Site.name == "Homa Bay HC")) is None
    r = admin.post("/console/sites", {"name": "Homa Bay HC", "country": "KE", "timezone": "", "region": "homa bay"})
    assert r.status_code == 302
    assert db.session.scalar(select(Site.region).where(Site.name == "Homa Bay HC")) == "Homa Bay"
    assert "Homa Bay" in admin.text("/console/sites")


def test_schedules_page_shows_doses_and_thresholds(as_role):
    page = as_role("admin").text("/console/schedules")
    assert "South Africa (ZA)" in page and "PCR birth" in page and "lost from 90 days" in page
    assert "SMS go between 08:00 and 19:00" in page
    assert "Only in Kakamega, Vihiga" in page and "Source: kepi-opensrp" in page and "Lesotho (LS)" in page


def test_audit_log_filters(as_role, seeded, people):
    admin = as_role("admin")
    rows = admin.text(f"/console/audit?actor=user:{people['admin'].id}").split("<tbody>")[1]  # the action list names all
    assert "user.signed_in" in rows and "client.enrolled" not in rows
    rows = admin.text(f"/console/audit?entity=client&entity_id={seeded['hostile'].id}").split("<tbody>")[1]
    assert "client.enrolled" in rows and "user.signed_in" not in rows


def test_operations_shows_health_queues_and_workers(as_role):
    from rq import Worker

    admin = as_role("admin")
    page = admin.text("/console/ops")
    assert "database ok" in page and "Redis ok" in page and "No worker is running" in page
    assert "dispatch" in page and "jobs.dispatch_pass" in page
    jobs.queue("default").enqueue("jobs.plan_ahead")
    worker = Worker([jobs.queue("sms"), jobs.queue("default")], connection=get_redis(), name="clinic-worker-1")
    worker.register_birth()
    try:
        page = admin.text("/console/ops")
        assert "clinic-worker-1" in page and "sms, default" in page
        assert '<td data-label="Queue">default</td><td data-label="Waiting">1</td>' in page
    finally:
        worker.register_death()
