"""Forms of the notification pages: the history filter (console) and the survey (customers)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.models import NoticeKind, NotificationStatus

RATING_CHOICES = [
    (1, _("1 – Very dissatisfied")),
    (2, _("2 – Dissatisfied")),
    (3, _("3 – Neither satisfied nor dissatisfied")),
    (4, _("4 – Satisfied")),
    (5, _("5 – Very satisfied")),
]
COMMENT_MAX_LENGTH = 2000


class NotificationFilterForm(forms.Form):
    """Narrow a customer's notification history, e.g. to the suppressed notices ("why did this
    customer not hear from us?"). An unknown value is ignored rather than refused: the page is
    a read, and a stale bookmark should still open."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status"))] + NotificationStatus.choices,
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("Any kind"))] + NoticeKind.choices,
    )

    def filters(self) -> dict[str, str]:
        """The valid filters ("" for none)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {"status": data.get("status") or "", "kind": data.get("kind") or ""}


class SurveyForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with how we handled your case?"),
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Please choose a rating from 1 to 5."),
            "invalid_choice": _("Please choose a rating from 1 to 5."),
        },
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us? (optional)"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
    )

    def clean_comment(self) -> str:
        return self.cleaned_data["comment"].strip()
