"""Enrolment by form and by CSV upload: the services' checks, shown next to each field, nothing lost."""
from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import func, select

from gateway.clients.sites import local_today
from gateway.adapters.database import db
from gateway.core.models import Appointment, AuditEntry, Client, Infant, Task


def form(site, **fields):
    base = {"site_id": str(site.id), "phone": "", "name": "", "language": "", "reminder_hour": "9", "programme": "",
            "expected_delivery_date": "", "art.last_dispensed": "", "art.days_supply": "", "consent": "yes",
            "infants[0].date_of_birth": "", "infants[0].name": "", "infants[0].hiv_exposed": "true",
            "infants[1].date_of_birth": "", "infants[1].name": "", "infants[1].hiv_exposed": "true"}
    return base | fields


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_enrol_a_client_with_medicine_and_a_baby(as_role, sites, people):
    za, _ = sites
    today = local_today("ZA")
    r = as_role("nurse").post("/console/enrol", form(
        za, phone="082 123 4567", name="Thandi", language="sw",
        **{"art.last_dispensed": (today - dt.timedelta(days=5)).isoformat(), "art.days_supply": "30",
           "infants[1].date_of_birth": (today - dt.timedelta(days=20)).isoformat(), "infants[1].name": "Lwazi",
           "infants[1].hiv_exposed": "false"}))
    assert r.status_code == 302
    client = db.session.scalar(select(Client))
    assert r.headers["Location"] == f"/console/clients/{client.id}"
    assert (client.phone, client.language, client.site_id, client.programme) == ("+27821234567", "sw", za.id, "mother")
    assert [(i.name, i.hiv_exposed) for i in client.infants] == [("Lwazi", False)]
    assert count(Appointment) > 1 and client.consent_at is not None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.enrolled"))
    assert entry.actor == f"user:{people['nurse'].id}" and entry.entity_id == client.id


def test_bad_phone_and_dates_are_refused_next_to_the_field_keeping_what_was_typed(as_role, sites):
    za, _ = sites
    future = (local_today("ZA") + dt.timedelta(days=30)).isoformat()
    r = as_role("nurse").post("/console/enrol", form(
        za, phone="011 123 4567", name="<b>Nomsa</b>",
        **{"art.last_dispensed": "2025-02-31", "art.days_supply": "30", "infants[1].date_of_birth": future}))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="err-phone">not a mobile number' in page
    assert 'value="011 123 4567"' in page and 'value="&lt;b&gt;Nomsa&lt;/b&gt;"' in page
    assert "id=\"err-art-last_dispensed\">is not a date (YYYY-MM-DD): &#39;2025-02-31&#39;" in page
    # The first infant row was left empty: the error names the form's second row, where the date was typed.
    assert 'id="err-infants-1-date_of_birth">must not be in the future' in page
    assert f'value="{future}"' in page
    assert count(Client) == 0


def test_consent_must_be_ticked(as_role, sites):
    r = as_role("nurse").post("/console/enrol", form(sites[0], phone="082 123 4567", consent=""))
    assert r.status_code == 422 and 'id="err-consent"' in r.get_data(as_text=True)
    assert count(Client) == 0


def test_a_number_enrolled_already_links_to_the_client(as_role, sites, enrol):
    existing = enrol(sites[0], "082 123 4567", "Thandi")
    r = as_role("nurse").post("/console/enrol", form(sites[0], phone="+27 82 123 4567"))
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "already enrolled" in page and f"/console/clients/{existing.id}" in page


def test_an_enrolment_request_is_approved_by_enrolling(as_role, sites, people):
    task = Task(kind="enrolment_request", phone="+27829990000", status="open",
                details={"consent": "true", "consent_version": "ussd-consent-1"})
    db.session.add(task)
    db.session.commit()
    nurse = as_role("nurse")
    page = nurse.text(f"/console/enrol?request={task.id}")
    assert 'value="+27829990000"' in page and "Approving the request" in page
    r = nurse.post("/console/enrol", form(sites[0], phone="+27829990000", request=str(task.id)))
    assert r.status_code == 302
    client = db.session.scalar(select(Client))
    assert client.consent_version == "ussd-consent-1"
    task = db.session.get(Task, task.id)
    assert task.status == "done" and task.closed_by == f"user:{people['nurse'].id}"


def test_an_enrolment_request_can_be_rejected(as_role, sites):
    task = Task(kind="enrolment_request", phone="+27829990000", status="open")
    db.session.add(task)
    db.session.commit()
    r = as_role("nurse").post(f"/console/tasks/{task.id}/reject", {"next": "/console/"})
    assert r.status_code == 302
    assert db.session.get(Task, task.id).status == "rejected"
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.entity == "task")) == "task.rejected"


# --- CSV upload ---------------------------------------------------------------------------------------

def upload(session, site, text: str, *, name="register.csv", json=False):
    headers = {"Accept": "application/json"} if json else {}
    return session.post("/console/import", {"site_id": str(site.id), "file": (io.BytesIO(text.encode()), name)},
                        content_type="multipart/form-data", headers=headers)


def test_csv_upload_reports_refused_rows_for_download_and_plans_the_new_clients(as_role, sites):
    za, _ = sites
    last = (local_today("ZA") - dt.timedelta(days=3)).isoformat()
    nurse = as_role("nurse")
    r = upload(nurse, za, "consent,phone,name,art_last_dispensed,art_days_supply\n"
                          f"yes,082 555 0001,Lindiwe,{last},30\n"
                          "yes,not a phone,<i>Bad</i>,,\n"
                          f"yes,+27825550002,Zanele,{last},60\n"
                          f"yes,0825550001,Lindiwe again,{last},30\n")
    assert r.status_code == 303
    report = nurse.text(r.headers["Location"])
    assert "<b>4</b>rows read" in report and "<b>2</b>enrolled" in report and "<b>1</b>already enrolled" in report
    assert "line" in report.lower() and "phone:" in report
    refused = nurse.get(r.headers["Location"] + "/refused.csv")
    assert refused.headers["Content-Type"].startswith("text/csv")
    assert 'filename="register.refused.csv"' in refused.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(refused.get_data(as_text=True))))
    # The refused row whole, as uploaded, with the reason last: corrected, the file can be uploaded again.
    assert rows[0] == ["consent", "phone", "name", "art_last_dispensed", "art_days_supply", "reason"]
    assert rows[1][:5] == ["yes", "not a phone", "<i>Bad</i>", "", ""] and rows[1][5].startswith("phone:")
    fixed = refused.get_data(as_text=True).replace("not a phone", "082 555 0009")
    r = upload(nurse, za, fixed)
    assert "<b>1</b>enrolled" in nurse.text(r.headers["Location"])
    clients = db.session.scalars(select(Client).order_by(Client.id)).all()
    assert [(c.name, c.site_id) for c in clients] == [("Lindiwe", za.id), ("Zanele", za.id), ("<i>Bad</i>", za.id)]
    # Planned at once: the new clients have their pick-up appointments.
    assert count(Appointment) == 2


def test_csv_upload_from_the_pages_script_answers_json(as_role, sites):
    nurse = as_role("nurse")
    r = upload(nurse, sites[0], "consent,phone\nyes,082 555 0001\n", json=True)
    assert r.status_code == 200 and r.get_json()["report_url"].startswith("/console/import/")
    r = upload(nurse, sites[0], "telephone\n082 555 0001\n", json=True)
    assert r.status_code == 422 and "unknown column" in r.get_json()["errors"]["file"]


def test_a_file_that_cannot_be_read_is_refused_next_to_the_field(as_role, sites):
    nurse = as_role("nurse")
    r = upload(nurse, sites[0], "")
    assert r.status_code == 422 and "is empty" in r.get_data(as_text=True)
    r = nurse.post("/console/import", {"site_id": str(sites[0].id)}, content_type="multipart/form-data")
    assert r.status_code == 422 and "choose a CSV file" in r.get_data(as_text=True)
    assert count(Client) == 0 and count(Infant) == 0


def test_the_form_queues_her_welcome_sms_unless_dont_text_now_is_ticked(as_role, sites):
    from gateway.core.models import Message

    za, _ = sites
    nurse = as_role("nurse")
    page = nurse.get("/console/enrol").get_data(as_text=True)
    assert "Don't text now" in page and "*384*123#" in page
    r = nurse.post("/console/enrol", form(za, phone="082 123 4567"))
    assert r.status_code == 302
    page = nurse.text(r.headers["Location"])  # on her timeline, named for what it is
    assert "Welcome SMS" in page and "Reply STOP to stop these SMS." in page
    assert "welcome" in nurse.text("/console/messages")
    assert nurse.post("/console/enrol", form(za, phone="083 123 4567", no_welcome="yes")).status_code == 302
    welcomed = db.session.execute(select(Message.phone, Message.status).where(Message.kind == "welcome")).all()
    assert welcomed == [("+27821234567", "queued")]
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "client.enrolled")
                                 .order_by(AuditEntry.id)).all()
    assert [e.changes["welcome_sms"] for e in entries] == [True, False]
