"""Translations by the people who speak them: the texts programme staff write over the shipped catalogues.

The catalogue files (``gateway/i18n/<lang>.yaml``) are the base, written and
reviewed with the code. Programme staff add and correct texts on the console's
Translations page or by importing a gettext PO file; each is a ``Translation``
row, ``draft`` or ``reviewed``. Clients get the reviewed rows over the files
(a draft is seen only by staff), and a language is offered to clients once
every text has a reviewed version (``i18n.offered_languages``).

Every text is checked before it is kept, by ``check_text`` (one text) or
``check_many`` (a whole import): its ``{placeholders}``, that a default SMS or
label names no illness (discretion), that every SMS of the language still
fits one part, and that every USSD screen of the language still fits the
screen limits. A refusal names the check (``CHECKS``).

Rendering reads an in-process copy (``i18n.install``). ``refresh`` reloads it
when another process changed a text: every change writes a new token to Redis,
and each process compares its own at most every ``REFRESH_SECONDS``.
docs/translations.md is the guide for programme staff.
"""
from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from babel.messages.catalog import Catalog
from babel.messages.pofile import PoFileError, read_po, write_po
from sqlalchemy import select

import menus
from menus.definitions import screen_texts

from gateway.core import audit
from gateway import i18n
from gateway.core.countries import LANGUAGES
from gateway.adapters.database import db
from gateway.core.models import TRANSLATION_STATES, Translation

log = logging.getLogger(__name__)

VERSION_KEY = "translations:version"  # a new random token on every change
REFRESH_SECONDS = 1.0  # how stale another process's texts may be; the process that saved is never stale
SMS_PARTS = 1  # every SMS a client gets must fit one part
# What each check is called where a refusal names it.
CHECKS = {
    "key": "known text",
    "empty": "not empty",
    "list": "list of names",
    "placeholders": "placeholders kept",
    "discretion": "discretion",
    "sms": "one SMS part",
    "ussd": "USSD screen length",
    "source": "English unchanged",
}
DAYS = [dt.date(2028, 1, 1) + dt.timedelta(days=i) for i in range(366)]  # a leap year: every weekday and month
VISIT_KINDS = ("art_refill", "child_art_refill", "immunisation", "infant_hiv_test")


class TranslationError(ValueError):
    """A text (or a PO file) refused; ``problems`` lists each as a ``Problem``."""

    def __init__(self, problems: list["Problem"]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    check: str  # a key of CHECKS
    message: str
    key: str | None = None  # the text it is about, when known

    def __str__(self) -> str:
        where = f"{self.key}: " if self.key else ""
        return f"{where}{CHECKS[self.check]}: {self.message}"


@dataclass
class Report:
    """What the checks found for one text, and the facts a translator sees as she types."""

    problems: list[Problem] = field(default_factory=list)
    gsm7: bool | None = None  # SMS texts: whether the longest SMS it goes into is plain GSM-7
    sms_parts: int | None = None  # SMS texts: parts of the longest SMS it goes into
    sms_chars: int | None = None
    screen_chars: int | None = None  # the longest USSD screen of the language, CON/END included
    screen_limit: int | None = None  # the smallest screen limit it must fit

    def as_json(self) -> dict:
        return {"ok": not self.problems,
                "problems": [{"check": p.check, "name": CHECKS[p.check], "message": p.message, "key": p.key}
                             for p in self.problems],
                "gsm7": self.gsm7, "sms_parts": self.sms_parts, "sms_chars": self.sms_chars,
                "screen_chars": self.screen_chars, "screen_limit": self.screen_limit}


def editable() -> list[str]:
    """The languages staff translate (all but English, which is the source)."""
    return [lang for lang in LANGUAGES if lang != i18n.FALLBACK]


def english(key: str) -> i18n.Value:
    return i18n.shipped()[i18n.FALLBACK][key]


def as_text(value: i18n.Value) -> str:
    """A catalogue value as staff edit it: a list (weekday names...) one item a line."""
    return "\n".join(value) if isinstance(value, tuple) else value


def as_value(key: str, text: str) -> i18n.Value:
    """Staff's text as the catalogue keeps it: a list where English has one, else the text trimmed."""
    if isinstance(english(key), tuple):
        return tuple(line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip())
    return text.replace("\r\n", "\n").strip()


# ---------------------------------------------------------------- the texts in force


def reviewed_texts(lang: str | None = None) -> dict[str, dict[str, i18n.Value]]:
    """``{lang: {key: value}}`` of the reviewed staff texts (those clients get), from the database."""
    query = select(Translation.language, Translation.key, Translation.text).where(Translation.state == "reviewed")
    if lang:
        query = query.where(Translation.language == lang)
    english_keys = i18n.shipped()[i18n.FALLBACK]
    out: dict[str, dict[str, i18n.Value]] = {}
    for language, key, text in db.session.execute(query):
        if key in english_keys and language in LANGUAGES:  # a key English dropped since is left out
            out.setdefault(language, {})[key] = as_value(key, text)
    return out


_loaded = {"token": object(), "checked": float("-inf")}  # this process's copy: which token, checked when


def _token() -> str | None:
    from gateway.adapters.redis_store import get_redis
    raw = get_redis().get(VERSION_KEY)
    return raw.decode() if raw else None


def load(token: str | None = None) -> None:
    """Read the reviewed texts from the database and install them for every render in this process."""
    i18n.install(reviewed_texts())
    _loaded.update(token=token, checked=time.monotonic())


def refresh(force: bool = False) -> None:
    """Install the texts again if any process changed them since; cheap enough for every request.

    Asks Redis at most every ``REFRESH_SECONDS`` (``force``: now). Never fails a
    request: with Redis or the database unreachable the texts in use stay.
    """
    now = time.monotonic()
    if not force and now - _loaded["checked"] < REFRESH_SECONDS:
        return
    _loaded["checked"] = now
    try:
        token = _token()
        if token != _loaded["token"]:
            load(token)
    except Exception:  # noqa: BLE001  why: rendering with the last texts beats refusing a caller
        db.session.rollback()  # a failed read must not leave the request's transaction unusable
        log.warning("translations: could not refresh, keeping the texts in use", exc_info=True)


def forget() -> None:
    """Drop this process's copy (shipped texts only until the next ``refresh``, which reads them again)."""
    i18n.install({})
    _loaded.update(token=object(), checked=float("-inf"))


def changed() -> None:
    """After a commit that changed texts: install them here and tell every other process."""
    token = uuid.uuid4().hex
    from gateway.adapters.redis_store import get_redis
    try:
        get_redis().set(VERSION_KEY, token)
    except Exception:  # noqa: BLE001  why: the change is committed; other processes see it once Redis is back
        log.warning("translations: could not announce a change", exc_info=True)
    load(token)


def init_app(app) -> None:
    """Install the staff's texts before each request (checked at most every ``REFRESH_SECONDS``)."""
    app.before_request(refresh)


# ---------------------------------------------------------------- the checks


def _longest(values: Iterable[str]) -> str:
    return max(values, key=len, default="")


def _whats(lang: str) -> list[str]:
    """Every "what" a reminder can name: each label, every combination joined, discreet and explicit."""
    joiner = f" {i18n.render('label.join_and', lang)} "
    out = []
    for prefix in ("label.", "sms.explicit.label."):
        labels = list(dict.fromkeys(i18n.render(prefix + k, lang) for k in VISIT_KINDS))
        # The sender names a child's medicine only when no visit of the child's is named too.
        apart = {i18n.render(prefix + "child_art_refill", lang), i18n.render(prefix + "immunisation", lang)}
        for n in range(1, len(labels) + 1):
            out += [joiner.join(combo) for combo in itertools.permutations(labels, n) if not apart <= set(combo)]
    out.append(i18n.render("label.own_visit", lang))
    return out


def _worst_dates(lang: str) -> set[str]:
    """The dates that can cost most: the longest, and the longest outside GSM-7 (such as "sáb")."""
    dates = sorted({i18n.format_date(d, lang) for d in DAYS})  # sorted: the same one of equal lengths each run
    foreign = [d for d in dates if not i18n.is_gsm7(d)]
    return {max(dates, key=len), *([max(foreign, key=len)] if foreign else [])}


def sms_keys() -> list[str]:
    """The templates sent as SMS by default (explicit labels go inside them)."""
    return [k for k in i18n.keys() if k.startswith("sms.") and not k.startswith(i18n.EXPLICIT_PREFIX)]


# The longest USSD code a programme may be given (the welcome SMS names it).
LONGEST_CODE = "*384*12345*678#"


def worst_sms(lang: str, key: str) -> str:
    """SMS template ``key`` in ``lang`` as it costs most: rendered with the longest realistic values."""
    whats, dates = _whats(lang), _worst_dates(lang)
    return max((i18n.render(key, lang, what=w, date=d, code=LONGEST_CODE) for w in whats for d in dates),
               key=lambda text: (i18n.sms_segments(text), len(text)))


def _sms_problems(lang: str, report: Report, key: str | None) -> list[Problem]:
    """Every SMS of ``lang`` at its longest must fit one part; the facts describe ``key``'s own SMS
    (for a label or date, the costliest SMS it goes into)."""
    problems, worst = [], {}
    for template in sms_keys():
        text = worst[template] = worst_sms(lang, template)
        parts = i18n.sms_segments(text)
        if parts > SMS_PARTS:
            problems.append(Problem("sms", f"the SMS {template} takes {parts} parts at its longest "
                                           f"({len(text)} characters, {'GSM-7' if i18n.is_gsm7(text) else 'UCS-2'}"
                                           f"): {text!r}", key))
    if key in worst:
        shown = worst[key]
    elif key and key.startswith(("label.", "date.", i18n.EXPLICIT_PREFIX)):
        shown = max(worst.values(), key=lambda text: (i18n.sms_segments(text), len(text)), default=None)
    else:
        shown = None
    if shown is not None:
        report.gsm7, report.sms_parts, report.sms_chars = i18n.is_gsm7(shown), i18n.sms_segments(shown), len(shown)
    return problems


def _ussd_problems(lang: str, limits: tuple[int, ...], report: Report, key: str | None) -> list[Problem]:
    problems = []
    longest = 0
    for menu in menus.load_all(limits).values():
        for problem in menus.check(menu, limits, [lang]):
            check = "discretion" if "shown before a PIN" in problem else "ussd"
            problems.append(Problem(check, problem, key))
        for _, text, _ in screen_texts(menu, lang, min(limits)):
            longest = max(longest, len(text) + menus.PREFIX_CHARS)
    report.screen_chars, report.screen_limit = longest, min(limits)
    return problems


def _own_problems(lang: str, key: str, value: i18n.Value) -> list[Problem]:
    """The checks one text passes on its own: known key, not empty, same shape and placeholders, discreet."""
    if lang not in LANGUAGES or lang == i18n.FALLBACK:
        return [Problem("key", f"{lang!r} is not a language to translate", key)]
    if key not in i18n.shipped()[i18n.FALLBACK]:
        return [Problem("key", "English has no such text", key)]
    if value in ("", ()):
        return [Problem("empty", "write the text (a text left out falls back to English)", key)]
    problems = i18n.check_catalogues({i18n.FALLBACK: i18n.shipped()[i18n.FALLBACK], lang: {key: value}})
    out = []
    for line in problems:
        detail = line.split(": ", 2)[-1]
        if "discloses" in detail:
            out.append(Problem("discretion", detail, key))
        elif "names, has" in detail or "must be" in detail:
            out.append(Problem("list", detail, key))
        else:
            out.append(Problem("placeholders", detail, key))
    return out


def check_many(lang: str, texts: Mapping[str, i18n.Value], limits: Iterable[int] = (menus.DEFAULT_MAX_CHARS,),
               focus: str | None = None) -> Report:
    """Check ``texts`` (``{key: value}``) for ``lang`` as if they were all in force beside the reviewed ones.

    Each text is checked on its own, then every SMS and every USSD screen of
    the language is checked with all of them in place, at each screen limit.
    ``focus`` names the one text the report's facts (SMS parts, longest screen) describe.
    """
    limits = tuple(sorted(set(limits)))
    if focus is None and len(texts) == 1:
        focus = next(iter(texts))
    report = Report()
    for key, value in texts.items():
        report.problems += _own_problems(lang, key, value)
    if report.problems:
        return report  # placeholders and keys must be right before anything can be rendered
    menus.load_all(limits)  # checked with the shipped texts, outside the trial (and cached)
    overrides = reviewed_texts(lang)
    overrides.setdefault(lang, {}).update(texts)
    with i18n.trying(overrides):
        report.problems += _few(_sms_problems(lang, report, focus))
        report.problems += _few(_ussd_problems(lang, limits, report, focus))
    return report


def _few(problems: list[Problem], shown: int = 3) -> list[Problem]:
    """The first few problems of one check, and how many more: a word too long breaks every screen it is on."""
    if len(problems) <= shown:
        return problems
    first = problems[0]
    return problems[:shown] + [Problem(first.check, f"and {len(problems) - shown} more like these", first.key)]


def check_text(lang: str, key: str, text: str, limits: Iterable[int] = (menus.DEFAULT_MAX_CHARS,)) -> Report:
    """Every check for ``text`` as ``lang``'s ``key``, and the facts shown beside it as it is typed."""
    if key not in i18n.shipped()[i18n.FALLBACK]:
        return Report([Problem("key", "English has no such text", key)])
    return check_many(lang, {key: as_value(key, text)}, limits, focus=key)


# ---------------------------------------------------------------- changing texts


def _row(lang: str, key: str) -> Translation | None:
    return db.session.scalar(select(Translation).where(Translation.language == lang, Translation.key == key))


def _put(lang: str, key: str, value: i18n.Value, state: str, actor: str, how: str) -> bool:
    """Write one checked text; False when it is already so. The caller commits, then calls ``changed``."""
    text = as_text(value)
    row = _row(lang, key)
    before = {"text": row.text, "state": row.state} if row else {"text": None, "state": None}
    if row is None:
        shipped = i18n.shipped()[lang].get(key)
        if shipped is not None and as_text(shipped) == text and state == "reviewed":
            return False  # the shipped text, reviewed already
        row = Translation(language=lang, key=key)
        db.session.add(row)
    elif row.text == text and row.state == state:
        return False
    row.text, row.state, row.updated_by = text, state, actor
    db.session.flush()
    audit.record(actor, f"translation.{how}", "translation", row.id,
                 {"language": lang, "key": key, **audit.diff(before, {"text": text, "state": state})})
    return True


def save(lang: str, key: str, text: str, state: str, actor: str,
         limits: Iterable[int] = (menus.DEFAULT_MAX_CHARS,)) -> Report:
    """Keep ``text`` as ``lang``'s ``key`` in ``state`` after every check; ``TranslationError`` if one fails.

    A draft is kept for staff only; ``reviewed`` puts it in force for clients.
    The caller commits and then calls ``changed``.
    """
    if state not in TRANSLATION_STATES:
        raise TranslationError([Problem("key", f"state must be one of {', '.join(TRANSLATION_STATES)}", key)])
    report = check_text(lang, key, text, limits)
    if report.problems:
        raise TranslationError(report.problems)
    _put(lang, key, as_value(key, text), state, actor, "saved")
    return report


# ---------------------------------------------------------------- where each language stands


@dataclass(frozen=True)
class Entry:
    key: str
    english: str
    text: str  # what the editor shows: the staff's text (draft or reviewed), else the shipped one, else ""
    state: str  # "reviewed", "draft" or "missing"
    shipped: bool  # the text in force comes from the catalogue file
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


def entries(lang: str) -> list[Entry]:
    """Every English text beside ``lang``'s, in key order."""
    rows = {r.key: r for r in db.session.scalars(select(Translation).where(Translation.language == lang))}
    files = i18n.shipped().get(lang, {})
    out = []
    for key in i18n.keys():
        row, shipped = rows.get(key), files.get(key)
        if row is not None:
            out.append(Entry(key, as_text(english(key)), row.text, row.state, False, row.updated_by, row.updated_at))
        elif shipped is not None:
            out.append(Entry(key, as_text(english(key)), as_text(shipped), "reviewed", True))
        else:
            out.append(Entry(key, as_text(english(key)), "", "missing", False))
    return out


@dataclass(frozen=True)
class Status:
    code: str
    name: str
    total: int
    reviewed: int  # texts clients would get (reviewed by staff, or shipped)
    draft: int  # texts waiting for review
    missing: int  # texts nobody has written
    offered: bool


def statuses() -> list[Status]:
    """Where each language stands: offered to clients, or what is still missing or in draft."""
    offered = i18n.offered_languages()
    out = []
    for lang in editable():
        found = entries(lang)
        out.append(Status(lang, LANGUAGES[lang], len(found), sum(e.state == "reviewed" for e in found),
                          sum(e.state == "draft" for e in found), sum(e.state == "missing" for e in found),
                          lang in offered))
    return out


# ---------------------------------------------------------------- gettext PO files


def export_po(lang: str) -> bytes:
    """``lang`` as a PO file: one entry per text, the key as its context, English as its msgid.

    A draft is marked fuzzy; a text nobody wrote has an empty msgstr. Poedit,
    Weblate and the like edit it; ``import_po`` takes it back.
    """
    catalog = Catalog(project="Reminder gateway", version="1", fuzzy=False, copyright_holder="the programme",
                      header_comment=f"# {LANGUAGES[lang]} ({lang}) texts of the reminder gateway.\n"
                                     "# Fill in each msgstr; mark a text fuzzy while it waits for review.\n"
                                     "# The checks a text must pass are in docs/translations.md.")
    catalog.language_team = LANGUAGES[lang]
    for entry in entries(lang):
        notes = []
        names = sorted(i18n.placeholders(entry.english)) if "{" in entry.english else []
        if names:
            notes.append("Keep as they are: " + " ".join("{%s}" % n for n in names))
        if i18n.needs_discretion(entry.key):
            notes.append("Goes out by default: never name HIV, its medicine or its tests.")
        if isinstance(english(entry.key), tuple):
            notes.append(f"One item a line ({len(english(entry.key))} in English).")
        if entry.key.startswith("sms.") and not entry.key.startswith(i18n.EXPLICIT_PREFIX):
            notes.append("An SMS: one part (160 plain letters; 70 with letters outside GSM-7).")
        if entry.key.startswith("ussd."):
            notes.append("A USSD screen or part of one: short.")
        flags = ("fuzzy",) if entry.state == "draft" else ()
        catalog.add(entry.english, entry.text, context=entry.key, auto_comments=notes, flags=flags)
    out = io.BytesIO()
    write_po(out, catalog, width=0, omit_header=False, include_previous=False)
    # Babel writes no Language header for a code it has no locale data for (bem, ss...): tools want one.
    return out.getvalue().replace(b'"MIME-Version', f'"Language: {lang}\\n"\n"MIME-Version'.encode(), 1)


@dataclass
class ImportResult:
    changed: int = 0
    unchanged: int = 0
    drafts: int = 0


def read_po_file(lang: str, data: bytes) -> dict[str, tuple[i18n.Value, str]]:
    """``{key: (value, state)}`` from a PO file for ``lang``; ``TranslationError`` naming each entry that is wrong.

    An entry whose English (msgid) differs from today's is refused: it was translated from another text.
    """
    try:
        catalog = read_po(io.BytesIO(data), abort_invalid=True)
    except (PoFileError, ValueError, UnicodeDecodeError) as exc:
        raise TranslationError([Problem("key", f"not a readable PO file: {exc}")]) from None
    problems: list[Problem] = []
    found: dict[str, tuple[i18n.Value, str]] = {}
    english_texts = i18n.shipped()[i18n.FALLBACK]
    for message in catalog:
        if not message.id:
            continue  # the header
        key = message.context
        if key not in english_texts:
            problems.append(Problem("key", f"msgid {message.id!r}: English has no text {key!r}"))
            continue
        if message.id != as_text(english_texts[key]):
            problems.append(Problem("source", f"msgid {message.id!r}: the English is now "
                                              f"{as_text(english_texts[key])!r}; translate that", key))
            continue
        text = message.string if isinstance(message.string, str) else "\n".join(message.string or ())
        if not text.strip():
            continue
        found[key] = (as_value(key, text), "draft" if message.fuzzy else "reviewed")
    if problems:
        raise TranslationError(problems)
    return found


def import_po(lang: str, data: bytes, actor: str, limits: Iterable[int] = (menus.DEFAULT_MAX_CHARS,),
              progress=None) -> ImportResult:
    """Import a PO file for ``lang`` whole or not at all; ``TranslationError`` names each text and check that fails.

    Reviewed entries go in force, fuzzy ones are kept as drafts. ``progress(n)``
    is called as texts are checked (for a progress bar). The caller commits and calls ``changed``.
    """
    if lang not in editable():
        raise TranslationError([Problem("key", f"{lang!r} is not a language to translate")])
    found = read_po_file(lang, data)
    problems: list[Problem] = []
    for key, (value, _) in found.items():
        problems += _own_problems(lang, key, value)
        if progress:
            progress(1)
    if not problems:
        texts = {key: value for key, (value, _) in found.items()}
        problems = check_many(lang, texts, limits).problems
        if problems:
            # Whose fault? Each text on its own over what is in force; what only fails together is named as is.
            problems = [Problem(p.check, p.message, key) for key, value in texts.items()
                        for p in check_many(lang, {key: value}, limits).problems] or problems
    if problems:
        raise TranslationError([_with_msgid(p) for p in problems])
    result = ImportResult()
    for key, (value, state) in found.items():
        if _put(lang, key, value, state, actor, "imported"):
            result.changed += 1
            result.drafts += state == "draft"
        else:
            result.unchanged += 1
    return result


def _with_msgid(problem: Problem) -> Problem:
    if problem.key and problem.key in i18n.shipped()[i18n.FALLBACK]:
        msgid = as_text(english(problem.key))
        return Problem(problem.check, f"msgid {msgid!r}: {problem.message}", problem.key)
    return problem
