"""Lane statistics and predicted-ETA refresh times on PostgreSQL (docs/PERFORMANCE.md).

    .venv/bin/python bench/bench_eta_refresh.py --active 100000 --delivered 100000

(Re)creates its own database `bench_eta`, migrates it, loads active and delivered shipments
over 200 lanes with SQL, then times refresh_lane_statistics and refresh_predicted_etas (first
run, an idempotent rerun, and an hour later).
"""

# ruff: noqa: E501 - SQL lines read better unbroken
import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_detection import DEFAULT_SERVER, create_database, print_machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--active", type=int, default=100_000)
    parser.add_argument("--delivered", type=int, default=100_000)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--database", default="bench_eta")
    args = parser.parse_args()
    url = f"{args.server}/{args.database}"
    create_database(args.server, args.database)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    with psycopg.connect(url, autocommit=True) as db:
        print_machine(db)
    run(active=args.active, delivered=args.delivered)


def run(*, active: int, delivered: int) -> None:  # noqa: PLR0915 - one linear script
    from django.db import connection

    from customers.models import Customer
    from shipments.eta import refresh_predicted_etas
    from shipments.lanes import refresh_lane_statistics
    from shipments.models import Carrier, Lane, Shipment

    NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)  # noqa: N806
    customer = Customer.objects.create(
        name="Bench",
        email="b@example.com",
        phone="1",
        tier="regular",
        language="en",
        region="europe",
        country="DE",
        time_zone="UTC",
    )
    carriers = [Carrier.objects.create(code=f"c{i}", name=f"C{i}") for i in range(4)]
    lanes = [
        Lane(carrier=c, origin_region=f"O{j % 10}", destination_region=f"D{j}")
        for c in carriers
        for j in range(50)
    ]
    Lane.objects.bulk_create(lanes)
    lane_ids = list(Lane.objects.order_by("id").values_list("id", "carrier_id"))
    first_lane = lane_ids[0][0]
    # Lane id -> carrier id is (id - first) // 50 + first carrier id in creation order.
    first_carrier = carriers[0].id
    insert = f"""
    INSERT INTO shipments_shipment (created_at, updated_at, public_id, tracking_number, order_number,
      service_level, origin_region, destination_region, status, cause, order_value, currency,
      shipped_at, promised_at, delivered_at, last_event_at, last_location, delay_level, delay_cause,
      delay_rule, carrier_id, customer_id, lane_id)
    SELECT %(now)s, %(now)s, gen_random_uuid(), %(prefix)s || g, 'O' || g, 'standard', 'O', 'D',
      %(status)s, 'none', 10, 'EUR', x.shipped, x.shipped + interval '5 days', x.delivered,
      x.last_event, '', 'none', 'none', '', {first_carrier} + (x.lane / 50), {customer.id},
      {first_lane} + x.lane
    FROM generate_series(1, %(n)s) g,
    LATERAL (SELECT (g::bigint * 7919) %% 200 AS lane) l,
    LATERAL (SELECT l.lane,
      CASE WHEN %(status)s = 'delivered'
           THEN %(now)s - random() * interval '170 days' END AS delivered) d,
    LATERAL (SELECT d.lane, d.delivered,
      CASE WHEN %(status)s = 'delivered'
           THEN d.delivered - (24 + 24 * (1 + (d.lane %% 5)) * exp(random() * 1.5 - 0.5)) * interval '1 hour'
           WHEN g %% 10 = 0 THEN NULL
           ELSE %(now)s - random() * interval '15 days' END AS shipped) s,
    LATERAL (SELECT s.lane, s.shipped, s.delivered,
      CASE WHEN %(status)s = 'delivered' THEN s.delivered
           ELSE %(now)s - random() * interval '6 days' END AS last_event) x
    """
    t = time.perf_counter()
    with connection.cursor() as c:
        c.execute(insert, {"now": NOW, "prefix": "D", "status": "delivered", "n": delivered})
        c.execute(
            insert.replace(
                "x.shipped + interval '5 days'", "coalesce(x.shipped, %(now)s) + interval '5 days'"
            ),
            {"now": NOW, "prefix": "A", "status": "in_transit", "n": active},
        )
        c.execute("ANALYZE shipments_shipment")
    print(f"loaded {active} active + {delivered} delivered in {time.perf_counter() - t:.1f} s")

    def timed(label, fn, **kw):
        t = time.perf_counter()
        r = fn(**kw)
        e = time.perf_counter() - t
        print(f"{label:<48} {e:7.2f} s  -> {r}")

    timed("refresh_lane_statistics", refresh_lane_statistics, now=NOW)
    timed("refresh_lane_statistics (again)", refresh_lane_statistics, now=NOW)
    timed("refresh_predicted_etas (first run, all change)", refresh_predicted_etas, now=NOW)
    timed("refresh_predicted_etas (same now, nothing changes)", refresh_predicted_etas, now=NOW)
    timed(
        "refresh_predicted_etas (one hour later)",
        refresh_predicted_etas,
        now=NOW + dt.timedelta(hours=1),
    )
    print(
        "lane sample:",
        Lane.objects.filter(delivered_count__gt=0).values_list(
            "delivered_count",
            "mean_transit_hours",
            "p50_transit_hours",
            "p90_transit_hours",
            "on_time_rate",
        )[:2],
    )
    print(
        "eta sample:",
        list(
            Shipment.objects.active().order_by("id").values_list("shipped_at", "predicted_eta")[:2]
        ),
    )


if __name__ == "__main__":
    main()
