"""Reads for the notification history: the ticket page's panel and the console customer page.

Each selector runs a fixed number of queries, however many notices, tickets or shipments there
are (tests/notifications/test_history_pages.py counts them). The rows carry what the screen
shows about their neighbours (the ticket they belong to, the channel they replaced) as
annotations, not as joined objects, so a long history loads no other row in full.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from core.models import Channel
from customers.models import Customer
from notifications.models import Notification
from shipments.models import Shipment
from tickets.models import Ticket

HISTORY_PAGE_SIZE = 25
# The ticket panel shows this many notices; older ones are on the customer page.
TICKET_PANEL_LIMIT = 50
# The customer page lists this many of the customer's latest tickets and shipments.
CUSTOMER_LIST_LIMIT = 20

CHANNEL_LABELS = dict(Channel.choices)


def mask_recipient(recipient: str, channel: str) -> str:
    """Enough of an address to tell two apart, not enough to copy it off a shared screen.

    "carla@example.com" -> "ca•••@example.com", "+4930123456789" -> "+49•••••••6789", a push
    token -> its first and last four characters.
    """
    recipient = (recipient or "").strip()
    if not recipient:
        return ""
    if "@" in recipient:
        local, _at, domain = recipient.rpartition("@")
        keep = 2 if len(local) > 3 else 1
        return f"{local[:keep]}•••@{domain}"
    if channel in (Channel.SMS, Channel.PHONE):
        if len(recipient) <= 6:
            return "•" * len(recipient)
        return f"{recipient[:3]}{'•' * (len(recipient) - 7)}{recipient[-4:]}"
    if len(recipient) <= 10:
        return "•" * len(recipient)
    return f"{recipient[:4]}…{recipient[-4:]}"


def notice_queryset() -> QuerySet[Notification]:
    """Notices as the history lists show them, newest first.

    The context (placeholder values) is not shown, so it is not read; the ticket, the shipment
    and the replaced notice contribute one column each.
    """
    return (
        Notification.objects.defer("context")
        .annotate(
            ticket_public_id=F("ticket__public_id"),
            shipment_public_id=F("shipment__public_id"),
            shipment_tracking_number=F("shipment__tracking_number"),
            fallback_of_channel=F("fallback_of__channel"),
        )
        .order_by("-created_at", "-pk")
    )


def decorate_notices(notices: list[Notification]) -> list[Notification]:
    """Add what the template cannot compute: the masked recipient, the replaced channel's name."""
    for notice in notices:
        notice.masked_recipient = mask_recipient(notice.recipient, notice.channel)
        channel = getattr(notice, "fallback_of_channel", None)
        notice.fallback_of_label = CHANNEL_LABELS.get(channel, channel or "")
    return notices


@dataclass
class TicketHistory:
    notices: list[Notification]
    has_more: bool


def ticket_notifications(*, ticket: Ticket) -> TicketHistory:
    """The ticket's notices and those about its shipment (follow-ups, recovery, delivered notices
    are written for the shipment), newest first. One query (notifications_ticket_idx and
    notifications_shipment_idx, OR-ed)."""
    condition = Q(ticket=ticket)
    if ticket.shipment_id is not None:
        condition |= Q(shipment_id=ticket.shipment_id)
    rows = list(notice_queryset().filter(condition)[: TICKET_PANEL_LIMIT + 1])
    return TicketHistory(
        notices=decorate_notices(rows[:TICKET_PANEL_LIMIT]),
        has_more=len(rows) > TICKET_PANEL_LIMIT,
    )


def _sees_every_customer(user) -> bool:
    return user.is_superuser or user.has_perm("tickets.supervise")


def customer_for_user(*, user, public_id: uuid.UUID, scope: QuerySet[Ticket]) -> Customer:
    """The customer, if the user may see them: supervisors see everyone, an agent the customers
    with a ticket in their scope (`scope`, Ticket.objects.visible_to(user)). One query.

    Raises Customer.DoesNotExist otherwise (the view answers 404, as for an unknown id).
    """
    customers = Customer.objects.all()
    if not _sees_every_customer(user):
        customers = customers.filter(Exists(scope.filter(customer=OuterRef("pk"))))
    return customers.get(public_id=public_id)


@dataclass
class CustomerDetail:
    tickets: list[Ticket] = field(default_factory=list)
    more_tickets: bool = False
    shipments: list[Shipment] = field(default_factory=list)
    more_shipments: bool = False


def customer_detail(*, customer: Customer, scope: QuerySet[Ticket]) -> CustomerDetail:
    """The customer's latest tickets (in the reader's scope) and shipments: two queries."""
    tickets = list(
        scope.filter(customer=customer)
        .only("pk", "public_id", "subject", "status", "priority", "category", "created_at")
        .order_by("-created_at", "-pk")[: CUSTOMER_LIST_LIMIT + 1]
    )
    shipments = list(
        Shipment.objects.filter(customer=customer)
        .select_related("carrier")
        .only(
            "pk",
            "public_id",
            "tracking_number",
            "order_number",
            "status",
            "delay_level",
            "promised_at",
            "predicted_eta",
            "carrier_eta",
            "delivered_at",
            "created_at",
            "carrier__code",
            "carrier__name",
        )
        .order_by("-created_at", "-pk")[: CUSTOMER_LIST_LIMIT + 1]
    )
    return CustomerDetail(
        tickets=tickets[:CUSTOMER_LIST_LIMIT],
        more_tickets=len(tickets) > CUSTOMER_LIST_LIMIT,
        shipments=shipments[:CUSTOMER_LIST_LIMIT],
        more_shipments=len(shipments) > CUSTOMER_LIST_LIMIT,
    )


def customer_notifications(
    *, customer: Customer, status: str = "", kind: str = ""
) -> QuerySet[Notification]:
    """Every notice to the customer, newest first, optionally of one status and one kind
    (notifications_customer_idx). Paginate it, then pass the page through decorate_notices."""
    notices = notice_queryset().filter(customer=customer)
    if status:
        notices = notices.filter(status=status)
    if kind:
        notices = notices.filter(kind=kind)
    return notices
