"""One-way layers (docs/ARCHITECTURE.md): the contracts in pyproject.toml hold, they catch an
upward import (at module level or inside a function), and no function-local import of a
project module hides a cycle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONFIG = PYPROJECT["tool"]["importlinter"]
APPS = CONFIG["root_packages"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The apps and pyproject.toml, copied: a place to add a forbidden import."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_stack_is_the_documented_one():
    layers = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
    assert layers == [
        "config",
        "demo",
        "supervisor | portal",
        "notifications",
        "compensation",
        "tickets",
        "shipments",
        "customers",
        "core",
    ]
    documented = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for app in APPS:
        assert f"`{app}`" in documented, f"docs/ARCHITECTURE.md does not describe {app}"


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # At module level: tickets reaching up into notifications.
        (
            "tickets/selectors.py",
            "import notifications.models\n",
            "tickets is not allowed to import notifications",
        ),
        # Inside a function, the old way of dodging the check: caught all the same.
        (
            "shipments/selectors.py",
            "\n\ndef _peek():\n    from tickets.models import Ticket\n\n    return Ticket\n",
            "shipments is not allowed to import tickets",
        ),
        # The ground floor importing the house.
        ("core/models.py", "import demo.apps\n", "core is not allowed to import demo"),
        # Side by side: the supervisor workspace may not lean on the customer page's app,
        # nor the customer page on the supervisor's.
        (
            "supervisor/views.py",
            "import portal.views\n",
            "supervisor is not allowed to import portal",
        ),
        (
            "portal/views.py",
            "import supervisor.views\n",
            "portal is not allowed to import supervisor",
        ),
        # The customer page sits above notifications: notifications may not reach up to it.
        (
            "notifications/dispatch.py",
            "import portal.links\n",
            "notifications is not allowed to import portal",
        ),
    ],
)
def test_an_upward_import_breaks_the_contract(tree_copy, module, line, broken):
    with (tree_copy / module).open("a") as source:
        source.write(line)
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert broken in result.stdout


def _function_local_imports(path: Path):
    """(line, module) of each import inside a function that names a project app."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                names = [inner.module]
            elif isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in APPS:
                    yield inner.lineno, name


def _explained(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith(("from ", "import ")):
        index -= 1
    return index >= 0 and lines[index].strip().startswith("#")


def test_a_function_local_import_of_a_project_module_says_why():
    """Not to dodge a cycle (lint-imports sees through it anyway): a comment on the import's
    line or the line above gives the other reason (the app registry in ready(), start-up cost)."""
    unexplained = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            lines = path.read_text().splitlines()
            for lineno, module in _function_local_imports(path):
                if not _explained(lines, lineno):
                    unexplained.append(f"{path.relative_to(ROOT)}:{lineno} {module}")
    assert not unexplained, "function-local imports without a reason:\n" + "\n".join(unexplained)
