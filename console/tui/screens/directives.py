"""Provides the directives inbox (通知/指令): what the level above sent down, and the replies.

Each row says, in words and a glyph, whether the directive waits for a reply, is overdue
(``⚠`` in red, with how long) or was answered (``✔``), then its title, who sent it, when it
arrived and its reply deadline (with the time left). Below the list, the highlighted
directive: its text, its attachments *by reference* (each name and address shown, never
fetched: the officer opens them deliberately), the case or task it opened, and the reply
given. ``r`` replies (反馈) in a dialog; the reply goes up the chain with the next batch.

The console rings the bell and raises a toast when a directive arrives and again when its
deadline passes unanswered (:mod:`reports.notices`); the records and their rules are
:mod:`uplink.directives`, loaded when this screen is first opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static

from console import timefmt
from console.timefmt import span
from console.tui.screens.live import LiveScreen, Step
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from store.clock import Clock
from store.db import Database
from store.i18n import N_, _

if TYPE_CHECKING:
    from uplink.directives import Directive

ALERT = "⚠"
TITLE_WIDTH = 34
FROM_WIDTH = 16
REREAD_SECONDS = 30.0
LIMIT = 200  # the newest; all of them are in `dutydesk directive list`

COLUMNS = (
    ("state", N_("state")),
    ("title", N_("title")),
    ("from", N_("sent by")),
    ("received", N_("received")),
    ("reply_by", N_("reply by")),
)


@dataclass(frozen=True)
class Mark:
    """How the inbox marks a directive: a glyph, words and a style (never the colour alone)."""

    glyph: str
    words: str
    style: str

    def text(self) -> Text:
        return Text(f"{self.glyph} {self.words}", style=self.style, no_wrap=True)


def replied(directive: Directive) -> bool:
    return directive.replied_at is not None


def overdue(directive: Directive, now: datetime) -> bool:
    """Past its reply deadline with no reply (the sweep's mark, or the clock)."""
    from uplink.directives import DirectiveState

    return directive.state(now) is DirectiveState.OVERDUE


def mark(directive: Directive, now: datetime) -> Mark:
    """``✔ replied``, ``⚠ reply overdue 25m``, ``● awaiting reply``, ``· no reply asked``."""
    from uplink.directives import DirectiveState

    state = directive.state(now)
    if state is DirectiveState.REPLIED:
        words = state.label
        if directive.late:
            words += " " + _("(late)")
        return Mark("✔", words, "green")
    due = directive.reply_by
    if state is DirectiveState.OVERDUE:
        late = f" {span(now - due)}" if due is not None and now > due else ""
        return Mark(ALERT, state.label + late, "bold red")
    if due is not None:
        return Mark("●", state.label, "bold yellow")
    return Mark("·", _("no reply asked"), "")


def reply_by_cell(directive: Directive, now: datetime, zone: ZoneInfo) -> Text:
    due = directive.reply_by
    if due is None:
        return Text("—", style="dim")
    text = Text(timefmt.short(due, zone))
    if not replied(directive) and due > now:
        text.append(" (" + _("{time} left").format(time=span(due - now)) + ")", style="dim")
    return text


def sender_words(directive: Directive) -> str:
    return directive.sender_name or directive.sender


def directive_cells(directive: Directive, now: datetime, zone: ZoneInfo) -> tuple[Text, ...]:
    done = replied(directive)
    title = fit(str(directive.title), TITLE_WIDTH)
    if done:
        title.stylize("dim")
    elif overdue(directive, now):
        title.stylize("bold")
    return (
        mark(directive, now).text(),
        title,
        fit(sender_words(directive), FROM_WIDTH),
        Text(timefmt.short(directive.received_at, zone)),
        reply_by_cell(directive, now, zone),
    )


def detail(directive: Directive, now: datetime, zone: ZoneInfo) -> Text:
    """The highlighted directive: its head, text, attachments by reference and reply."""
    text = Text()
    text.append_text(mark(directive, now).text())
    text.append(f"  {directive.title}", style="bold")
    if directive.exercise:
        text.append(" ")
        text.append(f" {_('EXERCISE')} ", style="bold black on yellow")

    def field(label: str, value: object) -> None:
        if value in (None, ""):
            return
        text.append(f"\n{label}: ", style="bold")
        text.append(str(value))

    def at(moment: datetime | None) -> str:
        return timefmt.local(moment, zone) if moment else ""

    field(_("sent by"), sender_words(directive))
    field(_("sent at"), at(directive.sent_at))
    field(_("received"), at(directive.received_at))
    field(_("reply by"), at(directive.reply_by))
    field(_("identifier"), directive.id)
    field(_("alert"), directive.alert)
    if directive.action.value != "none":
        opened = directive.case_number or (
            _("case #{id}").format(id=directive.incident_id) if directive.incident_id else ""
        )
        if directive.task_id:
            opened += " " + _("task #{id}").format(id=directive.task_id)
        field(directive.action.label, opened.strip() or "—")
    text.append("\n\n")
    text.append(directive.text)
    if directive.attachments:
        text.append("\n\n" + _("attachments (by reference, not downloaded)"), style="bold")
        for attachment in directive.attachments:
            text.append(f"\n  📎 {attachment.name or '—'}  ")
            text.append(attachment.url, style="underline")
    if directive.replied_at is not None:
        head = _("reply by {name}, {time}").format(
            name=directive.replied_by or "", time=at(directive.replied_at)
        )
        text.append(f"\n\n{head}\n", style="bold green")
        text.append(directive.reply or "")
    elif directive.reply_by is not None:
        text.append("\n\n" + _("r: reply"), style="dim")
    return text


def read_directives(db: Database) -> list[Directive]:
    from uplink.directives import list_directives

    return list_directives(db, limit=LIMIT)


def reply_step(directive_id: str, text: str) -> Step:
    """The write that records the reply (it goes up with the next batch)."""

    def step(db: Database, clock: Clock, operator: str) -> str:
        from uplink.directives import reply

        reply(db, clock, operator, directive_id, text)
        return _("Reply recorded; it goes up to the level above.")

    return step


class DirectiveTable(DataTable[object]):
    """The directives."""


class DirectivesScreen(LiveScreen):
    """通知指令 — the directives from the level above, and the replies given."""

    READ_TITLE = N_("directives")
    CSS_PATH = "directives.tcss"
    BINDINGS = [
        Binding("r", "reply", N_("Reply")),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.directives: list[Directive] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="directives-status")
        yield DirectiveTable(id="directives", cursor_type="row", zebra_stripes=True)
        yield Static(
            _("No directives: they arrive from the level above."),
            id="directives-empty",
        )
        with VerticalScroll(id="directives-detail-box"):
            yield Static(id="directives-detail", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DirectiveTable)
        for key, label in COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.reread_every(REREAD_SECONDS)  # reply deadlines pass with the time alone
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="directives-read")
    def load(self) -> None:
        ctx = self.desk.ctx
        self.read_and_show(lambda: read_directives(ctx.db), self._show)

    def _show(self, directives: list[Directive]) -> None:
        if not self.is_attached:
            return
        self.directives = directives
        table = self.query_one(DirectiveTable)
        selected = self.selected()
        ctx = self.desk.ctx
        now, zone = ctx.clock.now(), ctx.config.zone
        table.clear()
        for directive in directives:
            table.add_row(*directive_cells(directive, now, zone), key=str(directive.id))
        if selected is not None and str(selected.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.id)))
        late = sum(1 for d in directives if overdue(d, now))
        waiting = sum(
            1
            for d in directives
            if not replied(d) and d.reply_by is not None and not overdue(d, now)
        )
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(_("directives {count}").format(count=len(directives)))
        status.append("  " + _("reply due {count}").format(count=waiting))
        status.append("  ")
        words = _("overdue {count}").format(count=late)
        status.append(f"{ALERT} {words}" if late else words, style="bold red" if late else "")
        self.query_one("#directives-status", Static).update(status)
        table.display = bool(directives)
        self.query_one("#directives-empty").display = not directives
        self._show_detail()
        self.refresh_bindings()

    def selected(self) -> Directive | None:
        table = self.query_one(DirectiveTable)
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((d for d in self.directives if str(d.id) == row_key.value), None)

    @on(DataTable.RowHighlighted, "#directives")
    def _show_detail(self) -> None:
        directive = self.selected()
        ctx = self.desk.ctx
        shown = detail(directive, ctx.clock.now(), ctx.config.zone) if directive else ""
        self.query_one("#directives-detail", Static).update(shown)

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reply":
            directive = self.selected() if self.is_mounted else None
            return (directive is not None and not replied(directive)) or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_reply(self) -> None:
        """Reply (反馈) to the highlighted directive."""
        from console.tui.dialogs.directive_reply import DirectiveReplyDialog

        directive = self.selected()
        if directive is None or replied(directive):
            return
        directive_id = str(directive.id)

        def chosen(text: str | None) -> None:
            if text:
                self.write(reply_step(directive_id, text))

        self.app.push_screen(
            DirectiveReplyDialog(str(directive.title), str(directive.text)), chosen
        )
