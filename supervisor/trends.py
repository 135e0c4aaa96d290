"""The dashboard's charts: trends per day for the period and the top delay causes.

(Being built: see issue 15. `dashboard_charts` returns the charts the dashboard draws, each
with its numbers as a table.)
"""

from __future__ import annotations

import datetime as dt

from supervisor.scope import Scope


def dashboard_charts(scope: Scope, *, now: dt.datetime) -> list:
    return []
