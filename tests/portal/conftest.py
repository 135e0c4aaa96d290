"""A customer's case with a progress link, and a client that opened it."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from portal.links import PortalLinks
from tests import factories

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def mint(ticket, *, now=None, confirm=True):
    """A progress link as a sent notice carries it: (url, link id)."""
    maker = PortalLinks()
    link = maker.mint([ticket.pk], now=now or timezone.now())[ticket.pk]
    if confirm:
        maker.confirm([link.id], now=now or timezone.now())
    return link.url, link.id


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def case(db, agent):
    customer = factories.CustomerFactory(
        name="Carla Mendes",
        email="carla@example.com",
        phone="+4930123456",
        time_zone="Europe/Berlin",
    )
    ticket = factories.TicketFactory(customer=customer, assignee=agent)
    return ticket


@pytest.fixture
def opened(client, case, no_rate_limits):
    """A client that opened the case's link."""
    url, _link_id = mint(case)
    response = client.get(path_of(url))
    assert response.status_code == 302
    return client
