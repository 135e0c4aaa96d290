"""Forms of the ticket page's actions: each validates the input of one service call.

Every form carries the `version` of the ticket the page showed; the view passes it to the
service as `expected_version`, so a save over someone else's change is refused, not lost.
The templates write the HTML by hand (hx-* attributes, keyboard hooks); these forms validate.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.inputs import IdField, IdModelChoiceField
from tickets import services
from tickets.models import Category, Priority, TicketStatus
from tickets.selectors import console_agents

MISSING_VERSION = _("This form is out of date. Reload the ticket and try again.")

# "Reply and set status": the statuses a reply typically leads to.
REPLY_STATUSES = (TicketStatus.PENDING, TicketStatus.ON_HOLD, TicketStatus.SOLVED)


def _choices(values) -> list[tuple[str, str]]:
    return [(value, TicketStatus(value).label) for value in values]


class TicketActionForm(forms.Form):
    version = IdField(
        widget=forms.HiddenInput,
        error_messages={
            "required": MISSING_VERSION,
            "invalid": MISSING_VERSION,
            "min_value": MISSING_VERSION,
        },
    )


class ClaimForm(TicketActionForm):
    pass


class ReleaseForm(TicketActionForm):
    pass


class CarrierContactedForm(TicketActionForm):
    pass


class AssignForm(TicketActionForm):
    assignee = IdModelChoiceField(
        queryset=console_agents(),
        label=_("Assign to"),
        error_messages={
            "required": _("Choose an agent."),
            "invalid_choice": services.NOT_AN_AGENT,
        },
    )


class ReplyForm(TicketActionForm):
    body = forms.CharField(
        label=_("Reply to the customer"),
        widget=forms.Textarea,
        error_messages={"required": services.EMPTY_MESSAGE},
    )
    status = forms.ChoiceField(
        label=_("and set status"),
        required=False,
        choices=[("", _("Keep the status")), *_choices(REPLY_STATUSES)],
        error_messages={"invalid_choice": services.INVALID_STATUS},
    )


class NoteForm(TicketActionForm):
    # Notes only append: the service takes no version (they never make a form stale), the
    # hidden field is there so that every ticket form posts the same way.
    version = IdField(required=False, widget=forms.HiddenInput)
    body = forms.CharField(
        label=_("Internal note"),
        widget=forms.Textarea,
        error_messages={"required": services.EMPTY_MESSAGE},
    )


class StatusForm(TicketActionForm):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=_choices(services.AGENT_STATUSES),
        error_messages={
            "required": services.INVALID_STATUS,
            "invalid_choice": services.INVALID_STATUS,
        },
    )


class PriorityForm(TicketActionForm):
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=Priority.choices,
        error_messages={
            "required": services.INVALID_PRIORITY,
            "invalid_choice": services.INVALID_PRIORITY,
        },
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        error_messages={"required": services.REASON_REQUIRED},
    )


class CategoryForm(TicketActionForm):
    category = forms.ChoiceField(
        label=_("Category"),
        choices=Category.choices,
        error_messages={
            "required": services.INVALID_CATEGORY,
            "invalid_choice": services.INVALID_CATEGORY,
        },
    )


class MilestoneForm(TicketActionForm):
    timer = IdField(
        widget=forms.HiddenInput,
        error_messages={
            "required": services.NO_SUCH_MILESTONE,
            "invalid": services.NO_SUCH_MILESTONE,
        },
    )
