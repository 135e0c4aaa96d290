"""Staff roles: the `agent` and `supervisor` groups and the permissions that define them.

Customers have no account. Agents work tickets; supervisors also approve compensation, run
incidents and read KPIs. The groups are (re)synced after every migrate, so a new permission in
code reaches every database without a hand edit.
"""

from __future__ import annotations

AGENT = "agent"
SUPERVISOR = "supervisor"
# Merchant and carrier systems that push shipments through the API with a token.
INTEGRATION = "integration"

AGENT_PERMISSIONS = (
    "tickets.work_console",
    # Agents may override a ticket's priority; the reason goes to the timeline (issue 4).
    "tickets.override_priority",
    "tickets.view_ticket",
    "tickets.change_ticket",
    "tickets.add_ticket",
    "tickets.view_message",
    "tickets.add_message",
    "tickets.view_ticketevent",
    "tickets.view_macro",
    "tickets.view_slatimer",
    "customers.view_customer",
    "shipments.view_shipment",
    "shipments.view_trackingevent",
    "shipments.view_incident",
    "shipments.view_lane",
    "shipments.view_carrier",
    "compensation.view_compensationoffer",
    "compensation.add_compensationoffer",
    "compensation.view_compensationpolicy",
    "notifications.view_notification",
    "notifications.view_satisfactionsurvey",
)

SUPERVISOR_PERMISSIONS = AGENT_PERMISSIONS + (
    "tickets.supervise",
    "tickets.view_slapolicy",
    "tickets.view_team",
    "tickets.view_agentprofile",
    "compensation.approve_compensationoffer",
    "compensation.change_compensationoffer",
    "compensation.view_approvalrequest",
    "compensation.change_approvalrequest",
    "compensation.view_budget",
    "shipments.add_incident",
    "shipments.change_incident",
    "shipments.view_delaylevelchange",
)

INTEGRATION_PERMISSIONS = (
    "shipments.view_shipment",
    "shipments.add_shipment",
    "shipments.view_trackingevent",
    # Merchant systems open tickets and add customer messages through the API.
    "tickets.view_ticket",
    "tickets.add_ticket",
    "tickets.add_message",
)

ROLE_PERMISSIONS = {
    AGENT: AGENT_PERMISSIONS,
    SUPERVISOR: SUPERVISOR_PERMISSIONS,
    INTEGRATION: INTEGRATION_PERMISSIONS,
}


def ensure_roles(sender=None, **kwargs) -> None:
    """Create the role groups and set exactly their permissions (idempotent).

    Runs on post_migrate for every app; it acts once all the permissions it names exist.
    """
    from django.contrib.auth.models import Group, Permission

    from core.models import tables_exist

    using = kwargs.get("using", "default")
    if not tables_exist(Group, Permission, using=using):
        return
    wanted = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    if not wanted <= found.keys():
        return  # not all apps migrated yet; a later post_migrate call finishes the job
    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([found[perm] for perm in perms])


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    roles = set()
    if user.has_perm("tickets.work_console"):
        roles.add(AGENT)
    if user.has_perm("tickets.supervise"):
        roles.add(SUPERVISOR)
    return roles
