"""Late-delivery model (shipments.risk): training and scoring times on PostgreSQL.

    flock /tmp/delaydesk-bench.lock .venv/bin/python bench/bench_risk.py \
        --delivered 500000 --active 1000000

(Re)creates its own database `bench_risk`, migrates it, loads with SQL a year of delivered
shipments over 200 lanes (transit times that differ by lane, promises 4 to 7 days after
hand-over, so some arrive late; one in 50 handed over and never delivered) and the active
shipments, then times ``train`` (as of now: reads, examples, fits, stores) and ``score`` over
every active shipment (the work a detection pass would add). ``--score-only`` reuses the
database of an earlier run and times scoring alone.
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
    parser.add_argument("--active", type=int, default=1_000_000)
    parser.add_argument("--delivered", type=int, default=500_000)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--database", default="bench_risk")
    parser.add_argument("--repeat", type=int, default=3, help="timed scoring runs (median)")
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="Reuse the database of an earlier run: time scoring only.",
    )
    args = parser.parse_args()
    url = f"{args.server}/{args.database}"
    if not args.score_only:
        create_database(args.server, args.database)
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    with psycopg.connect(url, autocommit=True) as db:
        print_machine(db)
    if args.score_only:
        time_scoring(repeat=args.repeat)
    else:
        run(active=args.active, delivered=args.delivered, repeat=args.repeat)


def run(*, active: int, delivered: int, repeat: int) -> None:
    from django.db import connection

    from customers.models import Customer
    from shipments import risk
    from shipments.models import Carrier, Lane, Shipment

    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
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
    Lane.objects.bulk_create(
        [
            Lane(carrier=c, origin_region=f"O{j % 10}", destination_region=f"D{j}")
            for c in carriers
            for j in range(50)
        ]
    )
    first_lane = Lane.objects.order_by("id").values_list("id", flat=True)[0]
    first_carrier = carriers[0].id
    # Transit: 1 day plus 1..5 days by lane, times a lognormal-ish spread; the promise is 4..7
    # days after hand-over. Delivered parcels were handed over in the last 365 days.
    insert = f"""
    INSERT INTO shipments_shipment (created_at, updated_at, public_id, tracking_number, order_number,
      service_level, origin_region, destination_region, status, cause, order_value, currency,
      ordered_at, shipped_at, promised_at, delivered_at, last_event_at, last_location, delay_level,
      delay_cause, delay_rule, carrier_id, customer_id, lane_id)
    SELECT %(now)s, %(now)s, gen_random_uuid(), %(prefix)s || g, 'O' || g, 'standard',
      'O' || ((x.lane %% 50) %% 10), 'D' || (x.lane %% 50),
      CASE WHEN x.delivered IS NULL THEN 'in_transit' ELSE 'delivered' END, 'none',
      10 + (g %% 90), 'EUR', x.shipped - interval '12 hours', x.shipped,
      x.shipped + (4 + (g %% 4)) * interval '1 day', x.delivered,
      COALESCE(x.delivered, x.shipped + interval '1 day'), '', 'none', 'none', '',
      {first_carrier} + (x.lane / 50), {customer.id}, {first_lane} + x.lane
    FROM generate_series(1, %(n)s) g,
    LATERAL (SELECT (g::bigint * 7919) %% 200 AS lane) l,
    LATERAL (SELECT l.lane, %(now)s - random() * %(spread)s * interval '1 day' AS shipped) s,
    LATERAL (SELECT s.lane, s.shipped,
      CASE WHEN %(prefix)s = 'A' OR g %% 50 = 0 THEN NULL
           ELSE s.shipped + (24 + 24 * (1 + (s.lane %% 5)) * exp(random() * 1.2 - 0.6)) * interval '1 hour'
      END AS delivered) x
    WHERE %(prefix)s = 'A' OR x.delivered IS NULL OR x.delivered <= %(now)s
    """
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(insert, {"now": now, "prefix": "D", "n": delivered, "spread": 365})
        cursor.execute(insert, {"now": now, "prefix": "A", "n": active, "spread": 3})
        cursor.execute("ANALYZE shipments_shipment")
    print(
        f"loaded {Shipment.objects.exclude(tracking_number__startswith='A').count()} history + "
        f"{active} active shipments in {time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    result = risk.train(as_of=now)
    elapsed = time.perf_counter() - started
    model = result.model
    print(
        f"train (as of now)                       {elapsed:7.1f} s  -> {result.examples} examples, {result.shipments} shipments, {result.reason or f'v{model.version}'}"
    )
    if model:
        for horizon, figures in model.figures["reported"].items():
            print(f"  reported {horizon:>3} h: {figures}")

    time_scoring(repeat=repeat)


def time_scoring(*, repeat: int) -> None:
    """Score every active shipment as a live detection pass would (``from_events=False``:
    the stored state; a replay as of a past moment rebuilds it from the scans instead)."""
    from django.utils import timezone

    from shipments import risk
    from shipments.models import Shipment

    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        scores = risk.score(Shipment.objects.active(), now=timezone.now(), from_events=False)
        timings.append(time.perf_counter() - started)
    timings.sort()
    print(
        f"score all active shipments (median of {repeat}) "
        f"{timings[len(timings) // 2]:7.2f} s  -> {len(scores)} scored, "
        f"fallback={scores.fallback}, runs {[round(t, 2) for t in timings]}"
    )


if __name__ == "__main__":
    main()
