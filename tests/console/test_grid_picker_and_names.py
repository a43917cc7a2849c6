"""Issue 14 wiring: the new-case form picks its grid, the case screen names people, the queue
says when no engine runs.

* The grid of a new case is picked as a target is (:class:`~console.tui.widgets.picker.Picker`):
  Chinese (幸福), pinyin initials (``xf``) or the code; enter takes the grid and moves on to the
  reporter without saving the half-filled form; a code typed exactly but never picked (``G01``)
  still names its grid; a name that names none is refused under the field, nothing saved; the
  likely duplicates follow the grid picked.
* The case screen shows its assignee and its timeline's targets by name (刘静, 消防志愿队,
  ``grid G01 (G01网格)``), never ``person:#3`` or ``person #3``.
* The incidents view's status line says "no engine running since HH:MM — escalations paused"
  when the lease is free, as the dashboard does, and clears when an engine holds it again.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, OptionList, Static

from console.tui.app import DutydeskApp
from console.tui.dialogs import NewIncidentDialog
from console.tui.screens import IncidentDetailScreen, IncidentsScreen
from console.tui.widgets.picker import Picker
from contacts.people import NewPerson, add_person
from contacts.teams import add_team
from incidents import workflow
from incidents.records import get_incident
from jurisdiction.units import NewUnit, add_unit
from store import lease
from tests.support.console import settle, wait_until
from tests.support.town import COM, TOWN, build_town

SIZE = (120, 36)


@pytest.fixture
def town(ctx):  # noqa: ANN001, ANN201 - fixtures
    """The small town (grids G01, G02 of 幸福社区), grid G03 幸福花园网格, the fire team
    消防志愿队 and 刘静 in G01."""
    build_town(ctx.db, ctx.clock, starts_on=date(2026, 1, 1))
    add_unit(ctx.db, ctx.clock, "t", NewUnit("G03", "幸福花园网格", "grid", parent=COM))
    add_team(ctx.db, ctx.clock, "t", "T-FIRE", "消防志愿队", "firefighting", TOWN)
    add_person(ctx.db, ctx.clock, "t", NewPerson("刘静", "G01", "13900000001"))
    return ctx


def grid_picker(app: DutydeskApp) -> Picker:
    return app.screen.query_one("#new-grid", Picker)


async def open_form(app: DutydeskApp, pilot, title: str) -> NewIncidentDialog:  # noqa: ANN001
    await settle(pilot)
    await pilot.press("n")
    dialog = app.screen
    assert isinstance(dialog, NewIncidentDialog)
    await pilot.press(*title)
    await pilot.press("tab", "enter", "down", "down", "enter")  # category: accident disaster
    await pilot.press("tab", "enter", "down", "enter")  # type: the first one
    await settle(pilot)
    grid_picker(app).focus()
    return dialog


def offered(app: DutydeskApp) -> list[str]:
    return [c.target.code for c in grid_picker(app).candidates()]


async def test_chinese_picks_the_grid_and_enter_moves_on_without_saving(town) -> None:  # noqa: ANN001
    app = DutydeskApp(town, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_form(app, pilot, "路面塌陷")
        await pilot.press(*"幸福")
        await wait_until(pilot, lambda: "G03" in offered(app), what="the grids offered")
        assert grid_picker(app).has_class("-open")
        await pilot.press("enter")  # takes the grid and moves on: the form is not saved
        await settle(pilot)
        assert app.screen is dialog
        picked = grid_picker(app).value
        assert picked is not None and picked.code == "G03"
        assert app.focused is dialog.query_one("#new-reporter-name", Input)
        assert town.db.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
        await pilot.press(*"张三", "tab", *"13800138000", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        saved = get_incident(town.db, 1)
        assert (saved.grid, saved.reporter_name) == ("G03", "张三")


async def test_pinyin_initials_and_tab_take_the_grid(town) -> None:  # noqa: ANN001
    app = DutydeskApp(town, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_form(app, pilot, "路面塌陷")
        await pilot.press("x", "f")
        await wait_until(pilot, lambda: offered(app) == ["G03"], what="幸福花园网格 alone")
        await pilot.press("tab")  # takes it
        assert grid_picker(app).text == "幸福花园网格"
        await pilot.press("tab")  # and moves on
        assert app.focused is dialog.query_one("#new-reporter-name", Input)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert get_incident(town.db, 1).grid == "G03"


async def test_a_code_typed_exactly_is_its_grid_and_a_stray_name_is_refused(town) -> None:  # noqa: ANN001
    app = DutydeskApp(town, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_form(app, pilot, "路面塌陷")
        await pilot.press(*"幸运")  # names no grid
        await pilot.press("ctrl+s")
        assert app.screen is dialog
        error = str(dialog.query_one("#reporter-error", Static).render())
        assert "Grid: no grid is called '幸运'" in error
        assert dialog.query_one("#new-grid").has_class("-invalid")
        assert town.db.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0

        await pilot.press("ctrl+u", *"g01")  # typed, never picked from the list
        assert grid_picker(app).value is None
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        assert get_incident(town.db, 1).grid == "G01"


async def test_the_likely_duplicates_follow_the_grid_picked(town, log_case) -> None:  # noqa: ANN001
    log_case("3号楼着火了", "accident_disaster", type="fire", grid="G03")
    app = DutydeskApp(town, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_form(app, pilot, "3号楼着火")
        listing = dialog.query_one("#new-duplicates", OptionList)

        def reasons() -> str:
            if not dialog.query_one("#new-duplicates-box").has_class("-shown"):
                return ""
            return " ".join(str(o.prompt) for o in listing.options)

        await wait_until(pilot, reasons, what="the case by its words", within=15)
        assert "same grid" not in reasons()
        await pilot.press("x", "f")
        await wait_until(pilot, lambda: offered(app) == ["G03"], what="the grid offered")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "same grid" in reasons(), what="the grid's case", within=15)


async def test_the_case_screen_names_its_assignee_and_targets(town, log_case) -> None:  # noqa: ANN001
    case = log_case("3号楼冒烟", "accident_disaster", type="fire", grid="G01")
    workflow.register(town.db, town.clock, town.policy, "seed", case.id)
    workflow.dispatch(town.db, town.clock, town.policy, "seed", case.id, "team:T-FIRE")
    liu = town.db.execute("SELECT id FROM people WHERE name = '刘静'").fetchone()[0]
    workflow.assign(town.db, town.clock, "seed", case.id, f"person:#{liu}")
    app = DutydeskApp(town, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(IncidentDetailScreen(case.id))
        await settle(pilot)
        table = app.screen.query_one("#timeline", DataTable)
        await wait_until(pilot, lambda: table.row_count >= 4, what="the timeline")
        facts = Console(width=200, record=True)
        facts.print(app.screen.query_one("#facts", Static).content)
        card = facts.export_text()
        assert "Assignee" in card and "刘静" in card
        cells = "\n".join(
            " ".join(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)
        )
        assert "消防志愿队 → 刘静" in cells
        assert "消防志愿队" in next(line for line in cells.splitlines() if "dispatched" in line)
        for code in ("person:", "person #", "team:", "team T-FIRE"):
            assert code not in card + cells, (code, card, cells)


async def test_the_queue_says_since_when_no_engine_runs(ctx) -> None:  # noqa: ANN001
    app = DutydeskApp(ctx, home="incidents")

    def line() -> str:
        return str(app.screen.query_one("#status", Static).render())

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "engine: here" in line()
        assert app.engine is not None
        await asyncio.to_thread(app.engine.stop)  # the console's engine is gone
        await wait_until(
            pilot,
            lambda: "no engine running since 14:00 — escalations paused" in line(),
            what="the paused line (the clean stop at 14:00 Shanghai)",
        )
        lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(minutes=5))
        await wait_until(
            pilot, lambda: "escalations paused" not in line(), what="the line to clear"
        )
        assert "engine: stopped" in line()  # the app's own word on its engine, once more
