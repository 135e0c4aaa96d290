"""CSRF on the customer's pages, which send `Referrer-Policy: no-referrer`.

The pages send no Referer anywhere (a link's token must never leave in one). With that policy a
browser's plain form POST (no JavaScript) carries `Origin: null`, which Django's CSRF check
refuses; over HTTPS it would also demand the Referer the policy withholds. The portal's forms
are checked as every form is, the form's token against the cookie's, and a `null` origin is
accepted only when the browser itself says the request comes from our own pages
(`Sec-Fetch-Site: same-origin`, a header no page can set or forge). An htmx request sends its
real origin and is checked exactly as everywhere else.
"""

from __future__ import annotations

from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.csrf import csrf_exempt


class PortalCsrfMiddleware(CsrfViewMiddleware):
    def _origin_verified(self, request) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null":
            return request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"
        return super()._origin_verified(request)


_portal_csrf = decorator_from_middleware(PortalCsrfMiddleware)


def csrf_protect_portal(view):
    """The portal's CSRF check in place of the site-wide one (which skips the view)."""
    return csrf_exempt(_portal_csrf(view))
