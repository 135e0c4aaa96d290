"""Forms of the supervisor workspace."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from compensation import services
from compensation.models import MONEY_KINDS, RemedyKind

# The kinds an incident's bulk offer may give (compensation.services.BULK_KINDS), as the select
# lists them; any other kind of remedy is refused with the service's own words.
BULK_CHOICES = [(kind.value, kind.label) for kind in services.BULK_KINDS]


class IncidentOfferForm(forms.Form):
    """One goodwill remedy for every open ticket of an incident: a percentage (discount code),
    an amount and its currency (coupon), points (loyalty points) or nothing more (free shipping,
    priority shipping, a gift, an upgrade), and why."""

    kind = forms.ChoiceField(label=_("remedy"), choices=RemedyKind.choices)
    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=services.MAX_AMOUNT,
        required=False,
    )
    currency = forms.CharField(label=_("currency"), max_length=3, required=False, initial="EUR")
    percent = forms.DecimalField(
        label=_("percent"),
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        required=False,
    )
    points = forms.IntegerField(
        label=_("points"), min_value=1, max_value=services.MAX_POINTS, required=False
    )
    reason = forms.CharField(
        label=_("reason"),
        max_length=services.MAX_TEXT_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every kind is read (so a refund is refused in words, not as "not a choice"); only the
        # goodwill kinds are offered.
        self.fields["kind"].widget.choices = BULK_CHOICES

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        if kind not in services.BULK_KINDS:
            raise forms.ValidationError(services.NOT_FOR_BULK, code="not_for_bulk")
        return kind

    def clean_currency(self) -> str:
        return (self.cleaned_data.get("currency") or "").strip().upper() or "EUR"

    def remedy(self) -> services.RemedySpec:
        """The remedy as the service takes it: only the value its kind has."""
        cleaned = self.cleaned_data
        kind = cleaned["kind"]
        return services.RemedySpec(
            kind=kind,
            amount=cleaned.get("amount") if kind in MONEY_KINDS else None,
            currency=cleaned.get("currency") or "EUR",
            percent=cleaned.get("percent") if kind in services.PERCENT_KINDS else None,
            points=cleaned.get("points") if kind == RemedyKind.LOYALTY_POINTS else None,
        )
