from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.roles import SUPERVISOR, user_roles


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers a query, 503 otherwise (for load balancers)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not healthy"
        return JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each staff user to the page they work in."""
    roles = user_roles(request.user)
    if roles == {SUPERVISOR} or (SUPERVISOR in roles and "agent" not in roles):
        return redirect("compensation:supervisor")
    if roles:
        return redirect("tickets:console")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "core/no_role.html", status=403)
