"""Provides the CLI's human output: case tables, case cards, timelines (rich, to stdout)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from rich.text import Text

from console.timefmt import local, short, time_left
from incidents.models import CATEGORIES, Incident, Task, TimelineEntry
from store.clock import from_iso, to_iso

SEVERITY_STYLE = {
    1: "bold white on red",
    2: "bold black on dark_orange",
    3: "black on yellow",
    4: "bold white on blue",
}


def iso(at: datetime | None) -> str | None:
    return to_iso(at) if at else None


def out() -> Console:
    """stdout; when piped, wide enough that no column is cut (rich assumes 80 otherwise)."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=160)
    return console


def severity_text(incident: Incident) -> Text:
    level = incident.severity
    return Text(f" {level.roman:<3}", style=SEVERITY_STYLE[int(level)])


def stage_text(incident: Incident, *, long: bool = False) -> str:
    """``handling`` plus 督 (supervised) / 挂 (parked); the long form adds the Chinese stage."""
    text = incident.stage.value + (f" {incident.stage.label_zh}" if long else "")
    flags = [f for f, on in (("督办", incident.supervised), ("挂账", incident.parked)) if on]
    if long:
        return text + (" [" + ",".join(flags) + "]" if flags else "")
    return text + "".join(" " + f[0] for f in flags)


def category_label(incident: Incident) -> str:
    label, types = CATEGORIES[incident.category]
    return f"{label}/{types.get(incident.type, incident.type)}"


def incident_table(items: list[Incident], now: datetime, zone: ZoneInfo) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("number", "sev", "stage", "title", "grid", "deadline", "left"):
        if name == "title":
            table.add_column(name, ratio=1, min_width=14, no_wrap=True, overflow="ellipsis")
        else:
            table.add_column(name, no_wrap=True)
    for item in items:
        left, overdue = time_left(item.deadline if not item.parked else None, now)
        table.add_row(
            item.number,
            severity_text(item),
            stage_text(item),
            item.title,
            item.grid or "",
            short(item.deadline, zone),
            Text(left, style="bold red" if overdue else ""),
        )
    return table


def incident_card(
    incident: Incident,
    entries: list[TimelineEntry],
    tasks: list[Task],
    now: datetime,
    zone: ZoneInfo,
) -> list[Any]:
    left, overdue = time_left(incident.deadline if not incident.parked else None, now)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("case", f"{incident.number}  (id {incident.id})")
    facts.add_row("title", incident.title)
    facts.add_row("stage", stage_text(incident, long=True))
    facts.add_row(
        "severity", Text.assemble(severity_text(incident), f" {incident.severity.label_zh}")
    )
    facts.add_row("urgency", f"{incident.urgency.value} {incident.urgency.label_zh}")
    facts.add_row("category", category_label(incident))
    facts.add_row(
        "deadline",
        Text.assemble(
            local(incident.deadline, zone) or "-",
            "  ",
            Text(left, style="bold red" if overdue else ""),
        ),
    )
    facts.add_row("location", incident.location or "-")
    facts.add_row("grid", incident.grid or "-")
    facts.add_row("assignee", incident.assignee or "-")
    facts.add_row(
        "reporter",
        " ".join(x for x in (incident.reporter_name, incident.reporter_phone) if x) or "-",
    )
    facts.add_row("source", f"{incident.source.value} {incident.source.label_zh}")
    facts.add_row("tags", ", ".join(incident.tags) or "-")
    facts.add_row("reported", local(incident.reported_at, zone))
    if incident.description:
        facts.add_row("description", incident.description)
    if incident.merged_into:
        facts.add_row("merged into", f"id {incident.merged_into}")
    timeline = Table(title="timeline", box=None, header_style="bold", title_justify="left")
    for name in ("at", "operator", "what", "details"):
        timeline.add_column(name, no_wrap=name != "details")
    for entry in entries:
        what = entry.kind
        if entry.stage_to and entry.stage_to.value != entry.kind:
            what += f" → {entry.stage_to.value}"
        details = entry_details(entry, zone)
        timeline.add_row(local(entry.at, zone), entry.operator, what, details)
    parts: list[Any] = [facts, timeline]
    if tasks:
        task_table = Table(title="tasks", box=None, header_style="bold", title_justify="left")
        for name in ("id", "title", "owner", "due", "done"):
            task_table.add_column(name)
        for task in tasks:
            due = local(task.due, zone)
            if task.overdue_at(now):
                due = f"[bold red]{due} overdue[/]"
            task_table.add_row(
                str(task.id), task.title, task.owner or "", due, local(task.done_at, zone)
            )
        parts.append(task_table)
    return parts


TIME_KEYS = ("deadline", "until", "due")


def entry_details(entry: TimelineEntry, zone: ZoneInfo) -> str:
    """One line of what an entry recorded, times in the office's zone."""
    data = entry.data
    if entry.kind == "reported":
        return f"{data.get('title')} ({data.get('category')}/{data.get('type')})"
    parts = []
    for key, value in data.items():
        if value in (None, "", []):
            continue
        if key in TIME_KEYS and isinstance(value, str):
            value = local(from_iso(value), zone)
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def task_json(task: Task, now: datetime) -> dict[str, Any]:
    return {
        "id": task.id,
        "incident_id": task.incident_id,
        "title": task.title,
        "owner": task.owner,
        "due": iso(task.due),
        "done_at": iso(task.done_at),
        "done_by": task.done_by,
        "overdue": task.overdue_at(now),
    }


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "operator": entry.operator,
        "kind": entry.kind,
        "stage_from": entry.stage_from.value if entry.stage_from else None,
        "stage_to": entry.stage_to.value if entry.stage_to else None,
        "data": entry.data,
    }
