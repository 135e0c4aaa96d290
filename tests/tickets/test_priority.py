"""Priority: customer tier x severity from the matrix (admin data), overrides with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from tests import factories
from tickets.models import PriorityRule, Ticket, TicketEvent
from tickets.priority import FALLBACK_PRIORITY, priority_for
from tickets.services import (
    CANNOT_OVERRIDE,
    INVALID_PRIORITY,
    REASON_REQUIRED,
    TicketActionError,
    ticket_change_category,
    ticket_open,
    ticket_override_priority,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

# The default matrix as shipped (tickets/migrations/0002), written out again on purpose: a
# change of the shipped data has to be a deliberate change of this table too.
DEFAULT_MATRIX = {
    "vip": {"lost": "urgent", "damaged": "urgent", "delayed": "high", "information": "normal"},
    "frequent_complainer": {
        "lost": "urgent",
        "damaged": "high",
        "delayed": "high",
        "information": "normal",
    },
    "regular": {"lost": "high", "damaged": "high", "delayed": "normal", "information": "low"},
    "new": {"lost": "high", "damaged": "high", "delayed": "normal", "information": "low"},
}
CATEGORY_SEVERITY = {
    "lost": "lost",
    "damaged": "damaged",
    "delay": "delayed",
    "information": "information",
    "address_change": "information",
    "other": "information",
}
CELLS = [
    (tier, category, DEFAULT_MATRIX[tier][severity])
    for tier in DEFAULT_MATRIX
    for category, severity in CATEGORY_SEVERITY.items()
]


def open_ticket(*, tier="regular", category="delay", **kwargs) -> Ticket:
    return ticket_open(
        customer=factories.CustomerFactory(tier=tier),
        subject="Where is my parcel?",
        category=category,
        now=T0,
        **kwargs,
    )


def timeline(ticket: Ticket, kind: str) -> list[TicketEvent]:
    return list(TicketEvent.objects.filter(ticket=ticket, kind=kind).order_by("pk"))


# ---- The matrix -----------------------------------------------------------------------------


def test_the_default_matrix_has_one_cell_per_tier_and_severity():
    cells = {
        (rule.customer_tier, rule.severity): rule.priority for rule in PriorityRule.objects.all()
    }

    assert cells == {
        (tier, severity): priority
        for tier, row in DEFAULT_MATRIX.items()
        for severity, priority in row.items()
    }


@pytest.mark.parametrize(("tier", "category", "priority"), CELLS)
def test_a_new_ticket_takes_its_priority_from_the_matrix(tier, category, priority):
    ticket = open_ticket(tier=tier, category=category)

    assert ticket.priority == priority
    assert ticket.priority_overridden is False


def test_severity_orders_priorities_lost_over_damaged_over_delayed_over_information():
    # For a VIP: urgent, urgent, high, normal: never less urgent for a more severe problem.
    rank = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
    for tier in DEFAULT_MATRIX:
        ranks = [
            rank[priority_for(customer_tier=tier, category=category)]
            for category in ("lost", "damaged", "delay", "information")
        ]
        assert ranks == sorted(ranks), tier


def test_an_admin_edit_of_a_cell_changes_the_priority_of_new_tickets(admin_client):
    before = open_ticket(tier="regular", category="information")
    rule = PriorityRule.objects.get(customer_tier="regular", severity="information")

    response = admin_client.post(
        reverse("admin:tickets_priorityrule_change", args=[rule.pk]),
        {"customer_tier": "regular", "severity": "information", "priority": "high"},
    )

    assert response.status_code == 302
    assert open_ticket(tier="regular", category="address_change").priority == "high"
    before.refresh_from_db()
    assert before.priority == "low"  # tickets already open keep theirs


def test_a_deleted_cell_falls_back_to_normal_never_low():
    PriorityRule.objects.filter(customer_tier="new", severity="information").delete()

    assert FALLBACK_PRIORITY == "normal"
    assert open_ticket(tier="new", category="information").priority == "normal"


def test_a_priority_given_when_opening_counts_as_set_by_hand():
    ticket = open_ticket(tier="regular", category="information", priority="urgent")

    assert ticket.priority == "urgent"
    assert ticket.priority_overridden is True
    assert ticket.sla_policy.name == "Urgent"


def test_an_unknown_priority_when_opening_is_refused():
    with pytest.raises(TicketActionError) as error:
        open_ticket(priority="critical")

    assert error.value.messages == [str(INVALID_PRIORITY)]
    assert not Ticket.objects.exists()


# ---- Override -------------------------------------------------------------------------------


def test_an_agent_overrides_the_priority_with_a_reason_in_the_timeline(agent):
    ticket = open_ticket()  # regular x delay = normal

    ticket_override_priority(
        ticket=ticket,
        actor=agent,
        priority="urgent",
        reason="  Wedding dress, the wedding is on Saturday.  ",
        now=T0 + MINUTE,
    )

    ticket.refresh_from_db()
    assert ticket.priority == "urgent"
    assert ticket.priority_overridden is True
    assert ticket.version == 2
    [changed] = timeline(ticket, TicketEvent.Kind.PRIORITY_CHANGED)
    assert changed.actor == agent
    assert changed.created_at == T0 + MINUTE
    assert changed.is_public is False
    assert changed.data == {
        "old": "normal",
        "new": "urgent",
        "reason": "Wedding dress, the wedding is on Saturday.",
    }


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_override_without_a_reason_is_refused(agent, reason):
    ticket = open_ticket()

    with pytest.raises(TicketActionError) as error:
        ticket_override_priority(ticket=ticket, actor=agent, priority="urgent", reason=reason)

    assert error.value.messages == [str(REASON_REQUIRED)]
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.priority_overridden, ticket.version) == ("normal", False, 1)
    assert not timeline(ticket, TicketEvent.Kind.PRIORITY_CHANGED)


def test_a_user_without_the_override_permission_is_refused():
    ticket = open_ticket()
    outsider = factories.UserFactory()

    with pytest.raises(PermissionDenied) as error:
        ticket_override_priority(ticket=ticket, actor=outsider, priority="urgent", reason="Me")

    assert str(error.value) == str(CANNOT_OVERRIDE)
    ticket.refresh_from_db()
    assert ticket.priority == "normal"
    assert not timeline(ticket, TicketEvent.Kind.PRIORITY_CHANGED)


def test_a_supervisor_may_override_too(supervisor):
    ticket = open_ticket()

    ticket_override_priority(ticket=ticket, actor=supervisor, priority="low", reason="Asked")

    ticket.refresh_from_db()
    assert ticket.priority == "low"


def test_an_unknown_priority_is_refused(agent):
    ticket = open_ticket()

    with pytest.raises(TicketActionError) as error:
        ticket_override_priority(ticket=ticket, actor=agent, priority="asap", reason="Now")

    assert error.value.messages == [str(INVALID_PRIORITY)]


def test_overriding_twice_to_the_same_priority_records_it_once(agent):
    ticket = open_ticket()

    for _ in range(2):
        ticket_override_priority(ticket=ticket, actor=agent, priority="high", reason="VIP soon")

    ticket.refresh_from_db()
    assert ticket.version == 2
    assert len(timeline(ticket, TicketEvent.Kind.PRIORITY_CHANGED)) == 1


def test_confirming_the_matrix_priority_by_hand_pins_it(agent):
    ticket = open_ticket()  # normal from the matrix

    ticket_override_priority(ticket=ticket, actor=agent, priority="normal", reason="Keep it")
    ticket_change_category(ticket=ticket, actor=agent, category="lost")

    ticket.refresh_from_db()
    assert ticket.priority_overridden is True
    assert ticket.priority == "normal"


# ---- Category changes -----------------------------------------------------------------------


def test_a_category_change_re_prioritises_from_the_matrix(agent):
    ticket = open_ticket(tier="regular", category="delay")  # normal

    ticket_change_category(ticket=ticket, actor=agent, category="lost", now=T0 + MINUTE)

    ticket.refresh_from_db()
    assert (ticket.category, ticket.priority) == ("lost", "high")
    [category] = timeline(ticket, TicketEvent.Kind.CATEGORY_CHANGED)
    assert category.data == {"old": "delay", "new": "lost"}
    [priority] = timeline(ticket, TicketEvent.Kind.PRIORITY_CHANGED)
    assert priority.data == {"old": "normal", "new": "high", "reason": "category"}
    assert priority.actor == agent


def test_a_category_change_within_the_same_priority_records_no_priority_change(agent):
    ticket = open_ticket(tier="regular", category="lost")  # high

    ticket_change_category(ticket=ticket, actor=agent, category="damaged")  # high as well

    assert not timeline(ticket, TicketEvent.Kind.PRIORITY_CHANGED)


def test_a_category_change_keeps_a_priority_set_by_hand(agent):
    ticket = open_ticket(tier="regular", category="delay")
    ticket_override_priority(ticket=ticket, actor=agent, priority="low", reason="Asked to wait")

    ticket_change_category(ticket=ticket, actor=agent, category="lost")

    ticket.refresh_from_db()
    assert (ticket.category, ticket.priority) == ("lost", "low")
    assert [e.data["new"] for e in timeline(ticket, TicketEvent.Kind.PRIORITY_CHANGED)] == ["low"]


def test_the_customers_tier_counts_when_the_category_changes(agent):
    ticket = open_ticket(tier="vip", category="delay")  # high

    ticket_change_category(ticket=ticket, actor=agent, category="damaged")

    ticket.refresh_from_db()
    assert ticket.priority == "urgent"
