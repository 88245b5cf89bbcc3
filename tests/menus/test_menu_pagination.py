"""Lists longer than a screen page with "98. More" and "0. Back", at any screen limit."""
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from menus import engine

VISITS = [(dt.date(2025, 12, 1) + dt.timedelta(days=7 * i), "your child's clinic visit") for i in range(12)]


def _lines(screen):
    return screen.split("\n")


def test_a_long_visit_list_pages_forward_and_back(phone):
    p = phone("client", visits=VISITS)
    p.dial()
    first = p.send("1")
    assert first.startswith("CON Your next visits:\nMon 1 Dec: your child's clinic visit\n")
    assert _lines(first)[-1] == "98. More" and "0. Back" not in first
    second = p.send("98")
    assert second.startswith("CON Your next visits:\n")
    assert _lines(second)[-2:] == ["98. More", "0. Back"]
    assert p.send("0") == first  # back one page
    shown = []
    screen = first
    while screen.startswith("CON"):
        shown += [line for line in _lines(screen) if ": your child" in line]
        screen = p.send("98")
    shown += [line for line in _lines(screen) if ": your child" in line]
    assert screen.startswith("END Your next visits:\n")  # the last page ends the session
    assert "98. More" not in screen and "0. Back" not in screen
    assert len(shown) == len(VISITS) == len(set(shown))  # every visit once, in order
    assert shown[0].startswith("Mon 1 Dec") and shown[-1].startswith("Mon 16 Feb")


@pytest.mark.parametrize("limit", [40, 60, 100, 160, 182, 184, 300])
def test_every_page_fits_the_limit(phone, limit):
    p = phone("client", visits=VISITS, max_chars=limit)
    p.dial()  # Phone checks every screen against ctx.max_chars
    screen = p.send("1")
    pages = 1
    while screen.startswith("CON") and pages < 50:
        screen = p.send("98")
        pages += 1
    assert screen.startswith("END")
    assert pages > 1  # twelve visits never fit one screen


def test_wrong_answer_on_a_page_keeps_the_page(phone):
    p = phone("client", visits=VISITS)
    p.dial()
    p.send("1")
    second = p.send("98")
    again = p.send("5")
    assert again == second.replace("CON ", "CON Invalid choice.\n", 1)
    assert len(again) <= 160


def test_a_choice_list_pages_on_a_narrow_screen(phone):
    # 60 characters: the three languages offered do not fit on one page.
    p = phone("client", max_chars=60)
    p.dial()
    p.send("98")  # the main menu pages too
    screen = p.send("0")
    assert screen.startswith("CON Clinic reminders\n1. My next visit")
    while "4. My settings" not in screen:
        screen = p.send("98")
    p.send("4")
    screen = p.send("1")
    assert screen.startswith("CON Choose your language:\n1. English")
    assert _lines(screen)[-2:] == ["98. More", "0. Back"]  # back to settings from the first page
    while "3. Kiswahili" not in screen:
        screen = p.send("98")
    assert screen.endswith("0. Back") and "98. More" not in screen
    # Choices keep their numbers across pages, and any offered number works from any page.
    assert p.send("3") == "END Tayari. Lugha yako sasa ni Kiswahili."


def test_back_from_the_first_page_leaves_the_screen(phone):
    p = phone("client", max_chars=60)
    p.dial()
    p.send("98")
    p.send("98")
    p.send("4")
    p.send("1")
    assert p.send("0").startswith("CON My settings")


def test_coordinator_call_backs_page(phone, pins):
    rows = [f"+2782{i:07d} 0{i % 10}:15" for i in range(20)]
    p = phone("coordinator", pin_set=True, verify_pin=pins.verify, list_callbacks=lambda: rows)
    p.dial()
    p.send("1234")
    screen = p.send("3")
    seen = []
    while True:
        seen += [line for line in _lines(screen) if line.startswith("+27")]
        if screen.startswith("END"):
            break
        screen = p.send("98")
    assert seen == rows


def test_a_line_longer_than_a_screen_is_cut_not_sent_over(phone):
    p = phone("client", visits=[("Tue 2 Dec", "x" * 400)])
    p.dial()
    screen = p.send("1")
    assert screen.startswith("END Your next visits:\nTue 2 Dec: xxx") and screen.endswith("..")
    assert len(screen) == 160


def _pages_by_joining(head, items, budget, lang, back_first, end_last):
    """The pages as first written: every candidate page joined and measured (quadratic, plainly right)."""
    more, back = engine._nav(lang)

    def size(lines):
        return len(engine._join([head, *lines]))

    pages, i, n = [], 0, len(items)
    while i < n or not pages:
        has_back = bool(pages) or back_first
        last_nav = [] if end_last else [back if has_back else None]
        if size([*items[i:], *last_nav]) <= budget:
            pages.append((i, n))
            break
        k = 0
        while i + k < n and size([*items[i:i + k + 1], more, back if has_back else None]) <= budget:
            k += 1
        k = max(k, 1)
        pages.append((i, i + k))
        i += k
    return tuple(pages)


@settings(max_examples=300, deadline=None)
@given(head=st.text(max_size=40), items=st.lists(st.text(max_size=50), max_size=40),
       budget=st.integers(min_value=0, max_value=200), back_first=st.booleans(), end_last=st.booleans())
def test_pages_are_measured_from_running_widths_as_if_joined(head, items, budget, back_first, end_last):
    layout = engine._paginate(head, items, budget, "en", back_first, end_last)
    assert layout.pages == _pages_by_joining(head, items, budget, "en", back_first, end_last)
