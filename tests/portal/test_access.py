"""The page's access query, compiled once (portal.access.PageQuery): it must read exactly what
the queryset it was compiled from reads, with each view's own values."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.test import override_settings

from portal import access
from portal.access import PAGE_COLUMNS, PAGE_LOOKUPS, STAMP_NAMES, PageQuery
from portal.models import ProgressLink
from tests import factories
from tests.portal.conftest import NOW, mint
from tickets import services as tickets
from tickets.models import Ticket

pytestmark = pytest.mark.usefixtures("frozen")


def _value(row, column: str):
    for name in column.split("__"):
        row = getattr(row, name)
        if row is None:
            return None
    return row


def _read(link) -> dict:
    """Everything the page reads of the link, and which columns it left unread."""
    values = {column: _value(link, column) for column in PAGE_COLUMNS}
    values |= {name: getattr(link, name) for name in STAMP_NAMES}
    for owner, name, columns in PAGE_LOOKUPS:
        holder = link.ticket if owner is Ticket else link.ticket.shipment
        related = getattr(holder, name)
        for column in columns:
            values[f"{name}.{column}"] = None if related is None else getattr(related, column)
        values[f"{name}.deferred"] = None if related is None else related.get_deferred_fields()
    values["ticket.deferred"] = link.ticket.get_deferred_fields()
    values["shipment.deferred"] = link.ticket.shipment.get_deferred_fields()
    return values


@pytest.fixture
def rich_case(case, agent):
    """A case with something in each of the page's lookups and lists."""
    shipment = case.shipment
    incident = factories.IncidentFactory(
        carrier=shipment.carrier, public_explanation="A storm closed the hub."
    )
    Ticket.objects.filter(pk=case.pk).update(incident=incident)
    factories.TrackingEventFactory(shipment=shipment, occurred_at=NOW - dt.timedelta(hours=3))
    tickets.ticket_reply(ticket=case, actor=agent, body="We are on it.", now=NOW)
    return Ticket.objects.get(pk=case.pk)


def test_the_compiled_query_reads_what_the_queryset_reads(rich_case):
    _url, link_id = mint(rich_case)
    public_id = rich_case.public_id
    compiled = access.PageQuery("default").link(link_id, public_id, now=NOW)
    (orm,) = access._page_links(link_id, public_id, now=NOW)
    assert compiled is not None and orm is not None
    assert _read(compiled) == _read(access.with_lookups(orm))
    assert compiled.ticket.incident.public_explanation == "A storm closed the hub."
    assert compiled.page_stamp_scans is not None and compiled.page_stamp_messages


def test_a_link_of_another_case_or_a_revoked_one_opens_nothing(case):
    _url, link_id = mint(case)
    query = access.PageQuery("default")
    assert query.link(link_id, uuid.uuid4(), now=NOW) is None
    assert query.link(link_id + 1000, case.public_id, now=NOW) is None
    ProgressLink.objects.filter(pk=link_id).update(revoked_at=NOW)
    assert query.link(link_id, case.public_id, now=NOW) is None


def test_each_view_brings_its_own_moment_and_the_current_time_to_live(case):
    """A case closed 61 days ago no longer opens (60 days by default), does with 90, and the
    query compiled before the setting changed honours it."""
    _url, link_id = mint(case)
    query = access.PageQuery("default")
    Ticket.objects.filter(pk=case.pk).update(closed_at=NOW - dt.timedelta(days=61))
    assert query.link(link_id, case.public_id, now=NOW) is None
    assert query.link(link_id, case.public_id, now=NOW - dt.timedelta(days=2)) is not None
    with override_settings(PROGRESS_LINK_TTL_DAYS=90):
        assert query.link(link_id, case.public_id, now=NOW) is not None


def test_the_query_is_compiled_once_per_process(case, monkeypatch):
    _url, link_id = mint(case)
    access._page_queries.clear()
    built = []
    original = PageQuery.__init__

    def counting(self, using):
        built.append(using)
        original(self, using)

    monkeypatch.setattr(PageQuery, "__init__", counting)
    for _ in range(3):
        assert access._page_query().link(link_id, case.public_id, now=NOW) is not None
    assert built == ["default"]
