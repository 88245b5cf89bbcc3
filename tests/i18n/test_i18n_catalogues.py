"""The catalogues: English complete, others checked, gaps listed, English as the per-text fallback."""
import datetime as dt

import pytest

import menus
from gateway import i18n
from gateway.core.countries import LANGUAGES
from gateway.i18n import CatalogueError, check_catalogues, gaps, read_catalogue, render

# The texts the rest of the gateway renders by name (the reminder sender, messaging).
SENT_BY_NAME = [
    "sms.reminder.before", "sms.reminder.today", "sms.reminder.missed", "sms.opt_out.confirm", "sms.opt_in.confirm",
    "sms.welcome",
    "label.art_refill", "label.child_art_refill", "label.immunisation", "label.infant_hiv_test", "label.own_visit",
    "label.join_and", "sms.explicit.label.child_art_refill",
    "sms.explicit.label.art_refill", "sms.explicit.label.infant_hiv_test", "sms.explicit.label.immunisation",
    "date.weekdays", "date.months", "date.short", "date.with_year", "keywords.stop", "keywords.start",
]
# The engine's own screens (PIN prompt, navigation, reasons).
ENGINE_KEYS = ["ussd.yes", "ussd.no", "ussd.more", "ussd.back", "ussd.visit_line", "ussd.unavailable", "ussd.failed",
               "ussd.pin.prompt", "ussd.pin.wrong", "ussd.pin.locked", "ussd.pin.not_set", "ussd.error.choice",
               *{e for v in menus.VALIDATORS.values() for e in v.errors}]


def test_every_language_has_a_catalogue_and_all_load():
    assert set(i18n.catalogues()) == set(LANGUAGES)


def test_english_has_no_gaps():
    used = set(SENT_BY_NAME) | set(ENGINE_KEYS)
    for name in menus.MENU_NAMES:
        used |= menus.get(name).keys()
    assert sorted(used - set(i18n.keys())) == []
    assert gaps()["en"] == []


def test_gaps_per_language(record_property, capsys):
    """Lists what each language still lacks (these texts show in English). Passes: gaps are allowed."""
    found = gaps()
    total = len(i18n.keys())
    with capsys.disabled():
        print()
        for lang, missing in found.items():
            if len(missing) == total:
                listed = "nothing translated yet, every text falls back to English"
            else:
                listed = f"{len(missing)} missing" + (f": {', '.join(missing)}" if missing else "")
            print(f"  catalogue gaps {lang} ({LANGUAGES[lang]}): {total - len(missing)}/{total} translated; {listed}")
    for lang, missing in found.items():
        record_property(f"gaps_{lang}", len(missing))
    assert set(found) == set(LANGUAGES)
    assert all(set(missing) <= set(i18n.keys()) for missing in found.values())
    # Portuguese and Kiswahili are complete; the others wait for a fluent writer.
    assert found["pt"] == [] and found["sw"] == []


def test_a_missing_text_falls_back_to_english_one_key_at_a_time(monkeypatch):
    fake = {lang: dict(c) for lang, c in i18n.catalogues().items()}
    del fake["pt"]["ussd.client.main.call"]
    monkeypatch.setattr(i18n, "catalogues", lambda: fake)
    assert render("ussd.client.main.call", "pt") == "Ask for a call back"
    assert render("ussd.client.main.baby", "pt") == "O meu bebé"


def test_language_codes_are_read_kindly():
    assert render("ussd.yes", "pt-MZ") == "Sim"
    assert render("ussd.yes", "SW") == "Ndiyo"
    assert render("ussd.yes", None) == render("ussd.yes", "xx") == "Yes"


def test_render_fills_parameters_and_names_a_missing_one():
    assert render("ussd.months.many", "en", n=6) == "6 months"
    with pytest.raises(KeyError, match="needs the parameter 'n'"):
        render("ussd.months.many", "en")
    with pytest.raises(KeyError, match="no text"):
        render("ussd.no.such.text", "en")
    with pytest.raises(TypeError):
        render("date.months", "en")


def test_format_date():
    day = dt.date(2025, 11, 25)
    assert i18n.format_date(day, "en") == "Tue 25 Nov"
    assert i18n.format_date(day, "en", year=True) == "Tue 25 Nov 2025"
    assert i18n.format_date(day, "pt") == "25 nov (ter)"
    assert i18n.format_date(dt.date(2025, 11, 29), "pt", year=True) == "29 nov 2025 (sáb)"
    assert i18n.format_date(day, "sw") == "Jumanne 25 Nov"
    assert i18n.format_date(day, "zu") == "Tue 25 Nov"  # no isiZulu names yet: English


def test_reply_words_include_every_language():
    assert {"STOP", "PARAR", "ACHA"} <= i18n.stop_words()
    assert {"START", "INICIAR", "ANZA"} <= i18n.start_words()
    assert not i18n.stop_words() & i18n.start_words()


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_the_opt_out_confirmation_names_a_word_that_restarts(lang):
    words = render("sms.opt_out.confirm", lang).replace(".", " ").replace(",", " ").split()
    assert set(words) & i18n.start_words()
    words = render("sms.opt_in.confirm", lang).replace(".", " ").replace(",", " ").split()
    assert set(words) & i18n.stop_words()


# ------------------------------------------------------------------ checks on broken catalogues

def english():
    return dict(i18n.catalogues()["en"])


def test_a_translation_with_other_placeholders_is_refused():
    problems = check_catalogues({"en": english(), "pt": {"sms.reminder.before": "Lembrete: {que} a {date}."}})
    assert any("pt.yaml: sms.reminder.before: uses ['date', 'que']" in p for p in problems)


def test_a_key_english_lacks_is_refused():
    problems = check_catalogues({"en": english(), "sw": {"ussd.invented": "x"}})
    assert problems == ["sw.yaml: ussd.invented: English has no such key"]


def test_a_list_where_a_text_belongs_is_refused():
    problems = check_catalogues({"en": english(), "sw": {"ussd.yes": ("Ndiyo",), "date.months": "Jan"}})
    assert len(problems) == 2


def test_a_default_sms_that_discloses_is_refused():
    problems = check_catalogues({"en": {**english(), "sms.reminder.today": "Today: your HIV clinic ({what})."}})
    assert problems == ["en.yaml: sms.reminder.today: discloses (HIV); explicit wording belongs under sms.explicit."]
    problems = check_catalogues({"en": english(), "sw": {"label.art_refill": "kuchukua dawa za ARV"}})
    assert any("label.art_refill: discloses (ARV)" in p for p in problems)


def test_explicit_wording_is_exempt():
    assert check_catalogues({"en": {**english(), "sms.explicit.label.art_refill": "HIV medicine (ARV)"}}) == []


def test_wrong_day_and_month_counts_are_refused():
    problems = check_catalogues({"en": english(), "pt": {"date.weekdays": ("seg", "ter")}})
    assert problems == ["pt.yaml: date.weekdays: needs 7 names, has 2"]


def test_yaml_words_stay_words(tmp_path):
    path = tmp_path / "xx.yaml"
    path.write_text("ussd:\n  yes: Yes\n  no: No\n  more: On\n  back: 12:00\n")
    data, problems = read_catalogue(path)
    assert problems == []
    assert data == {"ussd.yes": "Yes", "ussd.no": "No", "ussd.more": "On", "ussd.back": "12:00"}


def test_unreadable_and_empty_values_are_reported(tmp_path):
    path = tmp_path / "xx.yaml"
    path.write_text("ussd:\n  yes:\n  no: [a, {b: c}]\n")
    _, problems = read_catalogue(path)
    assert any("ussd.yes: is empty" in p for p in problems)
    assert any("ussd.no: a list must hold only texts" in p for p in problems)
    path.write_text("key: [unclosed")
    assert "cannot be read" in read_catalogue(path)[1][0]


def test_catalogue_error_lists_every_problem():
    error = CatalogueError(["a.yaml: x: bad", "b.yaml: y: bad"])
    assert str(error) == "a.yaml: x: bad\nb.yaml: y: bad" and error.errors == ["a.yaml: x: bad", "b.yaml: y: bad"]
