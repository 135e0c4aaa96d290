"""API routes of the compensation app, mounted at /api/v1/ by config/urls.py."""

from rest_framework.routers import SimpleRouter

from compensation.api import CompensationOfferViewSet

app_name = "compensation_api"

# SimpleRouter, not DefaultRouter: other apps mount their APIs at /api/v1/ too (tickets.api_urls).
router = SimpleRouter()
router.register("compensations", CompensationOfferViewSet, basename="compensation")

urlpatterns = router.urls
