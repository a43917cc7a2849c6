"""Reports in the console: ``O`` on the case screen and the palette's "Reports…".

The dialog builds the document in a worker and shows its key figures; a format key writes the
file into the configured reports folder (``[reports] folder``) and hands it to the app's opener,
which the tests replace to see the path it got. A bad date is refused inline and writes nothing;
a folder that cannot be written is a notification, not a traceback.
"""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from textual.command import CommandList
from textual.widgets import Input, RadioButton, Static

from console.context import Context
from console.tui.app import DutydeskApp
from console.tui.dialogs.report import ReportAsk, ReportDialog, parse_day, report_path
from console.tui.screens import IncidentDetailScreen
from console.tui.screens.help import HelpScreen
from incidents import workflow
from incidents.models import Incident
from store.errors import InvalidInput
from tests.support.console import settle, wait_until

SIZE = (120, 36)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "reports"


@pytest.fixture
def desk(ctx: Context, folder: Path) -> Context:
    return replace(ctx, config=replace(ctx.config, report_folder=folder))


@pytest.fixture
def case(desk: Context, log_case) -> Incident:
    incident = log_case("楼道堆放杂物", "safety_hazard", type="fire_hazard", grid="G03")
    workflow.register(desk.db, desk.clock, desk.policy, "seed", incident.id)
    return incident


class Opener:
    """Stands in for the system viewer: records the paths it got, says it opened them."""

    def __init__(self, works: bool = True) -> None:
        self.paths: list[Path] = []
        self.works = works

    def __call__(self, path: Path) -> bool:
        self.paths.append(path)
        return self.works


def console(desk: Context, opener: Opener) -> DutydeskApp:
    app = DutydeskApp(desk, home="incidents")
    app.open_file = opener
    return app


async def open_case(app: DutydeskApp, pilot, case: Incident) -> IncidentDetailScreen:
    await settle(pilot)
    app.push_screen(IncidentDetailScreen(case.id))
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, IncidentDetailScreen)
    return screen


def plain(static: Static) -> str:
    """What a Static shows (a Rich table too), as plain text."""
    out = Console(width=110, file=io.StringIO(), record=True)
    out.print(static.content)
    return out.export_text()


def figures_text(dialog: ReportDialog) -> str:
    return plain(dialog.query_one("#report-figures", Static))


def test_file_names_and_dates() -> None:
    from datetime import datetime

    at = datetime(2026, 5, 20, 14, 5)
    ask = ReportAsk("case", case_id=3, case_number="SJ-2026-0003")
    assert report_path(Path("/r"), ask, "pdf", at) == Path("/r/SJ-2026-0003-case-20260520-1405.pdf")
    day = ReportAsk("duty_log", day=parse_day("2026-05-20", "date"))
    assert report_path(Path("/r"), day, "md", at).name == "duty-log-2026-05-20-20260520-1405.md"
    with pytest.raises(InvalidInput) as caught:
        parse_day("2026-13-01", "from")
    assert caught.value.field == "from"


def test_the_reports_folder_is_configured_or_the_data_dir(tmp_path: Path) -> None:
    from console.config import parse_config
    from store.paths import reports_dir

    config = parse_config('[reports]\nfolder = "out/reports"\n', path=tmp_path / "c.toml")
    assert config.report_folder == tmp_path / "out" / "reports"
    assert parse_config("").report_folder is None
    assert reports_dir().name == "reports"


def test_no_display_means_no_viewer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from console.tui import viewer

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert viewer.viewer_command("linux") is None
    if not sys.platform.startswith(("win", "darwin")):
        assert viewer.open_with_viewer(tmp_path / "x.html") is False
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(viewer.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert viewer.viewer_command("linux") == ["/usr/bin/xdg-open"]
    assert viewer.viewer_command("darwin") == ["open"]


async def test_o_on_a_case_shows_the_figures_and_h_writes_html(desk, case, folder):
    opener = Opener()
    app = console(desk, opener)
    async with app.run_test(size=SIZE) as pilot:
        await open_case(app, pilot, case)
        await pilot.press("O")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReportDialog)
        assert dialog.doc is not None
        figures = dialog.doc.key_figures()
        assert figures, "a case report has key figures"
        shown = figures_text(dialog)
        for label, value, _note in figures:
            assert label in shown and value in shown

        await pilot.press("h")
        await settle(pilot)
        written = sorted(folder.iterdir())
        assert [p.suffix for p in written] == [".html"]
        assert written[0].name == f"{case.number}-case-20260520-1400.html"
        assert opener.paths == written
        assert case.number in written[0].read_text(encoding="utf-8")
        assert str(written[0]) in str(dialog.query_one("#report-written", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, IncidentDetailScreen)


async def test_the_help_and_the_palette_name_the_report_key(desk, case):
    app = console(desk, Opener())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case(app, pilot, case)
        titles = [command.title for command in app.get_system_commands(screen)]
        assert "Case report file" in titles and "Reports…" in titles
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(plain(s) for s in app.screen.query(Static))
        assert "Case report file" in text and "O" in text


async def open_reports_from_palette(app: DutydeskApp, pilot) -> ReportDialog:
    await pilot.press("ctrl+p")
    await pilot.press(*"Reports")

    def offered() -> bool:
        found = app.screen.query(CommandList)
        return bool(found) and any(
            "Reports…" in str(found.first().get_option_at_index(i).prompt)
            for i in range(found.first().option_count)
        )

    await wait_until(pilot, offered, what="the palette to offer Reports…")
    await pilot.press("enter")
    await settle(pilot)
    dialog = app.screen
    assert isinstance(dialog, ReportDialog)
    return dialog


async def test_the_palette_writes_the_duty_log_as_markdown(desk, case, folder):
    opener = Opener(works=False)  # no viewer here: the path is said instead
    app = console(desk, opener)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dialog = await open_reports_from_palette(app, pilot)
        assert dialog.doc is None  # the chooser waits for a choice
        dialog.query_one("#report-kind-duty_log", RadioButton).value = True
        await pilot.pause()
        day = dialog.query_one("#report-day", Input)
        assert day.value == "2026-05-20"  # today in the office's zone
        day.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert dialog.doc is not None and dialog.doc.kind == "duty_log"
        assert figures_text(dialog).strip()
        await pilot.press("m")
        await settle(pilot)
        written = sorted(folder.iterdir())
        assert [p.name for p in written] == ["duty-log-2026-05-20-20260520-1400.md"]
        assert opener.paths == written
        assert dialog.doc.title in written[0].read_text(encoding="utf-8")
        said = str(dialog.query_one("#report-written", Static).render())
        assert str(written[0]) in said and "opened" not in said


async def test_a_bad_date_is_refused_and_nothing_is_written(desk, case, folder):
    app = console(desk, Opener())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dialog = await open_reports_from_palette(app, pilot)
        dialog.query_one("#report-kind-stats", RadioButton).value = True
        await pilot.pause()
        start = dialog.query_one("#report-from", Input)
        start.value = "2026-02-30"
        start.focus()
        await pilot.press("enter")
        await settle(pilot)
        error = str(dialog.query_one("#report-error", Static).render())
        assert "From" in error and "2026-02-30" in error
        assert dialog.doc is None
        await pilot.press("m")  # typed into the field: no report to write
        await settle(pilot)
        assert not folder.exists()


async def test_an_unwritable_folder_is_a_notification(desk, case, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    desk = replace(desk, config=replace(desk.config, report_folder=blocker / "reports"))
    opener = Opener()
    app = console(desk, opener)
    async with app.run_test(size=SIZE) as pilot:
        await open_case(app, pilot, case)
        await pilot.press("O")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert opener.paths == []
        assert isinstance(app.screen, ReportDialog)
        assert app.screen.busy is False
        assert any(n.severity == "error" for n in app._notifications)
        assert blocker.read_text(encoding="utf-8") == "x"
        assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temp file


async def test_escape_while_building_discards_the_result(desk, case):
    app = console(desk, Opener())
    async with app.run_test(size=SIZE) as pilot:
        await open_case(app, pilot, case)
        with app.db_lock:  # the build waits for the database
            await pilot.press("O")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ReportDialog)
            assert dialog.busy
            assert str(dialog.query_one("#report-phase", Static).render()).startswith(
                "reading the case"
            )
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, IncidentDetailScreen)
        await settle(pilot)
        assert dialog.doc is None  # what the worker brought was discarded
