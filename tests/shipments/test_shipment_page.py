"""The shipment page: scans, promise vs prediction, the rule that fired, lane, incident; its
tickets are the tickets app's panel (its own URL, loaded by htmx into the page's slot)."""

import datetime as dt

import pytest
from django.utils import timezone

from shipments.models import DelayLevelChange
from tests import factories

pytestmark = pytest.mark.django_db


def page_url(shipment) -> str:
    return f"/console/shipments/{shipment.public_id}/"


def panel_url(shipment) -> str:
    """The tickets about the shipment: the tickets app's panel on the shipment page."""
    return f"/console/shipments/{shipment.public_id}/tickets/"


def delayed_shipment(events: int = 3, tickets: int = 1, changes: int = 1):
    now = timezone.now()
    incident = factories.IncidentFactory(
        title="Customs hold at Paris CDG", public_explanation="French customs inspect parcels."
    )
    shipment = factories.ShipmentFactory(
        delay_level="red",
        delay_cause="customs_hold",
        delay_rule="red",
        delay_detected_at=now - dt.timedelta(hours=2),
        cause="customs_hold",
        promised_at=now - dt.timedelta(days=1),
        predicted_eta=now + dt.timedelta(days=8),
        incident=incident,
    )
    for n in range(events):
        factories.TrackingEventFactory(
            shipment=shipment,
            occurred_at=now - dt.timedelta(hours=n + 1),
            location=f"Hub {n}",
            description=f"Scan number {n}",
        )
    for _ in range(tickets):
        factories.TicketFactory(shipment=shipment, customer=shipment.customer)
    levels = ["none", "yellow", "orange", "red"]
    for n in range(changes):
        DelayLevelChange.objects.create(
            shipment=shipment,
            from_level=levels[n % 3],
            to_level=levels[n % 3 + 1],
            cause="customs_hold",
            rule_key="red",
            changed_at=now - dt.timedelta(hours=n),
        )
    return shipment


def test_anonymous_visitors_are_sent_to_log_in(client):
    shipment = factories.ShipmentFactory()
    response = client.get(page_url(shipment))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_staff_user_without_the_console_role_gets_403(client):
    client.force_login(factories.UserFactory(is_staff=True))
    assert client.get(page_url(factories.ShipmentFactory())).status_code == 403


def test_an_unknown_shipment_is_404(agent_client):
    assert (
        agent_client.get("/console/shipments/00000000-0000-4000-8000-000000000000/").status_code
        == 404
    )


def test_the_page_refuses_writes(agent_client):
    assert agent_client.post(page_url(factories.ShipmentFactory())).status_code == 405


def test_it_shows_scans_dates_the_rule_that_fired_the_lane_and_the_incident(agent_client):
    shipment = delayed_shipment()
    html = agent_client.get(page_url(shipment)).content.decode()
    assert shipment.tracking_number in html
    assert "Scan number 0" in html and "Hub 2" in html
    assert "Predicted delivery more than 7 days after the promise" in html  # the red rule
    assert "9.0 days late" in html  # promised yesterday, predicted in 8 days
    assert "Customs hold at Paris CDG" in html
    assert "French customs inspect parcels." in html
    assert "120.0 h" in html  # the lane's mean transit time from the factory
    assert "Level history" in html


def test_an_on_time_shipment_says_no_rule_fires(agent_client):
    html = agent_client.get(page_url(factories.ShipmentFactory())).content.decode()
    assert "No delay rule fires for this shipment." in html
    assert "This shipment is not part of an incident." in html


def test_it_reads_in_chinese(agent_client):
    shipment = delayed_shipment()
    agent_client.cookies["django_language"] = "zh-hans"
    html = agent_client.get(page_url(shipment), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'lang="zh-hans"' in html


def test_the_ticket_page_links_to_the_shipment_page(agent_client):
    ticket = factories.TicketFactory()
    html = agent_client.get(f"/console/tickets/{ticket.public_id}/").content.decode()
    assert page_url(ticket.shipment) in html


def test_the_page_loads_its_tickets_panel_from_the_tickets_app(agent_client):
    shipment = delayed_shipment()
    html = agent_client.get(page_url(shipment)).content.decode()
    assert f'hx-get="{panel_url(shipment)}"' in html
    assert f'href="{panel_url(shipment)}"' in html  # without JavaScript, a link to the same


def test_the_query_count_does_not_grow_with_scans_tickets_or_history(
    agent_client, django_assert_num_queries
):
    small = delayed_shipment(events=2, tickets=1, changes=1)
    large = delayed_shipment(events=25, tickets=6, changes=3)
    # session, user, user and group permissions (role check), the agent's team (ticket scope
    # for the customer), shipment joined with carrier/lane/customer/incident and whether the
    # customer is visible, events, level changes, the rule (tickets: the panel's own queries)
    with django_assert_num_queries(9):
        assert agent_client.get(page_url(small)).status_code == 200
    with django_assert_num_queries(9):
        assert agent_client.get(page_url(large)).status_code == 200
    # session, user, user and group permissions (role check), the shipment, the agent's team
    # (ticket scope), the tickets in scope with their assignees
    with django_assert_num_queries(7):
        assert agent_client.get(panel_url(small), HTTP_HX_REQUEST="true").status_code == 200
    with django_assert_num_queries(7):
        response = agent_client.get(panel_url(large), HTTP_HX_REQUEST="true")
    assert response.content.decode().count("/console/tickets/") == 6


# --- What the page shows of tickets follows the console's team scope (issue 11) -------------


def test_it_lists_only_the_tickets_the_agent_may_open_and_hides_a_stranger_customer(
    agent_client, agent
):
    shipment = factories.ShipmentFactory(customer=factories.CustomerFactory(name="Hidden Hilda"))
    other_team = factories.TeamFactory()
    theirs = factories.TicketFactory(
        shipment=shipment, customer=shipment.customer, team=other_team, subject="Their ticket"
    )

    html = agent_client.get(page_url(shipment)).content.decode()
    panel = agent_client.get(panel_url(shipment)).content.decode()

    assert "Their ticket" not in html + panel
    assert str(theirs.public_id) not in html + panel
    assert "Hidden Hilda" not in html + panel
    assert "No ticket about this shipment in your queues." in panel


def test_it_shows_the_agents_own_team_ticket_and_then_the_customer(agent_client, agent):
    shipment = factories.ShipmentFactory(customer=factories.CustomerFactory(name="Known Karl"))
    factories.TicketFactory(
        shipment=shipment,
        customer=shipment.customer,
        team=factories.TeamFactory(),
        subject="Other team ticket",
    )
    mine = factories.TicketFactory(
        shipment=shipment,
        customer=shipment.customer,
        team=agent.agent_profile.team,
        subject="Our ticket",
    )

    html = agent_client.get(page_url(shipment)).content.decode()
    panel = agent_client.get(panel_url(shipment)).content.decode()

    assert "Our ticket" in panel and str(mine.public_id) in panel
    assert "Other team ticket" not in html + panel
    assert "Known Karl" in html


def test_a_supervisor_sees_every_ticket_and_the_customer(supervisor_client):
    shipment = factories.ShipmentFactory(customer=factories.CustomerFactory(name="Known Karl"))
    factories.TicketFactory(
        shipment=shipment, customer=shipment.customer, team=factories.TeamFactory(), subject="T1"
    )

    html = supervisor_client.get(page_url(shipment)).content.decode()
    panel = supervisor_client.get(panel_url(shipment)).content.decode()

    assert "T1" in panel
    assert "Known Karl" in html
