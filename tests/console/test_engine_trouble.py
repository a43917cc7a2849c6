"""The console tells the officer when this machine keeps messages from going out.

An engine that runs out of file descriptors or disk holds messages back rather than charging
the recipients (tests/e2e/test_engine_faults.py); the officer must see it: a toast when it
starts, a red line beside the engine's state on the dashboard and the queue until it clears.
"""

from __future__ import annotations

import pytest
from textual.widgets import Static

from console.tui.app import DutydeskApp
from console.tui.messages import EngineWrote
from tests.support.console import settle, wait_until

SIZE = (120, 36)
TROUBLE = "local error: [Errno 24] Too many open files; 10 message(s) held back"


def _engine_line(app: DutydeskApp) -> str:
    return str(app.screen.query_one("#engine", Static).render())


@pytest.mark.parametrize("home", ["dashboard", "incidents"])
async def test_a_local_error_is_shown_until_it_clears(
    ctx, monkeypatch: pytest.MonkeyPatch, home: str
) -> None:
    app = DutydeskApp(ctx, home=home)
    seen: list[str] = []
    original = DutydeskApp.notify

    def record(self: DutydeskApp, message: str, **kwargs: object) -> None:
        seen.append(message)
        original(self, message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DutydeskApp, "notify", record)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.engine is not None
        shown = (
            (lambda: _engine_line(app))
            if home == "dashboard"
            else (lambda: str(app.screen.query_one("#status", Static).render()))
        )
        assert "local error" not in shown()
        app.engine.engine.local_error = TROUBLE
        app.post_message(EngineWrote())
        await wait_until(pilot, lambda: "local error" in shown())
        assert TROUBLE in seen
        app.engine.engine.local_error = None
        app.post_message(EngineWrote())
        await wait_until(pilot, lambda: "local error" not in shown())
