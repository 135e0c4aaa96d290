import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import DelayCause, Language, TimeStampedModel, choice_values


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class ServiceLevel(models.TextChoices):
    ECONOMY = "economy", _("Economy")
    STANDARD = "standard", _("Standard")
    EXPRESS = "express", _("Express")


class ShipmentStatus(models.TextChoices):
    """The documented status set; carrier codes map onto it per carrier."""

    INFO_RECEIVED = "info_received", _("Information received")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    AVAILABLE_FOR_PICKUP = "available_for_pickup", _("Available for pickup")
    DELIVERED = "delivered", _("Delivered")
    EXCEPTION = "exception", _("Exception")
    FAILED_ATTEMPT = "failed_attempt", _("Failed delivery attempt")
    RETURNED = "returned", _("Returned to sender")
    EXPIRED = "expired", _("Tracking expired")


FINAL_STATUSES = (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.EXPIRED)


class DelayLevel(models.TextChoices):
    """Delay levels of shared/DOMAIN.md, from least to most severe."""

    NONE = "none", _("On time")
    # Predicted, not yet observed: the late-delivery model (shipments.risk) expects the parcel
    # to miss its promise. The least severe warning: it tells the customer early, and opens no
    # proactive ticket by default (PROACTIVE_TICKET_MIN_LEVEL).
    WILL_BE_LATE = "will_be_late", _("Will be late: forecast")
    YELLOW = "yellow", _("Yellow: slow in transit")
    HUB_HOLD = "hub_hold", _("Alert: held at a hub")
    ORANGE = "orange", _("Orange: no tracking update")
    RED = "red", _("Red: predicted over a week late")
    LONG_DELAY = "long_delay", _("Long delay: over 30 days late")


DELAY_LEVEL_RANK = {level: rank for rank, level in enumerate(choice_values(DelayLevel))}


class Carrier(TimeStampedModel):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    webhook_secret = models.CharField(
        _("webhook secret"),
        max_length=128,
        default=new_webhook_secret,
        help_text=_("Shared secret for the HMAC-SHA256 signature of tracking webhooks."),
    )
    tracking_url_template = models.CharField(
        _("tracking URL template"),
        max_length=300,
        blank=True,
        help_text=_("Use {tracking_number}."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Reliability over a recent window of delivered shipments (refreshed with lane statistics).
    on_time_rate = models.FloatField(_("on-time rate"), null=True, blank=True)
    mean_lateness_hours = models.FloatField(
        _("mean lateness of late parcels (h)"), null=True, blank=True
    )
    reliability_sample = models.PositiveIntegerField(_("deliveries in the window"), default=0)
    reliability_updated_at = models.DateTimeField(_("reliability updated"), null=True, blank=True)

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CarrierStatusMapping(models.Model):
    """How one carrier's event code maps to Delaydesk's status and cause (editable in admin)."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="status_mappings")
    carrier_code = models.CharField(_("carrier's code"), max_length=64)
    status = models.CharField(_("status"), max_length=24, choices=ShipmentStatus.choices)
    cause = models.CharField(
        _("cause"), max_length=24, choices=DelayCause.choices, default=DelayCause.NONE
    )
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("carrier status mapping")
        verbose_name_plural = _("carrier status mappings")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "carrier_code"], name="shipments_statusmapping_unique_code"
            ),
            models.CheckConstraint(
                condition=Q(status__in=choice_values(ShipmentStatus)),
                name="shipments_statusmapping_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(cause__in=choice_values(DelayCause)),
                name="shipments_statusmapping_cause_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier.code}:{self.carrier_code} -> {self.status}"


class Lane(TimeStampedModel):
    """Origin region + destination region + carrier + service level, with delivered statistics."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="lanes")
    origin_region = models.CharField(_("origin region"), max_length=64)
    destination_region = models.CharField(_("destination region"), max_length=64)
    service_level = models.CharField(
        _("service level"),
        max_length=16,
        choices=ServiceLevel.choices,
        default=ServiceLevel.STANDARD,
    )
    delivered_count = models.PositiveIntegerField(_("delivered shipments"), default=0)
    mean_transit_hours = models.FloatField(_("mean transit (h)"), null=True, blank=True)
    p50_transit_hours = models.FloatField(_("median transit (h)"), null=True, blank=True)
    p90_transit_hours = models.FloatField(_("p90 transit (h)"), null=True, blank=True)
    on_time_rate = models.FloatField(_("on-time rate"), null=True, blank=True)
    stats_updated_at = models.DateTimeField(_("statistics updated"), null=True, blank=True)

    class Meta:
        verbose_name = _("lane")
        verbose_name_plural = _("lanes")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "origin_region", "destination_region", "service_level"],
                name="shipments_lane_unique_route",
            ),
            models.CheckConstraint(
                condition=Q(service_level__in=choice_values(ServiceLevel)),
                name="shipments_lane_service_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(mean_transit_hours__isnull=True) | Q(mean_transit_hours__gte=0),
                name="shipments_lane_mean_transit_gte_0",
            ),
        ]

    def __str__(self) -> str:
        route = f"{self.origin_region} → {self.destination_region}"
        return f"{route} ({self.carrier.code}, {self.service_level})"


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    MONITORING = "monitoring", _("Monitoring")
    RESOLVED = "resolved", _("Resolved")


class Incident(TimeStampedModel):
    """One cause hitting many parcels: notified together, with one public explanation."""

    Status = IncidentStatus

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    cause = models.CharField(_("cause"), max_length=24, choices=DelayCause.choices)
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    lane = models.ForeignKey(
        Lane, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    hub = models.CharField(_("hub"), max_length=200, blank=True)
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"), null=True, blank=True)
    public_explanation = models.TextField(_("public explanation (English)"), blank=True)
    public_explanation_zh_hans = models.TextField(_("public explanation (Chinese)"), blank=True)
    affected_count = models.PositiveIntegerField(_("affected shipments"), default=0)
    is_automatic = models.BooleanField(_("grouped automatically"), default=False)
    scope_key = models.CharField(
        _("grouping key"),
        max_length=200,
        blank=True,
        help_text=_("cause + carrier + hub or lane + window: one automatic incident per key."),
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-window_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=choice_values(IncidentStatus)),
                name="shipments_incident_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(cause__in=choice_values(DelayCause)),
                name="shipments_incident_cause_valid",
            ),
            models.CheckConstraint(
                condition=Q(window_end__isnull=True) | Q(window_end__gte=F("window_start")),
                name="shipments_incident_window_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(resolved_at__isnull=False),
                name="shipments_incident_resolved_has_time",
            ),
            # Automatic grouping is idempotent: a second detection pass finds the same incident.
            models.UniqueConstraint(
                fields=["scope_key"],
                condition=~Q(scope_key=""),
                name="shipments_incident_unique_scope_key",
            ),
        ]
        indexes = [
            # Supervisor page: "open incidents, newest first".
            models.Index(
                fields=["-window_start"],
                name="shipments_incident_open_idx",
                condition=~Q(status="resolved"),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def explanation(self, language: str) -> str:
        """The public explanation customers read, in ``language`` (zh-hans or English), else
        in English; "" when there is none (never the title: that is staff's)."""
        texts = [self.public_explanation]
        if language == Language.ZH_HANS:
            texts.insert(0, self.public_explanation_zh_hans)
        return next((text.strip() for text in texts if text and text.strip()), "")


class ShipmentQuerySet(models.QuerySet):
    def active(self) -> "ShipmentQuerySet":
        return self.exclude(status__in=FINAL_STATUSES)

    def delayed(self) -> "ShipmentQuerySet":
        return self.exclude(delay_level=DelayLevel.NONE)


class Shipment(TimeStampedModel):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: the unique (carrier, tracking_number) index starts with it, and every
    # extra index is one more write per detection change (docs/PERFORMANCE.md).
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, related_name="shipments", db_index=False
    )
    tracking_number = models.CharField(_("tracking number"), max_length=64)
    order_number = models.CharField(_("order number"), max_length=64)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="shipments"
    )
    lane = models.ForeignKey(
        Lane, on_delete=models.PROTECT, null=True, blank=True, related_name="shipments"
    )
    service_level = models.CharField(
        _("service level"),
        max_length=16,
        choices=ServiceLevel.choices,
        default=ServiceLevel.STANDARD,
    )
    origin_region = models.CharField(_("origin region"), max_length=64)
    destination_region = models.CharField(_("destination region"), max_length=64)
    # The customer proves an order is theirs with it on the progress page's lookup form.
    # A database default too: bulk loaders that write SQL (bench/) need not name it.
    destination_postal_code = models.CharField(
        _("destination postal code"), max_length=16, blank=True, db_default=""
    )
    status = models.CharField(
        _("status"),
        max_length=24,
        choices=ShipmentStatus.choices,
        default=ShipmentStatus.INFO_RECEIVED,
    )
    cause = models.CharField(
        _("cause"),
        max_length=24,
        choices=DelayCause.choices,
        default=DelayCause.NONE,
        help_text=_("Sub-status: what the carrier says is wrong, if anything."),
    )
    order_value = models.DecimalField(_("order value"), max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    ordered_at = models.DateTimeField(_("ordered at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("handed to carrier"), null=True, blank=True)
    promised_at = models.DateTimeField(
        _("promised delivery"), help_text=_("The original promise; never moved.")
    )
    carrier_eta = models.DateTimeField(_("carrier's estimate"), null=True, blank=True)
    predicted_eta = models.DateTimeField(_("predicted delivery"), null=True, blank=True)
    # While the shipment is "will be late": the estimate given that it misses its promise
    # (shipments.eta.predict_eta(late=True)), the date its customer is told. Kept apart from
    # predicted_eta, which the rules read: a conditional date there would make the "predicted
    # a week late" rule fire on the forecast's own assumption.
    late_eta = models.DateTimeField(
        _("estimate if late"),
        null=True,
        blank=True,
        help_text=_("While the shipment will be late: when it should arrive after its promise."),
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    last_event_at = models.DateTimeField(_("last scan"), null=True, blank=True)
    last_location = models.CharField(_("last location"), max_length=200, blank=True)
    location_since = models.DateTimeField(
        _("at this location since"),
        null=True,
        blank=True,
        help_text=_("First scan at the current location, for the hub-hold rule."),
    )
    delay_level = models.CharField(
        _("delay level"), max_length=16, choices=DelayLevel.choices, default=DelayLevel.NONE
    )
    delay_cause = models.CharField(
        _("delay cause"), max_length=24, choices=DelayCause.choices, default=DelayCause.NONE
    )
    delay_rule = models.CharField(_("rule that fired"), max_length=32, blank=True)
    delay_detected_at = models.DateTimeField(_("delay detected at"), null=True, blank=True)
    # Indexed by shipments_incident_idx (non-null only): most shipments are in no incident, and
    # a full index would take a NULL entry for every row version detection writes.
    incident = models.ForeignKey(
        Incident,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shipments",
        db_index=False,
    )

    objects = ShipmentQuerySet.as_manager()

    # Storage (PostgreSQL, migration 0005): fillfactor 85. Ingest and detection rewrite rows
    # all the time and most of those updates change an indexed column; room on the page keeps
    # the new row version on its page instead of moving it (half the work of a detection pass
    # that flags 150k shipments, docs/PERFORMANCE.md).

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                name="shipments_shipment_unique_tracking_number",
            ),
            models.CheckConstraint(
                condition=Q(status__in=choice_values(ShipmentStatus)),
                name="shipments_shipment_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(cause__in=choice_values(DelayCause)),
                name="shipments_shipment_cause_valid",
            ),
            models.CheckConstraint(
                condition=Q(delay_cause__in=choice_values(DelayCause)),
                name="shipments_shipment_delay_cause_valid",
            ),
            models.CheckConstraint(
                condition=Q(delay_level__in=choice_values(DelayLevel)),
                name="shipments_shipment_delay_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(service_level__in=choice_values(ServiceLevel)),
                name="shipments_shipment_service_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(order_value__gte=0), name="shipments_shipment_order_value_gte_0"
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="shipments_shipment_delivered_has_time",
            ),
            models.CheckConstraint(
                condition=Q(delay_level="none") | Q(delay_detected_at__isnull=False),
                name="shipments_shipment_delayed_has_detection_time",
            ),
        ]
        indexes = [
            # Delay detection sweeps active shipments only (partial: delivered ones drop out).
            models.Index(
                fields=["carrier", "last_event_at"],
                name="shipments_active_idx",
                condition=~Q(status__in=["delivered", "returned", "expired"]),
            ),
            # Lane statistics read delivered history per lane.
            models.Index(
                fields=["lane", "delivered_at"],
                name="shipments_delivered_idx",
                condition=Q(status="delivered"),
            ),
            # Console and API filters: "delayed shipments by level, newest detection first".
            models.Index(
                fields=["delay_level", "-delay_detected_at"],
                name="shipments_delayed_idx",
                condition=~Q(delay_level="none"),
            ),
            # Incident grouping (shipments.incidents): "delayed shipments with a carrier-given
            # cause in no incident yet", grouped by cause + carrier + hub, or by cause + lane.
            # A few % of the table, so grouping never scans it all.
            models.Index(
                fields=["delay_cause", "carrier", "last_location"],
                name="shipments_incident_cand_idx",
                condition=Q(incident__isnull=True)
                & ~Q(delay_level="none")
                & ~Q(delay_cause__in=["none", "unknown"]),
            ),
            # Supervisor KPIs (supervisor.kpis): "shipments whose delay was detected in a period";
            # the charts and root causes (supervisor.trends, supervisor.root_causes) count them
            # per day, cause, carrier and lane from the index alone (index-only scans).
            models.Index(
                fields=["delay_detected_at"],
                include=["delay_cause", "carrier", "lane"],
                name="shipments_detected_idx",
                condition=Q(delay_detected_at__isnull=False),
            ),
            # Supervisor charts and root causes: carrier and lane reliability, "deliveries in a
            # period, on time or not", from the index alone.
            models.Index(
                fields=["delivered_at"],
                include=["promised_at", "carrier", "lane"],
                name="shipments_delivered_at_idx",
                condition=Q(status="delivered"),
            ),
            # Supervisor KPIs: 30-day repurchase, "orders placed in a period".
            models.Index(
                fields=["ordered_at"],
                name="shipments_ordered_idx",
                condition=Q(ordered_at__isnull=False),
            ),
            # An incident's shipments (incident pages, bulk offers and notices).
            models.Index(
                fields=["incident"],
                name="shipments_incident_idx",
                condition=Q(incident__isnull=False),
            ),
            # Console search by order number.
            models.Index(fields=["order_number"], name="shipments_order_idx"),
            # Console search by tracking number across carriers.
            models.Index(fields=["tracking_number"], name="shipments_tracking_idx"),
        ]

    @property
    def told_eta(self):
        """The estimate customers are told: the late estimate while the model warns that the
        parcel will be late, else ours, else the carrier's."""
        if self.delay_level == DelayLevel.WILL_BE_LATE and self.late_eta is not None:
            return self.late_eta
        return self.predicted_eta or self.carrier_eta

    def __str__(self) -> str:
        return f"{self.carrier.code} {self.tracking_number}"

    @property
    def is_active(self) -> bool:
        return self.status not in FINAL_STATUSES

    @property
    def slip_days(self) -> float | None:
        """The gap between the promise and the current estimate (the one customers are told,
        ``told_eta``), in days (positive = late)."""
        eta = self.delivered_at or self.told_eta
        if eta is None:
            return None
        return round((eta - self.promised_at).total_seconds() / 86400, 1)


class TrackingEvent(models.Model):
    """One carrier scan, stored once (unique carrier event id) whatever the redeliveries."""

    # Indexed by the timeline index (shipment, -occurred_at), which starts with it.
    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    # Covered by the unique (carrier, carrier_event_id) index, which starts with it.
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="+", db_index=False)
    carrier_event_id = models.CharField(_("carrier's event id"), max_length=128)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    carrier_code = models.CharField(_("carrier's status code"), max_length=64)
    # Empty while the event is unmapped.
    status = models.CharField(
        _("status"), max_length=24, choices=ShipmentStatus.choices, blank=True
    )
    cause = models.CharField(
        _("cause"), max_length=24, choices=DelayCause.choices, default=DelayCause.NONE
    )
    location = models.CharField(_("location"), max_length=200, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    # A code the carrier's status mapping did not know when the event arrived: the event is
    # kept (the carrier must not retry forever) but changes nothing about its shipment until
    # an operator maps the code (shipments.ingest.unmapped_events_apply).
    unmapped = models.BooleanField(
        _("unmapped"),
        default=False,
        help_text=_(
            "The carrier's status code had no mapping when the event arrived: the event does "
            "not count for its shipment until the code is mapped."
        ),
    )

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "carrier_event_id"],
                name="shipments_trackingevent_unique_event_id",
            ),
            models.CheckConstraint(
                condition=Q(unmapped=False, status__in=choice_values(ShipmentStatus))
                | Q(unmapped=True, status="", cause=DelayCause.NONE),
                name="shipments_trackingevent_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(cause__in=choice_values(DelayCause)),
                name="shipments_trackingevent_cause_valid",
            ),
        ]
        indexes = [
            # Shipment timeline and "latest event by occurred_at" for the current state.
            models.Index(fields=["shipment", "-occurred_at"], name="shipments_event_timeline_idx"),
            # unmapped_events_apply: the unmapped events of one carrier code, when it is mapped.
            models.Index(
                fields=["carrier", "carrier_code"],
                condition=Q(unmapped=True),
                name="shipments_event_unmapped_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_event_id} {self.status} @ {self.location}"


class UnmappedStatusCode(models.Model):
    """A carrier status code that arrived in events but is not in the carrier's mappings.

    Kept up to date by the webhook's ingest (one upsert per batch that carries such codes) and
    deleted when the code is mapped, which re-applies its events: the operators' to-do list.
    """

    carrier = models.ForeignKey(
        Carrier, on_delete=models.CASCADE, related_name="unmapped_codes", db_index=False
    )
    carrier_code = models.CharField(_("carrier's status code"), max_length=64)
    event_count = models.PositiveIntegerField(_("events"), default=0)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("unmapped carrier status code")
        verbose_name_plural = _("unmapped carrier status codes")
        ordering = ["-last_seen_at"]
        constraints = [
            # Also the index of the ingest's upsert and of the lookups by carrier.
            models.UniqueConstraint(
                fields=["carrier", "carrier_code"], name="shipments_unmappedcode_unique_code"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier.code}:{self.carrier_code}"


class DelayRuleKind(models.TextChoices):
    TRANSIT_RATIO = "transit_ratio", _("Time in transit over the lane's mean (ratio)")
    NO_UPDATE_HOURS = "no_update_hours", _("No tracking update for (hours)")
    PREDICTED_LATE_DAYS = "predicted_late_days", _("Predicted late beyond the promise (days)")
    HUB_HOLD_HOURS = "hub_hold_hours", _("Held at one hub for (hours)")
    LATE_DAYS = "late_days", _("Already late beyond the promise (days)")
    LATE_PROBABILITY = (
        "late_probability",
        _("Probability of missing the promise, within the horizon (0 to 1)"),
    )


class DelayRule(models.Model):
    """One delay rule as data; defaults from shared/DOMAIN.md are installed by a migration."""

    Kind = DelayRuleKind

    key = models.SlugField(_("key"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    level = models.CharField(_("level"), max_length=16, choices=DelayLevel.choices)
    threshold = models.DecimalField(_("threshold"), max_digits=8, decimal_places=2)
    horizon_hours = models.PositiveIntegerField(
        _("horizon (hours)"),
        null=True,
        blank=True,
        help_text=_(
            "Probability rules only: fire once the promise is at most this many hours away "
            "(and after it has passed)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("delay rule")
        verbose_name_plural = _("delay rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(DelayRuleKind)),
                name="shipments_delayrule_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(level__in=choice_values(DelayLevel)) & ~Q(level="none"),
                name="shipments_delayrule_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(threshold__gt=0), name="shipments_delayrule_threshold_gt_0"
            ),
            # A probability rule has a probability below 1 and a horizon; no other rule has one.
            models.CheckConstraint(
                condition=(
                    Q(kind=DelayRuleKind.LATE_PROBABILITY)
                    & Q(threshold__lt=1)
                    & Q(horizon_hours__isnull=False)
                    & Q(horizon_hours__gt=0)
                )
                | (~Q(kind=DelayRuleKind.LATE_PROBABILITY) & Q(horizon_hours__isnull=True)),
                name="shipments_delayrule_horizon_only_for_probability",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.level})"

    def clean(self) -> None:
        """Field-level messages for what the constraints refuse (the admin's form)."""
        errors = {}
        if self.kind == DelayRuleKind.LATE_PROBABILITY:
            if self.threshold is not None and not 0 < self.threshold < 1:
                errors["threshold"] = _("A probability threshold lies between 0 and 1.")
            if not self.horizon_hours:
                errors["horizon_hours"] = _("A probability rule needs a horizon in hours.")
        elif self.horizon_hours is not None:
            errors["horizon_hours"] = _("Only probability rules have a horizon: leave it empty.")
        if errors:
            raise ValidationError(errors)


class DelayLevelChange(models.Model):
    """Each change of a shipment's delay level with its time: "detected at" for the KPIs."""

    # Indexed by (shipment, changed_at) below, which starts with it.
    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="level_changes", db_index=False
    )
    from_level = models.CharField(_("from"), max_length=16, choices=DelayLevel.choices)
    to_level = models.CharField(_("to"), max_length=16, choices=DelayLevel.choices)
    cause = models.CharField(_("cause"), max_length=24, choices=DelayCause.choices)
    rule_key = models.CharField(_("rule"), max_length=32, blank=True)
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("delay level change")
        verbose_name_plural = _("delay level changes")
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_level=F("to_level")), name="shipments_levelchange_is_a_change"
            ),
            models.CheckConstraint(
                condition=Q(from_level__in=choice_values(DelayLevel))
                & Q(to_level__in=choice_values(DelayLevel)),
                name="shipments_levelchange_levels_valid",
            ),
        ]
        indexes = [
            # KPI "detection -> first contact" and the shipment page's history.
            models.Index(fields=["shipment", "changed_at"], name="shipments_levelchange_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.from_level} -> {self.to_level}"


class LateModel(TimeStampedModel):
    """One trained late-delivery model (shipments.risk): a logistic regression over the
    features of ``shipments.risk.FEATURE_NAMES``, with how it was trained and how well it did
    on months it never saw.

    The coefficients are stored as JSON rather than a pickled estimator: scoring is one dot
    product (numpy over a million rows in well under a second), a stored row cannot run code
    when loaded, and an operator can read what the model weighs.
    """

    version = models.PositiveIntegerField(_("version"), unique=True)
    trained_at = models.DateTimeField(_("trained at"))
    history_from = models.DateTimeField(_("training window from"))
    history_to = models.DateTimeField(
        _("training window to"), help_text=_("History after this moment was not read.")
    )
    validation_from = models.DateTimeField(
        _("validation from"),
        help_text=_(
            "Trained on promises before it; those from here to the cutoff chose the "
            "regularisation and the threshold."
        ),
    )
    cutoff = models.DateTimeField(
        _("cutoff"),
        help_text=_("The figures are on promises after it: never trained or tuned on."),
    )
    training_shipments = models.PositiveIntegerField(_("training shipments"))
    training_examples = models.PositiveIntegerField(_("training examples"))
    validation_examples = models.PositiveIntegerField(_("validation examples"))
    reported_examples = models.PositiveIntegerField(_("reported examples"))
    # {"validation": {"72": {"precision", "recall", "flagged", "late", "undelivered",
    # "naive_precision"}, ...}, "reported": {...}}: reported = the months after the cutoff.
    figures = models.JSONField(_("figures per horizon"), default=dict)
    threshold = models.FloatField(
        _("probability threshold"),
        help_text=_("Chosen on the validation months at 72 h for the domain's precision target."),
    )
    thresholds = models.JSONField(_("threshold per horizon"), default=dict)
    feature_names = models.JSONField(_("features"), default=list)
    # {"mean": [...], "scale": [...], "coef": [...], "intercept": float, "c": float}
    coefficients = models.JSONField(_("coefficients"), default=dict)
    is_active = models.BooleanField(_("active"), default=False)

    class Meta:
        verbose_name = _("late-delivery model")
        verbose_name_plural = _("late-delivery models")
        ordering = ["-version"]
        constraints = [
            # Scoring reads "the active model": there is never a choice between two.
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="shipments_latemodel_one_active",
            ),
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=1),
                name="shipments_latemodel_threshold_in_0_1",
            ),
            models.CheckConstraint(
                condition=Q(history_from__lte=F("validation_from"))
                & Q(validation_from__lte=F("cutoff"))
                & Q(cutoff__lte=F("history_to")),
                name="shipments_latemodel_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version}"
