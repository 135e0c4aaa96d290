"""The supervisor's incident pages (supervisor.incidents): the list (open first, filters, search,
period, pages, CSV), an incident's page (shipments with their customer's notice, notices sent
and not sent with why, tickets by status, money against budget, the public explanation and
the customer's page reading it), who may open them, and query counts that do not grow with
the data."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import time_machine
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compensation.models import Budget, OfferStatus
from notifications import reasons
from portal.links import PortalLinks
from shipments.models import Incident, IncidentStatus
from supervisor.incidents import EXPLANATION_SAVED
from tests import factories
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
LIST = reverse("supervisor:incidents")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def detail(incident) -> str:
    return reverse("supervisor:incident_detail", args=[incident.public_id])


def explanation_url(incident) -> str:
    return reverse("supervisor:incident_explanation", args=[incident.public_id])


def budget(incident, amount: str, currency: str = "EUR") -> Budget:
    today = timezone.localdate()
    return Budget.objects.create(
        name=f"{incident.title} budget",
        period_start=today - dt.timedelta(days=5),
        period_end=today + dt.timedelta(days=25),
        amount=Decimal(amount),
        currency=currency,
        incident=incident,
    )


def coupon(ticket, amount: str, status: str, currency: str = "EUR"):
    return factories.CompensationOfferFactory(
        ticket=ticket,
        kind="coupon",
        amount=Decimal(amount),
        currency=currency,
        status=status,
        issued_at=timezone.now() if status == OfferStatus.ISSUED else None,
    )


class World:
    """Two incidents, by hand:

    Paris (open, DHL, hub Paris CDG, started 2 days ago): shipments of Ana (red, in transit),
    Ben (orange, in transit) and Cleo (yellow, delivered); tickets: Ana's (open), Ben's
    (solved), one opened on the incident itself for Dora (open); notices: Ana's incident notice
    (sent), Ana's delay notice (delivered), Ben's incident notice (suppressed: opted out of
    e-mail); offers: 20 EUR issued on Ana's ticket, 10 EUR offered on Dora's, 5 USD issued on
    Ana's; budget 100 EUR.
    Storm (resolved, UPS, started 20 days ago): one shipment, nothing else.
    """

    def __init__(self):
        self.dhl = factories.CarrierFactory(code="dhl", name="DHL")
        self.ups = factories.CarrierFactory(code="ups", name="UPS")
        self.paris = factories.IncidentFactory(
            title="Customs hold at Paris CDG",
            cause="customs_hold",
            carrier=self.dhl,
            hub="Paris CDG",
            window_start=NOW - dt.timedelta(days=2),
            public_explanation="French customs are inspecting parcels.",
        )
        self.storm = factories.IncidentFactory(
            title="Storm in the Channel",
            cause="weather",
            carrier=self.ups,
            window_start=NOW - dt.timedelta(days=20),
            window_end=NOW - dt.timedelta(days=15),
            status=IncidentStatus.RESOLVED,
            resolved_at=NOW - dt.timedelta(days=15),
        )
        detected = NOW - dt.timedelta(days=1)

        def parcel(name, level, status="in_transit", **extra):
            return factories.ShipmentFactory(
                carrier=self.dhl,
                customer__name=name,
                incident=self.paris,
                delay_level=level,
                delay_detected_at=detected,
                status=status,
                **extra,
            )

        self.ana = parcel("Ana", "red")
        self.ben = parcel("Ben", "orange")
        self.cleo = parcel("Cleo", "yellow", status="delivered", delivered_at=NOW)
        factories.ShipmentFactory(carrier=self.ups, incident=self.storm)
        self.ana_ticket = factories.TicketFactory(shipment=self.ana, customer=self.ana.customer)
        self.ben_ticket = factories.TicketFactory(
            shipment=self.ben,
            customer=self.ben.customer,
            status=Ticket.Status.SOLVED,
            solved_at=NOW,
        )
        self.dora_ticket = factories.TicketFactory(
            incident=self.paris, shipment=None, customer__name="Dora"
        )
        factories.NotificationFactory(
            customer=self.ana.customer,
            shipment=self.ana,
            incident=self.paris,
            kind="incident_notice",
            status="sent",
            sent_at=NOW,
        )
        factories.NotificationFactory(
            customer=self.ana.customer,
            shipment=self.ana,
            incident=self.paris,
            kind="delay_notice",
            status="delivered",
            sent_at=NOW,
            delivered_at=NOW,
        )
        why = [reasons.Part(reasons.OPTED_OUT, {"channel": "email"})]
        factories.NotificationFactory(
            customer=self.ben.customer,
            shipment=self.ben,
            incident=self.paris,
            kind="incident_notice",
            status="suppressed",
            suppressed_reason=reasons.render_english(why),
            suppressed_reason_parts=reasons.to_json(why),
        )
        coupon(self.ana_ticket, "20.00", OfferStatus.ISSUED)
        coupon(self.dora_ticket, "10.00", OfferStatus.OFFERED)
        coupon(self.ana_ticket, "5.00", OfferStatus.ISSUED, currency="USD")
        budget(self.paris, "100.00")


@pytest.fixture
def world(db) -> World:
    return World()


def body_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def row(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]


# ---- the list -------------------------------------------------------------------------------


def test_the_list_shows_open_incidents_first_with_their_figures(supervisor_client, world):
    html = body_of(supervisor_client.get(LIST, **EN))

    assert html.index("Customs hold at Paris CDG") < html.index("Storm in the Channel")
    paris = row(html, f'data-incident="{world.paris.public_id}"')
    assert "data-shipments>3<" in paris
    assert "data-open-tickets>2<" in paris  # Ana's and Dora's; Ben's is solved
    assert "data-notices-sent>2<" in paris  # Ana's incident notice and delay notice
    assert "€20.00 spent of €100.00" in paris
    assert "$5.00 spent, no budget" in paris
    assert "Paris CDG" in paris and "DHL" in paris and "Customs hold" in paris
    storm = row(html, f'data-incident="{world.storm.public_id}"')
    assert "data-shipments>1<" in storm and "data-open-tickets>0<" in storm
    assert 'data-status="resolved"' in storm
    assert "data-incident-total>2<" in html
    assert 'aria-current="page">Incidents<' in html


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"status": "resolved"}, "Storm in the Channel", "Customs hold at Paris CDG"),
        ({"cause": "customs_hold"}, "Customs hold at Paris CDG", "Storm in the Channel"),
        ({"q": "storm"}, "Storm in the Channel", "Customs hold at Paris CDG"),
        ({"days": "7"}, "Customs hold at Paris CDG", "Storm in the Channel"),
    ],
)
def test_the_list_filters(supervisor_client, world, query, shown, hidden):
    html = body_of(supervisor_client.get(LIST, query, **EN))
    assert shown in html and hidden not in html


def test_the_list_filters_by_carrier(supervisor_client, world):
    html = body_of(supervisor_client.get(LIST, {"carrier": world.ups.pk}, **EN))
    assert "Storm in the Channel" in html and "Customs hold at Paris CDG" not in html


def test_bad_filters_get_messages_and_are_left_out(supervisor_client, world):
    response = supervisor_client.get(
        LIST, {"status": "nonsense", "carrier": "x", "q": "a" * 300, "days": "12"}, **EN
    )
    html = body_of(response)
    assert 'data-error="status"' in html and 'data-error="carrier"' in html
    assert 'data-error="q"' in html and 'data-error="period"' in html
    assert "Customs hold at Paris CDG" in html and "Storm in the Channel" in html


def test_the_empty_list_says_what_incidents_are(supervisor_client):
    html = body_of(supervisor_client.get(LIST, **EN))
    assert "No incidents yet" in html and "data-empty-incidents" in html


def test_no_match_offers_to_clear_the_filters(supervisor_client, world):
    html = body_of(supervisor_client.get(LIST, {"q": "volcano"}, **EN))
    assert "No incident matches these filters" in html


def test_the_list_pages(supervisor_client):
    for n in range(27):
        factories.IncidentFactory(
            title=f"Hub jam {n:02d}", window_start=NOW - dt.timedelta(hours=n)
        )
    first = body_of(supervisor_client.get(LIST, **EN))
    assert "Hub jam 00" in first and "Hub jam 26" not in first
    assert 'rel="next" href="?page=2#incidents-table"' in first
    second = body_of(supervisor_client.get(LIST, {"page": "2"}, **EN))
    assert "Hub jam 26" in second and "Hub jam 00" not in second


def test_the_list_exports_csv_streamed_with_the_filters(supervisor_client, world):
    response = supervisor_client.get(LIST, {"format": "csv", "cause": "customs_hold"}, **EN)

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Incident id", "Title", "Status"]
    assert len(rows) == 2
    paris = dict(zip(rows[0], rows[1], strict=True))
    assert paris["Title"] == "Customs hold at Paris CDG"
    assert paris["Affected shipments"] == "3"
    assert paris["Open tickets"] == "2"
    assert paris["Notices sent"] == "2"
    assert paris["Spent"] == "20.00 EUR; 5.00 USD"
    assert paris["Budget"] == "100.00 EUR"
    assert paris["Budget left"] == "70.00 EUR"  # 100 - 20 spent - 10 offered


# ---- an incident ----------------------------------------------------------------------------


def test_the_incident_page_shows_shipments_notices_tickets_and_money(supervisor_client, world):
    html = body_of(supervisor_client.get(detail(world.paris), **EN))

    assert 'data-kpi="shipments">3<' in html
    assert "2 not delivered yet" in html
    assert 'data-kpi="told">1 of 2<' in html  # Ana told; Ben suppressed; Cleo delivered
    assert 'data-kpi="open-tickets">2<' in html and "of 3 tickets" in html
    assert 'data-kpi="suppressed">1<' in html
    # Shipments, most severe first, with their customer's incident notice.
    ana = row(html, f'data-shipment="{world.ana.public_id}"')
    ben = row(html, f'data-shipment="{world.ben.public_id}"')
    cleo = row(html, f'data-shipment="{world.cleo.public_id}"')
    assert html.index(ana) < html.index(ben) < html.index(cleo)
    assert 'data-notice="sent"' in ana and "Red: predicted over a week late" in ana
    assert 'data-notice="suppressed"' in ben and "Not sent (suppressed)" in ben
    assert 'data-notice="none"' in cleo and "not told" in cleo
    # Notices, with why one was not sent.
    assert "opted out of Email" in html or "opted out of e-mail" in html.lower()
    # Tickets by status.
    assert 'data-ticket-status="open">Open: 2<' in html
    assert 'data-ticket-status="solved">Solved: 1<' in html
    # Money per currency, against the budget.
    eur = row(html, 'data-currency="EUR"')
    assert "data-committed>€10.00<" in eur and "data-spent>€20.00<" in eur
    assert "data-budget>€100.00<" in eur and "data-left>€70.00<" in eur
    usd = row(html, 'data-currency="USD"')
    assert "data-spent>$5.00<" in usd and "no budget" in usd
    # The explanation form holds the current texts.
    assert "French customs are inspecting parcels." in html
    assert "data-no-runs" in html
    assert 'name="notify-key"' in html and 'name="resolve-key"' in html


def test_the_suppressed_filter_shows_only_notices_not_sent(supervisor_client, world):
    html = body_of(supervisor_client.get(detail(world.paris), {"notices": "suppressed"}, **EN))
    table = html[html.index("data-notices-table") :]
    table = table[: table.index("</table>")]
    assert table.count('data-notice-status="suppressed"') == 1
    assert 'data-notice-status="sent"' not in table


def test_a_resolved_incident_offers_no_notify_or_resolve(supervisor_client, world):
    html = body_of(supervisor_client.get(detail(world.storm), **EN))
    assert 'name="notify-key"' not in html and 'name="resolve-key"' not in html
    assert "This incident is resolved" in html


def test_an_empty_incident_has_helpful_empty_states(supervisor_client):
    incident = factories.IncidentFactory(title="Quiet")
    html = body_of(supervisor_client.get(detail(incident), **EN))
    assert "No shipment is linked to this incident." in html
    assert "No notice about this incident yet." in html
    assert "No ticket belongs to this incident." in html
    assert "No remedy offered in this incident yet" in html


def test_the_shipments_table_pages_and_keeps_the_other_tables_pages(supervisor_client):
    incident = factories.IncidentFactory()
    carrier = factories.CarrierFactory()
    for _ in range(26):
        factories.ShipmentFactory(carrier=carrier, incident=incident)
    html = body_of(supervisor_client.get(detail(incident), {"tpage": "1"}, **EN))
    assert 'href="?tpage=1&amp;spage=2#shipments"' in html
    second = body_of(supervisor_client.get(detail(incident), {"spage": "2"}, **EN))
    assert second.count("data-shipment=") == 1


@pytest.mark.parametrize(
    ("table", "header", "count"),
    [
        ("shipments", "Order", 3),
        ("notices", "Customer", 3),
        ("tickets", "Ticket", 3),
        ("offers", "Ticket", 3),
    ],
)
def test_each_table_exports_as_csv(supervisor_client, world, table, header, count):
    response = supervisor_client.get(detail(world.paris), {"format": "csv", "table": table}, **EN)
    assert isinstance(response, StreamingHttpResponse)
    assert f"incident-{world.paris.public_id}-{table}" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][0] == header
    assert len(rows) == 1 + count


def test_the_notices_csv_says_why_a_notice_was_not_sent(supervisor_client, world):
    response = supervisor_client.get(detail(world.paris), {"format": "csv", "table": "notices"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    suppressed = [r for r in rows[1:] if r[3] == "Not sent (suppressed)"]
    assert len(suppressed) == 1 and suppressed[0][0] == "Ben"
    assert suppressed[0][6].startswith("opted out of")


def test_an_unknown_table_exports_the_shipments(supervisor_client, world):
    response = supervisor_client.get(detail(world.paris), {"format": "csv", "table": "nope"})
    assert "-shipments-" in response["Content-Disposition"]


# ---- the public explanation -----------------------------------------------------------------


def test_the_explanation_is_saved_and_the_customer_reads_it(supervisor_client, world, client):
    response = supervisor_client.post(
        explanation_url(world.paris),
        {
            "public_explanation": "  Customs at Paris CDG are checking every parcel.  ",
            "public_explanation_zh_hans": "巴黎戴高乐机场海关正在查验所有包裹。",
        },
        follow=True,
        **EN,
    )

    assert response.redirect_chain == [(detail(world.paris) + "#explanation", 302)]
    assert [str(m) for m in response.context["messages"]] == [str(EXPLANATION_SAVED)]
    world.paris.refresh_from_db()
    assert world.paris.public_explanation == "Customs at Paris CDG are checking every parcel."
    assert world.paris.explanation("zh-hans") == "巴黎戴高乐机场海关正在查验所有包裹。"
    # The customer's progress page reads it (portal: Incident.explanation).
    ticket = factories.TicketFactory(
        incident=world.paris, shipment=world.ana, customer=world.ana.customer
    )
    link = PortalLinks().mint([ticket.pk], now=timezone.now())[ticket.pk]
    case = Client().get(urlsplit(link.url).path, follow=True, **EN)
    assert case.status_code == 200
    assert "Customs at Paris CDG are checking every parcel." in case.content.decode()
    assert "data-incident" in case.content.decode()


def test_a_chinese_explanation_needs_the_english_one(supervisor_client, world):
    response = supervisor_client.post(
        explanation_url(world.paris),
        {"public_explanation": "", "public_explanation_zh_hans": "海关查验"},
        **EN,
    )
    assert response.status_code == 422
    assert 'data-error="public_explanation"' in response.content.decode()
    world.paris.refresh_from_db()
    assert world.paris.public_explanation == "French customs are inspecting parcels."


def test_a_too_long_explanation_is_a_field_error(supervisor_client, world):
    response = supervisor_client.post(
        explanation_url(world.paris), {"public_explanation": "x" * 5000}, **EN
    )
    assert response.status_code == 422
    assert 'data-error="public_explanation"' in response.content.decode()


# ---- who and how ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["list", "detail"])
def test_agents_are_refused_and_anonymous_goes_to_the_login(agent_client, client, world, name):
    url = LIST if name == "list" else detail(world.paris)
    assert agent_client.get(url).status_code == 403
    assert agent_client.get(url, {"format": "csv"}).status_code == 403
    agent_client.logout()
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_agents_may_not_edit_the_explanation(agent_client, world):
    response = agent_client.post(explanation_url(world.paris), {"public_explanation": "Hacked"})
    assert response.status_code == 403
    world.paris.refresh_from_db()
    assert world.paris.public_explanation == "French customs are inspecting parcels."


def test_an_unknown_incident_is_not_found(supervisor_client):
    url = reverse("supervisor:incident_detail", args=["00000000-0000-4000-8000-000000000000"])
    assert supervisor_client.get(url).status_code == 404
    url = reverse("supervisor:incident_explanation", args=["00000000-0000-4000-8000-000000000000"])
    assert supervisor_client.post(url, {"public_explanation": "x"}).status_code == 404


def test_wrong_methods_are_refused(supervisor_client, world):
    assert supervisor_client.post(LIST).status_code == 405
    assert supervisor_client.post(detail(world.paris)).status_code == 405
    assert supervisor_client.get(explanation_url(world.paris)).status_code == 405


def test_a_post_without_the_csrf_token_is_refused(supervisor, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    response = client.post(explanation_url(world.paris), {"public_explanation": "Hacked"})
    assert response.status_code == 403
    world.paris.refresh_from_db()
    assert world.paris.public_explanation == "French customs are inspecting parcels."


def test_the_supervisor_navigation_links_the_incidents(supervisor_client):
    html = body_of(supervisor_client.get(LIST, **EN))
    assert f'href="{LIST}"' in html


# ---- query counts ---------------------------------------------------------------------------


def grow(world: World, n: int) -> None:
    """n more incidents, each with a shipment, a ticket, a notice and an offer; and n more
    shipments, tickets and notices in Paris."""
    for i in range(n):
        incident = factories.IncidentFactory(window_start=NOW - dt.timedelta(hours=i))
        ticket = factories.TicketFactory(shipment__incident=incident, shipment__carrier=world.dhl)
        factories.NotificationFactory(
            customer=ticket.customer, incident=incident, status="sent", sent_at=NOW
        )
        coupon(ticket, "3.00", OfferStatus.ISSUED)
        budget(incident, "50.00")
        paris_ticket = factories.TicketFactory(
            shipment__incident=world.paris, shipment__carrier=world.dhl
        )
        factories.NotificationFactory(
            customer=paris_ticket.customer,
            incident=world.paris,
            kind="incident_notice",
            status="sent",
            sent_at=NOW,
        )


# The list: session, user and its permissions (4), COUNT (1), the page with its counts (1), the
# page's money and budgets (2), the carriers of the filter form (1).
LIST_QUERIES = 9
# An incident: session, user and its permissions (4), the incident (1), the summary (9:
# shipments by level and status, customers to tell, customers told, notices by kind and status,
# tickets by status, offers by status, money and budgets, the latest runs), the three tables
# (COUNT + page each: 6).
DETAIL_QUERIES = 20


@pytest.mark.parametrize("extra", [0, 30])
def test_the_list_costs_the_same_queries_at_any_size(
    supervisor_client, world, extra, django_assert_max_num_queries, no_rate_limits
):
    grow(world, extra)
    with django_assert_max_num_queries(LIST_QUERIES):
        body_of(supervisor_client.get(LIST, **EN))


@pytest.mark.parametrize("extra", [0, 30])
def test_an_incident_costs_the_same_queries_at_any_size(
    supervisor_client, world, extra, django_assert_max_num_queries, no_rate_limits
):
    grow(world, extra)
    with django_assert_max_num_queries(DETAIL_QUERIES):
        body_of(supervisor_client.get(detail(world.paris), **EN))


def test_incidents_keep_their_rows(world):
    assert Incident.objects.count() == 2
