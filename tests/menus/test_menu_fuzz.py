"""Property tests: any sequence of answers, on any menu, in any language, at any screen limit.

No exception; no reply over the limit (prefix included); no empty or
space-led reply (AT would end the session); the state always JSON; the state
passed in never changed; and never an END where the session should go on.
"""
import copy
import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import menus
from menus import Context, check_pin_attempt
from menus.engine import PIN_SCREEN
from gateway import i18n

TODAY = dt.date(2025, 11, 25)
NOW = dt.datetime(2025, 11, 25, 8, 0)

LIKELY = ["", "0", "1", "2", "3", "4", "5", "6", "7", "9", "98", "99", "1234", "0000", "05032025", "31022025",
          "25112025", "01012026", "0821234567", "+27821234567", " 1 ", "😀", "1*2", "#"]
answers = st.one_of(st.sampled_from(LIKELY), st.text(max_size=120), st.from_regex(r"[0-9]{1,10}", fullmatch=True))
labels = st.one_of(st.sampled_from(["pick up your medicine", "your child's clinic visit", "your clinic visit"]),
                   st.text(max_size=60))
dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31))
visits = st.lists(st.tuples(st.one_of(dates, st.text(max_size=15)), labels), max_size=25)


def _stateful_pin():
    store = {"failures": 0, "until": None}

    def verify(pin):
        attempt = check_pin_attempt(pin == "1234", store["failures"], store["until"], NOW)
        store["failures"], store["until"] = attempt.failures, attempt.locked_until
        return attempt.verdict
    return verify


@st.composite
def contexts(draw):
    rows = draw(visits)
    return Context(
        today=TODAY,
        language=draw(st.sampled_from([*i18n.catalogues(), "xx", ""])),
        max_chars=draw(st.sampled_from([40, 60, 100, 140, 160, 182, 184, 300])),
        country=draw(st.sampled_from(["ZA", "KE", "MZ"])),
        pin_set=draw(st.booleans()),
        pin_locked=draw(st.booleans()),
        opted_out=draw(st.booleans()),
        verify_pin=_stateful_pin(),
        visits=rows,
        lookup_client=draw(st.sampled_from([lambda phone: None, lambda phone: [], lambda phone: rows])),
        list_callbacks=(lambda lines: (lambda: lines))(draw(st.lists(st.text(max_size=40), max_size=20))),
    )


def _allowed(menu, state, ctx):
    """The answers that may move a session on from ``state`` (None: any answer may, an input screen)."""
    if state["screen"] == PIN_SCREEN:
        return None
    screen = menu.screens[state["screen"]]
    if screen.type == "input":
        return None
    if screen.type == "confirm":
        return {"1", "2"}
    keys = {"98", "0"}
    return keys | {o.key for o in screen.options if o.visible(ctx)}


def _end_texts(lang):
    from menus.engine import _locked_text

    return {i18n.render("ussd.pin.not_set", lang), i18n.render("ussd.unavailable", lang), _locked_text(lang)}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(menus.MENU_NAMES), ctx=contexts(), sequence=st.lists(answers, max_size=20))
def test_any_answers_are_safe(name, ctx, sequence):
    menu = menus.get(name)
    state = None
    for typed in [None, *sequence]:
        before, given_state = copy.deepcopy(state), state
        reply, state = menus.step(menu, given_state, typed, ctx)
        assert given_state == before  # the caller's state is never changed in place
        assert len(reply.text) + menus.PREFIX_CHARS <= ctx.max_chars
        assert reply.text and reply.text == reply.text.lstrip()
        assert json.loads(json.dumps(state)) == state
        assert reply.end == state["done"]
        if reply.end:
            ended_on = menu.screens.get(state["screen"])
            # (a text may be cut short on a screen narrower than any network's)
            assert (ended_on is not None and ended_on.type in ("end", "list")) or \
                any(t.startswith(reply.text) for t in _end_texts(state["lang"])), (state, reply)
        else:
            assert reply.effect is None
        live = isinstance(before, dict) and not before.get("done")
        if live:
            allowed = _allowed(menu, before, ctx)
            if allowed is not None and typed.strip() not in allowed:
                # A refused answer: same screen, not ended, nothing to carry out.
                assert not reply.end and reply.effect is None
                assert state["screen"] == before["screen"] and state["answers"] == before["answers"]


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(menus.MENU_NAMES), sequence=st.lists(answers, max_size=12),
       pin_set=st.booleans(), limit=st.sampled_from([160, 182]))
def test_step_is_a_function_of_its_arguments(name, sequence, pin_set, limit):
    menu = menus.get(name)
    ctx = Context(today=TODAY, max_chars=limit, pin_set=pin_set, verify_pin=lambda pin: pin == "1234",
                  visits=[(TODAY, "your clinic visit")], lookup_client=lambda phone: [],
                  list_callbacks=lambda: ["+27821234567 09:40"])
    state = None
    for typed in [None, *sequence]:
        frozen = json.dumps(state, sort_keys=True)
        first = menus.step(menu, state, typed, ctx)
        assert json.dumps(state, sort_keys=True) == frozen  # the state passed in is left as it was
        again = menus.step(menu, json.loads(frozen), typed, ctx)
        assert first == again
        state = first[1]
