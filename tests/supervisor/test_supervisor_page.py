"""The dashboard's morning panels: approval queue, open incidents, SLA alerts and customer
satisfaction by agent (the figures: test_kpis.py, the page: test_dashboard.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from compensation.models import CompensationOffer
from tests import factories
from tickets.models import SatisfactionSurvey, Ticket

pytestmark = pytest.mark.django_db

SUPERVISOR_PAGE = reverse("supervisor:home")


def solved(**kwargs) -> Ticket:
    return factories.TicketFactory(status="solved", solved_at=timezone.now(), **kwargs)


# ---- Access ---------------------------------------------------------------------------------


def test_agents_are_refused_the_supervisor_page(agent_client):
    assert agent_client.get(SUPERVISOR_PAGE).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(SUPERVISOR_PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={SUPERVISOR_PAGE}"


def test_the_supervisor_page_only_answers_get(supervisor_client):
    assert supervisor_client.post(SUPERVISOR_PAGE).status_code == 405


# ---- Approval queue -------------------------------------------------------------------------


def test_the_approval_queue_lists_pending_offers_oldest_first(supervisor_client, agent):
    now = timezone.now()
    newer = factories.CompensationOfferFactory(
        status="pending_approval",
        requested_by=agent,
        amount=Decimal("80.00"),
        ticket=factories.TicketFactory(subject="Newer request"),
    )
    older = factories.CompensationOfferFactory(
        status="pending_approval",
        kind="discount_code",
        amount=None,
        percent=Decimal("15"),
        ticket=factories.TicketFactory(subject="Older request"),
    )
    CompensationOffer.objects.filter(pk=older.pk).update(created_at=now - dt.timedelta(hours=5))
    factories.CompensationOfferFactory(
        status="proposed", ticket=factories.TicketFactory(subject="Only proposed")
    )

    response = supervisor_client.get(SUPERVISOR_PAGE)

    dashboard = response.context["dashboard"]
    assert [o.pk for o in dashboard.approvals] == [older.pk, newer.pk]
    assert dashboard.approvals_total == 2
    body = response.content.decode()
    assert "Only proposed" not in body
    assert "80.00 EUR" in body
    assert "15%" in body
    assert "Percentage discount code" in body
    assert "Alice" in body  # requested by
    assert "System" in body  # proposed by delay detection, no requester
    assert reverse("tickets:ticket_detail", args=[newer.ticket.public_id]) in body


# ---- Incidents ------------------------------------------------------------------------------


def test_open_incidents_are_listed_and_resolved_ones_are_not(supervisor_client):
    carrier = factories.CarrierFactory(code="dhl", name="DHL Express")
    factories.IncidentFactory(
        title="French customs backlog", cause="customs_hold", carrier=carrier, affected_count=50
    )
    factories.IncidentFactory(title="Port strike", cause="congestion", status="monitoring")
    factories.IncidentFactory(title="Old storm", status="resolved", resolved_at=timezone.now())

    body = supervisor_client.get(SUPERVISOR_PAGE).content.decode()

    assert "French customs backlog" in body
    assert "DHL Express" in body
    assert "Customs hold" in body
    assert ">50<" in body
    assert "Port strike" in body
    assert "Monitoring" in body
    assert "Old storm" not in body


# ---- SLA alerts -----------------------------------------------------------------------------


def test_sla_alerts_show_timers_breached_or_due_within_the_hour_on_open_tickets(
    supervisor_client,
):
    now = timezone.now()

    def timer(subject, ticket=None, **kwargs):
        ticket = ticket or factories.TicketFactory(subject=subject)
        return factories.SLATimerFactory(ticket=ticket, **kwargs)

    timer("Due in half an hour", due_at=now + dt.timedelta(minutes=30))
    timer("Overdue, not swept yet", due_at=now - dt.timedelta(minutes=5))
    timer("Breached", status="breached", breached_at=now, due_at=now - dt.timedelta(hours=2))
    timer("Due tomorrow", due_at=now + dt.timedelta(days=1))
    timer("Met", status="met", met_at=now, due_at=now + dt.timedelta(minutes=10))
    timer(
        "Breached but solved",
        ticket=solved(subject="Breached but solved"),
        status="breached",
        breached_at=now,
        due_at=now - dt.timedelta(hours=1),
    )

    response = supervisor_client.get(SUPERVISOR_PAGE)

    alerted = [t.ticket.subject for t in response.context["dashboard"].sla_alerts]
    assert alerted == ["Breached", "Overdue, not swept yet", "Due in half an hour"]
    body = response.content.decode()
    assert "Due soon" in body
    assert "Due tomorrow" not in body
    assert "Breached but solved" not in body


# ---- Satisfaction by agent ---------------------------------------------------------------


def test_ratings_land_on_the_agents_scorecard(supervisor_client, agent, other_agent):
    now = timezone.now()
    for who, rating in ((agent, 5), (agent, 4), (other_agent, 2), (agent, 1)):
        ticket = solved(assignee=who)
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=now, agent=who, rating=rating, answered_at=now
        )
    old = solved(assignee=other_agent)
    SatisfactionSurvey.objects.create(
        ticket=old,
        resolved_at=now - dt.timedelta(days=40),
        agent=other_agent,
        rating=5,
        answered_at=now - dt.timedelta(days=31),
    )

    response = supervisor_client.get(SUPERVISOR_PAGE)

    rows = response.context["dashboard"].satisfaction
    assert [(row.name, row.responses, row.average, row.low) for row in rows] == [
        ("Bob", 1, 2.0, 1),
        ("Alice", 3, 3.33, 1),
    ]
    assert "data-satisfaction" in response.content.decode()


def test_an_empty_system_shows_empty_states_and_no_made_up_numbers(supervisor_client):
    body = supervisor_client.get(SUPERVISOR_PAGE).content.decode()

    assert "Nothing to approve." in body
    assert "No open incidents." in body
    assert "No SLA clock is breached or about to run out." in body
    assert "No customer has rated a solved case in the last 30 days." in body
    assert 'data-figure="csat_mean" data-status="no_data"' in body
    assert 'data-figure="resolved_without_escalation" data-status="no_data"' in body


# ---- Query count ----------------------------------------------------------------------------
# The page's query count at two sizes, with its panels and figures: tests/supervisor/
# test_dashboard.py (test_the_dashboard_costs_the_same_queries_at_two_sizes).
