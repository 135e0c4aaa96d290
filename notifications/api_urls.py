"""API routes of the notifications app, mounted at /api/v1/ by config/urls.py."""

from django.urls import path

from notifications.api import SMSReceiptView

app_name = "notifications_api"

urlpatterns = [
    path("notifications/receipts/sms/", SMSReceiptView.as_view(), name="sms-receipts"),
]
