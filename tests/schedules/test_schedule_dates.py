"""Offsets and date arithmetic: the conventions fixed in schedules.md."""
import datetime as dt

import pytest

from gateway.schedules import Offset, add_offset

D = dt.date


@pytest.mark.parametrize("text, amount, unit", [
    ("0d", 0, "d"), ("6w", 6, "w"), ("9m", 9, "m"), ("18m", 18, "m"), ("1y", 1, "y"),
    ("-3d", -3, "d"), ("+2w", 2, "w"), (" 10W ", 10, "w"),
])
def test_offsets_parse(text, amount, unit):
    assert Offset.parse(text) == Offset(amount, unit)


@pytest.mark.parametrize("text", ["", "6", "w6", "6x", "6 weeks", "1.5m", "6w2d", "--3d"])
def test_bad_offsets_say_what_an_offset_looks_like(text):
    with pytest.raises(ValueError, match="is not an offset.*e.g."):
        Offset.parse(text)


def test_a_non_string_is_not_an_offset():
    with pytest.raises(ValueError, match="not an offset"):
        Offset.parse(6)  # type: ignore[arg-type]


def test_offsets_print_as_written():
    assert str(Offset.parse("-3d")) == "-3d"
    assert str(Offset.parse("+6w")) == "6w"


@pytest.mark.parametrize("anchor, offset, expected", [
    (D(2025, 1, 1), "6w", D(2025, 2, 12)),      # 6 weeks = day 42
    (D(2025, 1, 1), "42d", D(2025, 2, 12)),
    (D(2024, 8, 31), "6m", D(2025, 2, 28)),     # clamped to the end of February
    (D(2023, 8, 31), "6m", D(2024, 2, 29)),     # ... a leap February
    (D(2024, 2, 29), "1y", D(2025, 2, 28)),     # 29 Feb + 1 y = 28 Feb
    (D(2024, 2, 29), "4y", D(2028, 2, 29)),
    (D(2024, 2, 29), "12m", D(2025, 2, 28)),    # 12 m is the same as 1 y
    (D(2025, 1, 31), "1m", D(2025, 2, 28)),
    (D(2025, 1, 31), "2m", D(2025, 3, 31)),     # clamping does not carry over to later months
    (D(2025, 1, 31), "6m", D(2025, 7, 31)),
    (D(2025, 1, 31), "18m", D(2026, 7, 31)),
    (D(2025, 3, 31), "-1m", D(2025, 2, 28)),    # negative months clamp too
    (D(2025, 1, 15), "-1m", D(2024, 12, 15)),   # ... and cross the year
    (D(2025, 1, 15), "-13m", D(2023, 12, 15)),
    (D(2025, 3, 1), "-3d", D(2025, 2, 26)),
    (D(2025, 3, 1), "-1w", D(2025, 2, 22)),
    (D(2025, 12, 15), "1m", D(2026, 1, 15)),
    (D(2025, 5, 5), "0d", D(2025, 5, 5)),
    (D(2025, 5, 5), "0m", D(2025, 5, 5)),
])
def test_add_offset(anchor, offset, expected):
    assert add_offset(anchor, offset) == expected
    assert add_offset(anchor, Offset.parse(offset)) == expected


def test_a_leap_day_plus_days_stays_in_days():
    assert add_offset(D(2024, 2, 28), "1d") == D(2024, 2, 29)
    assert add_offset(D(2024, 2, 29), "1d") == D(2024, 3, 1)
    assert add_offset(D(2024, 2, 29), "52w") == D(2025, 2, 27)
