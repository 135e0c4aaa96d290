"""Compensations API (DRF): list and read offers, request a remedy, approve or reject one.

Thin views: validate with a serializer in compensation.serializers, call a service in
compensation.services, serialize the result. Every endpoint is described in /api/schema/.

Who may do what:

- **Agents** (`compensation.view_compensationoffer`, `add_compensationoffer`, in the console)
  list and read the offers of the tickets in their console scope
  (`Ticket.objects.visible_to(user)`; another team's offer answers 404, as if it did not
  exist) and request remedies for those tickets. Within their authority a remedy goes out at
  once; above it, it waits for a supervisor.
- **Supervisors** (`compensation.approve_compensationoffer`) see every offer and also approve
  or reject, with the UI's rules: never a remedy they requested themselves (four-eyes), only
  within their own authority, once.
- **Integration users** (a merchant's system with a token, `compensation.view_compensationoffer`)
  read every offer, e.g. to apply an issued refund or coupon in the shop, but not the support
  team's notes (`reason` and `approval` are null for them). They neither request nor decide
  (403): money goes out through the staff's authority checks only.
- Anyone else signed in: 403. Nobody signed in: 401.

**Idempotent create.** A client may send an `Idempotency-Key` header with POST
/compensations/. The key and a digest of the validated request are stored in the first
timeline row the request wrote on the ticket (about its first offer; the tickets API keeps its
key in the "created" row likewise), in the same transaction as the offers. The same key from
the same user again, with the same request, answers 200 with the offers the first request made
(header `Idempotent-Replayed: true`) instead of offering the remedy twice; the same key with
another request answers 422 (`code` "idempotency_key_reused"; IETF draft "The Idempotency-Key
HTTP Header Field") and changes nothing. Concurrent requests with one key are serialised by a
transaction-scoped advisory lock on PostgreSQL and by SQLite's write lock at BEGIN (IMMEDIATE
mode). A request refused (400, 403) keeps no key: the same key may be sent again, corrected.

**Refusals** of the services (compensation.errors.CompensationError) answer in the API's error
shape with the service's code: four-eyes and a supervisor's own authority 403, an offer already
decided 409, anything about an input 400 with the message under that field
(`remedies.0.amount`, `note`, ...).

**Pagination** is by page number, newest first.
"""

from __future__ import annotations

import hashlib
import json

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
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
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from compensation.errors import CompensationError
from compensation.filters import CompensationOfferFilter
from compensation.models import ApprovalRequest, CompensationOffer
from compensation.serializers import (
    REMEDY_FIELDS,
    CompensationOfferSerializer,
    DecisionSerializer,
    OfferCreateSerializer,
    OffersSerializer,
    RejectSerializer,
)
from compensation.services import RemedySpec, offer_approve, offer_reject, offer_request
from core.api_errors import error_body
from core.idempotency import idempotency_key, idempotency_parameter, lock_idempotency_key
from core.inputs import StrictPageNumberPagination
from tickets.models import Ticket, TicketEvent
from tickets.services import is_agent

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

VIEW = "compensation.view_compensationoffer"
ADD = "compensation.add_compensationoffer"
APPROVE = "compensation.approve_compensationoffer"

# In the data of the first timeline row the request wrote (tickets.models.TicketEvent).
IDEMPOTENCY_DATA_KEY = "compensation_idempotency_key"
IDEMPOTENCY_DIGEST_KEY = "compensation_request_digest"
IDEMPOTENCY_OFFERS_KEY = "compensation_offers"
CODE_KEY_REUSED = "idempotency_key_reused"
KEY_REUSED = _(
    "This Idempotency-Key was already used for another request: send a new key for a new remedy."
)

# Service refusals that are no input error: the status they answer.
_FORBIDDEN_CODES = {"forbidden", "four_eyes", "above_authority"}
_CONFLICT_CODES = {"already_decided", "already_chosen", "not_offered", "already_issued"}

_DETAIL = inline_serializer("CompensationErrorDetail", fields={"detail": serializers.CharField()})


def is_staff(user) -> bool:
    """Console users: agents and supervisors."""
    return is_agent(user)


def offers_for(user) -> QuerySet[CompensationOffer]:
    """The offers `user` may reach through the API (see the module docstring)."""
    if not (user and user.is_authenticated and user.has_perm(VIEW)):
        return CompensationOffer.objects.none()
    if is_staff(user):
        return CompensationOffer.objects.filter(ticket__in=Ticket.objects.visible_to(user))
    return CompensationOffer.objects.all()


def with_representation(offers: QuerySet[CompensationOffer]) -> QuerySet[CompensationOffer]:
    """What CompensationOfferSerializer shows, joined or prefetched: two queries a page."""
    return offers.select_related(
        "ticket__incident", "customer", "requested_by", "approved_by"
    ).prefetch_related(
        Prefetch(
            "approvals",
            queryset=ApprovalRequest.objects.select_related("requested_by", "decided_by"),
        )
    )


def _offer_detail(offer: CompensationOffer) -> CompensationOffer:
    return with_representation(CompensationOffer.objects.all()).get(pk=offer.pk)


def _refusal(exc: CompensationError, *, remedies: int = 1) -> Response:
    """A service's CompensationError in the API's error shape (see the module docstring)."""
    message = str(exc.message)
    if exc.code in _FORBIDDEN_CODES:
        return Response(error_body(message, exc.code), status=status.HTTP_403_FORBIDDEN)
    if exc.code in _CONFLICT_CODES:
        return Response(error_body(message, exc.code), status=status.HTTP_409_CONFLICT)
    field = exc.field or api_settings.NON_FIELD_ERRORS_KEY
    if field in REMEDY_FIELDS:
        # The service names the remedy's field; with one remedy there is no doubt which.
        field = f"remedies.0.{field}" if remedies == 1 else f"remedies.{field}"
    return Response(
        error_body(message, exc.code, {field: [message]}), status=status.HTTP_400_BAD_REQUEST
    )


# --- Idempotency ------------------------------------------------------------------------------


def _request_digest(data: dict) -> str:
    """The validated request, canonical: the same remedy sent twice has the same digest."""

    def text(value) -> str | None:
        return (
            None
            if value is None
            else str(value.normalize() if hasattr(value, "normalize") else value)
        )

    canonical = {
        "ticket": str(data["ticket"].public_id),
        "reason": data["reason"],
        "remedies": [
            {
                "kind": remedy["kind"],
                "amount": text(remedy.get("amount")),
                "currency": remedy.get("currency"),
                "percent": text(remedy.get("percent")),
                "points": remedy.get("points"),
            }
            for remedy in data["remedies"]
        ],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _offers_requested_with_key(user, key: str) -> tuple[list[CompensationOffer], str] | None:
    """The offers an earlier request of `user` with `key` made, and that request's digest."""
    data = (
        TicketEvent.objects.filter(actor=user, **{f"data__{IDEMPOTENCY_DATA_KEY}": key})
        .values_list("data", flat=True)
        .first()
    )
    if data is None:
        return None
    ids = data.get(IDEMPOTENCY_OFFERS_KEY) or []
    offers = list(
        with_representation(CompensationOffer.objects.filter(public_id__in=ids)).order_by(
            "created_at", "pk"
        )
    )
    return offers, data.get(IDEMPOTENCY_DIGEST_KEY, "")


def _remember_idempotency_key(*, user, key: str, digest: str, offers) -> None:
    """Put the key on the first timeline row the services wrote about the first offer (the
    same transaction: the offers and their key are committed together or not at all)."""
    event = (
        TicketEvent.objects.filter(
            ticket_id=offers[0].ticket_id, actor=user, data__offer=str(offers[0].public_id)
        )
        .order_by("pk")
        .first()
    )
    if event is None:  # the services wrote no row of ours: nothing to hang the key on
        return
    event.data = {
        **event.data,
        IDEMPOTENCY_DATA_KEY: key,
        IDEMPOTENCY_DIGEST_KEY: digest,
        IDEMPOTENCY_OFFERS_KEY: [str(offer.public_id) for offer in offers],
    }
    event.save(update_fields=["data"])


# --- Permissions and pagination ---------------------------------------------------------------


class CompensationPermissions(BasePermission):
    """Per action, as the module docstring describes; the ticket scope is in `offers_for`."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if view.action == "create":
            return is_staff(user) and user.has_perm(ADD)
        if view.action in {"approve", "reject"}:
            return is_staff(user) and user.has_perm(APPROVE)
        # list, retrieve, and OPTIONS
        return user.has_perm(VIEW)


class CompensationPagination(StrictPageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


# --- Schema -----------------------------------------------------------------------------------

_AUTH_ERRORS = {
    401: OpenApiResponse(_DETAIL, description="No credentials (session or token)."),
    403: OpenApiResponse(_DETAIL, description="Not allowed for this user's role."),
}

_ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The offer's public id."
)

_REFUSAL = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Refused: `code` says why (four_eyes: you requested it; above_authority).",
)

_CREATE_EXAMPLE = {
    "ticket": "0b8e3c52-5d7e-4f43-a1f4-0c5a2f1e9d10",
    "remedies": [{"kind": "partial_refund", "amount": "15.00", "currency": "EUR"}],
    "reason": "Parcel 9 days late; customer needed it for a birthday.",
}
_ALTERNATIVES_EXAMPLE = {
    "ticket": "0b8e3c52-5d7e-4f43-a1f4-0c5a2f1e9d10",
    "remedies": [
        {"kind": "coupon", "amount": "20.00", "currency": "EUR"},
        {"kind": "discount_code", "percent": "15"},
        {"kind": "loyalty_points", "points": 500},
    ],
    "reason": "Lost in transit; let the customer choose.",
}

_CREATE_DESCRIPTION = """
Request a remedy for a ticket you may read: one remedy, or 2-3 alternatives the customer
chooses among. Money is a string (`"15.00"`), rounded to the currency's minor unit.

Within your authority (per currency) and, for an incident's ticket, its budget, the remedy goes
out at once: a single remedy is issued, alternatives are offered to the customer (status
`offered`). Above it, the offers wait for a supervisor (status `pending_approval`).
Staff only.
""".strip()

_LIST_DESCRIPTION = """
Newest first. Page-number pagination (`page`, `page_size` up to 200). Filters combine with
AND; `status` and `kind` may repeat to match any of several values.

Staff see the offers of the tickets in their console scope (supervisors: all); integration
users see every offer, without the support team's notes (`reason`, `approval`).
""".strip()


@extend_schema_view(
    list=extend_schema(
        summary="List compensation offers",
        description=_LIST_DESCRIPTION,
        responses={200: CompensationOfferSerializer(many=True), **_AUTH_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A compensation offer",
        parameters=[_ID_PARAMETER],
        responses={200: CompensationOfferSerializer, 404: _DETAIL, **_AUTH_ERRORS},
    ),
    create=extend_schema(
        summary="Request a remedy",
        description=_CREATE_DESCRIPTION,
        parameters=[
            idempotency_parameter(
                "Optional, up to 255 printable ASCII characters. The same key from the same "
                "user with the same request answers 200 with the offers the first request "
                "made; with another request, 422."
            )
        ],
        request=OfferCreateSerializer,
        responses={
            201: OffersSerializer,
            200: OpenApiResponse(
                OffersSerializer,
                description="Replayed: this user already sent this Idempotency-Key.",
            ),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors."),
            **_AUTH_ERRORS,
            422: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="This Idempotency-Key was used for another request.",
            ),
        },
        examples=[
            OpenApiExample("One remedy", value=_CREATE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Alternatives for the customer", value=_ALTERNATIVES_EXAMPLE, request_only=True
            ),
        ],
    ),
)
class CompensationOfferViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CompensationPermissions]
    filterset_class = CompensationOfferFilter
    pagination_class = CompensationPagination
    serializer_class = CompensationOfferSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "head", "options"]
    queryset = CompensationOffer.objects.none()  # for the schema

    def get_authenticate_header(self, request: Request) -> str:
        # Answer 401 (not 403) without credentials, as the tickets API does.
        return "Token"

    def get_queryset(self) -> QuerySet[CompensationOffer]:
        offers = offers_for(self.request.user)
        if self.action in {"list", "retrieve"}:
            return with_representation(offers).order_by("-created_at", "-pk")
        return offers

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "staff": is_staff(self.request.user)}

    def _offer_response(self, offer: CompensationOffer, code: int = status.HTTP_200_OK):
        data = CompensationOfferSerializer(
            _offer_detail(offer), context=self.get_serializer_context()
        ).data
        return Response(data, status=code)

    def _offers_response(self, offers, code: int, **kwargs) -> Response:
        data = OffersSerializer({"offers": offers}, context=self.get_serializer_context()).data
        return Response(data, status=code, **kwargs)

    def create(self, request: Request) -> Response:
        user = request.user
        key = idempotency_key(request)
        serializer = OfferCreateSerializer(
            data=request.data,
            context={**self.get_serializer_context(), "tickets": Ticket.objects.visible_to(user)},
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        digest = _request_digest(data)
        try:
            with transaction.atomic():
                if key:
                    lock_idempotency_key("compensation-create", user, key)
                    earlier = _offers_requested_with_key(user, key)
                    if earlier is not None:
                        offers, earlier_digest = earlier
                        if earlier_digest != digest:
                            return Response(
                                error_body(
                                    KEY_REUSED,
                                    CODE_KEY_REUSED,
                                    {"idempotency_key": [str(KEY_REUSED)]},
                                ),
                                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                            )
                        return self._offers_response(
                            offers, status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"}
                        )
                offers = offer_request(
                    ticket=data["ticket"],
                    by=user,
                    remedies=[RemedySpec(**remedy) for remedy in data["remedies"]],
                    reason=data["reason"],
                )
                if key:
                    _remember_idempotency_key(user=user, key=key, digest=digest, offers=offers)
        except CompensationError as exc:
            return _refusal(exc, remedies=len(data["remedies"]))
        offers = list(
            with_representation(
                CompensationOffer.objects.filter(pk__in=[offer.pk for offer in offers])
            ).order_by("created_at", "pk")
        )
        return self._offers_response(offers, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve a remedy",
        description=(
            "Supervisors: approve a remedy waiting for approval (with its alternatives); it then "
            "goes out as if within authority. Never one you requested yourself (403, code "
            "`four_eyes`), only within your own authority (403), once (409, code "
            "`already_decided`)."
        ),
        parameters=[_ID_PARAMETER],
        request=DecisionSerializer,
        responses={
            200: CompensationOfferSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors."),
            **_AUTH_ERRORS,
            404: _DETAIL,
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="Already decided."),
        },
        examples=[
            OpenApiExample("With a note", value={"note": "OK, loyal customer."}, request_only=True)
        ],
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def approve(self, request: Request, id: str | None = None) -> Response:
        offer = self.get_object()
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                offer_approve(offer=offer, by=request.user, note=serializer.validated_data["note"])
        except CompensationError as exc:
            return _refusal(exc)
        return self._offer_response(offer)

    @extend_schema(
        summary="Reject a remedy",
        description=(
            "Supervisors: reject a remedy waiting for approval (with its alternatives). The "
            "`note` is required: the agent reads it on the ticket's timeline. Once (409)."
        ),
        parameters=[_ID_PARAMETER],
        request=RejectSerializer,
        responses={
            200: CompensationOfferSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors (`note`)."),
            **_AUTH_ERRORS,
            404: _DETAIL,
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="Already decided."),
        },
        examples=[
            OpenApiExample(
                "Why not",
                value={"note": "Above policy: offer the 15% code instead."},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def reject(self, request: Request, id: str | None = None) -> Response:
        offer = self.get_object()
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                offer_reject(offer=offer, by=request.user, note=serializer.validated_data["note"])
        except CompensationError as exc:
            return _refusal(exc)
        return self._offer_response(offer)
