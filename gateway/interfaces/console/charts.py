"""Bar charts as plain geometry, drawn as inline SVG by the ``chart`` macro (no script, no CDN).

Pure functions: categories and numbers in, rectangles and labels out, in a
fixed coordinate space (``viewBox``) that the page scales to any width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 14, 30


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # the CSS class that colours it
    title: str  # read by screen readers and shown on hover


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT  # the plot area's margins, for gridlines and labels
    right: int = RIGHT
    bars: list[Bar] = field(default_factory=list)
    x_labels: list[Label] = field(default_factory=list)
    y_labels: list[Label] = field(default_factory=list)
    gridlines: list[float] = field(default_factory=list)  # y of each horizontal line
    series: list[str] = field(default_factory=list)  # legend, in drawing order
    empty: bool = True


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # not reached


def grouped_bars(title: str, categories: Sequence[str], series: dict[str, Sequence[float]], *,
                 label_every: int = 1, fmt: Callable[[float], str] = lambda v: f"{v:g}",
                 category_title: Callable[[str], str] = str) -> Chart:
    """One group of bars per category, one bar per series in it, on a shared y axis from 0."""
    chart = Chart(title=title, series=list(series))
    top = max([v for values in series.values() for v in values] + [0])
    chart.empty = top == 0
    ceiling = nice_ceiling(top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    for i in range(5):  # 0, 1/4 ... 4/4 of the ceiling
        value = ceiling * i / 4
        y = TOP + plot_h - plot_h * i / 4
        chart.gridlines.append(y)
        chart.y_labels.append(Label(LEFT - 6, y + 5, fmt(value)))
    if not categories:
        return chart
    group_w = plot_w / len(categories)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for c, category in enumerate(categories):
        left = LEFT + c * group_w + group_w * 0.1
        for s, (name, values) in enumerate(series.items()):
            value = values[c]
            height = plot_h * value / ceiling
            chart.bars.append(Bar(round(left + s * bar_w, 2), round(TOP + plot_h - height, 2), round(bar_w, 2),
                                  round(height, 2), name, f"{category_title(category)}: {fmt(value)} {name}"))
        if c % label_every == 0:
            chart.x_labels.append(Label(round(LEFT + c * group_w + group_w / 2, 2), HEIGHT - 8, category))
    return chart
