"""Provides the incidents view: the queue of cases, with filters, search and live counts.

The table pages through the database with keyset pages (:func:`incidents.records.list_incidents`)
and reads the next page when the cursor nears the bottom, so it never holds more than
``MAX_ROWS`` cases however large the database is. Reads run in thread workers under the app's
database lock and come back as messages; a reload keeps the cursor on the case it was on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from time import monotonic
from zoneinfo import ZoneInfo

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import AwaitMount, Widget
from textual.widgets import Checkbox, DataTable, Header, Input, Select, Static
from textual.worker import get_current_worker

from console.timefmt import short
from console.tui.dialogs import NewIncidentDialog
from console.tui.messages import CountsLoaded, IncidentOpened, LoadFailed, PageLoaded
from console.tui.screens.actions import CASE_COMMANDS, CaseScreen, log_new_case
from console.tui.widgets.cells import fit, plain, severity_badge, time_left
from console.tui.widgets.keybar import KeyBar
from incidents.models import LOOP, Incident, Severity, Stage
from incidents.records import (
    NUMBER_RE,
    TAIL_RE,
    ListFilter,
    NewIncident,
    Page,
    count_incidents,
    list_incidents,
    resolve_number,
)
from incidents.supervision import Counts, counts
from store.errors import DutydeskError, NotFound
from store.i18n import N_, _, ngettext

PAGE = 100
MAX_ROWS = 5000  # a DataTable measures every row it holds; past this, narrow the filters
# Read-ahead: when fewer than READ_AHEAD // 2 rows are left below the cursor, the next
# READ_AHEAD are read (one query, a few ms) and added APPEND_SLICE at a time, a key press able
# to come in between. Few, large reads: paging meets one short pause every ten pages or so,
# not a read every third page (each add invalidates the table's render caches).
READ_AHEAD = 600
APPEND_SLICE = 100
TITLE_MIN = 16  # cells: below this the columns that give way do, for the title
FOUND_CAP = 10_000  # a search counts its matches up to this ("10000+ found")
SEARCH_DELAY = 0.3
CLOCK_SECONDS = 30.0  # "time left" moves on even when no data changes
ENGINE_LOOK_SECONDS = 2.0  # a console whose engine is not running reads the lease this often
ALERT = "⚠"
COUNTS_INTERVAL = 3.0  # counts scan the whole table: at most this often for outside changes
# Time left comes before the title: on a narrow terminal the title is what gets cut (with
# "…"), never the column that says which case is overdue. (key, header translated where shown)
COLUMNS = (
    ("number", N_("No.")),
    ("severity", N_("Level")),
    ("stage", N_("Stage")),
    ("left", N_("Left")),
    ("deadline", N_("Deadline")),
    ("grid", N_("Grid")),
    ("title", N_("Title")),
)
# Columns that give way, first first, when the title would be narrower than TITLE_MIN: the
# deadline is also in "time left", the grid is in the case.
GIVE_WAY = ("deadline", "grid")
CELL_PADDING = 2  # a DataTable cell's padding, both sides
SCROLLBAR = 2  # kept for the table's vertical scrollbar
# engine state -> (label translated where shown, style)
ENGINE_LABELS = {
    "here": (N_("engine: here"), "green"),
    "elsewhere": (N_("engine: elsewhere"), ""),
    "starting": (N_("engine: …"), "dim"),
    "stopped": (N_("engine: stopped"), "red"),
}


def engine_label(state: str) -> Text:
    """The status line's word on the engine, in the current language."""
    label, style = ENGINE_LABELS[state]
    return Text(_(label), style=style)


def stage_cell(incident: Incident) -> Text:
    text = Text(incident.stage.label)
    if incident.supervised:
        text.append(" " + _("supervised"), style="bold red")
    if incident.parked:
        text.append(" " + _("parked"), style="dim")
    return text


def incident_cells(incident: Incident, now: datetime, zone: ZoneInfo) -> dict[str, Text]:
    """The cells of one case in the incidents table, by column key, the title whole."""
    return {
        "number": Text(incident.number),
        "severity": severity_badge(incident.severity),
        "stage": stage_cell(incident),
        "left": time_left(incident, now),
        "deadline": Text(short(incident.deadline, zone)),
        "grid": plain(incident.grid),
        "title": plain(incident.title),
    }


def natural_widths(incidents: Iterable[Incident], now: datetime, zone: ZoneInfo) -> dict[str, int]:
    """The cells each column needs to show its header and every value whole (title aside)."""
    widths = {key: cell_len(_(label)) for key, label in COLUMNS if key != "title"}
    for incident in incidents:
        for key, cell in incident_cells(incident, now, zone).items():
            if key != "title" and cell.cell_len > widths[key]:
                widths[key] = cell.cell_len
    return widths


def plan_columns(width: int, natural: dict[str, int]) -> dict[str, int]:
    """The columns shown in a table ``width`` cells wide, and each one's width, in order.

    Every column but the title gets its natural width; the title takes the rest. When that
    rest is under ``TITLE_MIN``, the GIVE_WAY columns leave, one by one; the title is cut
    (with "…") rather than the number, level, stage or time left.
    """
    shown = [key for key, _label in COLUMNS if key != "title"]
    room = width - SCROLLBAR - CELL_PADDING

    def title_room() -> int:
        return room - sum(natural[key] + CELL_PADDING for key in shown)

    for key in GIVE_WAY:
        if title_room() >= TITLE_MIN:
            break
        shown.remove(key)
    title = max(TITLE_MIN, title_room())
    return {
        key: natural[key] if key != "title" else title
        for key, _ in COLUMNS
        if key in shown or key == "title"
    }


def incident_row(
    incident: Incident, now: datetime, zone: ZoneInfo, plan: dict[str, int]
) -> list[Text]:
    """The cells of one case for the columns of ``plan``, in order, the title fitted."""
    cells = incident_cells(incident, now, zone)
    cells["title"] = fit(incident.title, plan["title"])
    return [cells[key] for key in plan]


class IncidentTable(DataTable[object]):
    """The cases table: enter opens the highlighted case, home/end go to the first/last row."""

    BINDINGS = [
        Binding("enter", "select_cursor", N_("Open")),
        Binding("home", "scroll_top", N_("Top"), show=False),
        Binding("end", "scroll_bottom", N_("Bottom"), show=False),
    ]


class IncidentsScreen(CaseScreen):
    """The queue of cases a duty officer keeps open all shift."""

    BINDINGS = [
        Binding("n", "new", N_("New")),
        *CaseScreen.BINDINGS,
        Binding("slash", "search", N_("Search")),
        Binding("f", "filters", N_("Filters")),
        Binding("escape", "back", N_("Back"), show=False),
    ]
    COMMANDS_OFFERED = (
        ("new", N_("New case"), N_("Log a newly reported case (n)")),
        ("open", N_("Open case"), N_("Show the selected case in detail (enter)")),
        ("search", N_("Search"), N_("Full-text search over titles, places and notes (/)")),
        ("filters", N_("Filters"), N_("Filter by stage, level, overdue, supervised (f)")),
        *CASE_COMMANDS,
    )

    def __init__(self) -> None:
        super().__init__()
        self._filter = ListFilter()
        self._token = 0  # bumped by every reload; pages read for an older one are dropped
        self._items: dict[int, Incident] = {}
        self._next_after: tuple[str, int] | None = None
        self._loading_more = False
        self._focus_id: int | None = None
        self._counts: Counts | None = None
        self._counts_at = -COUNTS_INTERVAL
        self._counts_timer: Timer | None = None
        self._counts_next: bool | None = None  # counts to read after the page (at once?)
        self._error: str | None = None
        self._search_timer: Timer | None = None
        self._filters_mounted = False
        self._plan: dict[str, int] = {}  # the columns shown and their widths (plan_columns)
        self._natural: dict[str, int] = {}  # natural_widths of the rows held
        self._found: int | None = None  # how many cases the search finds (None: no search)
        self._fresh_token: int | None = None  # the reload of a new filter: cursor to the top
        self._open_when_loaded = False  # enter came before the new filter's rows did

    def compose(self) -> ComposeResult:
        yield Header()
        # The filter bar's widgets come a frame after the cases: see _mount_filters.
        yield Horizontal(id="filters")
        yield Static(id="status")
        with Vertical(id="table-area"):
            yield IncidentTable(id="incidents", cursor_type="row", zebra_stripes=True)
            yield Static(_("No cases match. Press n to log one."), id="empty", markup=False)
        yield KeyBar()

    def _filter_widgets(self) -> list[Widget]:
        return [
            Input(placeholder=_("Search (/)"), id="search", compact=True),
            Select(
                [(s.label, s.value) for s in (*LOOP, Stage.VOIDED)],
                prompt=_("All stages"),
                id="stage-filter",
                compact=True,
            ),
            Select(
                [(f"{s.roman} {s.label}", s.roman) for s in Severity],
                prompt=_("All levels"),
                id="severity-filter",
                compact=True,
            ),
            Checkbox(_("Overdue"), id="only-overdue", compact=True, tooltip=_("Overdue only")),
            Checkbox(
                _("Supervised"), id="only-supervised", compact=True, tooltip=_("Supervised only")
            ),
            Checkbox(_("Parked"), id="with-parked", compact=True, tooltip=_("Include parked")),
            Checkbox(_("Closed"), id="with-closed", compact=True, tooltip=_("Include closed")),
        ]

    def _mount_filters(self) -> AwaitMount | None:
        """Mount the filter bar, once: after the first paint, so the cases show first (its
        two selects and four checkboxes are a third of what opening the queue costs)."""
        if self._filters_mounted:
            return None
        self._filters_mounted = True
        return self.query_one("#filters", Horizontal).mount_all(self._filter_widgets())

    def on_mount(self) -> None:
        self.call_after_refresh(self._mount_filters)
        table = self.query_one(IncidentTable)
        ctx = self.desk.ctx
        self._natural = natural_widths([], ctx.clock.now(), ctx.config.zone)
        self._set_columns(table, self._plan_for(table))
        table.focus()
        self.watch(self.app, "engine_state", self._engine_changed, init=False)
        self.set_interval(ENGINE_LOOK_SECONDS, self._look_for_engine)
        self.watch(self.app, "engine_trouble", self._show_status, init=False)
        self.watch(self.app, "uplink", self._show_status, init=False)
        self.set_interval(CLOCK_SECONDS, self._tick)
        self.reload()

    # ---- the selected case ------------------------------------------------------------------

    def selected_incident(self) -> Incident | None:
        table = self.query_one(IncidentTable)
        if not table.row_count:
            return None
        row_key, _column_key = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self._items.get(int(row_key.value or 0))

    # ---- reading ----------------------------------------------------------------------------

    def reload(self, *, limit: int | None = None, counts_now: bool = True) -> None:
        """Read the table again from the top, down to a page past the cursor, in one query.

        Rows read ahead further down are read again by the read-ahead, not here: a change
        made elsewhere costs the same whether 100 or 2,000 rows were loaded.

        Args:
            limit: how many rows to read; by default the rows down to the cursor and a page
                more (whole pages).
            counts_now: read the counts at once, rather than at most every few seconds.
        """
        self._token += 1
        self._loading_more = False
        if limit is None:
            table = self.query_one(IncidentTable)
            wanted = min(len(self._items), table.cursor_row + 1 + PAGE)
            limit = min(MAX_ROWS, max(PAGE, -(-wanted // PAGE) * PAGE))
        self._read_page(self._token, self._filter, None, limit)
        # The counts scan the whole table: read them after the page, which people wait for.
        self._counts_next = counts_now or bool(self._counts_next)

    def _list(self, flt: ListFilter, after: tuple[str, int] | None, limit: int) -> Page:
        ctx = self.desk.ctx
        with self.desk.db_lock:
            return list_incidents(ctx.db, ctx.clock.now(), flt, after=after, limit=limit)

    @work(thread=True, exclusive=True, exit_on_error=False, group="page")
    def _read_page(
        self, token: int, flt: ListFilter, after: tuple[str, int] | None, limit: int
    ) -> None:
        try:
            page = self._list(flt, after, limit)
            found = None
            if flt.text and (page.next_after is not None or after is not None):
                ctx = self.desk.ctx
                with self.desk.db_lock:
                    found = count_incidents(ctx.db, ctx.clock.now(), flt, cap=FOUND_CAP)
            elif flt.text:
                found = len(page.items)
        except Exception as exc:  # shown in the status line; the console carries on
            self.post_message(LoadFailed(str(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._count_found, token, found)
            self.post_message(PageLoaded(token, page.items, page.next_after, append=False))

    def _count_found(self, token: int, found: int | None) -> None:
        if token == self._token:
            self._found = found

    @work(thread=True, exclusive=True, exit_on_error=False, group="more")
    def _read_more(self, token: int, flt: ListFilter, after: tuple[str, int]) -> None:
        try:
            page = self._list(flt, after, READ_AHEAD)
        except Exception as exc:  # shown in the status line; the console carries on
            self.post_message(LoadFailed(str(exc)))
            return
        self.post_message(PageLoaded(token, page.items, page.next_after, append=True))

    def _counts_after_page(self) -> None:
        if self._counts_next is not None:
            self._want_counts(now=self._counts_next)
            self._counts_next = None

    def _want_counts(self, *, now: bool) -> None:
        if self._counts_timer is not None:
            if not now:
                return
            self._counts_timer.stop()
        wait = COUNTS_INTERVAL - (monotonic() - self._counts_at)
        if now or wait <= 0:
            self._counts_timer = None
            self._counts_at = monotonic()
            self._read_counts()
        else:
            self._counts_timer = self.set_timer(wait, lambda: self._want_counts(now=True))

    @work(thread=True, exclusive=True, exit_on_error=False, group="counts")
    def _read_counts(self) -> None:
        ctx = self.desk.ctx
        try:
            with self.desk.db_lock:
                result = counts(ctx.db, ctx.clock.now())
        except Exception as exc:  # shown in the status line; the console carries on
            self.post_message(LoadFailed(str(exc)))
            return
        self.post_message(CountsLoaded(result))

    # ---- showing ----------------------------------------------------------------------------

    def on_page_loaded(self, message: PageLoaded) -> None:
        if message.token != self._token:
            return
        self._error = None
        table = self.query_one(IncidentTable)
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        fresh = message.token == self._fresh_token
        if message.append:
            self._append_slices(message.token, list(message.items), now, zone)
        elif [i.id for i in message.items] == list(self._items) and not self._replot(
            table, natural_widths(message.items, now, zone)
        ):
            for incident in message.items:
                if self._items[incident.id] != incident:
                    row = incident_row(incident, now, zone, self._plan)
                    for column, value in zip(self._plan, row, strict=True):
                        table.update_cell(str(incident.id), column, value)
            self._items = {i.id: i for i in message.items}
        else:
            self._replace_rows(table, message.items, now, zone)
        if fresh:
            # A new search or filter: its first (best) row is the one highlighted, whatever
            # row the cursor was on before.
            self._fresh_token = None
            if table.row_count:
                table.move_cursor(row=0, animate=False)
        if self._focus_id in self._items:
            table.move_cursor(row=table.get_row_index(str(self._focus_id)))
        self._focus_id = None
        self._next_after = message.next_after
        self._counts_after_page()
        self.query_one("#empty").display = not self._items
        self._show_status()
        self.update_keys()
        if fresh and self._open_when_loaded:
            self._open_when_loaded = False
            self.action_open()

    def _append_slices(
        self, token: int, items: list[Incident], now: datetime, zone: ZoneInfo
    ) -> None:
        """Add ``items`` to the table, APPEND_SLICE now and the rest after pending messages."""
        if token != self._token:
            return  # a reload came in between: it has read these rows itself
        table = self.query_one(IncidentTable)
        selected = self.selected_incident()
        wider = natural_widths(items[:APPEND_SLICE], now, zone)
        if self._replot(table, {k: max(w, wider[k]) for k, w in self._natural.items()}):
            self._refill(table, now, zone, selected.id if selected else None)
        for incident in items[:APPEND_SLICE]:
            if incident.id not in self._items and table.row_count < MAX_ROWS:
                self._items[incident.id] = incident
                table.add_row(*incident_row(incident, now, zone, self._plan), key=str(incident.id))
        rest = items[APPEND_SLICE:]
        if rest and table.row_count < MAX_ROWS:
            self.call_later(self._append_slices, token, rest, now, zone)
        else:
            self._loading_more = False
            self._show_status()

    def _replace_rows(
        self, table: IncidentTable, items: list[Incident], now: datetime, zone: ZoneInfo
    ) -> None:
        selected = self.selected_incident()
        row = table.cursor_row
        self._items = {i.id: i for i in items}
        self._replot(table, natural_widths(items, now, zone))
        table.clear()
        for incident in items:
            table.add_row(*incident_row(incident, now, zone, self._plan), key=str(incident.id))
        if selected is not None and selected.id in self._items:
            row = table.get_row_index(str(selected.id))
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    # ---- columns ------------------------------------------------------------------------------

    def _plan_for(self, table: IncidentTable) -> dict[str, int]:
        return plan_columns(table.size.width or self.app.size.width, self._natural)

    def _set_columns(self, table: IncidentTable, plan: dict[str, int]) -> None:
        """Make the table's columns those of ``plan`` (rows are dropped: refill them)."""
        self._plan = plan
        labels = dict(COLUMNS)
        table.clear(columns=True)
        for key, width in plan.items():
            table.add_column(_(labels[key]), key=key, width=width)

    def _replot(self, table: IncidentTable, natural: dict[str, int] | None = None) -> bool:
        """Plan the columns for the table's width and the ``natural`` widths of the rows (by
        default those held); True if they changed (the table is then empty of rows)."""
        if natural is not None:
            self._natural = natural
        plan = self._plan_for(table)
        if plan == self._plan:
            return False
        self._set_columns(table, plan)
        return True

    def _refill(
        self, table: IncidentTable, now: datetime, zone: ZoneInfo, selected: int | None
    ) -> None:
        """Add the rows held again after the columns changed, the cursor on ``selected``."""
        for incident in self._items.values():
            table.add_row(*incident_row(incident, now, zone, self._plan), key=str(incident.id))
        if selected is not None and selected in self._items:
            table.move_cursor(row=table.get_row_index(str(selected)), animate=False)

    def _fit_columns(self) -> None:
        """Plan the columns again (the width or the values changed), refilling if they moved."""
        table = self.query_one(IncidentTable)
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        selected = self.selected_incident()
        if self._replot(table):
            self._refill(table, now, zone, selected.id if selected else None)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_columns)
        self.call_after_refresh(self._show_status)

    def on_counts_loaded(self, message: CountsLoaded) -> None:
        self._counts = message.counts
        self._show_status()

    def on_load_failed(self, message: LoadFailed) -> None:
        self._error = message.error
        self._fresh_token = None
        self._open_when_loaded = False
        self._loading_more = False
        self._counts_after_page()
        self._show_status()

    def _show_status(self) -> None:
        """The status line: counts, rows or matches, errors; then the engine, the uplink and
        the clock. On a narrow terminal the parked and supervised counts give way, then the
        left part is cut with "…"; the right end (engine, clock) stays whole."""
        ctx = self.desk.ctx
        bar = " │ "
        tail = Text(no_wrap=True)
        tail.append(bar)
        state = self.desk.engine_state
        paused = self._paused if state != "here" else None
        if paused:  # as the dashboard says it: since when the escalations wait
            tail.append(f"{ALERT} {paused}", style="bold red")
        else:
            tail.append_text(engine_label(state))
        if self.desk.engine_trouble:
            tail.append(" " + _("local error: messages held back"), style="bold red")
        uplink = self._uplink()
        if uplink:
            tail.append(bar)
            tail.append_text(uplink)
        tail.append(bar)
        tail.append(short(ctx.clock.now(), ctx.config.zone))
        status = self.query_one("#status", Static)
        width = status.content_region.width
        room = width - tail.cell_len
        for counts_shown in (4, 3, 2):
            text = self._status_left(counts_shown)
            if not width or text.cell_len <= room:
                break
        else:
            text.truncate(max(1, room), overflow="ellipsis")
        text.append_text(tail)
        status.update(text)

    # ---- the engine's vacancy (as on the dashboard) ------------------------------------------

    # "no engine running since 09:46 — escalations paused", while no engine holds the lease.
    _paused: str | None = None

    def _engine_changed(self, state: str) -> None:
        if state not in ("here", "starting"):
            self._look_for_engine()  # said at once, not at the next look
        self._show_status()

    def _look_for_engine(self) -> None:
        """Unless this console runs the engine: whether any engine holds the lease (a read in
        a worker), so that a stopped engine is said, with since when, and not left silent."""
        if self.desk.engine_state in ("here", "starting"):
            if self._paused is not None:
                self._paused = None
                self._show_status()
            return
        self.run_worker(
            self._read_vacancy, thread=True, exclusive=True, group="vacancy", exit_on_error=False
        )

    def _read_vacancy(self) -> None:
        from console.engine import paused_now

        ctx = self.desk.ctx
        with self.desk.db_lock:
            paused = paused_now(ctx.db, ctx.clock.now(), ctx.config.zone)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_paused, paused)

    def _show_paused(self, paused: str | None) -> None:
        if paused != self._paused and self.is_attached:
            self._paused = paused
            self._show_status()

    def _status_left(self, counts_shown: int) -> Text:
        """The left part of the status line with the first ``counts_shown`` counts."""
        bar = " │ "
        text = Text(no_wrap=True, overflow="ellipsis")
        if self._counts is not None:
            c = self._counts
            text.append(_("open {count}").format(count=c.open) + "  ")
            # The overdue figure is red on its own: the label and the figure go apart.
            text.append(_("overdue") + " ")
            text.append(str(c.overdue), style="bold red" if c.overdue else "")
            if counts_shown > 2:
                text.append("  " + _("supervised {count}").format(count=c.supervised))
            if counts_shown > 3:
                text.append("  " + _("parked {count}").format(count=c.parked))
            text.append(bar)
        count = len(self._items)
        if self._found is not None and self._filter.text:
            text.append_text(self._found_text(count))
        elif self._next_after:
            text.append(_("{count}+ rows").format(count=count))
        else:
            text.append(ngettext("{count} row", "{count} rows", count).format(count=count))
        if self._next_after and len(self._items) >= MAX_ROWS:
            first = _("(first {count}: narrow the filters)").format(count=MAX_ROWS)
            text.append(" " + first, style="yellow")
        if self._error:
            text.append(bar)
            text.append(self._error, style="bold red")
        return text

    def _found_text(self, shown: int) -> Text:
        """What a search found: "37 found", or "100 of 737 found, pgdn for more"."""
        found = self._found or 0
        if found >= FOUND_CAP:
            return Text(
                _("{shown} of {count}+ found, pgdn for more").format(shown=shown, count=FOUND_CAP)
            )
        if shown < found:
            return Text(
                _("{shown} of {count} found, pgdn for more").format(shown=shown, count=found)
            )
        return Text(ngettext("{count} found", "{count} found", found).format(count=found))

    def _uplink(self) -> Text:
        """The uplink's short form (nothing where none is configured and nothing waits)."""
        from console.tui.widgets.uplink import uplink_line

        ctx = self.desk.ctx
        config = ctx.config
        return uplink_line(
            self.desk.uplink, ctx.clock.now(), config.zone, config.uplink.alarm, compact=True
        )

    def _tick(self) -> None:
        """Move the "time left" column on; the counts' overdue figure depends on the time too."""
        ctx = self.desk.ctx
        now = ctx.clock.now()
        table = self.query_one(IncidentTable)
        widest = 0
        for incident_id, incident in self._items.items():
            # Only the cells whose words changed: each update makes the table measure and
            # redraw, and most deadlines are days away ("3d4h" for hours on end).
            left = time_left(incident, now)
            widest = max(widest, left.cell_len)
            key = str(incident_id)
            if table.get_cell(key, "left") != left:
                table.update_cell(key, "left", left)
        if widest > self._natural.get("left", 0):  # "59m" became "overdue 1m"
            self._natural = {**self._natural, "left": widest}
            self._fit_columns()
        self._want_counts(now=False)
        self._show_status()

    # ---- changes ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the table (and the counts) again; see :meth:`reload`."""
        self.reload()

    def reread(self, *, own: bool) -> None:
        """The counts at once after this console's own writes, else at most every few seconds."""
        self.reload(counts_now=own)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.update_keys()
        table = event.data_table
        if (
            self._next_after is not None
            and not self._loading_more
            and event.cursor_row >= table.row_count - READ_AHEAD // 2
            and table.row_count < MAX_ROWS
        ):
            self._loading_more = True
            # After the next paint: the rows asked for show first, then more are read.
            self.call_after_refresh(self._read_more, self._token, self._filter, self._next_after)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    # ---- filters and search -------------------------------------------------------------

    def current_filter(self) -> ListFilter:
        """The filter the widgets of the filter bar describe."""
        if not self.query("#search"):
            return self._filter  # not mounted yet: nothing was chosen in it
        stage = self.query_one("#stage-filter", Select).value
        severity = self.query_one("#severity-filter", Select).value
        text = self.query_one("#search", Input).value.strip()
        return ListFilter(
            stages=None if stage is Select.NULL else (Stage(str(stage)),),
            severities=None if severity is Select.NULL else (Severity[str(severity)],),
            overdue=True if self.query_one("#only-overdue", Checkbox).value else None,
            supervised=True if self.query_one("#only-supervised", Checkbox).value else None,
            parked=None if self.query_one("#with-parked", Checkbox).value else False,
            text=text or None,
            include_closed=self.query_one("#with-closed", Checkbox).value,
        )

    def apply_filters(self) -> None:
        flt = self.current_filter()
        if flt != self._filter:
            self._filter = flt
            self._found = None
            self.reload(limit=PAGE, counts_now=False)
            self._fresh_token = self._token

    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _filter_changed(self) -> None:
        self.apply_filters()

    @on(Input.Changed, "#search")
    def _search_typed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self.apply_filters)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if NUMBER_RE.match(text) or (text.isascii() and TAIL_RE.match(text)):
            self._open_number(text)
        else:
            self._search_now()

    @work(thread=True, exclusive=True, exit_on_error=False, group="number")
    def _open_number(self, number: str) -> None:
        """Open the case of a number (or the tail of one: 244) typed in the search box; a tail
        no case has is searched for as text, a full number no case has is said so."""
        try:
            with self.desk.db_lock:
                incident_id = resolve_number(self.desk.ctx.db, number)
        except DutydeskError as exc:
            full = NUMBER_RE.match(number) is not None or not isinstance(exc, NotFound)
            self.app.call_from_thread(self._no_such_number, str(exc) if full else None)
        else:
            self.post_message(IncidentOpened(incident_id))

    def _no_such_number(self, error: str | None) -> None:
        if error is not None:
            self.notify(error, severity="warning", markup=False)
        self._search_now()

    def _search_now(self) -> None:
        self.apply_filters()
        self.query_one(IncidentTable).focus()

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            return True if self.selected_incident() is not None else None
        return super().check_action(action, parameters)

    def action_open(self) -> None:
        """Open the highlighted case; right after a new search, its first hit once it is read
        (the rows still shown belong to the search before)."""
        if self._fresh_token is not None or (
            self._search_timer is not None and self.current_filter() != self._filter
        ):
            self._open_when_loaded = True
            self.apply_filters()
            return
        incident = self.selected_incident()
        if incident is not None:
            self.post_message(IncidentOpened(incident.id))

    async def action_search(self) -> None:
        await self._filters_ready()
        self.query_one("#search", Input).focus()

    async def action_filters(self) -> None:
        await self._filters_ready()
        self.query_one("#stage-filter", Select).focus()

    async def _filters_ready(self) -> None:
        mounting = self._mount_filters()
        if mounting is not None:
            await mounting

    def action_back(self) -> None:
        """Back to the table from the filters; from the table, back to the dashboard."""
        table = self.query_one(IncidentTable)
        if not table.has_focus:
            table.focus()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_new(self) -> None:
        self.app.push_screen(NewIncidentDialog(), self._log)

    def _log(self, new: NewIncident | None) -> None:
        log_new_case(self, new, then=self._focus_on)

    def _focus_on(self, incident: Incident) -> None:
        """Put the cursor on the case just logged, once the table is read again."""
        self._focus_id = incident.id
