"""Turn a configuration error into one line on stderr and exit status 2, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from config.env import ConfigError

EXIT_CONFIG_ERROR = 2


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        sys.stderr.write(f"delaydesk: configuration error: {exc}\n")
        raise SystemExit(EXIT_CONFIG_ERROR) from None
