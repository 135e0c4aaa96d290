from django.urls import path

from shipments import views

app_name = "shipments"

urlpatterns = [
    path("<uuid:public_id>/", views.shipment_detail, name="shipment_detail"),
]
