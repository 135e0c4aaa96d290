"""The remedy panel's form: accept a suggestion as it is, or edit / replace it with a reason.

The suggestions are computed again on the server (compensation.policies) when the form comes
back: the browser sends which suggestion (its rank) and, when the agent changed it, the remedy
they want instead; never the amounts of an accepted suggestion.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from compensation.models import MONEY_KINDS, RemedyKind
from compensation.policies import SuggestedRemedy, Suggestion

ACCEPT = "accept"
EDIT = "edit"

REASON_REQUIRED = _("Say why you changed the suggestion: the supervisor and the timeline read it.")
AMOUNT_REQUIRED = _("This remedy is money: give the amount.")
PERCENT_REQUIRED = _("A discount code needs its percentage.")
POINTS_REQUIRED = _("Give the number of loyalty points.")
NO_SUCH_SUGGESTION = _("This suggestion no longer applies; reload the panel.")
KIND_REQUIRED = _("Choose the remedy.")


class RemedyForm(forms.Form):
    """One of the panel's forms: ``action`` accept (the suggestion as it is) or edit (the
    remedy below instead of the suggestion; a reason when it differs from it)."""

    action = forms.ChoiceField(choices=[(ACCEPT, _("Accept")), (EDIT, _("Edit"))])
    suggestion = forms.IntegerField(
        label=_("suggestion"), min_value=0, max_value=50, required=False
    )
    kind = forms.ChoiceField(label=_("remedy"), choices=RemedyKind.choices, required=False)
    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
    )
    percent = forms.DecimalField(
        label=_("percent"),
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        required=False,
    )
    points = forms.IntegerField(label=_("points"), min_value=1, max_value=1_000_000, required=False)
    reason = forms.CharField(
        label=_("reason"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, suggestions: list[Suggestion], currency: str = "EUR", **kwargs):
        super().__init__(*args, **kwargs)
        self.suggestions = suggestions
        self.currency = currency

    @property
    def chosen(self) -> Suggestion | None:
        rank = self.cleaned_data.get("suggestion") if hasattr(self, "cleaned_data") else None
        for suggestion in self.suggestions:
            if suggestion.rank == rank:
                return suggestion
        return None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        rank = cleaned.get("suggestion")
        if rank and self.chosen is None:
            self.add_error("suggestion", NO_SUCH_SUGGESTION)
            return cleaned
        if cleaned.get("action") == ACCEPT:
            if self.chosen is None:
                self.add_error("suggestion", NO_SUCH_SUGGESTION)
            return cleaned
        kind = cleaned.get("kind")
        if not kind:
            self.add_error("kind", KIND_REQUIRED)
            return cleaned
        if kind in MONEY_KINDS and cleaned.get("amount") is None:
            self.add_error("amount", AMOUNT_REQUIRED)
        if kind == RemedyKind.DISCOUNT_CODE and cleaned.get("percent") is None:
            self.add_error("percent", PERCENT_REQUIRED)
        if kind == RemedyKind.LOYALTY_POINTS and cleaned.get("points") is None:
            self.add_error("points", POINTS_REQUIRED)
        if not self.errors and self.changed_suggestion() and not cleaned.get("reason", "").strip():
            self.add_error("reason", REASON_REQUIRED)
        return cleaned

    def edited_remedy(self) -> SuggestedRemedy:
        """The remedy the agent typed (money in the suggestion's or the order's currency)."""
        cleaned = self.cleaned_data
        kind = cleaned["kind"]
        currency = self.currency
        chosen = self.chosen
        if chosen is not None:
            same_kind = [r for r in chosen.remedies if r.kind == kind and r.amount is not None]
            if same_kind:
                currency = same_kind[0].currency
        return SuggestedRemedy(
            kind=kind,
            amount=cleaned.get("amount") if kind in MONEY_KINDS else None,
            currency=currency,
            percent=cleaned.get("percent"),
            points=cleaned.get("points") if kind == RemedyKind.LOYALTY_POINTS else None,
        )

    def changed_suggestion(self) -> bool:
        """Whether the edited remedy is anything but the suggestion itself (a one-remedy
        suggestion sent unchanged needs no reason)."""
        chosen = self.chosen
        if chosen is None or len(chosen.remedies) != 1:
            return True
        (suggested,) = chosen.remedies
        edited = self.edited_remedy()
        return (edited.kind, edited.amount, edited.percent, edited.points) != (
            suggested.kind,
            suggested.amount,
            suggested.percent,
            suggested.points,
        )
