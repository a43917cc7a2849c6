"""Provides the jurisdiction tree: adding units and reading them back (list, show, history).

Units are added one level below their parent (township → community → grid); a grid's current
addresses live in ``unit_addresses``. Every addition appends a ``unit_added`` audit event in
the same transaction. Adding a grid whose code cases already carry (cases logged before the
jurisdiction was entered) links those cases to it, so the foreign key catches up with the
plain code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jurisdiction.geo import parse_boundary
from jurisdiction.models import Level, Unit, code_problem
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, NotFound
from store.i18n import _
from store.text import clean_text

UNIT_COLUMNS = (
    "u.id, u.code, u.name, u.level, p.code, u.households, u.population, u.boundary,"
    " u.valid_from, u.valid_to, u.successor"
)
UNIT_FROM = "units u LEFT JOIN units p ON p.id = u.parent_id"
MAX_NAME = 100


def row_to_unit(row: Sequence[Any]) -> Unit:
    return Unit(
        id=row[0],
        code=row[1],
        name=row[2],
        level=Level(row[3]),
        parent_code=row[4],
        households=row[5],
        population=row[6],
        boundary=json.loads(row[7]) if row[7] else None,
        valid_from=from_iso(row[8]),
        valid_to=from_iso(row[9]) if row[9] else None,
        successors=tuple(json.loads(row[10])) if row[10] else (),
    )


def normalise_address(text: str) -> str:
    """Addresses compare after trimming and collapsing inner whitespace."""
    return " ".join(text.split())


MAX_FIGURE = 10_000_000  # households or people: far more than any grid holds


def check_figure(value: int | None, field: str) -> int | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FIGURE
    ):
        raise InvalidInput(
            _("must be a whole number >= 0 and at most {max} (got {value!r})").format(
                max=MAX_FIGURE, value=value
            ),
            field,
        )
    return value


def clean_addresses(addresses: Sequence[str], field: str = "addresses") -> list[str]:
    """Normalised addresses, refusing blanks and repeats (a repeat is a typo, not a claim)."""
    out: list[str] = []
    for raw in addresses:
        if not isinstance(raw, str) or not normalise_address(raw):
            raise InvalidInput(
                _("an address must be non-empty text (got {value!r})").format(value=raw), field
            )
        address = normalise_address(clean_text(raw, field, kind="address"))
        if address in out:
            raise InvalidInput(
                _("address {address!r} is listed twice").format(address=address), field
            )
        out.append(address)
    return out


@dataclass(frozen=True)
class NewUnit:
    """What a person gives to add a unit; see :func:`add_unit`."""

    code: str
    name: str
    level: str | Level
    parent: str | None = None
    households: int | None = None
    population: int | None = None
    boundary: dict[str, Any] | str | None = None
    addresses: tuple[str, ...] = ()


def update_figures(
    db: Database, rows: Sequence[tuple[str, int | None, int | None, str, int]]
) -> None:
    """Set units' names and figures in place, as a spreadsheet import does (inside its write).

    Args:
        rows: ``(name, households, population, updated_at, unit id)`` per unit.
    """
    db.conn.executemany(
        "UPDATE units SET name = ?, households = ?, population = ?, updated_at = ? WHERE id = ?",
        rows,
    )


def add_unit(
    db: Database, clock: Clock, operator: str, new: NewUnit, *, valid_from: datetime | None = None
) -> Unit:
    """Add a unit under its parent, with its addresses, and audit it.

    Raises:
        InvalidInput: a bad code, name, level, figure, boundary or address (naming the field),
            a code already used (by a current or a past unit), or a parent of the wrong level.
        NotFound: no current unit has the parent code.
    """
    try:
        level = new.level if isinstance(new.level, Level) else Level.parse(new.level)
    except ValueError as exc:
        raise InvalidInput(str(exc), "level") from exc
    code = new.code.strip()
    problem = code_problem(level, code)
    if problem:
        raise InvalidInput(problem, "code")
    name = clean_text(new.name, "name", kind="name")
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(
            _("a name of 1-{max} characters is required").format(max=MAX_NAME), "name"
        )
    households = check_figure(new.households, "households")
    population = check_figure(new.population, "population")
    if level is not Level.GRID and (households is not None or population is not None):
        # Figures are kept per grid; higher levels add up their grids.
        raise InvalidInput(_("households and population are recorded on grids only"), "households")
    boundary = None if new.boundary is None else parse_boundary(new.boundary)
    addresses = clean_addresses(new.addresses)
    if addresses and level not in (Level.GRID, Level.COMMUNITY):
        raise InvalidInput(_("addresses belong to grids (and a community's register)"), "addresses")
    now = clock.now()
    at = to_iso(now)
    if valid_from is not None and valid_from > now:
        raise InvalidInput(_("a unit cannot start existing in the future"), "since")
    start = to_iso(valid_from or now)
    with write(db):
        if db.conn.execute("SELECT 1 FROM units WHERE code = ?", (code,)).fetchone():
            raise InvalidInput(
                _("unit {code} already exists (codes are never reused)").format(code=code), "code"
            )
        parent_id = None
        if new.parent:
            parent = get_unit(db, new.parent.strip())
            if not parent.current:
                raise InvalidInput(
                    _("unit {code} was retired on {date}").format(
                        code=parent.code, date=parent.valid_to
                    ),
                    "parent",
                )
            if parent.level is not level.parent_level:
                expected = level.parent_level.label if level.parent_level else _("none")
                raise InvalidInput(
                    _("a {level} goes under a {expected}, and {code} is a {actual}").format(
                        level=level.label,
                        expected=expected,
                        code=parent.code,
                        actual=parent.level.label,
                    ),
                    "parent",
                )
            parent_id = parent.id
        cursor = db.conn.execute(
            "INSERT INTO units (code, name, level, parent_id, households, population, boundary,"
            " valid_from, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                code,
                name,
                level.value,
                parent_id,
                households,
                population,
                json.dumps(boundary) if boundary else None,
                start,
                at,
                at,
            ),
        )
        unit_id = int(cursor.lastrowid or 0)
        db.conn.executemany(
            "INSERT INTO unit_addresses (unit_id, address, valid_from) VALUES (?,?,?)",
            [(unit_id, a, start) for a in addresses],
        )
        linked = 0
        if level is Level.GRID:
            linked = db.conn.execute(
                "UPDATE incidents SET grid_id = ? WHERE grid = ? AND grid_id IS NULL",
                (unit_id, code),
            ).rowcount
        append_event(
            db,
            at=at,
            operator=operator,
            kind="unit_added",
            data={
                "code": code,
                "name": name,
                "level": level.value,
                "parent": new.parent.strip() if new.parent else None,
                "households": households,
                "population": population,
                "boundary": boundary is not None,
                "addresses": len(addresses),
                "cases_linked": linked,
            },
        )
    return get_unit(db, code)


def get_unit(db: Database, code: str) -> Unit:
    row = db.conn.execute(
        f"SELECT {UNIT_COLUMNS} FROM {UNIT_FROM} WHERE u.code = ?", (code.strip(),)
    ).fetchone()
    if row is None:
        raise NotFound(_("no unit {code}").format(code=code.strip()))
    return row_to_unit(row)


def list_units(
    db: Database,
    *,
    level: Level | None = None,
    parent: str | None = None,
    include_history: bool = False,
) -> list[Unit]:
    """Units in code order; current ones only unless ``include_history``.

    Raises:
        NotFound: ``parent`` names no unit.
    """
    where: list[str] = []
    params: list[Any] = []
    if level is not None:
        where.append("u.level = ?")
        params.append(level.value)
    if parent is not None:
        where.append("u.parent_id = ?")
        params.append(get_unit(db, parent).id)
    if not include_history:
        where.append("u.valid_to IS NULL")
    sql = f"SELECT {UNIT_COLUMNS} FROM {UNIT_FROM}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.conn.execute(sql + " ORDER BY u.code", params).fetchall()
    return [row_to_unit(r) for r in rows]


def addresses_of(db: Database, code: str, *, include_history: bool = False) -> list[str]:
    unit = get_unit(db, code)
    sql = "SELECT address FROM unit_addresses WHERE unit_id = ?"
    if not include_history:
        sql += " AND valid_to IS NULL"
    return [r[0] for r in db.conn.execute(sql + " ORDER BY address", (unit.id,))]


def predecessors_of(db: Database, code: str) -> list[Unit]:
    """The retired units that ``code`` replaced (by a split or a merge)."""
    rows = db.conn.execute(
        f"SELECT {UNIT_COLUMNS} FROM {UNIT_FROM}, json_each(u.successor) s"
        " WHERE u.successor IS NOT NULL AND s.value = ? ORDER BY u.code",
        (code,),
    ).fetchall()
    return [row_to_unit(r) for r in rows]


# Jurisdiction sits below incidents and cannot import its vocabulary: this is incidents.models'
# OPEN_CASE_SQL, spelled here (tests/unit/test_workflow.py checks that the two agree).
OPEN_CASE = "stage NOT IN ('closed', 'merged', 'voided')"


@dataclass(frozen=True)
class UnitDetail:
    """A unit with what ``unit show`` lists: its children, addresses, open cases, history."""

    unit: Unit
    children: list[Unit]
    addresses: list[str]
    predecessors: list[Unit]
    open_cases: int


def unit_detail(db: Database, code: str) -> UnitDetail:
    unit = get_unit(db, code)
    open_cases = 0
    if unit.level is Level.GRID:
        open_cases = int(
            db.conn.execute(
                f"SELECT count(*) FROM incidents WHERE grid_id = ? AND {OPEN_CASE}",
                (unit.id,),
            ).fetchone()[0]
        )
    return UnitDetail(
        unit=unit,
        children=list_units(db, parent=unit.code, include_history=True),
        addresses=addresses_of(db, unit.code, include_history=not unit.current),
        predecessors=predecessors_of(db, unit.code),
        open_cases=open_cases,
    )


def unit_to_json(unit: Unit) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "level": unit.level.value,
        "parent": unit.parent_code,
        "households": unit.households,
        "population": unit.population,
        "boundary": unit.boundary,
        "valid_from": to_iso(unit.valid_from),
        "valid_to": to_iso(unit.valid_to) if unit.valid_to else None,
        "successors": list(unit.successors),
        "current": unit.current,
    }
