"""The console ended by a signal: SIGTERM (a shutdown) or SIGHUP (its terminal closed).

Before, either signal killed the console with its engine thread: what was in flight was never
recorded and the lease stayed held until it expired, so a standby engine waited for it. Now the
console stops its engine the way quitting does, and the lease is given back.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from console.tui.app import DutydeskApp
from store import lease
from tests.support.console import settle

SIZE = (120, 36)


@pytest.fixture
def uncaught() -> Iterator[list[int]]:
    """Signals that reached the test process instead of the console (a failure, not a death)."""
    seen: list[int] = []
    previous = {
        s: signal.signal(s, lambda n, _f: seen.append(n)) for s in (signal.SIGTERM, signal.SIGHUP)
    }
    yield seen
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
async def test_a_stop_signal_stops_the_engine_and_gives_the_lease_back(
    ctx, clock, uncaught: list[int], signum: signal.Signals
) -> None:
    app = DutydeskApp(ctx, home="incidents")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert lease.current_holder(ctx.db, clock.now()) == app.holder
        os.kill(os.getpid(), signum)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not (app.engine is not None and app.engine.stopped):
            assert loop.time() < deadline, "the engine did not stop"
            await asyncio.sleep(0.02)
        assert app.engine.engine.state == "stopped"
        assert lease.current_holder(ctx.db, clock.now()) is None
    assert uncaught == []
    assert app.return_code == 0
