"""The disclosure check, and that no default SMS text in any language would disclose."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import i18n
from gateway.core.countries import LANGUAGES
from gateway.i18n import disclosing_words, disclosure


@pytest.mark.parametrize("text,words", [
    ("Your HIV clinic visit", ["HIV"]),
    ("Time for your ARVs", ["ARVs"]),
    ("ART refill due", ["ART"]),
    ("antiretroviral therapy", ["antiretroviral"]),
    ("baby's PCR test", ["PCR"]),
    ("Viral load result", ["Viral load"]),
    ("CD4 count", ["CD4"]),
    ("TB screening and PMTCT", ["TB", "PMTCT"]),
    ("your hiv test", ["hiv"]),
    ("Consulta de VIH/SIDA", ["VIH", "SIDA"]),
    ("levantamento de TARV", ["TARV"]),
    ("teste de carga viral", ["carga viral"]),
    ("kipimo cha VVU", ["VVU"]),
    ("dawa za UKIMWI", ["UKIMWI"]),
    ("kifua kikuu", ["kifua kikuu"]),
    ("igciwane lesandulela ngculazi", ["igciwane", "ngculazi"]),
    ("yengculazi", ["yengculazi"]),
    ("kachilombo ka HIV", ["kachilombo ka HIV", "HIV"]),
    ("matenda a Edzi", ["Edzi"]),
    ("your viral result", ["viral"]),
    ("VL due", ["VL"]),
    ("PrEP and PEP", ["PrEP", "PEP"]),
    ("CCC visit; CTC visit", ["CCC", "CTC"]),
    ("HEI card", ["HEI"]),
    ("EID sample", ["EID"]),
    ("Carga viral", ["Carga viral"]),
])
def test_planted_words_are_found(text, words):
    assert disclosing_words(text) == words
    assert i18n.discloses(text)


@pytest.mark.parametrize("text", [
    "Reply START to get them again.", "Restart SMS", "Please come to the clinic.", "the art of waiting",
    "Artist", "pick up your medicine", "your child's clinic visit", "Lembrete: a sua consulta", "Tarehe",
    "Hivi karibuni", "Mtoto", "Partida", "ptv",
    "Eid Mubarak", "a pep talk", "Hei!", "Vl", "VLAN", "HEIGHT", "EIDER", "CTCs", "viralis", "preppy",
])
def test_ordinary_words_pass(text):
    assert disclosing_words(text) == []
    assert not i18n.discloses(text)


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_default_sms_text_and_label_passes_in_every_language(lang):
    checked = 0
    for key in i18n.keys():
        if i18n.needs_discretion(key):
            value = i18n.template(key, lang)
            for text in (value if isinstance(value, tuple) else (value,)):
                assert disclosing_words(text) == [], (lang, key, text)
                checked += 1
    assert checked >= 10


def test_explicit_labels_do_name_things_and_are_kept_apart():
    assert disclosing_words(i18n.render("sms.explicit.label.infant_hiv_test", "en")) == ["HIV"]
    assert disclosing_words(i18n.render("sms.explicit.label.art_refill", "en")) == ["ARV"]
    assert not i18n.needs_discretion("sms.explicit.label.art_refill")
    assert i18n.needs_discretion("sms.reminder.before") and i18n.needs_discretion("label.art_refill")


def test_a_planted_hiv_in_a_default_template_is_refused(monkeypatch):
    english = dict(i18n.catalogues()["en"])
    english["sms.reminder.before"] = "Reminder: HIV clinic, {what} on {date}."
    problems = i18n.check_catalogues({"en": english})
    assert problems == ["en.yaml: sms.reminder.before: discloses (HIV); explicit wording belongs under sms.explicit."]


def test_a_disclosing_label_from_the_caller_is_never_shown_before_the_pin():
    import datetime as dt

    import menus

    menu = menus.get("client")
    ctx = menus.Context(today=dt.date(2025, 11, 25), visits=[("Tue 2 Dec", "your baby's HIV test")])
    reply, state = menus.step(menu, None, "", ctx)
    reply, state = menus.step(menu, state, "1", ctx)
    assert reply == menus.Reply("Sorry, this is not available now. Please try again later.", True, None)
    # After her PIN, the client may see her own explicit wording.
    ctx = menus.Context(today=dt.date(2025, 11, 25), visits=[("Tue 2 Dec", "your baby's HIV test")],
                        pin_set=True, verify_pin=lambda pin: "ok")
    reply, state = menus.step(menu, None, "", ctx)
    reply, state = menus.step(menu, state, "1", ctx)
    reply, state = menus.step(menu, state, "1234", ctx)
    assert reply.text == "Your next visits:\nTue 2 Dec: your baby's HIV test"


@pytest.mark.parametrize("term,case_sensitive", disclosure._TERMS, ids=[t for t, _ in disclosure._TERMS])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_quick_check_finds_every_term_the_full_one_finds(term, case_sensitive, data):
    word = data.draw(st.from_regex(re.compile(term, 0 if case_sensitive else re.IGNORECASE), fullmatch=True))
    around = data.draw(st.sampled_from(["{}", "Your {} visit", "({}),", "x{}", "{}y"]))
    text = around.format(word)
    assert disclosure.discloses(text) == bool(disclosing_words(text)), text
    if around in ("{}", "Your {} visit", "({}),"):
        assert disclosure.discloses(text), text
