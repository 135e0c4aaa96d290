"""Issuing a remedy: what each kind of remedy does once it goes out (issue 13).

`issue(offer, now=...)` is called by the compensation services (`compensation.services`) inside
their transaction, with the offer row locked. It marks the offer ISSUED (`issued_at`,
`issued_reference`) and does the kind's effect, all in one savepoint: a refused refund leaves
nothing behind.

- coupon, percentage discount code, free-shipping coupon: a code of 16 characters drawn with
  `secrets` from an alphabet without look-alikes (no 0/O, 1/I), in groups of 4 (80 random
  bits). Only its SHA-256 hash and last 4 characters are stored (`IssuedCode`); the reference
  is masked ("CPN-****-****-****-7KQX"). The code itself is handed to the customer's notice on
  the offer instance (`offer.code_for_notice`, a plain attribute, never saved), which the
  `offer_issued` receiver of `notifications` reads; nothing else ever sees it again.
- partial refund, full refund, fixed cash amount: an entry in the order's refund ledger
  (`RefundEntry`). The order's shipment row is locked (`SELECT ... FOR NO KEY UPDATE`) while
  the refunded total is read and the entry appended, so refunds of one order queue, and a
  refund that would take the total above the order's value is refused
  (`CompensationError(code="refund_exceeds_order", field="amount")`). The database checks it
  too: each entry carries the running total (never above the order value) and a sequence
  number unique per order. A full refund refunds what is left of the order.
- loyalty points: an entry in the customer's points ledger (`LoyaltyEntry`); the balance is the
  sum (`loyalty_balance`).
- reship, expedited reshipment: a new shipment of the same order, customer, carrier and route,
  "information received" (the label is made), with a tracking number derived from the
  original's and a new promise (`_reship_transit`); an expedited one goes express (on the
  express lane of the route when there is one). `Reshipment` links it to the offer and to the
  original; refunds of a reshipped order still go to the original's ledger.
- senior call: a task for a senior agent, timed by an SLA milestone on the ticket
  (`SeniorCall`). The milestone is a running `SLATimer` named "Senior call", met by hand (the
  agent marks it done on the ticket page after the call). When the ticket's SLA policy has a
  milestone target of that name, its minutes and clock apply and a policy change keeps it;
  otherwise the timer runs `SENIOR_CALL_WITHIN` on the 24/7 clock, without a target, and a
  later policy change leaves it running (tickets.sla.timers.recompute: a milestone no policy set
  is not a policy's to cancel). The ticket goes to a senior agent of
  its team (the least loaded one free, as for VIP tickets) unless a senior already has it; with
  no senior free it stays where it is and the milestone shows the due time to the team.
- small gift, upgrade, priority shipping on the next order: recorded (a reference), nothing to
  move here; the shop fulfils them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from compensation import money
from compensation.errors import CompensationError
from compensation.models import (
    CompensationOffer,
    IssuedCode,
    LoyaltyEntry,
    RefundEntry,
    RemedyKind,
    Reshipment,
    SeniorCall,
)
from customers.models import Customer
from shipments.models import Lane, ServiceLevel, Shipment, ShipmentStatus
from tickets import routing
from tickets import services as ticket_services
from tickets.models import MilestoneTrigger, SLATarget, SLATimer, Ticket, TimerKind, TimerStatus
from tickets.sla import timers as sla

# --- codes ----------------------------------------------------------------------------------

# 32 symbols (5 bits each) without look-alikes: no 0/O, no 1/I.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 16
CODE_GROUP = 4
CODE_KINDS = (RemedyKind.COUPON, RemedyKind.DISCOUNT_CODE, RemedyKind.FREE_SHIPPING)
CODE_PREFIX = {
    RemedyKind.COUPON: "CPN",
    RemedyKind.DISCOUNT_CODE: "DSC",
    RemedyKind.FREE_SHIPPING: "FSH",
}
# What a customer may type for the look-alikes we left out.
_READ_AS = str.maketrans({"0": "O", "1": "I"})

REFUND_KINDS = (RemedyKind.PARTIAL_REFUND, RemedyKind.FULL_REFUND, RemedyKind.CASH)
RESHIP_KINDS = (RemedyKind.RESHIP, RemedyKind.EXPEDITED_RESHIP)
RECORDED_KINDS = (RemedyKind.GIFT, RemedyKind.UPGRADE, RemedyKind.PRIORITY_SHIPPING)
RECORDED_PREFIX = {
    RemedyKind.GIFT: "GFT",
    RemedyKind.UPGRADE: "UPG",
    RemedyKind.PRIORITY_SHIPPING: "PRI",
}

DEFAULT_RESHIP_TRANSIT = dt.timedelta(days=7)

SENIOR_CALL_MILESTONE = "Senior call"
SENIOR_CALL_WITHIN = dt.timedelta(hours=4)

REFUND_EXCEEDS_ORDER = _(
    "This refund would take the refunds of order %(order)s to %(total)s, above its value of "
    "%(value)s. At most %(left)s is left to refund."
)
NOTHING_LEFT_TO_REFUND = _("Order %(order)s is already refunded in full.")
NO_ORDER = _("This ticket has no shipment, so there is no order to refund or reship.")
CURRENCY_MISMATCH = _(
    "Order %(order)s was paid in %(order_currency)s; a refund of it must be in that currency, "
    "not %(currency)s."
)
ALREADY_ISSUED = _("This remedy was already issued.")
NO_POINTS = _("A loyalty points remedy needs a number of points.")


def new_code() -> str:
    """A fresh code, e.g. "7KQX-M2PA-…": 16 symbols of `CODE_ALPHABET` in groups of 4."""
    return grouped_code("".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH)))


def grouped_code(symbols: str) -> str:
    """`CODE_LENGTH` symbols as a customer reads them: in groups of `CODE_GROUP`, with dashes."""
    return "-".join(symbols[i : i + CODE_GROUP] for i in range(0, len(symbols), CODE_GROUP))


def recorded_reference(offer: CompensationOffer) -> str:
    """The reference of a remedy the shop fulfils (a gift, an upgrade, priority shipping)."""
    return f"{RECORDED_PREFIX.get(offer.kind, 'REM')}-{offer.public_id.hex[:10].upper()}"


def normalize_code(text: str) -> str:
    """The code's symbols only, upper case, look-alikes read as ours ("7kqx m2pa" -> "7KQXM2PA")."""
    return "".join(ch for ch in text.upper().translate(_READ_AS) if ch in CODE_ALPHABET)


def hash_code(text: str) -> str:
    return hashlib.sha256(normalize_code(text).encode("ascii")).hexdigest()


def find_code(text: str) -> IssuedCode | None:
    """The issued code a customer reads out or types (dashes, spaces and case do not matter)."""
    if len(normalize_code(text)) != CODE_LENGTH:
        return None
    return IssuedCode.objects.select_related("offer").filter(code_hash=hash_code(text)).first()


def masked_reference(kind: str, last4: str) -> str:
    hidden = "-".join(["****"] * (CODE_LENGTH // CODE_GROUP - 1))
    return f"{CODE_PREFIX[kind]}-{hidden}-{last4}"


# --- ledgers --------------------------------------------------------------------------------


def order_shipment_id(shipment_id: int) -> int:
    """The shipment whose order a refund goes to: the original of a reship (of a reship ...)."""
    seen = {shipment_id}
    while True:
        original = (
            Reshipment.objects.filter(shipment_id=shipment_id)
            .values_list("original_id", flat=True)
            .first()
        )
        if original is None or original in seen:
            return shipment_id
        seen.add(original)
        shipment_id = original


def refunded_total(shipment: Shipment | int) -> Decimal:
    """What the order of this shipment has been refunded so far (in the order's currency)."""
    pk = shipment.pk if isinstance(shipment, Shipment) else shipment
    total = RefundEntry.objects.filter(shipment_id=order_shipment_id(pk)).aggregate(
        total=Sum("amount")
    )["total"]
    return total or Decimal("0")


def loyalty_balance(customer: Customer | int) -> int:
    pk = customer.pk if isinstance(customer, Customer) else customer
    total = LoyaltyEntry.objects.filter(customer_id=pk).aggregate(total=Sum("points"))["total"]
    return total or 0


# --- issuing --------------------------------------------------------------------------------


def issue(offer: CompensationOffer, *, now: dt.datetime) -> None:
    """Issue the offer (locked by the caller, inside its transaction); see the module docstring.

    Raises `CompensationError` when the remedy cannot be issued (a refund above what is left of
    the order, a refund without an order ...); nothing of it is then written.
    """
    if offer.status == CompensationOffer.Status.ISSUED:
        raise CompensationError(ALREADY_ISSUED, code="already_issued")
    fields = ["status", "issued_at", "issued_reference", "version", "updated_at"]
    with transaction.atomic():
        kind = offer.kind
        if kind in CODE_KINDS:
            reference = _issue_code(offer, now=now)
        elif kind in REFUND_KINDS:
            reference = _issue_refund(offer, now=now)
            fields.append("amount")
        elif kind == RemedyKind.LOYALTY_POINTS:
            reference = _issue_points(offer, now=now)
        elif kind in RESHIP_KINDS:
            reference = _issue_reship(offer, now=now)
        elif kind == RemedyKind.SENIOR_CALL:
            reference = _issue_senior_call(offer, now=now)
        else:
            reference = recorded_reference(offer)
        offer.status = CompensationOffer.Status.ISSUED
        offer.issued_at = now
        offer.issued_reference = reference[:64]
        offer.version += 1  # an edit form or API client holding the old version is stale
        offer.updated_at = now
        offer.save(update_fields=fields)


def _issue_code(offer: CompensationOffer, *, now: dt.datetime) -> str:
    while True:
        code = new_code()
        digest = hash_code(code)
        # 80 random bits: a collision is practically impossible, but never two alike.
        if not IssuedCode.objects.filter(code_hash=digest).exists():
            break
    last4 = normalize_code(code)[-4:]
    IssuedCode.objects.create(
        offer=offer, customer_id=offer.customer_id, code_hash=digest, last4=last4, created_at=now
    )
    # For the customer's notice only (the offer_issued receiver); never saved.
    offer.code_for_notice = code
    return masked_reference(offer.kind, last4)


def _order_for(offer: CompensationOffer) -> Shipment:
    """The order's shipment row, locked: refunds of one order are appended one at a time."""
    shipment_id = (
        Ticket.objects.filter(pk=offer.ticket_id).values_list("shipment_id", flat=True).first()
    )
    if shipment_id is None:
        raise CompensationError(NO_ORDER, code="no_order", field="kind")
    return Shipment.objects.select_for_update(no_key=True).get(pk=order_shipment_id(shipment_id))


def _issue_refund(offer: CompensationOffer, *, now: dt.datetime) -> str:
    order = _order_for(offer)
    currency = order.currency
    if offer.currency != currency:
        raise CompensationError(
            CURRENCY_MISMATCH
            % {"order": order.order_number, "order_currency": currency, "currency": offer.currency},
            code="currency_mismatch",
            field="currency",
        )
    entries = RefundEntry.objects.filter(shipment=order)
    before = entries.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    sequence = entries.count() + 1
    value = money.quantize(order.order_value, currency)
    left = value - before
    if offer.kind == RemedyKind.FULL_REFUND:
        if left <= 0:
            raise CompensationError(
                NOTHING_LEFT_TO_REFUND % {"order": order.order_number},
                code="refund_exceeds_order",
                field="amount",
            )
        amount = left
    else:
        amount = money.quantize(offer.amount, currency)
    if amount <= 0 or before + amount > value:
        raise CompensationError(
            REFUND_EXCEEDS_ORDER
            % {
                "order": order.order_number,
                "total": money.format_money(before + amount, currency),
                "value": money.format_money(value, currency),
                "left": money.format_money(max(left, Decimal("0")), currency),
            },
            code="refund_exceeds_order",
            field="amount",
        )
    RefundEntry.objects.create(
        offer=offer,
        shipment=order,
        order_number=order.order_number,
        sequence=sequence,
        amount=amount,
        currency=currency,
        order_value=value,
        refunded_total=before + amount,
        created_at=now,
    )
    offer.amount = amount
    return f"RFD-{sequence}-{order.order_number}"


def _issue_points(offer: CompensationOffer, *, now: dt.datetime) -> str:
    if not offer.points:
        raise CompensationError(NO_POINTS, code="no_points", field="points")
    entry = LoyaltyEntry.objects.create(
        customer_id=offer.customer_id, offer=offer, points=offer.points, created_at=now
    )
    return f"PTS-{entry.pk}"


def _issue_reship(offer: CompensationOffer, *, now: dt.datetime) -> str:
    original = _order_for(offer)  # locked: the reship numbers of one order are counted once
    expedited = offer.kind == RemedyKind.EXPEDITED_RESHIP
    service_level = ServiceLevel.EXPRESS if expedited else original.service_level
    lane = original.lane
    if expedited and (lane is None or lane.service_level != ServiceLevel.EXPRESS):
        lane = Lane.objects.filter(
            carrier_id=original.carrier_id,
            origin_region=original.origin_region,
            destination_region=original.destination_region,
            service_level=ServiceLevel.EXPRESS,
        ).first()
    number = Reshipment.objects.filter(original=original).count() + 1
    promised_at = now + _reship_transit(original, lane)
    shipment = Shipment.objects.create(
        carrier_id=original.carrier_id,
        tracking_number=f"{original.tracking_number[:56]}-R{number}",
        order_number=original.order_number,
        customer_id=original.customer_id,
        lane=lane,
        service_level=service_level,
        origin_region=original.origin_region,
        destination_region=original.destination_region,
        destination_postal_code=original.destination_postal_code,
        status=ShipmentStatus.INFO_RECEIVED,
        order_value=original.order_value,
        currency=original.currency,
        ordered_at=original.ordered_at,
        promised_at=promised_at,
    )
    Reshipment.objects.create(
        offer=offer, original=original, shipment=shipment, expedited=expedited, created_at=now
    )
    return shipment.tracking_number


def _reship_transit(original: Shipment, lane: Lane | None) -> dt.timedelta:
    """How long the new parcel is promised to take: the lane's 90th percentile transit when
    known (a promise kept 9 times in 10), else the original's promised transit, else a week."""
    if lane is not None and lane.p90_transit_hours:
        return dt.timedelta(hours=lane.p90_transit_hours)
    start = original.shipped_at or original.ordered_at or original.created_at
    if start is not None and original.promised_at > start:
        return original.promised_at - start
    return DEFAULT_RESHIP_TRANSIT


def _senior_target(ticket: Ticket) -> SLATarget:
    """The policy's "Senior call" milestone target, or an unsaved one with the default time."""
    if ticket.sla_policy_id:
        target = SLATarget.objects.filter(
            policy_id=ticket.sla_policy_id,
            kind=TimerKind.MILESTONE,
            name=SENIOR_CALL_MILESTONE,
        ).first()
        if target is not None:
            return target
    return SLATarget(
        kind=TimerKind.MILESTONE,
        name=SENIOR_CALL_MILESTONE,
        minutes=int(SENIOR_CALL_WITHIN.total_seconds() // 60),
        business_hours=False,
        met_by=MilestoneTrigger.MANUAL,
    )


def _senior_milestone(ticket: Ticket, *, now: dt.datetime) -> SLATimer:
    running = (
        SLATimer.objects.filter(
            ticket=ticket,
            kind=TimerKind.MILESTONE,
            name=SENIOR_CALL_MILESTONE,
            status__in=sla.RUNNING,
        )
        .select_for_update()
        .first()
    )
    if running is not None:  # a second senior call on the ticket: the same call, same clock
        return running
    target = _senior_target(ticket)
    timer = sla.new_timer(
        ticket, target, start=now, clocks=sla.Clocks(ticket, at=now), policy=ticket.sla_policy
    )
    if target.pk is None:
        timer.target = None
    if ticket.status == Ticket.Status.PENDING:
        # Like every clock of a ticket waiting on the customer: it starts paused, whole.
        timer.status = TimerStatus.PAUSED
        timer.paused_at = now
        timer.remaining_seconds = target.minutes * 60
    timer.save()
    return timer


def _senior_for(ticket: Ticket):
    assignee = ticket.assignee if ticket.assignee_id else None
    profile = getattr(assignee, "agent_profile", None) if assignee is not None else None
    if profile is not None and profile.is_senior:
        return assignee
    return routing.choose_agent(
        team=ticket.team if ticket.team_id else None,
        category=ticket.category,
        language=ticket.customer.language,
        vip=True,  # seniors only
    )


def _issue_senior_call(offer: CompensationOffer, *, now: dt.datetime) -> str:
    Ticket.objects.select_for_update(no_key=True).only("pk").get(pk=offer.ticket_id)
    ticket = Ticket.objects.select_related(
        "customer", "team__calendar", "assignee__agent_profile", "sla_policy"
    ).get(pk=offer.ticket_id)
    timer = _senior_milestone(ticket, now=now)
    senior = _senior_for(ticket)
    if (
        senior is not None
        and senior.pk != ticket.assignee_id
        and ticket.status != Ticket.Status.CLOSED
    ):
        ticket_services.ticket_assign(ticket=ticket, actor=None, assignee=senior, now=now)
    due_at = timer.due_at
    if timer.status == TimerStatus.PAUSED and timer.remaining_seconds is not None:
        due_at = now + dt.timedelta(seconds=timer.remaining_seconds)
    call = SeniorCall.objects.create(
        offer=offer, ticket=ticket, timer=timer, senior=senior, due_at=due_at, created_at=now
    )
    return f"CALL-{call.pk}"
