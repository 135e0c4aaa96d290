"""Small readers for settings from the environment.

Each raises :class:`ConfigError` naming the variable when its value is malformed, so a bad
deployment stops at start-up with one clear line instead of misbehaving later
(the idea of healthchecks' ``envbool``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class ConfigError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(name, default)


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if name not in environ:
        return default
    value = environ[name].strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(name, f"expected one of true/false/1/0/yes/no/on/off, got {environ[name]!r}")


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    if name not in environ or environ[name].strip() == "":
        return default
    try:
        value = int(environ[name].strip())
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {environ[name]!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    if name not in environ:
        return list(default)
    return [item.strip() for item in environ[name].split(",") if item.strip()]


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    environ = os.environ if environ is None else environ
    value = environ.get(name, default).strip().lower() or default
    if value not in choices:
        raise ConfigError(name, f"expected one of {', '.join(choices)}, got {environ[name]!r}")
    return value


SQLITE_OPTIONS = {
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock
    # at BEGIN so two writers queue on the busy timeout instead of failing mid-transaction.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}


def env_database(
    name: str, default_sqlite_path: str, environ: Mapping[str, str] | None = None
) -> dict:
    """Parse ``DATABASE_URL`` (PostgreSQL or SQLite); default to a SQLite file in WAL mode."""
    import dj_database_url

    environ = os.environ if environ is None else environ
    url = environ.get(name, "").strip()
    if not url:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": default_sqlite_path}
    else:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
            raise ConfigError(
                name,
                f"expected postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH, got {url!r}",
            )
        # Persistent connections: opening one per request costs more than the request.
        conn_max_age = env_int("DATABASE_CONN_MAX_AGE", 60, environ, minimum=0)
        try:
            config = dj_database_url.parse(url, conn_max_age=conn_max_age)
        except Exception as exc:  # dj-database-url raises a mix of ValueError/KeyError
            raise ConfigError(name, f"cannot parse {url!r} ({exc})") from None
        if config.get("ENGINE", "").endswith("postgresql") and not config.get("NAME"):
            raise ConfigError(name, f"names no database in {url!r}")
        if config.get("ENGINE", "").endswith("sqlite3") and not config.get("NAME"):
            raise ConfigError(name, f"names no SQLite file in {url!r}")
    if config["ENGINE"].endswith("sqlite3"):
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    else:
        config["CONN_HEALTH_CHECKS"] = True
        # JIT compilation pays off for long analytical queries, not for the console's short
        # ones: on a 200k-ticket queue it cost 130-390 ms per page (docs/PERFORMANCE.md).
        options = config.setdefault("OPTIONS", {})
        options.setdefault("options", "-c jit=off")
        # A server that hangs instead of refusing (a network partition, a full SYN queue) must
        # not hang every request behind it: give up on connecting after this many seconds
        # (unless the URL sets ?connect_timeout=). docs/RELIABILITY.md.
        options.setdefault(
            "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, environ, minimum=1)
        )
    config["ATOMIC_REQUESTS"] = False
    return config
