"""shipments.scope: who may see a shipment's customer, granted by the apps above shipments.

The tickets app grants an agent the customers with a ticket in their scope (tickets.panels);
with no grant registered the rule is safe: agents see no customer, while supervisors,
superusers and the merchant's systems still see every one."""

import pytest
from django.db.models import Q, Value
from rest_framework.test import APIClient

from shipments import scope
from shipments.models import Shipment
from tests import factories
from tickets.panels import customers_with_tickets_in_scope

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/shipments/"


@pytest.fixture
def no_grants(monkeypatch):
    """As if no app above shipments had registered a customer grant."""
    monkeypatch.setattr(scope, "_scopes", [])


@pytest.fixture
def ours(agent):
    """A shipment whose customer has a ticket in the agent's own team."""
    team = factories.TeamFactory()
    agent.agent_profile.team = team
    agent.agent_profile.save()
    shipment = factories.ShipmentFactory(
        tracking_number="SCOPE-OURS", customer=factories.CustomerFactory(name="Known Karl")
    )
    factories.TicketFactory(shipment=shipment, customer=shipment.customer, team=team)
    return shipment


def api_customer(user, shipment):
    client = APIClient()
    client.force_login(user)
    return client.get(f"{LIST_URL}{shipment.tracking_number}/").json()["customer"]


def test_the_tickets_app_registers_its_grant():
    assert customers_with_tickets_in_scope in scope.registered_customer_scopes()


def test_with_the_grant_an_agent_sees_the_customer_of_a_ticket_in_scope(agent, ours):
    assert api_customer(agent, ours)["name"] == "Known Karl"


def test_with_no_grant_registered_an_agent_sees_no_customer(no_grants, agent, ours, client):
    assert api_customer(agent, ours) is None
    client.force_login(agent)
    html = client.get(f"/console/shipments/{ours.public_id}/").content.decode()
    assert "Known Karl" not in html
    assert not Shipment.objects.annotate(visible=scope.customer_visible(agent)).get().visible


@pytest.mark.parametrize("reader", ["supervisor", "integration_user"])
def test_with_no_grant_registered_those_who_see_everyone_still_do(no_grants, request, reader, ours):
    assert api_customer(request.getfixturevalue(reader), ours)["name"] == "Known Karl"


def test_a_superuser_sees_every_customer_with_no_grant(no_grants, ours):
    root = factories.UserFactory(is_staff=True, is_superuser=True)
    assert scope.sees_every_customer(root)
    assert api_customer(root, ours)["name"] == "Known Karl"


def test_a_ticket_of_the_customer_about_another_shipment_is_enough(agent, client):
    """The customer page's rule: the customer, not this shipment, has a ticket in scope."""
    team = factories.TeamFactory()
    agent.agent_profile.team = team
    agent.agent_profile.save()
    customer = factories.CustomerFactory(name="Returning Rosa")
    shipment = factories.ShipmentFactory(customer=customer)
    factories.TicketFactory(customer=customer, team=team)  # about another shipment
    client.force_login(agent)

    html = client.get(f"/console/shipments/{shipment.public_id}/").content.decode()
    assert "Returning Rosa" in html
    assert api_customer(agent, shipment)["name"] == "Returning Rosa"


def test_grants_are_or_ed_and_may_be_q_objects(monkeypatch, agent):
    shipments = factories.ShipmentFactory.create_batch(3)
    first, second = shipments[0].customer_id, shipments[1].customer_id
    monkeypatch.setattr(scope, "_scopes", [])
    scope.register_customer_scope(lambda user, customer_id: Value(False))
    scope.register_customer_scope(lambda user, customer_id: Q(customer_id__in=[first, second]))

    visible = dict(
        Shipment.objects.annotate(visible=scope.customer_visible(agent)).values_list(
            "customer_id", "visible"
        )
    )

    assert visible == {first: True, second: True, shipments[2].customer_id: False}


def test_registering_twice_is_one_grant(monkeypatch):
    monkeypatch.setattr(scope, "_scopes", [])

    def grant(user, customer_id):
        return Value(True)

    scope.register_customer_scope(grant)
    scope.register_customer_scope(grant)

    assert scope.registered_customer_scopes() == [grant]
