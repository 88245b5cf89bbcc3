"""The USSD language menus offer a language only once its texts are complete (fake marker texts, test database only)."""
import pytest

from gateway import i18n
from gateway.adapters.database import db
from tests.fake_texts import fake_all, fresh_texts  # noqa: F401  (a fixture)
from tests.ussd.conftest import CLIENT_PHONE, COORDINATOR_PHONE

pytestmark = pytest.mark.usefixtures("fresh_texts")


def test_a_client_is_offered_a_language_once_it_is_complete(at, make_client):
    client = make_client(language="en")
    session = at(CLIENT_PHONE)
    session.dial()
    session.send("4")
    assert session.send("1") == "CON Choose your language:\n1. English\n2. Português\n3. Kiswahili\n0. Back"
    fake_all("xh", leave_out=("ussd.more",))  # one text short: still not offered
    session = at(CLIENT_PHONE)
    assert session.play("4", "1") == "CON Choose your language:\n1. English\n2. Português\n3. Kiswahili\n0. Back"
    fake_all("xh", leave_out=tuple(k for k in i18n.keys() if k != "ussd.more"))  # the last one
    session = at(CLIENT_PHONE)
    assert session.play("4", "1") == ("CON Choose your language:\n1. English\n2. Português\n3. Kiswahili\n"
                                      "4. isiXhosa\n0. Back")
    # Her answer is shown in the language just chosen: here the fake marker text, never English.
    assert session.send("4") == "END DONE. YOUR LANGUAGE IS NOW isiXhosa."
    db.session.refresh(client)
    assert client.language == "xh"


def test_a_coordinator_enrols_only_in_an_offered_language(at, make_coordinator):
    make_coordinator()
    session = at(COORDINATOR_PHONE)
    session.dial()
    screen = session.play("2468", "1", "082 123 4567", "1", "2", "01102025", "1")  # consent, mother, birth, positive
    assert screen == "CON Client's language:\n1. English\n2. Português\n3. Kiswahili\n0. Back"
    assert session.send("4") == "CON Invalid choice.\nClient's language:\n1. English\n2. Português\n3. Kiswahili\n0. Back"
