"""Provides the dutydesk console: the Textual app's wiring and lifecycle, and ``run_console``.

The app opens on the dashboard (or on the queue of cases, with ``[ui] home = "incidents"``).
It polls SQLite's ``PRAGMA data_version`` so that what the CLI or another console writes shows
up within ``ui.refresh_seconds``; after its own writes it tells its screens at once
(:class:`~console.tui.messages.DataChanged`). It runs the engine (:mod:`console.engine`:
overdue sweep, mobilization sends, time-outs and escalations) on a thread of its own, which
acts only while it holds the engine lease and gives it back when the console exits, also when
the console is ended by SIGTERM (a system shutdown) or SIGHUP (its terminal closed), so a
standby engine takes over at once. Every database read or write runs in a thread worker, under
one lock that serialises the shared connection; the UI thread never touches the database.

Every screen's header names who acts at this desk (:mod:`console.acting`: by default the
roster's duty officer) and who is on duty; ``ctrl+o`` switches the acting officer to someone on
a duty post (audited), and confirming a handover here makes the incoming officer the acting one.

The same watcher reads the uplink's state every few seconds (:attr:`DutydeskApp.uplink`, shown
by the dashboard and the status line) and whether this database is a county hub with units
below it (then ``b`` opens the units' screen). A backlog older than ``[uplink] alarm_minutes``
and a token the hub refused are each told once, when they start.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from console.launch import started
from console.tui.i18n import translate_bindings, translate_system_commands
from console.tui.messages import (
    DatabasePolled,
    DataChanged,
    EngineStateChanged,
    EngineWrote,
    IncidentOpened,
)
from console.tui.screens.dashboard import DashboardScreen
from store import lease
from store.db import SQLError, change_marker, data_version
from store.errors import ConfigError, DutydeskError
from store.i18n import N_, _

if TYPE_CHECKING:
    from console.acting import Acting, DeskPerson
    from console.context import Context
    from console.engine import EngineThread
    from contacts.roster import PersonRef, Shift
    from incidents.supervision import Handover
    from reports.notices import Notice, NoticeWatcher
    from uplink.models import LinkStatus

# Only the dashboard is imported with the app: every other screen, the engine and what they
# import are imported when first used, after the first frame (tests/console/test_import_closure.py).

APP_TITLE = N_("dutydesk duty desk")
"""The header's title (an English message id: shown with ``_()``)."""
ON_DUTY_SECONDS = 60.0  # shifts change on the hour at most; a minute late is fine


QUEUE = "incidents"  # the name the one incidents queue is installed under
# Once started, everything alive (modules, styles, screens) lives as long as the console: frozen
# out of the garbage collector's way, a full collection no longer walks it. Full collections of
# what comes later (rows read, caches) still took 60-130 ms, several a minute while paging the
# queue on a big database (measured with gc.callbacks): they no longer start on their own, the
# console runs one a minute when no worker is busy. Young collections go on as usual.
FREEZE_AFTER_S = 2.0
# Imported on a thread right after the first frame (DutydeskApp._prewarm): the screens the
# dashboard's keys open, the first of each press would otherwise import.
PREWARM = (
    "console.tui.screens.incidents",  # i
    "console.tui.screens.detail",  # enter on a feed line, r
    "console.tui.screens.mobilization",  # enter on a mobilization line
    "console.tui.screens.mobilizations",  # m
    "console.tui.screens.silent",  # s
    "console.tui.dialogs.new_incident",  # n
    "console.tui.screens.contacts",  # u
    "console.tui.screens.roster",  # d
    "console.tui.screens.handover",  # h
    "console.tui.screens.help",  # ?
)
# Signals that end the console the way quitting does: the engine stops cleanly (what is in
# flight recorded, the lease given back) instead of dying with the process.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
FULL_GC_EVERY_S = 60.0
# The uplink's state moves with the drain's tries and the hub's answers, none of which the
# change marker sees: the watcher reads it this often (and at its next look after a change).
UPLINK_SECONDS = 5.0
# Whether the backlog has grown too old is a matter of the clock alone (no database).
UPLINK_ALARM_SECONDS = 1.0


class DutydeskApp(App[None]):
    """The duty officer's console over one dutydesk database."""

    # The dashboard's sheet is the app's: a default screen's own CSS_PATH is not loaded
    # before it first paints (measured with textual 8.2.8), and it is the home screen.
    CSS_PATH = ["app.tcss", "screens/dashboard.tcss"]
    TITLE = APP_TITLE
    BINDINGS = [
        Binding("q", "quit", N_("Quit")),
        Binding("u", "contacts", N_("Contacts")),
        Binding("m", "mobilizations", N_("Mobilizations")),
        Binding("d", "roster", N_("Roster")),
        Binding("h", "handover", N_("Handover")),
        # Who acts at the desk (the header names them on every screen): a picker, audited.
        Binding("ctrl+o", "switch_acting", N_("Acting officer"), show=False),
        Binding("D", "drills", N_("Drills")),
        # Warnings (预警) and the directives' inbox (通知指令): in the help and the palette; the
        # dashboard's banner names W while a warning is in force.
        Binding("W", "alerts", N_("Alerts"), show=False),
        Binding("I", "directives", N_("Directives"), show=False),
        # Only on a county hub (``[hub] enabled`` or units registered): see check_action.
        Binding("b", "hub_units", N_("Units")),
        Binding("question_mark", "help", N_("Help")),
        Binding("ctrl+t", "toggle_theme", N_("Toggle theme"), show=False),
        # Textual's own palette key, declared here so that its words are translated with the
        # rest (Textual adds one of its own, in English, only when the app declares none).
        Binding(
            "ctrl+p",
            "command_palette",
            N_("palette"),
            show=False,
            priority=True,
            tooltip=N_("Open the command palette"),
        ),
    ]

    engine_state: reactive[str] = reactive("starting")
    # What keeps this machine's engine from sending (out of file descriptors, a full disk):
    # shown beside the engine's state until the next message goes out. Empty when all is well.
    engine_trouble: reactive[str] = reactive("")
    """``starting``, ``here`` (this console runs the timers) or ``elsewhere``."""
    uplink: reactive[LinkStatus | None] = reactive(None)
    """The link to the level above as last read (``None`` until the first read)."""
    has_hub: reactive[bool] = reactive(False, bindings=True)
    """This database receives from units below (``[hub] enabled``, or units registered)."""

    @dataclass
    class UplinkRead(Message, bubble=False):
        """The watcher read the uplink's state (and whether this is a hub); it changed."""

        status: LinkStatus
        has_hub: bool

    def __init__(self, ctx: Context, *, home: str | None = None) -> None:
        translate_bindings()
        super().__init__()
        # TITLE was read when the class was defined, before the language was chosen.
        if self.title == APP_TITLE:
            self.title = _(APP_TITLE)
        self.ctx = ctx
        self.home = home or ctx.config.home
        self.db_lock = threading.Lock()
        self.holder = lease.new_holder("console")
        self._data_version = 0
        self._marker: tuple[object, ...] = ()
        self._polling = False
        self._watching = threading.Event()  # set: the watcher stops
        self._watcher: threading.Thread | None = None
        self.engine: EngineThread | None = None
        self._notices: NoticeWatcher | None = None  # made on first use: see notices
        self._gc_threshold: tuple[int, int, int] | None = None
        self._signals: list[signal.Signals] = []
        # The uplink as the watcher last read it (on its thread), and when it reads it next.
        self._uplink_read: tuple[LinkStatus, bool] | None = None
        self._uplink_due = 0.0
        # What the officer was told: toasts are raised once, when these start to hold.
        self._uplink_alarmed = False
        self._uplink_refused = False
        self._on_duty: list[Shift] = []  # as last read: the header's "on duty"
        # Hands a written report to the system's viewer; tests put their own here.
        self.open_file: Callable[[Path], bool] = _open_with_viewer
        # A deferred section of the configuration was refused after the first frame.
        self.config_error: ConfigError | None = None

    @property
    def notices(self) -> NoticeWatcher:
        """What is news to the officer since the last look (made by the first worker to look:
        its module is not needed before the first frame)."""
        if self._notices is None:
            from reports.notices import NoticeWatcher

            self._notices = NoticeWatcher(self.ctx.db, zone=self.ctx.config.zone)
        return self._notices

    def get_default_screen(self) -> Screen[None]:
        """The dashboard, or the queue of cases for offices that set ``[ui] home = "incidents"``."""
        if self.home != "incidents":
            return DashboardScreen()
        from console.tui.screens.incidents import IncidentsScreen

        return IncidentsScreen()

    def action_incidents(self) -> None:
        """事件: the queue of cases (one list open).

        One queue is built, the first time, and kept installed: coming back to it shows it as
        it was left (filters, place in the list), refreshed if the data changed meanwhile, in a
        few milliseconds instead of composing and reading a new one.
        """
        from console.tui.screens.incidents import IncidentsScreen

        if isinstance(self.screen, IncidentsScreen):
            return
        if not self.is_screen_installed(QUEUE):
            self.install_screen(IncidentsScreen(), QUEUE)
        queue = self.get_screen(QUEUE)
        if queue in self.screen_stack:
            while self.screen is not queue:  # e.g. from a case opened in it, by the palette
                self.pop_screen()
            return
        self.push_screen(QUEUE)

    def on_mount(self) -> None:
        from console.dbinfo import database_label  # which database: the demo says so

        self.sub_title = f"{self.ctx.operator} @ {database_label(self.ctx.db_path)}"
        self.show_title()
        self.theme = "textual-light" if self.ctx.config.theme == "light" else "textual-dark"
        self._catch_stop_signals()
        # After the first frame: the engine's modules (~140 ms of imports on the worker's
        # thread) would otherwise share the interpreter with painting it.
        self.call_after_refresh(self.start)
        self.set_interval(ON_DUTY_SECONDS, self.show_on_duty)
        self.set_timer(FREEZE_AFTER_S, self._freeze)
        self.set_interval(FULL_GC_EVERY_S, self._collect_when_quiet)
        self.set_interval(UPLINK_ALARM_SECONDS, self.check_uplink)
        self.call_after_refresh(self._prewarm)  # once the first frame is painted
        self.call_after_refresh(started)  # collect as usual from now on (console.launch)

    @work(thread=True, exit_on_error=False, group="prewarm")
    def _prewarm(self) -> None:
        """Import what the keys of the first screen open, on a thread, after the first frame:
        the first press of each then pays no import (a failed import fails again, visibly, on
        the key)."""
        for name in PREWARM:
            importlib.import_module(name)
        self.call_from_thread(translate_bindings)  # the screens' bindings, in the language

    @work(thread=True, exit_on_error=False, group="start")
    def start(self) -> None:
        """Note where the data stands, start the engine, then look for changes from there.

        The first look (lease, overdue sweep) is done before this worker ends, so what the
        console shows first already reflects it; what the sweep changed is news to the first
        poll (a case gone overdue is a notice).
        """
        from console.engine import Engine, EngineThread  # after the first frame, in this worker
        from contacts.roster import on_duty
        from incidents.supervision import pending_handover

        ctx = self.ctx
        try:  # the sections the first frame did not need, before the engine uses them
            ctx.config.sections.check()
        except ConfigError as exc:
            self.call_from_thread(self._refuse_config, exc)
            return
        with self.db_lock:
            version = data_version(ctx.db)
            marker = change_marker(ctx.db)
            self.notices.prime()
            shifts = on_duty(ctx.db, ctx.clock.now())
            waiting = pending_handover(ctx.db, ctx.operator)
            ctx.refresh_leads()  # the shift leads, read here rather than on the UI thread
        uplink = self._read_uplink()
        engine = Engine(
            ctx.db_path,
            ctx.config,
            clock=ctx.clock,
            holder=self.holder,
            on_state=self._post_engine_state,
            on_change=self._post_engine_wrote,
        )
        self.engine = EngineThread(engine)
        self.engine.start()
        # Shown before this worker ends, so the first screen already says who runs the timers.
        self.call_from_thread(self._started, version, marker, engine.state, shifts, waiting, uplink)

    def _refuse_config(self, error: ConfigError) -> None:
        """A section of the configuration is wrong: the console ends as the command would
        have before opening it (the error, exit 2; see :func:`run_console`)."""
        self.config_error = error
        self.exit(return_code=error.exit_code)

    def _started(
        self,
        version: int,
        marker: tuple[object, ...],
        engine_state: str,
        shifts: list[Shift],
        waiting: Handover | None,
        uplink: tuple[LinkStatus, bool] | None,
    ) -> None:
        self._data_version, self._marker = version, marker
        if engine_state in ("here", "elsewhere"):
            self.engine_state = engine_state
        self._show_on_duty(shifts)
        self._tell_pending_handover(waiting)
        if uplink is not None:
            self._uplink_read = uplink
            self._uplink_due = monotonic() + UPLINK_SECONDS
            self._show_uplink(*uplink)
        self._watcher = threading.Thread(target=self._watch, name="dutydesk-watch", daemon=True)
        self._watcher.start()

    def _freeze(self) -> None:
        gc.freeze()
        self._gc_threshold = gc.get_threshold()
        young, middle, _full = self._gc_threshold
        gc.set_threshold(young, middle, 1_000_000)  # full collections: _collect_when_quiet

    def _collect_when_quiet(self) -> None:
        if all(worker.is_finished for worker in self.workers):
            gc.collect()

    def _catch_stop_signals(self) -> None:
        """End the console cleanly on SIGTERM/SIGHUP (only the main thread can catch them)."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._stop_signalled)
                self._signals.append(signum)

    def _stop_signalled(self) -> None:
        # The engine is asked first: with the terminal gone, the exit itself may not get far.
        if self.engine is not None:
            self.engine.request_stop()
        self.exit()

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals.clear()
        if self._gc_threshold is not None:  # the process may go on (tests, --demo builds)
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
        self._watching.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)
        if self.engine is not None:
            self.engine.stop()

    # ---- seeing changes ---------------------------------------------------------------------

    def _watch(self) -> None:
        """The watcher thread: every ``[ui] refresh_seconds``, look whether another connection
        has committed since the last look, and tell the UI only when it did.

        One thread for the console's life rather than a worker a tick: a worker's start and
        end are messages the UI thread handles, every second, for nothing most of the time
        (measured: idle CPU of the UI thread 1.39 % -> 1.50 %).
        """
        interval = self.ctx.config.refresh_seconds
        while not self._watching.wait(interval):
            try:
                changed, notices = self._look()
            except Exception:  # a locked or vanished database: look again next time
                continue
            if changed or notices:
                self.post_message(DatabasePolled(changed, notices))
            self._look_uplink()

    # ---- the uplink -------------------------------------------------------------------------

    def _read_uplink(self) -> tuple[LinkStatus, bool] | None:
        """Under the lock: the uplink's state, and whether this database is a hub.

        ``None`` when it cannot be read (an older database, a locked one): the next look
        tries again, and nothing else is held up by it.
        """
        from uplink.status import link_status

        config = self.ctx.config
        try:
            with self.db_lock:
                status = link_status(self.ctx.db, config.uplink.url, config.uplink.unit or None)
        except (DutydeskError, SQLError):  # shown as it was; read again at the next look
            return None
        return status, config.hub.enabled or self.has_hub or self._has_units()

    def _has_units(self) -> bool:
        """Whether units are registered here (a hub without ``[hub] enabled``: e.g. a copy)."""
        try:
            from uplink.hub import list_units

            with self.db_lock:
                return bool(list_units(self.ctx.db))
        except (DutydeskError, SQLError):  # not a hub, as far as told: asked again next look
            return False

    def _look_uplink(self) -> None:
        """On the watcher's thread: read the uplink when it is due; tell the UI if it changed."""
        if monotonic() < self._uplink_due:
            return
        self._uplink_due = monotonic() + UPLINK_SECONDS
        read = self._read_uplink()
        if read is not None and read != self._uplink_read:
            self._uplink_read = read
            self.post_message(self.UplinkRead(*read))

    def on_dutydesk_app_uplink_read(self, message: UplinkRead) -> None:
        self._show_uplink(message.status, message.has_hub)

    def _show_uplink(self, status: LinkStatus, has_hub: bool) -> None:
        self.uplink = status
        self.has_hub = has_hub
        self.check_uplink()

    def check_uplink(self) -> None:
        """Tell the officer, once each time it starts, that the backlog has grown too old or
        that the hub refused the token (no database: the state was read by the watcher)."""
        status = self.uplink
        if status is None:
            return
        from console.timefmt import span
        from console.tui.widgets.uplink import backlog_alarm
        from uplink.models import LinkState

        settings = self.ctx.config.uplink
        now = self.ctx.clock.now()
        alarmed = backlog_alarm(status, now, settings.alarm)
        if alarmed and not self._uplink_alarmed:
            age = span(now - status.oldest_pending_at) if status.oldest_pending_at else ""
            self.notify(
                _(
                    "{count} events wait to go up to the level above, the oldest for {age}:"
                    " see `dutydesk sync status`."
                ).format(count=f"{status.backlog:,}", age=age),
                title=_("Uplink backlog"),
                severity="warning",
                timeout=30,
                markup=False,
            )
        self._uplink_alarmed = alarmed
        refused = status.state is LinkState.UNAUTHORIZED
        if refused and not self._uplink_refused:
            self.notify(
                _(
                    "the hub refused our token: ask the county for a new one,"
                    " then `dutydesk sync retry`"
                ),
                title=_("Uplink"),
                severity="error",
                timeout=30,
                markup=False,
            )
        self._uplink_refused = refused

    def _look(self) -> tuple[bool, list[Notice]]:
        """Under the lock: has anything shown changed since the last look, and what to tell.

        New reports, answers and cases going overdue become toasts; a severity I/II report
        also rings the bell (``[ui] bell``)."""
        with self.db_lock:
            version = data_version(self.ctx.db)
            if version == self._data_version:
                return False, []
            self._data_version = version
            # The engine renews its lease every 2 s: a commit that changes nothing shown.
            marker = change_marker(self.ctx.db)
            changed = marker != self._marker
            self._marker = marker
            return changed, self.notices.poll() if changed else []

    def poll_database(self) -> None:
        """Look now, in a worker (the watcher looks by itself every ``refresh_seconds``)."""
        if not self._polling:
            self._polling = True
            self._poll()

    @work(thread=True, exit_on_error=False, group="poll")
    def _poll(self) -> None:
        changed = False
        notices: list[Notice] = []
        try:
            changed, notices = self._look()
        finally:
            self.post_message(DatabasePolled(changed, notices))

    def on_database_polled(self, message: DatabasePolled) -> None:
        self._polling = False
        if message.changed:
            self.announce_change(own=False)
        self._show_notices(message.notices)

    def _show_notices(self, notices: list[Notice]) -> None:
        for notice in notices:
            self.notify(notice.message, title=notice.title, severity=notice.severity, markup=False)
        if self.ctx.config.bell and any(notice.bell for notice in notices):
            self.bell()

    def announce_change(self, *, own: bool) -> None:
        """Tell every screen on the stack that the data changed."""
        self._uplink_due = 0.0  # the change may have queued events: the watcher reads at once
        for screen in self.screen_stack:
            screen.post_message(DataChanged(own=own))

    def on_incident_opened(self, message: IncidentOpened) -> None:
        from console.tui.screens.detail import IncidentDetailScreen

        self.push_screen(IncidentDetailScreen(message.incident_id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="on-duty")
    def show_on_duty(self) -> None:
        """Who holds each duty post now, in the title every screen's header shows."""
        from contacts.roster import on_duty

        with self.db_lock:
            shifts = on_duty(self.ctx.db, self.ctx.clock.now())
            self.ctx.refresh_leads()
        self.call_from_thread(self._show_on_duty, shifts)

    def _show_on_duty(self, shifts: list[Shift]) -> None:
        self._on_duty = shifts
        self.show_title()

    def show_title(self) -> None:
        """The title every screen's header shows: who acts at this desk, who is on duty."""
        acting = self.ctx.acting
        title = _(APP_TITLE) + " │ " + _("acting: {name}").format(name=self.ctx.operator)
        if acting is not None and acting.source == "config":
            title += " " + _("(configured)")
        holders = "  ".join(f"{s.post.name} {s.person.name}" for s in self._on_duty)
        if holders:
            title += " │ " + _("on duty: {holders}").format(holders=holders)
        self.title = title

    # ---- who acts at the desk -----------------------------------------------------------------

    def action_switch_acting(self) -> None:
        """当班人: choose who acts at this desk from the people on duty posts (audited)."""
        self._read_desk_people()

    @work(thread=True, exclusive=True, exit_on_error=False, group="acting")
    def _read_desk_people(self) -> None:
        from console.acting import desk_people

        try:
            with self.db_lock:
                people = desk_people(self.ctx.db, self.ctx.clock.now())
        except (DutydeskError, SQLError) as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.call_from_thread(self._pick_acting, people)

    def _pick_acting(self, people: list[DeskPerson]) -> None:
        from console.tui.dialogs.acting import ActingDialog

        if not people:
            self.notify(
                _("Nobody is on a duty post: add posts and rotations to the roster first (d)."),
                title=_("Acting officer"),
                severity="warning",
                markup=False,
            )
            return
        self.push_screen(ActingDialog(people, self.ctx.operator), self._acting_chosen)

    def _acting_chosen(self, person: PersonRef | None) -> None:
        if person is not None and person.name != self.ctx.operator:
            self._switch_acting(person)

    @work(thread=True, exit_on_error=False, group="write")
    def _switch_acting(self, person: PersonRef) -> None:
        from console.acting import switch

        ctx = self.ctx
        try:
            with self.db_lock:
                acting = switch(ctx.db, ctx.clock, ctx.operator, person)
        except DutydeskError as exc:
            self.call_from_thread(
                self.notify, str(exc), title=_("Acting officer"), severity="error", markup=False
            )
            return
        self.call_from_thread(self.act_as, acting)

    def act_as(self, acting: Acting) -> None:
        """From now on ``acting`` acts here: the header says so, and every screen re-reads
        (what waits for them, a handover to confirm, differs)."""
        before = self.ctx.operator
        self.ctx.act_as(acting)
        if self.sub_title.startswith(f"{before} @ "):  # "who @ which database"
            self.sub_title = acting.name + self.sub_title[len(before) :]
        self.show_title()
        self.notify(
            _("{name} acts at this desk now ({why}).").format(name=acting.name, why=acting.why),
            title=_("Acting officer"),
            markup=False,
        )
        self.announce_change(own=True)
        self.show_on_duty()

    def _tell_pending_handover(self, waiting: Handover | None) -> None:
        """A handover waiting for this operator is the first thing they are told."""
        if waiting is not None:
            self.notify(
                _("{operator} has handed the shift over to you: press h to confirm.").format(
                    operator=waiting.from_operator
                ),
                title=_("Handover"),
                timeout=30,
                markup=False,
            )

    def action_contacts(self) -> None:
        """通讯录: the jurisdiction tree, people and the grid check (one contacts screen open)."""
        from console.tui.screens.contacts import ContactsScreen

        if not isinstance(self.screen, ContactsScreen):
            self.push_screen(ContactsScreen())

    def action_roster(self) -> None:
        """值班表: who holds each post now and next, and the gaps ahead."""
        from console.tui.screens.roster import RosterScreen

        if not isinstance(self.screen, RosterScreen):
            self.push_screen(RosterScreen())

    def action_handover(self) -> None:
        """交接班: hand the shift over, or confirm the handover waiting for you."""
        from console.tui.screens.handover import HandoverScreen

        if not isinstance(self.screen, HandoverScreen):
            self.push_screen(HandoverScreen())

    def action_help(self) -> None:
        """帮助: every key of the current screen and the app's."""
        from console.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        """退出: asks first when this console runs the engine and work is pending (it can go
        on headless); see :mod:`console.tui.dialogs.quit`."""
        from console.tui.dialogs.quit import quit_console

        await quit_console(self)

    def action_reports(self) -> None:
        """报告: a report's key figures, then the file (the current case's, the duty log, the
        statistics, a drill's after-action report), written and opened."""
        from console.tui.dialogs.report import ReportDialog
        from console.tui.screens.actions import CaseScreen

        translate_bindings()  # the dialog was imported just now
        screen = self.screen
        incident = screen.selected_incident() if isinstance(screen, CaseScreen) else None
        if incident is None:
            self.push_screen(ReportDialog(chooser=True))
        else:
            self.push_screen(
                ReportDialog(case_id=incident.id, case_number=incident.number, chooser=True)
            )

    def action_toggle_theme(self) -> None:
        """明暗: switch between the dark and the light theme."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_mobilizations(self) -> None:
        """动员: the mobilizations, newest first (one list open)."""
        from console.tui.screens.mobilizations import MobilizationsScreen

        if not isinstance(self.screen, MobilizationsScreen):
            self.push_screen(MobilizationsScreen())

    def action_drills(self) -> None:
        """演练: upcoming drills, the runs going on, past runs and their evaluation."""
        from console.tui.screens.drills import DrillsScreen

        translate_bindings()  # the drills' screen and dialogs were imported just now
        if not isinstance(self.screen, DrillsScreen):
            self.push_screen(DrillsScreen())

    def action_alerts(self) -> None:
        """预警: the CAP warnings issued here or received, with their 叫应."""
        from console.tui.screens.alerts import AlertsScreen

        translate_bindings()  # the alerts' screen was imported just now
        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def action_directives(self) -> None:
        """通知指令: the directives from the level above, to read and reply to."""
        from console.tui.screens.directives import DirectivesScreen

        translate_bindings()  # the inbox was imported just now
        if not isinstance(self.screen, DirectivesScreen):
            self.push_screen(DirectivesScreen())

    def action_hub_units(self) -> None:
        """下级单位: the units that report to this hub, and which of them went silent."""
        from console.tui.screens.hub import HubUnitsScreen

        translate_bindings()  # the hub's screens were imported just now
        if not isinstance(self.screen, HubUnitsScreen):
            self.push_screen(HubUnitsScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The units' key exists on a hub only (elsewhere it is neither shown nor bound)."""
        if action == "hub_units":
            return self.has_hub
        return True

    # ---- the engine -------------------------------------------------------------------------

    def _post_engine_state(self, state: str) -> None:
        """From the engine's thread: it took the lease, saw another holder or stopped."""
        self.post_message(EngineStateChanged(state))

    def _post_engine_wrote(self) -> None:
        """From the engine's thread: its timers changed the data."""
        self.post_message(EngineWrote())

    def on_engine_state_changed(self, message: EngineStateChanged) -> None:
        self.engine_state = message.state

    def on_engine_wrote(self, message: EngineWrote) -> None:
        trouble = (self.engine.engine.local_error or "") if self.engine is not None else ""
        if trouble != self.engine_trouble:
            self.engine_trouble = trouble
            if trouble:
                self.notify(trouble, title=_("Messages held back"), severity="error", timeout=30)
        self.announce_change(own=True)

    # ---- command palette --------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        from console.tui.screens.actions import CaseScreen

        if isinstance(screen, CaseScreen):
            yield from screen.palette_commands()
        yield SystemCommand(_("Keys"), _("Every key of this screen (?)"), self.action_help)
        yield SystemCommand(
            _("Reports…"),
            _("A case report, the duty log, the statistics or a drill's AAR: figures, then file"),
            self.action_reports,
        )
        yield SystemCommand(
            _("Acting officer"),
            _("Who acts at this desk: switch to someone on a duty post (ctrl+o)"),
            self.action_switch_acting,
        )
        yield SystemCommand(
            _("Drills"),
            _("Upcoming and running drills, past runs and their evaluation (D)"),
            self.action_drills,
        )
        yield SystemCommand(
            _("Alerts"),
            _("The warnings in force and past, each with its call-and-answer (W)"),
            self.action_alerts,
        )
        yield SystemCommand(
            _("Directives"),
            _("The directives from the level above, to read and reply to (I)"),
            self.action_directives,
        )
        if self.has_hub:
            yield SystemCommand(
                _("Units"),
                _("The units below this hub: open cases, overdue, silence (b)"),
                self.action_hub_units,
            )
        yield SystemCommand(_("Toggle theme"), _("Dark / light (ctrl+t)"), self.action_toggle_theme)
        yield from translate_system_commands(super().get_system_commands(screen))


def _open_with_viewer(path: Path) -> bool:
    """:func:`console.tui.viewer.open_with_viewer`, imported when first used."""
    from console.tui.viewer import open_with_viewer

    return open_with_viewer(path)


def run_console(ctx: Context) -> None:
    """Run the console on ``ctx`` until the officer quits (or a SIGTERM/SIGHUP ends it).

    Raises:
        ConfigError: a section of the configuration checked after the first frame is wrong
            (``ctx`` opened with ``deferred_sections``); the console closed at once.
    """
    app = DutydeskApp(ctx)
    try:
        app.run()
    finally:
        if app.engine is not None:  # however the app ended: the lease goes back
            app.engine.stop()
    if app.config_error is not None:  # said as the command says any configuration error
        raise app.config_error
