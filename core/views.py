from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.models import Heartbeat
from core.roles import AGENT, SUPERVISOR, user_roles


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers a query, 503 otherwise (for load balancers).

    Also says how long ago a Celery worker last ran the heartbeat task, for monitoring; a
    silent worker does not make the web node unhealthy.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not healthy"
        return JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)
    beat = Heartbeat.objects.filter(name="worker").values_list("last_seen_at", flat=True).first()
    worker_seconds = None if beat is None else int((timezone.now() - beat).total_seconds())
    return JsonResponse(
        {"status": "ok", "database": "ok", "worker_last_seen_seconds_ago": worker_seconds}
    )


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each staff user to the page they work in.

    Supervisors land on the supervisor page (their group also opens the console), agents on the
    console, operators who only configure things on the admin; anyone else learns they have no
    role yet.
    """
    roles = user_roles(request.user)
    if SUPERVISOR in roles:
        return redirect("compensation:supervisor")
    if AGENT in roles:
        return redirect("tickets:console")
    if request.user.is_staff and request.user.get_all_permissions():
        return redirect("admin:index")
    return render(request, "core/no_role.html", status=403)
