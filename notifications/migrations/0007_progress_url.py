"""Every notice carries the customer's progress link, by its new name {progress_url}.

The progress page (`/t/<token>/`, the portal app) holds the case's progress and its survey, and
the dispatcher mints a fresh link for each notice it sends (notifications/links.py). So:

1. ``{progress_link}`` becomes ``{progress_url}`` in every template's subject and body, the
   defaults of 0003 and an admin's own texts alike (a mechanical rename: the old name stays
   accepted by the renderer, but the admin lists only the new one).
2. Every kind on every channel in both languages links to the page. The defaults of 0003
   without a link (the push notices) get a line of their own with it: ``{progress_url}``, or
   for the survey ``{survey_link}`` (the page's survey section). Only a row whose body is
   still 0003's default changes: a text an admin reworded stays as they wrote it.

``final_templates()`` gives the defaults as they are after this migration (0003's rows with
both changes), for the tests. Reversing leaves the rows as they are.
"""

import importlib

from django.db import migrations
from django.db.models import Q, Value
from django.db.models.functions import Replace

DEFAULTS = importlib.import_module("notifications.migrations.0003_default_templates")

OLD = "{progress_link}"
NEW = "{progress_url}"
LINKS = (NEW, "{survey_link}")

# The line a default without a link gets, per language (short: a push notice's body).
PROGRESS_LINE = {
    DEFAULTS.EN: "Follow your case: {progress_url}",
    DEFAULTS.ZH: "查看处理进度：{progress_url}",
}
SURVEY_LINE = {
    DEFAULTS.EN: "Rate us here: {survey_link}",
    DEFAULTS.ZH: "点此打分：{survey_link}",
}


def renamed(text: str) -> str:
    return text.replace(OLD, NEW)


def with_link(kind: str, language: str, body: str) -> str:
    """``body`` (renamed) with a line carrying the link when it has none."""
    body = renamed(body)
    if any(link in body for link in LINKS):
        return body
    line = (SURVEY_LINE if kind == "survey" else PROGRESS_LINE)[language]
    return f"{body}\n{line}"


def final_templates():
    """Every default as ((kind, channel, language, region_style), subject, body), after this
    migration."""
    for (kind, channel, language, region), subject, body in DEFAULTS.templates():
        yield (kind, channel, language, region), renamed(subject), with_link(kind, language, body)


def forward(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    NotificationTemplate.objects.filter(Q(subject__contains=OLD) | Q(body__contains=OLD)).update(
        subject=Replace("subject", Value(OLD), Value(NEW)),
        body=Replace("body", Value(OLD), Value(NEW)),
    )
    for (kind, channel, language, region), _subject, body in DEFAULTS.templates():
        final = with_link(kind, language, body)
        if final == renamed(body):
            continue  # it links already: step 1 did all there was to do
        NotificationTemplate.objects.filter(
            kind=kind, channel=channel, language=language, region_style=region, body=body
        ).update(body=final)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0006_satisfactionsurvey_moves_to_tickets")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
