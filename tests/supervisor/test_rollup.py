"""The dashboard's rollup (supervisor.rollup): full and incremental refresh, idempotence, the
freshness the page shows, the beat entry and the management command."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from core.middleware import SESSION_TIME_ZONE_KEY
from core.schedules import periodic_tasks
from shipments.models import Shipment
from supervisor import kpis, rollup
from supervisor.models import Cohort, KpiRollupState, ShipmentOutcome
from supervisor.scope import scope_from
from supervisor.tasks import refresh_kpi_rollup_task
from tests import factories

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def delayed(detected_at, **kwargs):
    return factories.ShipmentFactory(delay_level="red", delay_detected_at=detected_at, **kwargs)


def outcome(shipment) -> ShipmentOutcome:
    return ShipmentOutcome.objects.get(pk=shipment.pk)


def rows() -> list[tuple]:
    return list(
        ShipmentOutcome.objects.order_by("pk").values_list(
            "pk",
            "customer_id",
            "currency",
            "delay_detected_at",
            "first_contact_at",
            "first_inbound_at",
            "cohort",
            "anchor_at",
            "next_order_at",
        )
    )


def test_a_full_refresh_writes_a_row_per_shipment_with_its_outcome(clock, agent):
    customer = factories.CustomerFactory()
    late = delayed(T0 - 5 * D, customer=customer, ordered_at=T0 - 9 * D, currency="USD")
    factories.NotificationFactory(customer=customer, shipment=late, status="sent",
                                  sent_at=T0 - 5 * D + 3 * H)  # fmt: skip
    ticket = factories.TicketFactory(shipment=late, customer=customer, source="agent")
    asked = factories.MessageFactory(ticket=ticket, direction="inbound", author=None)
    type(asked).objects.filter(pk=asked.pk).update(created_at=T0 - 5 * D + H)
    again = factories.ShipmentFactory(customer=customer, ordered_at=T0 - 2 * D)
    recovered = factories.ShipmentFactory(delay_level="none", ordered_at=T0 - 3 * D)
    recovered.level_changes.create(from_level="none", to_level="yellow", cause="unknown",
                                   changed_at=T0 - 2 * D)  # fmt: skip

    result = rollup.rollup_refresh(now=T0, full=True)

    assert (result.full, result.rows, result.as_of) == (True, 3, T0)
    row = outcome(late)
    assert (row.customer_id, row.currency) == (customer.pk, "USD")
    assert row.delay_detected_at == T0 - 5 * D
    assert (row.first_contact_at, row.first_inbound_at) == (T0 - 5 * D + 3 * H, T0 - 5 * D + H)
    assert (row.cohort, row.anchor_at, row.next_order_at) == (
        Cohort.AFFECTED,
        T0 - 5 * D,
        T0 - 2 * D,  # the same customer's next order, 3 days after the detection
    )
    assert (outcome(again).cohort, outcome(again).anchor_at) == (Cohort.UNAFFECTED, T0 - 2 * D)
    assert outcome(again).next_order_at is None
    assert outcome(recovered).cohort is None  # delayed once, back on time: neither cohort
    assert KpiRollupState.objects.get().as_of == T0


def test_refreshing_twice_writes_the_same_rows(clock):
    for i in range(3):
        shipment = delayed(T0 - (i + 1) * D, ordered_at=T0 - 10 * D)
        factories.ShipmentFactory(customer=shipment.customer, ordered_at=T0 - i * D)
    rollup.rollup_refresh(now=T0, full=True)
    first = rows()

    rollup.rollup_refresh(now=T0, full=True)
    assert rows() == first
    rollup.rollup_refresh(now=T0)  # incremental: everything is within the overlap
    assert rows() == first
    assert ShipmentOutcome.objects.count() == 6


def test_the_first_refresh_is_a_full_one(clock):
    delayed(T0 - D)

    result = rollup.rollup_refresh(now=T0)

    assert result.full and ShipmentOutcome.objects.count() == 1


@pytest.fixture
def refreshed_yesterday(clock):
    """Two delayed customers and a quiet one, written two days ago and rolled up a day ago
    (longer ago than rollup.OVERLAP); the clock then moves to T0."""
    clock.move_to(T0 - 2 * D)
    a = delayed(T0 - 3 * D, ordered_at=T0 - 6 * D)
    b = delayed(T0 - 3 * D, ordered_at=T0 - 6 * D)
    quiet = factories.ShipmentFactory(ordered_at=T0 - 4 * D)
    clock.move_to(T0 - D)
    rollup.rollup_refresh(now=T0 - D, full=True)
    clock.move_to(T0)
    return a, b, quiet


def test_an_incremental_refresh_picks_up_a_new_notice(refreshed_yesterday):
    a, b, quiet = refreshed_yesterday
    assert outcome(a).first_contact_at is None
    factories.NotificationFactory(customer=a.customer, shipment=a, status="sent", sent_at=T0 - H)

    result = rollup.rollup_refresh(now=T0)

    assert not result.full and result.customers == 1
    assert outcome(a).first_contact_at == T0 - H
    assert outcome(a).refreshed_at == T0
    # the others were not rewritten
    assert outcome(b).refreshed_at == outcome(quiet).refreshed_at == T0 - D


def test_an_incremental_refresh_picks_up_a_new_order_of_the_customer(refreshed_yesterday):
    a, b, _quiet = refreshed_yesterday
    factories.ShipmentFactory(customer=b.customer, ordered_at=T0 - 2 * H)

    rollup.rollup_refresh(now=T0)

    assert outcome(b).next_order_at == T0 - 2 * H  # the earlier delay's repurchase
    assert outcome(a).next_order_at is None
    assert outcome(a).refreshed_at == T0 - D


def test_an_incremental_refresh_picks_up_a_new_delay_and_a_customer_message(refreshed_yesterday):
    a, _b, quiet = refreshed_yesterday
    assert outcome(quiet).cohort == Cohort.UNAFFECTED
    shipment = Shipment.objects.get(pk=quiet.pk)
    shipment.delay_level, shipment.delay_detected_at = "orange", T0 - 5 * H
    shipment.save()  # bumps updated_at, as detection does
    ticket = factories.TicketFactory(shipment=a, customer=a.customer, source="agent")
    type(ticket).objects.filter(pk=ticket.pk).update(created_at=T0 - 3 * D)
    factories.MessageFactory(ticket=ticket, direction="inbound", author=None)  # now

    rollup.rollup_refresh(now=T0)

    row = outcome(quiet)
    assert (row.cohort, row.anchor_at, row.delay_detected_at) == (
        Cohort.AFFECTED,
        T0 - 5 * H,
        T0 - 5 * H,
    )
    assert outcome(a).first_inbound_at == T0


def test_the_figures_read_what_the_rollup_held_at_its_last_refresh(refreshed_yesterday):
    a, _b, _quiet = refreshed_yesterday
    scope = scope_from({}, now=T0)[0]
    factories.NotificationFactory(customer=a.customer, shipment=a, status="sent", sent_at=T0 - H)

    before = kpis.contact_stats(scope, now=T0)[kpis.CURRENT]
    rollup.rollup_refresh(now=T0)
    after = kpis.contact_stats(scope, now=T0)[kpis.CURRENT]

    # 3 days without contact (waited so far) for both; then one contacted (late, 71 h)
    assert (before.measured, before.under, before.median_seconds) == (2, 0, 72 * 3600)
    assert (after.measured, after.under, after.median_seconds) == (2, 0, 71.5 * 3600)


def test_a_deleted_shipment_takes_its_row_with_it(clock):
    shipment = delayed(T0 - D)
    rollup.rollup_refresh(now=T0, full=True)

    Shipment.objects.filter(pk=shipment.pk).delete()

    assert not ShipmentOutcome.objects.exists()


# ---- the page, the task, the schedule, the command --------------------------------------------


def test_the_dashboard_says_how_fresh_its_rolled_up_figures_are(clock, supervisor_client):
    url = reverse("supervisor:home")
    body = supervisor_client.get(url).content.decode()
    assert "not computed yet" in body and "every 5 minutes" in body

    rollup.rollup_refresh(now=T0 - 3 * 60 * dt.timedelta(seconds=1))
    session = supervisor_client.session
    session[SESSION_TIME_ZONE_KEY] = "Asia/Shanghai"
    session.save()
    response = supervisor_client.get(url)

    assert response.context["kpis"].as_of == T0 - 3 * dt.timedelta(minutes=1)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    computed = timezone.localtime(T0, timezone=shanghai)
    rolled = timezone.localtime(T0 - 3 * dt.timedelta(minutes=1), timezone=shanghai)
    body = response.content.decode()
    assert "data-freshness" in body
    # Computed now (20:00 in Shanghai), from the rollup as of 19:57.
    text = date_format(computed.replace(tzinfo=None), "DATETIME_FORMAT")
    assert f"Figures and charts as of {text}" in body
    assert f"recorded by {date_format(rolled.replace(tzinfo=None), 'TIME_FORMAT')}" in body
    assert "every 5 minutes" in body


def test_the_rollup_is_refreshed_every_five_minutes_by_beat(clock):
    jobs = {job.name: job for job in periodic_tasks()}

    job = jobs["supervisor.refresh_kpi_rollup"]
    assert (job.task, job.every_seconds) == (refresh_kpi_rollup_task.name, 300)
    delayed(T0 - D)
    assert refresh_kpi_rollup_task() == 1  # the task runs the refresh: one row written
    assert KpiRollupState.objects.get().as_of == T0


def test_the_command_rebuilds_everything_with_a_summary(clock):
    delayed(T0 - D)
    factories.ShipmentFactory(ordered_at=T0 - D)
    out = io.StringIO()

    call_command("refresh_kpi_rollup", "--full", "--no-progress", stdout=out, stderr=io.StringIO())

    assert "Full rebuild: 2 customers, 2 rows written" in out.getvalue()
    assert ShipmentOutcome.objects.count() == 2
    out = io.StringIO()
    call_command("refresh_kpi_rollup", "--no-progress", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("Incremental refresh: 2 customers")
