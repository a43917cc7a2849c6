"""The engine loop on an injected clock: escalation timing without waiting for real time-outs.

The engine runs as it does in ``serve`` (its own connection, the lease, the ``log`` sender);
the test moves a :class:`FixedClock` past each time-out and watches the next step happen.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.config import Config
from console.engine import Engine, EngineOptions
from mobilization import Target, recipient_rows, start_mobilization
from store import lease
from store.clock import FixedClock
from store.db import Database, connect

FAST = EngineOptions(tick_s=0.01, idle_s=0.01, renew_s=0.05, sweep_s=60)


async def until(check: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def log_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_time_outs_resends_and_alternates_follow_the_clock(town_db: Path) -> None:
    clock = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    engine = Engine(town_db, Config(path=None), clock=clock, options=FAST)
    log = town_db.with_name("town-messages.log")
    stop = asyncio.Event()
    looks = 0
    step = engine._step

    def counted(db: Database) -> bool:
        nonlocal looks
        looks += 1
        return step(db)

    engine._step = counted  # type: ignore[method-assign]

    async def engine_looked_again() -> None:
        """The positive sign that a moment has passed: the engine looked for due work twice
        more (once may have begun before the clock moved)."""
        seen = looks
        await until(lambda: looks >= seen + 2, "the engine to look for due work again")

    task = asyncio.create_task(engine.run(stop))
    db = connect(town_db)
    try:
        await until(lambda: engine.state == "here", "the lease")
        mob = start_mobilization(db, clock, "t", targets=[Target.parse("grid:G01")], message="集合")
        engine.wake()

        def row(key: str) -> dict[str, Any]:
            return next((r for r in recipient_rows(db, mob) if r["key"] == key), {})

        def state(key: str) -> str | None:
            return row(key).get("state")

        # Wait for a send to be *recorded* (sends counted, the time-out started from the clock
        # of that moment), not only written to the log, before moving the clock on.
        await until(lambda: row("L1").get("sends") == 1, "the first call")
        assert len(log_lines(log)) == 1

        await engine_looked_again()
        assert len(log_lines(log)) == 1  # nothing more before the time-out
        clock.advance(seconds=59)
        await engine_looked_again()
        assert len(log_lines(log)) == 1
        clock.advance(seconds=1)  # the tree's time-out is 60 s, one repeat
        await until(lambda: row("L1").get("sends") == 2, "the repeat")
        assert len(log_lines(log)) == 2
        assert {m["address"] for m in log_lines(log)} == {"+8613800138004"}
        clock.advance(seconds=60)
        await until(lambda: state("SEC") == "sent", "the alternate")
        assert state("L1") == "escalated"
        calls = len(log_lines(log))
        clock.advance(seconds=60)
        await until(lambda: row("SEC").get("sends") == 2, "the alternate's repeat")
        assert len(log_lines(log)) == calls + 1
        clock.advance(seconds=60)
        await until(lambda: state("SEC") == "unreachable", "the alternate's silence")
        await until(lambda: state("M1") == "sent", "the members, released all the same")
    finally:
        stop.set()
        await task
        db.close()
    assert engine.state == "stopped"
    check = connect(town_db)
    assert lease.current_holder(check, clock.now()) is None  # given back on the way out
    check.close()


def test_a_console_closed_at_once_stops_its_engine_whenever_that_comes(town_db: Path) -> None:
    """The console starts the engine from a worker after its first frame and stops it from the
    UI thread when it closes: either may come first, and the engine never outlives the stop."""
    from console.engine import EngineThread

    # Stopped before it started: it never starts, and no lease is taken.
    early = EngineThread(Engine(town_db, Config(path=None), options=FAST))
    early.stop(timeout=5)
    early.start(wait=5)
    assert early.stopped and early._thread.ident is None
    db = connect(town_db)
    try:
        assert lease.current_holder(db, datetime.now(UTC)) is None
    finally:
        db.close()

    # Stopped after its thread started but before its loop ran: it closes as soon as it does.
    engine = Engine(town_db, Config(path=None), options=FAST)
    late = EngineThread(engine)
    running, gate = threading.Event(), threading.Event()
    main = late._main

    def held_main() -> None:
        running.set()
        gate.wait(5)
        main()

    late._thread = threading.Thread(target=held_main, daemon=True)
    starting = threading.Thread(target=late.start, kwargs={"wait": 5})
    starting.start()
    assert running.wait(5), "the engine's thread did not start"
    late.request_stop()  # the thread runs, its loop does not yet
    gate.set()
    late.stop(timeout=5)
    starting.join(5)
    assert late.stopped and not starting.is_alive()
    assert engine.state == "stopped"
