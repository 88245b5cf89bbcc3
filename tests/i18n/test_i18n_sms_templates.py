"""Every SMS template fits its segment budget (one part) in every language, rendered with realistic params."""
import datetime as dt
import itertools

import pytest

from gateway import i18n
from gateway.core.countries import LANGUAGES

BUDGET = 1  # SMS parts per message, for every template
DAYS = [dt.date(2028, 1, 1) + dt.timedelta(days=i) for i in range(366)]
KINDS = ("art_refill", "child_art_refill", "immunisation", "infant_hiv_test")


def whats(lang):
    """Every "what" the reminder sender can build: each label, and every combination joined, discreet and explicit."""
    joiner = f" {i18n.render('label.join_and', lang)} "
    out = []
    for prefix in ("label.", "sms.explicit.label."):
        labels = list(dict.fromkeys(i18n.render(prefix + k, lang) for k in KINDS))
        # The sender names a child's medicine only when no visit of the child's is named too.
        apart = {i18n.render(prefix + "child_art_refill", lang), i18n.render(prefix + "immunisation", lang)}
        for n in range(1, len(labels) + 1):
            out += [joiner.join(combo) for combo in itertools.permutations(labels, n) if not apart <= set(combo)]
    out.append(i18n.render("label.own_visit", lang))
    return out


def sms_keys():
    return [k for k in i18n.keys() if k.startswith("sms.") and not k.startswith("sms.explicit.")]


def worst_dates(lang):
    """The dates that can cost most: the longest, and the longest outside GSM-7 (such as "sáb")."""
    dates = {i18n.format_date(d, lang) for d in DAYS}
    foreign = [d for d in dates if not i18n.is_gsm7(d)]
    return {max(dates, key=len), *([max(foreign, key=len)] if foreign else [])}


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
@pytest.mark.parametrize("key", sms_keys())
def test_every_template_fits_one_sms_with_the_longest_realistic_params(lang, key):
    worst = max(i18n.sms_segments(i18n.render(key, lang, what=what, date=date))
                for what in whats(lang) for date in worst_dates(lang))
    assert worst <= BUDGET, (lang, key)


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
