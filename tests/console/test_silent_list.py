"""The silent list: one key from the dashboard, the phone one key away (audited), the answer
taken on the phone recorded; and enter on a mobilization line of the feed opens the
mobilization, not the case.

Grid G01 has a leader (王伟) and two members with phone numbers; two mobilizations run, the
older of the whole grid by broadcast (everyone called at once), the newer of the grid in
cascade (only the leader called yet). The engine is driven by hand, as in the mobilization
screen tests; another process holds the engine lease.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from textual.widgets import DataTable, Input, Label, Select

from console.tui.app import DutydeskApp
from console.tui.dialogs import AnswerDialog
from console.tui.screens import MobilizationScreen
from console.tui.screens.dashboard import DashboardScreen, FeedTable
from console.tui.screens.silent import SilentScreen
from contacts.people import NewPerson, add_person
from jurisdiction.units import NewUnit, add_unit
from mobilization import (
    Delivery,
    Routing,
    Target,
    build_default_tree,
    claim_pending,
    process_due,
    recipient_rows,
    record_deliveries,
    start_mobilization,
)
from store import lease
from tests.support.console import OPERATOR, settle, wait_until

SIZE = (120, 36)
TOWN, COM = "330106001000", "330106001001"
PHONES = {"王伟": "13800138001", "李芳": "13800138002", "赵强": "13800138003"}


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


def jurisdiction(ctx) -> None:
    db, clock = ctx.db, ctx.clock
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "一网格", "grid", parent=COM))
    for name, role in (("王伟", "grid_leader"), ("李芳", "grid_member"), ("赵强", "grid_member")):
        new = NewPerson(name=name, unit="G01", phone=PHONES[name], roles=[role])
        add_person(db, clock, OPERATOR, new, key=name)
    build_default_tree(db, clock, OPERATOR, timeout_s=300, repeats=1)


def drive(ctx) -> None:
    routing = Routing()
    for _ in range(20):
        moved = process_due(ctx.db, ctx.clock)
        out, failed = claim_pending(ctx.db, ctx.clock, routing)
        record_deliveries(
            ctx.db, ctx.clock, [Delivery(m.attempt_id, True, "") for m in out] + failed, routing
        )
        if not moved and not out and not failed:
            return
    raise AssertionError("the engine did not settle")


def two_mobilizations(ctx, incident_id: int | None = None) -> tuple[int, int]:
    older = start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="防汛集结",
        mode="broadcast",
    )
    drive(ctx)
    ctx.clock.advance(minutes=3)
    newer = start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="巡堤",
        incident_id=incident_id,
    )
    drive(ctx)
    ctx.clock.advance(minutes=2)
    return older, newer


def rows_of(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def recipient(ctx, mob_id: int, name: str) -> dict[str, object]:
    return next(r for r in recipient_rows(ctx.db, mob_id) if r["name"] == name)


async def open_silent(app: DutydeskApp, pilot) -> SilentScreen:
    await settle(pilot)
    assert isinstance(app.screen, DashboardScreen)
    await pilot.press("s")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, SilentScreen)
    return screen


async def test_s_opens_the_silent_newest_first_with_called_times(ctx) -> None:
    jurisdiction(ctx)
    older, newer = two_mobilizations(ctx)
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_silent(app, pilot)
        rows = rows_of(screen.query_one("#silent", DataTable))
        # The newer mobilization (only its leader called yet) first, then the older one's three.
        assert [(r[0], r[1]) for r in rows] == [
            (f"#{newer}", "王伟"),
            (f"#{older}", "王伟"),
            (f"#{older}", "李芳"),
            (f"#{older}", "赵强"),
        ]
        # Called at, in the office's zone (14:00 Shanghai is 06:00 UTC), and how long ago.
        assert rows[0][4] == "14:03 ⏳ 2m"
        assert rows[1][4] == "14:00 ⏳ 5m"
        assert rows[0][3] == "138****8001"  # masked until asked for
        title = str(screen.query_one("#silent-title", Label).render())
        assert "Still silent: 4 in 2 running mobilizations" in title

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationScreen)
        assert app.screen.mobilization_id == newer


async def test_p_shows_the_phone_and_audits_it(ctx) -> None:
    jurisdiction(ctx)
    two_mobilizations(ctx)
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_silent(app, pilot)
        table = screen.query_one("#silent", DataTable)
        table.move_cursor(row=2)  # 李芳
        await pilot.press("p")
        await settle(pilot)
        assert rows_of(table)[2][3] == "+8613800138002"
        assert rows_of(table)[3][3] == "138****8003"  # the others stay masked
        shown = ctx.db.conn.execute(
            "SELECT operator, data FROM events WHERE kind = 'personal_data_shown'"
        ).fetchall()
        assert len(shown) == 1
        operator, data = shown[0]
        assert operator == OPERATOR
        entry = json.loads(data)
        assert entry["what"] == "phones" and entry["count"] == 1
        assert "李芳" in entry["command"]


async def test_a_records_the_answer_taken_on_the_phone(ctx) -> None:
    jurisdiction(ctx)
    older, newer = two_mobilizations(ctx)
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_silent(app, pilot)
        table = screen.query_one("#silent", DataTable)
        table.move_cursor(row=3)  # 赵强 of the older mobilization
        await pilot.press("a")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, AnswerDialog)
        zhao = recipient(ctx, older, "赵强")
        assert dialog.query_one("#answer-who", Select).value == zhao["id"]
        dialog.query_one("#answer-eta", Input).value = "20"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        saved = recipient(ctx, older, "赵强")
        assert (saved["state"], saved["via"], saved["eta_min"]) == ("yes", "phone", 20)
        await wait_until(pilot, lambda: table.row_count == 3, what="赵强 leaving the list")
        assert "赵强" not in [r[1] for r in rows_of(table)]


async def test_enter_on_a_mobilization_line_of_the_feed_opens_the_mobilization(
    ctx, log_case
) -> None:
    jurisdiction(ctx)
    case = log_case("河堤渗水", "natural_disaster", grid="G01")
    _older, newer = two_mobilizations(ctx, incident_id=case.id)
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        feed = dashboard.query_one(FeedTable)
        line = next(i for i, item in enumerate(dashboard._feed) if item.mobilization_id == newer)
        assert dashboard._feed[line].incident_id == case.id  # the line has a case too
        feed.focus()
        feed.move_cursor(row=line)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationScreen)
        assert app.screen.mobilization_id == newer
