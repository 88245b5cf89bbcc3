"""Whole client journeys, screen by screen, with the exact text a handset shows (English, Kiswahili, Portuguese)."""
import datetime as dt

MAIN_EN = ("CON Clinic reminders\n1. My next visit\n2. I collected medicine\n3. My baby\n"
           "4. My settings\n5. Ask for a call back")
MAIN_SW = ("CON Vikumbusho vya kliniki\n1. Miadi yangu ijayo\n2. Nimechukua dawa\n3. Mtoto wangu\n"
           "4. Mipangilio yangu\n5. Omba kupigiwa simu")
VISITS = [(dt.date(2025, 11, 28), "pick up your medicine"), ("Mon 8 Dec", "your child's clinic visit")]


def test_first_screen_lists_the_contract_choices_each_on_its_own_line(phone):
    lines = phone("client").dial().split("\n")
    choices = [line for line in lines if line[:1].isdigit()]
    assert [c.split(". ", 1)[0] for c in choices] == ["1", "2", "3", "4", "5"]
    for needle, line in zip(["next visit", "collected", "baby", "settings", "call"], choices):
        assert needle in line


def test_next_visit_without_a_pin(phone):
    p = phone("client", visits=VISITS)
    assert p.dial() == MAIN_EN
    assert p.send("1") == ("END Your next visits:\nFri 28 Nov: pick up your medicine\n"
                           "Mon 8 Dec: your child's clinic visit")
    assert p.effects == []


def test_next_visit_when_none_is_due(phone):
    p = phone("client")
    p.dial()
    assert p.send("1") == "END No visits are due now. We will send you an SMS before your next visit."


def test_next_visit_asks_for_the_pin_first_when_one_is_set(phone, pins):
    p = phone("client", visits=VISITS, pin_set=True, verify_pin=pins.verify)
    p.dial()
    assert p.send("1") == "CON Enter your 4-digit PIN:\n0. Back"
    assert p.send("1234").startswith("END Your next visits:\nFri 28 Nov")


def test_collected_medicine_reschedules(phone):
    p = phone("client")
    p.dial()
    assert p.send("2") == ("CON How many months of medicine did you get today?\n1. 1 month\n2. 2 months\n"
                           "3. 3 months\n6. 6 months\n0. Back")
    assert p.send("3").startswith("CON Did the clinic write the date of your next visit on your card?")
    assert p.send("2") == "CON You got 3 months of medicine today. Is that right?\n1. Yes\n2. No"  # skipped
    # 3 months are 90 days from today (25 Nov 2025): Mon 23 Feb 2026.
    assert p.send("1") == "END Thank you. Your next pick-up is on Mon 23 Feb. We will remind you by SMS."
    assert p.effects == [{"action": "record_pickup", "months": 3}]


def test_collected_medicine_no_goes_back_to_the_months(phone):
    p = phone("client")
    p.dial()
    p.send("2")
    p.send("6")
    p.send("2")
    assert p.send("2").startswith("CON How many months")
    assert p.send("0") == MAIN_EN
    assert p.effects == []


def test_register_baby(phone):
    p = phone("client")
    p.dial()
    assert p.send("3") == "CON My baby\n1. Register a new baby\n2. I stopped breastfeeding\n0. Back"
    assert p.send("1") == "CON Your baby's date of birth as DDMMYYYY, e.g. 05032025:\n0. Back"
    assert p.send("05032025") == "CON Your baby was born on Wed 5 Mar 2025. Is that right?\n1. Yes\n2. No"
    assert p.send("1") == "END Thank you. We will remind you of your child's clinic visits by SMS."
    assert p.effects == [{"action": "register_baby", "date_of_birth": "2025-03-05"}]


def test_register_baby_born_today_and_five_years_ago_are_accepted(phone):
    for typed in ("25112025", "25112020"):
        p = phone("client")
        p.dial()
        p.send("3")
        p.send("1")
        assert p.send(typed).startswith("CON Your baby was born on")


def test_settings_language_answers_in_the_new_language(phone):
    p = phone("client")
    p.dial()
    assert p.send("4") == ("CON My settings\n1. Language\n2. Reminder time\n3. Stop SMS\n4. Set a PIN\n0. Back")
    # Only the languages offered (complete): isiZulu and the others wait for their translations.
    assert p.send("1") == "CON Choose your language:\n1. English\n2. Português\n3. Kiswahili\n0. Back"
    assert p.send("3") == "END Tayari. Lugha yako sasa ni Kiswahili."
    assert p.effects == [{"action": "set_language", "lang": "sw"}]


def test_settings_reminder_time(phone):
    p = phone("client")
    p.dial()
    p.send("4")
    assert p.send("2") == "CON When should reminders come?\n1. Morning\n2. Midday\n3. Evening\n0. Back"
    assert p.send("3") == "END Done. Reminder time: Evening."
    assert p.effects == [{"action": "set_reminder_time", "slot": "evening"}]


def test_settings_stop_sms(phone):
    p = phone("client")
    p.dial()
    p.send("4")
    assert p.send("3") == ("CON Stop all SMS reminders? You can restart them in My settings.\n1. Yes\n2. No")
    assert p.send("1") == "END You will get no more SMS reminders. You can restart them in My settings."
    assert p.effects == [{"action": "opt_out"}]


def test_settings_restart_sms_when_stopped(phone):
    p = phone("client", opted_out=True)
    p.dial()
    assert p.send("4") == ("CON My settings\n1. Language\n2. Reminder time\n3. Restart SMS\n4. Set a PIN\n0. Back")
    assert p.send("3") == "END Your SMS reminders are on again."
    assert p.effects == [{"action": "opt_in"}]


def test_set_a_first_pin(phone):
    p = phone("client")
    p.dial()
    p.send("4")
    assert p.send("4") == "CON Choose a 4-digit PIN. You will need it to see your visits:\n0. Back"
    assert p.send("4821") == "CON Enter the same PIN again:\n0. Back"
    assert p.send("4812") == "CON The PINs do not match.\nEnter the same PIN again:\n0. Back"
    assert p.send("4821") == "END Your PIN is saved. Keep it secret."
    assert p.effects == [{"action": "set_pin", "pin": "4821"}]
    assert "pin" not in p.state["answers"] and "pin_repeat" not in p.state["answers"]


def test_changing_the_pin_needs_the_current_one(phone, pins):
    p = phone("client", pin_set=True, verify_pin=pins.verify)
    p.dial()
    assert "4. Change my PIN" in p.send("4")
    assert p.send("4") == "CON Enter your 4-digit PIN:\n0. Back"
    assert p.send("1234").startswith("CON Choose a 4-digit PIN")


def test_call_back(phone):
    p = phone("client")
    p.dial()
    assert p.send("5") == "CON Ask a health worker to call you back?\n1. Yes\n2. No"
    assert p.send("1") == "END Thank you. A health worker will call you soon."
    assert p.effects == [{"action": "request_callback"}]


def test_call_back_no_returns_to_the_menu(phone):
    p = phone("client")
    p.dial()
    p.send("5")
    assert p.send("2") == MAIN_EN
    assert p.effects == []


def test_kiswahili_collected_medicine(phone):
    p = phone("client", language="sw")
    assert p.dial() == MAIN_SW
    assert p.send("2") == ("CON Umepewa dawa za miezi mingapi leo?\n1. mwezi 1\n2. miezi 2\n3. miezi 3\n"
                           "6. miezi 6\n0. Rudi")
    assert p.send("1").startswith("CON Je, kliniki iliandika tarehe")
    assert p.send("2") == "CON Umepewa dawa za mwezi 1 leo. Ni sahihi?\n1. Ndiyo\n2. Hapana"
    assert p.send("1") == ("END Asante. Utachukua dawa tena siku ya Alhamisi 25 Des. "
                           "Tutakukumbusha kwa SMS.")
    assert p.effects == [{"action": "record_pickup", "months": 1}]


def test_kiswahili_register_baby_with_a_wrong_date_first(phone, pins):
    p = phone("client", language="sw", pin_set=True, verify_pin=pins.verify)
    p.dial()
    assert p.send("3") == "CON Weka PIN yako ya tarakimu 4:\n0. Rudi"
    assert p.send("1234") == "CON Mtoto wangu\n1. Sajili mtoto mpya\n2. Nimeacha kunyonyesha\n0. Rudi"
    assert p.send("1") == "CON Tarehe ya kuzaliwa ya mtoto kwa DDMMYYYY, mfano 05032025:\n0. Rudi"
    assert p.send("31022025") == ("CON Tarehe si sahihi. Tumia DDMMYYYY.\n"
                                  "Tarehe ya kuzaliwa ya mtoto kwa DDMMYYYY, mfano 05032025:\n0. Rudi")
    assert p.send("01112025") == "CON Mtoto wako alizaliwa Jumamosi 1 Nov 2025. Ni sahihi?\n1. Ndiyo\n2. Hapana"
    assert p.send("1") == "END Asante. Tutakukumbusha kliniki za mtoto wako kwa SMS."
    assert p.effects == [{"action": "register_baby", "date_of_birth": "2025-11-01"}]


def test_kiswahili_next_visits(phone):
    p = phone("client", language="sw",
              visits=[(dt.date(2025, 11, 28), "kuchukua dawa zako")])
    p.dial()
    assert p.send("1") == "END Miadi yako ijayo:\nIjumaa 28 Nov: kuchukua dawa zako"


def test_portuguese_call_back_and_settings(phone):
    p = phone("client", language="pt")
    assert p.dial() == ("CON Lembretes de consultas\n1. A minha próxima consulta\n2. Levantei medicamentos\n"
                        "3. O meu bebé\n4. Definições\n5. Pedir que me liguem")
    assert p.send("4") == ("CON Definições\n1. Língua\n2. Hora dos lembretes\n3. Parar os SMS\n4. Criar um PIN\n"
                           "0. Voltar")
    assert p.send("2") == ("CON A que hora quer receber os lembretes?\n1. De manhã\n2. Ao meio-dia\n"
                           "3. Ao fim da tarde\n0. Voltar")
    assert p.send("1") == "END Feito. Hora dos lembretes: De manhã."
    assert p.effects == [{"action": "set_reminder_time", "slot": "morning"}]


def test_a_language_without_translations_shows_english(phone):
    p = phone("client", language="zu")
    assert p.dial() == MAIN_EN


def test_an_unknown_language_code_shows_english(phone):
    assert phone("client", language="xx").dial() == MAIN_EN
