"""Invariants live in the database: these writes must fail there, not only in forms."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from compensation.models import ApprovalRequest, CompensationOffer
from notifications.models import Notification
from shipments.models import DelayLevelChange, Shipment, TrackingEvent
from tests import factories
from tickets.models import Message, SatisfactionSurvey, SLATimer, Ticket, TicketEvent

pytestmark = pytest.mark.django_db


def rejected(**kwargs):
    """Assert the block's write is refused by the database (and leaves nothing behind)."""
    return pytest.raises(IntegrityError, **kwargs)


def test_a_duplicate_carrier_event_id_is_rejected_by_the_database():
    event = factories.TrackingEventFactory(carrier_event_id="EV-1")
    with rejected(), transaction.atomic():
        TrackingEvent.objects.create(
            shipment=event.shipment,
            carrier=event.carrier,
            carrier_event_id="EV-1",
            occurred_at=timezone.now(),
            carrier_code="IT",
            status="in_transit",
        )
    assert TrackingEvent.objects.filter(carrier_event_id="EV-1").count() == 1


def test_the_same_event_id_from_another_carrier_is_a_different_event():
    event = factories.TrackingEventFactory(carrier_event_id="EV-1")
    other = factories.ShipmentFactory()
    TrackingEvent.objects.create(
        shipment=other,
        carrier=other.carrier,
        carrier_event_id="EV-1",
        occurred_at=timezone.now(),
        carrier_code="IT",
        status="in_transit",
    )
    assert event.carrier != other.carrier


def test_a_tracking_number_is_unique_per_carrier():
    shipment = factories.ShipmentFactory(tracking_number="SF123")
    with rejected(), transaction.atomic():
        factories.ShipmentFactory(tracking_number="SF123", carrier=shipment.carrier)
    factories.ShipmentFactory(tracking_number="SF123")  # another carrier may reuse it


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "teleported"},
        {"delay_level": "purple"},
        {"cause": "gremlins"},
        {"status": "delivered", "delivered_at": None},
        {"delay_level": "red", "delay_detected_at": None},
        {"order_value": Decimal("-1.00")},
    ],
)
def test_shipment_states_outside_the_rules_are_rejected(changes):
    shipment = factories.ShipmentFactory()
    with rejected(), transaction.atomic():
        Shipment.objects.filter(pk=shipment.pk).update(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "lost_in_space"},
        {"priority": "whenever"},
        {"category": "weather"},
        {"source": "pigeon"},
        {"status": "solved", "solved_at": None},
    ],
)
def test_ticket_states_outside_the_rules_are_rejected(changes):
    ticket = factories.TicketFactory()
    with rejected(), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(**changes)


def test_a_shipment_gets_at_most_one_proactive_ticket():
    shipment = factories.ShipmentFactory()
    factories.TicketFactory(shipment=shipment, customer=shipment.customer, source="proactive")
    with rejected(), transaction.atomic():
        factories.TicketFactory(shipment=shipment, customer=shipment.customer, source="proactive")
    # Customers may still write about the same shipment.
    factories.TicketFactory(shipment=shipment, customer=shipment.customer, source="customer")


def test_a_proactive_ticket_needs_a_shipment():
    with rejected(), transaction.atomic():
        factories.TicketFactory(shipment=None, source="proactive")


def test_an_internal_note_is_never_a_public_message(agent):
    ticket = factories.TicketFactory()
    with rejected(), transaction.atomic():
        Message.objects.create(
            ticket=ticket, kind="note", direction="outbound", author=agent, body="between us"
        )
    with rejected(), transaction.atomic():
        TicketEvent.objects.create(
            ticket=ticket, kind="note", is_public=True, created_at=timezone.now()
        )


def test_an_agent_reply_needs_an_author():
    ticket = factories.TicketFactory()
    with rejected(), transaction.atomic():
        Message.objects.create(ticket=ticket, kind="public", direction="outbound", body="Hi")


def test_only_one_running_timer_per_target_on_a_ticket():
    timer = factories.SLATimerFactory(kind="first_response")
    with rejected(), transaction.atomic():
        factories.SLATimerFactory(ticket=timer.ticket, kind="first_response")
    SLATimer.objects.filter(pk=timer.pk).update(status="met", met_at=timezone.now())
    factories.SLATimerFactory(ticket=timer.ticket, kind="first_response")


def test_a_breached_timer_records_when():
    timer = factories.SLATimerFactory()
    with rejected(), transaction.atomic():
        SLATimer.objects.filter(pk=timer.pk).update(status="breached")


def test_compensation_amounts_are_positive_and_money_kinds_have_one():
    with rejected(), transaction.atomic():
        factories.CompensationOfferFactory(amount=Decimal("0.00"))
    with rejected(), transaction.atomic():
        factories.CompensationOfferFactory(kind="partial_refund", amount=None)
    factories.CompensationOfferFactory(kind="free_shipping", amount=None)


def test_approved_compensation_names_its_approver():
    offer = factories.CompensationOfferFactory()
    with rejected(), transaction.atomic():
        CompensationOffer.objects.filter(pk=offer.pk).update(
            status="approved", approved_at=timezone.now()
        )


def test_the_requester_never_approves_their_own_compensation(agent):
    offer = factories.CompensationOfferFactory(requested_by=agent)
    with rejected(), transaction.atomic():
        CompensationOffer.objects.filter(pk=offer.pk).update(
            status="approved", approved_by=agent, approved_at=timezone.now()
        )
    approval = factories.ApprovalRequestFactory(requested_by=agent)
    with rejected(), transaction.atomic():
        ApprovalRequest.objects.filter(pk=approval.pk).update(
            status="approved", decided_by=agent, decided_at=timezone.now()
        )


def test_an_offer_has_one_pending_approval_at_a_time(agent, supervisor):
    approval = factories.ApprovalRequestFactory(requested_by=agent)
    with rejected(), transaction.atomic():
        factories.ApprovalRequestFactory(offer=approval.offer, requested_by=agent)
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        status="rejected", decided_by=supervisor, decided_at=timezone.now()
    )
    factories.ApprovalRequestFactory(offer=approval.offer, requested_by=agent)


def test_a_notification_dedupe_key_is_sent_once():
    factories.NotificationFactory(dedupe_key="delay:abc:red")
    with rejected(), transaction.atomic():
        factories.NotificationFactory(dedupe_key="delay:abc:red")
    assert Notification.objects.count() == 1


def test_a_suppressed_notification_says_why():
    with rejected(), transaction.atomic():
        factories.NotificationFactory(status="suppressed", suppressed_reason="")
    factories.NotificationFactory(status="suppressed", suppressed_reason="quiet hours")


def test_satisfaction_ratings_are_one_to_five():
    ticket = factories.TicketFactory(status="solved", solved_at=timezone.now())
    with rejected(), transaction.atomic():
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=timezone.now(), rating=6, answered_at=timezone.now()
        )
    SatisfactionSurvey.objects.create(
        ticket=ticket, resolved_at=timezone.now(), rating=5, answered_at=timezone.now()
    )


def test_a_level_change_must_change_the_level():
    shipment = factories.ShipmentFactory()
    with rejected(), transaction.atomic():
        DelayLevelChange.objects.create(
            shipment=shipment,
            from_level="red",
            to_level="red",
            cause="weather",
            changed_at=timezone.now(),
        )


def test_customer_quiet_hours_come_in_pairs():
    with rejected(), transaction.atomic():
        factories.CustomerFactory(quiet_hours_start=dt.time(22))
    factories.CustomerFactory(quiet_hours_start=dt.time(22), quiet_hours_end=dt.time(7))


def test_a_survey_is_one_per_resolution_with_a_known_reason():
    ticket = factories.TicketFactory(status="solved", solved_at=timezone.now())
    with rejected(), transaction.atomic():
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=ticket.solved_at, reason="bored"
        )
    SatisfactionSurvey.objects.create(ticket=ticket, resolved_at=ticket.solved_at, reason="late")
    with rejected(), transaction.atomic():
        SatisfactionSurvey.objects.create(ticket=ticket, resolved_at=ticket.solved_at)
