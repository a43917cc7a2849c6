"""The jurisdiction tree: levels one below the other, division and grid codes, figures, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlite_utils import Database

from incidents.limits import Policy
from incidents.records import NewIncident, create_incident, get_incident
from incidents.workflow import edit
from jurisdiction.models import Level
from jurisdiction.units import (
    NewUnit,
    add_unit,
    addresses_of,
    get_unit,
    list_units,
    unit_detail,
    unit_to_json,
)
from store.audit import verify_chain
from store.clock import FixedClock
from store.errors import InvalidInput, NotFound
from tests.conftest import OPERATOR, events_count

TOWN = "330106001000"
COMM = "330106001001"


@pytest.fixture
def tree(db: Database, clock: FixedClock) -> Database:
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "北山街道", "street"))
    add_unit(db, clock, OPERATOR, NewUnit(COMM, "幸福社区", "village", parent=TOWN))
    add_unit(
        db,
        clock,
        OPERATOR,
        NewUnit("G01", "一网格", "grid", parent=COMM, households=320, addresses=(" 幸福路 1号",)),
    )
    return db


def test_a_tree_of_three_levels(tree: Database) -> None:
    town, comm, grid = get_unit(tree, TOWN), get_unit(tree, COMM), get_unit(tree, "G01")
    assert (town.level, comm.level, grid.level) == (Level.TOWNSHIP, Level.COMMUNITY, Level.GRID)
    # In English a level's name is its code; street/village were read as township/community.
    assert (town.level.label, comm.level.label, grid.level.label) == (
        "township",
        "community",
        "grid",
    )
    assert (town.parent_code, comm.parent_code, grid.parent_code) == (None, TOWN, COMM)
    assert grid.households == 320 and grid.current
    assert addresses_of(tree, "G01") == ["幸福路 1号"]  # whitespace collapsed
    assert [u.code for u in list_units(tree, level=Level.GRID)] == ["G01"]
    assert [u.code for u in list_units(tree, parent=COMM)] == ["G01"]
    detail = unit_detail(tree, COMM)
    assert [c.code for c in detail.children] == ["G01"]
    assert unit_to_json(grid)["parent"] == COMM


def test_levels_above_the_township_for_a_county_node(db: Database, clock: FixedClock) -> None:
    add_unit(db, clock, OPERATOR, NewUnit("330100000000", "杭州市", "city"))
    add_unit(db, clock, OPERATOR, NewUnit("330106000000", "西湖区", "county", "330100000000"))
    town = add_unit(db, clock, OPERATOR, NewUnit(TOWN, "北山街道", "township", "330106000000"))
    assert town.parent_code == "330106000000"


@pytest.mark.parametrize(
    ("new", "field", "says"),
    [
        (NewUnit("G02", "二网格", "grid", parent=TOWN), "parent", "goes under a community"),
        (NewUnit("330106001002", "社区", "community", parent=COMM), "parent", "under a township"),
        (NewUnit("12345", "社区", "community", parent=TOWN), "code", "12-digit"),
        (NewUnit("G 02", "二网格", "grid", parent=COMM), "code", "not a grid code"),
        (NewUnit("G01", "重复", "grid", parent=COMM), "code", "already exists"),
        (NewUnit("G02", " ", "grid", parent=COMM), "name", "name"),
        (NewUnit("G02", "二网格", "block", parent=COMM), "level", "unknown level"),
        (NewUnit("G02", "二网格", "grid", parent=COMM, households=-3), "households", ">= 0"),
        (NewUnit(COMM[:-1] + "9", "社区", "community", TOWN, households=3), "households", "grids"),
        (NewUnit("G02", "二", "grid", COMM, addresses=("a", "a")), "addresses", "twice"),
        (NewUnit("G02", "二", "grid", COMM, boundary={"type": "Point"}), "boundary", "Polygon"),
        (
            NewUnit(
                "G02",
                "二",
                "grid",
                COMM,
                boundary={"type": "Polygon", "coordinates": [[[30, 200], [1, 1], [0, 1]]]},
            ),
            "boundary",
            "[longitude, latitude]",
        ),
    ],
)
def test_bad_units_are_refused_naming_the_field(
    tree: Database, clock: FixedClock, new: NewUnit, field: str, says: str
) -> None:
    before = events_count(tree)
    with pytest.raises(InvalidInput) as refused:
        add_unit(tree, clock, OPERATOR, new)
    assert refused.value.field == field
    assert says in str(refused.value)
    assert events_count(tree) == before


def test_an_unknown_parent_is_not_found(tree: Database, clock: FixedClock) -> None:
    with pytest.raises(NotFound, match="no unit 330106009999"):
        add_unit(tree, clock, OPERATOR, NewUnit("G05", "五", "grid", parent="330106009999"))


def test_every_addition_is_audited(tree: Database) -> None:
    kinds = [
        r[0]
        for r in tree.conn.execute("SELECT json_extract(data, '$.code') FROM events ORDER BY id")
    ]
    assert kinds == [TOWN, COMM, "G01"]
    assert verify_chain(tree).ok


def test_cases_point_at_their_grid_unit(tree: Database, clock: FixedClock, policy: Policy) -> None:
    case = create_incident(
        tree, clock, policy, OPERATOR, NewIncident("漏水", "facilities", grid="G01")
    )
    grid_id = tree.conn.execute("SELECT grid_id FROM incidents WHERE id = ?", (case.id,))
    assert grid_id.fetchone()[0] == get_unit(tree, "G01").id
    with pytest.raises(InvalidInput, match="grid: no grid G77"):
        create_incident(
            tree, clock, policy, OPERATOR, NewIncident("漏水", "facilities", grid="G77")
        )
    with pytest.raises(InvalidInput, match="no grid G77"):
        edit(tree, clock, policy, OPERATOR, case.id, grid="G77")
    add_unit(tree, clock, OPERATOR, NewUnit("G02", "二网格", "grid", parent=COMM))
    edit(tree, clock, policy, OPERATOR, case.id, grid="G02")
    row = tree.conn.execute("SELECT grid, grid_id FROM incidents WHERE id = ?", (case.id,))
    assert tuple(row.fetchone()) == ("G02", get_unit(tree, "G02").id)


def test_without_grids_any_code_is_taken_and_linked_later(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case = create_incident(
        db, clock, policy, OPERATOR, NewIncident("漏水", "facilities", grid="G09")
    )
    assert get_incident(db, case.id).grid == "G09"
    unit = add_unit(db, clock, OPERATOR, NewUnit("G09", "九网格", "grid"))
    row = db.conn.execute("SELECT grid_id FROM incidents WHERE id = ?", (case.id,)).fetchone()
    assert row[0] == unit.id
    last = db.conn.execute("SELECT data FROM events ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert '"cases_linked":1' in last


def test_a_unit_can_be_dated_back_but_not_forward(db: Database, clock: FixedClock) -> None:
    since = clock.now() - timedelta(days=400)
    assert (
        add_unit(
            db, clock, OPERATOR, NewUnit(TOWN, "北山", "township"), valid_from=since
        ).valid_from
        == since
    )
    with pytest.raises(InvalidInput, match="since: .*future"):
        add_unit(
            db, clock, OPERATOR, NewUnit("G1", "一", "grid"), valid_from=clock.now() + timedelta(1)
        )
