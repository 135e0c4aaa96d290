from django.urls import path

from tickets import views

app_name = "tickets"

urlpatterns = [
    path("", views.console, name="console"),
    path("tickets/<uuid:public_id>/", views.ticket_detail, name="ticket_detail"),
]
