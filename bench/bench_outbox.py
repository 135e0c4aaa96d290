"""Benchmark: the notification outbox, enqueue and dispatch of a 100,000-shipment incident.

    .venv/bin/python bench/bench_outbox.py                       # the issue's sizes
    .venv/bin/python bench/bench_outbox.py --notices 20000 --keep  # a quick rerun

Targets (issue 5), on PostgreSQL on the 2-core machine:

- an incident affecting 100,000 shipments enqueues its 100,000 notices in under 30 s;
- the dispatcher sends at least 1,000 notices/s to a no-op backend with 2 worker processes;
- 0 duplicates and 0 losses when a worker is killed mid-run.

A script, not a test. It:

1. (Re)creates its own database `bench_outbox` on the local server and migrates it with
   manage.py (`--keep` reuses it when it holds data of the same size, and only deletes the
   incident's notices). It generates, in SQL (INSERT ... SELECT generate_series, no ORM):
   --notices customers with one undelivered shipment each, all in one open customs-hold
   incident with explanations in English and Chinese. Customers: preferred channel email 60%,
   SMS 25%, push 10%, phone 5% (written to by email); English 70%, Chinese 30%; regions
   Europe 45%, North America 25%, Asia 25%, other 5%, each with its own time zone; a phone
   number for every SMS customer and half of the others; 30% with quiet hours, placed in each
   time zone 4 to 12 hours after the run starts (the check runs for every notice, nothing is
   deferred: a run during someone's quiet hours measures the "deferred" path instead);
   2% opted out of their preferred channel (sent on the next one), 0.2% opted out of every
   channel (suppressed: no usable channel); 3% heard about a delay 5 hours ago (a sent delay
   notice: the frequency cap suppresses their incident notice). No tickets: the progress link
   comes from the carrier's tracking URL template (the ticket lookup still runs per batch).
2. Times `notifications.services.incident_notify` (the product's service, one
   INSERT ... SELECT) for the incident; checks that it wrote exactly one notice per shipment
   and that a second call writes 0.
3. Times the dispatch: --workers processes of `manage.py dispatch_notifications` (one pass
   each, until the outbox is empty) with the no-op backends for every channel
   (EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend, SMS/PUSH_BACKEND=Null*).
   notices/s = rows finished (sent, suppressed or failed) / wall time from starting the
   processes to their exit (Django start-up included).
4. Fault run: the same rows back to pending (new references), --workers looping dispatcher
   processes (`dispatch_pass` in a loop, like tests/notifications/test_dispatch_workers.py)
   with recording no-op backends (each process appends "channel reference" to its own file,
   O_APPEND, one write per message). When a third of the rows are done (plus a seeded random
   0-200 ms, so the kill does not always follow a write; `--kills N`: the oldest live worker
   at k/(N+2) of the rows, k = 1..N) one worker gets SIGKILL, the rows
   it held are listed (and which of them its file shows as sent: sent but not yet marked),
   and a replacement starts; the dead worker's claims come back after
   NOTICE_CLAIM_TIMEOUT_SECONDS (--claim-timeout, 10 s). Checks, when the outbox is empty:
   no row pending or sending; every row marked sent reached the backend (0 losses); no
   backend call for a row not marked sent; no customer received two different references
   (0 customer-visible duplicates); the raw backend calls repeated for one reference are
   exactly the rows sent but not marked at the kill (the at-least-once window, at most one
   outcome group, which an idempotent provider drops by reference).
5. Exits 1 when a target or a check fails.

`--profile N` also runs one worker over N notices under cProfile and prints the top functions.
Other engineers may share the machine: the load average is printed next to each timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pstats
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_console import insert_select, pick, prepare_database  # noqa: E402
from bench.bench_detection import DEFAULT_SERVER, print_machine  # noqa: E402

GENERATOR_VERSION = 1

ENQUEUE_TARGET_SECONDS = 30.0
DISPATCH_TARGET_PER_SECOND = 1000.0

# Region, share, time zone.
REGIONS = (
    ("europe", 0.45, "Europe/Berlin"),
    ("north_america", 0.70, "America/New_York"),
    ("asia", 0.95, "Asia/Shanghai"),
    ("other", 1.00, "America/Sao_Paulo"),
)
CHANNELS = ((0.60, "email"), (0.85, "sms"), (0.95, "push"), (1.00, "phone"))
TIERS = ((0.05, "vip"), (0.10, "frequent_complainer"), (0.80, "regular"), (1.00, "new"))
LEVELS = ((0.60, "hub_hold"), (0.80, "yellow"), (0.90, "orange"), (1.00, "red"))
STATUSES = ((0.85, "in_transit"), (0.95, "exception"), (1.00, "available_for_pickup"))

RECORD_DIR_ENV = "BENCH_OUTBOX_RECORD_DIR"

LOOP_WORKER = """
import time
import django
django.setup()
from notifications.dispatch import dispatch_pass
while True:
    if not dispatch_pass().claimed:
        time.sleep(0.2)
"""


# --- Recording no-op backends (loaded by the worker processes through their settings) ----------

_record_fd: int | None = None


def _record(channel: str, reference: str) -> None:
    """One line per provider call, appended with a single write(2) to this process's file: it
    is in the kernel before send() returns, so a SIGKILL right after loses nothing."""
    global _record_fd
    if _record_fd is None:
        directory = os.environ[RECORD_DIR_ENV]
        _record_fd = os.open(
            os.path.join(directory, f"{os.getpid()}.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o644,
        )
    os.write(_record_fd, f"{channel} {reference}\n".encode())


def _message_backends():
    from django.core.mail.backends.base import BaseEmailBackend

    from notifications.backends import REFERENCE_HEADER, NullPushBackend, NullSMSBackend

    class RecordingSMSBackend(NullSMSBackend):
        def send(self, message):
            _record("sms", message.reference)
            return super().send(message)

    class RecordingPushBackend(NullPushBackend):
        def send(self, message):
            _record("push", message.reference)
            return super().send(message)

    class RecordingEmailBackend(BaseEmailBackend):
        def send_messages(self, email_messages):
            for email in email_messages:
                _record("email", email.extra_headers.get(REFERENCE_HEADER, ""))
            return len(email_messages)

    return RecordingSMSBackend, RecordingPushBackend, RecordingEmailBackend


def __getattr__(name: str):
    # Resolved on first use in a worker (after django.setup()), by dotted path from settings.
    classes = dict(
        zip(
            ("RecordingSMSBackend", "RecordingPushBackend", "RecordingEmailBackend"),
            _message_backends(),
            strict=True,
        )
    )
    if name in classes:
        globals().update(classes)
        return classes[name]
    raise AttributeError(name)


NULL_BACKENDS = {
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    "SMS_BACKEND": "notifications.backends.NullSMSBackend",
    "PUSH_BACKEND": "notifications.backends.NullPushBackend",
}
RECORDING_BACKENDS = {
    "EMAIL_BACKEND": "bench.bench_outbox.RecordingEmailBackend",
    "SMS_BACKEND": "bench.bench_outbox.RecordingSMSBackend",
    "PUSH_BACKEND": "bench.bench_outbox.RecordingPushBackend",
}


# --- Main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=100_000, help="shipments in the incident")
    parser.add_argument("--workers", type=int, default=2, help="dispatcher processes")
    parser.add_argument("--batch-size", type=int, default=None, help="NOTICE_BATCH_SIZE")
    parser.add_argument(
        "--claim-timeout", type=int, default=10, help="NOTICE_CLAIM_TIMEOUT_SECONDS (min 10)"
    )
    parser.add_argument("--keep", action="store_true", help="reuse the database if populated")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-fault", action="store_true")
    parser.add_argument("--profile", type=int, default=0, help="cProfile one worker over N")
    parser.add_argument("--kills", type=int, default=1, help="workers killed in the fault run")
    parser.add_argument("--seed", type=int, default=5, help="seeds the moments of the kills")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--database", default="bench_outbox")
    args = parser.parse_args()
    if not args.database.replace("_", "").isalnum():
        parser.error(f"refusing odd database name {args.database!r}")
    if args.claim_timeout < 10:
        parser.error("--claim-timeout: the setting's minimum is 10")

    import psycopg

    url = f"{args.server}/{args.database}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",
        "NOTICE_CLAIM_TIMEOUT_SECONDS": str(args.claim_timeout),
        "PYTHONPATH": str(ROOT),
        **NULL_BACKENDS,
    }
    if args.batch_size:
        env["NOTICE_BATCH_SIZE"] = str(args.batch_size)
    env.pop("DELAYDESK_ENV", None)
    sizes = {"version": GENERATOR_VERSION, "notices": args.notices}
    reused = prepare_database(
        url, server=args.server, name=args.database, sizes=sizes, env=env, keep=args.keep
    )

    checks: list[tuple[str, bool, str]] = []
    from django.conf import settings

    with psycopg.connect(url, autocommit=True) as db:
        print_machine(
            db, ("shared_buffers", "synchronous_commit", "wal_writer_delay", "fsync", "jit")
        )
        print(
            f"dispatcher: NOTICE_BATCH_SIZE {settings.NOTICE_BATCH_SIZE}, "
            f"NOTICE_OUTCOME_GROUP_SIZE {settings.NOTICE_OUTCOME_GROUP_SIZE}, "
            f"NOTICE_CLAIM_TIMEOUT_SECONDS {settings.NOTICE_CLAIM_TIMEOUT_SECONDS}"
        )
        started_at = dt.datetime.now(dt.UTC)
        if reused:
            print(f"reusing {args.database} (--keep): deleting the incident's notices")
            db.execute("DELETE FROM notifications_notification WHERE kind = 'incident_notice'")
            db.execute("VACUUM ANALYZE notifications_notification")
        else:
            generate(db, now=started_at, count=args.notices, sizes=sizes)
        incident_id = db.execute("SELECT id FROM shipments_incident").fetchone()[0]
        print_data(db)

        enqueue = time_enqueue(db, incident_id=incident_id, expected=args.notices)
        checks += enqueue["checks"]
        db.execute("VACUUM ANALYZE notifications_notification")

        if args.profile:
            profile_worker(db, env=env, count=args.profile)
            reset_to_pending(db)

        if not args.skip_throughput:
            throughput = time_dispatch(db, env=env, workers=args.workers, total=args.notices)
            checks += throughput["checks"]
        else:
            throughput = None
        if not args.skip_fault:
            reset_to_pending(db)
            fault = fault_run(db, env=env, args=args)
            checks += fault["checks"]
        else:
            fault = None
        print_summary(args, enqueue, throughput, fault, checks)
    return 0 if all(ok for _label, ok, _detail in checks) else 1


# --- Machine and data ---------------------------------------------------------------------------


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def quiet_hours_sql(now: dt.datetime) -> tuple[str, str]:
    """Per time zone, quiet hours from 4 to 12 hours after `now` (local): realistic windows
    that the run itself never falls into."""
    starts, ends = [], []
    for _region, _share, zone in REGIONS:
        local = now.astimezone(zoneinfo.ZoneInfo(zone))
        start = (local.hour + 4) % 24
        end = (local.hour + 12) % 24
        starts.append(f"WHEN '{zone}' THEN time '{start:02d}:00'")
        ends.append(f"WHEN '{zone}' THEN time '{end:02d}:00'")
    return (
        f"CASE x.zone {' '.join(starts)} END",
        f"CASE x.zone {' '.join(ends)} END",
    )


def generate(db, *, now: dt.datetime, count: int, sizes: dict) -> None:
    from psycopg.types.json import Jsonb

    started = time.perf_counter()
    print(f"\ngenerating {count:,} customers and shipments in one incident:")
    db.execute("SELECT setseed(0.5)")
    insert_select(
        db,
        "shipments_carrier",
        "created_at, updated_at, code, name, webhook_secret, tracking_url_template, is_active",
        "SELECT %(now)s, %(now)s, 'BENCH', 'Bench Express', 'secret', "
        "'https://track.example.com/{tracking_number}', true",
        {"now": now},
    )
    carrier = db.execute("SELECT id FROM shipments_carrier WHERE code = 'BENCH'").fetchone()[0]
    insert_select(
        db,
        "shipments_incident",
        "created_at, updated_at, public_id, title, status, cause, carrier_id, hub, window_start, "
        "public_explanation, public_explanation_zh_hans, affected_count, is_automatic, scope_key",
        """SELECT %(now)s, %(now)s, gen_random_uuid(), 'Customs inspection at Leipzig hub',
                  'open', 'customs_hold', %(carrier)s, 'Customs Leipzig', %(start)s,
                  'Customs in Leipzig are inspecting every parcel from one flight; parcels '
                  'move on as soon as they are released.',
                  '莱比锡海关正在检查同一航班的所有包裹，放行后将立即继续运输。',
                  %(count)s, false, ''""",
        {"now": now, "carrier": carrier, "start": now - dt.timedelta(days=2), "count": count},
    )
    incident = db.execute("SELECT id FROM shipments_incident").fetchone()[0]
    region = " ".join(f"WHEN x.r1 < {share} THEN '{name}'" for name, share, _z in REGIONS)
    zone = " ".join(f"WHEN x.r1 < {share} THEN '{tz}'" for _n, share, tz in REGIONS)
    quiet_start, quiet_end = quiet_hours_sql(now)
    insert_select(
        db,
        "customers_customer",
        "created_at, updated_at, public_id, external_ref, name, email, phone, tier, language, "
        "region, country, time_zone, preferred_channel, opt_out_email, opt_out_sms, "
        "opt_out_push, opt_out_phone, quiet_hours_start, quiet_hours_end, lifetime_orders, "
        "lifetime_value, currency",
        f"""
        SELECT %(now)s, %(now)s, gen_random_uuid(), 'BENCH-' || x.g, 'Customer ' || x.g,
               'c' || x.g || '@example.com',
               CASE WHEN x.channel = 'sms' OR x.r4 < 0.5
                    THEN '+4930' || lpad(x.g::text, 8, '0') ELSE '' END,
               {pick("x.r3", TIERS)},
               CASE WHEN x.r5 < 0.3 THEN 'zh-hans' ELSE 'en' END,
               x.region, CASE x.region WHEN 'europe' THEN 'DE' WHEN 'north_america' THEN 'US'
                              WHEN 'asia' THEN 'CN' ELSE 'BR' END,
               x.zone, x.channel,
               x.r6 < 0.002 OR (x.r6 < 0.022 AND x.channel IN ('email', 'phone')),
               x.r6 < 0.002 OR (x.r6 < 0.022 AND x.channel = 'sms'),
               x.r6 < 0.002 OR (x.r6 < 0.022 AND x.channel = 'push'),
               false,
               CASE WHEN x.r7 < 0.3 THEN {quiet_start} END,
               CASE WHEN x.r7 < 0.3 THEN {quiet_end} END,
               floor(x.r8 * 40)::int, 0, 'EUR'
        FROM (
            SELECT g, r1, r3, r4, r5, r6, r7, r8,
                   CASE {region} END AS region, CASE {zone} END AS zone,
                   {pick("r2", CHANNELS)} AS channel
            FROM (
                SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5,
                       random() r6, random() r7, random() r8
                FROM generate_series(1, %(count)s) g OFFSET 0
            ) x
        ) x
        """,
        {"now": now, "count": count},
    )
    insert_select(
        db,
        "shipments_shipment",
        "created_at, updated_at, public_id, carrier_id, tracking_number, order_number, "
        "customer_id, service_level, origin_region, destination_region, status, cause, "
        "order_value, currency, ordered_at, shipped_at, promised_at, predicted_eta, "
        "last_event_at, last_location, location_since, delay_level, delay_cause, delay_rule, "
        "delay_detected_at, incident_id",
        f"""
        SELECT %(now)s, %(now)s, gen_random_uuid(), %(carrier)s,
               'BX' || lpad(c.id::text, 9, '0'), 'ORD-' || c.id, c.id, 'standard', 'CN-SZX',
               'EU-DE', {pick("x.r1", STATUSES)}, 'customs_hold',
               round((10 + 200 * x.r2)::numeric, 2), 'EUR', %(now)s - interval '9 days',
               %(now)s - interval '8 days', %(now)s - interval '1 day',
               CASE WHEN x.r3 < 0.7 THEN %(now)s + (1 + 6 * x.r4) * interval '1 day' END,
               %(now)s - interval '30 hours', 'Customs Leipzig', %(now)s - interval '40 hours',
               {pick("x.r5", LEVELS)}, 'customs_hold', 'bench', %(now)s - interval '1 hour',
               %(incident)s
        FROM (SELECT id, random() r1, random() r2, random() r3, random() r4, random() r5
              FROM customers_customer OFFSET 0) x
        JOIN customers_customer c ON c.id = x.id
        """,
        {"now": now, "carrier": carrier, "incident": incident},
    )
    # 3% heard about their delay 5 hours ago: the frequency cap keeps the incident notice back.
    insert_select(
        db,
        "notifications_notification",
        "public_id, created_at, updated_at, customer_id, shipment_id, kind, channel, language, "
        "level, dedupe_key, status, not_before, next_attempt_at, sent_at, attempts",
        """
        SELECT gen_random_uuid(), %(heard)s, %(heard)s, s.customer_id, s.id, 'delay_notice',
               CASE WHEN c.preferred_channel = 'phone' THEN 'email' ELSE c.preferred_channel END,
               c.language, s.delay_level, 'delay:' || s.id || ':' || s.delay_level, 'sent',
               %(heard)s, %(heard)s, %(heard)s, 1
        FROM shipments_shipment s JOIN customers_customer c ON c.id = s.customer_id
        WHERE random() < 0.03
        """,
        {"heard": now - dt.timedelta(hours=5)},
    )
    db.execute("VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    db.execute("CREATE TABLE bench_meta (generated_at timestamptz, seconds float8, sizes jsonb)")
    db.execute("INSERT INTO bench_meta VALUES (%s, %s, %s)", [now, seconds, Jsonb(sizes)])
    print(f"  generated in {seconds:.1f} s")


def print_data(db) -> None:
    rows = db.execute(
        """
        SELECT (SELECT count(*) FROM customers_customer),
               (SELECT count(*) FROM shipments_shipment),
               (SELECT count(*) FROM notifications_notification),
               (SELECT count(*) FROM notifications_notificationtemplate WHERE is_active)
        """
    ).fetchone()
    print(
        f"data: {rows[0]:,} customers, {rows[1]:,} shipments (one incident), {rows[2]:,} "
        f"notices already sent, {rows[3]} active templates"
    )
    mix = db.execute(
        """
        SELECT preferred_channel, language, count(*),
               count(*) FILTER (WHERE quiet_hours_start IS NOT NULL),
               count(*) FILTER (WHERE opt_out_email OR opt_out_sms OR opt_out_push)
        FROM customers_customer GROUP BY 1, 2 ORDER BY 1, 2
        """
    ).fetchall()
    for channel, language, n, quiet, opted in mix:
        print(f"  {channel:>5} {language:>7}: {n:>7,} ({quiet:,} quiet hours, {opted:,} opt-outs)")


# --- Enqueue ------------------------------------------------------------------------------------


def time_enqueue(db, *, incident_id: int, expected: int) -> dict:
    from notifications.services import incident_notify
    from shipments.models import Incident

    incident = Incident.objects.get(pk=incident_id)
    print(f"\nenqueue (load {load()}):")
    started = time.perf_counter()
    written = incident_notify(incident=incident, by="bench")
    seconds = time.perf_counter() - started
    rows = db.execute(
        "SELECT count(*), count(DISTINCT customer_id) FROM notifications_notification "
        "WHERE incident_id = %s AND kind = 'incident_notice'",
        [incident_id],
    ).fetchone()
    started = time.perf_counter()
    again = incident_notify(incident=incident, by="bench")
    second = time.perf_counter() - started
    print(
        f"  incident_notify: {written:,} notices in {seconds:.2f} s "
        f"({written / seconds:,.0f}/s); rows {rows[0]:,} for {rows[1]:,} customers"
    )
    print(f"  second call: {again} written in {second:.2f} s")
    checks = [
        (
            f"enqueue {expected:,} < {ENQUEUE_TARGET_SECONDS:.0f} s",
            seconds < ENQUEUE_TARGET_SECONDS,
            f"{seconds:.2f} s",
        ),
        (
            "enqueue writes one notice per shipment",
            written == expected and rows[0] == expected and rows[1] == expected,
            f"{written:,} written, {rows[0]:,} rows",
        ),
        ("second enqueue writes 0 (dedupe)", again == 0, f"{again} written"),
    ]
    return {"seconds": seconds, "written": written, "second": second, "checks": checks}


# --- Dispatch -----------------------------------------------------------------------------------


def reset_to_pending(db) -> None:
    """The incident's notices back to their state right after the enqueue, with new references
    (so a rerun's messages are new messages)."""
    db.execute(
        """
        UPDATE notifications_notification
        SET status = 'pending', public_id = gen_random_uuid(), next_attempt_at = not_before,
            claimed_at = NULL, claimed_by = '', sent_at = NULL, attempts = 0,
            provider_message_id = '', recipient = '', subject = '', body = '', last_error = '',
            suppressed_reason = '', channel = CASE WHEN c.preferred_channel = 'phone'
                                                   THEN 'email' ELSE c.preferred_channel END
        FROM customers_customer c
        WHERE c.id = notifications_notification.customer_id
          AND notifications_notification.kind = 'incident_notice'
        """
    )
    db.execute("DELETE FROM notifications_notification WHERE fallback_of_id IS NOT NULL")
    db.execute("VACUUM ANALYZE notifications_notification")
    db.execute("CHECKPOINT")


def outcome_counts(db) -> dict[str, int]:
    return dict(
        db.execute(
            "SELECT status, count(*) FROM notifications_notification "
            "WHERE kind = 'incident_notice' GROUP BY status"
        ).fetchall()
    )


def reasons(db) -> list[tuple[str, int]]:
    return db.execute(
        """
        SELECT regexp_replace(suppressed_reason, '[0-9: -]+UTC$', ' ... UTC'), count(*)
        FROM notifications_notification
        WHERE kind = 'incident_notice' AND status = 'suppressed' GROUP BY 1 ORDER BY 2 DESC
        """
    ).fetchall()


def print_outcomes(db) -> dict[str, int]:
    counts = outcome_counts(db)
    print(f"  outcomes: {dict(sorted(counts.items()))}")
    for reason, n in reasons(db):
        print(f"    suppressed {n:,}: {reason}")
    channels = db.execute(
        "SELECT channel, count(*) FROM notifications_notification "
        "WHERE kind = 'incident_notice' AND status = 'sent' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    print(f"  sent by channel: {dict(channels)}")
    return counts


def time_dispatch(db, *, env: dict, workers: int, total: int) -> dict:
    print(
        f"\ndispatch: {workers} x manage.py dispatch_notifications, no-op backends (load {load()})"
    )
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "dispatch_notifications", "--no-progress"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(workers)
    ]
    outputs = [process.communicate()[0] for process in processes]
    seconds = time.perf_counter() - started
    for number, (process, output) in enumerate(zip(processes, outputs, strict=True), 1):
        print(
            f"  worker {number} (exit {process.returncode}): "
            + output.strip().replace("\n", "\n    ")
        )
    counts = print_outcomes(db)
    finished = sum(counts.get(s, 0) for s in ("sent", "delivered", "suppressed", "failed"))
    left = counts.get("pending", 0) + counts.get("sending", 0)
    rate = finished / seconds
    duplicates = db.execute(
        "SELECT count(*) - count(DISTINCT provider_message_id) FROM notifications_notification "
        "WHERE kind = 'incident_notice' AND status = 'sent'"
    ).fetchone()[0]
    print(
        f"  {finished:,} finished in {seconds:.1f} s wall: {rate:,.0f} notices/s "
        f"(load after {load()})"
    )
    checks = [
        (
            f"dispatch >= {DISPATCH_TARGET_PER_SECOND:,.0f}/s with {workers} workers",
            rate >= DISPATCH_TARGET_PER_SECOND,
            f"{rate:,.0f}/s",
        ),
        (
            "dispatch finishes every row",
            finished == total and left == 0 and all(p.returncode == 0 for p in processes),
            f"{finished:,} finished, {left:,} left",
        ),
        ("dispatch: one provider id per sent row", duplicates == 0, f"{duplicates} shared"),
    ]
    return {"seconds": seconds, "rate": rate, "counts": counts, "checks": checks}


def worker_pids(db) -> Counter:
    return Counter(
        dict(
            db.execute(
                "SELECT claimed_by, count(*) FROM notifications_notification "
                "WHERE status = 'sending' GROUP BY 1"
            ).fetchall()
        )
    )


def fault_run(db, *, env: dict, args) -> dict:
    total = args.notices
    record_dir = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    worker_env = {**env, **RECORDING_BACKENDS, RECORD_DIR_ENV: str(record_dir)}
    log_path = record_dir / "workers.log"
    print(
        f"\nfault run: {args.workers} looping workers, recording no-op backends, {args.kills} "
        f"SIGKILL, claim timeout {args.claim_timeout} s (load {load()})"
    )

    def start():
        return subprocess.Popen(
            [sys.executable, "-c", LOOP_WORKER],
            cwd=ROOT,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def done() -> int:
        return db.execute(
            "SELECT count(*) FROM notifications_notification "
            "WHERE kind = 'incident_notice' AND status NOT IN ('pending', 'sending')"
        ).fetchone()[0]

    with open(log_path, "w") as log:
        started = time.perf_counter()
        workers = [start() for _ in range(args.workers)]
        rng = random.Random(args.seed)
        victim_claims = unmarked = 0
        try:
            deadline = time.monotonic() + 600
            for kill in range(1, args.kills + 1):
                while done() < total * kill // (args.kills + 2) and time.monotonic() < deadline:
                    time.sleep(0.2)
                # A seeded random moment after that, so a kill does not always follow a write.
                time.sleep(rng.uniform(0, 0.2))
                victim = workers.pop(0)  # the oldest live worker
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait(timeout=10)
                killed_at = time.perf_counter() - started
                held = {
                    reference
                    for (reference,) in db.execute(
                        "SELECT public_id::text FROM notifications_notification "
                        "WHERE status = 'sending' AND claimed_by LIKE %s",
                        [f"%:{victim.pid}"],
                    )
                }
                victim_file = record_dir / f"{victim.pid}.log"
                victim_sent = {
                    line.partition(" ")[2]
                    for line in (
                        victim_file.read_text().splitlines() if victim_file.exists() else []
                    )
                }
                victim_claims += len(held)
                unmarked += len(held & victim_sent)
                done_at_kill = done()
                workers.append(start())
                print(
                    f"  kill {kill}: worker {victim.pid} at {killed_at:.1f} s with "
                    f"{done_at_kill:,} done; it held {len(held)} claimed rows, "
                    f"{len(held & victim_sent)} of them sent but not yet marked; replacement "
                    "started"
                )
            while time.monotonic() < deadline:
                left = db.execute(
                    "SELECT count(*) FROM notifications_notification "
                    "WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()"
                ).fetchone()[0]
                if not left:
                    break
                time.sleep(0.5)
            seconds = time.perf_counter() - started
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)

    counts = print_outcomes(db)
    calls: list[tuple[str, str]] = []
    for path in record_dir.glob("*.log"):
        if path.name == "workers.log":
            continue
        for line in path.read_text().splitlines():
            channel, _space, reference = line.partition(" ")
            calls.append((channel, reference))
    per_reference = Counter(reference for _channel, reference in calls)
    raw_repeats = sum(n - 1 for n in per_reference.values())
    rows = db.execute(
        "SELECT public_id::text, customer_id, status FROM notifications_notification "
        "WHERE kind = 'incident_notice'"
    ).fetchall()
    by_reference = {reference: (customer, status) for reference, customer, status in rows}
    sent_refs = {reference for reference, (_c, status) in by_reference.items() if status == "sent"}
    lost = len(sent_refs - set(per_reference))
    unknown = [ref for ref in per_reference if ref not in by_reference]
    phantom = [ref for ref in per_reference if ref in by_reference and ref not in sent_refs]
    per_customer: dict[int, set[str]] = defaultdict(set)
    for reference in per_reference:
        if reference in by_reference:
            per_customer[by_reference[reference][0]].add(reference)
    visible = sum(len(refs) - 1 for refs in per_customer.values())
    left = counts.get("pending", 0) + counts.get("sending", 0)
    finished = total - left
    log_text = log_path.read_text()
    errors = log_text.count("Traceback")
    print(
        f"  finished {finished:,}/{total:,} in {seconds:.1f} s wall (includes the "
        f"{args.claim_timeout} s claim timeout); backend calls {len(calls):,} for "
        f"{len(per_reference):,} references"
    )
    print(
        f"  raw repeats (same reference sent again after the kill): {raw_repeats}; "
        f"customer-visible duplicates: {visible}; sent rows never sent to the backend: {lost}; "
        f"backend calls for rows not marked sent: {len(phantom)}; unknown references: "
        f"{len(unknown)}; tracebacks in the worker log: {errors} (load {load()})"
    )
    if errors:
        print(log_text[-3000:])
    shutil.rmtree(record_dir, ignore_errors=True)
    checks = [
        ("fault run: no row left pending or sending (0 losses)", left == 0, f"{left} left"),
        ("fault run: every sent row reached the backend (0 losses)", lost == 0, f"{lost} lost"),
        (
            "fault run: no backend call for a row not marked sent",
            not phantom and not unknown,
            f"{len(phantom)} + {len(unknown)}",
        ),
        ("fault run: 0 customer-visible duplicates", visible == 0, f"{visible}"),
        (
            "fault run: the raw repeats are the rows sent but not marked at the kill",
            raw_repeats == unmarked,
            f"{raw_repeats} repeats, {unmarked} unmarked",
        ),
    ]
    return {
        "seconds": seconds,
        "raw_repeats": raw_repeats,
        "visible": visible,
        "lost": lost,
        "left": left,
        "victim_claims": victim_claims,
        "unmarked": unmarked,
        "calls": len(calls),
        "counts": counts,
        "checks": checks,
    }


def profile_worker(db, *, env: dict, count: int) -> None:
    """One worker over `count` notices under cProfile (in a subprocess, the workers' settings)."""
    out = Path(tempfile.mkdtemp(prefix="bench-outbox-prof-")) / "worker.prof"
    print(f"\nprofile: one worker, {count:,} notices (load {load()})")
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(out),
            "manage.py",
            "dispatch_notifications",
            "--no-progress",
            "--limit",
            str(count),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    print(f"  {time.perf_counter() - started:.1f} s under the profiler")
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(20)
    shutil.rmtree(out.parent, ignore_errors=True)


# --- Summary ------------------------------------------------------------------------------------


def print_summary(args, enqueue, throughput, fault, checks) -> None:
    print(f"\nsummary ({args.notices:,} notices, {args.workers} workers, load {load()}):")
    print(f"  enqueue: {enqueue['seconds']:.2f} s (second call {enqueue['second']:.2f} s)")
    if throughput:
        print(f"  dispatch: {throughput['rate']:,.0f} notices/s ({throughput['seconds']:.1f} s)")
    if fault:
        print(
            f"  fault run: {fault['left']} lost, {fault['visible']} customer-visible duplicates, "
            f"{fault['raw_repeats']} raw repeats of one reference (the killed workers held "
            f"{fault['victim_claims']} claims, {fault['unmarked']} sent but not marked)"
        )
    for label, ok, detail in checks:
        print(f"  [{'ok' if ok else 'FAILED'}] {label}: {detail}")
    print("checks: " + ("OK" if all(ok for _l, ok, _d in checks) else "FAILED"))


if __name__ == "__main__":
    sys.exit(main())
