"""The lists behind the dashboard's figures (/supervisor/tickets/ and /supervisor/shipments/):
access, the rows of each figure with links to their pages, paging, filters, CSV, queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shipments.models import DelayLevelChange
from supervisor import kpis, rollup
from supervisor.drilldown import DRILLDOWNS, PAGE_SIZE
from tests import factories
from tickets.models import SatisfactionSurvey

pytestmark = pytest.mark.django_db

TICKETS = reverse("supervisor:drilldown_tickets")
SHIPMENTS = reverse("supervisor:drilldown_shipments")
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def ticket_link(ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.public_id])


def shipment_link(shipment) -> str:
    return reverse("shipments:shipment_detail", args=[shipment.public_id])


def delayed(detected_at, **kwargs):
    return factories.ShipmentFactory(delay_level="red", delay_detected_at=detected_at, **kwargs)


def refresh():
    """The shipment lists read the rollup, like the figures: rebuild it from the fixture."""
    rollup.rollup_refresh(now=NOW, full=True)


def rows(response) -> list:
    return response.context["rows"]


# ---- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [TICKETS, SHIPMENTS])
def test_agents_get_nothing_and_anonymous_visitors_log_in(client, agent, url):
    assert client.get(url, {"kpi": "escalated"}).status_code == 302
    client.force_login(agent)
    assert client.get(url, {"kpi": "escalated"}).status_code == 403
    assert client.get(url, {"kpi": "first_contact", "format": "csv"}).status_code == 403


def test_an_unknown_list_is_not_found_and_no_list_shows_the_choice(supervisor_client):
    assert supervisor_client.get(TICKETS, {"kpi": "nonsense"}).status_code == 404
    assert supervisor_client.get(TICKETS, {"kpi": "first_contact"}).status_code == 404
    assert supervisor_client.get(SHIPMENTS, {"kpi": "escalated"}).status_code == 404
    body = supervisor_client.get(SHIPMENTS).content.decode()
    assert "kpi=first_contact_late" in body


# ---- ticket lists ---------------------------------------------------------------------------


def test_the_escalated_list_shows_the_escalated_tickets_of_the_period(supervisor_client):
    escalated = factories.TicketFactory(status="solved", solved_at=NOW - D, is_escalated=True)
    factories.TicketFactory(status="solved", solved_at=NOW - D)
    factories.TicketFactory(status="solved", solved_at=NOW - 40 * D, is_escalated=True)

    response = supervisor_client.get(TICKETS, {"kpi": "escalated"})

    assert [row.link for row in rows(response)] == [ticket_link(escalated)]
    assert f'href="{ticket_link(escalated)}"' in response.content.decode()


def test_the_negative_list_holds_the_affected_customers_answers_of_1_or_2(supervisor_client):
    def answer(rating, shipment):
        ticket = factories.TicketFactory(shipment=shipment, customer=shipment.customer)
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=NOW - 2 * D, rating=rating, answered_at=NOW - D,
            comment="Nobody told me",
        )  # fmt: skip
        return ticket

    unhappy = answer(2, delayed(NOW - 5 * D))
    answer(5, delayed(NOW - 5 * D))
    answer(1, factories.ShipmentFactory())  # never delayed

    response = supervisor_client.get(TICKETS, {"kpi": "negative"})

    assert [row.link for row in rows(response)] == [ticket_link(unhappy)]
    assert "Nobody told me" in response.content.decode()
    assert len(rows(supervisor_client.get(TICKETS, {"kpi": "csat"}))) == 2


def test_the_sla_lists_hold_breached_and_soon_due_timers(supervisor_client):
    breached = factories.TicketFactory()
    factories.SLATimerFactory(ticket=breached, status="breached", breached_at=NOW - D,
                              due_at=NOW - D)  # fmt: skip
    soon = factories.TicketFactory()
    factories.SLATimerFactory(ticket=soon, due_at=NOW + 20 * dt.timedelta(minutes=1))

    def links(kpi):
        return [row.link for row in rows(supervisor_client.get(TICKETS, {"kpi": kpi}))]

    assert links("sla_first_response") == [ticket_link(breached)]
    assert links("sla_resolution") == []
    assert links("sla_breached_now") == [ticket_link(breached)]
    assert links("sla_due_soon") == [ticket_link(soon)]


def test_breaching_now_lists_the_open_tickets_timers_the_figure_counts(supervisor_client):
    late = factories.TicketFactory(status="open")
    factories.SLATimerFactory(ticket=late, kind="resolution", status="breached",
                              breached_at=NOW - 3 * H, due_at=NOW - 3 * H)  # fmt: skip
    unswept = factories.TicketFactory(status="pending")
    factories.SLATimerFactory(ticket=unswept, due_at=NOW - 5 * dt.timedelta(minutes=1))
    # History: breaches of solved tickets, older (they sort first), and clocks not run out.
    for days in (10, 20, 30):
        factories.SLATimerFactory(
            ticket=factories.TicketFactory(status="solved", solved_at=NOW - D),
            status="breached", breached_at=NOW - days * D, due_at=NOW - days * D,
        )  # fmt: skip
    factories.SLATimerFactory(ticket=late, due_at=NOW + 10 * dt.timedelta(minutes=1))
    factories.SLATimerFactory(ticket=late, kind="next_response", status="breached",
                              breached_at=NOW - D, due_at=NOW - D)  # fmt: skip

    response = supervisor_client.get(TICKETS, {"kpi": "sla_breached_now"})

    assert [row.link for row in rows(response)] == [ticket_link(late), ticket_link(unswept)]
    figure = kpis.sla_stats(response.context["scope"], now=NOW)["breached_now"]
    assert figure == len({row.link for row in rows(response)})


def test_the_survey_lists_hold_what_the_figures_count(supervisor_client):
    def answer(shipment, rating, *, sent=NOW - 3 * D, answered=NOW - 2 * D):
        ticket = factories.TicketFactory(shipment=shipment, customer=shipment.customer)
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=sent - H, rating=rating, sent_at=sent,
            answered_at=answered if rating else None,
        )  # fmt: skip
        return ticket

    delayed_now = answer(delayed(NOW - 5 * D), 1)
    recovered = factories.ShipmentFactory()  # back on time: its customer was affected
    DelayLevelChange.objects.create(
        shipment=recovered, from_level="none", to_level="yellow", cause="unknown",
        changed_at=NOW - 9 * D,
    )  # fmt: skip
    back_on_time = answer(recovered, 2)
    happy = answer(delayed(NOW - 5 * D), 5)
    unanswered = answer(delayed(NOW - 5 * D), None)
    answer(factories.ShipmentFactory(), 1)  # never delayed
    answer(delayed(NOW - 50 * D), 1, sent=NOW - 45 * D, answered=NOW - 44 * D)  # before

    def links(kpi):
        return {row.link for row in rows(supervisor_client.get(TICKETS, {"kpi": kpi}))}

    stats = kpis.csat_stats(supervisor_client.get(TICKETS).context["scope"])
    assert links("csat") == {ticket_link(t) for t in (delayed_now, back_on_time, happy)}
    assert len(links("csat")) == stats["answers_cur"]
    assert links("negative") == {ticket_link(delayed_now), ticket_link(back_on_time)}
    assert len(links("negative")) == stats["low_cur"]
    sent = {ticket_link(t) for t in (delayed_now, back_on_time, happy, unanswered)}
    assert links("csat_sent") == sent
    assert len(sent) == stats["sent_cur"]


def test_a_list_pages_through_rows_of_the_same_moment_by_id(supervisor_client):
    offers = [
        factories.CompensationOfferFactory(status="issued", issued_at=NOW - D)
        for _ in range(PAGE_SIZE + 2)
    ]
    newest_first = [ticket_link(offer.ticket) for offer in reversed(offers)]

    first = supervisor_client.get(TICKETS, {"kpi": "compensation"})
    second = supervisor_client.get(TICKETS, {"kpi": "compensation", "page": "2"})

    assert [row.link for row in rows(first)] == newest_first[:PAGE_SIZE]
    assert [row.link for row in rows(second)] == newest_first[PAGE_SIZE:]
    assert "data-next" in first.content.decode()


def test_the_compensation_list_shows_each_remedy_in_its_own_currency(supervisor_client):
    for amount, currency in ((Decimal("20.00"), "EUR"), (Decimal("15.00"), "USD")):
        factories.CompensationOfferFactory(
            amount=amount, currency=currency, status="issued", issued_at=NOW - D
        )

    response = supervisor_client.get(TICKETS, {"kpi": "compensation"})

    body = response.content.decode()
    assert "€20.00" in body and "$15.00" in body
    text = b"".join(
        supervisor_client.get(TICKETS, {"kpi": "compensation", "format": "csv"}).streaming_content
    ).decode("utf-8-sig")
    assert ",20.00,EUR," in text and ",15.00,USD," in text


# ---- shipment lists -------------------------------------------------------------------------


@pytest.fixture
def contacted(agent):
    on_time = delayed(NOW - 5 * D)
    factories.NotificationFactory(customer=on_time.customer, shipment=on_time, status="sent",
                                  sent_at=NOW - 5 * D + 3 * H)  # fmt: skip
    late = delayed(NOW - 5 * D)
    ticket = factories.TicketFactory(shipment=late, customer=late.customer, source="agent")
    reply = factories.MessageFactory(ticket=ticket, direction="outbound", author=agent)
    type(reply).objects.filter(pk=reply.pk).update(created_at=NOW - 5 * D + 30 * H)
    silent = delayed(NOW - 2 * D)
    waiting = delayed(NOW - 2 * H)
    return {"on_time": on_time, "late": late, "silent": silent, "waiting": waiting}


def test_the_late_list_holds_the_shipments_not_contacted_within_24_hours(
    supervisor_client, contacted
):
    refresh()
    response = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact_late"})

    found = [row.link for row in rows(response)]
    assert sorted(found) == sorted(shipment_link(contacted[k]) for k in ("late", "silent"))
    stats = kpis.contact_stats(response.context["scope"], now=NOW)[kpis.CURRENT]
    assert stats.measured - stats.under == len(found)  # the figure's own count
    body = response.content.decode()
    assert "Not contacted" in body and "Late" in body
    everything = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact"})
    assert len(rows(everything)) == 4
    assert "Waiting (under 24 h)" in everything.content.decode()


def test_the_reactive_list_holds_who_asked_first_or_heard_nothing(supervisor_client, contacted):
    asked = delayed(NOW - 3 * D)
    factories.TicketFactory(shipment=asked, customer=asked.customer)  # the customer opened it

    refresh()
    response = supervisor_client.get(SHIPMENTS, {"kpi": "reactive"})

    found = {row.link for row in rows(response)}
    assert found == {shipment_link(asked), shipment_link(contacted["silent"])}
    stats = kpis.contact_stats(response.context["scope"], now=NOW)[kpis.CURRENT]
    assert stats.decided - stats.proactive == len(found)


def test_the_repurchase_list_says_who_ordered_again(supervisor_client):
    again = delayed(NOW - 20 * D, ordered_at=NOW - 25 * D)
    factories.ShipmentFactory(customer=again.customer, ordered_at=NOW - 5 * D)
    delayed(NOW - 20 * D, ordered_at=NOW - 25 * D)

    refresh()
    response = supervisor_client.get(SHIPMENTS, {"kpi": "repurchase"})

    answers = {row.link: [value for _, value in row.cells][-2] for row in rows(response)}
    assert answers[shipment_link(again)] == "Yes"
    assert sorted(answers.values()) == ["No", "Yes"]


# ---- filters, paging, CSV -------------------------------------------------------------------


def test_the_lists_keep_the_dashboard_filters(supervisor_client):
    carrier = factories.CarrierFactory()
    mine = delayed(NOW - 3 * D, carrier=carrier)
    delayed(NOW - 3 * D)
    refresh()

    response = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact", "carrier": carrier.pk})

    assert [row.link for row in rows(response)] == [shipment_link(mine)]
    assert f"carrier={carrier.pk}" in response.context["csv_query"]


def test_a_bad_filter_gets_a_field_message(supervisor_client):
    response = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact", "carrier": "x"})

    assert response.status_code == 200
    assert 'data-error="carrier"' in response.content.decode()


def test_a_list_pages_by_fifty(supervisor_client):
    for i in range(PAGE_SIZE + 1):
        delayed(NOW - D - i * dt.timedelta(minutes=1))

    refresh()
    first = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact"})
    second = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact", "page": "2"})
    wrong = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact", "page": "two"})

    assert len(rows(first)) == PAGE_SIZE and "data-next" in first.content.decode()
    assert len(rows(second)) == 1 and "data-next" not in second.content.decode()
    assert len(rows(wrong)) == PAGE_SIZE  # a mistyped page opens the first


def test_a_list_downloads_every_row_as_a_streamed_csv(supervisor_client):
    for i in range(PAGE_SIZE + 5):
        delayed(NOW - D - i * dt.timedelta(minutes=1))

    refresh()
    response = supervisor_client.get(SHIPMENTS, {"kpi": "first_contact", "format": "csv"})

    assert response.streaming
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Shipment,Order,Customer,Delay,Detected,First contact")
    assert len(lines) == 1 + PAGE_SIZE + 5
    assert lines[1].endswith("/console/shipments/" + lines[1].rsplit("/", 2)[-2] + "/")


def page_queries(client, url, kpi) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, {"kpi": kpi}).status_code == 200
    return len(queries)


def fill(n: int, agent) -> None:
    for i in range(n):
        shipment = delayed(NOW - (i % 20 + 1) * D, ordered_at=NOW - 30 * D)
        ticket = factories.TicketFactory(shipment=shipment, customer=shipment.customer,
                                         status="solved", solved_at=NOW - D, is_escalated=True,
                                         assignee=agent)  # fmt: skip
        factories.SLATimerFactory(ticket=ticket, status="breached", breached_at=NOW - D)
        factories.SLATimerFactory(ticket=ticket, kind="resolution", status="breached",
                                  breached_at=NOW - D, due_at=NOW - D)  # fmt: skip
        factories.CompensationOfferFactory(ticket=ticket, status="issued", issued_at=NOW - D)
        SatisfactionSurvey.objects.create(
            ticket=ticket, resolved_at=NOW - D, rating=1, answered_at=NOW - D, agent=agent,
            sent_at=NOW - D,
        )  # fmt: skip
        # An open ticket breaching now and due again within the hour.
        waiting = factories.TicketFactory(shipment=shipment, customer=shipment.customer,
                                          assignee=agent)  # fmt: skip
        factories.SLATimerFactory(ticket=waiting, status="breached", breached_at=NOW - H,
                                  due_at=NOW - H)  # fmt: skip
        factories.SLATimerFactory(ticket=waiting, kind="resolution", due_at=NOW + H / 2)


# Each list: session, user, user and group permissions, one query for its page of rows (its
# joins and per-row subqueries inside it), and the filter form's nothing (it is not rendered).
LIST_QUERIES = 5


@pytest.mark.parametrize("kpi", sorted(DRILLDOWNS))
def test_each_list_costs_the_same_queries_at_two_sizes(supervisor_client, agent, kpi):
    url = TICKETS if DRILLDOWNS[kpi].area == "tickets" else SHIPMENTS
    fill(3, agent)
    refresh()
    small = page_queries(supervisor_client, url, kpi)
    fill(30, agent)
    refresh()

    assert page_queries(supervisor_client, url, kpi) == small == LIST_QUERIES
    # The page held rows (at least one per case filled): none of them read a field later.
    assert len(rows(supervisor_client.get(url, {"kpi": kpi}))) >= 33


def test_a_root_cause_row_narrows_the_shipments_list_to_its_cause_and_hub(supervisor_client):
    customs = delayed(NOW - D, delay_cause="customs_hold", last_location="Leipzig")
    strike = delayed(NOW - D, delay_cause="congestion", last_location="Leipzig")
    elsewhere = delayed(NOW - D, delay_cause="customs_hold", last_location="Hamburg")
    refresh()
    url = reverse("supervisor:drilldown_shipments")

    body = supervisor_client.get(
        url, {"kpi": "first_contact", "cause": "customs_hold", "hub": "Leipzig"}
    ).content.decode()

    assert shipment_link(customs) in body
    assert shipment_link(strike) not in body and shipment_link(elsewhere) not in body
    assert "data-narrowed" in body and "hub: Leipzig" in body
    csv = b"".join(
        supervisor_client.get(
            url, {"kpi": "first_contact", "cause": "customs_hold", "format": "csv"}
        ).streaming_content
    ).decode()
    assert str(customs.public_id) in csv and str(elsewhere.public_id) in csv
    assert str(strike.public_id) not in csv
    # Not a cause: narrows nothing, no error.
    every = supervisor_client.get(url, {"kpi": "first_contact", "cause": "meteor"})
    assert every.status_code == 200 and shipment_link(strike) in every.content.decode()
