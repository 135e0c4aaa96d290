import logging

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET, require_safe
from rest_framework import exceptions

from core.api_errors import (
    BAD_REQUEST,
    CODE_BAD_REQUEST,
    CODE_CSRF_FAILED,
    CODE_NOT_FOUND,
    CODE_PERMISSION_DENIED,
    CODE_SERVER_ERROR,
    CSRF_FAILED,
    SERVER_ERROR,
    error_response,
    is_api_path,
)
from core.models import Heartbeat
from core.roles import AGENT, OPERATOR, SUPERVISOR, user_roles

logger = logging.getLogger(__name__)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers a query, 503 otherwise (for load balancers).

    Also says how long ago a Celery worker last ran the heartbeat task, for monitoring; a
    silent worker does not make the web node unhealthy. HEAD answers the same status and
    headers without the body (load balancers often probe with HEAD).
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not healthy"
        response = JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)
    else:
        beat = (
            Heartbeat.objects.filter(name="worker").values_list("last_seen_at", flat=True).first()
        )
        worker_seconds = None if beat is None else int((timezone.now() - beat).total_seconds())
        response = JsonResponse(
            {"status": "ok", "database": "ok", "worker_last_seen_seconds_ago": worker_seconds}
        )
    if request.method == "HEAD":
        # Not every server strips a HEAD answer's body (Django's own handler does not).
        response.content = b""
    return response


# --- Error pages and the API's Django-level errors --------------------------------------------

# Pages customers reach without an account (survey links, progress pages): their error pages
# never show the console's navigation, whoever is signed in on that browser.
CUSTOMER_PATH_PREFIXES = ("/survey/", "/t/")


def show_staff_nav(request: HttpRequest) -> bool:
    """Whether an error page shows the console navigation: staff users outside customer pages."""
    if request.path.startswith(CUSTOMER_PATH_PREFIXES):
        return False
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def error_page_context(request: HttpRequest) -> dict:
    """The context of templates/errors/base_error.html for `request` (see that template)."""
    if not show_staff_nav(request):
        return {"staff_nav": False}
    roles = user_roles(request.user)
    return {
        "staff_nav": True,
        "is_agent": AGENT in roles,
        "is_supervisor": SUPERVISOR in roles,
    }


def render_error_page(
    request: HttpRequest, template_name: str, status: int, context: dict | None = None
) -> HttpResponse:
    """An error page in the reader's language (LocaleMiddleware has chosen it).

    If the page itself fails (the database that the user's roles need is down, say), the bare
    500 page is answered instead, with the original status.
    """
    try:
        content = loader.render_to_string(
            template_name, {**error_page_context(request), **(context or {})}, request=request
        )
    except Exception:
        logger.exception("Rendering %s failed; answering the bare error page", template_name)
        return _bare_error_page(status)
    return HttpResponse(content, status=status)


def _bare_error_page(status: int) -> HttpResponse:
    """The 500 template with no request and no context processors; plain text if even that
    fails (a missing static manifest, say)."""
    try:
        content = loader.render_to_string("500.html", {})
    except Exception:
        logger.exception("Rendering 500.html failed; answering plain text")
        return HttpResponse(
            gettext("Something went wrong."), status=status, content_type="text/plain"
        )
    return HttpResponse(content, status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: a malformed request, a disallowed host, a body over the size limits."""
    if is_api_path(request.path):
        return error_response(BAD_REQUEST, CODE_BAD_REQUEST, 400)
    return render_error_page(request, "400.html", 400)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403."""
    if is_api_path(request.path):
        return error_response(
            exceptions.PermissionDenied.default_detail, CODE_PERMISSION_DENIED, 403
        )
    return render_error_page(request, "403.html", 403)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: no route matched (a malformed id included) or a view raised Http404."""
    if is_api_path(request.path):
        return error_response(exceptions.NotFound.default_detail, CODE_NOT_FOUND, 404)
    return render_error_page(request, "404.html", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: touches neither the database nor the session (either may be what failed).

    The page is rendered without the request (no context processors, no user), in the
    language LocaleMiddleware activated for it.
    """
    if is_api_path(request.path):
        return error_response(SERVER_ERROR, CODE_SERVER_ERROR, 500)
    return _bare_error_page(500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form posted without a valid token (an expired page, usually)."""
    if is_api_path(request.path):
        return error_response(CSRF_FAILED, CODE_CSRF_FAILED, 403)
    return render_error_page(request, "403.html", 403, {"csrf_failure": True})


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
        return redirect("supervisor:home")
    if AGENT in roles:
        return redirect("tickets:console")
    if OPERATOR in roles:
        return redirect("admin:index")
    return render(request, "core/no_role.html", status=403)
