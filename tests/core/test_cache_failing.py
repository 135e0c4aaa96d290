"""Pages whose cache only saves work keep answering while the shared cache (Redis) is down
(core.cache; found by bench/bench_faults.py: the dashboard answered 500 while Redis restarted)."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import caches
from django.urls import reverse

from core import cache as tolerant
from tests import factories
from tests.portal.conftest import mint, path_of

# A Redis server that is not there: every cache call raises a connection error.
UNREACHABLE = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",
}


@pytest.fixture
def redis_down(settings, no_rate_limits):
    settings.CACHES = {**settings.CACHES, "default": UNREACHABLE}
    with pytest.raises(Exception):  # noqa: B017, PT011  # the premise: the cache really fails
        caches["default"].get("anything")
    yield
    tolerant._failing = False


def test_the_dashboard_and_the_root_causes_answer_without_the_cache(supervisor_client, redis_down):
    assert supervisor_client.get(reverse("supervisor:home")).status_code == 200
    assert supervisor_client.get(reverse("supervisor:causes")).status_code == 200


def test_the_shipment_forecast_answers_without_the_cache(agent_client, redis_down):
    shipment = factories.ShipmentFactory()
    response = agent_client.get(
        f"/console/shipments/{shipment.public_id}/risk/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200


def test_a_customer_reply_is_taken_without_the_cache(client, agent, redis_down):
    ticket = factories.TicketFactory(assignee=agent)
    url, _ = mint(ticket)
    client.get(path_of(url))
    response = client.post(
        reverse("portal:reply", args=[ticket.public_id]),
        {"body": "Any news?", "submission": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    assert ticket.messages.filter(direction="inbound", body="Any news?").exists()


def test_a_failing_cache_is_logged_once_until_it_answers(caplog, settings):
    settings.CACHES = {**settings.CACHES, "default": UNREACHABLE}
    with caplog.at_level("WARNING", logger="core.cache"):
        assert tolerant.cache_get("a", "default") == "default"
        assert tolerant.cache_set("a", 1) is False
        assert tolerant.cache_add("a", 1, when_failing=True) is True
    assert [r.message for r in caplog.records].count(
        "cache failed: working without it until it answers"
    ) == 1
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with caplog.at_level("WARNING", logger="core.cache"):
        assert tolerant.cache_set("a", 1) is True
    assert "cache answers again" in caplog.text
