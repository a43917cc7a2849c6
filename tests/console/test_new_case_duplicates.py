"""Pilot tests: the new-case form shows likely duplicates and adds the call to one; undo by key.

The officer types as on a shift: a title like an open case's in the same grid brings that case
up under the title; ``ctrl+n`` adds the call to it as a note naming the caller (no new case),
``ctrl+g`` logs the case and merges it. In the case screen ``z`` takes back the officer's last
step after a confirmation, and refuses another officer's.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label, OptionList, Select

from console.tui.app import DutydeskApp
from console.tui.dialogs import NewIncidentDialog, YesNoDialog
from console.tui.screens import IncidentDetailScreen
from console.tui.widgets.picker import Picker
from incidents.models import Stage
from incidents.records import get_incident, timeline
from tests.support.console import OPERATOR, settle, wait_until

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


async def _open_form_and_type(app: DutydeskApp, pilot, title: str) -> NewIncidentDialog:
    await settle(pilot)
    await pilot.press("n")
    dialog = app.screen
    assert isinstance(dialog, NewIncidentDialog)
    await pilot.press(*title)
    dialog.query_one("#new-grid", Picker).focus()
    await pilot.press(*"G01", "tab")  # typed, not picked (no grids here): taken as written
    return dialog


def _shown(dialog: NewIncidentDialog) -> list[str]:
    listing = dialog.query_one("#new-duplicates", OptionList)
    if not dialog.query_one("#new-duplicates-box").has_class("-shown"):
        return []
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def test_a_similar_title_in_the_same_grid_shows_the_case_and_adds_the_call(
    ctx, log_case, notes
):
    fire = log_case("3号楼着火了", "accident_disaster", type="fire", grid="G01")
    log_case("路灯不亮", "facilities", type="streetlight", grid="G01")
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_form_and_type(app, pilot, "3号楼冒烟着火")
        await wait_until(pilot, lambda: _shown(dialog), what="the likely duplicates", within=15)
        [line] = _shown(dialog)
        assert line.startswith(f"{fire.number}  ") and "3号楼着火了" in line
        assert "same grid, similar words" in line

        dialog.query_one("#new-reporter-name", Input).value = "张三"
        dialog.query_one("#new-reporter-phone", Input).value = "13800138000"
        await pilot.press("ctrl+n")
        await wait_until(
            pilot, lambda: not isinstance(app.screen, NewIncidentDialog), what="closed", within=15
        )
        await settle(pilot)

        assert ctx.db.execute("SELECT count(*) FROM incidents").fetchone()[0] == 2  # no new
        note = timeline(ctx.db, fire.id)[-1]
        assert note.kind == "note" and note.operator == OPERATOR
        assert note.data == {
            "text": "3号楼冒烟着火",
            "caller": {"name": "张三", "phone": "138****8000"},
        }
        assert (
            "information",
            f"call added to {fire.number} as a note (caller 张三 138****8000)",
        ) in notes


async def test_log_and_merge_logs_the_call_and_merges_it(ctx, log_case):
    log_case("3号楼着火", "accident_disaster", type="fire", grid="G01")
    fire = log_case("3号楼着火了", "accident_disaster", type="fire", grid="G01")
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_form_and_type(app, pilot, "3号楼着火")
        await wait_until(
            pilot, lambda: len(_shown(dialog)) == 2, what="the likely duplicates", within=15
        )
        assert _shown(dialog)[0].startswith("2026-000001")  # the closer words first
        dialog.query_one("#new-title", Input).focus()
        await pilot.press("down")  # from a text field, down highlights the next case
        assert dialog.highlighted_duplicate().incident.id == fire.id  # type: ignore[union-attr]
        await pilot.press("ctrl+g")  # no category yet: the form says so and stays
        assert app.screen is dialog
        dialog.query_one("#new-category", Select).value = "accident_disaster"
        await pilot.press("ctrl+g")
        await wait_until(
            pilot, lambda: not isinstance(app.screen, NewIncidentDialog), what="closed", within=15
        )
        await settle(pilot)
        logged = get_incident(ctx.db, 3)
        assert logged.stage is Stage.MERGED and logged.merged_into == fire.id
        assert timeline(ctx.db, fire.id)[-1].kind == "merged_in"


async def test_no_duplicate_no_panel_and_every_select_has_a_label(ctx, log_case):
    log_case("3号楼着火了", "accident_disaster", type="fire", grid="G02")
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_form_and_type(app, pilot, "3号楼着火了")  # but in grid G01
        # Typing rested and the duplicates were looked for (then the worker's answer is in).
        await wait_until(pilot, lambda: dialog._dup_timer is None, what="the duplicates read")
        await settle(pilot)
        assert _shown(dialog) == []
        assert not dialog.query_one("#new-duplicates-box").display or not _shown(dialog)
        for select in dialog.query(Select):
            row = list(select.parent.children)  # type: ignore[union-attr]
            before = row[row.index(select) - 1]
            assert isinstance(before, Label), select.id
            assert str(before.render()).strip(), select.id
        labels = [
            str(row[row.index(s) - 1].render())
            for s in dialog.query(Select)
            for row in [list(s.parent.children)]  # type: ignore[union-attr]
        ]
        assert labels == ["Category", "Type", "Level", "Urgency", "Source"]


async def test_undo_by_key_within_the_window(ctx, log_case, clock, notes):
    case = log_case("井盖缺失", "facilities", type="manhole", grid="G02")
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(IncidentDetailScreen(case.id))
        await settle(pilot)
        await pilot.press("z")  # the only step is the report, by "seed"
        await settle(pilot)
        assert any("nothing to undo" in m for _s, m in notes)

        await pilot.press("a")  # register, as this officer
        await settle(pilot)
        assert get_incident(ctx.db, case.id).stage is Stage.REGISTERED
        clock.advance(minutes=4)
        await pilot.press("z")
        await wait_until(pilot, lambda: isinstance(app.screen, YesNoDialog), what="the confirm")
        await pilot.press("n")  # not confirmed: nothing changes
        await settle(pilot)
        assert get_incident(ctx.db, case.id).stage is Stage.REGISTERED
        await pilot.press("z")
        await wait_until(pilot, lambda: isinstance(app.screen, YesNoDialog), what="the confirm")
        await pilot.press("y")
        await settle(pilot)
        assert get_incident(ctx.db, case.id).stage is Stage.REPORTED
        assert [e.kind for e in timeline(ctx.db, case.id)] == ["reported", "register", "undo"]
        assert isinstance(app.screen, IncidentDetailScreen)


async def test_undo_refuses_too_late(ctx, log_case, clock, notes):
    case = log_case("井盖缺失", "facilities", type="manhole", grid="G02")
    app = DutydeskApp(ctx, home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(IncidentDetailScreen(case.id))
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        clock.advance(minutes=6)
        await pilot.press("z")
        await settle(pilot)
        assert not isinstance(app.screen, YesNoDialog)
        assert any(s == "warning" and "too late to undo" in m for s, m in notes)
        assert get_incident(ctx.db, case.id).stage is Stage.REGISTERED
