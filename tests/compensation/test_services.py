"""The compensation services (compensation.services): request, approve, reject, choose.

Authority per currency (exactly at the limit vs one minor unit above), four-eyes, exactly-once
decisions, the rejected offer's note on the timeline, the incident budget routing offers to
approval, the customer's choice, rounding. The concurrent cases (real threads on PostgreSQL)
are in test_services_concurrency.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.urls import reverse

from compensation import services, signals
from compensation.errors import CompensationError
from compensation.models import (
    ApprovalRequest,
    AuthorityLimit,
    Budget,
    CompensationOffer,
    IssuedCode,
    OfferStatus,
)
from compensation.services import (
    FOUR_EYES,
    RemedySpec,
    approve_incident_offers,
    authority_for,
    offer_approve,
    offer_choose,
    offer_reject,
    offer_request,
)
from core.roles import AGENT, SUPERVISOR
from tests import factories
from tickets.models import TicketEvent

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=5)


def coupon(amount, currency: str = "EUR") -> RemedySpec:
    return RemedySpec(kind="coupon", amount=Decimal(amount), currency=currency)


@pytest.fixture
def ticket(agent):
    return factories.TicketFactory(assignee=agent)


@pytest.fixture
def other_supervisor(db):
    return factories.SupervisorFactory(username="sue", first_name="Sue")


@pytest.fixture
def sent():
    """The compensation signals sent, as (signal name, offer pk) in order."""
    seen: list[tuple[str, int]] = []

    def made(sender, *, offer, **kwargs):
        seen.append(("offer_made", offer.pk))

    def issued(sender, *, offer, **kwargs):
        seen.append(("offer_issued", offer.pk))

    signals.offer_made.connect(made, dispatch_uid="test.made")
    signals.offer_issued.connect(issued, dispatch_uid="test.issued")
    yield seen
    signals.offer_made.disconnect(dispatch_uid="test.made")
    signals.offer_issued.disconnect(dispatch_uid="test.issued")


def events(ticket, kind: str) -> list[TicketEvent]:
    return list(TicketEvent.objects.filter(ticket=ticket, kind=kind).order_by("pk"))


def request(ticket, by, *remedies, **kwargs) -> list[CompensationOffer]:
    return offer_request(ticket=ticket, by=by, remedies=list(remedies), now=NOW, **kwargs)


# --- authority -------------------------------------------------------------------------------


def test_the_default_limits_are_per_currency():
    agent_group = Group.objects.get(name=AGENT)
    supervisor_group = Group.objects.get(name=SUPERVISOR)
    assert authority_for(factories.AgentFactory(), "EUR").max_amount == Decimal("50.00")
    assert authority_for(factories.AgentFactory(), "EUR").max_percent == Decimal("15.00")
    assert authority_for(factories.SupervisorFactory(), "EUR").max_amount == Decimal("1000.00")
    assert authority_for(factories.SupervisorFactory(), "EUR").max_percent == Decimal("100.00")
    assert {limit.currency for limit in AuthorityLimit.objects.filter(group=agent_group)} >= {
        "EUR",
        "CNY",
        "JPY",
    }
    assert AuthorityLimit.objects.get(group=supervisor_group, currency="JPY").max_amount > (
        AuthorityLimit.objects.get(group=agent_group, currency="JPY").max_amount
    )


def test_a_users_own_limit_wins_over_the_groups(agent):
    AuthorityLimit.objects.create(user=agent, currency="EUR", max_amount=Decimal("20"))
    assert authority_for(agent, "EUR").max_amount == Decimal("20")
    # Other currencies still come from the group.
    assert authority_for(agent, "JPY").max_amount == Decimal("8000")


def test_the_highest_of_a_users_groups_applies():
    both = factories.AgentFactory(roles=(AGENT, SUPERVISOR))
    assert authority_for(both, "EUR").max_amount == Decimal("1000.00")


def test_a_currency_without_a_limit_gives_no_authority(agent, ticket):
    assert authority_for(agent, "USD") is None
    [offer] = request(ticket, agent, coupon("1", "USD"))
    assert offer.status == OfferStatus.PENDING_APPROVAL


def test_the_system_has_the_agents_authority():
    assert authority_for(None, "EUR").max_amount == Decimal("50.00")


def test_a_user_holds_one_limit_per_currency(agent):
    AuthorityLimit.objects.create(user=agent, currency="EUR", max_amount=Decimal("20"))
    AuthorityLimit.objects.create(user=agent, currency="JPY", max_amount=Decimal("2000"))
    with pytest.raises(IntegrityError), transaction.atomic():
        AuthorityLimit.objects.create(user=agent, currency="EUR", max_amount=Decimal("30"))


@pytest.mark.parametrize(
    ("amount", "currency", "status"),
    [
        ("50.00", "EUR", OfferStatus.ISSUED),  # exactly at the agent's limit
        ("50.01", "EUR", OfferStatus.PENDING_APPROVAL),  # one cent above
        ("50.004", "EUR", OfferStatus.ISSUED),  # rounds to 50.00
        ("50.005", "EUR", OfferStatus.PENDING_APPROVAL),  # rounds half up to 50.01
        ("8000", "JPY", OfferStatus.ISSUED),  # exactly at the limit
        ("8001", "JPY", OfferStatus.PENDING_APPROVAL),  # one yen above
        ("8000.4", "JPY", OfferStatus.ISSUED),  # rounds to 8000
        ("8000.5", "JPY", OfferStatus.PENDING_APPROVAL),  # rounds half up to 8001
        ("400.00", "CNY", OfferStatus.ISSUED),
        ("400.01", "CNY", OfferStatus.PENDING_APPROVAL),
    ],
)
def test_the_authority_boundary_is_inclusive_to_the_minor_unit(
    agent, ticket, sent, amount, currency, status
):
    [offer] = request(ticket, agent, coupon(amount, currency))

    offer.refresh_from_db()
    assert offer.status == status
    if status == OfferStatus.ISSUED:
        assert sent == [("offer_issued", offer.pk)]
        assert not ApprovalRequest.objects.filter(offer=offer).exists()
    else:
        assert sent == []
        [approval] = ApprovalRequest.objects.filter(offer=offer)
        assert (approval.status, approval.requested_by) == ("pending", agent)


def test_a_percentage_is_checked_against_the_percent_limit(agent, ticket):
    [within] = request(ticket, agent, RemedySpec(kind="discount_code", percent=Decimal("15")))
    [above] = request(ticket, agent, RemedySpec(kind="discount_code", percent=Decimal("15.01")))
    assert within.status == OfferStatus.ISSUED
    assert above.status == OfferStatus.PENDING_APPROVAL


def test_points_are_checked_against_the_points_limit(agent, ticket):
    [within] = request(ticket, agent, RemedySpec(kind="loyalty_points", points=500))
    [above] = request(ticket, agent, RemedySpec(kind="loyalty_points", points=501))
    assert within.status == OfferStatus.ISSUED
    assert above.status == OfferStatus.PENDING_APPROVAL


def test_a_reship_costs_the_orders_value(agent):
    cheap = factories.TicketFactory(shipment__order_value=Decimal("49.90"))
    dear = factories.TicketFactory(shipment__order_value=Decimal("300.00"))
    [within] = request(cheap, agent, RemedySpec(kind="reship"))
    [above] = request(dear, agent, RemedySpec(kind="reship"))
    assert within.status == OfferStatus.ISSUED
    assert above.status == OfferStatus.PENDING_APPROVAL


def test_every_alternative_must_be_within_the_authority(agent, ticket):
    offers = request(ticket, agent, coupon("10"), coupon("60"))
    assert {offer.status for offer in offers} == {OfferStatus.PENDING_APPROVAL}
    assert ApprovalRequest.objects.filter(offer__in=offers, status="pending").count() == 2


# --- what a request records -----------------------------------------------------------------


def test_money_is_rounded_to_the_currencys_minor_unit(supervisor, ticket):
    [eur] = request(ticket, supervisor, coupon("12.345"))
    [jpy] = request(ticket, supervisor, coupon("1234.5", "JPY"))
    [cny] = request(ticket, supervisor, coupon("0.125", "CNY"))
    eur.refresh_from_db()
    jpy.refresh_from_db()
    cny.refresh_from_db()
    assert (eur.amount, jpy.amount, cny.amount) == (
        Decimal("12.35"),
        Decimal("1235"),
        Decimal("0.13"),
    )


def test_a_full_refund_without_an_amount_is_the_orders_value(supervisor):
    ticket = factories.TicketFactory(
        shipment__order_value=Decimal("120.00"), shipment__currency="EUR"
    )
    [offer] = request(ticket, supervisor, RemedySpec(kind="full_refund"))
    assert (offer.amount, offer.currency, offer.status) == (
        Decimal("120.00"),
        "EUR",
        OfferStatus.ISSUED,
    )


def test_a_percentage_refund_is_that_share_of_the_order_rounded(agent):
    ticket = factories.TicketFactory(
        shipment__order_value=Decimal("12345"), shipment__currency="JPY"
    )
    [offer] = request(ticket, agent, RemedySpec(kind="partial_refund", percent=Decimal("30")))
    # 30% of 12345 JPY = 3703.5 -> 3704 yen (half up), within the agent's 8000 JPY.
    assert (offer.amount, offer.currency, offer.percent) == (
        Decimal("3704"),
        "JPY",
        Decimal("30.00"),
    )
    assert offer.status == OfferStatus.ISSUED


def test_a_request_writes_the_timeline(agent, ticket):
    [offer] = request(ticket, agent, coupon("20"), reason="Parcel two weeks late")
    [proposed] = events(ticket, "compensation_proposed")
    [issued] = events(ticket, "compensation_issued")
    assert proposed.actor == agent and not proposed.is_public
    assert proposed.data["offer"] == str(offer.public_id)
    assert (proposed.data["kind"], proposed.data["amount"]) == ("coupon", "20.00")
    assert proposed.data["reason"] == "Parcel two weeks late"
    assert issued.is_public and issued.data["reference"] == offer.issued_reference
    assert proposed.created_at == NOW and offer.created_at == NOW


def test_a_pending_request_says_so_on_the_timeline(agent, ticket):
    request(ticket, agent, coupon("80"))
    [proposed] = events(ticket, "compensation_proposed")
    assert proposed.data["needs_approval"] is True
    assert events(ticket, "compensation_issued") == []


@pytest.mark.parametrize(
    ("remedy", "code", "field"),
    [
        (RemedySpec(kind="bribe"), "invalid_kind", "kind"),
        (RemedySpec(kind="coupon", amount=Decimal("0")), "invalid_amount", "amount"),
        (RemedySpec(kind="coupon", amount=Decimal("-5")), "invalid_amount", "amount"),
        (RemedySpec(kind="coupon", amount=Decimal("0.004")), "invalid_amount", "amount"),
        (RemedySpec(kind="coupon", amount=0.1), "invalid_amount", "amount"),
        (RemedySpec(kind="coupon", amount="ten"), "invalid_amount", "amount"),
        (RemedySpec(kind="coupon", amount=Decimal("1e12")), "amount_too_large", "amount"),
        (RemedySpec(kind="coupon"), "amount_required", "amount"),
        (
            RemedySpec(kind="coupon", amount=Decimal("5"), currency="XYZ"),
            "invalid_currency",
            "currency",
        ),
        (
            RemedySpec(kind="coupon", amount=Decimal("5"), currency="KWD"),
            "invalid_currency",
            "currency",
        ),
        (RemedySpec(kind="discount_code"), "percent_required", "percent"),
        (RemedySpec(kind="discount_code", percent=Decimal("101")), "invalid_percent", "percent"),
        (RemedySpec(kind="discount_code", percent=Decimal("0")), "invalid_percent", "percent"),
        (RemedySpec(kind="loyalty_points"), "points_required", "points"),
        (RemedySpec(kind="loyalty_points", points=-3), "invalid_points", "points"),
        (RemedySpec(kind="loyalty_points", points=2.5), "invalid_points", "points"),
        (
            RemedySpec(kind="partial_refund", amount=Decimal("5"), currency="JPY"),
            "currency_mismatch",
            "currency",
        ),
    ],
)
def test_a_bad_remedy_is_refused_on_its_field_and_nothing_is_written(
    agent, ticket, remedy, code, field
):
    with pytest.raises(CompensationError) as caught:
        request(ticket, agent, remedy)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert str(caught.value.message)
    assert not CompensationOffer.objects.exists()
    assert not TicketEvent.objects.filter(kind__startswith="compensation").exists()


def test_no_remedy_or_too_many_alternatives_are_refused(agent, ticket):
    with pytest.raises(CompensationError) as none:
        request(ticket, agent)
    with pytest.raises(CompensationError) as many:
        request(ticket, agent, coupon("1"), coupon("2"), coupon("3"), coupon("4"))
    assert (none.value.code, many.value.code) == ("no_remedy", "too_many_alternatives")


def test_a_refund_needs_an_order():
    ticket = factories.TicketFactory(shipment=None)
    with pytest.raises(CompensationError) as caught:
        request(ticket, factories.SupervisorFactory(), RemedySpec(kind="full_refund"))
    assert caught.value.code == "no_order"


def test_someone_without_the_permission_cannot_request(operator, ticket):
    with pytest.raises(CompensationError) as caught:
        request(ticket, operator, coupon("5"))
    assert caught.value.code == "forbidden"


def test_changing_the_suggestion_needs_a_reason(agent, ticket):
    from compensation.policies import SuggestedRemedy, Suggestion, facts_for

    policy = factories.CompensationPolicyFactory()
    suggested = SuggestedRemedy(kind="discount_code", percent=Decimal("10"))
    suggestion = Suggestion(
        rank=1, policy=policy, parts=((suggested,),), facts=facts_for(ticket, now=NOW)
    )
    as_suggested = RemedySpec(kind="discount_code", percent=Decimal("10.00"))
    [offer] = request(ticket, agent, as_suggested, suggestion=suggestion)
    assert offer.policy == policy

    changed = RemedySpec(kind="discount_code", percent=Decimal("12"))
    with pytest.raises(CompensationError) as caught:
        request(ticket, agent, changed, suggestion=suggestion)
    assert (caught.value.code, caught.value.field) == ("reason_required", "reason")
    [offer] = request(ticket, agent, changed, suggestion=suggestion, reason="Loyal customer")
    assert offer.reason == "Loyal customer"


# --- approval ---------------------------------------------------------------------------------


@pytest.fixture
def pending(agent, ticket):
    [offer] = request(ticket, agent, coupon("80"), reason="Damaged and late")
    return offer


def test_a_supervisor_approves_a_pending_offer_and_it_is_issued_once(pending, supervisor, sent):
    offer = offer_approve(offer=pending, by=supervisor, note="Fine", now=LATER)

    offer.refresh_from_db()
    assert offer.status == OfferStatus.ISSUED
    assert (offer.approved_by, offer.approved_at, offer.issued_at) == (supervisor, LATER, LATER)
    assert IssuedCode.objects.filter(offer=offer).count() == 1
    approval = ApprovalRequest.objects.get(offer=offer)
    assert (approval.status, approval.decided_by, approval.note) == (
        "approved",
        supervisor,
        "Fine",
    )
    assert sent == [("offer_issued", offer.pk)]
    [approved] = events(offer.ticket, "compensation_approved")
    assert approved.actor == supervisor

    with pytest.raises(CompensationError) as again:
        offer_approve(offer=pending, by=supervisor, now=LATER)
    assert again.value.code == "already_decided"
    assert IssuedCode.objects.filter(offer=offer).count() == 1
    assert sent == [("offer_issued", offer.pk)]


def test_the_requester_can_never_approve_their_own_offer(supervisor, ticket):
    [offer] = request(ticket, supervisor, coupon("1500"))
    assert offer.status == OfferStatus.PENDING_APPROVAL

    with pytest.raises(CompensationError) as caught:
        offer_approve(offer=offer, by=supervisor, now=LATER)

    assert caught.value.code == "four_eyes"
    assert caught.value.message == FOUR_EYES
    assert str(caught.value.message) == (
        "You requested this remedy; another supervisor must approve it."
    )
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL
    with pytest.raises(CompensationError) as rejecting:
        offer_reject(offer=offer, by=supervisor, note="Never mind", now=LATER)
    assert rejecting.value.code == "four_eyes"


def test_the_database_still_refuses_self_approval(supervisor, ticket):
    [offer] = request(ticket, supervisor, coupon("1500"))
    with pytest.raises(IntegrityError), transaction.atomic():
        CompensationOffer.objects.filter(pk=offer.pk).update(
            status="approved", approved_by=supervisor, approved_at=LATER
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRequest.objects.filter(offer=offer).update(
            status="approved", decided_by=supervisor, decided_at=LATER
        )


def test_an_agent_cannot_approve(pending, other_agent):
    with pytest.raises(CompensationError) as caught:
        offer_approve(offer=pending, by=other_agent, now=LATER)
    assert caught.value.code == "forbidden"


def test_an_approval_above_the_supervisors_own_authority_is_refused(agent, ticket, supervisor):
    [offer] = request(ticket, agent, coupon("1000.01"))
    with pytest.raises(CompensationError) as caught:
        offer_approve(offer=offer, by=supervisor, now=LATER)
    assert caught.value.code == "above_authority"
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL

    [at_limit] = request(ticket, agent, coupon("1000.00"))
    assert offer_approve(offer=at_limit, by=supervisor, now=LATER).status == OfferStatus.ISSUED


def test_a_failed_issuance_leaves_the_offer_pending(agent, supervisor):
    ticket = factories.TicketFactory(shipment__order_value=Decimal("100.00"))
    [offer] = request(ticket, agent, RemedySpec(kind="partial_refund", amount=Decimal("70")))
    request(ticket, supervisor, RemedySpec(kind="partial_refund", amount=Decimal("40")))

    with pytest.raises(CompensationError) as caught:
        offer_approve(offer=offer, by=supervisor, now=LATER)

    assert caught.value.code == "refund_exceeds_order"
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING_APPROVAL
    assert ApprovalRequest.objects.get(offer=offer).status == "pending"
    assert events(ticket, "compensation_approved") == []


# --- rejection ---------------------------------------------------------------------------------


def test_a_rejection_needs_a_note(pending, supervisor):
    for note in ("", "   "):
        with pytest.raises(CompensationError) as caught:
            offer_reject(offer=pending, by=supervisor, note=note, now=LATER)
        assert (caught.value.code, caught.value.field) == ("note_required", "note")
    pending.refresh_from_db()
    assert pending.status == OfferStatus.PENDING_APPROVAL


def test_a_rejected_offers_note_is_on_the_ticket_timeline(pending, supervisor, agent, client):
    note = "Coupon too high for a 3-day delay; offer 10 EUR instead."
    offer = offer_reject(offer=pending, by=supervisor, note=note, now=LATER)

    assert offer.status == OfferStatus.REJECTED
    [rejected] = events(offer.ticket, "compensation_rejected")
    assert (rejected.actor, rejected.data["note"], rejected.is_public) == (supervisor, note, False)
    approval = ApprovalRequest.objects.get(offer=offer)
    assert (approval.status, approval.decided_by, approval.note) == ("rejected", supervisor, note)
    # The agent reads it on the ticket page.
    client.force_login(agent)
    page = client.get(reverse("tickets:ticket_detail", args=[offer.ticket.public_id]))
    assert note in page.content.decode()

    with pytest.raises(CompensationError) as again:
        offer_approve(offer=offer, by=supervisor, now=LATER)
    assert again.value.code == "already_decided"


# --- the customer's choice --------------------------------------------------------------------


@pytest.fixture
def choice(agent):
    ticket = factories.TicketFactory(shipment__order_value=Decimal("49.90"))
    return request(
        ticket,
        agent,
        RemedySpec(kind="discount_code", percent=Decimal("10")),
        RemedySpec(kind="partial_refund", amount=Decimal("15")),
        RemedySpec(kind="reship"),
    )


def test_alternatives_within_authority_are_offered_for_the_customer_to_choose(choice, sent):
    assert {offer.status for offer in choice} == {OfferStatus.OFFERED}
    assert len({offer.choice_group for offer in choice}) == 1
    assert choice[0].choice_group is not None
    assert len(events(choice[0].ticket, "compensation_offered")) == 3


def test_the_customer_s_choice_is_issued_once_and_the_others_cancelled(choice, sent):
    refund = choice[1]
    for _click in range(3):
        chosen = offer_choose(offer=refund, now=LATER)
        assert chosen.status == OfferStatus.ISSUED

    statuses = dict(CompensationOffer.objects.values_list("kind", "status"))
    assert statuses == {
        "discount_code": OfferStatus.CANCELLED,
        "partial_refund": OfferStatus.ISSUED,
        "reship": OfferStatus.CANCELLED,
    }
    assert sent == [("offer_issued", refund.pk)]
    assert len(events(refund.ticket, "compensation_accepted")) == 1
    assert len(events(refund.ticket, "compensation_issued")) == 1

    with pytest.raises(CompensationError) as other:
        offer_choose(offer=choice[0], now=LATER)
    assert other.value.code == "already_chosen"


def test_an_agent_records_a_choice_made_by_phone(choice, agent):
    offer_choose(offer=choice[0], by=agent, now=LATER)
    [accepted] = events(choice[0].ticket, "compensation_accepted")
    assert (accepted.actor, accepted.data["by_phone"]) == (agent, True)


def test_a_pending_offer_cannot_be_chosen(pending):
    with pytest.raises(CompensationError) as caught:
        offer_choose(offer=pending, now=LATER)
    assert caught.value.code == "not_offered"


def test_approving_alternatives_offers_them_all(agent, supervisor, sent):
    ticket = factories.TicketFactory()
    offers = request(ticket, agent, coupon("70"), RemedySpec(kind="reship"))
    assert {o.status for o in offers} == {OfferStatus.PENDING_APPROVAL}

    offer_approve(offer=offers[1], by=supervisor, now=LATER)

    assert set(
        CompensationOffer.objects.filter(pk__in=[o.pk for o in offers]).values_list(
            "status", flat=True
        )
    ) == {OfferStatus.OFFERED}
    assert sent == [("offer_made", offers[0].pk)]
    assert ApprovalRequest.objects.filter(status="approved").count() == 2


def test_rejecting_one_alternative_rejects_the_choice(agent, supervisor):
    offers = request(factories.TicketFactory(), agent, coupon("70"), coupon("60"))
    offer_reject(offer=offers[0], by=supervisor, note="Too much", now=LATER)
    assert set(CompensationOffer.objects.values_list("status", flat=True)) == {OfferStatus.REJECTED}


# --- budgets ----------------------------------------------------------------------------------


@pytest.fixture
def incident(db):
    incident = factories.IncidentFactory()
    Budget.objects.create(
        name="Customs hold budget",
        period_start=dt.date(2026, 12, 1),
        period_end=dt.date(2026, 12, 31),
        amount=Decimal("100.00"),
        currency="EUR",
        incident=incident,
    )
    return incident


def incident_ticket(incident):
    return factories.TicketFactory(shipment__incident=incident)


def test_an_incident_offer_beyond_its_budget_goes_to_approval(agent, incident, sent):
    first = request(incident_ticket(incident), agent, coupon("40"))
    second = request(incident_ticket(incident), agent, coupon("40"))
    third = request(incident_ticket(incident), agent, coupon("40"))  # 120 > 100
    at_the_rest = request(incident_ticket(incident), agent, coupon("20"))  # 80 + 20 = 100

    assert [o.status for o in first + second + third + at_the_rest] == [
        OfferStatus.ISSUED,
        OfferStatus.ISSUED,
        OfferStatus.PENDING_APPROVAL,
        OfferStatus.PENDING_APPROVAL,  # the pending 40 is committed: no room for 20
    ]
    [proposed] = events(third[0].ticket, "compensation_proposed")
    assert proposed.data["over_budget"] is True


def test_an_offer_records_the_incident_it_counts_against(agent, incident):
    other = factories.IncidentFactory()
    [via_shipment] = request(incident_ticket(incident), agent, coupon("5"))
    [own] = request(
        factories.TicketFactory(incident=other, shipment__incident=incident), agent, coupon("5")
    )
    [outside] = request(factories.TicketFactory(), agent, coupon("5"))
    # The ticket's own incident wins over its shipment's; no incident, none.
    assert (via_shipment.incident, own.incident, outside.incident) == (incident, other, None)
    assert CompensationOffer.objects.get(pk=own.pk).incident_id == other.pk


def test_a_ticket_joining_an_incident_later_leaves_its_earlier_offers_out_of_the_budget(
    agent, incident
):
    ticket = factories.TicketFactory()
    request(ticket, agent, coupon("40"))  # decided on their own, before the incident
    request(ticket, agent, coupon("40"))
    ticket.incident = incident
    ticket.save(update_fields=["incident"])
    [offer] = request(ticket, agent, coupon("40"))  # 40 of the 100 EUR budget, not 120
    assert offer.status == OfferStatus.ISSUED
    assert offer.incident == incident


def test_the_budget_counts_only_its_currency(agent, incident):
    request(incident_ticket(incident), agent, coupon("8000", "JPY"))
    [offer] = request(incident_ticket(incident), agent, coupon("50"))
    assert offer.status == OfferStatus.ISSUED


def test_the_systems_incident_offer_needs_room_in_the_budget(incident):
    ticket = incident_ticket(incident)
    [within] = request(ticket, None, coupon("50"))
    [beyond] = request(ticket, None, coupon("50.01"))
    assert within.status == OfferStatus.ISSUED
    assert beyond.status == OfferStatus.PENDING_APPROVAL
    assert ApprovalRequest.objects.get(offer=beyond).requested_by is None


def test_a_supervisor_may_approve_over_the_budget(agent, incident, supervisor):
    request(incident_ticket(incident), agent, coupon("50"))
    request(incident_ticket(incident), agent, coupon("50"))
    [offer] = request(incident_ticket(incident), agent, coupon("10"))
    assert offer.status == OfferStatus.PENDING_APPROVAL
    assert offer_approve(offer=offer, by=supervisor, now=LATER).status == OfferStatus.ISSUED


def test_bulk_approval_approves_the_oldest_while_the_budget_has_room(agent, incident, supervisor):
    request(incident_ticket(incident), agent, coupon("30"))  # issued: 70 left
    pending = []
    for minute, amount in enumerate(["60", "50", "30", "5"]):
        offer_request(
            ticket=incident_ticket(incident),
            by=agent,
            remedies=[coupon(amount)],
            now=NOW + dt.timedelta(minutes=minute),
        )
    pending = list(
        CompensationOffer.objects.filter(status=OfferStatus.PENDING_APPROVAL).order_by("created_at")
    )
    assert [o.amount for o in pending] == [Decimal(a) for a in ("60", "50", "30", "5")]

    result = approve_incident_offers(incident=incident, by=supervisor, now=LATER)

    # 70 left: 60 fits (10 left); 50 does not, and nothing after it in EUR jumps the queue.
    assert [o.amount for o in result.approved] == [Decimal("60.00")]
    assert result.left_pending == 3
    assert CompensationOffer.objects.filter(status=OfferStatus.ISSUED).count() == 2


def test_bulk_approval_leaves_the_supervisors_own_requests(incident, supervisor, other_supervisor):
    # Over the 100 EUR budget, so both wait although within their requesters' authority.
    [own] = request(incident_ticket(incident), supervisor, coupon("900"))
    [others] = request(incident_ticket(incident), other_supervisor, coupon("900"))
    assert own.status == others.status == OfferStatus.PENDING_APPROVAL
    Budget.objects.filter(incident=incident).update(amount=Decimal("5000"))

    result = approve_incident_offers(incident=incident, by=supervisor, now=LATER)

    assert result.approved == [others]
    assert result.left_pending == 1
    own.refresh_from_db()
    assert own.status == OfferStatus.PENDING_APPROVAL


def test_bulk_approval_without_a_budget_approves_all_within_authority(agent, supervisor):
    incident = factories.IncidentFactory()
    for amount in ("60", "70"):
        request(incident_ticket(incident), agent, coupon(amount))
    result = approve_incident_offers(incident=incident, by=supervisor, now=LATER)
    assert len(result.approved) == 2 and result.left_pending == 0


def test_bulk_approval_needs_the_permission(agent, incident):
    with pytest.raises(CompensationError) as caught:
        approve_incident_offers(incident=incident, by=agent, now=LATER)
    assert caught.value.code == "forbidden"


def test_services_module_names_the_contract():
    for name in (
        "RemedySpec",
        "offer_request",
        "offer_approve",
        "offer_reject",
        "offer_choose",
        "approve_incident_offers",
        "authority_for",
    ):
        assert hasattr(services, name)


def test_the_default_limits_are_added_per_currency_and_keep_admin_edits():
    from compensation.defaults import ensure_default_authority_limits

    agents = Group.objects.get(name=AGENT)
    AuthorityLimit.objects.filter(group=agents, currency="EUR").update(max_amount=Decimal("75"))
    AuthorityLimit.objects.filter(group=agents, currency="JPY").delete()

    ensure_default_authority_limits()

    assert AuthorityLimit.objects.get(group=agents, currency="EUR").max_amount == Decimal("75")
    assert AuthorityLimit.objects.get(group=agents, currency="JPY").max_amount == Decimal("8000")
    assert AuthorityLimit.objects.filter(group=agents).count() == 3


def test_the_timeline_names_the_remedy_of_each_step(agent, ticket, client):
    request(ticket, agent, coupon("20"))
    client.force_login(agent)
    page = client.get(reverse("tickets:ticket_detail", args=[ticket.public_id])).content.decode()
    assert "Remedy proposed: Coupon" in page
    assert "Remedy issued: Coupon" in page
