"""Proactive tickets: delay detection opens one ticket per newly delayed shipment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from shipments.models import Shipment
from shipments.signals import shipment_delay_changed
from tests import factories
from tickets import proactive, tasks
from tickets.models import SLATimer, Ticket, TicketEvent, TimerKind, TimerStatus
from tickets.proactive import missing_shipment_ids, open_proactive_tickets
from tickets.services import ticket_change_status, ticket_open
from tickets.sla.sweeper import sweep

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def delayed(level="yellow", cause="customs_hold", detected=T0 - 2 * HOUR, **kwargs) -> Shipment:
    return factories.ShipmentFactory(
        delay_level=level, delay_cause=cause, delay_detected_at=detected, **kwargs
    )


def proactive_tickets() -> list[Ticket]:
    return list(Ticket.objects.filter(source="proactive").order_by("shipment_id"))


def first_response(ticket: Ticket) -> SLATimer:
    return SLATimer.objects.get(ticket=ticket, kind=TimerKind.FIRST_RESPONSE)


@pytest.fixture
def queued(monkeypatch):
    """What the receiver hands to the task queue (the broker is not the subject here)."""
    calls: list[list[int]] = []
    monkeypatch.setattr(tasks.open_proactive_tickets_task, "delay", calls.append)
    return calls


# ---- Opening --------------------------------------------------------------------------------


def test_a_delayed_shipment_gets_one_proactive_ticket():
    incident = factories.IncidentFactory(title="French customs strike")
    shipment = delayed(incident=incident, detected=T0 - 5 * HOUR)

    opened = open_proactive_tickets(shipment_ids=[shipment.pk], now=T0)

    assert opened == 1
    [ticket] = proactive_tickets()
    assert ticket.shipment == shipment
    assert ticket.customer == shipment.customer
    assert ticket.source == "proactive"
    assert ticket.category == "delay"
    assert ticket.detected_at == T0 - 5 * HOUR
    assert ticket.incident == incident
    assert ticket.subject == f"Delayed parcel: order {shipment.order_number}"
    assert ticket.language == "en"
    assert ticket.sla_policy.name == "Proactive delay"
    created = ticket.events.get(kind=TicketEvent.Kind.CREATED)
    assert created.data["source"] == "proactive"
    # Nobody wrote: the ticket opens without a customer message.
    assert not ticket.messages.exists()


@pytest.mark.parametrize(
    ("cause", "category"),
    [
        ("loss", "lost"),
        ("damage", "damaged"),
        ("customs_hold", "delay"),
        ("congestion", "delay"),
        ("unknown", "delay"),
    ],
)
def test_the_category_follows_the_detected_cause(cause, category):
    shipment = delayed(cause=cause)

    open_proactive_tickets(shipment_ids=[shipment.pk], now=T0)

    [ticket] = proactive_tickets()
    assert ticket.category == category


def test_a_lost_parcel_found_by_detection_runs_the_lost_parcel_milestones():
    shipment = delayed(level="red", cause="loss", detected=T0 - HOUR)

    open_proactive_tickets(shipment_ids=[shipment.pk], now=T0)

    [ticket] = proactive_tickets()
    assert ticket.sla_policy.name == "Lost parcel"
    contact = SLATimer.objects.get(ticket=ticket, name="Contact the customer")
    assert contact.started_at == T0 - HOUR  # the first-contact clock starts at detection
    assert contact.due_at == T0


def test_a_second_run_opens_nothing_more():
    shipments = [delayed() for _ in range(3)]
    ids = [s.pk for s in shipments]
    assert open_proactive_tickets(shipment_ids=ids, now=T0) == 3

    assert open_proactive_tickets(shipment_ids=ids, now=T0 + HOUR) == 0

    assert len(proactive_tickets()) == 3


def test_a_shipment_with_an_open_customer_ticket_gets_no_second_ticket_until_it_is_solved(agent):
    shipment = delayed()
    own = ticket_open(
        customer=shipment.customer,
        subject="Where is my parcel?",
        body="Still nothing.",
        shipment=shipment,
        now=T0 - HOUR,
    )

    assert open_proactive_tickets(shipment_ids=[shipment.pk], now=T0) == 0
    assert missing_shipment_ids() == []

    ticket_change_status(ticket=own, actor=agent, status="solved", now=T0 + HOUR)

    assert missing_shipment_ids() == [shipment.pk]
    assert open_proactive_tickets(shipment_ids=[shipment.pk], now=T0 + 2 * HOUR) == 1


def test_a_worker_that_loses_the_race_opens_nothing_and_does_not_fail(monkeypatch):
    shipment = delayed()
    open_proactive_tickets(shipment_ids=[shipment.pk], now=T0)
    # The other worker read the shipment before this one's ticket existed.
    monkeypatch.setattr(
        proactive, "_needing_ticket", lambda: Shipment.objects.filter(pk=shipment.pk)
    )

    assert open_proactive_tickets(shipment_ids=[shipment.pk], now=T0) == 0
    assert len(proactive_tickets()) == 1


def test_a_shipment_back_on_time_or_delivered_gets_no_ticket():
    back_on_time = factories.ShipmentFactory(delay_level="none")
    delivered = delayed(status="delivered", delivered_at=T0 - HOUR)
    returned = delayed(status="returned")

    opened = open_proactive_tickets(
        shipment_ids=[back_on_time.pk, delivered.pk, returned.pk], now=T0
    )

    assert opened == 0
    assert proactive_tickets() == []


def test_a_shipment_below_the_threshold_gets_no_ticket(settings):
    settings.PROACTIVE_TICKET_MIN_LEVEL = "orange"
    slow = delayed(level="yellow")
    silent = delayed(level="orange")

    opened = open_proactive_tickets(shipment_ids=[slow.pk, silent.pk], now=T0)

    assert opened == 1
    assert [t.shipment for t in proactive_tickets()] == [silent]


def test_the_subject_is_in_the_customers_language():
    customer = factories.CustomerFactory(language="zh-hans")
    shipment = delayed(customer=customer)

    open_proactive_tickets(shipment_ids=[shipment.pk], now=T0)

    [ticket] = proactive_tickets()
    assert ticket.language == "zh-hans"
    assert ticket.subject == f"包裹延误：订单 {shipment.order_number}"


# ---- The first-contact clock ----------------------------------------------------------------


def test_the_first_contact_is_due_a_day_after_detection_however_late_the_ticket_opens():
    shipment = delayed(detected=T0 - 10 * HOUR)

    with time_machine.travel(T0, tick=False):
        tasks.open_proactive_tickets_task([shipment.pk])

    [ticket] = proactive_tickets()
    assert ticket.created_at == T0
    timer = first_response(ticket)
    assert timer.started_at == T0 - 10 * HOUR
    assert timer.due_at == T0 + 14 * HOUR
    assert timer.warn_at == T0 + 13 * HOUR  # the Proactive delay policy warns an hour ahead


def test_a_ticket_opened_more_than_a_day_after_detection_breaches_at_once():
    shipment = delayed(detected=T0 - 30 * HOUR)
    open_proactive_tickets(shipment_ids=[shipment.pk], now=T0)
    [ticket] = proactive_tickets()
    assert first_response(ticket).due_at == T0 - 6 * HOUR

    sweep(now=T0 + timedelta(minutes=1))

    timer = first_response(ticket)
    assert timer.status == TimerStatus.BREACHED
    assert timer.breached_at == T0 - 6 * HOUR
    ticket.refresh_from_db()
    assert ticket.is_escalated is True


# ---- Detection signal and catch-up ----------------------------------------------------------


def announce(changes: list[tuple]) -> None:
    shipment_delay_changed.send(
        sender=Shipment,
        shipment_ids=[change[0] for change in changes],
        changes=changes,
        detected_at=T0,
        from_events=False,
    )


def test_detection_queues_only_shipments_that_crossed_the_threshold(queued):
    announce(
        [
            (1, "none", "yellow", "customs_hold"),  # newly delayed
            (2, "yellow", "orange", "customs_hold"),  # already had its ticket
            (3, "orange", "none", "none"),  # back on time
            (4, "none", "hub_hold", "sorting"),  # newly delayed, straight to a worse level
        ]
    )

    assert queued == [[1, 4]]


def test_a_higher_threshold_queues_only_shipments_crossing_it(queued, settings):
    settings.PROACTIVE_TICKET_MIN_LEVEL = "orange"

    announce(
        [
            (1, "none", "yellow", "customs_hold"),  # below the threshold
            (2, "yellow", "orange", "customs_hold"),  # crosses it now
            (3, "orange", "red", "customs_hold"),  # was above it already
        ]
    )

    assert queued == [[2]]


def test_a_pass_without_new_delays_queues_nothing(queued):
    announce([(1, "yellow", "none", "none")])

    assert queued == []


def test_a_large_pass_is_queued_in_chunks(queued):
    announce([(n, "none", "yellow", "weather") for n in range(1, 1202)])

    assert [len(chunk) for chunk in queued] == [500, 500, 201]
    assert [n for chunk in queued for n in chunk] == list(range(1, 1202))


def test_the_catch_up_finds_delayed_shipments_still_without_a_ticket(agent):
    first, second = delayed(), delayed(level="red")
    factories.ShipmentFactory(delay_level="none")
    delayed(status="delivered", delivered_at=T0 - HOUR)
    # A customer's own ticket about the shipment, solved, is not the proactive one.
    own = ticket_open(customer=second.customer, subject="Late!", shipment=second, now=T0)
    ticket_change_status(ticket=own, actor=agent, status="solved", now=T0)
    open_proactive_tickets(shipment_ids=[first.pk], now=T0)

    assert missing_shipment_ids() == [second.pk]


def test_the_catch_up_task_opens_the_missing_tickets():
    shipments = [delayed() for _ in range(2)]

    with time_machine.travel(T0, tick=False):
        assert tasks.open_missing_proactive_tickets_task() == 2
        assert tasks.open_missing_proactive_tickets_task() == 0

    assert [t.shipment for t in proactive_tickets()] == shipments
    assert missing_shipment_ids() == []


# ---- Concurrency (PostgreSQL: a real unique index under two writers) ------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("default_configuration")
def test_two_workers_opening_the_same_shipments_open_each_ticket_once():
    ids = [delayed().pk for _ in range(10)]
    start = threading.Barrier(2)
    opened, errors = [], []

    def worker():
        try:
            start.wait(timeout=10)
            opened.append(open_proactive_tickets(shipment_ids=ids, now=T0))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(opened) == 10
    assert Ticket.objects.filter(source="proactive").count() == 10
