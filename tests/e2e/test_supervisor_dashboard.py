"""A supervisor opens the dashboard in a real browser, in English and in Chinese: reads a KPI and
a chart's numbers from its table, and follows a figure to the tickets behind it; no
Content-Security-Policy violation; on a phone the page does not scroll sideways."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.utils import timezone

from supervisor import rollup
from tests import factories
from tests.e2e.conftest import browser_missing_reason
from tests.e2e.test_csp import (
    PHONE,
    log_in,
    watched,  # noqa: F401 (the fixture, used by name)
)
from tickets.models import Ticket

_missing = browser_missing_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_missing is not None, reason=f"browser tests skipped: {_missing}"),
]

if _missing is None:
    from playwright.sync_api import expect

DASHBOARD = "/supervisor/"
SCREENSHOTS = os.environ.get("DELAYDESK_SCREENSHOTS", "test-results")


@pytest.fixture
def month(transactional_db, default_configuration):
    """Three parcels found late two days ago, each with a solved ticket: one escalated."""
    factories.SupervisorFactory(username="sam", first_name="Sam")
    now = timezone.now()
    detected = now - dt.timedelta(days=2)
    tickets = []
    for n, escalated in enumerate((True, False, False)):
        shipment = factories.ShipmentFactory(
            delay_level="orange", delay_detected_at=detected, delay_cause="customs_hold"
        )
        ticket = factories.TicketFactory(
            shipment=shipment,
            customer=shipment.customer,
            subject=f"Parcel held at customs {n}",
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            status="solved",
            solved_at=now - dt.timedelta(days=1),
            is_escalated=escalated,
            escalated_at=now - dt.timedelta(days=1, hours=2) if escalated else None,
        )
        tickets.append(ticket)
    refresh_rollup()
    return tickets


def refresh_rollup() -> None:
    """The dashboard's rolled-up figures, brought up to date as the periodic task does."""
    rollup.rollup_refresh(full=True)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_reads_the_dashboard_and_follows_a_figure(watched, month, language):  # noqa: F811
    browser = watched(language=language)
    page = browser.page
    log_in(browser, "sam", DASHBOARD)

    heading = "Supervisor dashboard" if language == "en" else "主管"
    expect(page.locator("h1")).to_contain_text(heading)
    escalation = page.locator('[data-figure="resolved_without_escalation"]')
    expect(escalation.locator("[data-value]")).to_contain_text("66.7")

    # The chart of delays detected per day, read from its table: 3 on the day they were found.
    table = page.locator('[data-chart-table="delays"]')
    expect(table.locator("caption")).to_be_visible()
    counts = [text.strip() for text in table.locator("tbody tr td").all_inner_texts()]
    assert "3" in counts, counts

    # The figure's link opens the tickets behind it: the escalated one.
    escalation.locator("[data-drilldown]").click()
    page.wait_for_load_state("load")
    assert "/supervisor/tickets/" in page.url and "kpi=" in page.url
    expect(page.locator("main")).to_contain_text("Parcel held at customs 0")
    expect(page.locator("main")).not_to_contain_text("Parcel held at customs 1")
    browser.assert_clean()


WORKSPACE = {
    "dashboard": DASHBOARD,
    "causes": "/supervisor/causes/",
    "agents": "/supervisor/agents/",
    "incidents": "/supervisor/incidents/",
    "list": "/supervisor/tickets/?kpi=escalated",
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_workspace_fits_a_phone(watched, month, language):  # noqa: F811
    phone = watched(language=language, viewport=PHONE)
    log_in(phone, "sam", DASHBOARD)
    os.makedirs(SCREENSHOTS, exist_ok=True)
    widths = {}
    for name, path in WORKSPACE.items():
        phone.goto(path)
        widths[name] = phone.page.evaluate("document.documentElement.scrollWidth")
        phone.page.screenshot(path=f"{SCREENSHOTS}/supervisor-{name}-phone-{language}.png")
    assert widths == dict.fromkeys(WORKSPACE, PHONE["width"])
    phone.assert_clean()
