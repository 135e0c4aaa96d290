"""Which database a read runs on: the primary ("default") or the reports replica.

With REPORTS_DATABASE_URL set (config.settings), the database alias "reports" names a
read-only replica of the primary (PostgreSQL streaming replication). The supervisor's report
reads (the dashboard's figures and charts and the rollup they read, root causes, scorecards,
the lists behind the figures and their CSV exports) run on `reports_db()`; everything else
runs on the primary: every write, and every read a write depends on or that must show a write
just made (the approvals queue and its actions, incidents and their actions, budgets, the
dashboard's live panels of approvals, SLA alerts and incidents).

A replica lags the primary by its replication delay: usually well under a second, seconds
under a burst of writes or while a long query on the replica holds replay back. A report read
there may miss the writes of those last seconds (a figure one ticket short, a list without the
case closed a moment ago); for figures over days and weeks that is acceptable, and the next
view shows them. A read that must see a write stays on the primary:

- inside a transaction on the primary (`transaction.atomic()`) `reports_db()` answers the
  primary: a second connection would not see the transaction's own uncommitted rows (nor would
  a report read in a test, which runs in a transaction);
- within `reports_on_primary()` too: a job that has just written reads what it wrote (the
  periodic refresh computes the dashboard's default view right after refreshing the rollup,
  supervisor.snapshot.warm).

Without REPORTS_DATABASE_URL there is no "reports" alias and `reports_db()` is always the
primary: one connection, everything as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

REPORTS_DB_ALIAS = "reports"

_on_primary: ContextVar[bool] = ContextVar("reports_on_primary", default=False)


def reports_db() -> str:
    """The alias report reads run on: "reports" when a replica is configured, else (or inside
    a transaction on the primary, or within `reports_on_primary()`) "default"."""
    if (
        REPORTS_DB_ALIAS not in connections
        or _on_primary.get()
        or connections[DEFAULT_DB_ALIAS].in_atomic_block
    ):
        return DEFAULT_DB_ALIAS
    return REPORTS_DB_ALIAS


@contextmanager
def reports_on_primary() -> Iterator[None]:
    """Report reads within the block run on the primary (a job reading what it just wrote)."""
    token = _on_primary.set(True)
    try:
        yield
    finally:
        _on_primary.reset(token)
