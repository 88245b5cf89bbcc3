"""The PIN: asked before health details when set, three wrong in a row lock them for 30 minutes."""
import datetime as dt

import pytest

import menus
from menus import LOCK_MINUTES, MAX_FAILURES, check_pin_attempt

LOCKED = "END Too many wrong PINs. Please try again in 30 minutes."
PROMPT = "CON Enter your 4-digit PIN:\n0. Back"
NOW = dt.datetime(2025, 11, 25, 8, 0)


def test_three_wrong_pins_lock(phone, pins):
    p = phone("client", pin_set=True, verify_pin=pins.verify, visits=[("Fri 28 Nov", "your clinic visit")])
    p.dial()
    assert p.send("1") == PROMPT
    assert p.send("0000") == "CON Wrong PIN.\nEnter your 4-digit PIN:\n0. Back"
    assert p.send("1111") == "CON Wrong PIN.\nEnter your 4-digit PIN:\n0. Back"
    assert p.send("2222") == LOCKED
    assert p.reply.end and pins.locked


def test_while_locked_even_the_right_pin_is_refused_and_nothing_is_shown(phone, pins):
    for wrong in ("0000", "1111", "2222"):
        pins.verify(wrong)
    # A new session: the adapter tells the engine the PIN is locked.
    p = phone("client", pin_set=True, pin_locked=pins.locked, verify_pin=pins.verify,
              visits=[("Fri 28 Nov", "your clinic visit")])
    p.dial()
    assert p.send("1") == LOCKED
    assert "Fri 28 Nov" not in p.screen
    assert pins.verify("1234") == "locked"


def test_a_lock_only_closes_what_the_pin_protects(phone, pins):
    p = phone("client", pin_set=True, pin_locked=True, verify_pin=pins.verify)
    p.dial()
    assert p.send("5").startswith("CON Ask a health worker to call you back?")


def test_the_lock_runs_out_after_30_minutes(pins):
    for wrong in ("0000", "1111", "2222"):
        pins.verify(wrong)
    pins.now = NOW + dt.timedelta(minutes=LOCK_MINUTES) - dt.timedelta(seconds=1)
    assert pins.verify("1234") == "locked"
    pins.now = NOW + dt.timedelta(minutes=LOCK_MINUTES)
    assert pins.verify("1234") == "ok"


def test_typing_slips_are_not_counted_as_attempts(phone, pins):
    p = phone("client", pin_set=True, verify_pin=pins.verify)
    p.dial()
    p.send("2")
    for slip in ("", "12", "abcd", "12345", "😀"):
        assert p.send(slip) == "CON A PIN is 4 digits.\nEnter your 4-digit PIN:\n0. Back"
    assert pins.failures == 0
    assert p.send("1234").startswith("CON How many months")


def test_a_right_pin_holds_for_the_rest_of_the_session(phone, pins):
    p = phone("client", pin_set=True, verify_pin=pins.verify)
    p.dial()
    p.send("3")
    p.send("1234")
    assert p.send("0").startswith("CON Clinic reminders")
    assert p.send("2").startswith("CON How many months")  # not asked again


def test_back_from_the_pin_prompt(phone, pins):
    p = phone("client", pin_set=True, verify_pin=pins.verify)
    p.dial()
    p.send("1")
    assert p.send("0").startswith("CON Clinic reminders")
    assert pins.failures == 0


def test_a_success_resets_the_count():
    first = check_pin_attempt(False, 0, None, NOW)
    second = check_pin_attempt(False, first.failures, None, NOW)
    assert (first.verdict, second.verdict, second.failures) == ("wrong", "wrong", 2)
    ok = check_pin_attempt(True, second.failures, None, NOW)
    assert (ok.verdict, ok.failures, ok.locked_until) == ("ok", 0, None)
    assert check_pin_attempt(False, ok.failures, None, NOW).verdict == "wrong"


def test_the_rule_in_numbers():
    assert MAX_FAILURES == 3 and LOCK_MINUTES == 30
    locked = check_pin_attempt(False, 2, None, NOW)
    assert locked == menus.PinAttempt("locked", 3, NOW + dt.timedelta(minutes=30))
    # A lock that ran out starts the count again: one slip after it is not a new lock.
    later = NOW + dt.timedelta(minutes=31)
    assert check_pin_attempt(False, locked.failures, locked.locked_until, later) == menus.PinAttempt("wrong", 1, None)


@pytest.mark.parametrize("verdict,expected", [(True, "CON How many months"), (False, "CON Wrong PIN."),
                                              ("locked", "END Too many wrong PINs")])
def test_verify_pin_may_answer_with_booleans(phone, verdict, expected):
    p = phone("client", pin_set=True, verify_pin=lambda pin: verdict)
    p.dial()
    p.send("2")
    assert p.send("1234").startswith(expected)


def test_no_pin_set_means_no_prompt(phone):
    p = phone("client", pin_set=False, verify_pin=lambda pin: pytest.fail("not asked"))
    p.dial()
    assert p.send("2").startswith("CON How many months")


def test_the_pin_is_never_kept_in_the_state(phone, pins):
    p = phone("client", pin_set=True, verify_pin=pins.verify)
    p.dial()
    p.send("1")
    p.send("1234")
    assert "1234" not in str(p.state)


def test_the_step_is_pure_its_pin_attempts_wait_in_a_ledger_of_plain_values():
    """A context of plain values and a ledger in memory: the step decides, the caller stores afterwards."""
    ledger = menus.PinLedger(read=lambda: ((lambda pin: pin == "1357"), 1, None), locked_until=None, now=NOW)
    ctx = menus.Context(today=dt.date(2025, 11, 25), language="en", max_chars=160, country="ZA", pin_set=True,
                        pin_locked=ledger.locked(), verify_pin=ledger.verify,
                        visits=[(dt.date(2025, 11, 28), "your clinic visit")])
    menu = menus.get("client")
    reply, state = menus.step(menu, None, "", ctx)
    reply, state = menus.step(menu, state, "1", ctx)
    assert reply.text == "Enter your 4-digit PIN:\n0. Back"
    reply, state = menus.step(menu, state, "0000", ctx)
    assert ledger.attempts == [(False, None)] and ledger.locked_until is None  # 2 failures now, not yet 3
    reply, state = menus.step(menu, state, "1111", ctx)
    assert reply.end and "Too many wrong PINs" in reply.text
    assert ledger.attempts == [(False, None), (False, None)] and ledger.locked_until == NOW + dt.timedelta(minutes=30)
