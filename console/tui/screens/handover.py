"""Provides the shift handover screen (交接班), for the outgoing and the incoming officer.

The outgoing officer sees the brief (:func:`reports.handover.handover_brief`): the counts,
and the overdue, supervised and parked cases and the extension requests waiting for approval,
one tab each. Below it they name the successor (prefilled with the next holder of the
duty-officer post when the roster has one), write the note, and hand over with ``ctrl+s``
after a confirmation. The incoming officer sees, above the brief, the handover waiting for
them (from whom, when, the note and the counts then) and confirms it with ``y``.

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

from console.timefmt import short, span
from console.tui.dialogs.yes_no import YesNoDialog
from console.tui.messages import IncidentOpened
from console.tui.screens.live import LiveScreen
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from contacts.roster import shifts
from incidents.supervision import (
    BriefCase,
    Capped,
    Counts,
    Handover,
    PendingExtension,
    confirm_handover,
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


SUCCESSOR_POST = "DO"  # the duty officer's post: its next holder is the likely successor
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
# tab id -> (glyph, name shown with _())
TABS = {
    "overdue": ("▲", N_("Overdue")),
    "supervised": ("◆", N_("Supervised")),
    "parked": ("‖", N_("Parked")),
    "extensions": ("◷", N_("Extensions")),
}


@dataclass(frozen=True)
class HandoverView:
    """What one read found: the brief, the handover waiting for this operator, the last one."""

    brief: HandoverBrief
    waiting: Handover | None
    last: Handover | None
    successor: str | None


def next_holder(db: Database, now: datetime, operator: str) -> str | None:
    """The name of whoever holds the duty-officer post next after now (not ``operator``)."""
    try:
        upcoming = shifts(db, now, now + LOOKAHEAD, SUCCESSOR_POST)
    except NotFound:  # no such post: the successor is typed
        return None
    for shift in upcoming:
        if shift.starts_at > now and operator not in (shift.person.name, shift.person.key):
            return shift.person.name
    return None


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

    @property
    def zone(self) -> ZoneInfo:
        return self.desk.ctx.config.zone

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="handover-incoming"):
            yield Static(id="handover-incoming-head")
            yield Static(id="handover-incoming-note", markup=False)
        yield Static(id="handover-counts")
        with TabbedContent(id="handover-lists"):
            for tab, (glyph, name) in TABS.items():
                with TabPane(f"{glyph} {_(name)}", id=f"tab-{tab}"):
                    yield BriefTable(id=f"handover-{tab}", cursor_type="row", zebra_stripes=True)
        with Vertical(id="handover-form"):
            with Horizontal(classes="form-row"):
                yield Label(_("Hand over to"), classes="form-label")
                yield Input(
                    placeholder=_("the operator taking over"), id="handover-to", compact=True
                )
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
            )

        self.read_and_show(read, self._show)

    # ---- showing ----------------------------------------------------------------------------

    def _show(self, view: HandoverView) -> None:
        if not self.is_attached:
            return
        self.view = view
        brief = view.brief
        self._show_waiting(view.waiting)
        self.query_one("#handover-counts", Static).update(
            counts_line(_("now"), brief.counts, brief.extensions.total, brief.active_mobilizations)
        )
        self._fill_cases("overdue", brief.overdue)
        self._fill_cases("supervised", brief.supervised)
        self._fill_cases("parked", brief.parked)
        self._fill_extensions(brief.extensions)
        self._show_last(view.last)
        if self._first:
            self._first = False
            to = self.query_one("#handover-to", Input)
            if view.successor and not to.value:
                to.value = view.successor
            if view.waiting is None and self.focused is self.query_one("#handover-overdue"):
                self.query_one("#handover-note", TextArea).focus()
        self.refresh_bindings()

    def _show_waiting(self, waiting: Handover | None) -> None:
        panel = self.query_one("#handover-incoming")
        panel.display = waiting is not None
        if waiting is None:
            return
        c = waiting.counts
        head = Text()
        head.append("⇄ " + _("Handover to you"), style="bold")
        head.append(
            " "
            + _("#{id} from {operator} at {time}").format(
                id=waiting.id, operator=waiting.from_operator, time=short(waiting.at, self.zone)
            )
        )
        head.append("   y " + _("Confirm handover") + "\n", style="bold reverse")
        head.append_text(
            counts_line(
                _("at handover"), c, waiting.pending_extensions, waiting.active_mobilizations
            )
        )
        self.query_one("#handover-incoming-head", Static).update(head)
        note = waiting.note or _("(no note)")
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
        """``y`` only when a handover waits for this operator; handing over once read."""
        if action == "confirm":
            return self.view is not None and self.view.waiting is not None or None
        if action == "hand_over":
            return self.view is not None or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    @on(DataTable.RowSelected)
    def _open_case(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is not None and key.isdigit():
            event.stop()
            self.post_message(IncidentOpened(int(key)))

    @on(Button.Pressed, "#handover-submit")
    def _submit_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_hand_over()

    @on(Input.Submitted, "#handover-to")
    def _to_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#handover-note", TextArea).focus()

    def action_hand_over(self) -> None:
        """交班: hand the shift over to the named successor, with the note (after a question)."""
        if self.view is None:
            return
        to_input = self.query_one("#handover-to", Input)
        successor = to_input.value.strip()
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
            done = shift_handover(db, clock, operator, successor, note, brief=handover_brief)
            return _("Handed over to {operator} (#{id}); awaiting confirmation").format(
                operator=done.to_operator, id=done.id
            )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.write(step, after=self.query_one("#handover-note", TextArea).clear)

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
        """确认接班: confirm, as the incoming officer, the handover waiting for you."""
        if self.view is None or self.view.waiting is None:
            return
        handover_id = self.view.waiting.id

        def step(db: Database, clock: Clock, operator: str) -> str:
            done = confirm_handover(db, clock, operator, handover_id)
            return _("Confirmed handover #{id} from {operator}").format(
                id=done.id, operator=done.from_operator
            )

        self.write(step)
