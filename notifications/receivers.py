"""How notifications listens to the apps below it (connected in NotificationsConfig.ready()).

Every receiver here is connected to a signal sent *inside* its cause's transaction, and only
writes outbox rows: the notice commits or rolls back with its cause, and each row's dedupe key
makes a second signal for the same cause write nothing (exactly once). The apps that send these
signals never import notifications (docs/ARCHITECTURE.md).

    tickets.signals.ticket_replied               -> the reply notice
    tickets.signals.ticket_solved                -> the satisfaction survey notice
    shipments.signals.shipment_delay_recorded    -> delay and recovery notices of a pass
    shipments.signals.shipment_eta_moved         -> "new date" notices
    shipments.signals.shipment_delivered        -> delivered notices
    compensation.signals.offer_made              -> "remedy offered" notice
    compensation.signals.offer_issued            -> "remedy issued" notice
    compensation.signals.offers_made_in_bulk     -> "remedy offered" notices of a bulk offer
"""

from __future__ import annotations

from compensation import signals as compensation_signals
from notifications import proactive, services
from notifications.models import NoticeKind
from shipments import signals as shipment_signals
from tickets import signals as ticket_signals


def reply_notice(sender, *, ticket, message, body, channel, at, **kwargs) -> None:
    services.reply_enqueue(ticket=ticket, message_id=message.pk, body=body, channel=channel, now=at)


def survey_notice(sender, *, survey, at, **kwargs) -> None:
    services.survey_enqueue(survey=survey, now=at)


def delay_notices(sender, *, changes, detected_at, **kwargs) -> None:
    proactive.delay_changes_enqueue(changes=changes, now=detected_at)


def new_eta_notices(sender, *, shipment_ids, at, **kwargs) -> None:
    proactive.new_eta_enqueue(shipment_ids=shipment_ids, now=at)


def delivered_notices(sender, *, shipment_ids, at, **kwargs) -> None:
    proactive.delivered_enqueue(shipment_ids=shipment_ids, now=at)


def remedy_offered_notice(sender, *, offer, at, alternatives=(), **kwargs) -> None:
    services.remedy_enqueue(
        offer=offer, kind=NoticeKind.REMEDY_OFFERED, now=at, alternatives=alternatives
    )


def remedies_offered_in_bulk(sender, *, offer_ids, at, **kwargs) -> None:
    services.remedies_offered_enqueue(offer_ids=offer_ids, now=at)


def remedy_issued_notice(sender, *, offer, at, code: str = "", **kwargs) -> None:
    # A coupon or discount code is stored hashed (compensation.issuance): the customer reads it
    # only here, from the signal or from the issued offer instance (never a saved field).
    code = code or getattr(offer, "code_for_notice", "")
    services.remedy_enqueue(offer=offer, kind=NoticeKind.REMEDY_ISSUED, now=at, code=code)


RECEIVERS = (
    (ticket_signals.ticket_replied, reply_notice),
    (ticket_signals.ticket_solved, survey_notice),
    (shipment_signals.shipment_delay_recorded, delay_notices),
    (shipment_signals.shipment_eta_moved, new_eta_notices),
    (shipment_signals.shipment_delivered, delivered_notices),
    (compensation_signals.offer_made, remedy_offered_notice),
    (compensation_signals.offer_issued, remedy_issued_notice),
    (compensation_signals.offers_made_in_bulk, remedies_offered_in_bulk),
)


def connect() -> None:
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"notifications.{receiver.__name__}")
