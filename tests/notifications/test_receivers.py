"""notifications hears the apps below it through their signals (docs/ARCHITECTURE.md): each
notice is written inside its cause's transaction, once, and the apps below work without it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import transaction

from compensation import signals as compensation_signals
from compensation.models import CompensationOffer
from compensation.services import RemedySpec, offer_incident_remedy, offer_request
from notifications import receivers
from notifications.models import NoticeKind, Notification
from shipments import signals as shipment_signals
from shipments.models import Shipment
from tests import factories
from tickets import signals as ticket_signals
from tickets.models import SatisfactionSurvey, Ticket, TicketStatus
from tickets.services import ticket_change_status, ticket_reply

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


class Boom(Exception):
    pass


@pytest.fixture
def without_notifications():
    """The apps below, alone: notifications' receivers disconnected for the test."""
    for signal, receiver in receivers.RECEIVERS:
        assert signal.disconnect(dispatch_uid=f"notifications.{receiver.__name__}")
    yield
    receivers.connect()


def test_every_receiver_is_connected_once():
    for signal, receiver in receivers.RECEIVERS:
        uid = f"notifications.{receiver.__name__}"
        assert [entry[0][0] for entry in signal.receivers].count(uid) == 1, uid


def test_a_reply_and_its_notice_roll_back_together(agent):
    ticket = factories.TicketFactory()
    with pytest.raises(Boom), transaction.atomic():
        ticket_reply(ticket=ticket, actor=agent, body="On its way.")
        assert Notification.objects.filter(kind=NoticeKind.TICKET_REPLY).count() == 1
        raise Boom
    assert not Notification.objects.exists()
    assert not ticket.messages.exists()


def test_a_failing_listener_rolls_the_reply_back(agent, monkeypatch):
    """Inside the transaction means all or nothing: a reply is never kept without its notice."""

    def broken(**kwargs):
        raise Boom

    monkeypatch.setattr(receivers.services, "reply_enqueue", broken)
    ticket = factories.TicketFactory()
    with pytest.raises(Boom):
        ticket_reply(ticket=ticket, actor=agent, body="On its way.")
    assert not ticket.messages.exists()


def test_tickets_work_without_notifications(agent, without_notifications):
    ticket = factories.TicketFactory(status=TicketStatus.OPEN)
    ticket_reply(ticket=ticket, actor=agent, body="On its way.")
    ticket_change_status(ticket=Ticket.objects.get(pk=ticket.pk), actor=agent, status="solved")

    assert ticket.messages.count() == 1
    # The survey is the ticket's own fact; only its notice belongs to notifications.
    assert SatisfactionSurvey.objects.filter(ticket=ticket).exists()
    assert not Notification.objects.exists()


def test_solving_twice_sends_only_the_latest_resolutions_survey(agent):
    ticket = factories.TicketFactory(status=TicketStatus.OPEN)
    ticket_change_status(ticket=ticket, actor=agent, status="solved")
    ticket_change_status(ticket=Ticket.objects.get(pk=ticket.pk), actor=agent, status="open")
    ticket_change_status(ticket=Ticket.objects.get(pk=ticket.pk), actor=agent, status="solved")

    # One survey notice per resolution; the older one, not sent yet, is replaced.
    notices = Notification.objects.filter(kind=NoticeKind.SURVEY, ticket=ticket).order_by("pk")
    assert [n.status for n in notices] == ["suppressed", "pending"]
    assert "solved again" in notices[0].suppressed_reason
    assert len({n.dedupe_key for n in notices}) == 2


def test_a_delivered_signal_twice_writes_one_notice():
    shipment = factories.ShipmentFactory(status="delivered", delivered_at=NOW, delay_level="none")
    factories.NotificationFactory(
        customer=shipment.customer, shipment=shipment, kind=NoticeKind.DELAY_NOTICE
    )
    for _ in range(2):
        with transaction.atomic():
            shipment_signals.shipment_delivered.send(
                sender=Shipment, shipment_ids=[shipment.pk], at=NOW
            )
    assert Notification.objects.filter(kind=NoticeKind.DELIVERED).count() == 1


def test_a_rise_recorded_in_a_rolled_back_pass_tells_nobody():
    shipment = factories.ShipmentFactory(delay_level="none")
    with pytest.raises(Boom), transaction.atomic():
        shipment_signals.shipment_delay_recorded.send(
            sender=Shipment,
            changes=[(shipment.pk, "none", "red", "congestion")],
            detected_at=NOW,
        )
        assert Notification.objects.filter(kind=NoticeKind.DELAY_NOTICE).count() == 1
        raise Boom
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("signal", "kind"),
    [
        (compensation_signals.offer_made, NoticeKind.REMEDY_OFFERED),
        (compensation_signals.offer_issued, NoticeKind.REMEDY_ISSUED),
    ],
)
def test_an_offer_signal_queues_its_remedy_notice_once(signal, kind):
    offer = factories.CompensationOfferFactory(issued_reference="CPN-42")
    for _ in range(2):
        with transaction.atomic():
            signal.send(sender=CompensationOffer, offer=offer, at=NOW)

    notice = Notification.objects.get(kind=kind)
    assert notice.dedupe_key == f"{kind}:{offer.pk}"
    assert notice.ticket_id == offer.ticket_id
    assert "20.00 EUR" in notice.context["remedy"]


def test_the_ticket_signals_say_when_they_are_sent():
    for name in ("ticket_replied", "ticket_solved"):
        assert re.search(rf"^{name}\s+inside the transaction", ticket_signals.__doc__, re.M)
    for name in ("ticket_opened", "survey_answered"):
        assert re.search(rf"^{name}\s+on commit", ticket_signals.__doc__, re.M)


def test_a_bulk_offer_tells_each_customer_once_in_their_language():
    incident = factories.IncidentFactory()
    english = factories.TicketFactory(shipment__incident=incident, customer__language="en")
    chinese = factories.TicketFactory(shipment__incident=incident, customer__language="zh-hans")
    ten_percent = [RemedySpec(kind="discount_code", percent=Decimal("10"))]

    result = offer_incident_remedy(incident=incident, remedies=ten_percent, now=NOW)
    again = offer_incident_remedy(incident=incident, remedies=ten_percent, now=NOW)

    assert (result.offers, again.offers) == (2, 0)
    notices = {n.ticket_id: n for n in Notification.objects.filter(kind=NoticeKind.REMEDY_OFFERED)}
    assert set(notices) == {english.pk, chinese.pk}
    assert notices[english.pk].context["remedy"] == "a discount code for 10% off"
    assert notices[english.pk].language == "en"
    assert notices[chinese.pk].context["remedy"] != notices[english.pk].context["remedy"]
    offer = CompensationOffer.objects.get(ticket=english)
    assert notices[english.pk].dedupe_key == f"remedy_offered:{offer.pk}"
    assert notices[english.pk].shipment_id == english.shipment_id


def test_a_choice_is_told_in_one_notice_with_every_alternative(agent):
    ticket = factories.TicketFactory(shipment__order_value=Decimal("40.00"))
    offer_request(
        ticket=ticket,
        by=agent,
        remedies=[
            RemedySpec(kind="discount_code", percent=Decimal("10")),
            RemedySpec(kind="reship"),
        ],
        reason="Parcel stuck at customs",
        now=NOW,
    )

    notice = Notification.objects.get(kind=NoticeKind.REMEDY_OFFERED)
    assert notice.context["remedy"] == (
        "a discount code for 10% off or a free replacement shipment"
    )
