"""The tickets API: scope and roles, list filters and paging, open (idempotent), change with the
optimistic lock, messages, and the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.roles import INTEGRATION
from tests import factories
from tickets import serializers, services
from tickets.models import Message, SLATimer, Ticket, TicketEvent

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/tickets/"


def detail_url(ticket: Ticket) -> str:
    return f"{LIST_URL}{ticket.public_id}/"


def messages_url(ticket: Ticket) -> str:
    return f"{LIST_URL}{ticket.public_id}/messages/"


def subjects(response) -> list[str]:
    return [item["subject"] for item in response.json()["results"]]


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def integration_user(db):
    """A merchant's system: not staff, in the `integration` group."""
    user = factories.UserFactory(username="shop-integration")
    user.groups.add(Group.objects.get(name=INTEGRATION))
    return user


@pytest.fixture
def agent_api(agent) -> APIClient:
    return session_client(agent)


@pytest.fixture
def supervisor_api(supervisor) -> APIClient:
    return session_client(supervisor)


@pytest.fixture
def integration_api(integration_user) -> APIClient:
    return token_client(integration_user)


def other_teams_ticket(other_agent, **fields) -> Ticket:
    """A ticket of Bob's team, outside Alice's console scope."""
    return factories.TicketFactory(team=other_agent.agent_profile.team, **fields)


# --- Who may do what ---------------------------------------------------------------------------


def test_anonymous_callers_get_401(db):
    ticket = factories.TicketFactory()
    client = APIClient()

    assert client.get(LIST_URL).status_code == 401
    assert client.get(detail_url(ticket)).status_code == 401
    assert client.post(LIST_URL, {}, format="json").status_code == 401
    assert client.patch(detail_url(ticket), {}, format="json").status_code == 401
    assert client.get(messages_url(ticket)).status_code == 401


def test_a_user_without_ticket_permissions_is_refused(db):
    ticket = factories.TicketFactory()
    client = session_client(factories.UserFactory(username="mallory"))

    assert client.get(LIST_URL).status_code == 403
    assert client.get(detail_url(ticket)).status_code == 403
    assert client.post(LIST_URL, {}, format="json").status_code == 403
    assert client.post(messages_url(ticket), {"body": "Hi"}, format="json").status_code == 403


def test_an_integration_user_reads_but_does_not_change_tickets(integration_api):
    ticket = factories.TicketFactory()

    assert integration_api.get(LIST_URL).status_code == 200
    assert integration_api.get(detail_url(ticket)).status_code == 200
    response = integration_api.patch(
        detail_url(ticket), {"version": 1, "status": "pending"}, format="json"
    )
    assert response.status_code == 403


def test_a_ticket_outside_the_agents_scope_is_404(agent_api, other_agent):
    ticket = other_teams_ticket(other_agent)

    assert agent_api.get(detail_url(ticket)).status_code == 404
    assert agent_api.get(messages_url(ticket)).status_code == 404
    patch = agent_api.patch(detail_url(ticket), {"version": 1, "status": "pending"}, format="json")
    assert patch.status_code == 404
    reply = agent_api.post(messages_url(ticket), {"body": "Hello"}, format="json")
    assert reply.status_code == 404
    assert not Message.objects.exists()


def test_an_unknown_or_malformed_ticket_id_is_404(agent_api):
    assert agent_api.get(f"{LIST_URL}{uuid.uuid4()}/").status_code == 404
    assert agent_api.get(f"{LIST_URL}123/").status_code == 404


def test_a_wrong_method_is_405(agent_api):
    ticket = factories.TicketFactory()

    assert agent_api.put(detail_url(ticket), {}, format="json").status_code == 405
    assert agent_api.delete(detail_url(ticket)).status_code == 405


# --- List --------------------------------------------------------------------------------------


def test_the_list_shows_a_ticket_with_customer_shipment_team_and_timers(agent_api, agent):
    incident = factories.IncidentFactory()
    ticket = factories.TicketFactory(
        subject="Stuck in customs",
        customer=factories.CustomerFactory(external_ref="SHOP-C-1", name="Lena", tier="vip"),
        shipment__carrier=factories.CarrierFactory(code="acme"),
        shipment__tracking_number="ACME-1",
        shipment__order_number="ORD-1",
        incident=incident,
        team=agent.agent_profile.team,
        assignee=agent,
        priority="high",
    )
    due = timezone.now() + dt.timedelta(hours=1)
    factories.SLATimerFactory(ticket=ticket, kind="first_response", due_at=due)

    response = agent_api.get(LIST_URL)

    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["id"] == str(ticket.public_id)
    assert item["reference"] == f"#{ticket.pk}"
    assert item["customer"] == {"external_ref": "SHOP-C-1", "name": "Lena", "tier": "vip"}
    assert item["shipment"] == {
        "tracking_number": "ACME-1",
        "order_number": "ORD-1",
        "carrier": "acme",
    }
    assert item["incident"] == str(incident.public_id)
    assert item["team"] == agent.agent_profile.team.slug
    assert item["assignee"] == "alice"
    assert (item["status"], item["priority"], item["version"]) == ("open", "high", 1)
    assert item["sla"] == [
        {
            "kind": "first_response",
            "name": "",
            "status": "active",
            "due_at": due.isoformat().replace("+00:00", "Z"),
            "met_at": None,
            "minutes_early": None,
        }
    ]
    assert "timeline" not in item


def test_a_ticket_without_shipment_team_or_assignee_shows_nulls(agent_api):
    factories.TicketFactory(shipment=None)

    (item,) = agent_api.get(LIST_URL).json()["results"]

    assert (item["shipment"], item["incident"], item["team"], item["assignee"]) == (
        None,
        None,
        None,
        None,
    )


@pytest.fixture
def scoped(agent, other_agent):
    return {
        "own team": factories.TicketFactory(subject="Own team", team=agent.agent_profile.team),
        "no team": factories.TicketFactory(subject="No team"),
        "other team": other_teams_ticket(other_agent, subject="Other team"),
        "other team, mine": other_teams_ticket(
            other_agent, subject="Other team, assigned to me", assignee=agent
        ),
    }


def test_an_agent_lists_the_tickets_of_their_console_scope(agent_api, scoped):
    assert sorted(subjects(agent_api.get(LIST_URL))) == [
        "No team",
        "Other team, assigned to me",
        "Own team",
    ]


def test_supervisors_and_integration_users_list_every_ticket(
    supervisor_api, integration_api, scoped
):
    assert len(subjects(supervisor_api.get(LIST_URL))) == 4
    assert len(subjects(integration_api.get(LIST_URL))) == 4


def test_the_list_puts_the_most_pressing_first_then_the_oldest(agent_api):
    now = timezone.now()
    for subject, priority, hours_ago in (
        ("normal, old", "normal", 5),
        ("urgent, new", "urgent", 1),
        ("low, oldest", "low", 9),
        ("normal, new", "normal", 1),
        ("high", "high", 2),
    ):
        ticket = factories.TicketFactory(subject=subject, priority=priority)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=now - dt.timedelta(hours=hours_ago))

    assert subjects(agent_api.get(LIST_URL)) == [
        "urgent, new",
        "high",
        "normal, old",
        "normal, new",
        "low, oldest",
    ]


@pytest.fixture
def assorted(agent, other_agent):
    """Tickets that differ in one filterable way each."""
    incident = factories.IncidentFactory()
    earlier = timezone.now() - dt.timedelta(days=2)
    tickets = {
        "plain": factories.TicketFactory(subject="Plain"),
        "pending": factories.TicketFactory(subject="Pending", status="pending"),
        "urgent lost": factories.TicketFactory(
            subject="Urgent lost", priority="urgent", category="lost"
        ),
        "from api": factories.TicketFactory(subject="From the API", source="api"),
        "mine": factories.TicketFactory(subject="Mine", assignee=agent),
        "mine solved": factories.TicketFactory(
            subject="Mine, solved", assignee=agent, status="solved", solved_at=timezone.now()
        ),
        "bob's": factories.TicketFactory(subject="Bob's", assignee=other_agent),
        "incident": factories.TicketFactory(subject="In an incident", incident=incident),
        "customs": factories.TicketFactory(subject="Customs", shipment__order_number="ORD-CUSTOMS"),
    }
    Ticket.objects.exclude(subject="Customs").update(updated_at=earlier)
    return tickets


ALL_ASSORTED = [
    "Bob's",
    "Customs",
    "From the API",
    "In an incident",
    "Mine",
    "Mine, solved",
    "Pending",
    "Plain",
    "Urgent lost",
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ALL_ASSORTED),
        ({"status": "pending"}, ["Pending"]),
        ({"status": ["pending", "solved"]}, ["Mine, solved", "Pending"]),
        ({"priority": "urgent"}, ["Urgent lost"]),
        ({"category": "lost"}, ["Urgent lost"]),
        ({"source": "api"}, ["From the API"]),
        ({"assignee": "me"}, ["Mine", "Mine, solved"]),
        ({"assignee": "bob"}, ["Bob's"]),
        ({"queue": "mine"}, ["Mine"]),
        ({"queue": "unassigned"}, sorted(set(ALL_ASSORTED) - {"Mine", "Mine, solved", "Bob's"})),
        ({"q": "customs"}, ["Customs"]),
        ({"q": "ORD-CUSTOMS"}, ["Customs"]),
        ({"status": "open", "assignee": "me"}, ["Mine"]),
    ],
    ids=lambda value: str(value),
)
def test_the_list_filters(agent_api, assorted, query, expected):
    response = agent_api.get(LIST_URL, query)

    assert response.status_code == 200
    assert sorted(subjects(response)) == expected


def test_the_list_filters_by_reference_incident_and_change_time(agent_api, assorted):
    incident = assorted["incident"].incident
    since = (timezone.now() - dt.timedelta(hours=1)).isoformat()

    by_reference = agent_api.get(LIST_URL, {"q": f"#{assorted['plain'].pk}"})
    by_incident = agent_api.get(LIST_URL, {"incident": str(incident.public_id)})
    recently_changed = agent_api.get(LIST_URL, {"updated_after": since})

    assert subjects(by_reference) == ["Plain"]
    assert subjects(by_incident) == ["In an incident"]
    assert subjects(recently_changed) == ["Customs"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "lost_in_space"}, "status"),
        ({"queue": "everything"}, "queue"),
        ({"incident": "not-a-uuid"}, "incident"),
        ({"updated_after": "yesterday"}, "updated_after"),
    ],
)
def test_an_invalid_filter_value_is_a_field_error(agent_api, query, field):
    response = agent_api.get(LIST_URL, query)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_the_list_pages_by_number(agent_api):
    for n in range(3):
        factories.TicketFactory(subject=f"Page {n}")

    first = agent_api.get(LIST_URL, {"page_size": 2}).json()
    second = agent_api.get(first["next"]).json()

    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert len(second["results"]) == 1
    assert second["next"] is None


@pytest.mark.parametrize("size", [3, 30])
def test_the_list_costs_the_same_queries_at_any_size(
    agent_api, agent, other_agent, django_assert_num_queries, size
):
    incident = factories.IncidentFactory()
    team = agent.agent_profile.team
    for n in range(size):
        ticket = factories.TicketFactory(
            team=team if n % 2 else None,
            assignee=other_agent if n % 3 else None,
            incident=incident if n % 2 else None,
            shipment=None if n % 5 == 0 else factories.ShipmentFactory(),
        )
        factories.SLATimerFactory(ticket=ticket)
        factories.SLATimerFactory(ticket=ticket, kind="resolution")

    # 1 session, 2 user, 3 the user's permissions, 4 its groups' permissions (has_perm),
    # 5 the agent's team (visible_to), 6 the count, 7 the page of tickets joined with customer,
    # shipment, carrier, incident, team and assignee, 8 their SLA timers.
    with django_assert_num_queries(8):
        response = agent_api.get(LIST_URL, {"page_size": 100})

    assert len(response.json()["results"]) == size


@pytest.mark.parametrize("size", [2, 20])
def test_an_integration_users_list_costs_the_same_queries_at_any_size(
    integration_api, django_assert_num_queries, size
):
    for _ in range(size):
        factories.SLATimerFactory(ticket=factories.TicketFactory())

    # 1 the token with its user, 2 the user's permissions, 3 its groups' permissions,
    # 4 the count, 5 the page of tickets, 6 their SLA timers.
    with django_assert_num_queries(6):
        response = integration_api.get(LIST_URL, {"page_size": 100})

    assert len(response.json()["results"]) == size


# --- Retrieve ----------------------------------------------------------------------------------


@pytest.fixture
def worked_ticket(agent):
    """A ticket with a customer message, a reply and an internal note."""
    ticket = services.ticket_open(
        customer=factories.CustomerFactory(),
        subject="Where is my parcel?",
        body="It has not moved for a week.",
        channel="email",
        route=False,
    )
    services.ticket_add_note(ticket=ticket, actor=agent, body="Carrier says customs.")
    services.ticket_reply(ticket=ticket, actor=agent, body="We are on it.")
    return Ticket.objects.get(pk=ticket.pk)


def test_the_detail_shows_the_whole_timeline_to_staff(agent_api, worked_ticket):
    response = agent_api.get(detail_url(worked_ticket))

    assert response.status_code == 200
    kinds = [row["kind"] for row in response.json()["timeline"]]
    assert kinds[:3] == ["created", "customer_message", "note"]
    assert "agent_reply" in kinds
    note = response.json()["timeline"][2]
    assert (note["actor"], note["is_public"]) == ("alice", False)
    assert note["data"]["excerpt"] == "Carrier says customs."


def test_the_detail_shows_integration_users_the_public_timeline_only(
    integration_api, worked_ticket
):
    response = integration_api.get(detail_url(worked_ticket))

    timeline = response.json()["timeline"]
    assert timeline
    assert all(row["is_public"] for row in timeline)
    assert "note" not in [row["kind"] for row in timeline]


# --- Create ------------------------------------------------------------------------------------


@pytest.fixture
def shop_customer(db):
    return factories.CustomerFactory(
        external_ref="SHOP-C-77", email="lena@example.com", name="Lena Weber", tier="regular"
    )


@pytest.fixture
def parcel(shop_customer):
    return factories.ShipmentFactory(
        customer=shop_customer,
        carrier=factories.CarrierFactory(code="acme"),
        tracking_number="ACME-77",
        incident=factories.IncidentFactory(),
    )


@pytest.fixture
def lost_parcels_team(db):
    """A team for lost parcels with one available agent, Lara."""
    team = factories.TeamFactory(name="Lost parcels", slug="lost-parcels", categories=["lost"])
    lara = factories.AgentFactory(username="lara", first_name="Lara")
    factories.AgentProfileFactory(user=lara, team=team)
    return team


def new_ticket(**changes) -> dict:
    body = {
        "customer": "SHOP-C-77",
        "subject": "Parcel lost",
        "body": "The tracking has not moved for two weeks.",
        "category": "lost",
        "channel": "email",
        "tracking_number": "ACME-77",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def test_an_integration_user_opens_a_routed_ticket_with_running_timers(
    integration_api, integration_user, parcel, lost_parcels_team
):
    response = integration_api.post(LIST_URL, new_ticket(), format="json")

    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get()
    body = response.json()
    assert body["id"] == str(ticket.public_id)
    assert (body["source"], body["category"], body["status"]) == ("api", "lost", "new")
    assert body["priority"] == "high"  # regular customer x lost parcel, from the matrix
    assert body["priority_overridden"] is False
    assert (body["team"], body["assignee"]) == ("lost-parcels", "lara")
    assert body["shipment"]["tracking_number"] == "ACME-77"
    assert body["incident"] == str(parcel.incident.public_id)
    assert {timer["kind"] for timer in body["sla"]} >= {"first_response", "resolution"}
    assert SLATimer.objects.filter(ticket=ticket, status="active").exists()
    created = TicketEvent.objects.get(ticket=ticket, kind="created")
    assert created.actor == integration_user
    message = ticket.messages.get()
    assert (message.direction, message.channel, message.body) == (
        "inbound",
        "email",
        "The tracking has not moved for two weeks.",
    )


def test_an_agent_opens_a_ticket_with_source_agent_and_may_set_the_priority(
    agent_api, shop_customer
):
    response = agent_api.post(
        LIST_URL,
        new_ticket(customer="lena@example.com", tracking_number=None, priority="urgent"),
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["source"], body["priority"], body["priority_overridden"]) == (
        "agent",
        "urgent",
        True,
    )
    assert body["shipment"] is None
    assert body["customer"]["external_ref"] == "SHOP-C-77"


def test_an_integration_user_may_not_set_the_priority(integration_api, parcel):
    response = integration_api.post(LIST_URL, new_ticket(priority="urgent"), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"priority": [str(services.CANNOT_OVERRIDE)]}
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"customer": "NOBODY"}, "customer", serializers.UNKNOWN_CUSTOMER),
        ({"customer": "nobody@example.com"}, "customer", serializers.UNKNOWN_CUSTOMER),
        ({"tracking_number": "NOPE"}, "tracking_number", serializers.UNKNOWN_TRACKING_NUMBER),
        ({"carrier": "other"}, "tracking_number", serializers.UNKNOWN_TRACKING_NUMBER),
        (
            {"tracking_number": None, "carrier": "acme"},
            "tracking_number",
            serializers.CARRIER_WITHOUT_TRACKING_NUMBER,
        ),
        ({"category": "stolen"}, "category", '"stolen" is not a valid choice.'),
        ({"channel": "pigeon"}, "channel", '"pigeon" is not a valid choice.'),
        ({"language": "xx"}, "language", '"xx" is not a valid choice.'),
        ({"subject": None}, "subject", "This field is required."),
        ({"body": "   "}, "body", "This field may not be blank."),
    ],
    ids=[
        "customer",
        "customer-email",
        "tracking-number",
        "carrier",
        "carrier-alone",
        "category",
        "channel",
        "language",
        "subject",
        "body",
    ],
)
def test_opening_with_bad_input_answers_field_errors(
    integration_api, parcel, changes, field, message
):
    response = integration_api.post(LIST_URL, new_ticket(**changes), format="json")

    assert response.status_code == 400
    assert response.json()["errors"][field] == [str(message)]
    assert not Ticket.objects.exists()


def test_a_tracking_number_at_two_carriers_needs_the_carrier(integration_api, parcel):
    factories.ShipmentFactory(
        customer=parcel.customer,
        carrier=factories.CarrierFactory(code="beta"),
        tracking_number="ACME-77",
    )

    ambiguous = integration_api.post(LIST_URL, new_ticket(), format="json")
    chosen = integration_api.post(LIST_URL, new_ticket(carrier="beta"), format="json")

    assert ambiguous.status_code == 400
    assert "(acme, beta)" in ambiguous.json()["errors"]["carrier"][0]
    assert chosen.status_code == 201
    assert chosen.json()["shipment"]["carrier"] == "beta"


def test_another_customers_shipment_is_refused(integration_api, parcel):
    factories.CustomerFactory(external_ref="SHOP-C-99")

    response = integration_api.post(LIST_URL, new_ticket(customer="SHOP-C-99"), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "tracking_number": [str(serializers.OTHER_CUSTOMERS_SHIPMENT)]
    }


def test_an_email_shared_by_two_customers_needs_the_reference(integration_api, shop_customer):
    factories.CustomerFactory(email="LENA@example.com")

    response = integration_api.post(
        LIST_URL, new_ticket(customer="lena@example.com", tracking_number=None), format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"customer": [str(serializers.AMBIGUOUS_CUSTOMER_EMAIL)]}


# --- Create: Idempotency-Key ---------------------------------------------------------------------


def test_the_same_idempotency_key_answers_the_first_ticket_again(integration_api, parcel):
    first = integration_api.post(
        LIST_URL, new_ticket(), format="json", HTTP_IDEMPOTENCY_KEY="order-77-lost"
    )
    again = integration_api.post(
        LIST_URL,
        new_ticket(subject="Sent twice"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-77-lost",
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["subject"] == "Parcel lost"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Ticket.objects.count() == 1
    created = TicketEvent.objects.get(kind="created")
    assert created.data["idempotency_key"] == "order-77-lost"


def test_an_idempotency_key_belongs_to_its_user(integration_api, agent_api, parcel):
    integration_api.post(LIST_URL, new_ticket(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    by_someone_else = agent_api.post(
        LIST_URL, new_ticket(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    another_key = integration_api.post(
        LIST_URL, new_ticket(), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    no_key = integration_api.post(LIST_URL, new_ticket(), format="json")

    assert (by_someone_else.status_code, another_key.status_code, no_key.status_code) == (
        201,
        201,
        201,
    )
    assert Ticket.objects.count() == 4


@pytest.mark.parametrize("key", ["x" * 256, "naïve", "tab\there"])
def test_an_invalid_idempotency_key_is_refused(integration_api, parcel, key):
    response = integration_api.post(LIST_URL, new_ticket(), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert "idempotency_key" in response.json()["errors"]
    assert not Ticket.objects.exists()


def test_a_request_that_failed_validation_does_not_use_up_its_key(integration_api, parcel):
    failed = integration_api.post(
        LIST_URL, new_ticket(category="stolen"), format="json", HTTP_IDEMPOTENCY_KEY="k-9"
    )
    retried = integration_api.post(
        LIST_URL, new_ticket(), format="json", HTTP_IDEMPOTENCY_KEY="k-9"
    )

    assert (failed.status_code, retried.status_code) == (400, 201)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_idempotency_key_open_one_ticket(default_configuration):
    user = factories.UserFactory(username="shop-integration")
    user.groups.add(Group.objects.get(name=INTEGRATION))
    token = Token.objects.create(user=user).key
    customer = factories.CustomerFactory(external_ref="SHOP-C-77")
    factories.ShipmentFactory(customer=customer, tracking_number="ACME-77")
    requests = 4
    start = threading.Barrier(requests)
    answers, errors = [], []

    def post():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            start.wait()
            response = client.post(
                LIST_URL, new_ticket(), format="json", HTTP_IDEMPOTENCY_KEY="same-key"
            )
            answers.append((response.status_code, response.json()["id"]))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(code for code, _id in answers) == [200, 200, 200, 201]
    assert len({ticket_id for _code, ticket_id in answers}) == 1
    assert Ticket.objects.count() == 1


# --- Change (PATCH) ------------------------------------------------------------------------------


@pytest.fixture
def ticket(agent):
    """An open delay ticket in Alice's team, unassigned, at version 1."""
    return factories.TicketFactory(
        team=agent.agent_profile.team, customer__tier="regular", category="delay"
    )


def patch(client, ticket: Ticket, **body):
    return client.patch(detail_url(ticket), body, format="json")


def test_an_agent_changes_the_status(agent_api, agent, ticket):
    response = patch(agent_api, ticket, version=1, status="pending")

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["version"]) == ("pending", 2)
    ticket.refresh_from_db()
    assert ticket.status == "pending"
    event = TicketEvent.objects.get(ticket=ticket, kind="status_changed")
    assert (event.actor, event.data["new"]) == (agent, "pending")
    assert response.json()["timeline"][-1]["kind"] == "status_changed"


def test_an_agent_overrides_the_priority_with_a_reason(agent_api, ticket):
    response = patch(
        agent_api, ticket, version=1, priority="urgent", priority_reason="Travelling Friday"
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["priority"], response.json()["priority_overridden"]) == (
        "urgent",
        True,
    )
    event = TicketEvent.objects.get(ticket=ticket, kind="priority_changed")
    assert event.data["reason"] == "Travelling Friday"


def test_a_priority_without_a_reason_is_a_field_error(agent_api, ticket):
    response = patch(agent_api, ticket, version=1, priority="urgent", priority_reason=" ")

    assert response.status_code == 400
    assert response.json()["errors"] == {"priority_reason": [str(services.REASON_REQUIRED)]}
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


def test_an_agent_changes_the_category_and_the_priority_follows_the_matrix(agent_api, ticket):
    response = patch(agent_api, ticket, version=1, category="lost")

    assert response.status_code == 200, response.json()
    assert (response.json()["category"], response.json()["priority"]) == ("lost", "high")


def test_an_agent_assigns_a_colleague_and_unassigns(agent_api, other_agent, ticket):
    assigned = patch(agent_api, ticket, version=1, assignee="bob")
    # Only the assignee or a supervisor may unassign: Alice is neither.
    refused = patch(agent_api, ticket, version=assigned.json()["version"], assignee=None)
    released = patch(session_client(other_agent), ticket, version=2, assignee=None)

    assert assigned.status_code == 200, assigned.json()
    assert (assigned.json()["assignee"], assigned.json()["status"]) == ("bob", "open")
    assert refused.status_code == 403
    assert refused.json()["detail"] == str(services.NOT_ASSIGNEE)
    assert released.status_code == 200, released.json()
    assert released.json()["assignee"] is None


def test_assigning_oneself_an_unassigned_ticket_claims_it(agent_api, ticket):
    response = patch(agent_api, ticket, version=1, assignee="alice")

    assert response.json()["assignee"] == "alice"
    event = TicketEvent.objects.get(ticket=ticket, kind="assigned")
    assert event.data["reason"] == "claimed"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"status": "pending"}, "version", "This field is required."),
        ({"version": 1}, "non_field_errors", str(serializers.NOTHING_TO_CHANGE)),
        ({"version": 1, "status": "new"}, "status", '"new" is not a valid choice.'),
        ({"version": 1, "assignee": "nobody"}, "assignee", str(serializers.UNKNOWN_USER)),
    ],
    ids=["no-version", "nothing", "status-new", "unknown-user"],
)
def test_a_bad_change_is_a_field_error(agent_api, ticket, body, field, message):
    response = agent_api.patch(detail_url(ticket), body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][field] == [message]


def test_assigning_a_user_who_cannot_work_tickets_is_a_field_error(agent_api, ticket):
    factories.UserFactory(username="mallory")

    response = patch(agent_api, ticket, version=1, assignee="mallory")

    assert response.status_code == 400
    assert response.json()["errors"] == {"assignee": [str(services.NOT_AN_AGENT)]}


def test_a_stale_version_is_a_409_and_changes_nothing(agent_api, other_agent, ticket):
    services.ticket_change_status(ticket=ticket, actor=other_agent, status="on_hold")

    response = patch(agent_api, ticket, version=1, status="pending", category="lost")

    assert response.status_code == 409
    assert response.json() == {
        "detail": str(services.STALE_TICKET),
        "code": "conflict",
        "errors": {"version": [str(services.STALE_TICKET)]},
        "current_version": 2,
    }
    ticket.refresh_from_db()
    assert (ticket.status, ticket.category, ticket.version) == ("on_hold", "delay", 2)


def test_a_stale_version_is_a_409_even_when_the_first_field_is_already_in_place(
    agent_api, other_agent, ticket
):
    services.ticket_change_status(ticket=ticket, actor=other_agent, status="pending")

    # The category is already "delay"; the status would change: the lock must still hold.
    response = patch(agent_api, ticket, version=1, category="delay", status="solved")

    assert response.status_code == 409
    ticket.refresh_from_db()
    assert ticket.status == "pending"


def test_a_change_already_in_place_is_harmless_whatever_the_version(agent_api, other_agent, ticket):
    services.ticket_change_status(ticket=ticket, actor=other_agent, status="pending")

    response = patch(agent_api, ticket, version=1, status="pending")

    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_when_the_second_change_fails_the_first_is_rolled_back(agent_api, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(status="closed", solved_at=timezone.now())

    # The category may change on a closed ticket, the status may not.
    response = patch(agent_api, ticket, version=1, category="lost", status="open")

    assert response.status_code == 400
    assert response.json()["errors"] == {"status": [str(services.TICKET_CLOSED)]}
    ticket.refresh_from_db()
    assert (ticket.category, ticket.version) == ("delay", 1)
    assert not TicketEvent.objects.filter(ticket=ticket, kind="category_changed").exists()


# --- Messages ----------------------------------------------------------------------------------


def test_staff_read_every_message_in_order(agent_api, worked_ticket):
    response = agent_api.get(messages_url(worked_ticket))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(m["kind"], m["direction"]) for m in results] == [
        ("public", "inbound"),
        ("note", "internal"),
        ("public", "outbound"),
    ]
    assert results[1]["author"] == "alice"
    assert results[0]["author"] is None
    assert {m["ticket"] for m in results} == {str(worked_ticket.public_id)}


def test_integration_users_do_not_see_internal_notes(integration_api, worked_ticket):
    response = integration_api.get(messages_url(worked_ticket))

    assert [m["body"] for m in response.json()["results"]] == [
        "It has not moved for a week.",
        "We are on it.",
    ]


def test_the_messages_cost_the_same_queries_at_any_size(agent_api, django_assert_num_queries):
    small, large = factories.TicketFactory(), factories.TicketFactory()
    for ticket, size in ((small, 2), (large, 20)):
        factories.MessageFactory.create_batch(size, ticket=ticket)

    for ticket, size in ((small, 2), (large, 20)):
        # 1 session, 2 user, 3-4 permissions, 5 the agent's team, 6 the ticket, 7 the count,
        # 8 the page of messages with their ticket and author.
        with django_assert_num_queries(8):
            response = agent_api.get(messages_url(ticket))
        assert len(response.json()["results"]) == size


def test_an_agent_replies_to_the_customer(agent_api, ticket):
    factories.SLATimerFactory(ticket=ticket, kind="first_response")

    response = agent_api.post(
        messages_url(ticket), {"body": "We are on it.", "version": 1}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["direction"], body["author"]) == ("public", "outbound", "alice")
    assert (body["ticket"], body["follow_up"]) == (str(ticket.public_id), False)
    ticket.refresh_from_db()
    assert ticket.version == 2
    assert ticket.first_response_at is not None
    assert ticket.timers.get(kind="first_response").status == "met"


def test_a_reply_with_a_stale_version_is_a_409(agent_api, other_agent, ticket):
    services.ticket_change_status(ticket=ticket, actor=other_agent, status="on_hold")

    response = agent_api.post(messages_url(ticket), {"body": "Hi", "version": 1}, format="json")

    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    assert not Message.objects.exists()


def test_an_agent_adds_an_internal_note_without_bumping_the_version(agent_api, ticket):
    response = agent_api.post(
        messages_url(ticket), {"body": "Carrier says customs.", "kind": "note"}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["kind"], response.json()["direction"]) == ("note", "internal")
    ticket.refresh_from_db()
    assert ticket.version == 1


def test_an_integration_user_adds_the_customers_message(integration_api, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(status="pending")

    response = integration_api.post(
        messages_url(ticket), {"body": "Any news?", "channel": "sms"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["direction"], body["channel"], body["author"]) == (
        "public",
        "inbound",
        "sms",
        None,
    )
    ticket.refresh_from_db()
    assert ticket.status == "open"  # the customer answered: back from pending


def test_a_customers_message_on_a_closed_ticket_opens_a_follow_up(integration_api, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(status="closed", solved_at=timezone.now())

    response = integration_api.post(messages_url(ticket), {"body": "Still nothing!"}, format="json")

    assert response.status_code == 201, response.json()
    follow_up = Ticket.objects.exclude(pk=ticket.pk).get()
    assert response.json()["ticket"] == str(follow_up.public_id)
    assert response.json()["follow_up"] is True
    assert follow_up.messages.get().body == "Still nothing!"


def test_an_integration_user_cannot_write_an_internal_note(integration_api, ticket):
    response = integration_api.post(
        messages_url(ticket), {"body": "Psst", "kind": "note"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"kind": [str(serializers.CUSTOMER_MESSAGES_ONLY)]}
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"body": ""}, "body"), ({}, "body"), ({"body": "x", "kind": "shout"}, "kind")],
)
def test_a_bad_message_is_a_field_error(agent_api, ticket, body, field):
    response = agent_api.post(messages_url(ticket), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_reply_on_a_closed_ticket_is_refused(agent_api, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(status="closed", solved_at=timezone.now())

    response = agent_api.post(messages_url(ticket), {"body": "Hello?"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": [str(services.TICKET_CLOSED)]}


# --- Schema ------------------------------------------------------------------------------------


def test_the_schema_describes_every_tickets_endpoint_without_warnings(db):
    GENERATOR_STATS.reset()

    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert not GENERATOR_STATS, dict(GENERATOR_STATS._warn_cache)
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths[LIST_URL]) == {"get", "post"}
    assert set(paths[f"{LIST_URL}{{id}}/"]) == {"get", "patch"}
    assert set(paths[f"{LIST_URL}{{id}}/messages/"]) == {"get", "post"}
    create = paths[LIST_URL]["post"]
    assert "Idempotency-Key" in {parameter["name"] for parameter in create["parameters"]}
    assert {"200", "201", "400"} <= set(create["responses"])
    assert "409" in paths[f"{LIST_URL}{{id}}/"]["patch"]["responses"]


def test_the_schema_endpoint_still_answers(client, db):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert "/api/v1/tickets/{id}/messages/" in response.json()["paths"]
