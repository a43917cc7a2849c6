"""Mobilizing from a case: who would be called, the message from the template, the SMS length,
the warnings, and a confirmation before anything is sent.

The jurisdiction is the mobilization screen tests' (grid G01: leader 王伟, members 李芳 and 赵强,
the community secretary 秦岚) plus a rescue team. Another process holds the engine lease, so
nothing the console starts is sent during the test: what is checked is what was written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from textual.widgets import Checkbox, Input, Static

from console.context import Context
from console.tui.app import DutydeskApp
from console.tui.dialogs import MobilizeDialog, YesNoDialog
from console.tui.screens import MobilizationScreen
from console.tui.screens.detail import IncidentDetailScreen
from console.tui.widgets.picker import Picker
from contacts.people import NewPerson, add_person
from contacts.teams import add_member, add_team
from jurisdiction.units import NewUnit, add_unit
from mobilization import (
    ChannelSettings,
    SmsSettings,
    Target,
    build_default_tree,
    list_mobilizations,
    sms_length,
    start_mobilization,
)
from store import lease
from tests.support.console import OPERATOR, settle, wait_until

SIZE = (120, 40)
TOWN, COM = "330106001000", "330106001001"


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


def jurisdiction(ctx) -> None:
    db, clock = ctx.db, ctx.clock
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "一网格", "grid", parent=COM))
    for name, unit, role in (
        ("秦岚", COM, "community_secretary"),
        ("王伟", "G01", "grid_leader"),
        ("李芳", "G01", "grid_member"),
        ("赵强", "G01", "grid_member"),
        ("钱队", TOWN, "team_leader"),
        ("孙员", TOWN, "volunteer"),
    ):
        add_person(db, clock, OPERATOR, NewPerson(name=name, unit=unit, roles=[role]), key=name)
    build_default_tree(db, clock, OPERATOR, timeout_s=300, repeats=1)


def with_sms(ctx: Context, **serve) -> Context:
    """The context with an SMS gateway configured (signature 【青山街道】)."""
    sms = SmsSettings(url="https://sms.example/send", signature="【青山街道】")
    config = replace(ctx.config.with_sections(channels=ChannelSettings(sms=sms)), **serve)
    return replace(ctx, config=config)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_dialog(app: DutydeskApp, pilot, case_id: int) -> MobilizeDialog:
    await settle(pilot)
    app.push_screen(IncidentDetailScreen(case_id))
    await settle(pilot)
    await pilot.press("M")
    await settle(pilot)
    dialog = app.screen
    assert isinstance(dialog, MobilizeDialog)
    await wait_until(pilot, lambda: "Calls" in text_of(dialog, "#mobilize-who"), what="the preview")
    return dialog


async def test_m_shows_who_is_called_and_ctrl_s_asks_first(ctx, log_case) -> None:
    jurisdiction(ctx)
    case = log_case("河堤渗水", "natural_disaster", grid="G01", location="幸福路12号")
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(app, pilot, case.id)
        # The message is the category's template, filled from the case: place, time, what
        # to do, where to report.
        message = dialog.query_one("#mobilize-message", Input).value
        assert message.startswith("05-20 14:00, 幸福路12号: 河堤渗水. Please come on duty")
        assert "report to the community emergency supplies point" in message

        who = text_of(dialog, "#mobilize-who")
        assert "Calls 3 people: 一网格 3" in who  # the leader and two members, once each
        assert "cascade" in who and "REAL call-out" in who
        # The SMS as received, and its length in segments (Chinese: UCS-2, 67 a segment).
        sms = text_of(dialog, "#mobilize-sms")
        assert "segments (UCS-2, 67 per segment)" in sms  # Chinese: UCS-2, long: 67 a part
        assert "ctrl+g" not in text_of(dialog, "#mobilize-warnings")

        dialog.query_one("#mobilize-exercise", Checkbox).value = True
        await pilot.pause()
        assert "EXERCISE" in text_of(dialog, "#mobilize-who")
        dialog.query_one("#mobilize-exercise", Checkbox).value = False
        await pilot.pause()

        await pilot.press("ctrl+s")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, YesNoDialog)
        question = str(confirm.query_one(".dialog--prompt", Static).render())
        assert "Call 3 people now?" in question and "REAL call-out" in question
        assert list_mobilizations(ctx.db) == []  # nothing started while asking

        await pilot.press("n")  # back to the dialog, nothing sent
        await pilot.pause()
        assert app.screen is dialog
        assert list_mobilizations(ctx.db) == []

        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        started = list_mobilizations(ctx.db)
        assert len(started) == 1 and started[0].incident_id == case.id
        assert started[0].message == message
        assert isinstance(app.screen, MobilizationScreen)


async def test_counts_per_grid_and_team_for_several_targets(ctx, log_case) -> None:
    jurisdiction(ctx)
    add_team(ctx.db, ctx.clock, OPERATOR, "T-RESCUE", "救援队", "rescue", TOWN, leader="钱队")
    add_member(ctx.db, ctx.clock, OPERATOR, "T-RESCUE", "孙员")
    build_default_tree(ctx.db, ctx.clock, OPERATOR, timeout_s=300, repeats=1, replace=True)
    case = log_case("仓库起火", "accident_disaster", grid="G01", location="仓库")
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(app, pilot, case.id)
        # The team is picked by its pinyin initials (救援队: jyd), nobody types team:CODE.
        picker = dialog.query_one("#mobilize-targets", Picker)
        picker.focus()
        await wait_until(pilot, lambda: picker.loaded, what="the directory")
        await pilot.press(*"jyd")
        await wait_until(pilot, lambda: bool(picker.candidates()), what="the completion list")
        assert picker.candidates()[0].label == "救援队"
        await pilot.press("enter")
        await pilot.pause()
        assert dialog.targets == (Target("grid", "G01"), Target("team", "T-RESCUE"))
        assert app.focused is dialog.query_one("#mobilize-targets--input")  # ready for more
        await wait_until(
            pilot,
            lambda: "Calls 5 people" in text_of(dialog, "#mobilize-who"),
            what="the preview of both targets",
        )
        who = text_of(dialog, "#mobilize-who")
        assert "一网格 3" in who and "救援队 2" in who

        await pilot.press("ctrl+r", "ctrl+r")  # both taken off again
        assert dialog.targets == ()
        await pilot.press(*"grid:G99", "enter")  # a written target is checked all the same
        await wait_until(
            pilot,
            lambda: "grid:G99 has no node" in text_of(dialog, "#mobilize-who"),
            what="the unknown target refused",
        )


async def test_warns_when_one_is_running_and_ctrl_g_opens_it(ctx, log_case) -> None:
    jurisdiction(ctx)
    case = log_case("河堤渗水", "natural_disaster", grid="G01")
    running = start_mobilization(
        ctx.db,
        ctx.clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="防汛集结",
        incident_id=case.id,
    )
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(app, pilot, case.id)
        await wait_until(pilot, lambda: "already running" in text_of(dialog, "#mobilize-warnings"))
        assert f"mobilization #{running} is already running" in text_of(
            dialog, "#mobilize-warnings"
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, YesNoDialog)
        question = str(app.screen.query_one(".dialog--prompt", Static).render())
        assert f"#{running} is already running" in question
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert isinstance(app.screen, MobilizationScreen)
        assert app.screen.mobilization_id == running
        assert len(list_mobilizations(ctx.db)) == 1


async def test_signature_segments_and_public_url_warning(ctx, log_case) -> None:
    jurisdiction(ctx)
    case = log_case("河堤渗水", "natural_disaster", grid="G01", location="幸福路12号")
    app = DutydeskApp(with_sms(ctx), home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(app, pilot, case.id)
        sms = text_of(dialog, "#mobilize-sms")
        assert "signature 【青山街道】" in sms
        body = text_of(dialog, "#mobilize-sms-text")
        assert body.startswith("【青山街道】05-20 14:00")  # Chinese carriers: signature first
        length = sms_length(body)
        assert f"{length.chars} characters, {length.segments} segments (UCS-2" in sms
        warnings = text_of(dialog, "#mobilize-warnings")
        assert "reply links would point at http://127.0.0.1:8470" in warnings

        # The count follows the message as it is edited.
        dialog.query_one("#mobilize-message", Input).value = "短"
        await pilot.pause()
        shorter = sms_length(text_of(dialog, "#mobilize-sms-text"))
        assert shorter.chars < length.chars
        assert f"{shorter.chars} characters" in text_of(dialog, "#mobilize-sms")

    app = DutydeskApp(with_sms(ctx, public_url="https://duty.example.gov.cn"), home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(app, pilot, case.id)
        assert "public_url" not in text_of(dialog, "#mobilize-warnings")
