"""Chart geometry: pure functions, no HTTP."""
from __future__ import annotations

import pytest

from gateway.interfaces.console.charts import HEIGHT, TOP, BOTTOM, grouped_bars, nice_ceiling


@pytest.mark.parametrize("value,expected", [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (0.3, 0.5),
                                            (240, 500), (1999, 2000)])
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == pytest.approx(expected)


def test_bars_share_one_scale_and_stand_on_the_axis():
    chart = grouped_bars("t", ["a", "b"], {"sent": [10, 4], "failed": [0, 2]})
    baseline = HEIGHT - BOTTOM
    assert len(chart.bars) == 4 and not chart.empty
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.title == "a: 10 sent" and tallest.height == pytest.approx(HEIGHT - TOP - BOTTOM)
    for bar in chart.bars:
        assert bar.y + bar.height == pytest.approx(baseline)
    four = next(b for b in chart.bars if b.title == "b: 4 sent")
    assert four.height == pytest.approx(tallest.height * 0.4)
    assert [label.text for label in chart.y_labels] == ["0", "2.5", "5", "7.5", "10"]


def test_bars_stay_inside_the_drawing_and_labels_are_thinned():
    days = [f"d{i}" for i in range(30)]
    chart = grouped_bars("t", days, {"s": list(range(30)), "d": [1] * 30, "f": [0] * 30}, label_every=5)
    assert all(0 <= b.x and b.x + b.width <= chart.width for b in chart.bars)
    assert [label.text for label in chart.x_labels] == ["d0", "d5", "d10", "d15", "d20", "d25"]


def test_an_empty_chart_says_so():
    chart = grouped_bars("t", ["a"], {"sent": [0]})
    assert chart.empty and chart.bars[0].height == 0
