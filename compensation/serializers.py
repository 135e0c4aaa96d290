"""DRF serializers of the compensations API: an offer out, and what requesting, approving and
rejecting one takes in. Validation only; compensation.api calls the services.

Money is a string in JSON both ways ("12.50"), read as a Decimal and never as a float; the
service rounds it to the currency's minor unit (JPY 0 digits, EUR 2).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compensation import money
from compensation.models import ApprovalRequest, CompensationOffer, OfferStatus
from compensation.models import RemedyKind as RemedyKindChoices
from compensation.services import (
    AMOUNT_REQUIRED,
    MAX_ALTERNATIVES,
    MAX_AMOUNT,
    MAX_POINTS,
    MAX_TEXT_LENGTH,
    NOTE_REQUIRED,
    PERCENT_REQUIRED,
    POINTS_REQUIRED,
)
from compensation.texts import describe_offer
from tickets.models import Ticket

# AMOUNT_REQUIRED, NOTE_REQUIRED, ... are the services' own messages: the API refuses the same
# thing earlier, where it can say which remedy of the list is meant.
MAX_REASON_LENGTH = MAX_NOTE_LENGTH = MAX_TEXT_LENGTH
# A remedy's fields: a service's refusal about one of them is shown at the remedy.
REMEDY_FIELDS = frozenset({"kind", "amount", "currency", "percent", "points"})

UNKNOWN_TICKET = _("No ticket with this id.")
AMOUNT_AS_STRING = _('Send the amount as a string, e.g. "12.50".')
TOO_MANY_REMEDIES = _("Give one remedy, or two or three alternatives for the customer to choose.")


def _string_of(choices, what: str) -> dict:
    return {"type": "string", "description": f"{what}: " + ", ".join(v for v, _label in choices)}


# drf-spectacular names an enum after its field, and `status` and `kind` already name other
# choice sets (tickets, shipments, timers): as in tickets.serializers, these are documented
# as strings listing their values.
def _documented_choice(choices, what: str, **kwargs) -> serializers.ChoiceField:
    field_class = extend_schema_field(
        {**_string_of(choices, what), "enum": [v for v, _ in choices]}
    )(type("DocumentedChoiceField", (serializers.ChoiceField,), {}))
    return field_class(choices=choices, **kwargs)


def _documented_string(choices, what: str, **kwargs) -> serializers.CharField:
    field_class = extend_schema_field(_string_of(choices, what))(
        type("DocumentedStringField", (serializers.CharField,), {})
    )
    return field_class(read_only=True, **kwargs)


# --- Out --------------------------------------------------------------------------------------


class ApprovalSerializer(serializers.ModelSerializer):
    status = _documented_string(ApprovalRequest.Status.choices, "Decision")
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username, or null."
    )
    note = serializers.CharField(
        read_only=True, help_text="The supervisor's note (why a remedy was rejected)."
    )

    class Meta:
        model = ApprovalRequest
        fields = ["status", "requested_by", "requested_at", "decided_by", "decided_at", "note"]
        read_only_fields = fields


class CompensationOfferSerializer(serializers.ModelSerializer):
    """An offer as staff read it. Integration users get `reason` and `approval` as null: they
    are the support team's notes, not the merchant's business."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    ticket = serializers.UUIDField(
        source="ticket.public_id", read_only=True, help_text="The ticket's public id."
    )
    ticket_reference = serializers.CharField(
        source="ticket.reference", read_only=True, help_text="#pk of the ticket."
    )
    customer = serializers.CharField(
        source="customer.external_ref",
        read_only=True,
        help_text="The merchant's customer reference.",
    )
    incident = serializers.UUIDField(
        source="ticket.incident.public_id",
        read_only=True,
        allow_null=True,
        help_text="The ticket's incident, or null.",
    )
    kind = _documented_string(RemedyKindChoices.choices, "Remedy")
    status = _documented_string(OfferStatus.choices, "Offer status")
    amount = serializers.SerializerMethodField(
        help_text='Money remedies: a string with the currency\'s minor unit ("12.50" EUR, '
        '"1200" JPY); null for other remedies.'
    )
    percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, read_only=True, allow_null=True
    )
    description = serializers.SerializerMethodField(
        help_text="How the remedy reads to the customer, in the request's language."
    )
    choice_group = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="Alternatives the customer chooses among share it; null for a single remedy.",
    )
    reason = serializers.SerializerMethodField(help_text="Why it was offered; staff only.")
    requested_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Username; null when the system proposed it.",
    )
    approved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username, or null."
    )
    approval = serializers.SerializerMethodField(
        help_text="The latest approval request, or null (none, or not staff)."
    )

    class Meta:
        model = CompensationOffer
        fields = [
            "id",
            "ticket",
            "ticket_reference",
            "customer",
            "incident",
            "kind",
            "status",
            "amount",
            "currency",
            "percent",
            "points",
            "description",
            "choice_group",
            "reason",
            "requested_by",
            "approved_by",
            "approved_at",
            "issued_at",
            "approval",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _for_staff(self) -> bool:
        return bool(self.context.get("staff"))

    @extend_schema_field({"type": "string", "format": "decimal", "nullable": True})
    def get_amount(self, offer: CompensationOffer) -> str | None:
        if offer.amount is None:
            return None
        return str(money.quantize(offer.amount, offer.currency))

    def get_description(self, offer: CompensationOffer) -> str:
        return describe_offer(offer)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reason(self, offer: CompensationOffer) -> str | None:
        return offer.reason if self._for_staff() else None

    @extend_schema_field(ApprovalSerializer(allow_null=True))
    def get_approval(self, offer: CompensationOffer) -> dict | None:
        if not self._for_staff():
            return None
        approvals = sorted(offer.approvals.all(), key=lambda a: (a.requested_at, a.pk))
        return ApprovalSerializer(approvals[-1]).data if approvals else None


# --- In ---------------------------------------------------------------------------------------


class MoneyField(serializers.DecimalField):
    """An amount of money: a JSON string of digits ("12.50"); a JSON number is refused (it
    would have been read as a binary float). Rounded by the service, not here."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 4)
        kwargs.setdefault("min_value", Decimal("0.0001"))
        kwargs.setdefault("max_value", MAX_AMOUNT)
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(AMOUNT_AS_STRING)
        return super().to_internal_value(data)


class RemedySerializer(serializers.Serializer):
    kind = _documented_choice(RemedyKindChoices.choices, "Remedy")
    amount = MoneyField(
        required=False,
        help_text='Money remedies: a string, e.g. "12.50", rounded to the currency\'s minor '
        "unit. Required for coupon and cash; a full refund without it is the order's value, a "
        "partial refund without it takes `percent` of the order's value.",
    )
    currency = serializers.RegexField(
        r"^[A-Z]{3}\Z",
        max_length=3,
        required=False,
        default="EUR",
        help_text="ISO 4217 code of the amount; default EUR.",
    )
    percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        required=False,
        coerce_to_string=True,
        help_text='discount_code: the percentage off, e.g. "15"; partial_refund without an '
        "amount: the share of the order's value.",
    )
    points = serializers.IntegerField(
        min_value=1, max_value=MAX_POINTS, required=False, help_text="loyalty_points."
    )

    def validate(self, attrs):
        # What a remedy of this kind cannot do without, said at its place in the list. The rest
        # (a refund computed from the order, the order's currency, rounding) is the service's.
        kind = attrs["kind"]
        needs = {
            RemedyKindChoices.COUPON: ("amount", AMOUNT_REQUIRED),
            RemedyKindChoices.CASH: ("amount", AMOUNT_REQUIRED),
            RemedyKindChoices.DISCOUNT_CODE: ("percent", PERCENT_REQUIRED),
            RemedyKindChoices.LOYALTY_POINTS: ("points", POINTS_REQUIRED),
        }
        if kind in needs:
            field, message = needs[kind]
            if attrs.get(field) is None:
                raise serializers.ValidationError({field: [message]})
        return attrs


class OffersSerializer(serializers.Serializer):
    """What a request made: one offer, or the alternatives offered together."""

    offers = CompensationOfferSerializer(many=True, read_only=True)


class OfferCreateSerializer(serializers.Serializer):
    ticket = serializers.UUIDField(help_text="The ticket's public id; one you may read.")
    # A ListField, not many=True: an empty or too long list is an error of `remedies` itself,
    # a remedy's error one of `remedies.<index>.<field>`.
    remedies = serializers.ListField(
        child=RemedySerializer(),
        min_length=1,
        max_length=MAX_ALTERNATIVES,
        allow_empty=False,
        error_messages={
            "empty": TOO_MANY_REMEDIES,
            "min_length": TOO_MANY_REMEDIES,
            "max_length": TOO_MANY_REMEDIES,
        },
        help_text="One remedy, or 2-3 alternatives the customer chooses among.",
    )
    reason = serializers.CharField(
        max_length=MAX_REASON_LENGTH, help_text="Why; the approving supervisor reads it."
    )

    def validate_ticket(self, value) -> Ticket:
        tickets = self.context["tickets"]
        ticket = tickets.filter(public_id=value).select_related("customer").first()
        if ticket is None:
            raise serializers.ValidationError(UNKNOWN_TICKET)
        return ticket


class DecisionSerializer(serializers.Serializer):
    """Approve: an optional note."""

    note = serializers.CharField(
        max_length=MAX_NOTE_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional; goes to the ticket's timeline.",
    )


class RejectSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=MAX_NOTE_LENGTH,
        error_messages={"required": NOTE_REQUIRED, "blank": NOTE_REQUIRED},
        help_text="Required: why. The agent reads it on the ticket.",
    )
