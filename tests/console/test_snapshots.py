"""Snapshot tests of the console (pytest-textual-snapshot); each docstring says what to look for.

The four main screens (dashboard, incidents, a case, a mobilization) are taken at 120x36 and
80x24, each in English and in Chinese (``lang``: the language the console is started in, as
``--lang`` or the locale would set it). Words in the docstrings are the English; the Chinese
snapshot shows the same layout in Chinese, and its columns must line up as well.

Update with ``pytest tests/console/test_snapshots.py --snapshot-update`` and look at every SVG
under ``tests/console/__snapshots__`` before accepting it. What the docstrings promise about
fitting a terminal is also asserted on the drawn text (the ``*_fits`` tests), so that a
snapshot accepted with a cut-off column fails a test, not only a reviewer's eye.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
import pytest_textual_snapshot
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static, TextArea

from console.context import Context
from console.tui.app import DutydeskApp
from console.tui.screens import IncidentDetailScreen
from console.tui.screens.incidents import TITLE_MIN
from console.tui.screens.mobilization import MobilizationScreen
from console.tui.widgets import StageBar
from console.tui.widgets.keybar import KeyBar
from incidents import workflow
from incidents.supervision import sweep_overdue
from mobilization import Target, cascade, recipient_rows, record_answer, start_mobilization
from store import lease
from store.i18n import _, set_language
from tests.console.test_mobilization_screen import drive, jurisdiction
from tests.support.console import OPERATOR, settle

SIZE = (120, 36)
SMALL = (80, 24)
SIZES = pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
LANGS = pytest.mark.parametrize("lang", ["en", "zh_CN"], indirect=True)


@pytest.fixture(autouse=True)
def steady_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text cursors do not blink in the snapshots: a blink caught mid-way is not a change.

    Only here: the console itself keeps Textual's blinking cursor.
    """
    for widget in (Input, TextArea):
        start = widget.__init__

        def still(self: Widget, *args: Any, start: Any = start, **kwargs: Any) -> None:
            start(self, *args, **kwargs)
            self.cursor_blink = False  # type: ignore[attr-defined]

        monkeypatch.setattr(widget, "__init__", still)


@pytest.fixture
def lang(request: pytest.FixtureRequest) -> str:
    """The console's language for this snapshot (English is put back after the test)."""
    set_language(request.param)
    return str(request.param)


# pytest-textual-snapshot 1.0.0 names its extension in syrupy 4's `_file_extension`; syrupy 7
# reads `file_extension`, and without this the snapshots are written as `.raw` files.
pytest_textual_snapshot.SVGImageExtension.file_extension = "svg"


@pytest.fixture
def busy_desk(ctx: Context, log_case, clock) -> Context:
    """A desk with one case of every level, one overdue, one in handling with history."""
    log_case(
        "清水河桥下水位上涨 漫过步道",
        "natural_disaster",
        type="flood",
        severity="III",
        urgency="urgent",
        grid="G02",
        location="清水河桥",
    )
    clock.advance(minutes=50)  # the flood report's 30 minutes have passed: overdue, supervised
    gas = log_case(
        "幸福路12号3号楼燃气泄漏",
        "accident_disaster",
        type="gas_leak",
        severity="II",
        urgency="urgent",
        grid="G01",
        location="幸福路12号3号楼",
        reporter_name="王女士",
        reporter_phone="13800138000",
        description="居民闻到燃气味,已疏散本单元住户。",
    )
    args = (ctx.db, ctx.clock, ctx.policy, "li-si")
    workflow.register(*args, gas.id)
    workflow.dispatch(*args, gas.id)
    clock.advance(minutes=10)
    workflow.handle(*args, gas.id, note="燃气公司抢修队已到场")
    workflow.add_note(ctx.db, ctx.clock, "li-si", gas.id, "已关闭总阀,正在通风")
    workflow.add_task(ctx.db, ctx.clock, "li-si", gas.id, "排查相邻楼栋", owner="G01 网格员")
    workflow.add_task(
        ctx.db, ctx.clock, "li-si", gas.id, "回访住户", due=clock.now() + timedelta(hours=4)
    )
    workflow.request_extension(
        *args, gas.id, "管道需更换,等待材料", clock.now() + timedelta(days=2)
    )
    log_case("工业园B区仓库起火", "accident_disaster", type="fire", severity="I", grid="G04")
    log_case("光明小区5栋楼道堆放杂物", "safety_hazard", type="fire_hazard", grid="G03")
    log_case("建设路与人民路交叉口井盖缺失", "facilities", type="manhole", grid="G01")
    # The overdue flood case is supervised before the console opens (as the running engine
    # would have done), so no sweep lands, with its toast, at a moment of its own choosing.
    while sweep_overdue(ctx.db, ctx.clock, ctx.policy, once=True).more:
        pass
    return ctx


@SIZES
@LANGS
def test_incidents_view(snap_compare, busy_desk: Context, size, lang):
    """The incidents view on opening, at 15:00 Shanghai time.

    Look for: five active cases sorted by deadline, the first highlighted; the level column as
    badges on the warning colors (III yellow, I red, IV blue, II orange); the flood case first
    with stage "reported supervised" (supervised in red) and "overdue 30m"; the fire case's
    "30m" in yellow (less than an hour left); the gas case last, in handling, with 12h00m left;
    the status line (open 5, overdue 1 in red, supervised 1, parked 0, 5 rows, engine: here,
    05-20 15:00); the filter bar; the footer with Open, Advance, Note, Extend, Return and Park
    greyed (not allowed from reported), Void, New, Search, Filters, Quit and palette. At 80x24
    number, level, stage, time left and title stay readable (the title cut with an ellipsis,
    the deadline column gone; no horizontal scrolling); the status line keeps its clock at the
    right end (the parked count gives way); the footer keeps every key, long words cut with "…".
    Asserted on the drawn text by test_incidents_view_fits.
    """

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(busy_desk, home="incidents"), terminal_size=size, run_before=run_before
    )


@SIZES
@LANGS
def test_detail_screen(snap_compare, busy_desk: Context, size, lang):
    """The detail screen of the gas-leak case 2026-000002, opened with end + enter.

    Look for: "2026-000002", an orange "II major" badge and the title; the stage bar with
    reported, registered, dispatched ticked in green, handling highlighted, the rest grey; the
    deadline 2026-05-21 03:00 with 12h00m left and not supervised; the facts (accident or
    disaster/gas leak, urgent, the place, grid G01, 王女士 13800138000, phone, assignee
    grid:G01, reported 14:50, stage since 15:00) and the description, labels aligned; the
    timeline newest first (extension asked, two tasks, note, handling with its note,
    dispatched, registered, reported), long details wrapped; two open tasks (one with owner
    "G01 网格员", one due 05-20 19:00) and one extension "pending 0/1"; the footer with Void
    greyed (not allowed in handling), Task, Complete task, Back, Report. Under the deadline, as
    the engine's first sweep found them: "Reports 初报 due in 20 min · 续报一 due in 50 min" (the
    initial report 30 minutes after 14:50; a follow-up an hour after the stage changed at 15:00);
    no reports table yet (none drafted). At 80x24 the stage bar stays
    whole up to "closed" (arrows without spaces), the timeline takes the whole width (its
    details column the widest) with the tasks and extensions side by side under it, and the
    footer keeps Task, Complete task and Back (long words cut with "…"; Report, at its end,
    gives way). Asserted on the drawn text by test_detail_screen_fits.
    """

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("end", "enter")
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(busy_desk, home="incidents"), terminal_size=size, run_before=run_before
    )


@LANGS
def test_new_case_form_with_errors(snap_compare, ctx: Context, lang):
    """The new-case form saved with no title, no category and the phone "12ab".

    Look for: the dialog over the empty incidents view (no matching cases, under the table
    header); three red lines, each under its own row: the title is required, choose a
    category, '12ab' is not a phone number; the title, category and phone fields tinted red;
    the title field focused (the first bad one); level IV general, urgency normal and source
    phone preselected.
    """

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        pilot.app.screen.query_one("#new-reporter-phone", Input).focus()
        await pilot.press(*"12ab", "ctrl+s")
        await pilot.pause()

    assert snap_compare(
        DutydeskApp(ctx, home="incidents"), terminal_size=SIZE, run_before=run_before
    )


@LANGS
def test_sitrep_form(snap_compare, ctx: Context, log_case, lang):
    """The information report form at 80x24: a severity II fire's initial report, drafted
    with R on the case screen, then saved with the dead "-1" and the evacuated "十几".

    Look for: the box titled "初报 · 2026-000001 幸福社区3号楼火灾" filling the terminal, with a
    scrollbar (the form scrolls); the Chinese labels in one column (接报时间及来源, 事发时间,
    事发地点 ...) with the values the record knows filled in; at the bottom, scrolled to the
    first bad field, the figures' rows (死亡 -1 tinted red, 受伤, 失联 / 被困, 转移疏散 十几 tinted
    red, the "as of" time) and under them two red lines naming 死亡 (cannot be negative) and 转移
    疏散 (not a whole number); the save and cancel buttons below.
    """
    from dataclasses import replace as replaced

    assert lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))
    log_case(
        "幸福社区3号楼火灾",
        "accident_disaster",
        type="fire",
        severity="II",
        grid="G01",
        location="幸福社区3号楼",
        reporter_name="王女士",
        description="三楼住户厨房起火，浓烟较大",
    )
    desk = replaced(ctx)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#sitrep-figure-dead", Input).value = "-1"
        screen.query_one("#sitrep-figure-evacuated", Input).value = "十几"
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(desk, home="incidents"), terminal_size=SMALL, run_before=run_before
    )


@pytest.fixture
def mobilized(busy_desk: Context, clock, monkeypatch: pytest.MonkeyPatch) -> int:
    """busy_desk, a jurisdiction, a mobilization of G01 called, one yes; the engine elsewhere.

    The lease belongs to another process, so no engine thread changes anything under the
    snapshot: what is drawn is what the test wrote.
    """
    ctx = busy_desk
    assert lease.acquire(ctx.db, "serve:elsewhere", clock.now(), timedelta(days=1))
    jurisdiction(ctx)
    # Ack codes come from the secrets module, unpredictable by design: the snapshot draws
    # them from a seeded generator instead, so that they are the same in every run.
    seeded = random.Random(20261126)
    monkeypatch.setattr(cascade.secrets, "randbelow", seeded.randrange)
    mob = start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="防汛集结 flood muster",
        mode="broadcast",
        incident_id=2,
    )
    drive(ctx)
    clock.advance(minutes=3)
    first = recipient_rows(ctx.db, mob)[0]
    record_answer(ctx.db, ctx.clock, OPERATOR, yes=True, via="console", code=first["code"])
    clock.advance(minutes=2)
    return mob


@SIZES
@LANGS
def test_dashboard(snap_compare, busy_desk: Context, mobilized: int, size, lang):
    """The home screen: open/overdue/supervised counters (overdue and supervised red with ⚠),
    engine 'elsewhere' in words and the clock in Shanghai time; stages and levels with numbers;
    the mobilization with its yes/no/silent bar; the feed, newest first. At 80x24 the counters
    and engine line stay whole and the panels stack."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(DutydeskApp(busy_desk), terminal_size=size, run_before=run_before)


@SIZES
@LANGS
def test_mobilization_screen(snap_compare, busy_desk: Context, mobilized: int, size, lang):
    """A broadcast to G01: the leader answered yes after 3 minutes (✔ said yes on the leader
    node), the members silent for 5 minutes (⏳ 5m) and listed under 'still silent' with their
    codes; counters notified/yes/silent; p50 3.0 min. At 80x24 the tree and the list stack."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        pilot.app.push_screen(MobilizationScreen(mobilized))
        await settle(pilot)

    assert snap_compare(DutydeskApp(busy_desk), terminal_size=size, run_before=run_before)


def plain_cells(table: DataTable[object], column: str) -> list[str]:
    return [
        str(table.get_cell_at((row, table.get_column_index(column))))
        for row in range(table.row_count)
    ]


@SIZES
@LANGS
async def test_incidents_view_fits(busy_desk: Context, size, lang):
    """What test_incidents_view's docstring promises about fitting, on the drawn text."""
    app = DutydeskApp(busy_desk, home="incidents")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        shown = [str(key.value) for key in table.columns]
        assert shown[:4] == ["number", "severity", "stage", "left"] and shown[-1] == "title"
        assert ("deadline" in shown) is (size == SIZE)
        # Every column is on the screen: nothing to scroll sideways to.
        assert table.virtual_size.width <= table.scrollable_content_region.width
        title_width = table.columns["title"].width  # type: ignore[index]
        assert title_width >= TITLE_MIN
        titles = plain_cells(table, "title")
        assert len(titles) == 5
        for title in titles:
            assert cell_len(title) <= title_width
        whole = {c.title for c in _cases(busy_desk)}
        cut = [t for t in titles if t not in whole]
        for title in cut:  # cut where it had to be, "…" at the end
            kept = title[:-1].rstrip()
            assert title.endswith("…") and any(w.startswith(kept) for w in whole), title
        if size == SMALL:
            assert cut
        status = app.screen.query_one("#status", Static)
        line = str(status.render())
        assert line.endswith("05-20 15:00"), line
        assert cell_len(line) <= status.content_region.width
        assert _("open {count}").format(count=5) in line
        keys = str(app.screen.query_one(KeyBar).render())
        assert cell_len(keys) <= size[0]
        for key in ("⏎", " a ", " o ", " x ", " r ", " v ", " p ", " n ", " / ", " f "):
            assert key in keys, (key, keys)


@SIZES
@LANGS
async def test_detail_screen_fits(busy_desk: Context, size, lang):
    """What test_detail_screen's docstring promises about fitting, on the drawn text."""
    app = DutydeskApp(busy_desk, home="incidents")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("end", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentDetailScreen)
        bar = screen.query_one(StageBar)
        drawn = str(bar.render())
        assert cell_len(drawn) <= bar.size.width
        assert drawn.rstrip().endswith(_("closed")) and "…" not in drawn, drawn
        timeline = screen.query_one("#timeline", DataTable)
        widths = [c.get_render_width(timeline) for c in timeline.columns.values()]
        assert len(widths) == 4  # time, who, event, details
        assert widths[-1] == max(widths) and widths[-1] >= 24, widths
        assert timeline.virtual_size.width <= timeline.scrollable_content_region.width
        assert timeline.row_count == 8
        tasks = screen.query_one("#tasks", DataTable)
        extensions = screen.query_one("#extensions", DataTable)
        assert tasks.row_count == 2 and extensions.row_count == 1
        if size == SMALL:  # side by side under the timeline
            assert tasks.region.y > timeline.region.y and tasks.region.y == extensions.region.y
        keys = str(screen.query_one(KeyBar).render())
        assert cell_len(keys) <= size[0]
        for key, word in (("t", _("Task")), ("c", _("Complete task")), ("esc", _("Back"))):
            start = f" {key} {word[:2]}"  # long words may be cut, with "…"
            assert start in keys, (start, keys)


def test_detail_screen_with_field(snap_compare, ctx: Context, log_case):
    """A case sent to the field (grid G01) and answered from there, at 120x36, photos focused.

    Look for: in the side column under the (empty) Tasks and Extensions, the "Field" section:
    "→ grid G01 (G01网格) · sent 05-20 14:00" in bold; "✔ accepted by M1 05-20 14:05" in
    green; "to L1 (leader), M1 (member), M2 (member), SEC (alternate)" (the test town's people
    are named by their keys); "✗ M2 declined 05-20 14:03: 人在外地" in yellow; the progress
    note "已到现场" and the feedback "塌方已清理" (bold); under them the photos table (Time, Who,
    Kind, Size, W×H) with one row 05-20 14:05, M1, before, 304 B, 64×48, highlighted (the table
    has focus: the key bar starts with "o Open photo"). The case is in feedback; the timeline
    lists the field entries in words (to L1, M1, M2, SEC, G01网格, accept by …; M2 declined:
    人在外地; accepted by M1; M1: 已到现场; M1: before photo, 304 B, 64×48; M1: 塌方已清理).
    """
    from tests.console.test_case_field import answered_from_field

    answered_from_field(ctx, log_case)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("end", "enter")
        await settle(pilot)
        pilot.app.screen.query_one("#field-photos").focus()
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(ctx, home="incidents"), terminal_size=SIZE, run_before=run_before
    )


def _cases(ctx: Context) -> list[Any]:
    from incidents.records import ListFilter, list_incidents

    return list_incidents(ctx.db, ctx.clock.now(), ListFilter(), limit=50).items


def test_report_dialog(snap_compare, ctx: Context, log_case):
    """The case report dialog at 120x36, opened with O on a registered case's screen.

    Look for: the box titled "Report of 2026-000001" over the dimmed case screen; the report's
    title in bold; the key figures in three columns (label, value in bold right-aligned, a dim
    note): stages on time, total duration, mobilization reached, reports on time; no progress
    line (the build is done); the four format buttons HTML (h), PDF (p), Word (w), Markdown (m),
    HTML focused (enter writes it); the keys on the box's lower border.
    """
    assert lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))
    case = log_case("楼道堆放杂物", "safety_hazard", type="fire_hazard", grid="G03")
    workflow.register(ctx.db, ctx.clock, ctx.policy, "seed", case.id)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("O")
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(ctx, home="incidents"), terminal_size=SIZE, run_before=run_before
    )
