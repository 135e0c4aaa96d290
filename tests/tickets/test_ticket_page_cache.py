"""The ticket page's kept parts (tickets.fragments) are never older than the ticket: after each
kind of action the next view renders them again, under another key, with the new fact.

Each test views the page twice (the second view is served from the cache: the same key, not
rendered again), acts through the services (or the page's own form), then views it again."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone

from core.middleware import SESSION_TIME_ZONE_KEY
from shipments import ingest
from shipments.models import CarrierStatusMapping
from tests import factories
from tickets import fragments, services
from tickets.models import SLATimer, Ticket
from tickets.sla.sweeper import sweep

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def kept(monkeypatch):
    """Every use of the cache by the ticket page: (key, whether it was rendered afresh)."""
    uses: list[tuple[str, bool]] = []
    keep = fragments.kept

    def spy(key, render):
        rendered = []

        def render_and_note():
            rendered.append(True)
            return render()

        html = keep(key, render_and_note)
        uses.append((key, bool(rendered)))
        return html

    monkeypatch.setattr(fragments, "kept", spy)
    return uses


@pytest.fixture
def ticket(agent, default_configuration):
    customer = factories.CustomerFactory(name="Lin Wei")
    shipment = factories.ShipmentFactory(customer=customer)
    ticket = services.ticket_open(
        customer=customer,
        subject="Where is my parcel?",
        body="It has not moved for a week.",
        shipment=shipment,
        route=False,
    )
    factories.TrackingEventFactory(shipment=shipment, location="Shenzhen hub")
    return services.ticket_claim(ticket=ticket, actor=agent)


def url(ticket: Ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.public_id])


def view(client, ticket: Ticket, kept, **headers) -> tuple[str, dict[str, tuple[str, bool]]]:
    """The page, and what it did with each kept part: {"timeline"/"scans": (key, rendered)}."""
    kept.clear()
    response = client.get(url(ticket), **headers)
    assert response.status_code == 200
    return response.content.decode(), {key.split(":")[0]: (key, new) for key, new in kept}


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def reply(ticket, agent, other_agent):
    services.ticket_reply(ticket=ticket, actor=agent, body="We asked the carrier today.")
    return "We asked the carrier today."


def note(ticket, agent, other_agent):
    services.ticket_add_note(ticket=ticket, actor=agent, body="Carrier hotline is slow.")
    return "Carrier hotline is slow."


def status(ticket, agent, other_agent):
    services.ticket_change_status(ticket=fresh(ticket), actor=agent, status="on_hold")
    return "Alice changed the status from Open to On hold (waiting on carrier)"


def assignment(ticket, agent, other_agent):
    services.ticket_assign(ticket=fresh(ticket), actor=agent, assignee=other_agent)
    return "Alice assigned the ticket to Bob"


def priority(ticket, agent, other_agent):
    supervisor = factories.SupervisorFactory(first_name="Sam")
    services.ticket_override_priority(
        ticket=fresh(ticket), actor=supervisor, priority="urgent", reason="Angry VIP"
    )
    return "Priority changed from Normal to Urgent: Angry VIP"


def category(ticket, agent, other_agent):
    services.ticket_change_category(ticket=fresh(ticket), actor=agent, category="lost")
    return "Category changed from Delay to Lost"


def sla_warning(ticket, agent, other_agent):
    timer = SLATimer.objects.filter(ticket=ticket, status="active").order_by("due_at").first()
    sweep(now=timer.warn_at or timer.due_at)
    return "SLA warning:"


def sla_breach(ticket, agent, other_agent):
    timer = SLATimer.objects.filter(ticket=ticket, status="active").order_by("due_at").first()
    sweep(now=timer.due_at + dt.timedelta(minutes=1))
    return "SLA breached:"


def milestone_met(ticket, agent, other_agent):
    timer = factories.SLATimerFactory(ticket=ticket, kind="milestone", name="Call the carrier")
    services.ticket_meet_milestone(ticket=fresh(ticket), actor=agent, timer_id=timer.pk)
    return "Milestone met: Call the carrier"


def notice(ticket, agent, other_agent):
    services.record_event(ticket, "notification_sent", at=timezone.now(), channel="sms")
    return "The customer was notified by SMS"


def remedy(ticket, agent, other_agent):
    services.record_event(
        ticket, "compensation_proposed", at=timezone.now(), actor=agent, kind="partial_refund"
    )
    return "Remedy proposed: Partial refund"


ACTIONS = [
    reply,
    note,
    status,
    assignment,
    priority,
    category,
    sla_warning,
    sla_breach,
    milestone_met,
    notice,
    remedy,
]


@pytest.mark.parametrize("action", ACTIONS, ids=[action.__name__ for action in ACTIONS])
def test_the_timeline_is_rendered_again_after(agent_client, ticket, other_agent, kept, action):
    agent = ticket.assignee
    view(agent_client, ticket, kept)
    body, parts = view(agent_client, ticket, kept)
    before_key, rendered = parts["timeline"]
    assert not rendered  # the second view came from the cache

    fact = action(ticket, agent, other_agent)
    assert fact not in body
    body, parts = view(agent_client, ticket, kept)

    after_key, rendered = parts["timeline"]
    assert rendered
    assert after_key != before_key
    assert fact in body


def test_a_new_scan_renders_the_scans_again(agent_client, ticket, kept):
    view(agent_client, ticket, kept)
    body, parts = view(agent_client, ticket, kept)
    before_key, rendered = parts["scans"]
    assert not rendered
    assert "Shenzhen hub" in body

    shipment = ticket.shipment
    event = ingest.EventIn(
        event_id="EV-NEW-1",
        tracking_number=shipment.tracking_number,
        occurred_at=timezone.now(),
        carrier_code="AR",
        status="out_for_delivery",
        cause="none",
        location="Leipzig depot",
    )
    ingest.tracking_events_ingest(
        carrier=shipment.carrier, events=[event], received_at=timezone.now()
    )
    body, parts = view(agent_client, ticket, kept)

    after_key, rendered = parts["scans"]
    assert rendered and after_key != before_key
    assert "Leipzig depot" in body


def test_a_scan_whose_code_gets_mapped_renders_the_scans_again(agent_client, ticket, kept):
    shipment = ticket.shipment
    unmapped = ingest.unmapped_event(
        event_id="EV-ODD-1",
        tracking_number=shipment.tracking_number,
        occurred_at=timezone.now(),
        carrier_code="ZZ9",
        location="Leipzig depot",
    )
    ingest.tracking_events_ingest(
        carrier=shipment.carrier, events=[unmapped], received_at=timezone.now()
    )
    view(agent_client, ticket, kept)
    body, parts = view(agent_client, ticket, kept)
    before_key, rendered = parts["scans"]
    assert not rendered
    assert "unmapped code" in body

    CarrierStatusMapping.objects.create(
        carrier=shipment.carrier, carrier_code="ZZ9", status="out_for_delivery", cause="none"
    )
    ingest.unmapped_events_apply(
        carrier_id=shipment.carrier_id, carrier_code="ZZ9", now=timezone.now()
    )
    body, parts = view(agent_client, ticket, kept)

    assert parts["scans"][0] != before_key
    assert "unmapped code" not in body
    assert "Out for delivery" in body


def test_the_htmx_answer_to_an_action_shows_it_at_once(agent_client, ticket, kept):
    view(agent_client, ticket, kept, **HTMX)
    ticket = fresh(ticket)

    response = agent_client.post(
        f"{url(ticket)}note/", {"body": "Seen by the carrier.", "version": ticket.version}, **HTMX
    )

    assert response.status_code == 200
    assert "Seen by the carrier." in response.content.decode()


def test_readers_in_other_languages_and_time_zones_get_their_own_rendering(
    agent_client, ticket, kept
):
    english_body, english = view(agent_client, ticket, kept)
    chinese_body, chinese = view(agent_client, ticket, kept, HTTP_ACCEPT_LANGUAGE="zh-hans")
    session = agent_client.session
    session[SESSION_TIME_ZONE_KEY] = "Asia/Shanghai"
    session.save()
    _, shanghai = view(agent_client, ticket, kept)

    assert chinese["timeline"][1] and shanghai["timeline"][1]
    assert len({english["timeline"][0], chinese["timeline"][0], shanghai["timeline"][0]}) == 3
    assert "Ticket opened" in english_body
    assert "Ticket opened" not in chinese_body


def test_a_renamed_customer_is_named_in_the_kept_timeline(agent_client, ticket, kept):
    view(agent_client, ticket, kept)
    ticket.customer.name = "Wei Lin"
    ticket.customer.save(update_fields=["name", "updated_at"])

    body, parts = view(agent_client, ticket, kept)

    assert parts["timeline"][1]
    timeline = body[
        body.index("data-timeline>") : body.index("</ol>", body.index("data-timeline>"))
    ]
    assert "Wei Lin" in timeline  # the author of the customer's message


def test_after_an_action_only_the_new_row_is_rendered_and_the_page_is_as_rendered_afresh(
    agent_client, ticket, kept, monkeypatch
):
    agent = ticket.assignee
    for i in range(3):
        services.ticket_add_note(ticket=ticket, actor=agent, body=f"Note {i}")
    view(agent_client, ticket, kept)
    services.ticket_reply(ticket=ticket, actor=agent, body="We asked the carrier today.")
    rows_rendered = []
    get_template = fragments.get_template

    class Counting:
        def __init__(self, template):
            self.template = template

        def render(self, context):
            rows_rendered.append(context["entry"])
            return self.template.render(context)

    monkeypatch.setattr(fragments, "get_template", lambda name: Counting(get_template(name)))

    with time_machine.travel(timezone.now(), tick=False):
        body, parts = view(agent_client, ticket, kept)
        new_rows = len(rows_rendered)
        caches[fragments.CACHE_ALIAS].clear()
        afresh, _ = view(agent_client, ticket, kept)

    assert parts["timeline"][1]  # a new timeline...
    assert new_rows == 1  # ...of which only the reply was rendered
    assert rows_rendered[0].message.body == "We asked the carrier today."
    assert len(rows_rendered) - new_rows > 5  # every row, with nothing kept
    assert without_tokens(body) == without_tokens(afresh)


def without_tokens(body: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1", body)
