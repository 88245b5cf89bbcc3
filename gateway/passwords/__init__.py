"""The rules a console password must pass, wherever it is set (CLI, an admin's form, her own change).

``problem(password, email)`` says what is wrong with a password, in words
meant to follow its field's name, or None when it may be used. A password is
refused when it is shorter than ``MIN_LENGTH``, contains the email's name
(before the @), is one character or one pattern repeated, is a run along the
keyboard or the alphabet (``123456789012``, ``qwertyuiopas``), is in the
shipped list of common passwords (``common-passwords.txt`` beside this file:
where it comes from is in ``common-passwords.LICENSE``), or is one of those
with digits or signs stuck on either end (``password2026!``): the first
things an attacker tries.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

MIN_LENGTH = 12

# Runs a person types without thinking: along the digits, the alphabet and the keyboard's rows
# (QWERTY and AZERTY) and columns. Tripled so a run may wrap (``7890123``); reversed too.
_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm",
         "azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p")
_SEQUENCES = tuple(run * 3 for run in _RUNS) + tuple((run * 3)[::-1] for run in _RUNS)
# What people stick on either end of a word to satisfy a rule: digits, signs, spaces.
_PADDING = re.compile(r"^[\d\W_]+|[\d\W_]+$")
# The shortest stem of a common word we look for once the padding is taken off.
_MIN_STEM = 4


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case (read once per process)."""
    path = Path(__file__).with_name("common-passwords.txt")
    return frozenset(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def _is_simple(text: str) -> str | None:
    """Why ``text`` (lower case) is a pattern rather than a secret, or None."""
    if len(set(text)) == 1:
        return "is one character repeated; choose another"
    if re.fullmatch(r"(.+?)\1+", text, flags=re.DOTALL):
        return "is a short pattern repeated (like abcabcabc); choose another"
    if any(text in sequence for sequence in _SEQUENCES):
        return "is a simple sequence (like 1234567890 or qwerty); choose another"
    return None


def problem(password: str, email: str) -> str | None:
    """What is wrong with ``password`` for the user with ``email``, or None if it may be used."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    lowered = password.lower().strip()
    name = (email or "").strip().lower().partition("@")[0]
    if len(name) >= 3 and name in lowered:
        return "must not contain your email address's name (the part before @)"
    simple = _is_simple(lowered)
    if simple:
        return simple
    common = common_passwords()
    if lowered in common:
        return "is one of the most common passwords; choose another"
    stem = _PADDING.sub("", lowered)
    if stem != lowered and len(stem) >= _MIN_STEM and (stem in common or _is_simple(stem)):
        return "is a common password with digits or signs added; choose another"
    return None
