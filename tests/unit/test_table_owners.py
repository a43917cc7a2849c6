"""Each package's SQL names only the tables it owns, or says why in :data:`EXCEPTIONS`.

Every table of ``store/schema.py`` has one owner in :data:`OWNERS`. The scanner reads each
first-party module's string literals (docstrings left out) for table names after ``FROM``,
``JOIN``, ``INTO``, ``UPDATE``, ``DELETE FROM``, ``TABLE`` and ``INDEXED BY``, and sqlite-utils'
``db["name"]`` / ``db.table("name")``. A name another package owns is a failure unless
:data:`SHARED` opens the table to everyone or :data:`EXCEPTIONS` lists the pair with a reason.
Exceptions are per package (not per module), so a package may move its code between modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("store", "jurisdiction", "contacts", "incidents", "mobilization", "drills", "uplink")
PACKAGES += ("reports", "console")

READ, WRITE = "read", "write"

# table -> the package that owns it (creates it in store.schema, writes it, answers for it).
OWNERS: dict[str, str] = {
    # store: the kernel's own tables
    "meta": "store",
    "counters": "store",
    "engine_lease": "store",
    "audit_head": "store",
    "audit_checkpoints": "store",  # signed checkpoints of the audit chain (store.audit)
    "events": "store",  # the hash-chained timeline and audit log (store.audit)
    # jurisdiction
    "units": "jurisdiction",
    "unit_addresses": "jurisdiction",
    # contacts
    "people": "contacts",
    "person_roles": "contacts",
    "channels": "contacts",
    "teams": "contacts",
    "team_members": "contacts",
    "posts": "contacts",
    "rotations": "contacts",
    "roster_overrides": "contacts",
    # incidents
    "incidents": "incidents",
    "tasks": "incidents",
    "extensions": "incidents",
    "handovers": "incidents",
    "incident_fts": "incidents",
    # mobilization
    "tree_nodes": "mobilization",
    "mobilizations": "mobilization",
    "mob_nodes": "mobilization",
    "recipients": "mobilization",
    "mob_links": "mobilization",
    "attempts": "mobilization",
    "person_sends": "mobilization",
    # uplink: the outbox of a unit, and the hub's side
    "uplink_cursor": "uplink",
    "uplink_outbox": "uplink",
    "uplink_subjects": "uplink",
    "uplink_mobilizations": "uplink",
    "uplink_status": "uplink",
    "hub_units": "uplink",
    "hub_events": "uplink",
    "hub_subjects": "uplink",
    "hub_cases": "uplink",
    "hub_mobilizations": "uplink",
    "hub_rollups": "uplink",
    "hub_batches": "uplink",
    # uplink: information reports (初报、续报、终报), their obligations, and the hub's copies
    "sitrep_cases": "uplink",
    "sitreps": "uplink",
    "sitrep_obligations": "uplink",
    "sitrep_cursor": "uplink",
    "hub_reports": "uplink",
    # uplink: warnings (CAP alerts), directives and 叫应 at a unit; the hub's inboxes and receipts
    "alerts": "uplink",
    "directives": "uplink",
    "downlink_cursor": "uplink",
    "call_answers": "uplink",
    "hub_down": "uplink",
    "hub_directives": "uplink",
    "hub_alert_units": "uplink",
    "hub_directive_units": "uplink",
    # uplink: a dispatch delivered to the field (签收, progress, photos, 反馈), uplink.field
    "field_dispatches": "uplink",
    "field_people": "uplink",
    "field_updates": "uplink",
    "field_cursor": "uplink",
    # drills: plans, schedules and their claims, runs, evaluation, improvements, notices
    "drill_plans": "drills",
    "drill_objectives": "drills",
    "drill_schedules": "drills",
    "drill_claims": "drills",
    "drill_runs": "drills",
    "drill_injects": "drills",
    "drill_notes": "drills",
    "drill_ratings": "drills",
    "drill_improvements": "drills",
    "drill_notices": "drills",
}

# Tables of the store every package may use as the mode says.
SHARED: dict[str, tuple[frozenset[str], str]] = {
    "events": (
        frozenset({READ}),
        "the one timeline: every package reads its entries; it writes them only through"
        " store.audit.append_event, which keeps the hash chain",
    ),
    "meta": (
        frozenset({READ, WRITE}),
        "a key/value table; each package keeps its own keys (mobilization: the ack secret)",
    ),
    "counters": (
        frozenset({READ, WRITE}),
        "named sequences; each package keeps its own names (incidents: incident-YEAR numbers)",
    ),
}

# The migrations create and alter every table: the one module allowed to name them all.
SCHEMA = "store/schema.py"

# (package, table) -> (what it does there, why). Matched by package, not module.
EXCEPTIONS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("store", "attempts"): (
        frozenset({READ}),
        "store.db.change_marker, the consoles' cheap 'did anything change' probe, counts"
        " pending attempts on their indexes (sends change no audit entry)",
    ),
    ("contacts", "units"): (
        frozenset({READ}),
        "people and teams belong to units: contacts joins units for a unit's code and checks"
        " that a unit exists (it changes units only through jurisdiction.units)",
    ),
    ("incidents", "units"): (
        frozenset({READ}),
        "a case is filed in a grid: incidents looks the current grid up by its code",
    ),
    ("incidents", "events"): (
        frozenset({WRITE}),
        "the bulk loader (incidents.bulk) writes a million cases' timeline rows and hashes them"
        " in batches; append_event row by row is far too slow there",
    ),
    ("incidents", "audit_head"): (
        frozenset({WRITE}),
        "the bulk loader moves the audit chain's head past the rows it hashed itself",
    ),
    ("jurisdiction", "incidents"): (
        frozenset({READ, WRITE}),
        "a grid split/merge moves the open cases of the old grids to the new ones, a new grid"
        " adopts the cases filed under its code, and a grid's detail counts its open cases;"
        " jurisdiction sits below incidents and cannot call it",
    ),
    ("jurisdiction", "people"): (
        frozenset({READ, WRITE}),
        "a grid split/merge moves the people of the old grids to the new ones",
    ),
    ("mobilization", "incidents"): (
        frozenset({READ}),
        "a mobilization may be for a case: it checks the case and shows its number",
    ),
    ("mobilization", "people"): (
        frozenset({READ}),
        "recipients are people: routing reads their names, keys and phones",
    ),
    ("mobilization", "channels"): (
        frozenset({READ}),
        "delivery routes each message through the person's channels, in their order",
    ),
    ("mobilization", "teams"): (
        frozenset({READ}),
        "a target names a team: the cascade finds the team to start from",
    ),
    ("mobilization", "units"): (
        frozenset({READ}),
        "a target names a grid: the cascade finds the unit to start from",
    ),
    # drills.evaluation: mobilization.progress has no read of each recipient's answer times with
    # the level and grid of their node, which per-level answer rates "within N minutes" and the
    # per-grid reach need; one join (as progress.summary makes) keeps 30,000 people to a second.
    ("drills", "recipients"): (
        frozenset({READ}),
        "a drill's evaluation reads each recipient's state and answer times once, in one join",
    ),
    ("drills", "mob_links"): (
        frozenset({READ}),
        "a drill's evaluation finds the node (level, grid) each recipient was called at",
    ),
    ("drills", "mob_nodes"): (
        frozenset({READ}),
        "a drill's evaluation counts answers per level and per grid of the nodes called",
    ),
    # uplink.downlink (a hub) finds the units of its jurisdiction inside an alert's area: it
    # walks the tree up from a registered unit's code and reads the boundaries of a unit or its
    # descendants (recursive reads jurisdiction.units does not offer).
    ("uplink", "units"): (
        frozenset({READ}),
        "the hub's downlink matches an alert's area codes and polygons against its own units",
    ),
    ("uplink", "mobilizations"): (
        frozenset({READ}),
        "uplink.callanswer joins a 叫应's mobilization state to find the call still running for"
        " an alert's thread (one read instead of a get_mobilization per call)",
    ),
    ("reports", "incidents"): (frozenset({READ}), "reports reads across domains by design"),
    ("reports", "mobilizations"): (frozenset({READ}), "reports reads across domains by design"),
    ("reports", "recipients"): (frozenset({READ}), "reports reads across domains by design"),
}

SQL_TABLE = re.compile(
    r"\b(DELETE\s+FROM|(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO|UPDATE|FROM|JOIN|TABLE"
    r"|INDEXED\s+BY)\s+(\w+)"
)
WRITES = ("DELETE", "INSERT", "REPLACE", "UPDATE")


def schema_tables() -> set[str]:
    text = (ROOT / "store" / "schema.py").read_text(encoding="utf-8")
    return set(re.findall(r"CREATE\s+(?:VIRTUAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", text))


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _is_db(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "db") or (
        isinstance(node, ast.Attribute) and node.attr == "db"
    )


def tables_named(source: str, tables: set[str]) -> list[tuple[int, str, str]]:
    """(line, table, read|write) for every known table ``source``'s SQL names."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            for keyword, name in SQL_TABLE.findall(node.value):
                if name in tables:
                    mode = WRITE if keyword.split()[0] in WRITES else READ
                    found.append((node.lineno, name, mode))
        elif (
            isinstance(node, ast.Subscript)
            and _is_db(node.value)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value in tables
        ):
            found.append((node.lineno, node.slice.value, WRITE))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "table"
            and _is_db(node.func.value)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in tables
        ):
            found.append((node.lineno, node.args[0].value, WRITE))
    return found


def allowed(package: str, table: str, mode: str) -> bool:
    if OWNERS.get(table) == package:
        return True
    if table in SHARED and mode in SHARED[table][0]:
        return True
    return (package, table) in EXCEPTIONS and mode in EXCEPTIONS[(package, table)][0]


def uses_of(package: str) -> list[tuple[str, str, str]]:
    """(where, table, mode) for every table ``package``'s modules name."""
    tables = set(OWNERS)
    folder = ROOT / package
    out = []
    for path in sorted(folder.rglob("*.py")) if (folder / "__init__.py").exists() else []:
        if path.relative_to(ROOT).as_posix() == SCHEMA:
            continue
        for line, table, mode in tables_named(path.read_text(encoding="utf-8"), tables):
            out.append((f"{path.relative_to(ROOT)}:{line}", table, mode))
    return out


def test_every_table_of_the_schema_has_one_owner() -> None:
    assert set(OWNERS) == schema_tables()
    assert set(OWNERS.values()) <= set(PACKAGES)


def test_every_exception_gives_a_reason_and_names_a_foreign_table() -> None:
    for (package, table), (modes, reason) in EXCEPTIONS.items():
        assert package in PACKAGES and OWNERS[table] != package, (package, table)
        assert modes and modes <= {READ, WRITE} and len(reason) > 20, (package, table)
    for table, (modes, reason) in SHARED.items():
        assert OWNERS[table] == "store" and modes and len(reason) > 20, table


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_names_only_its_own_tables(package: str) -> None:
    foreign = [
        f"{where}: {mode}s {table} (owned by {OWNERS[table]})"
        for where, table, mode in uses_of(package)
        if not allowed(package, table, mode)
    ]
    assert foreign == []


def test_no_exception_is_stale() -> None:
    """An exception nothing needs any more goes. (mobilization is being carved into modules,
    so what it reads is not required to stay exactly as listed.)"""
    used = {(package, table, mode) for package in PACKAGES for _, table, mode in uses_of(package)}
    stale = [
        (package, table, mode)
        for (package, table), (modes, _reason) in EXCEPTIONS.items()
        for mode in modes
        if package != "mobilization" and (package, table, mode) not in used
    ]
    assert stale == []


def test_the_scanner_finds_tables_in_a_fake_source() -> None:
    source = '''
"""A docstring may say FROM people without counting."""
ROWS = "SELECT p.id FROM people p JOIN units u ON u.id = p.unit_id"
def f(db, grid):
    """UPDATE incidents is only prose here."""
    db.conn.execute(f"UPDATE incidents SET grid = ? WHERE {grid}")
    db.conn.execute("DELETE FROM tasks WHERE id = ?")
    db.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)")
    db["recipients"].insert({})
    db.table("attempts").upsert({})
    mapping = {"people": 1}["people"]  # not a table access
    return "SELECT 1 FROM json_each(?)"  # not a table
'''
    tables = set(OWNERS)
    assert sorted(tables_named(source, tables)) == [
        (3, "people", READ),
        (3, "units", READ),
        (6, "incidents", WRITE),
        (7, "tasks", WRITE),
        (8, "meta", WRITE),
        (9, "recipients", WRITE),
        (10, "attempts", WRITE),
    ]
    assert not allowed("contacts", "incidents", WRITE)
    assert allowed("contacts", "units", READ) and not allowed("contacts", "units", WRITE)
    assert allowed("mobilization", "meta", WRITE) and not allowed("console", "events", WRITE)
