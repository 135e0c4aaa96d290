import hashlib
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    """Abstract base: when a row was created and last changed."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Channel(models.TextChoices):
    """The ways Delaydesk reaches a customer; shared by customers and notifications."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PUSH = "push", _("App push")
    PHONE = "phone", _("Phone call")


class Language(models.TextChoices):
    EN = "en", _("English")
    ZH_HANS = "zh-hans", _("Simplified Chinese")


class DelayCause(models.TextChoices):
    """Why a parcel is late, in the words of shared/DOMAIN.md; used by shipments and policies."""

    NONE = "none", _("No problem")
    CUSTOMS_HOLD = "customs_hold", _("Customs hold")
    CONGESTION = "congestion", _("Port congestion or strike")
    CAPACITY = "capacity", _("Peak-season capacity")
    WEATHER = "weather", _("Bad weather")
    SORTING = "sorting", _("Sorting error")
    ADDRESS_ISSUE = "address_issue", _("Address problem")
    CARRIER_OUTAGE = "carrier_outage", _("Carrier system outage")
    TRACKING_LOST = "tracking_lost", _("Tracking information lost")
    DAMAGE = "damage", _("Damaged in transit")
    LOSS = "loss", _("Lost")
    UNKNOWN = "unknown", _("Unknown")


def choice_values(choices: type[models.TextChoices]) -> list[str]:
    """The stored values of a TextChoices class, for CheckConstraints."""
    return [value for value, _label in choices.choices]


def choice_label(choices: type[models.TextChoices], value) -> str:
    """The translated label of a stored choice value; the value itself when it is unknown, ""
    for none (values read through a subquery or a JSON field are not checked by the field)."""
    if value in (None, ""):
        return ""
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


class Heartbeat(models.Model):
    """The last time a background process proved it is alive (shown by /healthz)."""

    name = models.CharField(_("process"), max_length=50, unique=True)
    last_seen_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        # Not about heartbeats: a permission needs a model, and core has this one. Held by the
        # operator group (core.roles); the admin site lets in only its holders and superusers.
        permissions = [("use_admin", _("Can use the admin site"))]

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


def tables_exist(*models_: type[models.Model], using: str = "default") -> bool:
    """Whether these models' tables exist yet: post_migrate handlers also run after a partial
    `migrate app 000N`, before later apps' tables are there."""
    from django.db import connections

    existing = set(connections[using].introspection.table_names())
    return all(model._meta.db_table in existing for model in models_)


class PendingTaskManager(models.Manager):
    def keep(self, *, name: str, args: list, kwargs: dict) -> None:
        """Keep a task for later, once per name and arguments (a second fault adds nothing)."""
        canonical = json.dumps([name, args, kwargs], sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(canonical.encode()).hexdigest()
        self.bulk_create(
            [self.model(key=key, name=name, args=args, kwargs=kwargs)], ignore_conflicts=True
        )


class PendingTask(models.Model):
    """A task the broker refused (it was down) whose work no periodic job redoes: the
    `core.publish_pending_tasks` job sends it when the broker answers again (core/queue.py)."""

    key = models.CharField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list)
    kwargs = models.JSONField(_("keyword arguments"), default=dict)
    created_at = models.DateTimeField(_("kept at"), default=timezone.now)

    objects = PendingTaskManager()

    class Meta:
        verbose_name = _("pending task")
        verbose_name_plural = _("pending tasks")

    def __str__(self) -> str:
        return f"{self.name}{tuple(self.args)}"


class AuditAction(models.TextChoices):
    """What an audit entry records (core.audit). Stable values: exports and filters name them."""

    OFFER_REQUESTED = "offer_requested", _("Compensation requested")
    OFFER_APPROVED = "offer_approved", _("Compensation approved")
    OFFER_REJECTED = "offer_rejected", _("Compensation rejected")
    OFFER_ISSUED = "offer_issued", _("Compensation issued")
    REFUND_ISSUED = "refund_issued", _("Refund issued")
    ROLES_CHANGED = "roles_changed", _("Roles or account access changed")
    TOKEN_CREATED = "token_created", _("API token created")
    TOKEN_REVOKED = "token_revoked", _("API token revoked")
    LINKS_REVOKED = "links_revoked", _("Progress links revoked")
    CONFIG_ADDED = "config_added", _("Configuration added")
    CONFIG_CHANGED = "config_changed", _("Configuration changed")
    CONFIG_DELETED = "config_deleted", _("Configuration deleted")


class AuditEntry(models.Model):
    """One sensitive action: who did what to which row, when, from where, and the values before
    and after. Written by core.audit.record in the transaction of the action; never changed or
    deleted afterwards, which the database refuses too (triggers, migration 0005)."""

    at = models.DateTimeField(_("when"), default=timezone.now)
    action = models.CharField(_("action"), max_length=32, choices=AuditAction.choices)
    # PROTECT: an account that did something sensitive stays (deactivate it instead).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    # The actor's username then, or "system": readable whatever later happens to the account.
    actor_name = models.CharField(_("who (name)"), max_length=150)
    content_type = models.ForeignKey(
        "contenttypes.ContentType",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("object type"),
    )
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    before = models.JSONField(_("before"), null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(_("after"), null=True, blank=True, encoder=DjangoJSONEncoder)
    # Where from: the request's method and path, or the task's name, or "system".
    source = models.CharField(_("source"), max_length=200)
    ip_address = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ("-at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=choice_values(AuditAction)),
                name="core_auditentry_action_valid",
            ),
        ]
        indexes = [
            # The admin's list, newest first, and its date filter.
            models.Index(fields=["-at", "-id"], name="core_audit_at_idx"),
            # The admin's "object type" filter and an object's own entries.
            models.Index(fields=["content_type", "object_id"], name="core_audit_object_idx"),
            # The admin's "who" filter.
            models.Index(fields=["actor", "-at"], name="core_audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_action_display()} {self.object_repr}"
