"""Outside input is checked before it is trusted: body size, signature and JSON depth before
parsing, a sane window for every outside time, and unknown carrier status codes kept unmapped
until an operator maps them (issue 11)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import core.outside_input
from core.outside_input import (
    MAX_JSON_DEPTH,
    json_carrier_code,
    json_loads_bounded,
    json_too_deep,
    outside_time_error,
)
from shipments import ingest
from shipments.imports import RowInvalid, shipment_row_parse
from shipments.ingest import EventIn, tracking_events_ingest, unmapped_events_apply
from shipments.models import (
    CarrierStatusMapping,
    Shipment,
    TrackingEvent,
    UnmappedStatusCode,
)
from tests import factories
from tests.shipments.conftest import NOW, event

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
# Far deeper than Python's recursion limit: json.loads on it raises RecursionError.
VERY_DEEP = 200_000


@pytest.fixture
def json_loads_spy(monkeypatch):
    """Records every json.loads of more than a short string (a parse of the body)."""
    calls = []
    real = json.loads

    def spy(text, *args, **kwargs):
        if len(text) > 64:
            calls.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(core.outside_input.json, "loads", spy)
    return calls


def deep_body(depth: int = VERY_DEEP) -> bytes:
    return b'{"carrier": "acme", "events": ' + b"[" * depth + b"]" * depth + b"}"


# --- Size, signature and depth before parsing ----------------------------------------------


def test_a_signed_body_nested_very_deep_is_refused_with_400_without_being_parsed(
    post_events, shipment, json_loads_spy
):
    response = post_events(body=deep_body())

    assert json_loads_spy == []
    assert response.status_code == 400
    assert response.json() == {
        "detail": str(core.outside_input.JSON_TOO_DEEP.format(depth=MAX_JSON_DEPTH)),
        "code": "parse_error",
        "errors": {},
    }
    assert not TrackingEvent.objects.exists()


def test_an_unsigned_body_nested_very_deep_is_refused_with_401_without_being_parsed(
    post_events, shipment, json_loads_spy
):
    response = post_events(body=deep_body(), secret="not-the-secret")

    assert json_loads_spy == []
    assert response.status_code == 401
    assert response.json()["detail"] == str(ingest.SIGNATURE_MISMATCH)


def test_a_body_naming_no_carrier_nested_very_deep_is_refused_with_401(post_events, shipment):
    response = post_events(body=b"[" * VERY_DEEP)

    assert response.status_code == 401
    assert response.json()["detail"] == str(ingest.UNKNOWN_CARRIER)


def test_a_body_as_deep_as_allowed_is_parsed(post_events, shipment):
    # {"events": [ ... ]} is 2 levels; the extra object nests to exactly the limit.
    nested = {"x": 1}
    for _ in range(MAX_JSON_DEPTH - 4):
        nested = {"x": nested}
    body = json.dumps({"carrier": "acme", "events": [{**event("e1"), "extra": nested}]})

    response = post_events(body=body.encode())

    assert response.status_code == 202
    assert response.json()["accepted"] == 1


def test_an_oversized_body_is_refused_with_413_before_its_signature_is_checked(
    post_events, shipment, settings, monkeypatch
):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048

    def must_not_run(**kwargs):
        raise AssertionError("the signature of an oversized body was checked")

    monkeypatch.setattr("shipments.api.webhook_request_verify", must_not_run)
    body = json.dumps({"carrier": "acme", "events": [event(f"e{n}") for n in range(30)]})
    assert len(body) > 2048

    response = post_events(body=body.encode(), secret="not-the-secret")

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert not TrackingEvent.objects.exists()


def test_the_default_size_limit_takes_a_batch_of_1000_large_events(post_events, shipment):
    batch = [event(f"{n:0>128}", location="l" * 200, description="d" * 500) for n in range(1000)]

    response = post_events(batch)

    assert response.status_code == 202
    assert response.json()["accepted"] == 1000


def test_a_body_whose_second_carrier_key_differs_from_the_signer_is_refused(post_events, shipment):
    factories.CarrierFactory(code="other", webhook_secret="other-secret")
    body = b'{"carrier": "acme", "events": [], "carrier": "other"}'

    response = post_events(body=body)

    assert response.status_code == 400
    assert "carrier" in response.json()["errors"]


def test_every_json_body_of_the_api_is_depth_checked_before_parsing(
    integration_api, carrier, json_loads_spy
):
    body = b'{"customer": ' + b"[" * VERY_DEEP + b"]" * VERY_DEEP + b"}"

    response = integration_api.post("/api/v1/shipments/", body, content_type="application/json")

    assert json_loads_spy == []
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not Shipment.objects.exists()


def test_the_depth_scan_ignores_brackets_inside_strings():
    text = "[" * 100 + '\\"' + "{" * 100
    body = json.dumps({"carrier": "acme", "events": [{"description": text}]}).encode()

    assert not json_too_deep(body)
    assert json_too_deep(b"[" * (MAX_JSON_DEPTH + 1))
    assert not json_too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)


def test_the_carrier_is_read_from_the_raw_body():
    assert json_carrier_code(b'{"carrier" : "acme", "events": []}') == "acme"
    assert json_carrier_code(b'{"events": [], "carrier": "ac\\u006de"}') == "acme"
    assert json_carrier_code(b'{"carrier": 7}') is None
    assert json_carrier_code(b"carrier=acme") is None


def test_bounded_parsing_refuses_what_would_raise_recursion_error():
    with pytest.raises(Exception) as refused:
        json_loads_bounded(b"[" * VERY_DEEP)

    assert refused.value.status_code == 400


# --- Times from outside ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("9999-12-31T23:00:00-05:00", "more than 24 hours"),
        ("9999-12-31T23:59:59+00:00", "more than 24 hours"),
        ("0001-01-01T00:00:00+01:00", "before 2000"),
        ("0001-01-01T00:00:00Z", "before 2000"),
        ("1999-12-31T23:59:59Z", "before 2000"),
        ((NOW + 24 * HOUR + dt.timedelta(seconds=1)).isoformat(), "more than 24 hours"),
    ],
    ids=["year-9999-west", "year-9999", "year-1-east", "year-1", "1999", "a-day-and-a-second"],
)
def test_an_impossible_time_is_a_field_error_on_its_event_and_nothing_is_stored(
    post_events, shipment, at, message
):
    response = post_events([event("e1"), event("e2"), event("impossible", at=at), event("e4")])

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["events.2.occurred_at"]
    assert message in errors["events.2.occurred_at"][0]
    # The contract: an invalid batch stores nothing; the carrier resends it without the event.
    assert not TrackingEvent.objects.exists()
    shipment.refresh_from_db()
    assert shipment.last_event_at is None


def test_the_rest_of_the_batch_is_accepted_once_the_impossible_event_is_left_out(
    post_events, shipment
):
    post_events([event("e1"), event("impossible", at="9999-01-01T00:00:00Z")])

    response = post_events([event("e1")])

    assert response.status_code == 202
    assert response.json()["accepted"] == 1


def test_the_window_edges_are_accepted(post_events, shipment):
    response = post_events(
        [event("first", at="2000-01-01T00:00:00Z"), event("ahead", at=NOW + 24 * HOUR)]
    )

    assert response.status_code == 202
    assert response.json()["accepted"] == 2


def test_the_window_follows_its_settings(post_events, shipment, settings):
    settings.OUTSIDE_TIME_MIN_YEAR = 2026
    settings.OUTSIDE_TIME_MAX_AHEAD_HOURS = 1

    response = post_events([event("e1", at="2025-12-31T23:59:59Z"), event("e2", at=NOW + 2 * HOUR)])

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "before 2026" in errors["events.0.occurred_at"][0]
    assert "more than 1 hours" in errors["events.1.occurred_at"][0]


def test_one_shared_check_decides_for_facts_and_promises():
    assert outside_time_error(NOW + 2 * HOUR, received_at=NOW) is None
    assert outside_time_error(NOW + 25 * HOUR, received_at=NOW) is not None
    assert outside_time_error(NOW + 300 * 24 * HOUR, received_at=NOW, kind="promise") is None
    assert outside_time_error(NOW + 400 * 24 * HOUR, received_at=NOW, kind="promise") is not None
    far_west = dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(-dt.timedelta(hours=5)))
    assert outside_time_error(far_west, received_at=NOW, kind="promise") is not None


@pytest.fixture
def integration_api(integration_user) -> APIClient:
    token = Token.objects.create(user=integration_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def new_shipment(**changes) -> dict:
    return {
        "carrier": "acme",
        "tracking_number": "NEW-0001",
        "order_number": "SHOP-9001",
        "customer": {"external_ref": "SHOP-C-77", "name": "Lena Weber"},
        "origin_region": "CN-GD",
        "destination_region": "DE-BE",
        "ordered_at": (NOW - 48 * HOUR).isoformat(),
        "shipped_at": (NOW - 24 * HOUR).isoformat(),
        "promised_at": (NOW + 10 * 24 * HOUR).isoformat(),
        **changes,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("promised_at", "9999-12-31T23:00:00-05:00"),
        ("promised_at", "0001-01-01T00:00:00+01:00"),
        ("ordered_at", "9999-12-31T23:00:00Z"),
        ("ordered_at", "1970-01-01T00:00:00Z"),
        ("shipped_at", (NOW + 25 * HOUR).isoformat()),
    ],
)
def test_the_shipments_api_refuses_impossible_times_with_a_field_error(
    integration_api, carrier, frozen_now, field, value
):
    response = integration_api.post("/api/v1/shipments/", new_shipment(**{field: value}), "json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not Shipment.objects.exists()


def test_the_shipments_api_takes_a_promise_months_ahead(integration_api, carrier, frozen_now):
    promise = (NOW + 200 * 24 * HOUR).isoformat()

    response = integration_api.post("/api/v1/shipments/", new_shipment(promised_at=promise), "json")

    assert response.status_code == 201


def csv_row(**changes) -> dict:
    return {
        "carrier": "acme",
        "tracking_number": "CSV-1",
        "order_number": "O-1",
        "customer_ref": "C-1",
        "customer_name": "Lena Weber",
        "origin_region": "CN-GD",
        "destination_region": "DE-BE",
        "ordered_at": "2026-10-30",
        "promised_at": "2026-11-12",
        **changes,
    }


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("promised_at", "9999-12-31", "promised_at: Not a plausible time: more than 366 days"),
        ("promised_at", "0001-01-01T00:00:00+01:00", "promised_at: Not a plausible time: before"),
        ("ordered_at", "9999-12-31T23:59:59", "ordered_at: Not a plausible time: more than 24"),
        ("shipped_at", "1999-12-31", "shipped_at: Not a plausible time: before 2000"),
    ],
)
def test_a_csv_row_with_an_impossible_time_is_reported(carrier, column, value, message):
    with pytest.raises(RowInvalid) as invalid:
        shipment_row_parse(
            row=csv_row(**{column: value}),
            line=2,
            carrier_ids={"acme": carrier.pk},
            default_carrier=None,
            time_zone=dt.UTC,
            now=NOW,
        )

    assert any(problem.startswith(message) for problem in invalid.value.problems)


def test_a_csv_row_inside_the_window_is_parsed(carrier):
    row = shipment_row_parse(
        row=csv_row(),
        line=2,
        carrier_ids={"acme": carrier.pk},
        default_carrier=None,
        time_zone=dt.UTC,
        now=NOW,
    )

    assert row.ordered_at == dt.datetime(2026, 10, 30, tzinfo=dt.UTC)


def test_pages_show_events_at_the_window_edges(post_events, shipment, operator, agent):
    post_events(
        [
            event("first", at="2000-01-01T09:00:00+09:00", location="Tokyo"),
            event("ahead", at=NOW + 24 * HOUR, location="Auckland"),
        ]
    )
    assert TrackingEvent.objects.count() == 2
    superuser = factories.UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(superuser)
    console = Client()
    console.force_login(agent)

    pages = [
        (console, f"/console/shipments/{shipment.public_id}/"),
        (admin, "/admin/shipments/trackingevent/"),
        (admin, "/admin/shipments/trackingevent/?q=ACME0001"),
        (admin, "/admin/shipments/trackingevent/?occurred_at__year=2000"),
        (admin, f"/admin/shipments/shipment/{shipment.pk}/change/"),
    ]
    for client, url in pages:
        assert client.get(url).status_code == 200, url


# --- Unknown carrier status codes ------------------------------------------------------------


def test_an_unknown_code_is_stored_unmapped_reported_and_changes_nothing(post_events, shipment):
    post_events([event("e1", at=NOW - 3 * HOUR, status="AR", location="Leipzig hub")])
    shipment.refresh_from_db()
    before = (shipment.status, shipment.last_event_at, shipment.last_location, shipment.updated_at)

    response = post_events(
        [
            event("new-1", at=NOW - HOUR, status="ZX", location="Berlin depot"),
            event("new-2", at=NOW - HOUR, status="ZX", location="Berlin depot"),
            event("new-3", at=NOW - HOUR, status="QQ"),
        ]
    )

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 3,
        "duplicates": 0,
        "unknown_tracking_numbers": [],
        "unmapped_status_codes": {"QQ": 1, "ZX": 2},
    }
    stored = TrackingEvent.objects.get(carrier_event_id="new-1")
    assert (stored.unmapped, stored.carrier_code, stored.status) == (True, "ZX", "")
    shipment.refresh_from_db()
    after = (shipment.status, shipment.last_event_at, shipment.last_location, shipment.updated_at)
    assert after == before
    listed = UnmappedStatusCode.objects.get(carrier_code="ZX")
    assert (listed.event_count, listed.first_seen_at, listed.last_seen_at) == (2, NOW, NOW)


def test_a_batch_mixing_known_and_unknown_codes_applies_the_known_ones(post_events, shipment):
    response = post_events(
        [
            event("known", at=NOW - 2 * HOUR, status="OD", location="Berlin depot"),
            event("unknown", at=NOW - HOUR, status="ZX", location="Mars"),
        ]
    )

    assert response.json()["accepted"] == 2
    shipment.refresh_from_db()
    assert (shipment.status, shipment.last_location) == ("out_for_delivery", "Berlin depot")
    assert shipment.last_event_at == NOW - 2 * HOUR


def test_the_unmapped_list_counts_and_dates_each_code_per_carrier(
    post_events, shipment, frozen_now
):
    post_events([event("e1", status="ZX")])
    with time_machine.travel(NOW + 2 * HOUR, tick=False):
        post_events(
            [event("e2", status="ZX"), event("e3", status="ZX")],
            timestamp=int((NOW + 2 * HOUR).timestamp()),
        )
    # A redelivery is a duplicate: not counted again.
    post_events([event("e1", status="ZX")])

    listed = UnmappedStatusCode.objects.get()
    assert (listed.carrier_code, listed.event_count) == ("ZX", 3)
    assert (listed.first_seen_at, listed.last_seen_at) == (NOW, NOW + 2 * HOUR)


def test_operators_see_the_unmapped_codes_in_the_admin(post_events, shipment, operator_client):
    post_events([event("e1", status="ZX"), event("e2", status="ZX")])

    response = operator_client.get("/admin/shipments/unmappedstatuscode/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "ZX" in page
    assert f"/admin/shipments/carrier/{shipment.carrier_id}/change/" in page
    assert operator_client.get("/admin/shipments/unmappedstatuscode/add/").status_code == 403


def test_mapping_the_code_applies_its_events_once(post_events, shipment, carrier, frozen_now):
    post_events([event("e1", at=NOW - 3 * HOUR, status="AR", location="Leipzig hub")])
    post_events([event("late", at=NOW - HOUR, status="ZX", location="Berlin")])

    CarrierStatusMapping.objects.create(
        carrier=carrier, carrier_code="ZX", status="delivered", cause="none"
    )

    stored = TrackingEvent.objects.get(carrier_event_id="late")
    assert (stored.unmapped, stored.status, stored.cause) == (False, "delivered", "none")
    shipment.refresh_from_db()
    assert (shipment.status, shipment.delivered_at) == ("delivered", NOW - HOUR)
    assert shipment.last_location == "Berlin"
    assert not UnmappedStatusCode.objects.exists()
    # Saving the mapping again (or calling the service) finds nothing left to apply.
    updated_at = shipment.updated_at
    with time_machine.travel(NOW + HOUR, tick=False):
        CarrierStatusMapping.objects.get(carrier_code="ZX").save()
        assert unmapped_events_apply(carrier_id=carrier.pk, carrier_code="ZX", now=NOW) == 0
    shipment.refresh_from_db()
    assert shipment.updated_at == updated_at
    assert not UnmappedStatusCode.objects.exists()


def test_a_mapped_code_applies_its_events_in_order_of_occurrence(post_events, shipment, carrier):
    # Arrived newest first; the state follows the latest by occurred_at, not by arrival.
    post_events([event("later", at=NOW - HOUR, status="ZX", location="Berlin")])
    post_events([event("earlier", at=NOW - 5 * HOUR, status="ZY", location="Leipzig")])

    CarrierStatusMapping.objects.create(carrier=carrier, carrier_code="ZY", status="in_transit")
    shipment.refresh_from_db()
    assert (shipment.status, shipment.last_location) == ("in_transit", "Leipzig")

    CarrierStatusMapping.objects.create(
        carrier=carrier, carrier_code="ZX", status="out_for_delivery"
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.last_location) == ("out_for_delivery", "Berlin")
    assert shipment.last_event_at == NOW - HOUR


def test_an_unmapped_code_of_another_carrier_is_left_alone(post_events, shipment, carrier):
    post_events([event("e1", status="ZX")])
    other = factories.CarrierFactory(code="other")

    CarrierStatusMapping.objects.create(carrier=other, carrier_code="ZX", status="delivered")

    assert TrackingEvent.objects.get().unmapped
    assert UnmappedStatusCode.objects.filter(carrier=carrier).exists()


def test_an_event_whose_code_was_mapped_while_it_travelled_is_applied_at_once(shipment, carrier):
    # The batch was validated before the mapping existed (as under a concurrent admin save).
    travelled = ingest.unmapped_event(
        event_id="e1",
        tracking_number="ACME0001",
        occurred_at=NOW - HOUR,
        carrier_code="OD",
        location="Berlin depot",
    )

    result = tracking_events_ingest(carrier=carrier, events=[travelled], received_at=NOW)

    assert result.unmapped_status_codes == {"OD": 1}
    stored = TrackingEvent.objects.get()
    assert (stored.unmapped, stored.status) == (False, "out_for_delivery")
    shipment.refresh_from_db()
    assert shipment.status == "out_for_delivery"
    assert not UnmappedStatusCode.objects.exists()


def test_unmapped_events_count_for_nothing_in_an_as_of_detection_pass(post_events, shipment):
    from shipments.detection import detect_delays

    post_events([event("e1", at=NOW - 3 * HOUR, status="AR", location="Leipzig hub")])
    post_events([event("e2", at=NOW - HOUR, status="ZX", location="Mars")])

    detect_delays(now=NOW, from_events=True)

    shipment.refresh_from_db()
    assert (shipment.status, shipment.last_location) == ("in_transit", "Leipzig hub")


def test_the_api_shows_an_unmapped_event_as_such(post_events, shipment, agent):
    post_events([event("e1", status="ZX")])
    client = APIClient()
    client.force_login(agent)

    response = client.get(f"/api/v1/shipments/{shipment.tracking_number}/")

    [shown] = response.json()["events"]
    assert (shown["carrier_code"], shown["status"], shown["unmapped"]) == ("ZX", "", True)


def test_the_shipment_page_shows_an_unmapped_scan_by_its_raw_code(post_events, shipment, agent):
    post_events([event("e1", status="ZX", location="Mars")])
    client = Client()
    client.force_login(agent)

    response = client.get(f"/console/shipments/{shipment.public_id}/")

    page = response.content.decode()
    assert "<strong>ZX</strong>" in page
    assert "unmapped code" in page


def test_the_event_in_is_unmapped_with_no_status():
    unmapped = ingest.unmapped_event(
        event_id="e", tracking_number="t", occurred_at=NOW, carrier_code="ZX"
    )

    assert unmapped == EventIn(
        event_id="e",
        tracking_number="t",
        occurred_at=NOW,
        carrier_code="ZX",
        status="",
        cause="none",
        unmapped=True,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_mapping_saved_while_batches_arrive_leaves_no_event_unmapped(carrier, shipment):
    """Batches carrying a new code race the admin saving its mapping: whichever commits
    first, every event of the code ends up mapped and the code leaves the unmapped list."""
    import threading

    from django.db import connection

    for round_ in range(5):
        code = f"R{round_}"
        start = threading.Barrier(4)
        errors = []

        def deliver(n: int, code=code, start=start, errors=errors, round_=round_):
            try:
                start.wait()
                scan = ingest.unmapped_event(
                    event_id=f"{code}-{n}",
                    tracking_number="ACME0001",
                    occurred_at=NOW - (n + 1) * HOUR,
                    carrier_code=code,
                )
                tracking_events_ingest(carrier=carrier, events=[scan], received_at=NOW)
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                connection.close()

        def map_code(code=code, start=start, errors=errors):
            try:
                start.wait()
                CarrierStatusMapping.objects.create(
                    carrier=carrier, carrier_code=code, status="in_transit"
                )
            except Exception as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(3)]
        threads.append(threading.Thread(target=map_code))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        events = TrackingEvent.objects.filter(carrier_code=code)
        assert events.count() == 3
        assert not events.filter(unmapped=True).exists()
        assert not UnmappedStatusCode.objects.filter(carrier_code=code).exists()
