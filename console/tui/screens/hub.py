"""Provides the hub's console (下级单位): the units that report to this county, their cases, and
what was received of one case.

On a county hub (``[hub] enabled``, or units registered) ``b`` opens :class:`HubUnitsScreen`:
one row per unit with its open cases by level, overdue, supervised, active mobilizations, the
time of its last contact and a red ``⚠ SILENT`` where it has been quiet longer than
``[hub] silent_minutes``; beside the flags, its information reports owed (computed under this
hub's ``[sitrep]`` rules from what the unit sent, :mod:`uplink.timeliness`): initial reports
missing (漏报) in red, other reports overdue, reports due; the status line adds the late ones
(迟报) of the last 30 days. Enter drills into the unit's cases (:class:`HubCasesScreen`: open ones
first, overdue ones in red, cases the unit no longer has flagged as lost), and Enter on a case
shows the events received for it (:class:`HubTimelineScreen`), each with its payload.

``w`` lists the warnings this hub sent down (:class:`HubAlertsScreen`: colour and event in
words, how many units received it, started their 叫应, answered, and how many are flagged);
Enter opens one warning's board (:class:`HubAlertScreen`): per unit of its area, when it was
received (and how), when its 叫应 started (or why not), answered of called, how fast the first
answer came, who is still silent and for how long, and a red ``⚠`` flag where the unit had not
received the warning or not started its 叫应 within ``[hub] call_start_minutes``
(:func:`uplink.hub.alert_view`).

What is shown is the hub's read model (:mod:`uplink.hub`), kept apart from the county's own
cases, which stay in the usual screens. The read model changes when a unit's batch arrives at
``dutydesk serve``, which the console's change watcher does not see, and "last contact" and
"silent" move with the time alone: each screen reads again every few seconds while it is shown
(the reports owed, which take longer to compute, once a minute).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static

from console.timefmt import short, span
from console.tui.screens.live import LiveScreen
from console.tui.widgets.cells import fit, severity_badge
from console.tui.widgets.keybar import KeyBar
from incidents.models import Severity, Stage
from store.i18n import N_, _, ngettext
from uplink.hub import (
    AlertUnit,
    AlertView,
    HubCase,
    HubUnit,
    ReceivedEvent,
    UnitOverview,
    case_timeline,
    cases,
    get_unit,
    overview,
)
from uplink.models import Kind, ReceivedState
from uplink.timeliness import ReportCounts, report_counts

LIMIT = 1000  # cases of one unit shown at most; all of them are in `dutydesk hub cases --unit`
REREAD_SECONDS = 5.0
REPORT_DAYS = 30  # reports owed that fell due this far back count on the units screen
# The reports owed are computed from every recent case's events (seconds for a large county,
# under the database lock): at most this often, not at every reread.
REPORTS_EVERY_SECONDS = 60.0
TITLE_WIDTH = 36
SUMMARY_WIDTH = 40
ALERT = "⚠"
LOST = "✖"
NO_DEADLINE = datetime.max.replace(tzinfo=UTC)

# (key, header): the headers are English message ids, shown with _(); the levels' are badges.
UNIT_COLUMNS = (
    ("code", N_("code")),
    ("name", N_("unit name")),
    ("flags", N_("flags")),  # before the counts: a silent unit is seen on a narrow terminal too
    ("reports", N_("reports owed")),  # missing, overdue, due: seen on a narrow terminal too
    *((level.roman, level.roman) for level in Severity),
    ("open", N_("open")),
    ("overdue", N_("overdue")),
    ("supervised", N_("supervised")),
    ("mobilizations", N_("mobilizing")),
    ("contact", N_("last contact")),
)
CASE_COLUMNS = (
    ("number", N_("case")),
    ("level", N_("level")),
    ("title", N_("title")),
    ("stage", N_("stage")),
    ("left", N_("time left")),
    ("changed", N_("last change")),
    ("flags", N_("flags")),
)
EVENT_COLUMNS = (
    ("seq", "#"),
    ("kind", N_("kind")),
    ("at", N_("happened")),
    ("received", N_("received")),
    ("state", N_("state")),
    ("what", N_("what")),
)
# Kinds of uplink events (uplink.models.Kind values) -> what the timeline calls them.
# The style of each state of a received event (the words: uplink.models.ReceivedState).
STATE_STYLES = {"applied": "", "held": "bold yellow", "superseded": "dim"}


def ago(at: datetime | None, now: datetime) -> str:
    """``3m ago``, ``2h05m ago``; ``just now`` under a minute; ``never`` for no time."""
    if at is None:
        return _("never")
    delta = now - at
    if delta < timedelta(minutes=1):
        return _("just now")
    return _("{span} ago").format(span=span(delta))


def level_of(roman: str) -> Severity | None:
    try:
        return Severity[roman]
    except KeyError:
        return None


def level_count(roman: str, count: int) -> Text:
    """A count of cases of one level: on the level's colour when there are any, else a dim 0."""
    level = level_of(roman)
    if not count or level is None:
        return Text(str(count), style="dim", justify="right")
    badge = severity_badge(level)
    return Text(f" {count:,} ", style=badge.style, justify="right")


def stage_words(stage: str) -> str:
    try:
        return Stage(stage).label
    except ValueError:
        return stage


def alerting(count: int, label: str = "") -> Text:
    """A count that is bad news when not zero: ``⚠ 2`` in red, else plain."""
    if not count:
        return Text(str(count), justify="right")
    return Text(f"{ALERT} {label}{count:,}", style="bold red", justify="right")


def unit_flags(row: UnitOverview) -> Text:
    """``⚠ SILENT`` (red), ``revoked``, ``hub of 3``: what to know about a unit beyond counts."""
    text = Text(no_wrap=True)
    if row.silent:
        text.append(f"{ALERT} {_('SILENT')}", style="bold red")
    if row.unit.revoked_at is not None:
        text.append(" " if text else "")
        text.append(_("revoked"), style="dim")
    if row.children:
        text.append(" " if text else "")
        text.append(_("hub of {count}").format(count=row.children), style="dim")
    return text


def report_cell(counts: ReportCounts) -> Text:
    """``⚠ missing 1 overdue 2 due 1``: the unit's reports owed; a dim 0 when none."""
    text = Text(no_wrap=True)
    parts = (
        (counts.missing, f"{ALERT} " + _("missing {count}"), "bold red"),
        (counts.overdue, _("overdue {count}"), "red"),
        (counts.due, _("due {count}"), "yellow"),
    )
    for count, words, style in parts:
        if count:
            text.append(" " if text else "")
            text.append(words.format(count=f"{count:,}"), style=style)
    return text if text else Text("0", style="dim")


def unit_row(row: UnitOverview, now: datetime, counts: ReportCounts) -> tuple[object, ...]:
    code = Text(row.unit.code, style="bold red" if row.silent else "bold")
    contact = Text(ago(row.unit.last_contact_at, now), style="bold red" if row.silent else "")
    return (
        code,
        fit(row.unit.name, 24),
        unit_flags(row),
        report_cell(counts),
        *(level_count(level.roman, row.by_severity.get(level.roman, 0)) for level in Severity),
        Text(f"{row.open_cases:,}", justify="right"),
        alerting(row.overdue),
        Text(f"{row.supervised:,}", justify="right"),
        Text(f"{row.active_mobilizations:,}", justify="right"),
        contact,
    )


def open_first(found: list[HubCase]) -> list[HubCase]:
    """Open cases first, overdue ones at the top, then by deadline; then the rest, newest first."""
    active = [c for c in found if c.active]
    active.sort(key=lambda c: (not c.overdue, c.deadline or NO_DEADLINE, c.number))
    rest = sorted((c for c in found if not c.active), key=lambda c: c.last_change_at, reverse=True)
    return active + rest


def time_left(case: HubCase, now: datetime) -> Text:
    """What is left of the case's stage limit at the unit, or how long it is overdue (red)."""
    if not case.active:
        return Text("")
    if case.overdue:
        if case.deadline is not None and now > case.deadline:
            words = _("overdue {time}").format(time=span(now - case.deadline))
        else:
            words = _("overdue")
        return Text(f"{ALERT} {words}", style="bold red")
    if case.deadline is None:
        return Text("")
    left = case.deadline - now
    return Text(span(left), style="yellow" if left < timedelta(hours=1) else "")


def case_row(case: HubCase, now: datetime, zone: ZoneInfo) -> tuple[object, ...]:
    level = level_of(case.severity)
    stage = Text(stage_words(case.stage), style="" if case.active else "dim")
    if case.supervised:
        stage.append(" " + _("supervised"), style="bold red")
    flags = Text(no_wrap=True)
    if case.lost:
        flags.append(f"{LOST} {_('lost at the unit')}", style="bold magenta")
    return (
        Text(case.number, style="bold red" if case.overdue and case.active else ""),
        severity_badge(level) if level is not None else Text(case.severity),
        fit(case.title, TITLE_WIDTH),
        stage,
        time_left(case, now),
        short(case.last_change_at, zone),
        flags,
    )


def event_summary(event: ReceivedEvent) -> str:
    """What the event changed, in a few words: ``registered → dispatched``, the fields edited,
    the case it was merged into, what a resynchronisation knew, or which report was sent."""
    payload = event.payload
    if event.kind == "resync":
        if payload.get("case") is None:
            return _("the unit no longer has this case")
        return _("the unit's state after a restore (hub had {known})").format(
            known=payload.get("known", "?")
        )
    report = payload.get("report")
    if event.kind == Kind.REPORT.value and isinstance(report, dict):
        words = [str(report.get("name") or "")]
        if report.get("signed_by"):
            words.append(_("signed off by {name}").format(name=report["signed_by"]))
        if report.get("to"):
            words.append(_("by phone to {name}").format(name=report["to"]))
        return " · ".join(w for w in words if w)
    change = payload.get("change")
    if not isinstance(change, dict):
        return ""
    parts: list[str] = []
    if event.kind == "case_reported":
        case = payload.get("case")
        if isinstance(case, dict) and case.get("title"):
            parts.append(str(case["title"]))
    elif change.get("stage_to"):
        before, after = change.get("stage_from"), str(change["stage_to"])
        moved = before and before != after
        parts.append(
            f"{stage_words(str(before))} → {stage_words(after)}" if moved else stage_words(after)
        )
    fields = change.get("fields")
    if isinstance(fields, list) and fields:
        parts.append(", ".join(str(name) for name in fields))
    if change.get("into"):
        parts.append(_("into {number}").format(number=change["into"]))
    return " · ".join(parts)


def event_row(event: ReceivedEvent, zone: ZoneInfo) -> tuple[object, ...]:
    kind = Kind(event.kind).label if event.kind in Kind.__members__.values() else event.kind
    state = (
        ReceivedState(event.state).label
        if event.state in ReceivedState.__members__.values()
        else event.state
    )
    return (
        str(event.seq),
        kind,
        short(event.at, zone),
        short(event.received_at, zone),
        Text(state, style=STATE_STYLES.get(event.state, "")),
        fit(event_summary(event), SUMMARY_WIDTH),
    )


class HubTable(DataTable[object]):
    """A table of the hub's console: enter opens the highlighted row."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open"))]


class HubScreen(LiveScreen):
    """What the hub's screens share: their sheet, Escape, and reading again with the time."""

    CSS_PATH = "hub.tcss"
    BINDINGS = [Binding("escape", "back", N_("Back"))]

    def on_mount(self) -> None:
        self.reread_every(REREAD_SECONDS)  # batches unseen by the watcher; silence grows

    def selected_key(self, table: DataTable[object]) -> str | None:
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def action_back(self) -> None:
        self.dismiss()


class HubUnitsScreen(HubScreen):
    """下级单位 — every unit that reports to this hub, at a glance."""

    READ_TITLE = N_("units")
    BINDINGS = [Binding("w", "alerts", N_("Warnings sent"))]

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[UnitOverview] = []
        self._reports: dict[str, ReportCounts] = {}
        self._reports_read: float | None = None  # time.monotonic() of the last computation

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="hub-units-status", classes="hub--status")
        yield HubTable(id="hub-units", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("No units report here yet: add one with `dutydesk hub unit add CODE --name NAME`."),
            id="hub-units-empty",
            classes="hub--empty",
            markup=False,
        )
        yield KeyBar()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(HubTable)
        for key, label in UNIT_COLUMNS:
            level = level_of(key)
            header = severity_badge(level) if level is not None else _(label)
            table.add_column(header, key=key)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub-units-read")
    def load(self) -> None:
        """Read every unit's overview (its counts and whether it went silent) and its reports
        owed."""
        ctx = self.desk.ctx

        def read() -> tuple[list[UnitOverview], dict[str, ReportCounts]]:
            now = ctx.clock.now()
            views = overview(ctx.db, now, ctx.config.hub.silent)
            last = self._reports_read
            if last is not None and time.monotonic() - last < REPORTS_EVERY_SECONDS:
                return views, self._reports
            since = now - timedelta(days=REPORT_DAYS)
            reports = report_counts(ctx.db, ctx.config.sitrep, now, since=since)
            self._reports_read = time.monotonic()
            return views, reports

        self.read_and_show(read, self._show)

    def _show(self, read: tuple[list[UnitOverview], dict[str, ReportCounts]]) -> None:
        if not self.is_attached:
            return
        rows, reports = read
        self._rows = rows
        self._reports = reports
        table = self.query_one(HubTable)
        selected = self.selected_key(table)
        now = self.desk.ctx.clock.now()
        table.clear()
        for row in rows:
            counts = reports.get(row.unit.code, ReportCounts())
            table.add_row(*unit_row(row, now, counts), key=row.unit.code)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        silent = sum(1 for row in rows if row.silent)
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(ngettext("{count} unit", "{count} units", len(rows)).format(count=len(rows)))
        status.append("  " + _("open {count}").format(count=sum(r.open_cases for r in rows)))
        status.append("  ")
        status.append_text(alerting(sum(r.overdue for r in rows), _("overdue") + " "))
        status.append("  ")
        if silent:
            status.append(f"{ALERT} " + _("silent {count}").format(count=silent), style="bold red")
        else:
            status.append(_("silent {count}").format(count=0))
        missing = sum(c.missing for c in reports.values())
        late = sum(c.late for c in reports.values())
        status.append("  ")
        words = _("missing {count}").format(count=missing)
        status.append(f"{ALERT} {words}" if missing else words, style="bold red" if missing else "")
        status.append("  " + _("late {count}").format(count=late), style="red" if late else "")
        limit = span(self.desk.ctx.config.hub.silent)
        status.append("  " + _("(silent: no contact for {span})").format(span=limit), style="dim")
        self.query_one("#hub-units-status", Static).update(status)
        table.display = bool(rows)
        self.query_one("#hub-units-empty").display = not rows

    @on(DataTable.RowSelected, "#hub-units")
    def _open(self, event: DataTable.RowSelected) -> None:
        row = next((r for r in self._rows if r.unit.code == event.row_key.value), None)
        if row is not None:
            self.app.push_screen(HubCasesScreen(row.unit.code))

    def action_alerts(self) -> None:
        """The warnings sent down from this hub, each with its 叫应 across the units."""
        self.app.push_screen(HubAlertsScreen())


class HubCasesScreen(HubScreen):
    """一个单位的事件 — the cases one unit sent up, open ones first."""

    READ_TITLE = N_("unit's cases")

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit
        self._cases: dict[str, HubCase] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="hub-cases-status", classes="hub--status")
        yield HubTable(id="hub-cases", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("This unit has sent no cases yet."),
            id="hub-cases-empty",
            classes="hub--empty",
        )
        yield KeyBar()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(HubTable)
        for key, label in CASE_COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub-cases-read")
    def load(self) -> None:
        """Read the unit (its name, last contact) and its cases, open or not."""
        ctx = self.desk.ctx

        def read() -> tuple[HubUnit, list[HubCase]]:
            # The open ones first, so that closed ones never crowd them out of the limit.
            db, now = ctx.db, ctx.clock.now()
            found = cases(db, now, unit=self.unit, limit=LIMIT)
            if len(found) < LIMIT:
                every = cases(db, now, unit=self.unit, open_only=False, limit=LIMIT)
                found += [c for c in every if not c.active][: LIMIT - len(found)]
            return get_unit(db, self.unit), open_first(found)

        self.read_and_show(read, self._show)

    def _show(self, read: tuple[HubUnit, list[HubCase]]) -> None:
        if not self.is_attached:
            return
        unit, found = read
        self._cases = {c.number: c for c in found}
        table = self.query_one(HubTable)
        selected = self.selected_key(table)
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        table.clear()
        for case in found:
            table.add_row(*case_row(case, now, zone), key=case.number)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        active = [c for c in found if c.active]
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(f"{unit.code} ", style="bold")
        status.append(unit.name)
        status.append("  " + _("open {count}").format(count=len(active)))
        status.append("  ")
        status.append_text(alerting(sum(1 for c in active if c.overdue), _("overdue") + " "))
        lost = sum(1 for c in found if c.lost)
        if lost:
            status.append("  ")
            status.append(f"{LOST} " + _("lost {count}").format(count=lost), style="bold magenta")
        status.append("  " + _("last contact {when}").format(when=ago(unit.last_contact_at, now)))
        if len(found) >= LIMIT:
            status.append("  " + _("(first {count})").format(count=LIMIT), style="yellow")
        self.query_one("#hub-cases-status", Static).update(status)
        table.display = bool(found)
        self.query_one("#hub-cases-empty").display = not found

    @on(DataTable.RowSelected, "#hub-cases")
    def _open(self, event: DataTable.RowSelected) -> None:
        case = self._cases.get(event.row_key.value or "")
        if case is not None:
            self.app.push_screen(HubTimelineScreen(case))


class HubTimelineScreen(HubScreen):
    """收到的记录 — every event the hub received of one case, in order, with its payload."""

    READ_TITLE = N_("received timeline")

    def __init__(self, case: HubCase) -> None:
        super().__init__()
        self.case = case
        self._events: dict[str, ReceivedEvent] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._head(), id="hub-case-head", classes="hub--status")
        yield HubTable(id="hub-timeline", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("Nothing received for this case."), id="hub-timeline-empty", classes="hub--empty"
        )
        with VerticalScroll(id="hub-payload-box"):
            yield Static(id="hub-payload", markup=False)
        yield KeyBar()

    def _head(self) -> Text:
        case = self.case
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{case.unit} ", style="bold")
        text.append(f"{case.number} ", style="bold")
        level = level_of(case.severity)
        if level is not None:
            text.append_text(severity_badge(level))
            text.append(" ")
        text.append(case.title)
        text.append("  " + stage_words(case.stage), style="bold")
        if case.lost:
            text.append(f"  {LOST} {_('lost at the unit')}", style="bold magenta")
        return text

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(HubTable)
        for key, label in EVENT_COLUMNS:
            table.add_column(label if key == "seq" else _(label), key=key)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub-timeline-read")
    def load(self) -> None:
        """Read what was received of the case, in the order the unit numbered it."""
        ctx = self.desk.ctx
        self.read_and_show(
            lambda: case_timeline(ctx.db, self.case.unit, self.case.number), self._show
        )

    def _show(self, events: list[ReceivedEvent]) -> None:
        if not self.is_attached:
            return
        self._events = {e.event_id: e for e in events}
        table = self.query_one(HubTable)
        selected = self.selected_key(table)
        zone = self.desk.ctx.config.zone
        table.clear()
        for event in events:
            table.add_row(*event_row(event, zone), key=event.event_id)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        table.display = bool(events)
        self.query_one("#hub-timeline-empty").display = not events
        self._show_payload()

    @on(DataTable.RowHighlighted, "#hub-timeline")
    def _show_payload(self) -> None:
        table = self.query_one(HubTable)
        event = self._events.get(self.selected_key(table) or "")
        shown = json.dumps(event.payload, ensure_ascii=False, indent=2) if event else ""
        self.query_one("#hub-payload", Static).update(shown)


# ---- warnings sent down: the county's 叫应 board ------------------------------------------------

ALERT_COLUMNS = (
    ("warning", N_("warning")),
    ("headline", N_("headline")),
    ("sent", N_("sent")),
    ("expires", N_("expires")),
    ("received", N_("received")),
    ("started", N_("call started")),
    ("answered", N_("answered")),
    ("flagged", N_("flagged")),
)
ALERT_UNIT_COLUMNS = (
    ("unit", N_("unit")),
    ("received", N_("received")),
    ("started", N_("call started")),
    ("answered", N_("answered")),
    ("first", N_("first answer")),
    ("silent", N_("silent")),
    ("flag", N_("flag")),
)
HEADLINE_WIDTH = 22


def warning_name(colour: str | None, event: str | None) -> Text:
    """``橙色 暴雨预警`` as a badge (the colour's word on the colour) and the event's words."""
    from console.tui.screens.alerts import colour_badge
    from uplink.cap import Colour

    try:
        value = Colour(colour) if colour else None
    except ValueError:
        value = None
    text = colour_badge(value)
    text.append(" ")
    text.append(_("{event} warning").format(event=event or "?"), style="bold")
    return text


def reason_words(reason: str | None) -> str:
    """Why a unit did not start its 叫应, in words (:class:`uplink.callanswer.CallReason`'s)."""
    from uplink.callanswer import CallReason

    try:
        return CallReason(str(reason)).label
    except ValueError:
        return reason or "?"


def seconds(value: float | None) -> str:
    """``45s``, ``4m05s``, ``1h05m``; ``—`` for none."""
    if value is None:
        return "—"
    whole = int(round(value))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return span(timedelta(seconds=whole))


def flag_text(flag: str | None) -> Text:
    """``⚠ 叫应 not started`` in red (uplink.hub's words), or nothing."""
    from uplink.hub import AlertFlag

    if not flag:
        return Text("")
    return Text(f"{ALERT} {AlertFlag.label(flag) or flag}", style="bold red", no_wrap=True)


def alert_unit_row(unit: AlertUnit, now: datetime, zone: ZoneInfo) -> tuple[object, ...]:
    """One unit of a warning's board."""
    flagged = unit.flag is not None
    code = Text(f"{unit.unit} ", style="bold red" if flagged else "bold", no_wrap=True)
    code.append(unit.name if unit.name != unit.unit else "", style="")
    if unit.received_at is not None:
        received = Text(short(unit.received_at, zone))
        if unit.via:
            received.append(f" ({unit.via})", style="dim")
    else:
        received = Text("— " + _("not yet"), style="yellow")
    if unit.call_started_at is not None:
        started = Text(short(unit.call_started_at, zone))
        if unit.exercise:
            started.append(" " + _("EXERCISE"), style="bold black on yellow")
    elif unit.call_state == "skipped":
        why = reason_words(unit.call_reason)
        started = Text(_("not started: {why}").format(why=why), style="dim")
    else:
        started = Text("—", style="dim")
    if unit.total:
        answered = Text(
            f"{unit.answered}/{unit.total}",
            style="green" if unit.answered == unit.total else "bold",
            justify="right",
        )
    else:
        answered = Text("—", style="dim", justify="right")
    first = Text(seconds(unit.first_answer_s), justify="right")
    if unit.not_answered:
        waited = ""
        if unit.waiting_for_s is not None:
            waited = " " + _("for {time}").format(time=seconds(unit.waiting_for_s))
        silent = Text(f"⏳ {unit.not_answered}{waited}", style="yellow", no_wrap=True)
    else:
        silent = Text("0", style="dim")
    return (code, received, started, answered, first, silent, flag_text(unit.flag))


def alert_row(view: AlertView, zone: ZoneInfo) -> tuple[object, ...]:
    totals = view.totals
    units = totals["units"]
    flagged = totals["flagged"]
    name = warning_name(view.colour, view.event)
    if view.cancelled_at is not None:
        name.append(" " + _("cancelled"), style="dim")
    return (
        name,
        fit(view.headline or "", HEADLINE_WIDTH),
        short(view.sent, zone),
        short(view.expires, zone),
        Text(f"{totals['received']}/{units}", justify="right"),
        Text(f"{totals['started']}/{units}", justify="right"),
        Text(f"{totals['answered']}/{totals['people']}", justify="right"),
        alerting(flagged),
    )


class HubAlertsScreen(HubScreen):
    """下发预警 — the warnings this hub sent down, with their 叫应 across the units."""

    READ_TITLE = N_("warnings sent")

    def __init__(self) -> None:
        super().__init__()
        self._views: dict[str, AlertView] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="hub-alerts-status", classes="hub--status")
        yield HubTable(id="hub-alerts", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("No warning was sent down from this hub: `dutydesk alert issue` sends one."),
            id="hub-alerts-empty",
            classes="hub--empty",
            markup=False,
        )
        yield KeyBar()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(HubTable)
        for key, label in ALERT_COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub-alerts-read")
    def load(self) -> None:
        """Read every warning sent down, each as its board's totals."""
        from uplink.hub import alert_list

        ctx = self.desk.ctx
        call_start, levels = ctx.config.hub.call_start, ctx.config.warning.call_levels

        def read() -> list[AlertView]:
            return alert_list(ctx.db, ctx.clock.now(), call_start, call_levels=levels)

        self.read_and_show(read, self._show)

    def _show(self, views: list[AlertView]) -> None:
        if not self.is_attached:
            return
        self._views = {v.identifier: v for v in views}
        table = self.query_one(HubTable)
        selected = self.selected_key(table)
        zone = self.desk.ctx.config.zone
        table.clear()
        for view in views:
            table.add_row(*alert_row(view, zone), key=view.identifier)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        flagged = sum(v.totals["flagged"] for v in views)
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(
            ngettext("{count} warning", "{count} warnings", len(views)).format(count=len(views))
        )
        status.append("  ")
        status.append_text(alerting(flagged, _("units flagged") + " "))
        limit = span(self.desk.ctx.config.hub.call_start)
        status.append(
            "  "
            + _("(flagged: no call-and-answer within {span} of the sending)").format(span=limit),
            style="dim",
        )
        self.query_one("#hub-alerts-status", Static).update(status)
        table.display = bool(views)
        self.query_one("#hub-alerts-empty").display = not views

    @on(DataTable.RowSelected, "#hub-alerts")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value in self._views:
            self.app.push_screen(HubAlertScreen(event.row_key.value))


class HubAlertScreen(HubScreen):
    """预警叫应 — one warning across the units of its area: received, 叫应, answered, silent."""

    READ_TITLE = N_("warning board")

    def __init__(self, identifier: str) -> None:
        super().__init__()
        self.identifier = identifier
        self.view: AlertView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="hub-alert-head", classes="hub--status")
        yield Static(id="hub-alert-status", classes="hub--line")
        yield HubTable(id="hub-alert-units", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("No unit lies in this warning's area."),
            id="hub-alert-empty",
            classes="hub--empty",
        )
        yield KeyBar()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(HubTable)
        for key, label in ALERT_UNIT_COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub-alert-read")
    def load(self) -> None:
        """Read the warning's board: every unit of its area."""
        from uplink.hub import alert_view

        ctx = self.desk.ctx
        call_start, levels = ctx.config.hub.call_start, ctx.config.warning.call_levels

        def read() -> AlertView:
            now = ctx.clock.now()
            return alert_view(ctx.db, self.identifier, now, call_start, call_levels=levels)

        self.read_and_show(read, self._show)

    def _show(self, view: AlertView) -> None:
        if not self.is_attached:
            return
        self.view = view
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        head = warning_name(view.colour, view.event)
        if view.status == "Exercise":
            head.append(" " + _("EXERCISE") + " ", style="bold black on yellow")
        if view.headline:
            head.append(f"  {view.headline}")
        head.append(f"  {view.identifier}", style="dim")
        self.query_one("#hub-alert-head", Static).update(head)
        totals = view.totals
        units = totals["units"]
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(_("sent {time}").format(time=short(view.sent, zone)) + "  ")
        if view.expires is not None:
            status.append(_("until {time}").format(time=short(view.expires, zone)) + "  ")
        if view.cancelled_at is not None:
            status.append(_("cancelled {time}").format(time=short(view.cancelled_at, zone)) + "  ")
        status.append(
            _("received {received}/{units}  call-and-answer started {started}/{units}").format(
                received=totals["received"], started=totals["started"], units=units
            )
        )
        status.append(
            "  "
            + _("answered {answered}/{people}").format(
                answered=totals["answered"], people=totals["people"]
            )
        )
        if totals["not_answered"]:
            status.append(
                "  ⏳ " + _("silent {count}").format(count=totals["not_answered"]), style="yellow"
            )
        status.append("  ")
        status.append_text(alerting(totals["flagged"], _("flagged") + " "))
        self.query_one("#hub-alert-status", Static).update(status)
        table = self.query_one(HubTable)
        selected = self.selected_key(table)
        table.clear()
        for unit in view.units:
            table.add_row(*alert_unit_row(unit, now, zone), key=unit.unit)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        table.display = bool(view.units)
        self.query_one("#hub-alert-empty").display = not view.units

    @on(DataTable.RowSelected, "#hub-alert-units")
    def _open(self, event: DataTable.RowSelected) -> None:
        """Enter on a unit: its cases, as from the units' screen."""
        if event.row_key.value:
            self.app.push_screen(HubCasesScreen(event.row_key.value))
