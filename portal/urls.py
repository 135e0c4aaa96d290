"""The customer's progress page (public) and its panel on the ticket page (agents).

Included at the site root (config/urls.py), so each path is written in full.
"""

from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("t/", views.lookup, name="lookup"),
    path("t/language/", views.language, name="language"),
    path("t/case/<uuid:public_id>/", views.case, name="case"),
    path("t/case/<uuid:public_id>/reply/", views.reply, name="reply"),
    path("t/case/<uuid:public_id>/remedy/", views.choose_remedy, name="remedy"),
    path("t/case/<uuid:public_id>/preferences/", views.preferences, name="preferences"),
    path("t/case/<uuid:public_id>/survey/", views.survey, name="survey"),
    # A link from a notice: the token, exchanged for a page session, then a redirect.
    path("t/<str:token>/", views.exchange, name="exchange"),
    # Survey links sent before the survey moved onto the progress page.
    path("survey/<str:token>/", views.legacy_survey, name="legacy_survey"),
    # Agents: the ticket page's "progress page" panel and revoking the customer's links.
    path(
        "console/tickets/<uuid:public_id>/progress-link/",
        views.link_panel,
        name="link_panel",
    ),
    path(
        "console/tickets/<uuid:public_id>/progress-link/revoke/",
        views.link_revoke,
        name="link_revoke",
    ),
]
