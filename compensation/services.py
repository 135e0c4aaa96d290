"""The compensation engine's writes: requesting, approving, rejecting and choosing remedies.

Every function here is a service in the project's sense (docs/CONVENTIONS.md): keyword-only,
one `transaction.atomic`, the rows it changes locked (`select_for_update`), the state it leaves
checked (a second click is harmless or refused with a clear message), a ticket timeline event
for each step (tickets.services.record_event) and the customer told through
`compensation.signals` *inside* the transaction (the outbox row commits or rolls back with it).
Refusals are `CompensationError(message, code=..., field=...)` with the constant messages below.

The flow of an offer:

    offer_request -> within authority and budget -> one remedy: ISSUED (issuance.issue)
                                                 -> 2-3 alternatives: OFFERED, the customer
                                                    chooses (offer_choose): one ISSUED, the
                                                    others CANCELLED
                  -> otherwise PENDING_APPROVAL (+ ApprovalRequest)
                       -> offer_approve (another supervisor, within their own authority):
                          APPROVED, then out as above
                       -> offer_reject (with a note): REJECTED; the agent reads the note on
                          the ticket's timeline

Authority (`authority_for`): a limit per currency for each role group and optionally for one
user (compensation.models.AuthorityLimit); the user's own limit wins, else the highest of their
groups'. An offer is within it when every alternative is: its money (amount; a reship without
an amount costs the order's value) at most `max_amount` in that currency, a discount's percent
at most `max_percent`, points at most `max_points`. A limit is inclusive: exactly at the limit
goes out, one minor unit above waits. An offer the system makes (`by=None`: an incident's bulk
offer, a proactive one) has the agent group's authority, the lowest.

Budgets (compensation.budgets): an offer for an incident goes out only while the incident's
budget in its currency has room for it (remaining >= its money, every alternative counted);
otherwise it waits for a supervisor, who may approve it over the budget consciously.

An incident's bulk offer (`offer_incident_remedy`): one offer per open ticket of the incident,
routed as a whole, written set-based, idempotent (a re-run adds nothing); see its docstring.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compensation import budgets, issuance, money
from compensation.errors import CompensationError
from compensation.models import (
    MONEY_KINDS,
    ApprovalRequest,
    ApprovalStatus,
    AuthorityLimit,
    Budget,
    CompensationOffer,
    CompensationPolicy,
    OfferStatus,
    RemedyKind,
)
from compensation.signals import offer_issued, offer_made, offers_made_in_bulk
from core import audit
from core.models import AuditAction, choice_values
from core.roles import AGENT
from shipments.models import Incident, Shipment
from tickets.models import Ticket, TicketEvent
from tickets.services import record_event

REQUEST_PERMISSION = "compensation.add_compensationoffer"
APPROVE_PERMISSION = "compensation.approve_compensationoffer"

MAX_ALTERNATIVES = 3
MAX_TEXT_LENGTH = 2000
MAX_POINTS = 1_000_000
# The money columns: DecimalField(max_digits=12, decimal_places=2).
MAX_AMOUNT = Decimal("9999999999.99")
HUNDRED = Decimal(100)

# Kinds whose value is a percentage off the next order (not money of this order).
PERCENT_KINDS = (RemedyKind.DISCOUNT_CODE,)
# Kinds that cost the order's value when no amount is given (a new shipment of the order).
RESHIP_KINDS = (RemedyKind.RESHIP, RemedyKind.EXPEDITED_RESHIP)
# Money of the order itself: a refund is in the order's currency (compensation.issuance).
ORDER_MONEY_KINDS = (RemedyKind.PARTIAL_REFUND, RemedyKind.FULL_REFUND, RemedyKind.CASH)

# --- messages (constants, so tests and views can name them) -----------------------------------

CANNOT_OFFER = _("You may not offer compensation.")
CANNOT_DECIDE = _("You may not approve or reject compensation.")
FOUR_EYES = _("You requested this remedy; another supervisor must approve it.")
FOUR_EYES_REJECT = _("You requested this remedy; another supervisor must decide on it.")
ALREADY_DECIDED = _("This remedy was already decided on. Reload the page to see how.")
ABOVE_AUTHORITY = _(
    "This remedy is above your own authority limit in %(currency)s; a supervisor with a "
    "higher limit must approve it."
)
NOTE_REQUIRED = _("Say why you reject this remedy: the agent reads it on the ticket.")
REASON_REQUIRED = _("Say why you change the suggested remedy: the reason goes with the offer.")
TEXT_TOO_LONG = _("Keep it under %(limit)s characters.")
NO_REMEDY = _("Choose a remedy.")
TOO_MANY_ALTERNATIVES = _("Offer at most %(limit)s alternatives to choose from.")
INVALID_KIND = _("Choose a valid kind of remedy.")
INVALID_CURRENCY = _("Choose a valid currency.")
INVALID_AMOUNT = _("Enter an amount greater than zero.")
AMOUNT_TOO_LARGE = _("Enter an amount of at most %(limit)s.")
AMOUNT_REQUIRED = _("This remedy needs an amount.")
INVALID_PERCENT = _("Enter a percentage above 0 and at most 100.")
PERCENT_REQUIRED = _("A discount code needs a percentage.")
INVALID_POINTS = _("Enter a whole number of points from 1 to %(limit)s.")
POINTS_REQUIRED = _("A loyalty points remedy needs a number of points.")
ORDER_CURRENCY = _("Order %(order)s was paid in %(currency)s: refund it in that currency.")
NOT_OFFERED = _("This remedy is not open for the customer's choice.")
ALREADY_CHOSEN = _("Another remedy was already chosen for this offer.")


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemedySpec:
    """One remedy to offer. Money as Decimal (or a string such as "12.50"), never float.

    A refund without an amount is computed from the order: a full refund is the order's value,
    a partial refund with a percent is that share of it (in the order's currency)."""

    kind: str
    amount: Decimal | None = None
    currency: str = "EUR"
    percent: Decimal | None = None
    points: int | None = None


@dataclass(frozen=True)
class Authority:
    """What one user (or the system) may grant without a supervisor, in one currency."""

    currency: str
    max_amount: Decimal
    max_percent: Decimal
    max_points: int


@dataclass(frozen=True)
class BulkApproval:
    """The result of `approve_incident_offers`."""

    approved: list[CompensationOffer] = field(default_factory=list)
    left_pending: int = 0


# --- authority ------------------------------------------------------------------------------


def _authority(limits: Iterable[AuthorityLimit], currency: str) -> Authority | None:
    limits = list(limits)
    if not limits:
        return None
    return Authority(
        currency=currency,
        max_amount=max(limit.max_amount for limit in limits),
        max_percent=max(limit.max_percent for limit in limits),
        max_points=max(limit.max_points for limit in limits),
    )


def authority_for(user: Any, currency: str) -> Authority | None:
    """What ``user`` may grant in ``currency`` without a supervisor: their own limit when they
    have one, else the highest of their groups' limits (field by field); None when neither has
    a limit in that currency (or the user is inactive): everything then waits for approval.

    ``user=None`` is the system (incident bulk offers, proactive offers): the agent group's
    authority, the lowest."""
    if user is None:
        return _authority(
            AuthorityLimit.objects.filter(group__name=AGENT, currency=currency), currency
        )
    if not user.is_active:
        return None
    own = AuthorityLimit.objects.filter(user=user, currency=currency).first()
    if own is not None:
        return _authority([own], currency)
    return _authority(
        AuthorityLimit.objects.filter(group__in=user.groups.all(), currency=currency), currency
    )


def _costs(offer: CompensationOffer, shipment: Shipment | None) -> tuple[Decimal, str] | None:
    """The money an offer gives away, in its currency: its amount; a reship without one costs
    the order's value."""
    if offer.amount is not None:
        return offer.amount, offer.currency
    if offer.kind in RESHIP_KINDS and shipment is not None and shipment.order_value:
        return shipment.order_value, shipment.currency
    return None


def _above_authority(
    user: Any, offers: Sequence[CompensationOffer], shipment: Shipment | None
) -> str | None:
    """The currency in which ``offers`` go beyond ``user``'s authority, None when all are
    within it (inclusive: exactly at the limit is within)."""
    cache: dict[str, Authority | None] = {}

    def authority(currency: str) -> Authority | None:
        if currency not in cache:
            cache[currency] = authority_for(user, currency)
        return cache[currency]

    for offer in offers:
        cost = _costs(offer, shipment)
        if cost is not None:
            amount, currency = cost
            limit = authority(currency)
            if limit is None or amount > limit.max_amount:
                return currency
        if offer.percent is not None and offer.kind in PERCENT_KINDS:
            limit = authority(offer.currency)
            if limit is None or offer.percent > limit.max_percent:
                return offer.currency
        if offer.points is not None:
            limit = authority(offer.currency)
            if limit is None or offer.points > limit.max_points:
                return offer.currency
    return None


# --- validation -----------------------------------------------------------------------------


def _text(value: str | None, field_name: str) -> str:
    text = (value or "").strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise CompensationError(
            str(TEXT_TOO_LONG) % {"limit": MAX_TEXT_LENGTH}, code="too_long", field=field_name
        )
    return text


def _amount(value: Any, currency: str) -> Decimal:
    try:
        amount = money.quantize(value, currency)
    except (TypeError, ValueError) as exc:
        raise CompensationError(INVALID_AMOUNT, code="invalid_amount", field="amount") from exc
    if amount <= 0:
        raise CompensationError(INVALID_AMOUNT, code="invalid_amount", field="amount")
    if amount > MAX_AMOUNT:
        raise CompensationError(
            str(AMOUNT_TOO_LARGE) % {"limit": MAX_AMOUNT}, code="amount_too_large", field="amount"
        )
    return amount


def _percent(value: Any) -> Decimal:
    try:
        percent = money.to_decimal(value).quantize(Decimal("0.01"))
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise CompensationError(INVALID_PERCENT, code="invalid_percent", field="percent") from exc
    if not 0 < percent <= HUNDRED:
        raise CompensationError(INVALID_PERCENT, code="invalid_percent", field="percent")
    return percent


def _points(value: Any) -> int:
    error = CompensationError(
        str(INVALID_POINTS) % {"limit": MAX_POINTS}, code="invalid_points", field="points"
    )
    if isinstance(value, bool | float):
        raise error
    try:
        points = int(value)
    except (TypeError, ValueError) as exc:
        raise error from exc
    if str(points) != str(value).strip() or not 1 <= points <= MAX_POINTS:
        raise error
    return points


def _spec_fields(remedy: Any, shipment: Shipment | None) -> dict[str, Any]:
    """A remedy (RemedySpec, a policies.SuggestedRemedy, a mapping) as offer fields, checked and
    rounded to the currency's minor unit."""
    if isinstance(remedy, dict):
        remedy = RemedySpec(**remedy)
    kind = getattr(remedy, "kind", None)
    if kind not in choice_values(RemedyKind):
        raise CompensationError(INVALID_KIND, code="invalid_kind", field="kind")
    currency = getattr(remedy, "currency", None) or "EUR"
    if not money.is_supported_currency(currency):
        raise CompensationError(INVALID_CURRENCY, code="invalid_currency", field="currency")
    raw_amount, raw_percent = remedy.amount, remedy.percent
    percent = None if raw_percent in (None, "") else _percent(raw_percent)
    points = None if remedy.points in (None, "") else _points(remedy.points)

    if kind in ORDER_MONEY_KINDS and shipment is not None:
        if raw_amount in (None, "") and kind != RemedyKind.CASH:
            # Computed from the order: a full refund is its value, a partial one its share.
            currency = shipment.currency
        if currency != shipment.currency:
            raise CompensationError(
                str(ORDER_CURRENCY)
                % {"order": shipment.order_number, "currency": shipment.currency},
                code="currency_mismatch",
                field="currency",
            )
    amount = None
    if raw_amount not in (None, ""):
        amount = _amount(raw_amount, currency)
    elif kind in ORDER_MONEY_KINDS and shipment is not None and shipment.order_value > 0:
        if kind == RemedyKind.FULL_REFUND:
            amount = _amount(shipment.order_value, currency)
        elif kind == RemedyKind.PARTIAL_REFUND and percent is not None:
            amount = _amount(shipment.order_value * percent / HUNDRED, currency)

    if kind in MONEY_KINDS and amount is None:
        if kind in ORDER_MONEY_KINDS and shipment is None:
            raise CompensationError(issuance.NO_ORDER, code="no_order", field="kind")
        raise CompensationError(AMOUNT_REQUIRED, code="amount_required", field="amount")
    if kind in PERCENT_KINDS and percent is None:
        raise CompensationError(PERCENT_REQUIRED, code="percent_required", field="percent")
    if kind == RemedyKind.LOYALTY_POINTS and points is None:
        raise CompensationError(POINTS_REQUIRED, code="points_required", field="points")
    return {
        "kind": kind,
        "amount": amount,
        "currency": currency,
        "percent": percent,
        "points": points,
    }


def _remedy_list(remedies: Sequence[Any] | None) -> list[Any]:
    remedies = list(remedies or [])
    if not remedies:
        raise CompensationError(NO_REMEDY, code="no_remedy", field="kind")
    if len(remedies) > MAX_ALTERNATIVES:
        raise CompensationError(
            str(TOO_MANY_ALTERNATIVES) % {"limit": MAX_ALTERNATIVES},
            code="too_many_alternatives",
            field="kind",
        )
    return remedies


def _same_remedies(fields: list[dict[str, Any]], suggestion: Any) -> bool:
    """Whether the remedies are one part of the suggestion as it was suggested."""

    def key(item: Any) -> tuple:
        get = item.get if isinstance(item, dict) else lambda name: getattr(item, name, None)
        amount, percent = get("amount"), get("percent")
        return (
            get("kind"),
            None if amount is None else Decimal(amount).normalize(),
            get("currency") if amount is not None else None,
            None if percent is None else Decimal(percent).normalize(),
            get("points"),
        )

    asked = sorted(map(key, fields), key=repr)
    parts = getattr(suggestion, "parts", None) or [getattr(suggestion, "remedies", [])]
    return any(sorted(map(key, part), key=repr) == asked for part in parts)


# --- steps ----------------------------------------------------------------------------------


_PUBLIC_EVENTS = (
    TicketEvent.Kind.COMPENSATION_OFFERED,
    TicketEvent.Kind.COMPENSATION_ACCEPTED,
    TicketEvent.Kind.COMPENSATION_ISSUED,
)


def _event_data(offer: CompensationOffer) -> dict[str, Any]:
    """What a timeline event says of the remedy (the timeline names `kind`)."""
    details = {
        "offer": str(offer.public_id),
        "kind": offer.kind,
        "amount": None if offer.amount is None else str(offer.amount),
        "currency": offer.currency if offer.amount is not None else None,
        "percent": None if offer.percent is None else str(offer.percent),
        "points": offer.points,
        "choice_group": None if offer.choice_group is None else str(offer.choice_group),
    }
    return {key: value for key, value in details.items() if value is not None}


def _event(offer: CompensationOffer, kind: str, *, at: dt.datetime, actor: Any, **data: Any):
    return record_event(
        offer.ticket,
        kind,
        at=at,
        actor=actor,
        public=kind in _PUBLIC_EVENTS,
        **_event_data(offer),
        **data,
    )


def _audit(
    offer: CompensationOffer,
    action: str,
    *,
    at: dt.datetime,
    by: Any,
    was: str | None = None,
    **after: Any,
) -> None:
    """The audit trail's entry (core.audit): the remedy's status before (``was``), and after
    it with what the remedy is and ``after``'s other values."""
    audit.record(
        action,
        actor=by,
        obj=offer,
        before=None if was is None else {"status": was},
        after={"status": offer.status, **_event_data(offer), **after},
        at=at,
    )


def _save(offer: CompensationOffer, *fields: str, now: dt.datetime) -> None:
    offer.version += 1
    offer.updated_at = now
    offer.save(update_fields=[*fields, "version", "updated_at"])


def _issue(offer: CompensationOffer, *, now: dt.datetime, actor: Any) -> None:
    """Issue one offer (locked by the caller) and tell the customer."""
    was = offer.status
    issuance.issue(offer, now=now)
    _audit(
        offer, AuditAction.OFFER_ISSUED, at=now, by=actor, was=was, reference=offer.issued_reference
    )
    if offer.kind in issuance.REFUND_KINDS:
        refund = offer.refund
        audit.record(
            AuditAction.REFUND_ISSUED,
            actor=actor,
            obj=refund,
            before={"refunded_total": refund.refunded_total - refund.amount},
            after={
                "refunded_total": refund.refunded_total,
                "amount": refund.amount,
                "currency": refund.currency,
                "order": refund.order_number,
                "order_value": refund.order_value,
                "offer": offer.public_id,
            },
            at=now,
        )
    _event(
        offer,
        TicketEvent.Kind.COMPENSATION_ISSUED,
        at=now,
        actor=actor,
        reference=offer.issued_reference,
    )
    offer_issued.send(sender=CompensationOffer, offer=offer, at=now)


def _go_out(offers: list[CompensationOffer], *, now: dt.datetime, actor: Any) -> None:
    """Within authority (or approved): one remedy is issued at once; alternatives are offered
    to the customer, who chooses (offer_choose)."""
    if len(offers) == 1 and offers[0].choice_group is None:
        _issue(offers[0], now=now, actor=actor)
        return
    for offer in offers:
        offer.status = OfferStatus.OFFERED
        _save(offer, "status", now=now)
        _event(offer, TicketEvent.Kind.COMPENSATION_OFFERED, at=now, actor=actor)
    # One notice for the choice: the first alternative, with the others alongside.
    offer_made.send(sender=CompensationOffer, offer=offers[0], at=now, alternatives=offers)


def _lock_budget(incident_id: int, currency: str, *, today: dt.date) -> Budget | None:
    budget = budgets.incident_budget(incident_id, currency, today=today)
    if budget is None:
        return None
    # Offers for one incident queue here, so two of them never spend the same room.
    return Budget.objects.select_for_update().get(pk=budget.pk)


def _over_budget(
    incident_id: int | None, offers: Sequence[CompensationOffer], *, today: dt.date
) -> bool:
    """Whether the incident's budget lacks room for ``offers``' money (every alternative
    counted); False when the offers belong to no incident or its budget has no such currency."""
    if incident_id is None:
        return False
    asked = money.totals(o for o in offers if o.kind in MONEY_KINDS)
    for currency, amount in asked.items():
        budget = _lock_budget(incident_id, currency, today=today)
        if budget is not None and budgets.budget_usage(budget).remaining < amount:
            return True
    return False


def _lock_group(offer: CompensationOffer) -> list[CompensationOffer]:
    """The offer and its alternatives, locked in primary key order (no deadlock between two
    callers), with their tickets."""
    group = (
        CompensationOffer.objects.filter(pk=offer.pk).values_list("choice_group", flat=True).get()
    )
    rows = CompensationOffer.objects.select_for_update(of=("self",)).select_related(
        "ticket", "ticket__shipment", "customer", "requested_by"
    )
    rows = (
        rows.filter(Q(pk=offer.pk) | Q(choice_group=group)) if group else rows.filter(pk=offer.pk)
    )
    return list(rows.order_by("pk"))


def _check_permission(user: Any, permission: str, message) -> None:
    if user is None or not user.is_active or not user.has_perm(permission):
        raise CompensationError(message, code="forbidden")


# --- services -------------------------------------------------------------------------------


def offer_request(
    *,
    ticket: Ticket,
    by: Any,
    remedies: Sequence[RemedySpec | Any],
    reason: str = "",
    policy: CompensationPolicy | None = None,
    suggestion: Any = None,
    now: dt.datetime | None = None,
) -> list[CompensationOffer]:
    """Offer ``remedies`` on ``ticket``: one remedy, or 2-3 alternatives the customer chooses
    among. ``by`` is the requesting user, None for the system. Within ``by``'s authority and the
    incident's budget the offer goes out at once (one remedy issued, alternatives offered);
    otherwise it waits for a supervisor (PENDING_APPROVAL + ApprovalRequest).

    ``suggestion`` (a policies.Suggestion) is what the policies proposed: asking for anything
    else needs a ``reason``. Returns the offers, in the order of ``remedies``."""
    now = now or timezone.now()
    if by is not None:
        _check_permission(by, REQUEST_PERMISSION, CANNOT_OFFER)
    remedies = _remedy_list(remedies)
    reason = _text(reason, "reason")
    ticket = Ticket.objects.select_related("shipment", "customer").get(pk=ticket.pk)
    shipment = ticket.shipment
    fields = [_spec_fields(remedy, shipment) for remedy in remedies]
    if suggestion is not None:
        policy = policy or getattr(suggestion, "policy", None)
        if not reason and not _same_remedies(fields, suggestion):
            raise CompensationError(REASON_REQUIRED, code="reason_required", field="reason")

    group = uuid.uuid4() if len(fields) > 1 else None
    incident_id = budgets.incident_of(ticket)
    with transaction.atomic():
        offers = []
        for values in fields:
            offer = CompensationOffer.objects.create(
                ticket=ticket,
                customer=ticket.customer,
                incident_id=incident_id,
                policy=policy,
                choice_group=group,
                reason=reason,
                requested_by=by,
                status=OfferStatus.PROPOSED,
                **values,
            )
            if abs((offer.created_at - now).total_seconds()) > 1:
                # auto_now_add read the clock again; the operation's time is `now`.
                CompensationOffer.objects.filter(pk=offer.pk).update(created_at=now, updated_at=now)
                offer.created_at = offer.updated_at = now
            offer.ticket = ticket
            offers.append(offer)

        above = _above_authority(by, offers, shipment)
        over_budget = _over_budget(incident_id, offers, today=timezone.localdate(now))
        needs_approval = above is not None or over_budget
        for offer in offers:
            _event(
                offer,
                TicketEvent.Kind.COMPENSATION_PROPOSED,
                at=now,
                actor=by,
                reason=reason,
                needs_approval=needs_approval,
                over_budget=over_budget,
            )
            _audit(
                offer,
                AuditAction.OFFER_REQUESTED,
                at=now,
                by=by,
                reason=reason,
                needs_approval=needs_approval,
            )
        if not needs_approval:
            _go_out(offers, now=now, actor=by)
            return offers
        for offer in offers:
            offer.status = OfferStatus.PENDING_APPROVAL
            _save(offer, "status", now=now)
            ApprovalRequest.objects.create(
                offer=offer, requested_by=by, requested_at=now, status=ApprovalStatus.PENDING
            )
        return offers


PENDING = OfferStatus.PENDING_APPROVAL


def _approve_locked(
    offers: list[CompensationOffer], *, by: Any, note: str, now: dt.datetime
) -> None:
    for offer in offers:
        offer.status = OfferStatus.APPROVED
        offer.approved_by = by
        offer.approved_at = now
        _save(offer, "status", "approved_by", "approved_at", now=now)
        _audit(offer, AuditAction.OFFER_APPROVED, at=now, by=by, was=PENDING, note=note)
        _event(offer, TicketEvent.Kind.COMPENSATION_APPROVED, at=now, actor=by, note=note)
    ApprovalRequest.objects.filter(offer__in=offers, status=ApprovalStatus.PENDING).update(
        status=ApprovalStatus.APPROVED, decided_by=by, decided_at=now, note=note
    )
    _go_out(offers, now=now, actor=by)


def _check_decidable(offers: list[CompensationOffer], offer: CompensationOffer) -> None:
    chosen = next(o for o in offers if o.pk == offer.pk)
    if chosen.status != OfferStatus.PENDING_APPROVAL:
        raise CompensationError(ALREADY_DECIDED, code="already_decided")


def offer_approve(
    *, offer: CompensationOffer, by: Any, note: str = "", now: dt.datetime | None = None
) -> CompensationOffer:
    """A supervisor approves a pending offer (and its alternatives), which then goes out.

    Refused: without the approve permission; for whoever requested it (four-eyes); when it is
    no longer pending (a second approval, by anyone: exactly once); when it is above the
    approver's own authority."""
    now = now or timezone.now()
    _check_permission(by, APPROVE_PERMISSION, CANNOT_DECIDE)
    note = _text(note, "note")
    with transaction.atomic():
        offers = _lock_group(offer)
        _check_decidable(offers, offer)
        if any(o.requested_by_id == by.pk for o in offers):
            raise CompensationError(FOUR_EYES, code="four_eyes")
        currency = _above_authority(by, offers, offers[0].ticket.shipment)
        if currency is not None:
            raise CompensationError(
                str(ABOVE_AUTHORITY) % {"currency": currency}, code="above_authority"
            )
        _approve_locked(offers, by=by, note=note, now=now)
        return next(o for o in offers if o.pk == offer.pk)


def offer_reject(
    *, offer: CompensationOffer, by: Any, note: str, now: dt.datetime | None = None
) -> CompensationOffer:
    """A supervisor rejects a pending offer (and its alternatives) with a note, which the agent
    reads on the ticket's timeline."""
    now = now or timezone.now()
    _check_permission(by, APPROVE_PERMISSION, CANNOT_DECIDE)
    note = _text(note, "note")
    if not note:
        raise CompensationError(NOTE_REQUIRED, code="note_required", field="note")
    with transaction.atomic():
        offers = _lock_group(offer)
        _check_decidable(offers, offer)
        if any(o.requested_by_id == by.pk for o in offers):
            raise CompensationError(FOUR_EYES_REJECT, code="four_eyes")
        for item in offers:
            item.status = OfferStatus.REJECTED
            _save(item, "status", now=now)
            _audit(item, AuditAction.OFFER_REJECTED, at=now, by=by, was=PENDING, note=note)
            _event(item, TicketEvent.Kind.COMPENSATION_REJECTED, at=now, actor=by, note=note)
        ApprovalRequest.objects.filter(offer__in=offers, status=ApprovalStatus.PENDING).update(
            status=ApprovalStatus.REJECTED, decided_by=by, decided_at=now, note=note
        )
        return next(o for o in offers if o.pk == offer.pk)


def offer_choose(
    *, offer: CompensationOffer, by: Any = None, now: dt.datetime | None = None
) -> CompensationOffer:
    """The customer's choice among offered alternatives (``by=None``), or an agent recording it
    from a phone call: exactly that one is issued and the others are cancelled, once. Choosing
    the same remedy again returns it unchanged; choosing another after it is refused."""
    now = now or timezone.now()
    if by is not None:
        _check_permission(by, REQUEST_PERMISSION, CANNOT_OFFER)
    with transaction.atomic():
        offers = _lock_group(offer)
        chosen = next(o for o in offers if o.pk == offer.pk)
        if chosen.status in (OfferStatus.ACCEPTED, OfferStatus.ISSUED):
            return chosen  # a second click: already done
        if any(o.status in (OfferStatus.ACCEPTED, OfferStatus.ISSUED) for o in offers):
            raise CompensationError(ALREADY_CHOSEN, code="already_chosen")
        if chosen.status != OfferStatus.OFFERED:
            raise CompensationError(NOT_OFFERED, code="not_offered")
        chosen.status = OfferStatus.ACCEPTED
        _save(chosen, "status", now=now)
        _event(
            chosen,
            TicketEvent.Kind.COMPENSATION_ACCEPTED,
            at=now,
            actor=by,
            by_phone=by is not None,
        )
        for other in offers:
            if other.pk != chosen.pk and other.status == OfferStatus.OFFERED:
                other.status = OfferStatus.CANCELLED
                _save(other, "status", now=now)
        _issue(chosen, now=now, actor=by)
        return chosen


def approve_incident_offers(
    *, incident: Incident, by: Any, now: dt.datetime | None = None
) -> BulkApproval:
    """Approve the incident's pending offers, oldest first, while its budget has room: an offer
    (with its alternatives) is approved when its money fits what is left once what is spent and
    already offered is taken off; the first that does not fit stops it (the order stays fair).
    Offers this supervisor requested, or above their own authority, or that cannot be issued
    are left pending. A currency without a budget for the incident has no cap."""
    now = now or timezone.now()
    _check_permission(by, APPROVE_PERMISSION, CANNOT_DECIDE)
    today = timezone.localdate(now)
    approved: list[CompensationOffer] = []
    with transaction.atomic():
        pending = budgets.incident_offers(incident).filter(status=OfferStatus.PENDING_APPROVAL)
        room: dict[str, Decimal | None] = {}
        full: set[str] = set()
        seen: set[Any] = set()
        oldest_first = pending.order_by("created_at", "pk").values_list("pk", "choice_group")
        for pk, group in oldest_first:
            if (group or pk) in seen:
                continue
            seen.add(group or pk)
            offers = _lock_group(CompensationOffer(pk=pk))
            if any(o.status != OfferStatus.PENDING_APPROVAL for o in offers):
                continue  # decided meanwhile by someone else
            if any(o.requested_by_id == by.pk for o in offers):
                continue
            if _above_authority(by, offers, offers[0].ticket.shipment) is not None:
                continue
            asked = money.totals(o for o in offers if o.kind in MONEY_KINDS)
            if any(currency in full for currency in asked):
                continue
            fits = True
            for currency, amount in asked.items():
                if currency not in room:
                    room[currency] = _room_for_pending(incident, currency, today=today)
                left = room[currency]
                if left is not None and amount > left:
                    fits = False
                    full.add(currency)
            if not fits:
                continue
            try:
                with transaction.atomic():
                    _approve_locked(offers, by=by, note="", now=now)
            except CompensationError:
                continue  # cannot be issued (e.g. the order is refunded already): stays pending
            for currency, amount in asked.items():
                if room[currency] is not None:
                    room[currency] -= amount
            approved.extend(offers)
        left_pending = (
            budgets.incident_offers(incident).filter(status=OfferStatus.PENDING_APPROVAL).count()
        )
    return BulkApproval(approved=approved, left_pending=left_pending)


def _room_for_pending(incident: Incident, currency: str, *, today: dt.date) -> Decimal | None:
    """What the incident's budget still has for its pending offers: amount - spent - offered
    (pending offers are what is being decided). None without a budget in that currency."""
    budget = _lock_budget(incident.pk, currency, today=today)
    if budget is None:
        return None
    offered = budgets.budget_offers(budget).exclude(status=OfferStatus.PENDING_APPROVAL)
    usage = budgets.usage_of(offered, budget.amount, budget.currency)
    return usage.remaining


def offer_suggestion(
    *,
    ticket: Ticket,
    by: Any,
    suggestion: Any,
    reason: str = "",
    now: dt.datetime | None = None,
) -> list[CompensationOffer]:
    """Offer what ``suggestion`` (a policies.Suggestion) proposes, all or nothing: one
    `offer_request` per part (a part is one remedy, or the alternatives the customer chooses
    among), with the policy's explanation as the reason unless one is given."""
    with transaction.atomic():
        offers: list[CompensationOffer] = []
        for part in suggestion.parts:
            offers += offer_request(
                ticket=ticket,
                by=by,
                remedies=list(part),
                reason=reason or suggestion.reason,
                policy=suggestion.policy,
                suggestion=suggestion,
                now=now,
            )
        return offers


# --- an incident's bulk offer -----------------------------------------------------------------

# What an incident's bulk offer may give: goodwill of the same value for every customer. Refunds
# and reships depend on each order: they are offered ticket by ticket (offer_request).
BULK_KINDS = (
    RemedyKind.COUPON,
    RemedyKind.DISCOUNT_CODE,
    RemedyKind.LOYALTY_POINTS,
    RemedyKind.FREE_SHIPPING,
    RemedyKind.PRIORITY_SHIPPING,
    RemedyKind.GIFT,
    RemedyKind.UPGRADE,
)
BULK_BATCH_SIZE = 5_000
NOT_FOR_BULK = _(
    "Refunds and reships depend on each order: offer them ticket by ticket, not to the whole "
    "incident."
)


@dataclass(frozen=True)
class BulkOffer:
    """The result of `offer_incident_remedy`: the run's key, how many tickets got the offer
    this time (0 on a re-run), how many offers that made (alternatives counted) and in which
    status they wait (OFFERED, PENDING_APPROVAL; "" when none was made)."""

    bulk_key: str
    tickets: int
    offers: int
    status: str


def _bulk_key(incident_id: int, fields: list[dict[str, Any]]) -> str:
    """The same incident and remedies give the same key: a re-run finds its offers."""
    remedies = repr(
        [
            (f["kind"], str(f["amount"]), f["currency"], str(f["percent"]), f["points"])
            for f in fields
        ]
    )
    return f"i{incident_id}:{hashlib.sha256(remedies.encode()).hexdigest()[:20]}"


def offer_incident_remedy(
    *,
    incident: Incident,
    remedies: Sequence[RemedySpec | Any],
    by: Any = None,
    reason: str = "",
    now: dt.datetime | None = None,
    batch_size: int = BULK_BATCH_SIZE,
) -> BulkOffer:
    """Offer ``remedies`` (one, or 2-3 alternatives) on every open ticket of ``incident`` (the
    ticket's incident, else its shipment's), one offer per ticket however often it runs.

    The whole run is routed at once: within ``by``'s authority (the system's when None) and
    with room in the incident's budget for every ticket's offer, the offers are OFFERED (the
    customer claims or chooses one: offer_choose, which issues it; a bulk run never issues
    100,000 codes in one transaction); otherwise they all wait for a supervisor
    (PENDING_APPROVAL + ApprovalRequest; approve_incident_offers takes them oldest first
    within the budget). Rows are written set-based, in batches of ``batch_size``: the offers,
    their timeline events and approval requests; `offers_made_in_bulk` is sent once.

    Idempotent: each offer carries the run's key (same incident and remedies, same key) and
    the database keeps one per ticket and key; the incident row is locked for the run, so two
    runs at once queue, and the second finds every ticket served."""
    now = now or timezone.now()
    if by is not None:
        _check_permission(by, REQUEST_PERMISSION, CANNOT_OFFER)
    remedies = _remedy_list(remedies)
    reason = _text(reason, "reason")
    fields = []
    for remedy in remedies:
        values = _spec_fields(remedy, None)
        if values["kind"] not in BULK_KINDS:
            raise CompensationError(NOT_FOR_BULK, code="not_for_bulk", field="kind")
        fields.append(values)
    base = _bulk_key(incident.pk, fields)
    keys = [f"{base}:{index}" for index in range(len(fields))]

    with transaction.atomic():
        list(Incident.objects.select_for_update().filter(pk=incident.pk))  # one run at a time
        tickets = list(_bulk_tickets(incident, keys[0]).values_list("pk", "customer_id"))
        if not tickets:
            return BulkOffer(bulk_key=base, tickets=0, offers=0, status="")
        templates = [CompensationOffer(**values) for values in fields]
        out = _above_authority(by, templates, None) is None
        if out:
            each = money.totals(t for t in templates if t.kind in MONEY_KINDS)
            today = timezone.localdate(now)
            for currency, amount in each.items():
                budget = _lock_budget(incident.pk, currency, today=today)
                if budget and budgets.budget_usage(budget).remaining < amount * len(tickets):
                    out = False
        status = OfferStatus.OFFERED if out else OfferStatus.PENDING_APPROVAL
        run = _BulkRun(
            incident=incident,
            keys=keys,
            fields=fields,
            status=status,
            by=by,
            reason=reason,
            bulk=base,
            now=now,
        )
        if connection.vendor == "postgresql":
            ids = _bulk_insert_select(run)
        else:
            ids = _bulk_create(run, [pk for pk, _customer in tickets], batch_size=batch_size)
        made = len(ids)
        audit.record(
            AuditAction.OFFER_REQUESTED,
            actor=by,
            obj=incident,
            after={
                "bulk": base,
                "tickets": len(tickets),
                "offers": made,
                "status": status,
                "remedies": fields,
                "reason": reason,
            },
            at=now,
        )
        offered_ids = ids if out else []
        offers_made_in_bulk.send(
            sender=CompensationOffer,
            incident=incident,
            bulk_key=base,
            offer_ids=offered_ids,
            at=now,
        )
        return BulkOffer(bulk_key=base, tickets=len(tickets), offers=made, status=status)


@dataclass(frozen=True)
class _BulkRun:
    incident: Incident
    keys: list[str]
    fields: list[dict[str, Any]]
    status: str
    by: Any
    reason: str
    bulk: str
    now: dt.datetime

    @property
    def out(self) -> bool:
        return self.status == OfferStatus.OFFERED

    def proposed_data(self) -> dict[str, Any]:
        return {"reason": self.reason, "needs_approval": not self.out, "bulk": self.bulk}


def _bulk_tickets(incident: Incident, first_key: str):
    """The incident's open tickets without this run's offer, by primary key."""
    served = CompensationOffer.objects.filter(bulk_key=first_key).values("ticket_id")
    return (
        Ticket.objects.open()
        .filter(Q(incident=incident) | Q(incident__isnull=True, shipment__incident=incident))
        .exclude(pk__in=served)
        .order_by("pk")
    )


def _bulk_create(run: _BulkRun, ticket_ids: list[int], *, batch_size: int) -> list[int]:
    """The portable path (SQLite): the ORM's multi-row INSERTs, a batch at a time."""
    customers = dict(Ticket.objects.filter(pk__in=ticket_ids).values_list("pk", "customer_id"))
    ids: list[int] = []
    for start in range(0, len(ticket_ids), batch_size):
        offers = []
        for ticket_id in ticket_ids[start : start + batch_size]:
            group = uuid.uuid4() if len(run.fields) > 1 else None
            for key, values in zip(run.keys, run.fields, strict=True):
                offers.append(
                    CompensationOffer(
                        ticket_id=ticket_id,
                        customer_id=customers[ticket_id],
                        incident=run.incident,
                        choice_group=group,
                        reason=run.reason,
                        requested_by=run.by,
                        status=run.status,
                        bulk_key=key,
                        **values,
                    )
                )
        CompensationOffer.objects.bulk_create(offers, batch_size=batch_size)
        batch = [offer.pk for offer in offers]
        if abs((offers[0].created_at - run.now).total_seconds()) > 1:
            # auto_now_add read the clock again; the operation's time is `now`.
            CompensationOffer.objects.filter(pk__in=batch).update(
                created_at=run.now, updated_at=run.now
            )
        events = []
        for offer in offers:
            data = _event_data(offer)
            events.append(
                TicketEvent(
                    ticket_id=offer.ticket_id,
                    kind=TicketEvent.Kind.COMPENSATION_PROPOSED,
                    actor=run.by,
                    data={**data, **run.proposed_data()},
                    created_at=run.now,
                )
            )
            if run.out:
                events.append(
                    TicketEvent(
                        ticket_id=offer.ticket_id,
                        kind=TicketEvent.Kind.COMPENSATION_OFFERED,
                        actor=run.by,
                        is_public=True,
                        data=data,
                        created_at=run.now,
                    )
                )
        TicketEvent.objects.bulk_create(events, batch_size=batch_size)
        if not run.out:
            ApprovalRequest.objects.bulk_create(
                [
                    ApprovalRequest(offer_id=pk, requested_by=run.by, requested_at=run.now)
                    for pk in batch
                ],
                batch_size=batch_size,
            )
        ids.extend(batch)
    return ids


def _insert_columns(model, given: dict[str, str], params: dict[str, Any]) -> tuple[str, str]:
    """Columns and SELECT expressions for an INSERT ... SELECT into ``model``'s table: those
    ``given`` (column -> SQL expression), and every other NOT NULL column from its field's
    default (as the ORM would insert it), so a field added later cannot break the statement."""
    columns, expressions = [], []
    for model_field in model._meta.concrete_fields:
        column = model_field.column
        if column in given:
            expression = given[column]
        elif model_field.primary_key or model_field.null:
            continue
        else:
            name = f"default_{model._meta.model_name}_{column}"
            params[name] = model_field.get_db_prep_save(model_field.get_default(), connection)
            expression = f"%({name})s"
        columns.append(connection.ops.quote_name(column))
        expressions.append(expression)
    return ", ".join(columns), ", ".join(expressions)


def _bulk_insert_select(run: _BulkRun) -> list[int]:
    """PostgreSQL: one statement, INSERT ... SELECT over the incident's tickets, with the
    timeline events and approval requests written from the inserted rows (data-modifying CTEs).
    Returns the new offers' ids."""
    tickets_sql, tickets_params = (
        _bulk_tickets(run.incident, run.keys[0]).values("id", "customer_id").query.sql_with_params()
    )
    params: dict[str, Any] = {
        "now": run.now,
        "by": None if run.by is None else run.by.pk,
        "status": run.status,
        "reason": run.reason,
        "proposed": json.dumps(run.proposed_data()),
        "grouped": len(run.fields) > 1,
        "incident": run.incident.pk,
    }
    for number, param in enumerate(tickets_params):
        params[f"t{number}"] = param
    tickets_sql = tickets_sql.replace("%s", "{}").format(
        *(f"%(t{number})s" for number in range(len(tickets_params)))
    )
    rows = []
    for index, (key, values) in enumerate(zip(run.keys, run.fields, strict=True)):
        for name in ("kind", "amount", "currency", "percent", "points"):
            params[f"r{index}_{name}"] = values[name]
        params[f"r{index}_key"] = key
        rows.append(
            f"SELECT {index} AS position, %(r{index}_key)s::varchar AS bulk_key, "
            f"%(r{index}_kind)s::varchar AS kind, %(r{index}_amount)s::numeric AS amount, "
            f"%(r{index}_currency)s::varchar AS currency, "
            f"%(r{index}_percent)s::numeric AS percent, %(r{index}_points)s::integer AS points"
        )
    offer_columns, offer_values = _insert_columns(
        CompensationOffer,
        {
            "created_at": "%(now)s",
            "updated_at": "%(now)s",
            "public_id": "gen_random_uuid()",
            "ticket_id": "t.id",
            "customer_id": "t.customer_id",
            "incident_id": "%(incident)s",
            "kind": "r.kind",
            "status": "%(status)s",
            "amount": "r.amount",
            "currency": "r.currency",
            "percent": "r.percent",
            "points": "r.points",
            "choice_group": "t.choice_group",
            "reason": "%(reason)s",
            "requested_by_id": "%(by)s",
            "bulk_key": "r.bulk_key",
        },
        params,
    )
    event_data = (
        "jsonb_strip_nulls(jsonb_build_object('offer', n.public_id::text, 'kind', n.kind, "
        "'amount', n.amount::text, 'currency', CASE WHEN n.amount IS NOT NULL THEN n.currency "
        "END, 'percent', n.percent::text, 'points', n.points, 'choice_group', "
        "n.choice_group::text))"
    )
    event_columns, event_values = _insert_columns(
        TicketEvent,
        {
            "ticket_id": "n.ticket_id",
            "kind": "e.kind",
            "actor_id": "%(by)s",
            "is_public": "e.public",
            "data": f"CASE WHEN e.proposed THEN {event_data} || %(proposed)s::jsonb "
            f"ELSE {event_data} END",
            "created_at": "%(now)s",
        },
        params,
    )
    approval_columns, approval_values = _insert_columns(
        ApprovalRequest,
        {
            "offer_id": "n.id",
            "status": "'pending'",
            "requested_by_id": "%(by)s",
            "requested_at": "%(now)s",
        },
        params,
    )
    params["proposed_kind"] = TicketEvent.Kind.COMPENSATION_PROPOSED
    params["offered_kind"] = TicketEvent.Kind.COMPENSATION_OFFERED
    offers_table = connection.ops.quote_name(CompensationOffer._meta.db_table)
    sql = f"""
        WITH t AS (
            SELECT b.id, b.customer_id,
                   CASE WHEN %(grouped)s THEN gen_random_uuid() END AS choice_group
            FROM ({tickets_sql}) b
        ),
        r AS ({" UNION ALL ".join(rows)}),
        n AS (
            INSERT INTO {offers_table} ({offer_columns})
            SELECT {offer_values} FROM t CROSS JOIN r ORDER BY t.id, r.position
            RETURNING id, ticket_id, public_id, kind, amount, currency, percent, points,
                      choice_group
        ),
        e AS (
            SELECT %(proposed_kind)s::varchar AS kind, false AS public, true AS proposed
            UNION ALL
            SELECT %(offered_kind)s::varchar, true, false WHERE %(status)s = 'offered'
        ),
        events AS (
            INSERT INTO {connection.ops.quote_name(TicketEvent._meta.db_table)} ({event_columns})
            SELECT {event_values} FROM n CROSS JOIN e
        ),
        approvals AS (
            INSERT INTO {connection.ops.quote_name(ApprovalRequest._meta.db_table)}
                ({approval_columns})
            SELECT {approval_values} FROM n WHERE %(status)s = 'pending_approval'
        )
        SELECT id FROM n ORDER BY id
    """  # nosec B608  # constants only, values bound
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


__all__ = [
    "ABOVE_AUTHORITY",
    "ALREADY_CHOSEN",
    "ALREADY_DECIDED",
    "FOUR_EYES",
    "NOTE_REQUIRED",
    "Authority",
    "BulkApproval",
    "RemedySpec",
    "BulkOffer",
    "approve_incident_offers",
    "authority_for",
    "offer_approve",
    "offer_choose",
    "offer_incident_remedy",
    "offer_reject",
    "offer_request",
    "offer_suggestion",
]
