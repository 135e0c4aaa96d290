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
