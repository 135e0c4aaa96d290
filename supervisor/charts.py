"""Charts of the supervisor workspace, drawn on the server as SVG (no script, nothing from a CDN).

A `Chart` holds what it shows (categories, series of numbers) and its numbers as a table (the
accessible twin of the picture: a screen reader, a browser test and a supervisor who wants the
exact figure all read the table). `Chart.plot` lays it out in a fixed SVG coordinate system
(`VIEW_WIDTH` wide; CSS scales it to the card), so the template only writes elements out
(templates/supervisor/_chart.html).

Two kinds:
- "line": one or more series over days (a point per day, None leaves a gap). Series differ by
  colour, dash pattern and marker shape, so colour is never the only cue.
- "bars": horizontal bars, one per category, the value printed at the end of each bar.

Colours pass WCAG 1.4.11 (at least 3:1 against the white card; these are 4.5:1 or more), text
uses the page's text colour.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import cached_property

from django.urls import NoReverseMatch, reverse
from django.utils import formats

VIEW_WIDTH = 640
LINE_HEIGHT = 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 16, 16, 40
BAR_ROW = 28
BAR_LABEL_WIDTH = 250
BAR_VALUE_ROOM = 64
MAX_X_LABELS = 7
MAX_MARKED_POINTS = 62  # above it, markers would overlap: dash patterns still tell series apart
LABEL_CHARS = 30

# Contrast on white: 6.3:1, 5.1:1, 5.3:1, 7.0:1.
PALETTE = ("#2456d3", "#a94a00", "#1e7b45", "#6b3fa0")
DASHES = ("", "7 4", "2 3", "10 3 2 3")
MARKERS = ("circle", "square", "triangle", "diamond")
TARGET_COLOUR = "#b42318"


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Row:
    """One row of a chart's table: its category label, the formatted cells, and where the cases
    behind it are listed (optional)."""

    label: str
    cells: tuple[str, ...]
    href: str = ""


@dataclass(frozen=True)
class Target:
    value: float
    label: str


@dataclass
class Chart:
    key: str  # unique on the page: element ids ("chart-<key>-title")
    title: str
    description: str  # a sentence summing the chart up, read by screen readers
    kind: str  # "line" or "bars"
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    columns: tuple[str, ...]  # the table's header: the category's name, then one per column
    rows: tuple[Row, ...]
    unit: str = ""  # printed after axis values: "%", " h"
    scale_max: float | None = None  # a fixed top of the scale (5 for ratings, 100 for %)
    integer: bool = False  # counts: axis steps of whole numbers
    target: Target | None = None
    empty_text: str = ""  # shown instead of the chart when there is nothing to draw
    note: str = ""  # how the numbers were computed, under the chart

    @property
    def has_data(self) -> bool:
        return bool(self.categories) and any(
            value is not None for series in self.series for value in series.values
        )

    @property
    def legend(self) -> list[LegendItem]:
        if len(self.series) < 2:
            return []
        return [
            LegendItem(
                label=series.label,
                colour=PALETTE[n % len(PALETTE)],
                dash=DASHES[n % len(DASHES)],
                marker=_marker_path(MARKERS[n % len(MARKERS)], 20, 8),
            )
            for n, series in enumerate(self.series)
        ]

    @cached_property
    def plot(self) -> Plot:
        if self.kind == "bars":
            return _bar_plot(self)
        return _line_plot(self)


@dataclass(frozen=True)
class LegendItem:
    label: str
    colour: str
    dash: str
    marker: str


@dataclass(frozen=True)
class Tick:
    position: float  # y for a vertical axis, x for a horizontal one
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Line:
    colour: str
    dash: str
    segments: tuple[str, ...]  # polyline "x,y x,y" strings, split where a value is missing
    markers: tuple[str, ...]  # path data of each point's marker


@dataclass(frozen=True)
class Bar:
    label: str  # shortened for the axis
    full_label: str
    y: float
    width: float
    value_label: str
    colour: str
    text_y: float  # baseline of the bar's label and value
    value_x: float


@dataclass
class Plot:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    x_labels: list[XLabel] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    bar_height: float = 0
    target_y: float | None = None
    target_x: float | None = None

    # Where axis labels sit (the template does no arithmetic).
    @property
    def y_label_x(self) -> float:
        return self.left - 6

    @property
    def x_label_y(self) -> float:
        return self.bottom + 18

    @property
    def bar_label_x(self) -> float:
        return self.left - 8

    @property
    def target_label_y(self) -> float:
        return (self.target_y or 0) - 4

    @property
    def target_label_x(self) -> float:
        return (self.target_x or 0) + 4


# --- scales ---------------------------------------------------------------------------------


def nice_scale(maximum: float, *, steps: int = 4, integer: bool = False) -> tuple[float, float]:
    """(top, step) of an axis from 0 that shows `maximum`: `steps` steps of 1, 2, 2.5 or 5
    times a power of ten (whole numbers for counts)."""
    if maximum <= 0:
        return (float(steps) if integer else 1.0), (1.0 if integer else 1.0 / steps)
    raw = maximum / steps
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * power
        if integer and step < 1:
            continue
        if integer and step != int(step):
            continue
        if step * steps >= maximum:
            return step * steps, step
    step = 10 * power
    return step * steps, step


def format_number(value: float | None, *, decimals: int = 1, unit: str = "") -> str:
    """A number as the active language writes it, "—" when there is none."""
    if value is None:
        return "—"
    if decimals == 0:
        text = formats.number_format(round(value), 0, use_l10n=True, force_grouping=True)
    else:
        text = formats.number_format(
            round(value, decimals), decimals, use_l10n=True, force_grouping=True
        )
    return f"{text}{unit}"


def _tick_label(value: float, unit: str) -> str:
    decimals = 0 if float(value).is_integer() else (1 if float(value * 10).is_integer() else 2)
    return format_number(value, decimals=decimals, unit=unit)


def _shorten(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _marker_path(shape: str, x: float, y: float, r: float = 3.5) -> str:
    if shape == "square":
        return f"M{x - r:.1f},{y - r:.1f}h{2 * r:.1f}v{2 * r:.1f}h{-2 * r:.1f}z"
    if shape == "triangle":
        d = r + 0.5
        return f"M{x:.1f},{y - d:.1f}L{x + d:.1f},{y + r:.1f}L{x - d:.1f},{y + r:.1f}z"
    if shape == "diamond":
        d = r + 1
        return f"M{x:.1f},{y - d:.1f}L{x + d:.1f},{y:.1f}L{x:.1f},{y + d:.1f}L{x - d:.1f},{y:.1f}z"
    return (
        f"M{x - r:.1f},{y:.1f}a{r:.1f},{r:.1f} 0 1,0 {2 * r:.1f},0"
        f"a{r:.1f},{r:.1f} 0 1,0 {-2 * r:.1f},0z"
    )


def _line_plot(chart: Chart) -> Plot:
    plot = Plot(
        width=VIEW_WIDTH,
        height=LINE_HEIGHT,
        left=PAD_LEFT,
        right=VIEW_WIDTH - PAD_RIGHT,
        top=PAD_TOP,
        bottom=LINE_HEIGHT - PAD_BOTTOM,
    )
    values = [v for series in chart.series for v in series.values if v is not None]
    if chart.target is not None:
        values.append(chart.target.value)
    top, step = (
        (chart.scale_max, chart.scale_max / 5)
        if chart.scale_max
        else nice_scale(max(values, default=0), integer=chart.integer)
    )
    height = plot.bottom - plot.top

    def y_of(value: float) -> float:
        return round(plot.bottom - height * min(value, top) / top, 1)

    n_steps = round(top / step)
    plot.y_ticks = [
        Tick(position=y_of(step * k), label=_tick_label(step * k, chart.unit))
        for k in range(n_steps + 1)
    ]
    n = len(chart.categories)
    band = (plot.right - plot.left) / max(n, 1)

    def x_of(index: int) -> float:
        return round(plot.left + band * (index + 0.5), 1)

    every = max(1, math.ceil(n / MAX_X_LABELS))
    plot.x_labels = [XLabel(x=x_of(i), label=chart.categories[i]) for i in range(0, n, every)]
    marked = n <= MAX_MARKED_POINTS
    for number, series in enumerate(chart.series):
        shape = MARKERS[number % len(MARKERS)]
        segments, current, markers = [], [], []
        for index, value in enumerate(series.values):
            if value is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            x, y = x_of(index), y_of(value)
            current.append(f"{x},{y}")
            if marked:
                markers.append(_marker_path(shape, x, y))
        if current:
            segments.append(" ".join(current))
        plot.lines.append(
            Line(
                colour=PALETTE[number % len(PALETTE)],
                dash=DASHES[number % len(DASHES)],
                segments=tuple(segments),
                markers=tuple(markers),
            )
        )
    if chart.target is not None:
        plot.target_y = y_of(chart.target.value)
    return plot


def _bar_plot(chart: Chart) -> Plot:
    n = len(chart.categories)
    height = PAD_TOP + n * BAR_ROW + 28
    plot = Plot(
        width=VIEW_WIDTH,
        height=height,
        left=BAR_LABEL_WIDTH,
        right=VIEW_WIDTH - BAR_VALUE_ROOM,
        top=PAD_TOP,
        bottom=PAD_TOP + n * BAR_ROW,
        bar_height=BAR_ROW - 10,
    )
    values = chart.series[0].values if chart.series else ()
    top, step = (
        (chart.scale_max, chart.scale_max / 4)
        if chart.scale_max
        else nice_scale(max((v for v in values if v is not None), default=0), integer=chart.integer)
    )
    width = plot.right - plot.left

    def x_of(value: float) -> float:
        return round(plot.left + width * min(max(value, 0), top) / top, 1)

    plot.x_ticks = [
        Tick(position=x_of(step * k), label=_tick_label(step * k, chart.unit))
        for k in range(round(top / step) + 1)
    ]
    decimals = 0 if chart.integer else 1
    for index, (label, value) in enumerate(zip(chart.categories, values, strict=True)):
        y = plot.top + index * BAR_ROW + 5
        bar_width = round(x_of(value) - plot.left, 1) if value is not None else 0
        plot.bars.append(
            Bar(
                label=_shorten(label),
                full_label=label,
                y=y,
                width=bar_width,
                value_label=format_number(value, decimals=decimals, unit=chart.unit),
                colour=PALETTE[0],
                text_y=y + plot.bar_height / 2 + 4,
                value_x=plot.left + bar_width + 6,
            )
        )
    if chart.target is not None:
        plot.target_x = x_of(chart.target.value)
    return plot


# --- labels and links -----------------------------------------------------------------------


def day_label(day: dt.date) -> str:
    """A day as the active language writes a month and day ("March 5", "3月5日")."""
    return formats.date_format(day, "MONTH_DAY_FORMAT")


def long_day_label(day: dt.date) -> str:
    return formats.date_format(day, "DATE_FORMAT")


def percent(part: int | float | None, whole: int | float | None) -> float | None:
    """part / whole in %, None when there is no whole (never a division by zero)."""
    if not whole or part is None:
        return None
    return 100.0 * part / whole


DRILLDOWN_SHIPMENTS = "supervisor:drilldown_shipments"
# The drill-down list of the shipments delayed in the period (supervisor.drilldown).
DELAYED_LIST = "first_contact"


def shipments_href(scope, *, kpi: str = DELAYED_LIST, **params) -> str:
    """The list of shipments behind a figure: the supervisor's drill-down list `kpi` with the
    scope's filters and `params` (`cause` and `hub` narrow it further where the list reads
    them); the agent console while that list does not exist (it filters by incident only)."""
    try:
        url = reverse(DRILLDOWN_SHIPMENTS)
    except NoReverseMatch:
        url = reverse("tickets:console")
        query = f"incident={scope.incident.public_id}" if scope.incident is not None else ""
        return f"{url}?{query}" if query else url
    return f"{url}?{scope.query(kpi=kpi, **params)}"
