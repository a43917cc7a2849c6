"""What the console shows people: the case screen's timeline in words, Textual's own palette
commands in the chosen language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from textual.command import CommandList
from textual.widgets import DataTable

from console.tui.app import DutydeskApp
from console.tui.i18n import SYSTEM_COMMANDS
from console.tui.screens import IncidentDetailScreen
from contacts.people import NewPerson, add_person
from jurisdiction.units import NewUnit, add_unit
from mobilization import Target, TargetKind, build_default_tree, start_mobilization
from store import lease
from store.i18n import _, set_language
from tests.support.console import OPERATOR, settle, wait_until

SIZE = (120, 40)
TOWN, COM = "330106001000", "330106001001"


@pytest.fixture
def chinese() -> Iterator[None]:
    set_language("zh_CN")
    yield
    set_language("en")


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


def street(ctx) -> None:
    db, clock = ctx.db, ctx.clock
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "一网格", "grid", parent=COM))
    person = NewPerson(name="王伟", unit="G01", roles=["grid_leader"], phone="13800138000")
    add_person(db, clock, OPERATOR, person, key="王伟")
    build_default_tree(db, clock, OPERATOR, timeout_s=300, repeats=1)


async def test_the_case_timeline_names_a_mobilization_in_words(ctx, log_case) -> None:
    street(ctx)
    case = log_case("河堤渗水", "natural_disaster", grid="G01")
    start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target(TargetKind.GRID, "G01")],
        message="请到岗",
        incident_id=case.id,
    )
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(IncidentDetailScreen(case.id))
        await settle(pilot)
        table = app.screen.query_one("#timeline", DataTable)
        await wait_until(pilot, lambda: table.row_count >= 2, what="the timeline")
        cells = [
            " ".join(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)
        ]
        started = next(row for row in cells if "mobilization started" in row)
        assert "grid G01" in started and "mobilization 1" in started
        text = "\n".join(cells)
        for code in ("mobilization_started", "['", "grid:G01", "targets"):
            assert code not in text, (code, text)


async def test_textual_palette_commands_are_in_chinese(ctx, chinese) -> None:
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for english in ("Quit", "Theme", "Screenshot", "Keys"):
            assert _(SYSTEM_COMMANDS[english]) in titles
        assert "退出" in titles and "Quit" not in titles and "Screenshot" not in titles
        await pilot.press("ctrl+p")

        def shown() -> list[str]:
            found = app.screen.query(CommandList)
            if not found:
                return []
            options = found.first()
            return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

        await wait_until(pilot, lambda: any("退出" in p for p in shown()), what="the palette")
        assert not any("Quit the application" in p for p in shown())
