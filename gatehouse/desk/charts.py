"""Chart geometry for server-side SVG: the view computes coordinates, templates/desk/_bar_chart.html and
_line_chart.html draw them. No chart library and no script; colours come from classes in gatehouse.css (the CSP
allows no style attribute), sizes from SVG geometry attributes, which the CSP does not govern.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

BAR_HEIGHT = 18
BAR_GAP = 8
LABEL_WIDTH = 190
BAR_AREA = 330
VALUE_GAP = 6
LABEL_CHARS = 28


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    value: int
    y: int
    text_y: int
    width: int
    value_x: int


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    label_width: int = LABEL_WIDTH


def bar_chart(rows: Sequence[tuple[str, int]]) -> BarChart:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    top = max((v for _, v in rows), default=0)
    bars = []
    for i, (label, value) in enumerate(rows):
        y = i * (BAR_HEIGHT + BAR_GAP)
        width = round(BAR_AREA * value / top) if top else 0
        width = max(width, 1) if value else 0
        bars.append(
            Bar(
                label=_short(str(label)),
                full_label=str(label),
                value=value,
                y=y,
                text_y=y + BAR_HEIGHT - 4,
                width=width,
                value_x=LABEL_WIDTH + width + VALUE_GAP,
            )
        )
    height = max(len(bars) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP, BAR_HEIGHT)
    return BarChart(bars=bars, width=LABEL_WIDTH + BAR_AREA + 60, height=height)


LINE_WIDTH = 560
LINE_HEIGHT = 140
PAD_LEFT = 36
PAD_BOTTOM = 20
PAD_TOP = 8


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    day: datetime.date
    value: int


@dataclass(frozen=True)
class LineChart:
    points: list[Point]
    polyline: str
    width: int
    height: int
    top: int  # the largest value, labelled on the axis
    left: int
    baseline: float
    top_y: float
    first_label: str
    last_label: str
    label_y: float
    # A horizontal target line (e.g. a KPI's 95%), when asked for; None otherwise.
    target: float | None = None
    target_y: float | None = None


def line_chart(
    series: Sequence[tuple[datetime.date, float]], *, top: float | None = None, target: float | None = None
) -> LineChart:
    """A line over daily counts, with its baseline and the largest value marked. `top` fixes the scale (100 for
    percentages) instead of the largest value; `target` draws a horizontal target line at that value."""
    top = max((v for _, v in series), default=0) if top is None else top
    plot_w = LINE_WIDTH - PAD_LEFT - 8
    plot_h = LINE_HEIGHT - PAD_TOP - PAD_BOTTOM
    baseline = PAD_TOP + plot_h
    n = len(series)
    points = []
    for i, (day, value) in enumerate(series):
        x = PAD_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        y = baseline - (plot_h * value / top if top else 0)
        points.append(Point(round(x, 1), round(y, 1), day, value))
    return LineChart(
        points=points,
        polyline=" ".join(f"{p.x},{p.y}" for p in points),
        width=LINE_WIDTH,
        height=LINE_HEIGHT,
        top=top,
        left=PAD_LEFT,
        baseline=baseline,
        top_y=PAD_TOP,
        first_label=f"{series[0][0]:%b %d}" if series else "",
        last_label=f"{series[-1][0]:%b %d}" if series else "",
        label_y=LINE_HEIGHT - 4,
        target=target,
        target_y=round(baseline - plot_h * target / top, 1) if target is not None and top else None,
    )
