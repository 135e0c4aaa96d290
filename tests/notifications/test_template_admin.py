"""The notification template admin: placeholder and SMS length checks, the sample preview."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import NotificationTemplate

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:notifications_notificationtemplate_add")


def change_url(template: NotificationTemplate) -> str:
    return reverse("admin:notifications_notificationtemplate_change", args=[template.pk])


@pytest.fixture(autouse=True)
def no_defaults():
    """Start from an empty table: every variant is free to add."""
    NotificationTemplate.objects.all().delete()


def post(admin_client, **fields):
    data = {
        "kind": "delay_notice",
        "channel": "email",
        "language": "en",
        "region_style": "any",
        "subject": "Order {order_number} is late",
        "body": "Hello {customer_name}",
        "is_active": "on",
        **fields,
    }
    return admin_client.post(ADD_URL, data)


def errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200
    return {
        name: list(messages) for name, messages in response.context["adminform"].form.errors.items()
    }


def test_a_valid_template_is_saved(admin_client):
    response = post(admin_client)

    assert response.status_code == 302
    saved = NotificationTemplate.objects.get()
    assert (saved.kind, saved.channel, saved.subject) == (
        "delay_notice",
        "email",
        "Order {order_number} is late",
    )


def test_the_form_offers_no_phone_channel_and_lists_the_placeholders(admin_client):
    form = admin_client.get(ADD_URL).context["adminform"].form

    assert "phone" not in {value for value, _label in form.fields["channel"].choices}
    help_text = str(form.fields["body"].help_text)
    assert "{survey_link}" in help_text
    assert "{progress_url}" in help_text
    assert "{progress_link}" not in help_text  # the old name: accepted, no longer offered


def test_unknown_placeholders_are_refused_by_name(admin_client):
    response = post(
        admin_client,
        subject="Order {order} late",
        body="Hi {customer_name}, code {coupon_code} {customer_name.__class__} {{ settings.X }}",
    )

    found = errors(response)
    assert set(found) == {"subject", "body"}
    assert found["subject"][0].startswith("Unknown placeholders: {order}.")
    assert found["body"][0].startswith(
        "Unknown placeholders: {coupon_code}, {customer_name.__class__}, { settings.X }."
    )
    assert "{progress_url}" in found["body"][0]  # the message lists what is available
    assert "{progress_link}" not in found["body"][0]


@pytest.mark.parametrize("name", ["progress_url", "progress_link", "survey_link"])
def test_the_progress_link_is_accepted_by_its_name_and_its_old_name(admin_client, name):
    response = post(admin_client, body=f"Hello {{customer_name}}\nFollow your case: {{{name}}}")

    assert response.status_code == 302
    assert NotificationTemplate.objects.get().body.endswith(f"{{{name}}}")


@pytest.mark.parametrize("text", ["Order {order_number is late", "Hi {{customer_name}}", "a } b"])
def test_a_brace_without_its_pair_is_refused(admin_client, text):
    found = errors(post(admin_client, subject=text))

    assert set(found) == {"subject"}
    assert "brace without its pair" in found["subject"][0]


def test_an_sms_too_long_with_the_sample_values_is_refused_with_its_segment_count(
    admin_client, settings
):
    settings.NOTICE_SMS_MAX_SEGMENTS = 2
    # 344 GSM characters with the sample name and order number: 3 parts of 153.
    body = "Hi {customer_name}, your order {order_number} is late. " + "More words here. " * 16

    found = errors(post(admin_client, channel="sms", subject="", body=body))

    assert found == {
        "body": [
            "With the sample values this SMS takes 3 segments; the limit is 2. Shorten the text."
        ]
    }


def test_a_chinese_sms_is_counted_as_ucs2(admin_client, settings):
    settings.NOTICE_SMS_MAX_SEGMENTS = 1
    # 79 characters with the sample name and order number: within the 160 of one GSM message,
    # but Chinese is UCS-2, 70 for a single message.
    body = "{customer_name}您好，" + "您的包裹正在路上。" * 6 + "订单{order_number}"

    found = errors(post(admin_client, channel="sms", language="zh-hans", subject="", body=body))

    assert "takes 2 segments; the limit is 1" in found["body"][0]


def test_an_sms_within_the_limit_is_saved_and_a_subject_on_it_is_allowed(admin_client):
    response = post(
        admin_client, channel="sms", subject="ignored", body="Order {order_number} is late."
    )

    assert response.status_code == 302
    assert NotificationTemplate.objects.get().channel == "sms"


def test_an_email_needs_a_subject_but_a_push_or_sms_does_not(admin_client):
    assert errors(post(admin_client, subject="")) == {"subject": ["An email needs a subject."]}
    assert post(admin_client, channel="push", subject="").status_code == 302


def test_the_change_page_previews_the_body_with_sample_values(admin_client):
    template = NotificationTemplate.objects.create(
        kind="delay_notice",
        channel="sms",
        language="en",
        body="Hi {customer_name} <b>late</b>\nRemedy: {remedy}",
    )

    page = admin_client.get(change_url(template)).content.decode()

    assert "Hi Alexandra Montgomery-Whitfield &lt;b&gt;late&lt;/b&gt;" in page
    assert "Remedy: a coupon worth 15.00 EUR for your next order" in page
    assert "1 SMS segment (" in page
    assert "<b>late</b>" not in page


def test_the_preview_fills_the_progress_link_with_a_sample(admin_client):
    template = NotificationTemplate.objects.create(
        kind="survey",
        channel="sms",
        language="en",
        body="Case: {progress_url}\nRate us: {survey_link}",
    )

    page = admin_client.get(change_url(template)).content.decode()

    assert "Case: https://help.shop.example/t/" in page
    assert "#survey" in page


def test_the_preview_shows_the_subject_of_an_email(admin_client):
    template = NotificationTemplate.objects.create(
        kind="delay_notice",
        channel="email",
        language="zh-hans",
        subject="订单 {order_number} 延误",
        body="{customer_name}，您好",
    )

    page = admin_client.get(change_url(template)).content.decode()

    assert "订单 ORD-2026-0048213 延误" in page
    assert "欧阳晓峰，您好" in page
    assert "SMS segment" not in page


def test_the_add_page_has_no_preview(admin_client):
    page = admin_client.get(ADD_URL).content.decode()

    assert "preview with sample values" not in page.lower()
