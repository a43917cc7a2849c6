"""The console masks reporters' phones and survives absurd dates in its dialogs (issue 11).

Before: the case detail screen showed the reporter's number in full, and typing ``+999999999d``
as an extension's new deadline raised ``OverflowError`` inside the dialog (the console died);
``9999-12-31`` was taken and the case left supervision for good.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from console.tui.app import DutydeskApp
from console.tui.dialogs import ExtensionDialog
from console.tui.screens import IncidentDetailScreen
from incidents import workflow
from tests.support.console import settle

SIZE = (120, 36)


@pytest.fixture
def notes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every notification the console raises, as (severity, message)."""
    seen: list[tuple[str, str]] = []
    original = DutydeskApp.notify

    def record(self: DutydeskApp, message: str, **kwargs: object) -> None:
        seen.append((str(kwargs.get("severity", "information")), message))
        original(self, message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DutydeskApp, "notify", record)
    return seen


async def test_the_detail_screen_shows_the_reporter_phone_masked(ctx, log_case):
    log_case("楼道堆放杂物", reporter_name="王女士", reporter_phone="13800138000")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentDetailScreen)
        screen = app.export_screenshot()
    assert "138****8000" in screen
    assert "13800138000" not in screen


async def test_an_extension_dialog_refuses_overflowing_and_unbounded_deadlines(
    ctx, log_case, notes
):
    case = log_case("楼道堆放杂物", "safety_hazard", type="fire_hazard", grid="G03")
    workflow.register(ctx.db, ctx.clock, ctx.policy, "seed", case.id)
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("x")
        dialog = app.screen
        assert isinstance(dialog, ExtensionDialog)
        await pilot.press(*"等待物业答复", "enter")  # to the deadline field
        dialog.query_one("#extension-until", Input).value = "+999999999d"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog  # still asking, the error under the field
        assert "out of range" in str(dialog.query_one("#until-error").render())
        dialog.query_one("#extension-until", Input).value = "9999-12-31 23:59"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog  # a year no deadline can have: refused where it is typed
        assert "out of range" in str(dialog.query_one("#until-error").render())
        dialog.query_one("#extension-until", Input).value = "2199-12-31 23:59"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentDetailScreen)  # the domain's bound refuses it
    assert workflow.extensions_of(ctx.db, case.id) == []
    assert any(severity == "error" and "at most 30 days" in text for severity, text in notes)
