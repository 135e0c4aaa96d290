"""DRF serializers of the shipments API and the carrier webhook (validation in, JSON out)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.models import DelayCause, Language, choice_values
from core.outside_input import (
    FACT,
    PROMISE,
    OutsideTimeKind,
    OutsideTimeWindow,
    outside_time_window,
)
from customers.models import Customer
from shipments.imports import (
    POSTAL_CODE_INVALID,
    POSTAL_CODE_PATTERN,
    TRACKING_NUMBER_TAKEN,
    ShipmentIn,
)
from shipments.ingest import MAX_BATCH_EVENTS, EventIn, unmapped_event
from shipments.models import (
    Carrier,
    Incident,
    IncidentStatus,
    Lane,
    ServiceLevel,
    Shipment,
    TrackingEvent,
)

NAIVE_DATETIME = _("Give a time zone offset (for example 2026-11-02T09:30:00+08:00 or ...Z).")
INVALID_DATETIME = _("Not an ISO 8601 date and time: {value!r}.")
TOO_MANY_EVENTS = _("A batch carries at most {max} events; got {count}.")
EMPTY_BATCH = _("A batch carries at least one event.")
UNKNOWN_CARRIER_CODE = _("No active carrier with code {code!r}.")


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset; a naive time is refused rather than guessed (it is a carrier's
    local time in an unknown zone, and a guess shifts the scan by hours).

    A time from outside must also fall in the sane window of its ``kind`` (core.outside_input:
    a fact not before 2000 nor more than a day after ``context["received_at"]``, else now; a
    promise up to a year ahead), checked before the conversion to UTC, which year 1 or 9999
    with an offset would overflow.
    """

    default_error_messages = {
        "invalid_iso": INVALID_DATETIME,
        "naive": NAIVE_DATETIME,
    }

    def __init__(self, *, kind: OutsideTimeKind = FACT, **kwargs):
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if isinstance(value, dt.datetime):
            parsed = value
        else:
            try:
                parsed = parse_datetime(str(value).strip())
            except ValueError:
                parsed = None
            if parsed is None:
                self.fail("invalid_iso", value=value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail("naive")
        received_at = self.context.get("received_at") or timezone.now()
        error = outside_time_window(received_at=received_at, kind=self.kind).error(parsed)
        if error is not None:
            raise serializers.ValidationError(error, code="outside_window")
        return parsed.astimezone(dt.UTC)


# --- Carrier webhook ------------------------------------------------------------------------


class TrackingEventInSerializer(serializers.Serializer):
    """One carrier scan. ``status`` is the carrier's own code, mapped per carrier; a code the
    mapping does not know makes an unmapped event (stored, changing nothing until mapped)."""

    event_id = serializers.CharField(
        max_length=128, help_text="The carrier's unique id of this event (idempotency key)."
    )
    tracking_number = serializers.CharField(max_length=64)
    occurred_at = AwareDateTimeField(help_text="When the scan happened, ISO 8601 with offset.")
    status = serializers.CharField(
        max_length=64,
        help_text="The carrier's own status code, mapped through its status mappings; an "
        "unknown code is stored unmapped and counted in `unmapped_status_codes`.",
    )
    location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )

    def validate(self, attrs) -> EventIn:
        fields = {
            "event_id": attrs["event_id"],
            "tracking_number": attrs["tracking_number"],
            "occurred_at": attrs["occurred_at"],
            "carrier_code": attrs["status"],
            "location": attrs["location"],
            "description": attrs["description"],
        }
        mapping = self.context["status_mappings"].get(attrs["status"])
        if mapping is None:
            return unmapped_event(**fields)
        return EventIn(**fields, status=mapping[0], cause=mapping[1])


class EventBatchField(serializers.ListField):
    """The batch's events: size checked first, then each event, errors keyed by index.

    Validating 500 events through DRF's field machinery takes ~80 ms, the largest single cost
    of a batch (bench/bench_ingest.py --profile). So each event first goes through
    ``event_fast_validate``, which accepts only the plain well-formed case; anything else goes
    through the child serializer, which decides and words the errors. The fast path may be
    stricter than DRF, never more lenient (tests/shipments/test_ingest.py compares them).
    """

    def to_internal_value(self, data):
        if isinstance(data, list):
            if not data:
                raise serializers.ValidationError(EMPTY_BATCH)
            if len(data) > MAX_BATCH_EVENTS:
                # Before looking at any item: a 50,000-event body costs nothing.
                raise serializers.ValidationError(
                    TOO_MANY_EVENTS.format(max=MAX_BATCH_EVENTS, count=len(data))
                )
        return super().to_internal_value(data)

    def run_child_validation(self, data):
        mappings = self.context["status_mappings"]
        window = outside_time_window(received_at=self.context.get("received_at") or timezone.now())
        result, errors = [], {}
        for index, item in enumerate(data):
            event = event_fast_validate(item, status_mappings=mappings, window=window)
            if event is None:
                try:
                    event = self.child.run_validation(item)
                except serializers.ValidationError as exc:
                    errors[index] = exc.detail
                    continue
            result.append(event)
        if errors:
            raise serializers.ValidationError(errors)
        return result


# name -> (max length, blank allowed, required), as TrackingEventInSerializer declares them.
_EVENT_TEXT_FIELDS = {
    name: (field.max_length, field.allow_blank, field.required)
    for name, field in TrackingEventInSerializer().fields.items()
    if isinstance(field, serializers.CharField)
}


def event_fast_validate(
    item, *, status_mappings: dict[str, tuple[str, str]], window: OutsideTimeWindow
) -> EventIn | None:
    """An EventIn for a plainly valid event, else None ("let the serializer decide")."""
    if type(item) is not dict:
        return None
    texts = {}
    for name, (max_length, allow_blank, required) in _EVENT_TEXT_FIELDS.items():
        value = item.get(name, None if required else "")
        if type(value) is not str or len(value) > max_length or not (value or allow_blank):
            return None
        # DRF trims whitespace and refuses NUL and lone surrogates: leave those cases to it.
        if value and (value[0].isspace() or value[-1].isspace() or "\x00" in value):
            return None
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return None
        texts[name] = value
    occurred_at = item.get("occurred_at")
    if type(occurred_at) is not str:
        return None
    try:
        moment = dt.datetime.fromisoformat(occurred_at)  # what parse_datetime tries first
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None or moment not in window:
        return None
    fields = {
        "event_id": texts["event_id"],
        "tracking_number": texts["tracking_number"],
        "occurred_at": moment.astimezone(dt.UTC),
        "carrier_code": texts["status"],
        "location": texts["location"],
        "description": texts["description"],
    }
    mapping = status_mappings.get(texts["status"])
    if mapping is None:
        return unmapped_event(**fields)
    return EventIn(**fields, status=mapping[0], cause=mapping[1])


class TrackingEventBatchSerializer(serializers.Serializer):
    """The webhook body. Needs ``context["status_mappings"]``: carrier code -> (status, cause)."""

    carrier = serializers.CharField(max_length=32, help_text="The carrier's code in Delaydesk.")
    events = EventBatchField(
        child=TrackingEventInSerializer(), min_length=1, max_length=MAX_BATCH_EVENTS
    )


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(
        help_text="Events already stored (or repeated in the batch); not stored again."
    )
    unknown_tracking_numbers = serializers.ListField(
        child=serializers.CharField(),
        help_text="Tracking numbers this carrier has no shipment for; their events are dropped.",
    )
    unmapped_status_codes = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Carrier status codes not in the carrier's status mappings, with how many of "
        "this batch's stored events carry each. Those events are kept but change nothing until "
        "the code is mapped; then they are applied.",
    )


# --- Shipments API: out -----------------------------------------------------------------------


class CustomerBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["public_id", "external_ref", "name", "language"]


class LaneBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lane
        fields = [
            "id",
            "origin_region",
            "destination_region",
            "service_level",
            "mean_transit_hours",
            "p90_transit_hours",
        ]


# drf-spectacular names an enum after its field, and warns when one name covers two choice
# sets (Shipment.status vs Incident.status) or one choice set gets two names (cause and
# delay_cause are both DelayCause). ENUM_NAME_OVERRIDES in settings fixes that globally; until
# then these two fields are documented without a second enum component.
@extend_schema_field(
    {
        "type": "string",
        "description": "Cause of the detected delay: " + ", ".join(choice_values(DelayCause)),
    }
)
class DelayCauseField(serializers.CharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "description": "Incident status: " + ", ".join(choice_values(IncidentStatus)),
    }
)
class IncidentStatusField(serializers.CharField):
    pass


class IncidentBriefSerializer(serializers.ModelSerializer):
    status = IncidentStatusField(read_only=True)

    class Meta:
        model = Incident
        fields = ["public_id", "title", "status", "cause"]


class TrackingEventSerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="carrier_event_id")

    class Meta:
        model = TrackingEvent
        fields = [
            "event_id",
            "occurred_at",
            "received_at",
            "carrier_code",
            "status",
            "cause",
            "location",
            "description",
            "unmapped",
        ]


@extend_schema_field(CustomerBriefSerializer(allow_null=True))
class ScopedCustomerField(serializers.Field):
    """The shipment's customer, or null for a reader who may not see who it is: an agent sees
    the customers with a ticket in their scope (selectors.shipments_for_api)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, shipment: Shipment):
        if not getattr(shipment, "customer_visible", False):
            return None
        return CustomerBriefSerializer(shipment.customer).data


class ShipmentSerializer(serializers.ModelSerializer):
    carrier = serializers.SlugRelatedField(slug_field="code", read_only=True)
    customer = ScopedCustomerField(
        help_text="Null when the reader may not see who the customer is: an agent sees the "
        "customers with a ticket in their team's scope."
    )
    lane = LaneBriefSerializer(read_only=True, allow_null=True)
    incident = IncidentBriefSerializer(read_only=True, allow_null=True)
    delay_cause = DelayCauseField(read_only=True)
    slip_days = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Days between the original promise and the current estimate "
        "(delivery, else the estimate told to the customer: late_eta while the level is "
        "will_be_late, else predicted, else the carrier's ETA); positive means late.",
    )

    class Meta:
        model = Shipment
        fields = [
            "public_id",
            "carrier",
            "tracking_number",
            "order_number",
            "customer",
            "lane",
            "service_level",
            "origin_region",
            "destination_region",
            "destination_postal_code",
            "status",
            "cause",
            "order_value",
            "currency",
            "ordered_at",
            "shipped_at",
            "promised_at",
            "carrier_eta",
            "predicted_eta",
            "late_eta",
            "delivered_at",
            "slip_days",
            "last_event_at",
            "last_location",
            "location_since",
            "delay_level",
            "delay_cause",
            "delay_rule",
            "delay_detected_at",
            "incident",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ShipmentDetailSerializer(ShipmentSerializer):
    events = TrackingEventSerializer(many=True, read_only=True)

    class Meta(ShipmentSerializer.Meta):
        fields = [*ShipmentSerializer.Meta.fields, "events"]
        read_only_fields = fields


# --- Shipments API: in ------------------------------------------------------------------------


class CustomerInSerializer(serializers.Serializer):
    """The merchant's customer; found by ``external_ref``, created when new."""

    external_ref = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, default=Language.EN
    )


class ShipmentCreateSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=32, help_text="The carrier's code.")
    tracking_number = serializers.CharField(max_length=64)
    order_number = serializers.CharField(max_length=64)
    customer = CustomerInSerializer()
    origin_region = serializers.CharField(max_length=64)
    destination_region = serializers.CharField(max_length=64)
    destination_postal_code = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text="The delivery address's postal code (letters A-Z, digits, spaces, hyphens); "
        "the customer proves an order is theirs with it on the progress page.",
    )
    service_level = serializers.ChoiceField(
        choices=ServiceLevel.choices, required=False, default=ServiceLevel.STANDARD
    )
    ordered_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    shipped_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    promised_at = AwareDateTimeField(
        kind=PROMISE, help_text="The promise made to the customer; never moved."
    )
    order_value = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False, default=0
    )
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$", required=False, default="EUR", help_text="ISO 4217, e.g. EUR."
    )

    def validate_carrier(self, value: str) -> Carrier:
        carrier = Carrier.objects.filter(code=value, is_active=True).first()
        if carrier is None:
            raise serializers.ValidationError(UNKNOWN_CARRIER_CODE.format(code=value))
        return carrier

    def validate_destination_postal_code(self, value: str) -> str:
        if not POSTAL_CODE_PATTERN.fullmatch(value):
            raise serializers.ValidationError(POSTAL_CODE_INVALID, code="invalid")
        return value

    def validate(self, attrs):
        carrier = attrs["carrier"]
        if Shipment.objects.filter(
            carrier=carrier, tracking_number=attrs["tracking_number"]
        ).exists():
            raise serializers.ValidationError({"tracking_number": [TRACKING_NUMBER_TAKEN]})
        return attrs

    def to_shipment_in(self) -> ShipmentIn:
        data = self.validated_data
        customer = data["customer"]
        return ShipmentIn(
            carrier_id=data["carrier"].pk,
            tracking_number=data["tracking_number"],
            order_number=data["order_number"],
            customer_ref=customer["external_ref"],
            customer_name=customer["name"],
            customer_email=customer["email"],
            customer_phone=customer["phone"],
            customer_language=customer["language"],
            origin_region=data["origin_region"],
            destination_region=data["destination_region"],
            destination_postal_code=data["destination_postal_code"],
            service_level=data["service_level"],
            ordered_at=data["ordered_at"],
            shipped_at=data["shipped_at"],
            promised_at=data["promised_at"],
            order_value=Decimal(data["order_value"]),
            currency=data["currency"].upper(),
        )
