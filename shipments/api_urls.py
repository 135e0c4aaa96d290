"""API routes of the shipments app, mounted at /api/v1/ by config/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from shipments.api import ShipmentViewSet, TrackingEventWebhookView

app_name = "shipments_api"

# SimpleRouter, not DefaultRouter: other apps mount their APIs at /api/v1/ too, and one
# app's root view would shadow theirs.
router = SimpleRouter()
router.register("shipments", ShipmentViewSet, basename="shipment")

urlpatterns = [
    path("tracking-events/", TrackingEventWebhookView.as_view(), name="tracking-events"),
    *router.urls,
]
