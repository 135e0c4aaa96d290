"""Staff roles: the `agent`, `supervisor` and `operator` groups and the permissions that make them.

Customers have no account. Agents work tickets; supervisors also approve compensation, run
incidents and read KPIs; both work in the console and the supervisor pages, never in the admin.
Operators configure Delaydesk in the admin (rules, policies, templates, calendars, teams,
carriers, lockouts; staff accounts read only) and see no ticket, customer, message or offer
there. The groups are
(re)synced after every migrate, so a new permission in code reaches every database without a
hand edit.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from core.models import tables_exist

AGENT = "agent"
SUPERVISOR = "supervisor"
OPERATOR = "operator"
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
    "tickets.view_satisfactionsurvey",
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
    "shipments.view_latemodel",
)

INTEGRATION_PERMISSIONS = (
    "shipments.view_shipment",
    "shipments.add_shipment",
    "shipments.view_trackingevent",
    # Merchant systems open tickets and add customer messages through the API.
    "tickets.view_ticket",
    "tickets.add_ticket",
    "tickets.add_message",
    # They read offers (issued refunds and coupons to apply in the shop), never make them.
    "compensation.view_compensationoffer",
)

# Who may enter /admin/ at all (besides superusers): checked by the admin site for every page.
USE_ADMIN = "core.use_admin"


def _manage(app_label: str, *model_names: str) -> tuple[str, ...]:
    return tuple(
        f"{app_label}.{action}_{name}"
        for name in model_names
        for action in ("view", "add", "change", "delete")
    )


OPERATOR_PERMISSIONS = (
    USE_ADMIN,
    "core.view_heartbeat",
    # The audit trail: read and downloaded, never changed (core.audit).
    "core.view_auditentry",
    # Carriers with their status mappings and webhook secrets, lanes, delay rules.
    *_manage("shipments", "carrier", "carrierstatusmapping", "lane", "delayrule"),
    # Carrier codes that arrived unmapped, to be mapped on the carrier's page.
    "shipments.view_unmappedstatuscode",
    # Budgets may be tied to an incident: the budget form picks one (its title only).
    "shipments.view_incident",
    # The late-delivery models with their validation figures (trained by a weekly task).
    "shipments.view_latemodel",
    # Calendars, teams and who is in them, SLA policies, macros.
    *_manage(
        "tickets",
        "businesscalendar",
        "workinghours",
        "calendarexception",
        "team",
        "agentprofile",
        "slapolicy",
        "slatarget",
        "macro",
    ),
    # The priority matrix is a fixed tier x severity grid: its cells are edited, never added.
    "tickets.view_priorityrule",
    "tickets.change_priorityrule",
    *_manage("compensation", "compensationpolicy", "policyremedy", "authoritylimit", "budget"),
    *_manage("notifications", "notificationtemplate"),
    # Staff accounts are shown (agent profiles and authority limits pick a user), not made or
    # given roles: an operator who could give themselves the agent or supervisor role would
    # hold the authority limits they configure. Accounts and roles stay with superusers.
    # Groups are synced from this module, so they are shown, not edited.
    "auth.view_user",
    "auth.view_group",
    # Lockouts: deleting an access attempt unlocks the user or address.
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
    "axes.view_accessfailurelog",
    "axes.view_accesslog",
    # Beat schedules are declared in code (core.schedules) and synced on migrate: shown only.
    "django_celery_beat.view_periodictask",
    "django_celery_beat.view_intervalschedule",
    "django_celery_beat.view_crontabschedule",
    "django_celery_beat.view_solarschedule",
    "django_celery_beat.view_clockedschedule",
)

ROLE_PERMISSIONS = {
    AGENT: AGENT_PERMISSIONS,
    SUPERVISOR: SUPERVISOR_PERMISSIONS,
    OPERATOR: OPERATOR_PERMISSIONS,
    INTEGRATION: INTEGRATION_PERMISSIONS,
}


def ensure_roles(sender=None, **kwargs) -> None:
    """Create the role groups and set exactly their permissions (idempotent).

    Runs on post_migrate for every app; it acts once all the permissions it names exist.
    """
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
    if may_use_admin(user):
        roles.add(OPERATOR)
    return roles


def may_use_admin(user) -> bool:
    """The admin is for operators and superusers; agents and supervisors (also staff) stay out.

    `is_staff` is still required, as Django means it ("may log into the admin"): taking it away
    locks anyone out at once, whatever their groups.
    """
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return False
    return user.is_superuser or user.has_perm(USE_ADMIN)
