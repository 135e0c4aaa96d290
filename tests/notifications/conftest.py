import datetime as dt

import pytest
from django.db import connection

from notifications.links import MintedLink, get_provider, register_provider
from tests.notifications.recording_backends import RECORDER


@pytest.fixture
def recording(settings):
    """SMS and push through recording backends; email through Django's locmem backend."""
    settings.SMS_BACKEND = "tests.notifications.recording_backends.RecordingSMSBackend"
    settings.PUSH_BACKEND = "tests.notifications.recording_backends.RecordingPushBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    RECORDER.reset()
    yield RECORDER
    RECORDER.reset()


# A fixed moment for tests that pass `now` explicitly: a Tuesday, 10:00 UTC.
NOW = dt.datetime(2026, 11, 17, 10, 0, tzinfo=dt.UTC)


def delayed_shipment(level="yellow", *, now=NOW, slip_hours=72, **kwargs):
    """An in-transit shipment that detection marked delayed: promised yesterday, predicted
    `slip_hours` after its promise."""
    from tests import factories

    promised = kwargs.pop("promised_at", now - dt.timedelta(days=1))
    return factories.ShipmentFactory(
        delay_level=level,
        delay_cause=kwargs.pop("delay_cause", "congestion"),
        delay_detected_at=kwargs.pop("delay_detected_at", now - dt.timedelta(hours=1)),
        promised_at=promised,
        predicted_eta=kwargs.pop("predicted_eta", promised + dt.timedelta(hours=slip_hours)),
        last_location=kwargs.pop("last_location", "Rotterdam port"),
        **kwargs,
    )


def delivered_shipment(*, now=NOW, **kwargs):
    from shipments.models import ShipmentStatus
    from tests import factories

    return factories.ShipmentFactory(
        status=ShipmentStatus.DELIVERED, delivered_at=now - dt.timedelta(hours=1), **kwargs
    )


class FakeLinkProvider:
    """A progress link maker (the portal's part, notifications/links.py) that records its calls.

    `mints`: one (ticket ids, now) per mint call; `confirms`: one (link ids, now, depth) per
    confirm call, with the depth of atomic blocks it ran in (`connection.atomic_blocks`);
    `discards`: the link ids of each discard call. `minted` holds every link made, by id."""

    def __init__(self) -> None:
        self.mints: list[tuple[list[int], dt.datetime]] = []
        self.confirms: list[tuple[list[int], dt.datetime, int]] = []
        self.discards: list[list[int]] = []
        self.minted: dict[int, object] = {}
        self.on_confirm = None  # called with the link ids inside confirm, if set

    def mint(self, ticket_ids, *, now):
        self.mints.append((sorted(ticket_ids), now))
        links = {}
        for ticket_id in ticket_ids:
            link_id = len(self.minted) + 1
            link = MintedLink(
                id=link_id,
                ticket_id=ticket_id,
                url=f"https://help.shop.example/t/tok{link_id}-SeCrEt{ticket_id}x/",
                redacted_url=f"https://help.shop.example/t/tok{link_id}…/",
            )
            self.minted[link_id] = link
            links[ticket_id] = link
        return links

    def confirm(self, link_ids, *, now):
        self.confirms.append((sorted(link_ids), now, len(connection.atomic_blocks)))
        if self.on_confirm is not None:
            self.on_confirm(sorted(link_ids))

    def discard(self, link_ids):
        self.discards.append(sorted(link_ids))

    def link_of(self, ticket_id: int):
        """The last link minted for `ticket_id`."""
        return [link for link in self.minted.values() if link.ticket_id == ticket_id][-1]

    @property
    def confirmed(self) -> list[int]:
        return sorted(link_id for ids, _now, _depth in self.confirms for link_id in ids)

    @property
    def discarded(self) -> list[int]:
        return sorted(link_id for ids in self.discards for link_id in ids)


@pytest.fixture
def progress_links():
    """A fake progress link maker, registered for the test (the one before afterwards: none,
    unless an app registered its own)."""
    before = get_provider()
    fake = FakeLinkProvider()
    register_provider(fake)
    yield fake
    register_provider(before)


@pytest.fixture
def no_progress_links():
    """No progress link maker, as with notifications alone (whatever an app registered)."""
    before = get_provider()
    register_provider(None)
    yield
    register_provider(before)
