"""The uplink under random fault schedules, in one process: the real hub, a real proxy, a drain.

The hub is the real thing served for real — :mod:`console.http.hub`'s routes over a
:class:`~console.http.common.HttpService` on a database file, behind the per-address guard,
run by uvicorn on 127.0.0.1 in a thread — and the :class:`~tests.support.faultproxy.FaultProxy`
stands in front of it. A township is an in-memory database with a fixed clock, worked on by
:class:`~tests.support.uplink.Activity`, and drained by a real :class:`uplink.drain.Drain`
stepped by the test: when it backs off, the test moves the township's clock to the time of
its next try instead of waiting (so a ``Retry-After: 2`` costs nothing).

Hypothesis draws the batch size, a fault per request (dropped, cut after the hub stored the
batch, hung past the drain's timeout, late, 500/503, 429 with ``Retry-After``, a 502 after
the hub stored it, the port closed a moment) and an interleaving of office work and drain
steps; then the faults stop, the drain runs until it is idle, and the hub's picture must equal
the township (:func:`tests.support.uplink.convergence_problems`: 0 lost, 0 duplicates, order
per subject) and the drain must never have sent a subject's event ahead of its predecessor.
Each example registers a unit of its own at the one hub.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from console.config import parse_config
from console.http import guard
from console.http import hub as hub_routes
from console.http.common import HttpService
from store.backup import backup
from store.clock import FixedClock, SystemClock
from store.db import Database, connect
from tests.support.domain import START
from tests.support.faultproxy import (
    CUT,
    DROP,
    HANG,
    PASS,
    Fault,
    FaultProxy,
    delay,
    down,
    status,
)
from tests.support.uplink import Activity, convergence_problems
from tests.support.wait import wait_for
from uplink.drain import Drain, StepReport
from uplink.hub import add_unit
from uplink.outbox import Projection, backlog
from uplink.status import failures

EVENTS = "/v1/events"
TIMEOUT_S = 0.3  # the drain's per-request timeout: what a hung request costs


@dataclass
class Hub:
    db: Path
    proxy: FaultProxy
    units: Iterator[int]

    def register(self) -> tuple[str, str]:
        code = f"P{next(self.units)}"
        db = connect(self.db)
        try:
            _unit, token = add_unit(db, SystemClock().now(), code, f"township {code}")
        finally:
            db.close()
        return code, token


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The hub's routes served by uvicorn in a thread, with the fault proxy in front."""
    path = tmp_path_factory.mktemp("hub") / "hub.db"
    connect(path).close()
    config = parse_config("[hub]\nenabled = true\nrequests_per_minute = 100000\n")
    service = HttpService(path, config, SystemClock(), None)
    app = Starlette(
        routes=hub_routes.routes(service),
        # The guard as served, with a rate no test reaches: every request comes from 127.0.0.1.
        middleware=guard.middleware(service, guard.Limits(rate=1e6, burst=1_000_000)),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "the hub to listen")
    port = sock.getsockname()[1]
    with FaultProxy(f"http://127.0.0.1:{port}") as proxy:
        yield Hub(path, proxy, itertools.count(1))
    server.should_exit = True
    thread.join(10)
    sock.close()
    service.close()


async def step(drain: Drain, db: Database, clock: FixedClock) -> StepReport:
    """One step of the drain; when it backs off, the clock moves to its next try."""
    report = await drain.step(db)
    if report.waiting:
        _failures, next_try = failures(db)
        if next_try is not None and next_try > clock.now():
            clock.set(next_try)
    return report


@dataclass(frozen=True)
class Work:
    changes: int  # the office makes this many changes


@dataclass(frozen=True)
class Steps:
    steps: int  # the drain steps this many times


FAULTS = st.sampled_from(
    [
        PASS,
        DROP,
        CUT,
        HANG,
        delay(0.02),
        status(500),
        status(503, retry_after=1),
        status(429, retry_after=2),
        status(502, forward=True),
        down(0.02),
    ]
)


Plan = tuple[int, list[Fault], list[Work | Steps], int]  # batch, faults, operations, seed


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    batch = draw(st.sampled_from([1, 2, 5, 50]))
    faults = draw(st.lists(FAULTS, max_size=14))
    ops = draw(
        st.lists(
            st.one_of(st.builds(Work, st.integers(1, 12)), st.builds(Steps, st.integers(1, 4))),
            min_size=1,
            max_size=8,
        )
    )
    return batch, faults, ops, draw(st.integers(0, 2**16))


def sent_ahead(bodies: list[dict[str, object]]) -> list[str]:
    """Events sent ahead of a predecessor never sent (per subject, in the order of posting)."""
    top: dict[str, int] = {}
    problems = []
    for n, body in enumerate(bodies):
        events = body["events"]
        assert isinstance(events, list)
        for event in events:
            subject, seq = event["subject"], event["seq"]
            if seq > top.get(subject, 0) + 1:
                problems.append(f"post {n}: {subject} seq {seq} before {top.get(subject, 0) + 1}")
            top[subject] = max(top.get(subject, 0), seq)
    return problems


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans())
def test_random_fault_schedules_converge(hub: Hub, plan: Plan) -> None:
    batch, faults, ops, seed = plan
    unit, token = hub.register()
    proxy = hub.proxy
    proxy.clear_schedule()
    proxy.set(PASS)
    first = len(proxy.seen)
    proxy.schedule(faults)
    clock = FixedClock(START)
    township = connect()
    office = Activity(township, clock=clock, seed=seed)

    async def run() -> None:
        drain = Drain(
            proxy.url,
            token,
            Projection(unit),
            clock,
            batch=batch,
            timeout_s=TIMEOUT_S,
            backoff_max_s=2,
        )
        try:
            for op in ops:
                if isinstance(op, Work):
                    office.churn(op.changes)
                    clock.advance(timedelta(seconds=1))
                else:
                    for _ in range(op.steps):
                        await step(drain, township, clock)
            # The faults stop; the drain runs until it has nothing left to send.
            proxy.clear_schedule()
            for _ in range(500):
                report = await step(drain, township, clock)
                if not report.waiting and not report.more and backlog(township)[0] == 0:
                    break
            else:
                raise AssertionError("the drain did not finish in 500 steps")
        finally:
            await drain.aclose()

    try:
        asyncio.run(run())
        central = connect(hub.db)
        try:
            assert convergence_problems(township, central, unit) == []
        finally:
            central.close()
        mine = [
            s
            for s in proxy.seen[first:]
            if s.path == EVENTS and s.method == "POST" and s.json()["unit"] == unit
        ]
        assert sent_ahead([s.json() for s in mine]) == []
    finally:
        township.close()


def test_retry_after_is_not_cut_short_by_the_stored_seconds(hub: Hub) -> None:
    """A 429 with ``Retry-After: 2`` at 02:00:00.9: no request before 02:00:02.9.

    The drain stores its next try to the second; rounded down, it tried again 1.2 s later.
    """
    unit, token = hub.register()
    proxy = hub.proxy
    proxy.clear_schedule()
    proxy.set(PASS)
    clock = FixedClock(START + timedelta(seconds=0.9))
    township = connect()
    office = Activity(township, clock=clock)
    office.report("限流")

    async def run() -> list[bool]:
        drain = Drain(proxy.url, token, Projection(unit), clock, backoff_max_s=1)
        sent = []
        try:
            proxy.schedule([status(429, retry_after=2)], path=EVENTS)
            first = await drain.step(township)
            assert first.waiting and "429" in (first.error or "")
            for advance in (1.2, 0.7, 1.1):  # 1.9 s after the 429: not yet; 3.0 s: go
                clock.advance(timedelta(seconds=advance))
                sent.append((await drain.step(township)).sent > 0)
        finally:
            await drain.aclose()
        return sent

    try:
        assert asyncio.run(run()) == [False, False, True]
    finally:
        township.close()


def test_a_restored_township_restarted_before_its_resync_went_out_converges(
    hub: Hub, tmp_path: Path
) -> None:
    """Restored from a backup, the township rebases its history after the hub's (a ``resync``
    event waits at the hub's seq + 1); it restarts before that went out, and resynchronises
    again: the second pass must not stack a second resync on the first."""
    unit, token = hub.register()
    proxy = hub.proxy
    proxy.clear_schedule()
    proxy.set(PASS)
    clock = FixedClock(START)
    path = tmp_path / "town.db"
    township = connect(path)
    office = Activity(township, clock=clock)
    numbers = [office.report(f"恢复{i}").number for i in range(3)]

    async def drain_all(db: Database) -> None:
        drain = Drain(proxy.url, token, Projection(unit), clock, backoff_max_s=1)
        try:
            for _ in range(50):
                report = await step(drain, db, clock)
                if not report.waiting and not report.more and backlog(db)[0] == 0:
                    return
            raise AssertionError("the drain did not finish")
        finally:
            await drain.aclose()

    async def resync_then_fail(db: Database) -> None:
        """One engine run: the resync (rebase) goes through, the batch after it does not."""
        drain = Drain(proxy.url, token, Projection(unit), clock, backoff_max_s=1)
        try:
            proxy.schedule([status(503)], path=EVENTS)
            report = await drain.step(db)
            assert report.waiting and "503" in (report.error or "")
        finally:
            await drain.aclose()

    copy = tmp_path / "backup.db"
    try:
        asyncio.run(drain_all(township))
        backup(township, copy, keys=None, now=clock.now())
        for number in numbers:  # after the backup: reaches the hub, then is lost here
            office.advance(number)
        asyncio.run(drain_all(township))
    finally:
        township.close()
    restored = connect(copy)
    try:
        office = Activity(restored, clock=clock)
        clock.advance(timedelta(seconds=5))
        office.advance(numbers[0])  # the restored office goes on
        asyncio.run(resync_then_fail(restored))
        asyncio.run(drain_all(restored))  # the next engine run: resync again, then send
        central = connect(hub.db)
        try:
            assert convergence_problems(restored, central, unit) == []
        finally:
            central.close()
    finally:
        restored.close()
