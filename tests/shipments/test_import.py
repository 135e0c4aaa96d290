"""``manage.py import_shipments``: good rows load, bad rows are reported by line, re-runs update."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from shipments.imports import CSV_COLUMNS
from shipments.lanes import refresh_lane_statistics
from shipments.models import Lane, Shipment, ShipmentStatus
from shipments.signals import shipment_delivered
from tests import factories

pytestmark = pytest.mark.django_db


def row(n: int, **changes) -> dict:
    values = {
        "carrier": "acme",
        "tracking_number": f"CSV{n:04d}",
        "order_number": f"SHOP-{n}",
        "customer_ref": f"C-{n}",
        "customer_name": f"Customer {n}",
        "customer_email": f"c{n}@example.com",
        "customer_phone": "+4930123456",
        "customer_language": "en",
        "origin_region": "CN-GD",
        "destination_region": "DE-BE",
        "service_level": "standard",
        "ordered_at": "2026-10-28T10:00:00+08:00",
        "shipped_at": "2026-10-29 09:00:00",
        "promised_at": "2026-11-06T18:00:00Z",
        "order_value": "49.90",
        "currency": "EUR",
    }
    values.update(changes)
    return values


def write_csv(path: Path, rows: list[dict], columns=CSV_COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(path: Path, *args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("import_shipments", str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def csv_path(tmp_path) -> Path:
    return tmp_path / "orders.csv"


def test_good_rows_are_created_with_their_customers_and_lanes(carrier, csv_path):
    write_csv(csv_path, [row(1), row(2), row(3, service_level="express")])

    out, _err = run(csv_path)

    assert out.strip() == "created 3, updated 0, unchanged 0, failed 0"
    assert Shipment.objects.count() == 3
    assert Customer.objects.count() == 3
    assert Lane.objects.count() == 2
    shipment = Shipment.objects.select_related("customer", "lane").get(tracking_number="CSV0001")
    assert shipment.customer.email == "c1@example.com"
    assert shipment.lane.destination_region == "DE-BE"
    assert shipment.ordered_at == dt.datetime(2026, 10, 28, 2, 0, tzinfo=dt.UTC)
    assert shipment.shipped_at == dt.datetime(2026, 10, 29, 9, 0, tzinfo=dt.UTC)
    assert shipment.order_value == Decimal("49.90")


def test_naive_times_are_read_in_the_given_time_zone(carrier, csv_path):
    write_csv(csv_path, [row(1, shipped_at="2026-10-29 09:00:00", promised_at="2026-11-06")])

    run(csv_path, "--time-zone", "Asia/Shanghai")

    shipment = Shipment.objects.get()
    assert shipment.shipped_at == dt.datetime(2026, 10, 29, 1, 0, tzinfo=dt.UTC)
    # A promised date alone means "by the end of that day", there.
    assert shipment.promised_at == dt.datetime(2026, 11, 6, 15, 59, 59, 999999, tzinfo=dt.UTC)


def test_bad_rows_are_reported_by_line_while_good_rows_load(carrier, csv_path):
    write_csv(
        csv_path,
        [
            row(1),  # line 2
            row(2, promised_at="tomorrow"),  # line 3
            row(3, carrier="nobody", customer_email="not-an-email"),  # line 4
            row(4, tracking_number=""),  # line 5
            row(5, order_value="12,50", currency="euro"),  # line 6
            row(6),  # line 7
        ],
    )

    out, err = run(csv_path)

    assert out.strip() == "created 2, updated 0, unchanged 0, failed 4"
    assert "line 3: promised_at: not a date: 'tomorrow'" in err
    assert (
        "line 4: carrier: unknown carrier 'nobody'; "
        "customer_email: not an email address: 'not-an-email'" in err
    )
    assert "line 5: tracking_number: required" in err
    assert "line 6: order_value: not an amount: '12,50'; currency: not a 3-letter" in err
    assert sorted(Shipment.objects.values_list("tracking_number", flat=True)) == [
        "CSV0001",
        "CSV0006",
    ]


def test_line_numbers_count_the_lines_of_quoted_values(carrier, csv_path):
    write_csv(csv_path, [row(1, customer_name="Anna\nSecond line"), row(2, promised_at="soon")])

    _out, err = run(csv_path)

    assert "line 4: promised_at: not a date: 'soon'" in err


def test_re_running_a_file_updates_and_never_duplicates(carrier, csv_path):
    write_csv(csv_path, [row(1), row(2)])
    run(csv_path)

    again, _err = run(csv_path)
    write_csv(csv_path, [row(1, order_value="59.90", destination_region="DE-HH"), row(2)])
    changed, _err = run(csv_path)

    assert again.strip() == "created 0, updated 0, unchanged 2, failed 0"
    assert changed.strip() == "created 0, updated 1, unchanged 1, failed 0"
    assert Shipment.objects.count() == 2
    assert Customer.objects.count() == 2
    shipment = Shipment.objects.select_related("lane").get(tracking_number="CSV0001")
    assert shipment.order_value == Decimal("59.90")
    assert shipment.lane.destination_region == "DE-HH"


def test_the_destination_postal_code_is_stored_and_updated(carrier, csv_path):
    write_csv(csv_path, [row(1, destination_postal_code=" 10115 "), row(2)])
    run(csv_path)
    stored = dict(Shipment.objects.values_list("tracking_number", "destination_postal_code"))
    write_csv(csv_path, [row(1, destination_postal_code="10117"), row(2)])

    out, _err = run(csv_path)

    assert stored == {"CSV0001": "10115", "CSV0002": ""}
    assert out.strip() == "created 0, updated 1, unchanged 1, failed 0"
    assert Shipment.objects.get(tracking_number="CSV0001").destination_postal_code == "10117"


def test_an_empty_postal_code_cell_or_column_keeps_the_stored_one(carrier, csv_path):
    write_csv(csv_path, [row(1, destination_postal_code="10115"), row(2)])
    run(csv_path)
    write_csv(csv_path, [row(1, destination_postal_code=""), row(2, destination_postal_code="")])

    empty_cell, _err = run(csv_path)
    without = [name for name in CSV_COLUMNS if name != "destination_postal_code"]
    write_csv(csv_path, [row(1, order_number="SHOP-1-B"), row(2)], columns=without)
    no_column, _err = run(csv_path)

    assert empty_cell.strip() == "created 0, updated 0, unchanged 2, failed 0"
    assert no_column.strip() == "created 0, updated 1, unchanged 1, failed 0"
    shipment = Shipment.objects.get(tracking_number="CSV0001")
    assert (shipment.order_number, shipment.destination_postal_code) == ("SHOP-1-B", "10115")


def test_a_bad_destination_postal_code_is_a_row_error(carrier, csv_path):
    write_csv(
        csv_path,
        [
            row(1, destination_postal_code="10115/B"),  # line 2
            row(2, destination_postal_code="1" * 17),  # line 3
            row(3, destination_postal_code="100-0001"),  # line 4
        ],
    )

    out, err = run(csv_path)

    assert out.strip() == "created 1, updated 0, unchanged 0, failed 2"
    assert (
        "line 2: destination_postal_code: use only letters A-Z, digits, spaces and hyphens: "
        "'10115/B'" in err
    )
    assert "line 3: destination_postal_code: longer than 16 characters" in err
    assert Shipment.objects.get().destination_postal_code == "100-0001"


def test_a_re_import_never_moves_the_original_promise(carrier, csv_path):
    write_csv(csv_path, [row(1)])
    run(csv_path)
    write_csv(csv_path, [row(1, promised_at="2026-11-09T18:00:00Z")])

    _out, err = run(csv_path)

    assert Shipment.objects.get().promised_at == dt.datetime(2026, 11, 6, 18, 0, tzinfo=dt.UTC)
    assert (
        "line 2: promised_at: keeps the original promise 2026-11-06T18:00:00+00:00 "
        "(the file says 2026-11-09T18:00:00+00:00)" in err
    )


def test_the_file_updates_the_contact_details_of_a_known_customer(carrier, csv_path):
    customer = factories.CustomerFactory(external_ref="C-1", email="old@example.com", tier="vip")
    write_csv(csv_path, [row(1, customer_phone="")])

    run(csv_path)

    customer.refresh_from_db()
    assert customer.email == "c1@example.com"
    assert customer.tier == "vip"
    assert customer.phone.startswith("+4930")  # an empty cell is not a deletion
    assert Shipment.objects.get().customer == customer


def test_a_row_repeated_in_the_file_is_stored_once_and_the_later_wins(carrier, csv_path):
    write_csv(csv_path, [row(1), row(1, order_number="SHOP-1-FIXED")])

    out, err = run(csv_path)

    assert out.startswith("created 1,")
    assert "line 3: repeats line 2's shipment CSV0001; the later row wins" in err
    assert Shipment.objects.get().order_number == "SHOP-1-FIXED"


def test_chunks_load_the_whole_file(carrier, csv_path):
    write_csv(csv_path, [row(n) for n in range(7)] + [row(99, promised_at="x")])

    out, _err = run(csv_path, "--chunk-size", "3")

    assert out.strip() == "created 7, updated 0, unchanged 0, failed 1"
    assert Shipment.objects.count() == 7


def test_the_carrier_option_stands_in_for_the_column(carrier, csv_path):
    columns = [name for name in CSV_COLUMNS if name != "carrier"]
    write_csv(csv_path, [row(1)], columns=columns)

    run(csv_path, "--carrier", "acme")

    assert Shipment.objects.get().carrier == carrier


def test_a_row_naming_another_carrier_than_the_option_fails(carrier, csv_path):
    factories.CarrierFactory(code="beta")
    write_csv(csv_path, [row(1, carrier="beta"), row(2, carrier="")])

    out, err = run(csv_path, "--carrier", "acme")

    assert "line 2: carrier: 'beta' but --carrier is 'acme'" in err
    assert out.strip() == "created 1, updated 0, unchanged 0, failed 1"


def test_a_dry_run_counts_everything_and_stores_nothing(carrier, csv_path):
    write_csv(csv_path, [row(1), row(2, promised_at="never")])

    out, err = run(csv_path, "--dry-run")

    assert out.strip() == "created 1, updated 0, unchanged 0, failed 1 (dry run: nothing stored)"
    assert "line 3: promised_at" in err
    assert not Shipment.objects.exists()
    assert not Customer.objects.exists()
    assert not Lane.objects.exists()


def test_missing_required_columns_stop_the_import(carrier, csv_path):
    write_csv(csv_path, [row(1)], columns=[c for c in CSV_COLUMNS if c not in ("promised_at",)])

    with pytest.raises(CommandError, match="missing required columns: promised_at"):
        run(csv_path)
    assert not Shipment.objects.exists()


def test_an_unreadable_file_stops_the_import(carrier, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(tmp_path / "nowhere.csv")


def test_an_empty_file_stops_the_import(carrier, csv_path):
    csv_path.write_text("")

    with pytest.raises(CommandError, match="expected a header row"):
        run(csv_path)


def test_an_unknown_carrier_option_or_zone_stops_the_import(carrier, csv_path):
    write_csv(csv_path, [row(1)])

    with pytest.raises(CommandError, match="--carrier"):
        run(csv_path, "--carrier", "nobody")
    with pytest.raises(CommandError, match="--time-zone"):
        run(csv_path, "--time-zone", "Mars/Olympus")


def test_the_help_lists_the_columns():
    from shipments.management.commands import import_shipments

    assert all(name in import_shipments.Command.help for name in CSV_COLUMNS)
    assert all(name in import_shipments.__doc__ for name in CSV_COLUMNS)
    assert "promised_at*" in import_shipments.COLUMNS_HELP


@pytest.mark.postgres
def test_a_chunk_costs_the_same_queries_whatever_its_size(carrier, tmp_path):
    def queries(rows: int, offset: int) -> int:
        # Each file opens its own lane, so both runs do the same work per chunk.
        lane = {"destination_region": f"DE-{rows}"}
        path = write_csv(tmp_path / f"{rows}.csv", [row(offset + n, **lane) for n in range(rows)])
        with CaptureQueriesContext(connection) as captured:
            run(path)
        return len(captured)

    assert queries(20, 0) == queries(200, 1000)


# --- Delivered history (issue 16): delivered_at, with shipped_at as the hand-over --------------
# Times are frozen (tests/shipments/conftest.py: NOW = 2026-11-02 09:00 UTC), so a delivery
# "more than 24 hours ahead" is a fixed moment.

DELIVERED = dt.datetime(2026, 11, 1, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def delivered_signals():
    """The shipment ids each shipment_delivered signal carried (what notifications hears)."""
    sent: list[list[int]] = []

    def receiver(sender, *, shipment_ids, at, **kwargs):
        sent.append(list(shipment_ids))

    shipment_delivered.connect(receiver, dispatch_uid="test_import.delivered")
    yield sent
    shipment_delivered.disconnect(dispatch_uid="test_import.delivered")


def test_a_delivered_time_makes_the_shipment_delivered_as_a_delivery_scan_does(
    carrier, csv_path, frozen_now
):
    write_csv(
        csv_path,
        [
            row(1, shipped_at="2026-10-29T09:00:00Z", delivered_at="2026-11-01T15:00:00Z"),
            row(2, shipped_at="2026-10-29T09:00:00Z", delivered_at=""),
        ],
    )

    out, err = run(csv_path)

    assert out.strip() == "created 2, updated 0, unchanged 0, failed 0"
    assert "line" not in err
    delivered = Shipment.objects.get(tracking_number="CSV0001")
    assert (delivered.status, delivered.delivered_at) == (ShipmentStatus.DELIVERED, DELIVERED)
    waiting = Shipment.objects.get(tracking_number="CSV0002")
    assert (waiting.status, waiting.delivered_at) == (ShipmentStatus.INFO_RECEIVED, None)
    # Detection sweeps only the one in transit; lane statistics count the delivered one.
    assert list(Shipment.objects.active().values_list("tracking_number", flat=True)) == ["CSV0002"]
    refresh_lane_statistics(now=frozen_now)
    lane = Lane.objects.get()
    assert lane.delivered_count == 1
    assert lane.mean_transit_hours == pytest.approx(3 * 24 + 6)


def test_a_delivered_date_alone_means_the_start_of_that_day_in_the_import_zone(
    carrier, csv_path, frozen_now
):
    write_csv(csv_path, [row(1, shipped_at="2026-10-29 09:00:00", delivered_at="2026-11-01")])

    run(csv_path, "--time-zone", "Asia/Shanghai")

    assert Shipment.objects.get().delivered_at == dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.UTC)


def test_bad_delivered_times_are_row_errors_and_store_nothing_of_their_rows(
    carrier, csv_path, frozen_now
):
    write_csv(
        csv_path,
        [
            row(1, delivered_at="2026-11-01T15:00:00Z"),  # line 2
            row(2, delivered_at="last week"),  # line 3
            row(3, delivered_at="2026-11-04T00:00:00Z"),  # line 4: over 24 h ahead of NOW
            row(4, delivered_at="1999-12-31"),  # line 5
            row(5, shipped_at="2026-10-29T09:00:00Z", delivered_at="2026-10-29T08:59:59Z"),
            row(6, shipped_at="", delivered_at="2026-10-27"),  # line 7: before the order
        ],
    )

    out, err = run(csv_path)

    assert out.strip() == "created 1, updated 0, unchanged 0, failed 5"
    assert "line 3: delivered_at: not a date: 'last week'" in err
    assert "line 4: delivered_at: Not a plausible time: more than 24 hours after" in err
    assert "line 5: delivered_at: Not a plausible time: before 2000" in err
    assert (
        "line 6: delivered_at: before shipped_at: '2026-10-29T08:59:59Z' is earlier than "
        "'2026-10-29T09:00:00Z'" in err
    )
    assert (
        "line 7: delivered_at: before ordered_at: '2026-10-27' is earlier than "
        "'2026-10-28T10:00:00+08:00'" in err
    )
    assert list(Shipment.objects.values_list("tracking_number", flat=True)) == ["CSV0001"]
    assert list(Customer.objects.values_list("external_ref", flat=True)) == ["C-1"]


def test_re_importing_delivered_history_changes_nothing(carrier, csv_path, frozen_now):
    rows = [row(n, delivered_at="2026-11-01T15:00:00Z") for n in range(3)]
    write_csv(csv_path, rows)
    first, _err = run(csv_path)
    stored = list(Shipment.objects.values_list("pk", "status", "delivered_at", "updated_at"))

    again, err = run(csv_path)

    assert first.strip() == "created 3, updated 0, unchanged 0, failed 0"
    assert again.strip() == "created 0, updated 0, unchanged 3, failed 0"
    assert "line" not in err
    assert list(Shipment.objects.values_list("pk", "status", "delivered_at", "updated_at")) == (
        stored
    )


def test_a_later_export_delivers_a_shipment_and_an_empty_cell_never_undelivers(
    carrier, csv_path, frozen_now, delivered_signals
):
    write_csv(csv_path, [row(1), row(2)])
    run(csv_path)
    write_csv(csv_path, [row(1, delivered_at="2026-11-01T15:00:00Z"), row(2)])

    delivering, _err = run(csv_path)
    write_csv(csv_path, [row(1, delivered_at=""), row(2)])
    empty_cell, _err = run(csv_path)
    write_csv(csv_path, [row(1, delivered_at="2026-11-01T16:30:00Z"), row(2)])
    corrected, _err = run(csv_path)

    assert delivering.strip() == "created 0, updated 1, unchanged 1, failed 0"
    assert empty_cell.strip() == "created 0, updated 0, unchanged 2, failed 0"
    assert corrected.strip() == "created 0, updated 1, unchanged 1, failed 0"
    shipment = Shipment.objects.get(tracking_number="CSV0001")
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.delivered_at == dt.datetime(2026, 11, 1, 16, 30, tzinfo=dt.UTC)
    assert shipment.updated_at == frozen_now
    # The delivered notice's signal, once, when the shipment became delivered (as after a
    # delivery scan); a correction of the time tells nobody again.
    assert delivered_signals == [[shipment.pk]]


def test_a_delivered_time_and_other_changes_update_the_shipment_once(carrier, csv_path, frozen_now):
    write_csv(csv_path, [row(1)])
    run(csv_path)
    write_csv(csv_path, [row(1, order_value="59.90", delivered_at="2026-11-01T15:00:00Z")])

    out, _err = run(csv_path)

    assert out.strip() == "created 0, updated 1, unchanged 0, failed 0"
    shipment = Shipment.objects.get()
    assert (shipment.status, shipment.delivered_at) == (ShipmentStatus.DELIVERED, DELIVERED)
    assert shipment.order_value == Decimal("59.90")


def test_a_shipment_with_carrier_scans_keeps_the_delivery_its_scans_say(
    carrier, csv_path, frozen_now, delivered_signals
):
    scanned = factories.ShipmentFactory(
        carrier=carrier, tracking_number="CSV0001", last_event_at=frozen_now - dt.timedelta(hours=3)
    )
    write_csv(csv_path, [row(1, delivered_at="2026-11-01T15:00:00Z")])

    out, err = run(csv_path)

    assert out.strip() == "created 0, updated 1, unchanged 0, failed 0"  # the file's other columns
    assert (
        "line 2: delivered_at: keeps what the carrier's scans say (not delivered); the file "
        "says 2026-11-01T15:00:00+00:00" in err
    )
    scanned.refresh_from_db()
    assert (scanned.status, scanned.delivered_at) == (ShipmentStatus.IN_TRANSIT, None)
    assert delivered_signals == []


def test_a_hand_over_after_the_stored_delivery_fails_its_row_and_writes_nothing(
    carrier, csv_path, frozen_now
):
    write_csv(csv_path, [row(1, delivered_at="2026-11-01T15:00:00Z"), row(2)])
    run(csv_path)
    write_csv(
        csv_path,
        [
            row(1, shipped_at="2026-11-01T18:00:00Z", customer_name="Renamed"),  # line 2
            row(2, order_value="1.00"),  # line 3
        ],
    )

    out, err = run(csv_path)

    assert out.strip() == "created 0, updated 1, unchanged 0, failed 1"
    assert (
        "line 2: shipped_at: after the stored delivery 2026-11-01T15:00:00+00:00 (the file says "
        "2026-11-01T18:00:00+00:00)" in err
    )
    shipment = Shipment.objects.select_related("customer").get(tracking_number="CSV0001")
    assert shipment.shipped_at == dt.datetime(2026, 10, 29, 9, 0, tzinfo=dt.UTC)
    assert shipment.customer.name == "Customer 1"


def test_a_dry_run_of_delivered_history_stores_nothing(
    carrier, csv_path, frozen_now, delivered_signals
):
    write_csv(csv_path, [row(1)])
    run(csv_path)
    write_csv(csv_path, [row(1, delivered_at="2026-11-01T15:00:00Z")])

    out, _err = run(csv_path, "--dry-run")

    assert out.strip() == "created 0, updated 1, unchanged 0, failed 0 (dry run: nothing stored)"
    assert Shipment.objects.get().status == ShipmentStatus.INFO_RECEIVED


@pytest.mark.postgres
def test_a_chunk_of_deliveries_costs_the_same_queries_whatever_its_size(
    carrier, tmp_path, frozen_now
):
    def queries(rows: int, offset: int) -> int:
        lane = {"destination_region": f"DE-{rows}"}
        path = write_csv(tmp_path / f"{rows}.csv", [row(offset + n, **lane) for n in range(rows)])
        run(path)
        delivered = [
            row(offset + n, delivered_at="2026-11-01T15:00:00Z", **lane) for n in range(rows)
        ]
        path = write_csv(tmp_path / f"{rows}-delivered.csv", delivered)
        with CaptureQueriesContext(connection) as captured:
            run(path)
        return len(captured)

    assert queries(20, 0) == queries(200, 1000)
