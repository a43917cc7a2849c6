"""Provides ``grid check``: the four rules of grid governance tested over the current grids.

* ``scale`` (moderate scale): every grid's households within the configured bounds; a grid
  without a household figure is reported too, since it cannot be judged;
* ``boundary`` (clear boundaries): every stored polygon closed and valid (shapely/GEOS says
  where it self-intersects);
* ``address`` (clear boundaries, for addresses): no address claimed by two current grids;
* ``coverage`` (seamless coverage): with polygons, the grids of a community cover its boundary
  with no gap and no overlap larger than the tolerance (each gap and overlap reported with its
  area in m² and the grids it touches), and no grid reaches outside its community; with
  addresses, every address in the community's register is in one of its grids.

Dynamic adjustment (the fourth rule) is kept by ``jurisdiction.adjust``: splits and merges retire
grids with their history, so only current grids are checked here.

Overlaps are found through an STRtree, so a community of thousands of grids is compared pair
by pair only where bounding boxes meet.
"""

from __future__ import annotations

from collections import defaultdict

import shapely
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from jurisdiction.geo import LocalProjection, boundary_problems, make_sound, to_shape
from jurisdiction.models import GridRules, Level, Unit, Violation
from jurisdiction.units import get_unit, list_units
from store.db import Database
from store.i18n import N_, _

# What each rule is called where people read it (JSON keeps the rule's id).
RULE_LABELS = {
    "scale": N_("moderate scale"),
    "boundary": N_("clear boundary"),
    "address": N_("one grid per address"),
    "coverage": N_("seamless coverage"),
}

# Gap pieces this close to a grid (in metres) count as touching it, for naming the neighbours.
NEIGHBOUR_M = 0.5


def rule_label(rule: str) -> str:
    """A rule's name in people's words, in the current language."""
    return _(RULE_LABELS[rule]) if rule in RULE_LABELS else rule


def _named(names: dict[str, str], code: str) -> str:
    """``青山社区 (C01)``: a unit by its name, its code after it to tell namesakes apart."""
    name = names.get(code)
    return f"{name} ({code})" if name and name != code else code


def check_grids(
    db: Database, rules: GridRules | None = None, *, community: str | None = None
) -> list[Violation]:
    """Every violation of the four rules among current units, in a stable order.

    Args:
        rules: the bounds and tolerances (``[grid]`` in the configuration).
        community: only this community's grids (and the violations that involve them).

    Raises:
        NotFound: ``community`` names no unit.
    """
    rules = rules or GridRules()
    units = list_units(db)
    names = {u.code: u.name for u in units}
    if community is not None:
        target = get_unit(db, community)
        units = [u for u in units if u.code == target.code or u.parent_code == target.code]
    grids = [u for u in units if u.level is Level.GRID]
    communities = [u for u in units if u.level is Level.COMMUNITY]
    found: list[Violation] = []
    found += _scale(grids, rules, names)
    for unit in [*communities, *grids]:
        if unit.boundary is None:
            continue
        problems = boundary_problems(unit.boundary)
        for problem in problems:
            found.append(
                Violation(
                    "boundary",
                    (unit.code,),
                    f"{_named(names, unit.code)}: {problem}",
                )
            )
    found += _addresses(db, grids, names)
    by_parent: dict[str, list[Unit]] = defaultdict(list)
    for grid in grids:
        if grid.parent_code:
            by_parent[grid.parent_code].append(grid)
    for comm in communities:
        found += _polygon_coverage(comm, by_parent[comm.code], rules, names)
        found += _address_coverage(db, comm, by_parent[comm.code], names)
    return found


def _scale(grids: list[Unit], rules: GridRules, names: dict[str, str]) -> list[Violation]:
    out = []
    low, high = rules.households_min, rules.households_max
    for grid in grids:
        h = grid.households
        if h is None:
            out.append(
                Violation(
                    "scale",
                    (grid.code,),
                    _("grid {code} has no household figure").format(code=_named(names, grid.code)),
                )
            )
        elif h < low:
            out.append(
                Violation(
                    "scale",
                    (grid.code,),
                    _("grid {code} has {households} households, below the minimum {low}").format(
                        code=_named(names, grid.code), households=h, low=low
                    ),
                    float(h),
                )
            )
        elif h > high:
            out.append(
                Violation(
                    "scale",
                    (grid.code,),
                    _("grid {code} has {households} households, above the maximum {high}").format(
                        code=_named(names, grid.code), households=h, high=high
                    ),
                    float(h),
                )
            )
    return out


def _current_addresses(db: Database, unit_ids: list[int]) -> list[tuple[str, int]]:
    if not unit_ids:
        return []
    # Chunked so that thousands of grids stay under SQLite's host-parameter limit.
    rows: list[tuple[str, int]] = []
    for start in range(0, len(unit_ids), 500):
        chunk = unit_ids[start : start + 500]
        rows += db.conn.execute(
            "SELECT address, unit_id FROM unit_addresses WHERE valid_to IS NULL"
            f" AND unit_id IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    return rows


def _addresses(db: Database, grids: list[Unit], names: dict[str, str]) -> list[Violation]:
    """Addresses claimed by two or more current grids (all grids, not only the ones shown)."""
    codes = {g.id: g.code for g in grids}
    rows = db.conn.execute(
        "SELECT a.address, u.code FROM unit_addresses a JOIN units u ON u.id = a.unit_id"
        " WHERE a.valid_to IS NULL AND u.valid_to IS NULL AND u.level = 'grid'"
        " AND a.address IN (SELECT a2.address FROM unit_addresses a2 JOIN units u2"
        " ON u2.id = a2.unit_id WHERE a2.valid_to IS NULL AND u2.valid_to IS NULL"
        " AND u2.level = 'grid' GROUP BY a2.address HAVING count(DISTINCT a2.unit_id) > 1)"
        " ORDER BY a.address, u.code"
    ).fetchall()
    claims: dict[str, list[str]] = defaultdict(list)
    for address, code in rows:
        claims[address].append(code)
    shown = set(codes.values())
    return [
        Violation(
            "address",
            tuple(claimants),
            _("address {address!r} is claimed by {count} grids: {grids}").format(
                address=address,
                count=len(claimants),
                grids=", ".join(_named(names, c) for c in claimants),
            ),
            float(len(claimants)),
        )
        for address, claimants in claims.items()
        if shown & set(claimants)
    ]


def _address_coverage(
    db: Database, comm: Unit, grids: list[Unit], names: dict[str, str]
) -> list[Violation]:
    register = [a for a, _unit in _current_addresses(db, [comm.id])]
    if not register:
        return []
    in_grids = {a for a, _unit in _current_addresses(db, [g.id for g in grids])}
    return [
        Violation(
            "coverage",
            (comm.code,),
            _("address {address!r} of community {community} is in none of its grids").format(
                address=address, community=_named(names, comm.code)
            ),
        )
        for address in sorted(set(register) - in_grids)
    ]


def _polygon_coverage(
    comm: Unit, grids: list[Unit], rules: GridRules, names: dict[str, str]
) -> list[Violation]:
    community = _named(names, comm.code)
    drawn = [g for g in grids if g.boundary is not None]
    if comm.boundary is None or not drawn:
        return []
    out = [
        Violation(
            "coverage",
            (comm.code, g.code),
            _(
                "grid {grid} of community {community} has no boundary; its area counts as a gap"
            ).format(grid=_named(names, g.code), community=community),
        )
        for g in grids
        if g.boundary is None
    ]
    area_lonlat = make_sound(to_shape(comm.boundary))
    centre = area_lonlat.centroid
    proj = LocalProjection(centre.x, centre.y)
    area = proj.forward(area_lonlat)
    shapes = [proj.forward(make_sound(to_shape(g.boundary))) for g in drawn if g.boundary]
    codes = [g.code for g in drawn]
    tree = STRtree(shapes)

    def touching(piece: BaseGeometry) -> list[str]:
        hits = tree.query(piece, predicate="dwithin", distance=NEIGHBOUR_M)
        return sorted(codes[int(i)] for i in hits)

    def where(piece: BaseGeometry) -> str:
        point = piece.representative_point()
        lon, lat = proj.lonlat(point.x, point.y)
        return f"({lon:.6f}, {lat:.6f})"

    covered = shapely.union_all(shapes)
    for piece in _pieces(shapely.difference(area, covered)):
        if piece.area > rules.gap_tolerance_m2:
            near = touching(piece)
            if near:
                text = _(
                    "gap of {area:.1f} m² in community {community} at {where} covered by no"
                    " grid, beside {grids}"
                )
            else:
                text = _(
                    "gap of {area:.1f} m² in community {community} at {where} covered by no grid"
                )
            out.append(
                Violation(
                    "coverage",
                    (comm.code, *near),
                    text.format(
                        area=piece.area,
                        community=community,
                        where=where(piece),
                        grids=", ".join(_named(names, c) for c in near),
                    ),
                    round(piece.area, 1),
                )
            )
    for code, shp in zip(codes, shapes, strict=True):
        outside = shapely.difference(shp, area)
        if outside.area > rules.gap_tolerance_m2:
            out.append(
                Violation(
                    "coverage",
                    (comm.code, code),
                    _(
                        "grid {grid} reaches {area:.1f} m² outside community {community} at {where}"
                    ).format(
                        grid=_named(names, code),
                        area=outside.area,
                        community=community,
                        where=where(outside),
                    ),
                    round(outside.area, 1),
                )
            )
    left, right = tree.query(shapes, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        overlap = shapely.intersection(shapes[i], shapes[j]).area
        if overlap > rules.overlap_tolerance_m2:
            a, b = sorted((codes[i], codes[j]))
            out.append(
                Violation(
                    "coverage",
                    (comm.code, a, b),
                    _(
                        "grids {first} and {second} of community {community} overlap by"
                        " {area:.1f} m²"
                    ).format(
                        first=_named(names, a),
                        second=_named(names, b),
                        community=community,
                        area=overlap,
                    ),
                    round(overlap, 1),
                )
            )
    return out


def _pieces(geom: BaseGeometry) -> list[BaseGeometry]:
    """The separate polygons of an overlay result (lines and points have no area)."""
    parts = [geom] if not hasattr(geom, "geoms") else list(geom.geoms)
    flat: list[BaseGeometry] = []
    for part in parts:
        if hasattr(part, "geoms"):
            flat += _pieces(part)
        elif part.area > 0:
            flat.append(part)
    return flat
