"""Roles are groups with permissions, installed on every migrate; defaults are data."""

import pytest
from django.contrib.auth.models import Group

from compensation.models import AuthorityLimit, CompensationPolicy
from core.roles import (
    AGENT_PERMISSIONS,
    INTEGRATION_PERMISSIONS,
    OPERATOR_PERMISSIONS,
    SUPERVISOR_PERMISSIONS,
    ensure_roles,
    may_use_admin,
)
from shipments.models import DelayRule
from tickets.models import PriorityRule, SLAPolicy

pytestmark = pytest.mark.django_db


def perms_of(group_name):
    group = Group.objects.get(name=group_name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_the_agent_and_supervisor_groups_carry_exactly_their_permissions():
    assert perms_of("agent") == set(AGENT_PERMISSIONS)
    assert perms_of("supervisor") == set(SUPERVISOR_PERMISSIONS)
    assert perms_of("integration") == set(INTEGRATION_PERMISSIONS)
    assert perms_of("operator") == set(OPERATOR_PERMISSIONS)


def test_only_operators_and_superusers_may_use_the_admin(agent, supervisor, operator):
    from tests import factories

    assert not may_use_admin(agent)
    assert not may_use_admin(supervisor)
    assert may_use_admin(operator)
    assert may_use_admin(factories.UserFactory(is_staff=True, is_superuser=True))
    # Without is_staff nobody enters, whatever their groups.
    operator.is_staff = False
    operator.save()
    assert not may_use_admin(type(operator).objects.get(pk=operator.pk))


def test_operators_configure_but_never_read_tickets_customers_messages_or_offers(operator):
    assert operator.has_perm("shipments.change_carrier")
    assert operator.has_perm("tickets.change_slapolicy")
    assert operator.has_perm("axes.delete_accessattempt")
    for perm in (
        "tickets.view_ticket",
        "tickets.view_message",
        "tickets.work_console",
        "customers.view_customer",
        "compensation.view_compensationoffer",
        "notifications.view_notification",
        "shipments.view_shipment",
        "auth.change_group",
        "auth.add_user",
        "auth.change_user",
        "auth.delete_user",
    ):
        assert not operator.has_perm(perm), perm


def test_agents_cannot_approve_compensation_but_supervisors_can(agent, supervisor):
    assert not agent.has_perm("compensation.approve_compensationoffer")
    assert not agent.has_perm("tickets.supervise")
    assert supervisor.has_perm("compensation.approve_compensationoffer")
    assert supervisor.has_perm("tickets.work_console")


def test_syncing_roles_again_restores_a_removed_permission():
    group = Group.objects.get(name="agent")
    group.permissions.clear()
    ensure_roles()
    assert perms_of("agent") == set(AGENT_PERMISSIONS)


def test_default_configuration_is_installed_by_migrations():
    assert set(DelayRule.objects.values_list("key", "level")) == {
        ("yellow", "yellow"),
        ("orange", "orange"),
        ("red", "red"),
        ("hub_hold", "hub_hold"),
        ("long_delay", "long_delay"),
        ("will_be_late_72h", "will_be_late"),
        ("will_be_late_24h", "will_be_late"),
    }
    assert PriorityRule.objects.count() == 16
    assert PriorityRule.objects.get(customer_tier="vip", severity="lost").priority == "urgent"
    catch_all = SLAPolicy.objects.order_by("position").last()
    assert (
        catch_all.priorities,
        catch_all.categories,
        catch_all.customer_tiers,
        catch_all.sources,
    ) == (
        [],
        [],
        [],
        [],
    )
    lost = SLAPolicy.objects.get(name="Lost parcel")
    assert {(t.name, t.minutes) for t in lost.targets.filter(kind="milestone")} == {
        ("Contact the customer", 60),
        ("Verify with the carrier", 1440),
        ("Compensation plan", 2880),
    }
    customs = CompensationPolicy.objects.get(cause="customs_hold")
    assert {(r.kind, r.percent) for r in customs.remedies.all()} == {
        ("discount_code", 15),
        ("priority_shipping", None),
    }


def test_each_role_has_a_default_authority_limit():
    limits = {
        limit.group.name: limit.max_amount
        for limit in AuthorityLimit.objects.select_related("group")
    }
    assert limits["agent"] < limits["supervisor"]


@pytest.mark.django_db(transaction=True)
def test_a_partial_migrate_does_not_trip_the_post_migrate_handlers():
    """`migrate shipments 0001` runs post_migrate before later apps' tables exist."""
    from django.core.management import call_command

    call_command("migrate", "django_celery_beat", "zero", verbosity=0)
    try:
        call_command("migrate", "shipments", verbosity=0)  # post_migrate with beat's tables gone
    finally:
        call_command("migrate", verbosity=0)
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(name="core.heartbeat").exists()
