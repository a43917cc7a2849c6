"""Provides the floor of the console benchmark: the least a Textual app does for the same screens.

:mod:`bench.console` measures this app beside the console, in the same run and the same way,
and reports each console figure as a ratio to this one's, so the targets carry from one machine
(or one busy hour) to the next. It is the console's shape with nothing of dutydesk in it: a
first screen with a header, a one-line key bar and a ``DataTable`` of 50 cases read from the
same SQLite file with plain ``sqlite3``; ``i`` pushes a second screen with a ``DataTable`` of
the first 1,000 cases, escape goes back, page-down moves through them. Reads run on the UI
thread (a few milliseconds each): the floor is what Textual costs, not how to hide work.
It defers full garbage collections after its first frame as the console does
(``console/tui/app.py``): left to run, each took 100-150 ms of one page-down in three rounds
of ten, the floor's p95 was the collector's and a console twice as slow still passed.

Keep it minimal: whatever is added here raises the floor and loosens every target.

    python -m bench.floor_app /tmp/dutydesk-bench-console-100000.db   # to look at it
"""

from __future__ import annotations

import gc
import sqlite3
import sys

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

COLUMNS = ("No.", "Level", "Stage", "Deadline", "Grid", "Title")
QUERY = (
    "SELECT number, severity, stage, coalesce(deadline, ''), coalesce(grid, ''), title"
    " FROM incidents ORDER BY coalesce(deadline, '~'), id LIMIT ?"
)
FIRST_ROWS = 50
SCREEN_ROWS = 1000
PAGE = 100  # the console's first page: a DataTable measures every row it is given
TITLE_WIDTH = 40


def cases_table(rows: list[tuple[object, ...]]) -> DataTable[object]:
    """A row-cursor table of ``rows``, its columns as the console's."""
    table: DataTable[object] = DataTable(cursor_type="row", zebra_stripes=True)
    for label in COLUMNS:
        table.add_column(label, width=TITLE_WIDTH if label == "Title" else None)
    table.add_rows(rows)
    return table


class FloorIncidentsScreen(Screen[None]):
    """The second screen: the first 1,000 cases, a key bar, escape back.

    It opens with the first ``PAGE`` cases, as the console does, and adds the rest after its
    first frame: given 1,000 rows at once, the table measures them all before that frame
    (about 0.4 s here), a cost the console does not pay and the floor must not include.
    """

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, rows: list[tuple[object, ...]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield cases_table(self.rows[:PAGE])
        yield Static("escape back  pagedown next page", id="keys")

    def on_mount(self) -> None:
        self.call_after_refresh(self.query_one(DataTable).add_rows, self.rows[PAGE:])


class FloorApp(App[None]):
    """The first screen: 50 cases, a key bar, ``i`` for the second screen."""

    CSS = "#keys { dock: bottom; height: 1; background: $panel; }"
    BINDINGS = [Binding("i", "incidents", "Incidents"), Binding("q", "quit", "Quit")]

    def __init__(self, db: str) -> None:
        super().__init__()
        self.conn = sqlite3.connect(db)

    def compose(self) -> ComposeResult:
        yield Header()
        yield cases_table(self.conn.execute(QUERY, (FIRST_ROWS,)).fetchall())
        yield Static("i incidents  q quit", id="keys")

    def on_mount(self) -> None:
        self.call_after_refresh(self.defer_full_collections)

    def defer_full_collections(self) -> None:
        gc.freeze()
        young, middle, _full = gc.get_threshold()
        gc.set_threshold(young, middle, 1_000_000)

    def action_incidents(self) -> None:
        self.push_screen(FloorIncidentsScreen(self.conn.execute(QUERY, (SCREEN_ROWS,)).fetchall()))


if __name__ == "__main__":
    FloorApp(sys.argv[1]).run()
