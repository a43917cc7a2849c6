"""Provides the dutydesk console: the Textual app's wiring and lifecycle, and ``run_console``.

The app opens on the incidents view. It polls SQLite's ``PRAGMA data_version`` so that what the
CLI or another console writes shows up within ``ui.refresh_seconds``; after its own writes it
tells its screens at once. It runs the engine (the overdue sweep) while it holds the engine
lease, and gives the lease back when it exits. One lock serialises the shared database
connection between the UI thread and the thread workers.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterable
from datetime import timedelta

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from console.context import Context
from console.messages import IncidentLogged, IncidentOpened, IncidentsChanged, IncidentUpdated
from console.screens import ContactsScreen, IncidentDetailScreen, IncidentsScreen
from console.screens.actions import CaseScreen
from contacts.roster import on_duty
from incidents.supervision import SweepResult, sweep_overdue
from store import lease
from store.db import data_version

APP_TITLE = "dutydesk 值班台"
ENGINE_SECONDS = 30.0
ON_DUTY_SECONDS = 60.0  # shifts change on the hour at most; a minute late is fine
LEASE_TTL = timedelta(seconds=90)


class DutydeskApp(App[None]):
    """The duty officer's console over one dutydesk database."""

    CSS_PATH = "app.tcss"
    TITLE = APP_TITLE
    BINDINGS = [Binding("q", "quit", "退出"), Binding("u", "contacts", "通讯录")]

    engine_state: reactive[str] = reactive("starting")
    """``starting``, ``here`` (this console runs the timers) or ``elsewhere``."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx
        self.db_lock = threading.Lock()
        self.holder = f"console:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._data_version = 0

    def get_default_screen(self) -> Screen[None]:
        return IncidentsScreen()

    def on_mount(self) -> None:
        self.sub_title = f"{self.ctx.operator} @ {self.ctx.db_path.name}"
        with self.db_lock:
            self._data_version = data_version(self.ctx.db)
        self.set_interval(self.ctx.config.refresh_seconds, self.poll_database)
        self.set_interval(ENGINE_SECONDS, self.run_engine)
        self.run_engine()
        self.show_on_duty()
        self.set_interval(ON_DUTY_SECONDS, self.show_on_duty)

    def on_unmount(self) -> None:
        if self.engine_state == "here":
            with self.db_lock:
                lease.release(self.ctx.db, self.holder)

    # ---- seeing changes ---------------------------------------------------------------------

    def poll_database(self) -> None:
        """Tell the screens when another connection has committed since the last look."""
        if not self.db_lock.acquire(blocking=False):
            return  # a worker is reading; look again at the next tick
        try:
            version = data_version(self.ctx.db)
        finally:
            self.db_lock.release()
        if version != self._data_version:
            self._data_version = version
            self.announce_change(own=False)

    def announce_change(self, *, own: bool) -> None:
        for screen in self.screen_stack:
            screen.post_message(IncidentsChanged(own=own))

    def on_incident_logged(self, message: IncidentLogged) -> None:
        self.announce_change(own=True)

    def on_incident_updated(self, message: IncidentUpdated) -> None:
        self.announce_change(own=True)

    def on_incident_opened(self, message: IncidentOpened) -> None:
        self.push_screen(IncidentDetailScreen(message.incident_id))

    def show_on_duty(self) -> None:
        """Who holds each duty post now, in the title every screen's header shows."""
        with self.db_lock:
            shifts = on_duty(self.ctx.db, self.ctx.clock.now())
        holders = "  ".join(f"{s.post.name} {s.person.name}" for s in shifts)
        self.title = f"{APP_TITLE} │ 在岗 {holders}" if holders else APP_TITLE

    def action_contacts(self) -> None:
        """通讯录: the jurisdiction tree, people and the grid check (one contacts screen open)."""
        if not isinstance(self.screen, ContactsScreen):
            self.push_screen(ContactsScreen())

    # ---- the engine -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine")
    def run_engine(self) -> None:
        """Take or renew the engine lease; while held, sweep for overdue cases."""
        ctx = self.ctx
        try:
            with self.db_lock:
                held = lease.acquire(ctx.db, self.holder, ctx.clock.now(), LEASE_TTL)
            swept = None
            while held:
                # One batch per lock hold: a large backlog never freezes the officer's keys.
                with self.db_lock:
                    step = sweep_overdue(ctx.db, ctx.clock, ctx.policy, once=True)
                swept = SweepResult(
                    step.supervised + (swept.supervised if swept else 0),
                    step.reminded + (swept.reminded if swept else 0),
                )
                if not step.more:
                    break
        except Exception as exc:  # noqa: BLE001 - a timer must outlive a locked database
            self.call_from_thread(
                self.notify, str(exc), title="engine", severity="warning", markup=False
            )
            return
        self.call_from_thread(self._engine_ran, held, swept)

    def _engine_ran(self, held: bool, swept: SweepResult | None) -> None:
        self.engine_state = "here" if held else "elsewhere"
        if swept is not None and (swept.supervised or swept.reminded):
            self.announce_change(own=True)

    # ---- command palette --------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        if isinstance(screen, CaseScreen):
            yield from screen.palette_commands()
        yield from super().get_system_commands(screen)


def run_console(ctx: Context) -> None:
    """Run the console on ``ctx`` until the officer quits."""
    DutydeskApp(ctx).run()
