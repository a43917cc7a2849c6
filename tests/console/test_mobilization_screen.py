"""The mobilization screens: what a duty officer sees, answers taken by phone, cancel, the list,
and the dialog that starts a mobilization from a case.

A small jurisdiction (one grid with a leader and two members, the community secretary as the
leader's alternate) is mobilized through the domain and driven one step by hand, as the engine
would, so the leader has been sent the message before the console opens. Another process holds
the engine lease, so the console's own engine leaves the mobilization alone: what the screen
shows is only what the test did.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, Static, Tree

from console.tui.app import DutydeskApp
from console.tui.dialogs import AnswerDialog, MobilizeDialog, MobilizeRequest, YesNoDialog
from console.tui.screens import MobilizationScreen, MobilizationsScreen
from console.tui.screens import mobilization as mobilization_screen
from contacts.people import NewPerson, add_person
from jurisdiction.units import NewUnit, add_unit
from mobilization import (
    Delivery,
    Routing,
    Target,
    attempts_of,
    build_default_tree,
    claim_pending,
    get_mobilization,
    process_due,
    recipient_rows,
    record_deliveries,
    start_mobilization,
)
from store import lease
from tests.support.console import OPERATOR, settle, wait_until

SIZE = (120, 36)
TOWN, COM = "330106001000", "330106001001"


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    """A ``dutydesk serve`` elsewhere holds the engine lease (for a day of the fixed clock)."""
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


def jurisdiction(ctx) -> None:
    """A township, a community and grid G01 (leader 王伟, members 李芳 and 赵强), and its tree."""
    db, clock = ctx.db, ctx.clock
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "一网格", "grid", parent=COM))
    for name, unit, role in (
        ("秦岚", COM, "community_secretary"),
        ("王伟", "G01", "grid_leader"),
        ("李芳", "G01", "grid_member"),
        ("赵强", "G01", "grid_member"),
    ):
        add_person(db, clock, OPERATOR, NewPerson(name=name, unit=unit, roles=[role]), key=name)
    build_default_tree(db, clock, OPERATOR, timeout_s=300, repeats=1)


def drive(ctx) -> None:
    """One pass of the engine: send what is due, every message delivered."""
    routing = Routing()
    for _ in range(20):
        moved = process_due(ctx.db, ctx.clock)
        out, failed = claim_pending(ctx.db, ctx.clock, routing)
        delivered = [Delivery(m.attempt_id, True, "") for m in out]
        record_deliveries(ctx.db, ctx.clock, delivered + failed, routing)
        if not moved and not out and not failed:
            return
    raise AssertionError("the engine did not settle")


def mobilize(ctx, **options) -> int:
    mob_id = start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="防汛集结 flood muster",
        **options,
    )
    drive(ctx)
    return mob_id


def recipient(ctx, mob_id: int, name: str) -> dict[str, object]:
    return next(r for r in recipient_rows(ctx.db, mob_id) if r["name"] == name)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def tree_lines(screen) -> list[str]:
    """Every node of the mobilization's tree as plain text, depth first."""
    lines: list[str] = []

    def walk(node) -> None:
        for child in node.children:
            lines.append(str(child.label))
            walk(child)

    walk(screen.query_one("#mob-tree", Tree).root)
    return lines


def table_rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_mobilization(app: DutydeskApp, pilot, mob_id: int) -> MobilizationScreen:
    await settle(pilot)
    app.push_screen(MobilizationScreen(mob_id))
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, MobilizationScreen)
    return screen


async def test_shows_the_head_counters_nodes_and_the_silent(ctx, clock, monkeypatch) -> None:
    monkeypatch.setattr(mobilization_screen, "TICK_SECONDS", 0.05)
    jurisdiction(ctx)
    mob_id = mobilize(ctx, exercise=True)
    code = recipient(ctx, mob_id, "王伟")["code"]
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_mobilization(app, pilot, mob_id)
        head = text_of(screen, "#mob-head")
        for part in (f"Mobilization #{mob_id}", "防汛集结 flood muster", "cascade", "EXERCISE"):
            assert part in head
        assert "● active" in head
        counters = text_of(screen, "#mob-counters")
        assert "→ notified 1" in counters
        assert "✔ said yes 0" in counters
        assert "⏳ silent 1" in counters
        assert "of 1" in counters
        assert "p50 —" in text_of(screen, "#mob-times")  # nobody answered yet

        leader, members = tree_lines(screen)
        assert leader.startswith("→ calling  一网格 网格长  0/1 said yes  ⏳ 0s")
        assert members.startswith("· waiting  一网格 网格员")
        silent = table_rows(screen.query_one("#mob-silent", DataTable))
        assert [row[:3] for row in silent] == [["王伟", "一网格 网格长", code]]
        assert silent[0][3] == "14:00 ⏳ 0s"

        clock.advance(minutes=4)  # the elapsed times move on without a read
        await wait_until(
            pilot, lambda: tree_lines(screen)[0].endswith("⏳ 4m"), what="the next second's tick"
        )
        assert table_rows(screen.query_one("#mob-silent", DataTable))[0][3] == "14:00 ⏳ 4m"


async def test_an_answer_taken_by_phone_is_recorded_and_shown(ctx) -> None:
    jurisdiction(ctx)
    mob_id = mobilize(ctx)
    code = str(recipient(ctx, mob_id, "王伟")["code"])
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_mobilization(app, pilot, mob_id)
        await pilot.press("a")
        dialog = app.screen
        assert isinstance(dialog, AnswerDialog)
        # The highlighted silent row is the one picked.
        assert dialog.query_one("#answer-code", Input).value == code
        assert dialog.query_one("#answer-who", Select).value == recipient(ctx, mob_id, "王伟")["id"]

        dialog.query_one("#answer-code", Input).value = "999999"
        await pilot.press("enter")
        assert app.screen is dialog
        assert "no one in this mobilization has code 999999" in text_of(dialog, "#code-error")

        dialog.query_one("#answer-code", Input).value = code
        dialog.query_one("#answer-eta", Input).focus()
        await pilot.press(*"15", "enter")
        await settle(pilot)

        assert app.screen is screen
        saved = recipient(ctx, mob_id, "王伟")
        assert (saved["state"], saved["via"], saved["eta_min"]) == ("yes", "phone", 15)
        assert tree_lines(screen)[0].startswith("✔ said yes  一网格 网格长  1/1 said yes")
        assert "✔ said yes 1" in text_of(screen, "#mob-counters")
        assert "p50 0s" in text_of(screen, "#mob-times")

        # The yes released the members; one of them, picked from the list, can't come.
        await pilot.press("a")
        dialog = app.screen
        assert isinstance(dialog, AnswerDialog)
        zhao = recipient(ctx, mob_id, "赵强")
        dialog.query_one("#answer-who", Select).value = zhao["id"]
        await pilot.pause()
        assert dialog.query_one("#answer-code", Input).value == zhao["code"]  # filled in
        dialog.query_one("#answer-yes", Select).value = "no"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert recipient(ctx, mob_id, "赵强")["state"] == "no"
        assert "✘ said no 1" in text_of(screen, "#mob-counters")
        assert tree_lines(screen)[1].startswith("→ calling  一网格 网格员  0/2 said yes")


async def test_resend_and_cancel_ask_first(ctx) -> None:
    jurisdiction(ctx)
    mob_id = mobilize(ctx)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_mobilization(app, pilot, mob_id)
        leader = int(recipient(ctx, mob_id, "王伟")["id"])
        await pilot.press("r")
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        assert [a["kind"] for a in attempts_of(ctx.db, leader)] == ["notify", "notify"]

        assert screen.check_action("cancel_mobilization", ()) is True
        await pilot.press("c")
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("n")  # kept
        await settle(pilot)
        assert get_mobilization(ctx.db, mob_id).state == "active"

        await pilot.press("c", "y")
        await settle(pilot)
        assert get_mobilization(ctx.db, mob_id).state == "cancelled"
        assert "× cancelled" in text_of(screen, "#mob-head")
        assert tree_lines(screen)[1].startswith("× cancelled")
        # Over: nothing left to resend or cancel.
        assert screen.check_action("cancel_mobilization", ()) is None
        assert screen.check_action("resend", ()) is None


async def test_the_list_shows_newest_first_and_enter_opens_one(ctx) -> None:
    jurisdiction(ctx)
    first = mobilize(ctx)
    second = start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="消防演练",
        mode="broadcast",
        exercise=True,
    )
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(MobilizationsScreen())
        await settle(pilot)
        table = app.screen.query_one("#mobilizations", DataTable)
        rows = table_rows(table)
        assert [row[0] for row in rows] == [str(second), str(first)]
        assert rows[0][3] == "broadcast" and "EXERCISE" in rows[0][4]
        assert rows[1][4] == ""
        assert rows[1][5] == "● active"
        assert rows[1][6].endswith("0/0/1 of 1")  # yes/no/silent of total

        table.move_cursor(row=1)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationScreen)
        assert app.screen.mobilization_id == first
        await pilot.press("escape")
        assert isinstance(app.screen, MobilizationsScreen)


async def test_the_mobilize_dialog_checks_each_field_and_returns_a_request(ctx, log_case) -> None:
    jurisdiction(ctx)
    case = log_case("河堤渗水", "natural_disaster", grid="G01")
    results: list[MobilizeRequest | None] = []
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(MobilizeDialog.for_incident(case), results.append)
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, MobilizeDialog)
        assert dialog.targets == (Target("grid", "G01"),)  # the case's grid
        # The category's template filled from the case (no location: its grid is the place,
        # by name once read).
        await settle(pilot)
        message = dialog.query_one("#mobilize-message", Input).value
        assert message.startswith("05-20 14:00, 一网格: 河堤渗水. Please come on duty at once")

        await pilot.press("ctrl+r")  # the grid taken off: nothing to call
        dialog.query_one("#mobilize-need", Input).value = "0"
        await pilot.press("ctrl+s")
        assert app.screen is dialog and not results
        assert "choose at least one grid or team" in text_of(dialog, "#targets-error")
        assert "whole number ≥ 1" in text_of(dialog, "#need-error")
        assert dialog.query_one("#need-error").has_class("-shown")
        assert dialog.query_one("#mobilize-need").has_class("-invalid")
        assert app.focused is dialog.query_one("#mobilize-targets--input")

        # Written targets are taken too (without repeats), for tree nodes the picker lacks.
        typed = dialog.query_one("#mobilize-targets--input", Input)
        typed.value = "grid:G01，team:T-RESCUE grid:G01"
        await pilot.press("enter")
        assert dialog.targets == (Target("grid", "G01"), Target("team", "T-RESCUE"))
        dialog.query_one("#mobilize-need", Input).value = "2"
        dialog.query_one("#mobilize-mode", Select).value = "broadcast"
        dialog.query_one("#mobilize-exercise", Checkbox).focus()
        await pilot.press("space", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, YesNoDialog) and not results  # asks first
        await pilot.press("y")
        await pilot.pause()
        assert results == [
            MobilizeRequest(
                targets=(Target("grid", "G01"), Target("team", "T-RESCUE")),
                message=message,
                mode="broadcast",
                need=2,
                exercise=True,
            )
        ]


async def test_renders_on_a_small_terminal(ctx) -> None:
    jurisdiction(ctx)
    mobilize(ctx, exercise=True)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(MobilizationsScreen())
        await settle(pilot)
        assert app.screen.query_one("#mobilizations", DataTable).size.height > 1
        app.export_screenshot()
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MobilizationScreen)
        # Narrow: the nodes sit above the silent, both the full width with room for a few lines.
        assert screen.query_one("#mob-body").has_class("-narrow")
        for part in ("#mob-tree", "#mob-silent"):
            size = screen.query_one(part).size
            assert size.width >= 70 and size.height >= 4, (part, size)
        app.export_screenshot()
        await pilot.press("a")
        assert isinstance(app.screen, AnswerDialog)
        app.export_screenshot()
