"""Dynamic adjustment: split then merge, with history, moved cases and an audit trail."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlite_utils import Database

from incidents.models import Stage
from incidents.records import get_incident, timeline
from jurisdiction.adjust import merge_grids, spec_from_json, split_grid
from jurisdiction.gridcheck import check_grids
from jurisdiction.models import GridRules, GridSpec
from jurisdiction.units import NewUnit, add_unit, addresses_of, get_unit, predecessors_of
from store.audit import verify_chain
from store.clock import FixedClock
from store.errors import InvalidInput
from tests.conftest import OPERATOR, MakeCase, events_count
from tests.support.shapes import box, layout
from tests.support.town import COM, OTHER, TOWN

ADDRESSES = ("幸福路1号", "幸福路2号", "幸福路3号")


@pytest.fixture
def one_grid(db: Database, clock: FixedClock) -> Database:
    """G01 covers the whole 2 × 1 community, with 700 households and three addresses."""
    layout(
        db, clock, {"G01": {"boundary": box(0, 0, 2, 1), "households": 700, "addresses": ADDRESSES}}
    )
    clock.advance(days=1)
    return db


def halves(**extra: object) -> list[GridSpec]:
    left = {"code": "G01A", "name": "一网格西", "boundary": box(0, 0, 1, 1), "households": 350}
    right = {"code": "G01B", "name": "一网格东", "boundary": box(1, 0, 2, 1), "households": 350}
    left["addresses"] = ["幸福路1号"]
    right["addresses"] = ["幸福路2号", "幸福路3号"]
    right.update(extra)
    return [spec_from_json(left, "left"), spec_from_json(right, "right")]


def grid_of(db: Database, case_id: int) -> str:
    row = db.conn.execute(
        "SELECT u.code, i.grid FROM incidents i JOIN units u ON u.id = i.grid_id WHERE i.id = ?",
        (case_id,),
    ).fetchone()
    assert row[0] == row[1]  # the displayed code follows the foreign key
    return str(row[0])


def test_split_then_merge_keeps_history_and_moves_open_cases(
    one_grid: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    db = one_grid
    east = {"lat": 30.0005, "lon": 120.0015}
    west = {"lat": 30.0005, "lon": 120.0005}
    unplaced = make_case(Stage.HANDLING, grid="G01")
    by_location = make_case(Stage.REGISTERED, grid="G01", **east)
    listed = make_case(Stage.REPORTED, grid="G01", **west)
    closed = make_case(Stage.CLOSED, grid="G01", **east)
    effective = clock.now() - timedelta(hours=2)

    split = split_grid(db, clock, OPERATOR, "G01", halves(cases=[listed.number]), effective)

    assert split.cases_moved == {
        unplaced.number: "G01A",
        by_location.number: "G01B",
        listed.number: "G01B",
    }
    old = get_unit(db, "G01")
    assert (old.valid_to, old.successors) == (effective, ("G01A", "G01B"))
    assert get_unit(db, "G01A").valid_from == effective
    assert get_unit(db, "G01B").parent_code == COM
    assert addresses_of(db, "G01") == []
    assert addresses_of(db, "G01", include_history=True) == list(ADDRESSES)
    assert addresses_of(db, "G01B") == ["幸福路2号", "幸福路3号"]
    assert grid_of(db, closed.id) == "G01"  # past cases stay where they happened
    assert [grid_of(db, c.id) for c in (unplaced, by_location, listed)] == ["G01A", "G01B", "G01B"]
    moved = [e for e in timeline(db, by_location.id) if e.kind == "grid_moved"]
    assert [e.data for e in moved] == [{"from": "G01", "to": "G01B", "rule": "location"}]
    assert "grid_moved" not in [e.kind for e in timeline(db, closed.id)]
    assert check_grids(db) == []  # the halves tile the community

    clock.advance(days=3)
    merged = merge_grids(
        db, clock, OPERATOR, ["G01A", "G01B"], GridSpec("G01C", "一网格"), clock.now()
    )

    assert merged.cases_moved == {n.number: "G01C" for n in (unplaced, by_location, listed)}
    new = get_unit(db, "G01C")
    assert new.households == 700
    assert new.boundary is not None
    assert [p.code for p in predecessors_of(db, "G01C")] == ["G01A", "G01B"]
    assert get_unit(db, "G01A").successors == ("G01C",)
    assert addresses_of(db, "G01C") == list(ADDRESSES)
    assert grid_of(db, closed.id) == "G01"
    kinds = [r[0] for r in db.conn.execute("SELECT kind FROM events WHERE kind LIKE 'grid_%'")]
    assert kinds == ["grid_split", *["grid_moved"] * 3, "grid_merge", *["grid_moved"] * 3]
    merge_event = db.conn.execute("SELECT data FROM events WHERE kind = 'grid_merge'").fetchone()[0]
    assert json.loads(merge_event)["grids"] == ["G01A", "G01B"]
    assert verify_chain(db).ok
    scale = [v for v in check_grids(db) if v.rule == "scale"]
    assert [v.figure for v in scale] == [700.0]  # too big again: the merge was a choice
    # The merged boundary is the union of the halves: still no gap and no overlap.
    assert check_grids(db, GridRules(households_max=800)) == []


def test_an_address_left_out_of_every_part_is_refused(
    one_grid: Database, clock: FixedClock
) -> None:
    parts = halves()
    parts[1] = GridSpec("G01B", "一网格东", addresses=("幸福路2号",))
    before = events_count(one_grid)
    with pytest.raises(InvalidInput, match="address '幸福路3号' of grid G01 is given to no part"):
        split_grid(one_grid, clock, OPERATOR, "G01", parts, clock.now())
    assert events_count(one_grid) == before
    assert get_unit(one_grid, "G01").current


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"code": "G01"}, "already exists"),
        ({"addresses": ["幸福路1号", "幸福路2号", "幸福路3号"]}, "given to both"),
        ({"cases": ["2026-999999"]}, "not an open case of grid G01"),
        ({"boundary": {"type": "LineString"}}, "Polygon"),
    ],
)
def test_bad_split_specs_are_refused(
    one_grid: Database, clock: FixedClock, change: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidInput, match=says):
        split_grid(one_grid, clock, OPERATOR, "G01", halves(**change), clock.now())
    assert get_unit(one_grid, "G01").current


def test_effective_times_are_checked(one_grid: Database, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="future"):
        split_grid(one_grid, clock, OPERATOR, "G01", halves(), clock.now() + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="only exists from"):
        split_grid(one_grid, clock, OPERATOR, "G01", halves(), clock.now() - timedelta(days=9))


def test_retired_grids_cannot_be_adjusted_again(one_grid: Database, clock: FixedClock) -> None:
    split_grid(one_grid, clock, OPERATOR, "G01", halves(), clock.now())
    with pytest.raises(InvalidInput, match="already replaced by G01A, G01B"):
        merge_grids(one_grid, clock, OPERATOR, ["G01", "G01A"], GridSpec("G9", "九"), clock.now())


def test_grids_of_two_communities_are_not_merged(one_grid: Database, clock: FixedClock) -> None:
    add_unit(one_grid, clock, OPERATOR, NewUnit(OTHER, "和平社区", "community", TOWN))
    add_unit(one_grid, clock, OPERATOR, NewUnit("H01", "和平一", "grid", OTHER))
    with pytest.raises(InvalidInput, match="different communities"):
        merge_grids(one_grid, clock, OPERATOR, ["G01", "H01"], GridSpec("X1", "X"), clock.now())


def test_a_case_can_still_be_read_after_its_grid_is_retired(
    one_grid: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    closed = make_case(Stage.CLOSED, grid="G01")
    split_grid(one_grid, clock, OPERATOR, "G01", halves(), clock.now())
    assert get_incident(one_grid, closed.id).grid == "G01"


def _person(db: Database, key: str, grid: str, phone: str | None = None) -> None:
    """A person row in ``grid`` (the people service is not needed to test the move)."""
    db.conn.execute(
        "INSERT INTO people (key, name, unit_id, phone, created_at, updated_at)"
        " VALUES (?, ?, (SELECT id FROM units WHERE code = ?), ?, 'x', 'x')",
        (key, key, grid, phone),
    )


def _unit_of(db: Database, key: str) -> str:
    row = db.conn.execute(
        "SELECT u.code FROM people p JOIN units u ON u.id = p.unit_id WHERE p.key = ?", (key,)
    ).fetchone()
    return str(row[0])


def test_people_move_with_a_split_and_a_merge(one_grid: Database, clock: FixedClock) -> None:
    db = one_grid
    _person(db, "leader", "G01", "+8613800138000")
    _person(db, "member", "G01")
    done = split_grid(db, clock, OPERATOR, "G01", halves(people=["+8613800138000"]), clock.now())
    assert done.people_moved == {"leader": "G01B", "member": "G01A"}
    assert (_unit_of(db, "leader"), _unit_of(db, "member")) == ("G01B", "G01A")
    moves = db.conn.execute(
        "SELECT data FROM events WHERE kind = 'person_moved' ORDER BY id"
    ).fetchall()
    assert [json.loads(m[0])["to"] for m in moves] == ["G01B", "G01A"]
    assert all("+86" not in m[0] for m in moves)  # the audit log names people by key
    clock.advance(days=1)
    merged = merge_grids(
        db, clock, OPERATOR, ["G01A", "G01B"], GridSpec(code="G01C", name="合并"), clock.now()
    )
    assert merged.people_moved == {"leader": "G01C", "member": "G01C"}
    assert verify_chain(db).ok


def test_a_split_listing_a_stranger_is_refused_and_moves_nothing(
    one_grid: Database, clock: FixedClock
) -> None:
    db = one_grid
    _person(db, "member", "G01")
    before = events_count(db)
    with pytest.raises(InvalidInput, match="person nobody is not in grid G01"):
        split_grid(db, clock, OPERATOR, "G01", halves(people=["nobody"]), clock.now())
    assert events_count(db) == before and _unit_of(db, "member") == "G01"
