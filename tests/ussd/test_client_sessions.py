"""An enrolled client's whole sessions through ``POST /ussd``, screen by screen, in English and Kiswahili."""
import datetime as dt

import pytest
from sqlalchemy import select

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Appointment, AuditEntry, Infant, Message, Reminder, Task
from tests.ussd.conftest import CLIENT_PHONE, NOW, TODAY, audit_actions, count, fresh

MAIN = {
    "en": ("CON Clinic reminders\n1. My next visit\n2. I collected medicine\n3. My baby\n"
           "4. My settings\n5. Ask for a call back"),
    "sw": ("CON Vikumbusho vya kliniki\n1. Miadi yangu ijayo\n2. Nimechukua dawa\n3. Mtoto wangu\n"
           "4. Mipangilio yangu\n5. Omba kupigiwa simu"),
}
SETTINGS = {
    "en": "CON My settings\n1. Language\n2. Reminder time\n3. Stop SMS\n4. Set a PIN\n0. Back",
    "sw": "CON Mipangilio yangu\n1. Lugha\n2. Muda wa vikumbusho\n3. Sitisha SMS\n4. Weka PIN\n0. Rudi",
}
BABY_PROMPT = {
    "en": "Your baby's date of birth as DDMMYYYY, e.g. 05032025:\n0. Back",
    "sw": "Tarehe ya kuzaliwa ya mtoto kwa DDMMYYYY, mfano 05032025:\n0. Rudi",
}
CARD = {
    "en": "CON Did the clinic write the date of your next visit on your card?\n1. Yes, type the date\n"
          "2. No date, skip\n0. Back",
    "sw": "CON Je, kliniki iliandika tarehe ya miadi yako ijayo kwenye kadi?\n1. Ndiyo, andika tarehe\n"
          "2. Hakuna tarehe, ruka\n0. Rudi",
}
ART = {"last_dispensed": "2025-11-01", "days_supply": 30}  # next pick-up Mon 1 Dec 2025


@pytest.fixture
def client_en(make_client):
    return make_client(language="en", art=ART)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_the_first_screen_lists_the_five_choices_in_her_language(at, make_client, lang):
    make_client(language=lang)
    screen = at(CLIENT_PHONE).dial()
    assert screen == MAIN[lang]
    assert len(screen) == {"en": 110, "sw": 123}[lang]


def test_next_visit_shows_dates_and_discreet_labels_in_english(at, make_client):
    make_client(language="en", art=ART, infants=[{"date_of_birth": "2025-10-01"}])
    session = at(CLIENT_PHONE)
    session.dial()
    # Upcoming visits first, soonest first; then what was missed (the birth visit of 1 Oct and the 6-week
    # visit of 12 Nov), one line from the oldest, said plainly.
    first = session.send("1")
    assert first == ("CON Your next visits:\nMon 1 Dec: pick up your medicine\nWed 10 Dec: your child's clinic visit\n"
                     "Wed 7 Jan: your child's clinic visit\n98. More")
    screens = [first]
    while screens[-1].startswith("CON"):
        screens.append(session.send("98"))
    last = screens[-1]
    assert last.endswith("Overdue since Wed 1 Oct: your child's clinic visit")
    assert sum("Overdue since" in s for s in screens) == 1  # one line for the missed visit, however many doses
    for screen in screens:  # a shared phone: nothing names the illness or its tests
        assert not any(word in screen for word in ("HIV", "PCR", "ART", "ARV"))


def test_next_visit_in_kiswahili(at, make_client):
    make_client(language="sw", art=ART)
    session = at(CLIENT_PHONE)
    assert session.dial() == MAIN["sw"]
    screen = session.send("1")
    assert screen == "END Miadi yako ijayo:\nJumatatu 1 Des: kuchukua dawa zako"
    assert len(screen) == 56


def test_next_visit_with_nothing_due(at, make_client):
    make_client(language="en")
    assert at(CLIENT_PHONE).play("1") == \
        "END No visits are due now. We will send you an SMS before your next visit."


def test_next_visit_asks_for_her_pin_first_when_she_has_one(at, make_client):
    make_client(language="en", art=ART, pin="1357")
    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("1") == "CON Enter your 4-digit PIN:\n0. Back"
    assert session.send("1357") == "END Your next visits:\nMon 1 Dec: pick up your medicine"


@pytest.mark.parametrize("months,label,next_pickup", [
    ("1", "1 month", "Thu 25 Dec"), ("2", "2 months", "Sat 24 Jan"),
    ("3", "3 months", "Mon 23 Feb"), ("6", "6 months", "Sun 24 May"),
])
def test_collected_medicine_records_the_pickup_and_moves_the_next_refill(at, client_en, months, label, next_pickup):
    session = at(CLIENT_PHONE)
    assert session.dial() == MAIN["en"]
    assert session.send("2") == ("CON How many months of medicine did you get today?\n1. 1 month\n2. 2 months\n"
                                 "3. 3 months\n6. 6 months\n0. Back")
    assert session.send(months) == CARD["en"]
    assert session.send("2") == f"CON You got {label} of medicine today. Is that right?\n1. Yes\n2. No"
    done = session.send("1")
    assert done == f"END Thank you. Your next pick-up is on {next_pickup}. We will remind you by SMS."
    assert len(done) == 77
    client = fresh(client_en)
    days = 30 * int(months)
    assert (client.art_last_dispensed, client.art_days_supply) == (TODAY, days)
    refills = db.session.scalars(select(Appointment).where(Appointment.client_id == client.id,
                                                           Appointment.kind == "art_refill")
                                 .order_by(Appointment.id)).all()
    assert [(a.status, a.due_date) for a in refills] == [("done", dt.date(2025, 12, 1)),
                                                         ("due", TODAY + dt.timedelta(days=days))]
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.in_(["art.dispensed", "ussd.record_pickup"]))
                                 .order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor) for e in entries] == [("art.dispensed", f"ussd:client:{client.id}"),
                                                      ("ussd.record_pickup", f"ussd:client:{client.id}")]
    assert entries[1].changes == {"session": session.session_id, "step": len(session.text)}


def test_collected_medicine_with_the_date_on_her_clinic_card_books_the_refill_then(at, client_en):
    session = at(CLIENT_PHONE)
    session.play("2", "3")
    assert session.send("1") == "CON Date on your clinic card (DDMMYYYY), e.g. 13112026:\n0. Back"
    # Before today, or more than a year ahead: refused, asked again, nothing recorded.
    assert session.send("01012025").startswith("CON ")
    assert session.send("01012030").startswith("CON ")
    assert count(AuditEntry, AuditEntry.action == "art.dispensed") == 0
    assert session.send("20022026") == ("CON You got 3 months of medicine today. Next visit: Fri 20 Feb 2026. "
                                        "Is that right?\n1. Yes\n2. No")
    done = session.send("1")
    assert done == "END Thank you. Your next pick-up is on Fri 20 Feb 2026. We will remind you by SMS."
    client = fresh(client_en)
    assert (client.art_last_dispensed, client.art_days_supply, client.art_next_visit) == (
        TODAY, 90, dt.date(2026, 2, 20))
    due = db.session.scalars(select(Appointment.due_date).where(
        Appointment.client_id == client.id, Appointment.kind == "art_refill", Appointment.status == "due")).all()
    assert due == [dt.date(2026, 2, 20)]  # the booked date, not today + 90 days (23 Feb)
    assert count(AuditEntry, AuditEntry.action == "ussd.record_pickup_booked") == 1


def test_collected_medicine_in_kiswahili(at, make_client):
    client = make_client(language="sw", art=ART)
    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("2") == ("CON Umepewa dawa za miezi mingapi leo?\n1. mwezi 1\n2. miezi 2\n3. miezi 3\n"
                                 "6. miezi 6\n0. Rudi")
    assert session.send("6") == CARD["sw"]
    assert session.send("2") == "CON Umepewa dawa za miezi 6 leo. Ni sahihi?\n1. Ndiyo\n2. Hapana"
    done = session.send("1")
    assert done == "END Asante. Utachukua dawa tena siku ya Jumapili 24 Mei. Tutakukumbusha kwa SMS."
    assert len(done) == 80
    assert fresh(client).art_days_supply == 180


def test_collected_medicine_refuses_what_is_not_offered_and_asks_again(at, client_en):
    session = at(CLIENT_PHONE)
    session.play("2")
    for wrong in ("4", "", "abc", "😀", "9" * 300, "1*2"):
        assert session.send(wrong) == ("CON Invalid choice.\nHow many months of medicine did you get today?\n"
                                       "1. 1 month\n2. 2 months\n3. 3 months\n6. 6 months\n0. Back")
    assert session.send("2") == CARD["en"]
    assert session.send("2").startswith("CON You got 2 months")
    assert session.send("2").startswith("CON How many months")  # "No": ask again
    assert session.send("0") == MAIN["en"]
    assert fresh(client_en).art_days_supply == 30 and count(AuditEntry, AuditEntry.action == "art.dispensed") == 0


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_register_baby_refuses_impossible_dates_then_registers_an_exposed_infant(at, make_client, lang):
    client = make_client(language=lang, hiv_status="positive")  # her baby is exposed exactly when she is positive
    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("3").startswith("CON " + {"en": "My baby\n1. Register", "sw": "Mtoto wangu\n1. Sajili"}[lang])
    assert session.send("1") == "CON " + BABY_PROMPT[lang]
    reasons = {
        "en": {"31022025": "Invalid date. Use DDMMYYYY.", "26112025": "That date is in the future.",
               "24112020": "That date is more than 5 years ago.", "2025-10-01": "Invalid date. Use DDMMYYYY.",
               "": "Invalid date. Use DDMMYYYY.", "😀": "Invalid date. Use DDMMYYYY."},
        "sw": {"31022025": "Tarehe si sahihi. Tumia DDMMYYYY.", "26112025": "Tarehe hiyo bado haijafika.",
               "24112020": "Tarehe hiyo ni zaidi ya miaka 5 iliyopita.", "2025-10-01": "Tarehe si sahihi. Tumia DDMMYYYY.",
               "": "Tarehe si sahihi. Tumia DDMMYYYY.", "😀": "Tarehe si sahihi. Tumia DDMMYYYY."},
    }[lang]
    for typed, reason in reasons.items():
        assert session.send(typed) == f"CON {reason}\n{BABY_PROMPT[lang]}"
    assert count(Infant) == 0
    confirm = session.send("01102025")
    assert confirm == {
        "en": "CON Your baby was born on Wed 1 Oct 2025. Is that right?\n1. Yes\n2. No",
        "sw": "CON Mtoto wako alizaliwa Jumatano 1 Okt 2025. Ni sahihi?\n1. Ndiyo\n2. Hapana",
    }[lang]
    done = session.send("1")
    assert done == {"en": "END Thank you. We will remind you of your child's clinic visits by SMS.",
                    "sw": "END Asante. Tutakukumbusha kliniki za mtoto wako kwa SMS."}[lang]
    infant = db.session.scalar(select(Infant))
    assert (infant.client_id, infant.date_of_birth, infant.hiv_exposed) == (client.id, dt.date(2025, 10, 1), True)
    assert fresh(client).programme == "mother"
    assert count(Appointment, Appointment.infant_id == infant.id) > 5  # tests and immunisations scheduled
    assert audit_actions("infant.registered", "ussd.register_baby") == ["infant.registered", "ussd.register_baby"]


def test_a_five_year_old_is_the_oldest_baby(at, make_client):
    make_client(language="en")
    session = at(CLIENT_PHONE)
    session.play("3", "1")
    assert session.send("25112020").startswith("CON Your baby was born on Wed 25 Nov 2020.")


@pytest.mark.parametrize("lang,choice,code,done", [
    ("en", "3", "sw", "END Tayari. Lugha yako sasa ni Kiswahili."),
    ("sw", "2", "pt", "END Feito. A sua língua agora é Português."),
    ("sw", "1", "en", "END Done. Your language is now English."),
])
def test_settings_language_changes_her_language_for_the_next_session(at, make_client, lang, choice, code, done):
    client = make_client(language=lang)
    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("4") == SETTINGS[lang]
    assert session.send("1") == {
        # Only complete languages are offered (tests/ussd/test_offered_languages.py).
        "en": "CON Choose your language:\n1. English\n2. Português\n3. Kiswahili\n0. Back",
        "sw": "CON Chagua lugha yako:\n1. English\n2. Português\n3. Kiswahili\n0. Rudi",
    }[lang]
    assert session.send(choice) == done  # shown in the language just chosen
    assert fresh(client).language == code
    assert audit_actions("client.updated", "ussd.set_language") == ["client.updated", "ussd.set_language"]
    if code in MAIN:
        assert at(CLIENT_PHONE).dial() == MAIN[code]


@pytest.mark.parametrize("choice,hour,done", [
    ("1", 8, "END Done. Reminder time: Morning."), ("2", 12, "END Done. Reminder time: Midday."),
    ("3", 17, "END Done. Reminder time: Evening."),
])
def test_settings_reminder_time_moves_her_reminders(at, client_en, choice, hour, done):
    session = at(CLIENT_PHONE)
    session.play("4")
    assert session.send("2") == "CON When should reminders come?\n1. Morning\n2. Midday\n3. Evening\n0. Back"
    assert session.send(choice) == done
    client = fresh(client_en)
    assert client.reminder_hour == hour
    live = db.session.scalars(select(Reminder).where(Reminder.client_id == client.id,
                                                     Reminder.status == "scheduled")).all()
    assert live and {r.send_at.hour for r in live} == {hour - 2}  # Johannesburg is UTC+2


def test_settings_reminder_time_in_kiswahili(at, make_client):
    client = make_client(language="sw", art=ART)
    session = at(CLIENT_PHONE)
    session.play("4")
    assert session.send("2") == "CON Vikumbusho vije saa ngapi?\n1. Asubuhi\n2. Mchana\n3. Jioni\n0. Rudi"
    assert session.send("3") == "END Tayari. Muda wa vikumbusho: Jioni."
    assert fresh(client).reminder_hour == 17


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_stop_sms_then_restart_sms(at, make_client, lang):
    client = make_client(language=lang, art=ART)
    texts = {
        "en": ("CON Stop all SMS reminders? You can restart them in My settings.\n1. Yes\n2. No",
               "END You will get no more SMS reminders. You can restart them in My settings.",
               "CON My settings\n1. Language\n2. Reminder time\n3. Restart SMS\n4. Set a PIN\n0. Back",
               "END Your SMS reminders are on again."),
        "sw": ("CON Sitisha vikumbusho vyote vya SMS? Unaweza kuvianzisha tena kwenye Mipangilio yangu.\n"
               "1. Ndiyo\n2. Hapana",
               "END Hutapokea vikumbusho vya SMS tena. Unaweza kuvianzisha tena kwenye Mipangilio yangu.",
               "CON Mipangilio yangu\n1. Lugha\n2. Muda wa vikumbusho\n3. Anzisha SMS tena\n4. Weka PIN\n0. Rudi",
               "END Vikumbusho vyako vya SMS vimerudi."),
    }[lang]
    session = at(CLIENT_PHONE)
    session.play("4")
    assert session.send("3") == texts[0]
    assert session.send("1") == texts[1]
    client = fresh(client)
    assert client.opted_out and client.opted_out_at == NOW
    assert count(Reminder, Reminder.client_id == client.id, Reminder.status == "scheduled") == 0
    assert count(Message, Message.client_id == client.id, Message.status == "queued") == 1  # the one confirmation

    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("4") == texts[2]
    assert session.send("3") == texts[3]
    client = fresh(client)
    assert not client.opted_out
    assert count(Reminder, Reminder.client_id == client.id, Reminder.status == "scheduled") > 0
    assert count(Message, Message.client_id == client.id, Message.status == "queued") == 2
    assert audit_actions("client.opted_out", "client.opted_in") == ["client.opted_out", "client.opted_in"]


def test_stop_sms_answered_no_goes_back_to_settings(at, client_en):
    session = at(CLIENT_PHONE)
    session.play("4", "3")
    assert session.send("2") == SETTINGS["en"]
    assert not fresh(client_en).opted_out


def test_set_a_pin_typed_twice_then_change_it_with_the_old_one(at, client_en):
    session = at(CLIENT_PHONE)
    session.play("4")
    assert session.send("4") == "CON Choose a 4-digit PIN. You will need it to see your visits:\n0. Back"
    assert session.send("12a4") == ("CON A PIN is 4 digits.\nChoose a 4-digit PIN. You will need it to see your "
                                    "visits:\n0. Back")
    assert session.send("1357") == "CON Enter the same PIN again:\n0. Back"
    assert session.send("1358") == "CON The PINs do not match.\nEnter the same PIN again:\n0. Back"
    assert session.send("1357") == "END Your PIN is saved. Keep it secret."
    client = fresh(client_en)
    assert client.ussd_pin_hash and "1357" not in client.ussd_pin_hash
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.pin_set"))
    assert entry.changes == {"had_pin": False} and "1357" not in str(entry.changes)

    # Changing it needs the current PIN first.
    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("4") == "CON My settings\n1. Language\n2. Reminder time\n3. Stop SMS\n4. Change my PIN\n0. Back"
    assert session.send("4") == "CON Enter your 4-digit PIN:\n0. Back"
    assert session.send("1357") == "CON Choose a 4-digit PIN. You will need it to see your visits:\n0. Back"
    session.send("2468")
    assert session.send("2468") == "END Your PIN is saved. Keep it secret."
    assert at(CLIENT_PHONE).play("1", "1357") == "CON Wrong PIN.\nEnter your 4-digit PIN:\n0. Back"
    assert at(CLIENT_PHONE).play("1", "2468").startswith("END Your next visits:")


def test_set_a_pin_in_kiswahili(at, make_client):
    make_client(language="sw")
    session = at(CLIENT_PHONE)
    session.play("4")
    assert session.send("4") == "CON Chagua PIN ya tarakimu 4. Utaihitaji kuona miadi yako:\n0. Rudi"
    assert session.send("1357") == "CON Weka PIN hiyo hiyo tena:\n0. Rudi"
    assert session.send("1357") == "END PIN yako imehifadhiwa. Usimwambie mtu yeyote."


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_call_back_opens_one_request_for_her_site(at, make_client, lang):
    client = make_client(language=lang)
    confirm, done = {
        "en": ("CON Ask a health worker to call you back?\n1. Yes\n2. No",
               "END Thank you. A health worker will call you soon."),
        "sw": ("CON Ungependa mhudumu wa afya akupigie simu?\n1. Ndiyo\n2. Hapana",
               "END Asante. Mhudumu wa afya atakupigia simu hivi karibuni."),
    }[lang]
    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("5") == confirm
    assert session.send("1") == done
    task = db.session.scalar(select(Task))
    assert (task.kind, task.status, task.client_id, task.site_id, task.phone) == \
        ("callback", "open", client.id, client.site_id, CLIENT_PHONE)
    # Asked again while that one is open: the same thanks, no second request.
    assert at(CLIENT_PHONE).play("5", "1") == done
    assert count(Task) == 1
    assert audit_actions("task.created", "ussd.request_callback") == \
        ["task.created", "ussd.request_callback", "ussd.request_callback"]


def test_call_back_answered_no_changes_nothing(at, client_en):
    session = at(CLIENT_PHONE)
    session.play("5")
    assert session.send("2") == MAIN["en"]
    assert count(Task) == 0


def test_three_wrong_pins_lock_what_the_pin_protects_for_30_minutes(at, make_client):
    client = make_client(language="en", art=ART, pin="1357")
    session = at(CLIENT_PHONE)
    session.play("1")
    assert session.send("12") == "CON A PIN is 4 digits.\nEnter your 4-digit PIN:\n0. Back"  # a slip: not counted
    assert session.send("0000") == "CON Wrong PIN.\nEnter your 4-digit PIN:\n0. Back"
    assert session.send("1111") == "CON Wrong PIN.\nEnter your 4-digit PIN:\n0. Back"
    assert session.send("2222") == "END Too many wrong PINs. Please try again in 30 minutes."
    client = fresh(client)
    assert (client.pin_failures, client.pin_locked_until) == (3, NOW + dt.timedelta(minutes=30))
    assert audit_actions("client.pin_locked") == ["client.pin_locked"]

    # Locked: a protected choice ends at once, even before a PIN is typed; the rest still works.
    for choice in ("1", "2", "3"):
        assert at(CLIENT_PHONE).play(choice) == "END Too many wrong PINs. Please try again in 30 minutes."
    assert at(CLIENT_PHONE).play("5") == "CON Ask a health worker to call you back?\n1. Yes\n2. No"

    with clock.frozen(NOW + dt.timedelta(minutes=31)):
        assert at(CLIENT_PHONE).play("1", "1357") == "END Your next visits:\nMon 1 Dec: pick up your medicine"
    client = fresh(client)
    assert (client.pin_failures, client.pin_locked_until) == (0, None)


def test_a_locked_pin_in_kiswahili(at, make_client):
    make_client(language="sw", pin="1357")
    session = at(CLIENT_PHONE)
    session.play("2")
    assert session.send("0000") == "CON PIN si sahihi.\nWeka PIN yako ya tarakimu 4:\n0. Rudi"
    session.send("0000")
    assert session.send("0000") == "END Umekosea PIN mara nyingi. Jaribu tena baada ya dakika 30."


def test_back_from_the_pin_screen_returns_to_the_menu(at, make_client):
    make_client(language="en", pin="1357")
    session = at(CLIENT_PHONE)
    session.play("3")
    assert session.send("0") == MAIN["en"]
