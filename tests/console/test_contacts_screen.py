"""The contacts screen: unit tree, a unit's people with masked phones, search, grid check."""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import DataTable, Input, Static, Tree

from console.tui.app import DutydeskApp
from console.tui.screens import ContactsScreen, IncidentsScreen
from contacts.people import NewPerson, add_person
from contacts.roster import add_post, add_rotation
from contacts.teams import add_team
from jurisdiction.units import NewUnit, add_unit
from tests.support.console import OPERATOR, settle

SIZE = (130, 36)
TOWN, COMM = "330106001000", "330106001001"


def box(west: float, east: float) -> dict[str, object]:
    ring = [[west, 30.0], [east, 30.0], [east, 30.001], [west, 30.001], [west, 30.0]]
    return {"type": "Polygon", "coordinates": [ring]}


def jurisdiction(ctx) -> None:
    """A community of two grids leaving a gap between them, one of them undersized."""
    db, clock = ctx.db, ctx.clock
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "青山街道", "township"))
    add_unit(
        db,
        clock,
        OPERATOR,
        NewUnit(COMM, "幸福社区", "community", TOWN, boundary=box(120.0, 120.003)),
    )
    add_unit(
        db,
        clock,
        OPERATOR,
        NewUnit("G01", "一网格", "grid", COMM, households=400, boundary=box(120.0, 120.001)),
    )
    add_unit(
        db,
        clock,
        OPERATOR,
        NewUnit("G02", "二网格", "grid", COMM, households=120, boundary=box(120.002, 120.003)),
    )
    add_person(db, clock, OPERATOR, NewPerson("王伟", "G01", "13800138000", roles=["网格长"]))
    add_person(db, clock, OPERATOR, NewPerson("李芳", "G02", "13900139000", roles=["网格员"]))
    add_team(db, clock, OPERATOR, "T-RESCUE", "应急救援队", "rescue", TOWN, "13800138000")


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_u_opens_the_contacts_with_the_tree_and_the_grid_check(ctx) -> None:
    jurisdiction(ctx)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ContactsScreen)
        tree = screen.query_one("#unit-tree", Tree)
        town = tree.root.children[0]
        assert str(town.label) == "青山街道"
        assert [str(n.label) for n in town.children] == ["幸福社区"]
        problems = rows(screen.query_one("#violations", DataTable))
        assert [p[0] for p in problems] == ["moderate scale", "seamless coverage"]
        assert "G02" in problems[0][1]
        # The township is shown first: both people of the street, phones masked.
        people = rows(screen.query_one("#people", DataTable))
        assert sorted(p[0] for p in people) == ["李芳", "王伟"]
        assert {p[3] for p in people} == {"138****8000", "139****9000"}
        facts = str(screen.query_one("#unit-facts", Static).render())
        assert "应急救援队 (rescue team, 1 member, leader 王伟)" in facts
        await pilot.press("escape")
        assert isinstance(app.screen, IncidentsScreen)


async def test_choosing_a_violation_shows_its_grid_and_search_finds_people(ctx) -> None:
    jurisdiction(ctx)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        screen = app.screen
        violations = screen.query_one("#violations", DataTable)
        violations.focus()
        violations.move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        facts = str(screen.query_one("#unit-facts", Static).render())
        assert "二网格" in facts and "120" in facts
        assert [p[0] for p in rows(screen.query_one("#people", DataTable))] == ["李芳"]

        await pilot.press("/")
        assert isinstance(app.focused, Input)
        await pilot.press(*"8000", "enter")
        await settle(pilot)
        assert [p[0] for p in rows(screen.query_one("#people", DataTable))] == ["王伟"]


async def test_who_is_on_duty_is_in_every_screens_header(ctx) -> None:
    jurisdiction(ctx)
    db, clock = ctx.db, ctx.clock
    add_post(db, clock, OPERATOR, "DO", "值班员")
    add_rotation(
        db,
        clock,
        OPERATOR,
        "DO",
        people=["王伟"],
        starts_on=(clock.now() - timedelta(days=1)).date(),
        shift_start="08:00",
        shift_hours=24,
        zone=ctx.config.timezone,
    )
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.title.endswith("on duty: 值班员 王伟")
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, ContactsScreen) and "王伟" in app.title
