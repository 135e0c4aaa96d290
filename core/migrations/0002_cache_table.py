"""The database cache's table: rate limits and login lockouts share it across processes on the
embedded default (settings.CACHES). `createcachetable` skips a table that exists and caches that
are not database caches, so this is safe on every configuration."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_heartbeat")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
