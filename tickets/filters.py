"""Filters of the tickets API list (django-filter; documented in the OpenAPI schema)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from tickets.models import Category, Priority, Source, Ticket, TicketStatus
from tickets.selectors import QUEUE_MINE, QUEUE_UNASSIGNED

ME = "me"


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
    updated_after = django_filters.IsoDateTimeFilter(
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
