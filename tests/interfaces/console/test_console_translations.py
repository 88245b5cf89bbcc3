"""The Translations page through the HTTP client: admins only, checks on save, review, a language going live.

Texts in the language under test are fake markers (tests/fake_texts.py), in the test database only.
"""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from gateway import i18n, translations
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Translation
from tests.fake_texts import fake_all, fresh_texts  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("fresh_texts")
LANG = "xh"


def save(key: str, text: str, state: str) -> dict:
    """The page's form as its button for ``key`` sends it."""
    return {"save": f"{state}:{key}", f"text:{key}": text}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("method,url", [
    ("get", "/console/translations"), ("get", "/console/translations/xh"), ("get", "/console/translations/xh.po"),
    ("post", "/console/translations/xh"), ("post", "/console/translations/xh/check"),
    ("post", "/console/translations/xh/import"),
])
def test_coordinators_get_404(as_role, method, url):
    nurse = as_role("nurse")
    response = nurse.get(url) if method == "get" else nurse.post(url, save("ussd.back", "BACK", "reviewed"))
    assert response.status_code == 404
    assert count(Translation) == 0


def test_the_list_shows_each_language_with_its_gaps(as_role):
    page = as_role("admin").text("/console/translations")
    assert '<a href="/console/translations">Translations</a>' in page
    assert "isiZulu" in page and "isiXhosa" in page and "Bemba" in page and 'id="lang-en"' not in page
    row = page.split('id="lang-zu"')[1].split("</tr>")[0]
    texts = len(translations.entries("zu"))  # every English text is one to translate
    assert f"0 / {texts}" in row and f">{texts}<" in row and "not offered" in row
    assert "offered" in page.split('id="lang-pt"')[1].split("</tr>")[0]
    assert as_role("admin").get("/console/translations/fr").status_code == 404
    assert as_role("admin").get("/console/translations/en").status_code == 404  # English is the source


def test_a_text_failing_a_check_is_refused_naming_the_check(as_role):
    admin = as_role("admin")
    r = admin.post("/console/translations/xh", save("label.art_refill", "HIV CLINIC", "reviewed"))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "label.art_refill: not saved. discretion: discloses (HIV)" in page
    assert "HIV CLINIC</textarea>" in page  # what she typed stays, beside the reason
    r = admin.post("/console/translations/xh", save("sms.reminder.before", "REMINDER {what}", "draft"))
    assert r.status_code == 422 and "placeholders kept" in r.get_data(as_text=True)
    r = admin.post("/console/translations/xh", save("ussd.back", "B" * 150, "draft"))
    assert r.status_code == 422 and "USSD screen length" in r.get_data(as_text=True)
    assert count(Translation) == 0
    assert db.session.scalar(select(func.count()).where(AuditEntry.entity == "translation")) == 0


def check(session, key: str, text: str) -> dict:
    """What the page's script asks as a text is typed: JSON, with the CSRF token in a header as the script sends it."""
    response = session._send("post", "/console/translations/xh/check", json={"key": key, "text": text},
                             headers={"X-CSRFToken": session.token()})
    assert response.status_code == 200
    return response.get_json()


def test_the_live_check_answers_as_saving_would(as_role):
    admin = as_role("admin")
    answer = check(admin, "sms.opt_in.confirm", "ŋ" * 80)
    assert answer["ok"] is False and answer["gsm7"] is False and answer["sms_parts"] == 2
    assert [p["name"] for p in answer["problems"]] == ["one SMS part"]
    answer = check(admin, "ussd.back", "BACK")
    assert answer["ok"] is True and answer["screen_limit"] == 160 and 0 < answer["screen_chars"] <= 160


def test_edit_review_and_the_language_goes_live(as_role, sites):
    admin = as_role("admin")
    fake_all(LANG, leave_out=("ussd.back",))
    assert ">1<" in admin.text("/console/translations").split('id="lang-xh"')[1].split("</tr>")[0]  # 1 missing
    assert 'value="xh"' not in admin.text("/console/enrol")
    r = admin.post("/console/translations/xh", save("ussd.back", "BACK", "draft"))
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/console/translations/xh?saved=ussd.back#t-ussd-back")
    page = admin.text("/console/translations/xh?saved=ussd.back")
    assert "1 in draft" in page and "not offered" in page and "Saved as draft." in page
    assert "by Ada Admin" in page  # who changed it, by name
    assert i18n.render("ussd.back", LANG) == "Back"  # clients never see a draft
    r = admin.post("/console/translations/xh", save("ussd.back", "BACK", "reviewed"))
    assert r.status_code == 302
    page = admin.text("/console/translations/xh")
    assert "ussd.back: saved as reviewed. isiXhosa is offered to clients." in page
    assert "Clients may choose isiXhosa" in page
    assert i18n.render("ussd.back", LANG) == "BACK" and LANG in i18n.offered_languages()
    # Now offered where clients are enrolled and changed.
    assert 'value="xh">isiXhosa</option>' in admin.text("/console/enrol")
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "translation").order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor, e.changes.get("state")) for e in entries] == [
        ("translation.saved", f"user:{entries[0].actor[5:]}", [None, "draft"]),
        ("translation.saved", f"user:{entries[0].actor[5:]}", ["draft", "reviewed"])]


def test_the_client_edit_form_offers_only_complete_languages_and_keeps_hers(as_role, sites, enrol):
    za, _ = sites
    thandi = enrol(za, "082 123 4567", "Thandi")
    thandi.language = "zu"  # chosen before isiZulu was withdrawn: still hers, still choosable for her
    db.session.commit()
    page = as_role("admin").text(f"/console/clients/{thandi.id}")
    options = page.split('id="f-d-language"')[1].split("</select>")[0]
    assert 'value="zu"' in options and 'value="st"' not in options and 'value="xh"' not in options
    r = as_role("admin").post(f"/console/clients/{thandi.id}/details",
                              {"name": "Thandi", "phone": "082 123 4567", "language": "zu", "reminder_hour": "9"})
    assert r.status_code == 302
    r = as_role("admin").post(f"/console/clients/{thandi.id}/details",
                              {"name": "Thandi", "phone": "082 123 4567", "language": "st", "reminder_hour": "9"})
    assert r.status_code == 422 or "not offered" in r.get_data(as_text=True)
    db.session.expire_all()
    assert thandi.language == "zu"


def test_po_export_and_import_through_the_page(as_role):
    admin = as_role("admin")
    r = admin.get("/console/translations/xh.po")
    assert r.status_code == 200 and r.headers["Content-Disposition"] == 'attachment; filename="xh.po"'
    po = r.get_data(as_text=True)
    bad = po.replace('msgctxt "label.own_visit"\nmsgid "your clinic visit"\nmsgstr ""',
                     'msgctxt "label.own_visit"\nmsgid "your clinic visit"\nmsgstr "YOUR HIV VISIT"')
    bad = bad.replace('msgctxt "ussd.back"\nmsgid "Back"\nmsgstr ""', 'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr "BACK"')
    r = admin.post("/console/translations/xh/import", {"file": (io.BytesIO(bad.encode()), "xh.po")},
                   content_type="multipart/form-data")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "nothing imported" in page
    assert "label.own_visit: discretion: msgid &#39;your clinic visit&#39;: discloses (HIV)" in page
    assert count(Translation) == 0
    good = bad.replace("YOUR HIV VISIT", "YOUR CLINIC VISIT")
    good = good.replace('msgctxt "ussd.more"\nmsgid "More"\nmsgstr ""', '#, fuzzy\nmsgctxt "ussd.more"\nmsgid "More"\nmsgstr "MORE"')
    r = admin.post("/console/translations/xh/import", {"file": (io.BytesIO(good.encode()), "xh.po")},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    assert "xh.po: 3 texts changed (1 as drafts), 0 unchanged." in admin.text("/console/translations/xh")
    assert {key: state for key, state in db.session.execute(select(Translation.key, Translation.state))} == {
        "label.own_visit": "reviewed", "ussd.back": "reviewed", "ussd.more": "draft"}
