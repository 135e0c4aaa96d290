import datetime as dt

import pytest

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
