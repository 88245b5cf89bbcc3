"""The console in a real browser: headless Chromium (Debian's) driven by Playwright, against a live server.

Skipped, saying why, only where no browser is installed. Screenshots go to
tests/screenshots/ (ignored by git) to look at what a coordinator sees.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import Appointment, AuditEntry, Client
from tests.conftest import ROOT
from tests.fake_texts import fake_all, fresh_texts  # noqa: F401  (a fixture)

PASSWORD = "a long password"  # every test user's (tests/interfaces/console/conftest.py)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "tests" / "screenshots"
NARROW = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no browser: {CHROMIUM} is missing (install Debian's chromium package to run these tests)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Watch:
    """What a page did that it should not: load from elsewhere, log an error (a CSP refusal among them)."""

    def __init__(self, page, base_url: str):
        self.base_url, self.foreign, self.errors = base_url, [], []
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _console(self, msg) -> None:
        # A page answered 401 or 422 on purpose logs "Failed to load resource"; _response judges those.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def _response(self, response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")

    def _request(self, request):
        if not (request.url.startswith(self.base_url + "/") or request.url.startswith("data:")):
            self.foreign.append(request.url)


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def sign_in(page, base_url: str, email: str) -> None:
    page.goto(base_url + "/console/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(base_url + "/console/")


def test_a_coordinator_day(browser, live_server, people, sites, tmp_path):
    """Sign in, enrol one client, upload a CSV with one bad row, open a timeline, record a pick-up, try her USSD
    menus on the USSD phone, sign out."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = context.new_page()
    watch = Watch(page, live_server)

    page.goto(live_server + "/")
    page.click("text=Sign in to the coordinator console")
    page.fill("#f-email", "nurse@example.org")
    page.fill("#f-password", "not the password")
    page.click("button:has-text('Sign in')")
    assert page.is_visible("text=do not match an active account")
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(live_server + "/console/")
    assert page.is_visible("h1:has-text('Today at Khayelitsha CHC')")
    shot(page, "1-today")

    # Enrol one client; a wrong number first, refused next to the field and kept as typed.
    page.click("nav >> text=Enrol")
    page.fill("#f-phone", "011 12")
    page.fill("#f-name", "Thandeka")
    page.check("input[name=consent]")
    page.click("button:has-text('Enrol')")
    assert page.is_visible("#err-phone")
    assert page.input_value("#f-phone") == "011 12" and page.input_value("#f-name") == "Thandeka"
    shot(page, "2-enrol-refused")
    page.fill("#f-phone", "082 555 1234")
    last_pickup = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    page.fill("#f-art-last_dispensed", last_pickup)
    page.fill("#f-art-days_supply", "30")
    page.click("button:has-text('Enrol')")
    page.wait_for_selector("h1:has-text('Thandeka')")
    assert page.is_visible("text=+27825551234")
    shot(page, "3-enrolled")

    # Upload a CSV with one bad row: progress, then the report and the refused rows to download.
    csv_file = tmp_path / "register.csv"
    csv_file.write_text("consent,phone,name,art_last_dispensed,art_days_supply\n"
                        f"yes,082 555 0001,Lindiwe,{last_pickup},30\n"
                        "yes,not a phone,Bad Row,,\n"
                        f"yes,+27 82 555 0002,Zanele,{last_pickup},60\n")
    page.click("nav >> text=Import")
    page.set_input_files("#f-file", str(csv_file))
    page.click("button:has-text('Upload and import')")
    page.wait_for_selector("h1:has-text('Import report')")
    assert page.inner_text(".cards").split() == ["3", "rows", "read", "2", "enrolled", "0", "already", "enrolled",
                                                 "1", "refused"]
    assert page.is_visible("td:has-text('phone:')")
    shot(page, "4-import-report")
    with page.expect_download() as download:
        page.click("text=Download refused rows (CSV)")
    refused = Path(download.value.path()).read_text()
    # The refused row whole, as uploaded, with the reason last.
    assert refused.splitlines()[0] == "consent,phone,name,art_last_dispensed,art_days_supply,reason"
    assert refused.splitlines()[1].startswith("yes,not a phone,Bad Row,,,phone:")

    # Find a client by phone, written another way, and record her pick-up on her timeline.
    page.click("nav >> text=Clients")
    page.fill("#f-q", "+27825550001")
    page.click("button:has-text('Search')")
    page.wait_for_selector("h1:has-text('Lindiwe')")
    assert page.is_visible("text=Medicine pick-up: ART refill")
    page.click("summary:has-text('Record a medicine pick-up')")
    page.fill("#f-pickup-date", dt.date.today().isoformat())
    page.fill("#f-pickup-days_supply", "60")
    page.click("button:has-text('Record pick-up')")
    page.wait_for_selector("text=Pick-up recorded.")
    shot(page, "5-timeline")

    # Try her USSD menus on the page's phone: dial as her, type on the keypad, send, read the next screen.
    page.click("nav >> text=USSD phone")
    page.fill("#f-phone", "082 555 0001")
    page.click("button:has-text('Dial')")
    page.wait_for_selector("#ussd-screen")
    assert page.inner_text("#ussd-screen").startswith("Clinic reminders\n1. My next visit")
    assert page.is_visible("text=Lindiwe, a client of Khayelitsha CHC: the client menu")
    page.click("#keypad >> text=4")  # the script types it: no request yet
    assert page.input_value("#f-answer") == "4"
    page.click("button:has-text('Send')")
    page.wait_for_selector("#ussd-screen:has-text('My settings')")
    assert page.inner_text("#ussd-screen") == "My settings\n1. Language\n2. Reminder time\n3. Stop SMS\n" \
                                               "4. Set a PIN\n0. Back"
    page.set_viewport_size(NARROW)  # a call in progress fits a phone's width too
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "6-ussd-phone")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.click("button:has-text('Hang up')")
    page.wait_for_selector("text=You hung up.")

    page.click("button:has-text('Sign out')")
    page.wait_for_selector("text=You are signed out.")
    page.goto(live_server + "/console/")
    assert page.url.startswith(live_server + "/console/login")
    context.close()

    assert watch.foreign == [] and watch.errors == []
    db.session.expire_all()
    lindiwe = db.session.scalar(select(Client).where(Client.phone == "+27825550001"))
    refill = db.session.scalar(select(Appointment).where(Appointment.client_id == lindiwe.id,
                                                         Appointment.status == "due"))
    assert refill.due_date == dt.date.today() + dt.timedelta(days=60)
    assert lindiwe.site_id == sites[0].id
    nurse = f"user:{people['nurse'].id}"
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor == nurse)))
    assert {"user.signed_in", "client.enrolled", "art.dispensed", "ussd_phone.played", "user.signed_out"} <= actions


@pytest.mark.parametrize("who", ["admin", "nurse"])
def test_every_page_fits_360_px_and_loads_nothing_from_elsewhere(browser, live_server, seeded, people, page_urls,
                                                                who):
    context = browser.new_context(viewport=NARROW, accept_downloads=False)
    page = context.new_page()
    watch = Watch(page, live_server)
    page.goto(live_server + "/console/login")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "login page"
    sign_in(page, live_server, people[who].email)
    too_wide = {}
    for url in page_urls(who):
        page.goto(live_server + url)
        # Open every folded section: what is inside must fit too.
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 360:
            too_wide[url] = width
        name = url.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "root"
        shot(page, f"360-{who}-{name}"[:120])
    context.close()
    assert too_wide == {}
    assert watch.foreign == []
    assert watch.errors == []


def test_the_client_page_reads_well_at_360_px(browser, live_server, seeded, people):
    """Her phone line is dark text on the page (not the USSD handset's dark box), and her changes are words, each
    action on one line: nothing is broken mid-word ("client.enrolle d")."""
    from gateway.clients import enrolment

    client = seeded["hostile"]
    enrolment.update(client, {"name": "Zodwa Dlamini", "reminder_hour": 10}, f"user:{people['nurse'].id}")
    db.session.commit()
    for who, url in (("nurse", f"/console/clients/{client.id}"), ("admin", "/console/audit")):
        context = browser.new_context(viewport=NARROW)
        page = context.new_page()
        sign_in(page, live_server, people[who].email)
        page.goto(live_server + url)
        shot(page, f"360-readable-{who}")
        if who == "nurse":
            line = page.evaluate("""() => { const p = document.querySelector('a[href^="tel:"]').parentElement;
                const s = getComputedStyle(p); return [p.className, s.backgroundColor, s.color]; }""")
            assert line[0] != "phone" and line[1] == "rgba(0, 0, 0, 0)", line  # no box: the page's white
            assert page.evaluate("getComputedStyle(document.querySelector('a[href^=\"tel:\"]')).color") \
                == "rgb(11, 92, 173)"  # the console's link colour, on white
        labels = page.evaluate("""() => [...document.querySelectorAll('.audit-action')].map(
            e => [e.textContent, e.getClientRects().length])""")
        assert labels and all(lines == 1 for _, lines in labels), labels
        assert "Details changed" in [text for text, _ in labels]
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        wraps = page.evaluate("""() => [...document.querySelectorAll('td, ul.changes li')].map(
            e => getComputedStyle(e).overflowWrap)""")
        assert "anywhere" not in wraps
        context.close()


def test_a_language_round_trips_as_a_po_file(browser, live_server, people, fresh_texts, tmp_path):
    """A translator downloads the PO file, fills in the one missing text in her own tool, and imports it:
    the page says what changed and the language, complete now, is offered."""
    fake_all("xh", leave_out=("ussd.back",))
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = context.new_page()
    watch = Watch(page, live_server)
    sign_in(page, live_server, people["admin"].email)
    page.goto(live_server + "/console/translations/xh")
    page.click("summary:has-text('PO file')")  # the offline way is folded away until asked for
    with page.expect_download() as download:
        page.click("text=Download xh.po")
    assert download.value.suggested_filename == "xh.po"
    po = Path(download.value.path()).read_text(encoding="utf-8")
    missing = 'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr ""'
    assert missing in po  # the one text still to write
    edited = tmp_path / "xh.po"
    edited.write_text(po.replace(missing, 'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr "BACK"'), encoding="utf-8")
    page.set_input_files("#po-file", str(edited))
    page.click("button:has-text('Import')")
    page.wait_for_selector("text=xh.po: 1 texts changed")
    assert page.is_visible("#language-status >> text=Clients may choose isiXhosa")
    shot(page, "console-translation-po-imported")
    context.close()
    assert watch.foreign == [] and watch.errors == []


def test_a_translation_checked_as_typed_and_a_language_going_live(browser, live_server, people, fresh_texts):
    """An admin types a text that breaks a check and sees which, corrects it, saves it reviewed: the language,
    complete now, is offered at enrolment. (The other texts are fake markers in the test database.)"""
    fake_all("xh", leave_out=("ussd.back",))
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watch = Watch(page, live_server)
    sign_in(page, live_server, people["admin"].email)
    page.click("nav >> text=Translations")
    assert page.is_visible("#lang-xh >> text=not offered")
    page.click("text=isiXhosa")
    box = "#t-ussd-back-text"
    checks = "#t-ussd-back .checks"
    page.fill(box, "B" * 150)
    page.wait_for_selector(f"{checks} >> text=USSD screen length")
    assert page.get_attribute(box, "aria-invalid") == "true"
    page.locator("#t-ussd-back").screenshot(path=str(SHOTS / "console-translation-refused.png"))
    page.fill(box, "BACK")
    page.wait_for_selector(f"{checks} >> text=All checks pass.")
    assert page.is_visible(f"{checks} >> text=Longest USSD screen in this language")
    page.click("#t-ussd-back >> button:has-text('Save reviewed')")
    page.wait_for_selector("text=isiXhosa is offered to clients.")
    assert page.is_visible("#language-status >> text=Clients may choose isiXhosa")
    page.screenshot(path=str(SHOTS / "console-translation-live.png"))
    page.click("nav >> text=Enrol")
    assert page.locator("#f-language option[value=xh]").count() == 1
    context.close()
    assert watch.foreign == [] and watch.errors == []


def test_a_broadcast_previewed_refused_corrected_and_sent_to_the_outbox(browser, live_server, people, sites, enrol):
    """A coordinator writes to her site's clients: a disclosing word is refused at preview, the corrected text
    shows its reach and is sent; the copies go to the outbox in each client's send window."""
    from gateway.core import clock
    from gateway.messages import set_opt_out
    from gateway.core.models import Broadcast, Message
    from gateway.messages import dispatch

    za, ke = sites
    thandi = enrol(za, "082 100 0001", "Thandi")
    zodwa = enrol(za, "082 100 0002", "Zodwa")
    set_opt_out(zodwa, True, "test", confirm=False)
    enrol(ke, "0712 345 678", "Akinyi")  # another site's: never reached
    db.session.commit()

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watch = Watch(page, live_server)
    sign_in(page, live_server, "nurse@example.org")
    page.click("nav >> text=Broadcasts")
    page.wait_for_selector("h1:has-text('Broadcasts')")
    page.fill("#f-text", "Bring your ARV card: the clinic is closed this Friday.")
    page.click("button:has-text('Preview')")
    page.wait_for_selector("#broadcast-preview")
    assert "refused, it names ARV" in page.inner_text("#pv-disclosure")
    assert page.is_visible("#err-text") and not page.is_visible("#broadcast-confirm")
    shot(page, "7-broadcast-refused")

    text = "The clinic is closed this Friday. Please come on Monday instead."
    page.fill("#f-text", text)
    page.click("button:has-text('Preview')")
    page.wait_for_selector("#broadcast-confirm")
    assert page.inner_text("#pv-disclosure") == "Discretion check: passed"
    assert page.inner_text("#pv-parts").startswith(f"{len(text)} characters, 1 SMS part")
    assert page.inner_text("#pv-recipients").startswith("1 client will get it")
    assert page.inner_text("#pv-left-out").startswith("Left out: 1 who said STOP")
    shot(page, "8-broadcast-preview")
    page.click("button:has-text('Send to 1 client')")
    page.wait_for_selector("text=Broadcast queued for 1 client")
    assert text in page.inner_text("#broadcast-list")
    page.set_viewport_size(NARROW)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "9-broadcast-sent")
    context.close()
    assert watch.foreign == [] and watch.errors == []

    db.session.expire_all()
    broadcast = db.session.scalar(select(Broadcast))
    assert (broadcast.text, broadcast.recipients, broadcast.skipped_opted_out) == (text, 1, 1)
    [copy] = db.session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)).all()
    assert copy.client_id == thandi.id
    # The dispatch pass at the copy's moment (now, or when her window next opens): into the outbox.
    jobs = []
    with clock.frozen(copy.next_attempt_at):
        dispatch.send_due(copy.next_attempt_at, enqueue=jobs.append)
        for ids in jobs:
            dispatch.send_messages(ids)
    db.session.expire_all()
    assert db.session.get(Message, copy.id).status == "outbox"


@pytest.mark.parametrize("viewport", [{"width": 1100, "height": 900}, NARROW])
def test_programme_numbers_and_the_clients_behind_them(browser, live_server, seeded, people, viewport):
    """A coordinator opens Programme, reads a number and its chart, follows it to the clients behind it
    (her site's only, phones masked) and downloads the list."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    watch = Watch(page, live_server)
    sign_in(page, live_server, "nurse@example.org")
    page.goto(live_server + "/console/programme")
    assert page.is_visible("h1:has-text('Programme')")
    assert page.locator("#i-clients_active svg.chart").count() == 1
    assert page.is_visible("text=observational comparison, not a trial")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shot(page, f"programme-{viewport['width']}")
    page.click("#i-clients_active p.big a >> nth=0")
    page.wait_for_selector("h1:has-text('Clients in care: 2')")
    text = page.inner_text("main")
    assert seeded["hostile"].phone not in text and "+278******67" in text
    assert "Akinyi" not in text  # another site's client
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shot(page, f"programme-list-{viewport['width']}")
    with page.expect_download() as download:
        page.click("text=Download this list (CSV)")
    assert download.value.suggested_filename.startswith("clients_active-all-")
    context.close()
    assert watch.foreign == [] and watch.errors == []
