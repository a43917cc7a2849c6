"""Provides the shift handover screen (交接班), for the outgoing and the incoming officer.

The outgoing officer sees the brief (:func:`reports.handover.handover_brief`): the counts,
what changed since the previous confirmed handover (cases new, closed, moved on; mobilizations
started and finished), and the overdue, supervised and parked cases and the extension requests
waiting for approval, and the information reports owed or gone late since (初报 due, 续报
overdue, 终报 sent late), one tab each. Below it they name the successor (a known person; prefilled
with the next holder of the duty-officer post when the roster has one), write the note, and
hand over with ``ctrl+s`` after a confirmation. The incoming officer sees, above the brief, the
handover waiting for them (from whom, when, the note and the counts then) and confirms it with
``y``. At the same desk, right after the handover, the incoming officer confirms it there too
(``y``, then yes): they become the acting officer and the duty officer for the rest of the
shift (:func:`console.acting.confirm_incoming`).

Every state is drawn with a glyph and a word as well as a colour. Reads and writes run in
thread workers under the app's database lock; errors come back as notifications.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    DataTable,
    Header,
    Input,
    Label,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from console.acting import Acting, confirm_incoming, confirm_shift, lookup_person
from console.timefmt import short, span
from console.tui.dialogs.yes_no import YesNoDialog
from console.tui.messages import IncidentOpened
from console.tui.screens.live import LiveScreen
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from console.tui.widgets.picker import Picker
from contacts.directory import Target, person_code
from contacts.roster import DUTY_OFFICER_POST, PersonRef, shifts
from incidents.supervision import (
    BriefCase,
    Capped,
    Counts,
    Handover,
    PendingExtension,
    list_handovers,
    pending_handover,
    shift_handover,
)
from reports.handover import HandoverBrief, handover_brief
from store.clock import Clock
from store.db import Database
from store.errors import NotFound
from store.i18n import N_, _

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo


SUCCESSOR_POST = DUTY_OFFICER_POST  # its next holder is the likely successor
LOOKAHEAD = timedelta(days=7)
TITLE_WIDTH = 34
# (key, header) of the brief's tables; the headers are shown with _().
CASE_COLUMNS = (
    ("number", N_("number")),
    ("title", N_("title")),
    ("stage", N_("stage")),
    ("deadline", N_("deadline")),
    ("late", N_("late")),
)
EXTENSION_COLUMNS = (
    ("number", N_("number")),
    ("title", N_("title")),
    ("by", N_("requested by")),
    ("until", N_("new deadline")),
    ("approvals", N_("approvals")),
    ("reason", N_("reason")),
)
CHANGE_COLUMNS = (
    ("what", N_("what")),
    ("number", N_("number")),
    ("title", N_("title")),
    ("stage", N_("stage")),
    ("at", N_("when")),
)
REPORT_COLUMNS = (
    ("number", N_("number")),
    ("report", N_("report")),
    ("state", N_("state")),
    ("due", N_("due")),
    ("late", N_("late")),
)
# tab id -> (glyph, name shown with _())
TABS = {
    "overdue": ("▲", N_("Overdue")),
    "changes": ("Δ", N_("Since last handover")),
    "supervised": ("◆", N_("Supervised")),
    "parked": ("‖", N_("Parked")),
    "extensions": ("◷", N_("Extensions")),
    "reports": ("✉", N_("Reports")),
}


@dataclass(frozen=True)
class HandoverView:
    """What one read found: the brief, the handover waiting for this operator, the last one.

    ``handed`` is the last handover when this operator made it and it waits for confirmation:
    the incoming officer may confirm it at this desk.
    """

    brief: HandoverBrief
    waiting: Handover | None
    last: Handover | None
    successor: PersonRef | None
    operator: str = ""

    @property
    def handed(self) -> Handover | None:
        last = self.last
        if self.waiting is not None or last is None or last.confirmed:
            return None
        return last if last.from_operator == self.operator else None

    @property
    def to_confirm(self) -> Handover | None:
        """The handover ``y`` confirms: the one waiting for this officer, or the one handed."""
        return self.waiting or self.handed


def next_holder(db: Database, now: datetime, operator: str) -> PersonRef | None:
    """Whoever holds the duty-officer post next after now (not ``operator``)."""
    try:
        upcoming = shifts(db, now, now + LOOKAHEAD, SUCCESSOR_POST)
    except NotFound:  # no such post: the successor is picked
        return None
    for shift in upcoming:
        if shift.starts_at > now and operator not in (shift.person.name, shift.person.key):
            return shift.person
    return None


def person_target(person: PersonRef) -> Target:
    """``person`` as the picker holds a person taken from its list."""
    return Target("person", person_code(person.id, person.key), person.name)


def counts_line(label: str, counts: Counts, pending: int, mobilizations: int) -> Text:
    """``now  open 4  ▲ overdue 1 ...``: the overdue with a glyph, and every non-zero count
    standing out. ``label`` is already in the current language."""
    text = Text()
    text.append(f"{label}  ", style="bold")
    parts = (
        ("", N_("open"), counts.open, "bold"),
        ("▲ ", N_("overdue"), counts.overdue, "bold red"),
        ("", N_("supervised"), counts.supervised, "bold magenta"),
        ("", N_("parked"), counts.parked, "yellow"),
        ("", N_("extensions"), pending, "yellow"),
        ("", N_("mobilizing"), mobilizations, "cyan"),
    )
    for index, (glyph, name, count, style) in enumerate(parts):
        if index:
            text.append("  ")
        text.append(f"{glyph}{_(name)} ", style=style if count else "dim")
        text.append(str(count), style="bold" if count else "dim")
    return text


def changes_line(brief: HandoverBrief, zone: ZoneInfo) -> Text:
    """``Δ since #3 05-20 08:00  new 2  closed 1  changed 3  mobilizations started 1 ...``."""
    text = Text()
    changes = brief.changes
    if changes is None:
        return text
    if changes.handover_id is not None:
        since = _("since #{id} {time}").format(
            id=changes.handover_id, time=short(changes.since, zone)
        )
    else:
        since = _("since {time} (no handover yet)").format(time=short(changes.since, zone))
    text.append(f"Δ {since}  ", style="bold")
    parts = (
        (N_("new"), changes.opened.total),
        (N_("closed"), changes.closed.total),
        (N_("changed stage"), changes.changed.total),
        (N_("mobilizations started"), brief.mobilizations_started.total),
        (N_("finished"), brief.mobilizations_finished.total),
    )
    for index, (name, count) in enumerate(parts):
        if index:
            text.append("  ")
        text.append(f"{_(name)} ", style="bold" if count else "dim")
        text.append(str(count), style="bold" if count else "dim")
    return text


def late_cell(case: BriefCase) -> Text:
    if case.late is None:
        return Text("—", style="dim")
    return Text(f"▲ {span(case.late)}", style="bold red")


def stage_cell(case: BriefCase) -> str:
    """The stage's name, and ``supervised`` when the case is."""
    return f"{case.stage.label} {_('supervised')}" if case.supervised else case.stage.label


class BriefTable(DataTable[object]):
    """One list of the brief: enter opens the highlighted case."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open"))]


class HandoverScreen(LiveScreen):
    """交接班 — hand the shift over, or confirm the handover to you."""

    READ_TITLE = N_("Shift handover")

    CSS_PATH = "roster.tcss"
    BINDINGS = [
        Binding("ctrl+s", "hand_over", N_("Hand over")),
        Binding("y", "confirm", N_("Confirm handover")),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: HandoverView | None = None
        self._first = True
        self._focus_confirm = False  # after handing over: the confirm button, not the note

    @property
    def zone(self) -> ZoneInfo:
        return self.desk.ctx.config.zone

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="handover-incoming"):
            with Horizontal(id="handover-incoming-row"):
                yield Static(id="handover-incoming-head")
                yield Button(
                    _("Confirm handover (y)"),
                    variant="warning",
                    id="handover-confirm",
                    compact=True,
                )
            yield Static(id="handover-incoming-note", markup=False)
        yield Static(id="handover-counts")
        with TabbedContent(id="handover-lists"):
            for tab, (glyph, name) in TABS.items():
                with TabPane(f"{glyph} {_(name)}", id=f"tab-{tab}"):
                    yield BriefTable(id=f"handover-{tab}", cursor_type="row", zebra_stripes=True)
        with Vertical(id="handover-form"):
            with Horizontal(classes="form-row", id="handover-to-row"):
                yield Label(_("Hand over to"), classes="form-label")
                # The picker is mounted by the first read, prefilled with the successor.
                yield Button(
                    _("Hand over (ctrl+s)"), variant="primary", id="handover-submit", compact=True
                )
            yield TextArea(
                id="handover-note",
                soft_wrap=True,
                compact=True,
                placeholder=_("Note: what the next shift must know"),
            )
            yield Static(id="handover-last")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = _("Shift handover · {operator}").format(operator=self.desk.ctx.operator)
        self.query_one("#handover-incoming").display = False
        for tab in TABS:
            table = self.query_one(f"#handover-{tab}", BriefTable)
            columns: Sequence[tuple[str, str]] = CASE_COLUMNS
            if tab == "extensions":
                columns = EXTENSION_COLUMNS
            elif tab == "changes":
                columns = CHANGE_COLUMNS
            elif tab == "reports":
                columns = REPORT_COLUMNS
            elif tab == "parked":
                columns = CASE_COLUMNS[:3]  # a parked case's clock is stopped
            for key, label in columns:
                table.add_column(_(label), key=key)
        self.query_one("#handover-overdue", BriefTable).focus()
        self.load()

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="handover-read")
    def load(self) -> None:
        """Read the brief, the handover waiting for this operator and the last handover."""
        ctx = self.desk.ctx
        suggest = self._first

        def read() -> HandoverView:
            now = ctx.clock.now()
            latest = list_handovers(ctx.db, 1)
            return HandoverView(
                brief=handover_brief(ctx.db, now),
                waiting=pending_handover(ctx.db, ctx.operator),
                last=latest[0] if latest else None,
                successor=next_holder(ctx.db, now, ctx.operator) if suggest else None,
                operator=ctx.operator,
            )

        self.read_and_show(read, self._show)

    # ---- showing ----------------------------------------------------------------------------

    def _show(self, view: HandoverView) -> None:
        if not self.is_attached:
            return
        self.view = view
        brief = view.brief
        self.sub_title = _("Shift handover · {operator}").format(operator=view.operator)
        self._show_waiting(view.waiting, view.handed)
        counts = counts_line(
            _("now"), brief.counts, brief.extensions.total, brief.active_mobilizations
        )
        counts.append("\n")
        counts.append_text(changes_line(brief, self.zone))
        self.query_one("#handover-counts", Static).update(counts)
        self._fill_changes(brief)
        self._fill_cases("overdue", brief.overdue)
        self._fill_cases("supervised", brief.supervised)
        self._fill_cases("parked", brief.parked)
        self._fill_extensions(brief.extensions)
        self._fill_reports(brief)
        self._show_last(view.last)
        if self._first:
            self._first = False
            self.query_one("#handover-to-row").mount(
                Picker(
                    self.desk.ctx.db,
                    kinds=("person",),
                    value=person_target(view.successor) if view.successor else None,
                    placeholder=_("the operator taking over"),
                    id="handover-to",
                ),
                before="#handover-submit",
            )
            if view.waiting is None and self.focused is self.query_one("#handover-overdue"):
                self.query_one("#handover-note", TextArea).focus()
        if self._focus_confirm and view.handed is not None:
            self._focus_confirm = False
            self.query_one("#handover-confirm", Button).focus()
        self.refresh_bindings()

    def _show_waiting(self, waiting: Handover | None, handed: Handover | None = None) -> None:
        panel = self.query_one("#handover-incoming")
        shown = waiting or handed
        panel.display = shown is not None
        if shown is None:
            return
        c = shown.counts
        head = Text()
        if waiting is not None:
            head.append("⇄ " + _("Handover to you"), style="bold")
        else:
            head.append(
                "⇄ " + _("Waiting for {operator}").format(operator=shown.to_operator),
                style="bold",
            )
        head.append(
            " "
            + _("#{id} from {operator} at {time}").format(
                id=shown.id, operator=shown.from_operator, time=short(shown.at, self.zone)
            )
        )
        head.append("\n")
        head.append_text(
            counts_line(_("at handover"), c, shown.pending_extensions, shown.active_mobilizations)
        )
        self.query_one("#handover-incoming-head", Static).update(head)
        note = shown.note or _("(no note)")
        self.query_one("#handover-incoming-note", Static).update(
            _("Note: {note}").format(note=note)
        )

    def _fill_cases(self, tab: str, cases: Capped[BriefCase]) -> None:
        table = self.query_one(f"#handover-{tab}", BriefTable)
        table.clear()
        for case in cases.items:
            cells: list[object] = [
                case.number,
                fit(case.title, TITLE_WIDTH),
                stage_cell(case),
            ]
            if tab != "parked":
                cells += [short(case.deadline, self.zone) or "—", late_cell(case)]
            table.add_row(*cells, key=str(case.id))
        self._finish(tab, table, cases.total, len(cases.items))

    def _fill_changes(self, brief: HandoverBrief) -> None:
        """What changed since the previous confirmed handover, one row a case or mobilization."""
        table = self.query_one("#handover-changes", BriefTable)
        table.clear()
        changes = brief.changes
        total = shown = 0
        if changes is not None:
            for what, part in (
                (_("new"), changes.opened),
                (_("closed"), changes.closed),
                (_("changed stage"), changes.changed),
            ):
                total += part.total
                shown += len(part.items)
                for case in part.items:
                    move = case.stage.label
                    if case.was is not None and case.was != case.stage:
                        move = f"{case.was.label} → {case.stage.label}"
                    table.add_row(
                        what,
                        case.number,
                        fit(case.title, TITLE_WIDTH),
                        move,
                        short(case.at, self.zone),
                        key=f"{what}:{case.id}",
                    )
            for what, mobs in (
                (_("mobilization started"), brief.mobilizations_started),
                (_("mobilization finished"), brief.mobilizations_finished),
            ):
                total += mobs.total
                shown += len(mobs.items)
                for mob in mobs.items:
                    table.add_row(
                        what,
                        mob.number or "—",
                        fit(mob.message, TITLE_WIDTH),
                        mob.state,
                        short(mob.at, self.zone),
                        key=f"mob:{what}:{mob.id}",
                    )
        self._finish("changes", table, total, shown)

    def _fill_extensions(self, extensions: Capped[PendingExtension]) -> None:
        table = self.query_one("#handover-extensions", BriefTable)
        table.clear()
        for ext in extensions.items:
            table.add_row(
                ext.number,
                fit(ext.title, TITLE_WIDTH),
                ext.requested_by,
                short(ext.new_deadline, self.zone),
                f"{ext.approvals}/{ext.approvals_needed}",
                fit(ext.reason, TITLE_WIDTH),
                key=str(ext.incident_id),  # a case has one pending request at most
            )
        self._finish("extensions", table, extensions.total, len(extensions.items))

    def _fill_reports(self, brief: HandoverBrief) -> None:
        """The reports owed (overdue ones first, in red), then those sent late since."""
        from uplink.reporting import ObligationState

        table = self.query_one("#handover-reports", BriefTable)
        table.clear()
        now = brief.at
        owed = list(brief.reports_due.items)
        seen = {(o.case_id, o.kind, o.seq) for o in owed}
        late_met = [o for o in brief.reports_late.items if (o.case_id, o.kind, o.seq) not in seen]
        for index, obligation in enumerate(owed + late_met):
            state = obligation.state_at(now)
            delay = obligation.delay_at(now)
            alert = state is ObligationState.OVERDUE
            table.add_row(
                obligation.case_number,
                obligation.kind.label_zh,
                Text(state.label, style="bold red" if alert else ""),
                short(obligation.due, self.zone),
                Text(f"▲ {span(timedelta(minutes=delay))}", style="bold red")
                if delay is not None
                else Text("—", style="dim"),
                key=f"report:{index}:{obligation.case_id}",
            )
        total = brief.reports_due.total + len(late_met)
        self._finish("reports", table, total, len(owed) + len(late_met))

    def _finish(self, tab: str, table: BriefTable, total: int, shown: int) -> None:
        """Say so when a list is empty, or how many more a cut one has; count it in its tab."""
        blanks = [""] * (len(table.columns) - 1)
        if not total:
            table.add_row(Text("— " + _("none"), style="dim"), *blanks, key="none")
        elif total > shown:
            more_rows = _("… +{count} more").format(count=total - shown)
            table.add_row(Text(more_rows, style="dim"), *blanks, key="more")
        glyph, name = TABS[tab]
        more = " " + _("({shown} shown)").format(shown=shown) if total > shown else ""
        label = Text(f"{glyph} {_(name)} {total}{more}", style="bold" if total else "")
        self.query_one("#handover-lists", TabbedContent).get_tab(f"tab-{tab}").label = label

    def _show_last(self, last: Handover | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if last is None:
            text.append(_("No handover recorded yet"), style="dim")
        else:
            text.append(
                _("Last handover: #{id} {from_operator} → {to_operator} {time}").format(
                    id=last.id,
                    from_operator=last.from_operator,
                    to_operator=last.to_operator,
                    time=short(last.at, self.zone),
                )
                + "  "
            )
            if last.confirmed_at is not None:
                confirmed = _("confirmed {time}").format(time=short(last.confirmed_at, self.zone))
                text.append("✔ " + confirmed, style="green")
            else:
                text.append("⏳ " + _("awaiting confirmation"), style="yellow")
        self.query_one("#handover-last", Static).update(text)

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``y`` only when a handover waits for this operator or was just handed over here;
        handing over once read."""
        if action == "confirm":
            return self.view is not None and self.view.to_confirm is not None or None
        if action == "hand_over":
            return self.view is not None or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    @on(DataTable.RowSelected)
    def _open_case(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is not None and ":" in key and not key.startswith("mob:"):
            key = key.rsplit(":", 1)[1]  # a row of the changes: what:case id
        if key is not None and key.isdigit():
            event.stop()
            self.post_message(IncidentOpened(int(key)))

    @on(Button.Pressed, "#handover-confirm")
    def _confirm_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm()

    @on(Button.Pressed, "#handover-submit")
    def _submit_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_hand_over()

    @on(Input.Submitted, "#handover-to--input")
    def _to_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#handover-note", TextArea).focus()

    def action_hand_over(self) -> None:
        """交班: hand the shift over to the named successor, with the note (after a question)."""
        if self.view is None:
            return
        to_input = self.query_one("#handover-to", Picker)
        picked = to_input.value
        successor = picked.label if picked is not None else to_input.text.strip()
        named = picked.format() if picked is not None else successor
        if not successor:
            to_input.add_class("-invalid")
            to_input.focus()
            self.notify(
                _("Name the operator taking over."),
                title=_("Shift handover"),
                severity="error",
            )
            return
        to_input.remove_class("-invalid")
        note = self.query_one("#handover-note", TextArea).text.strip()
        c = self.view.brief.counts

        def step(db: Database, clock: Clock, operator: str) -> str:
            person = lookup_person(db, named, _("Hand over to"), clock.now())
            done = shift_handover(db, clock, operator, person.name, note, brief=handover_brief)
            return _("Handed over to {operator} (#{id}); awaiting confirmation").format(
                operator=done.to_operator, id=done.id
            )

        def handed() -> None:
            # The incoming officer confirms next, here: y must reach the screen, not the note.
            self.query_one("#handover-note", TextArea).clear()
            self._focus_confirm = True

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.write(step, after=handed)

        if note:
            question = _(
                "Hand the shift over to {successor}? {open} open, {overdue} overdue,"
                " {supervised} supervised, {parked} parked."
            )
        else:
            question = _(
                "Hand the shift over to {successor}? {open} open, {overdue} overdue,"
                " {supervised} supervised, {parked} parked; no note."
            )
        self.app.push_screen(
            YesNoDialog(
                _("Hand over"),
                question.format(
                    successor=successor,
                    open=c.open,
                    overdue=c.overdue,
                    supervised=c.supervised,
                    parked=c.parked,
                ),
                yes=_("Hand over"),
                no=_("Not yet"),
            ),
            confirmed,
        )

    def action_confirm(self) -> None:
        """确认接班: confirm, as the incoming officer, the handover waiting for you; or, at the
        desk where it was just handed over, as the officer it names (after a question)."""
        if self.view is None or self.view.to_confirm is None:
            return
        handover = self.view.to_confirm
        incoming = self.view.waiting is None
        desk = self.desk
        took: list[Acting] = []

        def step(db: Database, clock: Clock, operator: str) -> str:
            if incoming:
                done, acting = confirm_incoming(db, clock, handover.id)
            else:
                current = desk.ctx.acting
                if current is None or current.name != operator:
                    current = Acting(operator, None, "given")
                done, acting = confirm_shift(db, clock, current, handover.id)
            took.append(acting)
            return _("Confirmed handover #{id} from {operator}").format(
                id=done.id, operator=done.from_operator
            )

        def after() -> None:
            if took:
                desk.act_as(took[0])

        if not incoming:
            self.write(step, after)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.write(step, after)

        self.app.push_screen(
            YesNoDialog(
                _("Confirm handover"),
                _(
                    "{taker} takes the shift over from {giver} at this desk: everything done"
                    " here from now on is {taker}'s. Confirm?"
                ).format(taker=handover.to_operator, giver=handover.from_operator),
                yes=_("Take over"),
                no=_("Not yet"),
            ),
            answered,
        )
