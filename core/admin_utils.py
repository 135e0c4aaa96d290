"""Small pieces the apps' admin modules share: masking, ordering, read-only history, form checks."""

from django import forms
from django.contrib import admin
from django.db.models import Case, Value, When
from django.utils.translation import gettext_lazy as _

from core.middleware import valid_time_zone
from core.models import choice_values

INVALID_TIME_ZONE = _("Unknown time zone. Use an IANA name such as Europe/Berlin or Asia/Shanghai.")
ANY = _("Nothing ticked: any.")


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
