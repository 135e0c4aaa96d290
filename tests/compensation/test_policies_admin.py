"""The compensation policy admin: the new conditions as checkboxes, the uplift kind, the
explanation in both languages, and the checks said in words before the database says them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from compensation.models import CompensationPolicy

pytestmark = pytest.mark.django_db


def add_url() -> str:
    return reverse("admin:compensation_compensationpolicy_add")


def form(**overrides) -> dict:
    data = {
        "name": "VIP damaged in Asia",
        "position": "7",
        "is_active": "on",
        "kind": "rule",
        "description_en": "Damaged parcels of Asian VIPs: a bigger gift.",
        "description_zh_hans": "亚洲 VIP 的损坏包裹：更大的礼物。",
        "cause": "",
        "delay_levels": ["red", "long_delay"],
        "min_days_late": "3",
        "max_days_late": "30",
        "categories": ["damaged"],
        "customer_tiers": ["vip"],
        "min_order_value": "100",
        "max_order_value": "1000",
        "order_currency": "EUR",
        "regions": ["asia"],
        "incident_scope": "any",
        "remedies-TOTAL_FORMS": "1",
        "remedies-INITIAL_FORMS": "0",
        "remedies-0-kind": "coupon",
        "remedies-0-amount": "25.00",
        "remedies-0-currency": "EUR",
        "remedies-0-choice_group": "0",
    }
    data.update(overrides)
    return data


def test_a_policy_is_added_with_every_condition_and_a_translated_explanation(admin_client):
    response = admin_client.post(add_url(), form())

    assert response.status_code == 302, response.context["adminform"].form.errors
    policy = CompensationPolicy.objects.get(name="VIP damaged in Asia")
    assert policy.delay_levels == ["red", "long_delay"]
    assert policy.categories == ["damaged"]
    assert policy.regions == ["asia"]
    assert (policy.min_days_late, policy.max_days_late) == (3, 30)
    assert (policy.min_order_value, policy.max_order_value) == (Decimal("100"), Decimal("1000"))
    assert policy.remedies.get().amount == Decimal("25.00")
    with translation.override("zh-hans"):
        assert policy.description == "亚洲 VIP 的损坏包裹：更大的礼物。"
    with translation.override("en"):
        assert policy.description == "Damaged parcels of Asian VIPs: a bigger gift."


def test_an_uplift_needs_its_percent(admin_client):
    response = admin_client.post(add_url(), form(kind="uplift", uplift_percent=""))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "uplift_percent" in errors
    assert not CompensationPolicy.objects.filter(name="VIP damaged in Asia").exists()


def test_the_bounds_must_be_in_order(admin_client):
    response = admin_client.post(add_url(), form(min_days_late="10", max_days_late="5"))

    errors = response.context["adminform"].form.errors
    assert "max_days_late" in errors
    assert "The upper bound must not be below the lower one." in errors["max_days_late"]


def test_the_list_says_when_each_policy_applies(admin_client):
    response = admin_client.get(reverse("admin:compensation_compensationpolicy_changelist"))
    body = response.content.decode()

    assert response.status_code == 200
    assert "VIP +50%" in body
    assert "VIP; +50%" in body
    assert "&gt; 30 days late" in body
    assert "&gt;= 300.00 EUR" in body


def test_the_form_explains_the_conditions(admin_client):
    body = admin_client.get(add_url()).content.decode()

    assert "The first active rule by position whose conditions all match applies" in body
    assert "30 matches from the 31st day" in body
    assert "None ticked: any region." in body
