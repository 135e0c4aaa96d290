"""Filters of the compensations API list (django-filter; documented in the OpenAPI schema)."""

from __future__ import annotations

import django_filters

from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from tickets.filters import UtcIsoDateTimeFilter


class CompensationOfferFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=OfferStatus.choices, help_text="Offer status; repeat to match any of several."
    )
    kind = django_filters.MultipleChoiceFilter(
        choices=RemedyKind.choices, help_text="Remedy; repeat to match any of several."
    )
    ticket = django_filters.UUIDFilter(
        field_name="ticket__public_id", help_text="The ticket's public id."
    )
    customer = django_filters.CharFilter(
        field_name="customer__external_ref",
        max_length=254,
        help_text="The merchant's customer reference.",
    )
    incident = django_filters.UUIDFilter(
        field_name="ticket__incident__public_id", help_text="The incident's public id."
    )
    created_after = UtcIsoDateTimeFilter(
        param="created_after",
        field_name="created_at",
        lookup_expr="gte",
        help_text="Requested at or after this moment (ISO 8601).",
    )
    created_before = UtcIsoDateTimeFilter(
        param="created_before",
        field_name="created_at",
        lookup_expr="lt",
        help_text="Requested before this moment (ISO 8601).",
    )

    class Meta:
        model = CompensationOffer
        fields = [
            "status",
            "kind",
            "ticket",
            "customer",
            "incident",
            "created_after",
            "created_before",
        ]
