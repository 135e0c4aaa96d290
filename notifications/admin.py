from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin_utils import clean_placeholders, mask_secret
from core.models import Channel
from notifications.models import Notification, NotificationTemplate, SatisfactionSurvey

# What notifications_template_channel_valid allows: a phone call is a task for an agent, not
# a text Delaydesk sends.
TEMPLATE_CHANNELS = [choice for choice in Channel.choices if choice[0] != Channel.PHONE]


class NotificationTemplateForm(forms.ModelForm):
    """Checks placeholders (no Meta: the ModelAdmin supplies model and fields)."""

    def clean_subject(self) -> str:
        return clean_placeholders(self.cleaned_data["subject"])

    def clean_body(self) -> str:
        return clean_placeholders(self.cleaned_data["body"])


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = NotificationTemplateForm
    list_display = (
        "kind",
        "channel",
        "language",
        "region_style",
        "subject",
        "is_active",
        "updated_at",
    )
    list_display_links = ("kind", "subject")
    list_editable = ("is_active",)
    list_filter = ("kind", "channel", "language", "region_style", "is_active")
    search_fields = ("subject", "body")

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "channel":
            kwargs["choices"] = TEMPLATE_CHANNELS
        return super().formfield_for_choice_field(db_field, request, **kwargs)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    ordering = ("-pk",)  # newest first, on the primary key index
    list_display = (
        "created_at",
        "kind",
        "channel",
        "customer",
        "recipient",
        "status",
        "not_before",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "kind", "channel", "language")
    list_select_related = ("customer",)
    search_fields = (
        "=dedupe_key",
        "customer__name",
        "=customer__email",
        "=recipient",
        "=provider_message_id",
    )
    search_help_text = _(
        "Dedupe key, customer name or exact email, recipient, or the provider's message id."
    )
    date_hierarchy = "created_at"
    show_full_result_count = False
    autocomplete_fields = ("customer", "ticket", "shipment", "incident")
    actions = ("cancel_pending",)
    # Owned by the dispatcher: claiming, retries and delivery receipts. Never typed in.
    sending_fields = (
        "public_id",
        "status",
        "suppressed_reason",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "claimed_by",
        "sent_at",
        "delivered_at",
        "provider_message_id",
        "last_error",
        "created_at",
        "updated_at",
    )
    # Who, why and the dedupe key are fixed once queued; text and timing may still be
    # corrected while the notice waits.
    queued_fields = (
        "customer",
        "ticket",
        "shipment",
        "incident",
        "kind",
        "channel",
        "language",
        "dedupe_key",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "customer",
                    "ticket",
                    "shipment",
                    "incident",
                    "kind",
                    "dedupe_key",
                    "public_id",
                )
            },
        ),
        (
            _("Message"),
            {"fields": ("channel", "language", "recipient", "subject", "body", "context")},
        ),
        (
            _("Sending"),
            # The dispatcher's fields (public_id is shown above), with the editable send time.
            {"fields": ("status", "suppressed_reason", "not_before", *sending_fields[3:])},
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.sending_fields
        if obj.status == Notification.Status.PENDING:
            return self.sending_fields + self.queued_fields
        # Sent, failed, suppressed or cancelled: the row is the record of what happened.
        return [field.name for field in self.model._meta.fields if not field.primary_key]

    @admin.action(description=_("Cancel selected pending notifications"), permissions=["change"])
    def cancel_pending(self, request, queryset) -> None:
        # Conditional UPDATE: a row a dispatcher has already claimed (sending) is left alone.
        cancelled = queryset.filter(status=Notification.Status.PENDING).update(
            status=Notification.Status.CANCELLED, updated_at=timezone.now()
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d notification cancelled.",
                "%(count)d notifications cancelled.",
                cancelled,
            )
            % {"count": cancelled},
            messages.SUCCESS,
        )


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(admin.ModelAdmin):
    list_display = ("ticket", "rating", "sent_at", "answered_at", "short_comment")
    list_filter = ("rating", ("answered_at", admin.EmptyFieldListFilter))
    list_select_related = ("ticket",)
    search_fields = ("ticket__id__exact", "comment")
    search_help_text = _("Ticket number or words of the comment.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    raw_id_fields = ("ticket",)
    # The customer's answer, and the link token that is their credential for it.
    readonly_fields = (
        "masked_token",
        "sent_at",
        "rating",
        "comment",
        "answered_at",
        "created_at",
        "updated_at",
    )
    fields = ("ticket",) + readonly_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("ticket",) + self.readonly_fields
        return self.readonly_fields

    @admin.display(description=_("token"))
    def masked_token(self, obj: SatisfactionSurvey) -> str:
        return mask_secret(obj.token)

    @admin.display(description=_("comment"))
    def short_comment(self, obj: SatisfactionSurvey) -> str:
        return obj.comment if len(obj.comment) <= 80 else obj.comment[:79] + "…"
