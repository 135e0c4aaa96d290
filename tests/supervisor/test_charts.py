"""The SVG chart model (supervisor.charts): scales, layout, labels and links."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from supervisor import charts
from supervisor.charts import Chart, Row, Series, Target, format_number, nice_scale, percent
from supervisor.scope import scope_from


def line_chart(*series: tuple[float | None, ...], **kwargs) -> Chart:
    n = len(series[0])
    return Chart(
        key="test",
        title="Test chart",
        description="A test.",
        kind="line",
        categories=tuple(f"Day {i + 1}" for i in range(n)),
        series=tuple(
            Series(key=f"s{k}", label=f"Series {k}", values=values)
            for k, values in enumerate(series)
        ),
        columns=("Day", *(f"Series {k}" for k in range(len(series)))),
        rows=tuple(
            Row(label=f"Day {i + 1}", cells=tuple(format_number(s[i]) for s in series))
            for i in range(n)
        ),
        **kwargs,
    )


def bar_chart(values, **kwargs) -> Chart:
    labels = tuple(f"Carrier {i}" for i in range(len(values)))
    return Chart(
        key="bars",
        title="Bars",
        description="Some bars.",
        kind="bars",
        categories=labels,
        series=(Series(key="v", label="Value", values=tuple(values)),),
        columns=("Carrier", "Value"),
        rows=tuple(
            Row(label=label, cells=(str(v),)) for label, v in zip(labels, values, strict=True)
        ),
        **kwargs,
    )


# ---- Scales and numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "integer", "expected"),
    [
        (0, True, (4.0, 1.0)),
        (3, True, (4, 1)),
        (7, True, (8, 2)),
        (9, False, (10, 2.5)),
        (130, True, (200, 50)),
        (0.3, False, (0.4, 0.1)),
    ],
)
def test_the_scale_ends_on_a_round_number_above_the_maximum(maximum, integer, expected):
    assert nice_scale(maximum, integer=integer) == pytest.approx(expected)


def test_counts_never_get_fractional_steps():
    top, step = nice_scale(2, integer=True)

    assert step == int(step) and top >= 2


def test_a_share_of_nothing_is_no_number_not_a_division_by_zero():
    assert percent(3, 0) is None
    assert percent(None, 5) is None
    assert percent(1, 4) == 25.0


def test_numbers_read_in_the_active_language():
    assert format_number(None) == "—"
    assert format_number(1234, decimals=0) == "1,234"
    assert format_number(2.25, decimals=1, unit=" h") == "2.2 h"
    with translation.override("zh-hans"):
        assert format_number(1234.5) == "1234.5"  # zh-Hans writes no thousands separator


# ---- Layout -----------------------------------------------------------------------------------


def test_a_missing_value_breaks_the_line_and_gets_no_marker():
    plot = line_chart((1, 2, None, 4)).plot

    (line,) = plot.lines
    assert len(line.segments) == 2
    assert len(line.segments[0].split()) == 2
    assert len(line.markers) == 3


def test_points_sit_in_the_middle_of_their_day_and_scale_to_the_top():
    plot = line_chart((0, 4), integer=True).plot

    first, second = (point.split(",") for point in plot.lines[0].segments[0].split())
    width = plot.right - plot.left
    assert float(first[0]) == pytest.approx(plot.left + width / 4, abs=0.1)
    assert float(first[1]) == plot.bottom  # 0
    assert float(second[1]) == plot.top  # 4, the top of a 0-4 scale
    assert [tick.label for tick in plot.y_ticks] == ["0", "1", "2", "3", "4"]


def test_series_differ_by_dash_and_marker_as_well_as_colour():
    chart = line_chart((1, 2), (2, 3), (3, 4), (4, 5))

    lines = chart.plot.lines
    assert len({line.colour for line in lines}) == 4
    assert len({line.dash for line in lines}) == 4
    assert len({re.sub(r"[\d.,-]", "", line.markers[0]) for line in lines}) == 4  # shapes
    assert [item.label for item in chart.legend] == [f"Series {k}" for k in range(4)]


def test_a_single_series_has_no_legend():
    assert line_chart((1, 2)).legend == []


def test_a_long_period_drops_markers_and_thins_the_day_labels():
    plot = line_chart(tuple(range(90))).plot

    assert plot.lines[0].markers == ()
    assert len(plot.x_labels) <= charts.MAX_X_LABELS


def test_a_target_line_sits_on_the_scale():
    plot = line_chart((1, 2, 3), scale_max=5, target=Target(4, "target")).plot

    assert plot.target_y == pytest.approx(plot.bottom - (plot.bottom - plot.top) * 4 / 5, abs=0.1)


def test_bars_are_as_long_as_their_share_of_the_scale():
    plot = bar_chart([50.0, 100.0, None], scale_max=100, unit="%").plot

    full = plot.right - plot.left
    assert [bar.width for bar in plot.bars] == [pytest.approx(full / 2, abs=0.1), full, 0]
    assert [bar.value_label for bar in plot.bars] == ["50.0%", "100.0%", "—"]
    assert plot.height > plot.bottom  # room for the axis labels


def test_long_bar_labels_are_shortened_but_kept_whole_in_the_table():
    chart = bar_chart([1])
    chart.categories = ("A very long lane name → another very long region · Carrier",)

    bar = chart.plot.bars[0]
    assert len(bar.label) == charts.LABEL_CHARS and bar.label.endswith("…")
    assert bar.full_label == chart.categories[0]


def test_a_chart_without_values_has_no_data():
    assert not line_chart((None, None)).has_data
    assert line_chart((0, 0)).has_data  # zero is a value
    assert not bar_chart([]).has_data


# ---- Rendering ----------------------------------------------------------------------------------


def test_the_chart_renders_an_accessible_svg_and_its_table():
    html = render_to_string(
        "supervisor/_chart.html", {"chart": line_chart((1.5, None), (2, 3), target=Target(2, "t"))}
    )

    assert 'role="img"' in html
    assert 'aria-labelledby="chart-test-title chart-test-desc"' in html
    assert '<desc id="chart-test-desc">A test.</desc>' in html
    assert '<caption id="chart-test-caption">Test chart</caption>' in html
    assert '<th scope="row">Day 1</th>' in html and '<td class="num">1.5</td>' in html
    assert "style=" not in html  # the content security policy allows no inline styles
    assert 'class="chart-legend"' in html


def test_an_empty_chart_shows_its_empty_text_instead():
    html = render_to_string(
        "supervisor/_chart.html", {"chart": bar_chart([], empty_text="Nothing delivered.")}
    )

    assert "Nothing delivered." in html
    assert "<svg" not in html and "<table" not in html


# ---- Links --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_links_go_to_the_shipments_drilldown_with_the_filters():
    scope, _form = scope_from({"days": "7", "region": "DE-BE"}, now=timezone.now())

    href = charts.shipments_href(scope, cause="weather")

    assert href.startswith(reverse("supervisor:drilldown_shipments") + "?")
    assert "days=7" in href and "region=DE-BE" in href and "cause=weather" in href
    assert "kpi=first_contact" in href


@pytest.mark.django_db
def test_without_the_drilldown_links_fall_back_to_the_console(monkeypatch):
    monkeypatch.setattr(charts, "DRILLDOWN_SHIPMENTS", "supervisor:no_such_list")
    scope, _form = scope_from({}, now=timezone.now())

    assert charts.shipments_href(scope, cause="weather") == reverse("tickets:console")
