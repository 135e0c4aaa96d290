"""The ticket page's actions (claim, release, assign, reply, note, status, priority, category,
carrier contacted, milestone done), the macro picker and the assign form.

Each action: the happy path writes its timeline row; wrong method, anonymous, no console
permission, out of scope; HTMX fragment vs redirect; a stale version (409, message, typed text
kept); invalid input (422 with the field's message).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tickets import forms, services
from tickets.models import Macro, SLATimer, Ticket, TicketEvent

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
STALE = str(services.STALE_TICKET)


def url(name: str, ticket: Ticket, *args) -> str:
    return reverse(f"tickets:{name}", args=[ticket.public_id, *args])


def detail_url(ticket: Ticket) -> str:
    return url("ticket_detail", ticket)


@pytest.fixture
def ticket(customer):
    """An open, unassigned ticket outside any team: every console user may work it."""
    return factories.TicketFactory(customer=customer, subject="Parcel stuck in Leipzig")


@dataclass(frozen=True)
class Action:
    """One action of the ticket page, as the tests drive it."""

    name: str
    event: str  # the timeline row it writes
    data: Callable[[Ticket, Any], dict[str, Any]] = lambda ticket, people: {}
    prepare: Callable[[Ticket, Any], None] = lambda ticket, people: None
    done: Callable[[Ticket, Any], bool] = lambda ticket, people: True
    invalid: dict[str, Any] = field(default_factory=dict)  # posted data that fails validation
    invalid_message: str = ""
    stale_checked: bool = True


@dataclass
class People:
    agent: Any
    other_agent: Any


def _assign_to_agent(ticket: Ticket, people: People) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(assignee=people.agent)


def _running_milestone(ticket: Ticket, people: People) -> None:
    factories.SLATimerFactory(
        ticket=ticket, kind="milestone", name="Call the carrier", met_by="manual"
    )


def _milestone_id(ticket: Ticket) -> int:
    return SLATimer.objects.get(ticket=ticket, kind="milestone").pk


ACTIONS = [
    Action(
        name="ticket_claim",
        event=TicketEvent.Kind.ASSIGNED,
        done=lambda t, p: t.assignee == p.agent and t.status == "open",
        invalid={"version": ""},
        invalid_message=str(forms.MISSING_VERSION),
    ),
    Action(
        name="ticket_release",
        event=TicketEvent.Kind.UNASSIGNED,
        prepare=_assign_to_agent,
        done=lambda t, p: t.assignee is None,
        invalid={"version": "not a number"},
        invalid_message=str(forms.MISSING_VERSION),
    ),
    Action(
        name="ticket_assign",
        event=TicketEvent.Kind.ASSIGNED,
        data=lambda t, p: {"assignee": p.other_agent.pk},
        done=lambda t, p: t.assignee == p.other_agent,
        invalid={"assignee": "999999"},
        invalid_message=str(services.NOT_AN_AGENT),
    ),
    Action(
        name="ticket_reply",
        event=TicketEvent.Kind.AGENT_REPLY,
        data=lambda t, p: {"body": "Your parcel left Leipzig this morning.", "status": ""},
        done=lambda t, p: t.messages.filter(
            kind="public", direction="outbound", body="Your parcel left Leipzig this morning."
        ).exists(),
        invalid={"body": "   "},
        invalid_message=str(services.EMPTY_MESSAGE),
    ),
    Action(
        name="ticket_note",
        event=TicketEvent.Kind.NOTE,
        data=lambda t, p: {"body": "Carrier says: label damaged."},
        done=lambda t, p: t.messages.filter(
            kind="note", body="Carrier says: label damaged."
        ).exists(),
        invalid={"body": ""},
        invalid_message=str(services.EMPTY_MESSAGE),
        stale_checked=False,  # notes only append: they never make a form stale
    ),
    Action(
        name="ticket_status",
        event=TicketEvent.Kind.STATUS_CHANGED,
        data=lambda t, p: {"status": "on_hold"},
        done=lambda t, p: t.status == "on_hold",
        invalid={"status": "lost_in_space"},
        invalid_message=str(services.INVALID_STATUS),
    ),
    Action(
        name="ticket_priority",
        event=TicketEvent.Kind.PRIORITY_CHANGED,
        data=lambda t, p: {"priority": "urgent", "reason": "VIP called twice"},
        done=lambda t, p: t.priority == "urgent" and t.priority_overridden,
        invalid={"priority": "urgent", "reason": ""},
        invalid_message=str(services.REASON_REQUIRED),
    ),
    Action(
        name="ticket_category",
        event=TicketEvent.Kind.CATEGORY_CHANGED,
        data=lambda t, p: {"category": "lost"},
        done=lambda t, p: t.category == "lost",
        invalid={"category": "aliens"},
        invalid_message=str(services.INVALID_CATEGORY),
    ),
    Action(
        name="ticket_carrier_contacted",
        event=TicketEvent.Kind.CARRIER_CONTACTED,
        invalid={"version": "0"},
        invalid_message=str(forms.MISSING_VERSION),
    ),
    Action(
        name="ticket_milestone_done",
        event=TicketEvent.Kind.MILESTONE_MET,
        prepare=_running_milestone,
        data=lambda t, p: {"timer": _milestone_id(t)},
        done=lambda t, p: t.timers.get(kind="milestone").status == "met",
        invalid={"timer": "999999"},
        invalid_message=str(services.NO_SUCH_MILESTONE),
    ),
]
ACTION_IDS = [action.name for action in ACTIONS]


@pytest.fixture
def people(agent, other_agent) -> People:
    return People(agent=agent, other_agent=other_agent)


def post_data(action: Action, ticket: Ticket, people: People, **overrides) -> dict[str, Any]:
    return {"version": ticket.version, **action.data(ticket, people), **overrides}


def prepared(action: Action, ticket: Ticket, people: People) -> Ticket:
    action.prepare(ticket, people)
    ticket.refresh_from_db()
    return ticket


# ---- happy path -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_each_action_changes_the_ticket_and_writes_its_timeline_row(
    agent_client, people, ticket, action
):
    ticket = prepared(action, ticket, people)
    events_before = TicketEvent.objects.filter(ticket=ticket, kind=action.event).count()

    response = agent_client.post(url(action.name, ticket), post_data(action, ticket, people))

    assert response.status_code == 302
    assert response["Location"] == detail_url(ticket)
    ticket.refresh_from_db()
    assert action.done(ticket, people)
    assert TicketEvent.objects.filter(ticket=ticket, kind=action.event).count() == events_before + 1


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_an_htmx_action_answers_with_the_re_rendered_ticket_fragment(
    agent_client, people, ticket, action
):
    ticket = prepared(action, ticket, people)

    response = agent_client.post(
        url(action.name, ticket), post_data(action, ticket, people), **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="ticket"')
    assert "<html" not in body
    assert response["Delaydesk-Fragment"] == "ticket"
    assert 'class="toast"' in body
    ticket.refresh_from_db()
    assert action.done(ticket, people)
    # The forms of the fragment carry the new version, ready for the next action.
    assert f'name="version" value="{ticket.version}"' in body


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_a_plain_post_redirects_back_and_the_page_confirms(agent_client, people, ticket, action):
    ticket = prepared(action, ticket, people)

    response = agent_client.post(
        url(action.name, ticket), post_data(action, ticket, people), follow=True
    )

    assert response.redirect_chain == [(detail_url(ticket), 302)]
    assert list(response.context["messages"])


# ---- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_each_action_only_answers_post(agent_client, ticket, action):
    assert agent_client.get(url(action.name, ticket)).status_code == 405


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, people, ticket, action):
    ticket = prepared(action, ticket, people)

    response = client.post(url(action.name, ticket), post_data(action, ticket, people))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    ticket.refresh_from_db()
    assert ticket.version == 1


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_a_user_without_the_console_permission_gets_403(client, people, ticket, action):
    ticket = prepared(action, ticket, people)
    client.force_login(factories.UserFactory(is_staff=True))

    response = client.post(url(action.name, ticket), post_data(action, ticket, people))

    assert response.status_code == 403
    assert not TicketEvent.objects.filter(ticket=ticket, kind=action.event).exists()


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_a_ticket_of_another_team_is_404_for_an_agent(agent_client, people, customer, action):
    theirs = factories.TicketFactory(customer=customer, team=factories.TeamFactory())
    theirs = prepared(action, theirs, people) if action.name != "ticket_release" else theirs

    response = agent_client.post(url(action.name, theirs), post_data(action, theirs, people))

    assert response.status_code == 404
    assert not TicketEvent.objects.filter(ticket=theirs, kind=action.event).exists()


# ---- optimistic locking ---------------------------------------------------------------------


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.stale_checked], ids=lambda a: a.name)
def test_a_stale_version_is_refused_with_a_clear_message(agent_client, people, ticket, action):
    ticket = prepared(action, ticket, people)
    seen = ticket.version
    data = post_data(action, ticket, people)
    Ticket.objects.filter(pk=ticket.pk).update(version=F("version") + 1)  # someone else saved

    response = agent_client.post(url(action.name, ticket), data, **HTMX)

    body = response.content.decode()
    assert response.status_code == 409
    assert STALE in body
    assert 'role="alert"' in body
    ticket.refresh_from_db()
    assert not action.done(ticket, people) or action.name == "ticket_carrier_contacted"
    assert not TicketEvent.objects.filter(ticket=ticket, kind=action.event).exists()
    # The re-rendered forms carry the current version: the agent can look and try again.
    assert f'name="version" value="{seen + 1}"' in body


def test_a_stale_reply_keeps_the_typed_text_in_the_reply_box(agent_client, ticket):
    typed = "Dear Carla,\nyour parcel <b>left</b> Leipzig & is on its way."
    Ticket.objects.filter(pk=ticket.pk).update(version=F("version") + 1)

    response = agent_client.post(
        url("ticket_reply", ticket), {"version": ticket.version, "body": typed}, **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 409
    assert STALE in body
    assert "The ticket below is now up to date, and your text is still in the form." in body
    textarea = body.split('<textarea id="reply-body"', 1)[1].split("</textarea>", 1)[0]
    assert (
        "Dear Carla,\nyour parcel &lt;b&gt;left&lt;/b&gt; Leipzig &amp; is on its way." in textarea
    )
    assert not ticket.messages.exists()


def test_a_stale_reply_without_javascript_shows_the_page_with_the_text_and_409(
    agent_client, ticket
):
    Ticket.objects.filter(pk=ticket.pk).update(version=F("version") + 1)

    response = agent_client.post(
        url("ticket_reply", ticket), {"version": ticket.version, "body": "Still typing this"}
    )

    body = response.content.decode()
    assert response.status_code == 409
    assert "<html" in body
    assert STALE in body
    assert "Still typing this</textarea>" in body


def test_two_agents_saving_the_same_ticket_do_not_overwrite_each_other(agent, other_agent, ticket):
    """Both opened version 1; Bob saves first, Alice's save is refused instead of winning."""
    alice, bob = Client(), Client()
    alice.force_login(agent)
    bob.force_login(other_agent)

    first = bob.post(url("ticket_status", ticket), {"version": 1, "status": "pending"}, **HTMX)
    second = alice.post(url("ticket_status", ticket), {"version": 1, "status": "on_hold"}, **HTMX)

    assert first.status_code == 200
    assert second.status_code == 409
    ticket.refresh_from_db()
    assert ticket.status == "pending"


# ---- invalid input --------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_invalid_input_is_422_with_the_message(agent_client, people, ticket, action):
    ticket = prepared(action, ticket, people)

    response = agent_client.post(
        url(action.name, ticket), post_data(action, ticket, people, **action.invalid), **HTMX
    )

    assert response.status_code == 422
    assert action.invalid_message in response.content.decode()
    assert response["Delaydesk-Fragment"] == "ticket"
    assert not TicketEvent.objects.filter(ticket=ticket, kind=action.event).exists()


def test_a_field_error_is_shown_under_its_field(agent_client, ticket):
    response = agent_client.post(
        url("ticket_priority", ticket),
        {"version": ticket.version, "priority": "urgent", "reason": ""},
        **HTMX,
    )

    body = response.content.decode()
    reason_field = body.split('id="priority-reason"', 1)[1].split("</div>", 1)[0]
    assert f'<p class="field-error">{services.REASON_REQUIRED}</p>' in reason_field
    assert '<details class="action-row priority-override" open>' in body


def test_claiming_a_ticket_someone_else_has_says_who_has_it(agent_client, other_agent, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(assignee=other_agent)

    response = agent_client.post(url("ticket_claim", ticket), {"version": 1}, **HTMX)

    assert response.status_code == 422
    assert "already assigned to Bob" in response.content.decode()


def test_an_agent_may_not_release_a_colleagues_ticket_but_a_supervisor_may(
    client, agent, other_agent, supervisor, ticket
):
    Ticket.objects.filter(pk=ticket.pk).update(assignee=other_agent)
    client.force_login(agent)

    refused = client.post(url("ticket_release", ticket), {"version": 1}, **HTMX)

    assert refused.status_code == 403
    assert str(services.NOT_ASSIGNEE) in refused.content.decode()
    client.force_login(supervisor)
    assert client.post(url("ticket_release", ticket), {"version": 1}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_reply_and_set_status_solves_the_ticket_in_one_step(agent_client, agent, ticket):
    response = agent_client.post(
        url("ticket_reply", ticket),
        {"version": 1, "body": "Delivered today, sorry for the wait.", "status": "solved"},
        **HTMX,
    )

    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == "solved"
    assert ticket.assignee == agent  # replying takes an unassigned ticket
    body = response.content.decode()
    assert "Alice changed the status from Open to Solved" in body
    assert "Delivered today, sorry for the wait." in body


def test_handing_a_ticket_out_of_the_agents_scope_goes_back_to_the_queue(
    agent_client, agent, customer
):
    elsewhere = factories.TicketFactory(
        customer=customer, team=factories.TeamFactory(), assignee=agent
    )

    response = agent_client.post(url("ticket_release", elsewhere), {"version": 1}, **HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("tickets:console")


# ---- macro picker ---------------------------------------------------------------------------


@pytest.fixture
def hostile_ticket():
    customer = factories.CustomerFactory(name="<script>alert(1)</script>", language="en")
    return factories.TicketFactory(customer=customer, language="en")


def make_macro(body: str, language: str = "en", **fields) -> Macro:
    fields.setdefault("slug", "test-macro")
    fields.setdefault("title", "Test")
    return Macro.objects.create(language=language, body=body, **fields)


def test_the_macro_render_view_escapes_html_from_the_customers_name(agent_client, hostile_ticket):
    macro = make_macro("Hello {customer_name}, about {order_number}.")

    response = agent_client.get(url("macro_render", hostile_ticket, macro.pk), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<textarea id="reply-body" name="body"')
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;, about ORD-" in body
    assert "<script>" not in body


def test_template_syntax_in_a_macro_stays_literal_text(agent_client, hostile_ticket, settings):
    macro = make_macro(
        "Hi {customer_name.__class__} {{ settings.SECRET_KEY }} {% debug %} <b>bold</b> {0}"
    )

    body = agent_client.get(url("macro_render", hostile_ticket, macro.pk), **HTMX).content.decode()

    assert "{customer_name.__class__} {{ settings.SECRET_KEY }} {% debug %}" in body
    assert "&lt;b&gt;bold&lt;/b&gt; {0}" in body
    assert settings.SECRET_KEY not in body


def test_a_macro_in_another_language_or_inactive_is_404(agent_client, hostile_ticket):
    chinese = make_macro("您好 {customer_name}", language="zh-hans", slug="zh")
    inactive = make_macro("Old", slug="old", is_active=False)

    assert agent_client.get(url("macro_render", hostile_ticket, chinese.pk)).status_code == 404
    assert agent_client.get(url("macro_render", hostile_ticket, inactive.pk)).status_code == 404


def test_the_macro_render_view_is_scoped_like_the_ticket(client, agent, hostile_ticket):
    macro = make_macro("Hello {customer_name}")
    target = url("macro_render", hostile_ticket, macro.pk)

    assert client.get(target).status_code == 302
    client.force_login(factories.UserFactory(is_staff=True))
    assert client.get(target).status_code == 403
    client.force_login(agent)
    Ticket.objects.filter(pk=hostile_ticket.pk).update(team=factories.TeamFactory())
    assert client.get(target).status_code == 404
    assert client.post(target).status_code == 405


def test_the_ticket_page_offers_the_macros_of_the_tickets_language(agent_client, ticket):
    make_macro("Hello {customer_name}", slug="hello", title="Friendly hello")
    make_macro("您好", language="zh-hans", slug="hello", title="中文问候")

    body = agent_client.get(detail_url(ticket)).content.decode()

    assert "Friendly hello" in body
    assert "中文问候" not in body
    macro = Macro.objects.get(slug="hello", language="en")
    assert f'data-render-url="{url("macro_render", ticket, macro.pk)}"' in body


# ---- assign form ----------------------------------------------------------------------------


def test_the_assign_form_lists_active_console_agents_only(agent_client, ticket, other_agent):
    factories.UserFactory(username="visitor", first_name="Victor", is_staff=True)
    factories.AgentFactory(username="gone", first_name="Gone", is_active=False)

    response = agent_client.get(url("assign_form", ticket) + "?version=1", **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert ">Alice (me)<" in body.replace("\n", "")
    assert f'value="{other_agent.pk}"' in body
    assert "Victor" not in body
    assert "Gone" not in body
    assert 'hx-target="#ticket"' in body


def test_without_javascript_the_assign_form_is_a_page_that_posts_normally(agent_client, ticket):
    body = agent_client.get(url("assign_form", ticket)).content.decode()

    assert "<html" in body
    assert 'action="{}"'.format(url("ticket_assign", ticket)) in body
    assert "hx-post" not in body.split("data-assign-form", 1)[0].rsplit("<form", 1)[1]


# ---- timeline after actions -----------------------------------------------------------------


def test_the_timeline_tells_what_happened_in_sentences(agent_client, agent, ticket):
    services.ticket_claim(ticket=ticket, actor=agent)
    services.ticket_override_priority(
        ticket=ticket, actor=agent, priority="urgent", reason="Customer is a <VIP>"
    )
    # As the breach sweeper writes it (tickets.sla.sweeper).
    factories.TicketEventFactory(
        ticket=ticket,
        kind=TicketEvent.Kind.SLA_BREACHED,
        is_public=False,
        data={"timer": 1, "timer_kind": "first_response", "name": "", "due_at": ""},
        created_at=timezone.now() + dt.timedelta(seconds=1),
    )
    services.ticket_add_note(ticket=ticket, actor=agent, body="Check with the hub first.")

    body = agent_client.get(detail_url(ticket)).content.decode()

    assert "Alice claimed the ticket" in body
    assert "Priority changed from Normal to Urgent: Customer is a &lt;VIP&gt;" in body
    assert "SLA breached: First response" in body
    note = body.split('class="msg msg-note msg-internal"', 1)[1].split("</li>", 1)[0]
    assert "Internal note" in note
    assert "not shown to the customer" in note
    assert "Check with the hub first." in note
    # The note's own timeline event gives way to the note itself.
    assert "added an internal note" not in body
