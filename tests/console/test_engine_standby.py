"""A standby engine: it looks by reading, and takes the lease the moment the row is gone.

Before, a waiting engine looked every ``renew_s`` (2 s) and every look was a write transaction
(``BEGIN IMMEDIATE``), competing with the holder and the console for the write lock; after a
clean stop it still took up to two seconds to take over.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from console.config import Config
from console.engine import Engine, EngineOptions
from store import lease
from store.clock import SystemClock
from store.db import connect, data_version

STANDBY = EngineOptions(tick_s=0.01, idle_s=0.01, standby_s=0.01, renew_s=0.05, sweep_s=60)


async def test_a_standby_only_reads_and_takes_over_at_once(
    town_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SystemClock()
    db = connect(town_db)
    assert lease.acquire(db, "serve:elsewhere", clock.now(), timedelta(minutes=5))
    looks = 0
    real = lease.current_holder

    def counted(*args: object) -> str | None:
        nonlocal looks
        looks += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(lease, "current_holder", counted)
    engine = Engine(town_db, Config(path=None), clock=clock, options=STANDBY)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + 5
        while engine.state != "elsewhere":
            assert loop.time() < deadline, "the standby never looked"
            await asyncio.sleep(0.01)
        version = data_version(db)
        seen = looks
        while looks < seen + 20:  # twenty looks more
            assert loop.time() < deadline + 5, "the standby stopped looking"
            await asyncio.sleep(0.01)
        assert data_version(db) == version  # not one write among them

        lease.release(db, "serve:elsewhere")  # the holder stopped cleanly
        released = loop.time()
        while engine.state != "here":
            assert loop.time() < released + 1.0, "the standby did not take over within 1 s"
            await asyncio.sleep(0.005)
        assert lease.current_holder(db, clock.now()) == engine.holder
    finally:
        stop.set()
        await task
        db.close()
