"""Shipments API (DRF): the carrier webhook and the shipments list/create/retrieve.

Thin views: validate with a serializer, call a service in shipments.ingest or
shipments.imports, serialize the result. Every endpoint is described in /api/schema/.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404
from django.utils import timezone
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
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.inputs import StrictCursorPagination
from core.outside_input import (
    MAX_JSON_DEPTH,
    BoundedJSONParser,
    json_carrier_code,
    json_loads_bounded,
    request_body_read,
)
from core.ratelimit import throttled_response, wait_seconds
from shipments.filters import ShipmentFilter
from shipments.imports import ShipmentExists, shipment_create
from shipments.ingest import (
    MAX_BATCH_EVENTS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookAuthError,
    carrier_status_mappings,
    tracking_events_ingest,
    webhook_request_verify,
)
from shipments.models import Carrier, Shipment, TrackingEvent
from shipments.selectors import shipments_for_api
from shipments.serializers import (
    IngestResultSerializer,
    ShipmentCreateSerializer,
    ShipmentDetailSerializer,
    ShipmentSerializer,
    TrackingEventBatchSerializer,
)

CARRIER_NOT_SIGNED = _("The body names another carrier than the one whose secret signed it.")
AMBIGUOUS_TRACKING_NUMBER = _(
    "Tracking number {tracking_number!r} exists at several carriers ({carriers}): "
    "say which with ?carrier=CODE."
)

_DETAIL = inline_serializer("Detail", fields={"detail": serializers.CharField()})

# --- Carrier webhook ------------------------------------------------------------------------

WEBHOOK_DESCRIPTION = f"""
Carriers push their scans here in batches of 1 to {MAX_BATCH_EVENTS:,} events.

**Authentication** is by signature only (no session, no token): `X-Signature` is
`sha256=` followed by the hex HMAC-SHA256 of the raw request body keyed with the carrier's
webhook secret, and `X-Timestamp` the sending time in unix seconds, within 5 minutes of ours.
A bad or missing signature, an unknown carrier or a stale timestamp answers 401.

**Checked before parsing**: a body over the size limit (2 MiB by default, setting
`WEBHOOK_MAX_BODY_BYTES`) answers 413 unread; the signature is checked on the raw bytes
(401); a body nested deeper than {MAX_JSON_DEPTH} levels answers 400 without being parsed.

**Events.** `status` is the carrier's own status code. Each carrier's codes map to Delaydesk's
status set through its editable status mappings:
`info_received`, `in_transit`, `out_for_delivery`, `available_for_pickup`, `delivered`,
`exception`, `failed_attempt`, `returned`, `expired`; the mapping also carries the cause
(`customs_hold`, `congestion`, `capacity`, `weather`, `sorting`, `address_issue`,
`carrier_outage`, `tracking_lost`, `damage`, `loss`). **A code not in the mapping** is not an
error: the event is stored with its raw code, flagged unmapped, changes nothing about its
shipment, and is counted in `unmapped_status_codes`; operators see the code in the admin, and
when they map it, its stored events are applied.

`occurred_at` must carry a UTC offset and fall in the sane window: not before the year 2000
(`OUTSIDE_TIME_MIN_YEAR`), not more than 24 hours after the batch reaches us
(`OUTSIDE_TIME_MAX_AHEAD_HOURS`); outside it, a field error on that event.

**Validation is all or nothing**: one invalid event answers 400 with field errors keyed by the
event's index (`{{"errors": {{"events.3.occurred_at": ["..."]}}}}`) and nothing is stored.

**Rate limit**: `RATELIMIT_WEBHOOK` signed requests per carrier (600 a minute by default),
counted once the signature is checked; over it, 429 with `Retry-After` (seconds until the
window resets) and nothing stored.

**Idempotent**: an event id already stored for the carrier (or repeated in the batch) is
counted in `duplicates` and never stored twice, so redelivering a batch is safe. Events for
tracking numbers the carrier has no shipment for are listed in `unknown_tracking_numbers`.
Events may arrive out of order: a shipment's state follows its latest event by `occurred_at`.
""".strip()

_WEBHOOK_EXAMPLE_BODY = {
    "carrier": "DHL",
    "events": [
        {
            "event_id": "DHL-7781-0003",
            "tracking_number": "JD014600006281234567",
            "occurred_at": "2026-11-02T09:30:00+01:00",
            "status": "CD",
            "location": "Leipzig hub, DE",
            "description": "Held by customs: documents required",
        }
    ],
}


class TrackingEventWebhookView(APIView):
    authentication_classes: list = []  # carriers prove themselves with the signature
    permission_classes = [AllowAny]
    # The body is read raw (the HMAC covers its exact bytes); JSONParser documents it.
    parser_classes = [BoundedJSONParser]

    def get_authenticate_header(self, request: Request) -> str:
        # Without it DRF turns AuthenticationFailed into 403; 401 needs WWW-Authenticate.
        return 'Signature realm="tracking-events", headers="X-Signature X-Timestamp"'

    @extend_schema(
        operation_id="tracking_events_ingest",
        summary="Carrier webhook: push tracking events",
        description=WEBHOOK_DESCRIPTION,
        tags=["tracking events"],
        auth=[],
        request=TrackingEventBatchSerializer,
        parameters=[
            OpenApiParameter(
                SIGNATURE_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="sha256=<hex HMAC-SHA256 of the raw body with the carrier's secret>",
            ),
            OpenApiParameter(
                TIMESTAMP_HEADER,
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                required=True,
                description="Sending time in unix seconds; refused beyond 5 minutes either way.",
            ),
        ],
        responses={
            202: IngestResultSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Field errors, a body that is not JSON or is nested too deep; "
                "nothing of the batch is stored.",
            ),
            401: OpenApiResponse(
                _DETAIL, description="Bad or missing signature, unknown carrier, stale timestamp."
            ),
            413: OpenApiResponse(_DETAIL, description="The body is over the size limit."),
        },
        examples=[
            OpenApiExample("A customs hold", value=_WEBHOOK_EXAMPLE_BODY, request_only=True),
            OpenApiExample(
                "Accepted",
                value={
                    "accepted": 498,
                    "duplicates": 1,
                    "unknown_tracking_numbers": ["X1"],
                    "unmapped_status_codes": {"ZX": 2},
                },
                response_only=True,
                status_codes=["202"],
            ),
            OpenApiExample(
                "Invalid event",
                value={
                    "detail": "Invalid input.",
                    "code": "invalid",
                    "errors": {
                        "events.3.occurred_at": [
                            "Not a plausible time: more than 24 hours after it reached us."
                        ]
                    },
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        """1. Size, from Content-Length, before reading (413).
        2. The signature of the raw bytes with the secret of the carrier the body names, found
           by a flat scan (401). Nothing recursive has touched the body so far.
        3. Depth, by an iterative scan, then json.loads (400).
        4. The parsed top-level carrier must be the one that signed; then the batch's fields.
        """
        received_at = timezone.now()
        body = request_body_read(request, max_bytes=settings.WEBHOOK_MAX_BODY_BYTES)
        code = json_carrier_code(body)
        carrier = (
            Carrier.objects.filter(code=code).first()
            if code and len(code) <= Carrier._meta.get_field("code").max_length
            else None
        )
        try:
            webhook_request_verify(
                carrier=carrier,
                body=body,
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                now=received_at,
            )
        except WebhookAuthError as exc:
            raise AuthenticationFailed(exc.message) from None
        # Per carrier, counted once the signature proved which carrier sent it: a request
        # that only names a carrier cannot spend that carrier's budget.
        wait = wait_seconds(
            request, group="webhook", rate_setting="RATELIMIT_WEBHOOK", value=carrier.code
        )
        if wait is not None:
            return throttled_response(request, wait)
        payload = json_loads_bounded(body)
        if isinstance(payload, dict) and payload.get("carrier") != carrier.code:
            # Two "carrier" keys, or one inside an event found first: whoever signed, the
            # batch must be the signer's own.
            raise ValidationError({"carrier": [CARRIER_NOT_SIGNED]})
        serializer = TrackingEventBatchSerializer(
            data=payload,
            context={
                "status_mappings": carrier_status_mappings(carrier=carrier),
                "received_at": received_at,
            },
        )
        serializer.is_valid(raise_exception=True)
        result = tracking_events_ingest(
            carrier=carrier, events=serializer.validated_data["events"], received_at=received_at
        )
        return Response(IngestResultSerializer(result).data, status=status.HTTP_202_ACCEPTED)


# --- Shipments --------------------------------------------------------------------------------


class ShipmentPermissions(DjangoModelPermissions):
    """Reading needs shipments.view_shipment (agents, supervisors); creating needs
    shipments.add_shipment (merchant integration users, by token)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class ShipmentPagination(StrictCursorPagination):
    # A cursor stays stable while new shipments stream in, unlike page numbers.
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _events_in_order() -> Prefetch:
    return Prefetch("events", queryset=TrackingEvent.objects.order_by("occurred_at", "id"))


_CARRIER_PARAMETER = OpenApiParameter(
    "carrier",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Carrier code; needed when the tracking number exists at several carriers.",
)


@extend_schema_view(
    list=extend_schema(
        summary="List shipments",
        description="Newest first, cursor-paginated. Filters combine with AND.",
    ),
    retrieve=extend_schema(
        summary="A shipment with its tracking events (oldest first)",
        parameters=[_CARRIER_PARAMETER],
        responses={200: ShipmentDetailSerializer, 400: _DETAIL, 404: _DETAIL},
    ),
    create=extend_schema(
        summary="Create a shipment",
        description=(
            "The customer is found by `external_ref` and created when new; the lane is found "
            "or created from carrier, regions and service level. `promised_at` is the original "
            "promise and is never moved afterwards."
        ),
        request=ShipmentCreateSerializer,
        responses={201: ShipmentDetailSerializer, 400: OpenApiTypes.OBJECT},
    ),
)
class ShipmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [ShipmentPermissions]
    filterset_class = ShipmentFilter
    pagination_class = ShipmentPagination
    lookup_field = "tracking_number"
    lookup_value_regex = r"[^/]+"
    queryset = Shipment.objects.none()  # for DjangoModelPermissions and the schema

    def get_queryset(self) -> QuerySet[Shipment]:
        # DjangoModelPermissions asks for the queryset too: look the reader's scope up once.
        if not hasattr(self, "_shipments"):
            self._shipments = shipments_for_api(user=self.request.user)
        return self._shipments.all()

    def get_serializer_class(self):
        if self.action == "create":
            return ShipmentCreateSerializer
        if self.action == "retrieve":
            return ShipmentDetailSerializer
        return ShipmentSerializer

    def get_object(self) -> Shipment:
        tracking_number = self.kwargs[self.lookup_field]
        candidates = self.get_queryset().filter(tracking_number=tracking_number)
        carrier = self.request.query_params.get("carrier")
        if carrier:
            candidates = candidates.filter(carrier__code=carrier)
        matches = list(candidates[:10])
        if not matches:
            raise Http404
        if len(matches) > 1:
            carriers = ", ".join(sorted(shipment.carrier.code for shipment in matches))
            raise ValidationError(
                {
                    "carrier": [
                        AMBIGUOUS_TRACKING_NUMBER.format(
                            tracking_number=tracking_number, carriers=carriers
                        )
                    ]
                }
            )
        shipment = matches[0]
        self.check_object_permissions(self.request, shipment)
        prefetch_related_objects([shipment], _events_in_order())
        return shipment

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = ShipmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            shipment = shipment_create(data=serializer.to_shipment_in(), now=timezone.now())
        except ShipmentExists as exc:
            raise ValidationError({"tracking_number": [str(exc)]}) from None
        shipment = (
            shipments_for_api(user=request.user)
            .prefetch_related(_events_in_order())
            .get(pk=shipment.pk)
        )
        return Response(ShipmentDetailSerializer(shipment).data, status=status.HTTP_201_CREATED)
