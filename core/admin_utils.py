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


class ViewOnly:
    """Shown to whoever may view the rows; never added, changed or deleted here by anyone."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class TimelineInline(ViewOnly, admin.TabularInline):
    """Read-only history shown on its parent's page: carrier scans, level changes, events."""

    extra = 0
    can_delete = False
    show_change_link = False


class HistoryAdmin(ViewOnly, admin.ModelAdmin):
    """Rows that record what happened: timeline events, carrier scans, level changes, messages,
    SLA timers, approval decisions.

    The services write each one in the same transaction as the change it records; here they are
    shown to whoever may view them and never added, edited or deleted by hand, superusers
    included (a hand-made row would be a forged record: a scan the carrier never sent, a
    message "from the customer"). Their parents cannot be deleted here either, since that
    would delete them with it.
    """


class AuthoredAdmin(admin.ModelAdmin):
    """A row whose author (requester, opener) is whoever adds it here: `author_fields` are never
    form fields; `save_model` sets them from the request on add and leaves them alone after."""

    author_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + tuple(name for name in self.author_fields if name not in fields)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            for name in self.author_fields:
                setattr(obj, name, request.user)
        super().save_model(request, obj, form, change)


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
