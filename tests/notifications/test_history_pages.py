"""What we told a customer, seen from the console: the ticket page's notification panel, the
customer page with its filtered, paginated history, and the supervisor's incident notice."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.middleware import SESSION_TIME_ZONE_KEY
from notifications import dispatch, selectors
from notifications.models import Notification
from tests import factories
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


def panel_url(ticket: Ticket) -> str:
    return reverse("notifications:ticket_history", args=[ticket.public_id])


def customer_url(customer) -> str:
    return reverse("notifications:customer_detail", args=[customer.public_id])


def notify_url(incident) -> str:
    return reverse("notifications:incident_notify", args=[incident.public_id])


def notice(*, at: dt.datetime | None = None, **fields) -> Notification:
    """A notice written at `at` (created_at is auto_now_add: set it afterwards)."""
    row = factories.NotificationFactory(**fields)
    if at is not None:
        Notification.objects.filter(pk=row.pk).update(created_at=at)
        row.created_at = at
    return row


def suppressed(**fields) -> Notification:
    fields.setdefault("suppressed_reason", "the customer opted out of email")
    return notice(status="suppressed", **fields)


def sent(**fields) -> Notification:
    fields.setdefault("sent_at", fields.get("at") or timezone.now())
    return notice(status="sent", **fields)


@pytest.fixture
def ticket(agent):
    """A ticket in Alice's team, about a shipment."""
    customer = factories.CustomerFactory(name="Carla Customer", email="carla@example.com")
    return factories.TicketFactory(customer=customer, team=agent.agent_profile.team)


@pytest.fixture
def history(ticket):
    """One notice of each situation the panel must tell apart, oldest first."""
    customer, shipment = ticket.customer, ticket.shipment
    start = NOW - dt.timedelta(days=3)
    rows = {
        "delivered": notice(
            customer=customer,
            ticket=ticket,
            shipment=shipment,
            kind="delay_notice",
            status="delivered",
            recipient="carla@example.com",
            subject="Your order is delayed",
            body="Hello Carla, your parcel is held by customs.",
            sent_at=start,
            delivered_at=start + dt.timedelta(minutes=2),
            attempts=1,
            at=start,
        ),
        "failed": notice(
            customer=customer,
            shipment=shipment,
            kind="follow_up",
            channel="sms",
            recipient="+4930123456789",
            status="failed",
            last_error="Provider refused the number: unknown subscriber",
            attempts=3,
            at=start + dt.timedelta(days=1),
        ),
    }
    rows["fallback"] = sent(
        customer=customer,
        shipment=shipment,
        kind="follow_up",
        channel="email",
        recipient="carla@example.com",
        fallback_of=rows["failed"],
        body="Still on its way.",
        at=start + dt.timedelta(days=1, minutes=5),
    )
    rows["suppressed"] = suppressed(
        customer=customer,
        ticket=ticket,
        kind="ticket_reply",
        language="zh-hans",
        suppressed_reason="quiet hours: the customer sleeps until 08:00",
        at=start + dt.timedelta(days=2),
    )
    return rows


# ---- Ticket page panel ----------------------------------------------------------------------


def test_the_ticket_page_loads_the_panel_lazily_and_links_to_the_customer_page(
    agent_client, ticket
):
    body = agent_client.get(reverse("tickets:ticket_detail", args=[ticket.public_id])).content
    body = body.decode()

    assert f'hx-get="{panel_url(ticket)}" hx-trigger="load"' in body
    assert f'href="{panel_url(ticket)}"' in body  # without JavaScript: a link
    assert f'href="{customer_url(ticket.customer)}"' in body
    assert "css/notifications.css" in body


def test_the_ticket_page_keeps_its_query_budget(
    agent_client, ticket, history, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = agent_client.get(reverse("tickets:ticket_detail", args=[ticket.public_id]))

    assert response.status_code == 200


def test_the_panel_lists_the_tickets_and_the_shipments_notices_newest_first(
    agent_client, ticket, history
):
    other = factories.TicketFactory(customer=ticket.customer, team=ticket.team)
    notice(customer=ticket.customer, ticket=other, shipment=other.shipment, kind="survey")

    response = agent_client.get(panel_url(ticket), **HTMX)

    assert response.status_code == 200
    shown = [row.pk for row in response.context["history"].notices]
    assert shown == [
        history["suppressed"].pk,
        history["fallback"].pk,
        history["failed"].pk,
        history["delivered"].pk,
    ]


def test_the_panel_shows_each_notices_kind_channel_language_status_and_why(
    agent_client, ticket, history
):
    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    for text in [
        # kinds, channels, languages
        "Delay notice",
        "Follow-up",
        "Ticket reply",
        "SMS",
        "Email",
        "Simplified Chinese",
        # status badges
        'notice-status-delivered">Delivered<',
        'notice-status-failed">Failed permanently<',
        'notice-status-sent">Sent<',
        'notice-status-suppressed">Not sent (suppressed)<',
        # why, what went wrong, how often, what it replaced
        "Why not sent:",
        "quiet hours: the customer sleeps until 08:00",
        "Last error:",
        "Provider refused the number: unknown subscriber",
        "3 attempts",
        "1 attempt",
        "Fallback of a notice by SMS that failed",
        "about the shipment",
    ]:
        assert text in body, text


def test_the_panel_masks_recipients(agent_client, ticket, history):
    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "to ca•••@example.com" in body
    assert "to +49•••••••6789" in body
    assert "carla@example.com" not in body
    assert "+4930123456789" not in body


def test_a_sent_notice_s_text_unfolds_and_an_unsent_one_has_none(agent_client, ticket, history):
    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert re.search(
        r"<details class=\"notice-text\">\s*<summary>Your order is delayed</summary>\s*"
        r"<div class=\"notice-body\"><p>Hello Carla, your parcel is held by customs.</p>",
        body,
    )
    assert "Show the text that was sent" in body  # the fallback has a body but no subject
    assert body.count("<details") == 2


def test_the_panel_shows_times_in_the_readers_time_zone(agent_client, ticket):
    notice(
        customer=ticket.customer, ticket=ticket, at=dt.datetime(2025, 3, 1, 23, 30, tzinfo=dt.UTC)
    )
    session = agent_client.session
    session[SESSION_TIME_ZONE_KEY] = "Asia/Shanghai"
    session.save()

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "2025-03-02 07:30" in body


def test_a_pending_notice_says_when_it_goes_out(agent_client, ticket):
    notice(
        customer=ticket.customer,
        ticket=ticket,
        not_before=dt.datetime(2030, 1, 2, 8, 0, tzinfo=dt.UTC),
    )

    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert 'notice-status-pending">Waiting to be sent<' in body
    assert "Goes out from 2030-01-02 08:00" in body
    assert "recipient chosen when sent" in body


def test_a_notice_held_for_quiet_hours_says_why_and_until_when(agent_client, ticket):
    customer = ticket.customer
    customer.quiet_hours_start, customer.quiet_hours_end = dt.time(22), dt.time(7)
    customer.time_zone = "UTC"
    customer.save()
    due = NOW.replace(hour=23)
    row = notice(customer=customer, ticket=ticket, not_before=due, next_attempt_at=due)
    assert dispatch.dispatch_pass(now=due).deferred == 1
    row.refresh_from_db()
    assert row.status == "pending"

    english = agent_client.get(panel_url(ticket), **HTMX).content.decode()
    chinese = agent_client.get(panel_url(ticket), HTTP_ACCEPT_LANGUAGE="zh-hans", **HTMX)

    assert "Why it waits:</strong> held back for the customer&#x27;s quiet hours until " in english
    assert "2026-03-11 07:00 UTC" in english
    assert "Why not sent" not in english
    assert "因客户的免打扰时段暂缓发送，直至 2026-03-11 07:00 UTC" in chinese.content.decode()


def test_an_empty_panel_says_what_will_appear(agent_client, ticket):
    body = agent_client.get(panel_url(ticket), **HTMX).content.decode()

    assert "Nothing has been sent about this ticket or its shipment yet." in body
    assert "a notice that is held back shows why" in body


def test_the_htmx_panel_is_a_fragment_and_the_plain_request_a_page(agent_client, ticket, history):
    fragment = agent_client.get(panel_url(ticket), **HTMX)
    page = agent_client.get(panel_url(ticket))

    assert fragment.content.decode().lstrip().startswith('<h2 id="notices-title">')
    assert "<html" not in fragment.content.decode()
    assert "<html" in page.content.decode()
    assert "quiet hours: the customer sleeps until 08:00" in page.content.decode()
    assert "HX-Request" in fragment["Vary"]


def test_the_panel_stops_at_its_limit_and_points_to_the_customer_page(agent_client, ticket):
    for i in range(selectors.TICKET_PANEL_LIMIT + 1):
        notice(customer=ticket.customer, ticket=ticket, at=NOW - dt.timedelta(minutes=i))

    response = agent_client.get(panel_url(ticket), **HTMX)

    assert len(response.context["history"].notices) == selectors.TICKET_PANEL_LIMIT
    assert "Older notices are on the customer page." in response.content.decode()


# The panel costs a fixed number of queries:
#  1. session  2. user  3. user permissions  4. group permissions
#  5. the agent's team (Ticket.objects.visible_to)  6. the ticket (customer joined)
#  7. the notices (ticket, shipment, replaced notice as annotations)
PANEL_QUERIES = 7


@pytest.mark.parametrize("n", [2, 30])
def test_the_panel_runs_a_constant_number_of_queries(
    agent_client, ticket, django_assert_max_num_queries, n
):
    for i in range(n):
        failed = notice(customer=ticket.customer, shipment=ticket.shipment, status="failed")
        sent(customer=ticket.customer, ticket=ticket, fallback_of=failed, body=f"text {i}")

    with django_assert_max_num_queries(PANEL_QUERIES):
        response = agent_client.get(panel_url(ticket), **HTMX)

    assert len(response.context["history"].notices) == min(2 * n, selectors.TICKET_PANEL_LIMIT)


# ---- Permissions (panel and customer page) ---------------------------------------------------


@pytest.fixture
def theirs(other_agent):
    """A ticket of Bob's team, not assigned to Alice: outside her scope."""
    return factories.TicketFactory(team=other_agent.agent_profile.team)


def test_anonymous_visitors_are_sent_to_the_login_page(client, ticket):
    for path in (panel_url(ticket), customer_url(ticket.customer)):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_a_user_without_the_console_role_gets_403(client, ticket):
    client.force_login(factories.UserFactory())

    assert client.get(panel_url(ticket)).status_code == 403
    assert client.get(customer_url(ticket.customer)).status_code == 403


def test_another_teams_ticket_and_customer_are_404_for_an_agent(agent_client, theirs):
    suppressed(customer=theirs.customer, ticket=theirs)

    assert agent_client.get(panel_url(theirs), **HTMX).status_code == 404
    assert agent_client.get(customer_url(theirs.customer)).status_code == 404


def test_an_agent_sees_a_customer_once_one_of_their_tickets_is_in_scope(
    agent_client, agent, theirs
):
    factories.TicketFactory(customer=theirs.customer, shipment=None, assignee=agent)

    assert agent_client.get(customer_url(theirs.customer)).status_code == 200


def test_a_supervisor_sees_every_customer_even_one_without_tickets(supervisor_client, theirs):
    lone = factories.CustomerFactory()

    assert supervisor_client.get(panel_url(theirs), **HTMX).status_code == 200
    assert supervisor_client.get(customer_url(theirs.customer)).status_code == 200
    assert supervisor_client.get(customer_url(lone)).status_code == 200


def test_unknown_tickets_and_customers_are_404(supervisor_client):
    ticket = Ticket(public_id=uuid.uuid4())
    customer = factories.CustomerFactory.build()

    assert supervisor_client.get(panel_url(ticket)).status_code == 404
    assert supervisor_client.get(customer_url(customer)).status_code == 404


def test_the_console_pages_only_answer_get(agent_client, ticket):
    assert agent_client.post(panel_url(ticket)).status_code == 405
    assert agent_client.post(customer_url(ticket.customer)).status_code == 405


# ---- Customer page --------------------------------------------------------------------------


@pytest.fixture
def profiled(ticket):
    customer = ticket.customer
    customer.tier = "vip"
    customer.language = "zh-hans"
    customer.region = "asia"
    customer.time_zone = "Asia/Shanghai"
    customer.preferred_channel = "sms"
    customer.opt_out_email = True
    customer.opt_out_push = True
    customer.quiet_hours_start = dt.time(22, 0)
    customer.quiet_hours_end = dt.time(8, 0)
    customer.delay_tolerance_hours = 36
    customer.save()
    return customer


def test_the_customer_page_shows_the_profile(agent_client, profiled):
    body = agent_client.get(customer_url(profiled)).content.decode()

    for text in [
        "Carla Customer",
        "VIP",
        "Simplified Chinese",
        "Asia",
        "Asia/Shanghai",
        "Preferred channel",
        "SMS",
        'badge badge-warning">Email<',
        'badge badge-warning">App push<',
        "22:00–08:00",
        "36 h",
    ]:
        assert text in body, text
    assert "tier default" not in body


def test_without_its_own_tolerance_the_customer_has_the_tiers(agent_client, ticket, settings):
    settings.NOTICE_TOLERANCE_HOURS_BY_TIER = {
        **settings.NOTICE_TOLERANCE_HOURS_BY_TIER,
        "regular": 18,
    }

    body = agent_client.get(customer_url(ticket.customer)).content.decode()

    assert "18 h" in body
    assert "tier default" in body


def test_the_customer_page_links_their_tickets_in_scope_and_their_shipments(
    agent_client, ticket, other_agent
):
    customer = ticket.customer
    hidden = factories.TicketFactory(
        customer=customer, subject="Bob's case", team=other_agent.agent_profile.team
    )
    loose = factories.ShipmentFactory(customer=customer, tracking_number="LOOSE0001")

    body = agent_client.get(customer_url(customer)).content.decode()

    assert reverse("tickets:ticket_detail", args=[ticket.public_id]) in body
    assert reverse("tickets:ticket_detail", args=[hidden.public_id]) not in body
    for shipment in (ticket.shipment, hidden.shipment, loose):
        assert reverse("shipments:shipment_detail", args=[shipment.public_id]) in body
        assert shipment.tracking_number in body


def test_the_history_shows_every_notice_with_links_to_its_ticket_and_shipment(
    agent_client, ticket, history
):
    body = agent_client.get(customer_url(ticket.customer)).content.decode()

    assert "4 notices" in body
    assert "quiet hours: the customer sleeps until 08:00" in body
    assert f">Ticket #{ticket.pk}</a>" in body
    assert body.count('data-notice="') == 4


def test_the_history_can_be_narrowed_to_suppressed_notices(agent_client, ticket, history):
    response = agent_client.get(customer_url(ticket.customer), {"status": "suppressed"})

    assert [row.pk for row in response.context["notices"]] == [history["suppressed"].pk]
    body = response.content.decode()
    assert "1 notice" in body
    assert '<option value="suppressed" selected>' in body


def test_the_history_can_be_narrowed_by_kind_and_status(agent_client, ticket, history):
    by_kind = agent_client.get(customer_url(ticket.customer), {"kind": "follow_up"})
    both = agent_client.get(
        customer_url(ticket.customer), {"kind": "follow_up", "status": "failed"}
    )

    assert {row.pk for row in by_kind.context["notices"]} == {
        history["failed"].pk,
        history["fallback"].pk,
    }
    assert [row.pk for row in both.context["notices"]] == [history["failed"].pk]


def test_an_unknown_filter_value_is_ignored(agent_client, ticket, history):
    response = agent_client.get(customer_url(ticket.customer), {"status": "lost'; --"})

    assert response.status_code == 200
    assert len(response.context["notices"]) == 4


def test_an_empty_filter_result_offers_to_show_everything(agent_client, ticket, history):
    body = agent_client.get(customer_url(ticket.customer), {"status": "cancelled"}).content.decode()

    assert "No notice matches this filter." in body
    assert "Show every notice" in body


def test_a_customer_we_never_wrote_to_says_so(agent_client, ticket):
    body = agent_client.get(customer_url(ticket.customer)).content.decode()

    assert "We have not written to this customer yet." in body


def test_the_history_is_paginated_by_25_and_the_links_keep_the_filter(agent_client, ticket):
    for i in range(30):
        suppressed(customer=ticket.customer, at=NOW - dt.timedelta(minutes=i))
    notice(customer=ticket.customer, status="cancelled")

    first = agent_client.get(customer_url(ticket.customer), {"status": "suppressed"})
    second = agent_client.get(customer_url(ticket.customer), {"status": "suppressed", "page": 2})

    assert len(first.context["notices"]) == 25
    assert len(second.context["notices"]) == 5
    assert 'href="?status=suppressed&amp;page=2"' in first.content.decode()
    assert "1–25 of 30" in first.content.decode()
    first_times = [row.created_at for row in first.context["notices"]]
    assert first_times == sorted(first_times, reverse=True)
    assert min(first_times) > max(row.created_at for row in second.context["notices"])


def test_an_htmx_request_gets_the_history_section_only(agent_client, ticket, history):
    response = agent_client.get(customer_url(ticket.customer), {"status": "suppressed"}, **HTMX)

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="notice-history"')
    assert "Profile" not in body
    assert "HX-Request" in response["Vary"]


def make_customer_history(ticket: Ticket, n: int) -> None:
    """n notices of every shape, n tickets and n shipments for the ticket's customer."""
    customer = ticket.customer
    for _ in range(n):
        other = factories.TicketFactory(customer=customer, team=ticket.team)
        failed = notice(customer=customer, shipment=other.shipment, status="failed")
        sent(customer=customer, ticket=other, shipment=other.shipment, fallback_of=failed)
        suppressed(customer=customer, ticket=ticket)


# The customer page costs a fixed number of queries, however long the customer's history:
#  1. session  2. user  3. user permissions  4. group permissions
#  5. the agent's team (Ticket.objects.visible_to, once for the page)
#  6. the customer (an agent: with a ticket in scope, as EXISTS)
#  7. notice count  8. the page of notices (ticket, shipment, replaced channel annotated)
#  9. the customer's tickets in scope  10. the customer's shipments (carrier joined)
CUSTOMER_QUERIES = 10


@pytest.mark.parametrize("n", [3, 30])
def test_the_customer_page_runs_a_constant_number_of_queries(
    agent_client, ticket, django_assert_max_num_queries, n
):
    make_customer_history(ticket, n)

    with django_assert_max_num_queries(CUSTOMER_QUERIES):
        response = agent_client.get(customer_url(ticket.customer))

    assert len(response.context["notices"]) == min(3 * n, 25)
    assert len(response.context["detail"].tickets) == min(n + 1, selectors.CUSTOMER_LIST_LIMIT)


@pytest.mark.parametrize("n", [3, 30])
def test_a_supervisor_s_customer_page_needs_no_team_lookup(
    supervisor_client, ticket, django_assert_max_num_queries, n
):
    make_customer_history(ticket, n)

    with django_assert_max_num_queries(CUSTOMER_QUERIES - 1):
        response = supervisor_client.get(customer_url(ticket.customer), {"status": "failed"})

    assert len(response.context["notices"]) == min(n, 25)


# ---- Recipient masking ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "channel", "masked"),
    [
        ("carla@example.com", "email", "ca•••@example.com"),
        ("al@example.com", "email", "a•••@example.com"),
        ("+4930123456789", "sms", "+49•••••••6789"),
        ("+12345", "sms", "••••••"),
        ("device-token-abcdef123456", "push", "devi…3456"),
        ("", "email", ""),
    ],
)
def test_recipients_are_masked(recipient, channel, masked):
    assert selectors.mask_recipient(recipient, channel) == masked


# ---- Incident notice ------------------------------------------------------------------------


@pytest.fixture
def incident():
    return factories.IncidentFactory(title="French customs strike", affected_count=3)


@pytest.fixture
def fake_notify(monkeypatch):
    """notifications.services.incident_notify, recorded; returns 3."""
    calls = []

    def incident_notify(*, incident, by=None, now=None):
        calls.append({"incident": incident, "by": by})
        return 3

    monkeypatch.setattr("notifications.services.incident_notify", incident_notify)
    return calls


def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_supervisor_page_offers_the_notice_with_a_confirmation(supervisor_client, incident):
    body = supervisor_client.get(reverse("supervisor:home")).content.decode()

    assert f'href="{notify_url(incident)}" hx-post="{notify_url(incident)}"' in body
    assert "hx-confirm=" in body
    assert "to the customers of its 3 shipments?" in body
    assert "Notify affected customers" in body


def test_without_javascript_the_button_leads_to_a_confirmation_page(
    supervisor_client, incident, fake_notify
):
    response = supervisor_client.get(notify_url(incident))

    body = response.content.decode()
    assert response.status_code == 200
    assert "French customs strike" in body
    assert "3 shipments are part of this incident." in body
    assert "Send the incident notice" in body
    assert fake_notify == []  # a GET changes nothing


def test_notifying_queues_the_notices_and_says_how_many(
    supervisor_client, supervisor, incident, fake_notify
):
    response = supervisor_client.post(notify_url(incident), follow=False)

    assert response.status_code == 302
    assert response["Location"] == reverse("supervisor:home") + "#incidents"
    assert fake_notify == [{"incident": incident, "by": supervisor}]
    assert flashed(response) == ["3 customers will be notified about “French customs strike”."]


def test_with_htmx_the_browser_is_sent_back_to_the_supervisor_page(
    supervisor_client, incident, fake_notify
):
    response = supervisor_client.post(notify_url(incident), **HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("supervisor:home") + "#incidents"
    assert len(fake_notify) == 1


def test_nothing_new_to_send_is_said_plainly(supervisor_client, incident, monkeypatch):
    monkeypatch.setattr("notifications.services.incident_notify", lambda **kwargs: 0)

    response = supervisor_client.post(notify_url(incident))

    assert flashed(response) == [
        "No new notice for “French customs strike”: every affected customer has already been told."
    ]


def test_a_resolved_incident_is_not_announced(supervisor_client, incident, fake_notify):
    incident.status = "resolved"
    incident.resolved_at = timezone.now()
    incident.save()

    page = supervisor_client.get(notify_url(incident)).content.decode()
    response = supervisor_client.post(notify_url(incident))

    assert "Send the incident notice" not in page
    assert fake_notify == []
    assert flashed(response) == [
        "This incident is resolved: its customers hear about their parcels through their own "
        "notices."
    ]


def test_only_who_edits_incidents_may_notify(agent_client, incident, fake_notify):
    assert agent_client.get(notify_url(incident)).status_code == 403
    assert agent_client.post(notify_url(incident)).status_code == 403
    response = Client().post(notify_url(incident))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert fake_notify == []


def test_an_unknown_incident_is_404_and_other_methods_405(supervisor_client, fake_notify):
    unknown = factories.IncidentFactory.build()
    incident = factories.IncidentFactory()

    assert supervisor_client.post(notify_url(unknown)).status_code == 404
    assert supervisor_client.put(notify_url(incident)).status_code == 405
    assert fake_notify == []


def test_the_real_service_queues_one_notice_per_affected_customer(supervisor_client, incident):
    first, second = factories.CustomerFactory(), factories.CustomerFactory()
    for customer in (first, first, second):
        factories.ShipmentFactory(customer=customer, incident=incident)

    response = supervisor_client.post(notify_url(incident))
    again = supervisor_client.post(notify_url(incident))

    queued = Notification.objects.filter(incident=incident, kind="incident_notice")
    assert set(queued.values_list("customer", flat=True)) == {first.pk, second.pk}
    assert flashed(response) == ["2 customers will be notified about “French customs strike”."]
    # (the first message was not shown yet: the test did not follow the redirect)
    assert "every affected customer has already been told" in flashed(again)[-1]


# ---- Why not sent, in the reader's language ---------------------------------------------------


def test_a_dispatcher_reason_is_shown_in_the_agents_language_and_time_zone(agent_client, ticket):
    """The worker decides in English; a Chinese-reading agent in Shanghai reads the reason in
    Chinese, with the channel names translated and the time in their zone."""
    from notifications import reasons

    why = [
        reasons.Part(reasons.OPTED_OUT, {"channel": "email"}),
        reasons.Part(reasons.FREQUENCY_CAP, {"time": "2026-03-09T23:30:00+00:00"}),
    ]
    suppressed(
        customer=ticket.customer,
        ticket=ticket,
        suppressed_reason=reasons.render_english(why),
        suppressed_reason_parts=reasons.to_json(why),
    )
    session = agent_client.session
    session[SESSION_TIME_ZONE_KEY] = "Asia/Shanghai"
    session.save()

    english = agent_client.get(panel_url(ticket), **HTMX).content.decode()
    chinese = agent_client.get(
        panel_url(ticket), HTTP_ACCEPT_LANGUAGE="zh-hans", **HTMX
    ).content.decode()

    assert (
        "opted out of Email; frequency cap: the customer already heard about a delay at "
        "2026-03-10 07:30 CST" in english
    )
    assert "已退订电子邮件；发送频率限制：客户已于 2026-03-10 07:30 CST 收到过延误通知" in chinese
    assert "opted out" not in chinese


def test_a_reason_stored_without_parts_is_shown_as_written(agent_client, ticket):
    suppressed(customer=ticket.customer, ticket=ticket, suppressed_reason="set by hand")
    suppressed(
        customer=ticket.customer,
        ticket=ticket,
        suppressed_reason="kept for a message that changed",
        suppressed_reason_parts=[["no longer a message %(gone)s", {}], "not a part"],
    )

    body = agent_client.get(
        panel_url(ticket), HTTP_ACCEPT_LANGUAGE="zh-hans", **HTMX
    ).content.decode()

    assert "set by hand" in body
    assert "kept for a message that changed" in body
