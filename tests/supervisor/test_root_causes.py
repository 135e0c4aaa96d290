"""The root-causes page: top delay causes by carrier, lane, hub and week against the previous
period, and carrier / lane reliability, each against a hand-computed fixture.

The period is Monday 16 to Sunday 29 March 2026 (two whole weeks); the previous period is
2-15 March. Times are UTC, the reader's default zone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.cache import cache
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone, translation

from supervisor import rollup, root_causes, snapshot
from supervisor.scope import scope_from
from tests import factories

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
PAGE = reverse("supervisor:causes")
PERIOD = {"start": "2026-03-16", "end": "2026-03-29"}


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(db):
    alpha = factories.CarrierFactory(code="alpha", name="Alpha")
    beta = factories.CarrierFactory(code="beta", name="Beta")
    gamma = factories.CarrierFactory(code="gamma", name="Gamma")
    lane_a = factories.LaneFactory(carrier=alpha, origin_region="CN-GD", destination_region="DE-BE")
    lane_b = factories.LaneFactory(
        carrier=beta, origin_region="CN-SH", destination_region="FR-75", service_level="express"
    )
    lane_g = factories.LaneFactory(carrier=gamma, origin_region="US-CA", destination_region="DE-BE")
    strike = factories.IncidentFactory(title="Customs backlog", hub="Frankfurt customs")

    def delayed(carrier, lane, detected_at, cause, location="", incident=None):
        return factories.ShipmentFactory(
            carrier=carrier,
            lane=lane,
            service_level=lane.service_level,
            delay_level="orange",
            delay_detected_at=detected_at,
            delay_cause=cause,
            last_location=location,
            incident=incident,
        )

    # The period.
    delayed(alpha, lane_a, at(16), "customs_hold", "Leipzig hub")
    delayed(alpha, lane_a, at(17), "customs_hold", "Leipzig hub")
    delayed(alpha, lane_a, at(24), "weather", "Paris CDG")
    delayed(beta, lane_b, at(25), "customs_hold", "Leipzig hub", incident=strike)
    delayed(beta, lane_b, at(29, 22), "congestion")
    # The previous period.
    delayed(alpha, lane_a, at(3), "customs_hold", "Leipzig hub")
    delayed(beta, lane_b, at(10), "congestion")
    delayed(beta, lane_b, at(12), "congestion", "Rotterdam port")
    # Neither.
    delayed(alpha, lane_a, at(1), "customs_hold", "Leipzig hub")
    delayed(alpha, lane_a, at(30), "customs_hold", "Leipzig hub")

    def delivered(carrier, lane, delivered_at, promised_at):
        return factories.ShipmentFactory(
            carrier=carrier,
            lane=lane,
            service_level=lane.service_level,
            status="delivered",
            delivered_at=delivered_at,
            promised_at=promised_at,
        )

    delivered(alpha, lane_a, at(20, 12), at(21, 12))  # on time
    delivered(alpha, lane_a, at(22, 12), at(20, 12))  # 2 days late
    delivered(alpha, lane_a, at(23, 0), at(22, 0))  # 1 day late
    delivered(alpha, lane_a, at(10), at(11))  # previous period, on time
    delivered(beta, lane_b, at(18), at(19))  # on time
    delivered(beta, lane_b, at(5), at(4))  # previous period, late
    delivered(gamma, lane_g, at(10), at(11))  # previous period only
    factories.ShipmentFactory(  # failed in the period
        carrier=beta, lane=lane_b, service_level="express", status="exception", last_event_at=at(26)
    )
    factories.ShipmentFactory(  # returned in the previous period
        carrier=alpha, lane=lane_a, status="returned", last_event_at=at(5)
    )
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "lane_a": lane_a, "lane_b": lane_b}


def page(client, **params):
    response = client.get(PAGE, {**PERIOD, **params})
    assert response.status_code == 200
    return response


def table(response, name):
    found = next(p for p in response.context["pages"] if p.table.name == name)
    return [[cell.text for cell in row.cells] for row in found.rows]


# ---- Access ---------------------------------------------------------------------------------


def test_agents_are_refused_the_root_causes(agent_client):
    assert agent_client.get(PAGE).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={PAGE}"


def test_the_page_only_answers_get(supervisor_client):
    assert supervisor_client.post(PAGE).status_code == 405


def test_the_workspace_navigation_links_the_page(supervisor_client):
    response = supervisor_client.get(PAGE)

    assert f'href="{PAGE}" aria-current="page">Root causes</a>' in response.content.decode()


# ---- Causes ---------------------------------------------------------------------------------


def test_causes_by_carrier_compare_the_period_with_the_one_before(supervisor_client, world):
    response = page(supervisor_client)

    assert table(response, "carriers") == [
        ["Alpha", "Customs hold", "2", "1", "▲ +1 (+100.0%)"],
        ["Beta", "Port congestion or strike", "1", "2", "▼ -1 (-50.0%)"],
        ["Alpha", "Bad weather", "1", "0", "▲ +1 (new)"],
        ["Beta", "Customs hold", "1", "0", "▲ +1 (new)"],
    ]


def test_causes_by_lane_name_the_route_carrier_and_service(supervisor_client, world):
    rows = table(page(supervisor_client), "lanes")

    assert rows[0] == [
        "CN-GD → DE-BE · Alpha (Standard)",
        "Customs hold",
        "2",
        "1",
        "▲ +1 (+100.0%)",
    ]
    assert rows[1][0] == "CN-SH → FR-75 · Beta (Express)"


def test_causes_by_hub_prefer_the_incidents_hub_to_the_last_scan(supervisor_client, world):
    assert table(page(supervisor_client), "hubs") == [
        ["Leipzig hub", "Customs hold", "2", "1", "▲ +1 (+100.0%)"],
        ["No location scanned", "Port congestion or strike", "1", "1", "= 0 (0.0%)"],
        ["Frankfurt customs", "Customs hold", "1", "0", "▲ +1 (new)"],
        ["Paris CDG", "Bad weather", "1", "0", "▲ +1 (new)"],
        ["Rotterdam port", "Port congestion or strike", "0", "1", "▼ -1 (-100.0%)"],
    ]


def test_causes_by_week_compare_each_week_with_the_one_before(supervisor_client, world):
    assert table(page(supervisor_client), "weeks") == [
        ["Week of March 16, 2026", "Customs hold", "2", "0", "▲ +2 (new)"],
        ["Week of March 16, 2026", "Port congestion or strike", "0", "2", "▼ -2 (-100.0%)"],
        ["Week of March 23, 2026", "Customs hold", "1", "2", "▼ -1 (-50.0%)"],
        ["Week of March 23, 2026", "Port congestion or strike", "1", "0", "▲ +1 (new)"],
        ["Week of March 23, 2026", "Bad weather", "1", "0", "▲ +1 (new)"],
    ]


def test_a_period_starting_mid_week_marks_its_first_week_partial(supervisor_client, world):
    rows = table(page(supervisor_client, start="2026-03-18"), "weeks")

    # 16 and 17 March are outside the period: the week counts none of their customs holds,
    # yet the next week is compared with the whole week.
    assert rows == [
        [
            "Week of March 16, 2026 · partial",
            "Port congestion or strike",
            "0",
            "2",
            "▼ -2 (-100.0%)",
        ],
        ["Week of March 23, 2026", "Customs hold", "1", "2", "▼ -1 (-50.0%)"],
        ["Week of March 23, 2026", "Port congestion or strike", "1", "0", "▲ +1 (new)"],
        ["Week of March 23, 2026", "Bad weather", "1", "0", "▲ +1 (new)"],
    ]


def test_weeks_follow_the_readers_time_zone(world):
    # 29 March 22:00 UTC is Monday 30 March in Shanghai: outside the period there.
    with timezone.override("Asia/Shanghai"):
        scope, _form = scope_from(PERIOD, now=NOW)
        weeks = root_causes.causes_by_week(scope, timezone.get_current_timezone())

    assert ("congestion", 1) not in [(w.cause, w.current) for w in weeks if w.week.day == 23]


# ---- Reliability ----------------------------------------------------------------------------


def test_carrier_reliability_reads_on_time_lateness_and_exceptions(supervisor_client, world):
    assert table(page(supervisor_client), "carrier_reliability") == [
        # 1 of 3 on time (1 of 1 before); late by 2 and 1 days; 3 delayed of 6 shipments.
        ["Alpha", "3", "33.3%", "100.0%", "▼ −66.7 pp", "1.5 d", "50.0%"],
        # 1 of 1 (0 of 1 before); nothing late; 2 delayed + 1 exception of 4 shipments.
        ["Beta", "1", "100.0%", "0.0%", "▲ +100.0 pp", "—", "75.0%"],
        # Delivered only in the previous period: nothing to divide this period.
        ["Gamma", "0", "—", "100.0%", "—", "—", "—"],
    ]


def test_lane_reliability_has_the_same_figures_per_lane(supervisor_client, world):
    rows = table(page(supervisor_client), "lane_reliability")

    assert [row[0] for row in rows] == [
        "CN-GD → DE-BE · Alpha (Standard)",
        "CN-SH → FR-75 · Beta (Express)",
        "US-CA → DE-BE · Gamma (Standard)",
    ]
    assert rows[0][1:] == ["3", "33.3%", "100.0%", "▼ −66.7 pp", "1.5 d", "50.0%"]


# ---- Filters, links, pages, empty -----------------------------------------------------------


def test_the_filters_narrow_every_table(supervisor_client, world):
    response = page(supervisor_client, carrier=world["beta"].pk)

    assert [row[0] for row in table(response, "carriers")] == ["Beta", "Beta"]
    assert [row[0] for row in table(response, "carrier_reliability")] == ["Beta"]
    assert [row[1] for row in table(response, "weeks")] == [
        "Port congestion or strike",  # 16 March: gone (2 the week before)
        "Port congestion or strike",
        "Customs hold",
    ]


def test_each_row_links_to_the_shipments_behind_it(supervisor_client, world):
    response = page(supervisor_client)

    carriers = next(p for p in response.context["pages"] if p.table.name == "carriers")
    href = carriers.rows[0].href
    assert href.startswith(reverse("supervisor:drilldown_shipments") + "?")
    assert f"carrier={world['alpha'].pk}" in href
    assert "cause=customs_hold" in href
    assert "start=2026-03-16" in href and "kpi=first_contact" in href
    assert href.replace("&", "&amp;") in response.content.decode()


def test_long_tables_are_paged(supervisor_client, world, monkeypatch):
    monkeypatch.setattr(root_causes, "PAGE_SIZE", 3)

    first = page(supervisor_client)
    second = page(supervisor_client, carriers_page=2)

    assert len(table(first, "carriers")) == 3
    assert table(second, "carriers") == [["Beta", "Customs hold", "1", "0", "▲ +1 (new)"]]
    body = first.content.decode()
    assert "carriers_page=2#carriers" in body and "Show more" in body


def test_an_empty_period_says_so(supervisor_client, world):
    response = page(supervisor_client, start="2025-01-01", end="2025-01-31")

    assert response.context["nothing"] is True
    assert "Nothing to explain in this period" in response.content.decode()


def test_a_bad_filter_falls_back_to_the_default_and_says_so(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"carrier": "999999", "start": "nope"})

    assert response.status_code == 200
    assert "Some filters could not be used" in response.content.decode()


# ---- CSV --------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def test_a_table_downloads_as_streamed_csv_with_the_filters(supervisor_client, world):
    response = supervisor_client.get(PAGE, {**PERIOD, "format": "csv", "table": "carriers"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="root-causes-carriers-2026-03-31.csv"' in response["Content-Disposition"]
    assert read_csv(response) == [
        ["carrier", "cause", "count", "previous_count", "change", "change_percent"],
        ["Alpha", "customs_hold", "2", "1", "1", "100.0"],
        ["Beta", "congestion", "1", "2", "-1", "-50.0"],
        ["Alpha", "weather", "1", "0", "1", ""],
        ["Beta", "customs_hold", "1", "0", "1", ""],
    ]


def test_reliability_and_weeks_download_as_csv(supervisor_client, world):
    reliability = read_csv(
        supervisor_client.get(
            PAGE,
            {
                **PERIOD,
                "format": "csv",
                "table": "carrier_reliability",
                "carrier": world["alpha"].pk,
            },
        )
    )
    weeks = read_csv(supervisor_client.get(PAGE, {**PERIOD, "format": "csv", "table": "weeks"}))

    assert reliability == [
        [
            "carrier",
            "deliveries",
            "on_time",
            "on_time_percent",
            "previous_deliveries",
            "previous_on_time_percent",
            "mean_lateness_days",
            "shipments",
            "exceptions",
            "exception_percent",
        ],
        ["Alpha", "3", "1", "33.33", "1", "100.0", "1.5", "6", "3", "50.0"],
    ]
    assert weeks[1] == ["2026-03-16", "no", "customs_hold", "2", "0", "2", ""]


def test_an_unknown_table_is_not_found(supervisor_client):
    assert supervisor_client.get(PAGE, {"format": "csv", "table": "nope"}).status_code == 404


# ---- Queries ----------------------------------------------------------------------------------


def test_the_query_count_does_not_grow_with_the_data(
    supervisor_client, world, django_assert_max_num_queries, no_rate_limits
):
    # session, user, permissions (user, groups), 6 tables, the form's team and carrier choices.
    with django_assert_max_num_queries(12):
        page(supervisor_client)
    for n in range(30):
        carrier = factories.CarrierFactory(code=f"more{n}", name=f"More {n}")
        factories.ShipmentFactory(
            carrier=carrier,
            delay_level="red",
            delay_detected_at=at(20),
            delay_cause="weather",
            last_location=f"Hub {n}",
        )
        factories.ShipmentFactory(
            carrier=carrier, status="delivered", delivered_at=at(21), promised_at=at(20)
        )
    with django_assert_max_num_queries(13):  # and the carrier the filter names
        page(supervisor_client, carrier=world["alpha"].pk)
    with django_assert_max_num_queries(12):
        page(supervisor_client)


# ---- Kept between refreshes (supervisor.root_causes.causes, supervisor.snapshot.warm) -------


def refresh() -> None:
    """What beat runs every few minutes: the rollup refreshed, the default views computed."""
    rollup.rollup_refresh(now=timezone.now())
    snapshot.warm(now=timezone.now())


def default_view(client, **headers):
    response = client.get(PAGE, **headers)
    assert response.status_code == 200
    return response


def customs_holds_of_alpha(response) -> str:
    return next(r for r in table(response, "carriers") if r[:2] == ["Alpha", "Customs hold"])[2]


def test_the_refresh_keeps_the_default_view_and_the_next_refresh_moves_it_on(
    supervisor_client, world
):
    refresh()
    kept = default_view(supervisor_client)
    assert kept.context["kept"] is True
    assert customs_holds_of_alpha(kept) == "4"  # 3, 16, 17 and 30 March

    factories.ShipmentFactory(
        carrier=world["alpha"],
        lane=world["lane_a"],
        delay_level="orange",
        delay_detected_at=at(31, 9),
        delay_cause="customs_hold",
    )
    assert customs_holds_of_alpha(default_view(supervisor_client)) == "4"  # as of the refresh

    refresh()
    assert customs_holds_of_alpha(default_view(supervisor_client)) == "5"


def test_the_kept_rows_are_the_ones_the_request_would_read(supervisor_client, world):
    computed = default_view(supervisor_client)
    refresh()
    kept = default_view(supervisor_client)

    assert (computed.context["kept"], kept.context["kept"]) == (False, True)
    for page in computed.context["pages"]:
        assert table(kept, page.table.name) == table(computed, page.table.name), page.table.name


def test_the_page_says_how_fresh_its_figures_are(supervisor_client, world):
    assert "Figures computed for this view at March 31, 2026, noon." in (
        default_view(supervisor_client).content.decode()
    )
    refresh()
    assert (
        "Figures as of March 31, 2026, noon, computed again after each refresh (every 5 minutes)."
    ) in default_view(supervisor_client).content.decode()


def test_a_filtered_view_is_not_served_the_default_views_rows(supervisor_client, world):
    refresh()
    response = default_view(supervisor_client)
    assert {row[0] for row in table(response, "carriers")} == {"Alpha", "Beta"}

    filtered = supervisor_client.get(PAGE, {"carrier": world["beta"].pk})

    assert filtered.context["kept"] is False
    assert {row[0] for row in table(filtered, "carriers")} == {"Beta"}


def test_the_key_names_the_generation_period_filters_and_time_zone_not_the_language(world):
    scope, _form = scope_from({}, now=NOW)
    week, _form = scope_from({"days": "7"}, now=NOW)
    beta, _form = scope_from({"carrier": world["beta"].pk}, now=NOW)
    generation = rollup.generation()
    key = root_causes._key(scope, generation)

    assert root_causes._key(week, generation) != key
    assert root_causes._key(beta, generation) != key
    assert root_causes._key(scope, (NOW, 1)) != key
    with timezone.override("Asia/Shanghai"):
        assert root_causes._key(scope, generation) != key
    with translation.override("zh-hans"):
        assert root_causes._key(scope, generation) == key  # rows hold no words


def test_a_chinese_reader_gets_the_kept_rows_in_chinese(supervisor_client, world):
    refresh()
    english = default_view(supervisor_client, HTTP_ACCEPT_LANGUAGE="en")
    chinese = default_view(supervisor_client, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert chinese.context["kept"] is True
    assert table(chinese, "carriers")[0][:3] == ["Alpha", "海关扣留", "4"]
    assert table(english, "carriers")[0][:3] == ["Alpha", "Customs hold", "4"]


def test_a_kept_view_and_its_csv_read_no_table(
    supervisor_client, world, django_assert_num_queries, no_rate_limits
):
    refresh()
    default_view(supervisor_client)
    # session, user, permissions (user, groups), the rollup's generation, the cache, the
    # form's team and carrier choices: none of the four table queries.
    with django_assert_num_queries(8):
        default_view(supervisor_client)
    # The same without the form; the rows are the page's.
    with django_assert_num_queries(6):
        response = supervisor_client.get(PAGE, {"format": "csv", "table": "carriers"})
    assert read_csv(response)[1] == ["Alpha", "customs_hold", "4", "1", "3", "300.0"]


def test_the_csv_of_a_view_nobody_keeps_reads_its_own_table(
    supervisor_client, world, django_assert_num_queries, no_rate_limits
):
    # session, user, permissions (user, groups), the rollup's generation, the cache (nothing),
    # the lanes' delays (the carriers' are added up from them).
    with django_assert_num_queries(7):
        response = supervisor_client.get(PAGE, {**PERIOD, "format": "csv", "table": "carriers"})
    assert read_csv(response)[1] == ["Alpha", "customs_hold", "2", "1", "1", "100.0"]


def test_the_refresh_task_keeps_the_root_causes_default_view(db, settings):
    from supervisor.tasks import refresh_kpi_rollup_task

    cache.clear()
    refresh_kpi_rollup_task()

    with timezone.override(settings.DEFAULT_DISPLAY_TIME_ZONE):
        scope, _form = scope_from({}, now=NOW)
        assert cache.get(root_causes._key(scope, rollup.generation())) is not None
        assert root_causes.causes(scope, now=NOW).kept


def test_a_carriers_lateness_is_the_mean_of_all_its_late_deliveries(supervisor_client, world):
    # A second lane of Alpha: one delivery 4 days late, one on time. Alpha's late deliveries
    # are (2 + 1 + 4) / 3 days late, not the mean of its lanes' means (1.5 and 4 days).
    lane = factories.LaneFactory(
        carrier=world["alpha"], origin_region="CN-GD", destination_region="FR-75"
    )
    for promised in (at(21, 12), at(26, 12)):
        factories.ShipmentFactory(
            carrier=world["alpha"],
            lane=lane,
            status="delivered",
            delivered_at=at(25, 12),
            promised_at=promised,
        )

    response = page(supervisor_client)

    assert table(response, "carrier_reliability")[0] == [
        "Alpha", "5", "40.0%", "100.0%", "▼ −60.0 pp", "2.3 d", "37.5%",
    ]  # fmt: skip
    lanes = {row[0]: row[5] for row in table(response, "lane_reliability")}
    assert lanes["CN-GD → FR-75 · Alpha (Standard)"] == "4.0 d"
    assert lanes["CN-GD → DE-BE · Alpha (Standard)"] == "1.5 d"
