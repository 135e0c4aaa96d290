"""CSV exports (supervisor.export), above all the drill-down lists' large ones: the same rows as
the list's pages, in the reader's time zone and language, cells a spreadsheet would run
defused, streamed in pieces, read as values (not model objects) with a query count that does
not grow with the rows."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, override
from psycopg.pq import Format

from core import export as core_export
from core.middleware import SESSION_TIME_ZONE_KEY
from supervisor import drilldown, export, rollup
from supervisor.drilldown import DRILLDOWNS, PAGE_SIZE, csv_value
from supervisor.export import safe_cell
from supervisor.scope import scope_from
from tests import factories
from tickets.models import SatisfactionSurvey

pytestmark = pytest.mark.django_db

URLS = {
    "tickets": reverse("supervisor:drilldown_tickets"),
    "shipments": reverse("supervisor:drilldown_shipments"),
}
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
READER_ZONE = "Asia/Shanghai"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def reader(supervisor_client):
    """The supervisor, reading in Shanghai time (the session's zone, as set at login)."""
    session = supervisor_client.session
    session[SESSION_TIME_ZONE_KEY] = READER_ZONE
    session.save()
    return supervisor_client


def delayed(detected_at, **kwargs):
    return factories.ShipmentFactory(delay_level="red", delay_detected_at=detected_at, **kwargs)


def fill(n: int, agent) -> None:
    """n rows (at least) in every list, with the cells' odd cases: no assignee, an assignee
    without a first name, no team, a remedy without a shipment or without an amount, in
    another currency, of an incident; customers contacted in time, late, not yet, and one who
    wrote first; one who ordered again."""
    nameless = factories.AgentFactory(first_name="")
    team = factories.TeamFactory()
    incident = factories.IncidentFactory()
    for i in range(n):
        shipment = delayed(NOW - (i % 20 + 1) * D, ordered_at=NOW - 30 * D,
                           incident=incident if i % 3 == 0 else None)  # fmt: skip
        if i % 4 == 0:
            factories.ShipmentFactory(customer=shipment.customer, ordered_at=NOW - 5 * D)
        ticket = factories.TicketFactory(
            shipment=shipment, customer=shipment.customer, status="solved", solved_at=NOW - D,
            escalated_at=NOW - 2 * D, is_escalated=True,
            assignee=(agent, nameless, None)[i % 3], team=team if i % 2 else None,
        )  # fmt: skip
        factories.SLATimerFactory(ticket=ticket, status="breached", breached_at=NOW - D,
                                  due_at=NOW - D - H)  # fmt: skip
        factories.SLATimerFactory(ticket=ticket, kind="resolution", status="breached",
                                  breached_at=NOW - 3 * H, due_at=NOW - 3 * H)  # fmt: skip
        factories.CompensationOfferFactory(
            ticket=ticket, status="issued", issued_at=NOW - D,
            **({"amount": Decimal("15.00"), "currency": "USD"} if i % 2 else {}),
        )  # fmt: skip
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=NOW - D, sent_at=NOW - D, agent=agent,
            rating=(1, 2, 4)[i % 3], answered_at=NOW - D + H, reason="late" if i % 3 < 2 else "",
            comment="Nobody told me" if i % 2 else "",
        )  # fmt: skip
        if i % 4 in (1, 3):  # told within the day, or a day late
            told = shipment.delay_detected_at + (H if i % 4 == 1 else 30 * H)
            factories.NotificationFactory(
                customer=shipment.customer, shipment=shipment, status="sent", sent_at=told
            )
        elif i % 4 == 2:  # the customer wrote first
            factories.MessageFactory(ticket=ticket)
        # The open tickets of the live SLA lists: past due, and due within the hour.
        live = factories.TicketFactory(shipment=shipment, customer=shipment.customer)
        factories.SLATimerFactory(ticket=live, due_at=NOW - H)
        factories.SLATimerFactory(ticket=live, kind="resolution", due_at=NOW + 20 * H / 60)
    bare = factories.TicketFactory(shipment=None, status="solved", solved_at=NOW - D)
    factories.CompensationOfferFactory(ticket=bare, status="issued", issued_at=NOW - D)
    factories.CompensationOfferFactory(ticket=bare, status="issued", issued_at=NOW - D,
                                       kind="reship", amount=None, currency="")  # fmt: skip
    delayed(NOW - 2 * H)  # waiting: 24 h have not passed
    rollup.rollup_refresh(now=NOW, full=True)


def export_lines(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.parametrize("name", sorted(DRILLDOWNS))
def test_an_export_holds_the_rows_of_its_list_page(reader, agent, name):
    fill(6, agent)
    listed = DRILLDOWNS[name]
    url = URLS[listed.area]

    page = reader.get(url, {"kpi": name})
    header, *lines = export_lines(reader.get(url, {"kpi": name, "format": "csv"}))

    rows = page.context["rows"]
    assert 0 < len(rows) < PAGE_SIZE  # every row of the list is on its first page
    assert header == [str(c.label) for c in listed.columns] + ["Link"]
    zone = zoneinfo.ZoneInfo(READER_ZONE)
    shown = [i for i, column in enumerate(listed.columns) if column.kind != "hidden"]
    assert [[line[i] for i in shown] + [line[-1]] for line in lines] == [
        [safe_cell(csv_value(column, value, zone)) for column, value in row.cells]
        + [f"http://testserver{row.link}"]
        for row in rows
    ]


def test_an_export_writes_moments_in_the_readers_time_zone(reader, agent):
    """The rows are written after the view returned, when the middleware has put the reader's
    zone away: the export reads it before."""
    shipment = delayed(dt.datetime(2026, 3, 30, 20, 0, tzinfo=dt.UTC))
    rollup.rollup_refresh(now=NOW, full=True)

    header, line = export_lines(
        reader.get(URLS["shipments"], {"kpi": "first_contact", "format": "csv"})
    )

    assert line[header.index("Detected")] == "2026-03-31T04:00+08:00"
    assert line[-1].endswith(reverse("shipments:shipment_detail", args=[shipment.public_id]))


def test_an_export_in_chinese_holds_the_rows_of_its_list_page(supervisor_client, agent):
    fill(4, agent)
    query = {"kpi": "first_contact"}
    language = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}

    page = supervisor_client.get(URLS["shipments"], query, **language)
    header, *lines = export_lines(
        supervisor_client.get(URLS["shipments"], {**query, "format": "csv"}, **language)
    )

    assert page["Content-Language"] == "zh-hans"
    assert [line[:-1] for line in lines] == [
        [safe_cell(csv_value(column, value, dt.UTC)) for column, value in row.cells]
        for row in page.context["rows"]
    ]


@pytest.mark.parametrize("name", sorted(DRILLDOWNS))
def test_every_list_is_exported_from_values_as_its_objects_would_write_it(agent, name):
    """Each column has its CSV source: the export reads tuples of the exported columns, not
    model objects (ten times the time a row), and writes what the objects would."""
    fill(6, agent)
    listed = DRILLDOWNS[name]
    scope, _form = scope_from({}, now=NOW)
    as_objects = dataclasses.replace(
        listed, columns=[dataclasses.replace(c, csv=(), csv_cell=None) for c in listed.columns]
    )
    zone = zoneinfo.ZoneInfo(READER_ZONE)

    with timezone.override(zone):
        queryset = listed.rows(scope, NOW)
        assert drilldown._csv_values(queryset, listed.columns, listed.link, zone=zone,
                                     absolute=str) is not None  # fmt: skip
        from_values = "".join(export.csv_lines([], listed.csv_rows(scope, now=NOW)))
        from_objects = "".join(export.csv_lines([], as_objects.csv_rows(scope, now=NOW)))

    assert from_values.count("\n") > 1 and from_values == from_objects


def test_an_export_defuses_cells_a_spreadsheet_would_run(reader, agent):
    customer = factories.CustomerFactory(name="@SUM(A1:A9)")
    ticket = factories.TicketFactory(customer=customer, shipment=delayed(NOW - 5 * D,
                                     customer=customer), subject="-2 stars")  # fmt: skip
    SatisfactionSurvey.objects.create(
        ticket=ticket, resolved_at=NOW - D, rating=1, answered_at=NOW - D,
        comment='=HYPERLINK("http://evil.example","click")',
    )  # fmt: skip

    header, line = export_lines(reader.get(URLS["tickets"], {"kpi": "csat", "format": "csv"}))

    cells = dict(zip(header, line, strict=True))
    assert cells["Customer"] == "'@SUM(A1:A9)"
    assert cells["Comment"] == '\'=HYPERLINK("http://evil.example","click")'
    assert cells["Ticket"] == f"#{ticket.pk} -2 stars"  # starts with #: nothing to defuse
    assert cells["Rating"] == "1"


def test_csv_lines_writes_each_cell_as_one_row_at_a_time_did():
    """Rows go out in pieces of many rows, and only text is checked for a formula: the text is
    the same as safe_cell on every cell, one csv.writer line a row."""
    rows = [
        ["=1+2", "-", "-3.5", -3, Decimal("-2.50"), -0.5, None, "", True],
        ["+4930123", "@x", "\tx", "\rx", "a,b", 'q"uote', "two\nlines", "中文", "  =x"],
        [gettext_lazy("Late"), dt.datetime(2026, 3, 31, 4, 0, tzinfo=dt.UTC), dt.date(2026, 3, 1),
         reverse("tickets:ticket_detail", args=["00000000-0000-0000-0000-000000000001"]),
         "-inf", "=", 0, "", "+"],
    ] * 3  # fmt: skip
    expected = io.StringIO()
    writer = csv.writer(expected)
    writer.writerow(["Name", "'=Total"])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])

    written = "".join(export.csv_lines(["Name", "=Total"], rows))

    assert written == "\ufeff" + expected.getvalue()
    assert "'=1+2" in written and ",-3.5,-3,-2.50,-0.5,," in written and "'@x" in written


def test_an_export_streams_in_pieces_without_a_length(reader, agent, monkeypatch):
    monkeypatch.setattr(core_export, "CHUNK_CHARS", 300)  # where the helpers read it
    fill(6, agent)

    response = reader.get(URLS["shipments"], {"kpi": "first_contact", "format": "csv"})

    assert isinstance(response, StreamingHttpResponse)
    assert not response.has_header("Content-Length")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    pieces = list(response.streaming_content)
    assert pieces[0] == "\ufeff".encode()
    assert pieces[1].decode().startswith("Shipment,Order,Customer")
    lines = b"".join(pieces).count(b"\n")
    assert 3 < len(pieces) < lines  # several rows a piece, and not the whole file in one


def test_every_table_writes_its_moments_in_the_readers_time_zone(reader):
    """The incidents' CSV (and every other table's) is written while the response streams, in
    the zone the request was read in."""
    factories.IncidentFactory(window_start=dt.datetime(2026, 3, 30, 20, 0, tzinfo=dt.UTC))

    header, line = export_lines(reader.get(reverse("supervisor:incidents"), {"format": "csv"}))

    assert dict(zip(header, line, strict=True))["Window start"] == "2026-03-31 04:00"


def test_a_streamed_export_is_written_in_the_zone_and_language_of_its_request():
    def rows():
        yield [timezone.get_current_timezone_name(), get_language()]

    with timezone.override(zoneinfo.ZoneInfo(READER_ZONE)), override("zh-hans"):
        response = export.csv_response("x", ["zone", "language"], rows())
    text = b"".join(response.streaming_content).decode("utf-8-sig")

    assert text.splitlines()[1] == f"{READER_ZONE},zh-hans"
    assert timezone.get_current_timezone_name() == "UTC" and get_language() == "en"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_request_reads_the_whole_export_with_one_plan_and_leaves_the_connection_as_it_was(
    reader, agent
):
    """In a request (autocommit) the cursor is WITH HOLD: computed whole at once, so planned
    for every row; the setting and the faster moment loader are for that cursor only."""
    fill(3, agent)
    connection.ensure_connection()
    adapters = connection.connection.adapters
    loader = adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT)

    with CaptureQueriesContext(connection) as queries:
        response = reader.get(URLS["shipments"], {"kpi": "first_contact", "format": "csv"})
        header, *lines = export_lines(response)
    sql = [query["sql"] for query in queries.captured_queries]  # before the next request

    page = reader.get(URLS["shipments"], {"kpi": "first_contact"})
    zone = zoneinfo.ZoneInfo(READER_ZONE)
    assert [line[:-1] for line in lines] == [
        [safe_cell(csv_value(column, value, zone)) for column, value in row.cells]
        for row in page.context["rows"]
    ]
    declare = sql.index("SET cursor_tuple_fraction = 1") + 1
    assert "WITH HOLD" in sql[declare] and sql[declare + 1] == "RESET cursor_tuple_fraction"
    assert adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT) is loader
    with connection.cursor() as cursor:
        cursor.execute("SHOW cursor_tuple_fraction")
        assert cursor.fetchone() == ("0.1",)


def export_queries(client, name: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URLS[DRILLDOWNS[name].area], {"kpi": name, "format": "csv"})
        assert len(export_lines(response)) > 1
    return len(queries)


@pytest.mark.parametrize("name", ["first_contact", "compensation", "sla_breached_now"])
def test_an_export_costs_the_same_queries_at_two_sizes(reader, agent, name):
    fill(3, agent)
    small = export_queries(reader, name)
    fill(12, agent)

    assert export_queries(reader, name) == small
