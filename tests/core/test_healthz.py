import pytest
from django.db import OperationalError


@pytest.mark.django_db
def test_healthz_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "worker_last_seen_seconds_ago": None,
    }
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_says_when_a_worker_was_last_seen(client):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    from core.tasks import heartbeat

    with time_machine.travel(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC), tick=False):
        heartbeat()
    with time_machine.travel(dt.datetime(2026, 11, 2, 9, 1, 30, tzinfo=dt.UTC), tick=False):
        response = client.get("/healthz")
        assert timezone.now().minute == 1
    assert response.json()["worker_last_seen_seconds_ago"] == 90


def test_healthz_answers_503_when_the_database_does_not(client, monkeypatch):
    from core import views

    class BrokenConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(views, "connection", BrokenConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"


@pytest.mark.django_db
def test_healthz_needs_no_login_and_refuses_writes(client):
    assert client.post("/healthz").status_code == 405
