"""Provides dynamic adjustment: splitting a grid and merging grids, with history kept.

An adjustment takes effect at a given time (now or in the past: a change dated in the future
would need the engine to apply it when due, which a later issue brings). In one transaction:

* the new grids are added under the old grids' community, valid from the effective time;
* the old grids are retired (``valid_to`` = effective time, ``successor`` = the new codes) and
  keep their rows, so cases that happened in them keep pointing at them;
* addresses move as the specs say: in a split, each part lists the addresses it takes over and
  every current address of the old grid must go to exactly one part (an address left out is
  refused, naming it); in a merge, the new grid takes every address of the old grids;
* open cases (any stage but closed, voided, merged) move to a new grid; closed ones stay. In a
  split a case goes, in this order, to the part whose ``cases`` lists it, to the part whose
  polygon contains the case's lat/lon, or else to the first part;
* one ``grid_split``/``grid_merge`` audit event, and one ``grid_moved`` event per moved case on
  that case's timeline.

* people of the old grids (grid leaders, members, volunteers; active or not, so history stays
  consistent) move too: in a split to the part whose ``people`` lists them (by key or E.164
  phone), else to the first part; in a merge to the new grid; one ``person_moved`` audit event
  each (with the person's key, not their phone).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import Point

from jurisdiction.geo import make_sound, parse_boundary, to_geojson, to_shape
from jurisdiction.models import GridSpec, Level, Unit, code_problem
from jurisdiction.units import OPEN_CASE, check_figure, clean_addresses, get_unit
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import InvalidInput
from store.i18n import _


@dataclass(frozen=True)
class Adjustment:
    """What a split or merge did."""

    kind: str
    retired: tuple[str, ...]
    created: tuple[str, ...]
    addresses_moved: int
    cases_moved: dict[str, str]  # case number → new grid code
    people_moved: dict[str, str] = field(default_factory=dict)  # person key → new grid code


def _current_grid(db: Database, code: str, field: str) -> Unit:
    unit = get_unit(db, code)
    if unit.level is not Level.GRID:
        raise InvalidInput(
            _("{code} is a {level}, not a grid").format(code=unit.code, level=unit.level.label),
            field,
        )
    if not unit.current:
        raise InvalidInput(
            _("grid {code} was already replaced by {successors}").format(
                code=unit.code, successors=", ".join(unit.successors)
            ),
            field,
        )
    return unit


def _check_specs(db: Database, specs: Sequence[GridSpec]) -> list[GridSpec]:
    seen: set[str] = set()
    out = []
    for n, spec in enumerate(specs, start=1):
        field = f"into[{n}]"
        code = spec.code.strip() if isinstance(spec.code, str) else ""
        problem = code_problem(Level.GRID, code)
        if problem:
            raise InvalidInput(problem, f"{field}.code")
        if (
            code in seen
            or db.conn.execute("SELECT 1 FROM units WHERE code = ?", (code,)).fetchone()
        ):
            raise InvalidInput(
                _("unit {code} already exists (codes are never reused)").format(code=code), field
            )
        seen.add(code)
        if not isinstance(spec.name, str) or not spec.name.strip():
            raise InvalidInput(_("a name is required"), f"{field}.name")
        boundary = None if spec.boundary is None else parse_boundary(spec.boundary, field)
        out.append(
            GridSpec(
                code=code,
                name=spec.name.strip(),
                boundary=boundary,
                households=check_figure(spec.households, f"{field}.households"),
                population=check_figure(spec.population, f"{field}.population"),
                addresses=tuple(clean_addresses(spec.addresses, f"{field}.addresses")),
                cases=tuple(str(c).strip() for c in spec.cases),
                people=tuple(str(p).strip() for p in spec.people),
            )
        )
    return out


def _check_effective(effective: datetime, now: datetime, olds: Sequence[Unit]) -> str:
    if effective.tzinfo is None:
        raise InvalidInput(_("give the effective time with its zone"), "effective")
    if effective > now:
        raise InvalidInput(
            _("an adjustment cannot take effect in the future yet; record it when it does"),
            "effective",
        )
    for old in olds:
        if effective < old.valid_from:
            raise InvalidInput(
                _("grid {code} only exists from {since}").format(
                    code=old.code, since=to_iso(old.valid_from)
                ),
                "effective",
            )
    return to_iso(effective)


def _insert_grid(db: Database, spec: GridSpec, parent_id: int | None, start: str, at: str) -> int:
    cursor = db.conn.execute(
        "INSERT INTO units (code, name, level, parent_id, households, population, boundary,"
        " valid_from, created_at, updated_at) VALUES (?, ?, 'grid', ?, ?, ?, ?, ?, ?, ?)",
        (
            spec.code,
            spec.name,
            parent_id,
            spec.households,
            spec.population,
            json.dumps(spec.boundary) if spec.boundary else None,
            start,
            at,
            at,
        ),
    )
    return int(cursor.lastrowid or 0)


def _retire(db: Database, olds: Sequence[Unit], successors: list[str], start: str, at: str) -> None:
    for old in olds:
        db.conn.execute(
            "UPDATE units SET valid_to = ?, successor = ?, updated_at = ? WHERE id = ?",
            (start, json.dumps(successors), at, old.id),
        )
        db.conn.execute(
            "UPDATE unit_addresses SET valid_to = ? WHERE unit_id = ? AND valid_to IS NULL",
            (start, old.id),
        )


def _parent_id(db: Database, unit: Unit) -> int | None:
    row = db.conn.execute("SELECT parent_id FROM units WHERE id = ?", (unit.id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _open_cases(db: Database, grid_ids: Sequence[int]) -> list[tuple[int, str, Any, Any]]:
    rows = db.conn.execute(
        f"SELECT id, number, lat, lon FROM incidents WHERE {OPEN_CASE}"
        f" AND grid_id IN ({','.join('?' * len(grid_ids))}) ORDER BY id",
        list(grid_ids),
    ).fetchall()
    return [(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]


def _move_case(
    db: Database,
    operator: str,
    at: str,
    case: tuple[int, str, Any, Any],
    old_code: str,
    new_id: int,
    new_code: str,
    rule: str,
) -> None:
    db.conn.execute(
        "UPDATE incidents SET grid_id = ?, grid = ?, updated_at = ? WHERE id = ?",
        (new_id, new_code, at, case[0]),
    )
    append_event(
        db,
        at=at,
        operator=operator,
        kind="grid_moved",
        incident_id=case[0],
        data={"from": old_code, "to": new_code, "rule": rule},
    )


def _people_of(db: Database, grid_ids: Sequence[int]) -> list[tuple[int, str, str | None, int]]:
    """``(id, key, phone, unit_id)`` of everyone whose unit is one of ``grid_ids``."""
    marks = ",".join("?" * len(grid_ids))
    return [
        (int(r[0]), str(r[1]), r[2], int(r[3]))
        for r in db.conn.execute(
            f"SELECT id, key, phone, unit_id FROM people WHERE unit_id IN ({marks}) ORDER BY id",
            list(grid_ids),
        )
    ]


def _move_people(
    db: Database,
    operator: str,
    at: str,
    people: Sequence[tuple[int, str, str | None, int]],
    target: dict[int, tuple[int, str]],
    old_codes: dict[int, str],
) -> dict[str, str]:
    """Point each person at their new grid, one audit event each; returns key → new code."""
    moved: dict[str, str] = {}
    for person_id, key, _phone, unit_id in people:
        new_id, new_code = target[person_id]
        db.conn.execute(
            "UPDATE people SET unit_id = ?, updated_at = ? WHERE id = ?", (new_id, at, person_id)
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="person_moved",
            data={"person": key, "from": old_codes[unit_id], "to": new_code},
        )
        moved[key] = new_code
    return moved


def split_grid(
    db: Database,
    clock: Clock,
    operator: str,
    code: str,
    parts: Sequence[GridSpec],
    effective: datetime,
) -> Adjustment:
    """Split grid ``code`` into ``parts`` (two or more), effective at ``effective``.

    Raises:
        InvalidInput: fewer than two parts, a bad or used code, an address of the old grid
            given to no part or to two, a listed case that is not open in the old grid, an
            effective time in the future or before the old grid existed.
        NotFound: no unit ``code``.
    """
    if len(parts) < 2:
        raise InvalidInput(_("a split needs at least two parts"), "into")
    now = clock.now()
    at = to_iso(now)
    with write(db):
        old = _current_grid(db, code, "grid")
        specs = _check_specs(db, parts)
        start = _check_effective(effective, now, [old])
        current = {
            r[0]
            for r in db.conn.execute(
                "SELECT address FROM unit_addresses WHERE unit_id = ? AND valid_to IS NULL",
                (old.id,),
            )
        }
        owner: dict[str, str] = {}
        for spec in specs:
            for address in spec.addresses:
                if address in owner:
                    raise InvalidInput(
                        _("address {address!r} is given to both {first} and {second}").format(
                            address=address, first=owner[address], second=spec.code
                        ),
                        "into",
                    )
                owner[address] = spec.code
        left_out = sorted(current - set(owner))
        if left_out:
            if len(left_out) > 1:
                text = _("address {address!r} of grid {grid} is given to no part (and {more} more)")
            else:
                text = _("address {address!r} of grid {grid} is given to no part")
            raise InvalidInput(
                text.format(address=left_out[0], grid=old.code, more=len(left_out) - 1), "into"
            )
        cases = _open_cases(db, [old.id])
        by_ref = {ref: case for case in cases for ref in (case[1], str(case[0]))}
        listed: dict[int, str] = {}
        for spec in specs:
            for ref in spec.cases:
                if ref not in by_ref:
                    raise InvalidInput(
                        _("case {case} is not an open case of grid {grid}").format(
                            case=ref, grid=old.code
                        ),
                        "into",
                    )
                listed[by_ref[ref][0]] = spec.code
        parent_id = _parent_id(db, old)
        ids = {spec.code: _insert_grid(db, spec, parent_id, start, at) for spec in specs}
        new_codes = [spec.code for spec in specs]
        _retire(db, [old], new_codes, start, at)
        db.conn.executemany(
            "INSERT INTO unit_addresses (unit_id, address, valid_from) VALUES (?,?,?)",
            [(ids[c], a, start) for a, c in owner.items()],
        )
        shapes = [
            (spec.code, make_sound(to_shape(spec.boundary)))
            for spec in specs
            if spec.boundary is not None
        ]
        append_event(
            db,
            at=at,
            operator=operator,
            kind="grid_split",
            data={
                "grid": old.code,
                "into": new_codes,
                "effective": start,
                "addresses": {c: sorted(a for a, o in owner.items() if o == c) for c in new_codes},
                "cases": len(cases),
            },
        )
        moved: dict[str, str] = {}
        for case in cases:
            target, rule = _place(case, listed, shapes, new_codes[0])
            _move_case(db, operator, at, case, old.code, ids[target], target, rule)
            moved[case[1]] = target
        people = _people_of(db, [old.id])
        destination: dict[int, tuple[int, str]] = {}
        for person_id, key, phone, _unit in people:
            chosen = next(
                (spec.code for spec in specs if key in spec.people or phone in spec.people),
                new_codes[0],
            )
            destination[person_id] = (ids[chosen], chosen)
        known = {ref for _id, key, phone, _unit in people for ref in (key, phone) if ref}
        for spec in specs:
            for ref in spec.people:
                if ref not in known:
                    raise InvalidInput(
                        _("person {ref} is not in grid {grid}").format(ref=ref, grid=old.code),
                        "into",
                    )
        people_moved = _move_people(db, operator, at, people, destination, {old.id: old.code})
    return Adjustment("split", (old.code,), tuple(new_codes), len(current), moved, people_moved)


def _place(
    case: tuple[int, str, Any, Any],
    listed: dict[int, str],
    shapes: list[tuple[str, Any]],
    first: str,
) -> tuple[str, str]:
    """Which part an open case goes to, and by which rule (see the module docstring)."""
    if case[0] in listed:
        return listed[case[0]], "listed"
    lat, lon = case[2], case[3]
    if lat is not None and lon is not None:
        point = Point(lon, lat)
        for code, shp in shapes:
            if shapely.covers(shp, point):
                return code, "location"
    return first, "first part"


def merge_grids(
    db: Database,
    clock: Clock,
    operator: str,
    codes: Sequence[str],
    new: GridSpec,
    effective: datetime,
) -> Adjustment:
    """Merge grids ``codes`` (two or more, of one community) into the grid ``new``.

    The new grid takes every current address of the old grids (plus any in ``new.addresses``)
    and every open case. Households and population left out of ``new`` are the sums of the old
    grids' figures when all are known; a boundary left out is the union of the old boundaries
    when all are drawn.

    Raises:
        InvalidInput: fewer than two grids, a grid named twice or already retired, grids of
            different communities, a bad or used new code, a bad effective time.
    """
    wanted = [c.strip() for c in codes]
    if len(wanted) < 2:
        raise InvalidInput(_("a merge needs at least two grids"), "grids")
    if len(set(wanted)) != len(wanted):
        raise InvalidInput(_("a grid is named twice"), "grids")
    now = clock.now()
    at = to_iso(now)
    with write(db):
        olds = [_current_grid(db, c, "grids") for c in wanted]
        parents = {_parent_id(db, o) for o in olds}
        if len(parents) > 1:
            raise InvalidInput(_("grids of different communities cannot be merged"), "grids")
        (spec,) = _check_specs(db, [new])
        start = _check_effective(effective, now, olds)
        ids = [o.id for o in olds]
        addresses = [
            r[0]
            for r in db.conn.execute(
                "SELECT DISTINCT address FROM unit_addresses WHERE valid_to IS NULL"
                f" AND unit_id IN ({','.join('?' * len(ids))}) ORDER BY address",
                ids,
            )
        ]
        addresses += [a for a in spec.addresses if a not in addresses]

        def total(values: list[int | None]) -> int | None:
            known = [v for v in values if v is not None]
            return sum(known) if len(known) == len(values) else None

        boundary = spec.boundary
        if boundary is None and all(o.boundary for o in olds):
            merged = shapely.union_all(
                [make_sound(to_shape(o.boundary)) for o in olds if o.boundary]
            )
            boundary = (
                to_geojson(merged) if merged.geom_type in ("Polygon", "MultiPolygon") else None
            )
        spec = GridSpec(
            code=spec.code,
            name=spec.name,
            boundary=boundary,
            households=spec.households
            if spec.households is not None
            else total([o.households for o in olds]),
            population=spec.population
            if spec.population is not None
            else total([o.population for o in olds]),
        )
        new_id = _insert_grid(db, spec, parents.pop(), start, at)
        _retire(db, olds, [spec.code], start, at)
        db.conn.executemany(
            "INSERT INTO unit_addresses (unit_id, address, valid_from) VALUES (?,?,?)",
            [(new_id, a, start) for a in addresses],
        )
        cases = _open_cases(db, ids)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="grid_merge",
            data={
                "grids": wanted,
                "into": spec.code,
                "effective": start,
                "addresses": len(addresses),
                "cases": len(cases),
            },
        )
        code_of = {o.id: o.code for o in olds}
        old_of = {
            int(r[0]): code_of[int(r[1])]
            for r in db.conn.execute(
                f"SELECT id, grid_id FROM incidents WHERE {OPEN_CASE}"
                f" AND grid_id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        moved: dict[str, str] = {}
        for case in cases:
            _move_case(db, operator, at, case, old_of[case[0]], new_id, spec.code, "merged")
            moved[case[1]] = spec.code
        people = _people_of(db, ids)
        people_moved = _move_people(
            db, operator, at, people, {p[0]: (new_id, spec.code) for p in people}, code_of
        )
    return Adjustment("merge", tuple(wanted), (spec.code,), len(addresses), moved, people_moved)


def spec_from_json(data: Any, field: str) -> GridSpec:
    """One grid spec from the SPEC file's JSON object (see ``dutydesk grid split --help``)."""
    if not isinstance(data, dict):
        raise InvalidInput(_("each grid must be a JSON object"), field)
    known = {"code", "name", "boundary", "households", "population", "addresses", "cases", "people"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(
            _("unknown key {key!r}; use {keys}").format(
                key=unknown[0], keys=", ".join(sorted(known))
            ),
            field,
        )
    for key in ("code", "name"):
        if not isinstance(data.get(key), str):
            raise InvalidInput(_("'{key}' (text) is required").format(key=key), field)
    for key in ("addresses", "cases", "people"):
        if not isinstance(data.get(key, []), list):
            raise InvalidInput(_("'{key}' must be a list").format(key=key), field)
    return GridSpec(
        code=data["code"],
        name=data["name"],
        boundary=data.get("boundary"),
        households=data.get("households"),
        population=data.get("population"),
        addresses=tuple(data.get("addresses", [])),
        cases=tuple(str(c) for c in data.get("cases", [])),
        people=tuple(str(p) for p in data.get("people", [])),
    )
