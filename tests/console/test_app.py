"""Pilot tests of the console: logging, advancing, refreshing, paging, the engine lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.command import CommandList
from textual.widgets import Checkbox, DataTable, Input, Select, Static

from console.config import Config
from console.tui.app import DutydeskApp
from console.tui.dialogs import ExtensionDialog, NewIncidentDialog, TextDialog, YesNoDialog
from console.tui.screens import IncidentDetailScreen, IncidentsScreen
from console.tui.screens import incidents as incidents_screen
from console.tui.screens.incidents import COLUMNS, PAGE, READ_AHEAD
from console.tui.widgets.picker import Picker
from incidents import workflow
from incidents.models import Stage
from incidents.records import NewIncident, create_incident, get_incident, timeline
from store import lease
from store.db import connect
from tests.support.console import OPERATOR, officer_entries, settle, wait_until

COLUMN = {key: index for index, (key, _) in enumerate(COLUMNS)}
TITLE, GRID, LEFT = COLUMN["title"], COLUMN["grid"], COLUMN["left"]

SIZE = (120, 36)


def rows(app: DutydeskApp) -> list[list[str]]:
    """The incidents table as plain text, row by row."""
    table = app.screen.query_one("#incidents", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def status(app: DutydeskApp) -> str:
    return str(app.screen.query_one("#status", Static).render())


@pytest.fixture
def notes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every notification the console raises, as (severity, message)."""
    seen: list[tuple[str, str]] = []
    original = DutydeskApp.notify

    def record(self: DutydeskApp, message: str, **kwargs: object) -> None:
        seen.append((str(kwargs.get("severity", "information")), message))
        original(self, message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DutydeskApp, "notify", record)
    return seen


async def test_opens_on_the_active_cases_sorted_by_deadline(ctx, log_case, clock):
    log_case("路灯不亮", "facilities", type="streetlight")
    clock.advance(minutes=5)
    log_case("仓库起火", "accident_disaster", type="fire", severity="I", urgency="very_urgent")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        table = rows(app)
        assert [r[TITLE] for r in table] == [
            "仓库起火",
            "路灯不亮",
        ]  # 15 minutes vs 2 working hours
        assert table[0][1].strip() == "I"
        assert table[0][LEFT] == "15m"
        assert "open 2" in status(app)
        assert "engine: here" in status(app)


async def test_log_a_case_with_the_form_advance_it_and_see_it_in_the_table(ctx):
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, NewIncidentDialog)
        await pilot.press(*"3号楼燃气泄漏")
        await pilot.press("tab", "enter", "down", "down", "enter")  # category: accident
        await pilot.press("tab", "enter", "down", "down", "down", "enter")  # type: gas leak
        app.screen.query_one("#new-grid", Picker).focus()
        await pilot.press(*"G01")  # typed, not picked from the list: taken as written
        await pilot.press("ctrl+s")
        await settle(pilot)

        assert isinstance(app.screen, IncidentsScreen)
        [row] = rows(app)
        assert row[0] == "2026-000001"
        assert row[2] == "reported"
        assert row[TITLE] == "3号楼燃气泄漏"
        assert row[GRID] == "G01"
        saved = get_incident(ctx.db, "2026-000001")
        assert (saved.category, saved.type) == ("accident_disaster", "gas_leak")
        assert saved.stage is Stage.REPORTED

        await pilot.press("a")  # register
        await settle(pilot)
        assert rows(app)[0][2] == "registered"
        await pilot.press("a")  # dispatch, to its own grid
        await settle(pilot)
        assert rows(app)[0][2] == "dispatched"
        incident = get_incident(ctx.db, 1)
        assert incident.stage is Stage.DISPATCHED
        assert incident.assignee == "grid:G01"
        # The officer's three steps are the officer's; the engine then sends the dispatched
        # case to the field (nobody is on G01's roster here, which it says).
        await wait_until(
            pilot,
            lambda: len(timeline(ctx.db, 1)) == 4,
            what="the engine's field_sent on the case",
        )
        assert [(e.kind, e.operator) for e in timeline(ctx.db, 1)] == [
            ("reported", OPERATOR),
            ("register", OPERATOR),
            ("dispatch", OPERATOR),
            ("field_sent", "engine"),
        ]


async def test_the_form_shows_each_error_next_to_its_field_and_stays_open(ctx):
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "ctrl+s")
        dialog = app.screen
        assert isinstance(dialog, NewIncidentDialog)
        error = dialog.query_one("#title-error", Static)
        assert "a title is required" in str(error.render())
        assert error.has_class("-shown")
        assert dialog.query_one("#new-title").has_class("-invalid")
        assert app.focused is dialog.query_one("#new-title")

        await pilot.press(*"漏水")
        assert not dialog.query_one("#new-title").has_class("-invalid")  # fixed as typed
        dialog.query_one("#new-reporter-phone", Input).focus()
        await pilot.press(*"12ab", "tab")  # leaving the field checks it
        assert "not a phone number" in str(dialog.query_one("#reporter-error", Static).render())

        await pilot.press("ctrl+s")  # the category is still missing, the phone still wrong
        assert app.screen is dialog
        assert "choose a category" in str(dialog.query_one("#class-error", Static).render())
        assert "not a phone number" in str(dialog.query_one("#reporter-error", Static).render())
        assert app.focused is dialog.query_one("#new-category")

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        assert ctx.db.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0


async def test_feedback_and_verification_ask_for_what_they_need(ctx, log_case):
    case = log_case("井盖缺失", "facilities", type="manhole", grid="G02")
    for step in (workflow.register, workflow.dispatch, workflow.handle):
        step(ctx.db, ctx.clock, ctx.policy, "seed", case.id)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, TextDialog)
        await pilot.press("enter")  # empty: refused, the dialog stays
        assert isinstance(app.screen, TextDialog)
        await pilot.press(*"已补装井盖", "enter")
        await settle(pilot)
        assert get_incident(ctx.db, case.id).stage is Stage.FEEDBACK
        assert officer_entries(ctx.db, case.id)[-1].data["result"] == "已补装井盖"

        await pilot.press("a")
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("n")  # failed: asks why, then back to handling
        assert isinstance(app.screen, TextDialog)
        await pilot.press(*"井盖型号不对", "enter")
        await settle(pilot)
        assert get_incident(ctx.db, case.id).stage is Stage.HANDLING
        assert rows(app)[0][2] == "handling"


async def test_void_return_and_park_take_a_reason(ctx, log_case):
    false_alarm = log_case("误报 测试")
    sent = log_case("垃圾堆放", "environment", type="garbage")
    for step in (workflow.register, workflow.dispatch, workflow.handle):
        step(ctx.db, ctx.clock, ctx.policy, "seed", sent.id)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        table.move_cursor(row=table.get_row_index(str(false_alarm.id)))
        await pilot.press("v", *"重复来电", "enter")
        await settle(pilot)
        assert get_incident(ctx.db, false_alarm.id).stage is Stage.VOIDED
        assert [r[TITLE] for r in rows(app)] == ["垃圾堆放"]  # voided cases leave the queue

        await pilot.press("r", *"派错网格", "enter")
        await settle(pilot)
        assert get_incident(ctx.db, sent.id).stage is Stage.DISPATCHED

        await pilot.press("p", *"等待专项资金", "enter")
        await settle(pilot)
        assert get_incident(ctx.db, sent.id).parked
        assert rows(app) == []
        assert app.screen.query_one("#empty").display

        await pilot.click("#with-parked")
        await settle(pilot)
        assert rows(app)[0][2] == "dispatched parked"
        await pilot.press("p")  # unpark needs no reason
        await settle(pilot)
        assert not get_incident(ctx.db, sent.id).parked


async def test_merge_and_reopen_from_the_palette_actions(ctx, log_case):
    """Merge a duplicate into its original by number; reopen a closed case with a reason."""
    original = log_case("3号楼水管破裂", type="water_pipe")
    duplicate = log_case("3号楼楼下漏水", type="water_pipe")
    finished = log_case("路灯不亮", "facilities", type="streetlight")
    for step in (workflow.register, workflow.dispatch, workflow.handle):
        step(ctx.db, ctx.clock, ctx.policy, "seed", finished.id)
    workflow.feedback(ctx.db, ctx.clock, ctx.policy, "seed", finished.id, "已修复")
    workflow.verify(ctx.db, ctx.clock, ctx.policy, "seed", finished.id)
    workflow.close(ctx.db, ctx.clock, ctx.policy, "seed", finished.id)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        table.move_cursor(row=table.get_row_index(str(duplicate.id)))
        app.screen.action_merge()
        await settle(pilot)
        assert isinstance(app.screen, TextDialog)
        await pilot.press(*original.number, "enter")
        await settle(pilot)
        merged = get_incident(ctx.db, duplicate.id)
        assert merged.stage is Stage.MERGED and merged.merged_into == original.id

        await pilot.click("#with-closed")
        await settle(pilot)
        table.move_cursor(row=table.get_row_index(str(finished.id)))
        await settle(pilot)
        app.screen.action_reopen()
        await settle(pilot)
        await pilot.press(*"路灯又不亮了", "enter")
        await settle(pilot)
        reopened = get_incident(ctx.db, finished.id)
        assert reopened.stage is Stage.HANDLING
        assert officer_entries(ctx.db, finished.id)[-1].data["reason"] == "路灯又不亮了"


async def test_a_refused_step_is_a_notification_not_a_crash(ctx, log_case, db_path, notes):
    case = log_case("噪声扰民", "environment", type="noise")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        other = connect(db_path)  # another duty officer registers it meanwhile
        workflow.register(other, ctx.clock, ctx.policy, "li-si", case.id)
        other.close()
        await pilot.press("a")  # our table still says reported: register again
        await settle(pilot)
        assert any(
            severity == "error" and "'register' is not allowed" in message
            for severity, message in notes
        )
        assert get_incident(ctx.db, case.id).stage is Stage.REGISTERED


async def test_refreshes_when_another_process_writes(ctx, db_path, monkeypatch):
    ctx.config = Config(path=None, refresh_seconds=0.05)
    monkeypatch.setattr(incidents_screen, "COUNTS_INTERVAL", 0.1)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert rows(app) == []
        other = connect(db_path)
        new = NewIncident("道路破损", "facilities", "road_damage")
        create_incident(other, ctx.clock, ctx.policy, "cli", new)
        other.close()
        await wait_until(
            pilot,
            lambda: [r[TITLE] for r in rows(app)] == ["道路破损"] and "open 1" in status(app),
            what="the poll to show the case written elsewhere, and count it",
        )


async def test_the_table_reads_ahead_and_a_reload_reads_down_to_the_cursor(ctx, log_case, clock):
    total = PAGE + READ_AHEAD + 30
    for n in range(total):
        clock.advance(seconds=1)
        log_case(f"巡查发现问题 {n:03d}")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        # The first page is shown, then the next READ_AHEAD are read while nobody waits.
        assert table.row_count == PAGE + READ_AHEAD
        assert f"{PAGE + READ_AHEAD}+ rows" in status(app)
        await pilot.press("end")
        await settle(pilot)
        assert table.row_count == total
        assert rows(app)[-1][TITLE] == f"巡查发现问题 {total - 1:03d}"
        assert f"│ {total} rows" in status(app)

        # A reload reads from the top down to a page past the cursor, in one query, keeps the
        # cursor's case, and the read-ahead fills in below it again.
        table.move_cursor(row=110)
        chosen = rows(app)[110][0]
        app.announce_change(own=True)
        await settle(pilot)
        assert rows(app)[table.cursor_row][0] == chosen
        assert table.cursor_row == 110
        assert table.row_count >= 110 + PAGE


async def test_search_and_filters(ctx, log_case, clock):
    log_case("3号楼燃气泄漏", "accident_disaster", type="gas_leak", severity="II")
    log_case("小区路灯不亮", "facilities", type="streetlight")
    log_case("河道垃圾", "environment", type="garbage", location="燃气站旁")
    clock.advance(hours=1)  # past the emergency case's 30 minutes, within 2 working hours
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(rows(app)) == 3

        await pilot.press("slash", *"燃气")
        await wait_until(  # the search waits for typing to stop
            pilot,
            lambda: sorted(r[TITLE] for r in rows(app)) == ["3号楼燃气泄漏", "河道垃圾"],
            what="the search's results",
        )

        await pilot.press("escape")
        app.screen.query_one("#severity-filter", Select).value = "II"
        await settle(pilot)
        assert [r[TITLE] for r in rows(app)] == ["3号楼燃气泄漏"]

        app.screen.query_one("#search", Input).value = ""
        app.screen.query_one("#severity-filter", Select).clear()
        await wait_until(pilot, lambda: len(rows(app)) == 3, what="every case, unfiltered")
        app.screen.query_one("#only-overdue", Checkbox).value = True
        await settle(pilot)
        [overdue] = rows(app)
        assert overdue[TITLE] == "3号楼燃气泄漏"
        assert overdue[LEFT] == "overdue 30m"
        left = app.screen.query_one("#incidents", DataTable).get_row_at(0)[LEFT]
        assert "red" in str(left.style)


async def test_a_case_number_in_the_search_box_opens_the_case(ctx, log_case):
    log_case("占道经营")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"2026-000001", "enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentDetailScreen)
        assert app.screen.incident is not None and app.screen.incident.title == "占道经营"


async def test_detail_screen_notes_tasks_and_extensions(ctx, log_case):
    case = log_case("楼道堆放杂物", "safety_hazard", type="fire_hazard", grid="G03")
    registered = workflow.register(ctx.db, ctx.clock, ctx.policy, "seed", case.id)
    assert registered.deadline is not None
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentDetailScreen)
        assert " registered " in str(screen.query_one("#stage-bar").render())

        await pilot.press("o", *"已电话通知物业", "enter")
        await settle(pilot)
        timeline_table = screen.query_one("#timeline", DataTable)
        newest = [str(c) for c in timeline_table.get_row_at(0)]
        assert newest[1:3] == [OPERATOR, "note"]
        assert "已电话通知物业" in newest[3]

        await pilot.press("t", *"清理楼道", "enter")
        await settle(pilot)
        tasks = screen.query_one("#tasks", DataTable)
        assert str(tasks.get_row_at(0)[0]) == "清理楼道"
        await pilot.press("c")
        await settle(pilot)
        assert str(tasks.get_row_at(0)[3]).startswith("✓")

        await pilot.press("x")
        assert isinstance(app.screen, ExtensionDialog)
        await pilot.press(*"等待物业答复", "enter")
        app.screen.query_one("#extension-until", Input).value = "+2d"
        await pilot.press("enter")
        await settle(pilot)
        extensions = screen.query_one("#extensions", DataTable)
        assert str(extensions.get_row_at(0)[3]) == "pending 0/1"

        # A shift lead on another console approves it; this screen sees it on refresh.
        other = connect(ctx.db_path)
        workflow.approve_extension(other, ctx.clock, ctx.policy, "lead-wang", case.id)
        other.close()
        app.poll_database()
        await settle(pilot)
        assert str(extensions.get_row_at(0)[3]) == "granted"
        assert get_incident(ctx.db, case.id).deadline == registered.deadline + timedelta(days=2)

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)


async def test_keys_that_do_not_apply_are_greyed_out(ctx, log_case):
    log_case("新报事件")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.check_action("advance", ()) is True
        assert screen.check_action("void", ()) is True
        assert screen.check_action("return_case", ()) is None  # only from handling/feedback
        assert screen.check_action("park", ()) is None  # not before it is registered


async def test_command_palette_lists_the_case_actions(ctx, log_case):
    log_case("电线私拉乱接", "safety_hazard", type="electrical")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for expected in ("New case", "Advance case", "Add note", "Void case"):
            assert expected in titles
        assert "Return case" not in titles  # not allowed from reported
        await pilot.press("ctrl+p")
        await pilot.press(*"advance")

        def offered() -> bool:
            found = app.screen.query(CommandList)
            return bool(found) and any(
                "Advance case" in str(found.first().get_option_at_index(i).prompt)
                for i in range(found.first().option_count)
            )

        await wait_until(pilot, offered, what="the palette to offer the step")
        await pilot.press("enter")
        await settle(pilot)
        assert get_incident(ctx.db, 1).stage is Stage.REGISTERED


async def test_engine_lease_is_taken_swept_and_released(ctx, log_case, clock):
    case = log_case("内涝积水", "natural_disaster", type="flood", urgency="urgent")
    clock.advance(hours=1)  # past the 30-minute limit of an urgent report
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert lease.current_holder(ctx.db, clock.now()) == app.holder
        assert app.engine_state == "here"
        assert get_incident(ctx.db, case.id).supervised  # the first sweep ran
        assert rows(app)[0][2] == "reported supervised"
        assert "supervised 1" in status(app)
    assert lease.current_holder(ctx.db, clock.now()) is None


async def test_a_second_console_leaves_the_engine_to_the_first(ctx, log_case, clock):
    case = log_case("内涝积水", "natural_disaster", type="flood", urgency="urgent")
    clock.advance(hours=1)
    assert lease.acquire(ctx.db, "serve:elsewhere", clock.now(), timedelta(seconds=90))
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.engine_state == "elsewhere"
        assert "engine: elsewhere" in status(app)
        assert not get_incident(ctx.db, case.id).supervised
    assert lease.current_holder(ctx.db, clock.now()) == "serve:elsewhere"


async def test_markup_in_what_people_type_is_shown_as_typed(ctx, log_case):
    log_case("[bold]门禁[/] 损坏 [", grid="[G1]")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        [row] = rows(app)
        assert row[TITLE] == "[bold]门禁[/] 损坏 ["
        assert row[GRID] == "[G1]"
        await pilot.press("enter", "o", *"[red]注意[/]", "enter")
        await settle(pilot)
        assert "[red]注意[/]" in str(app.screen.query_one("#timeline", DataTable).get_row_at(0)[3])


async def test_a_wrong_deferred_section_closes_the_console_with_its_line_and_key(ctx) -> None:
    """The console reads the configuration's rules sections after its first frame: a wrong one
    ends it before the engine starts, and run_console raises it as any command would (exit 2,
    the file, line and key)."""
    from console.config import parse_config
    from store.errors import ConfigError

    ctx.config = parse_config("[sitrep]\nmarked_minutes = 0\n", "dutydesk.toml", deferred=True)
    app = DutydeskApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.config_error is not None, what="the refusal")
    assert app.engine is None  # stopped before the engine was started
    assert app.return_code == 2
    assert isinstance(app.config_error, ConfigError)
    assert "dutydesk.toml, line 2, key 'sitrep.marked_minutes'" in str(app.config_error)
