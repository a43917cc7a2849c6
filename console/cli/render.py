"""Provides the CLI's output: the JSON shapes every command follows, and the human output of cases
(the case list, the case card, its timeline).

JSON (documented in the README, "JSON output"): a listing is ``{"items": [...], "next_after":
key|null}`` (:func:`listing_json`), a check is ``{"ok": bool, "problems": [{"code", "message",
"where"}...]}`` (:func:`check_json`), anything else is one object. Built here only, so every
command answers alike and a script reads them all the same way.

Headers and labels are English message ids shown in the current language (:mod:`store.i18n`);
the tables are :mod:`console.cli.tables`', aligned by display width.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Column, Table
from rich.text import Text

from console.cli.tables import table
from console.timefmt import local, short, time_left
from console.timeline import entry_details as timeline_details
from console.timeline import event_label, target_words
from incidents import models
from incidents.models import Incident, Stage, Task, TimelineEntry
from store.clock import to_iso
from store.i18n import N_, _

SEVERITY_STYLE = {
    1: "bold white on red",
    2: "bold black on dark_orange",
    3: "black on yellow",
    4: "bold white on blue",
}
# key -> header of ``dutydesk incident list``; the title takes the width left over.
TABLE_COLUMNS = (
    ("number", N_("number")),
    ("sev", N_("sev")),
    ("stage", N_("stage")),
    ("title", N_("title")),
    ("grid", N_("grid")),
    ("deadline", N_("deadline")),
    ("left", N_("left")),
)
TIMELINE_COLUMNS = (N_("at"), N_("operator"), N_("what"), N_("details"))
TASK_COLUMNS = (N_("id"), N_("title"), N_("owner"), N_("due"), N_("done"))
STAGE_CODES = frozenset(stage.value for stage in Stage)


def iso(at: datetime | None) -> str | None:
    return to_iso(at) if at else None


def listing_json(
    items: Iterable[Any], next_after: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON of every listing: its ``items`` and the key of the next page (``None``: no more);
    ``extra`` keys add what a listing reports besides (the time it is for, missed drills)."""
    return {"items": list(items), "next_after": next_after, **extra}


def problem_json(code: str, message: str, where: Any = None) -> dict[str, Any]:
    """One problem a check found: a stable ``code``, a ``message`` for people and ``where``
    (what it is about: a grid, a tree node, a post and a time... ``None`` when it is everywhere)."""
    return {"code": code, "message": message, "where": where}


def check_json(problems: Iterable[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    """The JSON of every check: ``ok`` when nothing was found, and the ``problems`` (each made
    by :func:`problem_json`); ``extra`` keys add what a check reports besides (``checks``)."""
    found = [dict(p) for p in problems]
    return {"ok": not found, "problems": found, **extra}


def severity_text(incident: Incident) -> Text:
    level = incident.severity
    return Text(f" {level.roman:<3}", style=SEVERITY_STYLE[int(level)])


def stage_text(incident: Incident, *, long: bool = False) -> str:
    """``handling`` plus ``supervised`` / ``parked``; the long form puts the flags in brackets."""
    flags = [
        _(name)
        for name, on in ((N_("supervised"), incident.supervised), (N_("parked"), incident.parked))
        if on
    ]
    text = incident.stage.label
    if long:
        return text + (" [" + ", ".join(flags) + "]" if flags else "")
    return " ".join([text, *flags])


def category_label(incident: Incident) -> str:
    """``natural disaster/flood``: the case's category and type in the current language."""
    return f"{models.category_label(incident.category)}/{models.type_label(incident.type)}"


def incident_table(items: list[Incident], now: datetime, zone: ZoneInfo) -> Table:
    headers: list[str | Column] = [
        Column(_(name), ratio=1, min_width=14, no_wrap=True, overflow="ellipsis")
        if key == "title"
        else _(name)
        for key, name in TABLE_COLUMNS
    ]
    listing = table(headers)
    for item in items:
        left, overdue = time_left(item.deadline if not item.parked else None, now)
        listing.add_row(
            item.number,
            severity_text(item),
            stage_text(item),
            item.title,
            item.grid or "",
            short(item.deadline, zone),
            Text(left, style="bold red" if overdue else ""),
        )
    return listing


def incident_card(
    incident: Incident,
    entries: list[TimelineEntry],
    tasks: list[Task],
    now: datetime,
    zone: ZoneInfo,
    names: Mapping[str, str] | None = None,
) -> list[Any]:
    """The case card: facts, timeline, tasks; ``names``: written targets → names
    (:func:`contacts.directory.labels`), so an assignee reads 刘静, not ``person:#12``."""
    left, overdue = time_left(incident.deadline if not incident.parked else None, now)
    level = incident.severity
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(
        _("case"), _("{number}  (id {id})").format(number=incident.number, id=incident.id)
    )
    facts.add_row(_("title"), incident.title)
    facts.add_row(_("stage"), stage_text(incident, long=True))
    facts.add_row(
        _("severity"),
        Text.assemble(
            severity_text(incident),
            " ",
            _("{name} ({color})").format(name=level.label, color=level.color_name),
        ),
    )
    facts.add_row(_("urgency"), incident.urgency.label)
    facts.add_row(_("category"), category_label(incident))
    facts.add_row(
        _("deadline"),
        Text.assemble(
            local(incident.deadline, zone) or "-",
            "  ",
            Text(left, style="bold red" if overdue else ""),
        ),
    )
    facts.add_row(_("location"), incident.location or "-")
    facts.add_row(_("grid"), incident.grid or "-")
    facts.add_row(
        _("assignee"), target_words(incident.assignee, names) if incident.assignee else "-"
    )
    facts.add_row(
        _("reporter"),
        " ".join(x for x in (incident.reporter_name, incident.reporter_phone) if x) or "-",
    )
    facts.add_row(_("source"), incident.source.label)
    facts.add_row(_("tags"), ", ".join(incident.tags) or "-")
    facts.add_row(_("reported at"), local(incident.reported_at, zone))
    if incident.description:
        facts.add_row(_("description"), incident.description)
    if incident.merged_into:
        facts.add_row(_("merged into"), _("id {id}").format(id=incident.merged_into))
    timeline = table(
        [_(name) for name in TIMELINE_COLUMNS],
        title=_("timeline"),
        wrap={len(TIMELINE_COLUMNS) - 1},
        edge=True,
    )
    for entry in entries:
        what = entry_kind(entry)
        if entry.stage_to and entry.stage_to.label != what:
            what += f" → {entry.stage_to.label}"
        details = entry_details(entry, zone, names)
        timeline.add_row(local(entry.at, zone), entry.operator, what, details)
    parts: list[Any] = [facts, timeline]
    if tasks:
        task_table = table(
            [_(name) for name in TASK_COLUMNS], title=_("tasks"), no_wrap=False, edge=True
        )
        for task in tasks:
            due = local(task.due, zone)
            if task.overdue_at(now):
                due = "[bold red]" + _("{time} overdue").format(time=due) + "[/]"
            task_table.add_row(
                str(task.id), task.title, task.owner or "", due, local(task.done_at, zone)
            )
        parts.append(task_table)
    return parts


def entry_kind(entry: TimelineEntry) -> str:
    """What an entry is, in people's words (:func:`console.timeline.event_label`)."""
    if entry.kind in STAGE_CODES:
        return Stage(entry.kind).label
    return event_label(entry.kind)


def entry_details(
    entry: TimelineEntry, zone: ZoneInfo, names: Mapping[str, str] | None = None
) -> str:
    """One line of what an entry recorded, in people's words, times in the office's zone."""
    return timeline_details(entry, zone, names=names)


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
