"""The packages import each other only downwards, as docs/DESIGN's layers say.

Every import of every first-party module is read with ``ast`` — at module level and inside
functions (the CLI imports its groups lazily), ``import x`` and ``from x import y`` alike, and
``importlib.import_module("x")`` with a literal name — and checked against :data:`MAY_IMPORT`.
Packages planned but not built yet (``drills``, ``uplink``) are declared where they will sit; a
missing package is simply not scanned. The tests and the benchmarks (which share the tests'
terminal driver) may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The allowed graph, one row a package: what it may import besides itself and third-party code.
# Read from the ground up: store < jurisdiction < contacts < mobilization < drills;
# jurisdiction < incidents; uplink and reports above the domains they read; console on top.
STORE = frozenset({"store"})
JURISDICTION = STORE | {"jurisdiction"}
CONTACTS = JURISDICTION | {"contacts"}
INCIDENTS = JURISDICTION | {"incidents"}
MOBILIZATION = CONTACTS | {"mobilization"}
DRILLS = MOBILIZATION | {"drills"}
UPLINK = MOBILIZATION | INCIDENTS | {"uplink"}  # beside drills: outbox, protocol, CAP, 叫应
REPORTS = DRILLS | UPLINK | INCIDENTS | {"reports"}  # read-only documents over the domains
CONSOLE = REPORTS | {"console"}  # the shell and composition root

MAY_IMPORT: dict[str, frozenset[str]] = {
    "store": STORE,
    "jurisdiction": JURISDICTION,
    "contacts": CONTACTS,
    "incidents": INCIDENTS,
    "mobilization": MOBILIZATION,
    "drills": DRILLS,
    "uplink": UPLINK,
    "reports": REPORTS,
    "console": CONSOLE,
}
FIRST_PARTY = frozenset(MAY_IMPORT)

# Imports that break the order on purpose, (importer package, imported package) -> why.
# Empty today: keep it that way, or write the reason beside each entry.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in ``source``, wherever it is written."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(package: str, where: str, source: str) -> list[str]:
    """The imports in ``source`` (a module of ``package``) that the graph does not allow."""
    allowed = MAY_IMPORT[package]
    out = []
    for line, module in imported_modules(source):
        target = module.split(".")[0]
        if target in FIRST_PARTY and target not in allowed and (package, target) not in EXCEPTIONS:
            out.append(f"{where}:{line}: {package} imports {module}")
    return out


def modules_of(package: str) -> list[Path]:
    folder = ROOT / package
    return sorted(folder.rglob("*.py")) if (folder / "__init__.py").exists() else []


def test_the_graph_names_every_package_in_the_tree() -> None:
    present = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests"}
    assert present <= FIRST_PARTY, f"add {present - FIRST_PARTY} to MAY_IMPORT"
    assert {"store", "jurisdiction", "contacts", "incidents", "console"} <= present


def test_the_graph_is_layered() -> None:
    """What a package may import, it includes everything below; nothing imports console."""
    for package, allowed in MAY_IMPORT.items():
        assert package in allowed
        for below in allowed - {package}:
            assert MAY_IMPORT[below] <= allowed, (package, below)
            assert package not in MAY_IMPORT[below], f"{below} and {package} form a cycle"
    assert [p for p, allowed in MAY_IMPORT.items() if "console" in allowed] == ["console"]
    assert "incidents" not in MAY_IMPORT["mobilization"]
    assert "contacts" not in MAY_IMPORT["incidents"]


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_packages_below_it(package: str) -> None:
    found = []
    for path in modules_of(package):
        found += violations(package, str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
    assert found == []


def test_the_checker_catches_an_import_upwards() -> None:
    source = """
import store.db
from jurisdiction.units import get_unit
from incidents.models import Stage


def later():
    from mobilization import start_mobilization
    import console.cli.common
    return importlib.import_module("reports.overview")
"""
    assert violations("contacts", "fake.py", source) == [
        "fake.py:4: contacts imports incidents.models",
        "fake.py:8: contacts imports mobilization",
        "fake.py:9: contacts imports console.cli.common",
        "fake.py:10: contacts imports reports.overview",
    ]
    assert violations("console", "fake.py", source) == []
    assert violations("store", "fake.py", "import sqlite3\nfrom store import db\n") == []
