"""Tickets API (DRF): list, open, read and change tickets; read and write their messages.

Thin views: validate with a serializer in tickets.serializers, call a service in
tickets.services, serialize the result. Every endpoint is described in /api/schema/.

Who may do what:

- **Staff** (`tickets.work_console`: agents, supervisors) read and write the tickets of their
  console scope, `Ticket.objects.visible_to(user)`; a ticket outside it answers 404, as if it
  did not exist. They see everything: internal notes and every timeline row. Tickets they open
  get the source "agent"; their messages are replies to the customer or internal notes.
- **Integration users** (group `integration`: `tickets.view_ticket`, `add_ticket`,
  `add_message`; a merchant's system with a token) read every ticket, but only what the
  customer may see: no internal notes, public timeline rows only. They open tickets (source
  "api") and add the customer's own messages (received through the merchant's system). They do
  not change tickets (PATCH answers 403).
- Anyone else signed in: 403. Nobody signed in: 401.

**Optimistic lock.** Every change that another agent could overwrite bumps the ticket's
`version`. PATCH must send the version it read; a PATCH that would change a ticket changed
since answers 409 `{"detail": ..., "code": "conflict", "errors": {"version": [...]},
"current_version": n}` (the API's error shape, core.api_errors, plus the version) and changes
nothing. A PATCH whose fields are all already in place answers 200 whatever the version (a
double click is harmless), as the services do. The fields of one PATCH are applied in one
transaction, category, priority, assignee, status in that order: if one fails, none is saved.

**Idempotent create.** A client may send an `Idempotency-Key` header with POST /tickets/.
The key is stored in the ticket's "created" timeline row; the same key from the same user
again answers 200 with that ticket (header `Idempotent-Replayed: true`) instead of opening a
second one, whatever the body. On PostgreSQL a transaction-scoped advisory lock on
(user, key) serialises two concurrent requests with the same key, so the second sees the
first's ticket. On SQLite every transaction takes the write lock at BEGIN (IMMEDIATE mode,
config/env.py), which serialises them just as well. Keys are looked up by user, kind and a JSON
key of `data` without an index of their own: fine for thousands of tickets per integration
user; a partial unique index on (actor, data->>'idempotency_key') WHERE kind = 'created' would
make it fast at any size and race-safe without the lock.

**Pagination** is by page number, not DRF's cursor: the list is ordered by priority rank (four
values) then age, and a cursor keys on the first ordering field only, so long runs of equal
priority would push its offsets past their cutoff.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.api_errors import CODE_CONFLICT, error_body
from core.idempotency import idempotency_key, idempotency_parameter, lock_idempotency_key
from core.inputs import StrictPageNumberPagination
from tickets.filters import TicketFilter
from tickets.models import Message, SLATimer, Source, Ticket, TicketEvent
from tickets.serializers import (
    CUSTOMER_MESSAGES_ONLY,
    MessageCreatedSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    TicketCreateSerializer,
    TicketDetailSerializer,
    TicketSerializer,
    TicketUpdateSerializer,
)
from tickets.services import (
    StaleTicketError,
    TicketActionError,
    is_agent,
    ticket_add_customer_message,
    ticket_add_note,
    ticket_assign,
    ticket_change_category,
    ticket_change_status,
    ticket_claim,
    ticket_open,
    ticket_override_priority,
    ticket_release,
    ticket_reply,
)

IDEMPOTENCY_DATA_KEY = "idempotency_key"  # in the "created" TicketEvent's data

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# Service error codes -> the input field they are about (others: non_field_errors).
_ERROR_FIELDS = {
    "empty": "body",
    "too_long": "body",
    "invalid_category": "category",
    "invalid_priority": "priority",
    "reason_required": "priority_reason",
    "invalid_status": "status",
    "not_agent": "assignee",
    "assigned": "assignee",
}

_DETAIL = inline_serializer("TicketErrorDetail", fields={"detail": serializers.CharField()})
# The API's error shape (core.api_errors) plus the version to reload at.
_CONFLICT = inline_serializer(
    "TicketConflict",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(help_text="conflict"),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        "current_version": serializers.IntegerField(help_text="Reload at this version."),
    },
)


def is_staff(user) -> bool:
    """Console users: agents and supervisors (the rest of the module says "staff")."""
    return is_agent(user)


def tickets_for(user) -> QuerySet[Ticket]:
    """The tickets `user` may reach through the API (see the module docstring)."""
    if is_staff(user):
        return Ticket.objects.visible_to(user)
    if user.is_authenticated and user.has_perm("tickets.view_ticket"):
        return Ticket.objects.all()
    return Ticket.objects.none()


def with_representation(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """What TicketSerializer shows, joined or prefetched: two queries for a whole page."""
    return tickets.select_related(
        "customer", "shipment__carrier", "incident", "team", "assignee"
    ).prefetch_related(Prefetch("timers", queryset=SLATimer.objects.order_by("due_at", "pk")))


def timeline_for(user) -> Prefetch:
    events = TicketEvent.objects.select_related("actor").order_by("created_at", "pk")
    if not is_staff(user):
        events = events.filter(is_public=True)
    return Prefetch("events", queryset=events)


def _ticket_detail(ticket: Ticket, user) -> Ticket:
    return (
        with_representation(Ticket.objects.all())
        .prefetch_related(timeline_for(user))
        .get(pk=ticket.pk)
    )


def _conflict(exc: StaleTicketError) -> Response:
    return Response(
        {
            **error_body(exc.messages[0], CODE_CONFLICT, {"version": exc.messages}),
            "current_version": exc.current_version,
        },
        status=status.HTTP_409_CONFLICT,
    )


@contextmanager
def _errors_as_field(field: str | None = None) -> Iterator[None]:
    """A service's TicketActionError as a DRF field error: under `field` when given, else under
    the field its code is about."""
    try:
        yield
    except TicketActionError as exc:
        key = field or _ERROR_FIELDS.get(exc.code or "", api_settings.NON_FIELD_ERRORS_KEY)
        raise ValidationError({key: exc.messages}) from None


# --- Idempotency ------------------------------------------------------------------------------


def _ticket_opened_with_key(user, key: str) -> Ticket | None:
    ticket_id = (
        TicketEvent.objects.filter(
            kind=TicketEvent.Kind.CREATED, actor=user, **{f"data__{IDEMPOTENCY_DATA_KEY}": key}
        )
        .values_list("ticket_id", flat=True)
        .first()
    )
    return None if ticket_id is None else Ticket(pk=ticket_id)


def _remember_idempotency_key(ticket: Ticket, key: str) -> None:
    # ticket_open records the "created" row without extra data; add the key in the same
    # transaction, so a ticket and its key are committed together or not at all.
    event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.CREATED)
    event.data = {**event.data, IDEMPOTENCY_DATA_KEY: key}
    event.save(update_fields=["data"])


# --- Permissions and pagination ---------------------------------------------------------------


class TicketPermissions(BasePermission):
    """Per action, as the module docstring describes; the ticket scope is in `tickets_for`."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if view.action == "create":
            return user.has_perm("tickets.add_ticket")
        if view.action == "partial_update":
            return is_staff(user) and user.has_perm("tickets.change_ticket")
        if view.action == "add_message":
            return user.has_perm("tickets.add_message")
        # list, retrieve, messages, and OPTIONS
        return is_staff(user) or user.has_perm("tickets.view_ticket")


class TicketPagination(StrictPageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


# --- Schema -----------------------------------------------------------------------------------

_AUTH_ERRORS = {
    401: OpenApiResponse(_DETAIL, description="No credentials (session or token)."),
    403: OpenApiResponse(_DETAIL, description="Not allowed for this user's role."),
}

_ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The ticket's public id."
)

_CREATE_EXAMPLE = {
    "customer": "SHOP-C-77",
    "subject": "Parcel stuck in customs",
    "body": "My parcel has not moved for a week. Can you check?",
    "category": "delay",
    "channel": "email",
    "tracking_number": "JD014600006281234567",
}

_PATCH_EXAMPLE = {
    "version": 4,
    "priority": "urgent",
    "priority_reason": "Customer is travelling on Friday",
    "assignee": "alice",
}

_LIST_DESCRIPTION = """
Most pressing first: priority (urgent, high, normal, low), then oldest first. Page-number
pagination (`page`, `page_size` up to 200). Filters combine with AND; `status`, `priority`,
`category` and `source` may repeat to match any of several values.

Staff see the tickets of their console scope; integration users see every ticket.
""".strip()

_PATCH_DESCRIPTION = """
Change status, priority (with `priority_reason`), category and assignee (a username, or null
to unassign). **`version` is required**: the version you read. If the ticket changed since,
the answer is 409 with `current_version` and nothing is saved. Fields already in place are
skipped; the others are applied together or not at all (category, priority, assignee, status).
Staff only; overriding the priority needs its permission, and only the assignee or a
supervisor may unassign (403).
""".strip()


@extend_schema_view(
    list=extend_schema(
        summary="List tickets",
        description=_LIST_DESCRIPTION,
        responses={200: TicketSerializer(many=True), 400: OpenApiTypes.OBJECT, **_AUTH_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A ticket with its timeline (oldest first)",
        parameters=[_ID_PARAMETER],
        responses={200: TicketDetailSerializer, 404: _DETAIL, **_AUTH_ERRORS},
    ),
    create=extend_schema(
        summary="Open a ticket",
        description=(
            "Priority from the priority matrix (tier x category) unless set by hand, routing to "
            "a team and agent, SLA timers started. The customer is found by the merchant's "
            "reference or by email; the shipment by tracking number (and carrier code when the "
            "number exists at several carriers). Source: `api` for integration users, `agent` "
            "for staff."
        ),
        parameters=[
            idempotency_parameter(
                "Optional, up to 255 printable ASCII characters. The same key from the same "
                "user answers 200 with the ticket the first request opened, instead of "
                "opening another."
            )
        ],
        request=TicketCreateSerializer,
        responses={
            201: TicketDetailSerializer,
            200: OpenApiResponse(
                TicketDetailSerializer,
                description="Replayed: this user already sent this Idempotency-Key.",
            ),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors."),
            **_AUTH_ERRORS,
        },
        examples=[OpenApiExample("A delayed parcel", value=_CREATE_EXAMPLE, request_only=True)],
    ),
    partial_update=extend_schema(
        summary="Change a ticket",
        description=_PATCH_DESCRIPTION,
        parameters=[_ID_PARAMETER],
        request=TicketUpdateSerializer,
        responses={
            200: TicketDetailSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Field errors, keyed by the field."
            ),
            **_AUTH_ERRORS,
            404: _DETAIL,
            409: OpenApiResponse(_CONFLICT, description="The ticket changed since you read it."),
        },
        examples=[OpenApiExample("Escalate", value=_PATCH_EXAMPLE, request_only=True)],
    ),
)
class TicketViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [TicketPermissions]
    filterset_class = TicketFilter
    pagination_class = TicketPagination
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = Ticket.objects.none()  # for the schema

    def get_authenticate_header(self, request: Request) -> str:
        # Answer 401 (not 403) without credentials: DRF needs a WWW-Authenticate value, and the
        # first authentication class (session) has none.
        return "Token"

    def get_queryset(self) -> QuerySet[Ticket]:
        user = self.request.user
        tickets = tickets_for(user)
        if self.action == "list":
            return with_representation(tickets).order_by("priority_rank", "created_at", "pk")
        if self.action == "retrieve":
            return with_representation(tickets).prefetch_related(timeline_for(user))
        return tickets

    def get_serializer_class(self):
        if self.action == "retrieve":
            return TicketDetailSerializer
        return TicketSerializer

    def _ticket_response(self, ticket: Ticket, code: int = status.HTTP_200_OK, **kwargs):
        data = TicketDetailSerializer(_ticket_detail(ticket, self.request.user)).data
        return Response(data, status=code, **kwargs)

    def create(self, request: Request) -> Response:
        user = request.user
        key = idempotency_key(request)
        with transaction.atomic():
            if key:
                lock_idempotency_key("ticket-create", user, key)
                existing = _ticket_opened_with_key(user, key)
                if existing is not None:
                    return self._ticket_response(existing, headers={"Idempotent-Replayed": "true"})
            serializer = TicketCreateSerializer(
                data=request.data, context=self.get_serializer_context()
            )
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            with _errors_as_field():
                ticket = ticket_open(
                    customer=data["customer"],
                    subject=data["subject"],
                    body=data["body"],
                    category=data["category"],
                    channel=data["channel"],
                    shipment=data["shipment"],
                    language=data.get("language"),
                    priority=data.get("priority"),
                    source=Source.AGENT if is_staff(user) else Source.API,
                    actor=user,
                )
            if key:
                _remember_idempotency_key(ticket, key)
        return self._ticket_response(ticket, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, id: str | None = None) -> Response:
        ticket = self.get_object()
        serializer = TicketUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                _apply_changes(ticket, serializer.validated_data, actor=request.user)
        except StaleTicketError as exc:
            return _conflict(exc)
        return self._ticket_response(ticket)

    @extend_schema(
        summary="The ticket's messages, oldest first",
        description="Integration users see the public messages only (no internal notes).",
        parameters=[_ID_PARAMETER],
        responses={200: MessageSerializer(many=True), 404: _DETAIL, **_AUTH_ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="messages", filter_backends=[])
    def messages(self, request: Request, id: str | None = None) -> Response:
        ticket = self.get_object()
        messages = (
            Message.objects.filter(ticket=ticket)
            .select_related("ticket", "author")
            .order_by("created_at", "pk")
        )
        if not is_staff(request.user):
            messages = messages.filter(kind=Message.Kind.PUBLIC)
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        summary="Write on a ticket",
        description=(
            "Staff: `public` replies to the customer (send `version` to be refused with 409 "
            "if the ticket changed since you read it), `note` is internal. Integration users: "
            "the customer's own message, received through the merchant's system (kind "
            "`public` only). It reopens a recently solved ticket; on a closed one it opens a "
            "follow-up ticket, whose id the answer's `ticket` carries."
        ),
        parameters=[_ID_PARAMETER],
        request=MessageCreateSerializer,
        responses={
            201: MessageCreatedSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors."),
            **_AUTH_ERRORS,
            404: _DETAIL,
            409: OpenApiResponse(_CONFLICT, description="The ticket changed since you read it."),
        },
    )
    @messages.mapping.post
    def add_message(self, request: Request, id: str | None = None) -> Response:
        user = request.user
        ticket = self.get_object()
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        follow_up = reopened = False
        try:
            with _errors_as_field():
                if not is_staff(user):
                    if data["kind"] != Message.Kind.PUBLIC:
                        raise ValidationError({"kind": [CUSTOMER_MESSAGES_ONLY]})
                    result = ticket_add_customer_message(
                        ticket=ticket, body=data["body"], channel=data["channel"]
                    )
                    message, follow_up, reopened = result.message, result.follow_up, result.reopened
                elif data["kind"] == Message.Kind.NOTE:
                    message = ticket_add_note(ticket=ticket, actor=user, body=data["body"])
                else:
                    message = ticket_reply(
                        ticket=ticket,
                        actor=user,
                        body=data["body"],
                        channel=data["channel"],
                        expected_version=data.get("version"),
                    )
        except StaleTicketError as exc:
            return _conflict(exc)
        message.follow_up, message.reopened = follow_up, reopened
        return Response(MessageCreatedSerializer(message).data, status=status.HTTP_201_CREATED)


def _apply_changes(ticket: Ticket, changes: dict, *, actor) -> None:
    """Apply a PATCH inside the caller's transaction: each changed field through its service.

    1. Lock the ticket and keep only the fields that would change it (a no-op is no conflict).
    2. Check the client's version once, against the locked row: the services only check it
       when they change something, so a first field already in place must not let a later one
       through unchecked.
    3. Call the services in order, each with the version the previous one left; the lock is
       held until commit, so nobody else changes the ticket in between.
    """
    locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
    category = changes.get("category")
    priority = changes.get("priority")
    status_ = changes.get("status")
    change_category = category is not None and category != locked.category
    change_priority = priority is not None and not (
        priority == locked.priority and locked.priority_overridden
    )
    change_assignee = "assignee" in changes and (
        (changes["assignee"].pk if changes["assignee"] else None) != locked.assignee_id
    )
    change_status = status_ is not None and status_ != locked.status
    if not (change_category or change_priority or change_assignee or change_status):
        return
    if changes["version"] != locked.version:
        raise StaleTicketError(locked.version)
    current = locked
    if change_category:
        with _errors_as_field("category"):
            current = ticket_change_category(
                ticket=current, actor=actor, category=category, expected_version=current.version
            )
    if change_priority:
        with _errors_as_field("priority"):
            current = ticket_override_priority(
                ticket=current,
                actor=actor,
                priority=priority,
                reason=changes.get("priority_reason", ""),
                expected_version=current.version,
            )
    if change_assignee:
        assignee = changes["assignee"]
        with _errors_as_field("assignee"):
            if assignee is None:
                current = ticket_release(
                    ticket=current, actor=actor, expected_version=current.version
                )
            elif assignee.pk == actor.pk and current.assignee_id is None:
                current = ticket_claim(
                    ticket=current, actor=actor, expected_version=current.version
                )
            else:
                current = ticket_assign(
                    ticket=current,
                    actor=actor,
                    assignee=assignee,
                    expected_version=current.version,
                )
    if change_status:
        with _errors_as_field("status"):
            current = ticket_change_status(
                ticket=current, actor=actor, status=status_, expected_version=current.version
            )
