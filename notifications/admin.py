from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.models import Channel
from core.placeholders import has_stray_braces, unknown_placeholders
from notifications.models import Notification, NotificationTemplate
from notifications.rendering import DOCUMENTED_PLACEHOLDERS, PLACEHOLDERS, render_sample

# What notifications_template_channel_valid allows: a phone call is a task for an agent, not
# a text Delaydesk sends.
TEMPLATE_CHANNELS = [choice for choice in Channel.choices if choice[0] != Channel.PHONE]

UNKNOWN_TEMPLATE_PLACEHOLDERS = _("Unknown placeholders: %(names)s. Available: %(available)s.")
STRAY_BRACE = _(
    "A brace without its pair. Write placeholders as {order_number}; braces cannot stand alone."
)
SMS_TOO_LONG = _(
    "With the sample values this SMS takes %(segments)d segments; the limit is %(limit)d. "
    "Shorten the text."
)
EMAIL_NEEDS_SUBJECT = _("An email needs a subject.")
TEMPLATE_BODY_HELP = _(
    "Placeholders: %(available)s. A line whose value is empty (no remedy, reply, survey link, "
    "progress link, incident or location) is left out, so put those on lines of their own."
)


def _available() -> str:
    """The placeholders a template may use, by their current names: {progress_url}, not its
    old name {progress_link} (still accepted, so an older template keeps working)."""
    return ", ".join("{" + name + "}" for name in DOCUMENTED_PLACEHOLDERS)


def _check_placeholders(text: str) -> str:
    unknown = unknown_placeholders(text, PLACEHOLDERS)
    if unknown:
        raise forms.ValidationError(
            UNKNOWN_TEMPLATE_PLACEHOLDERS,
            params={
                "names": ", ".join("{" + name + "}" for name in unknown),
                "available": _available(),
            },
        )
    if has_stray_braces(text):
        raise forms.ValidationError(STRAY_BRACE)
    return text


class NotificationTemplateForm(forms.ModelForm):
    """Checks placeholders and SMS length (no Meta: the ModelAdmin supplies model and fields).

    Notices render with `notifications.rendering`, which replaces only the known names; any
    other text in braces would reach the customer as written, so the form refuses it. An SMS
    must fit in NOTICE_SMS_MAX_SEGMENTS with the realistic sample values of its language.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "body" in self.fields:
            self.fields["body"].help_text = TEMPLATE_BODY_HELP % {"available": _available()}

    def clean_subject(self) -> str:
        return _check_placeholders(self.cleaned_data["subject"])

    def clean_body(self) -> str:
        return _check_placeholders(self.cleaned_data["body"])

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("channel")
        if channel == Channel.EMAIL and "subject" in cleaned and not cleaned["subject"].strip():
            self.add_error("subject", EMAIL_NEEDS_SUBJECT)
        if channel == Channel.SMS and cleaned.get("body"):
            sample = render_sample(
                NotificationTemplate(
                    channel=channel,
                    language=cleaned.get("language") or "en",
                    body=cleaned["body"],
                )
            )
            limit = settings.NOTICE_SMS_MAX_SEGMENTS
            if sample.sms_segments > limit:
                self.add_error(
                    "body",
                    forms.ValidationError(
                        SMS_TOO_LONG, params={"segments": sample.sms_segments, "limit": limit}
                    ),
                )
        return cleaned


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

    def get_readonly_fields(self, request, obj=None):
        # The preview shows the saved text, so only once there is one.
        return ("preview",) if obj is not None else ()

    @admin.display(description=_("preview with sample values"))
    def preview(self, obj: NotificationTemplate) -> str:
        if not obj.body:
            return "-"
        sample = render_sample(obj)
        segments = ""
        if obj.channel == Channel.SMS:
            segments = ngettext(
                "%(count)d SMS segment (%(chars)d characters).",
                "%(count)d SMS segments (%(chars)d characters).",
                sample.sms_segments,
            ) % {"count": sample.sms_segments, "chars": len(sample.body)}
        return format_html(
            '<div><strong>{}</strong><pre style="white-space: pre-wrap; margin: .5em 0">{}</pre>'
            "<span>{}</span></div>",
            sample.subject,
            sample.body,
            segments,
        )


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

    def has_add_permission(self, request) -> bool:
        # Notices are queued by the services (with their dedupe key, recipient and template),
        # never typed in: a hand-made one would reach a customer as if Delaydesk had sent it.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # The outbox is the record of what was (or was not) sent and why: cancel, don't delete.
        return False

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
