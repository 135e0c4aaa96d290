"""The incident foreign key indexed for non-null rows only: a full index took a NULL entry
for every shipment row version a detection pass writes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_customer_email_upper_index"),
        ("shipments", "0015_shipment_late_eta"),
    ]

    operations = [
        migrations.AlterField(
            model_name="shipment",
            name="incident",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="shipments",
                to="shipments.incident",
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                condition=models.Q(("incident__isnull", False)),
                fields=["incident"],
                name="shipments_incident_idx",
            ),
        ),
    ]
