"""The USSD phone page: real sessions through ``gateway.ussd.handle``, a form post each Send, within scope."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

import gateway.ussd
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Task
from gateway.core.phones import normalise

from tests.interfaces.console.conftest import HOSTILE_NAME

UNKNOWN_EN = (
    "Free SMS reminders of clinic visits for mothers and babies. This number is not registered.\n"
    "1. Ask to join\n2. No, thank you",
    "A health worker will call you to join. We will keep your phone number for this. Do you agree?\n1. Yes\n2. No",
    "Thank you. A health worker will call you soon.",
)
UNKNOWN_SW_FIRST = ("Vikumbusho vya bure kwa SMS vya kliniki kwa mama na mtoto. Namba hii haijasajiliwa.\n"
                    "1. Omba kujiunga\n2. Hapana, asante")
CLIENT_MAIN = ("Clinic reminders\n1. My next visit\n2. I collected medicine\n3. My baby\n4. My settings\n"
               "5. Ask for a call back")
CLIENT_SETTINGS = "My settings\n1. Language\n2. Reminder time\n3. Stop SMS\n4. Set a PIN\n0. Back"
COORDINATOR_MAIN = ("Coordinator menu\n1. Enrol a client\n2. Client's next visit\n3. Today's call-backs\n"
                    "4. Close a file\n5. Baby's test result")
UNKNOWN_PHONE = "+27841234567"
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


class Phone:
    """The page as a browser without script uses it: each post sends the hidden fields of the last page back."""

    def __init__(self, session):
        self.session = session
        self.response = None
        self.fields: dict[str, str] = {}

    @property
    def page(self) -> str:
        return self.response.get_data(as_text=True)

    @property
    def screen(self) -> str | None:
        found = re.search(r'<pre id="ussd-screen">(.*?)</pre>', self.page, re.S)
        return html.unescape(found.group(1)) if found else None

    @property
    def meta(self) -> str:
        return html.unescape(re.search(r'<p class="phone-meta" id="ussd-meta">(.*?)</p>', self.page).group(1))

    @property
    def answer_box(self) -> str | None:
        found = re.search(r'<input id="f-answer" name="answer" type="text" inputmode="tel" value="([^"]*)"', self.page)
        return html.unescape(found.group(1)) if found else None

    def _post(self, data: dict[str, str]):
        self.response = self.session.post("/console/phone", data)
        self.fields = {k: html.unescape(v) for k, v in HIDDEN.findall(self.page) if k != "csrf_token"}
        return self.response

    def dial(self, phone: str, network: str = "", language: str = ""):
        return self._post({"phone": phone, "network": network, "language": language, "action": "dial"})

    def send(self, answer: str):
        return self._post({**self.fields, "answer": answer, "action": "send"})

    def key(self, key: str, typed: str = ""):
        return self._post({**self.fields, "answer": typed, "key": key})

    def hang_up(self):
        return self._post({**self.fields, "action": "hangup"})


@pytest.fixture
def phone_as(as_role):
    return lambda who: Phone(as_role(who))


def played(entity: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == "ussd_phone.played").order_by(AuditEntry.id)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    return list(db.session.scalars(query))


def open_tasks() -> int:
    return db.session.scalar(select(func.count()).select_from(Task))


# ---------------------------------------------------------------- the page


def test_the_page_is_in_the_navigation_and_offers_a_made_up_number(as_role, people, sites):
    nurse, other = as_role("nurse"), as_role("other")
    page = nurse.text("/console/phone")
    assert '<a href="/console/phone">USSD phone</a>' in page
    assert "Ready to dial <b>*384*123#</b>" in page
    za = re.search(r'name="phone" type="tel" value="([^"]+)"', page).group(1)
    ke = re.search(r'name="phone" type="tel" value="([^"]+)"', other.text("/console/phone")).group(1)
    # Each coordinator's number is one of her own country's, a valid mobile, and nobody's.
    assert normalise(za, "ZA") == za and za.startswith("+27")
    assert normalise(ke, "KE") == ke and ke.startswith("+254")
    assert "Airtel, Kenya 63903 (184)" in page  # a network with its own screen limit
    assert 'value="zu">isiZulu</option>' in page
    assert 'id="f-answer"' not in page  # nothing to answer before dialling


def test_the_page_is_among_those_every_page_check_opens(page_urls):
    assert "/console/phone" in page_urls("admin") and "/console/phone" in page_urls("nurse")


def test_signed_out_the_page_asks_to_sign_in(web, people):
    assert web.get("/console/phone").headers["Location"].startswith("/console/login")
    r = web.post("/console/phone", {"phone": UNKNOWN_PHONE, "action": "dial"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/console/login")


# ---------------------------------------------------------------- a whole session


def test_a_full_session_dial_choose_and_reach_the_end_screen(phone_as):
    phone = phone_as("nurse")
    assert phone.dial("084 123 4567").status_code == 200
    assert phone.screen == UNKNOWN_EN[0]
    assert phone.meta == "CON · waiting for an answer · 126/160 characters"
    assert phone.fields["phone"] == UNKNOWN_PHONE and phone.fields["text"] == ""
    assert re.fullmatch(r"SIMUid_[0-9a-f]{32}", phone.fields["session"])
    assert "Not enrolled: the menu that offers to join" in phone.page
    assert "English (the caller's own)" in phone.page

    phone.send("1")
    assert phone.screen == UNKNOWN_EN[1]
    assert phone.fields["text"] == "1"
    phone.send("1")
    assert phone.screen == UNKNOWN_EN[2]
    assert phone.fields["text"] == "1*1"  # AT's cumulative text
    assert phone.meta.startswith("END · session over")
    assert phone.answer_box is None and "Dial again" in phone.page and "Hang up" not in phone.page

    # The real effect: a request to join, as from a handset; an unknown number is nobody's to audit.
    task = db.session.scalar(select(Task))
    assert (task.kind, task.phone, task.status) == ("enrolment_request", UNKNOWN_PHONE, "open")
    assert played() == []

    # Sending after the END screen is refused; dialling again starts a new session.
    session = phone.fields["session"]
    assert phone.send("1").status_code == 409
    assert "The session has ended: dial again." in phone.page
    phone._post({**phone.fields, "action": "dial"})
    assert phone.screen == UNKNOWN_EN[0] and phone.fields["session"] != session


def test_each_send_is_the_request_post_ussd_makes(phone_as, monkeypatch):
    """The page calls the endpoint's own function with AT's fields: one session id, the cumulative text."""
    seen = []
    real = gateway.ussd.handle

    def spy(request):
        seen.append(request)
        return real(request)

    monkeypatch.setattr(gateway.ussd, "handle", spy)
    phone = phone_as("nurse")
    phone.dial(UNKNOWN_PHONE, network="63903", language="sw")
    phone.send("1")
    phone.send("2")
    assert [(r.path, r.phone, r.network, r.language, r.service_code) for r in seen] == [
        ("", UNKNOWN_PHONE, "63903", "sw", "*384*123#"),
        ("1", UNKNOWN_PHONE, "63903", "sw", "*384*123#"),
        ("1*2", UNKNOWN_PHONE, "63903", "sw", "*384*123#")]
    assert len({r.session_id for r in seen}) == 1


def test_a_resent_form_is_an_at_retry_nothing_is_done_twice(phone_as):
    phone = phone_as("nurse")
    phone.dial(UNKNOWN_PHONE)
    phone.send("1")
    before = dict(phone.fields)
    phone.send("1")
    end = phone.screen
    phone._post({**before, "answer": "1", "action": "send"})  # the browser's reload of the last post
    assert phone.screen == end == UNKNOWN_EN[2]
    assert open_tasks() == 1


def test_the_keypad_types_without_script_and_sends_nothing(phone_as):
    phone = phone_as("nurse")
    phone.dial(UNKNOWN_PHONE)
    phone.key("1")
    assert phone.answer_box == "1" and phone.screen == UNKNOWN_EN[0] and phone.fields["text"] == ""
    phone.key("2", typed="1")
    assert phone.answer_box == "12"
    phone.key("del", typed="12")
    assert phone.answer_box == "1"
    phone.send(phone.answer_box)
    assert phone.screen == UNKNOWN_EN[1]
    assert open_tasks() == 0


def test_language_and_network_change_the_screens(phone_as):
    phone = phone_as("nurse")
    phone.dial(UNKNOWN_PHONE, language="sw")
    assert phone.screen == UNKNOWN_SW_FIRST
    assert "<dd>Kiswahili</dd>" in phone.page
    phone.dial(UNKNOWN_PHONE, network="63903")
    assert phone.meta.endswith("/184 characters")
    phone.dial(UNKNOWN_PHONE, network="63902")
    assert phone.meta.endswith("/160 characters")
    assert phone.dial(UNKNOWN_PHONE, network="12345").status_code == 422
    assert "choose one of the networks listed" in phone.page
    assert phone.dial(UNKNOWN_PHONE, language="xx").status_code == 422


def test_hanging_up_keeps_the_settings_for_the_next_call(phone_as):
    phone = phone_as("nurse")
    phone.dial(UNKNOWN_PHONE, network="63903", language="pt")
    phone.send("1")
    phone.hang_up()
    assert phone.response.status_code == 200 and "You hung up." in phone.page
    assert phone.screen is None and "Ready to dial" in phone.page
    assert f'value="{UNKNOWN_PHONE}"' in phone.page
    assert '<option value="63903" selected>' in phone.page and '<option value="pt" selected>' in phone.page
    assert open_tasks() == 0


def test_a_bad_number_or_session_is_refused_by_the_form(phone_as):
    phone = phone_as("nurse")
    assert phone.dial("011 12").status_code == 422
    assert 'id="err-phone"' in phone.page and phone.screen is None
    phone.dial(UNKNOWN_PHONE)
    # Only the page's own session ids: not a handset's session on Africa's Talking.
    r = phone._post({**phone.fields, "session": "ATUid_" + "0" * 32, "answer": "1", "action": "send"})
    assert r.status_code == 400 and "dial first" in phone.page
    assert open_tasks() == 0


# ---------------------------------------------------------------- real clients: scope and audit


def test_a_coordinator_plays_as_her_own_client_and_it_is_audited_once(phone_as, people, sites, enrol):
    za, _ = sites
    client = enrol(za, "082 123 4567", HOSTILE_NAME, art_days_ago=10)
    phone = phone_as("nurse")
    phone.dial("082 123 4567")
    assert phone.screen == CLIENT_MAIN
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in phone.page and HOSTILE_NAME not in phone.page
    assert "a client of Khayelitsha CHC: the client menu" in phone.page
    assert "real person's number" in phone.page
    phone.send("4")
    assert phone.screen == CLIENT_SETTINGS
    phone.send("0")
    assert phone.screen == CLIENT_MAIN
    entries = played()
    assert [(e.actor, e.entity, e.entity_id) for e in entries] == [(f"user:{people['nurse'].id}", "client", client.id)]
    assert entries[0].changes == {"session": phone.fields["session"], "menu": "client", "network": None,
                                  "language": None}
    phone._post({**phone.fields, "action": "dial"})  # a new session: a new entry
    assert len(played()) == 2


def test_the_client_page_link_fills_in_her_number(as_role, sites, enrol):
    za, ke = sites
    mine = enrol(za, "082 123 4567", "Zodwa")
    theirs = enrol(ke, "0712 345 678", "Akinyi")
    nurse = as_role("nurse")
    assert 'value="+27821234567"' in nurse.text(f"/console/phone?client={mine.id}")
    assert nurse.get(f"/console/phone?client={theirs.id}").status_code == 404


def test_a_coordinator_cannot_play_as_another_sites_client(phone_as, as_role, people, sites, enrol):
    _, ke = sites
    enrol(ke, "0712 345 678", "Akinyi", art_days_ago=10)
    phone = phone_as("nurse")
    assert phone.dial("+254712345678").status_code == 403
    assert "This number is none of these." in phone.page
    assert phone.screen is None and "Akinyi" not in phone.page and "session" not in phone.fields
    assert open_tasks() == 0
    # Not by posting a Send straight away either.
    r = phone._post({"phone": "+254712345678", "network": "", "language": "", "session": "SIMUid_" + "a" * 32,
                     "text": "", "answer": "1", "action": "send"})
    assert r.status_code == 403 and phone.screen is None
    assert played() == []
    # Her own coordinator may; so may an admin.
    for who in ("other", "admin"):
        theirs = phone_as(who)
        theirs.dial("+254712345678")
        assert theirs.screen == CLIENT_MAIN
    assert [e.actor for e in played()] == [f"user:{people['other'].id}", f"user:{people['admin'].id}"]


def test_a_coordinator_plays_as_herself_but_not_as_another_coordinator(phone_as, people):
    nurse, other = people["nurse"], people["other"]
    nurse.phone, other.phone = "+27721234567", "+254722000111"
    nurse.ussd_pin_hash = generate_password_hash("2468", method="pbkdf2:sha256:1000")
    other.ussd_pin_hash = nurse.ussd_pin_hash
    db.session.commit()
    phone = phone_as("nurse")
    phone.dial("072 123 4567")
    assert "You: the coordinator menu, with your USSD PIN" in phone.page
    assert "PIN" in phone.screen
    phone.send("2468")
    assert phone.screen == COORDINATOR_MAIN
    assert [(e.entity, e.entity_id) for e in played()] == [("user", nurse.id)]
    assert phone.dial("+254722000111").status_code == 403


def test_every_send_needs_the_csrf_token(phone_as, as_role):
    phone = phone_as("nurse")
    r = phone.session.post_without_token("/console/phone", {"phone": UNKNOWN_PHONE, "action": "dial"})
    assert r.status_code == 400 and "The form expired" in r.get_data(as_text=True)
    phone.dial(UNKNOWN_PHONE)
    phone.send("1")
    r = phone.session.post_without_token("/console/phone", {**phone.fields, "answer": "1", "action": "send"})
    assert r.status_code == 400 and "The form expired" in r.get_data(as_text=True)
    assert open_tasks() == 0  # the consent was never sent
