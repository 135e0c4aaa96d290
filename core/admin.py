from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group

from core.models import Heartbeat
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


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    readonly_fields = ("last_login", "date_joined")

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
