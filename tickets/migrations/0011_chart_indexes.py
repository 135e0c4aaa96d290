# The backlog chart (supervisor.trends) reads the tickets done since a day, by priority rank and
# day created, from the index of 0010 alone once it covers those columns.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0010_kpi_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="ticket",
            name="tickets_ticket_resolved_idx",
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("solved_at__isnull", False)),
                fields=["solved_at"],
                include=("status", "priority_rank", "created_at", "team"),
                name="tickets_ticket_resolved_idx",
            ),
        ),
    ]
