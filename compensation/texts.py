"""How remedies read in sentences to the customer: macros, notices.

`describe_offer` is the short phrase for one remedy ("a refund of 10.00 EUR"), in the active
language; the customer's notices (notifications) and the `{compensation}` macro placeholder use
it. Tickets sits below compensation and cannot import this module: compensation registers
`ticket_compensation` as the placeholder's provider and `remedy_kind_label` for the timeline's
remedy events in `CompensationConfig.ready()` (tickets.macros.register_placeholder,
tickets.selectors.register_remedy_label).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import formats
from django.utils.translation import gettext_lazy

from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from core.models import choice_label

if TYPE_CHECKING:
    from tickets.models import Ticket

# Two alternatives of one choice group ("the customer picks one").
ALTERNATIVES = gettext_lazy("%(first)s or %(second)s")

# Offers that no longer stand: a supervisor or the customer said no, or it was withdrawn.
_DEAD_OFFER_STATUSES = (OfferStatus.REJECTED, OfferStatus.DECLINED, OfferStatus.CANCELLED)

# How each remedy reads after "we would like to offer you ...".
_MONEY_PHRASES = {
    RemedyKind.COUPON: gettext_lazy("a coupon worth %(amount)s"),
    RemedyKind.PARTIAL_REFUND: gettext_lazy("a refund of %(amount)s"),
    RemedyKind.FULL_REFUND: gettext_lazy("a full refund of %(amount)s"),
    RemedyKind.CASH: gettext_lazy("compensation of %(amount)s"),
}
_PERCENT_PHRASE = gettext_lazy("a discount code for %(percent)s%% off")
_POINTS_PHRASE = gettext_lazy("%(points)s loyalty points")
_FIXED_PHRASES = {
    RemedyKind.RESHIP: gettext_lazy("a free replacement shipment"),
    RemedyKind.FREE_SHIPPING: gettext_lazy("a free-shipping coupon"),
    RemedyKind.EXPEDITED_RESHIP: gettext_lazy("an express replacement shipment"),
    RemedyKind.PRIORITY_SHIPPING: gettext_lazy("priority shipping on your next order"),
    RemedyKind.GIFT: gettext_lazy("a small gift"),
    RemedyKind.UPGRADE: gettext_lazy("a free upgrade"),
    RemedyKind.SENIOR_CALL: gettext_lazy("a call from a senior member of our team"),
}


def ticket_compensation(ticket: Ticket) -> str:
    """The `{compensation}` placeholder: the most recent offer of ``ticket`` that still stands,
    with its alternatives when the customer is to choose among several; "" when there is none.
    """
    standing = CompensationOffer.objects.filter(ticket=ticket).exclude(
        status__in=_DEAD_OFFER_STATUSES
    )
    latest = standing.order_by("-created_at", "-pk").first()
    if latest is None:
        return ""
    offers = [latest]
    if latest.choice_group is not None:
        offers = list(
            standing.filter(choice_group=latest.choice_group).order_by("created_at", "pk")
        )
    return describe_choice(offers)


def describe_choice(offers: list[CompensationOffer]) -> str:
    """A remedy, or the alternatives the customer chooses among, as one phrase in the active
    language: "a refund of 10.00 EUR or a free replacement shipment"."""
    text = describe_offer(offers[0])
    for offer in offers[1:]:
        text = str(ALTERNATIVES) % {"first": text, "second": describe_offer(offer)}
    return text


def describe_offer(offer: CompensationOffer) -> str:
    """One remedy as a short phrase in the active language, e.g. "a refund of 10.00 EUR"."""
    if offer.kind in _MONEY_PHRASES and offer.amount is not None:
        amount = f"{formats.number_format(offer.amount, 2)} {offer.currency}"
        return str(_MONEY_PHRASES[offer.kind]) % {"amount": amount}
    if offer.kind == RemedyKind.DISCOUNT_CODE and offer.percent is not None:
        return str(_PERCENT_PHRASE) % {"percent": _plain_number(offer.percent)}
    if offer.kind == RemedyKind.LOYALTY_POINTS and offer.points is not None:
        return str(_POINTS_PHRASE) % {"points": offer.points}
    if offer.kind in _FIXED_PHRASES:
        return str(_FIXED_PHRASES[offer.kind])
    return str(offer.get_kind_display())


def remedy_kind_label(value: str) -> str:
    """The translated name of a stored remedy kind ("Partial refund"); the value itself when it
    is not a kind (an old row), "" when there is none."""
    return choice_label(RemedyKind, value)


def _plain_number(value: Decimal) -> str:
    """15.00 -> "15", 12.50 -> "12.5" (normalize alone would give "1E+1" for 10)."""
    return format(value.normalize(), "f")
