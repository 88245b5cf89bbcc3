"""Texts written by programme staff: their checks, PO files, and a language offered only when complete.

No real translation is written here: texts in the language under test are
clearly fake markers (``tests/fake_texts.py``) kept in the test database only.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from gateway import i18n, translations
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Translation
from tests import fake_texts
from tests.fake_texts import fake, fresh_texts  # noqa: F401  (a fixture)

LANG = "xh"  # empty in the shipped files: not offered until every text is reviewed


@pytest.fixture(autouse=True)
def _fresh(fresh_texts):
    """Every test starts and ends with the shipped texts only."""


def fake_all(lang: str = LANG, **kwargs) -> None:
    fake_texts.fake_all(lang, **kwargs)


def problems(report) -> list[str]:
    return [p.check for p in report.problems]


# ---------------------------------------------------------------- the checks (one text)


def test_a_good_text_passes_and_reports_its_sms_facts():
    report = translations.check_text(LANG, "sms.opt_in.confirm", fake(i18n.render("sms.opt_in.confirm", "en")))
    assert report.problems == []
    assert report.gsm7 is True and report.sms_parts == 1 and report.sms_chars == 53
    assert report.screen_chars <= report.screen_limit == 160


def test_placeholders_must_be_kept():
    report = translations.check_text(LANG, "sms.reminder.before", "REMINDER ON {date}.")
    assert problems(report) == ["placeholders"]
    assert "{what}" in str(report.problems[0]) or "'what'" in str(report.problems[0])
    assert problems(translations.check_text(LANG, "sms.reminder.before", "{what} {date} {name}")) == ["placeholders"]
    assert problems(translations.check_text(LANG, "sms.reminder.before", "{what} {date")) == ["placeholders"]


def test_a_default_sms_or_label_may_not_disclose():
    report = translations.check_text(LANG, "label.art_refill", "HIV CLINIC")
    assert problems(report) == ["discretion"]
    assert "HIV" in report.problems[0].message
    # Explicit wording is the one opt-in exception.
    assert translations.check_text(LANG, "sms.explicit.label.art_refill", "ARV").problems == []


def test_a_ussd_screen_before_the_pin_may_not_disclose():
    title = translations.check_text(LANG, "ussd.client.settings.title", "ART SETTINGS")
    assert "discretion" in problems(title)
    assert "shown before a PIN" in str(title.problems[0])


def test_every_sms_must_stay_one_part_with_the_longest_values():
    long_label = "Y" * 120  # a label that fits nowhere once a reminder joins two of them
    report = translations.check_text(LANG, "label.own_visit", long_label)
    assert "sms" in problems(report)
    assert any("sms.reminder" in p.message and "parts" in p.message for p in report.problems)
    ucs2 = translations.check_text(LANG, "sms.opt_out.confirm", "ŋ" * 71)  # no GSM-7 spelling: 70 a part
    assert problems(ucs2) == ["sms"] and ucs2.gsm7 is False and ucs2.sms_parts == 2


def test_every_ussd_screen_must_fit_the_smallest_limit():
    report = translations.check_text(LANG, "ussd.back", "B" * 150)
    assert "ussd" in problems(report)
    assert "over the limit of 160" in report.problems[0].message


def test_lists_keep_their_length_and_unknown_keys_are_refused():
    assert problems(translations.check_text(LANG, "date.weekdays", "A\nB\nC")) == ["list"]
    assert translations.check_text(LANG, "date.weekdays", "\n".join("MTWTFSS")).problems == []
    assert problems(translations.check_text(LANG, "no.such.key", "x")) == ["key"]
    assert problems(translations.check_text(LANG, "ussd.back", "   ")) == ["empty"]


# ---------------------------------------------------------------- saving, audit, offered languages


def test_save_refuses_a_failing_text_and_keeps_nothing():
    with pytest.raises(translations.TranslationError) as refused:
        translations.save(LANG, "label.art_refill", "HIV", "reviewed", "user:1")
    assert "discretion" in str(refused.value)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Translation)) == 0


def test_save_is_audited_and_only_reviewed_texts_reach_clients():
    translations.save(LANG, "ussd.back", "BACK", "draft", "user:7")
    db.session.commit()
    translations.changed()
    assert i18n.render("ussd.back", LANG) == "Back"  # a draft is for staff only
    translations.save(LANG, "ussd.back", "BACK", "reviewed", "user:7")
    db.session.commit()
    translations.changed()
    assert i18n.render("ussd.back", LANG) == "BACK"
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "translation")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action) for e in entries] == [("user:7", "translation.saved")] * 2
    assert entries[0].changes == {"language": LANG, "key": "ussd.back", "text": [None, "BACK"],
                                  "state": [None, "draft"]}
    assert entries[1].changes == {"language": LANG, "key": "ussd.back", "state": ["draft", "reviewed"]}


def test_a_language_is_offered_only_when_every_text_is_reviewed():
    assert i18n.offered_languages() == ("en", "pt", "sw")
    fake_all(leave_out=("ussd.back",))
    assert LANG not in i18n.offered_languages()
    status = next(s for s in translations.statuses() if s.code == LANG)
    assert (status.missing, status.draft, status.offered) == (1, 0, False)
    translations.save(LANG, "ussd.back", "BACK", "draft", "test")
    db.session.commit()
    translations.changed()
    status = next(s for s in translations.statuses() if s.code == LANG)
    assert (status.missing, status.draft, status.offered) == (0, 1, False)
    translations.save(LANG, "ussd.back", "BACK", "reviewed", "test")
    db.session.commit()
    translations.changed()
    assert i18n.offered_languages() == ("en", "pt", "sw", LANG)


def test_another_process_sees_a_change_through_the_redis_token():
    fake_all()
    assert LANG in i18n.offered_languages()
    i18n.install({})  # as a process whose copy is older
    translations.refresh()  # checked less than a second ago: Redis is not even asked
    assert LANG not in i18n.offered_languages()
    translations.refresh(force=True)  # asked now: the token is the one this copy was loaded with
    assert LANG not in i18n.offered_languages()
    translations._loaded["token"] = "an older token"  # another process changed a text since
    translations.refresh(force=True)
    assert LANG in i18n.offered_languages()


# ---------------------------------------------------------------- PO files


def test_po_round_trip_keeps_texts_and_drafts():
    fake_all(leave_out=("ussd.back", "ussd.more"))
    translations.save(LANG, "ussd.more", "MORE", "draft", "test")
    db.session.commit()
    po = translations.export_po(LANG).decode()
    assert 'Language: xh' in po
    assert 'msgctxt "ussd.more"' in po and '#, fuzzy\nmsgctxt "ussd.more"' in po
    assert 'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr ""' in po
    # Filled in elsewhere (a PO editor), the file comes back: a reviewed text in force, a fuzzy one a draft.
    edited = po.replace('msgctxt "ussd.back"\nmsgid "Back"\nmsgstr ""', 'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr "BACK"')
    result = translations.import_po(LANG, edited.encode(), "cli")
    db.session.commit()
    translations.changed()
    assert (result.changed, result.drafts) == (1, 0)
    assert i18n.render("ussd.back", LANG) == "BACK"
    assert db.session.scalar(select(Translation.state).where(Translation.key == "ussd.more")) == "draft"
    assert translations.export_po(LANG).decode() == edited.replace(  # the same file again, dates aside
        re.search(r'"POT-Creation-Date: [^"]*"', edited).group(0),
        re.search(r'"POT-Creation-Date: [^"]*"', translations.export_po(LANG).decode()).group(0))


def test_an_import_that_breaks_a_check_is_refused_whole_naming_the_msgid():
    po = translations.export_po(LANG).decode()
    po = po.replace('msgctxt "ussd.back"\nmsgid "Back"\nmsgstr ""', 'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr "BACK"')
    po = po.replace('msgctxt "label.own_visit"\nmsgid "your clinic visit"\nmsgstr ""',
                    'msgctxt "label.own_visit"\nmsgid "your clinic visit"\nmsgstr "YOUR HIV CLINIC VISIT"')
    with pytest.raises(translations.TranslationError) as refused:
        translations.import_po(LANG, po.encode(), "cli")
    db.session.rollback()
    message = str(refused.value)
    assert "label.own_visit: discretion: msgid 'your clinic visit'" in message
    assert db.session.scalar(select(func.count()).select_from(Translation)) == 0  # not even ussd.back


def test_an_import_whose_texts_only_fail_together_names_them():
    # Each screen line is fine alone; a far too long label pushes every SMS that names it over one part.
    po = translations.export_po(LANG).decode()
    po = po.replace('msgctxt "label.own_visit"\nmsgid "your clinic visit"\nmsgstr ""',
                    'msgctxt "label.own_visit"\nmsgid "your clinic visit"\nmsgstr "' + "Y" * 120 + '"')
    with pytest.raises(translations.TranslationError) as refused:
        translations.import_po(LANG, po.encode(), "cli")
    assert any(p.key == "label.own_visit" and p.check == "sms" for p in refused.value.problems)


def test_an_import_translated_from_other_english_is_refused():
    po = translations.export_po(LANG).decode().replace(
        'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr ""', 'msgctxt "ussd.back"\nmsgid "Go back"\nmsgstr "BACK"')
    with pytest.raises(translations.TranslationError) as refused:
        translations.import_po(LANG, po.encode(), "cli")
    assert refused.value.problems[0].check == "source"
    with pytest.raises(translations.TranslationError):
        translations.import_po(LANG, b"this is not a PO file \"", "cli")


def test_cli_export_and_import(runner, tmp_path):
    out = tmp_path / "xh.po"
    result = runner.invoke(args=["translations", "export", LANG, "-o", str(out)])
    assert result.exit_code == 0, result.output
    out.write_text(out.read_text().replace('msgctxt "ussd.back"\nmsgid "Back"\nmsgstr ""',
                                           'msgctxt "ussd.back"\nmsgid "Back"\nmsgstr "HIV"'))
    result = runner.invoke(args=["translations", "import", LANG, str(out)])
    assert result.exit_code == 1 and "nothing imported" in result.output
    assert "ussd.back" in result.output and "msgid 'Back'" in result.output
    out.write_text(out.read_text().replace('msgstr "HIV"', 'msgstr "BACK"'))
    result = runner.invoke(args=["translations", "import", LANG, str(out)])
    assert result.exit_code == 0, result.output
    texts = len(translations.entries(LANG))  # every English text is one to translate
    assert "1 texts changed" in result.output and f"not offered yet: {texts - 1} missing" in result.output
    assert runner.invoke(args=["translations", "export", "fr"]).exit_code == 2
    status = runner.invoke(args=["translations", "status"]).output
    assert f"xh   isiXhosa     1/{texts} reviewed; not offered: {texts - 1} missing, 0 in draft" in status


# ---------------------------------------------------------------- offered languages where clients choose


def test_the_api_refuses_an_incomplete_language_naming_the_field(client, admin_headers):
    r = client.post("/api/v1/clients", headers=admin_headers,
                    json={"phone": "082 123 4567", "consent": True, "language": LANG})
    assert r.status_code == 422
    assert "language" in r.get_json()["fields"] and "not offered" in r.get_json()["fields"]["language"]
    fake_all()
    r = client.post("/api/v1/clients", headers=admin_headers,
                    json={"phone": "082 123 4567", "consent": True, "language": LANG})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["language"] == LANG
