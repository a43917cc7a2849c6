"""Provides the engine: the one loop per database that runs every timer dutydesk has.

The engine holds the lease (:mod:`store.lease`), and while it does it sends what mobilizations
have queued (through the senders of :mod:`mobilization.channels`), times out the silent and
escalates (:func:`mobilization.process_due`), frees expired ack codes and sweeps for
overdue cases. ``dutydesk serve`` runs it next to the HTTP endpoints; the console runs it in a
thread of its own (:class:`EngineThread`) when no ``serve`` holds the lease. A second engine
waits, renewing its claim every :attr:`EngineOptions.renew_s`, and takes over within a few
seconds once the holder stops renewing.

Everything the loop acts on is a row, so killing it loses nothing: attempts it had handed to a
sender and not yet recorded stay ``pending`` and are sent again, with the same id, by whichever
engine runs next.

The loop keeps the senders busy: it claims up to ``chunk`` messages at a time, lets at most
``inflight`` chunks per channel travel at once, and records each chunk's outcome in one
transaction as soon as it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from console.config import Config
from incidents.supervision import sweep_overdue
from mobilization import (
    Delivery,
    Outgoing,
    Routing,
    Sender,
    build_senders,
    claim_pending,
    expire,
    process_due,
    record_deliveries,
    release_attempts,
    release_claims,
)
from store import lease
from store.clock import Clock, SystemClock
from store.db import Database, connect
from store.errors import DutydeskError

DRAIN_SECONDS = 5.0
SWEEP_BATCH = 500
SWEEP_PAUSE_S = 0.05


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
    sweep_s: float = 30.0
    chunk: int = 500
    inflight: int = 4


def routing_for(config: Config) -> Routing:
    """The configured channels and the public address ack links point at."""
    return Routing(configured=config.channels.configured, base_url=config.base_url)


def senders_for(config: Config, db_path: Path) -> dict[str, Sender]:
    """The senders of the configured channels; ``log`` writes next to the database by default."""
    log_path = db_path.with_name(db_path.stem + "-messages.log")
    return build_senders(config.channels, log_path=log_path)


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
        options: EngineOptions | None = None,
        on_state: Callable[[str], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.db_path = db_path
        self.config = config
        self.clock = clock or SystemClock()
        self.holder = holder or lease.new_holder("engine")
        self.senders = senders if senders is not None else senders_for(config, db_path)
        self.routing = routing or routing_for(config)
        self.options = options or EngineOptions()
        self.on_state = on_state
        self.on_change = on_change
        self.first_look = threading.Event()
        self.state = "starting"
        self.sent = 0
        self.last_error: str | None = None
        self._inflight: dict[asyncio.Task[list[Delivery]], list[Outgoing]] = {}
        self._worked = False  # the last step moved, claimed or failed something
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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

    # --- the loop
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; gives the lease back and closes the senders on the way out."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        db = connect(self.db_path)
        held = False
        renew_at = sweep_at = 0.0
        try:
            while not stop.is_set():
                mono = time.monotonic()
                if mono >= renew_at:
                    held = self._renew(db)
                    renew_at = mono + self.options.renew_s
                if not held:
                    self.first_look.set()
                    await self._pause(stop, self.options.renew_s)
                    continue
                if mono >= sweep_at:
                    await self._sweep(db)
                    sweep_at = mono + self.options.sweep_s
                self.first_look.set()
                busy = self._step(db)
                quiet = not self._worked and not self._inflight
                await self._pause(
                    stop, 0 if busy else self.options.idle_s if quiet else self.options.tick_s
                )
                self._collect(db)
        finally:
            await self._drain(db)
            if held:
                with contextlib.suppress(DutydeskError):
                    lease.release(db, self.holder)
            for sender in self.senders.values():
                with contextlib.suppress(Exception):
                    await sender.aclose()
            db.close()
            self._set_state("stopped")

    def _renew(self, db: Database) -> bool:
        try:
            held = lease.acquire(db, self.holder, self.clock.now(), self.options.lease_ttl)
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

    def _step(self, db: Database) -> bool:
        """Move due recipients on and hand claimed messages to the senders; True when busy.

        With every send slot taken it does nothing and says "not busy": the loop then waits,
        and the first chunk that comes back wakes it.
        """
        opts = self.options
        free = opts.inflight * max(1, len(self.senders)) - len(self._inflight)
        if free <= 0:
            return False
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
        self._worked = bool(moved or out or failed)
        by_channel: dict[str, list[Outgoing]] = {}
        for message in out:
            by_channel.setdefault(message.channel, []).append(message)
        for channel, messages in by_channel.items():
            sender = self.senders.get(channel) or self.senders["log"]
            for i in range(0, len(messages), opts.chunk):
                chunk = messages[i : i + opts.chunk]
                task = asyncio.ensure_future(sender.send(chunk))
                task.add_done_callback(lambda _t: self._wake.set() if self._wake else None)
                self._inflight[task] = chunk
        return moved >= opts.chunk * 4 or len(out) >= opts.chunk * free

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

    def _collect(self, db: Database) -> None:
        """Record the outcome of every chunk that has come back."""
        done = [t for t in self._inflight if t.done()]
        if not done:
            return
        deliveries: list[Delivery] = []
        cancelled: list[str] = []
        for task in done:
            chunk = self._inflight.pop(task)
            exc = task.exception() if not task.cancelled() else None
            if task.cancelled():
                cancelled += [m.attempt_id for m in chunk]
                continue  # outcome unknown: the attempts stay pending and go again
            if exc is not None:
                deliveries += [Delivery(m.attempt_id, False, f"sender: {exc}") for m in chunk]
            else:
                deliveries += task.result()
        try:
            record_deliveries(db, self.clock, deliveries, self.routing)
            self.sent += sum(1 for d in deliveries if d.ok)
            if cancelled:
                release_attempts(db, cancelled)
        except DutydeskError as exc:
            self.last_error = str(exc)

    async def _drain(self, db: Database) -> None:
        """On the way out, give in-flight sends a moment and record what came back."""
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=DRAIN_SECONDS)
            for task in self._inflight:
                if not task.done():
                    task.cancel()
            self._collect(db)


class EngineThread:
    """The engine on a thread of its own with its own event loop: how the console runs it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="dutydesk-engine", daemon=True)

    def start(self, wait: float = 10.0) -> None:
        """Start the thread; return once the engine has had its first look (or ``wait`` s)."""
        self._thread.start()
        self._ready.wait(wait)
        self.engine.first_look.wait(wait)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self.engine.run(self._stop)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
