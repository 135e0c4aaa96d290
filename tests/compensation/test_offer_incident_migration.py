"""compensation/migrations/0008_offer_incident.py: every existing offer gets the incident it
counted against before the column existed (its ticket's, else its shipment's), in one UPDATE."""

import pytest
from django.utils import timezone

from tests.migration_steps import latest, migrate

BEFORE = [("compensation", "0007_offer_bulk_key")]


@pytest.mark.django_db(transaction=True)
def test_existing_offers_get_their_tickets_or_shipments_incident():
    try:
        old = migrate(BEFORE)
        Customer = old.get_model("customers", "Customer")
        Carrier = old.get_model("shipments", "Carrier")
        Incident = old.get_model("shipments", "Incident")
        Shipment = old.get_model("shipments", "Shipment")
        Ticket = old.get_model("tickets", "Ticket")
        Offer = old.get_model("compensation", "CompensationOffer")
        customer = Customer.objects.create(name="Mei", email="mei@example.com")
        carrier = Carrier.objects.create(code="MIG", name="Migration carrier")
        by_ticket, by_shipment = (
            Incident.objects.create(
                title=title, scope_key=title, cause="customs_hold", window_start=timezone.now()
            )
            for title in ("A", "B")
        )
        shipment = Shipment.objects.create(
            carrier=carrier,
            customer=customer,
            tracking_number="T1",
            order_number="O1",
            promised_at=timezone.now(),
            incident=by_shipment,
        )
        tickets = [
            Ticket.objects.create(
                customer=customer, subject="own", incident=by_ticket, shipment=shipment
            ),
            Ticket.objects.create(customer=customer, subject="shipment's", shipment=shipment),
            Ticket.objects.create(customer=customer, subject="none"),
        ]
        offers = [Offer.objects.create(ticket=t, customer=customer, kind="gift") for t in tickets]

        new = migrate(latest())

        NewOffer = new.get_model("compensation", "CompensationOffer")
        assert [NewOffer.objects.get(pk=o.pk).incident_id for o in offers] == [
            by_ticket.pk,
            by_shipment.pk,
            None,
        ]
    finally:
        migrate(latest())
