"""Personas and shared fixtures. Tests read as sentences about these people."""

import pytest
from django.db import connection
from django.utils import timezone, translation

from tests import factories


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Real hashers cost ~100 ms a user; tests only need passwords that check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language_and_time_zone():
    """Each test starts in the default language and time zone. A request through the test
    client runs in this thread, and LocaleMiddleware / UserTimezoneMiddleware activate the
    reader's language and zone for it without undoing that afterwards: a later test's service
    code would then write in Chinese (seen in CI: notices' failure reasons in test_dispatch)."""
    yield
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture(autouse=True)
def _empty_page_cache():
    """Customers' case pages kept in each process (portal.page_cache) start empty."""
    from django.core.cache import caches

    caches["portal_pages"].clear()


@pytest.fixture(autouse=True)
def _empty_cache(request, django_db_blocker):
    """Rate-limit counters and lockouts live in the shared (database) cache: no test leaves any
    behind. A `db` test's rows go with its rollback; a transactional test's outlive its flush."""
    yield
    if "django_db_setup" not in request.fixturenames:
        return  # the test never touched the test database
    from django.core.cache import cache

    with django_db_blocker.unblock():
        cache.clear()


@pytest.fixture
def no_rate_limits(settings):
    """For tests that count a view's own queries: the rate limits' counters (database cache
    queries on the embedded default) are left out. Their own tests: tests/core/test_throttling.py.
    """
    settings.RATELIMIT_ENABLE = False


@pytest.fixture
def agent(db):
    user = factories.AgentFactory(username="alice", first_name="Alice")
    factories.AgentProfileFactory(user=user)
    return user


@pytest.fixture
def other_agent(db):
    user = factories.AgentFactory(username="bob", first_name="Bob")
    factories.AgentProfileFactory(user=user)
    return user


@pytest.fixture
def supervisor(db):
    user = factories.SupervisorFactory(username="sam", first_name="Sam")
    return user


@pytest.fixture
def operator(db):
    return factories.OperatorFactory(username="olga", first_name="Olga")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def customer(db):
    return factories.CustomerFactory(name="Carla Customer")


@pytest.fixture
def other_customer(db):
    return factories.CustomerFactory(name="Otto Other")


@pytest.fixture
def agent_client(client, agent):
    # force_login, never client.login(): django-axes (first authentication backend) refuses an
    # authenticate() call without the request, which client.login() does not pass.
    client.force_login(agent)
    return client


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


@pytest.fixture
def default_configuration(db):
    """The configuration rows that data migrations install (delay rules, priority matrix, SLA
    and compensation policies), put back for transactional tests: an earlier transactional
    test's flush empties every table, migration data included."""
    import importlib

    from django.apps import apps

    for module in (
        "shipments.migrations.0002_default_delay_rules",
        "tickets.migrations.0002_default_priority_and_sla",
        "compensation.migrations.0002_default_policies",
        "compensation.migrations.0004_default_matrix",
        "notifications.migrations.0003_default_templates",
    ):
        importlib.import_module(module).install(apps, None)


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    """Skip tests marked `postgres` when the suite runs on SQLite."""
    import os

    if os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql")):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
