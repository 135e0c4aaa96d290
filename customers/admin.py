from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin_utils import clean_time_zone
from customers.models import Customer


class CustomerAdminForm(forms.ModelForm):
    """Checks the time zone. No Meta: the ModelAdmin supplies the model and the fields."""

    def clean_time_zone(self) -> str:
        return clean_time_zone(self.cleaned_data["time_zone"])


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    ordering = ("-pk",)  # newest first, on the primary key index
    form = CustomerAdminForm
    list_display = (
        "name",
        "email",
        "phone",
        "tier",
        "region",
        "language",
        "preferred_channel",
        "lifetime_orders",
        "created_at",
    )
    list_filter = (
        "tier",
        "region",
        "language",
        "preferred_channel",
        "opt_out_email",
        "opt_out_sms",
    )
    # Exact matches on the identifiers (indexed), substring only on the name.
    search_fields = ("name", "=email", "=phone", "=external_ref")
    search_help_text = _("Name, exact email, phone (E.164) or merchant's customer id.")
    readonly_fields = ("public_id", "created_at", "updated_at")
    # A big table: skip the second COUNT(*) over every customer on filtered pages.
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("name", "email", "phone", "external_ref", "public_id")}),
        (
            _("Profile"),
            {"fields": ("tier", "language", "region", "country", "time_zone", "currency")},
        ),
        (
            _("Notifications"),
            {
                "fields": (
                    "preferred_channel",
                    ("opt_out_email", "opt_out_sms", "opt_out_push", "opt_out_phone"),
                    ("quiet_hours_start", "quiet_hours_end"),
                    "delay_tolerance_hours",
                )
            },
        ),
        (
            _("History"),
            {"fields": ("lifetime_orders", "lifetime_value", "created_at", "updated_at")},
        ),
    )
