"""The target picker: dispatch and assign from a case by name, pinyin or initials (issue 14, 2).

The officer never types ``grid:G01``: ``s`` (dispatch to) and ``w`` (assign) open a dialog
whose field completes grids, teams, the office and people as they type; enter takes the
highlighted one. A typo is refused in the dialog with the closest names, and nothing is
written until a real target is taken.
"""

from __future__ import annotations

from datetime import date

import pytest
from textual.widgets import Static

from console.tui.app import DutydeskApp
from console.tui.dialogs.text import TargetDialog
from console.tui.screens import IncidentsScreen
from console.tui.widgets.picker import Picker, PickerList
from contacts.people import NewPerson, add_person
from contacts.teams import add_team
from incidents import workflow
from incidents.models import Stage
from incidents.records import get_incident
from tests.support.console import officer_entries, settle
from tests.support.town import TOWN, build_town

SIZE = (120, 36)


@pytest.fixture
def office(ctx, log_case):  # noqa: ANN001, ANN201 - fixtures
    """The small town, the fire team 消防志愿队, 刘静 and 李芳, and a registered case in G01."""
    build_town(ctx.db, ctx.clock, starts_on=date(2026, 1, 1))
    add_team(ctx.db, ctx.clock, "t", "T-FIRE", "消防志愿队", "firefighting", TOWN)
    for name, phone in (("刘静", "13900000001"), ("李芳", "13900000002")):
        add_person(ctx.db, ctx.clock, "t", NewPerson(name, "G01", phone, roles=["grid_member"]))
    case = log_case("3号楼冒烟", "accident_disaster", type="fire", grid="G01")
    workflow.register(ctx.db, ctx.clock, ctx.policy, "seed", case.id)
    return case


def picker(app: DutydeskApp) -> Picker:
    return app.screen.query_one("#target-picker", Picker)


async def test_dispatch_by_typing_initials_and_enter(ctx, office) -> None:  # noqa: ANN001
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, TargetDialog)
        assert picker(app).text == "G01网格"  # the case's grid, in people's words
        await pilot.press("ctrl+u", "x", "f")
        await settle(pilot)
        shown = picker(app).candidates()
        assert shown[0].label == "消防志愿队"
        assert picker(app).has_class("-open")
        assert app.screen.query_one(PickerList).option_count == len(shown)
        await pilot.press("enter")
        await settle(pilot)

        assert isinstance(app.screen, IncidentsScreen)
        after = get_incident(ctx.db, office.id)
        assert after.stage is Stage.DISPATCHED
        assert after.assignee == "team:T-FIRE"
        assert officer_entries(ctx.db, office.id)[-1].data["to"] == "team:T-FIRE"


async def test_assign_by_full_pinyin_with_the_arrow_keys(ctx, office) -> None:  # noqa: ANN001
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        await pilot.press("ctrl+u", *"li")
        await settle(pilot)
        labels = [c.label for c in picker(app).candidates()]
        assert labels[:2] == ["李芳", "刘静"] or labels[:2] == ["刘静", "李芳"]
        target = labels.index("刘静")
        await pilot.press("down")  # opens nothing new: the list is open; moves the highlight
        await pilot.press(*(["up"] * 5), *(["down"] * target), "tab")  # tab takes it
        assert picker(app).text == "刘静"
        assert picker(app).value is not None and picker(app).value.kind == "person"
        await pilot.press("enter")
        await settle(pilot)
        assignee = get_incident(ctx.db, office.id).assignee
        assert assignee is not None and assignee.startswith("person:#")


async def test_a_typo_is_refused_in_the_dialog_with_the_closest(ctx, office) -> None:  # noqa: ANN001
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        await pilot.press("ctrl+u", *"李放")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, TargetDialog)  # still open: nothing taken
        error = str(dialog.query_one("#target-error", Static).render())
        assert "nothing is called '李放'" in error and "李芳" in error
        assert get_incident(ctx.db, office.id).assignee is None

        await pilot.press("down", "enter")  # the officer moves onto the suggestion: taken
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        assert get_incident(ctx.db, office.id).assignee is not None


async def test_escape_closes_the_list_then_the_dialog(ctx, office) -> None:  # noqa: ANN001
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("ctrl+u", "g")
        await settle(pilot)
        assert picker(app).has_class("-open")
        await pilot.press("escape")
        assert isinstance(app.screen, TargetDialog) and not picker(app).has_class("-open")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, IncidentsScreen)
        assert get_incident(ctx.db, office.id).stage is Stage.REGISTERED


async def test_the_picker_stands_alone_in_any_app(ctx, office) -> None:  # noqa: ANN001
    """Other dialogs embed it: no ``db_lock`` needed, ``Picked`` posted, ``clear`` resets."""
    from textual.app import App, ComposeResult

    picked: list[str] = []

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield Picker(ctx.db, kinds=("person",), id="who")

        def on_picker_picked(self, message: Picker.Picked) -> None:
            picked.append(message.target.label)

    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        await settle(pilot)
        field = app.query_one("#who", Picker)
        assert field.loaded and field.value is None
        field.focus()
        await pilot.press("l", "j")
        await settle(pilot)
        assert [c.label for c in field.candidates()][:1] == ["刘静"]
        await pilot.press("tab")
        await settle(pilot)
        assert picked == ["刘静"] and field.value is not None and field.text == "刘静"
        field.clear()
        await settle(pilot)
        assert field.value is None and field.text == "" and not field.has_class("-open")
