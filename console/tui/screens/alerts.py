"""Provides the alerts screen (预警): the CAP warnings issued here or received from above, with
their 叫应 (call and answer), and the lines the dashboard's banner shows.

Each row names the warning's colour in a coloured badge *and* in words (``橙色``), its event,
headline, area, when it expires, whether it was issued here or received, and its
叫应: ``12/40 answered`` of the call-and-answer mobilization it started, or why none started.
A cancelled, superseded or expired warning is listed dim, with its state in words. Below the
list, the highlighted warning's CAP fields and its instruction.

Keys: ``c`` starts a 叫应 by hand for the highlighted warning (after a question; in exercise
mode for an ``Exercise`` alert), ``enter`` opens its 叫应's mobilization, ``s`` the silent
list (who has not answered, to phone now: ``p`` shows the number), ``a`` shows every warning
or only the active ones. Reads run in a worker under the app's lock, as on every
live screen; the domain is :mod:`uplink.alerts` (records) and :mod:`uplink.callanswer` (the
叫应), whose modules load when this screen is first opened, never with the first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static

from console import timefmt
from console.tui.screens.live import LiveScreen, Step
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from store.clock import Clock
from store.db import Database
from store.i18n import N_, _

if TYPE_CHECKING:
    from uplink.alerts import AlertRecord
    from uplink.callanswer import CallProgress
    from uplink.callanswer_rules import WarningRules
    from uplink.cap import Colour

ALERT = "⚠"
HEADLINE_WIDTH = 24
AREA_WIDTH = 10
BANNER_LINES = 2
"""The dashboard's banner shows at most this many lines (the last one says how many more)."""
REREAD_SECONDS = 30.0
LIMIT = 200  # alerts listed at most, newest first; all of them are in `dutydesk alert list`

# Dark words on the light colours, light words on the dark ones (as the case levels' badges).
_BADGE_TEXT = {"red": "white", "orange": "black", "yellow": "black", "blue": "white"}

# (key, header): the headers are English message ids, shown with _().
COLUMNS = (
    ("colour", N_("colour")),
    ("event", N_("event")),
    ("state", N_("state")),
    ("headline", N_("headline")),
    ("area", N_("area")),
    ("expires", N_("expires")),
    ("origin", N_("origin")),
    ("call", N_("call-and-answer")),
)

EXERCISE = N_("EXERCISE")
ACTIVE = "active"  # uplink.alerts.AlertState's value of a warning in force


@dataclass(frozen=True)
class AlertRow:
    """One alert with its 叫应 (``None``: none started; the alert's ``call_reason`` says why)."""

    alert: AlertRecord
    call: CallProgress | None

    @property
    def identifier(self) -> str:
        return str(self.alert.identifier)


# ---- reading (in a worker, under the lock) --------------------------------------------------


def read_alerts(db: Database, now: datetime, *, active_only: bool) -> list[AlertRow]:
    """The alerts (active ones only, or the newest :data:`LIMIT`) with their 叫应."""
    from uplink.alerts import list_alerts
    from uplink.callanswer import call_of

    found = list_alerts(db, active_only=active_only, now=now, limit=LIMIT)
    # The 叫应 of an alert's thread: an update shares the one its original started.
    return [AlertRow(alert, call_of(db, alert.id)) for alert in found]


def read_banner(db: Database, now: datetime) -> list[AlertRow]:
    """What the dashboard's banner shows: the active alerts, most severe first."""
    rows = read_alerts(db, now, active_only=True)  # newest first: sorted() keeps that order
    return sorted(rows, key=lambda r: _rank(r.alert))


def _rank(alert: AlertRecord) -> int:
    """Red first, then orange, yellow, blue, then alerts without a colour."""
    from uplink.cap import Colour

    order = list(Colour)
    return order.index(alert.colour) if alert.colour in order else len(order)


# ---- words and looks ------------------------------------------------------------------------


def colour_word(colour: Colour | None) -> str:
    """The warning colour in words (红色, 橙色 …; in English red, orange …): cap.py's words."""
    return colour.label if colour is not None else _("no colour")


def colour_badge(colour: Colour | None) -> Text:
    """``橙色`` on orange: the colour's word on the colour itself (never the colour alone)."""
    word = colour_word(colour)
    if colour is None:
        return Text(f" {word} ", style="bold reverse")
    background = Color.parse(colour.hex).hex
    return Text(f" {word} ", style=f"bold {_BADGE_TEXT[colour.value]} on {background}")


def state_of(alert: AlertRecord, now: datetime) -> str:
    """The alert's state (:class:`uplink.alerts.AlertState`'s value): active, expired …"""
    return alert.state(now).value


def state_words(alert: AlertRecord, now: datetime) -> str:
    """The alert's state in words (the record's own vocabulary: in force, expired …)."""
    return alert.state(now).label


def event_words(alert: AlertRecord) -> str:
    """``暴雨预警`` (in English ``暴雨 warning``): the CAP event is the issuer's word."""
    return _("{event} warning").format(event=alert.event)


def call_words(row: AlertRow) -> Text:
    """``叫应 12/40 answered``; ``叫应 not started: <why>``; dim once stopped."""
    call = row.call
    if call is None:
        reason = row.alert.call_reason
        text = Text(_("call-and-answer not started"), style="yellow")
        if reason:
            text.append(": " + _call_reason(str(reason)), style="dim")
        return text
    words = _("call-and-answer {answered}/{total} answered").format(
        answered=call.answered, total=call.counts.total
    )
    style = "green" if call.counts.total and call.answered == call.counts.total else "bold"
    stopped = call.stopped_at is not None
    text = Text(words, style="dim" if stopped else style)
    if call.counts.silent and not stopped:
        text.append(" · " + _("{count} silent").format(count=call.counts.silent), style="yellow")
    if stopped:
        text.append(" · " + _("stopped"), style="dim")
    return text


def call_cell(row: AlertRow) -> Text:
    """The list's 叫应 column (its header names it): ``0/2 answered · 2 silent``, ``not
    started`` (why: in the detail below), dim once stopped."""
    call = row.call
    if call is None:
        return Text(_("not started"), style="yellow")
    stopped = call.stopped_at is not None
    done = bool(call.counts.total) and call.answered == call.counts.total
    text = Text(
        _("{answered}/{total} answered").format(answered=call.answered, total=call.counts.total),
        style="dim" if stopped else "green" if done else "bold",
        no_wrap=True,
    )
    if stopped:
        text.append(" · " + _("stopped"), style="dim")
    elif call.counts.silent:
        text.append(" · " + _("{count} silent").format(count=call.counts.silent), style="yellow")
    return text


def _call_reason(reason: str) -> str:
    """Why no 叫应 started, in words (uplink.callanswer's own)."""
    from uplink.callanswer import CallReason

    try:
        return CallReason(reason).label
    except ValueError:
        return reason


def banner_line(row: AlertRow, now: datetime, zone: ZoneInfo) -> Text:
    """One line of the dashboard's banner:
    ``⚠ [橙色] 暴雨预警 · until 12-08 18:00 · 叫应 12/40 answered``."""
    alert = row.alert
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{ALERT} ", style="bold")
    text.append_text(colour_badge(alert.colour))
    text.append(" ")
    if alert.exercise:
        text.append(f"[{_(EXERCISE)}] ", style="bold black on yellow")
    text.append(event_words(alert), style="bold")
    if alert.expires is not None:
        until = _("until {time}").format(time=timefmt.when(alert.expires, now, zone))
        text.append(f" · {until}")
    text.append(" · ")
    text.append_text(call_words(row))
    if alert.headline:
        text.append(f" · {alert.headline}", style="dim")
    return text


def banner(rows: Sequence[AlertRow], now: datetime, zone: ZoneInfo) -> Text:
    """The banner: a line per active alert, at most :data:`BANNER_LINES` (the last one says how
    many more there are); empty when there is none."""
    text = Text(no_wrap=True, overflow="ellipsis")
    shown = list(rows)
    more = 0
    if len(shown) > BANNER_LINES:
        more = len(shown) - (BANNER_LINES - 1)
        shown = shown[: BANNER_LINES - 1]
    for index, row in enumerate(shown):
        if index:
            text.append("\n")
        text.append_text(banner_line(row, now, zone))
    if more:
        text.append("\n")
        text.append(
            f"{ALERT} " + _("{count} more active alerts (W: the alerts)").format(count=more),
            style="bold",
        )
    return text


def alert_cells(row: AlertRow, now: datetime, zone: ZoneInfo) -> tuple[Text, ...]:
    alert = row.alert
    state = state_of(alert, now)
    live = state == ACTIVE
    dim = "" if live else "dim"
    colour = colour_badge(alert.colour) if live else Text(colour_word(alert.colour))
    state_text = Text(state_words(alert, now), style="bold" if live else "dim")
    if alert.exercise:
        state_text.append(" " + _(EXERCISE), style="bold black on yellow")
    origin = _("issued here") if alert.origin == "issued" else _("received")
    expires = alert.expires
    return (
        colour if live else Text(colour.plain, style="dim"),
        Text(str(alert.event), style="bold" if live else "dim"),
        state_text,
        _fit(str(alert.headline or ""), HEADLINE_WIDTH, dim),
        _fit(_area(alert), AREA_WIDTH, dim),
        Text(timefmt.short(expires, zone) if expires else "—", style=dim),
        Text(origin, style=dim),
        call_cell(row) if live or row.call else Text("—", style="dim"),
    )


def _fit(text: str, width: int, style: str) -> Text:
    cell = fit(text, width)
    cell.stylize(style)
    return cell


def _via(via: str) -> str:
    return {"push": _("pushed"), "poll": _("polled"), "import": _("imported")}.get(via, via)


def _area(alert: AlertRecord) -> str:
    return alert.area_desc or ", ".join(alert.area_codes)


def detail(row: AlertRow, now: datetime, zone: ZoneInfo) -> Text:
    """The highlighted alert's CAP fields, its instruction and its 叫应."""
    alert = row.alert
    text = Text()
    text.append_text(colour_badge(alert.colour))
    text.append(" ")
    text.append(event_words(alert), style="bold")
    text.append("  " + state_words(alert, now), style="bold")
    if alert.headline:
        text.append(f"\n{alert.headline}", style="bold")

    def field(label: str, value: object) -> None:
        if value in (None, "", [], ()):
            return
        text.append(f"\n{label}: ", style="bold")
        text.append(str(value))

    def at(moment: datetime | None) -> str:
        return timefmt.local(moment, zone) if moment else ""

    text.append("\n" + _("call-and-answer") + ": ", style="bold")
    text.append_text(call_cell(row))
    call = row.call
    if call is None and alert.call_reason:
        text.append(" (" + _call_reason(alert.call_reason) + ")", style="dim")
    if call is not None:
        how = _("started automatically") if call.auto else _("started by hand")
        started = at(call.started_at)
        text.append(
            "\n  "
            + _("mobilization #{id}, {how} {time} (enter opens it)").format(
                id=call.mobilization_id, how=how, time=started
            ),
            style="dim",
        )
    if alert.instruction:
        text.append("\n" + _("instruction") + ": ", style="bold")
        text.append(alert.instruction)
    field(_("identifier"), alert.identifier)
    field(_("sender"), alert.sender)
    field(_("sent at"), at(alert.sent))
    field(_("status"), alert.status.value)
    field(_("message type"), alert.msg_type.value)
    field(_("references"), alert.refs)
    field(_("severity"), f"{alert.severity.value} ({colour_word(alert.colour)})")
    field(_("urgency"), alert.urgency.value)
    field(_("certainty"), alert.certainty.value)
    field(_("category"), alert.category)
    field(_("effective"), at(alert.effective))
    field(_("onset"), at(alert.onset))
    field(_("expires"), at(alert.expires))
    field(_("area"), _area(alert))
    if alert.area_desc and alert.area_codes:
        field(_("area codes"), ", ".join(alert.area_codes))
    origin = _("issued here") if alert.origin == "issued" else _("received")
    if alert.origin != "issued" and alert.via:
        origin += f" ({_via(alert.via)})"
    field(_("origin"), f"{origin}, {at(alert.received_at)}")
    if alert.description:
        text.append("\n\n" + _("description") + "\n", style="bold")
        text.append(alert.description)
    return text


# ---- the screen -----------------------------------------------------------------------------


class AlertTable(DataTable[object]):
    """The alerts: enter opens the highlighted alert's 叫应."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open call-and-answer"))]


class AlertsScreen(LiveScreen):
    """预警 — the warnings here, with their 叫应."""

    READ_TITLE = N_("alerts")
    CSS_PATH = "alerts.tcss"
    BINDINGS = [
        Binding("c", "start_call", N_("Start call-and-answer")),
        Binding("s", "silent", N_("Silent")),
        Binding("a", "toggle_all", N_("All / active")),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self, *, active_only: bool = False) -> None:
        super().__init__()
        self.active_only = active_only
        self.rows: list[AlertRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="alerts-status")
        yield AlertTable(id="alerts", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("No alerts: they arrive from the level above, or `dutydesk alert issue`."),
            id="alerts-empty",
        )
        with VerticalScroll(id="alerts-detail-box"):
            yield Static(id="alerts-detail", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(AlertTable)
        for key, label in COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.reread_every(REREAD_SECONDS)  # warnings expire with the time alone
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="alerts-read")
    def load(self) -> None:
        """Read the alerts and each one's 叫应."""
        ctx = self.desk.ctx
        active_only = self.active_only
        self.read_and_show(
            lambda: read_alerts(ctx.db, ctx.clock.now(), active_only=active_only), self._show
        )

    def _show(self, rows: list[AlertRow]) -> None:
        if not self.is_attached:
            return
        self.rows = rows
        table = self.query_one(AlertTable)
        selected = self.selected()
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        table.clear()
        for row in rows:
            table.add_row(*alert_cells(row, now, zone), key=row.identifier)
        if selected is not None and selected.identifier in table.rows:
            table.move_cursor(row=table.get_row_index(selected.identifier))
        active = sum(1 for r in rows if state_of(r.alert, now) == ACTIVE)
        calls = sum(1 for r in rows if r.call is not None and not r.call.stopped_at is not None)
        status = _("alerts {count}  active {active}  call-and-answer running {calls}").format(
            count=len(rows), active=active, calls=calls
        )
        shown = _("(active only: a shows all)") if self.active_only else _("(all: a active only)")
        self.query_one("#alerts-status", Static).update(f"{status}  {shown}")
        table.display = bool(rows)
        self.query_one("#alerts-empty").display = not rows
        self._show_detail()
        self.refresh_bindings()

    def selected(self) -> AlertRow | None:
        table = self.query_one(AlertTable)
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((r for r in self.rows if r.identifier == row_key.value), None)

    @on(DataTable.RowHighlighted, "#alerts")
    def _show_detail(self) -> None:
        row = self.selected()
        ctx = self.desk.ctx
        shown = detail(row, ctx.clock.now(), ctx.config.zone) if row is not None else ""
        self.query_one("#alerts-detail", Static).update(shown)

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start_call":
            row = self.selected() if self.is_mounted else None
            if row is None:
                return None  # greyed: nothing to call for
            live = state_of(row.alert, self.desk.ctx.clock.now()) == ACTIVE
            running = row.call is not None and not row.call.stopped_at is not None
            return (live and not running) or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_silent(self) -> None:
        """未应答: who has not answered (this 叫应 and every running mobilization), to ring
        them now, their number one key away (p)."""
        from console.tui.screens.silent import SilentScreen

        self.app.push_screen(SilentScreen())

    def action_toggle_all(self) -> None:
        self.active_only = not self.active_only
        self.load()

    @on(DataTable.RowSelected, "#alerts")
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.selected()
        if row is None:
            return
        if row.call is None:
            self.notify(
                _("No call-and-answer was started for this alert: c starts one."),
                title=_("alerts"),
                markup=False,
            )
            return
        from console.tui.screens.mobilization import MobilizationScreen

        self.app.push_screen(MobilizationScreen(row.call.mobilization_id))

    def action_start_call(self) -> None:
        """Start a 叫应 for the highlighted alert by hand, after a question."""
        from console.tui.dialogs.yes_no import YesNoDialog

        row = self.selected()
        if row is None:
            return
        alert = row.alert
        exercise = bool(alert.exercise)
        question = _(
            "Call every responsible person in the area of {colour} {event} and ask each to answer?"
        ).format(colour=colour_word(alert.colour), event=event_words(alert))
        if exercise:
            question += " " + _("(an exercise alert: the call-and-answer runs in exercise mode)")

        rules = self.desk.ctx.config.warning

        def chosen(yes: bool | None) -> None:
            if yes:
                self.write(start_call_step(alert.id, exercise=exercise, rules=rules))

        self.app.push_screen(YesNoDialog(_("Start call-and-answer"), question), chosen)


def start_call_step(alert_id: int, *, exercise: bool, rules: WarningRules | None = None) -> Step:
    """The write that starts a 叫应 by hand for the alert ``alert_id`` (under the ``[warning]``
    rules), saying what it did."""

    def step(db: Database, clock: Clock, operator: str) -> str:
        from uplink.callanswer import start_call

        mob_id = start_call(
            db, clock, operator, alert_id, auto=False, exercise=exercise, rules=rules
        )
        return _("call-and-answer started: mobilization #{id}").format(id=mob_id)

    return step
