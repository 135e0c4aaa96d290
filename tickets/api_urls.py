"""API routes of the tickets app, mounted at /api/v1/ by config/urls.py."""

from rest_framework.routers import SimpleRouter

from tickets.api import TicketViewSet

app_name = "tickets_api"

# SimpleRouter, not DefaultRouter: other apps mount their APIs at /api/v1/ too, and one
# app's root view would shadow theirs.
router = SimpleRouter()
router.register("tickets", TicketViewSet, basename="ticket")

urlpatterns = router.urls
