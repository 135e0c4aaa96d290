"""An incident's bulk actions from its page (supervisor.incidents, supervisor.incident_offer,
supervisor.incident_actions, supervisor.tasks): notify all, offer to all, resolve; each runs
once per idempotency key (and once at all where its service says so), a large one in the
background with its progress polled by htmx, a lost one taken over; bad input gets field
messages; the roles, methods and CSRF."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compensation import services as compensation_services
from compensation.errors import CompensationError
from compensation.models import CompensationOffer, OfferStatus
from notifications.models import Notification
from shipments.models import Incident, IncidentStatus
from supervisor import incident_actions
from supervisor.forms import KEY_MISSING
from supervisor.models import IncidentAction
from supervisor.tasks import requeue_incident_actions_task, run_incident_action_task
from tests import factories
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
HTMX_POLL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "incident-actions", **EN}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def incident(db) -> Incident:
    return factories.IncidentFactory(title="Port strike Hamburg", cause="congestion")


def affected(incident, count: int, **extra) -> list[Ticket]:
    """`count` customers, each with a parcel on its way in the incident and an open ticket."""
    return [factories.TicketFactory(shipment__incident=incident, **extra) for _ in range(count)]


def detail(incident) -> str:
    return reverse("supervisor:incident_detail", args=[incident.public_id])


def notify_url(incident) -> str:
    return reverse("supervisor:incident_notify_all", args=[incident.public_id])


def resolve_url(incident) -> str:
    return reverse("supervisor:incident_resolve", args=[incident.public_id])


def offer_url(incident) -> str:
    return reverse("supervisor:incident_offer", args=[incident.public_id])


def notify(client, incident, key=None, **extra):
    data = {"notify-key": str(key or uuid.uuid4()), "notify-confirm": "on"}
    return client.post(notify_url(incident), data, **EN, **extra)


def resolve(client, incident, key=None, **extra):
    data = {"resolve-key": str(key or uuid.uuid4()), "resolve-confirm": "on"}
    return client.post(resolve_url(incident), data, **EN, **extra)


def said(response, incident) -> list[str]:
    """The messages shown on the incident's page after the redirect; the last is this POST's
    (an earlier POST that was not followed left its own before it)."""
    assert response.redirect_chain == [(detail(incident) + "#actions", 302)]
    return [str(m) for m in response.context["messages"]]


def last_said(response, incident) -> str:
    return said(response, incident)[-1]


def incident_notices(incident):
    return Notification.objects.filter(incident=incident, kind="incident_notice")


# ---- notify all -----------------------------------------------------------------------------


def test_notify_all_queues_one_incident_notice_per_affected_customer(supervisor_client, incident):
    tickets = affected(incident, 3)
    # A fourth customer has two parcels in it: one notice. A delivered parcel's customer: none.
    twice = factories.CustomerFactory()
    factories.ShipmentFactory(incident=incident, customer=twice)
    factories.ShipmentFactory(incident=incident, customer=twice)
    factories.ShipmentFactory(incident=incident, status="delivered", delivered_at=NOW)

    response = notify(supervisor_client, incident, follow=True)

    assert said(response, incident) == [
        "4 of 4 done: 4 new incident notices queued, 0 customers had already been told."
    ]
    customers = {t.customer_id for t in tickets} | {twice.pk}
    assert set(incident_notices(incident).values_list("customer_id", flat=True)) == customers
    assert incident_notices(incident).count() == 4
    run = IncidentAction.objects.get()
    assert (run.kind, run.status, run.total, run.done, run.changed) == ("notify", "done", 4, 4, 4)
    html = response.content.decode()
    assert 'data-run="notify" data-run-status="done"' in html
    assert "4 of 4 done" in html
    assert 'hx-trigger="every 2s"' not in html


def test_the_same_key_twice_notifies_once(supervisor_client, incident):
    affected(incident, 2)
    key = uuid.uuid4()

    notify(supervisor_client, incident, key=key)
    again = notify(supervisor_client, incident, key=key, follow=True)

    assert last_said(again, incident) == (
        "This action was already started: 2 of 2 done: 2 new incident notices queued, "
        "0 customers had already been told."
    )
    assert IncidentAction.objects.count() == 1
    assert incident_notices(incident).count() == 2


def test_notifying_again_tells_nobody_twice(supervisor_client, incident):
    affected(incident, 2)
    notify(supervisor_client, incident)
    late = affected(incident, 1)[0]  # joined the incident since

    response = notify(supervisor_client, incident, follow=True)

    assert last_said(response, incident) == (
        "3 of 3 done: 1 new incident notice queued, 2 customers had already been told."
    )
    assert incident_notices(incident).count() == 3
    assert incident_notices(incident).filter(customer=late.customer).count() == 1


def test_a_resolved_incident_is_not_notified(supervisor_client, incident):
    affected(incident, 1)
    incident.status, incident.resolved_at = IncidentStatus.RESOLVED, NOW
    incident.save()

    response = notify(supervisor_client, incident)

    assert response.status_code == 422
    assert str(incident_actions.INCIDENT_RESOLVED) in response.content.decode()
    assert not IncidentAction.objects.exists() and not incident_notices(incident).exists()


# ---- resolve --------------------------------------------------------------------------------


def test_resolving_marks_the_incident_resolved_and_leaves_its_tickets(
    supervisor_client, supervisor, incident
):
    tickets = affected(incident, 2)

    response = resolve(supervisor_client, incident, follow=True)

    assert said(response, incident) == ["Incident resolved."]
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at == NOW and incident.resolved_by == supervisor
    assert {t.status for t in Ticket.objects.filter(pk__in=[t.pk for t in tickets])} == {"open"}
    assert 'name="resolve-key"' not in response.content.decode()


def test_resolving_twice_resolves_once(supervisor_client, incident, frozen):
    key = uuid.uuid4()
    resolve(supervisor_client, incident, key=key)
    frozen.shift(dt.timedelta(hours=1))

    again = resolve(supervisor_client, incident, key=key, follow=True)
    assert last_said(again, incident) == "This action was already started: Incident resolved."
    incident.refresh_from_db()
    assert incident.resolved_at == NOW
    assert IncidentAction.objects.count() == 1


# ---- offer to all ---------------------------------------------------------------------------

TEN_PERCENT = {"kind": "discount_code", "percent": "10", "reason": "Strike at the port"}


def test_the_offer_page_records_a_run_and_lands_on_the_incident(supervisor_client, incident):
    tickets = affected(incident, 3)
    key = uuid.uuid4()

    response = supervisor_client.post(
        offer_url(incident), {**TEN_PERCENT, "key": str(key)}, follow=True, **EN
    )

    assert said(response, incident) == ["Offered to 3 customers."]
    offers = CompensationOffer.objects.all()
    assert sorted(o.ticket_id for o in offers) == sorted(t.pk for t in tickets)
    assert {(o.status, o.percent) for o in offers} == {(OfferStatus.OFFERED, Decimal("10.00"))}
    run = IncidentAction.objects.get()
    assert (run.kind, run.status, run.total, run.done, run.changed) == ("offer", "done", 3, 3, 3)
    assert run.params["percent"] == "10" and run.params["reason"] == "Strike at the port"

    again = supervisor_client.post(
        offer_url(incident), {**TEN_PERCENT, "key": str(key)}, follow=True, **EN
    )
    assert said(again, incident) == ["This action was already started: Offered to 3 customers."]
    assert CompensationOffer.objects.count() == 3 and IncidentAction.objects.count() == 1


def test_the_offer_form_carries_its_key(supervisor_client, incident):
    html = supervisor_client.get(offer_url(incident), **EN).content.decode()
    assert 'type="hidden" name="key"' in html


def test_a_refusal_of_the_offer_lands_on_the_form(supervisor_client, incident, monkeypatch):
    affected(incident, 1)

    def refuse(**kwargs):
        raise CompensationError("The budget is frozen.", code="frozen")

    monkeypatch.setattr(compensation_services, "offer_incident_remedy", refuse)
    response = supervisor_client.post(offer_url(incident), TEN_PERCENT, **EN)

    assert response.status_code == 422
    assert "The budget is frozen." in response.content.decode()
    run = IncidentAction.objects.get()
    assert run.status == "failed" and run.error == "The budget is frozen."


# ---- in the background, with progress -------------------------------------------------------


def test_a_large_run_goes_to_the_worker_and_the_page_polls_its_progress(
    supervisor_client, incident, settings, django_capture_on_commit_callbacks
):
    settings.SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT = 2
    affected(incident, 3)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = notify(supervisor_client, incident, follow=True)

    assert len(queued) == 1  # the task, published on commit
    assert said(response, incident) == ["Running in the background: 0 of 3 done."]
    assert not incident_notices(incident).exists()
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html and "data-polling" in html
    assert 'data-run-status="queued"' in html

    poll = supervisor_client.get(detail(incident), **HTMX_POLL)
    fragment = poll.content.decode()
    assert poll.status_code == 200 and "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="incident-actions"')
    assert "0 of 3 done" in fragment and 'hx-trigger="every 2s"' in fragment

    run = IncidentAction.objects.get()
    assert run_incident_action_task(run.pk) == "done"

    fragment = supervisor_client.get(detail(incident), **HTMX_POLL).content.decode()
    assert "3 of 3 done" in fragment and 'hx-trigger="every 2s"' not in fragment
    assert incident_notices(incident).count() == 3


def test_a_retried_or_duplicated_task_does_the_work_once(incident, supervisor, settings):
    settings.SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT = 0
    affected(incident, 2)
    started = incident_actions.action_start(
        incident=incident, kind="notify", key=uuid.uuid4(), by=supervisor, now=NOW
    )
    assert started.created and started.to_run and not incident_actions.runs_inline(started.run)

    assert run_incident_action_task(started.run.pk) == "done"
    assert run_incident_action_task(started.run.pk) == "taken"

    assert incident_notices(incident).count() == 2
    run = IncidentAction.objects.get()
    assert (run.done, run.total, run.changed) == (2, 2, 2)


def test_a_second_start_while_one_runs_joins_it(supervisor_client, incident, settings):
    settings.SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT = 0
    affected(incident, 2)
    notify(supervisor_client, incident)

    response = notify(supervisor_client, incident, follow=True)  # another tab, another key

    assert last_said(response, incident) == (
        "This action was already started: Running in the background: 0 of 2 done."
    )
    assert IncidentAction.objects.count() == 1


def test_a_run_whose_task_was_lost_is_taken_over(supervisor_client, incident, settings, frozen):
    settings.SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT = 0
    affected(incident, 2)
    notify(supervisor_client, incident)
    run = IncidentAction.objects.get()
    frozen.shift(incident_actions.STALE_AFTER + dt.timedelta(minutes=1))
    settings.SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT = 100  # small enough now: done in the request

    response = notify(supervisor_client, incident, follow=True)

    assert last_said(response, incident) == (
        "This action was already started: 2 of 2 done: 2 new incident notices queued, "
        "0 customers had already been told."
    )
    run.refresh_from_db()
    assert run.status == "done" and IncidentAction.objects.count() == 1
    assert incident_notices(incident).count() == 2


def test_a_worker_that_died_mid_run_leaves_it_to_the_next_taker(incident, supervisor, frozen):
    affected(incident, 1)
    run = IncidentAction.objects.create(
        key=uuid.uuid4(),
        incident=incident,
        kind="notify",
        total=1,
        requested_by=supervisor,
        status="running",
        started_at=NOW,
    )
    assert incident_actions.action_run(run_id=run.pk, now=NOW) is None  # still its worker's
    later = NOW + incident_actions.STALE_AFTER + dt.timedelta(seconds=1)
    assert incident_actions.action_run(run_id=run.pk, now=later).status == "done"
    assert incident_notices(incident).count() == 1


def test_an_unexpected_error_fails_the_run_with_words(incident, supervisor, monkeypatch):
    affected(incident, 1)

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(incident_actions.notification_services, "incident_notify", explode)
    started = incident_actions.action_start(
        incident=incident, kind="notify", key=uuid.uuid4(), by=supervisor, now=NOW
    )
    run = incident_actions.action_run(run_id=started.run.pk, now=NOW)
    assert run.status == "failed" and run.error == str(incident_actions.FAILED)
    assert run.finished_at == NOW


def test_the_page_lists_the_latest_runs_with_their_outcome(supervisor_client, incident):
    affected(incident, 2)
    notify(supervisor_client, incident)
    html = supervisor_client.get(detail(incident), **EN).content.decode()
    assert 'data-run="notify" data-run-status="done"' in html
    assert "2 new incident notices queued" in html
    assert "by Sam" in html


# ---- bad input, roles, methods --------------------------------------------------------------


def test_an_unconfirmed_action_is_a_field_error(supervisor_client, incident):
    affected(incident, 1)
    response = supervisor_client.post(notify_url(incident), {"notify-key": str(uuid.uuid4())}, **EN)
    assert response.status_code == 422
    assert 'data-error="confirm"' in response.content.decode()
    assert not IncidentAction.objects.exists()


@pytest.mark.parametrize("key", ["", "not-a-uuid", "x" * 500])
def test_a_missing_or_bad_key_asks_for_a_reload(supervisor_client, incident, key):
    response = supervisor_client.post(
        resolve_url(incident), {"resolve-key": key, "resolve-confirm": "on"}, **EN
    )
    assert response.status_code == 422
    assert str(KEY_MISSING) in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.OPEN


@pytest.mark.parametrize("action", [notify, resolve])
def test_agents_may_not_run_bulk_actions(agent_client, incident, action):
    affected(incident, 1)
    assert action(agent_client, incident).status_code == 403
    assert not IncidentAction.objects.exists()


@pytest.mark.parametrize("url", [notify_url, resolve_url])
def test_anonymous_goes_to_the_login_and_get_is_refused(client, supervisor_client, incident, url):
    assert supervisor_client.get(url(incident)).status_code == 405
    supervisor_client.logout()
    response = client.post(url(incident))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_unknown_incident_is_not_found(supervisor_client):
    unknown = Incident(public_id=uuid.UUID("00000000-0000-4000-8000-000000000000"))
    assert notify(supervisor_client, unknown).status_code == 404
    assert resolve(supervisor_client, unknown).status_code == 404


def test_a_post_without_the_csrf_token_is_refused(supervisor, incident):
    affected(incident, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    assert notify(client, incident).status_code == 403
    assert not incident_notices(incident).exists()


# ---- the sweeper: runs whose task was lost ----------------------------------------------------


@pytest.fixture
def published(monkeypatch):
    """The run tasks the sweeper queues (core.queue publishes through `delay`)."""
    calls: list[int] = []
    monkeypatch.setattr(run_incident_action_task, "delay", calls.append)
    return calls


def lost_run(incident, supervisor, **fields) -> IncidentAction:
    """A run recorded now whose task never arrives (the broker lost it, the worker died)."""
    values = {"kind": "notify", "total": 2, **fields}
    return IncidentAction.objects.create(
        key=uuid.uuid4(), incident=incident, requested_by=supervisor, **values
    )


def test_the_sweeper_queues_again_a_run_whose_task_was_lost(
    incident, supervisor, frozen, published
):
    affected(incident, 2)
    run = lost_run(incident, supervisor)

    frozen.shift(incident_actions.STALE_AFTER - dt.timedelta(seconds=1))
    assert requeue_incident_actions_task() == 0  # maybe still in the queue: left alone
    frozen.shift(dt.timedelta(seconds=2))
    assert requeue_incident_actions_task() == 1

    assert published == [run.pk]
    assert run_incident_action_task(run.pk) == "done"
    run.refresh_from_db()
    assert (run.status, run.done, run.changed) == ("done", 2, 2)
    assert incident_notices(incident).count() == 2


def test_the_sweeper_takes_over_a_run_whose_worker_died(incident, supervisor, frozen, published):
    affected(incident, 2)
    run = lost_run(incident, supervisor, status="running", started_at=NOW)

    frozen.shift(incident_actions.STALE_AFTER + dt.timedelta(seconds=1))
    assert requeue_incident_actions_task() == 1

    run.refresh_from_db()
    assert run.status == "queued" and run.updated_at == NOW + incident_actions.STALE_AFTER + (
        dt.timedelta(seconds=1)
    )
    assert run_incident_action_task(published[0]) == "done"
    assert incident_notices(incident).count() == 2


def test_a_run_queued_again_is_not_queued_twice_while_its_task_waits(
    incident, supervisor, frozen, published
):
    run = lost_run(incident, supervisor)
    frozen.shift(incident_actions.STALE_AFTER + dt.timedelta(seconds=1))
    assert requeue_incident_actions_task() == 1

    frozen.shift(incident_actions.STALE_AFTER - dt.timedelta(seconds=1))
    assert requeue_incident_actions_task() == 0  # its new task may be behind a busy queue
    frozen.shift(dt.timedelta(seconds=2))
    assert requeue_incident_actions_task() == 1  # that one was lost too

    assert published == [run.pk, run.pk]


def test_running_the_lost_run_again_does_nothing_twice(incident, supervisor, frozen, published):
    # The worker was only slow: it finished after the sweeper queued the run again.
    affected(incident, 2)
    run = lost_run(incident, supervisor, status="running", started_at=NOW)
    incident_actions._work(IncidentAction.objects.get(pk=run.pk), now=NOW)
    frozen.shift(incident_actions.STALE_AFTER + dt.timedelta(minutes=1))
    requeue_incident_actions_task()

    assert run_incident_action_task(run.pk) == "done"
    assert run_incident_action_task(run.pk) == "taken"

    run.refresh_from_db()
    assert (run.status, run.changed) == ("done", 0)  # the customers had been told already
    assert incident_notices(incident).count() == 2


def test_the_sweeper_leaves_finished_runs_alone(incident, supervisor, frozen, published):
    lost_run(incident, supervisor, status="done", finished_at=NOW)
    lost_run(incident, supervisor, status="failed", finished_at=NOW, kind="offer")
    frozen.shift(dt.timedelta(days=1))

    assert requeue_incident_actions_task() == 0
    assert published == []


def test_how_long_a_run_may_wait_is_a_setting(incident, supervisor, frozen, published, settings):
    settings.SUPERVISOR_INCIDENT_ACTION_STALE_MINUTES = 2
    run = lost_run(incident, supervisor)

    frozen.shift(dt.timedelta(minutes=1))
    assert requeue_incident_actions_task() == 0
    frozen.shift(dt.timedelta(minutes=1, seconds=1))
    assert requeue_incident_actions_task() == 1
    assert published == [run.pk]


def test_with_the_broker_down_the_run_waits_for_a_later_pass(
    incident, supervisor, frozen, monkeypatch
):
    from core import queue
    from core.models import PendingTask

    def refused(*args, **kwargs):
        raise OSError("Connection refused")

    monkeypatch.setattr(run_incident_action_task, "delay", refused)
    queue.broker.reset()
    run = lost_run(incident, supervisor)
    frozen.shift(incident_actions.STALE_AFTER + dt.timedelta(seconds=1))

    try:
        assert requeue_incident_actions_task() == 1
    finally:
        queue.broker.reset()

    # Not kept for core.publish_pending_tasks: the run is in the database, the next pass after
    # the window takes it again.
    assert not PendingTask.objects.exists()
    run.refresh_from_db()
    assert run.status == "queued"
    frozen.shift(incident_actions.STALE_AFTER + dt.timedelta(seconds=1))
    assert incident_actions.stale_runs_requeue(now=timezone.now()) == [run.pk]


def test_beat_runs_the_sweeper_every_minute():
    from core.schedules import periodic_tasks

    jobs = {job.name: job for job in periodic_tasks()}

    assert jobs["supervisor.requeue_incident_actions"].task == "supervisor.requeue_incident_actions"
    assert jobs["supervisor.requeue_incident_actions"].every_seconds == 60
    assert requeue_incident_actions_task.name == "supervisor.requeue_incident_actions"
