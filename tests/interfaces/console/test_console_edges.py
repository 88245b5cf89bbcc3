"""Rough edges seen on a fresh clone (issue 21): the client page's phone line, short-number search,
admin pages for coordinators, readable audit entries."""
from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

import pytest
from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import Alert

CSS = ROOT / "gateway" / "interfaces" / "console" / "static" / "console" / "console.css"


def css_rules() -> list[tuple[list[str], str]]:
    """([selectors], declarations) for every rule of the console's stylesheet, media queries unwrapped."""
    text = re.sub(r"/\*.*?\*/", "", CSS.read_text(), flags=re.S)
    text = re.sub(r"@media[^{]*\{", "", text)
    return [([s.strip() for s in sel.split(",")], body) for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text)]


@pytest.fixture
def thandi(sites, enrol):
    return enrol(sites[0], "082 123 4567", "Thandi", art_days_ago=31, infant_days_old=70)


# --- the client page's phone line -----------------------------------------------------------------

def test_the_client_pages_phone_line_has_its_own_style_not_the_ussd_handsets(as_role, thandi):
    page = as_role("nurse").text(f"/console/clients/{thandi.id}")
    line = re.search(r'<p class="([^"]+)"><a href="tel:\+27821234567">', page)
    assert line, "the phone line is a paragraph with a class"
    classes = line.group(1).split()
    assert "phone" not in classes  # .phone is the USSD phone page's dark handset
    rules = [body for selectors, body in css_rules() if any(s == "." + c for s in selectors for c in classes)]
    assert rules, f"console.css styles none of {classes}"
    assert not any("background" in body for body in rules)  # plain text on the page, readable


# --- search by the last digits --------------------------------------------------------------------

@pytest.mark.parametrize("query", ["0101", "550101", "5550101", "082 555 0101", "0825550101", "+27 82 555 0101"])
def test_the_last_digits_find_a_number_even_when_they_start_with_zero(as_role, sites, enrol, thandi, query):
    lindiwe = enrol(sites[0], "082 555 0101", "Lindiwe")
    page = as_role("nurse").text(f"/console/clients?q={query}")
    assert f"/console/clients/{lindiwe.id}" in page
    assert f"/console/clients/{thandi.id}" not in page


def test_fewer_than_four_digits_find_nothing(as_role, sites, enrol):
    enrol(sites[0], "082 555 0101", "Lindiwe")
    assert "0 found" in as_role("nurse").text("/console/clients?q=101")


# --- admin pages answer 404 to coordinators -------------------------------------------------------

ADMIN_PAGES = ["/console/users", "/console/users/new", "/console/sites", "/console/schedules", "/console/audit",
               "/console/ops"]


@pytest.mark.parametrize("page", ADMIN_PAGES + ["/console/users/{nurse}"])
def test_admin_pages_do_not_exist_for_coordinators(as_role, people, page):
    page = page.format(nurse=people["nurse"].id)
    r = as_role("nurse").get(page)
    assert r.status_code == 404
    text = r.get_data(as_text=True)
    assert "admin" not in text.lower().split("</nav>")[-1]  # nothing says the page is there for someone else
    assert as_role("admin").get(page).status_code == 200


def test_admin_forms_and_actions_do_not_exist_for_coordinators(as_role, people, sites):
    db.session.add(Alert(kind="sending_paused", message="paused"))
    db.session.commit()
    alert_id = db.session.scalar(select(Alert.id))
    nurse = as_role("nurse")
    assert nurse.post("/console/sites", {"name": "Mine", "country": "ZA"}).status_code == 404
    assert nurse.post("/console/users/new", {"email": "x@example.org", "role": "admin"}).status_code == 404
    assert nurse.post(f"/console/alerts/{alert_id}/resolve").status_code == 404
    assert db.session.scalar(select(Alert.resolved_at)) is None


# --- audit entries, readable ----------------------------------------------------------------------

def changes_section(page: str) -> str:
    return page.split("<h2>Changes</h2>", 1)[1]


def test_the_client_pages_changes_are_words_not_json(as_role, thandi):
    nurse = as_role("nurse")
    assert nurse.post(f"/console/clients/{thandi.id}/details", {
        "name": "Thandiwe", "phone": thandi.phone, "language": "en", "reminder_hour": "10"}).status_code == 302
    section = changes_section(nurse.text(f"/console/clients/{thandi.id}"))
    assert "{" not in section and "&#34;" not in section and "[" not in section  # no raw JSON
    assert "Details changed" in section and "Enrolled" in section
    assert "name: Thandi → Thandiwe" in section
    assert re.search(r"reminder hour: \d+ → 10", section)
    assert "client.updated" not in section


def test_the_audit_log_shows_changes_as_lines_too(as_role, thandi):
    nurse = as_role("nurse")
    nurse.post(f"/console/clients/{thandi.id}/details", {
        "name": "Thandiwe", "phone": thandi.phone, "language": "en", "reminder_hour": "9"})
    page = as_role("admin").text("/console/audit?entity=client")
    assert "name: Thandi → Thandiwe" in page and "{&#34;" not in page and '{"name"' not in page


def test_no_word_is_broken_anywhere_but_where_it_must(app):
    """``overflow-wrap: anywhere`` lets a table cell shrink until words break mid-way ("client.enrolle d")."""
    anywhere = {s for selectors, body in css_rules() if "overflow-wrap:anywhere" in body.replace(" ", "")
                for s in selectors}
    assert not anywhere & {"body", "html", "main", "td", "th", "table", "*"}
    body = next(b for selectors, b in css_rules() if "body" in selectors)
    assert "overflow-wrap:break-word" in body.replace(" ", "")  # long names and numbers still fit 360 px


# --- the clinic file number -----------------------------------------------------------------------

def enrol_form(site, **fields):
    base = {"site_id": str(site.id), "phone": "", "name": "", "clinic_number": "", "language": "",
            "reminder_hour": "9", "programme": "", "expected_delivery_date": "", "art.last_dispensed": "",
            "art.days_supply": "", "consent": "yes"}
    return base | fields


def test_enrol_with_a_clinic_number_and_find_her_by_it(as_role, sites, thandi):
    from gateway.core.models import Client

    nurse = as_role("nurse")
    assert 'name="clinic_number"' in nurse.text("/console/enrol")
    r = nurse.post("/console/enrol", enrol_form(sites[0], phone="082 555 0101", name="Lindiwe",
                                                clinic_number=" KH-2024/0153 "))
    assert r.status_code == 302, r.get_data(as_text=True)
    lindiwe = db.session.scalar(select(Client).where(Client.name == "Lindiwe"))
    assert lindiwe.clinic_number == "KH-2024/0153"
    page = nurse.text(f"/console/clients/{lindiwe.id}")
    assert "Clinic number" in page and "KH-2024/0153" in page
    # Search: the exact clinic number finds her (a part of it does not).
    r = nurse.get("/console/clients?q=KH-2024/0153&go=1")
    assert r.status_code == 302 and r.headers["Location"] == f"/console/clients/{lindiwe.id}"
    assert f"/console/clients/{lindiwe.id}" not in nurse.text("/console/clients?q=KH-2024")
    listed = nurse.text("/console/clients?q=KH-2024/0153")
    assert "KH-2024/0153" in listed  # the list shows the number it matched
    # Another site's coordinator finds nothing by it.
    assert f"/console/clients/{lindiwe.id}" not in as_role("other").text("/console/clients?q=KH-2024/0153")


def test_a_clinic_number_used_at_the_site_is_refused_next_to_its_field(as_role, sites, thandi):
    nurse = as_role("nurse")
    assert nurse.post(f"/console/clients/{thandi.id}/details", {
        "name": "Thandi", "phone": thandi.phone, "clinic_number": "153", "language": "en",
        "reminder_hour": str(thandi.reminder_hour)}).status_code == 302
    db.session.refresh(thandi)
    assert thandi.clinic_number == "153"
    r = nurse.post("/console/enrol", enrol_form(sites[0], phone="082 555 0101", clinic_number="153"))
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert 'id="err-clinic_number">already used by another client of this site' in page
    assert 'value="082 555 0101"' in page  # what was typed stays
    # Bad input on the client page, next to the field, nothing changed.
    r = nurse.post(f"/console/clients/{thandi.id}/details", {
        "name": "Thandi", "phone": thandi.phone, "clinic_number": "X" * 31, "language": "en",
        "reminder_hour": str(thandi.reminder_hour)})
    assert r.status_code == 422
    assert 'id="err-d-clinic_number">must be at most 30 characters' in r.get_data(as_text=True)
    db.session.refresh(thandi)
    assert thandi.clinic_number == "153"
    # Emptied: removed.
    assert nurse.post(f"/console/clients/{thandi.id}/details", {
        "name": "Thandi", "phone": thandi.phone, "clinic_number": "", "language": "en",
        "reminder_hour": str(thandi.reminder_hour)}).status_code == 302
    db.session.refresh(thandi)
    assert thandi.clinic_number is None


def test_the_import_page_lists_the_clinic_number_column(as_role, sites):
    assert "clinic_number" in as_role("nurse").text("/console/import")
