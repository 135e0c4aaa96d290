"""`flush` as Django's, which empties every table, the audit trail's too.

The audit trail refuses DELETE row by row (core.audit); on PostgreSQL flush empties tables with
TRUNCATE, which row triggers leave alone, but on SQLite it runs DELETE: there the guard is
lifted for the flush and put back after it, whatever happened. (Test cases that need real
transactions are flushed after each test this way.)
"""

from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections

from core.audit import guard_statements
from core.models import AuditEntry, tables_exist


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        alias = connection.alias
        if connection.vendor != "sqlite" or not tables_exist(AuditEntry, using=alias):
            return super().handle(**options)
        with connection.cursor() as cursor:
            for statement in guard_statements("sqlite", on=False):
                cursor.execute(statement)
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                for statement in guard_statements("sqlite", on=True):
                    cursor.execute(statement)
