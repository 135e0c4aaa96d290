"""Issuance (compensation.issuance): what each kind of remedy does once it is issued."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from compensation import issuance, services, signals
from compensation.errors import CompensationError
from compensation.models import (
    CompensationOffer,
    IssuedCode,
    LoyaltyEntry,
    RefundEntry,
    Reshipment,
    SeniorCall,
)
from notifications.models import Notification
from shipments.models import Shipment
from tests import factories
from tickets.models import SLATarget, SLATimer, Ticket, TicketEvent
from tickets.services import ticket_meet_milestone
from tickets.sla import timers as sla

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
CODE_FORMAT = re.compile(
    r"^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}(-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}){3}$"
)


def make_offer(kind: str, ticket: Ticket | None = None, **fields) -> CompensationOffer:
    fields.setdefault("amount", None)
    fields.setdefault("status", CompensationOffer.Status.APPROVED)
    if fields["status"] == CompensationOffer.Status.APPROVED:
        fields.setdefault("approved_by", factories.SupervisorFactory())
        fields.setdefault("approved_at", NOW)
    if ticket is not None:
        fields["ticket"] = ticket
    return factories.CompensationOfferFactory(kind=kind, **fields)


def issue(offer: CompensationOffer, *, now: dt.datetime = NOW) -> CompensationOffer:
    """As the services call it: inside a transaction, the offer row locked."""
    with transaction.atomic():
        locked = CompensationOffer.objects.select_for_update().get(pk=offer.pk)
        issuance.issue(locked, now=now)
    return locked


def every_stored_text() -> str:
    """Every text column of the issued codes, offers, notices-free tables (the admin's sources)."""
    rows = list(IssuedCode.objects.values()) + list(CompensationOffer.objects.values())
    return repr(rows)


# ---- Codes --------------------------------------------------------------------------------------


def test_a_coupon_gets_a_grouped_code_stored_only_as_a_hash_and_its_last_4():
    offer = issue(make_offer("coupon", amount=Decimal("10.00")))

    code = offer.code_for_notice
    assert CODE_FORMAT.match(code)
    row = IssuedCode.objects.get(offer=offer)
    plain = code.replace("-", "")
    assert row.code_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert row.last4 == plain[-4:]
    assert row.customer_id == offer.customer_id
    assert offer.status == "issued" and offer.issued_at == NOW
    assert offer.issued_reference == f"CPN-****-****-****-{plain[-4:]}"
    # Neither the code nor its first 12 symbols is in any stored column.
    stored = every_stored_text()
    assert code not in stored and plain not in stored and plain[:12] not in stored
    saved = CompensationOffer.objects.get(pk=offer.pk)
    assert saved.status == "issued"
    assert saved.issued_reference == offer.issued_reference


def test_each_code_kind_has_its_prefix():
    discount = issue(make_offer("discount_code", percent=Decimal("15")))
    shipping = issue(make_offer("free_shipping"))

    assert discount.issued_reference.startswith("DSC-****-")
    assert shipping.issued_reference.startswith("FSH-****-")
    assert IssuedCode.objects.count() == 2


def test_codes_are_unique_and_random():
    codes = {issue(make_offer("coupon", amount=Decimal("5.00"))).code_for_notice for _ in range(40)}

    assert len(codes) == 40
    assert IssuedCode.objects.values("code_hash").distinct().count() == 40
    # Not a counter: the codes share no common prefix of 4 symbols.
    assert len({code[:4] for code in codes}) > 30


def test_a_code_is_found_again_from_what_the_customer_types():
    offer = issue(make_offer("coupon", amount=Decimal("5.00")))
    code = offer.code_for_notice

    assert issuance.find_code(code).offer_id == offer.pk
    assert issuance.find_code(code.lower().replace("-", " ")).offer_id == offer.pk
    wrong = ("2" if code[0] != "2" else "3") + code[1:]
    assert issuance.find_code(wrong) is None
    assert issuance.find_code(code[:-1]) is None


def test_the_customer_reads_the_code_in_the_issued_notice_only():
    offer = issue(make_offer("coupon", amount=Decimal("10.00")))
    code = offer.code_for_notice

    signals.offer_issued.send(sender=CompensationOffer, offer=offer, at=NOW)

    notice = Notification.objects.get(dedupe_key=f"remedy_issued:{offer.pk}")
    assert code in notice.context["remedy"]
    assert offer.issued_reference not in notice.context["remedy"]


def test_a_code_given_with_the_signal_is_the_one_the_notice_shows():
    offer = issue(make_offer("coupon", amount=Decimal("10.00")))
    fresh = CompensationOffer.objects.get(pk=offer.pk)  # no code on this instance

    signals.offer_issued.send(
        sender=CompensationOffer, offer=fresh, at=NOW, code=offer.code_for_notice
    )

    notice = Notification.objects.get(dedupe_key=f"remedy_issued:{offer.pk}")
    assert offer.code_for_notice in notice.context["remedy"]


def test_the_admin_list_of_codes_shows_only_masked_codes(admin_client):
    offers = [issue(make_offer("coupon", amount=Decimal("10.00"))) for _ in range(3)]

    body = admin_client.get(reverse("admin:compensation_issuedcode_changelist")).content.decode()

    for offer in offers:
        code = offer.code_for_notice
        assert code not in body and code.replace("-", "")[:12] not in body
        assert f"****-{code[-4:]}" in body
    row = IssuedCode.objects.get(offer=offers[0])
    page = admin_client.get(reverse("admin:compensation_issuedcode_change", args=[row.pk]))
    assert offers[0].code_for_notice not in page.content.decode()


# ---- Refunds ------------------------------------------------------------------------------------


@pytest.fixture
def order_ticket():
    shipment = factories.ShipmentFactory(order_value=Decimal("100.00"), currency="EUR")
    return factories.TicketFactory(shipment=shipment, customer=shipment.customer)


def test_partial_refunds_build_the_orders_ledger(order_ticket):
    first = issue(make_offer("partial_refund", order_ticket, amount=Decimal("30.00")))
    second = issue(make_offer("cash", order_ticket, amount=Decimal("20.00")))

    entries = list(RefundEntry.objects.order_by("sequence"))
    assert [(e.sequence, e.amount, e.refunded_total) for e in entries] == [
        (1, Decimal("30.00"), Decimal("30.00")),
        (2, Decimal("20.00"), Decimal("50.00")),
    ]
    assert {e.shipment_id for e in entries} == {order_ticket.shipment_id}
    assert entries[0].order_number == order_ticket.shipment.order_number
    assert entries[0].order_value == Decimal("100.00")
    assert issuance.refunded_total(order_ticket.shipment) == Decimal("50.00")
    assert first.issued_reference == f"RFD-1-{order_ticket.shipment.order_number}"
    assert second.issued_reference == f"RFD-2-{order_ticket.shipment.order_number}"


def test_a_refund_above_what_is_left_is_refused_and_leaves_nothing(order_ticket):
    issue(make_offer("partial_refund", order_ticket, amount=Decimal("80.00")))
    over = make_offer("partial_refund", order_ticket, amount=Decimal("20.01"))

    with pytest.raises(CompensationError) as refused:
        issue(over)

    assert refused.value.code == "refund_exceeds_order"
    assert refused.value.field == "amount"
    assert "20.00" in str(refused.value.message)  # what is left
    assert RefundEntry.objects.count() == 1
    over.refresh_from_db()
    assert over.status == "approved" and over.issued_at is None and over.issued_reference == ""


def test_exactly_the_rest_of_the_order_may_be_refunded(order_ticket):
    issue(make_offer("partial_refund", order_ticket, amount=Decimal("80.00")))
    issue(make_offer("partial_refund", order_ticket, amount=Decimal("20.00")))

    assert issuance.refunded_total(order_ticket.shipment) == Decimal("100.00")


def test_a_full_refund_refunds_what_is_left_of_the_order(order_ticket):
    issue(make_offer("partial_refund", order_ticket, amount=Decimal("30.00")))
    full = issue(make_offer("full_refund", order_ticket, amount=Decimal("100.00")))

    entry = RefundEntry.objects.get(offer=full)
    assert entry.amount == Decimal("70.00")
    assert entry.refunded_total == Decimal("100.00")
    assert CompensationOffer.objects.get(pk=full.pk).amount == Decimal("70.00")

    again = make_offer("full_refund", order_ticket, amount=Decimal("100.00"))
    with pytest.raises(CompensationError) as refused:
        issue(again)
    assert refused.value.code == "refund_exceeds_order"


def test_a_refund_in_another_currency_than_the_order_is_refused(order_ticket):
    offer = make_offer("partial_refund", order_ticket, amount=Decimal("10.00"), currency="CNY")

    with pytest.raises(CompensationError) as refused:
        issue(offer)

    assert refused.value.code == "currency_mismatch"
    assert refused.value.field == "currency"
    assert not RefundEntry.objects.exists()


def test_a_yen_refund_is_rounded_to_whole_yen():
    shipment = factories.ShipmentFactory(order_value=Decimal("5000"), currency="JPY")
    ticket = factories.TicketFactory(shipment=shipment, customer=shipment.customer)

    issue(make_offer("partial_refund", ticket, amount=Decimal("1234.40"), currency="JPY"))

    assert RefundEntry.objects.get().amount == Decimal("1234")


def test_a_refund_without_an_order_is_refused():
    ticket = factories.TicketFactory(shipment=None)

    with pytest.raises(CompensationError) as refused:
        issue(make_offer("partial_refund", ticket, amount=Decimal("5.00")))

    assert refused.value.code == "no_order"


def test_the_database_refuses_a_ledger_entry_above_the_order_value(order_ticket):
    shipment = order_ticket.shipment
    entry = {
        "shipment": shipment,
        "order_number": shipment.order_number,
        "currency": "EUR",
        "order_value": Decimal("100.00"),
        "created_at": NOW,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundEntry.objects.create(
            offer=make_offer("partial_refund", order_ticket, amount=Decimal("1")),
            sequence=1,
            amount=Decimal("101.00"),
            refunded_total=Decimal("101.00"),
            **entry,
        )
    RefundEntry.objects.create(
        offer=make_offer("partial_refund", order_ticket, amount=Decimal("1")),
        sequence=1,
        amount=Decimal("60.00"),
        refunded_total=Decimal("60.00"),
        **entry,
    )
    # A second writer that read the same ledger (no lock) collides on the sequence.
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundEntry.objects.create(
            offer=make_offer("partial_refund", order_ticket, amount=Decimal("1")),
            sequence=1,
            amount=Decimal("60.00"),
            refunded_total=Decimal("60.00"),
            **entry,
        )


def test_issuing_twice_is_refused(order_ticket):
    offer = issue(make_offer("partial_refund", order_ticket, amount=Decimal("10.00")))

    with pytest.raises(CompensationError) as refused:
        issue(offer)

    assert refused.value.code == "already_issued"
    assert RefundEntry.objects.count() == 1


# ---- Loyalty points -----------------------------------------------------------------------------


def test_loyalty_points_go_to_the_customers_ledger():
    customer = factories.CustomerFactory()
    other = factories.CustomerFactory()
    ticket = factories.TicketFactory(customer=customer)
    first = issue(make_offer("loyalty_points", ticket, points=500))
    issue(make_offer("loyalty_points", ticket, points=250))
    issue(make_offer("loyalty_points", factories.TicketFactory(customer=other), points=100))

    assert issuance.loyalty_balance(customer) == 750
    assert issuance.loyalty_balance(other) == 100
    assert LoyaltyEntry.objects.filter(customer=customer).count() == 2
    entry = LoyaltyEntry.objects.get(offer=first)
    assert first.issued_reference == f"PTS-{entry.pk}"
    LoyaltyEntry.objects.create(customer=customer, points=-300, created_at=NOW)
    assert issuance.loyalty_balance(customer) == 450


def test_a_points_remedy_without_points_is_refused():
    with pytest.raises(CompensationError) as refused:
        issue(make_offer("loyalty_points", points=None))

    assert refused.value.code == "no_points"
    assert not LoyaltyEntry.objects.exists()


# ---- Reships ------------------------------------------------------------------------------------


def test_a_reship_creates_a_linked_new_shipment_of_the_same_order(order_ticket):
    original = order_ticket.shipment
    offer = issue(make_offer("reship", order_ticket))

    link = Reshipment.objects.get(offer=offer)
    new = link.shipment
    assert link.original == original and not link.expedited
    assert new.pk != original.pk
    assert new.tracking_number == f"{original.tracking_number}-R1"
    assert offer.issued_reference == new.tracking_number
    assert (new.order_number, new.customer_id, new.carrier_id, new.lane_id) == (
        original.order_number,
        original.customer_id,
        original.carrier_id,
        original.lane_id,
    )
    assert (new.origin_region, new.destination_region) == (
        original.origin_region,
        original.destination_region,
    )
    assert new.status == "info_received"
    assert new.service_level == original.service_level
    assert new.delivered_at is None and new.incident_id is None
    # A new promise from now: the lane's 90th percentile transit (180 h in the factory).
    assert new.promised_at == NOW + dt.timedelta(hours=180)

    second = issue(make_offer("reship", order_ticket))
    assert second.issued_reference == f"{original.tracking_number}-R2"
    assert Shipment.objects.filter(order_number=original.order_number).count() == 3


def test_an_expedited_reship_goes_express_on_the_routes_express_lane(order_ticket):
    original = order_ticket.shipment
    express = factories.LaneFactory(
        carrier=original.carrier,
        origin_region=original.origin_region,
        destination_region=original.destination_region,
        service_level="express",
    )

    offer = issue(make_offer("expedited_reship", order_ticket))

    link = Reshipment.objects.select_related("shipment").get(offer=offer)
    assert link.expedited
    assert link.shipment.service_level == "express"
    assert link.shipment.lane == express


def test_refunds_of_a_reshipped_order_go_to_the_original_orders_ledger(order_ticket):
    reship = issue(make_offer("reship", order_ticket))
    new = Reshipment.objects.get(offer=reship).shipment
    ticket_on_new = factories.TicketFactory(shipment=new, customer=new.customer)

    issue(make_offer("partial_refund", order_ticket, amount=Decimal("60.00")))
    with pytest.raises(CompensationError):
        issue(make_offer("partial_refund", ticket_on_new, amount=Decimal("60.00")))
    issue(make_offer("partial_refund", ticket_on_new, amount=Decimal("40.00")))

    assert set(RefundEntry.objects.values_list("shipment_id", flat=True)) == {
        order_ticket.shipment_id
    }
    assert issuance.refunded_total(new) == Decimal("100.00")


# ---- Senior call --------------------------------------------------------------------------------


@pytest.fixture
def team():
    return factories.TeamFactory()


def team_agent(team, *, senior: bool):
    user = factories.AgentFactory()
    factories.AgentProfileFactory(user=user, team=team, is_senior=senior)
    return user


def test_a_senior_call_starts_a_milestone_and_gives_the_ticket_to_a_senior(team):
    junior = team_agent(team, senior=False)
    senior = team_agent(team, senior=True)
    ticket = factories.TicketFactory(team=team, assignee=junior)

    offer = issue(make_offer("senior_call", ticket))

    timer = SLATimer.objects.get(ticket=ticket, name=issuance.SENIOR_CALL_MILESTONE)
    assert timer.kind == "milestone" and timer.met_by == "manual"
    assert timer.status == "active"
    assert timer.started_at == NOW
    assert timer.due_at == NOW + issuance.SENIOR_CALL_WITHIN
    call = SeniorCall.objects.get(offer=offer)
    assert (call.ticket, call.timer, call.senior, call.due_at) == (
        ticket,
        timer,
        senior,
        timer.due_at,
    )
    assert offer.issued_reference == f"CALL-{call.pk}"
    ticket.refresh_from_db()
    assert ticket.assignee == senior
    assert TicketEvent.objects.filter(ticket=ticket, kind="assigned", actor=None).exists()


def test_a_senior_who_has_the_ticket_keeps_it(team):
    senior = team_agent(team, senior=True)
    team_agent(team, senior=True)  # less loaded, but the ticket is already with a senior
    ticket = factories.TicketFactory(team=team, assignee=senior)

    offer = issue(make_offer("senior_call", ticket))

    assert SeniorCall.objects.get(offer=offer).senior == senior
    ticket.refresh_from_db()
    assert ticket.assignee == senior
    assert not TicketEvent.objects.filter(ticket=ticket, kind="assigned").exists()


def test_with_no_senior_free_the_call_still_has_its_milestone(team):
    junior = team_agent(team, senior=False)
    ticket = factories.TicketFactory(team=team, assignee=junior)

    offer = issue(make_offer("senior_call", ticket))

    call = SeniorCall.objects.get(offer=offer)
    assert call.senior is None and call.timer is not None
    ticket.refresh_from_db()
    assert ticket.assignee == junior


def test_the_policys_senior_call_milestone_sets_its_time(team):
    policy = factories.SLAPolicyFactory()
    target = SLATarget.objects.create(
        policy=policy,
        kind="milestone",
        name=issuance.SENIOR_CALL_MILESTONE,
        label="Call from a senior",
        minutes=90,
        met_by="manual",
    )
    ticket = factories.TicketFactory(team=team, sla_policy=policy)

    issue(make_offer("senior_call", ticket))

    timer = SLATimer.objects.get(ticket=ticket, name=issuance.SENIOR_CALL_MILESTONE)
    assert timer.target == target
    assert timer.due_at == NOW + dt.timedelta(minutes=90)


def test_a_policy_change_leaves_the_senior_call_running(team):
    old_policy, new_policy = factories.SLAPolicyFactory(), factories.SLAPolicyFactory()
    ticket = factories.TicketFactory(team=team, sla_policy=old_policy)
    timer = SeniorCall.objects.get(offer=issue(make_offer("senior_call", ticket))).timer

    ticket.sla_policy = new_policy  # neither policy names a senior call
    ticket.save(update_fields=["sla_policy"])
    later = NOW + dt.timedelta(hours=1)
    sla.recompute(ticket, at=later, clocks=sla.Clocks(ticket, at=later))

    timer.refresh_from_db()
    assert timer.status == "active"
    assert timer.due_at == NOW + issuance.SENIOR_CALL_WITHIN


def test_the_senior_call_milestone_is_met_when_the_agent_marks_it_done(team):
    senior = team_agent(team, senior=True)
    ticket = factories.TicketFactory(team=team)
    offer = issue(make_offer("senior_call", ticket))
    timer = SeniorCall.objects.get(offer=offer).timer

    ticket_meet_milestone(
        ticket=ticket, actor=senior, timer_id=timer.pk, now=NOW + dt.timedelta(hours=1)
    )

    timer.refresh_from_db()
    assert timer.status == "met"
    assert TicketEvent.objects.filter(
        ticket=ticket, kind="milestone_met", data__name=issuance.SENIOR_CALL_MILESTONE
    ).exists()


def test_a_second_senior_call_shares_the_running_milestone(team):
    ticket = factories.TicketFactory(team=team)
    first = issue(make_offer("senior_call", ticket))
    second = issue(make_offer("senior_call", ticket), now=NOW + dt.timedelta(minutes=30))

    assert SLATimer.objects.filter(ticket=ticket, kind="milestone").count() == 1
    assert SeniorCall.objects.get(offer=first).timer == SeniorCall.objects.get(offer=second).timer


def test_a_pending_tickets_senior_call_clock_starts_paused(team):
    ticket = factories.TicketFactory(team=team, status=Ticket.Status.PENDING)

    offer = issue(make_offer("senior_call", ticket))

    timer = SeniorCall.objects.get(offer=offer).timer
    assert timer.status == "paused"
    assert timer.remaining_seconds == int(issuance.SENIOR_CALL_WITHIN.total_seconds())


# ---- Recorded remedies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "prefix"), [("gift", "GFT-"), ("upgrade", "UPG-"), ("priority_shipping", "PRI-")]
)
def test_gifts_upgrades_and_priority_shipping_are_recorded(kind, prefix):
    offer = issue(make_offer(kind))

    saved = CompensationOffer.objects.get(pk=offer.pk)
    assert saved.status == "issued" and saved.issued_at == NOW
    assert saved.issued_reference == prefix + offer.public_id.hex[:10].upper()
    assert not (
        IssuedCode.objects.exists()
        or RefundEntry.objects.exists()
        or LoyaltyEntry.objects.exists()
        or Reshipment.objects.exists()
        or SeniorCall.objects.exists()
    )


def test_issuance_queries_do_not_depend_on_the_ledger_size(
    order_ticket, django_assert_max_num_queries
):
    issue(make_offer("partial_refund", order_ticket, amount=Decimal("1.00")))
    offer = make_offer("partial_refund", order_ticket, amount=Decimal("1.00"))
    with django_assert_max_num_queries(12):
        issue(offer)
    assert issuance.refunded_total(order_ticket.shipment) == Decimal("2.00")


# ---- Through the compensation services ----------------------------------------------------------


def test_a_coupon_requested_within_authority_reaches_the_customer_with_its_code(agent):
    ticket = factories.TicketFactory(assignee=agent)

    [offer] = services.offer_request(
        ticket=ticket,
        by=agent,
        remedies=[services.RemedySpec(kind="coupon", amount=Decimal("10.00"))],
        now=NOW,
    )

    assert offer.status == "issued"
    code = offer.code_for_notice
    notice = Notification.objects.get(dedupe_key=f"remedy_issued:{offer.pk}")
    assert code in notice.context["remedy"]
    # The ticket's timeline names the masked reference, never the code.
    event = TicketEvent.objects.get(ticket=ticket, kind="compensation_issued")
    assert event.data["reference"] == offer.issued_reference
    assert code not in repr(event.data)
    assert IssuedCode.objects.get(offer=offer).code_hash == issuance.hash_code(code)


def test_issuing_moves_the_offers_version():
    offer = make_offer("gift")
    before = offer.version

    issued = issue(offer)

    assert CompensationOffer.objects.get(pk=issued.pk).version == before + 1
