"""Provides the drills screen (演练): the drills coming, the runs going on, and how past runs did.

Three tabs. *Upcoming*: each planned occurrence in the office's zone, its plan, kind,
announced or not and its next reminder; moments the engine missed (no engine ran within the
grace period) are listed above them with ``⚠``. *Running*: each run with its exercise
mobilization's answer bar (as the mobilizations' list draws it) and, for the highlighted run,
the mobilization screen's counters; enter opens the mobilization. *History*: runs newest first
with their state, answer rate and one P/S/M/U letter per objective (confirmed ratings bold,
proposals not yet confirmed dim with ``?``); enter or ``e`` opens the evaluation form.

Keys: ``n`` starts an active plan now, ``x`` stops a running drill for a real emergency (its
participants are told; a reason is asked), ``f`` ends a run the officer sees through (a
tabletop), ``e`` evaluates. Reads run in a thread worker under the app's database lock and are
repeated when the data changes; the ratings, which need each run's measures, are read after
the rest is shown, one run at a time, and kept until the run or its ratings change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from console.timefmt import short, span
from console.tui.screens.dashboard import legend
from console.tui.screens.live import LiveScreen
from console.tui.screens.mobilization import MobilizationScreen, counters, elapsed
from console.tui.screens.mobilizations import progress
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from drills.models import (
    RUN_WHAT,
    Due,
    Evaluation,
    ObjectiveResult,
    Occurrence,
    Plan,
    Rating,
    Run,
    RunState,
)
from mobilization import Counts, totals
from store.clock import Clock
from store.db import Database
from store.errors import DutydeskError
from store.i18n import N_, _

if TYPE_CHECKING:
    from console.tui.dialogs.evaluate import EvaluationSaved

UPCOMING_LIMIT = 50
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

    @property
    def active_plans(self) -> list[Plan]:
        return [p for p in self.plans.values() if p.active]


def read_view(db: Database, now: datetime) -> DrillsView:
    """Everything but the ratings: plans, upcoming and missed moments, running and past runs."""
    from drills import plans as plan_store
    from drills import runs as run_store
    from drills import schedules

    plans = {p.id: p for p in plan_store.list_plans(db, active=None)}
    upcoming = schedules.upcoming(db, now, limit=UPCOMING_LIMIT, include_cancelled=True)
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


class DrillTable(DataTable[object]):
    """A table of the drills screen: enter opens the highlighted row."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open"))]


class DrillsScreen(LiveScreen):
    """演练 — upcoming drills, running drills and past runs with their ratings."""

    READ_TITLE = N_("drills")

    CSS_PATH = "drills.tcss"
    # The emergency's key first: on a narrow terminal the footer cuts the last ones.
    BINDINGS = [
        Binding("x", "stop", N_("Stop drill (real emergency)")),
        Binding("e", "evaluate", N_("Evaluate")),
        Binding("n", "start", N_("Start drill")),
        Binding("f", "end", N_("End drill")),
        Binding("1", "show_tab('upcoming')", N_("Upcoming"), show=False),
        Binding("2", "show_tab('running')", N_("Running"), show=False),
        Binding("3", "show_tab('history')", N_("History"), show=False),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: DrillsView | None = None
        # run id -> (the run's state when read, its objectives' results): kept while it holds.
        self._ratings: dict[int, tuple[RunState, tuple[ObjectiveResult, ...]]] = {}
        self._first = True
        self._plan_width = PLAN_WIDTH

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="drills-status")
        with TabbedContent(id="drills-tabs"):
            for tab, (glyph, name) in TABS.items():
                with TabPane(f"{glyph} {_(name)}", id=f"tab-{tab}"):
                    # Upcoming rows open nothing: no "open" key on them.
                    table = DataTable if tab == "upcoming" else DrillTable
                    yield table(id=f"drills-{tab}", cursor_type="row", zebra_stripes=True)
                    if tab == "running":
                        yield Static(id="drills-running-counters")
                    yield Static(id=f"drills-{tab}-empty", classes="drills-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = _("Drills")
        for tab, columns in (
            ("upcoming", UPCOMING_COLUMNS),
            ("running", RUNNING_COLUMNS),
            ("history", HISTORY_COLUMNS),
        ):
            table = self._table(tab)
            for key, label in columns:
                table.add_column(label if key == "id" else _(label), key=key)
        self._table("upcoming").focus()
        self.set_interval(TICK_SECONDS, self._tick)
        self.set_interval(REREAD_SECONDS, self._time_passed)
        self.load()

    def on_resize(self, event: events.Resize) -> None:
        width = PLAN_WIDTH if event.size.width >= NARROW else PLAN_WIDTH - 10
        if width != self._plan_width:
            self._plan_width = width
            if self.view is not None:
                self._show(self.view)

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="drills-read")
    def load(self) -> None:
        """Read the drills, show them, then read the ratings of the past runs not yet known."""
        from drills.evaluation import evaluation

        ctx = self.desk.ctx
        worker = get_current_worker()
        found: list[DrillsView] = []

        def read() -> DrillsView:
            view = read_view(ctx.db, ctx.clock.now())
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
        self._show_status(view, now, zone)
        if self._first:
            self._first = False
            if view.running:  # a drill going on is what the officer must see first
                self.action_show_tab("running")
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
        self.query_one("#drills-status", Static).update(text)

    def _table(self, tab: str) -> DataTable[object]:
        return self.query_one(f"#drills-{tab}", DataTable)

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

    def _time_passed(self) -> None:
        """Reminders pass and drills come closer with the time alone: read again."""
        if self.is_current:
            self.load()
        else:
            self._dirty = True

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

    def active_tab(self) -> str:
        active = self.query_one("#drills-tabs", TabbedContent).active
        return active.removeprefix("tab-") or "upcoming"

    @on(DataTable.RowHighlighted, "#drills-running")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_running_counters()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, _event: TabbedContent.TabActivated) -> None:
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
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#drills-tabs", TabbedContent).active = f"tab-{tab}"
        self._table(tab).focus()

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
