"""The audit trail of sensitive actions (issue 17): `record(...)` writes one `AuditEntry`.

The services that do something sensitive call `record` in their own transaction (the entry
commits or rolls back with the action): compensation requested, approved, rejected, issued,
refunds (compensation.services), progress links revoked (portal.links). Changes made in the
admin to roles, API tokens, policies, rules and limits are recorded by one admin mixin
(core.admin_utils.AuditedAdmin).

Each entry says who (the user, else "system"), when, what (the action and the row), the values
before and after (JSON; for a change only the fields that changed), and from where: the
request's client address, user agent, method and path when the action runs in a request, the
Celery task's name in a task, else "system". Services are not handed the request: the request
that is being served is noted when it starts (`request_started`, the WSGI environ or ASGI
scope, read only when an entry is written) and forgotten when it finishes; a task's name
likewise (`task_prerun`). Both are wired in core.apps.

Entries are never edited or deleted: the admin offers no way to, and the database refuses
UPDATE and DELETE of their rows (triggers, migration core 0005). `manage.py flush`, which
empties the whole database, lifts the guard for its own statements (core's flush command).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from core.models import AuditAction, AuditEntry

SYSTEM = "system"

# The request being served (its WSGI environ, or a META-like dict from an ASGI scope) and the
# Celery task being run, in this thread or task.
_request_meta: ContextVar[dict | None] = ContextVar("audit_request_meta", default=None)
_task_name: ContextVar[str | None] = ContextVar("audit_task_name", default=None)

# Never written into an entry, whatever the model: credentials.
SECRET_WORDS = ("password", "secret", "token")


# --- where from -------------------------------------------------------------------------------


def request_started(sender=None, environ=None, scope=None, **kwargs) -> None:
    if environ is not None:
        _request_meta.set(environ)
    elif scope is not None and scope.get("type") == "http":
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        client = scope.get("client") or (None,)
        _request_meta.set(
            {
                "REMOTE_ADDR": client[0],
                "HTTP_USER_AGENT": headers.get("user-agent", b"").decode("latin-1"),
                "HTTP_X_FORWARDED_FOR": headers.get("x-forwarded-for", b"").decode("latin-1"),
                "REQUEST_METHOD": scope.get("method", ""),
                "PATH_INFO": scope.get("path", ""),
            }
        )


def request_finished(sender=None, **kwargs) -> None:
    _request_meta.set(None)


def task_started(sender=None, task=None, **kwargs) -> None:
    _task_name.set(getattr(task, "name", None) or getattr(sender, "name", None))


def task_finished(sender=None, **kwargs) -> None:
    _task_name.set(None)


def _client_address(meta: dict) -> str | None:
    from axes.helpers import get_client_ip_address  # reads django-axes' settings on import

    # The address as django-axes sees it: the same proxy settings (AXES_IPWARE_*).
    address = get_client_ip_address(SimpleNamespace(META=meta)) or meta.get("REMOTE_ADDR")
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def _where(request=None) -> dict[str, Any]:
    meta = request.META if request is not None else _request_meta.get()
    if meta is None:
        return {"source": (_task_name.get() or SYSTEM)[:200], "ip_address": None, "user_agent": ""}
    path = meta.get("PATH_INFO", "")
    return {
        "source": f"{meta.get('REQUEST_METHOD', '')} {path}".strip()[:200] or SYSTEM,
        "ip_address": _client_address(meta),
        "user_agent": str(meta.get("HTTP_USER_AGENT", ""))[:300],
    }


# --- what -------------------------------------------------------------------------------------


def _plain(data: Any) -> Any:
    """JSON values (decimals and moments as text), as they will be stored and compared."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _secret(name: str) -> bool:
    return any(word in name for word in SECRET_WORDS)


def snapshot(
    obj: models.Model, *, fields: tuple[str, ...] | None = None, related: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A row's values as an entry keeps them: its concrete fields (a foreign key by id), its
    many-to-many fields as the sorted names of the rows they hold, and the rows of each
    reverse relation named in ``related`` (an admin's inlines). ``fields`` limits it to those
    names. Credentials (passwords, secrets, tokens) are never in it."""
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key or _secret(field.name):
            continue
        if fields is None or field.name in fields:
            data[field.attname if field.is_relation else field.name] = field.value_from_object(obj)
    for field in obj._meta.many_to_many:
        if (fields is None or field.name in fields) and not _secret(field.name):
            data[field.name] = sorted(str(row) for row in getattr(obj, field.name).all())
    for name in related:
        manager = getattr(obj, name)
        parent = manager.field.name
        data[name] = [
            {k: v for k, v in snapshot(row).items() if k != f"{parent}_id"}
            for row in manager.order_by("pk")
        ]
    return _plain(data)


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only what differs between two snapshots: (its values before, its values after)."""
    keys = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


# --- writing ----------------------------------------------------------------------------------


def record(
    action: AuditAction | str,
    *,
    actor: Any,
    obj: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    request=None,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Write one audit entry for ``action`` by ``actor`` (a user; None for the system) on
    ``obj``. ``request`` when the caller has it, else the request or task being served is the
    source. Call it inside the action's transaction."""
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        at=at or timezone.now(),
        action=action,
        actor=user,
        actor_name=user.get_username() if user is not None else SYSTEM,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=None if before is None else _plain(before),
        after=None if after is None else _plain(after),
        **_where(request),
    )


# --- the database's refusal ---------------------------------------------------------------------

REFUSAL = "audit entries are never changed or deleted"

SQLITE_GUARD = [
    "CREATE TRIGGER core_auditentry_no_update BEFORE UPDATE ON core_auditentry "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    "CREATE TRIGGER core_auditentry_no_delete BEFORE DELETE ON core_auditentry "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]
SQLITE_UNGUARD = [
    "DROP TRIGGER IF EXISTS core_auditentry_no_update",
    "DROP TRIGGER IF EXISTS core_auditentry_no_delete",
]
# Row triggers: TRUNCATE (what flush runs on PostgreSQL) is left to the table's owner.
POSTGRES_GUARD = [
    "CREATE FUNCTION core_auditentry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'restrict_violation'; END $$",
    "CREATE TRIGGER core_auditentry_append_only BEFORE UPDATE OR DELETE ON core_auditentry "
    "FOR EACH ROW EXECUTE FUNCTION core_auditentry_refuse()",
]
POSTGRES_UNGUARD = [
    "DROP TRIGGER IF EXISTS core_auditentry_append_only ON core_auditentry",
    "DROP FUNCTION IF EXISTS core_auditentry_refuse()",
]


def guard_statements(vendor: str, *, on: bool) -> list[str]:
    if vendor == "sqlite":
        return SQLITE_GUARD if on else SQLITE_UNGUARD
    if vendor == "postgresql":
        return POSTGRES_GUARD if on else POSTGRES_UNGUARD
    return []
