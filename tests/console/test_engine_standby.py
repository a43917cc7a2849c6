"""A standby engine: it looks by reading, and takes the lease the moment the row is gone; a
console next to a real ``dutydesk serve`` never fights it for the lease.

Before, a waiting engine looked every ``renew_s`` (2 s) and every look was a write transaction
(``BEGIN IMMEDIATE``), competing with the holder and the console for the write lock; after a
clean stop it still took up to two seconds to take over.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from console.config import Config, load_config
from console.context import Context
from console.engine import Engine, EngineOptions
from console.tui.app import DutydeskApp
from store import lease
from store.clock import SystemClock
from store.db import connect, data_version
from tests.support.console import OPERATOR, settle, wait_until
from tests.support.serve import Serve, free_port, write_config

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


async def test_a_console_next_to_a_running_serve_stands_by_until_it_stops(
    town_db: Path, tmp_path: Path
) -> None:
    """A real ``dutydesk serve`` holds the lease: the console never takes it while serve renews
    it (seen across two of serve's renewals), and takes over once serve has stopped."""
    config = write_config(tmp_path, free_port())
    serve = Serve(town_db, config, int(load_config(config).serve_port), tmp_path / "serve.log")
    serve.start()
    ctx = Context(
        db=connect(town_db),
        db_path=town_db,
        config=load_config(config, must_exist=True),
        operator=OPERATOR,
        clock=SystemClock(),
    )
    try:
        held = lease.current_holder(ctx.db, ctx.clock.now())
        assert held is not None and held.startswith("engine:")
        app = DutydeskApp(ctx)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert app.engine_state == "elsewhere"
            renewals: list[str] = []

            def renewed_twice() -> bool:
                row = ctx.db.conn.execute(
                    "SELECT holder, expires_at FROM engine_lease WHERE id = 1"
                ).fetchone()
                assert row is not None and row[0] == held, "the console took the lease"
                assert app.engine_state == "elsewhere"
                if row[1] not in renewals:
                    renewals.append(row[1])
                return len(renewals) >= 3

            await wait_until(pilot, renewed_twice, within=15, what="two renewals by serve")
            await asyncio.to_thread(serve.stop)
            await wait_until(
                pilot, lambda: app.engine_state == "here", within=5, what="the takeover"
            )
            assert lease.current_holder(ctx.db, ctx.clock.now()) == app.holder
    finally:
        serve.stop()
        ctx.close()
