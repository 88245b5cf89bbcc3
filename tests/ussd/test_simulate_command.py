"""``flask ussd simulate [PHONE]``: a terminal phone on the real session logic, answers typed or piped."""
from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Task
from tests.ussd.conftest import CLIENT_PHONE, UNKNOWN_PHONE, fresh


def test_a_piped_session_records_a_pickup(runner, make_client):
    mother = make_client(language="en", art={"last_dispensed": "2025-11-01", "days_supply": 30})
    result = runner.invoke(args=["ussd", "simulate", CLIENT_PHONE], input="2\n3\n2\n1\n")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Clinic reminders\n1. My next visit\n2. I collected medicine\n3. My baby\n4. My settings\n"
        "5. Ask for a call back\n-- 110/160 characters --\n> 2\n"
        "How many months of medicine did you get today?\n1. 1 month\n2. 2 months\n3. 3 months\n6. 6 months\n"
        "0. Back\n-- 105/160 characters --\n> 3\n"
        "Did the clinic write the date of your next visit on your card?\n1. Yes, type the date\n"
        "2. No date, skip\n0. Back\n-- 113/160 characters --\n> 2\n"
        "You got 3 months of medicine today. Is that right?\n1. Yes\n2. No\n-- 67/160 characters --\n> 1\n"
        "Thank you. Your next pick-up is on Mon 23 Feb. We will remind you by SMS.\n"
        "-- 77/160 characters, session ended --\n")
    assert fresh(mother).art_days_supply == 90
    actor = db.session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "art.dispensed"))
    assert actor == f"ussd:client:{mother.id}"


def test_the_phone_is_asked_for_when_not_given_and_input_may_end_early(runner):
    result = runner.invoke(args=["ussd", "simulate", "--network", "63903"], input=f"{UNKNOWN_PHONE}\n1\n")
    assert result.exit_code == 0, result.output
    assert "Free SMS reminders of clinic visits" in result.output and "/184 characters" in result.output
    assert result.output.endswith("> \n(hung up)\n")
    assert db.session.scalar(select(Task)) is None


def test_an_unusable_number_is_refused(runner):
    result = runner.invoke(args=["ussd", "simulate", "12"], input="")
    assert result.exit_code != 0 and "phone number" in result.output
