"""Shipments: room on each page for row updates (PostgreSQL), and the incident grouping index.

fillfactor only changes how new pages are filled; existing rows move into that layout as they
are rewritten (or at once with VACUUM FULL / pg_repack in a maintenance window).
"""

from django.db import migrations, models


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE shipments_shipment SET (fillfactor = 85)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE shipments_shipment RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0001_initial'),
        ('shipments', '0004_incident_resolved_by'),
    ]

    operations = [
        migrations.RunPython(set_fillfactor, reset_fillfactor),
        migrations.AddIndex(
            model_name='shipment',
            index=models.Index(condition=models.Q(('incident__isnull', True), models.Q(('delay_level', 'none'), _negated=True), models.Q(('delay_cause__in', ['none', 'unknown']), _negated=True)), fields=['delay_cause', 'carrier', 'last_location'], name='shipments_incident_cand_idx'),
        ),
    ]
