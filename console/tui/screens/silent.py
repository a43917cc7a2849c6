"""Provides the silent list (未应答): everyone called who has not answered, across the running
mobilizations, with what the duty officer needs to ring them.

One key from the dashboard (``s``) opens it. Rows are grouped by mobilization, the newest
first, and within one the longest silent first, each with the time they were first called (in
the office's zone) and how long ago. Their phone number is masked (``138****8000``) until ``p``
shows it, which is audited as personal data shown (``personal_data_shown``); after the call,
``a`` records what they said (yes or no, and an ETA) as an answer taken by phone. ``enter``
opens the row's mobilization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Label, Static

from console.tui.screens.live import LiveScreen
from console.tui.screens.mobilization import (
    MobilizationScreen,
    candidate_order,
    phone_answer_step,
    since_cell,
)
from console.tui.widgets.keybar import KeyBar
from console.tui.widgets.looks import exercise_badge, look_of
from mobilization import (
    Mobilization,
    MobilizationState,
    SilentPerson,
    list_mobilizations,
    recipient_rows,
    summary,
)
from store.clock import Clock
from store.db import Database
from store.i18n import N_, _
from store.masking import mask_phone

if TYPE_CHECKING:
    from console.tui.dialogs.answer import AnswerResult

TICK_SECONDS = 1.0  # "⏳ 4m" moves on between reads
MOBS_READ = 20  # running mobilizations read at most (the newest)
SILENT_READ = 500  # silent people read per mobilization at most
# (key, header): the headers are English message ids, shown with _().
COLUMNS = (
    ("mob", N_("mobilization")),
    ("name", N_("person")),
    ("node", N_("node")),
    ("phone", N_("phone (p)")),
    ("since", N_("called")),
    ("sends", N_("sends")),
)


@dataclass(frozen=True)
class SilentRow:
    """One silent person of one running mobilization."""

    mobilization: Mobilization
    person: SilentPerson
    phone: str | None


@dataclass(frozen=True)
class SilentRead:
    """What one read found: the silent, newest mobilization first; every recipient per
    mobilization (the answer dialog's choices)."""

    rows: list[SilentRow]
    mobilizations: int
    recipients: dict[int, list[dict[str, Any]]]


def read_silent(db: Database, clock: Clock) -> SilentRead:
    """The silent people of the running mobilizations, newest mobilization first."""
    now = clock.now()
    rows: list[SilentRow] = []
    recipients: dict[int, list[dict[str, Any]]] = {}
    running = list_mobilizations(db, state=MobilizationState.ACTIVE, limit=MOBS_READ)
    for mob in running:
        found = summary(db, mob.id, now, silent_limit=SILENT_READ).silent
        people = recipient_rows(db, mob.id)
        recipients[mob.id] = people
        phones = {int(str(r["id"])): r["phone"] for r in people}
        rows.extend(SilentRow(mob, p, phones.get(p.recipient_id)) for p in found)
    return SilentRead(rows, len(running), recipients)


class SilentTable(DataTable[object]):
    """The silent: enter opens the highlighted person's mobilization."""

    BINDINGS = [Binding("enter", "select_cursor", N_("Open mobilization"))]


class SilentScreen(LiveScreen):
    """未应答 — who has not answered the running mobilizations, to ring them."""

    READ_TITLE = N_("silent")

    CSS_PATH = "mobilization.tcss"
    BINDINGS = [
        Binding("p", "show_phone", N_("Show phone")),
        Binding("a", "answer", N_("Record answer")),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.read: SilentRead | None = None
        self.revealed: set[int] = set()  # recipients whose number was shown (and audited)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("…", id="silent-title", classes="section-title")
        yield SilentTable(id="silent", cursor_type="row", zebra_stripes=True)
        yield Static("", id="silent-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#silent", DataTable)
        for key, label in COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.set_interval(TICK_SECONDS, self._tick)
        self.load()

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="silent-read")
    def load(self) -> None:
        ctx = self.desk.ctx
        self.read_and_show(lambda: read_silent(ctx.db, ctx.clock), self._show)

    def _show(self, read: SilentRead) -> None:
        if not self.is_attached:
            return
        self.read = read
        table = self.query_one("#silent", DataTable)
        selected = self.selected()
        table.clear()
        for row in read.rows:
            table.add_row(*self._cells(row), key=str(row.person.recipient_id))
        if selected is not None and str(selected.person.recipient_id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.person.recipient_id)))
        title = _("Still silent: {count} in {mobs} running mobilizations").format(
            count=len(read.rows), mobs=read.mobilizations
        )
        self.query_one("#silent-title", Label).update(title)
        empty = self.query_one("#silent-empty", Static)
        empty.update(
            _("Nobody is silent.") if read.mobilizations else _("No mobilization is running.")
        )
        table.display = bool(read.rows)
        empty.display = not read.rows
        self.refresh_bindings()

    def _cells(self, row: SilentRow) -> tuple[Text, Text, Text, Text, Text, str]:
        ctx = self.desk.ctx
        mob = row.mobilization
        head = Text(f"#{mob.id}", style="bold", no_wrap=True)
        if mob.exercise:
            head.append(" ")
            head.append_text(exercise_badge())
        if mob.incident_number:
            head.append(f" {mob.incident_number}")
        return (
            head,
            Text(row.person.name, no_wrap=True),
            Text(row.person.node, no_wrap=True),
            self._phone(row),
            since_cell(row.person.since, ctx.clock.now(), ctx.config.zone),
            str(row.person.sends),
        )

    def _phone(self, row: SilentRow) -> Text:
        if not row.phone:
            return Text("—", style="dim")
        if row.person.recipient_id in self.revealed:
            return Text(row.phone, style="bold")
        return Text(mask_phone(row.phone, self.desk.ctx.config.phone_region))

    def _tick(self) -> None:
        """Move the "called … ago" column on without reading again."""
        if self.read is None:
            return
        table = self.query_one("#silent", DataTable)
        ctx = self.desk.ctx
        now = ctx.clock.now()
        for row in self.read.rows:
            key = str(row.person.recipient_id)
            if key in table.rows:
                table.update_cell(key, "since", since_cell(row.person.since, now, ctx.config.zone))

    def selected(self) -> SilentRow | None:
        """The highlighted silent person, if any."""
        table = self.query_one("#silent", DataTable)
        if self.read is None or not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next(
            (r for r in self.read.rows if str(r.person.recipient_id) == row_key.value), None
        )

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("show_phone", "answer"):
            return self.read is not None and bool(self.read.rows) or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    @on(DataTable.RowSelected, "#silent")
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.selected()
        if row is not None:
            self.app.push_screen(MobilizationScreen(row.mobilization.id))

    def action_show_phone(self) -> None:
        """Show the highlighted person's number in full, once it is audited."""
        row = self.selected()
        if row is None or not row.phone:
            return
        if row.person.recipient_id in self.revealed:
            return
        recipient_id = row.person.recipient_id
        # The audit log's words are a record, the same in every language.
        command = f"silent list: mobilization #{row.mobilization.id}, {row.person.name}"

        def step(db: Database, clock: Clock, operator: str) -> str:
            from contacts.people import record_personal_data_shown

            record_personal_data_shown(db, clock, operator, command, 1)
            return ""

        def shown() -> None:
            self.revealed.add(recipient_id)
            table = self.query_one("#silent", DataTable)
            if str(recipient_id) in table.rows:
                table.update_cell(str(recipient_id), "phone", self._phone(row))

        self.write(step, after=shown)

    def action_answer(self) -> None:
        """After ringing the highlighted person, record what they said (taken by phone)."""
        from console.tui.dialogs.answer import AnswerCandidate, AnswerDialog

        row = self.selected()
        if row is None or self.read is None:
            return
        people = self.read.recipients.get(row.mobilization.id, [])
        candidates = [
            AnswerCandidate(
                recipient_id=int(str(r["id"])),
                name=str(r["name"]),
                code=str(r["code"]) if r["code"] else None,
                status=look_of(str(r["state"])).text().plain,
            )
            for r in sorted(people, key=candidate_order)
        ]
        self.app.push_screen(
            AnswerDialog(
                candidates,
                selected=row.person.recipient_id,
                title=_("Phone answer · mobilization #{id}").format(id=row.mobilization.id),
            ),
            self._answered,
        )

    def _answered(self, result: AnswerResult | None) -> None:
        if result is None:
            return

        self.write(phone_answer_step(result))
