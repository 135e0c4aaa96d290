"""The compensations API: scope and roles, list filters and paging, requesting a remedy (one or
alternatives, field errors, idempotent), approving (four-eyes, once) and rejecting (with a
note), and the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from compensation import services
from compensation.models import ApprovalRequest, CompensationOffer, OfferStatus
from core.roles import INTEGRATION
from tests import factories
from tickets.models import TicketEvent

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/compensations/"


def detail_url(offer: CompensationOffer) -> str:
    return f"{LIST_URL}{offer.public_id}/"


def approve_url(offer: CompensationOffer) -> str:
    return f"{detail_url(offer)}approve/"


def reject_url(offer: CompensationOffer) -> str:
    return f"{detail_url(offer)}reject/"


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def ids(response) -> set[str]:
    return {item["id"] for item in response.json()["results"]}


@pytest.fixture
def integration_user(db):
    user = factories.UserFactory(username="shop-integration")
    user.groups.add(Group.objects.get(name=INTEGRATION))
    return user


@pytest.fixture
def team_ticket(agent):
    """A ticket of the agent's team."""
    return factories.TicketFactory(team=agent.agent_profile.team)


@pytest.fixture
def other_team_ticket(db):
    return factories.TicketFactory(team=factories.TeamFactory())


@pytest.fixture
def second_supervisor(db):
    return factories.SupervisorFactory(username="sue")


def pending_offer(ticket, requested_by, **kwargs) -> CompensationOffer:
    offer = factories.CompensationOfferFactory(
        ticket=ticket,
        status=OfferStatus.PENDING_APPROVAL,
        kind=kwargs.pop("kind", "coupon"),
        amount=kwargs.pop("amount", Decimal("120.00")),
        requested_by=requested_by,
        **kwargs,
    )
    ApprovalRequest.objects.create(
        offer=offer, requested_by=requested_by, requested_at=timezone.now()
    )
    return offer


def coupon(amount: str = "20.00", currency: str = "EUR") -> dict:
    return {"kind": "coupon", "amount": amount, "currency": currency}


def create_body(ticket, *remedies, reason: str = "Parcel 9 days late.") -> dict:
    return {
        "ticket": str(ticket.public_id),
        "remedies": list(remedies) or [coupon()],
        "reason": reason,
    }


# --- Roles and scope --------------------------------------------------------------------------


def test_nobody_signed_in_gets_401():
    response = APIClient().get(LIST_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_an_operator_is_refused(operator):
    response = session_client(operator).get(LIST_URL)

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code", "errors"}


def test_an_agent_lists_and_reads_only_the_offers_of_their_scope(
    agent, team_ticket, other_team_ticket
):
    mine = factories.CompensationOfferFactory(ticket=team_ticket)
    theirs = factories.CompensationOfferFactory(ticket=other_team_ticket)
    client = session_client(agent)

    assert ids(client.get(LIST_URL)) == {str(mine.public_id)}
    assert client.get(detail_url(mine)).status_code == 200
    response = client.get(detail_url(theirs))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_supervisor_sees_every_offer(supervisor, team_ticket, other_team_ticket):
    offers = [
        factories.CompensationOfferFactory(ticket=team_ticket),
        factories.CompensationOfferFactory(ticket=other_team_ticket),
    ]

    response = session_client(supervisor).get(LIST_URL)

    assert ids(response) == {str(offer.public_id) for offer in offers}


def test_an_integration_user_reads_every_offer_without_the_teams_notes(
    integration_user, team_ticket, other_team_ticket, agent
):
    offer = pending_offer(other_team_ticket, agent, reason="Loyal customer, angry")
    factories.CompensationOfferFactory(ticket=team_ticket)
    client = token_client(integration_user)

    assert len(client.get(LIST_URL).json()["results"]) == 2
    body = client.get(detail_url(offer)).json()
    assert body["reason"] is None
    assert body["approval"] is None
    assert body["amount"] == "120.00"


def test_an_integration_user_neither_requests_nor_decides(integration_user, team_ticket, agent):
    offer = pending_offer(team_ticket, agent)
    client = token_client(integration_user)

    assert client.post(LIST_URL, create_body(team_ticket), format="json").status_code == 403
    assert client.post(approve_url(offer), {}, format="json").status_code == 403
    assert client.post(reject_url(offer), {"note": "no"}, format="json").status_code == 403
    assert CompensationOffer.objects.count() == 1


def test_an_agent_may_not_approve_or_reject(agent, other_agent, team_ticket):
    offer = pending_offer(team_ticket, other_agent)
    client = session_client(agent)

    response = client.post(approve_url(offer), {}, format="json")
    assert response.status_code == 403
    assert client.post(reject_url(offer), {"note": "no"}, format="json").status_code == 403
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL


# --- The offer as read ------------------------------------------------------------------------


def test_an_offer_reads_with_money_as_a_string_and_its_approval(supervisor, agent, team_ticket):
    incident = factories.IncidentFactory()
    team_ticket.incident = incident
    team_ticket.save(update_fields=["incident"])
    offer = pending_offer(team_ticket, agent, reason="Lost parcel")

    body = session_client(supervisor).get(detail_url(offer)).json()

    assert body["id"] == str(offer.public_id)
    assert body["ticket"] == str(team_ticket.public_id)
    assert body["customer"] == team_ticket.customer.external_ref
    assert body["incident"] == str(incident.public_id)
    assert body["kind"] == "coupon"
    assert body["status"] == "pending_approval"
    assert body["amount"] == "120.00"
    assert body["currency"] == "EUR"
    assert body["description"]
    assert body["reason"] == "Lost parcel"
    assert body["requested_by"] == agent.username
    assert body["approval"]["status"] == "pending"
    assert body["approval"]["requested_by"] == agent.username


def test_the_list_takes_the_same_number_of_queries_for_more_offers(
    supervisor, agent, django_assert_max_num_queries, no_rate_limits
):
    client = session_client(supervisor)
    for _ in range(2):
        pending_offer(factories.TicketFactory(), agent)
    client.get(LIST_URL)  # warm: sessions, content types
    with django_assert_max_num_queries(8) as few:
        client.get(LIST_URL)
    for _ in range(5):
        pending_offer(factories.TicketFactory(incident=factories.IncidentFactory()), agent)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(LIST_URL)
    assert len(response.json()["results"]) == 7


# --- Filters and paging -----------------------------------------------------------------------


def test_the_list_filters_by_status_kind_ticket_customer_incident_and_time(supervisor, agent):
    incident = factories.IncidentFactory()
    ticket = factories.TicketFactory(incident=incident)
    other = factories.TicketFactory()
    pending = pending_offer(ticket, agent)
    issued = factories.CompensationOfferFactory(
        ticket=other, status=OfferStatus.ISSUED, issued_at=timezone.now(), kind="partial_refund"
    )
    points = factories.CompensationOfferFactory(
        ticket=other, kind="loyalty_points", amount=None, points=300
    )
    CompensationOffer.objects.filter(pk=points.pk).update(
        created_at=timezone.now() - dt.timedelta(days=10)
    )
    client = session_client(supervisor)

    def found(**query) -> set[str]:
        response = client.get(LIST_URL, query)
        assert response.status_code == 200, response.json()
        return ids(response)

    assert found(status="pending_approval") == {str(pending.public_id)}
    assert found(status=["pending_approval", "issued"]) == {
        str(pending.public_id),
        str(issued.public_id),
    }
    assert found(kind="loyalty_points") == {str(points.public_id)}
    assert found(ticket=str(other.public_id)) == {str(issued.public_id), str(points.public_id)}
    assert found(customer=ticket.customer.external_ref) == {str(pending.public_id)}
    assert found(incident=str(incident.public_id)) == {str(pending.public_id)}
    week_ago = (timezone.now() - dt.timedelta(days=7)).isoformat()
    assert found(created_before=week_ago) == {str(points.public_id)}
    assert found(created_after=week_ago) == {str(pending.public_id), str(issued.public_id)}


def test_a_bad_filter_value_is_a_field_error(supervisor):
    response = session_client(supervisor).get(LIST_URL, {"status": "lost", "ticket": "x"})

    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"status", "ticket"}


def test_the_list_is_paged_by_number_newest_first(supervisor, agent):
    ticket = factories.TicketFactory()
    offers = [factories.CompensationOfferFactory(ticket=ticket) for _ in range(3)]
    client = session_client(supervisor)

    first = client.get(LIST_URL, {"page_size": 2}).json()
    assert first["count"] == 3
    assert [item["id"] for item in first["results"]] == [
        str(offers[2].public_id),
        str(offers[1].public_id),
    ]
    assert client.get(LIST_URL, {"page": "9"}).status_code == 404
    assert client.get(LIST_URL, {"page": "١"}).status_code == 404


# --- Requesting a remedy ----------------------------------------------------------------------


def test_an_agent_requests_a_remedy_within_authority_and_it_is_issued(agent, team_ticket):
    response = session_client(agent).post(
        LIST_URL, create_body(team_ticket, coupon("20.004")), format="json"
    )

    assert response.status_code == 201, response.json()
    (offer,) = response.json()["offers"]
    assert offer["status"] == "issued"
    assert offer["amount"] == "20.00"  # rounded to the cent by the service
    assert offer["requested_by"] == agent.username
    assert offer["reason"] == "Parcel 9 days late."
    assert offer["choice_group"] is None
    assert CompensationOffer.objects.get().status == OfferStatus.ISSUED


def test_a_remedy_above_the_agents_authority_waits_for_a_supervisor(agent, team_ticket):
    response = session_client(agent).post(
        LIST_URL, create_body(team_ticket, coupon("120.00")), format="json"
    )

    assert response.status_code == 201
    (offer,) = response.json()["offers"]
    assert offer["status"] == "pending_approval"
    assert offer["approval"]["status"] == "pending"


def test_alternatives_are_offered_for_the_customer_to_choose(agent, team_ticket):
    body = create_body(
        team_ticket,
        coupon("10.00"),
        {"kind": "discount_code", "percent": "10"},
        {"kind": "loyalty_points", "points": 300},
    )

    response = session_client(agent).post(LIST_URL, body, format="json")

    assert response.status_code == 201, response.json()
    offers = response.json()["offers"]
    assert [offer["kind"] for offer in offers] == ["coupon", "discount_code", "loyalty_points"]
    assert {offer["status"] for offer in offers} == {"offered"}
    assert len({offer["choice_group"] for offer in offers}) == 1
    assert offers[0]["choice_group"] is not None


def test_yen_are_rounded_to_whole_yen(agent, team_ticket):
    response = session_client(agent).post(
        LIST_URL, create_body(team_ticket, coupon("1000.6", "JPY")), format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["offers"][0]["amount"] == "1001"
    assert CompensationOffer.objects.get().amount == Decimal("1001")


@pytest.mark.parametrize(
    ("remedies", "field"),
    [
        ([], "remedies"),
        ([coupon()] * 4, "remedies"),
        ([{"kind": "coupon", "amount": 20}], "remedies.0.amount"),  # a JSON number
        ([{"kind": "coupon"}], "remedies.0.amount"),
        ([coupon(), {"kind": "discount_code"}], "remedies.1.percent"),
        ([{"kind": "loyalty_points", "points": 0}], "remedies.0.points"),
        ([{"kind": "coupon", "amount": "-5"}], "remedies.0.amount"),
        ([{"kind": "coupon", "amount": "NaN"}], "remedies.0.amount"),
        ([{"kind": "coupon", "amount": "5", "currency": "eur"}], "remedies.0.currency"),
        ([{"kind": "coupon", "amount": "5", "currency": "ZZZ"}], "remedies.0.currency"),
        ([{"kind": "bitcoin"}], "remedies.0.kind"),
        ([{"kind": "discount_code", "percent": "150"}], "remedies.0.percent"),
    ],
)
def test_a_bad_remedy_is_a_field_error_and_offers_nothing(agent, team_ticket, remedies, field):
    body = {**create_body(team_ticket), "remedies": remedies}

    response = session_client(agent).post(LIST_URL, body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not CompensationOffer.objects.exists()


def test_the_reason_is_required(agent, team_ticket):
    response = session_client(agent).post(
        LIST_URL, create_body(team_ticket, reason=""), format="json"
    )

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_a_refund_needs_an_order(agent):
    ticket = factories.TicketFactory(team=agent.agent_profile.team, shipment=None)

    response = session_client(agent).post(
        LIST_URL,
        create_body(ticket, {"kind": "full_refund"}),
        format="json",
    )

    assert response.status_code == 400
    assert "remedies.0.kind" in response.json()["errors"]


def test_an_agent_cannot_request_for_a_ticket_outside_their_scope(agent, other_team_ticket):
    response = session_client(agent).post(LIST_URL, create_body(other_team_ticket), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"ticket": ["No ticket with this id."]}
    assert not CompensationOffer.objects.exists()


def test_an_unknown_ticket_reads_like_one_outside_the_scope(agent):
    body = {"ticket": str(uuid.uuid4()), "remedies": [coupon()], "reason": "x"}

    response = session_client(agent).post(LIST_URL, body, format="json")

    assert response.json()["errors"] == {"ticket": ["No ticket with this id."]}


# --- Idempotency ------------------------------------------------------------------------------


def test_the_same_key_twice_offers_once(agent, team_ticket):
    client = session_client(agent)
    body = create_body(team_ticket, coupon("120.00"))

    first = client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["offers"][0]["id"] == first.json()["offers"][0]["id"]
    assert CompensationOffer.objects.count() == 1
    assert ApprovalRequest.objects.count() == 1


def test_the_same_key_twice_replays_alternatives_too(agent, team_ticket):
    client = session_client(agent)
    body = create_body(team_ticket, coupon("10.00"), {"kind": "loyalty_points", "points": 100})

    first = client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    again = client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    assert [o["id"] for o in again.json()["offers"]] == [o["id"] for o in first.json()["offers"]]
    assert CompensationOffer.objects.count() == 2


def test_the_same_key_with_another_request_is_refused(agent, team_ticket):
    client = session_client(agent)
    client.post(LIST_URL, create_body(team_ticket), format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    response = client.post(
        LIST_URL,
        create_body(team_ticket, coupon("30.00")),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-3",
    )

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "idempotency_key_reused"
    assert "idempotency_key" in body["errors"]
    assert CompensationOffer.objects.count() == 1


def test_keys_are_per_user(agent, supervisor, team_ticket):
    body = create_body(team_ticket)

    session_client(agent).post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = session_client(supervisor).post(
        LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )

    assert response.status_code == 201
    assert CompensationOffer.objects.count() == 2


def test_a_refused_request_keeps_no_key(agent, team_ticket):
    client = session_client(agent)
    bad = create_body(team_ticket, {"kind": "coupon", "amount": "5", "currency": "ZZZ"})
    assert client.post(LIST_URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="k-4").status_code == 400

    response = client.post(
        LIST_URL, create_body(team_ticket), format="json", HTTP_IDEMPOTENCY_KEY="k-4"
    )

    assert response.status_code == 201


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "schlüssel"])
def test_an_invalid_key_is_a_field_error(agent, team_ticket, key):
    response = session_client(agent).post(
        LIST_URL, create_body(team_ticket), format="json", HTTP_IDEMPOTENCY_KEY=key
    )

    assert response.status_code == 400
    assert "idempotency_key" in response.json()["errors"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_offer_once(default_configuration):
    agent = factories.AgentFactory(username="alice")
    profile = factories.AgentProfileFactory(user=agent)
    ticket = factories.TicketFactory(team=profile.team)
    token = Token.objects.create(user=agent).key
    body = create_body(ticket, coupon("120.00"))
    requests = 4
    start = threading.Barrier(requests)
    answers, errors = [], []

    def post():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            start.wait()
            response = client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
            answers.append((response.status_code, response.json()["offers"][0]["id"]))
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
    assert len({offer_id for _code, offer_id in answers}) == 1
    assert CompensationOffer.objects.count() == 1


# --- Approving and rejecting ------------------------------------------------------------------


def test_a_supervisor_approves_and_the_remedy_goes_out(supervisor, agent, team_ticket):
    offer = pending_offer(team_ticket, agent)

    response = session_client(supervisor).post(
        approve_url(offer), {"note": "Loyal customer"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "issued"
    assert body["approved_by"] == supervisor.username
    assert body["approval"]["status"] == "approved"
    assert body["approval"]["note"] == "Loyal customer"


def test_a_supervisor_may_not_approve_what_they_requested(supervisor, team_ticket):
    response = session_client(supervisor).post(
        LIST_URL, create_body(team_ticket, coupon("1500.00")), format="json"
    )
    offer = CompensationOffer.objects.get(public_id=response.json()["offers"][0]["id"])
    assert offer.status == OfferStatus.PENDING_APPROVAL

    response = session_client(supervisor).post(approve_url(offer), {}, format="json")

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "four_eyes"
    assert body["detail"] == str(services.FOUR_EYES)
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL


def test_a_supervisor_may_not_reject_what_they_requested_either(supervisor, team_ticket):
    offer = pending_offer(team_ticket, supervisor)

    response = session_client(supervisor).post(reject_url(offer), {"note": "no"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "four_eyes"
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL


def test_above_the_supervisors_own_authority_is_refused(supervisor, agent, team_ticket):
    offer = pending_offer(team_ticket, agent, amount=Decimal("5000.00"))

    response = session_client(supervisor).post(approve_url(offer), {}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "above_authority"
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL


def test_a_decided_offer_is_not_decided_again(supervisor, second_supervisor, agent, team_ticket):
    offer = pending_offer(team_ticket, agent)
    assert session_client(supervisor).post(approve_url(offer), {}, format="json").status_code == 200

    again = session_client(second_supervisor).post(approve_url(offer), {}, format="json")
    reject = session_client(second_supervisor).post(
        reject_url(offer), {"note": "no"}, format="json"
    )

    assert again.status_code == 409
    assert again.json()["code"] == "already_decided"
    assert reject.status_code == 409
    assert CompensationOffer.objects.get().status == OfferStatus.ISSUED


def test_a_rejection_needs_a_note(supervisor, agent, team_ticket):
    offer = pending_offer(team_ticket, agent)
    client = session_client(supervisor)

    for body in ({}, {"note": ""}, {"note": "   "}):
        response = client.post(reject_url(offer), body, format="json")
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["note"]
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL


def test_a_rejection_with_a_note_reaches_the_ticket(supervisor, agent, team_ticket):
    offer = pending_offer(team_ticket, agent)

    response = session_client(supervisor).post(
        reject_url(offer), {"note": "Offer the 15% code instead."}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    event = TicketEvent.objects.get(ticket=team_ticket, kind=TicketEvent.Kind.COMPENSATION_REJECTED)
    assert event.data["note"] == "Offer the 15% code instead."


def test_deciding_an_offer_outside_every_scope_is_404(supervisor):
    response = session_client(supervisor).post(
        f"{LIST_URL}{uuid.uuid4()}/approve/", {}, format="json"
    )

    assert response.status_code == 404


# --- Schema -----------------------------------------------------------------------------------


def test_the_schema_has_the_compensation_operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]

    assert set(paths["/api/v1/compensations/"]) >= {"get", "post"}
    assert "get" in paths["/api/v1/compensations/{id}/"]
    assert "post" in paths["/api/v1/compensations/{id}/approve/"]
    assert "post" in paths["/api/v1/compensations/{id}/reject/"]
    create = paths["/api/v1/compensations/"]["post"]
    assert {"201", "200", "400", "422"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    examples = create["requestBody"]["content"]["application/json"]["examples"]
    assert len(examples) == 2
    reject = schema["components"]["schemas"]["Reject"]
    assert "note" in reject["required"]
    remedy = schema["components"]["schemas"]["Remedy"]
    assert remedy["properties"]["amount"]["type"] == "string"
