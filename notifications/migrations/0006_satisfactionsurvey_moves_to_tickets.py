"""The satisfaction survey moves to tickets (its rating is a fact about the ticket).

State only: the table stays; tickets' migration 0007 takes the model over and renames the table.
See docs/ARCHITECTURE.md.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_suppressed_reason_parts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SatisfactionSurvey")],
            database_operations=[],
        ),
    ]
