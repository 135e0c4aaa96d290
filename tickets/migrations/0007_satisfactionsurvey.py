"""The satisfaction survey, moved here from notifications without copying a row.

1. State: the model joins tickets, still on its old table (no SQL).
2. The table is renamed to tickets_satisfactionsurvey (ALTER TABLE ... RENAME: no copy).
3. Its content type follows it, so permissions granted on it (roles, admin log) still point at
   the model.
"""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import tickets.models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    old = ContentType.objects.using(db).filter(
        app_label="notifications", model="satisfactionsurvey"
    )
    if (
        ContentType.objects.using(db)
        .filter(app_label="tickets", model="satisfactionsurvey")
        .exists()
    ):
        old.delete()
    else:
        old.update(app_label="tickets")


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    ContentType.objects.using(db).filter(app_label="tickets", model="satisfactionsurvey").update(
        app_label="notifications"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("tickets", "0006_translated_macro_titles_and_milestone_labels"),
        ("notifications", "0006_satisfactionsurvey_moves_to_tickets"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SatisfactionSurvey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "created_at",
                            models.DateTimeField(auto_now_add=True, verbose_name="created at"),
                        ),
                        (
                            "updated_at",
                            models.DateTimeField(auto_now=True, verbose_name="updated at"),
                        ),
                        (
                            "token",
                            models.CharField(
                                default=tickets.models.new_survey_token,
                                max_length=64,
                                unique=True,
                                verbose_name="token",
                            ),
                        ),
                        (
                            "sent_at",
                            models.DateTimeField(blank=True, null=True, verbose_name="sent at"),
                        ),
                        (
                            "rating",
                            models.PositiveSmallIntegerField(
                                blank=True,
                                null=True,
                                validators=[
                                    django.core.validators.MinValueValidator(1),
                                    django.core.validators.MaxValueValidator(5),
                                ],
                                verbose_name="rating",
                            ),
                        ),
                        ("comment", models.TextField(blank=True, verbose_name="comment")),
                        (
                            "answered_at",
                            models.DateTimeField(blank=True, null=True, verbose_name="answered at"),
                        ),
                        (
                            "ticket",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="survey",
                                to="tickets.ticket",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "satisfaction survey",
                        "verbose_name_plural": "satisfaction surveys",
                        "db_table": "notifications_satisfactionsurvey",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("rating__isnull", True),
                                    models.Q(("rating__gte", 1), ("rating__lte", 5)),
                                    _connector="OR",
                                ),
                                name="notifications_survey_rating_1_to_5",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("rating__isnull", True),
                                    ("answered_at__isnull", False),
                                    _connector="OR",
                                ),
                                name="notifications_survey_rated_has_time",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="satisfactionsurvey", table=None),
        migrations.RunPython(move_content_type, move_content_type_back, elidable=True),
    ]
