"""Domain signals of the shipments app: how apps above shipments hear what happened to parcels.

Shipments imports none of the apps above it (docs/ARCHITECTURE.md); they listen here. Signals
carry ids in bulk (never one signal per shipment): a detection pass may change thousands of
levels at once, and receivers react with set-based queries. Each signal says when it is sent:

- *inside the transaction*: a receiver's writes commit or roll back with the change (the outbox
  promise: a customer's notice is written with the level change or scan that causes it). A
  receiver that raises rolls the change back, so these receivers only write rows.
- *on commit*: receivers see the committed rows; one that raises is logged and does not stop the
  others, and never undoes the change (the database stays the source of truth: sweepers catch
  up).

shipment_delay_recorded  inside the detection transaction, live passes only (a pass that
                         rebuilds the past from events tells nobody: it is an audit).
    sender        Shipment
    changes       [(shipment_id, from_level, to_level, cause), ...] ascending by id; `cause` is
                  the delay cause after the change ("none" for a shipment back on time)
    detected_at   the pass's `now`
    Listener: notifications queues delay notices (each level once) and recovery notices.

shipment_delay_changed   on commit, once per detection pass with every level change of the pass.
    sender        Shipment
    shipment_ids  [id, ...] of the shipments whose delay level changed, ascending
    changes       as above
    detected_at   the pass's `now` (a past moment for an as-of pass)
    from_events   True for an as-of pass that rebuilt the state from tracking events (a backfill
                  or audit): receivers that contact customers should check the shipment's
                  current level before acting on a change in the past.
    Listener: tickets opens proactive tickets for newly delayed shipments.

shipment_eta_moved       inside the ETA refresh's transaction.
    sender        Shipment
    shipment_ids  delayed shipments whose predicted ETA just moved by NEW_ETA_MIN_SHIFT or more
    at            the refresh's `now`
    Listener: notifications queues a "new date" notice to customers told about the delay.

shipment_delivered       inside the tracking ingest's transaction, or the shipment import's
                         (a file's delivered time, shipments.imports).
    sender        Shipment
    shipment_ids  shipments a scan of this batch, or a row of the file, marked delivered
    at            when the scans were received, or the import ran
    Listener: notifications queues the delivered notice that closes a told delay's story.
"""

from django.dispatch import Signal

shipment_delay_recorded = Signal()
shipment_delay_changed = Signal()
shipment_eta_moved = Signal()
shipment_delivered = Signal()
