"""Provides the engine: the one loop per database that runs every timer dutydesk has.

The engine holds the lease (:mod:`store.lease`), and while it does it sends what mobilizations
have queued (through the senders of :mod:`mobilization.channels`), times out the silent and
escalates (:func:`mobilization.process_due`), frees expired ack codes, sweeps for overdue cases
and for information reports gone overdue (:func:`uplink.sitreps.sweep`). ``dutydesk serve`` runs
it next to the HTTP endpoints; the console runs it in a thread of its own
(:class:`EngineThread`) when no ``serve`` holds the lease. A second engine stands by: every
:attr:`EngineOptions.standby_s` it reads who holds the lease (a read, not a write), and takes
the lease as soon as the row is gone (a clean stop) or has expired (a crash).

Everything the loop acts on is a row, so killing it loses nothing: attempts it had handed to a
sender and not yet recorded stay ``pending`` and are sent again, with the same id, by whichever
engine runs next. Outcomes are recorded as they arrive: each sender worker reports what became
of its request, and the engine commits whatever has come back in one transaction (a group
commit). A worker may send its next request while its last outcome is being committed, but
no further ahead, so a crash sends again at most two requests per worker (one on the wire, one
answered and not yet recorded: 2 x ``concurrency`` x ``batch`` per channel), never a whole
chunk. A stop (:meth:`Engine.run`'s event, SIGTERM/SIGINT through :func:`run_until_signalled`)
starts nothing new, lets the requests in flight finish for up to ``drain_s``, hands back the
rest unsent, and releases the lease for a standby.

A send that failed for this machine's own reason (out of file descriptors, a full disk: see
:func:`mobilization.local_fault`) is nobody's answer: it stays pending and goes again after
``local_retry_s``, and the engine says so in :attr:`Engine.local_error` (and ``last_error``).

The loop keeps the senders busy: it claims up to ``chunk`` messages at a time and lets at most
``inflight`` chunks per channel travel at once.

Drills: while it holds the lease the engine runs an APScheduler 3.11 ``AsyncIOScheduler`` on its
loop (a ``MemoryJobStore`` in UTC, ``misfire_grace_time=None``: our claims decide lateness, not
APScheduler), rebuilt from the tables whenever the engine takes the lease: one date job per
active schedule, at its next due moment (:func:`drills.schedules.next_moments`). A job only
names its schedule; the drill worker (one task, and one thread with a connection of its own, so
a 30,000-person call-out never stalls the senders) claims what fell due with
:func:`drills.schedules.fire_due` (jobs due together share one pass) and arms the schedule's
next moment. Every ``sweep_s`` a full pass claims for all schedules (a clock jump, a job lost)
and reminds overdue improvement items; every ``drill_look_s`` a look moves runs on (injects
released, runs ended: :func:`drills.runs.advance`) and, when a cheap read of the active
schedules and the plans differs from what the jobs were built from (another process changed
them), builds the jobs again; :meth:`Engine.drills_changed` asks for a look at once. Drill
notices (reminders, injects) go out through the same senders, recorded apart from the
call-outs' attempts (:func:`drills.notices.record`). The scheduler stops (``wait=False``) when
the engine stops or loses the lease; what it had armed is only a wake-up: the claims make
every moment fire once, whoever fires it. What keeps drills from firing or reminding is in
:attr:`Engine.drill_error`; a drill never holds back a real call-out.

The downlink (with ``[uplink]``): the engine pulls the unit's inbox from the hub (alerts and
directives sent down, :class:`uplink.downlink.Puller`) every ``[uplink] poll_seconds`` and at
once when the hub pokes (``POST /v1/inbox/poke`` calls :meth:`Engine.poke`); each item is
taken in one transaction with the cursor's move, and a new alert starts its 叫应 there
(:func:`uplink.downlink.take_item`). What keeps it from pulling is in
:attr:`Engine.downlink_error`. At a hub (``[hub] enabled``) the engine pokes each unit with a
push URL as soon as its inbox gained items (a failed poke is not retried: the unit polls). The
sweep also marks directives whose reply is overdue (:func:`uplink.directives.sweep_overdue`).

Never silently stopped: :func:`pending_work` says what a console that runs the engine would
leave waiting if it quit, :func:`start_headless` and :func:`hand_over` pass the lease to a
detached ``dutydesk serve`` so escalations go on, and :func:`paused_text` is what the dashboard
and ``mobilization show`` say while no engine holds the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from console.config import Config
from console.context import keys_for, uplink_token, uplink_unit
from incidents.citizen import due_replies, record_replies
from incidents.supervision import sweep_overdue
from mobilization import (
    Delivery,
    Outgoing,
    Routing,
    Sender,
    build_senders,
    claim_pending,
    expire,
    local_fault,
    process_due,
    record_deliveries,
    release_attempts,
    release_claims,
)
from mobilization.channels import NOT_SENT
from store import lease
from store.audit import checkpoint
from store.clock import Clock, SystemClock
from store.db import Database, SQLError, connect, write
from store.errors import DatabaseBusy, DutydeskError, InvalidInput
from store.i18n import _
from uplink import directives, sitreps
from uplink import field as field_side

if TYPE_CHECKING:
    from uplink.downlink import Puller
    from uplink.drain import Drain

SWEEP_BATCH = 500
# How long a group commit of outcomes waits for more to come back, when nobody waits for it.
GATHER_S = 0.002
SWEEP_PAUSE_S = 0.05
# Drill jobs falling due within this of each other are claimed in one pass (1,000 reminders
# in one minute: a few transactions, not a thousand).
DRILL_GATHER_S = 0.1
# A job that fired before the engine's clock reached its moment (a clock that is not the wall
# clock), or whose pass failed, is armed again no sooner than this.
DRILL_RETRY_S = 5.0
# The engine's clock and the monotonic clock disagreeing by more than this between two looks:
# the clock jumped, and every job is armed again.
CLOCK_JUMP_S = 2.0
ARM_CHUNK = 500  # drill jobs set between two looks of the loop at other work


@dataclass(frozen=True)
class EngineOptions:
    """How often the loop looks, how long its lease lasts, how much it sends at once."""

    tick_s: float = 0.2
    # With nothing due, nothing in flight and nothing done last time, look once a second: a
    # console left open all shift must cost next to nothing (work started here wakes it at
    # once; work started by another process is seen within idle_s).
    idle_s: float = 1.0
    lease_ttl: timedelta = timedelta(seconds=6)
    renew_s: float = 2.0
    # A standby reads the lease row this often (a read: cheap), so it takes over well within
    # a second of a clean stop.
    standby_s: float = 0.25
    sweep_s: float = 30.0
    chunk: int = 500
    inflight: int = 4
    # On a stop, how long requests in flight may take to finish before they are abandoned
    # (their attempts then go again, same id, from the next engine).
    drain_s: float = 3.0
    # A send held back by a local error (EMFILE, ENOSPC...) goes again after this long.
    local_retry_s: float = 5.0
    # The uplink's drain looks for new events this often when it has nothing to send.
    uplink_s: float = 1.0
    # How often the drill worker looks (cheaply) whether another process changed the
    # schedules or the plans, to arm their jobs again.
    drill_look_s: float = 5.0


def _warm_for_alerts() -> None:
    """Load what taking a warning needs (the CAP schema compiled, the 叫应's modules)."""
    from uplink import cap

    importlib.import_module("uplink.callanswer")
    cap.schema()


def routing_for(
    config: Config, db_path: Path, db: Database, base_url: str | None = None
) -> Routing:
    """The configured channels, the public address ack links point at, the key that signs them,
    and the hook that gives a field dispatch's call-outs each person's own case link."""
    url = base_url or config.base_url
    keys = keys_for(db, db_path, config)
    return Routing(
        configured=config.channels.configured,
        base_url=url,
        keys=keys,
        link_for=partial(field_side.recipient_link, keys=keys, base_url=url),
    )


def drain_for(db: Database, config: Config, clock: Clock) -> Drain | None:
    """The uplink's drain as configured; ``None`` when the unit's code is unknown.

    Raises:
        InvalidInput: the token file is missing, unsafe or malformed, or no token is set.
    """
    from uplink.drain import Drain
    from uplink.outbox import Projection

    assert config.uplink.url is not None
    unit = uplink_unit(db, config)
    if unit is None:
        return None
    token = uplink_token(config)
    if token is None:
        raise InvalidInput(_("set token or token_file to send to the hub"), "uplink.token")
    settings = config.uplink
    return Drain(
        config.uplink.url,
        token,
        Projection(unit, settings.include_reporter, settings.summary_every),
        clock,
        batch=settings.batch,
        timeout_s=settings.timeout_s,
        backoff_max_s=settings.backoff_max_s,
        hub_rollup_every=config.hub.rollup_every
        if config.hub.enabled and settings.rollup
        else None,
    )


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


async def send_citizen_replies(db: Database, clock: Clock, sender: Sender) -> int:
    """Send the acknowledgements queued for citizens' SMS through ``sender`` (the SMS channel).

    Each goes under the idempotency key ``sms-reply-<entry id>``. A reply the channel took or
    refused for good is recorded (``sms_reply_sent``/``sms_reply_failed``); one that failed
    here (a local fault) or was not tried stays due for the next sweep.

    Returns:
        The replies recorded.
    """
    replies = due_replies(db)
    if not replies:
        return 0
    messages = [
        Outgoing(
            attempt_id=r.key,
            recipient_id=0,
            channel=sender.name,
            address=r.to,
            text=r.text,
            kind="notice",
        )
        for r in replies
    ]
    done = {d.attempt_id: d for d in await sender.send(messages)}
    outcomes = [
        (r, d.ok, d.error) for r in replies if (d := done.get(r.key)) is not None and not d.local
    ]
    return record_replies(db, clock, outcomes)


def senders_for(config: Config, db_path: Path) -> dict[str, Sender]:
    """The senders of the configured channels; ``log`` writes next to the database by default."""
    log_path = db_path.with_name(db_path.stem + "-messages.log")
    return build_senders(config.channels, log_path=log_path)


def _drill_signature(db: Database) -> object:
    """What the drill jobs are built from: the active schedules and the plans' reminders.

    A cheap read (no recurrence is expanded) that changes when another process adds, edits or
    cancels a schedule, or edits a plan: the jobs are then built again.
    """
    from drills.models import ScheduleState
    from drills.plans import list_plans
    from drills.schedules import list_schedules

    schedules = tuple(
        (s.id, s.plan_id, s.start, s.zone, s.rrule)
        for s in list_schedules(db, state=ScheduleState.ACTIVE)
    )
    plans = tuple(
        (p.id, p.updated_at, p.active, p.announced, p.reminders_min)
        for p in list_plans(db, active=None)
    )
    return schedules, plans


@dataclass
class _Flight:
    """A chunk handed to a sender, and which of its outcomes the sender has reported.

    ``notices``: the chunk is drill notices (:mod:`drills.notices`), not a call-out's attempts.
    """

    chunk: list[Outgoing]
    reported: set[str] = field(default_factory=set)
    notices: bool = False


@dataclass(frozen=True)
class _DrillAsk:
    """What one pass of the drill worker is to do (made on the loop, done on its thread)."""

    ids: frozenset[int]  # schedules whose job fired
    full: bool  # claim for every schedule, move runs on, remind overdue items
    look: bool  # compare the schedules and plans with what the jobs were built from
    rebuild: bool  # compute every next moment (the jobs are built or rebuilt)
    signature: object  # what the jobs were built from, last time


@dataclass
class _DrillPass:
    """What a pass of the drill worker did, and the next moments when it computed them."""

    fired: int = 0  # runs started
    reminded: int = 0  # reminders queued
    claimed: int = 0  # moments claimed, whatever their outcome
    moved: int = 0  # runs advanced, improvement items reminded
    moments: dict[int, datetime] | None = None
    signature: object = None
    errors: list[str] = field(default_factory=list)


class Engine:
    """The timer loop over one database file; see the module docstring."""

    def __init__(
        self,
        db_path: Path,
        config: Config,
        *,
        clock: Clock | None = None,
        holder: str | None = None,
        senders: dict[str, Sender] | None = None,
        routing: Routing | None = None,
        base_url: str | None = None,
        options: EngineOptions | None = None,
        on_state: Callable[[str], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.db_path = db_path
        self.config = config
        self.clock = clock or SystemClock()
        self.holder = holder or lease.new_holder("engine")
        self.senders = senders if senders is not None else senders_for(config, db_path)
        self._routing = routing
        self.base_url = base_url
        self.options = options or EngineOptions()
        self.on_state = on_state
        self.on_change = on_change
        self.first_look = threading.Event()
        self.state = "starting"
        self.sent = 0
        self.commits = 0  # group commits of outcomes (one per batch of results that came back)
        self.last_error: str | None = None
        # Set while sends are held back by this machine's own trouble (EMFILE, a full disk):
        # what the officer must fix; cleared by the first send that goes through.
        self.local_error: str | None = None
        self._inflight: dict[asyncio.Task[list[Delivery]], _Flight] = {}
        self._worked = False  # the last step moved, claimed or failed something
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halt: asyncio.Event | None = None  # set: senders start nothing new
        self._resolved: list[Delivery] = []  # outcomes reported, not yet committed
        self._waiters: list[asyncio.Future[None]] = []  # workers waiting for that commit
        self._flush_due: asyncio.Event | None = None
        self._citizen: asyncio.Future[None] | None = None  # acknowledging citizens' SMS
        self._citizen_asked = False  # a citizen's SMS became a case: acknowledge it now
        self._closing = False  # the run is ending: the flusher commits what is left, then ends
        # The outcomes connection is used by the flusher's thread and, for hand-backs, the loop.
        self._outcomes_lock = threading.Lock()
        # Outcomes reported and not yet committed, and how many a worker may run ahead by:
        # each worker may send its next request while the outcome of its last one is being
        # committed, never more (see _committed).
        self._ahead = 0
        self._ahead_max = 1
        self.drain: Drain | None = None  # the uplink's drain, while the loop runs it
        self.uplink_error: str | None = None  # why the uplink cannot run (a bad token file...)
        self._token_stamp: tuple[int, int] | None = None  # the token file's mtime and size
        # Until when (time.monotonic) the hub asked us to wait with a Retry-After. The hub
        # limits each address over all its routes, so a 429 to the drain holds the inbox's
        # pulls too, and the other way round.
        self._hub_quiet_until = 0.0
        # --- the downlink (alerts and directives from the hub; see _downlink)
        self.puller: Puller | None = None
        self.downlink_error: str | None = None  # why the inbox cannot be pulled, if it cannot
        self.pulls = 0  # pulls done (for tests and the benchmark)
        self.pokes_sent = 0  # pokes this hub sent to its units
        self._poked: asyncio.Event | None = None
        self._pull_token_stamp: tuple[int, int] | None = None
        # --- drills (see the module docstring)
        self.drill_error: str | None = None  # why drills cannot fire or remind, if they cannot
        self.drills_fired = 0  # runs this engine started from schedules (on time or late)
        self.drill_reminders = 0  # reminders this engine queued
        self.drill_notices_sent = 0  # drill notices delivered
        self.drill_passes = 0  # passes of the drill worker done (each claims, or looks)
        self._scheduler: Any = None  # the AsyncIOScheduler, while the lease is held
        # schedule -> (its job's id, or None once the job fired; the moment it was set for)
        self._armed: dict[int, tuple[str | None, datetime]] = {}
        self._job_seq = 0
        self._drill_ids: set[int] = set()  # schedules whose job fired, for the next pass
        self._drill_full = False
        self._drill_rebuild = False
        self._drill_signature: object = None
        self._drill_kick: asyncio.Event | None = None
        self._drill_closing = False
        self._drill_pool: ThreadPoolExecutor | None = None
        self._drill_db: Database | None = None
        self._resolved_notices: list[Delivery] = []  # notice outcomes, not yet committed
        self._drills_on = False  # the lease is held and the jobs are (being) built
        self._drill_epoch = 0  # moves on each time the lease is taken or lost
        self._drill_look = False
        self._drill_problems: dict[str, str] = {}  # where drills went wrong -> what
        self._unreleased = False  # a previous holder's notice claims are still to be released

    @property
    def routing(self) -> Routing:
        """How this engine sends; built (with the key ring) when the loop starts, if not given."""
        assert self._routing is not None, "the engine's routing is known once it runs"
        return self._routing

    # --- state
    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self.on_state is not None:
                self.on_state(state)

    def wake(self) -> None:
        """Look for work now (thread-safe): a mobilization was started or answered."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def replies_queued(self) -> None:
        """Send the acknowledgements queued for citizens' SMS now (thread-safe)."""
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._loop.call_soon_threadsafe(self._ask_citizen_replies)

    def _ask_citizen_replies(self) -> None:
        self._citizen_asked = True
        if self._wake is not None:
            self._wake.set()

    def poke(self) -> None:
        """Pull the inbox from the hub now (thread-safe): the hub said something waits."""
        if self._loop is not None and self._poked is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._loop.call_soon_threadsafe(self._poked.set)

    # --- the loop
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; gives the lease back and closes the senders on the way out."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._halt = asyncio.Event()
        self._flush_due = asyncio.Event()
        db = connect(self.db_path)
        # Outcomes get a connection of their own that does not wait for the disk at each
        # commit: a commit of it survives a crash of this process (WAL); only a power cut can
        # lose the last ones, and what they recorded then goes again with the same keys, like
        # the requests in flight. It halves the cost of the many small group commits.
        outcomes = connect(self.db_path, synchronous="NORMAL", migrate=False)
        if self._routing is None:
            self._routing = routing_for(self.config, self.db_path, db, self.base_url)
        self._closing = False
        self._ahead_max = max(1, sum(s.concurrency for s in self.senders.values()))
        flusher = asyncio.ensure_future(self._flusher(outcomes))
        uplink = asyncio.ensure_future(self._uplink(stop)) if self.config.uplink.enabled else None
        self._poked = asyncio.Event()
        downlink = (
            asyncio.ensure_future(self._downlink(stop)) if self.config.uplink.enabled else None
        )
        pushes = asyncio.ensure_future(self._pushes(stop)) if self.config.hub.enabled else None
        self._drill_kick = asyncio.Event()
        self._drill_closing = False
        drills = asyncio.ensure_future(self._drills())
        held = False
        look_at = sweep_at = drill_look_at = 0.0
        try:
            while not stop.is_set():
                mono = time.monotonic()
                if mono >= look_at:
                    held = self._renew(db)
                    look_at = mono + (self.options.renew_s if held else self.options.standby_s)
                if not held:
                    if self._drills_on:
                        await self._drills_end()  # the lease was lost: another engine fires
                    self.first_look.set()
                    await self._pause(stop, self.options.standby_s)
                    continue
                if mono >= sweep_at:
                    await self._sweep(db)
                    sweep_at = mono + self.options.sweep_s
                if not self._drills_on:
                    # After the first sweep: the drills' start (their imports, the notices
                    # released, the catch-up) must not hold that sweep back.
                    self._drills_begin(db)
                if mono >= drill_look_at:
                    self._drills_ask(look=True)
                    drill_look_at = mono + self.options.drill_look_s
                self.first_look.set()
                busy = self._step(db)
                quiet = not self._worked and not self._inflight
                await self._pause(
                    stop, 0 if busy else self.options.idle_s if quiet else self.options.tick_s
                )
                self._collect(outcomes)
        finally:
            self.first_look.set()  # stopped before its first look: nobody waits for one
            # The drill worker finishes the pass it is in (a transaction), then ends.
            self._drill_closing = True
            self._drill_kick.set()
            await asyncio.wait([drills])
            await self._drills_end()
            self._drills_close()
            # A batch on the wire when the stop came is sent again next time, same ids; an
            # inbox item is taken in one transaction with its cursor, or not at all.
            for task in (uplink, downlink, pushes):
                if task is None:
                    continue
                done, _pending = await asyncio.wait([task], timeout=self.options.drain_s)
                if not done:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if self._citizen is not None:  # a reply cut off goes again, same key
                self._citizen.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._citizen
            await self._drain(outcomes)
            # The flusher commits what came back last, then ends; a database that keeps
            # refusing must not hold the stop for ever.
            self._closing = True
            self._flush_due.set()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(flusher, timeout=self.options.drain_s)
            if held:
                with contextlib.suppress(DutydeskError):
                    lease.release(db, self.holder, self.clock.now())
            for sender in self.senders.values():
                with contextlib.suppress(Exception):
                    await sender.aclose()
            outcomes.close()
            db.close()
            self._set_state("stopped")

    # --- the uplink
    async def _uplink(self, stop: asyncio.Event) -> None:
        """Drain the outbox to the hub while this engine holds the lease (a task of the loop)."""
        db = connect(self.db_path, migrate=False)
        try:
            while not stop.is_set():
                pause = self.options.uplink_s
                if self.state == "here":
                    pause = await self._uplink_step(db)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            if self.drain is not None:
                with contextlib.suppress(Exception):
                    await self.drain.aclose()
                self.drain = None
            db.close()

    async def _uplink_step(self, db: Database) -> float:
        """One step of the drain; returns how long to wait before the next.

        A new token written to ``[uplink] token_file`` (after the hub rotated it) is taken at
        the next step: the drain is made again, no restart needed.
        """
        stamp = _stamp(self.config.uplink.token_file)
        if self.drain is not None and stamp != self._token_stamp:
            await self.drain.aclose()
            self.drain = None
            from uplink.status import retry_now

            with write(db):
                retry_now(db)
        if self.drain is None:
            self._token_stamp = stamp
            try:
                self.drain = drain_for(db, self.config, self.clock)
            except DutydeskError as exc:
                self.uplink_error = self.last_error = str(exc)
                return 5.0
            if self.drain is None:
                self.uplink_error = _(
                    "set [uplink] unit: the jurisdiction has no single top unit to report as"
                )
                return 5.0
            self.uplink_error = None
        try:  # while the hub's Retry-After runs, only project
            report = await self.drain.step(db, hold=self._hub_quiet() > 0)
        except (DutydeskError, SQLError) as exc:
            self.last_error = str(exc)
            return self.options.uplink_s
        self._hold_hub(report.retry_after)
        return 0.0 if report.more else self.options.uplink_s

    def _hold_hub(self, retry_after: float | None) -> None:
        """Keep every request to the hub back for the seconds of its ``Retry-After``."""
        if retry_after is not None:
            until = time.monotonic() + retry_after
            self._hub_quiet_until = max(self._hub_quiet_until, until)

    def _hub_quiet(self) -> float:
        """The seconds left of the hub's last ``Retry-After`` (0: ask away)."""
        return max(0.0, self._hub_quiet_until - time.monotonic())

    # --- the downlink: alerts and directives from the hub, and this hub's pokes
    async def _downlink(self, stop: asyncio.Event) -> None:
        """Pull the inbox every ``[uplink] poll_seconds`` and at once on a poke (a task of the
        loop, while this engine holds the lease). A failed pull is tried again sooner, within
        the poll, backing off; what went wrong is in :attr:`downlink_error`."""
        assert self._poked is not None
        db = connect(self.db_path, migrate=False)
        poll = float(self.config.uplink.poll_seconds)
        # Compile the CAP schema and load the 叫应 now, off the loop, so the first warning does
        # not pay for them: 0.4-1.3 s of CPU per township, 16 s for the last of 20 townships
        # sharing two cores against 3 s warm (bench.warnings).
        await asyncio.to_thread(_warm_for_alerts)
        try:
            via = "poll"
            while not stop.is_set():
                pause = self.options.uplink_s
                if self.state == "here":
                    try:
                        pause = await self._pull(db, via, poll)
                    except Exception as exc:  # noqa: BLE001 - the loop must outlive a bug
                        self.downlink_error = self.last_error = _(
                            "the inbox cannot be taken: {error}"
                        ).format(error=f"{type(exc).__name__}: {exc}")
                        pause = min(poll, 5.0)
                waiters = [
                    asyncio.ensure_future(self._poked.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                try:
                    await asyncio.wait(waiters, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
                via = "push" if self._poked.is_set() else "poll"
                self._poked.clear()
        finally:
            if self.puller is not None:
                with contextlib.suppress(Exception):
                    await self.puller.aclose()
                self.puller = None
            db.close()

    async def _pull(self, db: Database, via: str, poll: float) -> float:
        """One pull; returns how long to wait for the next (unless poked)."""
        from uplink.downlink import Puller, link_state

        stamp = _stamp(self.config.uplink.token_file)
        if self.puller is not None and stamp != self._pull_token_stamp:
            await self.puller.aclose()
            self.puller = None
        if self.puller is None:
            self._pull_token_stamp = stamp
            try:
                unit = uplink_unit(db, self.config)
                token = uplink_token(self.config)
            except DutydeskError as exc:
                self.downlink_error = self.last_error = str(exc)
                return min(poll, 5.0)
            if unit is None or token is None or self.config.uplink.url is None:
                self.downlink_error = _("the inbox cannot be pulled: no unit code or no token")
                return min(poll, 5.0)
            self.puller = Puller(
                self.config.uplink.url,
                token,
                unit,
                self.clock,
                timeout_s=self.config.uplink.timeout_s,
                rules=self.config.warning,
                policy=self.config.policy,
            )
        if (quiet := self._hub_quiet()) > 0:
            return quiet
        try:
            report = await self.puller.pull(db, via=via)
        except (DutydeskError, SQLError) as exc:
            self.downlink_error = self.last_error = str(exc)
            return min(poll, 5.0)
        self.pulls += 1
        if report.error is not None:
            self.downlink_error = self.last_error = report.error
            self._hold_hub(report.retry_after)
            failures = int(link_state(db)["failures"])
            backoff = min(poll, self.config.uplink.backoff_max_s, float(2 ** min(failures, 10)))
            return max(backoff, self._hub_quiet())
        self.downlink_error = None
        if report.received and self.on_change is not None:
            self.on_change()
        if report.received:
            self.wake()  # a 叫应 may have started: its messages go out now
        return poll

    async def _pushes(self, stop: asyncio.Event) -> None:
        """At a hub: poke each unit with a push URL when its inbox gained items (a task of the
        loop, while this engine holds the lease). A poke that fails is not retried: the unit
        pulls on its own every poll."""
        import httpx

        from uplink.downlink import poke_request, poked, push_targets

        db = connect(self.db_path, migrate=False)
        client = httpx.AsyncClient(timeout=httpx.Timeout(2.0))
        try:
            while not stop.is_set():
                if self.state == "here":
                    try:
                        targets = push_targets(db)
                    except (DutydeskError, SQLError) as exc:  # busy: next time
                        self.last_error = str(exc)
                        targets = []
                    if targets:
                        await asyncio.gather(
                            *(self._poke_one(client, db, t, poke_request, poked) for t in targets)
                        )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.options.uplink_s)
        finally:
            await client.aclose()
            db.close()

    async def _poke_one(
        self, client: Any, db: Database, target: Any, request: Any, done: Any
    ) -> None:
        import httpx

        url, body, headers = request(target, self.clock.now().timestamp())
        with contextlib.suppress(httpx.HTTPError):
            await client.post(url, content=body, headers=headers)
            self.pokes_sent += 1
        try:
            done(db, self.clock.now(), target)
        except (DutydeskError, SQLError) as exc:
            self.last_error = str(exc)

    def _renew(self, db: Database) -> bool:
        now = self.clock.now()
        try:
            if self.state != "here":
                # Standing by: a read says whether the lease is free, without taking the write
                # lock every look (the holder and the console's screens need it).
                other = lease.current_holder(db, now)
                if other is not None and other != self.holder:
                    self._set_state("elsewhere")
                    return False
            held = lease.acquire(db, self.holder, now, self.options.lease_ttl)
            if held and self.state != "here":
                # Taking over: whatever a previous engine had in flight has an unknown outcome
                # and goes again, with the same attempt ids.
                release_claims(db)
        except DutydeskError as exc:
            self.last_error = str(exc)
            return self.state == "here"
        self._set_state("here" if held else "elsewhere")
        return held

    async def _sweep(self, db: Database) -> None:
        """Supervise and remind what fell due, SWEEP_BATCH cases a transaction.

        Between batches the loop pauses a moment: in the console the engine shares the
        interpreter with the screens, and a sweep of thousands of reminders taken in one go
        made paging the queue stutter (pages at 50 ms instead of 30, measured on 1,000,000
        cases).
        """
        self._drills_ask(full=True)
        try:
            changed = 0
            while True:
                step = sweep_overdue(
                    db, self.clock, self.config.policy, once=True, batch=SWEEP_BATCH
                )
                changed += step.supervised + step.reminded
                if not step.more:
                    break
                await asyncio.sleep(SWEEP_PAUSE_S)
            expire(db, self.clock)
            if changed and self.on_change is not None:
                self.on_change()
        except DutydeskError as exc:
            self.last_error = str(exc)
        self._sitreps(db)
        self._directives(db)
        self._field(db, sweep=True)
        self._citizen_replies(db)
        try:
            # Sign the audit chain's head (when it moved), so a history rewritten without the
            # key file is detected later; a broken chain is reported, and the engine goes on.
            checkpoint(db, self.routing.keys, self.clock.now())
        except (DutydeskError, OSError) as exc:  # OSError: the head file (EMFILE, a full disk)
            self.last_error = str(exc)

    def _sitreps(self, db: Database) -> None:
        """Recompute the reporting obligations of the cases that changed, and write a
        ``sitrep_overdue`` entry once for each report newly overdue (the consoles' notices
        turn it into a toast and the bell). The module is imported with the engine: importing
        it on the first sweep failed when the process was out of file descriptors."""
        try:
            overdue = sitreps.sweep(db, self.clock, self.config.sitrep)
        except (DutydeskError, OSError) as exc:
            self.last_error = str(exc)
            return
        if overdue and self.on_change is not None:
            self.on_change()

    def _citizen_replies(self, db: Database) -> None:
        """Send the acknowledgements queued for citizens' SMS (:mod:`incidents.citizen`) in a
        task of the loop, one batch at a time, so a slow gateway never holds the sweep back."""
        if self._citizen is not None and not self._citizen.done():
            return
        sender = self.senders.get("sms") or self.senders.get("log")
        if sender is not None:
            self._citizen = asyncio.ensure_future(self._send_citizen_replies(db, sender))

    async def _send_citizen_replies(self, db: Database, sender: Sender) -> None:
        try:
            if await send_citizen_replies(db, self.clock, sender) and self.on_change is not None:
                self.on_change()
        except (DutydeskError, OSError) as exc:
            self.last_error = str(exc)

    def _field(self, db: Database, *, sweep: bool = False) -> None:
        """Send newly dispatched cases to the field and end the dispatches the case left (one
        read of the timeline's head when nothing changed); on a sweep, write
        ``field_accept_overdue`` once for each dispatch nobody accepted in time."""
        try:
            changed = field_side.catch_up(
                db, self.clock, self.config.field_rules, self.config.policy
            )
            if sweep:
                changed += field_side.accept_replies(db, self.clock, self.config.policy)
                changed += field_side.sweep(db, self.clock)
        except (DutydeskError, OSError) as exc:
            self.last_error = str(exc)
            return
        if changed and self.on_change is not None:
            self.on_change()

    def _directives(self, db: Database) -> None:
        """Write a ``directive_overdue`` entry once for each directive whose reply is overdue
        (the consoles' notices make it a toast and the bell); at a hub, flag once each unit
        whose 叫应 has not started within ``[hub] call_start_minutes`` of a warning."""
        try:
            overdue = bool(directives.sweep_overdue(db, self.clock))
            if self.config.hub.enabled:
                from uplink.hub import flag_overdue

                overdue |= bool(
                    flag_overdue(
                        db,
                        self.clock.now(),
                        self.config.hub.call_start,
                        call_levels=self.config.warning.call_levels,
                    )
                )
        except (DutydeskError, OSError) as exc:
            self.last_error = str(exc)
            return
        if overdue and self.on_change is not None:
            self.on_change()

    def _step(self, db: Database) -> bool:
        """Move due recipients on and hand claimed messages to the senders; True when busy.

        With every send slot taken it does nothing and says "not busy": the loop then waits,
        and the first chunk that comes back wakes it.
        """
        if self._citizen_asked and (self._citizen is None or self._citizen.done()):
            self._citizen_asked = False  # asked while a batch was on the wire: after it
            self._citizen_replies(db)
        opts = self.options
        free = opts.inflight * max(1, len(self.senders)) - len(self._inflight)
        if free <= 0:
            return False
        self._field(db)
        try:
            moved = process_due(db, self.clock, limit=opts.chunk * 4)
            out, failed = claim_pending(
                db, self.clock, self.routing, limit=opts.chunk * free, claimer=self.holder
            )
            if failed:
                record_deliveries(db, self.clock, failed, self.routing)
        except DutydeskError as exc:
            self.last_error = str(exc)
            return False
        room = opts.chunk * free - len(out)
        notices = self._claim_notices(db, room) if room > 0 else []
        self._worked = bool(moved or out or failed or notices)
        self._hand_out(out, notices=False)
        self._hand_out(notices, notices=True)
        return moved >= opts.chunk * 4 or len(out) + len(notices) >= opts.chunk * free

    def _hand_out(self, out: list[Outgoing], *, notices: bool) -> None:
        """Give claimed messages to their channels' senders, ``chunk`` at a time."""
        by_channel: dict[str, list[Outgoing]] = {}
        for message in out:
            by_channel.setdefault(message.channel, []).append(message)
        for channel, messages in by_channel.items():
            sender = self.senders.get(channel) or self.senders["log"]
            for i in range(0, len(messages), self.options.chunk):
                self._launch(sender, messages[i : i + self.options.chunk], notices=notices)

    def _launch(self, sender: Sender, chunk: list[Outgoing], *, notices: bool = False) -> None:
        flight = _Flight(chunk, notices=notices)

        async def report(deliveries: Sequence[Delivery]) -> None:
            flight.reported.update(d.attempt_id for d in deliveries)
            await self._committed(deliveries, notices=notices)

        task = asyncio.ensure_future(sender.send(chunk, report, self._halt))
        task.add_done_callback(lambda _t: self._wake.set() if self._wake else None)
        self._inflight[task] = flight

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        assert self._wake is not None
        if seconds <= 0 or self._wake.is_set() or stop.is_set():
            self._wake.clear()
            await asyncio.sleep(0)
            return
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        self._wake.clear()

    # --- drills
    def drills_changed(self) -> None:
        """Look at the drill schedules now (thread-safe): one was added, edited or cancelled."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._loop.call_soon_threadsafe(partial(self._drills_ask, look=True))

    def _drills_begin(self, db: Database) -> None:
        """The lease is ours: notices a previous holder claimed go again (same ids), and the
        worker's first pass claims what fell due and builds every job."""
        self._unreleased = not self._release_notices(db)
        self._drills_on = True
        self._drill_epoch += 1
        self._armed.clear()
        self._drill_ids.clear()
        self._drill_signature = None
        self._drills_ask(full=True, rebuild=True)

    async def _drills_end(self) -> None:
        """Stop the scheduler (``wait=False``): the lease is lost, or the engine stops."""
        self._drills_on = False
        self._drill_epoch += 1
        self._armed.clear()
        self._drill_ids.clear()
        self._drill_full = self._drill_look = self._drill_rebuild = False
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # its shutdown runs as a callback of the loop

    def _drills_close(self) -> None:
        """The worker has ended: its thread and connection go."""
        pool, self._drill_pool = self._drill_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        db, self._drill_db = self._drill_db, None
        if db is not None:
            db.close()

    def _drills_ask(
        self,
        *,
        ids: Sequence[int] = (),
        full: bool = False,
        look: bool = False,
        rebuild: bool = False,
    ) -> None:
        """Ask the drill worker for a pass (on the loop; see :class:`_DrillAsk`)."""
        if not self._drills_on:
            return
        self._drill_ids.update(ids)
        self._drill_full |= full
        self._drill_look |= look
        self._drill_rebuild |= rebuild
        if self._drill_kick is not None:
            self._drill_kick.set()

    async def _drill_job(self, schedule_id: int) -> None:
        """An APScheduler job: a moment of ``schedule_id`` is due; the worker claims it."""
        armed = self._armed.get(schedule_id)
        if armed is not None:
            self._armed[schedule_id] = (None, armed[1])  # fired: the next pass sets another
        self._drills_ask(ids=(schedule_id,))

    async def _drills(self) -> None:
        """The drill worker, a task of the loop: one pass at a time, on its own thread.

        Never ends on an error: what went wrong is in :attr:`drill_error`, and the next look
        builds the jobs again.
        """
        assert self._drill_kick is not None and self._loop is not None
        last: tuple[float, float] | None = None  # the engine's clock and monotonic, last pass
        while True:
            await self._drill_kick.wait()
            self._drill_kick.clear()
            if self._drill_closing:
                return
            asked = self._drill_ids or self._drill_full or self._drill_look or self._drill_rebuild
            if not self._drills_on or not asked:
                continue  # not ours, or asked already by the pass that just ended
            if self._drill_ids and not (self._drill_full or self._drill_rebuild):
                await asyncio.sleep(DRILL_GATHER_S)  # jobs due together: one pass
                if self._drill_closing:
                    return
            now, mono = self.clock.now().timestamp(), time.monotonic()
            jumped = (
                last is not None
                and now != last[0]  # a clock that stands still (a test's) has not jumped
                and abs((now - last[0]) - (mono - last[1])) > CLOCK_JUMP_S
            )
            last = (now, mono)
            ask = _DrillAsk(
                ids=frozenset(self._drill_ids),
                full=self._drill_full,
                look=self._drill_look,
                rebuild=self._drill_rebuild or jumped,
                signature=self._drill_signature,
            )
            self._drill_ids.clear()
            self._drill_full = self._drill_look = self._drill_rebuild = False
            epoch = self._drill_epoch
            try:
                done = await self._loop.run_in_executor(self._pool(), self._drill_pass, ask)
            except Exception as exc:  # a bug must not end the drills, nor the engine
                done = _DrillPass(errors=[f"{type(exc).__name__}: {exc}"])
            if self._drill_closing:
                return
            if epoch != self._drill_epoch or not self._drills_on:
                continue  # the lease changed hands meanwhile: a new pass builds the jobs
            try:
                await self._took(done, epoch)
            except Exception as exc:  # never the end of the drills: said, and built again
                self._drill_rebuild = True
                self._drill_note("pass", exc)

    async def _took(self, done: _DrillPass, epoch: int) -> None:
        """Count what a pass did, arm the jobs it computed, tell the console."""
        self.drills_fired += done.fired
        self.drill_reminders += done.reminded
        if done.errors:
            self._drill_rebuild = True  # the next look tries again
        elif done.moments is not None:
            self._drill_signature = done.signature
        if done.moments is not None:
            try:
                await self._arm(done.moments, epoch)
            except Exception as exc:  # the scheduler refused: say so, build again next look
                done.errors.append(f"scheduler: {exc}")
                self._drill_rebuild = True
        self.drill_passes += 1
        changed = self._drill_trouble("pass", "; ".join(done.errors) or None)
        if done.claimed or done.moved:
            changed = True
            if self._wake is not None:
                self._wake.set()  # the call-out or the notices just queued go out now
        if changed and self.on_change is not None:
            self.on_change()

    def _drill_trouble(self, source: str, message: str | None) -> bool:
        """Set or clear what ``source`` says is wrong with drills; whether that changed.

        :attr:`drill_error` is rewritten only on a change, so a step that goes well does not
        touch it every time.
        """
        if message is None:
            if self._drill_problems.pop(source, None) is None:
                return False
        elif self._drill_problems.get(source) == message:
            return False
        else:
            self._drill_problems[source] = message
        self.drill_error = "; ".join(self._drill_problems.values()) or None
        return True

    def _pool(self) -> ThreadPoolExecutor:
        if self._drill_pool is None:
            self._drill_pool = ThreadPoolExecutor(1, thread_name_prefix="dutydesk-drills")
        return self._drill_pool

    def _drill_pass(self, ask: _DrillAsk) -> _DrillPass:
        """One pass of the drill worker, on its thread and its connection (see _DrillAsk).

        Whenever the jobs are built again, every schedule with a moment due is claimed first
        (a schedule another process made a few seconds before its first reminder), then the
        next moments are read as the claims left them (each schedule's stored ``next_at``): a
        moment still due and not claimed comes back at or before now, and its job fires at once.
        """
        from drills import improvements, runs, schedules

        if self._drill_db is None:
            self._drill_db = connect(self.db_path, migrate=False)
        db = self._drill_db
        now = self.clock.now()
        done = _DrillPass(signature=ask.signature)
        rebuild = ask.rebuild
        if ask.look or ask.full or rebuild:
            try:
                done.signature = _drill_signature(db)
            except (DutydeskError, SQLError) as exc:
                done.errors.append(str(exc))
            rebuild = rebuild or done.signature != ask.signature
        if ask.full or rebuild or ask.ids:
            self._fire(db, None if ask.full or rebuild else sorted(ask.ids), done)
        steps: list[Callable[[Database, Clock], int]] = []
        if ask.full or ask.look:
            steps.append(runs.advance)
        if ask.full:
            steps.append(improvements.remind_overdue)
        for step in steps:
            try:
                done.moved += step(db, self.clock)
            except (DutydeskError, SQLError) as exc:
                done.errors.append(str(exc))
        if rebuild or ask.ids or done.claimed:
            try:
                done.moments = schedules.next_moments(db, now)
            except (DutydeskError, SQLError) as exc:
                done.errors.append(str(exc))
        return done

    def _fire(self, db: Database, ids: list[int] | None, done: _DrillPass) -> None:
        """Claim and act on what fell due (all schedules, or ``ids``); count it in ``done``.

        A schedule whose moment the domain refuses (an error that is not the database's) does
        not hold the others back: they are claimed one by one.
        """
        from drills.models import RUN_WHAT, ClaimOutcome, ScheduleState
        from drills.schedules import fire_due, list_schedules

        try:
            dues = fire_due(
                db,
                self.clock,
                grace=self.config.drills.grace,
                holder=self.holder,
                schedule_ids=ids,
            )
        except (DatabaseBusy, SQLError) as exc:
            done.errors.append(str(exc))
            return
        except DutydeskError as exc:
            if ids is not None and len(ids) == 1:
                done.errors.append(_("drill schedule #{id}: {error}").format(id=ids[0], error=exc))
                return
            if ids is None:
                ids = [s.id for s in list_schedules(db, state=ScheduleState.ACTIVE)]
            for one in ids:
                self._fire(db, [one], done)
            return
        acted = (ClaimOutcome.FIRED, ClaimOutcome.LATE)
        done.claimed += len(dues)
        done.fired += sum(1 for d in dues if d.what == RUN_WHAT and d.outcome in acted)
        done.reminded += sum(1 for d in dues if d.what != RUN_WHAT and d.outcome in acted)

    async def _arm(self, moments: dict[int, datetime], epoch: int) -> None:
        """Make the scheduler's jobs match ``moments``: one date job per schedule.

        A job is set on the wall clock at its moment as the engine's clock counts it (the same
        for the system clock). A job that fired without its moment moving on (the engine's
        clock had not reached it, or its pass failed) is set again :data:`DRILL_RETRY_S` on.
        Many jobs are set :data:`ARM_CHUNK` at a time, the loop free in between (10,000 take
        about a second), with the scheduler paused meanwhile so that it wakes up once.
        """
        from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
        from apscheduler.triggers.date import DateTrigger

        if self._scheduler is None:
            self._scheduler = self._new_scheduler()
            self._scheduler.start(paused=True)
        scheduler = self._scheduler
        now = self.clock.now()
        wall = datetime.now(UTC)
        for schedule_id in [s for s in self._armed if s not in moments]:
            self._disarm(scheduler, schedule_id, now)
        changes: list[tuple[int, datetime, float]] = []
        for schedule_id, at in moments.items():
            armed = self._armed.get(schedule_id)
            if armed is not None and armed[1] == at:
                if armed[0] is not None:
                    continue  # set for that moment already
                # Fired, and its moment did not move on.
                changes.append((schedule_id, at, max((at - now).total_seconds(), DRILL_RETRY_S)))
            else:
                changes.append((schedule_id, at, (at - now).total_seconds()))
        if len(changes) > ARM_CHUNK and scheduler.state == STATE_RUNNING:
            scheduler.pause()
        for i, (schedule_id, at, delay) in enumerate(changes, 1):
            self._disarm(scheduler, schedule_id, now)
            self._job_seq += 1
            job_id = f"drill-{schedule_id}-{self._job_seq}"
            scheduler.add_job(
                self._drill_job,
                DateTrigger(run_date=wall + timedelta(seconds=max(0.0, delay)), timezone=UTC),
                args=[schedule_id],
                id=job_id,
                name=f"drill schedule {schedule_id}",
            )
            self._armed[schedule_id] = (job_id, at)
            if i % ARM_CHUNK == 0:
                await asyncio.sleep(0)
                if epoch != self._drill_epoch:
                    return  # the lease was lost meanwhile: that scheduler is gone
        if scheduler.state == STATE_PAUSED:
            scheduler.resume()

    def _disarm(self, scheduler: Any, schedule_id: int, now: datetime) -> None:
        """Forget the schedule's job; remove it unless its moment has come (it fires, and its
        pass claims what is due: a pass that began before the moment did not see it due)."""
        from apscheduler.jobstores.base import JobLookupError

        armed = self._armed.pop(schedule_id, None)
        if armed is not None and armed[0] is not None and armed[1] > now:
            with contextlib.suppress(JobLookupError):  # it fired already
                scheduler.remove_job(armed[0])

    def _new_scheduler(self) -> Any:
        """An AsyncIOScheduler on this loop; jobs only wake the worker, claims decide."""
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        return AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            timezone=UTC,
            event_loop=self._loop,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def drill_jobs(self) -> int:
        """How many drill schedules have a job armed (for the console and the benchmark)."""
        return len(self._armed)

    # --- drill notices, sent through the senders like call-outs
    def _claim_notices(self, db: Database, limit: int) -> list[Outgoing]:
        """Drill notices due now, claimed to send (a read finds there are none, mostly)."""
        if self._unreleased:  # a previous holder's claims must go first (they go again)
            self._unreleased = not self._release_notices(db)
            if self._unreleased:
                return []
        try:
            from drills.notices import claim, next_due

            due = next_due(db)
            if due is None or due > self.clock.now():
                return []
            out = claim(
                db,
                self.clock,
                limit=limit,
                holder=self.holder,
                configured=self.routing.configured,
            )
        except Exception as exc:  # a drill must never hold back a real call-out
            self._drill_note("notices", exc)
            return []
        self._drill_note("notices", None)
        return out

    def _record_notices(self, db: Database, notices: list[Delivery]) -> bool:
        """Record what became of drill notices; False (all kept) when the database refused."""
        try:
            from drills.notices import record

            with self._outcomes_lock:
                record(db, self.clock, notices)
        except (DatabaseBusy, SQLError) as exc:
            self.last_error = str(exc)
            return False
        except Exception as exc:  # they stay claimed; the next engine sends them again
            self._drill_note("notices", exc)
            return True
        self.drill_notices_sent += sum(1 for d in notices if d.ok)
        self._note_local(notices)
        return True

    def _release_notices(self, db: Database) -> bool:
        """Make the notices a previous holder claimed pending again; whether that was done."""
        try:
            from drills.notices import release_claims as release_notices

            release_notices(db)
        except Exception as exc:  # tried again before the next claim
            self._drill_note("notices", exc)
            return False
        return True

    def _drill_note(self, source: str, exc: BaseException | None) -> None:
        message = None
        if exc is not None:
            message = str(exc) if isinstance(exc, DutydeskError) else f"{type(exc).__name__}: {exc}"
        if self._drill_trouble(source, message) and self.on_change is not None:
            self.on_change()

    # --- outcomes, committed as they arrive
    async def _committed(self, deliveries: Sequence[Delivery], *, notices: bool = False) -> None:
        """Queue ``deliveries`` for the next group commit; return when the worker may go on.

        A worker may send its next request while the outcome of its previous one waits for the
        commit, but no further: once as many outcomes wait as there are workers, a report waits
        for the commit. So what a crash can send again is bounded by two requests per worker
        (one on the wire, one answered and not yet recorded), and the commits, which take the
        event loop for a moment, group several outcomes instead of stalling every worker.
        """
        assert self._loop is not None and self._flush_due is not None
        (self._resolved_notices if notices else self._resolved).extend(deliveries)
        self._ahead += 1
        self._flush_due.set()
        if self._ahead <= self._ahead_max:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    async def _flusher(self, db: Database) -> None:
        """Commit what the senders reported, one transaction for all that came back meanwhile.

        Unless a worker is waiting for it, a commit first lets a moment pass
        (:data:`GATHER_S`) so that the outcomes coming back meanwhile join it. Ends, once
        everything is committed, when the engine is closing.
        """
        assert self._flush_due is not None
        while True:
            await self._flush_due.wait()
            self._flush_due.clear()
            await asyncio.sleep(0 if self._waiters or self._closing else GATHER_S)
            if not self._flush(db):
                if self._closing:
                    return  # kept pending: the next engine sends them again, same ids
                # The database refused (busy): the senders keep waiting; try again shortly.
                await asyncio.sleep(self.options.tick_s)
                self._flush_due.set()
            elif self._closing and not self._resolved and not self._resolved_notices:
                return

    def _flush(self, db: Database) -> bool:
        """Record every reported outcome; False (nothing lost, all kept) when the write failed."""
        deliveries, self._resolved = self._resolved, []
        notices, self._resolved_notices = self._resolved_notices, []
        waiters, self._waiters = self._waiters, []
        ahead, self._ahead = self._ahead, 0
        if deliveries:
            try:
                with self._outcomes_lock:
                    record_deliveries(
                        db,
                        self.clock,
                        deliveries,
                        self.routing,
                        local_retry_s=self.options.local_retry_s,
                    )
            except (DutydeskError, SQLError) as exc:  # busy, a full disk: keep them, retry
                self._resolved[:0] = deliveries
                self._resolved_notices[:0] = notices
                self._waiters[:0] = waiters
                self._ahead += ahead
                self.last_error = str(exc)
                return False
            self.commits += 1
            self.sent += sum(1 for d in deliveries if d.ok)
            self._note_local(deliveries)
        if notices and not self._record_notices(db, notices):
            self._resolved_notices[:0] = notices
            self._waiters[:0] = waiters
            self._ahead += ahead
            return False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return True

    def _note_local(self, deliveries: Sequence[Delivery]) -> None:
        """Tell the officer while this machine itself keeps messages from going out."""
        held = [d for d in deliveries if d.local and d.error and "local error" in d.error]
        if held:
            self.local_error = (
                f"local error: {held[-1].error}; {len(held)} message(s) held back, sent again"
                f" in {self.options.local_retry_s:g} s (nobody is charged for it)"
            )
            self.last_error = self.local_error
            if self.on_change is not None:
                self.on_change()
        elif self.local_error is not None and any(d.ok for d in deliveries):
            if self.last_error == self.local_error:
                self.last_error = None
            self.local_error = None
            if self.on_change is not None:
                self.on_change()

    def _collect(self, db: Database) -> None:
        """Record the outcomes of finished chunks that their sender did not report already."""
        done = [t for t in self._inflight if t.done()]
        if not done:
            return
        cancelled: list[str] = []
        for task in done:
            flight = self._inflight.pop(task)
            left = [m for m in flight.chunk if m.attempt_id not in flight.reported]
            resolved = self._resolved_notices if flight.notices else self._resolved
            if task.cancelled():
                if flight.notices:  # outcome unknown: pending again, same id
                    resolved += [Delivery(m.attempt_id, False, NOT_SENT, local=True) for m in left]
                else:
                    cancelled += [m.attempt_id for m in left]  # outcome unknown: they go again
                continue
            exc = task.exception()
            if exc is None:
                resolved += [d for d in task.result() if d.attempt_id not in flight.reported]
                continue
            fault = local_fault(exc)
            if fault is not None:
                error = f"sender: local error {fault}"
                resolved += [Delivery(m.attempt_id, False, error, local=True) for m in left]
            else:
                resolved += [Delivery(m.attempt_id, False, f"sender: {exc}") for m in left]
        if (self._resolved or self._resolved_notices) and self._flush_due is not None:
            self._flush_due.set()  # the flusher commits them with the next group
        if cancelled:
            try:
                with self._outcomes_lock:
                    release_attempts(db, cancelled)
            except DutydeskError as exc:
                self.last_error = str(exc)

    async def _drain(self, db: Database) -> None:
        """On the way out: start nothing new, give in-flight sends ``drain_s``, record them."""
        assert self._halt is not None
        self._halt.set()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=self.options.drain_s)
            for task in self._inflight:
                if not task.done():
                    task.cancel()
            await asyncio.wait(list(self._inflight), timeout=1.0)
            self._collect(db)


async def run_until_signalled(
    engine: Engine,
    stop: asyncio.Event | None = None,
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
) -> None:
    """Run ``engine`` until ``stop`` is set or one of ``signals`` arrives, then stop it cleanly.

    A signal stops the engine as its stop event does: the requests in flight finish (or are
    handed back), the outcomes are recorded and the lease is released, so a standby engine
    takes over at once. Must run in the main thread's event loop (signal handlers live there).
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    installed: list[signal.Signals] = []
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
        installed.append(signum)
    try:
        await engine.run(stop)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


class EngineThread:
    """The engine on a thread of its own with its own event loop: how the console runs it.

    The console starts it from a worker after its first frame and stops it when it closes,
    from the UI thread: a console closed at once may stop it before it started, or before its
    loop runs. A stop is remembered (:attr:`_stopping`): a thread not started yet never starts,
    and one whose loop was not running yet stops as soon as it does.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()  # _stopping, and the loop and event it stops
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="dutydesk-engine", daemon=True)

    def start(self, wait: float = 10.0) -> None:
        """Start the thread; return once the engine has had its first look, or stopped (or
        ``wait`` s). Does nothing once a stop was asked."""
        with self._lock:
            if self._stopping:
                return
            self._thread.start()
        self._ready.wait(wait)
        self.engine.first_look.wait(wait)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stop = stop
            if self._stopping:  # asked before this loop ran: the engine only closes
                stop.set()
        self._ready.set()
        await self.engine.run(stop)

    def request_stop(self) -> None:
        """Ask the engine to stop (thread-safe, returns at once); :meth:`stop` waits for it."""
        with self._lock:
            self._stopping = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(stop.set)

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        if self._thread.ident is not None:  # started (a stop before the start prevents it)
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return not self._thread.is_alive()


# --- never silently stopped ------------------------------------------------------------------

# A drill whose moment (or reminder) falls within this is work a quitting console must name.
DRILL_SOON = timedelta(hours=24)
# How long a hand-over to a headless engine may take: the child's start (imports, binding its
# port), then the lease passing to it (a standby looks four times a second).
HANDOVER_S = 30.0


@dataclass(frozen=True)
class PendingWork:
    """What the engine still has to do on a database: what stops if no engine runs."""

    mobilizations: int  # active mobilizations (real and exercise)
    timers_at: datetime | None  # the next message to send or time-out to escalate, if any
    uplink_backlog: int  # events waiting to go up to the level above
    drill_at: datetime | None  # the next drill moment or reminder within DRILL_SOON
    drill_notices: bool  # drill notices queued to go out

    @property
    def empty(self) -> bool:
        return not (
            self.mobilizations
            or self.timers_at
            or self.uplink_backlog
            or self.drill_at
            or self.drill_notices
        )

    def lines(self, zone: ZoneInfo) -> list[str]:
        """The work in people's words, most urgent first."""
        from console.timefmt import short

        out: list[str] = []
        if self.mobilizations:
            out.append(
                _("{count} mobilization(s) running: silence would no longer escalate").format(
                    count=self.mobilizations
                )
            )
        elif self.timers_at is not None:
            out.append(_("messages waiting to go out"))
        if self.uplink_backlog:
            out.append(
                _("{count} event(s) waiting to go up to the level above").format(
                    count=f"{self.uplink_backlog:,}"
                )
            )
        if self.drill_at is not None:
            out.append(
                _("a drill or its reminder is due at {at}").format(at=short(self.drill_at, zone))
            )
        elif self.drill_notices:
            out.append(_("drill notices waiting to go out"))
        return out


def pending_work(db: Database, config: Config, now: datetime) -> PendingWork:
    """What an engine would still do on ``db`` (a few indexed reads: safe on the UI's worker)."""
    from drills.notices import next_due as notices_due
    from drills.schedules import next_moments
    from mobilization import MobilizationState, list_mobilizations, next_due

    active = len(list_mobilizations(db, state=MobilizationState.ACTIVE.value, limit=10_000))
    backlog = 0
    if config.uplink.enabled:
        from uplink.status import link_status

        backlog = link_status(db, config.uplink.url, config.uplink.unit or None).backlog
    soon = [at for at in next_moments(db, now).values() if at <= now + DRILL_SOON]
    return PendingWork(
        mobilizations=active,
        timers_at=next_due(db),
        uplink_backlog=backlog,
        drill_at=min(soon) if soon else None,
        drill_notices=notices_due(db) is not None,
    )


def paused_text(vacancy: lease.Vacancy, now: datetime, zone: ZoneInfo) -> str:
    """``no engine running since 09:46 — escalations paused`` (the date too if not today)."""
    from console.timefmt import clock, short

    if vacancy.since is None:
        return _("no engine running — escalations paused")
    local, today = vacancy.since.astimezone(zone), now.astimezone(zone)
    at = clock(vacancy.since, zone) if local.date() == today.date() else short(local, zone)
    return _("no engine running since {at} — escalations paused").format(at=at)


def paused_now(db: Database, now: datetime, zone: ZoneInfo) -> str | None:
    """:func:`paused_text` while no engine holds the lease, else ``None`` (two small reads).

    What the dashboard reads in its worker, and what the status line and ``mobilization show``
    say: a screen that shows the engine's state calls this where ``engine_state`` is not
    ``here``.
    """
    vacancy = lease.vacancy(db, now)
    return paused_text(vacancy, now, zone) if vacancy is not None else None


def headless_command(db_path: Path, config_path: Path | None) -> list[str]:
    """``dutydesk serve`` on this database and configuration, with this interpreter.

    ``python -m console.cli`` rather than the ``dutydesk`` script: the same venv whatever the
    ``PATH`` of the process that starts it.
    """
    command = [sys.executable, "-m", "console.cli", "--db", str(db_path.resolve())]
    if config_path is not None:
        command += ["--config", str(config_path.resolve())]
    return [*command, "serve"]


def headless_log(db_path: Path) -> Path:
    """Where a headless engine started from the console writes: beside the database."""
    return db_path.with_name(db_path.stem + "-serve.log")


def start_headless(db_path: Path, config_path: Path | None) -> subprocess.Popen[bytes]:
    """Start ``dutydesk serve`` detached from the console (its own session: closing the
    terminal does not end it), its output appended to :func:`headless_log`."""
    log = headless_log(db_path)
    with log.open("ab") as out:
        return subprocess.Popen(
            headless_command(db_path, config_path),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            close_fds=True,
        )


def _last_line(log: Path, start: int) -> str:
    try:
        with log.open("rb") as f:
            f.seek(start)
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def hand_over(
    engine: EngineThread,
    db: Database,
    config_path: Path | None,
    clock: Clock,
    *,
    timeout: float = HANDOVER_S,
) -> subprocess.Popen[bytes]:
    """Pass the engine on to a detached ``dutydesk serve``, so escalations go on.

    The child is started first and must be listening (its announcement in the log) before this
    engine stops: a child that cannot start (its port in use, a bad configuration) leaves this
    engine running. Then this engine stops (the lease released) and the child, standing by,
    takes the lease within a moment. Runs on a worker thread (it waits).

    Returns:
        The child process, holding the lease.

    Raises:
        DutydeskError: the child did not start or did not take the lease in ``timeout``
            seconds (its last log line and the log's path are in the message).
    """
    db_path = engine.engine.db_path
    log = headless_log(db_path)
    start = log.stat().st_size if log.exists() else 0
    proc = start_headless(db_path, config_path)
    holder_part = f"engine:{socket.gethostname()}:{proc.pid}:"
    deadline = time.monotonic() + timeout

    def failed(why: str) -> DutydeskError:
        line = _last_line(log, start)
        return DutydeskError(
            _("the headless engine {why}: {line} (see {log})").format(
                why=why, line=line or "-", log=log
            )
        )

    while holder_part not in _read_from(log, start):
        if proc.poll() is not None:
            raise failed(_("did not start"))
        if time.monotonic() > deadline:
            _stop_child(proc)
            raise failed(_("did not start in time"))
        time.sleep(0.05)
    engine.stop()
    while True:
        holder = lease.current_holder(db, clock.now())
        if holder is not None and holder.startswith(holder_part):
            return proc
        if proc.poll() is not None:
            raise failed(_("stopped before taking over"))
        if time.monotonic() > deadline:
            raise failed(_("did not take over in time"))
        time.sleep(0.05)


def _read_from(log: Path, start: int) -> str:
    try:
        with log.open("rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _stop_child(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
