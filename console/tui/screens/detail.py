"""Provides the detail screen of one case: stage bar, deadline, facts, timeline, tasks, extensions.

The same action keys as the incidents view work here on the case shown; ``t`` adds a task,
``c`` completes the task under the tasks table's cursor and ``M`` mobilizes the case's grid.
Under the deadline a line tells the case's information reports owed (``初报 due in 12 min``,
``续报二 overdue 5 min``), and the reports table lists those drafted and sent (name, 草稿 /
已签发 / 已报送 / 已签收, signer, time). ``R`` opens the report form: the highlighted report
(or the case's draft) when one is not sent yet, else a new one (初报 first, then 续报, 终报 once
the case is closed); ``S`` signs a draft off (签发) and ``U`` sends a signed one up (报送),
each after a yes/no question. ``P`` records a report given by phone (电话报告), ``B`` marks the
case "to be reported" (or takes the mark off) after a question, and the palette also marks it
sensitive and corrects its received time (接报时间, with a reason); the reporting line shows
the marks and a corrected received time. Each of these writes brings the case's deadlines up
to date at once (:func:`uplink.sitreps.catch_up`), so the line moves with it.
It is a live screen: it reads the case in a worker, and again whenever the app reports a
change, from this console or another process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Header, Label, Static

from console.sitrep_words import next_followup, obligation_name, obligation_words, report_line
from console.timefmt import local, short, when
from console.timeline import (
    FIELD_ENDINGS,
    entry_details,
    event_label,
    size_words,
    target_words,
    written_targets,
)
from console.tui.dialogs import MobilizeDialog, MobilizeRequest, YesNoDialog
from console.tui.screens.actions import CASE_COMMANDS, CaseScreen
from console.tui.screens.incidents import CLOCK_SECONDS
from console.tui.screens.mobilization import MobilizationScreen
from console.tui.widgets import StageBar
from console.tui.widgets.cells import fit, plain, time_left
from console.tui.widgets.keybar import KeyBar
from contacts.directory import labels
from incidents import workflow
from incidents.models import (
    Extension,
    Incident,
    Severity,
    Task,
    TimelineEntry,
    category_label,
    type_label,
)
from incidents.records import get_incident, tasks_of, timeline
from mobilization import ensure_default_tree, start_mobilization
from store.clock import Clock
from store.db import Database
from store.errors import DutydeskError, NotFound
from store.i18n import N_, _
from uplink.reporting import (
    Obligation,
    ObligationState,
    ReportKind,
    ReportState,
    Sitrep,
)

if TYPE_CHECKING:
    from console.tui.dialogs.case_reporting import PhoneReport, ReceivedCorrection
    from uplink.field import FieldDispatch, FieldUpdate
    from uplink.sitreps import CaseReporting

# Extension statuses (database values) -> their names (translated where shown).
EXTENSION_STATUS = {
    "pending": N_("pending"),
    "granted": N_("granted"),
    "rejected": N_("rejected"),
    "lapsed": N_("lapsed"),
}
KIND_WIDTH = (8, 12)  # the timeline's kind column: at least, at most (cells)
NARROW = 100  # columns: under this the tasks and extensions go under the timeline


def kind_label(kind: str) -> str:
    """A timeline entry kind's name in the current language (:mod:`console.timeline`)."""
    return event_label(kind)


def entry_detail(
    entry: TimelineEntry, zone: ZoneInfo, names: Mapping[str, str] | None = None
) -> str:
    """One line saying what a timeline entry did, for the timeline table (``names``: written
    targets → names, :func:`contacts.directory.labels`)."""
    parts: list[str] = []
    if entry.stage_to is not None and entry.kind != "reported":
        start = entry.stage_from.label if entry.stage_from else ""
        parts.append(f"{start}→{entry.stage_to.label}")
    details = entry_details(entry, zone, compact=True, names=names)
    return "  ".join([*parts, details] if details else parts)


@dataclass(frozen=True)
class CaseView:
    """What one read of the case found."""

    incident: Incident
    entries: list[TimelineEntry]
    tasks: list[Task]
    extensions: list[Extension]
    names: dict[str, str] = field(default_factory=dict)  # written targets → people's words
    sitreps: list[Sitrep] = field(default_factory=list)  # its information reports, oldest first
    obligations: list[Obligation] = field(default_factory=list)  # what it must report, by due
    reporting: CaseReporting | None = None  # received time, marks (to be reported, sensitive)
    dispatches: list[FieldDispatch] = field(default_factory=list)  # field dispatches, oldest first
    messages: str | None = None  # "3 messages from 138****0000" for a case reported by SMS


REPORTS_SHOWN = 3
"""Obligations on the reporting line: the open ones; else the last ones met."""


def mark_words(reporting: CaseReporting | None) -> str:
    """``to be reported · sensitive`` (须上报 · 敏感): the case's marks; empty when none."""
    if reporting is None:
        return ""
    marks = ((_("to be reported"), reporting.marked), (_("sensitive"), reporting.sensitive))
    return " · ".join(word for word, on in marks if on)


def reporting_line(
    obligations: list[Obligation],
    sitreps: list[Sitrep],
    now: datetime,
    zone: ZoneInfo,
    reporting: CaseReporting | None = None,
) -> Text:
    """``报告 须上报 · 敏感  初报 due in 12 min · 续报二 overdue 5 min  received 13:50
    (corrected)``: the case's marks, the reports it owes (overdue in red with ⚠) or, when it
    owes none, how the last ones went (``初报 sent on time``), and its received time once
    corrected."""
    text = Text(no_wrap=True, overflow="ellipsis")
    seq = next_followup(sitreps)
    live = [o for o in obligations if not o.cancelled]
    owed = [o for o in live if o.state_at(now).open]
    shown = owed or [o for o in live if o.met_at is not None][-REPORTS_SHOWN:]
    marks = mark_words(reporting)
    if not shown and not marks:
        return text
    text.append(_("Reports") + "  ", style="bold")
    if marks:
        text.append(marks, style="bold magenta")
        text.append("  ")
    for index, obligation in enumerate(shown):
        if index:
            text.append(" · ")
        state = obligation.state_at(now)
        words = obligation_words(obligation, now, zone, name=obligation_name(obligation, seq))
        if state is ObligationState.OVERDUE:
            text.append(f"⚠ {words}", style="bold red")
        elif state is ObligationState.LATE:
            text.append(words, style="red")
        elif state is ObligationState.PENDING:
            text.append(words, style="bold")
        else:
            text.append(words, style="dim")
    if reporting is not None and reporting.received_corrected:
        corrected = _("received {time} (corrected)").format(
            time=when(reporting.received_at, now, zone)
        )
        text.append(f"  {corrected}", style="dim")
    return text


def new_report_kind(incident: Incident, sitreps: list[Sitrep]) -> ReportKind:
    """What ``R`` drafts when no report is open: 初报 until one is written, then 续报; 终报
    once the case is closed (and none was drafted yet)."""
    written = [s for s in sitreps if s.phoned_to is None]
    if not any(s.kind is ReportKind.INITIAL for s in written):
        return ReportKind.INITIAL
    if not incident.stage.is_open and not any(s.kind is ReportKind.FINAL for s in written):
        return ReportKind.FINAL
    return ReportKind.FOLLOWUP


REPORTING_ACTIONS = frozenset(
    {
        "phone_report",
        "toggle_reported",
        "mark_reported",
        "unmark_reported",
        "mark_sensitive",
        "unmark_sensitive",
        "correct_received",
    }
)
"""The keys and commands that change the case's reporting facts (a report by phone, the marks,
the received time)."""


def task_status(task: Task, now: datetime) -> Text:
    if task.done_at is not None:
        return Text("✓ " + _("done"), style="green")
    if task.overdue_at(now):
        return Text(_("overdue"), style="bold red")
    return Text(_("to do"), style="dim")


# ---- the field (现场): the case's dispatches to the field, their answers and photos -------------


PEOPLE_SHOWN = 4
"""People named on a dispatch's "to" line (the rest counted): the section stays short."""


def field_words(
    dispatches: list[FieldDispatch],
    now: datetime,
    zone: ZoneInfo,
    names: Mapping[str, str] | None = None,
) -> Text:
    """The field section's lines: per dispatch where it went and when, to whom, who accepted
    (or how long is left / how late it is, in red), declines with their reasons, progress
    notes and the feedback. An ended dispatch is one line."""
    from uplink.field import ROLE_NAMES

    out = Text()
    for dispatch in reversed(dispatches):  # the current one first
        if out:
            out.append("\n")
        target = target_words(dispatch.target, names)
        out.append(
            _("→ {target} · sent {time}").format(
                target=target, time=short(dispatch.created_at, zone)
            ),
            style="bold",
        )
        if dispatch.ended_at is not None:
            reason = dispatch.ended_reason or ""
            ended = _(FIELD_ENDINGS[reason]) if reason in FIELD_ENDINGS else reason
            out.append(
                "  "
                + _("ended {time} ({reason})").format(
                    time=short(dispatch.ended_at, zone), reason=ended
                ),
                style="dim",
            )
            continue
        out.append("\n  ")
        if dispatch.accepted_at is not None:
            who = next(
                (p.name for p in dispatch.people if p.key == dispatch.accepted_by),
                dispatch.accepted_by or "?",
            )
            out.append(
                "✔ "
                + _("accepted by {name} {time}").format(
                    name=who, time=short(dispatch.accepted_at, zone)
                ),
                style="green",
            )
        elif now <= dispatch.accept_by:
            minutes = max(1, round((dispatch.accept_by - now).total_seconds() / 60))
            out.append(_("not accepted · due in {minutes} min").format(minutes=minutes))
        else:
            minutes = max(1, round((now - dispatch.accept_by).total_seconds() / 60))
            out.append(
                "⚠ " + _("not accepted, {minutes} min late").format(minutes=minutes),
                style="bold red",
            )
        people = ", ".join(
            f"{p.name} ({_(ROLE_NAMES[p.role]) if p.role in ROLE_NAMES else p.role})"
            for p in dispatch.people[:PEOPLE_SHOWN]
        )
        if len(dispatch.people) > PEOPLE_SHOWN:
            more = len(dispatch.people) - PEOPLE_SHOWN
            people = _("{names} and {count} more").format(names=people, count=more)
        out.append("\n  " + _("to {people}").format(people=people or "—"))
        for person in dispatch.people:
            if person.declined_at is not None:
                out.append("\n  ")
                out.append(
                    "✗ "
                    + _("{name} declined {time}: {reason}").format(
                        name=person.name,
                        time=short(person.declined_at, zone),
                        reason=person.decline_reason or "—",
                    ),
                    style="yellow",
                )
        for update in dispatch.updates:
            if update.kind == "progress":
                line = _("progress {time} {name}: {text}")
            elif update.kind == "feedback":
                line = _("feedback {time} {name}: {text}")
            else:
                continue
            out.append("\n  ")
            out.append(
                line.format(time=short(update.at, zone), name=update.person_name, text=update.text),
                style="bold" if update.kind == "feedback" else "",
            )
    return out


def field_photos(dispatches: list[FieldDispatch]) -> list[FieldUpdate]:
    """The photos of every dispatch of the case, newest first."""
    photos = [u for d in dispatches for u in d.updates if u.kind == "photo" and u.photo_sha256]
    return sorted(photos, key=lambda u: (u.at, u.id), reverse=True)


class PhotoTable(DataTable[object]):
    """The case's field photos; ``o`` or enter opens the highlighted one with the system's
    viewer (these keys win over the screen's ``o``, the note, while the table has focus)."""

    BINDINGS = [
        Binding("o", "open_photo", N_("Open photo")),
        Binding("enter", "open_photo", N_("Open photo"), show=False),
    ]

    class Open(Message):
        """Open the photo whose hash is ``sha256``."""

        def __init__(self, sha256: str) -> None:
            super().__init__()
            self.sha256 = sha256

    def action_open_photo(self) -> None:
        if not self.row_count:
            return
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        if key:
            self.post_message(self.Open(str(key)))


class IncidentDetailScreen(CaseScreen):
    """One case in full."""

    CSS_PATH = "detail.tcss"
    BINDINGS = [
        *CaseScreen.BINDINGS,
        Binding("t", "add_task", N_("Task")),
        Binding("c", "complete_task", N_("Complete task")),
        Binding("M", "mobilize", N_("Mobilize")),
        Binding("escape", "back", N_("Back")),
        # After Back: on a narrow terminal the key bar drops keys from its end (the help, the
        # palette and the reports' title still name them). Sign off and send up are shown only
        # while there is a report to sign or to send.
        Binding("R", "report", N_("Report")),
        Binding("S", "sign_report", N_("Sign off")),
        Binding("U", "send_report", N_("Send up")),
        # Not in the footer (it is full at 80 columns): the help and the palette name them.
        Binding("P", "phone_report", N_("Report by phone"), show=False),
        Binding("B", "toggle_reported", N_("To-be-reported mark"), show=False),
        Binding("z", "undo", N_("Undo"), show=False),
        # o is the note (as on the queue): the report file is O.
        Binding("O", "case_report", N_("Case report file"), show=False),
    ]
    COMMANDS_OFFERED = (
        *CASE_COMMANDS,
        ("add_task", N_("Add task"), N_("Add a task to this case (t)")),
        ("complete_task", N_("Complete task"), N_("Mark the highlighted task done (c)")),
        ("mobilize", N_("Mobilize"), N_("Call out the case's grid or teams (M)")),
        (
            "report",
            N_("Information report"),
            N_(
                "Draft the case's next report up (initial, follow-up, final), or edit its draft (R)"
            ),
        ),
        ("sign_report", N_("Sign report off"), N_("Sign the case's draft report off (S)")),
        ("send_report", N_("Send report up"), N_("Send the signed report up (U)")),
        (
            "discard_report",
            N_("Discard report draft"),
            N_("Throw away the highlighted report not sent yet"),
        ),
        (
            "phone_report",
            N_("Report by phone"),
            N_("Record a report given by phone: to whom, when, what was said (P)"),
        ),
        (
            "mark_reported",
            N_("Mark to be reported"),
            N_("Make the case reportable whatever its level (B)"),
        ),
        (
            "unmark_reported",
            N_("Take the to-be-reported mark off"),
            N_("The case is reportable by its level alone again (B)"),
        ),
        ("mark_sensitive", N_("Mark sensitive"), N_("Mark the case sensitive: reportable too")),
        (
            "unmark_sensitive",
            N_("Take the sensitive mark off"),
            N_("The case is no longer marked sensitive"),
        ),
        (
            "correct_received",
            N_("Correct received time"),
            N_("Correct when the case was received, with a reason: the report deadline moves"),
        ),
        ("undo", N_("Undo last step"), N_("Take back your last step, within minutes (z)")),
        (
            "case_report",
            N_("Case report file"),
            N_("The post-incident report: key figures, then HTML, PDF, Word or Markdown (O)"),
        ),
        ("back", N_("Back to the list"), N_("Back to the incidents table (escape)")),
    )
    CASE_ACTIONS = frozenset({*CaseScreen.CASE_ACTIONS, "add_task", "complete_task"})

    def __init__(self, incident_id: int) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.incident: Incident | None = None
        self._tasks: list[Task] = []
        self._entries: list[TimelineEntry] = []
        self._names: dict[str, str] = {}
        self._sitreps: list[Sitrep] = []
        self._obligations: list[Obligation] = []
        self._reporting: CaseReporting | None = None
        self._field: list[FieldDispatch] = []
        self._messages: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="detail-top"):
            with Horizontal(id="detail-title"):
                yield Static(id="detail-number")
                yield Static(id="detail-severity", classes="severity")
                yield Static(id="detail-title-text")
            yield StageBar(id="stage-bar")
            yield Static(id="detail-deadline")
            yield Static(id="detail-reporting")
        yield Static(id="facts")
        with Horizontal(id="detail-body"):
            with Vertical(id="detail-timeline"):
                yield Label(_("Timeline"), classes="section-title")
                yield DataTable(id="timeline", cursor_type="row")
            with Vertical(id="detail-side"):
                with Vertical(id="detail-tasks"):
                    yield Label(_("Tasks"), classes="section-title")
                    yield DataTable(id="tasks", cursor_type="row")
                with Vertical(id="detail-extensions"):
                    yield Label(_("Extensions"), classes="section-title")
                    yield DataTable(id="extensions", cursor_type="none")
                with Vertical(id="detail-reports"):
                    yield Label(_("Reports (R, S sign off, U send up)"), classes="section-title")
                    yield DataTable(id="sitreps", cursor_type="row")
                with Vertical(id="detail-field"):
                    yield Label(_("Field"), classes="section-title")
                    yield Static(id="field-summary")
                    yield PhotoTable(id="field-photos", cursor_type="row")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#tasks", DataTable).add_columns(_("Task"), _("Owner"), _("Due"), "")
        self.query_one("#extensions", DataTable).add_columns(
            "#", _("Reason"), _("New deadline"), _("Status")
        )
        self.query_one("#sitreps", DataTable).add_columns(
            _("Report"), _("State"), _("Signer"), _("Time")
        )
        self.query_one(PhotoTable).add_columns(_("Time"), _("Who"), _("Kind"), _("Size"), "W×H")
        self.query_one("#detail-field").display = False
        self.load()
        self.query_one("#timeline").focus()
        self.set_interval(CLOCK_SECONDS, self._tick)

    def _tick(self) -> None:
        """Move the time left on; the data itself is reloaded when it changes."""
        if self.incident is not None:
            ctx = self.desk.ctx
            now, zone = ctx.clock.now(), ctx.config.zone
            self._show_head(self.incident, self._entries, now, zone)
            self._show_reporting(now, zone)
            if self._field:
                self.query_one("#field-summary", Static).update(
                    field_words(self._field, now, zone, self._names)
                )

    def selected_incident(self) -> Incident | None:
        return self.incident

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="case-read")
    def load(self) -> None:
        """Read the case, its timeline, tasks and extensions (small indexed reads)."""
        ctx = self.desk.ctx
        case = self.incident_id

        def read() -> CaseView:
            from incidents.citizen import message_summary
            from uplink.field import dispatches_of
            from uplink.sitreps import list_sitreps, obligations_of, reporting_of

            incident, entries = get_incident(ctx.db, case), timeline(ctx.db, case)
            dispatches = dispatches_of(ctx.db, incident.id)
            targets = written_targets(incident.assignee, entries)
            targets += [d.target for d in dispatches if d.target not in targets]
            return CaseView(
                incident,
                entries,
                tasks_of(ctx.db, case),
                workflow.extensions_of(ctx.db, case),
                labels(ctx.db, targets),
                sorted(list_sitreps(ctx.db, case=case), key=lambda s: (s.drafted_at, s.id)),
                obligations_of(ctx.db, ctx.clock.now(), case),
                reporting_of(ctx.db, case),
                dispatches,
                message_summary(ctx.db, incident.id),
            )

        self.read_and_show(read, self._show)

    def read_failed(self, exc: Exception) -> None:
        super().read_failed(exc)
        if isinstance(exc, NotFound) and self.is_current:
            self.dismiss()

    # ---- showing ----------------------------------------------------------------------------

    def _show(self, view: CaseView) -> None:
        if not self.is_attached:
            return  # the officer left while the read ran
        incident = view.incident
        self.incident = incident
        self._tasks = view.tasks
        self._names = view.names
        self.sub_title = f"{incident.number} {incident.title}"
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        self._messages = view.messages
        self._show_head(incident, view.entries, now, zone)
        self._show_facts(incident, zone)
        self._show_tasks(view.tasks, now, zone)
        self._show_extensions(view.extensions, zone)
        self._sitreps, self._obligations = view.sitreps, view.obligations
        self._reporting = view.reporting
        self._show_reporting(now, zone)
        self._show_sitreps(zone)
        self._entries = view.entries
        self._show_timeline()
        # Only what reached someone: a dispatch with nobody to send it to has no field side.
        self._field = [d for d in view.dispatches if d.people]
        self._show_field(now, zone)
        self.update_keys()

    def _show_head(
        self, incident: Incident, entries: list[TimelineEntry], now: datetime, zone: ZoneInfo
    ) -> None:
        self.query_one("#detail-number", Static).update(incident.number)
        badge = self.query_one("#detail-severity", Static)
        badge.update(f"{incident.severity.roman} {incident.severity.label}")
        for level in Severity:
            badge.set_class(level is incident.severity, f"-level-{level.value}")
        self.query_one("#detail-title-text", Static).update(plain(incident.title))
        left_from = next(
            (e.stage_from for e in reversed(entries) if e.stage_to == incident.stage), None
        )
        self.query_one(StageBar).show(incident.stage, left_from)
        line = Text()
        if incident.deadline is not None:
            line.append(_("Deadline {time}").format(time=local(incident.deadline, zone)) + "  ")
            line.append_text(time_left(incident, now))
        elif incident.stage.is_open:
            line.append(_("parked: no deadline") if incident.parked else _("no deadline"))
        else:
            line.append(f"{incident.stage.label} {local(incident.closed_at, zone)}")
        if incident.supervised:
            line.append("  ")
            line.append(f" {_('supervised')} ", style="bold white on red")
        if incident.parked:
            line.append("  ")
            line.append(f" {_('parked')} ", style="reverse")
        if incident.extensions:
            line.append("  " + _("extended ×{count}").format(count=incident.extensions))
        if incident.reminders:
            reminded = _("reminded ×{count}").format(count=incident.reminders)
            line.append("  " + reminded, style="red")
        self.query_one("#detail-deadline", Static).update(line)

    def _show_facts(self, incident: Incident, zone: ZoneInfo) -> None:
        # The reporter's number is personal data: shown masked, as every listing shows it.
        phone = incident.masked().reporter_phone
        reporter = " ".join(x for x in (incident.reporter_name, phone) if x)
        classification = f"{category_label(incident.category)}/{type_label(incident.type)}"
        pairs = (
            (_("Category"), classification),
            (_("Urgency"), incident.urgency.label),
            (_("Location"), incident.location),
            (_("Grid"), incident.grid or ""),
            (_("Reporter"), reporter),
            (
                _("Source"),
                " · ".join(x for x in (incident.source.label, self._messages or "") if x),
            ),
            (
                _("Assignee"),
                target_words(incident.assignee, self._names) if incident.assignee else "",
            ),
            (_("Reported"), local(incident.reported_at, zone)),
            (_("Tags"), ", ".join(incident.tags)),
            (_("In stage since"), local(incident.stage_since, zone)),
        )
        description_label = _("Description")
        label_width = max(cell_len(label) for label, _value in (*pairs, (description_label, "")))
        grid = Table.grid(padding=(0, 2), expand=True)
        for _side in range(2):
            grid.add_column(style="dim", no_wrap=True, min_width=label_width)
            grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for (left, left_value), (right, right_value) in zip(pairs[::2], pairs[1::2], strict=True):
            grid.add_row(left, plain(left_value or "—"), right, plain(right_value or "—"))
        description = Table.grid(padding=(0, 2))
        description.add_column(style="dim", no_wrap=True, min_width=label_width)
        description.add_column(ratio=1)
        description.add_row(description_label, Text(incident.description or "—"))
        self.query_one("#facts", Static).update(Group(grid, description))

    def _show_tasks(self, tasks: list[Task], now: datetime, zone: ZoneInfo) -> None:
        table = self.query_one("#tasks", DataTable)
        row = table.cursor_row
        table.clear()
        for task in tasks:
            table.add_row(
                fit(task.title, 20),
                fit(task.owner or "", 10),
                short(task.due, zone),
                task_status(task, now),
                key=str(task.id),
            )
        if tasks:
            table.move_cursor(row=min(row, len(tasks) - 1))

    def _show_extensions(self, extensions: list[Extension], zone: ZoneInfo) -> None:
        table = self.query_one("#extensions", DataTable)
        table.clear()
        for ext in extensions:
            status = (
                _(EXTENSION_STATUS[ext.status]) if ext.status in EXTENSION_STATUS else ext.status
            )
            if ext.status == "pending":
                status += f" {len(ext.approvals)}/{ext.approvals_needed}"
            table.add_row(
                str(ext.seq),
                fit(ext.reason, 16),
                short(ext.new_deadline, zone),
                status,
            )

    def _show_reporting(self, now: datetime, zone: ZoneInfo) -> None:
        line = reporting_line(self._obligations, self._sitreps, now, zone, self._reporting)
        widget = self.query_one("#detail-reporting", Static)
        widget.update(line)
        widget.display = bool(line.plain)

    def _show_sitreps(self, zone: ZoneInfo) -> None:
        """The case's reports, newest first; the cursor stays on the report it was on."""
        table = self.query_one("#sitreps", DataTable)
        chosen = self._highlighted_report()
        table.clear()
        for sitrep in reversed(self._sitreps):
            name, state, signer, at = report_line(sitrep, zone)
            style = "bold" if not sitrep.state.final else ""
            table.add_row(
                Text(name, style=style),
                Text(state, style=style),
                fit(signer, 10),
                at,
                key=str(sitrep.id),
            )
        if chosen is not None and str(chosen.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(chosen.id)))
        self.query_one("#detail-reports").display = bool(self._sitreps)

    def _show_field(self, now: datetime, zone: ZoneInfo) -> None:
        """The field section, only when the case was sent to the field; the photos table keeps
        its cursor on the photo it was on."""
        section = self.query_one("#detail-field")
        section.display = bool(self._field)
        if not self._field:
            return
        self.query_one("#field-summary", Static).update(
            field_words(self._field, now, zone, self._names)
        )
        table = self.query_one(PhotoTable)
        chosen = None
        if table.row_count:
            chosen = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        photos = field_photos(self._field)
        from uplink.field import PHOTO_KIND_NAMES

        for photo in photos:
            kind = photo.photo_kind or ""
            size = (
                f"{photo.photo_width}×{photo.photo_height}"
                if photo.photo_width and photo.photo_height
                else "—"
            )
            table.add_row(
                short(photo.at, zone),
                fit(photo.person_name, 8),
                _(PHOTO_KIND_NAMES[kind]) if kind in PHOTO_KIND_NAMES else kind,
                size_words(photo.photo_bytes),
                size,
                key=photo.photo_sha256,
            )
        table.display = bool(photos)
        if chosen is not None and chosen in table.rows:
            table.move_cursor(row=table.get_row_index(chosen))

    def on_photo_table_open(self, message: PhotoTable.Open) -> None:
        """Open a field photo with the system's viewer (or say where the file is)."""
        from uplink.photos import find_photo, photo_folder

        message.stop()
        path = find_photo(photo_folder(self.desk.ctx.db_path), message.sha256)
        if path is None:
            self.notify(_("The photo's file is missing"), severity="error")
            return
        if not self.desk.open_file(path):
            self.notify(_("No viewer here: the photo is {path}").format(path=path))

    def _show_timeline(self) -> None:
        """Fill the timeline, newest first; details wrap to the width the table has."""
        table = self.query_one("#timeline", DataTable)
        zone = self.desk.ctx.config.zone
        who_width = max((cell_len(e.operator) for e in self._entries), default=4)
        kinds = [kind_label(e.kind) for e in self._entries]
        kind_width = min(KIND_WIDTH[1], max((cell_len(k) for k in kinds), default=KIND_WIDTH[0]))
        kind_width = max(KIND_WIDTH[0], kind_width)
        # Each column has one cell of padding either side; keep a cell for the scrollbar.
        width = max(16, table.size.width - 2 * 4 - len("05-20 14:00") - who_width - kind_width - 2)
        table.clear(columns=True)
        table.add_column(_("Time"))
        table.add_column(_("Who"))
        table.add_column(_("Event"), width=kind_width)
        table.add_column(_("Details"), width=width)
        for entry in reversed(self._entries):
            kind = kind_label(entry.kind)
            style = "bold red" if entry.kind in ("supervise", "remind") else ""
            table.add_row(
                short(entry.at, zone),
                plain(entry.operator),
                Text(kind, style=style),
                Text(entry_detail(entry, zone, self._names)),
                height=None,
            )

    def on_resize(self, event: events.Resize) -> None:
        # Under NARROW columns the tasks and extensions go under the timeline (detail.tcss).
        self.set_class(event.size.width < NARROW, "-narrow")
        self.call_after_refresh(self._show_timeline)

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        incident = self.incident
        if action == "add_task":
            return True if incident is not None and incident.stage.is_open else None
        if action == "complete_task":
            task = self._highlighted_task()
            return True if task is not None and task.done_at is None else None
        if action == "report":
            return True if incident is not None else None
        if action == "sign_report":
            return self._report_in(ReportState.DRAFT) is not None
        if action == "send_report":
            return self._report_in(ReportState.SIGNED) is not None
        if action == "discard_report":
            return True if self._report_in(ReportState.DRAFT, ReportState.SIGNED) else None
        if action in REPORTING_ACTIONS:
            return self._reporting_allows(action)
        return super().check_action(action, parameters)

    def _reporting_allows(self, action: str) -> bool | None:
        """Whether a reporting action applies: once the case and its reporting facts are read;
        a mark to set only when it is not set, one to take off only when it is."""
        facts = self._reporting
        if self.incident is None or facts is None:
            return None
        wanted = {
            "mark_reported": not facts.marked,
            "unmark_reported": facts.marked,
            "mark_sensitive": not facts.sensitive,
            "unmark_sensitive": facts.sensitive,
        }
        return True if wanted.get(action, True) else None

    def on_data_table_row_highlighted(self) -> None:
        self.update_keys()

    def _highlighted_task(self) -> Task | None:
        table = self.query_one("#tasks", DataTable)
        if not self._tasks or not table.row_count:
            return None
        return self._tasks[min(table.cursor_row, len(self._tasks) - 1)]

    def action_back(self) -> None:
        self.dismiss()

    # ---- information reports ----------------------------------------------------------------

    def _highlighted_report(self) -> Sitrep | None:
        table = self.query_one("#sitreps", DataTable)
        if not self._sitreps or not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((s for s in self._sitreps if str(s.id) == row_key.value), None)

    def _report_in(self, *states: ReportState) -> Sitrep | None:
        """The report a key acts on: the highlighted one when it is in one of ``states``, else
        the newest that is (a written report, not one given by phone)."""
        chosen = self._highlighted_report()
        if chosen is not None and chosen.state in states and chosen.phoned_to is None:
            return chosen
        return next(
            (s for s in reversed(self._sitreps) if s.state in states and s.phoned_to is None),
            None,
        )

    def _case_words(self) -> str:
        incident = self.incident
        return f"{incident.number} {incident.title}" if incident is not None else ""

    def action_report(self) -> None:
        """报告: edit the report not sent yet (the highlighted one, or the case's draft), or
        draft the case's next one; then open the form."""
        incident = self._target()
        if incident is None:
            return
        open_report = self._report_in(ReportState.DRAFT, ReportState.SIGNED)
        if open_report is not None:
            self._open_form(open_report)
            return
        kind = new_report_kind(incident, self._sitreps)
        config = self.desk.ctx.config
        drafted: list[Sitrep] = []  # filled by the write worker, read once it succeeded

        def step(db: Database, clock: Clock, operator: str) -> str:
            from uplink import sitreps

            rules = config.sitrep
            drafted.append(
                sitreps.draft(
                    db, clock, rules, operator, incident.id, kind, unit_name=rules.unit_name
                )
            )
            return ""  # the form opens next: it says what was drafted

        self.write(
            step, after=lambda: self._open_form(drafted[0]), error_title=_("Information report")
        )

    def _open_form(self, sitrep: Sitrep) -> None:
        from console.tui.dialogs.sitrep import SitrepDialog, SitrepEdit

        ctx = self.desk.ctx
        number = self.incident.number if self.incident is not None else sitrep.case_number

        def saved(edit: SitrepEdit | None) -> None:
            if edit is None or edit.empty:
                return

            def step(db: Database, clock: Clock, operator: str) -> str:
                from uplink import sitreps

                sitreps.edit(
                    db,
                    clock,
                    operator,
                    sitrep.id,
                    fields=edit.fields or None,
                    figures=edit.figures or None,
                    as_of=edit.as_of,
                )
                return _("{number}: {report} saved as a draft").format(
                    number=number, report=sitrep.name
                )

            self.write(step, title="", error_title=_("Information report"))

        dialog = SitrepDialog(sitrep, self._case_words(), ctx.clock.now(), ctx.config.zone)
        self.app.push_screen(dialog, saved)

    def action_sign_report(self) -> None:
        """签发: sign the draft off, once confirmed: as the acting officer when they may sign
        reports off, else as whom the officer names (the shift lead at this desk)."""
        sitrep = self._report_in(ReportState.DRAFT)
        if sitrep is None:
            self.notify(_("no draft report to sign off"), severity="warning")
            return
        self._read_signers(sitrep)

    @work(thread=True, exclusive=True, exit_on_error=False, group="case-signers")
    def _read_signers(self, sitrep: Sitrep) -> None:
        """Who may sign reports off now (the configured names, the post, the roles)."""
        from uplink.sitreps import signers

        ctx = self.desk.ctx
        try:
            with self.desk.db_lock:
                names = signers(ctx.db, ctx.config.sitrep, ctx.clock.now())
        except DutydeskError as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title=_("Sign off"), severity="error", markup=False
            )
            return
        self.app.call_from_thread(self._ask_sign_off, sitrep, names)

    def _ask_sign_off(self, sitrep: Sitrep, names: list[str]) -> None:
        ctx = self.desk.ctx
        rules = ctx.config.sitrep
        number = sitrep.case_number

        def sign_as(signer: str | None) -> None:
            def step(db: Database, clock: Clock, operator: str) -> str:
                from uplink import sitreps

                signed = sitreps.sign(db, clock, rules, operator, sitrep.id, signer=signer)
                return _("{number}: {report} signed off by {signer}").format(
                    number=number, report=signed.name, signer=signed.signed_by
                )

            self.write(step, title="", error_title=_("Sign off"))

        if ctx.operator in names or not names:  # not entitled and nobody is: the service says so
            question = _(
                "Sign {report} of {number} off as {signer}? Once signed off it can be sent up; a"
                " change after this voids the sign-off."
            ).format(report=sitrep.name, number=number, signer=ctx.operator)

            def answered(yes: bool | None) -> None:
                if yes:
                    sign_as(None)

            self.app.push_screen(YesNoDialog(_("Sign off"), question), answered)
            return
        from console.tui.dialogs import TextDialog

        prompt = _(
            "{operator} may not sign reports off. Who signs {report} of {number} off? Entitled"
            " now: {names}"
        ).format(operator=ctx.operator, report=sitrep.name, number=number, names=", ".join(names))

        def named(signer: str | None) -> None:
            if signer is not None:
                sign_as(signer.strip())

        self.app.push_screen(TextDialog(_("Sign off"), prompt, value=names[0]), named)

    def action_send_report(self) -> None:
        """报送: send the signed report up through the uplink, once confirmed."""
        sitrep = self._report_in(ReportState.SIGNED)
        if sitrep is None:
            self.notify(_("no signed report to send"), severity="warning")
            return
        rules = self.desk.ctx.config.sitrep
        unit_name = rules.unit_name
        number = sitrep.case_number
        question = _(
            "Send {report} of {number}, signed off by {signer}, up now? A sent report is never"
            " changed: a correction is a new follow-up."
        ).format(report=sitrep.name, number=number, signer=sitrep.signed_by)

        def step(db: Database, clock: Clock, operator: str) -> str:
            from uplink import sitreps

            sent = sitreps.send(db, clock, operator, sitrep.id, unit_name=unit_name)
            # The obligation it meets is met now, on every screen, not at the engine's sweep.
            sitreps.catch_up(db, clock, rules)
            return _("{number}: {report} sent up").format(number=number, report=sent.name)

        def answered(yes: bool | None) -> None:
            if yes:
                self.write(step, title="", error_title=_("Send up"), after=self._wake_engine)

        self.app.push_screen(YesNoDialog(_("Send up"), question), answered)

    def _wake_engine(self) -> None:
        if self.desk.engine is not None:
            self.desk.engine.engine.wake()  # the uplink drains now, not at the next tick

    def action_discard_report(self) -> None:
        """Throw away the report not sent yet (highlighted, or the case's draft), once confirmed."""
        sitrep = self._report_in(ReportState.DRAFT, ReportState.SIGNED)
        if sitrep is None:
            return
        number = sitrep.case_number
        question = _("Discard {report} of {number}? The timeline keeps what it said.").format(
            report=sitrep.name, number=number
        )

        def step(db: Database, clock: Clock, operator: str) -> str:
            from uplink import sitreps

            sitreps.discard(db, clock, operator, sitrep.id)
            return _("{number}: {report} discarded").format(number=number, report=sitrep.name)

        def answered(yes: bool | None) -> None:
            if yes:
                self.write(step, title="", error_title=_("Information report"))

        self.app.push_screen(YesNoDialog(_("Discard report"), question), answered)

    # ---- the case's reporting facts: by phone, the marks, the received time ------------------

    def _reporting_write(self, done: Callable[[Database, Clock, str], str], title: str) -> None:
        """Run ``done`` in a write worker, then bring the case's deadlines up to date so the
        reporting line moves at once (not at the engine's next sweep); the uplink then drains
        what the write queued for the level above (a report by phone, the case's new facts)."""
        rules = self.desk.ctx.config.sitrep

        def step(db: Database, clock: Clock, operator: str) -> str:
            from uplink import sitreps

            said = done(db, clock, operator)
            sitreps.catch_up(db, clock, rules)
            return said

        self.write(step, title="", error_title=title, after=self._wake_engine)

    def action_phone_report(self) -> None:
        """电话报告: record a report given by phone (to whom, when, what was said)."""
        from console.tui.dialogs.case_reporting import PhoneReportDialog

        incident, facts = self._target(), self._reporting
        if incident is None or facts is None:
            return
        ctx = self.desk.ctx
        # Whom this case's reports were phoned to, the last first: the field starts with it.
        recipients: list[str] = []
        for sitrep in reversed(self._sitreps):
            if sitrep.phoned_to and sitrep.phoned_to not in recipients:
                recipients.append(sitrep.phoned_to)
        earliest = min(facts.received_at, incident.reported_at)
        dialog = PhoneReportDialog(
            self._case_words(), earliest, ctx.clock, ctx.config.zone, recipients
        )
        self.app.push_screen(dialog, lambda report: self._phoned(incident, report))

    def _phoned(self, incident: Incident, report: PhoneReport | None) -> None:
        if report is None:
            return
        zone = self.desk.ctx.config.zone

        def step(db: Database, clock: Clock, operator: str) -> str:
            from uplink import sitreps

            sitreps.phone(
                db, clock, operator, incident.id, to=report.to, at=report.at, note=report.note
            )
            return _("{number}: report by phone to {name} at {time} recorded").format(
                number=incident.number, name=report.to, time=local(report.at, zone)
            )

        self._reporting_write(step, _("Report by phone"))

    def action_toggle_reported(self) -> None:
        """报送 mark: set it when it is not set, else take it off (each after a question)."""
        facts = self._reporting
        if facts is not None and facts.marked:
            self.action_unmark_reported()
        else:
            self.action_mark_reported()

    def action_mark_reported(self) -> None:
        self._ask_mark(
            marked=True,
            question=_(
                "Mark {number} to be reported? It is then reportable whatever its level: the"
                " initial report is owed if it was not."
            ),
            done=_("{number}: marked to be reported"),
        )

    def action_unmark_reported(self) -> None:
        self._ask_mark(
            marked=False,
            question=_(
                "Take the to-be-reported mark off {number}? A report owed only because of the"
                " mark is no longer owed."
            ),
            done=_("{number}: no longer marked to be reported"),
        )

    def action_mark_sensitive(self) -> None:
        self._ask_mark(
            sensitive=True,
            question=_(
                "Mark {number} sensitive? It is then reportable whatever its level: the initial"
                " report is owed if it was not."
            ),
            done=_("{number}: marked sensitive"),
        )

    def action_unmark_sensitive(self) -> None:
        self._ask_mark(
            sensitive=False,
            question=_(
                "Take the sensitive mark off {number}? A report owed only because of the mark"
                " is no longer owed."
            ),
            done=_("{number}: no longer marked sensitive"),
        )

    def _ask_mark(
        self,
        *,
        question: str,
        done: str,
        marked: bool | None = None,
        sensitive: bool | None = None,
    ) -> None:
        """Ask ``question``, then set or take off a mark (``None``: left as it is)."""
        incident = self._target()
        if incident is None:
            return
        number = incident.number

        def step(db: Database, clock: Clock, operator: str) -> str:
            from uplink import sitreps

            sitreps.mark(db, clock, operator, incident.id, marked=marked, sensitive=sensitive)
            return done.format(number=number)

        def answered(yes: bool | None) -> None:
            if yes:
                self._reporting_write(step, _("Reporting marks"))

        dialog = YesNoDialog(_("Reporting marks"), question.format(number=number))
        self.app.push_screen(dialog, answered)

    def action_correct_received(self) -> None:
        """接报时间: correct when the case was received, with a reason (audited)."""
        from console.tui.dialogs.case_reporting import ReceivedDialog

        incident, facts = self._target(), self._reporting
        if incident is None or facts is None:
            return
        ctx = self.desk.ctx
        dialog = ReceivedDialog(
            self._case_words(),
            facts.received_at,
            facts.received_corrected,
            ctx.clock,
            ctx.config.zone,
        )
        self.app.push_screen(dialog, lambda fix: self._received(incident, fix))

    def _received(self, incident: Incident, fix: ReceivedCorrection | None) -> None:
        if fix is None:
            return
        zone = self.desk.ctx.config.zone

        def step(db: Database, clock: Clock, operator: str) -> str:
            from uplink import sitreps

            sitreps.correct_received(db, clock, operator, incident.id, fix.at, fix.reason)
            return _("{number}: received time corrected to {time}").format(
                number=incident.number, time=local(fix.at, zone)
            )

        self._reporting_write(step, _("Received time"))

    def action_add_task(self) -> None:
        incident = self._target()
        if incident is not None:
            self._ask(
                incident,
                "add_task",
                _("Task (what must be done)"),
                lambda title: (
                    lambda db, clock, _policy, operator, ref: workflow.add_task(
                        db, clock, operator, ref, title
                    )
                ),
            )

    def action_complete_task(self) -> None:
        incident, task = self._target(), self._highlighted_task()
        if incident is None or task is None:
            return
        self.apply(
            incident,
            "complete_task",
            lambda db, clock, _policy, operator, _ref: workflow.complete_task(
                db, clock, operator, task.id
            ),
        )

    # ---- undo -------------------------------------------------------------------------------

    def action_undo(self) -> None:
        """Take back this officer's last step on the case, once confirmed."""
        incident = self._target()
        if incident is not None:
            self._check_undo(incident.id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="case-undo")
    def _check_undo(self, case_id: int) -> None:
        """Find what an undo would take back (or why it cannot), then ask."""
        ctx = self.desk.ctx
        try:
            with self.desk.db_lock:
                plan = workflow.undoable(ctx.db, ctx.policy, ctx.operator, case_id, ctx.clock.now())
        except DutydeskError as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title=_("Undo"), severity="warning", markup=False
            )
            return
        self.app.call_from_thread(self._confirm_undo, plan)

    def _confirm_undo(self, plan: workflow.Undo) -> None:
        number = plan.incident.number
        question = _(
            "Undo '{step}' of {number}, taken at {time}? The case goes back to {stage} with"
            " the time limit it had; both steps stay in the timeline."
        ).format(
            step=kind_label(plan.step.kind),
            number=number,
            time=short(plan.step.at, self.desk.ctx.config.zone),
            stage=plan.stage.label,
        )
        policy = self.desk.ctx.policy

        def step(db: Database, clock: Clock, operator: str) -> str:
            workflow.undo(db, clock, policy, operator, plan.incident.id)
            return _("{number}: last step undone").format(number=number)

        def answered(yes: bool | None) -> None:
            if yes:
                self.write(step, title="", error_title=_("Undo"))

        self.app.push_screen(YesNoDialog(_("Undo"), question), answered)

    # ---- mobilizing from the case -----------------------------------------------------------

    def action_case_report(self) -> None:
        """The case's post-incident report: its key figures, then the file, written and opened."""
        from console.tui.dialogs.report import ReportDialog

        if self.incident is None:
            return
        self.app.push_screen(
            ReportDialog(case_id=self.incident.id, case_number=self.incident.number)
        )

    def action_mobilize(self) -> None:
        """动员: call out the case's grid (or other targets), the case's title as the message."""
        if self.incident is not None:
            self.app.push_screen(MobilizeDialog.for_incident(self.incident), self._mobilize)

    def _mobilize(self, request: MobilizeRequest | None) -> None:
        if request is not None and self.incident is not None:
            self._start_mobilization(self.incident.id, request)

    def _start_mobilization(self, incident_id: int, request: MobilizeRequest) -> None:
        config = self.desk.ctx.config
        started: list[int] = []  # filled by the write worker, read once it succeeded

        def step(db: Database, clock: Clock, operator: str) -> str:
            ensure_default_tree(db, clock, operator)  # a fresh installation has none yet
            started.append(
                start_mobilization(
                    db,
                    clock,
                    operator,
                    targets=list(request.targets),
                    message=request.message,
                    mode=request.mode,
                    need=request.need,
                    exercise=request.exercise,
                    incident_id=incident_id,
                    interval_s=config.mobilize_interval_s,
                    ttl=config.ack_ttl,
                )
            )
            return ""  # the mobilization's own screen, opened next, says it started

        self.write(step, after=lambda: self._mobilized(started[0]))

    def _mobilized(self, mob_id: int) -> None:
        if self.desk.engine is not None:
            self.desk.engine.engine.wake()  # the first messages go now, not at the next tick
        self.app.push_screen(MobilizationScreen(mob_id))
