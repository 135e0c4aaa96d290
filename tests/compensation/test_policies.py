"""compensation.policies: the default matrix of shared/DOMAIN.md (installed by migration 0004),
rule order, the VIP uplift, the explanation in en and zh-Hans, the 30/31 days boundary and the
conditions an admin can set."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from compensation import policies
from compensation.models import CompensationPolicy, PolicyRemedy
from tests import factories
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def make_ticket(
    *,
    cause: str = "none",
    days_late: float = 0,
    order_value: str = "49.90",
    currency: str = "EUR",
    tier: str = "regular",
    region: str = "europe",
    category: str = "delay",
    delay_level: str = "none",
    incident=None,
) -> Ticket:
    customer = factories.CustomerFactory(tier=tier, region=region)
    shipment = factories.ShipmentFactory(
        customer=customer,
        cause=cause,
        order_value=Decimal(order_value),
        currency=currency,
        promised_at=NOW - dt.timedelta(days=days_late),
        delay_level=delay_level,
        delay_detected_at=None if delay_level == "none" else NOW,
        incident=incident,
    )
    ticket = factories.TicketFactory(customer=customer, shipment=shipment, category=category)
    return Ticket.objects.select_related("shipment", "customer").get(pk=ticket.pk)


def kinds(suggestion: policies.Suggestion) -> list[list[str]]:
    return [[remedy.kind for remedy in part] for part in suggestion.parts]


def first(ticket: Ticket) -> policies.Suggestion:
    return policies.suggest(ticket, now=NOW)[0]


# ---- Each default rule --------------------------------------------------------------------------


def test_customs_hold_gives_15_percent_and_priority_shipping():
    suggestion = first(make_ticket(cause="customs_hold"))

    assert suggestion.policy.name == "Customs hold"
    assert kinds(suggestion) == [["discount_code"], ["priority_shipping"]]
    assert suggestion.parts[0][0].percent == Decimal("15")
    assert suggestion.uplifts == ()
    assert not suggestion.proactive


def test_port_congestion_gives_10_percent_and_a_free_shipping_coupon():
    suggestion = first(make_ticket(cause="congestion"))

    assert suggestion.policy.name == "Port congestion or strike"
    assert kinds(suggestion) == [["discount_code"], ["free_shipping"]]
    assert suggestion.parts[0][0].percent == Decimal("10")


def test_damage_gives_a_choice_of_full_refund_or_reship_plus_a_gift():
    suggestion = first(make_ticket(cause="damage", order_value="80.00"))

    assert suggestion.policy.name == "Damaged in transit"
    assert kinds(suggestion) == [["gift"], ["full_refund", "reship"]]
    refund = suggestion.parts[1][0]
    assert (refund.amount, refund.currency) == (Decimal("80.00"), "EUR")


def test_a_ticket_about_a_damaged_parcel_gets_the_same_without_a_carrier_cause():
    suggestion = first(make_ticket(category="damaged"))

    assert suggestion.policy.name == "Damaged parcel reported"
    assert kinds(suggestion) == [["gift"], ["full_refund", "reship"]]


def test_lost_tracking_gives_10_eur_and_expedited_handling():
    suggestion = first(make_ticket(cause="tracking_lost"))

    assert suggestion.policy.name == "Tracking information lost"
    assert kinds(suggestion) == [["cash"], ["expedited_reship"]]
    cash = suggestion.parts[0][0]
    assert (cash.amount, cash.currency) == (Decimal("10.00"), "EUR")


def test_over_30_days_late_offers_a_full_refund_proactively_whatever_the_cause():
    suggestion = first(make_ticket(cause="weather", days_late=31, order_value="59.00"))

    assert suggestion.policy.name == "Delayed over 30 days"
    assert suggestion.proactive
    assert kinds(suggestion) == [["full_refund"]]
    assert suggestion.parts[0][0].amount == Decimal("59.00")


def test_a_high_value_order_gets_a_senior_call_and_a_choice_of_30_percent_or_an_upgrade():
    suggestion = first(make_ticket(cause="weather", order_value="300.00"))

    assert suggestion.policy.name == "High-value order"
    assert kinds(suggestion) == [["senior_call"], ["partial_refund", "upgrade"]]
    refund = suggestion.parts[1][0]
    assert (refund.percent, refund.amount) == (Decimal("30"), Decimal("90.00"))


def test_just_below_the_high_value_threshold_is_not_high_value():
    assert policies.suggest(make_ticket(cause="weather", order_value="299.99"), now=NOW) == []


def test_the_high_value_threshold_is_in_euros_only():
    ticket = make_ticket(cause="weather", order_value="50000", currency="JPY")

    assert policies.suggest(ticket, now=NOW) == []


def test_no_matching_rule_gives_no_suggestion():
    assert policies.suggest(make_ticket(cause="weather"), now=NOW) == []


def test_a_ticket_without_a_shipment_matches_only_rules_that_need_none():
    ticket = factories.TicketFactory(shipment=None, category="lost")
    ticket = Ticket.objects.select_related("shipment", "customer").get(pk=ticket.pk)

    (suggestion,) = policies.suggest(ticket, now=NOW)

    assert suggestion.policy.name == "Lost parcel reported"
    # No order value to refund: the agent fills in the amount.
    assert suggestion.parts[0][0].amount is None


# ---- Rule order ---------------------------------------------------------------------------------


def test_every_matching_rule_is_suggested_the_first_by_position_ranked_first():
    ticket = make_ticket(cause="customs_hold", days_late=40, order_value="350.00")

    suggestions = policies.suggest(ticket, now=NOW)

    assert [s.policy.name for s in suggestions] == [
        "Delayed over 30 days",
        "High-value order",
        "Customs hold",
    ]
    assert [s.rank for s in suggestions] == [1, 2, 3]


def test_moving_a_rule_up_in_the_admin_changes_which_applies():
    CompensationPolicy.objects.filter(name="Customs hold").update(position=1)
    ticket = make_ticket(cause="customs_hold", days_late=40)

    assert [s.policy.name for s in policies.suggest(ticket, now=NOW)] == [
        "Customs hold",
        "Delayed over 30 days",
    ]


def test_an_inactive_rule_is_not_suggested():
    CompensationPolicy.objects.filter(name="Customs hold").update(is_active=False)

    assert policies.suggest(make_ticket(cause="customs_hold"), now=NOW) == []


# ---- The days-late boundary ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("late", "proactive_refund"),
    [(30, False), (30.9, False), (31, True)],
)
def test_more_than_30_days_means_from_the_31st_day(late, proactive_refund):
    suggestions = policies.suggest(make_ticket(cause="weather", days_late=late), now=NOW)

    assert bool(suggestions) is proactive_refund


def test_days_late_counts_to_the_delivery_when_delivered():
    ticket = make_ticket(cause="weather", days_late=60)
    ticket.shipment.delivered_at = ticket.shipment.promised_at + dt.timedelta(days=5)

    assert policies.facts_for(ticket, now=NOW).days_late == 5
    assert policies.suggest(ticket, now=NOW) == []


def test_days_late_is_never_negative():
    assert policies.days_late(NOW + dt.timedelta(days=2), NOW) == 0
    assert policies.days_late(None, NOW) is None


# ---- The VIP uplift -----------------------------------------------------------------------------


def test_vip_customers_get_50_percent_more_named_in_the_explanation():
    suggestion = first(make_ticket(cause="customs_hold", tier="vip"))

    assert suggestion.parts[0][0].percent == Decimal("22.50")
    assert suggestion.parts[0][0].uplifted
    assert not suggestion.parts[1][0].uplifted
    assert [u.name for u in suggestion.uplifts] == ["VIP +50%"]


def test_the_uplift_raises_money_and_refund_percent_but_never_above_the_order():
    cash = first(make_ticket(cause="tracking_lost", tier="vip")).parts[0][0]
    high = first(make_ticket(cause="weather", tier="vip", order_value="400.00"))
    refund = high.parts[1][0]

    assert cash.amount == Decimal("15.00")
    assert (refund.percent, refund.amount) == (Decimal("45.00"), Decimal("180.00"))


def test_a_full_refund_is_not_raised():
    suggestion = first(make_ticket(cause="weather", days_late=45, tier="vip", order_value="70"))

    assert suggestion.parts[0][0].amount == Decimal("70.00")
    assert suggestion.uplifts == ()


def test_a_percentage_never_goes_above_100():
    CompensationPolicy.objects.filter(name="VIP +50%").update(uplift_percent=Decimal("900"))

    suggestion = first(make_ticket(cause="customs_hold", tier="vip"))

    assert suggestion.parts[0][0].percent == Decimal("100")


def test_a_regular_customer_gets_no_uplift():
    suggestion = first(make_ticket(cause="tracking_lost", tier="regular"))

    assert suggestion.parts[0][0].amount == Decimal("10.00")
    assert suggestion.uplifts == ()


# ---- Explanation --------------------------------------------------------------------------------


def test_the_explanation_says_why_in_english():
    suggestion = first(make_ticket(cause="customs_hold", tier="vip"))

    with translation.override("en"):
        assert suggestion.explanation == (
            "Customs hold, VIP: Percentage discount code 22.5% + Priority shipping on the next "
            "order, uplifted by rule 'VIP +50%'"
        )
        assert suggestion.reason == (
            "Customs hold: 15% discount and priority shipping on the next order."
        )


def test_the_explanation_of_a_choice_and_of_days_late():
    damaged = first(make_ticket(cause="damage", order_value="80.00"))
    late = first(make_ticket(cause="weather", days_late=31, order_value="59.00"))

    with translation.override("en"):
        assert damaged.explanation == (
            "Damaged in transit: Small gift + Full refund 80.00 EUR or Reship"
        )
        assert late.explanation == "31 days late: Full refund 59.00 EUR"


def test_the_explanation_in_simplified_chinese():
    suggestion = first(make_ticket(cause="customs_hold", tier="vip"))

    with translation.override("zh-hans"):
        explanation = suggestion.explanation
        reason = suggestion.reason

    assert "海关" in explanation
    assert "22.5%" in explanation
    assert "VIP +50%" in explanation
    assert "uplifted" not in explanation
    assert reason == "海关扣留：15% 折扣，下次订单优先发货。"


# ---- Conditions an admin can set ----------------------------------------------------------------


def rule(name: str, position: int = 1, **conditions) -> CompensationPolicy:
    policy = CompensationPolicy.objects.create(name=name, position=position, **conditions)
    PolicyRemedy.objects.create(policy=policy, kind="coupon", amount=Decimal("5.00"))
    return policy


@pytest.mark.parametrize(
    ("conditions", "ticket", "expected"),
    [
        ({"delay_levels": ["red"]}, {"delay_level": "red"}, True),
        ({"delay_levels": ["red"]}, {"delay_level": "orange"}, False),
        ({"max_days_late": 5}, {"days_late": 5}, True),
        ({"max_days_late": 5}, {"days_late": 6}, False),
        ({"categories": ["delay"]}, {"category": "delay"}, True),
        ({"categories": ["lost"]}, {"category": "delay"}, False),
        ({"regions": ["asia"]}, {"region": "asia"}, True),
        ({"regions": ["asia"]}, {"region": "europe"}, False),
        ({"customer_tiers": ["new"]}, {"tier": "new"}, True),
        ({"customer_tiers": ["new"]}, {"tier": "regular"}, False),
        ({"max_order_value": Decimal("50")}, {"order_value": "49.99"}, True),
        ({"max_order_value": Decimal("50")}, {"order_value": "50.00"}, False),
        ({"incident_scope": "in_incident"}, {}, False),
        ({"incident_scope": "no_incident"}, {}, True),
    ],
)
def test_each_condition(conditions, ticket, expected):
    rule("Custom", **conditions)

    names = [s.policy.name for s in policies.suggest(make_ticket(**ticket), now=NOW)]

    assert ("Custom" in names) is expected


def test_a_rule_for_one_incident_or_any_incident():
    incident = factories.IncidentFactory()
    rule("This incident", incident=incident)
    rule("Any incident", position=2, incident_scope="in_incident")

    inside = policies.suggest(make_ticket(incident=incident), now=NOW)
    other = policies.suggest(make_ticket(incident=factories.IncidentFactory()), now=NOW)

    assert [s.policy.name for s in inside] == ["This incident", "Any incident"]
    assert [s.policy.name for s in other] == ["Any incident"]
    with translation.override("en"):
        assert inside[0].situation == "in an incident"


def test_suggesting_costs_two_queries_for_a_loaded_ticket(django_assert_num_queries):
    ticket = make_ticket(cause="customs_hold", tier="vip", days_late=40, order_value="400")

    with django_assert_num_queries(2):
        suggestions = policies.suggest(ticket, now=NOW)

    assert len(suggestions) == 3


def test_now_defaults_to_the_current_time():
    ticket = make_ticket(cause="weather")
    ticket.shipment.promised_at = timezone.now() - dt.timedelta(days=31, hours=1)

    assert policies.suggest(ticket)[0].policy.name == "Delayed over 30 days"
