"""The coordinator's menu (behind her PIN) and the short screen for unknown numbers, with exact text."""
import datetime as dt

import pytest

COORD_MAIN = ("CON Coordinator menu\n1. Enrol a client\n2. Client's next visit\n3. Today's call-backs\n"
              "4. Close a file\n5. Baby's test result")
CONSENT = "CON Has the client agreed to get SMS reminders?\n1. Yes\n2. No"
HIV_STATUS = "CON Client's HIV status:\n1. Positive\n2. Negative\n3. Unknown\n0. Back"
LANGS = "1. English\n2. Português\n3. Kiswahili"  # the languages offered; the others are incomplete


@pytest.fixture
def coordinator(phone, pins):
    def make(**context):
        p = phone("coordinator", pin_set=True, verify_pin=pins.verify, country="ZA", **context)
        assert p.dial() == "CON Enter your 4-digit PIN:"
        assert p.send("1234") == COORD_MAIN
        return p
    return make


def test_enrol_a_mother_with_her_baby(coordinator):
    p = coordinator()
    assert p.send("1") == "CON Client's phone number:\n0. Back"
    assert p.send("082 123 4567") == CONSENT
    assert p.send("1") == "CON Programme:\n1. Pregnant\n2. Mother with baby\n3. ART only\n0. Back"
    assert p.send("2") == "CON Baby's date of birth (DDMMYYYY):\n0. Back"
    assert p.send("01102025") == HIV_STATUS
    assert p.send("1") == f"CON Client's language:\n{LANGS}\n0. Back"
    assert p.send("3") == ("CON Enrol +27821234567?\nMother with baby: Wed 1 Oct 2025\nLanguage: Kiswahili\n"
                           "1. Yes\n2. No\n3. Yes, no SMS now")
    assert p.send("1") == "END Enrolled +27821234567. The client will get reminders by SMS."
    assert p.effects == [{"action": "enrol_client", "consent": True, "phone": "+27821234567", "programme": "mother",
                          "date": "2025-10-01", "language": "sw", "hiv_status": "positive"}]


def test_enrol_without_her_consent_ends_and_keeps_nothing(coordinator):
    p = coordinator()
    p.send("1")
    assert p.send("0821234567") == CONSENT
    assert p.send("2") == "END Not enrolled. A client is enrolled only once she agrees."
    assert p.effects == []


@pytest.mark.parametrize("choice,prompt,typed,programme,status", [
    ("1", "Expected delivery date (DDMMYYYY):", "15032026", "pregnant", "unknown"),
    ("3", "Next medicine pick-up date (DDMMYYYY):", "23122025", "art", "positive"),
])
def test_enrol_each_programme_asks_its_own_date(coordinator, choice, prompt, typed, programme, status):
    p = coordinator()
    p.send("1")
    p.send("0821234567")
    p.send("1")  # she agreed
    assert p.send(choice) == f"CON {prompt}\n0. Back"
    if programme == "art":  # on ART: positive, not asked
        assert p.send(typed).startswith("CON Client's language:")
    else:
        assert p.send(typed) == HIV_STATUS
        assert p.send("3").startswith("CON Client's language:")
    p.send("1")
    p.send("1")
    assert (p.effects[0]["programme"], p.effects[0]["hiv_status"]) == (programme, status)
    assert p.effects[0]["date"] == dt.date(int(typed[4:]), int(typed[2:4]), int(typed[:2])).isoformat()


def test_enrol_refuses_a_bad_number_and_dates_on_the_wrong_side_of_today(coordinator):
    p = coordinator()
    p.send("1")
    assert p.send("12345") == "CON Invalid phone number.\nClient's phone number:\n0. Back"
    p.send("0821234567")
    p.send("1")  # she agreed
    p.send("1")  # pregnant: the delivery date cannot have passed
    assert p.send("01012025") == "CON That date has passed.\nExpected delivery date (DDMMYYYY):\n0. Back"
    assert p.send("01012030") == "CON That date is too far ahead.\nExpected delivery date (DDMMYYYY):\n0. Back"
    p.send("0")
    p.send("2")  # mother: the baby cannot be born tomorrow
    assert p.send("26112025") == "CON That date is in the future.\nBaby's date of birth (DDMMYYYY):\n0. Back"


def test_enrol_without_the_welcome_sms_for_a_shared_phone(coordinator):
    p = coordinator()
    for answer in ("1", "0821234567", "1", "3", "23122025", "1"):  # consent, ART, next pick-up, English
        p.send(answer)
    assert p.send("3") == "END Enrolled +27821234567. No welcome SMS now (shared phone); reminders will follow."
    assert p.effects == [{"action": "enrol_client", "consent": True, "welcome_sms": False, "phone": "+27821234567",
                          "programme": "art", "hiv_status": "positive", "date": "2025-12-23", "language": "en"}]


def test_enrol_no_changes_nothing(coordinator):
    p = coordinator()
    for answer in ("1", "0821234567", "1", "1", "15032026", "2", "1"):
        p.send(answer)
    assert p.send("2") == COORD_MAIN
    assert p.effects == []


def test_look_up_a_clients_next_visit(coordinator):
    p = coordinator(lookup_client=lambda phone: [(dt.date(2025, 12, 1), "your clinic visit")]
                    if phone == "+27821234567" else None)
    assert p.send("2") == "CON Client's phone number:\n0. Back"
    assert p.send("0821234567") == "END Next visits for +27821234567:\nMon 1 Dec: your clinic visit"


def test_look_up_an_unknown_client(coordinator):
    p = coordinator(lookup_client=lambda phone: None)
    p.send("2")
    assert p.send("0831112222") == "END No client with this number at your sites."


def test_look_up_a_client_with_nothing_due(coordinator):
    p = coordinator(lookup_client=lambda phone: [])
    p.send("2")
    assert p.send("0831112222") == "END No visits are due for this client."


def test_todays_call_backs(coordinator):
    p = coordinator(list_callbacks=lambda: ["+27821234567 09:40", "+27831112222 10:05"])
    assert p.send("3") == "END Call-backs today:\n+27821234567 09:40\n+27831112222 10:05"


def test_no_call_backs_today(coordinator):
    p = coordinator(list_callbacks=lambda: [])
    assert p.send("3") == "END No call-back requests today."


def test_the_coordinator_menu_shows_nothing_before_the_pin(phone, pins):
    p = phone("coordinator", pin_set=True, verify_pin=pins.verify)
    assert p.dial() == "CON Enter your 4-digit PIN:"
    assert p.send("1") == "CON A PIN is 4 digits.\nEnter your 4-digit PIN:"
    assert p.send("0") == "CON A PIN is 4 digits.\nEnter your 4-digit PIN:"  # no "back" before the menu


def test_a_coordinator_without_a_pin_gets_no_menu(phone):
    assert phone("coordinator").dial() == "END This menu needs a PIN. Please ask your administrator to set one."


def test_kiswahili_coordinator_enrols(phone, pins):
    p = phone("coordinator", language="sw", pin_set=True, verify_pin=pins.verify, country="KE")
    assert p.dial() == "CON Weka PIN yako ya tarakimu 4:"
    assert p.send("1234") == ("CON Menyu ya mratibu\n1. Sajili mteja\n2. Miadi ijayo ya mteja\n"
                              "3. Maombi ya kupigiwa leo\n4. Funga faili\n5. Kipimo cha mtoto")
    p.send("1")
    assert p.send("0712 345 678") == "CON Je, mteja amekubali kupokea vikumbusho kwa SMS?\n1. Ndiyo\n2. Hapana"
    assert p.send("1") == "CON Mpango:\n1. Mjamzito\n2. Mama mwenye mtoto\n3. ARV pekee\n0. Rudi"
    p.send("1")
    assert p.send("15032026") == "CON Hali ya VVU ya mteja:\n1. Chanya\n2. Hasi\n3. Haijulikani\n0. Rudi"
    p.send("2")
    assert p.send("3") == ("CON Msajili +254712345678?\nMjamzito: Jumapili 15 Mac 2026\nLugha: Kiswahili\n"
                           "1. Ndiyo\n2. Hapana\n3. Ndiyo, bila SMS sasa")
    assert p.send("1") == "END +254712345678 amesajiliwa. Mteja atapokea vikumbusho kwa SMS."
    assert p.effects[0]["language"] == "sw"


def test_close_a_clients_file(coordinator):
    p = coordinator()
    assert p.send("4") == "CON Client's phone number:\n0. Back"
    assert p.send("0821234567") == ("CON Why is her file closed?\n1. Transferred out\n2. Died\n3. Moved away\n"
                                    "4. Declined\n5. Other\n0. Back")
    assert p.send("1") == "CON Close the file of +27821234567? No more SMS will be sent to her.\n1. Yes\n2. No"
    assert p.send("1") == "END File of +27821234567 closed. No more SMS will be sent to her."
    assert p.effects == [{"action": "close_client", "phone": "+27821234567", "reason": "transferred_out"}]


def test_record_a_babys_test_result(coordinator):
    p = coordinator()
    assert p.send("5") == "CON Mother's phone number:\n0. Back"
    assert p.send("0821234567") == "CON Baby's date of birth (DDMMYYYY):\n0. Back"
    assert p.send("01102025") == "CON Date of the test (DDMMYYYY):\n0. Back"
    assert p.send("12112025") == "CON Result:\n1. Negative\n2. Positive\n3. Indeterminate\n0. Back"
    assert p.send("2") == "CON Record this result for the baby of +27821234567?\n1. Yes\n2. No"
    assert p.send("1") == "END Result recorded for the baby of +27821234567."
    assert p.effects == [{"action": "record_test_result", "phone": "+27821234567", "date_of_birth": "2025-10-01",
                          "date": "2025-11-12", "result": "positive"}]


# ------------------------------------------------------------------ unknown numbers

UNKNOWN_EN = ("CON Free SMS reminders of clinic visits for mothers and babies. This number is not registered.\n"
              "1. Ask to join\n2. No, thank you")


def test_unknown_number_asks_to_join_with_consent(phone):
    p = phone("unknown")
    assert p.dial() == UNKNOWN_EN
    assert p.send("1") == ("CON A health worker will call you to join. We will keep your phone number for this. "
                           "Do you agree?\n1. Yes\n2. No")
    assert p.send("1") == "END Thank you. A health worker will call you soon."
    assert p.effects == [{"action": "request_enrolment", "consent": True, "consent_version": "ussd-consent-1"}]


def test_unknown_number_without_consent_keeps_nothing(phone):
    p = phone("unknown")
    p.dial()
    p.send("1")
    assert p.send("2") == "END No problem. Your number was not kept."
    assert p.effects == []


def test_unknown_number_says_no_thanks(phone):
    p = phone("unknown")
    p.dial()
    assert p.send("2") == "END Thank you. Goodbye."
    assert p.effects == []


def test_unknown_number_in_portuguese(phone):
    p = phone("unknown", language="pt")
    assert p.dial() == ("CON Lembretes grátis por SMS das consultas de mães e bebés. Este número não está registado.\n"
                        "1. Quero inscrever-me\n2. Agora não")
    assert p.send("1") == ("CON Um profissional de saúde vai ligar-lhe para fazer a inscrição. Guardamos o seu "
                           "número para isso. Concorda?\n1. Sim\n2. Não")
    assert p.send("1") == "END Obrigado. Um profissional de saúde vai ligar-lhe em breve."


def test_outcome_reply_for_an_enrolment_that_already_exists():
    import menus

    effect = {"action": "enrol_client", "phone": "+27821234567", "programme": "art", "date": "2025-12-01",
              "language": "en"}
    assert menus.outcome_reply(effect, "exists", "en").text == "+27821234567 is already enrolled."
    assert menus.outcome_reply(effect, "exists", "pt").text == "O número +27821234567 já está inscrito."
    other = menus.outcome_reply({"action": "record_pickup", "months": 3}, "failed", "en")
    assert other == menus.Reply("Sorry, that did not work. Please try again later.", True, None)
