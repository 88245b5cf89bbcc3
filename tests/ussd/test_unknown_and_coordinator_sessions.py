"""Unknown numbers and coordinators through ``POST /ussd``: screens in English and Kiswahili, and what they change."""
import datetime as dt

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from gateway.core import clock
from gateway import users
from gateway.adapters.database import db
from gateway.core.phones import masked
from gateway.core.models import Appointment, AuditEntry, Client, Infant, Message, Task, User
from tests.ussd.conftest import (
    CLIENT_PHONE, COORDINATOR_PHONE, NOW, OTHER_PHONE, TODAY, UNKNOWN_PHONE, audit_actions, count, site,
)

TANZANIA_PHONE = "+255712345678"
UNKNOWN = {
    "en": ("CON Free SMS reminders of clinic visits for mothers and babies. This number is not registered.\n"
           "1. Ask to join\n2. No, thank you",
           "CON A health worker will call you to join. We will keep your phone number for this. Do you agree?\n"
           "1. Yes\n2. No",
           "END Thank you. A health worker will call you soon."),
    "sw": ("CON Vikumbusho vya bure kwa SMS vya kliniki kwa mama na mtoto. Namba hii haijasajiliwa.\n"
           "1. Omba kujiunga\n2. Hapana, asante",
           "CON Mhudumu wa afya atakupigia ili ujiunge. Tutahifadhi namba yako ya simu kwa ajili hiyo. Unakubali?\n"
           "1. Ndiyo\n2. Hapana",
           "END Asante. Mhudumu wa afya atakupigia simu hivi karibuni."),
}
COORDINATOR_MAIN = {
    "en": ("CON Coordinator menu\n1. Enrol a client\n2. Client's next visit\n3. Today's call-backs\n"
           "4. Close a file\n5. Baby's test result"),
    "sw": ("CON Menyu ya mratibu\n1. Sajili mteja\n2. Miadi ijayo ya mteja\n3. Maombi ya kupigiwa leo\n"
           "4. Funga faili\n5. Kipimo cha mtoto"),
}
LANGUAGES_EN = "CON Client's language:\n1. English\n2. Português\n3. Kiswahili\n0. Back"  # the offered ones


# ---------------------------------------------------------------- unknown numbers


@pytest.mark.parametrize("lang,phone", [("en", UNKNOWN_PHONE), ("sw", TANZANIA_PHONE)])
def test_an_unknown_number_may_ask_to_join_with_consent_recorded(at, lang, phone):
    first, consent, done = UNKNOWN[lang]
    session = at(phone)
    assert session.dial() == first
    assert len(first) == {"en": 126, "sw": 122}[lang]
    assert session.send("1") == consent
    assert session.send("1") == done
    task = db.session.scalar(select(Task))
    assert (task.kind, task.status, task.phone, task.site_id, task.client_id) == \
        ("enrolment_request", "open", phone, None, None)
    assert task.details == {"consent": True, "consent_version": "ussd-consent-1", "at": "2025-11-25T08:00:00Z",
                            "source": "ussd"}
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action) for e in entries] == [(f"ussd:{phone}", "task.created"),
                                                      (f"ussd:{phone}", "ussd.request_enrolment")]
    # Asking again while the request is open opens no second one.
    assert at(phone).play("1", "1") == done
    assert count(Task) == 1


@pytest.mark.parametrize("answers,last", [
    (("1", "2"), "END No problem. Your number was not kept."),
    (("2",), "END Thank you. Goodbye."),
])
def test_an_unknown_number_that_declines_leaves_nothing(at, answers, last):
    assert at(UNKNOWN_PHONE).play(*answers) == last
    assert count(Task) == 0 and count(AuditEntry) == 0


def test_an_unknown_number_sees_nothing_of_anyone(at, make_client):
    make_client(name="Thandi", art={"last_dispensed": "2025-11-01", "days_supply": 30})
    session = at(UNKNOWN_PHONE)
    screens = [session.dial()] + [at(UNKNOWN_PHONE).play(choice) for choice in ("3", "4", "5", "9", CLIENT_PHONE)]
    for screen in screens:
        assert "Thandi" not in screen and "Dec" not in screen and "+2782" not in screen
        assert screen.startswith(("CON Free SMS reminders", "CON Invalid choice.\nFree SMS reminders"))


# ---------------------------------------------------------------- coordinators


def _coordinator_session(at, phone=COORDINATOR_PHONE, pin="2468"):
    session = at(phone)
    assert session.dial() in ("CON Enter your 4-digit PIN:", "CON Weka PIN yako ya tarakimu 4:")
    session.send(pin)
    return session


def test_a_coordinator_enrols_a_pregnant_client(at, make_coordinator):
    user = make_coordinator()
    session = at(COORDINATOR_PHONE)
    assert session.dial() == "CON Enter your 4-digit PIN:"
    assert session.send("2468") == COORDINATOR_MAIN["en"]
    assert session.send("1") == "CON Client's phone number:\n0. Back"
    assert session.send("082 123") == "CON Invalid phone number.\nClient's phone number:\n0. Back"
    assert session.send("082 123 4567") == "CON Has the client agreed to get SMS reminders?\n1. Yes\n2. No"
    assert session.send("1") == "CON Programme:\n1. Pregnant\n2. Mother with baby\n3. ART only\n0. Back"
    assert session.send("1") == "CON Expected delivery date (DDMMYYYY):\n0. Back"
    assert session.send("24112025") == "CON That date has passed.\nExpected delivery date (DDMMYYYY):\n0. Back"
    assert session.send("01062026") == "CON Client's HIV status:\n1. Positive\n2. Negative\n3. Unknown\n0. Back"
    assert session.send("2") == LANGUAGES_EN
    confirm = session.send("1")
    assert confirm == "CON Enrol +27821234567?\nPregnant: Mon 1 Jun 2026\nLanguage: English\n1. Yes\n2. No\n" \
        "3. Yes, no SMS now"
    assert len(confirm) == 98
    assert session.send("1") == "END Enrolled +27821234567. The client will get reminders by SMS."
    client = db.session.scalar(select(Client))
    assert (client.phone, client.programme, client.expected_delivery_date, client.language, client.country) == \
        (CLIENT_PHONE, "pregnant", dt.date(2026, 6, 1), "en", "ZA")
    assert client.hiv_status == "negative"
    assert client.site_id == user.sites[0].id and client.consent_at == NOW
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.in_(["client.enrolled", "ussd.enrol_client"]))
                                 .order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor) for e in entries] == [("client.enrolled", f"ussd:user:{user.id}"),
                                                      ("ussd.enrol_client", f"ussd:user:{user.id}")]
    # Her welcome SMS waits for the next pass (10:00 local: inside her send window).
    welcome = db.session.scalar(select(Message).where(Message.client_id == client.id))
    assert (welcome.kind, welcome.status, welcome.next_attempt_at) == ("welcome", "queued", NOW)
    assert "*384*123#" in welcome.text and "STOP" in welcome.text


def test_a_coordinator_enrols_a_mother_with_her_baby(at, make_coordinator):
    make_coordinator()
    session = _coordinator_session(at)
    session.play("1", "0831234567", "1")
    assert session.send("2") == "CON Baby's date of birth (DDMMYYYY):\n0. Back"
    session.send("01102025")
    session.send("1")  # positive
    assert session.send("3") == \
        "CON Enrol +27831234567?\nMother with baby: Wed 1 Oct 2025\nLanguage: Kiswahili\n1. Yes\n2. No\n" \
        "3. Yes, no SMS now"
    assert session.send("1") == "END Enrolled +27831234567. The client will get reminders by SMS."
    client = db.session.scalar(select(Client))
    infant = db.session.scalar(select(Infant))
    assert (client.programme, client.language, client.hiv_status) == ("mother", "sw", "positive")
    assert (infant.client_id, infant.date_of_birth, infant.hiv_exposed) == (client.id, dt.date(2025, 10, 1), True)
    assert count(Appointment, Appointment.infant_id == infant.id) > 5


@pytest.mark.parametrize("typed,pickup", [("01122025", dt.date(2025, 12, 1)), ("23022026", dt.date(2026, 2, 23))])
def test_a_coordinator_enrols_a_client_on_art_only(at, make_coordinator, typed, pickup):
    make_coordinator()
    session = _coordinator_session(at)
    session.play("1", "0841234567", "1")
    assert session.send("3") == "CON Next medicine pick-up date (DDMMYYYY):\n0. Back"
    session.send(typed)
    session.send("2")
    assert session.send("1") == "END Enrolled +27841234567. The client will get reminders by SMS."
    client = db.session.scalar(select(Client))
    assert client.programme == "art" and client.language == "pt" and client.hiv_status == "positive"
    refill = db.session.scalar(select(Appointment).where(Appointment.kind == "art_refill"))
    assert (refill.status, refill.due_date) == ("due", pickup)
    assert client.art_last_dispensed <= TODAY


def test_a_coordinator_enrols_a_shared_phone_without_the_welcome_sms(at, make_coordinator):
    make_coordinator()
    session = _coordinator_session(at)
    session.play("1", "0841234567", "1")  # she agreed
    session.send("3")  # on ART
    session.send("01122025")
    session.send("1")  # English
    assert session.send("3") == "END Enrolled +27841234567. No welcome SMS now (shared phone); reminders will follow."
    client = db.session.scalar(select(Client))
    assert client.phone == "+27841234567"
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.kind == "welcome")) == 0
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.enrolled"))
    assert entry.changes["welcome_sms"] is False


def test_a_coordinator_in_kiswahili_enrols_and_is_told_when_the_number_is_enrolled_already(at, make_coordinator):
    site("Dar", "TZ", "Africa/Dar_es_Salaam")
    make_coordinator(phone="+255712345679", sites=("Dar",))
    session = _coordinator_session(at, "+255712345679")
    assert session.screens[-1] == COORDINATOR_MAIN["sw"]
    assert session.send("1") == "CON Namba ya simu ya mteja:\n0. Rudi"
    session.send("0712345670")
    assert session.send("1") == "CON Mpango:\n1. Mjamzito\n2. Mama mwenye mtoto\n3. ARV pekee\n0. Rudi"
    assert session.send("3") == "CON Tarehe ya kuchukua dawa tena (DDMMYYYY):\n0. Rudi"
    session.send("01122025")
    assert session.send("3") == \
        "CON Msajili +255712345670?\nARV pekee: Jumatatu 1 Des 2025\nLugha: Kiswahili\n1. Ndiyo\n2. Hapana\n" \
        "3. Ndiyo, bila SMS sasa"
    assert session.send("1") == "END +255712345670 amesajiliwa. Mteja atapokea vikumbusho kwa SMS."
    client = db.session.scalar(select(Client))
    assert (client.country, client.site.name) == ("TZ", "Dar")

    again = _coordinator_session(at, "+255712345679")
    assert again.play("1", "0712345670", "1", "1", "01062026", "3", "3", "1") == "END +255712345670 tayari amesajiliwa."
    assert count(Client) == 1 and audit_actions("client.enrolled") == ["client.enrolled"]


def test_enrolling_a_number_already_enrolled_at_her_site_says_so(at, make_coordinator, make_client):
    make_client(phone=OTHER_PHONE)
    make_coordinator()
    session = _coordinator_session(at)
    assert session.play("1", "0831234567", "1", "1", "01062026", "3", "1", "1") == "END +27831234567 is already enrolled."
    assert count(Client) == 1 and count(AuditEntry, AuditEntry.action == "ussd.enrol_client") == 0


def test_enrolling_a_number_enrolled_at_another_site_goes_to_the_admin(at, make_coordinator, make_client):
    """She is not told the number is enrolled elsewhere (she could test any number): the admin decides."""
    elsewhere = make_client(phone=OTHER_PHONE, site_name="Elsewhere")
    make_coordinator()
    session = _coordinator_session(at)
    assert session.play("1", "0831234567", "1", "1", "01062026", "1", "1", "1") == \
        "END +27831234567: sent to the programme admin for approval."
    task = db.session.scalar(select(Task).where(Task.kind == "transfer_request"))
    assert task.client_id == elsewhere.id and task.details["to_site_id"] == site("Khayelitsha").id
    assert count(Client) == 1 and count(AuditEntry, AuditEntry.action == "ussd.enrol_client") == 0
    again = _coordinator_session(at)  # asking again hands on nothing twice
    assert again.play("1", "0831234567", "1", "1", "01062026", "1", "1", "1").endswith("sent to the programme admin for approval.")
    assert count(Task, Task.kind == "transfer_request") == 1


def test_a_coordinator_answering_no_enrols_no_one(at, make_coordinator):
    make_coordinator()
    session = _coordinator_session(at)
    assert session.play("1", "0821234567", "1", "1", "01062026", "3", "1", "2") == COORDINATOR_MAIN["en"]
    assert count(Client) == 0


def test_a_coordinator_looks_up_only_her_own_sites_clients(at, make_coordinator, make_client):
    make_client(art={"last_dispensed": "2025-11-01", "days_supply": 30}, infants=[{"date_of_birth": "2025-10-01"}])
    make_client(phone=OTHER_PHONE, site_name="Elsewhere", art={"last_dispensed": "2025-11-01", "days_supply": 30})
    make_coordinator()
    session = _coordinator_session(at)
    assert session.send("2") == "CON Client's phone number:\n0. Back"
    first = session.send("0821234567")
    # Behind her PIN, a coordinator sees the schedule's own names.
    assert first == ("CON Next visits for +27821234567:\nWed 12 Nov: Hexa1, OPV1, PCV1, RV1\nMon 1 Dec: ART refill\n"
                     "Wed 10 Dec: Hexa2, PCR 10 weeks\n98. More")
    assert len(first) == 131
    assert session.send("98").startswith("END Next visits for +27821234567:\nWed 7 Jan: Hexa3")
    other = _coordinator_session(at)
    assert other.play("2", OTHER_PHONE) == "END No client with this number at your sites."
    assert _coordinator_session(at).play("2", UNKNOWN_PHONE) == "END No client with this number at your sites."


def test_a_coordinator_looks_up_in_kiswahili(at, make_coordinator, make_client):
    site("Dar", "TZ", "Africa/Dar_es_Salaam")
    make_client(phone="+255712345670", site_name="Dar", country="TZ")
    make_coordinator(phone="+255712345679", sites=("Dar",))
    session = _coordinator_session(at, "+255712345679")
    assert session.play("2", "0712345670") == "END Mteja huyu hana miadi sasa."
    assert _coordinator_session(at, "+255712345679").play("2", CLIENT_PHONE) == \
        "END Hakuna mteja mwenye namba hii katika vituo vyako."


def test_a_coordinator_sees_todays_call_backs_at_her_sites(at, make_coordinator, make_client):
    make_client(name="Thandi")
    make_client(phone=OTHER_PHONE, site_name="Elsewhere", name="Lindiwe")
    make_client(phone="+27791234567", name="Zodwa")
    with clock.frozen(NOW - dt.timedelta(days=1)):  # yesterday's request is not today's
        at("+27791234567").play("5", "1")
    at(CLIENT_PHONE).play("5", "1")
    at(OTHER_PHONE).play("5", "1")
    make_coordinator()
    screen = _coordinator_session(at).play("3")
    assert screen == "END Call-backs today:\n+278******67 10:00 Thandi"
    assert len(screen) == 47
    assert count(Task, Task.kind == "callback") == 3


def test_each_sites_own_today_is_read_oldest_first_and_at_most_a_screenful_of_pages(app, make_coordinator):
    """An admin across zones: a request counts as today's by its site's local date, and the list is bounded."""
    from gateway.ussd.context import MAX_CALLBACK_LINES, list_callbacks

    cape, dar = site(), site("Dar", "TZ", "Africa/Dar_es_Salaam")  # UTC+2 and UTC+3: local midnight 22:00, 21:00 UTC
    yesterday_evening = dt.datetime(2025, 11, 24, 21, 30)  # 23:30 in Johannesburg (yesterday), 00:30 in Dar (today)
    for at_site, phone in ((cape, "+27791230001"), (dar, "+255712300001")):
        db.session.add(Task(kind="callback", status="open", site_id=at_site.id, phone=phone,
                            created_at=yesterday_evening))
    for i in range(MAX_CALLBACK_LINES + 5):
        db.session.add(Task(kind="callback", status="open", site_id=cape.id, phone=f"+2779200{i:04d}",
                            created_at=NOW - dt.timedelta(minutes=i)))
    db.session.add(Task(kind="callback", status="done", site_id=dar.id, phone="+255712300002", created_at=NOW))
    db.session.commit()
    admin = make_coordinator(role="admin")
    with clock.frozen(NOW):
        lines = list_callbacks(admin)
    # Dar's request first (00:30 there, today); Johannesburg's of 23:30 yesterday is not listed; then the
    # oldest of today's at the Cape (08:56 local), up to the bound: the newest five are left to the console.
    oldest = MAX_CALLBACK_LINES + 4
    assert lines[0] == f"{masked('+255712300001')} 00:30"
    assert lines[1] == f"{masked(f'+2779200{oldest:04d}')} 08:56"
    assert lines[-1] == f"{masked(f'+2779200{oldest - (MAX_CALLBACK_LINES - 2):04d}')} 09:54"
    assert len(lines) == MAX_CALLBACK_LINES and not any(line.endswith("23:30") for line in lines)


def test_no_call_backs_in_kiswahili(at, make_coordinator):
    site("Dar", "TZ", "Africa/Dar_es_Salaam")
    make_coordinator(phone="+255712345679", sites=("Dar",))
    assert _coordinator_session(at, "+255712345679").play("3") == "END Hakuna maombi ya kupigiwa leo."


def test_three_wrong_coordinator_pins_lock_her_menu_for_30_minutes(at, make_coordinator):
    user = make_coordinator()
    session = at(COORDINATOR_PHONE)
    session.dial()
    assert session.send("1111") == "CON Wrong PIN.\nEnter your 4-digit PIN:"
    session.send("1111")
    assert session.send("1111") == "END Too many wrong PINs. Please try again in 30 minutes."
    assert at(COORDINATOR_PHONE).dial() == "END Too many wrong PINs. Please try again in 30 minutes."
    assert audit_actions("user.pin_locked") == ["user.pin_locked"]
    with clock.frozen(NOW + dt.timedelta(minutes=31)):
        assert _coordinator_session(at).screens[-1] == COORDINATOR_MAIN["en"]
    assert user.id


def test_a_coordinator_pin_kept_the_slow_way_is_rehashed_at_its_next_correct_entry(at, make_coordinator):
    user = make_coordinator()
    user.ussd_pin_hash = generate_password_hash("2468")  # werkzeug's default (scrypt), as PINs were first kept
    db.session.commit()
    at(COORDINATOR_PHONE).play("1111")  # a wrong PIN changes nothing of the hash
    db.session.expire_all()
    assert db.session.get(User, user.id).ussd_pin_hash.startswith("scrypt:")
    assert _coordinator_session(at).screens[-1] == COORDINATOR_MAIN["en"]
    db.session.expire_all()
    kept = db.session.get(User, user.id).ussd_pin_hash
    assert kept.startswith(users.PIN_HASH_METHOD + "$") and check_password_hash(kept, "2468")
    assert audit_actions("user.pin_rehashed") == ["user.pin_rehashed"]
    assert _coordinator_session(at).screens[-1] == COORDINATOR_MAIN["en"]  # and the new hash lets her in
    assert audit_actions("user.pin_rehashed") == ["user.pin_rehashed"]


def test_a_coordinator_without_a_pin_is_told_to_ask_for_one(at, make_coordinator):
    make_coordinator(pin=None)
    assert at(COORDINATOR_PHONE).dial() == "END This menu needs a PIN. Please ask your administrator to set one."


def test_a_coordinator_who_is_also_a_client_gets_the_coordinator_menu(at, make_coordinator, make_client):
    make_client(phone=COORDINATOR_PHONE)
    make_coordinator()
    assert at(COORDINATOR_PHONE).dial() == "CON Enter your 4-digit PIN:"
