"""The supervisor workspace's own rows: runs of an incident's bulk actions.

A bulk action (notify every affected customer, offer a remedy to every open ticket, resolve)
is recorded as an `IncidentAction` when a supervisor starts it. The row is what makes a double
submit harmless and what the incident page polls for progress:

- `key` is the idempotency key the form carries (a UUID made when the page was shown): a
  second POST with the same key finds the run and starts nothing;
- at most one run per incident and kind is queued or running at a time (a partial unique
  constraint), so two tabs or two supervisors do not start the same work twice;
- the work itself is idempotent in the services it calls (dedupe keys of the notices, the bulk
  key of the offers, the incident's status), so a retried task does it once.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel, choice_values


class IncidentActionKind(models.TextChoices):
    NOTIFY = "notify", _("Notify all affected customers")
    OFFER = "offer", _("Offer a remedy to all")
    RESOLVE = "resolve", _("Resolve the incident")


class IncidentActionStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


ACTIVE_STATUSES = (IncidentActionStatus.QUEUED, IncidentActionStatus.RUNNING)


class IncidentAction(TimeStampedModel):
    """One run of a bulk action on an incident, with its progress (`done` of `total`)."""

    Kind = IncidentActionKind
    Status = IncidentActionStatus

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.UUIDField(_("idempotency key"), unique=True)
    incident = models.ForeignKey(
        "shipments.Incident", on_delete=models.PROTECT, related_name="bulk_actions"
    )
    kind = models.CharField(_("action"), max_length=16, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    # What the action covers, counted when it was started (customers to notify, open tickets to
    # offer to, the incident to resolve), and how many of them are handled.
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    # How many of those the run changed (new notices queued, tickets given the offer); the rest
    # had it already.
    changed = models.PositiveIntegerField(_("changed"), default=0)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("incident bulk action")
        verbose_name_plural = _("incident bulk actions")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(IncidentActionKind)),
                name="supervisor_incidentaction_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=choice_values(IncidentActionStatus)),
                name="supervisor_incidentaction_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running"]) | Q(finished_at__isnull=False),
                name="supervisor_incidentaction_finished_has_time",
            ),
            # Two tabs, two supervisors: one run of an action per incident at a time.
            models.UniqueConstraint(
                fields=["incident", "kind"],
                condition=Q(status__in=["queued", "running"]),
                name="supervisor_incidentaction_one_active",
            ),
        ]
        indexes = [
            # The incident page: "its latest runs, newest first".
            models.Index(fields=["incident", "-created_at"], name="supervisor_incaction_inc_idx"),
            # The sweeper (incident_actions.stale_runs_requeue): the active runs by when they
            # last moved; finished runs, nearly all of them, are not in it.
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["queued", "running"]),
                name="supervisor_incaction_stale_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.incident_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == IncidentActionStatus.DONE else 0
        return min(100, self.done * 100 // self.total)


# --- the KPI rollup -------------------------------------------------------------------------------


class Cohort(models.IntegerChoices):
    """Which 30-day repurchase cohort a shipment puts its customer in (supervisor.kpis)."""

    UNAFFECTED = 0, _("unaffected")
    AFFECTED = 1, _("affected")


class ShipmentOutcome(models.Model):
    """The dashboard's slow figures, per shipment, precomputed by supervisor.rollup.

    The first contact and the proactive share need, per delayed shipment, the first notice or
    reply sent after detection and the customer's first message (four tables); the 30-day
    repurchase needs, per shipment, the customer's next order. Read live at 1,000,000
    shipments they take seconds; here they are one row per shipment, refreshed every few
    minutes (incrementally: the customers whose shipments, notices, messages or tickets changed)
    and read by a range scan. Anything that depends on the moment of reading (how long a
    shipment not contacted yet has waited) is computed when read.
    """

    shipment = models.OneToOneField(
        "shipments.Shipment",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="kpi_outcome",
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    delay_detected_at = models.DateTimeField(_("delay detected at"), null=True, blank=True)
    # The first notice sent or public reply about the shipment at or after detection, and the
    # customer's first message on (or self-opened) ticket of it, at any time.
    first_contact_at = models.DateTimeField(_("first contact"), null=True, blank=True)
    first_inbound_at = models.DateTimeField(_("customer first wrote"), null=True, blank=True)
    # Repurchase: the cohort (NULL: neither, e.g. a delay that cleared in transit), its anchor
    # (detection, or the order for the unaffected) and the customer's next other order within
    # 30 days after it.
    cohort = models.PositiveSmallIntegerField(
        _("cohort"), choices=Cohort.choices, null=True, blank=True
    )
    anchor_at = models.DateTimeField(_("cohort moment"), null=True, blank=True)
    next_order_at = models.DateTimeField(_("next order within 30 days"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("shipment outcome (KPI rollup)")
        verbose_name_plural = _("shipment outcomes (KPI rollup)")
        indexes = [
            # The first-contact figures and lists: delayed shipments by detection.
            models.Index(
                fields=["delay_detected_at"],
                include=["currency", "first_contact_at", "first_inbound_at"],
                condition=Q(delay_detected_at__isnull=False),
                name="supervisor_outcome_detect_idx",
            ),
            # The repurchase figures: cohort rows by their moment.
            models.Index(
                fields=["anchor_at"],
                include=["cohort", "customer", "next_order_at"],
                condition=Q(cohort__isnull=False),
                name="supervisor_outcome_anchor_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"outcome of shipment {self.shipment_id}"


class KpiRollupState(models.Model):
    """The one row saying how fresh the rollup is: `as_of` is when the last refresh started
    reading (its figures hold what was committed by then), `full_at` the last full rebuild."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    as_of = models.DateTimeField(_("figures as of"), null=True, blank=True)
    finished_at = models.DateTimeField(_("refresh finished at"), null=True, blank=True)
    full_at = models.DateTimeField(_("last full rebuild"), null=True, blank=True)
    rows = models.PositiveIntegerField(_("rows written by the last refresh"), default=0)
    # Counts every refresh: the dashboard's kept figures (supervisor.snapshot) are named by it.
    refreshes = models.PositiveIntegerField(_("refreshes"), default=0)

    class Meta:
        verbose_name = _("KPI rollup state")
        verbose_name_plural = _("KPI rollup state")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="supervisor_kpirollupstate_single"),
        ]

    def __str__(self) -> str:
        return f"KPI rollup as of {self.as_of}"
