import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.audit import guard_statements


def guard(apps, schema_editor):
    for statement in guard_statements(schema_editor.connection.vendor, on=True):
        schema_editor.execute(statement)


def unguard(apps, schema_editor):
    for statement in guard_statements(schema_editor.connection.vendor, on=False):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0004_pending_task"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="when")),
                ("action", models.CharField(choices=[("offer_requested", "Compensation requested"), ("offer_approved", "Compensation approved"), ("offer_rejected", "Compensation rejected"), ("offer_issued", "Compensation issued"), ("refund_issued", "Refund issued"), ("roles_changed", "Roles or account access changed"), ("token_created", "API token created"), ("token_revoked", "API token revoked"), ("links_revoked", "Progress links revoked"), ("config_added", "Configuration added"), ("config_changed", "Configuration changed"), ("config_deleted", "Configuration deleted")], max_length=32, verbose_name="action")),
                ("actor_name", models.CharField(max_length=150, verbose_name="who (name)")),
                ("object_id", models.CharField(max_length=64, verbose_name="object id")),
                ("object_repr", models.CharField(max_length=200, verbose_name="object")),
                ("before", models.JSONField(blank=True, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True, verbose_name="before")),
                ("after", models.JSONField(blank=True, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True, verbose_name="after")),
                ("source", models.CharField(max_length=200, verbose_name="source")),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True, verbose_name="client address")),
                ("user_agent", models.CharField(blank=True, max_length=300, verbose_name="user agent")),
                ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="who")),
                ("content_type", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="contenttypes.contenttype", verbose_name="object type")),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit trail",
                "ordering": ("-at", "-id"),
                "indexes": [
                    models.Index(fields=["-at", "-id"], name="core_audit_at_idx"),
                    models.Index(fields=["content_type", "object_id"], name="core_audit_object_idx"),
                    models.Index(fields=["actor", "-at"], name="core_audit_actor_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("action__in", ["offer_requested", "offer_approved", "offer_rejected", "offer_issued", "refund_issued", "roles_changed", "token_created", "token_revoked", "links_revoked", "config_added", "config_changed", "config_deleted"])), name="core_auditentry_action_valid"),
                ],
            },
        ),
        # Append-only in the database too: UPDATE and DELETE of a row raise (core.audit).
        migrations.RunPython(guard, unguard, elidable=False),
    ]
