"""The remedy panel's standing choice: an agent records the customer's choice made by phone
(compensation.panels.offer_choose -> compensation.services.offer_choose)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compensation.models import CompensationOffer, OfferStatus
from compensation.services import RemedySpec, offer_request
from tests import factories
from tests.compensation.test_ticket_panel import PANEL_QUERIES
from tickets.models import Ticket, TicketEvent

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BUTTON = "The customer chose this (by phone)"


def panel_url(ticket: Ticket) -> str:
    return reverse("compensation:ticket_panel", args=[ticket.public_id])


def choose_url(offer: CompensationOffer) -> str:
    return reverse("compensation:offer_choose", args=[offer.ticket.public_id, offer.public_id])


@pytest.fixture
def ticket(agent):
    return factories.TicketFactory(assignee=agent, shipment__order_value=Decimal("49.90"))


@pytest.fixture
def choice(ticket, agent):
    """Two alternatives within the agent's authority: offered, the customer to choose."""
    offers = offer_request(
        ticket=ticket,
        by=agent,
        remedies=[
            RemedySpec(kind="partial_refund", amount=Decimal("15")),
            RemedySpec(kind="coupon", amount=Decimal("10")),
        ],
    )
    assert {offer.status for offer in offers} == {OfferStatus.OFFERED}
    return offers


def statuses(offers) -> list[str]:
    return [CompensationOffer.objects.get(pk=offer.pk).status for offer in offers]


# ---- The button ---------------------------------------------------------------------------------


def test_a_standing_choice_lists_its_alternatives_each_with_the_button(agent_client, choice):
    body = agent_client.get(panel_url(choice[0].ticket), **HTMX).content.decode()

    assert "data-remedy-choices" in body
    assert "Waiting for the customer's choice" in body
    assert body.count(BUTTON) == 2
    for offer in choice:
        assert f'action="{choose_url(offer)}"' in body
        assert f'hx-post="{choose_url(offer)}"' in body
    assert "a refund of 15.00 EUR" in body
    assert "10.00 EUR" in body


@pytest.mark.parametrize(
    "status", ["proposed", "pending_approval", "issued", "cancelled", "rejected"]
)
def test_no_button_without_a_standing_choice(agent_client, ticket, status):
    group = uuid.uuid4()
    issued_at = timezone.now() if status == "issued" else None
    for kind in ("coupon", "partial_refund"):
        factories.CompensationOfferFactory(
            ticket=ticket, kind=kind, status=status, choice_group=group, issued_at=issued_at
        )
    # A single remedy offered (no choice group) is no choice either.
    factories.CompensationOfferFactory(ticket=ticket, status="offered")

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert BUTTON not in body
    assert "data-remedy-choices" not in body


def test_an_empty_panel_has_no_choice(agent_client, ticket):
    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert BUTTON not in body
    assert "data-remedies-empty" in body


def test_the_standing_choice_costs_one_query_and_only_when_there_is_one(
    agent_client, ticket, choice, django_assert_max_num_queries
):
    with django_assert_max_num_queries(PANEL_QUERIES + 1):
        response = agent_client.get(panel_url(ticket), **HTMX)
    assert len(response.context["choices"]) == 1

    other = factories.TicketFactory(assignee=ticket.assignee)
    with django_assert_max_num_queries(PANEL_QUERIES):
        agent_client.get(panel_url(other), **HTMX)


# ---- Choosing -----------------------------------------------------------------------------------


def test_choosing_issues_that_one_and_cancels_the_others(agent_client, agent, choice):
    refund, coupon = choice

    response = agent_client.post(choose_url(refund), **HTMX)

    assert response.status_code == 200
    body = response.content.decode()
    assert "data-choice-result" in body
    assert "Issued: a refund of 15.00 EUR." in body
    assert BUTTON not in body  # the choice no longer stands
    assert statuses(choice) == [OfferStatus.ISSUED, OfferStatus.CANCELLED]
    [accepted] = TicketEvent.objects.filter(ticket=refund.ticket, kind="compensation_accepted")
    assert (accepted.actor, accepted.data["by_phone"]) == (agent, True)


def test_without_javascript_the_answer_is_the_panels_page(agent_client, choice):
    response = agent_client.post(choose_url(choice[1]))

    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert "Issued:" in response.content.decode()
    assert statuses(choice) == [OfferStatus.CANCELLED, OfferStatus.ISSUED]


@pytest.mark.parametrize("second", [0, 1], ids=["same", "other"])
def test_a_second_click_says_already_chosen_and_changes_nothing(agent_client, choice, second):
    refund = choice[0]
    agent_client.post(choose_url(refund), **HTMX)
    events = TicketEvent.objects.filter(ticket=refund.ticket).count()
    issued_at = CompensationOffer.objects.get(pk=refund.pk).issued_at

    response = agent_client.post(choose_url(choice[second]), **HTMX)

    assert response.status_code == 409
    assert response["Delaydesk-Fragment"] == "remedy"
    body = response.content.decode()
    assert "data-choice-error" in body
    assert "The customer already chose a refund of 15.00 EUR; nothing was changed." in body
    assert statuses(choice) == [OfferStatus.ISSUED, OfferStatus.CANCELLED]
    assert TicketEvent.objects.filter(ticket=refund.ticket).count() == events
    assert CompensationOffer.objects.get(pk=refund.pk).issued_at == issued_at


def test_an_offer_not_open_for_choice_is_refused_with_409(agent_client, ticket):
    pending = factories.CompensationOfferFactory(
        ticket=ticket, status="pending_approval", choice_group=uuid.uuid4()
    )

    response = agent_client.post(choose_url(pending), **HTMX)

    assert response.status_code == 409
    assert response["Delaydesk-Fragment"] == "remedy"
    assert "This remedy is not open for the customer&#x27;s choice." in response.content.decode()
    assert statuses([pending]) == [OfferStatus.PENDING_APPROVAL]


# ---- Who may ------------------------------------------------------------------------------------


def test_an_agent_outside_the_tickets_team_gets_404(agent_client, other_agent):
    theirs = factories.TicketFactory(team=other_agent.agent_profile.team)
    group = uuid.uuid4()
    choice = [
        factories.CompensationOfferFactory(ticket=theirs, status="offered", choice_group=group),
        factories.CompensationOfferFactory(
            ticket=theirs, kind="coupon", amount="10.00", status="offered", choice_group=group
        ),
    ]

    response = agent_client.post(choose_url(choice[0]), **HTMX)

    assert response.status_code == 404
    assert statuses(choice) == [OfferStatus.OFFERED, OfferStatus.OFFERED]
    assert agent_client.get(panel_url(theirs), **HTMX).status_code == 404


def test_an_offer_of_another_ticket_is_404(agent_client, agent, choice):
    mine = factories.TicketFactory(assignee=agent)
    url = reverse("compensation:offer_choose", args=[mine.public_id, choice[0].public_id])

    assert agent_client.post(url, **HTMX).status_code == 404
    assert statuses(choice) == [OfferStatus.OFFERED, OfferStatus.OFFERED]


def test_anonymous_is_sent_to_the_login_page(client, choice):
    response = client.post(choose_url(choice[0]))

    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))
    assert statuses(choice) == [OfferStatus.OFFERED, OfferStatus.OFFERED]


def test_it_is_post_only(agent_client, choice):
    assert agent_client.get(choose_url(choice[0])).status_code == 405
    assert statuses(choice) == [OfferStatus.OFFERED, OfferStatus.OFFERED]


def test_it_needs_the_csrf_token(agent, choice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    assert client.post(choose_url(choice[0]), **HTMX).status_code == 403
    assert statuses(choice) == [OfferStatus.OFFERED, OfferStatus.OFFERED]


def test_an_operator_is_refused(client, operator, choice):
    client.force_login(operator)

    assert client.post(choose_url(choice[0]), **HTMX).status_code == 403
    assert statuses(choice) == [OfferStatus.OFFERED, OfferStatus.OFFERED]
