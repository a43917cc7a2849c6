"""The duty roster screen (值班表) and the shift handover screen (交接班).

The roster has two posts: the duty officer (DO), a daily 08:00 rotation of 张三 (the console's
operator, key ``zhang-san``) then 李芳 that began this morning, and the shift lead (SL), whose
rotation only starts on Friday, so SL is unfilled until then: a gap. Another process holds the
engine lease, so the console's own engine sweeps nothing: what the screens show is only what
the test did.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from textual.widgets import DataTable, Input, Select, Static, TextArea

from console.tui.app import DutydeskApp
from console.tui.dialogs import OverrideDialog, YesNoDialog
from console.tui.screens import HandoverScreen, IncidentDetailScreen, RosterScreen
from console.tui.widgets.picker import Picker
from contacts.people import NewPerson, add_person
from contacts.roster import add_post, add_rotation, on_duty
from incidents.supervision import (
    confirm_handover,
    get_handover,
    list_handovers,
    pending_handover,
    shift_handover,
)
from store import lease
from store.errors import PermissionDenied
from tests.support.console import OPERATOR, settle

SIZE = (120, 36)
SUCCESSOR = "李芳"


@pytest.fixture(autouse=True)
def engine_elsewhere(ctx) -> None:
    """A ``dutydesk serve`` elsewhere holds the engine lease (for a day of the fixed clock)."""
    lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(days=1))


@pytest.fixture
def roster(ctx) -> None:
    """DO: 张三 then 李芳, daily from 08:00 today; SL: 王伟 from Friday 08:00 (a gap till then)."""
    db, clock = ctx.db, ctx.clock
    for key, name in (
        (OPERATOR, "张三"),
        ("lifang", SUCCESSOR),
        ("wangwei", "王伟"),
        ("zq", "赵强"),
    ):
        add_person(db, clock, OPERATOR, NewPerson(name=name), key=key)
    add_post(db, clock, OPERATOR, "DO", "值班员")
    add_post(db, clock, OPERATOR, "SL", "值班长")
    for post, people, starts_on in (
        ("DO", [OPERATOR, "lifang"], date(2026, 5, 20)),
        ("SL", ["wangwei"], date(2026, 5, 22)),
    ):
        add_rotation(
            db,
            clock,
            OPERATOR,
            post,
            people=people,
            starts_on=starts_on,
            shift_start="08:00",
            shift_hours=24,
            zone="Asia/Shanghai",
        )


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


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_screen(app: DutydeskApp, pilot, screen_type: type) -> object:
    await settle(pilot)
    app.push_screen(screen_type())
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, screen_type)
    return screen


# ---- the roster --------------------------------------------------------------------------


async def test_the_roster_shows_who_holds_each_post_now_and_next_and_the_gap(ctx, roster) -> None:
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, RosterScreen)
        table = rows(screen.query_one("#roster", DataTable))
        do = [row for row in table if row[0] == "DO 值班员"]
        assert do[0][1:] == [
            "● on duty",
            "张三 (zhang-san)",
            "05-20 08:00 → 05-21 08:00",
            "rotation",
        ]
        assert do[1][1:3] == ["→ next shift", "李芳 (lifang)"]
        assert do[1][3] == "05-21 08:00 → 05-22 08:00"
        assert len(do) == 5  # now and the next four
        sl = [row for row in table if row[0] == "SL 值班长"]
        # The shift lead's post is unfilled until Friday: a gap, drawn with a glyph and a word.
        assert sl[0][1:4] == ["⚠ GAP", "— nobody on duty", "05-20 14:00 → 05-22 08:00"]
        assert sl[1][1:3] == ["→ next shift", "王伟 (wangwei)"]
        assert "⚠ Gaps in 7 days: 1" in text_of(screen, "#roster-status")


async def test_an_override_fills_the_gap_and_shows(ctx, roster) -> None:
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, RosterScreen)
        table = screen.query_one("#roster", DataTable)
        gap_row = next(i for i, row in enumerate(rows(table)) if row[1] == "⚠ GAP")
        table.move_cursor(row=gap_row)
        await pilot.press("o")
        dialog = app.screen
        assert isinstance(dialog, OverrideDialog)
        # Prefilled from the highlighted gap: its post and its times.
        assert dialog.query_one("#override-post", Select).value == "SL"
        assert dialog.query_one("#override-from", Input).value == "2026-05-20 14:00"
        assert dialog.query_one("#override-to", Input).value == "2026-05-22 08:00"

        await pilot.press("ctrl+s")  # no person, no reason: both say so, nothing is saved
        assert app.screen is dialog
        assert "required" in text_of(dialog, "#override-person-error")
        assert "say why" in text_of(dialog, "#override-reason-error")

        dialog.query_one("#override-person", Input).value = "zq"
        dialog.query_one("#override-to", Input).value = "+18h"  # after the start
        dialog.query_one("#override-reason", Input).value = "王伟出差 covering for a trip"
        await pilot.press("ctrl+s")
        await settle(pilot)

        assert app.screen is screen
        (held,) = [s for s in on_duty(ctx.db, ctx.clock.now()) if s.post.code == "SL"]
        assert (held.person.name, held.source) == ("赵强", "override")
        sl = [row for row in rows(table) if row[0] == "SL 值班长"]
        assert sl[0][1:] == [
            "● on duty",
            "赵强 (zq)",
            "05-20 14:00 → 05-21 08:00",
            "override",
        ]
        assert sl[1][1:4] == ["⚠ GAP", "— nobody on duty", "05-21 08:00 → 05-22 08:00"]
        assert "赵强" in app.title  # the header's "on duty" names the new holder at once


async def test_an_override_for_nobody_known_is_a_notification(ctx, roster, notes) -> None:
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, RosterScreen)
        await pilot.press("o")
        dialog = app.screen
        assert isinstance(dialog, OverrideDialog)
        dialog.query_one("#override-person", Input).value = "nobody-here"
        dialog.query_one("#override-reason", Input).value = "swap"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert any(level == "error" and "nobody-here" in text for level, text in notes)
        count = ctx.db.conn.execute("SELECT count(*) FROM roster_overrides").fetchone()[0]
        assert count == 0


# ---- the handover ------------------------------------------------------------------------


async def test_the_outgoing_officer_sees_the_brief_and_hands_over(ctx, clock, roster, log_case):
    late = log_case("3号楼火灾")
    assert late.deadline is not None
    clock.set(late.deadline + timedelta(minutes=90))
    log_case("路灯不亮")  # logged now: open, not late
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, HandoverScreen)
        counts = text_of(screen, "#handover-counts")
        assert "open 2" in counts and "▲ overdue 1" in counts
        overdue = rows(screen.query_one("#handover-overdue", DataTable))
        assert overdue == [[late.number, "3号楼火灾", "reported", "05-20 16:00", "▲ 1h30m"]]
        assert rows(screen.query_one("#handover-parked", DataTable))[0][0] == "— none"
        assert not screen.query_one("#handover-incoming").display  # nothing waits for 张三
        # The next holder of the duty-officer post is the successor, picked already.
        picked = screen.query_one("#handover-to", Picker)
        assert picked.text == SUCCESSOR and picked.value is not None
        note = screen.query_one("#handover-note", TextArea)
        assert app.focused is note
        note.insert("3号楼火灾 夜间复查")

        await pilot.press("ctrl+s")
        question = app.screen
        assert isinstance(question, YesNoDialog)
        await pilot.press("n")  # not yet
        await settle(pilot)
        assert list_handovers(ctx.db) == []

        await pilot.press("ctrl+s")
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)

        assert app.screen is screen
        (handover,) = list_handovers(ctx.db)
        assert (handover.from_operator, handover.to_operator) == (OPERATOR, SUCCESSOR)
        assert handover.note == "3号楼火灾 夜间复查"
        assert (handover.counts.open, handover.counts.overdue) == (2, 1)
        assert handover.pending["overdue"] == [late.number]
        assert not handover.confirmed
        assert note.text == ""
        assert "⏳ awaiting confirmation" in text_of(screen, "#handover-last")

        screen.query_one("#handover-overdue", DataTable).focus()
        await pilot.press("enter")  # opens the case
        await settle(pilot)
        assert isinstance(app.screen, IncidentDetailScreen)
        assert app.screen.incident_id == late.id


async def test_a_successor_is_required(ctx) -> None:
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, HandoverScreen)
        assert screen.query_one("#handover-to", Picker).text == ""  # no roster: picked
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen  # no question asked
        assert screen.query_one("#handover-to").has_class("-invalid")
        assert app.focused is screen.query_one("#handover-to--input")
        assert list_handovers(ctx.db) == []


async def test_the_incoming_officer_confirms_with_y(ctx, clock, log_case) -> None:
    log_case("3号楼火灾")
    handed = shift_handover(ctx.db, clock, OPERATOR, SUCCESSOR, "注意河堤水位")
    clock.advance(minutes=10)
    incoming = replace(ctx, operator=SUCCESSOR)
    app = DutydeskApp(incoming, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, HandoverScreen)
        assert screen.query_one("#handover-incoming").display
        head = text_of(screen, "#handover-incoming-head")
        assert f"#{handed.id} from {OPERATOR} at 05-20 14:00" in head
        assert "open 1" in head
        assert "注意河堤水位" in text_of(screen, "#handover-incoming-note")
        assert screen.check_action("confirm", ()) is True

        await pilot.press("y")
        await settle(pilot)

        confirmed = get_handover(ctx.db, handed.id)
        assert confirmed.confirmed_by == SUCCESSOR
        assert confirmed.confirmed_at == clock.now()
        assert not screen.query_one("#handover-incoming").display
        assert screen.check_action("confirm", ()) is None
        assert "✔ confirmed 05-20 14:10" in text_of(screen, "#handover-last")


async def test_someone_else_sees_nothing_to_confirm(ctx, clock) -> None:
    handed = shift_handover(ctx.db, clock, OPERATOR, SUCCESSOR)
    app = DutydeskApp(replace(ctx, operator="王五"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, HandoverScreen)
        assert not screen.query_one("#handover-incoming").display
        assert screen.check_action("confirm", ()) is None
        await pilot.press("y")
        await settle(pilot)
    assert pending_handover(ctx.db, SUCCESSOR) == handed


def test_the_wrong_operator_cannot_confirm(ctx, clock) -> None:
    handed = shift_handover(ctx.db, clock, OPERATOR, SUCCESSOR)
    with pytest.raises(PermissionDenied, match=f"only {SUCCESSOR} can confirm it, not 王五"):
        confirm_handover(ctx.db, clock, "王五", handed.id)
    assert not get_handover(ctx.db, handed.id).confirmed


# ---- a small terminal --------------------------------------------------------------------


async def test_both_screens_fit_a_small_terminal(ctx, clock, roster, log_case) -> None:
    log_case("3号楼火灾")
    shift_handover(ctx.db, clock, "王伟", OPERATOR, "交接说明")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(app, pilot, RosterScreen)
        assert screen.query_one("#roster", DataTable).size.height >= 8
        app.export_screenshot()
        await pilot.press("escape")
        screen = await open_screen(app, pilot, HandoverScreen)
        # The one waiting, the brief's list, the successor and the note all keep some room.
        assert screen.query_one("#handover-incoming").size.height >= 2
        assert screen.query_one("#handover-overdue", DataTable).size.height >= 3
        assert screen.query_one("#handover-to", Picker).size.width >= 30
        assert screen.query_one("#handover-note", TextArea).size.height >= 3
        assert screen.query_one("#handover-submit").region.bottom <= 23  # above the footer
        app.export_screenshot()
