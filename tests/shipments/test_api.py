"""The shipments API: list with filters, retrieve with events, create, permissions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.models import Customer
from shipments import serializers
from shipments.models import Lane, Shipment
from tests import factories
from tests.shipments.conftest import NOW

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/shipments/"
DAY = dt.timedelta(days=1)


@pytest.fixture
def api(agent) -> APIClient:
    client = APIClient()
    client.force_login(agent)
    return client


@pytest.fixture
def integration_api(integration_user) -> APIClient:
    token = Token.objects.create(user=integration_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def tracking_numbers(response) -> list[str]:
    return sorted(item["tracking_number"] for item in response.json()["results"])


# --- Permissions -------------------------------------------------------------------------------


def test_anonymous_callers_are_refused(client, carrier):
    assert client.get(LIST_URL).status_code in (401, 403)
    assert client.post(LIST_URL, {}, content_type="application/json").status_code in (401, 403)


def test_a_user_without_the_shipments_permission_is_refused(client, db):
    client.force_login(factories.UserFactory(username="mallory"))

    assert client.get(LIST_URL).status_code == 403
    assert client.get(f"{LIST_URL}ANY/").status_code == 403


def test_an_agent_reads_but_does_not_create(api, carrier):
    assert api.get(LIST_URL).status_code == 200
    assert api.post(LIST_URL, {}, format="json").status_code == 403


def test_an_integration_token_reads_and_creates(integration_api, carrier):
    assert integration_api.get(LIST_URL).status_code == 200
    assert integration_api.post(LIST_URL, {}, format="json").status_code == 400


# --- List and filters --------------------------------------------------------------------------


def test_the_list_shows_a_shipment_with_its_slip(api, carrier):
    shipment = factories.ShipmentFactory(
        carrier=carrier,
        tracking_number="ACME-SLIP",
        promised_at=NOW,
        predicted_eta=NOW + dt.timedelta(hours=60),
    )
    factories.TicketFactory(customer=shipment.customer, shipment=shipment)

    item = api.get(LIST_URL).json()["results"][0]

    assert item["tracking_number"] == "ACME-SLIP"
    assert item["carrier"] == "acme"
    assert item["slip_days"] == 2.5
    assert item["customer"]["name"].startswith("Customer")
    assert item["lane"]["origin_region"] == "CN-GD"
    assert item["incident"] is None


def test_an_agent_sees_only_the_customers_of_tickets_in_their_scope(agent, carrier):
    """The API is no side door to the customers the console keeps from an agent."""
    ours, theirs = factories.TeamFactory(), factories.TeamFactory()
    agent.agent_profile.team = ours
    agent.agent_profile.save()
    in_scope = factories.ShipmentFactory(carrier=carrier, tracking_number="ACME-OURS")
    factories.TicketFactory(customer=in_scope.customer, shipment=in_scope, team=ours)
    other_team = factories.ShipmentFactory(carrier=carrier, tracking_number="ACME-THEIRS")
    factories.TicketFactory(customer=other_team.customer, shipment=other_team, team=theirs)
    factories.ShipmentFactory(carrier=carrier, tracking_number="ACME-NONE")
    client = APIClient()
    client.force_login(agent)

    listed = {
        item["tracking_number"]: item["customer"] for item in client.get(LIST_URL).json()["results"]
    }
    detail = client.get(f"{LIST_URL}ACME-THEIRS/").json()

    assert listed["ACME-OURS"]["name"] == in_scope.customer.name
    assert listed["ACME-THEIRS"] is None
    assert listed["ACME-NONE"] is None
    assert detail["customer"] is None


@pytest.mark.parametrize("reader", ["supervisor", "integration_user"])
def test_supervisors_and_the_merchant_see_every_customer(request, reader, carrier):
    shipment = factories.ShipmentFactory(carrier=carrier, tracking_number="ACME-ANY")
    factories.TicketFactory(customer=shipment.customer, team=factories.TeamFactory())
    client = APIClient()
    client.force_login(request.getfixturevalue(reader))

    item = client.get(LIST_URL).json()["results"][0]

    assert item["customer"]["name"] == shipment.customer.name


@pytest.fixture
def assorted(carrier):
    """Four shipments that differ in one filterable way each."""
    other_carrier = factories.CarrierFactory(code="other")
    incident = factories.IncidentFactory()
    lane = factories.LaneFactory(carrier=carrier)
    return {
        "plain": factories.ShipmentFactory(carrier=carrier, tracking_number="T-PLAIN"),
        "held": factories.ShipmentFactory(
            carrier=carrier,
            tracking_number="T-HELD",
            order_number="ORD-HELD",
            status="exception",
            cause="customs_hold",
            delay_level="red",
            delay_cause="customs_hold",
            delay_detected_at=NOW,
            incident=incident,
            lane=lane,
        ),
        "delivered": factories.ShipmentFactory(
            carrier=carrier, tracking_number="T-DONE", status="delivered", delivered_at=NOW
        ),
        "elsewhere": factories.ShipmentFactory(
            carrier=other_carrier,
            tracking_number="T-OTHER",
            delay_level="yellow",
            delay_detected_at=NOW,
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["T-DONE", "T-HELD", "T-OTHER", "T-PLAIN"]),
        ("status=exception", ["T-HELD"]),
        ("status=exception&status=delivered", ["T-DONE", "T-HELD"]),
        ("delay_level=red", ["T-HELD"]),
        ("delay_level=red&delay_level=yellow", ["T-HELD", "T-OTHER"]),
        ("carrier=other", ["T-OTHER"]),
        ("cause=customs_hold", ["T-HELD"]),
        ("delay_cause=customs_hold", ["T-HELD"]),
        ("search=T-DONE", ["T-DONE"]),
        ("search=ORD-HELD", ["T-HELD"]),
        ("search=T-", []),
    ],
)
def test_the_list_filters(api, assorted, query, expected):
    response = api.get(f"{LIST_URL}?{query}")

    assert response.status_code == 200
    assert tracking_numbers(response) == expected


def test_the_list_filters_by_lane_and_incident(api, assorted):
    held = assorted["held"]

    by_lane = api.get(LIST_URL, {"lane": held.lane_id})
    by_incident = api.get(LIST_URL, {"incident": str(held.incident.public_id)})

    assert tracking_numbers(by_lane) == ["T-HELD"]
    assert tracking_numbers(by_incident) == ["T-HELD"]


def test_an_unknown_filter_value_is_a_field_error(api, carrier):
    response = api.get(LIST_URL, {"status": "lost_in_space"})

    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_the_list_pages_with_a_cursor(api, carrier):
    for n in range(3):
        factories.ShipmentFactory(carrier=carrier, tracking_number=f"PAGE-{n}")

    first = api.get(LIST_URL, {"page_size": 2}).json()
    second = api.get(first["next"]).json()

    assert len(first["results"]) == 2
    assert len(second["results"]) == 1
    assert second["next"] is None


@pytest.mark.parametrize("size", [5, 50])
def test_the_list_costs_the_same_queries_at_any_size(api, carrier, django_assert_num_queries, size):
    incident = factories.IncidentFactory()
    for n in range(size):
        factories.ShipmentFactory(carrier=carrier, incident=incident if n % 2 else None)

    # 1 session, 2 user, 3 the user's permissions, 4 its groups' permissions, 5 the agent's team
    # (their ticket scope), 6 the page of shipments joined with carrier, customer, lane and
    # incident, each with whether a ticket in scope makes its customer visible.
    with django_assert_num_queries(6):
        response = api.get(LIST_URL, {"page_size": 100})

    assert len(response.json()["results"]) == size


# --- Retrieve ----------------------------------------------------------------------------------


def test_a_shipment_comes_with_its_events_oldest_first(api, carrier):
    shipment = factories.ShipmentFactory(carrier=carrier, tracking_number="ACME-EV")
    for event_id, hours_ago in (("late", 1), ("early", 30), ("middle", 5)):
        factories.TrackingEventFactory(
            shipment=shipment,
            carrier_event_id=event_id,
            occurred_at=NOW - dt.timedelta(hours=hours_ago),
        )

    response = api.get(f"{LIST_URL}ACME-EV/")

    assert response.status_code == 200
    assert [item["event_id"] for item in response.json()["events"]] == ["early", "middle", "late"]


def test_an_unknown_tracking_number_is_404(api, carrier):
    assert api.get(f"{LIST_URL}NOPE/").status_code == 404


def test_a_tracking_number_at_two_carriers_needs_the_carrier(api, carrier):
    factories.ShipmentFactory(carrier=carrier, tracking_number="SHARED", order_number="A")
    factories.ShipmentFactory(
        carrier=factories.CarrierFactory(code="beta"), tracking_number="SHARED", order_number="B"
    )

    ambiguous = api.get(f"{LIST_URL}SHARED/")
    chosen = api.get(f"{LIST_URL}SHARED/", {"carrier": "beta"})

    assert ambiguous.status_code == 400
    message = ambiguous.json()["errors"]["carrier"][0]
    assert message.startswith("Tracking number 'SHARED' exists at several")
    assert "acme, beta" in message
    assert chosen.status_code == 200
    assert chosen.json()["order_number"] == "B"


# --- Create ------------------------------------------------------------------------------------


def new_shipment(**changes) -> dict:
    body = {
        "carrier": "acme",
        "tracking_number": "NEW-0001",
        "order_number": "SHOP-9001",
        "customer": {
            "external_ref": "SHOP-C-77",
            "name": "Lena Weber",
            "email": "lena@example.com",
            "phone": "+4915112345678",
            "language": "en",
        },
        "origin_region": "CN-GD",
        "destination_region": "DE-BE",
        "service_level": "express",
        "shipped_at": "2026-11-01T08:00:00+08:00",
        "promised_at": "2026-11-06T18:00:00+01:00",
        "order_value": "129.90",
        "currency": "eur",
    }
    body.update(changes)
    return body


def test_creating_a_shipment_creates_its_customer_and_lane(integration_api, carrier):
    response = integration_api.post(LIST_URL, new_shipment(), format="json")

    assert response.status_code == 201, response.json()
    shipment = Shipment.objects.get(tracking_number="NEW-0001")
    assert response.json()["public_id"] == str(shipment.public_id)
    assert response.json()["events"] == []
    assert shipment.customer.external_ref == "SHOP-C-77"
    assert shipment.customer.email == "lena@example.com"
    assert (shipment.lane.carrier, shipment.lane.origin_region, shipment.lane.service_level) == (
        carrier,
        "CN-GD",
        "express",
    )
    assert shipment.promised_at == dt.datetime(2026, 11, 6, 17, 0, tzinfo=dt.UTC)
    assert (shipment.order_value, shipment.currency) == (Decimal("129.90"), "EUR")
    assert shipment.status == "info_received"


def test_creating_reuses_the_customer_and_the_lane(integration_api, carrier):
    customer = factories.CustomerFactory(external_ref="SHOP-C-77", name="L. Weber", tier="vip")
    lane = factories.LaneFactory(
        carrier=carrier, origin_region="CN-GD", destination_region="DE-BE", service_level="express"
    )

    integration_api.post(LIST_URL, new_shipment(), format="json")

    shipment = Shipment.objects.get(tracking_number="NEW-0001")
    assert (shipment.customer_id, shipment.lane_id) == (customer.pk, lane.pk)
    customer.refresh_from_db()
    assert (customer.name, customer.tier) == ("Lena Weber", "vip")
    assert Customer.objects.count() == 1
    assert Lane.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"carrier": "nobody"}, "carrier", "No active carrier with code 'nobody'."),
        ({"promised_at": "2026-11-06T18:00:00"}, "promised_at", str(serializers.NAIVE_DATETIME)),
        ({"promised_at": None}, "promised_at", "This field may not be null."),
        ({"service_level": "teleport"}, "service_level", '"teleport" is not a valid choice.'),
        ({"order_value": "-1"}, "order_value", "greater than or equal to 0"),
        ({"currency": "EURO"}, "currency", "does not match"),
        ({"customer": {"external_ref": "X"}}, "customer", "name"),
    ],
    ids=["carrier", "naive", "no-promise", "service-level", "negative", "currency", "customer"],
)
def test_creating_with_bad_input_answers_field_errors(
    integration_api, carrier, changes, field, message
):
    response = integration_api.post(LIST_URL, new_shipment(**changes), format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    # Nested fields are keyed by their dotted path (customer.name).
    assert message in str({key: value for key, value in errors.items() if key.startswith(field)})
    assert not Shipment.objects.exists()


def test_creating_a_tracking_number_twice_is_a_field_error(integration_api, carrier):
    integration_api.post(LIST_URL, new_shipment(), format="json")

    response = integration_api.post(LIST_URL, new_shipment(order_number="X"), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "tracking_number": [str(serializers.TRACKING_NUMBER_TAKEN)]
    }
    assert Shipment.objects.count() == 1


def test_creating_stores_the_destination_postal_code(integration_api, carrier):
    body = new_shipment(destination_postal_code="  SW1A 1AA ")

    response = integration_api.post(LIST_URL, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["destination_postal_code"] == "SW1A 1AA"
    assert Shipment.objects.get().destination_postal_code == "SW1A 1AA"
    listed = integration_api.get(LIST_URL).json()["results"]
    assert [item["destination_postal_code"] for item in listed] == ["SW1A 1AA"]


def test_the_destination_postal_code_is_optional(integration_api, carrier):
    body = new_shipment()
    assert "destination_postal_code" not in body

    response = integration_api.post(LIST_URL, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["destination_postal_code"] == ""
    assert Shipment.objects.get().destination_postal_code == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10115; DROP", str(serializers.POSTAL_CODE_INVALID)),
        ("10115\t99", str(serializers.POSTAL_CODE_INVALID)),
        ("１０１１５", str(serializers.POSTAL_CODE_INVALID)),  # full-width digits
        ("1" * 17, "Ensure this field has no more than 16 characters."),
    ],
    ids=["punctuation", "tab", "full-width", "too-long"],
)
def test_a_bad_destination_postal_code_is_a_field_error(integration_api, carrier, value, message):
    body = new_shipment(destination_postal_code=value)

    response = integration_api.post(LIST_URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"destination_postal_code": [message]}
    assert not Shipment.objects.exists()
    assert not Customer.objects.exists()


# --- Schema ------------------------------------------------------------------------------------


def test_the_schema_describes_every_shipments_endpoint(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    assert {"/api/v1/tracking-events/", "/api/v1/shipments/"} <= schema["paths"].keys()
    assert "/api/v1/shipments/{tracking_number}/" in schema["paths"]
    webhook = schema["paths"]["/api/v1/tracking-events/"]["post"]
    assert {p["name"] for p in webhook["parameters"]} == {"X-Signature", "X-Timestamp"}
    assert {"202", "400", "401", "413"} <= set(webhook["responses"])
    answer = schema["components"]["schemas"]["IngestResult"]
    assert answer["properties"]["unmapped_status_codes"]["additionalProperties"] == {
        "type": "integer"
    }
    assert "unmapped_status_codes" in answer["required"]
