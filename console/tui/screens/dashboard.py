"""Provides the dashboard (值班台首页): the duty office's state at a glance.

While a warning (预警) is in force, a banner above everything names it in words and its colour
(``⚠ 橙色 暴雨预警 · until 12-08 18:00 · 叫应 12/40 answered``), one line per warning and two
at most (the second then says how many more); ``W`` or a click on it opens the alerts.
Two lines at the top always show the counters (在办 open, 超期 overdue, 督办 supervised,
挂账 parked), who runs the engine and the clock in the office's zone; a third, where an uplink
is configured, the link to the level above (connected, backing off, down since, token refused)
with its backlog, the age of the oldest unsent event and the dead letters; a fourth, where
drills are planned, the next drill and its next reminder, with the improvement items overdue
and the drill moments missed lately (both ``⚠``; ``D`` opens the drills); a fifth, while
information reports are owed, the most pressing one with how many are overdue and due
(``⚠ reports: 初报 2026-000123 overdue 5 min · 1 overdue``; ``r`` or a click on the line opens
that case). Below them: active cases by stage and by level, who holds each duty post now and
next, the active mobilizations with their progress, and a live feed of new reports, overdue
cases and answers; enter opens the case of a feed line, or the mobilization of an answer or
mobilization line. ``s`` opens the silent list (who has not answered the running
mobilizations, to ring them).

Nothing depends on colour alone: alerts carry ``⚠``, levels their Roman numeral and colour word,
states a glyph and a word. All reads run in one thread worker under the app's database lock,
fastest first, and come back as messages, so the screen paints as each part arrives. Changes
announced while a read runs are coalesced into one more read when it ends. The clock ticks
without touching the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.cells import cell_len
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Header, Label, Static
from textual.worker import get_current_worker

from console import timefmt
from console.tui.messages import IncidentOpened
from console.tui.screens.live import LiveScreen
from console.tui.widgets.calendar_warning import CalendarWarning
from console.tui.widgets.cells import fit, severity_badge, show
from console.tui.widgets.keybar import KeyBar
from console.tui.widgets.looks import LOOKS, SILENT_LOOK, Look, exercise_badge
from incidents.models import OPEN_STAGES, Severity, Stage
from mobilization import RecipientState
from store.i18n import N_, _

if TYPE_CHECKING:
    from console.tui.screens.alerts import AlertRow
    from contacts.roster import Post, Shift
    from drills.models import Occurrence
    from incidents.records import NewIncident
    from incidents.supervision import Counts
    from mobilization import Counts as MobCounts
    from mobilization import Mobilization
    from reports.overview import FeedItem
    from uplink.models import LinkStatus
    from uplink.reporting import Obligation

# The queue, the form of a new case and the mobilizations' list are imported when first used:
# the first frame shows none of them (tests/console/test_import_closure.py).

NARROW = 100  # below this many columns the panels take two columns
CLOCK_SECONDS = 1.0
REREAD_SECONDS = 30.0  # "overdue" and "next shift" move on with the time, not only with writes
FEED_LIMIT = 20
MOBS_SHOWN = 5
MOBS_COUNTED = 100  # "+n more" counts this many active mobilizations at most
DUTY_LOOKAHEAD = timedelta(days=8)  # the next shift of a post is looked for this far ahead
REPORTS_READ = 200  # reports owed read for the line (the most pressing one and the counts)
DRILLS_MISSED_SINCE = timedelta(days=7)  # missed drill moments are told this long (then: D)
EIGHTHS = " ▏▎▍▌▋▊▉"
FEED_PADDING = 2  # the cell padding of each feed column
FEED_SLACK = 4  # the feed's scrollbar and the panel's, beyond the columns themselves

ALERT = "⚠"
ENGINE_LOOK_SECONDS = 2.0  # a console whose engine is not running reads the lease this often
ENGINE_LOOKS = {
    "here": Look("●", N_("running here"), ""),
    "elsewhere": Look("◐", N_("running elsewhere"), ""),
    "stopped": Look("■", N_("stopped"), ""),
    "starting": Look("…", N_("starting"), ""),
}
# (feed kind, detail) -> how the line's kind is drawn; (kind, None) is the fallback.
FEED_LOOKS = {
    ("report", None): Look("✚", N_("new report"), "bold"),
    ("overdue", None): Look(ALERT, N_("overdue, supervised"), "bold red"),
    ("answer", "yes"): Look(LOOKS["yes"].glyph, N_("answered yes"), LOOKS["yes"].style),
    ("answer", "no"): Look(LOOKS["no"].glyph, N_("answered no"), LOOKS["no"].style),
    ("answer", None): Look("☎", N_("answer"), ""),
    ("mobilization", "started"): Look("⚑", N_("mobilization"), "bold cyan"),
    ("mobilization", "completed"): Look("✔", N_("mobilization done"), "green"),
    ("mobilization", "cancelled"): Look("×", N_("mobilization cancelled"), "dim"),
    ("mobilization", None): Look("⚑", N_("mobilization"), ""),
    ("field", "accepted"): Look("✔", N_("accepted in the field"), "green"),
    ("field", "declined"): Look("✗", N_("declined in the field"), "bold yellow"),
    ("field", "feedback"): Look("↩", N_("feedback from the field"), "bold cyan"),
    ("field", "accept_overdue"): Look(ALERT, N_("not accepted in time"), "bold red"),
    ("field", None): Look("⚑", N_("field"), ""),
}
# (key, header): the headers are English message ids, shown with _().
FEED_COLUMNS = (
    ("at", N_("time")),
    ("kind", N_("kind")),
    ("level", N_("level")),
    ("case", N_("case")),
    ("text", N_("text")),
)
# The dashboard's counters: (key, label shown with _(), alerting when not zero).
COUNTERS = (
    ("open", N_("open"), False),
    ("overdue", N_("overdue"), True),
    ("supervised", N_("supervised"), True),
    ("parked", N_("parked"), False),
)


@dataclass(frozen=True)
class DrillLine:
    """The drills as the dashboard tells them: the next one, and what needs attention."""

    next: Occurrence | None
    overdue: int  # improvement items past their due date
    missed: int  # drill moments missed lately (no engine ran in time)

    @property
    def empty(self) -> bool:
        return self.next is None and not self.overdue and not self.missed


def drill_line(line: DrillLine, now: datetime, zone: ZoneInfo) -> Text:
    """``⚑ next drill: PLAN 05-27 09:00 (reminder 05-26 09:00)``, after what needs attention
    (``⚠ improvement items overdue: 2``): a narrow terminal cuts the end of the line."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for count, label in (
        (line.overdue, _("improvement items overdue: {count}")),
        (line.missed, _("drills missed: {count}")),
    ):
        if count:
            text.append(f"{ALERT} " + label.format(count=count), style="bold red")
            text.append("  ")
    nxt = line.next
    if nxt is None:
        text.append("⚑ " + _("no drill scheduled"), style="dim")
        return text
    text.append("⚑ " + _("next drill:") + " ", style="bold")
    text.append(f"{nxt.plan_name} {when(nxt.at, now, zone)}")
    if not nxt.announced:  # not to be told to those it tests
        text.append(" " + _("(unannounced)"), style="bold magenta")
    if nxt.next_reminder is not None:
        reminder = _("(reminder {time})").format(time=when(nxt.next_reminder, now, zone))
        text.append(f" {reminder}", style="dim")
    return text


def first_owed(obligations: list[Obligation], now: datetime) -> Obligation | None:
    """The most pressing report owed: the longest overdue, else the next one due."""
    from uplink.reporting import ObligationState

    if not obligations:
        return None
    overdue = [o for o in obligations if o.state_at(now) is ObligationState.OVERDUE]
    return min(overdue or obligations, key=lambda o: o.due)


def reports_line(obligations: list[Obligation], now: datetime, zone: ZoneInfo) -> Text:
    """``⚠ reports: 初报 2026-000123 overdue 5 min · 1 overdue · 2 due``: the most late
    report, else the next one due, then how many are overdue and how many are due."""
    from console.sitrep_words import obligation_words
    from uplink.reporting import ObligationState

    text = Text(no_wrap=True, overflow="ellipsis")
    first = first_owed(obligations, now)
    if first is None:
        return text
    overdue = [o for o in obligations if o.state_at(now) is ObligationState.OVERDUE]
    style = "bold red" if overdue else ""
    if overdue:
        text.append(f"{ALERT} ", style=style)
    text.append(_("reports:") + " ", style="bold")
    text.append(obligation_words(first, now, zone, number=True), style=style)
    if overdue:
        text.append(" · " + _("{count} overdue").format(count=len(overdue)), style=style)
    pending = len(obligations) - len(overdue)
    if pending:
        text.append(" · " + _("{count} due").format(count=pending))
    return text


@dataclass(frozen=True)
class DutyRow:
    """One duty post: who holds it now and who comes next (``None``: nobody on the roster)."""

    post: Post
    now: Shift | None
    next: Shift | None


def feed_look(item: FeedItem) -> Look:
    return FEED_LOOKS.get((item.kind, item.detail)) or FEED_LOOKS.get(
        (item.kind, None), Look("·", item.kind, "")
    )


def feed_text(item: FeedItem) -> str:
    """The words of a feed line: the case's title, or who answered which mobilization."""
    if item.kind == "answer":
        return f"{item.name or '?'} · {item.title}"
    if item.kind == "overdue" and item.detail:
        try:
            stage = Stage(item.detail).label
        except ValueError:
            stage = item.detail
        return f"{item.title} ({stage})"
    if item.kind == "field" and item.name:
        said = f": {item.note}" if item.note else ""
        return f"{item.name}{said} · {item.title}"
    return item.title


def when(at: datetime, now: datetime, zone: ZoneInfo) -> str:
    """``14:05`` today, ``05-19 14:05`` another day (in the office's zone)."""
    return timefmt.when(at, now, zone)


def bar(value: int, top: int, width: int) -> str:
    """``value`` of ``top`` as a bar of ``width`` cells, in eighths; never empty above zero."""
    if width <= 0 or value <= 0 or top <= 0:
        return ""
    eighths = max(1, round(8 * width * value / top))
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


class WallClock(Widget):
    """The wall clock. It changes every second, and a ``Static.update`` lays the whole screen
    out again each time (a third of an idle console's CPU): this one repaints only itself, and
    asks for a layout only when its text changes width."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = ""

    def show(self, text: str) -> None:
        if text == self._text:
            return
        relayout = len(text) != len(self._text)
        self._text = text
        self.refresh(layout=relayout)

    def render(self) -> str:
        return self._text


class CountBars(Widget):
    """Rows of ``label ████▌ count``, the bars scaled to the largest count and to the width.

    Until the first :meth:`show` the counts read ``…``.
    """

    COMPONENT_CLASSES = {"count-bars--bar"}

    def __init__(
        self, labels: list[Text], styles: list[str] | None = None, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._labels = labels
        self._styles = styles or [""] * len(labels)
        self.values: list[int] | None = None

    def show(self, values: list[int]) -> None:
        if values != self.values:  # read again every 30 s: mostly the same numbers
            self.values = values
            self.refresh()

    def render(self) -> Text:
        values = self.values or [0] * len(self._labels)
        shown = ["…"] * len(values) if self.values is None else [f"{n:,}" for n in values]
        label_width = max(label.cell_len for label in self._labels)
        number_width = max(len(s) for s in shown)
        bar_width = max(0, self.size.width - label_width - number_width - 2)
        default = self.get_component_rich_style("count-bars--bar")
        top = max(values)
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, label in enumerate(self._labels):
            if index:
                text.append("\n")
            text.append_text(label)
            text.append(" " * (label_width - label.cell_len + 1))
            drawn = bar(values[index], top, bar_width)
            text.append(drawn, style=self._styles[index] or default)
            text.append(" " * (bar_width - len(drawn) + 1))
            text.append(shown[index].rjust(number_width), style="bold")
        return text


class FeedTable(DataTable[object]):
    """The live feed: enter opens the case of the highlighted line."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open"))]


def stage_labels() -> list[Text]:
    return [Text(s.label) for s in OPEN_STAGES]


def severity_labels() -> list[Text]:
    """``I`` on red, then the level's name and its colour's in words."""
    labels = []
    for level in Severity:
        label = severity_badge(level)
        label.append(f" {level.label} · {level.color_name}")
        labels.append(label)
    return labels


def legend() -> str:
    """What the three fills of a progress bar mean."""
    return "  ".join(
        f"{fill} {look.word}"
        for fill, look in (
            ("█", LOOKS[RecipientState.YES]),
            ("▒", LOOKS[RecipientState.NO]),
            ("░", SILENT_LOOK),
        )
    )


class DashboardScreen(LiveScreen):
    """值班台 — the duty office's home screen."""

    BINDINGS = [
        Binding("i", "incidents", N_("Incidents")),
        Binding("n", "new", N_("New")),
        Binding("m", "mobilizations", N_("Mobilizations")),
        Binding("s", "silent", N_("Silent")),
        Binding("u", "contacts", N_("Contacts")),
        # Shown only while a report is owed: opens the case of the most pressing one.
        Binding("r", "open_report", N_("Report owed")),
        # Shown only while a warning is in force (the app's W opens the alerts everywhere).
        Binding("W", "alerts", N_("Alerts")),
    ]

    @dataclass
    class CountsRead(Message, bubble=False):
        """The counters and the active cases per stage were read."""

        counts: Counts
        stages: dict[Stage, int]

    @dataclass
    class SeveritiesRead(Message, bubble=False):
        severities: dict[Severity, int]

    @dataclass
    class FeedRead(Message, bubble=False):
        """Feed items, newest first; ``incremental``: only those newer than the ones shown."""

        items: list[FeedItem]
        incremental: bool

    @dataclass
    class MobilizationsRead(Message, bubble=False):
        """The newest active mobilizations with their counts, and how many are active."""

        rows: list[tuple[Mobilization, MobCounts]]
        active: int

    @dataclass
    class DutyRead(Message, bubble=False):
        rows: list[DutyRow]

    @dataclass
    class DrillsRead(Message, bubble=False):
        line: DrillLine

    @dataclass
    class ReportsRead(Message, bubble=False):
        """The information reports owed now (pending or overdue), earliest deadline first."""

        obligations: list[Obligation]

    @dataclass
    class AlertsRead(Message, bubble=False):
        """The warnings in force, most severe first, each with its 叫应."""

        rows: list[AlertRow]

    @dataclass
    class ReadDone(Message, bubble=False):
        """A read ended (``error``: why it stopped early)."""

        error: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self._reading = False
        self._again = False  # changes came in while reading: read once more after
        self._full_next = True
        self._feed: list[FeedItem] = []
        self._counts: Counts | None = None
        self._error: str | None = None
        self._owed: list[Obligation] = []  # the reports owed, as last read
        self._alerts: list[AlertRow] = []  # the warnings in force, as last read

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dash-bar"):
            yield Static(id="alerts-line")
            with Horizontal(id="dash-counters"):
                yield Static(id="count-open", classes="counter")
                yield Static(id="count-overdue", classes="counter")
                yield Static(id="count-supervised", classes="counter")
                yield Static(id="count-parked", classes="counter")
            with Horizontal(id="dash-state"):
                yield Static(id="engine")
                yield WallClock(id="clock")
            yield Static(id="uplink")
            yield Static(id="drills-line")
            yield Static(id="reports-line")
            yield CalendarWarning(id="calendar-line")
        with Vertical(id="dash-body"):
            with Vertical(id="panel-levels", classes="panel"):
                yield Label(_("stages (active)"), classes="panel--title")
                yield CountBars(stage_labels(), id="stages")
                yield Label(_("levels"), classes="panel--title")
                yield CountBars(
                    severity_labels(),
                    [Color.parse(level.color).hex for level in Severity],
                    id="severities",
                )
            with Vertical(id="panel-duty", classes="panel"):
                yield Label(_("on duty now → next"), classes="panel--title")
                yield Static("…", id="duty")
            with Vertical(id="panel-mobs", classes="panel"):
                yield Label(_("mobilizations yes/no/silent"), classes="panel--title")
                yield Static("…", id="mobs")
            with Vertical(id="panel-feed", classes="panel"):
                yield Label(_("live feed"), classes="panel--title")
                yield FeedTable(id="feed", cursor_type="row", zebra_stripes=True)
                yield Static(_("Nothing reported yet."), id="feed-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(FeedTable)
        for key, label in FEED_COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self._show_counters(None)
        self._tick()
        self.watch(self.app, "engine_state", self._show_engine)
        self.set_interval(ENGINE_LOOK_SECONDS, self._look_for_engine)
        self.watch(self.app, "engine_trouble", self._show_trouble)
        self.watch(self.app, "uplink", self._show_uplink)
        self.set_interval(CLOCK_SECONDS, self._tick)
        self.reread_every(REREAD_SECONDS)  # cases go overdue, shifts change
        # After the first frame, which shows none of it: the reader's imports and queries on
        # its thread would otherwise share the interpreter with painting that frame.
        self.call_after_refresh(self.request_read, full=True)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
        # After the layout: the feed's words are cut to the panel's new width.
        self.call_after_refresh(self._show_feed)

    # ---- reading ----------------------------------------------------------------------------

    def request_read(self, *, full: bool = False) -> None:
        """Read everything again now, or once more after the read that is running.

        Args:
            full: read the whole feed again (titles and levels may have changed), rather than
                only what is newer than the newest line shown; and the drills' line.
        """
        self._full_next = self._full_next or full
        if self._reading:
            self._again = True
            return
        self._reading = True
        after = None if self._full_next or not self._feed else self._feed[0].id
        self._full_next = False
        self._read(after)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dashboard-read")
    def _read(self, feed_after: int | None) -> None:
        """Read each part under the lock and post it at once, the fastest parts first."""
        # Imported here, on the worker's thread: the first frame shows none of what they read.
        from incidents.supervision import counts
        from mobilization import list_mobilizations, totals
        from reports.overview import recent_feed, severity_counts, stage_counts

        ctx, lock = self.desk.ctx, self.desk.db_lock
        db = ctx.db
        worker = get_current_worker()
        error: str | None = None
        try:
            now = ctx.clock.now()
            with lock:
                read = self.CountsRead(counts(db, now), stage_counts(db))
            self.post_message(read)
            if worker.is_cancelled:
                return
            try:  # the reports' line must not keep the rest of the dashboard from painting
                reports = self._reports(now)
            except Exception as exc:
                error, reports = str(exc) or type(exc).__name__, []
            self.post_message(self.ReportsRead(reports))
            if worker.is_cancelled:
                return
            try:  # nor the warnings' banner
                warnings = self._warnings(now)
            except Exception as exc:
                error, warnings = str(exc) or type(exc).__name__, []
            self.post_message(self.AlertsRead(warnings))
            if worker.is_cancelled:
                return
            with lock:
                feed = recent_feed(db, FEED_LIMIT, after_id=feed_after)
            self.post_message(self.FeedRead(feed, incremental=feed_after is not None))
            if worker.is_cancelled:
                return
            with lock:
                active = list_mobilizations(db, state="active", limit=MOBS_COUNTED)
                mobs = [(mob, totals(db, mob.id)) for mob in active[:MOBS_SHOWN]]
            self.post_message(self.MobilizationsRead(mobs, len(active)))
            if worker.is_cancelled:
                return
            with lock:
                duty = self._duty(now)
            self.post_message(self.DutyRead(duty))
            if worker.is_cancelled:
                return
            # The drills change with the time and the schedules, not with each answer coming
            # in: read with the full reads only (the whole feed: at the start, on coming back,
            # every 30 s), as the next occurrence is found by expanding every active rule.
            if feed_after is None:
                with lock:
                    line = self._drills(now)
                self.post_message(self.DrillsRead(line))
                if worker.is_cancelled:
                    return
            # The slowest read (no index holds the level): last, so the rest is painted first.
            with lock:
                levels = severity_counts(db)
            self.post_message(self.SeveritiesRead(levels))
        except Exception as exc:  # shown on the screen; the console carries on
            error = str(exc) or type(exc).__name__
        finally:
            self.post_message(self.ReadDone(error))

    def _duty(self, now: datetime) -> list[DutyRow]:
        from contacts.roster import list_posts, on_duty, shifts

        db = self.desk.ctx.db
        current = {s.post.id: s for s in on_duty(db, now)}
        following: dict[int, Shift] = {}
        for shift in shifts(db, now, now + DUTY_LOOKAHEAD):
            if shift.starts_at > now:
                following.setdefault(shift.post.id, shift)
        return [DutyRow(p, current.get(p.id), following.get(p.id)) for p in list_posts(db)]

    def _reports(self, now: datetime) -> list[Obligation]:
        """The reports owed (an indexed read on the open deadlines), under the lock."""
        from uplink.sitreps import open_obligations

        with self.desk.db_lock:
            return open_obligations(self.desk.ctx.db, now, limit=REPORTS_READ)

    def _warnings(self, now: datetime) -> list[AlertRow]:
        """The warnings in force with their 叫应 (an indexed read), under the lock."""
        from console.tui.screens.alerts import read_banner

        with self.desk.db_lock:
            return read_banner(self.desk.ctx.db, now)

    def _drills(self, now: datetime) -> DrillLine:
        """The next drill, the overdue improvement items, the moments missed lately."""
        from drills.improvements import overdue
        from drills.schedules import missed, next_drill

        db = self.desk.ctx.db
        return DrillLine(
            next=next_drill(db, now),
            overdue=len(overdue(db, now)),
            missed=len(missed(db, since=now - DRILLS_MISSED_SINCE)),
        )

    def on_dashboard_screen_read_done(self, message: ReadDone) -> None:
        self._reading = False
        if message.error != self._error:
            self._error = message.error
            if message.error:
                self.notify(message.error, title=_("dashboard"), severity="error", markup=False)
        if self._again:
            self._again = False
            self.request_read()

    def load(self) -> None:
        """Read everything again, the whole feed included."""
        self.request_read(full=True)

    def reread(self, *, own: bool) -> None:
        """Read again; of the feed, only what is newer than the lines shown."""
        self.request_read()

    def time_passed(self) -> None:
        """Everything again: the feed is not what the time alone changes."""
        self.request_read(full=True)

    # ---- showing ----------------------------------------------------------------------------

    def on_dashboard_screen_counts_read(self, message: CountsRead) -> None:
        self._show_counters(message.counts)
        self.query_one("#stages", CountBars).show([message.stages[s] for s in OPEN_STAGES])

    def on_dashboard_screen_severities_read(self, message: SeveritiesRead) -> None:
        self.query_one("#severities", CountBars).show([message.severities[s] for s in Severity])

    def _show_counters(self, c: Counts | None) -> None:
        self._counts = c
        for key, label, alerting in COUNTERS:
            value: int | None = getattr(c, key) if c is not None else None
            alert = alerting and bool(value)
            text = Text(no_wrap=True)
            if alert:
                text.append(f"{ALERT} ")
            text.append(_(label))
            text.append(" …" if value is None else f" {value:,}", style="bold")
            widget = self.query_one(f"#count-{key}", Static)
            show(widget, text)
            widget.set_class(alert, "-alert")

    # "no engine running since 09:46 — escalations paused", while no engine holds the lease.
    _paused: str | None = None
    _engine_seen = "starting"

    def _show_engine(self, state: str) -> None:
        if state != self._engine_seen:
            self._engine_seen = state
            if state not in ("here", "starting"):
                self._look_for_engine()  # said at once, not at the next look
        look = ENGINE_LOOKS.get(state, Look("?", state, ""))
        widget = self.query_one("#engine", Static)
        text = Text.assemble(_("engine"), " ", look.text())
        paused = self._paused if state != "here" else None
        if paused:
            text = Text.assemble(_("engine"), " ", (f"{ALERT} {paused}", "bold red"))
        if self.desk.engine_trouble:
            text.append("  " + _("local error: messages held back"), style="bold red")
        show(widget, text)
        for name in ENGINE_LOOKS:
            widget.set_class(name == state, f"-{name}")
        widget.set_class(bool(paused), "-paused")

    def _look_for_engine(self) -> None:
        """Unless this console runs the engine: whether any engine holds the lease (a read in
        a worker), so that a stopped engine is said, with since when, and not left silent."""
        state = self.desk.engine_state
        if state in ("here", "starting"):  # runs here, or is about to take the lease
            if self._paused is not None:
                self._paused = None
                self._show_engine(state)
            return
        self.run_worker(
            self._read_vacancy, thread=True, exclusive=True, group="vacancy", exit_on_error=False
        )

    def _read_vacancy(self) -> None:
        from console.engine import paused_now

        ctx = self.desk.ctx
        with self.desk.db_lock:
            paused = paused_now(ctx.db, ctx.clock.now(), ctx.config.zone)
        self.app.call_from_thread(self._show_paused, paused)

    def _show_paused(self, paused: str | None) -> None:
        if paused != self._paused:
            self._paused = paused
            self._show_engine(self.desk.engine_state)

    def _show_trouble(self, _trouble: str) -> None:
        self._show_engine(self.desk.engine_state)

    def _show_uplink(self, status: LinkStatus | None) -> None:
        """The uplink's line (read by the app's watcher); hidden where there is no uplink."""
        if status is None:
            return
        from console.tui.widgets.uplink import uplink_line

        ctx = self.desk.ctx
        line = uplink_line(status, ctx.clock.now(), ctx.config.zone, ctx.config.uplink.alarm)
        widget = self.query_one("#uplink", Static)
        show(widget, line)
        widget.display = bool(line)

    def _tick(self) -> None:
        ctx = self.desk.ctx
        now = ctx.clock.now().astimezone(ctx.config.zone)
        self.query_one("#clock", WallClock).show(now.strftime("%Y-%m-%d %H:%M:%S %Z"))
        uplink = self.desk.uplink
        if uplink is not None and uplink.backlog:  # the oldest event's age moves on
            self._show_uplink(uplink)

    def on_dashboard_screen_feed_read(self, message: FeedRead) -> None:
        if message.incremental:
            if not message.items:
                return
            seen = {item.id for item in message.items}
            items = message.items + [i for i in self._feed if i.id not in seen]
        else:
            items = message.items
        self._feed = items[:FEED_LIMIT]
        self._show_feed()

    def _show_feed(self) -> None:
        table = self.query_one(FeedTable)
        # On the newest line the cursor follows what comes in; elsewhere it stays on its line.
        selected = self.selected_item() if table.cursor_row > 0 else None
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        rows: list[tuple[Text, Text, Text, Text, FeedItem]] = [
            (
                Text(when(item.at, now, zone)),
                feed_look(item).text(),
                severity_badge(item.severity) if item.severity else Text(""),
                Text(
                    item.number
                    or (
                        _("mobilization #{id}").format(id=item.mobilization_id)
                        if item.mobilization_id
                        else ""
                    )
                ),
                item,
            )
            for item in self._feed
        ]
        # The words go last and are cut to what is left of the panel's width once the other
        # columns (as wide as their widest cell or header, in this language) are drawn.
        fixed = FEED_SLACK + FEED_PADDING
        texts = [row[:4] for row in rows]
        for index, (_key, label) in enumerate(FEED_COLUMNS[:-1]):
            cells = [text[index].cell_len for text in texts]
            fixed += FEED_PADDING + max([cell_len(_(label)), *cells])
        space = self.query_one("#panel-feed").content_size.width
        width = max(12, space - fixed)
        table.clear()
        for at, kind, level, number, item in rows:
            table.add_row(at, kind, level, number, fit(feed_text(item), width), key=str(item.id))
        if selected is not None and str(selected.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.id)))
        table.display = bool(self._feed)
        self.query_one("#feed-empty").display = not self._feed
        if self._feed and self.focused is None:
            # Hidden while the feed was empty (before the first read came back, on a new
            # database), it lost the focus given at mount: enter opens the newest line.
            table.focus()

    def selected_item(self) -> FeedItem | None:
        table = self.query_one(FeedTable)
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((i for i in self._feed if str(i.id) == row_key.value), None)

    def on_dashboard_screen_mobilizations_read(self, message: MobilizationsRead) -> None:
        from console.tui.screens.mobilizations import progress

        text = Text(no_wrap=True, overflow="ellipsis")
        if not message.rows:
            text.append(_("No active mobilizations."), style="dim")
        for index, (mob, total) in enumerate(message.rows):
            if index:
                text.append("\n")
            text.append(f"#{mob.id} ", style="bold")
            if mob.exercise:  # before the message, which is what a narrow panel cuts
                text.append_text(exercise_badge())
                text.append(" ")
            if mob.incident_number:
                text.append(f"{mob.incident_number} ")
            text.append(mob.message.replace("\n", " "))
            text.append("\n  ")
            text.append_text(progress(total))
        more = message.active - len(message.rows)
        if more > 0:
            plus = "+" if message.active >= MOBS_COUNTED else ""
            more_text = _("… +{count} more (m)").format(count=f"{more}{plus}")
            text.append(f"\n{more_text}", style="dim")
        if message.rows:
            text.append("\n" + legend(), style="dim")
            if any(total.silent for _mob, total in message.rows):
                text.append("\n" + _("s: who is silent, to ring them"), style="dim")
        show(self.query_one("#mobs", Static), text)

    def on_dashboard_screen_duty_read(self, message: DutyRead) -> None:
        zone = self.desk.ctx.config.zone
        now = self.desk.ctx.clock.now()
        text = Text(no_wrap=True, overflow="ellipsis")
        if not message.rows:
            text.append(_("No duty posts."), style="dim")
        for index, row in enumerate(message.rows):
            if index:
                text.append("\n")
            text.append(f"{row.post.name} ", style="bold")
            if row.now is None:
                text.append(f"{ALERT} {_('unfilled')}", style="bold red")
            else:
                text.append(row.now.person.name)
                until = _("until {time}").format(time=when(row.now.ends_at, now, zone))
                text.append(f" {until}", style="dim")
            text.append("\n  → ")
            if row.next is None:
                text.append(_("none rostered"), style="dim")
            else:
                text.append(f"{row.next.person.name} ")
                starts = _("from {time}").format(time=when(row.next.starts_at, now, zone))
                text.append(starts, style="dim")
        show(self.query_one("#duty", Static), text)

    def on_dashboard_screen_drills_read(self, message: DrillsRead) -> None:
        """The drills' line: shown once anything is planned, overdue or missed."""
        ctx = self.desk.ctx
        widget = self.query_one("#drills-line", Static)
        widget.display = not message.line.empty
        if not message.line.empty:
            show(widget, drill_line(message.line, ctx.clock.now(), ctx.config.zone))

    def on_dashboard_screen_reports_read(self, message: ReportsRead) -> None:
        """The reports' line: shown while any report is owed."""
        ctx = self.desk.ctx
        widget = self.query_one("#reports-line", Static)
        widget.display = bool(message.obligations)
        show(widget, reports_line(message.obligations, ctx.clock.now(), ctx.config.zone))
        owed_before, self._owed = bool(self._owed), message.obligations
        if bool(self._owed) != owed_before:
            self.refresh_bindings()  # r shows while a report is owed

    def on_dashboard_screen_alerts_read(self, message: AlertsRead) -> None:
        """The warnings' banner: shown while any warning is in force."""
        widget = self.query_one("#alerts-line", Static)
        widget.display = bool(message.rows)
        if message.rows:
            from console.tui.screens.alerts import banner

            ctx = self.desk.ctx
            show(widget, banner(message.rows, ctx.clock.now(), ctx.config.zone))
        before, self._alerts = bool(self._alerts), message.rows
        if bool(self._alerts) != before:
            self.refresh_bindings()  # W shows while a warning is in force

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_report":
            return bool(self._owed)  # hidden, not greyed, while no report is owed
        if action == "alerts":
            return bool(self._alerts)  # hidden while no warning is in force (the app's W works)
        return True

    async def action_alerts(self) -> None:
        """预警: the alerts screen (the app's own action)."""
        await self.app.run_action("alerts")

    def action_open_report(self) -> None:
        """The case of the most pressing report owed (the one the reports' line names)."""
        first = first_owed(self._owed, self.desk.ctx.clock.now())
        if first is not None:
            self.post_message(IncidentOpened(first.case_id))

    async def on_click(self, event: events.Click) -> None:
        if event.widget is not None and event.widget.id == "reports-line":
            self.action_open_report()
        elif event.widget is not None and event.widget.id == "alerts-line":
            await self.action_alerts()

    async def action_incidents(self) -> None:
        """事件: the incidents queue (the app's own action when it has one)."""
        if hasattr(self.app, "action_incidents"):
            await self.app.run_action("incidents")
        else:
            from console.tui.screens.incidents import IncidentsScreen

            self.app.push_screen(IncidentsScreen())

    async def action_mobilizations(self) -> None:
        await self.app.run_action("mobilizations")

    async def action_contacts(self) -> None:
        await self.app.run_action("contacts")

    def action_silent(self) -> None:
        """未应答: who has not answered the running mobilizations, newest first."""
        from console.tui.screens.silent import SilentScreen

        self.app.push_screen(SilentScreen())

    def action_new(self) -> None:
        from console.tui.dialogs.new_incident import NewIncidentDialog

        self.app.push_screen(NewIncidentDialog(), self._log)

    def _log(self, new: NewIncident | None) -> None:
        from console.tui.screens.actions import log_new_case

        log_new_case(self, new)

    @on(DataTable.RowSelected, "#feed")
    def _open(self, event: DataTable.RowSelected) -> None:
        item = next((i for i in self._feed if str(i.id) == event.row_key.value), None)
        if item is None:
            return
        # An answer or a mobilization line is about the mobilization, even when it has a case.
        if item.mobilization_id is not None:
            from console.tui.screens.mobilization import MobilizationScreen

            self.app.push_screen(MobilizationScreen(item.mobilization_id))
        elif item.incident_id is not None:
            self.post_message(IncidentOpened(item.incident_id))
