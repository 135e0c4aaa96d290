"""The carrier webhook: signature, freshness, validation, idempotency and shipment state."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from core.outside_input import outside_time_window
from shipments import ingest, serializers
from shipments.ingest import EventIn, tracking_events_ingest, webhook_signature
from shipments.models import Shipment, TrackingEvent
from tests import factories
from tests.shipments.conftest import NOW, SECRET, WEBHOOK_URL, event

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
WINDOW = outside_time_window(received_at=NOW)


def stored_ids() -> list[str]:
    return sorted(TrackingEvent.objects.values_list("carrier_event_id", flat=True))


# --- Accepted batches -----------------------------------------------------------------------


def test_a_valid_batch_is_accepted_stored_and_moves_the_shipment(post_events, shipment):
    response = post_events(
        [
            event("e1", at=NOW - 20 * HOUR, status="IR", location="Shenzhen"),
            event("e2", at=NOW - 2 * HOUR, status="AR", location="Leipzig hub"),
        ]
    )

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "unknown_tracking_numbers": [],
        "unmapped_status_codes": {},
    }
    stored = TrackingEvent.objects.get(carrier_event_id="e2")
    assert (stored.shipment, stored.carrier_code, stored.status, stored.cause) == (
        shipment,
        "AR",
        "in_transit",
        "none",
    )
    assert stored.received_at == NOW
    shipment.refresh_from_db()
    assert shipment.status == "in_transit"
    assert shipment.last_event_at == NOW - 2 * HOUR
    assert shipment.last_location == "Leipzig hub"
    assert shipment.location_since == NOW - 2 * HOUR
    assert shipment.delivered_at is None


def test_the_carrier_status_code_brings_its_cause(post_events, shipment):
    post_events([event("e1", status="CH", location="Leipzig customs")])

    shipment.refresh_from_db()
    assert (shipment.status, shipment.cause) == ("exception", "customs_hold")


def test_a_delivery_event_sets_delivered_at(post_events, shipment):
    post_events(
        [
            event("e1", at=NOW - 5 * HOUR, status="OD", location="Berlin depot"),
            event("e2", at=NOW - HOUR, status="DL", location="Berlin"),
        ]
    )

    shipment.refresh_from_db()
    assert shipment.status == "delivered"
    assert shipment.delivered_at == NOW - HOUR


def test_an_offset_other_than_utc_is_stored_as_the_same_instant(post_events, shipment):
    post_events([event("e1", at="2026-11-02T15:30:00+08:00")])

    assert TrackingEvent.objects.get().occurred_at == dt.datetime(2026, 11, 2, 7, 30, tzinfo=dt.UTC)


def test_the_webhook_needs_no_csrf_token_nor_session(shipment, frozen_now):
    body = json.dumps({"carrier": "acme", "events": [event("e1")]}).encode()
    response = Client(enforce_csrf_checks=True).post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        headers={
            "X-Signature": webhook_signature(secret=SECRET, body=body),
            "X-Timestamp": str(int(NOW.timestamp())),
        },
    )

    assert response.status_code == 202


def test_the_webhook_refuses_get(client, carrier):
    assert client.get(WEBHOOK_URL).status_code == 405


# --- Duplicates and unknown tracking numbers ---------------------------------------------------


def test_a_redelivered_batch_stores_nothing_and_answers_duplicates(post_events, shipment):
    batch = [event("e1", at=NOW - 3 * HOUR), event("e2", at=NOW - 2 * HOUR)]
    post_events(batch)

    response = post_events(batch)

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 0,
        "duplicates": 2,
        "unknown_tracking_numbers": [],
        "unmapped_status_codes": {},
    }
    assert stored_ids() == ["e1", "e2"]


def test_a_partly_redelivered_batch_stores_only_the_new_events(post_events, shipment):
    post_events([event("e1")])

    response = post_events([event("e1"), event("e2")])

    assert response.json() == {
        "accepted": 1,
        "duplicates": 1,
        "unknown_tracking_numbers": [],
        "unmapped_status_codes": {},
    }
    assert stored_ids() == ["e1", "e2"]


def test_an_event_repeated_inside_one_batch_is_stored_once(post_events, shipment):
    response = post_events([event("e1"), event("e1"), event("e2")])

    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "unknown_tracking_numbers": [],
        "unmapped_status_codes": {},
    }
    assert stored_ids() == ["e1", "e2"]


def test_the_same_event_id_at_two_carriers_is_two_events(post_events, shipment, carrier):
    other = factories.ShipmentFactory(tracking_number="OTHER1")
    factories.TrackingEventFactory(shipment=other, carrier_event_id="e1")

    response = post_events([event("e1")])

    assert response.json()["accepted"] == 1
    assert TrackingEvent.objects.filter(carrier=carrier).count() == 1


def test_unknown_tracking_numbers_are_reported_sorted_once_and_not_stored(post_events, shipment):
    # A tracking number another carrier has is still unknown to this one.
    factories.ShipmentFactory(tracking_number="ZZ-OTHER-CARRIER")
    response = post_events(
        [
            event("e1", "ZZ-OTHER-CARRIER"),
            event("e2", "NOPE2"),
            event("e3", "NOPE1"),
            event("e4", "NOPE1"),
            event("e5"),
        ]
    )

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "unknown_tracking_numbers": ["NOPE1", "NOPE2", "ZZ-OTHER-CARRIER"],
        "unmapped_status_codes": {},
    }
    assert stored_ids() == ["e5"]


# --- Signature and timestamp -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        ({"secret": "not-the-secret"}, ingest.SIGNATURE_MISMATCH),
        ({"omit": ("X-Signature",)}, ingest.SIGNATURE_MISSING),
        ({"signature": "md5=0123456789abcdef"}, ingest.SIGNATURE_MALFORMED),
        ({"signature": "sha256=" + "z" * 64}, ingest.SIGNATURE_MALFORMED),
        ({"signature": "0" * 64}, ingest.SIGNATURE_MALFORMED),
        ({"carrier_code": "nobody"}, ingest.UNKNOWN_CARRIER),
        ({"omit": ("X-Timestamp",)}, ingest.TIMESTAMP_MISSING),
        ({"timestamp": "yesterday"}, ingest.TIMESTAMP_MALFORMED),
    ],
    ids=[
        "wrong-secret",
        "missing-signature",
        "other-algorithm",
        "not-hex",
        "no-prefix",
        "unknown-carrier",
        "missing-timestamp",
        "malformed-timestamp",
    ],
)
def test_an_unproven_request_is_refused_with_401_and_stores_nothing(
    post_events, shipment, spoil, message
):
    response = post_events([event("e1")], **spoil)

    assert response.status_code == 401
    assert response.json() == {
        "detail": str(message),
        "code": "authentication_failed",
        "errors": {},
    }
    assert response["WWW-Authenticate"].startswith("Signature")
    assert not TrackingEvent.objects.exists()


def test_a_signature_over_other_bytes_is_refused(post_events, shipment):
    signed = json.dumps({"carrier": "acme", "events": [event("e1")]}).encode()
    tampered = signed.replace(b'"AR"', b'"DL"')

    response = post_events(body=tampered, signature=webhook_signature(secret=SECRET, body=signed))

    assert response.status_code == 401
    assert not TrackingEvent.objects.exists()


def test_an_inactive_carrier_is_refused(post_events, shipment, carrier):
    carrier.is_active = False
    carrier.save()

    assert post_events([event("e1")]).status_code == 401


@pytest.mark.parametrize(
    ("age_seconds", "status_code", "message"),
    [
        (5 * 60 - 1, 202, None),
        (5 * 60, 202, None),
        (5 * 60 + 1, 401, ingest.TIMESTAMP_STALE),
        (-(5 * 60 - 1), 202, None),
        (-(5 * 60 + 1), 401, ingest.TIMESTAMP_FUTURE),
    ],
    ids=["4m59s-old", "5m-old", "5m01s-old", "4m59s-ahead", "5m01s-ahead"],
)
def test_the_timestamp_must_be_within_five_minutes(
    post_events, shipment, age_seconds, status_code, message
):
    response = post_events([event("e1")], timestamp=int(NOW.timestamp()) - age_seconds)

    assert response.status_code == status_code
    if message:
        assert response.json()["detail"] == str(message)
        assert not TrackingEvent.objects.exists()


# --- Malformed batches: 400, nothing stored ----------------------------------------------------


def _without(item: dict, field: str) -> dict:
    return {key: value for key, value in item.items() if key != field}


@pytest.mark.parametrize(
    ("second", "field", "message"),
    [
        (_without(event("e2"), "occurred_at"), "occurred_at", "This field is required."),
        (_without(event("e2"), "event_id"), "event_id", "This field is required."),
        (event("e2", at="2026-11-02T08:00:00"), "occurred_at", str(serializers.NAIVE_DATETIME)),
        (event("e2", at="last tuesday"), "occurred_at", "Not an ISO 8601 date and time"),
        (event("e2", at="9999-12-31T23:00:00-05:00"), "occurred_at", "more than 24 hours"),
        (event("e2", location="x" * 201), "location", "no more than 200 characters"),
    ],
    ids=["missing-occurred_at", "missing-event_id", "naive", "not-a-date", "year-9999", "long"],
)
def test_an_invalid_event_refuses_the_whole_batch_with_its_index(
    post_events, shipment, second, field, message
):
    response = post_events([event("e1"), second, event("e3")])

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [f"events.1.{field}"]
    assert message in errors[f"events.1.{field}"][0]
    assert not TrackingEvent.objects.exists()
    shipment.refresh_from_db()
    assert shipment.last_event_at is None


def test_an_empty_batch_is_refused(post_events, shipment):
    response = post_events([])

    assert response.status_code == 400
    assert response.json()["errors"] == {"events": [str(serializers.EMPTY_BATCH)]}


def test_a_batch_over_1000_events_is_refused_and_nothing_stored(post_events, shipment):
    response = post_events([event(f"e{n}") for n in range(1001)])

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "events": [str(serializers.TOO_MANY_EVENTS.format(max=1000, count=1001))]
    }
    assert not TrackingEvent.objects.exists()


def test_a_batch_of_exactly_1000_events_is_accepted(post_events, shipment):
    response = post_events([event(f"e{n}") for n in range(1000)])

    assert response.json()["accepted"] == 1000


def test_events_that_are_not_a_list_are_refused(post_events, shipment):
    response = post_events(body=json.dumps({"carrier": "acme", "events": {"a": 1}}).encode())

    assert response.status_code == 400
    assert "events" in response.json()["errors"]


def test_a_signed_body_that_is_not_json_is_refused_with_400(post_events, shipment):
    response = post_events(body=b'{"carrier": "acme", "events": [')

    assert response.status_code == 400
    assert response.json()["detail"] == "The body is not JSON."
    assert not TrackingEvent.objects.exists()


def test_a_body_that_names_no_carrier_is_refused_with_401_before_parsing(post_events, shipment):
    # Whose secret would sign it? Nothing to check the signature with: not parsed at all.
    response = post_events(body=b"carrier=acme&events=1")

    assert response.status_code == 401
    assert response.json()["detail"] == str(ingest.UNKNOWN_CARRIER)


# --- Out-of-order events -----------------------------------------------------------------------


def test_an_older_event_arriving_late_does_not_roll_the_status_back(post_events, shipment):
    post_events([event("late-but-new", at=NOW - HOUR, status="OD", location="Berlin depot")])

    post_events([event("early-but-old", at=NOW - 30 * HOUR, status="AR", location="Leipzig hub")])

    shipment.refresh_from_db()
    assert shipment.status == "out_for_delivery"
    assert shipment.last_event_at == NOW - HOUR
    assert shipment.last_location == "Berlin depot"
    assert shipment.location_since == NOW - HOUR
    assert TrackingEvent.objects.count() == 2


def test_location_since_is_the_first_scan_of_the_latest_stay(post_events, shipment):
    post_events([event("b2", at=NOW - 1 * HOUR, location="Berlin depot")])
    post_events(
        [
            event("l1", at=NOW - 20 * HOUR, location="Leipzig hub"),
            event("b1", at=NOW - 3 * HOUR, location="Berlin depot"),
            event("l2", at=NOW - 10 * HOUR, location="Leipzig hub"),
        ]
    )

    shipment.refresh_from_db()
    assert shipment.last_location == "Berlin depot"
    assert shipment.location_since == NOW - 3 * HOUR


def test_a_late_scan_elsewhere_inside_a_stay_restarts_it(post_events, shipment):
    post_events(
        [
            event("l1", at=NOW - 30 * HOUR, location="Leipzig hub"),
            event("l3", at=NOW - 2 * HOUR, location="Leipzig hub"),
        ]
    )
    # The parcel was in fact trucked out and back: the stay at Leipzig began again after it.
    post_events([event("t1", at=NOW - 10 * HOUR, location="Halle depot")])

    shipment.refresh_from_db()
    assert shipment.last_location == "Leipzig hub"
    assert shipment.location_since == NOW - 2 * HOUR


def test_a_scan_without_a_place_keeps_the_hub_hold_clock(post_events, shipment):
    post_events(
        [
            event("l1", at=NOW - 30 * HOUR, location="Leipzig hub"),
            event("c1", at=NOW - 2 * HOUR, status="CH", location=""),
        ]
    )

    shipment.refresh_from_db()
    assert (shipment.status, shipment.cause) == ("exception", "customs_hold")
    assert shipment.last_event_at == NOW - 2 * HOUR
    assert shipment.last_location == "Leipzig hub"
    assert shipment.location_since == NOW - 30 * HOUR


def test_a_scan_after_delivery_clears_delivered_at(post_events, shipment):
    post_events([event("d1", at=NOW - 5 * HOUR, status="DL", location="Berlin")])
    post_events([event("o1", at=NOW - HOUR, status="OD", location="Berlin depot")])

    shipment.refresh_from_db()
    assert shipment.status == "out_for_delivery"
    assert shipment.delivered_at is None


def test_other_shipments_are_left_alone(post_events, shipment, carrier):
    bystander = factories.ShipmentFactory(carrier=carrier, tracking_number="ACME0002")
    before = Shipment.objects.values().get(pk=bystander.pk)

    post_events([event("e1")])

    assert Shipment.objects.values().get(pk=bystander.pk) == before


# --- A constant number of queries --------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 100])
def test_a_batch_costs_the_same_queries_whatever_its_size(
    post_events, carrier, django_assert_num_queries, size, no_rate_limits
):
    numbers = [f"Q{size}-{n}" for n in range(size)]
    for number in numbers:
        factories.ShipmentFactory(carrier=carrier, tracking_number=number, lane=None)
    factories.TrackingEventFactory(
        shipment=Shipment.objects.get(tracking_number=numbers[0]), carrier_event_id="old-0"
    )
    batch = [event("old-0", numbers[0])] + [
        event(f"new-{n}", number, at=NOW - n * dt.timedelta(minutes=1))
        for n, number in enumerate(numbers)
    ]

    # 1 carrier by code, 2 its status mappings, 3 SAVEPOINT (the test runs in a transaction),
    # 4 the shipments by tracking number, 5 event ids already stored, 6 INSERT ... ON
    # CONFLICT DO NOTHING, 7 lock the shipments that got events, 8 the set-based UPDATE of
    # their state (SQLite has no row locks: no 7), 9 delivered notices for the told customers
    # (one INSERT ... SELECT), 10 RELEASE SAVEPOINT.
    with django_assert_num_queries(10 if connection.features.has_select_for_update else 9):
        response = post_events(batch)

    assert response.json() == {
        "accepted": size,
        "duplicates": 1,
        "unknown_tracking_numbers": [],
        "unmapped_status_codes": {},
    }


def test_a_fully_duplicate_batch_skips_the_insert_and_the_update(
    post_events, shipment, django_assert_num_queries, no_rate_limits
):
    post_events([event("e1")])

    # carrier, mappings, SAVEPOINT, shipments, stored ids, RELEASE SAVEPOINT.
    with django_assert_num_queries(6):
        post_events([event("e1")])


# --- The service itself ------------------------------------------------------------------------


def _event_in(event_id: str, tracking_number: str = "ACME0001") -> EventIn:
    return EventIn(
        event_id=event_id,
        tracking_number=tracking_number,
        occurred_at=NOW - HOUR,
        carrier_code="AR",
        status="in_transit",
        cause="none",
        location="Leipzig hub",
    )


def test_the_service_counts_every_event_once(carrier, shipment):
    result = tracking_events_ingest(
        carrier=carrier,
        events=[_event_in("a"), _event_in("a"), _event_in("b", "NOPE")],
        received_at=NOW,
    )

    assert (result.accepted, result.duplicates, result.unknown_tracking_numbers) == (
        1,
        1,
        ["NOPE"],
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_store_each_event_once_and_both_succeed(carrier, shipment):
    events = [_event_in(f"race-{n}") for n in range(200)]
    results, errors = [], []
    start = threading.Barrier(4)

    def deliver():
        try:
            start.wait()
            results.append(tracking_events_ingest(carrier=carrier, events=events, received_at=NOW))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(result.accepted for result in results) == 200
    assert sum(result.duplicates for result in results) == 600
    assert TrackingEvent.objects.count() == 200


# --- The fast validation path agrees with the serializer ---------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        event("plain"),
        event("offset", at="2026-11-02T15:30:00.123456+08:00"),
        event("zulu", at="2026-11-02T07:30:00Z"),
        event("chinese", location="深圳宝安集散中心", description="快件已到达"),
        _without(_without(event("bare"), "location"), "description"),
        event("x" * 128, "y" * 64, location="l" * 200, description="d" * 500),
        event("unmapped", status="ZZ"),
        event("window-edges", at="2000-01-01T00:00:00Z"),
        event("a-day-ahead", at=(NOW + dt.timedelta(hours=24)).isoformat()),
    ],
    ids=[
        "plain",
        "offset",
        "zulu",
        "non-ascii",
        "optional-fields-left-out",
        "longest",
        "unmapped",
        "year-2000",
        "a-day-ahead",
    ],
)
def test_the_fast_path_accepts_what_the_serializer_accepts_and_the_same_way(carrier, item):
    mappings = ingest.carrier_status_mappings(carrier=carrier)
    by_serializer = serializers.TrackingEventInSerializer(
        context={"status_mappings": mappings, "received_at": NOW}
    )

    fast = serializers.event_fast_validate(item, status_mappings=mappings, window=WINDOW)

    assert fast is not None
    assert fast == by_serializer.run_validation(item)


@pytest.mark.parametrize(
    "item",
    [
        event(" padded "),
        event(""),
        event("nul\x00"),
        event("surrogate\ud800"),
        event("naive", at="2026-11-02T07:30:00"),
        event("date-only", at="2026-11-02"),
        event("year-9999", at="9999-12-31T23:00:00-05:00"),
        event("year-1", at="0001-01-01T00:00:00+01:00"),
        event("before-2000", at="1999-12-31T23:59:59Z"),
        event("over-a-day-ahead", at=(NOW + dt.timedelta(hours=24, seconds=1)).isoformat()),
        event("x" * 129),
        {**event("number"), "event_id": 12345},
        {**event("null-location"), "location": None},
        "not an object",
    ],
)
def test_the_fast_path_leaves_anything_unusual_to_the_serializer(carrier, item):
    mappings = ingest.carrier_status_mappings(carrier=carrier)

    assert serializers.event_fast_validate(item, status_mappings=mappings, window=WINDOW) is None


def test_the_serializer_still_accepts_what_the_fast_path_declines(post_events, shipment):
    response = post_events([event(" e1 "), {**event("e2"), "event_id": 7}])

    assert response.status_code == 202
    assert stored_ids() == ["7", "e1"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_for_one_parcel_leave_it_at_its_latest_scan(carrier, shipment):
    start = threading.Barrier(6)
    errors = []

    def deliver(hours_ago: int):
        try:
            start.wait()
            scan = EventIn(
                event_id=f"scan-{hours_ago}",
                tracking_number="ACME0001",
                occurred_at=NOW - hours_ago * HOUR,
                carrier_code="AR",
                status="in_transit",
                cause="none",
                location=f"Hub {hours_ago}",
            )
            tracking_events_ingest(carrier=carrier, events=[scan], received_at=NOW)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(hours,)) for hours in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    shipment.refresh_from_db()
    assert (shipment.last_event_at, shipment.last_location) == (NOW - HOUR, "Hub 1")
    assert shipment.location_since == NOW - HOUR


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_aborted_to_break_a_deadlock_is_run_again_and_stored(carrier, shipment, caplog):
    """Another writer (as the detection pass's UPDATE does) holds the second parcel, then wants
    the first, which the batch has locked: PostgreSQL aborts one side. The batch stored nothing
    and runs again once the other side is done (found by bench/bench_load.py: a 500)."""
    second = factories.ShipmentFactory(carrier=carrier, tracking_number="ACME0002")
    assert shipment.pk < second.pk
    holding = threading.Event()
    errors = []

    def other_writer():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM shipments_shipment WHERE id = %s FOR UPDATE", [second.pk]
                )
                holding.set()
                time.sleep(0.3)  # the batch has locked the first parcel and waits for us
                cursor.execute(
                    "SELECT id FROM shipments_shipment WHERE id = %s FOR UPDATE", [shipment.pk]
                )
                time.sleep(0.2)
        except Exception as exc:  # the deadlock's other victim: surfaced below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    holding.wait(5)
    scans = [
        EventIn(
            event_id=f"scan-{number}",
            tracking_number=number,
            occurred_at=NOW - HOUR,
            carrier_code="AR",
            status="in_transit",
            cause="none",
            location="Leipzig hub",
        )
        for number in ("ACME0001", "ACME0002")
    ]
    with caplog.at_level("WARNING", logger="shipments.ingest"):
        result = tracking_events_ingest(carrier=carrier, events=scans, received_at=NOW)
    thread.join()

    assert result.accepted == 2
    assert stored_ids() == ["scan-ACME0001", "scan-ACME0002"]
    # One side was aborted: the batch (run again) or the other writer; PostgreSQL picks the
    # one whose deadlock check runs first, the batch's, which waited first.
    assert len(errors) + caplog.text.count("aborted by the database (40P01)") == 1
