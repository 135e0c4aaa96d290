"""Small pieces the apps' admin modules share: masking, ordering, read-only history, form checks,
the audit of configuration changes."""

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils.translation import gettext_lazy as _

from core import audit
from core.middleware import valid_time_zone
from core.models import AuditAction, choice_values

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


class AuditedAdmin:
    """A ModelAdmin whose adds, changes (the change form and the changelist's editable columns)
    and deletions (one row or "delete selected") each write an audit entry (core.audit): who,
    from where, and the values before and after; for a change only what changed, nothing when
    nothing did. Put it first among the bases.

    `audit_fields` limits what is kept (None: every field but credentials); `audit_related`
    names reverse relations whose rows belong to the row (its inlines: a policy's remedies);
    `audit_actions` are the (added, changed, deleted) actions, the configuration ones unless
    set. The values before are read in `save_model`, the values after once the form, its
    many-to-many fields and its inlines are saved (`log_addition`, `log_change`), all in the
    admin's transaction.
    """

    audit_fields: tuple[str, ...] | None = None
    audit_related: tuple[str, ...] = ()
    audit_actions: tuple[str, str, str] = (
        AuditAction.CONFIG_ADDED,
        AuditAction.CONFIG_CHANGED,
        AuditAction.CONFIG_DELETED,
    )

    def audit_object(self, obj):
        """The row an entry is about (an API token's entries name its user, never the key)."""
        return obj

    def audit_snapshot(self, obj) -> dict:
        return audit.snapshot(obj, fields=self.audit_fields, related=self.audit_related)

    def _stored(self, obj):
        # From the database, not the instance: the form has already put its values on it, and
        # the change page's queryset may have prefetched related rows as they were.
        # By the primary key field: a proxy may give `pk` another meaning (DRF's TokenProxy).
        key = obj._meta.pk.value_from_object(obj)
        return type(obj)._default_manager.filter(**{obj._meta.pk.attname: key}).first()

    def save_model(self, request, obj, form, change) -> None:
        if change:
            stored = self._stored(obj)
            obj._audit_before = self.audit_snapshot(stored) if stored is not None else None
        super().save_model(request, obj, form, change)

    def log_addition(self, request, obj, message):
        added, _changed, _deleted = self.audit_actions
        audit.record(
            added,
            actor=request.user,
            obj=self.audit_object(obj),
            after=self.audit_snapshot(self._stored(obj)),
            request=request,
        )
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        before = getattr(obj, "_audit_before", None)
        if before is not None:  # saved through save_model (not a password change page)
            old, new = audit.changes(before, self.audit_snapshot(self._stored(obj)))
            if old or new:
                audit.record(
                    self.audit_actions[1],
                    actor=request.user,
                    obj=self.audit_object(obj),
                    before=old,
                    after=new,
                    request=request,
                )
        return super().log_change(request, obj, message)

    def _record_deletion(self, request, obj) -> None:
        audit.record(
            self.audit_actions[2],
            actor=request.user,
            obj=self.audit_object(obj),
            before=self.audit_snapshot(obj),
            request=request,
        )

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            self._record_deletion(request, obj)  # before: a deleted row has no primary key
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                self._record_deletion(request, obj)
            super().delete_queryset(request, queryset)


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
