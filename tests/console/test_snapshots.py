"""Snapshot tests of the console (pytest-textual-snapshot); each docstring says what to look for.

Update with ``pytest tests/console/test_snapshots.py --snapshot-update`` and look at every SVG
under ``tests/console/__snapshots__`` before accepting it.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import pytest_textual_snapshot
from textual.pilot import Pilot
from textual.widgets import Input

from console.app import DutydeskApp
from console.context import Context
from console.screens.mobilization import MobilizationScreen
from contacts.mobilize import Target, recipient_rows, record_answer, start_mobilization
from incidents import workflow
from store import lease
from tests.console.conftest import OPERATOR, settle
from tests.console.test_mobilization_screen import drive, jurisdiction

SIZE = (120, 36)
SMALL = (80, 24)

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
    return ctx


def test_incidents_view(snap_compare, busy_desk: Context):
    """The incidents view on opening, at 15:00 Shanghai time.

    Look for: five active cases sorted by deadline, the first highlighted; the level column as
    badges on the warning colors (III yellow, I red, IV blue, II orange); the flood case first
    with stage "上报 督办" (督办 in red) and "overdue 30m"; the fire case's "30m" in yellow (less
    than an hour left); the gas case last, in 处置, with 12h00m left; the status line "在办 open 5
    超期 overdue 1 (the 1 in red)  督办 supervised 1  挂账 parked 0 │ 5 rows │ engine: here │
    05-20 15:00"; the filter bar (search, stage, level, 超期/督办/挂账/结案); the footer with
    ⏎ 打开, a 推进, o 备注, x 延期, r 回退 and p 挂账 greyed (not allowed from 上报), v 作废,
    n 新建, / 搜索, f 筛选, q 退出 and ^p palette.
    """

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(busy_desk, home="incidents"), terminal_size=SIZE, run_before=run_before
    )


def test_detail_screen(snap_compare, busy_desk: Context):
    """The detail screen of the gas-leak case 2026-000002, opened with end + enter.

    Look for: "2026-000002", an orange "II 重大" badge and the title; the stage bar with
    ✓上报 ✓立案 ✓派遣 in green, 处置 highlighted, 反馈 核查 结案 grey; "时限 deadline 2026-05-21
    03:00  12h00m" and no 督办; the facts in two columns (事故灾难/燃气泄漏, 紧急 urgent, the
    place, grid G01, 王女士 13800138000, 电话, assignee grid:G01, reported 14:50, stage since
    15:00) and the description under them, labels aligned; on the left the timeline, newest
    first (申请延期, 新任务 ×2, 备注, 处置 with its note, 派遣, 立案, 上报), long details wrapped;
    on the right two open tasks (one with owner "G01 网格员", one due 05-20 19:00) and one
    extension "待批 0/1"; the footer with v 作废 greyed (not allowed in 处置) and t 任务,
    c 完成任务, esc 返回.
    """

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("end", "enter")
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(busy_desk, home="incidents"), terminal_size=SIZE, run_before=run_before
    )


def test_new_case_form_with_errors(snap_compare, ctx: Context):
    """The 新建事件 form saved with no title, no category and the phone "12ab".

    Look for: the dialog over the empty incidents view ("没有符合条件的事件 ..." under the
    table header); three red lines, each under its own row: "title: a title is required",
    "category: 请选择类别 choose a category" and "reporter phone: '12ab' is not a phone
    number"; the title, category and phone fields tinted red; the title field focused (the
    first bad one); level "IV 一般", "一般 normal" and "电话 phone" preselected.
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


@pytest.fixture
def mobilized(busy_desk: Context, clock) -> int:
    """busy_desk, a jurisdiction, a mobilization of G01 called, one yes; the engine elsewhere.

    The lease belongs to another process, so no engine thread changes anything under the
    snapshot: what is drawn is what the test wrote.
    """
    ctx = busy_desk
    assert lease.acquire(ctx.db, "serve:elsewhere", clock.now(), timedelta(days=1))
    jurisdiction(ctx)
    random.seed(20261126)  # ack codes are drawn at random: the same ones in every run
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


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_dashboard(snap_compare, busy_desk: Context, mobilized: int, size):
    """The home screen: open/overdue/supervised counters (overdue and supervised red with ⚠),
    engine 'elsewhere' in words and the clock in Shanghai time; stages and levels with numbers;
    the mobilization with its yes/no/silent bar; the feed, newest first. At 80x24 the counters
    and engine line stay whole and the panels stack."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(DutydeskApp(busy_desk), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_mobilization_screen(snap_compare, busy_desk: Context, mobilized: int, size):
    """A broadcast to G01: the leader answered yes after 3 minutes (✔ 到 yes on the leader
    node), the members silent for 5 minutes (⏳ 5m) and listed under 'still silent' with their
    codes; counters notified/yes/silent; p50 3.0 min. At 80x24 the tree and the list stack."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        pilot.app.push_screen(MobilizationScreen(mobilized))
        await settle(pilot)

    assert snap_compare(DutydeskApp(busy_desk), terminal_size=size, run_before=run_before)


def test_incidents_view_small(snap_compare, busy_desk: Context):
    """The queue at 80x24: number, level, stage, time left and title stay readable (the
    narrower columns cut the title with an ellipsis), the footer keys still there."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(
        DutydeskApp(busy_desk, home="incidents"), terminal_size=SMALL, run_before=run_before
    )
