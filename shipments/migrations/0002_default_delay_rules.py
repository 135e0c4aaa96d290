"""Default delay rules from shared/DOMAIN.md. They are configuration: edit them in the admin."""

from django.db import migrations

DEFAULT_RULES = [
    # key, kind, level, threshold, description
    (
        "yellow",
        "transit_ratio",
        "yellow",
        "1.50",
        "Time in transit exceeds 150% of the lane's mean",
    ),
    ("orange", "no_update_hours", "orange", "72", "No tracking update for 72 hours"),
    (
        "red",
        "predicted_late_days",
        "red",
        "7",
        "Predicted delivery more than 7 days after the promise",
    ),
    (
        "hub_hold",
        "hub_hold_hours",
        "hub_hold",
        "24",
        "Held at one hub or transfer centre over 24 hours",
    ),
    ("long_delay", "late_days", "long_delay", "30", "More than 30 days late: offer a full refund"),
]


def install(apps, schema_editor):
    DelayRule = apps.get_model("shipments", "DelayRule")
    for key, kind, level, threshold, description in DEFAULT_RULES:
        DelayRule.objects.get_or_create(
            key=key,
            defaults={
                "kind": kind,
                "level": level,
                "threshold": threshold,
                "description": description,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("shipments", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
