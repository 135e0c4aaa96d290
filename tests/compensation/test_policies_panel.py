"""The policies' suggestions in the ticket page's remedy panel (compensation.panels): shown
ranked with their explanation, accepted as they are, edited with a reason (or refused without
one), role, scope, CSRF and the query count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compensation.models import CompensationOffer, CompensationPolicy, PolicyRemedy
from tests import factories
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def panel_url(ticket: Ticket) -> str:
    return reverse("compensation:ticket_panel", args=[ticket.public_id])


def offer_url(ticket: Ticket) -> str:
    return reverse("compensation:ticket_offer", args=[ticket.public_id])


def make_ticket(agent, *, cause="customs_hold", tier="regular", order_value="49.90", late=2):
    customer = factories.CustomerFactory(tier=tier)
    shipment = factories.ShipmentFactory(
        customer=customer,
        cause=cause,
        order_value=Decimal(order_value),
        promised_at=timezone.now() - dt.timedelta(days=late),
    )
    return factories.TicketFactory(customer=customer, shipment=shipment, assignee=agent)


@pytest.fixture
def ticket(agent):
    return make_ticket(agent)


# ---- What it shows ------------------------------------------------------------------------------


def test_the_panel_shows_the_ranked_suggestions_with_their_explanation(agent_client, agent):
    ticket = make_ticket(agent, tier="vip", late=40, order_value="60.00")

    response = agent_client.get(panel_url(ticket), **HTMX)
    body = response.content.decode()

    assert response.status_code == 200
    assert "Suggested remedies" in body
    assert body.index("Delayed over 30 days") < body.index("Customs hold")
    assert "40 days late: Full refund 60.00 EUR" in body
    assert (
        "Customs hold, VIP: Percentage discount code 22.5% + Priority shipping on the next "
        "order, uplifted by rule &#x27;VIP +50%&#x27;"
    ) in body
    assert "offer before being asked" in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert f'hx-post="{offer_url(ticket)}"' in body
    # The past compensation is still there.
    assert "0 compensation offers" in body


def test_the_panel_in_simplified_chinese(agent_client, agent):
    ticket = make_ticket(agent, tier="vip")

    body = agent_client.get(panel_url(ticket), HTTP_ACCEPT_LANGUAGE="zh-hans", **HTMX)
    body = body.content.decode()

    assert "建议的补偿" in body
    assert "已按规则“VIP +50%”加成" in body
    assert "海关扣留：15% 折扣，下次订单优先发货。" in body


def test_without_a_matching_policy_the_agent_may_propose_one_of_their_own(agent_client, agent):
    ticket = make_ticket(agent, cause="weather")

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "data-suggestions-empty" in body
    assert "Propose another remedy" in body


# ---- Accept, edit, replace ---------------------------------------------------------------------


def test_accepting_a_suggestion_sends_its_remedies_to_the_customer(agent_client, ticket):
    response = agent_client.post(offer_url(ticket), {"action": "accept", "suggestion": "1"}, **HTMX)

    assert response.status_code == 200, response.content.decode()
    assert "Sent to the customer." in response.content.decode()
    offers = CompensationOffer.objects.filter(ticket=ticket).order_by("pk")
    assert [(o.kind, o.percent, o.status) for o in offers] == [
        ("discount_code", Decimal("15.00"), "issued"),
        ("priority_shipping", None, "issued"),
    ]
    assert {o.policy.name for o in offers} == {"Customs hold"}
    assert {o.requested_by_id for o in offers} == {ticket.assignee_id}
    assert "2 compensation offers" in response.content.decode()


def test_above_the_agents_authority_it_waits_for_a_supervisor(agent_client, agent):
    ticket = make_ticket(agent, cause="weather", late=45, order_value="250.00")

    response = agent_client.post(offer_url(ticket), {"action": "accept", "suggestion": "1"}, **HTMX)

    assert "Waiting for a supervisor&#x27;s approval." in response.content.decode()
    offer = CompensationOffer.objects.get(ticket=ticket)
    assert (offer.kind, offer.amount, offer.status) == (
        "full_refund",
        Decimal("250.00"),
        "pending_approval",
    )


def test_editing_a_suggestion_with_a_reason_sends_the_edited_remedy(agent_client, ticket):
    response = agent_client.post(
        offer_url(ticket),
        {
            "action": "edit",
            "suggestion": "1",
            "kind": "coupon",
            "amount": "20.00",
            "reason": "The customer prefers a coupon.",
        },
        **HTMX,
    )

    assert response.status_code == 200, response.content.decode()
    assert "Sent to the customer." in response.content.decode()
    offer = CompensationOffer.objects.get(ticket=ticket)
    assert (offer.kind, offer.amount, offer.currency) == ("coupon", Decimal("20.00"), "EUR")
    assert offer.reason == "The customer prefers a coupon."
    assert offer.policy.name == "Customs hold"


def test_editing_a_suggestion_without_a_reason_is_refused_on_the_reason_field(agent_client, ticket):
    response = agent_client.post(
        offer_url(ticket),
        {"action": "edit", "suggestion": "1", "kind": "discount_code", "percent": "12"},
        **HTMX,
    )

    body = response.content.decode()
    assert response.status_code == 422
    assert response["Delaydesk-Fragment"] == "remedy"
    assert 'data-field-error="reason"' in body
    assert "Say why you changed the suggestion" in body
    assert "<details open>" in body
    assert not CompensationOffer.objects.filter(ticket=ticket).exists()


def test_a_money_remedy_without_an_amount_is_refused_on_the_amount_field(agent_client, ticket):
    response = agent_client.post(
        offer_url(ticket),
        {"action": "edit", "suggestion": "0", "kind": "cash", "reason": "Goodwill"},
        **HTMX,
    )

    assert response.status_code == 422
    assert 'data-field-error="amount"' in response.content.decode()
    assert not CompensationOffer.objects.exists()


def test_a_remedy_of_ones_own_needs_a_reason(agent_client, agent):
    ticket = make_ticket(agent, cause="weather")

    refused = agent_client.post(
        offer_url(ticket), {"action": "edit", "kind": "gift", "suggestion": "0"}, **HTMX
    )
    sent = agent_client.post(
        offer_url(ticket),
        {"action": "edit", "kind": "gift", "suggestion": "0", "reason": "Birthday"},
        **HTMX,
    )

    assert refused.status_code == 422
    assert 'data-field-error="reason"' in refused.content.decode()
    assert sent.status_code == 200
    assert CompensationOffer.objects.get(ticket=ticket).kind == "gift"


def test_an_unknown_suggestion_or_action_is_refused(agent_client, ticket):
    unknown = agent_client.post(offer_url(ticket), {"action": "accept", "suggestion": "7"}, **HTMX)
    bad = agent_client.post(offer_url(ticket), {"action": "steal", "suggestion": "1"}, **HTMX)

    assert unknown.status_code == 422
    assert "This suggestion no longer applies" in unknown.content.decode()
    assert bad.status_code == 422
    assert not CompensationOffer.objects.exists()


def test_without_javascript_the_answer_is_the_panels_page(agent_client, ticket):
    response = agent_client.post(offer_url(ticket), {"action": "accept", "suggestion": "1"})

    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert "Sent to the customer." in response.content.decode()


# ---- Who may send -------------------------------------------------------------------------------


def test_the_form_needs_the_csrf_token(agent):
    ticket = make_ticket(agent)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(offer_url(ticket), {"action": "accept", "suggestion": "1"}, **HTMX)

    assert response.status_code == 403
    assert not CompensationOffer.objects.exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client, ticket):
    response = client.post(offer_url(ticket), {"action": "accept", "suggestion": "1"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_user_without_the_console_role_gets_403(client, ticket):
    client.force_login(factories.UserFactory())

    assert (
        client.post(offer_url(ticket), {"action": "accept", "suggestion": "1"}).status_code == 403
    )


def test_another_teams_ticket_is_404(agent_client, other_agent):
    theirs = make_ticket(other_agent)
    theirs.assignee = None
    theirs.team = other_agent.agent_profile.team
    theirs.save()

    response = agent_client.post(offer_url(theirs), {"action": "accept", "suggestion": "1"})

    assert response.status_code == 404
    assert not CompensationOffer.objects.exists()


def test_it_answers_post_only(agent_client, ticket):
    assert agent_client.get(offer_url(ticket)).status_code == 405


# ---- What it costs ------------------------------------------------------------------------------

# The panel's queries (tests/compensation/test_ticket_panel.py, PANEL_QUERIES): the user's own
# five, the ticket with shipment and customer, the customer's recent tickets, the policies and
# their remedies; whatever the number of policies, remedies and past offers.
PANEL_QUERIES = 9


@pytest.mark.parametrize("n", [2, 20])
def test_the_panel_with_suggestions_costs_a_constant_number_of_queries(
    agent_client, agent, django_assert_max_num_queries, n
):
    ticket = make_ticket(agent, tier="vip", late=40, order_value="400.00")
    for i in range(n):
        policy = CompensationPolicy.objects.create(name=f"Extra {i}", position=200 + i)
        PolicyRemedy.objects.create(policy=policy, kind="coupon", amount=Decimal("5.00"))
        PolicyRemedy.objects.create(policy=policy, kind="gift", choice_group=1)
        PolicyRemedy.objects.create(policy=policy, kind="reship", choice_group=1)
        other = factories.TicketFactory(customer=ticket.customer)
        factories.CompensationOfferFactory(ticket=other)

    with django_assert_max_num_queries(PANEL_QUERIES):
        response = agent_client.get(panel_url(ticket), **HTMX)

    assert len(response.context["suggestions"]) == 3 + n
