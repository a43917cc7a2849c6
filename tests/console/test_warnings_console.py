"""The console's part of warnings, directives and 叫应: the alerts screen (a 叫应 started by hand),
the directives' inbox (a toast and the bell on arrival, a reply, a toast when overdue), the
notices of a warning received, and the hub's board of a warning (a flagged unit)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlite_utils import Database
from textual.widgets import DataTable, Static

from console.context import Context
from console.tui.app import DutydeskApp
from contacts.people import NewPerson, add_person
from jurisdiction.units import NewUnit, add_unit
from reports.notices import NoticeWatcher
from store.clock import FixedClock, to_iso
from store.db import connect, write
from tests.console.conftest import NOW
from tests.support.console import OPERATOR, settle, wait_until
from uplink import alerts, callanswer, directives

TOWN = "330106001000"
COMMUNITY = "330106001001"


def cap_xml(severity: str, *, event: str = "暴雨", hours: float = 12, tmp_db: Database) -> bytes:
    """A warning as the county would send it down: issued on a database of its own."""
    spec = alerts.AlertSpec(
        event=event,
        severity=severity,
        urgency="Expected",
        certainty="Likely",
        headline=f"城关街道{event}预警",
        description="未来6小时降雨量将达50毫米以上。",
        instruction="请各社区、网格做好防汛准备。",
        area_desc="城关街道",
        area_codes=(TOWN,),
        expires=NOW + timedelta(hours=hours),
    )
    record = alerts.issue(tmp_db, FixedClock(NOW), "county", spec, sender_code="330106")
    return record.xml


@pytest.fixture
def county(tmp_path) -> Database:
    database = connect(tmp_path / "county.db")
    yield database
    database.close()


@pytest.fixture
def area(ctx: Context) -> Context:
    """A township, a community with its secretary, grid G01 with its leader."""
    db, clock = ctx.db, ctx.clock
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COMMUNITY, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "G01网格", "grid", parent=COMMUNITY))
    secretary = NewPerson(
        name="王书记", unit=COMMUNITY, phone="13800138001", roles=["community_secretary"]
    )
    add_person(db, clock, OPERATOR, secretary, key="S1")
    leader = NewPerson(name="李网格", unit="G01", phone="13800138004", roles=["grid_leader"])
    add_person(db, clock, OPERATOR, leader, key="L1")
    return ctx


def receive(ctx: Context, xml: bytes) -> alerts.AlertRecord:
    """The unit receives a warning as the engine does: the receipt and the automatic 叫应."""
    with write(ctx.db):
        received = alerts.receive(ctx.db, ctx.clock, xml, via="push")
        if received.new:
            callanswer.maybe_start(ctx.db, ctx.clock, received.record, ctx.config.warning)
    return alerts.get_alert(ctx.db, received.record.identifier)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def row_text(table: DataTable, index: int = 0) -> str:
    return " ".join(str(cell) for cell in table.get_row_at(index))


# ---- notices ----------------------------------------------------------------------------------


def test_an_orange_warning_received_is_a_toast_in_words_with_the_bell(area, county):
    watcher = NoticeWatcher(area.db, zone=area.config.zone)
    watcher.poll()
    receive(area, cap_xml("Severe", tmp_db=county))
    [notice] = [n for n in watcher.poll() if "warning" in n.title.lower()]
    assert notice.title == "Warning received: orange 暴雨 warning"
    assert "城关街道暴雨预警" in notice.message and "call-and-answer started" in notice.message
    assert "until 05-21 02:00" in notice.message  # 18:00 UTC in Shanghai
    assert notice.bell is True and notice.severity == "error"


def test_a_blue_warning_is_told_without_the_bell(area, county):
    watcher = NoticeWatcher(area.db)
    watcher.poll()
    receive(area, cap_xml("Minor", tmp_db=county))
    [notice] = [n for n in watcher.poll() if "warning" in n.title.lower()]
    assert notice.title == "Warning received: blue 暴雨 warning"
    assert (
        "call-and-answer not started: below the level that starts a call-and-answer"
        in notice.message
    )
    assert notice.bell is False


# ---- the alerts screen ------------------------------------------------------------------------


async def test_the_alerts_screen_starts_a_call_by_hand(area, county):
    from console.tui.dialogs.yes_no import YesNoDialog
    from console.tui.screens.alerts import AlertsScreen
    from console.tui.screens.mobilization import MobilizationScreen
    from console.tui.screens.silent import SilentScreen

    record = receive(area, cap_xml("Moderate", tmp_db=county))  # yellow: no 叫应 on receipt
    assert record.call_state == "skipped"
    app = DutydeskApp(area)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("W")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        table = screen.query_one("#alerts", DataTable)
        line = row_text(table)
        assert "yellow" in line and "暴雨" in line and "in force" in line
        assert "not started" in line
        detail = text_of(screen, "#alerts-detail")
        assert "请各社区、网格做好防汛准备。" in detail and "Moderate" in detail
        assert record.identifier in detail

        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        await wait_until(pilot, lambda: screen.rows and screen.rows[0].call is not None)
        await settle(pilot)
        call = callanswer.call_of(area.db, record.id)
        assert call is not None and call.auto is False and call.counts.total == 2
        assert "0/2 answered" in row_text(table)
        assert f"mobilization #{call.mobilization_id}" in text_of(screen, "#alerts-detail")
        # A 叫应 runs: c does not start a second one.
        assert screen.check_action("start_call", ()) is None

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationScreen)
        assert app.screen.mobilization_id == call.mobilization_id
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("s")  # who has not answered, to phone now
        await settle(pilot)
        assert isinstance(app.screen, SilentScreen)


async def test_a_cancelled_warning_is_greyed_with_its_state_in_words(area, county):
    from console.tui.screens.alerts import AlertsScreen

    record = receive(area, cap_xml("Severe", tmp_db=county))
    with write(area.db):
        area.db.conn.execute(
            "UPDATE alerts SET cancelled_at = ? WHERE id = ?", (to_iso(NOW), record.id)
        )
    app = DutydeskApp(area)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("W")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        cells = screen.query_one("#alerts", DataTable).get_row_at(0)
        assert str(cells[2]) == "cancelled"
        assert "dim" in str(cells[1].style) and "dim" in str(cells[0].style)
        assert screen.check_action("start_call", ()) is None


# ---- directives -------------------------------------------------------------------------------


def directive(**fields: object) -> dict[str, object]:
    return {
        "id": "330106-20260520140000-1",
        "sender": "330106",
        "sender_name": "区防汛办",
        "title": "防汛检查部署",
        "text": "请于今日18时前报送辖区防汛检查情况。",
        "attachments": [{"name": "检查表.docx", "url": "https://county.example/d/1.docx"}],
        "sent_at": to_iso(NOW),
        "reply_by": to_iso(NOW + timedelta(hours=2)),
        **fields,
    }


async def test_a_directive_arrives_is_replied_to_and_a_late_one_goes_overdue(area, db_path):
    from console.tui.dialogs.directive_reply import DirectiveReplyDialog
    from console.tui.screens.directives import DirectivesScreen

    app = DutydeskApp(area)
    bells: list[None] = []
    async with app.run_test(size=(120, 36)) as pilot:
        app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
        await settle(pilot)
        app.poll_database()  # the watcher starts from here
        await settle(pilot)
        other = connect(db_path)  # the engine's pull: another connection, as in the real thing
        directives.receive(other, area.clock, directive(), via="push")
        directives.receive(
            other,
            area.clock,
            directive(id="330106-20260520140000-2", title="汛情统计", reply_by=to_iso(NOW)),
            via="poll",
        )
        app.poll_database()
        await wait_until(pilot, lambda: len(app._notifications) >= 2, what="the toasts")
        titles = [n.title for n in app._notifications]
        assert "Directive received: 防汛检查部署" in titles
        first = next(n for n in app._notifications if n.title.endswith("防汛检查部署"))
        assert "from 区防汛办" in first.message and "reply by 05-20 16:00" in first.message
        assert bells  # the bell rang

        await pilot.press("I")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DirectivesScreen)
        table = screen.query_one("#directives", DataTable)
        assert table.row_count == 2
        # The one due now is overdue already: marked in words, not by colour alone.
        lines = [row_text(table, i) for i in range(2)]
        assert any("⚠ reply overdue" in line and "汛情统计" in line for line in lines)
        assert any("● awaiting reply" in line and "防汛检查部署" in line for line in lines)
        table.move_cursor(row=next(i for i, line in enumerate(lines) if "防汛检查部署" in line))
        await settle(pilot)
        detail = text_of(screen, "#directives-detail")
        assert "请于今日18时前报送" in detail
        assert "检查表.docx" in detail and "https://county.example/d/1.docx" in detail

        await pilot.press("r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DirectiveReplyDialog)
        await pilot.press("ctrl+s")  # empty: refused under the field
        assert text_of(dialog, "#directive-reply-error") == "Reply: must not be empty"
        await pilot.press(*"已完成检查")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        await wait_until(pilot, lambda: directives.get_directive(area.db, directive()["id"]).reply)
        done = directives.get_directive(area.db, str(directive()["id"]))
        assert done.reply == "已完成检查" and done.replied_by == OPERATOR
        await settle(pilot)
        assert any("✔ replied" in row_text(table, i) for i in range(2))

        # The sweep finds the other one overdue: a toast (and the bell) says so.
        bells.clear()
        app._notifications.clear()
        area.clock.advance(minutes=5)
        directives.sweep_overdue(other, area.clock)
        other.close()
        app.poll_database()
        await wait_until(pilot, lambda: app._notifications, what="the overdue toast")
        [overdue] = list(app._notifications)
        assert overdue.title == "Directive reply overdue: 汛情统计"
        assert "reply was due 05-20 14:00" in overdue.message
        assert bells


# ---- the hub's board of a warning -------------------------------------------------------------


async def test_the_hub_board_of_a_warning_shows_a_flagged_unit(ctx):
    from console.tui.screens.hub import HubAlertScreen, HubAlertsScreen, HubUnitsScreen
    from uplink.downlink import fan_out_alert
    from uplink.hub import add_unit as add_hub_unit

    db, clock = ctx.db, ctx.clock
    for code, name in ((TOWN, "城关街道"), ("330106002000", "东湖镇")):
        add_hub_unit(db, clock.now(), code, name)
    spec = alerts.AlertSpec(
        event="暴雨",
        severity="Extreme",
        urgency="Immediate",
        certainty="Observed",
        headline="区气象台发布暴雨红色预警",
        area_desc="全区",
        area_codes=("330106",),
        expires=NOW + timedelta(hours=6),
    )
    record = alerts.issue(db, clock, OPERATOR, spec, sender_code="330106")
    units = fan_out_alert(db, clock.now(), record)
    assert sorted(units) == sorted([TOWN, "330106002000"])
    clock.advance(minutes=20)  # past [hub] call_start_minutes: nobody has started
    app = DutydeskApp(ctx)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.push_screen(HubUnitsScreen())
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        board = app.screen
        assert isinstance(board, HubAlertsScreen)
        listed = row_text(board.query_one("#hub-alerts", DataTable))
        assert "red" in listed and "暴雨" in listed and "⚠ 2" in listed
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HubAlertScreen) and screen.identifier == record.identifier
        table = screen.query_one("#hub-alert-units", DataTable)
        assert table.row_count == 2
        line = row_text(table, 0)
        assert "⚠ not received" in line and "not yet" in line
        status = text_of(screen, "#hub-alert-status")
        assert "received 0/2" in status and "⚠ flagged 2" in status


# ---- keys: the help and the palette -----------------------------------------------------------


async def test_the_alerts_and_directives_keys_are_in_the_help_and_the_palette(ctx):
    from console.tui.screens.directives import DirectivesScreen
    from console.tui.screens.help import HelpScreen, help_entries

    app = DutydeskApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        everywhere = {e.keys: e for e in help_entries(app.screen) if e.group == "app"}
        assert everywhere["W"].description == "Alerts" and everywhere["W"].enabled
        assert everywhere["I"].description == "Directives" and everywhere["I"].enabled
        assert not everywhere["W"].shown  # the footer of 80 columns stays as it was
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Alerts" in titles and "Directives" in titles
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("I")
        await settle(pilot)
        assert isinstance(app.screen, DirectivesScreen)
        assert "No directives" in text_of(app.screen, "#directives-empty")
        keys = {e.keys: e for e in help_entries(app.screen) if e.group == "screen"}
        assert keys["r"].description == "Reply" and not keys["r"].enabled  # nothing to reply to


# ---- the dashboard's banner -------------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
async def test_the_banner_shows_a_received_orange_warning_in_words(area, county, size):
    from console.tui.screens.alerts import AlertsScreen, read_banner
    from console.tui.screens.alerts import banner as draw
    from console.tui.screens.dashboard import DashboardScreen
    from console.tui.widgets.keybar import KeyBar

    app = DutydeskApp(area)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        assert not dashboard.query_one("#alerts-line").display  # no warning: no banner
        assert dashboard.check_action("alerts", ()) is False

        receive(area, cap_xml("Severe", tmp_db=county))
        dashboard.load()
        await wait_until(pilot, lambda: dashboard.query_one("#alerts-line").display, what="banner")
        await settle(pilot)
        banner = dashboard.query_one("#alerts-line", Static)
        line = str(banner.render())
        assert line.startswith("⚠  orange  暴雨 warning")  # the colour in words, on its colour
        if size[0] >= 120:
            assert "until 05-21 02:00 · call-and-answer 0/2 answered" in line
        drawn = draw(read_banner(area.db, NOW), NOW, area.config.zone)
        badge = next(span for span in drawn.spans if " on #" in str(span.style))
        assert drawn.plain[badge.start : badge.end] == " orange "  # the word on its colour
        assert banner.region.height == 1 and banner.region.right <= size[0]
        assert " W " + "Alerts" in str(dashboard.query_one(KeyBar).render()) or size[0] < 120

        await pilot.click("#alerts-line")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("W")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)


async def test_the_banner_holds_two_lines_at_most(area, county):
    from console.tui.screens.dashboard import DashboardScreen

    for event in ("暴雨", "大风", "雷电"):
        receive(area, cap_xml("Severe", event=event, tmp_db=county))
    app = DutydeskApp(area)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        await wait_until(pilot, lambda: dashboard.query_one("#alerts-line").display, what="banner")
        banner = dashboard.query_one("#alerts-line", Static)
        lines = str(banner.render()).splitlines()
        assert len(lines) == 2 and banner.region.height == 2
        assert "orange" in lines[0] and "2 more active alerts (W: the alerts)" in lines[1]
