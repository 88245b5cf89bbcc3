"""'My baby' over USSD: twins asked about (never a silent duplicate), and the end of breastfeeding."""
import datetime as dt

import pytest
from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import Appointment, AuditEntry, Infant
from gateway.i18n import discloses
from tests.ussd.conftest import CLIENT_PHONE, TODAY, count

BABY_MENU = "CON My baby\n1. Register a new baby\n2. I stopped breastfeeding\n0. Back"


def test_a_baby_born_the_same_day_as_hers_asks_twins_and_yes_registers_a_second(at, make_client):
    make_client(language="en", infants=[{"date_of_birth": "2025-10-01"}])
    session = at(CLIENT_PHONE)
    session.dial()
    assert session.send("3") == BABY_MENU
    session.send("1")
    twins = session.send("01102025")
    assert twins == ("CON A baby born on Wed 1 Oct 2025 is registered already. Is this a second baby (twins)?\n"
                     "1. Yes\n2. No")
    assert session.send("1") == "END Thank you. We will remind you of your child's clinic visits by SMS."
    assert [i.date_of_birth for i in db.session.scalars(select(Infant))] == [dt.date(2025, 10, 1)] * 2


def test_no_to_twins_ends_without_a_duplicate(at, make_client):
    make_client(language="sw", infants=[{"date_of_birth": "2025-10-01"}])
    session = at(CLIENT_PHONE)
    session.play("3", "1")
    assert session.send("01102025").startswith("CON Mtoto aliyezaliwa Jumatano 1 Okt 2025 amesajiliwa tayari.")
    assert session.send("2") == "END Asante. Mtoto wako aliyezaliwa Jumatano 1 Okt 2025 amesajiliwa tayari."
    assert count(Infant) == 1 and count(AuditEntry, AuditEntry.action == "ussd.register_baby") == 0


def test_another_date_of_birth_is_not_asked_about(at, make_client):
    make_client(language="en", infants=[{"date_of_birth": "2025-10-01"}])
    session = at(CLIENT_PHONE)
    session.play("3", "1")
    assert session.send("02102025").startswith("CON Your baby was born on Thu 2 Oct 2025.")


def _final_test(client_id):
    return db.session.scalars(select(Appointment).where(
        Appointment.client_id == client_id, Appointment.name == "HIV test after breastfeeding")).all()


def test_i_stopped_breastfeeding_today_plans_the_final_test(at, make_client):
    client = make_client(language="en", infants=[{"date_of_birth": "2025-05-01"}])
    assert _final_test(client.id) == []
    session = at(CLIENT_PHONE)
    session.dial()
    session.send("3")
    assert session.send("2") == "CON When did your baby stop breastfeeding?\n1. Today\n2. Another day\n0. Back"
    assert session.send("1") == "CON Your baby stopped breastfeeding today. Is that right?\n1. Yes\n2. No"
    done = session.send("1")
    assert done == "END Thank you. We will remind you of your child's next clinic visit by SMS."
    assert db.session.scalar(select(Infant.breastfeeding_ended_on)) == TODAY
    [final] = _final_test(client.id)
    assert (final.status, final.due_date) == ("due", TODAY + dt.timedelta(weeks=6))
    assert count(AuditEntry, AuditEntry.action == "ussd.breastfeeding_ended_today") == 1


def test_i_stopped_breastfeeding_on_another_day_asks_the_date(at, make_client):
    client = make_client(language="en", infants=[{"date_of_birth": "2025-05-01"}])
    session = at(CLIENT_PHONE)
    session.play("3", "2")
    assert session.send("2") == "CON Date your baby stopped breastfeeding (DDMMYYYY):\n0. Back"
    assert session.send("01012026").startswith("CON That date is in the future.")
    assert session.send("01112025") == ("CON Your baby stopped breastfeeding on Sat 1 Nov 2025. Is that right?\n"
                                        "1. Yes\n2. No")
    session.send("1")
    [final] = _final_test(client.id)
    assert final.due_date == dt.date(2025, 12, 13)


def test_i_stopped_breastfeeding_without_a_baby_says_what_to_do(at, make_client):
    make_client(language="en")
    session = at(CLIENT_PHONE)
    session.play("3", "2")
    assert session.send("1").startswith("CON Your baby stopped")
    assert session.send("1") == ("END No baby is registered for you yet. Choose My baby, then Register a new baby.")
    assert count(AuditEntry, AuditEntry.action.like("ussd.breastfeeding%")) == 0


@pytest.mark.parametrize("lang", ["en", "sw", "pt", "ny", "st", "zu"])
def test_the_new_screens_are_discreet(lang):
    from gateway import i18n
    for key in ("ussd.client.baby.title", "ussd.client.baby.register", "ussd.client.baby.stopped",
                "ussd.client.baby.twins", "ussd.client.baby.known", "ussd.client.feeding.title",
                "ussd.client.feeding.prompt", "ussd.client.feeding.confirm", "ussd.client.feeding.confirm_today",
                "ussd.client.feeding.done", "ussd.outcome.breastfeeding_ended.no_baby",
                "ussd.client.pickup.card", "ussd.client.pickup.card_date", "ussd.client.pickup.card_confirm",
                "ussd.client.pickup.card_done"):
        text = i18n.render(key, lang, date_of_birth="Wed 1 Oct 2025", stopped_on="Wed 1 Oct 2025",
                           months="3 months", next_visit="Fri 20 Feb 2026")
        assert not discloses(text), (key, text)
