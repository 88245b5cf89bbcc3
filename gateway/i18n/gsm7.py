"""GSM-7 awareness: which texts fit the GSM 03.38 alphabet, and how many SMS segments a text costs.

A text made only of GSM-7 characters travels 160 to a single SMS, 153 per part
of a longer one; a character of the extension table (``^{}[]~|\\€`` and form
feed) takes two of those places. One character outside the alphabet makes the
whole message UCS-2: 70 to a single SMS, 67 per part, counted in UTF-16 units
(an emoji takes two).
"""
from __future__ import annotations

import unicodedata

# GSM 03.38 basic table, in code order (0x1B, the escape to the extension table, left out).
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ" "ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# Look-alikes that phones and word processors put in place of GSM-7 characters.
_LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "ª": "a", "º": "o",
}


def is_gsm7(text: str) -> bool:
    """True if every character of ``text`` is in the GSM-7 basic or extension table."""
    return all(ch in BASIC or ch in EXTENSION for ch in text)


def _split(units: list[int], single: int, part: int) -> int:
    total = sum(units)
    if total <= single:
        return 1
    # A character never straddles two parts (an escape pair or a surrogate pair stays whole).
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments


def sms_segments(text: str) -> int:
    """How many SMS parts ``text`` is sent as (at least one, even when empty)."""
    if is_gsm7(text):
        return _split([2 if ch in EXTENSION else 1 for ch in text], GSM7_SINGLE, GSM7_PART)
    return _split([2 if ord(ch) > 0xFFFF else 1 for ch in text], UCS2_SINGLE, UCS2_PART)


def to_gsm7(text: str) -> str:
    """``text`` with each character outside GSM-7 replaced by its closest GSM-7 spelling where there is one.

    Accents the alphabet lacks are dropped (``ã`` -> ``a``, ``ç`` -> ``c``) and those
    it has are kept (``é``, ``à``); characters with no GSM-7 spelling stay as they are.
    """
    out = []
    for ch in text:
        if ch in BASIC or ch in EXTENSION:
            out.append(ch)
        elif ch in _LOOKALIKES:
            out.append(_LOOKALIKES[ch])
        else:
            bare = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
            out.append(bare if bare and is_gsm7(bare) else ch)
    return "".join(out)


def fit_sms(text: str) -> str:
    """``text``, or its GSM-7 spelling when that costs fewer SMS parts.

    Why: one ``ã`` turns a 100-character Portuguese reminder into two UCS-2
    parts; written without the accent it is one GSM-7 part, and is read the
    same way. A text that already fits in one part keeps its accents.
    """
    if is_gsm7(text):
        return text
    plain = to_gsm7(text)
    if is_gsm7(plain) and sms_segments(plain) < sms_segments(text):
        return plain
    return text
