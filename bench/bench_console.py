"""Benchmark: the agent console (queues, search, ticket page) and the SLA breach sweep.

    .venv/bin/python bench/bench_console.py --tickets 200000 --shipments 1000000 --requests 300

Target (issue 4): with 200,000 tickets and 1,000,000 shipments on PostgreSQL, the console queue
page and the ticket page each run a constant number of SQL queries (at most 12) and serve at
p50 < 50 ms and p95 < 150 ms through gunicorn on the 2-core machine; the breach sweep over
200,000 running timers finishes in under 5 s.

A script, not a test. It:

1. (Re)creates its own database `bench_console` on the local server and migrates it with
   manage.py. `--keep` reuses it when it already holds data generated with the same sizes
   (migrate still runs, so a new index migration is picked up), to iterate quickly. The pages
   run on the real clock, so on a kept database the "breaching" queue grows as time passes
   (about 1.4% of the active timers fall due per hour after generation).
2. Generates the data in SQL (INSERT ... SELECT generate_series, no ORM), except the 50 agents
   in 4 teams (ORM, `agent` group):
   - carriers, lanes, 200k customers and the shipments come from bench_detection.py's helpers
     (80% in transit, 20% delivered); customers then get mixed tiers, regions, languages, names;
   - --tickets tickets, --open-share of them open (new 20%, open 45%, pending 15%, on hold
     20%), the rest solved or closed; 20% of open tickets unassigned; priorities urgent 5%,
     high 20%, normal 55%, low 20%; 20% proactive; 88% (and every proactive one) on their own
     shipment, with that shipment's customer; 3% of those in one of 40 open incidents; the
     SLA policy chosen by the seeded policies' conditions, as routing would;
   - 3-6 messages and 3-6 timeline events per open ticket, 1-3 and 2-3 per closed one;
     --events-per-shipment tracking events for every shipment that has a ticket;
   - SLA timers. Every open ticket that is not pending runs enough active timers that at least
     --active-timers are active (4 per ticket at the defaults: first response, next response,
     periodic update, resolution); pending tickets hold 2-3 paused ones; closed tickets keep a
     met or breached history. Of the active timers 1.5% are past due, 5% inside their warning
     window and none warned yet (a sweeper catching up), the rest due within 3 days;
   - one "heavy" ticket (the login agent's first open ticket on a shipment): 50 timeline
     events, 40 scans on its shipment and 10 notices (notifications.Notification), the shape
     issue 18 sets the ticket page's target on (p50 < 15 ms, p95 < 40 ms at 200k tickets).
   A NOT NULL column the statements do not name gets its model field's default, so a new
   field does not break the script. Then VACUUM ANALYZE.
3. Counts the SQL queries of every console page in-process (Django test Client and
   CaptureQueriesContext), for every queue in tickets.selectors.QUEUES at run time, page 50
   of "all", a search by tracking number, the tab counts (the request a queue page makes
   once it is shown: a browser opening a queue waits for the page, then for its counts), the
   ticket page of 10 different tickets and the heavy ticket's page.
4. Starts gunicorn (config.wsgi, --workers, DEBUG=false), logs in as an agent through the
   login form, and times --requests sequential GETs of each page after --warmup ones.
   Searches and ticket pages rotate over random open tickets that this agent may see.
   `--requests 0` skips this step.
5. Times tickets.sla.sweeper.sweep(now=...) at the data's reference time: a first pass (does
   the catch-up work), a second pass at the same time (must do nothing), and the next tick
   5 minutes later. The passes run inside one transaction that is rolled back, so that --keep
   finds the same timers next time (on_commit callbacks are counted, not run); a pass still
   running after --sweep-timeout seconds is stopped.
6. For every page that misses its target (every page with --explain): its queries with their
   times, EXPLAIN (ANALYZE, BUFFERS) of the slow ones, and a cProfile of one request when
   most of its time is not SQL. Then a summary table.
7. With --peer (issue 18): the same run, side by side with django-helpdesk, timed the same way.
   The peer harness in ../shared/peers/django-helpdesk/ (bench/peer_helpdesk.py drives it, with
   PEERS=/var/tmp/peers) is installed if needed, its PostgreSQL cluster started and its data
   topped up to --tickets; Delaydesk's database then lives in that same cluster (same settings).
   --peer changes the defaults to --tickets 100000, --database bench_console_100k, --warmup 3,
   --requests 50 (the harness's counts). Delaydesk's queue page, tab counts and ticket pages
   are timed twice: by this script's loop and by the harness's measure_http.py (3 warm-ups,
   50 sequential GETs, then `wrk -t2 -c8 -d15s --timeout 30s --latency`), which shows the two
   tools agree. The peer's list shell, JSON rows and ticket view go through measure_http.py
   too, and its escalate_tickets runs once on a fresh copy. One table then gives both apps'
   figures and the ratios for the queue, the ticket page and the sweep, with date, machine
   and load. About 7 minutes at 100,000 tickets once both data sets exist (18 at a load
   average of 9; the first run adds about 3 minutes to generate Delaydesk's data):

       flock /tmp/delaydesk-bench.lock .venv/bin/python bench/bench_console.py --peer --keep

Other engineers may share the machine: the load average is printed next to each timing; rerun
when it is high.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import http.client
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_detection import (  # noqa: E402
    DEFAULT_SERVER,
    add_shipments,
    cpu_model,
    create_database,
    print_machine,
    seed_reference_data,
)
from bench.bench_ingest import free_port, gunicorn_start, gunicorn_stop  # noqa: E402
from bench.peer_helpdesk import DEFAULT_PEERS, PEER_DIR, PeerHarness, PeerRun  # noqa: E402

CHUNK = 250_000  # shipments per INSERT, as in bench_detection
DELIVERED_SHARE = 0.2
AGENTS = 50
INCIDENTS = 40
INCIDENT_SHARE = 0.03  # of tickets on a shipment, linked to an incident
TEAMS = ("Europe", "Asia", "Americas", "Claims")
AGENT_TIME_ZONES = ("Europe/Berlin", "Asia/Shanghai", "America/New_York", "UTC")
PASSWORD = "bench-console-password"
LOGIN_AGENT = "bench-agent-01"
# The bench only reuses a database generated by the same version of this generator.
GENERATOR_VERSION = 3  # 3: the heavy ticket (50 timeline events, 40 scans, 10 notices)
HEAVY_EVENTS = 50
HEAVY_SCANS = 40
HEAVY_NOTICES = 10
HEAVY_KEY = "bench-heavy-"  # dedupe keys of its notices; how the bench finds it again

TARGET_P50_MS = 50
TARGET_P95_MS = 150
TARGET_QUERIES = 12
TARGET_SWEEP_S = 5.0

OPEN_STATUSES = ((0.20, "new"), (0.65, "open"), (0.80, "pending"), (1.00, "on_hold"))
CLOSED_STATUSES = ((0.25, "solved"), (1.00, "closed"))
CATEGORIES = (
    (0.55, "delay"),
    (0.65, "lost"),
    (0.73, "damaged"),
    (0.80, "address_change"),
    (0.92, "information"),
    (1.00, "other"),
)
SOURCES = ((0.45, "customer"), (0.65, "proactive"), (0.80, "email"), (0.92, "agent"), (1.0, "api"))
PRIORITIES = ((0.05, "urgent"), (0.25, "high"), (0.80, "normal"), (1.00, "low"))
TIERS = ((0.05, "vip"), (0.13, "frequent_complainer"), (0.73, "regular"), (1.00, "new"))
REGIONS = ((0.45, "europe"), (0.70, "north_america"), (0.95, "asia"), (1.00, "other"))
RUNNING_KINDS = ("first_response", "next_response", "periodic_update", "resolution")
PAUSED_KINDS = ("resolution", "periodic_update", "next_response")
OVERDUE_SHARE = 0.015
WARNING_SHARE = 0.05
FIRST_NAMES = (
    "Anna", "Ben", "Chen", "Diego", "Emma", "Fatima", "Giulia", "Hiro", "Ines", "Jonas",
    "Kofi", "Lena", "Ming", "Noah", "Olga", "Pablo", "Qiu", "Rosa", "Sven", "Tariq",
)  # fmt: skip
LAST_NAMES = (
    "Becker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Huang", "Ito", "Jensen",
    "Kowalski", "Li", "Martin", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt", "Wang",
)  # fmt: skip
MESSAGE_BODIES = (
    "Hello, my parcel was supposed to arrive three days ago and the tracking page has not "
    "changed since it left the hub. Could you tell me where it is and when it will arrive?",
    "Thank you for your patience. The carrier confirms the parcel is held at customs; we have "
    "asked them to prioritise it and will update you within 24 hours.",
    "Called the carrier: parcel scanned at the sorting centre this morning, new estimate is "
    "Friday. Customer is a VIP, keep an eye on it.",
    "Still nothing. I need this for a birthday on Saturday. If it cannot arrive in time I "
    "would like a refund instead.",
    "Good news: the parcel is out for delivery today. Sorry again for the delay; as a thank "
    "you we have added a voucher to your account.",
)
EVENT_KINDS = (
    "assigned",
    "customer_message",
    "agent_reply",
    "status_changed",
    "note",
    "carrier_contacted",
    "priority_changed",
    "notification_sent",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, help="default 200,000 (--peer: 100,000)")
    parser.add_argument("--shipments", type=int, default=1_000_000)
    parser.add_argument(
        "--requests", type=int, help="timed GETs per page, default 300 (--peer: 50; 0: no gunicorn)"
    )
    parser.add_argument("--warmup", type=int, help="untimed GETs per page first, 20 (--peer: 3)")
    parser.add_argument("--keep", action="store_true", help="reuse the database if populated")
    parser.add_argument("--open-share", type=float, default=0.3, help="share of open tickets")
    parser.add_argument(
        "--active-timers",
        type=int,
        help="at least this many active SLA timers (default: as many as tickets)",
    )
    parser.add_argument("--events-per-shipment", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--server", help=f"PostgreSQL server URL, default {DEFAULT_SERVER} (--peer: the peer's)"
    )
    parser.add_argument("--database", help="default bench_console (--peer: bench_console_100k)")
    parser.add_argument(
        "--sweep-timeout", type=int, default=60, help="stop a sweep pass after this many s"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN ANALYZE the slow queries of every page, not only of those that miss",
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="also time django-helpdesk with its harness and print both side by side (step 7)",
    )
    parser.add_argument("--peer-dir", type=Path, default=PEER_DIR, help="the peer harness")
    parser.add_argument(
        "--peers", default=os.environ.get("PEERS", DEFAULT_PEERS), help="the harness's PEERS"
    )
    parser.add_argument("--wrk-duration", default="15s", help="--peer: each wrk pass")
    parser.add_argument(
        "--peer-no-escalation",
        action="store_true",
        help="--peer: skip the peer's escalate_tickets (2-6 min at 100,000 tickets)",
    )
    parser.add_argument(
        "--peer-keep-pg", action="store_true", help="--peer: leave the peer's PostgreSQL running"
    )
    args = parser.parse_args()
    defaults = (
        {"tickets": 100_000, "database": "bench_console_100k", "warmup": 3, "requests": 50}
        if args.peer
        else {"tickets": 200_000, "database": "bench_console", "warmup": 20, "requests": 300}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    peer = None
    if args.peer:
        peer = PeerHarness(args.peer_dir, args.peers)
        peer.ensure_ready(tickets=args.tickets)
        args.server = args.server or peer.server_url
    args.server = args.server or DEFAULT_SERVER
    if args.active_timers is None:
        args.active_timers = args.tickets
    if not args.database.replace("_", "").isalnum():
        parser.error(f"refusing odd database name {args.database!r}")
    url = f"{args.server}/{args.database}"
    sizes = {
        "version": GENERATOR_VERSION,
        "tickets": args.tickets,
        "shipments": args.shipments,
        "open_share": args.open_share,
        "active_timers": args.active_timers,
        "events_per_shipment": args.events_per_shipment,
    }

    env = server_env(url)
    reused = prepare_database(
        url, server=args.server, name=args.database, sizes=sizes, env=env, keep=args.keep
    )

    with psycopg.connect(url, autocommit=True) as db:
        print_machine(db)
        if reused:
            reference_now, generated = db.execute(
                "SELECT generated_at, generation_seconds FROM bench_meta"
            ).fetchone()
            print(
                f"reusing {args.database}: generated at {reference_now:%Y-%m-%d %H:%M} UTC "
                f"in {generated:.0f} s (--keep)"
            )
            # A previous run's rolled-back sweep leaves dead rows behind.
            db.execute("VACUUM ANALYZE")
        else:
            reference_now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            generated = generate(db, now=reference_now, args=args, sizes=sizes)
        data = print_sizes(db, now=reference_now)

    pages = build_pages(requests=args.requests + args.warmup)
    counts = count_queries(pages)
    side = SideBySide(peer, args) if peer is not None and args.requests else None
    timings = (
        time_pages(pages, env=env, workers=args.workers, args=args, then=side and side.delaydesk)
        if args.requests
        else {}
    )
    sweeps = time_sweeps(reference_now, timeout=args.sweep_timeout)
    explain_slow(pages, counts, timings, everything=args.explain)
    print_summary(pages, counts, timings, sweeps, data=data, generated=generated, args=args)
    if side is not None:
        try:
            side.measure_peer()
        finally:
            peer.stop(keep=args.peer_keep_pg)
        side.print_table(pages, counts, timings, sweeps, data=data)
    elif peer is not None:
        peer.stop(keep=args.peer_keep_pg)
    # Missed speed targets are reported above; the exit code only fails on wrong behaviour.
    failed = [label for label, timing in timings.items() if timing.failures]
    broken = [run.label for run in sweeps or [] if run.result == "stopped" or not run.idempotent]
    if failed or broken:
        print(f"checks: FAILED (failed requests: {failed}; sweeps: {broken})")
        return 1
    print("checks: OK (every request answered 200; the sweep finished and was idempotent)")
    return 0


# --- Data ---------------------------------------------------------------------------------------


def server_env(url: str) -> dict:
    """The environment of the processes a benchmark starts (migrate, gunicorn): its database,
    DEBUG off, production settings left out, and a broker that keeps whatever the code
    enqueues in the process rather than in the dev broker folder."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",
    }
    env.pop("DELAYDESK_ENV", None)
    return env


def prepare_database(
    url: str, *, server: str, name: str, sizes: dict, env: dict, keep: bool
) -> bool:
    """Recreate the benchmark's database (unless `keep` and it holds data of these `sizes`),
    migrate it, and set Django up in this process with `env`. Returns whether it was reused."""
    reused = keep and populated_with(url, sizes)
    if not reused:
        create_database(server, name)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    return reused


def populated_with(url: str, sizes: dict) -> bool:
    """Whether the database exists and holds complete data generated with these sizes."""
    try:
        with psycopg.connect(url, autocommit=True) as db:
            if db.execute("SELECT to_regclass('bench_meta')").fetchone()[0] is None:
                return False
            found = db.execute("SELECT sizes FROM bench_meta").fetchone()
    except psycopg.Error:
        return False
    return found is not None and found[0] == sizes


def pick(draw: str, table: tuple[tuple[float, str], ...]) -> str:
    whens = " ".join(f"WHEN {draw} < {p} THEN '{value}'" for p, value in table[:-1])
    return f"CASE {whens} ELSE '{table[-1][1]}' END"


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _array(values) -> str:
    return "ARRAY[" + ", ".join(_literal(v) for v in values) + "]"


def step(label: str, function, *a, **kw):
    """One step of generating data, run and timed: prints "  <label>: <seconds> s"."""
    began = time.perf_counter()
    result = function(*a, **kw)
    print(f"  {label}: {time.perf_counter() - began:.1f} s")
    return result


def generate(db, *, now: dt.datetime, args, sizes: dict) -> float:
    started = time.perf_counter()

    print(f"\ngenerating (reference time {now:%Y-%m-%d %H:%M:%S} UTC):")
    step("carriers, lanes, customers", seed_reference_data, db)
    step("customer mix", mix_customers, db)
    step("shipments", make_shipments, db, now=now, total=args.shipments)
    agents = step("teams and agents (ORM)", make_agents)
    incidents = step("incidents", make_incidents, db, now=now)
    step(
        "tickets",
        make_tickets,
        db,
        now=now,
        count=args.tickets,
        args=args,
        agents=agents,
        incidents=incidents,
    )
    step("messages", make_messages, db, now=now, agents=agents)
    step("timeline events", make_ticket_events, db, now=now, agents=agents)
    step("tracking events", make_tracking_events, db, now=now, per=args.events_per_shipment)
    step("heavy ticket", make_heavy_ticket, db, now=now, agents=agents)
    step("SLA timers", make_timers, db, now=now, active=args.active_timers)
    step("VACUUM ANALYZE", db.execute, "VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    db.execute(
        "CREATE TABLE bench_meta (generated_at timestamptz, generation_seconds float8, sizes jsonb)"
    )
    db.execute(
        "INSERT INTO bench_meta VALUES (%s, %s, %s)",
        [now, seconds, Jsonb(sizes)],
    )
    print(f"  generated in {seconds:.0f} s")
    return seconds


def mix_customers(db) -> None:
    """bench_detection's customers are all regular Europeans: give them tiers, regions, names."""
    db.execute("SELECT setseed(0.24)")
    db.execute(
        f"""
        UPDATE customers_customer c
        SET tier = {pick("x.r1", TIERS)},
            region = {pick("x.r2", REGIONS)},
            language = CASE WHEN x.r2 >= 0.70 AND x.r2 < 0.95 AND x.r3 < 0.7 THEN 'zh-hans'
                            ELSE 'en' END,
            country = CASE WHEN x.r2 < 0.45 THEN 'DE' WHEN x.r2 < 0.70 THEN 'US'
                           WHEN x.r2 < 0.95 THEN 'CN' ELSE 'BR' END,
            name = ({_array(FIRST_NAMES)})[1 + floor(x.r4 * {len(FIRST_NAMES)})::int] || ' '
                   || ({_array(LAST_NAMES)})[1 + floor(x.r5 * {len(LAST_NAMES)})::int],
            lifetime_orders = floor(x.r6 * 40)::int
        FROM (
            SELECT id, random() r1, random() r2, random() r3, random() r4, random() r5,
                   random() r6
            FROM customers_customer OFFSET 0
        ) x
        WHERE c.id = x.id
        """
    )


def make_shipments(db, *, now: dt.datetime, total: int) -> None:
    """bench_detection's generator: active shipments plus 20% delivered, no events here."""
    active = total - round(total * DELIVERED_SHARE)
    made = 0
    while made < active:
        size = min(CHUNK, active - made)
        add_shipments(db, now=now, first=made, count=size, events=0)
        made += size
    delivered = total - active
    made = 0
    while made < delivered:
        size = min(CHUNK, delivered - made)
        add_shipments(db, now=now, first=10_000_000 + made, count=size, events=0, delivered=True)
        made += size


@dataclass(frozen=True)
class Agents:
    ids: list[int]
    teams: list[int]  # the team of each agent, same order
    team_ids: list[int]


def make_agents() -> Agents:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from core.roles import AGENT
    from tickets.models import AgentProfile, Team

    user_model = get_user_model()
    teams = Team.objects.bulk_create(
        Team(name=f"Bench {name}", slug=f"bench-{name.lower()}") for name in TEAMS
    )
    password = make_password(PASSWORD)  # hashed once: the same password for every agent
    rng = random.Random(4)
    users = user_model.objects.bulk_create(
        user_model(
            username=f"bench-agent-{n:02d}",
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            email=f"bench-agent-{n:02d}@example.com",
            is_staff=True,
            password=password,
        )
        for n in range(1, AGENTS + 1)
    )
    Group.objects.get(name=AGENT).user_set.add(*users)
    AgentProfile.objects.bulk_create(
        AgentProfile(
            user=user,
            team=teams[n % len(teams)],
            is_senior=n % 5 == 0,
            skills=["delay", "lost", "en"] if n % 2 else ["delay", "zh-hans", "en"],
            time_zone=AGENT_TIME_ZONES[n % len(AGENT_TIME_ZONES)],
        )
        for n, user in enumerate(users)
    )
    return Agents(
        ids=[user.pk for user in users],
        teams=[teams[n % len(teams)].pk for n in range(len(users))],
        team_ids=[team.pk for team in teams],
    )


def make_incidents(db, *, now: dt.datetime) -> list[int]:
    """Open automatic incidents, for the console's incident queue."""
    db.execute("SELECT setseed(0.30)")
    insert_select(
        db,
        "shipments_incident",
        (
            "created_at, updated_at, public_id, title, status, cause, carrier_id, hub, "
            "window_start, is_automatic, scope_key"
        ),
        """
        SELECT w.start, w.start, gen_random_uuid(), 'Bench incident ' || g || ': ' || w.cause,
               CASE WHEN g %% 4 = 0 THEN 'monitoring' ELSE 'open' END, w.cause,
               (SELECT min(id) FROM shipments_carrier) + g %% 8, 'Hub ' || g, w.start, true,
               'bench-incident-' || g
        FROM generate_series(1, %(count)s) g
        CROSS JOIN LATERAL (
            SELECT %(now)s - (g + random()) * interval '3 hours' AS start,
                   (ARRAY['customs_hold', 'weather', 'congestion'])[1 + g %% 3] AS cause
        ) w
        """,
        {"now": now, "count": INCIDENTS},
    )
    return [row[0] for row in db.execute("SELECT id FROM shipments_incident ORDER BY id")]


def policy_case() -> str:
    """The SLA policy routing would pick: the first active policy whose conditions all match."""
    from tickets.models import SLAPolicy

    whens = []
    for policy in SLAPolicy.objects.filter(is_active=True).order_by("position", "id"):
        parts = [
            f"{column} IN ({', '.join(_literal(v) for v in values)})"
            for column, values in (
                ("a.priority", policy.priorities),
                ("a.category", policy.categories),
                ("c.tier", policy.customer_tiers),
                ("a.source", policy.sources),
            )
            if values
        ]
        whens.append(f"WHEN {' AND '.join(parts) or 'true'} THEN {policy.pk}")
    return f"CASE {' '.join(whens)} END" if whens else "NULL::bigint"


def make_tickets(
    db, *, now: dt.datetime, count: int, args, agents: Agents, incidents: list[int]
) -> None:
    db.execute("SELECT setseed(0.31)")
    customers = db.execute("SELECT min(id), count(*) FROM customers_customer").fetchone()
    # Distinct shipments, one per ticket: proactive tickets may have only one per shipment.
    db.execute(
        "CREATE TEMP TABLE bench_pick AS SELECT row_number() OVER () AS rn, id, customer_id "
        "FROM (SELECT id, customer_id FROM shipments_shipment ORDER BY random() LIMIT %s) s",
        [count],
    )
    db.execute("SELECT setseed(0.32)")
    insert_select(
        db,
        "tickets_ticket",
        (
            "created_at, updated_at, public_id, subject, status, category, source, priority, "
            "priority_overridden, language, version, detected_at, first_response_at, "
            "last_customer_message_at, last_agent_update_at, solved_at, closed_at, is_escalated, "
            "assignee_id, customer_id, incident_id, shipment_id, sla_policy_id, team_id"
        ),
        f"""
        SELECT a.created_at, COALESCE(d.closed_at, d.solved_at, d.first_response_at, a.created_at),
               gen_random_uuid(),
               CASE a.category
                   WHEN 'delay' THEN 'Where is my parcel? It should have arrived'
                   WHEN 'lost' THEN 'Parcel lost, tracking has not moved'
                   WHEN 'damaged' THEN 'Parcel arrived damaged'
                   WHEN 'address_change' THEN 'Please change the delivery address'
                   WHEN 'information' THEN 'Question about my delivery'
                   ELSE 'Other request' END || ' (' || x.g || ')',
               a.status, a.category, a.source, a.priority, false, c.language, 1,
               CASE WHEN a.source = 'proactive' THEN a.created_at END,
               d.first_response_at, a.created_at, d.first_response_at, d.solved_at, d.closed_at,
               a.is_open AND x.r9 > 0.97,
               CASE WHEN a.is_open AND x.r9 < 0.2 THEN NULL ELSE (%(agents)s)[x.agent] END,
               c.id,
               CASE WHEN p.id IS NOT NULL AND x.r11 < %(incident_share)s
                    THEN (%(incidents)s)[1 + floor(x.r12 * %(nincidents)s)::int] END,
               p.id, {policy_case()},
               CASE WHEN a.is_open AND x.r9 < 0.2
                    THEN (%(team_ids)s)[1 + floor(x.r11 * %(nteams)s)::int]
                    ELSE (%(teams)s)[x.agent] END
        FROM (
            SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5,
                   random() r6, random() r7, random() r8, random() r9, random() r10,
                   random() r11, random() r12, 1 + floor(random() * %(nagents)s)::int AS agent
            FROM generate_series(1, %(count)s) g
            OFFSET 0
        ) x
        CROSS JOIN LATERAL (
            SELECT x.r1 < %(open_share)s AS is_open,
                   CASE WHEN x.r1 < %(open_share)s THEN {pick("x.r2", OPEN_STATUSES)}
                        ELSE {pick("x.r2", CLOSED_STATUSES)} END AS status,
                   {pick("x.r3", CATEGORIES)} AS category,
                   {pick("x.r4", SOURCES)} AS source,
                   {pick("x.r5", PRIORITIES)} AS priority,
                   CASE WHEN x.r1 < %(open_share)s
                        THEN %(now)s - power(x.r6, 2) * interval '14 days'
                        ELSE %(now)s - (14 + 350 * x.r6) * interval '1 day' END AS created_at
        ) a
        LEFT JOIN bench_pick p ON p.rn = x.g AND (a.source = 'proactive' OR x.r7 < 0.88)
        JOIN customers_customer c
            ON c.id = COALESCE(p.customer_id, %(c0)s + floor(x.r8 * %(cn)s)::int)
        CROSS JOIN LATERAL (
            SELECT CASE WHEN a.status <> 'new'
                        THEN LEAST(%(now)s, a.created_at + x.r10 * interval '4 hours')
                   END AS first_response_at,
                   CASE WHEN NOT a.is_open
                        THEN a.created_at + (0.5 + 10 * x.r10) * interval '1 day' END AS solved_at,
                   CASE WHEN a.status = 'closed'
                        THEN LEAST(%(now)s, a.created_at + (4.5 + 10 * x.r10) * interval '1 day')
                   END AS closed_at
        ) d
        """,
        {
            "now": now,
            "count": count,
            "open_share": args.open_share,
            "agents": agents.ids,
            "teams": agents.teams,
            "team_ids": agents.team_ids,
            "nagents": len(agents.ids),
            "nteams": len(agents.team_ids),
            "c0": customers[0],
            "cn": customers[1],
            "incidents": incidents,
            "nincidents": len(incidents),
            "incident_share": INCIDENT_SHARE,
        },
    )
    db.execute("DROP TABLE bench_pick")


_DEFAULTS_REPORTED: set[str] = set()


def insert_select(db, table: str, columns: str, select: str, params: dict | None = None) -> None:
    """INSERT INTO table (columns) SELECT ..., also filling every NOT NULL column that the
    statement does not name from its model field's default: a field added after this script
    was written gets its default instead of breaking the benchmark."""
    from django.apps import apps
    from django.db import connection

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    named = {column.strip() for column in columns.split(",")}
    extra: dict[str, object] = {}
    for model_field in model._meta.concrete_fields:
        if model_field.column in named or model_field.primary_key or model_field.null:
            continue
        if getattr(model_field, "generated", False):  # the database computes it
            continue
        # What the ORM would insert: the default, or "" for a blank text field.
        default = model_field.get_default()
        if default is not None:
            extra[model_field.column] = model_field.get_db_prep_save(default, connection)
    if extra:
        if table not in _DEFAULTS_REPORTED:
            _DEFAULTS_REPORTED.add(table)
            print(f"    {table}: model defaults for {', '.join(extra)}")
        values = ", ".join(f"%(default_{column})s" for column in extra)
        select = f"SELECT q.*, {values} FROM ({select}) q"
        columns = f"{columns}, {', '.join(extra)}"
        params = {**(params or {}), **{f"default_{c}": v for c, v in extra.items()}}
    db.execute(f"INSERT INTO {table} ({columns}) {select}", params)


CLOSED = "('solved', 'closed')"


def make_messages(db, *, now: dt.datetime, agents: Agents) -> None:
    """3-6 messages per open ticket, 1-3 per closed one; the first is the customer's."""
    db.execute("SELECT setseed(0.33)")
    insert_select(
        db,
        "tickets_message",
        "created_at, updated_at, kind, direction, channel, body, author_id, ticket_id",
        f"""
        SELECT m.at, m.at,
               CASE WHEN m.note THEN 'note' ELSE 'public' END,
               CASE WHEN m.note THEN 'internal' WHEN m.inbound THEN 'inbound' ELSE 'outbound' END,
               CASE WHEN m.note THEN '' WHEN m.r2 < 0.8 THEN 'email' ELSE 'sms' END,
               ({_array(MESSAGE_BODIES)})[1 + floor(m.r2 * {len(MESSAGE_BODIES)})::int],
               CASE WHEN m.inbound AND NOT m.note THEN NULL
                    ELSE COALESCE(m.assignee_id, (%(agents)s)[1 + m.id %% %(nagents)s]) END,
               m.id
        FROM (
            SELECT t.id, t.assignee_id, k,
                   t.created_at + (COALESCE(t.solved_at, %(now)s) - t.created_at)
                       * ((k - 1)::float / n.n) AS at,
                   k = 1 OR r.r1 < 0.45 AS inbound,
                   k > 1 AND r.r1 >= 0.85 AS note,
                   r.r2
            FROM tickets_ticket t
            CROSS JOIN LATERAL (
                SELECT CASE WHEN t.status IN {CLOSED} THEN 1 + t.id %% 3 ELSE 3 + t.id %% 4 END
            ) n(n)
            CROSS JOIN LATERAL generate_series(1, n.n) k
            CROSS JOIN LATERAL (SELECT random() + 0 * k, random() + 0 * k) r(r1, r2)
        ) m
        """,
        {"now": now, "agents": agents.ids, "nagents": len(agents.ids)},
    )


def make_ticket_events(db, *, now: dt.datetime, agents: Agents) -> None:
    """3-6 timeline events per open ticket, 2-3 per closed one; notes are never public."""
    db.execute("SELECT setseed(0.34)")
    insert_select(
        db,
        "tickets_ticketevent",
        "kind, is_public, data, created_at, actor_id, ticket_id",
        f"""
        SELECT e.kind,
               e.kind IN ('created', 'agent_reply', 'notification_sent', 'status_changed')
                   AND e.r2 < 0.8,
               CASE e.kind
                   WHEN 'status_changed' THEN jsonb_build_object(
                       'from', 'open', 'to', CASE WHEN e.last AND e.closed THEN 'solved'
                                                  ELSE 'pending' END)
                   WHEN 'priority_changed' THEN jsonb_build_object('from', 'normal', 'to', 'high')
                   WHEN 'carrier_contacted' THEN jsonb_build_object('channel', 'phone')
                   WHEN 'notification_sent' THEN jsonb_build_object('channel', 'email')
                   ELSE '{{}}'::jsonb END,
               e.at,
               CASE WHEN e.kind IN ('created', 'customer_message', 'notification_sent') THEN NULL
                    ELSE COALESCE(e.assignee_id, (%(agents)s)[1 + e.id %% %(nagents)s]) END,
               e.id
        FROM (
            SELECT t.id, t.assignee_id, t.status IN {CLOSED} AS closed, k = n.n AS last,
                   t.created_at + (COALESCE(t.solved_at, %(now)s) - t.created_at)
                       * ((k - 1)::float / n.n) AS at,
                   CASE WHEN k = 1 THEN 'created'
                        WHEN k = n.n AND t.status IN {CLOSED} THEN 'status_changed'
                        ELSE ({_array(EVENT_KINDS)})[1 + floor(r.r1 * {len(EVENT_KINDS)})::int]
                   END AS kind,
                   r.r2
            FROM tickets_ticket t
            CROSS JOIN LATERAL (
                SELECT CASE WHEN t.status IN {CLOSED} THEN 2 + t.id %% 2 ELSE 3 + t.id %% 4 END
            ) n(n)
            CROSS JOIN LATERAL generate_series(1, n.n) k
            CROSS JOIN LATERAL (SELECT random() + 0 * k, random() + 0 * k) r(r1, r2)
        ) e
        """,
        {"now": now, "agents": agents.ids, "nagents": len(agents.ids)},
    )


def make_tracking_events(db, *, now: dt.datetime, per: int) -> None:
    """`per` scans for every shipment that has a ticket, from hand-over to the last scan."""
    insert_select(
        db,
        "shipments_trackingevent",
        (
            "shipment_id, carrier_id, carrier_event_id, occurred_at, received_at, carrier_code, "
            "status, cause, location, description"
        ),
        """
        SELECT s.id, s.carrier_id, s.tracking_number || '-' || k,
               s.shipped_at + (COALESCE(s.delivered_at, s.last_event_at, %(now)s) - s.shipped_at)
                   * ((k - 1)::float / GREATEST(%(per)s - 1, 1)),
               %(now)s, 'IT',
               CASE WHEN k = %(per)s THEN s.status ELSE 'in_transit' END,
               CASE WHEN k = %(per)s THEN s.cause ELSE 'none' END,
               CASE WHEN k = %(per)s THEN s.last_location ELSE 'Transit ' || k END,
               'Scan ' || k
        FROM shipments_shipment s CROSS JOIN generate_series(1, %(per)s) k
        WHERE s.id IN (SELECT shipment_id FROM tickets_ticket WHERE shipment_id IS NOT NULL)
        """,
        {"now": now, "per": per},
    )


def make_heavy_ticket(db, *, now: dt.datetime, agents: Agents) -> None:
    """One open ticket of the login agent's, on a shipment, with a long history: its timeline
    events replaced by HEAVY_EVENTS, its shipment's scans by HEAVY_SCANS, and HEAVY_NOTICES
    notices (notifications.Notification) to its customer. The "ticket page (heavy)" row times it.
    """
    db.execute("SELECT setseed(0.36)")
    ticket_id, shipment_id, customer_id, created_at = db.execute(
        "SELECT id, shipment_id, customer_id, created_at FROM tickets_ticket "
        "WHERE assignee_id = %s AND status = 'open' AND shipment_id IS NOT NULL "
        "ORDER BY id LIMIT 1",
        [agents.ids[0]],
    ).fetchone()
    params = {"t": ticket_id, "s": shipment_id, "c": customer_id, "now": now, "at": created_at}
    db.execute("DELETE FROM tickets_ticketevent WHERE ticket_id = %(t)s", params)
    insert_select(
        db,
        "tickets_ticketevent",
        "kind, is_public, data, created_at, actor_id, ticket_id",
        f"""
        SELECT e.kind, e.kind IN ('created', 'status_changed', 'notification_sent'),
               CASE e.kind
                   WHEN 'status_changed' THEN jsonb_build_object('from', 'open', 'to', 'pending')
                   WHEN 'priority_changed' THEN jsonb_build_object('from', 'normal', 'to', 'high')
                   WHEN 'carrier_contacted' THEN jsonb_build_object('channel', 'phone')
                   WHEN 'notification_sent' THEN jsonb_build_object('channel', 'email')
                   ELSE '{{}}'::jsonb END,
               %(at)s + (%(now)s - %(at)s) * ((k - 1)::float / %(n)s),
               CASE WHEN e.kind IN ('created', 'customer_message', 'notification_sent') THEN NULL
                    ELSE %(agent)s END,
               %(t)s
        FROM generate_series(1, %(n)s) k
        CROSS JOIN LATERAL (
            SELECT CASE WHEN k = 1 THEN 'created'
                        ELSE ({_array(EVENT_KINDS)})[1 + (k %% {len(EVENT_KINDS)})] END
        ) e(kind)
        """,
        {**params, "n": HEAVY_EVENTS, "agent": agents.ids[0]},
    )
    db.execute("DELETE FROM shipments_trackingevent WHERE shipment_id = %(s)s", params)
    insert_select(
        db,
        "shipments_trackingevent",
        (
            "shipment_id, carrier_id, carrier_event_id, occurred_at, received_at, carrier_code, "
            "status, cause, location, description"
        ),
        """
        SELECT s.id, s.carrier_id, s.tracking_number || '-heavy-' || k,
               s.shipped_at + (COALESCE(s.last_event_at, %(now)s) - s.shipped_at)
                   * ((k - 1)::float / (%(n)s - 1)),
               %(now)s, 'IT',
               CASE WHEN k = %(n)s THEN s.status ELSE 'in_transit' END,
               CASE WHEN k = %(n)s THEN s.cause ELSE 'none' END,
               CASE WHEN k = %(n)s THEN s.last_location ELSE 'Transit ' || k END,
               'Scan ' || k
        FROM shipments_shipment s CROSS JOIN generate_series(1, %(n)s) k
        WHERE s.id = %(s)s
        """,
        {**params, "n": HEAVY_SCANS},
    )
    insert_select(
        db,
        "notifications_notification",
        (
            "created_at, updated_at, public_id, customer_id, ticket_id, shipment_id, kind, "
            "channel, language, level, dedupe_key, recipient, subject, body, status, "
            "suppressed_reason, not_before, sent_at, delivered_at"
        ),
        """
        SELECT n.at, n.at, gen_random_uuid(), c.id, %(t)s, %(s)s, n.kind,
               CASE WHEN k %% 3 = 0 THEN 'sms' ELSE 'email' END, c.language,
               CASE WHEN n.kind = 'delay_notice' THEN 'yellow' ELSE '' END,
               %(key)s || k, 'customer@example.com',
               'About your parcel', 'Your parcel is delayed; we are on it.', n.status,
               CASE WHEN n.status = 'suppressed' THEN 'frequency cap' ELSE '' END,
               n.at, CASE WHEN n.status IN ('sent', 'delivered') THEN n.at END,
               CASE WHEN n.status = 'delivered' THEN n.at + interval '1 minute' END
        FROM customers_customer c CROSS JOIN generate_series(1, %(n)s) k
        CROSS JOIN LATERAL (
            SELECT %(at)s + (%(now)s - %(at)s) * ((k - 0.5) / %(n)s) AS at,
                   (ARRAY['delay_notice', 'follow_up', 'ticket_reply'])[1 + k %% 3] AS kind,
                   CASE WHEN k = %(n)s THEN 'suppressed' WHEN k %% 2 = 0 THEN 'delivered'
                        ELSE 'sent' END AS status
        ) n
        WHERE c.id = %(c)s
        """,
        {**params, "n": HEAVY_NOTICES, "key": HEAVY_KEY},
    )


def heavy_ticket() -> str | None:
    """The public id of the heavy ticket (make_heavy_ticket), or None on older data."""
    from notifications.models import Notification

    found = (
        Notification.objects.filter(dedupe_key=f"{HEAVY_KEY}1")
        .values_list("ticket__public_id", flat=True)
        .first()
    )
    return str(found) if found else None


def make_timers(db, *, now: dt.datetime, active: int) -> None:
    """Running timers on open tickets, paused ones on pending tickets, history on closed ones."""
    running_tickets = db.execute(
        "SELECT count(*) FROM tickets_ticket WHERE status IN ('new', 'open', 'on_hold')"
    ).fetchone()[0]
    per_ticket = max(1, math.ceil(active / max(running_tickets, 1)))
    print(
        f"    {per_ticket} active timers on each of {running_tickets:,} running tickets"
        + (" (milestones beyond the 4 standard kinds)" if per_ticket > 4 else "")
    )
    db.execute("SELECT setseed(0.35)")
    # Active: 1.5% past due, 5% inside the warning window, the rest due within 3 days.
    insert_select(
        db,
        "tickets_slatimer",
        "kind, name, status, started_at, due_at, warn_at, target_id, ticket_id",
        f"""
        SELECT z.kind, z.name, 'active', LEAST(z.created_at, d.due_at - interval '30 minutes'),
               d.due_at, d.due_at - z.warn * interval '1 minute', tg.id, z.id
        FROM (
            SELECT t.id, t.created_at, t.sla_policy_id, COALESCE(p.warning_minutes, 15) AS warn,
                   CASE WHEN k <= 4 THEN ({_array(RUNNING_KINDS)})[k] ELSE 'milestone' END
                       AS kind,
                   CASE WHEN k <= 4 THEN '' ELSE 'Bench milestone ' || (k - 4) END AS name,
                   random() AS r1, random() AS r2
            FROM tickets_ticket t
            LEFT JOIN tickets_slapolicy p ON p.id = t.sla_policy_id
            CROSS JOIN generate_series(1, %(per)s) k
            WHERE t.status IN ('new', 'open', 'on_hold')
            OFFSET 0
        ) z
        CROSS JOIN LATERAL (
            SELECT CASE WHEN z.r1 < %(overdue)s THEN %(now)s - z.r2 * interval '48 hours'
                        WHEN z.r1 < %(overdue)s + %(warning)s
                        THEN %(now)s + z.r2 * z.warn * interval '1 minute'
                        ELSE %(now)s + z.warn * interval '1 minute' + z.r2 * interval '3 days'
                   END AS due_at
        ) d
        LEFT JOIN tickets_slatarget tg
            ON tg.policy_id = z.sla_policy_id AND tg.kind = z.kind AND tg.name = z.name
        """,
        {"now": now, "per": per_ticket, "overdue": OVERDUE_SHARE, "warning": WARNING_SHARE},
    )
    # Paused while waiting on the customer: 2-3 per pending ticket.
    insert_select(
        db,
        "tickets_slatimer",
        (
            "kind, name, status, started_at, due_at, warn_at, paused_at, remaining_seconds, "
            "target_id, ticket_id"
        ),
        f"""
        SELECT z.kind, '', 'paused', z.created_at,
               z.paused_at + z.remaining * interval '1 second',
               z.paused_at + z.remaining * interval '1 second' - interval '15 minutes',
               z.paused_at, z.remaining, tg.id, z.id
        FROM (
            SELECT t.id, t.created_at, t.sla_policy_id, ({_array(PAUSED_KINDS)})[k] AS kind,
                   GREATEST(t.created_at, %(now)s - random() * interval '2 days') AS paused_at,
                   (600 + random() * 172800)::int AS remaining
            FROM tickets_ticket t CROSS JOIN LATERAL generate_series(1, 2 + t.id %% 2) k
            WHERE t.status = 'pending'
            OFFSET 0
        ) z
        LEFT JOIN tickets_slatarget tg
            ON tg.policy_id = z.sla_policy_id AND tg.kind = z.kind AND tg.name = ''
        """,
        {"now": now},
    )
    # History of closed tickets: first response met; resolution met (90%) or breached.
    insert_select(
        db,
        "tickets_slatimer",
        (
            "kind, name, status, started_at, due_at, warn_at, met_at, breached_at, minutes_early, "
            "ticket_id"
        ),
        """
        SELECT h.kind, '', h.status, h.created_at, h.due_at, h.due_at - interval '15 minutes',
               CASE WHEN h.status = 'met' THEN h.done_at END,
               CASE WHEN h.status = 'breached' THEN h.due_at END,
               (extract(epoch FROM h.due_at - h.done_at) / 60)::int, h.id
        FROM (
            SELECT t.id, t.created_at, 'first_response' AS kind, 'met' AS status,
                   t.created_at + interval '4 hours' AS due_at, t.first_response_at AS done_at
            FROM tickets_ticket t WHERE t.status IN ('solved', 'closed')
            UNION ALL
            SELECT t.id, t.created_at, 'resolution',
                   CASE WHEN x.r < 0.9 THEN 'met' ELSE 'breached' END,
                   t.solved_at + CASE WHEN x.r < 0.9 THEN 1 ELSE -1 END
                       * (x.r * interval '2 days'),
                   t.solved_at
            FROM tickets_ticket t CROSS JOIN LATERAL (SELECT random() + 0 * t.id) x(r)
            WHERE t.status IN ('solved', 'closed')
        ) h
        """,
    )


def print_sizes(db, *, now: dt.datetime) -> dict:
    tables = (
        "shipments_shipment",
        "shipments_trackingevent",
        "customers_customer",
        "tickets_ticket",
        "tickets_message",
        "tickets_ticketevent",
        "tickets_slatimer",
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
        db.execute("SELECT status, count(*) FROM tickets_ticket GROUP BY status").fetchall()
    )
    timers = dict(
        db.execute("SELECT status, count(*) FROM tickets_slatimer GROUP BY status").fetchall()
    )
    overdue, warning = db.execute(
        "SELECT count(*) FILTER (WHERE due_at <= %(now)s), "
        "count(*) FILTER (WHERE warn_at <= %(now)s AND due_at > %(now)s) "
        "FROM tickets_slatimer WHERE status = 'active'",
        {"now": now},
    ).fetchone()
    open_tickets = sum(n for s, n in statuses.items() if s not in ("solved", "closed"))
    unassigned = db.execute(
        "SELECT count(*) FROM tickets_ticket WHERE status NOT IN ('solved', 'closed') "
        "AND assignee_id IS NULL"
    ).fetchone()[0]
    database = db.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    print(f"  tickets by status: {dict(sorted(statuses.items()))}")
    print(f"  open tickets: {open_tickets:,} ({unassigned:,} unassigned)")
    print(f"  timers by status: {dict(sorted(timers.items()))}")
    active = timers.get("active", 0)
    print(
        f"  active timers at the reference time: {overdue:,} past due "
        f"({overdue / max(active, 1):.1%}), {warning:,} in the warning window "
        f"({warning / max(active, 1):.1%})"
    )
    print(f"  database: {database[0]}")
    data.update(
        open=open_tickets,
        unassigned=unassigned,
        active_timers=active,
        overdue=overdue,
        warning=warning,
        database=database[0],
    )
    return data


# --- Pages ---------------------------------------------------------------------------------------


@dataclass
class Page:
    label: str
    kind: str  # "queue", "counts" or "detail"
    paths: list[str]  # rotated over; a single path for fixed pages


def build_pages(*, requests: int) -> list[Page]:
    """Every queue the console knows right now, page 50, a search, the tab counts that a queue
    page loads once it is shown, and ticket pages.

    Searches and ticket pages use random open tickets that the logged-in agent may see.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.urls import reverse

    from tickets import selectors
    from tickets.models import Ticket

    agent = get_user_model().objects.get(username=LOGIN_AGENT)
    visible = Ticket.objects.all()
    if hasattr(visible, "visible_to"):
        visible = visible.visible_to(agent)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.5)")
    sample = list(
        visible.open()
        .order_by("?")
        .values_list("public_id", "shipment__tracking_number")[:requests]
    )
    tickets = [str(public_id) for public_id, _tracking in sample]
    trackings = [tracking for _public_id, tracking in sample if tracking]
    pages = [
        Page(f"queue={queue}", "queue", [f"/console/?{urlencode({'queue': queue})}"])
        for queue in selectors.QUEUES
    ]
    pages.append(Page("queue=all, page 50", "queue", ["/console/?queue=all&page=50"]))
    # Deep pages as an agent reaches them: by the Next links (keyset cursors, issue 17/18).
    for queue, number in (("breaching", 40), ("all", 100)):
        path, reached = next_link_page(queue, number)
        pages.append(Page(f"queue={queue}, page {reached} by Next", "queue", [path]))
    pages.append(
        Page(
            "search tracking no.",
            "queue",
            [f"/console/?{urlencode({'queue': 'all', 'q': t})}" for t in trackings],
        )
    )
    pages.append(Page("tab counts (lazy)", "counts", [reverse("tickets:console_counts")]))
    pages.append(Page("ticket page", "detail", [f"/console/tickets/{t}/" for t in tickets]))
    heavy = heavy_ticket()
    if heavy:
        pages.append(Page("ticket page (heavy)", "detail", [f"/console/tickets/{heavy}/"]))
    return pages


@dataclass
class QueryCount:
    counts: list[int]  # one per sampled path
    view_ms: float  # in-process, warm, last sample
    sql_ms: float
    slowest_sql: str
    slowest_ms: float
    rows: str = ""
    queries: list[tuple[float, str]] = field(default_factory=list)  # (ms, sql), last sample


def count_queries(pages: list[Page]) -> dict[str, QueryCount]:
    """Run each page in-process and count its SQL (the view, its template and the middleware)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = agent_client()
    print("\nSQL queries per page (in-process, Django test Client, warm):")
    results = {}
    for page in pages:
        samples = page.paths[:10] if page.kind == "detail" else page.paths[:3]
        client.get(samples[0])  # warm: templates, caches, plans
        counts = []
        for path in samples:
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path)
                view_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            counts.append(len(captured))
        queries = captured.captured_queries
        slowest = max(queries, key=lambda q: float(q["time"]))
        rows = ""
        if page.kind == "queue":
            total = re.search(rb"of ((?:more than )?[\d,]+) \xc2\xb7 page", response.content)
            rows = f"({response.content.count(b'<tr data-href=')} rows shown" + (
                f" of {total.group(1).decode()})" if total else ")"
            )
        results[page.label] = QueryCount(
            counts=counts,
            view_ms=view_ms,
            sql_ms=sum(float(q["time"]) for q in queries) * 1000,
            slowest_sql=slowest["sql"],
            slowest_ms=float(slowest["time"]) * 1000,
            rows=rows,
            queries=[(float(q["time"]) * 1000, q["sql"]) for q in queries],
        )
        spread = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        print(
            f"  {page.label:<22} {spread:>5} queries over {len(counts)} URL(s); last: view "
            f"{view_ms:.0f} ms, SQL {results[page.label].sql_ms:.0f} ms, slowest query "
            f"{results[page.label].slowest_ms:.0f} ms {rows}"
        )
    return results


# --- HTTP ----------------------------------------------------------------------------------------


class Browser:
    """A logged-in agent over plain http.client (the venv has neither requests nor httpx)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = dict(headers or {})
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                self.cookies.update({name: morsel.value for name, morsel in cookie.items()})
            return response.status, payload
        finally:
            connection.close()

    def login(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/accounts/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not match:
            raise SystemExit(f"login page answered {status} without a CSRF token")
        form = {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": match.group(1).decode(),
        }
        status, _page = self.request(
            "POST",
            "/accounts/login/",
            body=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"login as {username} failed ({status})")


@dataclass
class Timing:
    latencies: list[float] = field(default_factory=list)  # ms
    failures: list[str] = field(default_factory=list)
    load: float = 0.0
    size: int = 0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    def median(self) -> float:
        """As the peer harness's measure_http.py: statistics.median."""
        return statistics.median(self.latencies)

    def p95(self) -> float:
        """As measure_http.py's pct(values, 95)."""
        ordered = sorted(self.latencies)
        k = max(0, min(len(ordered) - 1, int(round(95 / 100.0 * len(ordered) + 0.5)) - 1))
        return ordered[k]


def time_pages(pages: list[Page], *, env: dict, workers: int, args, then=None) -> dict[str, Timing]:
    """Sequential GETs of every page through gunicorn; then `then(port, browser, pages)`, if
    given, while the server still runs (--peer: the harness's measure_http.py)."""
    port = free_port()
    server = gunicorn_start(port=port, workers=workers, env=env, conn_max_age=None)
    results = {}
    try:
        browser = Browser(port)
        browser.login(LOGIN_AGENT, PASSWORD)
        print(
            f"\nthrough gunicorn ({workers} workers), logged in as {LOGIN_AGENT}; "
            f"{args.warmup} warm-up then {args.requests} sequential GETs per page:"
        )
        for page in pages:
            timing = sequential(browser, page.paths, warmup=args.warmup, requests=args.requests)
            results[page.label] = timing
            if not timing.latencies:
                print(f"  {page.label:<22} every request failed: {timing.failures[:3]}")
                continue
            print(
                f"  {page.label:<22} p50 {timing.percentile(0.5):6.1f} ms  p95 "
                f"{timing.percentile(0.95):6.1f} ms  max {max(timing.latencies):6.1f} ms  "
                f"({timing.size / 1024:.0f} KB; load {timing.load:.2f}"
                + (f"; {len(timing.failures)} failed" if timing.failures else "")
                + ")"
            )
        if then is not None:
            then(port, browser, pages)
    finally:
        gunicorn_stop(server)
    return results


def sequential(browser: Browser, paths: list[str], *, warmup: int, requests: int) -> Timing:
    """`warmup` untimed GETs, then `requests` timed ones, one after the other, rotating over
    `paths`; each on a new connection (as gunicorn's sync workers close it anyway)."""
    for n in range(warmup):
        browser.request("GET", paths[n % len(paths)])
    timing = Timing(load=os.getloadavg()[0])
    for n in range(requests):
        path = paths[(warmup + n) % len(paths)]
        started = time.perf_counter()
        status, body = browser.request("GET", path)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            timing.failures.append(f"{status} {path}")
            continue
        timing.latencies.append(elapsed)
        timing.size = len(body)
    return timing


# --- Sweeper -------------------------------------------------------------------------------------


@dataclass
class Sweep:
    label: str
    seconds: float
    result: str
    queries: int
    slowest_ms: float
    load: float
    ok: bool
    idempotent: bool = True


class SweepTimeout(Exception):
    pass


def _stop_sweep(signum, frame):
    raise SweepTimeout


def time_sweeps(now: dt.datetime, *, timeout: int) -> list[Sweep] | None:
    """First pass, idempotent second pass, next tick; rolled back afterwards (see the top).

    A pass still running after `timeout` seconds is stopped (SIGALRM) and reported.
    """
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    print("\nSLA breach sweep (tickets.sla.sweeper.sweep):")
    try:
        from tickets.sla.sweeper import sweep
    except ImportError as exc:
        print(f"  sweeper not available ({exc}); skipped")
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_slatimer WHERE status = 'active'")
        active = cursor.fetchone()[0]
    print(f"  {active:,} active timers; now = {now:%Y-%m-%d %H:%M:%S} UTC")
    passes = (
        ("first pass", now),
        ("second pass (same now)", now),
        ("next tick (+5 min)", now + dt.timedelta(minutes=5)),
    )
    sweeps: list[Sweep] = []
    previous = signal.signal(signal.SIGALRM, _stop_sweep)
    try:
        with transaction.atomic():
            for label, moment in passes:
                load = os.getloadavg()[0]
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    signal.alarm(timeout)
                    try:
                        result = sweep(now=moment)
                    finally:
                        signal.alarm(0)
                    seconds = time.perf_counter() - started
                counts = {
                    name: getattr(result, name)
                    for name in ("warned", "breached", "escalated")
                    if hasattr(result, name)
                }
                # The same `now` again must find nothing to do.
                idempotent = not label.startswith("second") or not any(counts.values())
                sweeps.append(
                    Sweep(
                        label=label,
                        seconds=seconds,
                        result=", ".join(f"{k} {v:,}" for k, v in counts.items()) or repr(result),
                        queries=len(captured),
                        slowest_ms=max(
                            (float(q["time"]) for q in captured.captured_queries), default=0
                        )
                        * 1000,
                        load=load,
                        ok=idempotent and seconds < TARGET_SWEEP_S,
                        idempotent=idempotent,
                    )
                )
                print(
                    f"  {label:<24} {seconds:6.2f} s  ({sweeps[-1].result}; {len(captured)} "
                    f"queries, slowest {sweeps[-1].slowest_ms:.0f} ms; load {load:.2f})"
                    + ("" if idempotent else "  NOT IDEMPOTENT: the same now did work again")
                )
            callbacks = len(connection.run_on_commit)
            transaction.set_rollback(True)
        print(f"  rolled back; {callbacks} on_commit callbacks were registered and not run")
    except SweepTimeout:
        label = passes[len(sweeps)][0]
        print(f"  {label:<24} still running after {timeout} s: stopped and rolled back")
        sweeps.append(Sweep(label, float(timeout), "stopped", 0, 0.0, os.getloadavg()[0], False))
    finally:
        signal.signal(signal.SIGALRM, previous)
    # The rolled-back rows are dead: clean them so the next --keep run reads the same tables.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tickets_ticket, tickets_slatimer, tickets_ticketevent")
    return sweeps


# --- Profile and summary -------------------------------------------------------------------------


def missed(page: Page, timing: Timing | None, count: QueryCount) -> bool:
    # A ticket page without a shipment skips the tracking events query: counts may differ by
    # one between tickets; what matters is that they do not grow with the rows shown.
    if max(count.counts) > TARGET_QUERIES:
        return True
    if timing is None or not timing.latencies:
        return True
    return timing.percentile(0.5) >= TARGET_P50_MS or timing.percentile(0.95) >= TARGET_P95_MS


EXPLAIN_MS = 10  # EXPLAIN ANALYZE the queries of a slow page that took at least this long


def explain_slow(
    pages: list[Page],
    counts: dict[str, QueryCount],
    timings: dict[str, Timing],
    *,
    everything: bool,
) -> None:
    """For each page that misses its target: its queries with their times, EXPLAIN ANALYZE of
    the slow ones and, when most of the view's time is not SQL, a cProfile of one request."""
    import cProfile
    import pstats

    from django.db import connection

    client = None
    for page in pages:
        count = counts[page.label]
        if not (everything or missed(page, timings.get(page.label), count)):
            continue
        print(
            f"\n== {page.label}: {len(count.queries)} queries, {count.sql_ms:.0f} ms SQL, view "
            f"{count.view_ms:.0f} ms in-process (warm, one request):"
        )
        for ms, sql in count.queries:
            print(f"  {ms:7.1f} ms  {sql[:150]}")
        slow = [
            (ms, sql) for ms, sql in count.queries if ms >= EXPLAIN_MS or sql == count.slowest_sql
        ]
        for ms, sql in sorted(slow, reverse=True)[:3]:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) of this {ms:.0f} ms query of {page.label}:")
            print(sql)
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plan = [row[0] for row in cursor.fetchall()]
            print("\n".join(plan))
            if any(line.startswith("JIT:") for line in plan):
                print("NOTE: PostgreSQL JIT-compiled this query (its cost is over jit_above_cost)")
        if count.sql_ms < count.view_ms / 2:
            client = client or agent_client()
            client.get(page.paths[0])  # warm
            profiler = cProfile.Profile()
            profiler.enable()
            client.get(page.paths[0])
            profiler.disable()
            print(f"\ncProfile of one warm request of {page.label} (SQL is under half):")
            stats = pstats.Stats(profiler)
            # The project's own functions by cumulative time, then everything by own time.
            stats.sort_stats("cumulative").print_stats(rf"^{ROOT}/(?!\.venv)", 20)
            stats.sort_stats("tottime").print_stats(15)


def next_link_page(queue: str, number: int) -> tuple[str, int]:
    """The path of page `number` of `queue` as an agent reaches it, following the page's Next
    link (its keyset cursor) from page 1, and the page reached (fewer when the queue ends)."""
    client = agent_client()
    path, reached = f"/console/?{urlencode({'queue': queue})}", 1
    while reached < number:
        page = client.get(path).content.decode()
        found = re.search(r'rel="next" href="\?([^"]+)"', page)
        if found is None:
            break
        path, reached = "/console/?" + html.unescape(found.group(1)), reached + 1
    return path, reached


def agent_client():
    """A Django test Client logged in as the benchmark's agent."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=LOGIN_AGENT))
    return client


def print_summary(
    pages: list[Page],
    counts: dict[str, QueryCount],
    timings: dict[str, Timing],
    sweeps: list[Sweep] | None,
    *,
    data: dict,
    generated: float,
    args,
) -> None:
    print(
        f"\nSummary ({data['tickets_ticket'][0]:,} tickets, {data['open']:,} open; "
        f"{data['shipments_shipment'][0]:,} shipments; {data['active_timers']:,} active timers; "
        f"database {data['database']}; generated in {generated:.0f} s; "
        f"{args.requests} requests per page, {args.workers} gunicorn workers)"
    )
    print(
        f"targets: at most {TARGET_QUERIES} queries, constant; p50 < {TARGET_P50_MS} ms, "
        f"p95 < {TARGET_P95_MS} ms; sweep < {TARGET_SWEEP_S:.0f} s\n"
    )
    print("| page | queries | p50 (ms) | p95 (ms) | max (ms) | in-process SQL (ms) | load | ok |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for page in pages:
        count, timing = counts[page.label], timings.get(page.label)
        queries = (
            f"{min(count.counts)}"
            if len(set(count.counts)) == 1
            else f"{min(count.counts)}-{max(count.counts)}"
        )
        if timing is None or not timing.latencies:
            print(f"| {page.label} | {queries} | - | - | - | {count.sql_ms:.0f} | - | no |")
            continue
        print(
            f"| {page.label} | {queries} | {timing.percentile(0.5):.1f} | "
            f"{timing.percentile(0.95):.1f} | {max(timing.latencies):.1f} | {count.sql_ms:.0f} | "
            f"{timing.load:.2f} | {'no' if missed(page, timing, count) else 'yes'} |"
        )
    if sweeps is None:
        print("\nsweep: sweeper not available")
    else:
        print("\n| sweep | time (s) | result | queries | load | ok |")
        print("|---|---:|---|---:|---:|---|")
        for run in sweeps:
            print(
                f"| {run.label} | {run.seconds:.2f} | {run.result} | {run.queries} | "
                f"{run.load:.2f} | {'yes' if run.ok else 'no'} |"
            )
    print(f"\nload average at the end: {os.getloadavg()}")


# --- Side by side with django-helpdesk (--peer) -------------------------------------------------

# Delaydesk's pages that the harness's measure_http.py times too: its name there, the page's
# label here. "queue=all" (every open ticket in the agent's scope, by priority) is the queue
# most like the peer's default list (every open and reopened ticket).
DELAYDESK_TARGETS = (
    ("queue", "queue=all"),
    ("counts", "tab counts (lazy)"),
    ("ticket", "ticket page"),
    ("ticket_heavy", "ticket page (heavy)"),
)


class SideBySide:
    """Step 7: both apps timed by the peer harness's measure_http.py, and one table."""

    def __init__(self, peer: PeerHarness, args):
        self.peer = peer
        self.args = args
        stamp = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
        self.out_dir = Path(args.peers) / "results" / f"side-by-side-{stamp}"
        self.http: dict = {}  # Delaydesk, by measure_http.py
        self.own: dict[str, Timing] = {}  # Delaydesk, by this script, the same single paths
        self.pages: list[Page] = []
        self.load = 0.0
        self.peer_run: PeerRun | None = None
        self.escalation: dict | None = None

    def delaydesk(self, port: int, browser: Browser, pages: list[Page]) -> None:
        """Called by time_pages while gunicorn runs. Page after page: this script's loop on
        the path measure_http.py gets, then measure_http.py on it (sequential, then wrk), so
        that the two tools time each page within seconds of each other."""
        self.pages = pages
        by_label = {page.label: page for page in pages}
        targets = [
            {"name": name, "path": by_label[label].paths[0], "auth": True}
            for name, label in DELAYDESK_TARGETS
            if label in by_label
        ]
        self.out_dir.mkdir(parents=True, exist_ok=True)
        spec = self.out_dir / "delaydesk_targets.json"
        spec.write_text(
            json.dumps({"sessionid": browser.cookies["sessionid"], "http_targets": targets})
        )
        self.load = os.getloadavg()[0]
        print(
            f"\nthe side-by-side's pages, one path each, timed by this script ({self.args.warmup} "
            f"warm-up, {self.args.requests} sequential GETs), then by the peer harness's "
            f"measure_http.py (3 warm-up, {self.args.requests} sequential GETs, then wrk):"
        )
        for target in targets:
            name = target["name"]
            timing = sequential(
                browser, [target["path"]], warmup=self.args.warmup, requests=self.args.requests
            )
            self.own[name] = timing
            if timing.latencies:
                print(
                    f"{name:12s} median={timing.median():8.1f}ms p95={timing.p95():8.1f}ms "
                    f"(bench_console.py; load {timing.load:.2f})"
                )
            self.http.update(
                self.peer.measure_http(
                    targets=spec,
                    base=f"http://127.0.0.1:{port}",
                    out=self.out_dir / f"delaydesk_http_{name}.json",
                    runs=self.args.requests,
                    wrk_duration=self.args.wrk_duration,
                    only=[name],
                )
            )
        (self.out_dir / "delaydesk_http.json").write_text(
            json.dumps({"results": self.http}, indent=2)
        )

    def measure_peer(self) -> None:
        self.peer_run = self.peer.measure(
            out_dir=self.out_dir,
            runs=self.args.requests,
            wrk_duration=self.args.wrk_duration,
            port=free_port(),
        )
        if not self.args.peer_no_escalation:
            self.escalation = self.peer.escalate(out_dir=self.out_dir)

    def print_table(
        self,
        pages: list[Page],
        counts: dict[str, QueryCount],
        timings: dict[str, Timing],
        sweeps: list[Sweep] | None,
        *,
        data: dict,
    ) -> None:
        lines = self.table(counts, timings, sweeps, data=data)
        print("\n" + "\n".join(lines))
        (self.out_dir / "side_by_side.md").write_text("\n".join(lines) + "\n")
        print(f"\n(raw JSON and this table: {self.out_dir})")

    def table(
        self, counts: dict[str, QueryCount], timings: dict[str, Timing], sweeps, *, data: dict
    ) -> list[str]:
        run = self.peer_run
        meta = run.inproc["meta"]
        peer_q = {name: run.inproc["results"][name]["queries"] for name in run.inproc["results"]}
        labels = dict(DELAYDESK_TARGETS)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        lines = [
            f"Side by side with django-helpdesk {meta['django_helpdesk']} (issue 18), measured "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
            f"({cpu_model()}, {memory:.0f} GiB); load average (1 min) "
            f"{self.load:.2f} when Delaydesk's HTTP timing started, {run.load:.2f} when the "
            f"peer's did, {os.getloadavg()[0]:.2f} at the end.",
            "",
            f"- Delaydesk: {data['tickets_ticket'][0]:,} tickets ({data['open']:,} open), "
            f"{data['shipments_shipment'][0]:,} shipments, database {data['database']}; "
            f"agent {LOGIN_AGENT} (one of 4 teams); PostgreSQL at {self.args.server}.",
            f"- django-helpdesk: {meta['tickets']:,} tickets, {meta['followups']:,} follow-ups "
            f"(its harness's data); staff user {meta['user']}; ticket #{meta['ticket_under_test']}"
            f" (3 follow-ups); Django {meta['django']}, same PostgreSQL cluster.",
            "- Both: gunicorn with 2 sync workers, DEBUG off; timed by the peer harness's "
            f"measure_http.py: 3 warm-ups, {self.args.requests} sequential GETs on a new "
            f"connection each (median, p95), then `wrk -t2 -c8 -d{self.args.wrk_duration} "
            "--timeout 30s --latency` (req/s, p50).",
            "",
            "| measure | Delaydesk | SQL queries | p50 / p95 (ms) | wrk req/s | wrk p50 (ms) "
            "| django-helpdesk | SQL queries | p50 / p95 (ms) | wrk req/s | wrk p50 (ms) "
            "| ratio p50 (peer / Delaydesk) | ratio req/s (Delaydesk / peer) |",
            "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        ]

        def ours(name: str) -> tuple[str, dict | None]:
            count = counts.get(labels[name])
            if count is None:
                return "-", None
            spread = (
                f"{min(count.counts)}"
                if min(count.counts) == max(count.counts)
                else f"{min(count.counts)}-{max(count.counts)}"
            )
            return spread, self.http.get(name)

        def cells(queries, result: dict | None) -> str:
            if result is None:
                return f"{queries} | - | - | -"
            wrk = result.get("wrk") or {}
            errors = (wrk.get("non_2xx") or 0) + (wrk.get("socket_errors") or 0)
            rps = f"{wrk['rps']:.1f}" if wrk.get("rps") is not None else "-"
            return (
                f"{queries} | {result['median_ms']:.1f} / {result['p95_ms']:.1f} | "
                + rps
                + (f" ({errors} err)" if errors else "")
                + f" | {wrk.get('lat_p50_ms', '-')}"
            )

        def ratios(ours_: list[dict | None], theirs: list[dict | None]) -> str:
            if None in ours_ or None in theirs:
                return "- | -"
            p50 = sum(r["median_ms"] for r in theirs) / sum(r["median_ms"] for r in ours_)
            # Requests per second of a pair of requests made one after the other.
            rates = [[(r.get("wrk") or {}).get("rps") for r in side] for side in (ours_, theirs)]
            if any(not rate for side in rates for rate in side):
                return f"{p50:.1f}x | -"
            pair = [1 / sum(1 / rate for rate in side) for side in rates]
            return f"{p50:.1f}x | {pair[0] / pair[1]:.1f}x"

        peer_http = run.http
        rows = (
            ("queue: the page", "queue page (queue=all)", ["queue"], "list shell (helpdesk:list)",
             ["list"]),
            ("queue: its rows / counts", "tab counts (lazy)", ["counts"],
             "JSON rows (datatables_ticket_list)", ["datatables"]),
            ("ticket page", "an open ticket", ["ticket"],
             f"ticket view #{meta['ticket_under_test']}", ["view"]),
            ("ticket page, heavy", f"a ticket with {HEAVY_EVENTS} timeline events, "
             f"{HEAVY_SCANS} scans, {HEAVY_NOTICES} notices", ["ticket_heavy"],
             f"ticket view #{meta['ticket_under_test']}", ["view"]),
        )  # fmt: skip
        for measure, our_label, our_names, their_label, their_names in rows:
            q, result = ours(our_names[0])
            theirs = [peer_http.get(name) for name in their_names]
            lines.append(
                f"| {measure} | {our_label} | {cells(q, result)} | {their_label} | "
                f"{cells(peer_q.get(their_names[0], '-'), theirs[0])} | "
                f"{ratios([result], theirs)} |"
            )
            if measure.startswith("queue: its"):
                pair = [self.http.get("queue"), self.http.get("counts")]
                theirs = [peer_http.get("list"), peer_http.get("datatables")]
                if None not in pair and None not in theirs:
                    q_total = sum(max(counts[labels[n]].counts) for n in ("queue", "counts"))
                    their_q = peer_q.get("list", 0) + peer_q.get("datatables", 0)
                    lines.append(
                        f"| **queue: what an agent waits for** | page + counts | {q_total} | "
                        f"{sum(r['median_ms'] for r in pair):.1f} / "
                        f"{sum(r['p95_ms'] for r in pair):.1f} | - | - | shell + JSON rows | "
                        f"{their_q} | {sum(r['median_ms'] for r in theirs):.1f} / "
                        f"{sum(r['p95_ms'] for r in theirs):.1f} | - | - | "
                        f"**{ratios(pair, theirs)}** |"
                    )
        first = sweeps[0] if sweeps else None
        esc = self.escalation
        if first is not None and first.result != "stopped":
            theirs = (
                f"escalate_tickets, one ticket at a time ({esc['escalated']:,} escalated; wall "
                f"time with process start, load {esc['load']:.2f}) | - | {esc['seconds']:.1f} s"
                if esc
                else "escalate_tickets (skipped: --peer-no-escalation) | - | -"
            )
            ratio = f"{esc['seconds'] / first.seconds:.0f}x" if esc and first.seconds else "-"
            lines.append(
                f"| SLA sweep | breach sweep, first pass ({first.result}; in-process, "
                f"load {first.load:.2f}) | {first.queries} | {first.seconds:.2f} s | - | - | "
                f"{theirs} | - | - | {ratio} | - |"
            )
        lines += [
            "",
            "The two tools on Delaydesk's pages: the same path, gunicorn and session, one right "
            "after the other; the last column is this script again, on the same path a few "
            "minutes earlier (its main loop): how much one tool differs from itself here.",
            "",
            "| Delaydesk page | bench_console.py median / p95 (ms) | measure_http.py median / "
            "p95 (ms) | difference | bench_console.py earlier: median (ms), difference |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, label in DELAYDESK_TARGETS:
            own, theirs = self.own.get(name), self.http.get(name)
            if own is None or not own.latencies or theirs is None:
                continue
            difference = (theirs["median_ms"] - own.median()) / own.median()
            earlier = timings.get(label)
            same_path = (
                earlier is not None
                and earlier.latencies
                and len(next(page for page in self.pages if page.label == label).paths) == 1
            )
            again = (
                f"{earlier.median():.1f}, {(earlier.median() - own.median()) / own.median():+.0%}"
                if same_path
                else "- (it rotates over tickets)"
            )
            lines.append(
                f"| {label} | {own.median():.1f} / {own.p95():.1f} | {theirs['median_ms']:.1f} / "
                f"{theirs['p95_ms']:.1f} | {difference:+.0%} | {again} |"
            )
        return lines


if __name__ == "__main__":
    raise SystemExit(main())
