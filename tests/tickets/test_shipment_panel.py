"""The shipment page's tickets panel (tickets.panels): the tickets about a shipment that the
reader may open, served by the tickets app and put into the shipment page's slot."""

import pytest
from django.contrib.auth.models import Group

from core import panels
from core.roles import INTEGRATION
from tests import factories

pytestmark = pytest.mark.django_db


def panel_url(shipment) -> str:
    return f"/console/shipments/{shipment.public_id}/tickets/"


@pytest.fixture
def team_a(agent):
    team = factories.TeamFactory()
    agent.agent_profile.team = team
    agent.agent_profile.save()
    return team


@pytest.fixture
def shipment(db):
    return factories.ShipmentFactory(tracking_number="PANEL0001")


def test_it_is_registered_in_the_shipment_pages_slot():
    slot = panels.panels("shipment.main")
    (panel,) = [p for p in slot if p.url_name == "tickets:shipment_tickets"]
    assert str(panel.title) == "Tickets"


def test_anonymous_visitors_are_sent_to_log_in(client, shipment):
    response = client.get(panel_url(shipment))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", ["staff", "operator", "integration"])
def test_a_user_who_may_not_read_the_console_gets_403(client, shipment, role):
    user = {
        "staff": lambda: factories.UserFactory(is_staff=True),
        "operator": factories.OperatorFactory,
        "integration": factories.UserFactory,
    }[role]()
    if role == "integration":
        user.groups.add(Group.objects.get(name=INTEGRATION))
    client.force_login(user)
    assert client.get(panel_url(shipment)).status_code == 403


def test_an_unknown_shipment_is_404(agent_client):
    assert (
        agent_client.get(
            "/console/shipments/00000000-0000-4000-8000-000000000000/tickets/"
        ).status_code
        == 404
    )


def test_it_refuses_writes(agent_client, shipment):
    assert agent_client.post(panel_url(shipment)).status_code == 405


def test_an_agent_sees_only_the_tickets_in_their_scope(agent_client, agent, team_a, shipment):
    mine = factories.TicketFactory(
        shipment=shipment, customer=shipment.customer, team=team_a, subject="Our ticket"
    )
    unrouted = factories.TicketFactory(
        shipment=shipment, customer=shipment.customer, team=None, subject="Unrouted ticket"
    )
    theirs = factories.TicketFactory(
        shipment=shipment,
        customer=shipment.customer,
        team=factories.TeamFactory(),
        subject="Their ticket",
    )
    assigned = factories.TicketFactory(
        shipment=shipment,
        customer=shipment.customer,
        team=factories.TeamFactory(),
        assignee=agent,
        subject="Handed to me",
    )
    factories.TicketFactory(team=team_a, subject="About another shipment")

    html = agent_client.get(panel_url(shipment), HTTP_HX_REQUEST="true").content.decode()

    for ticket in (mine, unrouted, assigned):
        assert ticket.subject in html and str(ticket.public_id) in html
    assert "Their ticket" not in html and str(theirs.public_id) not in html
    assert "About another shipment" not in html


def test_an_agent_outside_every_tickets_scope_gets_the_empty_state(agent_client, team_a, shipment):
    factories.TicketFactory(
        shipment=shipment, customer=shipment.customer, team=factories.TeamFactory()
    )

    html = agent_client.get(panel_url(shipment), HTTP_HX_REQUEST="true").content.decode()

    assert "data-shipment-tickets-empty" in html
    assert "No ticket about this shipment in your queues." in html
    assert "/console/tickets/" not in html


def test_a_supervisor_sees_every_ticket(supervisor_client, shipment):
    tickets = [
        factories.TicketFactory(shipment=shipment, team=factories.TeamFactory(), subject=f"T{n}")
        for n in range(2)
    ]
    html = supervisor_client.get(panel_url(shipment), HTTP_HX_REQUEST="true").content.decode()
    assert all(str(ticket.public_id) in html for ticket in tickets)


def test_htmx_gets_a_fragment_and_a_plain_get_a_small_page(agent_client, team_a, shipment):
    factories.TicketFactory(shipment=shipment, team=team_a, subject="Our ticket")

    fragment = agent_client.get(panel_url(shipment), HTTP_HX_REQUEST="true")
    page = agent_client.get(panel_url(shipment))

    assert "<html" not in fragment.content.decode()
    assert "Our ticket" in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"] and "HX-Request" in page["Vary"]
    html = page.content.decode()
    assert "<html" in html and "Our ticket" in html
    assert f'href="/console/shipments/{shipment.public_id}/"' in html  # back to the shipment
    assert "PANEL0001" in html


def test_a_history_restore_gets_the_whole_page(agent_client, team_a, shipment):
    response = agent_client.get(
        panel_url(shipment), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_it_reads_in_chinese(agent_client, team_a, shipment):
    agent_client.cookies["django_language"] = "zh-hans"
    html = agent_client.get(
        panel_url(shipment), HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "工单" in html


@pytest.mark.parametrize("count", [1, 8])
def test_the_query_count_does_not_grow_with_tickets(
    agent_client, team_a, shipment, django_assert_num_queries, count
):
    for _ in range(count):
        factories.TicketFactory(shipment=shipment, team=team_a, assignee=factories.AgentFactory())
    # session, user, user and group permissions (role check), the shipment, the agent's team
    # (ticket scope), the tickets in scope with their assignees
    with django_assert_num_queries(7):
        response = agent_client.get(panel_url(shipment), HTTP_HX_REQUEST="true")
    assert response.content.decode().count("/console/tickets/") == count
