"""The uplink in the console, and the hub's console.

A township's dashboard shows its link to the county at a glance (connected, backing off until,
down since, token refused; the backlog, the age of its oldest event, the dead letters), raises a
toast once when the backlog grows older than ``[uplink] alarm_minutes`` or the hub refuses the
token. A county hub's console lists its units (open cases by level, overdue, silent ones in
red), drills into one unit's cases and shows what was received of one case, by keys.

Another process holds the engine lease, so no drain changes the link's state behind the test's
back: every state shown was written by the test, through the uplink's own functions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlite_utils import Database
from textual.widgets import DataTable, Static

import console.tui.app
from console.config import HubSettings, UplinkSettings
from console.context import Context
from console.tui.app import DutydeskApp
from console.tui.screens.dashboard import DashboardScreen
from incidents import workflow
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from store import lease
from store.clock import FixedClock
from store.db import connect, write
from tests.support.console import settle, wait_until
from uplink.models import Batch, LinkState
from uplink.outbox import Projection, mark_dead, mark_sent, project, sendable
from uplink.status import record_failure, record_ok

SIZE = (120, 36)
UNIT = "330106001"
HUB_URL = "http://127.0.0.1:9/"  # nothing listens there; no drain runs in these tests anyway


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx: Context) -> None:
    """A ``dutydesk serve`` elsewhere holds the engine lease: this console drains nothing."""
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


@pytest.fixture(autouse=True)
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher reads the uplink every 0.1 s rather than every 5 s."""
    monkeypatch.setattr(console.tui.app, "UPLINK_SECONDS", 0.1)


@pytest.fixture
def town(ctx: Context) -> Context:
    """The context of a township whose ``[uplink]`` points at a county hub (alarm: 15 min)."""
    uplink = UplinkSettings(url=HUB_URL, token="t", unit=UNIT, alarm=timedelta(minutes=15))
    return replace(ctx, config=replace(ctx.config, uplink=uplink, refresh_seconds=0.05))


@pytest.fixture
def toasts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every notification the console raises, as its message."""
    seen: list[str] = []
    original = DutydeskApp.notify

    def record(self: DutydeskApp, message: str, **kwargs: object) -> None:
        seen.append(message)
        original(self, message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DutydeskApp, "notify", record)
    return seen


def queue(ctx: Context, title: str = "幸福路燃气泄漏") -> None:
    """Log a case and project it into the outbox (its ``case_reported`` event)."""
    new = NewIncident(title=title, category="facilities")
    create_incident(ctx.db, ctx.clock, ctx.policy, "seed", new)
    project(ctx.db, Projection(UNIT), ctx.clock.now())


def uplink_line(app: DutydeskApp) -> str:
    widget = app.screen.query_one("#uplink", Static)
    return str(widget.render()) if widget.display else ""


def alarms(seen: list[str]) -> int:
    return sum("wait to go up to the level above" in message for message in seen)


def refusals(seen: list[str]) -> int:
    return sum("the hub refused our token" in message for message in seen)


# ---- the uplink at a glance -----------------------------------------------------------------


async def test_no_uplink_no_line(ctx: Context) -> None:
    """Without ``[uplink] url`` the dashboard keeps quiet: no uplink line at all."""
    app = DutydeskApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.uplink is not None and app.uplink.state is LinkState.OFF
        assert uplink_line(app) == ""


async def test_connected_with_nothing_waiting(town: Context, clock: FixedClock) -> None:
    queue(town)
    with write(town.db):
        rows = [(e.row, "accepted") for e in sendable(town.db, UNIT, 10)]
        mark_sent(town.db, rows, clock.now())
        record_ok(town.db, clock.now(), len(rows))
    app = DutydeskApp(town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: uplink_line(app), what="the uplink line")
        line = uplink_line(app)
        assert "uplink ● connected · backlog 0" in line
        assert "oldest" not in line and "dead letters" not in line


async def test_backing_off_shows_until_when_since_when_and_the_backlog(
    town: Context, clock: FixedClock, toasts: list[str]
) -> None:
    """14:00 Shanghai: three events queued; the hub failed at 14:00 and at 14:12, the next try
    is at 14:17. Twelve minutes is within the 15-minute alarm: no toast."""
    for title in ("燃气泄漏", "井盖缺失", "楼道堆物"):
        queue(town, title)
    with write(town.db):
        record_failure(
            town.db,
            clock.now(),
            LinkState.BACKING_OFF,
            "refused",
            clock.now() + timedelta(minutes=1),
        )
    clock.advance(minutes=12)
    with write(town.db):
        record_failure(
            town.db,
            clock.now(),
            LinkState.BACKING_OFF,
            "connection refused",
            clock.now() + timedelta(minutes=5),
        )
    app = DutydeskApp(town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: uplink_line(app), what="the uplink line")
        line = uplink_line(app)
        assert "backing off until 14:17" in line
        assert "down since 14:00" in line
        assert "backlog 3" in line
        assert "oldest 12m" in line and "⚠" not in line
        assert alarms(toasts) == 0


async def test_a_refused_token_and_dead_letters_are_shown_and_told_once(
    town: Context, clock: FixedClock, toasts: list[str]
) -> None:
    queue(town, "燃气泄漏")
    queue(town, "井盖缺失")
    app = DutydeskApp(town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: "idle" in uplink_line(app), what="the idle link")
        assert "backlog 2" in uplink_line(app)
        assert refusals(toasts) == 0
        # The drain (elsewhere) is refused the token and gives one event up as a dead letter.
        with app.db_lock, write(town.db):
            first = sendable(town.db, UNIT, 1)[0]
            mark_dead(town.db, first.row, "unit mismatch")
            record_failure(
                town.db,
                clock.now(),
                LinkState.UNAUTHORIZED,
                "401 token revoked",
                clock.now() + timedelta(minutes=5),
            )
        await wait_until(pilot, lambda: "token refused" in uplink_line(app), what="the refusal")
        line = uplink_line(app)
        assert "⚠ token refused" in line
        assert "backlog 1" in line
        assert "⚠ dead letters 1" in line
        await wait_until(pilot, lambda: refusals(toasts) == 1, what="the refusal's toast")
        # Checked again and again while still refused (the app's timer runs the same check
        # once a second): told once.
        clock.advance(seconds=30)
        for _ in range(5):
            app.check_uplink()
        await settle(pilot)
        assert refusals(toasts) == 1


async def test_an_old_backlog_raises_one_toast_until_it_clears(
    town: Context, clock: FixedClock, toasts: list[str]
) -> None:
    queue(town)
    app = DutydeskApp(town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: "backlog 1" in uplink_line(app), what="the backlog")
        clock.advance(minutes=14)
        for _ in range(3):
            app.check_uplink()  # what the app's timer runs once a second
        await settle(pilot)
        assert alarms(toasts) == 0
        clock.advance(minutes=2)  # 16 minutes: past the 15-minute alarm
        await wait_until(pilot, lambda: alarms(toasts) == 1, what="the alarm", within=5)
        await wait_until(pilot, lambda: "⚠ oldest 16m" in uplink_line(app), what="the age in red")
        clock.advance(minutes=1)
        for _ in range(3):
            app.check_uplink()  # it goes on holding, and is not told again
        await settle(pilot)
        assert alarms(toasts) == 1
        # The link comes back and sends it: the alarm clears...
        with app.db_lock, write(town.db):
            rows = [(e.row, "accepted") for e in sendable(town.db, UNIT, 10)]
            mark_sent(town.db, rows, clock.now())
            record_ok(town.db, clock.now(), len(rows))
        await wait_until(pilot, lambda: "connected · backlog 0" in uplink_line(app))
        # ... and a new backlog that grows old is told again.
        with app.db_lock:
            queue(town, "楼道堆物")
        await wait_until(pilot, lambda: "backlog 1" in uplink_line(app))
        clock.advance(minutes=20)
        await wait_until(pilot, lambda: alarms(toasts) == 2, what="the second alarm", within=5)


# ---- the hub's console ----------------------------------------------------------------------


def township_events(
    clock: FixedClock, unit: str, cases: list[dict[str, object]], *, register: str = ""
) -> Batch:
    """A township's first events, made as a township makes them: its own database, its cases
    logged (the one titled ``register`` also registered) and projected into its outbox; what
    it would send in one batch."""
    town = connect()
    policy = Policy()
    try:
        for fields in cases:
            new = NewIncident(**fields)  # type: ignore[arg-type]
            case = create_incident(town, clock, policy, "seed", new)
            if case.title == register:
                workflow.register(town, clock, policy, "seed", case.id)
        project(town, Projection(unit), clock.now())
        events = tuple(e.event for e in sendable(town, unit, 500))
    finally:
        town.close()
    return Batch(unit, events)


def deliver(db: Database, batch: Batch, now: datetime) -> None:
    from uplink.hub import ingest

    body = json.dumps(batch.to_json(), sort_keys=True).encode()
    key = hashlib.sha256(body).hexdigest()[:32]
    ingest(db, batch.unit, batch, now, key=key, body_hash=hashlib.sha256(body).hexdigest())


@pytest.fixture
def county(ctx: Context, clock: FixedClock) -> Context:
    """A county hub with two townships: 清水镇 sent three cases a minute ago (the flood one
    already overdue); 河西街道 sent one case two hours ago and has been silent since."""
    from uplink.hub import add_unit, authenticate

    start = clock.now()
    _unit, quiet_token = add_unit(ctx.db, start, "T02", "河西街道")
    _unit, busy_token = add_unit(ctx.db, start, "T01", "清水镇")
    town_clock = FixedClock(start)
    quiet = township_events(town_clock, "T02", [{"title": "河堤渗水", "category": "facilities"}])
    authenticate(ctx.db, quiet_token, town_clock.now())
    deliver(ctx.db, quiet, town_clock.now())
    town_clock.advance(minutes=60)
    busy = township_events(
        town_clock,
        "T01",
        [
            {
                "title": "清水河桥下水位上涨",
                "category": "natural_disaster",
                "type": "flood",
                "severity": "III",
                "urgency": "urgent",
            },
            {"title": "工业园仓库起火", "category": "accident_disaster", "severity": "I"},
            {"title": "井盖缺失", "category": "facilities"},
        ],
        register="工业园仓库起火",
    )
    clock.advance(minutes=119)
    authenticate(ctx.db, busy_token, clock.now())
    deliver(ctx.db, busy, clock.now())
    clock.advance(minutes=1)
    hub = HubSettings(enabled=True, silent=timedelta(minutes=30))
    return replace(ctx, config=replace(ctx.config, hub=hub))


def rows_of(table: DataTable[object]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_the_units_screen_flags_the_silent_unit_and_drills_down_by_keys(
    county: Context,
) -> None:
    app = DutydeskApp(county)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: app.has_hub, what="the hub to be known")
        await pilot.press("b")
        await settle(pilot)
        from console.tui.screens.hub import HubCasesScreen, HubTimelineScreen, HubUnitsScreen

        assert isinstance(app.screen, HubUnitsScreen)
        units = app.screen.query_one("#hub-units", DataTable)
        await wait_until(pilot, lambda: units.row_count == 2, what="two units")
        rows = {row[0]: row for row in rows_of(units)}
        busy, quiet = rows["T01"], rows["T02"]
        assert busy[1] == "清水镇"
        assert "SILENT" not in busy[2]
        # the I case owed an initial report within 30 minutes, an hour ago; the III one's is
        # due now (60 minutes)
        assert busy[3].startswith("⚠ missing 1 due ") and quiet[3] == "0"
        assert [cell.strip() for cell in busy[4:8]] == ["1", "0", "1", "1"]  # I, II, III, IV
        assert busy[8].strip() == "3"  # open
        assert busy[9].strip() == "⚠ 1"  # overdue: the flood case
        assert busy[12] == "1m ago"
        assert "⚠ SILENT" in quiet[2]
        assert quiet[12] == "2h00m ago"
        status = str(app.screen.query_one("#hub-units-status", Static).render())
        assert "2 units" in status and "silent 1" in status
        assert "⚠ missing 1" in status

        # Enter on 清水镇: its cases, the overdue one first.
        units.move_cursor(row=units.get_row_index("T01"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HubCasesScreen)
        found = app.screen.query_one("#hub-cases", DataTable)
        await wait_until(pilot, lambda: found.row_count == 3, what="three cases")
        first = rows_of(found)[0]
        assert "清水河桥下水位上涨" in first[2]
        assert "overdue" in first[4]

        # Enter on the fire case (registered at the unit): what was received of it, in order.
        fire = next(i for i, row in enumerate(rows_of(found)) if "工业园仓库起火" in row[2])
        found.move_cursor(row=fire)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HubTimelineScreen)
        events = app.screen.query_one("#hub-timeline", DataTable)
        await wait_until(pilot, lambda: events.row_count == 2, what="the fire case's events")
        timeline = rows_of(events)
        assert [row[0] for row in timeline] == ["1", "2"]
        assert timeline[0][1] == "reported" and timeline[1][1] == "stage changed"
        assert all(row[4] == "applied" for row in timeline)
        assert timeline[0][5] == "工业园仓库起火"
        assert timeline[1][5] == "reported → registered"
        payload = str(app.screen.query_one("#hub-payload", Static).render())
        assert "工业园仓库起火" in payload

        # Escape goes back, step by step, to the dashboard.
        await pilot.press("escape")
        assert isinstance(app.screen, HubCasesScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, HubUnitsScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_a_township_has_no_units_key(ctx: Context) -> None:
    """Without units below and without ``[hub] enabled`` the key is neither shown nor bound."""
    app = DutydeskApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.has_hub
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


async def test_the_queue_status_line_shows_the_uplink(town: Context, clock: FixedClock) -> None:
    """The queue's status line carries the short form: one phrase for the state, the backlog."""
    queue(town)
    with write(town.db):
        record_failure(
            town.db,
            clock.now(),
            LinkState.BACKING_OFF,
            "refused",
            clock.now() + timedelta(minutes=5),
        )
    app = DutydeskApp(town, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = lambda: str(app.screen.query_one("#status", Static).render())  # noqa: E731
        await wait_until(pilot, lambda: "uplink" in status(), what="the uplink in the status line")
        assert "uplink ◌ backing off until 14:05 · backlog 1" in status()
        assert "down since" not in status()  # the short form: one phrase


def test_a_received_report_says_which_it_is_in_the_timeline() -> None:
    """The hub's timeline line of a ``report`` event: its name, signer, or whom it was phoned."""
    from datetime import UTC

    from console.tui.screens.hub import event_summary
    from uplink.hub import ReceivedEvent

    def received(report: dict[str, object]) -> ReceivedEvent:
        at = datetime(2026, 11, 26, 2, 20, tzinfo=UTC)
        payload = {"report": report, "case": {"number": "2026-000001"}}
        return ReceivedEvent(
            "T1", "e" * 32, "case:2026-000001", 3, "report", at, at, "applied", payload
        )

    assert event_summary(received({"name": "续报二", "signed_by": "陈队长"})) == (
        "续报二 · signed off by 陈队长"
    )
    assert event_summary(received({"name": "电话报告", "to": "区应急局"})) == (
        "电话报告 · by phone to 区应急局"
    )
