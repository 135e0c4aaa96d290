"""The admin site Delaydesk installs as the default one (core.admin_apps.DelaydeskAdminConfig).

Agents and supervisors are staff users, yet the admin is not theirs: it reads and changes every
team's data without the console's team scope. Django checks `AdminSite.has_permission` before
every admin page, its own ModelAdmins and third-party ones alike (celery beat, axes, tokens), so
this one check keeps them all out; the login form says why instead of logging them in.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.inputs import bounded_admin_search
from core.roles import may_use_admin

NOT_AN_OPERATOR = _(
    "This account does not use the admin. Agents and supervisors work in the console and on "
    "the supervisor pages."
)


class OperatorAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not may_use_admin(user):
            raise ValidationError(NOT_AN_OPERATOR, code="not_an_operator")


class DelaydeskAdminSite(admin.AdminSite):
    site_header = "Delaydesk"
    site_title = "Delaydesk admin"
    login_form = OperatorAuthenticationForm

    def has_permission(self, request) -> bool:
        return may_use_admin(request.user)

    def admin_view(self, view, cacheable=False):
        # Every admin page's search text bounded, third-party ModelAdmins' too (core.inputs).
        return super().admin_view(bounded_admin_search(view), cacheable)
