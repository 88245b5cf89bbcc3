"""Every SMS template fits its segment budget (one part) in every language, rendered with realistic params."""

import pytest

from gateway import i18n, translations
from gateway.core.countries import LANGUAGES

BUDGET = translations.SMS_PARTS  # SMS parts per message, for every template
KINDS = ("art_refill", "child_art_refill", "immunisation", "infant_hiv_test")
# The longest USSD code a programme is likely to be given (the welcome SMS names it).
LONGEST_CODE = translations.LONGEST_CODE


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
@pytest.mark.parametrize("key", translations.sms_keys())
def test_every_template_fits_one_sms_with_the_longest_realistic_params(lang, key):
    # The same worst case the Translations page checks a staff text against (every label combination, the costliest date).
    assert i18n.sms_segments(translations.worst_sms(lang, key)) <= BUDGET, (lang, key)


def test_the_worst_case_joins_the_longest_labels_explicit_ones_included():
    assert translations.worst_sms("en", "sms.reminder.before") == (
        "Reminder: ARV refill and your child's ARV refill and your baby's HIV test on Fri 10 Mar. "
        "Please come to the clinic.")


def test_a_reminder_reads_as_expected():
    assert i18n.render("sms.reminder.before", "en", what="pick up your medicine", date="Tue 25 Nov") == \
        "Reminder: pick up your medicine on Tue 25 Nov. Please come to the clinic."
    assert i18n.render("sms.reminder.missed", "sw", what="kuchukua dawa zako") == \
        "Hatukukuona kliniki (kuchukua dawa zako). Tafadhali fika mapema uwezavyo. Karibu sana."


def test_portuguese_is_spelt_plainly_when_accents_would_cost_a_second_sms():
    text = i18n.render("sms.reminder.before", "pt", what="a consulta da sua criança", date="29 nov (sáb)")
    assert text == "Lembrete: a consulta da sua crianca no dia 29 nov (sab). Esperamos por si."
    assert i18n.is_gsm7(text) and i18n.sms_segments(text) == 1


def test_explicit_labels_exist_in_english_and_are_used_only_by_name():
    for kind in KINDS:
        assert i18n.render(f"sms.explicit.label.{kind}", "en")
    assert i18n.render("sms.explicit.label.art_refill", "en") == "ARV refill"
    assert i18n.render("label.art_refill", "en") == "pick up your medicine"
    assert i18n.render("label.immunisation", "en") == i18n.render("label.infant_hiv_test", "en") == \
        "your child's clinic visit"
    assert i18n.render("label.own_visit", "en") == "your clinic visit"
    assert i18n.render("label.join_and", "en") == "and"


def test_the_welcome_names_the_code_and_stop_in_every_language_and_never_discloses():
    for lang in sorted(LANGUAGES):
        text = i18n.render("sms.welcome", lang, code=LONGEST_CODE)
        assert LONGEST_CODE in text and "STOP" in text, lang
        assert i18n.disclosing_words(text) == [], lang
        assert i18n.is_gsm7(text) and i18n.sms_segments(text) == 1, lang
