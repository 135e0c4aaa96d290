"""Benchmark: the supervisor's approval queue (/supervisor/approvals/) at 10,000 pending offers.

    .venv/bin/python bench/bench_approvals.py                       # 10,000 pending offers
    .venv/bin/python bench/bench_approvals.py --pending 2000 --keep # a quick rerun

Target (issue 13): on PostgreSQL, the approval queue page with 10,000 pending offers serves at
p50 < 50 ms through gunicorn, with a query count that does not grow with the rows.

A script, not a test (the query count at two sizes is also asserted in
tests/supervisor/test_approvals.py). It follows bench/bench_console.py:

1. (Re)creates its own database `bench_approvals` on the local server and migrates it with
   manage.py (`--keep` reuses it when it holds data generated with the same sizes).
2. Generates the data in SQL (INSERT ... SELECT generate_series, no ORM saves), except a
   supervisor, 20 agents (the requesters), 4 compensation policies with their remedies and the
   incidents' budgets (ORM, a handful of rows):
   - carriers, lanes and 200k customers from bench_detection.py's helpers, --shipments
     shipments (in transit, a few days late for some);
   - one open ticket per shipment, --incident-share of them in one of 8 incidents (half on the
     ticket, half through the shipment: an offer counts against either, as recorded on it);
   - --pending offers waiting for approval, oldest first over the last 10 days, with one
     pending approval request each, asked by an agent (money, percent and points remedies; EUR
     mostly, some JPY and CNY; a policy on most);
   - --decided offers already decided (issued, offered, rejected, approved, declined) on other
     tickets: the history a real table holds and the queue must skip, and what the incidents'
     budgets have spent and committed. 6 of the 8 incidents have a budget.
   A NOT NULL column the statements do not name gets its model field's default
   (bench_console.insert_select). Then VACUUM ANALYZE.
3. Counts the SQL queries of each timed request in-process (Django test Client and
   CaptureQueriesContext), then again with only --small pending offers (the others set aside
   inside a transaction that is rolled back): the counts must be equal.
4. Starts gunicorn (config.wsgi, --workers, DEBUG=false), logs in as the supervisor through the
   login form, and times --requests sequential GETs after --warmup ones of: the first page, a
   later page (the middle of the queue) and the first page asked by HTMX (HX-Request,
   HX-Target: approval-queue: the queue fragment only).
5. For a request that misses the target (every request with --explain): its queries with their
   times and EXPLAIN (ANALYZE, BUFFERS) of the slow ones. Then a summary table.

Other engineers may share the machine: the load average is printed next to each timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_console import (  # noqa: E402
    Browser,
    Timing,
    insert_select,
    prepare_database,
    server_env,
    step,
)
from bench.bench_detection import (  # noqa: E402
    DEFAULT_SERVER,
    add_shipments,
    print_machine,
    seed_reference_data,
)
from bench.bench_ingest import free_port, gunicorn_start, gunicorn_stop  # noqa: E402

PASSWORD = "bench-approvals-password"
LOGIN_SUPERVISOR = "bench-supervisor"
AGENTS = 20
INCIDENTS = 8
BUDGETED_INCIDENTS = 6
CHUNK = 250_000
GENERATOR_VERSION = 2

TARGET_P50_MS = 50
EXPLAIN_MS = 5  # EXPLAIN ANALYZE the queries of a slow request that took at least this long

# (share, kind, amount, percent, points) of the pending offers: what agents ask above their limit.
PENDING_KINDS = (
    (0.40, "partial_refund"),
    (0.60, "coupon"),
    (0.75, "full_refund"),
    (0.85, "cash"),
    (0.95, "discount_code"),
    (1.00, "loyalty_points"),
)
CURRENCIES = ((0.85, "EUR"), (0.95, "JPY"), (1.00, "CNY"))
DECIDED_STATUSES = (
    (0.45, "issued"),
    (0.65, "offered"),
    (0.80, "rejected"),
    (0.90, "declined"),
    (1.00, "cancelled"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=10_000, help="offers waiting")
    parser.add_argument("--decided", type=int, default=40_000, help="offers already decided")
    parser.add_argument("--shipments", type=int, help="default: pending + decided + 10%%")
    parser.add_argument("--incident-share", type=float, default=0.05)
    parser.add_argument("--small", type=int, default=100, help="pending offers of the 2nd count")
    parser.add_argument("--requests", type=int, default=300, help="timed GETs per request")
    parser.add_argument("--warmup", type=int, default=20, help="untimed GETs per request first")
    parser.add_argument("--keep", action="store_true", help="reuse the database if populated")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--database", default="bench_approvals")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE every request's slow queries"
    )
    args = parser.parse_args()
    if args.shipments is None:
        args.shipments = round((args.pending + args.decided) * 1.1)
    if args.shipments < args.pending + args.decided:
        parser.error("--shipments must hold one ticket per offer")
    if not args.database.replace("_", "").isalnum():
        parser.error(f"refusing odd database name {args.database!r}")
    url = f"{args.server}/{args.database}"
    sizes = {
        "version": GENERATOR_VERSION,
        "pending": args.pending,
        "decided": args.decided,
        "shipments": args.shipments,
        "incident_share": args.incident_share,
    }
    env = server_env(url)
    reused = prepare_database(
        url, server=args.server, name=args.database, sizes=sizes, env=env, keep=args.keep
    )

    with psycopg.connect(url, autocommit=True) as db:
        print_machine(db)
        if reused:
            generated_at, generated = db.execute(
                "SELECT generated_at, generation_seconds FROM bench_meta"
            ).fetchone()
            print(f"reusing {args.database}: generated at {generated_at:%Y-%m-%d %H:%M} UTC")
            db.execute("VACUUM ANALYZE")
        else:
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            generated = generate(db, now=now, args=args, sizes=sizes)
        data = print_sizes(db)

    requests = build_requests(pending=data["pending"])
    counts = count_queries(requests, small=args.small)
    timings = time_requests(requests, env=env, args=args) if args.requests else {}
    explain_slow(requests, counts, timings, everything=args.explain)
    print_summary(requests, counts, timings, data=data, generated=generated, args=args)
    failed = [label for label, timing in timings.items() if timing.failures]
    growing = [label for label, count in counts.items() if count.large != count.small]
    if failed or growing:
        print(f"checks: FAILED (failed requests: {failed}; counts growing with rows: {growing})")
        return 1
    print("checks: OK (every request answered 200; query counts equal at both sizes)")
    return 0


# --- Data ---------------------------------------------------------------------------------------


def pick(draw: str, table: tuple[tuple[float, str], ...]) -> str:
    whens = " ".join(f"WHEN {draw} < {p} THEN '{value}'" for p, value in table[:-1])
    return f"CASE {whens} ELSE '{table[-1][1]}' END"


def generate(db, *, now: dt.datetime, args, sizes: dict) -> float:
    started = time.perf_counter()

    print(f"\ngenerating (reference time {now:%Y-%m-%d %H:%M:%S} UTC):")
    step("carriers, lanes, customers", seed_reference_data, db)
    step("shipments", make_shipments, db, now=now, total=args.shipments)
    people = step("supervisor and agents (ORM)", make_people)
    incidents = step("incidents", make_incidents, db, now=now)
    policies = step("policies and budgets (ORM)", make_policies_and_budgets, incidents, now=now)
    step("tickets", make_tickets, db, now=now, incidents=incidents, share=args.incident_share)
    step(
        "offers and approval requests",
        make_offers,
        db,
        now=now,
        pending=args.pending,
        decided=args.decided,
        agents=people,
        policies=policies,
    )
    step("VACUUM ANALYZE", db.execute, "VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    db.execute(
        "CREATE TABLE bench_meta (generated_at timestamptz, generation_seconds float8, sizes jsonb)"
    )
    db.execute("INSERT INTO bench_meta VALUES (%s, %s, %s)", [now, seconds, Jsonb(sizes)])
    print(f"  generated in {seconds:.0f} s")
    return seconds


def make_shipments(db, *, now: dt.datetime, total: int) -> None:
    made = 0
    while made < total:
        size = min(CHUNK, total - made)
        add_shipments(db, now=now, first=made, count=size, events=0)
        made += size


def make_people() -> list[int]:
    """The supervisor who logs in and the agents who asked; returns the agents' ids."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from core.roles import AGENT, SUPERVISOR

    user_model = get_user_model()
    password = make_password(PASSWORD)
    supervisor = user_model.objects.create(
        username=LOGIN_SUPERVISOR, first_name="Sam", last_name="Lead", password=password,
        email="bench-supervisor@example.com", is_staff=True,
    )  # fmt: skip
    Group.objects.get(name=SUPERVISOR).user_set.add(supervisor)
    rng = random.Random(13)
    agents = user_model.objects.bulk_create(
        user_model(
            username=f"bench-agent-{n:02d}",
            first_name=rng.choice(("Anna", "Ben", "Chen", "Diego", "Emma", "Hiro", "Lena")),
            last_name=rng.choice(("Becker", "Chen", "Dubois", "Ito", "Li", "Rossi", "Wang")),
            email=f"bench-agent-{n:02d}@example.com",
            is_staff=True,
            password=password,
        )
        for n in range(1, AGENTS + 1)
    )
    Group.objects.get(name=AGENT).user_set.add(*agents)
    return [agent.pk for agent in agents]


def make_incidents(db, *, now: dt.datetime) -> list[int]:
    insert_select(
        db,
        "shipments_incident",
        "created_at, updated_at, public_id, title, status, cause, carrier_id, hub, "
        "window_start, is_automatic, scope_key",
        """
        SELECT %(now)s - g * interval '1 day', %(now)s, gen_random_uuid(),
               'Bench incident ' || g || ': ' || c.cause, 'open', c.cause,
               (SELECT min(id) FROM shipments_carrier) + g %% 8, 'Hub ' || g,
               %(now)s - g * interval '1 day', true, 'bench-approvals-' || g
        FROM generate_series(1, %(count)s) g
        CROSS JOIN LATERAL (
            SELECT (ARRAY['customs_hold', 'weather', 'congestion'])[1 + g %% 3] AS cause
        ) c
        """,
        {"now": now, "count": INCIDENTS},
    )
    return [row[0] for row in db.execute("SELECT id FROM shipments_incident ORDER BY id")]


def make_policies_and_budgets(incidents: list[int], *, now: dt.datetime) -> list[int]:
    """4 policies with remedies (the row's "policy suggests"), budgets for most incidents."""
    from compensation.models import Budget, CompensationPolicy, PolicyRemedy

    specs = (
        ("Bench: 3+ days late", [("coupon", Decimal("10"), None, None)]),
        ("Bench: long delay", [("partial_refund", Decimal("20"), None, None)]),
        (
            "Bench: VIP choice",
            [("discount_code", None, Decimal("15"), None), ("loyalty_points", None, None, 500)],
        ),
        ("Bench: lost parcel", [("full_refund", Decimal("49.90"), None, None)]),
    )
    policies = []
    for position, (name, remedies) in enumerate(specs, start=900):
        policy = CompensationPolicy.objects.create(name=name, position=position, is_active=False)
        PolicyRemedy.objects.bulk_create(
            PolicyRemedy(policy=policy, kind=kind, amount=amount, percent=percent, points=points,
                         choice_group=n)
            for n, (kind, amount, percent, points) in enumerate(remedies)
        )  # fmt: skip
        policies.append(policy.pk)
    today = now.date()
    Budget.objects.bulk_create(
        Budget(
            name=f"Bench incident budget {n}",
            period_start=today - dt.timedelta(days=30),
            period_end=today + dt.timedelta(days=30),
            amount=Decimal(20_000 + 5_000 * n),
            currency="EUR",
            incident_id=incident,
        )
        for n, incident in enumerate(incidents[:BUDGETED_INCIDENTS])
    )
    return policies


def make_tickets(db, *, now: dt.datetime, incidents: list[int], share: float) -> None:
    """One open ticket per shipment; `share` of them in an incident (on the ticket for the
    first half of those, through the shipment for the other half)."""
    db.execute("SELECT setseed(0.13)")
    db.execute(
        """
        UPDATE shipments_shipment s SET incident_id = (%(incidents)s)[1 + s.id %% %(n)s]
        WHERE s.id %% 1000 < %(share)s * 500
        """,
        {"incidents": incidents, "n": len(incidents), "share": share},
    )
    insert_select(
        db,
        "tickets_ticket",
        "created_at, updated_at, public_id, subject, status, category, source, priority, "
        "priority_overridden, language, version, is_escalated, customer_id, incident_id, "
        "shipment_id",
        """
        SELECT %(now)s - interval '11 days', %(now)s, gen_random_uuid(),
               'Where is my parcel? (' || s.tracking_number || ')', 'open', 'delay',
               'customer', 'normal', false, 'en', 1, false, s.customer_id,
               CASE WHEN s.id %% 1000 >= %(share)s * 500 AND s.id %% 1000 < %(share)s * 1000
                    THEN (%(incidents)s)[1 + s.id %% %(n)s] END,
               s.id
        FROM shipments_shipment s
        """,
        {"now": now, "incidents": incidents, "n": len(incidents), "share": share},
    )


def make_offers(
    db,
    *,
    now: dt.datetime,
    pending: int,
    decided: int,
    agents: list[int],
    policies: list[int],
) -> None:
    """Pending offers (oldest first over 10 days) with their approval requests, then decided
    offers on other tickets; random tickets, one offer each."""
    db.execute("SELECT setseed(0.14)")
    db.execute(
        "CREATE TEMP TABLE bench_pick AS SELECT row_number() OVER () AS rn, id, customer_id "
        "FROM (SELECT id, customer_id FROM tickets_ticket ORDER BY random() LIMIT %s) t",
        [pending + decided],
    )
    select = f"""
        SELECT a.created_at, a.created_at, gen_random_uuid(), p.id, p.customer_id,
               CASE WHEN x.r3 < 0.85 THEN (%(policies)s)[1 + floor(x.r4 * %(npolicies)s)::int]
               END,
               a.kind, {{status}},
               CASE WHEN a.kind IN ('partial_refund', 'coupon', 'full_refund', 'cash')
                    THEN round((CASE a.currency WHEN 'JPY' THEN 2000 WHEN 'CNY' THEN 150
                                ELSE 20 END * (1 + 4 * x.r5))::numeric,
                               CASE a.currency WHEN 'JPY' THEN 0 ELSE 2 END) END,
               a.currency,
               CASE WHEN a.kind = 'discount_code' THEN 20 + 5 * floor(x.r5 * 6) END,
               CASE WHEN a.kind = 'loyalty_points' THEN 1000 + 500 * floor(x.r5 * 8) END,
               'Customer waited ' || (3 + floor(x.r6 * 20)) || ' days; asked above my limit',
               (%(agents)s)[1 + floor(x.r7 * %(nagents)s)::int], 1, ''
        FROM (
            SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5,
                   random() r6, random() r7, random() r8
            FROM generate_series(%(first)s::int, %(last)s::int) g
            OFFSET 0
        ) x
        JOIN bench_pick p ON p.rn = x.g
        CROSS JOIN LATERAL (
            SELECT %(now)s - (%(last)s - x.g + x.r1) * %(spacing)s * interval '1 second'
                       AS created_at,
                   {pick("x.r2", PENDING_KINDS)} AS kind,
                   {pick("x.r8", CURRENCIES)} AS currency
        ) a
    """
    columns = (
        "created_at, updated_at, public_id, ticket_id, customer_id, policy_id, kind, status, "
        "amount, currency, percent, points, reason, requested_by_id, version, bulk_key"
    )
    common = {
        "now": now,
        "policies": policies,
        "npolicies": len(policies),
        "agents": agents,
        "nagents": len(agents),
    }
    # Pending: spread over the last 10 days, the oldest first in the queue.
    insert_select(
        db,
        "compensation_compensationoffer",
        columns,
        select.format(status="'pending_approval'"),
        {**common, "first": 1, "last": pending, "spacing": 10 * 86400 / max(pending, 1)},
    )
    insert_select(
        db,
        "compensation_approvalrequest",
        "offer_id, status, requested_by_id, requested_at, note",
        """
        SELECT id, 'pending', requested_by_id, created_at, ''
        FROM compensation_compensationoffer WHERE status = 'pending_approval'
        """,
    )
    # Decided: the 30 days before, on the other picked tickets.
    insert_select(
        db,
        "compensation_compensationoffer",
        "approved_by_id, approved_at, issued_at, " + columns,
        "SELECT %(supervisor)s, q.created_at + interval '1 hour', "
        "CASE WHEN q.status = 'issued' THEN q.created_at + interval '2 hours' END, q.* FROM ("
        + select.format(status=pick("x.r6", DECIDED_STATUSES))
        + ") q(created_at, updated_at, public_id, ticket_id, customer_id, policy_id, kind, "
        "status, amount, currency, percent, points, reason, requested_by_id, version, bulk_key)",
        {
            **common,
            "first": pending + 1,
            "last": pending + decided,
            "spacing": 30 * 86400 / max(decided, 1),
            "supervisor": supervisor_id(),
        },
    )
    db.execute(
        "UPDATE compensation_compensationoffer SET created_at = created_at - interval '10 days' "
        "WHERE status <> 'pending_approval'"
    )
    # The incident each offer counts against, as compensation.services records it when it makes
    # an offer (compensation.budgets.incident_of): the ticket's, else its shipment's.
    db.execute(
        """
        UPDATE compensation_compensationoffer o
        SET incident_id = COALESCE(t.incident_id, s.incident_id)
        FROM tickets_ticket t LEFT JOIN shipments_shipment s ON s.id = t.shipment_id
        WHERE t.id = o.ticket_id
        """
    )
    db.execute("DROP TABLE bench_pick")


def supervisor_id() -> int:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=LOGIN_SUPERVISOR).pk


def print_sizes(db) -> dict:
    tables = (
        "shipments_shipment",
        "customers_customer",
        "tickets_ticket",
        "compensation_compensationoffer",
        "compensation_approvalrequest",
    )
    data = {}
    print("\ndata:")
    for table in tables:
        rows, size = db.execute(
            f"SELECT count(*), pg_size_pretty(pg_total_relation_size('{table}')) FROM {table}"
        ).fetchone()
        data[table] = (rows, size)
        print(f"  {table}: {rows:,} rows, {size} with indexes")
    statuses = dict(
        db.execute(
            "SELECT status, count(*) FROM compensation_compensationoffer GROUP BY status"
        ).fetchall()
    )
    in_incident = db.execute(
        """
        SELECT count(*) FROM compensation_compensationoffer
        WHERE status = 'pending_approval' AND incident_id IS NOT NULL
        """
    ).fetchone()[0]
    database = db.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    print(f"  offers by status: {dict(sorted(statuses.items()))}")
    print(f"  pending offers in an incident: {in_incident:,}")
    print(f"  database: {database[0]}")
    data.update(
        pending=statuses.get("pending_approval", 0),
        offers=sum(statuses.values()),
        in_incident=in_incident,
        database=database[0],
    )
    return data


# --- Requests ------------------------------------------------------------------------------------


@dataclass
class Request:
    label: str
    path: str
    headers: dict = field(default_factory=dict)


def build_requests(*, pending: int) -> list[Request]:
    from supervisor.approvals_selectors import PAGE_SIZE

    middle = max(1, (pending // PAGE_SIZE) // 2)
    htmx = {"HX-Request": "true", "HX-Target": "approval-queue"}
    return [
        Request("first page", "/supervisor/approvals/"),
        Request(f"page {middle}", f"/supervisor/approvals/?page={middle}"),
        Request("first page, HTMX", "/supervisor/approvals/", htmx),
        Request(f"page {middle}, HTMX", f"/supervisor/approvals/?page={middle}", htmx),
    ]


@dataclass
class QueryCount:
    large: int
    small: int
    rows: int
    view_ms: float
    sql_ms: float
    queries: list[tuple[float, str]] = field(default_factory=list)  # (ms, sql)


def supervisor_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=LOGIN_SUPERVISOR))
    return client


def _django_headers(headers: dict) -> dict:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def _count(client, request: Request):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(request.path, **_django_headers(request.headers))  # warm
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(request.path, **_django_headers(request.headers))
        view_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{request.path} answered {response.status_code}")
    rows = response.content.count(b"data-approval-row")
    return captured.captured_queries, view_ms, rows


def count_queries(requests: list[Request], *, small: int) -> dict[str, QueryCount]:
    """The SQL of each request in-process with every pending offer, then with only `small` of
    them (the others set to cancelled inside a transaction that is rolled back)."""
    from django.db import connection, transaction

    client = supervisor_client()
    print("\nSQL queries per request (in-process, Django test Client, warm):")
    results = {}
    for request in requests:
        queries, view_ms, rows = _count(client, request)
        results[request.label] = QueryCount(
            large=len(queries),
            small=0,
            rows=rows,
            view_ms=view_ms,
            sql_ms=sum(float(q["time"]) for q in queries) * 1000,
            queries=[(float(q["time"]) * 1000, q["sql"]) for q in queries],
        )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE compensation_compensationoffer SET status = 'cancelled'
                WHERE status = 'pending_approval' AND id NOT IN (
                    SELECT id FROM compensation_compensationoffer
                    WHERE status = 'pending_approval' ORDER BY created_at, id LIMIT %s)
                """,
                [small],
            )
        for request in requests:
            # A later page of the small queue is past its end: the paginator shows the last.
            queries, _view_ms, _rows = _count(client, request)
            results[request.label].small = len(queries)
        transaction.set_rollback(True)
    for request in requests:
        count = results[request.label]
        print(
            f"  {request.label:<18} {count.large:>3} queries (with {small} pending: "
            f"{count.small}); view {count.view_ms:.0f} ms, SQL {count.sql_ms:.0f} ms, "
            f"{count.rows} rows shown"
        )
    return results


def time_requests(requests: list[Request], *, env: dict, args) -> dict[str, Timing]:
    port = free_port()
    server = gunicorn_start(port=port, workers=args.workers, env=env, conn_max_age=None)
    results = {}
    try:
        browser = Browser(port)
        browser.login(LOGIN_SUPERVISOR, PASSWORD)
        print(
            f"\nthrough gunicorn ({args.workers} workers), logged in as {LOGIN_SUPERVISOR}; "
            f"{args.warmup} warm-up then {args.requests} sequential GETs per request:"
        )
        for request in requests:
            for _n in range(args.warmup):
                browser.request("GET", request.path, headers=request.headers)
            timing = Timing(load=os.getloadavg()[0])
            for _n in range(args.requests):
                started = time.perf_counter()
                status, body = browser.request("GET", request.path, headers=request.headers)
                elapsed = (time.perf_counter() - started) * 1000
                if status != 200:
                    timing.failures.append(f"{status} {request.path}")
                    continue
                timing.latencies.append(elapsed)
                timing.size = len(body)
            results[request.label] = timing
            if not timing.latencies:
                print(f"  {request.label:<18} every request failed: {timing.failures[:3]}")
                continue
            print(
                f"  {request.label:<18} p50 {timing.percentile(0.5):6.1f} ms  p95 "
                f"{timing.percentile(0.95):6.1f} ms  max {max(timing.latencies):6.1f} ms  "
                f"({timing.size / 1024:.0f} KB; load {timing.load:.2f}"
                + (f"; {len(timing.failures)} failed" if timing.failures else "")
                + ")"
            )
    finally:
        gunicorn_stop(server)
    return results


def missed(timing: Timing | None, count: QueryCount) -> bool:
    if count.large != count.small or timing is None or not timing.latencies:
        return True
    return timing.percentile(0.5) >= TARGET_P50_MS


def explain_slow(requests, counts, timings, *, everything: bool) -> None:
    from django.db import connection

    for request in requests:
        count = counts[request.label]
        if not (everything or missed(timings.get(request.label), count)):
            continue
        print(
            f"\n== {request.label}: {len(count.queries)} queries, {count.sql_ms:.0f} ms SQL, view "
            f"{count.view_ms:.0f} ms in-process (warm, one request):"
        )
        for ms, sql in count.queries:
            print(f"  {ms:7.1f} ms  {sql[:150]}")
        slow = sorted((q for q in count.queries if q[0] >= EXPLAIN_MS), reverse=True)[:3]
        for ms, sql in slow:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) of this {ms:.0f} ms query of {request.label}:")
            print(sql)
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                print("\n".join(row[0] for row in cursor.fetchall()))


def print_summary(requests, counts, timings, *, data: dict, generated: float, args) -> None:
    print(
        f"\nSummary ({data['pending']:,} pending offers, {data['in_incident']:,} of them in an "
        f"incident; {data['offers']:,} offers in all; {data['tickets_ticket'][0]:,} tickets; "
        f"database {data['database']}; generated in {generated:.0f} s; {args.requests} "
        f"requests each, {args.workers} gunicorn workers)"
    )
    print(f"target: p50 < {TARGET_P50_MS} ms; queries the same at {args.small} pending\n")
    print(
        f"| request | queries ({data['pending']:,} / {args.small} pending) | p50 (ms) | "
        "p95 (ms) | max (ms) | in-process SQL (ms) | load | ok |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for request in requests:
        count, timing = counts[request.label], timings.get(request.label)
        queries = f"{count.large} / {count.small}"
        if timing is None or not timing.latencies:
            print(f"| {request.label} | {queries} | - | - | - | {count.sql_ms:.0f} | - | no |")
            continue
        print(
            f"| {request.label} | {queries} | {timing.percentile(0.5):.1f} | "
            f"{timing.percentile(0.95):.1f} | {max(timing.latencies):.1f} | {count.sql_ms:.0f} | "
            f"{timing.load:.2f} | {'no' if missed(timing, count) else 'yes'} |"
        )
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    raise SystemExit(main())
