from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.urls import register_converter


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Delaydesk core"

    def ready(self) -> None:
        # In ready(), not at the top: these modules import models, which need the app registry.
        from core import ratelimit, signals  # noqa: F401 - registers the cache check, receivers
        from core.inputs import IdConverter
        from core.roles import ensure_roles
        from core.schedules import sync_beat_schedules

        # Groups and their permissions are configuration, not demo data: every database gets
        # them, kept in step with the code after each migrate.
        post_migrate.connect(ensure_roles, dispatch_uid="core.ensure_roles")
        post_migrate.connect(sync_beat_schedules, sender=self, dispatch_uid="core.sync_beat")
        # `<id:name>` in URL patterns: an id the database can hold, else no match (404).
        register_converter(IdConverter, "id")
