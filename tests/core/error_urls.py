"""The site's URLs plus views that fail on purpose, for the error page and API error tests."""

from django.core.exceptions import BadRequest, PermissionDenied
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config import urls as site_urls


def _boom(request):
    raise RuntimeError("boom")


def _bad(request):
    raise BadRequest("malformed")


def _denied(request):
    raise PermissionDenied


class _BoomAPI(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("boom")


urlpatterns = [
    path("console/boom/", _boom),
    path("survey/boom/", _boom),
    path("console/bad/", _bad),
    path("console/denied/", _denied),
    path("survey/denied/", _denied),
    path("api/v1/boom/", _BoomAPI.as_view()),
    path("api/v1/django-boom/", _boom),
    path("api/v1/bad/", _bad),
    path("api/v1/denied/", _denied),
    *site_urls.urlpatterns,
]

handler400 = site_urls.handler400
handler403 = site_urls.handler403
handler404 = site_urls.handler404
handler500 = site_urls.handler500
