"""The supervisor workspace: approvals, incidents, SLA alerts and KPIs (read-only for now)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from supervisor import selectors


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def supervisor_home(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    dashboard = selectors.supervisor_dashboard(now=now)
    return render(request, "supervisor/home.html", {"dashboard": dashboard, "now": now})
