# The supervisor charts and root causes (supervisor.trends, supervisor.root_causes) read
# delays per day, cause, carrier and lane, and deliveries on time or not, from these indexes
# alone (index-only scans) instead of visiting a heap row per shipment.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shipments", "0010_kpi_indexes"),
    ]

    operations = [
        # The same index as 0010's, covering the columns the charts group by.
        migrations.RemoveIndex(
            model_name="shipment",
            name="shipments_detected_idx",
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                condition=models.Q(("delay_detected_at__isnull", False)),
                fields=["delay_detected_at"],
                include=("delay_cause", "carrier", "lane"),
                name="shipments_detected_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                condition=models.Q(("status", "delivered")),
                fields=["delivered_at"],
                include=("promised_at", "carrier", "lane"),
                name="shipments_delivered_at_idx",
            ),
        ),
    ]
