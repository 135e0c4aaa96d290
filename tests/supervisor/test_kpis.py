"""The dashboard's figures (supervisor.kpis) against small hand-computed fixtures.

Time is frozen at NOW (a Tuesday noon, UTC, the reader's zone): the default period is the 30
days 2 March - 31 March, the previous one 31 January - 1 March.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from shipments.models import DelayLevelChange
from supervisor import kpis, rollup
from supervisor.scope import scope_from
from tests import factories
from tickets.models import Message, SatisfactionSurvey, Ticket

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def default_scope(**data):
    return scope_from(data, now=NOW)[0]


def refresh():
    """The figures read the rollup: rebuild it from the fixture first (supervisor.rollup)."""
    rollup.rollup_refresh(now=NOW, full=True)


def dashboard(**data) -> kpis.KpiDashboard:
    refresh()
    return kpis.kpi_dashboard(default_scope(**data), now=NOW)


def contact_stats() -> dict[int, kpis.ContactStats]:
    refresh()
    return kpis.contact_stats(default_scope(), now=NOW)


def created(obj, when):
    """Backdate a row whose created_at is auto_now_add."""
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)
    return obj


def delayed(detected_at, **kwargs):
    return factories.ShipmentFactory(
        delay_level="red", delay_detected_at=detected_at, ordered_at=None, **kwargs
    )


def notice(*, at, shipment=None, ticket=None, status="sent"):
    customer = (shipment or ticket).customer
    return factories.NotificationFactory(
        customer=customer,
        shipment=shipment,
        ticket=ticket,
        status=status,
        sent_at=at if status in ("sent", "delivered") else None,
        last_error="gave up" if status == "failed" else "",
    )


def message(ticket, *, at, direction="outbound", author=None):
    made = factories.MessageFactory(
        ticket=ticket, direction=direction, author=author if direction == "outbound" else None
    )
    return created(made, at)


def agent_ticket(shipment):
    """A ticket an agent opened (not the customer reaching us)."""
    return factories.TicketFactory(shipment=shipment, customer=shipment.customer, source="agent")


# ---- detection -> first contact and the proactive share ------------------------------------


@pytest.fixture
def contacts(agent):
    s1 = delayed(NOW - 10 * D)
    notice(shipment=s1, at=NOW - 10 * D + 2 * H)  # 2 h

    s2 = delayed(NOW - 10 * D)
    notice(shipment=s2, at=NOW - 10 * D - H)  # before detection: not a contact about it
    t2 = agent_ticket(s2)
    message(t2, at=NOW - 10 * D + 20 * H, direction="inbound")  # the customer asked first
    message(t2, at=NOW - 10 * D + 30 * H, author=agent)  # 30 h

    s3 = delayed(NOW - 5 * D)  # never contacted: counts with 120 h waited so far

    s4 = delayed(NOW - 2 * H)  # not contacted, under 24 h: still open, left out

    s5 = delayed(NOW - 3 * D)
    t5 = agent_ticket(s5)
    notice(ticket=t5, at=NOW - 3 * D + H, status="failed")  # never sent
    notice(ticket=t5, at=NOW - 3 * D + 10 * H)  # 10 h, through the ticket
    message(t5, at=NOW - 3 * D + 12 * H, direction="inbound")  # after we told them

    s6 = delayed(NOW - 40 * D)  # the previous period
    notice(shipment=s6, at=NOW - 40 * D + 50 * H)
    return [s1, s2, s3, s4, s5, s6]


def test_first_contact_median_p90_and_share_under_24_hours(contacts):
    stats = contact_stats()

    current = stats[kpis.CURRENT]
    # measured: 2 h, 10 h, 30 h, 120 h (s4 is still within its 24 h)
    assert (current.affected, current.measured, current.waiting, current.under) == (5, 4, 1, 2)
    assert current.median_seconds == 20 * 3600  # between 10 h and 30 h
    assert current.p90_seconds == pytest.approx((30 + 0.7 * 90) * 3600)  # 93 h
    previous = stats[kpis.PREVIOUS]
    assert (previous.affected, previous.median_seconds, previous.p90_seconds) == (
        1,
        50 * 3600,
        50 * 3600,
    )

    board = dashboard()
    median = board.figure("first_contact_median")
    assert (median.value, median.previous, median.value_text) == (20.0, 50.0, "20.0 h")
    assert median.status == "met"  # under 24 h
    assert (median.direction, median.improved, median.change_text) == ("down", True, "−30.0 h")
    assert board.figure("first_contact_p90").status == "missed"
    under = board.figure("first_contact_under_24h")
    assert (under.value, under.previous) == (0.5, 0.0)
    assert under.value_text == "50.0%"


def test_proactive_share_counts_who_heard_from_us_before_asking(contacts):
    stats = contact_stats()

    # decided: s1 (told, never asked), s2 (asked first), s3 (nothing in 5 days), s5 (told
    # first); s4 is still open. Proactive: s1 and s5.
    assert (stats[kpis.CURRENT].decided, stats[kpis.CURRENT].proactive) == (4, 2)
    assert (stats[kpis.PREVIOUS].decided, stats[kpis.PREVIOUS].proactive) == (1, 1)
    figure = dashboard().figure("proactive_share")
    assert (figure.value, figure.previous, figure.status) == (0.5, 1.0, "none")


def test_a_ticket_the_customer_opened_is_the_customer_asking(agent):
    shipment = delayed(NOW - 3 * D)
    ticket = factories.TicketFactory(shipment=shipment, customer=shipment.customer)
    created(ticket, NOW - 3 * D + H)
    message(ticket, at=NOW - 3 * D + 2 * H, author=agent)

    current = contact_stats()[kpis.CURRENT]

    assert (current.under, current.decided, current.proactive) == (1, 1, 0)


# ---- an empty period ------------------------------------------------------------------------


def test_an_empty_period_has_no_data_and_divides_by_nothing():
    board = dashboard()

    for _section, figure in board.figures:
        if figure.live:
            assert figure.value == 0
        else:
            assert figure.value is None, figure.key
            assert figure.status == "no_data"
            assert figure.value_text == "—"
            assert figure.change is None and figure.change_text == ""
    assert board.costs.currencies == [] and board.costs.offers == 0


def test_a_period_with_surveys_sent_but_none_answered_has_a_rate_but_no_csat():
    ticket = factories.TicketFactory(shipment=delayed(NOW - 9 * D))
    SatisfactionSurvey.objects.create(ticket=ticket, resolved_at=NOW - 8 * D, sent_at=NOW - 7 * D)

    board = dashboard()

    assert board.figure("csat_response_rate").value == 0.0
    assert board.figure("csat_mean").value is None
    assert board.figure("negative_review_rate").value is None


# ---- SLA ------------------------------------------------------------------------------------


def test_sla_compliance_breaches_now_and_due_within_the_hour():
    def timer(ticket=None, **kwargs):
        return factories.SLATimerFactory(ticket=ticket or factories.TicketFactory(), **kwargs)

    for _ in range(3):
        timer(status="met", met_at=NOW - 5 * D, due_at=NOW - 4 * D)
    breached_open = factories.TicketFactory(status="open")
    timer(breached_open, status="breached", breached_at=NOW - 2 * D, due_at=NOW - 2 * D)
    timer(status="met", met_at=NOW - 40 * D, due_at=NOW - 40 * D)  # previous period
    solved = factories.TicketFactory(status="solved", solved_at=NOW - D)
    timer(solved, kind="resolution", status="breached", breached_at=NOW - 3 * D, due_at=NOW)
    timer(status="active", due_at=NOW - 5 * 60 * dt.timedelta(seconds=1))  # overdue, unswept
    timer(status="active", due_at=NOW + 30 * dt.timedelta(minutes=1))  # due soon
    timer(status="active", due_at=NOW + 2 * H)  # later
    timer(kind="next_response", status="breached", breached_at=NOW - D, due_at=NOW - D)

    board = dashboard()

    first = board.figure("sla_first_response")
    assert (first.value, first.previous) == (0.75, 1.0)
    assert first.status == "missed"  # under 95%
    resolution = board.figure("sla_resolution")
    assert (resolution.value, resolution.previous) == (0.0, None)
    # now: the open ticket breached and the overdue one; the solved ticket no longer counts
    assert board.figure("sla_breached_now").value == 2
    assert board.figure("sla_breached_now").status == "missed"
    assert board.figure("sla_due_soon").value == 1


# ---- CSAT and negative reviews --------------------------------------------------------------


def survey(ticket, *, rating=None, answered=None, sent=None):
    return SatisfactionSurvey.objects.create(
        ticket=ticket,
        resolved_at=(sent or answered or NOW) - H,
        rating=rating,
        answered_at=answered,
        sent_at=sent,
    )


def test_csat_response_rate_and_negative_reviews_of_affected_customers():
    def affected_ticket():
        return factories.TicketFactory(shipment=delayed(NOW - 20 * D), status="solved",
                                       solved_at=NOW - 15 * D)  # fmt: skip

    survey(affected_ticket(), rating=5, answered=NOW - 3 * D, sent=NOW - 4 * D)
    survey(affected_ticket(), rating=4, answered=NOW - 3 * D, sent=NOW - 4 * D)
    survey(affected_ticket(), rating=2, answered=NOW - 3 * D, sent=NOW - 31 * D)
    survey(affected_ticket(), sent=NOW - 2 * D)  # sent, not answered
    # a shipment back on time (no delay now) that had a delay: its customer was affected
    recovered = factories.ShipmentFactory()
    DelayLevelChange.objects.create(
        shipment=recovered, from_level="none", to_level="yellow", cause="unknown",
        changed_at=NOW - 9 * D,
    )  # fmt: skip
    survey(factories.TicketFactory(shipment=recovered), rating=1, answered=NOW - D,
           sent=NOW - 2 * D)  # fmt: skip
    # never delayed: not an affected customer
    survey(factories.TicketFactory(), rating=1, answered=NOW - D, sent=NOW - 2 * D)
    # the previous period
    survey(affected_ticket(), rating=3, answered=NOW - 35 * D, sent=NOW - 36 * D)

    board = dashboard()

    csat = board.figure("csat_mean")
    assert (csat.value, csat.previous, csat.status) == (3.0, 3.0, "missed")  # (5+4+2+1)/4
    assert (csat.direction, csat.change_text) == ("flat", "±0.00")
    rate = board.figure("csat_response_rate")
    assert (rate.value, rate.previous) == (0.75, 1.0)  # 3 of 4 sent; before: 2 of 2
    assert board.figure("csat_good_share").value == 0.5
    negative = board.figure("negative_review_rate")
    assert (negative.value, negative.previous, negative.status) == (0.5, 0.0, "missed")
    assert negative.improved is False  # up is worse


# ---- resolved without escalation ------------------------------------------------------------


def test_resolved_without_escalation_over_tickets_solved_in_the_period():
    for escalated in (True, False, False, False):
        factories.TicketFactory(status="solved", solved_at=NOW - 2 * D, is_escalated=escalated)
    factories.TicketFactory(status="closed", solved_at=NOW - 20 * D)
    factories.TicketFactory(status="open", is_escalated=True)  # reopened: not solved
    factories.TicketFactory(status="solved", solved_at=NOW - 40 * D, is_escalated=True)

    figure = dashboard().figure("resolved_without_escalation")

    assert (figure.value, figure.previous) == (0.8, 0.0)
    assert figure.status == "missed"  # under 90%
    assert figure.improved is True
    assert "1 escalated of 5 solved" in figure.detail


# ---- 30-day repurchase ----------------------------------------------------------------------


def order(customer, at, **kwargs):
    return factories.ShipmentFactory(customer=customer, ordered_at=at, **kwargs)


def test_repurchase_counts_a_later_order_within_30_days_of_the_delay():
    a, b, c, d, e, f = (factories.CustomerFactory() for _ in range(6))
    # A: an order before the delay does not count, one 10 days after it does
    order(a, NOW - 60 * D)
    delayed(NOW - 20 * D, customer=a)
    order(a, NOW - 10 * D)
    # B: only an order long before
    order(b, NOW - 70 * D)
    delayed(NOW - 20 * D, customer=b)
    # previous period: C ordered again 31 days after (too late), D 10 days after
    delayed(NOW - 45 * D, customer=c)
    order(c, NOW - 14 * D)
    delayed(NOW - 50 * D, customer=d)
    order(d, NOW - 40 * D)
    # unaffected: E ordered again 15 days later, F not (C's late order counts here too)
    order(e, NOW - 20 * D)
    order(e, NOW - 5 * D)
    order(f, NOW - 10 * D)

    board = dashboard()

    affected = board.figure("repurchase_affected")
    assert (affected.value, affected.previous) == (0.5, 0.5)
    assert affected.status == "met"  # at least 25%
    unaffected = board.figure("repurchase_unaffected")
    # E yes; F and C no (E's second order has no later one, but E counts once)
    assert unaffected.value == pytest.approx(1 / 3)
    assert unaffected.previous is None  # D's order was in a period D was affected in


# ---- compensation cost ----------------------------------------------------------------------


def issued(shipment, *, kind="partial_refund", amount=None, currency="EUR", at=NOW - D, **kw):
    ticket = factories.TicketFactory(shipment=shipment, customer=shipment.customer, **kw)
    return factories.CompensationOfferFactory(
        ticket=ticket,
        kind=kind,
        amount=amount,
        currency=currency,
        status="issued",
        issued_at=at,
    )


def test_compensation_cost_is_summed_per_currency_never_across_them():
    dhl = factories.CarrierFactory(name="DHL")
    ups = factories.CarrierFactory(name="UPS")
    incident = factories.IncidentFactory(title="Customs backlog")
    s1 = delayed(NOW - 3 * D, carrier=dhl, delay_cause="customs_hold")
    s2 = delayed(NOW - 3 * D, carrier=dhl, delay_cause="congestion")
    s3 = delayed(NOW - 3 * D, carrier=ups, delay_cause="weather", currency="USD")
    s4 = factories.ShipmentFactory(carrier=dhl, cause="damage")  # not delayed
    s5 = delayed(NOW - 40 * D, carrier=dhl, delay_cause="customs_hold")
    issued(s1, amount=Decimal("20.00"), incident=incident)
    issued(s2, kind="cash", amount=Decimal("30.00"))
    issued(s3, kind="coupon", amount=Decimal("15.00"), currency="USD")
    issued(s4, kind="reship")
    issued(s5, amount=Decimal("10.00"), at=NOW - 40 * D)
    factories.CompensationOfferFactory(
        ticket=factories.TicketFactory(shipment=s1, customer=s1.customer),
        amount=Decimal("99.00"),
        status="pending_approval",
    )

    costs = dashboard().costs

    by_currency = {c.currency: c for c in costs.currencies}
    assert set(by_currency) == {"EUR", "USD"}
    eur, usd = by_currency["EUR"], by_currency["USD"]
    assert (eur.total, eur.previous, eur.change) == (Decimal("50.00"), Decimal("10.00"), 40)
    assert (eur.affected_orders, eur.per_order, eur.previous_per_order) == (
        2,
        Decimal("25.00"),
        Decimal("10.00"),
    )
    assert (usd.total, usd.per_order, usd.previous_per_order) == (15, Decimal("15.00"), None)
    assert costs.offers == 4

    def table(rows):
        return {row.label: (row.offers, row.totals) for row in rows}

    assert table(costs.by_kind) == {
        "Partial refund": (1, {"EUR": Decimal("20.00")}),
        "Fixed cash amount": (1, {"EUR": Decimal("30.00")}),
        "Coupon": (1, {"USD": Decimal("15.00")}),
        "Reship": (1, {}),
    }
    assert table(costs.by_carrier) == {
        "DHL": (3, {"EUR": Decimal("50.00")}),
        "UPS": (1, {"USD": Decimal("15.00")}),
    }
    assert table(costs.by_cause) == {
        "Customs hold": (1, {"EUR": Decimal("20.00")}),
        "Port congestion or strike": (1, {"EUR": Decimal("30.00")}),
        "Bad weather": (1, {"USD": Decimal("15.00")}),
        "Damaged in transit": (1, {}),
    }
    assert table(costs.by_incident) == {
        "Customs backlog": (1, {"EUR": Decimal("20.00")}),
        "No incident": (3, {"EUR": Decimal("30.00"), "USD": Decimal("15.00")}),
    }


# ---- figures --------------------------------------------------------------------------------


def test_a_figure_is_green_or_red_by_its_operator_and_grey_without_data():
    def figure(value, op, goal=0.05):
        return kpis.Figure(key="x", label="x", value=value, unit="share", target=goal, op=op)

    assert figure(0.05, "<=").status == "met"
    assert figure(0.051, "<=").status == "missed"
    assert figure(0.05, "<").status == "missed"
    assert figure(0.05, ">=").status == "met"
    assert figure(None, ">=").status == "no_data"
    assert figure(0.5, ">=", None).status == "none"
    assert figure(0.05, "<=").target_text == "<= 5.0%"
    hours = kpis.Figure(key="h", label="h", value=30.0, unit="hours", target=24, op="<")
    assert (hours.status, hours.target_text) == ("missed", "< 24.0 h")


def test_the_ticket_count_helpers_see_every_team():
    # supervisors see all teams: the figures read every ticket whatever its team
    factories.TicketFactory(team=factories.TeamFactory(), status="solved", solved_at=NOW - D)
    factories.TicketFactory(team=factories.TeamFactory(), status="solved", solved_at=NOW - D)

    assert "of 2 solved" in dashboard().figure("resolved_without_escalation").detail
    assert Ticket.objects.count() == 2
    assert Message.objects.count() == 0
