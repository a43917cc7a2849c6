"""Information reports (初报、续报、终报) in the console: the form, the case screen, the dashboard.

A severity II case logged at the fixed clock owes its initial report 30 minutes later. The
engine runs elsewhere (another process holds the lease), so what the screens show is what
the test wrote: the obligations are brought up to date with :func:`uplink.sitreps.sweep`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from textual.widgets import DataTable, Input, Static, TextArea

from console.context import Context
from console.timeline import sitrep_details
from console.tui.app import DutydeskApp
from console.tui.dialogs.sitrep import SitrepDialog, figure_id
from console.tui.dialogs.yes_no import YesNoDialog
from console.tui.screens import IncidentDetailScreen
from console.tui.screens.dashboard import DashboardScreen
from incidents.models import Incident
from reports.handover import handover_brief
from reports.notices import NoticeWatcher
from store import lease
from store.i18n import _
from tests.support.console import OPERATOR, settle, wait_until
from uplink import sitreps
from uplink.reporting import ReportKind, ReportState
from uplink.sitrep_rules import SitrepRules

TITLE = "幸福社区3号楼火灾"


@pytest.fixture
def desk(ctx: Context) -> Context:
    """The console's context with the operator entitled to sign reports off; the engine
    elsewhere, so nothing changes under the screens but what the test does."""
    assert lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))
    config = ctx.config.with_sections(sitrep=SitrepRules(signers=(OPERATOR,)))
    return replace(ctx, config=config)


@pytest.fixture
def fire(desk: Context, log_case) -> Incident:
    """A severity II fire logged now: its initial report is due in 30 minutes."""
    case = log_case(TITLE, "accident_disaster", type="fire", severity="II", grid="G01")
    sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
    return case


async def open_case(app: DutydeskApp, pilot, case: Incident) -> IncidentDetailScreen:
    await settle(pilot)
    app.push_screen(IncidentDetailScreen(case.id))
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, IncidentDetailScreen)
    return screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def report_rows(screen) -> list[list[str]]:
    table = screen.query_one("#sitreps", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


# ---- the case screen ---------------------------------------------------------------------------


async def test_the_case_screen_says_when_the_initial_report_is_due(desk, fire, clock):
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        line = text_of(screen, "#detail-reporting")
        assert "初报 " + _("due in {time}").format(time="30 min") in line, line
        assert screen.query_one("#detail-reporting").display
        assert not screen.query_one("#detail-reports").display  # no report drafted yet
        clock.advance(timedelta(minutes=35))
        sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
        screen.load()
        await settle(pilot)
        line = text_of(screen, "#detail-reporting")
        assert "⚠ 初报 overdue 5 min" in line, line


async def test_draft_edit_sign_and_send_from_the_case_screen(desk, fire):
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        await pilot.press("R")  # no report yet: the initial one is drafted and the form opens
        await settle(pilot)
        form = app.screen
        assert isinstance(form, SitrepDialog)
        assert form.sitrep.kind is ReportKind.INITIAL and form.sitrep.state is ReportState.DRAFT
        form.query_one(f"#{figure_id('injured')}", Input).value = "2"
        form.query_one("#sitrep-measures", TextArea).text = "消防救援站已到场扑救"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        (saved,) = sitreps.list_sitreps(desk.db, case=fire.id)
        assert saved.figures.injured == 2 and saved.fields["measures"] == "消防救援站已到场扑救"
        assert report_rows(screen)[0][:2] == ["初报", "草稿"]

        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        assert report_rows(screen)[0][:3] == ["初报", "已签发", OPERATOR]
        assert sitreps.get_sitrep(desk.db, saved.id).signed_by == OPERATOR

        await pilot.press("U")
        await pilot.pause()
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        assert sitreps.get_sitrep(desk.db, saved.id).state is ReportState.SENT
        assert report_rows(screen)[0][:2] == ["初报", "已报送"]
        # The initial report is met; the daily follow-up is owed a day after it was sent.
        line = text_of(screen, "#detail-reporting")
        assert "每日续报 " + _("due {time}").format(time="05-21 14:00") in line, line
        assert screen.check_action("send_report", ()) is False  # hidden: nothing to send


async def test_the_shift_lead_signs_off_at_the_officers_desk(desk, fire):
    """The officer may not sign: S asks who does (the entitled names offered), and the audit
    keeps both; a name not entitled is refused in a notification, nothing changed."""
    from console.tui.dialogs.text import TextDialog
    from store.audit import events_after

    lead = replace(desk, config=desk.config.with_sections(sitrep=SitrepRules(signers=("李芳",))))
    app = DutydeskApp(lead, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        draft = sitreps.draft(
            desk.db, desk.clock, lead.config.sitrep, OPERATOR, fire.id, ReportKind.INITIAL
        )
        screen.load()
        await settle(pilot)
        await pilot.press("S")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        field = dialog.query_one(Input)
        assert field.value == "李芳"
        field.value = "王五"
        await pilot.press("enter")
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("王五" in m and "李芳" in m for m in messages), messages
        assert sitreps.get_sitrep(desk.db, draft.id).state is ReportState.DRAFT

        await pilot.press("S")
        await settle(pilot)
        await pilot.press("enter")  # 李芳, as offered
        await settle(pilot)
        signed = sitreps.get_sitrep(desk.db, draft.id)
        assert (signed.state, signed.signed_by) == (ReportState.SIGNED, "李芳")
        (entry,) = [e for e in events_after(desk.db, 0, 1000) if e.kind == "sitrep_signed"]
        assert (entry.operator, entry.data["signer"]) == (OPERATOR, "李芳")
        assert report_rows(screen)[0][:3] == ["初报", "已签发", "李芳"]


# ---- the form --------------------------------------------------------------------------------


async def test_the_form_refuses_bad_figures_naming_them_and_saves_nothing(desk, fire):
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        await pilot.press("R")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, SitrepDialog)
        form.query_one(f"#{figure_id('dead')}", Input).value = "-1"
        form.query_one(f"#{figure_id('evacuated')}", Input).value = "十几"
        form.query_one("#sitrep-place", Input).value = "幸福社区3号楼"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form  # still open
        error = str(form.query_one("#figures-error", Static).render())
        assert "死亡" in error and "转移疏散" in error, error
        assert form.query_one(f"#{figure_id('dead')}").has_class("-invalid")
        assert form.focused is form.query_one(f"#{figure_id('dead')}")  # the first bad one
        (draft,) = sitreps.list_sitreps(desk.db, case=fire.id)
        assert draft.figures.dead is None and draft.fields.get("place") != "幸福社区3号楼"
        # Corrected, the error goes as it is typed, and the form saves.
        form.query_one(f"#{figure_id('dead')}", Input).value = "0"
        form.query_one(f"#{figure_id('evacuated')}", Input).value = "12"
        await wait_until(
            pilot,
            lambda: "死亡" not in str(form.query_one("#figures-error", Static).render()),
            what="the corrected figure's error to go",
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        (draft,) = sitreps.list_sitreps(desk.db, case=fire.id)
        assert (draft.figures.dead, draft.figures.evacuated) == (0, 12)
        assert draft.fields["place"] == "幸福社区3号楼"


async def test_the_form_scrolls_to_its_last_field_at_80x24(desk, fire):
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_case(app, pilot, fire)
        await pilot.press("R")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, SitrepDialog)
        box = form.query_one("#sitrep-dialog")
        assert box.region.height <= 24 and box.region.width <= 80
        as_of = form.query_one("#sitrep-as-of", Input)
        as_of.focus()
        await pilot.pause()
        assert box.region.contains_region(as_of.region), (box.region, as_of.region)


# ---- the dashboard, the toast, the brief, the timeline ---------------------------------------


async def test_the_dashboard_tells_the_reports_due(desk, fire, clock):
    app = DutydeskApp(desk)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_until(pilot, lambda: screen.query_one("#reports-line").display, what="line")
        line = text_of(screen, "#reports-line")
        assert f"初报 {fire.number} due in 30 min" in line and "1 due" in line, line
        assert "⚠" not in line
        clock.advance(timedelta(minutes=31))
        screen.load()
        await settle(pilot)
        line = text_of(screen, "#reports-line")
        assert f"⚠ reports: 初报 {fire.number} overdue 1 min · 1 overdue" in line, line


def test_an_overdue_report_is_a_toast_with_the_bell(desk, fire, clock):
    watcher = NoticeWatcher(desk.db)
    watcher.prime()
    clock.advance(timedelta(minutes=40))
    (overdue,) = sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
    (notice,) = watcher.poll()
    assert notice.title == f"初报 overdue: {fire.number}"
    assert TITLE in notice.message and "due 10 min ago" in notice.message, notice.message
    assert notice.severity == "error" and notice.bell
    assert sitreps.sweep(desk.db, desk.clock, desk.config.sitrep) == []  # once only
    assert watcher.poll() == []


def test_many_overdue_reports_are_one_toast(desk, log_case, clock):
    watcher = NoticeWatcher(desk.db)
    watcher.prime()
    cases = [
        log_case(f"火情{i}", "accident_disaster", type="fire", severity="II") for i in range(4)
    ]
    clock.advance(timedelta(hours=1))
    assert len(sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)) == 4
    notices = [n for n in watcher.poll() if "overdue" in n.title]
    assert len(notices) == 1 and notices[0].title == "4 reports overdue", notices
    assert cases[0].number in notices[0].message and notices[0].bell


def test_the_handover_brief_lists_the_reports_owed_and_late(desk, fire, clock):
    from console.cli.shift import _reports_lines

    brief = handover_brief(desk.db, clock.now())
    assert [o.case_number for o in brief.reports_due.items] == [fire.number]
    assert brief.reports_late.total == 0
    clock.advance(timedelta(minutes=45))
    sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
    brief = handover_brief(desk.db, clock.now())
    assert brief.reports_late.total == 1 and brief.reports_overdue == 1
    lines = _reports_lines(brief, clock.now(), desk.config.zone)
    assert lines[0] == f"  reports owed 1: 初报 {fire.number} overdue 15 min", lines
    assert brief.reports_json()["due"]["items"][0]["state"] == "overdue"


def test_the_timeline_words_of_the_reports(desk):
    zone = desk.config.zone
    assert sitrep_details("sitrep_signed", {"id": 1, "name": "初报", "signer": "李芳"}, zone) == (
        "初报 signed off by 李芳"
    )
    assert sitrep_details("sitrep_sent", {"kind": "followup", "seq": 2}, zone) == "续报二 sent"
    corrected = sitrep_details(
        "sitrep_received",
        {"received_at": ["2026-05-20T01:05:00Z", "2026-05-20T00:50:00Z"], "reason": "补录"},
        zone,
        compact=True,
    )
    assert corrected == "received time corrected 05-20 09:05 → 05-20 08:50, reason: 补录"
    figures = sitrep_details("sitrep_figures", {"changes": {"dead": [None, 1]}}, zone)
    assert figures == "死亡 - → 1"
    marked = sitrep_details("sitrep_marked", {"marked": [False, True]}, zone)
    assert marked == "to be reported: no → yes"


async def test_the_help_names_the_report_keys(desk, fire):
    from console.tui.screens.help import help_entries

    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        keys = {e.keys: e.description for e in help_entries(screen)}
        assert keys.get("R") == _("Report") and "S" not in keys  # nothing to sign yet
        sitreps.draft(
            desk.db, desk.clock, desk.config.sitrep, OPERATOR, fire.id, ReportKind.INITIAL
        )
        screen.load()
        await settle(pilot)
        keys = {e.keys: e.description for e in help_entries(screen)}
        assert keys.get("S") == _("Sign off") and "U" not in keys


async def test_the_handover_screen_has_a_tab_of_reports(desk, fire, clock):
    from console.tui.screens import HandoverScreen

    clock.advance(timedelta(minutes=40))
    sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.push_screen(HandoverScreen())
        await settle(pilot)
        table = app.screen.query_one("#handover-reports", DataTable)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[:3] == [fire.number, "初报", _("overdue")], row
        assert row[4].startswith("▲ "), row


# ---- the engine ---------------------------------------------------------------------------------


def test_the_engine_sweep_writes_the_overdue_entry_once_and_says_errors(
    desk, fire, clock, db_path, monkeypatch
):
    from console.engine import Engine
    from store.audit import events_after
    from store.errors import InvalidInput

    changed: list[bool] = []
    engine = Engine(db_path, desk.config, clock=clock, on_change=lambda: changed.append(True))
    clock.advance(timedelta(minutes=31))
    engine._sitreps(desk.db)  # what each sweep does after supervising the cases
    engine._sitreps(desk.db)  # once per obligation, not once per sweep
    kinds = [e.kind for e in events_after(desk.db, 0, 1000)]
    assert kinds.count("sitrep_overdue") == 1 and changed == [True]
    assert engine.last_error is None

    def broken(*_args: object) -> list[object]:
        raise InvalidInput("sitrep rules broken", "sitrep")

    monkeypatch.setattr(sitreps, "sweep", broken)
    engine._sitreps(desk.db)
    assert engine.last_error == str(InvalidInput("sitrep rules broken", "sitrep"))
