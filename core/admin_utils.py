"""Small pieces the apps' admin modules share: masking, ordering, read-only history, form checks."""

import string

from django import forms
from django.contrib import admin
from django.db.models import Case, Value, When
from django.utils.translation import gettext_lazy as _

from core.middleware import valid_time_zone
from core.models import choice_values

INVALID_TIME_ZONE = _("Unknown time zone. Use an IANA name such as Europe/Berlin or Asia/Shanghai.")
ANY = _("Nothing ticked: any.")
UNNAMED_PLACEHOLDER = _("Name each placeholder, e.g. {order_number}; {} is not allowed.")
BROKEN_PLACEHOLDER = _("Broken placeholder: %(error)s. Write placeholders as {order_number}.")


def mask_secret(value: str) -> str:
    """A secret as lists and view-only pages show it: enough to tell two apart, not to use."""
    if not value:
        return "-"
    return f"••••••{value[-4:]}" if len(value) > 12 else "••••••"


def choice_rank(field: str, choices) -> Case:
    """Order rows by the position of their value in a TextChoices class (severity order)."""
    values = choice_values(choices)
    return Case(
        *(When(**{field: value}, then=Value(rank)) for rank, value in enumerate(values)),
        default=Value(len(values)),
    )


class TimelineInline(admin.TabularInline):
    """Read-only history shown on its parent's page: carrier scans, level changes, events."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def clean_time_zone(value: str) -> str:
    """Form-side check for the models' free-text time zone fields (a typo would break clocks)."""
    if not valid_time_zone(value):
        raise forms.ValidationError(INVALID_TIME_ZONE)
    return value


def clean_placeholders(text: str) -> str:
    """Reject text that str.format would choke on when the message is rendered."""
    try:
        names = [
            name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None
        ]
    except ValueError as error:
        raise forms.ValidationError(BROKEN_PLACEHOLDER, params={"error": error}) from error
    if any(name == "" or name.isdigit() for name in names):
        raise forms.ValidationError(UNNAMED_PLACEHOLDER)
    return text


def choice_list_field(label: str, choices, help_text=ANY) -> forms.MultipleChoiceField:
    """Checkboxes for the models' JSON lists of choice values (conditions, skills, regions)."""
    return forms.MultipleChoiceField(
        label=label,
        choices=choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


def choice_labels(values: list[str], choices) -> str:
    labels = dict(choices)
    return ", ".join(str(labels.get(value, value)) for value in values) or "-"
