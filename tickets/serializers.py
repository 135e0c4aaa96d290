"""DRF serializers of the tickets API: the ticket out, and what creating, changing and writing
on a ticket takes in. Validation only; tickets.api calls the services."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.inputs import IdSerializerField
from core.models import Channel, Language
from customers.models import Customer, CustomerTier
from shipments.models import Shipment
from tickets.models import (
    Category,
    Message,
    MessageKind,
    Priority,
    SLATimer,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    TimerKind,
    TimerStatus,
)
from tickets.services import AGENT_STATUSES, CANNOT_OVERRIDE, MAX_MESSAGE_LENGTH, REASON_REQUIRED

UNKNOWN_CUSTOMER = _("No customer with this reference or email.")
AMBIGUOUS_CUSTOMER_EMAIL = _(
    "Several customers share this email: give the merchant's customer reference instead."
)
UNKNOWN_TRACKING_NUMBER = _("No shipment with this tracking number.")
AMBIGUOUS_TRACKING_NUMBER = _(
    "This tracking number exists at several carriers ({carriers}): say which with `carrier`."
)
OTHER_CUSTOMERS_SHIPMENT = _("This shipment belongs to another customer.")
CARRIER_WITHOUT_TRACKING_NUMBER = _("Give the tracking number too.")
UNKNOWN_USER = _("No user with this username.")
NOTHING_TO_CHANGE = _("Give at least one of status, priority, category or assignee.")
CUSTOMER_MESSAGES_ONLY = _("Integration users add the customer's messages only (kind public).")


def _string_of(choices, what: str) -> dict:
    return {"type": "string", "description": f"{what}: " + ", ".join(v for v, _label in choices)}


# drf-spectacular names an enum component after its field and warns when one name covers
# several choice sets used in several components: `status` (shipments, tickets, timers, the
# statuses an agent may choose) and `kind` (messages, timers, timeline rows). As in
# shipments.serializers, these fields are documented as strings listing their values until
# ENUM_NAME_OVERRIDES in settings names each set. Other choice fields stay enums.
def _documented_choice(choices, what: str, **kwargs) -> serializers.ChoiceField:
    field_class = extend_schema_field(_string_of(choices, what))(
        type("DocumentedChoiceField", (serializers.ChoiceField,), {})
    )
    return field_class(choices=choices, **kwargs)


def _documented_string(choices, what: str) -> serializers.CharField:
    field_class = extend_schema_field(_string_of(choices, what))(
        type("DocumentedStringField", (serializers.CharField,), {})
    )
    return field_class(read_only=True)


# --- Out --------------------------------------------------------------------------------------


class TicketCustomerSerializer(serializers.ModelSerializer):
    tier = serializers.ChoiceField(choices=CustomerTier.choices, read_only=True)

    class Meta:
        model = Customer
        fields = ["external_ref", "name", "tier"]
        read_only_fields = fields


class TicketShipmentSerializer(serializers.ModelSerializer):
    carrier = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="Carrier code."
    )

    class Meta:
        model = Shipment
        fields = ["tracking_number", "order_number", "carrier"]
        read_only_fields = fields


class SLATimerSerializer(serializers.ModelSerializer):
    kind = _documented_string(TimerKind.choices, "Timer kind")
    status = _documented_string(TimerStatus.choices, "Timer status")

    class Meta:
        model = SLATimer
        fields = ["kind", "name", "status", "due_at", "met_at", "minutes_early"]
        read_only_fields = fields


class TicketEventSerializer(serializers.ModelSerializer):
    kind = _documented_string(TicketEventKind.choices, "What happened")
    at = serializers.DateTimeField(source="created_at", read_only=True)
    actor = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username, or null."
    )
    is_public = serializers.BooleanField(
        read_only=True, help_text="Shown on the customer's progress page."
    )
    data = serializers.JSONField(read_only=True, help_text="Details; they depend on the kind.")

    class Meta:
        model = TicketEvent
        fields = ["kind", "at", "actor", "is_public", "data"]
        read_only_fields = fields


class TicketSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    reference = serializers.CharField(
        read_only=True, help_text="#pk: what agents and customers say on the phone."
    )
    status = _documented_string(TicketStatus.choices, "Ticket status")
    customer = TicketCustomerSerializer(read_only=True)
    shipment = TicketShipmentSerializer(read_only=True, allow_null=True)
    incident = serializers.UUIDField(
        source="incident.public_id",
        read_only=True,
        allow_null=True,
        help_text="The incident's public id, or null.",
    )
    team = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="Team slug, or null."
    )
    assignee = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username, or null."
    )
    sla = SLATimerSerializer(
        source="timers", many=True, read_only=True, help_text="SLA timers, soonest due first."
    )

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "subject",
            "status",
            "category",
            "source",
            "priority",
            "priority_overridden",
            "language",
            "customer",
            "shipment",
            "incident",
            "team",
            "assignee",
            "sla",
            "is_escalated",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TicketDetailSerializer(TicketSerializer):
    timeline = TicketEventSerializer(
        source="events",
        many=True,
        read_only=True,
        help_text="Oldest first. Integration users see the public rows only.",
    )

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "timeline"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    ticket = serializers.UUIDField(source="ticket.public_id", read_only=True)
    kind = _documented_string(MessageKind.choices, "Message kind")
    channel = serializers.CharField(
        read_only=True, help_text="email, sms, push, phone, or empty when unknown."
    )
    author = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The agent's username; null for the customer.",
    )

    class Meta:
        model = Message
        fields = ["ticket", "kind", "direction", "channel", "author", "body", "created_at"]
        read_only_fields = fields


class MessageCreatedSerializer(MessageSerializer):
    """The new message; `ticket` is the follow-up ticket's id when the message opened one."""

    follow_up = serializers.BooleanField(
        read_only=True,
        help_text="The ticket was closed: the customer's message opened a follow-up ticket.",
    )
    reopened = serializers.BooleanField(
        read_only=True, help_text="The customer's message reopened a solved ticket."
    )

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "follow_up", "reopened"]
        read_only_fields = fields


# --- In ---------------------------------------------------------------------------------------


def _find_customer(value: str) -> Customer:
    customer = Customer.objects.filter(external_ref=value).first()
    if customer is not None:
        return customer
    if "@" in value:
        matches = list(Customer.objects.filter(email__iexact=value)[:2])
        if len(matches) > 1:
            raise serializers.ValidationError(AMBIGUOUS_CUSTOMER_EMAIL)
        if matches:
            return matches[0]
    raise serializers.ValidationError(UNKNOWN_CUSTOMER)


class TicketCreateSerializer(serializers.Serializer):
    customer = serializers.CharField(
        max_length=254, help_text="The merchant's customer reference (external_ref), or email."
    )
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(
        max_length=MAX_MESSAGE_LENGTH, help_text="The customer's own words."
    )
    category = serializers.ChoiceField(choices=Category.choices)
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Where the customer wrote or called from.",
    )
    tracking_number = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )
    carrier = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="Carrier code; needed when the tracking number exists at several carriers.",
    )
    priority = serializers.ChoiceField(
        choices=Priority.choices,
        required=False,
        help_text="Set by hand (needs the override permission); default: the priority matrix.",
    )
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, help_text="Default: the customer's language."
    )

    def validate_customer(self, value: str) -> Customer:
        return _find_customer(value.strip())

    def validate_priority(self, value: str) -> str:
        if not self.context["request"].user.has_perm("tickets.override_priority"):
            raise serializers.ValidationError(CANNOT_OVERRIDE)
        return value

    def validate(self, attrs):
        tracking_number = attrs.pop("tracking_number").strip()
        carrier = attrs.pop("carrier").strip()
        attrs["shipment"] = None
        if carrier and not tracking_number:
            raise serializers.ValidationError(
                {"tracking_number": [CARRIER_WITHOUT_TRACKING_NUMBER]}
            )
        if tracking_number:
            shipments = Shipment.objects.filter(tracking_number=tracking_number)
            if carrier:
                shipments = shipments.filter(carrier__code=carrier)
            matches = list(shipments.select_related("carrier", "incident")[:10])
            if not matches:
                raise serializers.ValidationError({"tracking_number": [UNKNOWN_TRACKING_NUMBER]})
            if len(matches) > 1:
                carriers = ", ".join(sorted(shipment.carrier.code for shipment in matches))
                raise serializers.ValidationError(
                    {"carrier": [AMBIGUOUS_TRACKING_NUMBER.format(carriers=carriers)]}
                )
            shipment = matches[0]
            if shipment.customer_id != attrs["customer"].pk:
                raise serializers.ValidationError({"tracking_number": [OTHER_CUSTOMERS_SHIPMENT]})
            attrs["shipment"] = shipment
        return attrs


class TicketUpdateSerializer(serializers.Serializer):
    version = IdSerializerField(
        help_text="Required: the ticket's version as you read it; a changed ticket answers 409.",
    )
    status = _documented_choice(
        [(status.value, status.label) for status in AGENT_STATUSES],
        "New status",
        required=False,
    )
    priority = serializers.ChoiceField(
        choices=Priority.choices,
        required=False,
        help_text="Set by hand; needs `priority_reason`.",
    )
    priority_reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="Why the priority changes; goes to the timeline.",
    )
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    assignee = serializers.CharField(
        max_length=150,
        required=False,
        allow_null=True,
        help_text="Username of the agent to assign, or null to unassign.",
    )

    def validate_assignee(self, value: str | None):
        if value is None:
            return None
        user = get_user_model().objects.filter(username=value).first()
        if user is None:
            raise serializers.ValidationError(UNKNOWN_USER)
        return user

    def validate(self, attrs):
        if not {"status", "priority", "category", "assignee"} & attrs.keys():
            raise serializers.ValidationError(NOTHING_TO_CHANGE)
        if "priority" in attrs and not attrs.get("priority_reason", "").strip():
            raise serializers.ValidationError({"priority_reason": [REASON_REQUIRED]})
        return attrs


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_MESSAGE_LENGTH)
    kind = _documented_choice(
        MessageKind.choices,
        "public (default): a reply to the customer, or for integration users the customer's "
        "own message; note: internal, staff only. Values",
        required=False,
        default=MessageKind.PUBLIC,
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, allow_blank=True, default=""
    )
    version = IdSerializerField(
        required=False,
        help_text="Staff public replies: the version you read; a changed ticket answers 409.",
    )
