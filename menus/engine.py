"""The USSD menu engine: screen definitions as data, and one pure step function.

A menu is a set of screens (``menus/*.yaml``), each of one of five types:

- ``choice``: a title and numbered options, each leading to a screen and
  possibly setting answers; paginated with ``98. More`` / ``0. Back``;
- ``input``: a prompt whose answer is checked by a named validator and stored;
- ``confirm``: a question with ``1. Yes`` / ``2. No``;
- ``list``: lines read from the context (next visits, call-backs), paginated;
  the session ends on its last page;
- ``end``: a last message, possibly carrying an effect for the caller to carry out.

``step(menu, state, user_input, ctx) -> (Reply, new_state)`` does no I/O and
keeps nothing: the caller stores ``state`` (a JSON-able dict), carries out
``Reply.effect``, and adds ``CON ``/``END `` in front of ``Reply.text``. The
only calls out are the context's own callables (``verify_pin``,
``lookup_client``, ``list_callbacks``, ``visits``), which the caller supplies.
Reading and checking definitions is in ``menus.definitions``; the whole
contract is in docs/ussd.md.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

from gateway import i18n
from gateway.core.countries import LANGUAGES
from gateway.core.phones import PhoneError, normalise
from gateway.schedules import DAYS_PER_MONTH

SCREEN_TYPES = ("choice", "input", "confirm", "list", "end")
MORE, BACK, YES, NO = "98", "0", "1", "2"
PREFIX_CHARS = 4  # "CON " or "END ", added by the adapter but counted in the operator's limit
DEFAULT_MAX_CHARS = 160  # Safaricom; Airtel allows 184, most others 182
PIN_SCREEN = "_pin"  # the built-in PIN prompt; not a name a definition may use
STATE_VERSION = 1
MAX_INPUT_CHARS = 200  # operators pass 80-90 at most; anything longer is not an answer

# Actions an end screen may ask the caller to carry out, with the answers each takes (in this order).
ACTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "record_pickup": ("months",),
    "record_pickup_booked": ("months", "next_visit"),
    "register_baby": ("date_of_birth",),
    "breastfeeding_ended": ("stopped_on",),
    "breastfeeding_ended_today": (),
    "set_language": ("lang",),
    "set_reminder_time": ("slot",),
    "opt_out": (),
    "opt_in": (),
    "set_pin": ("pin",),
    "request_callback": (),
    "request_enrolment": (),
    "enrol_client": ("phone", "programme", "date", "language", "hiv_status"),
    "close_client": ("phone", "reason"),
    "record_test_result": ("phone", "date_of_birth", "date", "result"),
})

# Where a list screen's lines come from: the context attribute read for each.
SOURCES = ("visits", "lookup_client", "list_callbacks")
# Context flags an option may depend on (``when`` / ``unless``).
FLAGS = ("pin_set", "opted_out")
# Answers kept as numbers (option values are written as text in the YAML).
INTEGER_FIELDS = frozenset({"months"})
# Answers never shown and never kept once the session ends.
SECRET_FIELDS = frozenset({"pin", "pin_repeat"})
# Values computed from answers for display: name -> (answers needed, how).
# next_pickup: "months" of medicine are DAYS_PER_MONTH-day units (docs/schedules.md), counted from today.
DERIVED: Mapping[str, tuple[tuple[str, ...], Callable[[Mapping[str, Any], "Context", str], str]]] = \
    MappingProxyType({
        "next_pickup": (("months",), lambda answers, ctx, lang: i18n.format_date(
            ctx.today + dt.timedelta(days=DAYS_PER_MONTH * int(answers["months"])), lang)),
    })


class MenuError(ValueError):
    """A menu definition is wrong; ``errors`` has one line per problem."""

    def __init__(self, errors: Sequence[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class Invalid(Exception):
    """An answer a validator refuses; ``key`` is the catalogue key of the short reason shown."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


# ---------------------------------------------------------------- the contract


@dataclass(frozen=True)
class Reply:
    """What to show: ``text`` without the ``CON``/``END`` prefix, whether the session ends, and an effect.

    ``effect`` is ``None`` or ``{"action": <name in ACTIONS>, <its answers>...}``:
    something confirmed that the caller must now do. ``text`` already says it
    was done; if it fails, the caller shows ``outcome_reply(...)`` instead.
    """

    text: str
    end: bool
    effect: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Context:
    """Everything a screen may need from outside, supplied read-only by the caller for one step.

    ``verify_pin(pin)`` checks a 4-digit PIN and counts failures in memory
    (``menus.PinLedger.verify``: the rule of ``menus.pin.check_pin_attempt``;
    the caller stores the attempts after the step, so the step itself writes
    nothing); it returns ``"ok"``, ``"wrong"`` or ``"locked"`` (``True``/``False``
    also do). The list sources are read-only and
    are called only when their screen is shown:
    ``visits`` -> [(date or formatted date, discreet label)], or a callable giving that;
    ``lookup_client(phone)`` -> the same for that client, ``None`` if not found or not the caller's;
    ``list_callbacks()`` -> ready-made lines (e.g. ``"+27821234567 09:40"``).
    """

    today: dt.date  # the caller's local date: dates of birth may not be after it
    language: str = "en"  # the caller's language; unknown codes fall back to English
    max_chars: int = DEFAULT_MAX_CHARS  # this network's screen limit, CON/END prefix included
    country: str = "ZA"  # for reading phone numbers typed in local form
    pin_set: bool = False
    pin_locked: bool = False  # locked before this session began (three wrong PINs)
    verify_pin: Callable[[str], str | bool] | None = None
    opted_out: bool = False
    visits: Sequence[tuple[Any, str]] | Callable[[], Sequence[tuple[Any, str]]] = ()
    lookup_client: Callable[[str], Sequence[tuple[Any, str]] | None] | None = None
    list_callbacks: Callable[[], Sequence[str]] | None = None
    # The languages a caller may choose (i18n.offered_languages()); None shows every one, as the checks need.
    languages: Sequence[str] | None = None
    # known(answer name) -> the values the caller has already (her babies' dates of birth): an input
    # screen's ``if_known`` leads elsewhere when the answer is one of them (twins, or the same baby twice).
    known: Callable[[str], Collection[str]] | None = None

    def __post_init__(self):
        if self.max_chars < 40:  # the settings refuse less, too: no menu is usable below it
            raise ValueError("max_chars must be at least 40")


# ---------------------------------------------------------------- definitions


@dataclass(frozen=True)
class Option:
    """One numbered choice: its key (what the user types), its label, where it leads, what it sets."""

    key: str
    next: str
    label: str | None = None  # catalogue key
    text: str | None = None  # literal label (a language's own name), used when there is no catalogue key
    params: Mapping[str, str] = field(default_factory=dict)  # fixed parameters of the label
    set: Mapping[str, str] = field(default_factory=dict)  # answers this choice sets
    when: str | None = None  # shown only if this context flag is true
    unless: str | None = None  # shown only if this context flag is false
    language: str | None = None  # options_from languages: the code it offers, shown only while offered

    def visible(self, ctx: Context) -> bool:
        return (self.when is None or bool(getattr(ctx, self.when))) and \
            (self.unless is None or not getattr(ctx, self.unless)) and \
            (self.language is None or ctx.languages is None or self.language in ctx.languages)

    def caption(self, lang: str) -> str:
        return i18n.render(self.label, lang, **self.params) if self.label else (self.text or "")


@dataclass(frozen=True)
class Screen:
    """One screen of a menu; which fields apply depends on ``type`` (see docs/ussd.md)."""

    id: str
    type: str
    text: str | None = None  # catalogue key: title, prompt, question or message
    options: tuple[Option, ...] = ()
    next: str | None = None  # input: where a valid answer leads
    if_known: str | None = None  # input: where an answer the caller already has (Context.known) leads instead
    back: str | None = None  # choice, input, list: where "0. Back" leads (no "0. Back" without it)
    yes: str | None = None  # confirm
    no: str | None = None  # confirm
    validate: str | None = None  # input: a name in VALIDATORS
    store: str | None = None  # input: the answer's name
    source: str | None = None  # list: a name in SOURCES
    empty: str | None = None  # list: the message when there are no lines
    missing: str | None = None  # list (lookup_client): the message when the client is not found
    effect: Mapping[str, str] | None = None  # end: {"action": ..., fixed fields...}
    lang_from: str | None = None  # end: shown in the language this answer holds
    pin: bool = False  # reveals or changes health details: asks for the PIN first, if one is set

    def targets(self) -> list[tuple[str, str]]:
        """(label, target) for every way out of this screen."""
        out = [(f"{o.key}", o.next) for o in self.options]
        out += [(name, t) for name, t in (("next", self.next), ("if_known", self.if_known), ("yes", self.yes),
                                          ("no", self.no), ("back", self.back)) if t]
        return out


@dataclass(frozen=True)
class Menu:
    """A journey: its screens, the first one, and whether the whole menu sits behind the PIN.

    ``pin`` is ``optional`` (screens marked ``pin`` ask for it when the caller
    has one) or ``required`` (nothing is shown before the PIN; for coordinators).
    """

    name: str
    start: str
    screens: Mapping[str, Screen]
    pin: str = "optional"

    def labels(self, field_name: str, value: Any) -> list[Option]:
        """The options that set ``field_name`` to ``value``: their labels are how that answer is shown."""
        return [o for s in self.screens.values() for o in s.options if str(o.set.get(field_name)) == str(value)]

    @property
    def date_fields(self) -> frozenset[str]:
        return frozenset(s.store for s in self.screens.values()
                         if s.type == "input" and s.validate in VALIDATORS and VALIDATORS[s.validate].is_date)

    def keys(self) -> set[str]:
        """Every catalogue key this menu's screens use."""
        found = set()
        for s in self.screens.values():
            found.update(k for k in (s.text, s.empty, s.missing) if k)
            found.update(o.label for o in s.options if o.label)
        return found


# ---------------------------------------------------------------- validators


@dataclass(frozen=True)
class Validator:
    """Checks one typed answer: ``check(text, answers, ctx)`` returns the value to keep or raises ``Invalid``."""

    check: Callable[[str, Mapping[str, Any], Context], Any]
    errors: tuple[str, ...]  # every reason it may give (the screen must have room for the longest)
    sample: str = ""  # the longest value it may keep, for checking that screens fit
    is_date: bool = False


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _parse_date(text: str) -> dt.date:
    if not re.fullmatch(r"[0-9]{8}", text):
        raise Invalid("ussd.error.date")
    try:
        return dt.date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:  # 31022025 and the like
        raise Invalid("ussd.error.date") from None


def _date_between(earliest: Callable[[dt.date], dt.date], latest: Callable[[dt.date], dt.date],
                  too_early: str, too_late: str):
    def check(text: str, answers: Mapping[str, Any], ctx: Context) -> str:
        day = _parse_date(text)
        if day > latest(ctx.today):
            raise Invalid(too_late)
        if day < earliest(ctx.today):
            raise Invalid(too_early)
        return day.isoformat()
    return check


def _pin(text: str, answers: Mapping[str, Any], ctx: Context) -> str:
    if not re.fullmatch(r"[0-9]{4}", text):
        raise Invalid("ussd.error.pin")
    return text


def _pin_repeat(text: str, answers: Mapping[str, Any], ctx: Context) -> str:
    if _pin(text, answers, ctx) != answers.get("pin"):
        raise Invalid("ussd.error.pin_mismatch")
    return text


def _phone(text: str, answers: Mapping[str, Any], ctx: Context) -> str:
    try:
        return normalise(text, ctx.country)
    except PhoneError:
        raise Invalid("ussd.error.phone") from None


_DATE_ERRORS = ("ussd.error.date",)
VALIDATORS: Mapping[str, Validator] = MappingProxyType({
    "pin": Validator(_pin, ("ussd.error.pin",), "0000"),
    "pin_repeat": Validator(_pin_repeat, ("ussd.error.pin", "ussd.error.pin_mismatch"), "0000"),
    "phone": Validator(_phone, ("ussd.error.phone",), "+" + "9" * 15),
    # A baby registered here is at most 5 years old (the infant schedules end well before).
    "date_of_birth": Validator(
        _date_between(lambda t: _years_before(t, 5), lambda t: t, "ussd.error.date_too_old", "ussd.error.date_future"),
        _DATE_ERRORS + ("ussd.error.date_too_old", "ussd.error.date_future"), is_date=True),
    # An expected delivery date: today at the earliest, at most 44 weeks ahead (a whole pregnancy and a margin).
    "delivery_date": Validator(
        _date_between(lambda t: t, lambda t: t + dt.timedelta(weeks=44), "ussd.error.date_past",
                      "ussd.error.date_too_far"),
        _DATE_ERRORS + ("ussd.error.date_past", "ussd.error.date_too_far"), is_date=True),
    # The day a baby stopped breastfeeding: not in the future, at most 5 years ago (as a date of birth).
    "stopped_on": Validator(
        _date_between(lambda t: _years_before(t, 5), lambda t: t, "ussd.error.date_too_old", "ussd.error.date_future"),
        _DATE_ERRORS + ("ussd.error.date_too_old", "ussd.error.date_future"), is_date=True),
    # The next ART pick-up: today at the earliest; a year ahead is already more than any supply given.
    "pickup_date": Validator(
        _date_between(lambda t: t, lambda t: t + dt.timedelta(days=366), "ussd.error.date_past",
                      "ussd.error.date_too_far"),
        _DATE_ERRORS + ("ussd.error.date_past", "ussd.error.date_too_far"), is_date=True),
})


# ---------------------------------------------------------------- laying out a screen


def _option_line(key: str, label: str) -> str:
    return f"{key}. {label}"


def _nav(lang: str) -> tuple[str, str]:
    return _option_line(MORE, i18n.render("ussd.more", lang)), _option_line(BACK, i18n.render("ussd.back", lang))


def _join(lines: Iterable[str | None]) -> str:
    return "\n".join(line for line in lines if line)


def _squeeze(line: str, room: int) -> str:
    """A line cut to ``room`` characters, marked as cut."""
    if len(line) <= room:
        return line
    return line[:max(room - 2, 0)].rstrip() + ".." if room >= 3 else line[:max(room, 0)]


@dataclass(frozen=True)
class _Layout:
    """A paginated screen: the head, the item lines, and where each page starts and stops."""

    head: str
    items: tuple[str, ...]
    pages: tuple[tuple[int, int], ...]
    back_first: bool  # "0. Back" on the first page (the screen has a back target)
    end_last: bool  # the last page ends the session (list screens)

    def page_text(self, page: int, lang: str, budget: int) -> str:
        more, back = _nav(lang)
        start, stop = self.pages[page]
        last = page == len(self.pages) - 1
        nav = [] if (last and self.end_last) else [
            more if not last else None, back if (page > 0 or self.back_first) else None]
        items = list(self.items[start:stop])
        text = _join([self.head, *items, *nav])
        if len(text) > budget and len(items) == 1:  # one line longer than a screen: cut it, keep the choices
            items[0] = _squeeze(items[0], budget - (len(text) - len(items[0])))
            text = _join([self.head, *items, *nav])
        return text


def _paginate(head: str, items: Sequence[str], budget: int, lang: str, back_first: bool, end_last: bool) -> _Layout:
    more, back = _nav(lang)

    def width(line: str | None) -> int:  # what a line adds to a ``_join``: itself and a newline (none if empty)
        return len(line) + 1 if line else 0

    # ends[j]: the width of items[:j]; a page's length comes from two of them, so a long list
    # (a coordinator's call-backs) is paged in one pass, not by joining what is left for every page.
    ends = [0]
    for item in items:
        ends.append(ends[-1] + width(item))

    def size(i: int, j: int, *nav: str | None) -> int:  # len(_join([head, *items[i:j], *nav]))
        return max(0, width(head) + ends[j] - ends[i] + sum(width(line) for line in nav) - 1)

    pages: list[tuple[int, int]] = []
    i, n = 0, len(items)
    while i < n or not pages:
        has_back = bool(pages) or back_first
        last_nav = () if end_last else (back if has_back else None,)
        if size(i, n, *last_nav) <= budget:
            pages.append((i, n))
            break
        k = 0
        while i + k < n and size(i, i + k + 1, more, back if has_back else None) <= budget:
            k += 1
        k = max(k, 1)  # a line that fits nowhere still gets a page of its own (cut to fit)
        pages.append((i, i + k))
        i += k
    return _Layout(head, tuple(items), tuple(pages), back_first, end_last)


def _error_room(screen: Screen | None, lang: str) -> int:
    """Characters kept free on a paginated page for the longest reason this screen may show, plus its newline."""
    keys = ["ussd.error.choice"]
    if screen is not None and screen.type == "input" and screen.validate in VALIDATORS:
        keys += VALIDATORS[screen.validate].errors
    return max(len(i18n.render(k, lang)) for k in keys) + 1


def _with_error(error: str | None, body: str, budget: int) -> str:
    # The question must stay whole: a reason that would push it over the limit is left out.
    if error and len(error) + 1 + len(body) <= budget:
        return f"{error}\n{body}"
    return body


# ---------------------------------------------------------------- state


def new_state(menu: Menu, ctx: Context) -> dict[str, Any]:
    """A session's state before its first screen."""
    return {"v": STATE_VERSION, "menu": menu.name, "screen": None, "page": 0, "lang": i18n.language(ctx.language),
            "answers": {}, "pin_ok": False, "pin_next": None, "pin_back": None, "done": False}


def _usable(menu: Menu, state: Any) -> bool:
    """True if ``state`` is a live state of this menu (not ended, not from another version or menu)."""
    if not isinstance(state, dict) or state.get("v") != STATE_VERSION or state.get("menu") != menu.name:
        return False
    if state.get("done") or not isinstance(state.get("answers"), dict) or not isinstance(state.get("page"), int):
        return False
    if not isinstance(state.get("lang"), str):
        return False
    screen = state.get("screen")
    if screen == PIN_SCREEN:
        return state.get("pin_next") in menu.screens
    return screen in menu.screens


def _params(menu: Menu, state: Mapping[str, Any], ctx: Context, lang: str) -> dict[str, str]:
    """The answers as they are shown in ``lang``, and the values derived from them."""
    answers = state["answers"]
    out: dict[str, str] = {}
    for name, value in answers.items():
        if name in SECRET_FIELDS:
            continue
        options = menu.labels(name, value)
        if options:
            out[name] = options[0].caption(lang)
        elif name in menu.date_fields:
            out[name] = i18n.format_date(dt.date.fromisoformat(value), lang, year=True)
        else:
            out[name] = str(value)
    for name, (needs, how) in DERIVED.items():
        if all(n in answers for n in needs):
            out[name] = how(answers, ctx, lang)
    return out


def _budget(ctx: Context) -> int:
    return ctx.max_chars - PREFIX_CHARS


def _fit(text: str, ctx: Context) -> str:
    # Last resort only: check() keeps every defined screen inside the limit.
    return text if len(text) <= _budget(ctx) else text[:_budget(ctx)].rstrip()


# ---------------------------------------------------------------- showing screens


def _read_source(screen: Screen, state: Mapping[str, Any], ctx: Context, lang: str) -> list[str] | None:
    """The lines of a list screen, or None when the client looked up is unknown."""
    if screen.source == "list_callbacks":
        rows = ctx.list_callbacks() if ctx.list_callbacks else []
        return [str(r) for r in rows]
    if screen.source == "lookup_client":
        rows = ctx.lookup_client(state["answers"].get("phone", "")) if ctx.lookup_client else None
        if rows is None:
            return None
    else:
        rows = ctx.visits() if callable(ctx.visits) else ctx.visits
    lines = []
    for when, what in rows:
        date = i18n.format_date(when, lang) if isinstance(when, dt.date) else str(when)
        lines.append(i18n.render("ussd.visit_line", lang, date=date, what=str(what)))
    return lines


def _shown(screen: Screen, ctx: Context) -> list[Option]:
    """The options this caller sees; a list of languages holds the offered ones only, numbered 1, 2, 3..."""
    shown = [o for o in screen.options if o.visible(ctx)]
    if any(o.language for o in shown):
        shown = [replace(o, key=str(i)) for i, o in enumerate(shown, start=1)]
    return shown


def _choice_layout(screen: Screen, ctx: Context, lang: str, params: Mapping[str, str]) -> _Layout:
    head = i18n.render(screen.text, lang, **params) if screen.text else ""
    items = [_option_line(o.key, o.caption(lang)) for o in _shown(screen, ctx)]
    return _paginate(head, items, _budget(ctx) - _error_room(screen, lang), lang, bool(screen.back), False)


def _list_layout(screen: Screen, ctx: Context, lang: str, params: Mapping[str, str], lines: Sequence[str]) -> _Layout:
    head = i18n.render(screen.text, lang, **params)
    return _paginate(head, lines, _budget(ctx) - _error_room(screen, lang), lang, bool(screen.back), True)


def _end(state: dict, text: str, ctx: Context, effect: Mapping[str, Any] | None = None) -> tuple[Reply, dict]:
    # A finished session keeps no secret (a new PIN typed twice) in its last state.
    answers = {k: v for k, v in state["answers"].items() if k not in SECRET_FIELDS}
    return Reply(_fit(text, ctx), True, effect), {**state, "answers": answers, "done": True}


def _show(menu: Menu, state: dict, ctx: Context, error: str | None = None) -> tuple[Reply, dict]:
    """The reply for the screen ``state`` is on (with a short reason above it after a refused answer)."""
    lang = state["lang"]
    reason = i18n.render(error, lang) if error else None
    if state["screen"] == PIN_SCREEN:
        body = _join([i18n.render("ussd.pin.prompt", lang),
                      _nav(lang)[1] if state.get("pin_back") else None])
        return Reply(_fit(_with_error(reason, body, _budget(ctx)), ctx), False), state
    screen = menu.screens[state["screen"]]
    params = _params(menu, state, ctx, lang)
    if screen.type == "end":
        return _finish(menu, screen, state, ctx)
    if screen.type == "confirm":
        yes, no = i18n.render("ussd.yes", lang), i18n.render("ussd.no", lang)
        body = _join([i18n.render(screen.text, lang, **params), _option_line(YES, yes), _option_line(NO, no)])
        return Reply(_fit(_with_error(reason, body, _budget(ctx)), ctx), False), state
    if screen.type == "input":
        body = _join([i18n.render(screen.text, lang, **params), _nav(lang)[1] if screen.back else None])
        return Reply(_fit(_with_error(reason, body, _budget(ctx)), ctx), False), state
    if screen.type == "choice":
        layout = _choice_layout(screen, ctx, lang, params)
        end = False
    else:
        lines = _read_source(screen, state, ctx, lang)
        if lines is None or not lines:
            return _end(state, i18n.render(screen.missing if lines is None else screen.empty, lang, **params), ctx)
        layout = _list_layout(screen, ctx, lang, params, lines)
        end = state["page"] >= len(layout.pages) - 1
    page = min(max(state["page"], 0), len(layout.pages) - 1)
    state = {**state, "page": page}
    text = _with_error(reason, layout.page_text(page, lang, _budget(ctx)), _budget(ctx))
    if end:
        return _end(state, text, ctx)
    return Reply(_fit(text, ctx), False), state


def _finish(menu: Menu, screen: Screen, state: dict, ctx: Context) -> tuple[Reply, dict]:
    """An end screen: its message (in the answer's language for lang_from) and its effect."""
    answers = state["answers"]
    effect = None
    if screen.effect:
        action = screen.effect["action"]
        if not all(name in answers for name in ACTIONS[action]):  # only a corrupted state gets here
            return _end(state, i18n.render("ussd.unavailable", state["lang"]), ctx)
        effect = {**screen.effect, **{name: answers[name] for name in ACTIONS[action]}}
    if screen.lang_from and answers.get(screen.lang_from) in LANGUAGES:
        state = {**state, "lang": answers[screen.lang_from]}
    lang = state["lang"]
    return _end(state, i18n.render(screen.text, lang, **_params(menu, state, ctx, lang)), ctx, effect)


def _needs_pin(menu: Menu, screen: Screen, state: Mapping, ctx: Context) -> bool:
    if state.get("pin_ok"):
        return False
    return menu.pin == "required" or (screen.pin and ctx.pin_set)


def _enter(menu: Menu, state: dict, target: str, ctx: Context, came_from: str | None) -> tuple[Reply, dict]:
    """Go to ``target``, by way of the PIN prompt when it needs one."""
    screen = menu.screens[target]
    if _needs_pin(menu, screen, state, ctx):
        lang = state["lang"]
        if not ctx.pin_set:  # a menu that requires a PIN, for a caller who has none
            return _end(state, i18n.render("ussd.pin.not_set", lang), ctx)
        if ctx.pin_locked:
            return _end(state, _locked_text(lang), ctx)
        state = {**state, "screen": PIN_SCREEN, "page": 0, "pin_next": target, "pin_back": came_from}
        return _show(menu, state, ctx)
    return _show(menu, {**state, "screen": target, "page": 0}, ctx)


def _locked_text(lang: str) -> str:
    from menus.pin import LOCK_MINUTES

    return i18n.render("ussd.pin.locked", lang, minutes=LOCK_MINUTES)


# ---------------------------------------------------------------- answering screens


def _pin_answer(menu: Menu, state: dict, text: str, ctx: Context) -> tuple[Reply, dict]:
    if text == BACK and state.get("pin_back"):
        return _enter(menu, {**state, "pin_next": None, "pin_back": None}, state["pin_back"], ctx, None)
    if not re.fullmatch(r"[0-9]{4}", text):
        return _show(menu, state, ctx, "ussd.error.pin")  # a typing slip, not a wrong PIN: not counted
    verdict = ctx.verify_pin(text) if ctx.verify_pin else "locked"
    verdict = {True: "ok", False: "wrong"}.get(verdict, verdict) if isinstance(verdict, bool) else verdict
    if verdict == "ok":
        target = state["pin_next"]
        return _enter(menu, {**state, "pin_ok": True, "pin_next": None, "pin_back": None}, target, ctx, None)
    if verdict == "wrong":
        return _show(menu, state, ctx, "ussd.pin.wrong")
    return _end(state, _locked_text(state["lang"]), ctx)


def _answer(menu: Menu, state: dict, text: str, ctx: Context) -> tuple[Reply, dict]:
    screen = menu.screens[state["screen"]]
    lang = state["lang"]
    here = screen.id
    if screen.type == "confirm":
        if text == YES:
            return _enter(menu, state, screen.yes, ctx, here)
        if text == NO:
            return _enter(menu, state, screen.no, ctx, here)
        return _show(menu, state, ctx, "ussd.error.choice")
    if screen.type == "input":
        if text == BACK and screen.back:
            return _enter(menu, state, screen.back, ctx, here)
        try:
            value = VALIDATORS[screen.validate].check(text, state["answers"], ctx)
        except Invalid as refused:
            return _show(menu, state, ctx, refused.key)
        target = screen.next
        if screen.if_known and ctx.known is not None and value in ctx.known(screen.store):
            target = screen.if_known
        return _enter(menu, {**state, "answers": {**state["answers"], screen.store: value}}, target, ctx, here)
    # choice and list: pages first
    params = _params(menu, state, ctx, lang)
    if screen.type == "choice":
        layout = _choice_layout(screen, ctx, lang, params)
    else:
        layout = _list_layout(screen, ctx, lang, params, _read_source(screen, state, ctx, lang) or [])
    page = min(max(state["page"], 0), len(layout.pages) - 1)
    if text == MORE and page < len(layout.pages) - 1:
        return _show(menu, {**state, "page": page + 1}, ctx)
    if text == BACK and page > 0:
        return _show(menu, {**state, "page": page - 1}, ctx)
    if text == BACK and screen.back:
        return _enter(menu, state, screen.back, ctx, here)
    if screen.type == "choice":
        for option in _shown(screen, ctx):
            if option.key == text:
                answers = {**state["answers"]}
                for name, value in option.set.items():
                    answers[name] = int(value) if name in INTEGER_FIELDS else value
                return _enter(menu, {**state, "answers": answers}, option.next, ctx, here)
    return _show(menu, {**state, "page": page}, ctx, "ussd.error.choice")


def _guard(menu: Menu, state: Mapping, ctx: Context, reply: Reply) -> Reply:
    """Never show, before a PIN, a screen that names HIV or its treatment (a shared phone may be read by anyone).

    Definitions are checked for this; what the caller supplies (visit labels) is checked here.
    """
    if menu.pin == "required" or state.get("pin_ok") or not i18n.discloses(reply.text):
        return reply
    return Reply(_fit(i18n.render("ussd.unavailable", state["lang"]), ctx), True, None)


def start(menu: Menu, ctx: Context) -> tuple[Reply, dict[str, Any]]:
    """The first screen of ``menu`` for a new session, and the session's state."""
    state = new_state(menu, ctx)
    reply, state = _enter(menu, state, menu.start, ctx, None)
    return _guard(menu, state, ctx, reply), state


def step(menu: Menu, state: Mapping[str, Any] | None, user_input: str | None,
         ctx: Context) -> tuple[Reply, dict[str, Any]]:
    """Answer one USSD request: the reply to show and the state to keep for the next one.

    ``state`` None (or ended, or from another menu or version) starts the menu
    afresh and ignores ``user_input``. Any input is safe: a refused answer
    shows a short reason and the same question again, and never ends the session.
    """
    if not _usable(menu, state):
        return start(menu, ctx)
    state = dict(state)
    text = "" if user_input is None else str(user_input).strip()
    if len(text) > MAX_INPUT_CHARS:
        text = "\x00"  # refused below like any other wrong answer, without reading it all
    if state["screen"] == PIN_SCREEN:
        reply, state = _pin_answer(menu, state, text, ctx)
    else:
        reply, state = _answer(menu, state, text, ctx)
    if reply.end and not state.get("done"):
        state = {**state, "done": True}
    return _guard(menu, state, ctx, reply), state


def outcome_reply(effect: Mapping[str, Any], outcome: str, lang: str, ctx: Context | None = None) -> Reply:
    """The last screen when carrying out ``effect`` did not go as its end screen said.

    ``outcome`` names what happened instead; the text is
    ``ussd.outcome.<action>.<outcome>`` if the catalogue has one (e.g.
    ``enrol_client`` / ``exists``), else the general ``ussd.failed``.
    """
    key = f"ussd.outcome.{effect.get('action')}.{outcome}"
    try:
        text = i18n.render(key, lang, **{k: str(v) for k, v in effect.items()})
    except KeyError:
        text = i18n.render("ussd.failed", lang)
    limit = (ctx.max_chars if ctx else DEFAULT_MAX_CHARS) - PREFIX_CHARS
    return Reply(text[:limit], True, None)
