"""Settings come from the environment; a bad value stops start-up with one line naming it."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigError, env_bool, env_database, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


# Variables of the test run itself that a fresh start-up would not have (the browser tests set
# DJANGO_ALLOW_ASYNC_UNSAFE, which `check --deploy` rightly warns about).
TEST_RUN_VARIABLES = {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in TEST_RUN_VARIABLES}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = clean_environ()
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "DELAYDESK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "delaydesk.example.com",
        "DATABASE_URL": "sqlite:////tmp/delaydesk-deploy-check.sqlite3",
    }
    env.update(overrides)
    return env


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("", False),
    ],
)
def test_env_bool_reads_common_spellings(raw, expected):
    assert env_bool("X", not expected, {"X": raw}) is expected


def test_env_bool_uses_the_default_when_unset():
    assert env_bool("X", True, {}) is True


def test_env_bool_names_the_variable_on_a_bad_value():
    with pytest.raises(ConfigError, match="^DEBUG: expected one of true/false"):
        env_bool("DEBUG", False, {"DEBUG": "maybe"})


def test_env_int_rejects_words_and_values_below_the_minimum():
    assert env_int("PORT", 8000, {"PORT": "9000"}) == 9000
    with pytest.raises(ConfigError, match="^EMAIL_PORT: expected a whole number"):
        env_int("EMAIL_PORT", 25, {"EMAIL_PORT": "twenty-five"})
    with pytest.raises(ConfigError, match="^EMAIL_PORT: must be at least 1"):
        env_int("EMAIL_PORT", 25, {"EMAIL_PORT": "0"}, minimum=1)


def test_env_list_splits_on_commas_and_drops_blanks():
    assert env_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a.example, b.example,,"}) == [
        "a.example",
        "b.example",
    ]


def test_database_defaults_to_sqlite_in_wal_mode():
    config = env_database("DATABASE_URL", "/tmp/x.sqlite3", {})
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/tmp/x.sqlite3"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_database_url_for_postgresql_is_parsed():
    config = env_database(
        "DATABASE_URL", "unused", {"DATABASE_URL": "postgres://dd:pw@db.internal:6543/delaydesk"}
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.internal",
        6543,
        "delaydesk",
        "dd",
    )
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["CONN_MAX_AGE"] == 60  # persistent connections by default


def test_database_connection_lifetime_is_configurable():
    env = {"DATABASE_URL": "postgres://dd@db/delaydesk", "DATABASE_CONN_MAX_AGE": "0"}
    assert env_database("DATABASE_URL", "unused", env)["CONN_MAX_AGE"] == 0
    with pytest.raises(ConfigError, match="^DATABASE_CONN_MAX_AGE: expected a whole number"):
        env_database("DATABASE_URL", "unused", {**env, "DATABASE_CONN_MAX_AGE": "long"})


def test_connecting_to_postgresql_gives_up_after_a_few_seconds():
    """A server that hangs instead of refusing must not hang requests (docs/RELIABILITY.md)."""
    url = {"DATABASE_URL": "postgres://dd@db/delaydesk"}
    assert env_database("DATABASE_URL", "unused", url)["OPTIONS"]["connect_timeout"] == 5
    longer = {**url, "DATABASE_CONNECT_TIMEOUT": "12"}
    assert env_database("DATABASE_URL", "unused", longer)["OPTIONS"]["connect_timeout"] == 12
    in_url = {"DATABASE_URL": "postgres://dd@db/delaydesk?connect_timeout=2"}
    assert int(env_database("DATABASE_URL", "unused", in_url)["OPTIONS"]["connect_timeout"]) == 2


@pytest.mark.parametrize(
    "url",
    [
        "mysql-ish://nope",
        "not a url",
        "postgres://user@host:notaport/db",
        "postgres://user@host:5432",
    ],
)
def test_malformed_database_url_names_the_variable(url):
    with pytest.raises(ConfigError, match="^DATABASE_URL: "):
        env_database("DATABASE_URL", "unused", {"DATABASE_URL": url})


def test_malformed_database_url_stops_start_up_with_one_line():
    result = run_manage("check", DATABASE_URL="mysql-ish://nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "delaydesk: configuration error: DATABASE_URL: expected "
        "postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH, got 'mysql-ish://nope'"
    ]
    assert "Traceback" not in result.stderr


def test_production_without_secret_key_stops_start_up_with_one_line():
    env = production_env()
    env["SECRET_KEY"] = ""
    result = run_manage("check", **env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "delaydesk: configuration error: "
        "SECRET_KEY: must be set to a long random value in production"
    )


def test_production_refuses_the_development_secret_key():
    from config.settings import DEV_SECRET_KEY

    result = run_manage("check", **production_env(SECRET_KEY=DEV_SECRET_KEY))
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_production_without_allowed_hosts_names_the_variable():
    result = run_manage("check", **production_env(ALLOWED_HOSTS=""))
    assert result.returncode == 2
    assert "ALLOWED_HOSTS: must list the host names" in result.stderr


def test_check_deploy_with_production_settings_prints_no_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stderr + result.stdout
    # Only the two HSTS checks the operator has not opted into are silenced (see below).
    assert result.stdout.strip() == "System check identified no issues (2 silenced)."
    assert "WARNING" not in result.stderr


def test_hsts_sends_no_preload_or_subdomains_unless_the_operator_opts_in():
    script = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    )
    default = run_manage("shell", "-c", script, **production_env())
    assert default.stdout.splitlines()[-1].split() == ["31536000", "False", "False"]
    opted_in = run_manage(
        "shell",
        "-c",
        script,
        **production_env(SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true"),
    )
    assert opted_in.stdout.splitlines()[-1].split() == ["31536000", "True", "True"]
    checked = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **production_env(SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true"),
    )
    assert checked.stdout.strip() == "System check identified no issues (0 silenced)."


def test_wsgi_start_up_turns_a_config_error_into_one_line():
    env = clean_environ()
    env.update(production_env(SECRET_KEY=""))
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("delaydesk: configuration error: SECRET_KEY")


def test_bad_broker_url_names_the_variable():
    result = run_manage("check", CELERY_BROKER_URL="kafka://broker:9092")
    assert result.returncode == 2
    assert "CELERY_BROKER_URL: unsupported broker URL" in result.stderr


def test_development_defaults_use_a_serverless_broker(settings):
    assert settings.CELERY_BROKER_URL.startswith("filesystem://") or os.environ.get(
        "CELERY_BROKER_URL"
    )
    assert settings.LANGUAGES == [("en", "English"), ("zh-hans", "Simplified Chinese")]
