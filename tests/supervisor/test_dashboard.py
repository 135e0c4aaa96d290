"""The dashboard page (/supervisor/): access, the period and its comparison, the filters and
their chips, the KPI cards and their links, the CSV export, and its query count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from supervisor import kpis, rollup, trends
from tests import factories
from tickets.models import SatisfactionSurvey

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("supervisor:home")
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
D = dt.timedelta(days=1)
H = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def solved(at=NOW - 2 * D, **kwargs):
    return factories.TicketFactory(status="solved", solved_at=at, **kwargs)


def refresh():
    """The first-contact, proactive and repurchase figures read the rollup: rebuild it."""
    rollup.rollup_refresh(now=NOW, full=True)


# ---- access ---------------------------------------------------------------------------------


def test_agents_are_refused_the_dashboard_and_its_export(agent_client):
    assert agent_client.get(DASHBOARD).status_code == 403
    assert agent_client.get(DASHBOARD, {"format": "csv"}).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(DASHBOARD, {"format": "csv"})

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_the_dashboard_only_answers_get(supervisor_client):
    assert supervisor_client.post(DASHBOARD).status_code == 405


# ---- the page -------------------------------------------------------------------------------


def test_an_empty_system_shows_no_data_in_grey_and_never_a_made_up_number(supervisor_client):
    response = supervisor_client.get(DASHBOARD)

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-figure="csat_mean" data-status="no_data"' in body
    assert "No data" in body
    assert "No compensation was issued in the period." in body
    assert "dashboard_charts" in response.context
    assert response.context["kpis"].figure("resolved_without_escalation").value_text == "—"


def test_each_figure_shows_its_target_its_change_and_a_link_to_its_cases(supervisor_client):
    solved(is_escalated=True)
    for _ in range(3):
        solved()
    solved(at=NOW - 40 * D)  # previous period: 1 of 1 without escalation

    response = supervisor_client.get(DASHBOARD)

    figure = response.context["kpis"].figure("resolved_without_escalation")
    assert (figure.value, figure.previous, figure.status) == (0.75, 1.0, "missed")
    body = response.content.decode()
    assert 'data-figure="resolved_without_escalation" data-status="missed"' in body
    assert "75.0%" in body
    assert "target &gt;= 90.0%" in body
    assert "−25.0 pp" in body and "was 100.0%" in body
    assert "kpi-change-bad" in body
    link = reverse("supervisor:drilldown_tickets") + "?kpi=escalated"
    assert f'href="{link}"' in body


def test_a_chosen_period_is_compared_with_the_one_of_the_same_length_before(supervisor_client):
    solved(at=NOW - 3 * D)  # 28 March: in the week
    solved(at=NOW - 9 * D, is_escalated=True)  # 22 March: in the week before
    solved(at=NOW - 20 * D, is_escalated=True)  # in neither

    response = supervisor_client.get(DASHBOARD, {"start": "2026-03-25", "end": "2026-03-31"})

    scope = response.context["scope"]
    previous = response.context["previous"]
    assert (previous.first_day, previous.last_day) == (dt.date(2026, 3, 18), dt.date(2026, 3, 24))
    assert scope.length == previous.length
    figure = response.context["kpis"].figure("resolved_without_escalation")
    assert (figure.value, figure.previous) == (1.0, 0.0)
    assert "data-period" in response.content.decode()
    week = supervisor_client.get(DASHBOARD, {"days": "7"}).context["kpis"]
    assert week.figure("resolved_without_escalation").previous == 0.0


@pytest.mark.parametrize("name", ["team", "carrier", "lane", "region", "incident", "tier"])
def test_each_filter_narrows_every_figure(supervisor_client, name):
    chosen = factories.ShipmentFactory(
        delay_level="red",
        delay_detected_at=NOW - 2 * D,
        incident=factories.IncidentFactory(),
        customer=factories.CustomerFactory(tier="vip"),
    )
    other = factories.ShipmentFactory(delay_level="red", delay_detected_at=NOW - 2 * D)
    team = factories.TeamFactory()
    solved(shipment=chosen, customer=chosen.customer, team=team, incident=chosen.incident,
           is_escalated=True)  # fmt: skip
    solved(shipment=other, customer=other.customer)
    values = {
        "team": team.pk,
        "carrier": chosen.carrier_id,
        "lane": chosen.lane_id,
        "region": chosen.destination_region.lower(),  # any case
        "incident": chosen.incident.public_id,
        "tier": "vip",
    }

    refresh()
    unfiltered = supervisor_client.get(DASHBOARD).context["kpis"]
    response = supervisor_client.get(DASHBOARD, {name: values[name]})

    assert unfiltered.figure("resolved_without_escalation").value == 0.5
    assert response.context["kpis"].figure("resolved_without_escalation").value == 0.0
    stats = kpis.contact_stats(response.context["scope"], now=NOW)
    assert stats[kpis.CURRENT].affected == 1
    body = response.content.decode()
    assert "data-chips" in body  # the filter as a chip, with a link that removes it
    assert response.context["chips"][0][2] == ""
    link = response.context["kpis"].figure("resolved_without_escalation").link
    assert f"{name}=" in link


def test_a_bad_filter_gets_a_field_message_and_the_page_still_answers(supervisor_client):
    solved(is_escalated=True)

    response = supervisor_client.get(
        DASHBOARD, {"team": "999999", "start": "2026-03-10", "end": "2026-03-01"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-error="team"' in body
    assert 'data-error="end"' in body
    assert response.context["kpis"].figure("resolved_without_escalation").value == 0.0


def test_the_sla_alerts_panel_shows_the_first_fifty_of_open_tickets_by_due_time(
    supervisor_client,
):
    # Breaches of solved tickets, due before every open one: none of them takes a place.
    for n in range(5):
        factories.SLATimerFactory(
            ticket=solved(), status="breached", breached_at=NOW - (30 + n) * D,
            due_at=NOW - (30 + n) * D,
        )  # fmt: skip
    open_ticket = factories.TicketFactory(status="open")
    alerts = [
        factories.SLATimerFactory(
            ticket=open_ticket, kind="milestone", name=f"step {n}",
            status="breached" if n % 2 else "active",
            breached_at=NOW - (60 - n) * H if n % 2 else None, due_at=NOW - (60 - n) * H,
        )
        for n in range(55)
    ]  # fmt: skip

    shown = supervisor_client.get(DASHBOARD).context["dashboard"].sla_alerts

    assert shown == alerts[:50]


def test_the_morning_panels_stay_below_the_figures(supervisor_client):
    factories.IncidentFactory(title="French customs backlog")
    body = supervisor_client.get(DASHBOARD).content.decode()

    assert body.index("data-kpis") < body.index('id="approvals"')
    assert "French customs backlog" in body
    assert "data-scorecards-link" in body  # supervisor:scorecards exists


# ---- CSV ------------------------------------------------------------------------------------


def test_the_csv_export_streams_the_kpi_table_and_the_cost_tables(supervisor_client):
    solved(is_escalated=True)
    solved()
    shipment = factories.ShipmentFactory(delay_level="red", delay_detected_at=NOW - 2 * D)
    for amount, currency in ((Decimal("20.00"), "EUR"), (Decimal("15.00"), "USD")):
        factories.CompensationOfferFactory(
            ticket=factories.TicketFactory(shipment=shipment, customer=shipment.customer),
            amount=amount,
            currency=currency,
            status="issued",
            issued_at=NOW - D,
        )

    refresh()
    response = supervisor_client.get(DASHBOARD, {"format": "csv"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "section,figure,key,value,previous,change,target,status,currency,offers"
    row = next(line for line in lines if ",resolved_without_escalation," in line)
    assert row.endswith(",0.5,,,0.9,missed,,")
    assert any(",cost_total,20.00,0,20.00,,,EUR," in line for line in lines)
    assert any(",cost_total,15.00,0,15.00,,,USD," in line for line in lines)
    assert any(",cost_per_order,20.00,,,,,EUR," in line for line in lines)


# ---- query count ----------------------------------------------------------------------------


def fill(n: int, agent) -> None:
    carrier = factories.CarrierFactory()
    for i in range(n):
        shipment = factories.ShipmentFactory(
            carrier=carrier,
            delay_level="red",
            delay_detected_at=NOW - (i % 20 + 1) * D,
            ordered_at=NOW - (i % 20 + 5) * D,
            currency="EUR" if i % 2 else "USD",
        )
        ticket = solved(shipment=shipment, customer=shipment.customer, assignee=agent,
                        is_escalated=i % 3 == 0)  # fmt: skip
        factories.MessageFactory(ticket=ticket)
        factories.NotificationFactory(
            customer=shipment.customer, shipment=shipment, status="sent", sent_at=NOW - D
        )
        factories.SLATimerFactory(ticket=ticket, status="met", met_at=NOW - D)
        factories.CompensationOfferFactory(
            ticket=ticket, status="issued", issued_at=NOW - D, currency=shipment.currency
        )
        factories.CompensationOfferFactory(ticket=ticket, status="pending_approval")
        factories.IncidentFactory(carrier=carrier)
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=NOW - D, agent=agent, rating=1 + i % 5,
            answered_at=NOW - D, sent_at=NOW - D,
        )  # fmt: skip


def dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(DASHBOARD).status_code == 200
    return len(queries)


# The dashboard's own queries, whatever the data (the charts' are supervisor.trends' own):
#  1-4. session, user, user and group permissions;  5-6. the filter form's team and carrier
#  options;  7. the rollup's freshness;  8-13. the KPI families (supervisor.kpis: contact,
#  SLA, CSAT, escalation, repurchase, compensation);  14-18. the panels (pending offers and
#  their count, open incidents, SLA alerts, satisfaction by agent).
DASHBOARD_OWN_QUERIES = 18
# The figures kept for the next view (supervisor.snapshot), on the database cache of the tests:
# the rollup's generation and the cache read; on a first view the write (cull count, read,
# write, in a savepoint).
SNAPSHOT_FIRST_VIEW_QUERIES = 7


def test_the_dashboard_costs_the_same_queries_at_two_sizes(supervisor_client, agent):
    fill(3, agent)
    refresh()
    small = dashboard_queries(supervisor_client)
    fill(27, agent)
    refresh()
    large = dashboard_queries(supervisor_client)

    assert small == large
    scope = supervisor_client.get(DASHBOARD).context["scope"]
    with CaptureQueriesContext(connection) as charts:
        trends.dashboard_charts(scope, now=NOW)
    assert large == DASHBOARD_OWN_QUERIES + len(charts) + SNAPSHOT_FIRST_VIEW_QUERIES
