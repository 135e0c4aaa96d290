"""Fewer index writes per notice (a cold detection pass queues ~150k in one transaction):
no separate index for foreign keys a composite index starts with; partial (non-null)
indexes for the mostly-NULL ticket, incident and fallback keys; the dedupe key unique by a
constraint, without the pattern-matching index unique=True adds on PostgreSQL."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_customer_email_upper_index"),
        ("notifications", "0007_progress_url"),
        ("shipments", "0015_shipment_late_eta"),
        ("tickets", "0012_slatimer_live_idx"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="notification",
            name="notifications_ticket_idx",
        ),
        migrations.AlterField(
            model_name="notification",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="notifications",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="dedupe_key",
            field=models.CharField(max_length=200, verbose_name="dedupe key"),
        ),
        migrations.AlterField(
            model_name="notification",
            name="fallback_of",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The notice on another channel that failed, which this one replaces.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="fallbacks",
                to="notifications.notification",
                verbose_name="fallback of",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="incident",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="notifications",
                to="shipments.incident",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="shipment",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="notifications",
                to="shipments.shipment",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="ticket",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="notifications",
                to="tickets.ticket",
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("ticket__isnull", False)),
                fields=["ticket", "-created_at"],
                name="notifications_ticket_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("incident__isnull", False)),
                fields=["incident"],
                name="notifications_incident_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("fallback_of__isnull", False)),
                fields=["fallback_of"],
                name="notifications_fallback_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(
                fields=("dedupe_key",), name="notifications_notification_unique_dedupe_key"
            ),
        ),
    ]
