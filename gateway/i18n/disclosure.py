"""The disclosure check: words that would tell whoever reads a shared phone what a client is treated for.

Default SMS templates and every USSD screen shown before a PIN must pass it
(docs/schedules.md, "Discreet wording"). Explicit wording (``sms.explicit.*``)
is the one opt-in exception, and is never checked.

Only terms we are sure of are listed: a missing local term is a gap to fill,
a wrong one would only refuse harmless text.
"""
from __future__ import annotations

import re

# (pattern, case-sensitive?) English and international abbreviations first,
# then each language's own terms. Whole words unless the note says otherwise.
_TERMS: tuple[tuple[str, bool], ...] = (
    (r"HIV", False),
    (r"AIDS", False),
    (r"ARVs?", False),
    # Upper case only: "art" and "Art" are ordinary words; the treatment is written ART.
    (r"ART", True),
    (r"antiretrovirals?", False),
    (r"anti-retrovirals?", False),
    (r"PCR", False),
    (r"viral\s+load", False),
    (r"(?<!carga\s)viral(?!\s+load)", False),  # alone; "viral load" and "carga viral" are found whole
    # Upper case only: "vl", "pep" (pep talk), "hei" and "Eid" (the festival) are ordinary words.
    (r"VL", True),  # viral load
    (r"PEP", True),  # post-exposure prophylaxis
    (r"CCC", True),  # comprehensive care clinic (Kenya's HIV clinic)
    (r"CTC", True),  # care and treatment clinic (Tanzania's HIV clinic)
    (r"HEI", True),  # HIV-exposed infant
    (r"EID", True),  # early infant diagnosis
    (r"CD4", False),
    (r"TB", False),
    (r"tuberculosis", False),
    (r"PMTCT", False),
    (r"PrEP", False),
    (r"nevirapine", False),
    (r"positive\s+status", False),
    # Portuguese (Mozambique, Angola)
    (r"VIH", False),
    (r"SIDA", False),
    (r"TARV", False),
    (r"antirretrovira(?:l|is)", False),
    (r"carga\s+viral", False),
    (r"seropositiv[oa]s?", False),
    (r"tuberculose", False),
    (r"PTV", True),  # prevenção da transmissão vertical
    # Kiswahili
    (r"VVU", False),  # virusi vya UKIMWI
    (r"UKIMWI", False),
    (r"kifua\s+kikuu", False),  # TB
    # Chichewa
    (r"kachilombo\s+ka\s+HIV", False),
    (r"Edzi", False),
    (r"chifuwa\s+chachikulu", False),  # TB
    # isiZulu: noun prefixes vary (igciwane, legciwane, ingculazi, yengculazi), so stems match inside words.
    (r"\w*gciwane", False),
    (r"\w*ngculazi", False),
    (r"isifo\s+sofuba", False),  # TB
)

_PATTERNS = tuple(
    re.compile(rf"(?<!\w){term}(?!\w)", 0 if case_sensitive else re.IGNORECASE)
    for term, case_sensitive in _TERMS
)


def disclosing_words(text: str) -> list[str]:
    """The words in ``text`` that name HIV, its treatment or tests, or TB, in the order they appear."""
    found: list[tuple[int, str]] = []
    for pattern in _PATTERNS:
        found.extend((m.start(), m.group(0)) for m in pattern.finditer(text))
    return [word for _, word in sorted(found)]


def _ending(term: str) -> str:
    """A term as part of one alternation. A stem matched inside words (``\\w*stem``) is looked for as
    ``stem`` at a word's end: the same yes or no, without trying ``\\w*`` from every letter of a screen."""
    if term.startswith(r"\w*"):
        return rf"(?:{term[3:]})(?!\w)"
    return rf"(?<!\w)(?:{term})(?!\w)"


# The same terms as two alternations (one per case rule), for the yes-or-no check every USSD screen gets.
_ANY = tuple(
    re.compile("|".join(_ending(term) for term, sensitive in _TERMS if sensitive == case_sensitive),
               0 if case_sensitive else re.IGNORECASE)
    for case_sensitive in (False, True)
)


def _core(term: str) -> str:
    """The longest plain run of letters every match of ``term`` contains, in lower case (``ARVs?`` -> ``arv``)."""
    plain = re.sub(r"\(\?:[^)]*\)|\[[^\]]*\]", " ", term)  # groups and classes
    plain = re.sub(r"\\[a-z][*+?]?|.[?*]|\+", " ", plain)  # \s+, \w*, an optional letter
    return max(plain.split(), key=len).lower()


# Most screens hold none of these at all: a substring test of each says so before any regex runs.
_CORES = tuple(sorted({_core(term) for term, _ in _TERMS}))


def discloses(text: str) -> bool:
    """True if ``text`` has any of ``disclosing_words``: what every USSD screen is checked with, so kept quick."""
    lowered = text.lower()
    if not any(core in lowered for core in _CORES):
        return False
    return any(pattern.search(text) for pattern in _ANY)
