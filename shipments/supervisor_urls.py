from django.urls import path

from shipments import views

app_name = "incidents"

urlpatterns = [
    path("new/", views.incident_new, name="new"),
    path("<uuid:public_id>/resolve/", views.incident_resolve_view, name="resolve"),
]
