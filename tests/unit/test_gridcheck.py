"""``grid check``: crafted layouts, each breaking one of the four rules (or none).

Layouts are drawn with :mod:`tests.support.shapes`, in steps of about 100 m.
"""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from jurisdiction.gridcheck import check_grids
from jurisdiction.models import GridRules, Violation
from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock
from tests.conftest import OPERATOR
from tests.support.shapes import CELL_M2, box, layout
from tests.support.town import COM, OTHER, TOWN


def rules_of(found: list[Violation]) -> list[str]:
    return [v.rule for v in found]


def test_a_clean_tiling_passes(db: Database, clock: FixedClock) -> None:
    layout(
        db,
        clock,
        {
            "G01": {"boundary": box(0, 0, 1, 1), "addresses": ("幸福路1号",)},
            "G02": {"boundary": box(1, 0, 2, 1), "addresses": ("幸福路2号",)},
        },
        register=("幸福路1号", "幸福路2号"),
    )
    assert check_grids(db) == []


def test_a_gap_is_reported_with_its_area_and_community(db: Database, clock: FixedClock) -> None:
    layout(
        db, clock, {"G01": {"boundary": box(0, 0, 1, 1)}, "G02": {"boundary": box(1, 0, 1.9, 1)}}
    )
    (gap,) = check_grids(db)
    assert gap.rule == "coverage"
    assert gap.figure == pytest.approx(0.1 * CELL_M2, rel=1e-3)
    assert gap.units == (COM, "G02")
    # Units by their names, the code after each (the community is 幸福社区).
    assert f"gap of {0.1 * CELL_M2:.1f} m² in community 幸福社区 ({COM})" in gap.message
    assert "beside G02网格 (G02)" in gap.message


def test_an_overlap_names_both_grids_and_its_area(db: Database, clock: FixedClock) -> None:
    layout(
        db, clock, {"G01": {"boundary": box(0, 0, 1.25, 1)}, "G02": {"boundary": box(1, 0, 2, 1)}}
    )
    (overlap,) = check_grids(db)
    assert overlap.rule == "coverage"
    assert overlap.units == (COM, "G01", "G02")
    assert overlap.figure == pytest.approx(0.25 * CELL_M2, rel=1e-3)
    assert f"grids G01网格 (G01) and G02网格 (G02) of community 幸福社区 ({COM}) overlap by" in (
        overlap.message
    )


def test_a_grid_reaching_outside_its_community(db: Database, clock: FixedClock) -> None:
    layout(
        db, clock, {"G01": {"boundary": box(0, 0, 1, 1)}, "G02": {"boundary": box(1, 0, 2.5, 1)}}
    )
    (outside,) = check_grids(db)
    assert outside.units == (COM, "G02")
    assert outside.figure == pytest.approx(0.5 * CELL_M2, rel=1e-3)
    assert "reaches" in outside.message and "outside community" in outside.message


def test_slivers_within_the_tolerance_are_not_reported(db: Database, clock: FixedClock) -> None:
    layout(
        db, clock, {"G01": {"boundary": box(0, 0, 1, 1)}, "G02": {"boundary": box(1, 0, 1.999, 1)}}
    )
    assert rules_of(check_grids(db)) == ["coverage"]  # about 10.7 m² > 1 m²
    assert check_grids(db, GridRules(gap_tolerance_m2=20.0)) == []


def test_a_self_intersecting_polygon(db: Database, clock: FixedClock) -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[120, 30], [120.001, 30.001], [120.001, 30], [120, 30.001], [120, 30]]],
    }
    layout(db, clock, {"G01": {"boundary": bowtie}, "G02": {"boundary": box(1, 0, 2, 1)}})
    found = check_grids(db)
    boundary = [v for v in found if v.rule == "boundary"]
    assert len(boundary) == 1
    assert boundary[0].units == ("G01",)
    assert "not valid: Self-intersection[120.0005 30.0005]" in boundary[0].message
    # The coverage check still runs on a repaired shape: half of G01's square is uncovered.
    assert any(v.rule == "coverage" and "gap" in v.message for v in found)


def test_an_unclosed_ring(db: Database, clock: FixedClock) -> None:
    unclosed = box(0, 0, 1, 1)
    ring = unclosed["coordinates"][0]  # type: ignore[index]
    unclosed = {"type": "Polygon", "coordinates": [ring[:-1]]}
    layout(db, clock, {"G01": {"boundary": unclosed}, "G02": {"boundary": box(1, 0, 2, 1)}})
    (found,) = check_grids(db)
    assert found.rule == "boundary" and found.units == ("G01",)
    assert "ring 1 is not closed (starts at [120.0, 30.0], ends at [120.0, 30.001])" in (
        found.message
    )


def test_households_out_of_bounds_are_listed_with_their_figure(
    db: Database, clock: FixedClock
) -> None:
    layout(
        db,
        clock,
        {"G01": {"households": 250}, "G02": {"households": 500}, "G03": {"households": 612}},
    )
    add_unit(db, clock, OPERATOR, NewUnit("G04", "四网格", "grid", COM))
    found = check_grids(db)
    assert [(v.units, v.figure) for v in found] == [
        (("G01",), 250.0),
        (("G03",), 612.0),
        (("G04",), None),
    ]
    assert "G01网格 (G01) has 250 households, below the minimum 300" in found[0].message
    assert "G03网格 (G03) has 612 households, above the maximum 500" in found[1].message
    assert "no household figure" in found[2].message
    rural = check_grids(db, GridRules(households_min=200, households_max=700))
    assert [v.units for v in rural] == [("G04",)]


def test_an_address_claimed_by_two_grids(db: Database, clock: FixedClock) -> None:
    layout(
        db,
        clock,
        {"G01": {"addresses": ("幸福路1号", "幸福路2号")}, "G02": {"addresses": ("幸福路2号",)}},
    )
    (found,) = check_grids(db)
    assert found.rule == "address"
    assert found.units == ("G01", "G02")
    assert found.message == (
        "address '幸福路2号' is claimed by 2 grids: G01网格 (G01), G02网格 (G02)"
    )


def test_an_address_of_the_community_in_no_grid(db: Database, clock: FixedClock) -> None:
    layout(
        db,
        clock,
        {"G01": {"addresses": ("幸福路1号",)}, "G02": {"addresses": ("幸福路2号",)}},
        register=("幸福路1号", "幸福路2号", "幸福路3号"),
    )
    (found,) = check_grids(db)
    assert found.rule == "coverage" and found.units == (COM,)
    assert found.message == (
        f"address '幸福路3号' of community 幸福社区 ({COM}) is in none of its grids"
    )


def test_only_one_community_when_asked(db: Database, clock: FixedClock) -> None:
    layout(db, clock, {"G01": {"households": 100}})
    add_unit(db, clock, OPERATOR, NewUnit(OTHER, "和平社区", "community", TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("H01", "和平一", "grid", OTHER, households=900))
    assert [v.units for v in check_grids(db)] == [("G01",), ("H01",)]
    assert [v.units for v in check_grids(db, community=OTHER)] == [("H01",)]
