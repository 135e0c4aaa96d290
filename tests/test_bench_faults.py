"""The pieces of bench/bench_faults.py that decide its verdicts (the run itself is a script)."""

import pytest

from bench import bench_faults
from bench.bench_faults import Bench, FlakySMSProvider, Record, procfile
from notifications.backends import OutgoingMessage, TemporaryFailure, TwilioSMSBackend

CALLBACK = "https://delaydesk.example.com/api/v1/notifications/receipts/sms/"


def test_it_starts_the_processes_of_procfile_prod():
    commands = procfile(bench_faults.ROOT / "Procfile.prod")

    assert set(commands) == {"web", "worker1", "worker2", "beat"}
    assert commands["worker1"].startswith("python scripts/respawn.py celery -A config worker")


def test_the_provider_outage_times_out_every_request_and_resends_are_counted(monkeypatch):
    monkeypatch.setattr(bench_faults, "PROVIDER_HANG", 0.6)
    with FlakySMSProvider() as provider:
        backend = TwilioSMSBackend(
            **provider.backend_settings(), status_callback=CALLBACK, timeout=0.2
        )
        first = OutgoingMessage(to="+4930000001", body="Late", reference="n-1")
        second = OutgoingMessage(to="+4930000002", body="Late", reference="n-2")
        provider.outage.set()
        for message in (first, second):  # the first is refused, the second accepted, both hang
            with pytest.raises(TemporaryFailure, match="timed out"):
                backend.send(message)
        provider.outage.clear()
        backend.send(first)
        backend.send(second)  # accepted during the outage: a resend the token makes harmless

        tally = provider.tally({"n-1", "n-2"})

    assert tally["requests"] == 4
    assert tally["messages"] == 2
    assert tally["resends"] == 1
    assert tally["tokens_with_two_messages"] == tally["phones_with_two_messages"] == []


def record(started: float, status, seconds: float = 0.01) -> Record:
    return Record("healthz", started, seconds, status)


def test_stretches_are_the_runs_of_unhealthy_answers():
    health = [record(0, 200), record(1, 503), record(2, 503), record(3, 200), record(4, "timeout")]

    assert Bench.stretches(health) == [
        {"from": 1, "to": 2.0, "statuses": {"503": 2}},
        {"from": 4, "to": 4.0, "statuses": {"timeout": 1}},
    ]


@pytest.mark.parametrize(
    ("inside", "verdict"),
    [([503, 503, 503], True), ([503, 200, 503], False), ([503, "timeout"], False), ([], False)],
)
def test_healthz_must_answer_503_throughout_a_refusal(inside, verdict):
    bench = object.__new__(Bench)
    bench.timeline = [
        # An earlier refusal, outside these polls: not judged with them.
        (1.0, "fault: database refuses connections, its sessions terminated"),
        (2.0, "database accepts connections again"),
        (10.0, "fault: database refuses connections, its sessions terminated"),
        (20.0, "database accepts connections again"),
    ]
    # Polls in the first second of the refusal may still find a working connection.
    health = [record(9, 200), record(10.5, 200)]
    health += [record(12 + 2 * n, status) for n, status in enumerate(inside)]
    health += [record(21, 200)]

    assert bench.healthz_saw_refusal(health) is verdict
