"""Supervisors open an incident by filter and resolve it from the supervisor page."""

import pytest
from django.utils import timezone

from shipments.incidents import NO_MATCHING_SHIPMENTS
from shipments.models import Incident
from tests import factories

pytestmark = pytest.mark.django_db

NEW = "/supervisor/incidents/new/"


def delayed(carrier, hub="Paris CDG customs", cause="customs_hold", level="orange"):
    return factories.ShipmentFactory(
        carrier=carrier,
        delay_level=level,
        delay_cause=cause,
        delay_detected_at=timezone.now(),
        last_location=hub,
    )


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(NEW)["Location"].startswith("/accounts/login/")


def test_agents_cannot_open_incidents(agent_client):
    assert agent_client.get(NEW).status_code == 403
    assert agent_client.post(NEW, {"title": "x", "cause": "weather"}).status_code == 403


def test_the_form_renders_for_a_supervisor(supervisor_client):
    html = supervisor_client.get(NEW).content.decode()
    assert 'name="hub"' in html and 'name="delay_levels"' in html


def test_a_supervisor_opens_an_incident_for_the_matching_shipments(supervisor_client, supervisor):
    carrier = factories.CarrierFactory(code="dhl")
    matching = [delayed(carrier) for _ in range(3)]
    elsewhere = delayed(carrier, hub="Leipzig hub")
    other_cause = delayed(carrier, cause="weather")

    response = supervisor_client.post(
        NEW,
        {
            "title": "French customs strike",
            "cause": "customs_hold",
            "carrier": carrier.pk,
            "hub": "Paris CDG customs",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/supervisor/"
    incident = Incident.objects.get(title="French customs strike")
    assert incident.affected_count == 3
    assert incident.opened_by == supervisor
    assert set(incident.shipments.all()) == set(matching)
    for shipment in (elsewhere, other_cause):
        shipment.refresh_from_db()
        assert shipment.incident is None
    page = supervisor_client.get("/supervisor/").content.decode()
    assert "opened with 3 shipments" in page
    assert "French customs strike" in page


def test_bad_input_gets_field_errors_and_creates_nothing(supervisor_client):
    response = supervisor_client.post(NEW, {"title": "", "cause": "none"})
    assert response.status_code == 200
    form = response.context["form"]
    assert "title" in form.errors and "cause" in form.errors
    assert not Incident.objects.exists()


def test_a_lane_of_another_carrier_is_refused_on_the_field(supervisor_client):
    lane = factories.LaneFactory()
    other = factories.CarrierFactory()
    response = supervisor_client.post(
        NEW, {"title": "Mixed up", "cause": "weather", "carrier": other.pk, "lane": lane.pk}
    )
    assert response.status_code == 200
    assert "lane" in response.context["form"].errors
    assert not Incident.objects.exists()


def test_a_filter_that_matches_no_shipment_is_refused_with_a_message(supervisor_client):
    carrier = factories.CarrierFactory(code="dhl")
    delayed(carrier, hub="Leipzig hub")  # the filter's hub has nothing

    post = {"title": "Strike", "cause": "customs_hold", "carrier": carrier.pk, "hub": "Paris"}
    response = supervisor_client.post(NEW, post, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [str(NO_MATCHING_SHIPMENTS)]
    assert "No delayed shipment outside an incident matches this filter" in (
        response.content.decode()
    )
    chinese = supervisor_client.post(NEW, post, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "没有未归入事件且符合此筛选条件的延误包裹" in chinese.content.decode()
    assert not Incident.objects.exists()


def test_a_supervisor_resolves_an_incident(supervisor_client, supervisor):
    incident = factories.IncidentFactory()
    url = f"/supervisor/incidents/{incident.public_id}/resolve/"
    assert supervisor_client.get(url).status_code == 405
    response = supervisor_client.post(url)
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at is not None
    # A double click is harmless.
    assert supervisor_client.post(url).status_code == 302


def test_agents_cannot_resolve_incidents(agent_client):
    incident = factories.IncidentFactory()
    response = agent_client.post(f"/supervisor/incidents/{incident.public_id}/resolve/")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "open"


def test_resolving_an_unknown_incident_is_404(supervisor_client):
    url = "/supervisor/incidents/00000000-0000-4000-8000-000000000000/resolve/"
    assert supervisor_client.post(url).status_code == 404
