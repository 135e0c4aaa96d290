from django.contrib.admin.apps import AdminConfig


class DelaydeskAdminConfig(AdminConfig):
    """django.contrib.admin with Delaydesk's site as `admin.site`: operators and superusers only.

    (Its own module: an AppConfig in core/apps.py would make `core` ambiguous to load.)
    """

    default_site = "core.admin_site.DelaydeskAdminSite"
