"""The ticket page's remedy panel (compensation.panels) and what compensation registers for the
apps below it in its AppConfig.ready()."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from compensation import texts
from core import panels
from tests import factories
from tickets import macros, selectors
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def panel_url(ticket: Ticket) -> str:
    return reverse("compensation:ticket_panel", args=[ticket.public_id])


@pytest.fixture
def ticket(agent):
    return factories.TicketFactory(assignee=agent)


@pytest.fixture
def theirs(other_agent):
    """A ticket of Bob's team, not assigned to Alice: outside her scope."""
    return factories.TicketFactory(team=other_agent.agent_profile.team)


# ---- What it shows ------------------------------------------------------------------------------


def test_the_panel_lists_past_remedies_with_their_tickets(agent_client, agent):
    customer = factories.CustomerFactory()
    ticket = factories.TicketFactory(customer=customer, assignee=agent)
    older = factories.TicketFactory(customer=customer, subject="Broken cup")
    factories.CompensationOfferFactory(ticket=older, kind="coupon", amount="10.00")
    factories.CompensationOfferFactory(ticket=older, kind="full_refund", amount="49.90")
    factories.CompensationOfferFactory(
        ticket=ticket, kind="discount_code", amount=None, percent="15"
    )

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "3 compensation offers" in body
    assert "Percentage discount code · 15%" in body
    assert f"#{older.pk}</a>: Full refund · 49.90 EUR" in body
    assert "and 1 more remedy" in body
    assert "data-remedies-empty" not in body


def test_the_panel_shows_this_tickets_latest_remedy_and_its_status(agent_client, ticket):
    factories.CompensationOfferFactory(ticket=ticket, kind="coupon", amount="5.00")
    factories.CompensationOfferFactory(
        ticket=ticket, kind="partial_refund", amount="20.00", status="pending_approval"
    )

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "This ticket" in body
    assert "Partial refund · 20.00 EUR" in body
    assert 'class="badge offer-pending_approval">Waiting for approval' in body


def test_an_empty_panel_says_what_will_appear(agent_client, ticket):
    factories.TicketFactory(customer=ticket.customer)  # another ticket, without a remedy

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "0 compensation offers" in body
    assert "data-remedies-empty" in body
    assert "No remedy has been offered to this customer yet." in body
    assert "appear here, with their status" in body
    assert "data-remedies>" not in body


def test_offers_on_older_tickets_only_are_counted_and_said_to_be_there(agent_client, ticket):
    tickets = [factories.TicketFactory(customer=ticket.customer) for _ in range(6)]
    oldest = min(tickets, key=lambda t: (t.created_at, t.pk))
    Ticket.objects.filter(pk=oldest.pk).update(created_at=ticket.created_at.replace(year=2000))
    factories.CompensationOfferFactory(ticket=oldest)

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "1 compensation offer" in body
    assert "data-remedies-older" in body
    assert "data-remedies-empty" not in body


def test_the_htmx_panel_is_a_fragment_and_the_plain_request_a_page(agent_client, ticket):
    factories.CompensationOfferFactory(ticket=ticket)

    fragment = agent_client.get(panel_url(ticket), **HTMX)
    page = agent_client.get(panel_url(ticket))

    assert fragment.content.decode().lstrip().startswith('<h2 id="remedy-title">')
    assert "<html" not in fragment.content.decode()
    assert "<html" in page.content.decode()
    assert "data-remedy-panel" in page.content.decode()
    assert reverse("tickets:ticket_detail", args=[ticket.public_id]) in page.content.decode()
    assert "Partial refund" in page.content.decode()
    assert "HX-Request" in fragment["Vary"]


def test_the_ticket_page_loads_the_panel_lazily_with_a_link_for_no_javascript(agent_client, ticket):
    body = agent_client.get(reverse("tickets:ticket_detail", args=[ticket.public_id]))
    body = body.content.decode()

    assert f'hx-get="{panel_url(ticket)}" hx-trigger="load"' in body
    assert f'href="{panel_url(ticket)}"' in body
    assert "Show the remedies offered to this customer" in body
    # The remedies are no longer part of the ticket page itself.
    assert "compensation offer" not in body


# ---- Who may read it ----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client, ticket):
    response = client.get(panel_url(ticket), **HTMX)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_a_user_without_the_console_role_gets_403(client, ticket):
    client.force_login(factories.UserFactory())

    assert client.get(panel_url(ticket)).status_code == 403


def test_an_operator_gets_403(client, ticket):
    client.force_login(factories.OperatorFactory())

    assert client.get(panel_url(ticket), **HTMX).status_code == 403


def test_another_teams_ticket_is_404_for_an_agent(agent_client, theirs):
    factories.CompensationOfferFactory(ticket=theirs)

    assert agent_client.get(panel_url(theirs), **HTMX).status_code == 404
    assert agent_client.get(panel_url(theirs)).status_code == 404


def test_a_supervisor_reads_every_tickets_panel(supervisor_client, theirs):
    factories.CompensationOfferFactory(ticket=theirs)

    response = supervisor_client.get(panel_url(theirs), **HTMX)

    assert response.status_code == 200
    assert "1 compensation offer" in response.content.decode()


def test_an_unknown_ticket_is_404(supervisor_client):
    assert supervisor_client.get(panel_url(Ticket(public_id=uuid.uuid4()))).status_code == 404


def test_it_answers_get_only(agent_client, ticket):
    assert agent_client.post(panel_url(ticket)).status_code == 405


# ---- What it costs ------------------------------------------------------------------------------

# The panel costs a fixed number of queries, however many tickets and offers the customer has:
#  1. session  2. user  3. user permissions  4. group permissions
#  5. the agent's team (Ticket.objects.visible_to)
#  6. the ticket with its shipment and customer, the customer's offer count as a subquery
#  7. the customer's recent tickets (this one and five others), each with its latest remedy
#     and remedy count as subqueries
#  8. the active compensation policies  9. their remedies (the suggestions, test_policies*.py)
PANEL_QUERIES = 9


def add_history(ticket: Ticket, n: int) -> None:
    for _ in range(n):
        other = factories.TicketFactory(customer=ticket.customer)
        factories.CompensationOfferFactory(ticket=other)
        factories.CompensationOfferFactory(ticket=other, kind="coupon", amount="5.00")
        factories.CompensationOfferFactory(ticket=ticket)


@pytest.mark.parametrize("n", [2, 20])
def test_the_panel_runs_a_constant_number_of_queries(
    agent_client, ticket, django_assert_max_num_queries, n
):
    add_history(ticket, n)

    with django_assert_max_num_queries(PANEL_QUERIES):
        response = agent_client.get(panel_url(ticket), **HTMX)

    remedies = response.context["remedies"]
    assert remedies.customer_offer_count == 3 * n
    assert remedies.this_offer.count == n
    assert len(remedies.past_offers) == min(n, selectors.PROFILE_LIST_LIMIT)


@pytest.mark.parametrize("n", [2, 20])
def test_a_supervisors_panel_needs_no_team_lookup(
    supervisor_client, ticket, django_assert_max_num_queries, n
):
    add_history(ticket, n)

    with django_assert_max_num_queries(PANEL_QUERIES - 1):
        response = supervisor_client.get(panel_url(ticket), **HTMX)

    assert response.status_code == 200


# ---- What compensation registers for the apps below it -----------------------------------------


def test_the_panel_is_in_the_ticket_pages_sidebar_slot():
    (panel,) = [p for p in panels.panels("ticket.sidebar") if p.marker == "remedy-panel"]

    assert panel.url_name == "compensation:ticket_panel"
    assert panel.order == 20
    assert str(panel.title) == "Compensation"


def test_compensation_fills_the_compensation_placeholder_and_names_remedies_in_the_timeline():
    assert macros._providers["compensation"] is texts.ticket_compensation
    assert selectors._remedy_label is texts.remedy_kind_label
    assert texts.remedy_kind_label("partial_refund") == "Partial refund"
    assert texts.remedy_kind_label("no_such_kind") == "no_such_kind"
    assert texts.remedy_kind_label("") == ""
