"""Provides the screen of one mobilization (动员): who was called, who answered, who is silent.

The head says what the mobilization is (case, message, mode, 演练 exercise, state); the counters
say how many were notified and how many said yes, no, stayed silent or could not be reached,
with the time people took to answer and a sparkline of answers per minute. The tree shows each
node of the contact tree being walked, and the table the people still silent, longest first.

Every state is drawn with a glyph and a word as well as a colour, so that nothing depends on
colour alone. Reads run in a thread worker under the app's database lock; the screen reads
again whenever the app announces a change and moves the elapsed times on every second. The
keys record an answer taken by phone (``a``), call the silent again (``r``) and cancel the
mobilization (``c``); each write runs in its own worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Label, Sparkline, Static, Tree
from textual.widgets.tree import TreeNode

from console import timefmt
from console.timefmt import span
from console.tui.screens.live import LiveScreen
from console.tui.widgets.keybar import KeyBar
from console.tui.widgets.looks import (
    LOOKS,
    MOB_LOOKS,
    NODE_LOOKS,
    NOTIFIED_LOOK,
    SILENT_LOOK,
    Look,
    exercise_badge,
    look_of,
)
from mobilization import (
    SILENT,
    Counts,
    Mobilization,
    MobilizationState,
    NodeState,
    NodeStatus,
    RecipientState,
    Summary,
    node_states,
    recipient_rows,
    summary,
)
from store.clock import Clock
from store.db import Database
from store.errors import NotFound
from store.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from console.tui.dialogs.answer import AnswerResult

TICK_SECONDS = 1.0  # elapsed times ("⏳ 4m") move on between reads
NARROW = 100  # below this many columns the nodes and the silent stack instead of side by side


SILENT_COLUMNS = (
    ("name", N_("person")),
    ("node", N_("node")),
    ("code", N_("ack code")),
    ("since", N_("silent since")),
    ("sends", N_("sends")),
)


def elapsed(delta: timedelta) -> str:
    """A short elapsed time: ``45s``, ``4m``, ``1h05m``, ``2d3h``."""
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds}s" if seconds < 60 else span(timedelta(seconds=seconds))


def duration(seconds: float | None) -> str:
    """A time to answer: ``45s``, ``4m05s``, ``1h05m``; ``—`` when nobody answered yet."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return span(timedelta(seconds=whole))


def mobilization_state(mob: Mobilization) -> Text:
    look = MOB_LOOKS.get(mob.state, Look("?", mob.state, ""))
    return look.text()


def node_label(node: NodeState, now: datetime) -> Text:
    """One tree line: state (glyph, words, colour), the node's label, its counts, silence."""
    if node.state == NodeStatus.ACTIVE and node.tier > 0:
        text = LOOKS[RecipientState.ESCALATED].text(
            _("alternate {tier} called").format(tier=node.tier)
        )
    else:
        text = NODE_LOOKS.get(node.state, Look("?", node.state, "")).text()
    text.append("  ")
    text.append(node.label)
    counts = node.counts
    if counts.total:
        said = _("{yes}/{total} said yes").format(yes=counts.yes, total=counts.total)
        text.append(f"  {said}", style="green" if counts.yes else "dim")
    if node.state == NodeStatus.ACTIVE and counts.silent and node.released_at is not None:
        text.append(f"  ⏳ {elapsed(now - node.released_at)}", style="yellow")
    return text


def counters(total: Counts) -> Text:
    """The five counters, each with its glyph and word, then what is left over."""
    text = Text()  # wraps on a narrow terminal: no counter may be cut off
    parts: list[tuple[Look, int]] = [
        (NOTIFIED_LOOK, total.notified),
        (LOOKS[RecipientState.YES], total.yes),
        (LOOKS[RecipientState.NO], total.no),
        (SILENT_LOOK, total.silent),
        (LOOKS[RecipientState.UNREACHABLE], total.unreachable),
    ]
    for index, (look, count) in enumerate(parts):
        if index:
            text.append("  ")
        text.append(f"{look.glyph} {look.word} ", style=look.style if count else "dim")
        text.append(str(count), style="bold" if count else "dim")
    text.append("   " + _("of {total}").format(total=total.total))
    for state, count in (
        (RecipientState.QUEUED, total.queued),
        (RecipientState.STOOD_DOWN, total.stood_down),
        (RecipientState.CANCELLED, total.cancelled),
    ):
        if count:
            look = LOOKS[state]
            text.append(f"  {look.glyph} {look.word} {count}", style="dim")
    return text


def since_cell(since: datetime, now: datetime, zone: ZoneInfo) -> Text:
    """``14:02 ⏳ 4m`` (with the date when it is not today)."""
    text = Text(f"{timefmt.when(since, now, zone)} ")
    text.append(f"⏳ {elapsed(now - since)}", style="yellow")
    return text


def candidate_order(row: dict[str, Any]) -> tuple[int, int]:
    """The silent first, then those not yet sent, then those who answered or were closed."""
    state = str(row["state"])
    rank = 0 if state in SILENT else 1 if state == RecipientState.QUEUED else 2
    return rank, int(row["id"])


def phone_answer_step(result: AnswerResult) -> Callable[[Database, Clock, str], str]:
    """The write that records an answer taken on the phone (the answer dialog's ``result``),
    saying what was recorded: for this screen and the silent list."""

    def step(db: Database, clock: Clock, operator: str) -> str:
        from mobilization import record_answer  # the answers load on first use

        answer = record_answer(
            db,
            clock,
            operator,
            yes=result.yes,
            via="phone",  # the dialog records what someone said when rung
            recipient_id=result.recipient_id,
            eta_min=result.eta_min,
        )
        said = LOOKS[RecipientState.YES if answer.yes else RecipientState.NO].text().plain
        if not answer.first and not answer.changed:
            return _("{name}: already recorded {answer}").format(name=answer.name, answer=said)
        if result.eta_min is not None:
            return _("{name}: {answer}, ETA {minutes} min").format(
                name=answer.name, answer=said, minutes=result.eta_min
            )
        return f"{answer.name}: {said}"

    return step


@dataclass(frozen=True)
class Snapshot:
    """What one read of the mobilization found."""

    summary: Summary
    nodes: list[NodeState]
    recipients: list[dict[str, Any]]

    @property
    def mobilization(self) -> Mobilization:
        return self.summary.mobilization


class MobilizationScreen(LiveScreen):
    """动员 — one mobilization as it runs.

    Args:
        mobilization_id: the mobilization to show.
    """

    READ_TITLE = N_("mobilization")

    CSS_PATH = "mobilization.tcss"
    BINDINGS = [
        Binding("a", "answer", N_("Record answer")),
        Binding("r", "resend", N_("Resend")),
        Binding("c", "cancel_mobilization", N_("Cancel mobilization")),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self, mobilization_id: int) -> None:
        super().__init__()
        self.mobilization_id = mobilization_id
        self.snapshot: Snapshot | None = None
        self._tree_nodes: dict[int, TreeNode[int]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="mob-top"):
            yield Static(id="mob-head")
            yield Static(id="mob-counters")
            with Horizontal(id="mob-timing"):
                yield Static(id="mob-times")
                yield Sparkline([], id="mob-spark")
        with Horizontal(id="mob-body"):
            with Vertical(id="mob-nodes"):
                yield Label(_("Nodes"), classes="section-title")
                yield Tree[int]("nodes", id="mob-tree")
            with Vertical(id="mob-people"):
                yield Label(_("Still silent"), classes="section-title", id="mob-silent-title")
                yield DataTable(id="mob-silent", cursor_type="row", zebra_stripes=True)
                yield Static(_("Nobody is silent."), id="mob-silent-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#mob-tree", Tree).show_root = False
        table = self.query_one("#mob-silent", DataTable)
        for key, label in SILENT_COLUMNS:
            table.add_column(_(label), key=key)
        head = _("Mobilization #{id}").format(id=self.mobilization_id)
        self.query_one("#mob-head", Static).update(f"{head} …")
        table.focus()
        self.set_interval(TICK_SECONDS, self._tick)
        self.load()

    def on_resize(self, event: events.Resize) -> None:
        self.query_one("#mob-body").set_class(event.size.width < NARROW, "-narrow")

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="mobilization-read")
    def load(self) -> None:
        """Read the summary, the nodes and the people, then show them on the UI thread."""
        ctx = self.desk.ctx
        mob = self.mobilization_id
        self.read_and_show(
            lambda: Snapshot(
                summary(ctx.db, mob, ctx.clock.now()),
                node_states(ctx.db, mob),
                recipient_rows(ctx.db, mob),
            ),
            self._show,
        )

    def read_failed(self, exc: Exception) -> None:
        super().read_failed(exc)
        if isinstance(exc, NotFound) and self.is_current:
            self.dismiss()

    # ---- showing ----------------------------------------------------------------------------

    def _show(self, snapshot: Snapshot) -> None:
        if not self.is_attached:
            return  # the officer left while the read ran
        self.snapshot = snapshot
        now = self.desk.ctx.clock.now()
        self._show_head(snapshot.summary)
        self._show_tree(snapshot.nodes, now)
        self._show_silent(snapshot.summary, now)
        self.refresh_bindings()

    def _show_head(self, result: Summary) -> None:
        mob = result.mobilization
        name = _("Mobilization #{id}").format(id=mob.id)
        self.sub_title = f"{name} {mob.message}"
        # The message goes last: on a narrow terminal it is what gets cut, never the state.
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f"{name}  ", style="bold")
        head.append_text(mobilization_state(mob))
        if mob.exercise:
            head.append("  ")
            head.append_text(exercise_badge())
        head.append(f"  {mob.mode.label}")
        if mob.need is not None:
            head.append("  " + _("need {need}").format(need=mob.need))
        if mob.incident_number:
            head.append("  " + _("case {number}").format(number=mob.incident_number))
        head.append("  ")
        head.append(mob.message)
        self.query_one("#mob-head", Static).update(head)
        self.query_one("#mob-counters", Static).update(counters(result.total))
        times = Text(no_wrap=True)
        times.append(_("time to answer") + " ")
        times.append(f"p50 {duration(result.p50_s)}  p90 {duration(result.p90_s)}", style="bold")
        times.append("   " + _("answers/min") + " ")
        self.query_one("#mob-times", Static).update(times)
        self.query_one("#mob-spark", Sparkline).data = [float(n) for n in result.answers_by_minute]

    def _show_tree(self, nodes: list[NodeState], now: datetime) -> None:
        tree: Tree[int] = self.query_one("#mob-tree", Tree)
        if [n.id for n in nodes] == list(self._tree_nodes):
            for node in nodes:
                self._tree_nodes[node.id].set_label(node_label(node, now))
            return
        line = tree.cursor_line
        tree.clear()
        self._tree_nodes = {}
        parents = {n.parent_id for n in nodes}
        for node in nodes:
            anchor = self._tree_nodes.get(node.parent_id or 0, tree.root)
            label = node_label(node, now)
            if node.id in parents:
                self._tree_nodes[node.id] = anchor.add(label, data=node.id, expand=True)
            else:
                self._tree_nodes[node.id] = anchor.add_leaf(label, data=node.id)
        if nodes:
            tree.move_cursor_to_line(max(0, min(line, len(nodes) - 1)))

    def _show_silent(self, result: Summary, now: datetime) -> None:
        table = self.query_one("#mob-silent", DataTable)
        zone = self.desk.ctx.config.zone
        selected = self.selected_recipient()
        table.clear()
        for person in result.silent:
            table.add_row(
                Text(person.name, no_wrap=True),
                Text(person.node, no_wrap=True),
                person.ack_code or "—",
                since_cell(person.since, now, zone),
                str(person.sends),
                key=str(person.recipient_id),
            )
        if selected is not None and str(selected) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected)))
        shown, silent = len(result.silent), result.total.silent
        title = _("Still silent: {count}").format(count=silent)
        if silent > shown:
            title += " " + _("({shown} of {count} shown)").format(shown=shown, count=silent)
        self.query_one("#mob-silent-title", Label).update(title)
        table.display = bool(result.silent)
        self.query_one("#mob-silent-empty").display = not result.silent

    def _tick(self) -> None:
        """Move the elapsed times on (silent nodes and people) without reading again."""
        if self.snapshot is None:
            return
        now = self.desk.ctx.clock.now()
        for node in self.snapshot.nodes:
            if node.state == NodeStatus.ACTIVE and node.id in self._tree_nodes:
                self._tree_nodes[node.id].set_label(node_label(node, now))
        table = self.query_one("#mob-silent", DataTable)
        zone = self.desk.ctx.config.zone
        for person in self.snapshot.summary.silent:
            key = str(person.recipient_id)
            if key in table.rows:
                table.update_cell(key, "since", since_cell(person.since, now, zone))

    def selected_recipient(self) -> int | None:
        """The recipient of the highlighted silent row, if there is one."""
        table = self.query_one("#mob-silent", DataTable)
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value) if row_key.value else None

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out what does not apply: nothing before the first read, resend/cancel once over."""
        if action in ("resend", "cancel_mobilization"):
            snapshot = self.snapshot
            return (
                snapshot is not None
                and snapshot.mobilization.state == MobilizationState.ACTIVE
                or None
            )
        if action == "answer":
            return self.snapshot is not None and bool(self.snapshot.recipients) or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_answer(self) -> None:
        """记录应答: after a phone call, record a person's yes or no (and ETA)."""
        from console.tui.dialogs.answer import AnswerCandidate, AnswerDialog

        if self.snapshot is None:
            return
        candidates = [
            AnswerCandidate(
                recipient_id=int(row["id"]),
                name=str(row["name"]),
                code=row["code"],
                status=look_of(str(row["state"])).text().plain,
            )
            for row in sorted(self.snapshot.recipients, key=candidate_order)
        ]
        self.app.push_screen(
            AnswerDialog(
                candidates,
                selected=self.selected_recipient(),
                title=_("Record answer · mobilization #{id}").format(id=self.mobilization_id),
            ),
            self._answered,
        )

    def _answered(self, result: AnswerResult | None) -> None:
        if result is None:
            return

        self.write(phone_answer_step(result))

    def action_resend(self) -> None:
        """重发: message everyone still silent again, now (after a confirmation)."""
        from console.tui.dialogs.yes_no import YesNoDialog

        def resend(db: Database, clock: Clock, operator: str) -> str:
            from mobilization import resend_silent  # the cascade loads on first use

            count = resend_silent(db, clock, operator, self.mobilization_id)
            return ngettext("resent to {count} person", "resent to {count} people", count).format(
                count=count
            )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.write(resend)

        silent = self.snapshot.summary.total.silent if self.snapshot else 0
        self.app.push_screen(
            YesNoDialog(
                _("Resend"),
                ngettext(
                    "Message the {count} silent person again now?",
                    "Message the {count} silent people again now?",
                    silent,
                ).format(count=silent),
            ),
            confirmed,
        )

    def action_cancel_mobilization(self) -> None:
        """取消动员: stop the mobilization (after a confirmation); those already called are told."""
        from console.tui.dialogs.yes_no import YesNoDialog

        def cancel(db: Database, clock: Clock, operator: str) -> str:
            from mobilization import cancel_mobilization  # the cascade loads on first use

            count = cancel_mobilization(db, clock, operator, self.mobilization_id)
            return ngettext(
                "cancelled; told {count} person", "cancelled; told {count} people", count
            ).format(count=count)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.write(cancel)

        self.app.push_screen(
            YesNoDialog(
                _("Cancel mobilization"),
                _("Cancel mobilization #{id}? Everyone already called is told.").format(
                    id=self.mobilization_id
                ),
                yes=_("Cancel it"),
                no=_("Keep it"),
            ),
            confirmed,
        )
