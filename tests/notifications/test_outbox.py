"""Writing notices into the outbox: one row per notice, unique dedupe keys, set-based bulk."""

import datetime as dt

import pytest
from django.db import transaction

from notifications import services
from notifications.models import NoticeKind, Notification
from shipments.models import ShipmentStatus
from tests import factories
from tests.notifications.conftest import NOW, delayed_shipment, delivered_shipment

pytestmark = pytest.mark.django_db


def test_a_notice_is_queued_on_the_preferred_channel_in_the_customers_language():
    customer = factories.CustomerFactory(language="zh-hans", preferred_channel="sms")
    shipment = factories.ShipmentFactory(customer=customer)

    notification = services.notice_enqueue(
        kind=NoticeKind.DELAY_NOTICE,
        customer=customer,
        shipment=shipment,
        dedupe_key=f"delay:{shipment.pk}:yellow",
        level="yellow",
        now=NOW,
    )

    assert notification.status == Notification.Status.PENDING
    assert (notification.channel, notification.language) == ("sms", "zh-hans")
    assert notification.next_attempt_at == NOW == notification.not_before


def test_a_customer_who_prefers_calls_is_written_to_by_email():
    customer = factories.CustomerFactory(preferred_channel="phone")
    notification = services.notice_enqueue(
        kind=NoticeKind.RECOVERY, customer=customer, dedupe_key="k", now=NOW
    )
    assert notification.channel == "email"


def test_the_same_dedupe_key_queues_one_notice(django_capture_on_commit_callbacks):
    customer = factories.CustomerFactory()
    first = services.notice_enqueue(
        kind=NoticeKind.RECOVERY, customer=customer, dedupe_key="recovery:1", now=NOW
    )
    again = services.notice_enqueue(
        kind=NoticeKind.RECOVERY, customer=customer, dedupe_key="recovery:1", now=NOW
    )

    assert again.pk == first.pk
    assert Notification.objects.count() == 1


def test_the_notice_delay_setting_holds_new_notices_back(settings):
    settings.NOTICE_DELAY_MINUTES = 30
    notification = services.notice_enqueue(
        kind=NoticeKind.RECOVERY,
        customer=factories.CustomerFactory(),
        dedupe_key="k",
        now=NOW,
    )
    assert notification.next_attempt_at == NOW + dt.timedelta(minutes=30)


def test_a_rolled_back_event_leaves_no_notice():
    customer = factories.CustomerFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.notice_enqueue(
            kind=NoticeKind.RECOVERY, customer=customer, dedupe_key="k", now=NOW
        )
        raise RuntimeError("the event failed")
    assert not Notification.objects.exists()


def test_bulk_writes_one_row_per_shipment_and_skips_taken_keys():
    shipments = factories.ShipmentFactory.create_batch(3)
    factories.NotificationFactory(
        customer=shipments[0].customer,
        shipment=shipments[0],
        dedupe_key=f"delay:{shipments[0].pk}:red",
    )

    written = services.notices_enqueue_for_shipments(
        kind=NoticeKind.DELAY_NOTICE,
        shipment_ids=[s.pk for s in shipments],
        key="delay:{shipment}:red",
        level="red",
        now=NOW,
    )

    assert written == 2
    rows = Notification.objects.filter(kind="delay_notice").order_by("shipment_id")
    assert [row.dedupe_key for row in rows] == [f"delay:{s.pk}:red" for s in shipments]
    new = rows.get(shipment=shipments[1])
    assert new.customer_id == shipments[1].customer_id
    assert (new.level, new.status, new.language) == ("red", "pending", "en")
    assert new.next_attempt_at == NOW
    assert new.public_id is not None
    assert new.context == {}

    again = services.notices_enqueue_for_shipments(
        kind=NoticeKind.DELAY_NOTICE,
        shipment_ids=[s.pk for s in shipments],
        key="delay:{shipment}:red",
        level="red",
        now=NOW,
    )
    assert again == 0
    assert Notification.objects.count() == 3


def test_bulk_can_record_each_shipments_current_level():
    shipment = delayed_shipment("orange")
    services.notices_enqueue_for_shipments(
        kind=NoticeKind.FOLLOW_UP,
        shipment_ids=[shipment.pk],
        key="followup:{shipment}:1",
        level=None,
        now=NOW,
    )
    assert Notification.objects.get().level == "orange"


def test_bulk_filters_on_shipment_status():
    delivered = delivered_shipment()
    moving = factories.ShipmentFactory()
    written = services.notices_enqueue_for_shipments(
        kind=NoticeKind.DELIVERED,
        shipment_ids=[delivered.pk, moving.pk],
        key="delivered:{shipment}",
        now=NOW,
        statuses=[ShipmentStatus.DELIVERED],
    )
    assert written == 1
    assert Notification.objects.get().shipment_id == delivered.pk


def test_only_if_told_needs_an_earlier_delay_notice_about_the_shipment():
    told, untold = factories.ShipmentFactory.create_batch(2)
    factories.NotificationFactory(customer=told.customer, shipment=told, kind="delay_notice")

    written = services.notices_enqueue_for_shipments(
        kind=NoticeKind.RECOVERY,
        shipment_ids=[told.pk, untold.pk],
        key="recovery:{shipment}:1",
        now=NOW,
        only_if_told=True,
    )

    assert written == 1
    assert Notification.objects.get(kind="recovery").shipment_id == told.pk


def test_an_incident_notifies_each_affected_customer_once():
    incident = factories.IncidentFactory()
    customer = factories.CustomerFactory()
    factories.ShipmentFactory.create_batch(2, customer=customer, incident=incident)
    other = factories.ShipmentFactory(incident=incident)
    delivered_shipment(incident=incident)
    factories.ShipmentFactory()  # not in the incident

    queued = services.incident_notify(incident=incident, now=NOW)

    assert queued == 2
    rows = Notification.objects.filter(kind="incident_notice")
    assert {row.customer_id for row in rows} == {customer.pk, other.customer_id}
    assert all(row.incident_id == incident.pk for row in rows)
    assert services.incident_notify(incident=incident, now=NOW) == 0
    assert services.incident_notify(incident=incident, now=NOW, round=2) == 2


def test_a_dedupe_key_literal_cannot_smuggle_sql():
    with pytest.raises(ValueError):
        services.notices_enqueue_for_shipments(
            kind=NoticeKind.RECOVERY,
            shipment_ids=[1],
            key="x'; DROP TABLE customers_customer; --{shipment}",
            now=NOW,
        )


def test_queued_notices_nudge_the_dispatcher_after_commit(
    django_capture_on_commit_callbacks, monkeypatch
):
    from notifications import sender

    nudges = []
    monkeypatch.setattr(sender, "dispatch_notifications_soon", lambda: nudges.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        services.notice_enqueue(
            kind=NoticeKind.RECOVERY, customer=factories.CustomerFactory(), dedupe_key="k"
        )
    assert nudges == [1]
