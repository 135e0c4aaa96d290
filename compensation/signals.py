"""Domain signals of the compensation app: how apps above it hear about remedies.

Compensation imports none of the apps above it (docs/ARCHITECTURE.md). Both signals are sent
*inside* the transaction that records the offer's change, so the customer's notice commits or
rolls back with it (the outbox promise); receivers only write rows.

offer_made    sender CompensationOffer; offer, at; optional alternatives.
    A remedy was offered to the customer (within authority, or approved); for a choice, once,
    with the first offer and every alternative in `alternatives`. Listener: notifications
    queues the "remedy offered" notice, all alternatives in one sentence (dedupe key
    `remedy_offered:<first offer id>`).

offer_issued  sender CompensationOffer; offer, at; optional code.
    The remedy was issued (coupon code made, refund recorded; `offer.issued_reference` says
    which). Listener: notifications queues the "remedy issued" notice
    (dedupe key `remedy_issued:<offer id>`). A coupon or discount code is stored hashed
    (compensation.issuance), so its only readable copy travels to that notice: the `code`
    keyword, or else `offer.code_for_notice`, set on the instance `issuance.issue` issued.

offers_made_in_bulk  sender CompensationOffer; incident, bulk_key, offer_ids, at.
    An incident's bulk offer (compensation.services.offer_incident_remedy) offered a remedy
    on every open ticket of the incident at once: `offer_ids` are the offers made OFFERED by
    this run (empty when they wait for a supervisor; their approval then sends offer_made /
    offer_issued one by one). One signal per run instead of one per offer, so a listener can
    queue the notices set-based (a 100,000-shipment incident): notifications writes one
    "remedy offered" notice per ticket in one statement (dedupe key as offer_made's).

compensation.services sends them (issue 13).
"""

from django.dispatch import Signal

offer_made = Signal()
offer_issued = Signal()
offers_made_in_bulk = Signal()
