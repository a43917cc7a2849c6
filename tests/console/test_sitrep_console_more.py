"""What the duty officer does about reporting from the console, beyond the report form: a
report given by phone, the "to be reported" and "sensitive" marks, the received time corrected,
and the dashboard's key to the case of the most pressing report owed.

The clock stands at 2026-05-20 14:00 in Shanghai; the engine runs elsewhere, so what the screens
show is what the test (or the console's own writes, each followed by a catch-up) wrote.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Input, Static, TextArea

from console.context import Context
from console.tui.app import DutydeskApp
from console.tui.dialogs.case_reporting import (
    PhoneReportDialog,
    ReceivedDialog,
    parse_from,
)
from console.tui.dialogs.yes_no import YesNoDialog
from console.tui.screens import IncidentDetailScreen
from console.tui.screens.dashboard import DashboardScreen
from console.tui.screens.help import help_entries
from console.tui.widgets.keybar import KeyBar
from incidents.models import Incident
from store import lease
from store.audit import events_after
from store.errors import InvalidInput
from store.i18n import _
from tests.console.test_sitrep_console import open_case, report_rows, text_of
from tests.support.console import OPERATOR, settle, wait_until
from uplink import sitreps
from uplink.reporting import ObligationKind, ObligationState
from uplink.sitrep_rules import ReportRule, SitrepRules

TITLE = "幸福社区3号楼火灾"
COUNTY = "县应急局值班室"
PHONE_RULES = SitrepRules(
    rules=(ReportRule(severity=2, initial_minutes=40, phone_minutes=20),), signers=(OPERATOR,)
)


@pytest.fixture
def desk(ctx: Context) -> Context:
    """The console's context; the engine elsewhere, so nothing changes but what the test does."""
    assert lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))
    return replace(ctx, config=ctx.config.with_sections(sitrep=SitrepRules(signers=(OPERATOR,))))


@pytest.fixture
def phoning(desk: Context) -> Context:
    """A county that wants a phone call within 20 minutes, the written report within 40."""
    return replace(desk, config=desk.config.with_sections(sitrep=PHONE_RULES))


@pytest.fixture
def fire(desk: Context, log_case) -> Incident:
    """A severity II fire logged now."""
    case = log_case(TITLE, "accident_disaster", type="fire", severity="II", grid="G01")
    sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
    return case


def line_of(screen: IncidentDetailScreen) -> str:
    return text_of(screen, "#detail-reporting")


def messages(app: DutydeskApp) -> list[str]:
    return [n.message for n in app._notifications]


def error_text(dialog, error_id: str) -> str:
    return str(dialog.query_one(f"#{error_id}", Static).render())


def received_entries(ctx: Context) -> list[object]:
    return [e for e in events_after(ctx.db, 0, 1000) if e.kind == "sitrep_received"]


# ---- a report given by phone --------------------------------------------------------------------


async def test_a_phone_report_from_the_case_screen_meets_the_phone_deadline(
    phoning, log_case, clock
):
    case = log_case(TITLE, "accident_disaster", type="fire", severity="II")
    sitreps.sweep(phoning.db, phoning.clock, phoning.config.sitrep)
    clock.advance(timedelta(minutes=12))
    app = DutydeskApp(phoning, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, case)
        assert "电话报告 " + _("due in {time}").format(time="8 min") in line_of(screen)
        await pilot.press("P")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PhoneReportDialog)
        assert dialog.query_one("#phone-at", Input).value == "2026-05-20 14:12"  # now
        assert dialog.focused is dialog.query_one("#phone-to", Input)
        await pilot.press(*COUNTY)
        dialog.query_one("#phone-at", Input).value = "-2m"  # the call was two minutes ago
        dialog.query_one("#phone-note", TextArea).text = "三楼起火，无人员伤亡"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen

        (phoned,) = sitreps.list_sitreps(phoning.db, case=case.id)
        assert phoned.phoned_to == COUNTY and phoned.text and "三楼起火" in phoned.text
        assert phoned.sent_at == datetime(2026, 5, 20, 6, 10, tzinfo=UTC)  # 14:10 in Shanghai
        owed = {o.kind: o for o in sitreps.obligations_of(phoning.db, clock.now(), case.id)}
        assert owed[ObligationKind.PHONE].state_at(clock.now()) is ObligationState.MET
        assert owed[ObligationKind.INITIAL].state_at(clock.now()) is ObligationState.PENDING
        # The reports table lists it; the line now tells only the written report owed.
        row = report_rows(screen)[0]
        assert row[:2] == ["电话报告", _("by phone to {name}").format(name=COUNTY)], row
        line = line_of(screen)
        assert "电话报告" not in line and "初报 " + _("due in {time}").format(time="28 min") in line
        assert any(COUNTY in m and "14:10" in m for m in messages(app)), messages(app)

        # The next call starts with whom the last one went to.
        await pilot.press("P")
        await settle(pilot)
        assert app.screen.query_one("#phone-to", Input).value == COUNTY
        await pilot.press("escape")
        await settle(pilot)
        assert len(sitreps.list_sitreps(phoning.db, case=case.id)) == 1


async def test_the_phone_form_refuses_nobody_and_a_time_before_the_case_naming_the_field(
    desk, fire
):
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        await pilot.press("P")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PhoneReportDialog)
        dialog.query_one("#phone-at", Input).value = "-1h"  # before the case was received
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        assert error_text(dialog, "phone-to-error").startswith(_("To whom") + ": ")
        assert dialog.query_one("#phone-to").has_class("-invalid")
        when = error_text(dialog, "phone-at-error")
        assert when.startswith(_("Phoned at") + ": ") and "2026-05-20 14:00" in when, when
        assert dialog.focused is dialog.query_one("#phone-to", Input)  # the first bad field
        dialog.query_one("#phone-at", Input).value = "+1h"
        dialog.query_one("#phone-to", Input).value = COUNTY
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        assert _("{time} is in the future").format(time="+1h") in error_text(
            dialog, "phone-at-error"
        )
        assert not error_text(dialog, "phone-to-error")
        assert sitreps.list_sitreps(desk.db, case=fire.id) == []
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen


async def test_a_refusal_of_the_service_is_a_notification_and_nothing_changes(
    desk, fire, monkeypatch
):
    def refused(*_args: object, **_kwargs: object) -> None:
        raise InvalidInput("the county's line is not a recipient", "to")

    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        before = line_of(screen)
        monkeypatch.setattr(sitreps, "phone", refused)
        await pilot.press("P")
        await settle(pilot)
        await pilot.press(*COUNTY)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        errors = [n for n in app._notifications if n.severity == "error"]
        assert [n.message for n in errors] == ["to: the county's line is not a recipient"]
        assert errors[0].title == _("Report by phone")
        assert sitreps.list_sitreps(desk.db, case=fire.id) == [] and line_of(screen) == before


# ---- the marks --------------------------------------------------------------------------------


def palette_titles(screen: IncidentDetailScreen) -> set[str]:
    return {command.title for command in screen.palette_commands()}


async def test_marks_make_a_level_iv_case_reportable_and_taking_them_off_cancels(
    desk, log_case, clock
):
    case = log_case("楼道堆放杂物", "safety_hazard", type="fire_hazard")  # IV: nothing owed
    sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, case)
        assert not screen.query_one("#detail-reporting").display
        assert _("Mark to be reported") in palette_titles(screen)
        assert _("Take the to-be-reported mark off") not in palette_titles(screen)

        await pilot.press("B")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        line = line_of(screen)
        assert line.startswith(_("Reports") + "  " + _("to be reported") + "  "), line
        assert "初报 " + _("due {time}").format(time="15:00") in line, line
        assert sitreps.reporting_of(desk.db, case.id).marked
        (initial,) = sitreps.obligations_of(desk.db, clock.now(), case.id)
        assert initial.kind is ObligationKind.INITIAL and not initial.cancelled
        titles = palette_titles(screen)
        assert _("Take the to-be-reported mark off") in titles
        assert _("Mark to be reported") not in titles

        screen.action_mark_sensitive()  # the palette's command
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        marks = _("to be reported") + " · " + _("sensitive")
        assert marks in line_of(screen)

        await pilot.press("B")  # the mark off: still sensitive, so still owed
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        line = line_of(screen)
        assert _("to be reported") not in line and _("sensitive") in line and "初报" in line
        (initial,) = sitreps.obligations_of(desk.db, clock.now(), case.id)
        assert not initial.cancelled

        screen.action_unmark_sensitive()
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        (initial,) = sitreps.obligations_of(desk.db, clock.now(), case.id)
        assert initial.cancelled
        assert not screen.query_one("#detail-reporting").display
        facts = sitreps.reporting_of(desk.db, case.id)
        assert not facts.marked and not facts.sensitive


async def test_a_mark_not_confirmed_changes_nothing(desk, log_case):
    case = log_case("楼道堆放杂物", "safety_hazard", type="fire_hazard")
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, case)
        await pilot.press("B")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen
        assert not sitreps.reporting_of(desk.db, case.id).marked
        assert [e for e in events_after(desk.db, 0, 1000) if e.kind == "sitrep_marked"] == []


# ---- the received time ------------------------------------------------------------------------


async def test_correcting_the_received_time_moves_the_deadline_shown(desk, fire, clock):
    clock.advance(timedelta(minutes=10))
    sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        assert "初报 " + _("due in {time}").format(time="20 min") in line_of(screen)
        screen.action_correct_received()  # the palette's command
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReceivedDialog)
        assert dialog.query_one("#received-at", Input).value == "2026-05-20 14:00"
        dialog.query_one("#received-at", Input).value = "-15m"  # from the time recorded
        dialog.query_one("#received-reason", Input).value = "电话先到，补录"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen

        facts = sitreps.reporting_of(desk.db, fire.id)
        assert facts.received_corrected
        assert facts.received_at == datetime(2026, 5, 20, 5, 45, tzinfo=UTC)  # 13:45 local
        line = line_of(screen)
        assert "初报 " + _("due in {time}").format(time="5 min") in line, line
        assert _("received {time} (corrected)").format(time="13:45") in line, line
        (entry,) = received_entries(desk)
        assert entry.data["reason"] == "电话先到，补录"  # type: ignore[attr-defined]

        # Corrected again, the form starts with the corrected time, said to be one.
        screen.action_correct_received()
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReceivedDialog)
        assert dialog.query_one("#received-at", Input).value == "2026-05-20 13:45"
        prompt = str(dialog.query_one(".dialog--prompt", Static).render())
        assert _("Recorded: {time} (corrected before).").format(time="2026-05-20 13:45") in prompt


async def test_a_bad_received_time_or_no_reason_is_refused_naming_the_field(desk, fire):
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        before = line_of(screen)
        screen.action_correct_received()
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReceivedDialog)
        dialog.query_one("#received-at", Input).value = "昨天下午"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        at_error = error_text(dialog, "received-at-error")
        reason_error = error_text(dialog, "received-reason-error")
        assert at_error.startswith(_("Received at") + ": ") and "昨天下午" in at_error, at_error
        assert reason_error == _("Reason") + ": " + _("required"), reason_error
        assert dialog.query_one("#received-at").has_class("-invalid")
        assert dialog.query_one("#received-reason").has_class("-invalid")
        assert dialog.focused is dialog.query_one("#received-at", Input)

        # A reason, but a time in the future, or the time already recorded: still refused.
        dialog.query_one("#received-reason", Input).value = "补录"
        for typed, said in (
            ("+30m", _("{time} is in the future").format(time="+30m")),
            ("2026-05-20 14:00", _("the same as the time recorded")),
        ):
            dialog.query_one("#received-at", Input).value = typed
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is dialog
            assert said in error_text(dialog, "received-at-error"), typed
            assert not error_text(dialog, "received-reason-error")
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert not sitreps.reporting_of(desk.db, fire.id).received_corrected
        assert received_entries(desk) == [] and line_of(screen) == before


def test_a_time_steps_from_the_one_the_field_started_with(desk):
    zone, base = desk.config.zone, datetime(2026, 5, 20, 6, 0, tzinfo=UTC)
    assert parse_from("-15m", base, zone, "at") == base - timedelta(minutes=15)
    assert parse_from("+1.5h", base, zone, "at") == base + timedelta(minutes=90)
    assert parse_from("2026-05-20 13:50", base, zone, "at") == datetime(
        2026, 5, 20, 5, 50, tzinfo=UTC
    )
    for bad in ("-", "-9999999999d", "yesterday"):
        with pytest.raises(InvalidInput) as refused:
            parse_from(bad, base, zone, "at")
        assert refused.value.field == "at"


# ---- keys: the help and the dashboard ---------------------------------------------------------


async def test_the_help_names_the_phone_and_mark_keys(desk, fire):
    app = DutydeskApp(desk, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_case(app, pilot, fire)
        keys = {e.keys: e for e in help_entries(screen)}
        assert keys["P"].description == _("Report by phone") and keys["P"].enabled
        assert keys["B"].description == _("To-be-reported mark") and keys["B"].enabled
        footer = str(screen.query_one(KeyBar).render())
        assert " P " not in footer and " B " not in footer  # the footer stays as it was


async def test_the_dashboard_key_opens_the_case_of_the_report_owed(desk, log_case, clock):
    app = DutydeskApp(desk)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        assert dashboard.check_action("open_report", ()) is False  # nothing owed: no key
        assert " r " not in str(dashboard.query_one(KeyBar).render())

        log_case("光明小区5栋楼道堆放杂物", "safety_hazard", type="fire_hazard")  # IV
        later = log_case("工业园B区仓库起火", "accident_disaster", type="fire", severity="III")
        first = log_case(TITLE, "accident_disaster", type="fire", severity="II")
        sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
        dashboard.load()
        await wait_until(pilot, lambda: dashboard.query_one("#reports-line").display, what="line")
        await settle(pilot)
        assert f"初报 {first.number}" in text_of(dashboard, "#reports-line")
        assert " r " + _("Report owed") in str(dashboard.query_one(KeyBar).render())

        await pilot.press("r")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentDetailScreen) and screen.incident_id == first.id
        await pilot.press("escape")
        await settle(pilot)

        # The III case was received an hour before it was logged: its report is now the
        # overdue one, and a click on the line opens it.
        sitreps.correct_received(
            desk.db, desk.clock, OPERATOR, later.id, clock.now() - timedelta(hours=1), "补录"
        )
        clock.advance(timedelta(minutes=1))
        sitreps.sweep(desk.db, desk.clock, desk.config.sitrep)
        dashboard.load()
        await settle(pilot)
        line = text_of(dashboard, "#reports-line")
        assert f"⚠ {_('reports:')} 初报 {later.number}" in line, line
        await pilot.click("#reports-line")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentDetailScreen) and screen.incident_id == later.id


async def test_the_dashboard_key_bar_keeps_its_keys_at_80_columns(desk, fire):
    app = DutydeskApp(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        await wait_until(pilot, lambda: dashboard.query_one("#reports-line").display, what="line")
        await settle(pilot)
        keys = str(dashboard.query_one(KeyBar).render())
        assert len(keys) <= 80 and keys.rstrip().endswith("^p"), keys
        for key in ("i", "n", "m", "s", "u", "r"):
            assert f" {key} " in f" {keys}", (key, keys)
