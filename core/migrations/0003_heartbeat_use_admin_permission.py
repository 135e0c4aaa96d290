from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_cache_table"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="heartbeat",
            options={
                "permissions": [("use_admin", "Can use the admin site")],
                "verbose_name": "heartbeat",
                "verbose_name_plural": "heartbeats",
            },
        ),
    ]
