"""The shipment page's late-delivery panel (shipments.views.shipment_risk): the model's chance
that an undelivered shipment misses its promise, which model answered (or the lane-quantile
fallback), the facts in words, why a will_be_late shipment is warned; loaded by htmx after the
page, on the hour's cached history (shipments.risk.scoring.cached_history).

The history (as tests/shipments/test_risk.py): one carrier, two lanes, parcels handed over
every day for 90 days before NOW, promised 5 days after hand-over; lane "fast" takes 2..6 days,
lane "slow" 4..8 days.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from portal.links import PortalLinks
from shipments import risk
from shipments.models import Lane, Shipment, ShipmentStatus
from shipments.risk import scoring
from tests import factories
from tests.shipments.conftest import TRAINING

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def _delivered(world, lane: Lane, number: int, *, shipped_at, transit) -> Shipment:
    return Shipment(
        carrier=world["carrier"],
        tracking_number=f"H{number:08d}",
        order_number=f"HO{number:08d}",
        customer=world["customer"],
        lane=lane,
        origin_region=lane.origin_region,
        destination_region=lane.destination_region,
        status=ShipmentStatus.DELIVERED,
        ordered_at=shipped_at - 12 * HOUR,
        shipped_at=shipped_at,
        promised_at=shipped_at + 5 * DAY,
        delivered_at=shipped_at + transit,
        order_value=Decimal("40.00"),
    )


@pytest.fixture
def history(world):
    rows = []
    for day in range(1, 91):
        shipped = NOW - (day + 10) * DAY
        for offset in range(5):
            for lane, base in ((world["fast"], 2), (world["slow"], 4)):
                rows.append(
                    _delivered(
                        world,
                        lane,
                        len(rows),
                        shipped_at=shipped + offset * HOUR,
                        transit=(base + (day + offset) % 5) * DAY,
                    )
                )
    Shipment.objects.bulk_create(rows)
    return world


@pytest.fixture
def trained(history, settings):
    for name, value in TRAINING.items():
        setattr(settings, name, value)
    return risk.train(as_of=NOW).model


def in_transit(world, lane=None, *, shipped_ago=5 * DAY, promised_in=2 * DAY, **fields):
    return factories.ShipmentFactory(
        carrier=world["carrier"],
        customer=world["customer"],
        lane=lane or world["slow"],
        shipped_at=NOW - shipped_ago,
        promised_at=NOW + promised_in,
        ordered_at=NOW - shipped_ago - 12 * HOUR,
        **fields,
    )


def warned(world) -> Shipment:
    """At will_be_late, as the 72 h rule of migration 0014 put it there an hour ago."""
    return in_transit(
        world,
        delay_level="will_be_late",
        delay_rule="will_be_late_72h",
        delay_detected_at=NOW - HOUR,
    )


def page_url(shipment) -> str:
    return f"/console/shipments/{shipment.public_id}/"


def risk_url(shipment) -> str:
    return f"/console/shipments/{shipment.public_id}/risk/"


def panel(client, shipment, **headers) -> str:
    response = client.get(risk_url(shipment), HTTP_HX_REQUEST="true", **headers)
    assert response.status_code == 200
    return response.content.decode()


# --- The page and its lazy-loaded panel ---------------------------------------------------


def test_the_page_loads_the_forecast_after_itself(agent_client, world):
    parcel = in_transit(world)

    html = agent_client.get(page_url(parcel)).content.decode()

    assert f'hx-get="{risk_url(parcel)}" hx-trigger="load"' in html
    assert f'href="{risk_url(parcel)}"' in html  # without JavaScript, a link to the same
    assert "data-risk-probability" not in html  # the page itself never scores


def test_the_fallback_shows_the_lane_rules_probability_and_the_facts(agent_client, history):
    parcel = in_transit(history)
    expected = risk.score([parcel.pk], now=NOW)

    html = panel(agent_client, parcel)

    assert expected.fallback is True
    assert f"data-risk-probability>{round(100 * expected[parcel.pk])}%<" in html
    assert "Lane transit times (no trained model yet)" in html
    assert "Parcels on this lane usually take 6 days (9 in 10 within 8)." in html
    assert "Handed over to the carrier 5 days ago." in html
    assert "2 days left to the promised date." in html
    assert "No trained model yet" in html
    assert "Model version" not in html


def test_a_trained_model_shows_its_version_and_its_probability(agent_client, trained, history):
    parcel = in_transit(history)
    expected = risk.score([parcel.pk], now=NOW)

    html = panel(agent_client, parcel)

    assert expected.fallback is False
    assert f"data-risk-probability>{round(100 * expected[parcel.pk])}%<" in html
    assert f"Model version {trained.version}" in html
    assert "Handed over to the carrier 5 days ago." in html
    assert "No trained model yet" not in html
    assert "data-risk-warned" not in html  # not at will_be_late


def test_a_will_be_late_shipment_says_this_forecast_is_why_it_is_warned(agent_client, history):
    parcel = warned(history)

    html = panel(agent_client, parcel)

    assert "data-risk-warned" in html
    assert "Will be late" in html
    assert (
        "This shipment is warned because this chance reached 57% with 72 h or less left to "
        "the promised date." in html
    )


def test_a_delivered_shipment_shows_no_probability(agent_client, history):
    parcel = in_transit(history, status="delivered", delivered_at=NOW - HOUR)

    html = panel(agent_client, parcel)

    assert "This shipment has arrived: there is nothing left to forecast." in html
    assert "data-risk-probability" not in html and "data-risk-facts" not in html


def test_a_returned_shipment_is_closed_without_a_probability(agent_client, history):
    parcel = in_transit(history, status="returned")

    html = panel(agent_client, parcel)

    assert "This shipment is closed (Returned to sender)" in html
    assert "data-risk-probability" not in html


def test_without_a_score_the_panel_is_an_empty_state(agent_client, world, monkeypatch):
    parcel = in_transit(world)
    monkeypatch.setattr(
        risk, "reasons", lambda *a, **k: risk.Reasons(probability=None, fallback=True, facts=[])
    )

    html = panel(agent_client, parcel)

    assert "data-risk-empty" in html and "No forecast for this shipment yet." in html
    assert "data-risk-probability" not in html


def test_without_javascript_the_link_opens_the_panel_as_a_small_page(agent_client, history):
    parcel = in_transit(history)

    html = agent_client.get(risk_url(parcel)).content.decode()
    fragment = panel(agent_client, parcel)

    assert "<html" in html and page_url(parcel) in html and "data-risk-probability" in html
    assert "<html" not in fragment


def test_it_reads_in_chinese(agent_client, history):
    parcel = in_transit(history)
    agent_client.cookies["django_language"] = "zh-hans"

    response = agent_client.get(risk_url(parcel), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode()


# --- Performance: the hour's history from the cache -----------------------------------------


def test_the_panels_queries_are_constant_with_a_warm_cache(
    agent_client, trained, history, no_rate_limits, django_assert_max_num_queries, monkeypatch
):
    small = in_transit(history)
    large = warned(history)
    for n in range(20):
        factories.TrackingEventFactory(shipment=large, occurred_at=NOW - n * HOUR)
    panel(agent_client, small)  # warms the hour's history
    monkeypatch.setattr(scoring, "load_history", _never)
    # session, user, user and group permissions (role check), the shipment, the active model,
    # the cached history (one row of the database cache), the shipment's scoring row, and at
    # will_be_late its rule
    with django_assert_max_num_queries(8):
        panel(agent_client, small)
    more = [
        _delivered(history, history["slow"], 10_000 + n, shipped_at=NOW - 9 * DAY, transit=DAY)
        for n in range(50)
    ]
    Shipment.objects.bulk_create(more)
    with django_assert_max_num_queries(9):
        assert "data-risk-warned" in panel(agent_client, large)


def test_the_history_is_cached_per_hour(history, monkeypatch):
    loaded = []
    real = scoring.load_history

    def counting(*, now):
        loaded.append(now)
        return real(now=now)

    monkeypatch.setattr(scoring, "load_history", counting)

    first = scoring.cached_history(NOW + 5 * dt.timedelta(minutes=1))
    again = scoring.cached_history(NOW + 59 * dt.timedelta(minutes=1))
    scoring.cached_history(NOW + HOUR)

    assert loaded == [NOW, NOW + HOUR]  # as of the start of each hour, once each
    assert (first.quantiles == again.quantiles).all()


def test_reasons_on_the_cached_history_are_the_same(trained, history):
    parcel = in_transit(history)

    cached = risk.reasons(parcel, now=NOW, history=scoring.cached_history(NOW))

    assert cached == risk.reasons(parcel, now=NOW)


def _never(**kwargs):
    raise AssertionError("the history was loaded: the cache was not used")


# --- Who may read it ------------------------------------------------------------------------


def test_an_agent_of_another_team_still_reads_the_forecast(agent_client, history):
    parcel = in_transit(history)
    factories.TicketFactory(shipment=parcel, customer=parcel.customer, team=factories.TeamFactory())

    assert "data-risk-probability" in panel(agent_client, parcel)


def test_a_supervisor_reads_the_forecast(supervisor_client, history):
    assert "data-risk-probability" in panel(supervisor_client, in_transit(history))


def test_anonymous_visitors_are_sent_to_log_in(client, world):
    response = client.get(risk_url(in_transit(world)))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_customer_with_a_progress_link_is_refused(client, world):
    parcel = in_transit(world)
    ticket = factories.TicketFactory(shipment=parcel, customer=parcel.customer)
    link = PortalLinks().mint([ticket.pk], now=timezone.now())[ticket.pk]
    assert client.get(link.url).status_code == 302  # the customer's browser opened the case

    response = client.get(risk_url(parcel))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_staff_user_without_the_console_role_gets_403(client, world):
    client.force_login(factories.UserFactory(is_staff=True))

    assert client.get(risk_url(in_transit(world))).status_code == 403


def test_an_unknown_shipment_is_404_and_writes_are_refused(agent_client, world):
    unknown = "/console/shipments/00000000-0000-4000-8000-000000000000/risk/"

    assert agent_client.get(unknown).status_code == 404
    assert agent_client.get("/console/shipments/not-a-uuid/risk/").status_code == 404
    assert agent_client.post(risk_url(in_transit(world))).status_code == 405
