"""Browser tests: Playwright (sync API) driving Debian's chromium against pytest-django's
live_server. The module skips itself when chromium or playwright is missing."""

from __future__ import annotations

import os
import shutil
import time

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM (used by the test to
# create data) would otherwise refuse to run "from an async context".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("DELAYDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_missing_reason() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="session")
def chromium_browser():
    reason = browser_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    context = chromium_browser.new_context(
        locale="en-US", timezone_id="UTC", viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(10_000)
    inflight = track_requests(context)
    page = context.new_page()
    yield page
    settle(page, inflight)
    context.close()


def track_requests(context) -> set:
    """The requests of ``context``'s pages that have not finished yet (kept up to date)."""
    inflight: set = set()
    # Playwright wraps each handler, so a plain function rather than a bound builtin.
    context.on("request", lambda request: inflight.add(request))
    context.on("requestfinished", lambda request: inflight.discard(request))
    context.on("requestfailed", lambda request: inflight.discard(request))
    return inflight


def settle(page, inflight: set, *, seconds: float = 10) -> None:
    """Wait until the browser has no request in flight (an HTMX request the test did not wait
    for, such as the console's tab counts). Otherwise the live server may still be answering it
    when the test's database is flushed, and on PostgreSQL that request's table locks and the
    flush's TRUNCATE deadlock (seen in CI: test_login_console, "deadlock detected")."""
    deadline = time.monotonic() + seconds
    while inflight and time.monotonic() < deadline:
        page.wait_for_timeout(50)


# A phone's screen in CSS pixels (an iPhone 12 to 15), for the pages customers open on phones.
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_page(chromium_browser):
    """Opens pages as a phone does: ``phone_page(**context_options)`` is a new page in a new
    browser context with a 390x844 viewport at device scale 1, mobile and touch emulated
    (options such as ``java_script_enabled=False`` or ``locale`` go to ``new_context``). Each
    context waits until nothing is in flight before it closes (see ``settle``)."""
    opened = []

    def open_page(**options):
        context = chromium_browser.new_context(
            **{
                "viewport": PHONE,
                "device_scale_factor": 1,
                "is_mobile": True,
                "has_touch": True,
                "locale": "en-US",
                "timezone_id": "UTC",
                **options,
            }
        )
        context.set_default_timeout(10_000)
        inflight = track_requests(context)
        page = context.new_page()
        opened.append((context, page, inflight))
        return page

    yield open_page
    for context, page, inflight in opened:
        settle(page, inflight)
        context.close()
