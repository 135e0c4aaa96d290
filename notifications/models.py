import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import Channel, Language, TimeStampedModel, choice_values
from customers.models import Customer
from notifications.reasons import text_of


class NoticeKind(models.TextChoices):
    DELAY_NOTICE = "delay_notice", _("Delay notice")
    FOLLOW_UP = "follow_up", _("Follow-up")
    RECOVERY = "recovery", _("Recovery")
    DELIVERED = "delivered", _("Delivered")
    REMEDY_OFFERED = "remedy_offered", _("Remedy offered")
    REMEDY_ISSUED = "remedy_issued", _("Remedy issued")
    TICKET_REPLY = "ticket_reply", _("Ticket reply")
    SURVEY = "survey", _("Satisfaction survey")
    INCIDENT_NOTICE = "incident_notice", _("Incident notice")


# Kinds that tell a customer "your parcel is late": the frequency cap counts these together.
DELAY_KINDS = (NoticeKind.DELAY_NOTICE, NoticeKind.FOLLOW_UP, NoticeKind.INCIDENT_NOTICE)


class RegionStyle(models.TextChoices):
    ANY = "any", _("Any region")
    NORTH_AMERICA = "north_america", _("North America: direct facts, concrete compensation")
    EUROPE = "europe", _("Europe: detailed explanation, privacy")
    ASIA = "asia", _("Asia: apology and relationship care")


class NotificationTemplate(TimeStampedModel):
    """Text of one notice kind on one channel in one language (and optionally one region)."""

    kind = models.CharField(_("kind"), max_length=20, choices=NoticeKind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices)
    region_style = models.CharField(
        _("region style"), max_length=16, choices=RegionStyle.choices, default=RegionStyle.ANY
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("notification template")
        verbose_name_plural = _("notification templates")
        ordering = ["kind", "channel", "language", "region_style"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "channel", "language", "region_style"],
                name="notifications_template_unique_variant",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(NoticeKind)),
                name="notifications_template_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["email", "sms", "push"]),
                name="notifications_template_channel_valid",
            ),
            models.CheckConstraint(
                condition=Q(language__in=choice_values(Language)),
                name="notifications_template_language_valid",
            ),
            models.CheckConstraint(
                condition=Q(region_style__in=choice_values(RegionStyle)),
                name="notifications_template_region_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.channel}/{self.language}/{self.region_style}"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed permanently")
    SUPPRESSED = "suppressed", _("Not sent (suppressed)")
    CANCELLED = "cancelled", _("Cancelled")


class Notification(TimeStampedModel):
    """The outbox: one row per notice, written with the event that caused it.

    The dedupe key is unique, so a retry or a second detection never queues (or sends) twice.
    """

    Status = NotificationStatus

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Every index is one more write per notice, and a detection pass can queue 150k notices in
    # one transaction (docs/PERFORMANCE.md): the foreign keys below have no index of their own
    # where a composite index starts with them (customer, ticket, shipment), and a partial one
    # (non-null rows only) where most rows hold NULL (ticket, incident, fallback).
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="notifications", db_index=False
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        db_index=False,
    )
    shipment = models.ForeignKey(
        "shipments.Shipment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        db_index=False,
    )
    incident = models.ForeignKey(
        "shipments.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        db_index=False,
    )
    fallback_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="fallbacks",
        verbose_name=_("fallback of"),
        help_text=_("The notice on another channel that failed, which this one replaces."),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=NoticeKind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices)
    level = models.CharField(
        _("delay level"),
        max_length=16,
        blank=True,
        help_text=_(
            "For delay notices: the level it announces (the frequency cap lets a rise through)."
        ),
    )
    # Unique by a constraint, not unique=True: on PostgreSQL unique=True adds a second
    # (pattern-matching) index that nothing here reads.
    dedupe_key = models.CharField(_("dedupe key"), max_length=200)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"), blank=True)
    context = models.JSONField(_("placeholder values"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    suppressed_reason = models.CharField(_("why not sent"), max_length=200, blank=True)
    # The same reason as untranslated parts, shown in the reader's language
    # (notifications.reasons); null for reasons written before, or by hand.
    suppressed_reason_parts = models.JSONField(
        _("why not sent (parts)"), null=True, blank=True, editable=False
    )
    not_before = models.DateTimeField(_("send not before"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=128, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], name="notifications_notification_unique_dedupe_key"
            ),
            models.CheckConstraint(
                condition=Q(status__in=choice_values(NotificationStatus)),
                name="notifications_notification_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(NoticeKind)),
                name="notifications_notification_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=choice_values(Channel)),
                name="notifications_notification_channel_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="suppressed") | ~Q(suppressed_reason=""),
                name="notifications_notification_suppressed_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["sent", "delivered"]) | Q(sent_at__isnull=False),
                name="notifications_notification_sent_has_time",
            ),
        ]
        indexes = [
            # Dispatcher: pending rows that are due, in claim order (next_attempt_at, id), so a
            # claim reads its batch off the index instead of sorting every pending row that
            # shares a due time (an incident's 100k notices all do). Partial, so sent history
            # costs nothing.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="notifications_outbox_due_idx",
                condition=Q(status="pending"),
            ),
            # Sweeper for rows a crashed worker left claimed.
            models.Index(
                fields=["claimed_at"],
                name="notifications_claimed_idx",
                condition=Q(status="sending"),
            ),
            # Notification history on the customer and ticket pages; frequency cap.
            models.Index(fields=["customer", "-created_at"], name="notifications_customer_idx"),
            models.Index(
                fields=["ticket", "-created_at"],
                name="notifications_ticket_idx",
                condition=Q(ticket__isnull=False),
            ),
            # Incident pages and the foreign keys' SET NULL on delete.
            models.Index(
                fields=["incident"],
                name="notifications_incident_idx",
                condition=Q(incident__isnull=False),
            ),
            models.Index(
                fields=["fallback_of"],
                name="notifications_fallback_idx",
                condition=Q(fallback_of__isnull=False),
            ),
            # Follow-ups, recovery and delivered notices: "what did this shipment's customer hear".
            models.Index(fields=["shipment", "-created_at"], name="notifications_shipment_idx"),
            # Inbound delivery receipts find the row by provider id.
            models.Index(
                fields=["provider_message_id"],
                name="notifications_provider_id_idx",
                condition=~Q(provider_message_id=""),
            ),
        ]

    @property
    def suppressed_reason_text(self) -> str:
        """Why this notice was not sent, in the active language and time zone."""
        return text_of(self.suppressed_reason_parts, self.suppressed_reason)
