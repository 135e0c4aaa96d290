"""Filters of the shipments API list (django-filter; documented in the OpenAPI schema)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.inputs import IdFilter
from core.models import DelayCause
from shipments.models import DelayLevel, Shipment, ShipmentStatus


class ShipmentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=ShipmentStatus.choices, help_text="Current status; repeat to match any of several."
    )
    delay_level = django_filters.MultipleChoiceFilter(
        choices=DelayLevel.choices, help_text="Delay level; repeat to match any of several."
    )
    cause = django_filters.ChoiceFilter(
        choices=DelayCause.choices, help_text="Cause the carrier's latest event gives."
    )
    delay_cause = django_filters.ChoiceFilter(
        choices=DelayCause.choices, help_text="Cause of the detected delay."
    )
    carrier = django_filters.CharFilter(field_name="carrier__code", help_text="Carrier code.")
    lane = IdFilter(field_name="lane_id", help_text="Lane id (digits 0-9).")
    incident = django_filters.UUIDFilter(
        field_name="incident__public_id", help_text="Incident public id."
    )
    search = django_filters.CharFilter(
        method="filter_search",
        help_text="Exact tracking number or order number (as the customer quotes it).",
    )

    class Meta:
        model = Shipment
        fields = ["status", "delay_level", "cause", "delay_cause", "carrier", "lane", "incident"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Exact matches only: both columns are indexed, and a substring search over a large
        # merchant's history would scan the table.
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(Q(tracking_number=term) | Q(order_number=term))
