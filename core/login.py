"""The staff login: django-axes lockout page and the per-address rate limit of login posts.

Two independent brakes on a password guesser:

1. django-axes (config/settings.py AXES_*) counts failed logins per username and per client
   address in the database; at AXES_FAILURE_LIMIT it refuses even the right password for
   AXES_COOLOFF_MINUTES and answers with `lockout_response` (429, Retry-After, the page
   templates/registration/locked_out.html). Operators lift it earlier in the admin ("Axes" >
   "Access attempts", delete the row) or with `manage.py axes_reset_username NAME`.
2. core.ratelimit limits login posts per address (RATELIMIT_LOGIN), failed or not, so one
   address cannot spray many usernames just under each one's lockout.

API tokens never pass through authenticate(), so neither brake applies to them.
"""

from __future__ import annotations

import datetime as dt
import math

from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.decorators import method_decorator

from core.ratelimit import rate_limited


def _cooloff() -> dt.timedelta:
    # Always set (AXES_COOLOFF_MINUTES >= 1 in config/settings.py): every lock expires.
    return get_cool_off()


def lockout_context(request: HttpRequest | None, credentials: dict | None = None) -> dict:
    cooloff = _cooloff()
    return {
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": max(1, math.ceil(cooloff.total_seconds() / 60)),
        "retry_at": timezone.localtime(timezone.now() + cooloff),
    }


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the lockout page with 429 and Retry-After.

    Every attempt while locked is recorded as one more failure and restarts the cool-off
    (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT, axes' default), so the wait is always the
    whole cool-off counted from now."""
    response = render(
        request, settings.AXES_LOCKOUT_TEMPLATE, lockout_context(request, credentials), status=429
    )
    response["Retry-After"] = str(int(_cooloff().total_seconds()))
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(rate_limited("login", "RATELIMIT_LOGIN", method="POST"), name="dispatch")
class LoginView(auth_views.LoginView):
    """Django's login view, rate limited per address, telling the lockout policy after a
    failed attempt."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["failure_limit"] = settings.AXES_FAILURE_LIMIT
        context["cooloff_minutes"] = lockout_context(self.request)["cooloff_minutes"]
        return context


login = LoginView.as_view()


@rate_limited("login", "RATELIMIT_LOGIN", method="POST")
def admin_login(request: HttpRequest, extra_context=None) -> HttpResponse:
    """The admin's login form, under the same per-address limit as ours."""
    return admin.site.login(request, extra_context)
