"""A coordinator cannot learn whether a number is enrolled at a site she does not coordinate.

Enrolling such a number (API, console form, CSV) or giving it to one of her
clients (API PATCH, console details) gets the answer any enrolment waiting for
an admin gets, whatever the reason it waits; the admin sees a transfer request
naming both sites, and approving moves the client with her history.
"""
from __future__ import annotations

import io

import sqlalchemy as sa

from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Task

ELSEWHERE = "+27821110001"  # enrolled at the Kenyan site (not the nurse's)
NO_SITE = "+27821110002"  # enrolled without a site (an admin's)
NEW = "+27821110003"


def _tokens(make_user):
    nurse = make_user("coordinator", email="nurse-api@example.org", sites=["Khayelitsha CHC"])[1]
    admin = make_user("admin", email="admin-api@example.org")[1]
    return nurse, admin


def _setup(sites, enrol):
    za, ke = sites
    elsewhere = enrol(ke, ELSEWHERE, name="Akinyi", country="ZA", art_days_ago=5)
    no_site = enrol(None, NO_SITE, name="Nobody's")
    return za, ke, elsewhere, no_site


def test_api_answers_alike_whatever_the_reason(app, client, sites, enrol, make_user):
    za, ke, elsewhere, no_site = _setup(sites, enrol)
    nurse, admin = _tokens(make_user)
    answers = []
    for phone in (ELSEWHERE, NO_SITE, ELSEWHERE):  # the last: a second try while the first waits
        r = client.post("/api/v1/clients", headers=nurse, json={"consent": True, "phone": phone, "country": "ZA", "name": "X"})
        answers.append((r.status_code, r.get_data(as_text=True), sorted(r.headers.keys())))
    assert answers[0][0] == 202 and answers[0][1].strip() == '{"status":"pending_approval"}'
    assert answers[0] == answers[1] == answers[2]
    # Nothing changed for her; the admin has one request per client and site, naming both sites.
    assert db.session.get(Client, elsewhere.id).site_id == ke.id
    tasks = db.session.scalars(sa.select(Task).where(Task.kind == "transfer_request").order_by(Task.id)).all()
    assert [(t.client_id, t.details["from_site_id"], t.details["to_site_id"]) for t in tasks] == [
        (elsewhere.id, ke.id, za.id), (no_site.id, None, za.id)]
    # A number enrolled nowhere is enrolled at once, as before; an admin still gets 409 for a taken number.
    assert client.post("/api/v1/clients", headers=nurse, json={"consent": True, "phone": NEW, "country": "ZA"}).status_code == 201
    assert client.post("/api/v1/clients", headers=admin, json={"consent": True, "phone": ELSEWHERE, "country": "ZA"}).status_code == 409
    # Nor does any read tell her: by phone she finds no one, by id a 404.
    assert client.get(f"/api/v1/clients?phone={ELSEWHERE}", headers=nurse).get_json() == {"clients": []}
    assert client.get(f"/api/v1/clients/{elsewhere.id}", headers=nurse).status_code == 404


def test_api_phone_change_to_a_number_enrolled_elsewhere(app, client, sites, enrol, make_user):
    za, ke, elsewhere, _ = _setup(sites, enrol)
    mine = enrol(za, NEW, name="Mine")
    nurse, _ = _tokens(make_user)
    r = client.patch(f"/api/v1/clients/{mine.id}", headers=nurse, json={"phone": ELSEWHERE})
    assert (r.status_code, r.get_json()) == (202, {"status": "pending_approval"})
    db.session.expire_all()
    assert db.session.get(Client, mine.id).phone == NEW
    task = db.session.scalar(sa.select(Task).where(Task.kind == "transfer_request"))
    assert task.client_id == elsewhere.id and task.details["for_client_id"] == mine.id


def test_csv_counts_them_as_sent_for_approval(app, client, sites, enrol, make_user):
    za, _, elsewhere, _ = _setup(sites, enrol)
    nurse, _ = _tokens(make_user)
    body = f"consent,phone,name\nyes,{ELSEWHERE},A\nyes,{NO_SITE},B\nyes,{NEW},C\n".encode()
    r = client.post(f"/api/v1/clients/import?site_id={za.id}", headers={**nurse, "Content-Type": "text/csv"},
                    data=body)
    report = r.get_json()
    assert (report["imported"], report["skipped"], report["pending_approval"]) == (1, 0, 2)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(Task.kind == "transfer_request")) == 2


def test_console_form_and_the_admins_approval(app, sites, enrol, people, as_role):
    za, ke, elsewhere, _ = _setup(sites, enrol)
    nurse = as_role("nurse")
    form = {"phone": ELSEWHERE, "name": "Akinyi", "site_id": str(za.id), "consent": "yes", "reminder_hour": "9"}
    r = nurse.post("/console/enrol", form)
    assert r.status_code == 302
    page = nurse.text(r.headers["Location"])
    assert "Sent to the programme admin for approval." in page
    assert "Kisumu" not in page and "already enrolled" not in page
    # Her Today page shows nothing of the request; the admin's names both sites.
    assert "Transfer request" not in nurse.text(f"/console/?site={za.id}")
    admin = as_role("admin")
    today = admin.text("/console/")
    assert "Transfer requests" in today and "Kisumu Clinic" in today and "Khayelitsha CHC" in today
    task = db.session.scalar(sa.select(Task).where(Task.kind == "transfer_request"))
    assert nurse.post(f"/console/tasks/{task.id}/transfer").status_code == 404  # an admin's decision
    assert admin.post(f"/console/tasks/{task.id}/transfer").status_code == 302
    db.session.expire_all()
    moved = db.session.get(Client, elsewhere.id)
    assert moved.site_id == za.id and moved.appointments  # her history went with her
    assert db.session.get(Task, task.id).status == "done"
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "client.updated",
                                                         AuditEntry.entity_id == elsewhere.id)).changes == {
        "site_id": [ke.id, za.id]}
    assert nurse.get(f"/console/clients/{elsewhere.id}").status_code == 200  # hers now


def test_a_rejected_request_changes_nothing(app, sites, enrol, people, as_role):
    za, ke, elsewhere, _ = _setup(sites, enrol)
    nurse = as_role("nurse")
    nurse.post("/console/enrol", {"phone": ELSEWHERE, "site_id": str(za.id), "consent": "yes",
                                  "reminder_hour": "9"})
    task = db.session.scalar(sa.select(Task).where(Task.kind == "transfer_request"))
    assert as_role("admin").post(f"/console/tasks/{task.id}/reject").status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "rejected"
    assert db.session.get(Client, elsewhere.id).site_id == ke.id
