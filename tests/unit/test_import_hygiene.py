"""The headless core stays headless, and only the store opens SQLite.

Importing the domain packages in a fresh interpreter must not pull in Textual or Rich (the CLI,
the engine and the tests use them without a terminal UI). And no module outside ``store`` may
import sqlite3 or sqlite_utils at all: the database type and SQLite's errors come through
``store.db`` (``Database``, ``SQLError``).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADLESS = [
    name
    for name in (
        "store",
        "jurisdiction",
        "contacts",
        "incidents",
        "mobilization",
        "drills",
        "uplink",
        "reports",
    )
    if importlib.util.find_spec(name) is not None
]
DOMAIN = [name for name in HEADLESS if name != "store"]
UI_LIBRARIES = ("textual", "rich")
# Every first-party package but the store, and the tests that the rule does not cover.
CHECKED_PACKAGES = sorted(
    p.name
    for p in ROOT.iterdir()
    if (p / "__init__.py").exists() and p.name not in ("store", "tests")
)


def submodules(package: str) -> list[str]:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    found = [package]
    for info in pkgutil.walk_packages(spec.submodule_search_locations, prefix=f"{package}."):
        found.append(info.name)
    return found


def test_the_core_packages_are_found() -> None:
    assert {"store", "incidents"} <= set(HEADLESS)
    assert "console" in CHECKED_PACKAGES
    assert "incidents" in CHECKED_PACKAGES


@pytest.mark.parametrize("package", HEADLESS)
def test_importing_the_core_does_not_load_the_ui(package: str) -> None:
    modules = submodules(package)
    assert len(modules) > 1
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {UI_LIBRARIES!r})\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_subprocess_check_can_see_a_ui_import() -> None:
    script = "import sys, rich.text; print(sorted(m for m in sys.modules if m == 'rich'))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['rich']"


SQLITE_MODULES = ("sqlite3", "sqlite_utils")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every absolute import in ``source``, nested ones included, as ``(line, module)``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def imports_sqlite(source: str) -> list[str]:
    """Imports of sqlite3 or sqlite_utils in ``source``, as ``line: module`` strings."""
    return [
        f"{line}: {name}"
        for line, name in imported_modules(source)
        if name.split(".")[0] in SQLITE_MODULES
    ]


@pytest.mark.parametrize(
    "source",
    [
        "import sqlite3\ndb = sqlite3.connect('x.db')\n",
        "import sqlite3 as s\n",
        "from sqlite3 import connect\n",
        "from sqlite_utils import Database\n",
        "import sqlite_utils.db\n",
        "def f():\n    from sqlite_utils import Database\n",
    ],
)
def test_the_checker_finds_a_sqlite_import(source: str) -> None:
    assert len(imports_sqlite(source)) == 1


def test_the_checker_allows_the_store_facade() -> None:
    source = "from store.db import Database, SQLError, connect\nimport store.db\n"
    assert imports_sqlite(source) == []


@pytest.mark.parametrize("package", CHECKED_PACKAGES)
def test_only_the_store_imports_sqlite(package: str) -> None:
    """DESIGN.md: only ``store`` imports sqlite_utils/sqlite3; others use ``store.db``."""
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offenders = [
        f"{path.relative_to(ROOT)}:{hit}"
        for path in files
        for hit in imports_sqlite(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_do_not_import_the_shell_or_the_ui(package: str) -> None:
    forbidden = ("console", *UI_LIBRARIES)
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in imported_modules(path.read_text(encoding="utf-8"))
        if name.split(".")[0] in forbidden
    ]
    assert offenders == []
