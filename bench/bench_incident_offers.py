"""Benchmark: an incident's bulk offer to every affected customer (issue 13).

    .venv/bin/python bench/bench_incident_offers.py                  # 100,000 tickets
    .venv/bin/python bench/bench_incident_offers.py --tickets 20000  # a quick run

Target (issue 13), on PostgreSQL: offering a remedy to every customer of a 100,000-shipment
incident takes under 60 s, and running it again adds 0 offers.

A script, not a test. It (re)creates its own database `bench_incident_offers` on the local
server, migrates it, and makes --tickets customers, each with one shipment in one incident and
one open ticket on it (ORM bulk inserts; not timed). Then it times
`compensation.services.offer_incident_remedy` for the incident (a 10% discount code, offered as
the system: one offer, one "proposed" and one "offered" timeline event per ticket), checks it
made exactly one offer per ticket, and times the re-run, which must add 0. Exits 1 when a target
or a check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_detection import DEFAULT_SERVER, create_database  # noqa: E402

NAME = "bench_incident_offers"
TARGET_SECONDS = 60.0
BATCH = 5_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    args = parser.parse_args()

    url = f"{args.server}/{NAME}"
    create_database(args.server, NAME)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update(env)
    import django

    django.setup()

    from compensation.models import CompensationOffer
    from compensation.services import RemedySpec, offer_incident_remedy
    from tickets.models import TicketEvent

    incident = generate(args.tickets)
    remedy = [RemedySpec(kind="discount_code", percent=Decimal("10"))]

    began = time.perf_counter()
    first = offer_incident_remedy(incident=incident, remedies=remedy)
    seconds = time.perf_counter() - began
    offers = CompensationOffer.objects.count()
    events = TicketEvent.objects.filter(kind__startswith="compensation").count()

    began = time.perf_counter()
    again = offer_incident_remedy(incident=incident, remedies=remedy)
    rerun = time.perf_counter() - began

    load = os.getloadavg()[0]
    print(f"tickets: {args.tickets:,}")
    print(f"bulk offer: {seconds:.1f} s ({first.offers:,} offers, {events:,} timeline events)")
    print(f"re-run: {rerun:.1f} s, {again.offers} offers added (load average {load:.1f})")
    checks = {
        "one offer per ticket": offers == args.tickets == first.offers,
        "two events per ticket": events == 2 * args.tickets,
        "re-run adds nothing": again.offers == 0,
        f"under {TARGET_SECONDS:.0f} s": seconds < TARGET_SECONDS,
    }
    for label, ok in checks.items():
        print(f"  {'ok ' if ok else 'FAIL'} {label}")
    return 0 if all(checks.values()) else 1


def generate(count: int):
    """`count` customers, each with a shipment in one incident and an open ticket on it."""
    from customers.models import Customer
    from shipments.models import Carrier, Incident, Shipment
    from tickets.models import Ticket

    began = time.perf_counter()
    now = _now()
    carrier = Carrier.objects.create(name="Bench Express", code="BENCH")
    incident = Incident.objects.create(title="Port strike", cause="congestion", window_start=_now())
    for start in range(0, count, BATCH):
        numbers = range(start, min(count, start + BATCH))
        customers = Customer.objects.bulk_create(
            Customer(name=f"Customer {n}", email=f"c{n}@example.com") for n in numbers
        )
        shipments = Shipment.objects.bulk_create(
            Shipment(
                carrier=carrier,
                tracking_number=f"BENCH{n:09d}",
                order_number=f"ORD-{n:09d}",
                customer=customer,
                origin_region="CN-GD",
                destination_region="DE-BE",
                order_value=Decimal("49.90"),
                status="in_transit",
                shipped_at=now - dt.timedelta(days=12),
                promised_at=now - dt.timedelta(days=5),
                incident=incident,
            )
            for n, customer in zip(numbers, customers, strict=True)
        )
        Ticket.objects.bulk_create(
            Ticket(
                subject=f"Where is my parcel? ({n})",
                customer=customer,
                shipment=shipment,
                status=Ticket.Status.OPEN,
                category="delay",
                source="proactive",
                priority="normal",
            )
            for n, customer, shipment in zip(numbers, customers, shipments, strict=True)
        )
    print(f"generated {count:,} tickets in {time.perf_counter() - began:.1f} s")
    return incident


def _now():
    from django.utils import timezone

    return timezone.now()


if __name__ == "__main__":
    sys.exit(main())
