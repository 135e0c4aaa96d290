"""Progress links: made unguessable, kept as hashes, retired, expired, revoked, exchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from portal import links
from portal.links import PortalLinks, hash_token
from portal.models import LinkKind, ProgressLink
from tests import factories
from tests.portal.conftest import NOW, mint, path_of
from tickets.models import TicketEvent

pytestmark = pytest.mark.usefixtures("no_rate_limits")


def token_of(url: str) -> str:
    return path_of(url).strip("/").split("/")[-1]


def opens(client, url: str) -> bool:
    """The link opens its case: a redirect to the case page, which answers 200."""
    response = client.get(path_of(url))
    if response.status_code != 302:
        return False
    return client.get(response["Location"]).status_code == 200


# --- making them -------------------------------------------------------------------------------


def test_a_token_has_256_random_bits_and_only_its_hash_is_stored(case, frozen):
    url, link_id = mint(case)
    token = token_of(url)

    assert len(token) == 43  # 32 bytes, URL-safe base64
    link = ProgressLink.objects.get(pk=link_id)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM portal_progresslink")
        rows = cursor.fetchall()
    assert token not in repr(rows)


def test_tokens_never_repeat(case):
    minted = {token_of(PortalLinks().mint([case.pk], now=NOW)[case.pk].url) for _ in range(200)}
    assert len(minted) == 200


def test_one_mint_makes_one_link_per_ticket_in_one_statement(db, django_assert_num_queries):
    tickets = factories.TicketFactory.create_batch(5)
    with django_assert_num_queries(1):
        made = PortalLinks().mint([t.pk for t in tickets] * 2, now=NOW)
    assert set(made) == {t.pk for t in tickets}
    assert ProgressLink.objects.count() == 5


def test_the_stored_copy_of_a_link_shows_no_part_of_the_token(case):
    made = PortalLinks().mint([case.pk], now=NOW)[case.pk]
    assert token_of(made.url) not in made.redacted_url
    assert made.redacted_url.endswith("/t/…")


# --- exchange ----------------------------------------------------------------------------------


def test_a_link_opens_the_case_at_an_address_without_the_token(client, case):
    url, _ = mint(case)

    response = client.get(path_of(url))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:case", args=[case.public_id])
    assert token_of(url) not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "private, no-store"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "no-referrer"
    assert page["Cache-Control"] == "private, no-store"
    assert token_of(url) not in page.content.decode()


def test_opening_a_link_starts_a_new_session(client, case):
    client.get(reverse("portal:lookup"))
    before = client.session.session_key
    url, _ = mint(case)
    client.get(path_of(url))
    assert client.session.session_key != before


def test_a_case_page_without_its_link_opened_in_this_browser_is_the_plain_404(client, case):
    response = client.get(reverse("portal:case", args=[case.public_id]))
    assert response.status_code == 404
    assert "data-not-found" in response.content.decode()


def test_a_browser_sees_only_the_cases_it_opened(client, case, db):
    other = factories.TicketFactory()
    url, _ = mint(case)
    client.get(path_of(url))

    assert client.get(reverse("portal:case", args=[case.public_id])).status_code == 200
    assert client.get(reverse("portal:case", args=[other.public_id])).status_code == 404


def test_a_thousand_random_tokens_all_get_the_same_404(client, db):
    bodies = set()
    for _ in range(1000):
        response = client.get(reverse("portal:exchange", args=[secrets.token_urlsafe(32)]))
        assert response.status_code == 404
        assert response["Cache-Control"] == "private, no-store"
        bodies.add(response.content)
    assert len(bodies) == 1


def test_wrong_expired_and_revoked_tokens_get_the_same_answer(client, case, agent, frozen):
    retired_url, _ = mint(case, now=NOW - dt.timedelta(days=10))
    mint(case, now=NOW - dt.timedelta(days=9))  # retires the first after the grace period
    revoked_case = factories.TicketFactory()
    revoked_url, _ = mint(revoked_case)
    links.revoke_links(revoked_case, by=agent, now=NOW)
    closed = factories.TicketFactory(
        status="closed",
        solved_at=NOW - dt.timedelta(days=70),
        closed_at=NOW - dt.timedelta(days=61),
    )
    expired_url, _ = mint(closed)

    answers = {
        client.get(path_of(url)).content
        for url in (
            retired_url,
            revoked_url,
            expired_url,
            reverse("portal:exchange", args=["x" * 43]),
            reverse("portal:exchange", args=["short"]),
        )
    }

    assert len(answers) == 1
    assert b"data-not-found" in answers.pop()


# --- expiry ------------------------------------------------------------------------------------


def test_a_link_works_until_60_days_after_its_ticket_closes(client, case, frozen, settings):
    assert settings.PROGRESS_LINK_TTL_DAYS == 60
    url, _ = mint(case)
    case.status, case.solved_at, case.closed_at = "closed", NOW, NOW
    case.save()

    frozen.move_to(NOW + dt.timedelta(days=59, hours=23))
    assert opens(client, url)
    frozen.move_to(NOW + dt.timedelta(days=60, minutes=1))
    assert not opens(client, url)
    # ... and the page the browser already had open ends with it.
    assert client.get(reverse("portal:case", args=[case.public_id])).status_code == 404


def test_a_link_of_an_open_ticket_does_not_expire_with_age(client, case, frozen):
    url, _ = mint(case)
    frozen.move_to(NOW + dt.timedelta(days=400))
    assert opens(client, url)


# --- rotation ----------------------------------------------------------------------------------


def test_a_new_notice_link_retires_the_previous_one_after_the_grace_period(
    client, case, frozen, settings
):
    settings.PROGRESS_LINK_GRACE_HOURS = 72
    first, first_id = mint(case)
    frozen.move_to(NOW + dt.timedelta(days=3))
    second, second_id = mint(case)

    assert ProgressLink.objects.get(pk=first_id).live_until == NOW + dt.timedelta(days=6)
    assert ProgressLink.objects.get(pk=second_id).live_until is None  # the live one
    frozen.move_to(NOW + dt.timedelta(days=5, hours=23))
    assert opens(client, first) and opens(client, second)
    frozen.move_to(NOW + dt.timedelta(days=6, minutes=1))
    assert not opens(client.__class__(), first)
    assert opens(client.__class__(), second)


def test_a_minted_link_works_before_its_notice_is_confirmed_and_is_discarded_if_unsent(
    client, case
):
    maker = PortalLinks()
    live_url, _ = mint(case)
    unsent = maker.mint([case.pk], now=NOW)[case.pk]
    assert opens(client, unsent.url)  # a notice may be read before its outcome is recorded
    assert opens(client, live_url)  # not retired: it did not go out (yet)

    maker.discard([unsent.id])

    assert not ProgressLink.objects.filter(pk=unsent.id).exists()
    assert opens(client, live_url)


def test_confirming_retires_only_older_links_of_the_same_tickets(case, db):
    other = factories.TicketFactory()
    _, other_id = mint(other)
    _, old_id = mint(case)
    _, new_id = mint(case)

    assert ProgressLink.objects.get(pk=old_id).live_until is not None
    assert ProgressLink.objects.get(pk=new_id).live_until is None
    assert ProgressLink.objects.get(pk=other_id).live_until is None


# --- revocation --------------------------------------------------------------------------------


def test_an_agent_revokes_every_link_and_open_page_of_a_ticket(agent_client, agent, case):
    customer_browser = agent_client.__class__()
    url, _ = mint(case)
    assert opens(customer_browser, url)
    older, _ = mint(case)

    response = agent_client.post(reverse("portal:link_revoke", args=[case.public_id]))

    assert response.status_code == 302
    assert not opens(agent_client.__class__(), url)
    assert not opens(agent_client.__class__(), older)
    assert customer_browser.get(reverse("portal:case", args=[case.public_id])).status_code == 404
    event = TicketEvent.objects.get(ticket=case, kind=TicketEvent.Kind.LINK_REVOKED)
    assert event.actor == agent and not event.is_public
    # The next notice brings a working link again.
    fresh, _ = mint(case)
    assert opens(agent_client.__class__(), fresh)


def test_the_ticket_page_panel_shows_the_link_state(agent_client, case):
    mint(case)
    response = agent_client.get(reverse("portal:link_panel", args=[case.public_id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-link-state="working"' in body
    assert "data-revoke-links" in body


def test_agents_outside_the_tickets_scope_cannot_revoke(client, db, case):
    team = factories.TeamFactory()
    outsider = factories.AgentFactory(username="zed")
    factories.AgentProfileFactory(user=outsider, team=team)
    case.team = factories.TeamFactory()
    case.assignee = None
    case.save()
    client.force_login(outsider)
    mint(case)

    assert client.post(reverse("portal:link_revoke", args=[case.public_id])).status_code == 404
    assert not ProgressLink.objects.filter(revoked_at__isnull=False).exists()


def test_customers_cannot_reach_the_agents_panel(client, case):
    response = client.get(reverse("portal:link_panel", args=[case.public_id]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- anchors -----------------------------------------------------------------------------------


def test_an_anchor_link_opens_nothing_by_itself(client, case):
    link = links.anchor_link(case, kind=LinkKind.LOOKUP, now=NOW)
    assert link.live_until == NOW
    assert links.usable_link(hash_token("anything"), now=NOW) is None


def test_the_daily_purge_deletes_only_links_that_open_nothing(case, frozen):
    from portal.links import purge_expired_links

    mint(case)
    closed = factories.TicketFactory(
        status="closed",
        solved_at=NOW - dt.timedelta(days=70),
        closed_at=NOW - dt.timedelta(days=61),
    )
    mint(closed)
    recent = factories.TicketFactory(
        status="closed", solved_at=NOW - dt.timedelta(days=10), closed_at=NOW - dt.timedelta(days=3)
    )
    mint(recent)

    assert purge_expired_links(now=NOW) == 1
    assert set(ProgressLink.objects.values_list("ticket_id", flat=True)) == {case.pk, recent.pk}


def test_the_panel_says_no_link_works_once_the_ticket_closed_too_long_ago(agent_client, case):
    mint(case)
    case.status = "closed"
    case.solved_at = case.closed_at = timezone.now() - dt.timedelta(days=61)
    case.save()

    body = agent_client.get(reverse("portal:link_panel", args=[case.public_id])).content.decode()

    assert 'data-link-state="none"' in body
    assert "data-revoke-links" not in body
