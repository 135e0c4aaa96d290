"""Receivers of the shipments app, connected in ShipmentsConfig.ready()."""

from __future__ import annotations

from django.utils import timezone

from shipments.ingest import unmapped_events_apply
from shipments.models import CarrierStatusMapping


def status_mapping_saved(
    sender, instance: CarrierStatusMapping, raw: bool = False, **kwargs
) -> None:
    """A carrier code just got a mapping (or a changed one): apply the events that arrived
    with it unmapped. Idempotent, in the saving transaction."""
    if raw:  # loaddata: rows as stored, nothing to apply
        return
    unmapped_events_apply(
        carrier_id=instance.carrier_id, carrier_code=instance.carrier_code, now=timezone.now()
    )
