"""Filters of the tickets API list (django-filter; documented in the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from tickets.models import Category, Priority, Source, Ticket, TicketStatus
from tickets.selectors import QUEUE_MINE, QUEUE_UNASSIGNED

ME = "me"
OUT_OF_RANGE_MOMENT = _("Enter a moment between the years 1 and 9999 in UTC.")


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 moment compared in UTC.

    ISO 8601 (and Python) allow UTC offsets up to +/-23:59, PostgreSQL up to +/-15:59: a moment
    sent with its own offset answered 500 there ("time zone displacement out of range"). In
    UTC, a moment of year 1 or 9999 can leave the calendar: that is a field error.
    """

    def __init__(self, *args, param: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.param = param  # the query parameter, which names the field error

    def filter(self, qs: QuerySet, value: dt.datetime | None) -> QuerySet:
        if value is not None:
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                raise serializers.ValidationError({self.param: [OUT_OF_RANGE_MOMENT]}) from None
        return super().filter(qs, value)


class TicketFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=TicketStatus.choices, help_text="Status; repeat to match any of several."
    )
    priority = django_filters.MultipleChoiceFilter(
        choices=Priority.choices, help_text="Priority; repeat to match any of several."
    )
    category = django_filters.MultipleChoiceFilter(
        choices=Category.choices, help_text="Category; repeat to match any of several."
    )
    source = django_filters.MultipleChoiceFilter(
        choices=Source.choices, help_text="How the ticket was opened; repeat for several."
    )
    assignee = django_filters.CharFilter(
        method="filter_assignee", help_text='Username of the assignee, or "me".'
    )
    queue = django_filters.ChoiceFilter(
        method="filter_queue",
        choices=[(QUEUE_MINE, "mine"), (QUEUE_UNASSIGNED, "unassigned")],
        help_text="A console tab: open tickets assigned to me, or open unassigned tickets.",
    )
    incident = django_filters.UUIDFilter(
        field_name="incident__public_id", help_text="Incident public id."
    )
    q = django_filters.CharFilter(
        method="filter_search",
        help_text="Words of the subject or customer name, an exact order or tracking number, "
        "the customer's email, or a ticket reference (#123).",
    )
    updated_after = UtcIsoDateTimeFilter(
        param="updated_after",
        field_name="updated_at",
        lookup_expr="gt",
        help_text="Changed after this moment (ISO 8601): poll for changes since the last call.",
    )

    class Meta:
        model = Ticket
        fields = [
            "status",
            "priority",
            "category",
            "source",
            "assignee",
            "queue",
            "incident",
            "q",
            "updated_after",
        ]

    def filter_assignee(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if value == ME:
            return queryset.filter(assignee=self.request.user)
        return queryset.filter(assignee__username=value)

    def filter_queue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # The same tabs as the console (tickets.selectors.console_queue): open tickets only.
        if value == QUEUE_MINE:
            return queryset.open().assigned_to(self.request.user)
        if value == QUEUE_UNASSIGNED:
            return queryset.open().unassigned()
        return queryset

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value[:200])
