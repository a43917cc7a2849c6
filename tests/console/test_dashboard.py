"""The dashboard: counts by stage and level, alerting counters, the live feed, mobilizations,
duty posts, the engine's state and the clock, at 120x36 and at 80x24.

Another process holds the engine lease (as in the mobilization tests), so nothing changes the
database behind the test's back: what the screen shows is only what the test did. The screen is
pushed by hand; the app opening on it is wired in ``console/tui/app.py``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

import console.tui.app
from console.tui.app import DutydeskApp
from console.tui.dialogs import NewIncidentDialog
from console.tui.screens import (
    ContactsScreen,
    DashboardScreen,
    IncidentDetailScreen,
    IncidentsScreen,
    MobilizationScreen,
    MobilizationsScreen,
)
from console.tui.screens.dashboard import CountBars
from contacts.roster import add_post, add_rotation
from incidents import supervision, workflow
from incidents.supervision import sweep_overdue
from mobilization import Target, start_mobilization
from store import lease
from tests.console.test_mobilization_screen import drive, jurisdiction
from tests.support.console import OPERATOR, settle, wait_until

WIDE, SMALL = (120, 36), (80, 24)


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    """A ``dutydesk serve`` elsewhere holds the engine lease (for a day of the fixed clock)."""
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


async def open_dashboard(app: DutydeskApp, pilot) -> DashboardScreen:
    """The console opens on the dashboard: its home screen."""
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


def feed_rows(screen) -> list[list[str]]:
    table = screen.query_one("#feed", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def visible(screen, selector: str) -> bool:
    """The widget is on screen, whole: not hidden, not cut by the terminal's edges."""
    widget = screen.query_one(selector)
    region = widget.region
    size = screen.app.size
    return (
        widget.display
        and region.width > 0
        and region.height > 0
        and region.right <= size.width
        and region.bottom <= size.height
    )


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["120x36", "80x24"])
async def test_counts_by_stage_and_level_with_numbers(ctx, clock, log_case, size) -> None:
    log_case("路灯不亮", "facilities", type="streetlight", severity="IV")
    log_case("井盖缺失", "facilities", type="manhole", severity="III")
    fire = log_case("仓库起火", "accident_disaster", type="fire", severity="I")
    workflow.register(ctx.db, clock, ctx.policy, OPERATOR, fire.id)
    closed = log_case("已处理", severity="II")
    for step in ("register", "dispatch", "handle"):
        getattr(workflow, step)(ctx.db, clock, ctx.policy, OPERATOR, closed.id)
    workflow.feedback(ctx.db, clock, ctx.policy, OPERATOR, closed.id, "修好了")
    workflow.verify(ctx.db, clock, ctx.policy, OPERATOR, closed.id)
    workflow.close(ctx.db, clock, ctx.policy, OPERATOR, closed.id)

    app = DutydeskApp(ctx)
    async with app.run_test(size=size) as pilot:
        screen = await open_dashboard(app, pilot)
        assert screen.query_one("#stages", CountBars).values == [2, 1, 0, 0, 0, 0]
        stages = text_of(screen, "#stages").splitlines()
        assert stages[0].startswith("reported") and stages[0].endswith(" 2")
        assert stages[1].startswith("registered") and stages[1].endswith(" 1")
        assert "█" in stages[0] and "█" not in stages[2]  # a bar where there are cases
        assert stages[5].startswith("verified") and stages[5].endswith(" 0")

        levels = text_of(screen, "#severities").splitlines()
        assert screen.query_one("#severities", CountBars).values == [1, 0, 1, 1]  # not closed
        assert levels[0].strip().startswith("I") and "particularly major · red" in levels[0]
        assert " major · orange" in levels[1] and levels[1].endswith(" 0")
        assert "relatively major · yellow" in levels[2] and "general · blue" in levels[3]

        assert text_of(screen, "#count-open").endswith(" 3")
        for part in ("#count-open", "#count-overdue", "#engine", "#clock", "#stages", "#feed"):
            assert visible(screen, part), part
        assert not screen.query_one("#feed", DataTable).show_horizontal_scrollbar
        app.export_screenshot()


async def test_overdue_and_supervised_turn_red_with_a_glyph(ctx, clock, log_case) -> None:
    log_case("仓库起火", "accident_disaster", type="fire", severity="I", urgency="very_urgent")
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_dashboard(app, pilot)
        overdue = screen.query_one("#count-overdue", Static)
        supervised = screen.query_one("#count-supervised", Static)
        assert text_of(screen, "#count-overdue") == "overdue 0"
        assert not overdue.has_class("-alert") and "⚠" not in text_of(screen, "#count-overdue")

        clock.advance(hours=1)  # past the 15 minutes to register a very urgent case
        app.announce_change(own=False)
        await settle(pilot)
        assert overdue.has_class("-alert")
        assert text_of(screen, "#count-overdue") == "⚠ overdue 1"
        assert not supervised.has_class("-alert")

        sweep_overdue(ctx.db, clock, ctx.policy)  # what the engine elsewhere does: 督办
        app.announce_change(own=False)
        await settle(pilot)
        assert supervised.has_class("-alert")
        assert text_of(screen, "#count-supervised") == "⚠ supervised 1"
        assert feed_rows(screen)[0][1] == "⚠ overdue, supervised"


async def test_the_feed_shows_a_case_logged_elsewhere_and_enter_opens_it(
    ctx, clock, log_case
) -> None:
    log_case("路灯不亮", "facilities", type="streetlight")
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_dashboard(app, pilot)
        assert [row[4] for row in feed_rows(screen)] == ["路灯不亮"]

        clock.advance(minutes=5)
        case = log_case("仓库起火", "accident_disaster", type="fire", severity="I")
        app.announce_change(own=False)  # as the app's poll does when another process writes
        await settle(pilot)
        rows = feed_rows(screen)
        assert [row[4] for row in rows] == ["仓库起火", "路灯不亮"]
        assert rows[0][:4] == ["14:05", "✚ new report", " I  ", case.number]

        await pilot.press("enter")  # the newest line is highlighted
        await settle(pilot)
        assert isinstance(app.screen, IncidentDetailScreen)
        assert app.screen.incident_id == case.id


async def test_changes_during_a_read_are_coalesced_into_one_more_read(
    ctx, log_case, monkeypatch
) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_dashboard(app, pilot)
        reads: list[int | None] = []
        original = DashboardScreen._read

        def counting(self, feed_after):
            reads.append(feed_after)
            return original(self, feed_after)

        monkeypatch.setattr(DashboardScreen, "_read", counting)
        log_case("路灯不亮", "facilities", type="streetlight")
        for _ in range(5):
            app.announce_change(own=False)
        await settle(pilot)
        await settle(pilot)
        assert len(reads) == 2  # the first change reads; the four during it make one more
        assert [row[4] for row in feed_rows(screen)] == ["路灯不亮"]


async def test_an_active_mobilization_shows_its_progress(ctx, log_case) -> None:
    jurisdiction(ctx)
    case = log_case("河堤渗水", "natural_disaster", type="flood", grid="G01")
    mob_id = start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="防汛集结 flood muster",
        incident_id=case.id,
    )
    drive(ctx)
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_dashboard(app, pilot)
        mobs = text_of(screen, "#mobs").splitlines()
        assert mobs[0] == f"#{mob_id} {case.number} 防汛集结 flood muster"
        assert mobs[1].strip().startswith("▕") and mobs[1].endswith("0/0/1 of 1")
        # The feed says it started, for the case it is for.
        assert feed_rows(screen)[0][1:4] == ["⚑ mobilization", " IV ", case.number]


async def test_only_five_mobilizations_are_shown_and_the_rest_counted(ctx, monkeypatch) -> None:
    jurisdiction(ctx)
    for n in range(7):
        start_mobilization(
            ctx.db, ctx.clock, OPERATOR, targets=[Target.parse("grid:G01")], message=f"集结{n}"
        )
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_dashboard(app, pilot)
        lines = text_of(screen, "#mobs").splitlines()
        assert [line.split()[1] for line in lines[:10:2]] == [f"集结{n}" for n in (6, 5, 4, 3, 2)]
        assert lines[10:] == ["… +2 more (m)", "█ said yes  ▒ said no  ░ silent"]


async def test_duty_posts_now_and_next(ctx) -> None:
    jurisdiction(ctx)
    db, clock = ctx.db, ctx.clock
    add_post(db, clock, OPERATOR, "DO", "值班员")
    add_post(db, clock, OPERATOR, "LEAD", "带班领导")
    add_rotation(
        db,
        clock,
        OPERATOR,
        "DO",
        people=["王伟", "李芳"],
        starts_on=date(2026, 5, 20),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_dashboard(app, pilot)
        assert text_of(screen, "#duty").splitlines() == [
            "值班员 王伟 until 05-21 08:00",
            "  → 李芳 from 05-21 08:00",
            "带班领导 ⚠ unfilled",
            "  → none rostered",
        ]


async def test_engine_state_in_words_and_the_clock_in_the_office_zone(ctx, clock) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_dashboard(app, pilot)
        engine = screen.query_one("#engine", Static)
        assert text_of(screen, "#engine") == "engine ◐ running elsewhere"
        assert engine.has_class("-elsewhere")
        assert text_of(screen, "#clock") == "2026-05-20 14:00:00 CST"

        app.engine_state = "here"
        await pilot.pause()
        assert text_of(screen, "#engine") == "engine ● running here"
        assert engine.has_class("-here") and not engine.has_class("-elsewhere")
        # The app reports only starting/here/elsewhere today (and the incidents screen below
        # has no label for "stopped"), so the word for a stopped engine is checked directly.
        screen._show_engine("stopped")
        assert text_of(screen, "#engine") == "engine ■ stopped"
        assert engine.has_class("-stopped")

        clock.advance(seconds=65)
        await wait_until(  # the clock ticks every second
            pilot,
            lambda: text_of(screen, "#clock") == "2026-05-20 14:01:05 CST",
            what="the clock's next tick",
        )


async def test_the_clock_never_reads_the_database(ctx, clock, monkeypatch) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_dashboard(app, pilot)
        reads: list[object] = []
        monkeypatch.setattr(screen, "request_read", lambda **kw: reads.append(kw))
        monkeypatch.setattr(supervision, "counts", lambda *a: reads.append(a))
        for _ in range(3):
            clock.advance(seconds=1)
            screen._tick()
        assert reads == []
        assert text_of(screen, "#clock") == "2026-05-20 14:00:03 CST"


async def test_narrow_layout_keeps_counters_engine_and_panels_in_view(ctx, log_case) -> None:
    jurisdiction(ctx)
    log_case("路灯不亮", "facilities", type="streetlight")
    start_mobilization(
        ctx.db, ctx.clock, OPERATOR, targets=[Target.parse("grid:G01")], message="防汛集结"
    )
    app = DutydeskApp(ctx)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_dashboard(app, pilot)
        assert screen.has_class("-narrow")
        for part in (
            "#count-open",
            "#count-overdue",
            "#count-supervised",
            "#count-parked",
            "#engine",
            "#clock",
            "#stages",
            "#severities",
            "#panel-duty",
            "#panel-mobs",
            "#feed",
        ):
            assert visible(screen, part), part
        counters = screen.query_one("#dash-counters").region
        assert counters.right <= 80
        assert text_of(screen, "#count-open") == "open 1"  # the counters fit a narrow terminal
        assert screen.query_one("#feed").size.height >= 4
        app.export_screenshot()


async def test_keys_go_to_the_incidents_mobilizations_and_contacts(ctx) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        dashboard = await open_dashboard(app, pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationsScreen)
        await pilot.press("escape")
        assert app.screen is dashboard

        # Without an app action for it, i pushes the incidents queue itself.
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        app.pop_screen()
        await settle(pilot)

        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, ContactsScreen)


class ActionsApp(DutydeskApp):
    """The app with its own ``incidents`` action, as the wiring will add it."""

    CSS_PATH = str(Path(console.tui.app.__file__).with_name("app.tcss"))

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.calls: list[str] = []

    def action_incidents(self) -> None:
        self.calls.append("incidents")


async def test_i_runs_the_apps_incidents_action_when_there_is_one(ctx) -> None:
    app = ActionsApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        dashboard = await open_dashboard(app, pilot)
        await pilot.press("i")
        await settle(pilot)
        assert app.calls == ["incidents"]
        assert app.screen is dashboard


async def test_n_logs_a_new_case_through_the_form(ctx, monkeypatch) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        dashboard = await open_dashboard(app, pilot)
        await pilot.press("n")
        assert isinstance(app.screen, NewIncidentDialog)
        await pilot.press(*"3号楼燃气泄漏")
        await pilot.press("tab", "enter", "down", "down", "enter")  # category: 事故灾难
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dashboard
        assert [row[4] for row in feed_rows(dashboard)] == ["3号楼燃气泄漏"]
        assert text_of(dashboard, "#count-open").endswith(" 1")


async def test_enter_on_an_answer_without_a_case_opens_its_mobilization(ctx) -> None:
    jurisdiction(ctx)
    mob_id = start_mobilization(
        ctx.db, ctx.clock, OPERATOR, targets=[Target.parse("grid:G01")], message="防汛集结"
    )
    drive(ctx)
    app = DutydeskApp(ctx)
    async with app.run_test(size=WIDE) as pilot:
        await open_dashboard(app, pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationScreen)
        assert app.screen.mobilization_id == mob_id
