"""Menu definitions: reading them from YAML and checking them before any caller sees them.

``load_menu`` reads one file (``menus/client.yaml``...), ``parse_menu`` turns
its data into a ``Menu``, and ``check`` finds every problem: a target or text
that does not exist, an unknown action or validator, an answer an action needs
that no screen sets, a screen nobody can reach, and, in every language at
every screen limit, a screen that does not fit (with the reason line a wrong
answer adds) or that names HIV or its treatment before a PIN.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import yaml

from gateway import i18n
from gateway.core.countries import LANGUAGES

from menus.engine import (
    ACTIONS,
    DEFAULT_MAX_CHARS,
    DERIVED,
    FLAGS,
    INTEGER_FIELDS,
    MORE,
    NO,
    PIN_SCREEN,
    PREFIX_CHARS,
    SCREEN_TYPES,
    SECRET_FIELDS,
    SOURCES,
    VALIDATORS,
    YES,
    Context,
    Menu,
    MenuError,
    Option,
    Screen,
    _choice_layout,
    _join,
    _list_layout,
    _locked_text,
    _nav,
    _option_line,
)


# ---------------------------------------------------------------- reading definitions


class _Reader:
    """Reads a menu's YAML data into a ``Menu``, collecting every structural problem."""

    SCREEN_FIELDS = {
        "choice": {"type", "title", "options", "options_from", "store", "next", "back", "pin"},
        "input": {"type", "prompt", "validate", "store", "next", "if_known", "back", "pin"},
        "confirm": {"type", "text", "yes", "no", "pin"},
        "list": {"type", "title", "source", "empty", "missing", "back", "pin"},
        "end": {"type", "text", "effect", "lang_from", "pin"},
    }
    OPTION_FIELDS = {"key", "label", "text", "params", "set", "next", "when", "unless"}

    def __init__(self, name: str):
        self.name = name
        self.problems: list[str] = []

    def fail(self, where: str, problem: str) -> None:
        self.problems.append(f"{self.name}: {where}: {problem}")

    def text(self, where: str, data: Mapping, key: str, required: bool = False) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(where, f"needs '{key}'")
            return None
        if not isinstance(value, str) or not value:
            self.fail(where, f"'{key}' must be a text")
            return None
        return value

    def flag(self, where: str, data: Mapping, key: str) -> bool:
        value = data.get(key, "false")
        if value not in ("true", "false"):
            self.fail(where, f"'{key}' must be true or false")
        return value == "true"

    def mapping(self, where: str, data: Mapping, key: str) -> dict[str, str]:
        value = data.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail(where, f"'{key}' must map names to texts")
            return {}
        return dict(value)

    def options(self, where: str, data: Mapping) -> tuple[Option, ...]:
        if "options_from" in data:
            if data["options_from"] != "languages":
                self.fail(where, "options_from: only 'languages' is known")
                return ()
            store, target = self.text(where, data, "store", True), self.text(where, data, "next", True)
            if "options" in data:
                self.fail(where, "has both options and options_from")
            # The languages the gateway knows, each in its own name, in countries.LANGUAGES order; a caller
            # sees only the offered ones (Context.languages), numbered afresh.
            return tuple(Option(key=str(i), next=target or "", text=name, set={store or "": code}, language=code)
                         for i, (code, name) in enumerate(LANGUAGES.items(), start=1))
        for key in ("store", "next"):
            if key in data:
                self.fail(where, f"'{key}' belongs to options_from; give each option its own next")
        raw = data.get("options")
        if not isinstance(raw, list) or not raw:
            self.fail(where, "needs a list of options")
            return ()
        out = []
        for i, item in enumerate(raw, start=1):
            at = f"{where}: option {i}"
            if not isinstance(item, dict):
                self.fail(at, "must be a mapping")
                continue
            for unknown in sorted(set(item) - self.OPTION_FIELDS):
                self.fail(at, f"unknown field '{unknown}'")
            label, text = self.text(at, item, "label"), self.text(at, item, "text")
            if not (label or text):
                self.fail(at, "needs a label (a catalogue key) or a text")
            out.append(Option(key=str(item.get("key", i)), next=self.text(at, item, "next", True) or "",
                              label=label, text=text, params=self.mapping(at, item, "params"),
                              set=self.mapping(at, item, "set"), when=self.text(at, item, "when"),
                              unless=self.text(at, item, "unless")))
        return tuple(out)

    def screen(self, sid: str, data: Any) -> Screen | None:
        where = f"screen {sid}"
        if not isinstance(data, dict):
            self.fail(where, "must be a mapping")
            return None
        kind = data.get("type")
        if kind not in SCREEN_TYPES:
            self.fail(where, f"type must be one of {', '.join(SCREEN_TYPES)}")
            return None
        for unknown in sorted(set(data) - self.SCREEN_FIELDS[kind]):
            self.fail(where, f"unknown field '{unknown}' for a {kind} screen")
        text_field = {"choice": "title", "input": "prompt", "list": "title"}.get(kind, "text")
        effect = data.get("effect")
        if effect is not None and (not isinstance(effect, dict) or not isinstance(effect.get("action"), str)
                                   or not all(isinstance(v, str) for v in effect.values())):
            self.fail(where, "effect must be a mapping with an action and fixed texts")
            effect = None
        elif effect is not None:
            effect = {k: {"true": True, "false": False}.get(v, v) for k, v in effect.items()}
        return Screen(
            id=sid, type=kind, text=self.text(where, data, text_field, required=kind != "choice"),
            options=self.options(where, data) if kind == "choice" else (),
            next=self.text(where, data, "next") if kind == "input" else None,
            if_known=self.text(where, data, "if_known") if kind == "input" else None,
            back=self.text(where, data, "back"), yes=self.text(where, data, "yes"), no=self.text(where, data, "no"),
            validate=self.text(where, data, "validate"), store=self.text(where, data, "store"),
            source=self.text(where, data, "source"), empty=self.text(where, data, "empty"),
            missing=self.text(where, data, "missing"), effect=effect, lang_from=self.text(where, data, "lang_from"),
            pin=self.flag(where, data, "pin"))

    def menu(self, data: Any) -> Menu:
        if not isinstance(data, dict) or not isinstance(data.get("screens"), dict):
            self.fail("menu", "must be a mapping with 'start' and 'screens'")
            return Menu(self.name, "", {})
        for unknown in sorted(set(data) - {"start", "pin", "screens"}):
            self.fail("menu", f"unknown field '{unknown}'")
        pin = data.get("pin", "optional")
        if pin not in ("optional", "required"):
            self.fail("menu", "pin must be optional or required")
        screens = {}
        for sid, raw in data["screens"].items():
            if sid == PIN_SCREEN:
                self.fail(f"screen {sid}", "this name is kept for the built-in PIN screen")
            screen = self.screen(sid, raw)
            if screen is not None:
                screens[sid] = screen
        return Menu(self.name, self.text("menu", data, "start", True) or "", MappingProxyType(screens), pin)


def parse_menu(name: str, data: Any) -> Menu:
    """A ``Menu`` from YAML-shaped data (all values text, as ``yaml.BaseLoader`` gives); ``MenuError`` if malformed."""
    reader = _Reader(name)
    menu = reader.menu(data)
    if reader.problems:
        raise MenuError(reader.problems)
    return menu


def load_menu(path: Path, limits: Iterable[int] = (DEFAULT_MAX_CHARS,)) -> Menu:
    """Read, parse and check one menu file; ``MenuError`` lists every problem."""
    path = Path(path)
    try:
        # BaseLoader: values stay as written (YAML 1.1 would read "no" and "yes" as booleans).
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MenuError([f"{path.name}: cannot be read: {exc}"]) from None
    menu = parse_menu(path.stem, data)
    problems = check(menu, limits)
    if problems:
        raise MenuError(problems)
    return menu


# ---------------------------------------------------------------- checking definitions


def _reachable(menu: Menu) -> set[str]:
    seen, todo = set(), [menu.start]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in menu.screens:
            continue
        seen.add(sid)
        todo.extend(t for _, t in menu.screens[sid].targets())
    return seen


def _fields_set(menu: Menu) -> set[str]:
    names = {s.store for s in menu.screens.values() if s.type == "input" and s.store}
    names |= {n for s in menu.screens.values() for o in s.options for n in o.set}
    return names


def _complementary(a: Option, b: Option) -> bool:
    """True if never both visible: one shown ``when`` a flag, the other ``unless`` that flag."""
    return bool((a.when and a.when == b.unless) or (a.unless and a.unless == b.when))


def _check_structure(menu: Menu) -> list[str]:
    problems: list[str] = []

    def fail(where: str, problem: str) -> None:
        problems.append(f"{menu.name}: {where}: {problem}")

    english = set(i18n.keys())
    if menu.start not in menu.screens:
        fail("menu", f"start screen '{menu.start}' does not exist")
    fields = _fields_set(menu)
    for sid, s in menu.screens.items():
        where = f"screen {sid}"
        for label, target in s.targets():
            if target not in menu.screens:
                fail(where, f"{label} leads to '{target}', which does not exist")
        for key in sorted(k for k in (s.text, s.empty, s.missing, *(o.label for o in s.options)) if k):
            if key not in english:
                fail(where, f"text '{key}' is not in the English catalogue")
        if s.type == "choice":
            if not s.options:
                fail(where, "has no options")
            for o in s.options:
                if not re.fullmatch(r"[1-9][0-9]?", o.key) or o.key == MORE:
                    fail(where, f"option key '{o.key}' must be a number from 1 to 97")
                for flag in (o.when, o.unless):
                    if flag and flag not in FLAGS:
                        fail(where, f"option {o.key}: unknown flag '{flag}' (known: {', '.join(FLAGS)})")
                for name, value in o.set.items():
                    if name in INTEGER_FIELDS and not value.isdigit():
                        fail(where, f"option {o.key}: {name} must be a whole number")
            for key, same_key in itertools.groupby(sorted(s.options, key=lambda o: o.key), key=lambda o: o.key):
                group = list(same_key)
                if len(group) > 1 and not (len(group) == 2 and _complementary(*group)):
                    fail(where, f"option key '{key}' is used twice (allowed only for 'when: X' and 'unless: X')")
        elif s.type == "input":
            if s.validate not in VALIDATORS:
                fail(where, f"validate must be one of {', '.join(VALIDATORS)}")
            if not s.store:
                fail(where, "needs 'store' (the answer's name)")
            if not s.next:
                fail(where, "needs 'next'")
        elif s.type == "confirm":
            if not (s.yes and s.no):
                fail(where, "needs both 'yes' and 'no'")
        elif s.type == "list":
            if s.source not in SOURCES:
                fail(where, f"source must be one of {', '.join(SOURCES)}")
            if not s.empty:
                fail(where, "needs 'empty' (the message when there is nothing to list)")
            if s.source == "lookup_client":
                if not s.missing:
                    fail(where, "needs 'missing' (the message when no client is found)")
                if "phone" not in fields:
                    fail(where, "lookup_client needs a 'phone' answer, and no screen stores one")
        elif s.type == "end" and s.effect:
            action = s.effect.get("action")
            if action not in ACTIONS:
                fail(where, f"unknown action '{action}' (known: {', '.join(ACTIONS)})")
            else:
                for name in ACTIONS[action]:
                    if name not in fields:
                        fail(where, f"action {action} needs the answer '{name}', and no screen sets it")
                for name in s.effect:
                    if name in ACTIONS[action]:
                        fail(where, f"effect field '{name}' is an answer; it cannot be fixed here")
        if s.lang_from and s.lang_from not in fields:
            fail(where, f"lang_from names '{s.lang_from}', which no screen sets")
        known = fields | set(DERIVED)
        for key in (k for k in (s.text, s.empty, s.missing) if k and k in english):
            used = i18n.placeholders(i18n.template(key, "en"))
            for name in sorted(used - known):
                fail(where, f"text '{key}' uses {{{name}}}, which is neither an answer nor derived")
            for name in sorted(used & SECRET_FIELDS):
                fail(where, f"text '{key}' shows the secret {{{name}}}")
    for sid in sorted(set(menu.screens) - _reachable(menu)):
        fail(f"screen {sid}", "cannot be reached from the start screen")
    return problems


def _longest(values: Iterable[str]) -> str:
    return max(values, key=len, default="")


def _sample_params(menu: Menu, lang: str) -> dict[str, str]:
    """For each answer and derived value, the longest way it can be shown in ``lang``."""
    days = [dt.date(2028, 1, 1) + dt.timedelta(days=i) for i in range(366)]
    longest_date = _longest(i18n.format_date(d, lang, year=True) for d in days)
    params: dict[str, str] = {}
    for s in menu.screens.values():
        for o in s.options:
            for name in o.set:
                params[name] = _longest([params.get(name, ""), o.caption(lang)])
        if s.type == "input" and s.validate in VALIDATORS and s.store:
            v = VALIDATORS[s.validate]
            params[s.store] = _longest([params.get(s.store, ""), longest_date if v.is_date else v.sample])
    params["next_pickup"] = _longest(i18n.format_date(d, lang) for d in days)
    return params


def _sample_line(lang: str) -> str:
    days = [dt.date(2028, 1, 1) + dt.timedelta(days=i) for i in range(366)]
    label = _longest(i18n.render(k, lang) for k in
                     ("label.art_refill", "label.immunisation", "label.infant_hiv_test", "label.own_visit"))
    return i18n.render("ussd.visit_line", lang, date=_longest(i18n.format_date(d, lang) for d in days), what=label)


def _flag_contexts(limit: int) -> list[Context]:
    return [Context(today=dt.date(2028, 1, 1), max_chars=limit, pin_set=a, opted_out=b)
            for a in (False, True) for b in (False, True)]


def screen_texts(menu: Menu, lang: str, limit: int) -> list[tuple[str, str, bool]]:
    """Every screen as it can look at its longest, in ``lang`` at screen limit ``limit``.

    Returns (where, text, is_before_pin) with the reason line a refused answer
    adds, each page of a paginated screen, every message a list may end with,
    and the built-in PIN screens. ``check`` holds each to the limit.
    """
    params = _sample_params(menu, lang)
    before_pin = menu.pin != "required"
    out: list[tuple[str, str, bool]] = []
    longest_error = {}
    for s in menu.screens.values():
        keys = ["ussd.error.choice"]
        if s.type == "input" and s.validate in VALIDATORS:
            keys = list(VALIDATORS[s.validate].errors)
        longest_error[s.id] = _longest(i18n.render(k, lang) for k in keys)
    yes, no = _option_line(YES, i18n.render("ussd.yes", lang)), _option_line(NO, i18n.render("ussd.no", lang))
    back = _nav(lang)[1]
    for s in menu.screens.values():
        where = f"{menu.name}: screen {s.id} [{lang}, {limit}]"
        err = longest_error[s.id]
        if s.type == "end":
            out.append((where, i18n.render(s.text, lang, **params), before_pin))
        elif s.type == "confirm":
            out.append((where, _join([err, i18n.render(s.text, lang, **params), yes, no]), before_pin))
        elif s.type == "input":
            out.append((where, _join([err, i18n.render(s.text, lang, **params), back if s.back else None]),
                        before_pin))
        elif s.type == "choice":
            for ctx in _flag_contexts(limit):
                layout = _choice_layout(s, ctx, lang, params)
                for page in range(len(layout.pages)):
                    flags = f"pin_set={ctx.pin_set}, opted_out={ctx.opted_out}"
                    out.append((f"{where} page {page + 1} ({flags})",
                                _join([err, layout.page_text(page, lang, 10 ** 6)]), before_pin))
        elif s.type == "list":
            ctx = Context(today=dt.date(2028, 1, 1), max_chars=limit)
            layout = _list_layout(s, ctx, lang, params, [_sample_line(lang)] * 3)
            for page in range(len(layout.pages)):
                out.append((f"{where} page {page + 1}", _join([err, layout.page_text(page, lang, 10 ** 6)]),
                            # the lines are the caller's; the head and the messages are ours
                            False))
            out.append((f"{where} title", i18n.render(s.text, lang, **params), before_pin))
            for key in (s.empty, s.missing):
                if key:
                    out.append((f"{where} {key}", i18n.render(key, lang, **params), before_pin))
    pin_where = f"{menu.name}: PIN screen [{lang}, {limit}]"
    pin_error = _longest([i18n.render("ussd.error.pin", lang), i18n.render("ussd.pin.wrong", lang)])
    out.append((pin_where, _join([pin_error, i18n.render("ussd.pin.prompt", lang), back]), True))
    for key in ("ussd.pin.not_set", "ussd.unavailable", "ussd.failed"):
        out.append((f"{pin_where} {key}", i18n.render(key, lang), True))
    out.append((f"{pin_where} ussd.pin.locked", _locked_text(lang), True))
    return out


def check(menu: Menu, limits: Iterable[int] = (DEFAULT_MAX_CHARS,),
          languages: Iterable[str] = tuple(LANGUAGES)) -> list[str]:
    """Every problem with ``menu``: targets, texts, actions, reachability, and each screen's length and
    discretion in every language at every screen limit in ``limits`` (CON/END prefix included)."""
    problems = _check_structure(menu)
    if problems:  # lengths mean nothing until every screen and text exists
        return problems
    limits = sorted(set(limits))
    for limit in limits:
        if limit < 40:
            problems.append(f"{menu.name}: a screen limit of {limit} is below 40, where no menu is usable")
    limits = [limit for limit in limits if limit >= 40]
    for lang in languages:
        for limit in limits:
            for where, text, before_pin in screen_texts(menu, lang, limit):
                if len(text) > limit - PREFIX_CHARS:
                    problems.append(f"{where}: {len(text) + PREFIX_CHARS} characters with the prefix, "
                                    f"over the limit of {limit}: {text!r}")
                if before_pin and i18n.disclosing_words(text):
                    problems.append(f"{where}: shown before a PIN but names "
                                    f"{', '.join(i18n.disclosing_words(text))}")
    return problems
