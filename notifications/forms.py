"""Forms of the notification pages: the history filter (console).

(The satisfaction survey is a section of the customer's progress page now: portal's form.)"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.models import NoticeKind, NotificationStatus


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
