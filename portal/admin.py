"""Progress links in the admin: read only, and never a token (only its hash is stored)."""

from django.contrib import admin

from core.admin_utils import ViewOnly
from portal.models import ProgressLink


@admin.register(ProgressLink)
class ProgressLinkAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ("ticket", "kind", "created_at", "live_until", "revoked_at", "revoked_by")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("ticket", "revoked_by")
    search_fields = ("ticket__id__exact",)
    show_full_result_count = False
    raw_id_fields = ("ticket",)
    exclude = ("token_hash",)
