"""Provides the list of mobilizations (动员), newest first, with how far each has got.

Each row shows the case it is for, the message, cascade or broadcast, the 演练 exercise mark,
its state and its progress: how many said yes, no or are still silent out of everyone called,
as numbers and as a small bar. Enter opens the mobilization. Reads run in a thread worker under
the app's database lock and are repeated whenever the app announces a change.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from console.timefmt import short
from console.tui.screens.live import LiveScreen
from console.tui.screens.mobilization import MobilizationScreen, mobilization_state
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from console.tui.widgets.looks import LOOKS, exercise_badge
from mobilization import (
    Counts,
    Mobilization,
    MobilizationState,
    list_mobilizations,
    totals,
)
from store.i18n import N_, _

LIMIT = 100  # the newest; older ones are in `dutydesk mobilize list`
MESSAGE_WIDTH = 30
BAR_WIDTH = 10
# (key, header): the headers are English message ids, shown with _() ("#" is no word).
COLUMNS = (
    ("id", "#"),
    ("incident", N_("case")),
    ("message", N_("message")),
    ("mode", N_("mode")),
    ("exercise", N_("exercise")),
    ("state", N_("state")),
    ("progress", N_("yes/no/silent of total")),
    ("started", N_("started")),
)


def progress(total: Counts) -> Text:
    """``▕██▒▒░     ▏ 2/1/3 of 8``: yes, no and silent, as a bar and as numbers."""
    text = Text(no_wrap=True)
    text.append("▕")
    if total.total:
        cells = 0
        for state, count, glyph in (
            ("yes", total.yes, "█"),
            ("no", total.no, "▒"),
            ("no_answer", total.silent, "░"),
        ):
            width = round(BAR_WIDTH * count / total.total)
            width = min(width, BAR_WIDTH - cells)
            text.append(glyph * width, style=LOOKS[state].style)
            cells += width
        text.append(" " * (BAR_WIDTH - cells))
    else:
        text.append(" " * BAR_WIDTH)
    text.append("▏ ")
    text.append(
        _("{yes}/{no}/{silent} of {total}").format(
            yes=total.yes, no=total.no, silent=total.silent, total=total.total
        )
    )
    return text


class MobilizationTable(DataTable[object]):
    """The mobilizations: enter opens the highlighted one."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open"))]


class MobilizationsScreen(LiveScreen):
    """动员列表 — every mobilization, newest first."""

    READ_TITLE = N_("mobilizations")

    CSS_PATH = "mobilization.tcss"
    BINDINGS = [Binding("escape", "back", N_("Back"))]

    def __init__(self) -> None:
        super().__init__()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="mobilizations-status")
        yield MobilizationTable(id="mobilizations", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("No mobilizations yet: start one from a case's detail screen."),
            id="mobilizations-empty",
        )
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(MobilizationTable)
        for key, label in COLUMNS:
            table.add_column(label if key == "id" else _(label), key=key)
        table.focus()
        self.load()

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="mobilizations-read")
    def load(self) -> None:
        """Read the newest mobilizations and each one's counts."""
        ctx = self.desk.ctx
        self.read_and_show(
            lambda: [(m, totals(ctx.db, m.id)) for m in list_mobilizations(ctx.db, limit=LIMIT)],
            self._show,
        )

    # ---- showing ----------------------------------------------------------------------------

    def _show(self, rows: list[tuple[Mobilization, Counts]]) -> None:
        if not self.is_attached:
            return
        table = self.query_one(MobilizationTable)
        selected = self.selected_mobilization()
        zone = self.desk.ctx.config.zone
        table.clear()
        for mob, total in rows:
            table.add_row(
                str(mob.id),
                mob.incident_number or "—",
                fit(mob.message, MESSAGE_WIDTH),
                mob.mode.label,
                exercise_badge() if mob.exercise else Text(""),
                mobilization_state(mob),
                progress(total),
                short(mob.created_at, zone),
                key=str(mob.id),
            )
        if selected is not None and str(selected) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected)))
        active = sum(1 for mob, _total in rows if mob.state == MobilizationState.ACTIVE)
        exercises = sum(1 for mob, _total in rows if mob.exercise)
        count = f"{len(rows)}{'+' if len(rows) == LIMIT else ''}"
        self.query_one("#mobilizations-status", Static).update(
            _("mobilizations {count}  active {active}  exercises {exercises}").format(
                count=count, active=active, exercises=exercises
            )
        )
        table.display = bool(rows)
        self.query_one("#mobilizations-empty").display = not rows

    def selected_mobilization(self) -> int | None:
        table = self.query_one(MobilizationTable)
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value) if row_key.value else None

    # ---- keys -------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#mobilizations")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(MobilizationScreen(int(event.row_key.value)))

    def action_back(self) -> None:
        self.dismiss()
