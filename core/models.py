from django.db import models
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
