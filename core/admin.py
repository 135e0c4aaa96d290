import json
from collections.abc import Iterator

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from core.admin_utils import AuditedAdmin, ViewOnly
from core.export import csv_response, wants_csv
from core.models import AuditAction, AuditEntry, Heartbeat
from core.roles import ROLE_PERMISSIONS


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "last_seen_at")
    readonly_fields = ("name", "last_seen_at")

    def has_add_permission(self, request) -> bool:
        return False


# --- Staff accounts --------------------------------------------------------------------------

User = get_user_model()

# Who may change whom, for a user a superuser lets manage accounts (auth.change_user; the
# operator role only reads them): role groups yes; superuser status, raw permissions, the
# superusers themselves and one's own roles no (or they would hold every role at once).
SUPERUSER_ONLY_FIELDS = ("is_superuser", "user_permissions")
OWN_ACCOUNT_FIELDS = ("is_active", "is_staff", "groups")


# What the audit trail keeps of an account: whether and as what it may work (never its password).
ACCOUNT_AUDIT_FIELDS = (
    "username",
    "is_active",
    "is_staff",
    "is_superuser",
    "groups",
    "user_permissions",
)
ROLE_ACTIONS = (AuditAction.ROLES_CHANGED,) * 3


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(AuditedAdmin, UserAdmin):
    readonly_fields = ("last_login", "date_joined")
    audit_fields = ACCOUNT_AUDIT_FIELDS
    audit_actions = ROLE_ACTIONS

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return fields
        fields += SUPERUSER_ONLY_FIELDS
        if obj is not None and obj.pk == request.user.pk:
            fields += OWN_ACCOUNT_FIELDS  # nobody widens their own roles
        return fields

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLE_PERMISSIONS)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(AuditedAdmin, GroupAdmin):
    """Groups are synced from core.roles on migrate; a superuser's change here is audited."""

    audit_fields = ("name", "permissions")
    audit_actions = ROLE_ACTIONS


# --- API tokens --------------------------------------------------------------------------------

admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class AuditedTokenAdmin(AuditedAdmin, TokenAdmin):
    """API tokens (superusers only): making one, giving it to another user or deleting it
    (revoking it) is audited under the token's user; the key itself is never written there."""

    audit_fields = ("user", "created")
    audit_actions = (
        AuditAction.TOKEN_CREATED,
        AuditAction.TOKEN_CREATED,
        AuditAction.TOKEN_REVOKED,
    )

    def audit_object(self, obj):
        return obj.user


# --- The audit trail ---------------------------------------------------------------------------


def _json(value) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


@admin.register(AuditEntry)
class AuditEntryAdmin(ViewOnly, admin.ModelAdmin):
    """The audit trail (core.audit), read by operators and superusers, changed by no one. The
    list's filters apply to its CSV download too (the link above the list, `?format=csv`)."""

    list_display = ("at", "action", "actor_name", "content_type", "object_repr", "source")
    list_filter = (
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("at", admin.DateFieldListFilter),
    )
    list_select_related = ("content_type",)
    search_fields = ("object_repr", "actor_name", "object_id")
    actions = None
    fields = (
        "at",
        "action",
        "actor",
        "actor_name",
        "content_type",
        "object_id",
        "object_repr",
        "before_values",
        "after_values",
        "source",
        "ip_address",
        "user_agent",
    )
    readonly_fields = fields

    @admin.display(description=_("before"))
    def before_values(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.before, ensure_ascii=False, indent=2))

    @admin.display(description=_("after"))
    def after_values(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.after, ensure_ascii=False, indent=2))

    def changelist_view(self, request, extra_context=None):
        if wants_csv(request):
            return self.export_csv(request)
        query = request.GET.copy()
        query["format"] = "csv"
        extra_context = {**(extra_context or {}), "export_query": f"?{query.urlencode()}"}
        return super().changelist_view(request, extra_context)

    def export_csv(self, request):
        """The entries the list shows with the same filters, search and order, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = request.GET.copy()
        del query["format"]
        request.GET = query  # what the changelist reads its filters from
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        rows = changelist.queryset.values_list(
            "at",
            "action",
            "actor_name",
            "content_type__app_label",
            "content_type__model",
            "object_id",
            "object_repr",
            "before",
            "after",
            "source",
            "ip_address",
            "user_agent",
        )
        return csv_response("audit-trail", _csv_header(), _csv_rows(rows))


def _csv_header() -> list[str]:
    return [
        gettext("When"),
        gettext("Action"),
        gettext("Who"),
        gettext("Object type"),
        gettext("Object id"),
        gettext("Object"),
        gettext("Before"),
        gettext("After"),
        gettext("Source"),
        gettext("Client address"),
        gettext("User agent"),
    ]


def _csv_rows(rows) -> Iterator[list]:
    labels = dict(AuditAction.choices)
    for at, action, who, app, model, object_id, text, before, after, *where in rows.iterator():
        yield [
            timezone.localtime(at).isoformat(timespec="seconds"),
            str(labels.get(action, action)),
            who,
            f"{app}.{model}",
            object_id,
            text,
            _json(before),
            _json(after),
            *where,
        ]
