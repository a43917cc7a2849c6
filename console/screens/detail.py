"""Provides the detail screen of one case: stage bar, deadline, facts, timeline, tasks, extensions.

The same action keys as the incidents view work here on the case shown; ``t`` adds a task and
``c`` completes the task under the tasks table's cursor. The screen reads the case again
whenever the app reports a change, from this console or another process.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Label, Static

from console.dialogs import MobilizeDialog, MobilizeRequest
from console.messages import IncidentsChanged
from console.render import category_label
from console.screens.actions import CASE_COMMANDS, CaseScreen
from console.screens.incidents import CLOCK_SECONDS
from console.screens.mobilization import MobilizationScreen
from console.timefmt import local, short
from console.widgets import StageBar
from console.widgets.cells import fit, plain, time_left
from contacts.mobilize import start_mobilization
from incidents import workflow
from incidents.models import SOURCE_ZH, Extension, Incident, Severity, Task, TimelineEntry
from incidents.records import get_incident, tasks_of, timeline
from store.clock import from_iso
from store.errors import DutydeskError, NotFound

KIND_ZH = {
    "reported": "上报",
    "register": "立案",
    "dispatch": "派遣",
    "handle": "处置",
    "feedback": "反馈",
    "verify": "核查",
    "close": "结案",
    "void": "作废",
    "return": "回退",
    "reopen": "重开",
    "merge": "合并",
    "merged_in": "并入",
    "park": "挂账",
    "unpark": "取消挂账",
    "note": "备注",
    "assign": "指派",
    "edit": "修改",
    "extension_requested": "申请延期",
    "extension_approved": "延期审批",
    "extension_granted": "延期批准",
    "extension_rejected": "延期驳回",
    "supervise": "督办",
    "remind": "催办",
    "task_added": "新任务",
    "task_done": "任务完成",
}
_DETAIL_KEYS = ("title", "text", "result", "reason", "to", "note", "into", "duplicate")
EXTENSION_ZH = {"pending": "待批", "granted": "已批", "rejected": "驳回", "lapsed": "失效"}


def entry_detail(entry: TimelineEntry, zone: ZoneInfo) -> str:
    """One line saying what a timeline entry did, for the timeline table."""
    data = entry.data
    parts: list[str] = []
    if entry.stage_to is not None and entry.kind != "reported":
        start = entry.stage_from.label_zh if entry.stage_from else ""
        parts.append(f"{start}→{entry.stage_to.label_zh}")
    parts.extend(str(data[key]) for key in _DETAIL_KEYS if data.get(key))
    if entry.kind == "verify" and data.get("passed") is False:
        parts.insert(1, "不通过 failed")
    if entry.kind == "remind":
        parts.append(f"第{data.get('n')}次 #{data.get('n')}")
    if entry.kind == "edit":
        changes = data.get("changes", {})
        parts.extend(f"{name}: {old} → {new}" for name, (old, new) in changes.items())
    for key in ("until", "deadline"):
        if data.get(key):
            parts.append(f"时限 {short(from_iso(str(data[key])), zone)}")
    return "  ".join(parts)


def task_status(task: Task, now: datetime) -> Text:
    if task.done_at is not None:
        return Text("✓ done", style="green")
    if task.overdue_at(now):
        return Text("overdue", style="bold red")
    return Text("open", style="dim")


class IncidentDetailScreen(CaseScreen):
    """One case in full."""

    CSS_PATH = "detail.tcss"
    BINDINGS = [
        *CaseScreen.BINDINGS,
        Binding("t", "add_task", "任务"),
        Binding("c", "complete_task", "完成任务"),
        Binding("M", "mobilize", "动员"),
        Binding("escape", "back", "返回"),
    ]
    COMMANDS_OFFERED = (
        *CASE_COMMANDS,
        ("add_task", "任务 Add task", "Add a task to this case (t)"),
        ("complete_task", "完成任务 Complete task", "Mark the highlighted task done (c)"),
        ("mobilize", "动员 Mobilize", "Call out the case's grid or teams (M)"),
        ("back", "返回 Back to the list", "Back to the incidents table (escape)"),
    )
    CASE_ACTIONS = frozenset({*CaseScreen.CASE_ACTIONS, "add_task", "complete_task"})

    def __init__(self, incident_id: int) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.incident: Incident | None = None
        self._tasks: list[Task] = []
        self._entries: list[TimelineEntry] = []
        self._dirty = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="detail-top"):
            with Horizontal(id="detail-title"):
                yield Static(id="detail-number")
                yield Static(id="detail-severity", classes="severity")
                yield Static(id="detail-title-text")
            yield StageBar(id="stage-bar")
            yield Static(id="detail-deadline")
        yield Static(id="facts")
        with Horizontal(id="detail-body"):
            with Vertical(id="detail-timeline"):
                yield Label("时间线 Timeline", classes="section-title")
                yield DataTable(id="timeline", cursor_type="row")
            with Vertical(id="detail-side"):
                yield Label("任务 Tasks", classes="section-title")
                yield DataTable(id="tasks", cursor_type="row")
                yield Label("延期 Extensions", classes="section-title")
                yield DataTable(id="extensions", cursor_type="none")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tasks", DataTable).add_columns("任务 task", "负责 owner", "期限 due", "")
        self.query_one("#extensions", DataTable).add_columns(
            "#", "理由 reason", "新时限 until", "状态 status"
        )
        self.load()
        self.query_one("#timeline").focus()
        self.set_interval(CLOCK_SECONDS, self._tick)

    def _tick(self) -> None:
        """Move the time left on; the data itself is reloaded when it changes."""
        if self.incident is not None:
            ctx = self.desk.ctx
            self._show_head(self.incident, self._entries, ctx.clock.now(), ctx.config.zone)

    def selected_incident(self) -> Incident | None:
        return self.incident

    # ---- reading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the case, its timeline, tasks and extensions (small indexed reads)."""
        ctx = self.desk.ctx
        try:
            with self.desk.db_lock:
                incident = get_incident(ctx.db, self.incident_id)
                entries = timeline(ctx.db, self.incident_id)
                tasks = tasks_of(ctx.db, self.incident_id)
                extensions = workflow.extensions_of(ctx.db, self.incident_id)
        except NotFound as exc:
            self.notify(str(exc), severity="error", markup=False)
            self.dismiss()
            return
        self.incident = incident
        self._tasks = tasks
        self.sub_title = f"{incident.number} {incident.title}"
        now, zone = ctx.clock.now(), ctx.config.zone
        self._show_head(incident, entries, now, zone)
        self._show_facts(incident, zone)
        self._show_tasks(tasks, now, zone)
        self._show_extensions(extensions, zone)
        self._entries = entries
        self._show_timeline()
        self.update_keys()

    def _show_head(
        self, incident: Incident, entries: list[TimelineEntry], now: datetime, zone: ZoneInfo
    ) -> None:
        self.query_one("#detail-number", Static).update(incident.number)
        badge = self.query_one("#detail-severity", Static)
        badge.update(f"{incident.severity.roman} {incident.severity.label_zh}")
        for level in Severity:
            badge.set_class(level is incident.severity, f"-level-{level.value}")
        self.query_one("#detail-title-text", Static).update(plain(incident.title))
        left_from = next(
            (e.stage_from for e in reversed(entries) if e.stage_to == incident.stage), None
        )
        self.query_one(StageBar).show(incident.stage, left_from)
        line = Text()
        if incident.deadline is not None:
            line.append(f"时限 deadline {local(incident.deadline, zone)}  ")
            line.append_text(time_left(incident, now))
        elif incident.stage.is_open:
            line.append("挂账 parked: no deadline" if incident.parked else "no deadline")
        else:
            line.append(f"{incident.stage.label_zh} {local(incident.closed_at, zone)}")
        if incident.supervised:
            line.append("  ")
            line.append(" 督办 supervised ", style="bold white on red")
        if incident.parked:
            line.append("  ")
            line.append(" 挂账 parked ", style="reverse")
        if incident.extensions:
            line.append(f"  延期 extended ×{incident.extensions}")
        if incident.reminders:
            line.append(f"  催办 reminded ×{incident.reminders}", style="red")
        self.query_one("#detail-deadline", Static).update(line)

    def _show_facts(self, incident: Incident, zone: ZoneInfo) -> None:
        label_width = cell_len("描述 description")
        grid = Table.grid(padding=(0, 2), expand=True)
        for _ in range(2):
            grid.add_column(style="dim", no_wrap=True, min_width=label_width)
            grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        reporter = " ".join(x for x in (incident.reporter_name, incident.reporter_phone) if x)
        pairs = (
            ("类别 class", category_label(incident)),
            ("紧急 urgency", f"{incident.urgency.label_zh} {incident.urgency.value}"),
            ("地点 place", incident.location),
            ("网格 grid", incident.grid or ""),
            ("报告人 reporter", reporter),
            ("来源 source", SOURCE_ZH[incident.source]),
            ("责任 assignee", incident.assignee or ""),
            ("上报 reported", local(incident.reported_at, zone)),
            ("标签 tags", ", ".join(incident.tags)),
            ("本阶段 since", local(incident.stage_since, zone)),
        )
        for (left, left_value), (right, right_value) in zip(pairs[::2], pairs[1::2], strict=True):
            grid.add_row(left, plain(left_value or "—"), right, plain(right_value or "—"))
        description = Table.grid(padding=(0, 2))
        description.add_column(style="dim", no_wrap=True, min_width=label_width)
        description.add_column(ratio=1)
        description.add_row("描述 description", Text(incident.description or "—"))
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
            status = EXTENSION_ZH.get(ext.status, ext.status)
            if ext.status == "pending":
                status += f" {len(ext.approvals)}/{ext.approvals_needed}"
            table.add_row(
                str(ext.seq),
                fit(ext.reason, 16),
                short(ext.new_deadline, zone),
                status,
            )

    def _show_timeline(self) -> None:
        """Fill the timeline, newest first; details wrap to the width the table has."""
        table = self.query_one("#timeline", DataTable)
        zone = self.desk.ctx.config.zone
        who_width = max((cell_len(e.operator) for e in self._entries), default=4)
        kind_width = 8
        # Each column has one cell of padding either side; keep a cell for the scrollbar.
        width = max(16, table.size.width - 2 * 4 - len("05-20 14:00") - who_width - kind_width - 2)
        table.clear(columns=True)
        table.add_column("时间 at")
        table.add_column("人 who")
        table.add_column("事项", width=kind_width)
        table.add_column("详情", width=width)
        for entry in reversed(self._entries):
            kind = KIND_ZH.get(entry.kind, entry.kind)
            style = "bold red" if entry.kind in ("supervise", "remind") else ""
            table.add_row(
                short(entry.at, zone),
                plain(entry.operator),
                Text(kind, style=style),
                Text(entry_detail(entry, zone)),
                height=None,
            )

    def on_resize(self) -> None:
        self.call_after_refresh(self._show_timeline)

    def on_incidents_changed(self, message: IncidentsChanged) -> None:
        if self.is_current:
            self.load()
        else:
            self._dirty = True

    def on_screen_resume(self) -> None:
        if self._dirty:
            self._dirty = False
            self.load()

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        incident = self.incident
        if action == "add_task":
            return True if incident is not None and incident.stage.is_open else None
        if action == "complete_task":
            task = self._highlighted_task()
            return True if task is not None and task.done_at is None else None
        return super().check_action(action, parameters)

    def on_data_table_row_highlighted(self) -> None:
        self.update_keys()

    def _highlighted_task(self) -> Task | None:
        table = self.query_one("#tasks", DataTable)
        if not self._tasks or not table.row_count:
            return None
        return self._tasks[min(table.cursor_row, len(self._tasks) - 1)]

    def action_back(self) -> None:
        self.dismiss()

    def action_add_task(self) -> None:
        incident = self._target()
        if incident is not None:
            ctx = self.desk.ctx
            self._ask(
                incident,
                "add_task",
                "任务 Task (what must be done)",
                lambda title: workflow.add_task(
                    ctx.db, ctx.clock, ctx.operator, incident.id, title
                ),
            )

    def action_complete_task(self) -> None:
        incident, task = self._target(), self._highlighted_task()
        if incident is None or task is None:
            return
        ctx = self.desk.ctx
        self.apply(
            incident,
            "complete_task",
            lambda: workflow.complete_task(ctx.db, ctx.clock, ctx.operator, task.id),
        )

    # ---- mobilizing from the case -----------------------------------------------------------

    def action_mobilize(self) -> None:
        """动员: call out the case's grid (or other targets), the case's title as the message."""
        if self.incident is not None:
            self.app.push_screen(MobilizeDialog.for_incident(self.incident), self._mobilize)

    def _mobilize(self, request: MobilizeRequest | None) -> None:
        if request is not None and self.incident is not None:
            self._start_mobilization(self.incident.id, request)

    @work(thread=True, exit_on_error=False, group="mobilize")
    def _start_mobilization(self, incident_id: int, request: MobilizeRequest) -> None:
        ctx = self.desk.ctx
        try:
            with self.desk.db_lock:
                mob_id = start_mobilization(
                    ctx.db,
                    ctx.clock,
                    ctx.operator,
                    targets=list(request.targets),
                    message=request.message,
                    mode=request.mode,
                    need=request.need,
                    exercise=request.exercise,
                    incident_id=incident_id,
                    interval_s=ctx.config.mobilize_interval_s,
                    ttl=ctx.config.ack_ttl,
                )
        except DutydeskError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._mobilized, mob_id)

    def _mobilized(self, mob_id: int) -> None:
        if self.desk.engine is not None:
            self.desk.engine.engine.wake()  # the first messages go now, not at the next tick
        self.desk.announce_change(own=True)
        self.app.push_screen(MobilizationScreen(mob_id))
