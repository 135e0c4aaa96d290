"""The progress link leaves the ticket; the survey becomes one per resolution.

- `Ticket.access_token` (a link token kept in clear) goes: the portal app keeps progress links
  as hashes (portal 0001). A link already sent with such a token stops working; the customer's
  next notice carries a new one, and the page's lookup form finds the case meanwhile.
- `SatisfactionSurvey`: one per resolution (`resolved_at`, the ticket's solve time, or the
  survey's creation for an old row without one), with the agent who had the ticket (their
  scorecard), a reason for low ratings and the time of a change. The old survey link's token
  is kept only as its SHA-256 (`legacy_token_hash`), so links already sent keep working (the
  portal redirects them to the progress page) and no token stays in clear.
"""

import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def forward(apps, schema_editor):
    Survey = apps.get_model("tickets", "SatisfactionSurvey")
    batch = []
    for survey in Survey.objects.select_related("ticket").iterator(chunk_size=2000):
        survey.legacy_token_hash = hashlib.sha256(survey.token.encode()).hexdigest()
        survey.resolved_at = survey.ticket.solved_at or survey.created_at
        survey.agent_id = survey.ticket.assignee_id
        batch.append(survey)
        if len(batch) >= 2000:
            Survey.objects.bulk_update(batch, ["legacy_token_hash", "resolved_at", "agent"])
            batch = []
    if batch:
        Survey.objects.bulk_update(batch, ["legacy_token_hash", "resolved_at", "agent"])


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0007_satisfactionsurvey"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveField(model_name="ticket", name="access_token"),
        migrations.RemoveField(model_name="ticket", name="access_token_expires_at"),
        migrations.AddField(
            model_name="satisfactionsurvey",
            name="agent",
            field=models.ForeignKey(
                blank=True,
                help_text="Who had the ticket when it was solved: the rating counts on their scorecard.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="agent",
            ),
        ),
        migrations.AddField(
            model_name="satisfactionsurvey",
            name="edited_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="changed at"),
        ),
        migrations.AddField(
            model_name="satisfactionsurvey",
            name="legacy_token_hash",
            field=models.CharField(
                blank=True, max_length=64, null=True, unique=True, verbose_name="old survey link (hash)"
            ),
        ),
        migrations.AddField(
            model_name="satisfactionsurvey",
            name="reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("late", "My parcel was late"),
                    ("no_information", "I was not kept informed"),
                    ("remedy_unfair", "The remedy was not fair"),
                    ("agent_unhelpful", "The agent was not helpful"),
                    ("other", "Something else"),
                ],
                max_length=16,
                verbose_name="reason",
            ),
        ),
        migrations.AddField(
            model_name="satisfactionsurvey",
            name="resolved_at",
            field=models.DateTimeField(null=True, verbose_name="resolved at"),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="satisfactionsurvey",
            name="resolved_at",
            field=models.DateTimeField(verbose_name="resolved at"),
        ),
        migrations.RemoveField(model_name="satisfactionsurvey", name="token"),
        migrations.AlterField(
            model_name="satisfactionsurvey",
            name="ticket",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="surveys",
                to="tickets.ticket",
            ),
        ),
        migrations.AddIndex(
            model_name="satisfactionsurvey",
            index=models.Index(
                condition=models.Q(("answered_at__isnull", False)),
                fields=["agent", "answered_at"],
                name="tickets_survey_agent_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="satisfactionsurvey",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("reason", ""),
                    ("reason__in", ["late", "no_information", "remedy_unfair", "agent_unhelpful", "other"]),
                    _connector="OR",
                ),
                name="tickets_survey_reason_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="satisfactionsurvey",
            constraint=models.UniqueConstraint(
                fields=("ticket", "resolved_at"), name="tickets_survey_one_per_resolution"
            ),
        ),
    ]
