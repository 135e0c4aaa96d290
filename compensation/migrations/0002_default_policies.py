"""Default compensation matrix by cause from shared/DOMAIN.md (editable in the admin)."""

from django.db import migrations

# name, position, conditions, remedies [(kind, percent, amount, choice_group)], description
POLICIES = [
    (
        "Delayed over 30 days",
        10,
        {"min_days_late": 30, "offer_proactively": True},
        [("full_refund", None, None, 0)],
        "Any cause, more than 30 days late: offer a full refund before being asked.",
    ),
    (
        "High-value order",
        20,
        {"min_order_value": "300.00"},
        [
            ("senior_call", None, None, 0),
            ("partial_refund", "30", None, 1),
            ("upgrade", None, None, 1),
        ],
        "Senior contact by phone; the customer chooses a 30% refund or an upgrade.",
    ),
    (
        "Lost parcel",
        30,
        {"cause": "loss"},
        [("full_refund", None, None, 1), ("reship", None, None, 1)],
        "Full refund or reship, the customer chooses.",
    ),
    (
        "Damaged in transit",
        40,
        {"cause": "damage"},
        [("full_refund", None, None, 1), ("reship", None, None, 1), ("gift", None, None, 0)],
        "Full refund or reship, plus a small gift.",
    ),
    (
        "Customs hold",
        50,
        {"cause": "customs_hold"},
        [("discount_code", "15", None, 0), ("priority_shipping", None, None, 0)],
        "15% discount and priority shipping on the next order.",
    ),
    (
        "Port congestion or strike",
        60,
        {"cause": "congestion"},
        [("discount_code", "10", None, 0), ("free_shipping", None, None, 0)],
        "10% discount and a free-shipping coupon.",
    ),
    (
        "Tracking information lost",
        70,
        {"cause": "tracking_lost"},
        [("cash", None, "10.00", 0), ("expedited_reship", None, None, 0)],
        "10 EUR and expedited handling.",
    ),
]


def install(apps, schema_editor):
    CompensationPolicy = apps.get_model("compensation", "CompensationPolicy")
    PolicyRemedy = apps.get_model("compensation", "PolicyRemedy")
    for name, position, conditions, remedies, description in POLICIES:
        policy, created = CompensationPolicy.objects.get_or_create(
            name=name, defaults={"position": position, "description": description, **conditions}
        )
        if not created:
            continue
        PolicyRemedy.objects.bulk_create(
            PolicyRemedy(
                policy=policy,
                kind=kind,
                percent=percent,
                amount=amount,
                currency="EUR",
                choice_group=group,
            )
            for kind, percent, amount, group in remedies
        )


class Migration(migrations.Migration):
    dependencies = [("compensation", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
