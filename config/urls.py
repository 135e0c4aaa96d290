from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core import login as core_login
from core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    # Rate limited per address; django-axes locks out repeated failures (core/login.py).
    path("accounts/login/", core_login.login, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("console/shipments/", include("shipments.urls")),
    path("console/", include("tickets.urls")),
    path("console/", include("compensation.console_urls")),
    path("", include("notifications.urls")),
    path("", include("portal.urls")),
    path("supervisor/incidents/", include("shipments.supervisor_urls")),
    path("supervisor/", include("supervisor.urls")),
    # The admin's login form under the same per-address limit (before the admin's own route).
    path("admin/login/", core_login.admin_login),
    path("admin/", admin.site.urls),
    path("api/v1/", include("shipments.api_urls")),
    path("api/v1/", include("tickets.api_urls")),
    path("api/v1/", include("notifications.api_urls")),
    path("api/v1/", include("compensation.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start script from its own URL (?script), not inline:
    # the Content-Security-Policy allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
]

admin.site.site_header = "Delaydesk"
admin.site.site_title = "Delaydesk admin"

# Branded error pages in the reader's language; JSON in the API's error shape under /api/.
handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
