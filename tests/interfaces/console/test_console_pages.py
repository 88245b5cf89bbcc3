"""Every page, for each role: it renders, weighs little, and references nothing outside this server."""
from __future__ import annotations

import re

import pytest

EXTERNAL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""", re.IGNORECASE)


@pytest.mark.parametrize("who", ["admin", "nurse"])
def test_every_page_renders_without_external_urls(as_role, seeded, page_urls, who):
    session = as_role(who)
    urls = page_urls(who)
    assert len(urls) >= (18 if who == "admin" else 11)
    for url in urls:
        response = session.get(url, follow_redirects=True)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        found = [m for m in EXTERNAL.findall(page) if not m.startswith("//localhost")]
        assert found == [], (url, found)
        # A slow connection's budget. The Translations page of a language is the exception: it holds every
        # text of the catalogue beside the English with its editor (an admin's desk work, not a field page).
        budget = 200_000 if url.startswith("/console/translations/") else 120_000
        assert len(response.data) < budget, (url, len(response.data))


def test_signed_out_pages_have_no_external_urls(web, people):
    for url in ("/", "/console/login"):
        page = web.text(url)
        assert EXTERNAL.findall(page) == [], url


def test_static_files_are_small_and_self_contained(web):
    css = web.get("/console/static/console/console.css")
    js = web.get("/console/static/console/console.js")
    assert css.status_code == js.status_code == 200
    assert len(css.data) < 12_000 and len(js.data) < 6_000
    for body in (css.data, js.data):
        assert b"http://" not in body and b"https://" not in body and b"@import" not in body


def test_the_start_page_leads_to_the_console(web, as_role):
    assert "/console/login" in web.text("/")
    r = as_role("nurse").get("/")
    assert r.status_code == 302 and r.headers["Location"] == "/console/"
