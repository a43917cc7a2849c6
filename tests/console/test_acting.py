"""Who acts at the console: named in the header of every screen, switched with ctrl+o (a
picker of the people on duty posts, audited), and taken over by the incoming officer who
confirms a handover at the same desk.

The roster: the duty officer's post (DO) rotates daily at 08:00 between 张三 (on duty this
Wednesday afternoon) and 李芳; 王伟 is on the shift lead's post (SL). The console is opened as
the command line opens it: nobody named, so the roster's duty officer acts. Another process
holds the engine lease, so what the screens show is only what the test did.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from textual.widgets import Button, Header, Input, OptionList, TextArea

from console.acting import resolve_acting
from console.tui.app import DutydeskApp
from console.tui.dialogs import YesNoDialog
from console.tui.dialogs.acting import ActingDialog
from console.tui.screens import HandoverScreen
from console.tui.widgets.picker import Picker
from contacts.people import NewPerson, add_person
from contacts.roster import add_post, add_rotation, on_duty
from incidents.supervision import list_handovers
from store import lease
from tests.support.console import settle, wait_until

SIZE = (120, 36)


@pytest.fixture
def desk(ctx):
    """The roster above, and the context opened as the CLI opens it (nobody named)."""
    db, clock = ctx.db, ctx.clock
    lease.acquire(db, "serve:elsewhere", clock.now(), timedelta(days=1))
    for key, name in (("zhangsan", "张三"), ("lifang", "李芳"), ("wangwei", "王伟")):
        add_person(db, clock, "admin", NewPerson(name=name), key=key)
    add_post(db, clock, "admin", "DO", "值班员")
    add_post(db, clock, "admin", "SL", "值班长")
    for post, people in (("DO", ["zhangsan", "lifang"]), ("SL", ["wangwei"])):
        add_rotation(
            db,
            clock,
            "admin",
            post,
            people=people,
            starts_on=date(2026, 5, 20),
            shift_start="08:00",
            shift_hours=24,
            zone="Asia/Shanghai",
        )
    ctx.act_as(resolve_acting(db, ctx.config, clock.now(), None))
    return ctx


def header(app: DutydeskApp) -> str:
    return str(app.screen.query_one(Header).format_title())


def duty_officer(ctx) -> str:
    (held,) = [s for s in on_duty(ctx.db, ctx.clock.now()) if s.post.code == "DO"]
    return held.person.name


async def test_the_header_of_every_screen_names_the_acting_officer(desk) -> None:
    assert desk.operator == "张三"  # the roster's duty officer, by default
    app = DutydeskApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        seen = {type(app.screen).__name__: header(app)}
        for key in ("m", "d", "h", "u", "D"):
            await pilot.press("escape")  # back to the dashboard (a no-op there)
            await settle(pilot)
            await pilot.press(key)
            await settle(pilot)
            seen[type(app.screen).__name__] = header(app)
        app.action_incidents()
        await settle(pilot)
        seen[type(app.screen).__name__] = header(app)
        assert len(seen) == 7, seen
        for screen, title in seen.items():
            assert "acting: 张三" in title, (screen, title)
            assert "值班员 张三" in title, (screen, title)


async def test_ctrl_o_switches_the_acting_officer_and_the_switch_is_audited(desk) -> None:
    app = DutydeskApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ActingDialog)
        # The people on duty posts, those on duty now first; the one acting highlighted.
        assert [c.person.name for c in dialog.people] == ["张三", "王伟", "李芳"]
        assert [c.on_duty for c in dialog.people] == [("值班员",), ("值班长",), ()]
        listing = dialog.query_one(OptionList)
        assert listing.highlighted == 0
        names = [c.person.name for c in dialog.people]
        listing.highlighted = names.index("李芳")
        await pilot.press("enter")
        await settle(pilot)
        await wait_until(pilot, lambda: desk.operator == "李芳", what="the switch")
        assert "acting: 李芳" in header(app)
        row = desk.db.conn.execute(
            "SELECT operator, data FROM events WHERE kind = 'acting_switched'"
        ).fetchone()
        assert row[0] == "张三" and json.loads(row[1])["to"] == "李芳"

        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, ActingDialog)
        await pilot.press("escape")  # cancelled: nothing changes, nothing is written
        await settle(pilot)
        assert desk.operator == "李芳"
        (count,) = desk.db.conn.execute(
            "SELECT count(*) FROM events WHERE kind = 'acting_switched'"
        ).fetchone()
        assert count == 1


async def test_hand_over_and_confirm_in_the_same_console(desk) -> None:
    app = DutydeskApp(desk)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HandoverScreen)
        assert screen.query_one("#handover-to", Picker).text == "李芳"  # the next on the roster
        note = screen.query_one("#handover-note", TextArea)
        assert app.focused is note
        await pilot.press(*"ok")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        (handed,) = list_handovers(desk.db)
        assert (handed.from_operator, handed.to_operator) == ("张三", "李芳")

        # The incoming officer confirms here: y reaches the screen, not the note box.
        assert app.focused is screen.query_one("#handover-confirm", Button)
        await pilot.press("y")
        question = app.screen
        assert isinstance(question, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        assert note.text == ""
        (confirmed,) = list_handovers(desk.db)
        assert confirmed.confirmed_by == "李芳"
        assert desk.operator == "李芳"
        assert duty_officer(desk) == "李芳"  # the roster agrees for the rest of the shift
        await wait_until(pilot, lambda: "值班员 李芳" in header(app), what="the on-duty header")
        assert "acting: 李芳" in header(app)

        # A second handover in the same shift, to 王伟 picked by his initials.
        picker = screen.query_one("#handover-to", Picker)
        field = screen.query_one("#handover-to--input", Input)
        field.focus()
        field.value = ""
        await pilot.press("w", "w")
        await wait_until(pilot, lambda: bool(picker.candidates()), what="the picker's list")
        await pilot.press("tab")
        assert picker.value is not None and picker.value.label == "王伟"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("y")
        assert isinstance(app.screen, YesNoDialog)
        await pilot.press("y")
        await settle(pilot)
        assert desk.operator == "王伟"
        assert duty_officer(desk) == "王伟"
        await wait_until(pilot, lambda: "值班员 王伟" in header(app), what="the on-duty header")
        kinds = [
            k
            for (k,) in desk.db.conn.execute(
                "SELECT kind FROM events WHERE kind IN ('handover', 'handover_confirmed',"
                " 'acting_switched', 'override_added') ORDER BY id"
            )
        ]
        assert kinds == ["handover", "acting_switched", "handover_confirmed", "override_added"] * 2
