"""The default notice templates that migration 0003 installs."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from core.placeholders import has_stray_braces, placeholders_in, unknown_placeholders
from notifications.models import DELAY_KINDS, NoticeKind, NotificationTemplate
from notifications.rendering import (
    PLACEHOLDERS,
    SAMPLE_CONTEXT,
    is_gsm,
    render_body,
    render_subject,
    sms_segments,
)

pytestmark = pytest.mark.django_db

DEFAULTS = importlib.import_module("notifications.migrations.0003_default_templates")
HAN = re.compile(r"[\u4e00-\u9fff]")
LANGUAGES = ("en", "zh-hans")
REGIONS = ("north_america", "europe", "asia")
DEFAULT_ROWS = list(DEFAULTS.templates())
DELAY_EMAILS = [row for row in DEFAULT_ROWS if row[0][0] in DELAY_KINDS and row[0][1] == "email"]
SMS_ROWS = [row for row in DEFAULT_ROWS if row[0][1] == "sms"]


def ids(rows) -> list[str]:
    return ["/".join(key) for key, _subject, _body in rows]


# What a delay notice tells (shared/DOMAIN.md, "Proactive communication"); the contact channel
# is a reply to the email.
DELAY_CONTENT = {
    "order_number",
    "cause",
    "status",
    "location",
    "new_eta",
    "action",
    "remedy",
    "progress_link",
}
CONTACT = {"en": "reply to this email", "zh-hans": "回复本邮件"}


def installed() -> set[tuple[str, str, str, str]]:
    return set(
        NotificationTemplate.objects.values_list("kind", "channel", "language", "region_style")
    )


def test_the_data_migration_ran_and_installed_every_kind_channel_and_language():
    applied = MigrationRecorder(connection).applied_migrations()
    assert ("notifications", "0003_default_templates") in applied

    expected = {
        (kind, channel, language, "any")
        for kind in NoticeKind.values
        for channel in ("email", "sms", "push")
        for language in LANGUAGES
    }
    assert expected <= installed()


def test_the_delay_kinds_have_an_email_variant_for_every_region_in_both_languages():
    expected = {
        (kind, "email", language, region)
        for kind in DELAY_KINDS
        for language in LANGUAGES
        for region in REGIONS
    }

    assert expected <= installed()
    assert {key for key, _subject, _body in DEFAULT_ROWS} == installed()


@pytest.mark.parametrize(("key", "subject", "body"), DEFAULT_ROWS, ids=ids(DEFAULT_ROWS))
def test_each_default_uses_known_placeholders_and_the_right_language(key, subject, body):
    kind, channel, language, region = key

    assert unknown_placeholders(subject + body, PLACEHOLDERS) == []
    assert not has_stray_braces(subject + body)
    assert bool(HAN.search(subject + body)) == (language == "zh-hans")
    assert len(subject) <= NotificationTemplate._meta.get_field("subject").max_length
    assert bool(subject) == (channel != "sms")
    assert "\n" not in subject
    if channel == "email":
        assert "{customer_name}" in body
        if kind != NoticeKind.SURVEY:
            assert CONTACT[language] in body.lower()


@pytest.mark.parametrize(
    ("key", "subject", "body"),
    DELAY_EMAILS,
    ids=ids(DELAY_EMAILS),
)
def test_every_delay_email_covers_the_domains_content_list(key, subject, body):
    used = set(placeholders_in(subject + body, PLACEHOLDERS))

    assert used >= DELAY_CONTENT, DELAY_CONTENT - used
    # Optional values sit on lines of their own: no other fact is lost when one is empty.
    for line in body.splitlines():
        optional = {"remedy", "progress_link", "location", "incident"} & set(
            placeholders_in(line, PLACEHOLDERS)
        )
        if optional:
            assert set(placeholders_in(line, PLACEHOLDERS)) == optional, line


def test_the_incident_notices_say_what_is_happening():
    for (kind, channel, _language, _region), _subject, body in DEFAULT_ROWS:
        if kind == NoticeKind.INCIDENT_NOTICE and channel == "email":
            assert "{incident}" in body


def test_european_variants_carry_a_privacy_and_opt_out_line():
    for (_kind, _channel, language, region), _subject, body in DEFAULT_ROWS:
        if region == "europe":
            assert ("About your data" if language == "en" else "关于您的个人信息") in body
            assert ("stop them" if language == "en" else "停止发送") in body


def test_north_american_variants_lead_with_facts_and_asian_ones_with_an_apology():
    for (_kind, _channel, language, region), subject, body in DEFAULT_ROWS:
        if region == "north_america":
            assert body.count("\n- ") >= 4  # a list of facts
            assert "{remedy}" in body
        if region == "asia":
            assert ("apolog" if language == "en" else "歉") in subject + body


@pytest.mark.parametrize(
    ("key", "subject", "body"),
    SMS_ROWS,
    ids=ids(SMS_ROWS),
)
def test_default_sms_fit_in_two_segments_with_the_sample_values(key, subject, body):
    language = key[2]

    text = render_body(body, SAMPLE_CONTEXT[language])

    assert sms_segments(text) <= 2 <= settings.NOTICE_SMS_MAX_SEGMENTS
    # Chinese SMS are UCS-2 (70 per single message); English ones stay in the GSM alphabet.
    assert is_gsm(text) == (language == "en")


def test_default_push_notices_are_short():
    for (_kind, channel, language, _region), title, body in DEFAULT_ROWS:
        if channel == "push":
            context = SAMPLE_CONTEXT[language]
            assert len(render_subject(title, context)) <= 65
            assert len(render_body(body, context)) <= 160


def test_installing_again_adds_nothing_and_keeps_an_admins_edits():
    NotificationTemplate.objects.filter(
        kind="delay_notice", channel="email", language="en", region_style="any"
    ).update(body="Edited by an admin", is_active=False)
    count = NotificationTemplate.objects.count()

    DEFAULTS.install(apps, None)

    assert NotificationTemplate.objects.count() == count
    edited = NotificationTemplate.objects.get(
        kind="delay_notice", channel="email", language="en", region_style="any"
    )
    assert (edited.body, edited.is_active) == ("Edited by an admin", False)


def test_installing_into_an_empty_table_puts_them_all_back():
    NotificationTemplate.objects.all().delete()

    DEFAULTS.install(apps, None)

    assert NotificationTemplate.objects.count() == len(DEFAULT_ROWS) == 9 * 3 * 2 + 3 * 3 * 2
    assert not NotificationTemplate.objects.filter(is_active=False).exists()


def test_the_data_migration_can_be_reversed_without_touching_data():
    (operation,) = DEFAULTS.Migration.operations

    assert operation.reversible
    assert DEFAULTS.Migration.dependencies == [("notifications", "0002_outbox_fallback_level")]
