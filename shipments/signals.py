"""Domain signals of the shipments app, sent on commit so receivers see the committed rows.

`shipment_delay_changed` is sent once per detection pass with every level change of the pass
(never once per shipment): tickets and notifications react in bulk, with set-based queries.

    sender        Shipment
    shipment_ids  [id, ...] of the shipments whose delay level changed, ascending
    changes       [(shipment_id, from_level, to_level, cause), ...] in the same order; `cause` is
                  the delay cause after the change ("none" for a shipment back on time)
    detected_at   the pass's `now` (a past moment for an as-of pass)
    from_events   True for an as-of pass that rebuilt the state from tracking events (a backfill
                  or audit): receivers that contact customers should check the shipment's
                  current level before acting on a change in the past.

Receivers run after the detection transaction has committed; one that raises is logged and
does not stop the others (the database stays the source of truth: sweepers catch up).
"""

from django.dispatch import Signal

shipment_delay_changed = Signal()
