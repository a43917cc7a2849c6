"""Provides ``dutydesk unit ...`` (the jurisdiction tree) and ``dutydesk grid ...`` (the rules).

Bad input is one line naming the option or the file and the field; ``grid check`` exits 1 when
it finds violations, so scripts and cron jobs can act on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from console.cli import render
from console.cli.common import State, emit_json, parse_time, pass_state
from console.cli.tables import echo_fields, print_table
from console.timefmt import local
from jurisdiction.adjust import Adjustment, merge_grids, spec_from_json, split_grid
from jurisdiction.geo import boundary_problems
from jurisdiction.gridcheck import check_grids, rule_label
from jurisdiction.models import Level, Unit
from jurisdiction.units import (
    MAX_FIGURE,
    NewUnit,
    add_unit,
    list_units,
    unit_detail,
    unit_to_json,
)
from store.errors import InvalidInput
from store.i18n import N_, _

JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
FILE = click.Path(dir_okay=False, path_type=Path)

UNIT_COLUMNS = (
    N_("code"),
    N_("name"),
    N_("level"),
    N_("parent"),
    N_("households"),
    N_("population"),
    N_("valid"),
)

# An epilog: console.cli.i18n translates it once the language is chosen. The leading \b
# keeps click from re-wrapping the example.
SPEC_HELP = N_("""\b
SPEC is a JSON file. For a split, a list of the new grids; for a merge, one object:
  {"code": "G01A", "name": "Xingfu Grid 1", "households": 320, "population": 900,
   "boundary": {GeoJSON Polygon or MultiPolygon, lon/lat},
   "addresses": ["1 Xingfu Road", ...], "cases": ["2026-000042", ...],
   "people": [person key or phone, ...]}
Only code and name are required. In a split every current address of the old grid must be
listed in exactly one part; open cases go to the part whose "cases" lists them, else to the
part whose boundary contains their lat/lon, else to the first part; the grid's people go to
the part listing them in "people", else to the first part. In a merge the new grid
takes all addresses, open cases and people (households, population and boundary default to the sum
and union of the old grids). Closed cases keep pointing at the old grids.""")


def read_json(path: Path, field: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            _("cannot read {path}: {error}").format(path=path, error=exc), field
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            _("{path} is not JSON: {error}").format(path=path, error=exc), field
        ) from exc


def _lines(path: Path, field: str) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            _("cannot read {path}: {error}").format(path=path, error=exc), field
        ) from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


@click.group("unit")
def unit() -> None:
    """The jurisdiction: township → community/village → grid.

    Township, community (and county/city) codes are 12-digit statistical division codes;
    grids have local codes such as G01.
    """


@unit.command("add")
@click.option("--code", required=True, help=N_("12-digit division code, or a grid's local code."))
@click.option("--name", required=True, help=N_("Name, e.g. Xingfu Community."))
@click.option(
    "--level",
    required=True,
    help=N_("city, county, township (street), community (village), grid."),
)
@click.option("--parent", help=N_("Code of the unit one level up."))
@click.option(
    "--households", type=click.IntRange(0, MAX_FIGURE), help=N_("Households (grids only).")
)
@click.option(
    "--population", type=click.IntRange(0, MAX_FIGURE), help=N_("Population (grids only).")
)
@click.option("--boundary", type=FILE, help=N_("GeoJSON file with the Polygon/MultiPolygon."))
@click.option(
    "--address", "addresses", multiple=True, help=N_("An address or building (repeatable).")
)
@click.option("--addresses", "address_file", type=FILE, help=N_("A file of addresses, one a line."))
@click.option("--since", help=N_("Since when the unit exists: YYYY-MM-DD [HH:MM] (default: now)."))
@JSON
@pass_state
def add_cmd(
    state: State,
    code: str,
    name: str,
    level: str,
    parent: str | None,
    households: int | None,
    population: int | None,
    boundary: Path | None,
    addresses: tuple[str, ...],
    address_file: Path | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Add a unit under its parent.

    Give --since for a unit that existed before it was entered here, so that a later split
    or merge can be dated back to when it really happened.
    """
    ctx = state.ctx
    valid_from = parse_time(since, ctx.clock.now(), ctx.config.zone, "since") if since else None
    geometry = read_json(boundary, "boundary") if boundary else None
    listed = list(addresses) + (_lines(address_file, "addresses") if address_file else [])
    item = add_unit(
        ctx.db,
        ctx.clock,
        ctx.operator,
        NewUnit(
            code=code,
            name=name,
            level=level,
            parent=parent,
            households=households,
            population=population,
            boundary=geometry,
            addresses=tuple(listed),
        ),
        valid_from=valid_from,
    )
    if as_json:
        emit_json(unit_to_json(item))
        return
    click.echo(
        _("{level} {code} {name} added").format(
            level=item.level.label, code=item.code, name=item.name
        )
    )
    # The unit is kept (grid check reports it), but the person drawing it should know now.
    for problem in boundary_problems(item.boundary) if item.boundary else []:
        click.echo(
            _("warning: boundary of {code}: {problem}").format(code=item.code, problem=problem),
            err=True,
        )


def _level(text: str | None) -> Level | None:
    if text is None:
        return None
    try:
        return Level.parse(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), "level") from exc


def _period(item: Unit, state: State) -> str:
    zone = state.ctx.config.zone
    start = local(item.valid_from, zone)
    if item.valid_to:
        return f"{start} → {local(item.valid_to, zone)}"
    return _("since {start}").format(start=start)


@unit.command("list")
@click.option("--level", help=N_("Only this level."))
@click.option("--parent", help=N_("Only the children of this unit."))
@click.option("--all", "include_history", is_flag=True, help=N_("Include retired units (history)."))
@JSON
@pass_state
def list_cmd(
    state: State, level: str | None, parent: str | None, include_history: bool, as_json: bool
) -> None:
    """List units in code order (current ones unless --all)."""
    items = list_units(
        state.ctx.db, level=_level(level), parent=parent, include_history=include_history
    )
    if as_json:
        emit_json(render.listing_json(unit_to_json(u) for u in items))
        return
    print_table(
        [_(name) for name in UNIT_COLUMNS],
        [
            (
                u.code,
                u.name,
                u.level.label,
                u.parent_code or "",
                "" if u.households is None else str(u.households),
                "" if u.population is None else str(u.population),
                _period(u, state) + (f" → {', '.join(u.successors)}" if u.successors else ""),
            )
            for u in items
        ],
    )
    click.echo(_("{count} unit(s)").format(count=len(items)))


@unit.command("show")
@click.argument("code")
@JSON
@pass_state
def show_cmd(state: State, code: str, as_json: bool) -> None:
    """Show a unit with its children, addresses and history."""
    detail = unit_detail(state.ctx.db, code)
    u = detail.unit
    if as_json:
        emit_json(
            {
                **unit_to_json(u),
                "children": [unit_to_json(c) for c in detail.children],
                "addresses": detail.addresses,
                "predecessors": [p.code for p in detail.predecessors],
                "open_cases": detail.open_cases,
            }
        )
        return
    click.echo(f"{u.code}  {u.name}  ({u.level.label})")
    rows = [(_("parent"), u.parent_code or "-"), (_("valid"), _period(u, state))]
    if u.successors:
        rows.append((_("replaced by"), ", ".join(u.successors)))
    if detail.predecessors:
        rows.append((_("replaces"), ", ".join(p.code for p in detail.predecessors)))
    if u.level is Level.GRID:
        rows.append((_("households"), "-" if u.households is None else str(u.households)))
        rows.append((_("population"), "-" if u.population is None else str(u.population)))
        rows.append((_("open cases"), str(detail.open_cases)))
    rows.append((_("boundary"), _("drawn") if u.boundary else "-"))
    echo_fields(rows)
    if detail.children:
        click.echo(_("children") + ":")
        for c in detail.children:
            retired = (
                ""
                if c.current
                else "  " + _("(retired, → {codes})").format(codes=", ".join(c.successors))
            )
            click.echo(f"  {c.code}  {c.name}{retired}")
    if detail.addresses:
        click.echo(_("addresses ({count}):").format(count=len(detail.addresses)))
        for address in detail.addresses:
            click.echo(f"  {address}")


@click.group("grid")
def grid() -> None:
    """The four grid rules (check) and dynamic adjustment (split, merge)."""


@grid.command("check")
@click.option("--community", help=N_("Only this community's grids."))
@JSON
@pass_state
def check_cmd(state: State, community: str | None, as_json: bool) -> int:
    """Test the four rules: scale, boundary, address, coverage.

    Prints one line per violation. Exit status: 0 when every rule holds, 1 when there are
    violations (2 for bad input).
    """
    ctx = state.ctx
    found = check_grids(ctx.db, ctx.config.grid_rules, community=community)
    if as_json:
        emit_json(
            render.check_json(
                render.problem_json(v.rule, v.message, list(v.units)) | {"figure": v.figure}
                for v in found
            )
        )
    else:
        for v in found:
            click.echo(f"{rule_label(v.rule)}: {v.message}")
        click.echo(
            _("{count} violation(s)").format(count=len(found))
            if found
            else _("all grid rules hold")
        )
    return 1 if found else 0


def _effective(state: State, text: str) -> Any:
    ctx = state.ctx
    return parse_time(text, ctx.clock.now(), ctx.config.zone, "effective")


def _report(adj: Adjustment, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "kind": adj.kind,
                "retired": list(adj.retired),
                "created": list(adj.created),
                "addresses_moved": adj.addresses_moved,
                "cases_moved": adj.cases_moved,
            }
        )
        return
    click.echo(
        _("{retired} → {created}: {addresses} address(es) and {cases} open case(s) moved").format(
            retired=", ".join(adj.retired),
            created=", ".join(adj.created),
            addresses=adj.addresses_moved,
            cases=len(adj.cases_moved),
        )
    )


@grid.command("split", epilog=SPEC_HELP)
@click.argument("code")
@click.option("--into", "spec", type=FILE, required=True, help=N_("SPEC file: the new grids."))
@click.option("--effective", required=True, help=N_("When it takes effect: YYYY-MM-DD [HH:MM]."))
@JSON
@pass_state
def split_cmd(state: State, code: str, spec: Path, effective: str, as_json: bool) -> None:
    """Split grid CODE into the grids of SPEC; the old grid is kept as history."""
    data = read_json(spec, "into")
    if isinstance(data, dict) and isinstance(data.get("grids"), list):
        data = data["grids"]
    if not isinstance(data, list):
        raise InvalidInput(
            _("{path} must hold a JSON list of the new grids").format(path=spec), "into"
        )
    parts = [
        spec_from_json(item, _("{path} grid {number}").format(path=spec, number=n))
        for n, item in enumerate(data, start=1)
    ]
    ctx = state.ctx
    adj = split_grid(ctx.db, ctx.clock, ctx.operator, code, parts, _effective(state, effective))
    _report(adj, as_json)


@grid.command("merge", epilog=SPEC_HELP)
@click.argument("codes", nargs=-1, required=True)
@click.option("--into", "spec", type=FILE, required=True, help=N_("SPEC file: the new grid."))
@click.option("--effective", required=True, help=N_("When it takes effect: YYYY-MM-DD [HH:MM]."))
@JSON
@pass_state
def merge_cmd(
    state: State, codes: tuple[str, ...], spec: Path, effective: str, as_json: bool
) -> None:
    """Merge grids CODES into the grid of SPEC; the old grids are kept as history."""
    data = read_json(spec, "into")
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    new = spec_from_json(data, f"{spec}")
    ctx = state.ctx
    adj = merge_grids(ctx.db, ctx.clock, ctx.operator, codes, new, _effective(state, effective))
    _report(adj, as_json)
