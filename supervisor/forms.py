"""Forms of the supervisor workspace."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from compensation import money, services
from compensation.models import MONEY_KINDS, RemedyKind
from core.inputs import clean_search
from core.models import DelayCause
from shipments.incidents import EXPLANATION_MAX_LENGTH
from shipments.models import Carrier, IncidentStatus

# The kinds an incident's bulk offer may give (compensation.services.BULK_KINDS), as the select
# lists them; any other kind of remedy is refused with the service's own words.
BULK_CHOICES = [(kind.value, kind.label) for kind in services.BULK_KINDS]


KEY_MISSING = _("This form is out of date: reload the page and try again.")


class IdempotencyKeyMixin(forms.Form):
    """A bulk action's idempotency key: made when the form is shown, posted back hidden; the
    same key twice (a double submit, a retry) runs the action once
    (supervisor.incident_actions). `key_required = False`: a post without one gets a fresh key
    (the action's service is idempotent on its own)."""

    key_required = True

    key = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={"required": KEY_MISSING, "invalid": KEY_MISSING},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.fields["key"].required = self.key_required

    def idempotency_key(self) -> uuid.UUID:
        return self.cleaned_data.get("key") or uuid.uuid4()


class IncidentOfferForm(IdempotencyKeyMixin, forms.Form):
    """One goodwill remedy for every open ticket of an incident: a percentage (discount code),
    an amount and its currency (coupon), points (loyalty points) or nothing more (free shipping,
    priority shipping, a gift, an upgrade), and why. The key is optional: the service gives
    each ticket one offer of these remedies however often it is posted."""

    key_required = False

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
        currency = (self.cleaned_data.get("currency") or "").strip().upper() or "EUR"
        if not money.is_supported_currency(currency):
            raise forms.ValidationError(services.INVALID_CURRENCY, code="invalid_currency")
        return currency

    def clean(self):
        # The service's own checks of a remedy's value, here too: a large incident's offer runs
        # in the background, where a refusal could no longer land on its field.
        data = super().clean()
        kind = data.get("kind")
        needed = {
            "amount": (kind in MONEY_KINDS, services.AMOUNT_REQUIRED),
            "percent": (kind in services.PERCENT_KINDS, services.PERCENT_REQUIRED),
            "points": (kind == RemedyKind.LOYALTY_POINTS, services.POINTS_REQUIRED),
        }
        for name, (needs, message) in needed.items():
            if needs and data.get(name) is None and name not in self.errors:
                self.add_error(name, forms.ValidationError(message))
        return data

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


# --- incidents ---------------------------------------------------------------------------------

SEARCH_MAX_LENGTH = 200


class IncidentListForm(forms.Form):
    """The incident list's filters (the period comes from supervisor.scope). A bad value gets a
    field message and that filter is left out."""

    status = forms.ChoiceField(
        label=_("status"), choices=[("", _("Any status")), *IncidentStatus.choices], required=False
    )
    carrier = forms.ModelChoiceField(
        label=_("carrier"),
        queryset=Carrier.objects.order_by("name"),
        empty_label=_("Any carrier"),
        required=False,
    )
    cause = forms.ChoiceField(
        label=_("cause"),
        choices=[("", _("Any cause"))]
        + [(value, label) for value, label in DelayCause.choices if value != DelayCause.NONE],
        required=False,
    )
    q = forms.CharField(label=_("title contains"), max_length=SEARCH_MAX_LENGTH, required=False)

    def clean_q(self) -> str:
        return clean_search(self.cleaned_data.get("q"), max_length=SEARCH_MAX_LENGTH)

    def value(self, name: str):
        """The cleaned value of a filter, or None when it is missing or was refused."""
        if not self.is_bound or name in self.errors:
            return None
        return getattr(self, "cleaned_data", {}).get(name)


class IncidentActionForm(IdempotencyKeyMixin, forms.Form):
    """Notify everyone, or resolve: the key, and a box saying the supervisor means it."""

    confirm = forms.BooleanField(
        label=_("Yes, I mean it"),
        error_messages={"required": _("Tick the box to confirm.")},
    )


class IncidentExplanationForm(forms.Form):
    """The public explanation customers read, in English and in Chinese."""

    public_explanation = forms.CharField(
        label=_("Public explanation (English)"),
        max_length=EXPLANATION_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    public_explanation_zh_hans = forms.CharField(
        label=_("Public explanation (Chinese)"),
        max_length=EXPLANATION_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "lang": "zh-Hans"}),
    )

    def clean(self):
        data = super().clean()
        english = (data.get("public_explanation") or "").strip()
        chinese = (data.get("public_explanation_zh_hans") or "").strip()
        if chinese and not english and "public_explanation" not in self.errors:
            # Incident.explanation falls back to English: without it, English readers see nothing.
            self.add_error("public_explanation", EXPLANATION_ENGLISH_REQUIRED)
        return data


EXPLANATION_ENGLISH_REQUIRED = _(
    "Write the English explanation too: customers who read English would see none."
)
