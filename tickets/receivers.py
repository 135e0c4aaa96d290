"""Reactions of the tickets app to other apps' signals and to calendar edits.

Connected in `TicketsConfig.ready`. Heavy work goes to Celery tasks: a detection pass may mark
thousands of shipments at once, and a calendar edit may move thousands of timers.
"""

from __future__ import annotations

import logging

from core.queue import enqueue, enqueue_on_commit
from shipments.signals import shipment_delay_changed
from tickets.models import BusinessCalendar, CalendarException, Team, WorkingHours
from tickets.proactive import chunks, newly_proactive
from tickets.tasks import (
    open_proactive_tickets_task,
    recompute_calendar_timers_task,
    recompute_team_timers_task,
)

logger = logging.getLogger(__name__)


def open_tickets_for_delays(sender, *, changes, **kwargs) -> None:
    """`shipment_delay_changed`: queue proactive tickets for newly delayed shipments."""
    for chunk in chunks(newly_proactive(changes)):
        # Sent on commit (shipments.detection._announce); lost ones are opened by the catch-up.
        enqueue(
            open_proactive_tickets_task, chunk, swept_by="tickets.open_missing_proactive_tickets"
        )


def calendar_changed(sender, instance, **kwargs) -> None:
    """Working hours, closures or the calendar itself changed: recompute its timers."""
    calendar_id = instance.pk if isinstance(instance, BusinessCalendar) else instance.calendar_id
    if calendar_id is None:
        return
    enqueue_on_commit(recompute_calendar_timers_task, calendar_id)


def team_changed(sender, instance, created=False, update_fields=None, **kwargs) -> None:
    """A team's calendar may have been switched: its tickets' business-hours timers follow."""
    if created or (update_fields is not None and "calendar" not in update_fields):
        return
    team_id = instance.pk
    enqueue_on_commit(recompute_team_timers_task, team_id)


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    shipment_delay_changed.connect(open_tickets_for_delays, dispatch_uid="tickets.proactive")
    post_save.connect(team_changed, sender=Team, dispatch_uid="tickets.team_calendar")
    for model in (BusinessCalendar, WorkingHours, CalendarException):
        for signal in (post_save, post_delete):
            signal.connect(
                calendar_changed, sender=model, dispatch_uid=f"tickets.calendar.{model.__name__}"
            )
