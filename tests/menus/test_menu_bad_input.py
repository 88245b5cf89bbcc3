"""Wrong answers: a short reason, the same question again, nothing kept, nothing ended, nothing raised."""
import pytest

MAIN = ("Clinic reminders\n1. My next visit\n2. I collected medicine\n3. My baby\n"
        "4. My settings\n5. Ask for a call back")
WRONG = ["", "   ", "abc", "7", "0", "98", "99", "-1", "1.", "١", "²", "1 2", "*", "#", "1*2", "x" * 500,
         "9" * 200, "😀", "1😀", "\x00", "\n", "Ⅳ"]


@pytest.mark.parametrize("typed", WRONG)
def test_main_menu_refuses_anything_but_its_choices(phone, typed):
    p = phone("client")
    p.dial()
    assert p.send(typed) == "CON Invalid choice.\n" + MAIN
    assert p.state["screen"] == "main" and p.state["answers"] == {} and p.effects == []


@pytest.mark.parametrize("typed,reason", [
    ("", "Invalid date. Use DDMMYYYY."),
    ("abcdefgh", "Invalid date. Use DDMMYYYY."),
    ("31/02/2025", "Invalid date. Use DDMMYYYY."),
    ("31022025", "Invalid date. Use DDMMYYYY."),
    ("29022025", "Invalid date. Use DDMMYYYY."),
    ("00012025", "Invalid date. Use DDMMYYYY."),
    ("01132025", "Invalid date. Use DDMMYYYY."),
    ("5032025", "Invalid date. Use DDMMYYYY."),
    ("050320255", "Invalid date. Use DDMMYYYY."),
    ("０５０３２０２５", "Invalid date. Use DDMMYYYY."),  # full-width digits are not what the keypad sends
    ("😀😀😀😀😀😀😀😀", "Invalid date. Use DDMMYYYY."),
    ("1" * 300, "Invalid date. Use DDMMYYYY."),
    ("26112025", "That date is in the future."),
    ("01012099", "That date is in the future."),
    ("24112020", "That date is more than 5 years ago."),
    ("01011900", "That date is more than 5 years ago."),
])
def test_date_of_birth_refusals_repeat_the_question(phone, typed, reason):
    p = phone("client")
    p.dial()
    p.send("3")
    p.send("1")
    prompt = "Your baby's date of birth as DDMMYYYY, e.g. 05032025:\n0. Back"
    assert p.send(typed) == f"CON {reason}\n{prompt}"
    assert p.state["screen"] == "baby_dob" and "date_of_birth" not in p.state["answers"]
    # and the right answer still works afterwards
    assert p.send("29022024").startswith("CON Your baby was born on Thu 29 Feb 2024.")


@pytest.mark.parametrize("typed", ["", "3", "0", "yes", "Y", "11", "😀"])
def test_confirmation_takes_only_yes_or_no(phone, typed):
    p = phone("client")
    p.dial()
    p.send("5")
    assert p.send(typed) == "CON Invalid choice.\nAsk a health worker to call you back?\n1. Yes\n2. No"
    assert p.effects == []


@pytest.mark.parametrize("typed", ["4", "5", "0 ", "98", "12", "one"])
def test_months_refuse_what_is_not_offered(phone, typed):
    p = phone("client")
    p.dial()
    p.send("2")
    reply = p.send(typed)
    if typed.strip() == "0":
        assert reply.startswith("CON Clinic reminders")  # "0 " is "0": back
        return
    assert reply.startswith("CON Invalid choice.\nHow many months")


@pytest.mark.parametrize("typed", ["", "123", "12345", "abcd", "12a4", "😀😀😀😀"])
def test_new_pin_must_be_four_digits(phone, typed):
    p = phone("client")
    p.dial()
    p.send("4")
    p.send("4")
    assert p.send(typed) == ("CON A PIN is 4 digits.\nChoose a 4-digit PIN. You will need it to see your visits:\n"
                             "0. Back")


def test_restart_choice_is_not_offered_to_a_client_who_gets_sms(phone):
    # Key 3 is "Stop SMS" here; the hidden "Restart SMS" under the same key is not reachable.
    p = phone("client", opted_out=False)
    p.dial()
    p.send("4")
    assert p.send("3").startswith("CON Stop all SMS reminders?")


def test_kiswahili_reason_is_in_kiswahili(phone):
    p = phone("client", language="sw")
    p.dial()
    assert p.send("9").startswith("CON Chaguo si sahihi.\nVikumbusho vya kliniki\n1. ")


def test_a_stale_or_foreign_state_starts_again(phone):
    p = phone("client")
    p.dial()
    import menus

    main = "CON " + MAIN
    for state in (None, {}, {"v": 99}, {"v": 1, "menu": "unknown", "screen": "main"}, "garbage", [],
                  {**p.state, "screen": "no_such_screen"}, {**p.state, "answers": None},
                  {**p.state, "page": "x"}, {**p.state, "lang": 5}, {**p.state, "done": True}):
        reply, state = menus.step(p.menu, state, "1", p.ctx)
        assert ("END " if reply.end else "CON ") + reply.text == main
