"""The dashboard warns when the next weeks reach a year whose official holidays are unknown
(the installed chinesecalendar covers 2004-2026): a line, not a silent count of weekdays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.tui.app import DutydeskApp
from console.tui.screens import DashboardScreen
from console.tui.widgets.calendar_warning import CalendarWarning
from store import lease
from store.clock import FixedClock
from tests.support.console import settle, wait_until


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    """A ``dutydesk serve`` elsewhere holds the engine lease: nothing writes behind the test."""
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=400))


def line(app: DutydeskApp) -> CalendarWarning:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen.query_one("#calendar-line", CalendarWarning)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
async def test_december_2026_warns_that_2027_is_unknown(ctx, clock: FixedClock, size) -> None:
    clock.set(datetime(2026, 12, 7, 1, 0, tzinfo=UTC))  # 09:00 in Shanghai, 25 days to 2027
    app = DutydeskApp(ctx)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        warning = line(app)
        await wait_until(pilot, lambda: warning.years is not None, what="the calendar check")
        assert warning.years == [2027]
        assert warning.display and warning.region.height == 1
        assert warning.region.right <= size[0]
        text = str(warning.render())
        assert text.startswith("⚠ 2027: official holidays unknown")


async def test_no_line_while_the_coming_weeks_are_covered(ctx) -> None:
    """The console tests' clock: 2026-05-20, the next 60 days all in 2026."""
    app = DutydeskApp(ctx)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        warning = line(app)
        await wait_until(pilot, lambda: warning.years is not None, what="the calendar check")
        assert warning.years == [] and not warning.display
