"""Provides quitting the console without silently stopping the engine.

A console that runs the engine (it holds the lease) and leaves work behind — mobilizations
running, messages queued, events for the level above, a drill due — would stop every escalation
until the next engine starts. :func:`quit_console` asks first (:class:`QuitDialog`): keep the
engine running headless (a detached ``dutydesk serve`` takes the lease over, and the console
quits once it holds it), quit and pause the escalations, or stay. A console that does not run
the engine, or has nothing pending, quits at once.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from store.i18n import N_, _

if TYPE_CHECKING:
    from console.engine import PendingWork
    from console.tui.app import DutydeskApp

HEADLESS = "headless"  # keep the engine running in a detached `dutydesk serve`
PAUSE = "pause"  # quit, and the escalations wait for the next engine


class QuitDialog(ModalScreen[str | None]):
    """What quitting would stop; dismisses with :data:`HEADLESS`, :data:`PAUSE` or ``None``."""

    CSS_PATH = "quit.tcss"
    BINDINGS = [
        Binding("k", "choose('headless')", N_("Keep running headless")),
        Binding("p", "choose('pause')", N_("Pause and quit")),
        Binding("escape", "choose(None)", N_("Stay")),
    ]

    def __init__(self, work: list[str]) -> None:
        super().__init__()
        self._work = work

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog", classes="dialog") as box:
            box.border_title = _("Quit: the engine runs here")
            yield Label(
                _("This console runs the engine, and it has work pending:"),
                classes="dialog--prompt",
            )
            for line in self._work:
                yield Label(f"• {line}", classes="quit-dialog--work", markup=False)
            yield Label(
                _(
                    "Quitting stops it until the next console or `dutydesk serve` starts."
                    " Keep it running headless?"
                ),
                classes="quit-dialog--question",
            )
            with Horizontal(classes="dialog--buttons"):
                yield Button(_("Keep running headless") + " (k)", variant="primary", id="headless")
                yield Button(_("Pause and quit") + " (p)", variant="error", id="pause")
                yield Button(_("Stay") + " (esc)", id="stay")

    def on_mount(self) -> None:
        self.query_one("#headless", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        choice = event.button.id
        self.dismiss(choice if choice in (HEADLESS, PAUSE) else None)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)


async def quit_console(app: DutydeskApp) -> None:
    """Quit, asking first when this console's engine would leave work pending."""
    if isinstance(app.screen, QuitDialog):
        return  # asked already
    engine = app.engine
    if engine is None or app.engine_state != "here" or engine.stopped:
        app.exit()
        return
    app.run_worker(partial(_read_pending, app), thread=True, exit_on_error=False, group="quit")


def _read_pending(app: DutydeskApp) -> None:
    """On a worker: what the engine would leave waiting; then quit or ask."""
    from console.engine import pending_work

    ctx = app.ctx
    pending: PendingWork | None
    try:
        with app.db_lock:
            pending = pending_work(ctx.db, ctx.config, ctx.clock.now())
    except Exception:  # cannot tell: ask rather than stop escalations unannounced
        pending = None
    app.call_from_thread(_ask, app, pending)


def _ask(app: DutydeskApp, pending: PendingWork | None) -> None:
    if pending is not None and pending.empty:
        app.exit()
        return
    lines = (
        pending.lines(app.ctx.config.zone)
        if pending is not None
        else [_("what is pending could not be read")]
    )

    def chosen(choice: str | None) -> None:
        if choice == PAUSE:
            app.exit()
        elif choice == HEADLESS:
            app.notify(_("Starting the engine headless…"), title=_("Engine"), timeout=30)
            app.run_worker(partial(_hand_over, app), thread=True, exit_on_error=False, group="quit")

    app.push_screen(QuitDialog(lines), chosen)


def _hand_over(app: DutydeskApp) -> None:
    """On a worker: pass the engine to a detached ``dutydesk serve``, then quit."""
    from console.engine import hand_over, headless_log
    from store.db import connect
    from store.errors import DutydeskError

    ctx = app.ctx
    assert app.engine is not None
    # A connection of this worker's own: the hand-over waits seconds, and the screens keep
    # reading through the shared one meanwhile.
    db = connect(ctx.db_path, migrate=False)
    try:
        proc = hand_over(app.engine, db, ctx.config.path, ctx.clock)
    except DutydeskError as exc:
        app.call_from_thread(
            app.notify,
            str(exc),
            title=_("The engine could not be handed over"),
            severity="error",
            timeout=60,
            markup=False,
        )
        return
    finally:
        db.close()
    said = _(
        "The engine goes on headless: dutydesk serve, process {pid} (log: {log})."
        " Stop it with: kill {pid}, or install the service: dutydesk service install"
    ).format(pid=proc.pid, log=headless_log(ctx.db_path))
    app.call_from_thread(app.exit, None, 0, said)
