"""The engine never silently stops: quitting asks, the dashboard says when no engine runs.

A console that runs the engine while a mobilization is active asks before quitting: ``esc``
stays, ``p`` quits and pauses the escalations, ``k`` hands the engine to a real, detached
``dutydesk serve`` that holds the lease when the console has gone (stopped at teardown). A
console whose engine stopped says "no engine running since HH:MM — escalations paused", with
the time of the clean stop or of the crashed holder's expiry, in the office's zone.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Static

import console.engine as engine_module
from console.config import Config, load_config
from console.context import Context
from console.tui.app import DutydeskApp
from console.tui.dialogs.quit import QuitDialog
from mobilization import Target, start_mobilization
from store import lease
from store.clock import SystemClock
from store.db import connect
from tests.support.console import OPERATOR, settle, wait_until
from tests.support.serve import free_port, write_config

SIZE = (120, 36)


def town_ctx(town_db: Path, config: Config) -> Context:
    return Context(
        db=connect(town_db), db_path=town_db, config=config, operator=OPERATOR, clock=SystemClock()
    )


def mobilize(ctx: Context) -> int:
    return start_mobilization(
        ctx.db, ctx.clock, OPERATOR, targets=[Target.parse("grid:G01")], message="防汛集结"
    )


def engine_line(app: DutydeskApp) -> str:
    return str(app.screen.query_one("#engine", Static).render())


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every headless engine the console starts; each is stopped (SIGTERM) at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    real = engine_module.start_headless

    def spy(db_path: Path, config_path: Path | None) -> subprocess.Popen[bytes]:
        proc = real(db_path, config_path)
        started.append(proc)
        return proc

    monkeypatch.setattr(engine_module, "start_headless", spy)
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def test_quitting_with_an_active_mobilization_asks_and_can_pause(town_db: Path) -> None:
    ctx = town_ctx(town_db, Config(path=None))
    mobilize(ctx)
    app = DutydeskApp(ctx)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.engine_state == "here"
            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog), what="the ask")
            text = " ".join(str(label.render()) for label in app.screen.query("Label"))
            assert "1 mobilization(s) running" in text
            assert "Keep running headless (k)" in str(app.screen.query_one("#headless").render())
            await pilot.press("escape")  # stay: the console and its engine go on
            await settle(pilot)
            assert not isinstance(app.screen, QuitDialog)
            assert app.is_running and app.engine_state == "here"

            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog), what="the ask")
            await pilot.press("p")  # quit, pausing the escalations
            await wait_until(pilot, lambda: not app.is_running, what="the console to quit")
        vacancy = lease.vacancy(ctx.db, ctx.clock.now())
        assert vacancy is not None and vacancy.since is not None and not vacancy.crashed
        assert vacancy.last_holder == app.holder
    finally:
        ctx.close()


async def test_nothing_pending_quits_at_once(ctx) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.engine_state == "here"
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="the console to quit")


async def test_keep_running_headless_hands_the_lease_to_a_serve_process(
    town_db: Path, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    config_path = write_config(tmp_path, free_port())
    ctx = town_ctx(town_db, load_config(config_path, must_exist=True))
    mobilize(ctx)
    app = DutydeskApp(ctx)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.engine_state == "here"
            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog), what="the ask")
            await pilot.press("k")  # keep the engine running headless
            await wait_until(
                pilot, lambda: not app.is_running, within=40, what="the hand-over and the quit"
            )
        assert len(children) == 1
        child = children[0]
        assert child.poll() is None, "the headless engine is running"
        holder = lease.current_holder(ctx.db, ctx.clock.now())
        assert holder is not None
        assert holder.startswith(f"engine:{socket.gethostname()}:{child.pid}:")
        assert lease.vacancy(ctx.db, ctx.clock.now()) is None
    finally:
        ctx.close()


async def test_a_headless_engine_that_cannot_start_leaves_the_console_running(
    town_db: Path,
    tmp_path: Path,
    children: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said: list[tuple[str, str]] = []
    notify = DutydeskApp.notify

    def record(self: DutydeskApp, message: str, **kwargs: object) -> None:
        said.append((str(kwargs.get("severity", "information")), message))
        notify(self, message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DutydeskApp, "notify", record)
    port = free_port()
    config_path = write_config(tmp_path, port)
    ctx = town_ctx(town_db, load_config(config_path, must_exist=True))
    mobilize(ctx)
    app = DutydeskApp(ctx)
    with socket.socket() as taken:  # the headless engine's port is in use
        taken.bind(("127.0.0.1", port))
        taken.listen()
        try:
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                await pilot.press("q")
                await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog), what="ask")
                await pilot.press("k")
                await wait_until(
                    pilot, lambda: children and children[0].poll() is not None, within=40
                )
                await settle(pilot)
                assert app.is_running and app.engine_state == "here"
                assert lease.current_holder(ctx.db, ctx.clock.now()) == app.holder
                errors = [message for severity, message in said if severity == "error"]
                assert errors and "the headless engine did not start" in errors[0]
                assert str(town_db.with_name("town-serve.log")) in errors[0]
        finally:
            ctx.close()


async def test_the_dashboard_says_since_when_no_engine_runs(ctx) -> None:
    app = DutydeskApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.engine_state == "here"
        assert "running here" in engine_line(app)
        assert app.engine is not None
        await asyncio.to_thread(app.engine.stop)  # the console's engine is gone
        await wait_until(
            pilot,
            lambda: "no engine running since 14:00 — escalations paused" in engine_line(app),
            what="the paused line (the clean stop at 14:00 Shanghai)",
        )
        # A holder that crashed at 13:50 and whose lease ran out at 13:51.
        lease.acquire(
            ctx.db, "engine:h:1:ab", ctx.clock.now() - timedelta(minutes=10), timedelta(minutes=1)
        )
        await wait_until(
            pilot,
            lambda: "no engine running since 13:51 — escalations paused" in engine_line(app),
            what="the crashed holder's expiry",
        )
        # A live holder elsewhere: nothing is paused.
        lease.acquire(ctx.db, "serve:elsewhere", ctx.clock.now(), timedelta(minutes=5))
        await wait_until(
            pilot, lambda: "escalations paused" not in engine_line(app), what="the line to clear"
        )
