"""Searching the incidents view as a duty officer does: ``/``, words, Enter, Enter.

The second Enter opens the hit the table highlights (the first, however far down the cursor was
before the search), also when it comes before the results are read; a fire reported as 冒烟 is
found by 火灾 (its type's name); a search finding more than a screenful pages on and says how
many it found; a number's tail (``244``) opens that case.
"""

from __future__ import annotations

import threading

import pytest
from textual.widgets import DataTable, Static

from console.tui.app import DutydeskApp
from console.tui.screens import IncidentDetailScreen, IncidentsScreen
from console.tui.screens.incidents import COLUMNS
from incidents.models import Incident
from tests.support.console import settle

SIZE = (120, 36)
SMALL = (80, 24)
NUMBER = [key for key, _ in COLUMNS].index("number")


def rows(app: DutydeskApp) -> list[list[str]]:
    table = app.screen.query_one("#incidents", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def status(app: DutydeskApp) -> str:
    return str(app.screen.query_one("#status", Static).render())


def opened(app: DutydeskApp) -> Incident | None:
    screen = app.screen
    return screen.incident if isinstance(screen, IncidentDetailScreen) else None


@pytest.fixture
def fires(log_case, clock) -> list[Incident]:
    """Six cases: three fires (one reported as 冒烟, so only its type says fire), three others
    whose deadlines come first, so the cursor can stand on a row the search drops."""
    others = [
        log_case("路灯不亮", "facilities", type="streetlight", urgency="urgent"),
        log_case("井盖缺失", "facilities", type="manhole", urgency="urgent"),
        log_case("垃圾堆放", "environment", type="garbage", urgency="urgent"),
    ]
    clock.advance(minutes=1)
    fire = [
        log_case("仓库发生火灾", "accident_disaster", type="fire"),
        log_case("5栋楼道冒烟", "accident_disaster", type="fire"),
        log_case("厨房火灾已扑灭", "accident_disaster", type="fire"),
    ]
    return others + fire


@pytest.mark.parametrize("wait", [True, False], ids=["after-the-results", "before-them"])
async def test_enter_enter_opens_the_highlighted_first_hit(ctx, fires, wait, monkeypatch):
    # The search's read waits until the test lets it go: "before-them" presses the second
    # Enter while the table still shows the rows of before the search.
    release = threading.Event()
    read = IncidentsScreen._list

    def slow_search(self, flt, after, limit):  # noqa: ANN001, ANN202
        if flt.text:
            assert release.wait(10), "the search was never let go"
        return read(self, flt, after, limit)

    monkeypatch.setattr(IncidentsScreen, "_list", slow_search)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(rows(app)) == 6
        await pilot.press("down", "down")  # the cursor on the third row, not a fire
        assert app.screen.query_one("#incidents", DataTable).cursor_row == 2

        await pilot.press("slash", *"火灾", "enter")
        if not wait:
            await pilot.press("enter")
            await pilot.pause()
            # Not the old third row: nothing opens until the hits are read.
            assert isinstance(app.screen, IncidentsScreen)
        release.set()
        if wait:
            await settle(pilot)
            titles = [r[[k for k, _ in COLUMNS].index("title")] for r in rows(app)]
            # The 冒烟 case is found by its type, 火灾; the cursor is on the first hit.
            assert sorted(titles) == sorted(["仓库发生火灾", "5栋楼道冒烟", "厨房火灾已扑灭"])
            assert app.screen.query_one("#incidents", DataTable).cursor_row == 0
            assert "3 found" in status(app)
        first = app.screen.query_one("#incidents", DataTable)
        if wait:
            await pilot.press("enter")
        await settle(pilot)
        case = opened(app)
        assert case is not None, "enter opened no case"
        assert "火灾" in case.title or case.title == "5栋楼道冒烟"
        # It is the first hit of the search, the one highlighted.
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        assert first.cursor_row == 0
        assert rows(app)[0][NUMBER] == case.number


async def test_a_search_finding_more_than_a_screenful_pages_on(ctx, log_case, clock):
    for n in range(45):
        clock.advance(seconds=1)
        log_case(f"楼道冒烟 {n:02d}", "accident_disaster", type="fire")
    log_case("路灯不亮", "facilities", type="streetlight")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"火灾", "enter")
        await settle(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        assert table.row_count == 45
        assert "45 found" in status(app)
        await pilot.press("pagedown", "pagedown")
        assert table.cursor_row > 20
        chosen = rows(app)[table.cursor_row][NUMBER]
        await pilot.press("enter")
        await settle(pilot)
        case = opened(app)
        assert case is not None and case.number == chosen


async def test_the_found_count_says_when_more_are_to_be_read(ctx, log_case, clock, monkeypatch):
    """With fewer rows read than found, the status line says so and how to read on."""
    from console.tui.screens import incidents as screen

    monkeypatch.setattr(screen, "PAGE", 10)
    monkeypatch.setattr(screen, "READ_AHEAD", 10)
    for n in range(25):
        clock.advance(seconds=1)
        log_case(f"楼道冒烟 {n:02d}", "accident_disaster", type="fire")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"冒烟", "enter")
        await settle(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        shown = table.row_count
        assert shown < 25
        assert f"{shown} of 25 found, pgdn for more" in status(app)
        for _ in range(5):  # each page read, the next is read when the cursor nears it
            await pilot.press("end")
            await settle(pilot)
        assert table.row_count == 25
        assert "25 found" in status(app) and "of 25" not in status(app)


async def test_a_number_s_tail_opens_that_case(ctx, log_case, clock):
    for n in range(1, 245):
        log_case(f"巡查发现问题 {n}")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"244", "enter")
        await settle(pilot)
        case = opened(app)
        assert case is not None and case.number == "2026-000244"

        # A tail no case has is searched for as words, without a warning.
        await pilot.press("escape")
        await settle(pilot)
        search = app.screen.query_one("#search")
        search.value = ""
        await pilot.press("slash", *"9999", "enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        assert rows(app) == []
