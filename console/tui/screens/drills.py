"""Provides the drills screen (演练): the drills coming, the runs going on, and how past runs did.

Five tabs. *Upcoming*: each planned occurrence in the office's zone, its plan, kind,
announced or not and its next reminder; moments the engine missed (no engine ran within the
grace period) are listed above them with ``⚠``. *Running*: each run with its exercise
mobilization's answer bar (as the mobilizations' list draws it) and, for the highlighted run,
the mobilization screen's counters; enter opens the mobilization. *History*: runs newest first
with their state, answer rate and one P/S/M/U letter per objective (confirmed ratings bold,
proposals not yet confirmed dim with ``?``); enter or ``e`` opens the evaluation form.
*Trend*: the runs of one plan (the highlighted past run's) side by side, oldest first: the
answer rate as a bar, the median time to answer, the silent and those silent the time before
too, the ratings; then who missed the last two drills in a row, for the office head.
*Improvements*: the improvement plan, soonest due first (overdue items ``⚠`` in red); ``c``
reports the highlighted item's corrective action taken (it then awaits its retest: only a later
run closes an item, so there is no key to close one), ``a`` shows or hides the closed items.

Keys: ``n`` starts an active plan now, ``x`` stops a running drill for a real emergency (its
participants are told; a reason is asked), ``f`` ends a run the officer sees through (a
tabletop), ``e`` evaluates. Reads run in a thread worker under the app's database lock and are
repeated when the data changes; the ratings, which need each run's measures, are read after
the rest is shown, one run at a time, and kept until the run or its ratings change. The trend,
which measures every run of its plan, is read in a worker of its own while its tab is shown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from console.timefmt import short, span
from console.tui.screens.dashboard import bar, legend
from console.tui.screens.live import LiveScreen
from console.tui.screens.mobilization import (
    MobilizationScreen,
    counters,
    duration,
    elapsed,
)
from console.tui.screens.mobilizations import progress
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from console.tui.widgets.looks import LOOKS
from drills.models import (
    RUN_WHAT,
    Due,
    Evaluation,
    Improvement,
    ImprovementState,
    ObjectiveResult,
    Occurrence,
    Plan,
    Rating,
    Run,
    RunState,
    Trend,
    TrendPoint,
)
from mobilization import Counts, totals
from store.clock import Clock
from store.db import Database
from store.errors import DutydeskError
from store.i18n import N_, _

if TYPE_CHECKING:
    from console.tui.dialogs.evaluate import EvaluationSaved

UPCOMING_LIMIT = 50
UPCOMING_AHEAD = timedelta(days=360)
MISSED_SINCE = timedelta(days=30)  # missed moments older than this are in `dutydesk drill list`
MISSED_LIMIT = 20
HISTORY_LIMIT = 100
RATED_LIMIT = 30  # the newest past runs whose ratings are read (each needs its measures)
TICK_SECONDS = 1.0  # the running drills' elapsed times move on between reads
REREAD_SECONDS = 60.0  # reminders pass and drills fall due with the time, not only with writes
PLAN_WIDTH = 28
NARROW = 100  # below this many columns plan names are cut shorter

# tab id -> (glyph, name shown with _())
TABS = {
    "upcoming": ("◷", N_("Upcoming")),
    "running": ("●", N_("Running")),
    "history": ("✔", N_("History")),
    "trend": ("▇", N_("Trend")),
    "improvements": ("✎", N_("Improvements")),
}
# (key, header) of each table; the headers are English message ids shown with _().
UPCOMING_COLUMNS = (
    ("when", N_("when")),
    ("in", N_("in")),
    ("plan", N_("plan")),
    ("kind", N_("kind")),
    ("announced", N_("announced")),
    ("reminder", N_("next reminder")),
)
RUNNING_COLUMNS = (
    ("id", "#"),
    ("plan", N_("plan")),
    ("kind", N_("kind")),
    ("started", N_("started")),
    ("progress", N_("yes/no/silent of total")),
)
HISTORY_COLUMNS = (
    ("id", "#"),
    ("plan", N_("plan")),
    ("started", N_("started")),
    ("state", N_("state")),
    ("rate", N_("answer rate")),
    ("ratings", N_("ratings")),
)
IMPROVEMENT_COLUMNS = (
    ("id", "#"),
    ("plan", N_("plan")),
    ("issue", N_("issue")),
    ("action", N_("corrective action")),
    ("element", N_("element")),
    ("owner", N_("owner")),
    ("due", N_("due")),
    ("state", N_("state")),
)
# (issue, action, element, owner, state) widths in cells, on a wide and on a narrow terminal
IMPROVEMENT_WIDTHS = {True: (24, 30, 12, 10, 16), False: (10, 12, 8, 6, 10)}
TREND_BAR = {True: 20, False: 10}  # the answer rate's bar, in cells (wide, narrow)
TREND_LIMIT = 12  # the plan's last runs shown side by side
# How each rating and run state is drawn: nothing depends on colour alone (the letter, the word).
RATING_STYLES = {
    Rating.P: "bold green",
    Rating.S: "bold cyan",
    Rating.M: "bold yellow",
    Rating.U: "bold red",
}
RUN_LOOKS = {
    RunState.RUNNING: ("●", "bold cyan"),
    RunState.ENDED: ("■", "yellow"),  # to be evaluated
    RunState.STOPPED: ("⏹", "bold red"),
    RunState.EVALUATED: ("✔", "green"),
}
ALERT = "⚠"
SOON = timedelta(hours=1)  # a drill this close is drawn in yellow
PAST_STATES = (RunState.ENDED, RunState.STOPPED, RunState.EVALUATED)
IMPROVEMENT_LOOKS = {
    ImprovementState.OPEN: "bold",
    ImprovementState.DONE: "cyan",  # awaiting its retest
    ImprovementState.CLOSED: "dim green",
}


@dataclass(frozen=True)
class Missed:
    """A moment the engine missed: the claim, with the plan it was for."""

    due: Due
    plan: Plan | None


@dataclass(frozen=True)
class RunRow:
    """A run as the tables show it: its exercise mobilization's counts (``None``: a tabletop
    run, or a mobilization that cannot be read)."""

    run: Run
    counts: Counts | None


@dataclass(frozen=True)
class DrillsView:
    """What one read found."""

    upcoming: list[Occurrence]
    missed: list[Missed]
    running: list[RunRow]
    history: list[RunRow]
    plans: dict[int, Plan] = field(default_factory=dict)
    improvements: list[Improvement] = field(default_factory=list)

    @property
    def active_plans(self) -> list[Plan]:
        return [p for p in self.plans.values() if p.active]


def read_view(db: Database, now: datetime, *, open_only: bool = True) -> DrillsView:
    """Everything but the ratings and the trend: plans, upcoming and missed moments, running and
    past runs, the improvement items (only those not closed with ``open_only``)."""
    from drills import plans as plan_store
    from drills import runs as run_store
    from drills import schedules
    from drills.improvements import list_improvements

    plans = {p.id: p for p in plan_store.list_plans(db, active=None)}
    # A year ahead at most: the dates are shown without their year (the "in" column says how far).
    upcoming = schedules.upcoming(
        db, now, until=now + UPCOMING_AHEAD, limit=UPCOMING_LIMIT, include_cancelled=True
    )
    missed_dues = schedules.missed(db, since=now - MISSED_SINCE, limit=MISSED_LIMIT)
    plan_of: dict[int, int] = {}
    for due in missed_dues:
        if due.schedule_id not in plan_of:
            plan_of[due.schedule_id] = schedules.get_schedule(db, due.schedule_id).plan_id
    missed = [Missed(d, plans.get(plan_of[d.schedule_id])) for d in missed_dues]
    past = run_store.list_runs(db, states=PAST_STATES, limit=HISTORY_LIMIT)
    return DrillsView(
        upcoming=upcoming,
        missed=missed,
        running=[RunRow(run, _counts(db, run)) for run in run_store.running(db)],
        history=[RunRow(run, _counts(db, run)) for run in past],
        plans=plans,
        improvements=list_improvements(db, open_only=open_only),
    )


def _counts(db: Database, run: Run) -> Counts | None:
    if run.mobilization_id is None:
        return None
    try:
        return totals(db, run.mobilization_id)
    except DutydeskError:
        return None


# ---- cells ----------------------------------------------------------------------------------


def plan_cell(code: str, name: str, width: int) -> Text:
    """``CODE name``, the code bold, cut to ``width`` cells."""
    text = fit(f"{code} {name}", width)
    text.stylize("bold", 0, min(len(code), len(text.plain)))
    return text


def announced_cell(announced: bool) -> Text:
    if announced:
        return Text(_("announced"))
    return Text(_("unannounced"), style="bold magenta")


def missed_label(due: Due) -> str:
    """``missed: drill`` or ``missed: reminder 1d0h before``."""
    if due.what == RUN_WHAT:
        return _("missed: drill")
    minutes = int(due.what.partition(":")[2] or 0)
    return _("missed: reminder {before} before").format(before=span(timedelta(minutes=minutes)))


def run_state_cell(run: Run) -> Text:
    glyph, style = RUN_LOOKS.get(run.state, ("?", ""))
    text = Text(f"{glyph} {run.state.label}", style=style)
    if run.state is RunState.ENDED:
        text.append(" · " + _("to evaluate"), style="dim")
    return text


def answer_rate_cell(counts: Counts | None) -> Text:
    """``85 % 17/20``; ``—`` without a mobilization."""
    if counts is None or not counts.total:
        return Text("—", style="dim")
    rate = 100.0 * counts.yes / counts.total
    return Text(f"{rate:.0f} % {counts.yes}/{counts.total}", no_wrap=True)


def ratings_cell(results: tuple[ObjectiveResult, ...] | None) -> Text:
    """One letter per objective: confirmed bold in its colour, proposed dim with ``?``,
    ``·`` when neither; ``…`` while being read."""
    if results is None:
        return Text("…", style="dim")
    if not results:
        return Text("—", style="dim")
    text = Text(no_wrap=True)
    for index, result in enumerate(results):
        if index:
            text.append(" ")
        if result.rating is not None:
            text.append(result.rating.value, style=RATING_STYLES[result.rating])
        elif result.proposed is not None:
            text.append(f"{result.proposed.value}?", style="dim")
        else:
            text.append("·", style="dim")
    return text


def started_cell(run: Run, now: datetime, zone: ZoneInfo) -> Text:
    """``05-20 14:00 ⏳ 4m``; late runs say by how much."""
    text = Text(f"{short(run.started_at, zone)} ")
    text.append(f"⏳ {elapsed(now - run.started_at)}", style="yellow")
    if run.late_s >= 60:
        late = _("late by {time}").format(time=span(timedelta(seconds=run.late_s)))
        text.append(f" {late}", style="dim")
    return text


def rate_bar(rate: float, width: int) -> Text:
    """``▕██████▌   ▏  65 %``: an answer rate as a bar of ``width`` cells, in eighths."""
    filled = bar(round(10 * rate), 1000, width)
    text = Text("▕", no_wrap=True)
    text.append(filled, style=LOOKS["yes"].style)
    text.append(" " * (width - len(filled)) + "▏")
    text.append(f"{rate:4.0f} %", style="bold")
    return text


def trend_ratings(point: TrendPoint, plan: Plan) -> Text:
    """One letter per objective of the plan, in its order, coloured as History colours them
    (the confirmed rating, else the proposed one); ``·`` when neither."""
    text = Text(no_wrap=True)
    letters = [point.ratings.get(o.id) for o in plan.objectives] or list(point.ratings.values())
    for index, letter in enumerate(letters):
        if index:
            text.append(" ")
        if letter is None:
            text.append("·", style="dim")
        else:
            text.append(letter, style=RATING_STYLES.get(Rating(letter), ""))
    return text or Text("—", style="dim")


def trend_chart(found: Trend, zone: ZoneInfo, *, wide: bool) -> Table:
    """The plan's runs, oldest first: one row each with its date and its answer rate's bar."""
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold dim")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column(_("started"), no_wrap=True)
    table.add_column(_("answer rate"), no_wrap=True)
    table.add_column(_("called"), justify="right", no_wrap=True)
    table.add_column("p50", justify="right", no_wrap=True)
    table.add_column(_("silent"), justify="right", no_wrap=True)
    table.add_column(_("again"), justify="right", no_wrap=True)
    table.add_column(_("ratings"), no_wrap=True)
    for point in found.points:
        called = bool(point.called)
        table.add_row(
            str(point.run_id),
            short(point.started_at, zone),
            rate_bar(point.answer_rate, TREND_BAR[wide]) if called else Text("—", style="dim"),
            str(point.called),
            duration(point.p50_s) if called else "—",
            Text(str(point.silent), style="yellow" if point.silent else "dim"),
            Text(str(point.silent_again), style="bold red" if point.silent_again else "dim"),
            trend_ratings(point, found.plan),
        )
    return table


def rating_legend() -> Text:
    """``P performed without challenges  S …``, each letter in its colour."""
    text = Text()
    for index, rating in enumerate(Rating):
        if index:
            text.append("  ")
        text.append(rating.value, style=RATING_STYLES[rating])
        text.append(f" {rating.label}", style="dim")
    return text


def missed_twice_text(found: Trend) -> Text:
    """Who missed the last two drills in a row (for the office head), or that nobody did."""
    text = Text()
    called_out = sum(1 for p in found.points if p.called)
    if found.missed_twice:
        heading = _("missed the last two drills in a row ({count}):").format(
            count=len(found.missed_twice)
        )
        text.append(f"{ALERT} {heading}", style="bold red")
        for one in found.missed_twice:
            text.append(f"\n  {one.name}", style="bold")
            text.append(f"  {one.node}  {one.phone_masked}")
    elif called_out < 2:
        text.append(
            _("Fewer than two runs with a call-out: nobody can have missed two in a row yet."),
            style="dim",
        )
    else:
        text.append(_("Nobody missed the last two drills in a row."), style="green")
    return text


def due_cell(item: Improvement, now: datetime, zone: ZoneInfo, *, wide: bool) -> Text:
    """The due date; ``⚠`` in red when the item is overdue (still open past it)."""
    when = short(item.due, zone) if wide else item.due.astimezone(zone).strftime("%m-%d")
    if item.overdue(now):
        return Text(f"{ALERT} {when}", style="bold red", no_wrap=True)
    return Text(when, style="dim" if item.state is ImprovementState.CLOSED else "", no_wrap=True)


def improvement_state_cell(item: Improvement, width: int) -> Text:
    text = fit(item.state.label, width)
    text.stylize(IMPROVEMENT_LOOKS.get(item.state, ""))
    return text


class DrillTable(DataTable[object]):
    """A table of the drills screen: enter opens the highlighted row."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open"))]


class DrillsScreen(LiveScreen):
    """演练 — upcoming drills, running drills, past runs with their ratings, a plan's trend and
    the improvement plan."""

    READ_TITLE = N_("drills")

    CSS_PATH = "drills.tcss"
    # The emergency's key first: on a narrow terminal the footer cuts the last ones.
    BINDINGS = [
        Binding("x", "stop", N_("Stop drill (real emergency)")),
        # Shown only on the Improvements tab: they cost the other tabs no room in the key bar.
        Binding("c", "mark_done", N_("Mark done")),  # c: as "Complete task" of a case
        Binding("a", "toggle_closed", N_("Show/hide closed")),  # a: all items
        Binding("e", "evaluate", N_("Evaluate")),
        Binding("n", "start", N_("Start drill")),
        Binding("f", "end", N_("End drill")),
        Binding("1", "show_tab('upcoming')", N_("Upcoming"), show=False),
        Binding("2", "show_tab('running')", N_("Running"), show=False),
        Binding("3", "show_tab('history')", N_("History"), show=False),
        Binding("4", "show_tab('trend')", N_("Trend"), show=False),
        Binding("5", "show_tab('improvements')", N_("Improvements"), show=False),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: DrillsView | None = None
        # run id -> (the run's state when read, its objectives' results): kept while it holds.
        self._ratings: dict[int, tuple[RunState, tuple[ObjectiveResult, ...]]] = {}
        self._first = True
        self._plan_width = PLAN_WIDTH
        self._wide = True
        self._open_only = True  # the improvement items not closed (c shows the closed too)
        self.trend: Trend | None = None  # the trend shown
        self._trend_plan: int | None = None  # the plan whose trend is shown or being read

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="drills-status")
        with TabbedContent(id="drills-tabs"):
            for tab, (glyph, name) in TABS.items():
                with TabPane(f"{glyph} {_(name)}", id=f"tab-{tab}"):
                    if tab == "trend":
                        with VerticalScroll(id="drills-trend"):
                            yield Static(id="drills-trend-head")
                            yield Static(id="drills-trend-chart")
                            yield Static(id="drills-trend-legend")
                            yield Static(id="drills-trend-missed")
                    else:
                        # Upcoming rows and improvement items open nothing: no "open" key.
                        table = DrillTable if tab in ("running", "history") else DataTable
                        yield table(id=f"drills-{tab}", cursor_type="row", zebra_stripes=True)
                    if tab == "running":
                        yield Static(id="drills-running-counters")
                    if tab == "improvements":
                        yield Static(id="drills-improvement-detail")
                    yield Static(id=f"drills-{tab}-empty", classes="drills-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = _("Drills")
        for tab, columns in (
            ("upcoming", UPCOMING_COLUMNS),
            ("running", RUNNING_COLUMNS),
            ("history", HISTORY_COLUMNS),
            ("improvements", IMPROVEMENT_COLUMNS),
        ):
            table = self._table(tab)
            for key, label in columns:
                table.add_column(label if key == "id" else _(label), key=key)
        self._table("upcoming").focus()
        self.set_interval(TICK_SECONDS, self._tick)
        self.reread_every(REREAD_SECONDS)  # reminders pass, drills come closer
        self.load()

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= NARROW
        if wide != self._wide:
            self._wide = wide
            self._plan_width = PLAN_WIDTH if wide else PLAN_WIDTH - 10
            if self.view is not None:
                self._show(self.view)
            if self.trend is not None:
                self._show_trend(self.trend)

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="drills-read")
    def load(self) -> None:
        """Read the drills, show them, then read the ratings of the past runs not yet known."""
        from drills.evaluation import evaluation

        ctx = self.desk.ctx
        worker = get_current_worker()
        found: list[DrillsView] = []

        open_only = self._open_only

        def read() -> DrillsView:
            view = read_view(ctx.db, ctx.clock.now(), open_only=open_only)
            found.append(view)
            return view

        self.read_and_show(read, self._show)
        if not found or worker.is_cancelled:
            return
        known = dict(self._ratings)  # read on this thread; replaced only on the UI thread
        for row in found[0].history[:RATED_LIMIT]:
            kept = known.get(row.run.id)
            if kept is not None and kept[0] is row.run.state:
                continue
            try:
                with self.desk.db_lock:
                    results = evaluation(ctx.db, row.run.id).results
            except Exception:  # one run that cannot be measured is shown without its ratings
                results = ()
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._show_ratings, row.run, results)

    def reread(self, *, own: bool) -> None:
        """Read again; another process may have rated a run: its ratings are read again too."""
        if not own:
            self._ratings.clear()
        self.load()

    def forget_ratings(self, run_id: int) -> None:
        """The run was rated here: read its ratings again with the next read."""
        self._ratings.pop(run_id, None)

    def trend_plan(self) -> int | None:
        """The plan whose trend the Trend tab shows: the highlighted past run's, else the plan
        with the most past runs (the newest of them on a tie)."""
        if self.view is None:
            return None
        row = self._history_row(self.selected("history"))
        if row is not None:
            return row.run.plan_id
        counted = Counter(r.run.plan_id for r in self.view.history)
        return counted.most_common(1)[0][0] if counted else None

    def _reload_trend(self) -> None:
        """Read the trend of the plan it is for now (when its tab is shown)."""
        plan_id = self.trend_plan()
        if plan_id != self._trend_plan:
            self.trend = None
        self._trend_plan = plan_id
        if plan_id is None:
            self._show_trend_empty(_("No drill has run yet."))
            return
        if self.trend is None:
            self.query_one("#drills-trend-head", Static).update(Text("…", style="dim"))
        self.load_trend(plan_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="drills-trend")
    def load_trend(self, plan_id: int) -> None:
        """Measure the plan's last runs side by side (each run's measures: not on the UI
        thread)."""
        from drills.trends import trend

        ctx = self.desk.ctx
        self.read_and_show(lambda: trend(ctx.db, plan_id, limit=TREND_LIMIT), self._show_trend)

    # ---- showing ----------------------------------------------------------------------------

    def _show(self, view: DrillsView) -> None:
        if not self.is_attached:
            return
        self.view = view
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        self._show_upcoming(view, now, zone)
        self._show_running(view, now, zone)
        self._show_history(view, zone)
        self._show_improvements(view, now, zone)
        self._show_status(view, now, zone)
        if self._first:
            self._first = False
            if view.running:  # a drill going on is what the officer must see first
                self.action_show_tab("running")
        if self.active_tab() == "trend":
            self._reload_trend()
        else:
            self.trend = None  # read again when its tab is shown
        self.refresh_bindings()

    def _show_status(self, view: DrillsView, now: datetime, zone: ZoneInfo) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        nxt = next((o for o in view.upcoming if not o.cancelled), None)
        if nxt is None:
            text.append(_("No drill scheduled."), style="dim")
        else:
            text.append(_("next drill") + " ", style="bold")
            text.append(f"{nxt.plan_name} {short(nxt.at, zone)} ")
            text.append(_("in {time}").format(time=span(nxt.at - now)), style="dim")
        if view.running:
            text.append("  ")
            text.append(f"● {_('running')} {len(view.running)}", style="bold reverse cyan")
        to_evaluate = sum(1 for r in view.history if r.run.state is RunState.ENDED)
        if to_evaluate:
            text.append("  " + _("to evaluate {count}").format(count=to_evaluate), style="yellow")
        if view.missed:
            text.append(
                f"  {ALERT} " + _("missed {count}").format(count=len(view.missed)), style="bold red"
            )
        late = sum(1 for item in view.improvements if item.overdue(now))
        if late:
            text.append(
                f"  {ALERT} " + _("improvement items overdue: {count}").format(count=late),
                style="bold red",
            )
        self.query_one("#drills-status", Static).update(text)

    def _table(self, tab: str) -> DataTable[object]:
        return self.query_one(f"#drills-{tab}", DataTable)

    def _focus_of(self, tab: str) -> Widget:
        """What a tab's keys go to: its table, or the trend's scrolling view."""
        if tab == "trend":
            return self.query_one("#drills-trend")
        return self._table(tab)

    def _show_upcoming(self, view: DrillsView, now: datetime, zone: ZoneInfo) -> None:
        table = self._table("upcoming")
        selected = self.selected("upcoming")
        table.clear()
        for item in view.missed:
            plan = item.plan
            table.add_row(
                Text(short(item.due.occurrence, zone), style="dim"),
                Text(f"{ALERT} {missed_label(item.due)}", style="bold red"),
                plan_cell(plan.code, plan.name, self._plan_width) if plan else Text("?"),
                plan.kind.label if plan else "",
                announced_cell(plan.announced) if plan else "",
                "",
                key=f"missed:{item.due.schedule_id}:{item.due.occurrence.isoformat()}:"
                f"{item.due.what}",
            )
        for occ in view.upcoming:
            if occ.cancelled:
                left = Text(f"× {_('cancelled')}", style="dim")
            else:
                left = Text(span(occ.at - now), style="yellow" if occ.at - now < SOON else "")
            reminder = (
                Text(short(occ.next_reminder, zone))
                if occ.next_reminder is not None
                else Text("—", style="dim")
            )
            table.add_row(
                Text(short(occ.at, zone), style="dim" if occ.cancelled else "bold"),
                left,
                plan_cell(occ.plan_code, occ.plan_name, self._plan_width),
                occ.kind.label,
                announced_cell(occ.announced),
                reminder,
                key=f"occ:{occ.uid}",
            )
        self._finish(table, "upcoming", selected, len(view.upcoming) + len(view.missed))
        self._tab_label("upcoming", len(view.upcoming), alert=bool(view.missed))

    def _show_running(self, view: DrillsView, now: datetime, zone: ZoneInfo) -> None:
        table = self._table("running")
        selected = self.selected("running")
        table.clear()
        for row in view.running:
            run = row.run
            table.add_row(
                str(run.id),
                plan_cell(run.plan_code, run.plan_name, self._plan_width),
                run.kind.label,
                started_cell(run, now, zone),
                progress(row.counts) if row.counts is not None else Text("—", style="dim"),
                key=str(run.id),
            )
        self._finish(table, "running", selected, len(view.running))
        self._tab_label("running", len(view.running), alert=bool(view.running))
        self._show_running_counters()

    def _show_running_counters(self) -> None:
        """The highlighted run's counters, as the mobilization screen draws them."""
        widget = self.query_one("#drills-running-counters", Static)
        row = self._running_row(self.selected("running"))
        widget.display = row is not None
        if row is None:
            return
        text = Text()
        text.append(f"#{row.run.id} {row.run.plan_name}  ", style="bold")
        if row.counts is None:
            text.append(_("no mobilization: a drill without a call-out"), style="dim")
        else:
            text.append_text(counters(row.counts))
            text.append("\n" + legend(), style="dim")
        widget.update(text)

    def _show_history(self, view: DrillsView, zone: ZoneInfo) -> None:
        table = self._table("history")
        selected = self.selected("history")
        table.clear()
        for row in view.history:
            run = row.run
            kept = self._ratings.get(run.id)
            results = kept[1] if kept is not None and kept[0] is run.state else None
            table.add_row(
                str(run.id),
                plan_cell(run.plan_code, run.plan_name, self._plan_width),
                short(run.started_at, zone),
                run_state_cell(run),
                answer_rate_cell(row.counts),
                ratings_cell(results),
                key=str(run.id),
            )
        self._finish(table, "history", selected, len(view.history))
        self._tab_label("history", len(view.history), alert=False)

    def _show_trend(self, found: Trend) -> None:
        if not self.is_attached or found.plan.id != self._trend_plan:
            return  # another plan's run was highlighted since
        self.trend = found
        zone = self.desk.ctx.config.zone
        plan = found.plan
        head = Text()
        head.append(f"{plan.code} {plan.name}", style="bold")
        head.append("  " + _("the same plan's runs side by side, oldest first"), style="dim")
        head.append("\n" + _("the plan of the run highlighted in History (3)"), style="dim")
        self.query_one("#drills-trend-head", Static).update(head)
        if not found.points:
            self._show_trend_empty(
                _("{plan}: no run went its course yet (a stopped run does not count).").format(
                    plan=f"{plan.code} {plan.name}"
                )
            )
            return
        self.query_one("#drills-trend-chart", Static).update(
            trend_chart(found, zone, wide=self._wide)
        )
        legend_text = Text(
            _("again: silent in the run before too · p50: median time to answer") + "\n",
            style="dim",
        )
        legend_text.append_text(rating_legend())
        self.query_one("#drills-trend-legend", Static).update(legend_text)
        self.query_one("#drills-trend-missed", Static).update(missed_twice_text(found))
        self.query_one("#drills-trend").display = True
        self.query_one("#drills-trend-empty").display = False
        self._tab_label("trend", len(found.points), alert=bool(found.missed_twice))

    def _show_trend_empty(self, words: str) -> None:
        self.query_one("#drills-trend-empty", Static).update(words)
        self.query_one("#drills-trend").display = self.trend is not None
        self.query_one("#drills-trend-empty").display = True
        for part in ("chart", "legend", "missed"):
            self.query_one(f"#drills-trend-{part}", Static).update("")

    def _show_improvements(self, view: DrillsView, now: datetime, zone: ZoneInfo) -> None:
        table = self._table("improvements")
        selected = self.selected("improvements")
        table.clear()
        issue_w, action_w, element_w, owner_w, state_w = IMPROVEMENT_WIDTHS[self._wide]
        for item in view.improvements:
            closed = item.state is ImprovementState.CLOSED
            table.add_row(
                Text(str(item.id), style="dim" if closed else ""),
                Text(item.plan_code, style="bold"),
                fit(item.issue, issue_w),
                fit(item.action, action_w),
                fit(item.element.label, element_w),
                fit(item.owner_name, owner_w),
                due_cell(item, now, zone, wide=self._wide),
                improvement_state_cell(item, state_w),
                key=str(item.id),
            )
        self._finish(table, "improvements", selected, len(view.improvements))
        late = any(item.overdue(now) for item in view.improvements)
        self._tab_label("improvements", len(view.improvements), alert=late)
        self._show_improvement_detail()

    def _show_improvement_detail(self) -> None:
        """The highlighted item in full: its cells are cut to fit."""
        widget = self.query_one("#drills-improvement-detail", Static)
        item = self._improvement(self.selected("improvements"))
        widget.display = item is not None
        if item is None:
            return
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        text = Text()
        text.append(f"#{item.id} {item.plan_code} ", style="bold")
        text.append(_("run {id}").format(id=item.run_id), style="dim")
        text.append(f" · {item.element.label} · {item.owner_name} · ")
        text.append(_("due {when}").format(when=short(item.due, zone)))
        if item.overdue(now):
            overdue = _("overdue {time}").format(time=span(now - item.due))
            text.append(f" {ALERT} {overdue}", style="bold red")
        text.append(" · ")
        text.append(item.state.label, style=IMPROVEMENT_LOOKS.get(item.state, ""))
        text.append("\n" + _("issue: {issue}").format(issue=item.issue.replace("\n", " ")))
        text.append(
            "\n" + _("corrective action: {action}").format(action=item.action.replace("\n", " "))
        )
        widget.update(text)

    def _show_ratings(self, run: Run, results: tuple[ObjectiveResult, ...]) -> None:
        if not self.is_attached:
            return
        self._ratings[run.id] = (run.state, results)
        table = self._table("history")
        if str(run.id) in table.rows:
            table.update_cell(str(run.id), "ratings", ratings_cell(results))

    def _finish(self, table: DataTable[object], tab: str, selected: str | None, count: int) -> None:
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        empty = self.query_one(f"#drills-{tab}-empty", Static)
        empty.update(
            {
                "upcoming": _("No drill scheduled: `dutydesk drill schedule PLAN --at WHEN`."),
                "running": _("No drill is running: n starts one now."),
                "history": _("No drill has run yet."),
                "improvements": _("No improvement item is open.")
                if self._open_only
                else _("no improvement items"),
            }[tab]
        )
        table.display = bool(count)
        empty.display = not count

    def _tab_label(self, tab: str, count: int, *, alert: bool) -> None:
        glyph, name = TABS[tab]
        label = Text(f"{glyph} {_(name)} {count}", style="bold" if alert else "")
        self.query_one("#drills-tabs", TabbedContent).get_tab(f"tab-{tab}").label = label

    def _tick(self) -> None:
        """Move the running drills' elapsed times on without reading again."""
        if self.view is None or not self.view.running:
            return
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        table = self._table("running")
        for row in self.view.running:
            if str(row.run.id) in table.rows:
                table.update_cell(str(row.run.id), "started", started_cell(row.run, now, zone))

    # ---- selection --------------------------------------------------------------------------

    def selected(self, tab: str) -> str | None:
        """The key of the highlighted row of a tab's table, if it has rows."""
        table = self._table(tab)
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def _running_row(self, key: str | None) -> RunRow | None:
        if self.view is None or key is None:
            return None
        return next((r for r in self.view.running if str(r.run.id) == key), None)

    def _history_row(self, key: str | None) -> RunRow | None:
        if self.view is None or key is None:
            return None
        return next((r for r in self.view.history if str(r.run.id) == key), None)

    def _improvement(self, key: str | None) -> Improvement | None:
        if self.view is None or key is None:
            return None
        return next((i for i in self.view.improvements if str(i.id) == key), None)

    def active_tab(self) -> str:
        active = self.query_one("#drills-tabs", TabbedContent).active
        return active.removeprefix("tab-") or "upcoming"

    @on(DataTable.RowHighlighted, "#drills-running")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_running_counters()

    @on(DataTable.RowHighlighted, "#drills-improvements")
    def _item_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_improvement_detail()
        self.refresh_bindings()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, _event: TabbedContent.TabActivated) -> None:
        if self.active_tab() == "trend" and self.view is not None:
            self._reload_trend()
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if event.data_table.id == "drills-running":
            row = self._running_row(key)
            if row is None:
                return
            if row.run.mobilization_id is None:
                self.notify(
                    _("Run #{id} has no mobilization: a drill without a call-out.").format(
                        id=row.run.id
                    ),
                    title=self._title(),
                )
                return
            self.app.push_screen(MobilizationScreen(row.run.mobilization_id))
        elif event.data_table.id == "drills-history":
            self._evaluate(self._history_row(key))

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out what does not apply: stopping with nothing running, evaluating with no
        past run, starting with no active plan."""
        view = self.view
        if action in ("stop", "end"):
            return view is not None and bool(view.running) or None
        if action == "evaluate":
            return view is not None and bool(view.history) or None
        if action == "start":
            return view is not None and bool(view.active_plans) or None
        if action in ("mark_done", "toggle_closed"):
            if self.active_tab() != "improvements":
                return False  # hidden: they are the improvement plan's keys
            if action == "toggle_closed":
                return True
            item = self._improvement(self.selected("improvements"))
            return item is not None and item.state is ImprovementState.OPEN or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#drills-tabs", TabbedContent).active = f"tab-{tab}"
        self._focus_of(tab).focus()

    def action_toggle_closed(self) -> None:
        """Show the closed improvement items too, or only those not closed."""
        self._open_only = not self._open_only
        self.load()

    def action_mark_done(self) -> None:
        """整改完成: the owner reports the highlighted item's corrective action taken; it then
        awaits its retest (only a later run of the plan closes it)."""
        from console.tui.dialogs.yes_no import YesNoDialog
        from drills.improvements import mark_done

        item = self._improvement(self.selected("improvements"))
        if item is None or item.state is not ImprovementState.OPEN:
            return

        def step(db: Database, clock: Clock, operator: str) -> str:
            mark_done(db, clock, operator, item.id)
            return _("improvement item #{id} marked done: it awaits its retest").format(id=item.id)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.write(step)

        self.app.push_screen(
            YesNoDialog(
                _("Mark done"),
                _(
                    "Improvement item #{id}: {action}\nIs the corrective action taken?"
                    "\nA later run of {plan} that meets the objective closes it."
                ).format(id=item.id, action=fit(item.action, 60).plain, plan=item.plan_code),
                yes=_("Mark done"),
                no=_("Not yet"),
            ),
            confirmed,
        )

    def action_start(self) -> None:
        """开始演练: start an active plan now (picked from a list)."""
        from console.tui.dialogs.start_drill import StartDrillDialog
        from console.tui.i18n import translate_bindings

        if self.view is None or not self.view.active_plans:
            return
        translate_bindings()  # the dialog's module was imported just now
        self.app.push_screen(StartDrillDialog(self.view.active_plans), self._start)

    def _start(self, plan_id: int | None) -> None:
        if plan_id is None:
            return

        def step(db: Database, clock: Clock, operator: str) -> str:
            from drills.runs import start_run

            run = start_run(db, clock, operator, plan_id)
            return _("drill {plan} started: run #{id}").format(plan=run.plan_code, id=run.id)

        self.write(step, lambda: self.action_show_tab("running"))

    def _target(self) -> RunRow | None:
        """The running drill a key is for: the only one, or the one highlighted in Running."""
        view = self.view
        if view is None or not view.running:
            return None
        if len(view.running) == 1:
            return view.running[0]
        if self.active_tab() != "running":
            self.action_show_tab("running")
            self.notify(_("Several drills are running: highlight one, then press the key again."))
            return None
        return self._running_row(self.selected("running"))

    def action_stop(self) -> None:
        """停止演练: a real emergency: stop the drill now (its participants are told)."""
        from console.tui.dialogs.text import TextDialog

        row = self._target()
        if row is None:
            return
        run = row.run

        def stopped(reason: str | None) -> None:
            if not reason:
                return

            def step(db: Database, clock: Clock, operator: str) -> str:
                from drills.runs import stop_run

                stop_run(db, clock, operator, run.id, reason)
                return _("drill #{id} stopped; everyone taking part is told").format(id=run.id)

            self.write(step)

        self.app.push_screen(
            TextDialog(
                _("Stop drill #{id} · real emergency").format(id=run.id),
                # Lines of their own: the dialog's prompt does not wrap.
                _(
                    "Stop {plan} now?\nIts exercise call-out is cancelled, everyone taking part"
                    " is told.\nWhy?"
                ).format(plan=run.plan_name),
                placeholder=_("e.g. a real flood warning"),
            ),
            stopped,
        )

    def action_end(self) -> None:
        """结束演练: end the drill (e.g. a tabletop run played through); it can then be rated."""
        from console.tui.dialogs.yes_no import YesNoDialog

        row = self._target()
        if row is None:
            return
        run = row.run

        def step(db: Database, clock: Clock, operator: str) -> str:
            from drills.runs import end_run

            end_run(db, clock, operator, run.id)
            return _("drill #{id} ended: it can be evaluated").format(id=run.id)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.write(step)

        self.app.push_screen(
            YesNoDialog(
                _("End drill"),
                _("End drill #{id} {plan}? An exercise call-out still going is cancelled.").format(
                    id=run.id, plan=run.plan_name
                ),
                yes=_("End it"),
                no=_("Keep it"),
            ),
            confirmed,
        )

    def action_evaluate(self) -> None:
        """评估: rate the highlighted past run's objectives, note strengths and improvements."""
        if self.active_tab() != "history":
            self.action_show_tab("history")
        self._evaluate(self._history_row(self.selected("history")))

    def _evaluate(self, row: RunRow | None) -> None:
        if row is None:
            return
        self._read_evaluation(row.run.id)

    @work(thread=True, exit_on_error=False, group="drills-evaluation")
    def _read_evaluation(self, run_id: int) -> None:
        """Read the run's evaluation (its measures), then open the form on it."""
        from drills.evaluation import evaluation

        ctx = self.desk.ctx
        self.read_and_show(lambda: evaluation(ctx.db, run_id), self._open_form)

    def _open_form(self, ev: Evaluation) -> None:
        from console.tui.dialogs.evaluate import EvaluateDialog
        from console.tui.i18n import translate_bindings

        if not self.is_current:
            return
        translate_bindings()  # the form's module was imported just now
        self.app.push_screen(EvaluateDialog(ev), self._evaluated)

    def _evaluated(self, saved: EvaluationSaved | None) -> None:
        if saved is None:
            return
        self.forget_ratings(saved.run_id)
        self.written(saved.message)
