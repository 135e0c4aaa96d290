from celery.signals import task_postrun, task_prerun
from django.apps import AppConfig
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_migrate
from django.urls import register_converter


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Delaydesk core"

    def ready(self) -> None:
        # In ready(), not at the top: these modules import models, which need the app registry.
        from core import audit, ratelimit, signals  # noqa: F401 - cache check, receivers
        from core.inputs import IdConverter
        from core.roles import ensure_roles
        from core.schedules import sync_beat_schedules

        # Groups and their permissions are configuration, not demo data: every database gets
        # them, kept in step with the code after each migrate.
        post_migrate.connect(ensure_roles, dispatch_uid="core.ensure_roles")
        post_migrate.connect(sync_beat_schedules, sender=self, dispatch_uid="core.sync_beat")
        # Where an audit entry comes from: the request or task being served (core.audit).
        request_started.connect(audit.request_started, dispatch_uid="core.audit.request")
        request_finished.connect(audit.request_finished, dispatch_uid="core.audit.request_end")
        task_prerun.connect(audit.task_started, dispatch_uid="core.audit.task")
        task_postrun.connect(audit.task_finished, dispatch_uid="core.audit.task_end")
        # `<id:name>` in URL patterns: an id the database can hold, else no match (404).
        register_converter(IdConverter, "id")
