"""Clients: search, the timeline, and every action on the client page, through HTTP."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gateway.clients.sites import local_today
from gateway.adapters.database import db
from gateway.i18n.disclosure import disclosing_words
from gateway.core.models import Appointment, AuditEntry, Client, DoseGiven, Infant, Message

from werkzeug.security import generate_password_hash


@pytest.fixture
def thandi(sites, enrol):
    return enrol(sites[0], "082 123 4567", "Thandi", art_days_ago=31, infant_days_old=70)


def audit_actions(client_id):
    return [a for a in db.session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == client_id,
                                                                          AuditEntry.entity == "client")
                                                .order_by(AuditEntry.id))]


@pytest.mark.parametrize("query", ["082 123 4567", "0821234567", "+27 82 123 4567", "0027821234567",
                                   "27821234567", "1234567", "thandi", "THAN"])
def test_search_by_any_phone_form_or_name(as_role, thandi, query):
    page = as_role("nurse").text(f"/console/clients?q={query}")
    assert f"/console/clients/{thandi.id}" in page
    assert "+27821234567" not in page and "+278******67" in page  # a list shows masked numbers


def test_a_single_match_opens_the_client(as_role, thandi):
    r = as_role("nurse").get("/console/clients?q=0821234567&go=1")
    assert r.status_code == 302 and r.headers["Location"] == f"/console/clients/{thandi.id}"


def test_name_search_treats_wildcards_as_text(as_role, thandi):
    assert f"/console/clients/{thandi.id}" not in as_role("nurse").text("/console/clients?q=%25_")


def test_the_timeline_shows_visits_reminders_and_every_sms_with_status(as_role, thandi):
    db.session.add_all([
        Message(client_id=thandi.id, direction="out", phone=thandi.phone, text="We missed you at the clinic",
                status="failed", backend="africastalking", failure_reason="DeliveryFailure", attempts=1),
        Message(client_id=thandi.id, direction="in", phone=thandi.phone, text="please call", status="received",
                backend="africastalking", provider_id="in:9"),
    ])
    db.session.commit()
    page = as_role("nurse").text(f"/console/clients/{thandi.id}")
    assert "+27821234567" in page  # her own coordinator sees the full number here
    assert "Medicine pick-up: ART refill" in page and '<span class="badge late">late</span>' in page
    assert "Immunisation: BCG for Baby" in page and '<span class="badge overdue">overdue</span>' in page
    assert "Reminder SMS" in page
    assert "We missed you at the clinic" in page and "DeliveryFailure" in page and ">Retry</button>" in page
    assert "please call" in page and '<span class="badge received">received</span>' in page


def test_record_a_pick_up(as_role, thandi, people):
    today = local_today("ZA")
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/events",
                              {"type": "art_dispensed", "date": today.isoformat(), "days_supply": "90"})
    assert r.status_code == 302
    due = db.session.scalar(select(Appointment).where(Appointment.client_id == thandi.id,
                                                      Appointment.kind == "art_refill", Appointment.status == "due"))
    assert due.due_date == today + dt.timedelta(days=90)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "art.dispensed"))
    assert entry.actor == f"user:{people['nurse'].id}"


def test_a_pick_up_with_the_booked_date_from_her_clinic_card(as_role, thandi):
    today = local_today("ZA")
    booked = today + dt.timedelta(days=84)
    nurse = as_role("nurse")
    assert 'name="next_visit"' in nurse.get(f"/console/clients/{thandi.id}").get_data(as_text=True)
    r = nurse.post(f"/console/clients/{thandi.id}/events", {"type": "art_dispensed", "date": today.isoformat(),
                                                            "days_supply": "90", "next_visit": booked.isoformat()})
    assert r.status_code == 302
    due = db.session.scalar(select(Appointment).where(Appointment.client_id == thandi.id,
                                                      Appointment.kind == "art_refill", Appointment.status == "due"))
    assert due.due_date == booked
    r = nurse.post(f"/console/clients/{thandi.id}/events", {"type": "art_dispensed", "date": today.isoformat(),
                                                            "days_supply": "90",
                                                            "next_visit": (today - dt.timedelta(days=1)).isoformat()})
    assert r.status_code == 422
    assert 'id="err-pickup-next_visit">is before the pick-up date' in r.get_data(as_text=True)


def test_a_bad_pick_up_is_refused_next_to_its_field_keeping_what_was_typed(as_role, thandi):
    future = (local_today("ZA") + dt.timedelta(days=2)).isoformat()
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/events",
                              {"type": "art_dispensed", "date": future, "days_supply": "4000"})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="err-pickup-date">must not be in the future' in page
    assert 'id="err-pickup-days_supply">must be between 7 and 365' in page
    assert f'value="{future}"' in page and 'value="4000"' in page
    assert '<details id="pickup" open>' in page


def test_record_a_dose_a_birth_and_the_end_of_breastfeeding(as_role, thandi):
    nurse = as_role("nurse")
    baby = thandi.infants[0]
    today = local_today("ZA").isoformat()
    assert nurse.post(f"/console/clients/{thandi.id}/events",
                      {"type": "dose_given", "infant_id": str(baby.id), "dose": "BCG", "date": today}).status_code == 302
    assert db.session.scalar(select(DoseGiven.dose).where(DoseGiven.infant_id == baby.id)) == "BCG"
    r = nurse.post(f"/console/clients/{thandi.id}/events",
                   {"type": "dose_given", "infant_id": str(baby.id), "dose": "Nonsense", "date": today})
    assert r.status_code == 422 and 'id="err-dose-dose"' in r.get_data(as_text=True)
    assert nurse.post(f"/console/clients/{thandi.id}/events",
                      {"type": "infant_born", "date_of_birth": today, "name": "Twin", "hiv_exposed": "false"}
                      ).status_code == 302
    assert db.session.scalar(select(Infant.hiv_exposed).where(Infant.name == "Twin")) is False
    assert nurse.post(f"/console/clients/{thandi.id}/events",
                      {"type": "breastfeeding_ended", "infant_id": str(baby.id), "date": today}).status_code == 302
    db.session.refresh(baby)
    assert baby.breastfeeding_ended_on == local_today("ZA")


def test_an_infant_of_another_client_is_refused(as_role, thandi, sites, enrol):
    neighbour = enrol(sites[0], "083 765 4321", "Neighbour", infant_days_old=10)
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/events", {
        "type": "breastfeeding_ended", "infant_id": str(neighbour.infants[0].id),
        "date": local_today("ZA").isoformat()})
    assert r.status_code == 422 and "no such infant for this client" in r.get_data(as_text=True)


def test_change_language_hour_and_phone(as_role, thandi):
    nurse = as_role("nurse")
    thandi.phone_flag = "InvalidPhoneNumber"
    db.session.commit()
    r = nurse.post(f"/console/clients/{thandi.id}/details",
                   {"name": "Thandi", "phone": "083 111 2222", "language": "pt", "reminder_hour": "17"})
    assert r.status_code == 302
    client = db.session.get(Client, thandi.id)
    assert (client.language, client.reminder_hour, client.phone, client.phone_flag) == ("pt", 17, "+27831112222",
                                                                                       None)
    changes = db.session.scalar(select(AuditEntry.changes).where(AuditEntry.action == "client.updated"))
    assert changes["language"] == ["en", "pt"] and changes["reminder_hour"] == [9, 17]
    assert "client.phone_flag_cleared" in audit_actions(thandi.id)


def test_a_bad_phone_change_is_refused_keeping_what_was_typed(as_role, thandi, sites, enrol):
    enrol(sites[0], "083 765 4321", "Neighbour")
    nurse = as_role("nurse")
    r = nurse.post(f"/console/clients/{thandi.id}/details",
                   {"name": "Thandi", "phone": "12", "language": "en", "reminder_hour": "9"})
    assert r.status_code == 422 and 'id="err-d-phone">not a valid phone number' in r.get_data(as_text=True)
    assert 'value="12"' in r.get_data(as_text=True)
    r = nurse.post(f"/console/clients/{thandi.id}/details",
                   {"name": "Thandi", "phone": "+27837654321", "language": "en", "reminder_hour": "9"})
    assert r.status_code == 409 and "already enrolled" in r.get_data(as_text=True)
    assert db.session.get(Client, thandi.id).phone == "+27821234567"


def test_the_same_number_written_another_way_changes_nothing(as_role, thandi):
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/details",
                              {"name": "Thandi", "phone": "082 123 4567", "language": "en", "reminder_hour": "9"})
    assert r.status_code == 302
    assert "client.updated" not in audit_actions(thandi.id)


def test_stop_and_restart_sms(as_role, thandi):
    nurse = as_role("nurse")
    assert nurse.post(f"/console/clients/{thandi.id}/sms", {"sms": "stop"}).status_code == 302
    client = db.session.get(Client, thandi.id)
    assert client.opted_out
    confirm = db.session.scalar(select(Message).where(Message.client_id == thandi.id).order_by(Message.id.desc()))
    assert confirm.status == "queued" and "START" in confirm.text
    assert nurse.post(f"/console/clients/{thandi.id}/sms", {"sms": "start"}).status_code == 302
    assert not db.session.get(Client, thandi.id).opted_out
    assert audit_actions(thandi.id)[-2:] == ["client.opted_out", "client.opted_in"]


def test_reset_the_ussd_pin(as_role, thandi):
    thandi.ussd_pin_hash, thandi.pin_failures = generate_password_hash("1234"), 3
    thandi.pin_locked_until = dt.datetime(2099, 1, 1)
    db.session.commit()
    assert as_role("nurse").post(f"/console/clients/{thandi.id}/pin-reset").status_code == 302
    client = db.session.get(Client, thandi.id)
    assert (client.ussd_pin_hash, client.pin_failures, client.pin_locked_until) == (None, 0, None)
    assert "client.pin_reset" in audit_actions(thandi.id)


def test_one_off_messages_come_from_templates_and_are_discreet(as_role, thandi):
    nurse = as_role("nurse")
    page = nurse.text(f"/console/clients/{thandi.id}")
    assert 'value="missed"' in page and "We missed you at the clinic (pick up your medicine" in page
    previews = page[page.index('id="message"'):page.index('id="details"')]
    assert disclosing_words(previews) == []
    r = nurse.post(f"/console/clients/{thandi.id}/message", {"template": "missed", "text": "free text is ignored"})
    assert r.status_code == 302
    message = db.session.scalar(select(Message).where(Message.client_id == thandi.id))
    assert message.text.startswith("We missed you at the clinic") and "free text" not in message.text
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "message.queued"))
    assert entry.entity_id == message.id and entry.changes == {"client_id": thandi.id, "template": "missed"}
    r = nurse.post(f"/console/clients/{thandi.id}/message", {"template": "anything I like"})
    assert r.status_code == 422 and "choose one of the messages offered" in r.get_data(as_text=True)


def test_explicit_wording_only_for_a_client_who_asked(as_role, thandi):
    thandi.explicit_wording = True
    db.session.commit()
    page = as_role("nurse").text(f"/console/clients/{thandi.id}")
    previews = page[page.index('id="message"'):page.index('id="details"')]
    assert "ARV refill" in previews


def test_no_message_to_a_client_who_stopped_sms(as_role, thandi):
    thandi.opted_out = True
    db.session.commit()
    r = as_role("nurse").post(f"/console/clients/{thandi.id}/message", {"template": "missed"})
    assert r.status_code == 422 and "restart them first" in r.get_data(as_text=True)


def test_html_in_any_field_is_escaped_everywhere(as_role, seeded):
    hostile = seeded["hostile"]
    for who in ("nurse", "admin"):
        session = as_role(who)
        for url in (f"/console/clients/{hostile.id}", "/console/", "/console/clients",
                    "/console/clients?q=Zodwa", "/console/messages"):
            page = session.text(url)
            assert "<script>alert" not in page and "<b>Zodwa</b>" not in page and "<img src=x" not in page, url
            assert "<i>clinic</i>" not in page, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;Zodwa&lt;/b&gt;" in session.text(
            f"/console/clients/{hostile.id}")


def test_a_child_enrolled_up_to_date_shows_past_doses_as_given_not_overdue(as_role, sites):
    from gateway import appointments
    from gateway.clients import enrolment

    today = local_today("ZA")
    body = {"phone": "0829998888", "consent": True, "country": "ZA", "site_id": sites[0].id, "name": "Up To Date",
            "infants": [{"date_of_birth": (today - dt.timedelta(days=120)).isoformat(), "up_to_date": True}]}
    client = enrolment.enrol(enrolment.parse_enrolment(body, "ZA"), "test")
    appointments.refresh(client)
    db.session.commit()
    page = as_role("nurse").text(f"/console/clients/{client.id}")
    assert "given before enrolment (up to date), date not recorded" in page
    assert '<span class="badge overdue">overdue</span>' not in page
