"""The dashboard's charts (supervisor.trends): each series against a hand-computed fixture.

The period is 1-4 March 2026 and the clock stands at 3 March 15:00 UTC, so 4 March is still
to come (no value, not zero) and 2 March is a day without delays (zero).
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.template.loader import render_to_string
from django.utils import timezone, translation

from supervisor import rollup
from supervisor.scope import scope_from
from supervisor.trends import dashboard_charts
from tests import factories
from tickets.models import Message, SatisfactionSurvey, Ticket

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
PERIOD = {"start": "2026-03-01", "end": "2026-03-04"}


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def refresh():
    """The first-contact chart reads the KPI rollup (supervisor.rollup): rebuild it first."""
    rollup.rollup_refresh(now=NOW, full=True)


def charts_for(params=None, *, now=NOW, refreshed=False):
    if not refreshed:
        refresh()
    scope, _form = scope_from({**PERIOD, **(params or {})}, now=now)
    return {chart.key: chart for chart in dashboard_charts(scope, now=now)}


def delayed(at_, cause="customs_hold", **kwargs):
    return factories.ShipmentFactory(
        delay_level="yellow", delay_detected_at=at_, delay_cause=cause, **kwargs
    )


def notice(shipment, sent_at, *, kind="delay_notice", status="sent", ticket=None):
    return factories.NotificationFactory(
        customer=shipment.customer,
        shipment=None if ticket else shipment,
        ticket=ticket,
        kind=kind,
        status=status,
        sent_at=sent_at if status in ("sent", "delivered") else None,
    )


def reply(shipment, created_at, agent):
    ticket = factories.TicketFactory(shipment=shipment, customer=shipment.customer)
    message = factories.MessageFactory(
        ticket=ticket, direction=Message.Direction.OUTBOUND, author=agent, body="We are on it."
    )
    Message.objects.filter(pk=message.pk).update(created_at=created_at)
    return ticket


def ticket(created_at, *, priority="normal", status="open", solved_at=None, closed_at=None):
    t = factories.TicketFactory(
        priority=priority, status=status, solved_at=solved_at, closed_at=closed_at
    )
    Ticket.objects.filter(pk=t.pk).update(created_at=created_at)
    return t


def survey(answered_at, rating):
    solved_at = answered_at - dt.timedelta(hours=1)
    rated = ticket(solved_at - dt.timedelta(days=1), status="solved", solved_at=solved_at)
    return SatisfactionSurvey.objects.create(
        ticket=rated,
        resolved_at=solved_at,
        rating=rating,
        answered_at=answered_at,
    )


@pytest.fixture
def world(agent):
    """Delays, contacts, ratings, tickets and deliveries of 1-4 March (see each series' test)."""
    s1 = delayed(at(1, 10))  # contacted after 3 h (a reply), a notice after 6 h
    notice(s1, at(1, 8))  # before the detection: not a contact about this delay
    notice(s1, at(1, 16))
    reply(s1, at(1, 13), agent)
    s2 = delayed(at(1, 23, 30))  # never contacted: counts with 39.5 h waited so far
    notice(s2, None, status="pending")
    s6 = delayed(at(1, 12), cause="weather")  # contacted after 24 h, about its ticket
    s6_ticket = factories.TicketFactory(shipment=s6, customer=s6.customer)
    notice(s6, at(2, 12), status="delivered", ticket=s6_ticket)
    s7 = delayed(at(1, 14), cause="unknown")  # contacted after 1 h
    reply(s7, at(1, 15), agent)
    s3 = delayed(at(3, 9))  # contacted after 2.5 h
    notice(s3, at(3, 11, 30))
    delayed(at(3, 6))  # not contacted, 9 h ago: not measured yet
    delayed(at(28, 23, month=2))  # the day before the period (UTC)

    survey(at(1, 9), 5)
    survey(at(1, 20), 2)
    survey(at(3, 8), 4)
    survey(at(27, 8, month=2), 1)  # before the period
    SatisfactionSurvey.objects.create(
        ticket=factories.TicketFactory(), resolved_at=at(2, 8)
    )  # never answered

    alpha = factories.CarrierFactory(code="alpha", name="Alpha")
    beta = factories.CarrierFactory(code="beta", name="Beta")
    lane_a = factories.LaneFactory(carrier=alpha, origin_region="CN-GD", destination_region="DE-BE")
    lane_b = factories.LaneFactory(carrier=beta, origin_region="CN-SH", destination_region="FR-75")
    for carrier, lane, delivered_at, promised_at in (
        (alpha, lane_a, at(1, 12), at(1, 18)),  # on time
        (alpha, lane_a, at(2, 12), at(1, 18)),  # late
        (alpha, lane_a, at(27, 12, month=2), at(20, 18, month=2)),  # before the period
        (beta, lane_b, at(3, 12), at(3, 12)),  # on time (exactly at the promise)
    ):
        factories.ShipmentFactory(
            carrier=carrier,
            lane=lane,
            status="delivered",
            delivered_at=delivered_at,
            promised_at=promised_at,
        )
    return {"alpha": alpha, "beta": beta, "lane_a": lane_a, "lane_b": lane_b}


def values(chart, key=None):
    series = chart.series[0] if key is None else next(s for s in chart.series if s.key == key)
    return list(series.values)


# ---- Series -----------------------------------------------------------------------------------


def test_delays_are_counted_per_day_with_zero_on_a_quiet_day_and_none_for_a_day_to_come(world):
    chart = charts_for()["delays"]

    assert values(chart) == [4, 0, 2, None]
    assert [row.cells for row in chart.rows] == [("4",), ("0",), ("2",), ("—",)]
    assert chart.categories == ("March 1", "March 2", "March 3", "March 4")


def test_days_follow_the_readers_time_zone(world):
    with timezone.override("Asia/Shanghai"):
        # 1 March 23:30 UTC is 2 March in Shanghai; 28 February 23:00 UTC is 1 March there.
        chart = charts_for()["delays"]

    assert values(chart) == [4, 1, 2, None]


def test_first_contact_is_the_median_wait_per_day_of_detection(world):
    chart = charts_for()["first-contact"]

    # 1 March: waits 1 h, 3 h, 24 h and 39.5 h (s2, not contacted: waited so far), median
    # (3 + 24) / 2. 3 March: 2.5 h; the shipment detected 9 h ago is not measured yet.
    assert values(chart) == [13.5, None, 2.5, None]
    assert [row.cells for row in chart.rows] == [
        ("13.5 h", "3", "1", "0"),
        ("—", "0", "0", "0"),
        ("2.5 h", "1", "0", "1"),
        ("—", "—", "—", "—"),
    ]
    assert chart.target.value == 24


@pytest.mark.parametrize(("waits", "median"), [((2, 4, 6, 8), 5.0), ((2, 4, 9), 4.0), ((7,), 7.0)])
def test_the_median_interpolates_between_the_middle_waits(agent, waits, median):
    for hours in waits:
        shipment = delayed(at(2, 1))
        notice(shipment, at(2, 1) + dt.timedelta(hours=hours))

    assert values(charts_for()["first-contact"]) == [None, median, None, None]


def test_csat_is_the_mean_rating_of_the_answers_given_that_day(world):
    chart = charts_for()["csat"]

    assert values(chart) == [3.5, None, 4.0, None]
    assert [row.cells for row in chart.rows] == [
        ("3.50", "2"),
        ("—", "0"),
        ("4.00", "1"),
        ("—", "—"),
    ]


def test_the_backlog_counts_tickets_open_at_the_end_of_each_day_by_priority(db):
    ticket(at(20, 9, month=2), priority="urgent")
    ticket(at(25, 9, month=2), priority="high", status="solved", solved_at=at(2, 10))
    ticket(at(1, 9))
    ticket(at(2, 8), status="closed", solved_at=at(3, 8), closed_at=at(3, 9))
    ticket(at(10, 9, month=2), priority="low", status="solved", solved_at=at(15, 9, month=2))
    ticket(at(3, 10), priority="high", status="open", solved_at=at(3, 11))  # reopened
    ticket(at(5, 10), priority="low")  # after the clock (a ticket from the future)

    chart = charts_for()["backlog"]

    assert values(chart, "urgent") == [1, 1, 1, None]
    assert values(chart, "high") == [1, 0, 1, None]
    assert values(chart, "normal") == [1, 2, 1, None]
    assert values(chart, "low") == [0, 0, 0, None]
    assert chart.rows[1].cells == ("1", "0", "2", "0", "3")  # urgent, high, normal, low, total


def test_top_causes_count_the_delays_of_the_period(world):
    chart = charts_for()["causes"]

    assert chart.categories == ("Customs hold", "Unknown", "Bad weather")
    assert values(chart) == [4, 1, 1]
    assert chart.rows[0].cells == ("4", "66.7%")


def test_carrier_reliability_is_the_on_time_share_of_the_periods_deliveries(world):
    chart = charts_for()["carriers"]

    assert chart.categories == ("Alpha", "Beta")  # least reliable first
    assert values(chart) == [50.0, 100.0]
    assert chart.rows[0].cells == ("50.0%", "2", "1")


def test_lane_reliability_lists_the_lanes_with_the_most_late_deliveries(world):
    chart = charts_for()["lanes"]

    assert chart.categories == (
        "CN-GD → DE-BE · Alpha (Standard)",
        "CN-SH → FR-75 · Beta (Standard)",
    )
    assert values(chart) == [50.0, 100.0]


# ---- Filters and empty periods ----------------------------------------------------------------


def test_the_filters_narrow_every_chart(world):
    alpha = world["alpha"]
    factories.ShipmentFactory(
        carrier=alpha,
        lane=world["lane_a"],
        delay_level="red",
        delay_detected_at=at(2, 9),
        delay_cause="congestion",
    )

    charts = charts_for({"carrier": alpha.pk})

    assert values(charts["delays"]) == [0, 1, 0, None]
    assert charts["causes"].categories == ("Port congestion or strike",)
    assert charts["carriers"].categories == ("Alpha",)
    assert [s.values for s in charts["backlog"].series] == [(0, 0, 0, None)] * 4
    assert values(charts["csat"]) == [None, None, None, None]


def test_a_team_filter_keeps_that_teams_tickets_and_ratings(world):
    team = factories.TeamFactory(name="Claims", slug="claims")
    t = ticket(at(1, 9), priority="urgent")
    Ticket.objects.filter(pk=t.pk).update(team=team)

    charts = charts_for({"team": team.pk})

    assert values(charts["backlog"], "urgent") == [1, 1, 1, None]
    assert values(charts["backlog"], "normal") == [0, 0, 0, None]
    assert values(charts["csat"]) == [None, None, None, None]


def test_an_empty_period_draws_no_bars_and_says_why(db):
    charts = charts_for()

    assert values(charts["delays"]) == [0, 0, 0, None]
    assert not charts["first-contact"].has_data
    assert not charts["csat"].has_data
    assert not charts["causes"].has_data
    assert charts["causes"].empty_text == "No delay was detected in this period."
    assert not charts["carriers"].has_data
    html = render_to_string(
        "supervisor/_dashboard_charts.html", {"dashboard_charts": charts.values()}
    )
    assert "No delay was detected in this period." in html
    assert "No parcel was delivered in this period." in html


# ---- Rendering --------------------------------------------------------------------------------


def test_each_chart_is_an_svg_image_followed_by_its_numbers_as_a_table(world):
    charts = list(charts_for().values())

    html = render_to_string("supervisor/_dashboard_charts.html", {"dashboard_charts": charts})

    assert html.count('role="img"') == 7
    assert 'aria-labelledby="chart-delays-title chart-delays-desc"' in html
    assert '<title id="chart-delays-title">Delays detected per day</title>' in html
    assert '<caption id="chart-delays-caption">Delays detected per day</caption>' in html
    assert "Delays detected per day from March 1, 2026 to March 4, 2026: 6 in total" in html
    assert "<polyline" in html and "<rect" in html
    assert '<td class="num">66.7%</td>' in html


def test_charts_read_in_chinese(world):
    with translation.override("zh-hans"):
        charts = charts_for()
        html = render_to_string(
            "supervisor/_dashboard_charts.html", {"dashboard_charts": charts.values()}
        )

    assert charts["delays"].categories[0] == "03月1日"  # Django's zh-Hans MONTH_DAY_FORMAT
    assert 'viewBox="0 0 640 260"' in html  # coordinates stay unlocalised


# ---- Queries ----------------------------------------------------------------------------------


def test_the_query_count_does_not_grow_with_data_or_days(
    world, agent, django_assert_max_num_queries
):
    # One query per chart family (delays and causes share one, carriers and lanes another).
    refresh()
    with django_assert_max_num_queries(5):
        charts_for(refreshed=True)
    for day in range(1, 4):
        s = delayed(at(day, 5), cause="damage")
        notice(s, at(day, 7))
        survey(at(day, 6), 3)
        ticket(at(day, 4), priority="low")
    refresh()
    with django_assert_max_num_queries(5):
        charts_for({"start": "2026-01-01", "end": "2026-03-31"}, refreshed=True)


# ---- On the dashboard ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_dashboard_draws_the_charts_in_the_readers_language(supervisor_client, world, language):
    refresh()
    response = supervisor_client.get("/supervisor/", PERIOD, HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 200
    body = response.content.decode()
    for key in ("delays", "first-contact", "csat", "backlog", "causes", "carriers", "lanes"):
        assert f'data-chart="{key}"' in body
    assert body.count('role="img"') == 7
    assert ("3月1日" if language == "zh-hans" else "March 1") in body
