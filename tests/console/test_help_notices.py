"""The ``?`` help screen (every key of the screen below it) and the notices the console toasts."""

from __future__ import annotations

import pytest
from sqlite_utils import Database
from textual.containers import VerticalScroll

from console.tui.app import DutydeskApp
from console.tui.screens import IncidentDetailScreen, IncidentsScreen
from console.tui.screens.help import NOT_NOW, HelpEntry, HelpScreen
from console.tui.widgets.keybar import KeyBar
from contacts.people import NewPerson, add_person
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from incidents.supervision import sweep_overdue
from jurisdiction.units import NewUnit, add_unit
from mobilization import (
    Delivery,
    Routing,
    Target,
    build_default_tree,
    claim_pending,
    process_due,
    recipient_rows,
    record_answer,
    record_deliveries,
    start_mobilization,
)
from reports.notices import BATCH, NoticeWatcher
from store.audit import append_event, events_after
from store.clock import FixedClock, to_iso
from store.db import write
from tests.support.console import OPERATOR, settle

SMALL = (80, 24)


def keys_of(entries: list[HelpEntry], group: str) -> dict[str, HelpEntry]:
    """Each key of ``group``'s entries, with its entry (keys shown together, ``^q / q``, apart)."""
    return {key: e for e in entries if e.group == group for key in e.keys.split(" / ")}


# ---- the help screen ------------------------------------------------------------------------


async def test_help_lists_the_incidents_screen_keys_and_the_app_keys(ctx, log_case):
    log_case("路灯不亮")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        below = app.screen
        assert isinstance(below, IncidentsScreen)
        app.push_screen(HelpScreen(below))
        await settle(pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        here = keys_of(help_screen.entries, "screen")
        assert here["n"].description == "New"
        assert here["a"].description == "Advance" and here["a"].enabled
        assert here["/"].description == "Search"
        assert here["f"].description == "Filters"
        assert here["⏎"].description == "Open"  # the table's enter, as the footer shows it
        # A reported case cannot be returned yet: listed, and said to be unavailable.
        assert here["r"].description == "Return" and not here["r"].enabled
        everywhere = keys_of(help_screen.entries, "app")
        assert {k: e.description for k, e in everywhere.items() if k in "qum"} == {
            "q": "Quit",
            "u": "Contacts",
            "m": "Mobilizations",
        }
        assert "^p" in everywhere  # the command palette, which holds every action
        # The footer's q and Textual's own ^q both quit: one line, among the keys shown first.
        assert everywhere["q"] is everywhere["^q"] and everywhere["q"].shown
        # The keys the footer shows come first in their group.
        shown = [e.shown for e in help_screen.entries if e.group == "screen"]
        assert shown == sorted(shown, reverse=True)
        assert help_screen.query_one("#help-screen") and help_screen.query_one("#help-app")


async def test_help_over_a_case_screen_and_the_keys_that_close_it(ctx, log_case):
    log_case("楼道堆放杂物", "safety_hazard", type="fire_hazard")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, IncidentDetailScreen)
        for close in ("escape", "question_mark", "q"):
            app.push_screen(HelpScreen(detail))
            await settle(pilot)
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen)
            here = keys_of(help_screen.entries, "screen")
            assert here["t"].description == "Task"
            assert here["M"].description == "Mobilize"
            assert here["esc"].description == "Back"
            assert here["o"].description == "Note"
            assert not here["c"].enabled  # no task to complete
            await pilot.press(close)
            await settle(pilot)
            assert app.screen is detail, close  # closed the help, neither went back nor quit
        assert app.is_running


async def test_help_fits_80x24_and_scrolls_to_its_last_key(ctx, log_case):
    log_case("路灯不亮")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        app.push_screen(HelpScreen(app.screen))
        await settle(pilot)
        help_screen = app.screen
        dialog = help_screen.query_one("#help-dialog")
        assert dialog.region.bottom <= 24 and dialog.region.right <= 80
        keys = help_screen.query_one("#help-keys", VerticalScroll)
        assert app.focused is keys
        assert keys.max_scroll_y > 0  # more keys than fit: the list scrolls
        await pilot.press("end")
        await settle(pilot)
        assert keys.scroll_y == keys.max_scroll_y


async def test_a_click_outside_the_help_closes_it(ctx):
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        below = app.screen
        app.push_screen(HelpScreen(below))
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.click(offset=(1, 1))
        await settle(pilot)
        assert app.screen is below


def test_a_disabled_key_is_said_in_words() -> None:
    # Nothing by colour alone: the marker is text.
    assert "not now" in NOT_NOW


# ---- notices ----------------------------------------------------------------------------------


@pytest.fixture
def watcher(db: Database) -> NoticeWatcher:
    w = NoticeWatcher(db)
    w.prime()
    return w


def report(db: Database, clock: FixedClock, title: str, severity: str):
    new = NewIncident(title=title, category="accident_disaster", type="fire", severity=severity)
    return create_incident(db, clock, Policy(), OPERATOR, new)


def test_a_severity_ii_report_rings_the_bell(db, clock, watcher):
    case = report(db, clock, "仓库起火", "II")
    [notice] = watcher.poll()
    assert notice.bell is True
    assert case.number in notice.title and "New report" in notice.title
    assert "level II (major)" in notice.message and "仓库起火" in notice.message
    assert notice.severity == "error"
    assert watcher.poll() == []  # announced once


def test_a_severity_iv_report_does_not_ring(db, clock, watcher):
    report(db, clock, "垃圾桶着火", "IV")
    [notice] = watcher.poll()
    assert notice.bell is False
    assert "level IV" in notice.message and notice.severity == "information"


def test_the_bell_levels_are_configurable(db, clock):
    watcher = NoticeWatcher(db, bell_severities={1})
    watcher.prime()
    report(db, clock, "仓库起火", "II")
    [notice] = watcher.poll()
    assert notice.bell is False


def test_prime_ignores_history(db, clock):
    report(db, clock, "旧案", "I")
    watcher = NoticeWatcher(db)
    watcher.prime()
    assert watcher.poll() == []
    unprimed = NoticeWatcher(db)
    assert unprimed.poll() == []  # primes itself: history is not news
    assert unprimed.poll() == []


def test_a_case_going_overdue_is_supervised_and_announced(db, clock, watcher):
    case = report(db, clock, "仓库起火", "IV")
    watcher.poll()
    clock.advance(days=3)
    assert sweep_overdue(db, clock, Policy()).supervised == 1
    [notice] = watcher.poll()
    assert notice.title == f"Overdue {case.number}"
    assert "仓库起火" in notice.message and "stage reported" in notice.message
    assert notice.severity == "warning" and notice.bell is False


def test_a_burst_of_one_kind_is_one_notice_and_keeps_its_bell(db, clock, watcher):
    numbers = [report(db, clock, f"火情{i}", "IV").number for i in range(5)]
    report(db, clock, "大火", "I")
    [notice] = watcher.poll()
    assert notice.title == "6 new reports"
    assert notice.message.startswith(", ".join(numbers))
    assert notice.message.endswith("+1")
    assert notice.bell is True and notice.severity == "error"


def test_a_full_batch_is_summed_up_and_the_watcher_moves_to_the_head(db, clock, watcher):
    with write(db):
        for i in range(BATCH + 50):
            append_event(db, at=to_iso(clock.now()), operator="import", kind="note", data={"i": i})
    [notice] = watcher.poll()
    assert "50" in notice.message and notice.severity == "warning"
    assert watcher.poll() == []
    report(db, clock, "新火情", "III")
    [after] = watcher.poll()
    assert "level III" in after.message


def test_events_after_reads_in_id_order_with_a_limit(db, clock):
    for i in range(3):
        report(db, clock, f"案{i}", "IV")
    events = events_after(db, 1, 5)
    assert [e.id for e in events] == [2, 3]
    assert events[0].kind == "reported" and events[0].data["title"] == "案1"
    assert [e.id for e in events_after(db, 0, 1)] == [1]


@pytest.fixture
def grid(db: Database, clock: FixedClock) -> Database:
    """A township, a community, grid G01 with its leader 李网格, and the default tree."""
    add_unit(db, clock, OPERATOR, NewUnit("330106001000", "城关街道", "township"))
    add_unit(
        db, clock, OPERATOR, NewUnit("330106001001", "幸福社区", "community", parent="330106001000")
    )
    add_unit(db, clock, OPERATOR, NewUnit("G01", "G01网格", "grid", parent="330106001001"))
    leader = NewPerson(name="李网格", unit="G01", phone="13800138004", roles=["grid_leader"])
    add_person(db, clock, OPERATOR, leader, key="L1")
    build_default_tree(db, clock, OPERATOR, timeout_s=300, repeats=1)
    return db


def test_mobilization_answers_name_the_person(grid, clock, watcher):
    mob = start_mobilization(
        grid, clock, OPERATOR, targets=[Target.parse("grid:G01")], message="防汛集结"
    )
    [row] = recipient_rows(grid, mob)
    assert row["name"] == "李网格"
    watcher.poll()  # the start itself is not a toast
    record_answer(grid, clock, OPERATOR, yes=False, via="console", code=row["code"])
    notices = watcher.poll()
    answer = next(n for n in notices if n.title.startswith("Answer"))
    assert answer.title == "Answer: 李网格 said no"
    assert "防汛集结" in answer.message and f"#{mob}" in answer.message
    assert answer.severity == "warning"

    record_answer(
        grid, clock, OPERATOR, yes=True, via="console", recipient_id=row["id"], eta_min=15
    )
    changed = next(n for n in watcher.poll() if n.title.startswith("Answer"))
    assert changed.title == "Answer: 李网格 said yes"
    assert "changed from no" in changed.message and "ETA 15 min" in changed.message


def drive(db: Database, clock: FixedClock) -> None:
    """Run the engine's steps until nothing is due now, every message delivered at once."""
    for _ in range(50):
        moved = process_due(db, clock)
        out, failed = claim_pending(db, clock, Routing())
        done = [Delivery(m.attempt_id, True, "") for m in out]
        record_deliveries(db, clock, done + failed, Routing())
        if not moved and not out and not failed:
            return
    raise AssertionError("the engine did not settle")


def test_a_node_nobody_answers_and_the_end_are_announced(grid, clock, watcher):
    mob = start_mobilization(
        grid, clock, OPERATOR, targets=[Target.parse("grid:G01")], message="防汛集结"
    )
    drive(grid, clock)
    for _ in range(3):  # the first send, one repeat, then silence: the node is unreachable
        clock.advance(seconds=300)
        drive(grid, clock)
    unreachable, done = watcher.poll()
    assert unreachable.title.startswith("Unreachable: G01网格")
    assert f"mobilization #{mob} 防汛集结" in unreachable.message
    assert "nobody answered" in unreachable.message and unreachable.severity == "warning"
    assert done.title == f"Mobilization #{mob} done"
    assert "0/1 answered yes" in done.message


# ---- the key bar ------------------------------------------------------------------------------


def _span_of(bar: KeyBar, key: str) -> tuple[int, int, str, bool]:
    return next(span for span in bar._spans if span[2] == key)


async def test_the_key_bar_shows_the_keys_and_a_click_presses_one(ctx, log_case):
    log_case("路灯不亮")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(KeyBar)
        line = str(bar.render())
        assert "⏎ Open" in line and "n New" in line and "a Advance" in line
        assert line.rstrip().endswith("palette")  # the palette key at the right end
        # Return is not possible from "reported": shown greyed, and a click only rings.
        start, _end, _key, enabled = _span_of(bar, "r")
        assert not enabled
        bells: list[None] = []
        app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
        await pilot.click(KeyBar, offset=(start + 1, 0))
        assert bells and isinstance(app.screen, IncidentsScreen)
        # A click on n opens the new-case form, as the key does.
        start, _end, _key, enabled = _span_of(bar, "n")
        assert enabled
        await pilot.click(KeyBar, offset=(start + 1, 0))
        await pilot.pause()
        assert type(app.screen).__name__ == "NewIncidentDialog"


async def test_the_key_bar_keeps_the_palette_key_on_a_narrow_terminal(ctx, log_case):
    log_case("路灯不亮")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=(60, 24)) as pilot:
        await settle(pilot)
        line = str(app.screen.query_one(KeyBar).render())
        assert len(line) == 60
        # The palette's key stays at the right end; its word gives way to the screen's keys.
        assert line.rstrip().endswith("^p") and "⏎ Open" in line and "n New" in line
