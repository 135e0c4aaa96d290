"""bench/locustfile.py, the load mix of bench/bench_load.py, checked against the app.

The locustfile is imported in a subprocess: importing locust monkey-patches the interpreter with
gevent, which the test process must not get. The subprocess prints what the tests need (its user
classes, a signed webhook batch, its loopback verdicts) as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine

from bench import bench_load
from shipments.ingest import webhook_signature
from shipments.models import CarrierStatusMapping, TrackingEvent
from tests import factories

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
SECRET = "bench-load-test-secret"
NUMBERS = ["LOADTEST001", "LOADTEST002", "LOADTEST003"]
HOSTS = {
    "http://127.0.0.1:8000": True,
    "http://127.0.0.7:8000": True,
    "http://localhost:8000": True,
    "http://[::1]:8000": True,
    "http://10.0.0.5:8000": False,
    "http://192.168.1.10": False,
    "https://delaydesk.example.com": False,
    "": False,
}

PROBE = """
import datetime as dt, json, random, sys
from bench import locustfile as lf
args = json.loads(sys.argv[1])
body, ids = lf.webhook_batch(
    carrier="bench1", tracking_numbers=args["numbers"], size=20, prefix="LOAD-test-0-0",
    rng=random.Random(1), now=dt.datetime.fromisoformat(args["now"]),
)
users = (lf.AgentUser, lf.CarrierUser, lf.CustomerUser, lf.SupervisorUser)
print(json.dumps({
    "users": {u.__name__: {"count": u.fixed_count, "tasks": len(u.tasks), "abstract": u.abstract}
              for u in users},
    "body": body.decode(),
    "ids": ids,
    "headers": lf.webhook_headers(args["secret"], body, now=args["timestamp"]),
    "loopback": {host: lf.is_loopback(host) for host in args["hosts"]},
    "codes": [code for code, _ in lf.SCAN_CODES],
}))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELAYDESK_LOAD_")}
    env["DELAYDESK_LOAD_AGENTS"] = "3"  # the class sizes come from the environment
    args = {
        "numbers": NUMBERS,
        "now": NOW.isoformat(),
        "secret": SECRET,
        "timestamp": NOW.timestamp(),
        "hosts": list(HOSTS),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_user_classes_exist_with_tasks_and_sizes_from_the_environment(probe):
    users = probe["users"]
    assert set(users) == {"AgentUser", "CarrierUser", "CustomerUser", "SupervisorUser"}
    assert all(user["tasks"] >= 1 and not user["abstract"] for user in users.values())
    assert users["AgentUser"]["count"] == 3
    assert users["CarrierUser"]["count"] == 4  # the default


def test_only_loopback_hosts_are_targets(probe):
    assert probe["loopback"] == HOSTS
    for host, allowed in HOSTS.items():
        if host:
            assert bench_load.is_loopback(host) is allowed


def test_signature_is_the_apps(probe):
    body = probe["body"].encode()
    assert probe["headers"]["X-Signature"] == webhook_signature(secret=SECRET, body=body)
    assert probe["headers"]["X-Timestamp"] == str(int(NOW.timestamp()))


def test_every_scan_code_is_mapped_by_the_driver(probe):
    assert set(probe["codes"]) <= set(bench_load.MAPPINGS)


@pytest.mark.django_db
def test_the_app_accepts_and_stores_a_batch_of_the_locustfile(client, probe):
    carrier = factories.CarrierFactory(code="bench1", webhook_secret=SECRET)
    CarrierStatusMapping.objects.bulk_create(
        CarrierStatusMapping(carrier=carrier, carrier_code=code, status=status, cause=cause)
        for code, (status, cause, _) in bench_load.MAPPINGS.items()
    )
    for number in NUMBERS:
        factories.ShipmentFactory(carrier=carrier, tracking_number=number)

    with time_machine.travel(NOW, tick=False):
        response = client.post(
            "/api/v1/tracking-events/",
            data=probe["body"].encode(),
            content_type="application/json",
            headers={k: v for k, v in probe["headers"].items() if k != "Content-Type"},
        )

    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["accepted"] == 20
    assert answer["unknown_tracking_numbers"] == []
    assert answer["unmapped_status_codes"] == {}
    stored = TrackingEvent.objects.filter(carrier=carrier).values_list(
        "carrier_event_id", flat=True
    )
    assert sorted(stored) == sorted(probe["ids"])
