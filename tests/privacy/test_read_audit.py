"""Every read of a client's record is audited (who, which client, through what), never with her number.

Console client page, console search and list (one entry per search, listing
the ids shown), the console's USSD phone opened on her number, API reads by
id, by phone and of her schedule, and the download of an import's refused
rows. The admin's audit page filters by user, client, action and day (in the
console's time zone).
"""
from __future__ import annotations

import datetime as dt
import io
import json

import sqlalchemy as sa

from gateway.adapters.database import db
from gateway.core import clock
from gateway.core.models import AuditEntry

PHONE = "+27821234567"


def _reads(action: str = "client.viewed") -> list[AuditEntry]:
    db.session.expire_all()
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def _no_phone(entries) -> None:
    for entry in entries:
        assert PHONE not in json.dumps(entry.changes) and PHONE not in entry.actor


def test_console_reads_are_audited(app, sites, people, enrol, as_role):
    za, _ = sites
    her = enrol(za, PHONE, name="Zodwa")
    other = enrol(za, "+27831234567", name="Zanele")
    nurse = as_role("nurse")
    actor = f"user:{people['nurse'].id}"

    nurse.text(f"/console/clients/{her.id}")
    assert [(e.actor, e.entity_id, e.changes) for e in _reads()] == [(actor, her.id, {"via": "console"})]

    nurse.text("/console/clients?q=Z")
    listed = _reads("client.listed")
    assert len(listed) == 1 and listed[0].actor == actor and listed[0].entity_id is None
    assert sorted(listed[0].changes["client_ids"]) == sorted([her.id, other.id])
    assert listed[0].changes["via"] == "console search"
    nurse.text("/console/clients?q=nobody")  # no hits: nothing was shown, nothing to record
    assert len(_reads("client.listed")) == 1

    nurse.text(f"/console/phone?client={her.id}")
    assert _reads()[-1].changes == {"via": "console phone"} and _reads()[-1].entity_id == her.id
    _no_phone(_reads() + _reads("client.listed"))

    # The client page's "Changes" lists changes, not who looked.
    page = nurse.text(f"/console/clients/{her.id}")
    assert "Record viewed" not in page.split('<h2>Changes</h2>')[1]


def test_api_reads_are_audited(app, client, make_user):
    _, headers = make_user("admin")
    created = client.post("/api/v1/clients", headers=headers, json={"consent": True, "phone": PHONE, "country": "ZA"}).get_json()
    token_actor = [e.actor for e in _reads("client.enrolled")][0]
    assert client.get(f"/api/v1/clients/{created['id']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/clients?phone=0821234567", headers=headers).status_code == 200
    assert client.get(f"/api/v1/clients/{created['id']}/schedule", headers=headers).status_code == 200
    assert client.get("/api/v1/clients?phone=0831234567", headers=headers).status_code == 200  # no one: no entry
    reads = _reads()
    assert [(e.actor, e.entity_id, e.changes) for e in reads] == [(token_actor, created["id"], {"via": "api"})] * 3
    _no_phone(reads)


def test_a_refused_rows_download_is_audited(app, sites, people, as_role):
    za, _ = sites
    nurse = as_role("nurse")
    upload = nurse.post("/console/import", {"site_id": str(za.id), "file": (io.BytesIO(
        b"phone,name\nnot a phone,Bad\n"), "register.csv")}, content_type="multipart/form-data")
    assert nurse.get(upload.headers["Location"] + "/refused.csv").status_code == 200
    entry = _reads("import.report_downloaded")
    assert len(entry) == 1 and entry[0].actor == f"user:{people['nurse'].id}"


def test_the_audit_page_filters_by_user_client_action_and_day(app, sites, people, enrol, as_role):
    za, _ = sites
    her = enrol(za, PHONE, name="Zodwa")
    other = enrol(za, "+27831234567", name="Thandi")
    nurse = as_role("nurse")
    nurse.text(f"/console/clients/{her.id}")
    nurse.text("/console/clients?q=Zodwa")
    nurse.text(f"/console/clients/{other.id}")
    admin = as_role("admin")

    def rows(query: str) -> str:
        response = admin.get("/console/audit?" + query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data(as_text=True).split("<tbody>")[1]

    by_nurse = rows(f"user={people['nurse'].id}")
    assert "client.viewed" in by_nurse and "client.listed" in by_nurse and "client.enrolled" not in by_nurse
    about_her = rows(f"client={her.id}")
    assert about_her.count("client.viewed") == 1 and about_her.count("client.listed") == 1
    assert "client.enrolled" in about_her
    about_other = rows(f"client={other.id}&action=client.viewed")
    assert about_other.count("client.viewed") == 1 and "client.listed" not in about_other
    # Days are the console's (Johannesburg for this admin: the default country's zone).
    today = clock.local_date("Africa/Johannesburg", clock.utcnow())
    assert "client.viewed" in rows(f"from={today}&to={today}")
    assert "client.viewed" not in rows(f"to={today - dt.timedelta(days=1)}")
    assert "client.viewed" not in rows(f"from={today + dt.timedelta(days=1)}")
    bad = admin.get("/console/audit?from=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)


def test_audit_days_are_the_consoles_not_utc(app, sites, people, enrol, as_role):
    za, _ = sites
    her = enrol(za, PHONE, name="Zodwa")
    nurse = as_role("nurse")
    with clock.frozen(dt.datetime(2026, 1, 10, 23, 30)):  # UTC; 01:30 on the 11th in Johannesburg
        nurse.text(f"/console/clients/{her.id}")
    admin = as_role("admin")
    on_11th = admin.text("/console/audit?action=client.viewed&from=2026-01-11&to=2026-01-11").split("<tbody>")[1]
    on_10th = admin.text("/console/audit?action=client.viewed&from=2026-01-10&to=2026-01-10").split("<tbody>")[1]
    assert "client.viewed" in on_11th and "2026-01-11 01:30" in on_11th
    assert "client.viewed" not in on_10th
