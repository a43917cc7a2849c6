"""The field's side in the console: the case screen's Field section (who it was sent to, who
accepted, declines with reasons, progress, feedback, the photos table whose ``o`` opens the
photo with the app's opener), the timeline's field entries in words, and the dashboard feed's
field lines.

The database: a case dispatched to grid G01, :func:`uplink.field.catch_up` run, the member M1
accepting, writing a progress note, sending a real (small) JPEG and feeding back; M2 declining
with a reason.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console
from textual.widgets import DataTable, Static

from console.context import Context
from console.timeline import entry_details, event_label
from console.tui.app import DutydeskApp
from console.tui.screens import IncidentDetailScreen
from console.tui.screens.dashboard import feed_look, feed_text
from console.tui.screens.detail import PhotoTable, field_words
from incidents import workflow
from incidents.records import timeline
from reports.overview import recent_feed
from store.db import Database
from tests.support.console import settle, wait_until
from tests.support.town import build_town
from uplink import field
from uplink.field_rules import FieldRules
from uplink.photos import PhotoLimits, find_photo, ingest, photo_folder, save

RULES = FieldRules()
SIZE = (120, 36)


class Opener:
    """Stands in for the system viewer: records the paths it got."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def __call__(self, path: Path) -> bool:
        self.paths.append(path)
        return True


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def dispatch_case(ctx: Context, log_case) -> tuple[int, field.FieldDispatch]:  # noqa: ANN001
    build_town(ctx.db, ctx.clock, officers=("A",), starts_on=date(2026, 5, 15))
    incident = log_case("东湖村后山山体滑坡", "natural_disaster", type="geological", grid="G01")
    workflow.register(ctx.db, ctx.clock, ctx.policy, "seed", incident.id)
    workflow.dispatch(ctx.db, ctx.clock, ctx.policy, "seed", incident.id, "grid:G01")
    assert field.catch_up(ctx.db, ctx.clock, RULES, ctx.policy) == 1
    (only,) = field.dispatches_of(ctx.db, incident.id)
    return incident.id, only


@pytest.fixture
def fielded(ctx: Context, log_case) -> tuple[int, str]:  # noqa: ANN001
    """A dispatched case answered from the field; returns (case id, the photo's sha256)."""
    return answered_from_field(ctx, log_case)


def answered_from_field(ctx: Context, log_case) -> tuple[int, str]:  # noqa: ANN001
    """Dispatch a case to grid G01: M2 declines, M1 accepts, writes progress, sends a photo
    and feeds back. Returns (case id, the photo's sha256)."""
    case, d = dispatch_case(ctx, log_case)
    clock = ctx.clock
    m1 = field.claim_for(ctx.db, d.id, "M1", clock.now())
    m2 = field.claim_for(ctx.db, d.id, "M2", clock.now())
    clock.advance(minutes=3)  # type: ignore[attr-defined]
    assert field.decline(ctx.db, clock, ctx.policy, m2, reason="人在外地", form_id="d1")
    clock.advance(minutes=2)  # type: ignore[attr-defined]
    assert field.accept(ctx.db, clock, ctx.policy, m1, form_id="a1")
    assert field.add_progress(ctx.db, clock, ctx.policy, m1, text="已到现场", form_id="p1")
    photo = ingest(jpeg(), limits=PhotoLimits())
    save(photo, photo_folder(ctx.db_path))
    assert field.add_photo(ctx.db, clock, ctx.policy, m1, photo=photo, kind="before", form_id="f1")
    assert field.submit_feedback(ctx.db, clock, ctx.policy, m1, text="塌方已清理", form_id="b1")
    return case, photo.sha256


def text_of(static: Static) -> str:
    out = Console(width=110, file=io.StringIO(), record=True)
    out.print(static.content)
    return out.export_text()


async def open_case(app: DutydeskApp, pilot, case: int) -> IncidentDetailScreen:  # noqa: ANN001
    await settle(pilot)
    app.push_screen(IncidentDetailScreen(case))
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, IncidentDetailScreen)
    await wait_until(pilot, lambda: screen.incident is not None, what="the case read")
    return screen


async def test_the_case_screen_shows_the_field_and_o_opens_the_photo(
    ctx: Context, fielded: tuple[int, str]
) -> None:
    case, sha = fielded
    opener = Opener()
    app = DutydeskApp(ctx, home="incidents")
    app.open_file = opener
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case(app, pilot, case)
        section = screen.query_one("#detail-field")
        assert section.display
        summary = text_of(screen.query_one("#field-summary", Static))
        assert "→" in summary and "G01" in summary
        assert "accepted by" in summary and "declined" in summary and "人在外地" in summary
        assert "已到现场" in summary and "塌方已清理" in summary
        photos = screen.query_one(PhotoTable)
        assert photos.row_count == 1
        row = [str(c) for c in photos.get_row_at(0)]
        assert row[2] == "before" and row[4] == "64×48" and row[3].endswith("B")
        # o on the photos table opens the photo (not the screen's note)
        photos.focus()
        await settle(pilot)
        await pilot.press("o")
        await wait_until(pilot, lambda: opener.paths, what="the opener called")
        assert opener.paths == [find_photo(photo_folder(ctx.db_path), sha)]
        assert app.screen is screen  # no note dialog opened
        # enter does the same
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(opener.paths) == 2, what="the second open")


async def test_no_field_section_without_field_dispatches(ctx: Context, log_case) -> None:  # noqa: ANN001
    incident = log_case("路灯不亮", "facilities", grid="G01")
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_case(app, pilot, incident.id)
        assert not screen.query_one("#detail-field").display


def test_waiting_and_late_acceptance_read_in_minutes(ctx: Context, log_case) -> None:  # noqa: ANN001
    _case, d = dispatch_case(ctx, log_case)
    zone = ctx.config.zone
    early = field_words([d], d.accept_by - timedelta(minutes=12), zone).plain
    assert "not accepted · due in 12 min" in early
    late = field_words([d], d.accept_by + timedelta(minutes=5), zone)
    assert "⚠ not accepted, 5 min late" in late.plain
    assert any("red" in str(span.style) for span in late.spans)


def test_the_timeline_says_what_the_field_did(ctx: Context, fielded: tuple[int, str]) -> None:
    case, _sha = fielded
    zone = ctx.config.zone
    lines = {
        e.kind: (event_label(e.kind), entry_details(e, zone, compact=True))
        for e in timeline(ctx.db, case)
        if e.kind.startswith("field_")
    }
    assert lines["field_sent"][0] == "sent to the field"
    assert lines["field_sent"][1].startswith("to ") and "accept by" in lines["field_sent"][1]
    assert "accepted by" in lines["field_accepted"][1]
    assert "declined: 人在外地" in lines["field_declined"][1]
    assert lines["field_progress"][1].endswith(": 已到现场")
    assert "before photo" in lines["field_photo"][1] and "64×48" in lines["field_photo"][1]
    assert lines["field_feedback"][1].endswith(": 塌方已清理")
    assert "dispatch" not in " ".join(d for _k, d in lines.values())


def test_the_feed_shows_acceptances_declines_and_feedback(
    db: Database, fielded: tuple[int, str]
) -> None:
    items = [i for i in recent_feed(db, 50) if i.kind == "field"]
    assert [i.detail for i in items] == ["feedback", "accepted", "declined"]
    declined = items[-1]
    assert declined.note == "人在外地" and declined.name and declined.number
    assert "人在外地" in feed_text(declined) and "东湖村后山山体滑坡" in feed_text(declined)
    assert feed_look(items[0]).label == "feedback from the field"
    assert feed_look(declined).label == "declined in the field"


async def test_the_dashboard_feed_lists_the_field_answers(
    ctx: Context, fielded: tuple[int, str]
) -> None:
    app = DutydeskApp(replace(ctx), home="dashboard")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#feed", DataTable)
        await wait_until(pilot, lambda: table.row_count > 0, what="the feed")
        cells = " ".join(str(c) for r in range(table.row_count) for c in table.get_row_at(r))
        assert "人在外地" in cells and "feedback from the field" in cells


async def test_a_case_reported_by_sms_says_how_many_messages_from_whom(ctx: Context) -> None:
    from incidents.citizen import receive_sms
    from incidents.models import InboundRules

    rules = InboundRules()
    first = receive_sms(ctx.db, ctx.clock, ctx.policy, rules, "+8613800000000", "河边有人落水")
    receive_sms(ctx.db, ctx.clock, ctx.policy, rules, "+8613800000000", "在东桥下面")
    assert first.incident_id is not None
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case(app, pilot, first.incident_id)
        facts = text_of(screen.query_one("#facts", Static))
        assert "2 messages from 138****0000" in facts, facts
        assert "13800000000" not in facts
