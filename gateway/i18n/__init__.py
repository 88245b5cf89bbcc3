"""Every word the gateway shows or sends, in each language: the one place that renders a text.

The catalogues are YAML files beside this module, one per language in
``gateway.core.countries.LANGUAGES`` (``en.yaml``, ``pt.yaml``...). Keys nest in the
file and are used dotted (``sms.reminder.before``). English is complete; any
other catalogue may leave a key out, and that one text then falls back to
English (``gaps()`` lists what is missing). A catalogue is checked when it is
loaded, and every problem is reported in one ``CatalogueError``:

- a key that English lacks, or a value of another shape (text vs list);
- a translation whose ``{placeholders}`` differ from the English ones;
- a default SMS template or label (``sms.*`` but not ``sms.explicit.*``,
  and ``label.*``) that names HIV, its medicine or tests (``disclosing_words``).

Values are read as written: ``No``, ``On`` or ``12:00`` are text, never
booleans or numbers (YAML 1.1 would turn them into those).
"""
from __future__ import annotations

import datetime as dt
import functools
import string
from pathlib import Path
from typing import Mapping

import yaml

from gateway.core.countries import LANGUAGES
from gateway.i18n.disclosure import discloses, disclosing_words
from gateway.i18n.gsm7 import fit_sms, is_gsm7, sms_segments, to_gsm7

CATALOGUE_DIR = Path(__file__).resolve().parent
FALLBACK = "en"
EXPLICIT_PREFIX = "sms.explicit."

Value = str | tuple[str, ...]


class CatalogueError(ValueError):
    """A catalogue file is wrong. The message has one ``file: key: problem`` line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def _flatten(node, prefix: str, out: dict[str, Value], problems: list[str], where: str) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _flatten(v, f"{prefix}{k}.", out, problems, where)
    elif isinstance(node, list):
        if not all(isinstance(v, str) for v in node):
            problems.append(f"{where}: {prefix[:-1]}: a list must hold only texts")
        else:
            out[prefix[:-1]] = tuple(node)
    elif isinstance(node, str):
        out[prefix[:-1]] = node
    else:  # BaseLoader yields only str, list and dict; an empty value reads as ""
        problems.append(f"{where}: {prefix[:-1]}: unreadable value")


def read_catalogue(path: Path) -> tuple[dict[str, Value], list[str]]:
    """One catalogue file as ``{dotted key: text or tuple of texts}``, and the problems found reading it."""
    problems: list[str] = []
    try:
        # BaseLoader: every scalar stays the text it is written as.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return {}, [f"{path.name}: cannot be read: {exc}"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [f"{path.name}: must be a mapping of keys to texts"]
    out: dict[str, Value] = {}
    _flatten(data, "", out, problems, path.name)
    for key, value in out.items():
        if value == "" or value == ():
            problems.append(f"{path.name}: {key}: is empty (leave the key out to fall back to English)")
    return out, problems


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def needs_discretion(key: str) -> bool:
    """True for texts that go out by default and so must never disclose: default SMS templates and labels."""
    return (key.startswith("sms.") and not key.startswith(EXPLICIT_PREFIX)) or key.startswith("label.")


def check_catalogues(catalogues: Mapping[str, Mapping[str, Value]]) -> list[str]:
    """Every problem in a set of catalogues (``{lang: {key: value}}``, English among them)."""
    problems: list[str] = []
    english = catalogues.get(FALLBACK, {})
    for lang, catalogue in catalogues.items():
        where = f"{lang}.yaml"
        for key, value in catalogue.items():
            if lang != FALLBACK and key not in english:
                problems.append(f"{where}: {key}: English has no such key")
                continue
            reference = english[key]
            if isinstance(value, tuple) != isinstance(reference, tuple):
                problems.append(f"{where}: {key}: must be {'a list' if isinstance(reference, tuple) else 'a text'}")
                continue
            texts = value if isinstance(value, tuple) else (value,)
            for text in texts:
                try:
                    names = placeholders(text)
                except ValueError as exc:  # an unmatched brace
                    problems.append(f"{where}: {key}: {exc}")
                    continue
                if not isinstance(value, tuple) and names != placeholders(reference):
                    problems.append(f"{where}: {key}: uses {sorted(names)} but English uses "
                                    f"{sorted(placeholders(reference))}")
                if needs_discretion(key) and disclosing_words(text):
                    problems.append(f"{where}: {key}: discloses ({', '.join(disclosing_words(text))}); "
                                    f"explicit wording belongs under {EXPLICIT_PREFIX}")
        for key, size in (("date.weekdays", 7), ("date.months", 12)):
            if isinstance(catalogue.get(key), tuple) and len(catalogue[key]) != size:
                problems.append(f"{where}: {key}: needs {size} names, has {len(catalogue[key])}")
    return problems


@functools.cache
def catalogues() -> Mapping[str, Mapping[str, Value]]:
    """All catalogues, loaded and checked once; raises ``CatalogueError`` listing every problem."""
    loaded: dict[str, dict[str, Value]] = {}
    problems: list[str] = []
    for lang in LANGUAGES:
        path = CATALOGUE_DIR / f"{lang}.yaml"
        if not path.exists():
            if lang == FALLBACK:
                problems.append(f"{path.name}: missing (English is the fallback for every language)")
            loaded[lang] = {}
            continue
        loaded[lang], file_problems = read_catalogue(path)
        problems.extend(file_problems)
    problems.extend(check_catalogues(loaded))
    if problems:
        raise CatalogueError(problems)
    return loaded


def language(lang: str | None) -> str:
    """A supported language code for ``lang`` (``"pt-MZ"`` -> ``"pt"``), English when it is not one."""
    code = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else FALLBACK


def has(key: str, lang: str) -> bool:
    """True if ``lang``'s own catalogue has ``key`` (no fallback)."""
    return key in catalogues().get(language(lang), {})


def template(key: str, lang: str | None) -> Value:
    """The unrendered text (or list) for ``key`` in ``lang``, else in English; ``KeyError`` if English lacks it too."""
    found = catalogues()[language(lang)].get(key)
    if found is None:
        found = catalogues()[FALLBACK].get(key)
    if found is None:
        raise KeyError(f"no text {key!r} in the catalogues")
    return found


def render(key: str, lang: str | None, /, **params) -> str:
    """The text ``key`` in ``lang`` (English where that language lacks it), with ``params`` filled in.

    SMS texts (``sms.*``) come back spelt in GSM-7 when that saves an SMS part
    (see ``fit_sms``). Raises ``KeyError`` for an unknown key or a missing parameter.
    """
    text = template(key, lang)
    if isinstance(text, tuple):
        raise TypeError(f"{key!r} is a list, not a text")
    try:
        result = text.format_map(params)
    except KeyError as exc:
        raise KeyError(f"text {key!r} needs the parameter {exc.args[0]!r}") from None
    return fit_sms(result) if key.startswith("sms.") else result


def keys() -> list[str]:
    """Every key, as English has them."""
    return sorted(catalogues()[FALLBACK])


def gaps() -> dict[str, list[str]]:
    """For each language, the keys its catalogue lacks (they fall back to English); English's list is empty."""
    english = catalogues()[FALLBACK]
    return {lang: sorted(k for k in english if k not in catalogues()[lang]) for lang in LANGUAGES}


def format_date(date: dt.date, lang: str | None, *, year: bool = False) -> str:
    """A short, unambiguous date in ``lang``: ``Tue 25 Nov`` (``Tue 25 Nov 2025`` with ``year``)."""
    weekdays = template("date.weekdays", lang)
    months = template("date.months", lang)
    return render("date.with_year" if year else "date.short", lang, weekday=weekdays[date.weekday()],
                  day=date.day, month=months[date.month - 1], year=date.year)


def _keywords(kind: str) -> frozenset[str]:
    words: set[str] = set()
    for catalogue in catalogues().values():
        words.update(" ".join(w.upper().split()) for w in catalogue.get(f"keywords.{kind}", ()))
    return frozenset(words)


@functools.cache
def stop_words() -> frozenset[str]:
    """Reply words (upper case, any language) that stop a client's SMS."""
    return _keywords("stop")


@functools.cache
def start_words() -> frozenset[str]:
    """Reply words (upper case, any language) that restart a client's SMS."""
    return _keywords("start")


__all__ = [
    "CatalogueError", "render", "template", "has", "keys", "gaps", "format_date", "language",
    "stop_words", "start_words", "disclosing_words", "discloses", "is_gsm7", "sms_segments", "to_gsm7", "fit_sms",
    "catalogues", "check_catalogues", "read_catalogue", "placeholders", "needs_discretion",
]
