"""The ticket page's query budget with a long history (issue 18): a ticket with 50 timeline
events, 40 scans and 10 notices costs the queries of a new one, and its kept parts (the
timeline and the scans, tickets.fragments) spare three of them on the next view."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tickets.models import Ticket

HTMX = {"HTTP_HX_REQUEST": "true"}
MAX_QUERIES = 12
# A first view (or the first after a change): session, user, two permission reads, the
# agent's team, the ticket (with the stamps of its messages, events and scans), its timers,
# the customer's other tickets, the macros; then the messages, the events and the scans.
FIRST_VIEW_QUERIES = 12
# The next views while nothing changed: the timeline and the scans come rendered from the
# cache, their three queries are not made.
KEPT_VIEW_QUERIES = 9

EVENT_KINDS = [
    ("created", {"source": "customer"}),
    ("status_changed", {"old": "new", "new": "open"}),
    ("assigned", {"assignee_name": "Alice", "reason": "claimed"}),
    ("priority_changed", {"old": "normal", "new": "high", "reason": "VIP"}),
    ("sla_warning", {"timer_kind": "first_response", "name": ""}),
    ("sla_breached", {"timer_kind": "first_response", "name": "", "minutes_late": 12}),
    ("notification_sent", {"channel": "email"}),
    ("carrier_contacted", {}),
    ("category_changed", {"old": "delay", "new": "lost"}),
    ("compensation_proposed", {"kind": "partial_refund"}),
]


def heavy_ticket(agent, *, events: int, scans: int, notices: int, messages: int) -> Ticket:
    ticket = factories.TicketFactory(assignee=agent)
    now = timezone.now()
    for i in range(messages):
        factories.MessageFactory(ticket=ticket, body=f"Customer message {i}")
    for i in range(events):
        kind, data = EVENT_KINDS[i % len(EVENT_KINDS)]
        factories.TicketEventFactory(
            ticket=ticket,
            kind=kind,
            data=data,
            actor=agent if i % 2 else None,
            created_at=now - dt.timedelta(minutes=events - i),
        )
    for i in range(scans):
        factories.TrackingEventFactory(
            shipment=ticket.shipment,
            location=f"Hub {i}",
            occurred_at=now - dt.timedelta(hours=scans - i),
        )
    for _ in range(notices):
        factories.NotificationFactory(
            customer=ticket.customer, ticket=ticket, shipment=ticket.shipment
        )
    factories.SLATimerFactory(ticket=ticket, kind="milestone", name="Call the carrier")
    return ticket


@pytest.fixture
def small(agent):
    return heavy_ticket(agent, events=1, scans=1, notices=0, messages=1)


@pytest.fixture
def heavy(agent):
    return heavy_ticket(agent, events=50, scans=40, notices=10, messages=10)


def url(ticket: Ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.public_id])


def queries_of_two_views(client, ticket) -> list[int]:
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(ticket))
        assert response.status_code == 200
        counts.append(len(queries))
    return counts


def test_a_long_history_costs_the_queries_of_a_short_one(
    agent_client, small, heavy, no_rate_limits
):
    small_counts = queries_of_two_views(agent_client, small)
    heavy_counts = queries_of_two_views(agent_client, heavy)

    assert small_counts == heavy_counts == [FIRST_VIEW_QUERIES, KEPT_VIEW_QUERIES]
    assert FIRST_VIEW_QUERIES <= MAX_QUERIES


def test_the_htmx_region_reads_the_same_kept_parts(agent_client, heavy, no_rate_limits):
    agent_client.get(url(heavy))
    with CaptureQueriesContext(connection) as queries:
        response = agent_client.get(url(heavy), **HTMX)

    assert len(queries) == KEPT_VIEW_QUERIES
    assert response.content.decode().count('class="feed-event') == 50


def without_tokens(body: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1", body)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_kept_page_is_the_page_rendered_afresh(agent_client, heavy, language):
    with time_machine.travel(timezone.now(), tick=False):  # "2 minutes ago" stays put
        first = agent_client.get(url(heavy), HTTP_ACCEPT_LANGUAGE=language).content.decode()
        again = agent_client.get(url(heavy), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert without_tokens(again) == without_tokens(first)
    assert first.count('class="feed-event') == 50
    assert first.count('class="timeline-item') == 40
    assert first.count('class="msg ') == 10
