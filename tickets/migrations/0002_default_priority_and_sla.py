"""Default priority matrix and SLA policies from shared/DOMAIN.md (editable in the admin)."""

from django.db import migrations

# Customer tier x severity -> priority. Severities: lost > damaged > delayed > information.
PRIORITY_MATRIX = {
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

H = 60  # minutes in an hour
D = 24 * H

# name, position, conditions, warning minutes, targets (kind, milestone name, minutes, business hours)
SLA_POLICIES = [
    (
        "Lost parcel",
        10,
        {"categories": ["lost"]},
        15,
        [
            ("first_response", "", 1 * H, False),
            ("milestone", "Contact the customer", 1 * H, False),
            ("milestone", "Verify with the carrier", 24 * H, False),
            ("milestone", "Compensation plan", 48 * H, False),
            ("next_response", "", 4 * H, False),
            ("periodic_update", "", 3 * D, False),
            ("resolution", "", 48 * H, False),
        ],
    ),
    (
        "Urgent",
        20,
        {"priorities": ["urgent"]},
        15,
        [
            ("first_response", "", 30, False),
            ("next_response", "", 1 * H, False),
            ("periodic_update", "", 1 * D, False),
            ("resolution", "", 8 * H, False),
        ],
    ),
    (
        # First contact within 24 h of detection (the clock starts at detection).
        "Proactive delay",
        30,
        {"sources": ["proactive"]},
        60,
        [
            ("first_response", "", 24 * H, False),
            ("next_response", "", 4 * H, False),
            ("periodic_update", "", 3 * D, False),
            ("resolution", "", 7 * D, False),
        ],
    ),
    (
        "Delay",
        40,
        {"categories": ["delay"]},
        15,
        [
            ("first_response", "", 1 * H, False),
            ("milestone", "Contact the courier", 30, False),
            ("next_response", "", 4 * H, False),
            ("periodic_update", "", 3 * D, False),
            ("resolution", "", 2 * H, True),
        ],
    ),
    (
        "Default",
        1000,
        {},
        15,
        [
            ("first_response", "", 4 * H, True),
            ("next_response", "", 8 * H, True),
            ("periodic_update", "", 3 * D, False),
            ("resolution", "", 48 * H, True),
        ],
    ),
]


def install(apps, schema_editor):
    PriorityRule = apps.get_model("tickets", "PriorityRule")
    SLAPolicy = apps.get_model("tickets", "SLAPolicy")
    SLATarget = apps.get_model("tickets", "SLATarget")
    for tier, row in PRIORITY_MATRIX.items():
        for severity, priority in row.items():
            PriorityRule.objects.get_or_create(
                customer_tier=tier, severity=severity, defaults={"priority": priority}
            )
    for name, position, conditions, warning, targets in SLA_POLICIES:
        policy, created = SLAPolicy.objects.get_or_create(
            name=name, defaults={"position": position, "warning_minutes": warning, **conditions}
        )
        if not created:
            continue
        SLATarget.objects.bulk_create(
            SLATarget(policy=policy, kind=kind, name=label, minutes=minutes, business_hours=bh)
            for kind, label, minutes, bh in targets
        )


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
