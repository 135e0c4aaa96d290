import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from core.models import Channel, Language, TimeStampedModel, choice_values


class CustomerQuerySet(models.QuerySet):
    def search(self, term: str) -> "CustomerQuerySet":
        term = term.strip()
        if not term:
            return self
        return self.filter(
            Q(name__icontains=term) | Q(email__iexact=term) | Q(phone=term) | Q(external_ref=term)
        )


class CustomerTier(models.TextChoices):
    VIP = "vip", _("VIP")
    FREQUENT_COMPLAINER = "frequent_complainer", _("Frequent complainer")
    REGULAR = "regular", _("Regular")
    NEW = "new", _("New")


class CustomerRegion(models.TextChoices):
    # Regional communication style (shared/DOMAIN.md, "Proactive communication").
    NORTH_AMERICA = "north_america", _("North America")
    EUROPE = "europe", _("Europe")
    ASIA = "asia", _("Asia")
    OTHER = "other", _("Other")


class Customer(TimeStampedModel):
    """A merchant's customer. Customers have no login; they reach Delaydesk through links."""

    Tier = CustomerTier

    Region = CustomerRegion

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_ref = models.CharField(
        _("merchant's customer id"), max_length=64, unique=True, null=True, blank=True
    )
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, help_text=_("E.164"))
    tier = models.CharField(_("tier"), max_length=24, choices=Tier.choices, default=Tier.NEW)
    language = models.CharField(
        _("language"), max_length=10, choices=Language.choices, default=Language.EN
    )
    region = models.CharField(
        _("region"), max_length=16, choices=Region.choices, default=Region.OTHER
    )
    country = models.CharField(_("country"), max_length=2, blank=True, help_text=_("ISO 3166-1"))
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=8, choices=Channel.choices, default=Channel.EMAIL
    )
    opt_out_email = models.BooleanField(_("opted out of email"), default=False)
    opt_out_sms = models.BooleanField(_("opted out of SMS"), default=False)
    opt_out_push = models.BooleanField(_("opted out of push"), default=False)
    opt_out_phone = models.BooleanField(_("opted out of calls"), default=False)
    quiet_hours_start = models.TimeField(_("quiet hours start"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet hours end"), null=True, blank=True)
    delay_tolerance_hours = models.PositiveIntegerField(
        _("delay tolerance (hours)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(24 * 60)],
        help_text=_("Notify only when the ETA slips by more than this; empty uses the tier's."),
    )
    lifetime_orders = models.PositiveIntegerField(_("orders so far"), default=0)
    lifetime_value = models.DecimalField(
        _("lifetime value"), max_digits=12, decimal_places=2, default=0
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.CheckConstraint(
                condition=Q(tier__in=choice_values(CustomerTier)),
                name="customers_customer_tier_valid",
            ),
            models.CheckConstraint(
                condition=Q(language__in=choice_values(Language)),
                name="customers_customer_language_valid",
            ),
            models.CheckConstraint(
                condition=Q(region__in=choice_values(CustomerRegion)),
                name="customers_customer_region_valid",
            ),
            models.CheckConstraint(
                condition=Q(preferred_channel__in=choice_values(Channel)),
                name="customers_customer_channel_valid",
            ),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="customers_customer_quiet_hours_both_or_none",
            ),
            models.CheckConstraint(
                condition=Q(lifetime_value__gte=0), name="customers_customer_lifetime_value_gte_0"
            ),
        ]
        indexes = [
            # Console search: "customer by email".
            models.Index(fields=["email"], name="customers_customer_email_idx"),
            # Console and API search: "customer by email, any case" (email__iexact is UPPER()).
            models.Index(Upper("email"), name="customers_email_upper_idx"),
            # Console search and SMS replies: "customer by phone".
            models.Index(fields=["phone"], name="customers_customer_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def is_opted_out(self, channel: str) -> bool:
        return bool(getattr(self, f"opt_out_{channel}", False))
