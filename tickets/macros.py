"""Macros (reply templates): the placeholder values for a ticket, and safe rendering.

Rendering is core.placeholders' single regex pass (not ``str.format``, not the Django template
engine; see that module for why): only ``{name}`` with ``name`` in ``PLACEHOLDERS`` is replaced,
everything else stays as written, and replacement values are never scanned again. The result
is plain text, not marked safe: the template that shows it escapes any HTML.

A value that is empty ("") has nothing to say: a ticket without a shipment has no order,
tracking number, estimate or delay reason, a ticket without a standing offer no compensation.
The text then leaves out what would dangle (``without_empty_values``) instead of writing
"your order — ..." or "we offer you .".

Some values belong to apps above tickets, which tickets does not import (docs/ARCHITECTURE.md):
``{compensation}`` is the offer that still stands, which compensation knows. Such a placeholder
is named in ``PROVIDED_PLACEHOLDERS`` (it is part of the macro language: the default macros and
the admin's help use it) and its value comes from the provider that app registers in its
``AppConfig.ready()`` (``register_placeholder``). With no provider registered the value is "":
the placeholder stays known (a macro that uses it validates and renders), and the sentence that
holds it is left out as for a ticket without an offer, so a customer never reads
"{compensation}" or "we offer you .".
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy

from core import placeholders
from core.middleware import valid_time_zone
from core.models import DelayCause
from tickets.models import Macro

if TYPE_CHECKING:
    import datetime as dt

    from shipments.models import Shipment
    from tickets.models import Ticket

# Placeholders whose value an app above tickets provides (register_placeholder).
PROVIDED_PLACEHOLDERS = ("compensation",)

PLACEHOLDERS = (
    "customer_name",
    "order_number",
    "tracking_number",
    "new_eta",
    "delay_reason",
    *PROVIDED_PLACEHOLDERS,
)

# delay_reason when the shipment carries no cause, or "unknown".
CAUSE_BEING_CHECKED = gettext_lazy("Being checked with the carrier")

# name -> provider(ticket) -> plain text in the active language ("" when there is nothing to say).
_providers: dict[str, Callable[[Ticket], str]] = {}


def register_placeholder(name: str, provider: Callable[[Ticket], str]) -> None:
    """Fill the placeholder ``name`` (one of ``PROVIDED_PLACEHOLDERS``) with ``provider(ticket)``.

    Called by the app that owns the value, in its ``AppConfig.ready()``; registering again
    replaces the provider. The provider runs in the language the macro is rendered in.
    """
    if name not in PROVIDED_PLACEHOLDERS:
        raise ValueError(
            f"{name!r} is not a provided placeholder: add it to PROVIDED_PLACEHOLDERS "
            "(and to the macro admin's help) first"
        )
    _providers[name] = provider


def render_macro(body: str, context: Mapping[str, str]) -> str:
    """``body`` with each ``{placeholder}`` replaced by its value from ``context``, in one pass.

    Names outside ``PLACEHOLDERS``, or missing from ``context``, stay as written. A placeholder
    whose value is "" takes with it what would dangle (``without_empty_values``). Plain text.
    """
    empty = {name for name in PLACEHOLDERS if context.get(name) == ""}
    if empty:
        body = without_empty_values(body, empty)
    return placeholders.render_placeholders(body, context, PLACEHOLDERS)


# "your order {order_number} is late" -> "your order is late", "the address of order
# {order_number}" -> "the address of your order"; "订单 {order_number} 未能" -> "订单未能": the
# order number only names the order, the sentence stands without it.
_ORDER_NUMBER_EN = re.compile(
    r"\b(?:(your|the|this|that)\s+)?(order)[ \t]*\{order_number\}", re.IGNORECASE
)
_ORDER_NUMBER_ZH = re.compile(r"(订单)[ \t]*\{order_number\}[ \t]*")
# One sentence of a line: up to ". ", "! ", "? " (or the end of the line), or "。！？".
_SENTENCE = re.compile(r".*?(?:[.!?](?=\s|$)|[。！？]|$)\s*")


def _order_without_number(match: re.Match) -> str:
    determiner, order = match.group(1), match.group(2)
    if determiner:
        return f"{determiner} {order}"
    return "Your order" if order[0].isupper() else "your order"


def without_empty_values(body: str, names: set[str]) -> str:
    """``body`` without what would read wrong with the placeholders ``names`` left empty.

    1. An order number right after "order" / "订单" is left out alone.
    2. A parenthesis holding an empty placeholder is left out: "(tracking number {x})".
    3. A sentence holding one is left out, and a line left empty with it.
    """
    if "order_number" in names:
        body = _ORDER_NUMBER_EN.sub(_order_without_number, body)
        body = _ORDER_NUMBER_ZH.sub(r"\1", body)
    marks = [f"{{{name}}}" for name in names]
    for mark in marks:
        body = re.sub(r"[ \t]*[(（][^()（）\n]*" + re.escape(mark) + r"[^()（）\n]*[)）]", "", body)
    lines = []
    for line in body.split("\n"):
        if not any(mark in line for mark in marks):
            lines.append(line)
            continue
        kept = [
            sentence
            for sentence in _SENTENCE.findall(line)
            if sentence and not any(mark in sentence for mark in marks)
        ]
        if kept:
            lines.append("".join(kept).rstrip())
    # A dropped paragraph leaves blank lines around it: at most one in a row, none at the ends.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def unknown_placeholders(body: str) -> list[str]:
    """What ``body`` has between braces that is not a placeholder, once each, in order.

    For form validation: these are left in the message as written. ``{}`` is reported as "".
    """
    return placeholders.unknown_placeholders(body, PLACEHOLDERS)


def macro_context(ticket: Ticket, *, language: str | None = None) -> dict[str, str]:
    """The placeholder values for ``ticket`` as plain text, in ``language`` (default: the
    ticket's), with dates in the customer's time zone; "" where there is nothing to say (no
    shipment, no order number, no standing offer)."""
    customer = ticket.customer
    shipment = ticket.shipment
    with translation.override(language or ticket.language):
        return {
            "customer_name": customer.name,
            "order_number": shipment.order_number.strip() if shipment else "",
            "tracking_number": shipment.tracking_number.strip() if shipment else "",
            "new_eta": _new_eta(shipment, customer.time_zone),
            "delay_reason": _delay_reason(shipment),
            **{name: _provided(name, ticket) for name in PROVIDED_PLACEHOLDERS},
        }


def render_for_ticket(macro: Macro, ticket: Ticket) -> str:
    return render_macro(macro.body, macro_context(ticket, language=macro.language))


def macros_for_ticket(ticket: Ticket) -> QuerySet[Macro]:
    """Active macros in the ticket's language: those for its category or for any category
    first, then the others (a ticket's category is sometimes wrong), each group by title."""
    fits = Q(category=ticket.category) | Q(category="")
    return (
        Macro.objects.filter(is_active=True, language=ticket.language)
        .annotate(
            fit_rank=Case(When(fits, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("fit_rank", "title", "slug")
    )


# --- values ------------------------------------------------------------------------------------


def _new_eta(shipment: Shipment | None, time_zone: str) -> str:
    """The current estimate (ours, else the carrier's, else the original promise) as a date in
    the customer's zone. No time of day: the estimate is lane statistics, not a delivery slot."""
    if shipment is None:
        return ""
    eta: dt.datetime = shipment.predicted_eta or shipment.carrier_eta or shipment.promised_at
    zone = zoneinfo.ZoneInfo(valid_time_zone(time_zone) or settings.DEFAULT_DISPLAY_TIME_ZONE)
    return formats.date_format(timezone.localtime(eta, zone), "DATE_FORMAT")


def _delay_reason(shipment: Shipment | None) -> str:
    """The delay's cause, else what the carrier reported; "no problem" is no reason to give."""
    if shipment is None:
        return ""
    for cause in (shipment.delay_cause, shipment.cause):
        if cause not in (DelayCause.NONE, DelayCause.UNKNOWN):
            return str(DelayCause(cause).label)
    return str(CAUSE_BEING_CHECKED)


def _provided(name: str, ticket: Ticket) -> str:
    """The value an app above tickets gives ``name``; "" when none registered (see the top)."""
    provider = _providers.get(name)
    return "" if provider is None else str(provider(ticket))
