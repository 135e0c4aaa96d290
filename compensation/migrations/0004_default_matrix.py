"""The default remedy matrix of shared/DOMAIN.md ("Compensation") with the new conditions.

Rows are kept and matched by name: an existing row gets the matrix's conditions, explanation
(en + zh-Hans) and remedies; a missing one is inserted; rows an admin added stay as they are.
"""

from django.db import migrations

# name: (fields, remedies [(kind, percent, amount, choice_group)], explanation en, zh-Hans)
MATRIX = {
    "VIP +50%": (
        {"position": 5, "kind": "uplift", "uplift_percent": "50", "customer_tiers": ["vip"]},
        [],
        "VIP customers get 50% more money and percentage off on the remedy that applies.",
        "VIP 客户在适用的补偿上多得 50% 的金额和折扣。",
    ),
    "Delayed over 30 days": (
        {"position": 10, "min_days_late": 30, "offer_proactively": True},
        [("full_refund", None, None, 0)],
        "Any cause, more than 30 days late: offer a full refund before being asked.",
        "无论何种原因，延误超过 30 天：主动提供全额退款。",
    ),
    "High-value order": (
        {"position": 20, "min_order_value": "300.00", "order_currency": "EUR"},
        [("senior_call", None, None, 0), ("partial_refund", "30", None, 1), ("upgrade", None, None, 1)],
        "Order of 300 EUR or more: a senior agent calls; the customer chooses a 30% refund or "
        "an upgrade.",
        "订单金额 300 欧元及以上：由资深客服致电；客户可选择 30% 退款或升级。",
    ),
    "Lost parcel": (
        {"position": 30, "cause": "loss"},
        [("full_refund", None, None, 1), ("reship", None, None, 1)],
        "Lost parcel: full refund or reship, the customer chooses.",
        "包裹丢失：全额退款或重新发货，由客户选择。",
    ),
    "Lost parcel reported": (
        {"position": 35, "categories": ["lost"]},
        [("full_refund", None, None, 1), ("reship", None, None, 1)],
        "Ticket about a lost parcel: full refund or reship, the customer chooses.",
        "包裹丢失工单：全额退款或重新发货，由客户选择。",
    ),
    "Damaged in transit": (
        {"position": 40, "cause": "damage"},
        [("full_refund", None, None, 1), ("reship", None, None, 1), ("gift", None, None, 0)],
        "Damaged in transit: full refund or reship, plus a small gift.",
        "运输途中损坏：全额退款或重新发货，另加一份小礼物。",
    ),
    "Damaged parcel reported": (
        {"position": 45, "categories": ["damaged"]},
        [("full_refund", None, None, 1), ("reship", None, None, 1), ("gift", None, None, 0)],
        "Ticket about a damaged parcel: full refund or reship, plus a small gift.",
        "包裹损坏工单：全额退款或重新发货，另加一份小礼物。",
    ),
    "Customs hold": (
        {"position": 50, "cause": "customs_hold"},
        [("discount_code", "15", None, 0), ("priority_shipping", None, None, 0)],
        "Customs hold: 15% discount and priority shipping on the next order.",
        "海关扣留：15% 折扣，下次订单优先发货。",
    ),
    "Port congestion or strike": (
        {"position": 60, "cause": "congestion"},
        [("discount_code", "10", None, 0), ("free_shipping", None, None, 0)],
        "Port congestion or strike: 10% discount and a free-shipping coupon.",
        "港口拥堵或罢工：10% 折扣和一张免运费券。",
    ),
    "Tracking information lost": (
        {"position": 70, "cause": "tracking_lost"},
        [("cash", None, "10.00", 0), ("expedited_reship", None, None, 0)],
        "Tracking information lost: 10 EUR and expedited handling.",
        "物流信息丢失：补偿 10 欧元并加急处理。",
    ),
}


def install(apps, schema_editor):
    CompensationPolicy = apps.get_model("compensation", "CompensationPolicy")
    PolicyRemedy = apps.get_model("compensation", "PolicyRemedy")
    for name, (fields, remedies, english, chinese) in MATRIX.items():
        values = {
            **fields,
            "description": english,
            "description_en": english,
            "description_zh_hans": chinese,
        }
        policy, _created = CompensationPolicy.objects.update_or_create(name=name, defaults=values)
        PolicyRemedy.objects.filter(policy=policy).delete()
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
    dependencies = [("compensation", "0003_policy_conditions")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
