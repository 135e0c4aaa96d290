from django.urls import path

from shipments import views

app_name = "shipments"

urlpatterns = [
    path("<uuid:public_id>/", views.shipment_detail, name="shipment_detail"),
    # The page's late-delivery panel, loaded by htmx after the page.
    path("<uuid:public_id>/risk/", views.shipment_risk, name="shipment_risk"),
]
