"""The drills screen, its dialogs and the dashboard's drill line.

The grid G01 of the mobilization tests has two plans: a monthly call-tree drill (unannounced,
grid G01, an answer-rate objective and a free one) scheduled a week ahead, and a tabletop
exercise. The call-tree plan ran once (the leader never answered, then the officer ended the
run: answer rate 0 %, so U is proposed) and runs again now. Another process holds the engine
lease, so what the screens show is only what the test did.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, TextArea

from console.tui.app import DutydeskApp
from console.tui.dialogs import EvaluateDialog, StartDrillDialog, TextDialog
from console.tui.screens import DashboardScreen, DrillsScreen, MobilizationScreen
from drills.evaluation import evaluation
from drills.improvements import add_improvement, list_improvements
from drills.models import Element, NoteKind, Rating, RunState
from drills.plans import add_plan, parse_objective
from drills.runs import end_run, get_run, list_runs, notes, running, start_run
from drills.schedules import add_schedule, fire_due
from store import lease
from tests.console.test_mobilization_screen import drive, jurisdiction
from tests.support.console import OPERATOR, settle

WIDE, SMALL = (120, 36), (80, 24)
ZONE = "Asia/Shanghai"


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    """A ``dutydesk serve`` elsewhere holds the engine lease (for a day of the fixed clock)."""
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


@pytest.fixture
def drills(ctx, clock) -> dict[str, int]:
    """The two plans, the schedule, an ended run and a running one: their ids."""
    db = ctx.db
    jurisdiction(ctx)
    add_plan(
        db,
        clock,
        OPERATOR,
        code="M01",
        name="月度叫应演练",
        kind="notification",
        scope=["grid:G01"],
        announced=False,
        organizer="秦岚",
        message="演练：收到请回复",
        objectives=[
            parse_objective("answer_rate 90% 10m: 网格长10分钟内应答率不低于90%"),
            parse_objective("free: 指挥协调顺畅"),
        ],
    )
    add_plan(
        db,
        clock,
        OPERATOR,
        code="T01",
        name="防汛桌面推演",
        kind="tabletop",
        organizer="秦岚",
        objectives=[parse_objective("free: 熟悉预案")],
    )
    # A week ahead, 09:00 in the office's zone: the 7-day reminder has passed, the 1-day not.
    schedule = add_schedule(
        db, clock, OPERATOR, "M01", start=datetime(2026, 5, 27, 9, 0), zone=ZONE
    )
    ended = start_run(db, clock, OPERATOR, "M01")
    drive(ctx)
    clock.advance(minutes=20)
    end_run(db, clock, OPERATOR, ended.id)
    clock.advance(minutes=5)
    now = start_run(db, clock, OPERATOR, "M01")
    drive(ctx)
    return {"schedule": schedule.id, "ended": ended.id, "running": now.id}


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_drills(app: DutydeskApp, pilot) -> DrillsScreen:
    """From the dashboard, with the drills' key."""
    await settle(pilot)
    await pilot.press("D")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, DrillsScreen)
    return screen


def visible(screen, selector: str) -> bool:
    widget = screen.query_one(selector)
    region, size = widget.region, screen.app.size
    return (
        widget.display
        and region.width > 0
        and region.height > 0
        and region.right <= size.width
        and region.bottom <= size.height
    )


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["120x36", "80x24"])
async def test_upcoming_running_and_history(ctx, drills, size) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=size) as pilot:
        screen = await open_drills(app, pilot)
        tabs = screen.query_one("#drills-tabs", TabbedContent)
        # A drill is running: that is what the officer sees first.
        assert tabs.active == "tab-running"
        assert visible(screen, "#drills-running")
        running_rows = rows(screen.query_one("#drills-running", DataTable))
        assert len(running_rows) == 1
        run_id, plan, kind, started, bar = running_rows[0]
        assert run_id == str(drills["running"])
        assert plan.startswith("M01 月度叫应演练")
        assert kind == "call-tree"
        assert started.startswith("05-20 14:25 ⏳")
        assert bar.endswith("0/0/1 of 1")  # the leader was called and is silent
        counters = text_of(screen, "#drills-running-counters")
        assert "⏳ silent 1" in counters
        status = text_of(screen, "#drills-status")
        assert "next drill 月度叫应演练 05-27 09:00" in status
        assert "running 1" in status
        assert "to evaluate 1" in status

        await pilot.press("1")
        assert tabs.active == "tab-upcoming"
        upcoming = rows(screen.query_one("#drills-upcoming", DataTable))
        assert len(upcoming) == 1
        when, left, plan, kind, announced, reminder = upcoming[0]
        assert (when, plan.startswith("M01"), kind, announced) == (
            "05-27 09:00",
            True,
            "call-tree",
            "unannounced",
        )
        assert left == "6d18h"
        assert reminder == "05-26 09:00"  # 7 days before has passed; the 1-day one is next
        assert visible(screen, "#drills-upcoming")

        await pilot.press("3")
        assert tabs.active == "tab-history"
        history = rows(screen.query_one("#drills-history", DataTable))
        assert len(history) == 1
        run_id, plan, started, state, rate, ratings = history[0]
        assert run_id == str(drills["ended"])
        assert state == "■ ended · to evaluate"
        assert rate.startswith("0 %")
        # Proposed, not yet confirmed: U for the answer rate, nothing for the free objective.
        assert ratings == "U? ·"

        # Enter on a running drill opens its exercise mobilization.
        await pilot.press("2")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationScreen)
        run = get_run(ctx.db, drills["running"])
        assert app.screen.mobilization_id == run.mobilization_id


async def test_stop_a_running_drill_for_a_real_emergency(ctx, drills) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_drills(app, pilot)
        await pilot.press("x")
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        await pilot.press("enter")  # no reason: refused, the dialog stays
        assert app.screen is dialog
        assert "required" in text_of(dialog, "#text-error")
        assert get_run(ctx.db, drills["running"]).state is RunState.RUNNING

        await pilot.press(*"flood", "enter")
        await settle(pilot)
        assert app.screen is screen
        run = get_run(ctx.db, drills["running"])
        assert (run.state, run.stop_reason) == (RunState.STOPPED, "flood")
        assert running(ctx.db) == []
        assert not screen.query_one("#drills-running", DataTable).display
        assert "n starts one now" in text_of(screen, "#drills-running-empty")
        # Stopped, it is history now (newest first).
        history = rows(screen.query_one("#drills-history", DataTable))
        assert [row[0] for row in history] == [str(drills["running"]), str(drills["ended"])]
        assert history[0][3].startswith("⏹ stopped")


async def test_evaluate_an_ended_run(ctx, drills) -> None:
    ended = drills["ended"]
    answer_rate, free = evaluation(ctx.db, ended).results
    assert answer_rate.proposed is Rating.U and free.proposed is None
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_drills(app, pilot)
        await pilot.press("e")  # to the history, and the form on its highlighted run
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, EvaluateDialog)
        first = answer_rate.objective.id
        measure = str(dialog.query(".evaluate-measure").first().render())
        assert "answer yes within 10 min · measured 0 % · proposed U" in measure
        assert dialog.query_one(f"#rating-{first}", Select).value is Rating.U

        # Changed to S without a reason: refused under the field; nothing saved.
        dialog.query_one(f"#rating-{first}", Select).value = Rating.S
        dialog.query_one(f"#rating-{free.objective.id}", Select).value = Rating.P
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        error = text_of(dialog, f"#reason-{first}-error")
        assert "a reason is required: the proposed rating is U" in error
        assert evaluation(ctx.db, ended).results[0].rating is None

        dialog.query_one(f"#reason-{first}", Input).value = "网格长在开会，副网格长已应答"
        dialog.query_one("#evaluate-strengths", TextArea).text = "通知及时"
        dialog.query_one("#area-0-issue", Input).value = "网格长未应答"
        dialog.query_one("#area-0-action", Input).value = "更新值班备用号码"
        dialog.query_one("#area-0-element", Select).value = Element.PLANNING
        dialog.query_one("#area-0-objective", Select).value = first
        dialog.query_one("#area-0-owner", Input).value = "王伟"
        dialog.query_one("#area-0-due", Input).value = "+30d"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen

        ev = evaluation(ctx.db, ended)
        assert [(r.rating, r.reason) for r in ev.results] == [
            (Rating.S, "网格长在开会，副网格长已应答"),
            (Rating.P, None),
        ]
        assert ev.run.state is RunState.EVALUATED
        assert [n.text for n in notes(ctx.db, ended) if n.kind is NoteKind.STRENGTH] == ["通知及时"]
        (item,) = list_improvements(ctx.db, run=ended)
        assert (item.issue, item.element, item.owner_name, item.objective_id) == (
            "网格长未应答",
            Element.PLANNING,
            "王伟",
            first,
        )
        history = rows(screen.query_one("#drills-history", DataTable))
        assert history[0][3] == "✔ evaluated"
        assert history[0][5] == "S P"  # confirmed now


async def test_a_refused_evaluation_keeps_what_was_typed(ctx, drills) -> None:
    """The owner is nobody known: nothing is saved (not even the ratings), the form stays."""
    ended = drills["ended"]
    app = DutydeskApp(ctx)
    async with app.run_test(size=SMALL) as pilot:
        await open_drills(app, pilot)
        await pilot.press("e")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, EvaluateDialog)
        dialog.query_one("#area-0-issue", Input).value = "号码过期"
        await pilot.press("ctrl+s")  # an area begun must be complete
        await settle(pilot)
        assert app.screen is dialog
        assert "required" in text_of(dialog, "#area-0-action-error")

        dialog.query_one("#area-0-action", Input).value = "核对号码"
        dialog.query_one("#area-0-element", Select).value = Element.TRAINING
        dialog.query_one("#area-0-owner", Input).value = "无此人"
        dialog.query_one("#area-0-due", Input).value = "2026-06-30"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        assert dialog.query_one("#area-0-owner", Input).value == "无此人"
        assert "无此人" in text_of(dialog, "#area-0-owner-error")
        assert dialog.query_one("#area-0-issue", Input).value == "号码过期"
        assert all(r.rating is None for r in evaluation(ctx.db, ended).results)
        assert list_improvements(ctx.db, run=ended) == []


async def test_start_a_plan_now(ctx, drills) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_drills(app, pilot)
        await pilot.press("n")
        dialog = app.screen
        assert isinstance(dialog, StartDrillDialog)
        t01 = next(p for p in screen.view.active_plans if p.code == "T01")
        dialog.query_one("#start-plan", Select).value = t01.id
        await pilot.pause()
        assert "nobody is called out" in text_of(dialog, "#start-summary")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        (run,) = [r for r in running(ctx.db) if r.plan_code == "T01"]
        assert run.mobilization_id is None
        assert screen.query_one("#drills-tabs", TabbedContent).active == "tab-running"
        codes = [row[1][:3] for row in rows(screen.query_one("#drills-running", DataTable))]
        assert sorted(codes) == ["M01", "T01"]
        assert len(list_runs(ctx.db, plan="T01")) == 1


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["120x36", "80x24"])
async def test_the_dashboard_shows_the_next_drill(ctx, drills, size) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert visible(screen, "#drills-line")
        line = text_of(screen, "#drills-line")
        assert "next drill: 月度叫应演练 05-27 09:00 (unannounced) (reminder 05-26 09:00)" in line
        assert "overdue" not in line
        titles = [command.title for command in app.get_system_commands(screen)]
        assert "Drills" in titles  # also in the palette


async def test_a_missed_drill_is_marked_on_the_screen_and_the_dashboard(ctx, clock, drills) -> None:
    """No engine ran for two hours: the tabletop due at 14:40 was missed (beyond the grace)."""
    add_schedule(ctx.db, clock, OPERATOR, "T01", start=datetime(2026, 5, 20, 14, 40), zone=ZONE)
    clock.advance(hours=2)
    fire_due(ctx.db, clock, grace=ctx.config.drills.grace, holder="test")
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        line = text_of(app.screen, "#drills-line")
        assert "⚠ drills missed: 1" in line
        screen = await open_drills(app, pilot)
        assert "⚠ missed 1" in text_of(screen, "#drills-status")
        await pilot.press("1")
        upcoming = rows(screen.query_one("#drills-upcoming", DataTable))
        when, what, plan = upcoming[0][:3]
        assert (when, what) == ("05-20 14:40", "⚠ missed: drill")
        assert plan.startswith("T01 防汛桌面推演")
        assert upcoming[1][2].startswith("M01")  # then what is still to come


async def test_the_dashboard_tells_overdue_improvement_items_first(ctx, clock, drills) -> None:
    due = clock.now() + timedelta(days=1)
    add_improvement(
        ctx.db,
        clock,
        OPERATOR,
        drills["ended"],
        issue="网格长未应答",
        action="更新备用号码",
        element=Element.PLANNING,
        owner="王伟",
        due=due,
    )
    clock.advance(days=2)
    app = DutydeskApp(ctx)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        line = text_of(app.screen, "#drills-line")
        assert line.startswith("⚠ improvement items overdue: 1  ⚑ next drill: 月度叫应演练")


async def test_the_dashboard_has_no_drill_line_without_drills(ctx) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#drills-line").display


def shown(widget) -> str:
    """What a widget draws, line by line (a chart is a table: render() is not text)."""
    return "\n".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["120x36", "80x24"])
async def test_the_trend_shows_a_plans_runs_and_who_missed_two_in_a_row(
    ctx, clock, drills, size
) -> None:
    """Both runs of M01 went their course; the leader 王伟 was silent in both."""
    end_run(ctx.db, clock, OPERATOR, drills["running"])
    app = DutydeskApp(ctx)
    async with app.run_test(size=size) as pilot:
        screen = await open_drills(app, pilot)
        await pilot.press("4")
        await settle(pilot)
        tabs = screen.query_one("#drills-tabs", TabbedContent)
        assert tabs.active == "tab-trend"
        assert screen.trend is not None and screen.trend.plan.code == "M01"
        assert "M01 月度叫应演练" in text_of(screen, "#drills-trend-head")
        chart = shown(screen.query_one("#drills-trend-chart", Static))
        lines = [line.strip() for line in chart.splitlines() if line.strip()]
        assert lines[0].split()[:3] == ["#", "started", "answer"]
        first, second = lines[1:3]  # oldest first, one row each with its date and its bar
        for row, run, started, again in (
            (first, drills["ended"], "05-20 14:00", "0"),  # no run before it
            (second, drills["running"], "05-20 14:25", "1"),  # silent the time before too
        ):
            head = row.partition("%")[0]
            rate = head[-4:]
            assert head.split()[:3] == [str(run), *started.split()]
            assert "▕" in head and rate.strip() == "0"  # nobody answered: an empty bar
            called, p50, silent, silent_again, *ratings = row.partition("%")[2].split()
            assert (called, p50, silent, silent_again) == ("1", "—", "1", again)
            assert ratings == ["U", "·"]  # the proposed U, nothing for the free objective
        missed = text_of(screen, "#drills-trend-missed")
        assert "⚠ missed the last two drills in a row (1):" in missed
        assert "王伟" in missed
        assert visible(screen, "#drills-trend-missed")
        assert str(tabs.get_tab("tab-trend").label).endswith("Trend 2")


async def test_the_trend_follows_the_run_highlighted_in_history(ctx, clock, drills) -> None:
    t01 = start_run(ctx.db, clock, OPERATOR, "T01")
    end_run(ctx.db, clock, OPERATOR, t01.id)
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_drills(app, pilot)
        await pilot.press("3")  # the newest run first: T01's
        await pilot.press("4")
        await settle(pilot)
        assert screen.trend is not None and screen.trend.plan.code == "T01"
        assert "Fewer than two runs with a call-out" in text_of(screen, "#drills-trend-missed")
        await pilot.press("3", "down", "4")
        await settle(pilot)
        assert screen.trend is not None and screen.trend.plan.code == "M01"


def test_the_trend_chart_draws_each_rate_as_a_bar(ctx) -> None:
    from rich.console import Console

    from console.tui.screens.drills import trend_chart
    from drills.models import Trend, TrendPoint
    from drills.plans import get_plan

    jurisdiction(ctx)
    plan = add_plan(
        ctx.db,
        ctx.clock,
        OPERATOR,
        code="M02",
        name="叫应",
        kind="notification",
        scope=["grid:G01"],
        organizer="秦岚",
        message="演练",
        objectives=[parse_objective("free: 指挥协调顺畅")],
    )
    plan = get_plan(ctx.db, plan.id)
    at = ctx.clock.now()
    (objective,) = plan.objectives
    points = tuple(
        TrendPoint(n, at, 4, rate, 65.0, silent, 0, {objective.id: letter})
        for n, rate, silent, letter in ((1, 50.0, 2, "M"), (2, 100.0, 0, "P"))
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(trend_chart(Trend(plan, points, ()), ctx.config.zone, wide=True))
    half, full = [line for line in console.export_text().splitlines() if "%" in line]
    assert "▕" + "█" * 10 + " " * 10 + "▏  50 %" in half
    assert "▕" + "█" * 20 + "▏ 100 %" in full
    assert half.split("%")[1].split() == ["4", "1m05s", "2", "0", "M"]
    assert full.split("%")[1].split() == ["4", "1m05s", "0", "0", "P"]


async def overdue_item(ctx, clock, drills) -> int:
    """An item due a day after the ended run, two days ago now."""
    item = add_improvement(
        ctx.db,
        clock,
        OPERATOR,
        drills["ended"],
        issue="网格长未应答",
        action="更新备用号码",
        element=Element.PLANNING,
        owner="王伟",
        due=clock.now() + timedelta(days=1),
    )
    clock.advance(days=2)
    return item.id


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["120x36", "80x24"])
async def test_the_improvement_plan_marks_overdue_items_and_marks_one_done(
    ctx, clock, drills, size
) -> None:
    from drills.improvements import get_improvement
    from drills.models import ImprovementState

    item_id = await overdue_item(ctx, clock, drills)
    app = DutydeskApp(ctx)
    async with app.run_test(size=size) as pilot:
        screen = await open_drills(app, pilot)
        assert "⚠ improvement items overdue: 1" in text_of(screen, "#drills-status")
        await pilot.press("5")
        await settle(pilot)
        table = screen.query_one("#drills-improvements", DataTable)
        assert visible(screen, "#drills-improvements")
        ((shown_id, plan, issue, action, element, owner, due, state),) = rows(table)
        assert (shown_id, plan, element, owner) == (str(item_id), "M01", "planning", "王伟")
        assert issue.startswith("网格长") and action.startswith("更新")
        assert due.startswith("⚠ 05-21")
        assert state == "to fix"
        detail = text_of(screen, "#drills-improvement-detail")
        assert "⚠ overdue 1d" in detail and "更新备用号码" in detail
        assert visible(screen, "#drills-improvement-detail")
        assert screen.check_action("mark_done", ()) is True

        await pilot.press("c")
        dialog = app.screen
        assert dialog is not screen
        await pilot.press("n")  # not yet: nothing changes
        await settle(pilot)
        assert get_improvement(ctx.db, item_id).state is ImprovementState.OPEN

        await pilot.press("c", "y")
        await settle(pilot)
        assert app.screen is screen
        assert get_improvement(ctx.db, item_id).state is ImprovementState.DONE
        ((*_cells, due, state),) = rows(table)
        assert state.startswith("awaiting")  # the retest closes it, not a key
        assert not due.startswith("⚠")
        assert screen.check_action("mark_done", ()) is None  # greyed: only an open item
        assert "overdue" not in text_of(screen, "#drills-status")

        await pilot.press("1")
        assert screen.check_action("mark_done", ()) is False  # hidden on the other tabs
