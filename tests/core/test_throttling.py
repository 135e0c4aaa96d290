"""Throttling: the login lockout (django-axes) and the rate limits of the public endpoints, whose
counters live in the shared cache and answer 429 with Retry-After."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import threading
from urllib.parse import urlencode

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, connections
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.ratelimit import (
    rate_limited,
    rate_settings_check,
    shared_cache_check,
    wait_seconds,
)
from portal.links import PortalLinks
from shipments.ingest import webhook_signature
from shipments.models import CarrierStatusMapping
from tests import factories

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 2, 9, 0, 30, tzinfo=dt.UTC)
LOGIN = "/accounts/login/"
HERE = "192.0.2.10"
ELSEWHERE = "198.51.100.7"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lockout(settings):
    """Three failures lock; the login rate limit is out of the way of the lockout tests."""
    settings.AXES_FAILURE_LIMIT = 3
    settings.RATELIMIT_LOGIN = "1000/m"


def log_in(client, username: str, password: str, address: str = HERE):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def wrong(client, username: str = "alice", times: int = 1, address: str = HERE):
    return [log_in(client, username, "not-the-password", address) for _ in range(times)][-1]


# --- Login lockout ------------------------------------------------------------------------------


def test_failures_below_the_limit_tell_the_lockout_policy(client, agent, lockout):
    response = wrong(client, times=2)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Please enter a correct username and password" in body
    assert "After 3 failed attempts in a row, logging in is paused for 15 minutes." in body


def test_a_username_is_locked_after_the_limit_and_then_even_the_right_password_is_refused(
    client, agent, lockout
):
    wrong(client, times=2)
    response = wrong(client)

    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)
    assert "registration/locked_out.html" in [t.name for t in response.templates]

    response = log_in(client, "alice", factories.PASSWORD)

    assert response.status_code == 429
    assert not logged_in(client)


def test_the_lockout_follows_the_username_to_another_address(client, agent, lockout):
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        wrong(client, address=address)

    response = log_in(client, "alice", factories.PASSWORD, address="192.0.2.99")

    assert response.status_code == 429
    assert not logged_in(client)


def test_an_address_is_locked_after_the_limit_whatever_the_usernames(client, agent, lockout):
    for username in ("ann", "ben", "cid"):
        wrong(client, username=username)

    refused = log_in(client, "alice", factories.PASSWORD)
    assert refused.status_code == 429
    assert not logged_in(client)

    accepted = log_in(client, "alice", factories.PASSWORD, address=ELSEWHERE)
    assert accepted.status_code == 302
    assert logged_in(client)


def test_the_lockout_page_says_when_to_try_again_and_whom_to_ask(client, agent, lockout, frozen):
    response = wrong(client, times=3)

    body = response.content.decode()
    assert "Login paused" in body
    assert "Logging in failed 3 times in a row for this account or from this address" in body
    assert "Try again in 15 minutes, after 09:15." in body
    assert "Every new attempt before then starts the wait again." in body
    assert "Ask an operator or your supervisor" in body
    assert reverse("login") in body
    assert "data-staff-nav" not in body and 'class="mainnav"' not in body


def test_the_lock_lifts_by_itself_after_the_cool_off(client, agent, lockout, frozen):
    wrong(client, times=3)

    frozen.shift(dt.timedelta(minutes=14))
    assert log_in(client, "alice", factories.PASSWORD).status_code == 429
    # That attempt started the wait again.
    frozen.shift(dt.timedelta(minutes=15, seconds=1))
    response = log_in(client, "alice", factories.PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_a_success_before_the_limit_forgets_the_failures(client, agent, lockout):
    wrong(client, times=2)
    assert log_in(client, "alice", factories.PASSWORD).status_code == 302
    client.logout()

    assert wrong(client, times=2).status_code == 200


def test_an_operator_unlocks_a_user_in_the_admin(client, agent, lockout):
    wrong(client, times=3)
    operator = factories.UserFactory(username="olga", roles=("operator",))
    attempt = AccessAttempt.objects.get(username="alice")
    admin = client.__class__()
    admin.force_login(operator)

    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    response = admin.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert response.status_code == 302

    assert not AccessAttempt.objects.exists()
    assert log_in(client, "alice", factories.PASSWORD).status_code == 302


def test_an_agent_cannot_unlock_anyone(client, agent, lockout):
    wrong(client, username="ann", times=3, address=ELSEWHERE)
    client.force_login(agent)

    response = client.get(reverse("admin:axes_accessattempt_changelist"))

    assert response.status_code in (302, 403)
    assert AccessAttempt.objects.filter(username="ann").exists()


def test_an_operator_unlocks_a_user_with_the_management_command(client, agent, lockout):
    wrong(client, username="alice", times=3, address=ELSEWHERE)

    call_command("axes_reset_username", "alice", stdout=io.StringIO())

    assert log_in(client, "alice", factories.PASSWORD).status_code == 302


def test_an_operator_unlocks_an_address_with_the_management_command(client, agent, lockout):
    for username in ("ann", "ben", "cid"):
        wrong(client, username=username)

    call_command("axes_reset_ip", HERE, stdout=io.StringIO())

    assert log_in(client, "alice", factories.PASSWORD).status_code == 302


def test_the_admin_login_form_locks_out_too(client, agent, lockout):
    url = reverse("admin:login")
    for _ in range(3):
        response = client.post(url, {"username": "alice", "password": "nope"}, REMOTE_ADDR=HERE)

    assert response.status_code == 429
    assert AccessAttempt.objects.filter(username="alice").exists()


def test_api_tokens_are_not_locked_out(client, agent, lockout):
    token = Token.objects.create(user=agent)
    wrong(client, times=3)
    for _ in range(5):
        bad = client.get(
            "/api/v1/shipments/", HTTP_AUTHORIZATION="Token not-a-token", REMOTE_ADDR=HERE
        )
        assert bad.status_code in (401, 403)

    response = client.get(
        "/api/v1/shipments/", HTTP_AUTHORIZATION=f"Token {token.key}", REMOTE_ADDR=HERE
    )

    assert response.status_code == 200
    # Wrong tokens are not login failures: nothing was recorded for them.
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["alice"]


# --- Rate limits ---------------------------------------------------------------------------------


def retry_after(response) -> int:
    value = int(response["Retry-After"])
    assert 1 <= value <= 60
    return value


def assert_window_resets_after_retry_after(frozen, response, again):
    """Retry-After is the seconds until the window resets: a second earlier is still refused,
    at Retry-After the request goes through."""
    wait = retry_after(response)
    frozen.shift(dt.timedelta(seconds=wait - 1))
    assert again().status_code == 429
    frozen.shift(dt.timedelta(seconds=1))
    assert again().status_code != 429


def test_login_posts_are_limited_per_address(client, agent, settings, frozen):
    settings.RATELIMIT_LOGIN = "2/m"
    settings.AXES_FAILURE_LIMIT = 100
    wrong(client, times=2)

    response = wrong(client)

    body = response.content.decode()
    assert response.status_code == 429
    assert "429.html" in [t.name for t in response.templates]
    assert "Too many requests" in body
    assert re.search(r"Try again in 1 minute\.", body)
    assert "data-staff-nav" not in body
    assert response["Cache-Control"] == "no-store"
    # Not a lockout: no failure was recorded for the refused post.
    assert AccessAttempt.objects.get().failures_since_start == 2
    # Another address, and the page itself, are not limited.
    assert client.get(LOGIN, REMOTE_ADDR=HERE).status_code == 200
    assert log_in(client, "alice", factories.PASSWORD, address=ELSEWHERE).status_code == 302
    client.logout()
    assert_window_resets_after_retry_after(
        frozen, response, lambda: log_in(client, "alice", factories.PASSWORD)
    )


def test_the_admin_login_shares_the_login_limit(client, agent, settings):
    settings.RATELIMIT_LOGIN = "2/m"
    wrong(client, times=2)

    response = client.post(
        reverse("admin:login"), {"username": "alice", "password": "x"}, REMOTE_ADDR=HERE
    )

    assert response.status_code == 429
    assert "Retry-After" in response


@pytest.fixture
def progress_url(db):
    """The path of a customer's progress link (portal), as a notice carries it."""
    customer = factories.CustomerFactory(language="en")
    ticket = factories.TicketFactory(customer=customer)
    url = PortalLinks().mint([ticket.pk], now=timezone.now())[ticket.pk].url
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_the_progress_link_is_limited_per_address_and_recovers(
    client, progress_url, settings, frozen
):
    settings.RATELIMIT_PUBLIC_LINK = "2/m"
    for _ in range(2):
        assert client.get(progress_url, REMOTE_ADDR=HERE).status_code == 302

    response = client.get(progress_url, REMOTE_ADDR=HERE)

    body = response.content.decode()
    assert response.status_code == 429
    assert "Too many requests" in body and "Try again in 1 minute." in body
    assert "data-staff-nav" not in body and 'class="mainnav"' not in body
    assert client.get(progress_url, REMOTE_ADDR=ELSEWHERE).status_code == 302
    assert_window_resets_after_retry_after(
        frozen, response, lambda: client.get(progress_url, REMOTE_ADDR=HERE)
    )


def test_guessing_link_tokens_is_limited_too(client, settings):
    settings.RATELIMIT_PUBLIC_LINK = "2/m"
    for token in ("guess-1", "guess-2"):
        assert client.get(f"/t/{token}/", REMOTE_ADDR=HERE).status_code == 404

    assert client.get("/t/guess-3/", REMOTE_ADDR=HERE).status_code == 429
    # Old survey links and the lookup form count against the same limit.
    assert client.get("/survey/guess-4/", REMOTE_ADDR=HERE).status_code == 429
    assert client.post("/t/", {"reference": "1", "proof": "x"}, REMOTE_ADDR=HERE).status_code == 429


def test_a_staff_user_throttled_on_a_customer_page_sees_no_staff_navigation(
    agent_client, progress_url, settings
):
    settings.RATELIMIT_PUBLIC_LINK = "1/m"
    agent_client.get(progress_url)

    body = agent_client.get(progress_url).content.decode()

    assert "Console" not in body
    assert "data-staff-nav" not in body


def test_the_429_page_is_in_the_readers_language(client, settings):
    settings.RATELIMIT_PUBLIC_LINK = "1/m"
    client.get("/survey/x/")

    response = client.get("/survey/x/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    body = response.content.decode()
    assert response.status_code == 429
    assert '<html lang="zh-hans">' in body
    assert "请求过于频繁" in body and "请在 1 分钟后重试。" in body


def test_the_lockout_page_is_in_the_readers_language(client, agent, lockout):
    for _ in range(3):
        response = client.post(
            LOGIN,
            {"username": "alice", "password": "nope"},
            REMOTE_ADDR=HERE,
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )

    body = response.content.decode()
    assert response.status_code == 429
    assert "登录已暂停" in body
    assert "请联系运维人员或您的主管" in body


RECEIPTS = "/api/v1/notifications/receipts/sms/"


def post_receipt(client, address: str = HERE):
    return client.post(
        RECEIPTS,
        urlencode({"MessageSid": "SM1", "MessageStatus": "delivered"}),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=address,
    )


def test_sms_receipts_are_limited_per_address_before_the_signature_is_checked(
    client, settings, frozen
):
    settings.RATELIMIT_RECEIPTS = "2/m"
    settings.SMS_API_KEY = "provider-key"
    assert [post_receipt(client).status_code for _ in range(2)] == [403, 403]

    response = post_receipt(client)

    assert response.status_code == 429
    assert response.json() == {
        "detail": f"Too many requests. Try again in {retry_after(response)} seconds.",
        "code": "throttled",
        "errors": {},
    }
    assert post_receipt(client, address=ELSEWHERE).status_code == 403
    assert_window_resets_after_retry_after(frozen, response, lambda: post_receipt(client))


WEBHOOK = "/api/v1/tracking-events/"


@pytest.fixture
def carriers(db):
    found = {}
    for code in ("acme", "zoom"):
        found[code] = factories.CarrierFactory(code=code, webhook_secret=f"{code}-secret")
        CarrierStatusMapping.objects.create(
            carrier=found[code], carrier_code="AR", status="in_transit", cause="none"
        )
    return found


def post_batch(client, carrier: str, *, secret: str | None = None, address: str = HERE):
    """A signed batch of one scan for a parcel the carrier has no shipment for (202)."""
    scan = {
        "event_id": "E1",
        "tracking_number": "NOT-OURS-1",
        "occurred_at": "2026-11-02T08:00:00+00:00",
        "status": "AR",
        "location": "Leipzig hub",
        "description": "",
    }
    body = json.dumps({"carrier": carrier, "events": [scan]}).encode()
    headers = {
        "X-Signature": webhook_signature(secret=secret or f"{carrier}-secret", body=body),
        "X-Timestamp": str(int(timezone.now().timestamp())),
    }
    return client.post(
        WEBHOOK, data=body, content_type="application/json", headers=headers, REMOTE_ADDR=address
    )


def test_the_webhook_is_limited_per_carrier(client, carriers, settings, frozen):
    settings.RATELIMIT_WEBHOOK = "2/m"
    assert [post_batch(client, "acme").status_code for _ in range(2)] == [202, 202]

    response = post_batch(client, "acme", address=ELSEWHERE)

    assert response.status_code == 429
    assert response.json() == {
        "detail": f"Too many requests. Try again in {retry_after(response)} seconds.",
        "code": "throttled",
        "errors": {},
    }
    assert post_batch(client, "zoom").status_code == 202
    assert_window_resets_after_retry_after(frozen, response, lambda: post_batch(client, "acme"))


def test_requests_that_only_name_a_carrier_do_not_spend_its_budget(
    client, carriers, settings, frozen
):
    settings.RATELIMIT_WEBHOOK = "2/m"
    for _ in range(5):
        assert post_batch(client, "acme", secret="a-guess").status_code == 401

    assert [post_batch(client, "acme").status_code for _ in range(2)] == [202, 202]


def test_no_limit_while_rate_limits_are_off(client, settings):
    settings.RATELIMIT_ENABLE = False
    settings.RATELIMIT_RECEIPTS = "1/m"
    settings.SMS_API_KEY = "provider-key"

    assert {post_receipt(client).status_code for _ in range(3)} == {403}


DATABASE_CACHE = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "delaydesk_cache",
}


def test_an_unreachable_cache_lets_requests_through(client, settings, caplog):
    settings.RATELIMIT_RECEIPTS = "1/m"
    settings.SMS_API_KEY = "provider-key"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    assert [post_receipt(client).status_code for _ in range(3)] == [403, 403, 403]
    failures = [r for r in caplog.records if "rate limit receipts not counted" in r.message]
    assert len(failures) == 1  # once, not once a request

    settings.CACHES = {"default": DATABASE_CACHE}
    post_receipt(client)
    assert "rate limits are counted again" in caplog.text


def test_the_decorator_serves_any_public_view(rf: RequestFactory, settings):
    """The progress page (/t/<token>/) will reuse it like this."""
    settings.RATELIMIT_PUBLIC_LINK = "1/m"

    @rate_limited("public-link", "RATELIMIT_PUBLIC_LINK")
    def progress(request, token):
        return HttpResponse(token)

    first = progress(rf.get("/t/abc/", REMOTE_ADDR=HERE), "abc")
    second = progress(rf.get("/t/abc/", REMOTE_ADDR=HERE), "abc")

    assert first.status_code == 200
    assert second.status_code == 429
    assert int(second["Retry-After"]) >= 1


def test_ipv6_clients_are_counted_by_their_64_network(rf, settings):
    settings.RATELIMIT_PUBLIC_LINK = "1/m"

    def hit(address):
        return wait_seconds(
            rf.get("/t/x/", REMOTE_ADDR=address),
            group="public-link",
            rate_setting="RATELIMIT_PUBLIC_LINK",
        )

    assert hit("2001:db8:1:2::1") is None
    assert hit("2001:db8:1:2:ffff::9") is not None
    assert hit("2001:db8:1:3::1") is None


# --- The counters are shared ----------------------------------------------------------------------


def test_the_default_cache_is_shared_between_processes(settings):
    backend = settings.CACHES["default"]["BACKEND"]

    assert backend in {
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.redis.RedisCache",
    }
    assert shared_cache_check() == []


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    ],
)
def test_a_per_process_cache_is_refused_by_the_system_check(settings, backend):
    settings.CACHES = {"default": {"BACKEND": backend}}

    assert [error.id for error in shared_cache_check()] == ["core.E101"]
    with pytest.raises(SystemCheckError, match="core.E101"):
        call_command("check")


@pytest.mark.parametrize("rate", ["30", "30/minute", "m/30", ""])
def test_a_malformed_rate_is_refused_not_silently_lifted(client, settings, rate):
    settings.RATELIMIT_PUBLIC_LINK = rate

    assert [error.id for error in rate_settings_check()] == ["core.E102"]
    with pytest.raises(ImproperlyConfigured, match="RATELIMIT_PUBLIC_LINK"):
        client.get("/survey/x/")


def test_the_default_rates_are_well_formed():
    assert rate_settings_check() == []


def test_the_counter_is_a_row_of_the_database_cache(client, settings):
    if settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.db.DatabaseCache":
        pytest.skip("runs on the database cache (CACHE_URL unset)")
    settings.RATELIMIT_PUBLIC_LINK = "5/m"
    client.get("/survey/x/", REMOTE_ADDR=HERE)
    client.get("/survey/x/", REMOTE_ADDR=HERE)

    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM delaydesk_cache")
        keys = [row[0] for row in cursor.fetchall()]

    assert len([key for key in keys if key.startswith(":1:rl:")]) == 1


@pytest.mark.django_db(transaction=True)
def test_another_connection_sees_and_adds_to_the_same_count(client, settings, rf):
    """Two web processes in miniature: a second thread has its own database connection and its
    own cache object; it continues the count the test client started, and vice versa."""
    settings.RATELIMIT_PUBLIC_LINK = "3/d"  # a day's window: the test never straddles two
    url = "/survey/nothing-here/"
    assert client.get(url, REMOTE_ADDR=HERE).status_code == 404
    assert client.get(url, REMOTE_ADDR=HERE).status_code == 404
    seen = {}
    ours = caches["default"]

    def other_process():
        try:
            seen["own cache"] = caches["default"] is not ours
            request = rf.get(url, REMOTE_ADDR=HERE)
            seen["third"] = wait_seconds(
                request, group="public-link", rate_setting="RATELIMIT_PUBLIC_LINK"
            )
            seen["fourth"] = wait_seconds(
                request, group="public-link", rate_setting="RATELIMIT_PUBLIC_LINK"
            )
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_process)
    thread.start()
    thread.join()

    assert seen["own cache"]
    assert seen["third"] is None  # the 3rd hit of 3 is allowed...
    assert seen["fourth"] is not None  # ...the 4th, counted elsewhere, is over the limit
    assert client.get(url, REMOTE_ADDR=HERE).status_code == 429  # and here the 5th


OTHER_PROCESS = """
import django
django.setup()
from django.test import RequestFactory
from core.ratelimit import wait_seconds
request = RequestFactory().get("/survey/x/", REMOTE_ADDR="192.0.2.10")
for _ in range(2):
    print(wait_seconds(request, group="public-link", rate_setting="RATELIMIT_PUBLIC_LINK"))
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_another_process_continues_the_same_count(client, settings):
    """A real second process (its own interpreter, settings and connection) on the same
    database shares the counter with this one."""
    settings.RATELIMIT_PUBLIC_LINK = "3/d"
    assert client.get("/survey/x/", REMOTE_ADDR=HERE).status_code == 404
    assert client.get("/survey/x/", REMOTE_ADDR=HERE).status_code == 404
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RATELIMIT_PUBLIC_LINK": "3/d",
        "CACHE_URL": "",
    }

    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    third, fourth = done.stdout.split()
    assert third == "None"  # the 3rd hit of 3 is allowed...
    assert int(fourth) > 0  # ...the 4th is over the limit in the other process
    assert client.get("/survey/x/", REMOTE_ADDR=HERE).status_code == 429


REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_cache(settings):
    """The production cache: the local Redis (database 13, its rate-limit keys removed after)."""
    redis = pytest.importorskip("redis")
    other_connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        other_connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis answers at {REDIS_URL}")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    yield other_connection
    for key in other_connection.scan_iter(":1:rl:*"):
        other_connection.delete(key)


def test_on_redis_the_counter_is_shared_through_the_server(client, settings, redis_cache):
    settings.RATELIMIT_PUBLIC_LINK = "2/d"
    assert shared_cache_check() == []
    for _ in range(2):
        assert client.get("/survey/x/", REMOTE_ADDR=HERE).status_code == 404

    keys = list(redis_cache.scan_iter(":1:rl:*"))
    assert len(keys) == 1
    assert int(redis_cache.get(keys[0])) == 2  # seen from another connection to the server
    response = client.get("/survey/x/", REMOTE_ADDR=HERE)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
