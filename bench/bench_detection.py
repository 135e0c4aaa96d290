"""Benchmark: one delay detection pass over 100k .. 1M active shipments on PostgreSQL.

    .venv/bin/python bench/bench_detection.py --shipments 1000000 --events-per-shipment 5

A script, not a test. It (re)creates its own database `bench_detection` on the local server,
migrates it with manage.py, generates shipments with SQL (INSERT ... SELECT generate_series,
no ORM) in steps up to --shipments active ones, and at each step times:

    first   a cold pass: every level reset to "none", so the few % that fire are all changes
    second  the same `now` again: the idempotent pass, nothing changes
    +5 min  the next beat tick: a handful of shipments cross a threshold

Data spread (per active shipment, independent draws, seeded): about 5% past 1.5x their lane's
mean in transit (yellow), 3% silent over 72 h (orange), 4% held over 24 h at one place
(hub hold, when in transit or in exception), 4% predicted over 7 days late (red), 1% over
30 days late (long delay); 10% carry a carrier cause, spread over 200 hubs and 8 carriers,
except customs holds (3%), which happen at 5 customs points (so incidents form).
Plus --delivered-ratio delivered shipments (history the partial sweep must skip), all with
--events-per-shipment tracking events.

Probability rules ("will be late", kind late_probability): a live pass scores the active
shipments whose promise is within the widest horizon of the active ones (shipments.risk.score,
`JudgementSql.prepare_live_scores`). `--probability-rules on|off|both` (default both) times the
passes with those rules as installed, deactivated, or both (interleaved in each run), and
prints the difference, how many shipments were scored and the time spent scoring.
`--score-all` sets their horizon to SCORE_ALL_HORIZON_HOURS for the run (restored after), so
that every active shipment is scored: the "a million scored inside a pass" case.

    flock /tmp/delaydesk-bench.lock .venv/bin/python bench/bench_detection.py \
        --shipments 1000000 --steps 1000000 --score-all

`--keep` reuses the database of an earlier run as it is (no generation): one step at its size.

Other engineers may share the machine: the load average is printed before each timing; rerun
when it is high.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
CARRIERS = 8
ROUTES_PER_CARRIER = 40
SERVICE_LEVELS = ("standard", "express")
HUBS = 200
# Customs holds happen at a few customs points: enough of them at one place make incidents.
CUSTOMS_POINTS = 5
CUSTOMERS = 200_000
CHUNK = 250_000  # shipments per INSERT: bounded memory, progress visible
# --score-all: a horizon (hours, ten years) beyond every promise of the generated data.
SCORE_ALL_HORIZON_HOURS = 24 * 365 * 10

CAUSES = (
    # cumulative probability, cause (the rest: none)
    (0.03, "customs_hold"),
    (0.05, "weather"),
    (0.07, "congestion"),
    (0.08, "capacity"),
    (0.09, "sorting"),
    (0.095, "address_issue"),
    (0.098, "damage"),
    (0.10, "loss"),
)
STATUSES = (
    (0.80, "in_transit"),
    (0.86, "exception"),
    (0.92, "out_for_delivery"),
    (0.96, "available_for_pickup"),
    (1.00, "info_received"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=1_000_000, help="active shipments")
    parser.add_argument("--events-per-shipment", type=int, default=5)
    parser.add_argument(
        "--steps",
        default="100000,250000,500000,1000000",
        help="active shipment counts to time at (capped at --shipments)",
    )
    parser.add_argument("--delivered-ratio", type=float, default=0.2)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--database", default="bench_detection")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per step (median)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the last step")
    parser.add_argument(
        "--as-of", action="store_true", help="also time an as-of pass (from events)"
    )
    parser.add_argument(
        "--probability-rules",
        choices=("on", "off", "both"),
        default="both",
        help="time live passes with the late_probability rules active, deactivated, or both",
    )
    parser.add_argument(
        "--score-all",
        action="store_true",
        help=f"widen the probability rules' horizon to {SCORE_ALL_HORIZON_HOURS} h for the run "
        "(restored after): every active shipment is scored",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse the database of an earlier run as it is (no generation)",
    )
    args = parser.parse_args()
    steps = sorted({min(int(s), args.shipments) for s in args.steps.split(",")})
    modes = ("off", "on") if args.probability_rules == "both" else (args.probability_rules,)

    url = f"{args.server}/{args.database}"
    if not args.keep:
        create_database(args.server, args.database)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with psycopg.connect(url, autocommit=True) as db:
        print_machine(db)
        rows = []
        if args.keep:
            # The data of the earlier run was generated relative to its own clock: judge it
            # at that moment (the newest creation time), not now.
            active, generated_at = db.execute(
                "SELECT count(*) FILTER (WHERE status NOT IN "
                "('delivered', 'returned', 'expired')), max(created_at) "
                "FROM shipments_shipment"
            ).fetchone()
            now = generated_at.astimezone(dt.UTC)
            steps = [active]
        else:
            seed_reference_data(db)
        made = steps[-1] if args.keep else 0
        with probability_rules(score_all=args.score_all) as toggle:
            print_rules()
            for step in steps:
                started = time.perf_counter()
                while made < step:
                    size = min(CHUNK, step - made)
                    add_shipments(
                        db, now=now, first=made, count=size, events=args.events_per_shipment
                    )
                    delivered = round(size * args.delivered_ratio)
                    add_shipments(
                        db,
                        now=now,
                        first=10_000_000 + round(made * args.delivered_ratio),
                        count=delivered,
                        events=args.events_per_shipment,
                        delivered=True,
                    )
                    made += size
                generated = time.perf_counter() - started
                db.execute("VACUUM ANALYZE")
                rows.append(
                    time_step(
                        db,
                        now=now,
                        step=step,
                        generated=generated,
                        as_of=args.as_of,
                        repeat=args.repeat,
                        modes=modes,
                        toggle=toggle,
                    )
                )
            if args.explain:
                explain(now)
        print_table(rows, modes=modes)


def create_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')


DETECTION_SETTINGS = ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def print_machine(db, settings: tuple[str, ...] = DETECTION_SETTINGS) -> None:
    """Date, machine, Python, the PostgreSQL server and its `settings`, load average."""
    values = dict(
        db.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            [list(settings)],
        ).fetchall()
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {os.cpu_count()} cores, {cpu_model()}, {memory:.0f} GiB, {platform.platform()}"
    )
    print(f"python: {platform.python_version()}")
    print(f"postgres: {db.execute('SHOW server_version').fetchone()[0]}, {values}")
    print(f"load average at start: {os.getloadavg()}")


def seed_reference_data(db) -> None:
    db.execute(
        """
        INSERT INTO shipments_carrier (created_at, updated_at, code, name, webhook_secret,
            tracking_url_template, is_active, reliability_sample)
        SELECT now(), now(), 'bench' || c, 'Bench carrier ' || c, 'secret', '', true, 0
        FROM generate_series(1, %s) c
        """,
        [CARRIERS],
    )
    db.execute("SELECT setseed(0.42)")
    db.execute(
        """
        INSERT INTO shipments_lane (created_at, updated_at, carrier_id, origin_region,
            destination_region, service_level, delivered_count, mean_transit_hours)
        SELECT now(), now(), carrier.id, 'CN-' || r, 'EU-' || r, level, 100,
               CASE WHEN random() < 0.9 THEN 48 + 200 * random() END
        FROM shipments_carrier carrier, generate_series(1, %s) r, unnest(%s::text[]) level
        ORDER BY carrier.id, r, level
        """,
        [ROUTES_PER_CARRIER, list(SERVICE_LEVELS)],
    )
    db.execute(
        """
        INSERT INTO customers_customer (created_at, updated_at, public_id, external_ref, name,
            email, phone, tier, language, region, country, time_zone, preferred_channel,
            opt_out_email, opt_out_sms, opt_out_push, opt_out_phone, lifetime_orders,
            lifetime_value, currency)
        SELECT now(), now(), gen_random_uuid(), 'BENCH-' || g, 'Customer ' || g,
               'c' || g || '@example.com', '', 'regular', 'en', 'europe', 'DE', 'UTC',
               'email', false, false, false, false, 0, 0, 'EUR'
        FROM generate_series(1, %s) g
        """,
        [CUSTOMERS],
    )


def _pick(draw: str, table: tuple[tuple[float, str], ...], default: str) -> str:
    whens = " ".join(f"WHEN {draw} < {p} THEN '{value}'" for p, value in table)
    return f"CASE {whens} ELSE '{default}' END"


def add_shipments(
    db, *, now: dt.datetime, first: int, count: int, events: int, delivered: bool = False
) -> None:
    """`count` shipments numbered from `first` (and their events), in two INSERT ... SELECT."""
    if count <= 0:
        return
    db.execute("SELECT setseed(%s)", [((first % 9973) / 9973.0) * 0.9])
    lanes = db.execute("SELECT min(id), count(*) FROM shipments_lane").fetchone()
    customers = db.execute("SELECT min(id), count(*) FROM customers_customer").fetchone()
    status = "'delivered'" if delivered else _pick("x.r2", STATUSES, "in_transit")
    # Hours since handover: most within 1.6x the lane mean (yellow past 1.5x: ~6%), 1% lost
    # in limbo for 35-65 days (long delay). Delivered ones: delivered weeks ago.
    elapsed = (
        "(24 * (10 + 60 * x.r3))"
        if delivered
        else "(CASE WHEN x.r4 < 0.01 THEN 24 * (35 + 30 * x.r5) ELSE m.mean * 1.6 * x.r3 END)"
    )
    db.execute(
        f"""
        INSERT INTO shipments_shipment (created_at, updated_at, public_id, carrier_id,
            tracking_number, order_number, customer_id, lane_id, service_level, origin_region,
            destination_region, status, cause, order_value, currency, ordered_at, shipped_at,
            promised_at, predicted_eta, delivered_at, last_event_at, last_location,
            location_since, delay_level, delay_cause, delay_rule)
        SELECT %(now)s, %(now)s, gen_random_uuid(), lane.carrier_id,
               'B' || lpad(x.g::text, 9, '0'), 'O' || x.g, %(c0)s + floor(x.r12 * %(cn)s)::int,
               lane.id, lane.service_level, lane.origin_region, lane.destination_region,
               t.status, t.cause, round((10 + 200 * x.r13)::numeric, 2), 'EUR',
               t.shipped_at - interval '1 day', t.shipped_at,
               t.promised_at,
               CASE WHEN x.r14 >= 0.1 AND t.status <> 'delivered'
                    THEN t.promised_at + (power(x.r15, 8) * 12 - 1) * interval '1 day' END,
               CASE WHEN t.status = 'delivered'
                    THEN t.shipped_at + m.mean * (0.8 + 0.6 * x.r6) * interval '1 hour' END,
               t.last_event_at,
               CASE WHEN t.cause = 'customs_hold'
                    THEN 'Customs ' || (1 + floor(x.r11 * {CUSTOMS_POINTS})::int)
                    ELSE 'Hub ' || (1 + floor(x.r11 * {HUBS})::int) END,
               GREATEST(t.shipped_at, t.last_event_at - t.held * interval '1 hour'),
               'none', 'none', ''
        FROM (
            SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5,
                   random() r6, random() r7, random() r8, random() r9, random() r10,
                   random() r11, random() r12, random() r13, random() r14, random() r15,
                   random() r16
            FROM generate_series(%(first)s::int, %(last)s::int) g
            OFFSET 0
        ) x
        JOIN shipments_lane lane ON lane.id = %(l0)s + floor(x.r1 * %(ln)s)::int
        CROSS JOIN LATERAL (SELECT COALESCE(lane.mean_transit_hours, 120) AS mean) m
        CROSS JOIN LATERAL (
            SELECT %(now)s - {elapsed} * interval '1 hour' AS shipped_at
        ) s
        CROSS JOIN LATERAL (
            SELECT {status} AS status,
                   {_pick("x.r16", CAUSES, "none") if not delivered else "'none'"} AS cause,
                   s.shipped_at,
                   s.shipped_at + m.mean * (1.1 + 0.3 * x.r6) * interval '1 hour'
                       AS promised_at,
                   CASE WHEN {"true" if delivered else "false"}
                        THEN s.shipped_at + m.mean * (0.8 + 0.6 * x.r6) * interval '1 hour'
                        ELSE GREATEST(s.shipped_at, %(now)s - (
                            CASE WHEN x.r7 < 0.03 THEN 72 + 100 * x.r8
                                 ELSE 20 * power(x.r8, 3) END) * interval '1 hour')
                   END AS last_event_at,
                   CASE WHEN x.r9 < 0.04 THEN 24 + 48 * x.r10 ELSE 6 * x.r10 END AS held
        ) t
        """,
        {
            "now": now,
            "first": first + 1,
            "last": first + count,
            "l0": lanes[0],
            "ln": lanes[1],
            "c0": customers[0],
            "cn": customers[1],
        },
    )
    # Events: spread from handover to the last scan; the last one at the current place with
    # the current status and cause (what ingest would have derived the columns from).
    db.execute(
        """
        INSERT INTO shipments_trackingevent (shipment_id, carrier_id, carrier_event_id,
            occurred_at, received_at, carrier_code, status, cause, location, description,
            unmapped)
        SELECT s.id, s.carrier_id, s.tracking_number || '-' || k,
               CASE WHEN k = %(events)s THEN s.last_event_at
                    WHEN k = %(events)s - 1 AND s.location_since < s.last_event_at
                    THEN s.location_since
                    ELSE s.shipped_at + (LEAST(s.location_since, s.last_event_at) - s.shipped_at)
                         * ((k - 1)::float / GREATEST(%(events)s - 1, 1))
               END,
               %(now)s, 'IT',
               CASE WHEN k = %(events)s THEN s.status ELSE 'in_transit' END,
               CASE WHEN k = %(events)s THEN s.cause ELSE 'none' END,
               CASE WHEN k >= %(events)s - 1 THEN s.last_location ELSE 'Transit ' || k END,
               '', false
        FROM shipments_shipment s CROSS JOIN generate_series(1, %(events)s) k
        WHERE s.tracking_number BETWEEN %(from_tn)s AND %(to_tn)s
        """,
        {
            "events": events,
            "now": now,
            "from_tn": f"B{first + 1:09d}",
            "to_tn": f"B{first + count:09d}",
        },
    )


def reset_levels(db) -> None:
    """Back to the cold state: no level, no change row, no incident, no notice in the outbox
    (the passes' own: notices name their incident, and a notice left behind would be deduped
    away by the next cold pass instead of written); then a checkpoint, so every timed cold
    pass pays the same full-page writes. Late estimates written by a pass with the
    probability rules (``late_etas_write``: ``late_eta``, which no rule reads) are not reset."""
    db.execute("DELETE FROM notifications_notification")
    db.execute(
        "UPDATE shipments_shipment SET delay_level = 'none', delay_cause = 'none', "
        "delay_rule = '', delay_detected_at = NULL, incident_id = NULL "
        "WHERE delay_level <> 'none' OR incident_id IS NOT NULL"
    )
    db.execute("DELETE FROM shipments_delaylevelchange")
    db.execute("DELETE FROM shipments_incident")
    db.execute("VACUUM ANALYZE shipments_shipment")
    db.execute("CHECKPOINT")


@contextlib.contextmanager
def probability_rules(*, score_all: bool):
    """The late_probability rules for the run: yields ``toggle(on)``, which activates them
    (as installed: active or not, see `print_rules`) or deactivates them all. With
    ``score_all`` their horizon is SCORE_ALL_HORIZON_HOURS meanwhile. Their stored state is
    restored on the way out, whatever happens."""
    from shipments.models import DelayRule, DelayRuleKind

    rules = DelayRule.objects.filter(kind=DelayRuleKind.LATE_PROBABILITY)
    saved = list(rules.values_list("pk", "is_active", "horizon_hours"))
    if not saved:
        print("no late_probability rule installed: 'on' and 'off' are the same pass")
    installed_active = [pk for pk, active, _horizon in saved if active]
    if score_all:
        rules.update(horizon_hours=SCORE_ALL_HORIZON_HOURS)

    def toggle(on: bool) -> None:
        rules.update(is_active=False)
        if on:
            # The ones active as installed; all of them when none was.
            rules.filter(pk__in=installed_active or [pk for pk, _a, _h in saved]).update(
                is_active=True
            )

    try:
        yield toggle
    finally:
        for pk, active, horizon in saved:
            DelayRule.objects.filter(pk=pk).update(is_active=active, horizon_hours=horizon)


def print_rules() -> None:
    from shipments.models import DelayRule, DelayRuleKind

    for key, active, threshold, horizon in DelayRule.objects.filter(
        kind=DelayRuleKind.LATE_PROBABILITY
    ).values_list("key", "is_active", "threshold", "horizon_hours"):
        print(
            f"probability rule {key}: threshold {threshold}, horizon {horizon} h"
            + ("" if active else " (inactive as installed)")
        )


class ScoringProbe:
    """Wraps `JudgementSql.prepare_live_scores` for the bench: how many shipments the last
    pass scored (`JudgementSql.scored`) and the seconds it spent scoring them (scores and
    their temporary table). 0 when the pass scored nothing (no probability rule active)."""

    def __init__(self) -> None:
        from shipments.detection import JudgementSql

        self.scored = 0
        self.seconds = 0.0
        original = JudgementSql.prepare_live_scores
        probe = self

        def prepare_live_scores(sql) -> None:
            started = time.perf_counter()
            try:
                original(sql)
            finally:
                probe.seconds += time.perf_counter() - started
                probe.scored = sql.scored

        JudgementSql.prepare_live_scores = prepare_live_scores

    def reset(self) -> None:
        self.scored = 0
        self.seconds = 0.0


_PROBE: ScoringProbe | None = None


def scoring_probe() -> ScoringProbe:
    global _PROBE
    if _PROBE is None:
        _PROBE = ScoringProbe()
    return _PROBE


def time_step(
    db,
    *,
    now: dt.datetime,
    step: int,
    generated: float,
    as_of: bool,
    repeat: int,
    modes: tuple[str, ...] = ("on",),
    toggle=None,
) -> dict:
    """Time the passes at one size, with the probability rules in each of ``modes`` ("on",
    "off"; interleaved in each run so that the load of the machine weighs on both)."""
    from shipments.detection import detect_delays

    probe = scoring_probe()

    sizes = db.execute(
        "SELECT (SELECT count(*) FROM shipments_shipment), "
        "(SELECT count(*) FROM shipments_trackingevent), "
        "pg_size_pretty(pg_total_relation_size('shipments_shipment')), "
        "pg_size_pretty(pg_total_relation_size('shipments_trackingevent')), "
        "pg_size_pretty(pg_database_size(current_database()))"
    ).fetchone()
    print(
        f"\n{step:>9,} active ({sizes[0]:,} shipments, {sizes[1]:,} events; shipments "
        f"{sizes[2]}, events {sizes[3]}, database {sizes[4]}); generated in {generated:.0f} s"
    )
    passes = (("first", now), ("second", now), ("tick", now + dt.timedelta(minutes=5)))
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    results: dict[str, dict] = {}
    for attempt in range(1, repeat + 1):
        for mode in modes:
            if toggle is not None:
                toggle(mode == "on")
            reset_levels(db)
            load = os.getloadavg()[0]
            seconds: dict[str, float] = {}
            results[mode] = {}
            for label, moment in passes:
                probe.reset()
                started = time.perf_counter()
                results[mode][label] = detect_delays(now=moment, from_events=False)
                seconds[label] = time.perf_counter() - started
                seconds[f"{label}_scoring"] = probe.seconds
                seconds[f"{label}_scored"] = probe.scored
            runs[mode].append(seconds)
            print(
                f"  run {attempt}, probability rules {mode} (load {load:.2f}): "
                + ", ".join(
                    f"{label} {seconds[label]:.2f} s ({results[mode][label].changes:,} changes, "
                    f"+{results[mode][label].incidents_created}/"
                    f"~{results[mode][label].incidents_updated} incidents, "
                    f"{seconds[f'{label}_scored']:,} scored in "
                    f"{seconds[f'{label}_scoring']:.2f} s)"
                    for label, _moment in passes
                )
            )
    for mode in modes:
        print(f"  levels after a first pass, rules {mode}: {results[mode]['first'].levels}")
    row = {"active": step}
    for mode in modes:
        row[mode] = {
            "changes": results[mode]["first"].changes,
            **{key: statistics.median(run[key] for run in runs[mode]) for key in runs[mode][0]},
        }
    if len(modes) == 2:
        print("  with the probability rules minus without (medians):")
        for label, _moment in passes:
            on, off = row["on"], row["off"]
            print(
                f"    {label:>6}: {on[label]:.2f} s - {off[label]:.2f} s = "
                f"{on[label] - off[label]:+.2f} s ({on[f'{label}_scored']:,.0f} scored in "
                f"{on[f'{label}_scoring']:.2f} s)"
            )
    if as_of:
        started = time.perf_counter()
        result = detect_delays(now=now - dt.timedelta(days=1), from_events=True)
        row["as_of"] = time.perf_counter() - started
        print(
            f"  as-of pass (1 day back, from events): {row['as_of']:.2f} s, "
            f"{result.changes:,} changes"
        )
    return row


def explain(now: dt.datetime) -> None:
    """EXPLAIN ANALYZE the pass's statement on a cold start, then roll it back."""
    from django.db import connection, transaction

    from shipments.detection import JudgementSql
    from shipments.models import DelayRule

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE shipments_shipment SET delay_level = 'none', delay_cause = 'none', "
                "delay_rule = '', delay_detected_at = NULL WHERE delay_level <> 'none'"
            )
            sql = JudgementSql(
                rules=list(DelayRule.objects.filter(is_active=True)), now=now, from_events=False
            )
            statement = sql.postgresql_statement(written_at=now)
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", sql.params)
            print("\nEXPLAIN ANALYZE (cold pass at the last step):")
            print("\n".join(row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)


def print_table(rows: list[dict], *, modes: tuple[str, ...] = ("on",)) -> None:
    print("\nMedians:")
    print(
        "| active shipments | probability rules | cold first pass (s) "
        "| idempotent second pass (s) | next 5-min tick (s) | changes in the first pass "
        "| scored per pass | scoring (s, second pass) |"
    )
    print("|---:|:---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        for mode in modes:
            m = row[mode]
            print(
                f"| {row['active']:,} | {mode} | {m['first']:.2f} | {m['second']:.2f} | "
                f"{m['tick']:.2f} | {m['changes']:,} | {m['second_scored']:,.0f} | "
                f"{m['second_scoring']:.2f} |"
            )
        if len(modes) == 2:
            on, off = row["on"], row["off"]
            print(
                f"| {row['active']:,} | on - off | {on['first'] - off['first']:+.2f} | "
                f"{on['second'] - off['second']:+.2f} | {on['tick'] - off['tick']:+.2f} | "
                f"{on['changes'] - off['changes']:+,} | | |"
            )
    if len(rows) > 1:
        a, b = rows[0][modes[-1]], rows[-1][modes[-1]]
        print(
            f"\n{rows[-1]['active'] / rows[0]['active']:.0f}x the shipments (rules "
            f"{modes[-1]}): first pass {b['first'] / a['first']:.1f}x, second pass "
            f"{b['second'] / a['second']:.1f}x, tick {b['tick'] / a['tick']:.1f}x"
        )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
