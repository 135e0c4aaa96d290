"""The default notice templates: migration 0003 installs them, 0007 renames {progress_link} to
{progress_url} and gives every notice a link to the customer's progress page."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, migrations
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
LINKS = importlib.import_module("notifications.migrations.0007_progress_url")
HAN = re.compile(r"[\u4e00-\u9fff]")
LANGUAGES = ("en", "zh-hans")
REGIONS = ("north_america", "europe", "asia")
# The defaults as installed: 0003's texts with 0007's changes.
DEFAULT_ROWS = list(LINKS.final_templates())
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
    "progress_url",
}
CONTACT = {"en": "reply to this email", "zh-hans": "回复本邮件"}


def installed() -> set[tuple[str, str, str, str]]:
    return set(
        NotificationTemplate.objects.values_list("kind", "channel", "language", "region_style")
    )


def test_the_data_migration_ran_and_installed_every_kind_channel_and_language():
    applied = MigrationRecorder(connection).applied_migrations()
    assert ("notifications", "0003_default_templates") in applied
    assert ("notifications", "0007_progress_url") in applied

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


def test_the_installed_rows_are_the_final_defaults():
    rows = {
        (t.kind, t.channel, t.language, t.region_style): (t.subject, t.body)
        for t in NotificationTemplate.objects.all()
    }

    assert rows == {key: (subject, body) for key, subject, body in DEFAULT_ROWS}


def test_every_kind_on_every_channel_in_both_languages_links_to_the_progress_page():
    rows = NotificationTemplate.objects.values_list(
        "kind", "channel", "language", "region_style", "subject", "body"
    )
    kinds = set()
    for kind, channel, language, region, _subject, body in rows:
        used = set(placeholders_in(body, PLACEHOLDERS))
        link = "survey_link" if kind == NoticeKind.SURVEY else "progress_url"
        assert link in used, (kind, channel, language, region)
        assert "progress_link" not in used  # the old name is gone from the defaults
        kinds.add((kind, channel, language))
    assert kinds == {
        (kind, channel, language)
        for kind in NoticeKind.values
        for channel in ("email", "sms", "push")
        for language in LANGUAGES
    }


def test_the_link_sits_on_a_line_of_its_own():
    """A line with an empty link (no link maker and no carrier page) is left out: nothing else
    may be on it that the notice needs."""
    for key, _subject, body in DEFAULT_ROWS:
        for line in body.splitlines():
            used = set(placeholders_in(line, PLACEHOLDERS))
            if used & {"progress_url", "survey_link"}:
                assert used <= {"progress_url", "survey_link"}, (key, line)


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
        optional = {"remedy", "progress_url", "location", "incident"} & set(
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
    """What a lock screen shows (the title, the text before the link) stays short; the link is
    the last line."""
    for (_kind, channel, language, _region), title, body in DEFAULT_ROWS:
        if channel == "push":
            context = SAMPLE_CONTEXT[language]
            *text, link = body.splitlines()
            assert len(render_subject(title, context)) <= 65
            assert len(render_body("\n".join(text), context)) <= 160
            assert set(placeholders_in(link, PLACEHOLDERS)) in ({"progress_url"}, {"survey_link"})


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


# --- 0007: {progress_url} everywhere -------------------------------------------------------


def row(kind, channel, language="en", region="any") -> NotificationTemplate:
    return NotificationTemplate.objects.get(
        kind=kind, channel=channel, language=language, region_style=region
    )


def test_0007_turns_0003s_defaults_into_the_final_ones():
    NotificationTemplate.objects.all().delete()
    DEFAULTS.install(apps, None)

    LINKS.forward(apps, None)

    rows = {
        (t.kind, t.channel, t.language, t.region_style): (t.subject, t.body)
        for t in NotificationTemplate.objects.all()
    }
    assert rows == {key: (subject, body) for key, subject, body in DEFAULT_ROWS}
    assert row("delay_notice", "push").body == (
        "Sorry, {customer_name}: new estimated delivery {new_eta}. Reason: {cause}. "
        "Tap for details.\nFollow your case: {progress_url}"
    )
    assert row("survey", "push", "zh-hans").body.endswith("\n点此打分：{survey_link}")
    assert row("delay_notice", "sms").body.endswith("\nDetails: {progress_url}")


def test_0007_renames_the_old_name_in_an_admins_texts_and_keeps_their_wording():
    NotificationTemplate.objects.all().delete()
    DEFAULTS.install(apps, None)
    reworded_push = "Your parcel is late. Open the app."
    NotificationTemplate.objects.filter(kind="delay_notice", channel="push", language="en").update(
        body=reworded_push
    )
    NotificationTemplate.objects.filter(kind="delay_notice", channel="sms", language="en").update(
        body="Late! {progress_link} (again: {progress_link})"
    )
    NotificationTemplate.objects.create(
        kind="delivered",
        channel="email",
        language="en",
        region_style="europe",
        subject="Delivered {progress_link}",
        body="Hi\nSee {progress_link}",
    )

    LINKS.forward(apps, None)

    assert row("delay_notice", "push").body == reworded_push  # an admin's text stays theirs
    assert row("delay_notice", "sms").body == "Late! {progress_url} (again: {progress_url})"
    europe = row("delivered", "email", region="europe")
    assert (europe.subject, europe.body) == ("Delivered {progress_url}", "Hi\nSee {progress_url}")
    assert not NotificationTemplate.objects.filter(body__contains="{progress_link}").exists()


def test_0007_run_twice_changes_nothing_more():
    before = list(NotificationTemplate.objects.order_by("pk").values_list("subject", "body"))

    LINKS.forward(apps, None)

    assert list(NotificationTemplate.objects.order_by("pk").values_list("subject", "body")) == (
        before
    )


def test_0007_follows_the_latest_migration_and_reverses_as_a_noop():
    (operation,) = LINKS.Migration.operations

    assert operation.reversible
    assert operation.reverse_code is migrations.RunPython.noop
    assert LINKS.Migration.dependencies == [
        ("notifications", "0006_satisfactionsurvey_moves_to_tickets")
    ]
