"""The duty officer's main flow, in the console, against a real ``dutydesk serve``.

A case is logged with the form, registered, dispatched, and its grid mobilized from the case's
screen; ``dutydesk serve`` (a child process holding the engine lease) sends the call-out to a
real local SMS gateway; the grid leader answers through the HTTP ack link; the console, which
only reads the database, shows the answer on the mobilization screen and on the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable, Static

from console.context import open_context
from console.tui.app import DutydeskApp
from console.tui.dialogs.mobilize import MobilizeDialog
from console.tui.dialogs.new_incident import NewIncidentDialog
from console.tui.dialogs.yes_no import YesNoDialog
from console.tui.screens.dashboard import DashboardScreen
from console.tui.screens.detail import IncidentDetailScreen
from console.tui.screens.incidents import IncidentsScreen
from console.tui.screens.mobilization import MobilizationScreen
from console.tui.widgets.picker import Picker
from incidents.models import Stage
from incidents.records import get_incident
from tests.support.console import settle, wait_until
from tests.support.serve import free_port, write_config
from tests.support.town import e164

pytestmark = pytest.mark.slow


WAIT_S = 20.0


async def until(pilot: Any, check: Callable[[], Any], what: str) -> Any:
    """Let the console run (its polls, the workers they start) until ``check`` holds; its value.

    The deadline is long: a real ``serve`` in another process does its part meanwhile.
    """
    await wait_until(pilot, check, WAIT_S, what, step=0.05)
    return check()


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_log_dispatch_mobilize_and_see_the_answer_arrive(
    town_db: Path, gateway, serve_factory, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sms={"url": gateway.url})
    serve_factory(town_db, config, port).start()  # holds the lease: the console's engine waits
    ctx = open_context(town_db, config, "A")  # --as: the town's duty officer (a person)
    app = DutydeskApp(ctx)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            assert await until(pilot, lambda: app.engine_state == "elsewhere", "the lease seen")

            # Log the case with the form, from the queue.
            await pilot.press("i")
            await settle(pilot)
            await pilot.press("n")
            assert isinstance(app.screen, NewIncidentDialog)
            await pilot.press(*"清水河堤坝渗水")
            await pilot.press("tab", "enter", "down", "enter")  # category: natural disaster
            await pilot.press("tab", "enter", "down", "enter")  # type: flood
            app.screen.query_one("#new-grid", Picker).focus()
            await pilot.press(*"G01")  # the town's grid, typed: its code names it exactly
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, IncidentsScreen)
            case = get_incident(ctx.db, "2026-000001")
            assert (case.title, case.category, case.grid) == (
                "清水河堤坝渗水",
                "natural_disaster",
                "G01",
            )

            # Open it, register and dispatch it.
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, IncidentDetailScreen)
            await pilot.press("a")
            await settle(pilot)
            await until(
                pilot,
                lambda: get_incident(ctx.db, case.id).stage is Stage.REGISTERED,
                "registered",
            )
            await pilot.press("a")
            await settle(pilot)
            await until(
                pilot,
                lambda: get_incident(ctx.db, case.id).stage is Stage.DISPATCHED,
                "dispatched",
            )

            # Mobilize the case's grid from its screen: the dialog comes with grid:G01.
            await pilot.press("M")
            dialog = await until(
                pilot,
                lambda: isinstance(app.screen, MobilizeDialog) and app.screen,
                "the mobilize dialog",
            )
            assert [t.format() for t in dialog.targets] == ["grid:G01"]
            await pilot.press("ctrl+s")  # asks first: who is called, real or drill
            await until(pilot, lambda: isinstance(app.screen, YesNoDialog), "the confirmation")
            await pilot.press("y")
            screen = await until(
                pilot,
                lambda: isinstance(app.screen, MobilizationScreen) and app.screen,
                "the mobilization screen",
            )
            await settle(pilot)

            # serve's engine calls the grid leader through the gateway; the leader says yes
            # through the signed link in the SMS (the dispatch's own call-out to the field,
            # with its case link, is another message).
            sms = await until(
                pilot,
                lambda: [
                    m
                    for m in gateway.accepted
                    if m.get("to") == e164("L1") and "/ack/" in str(m.get("ack_url"))
                ],
                "the grid leader's SMS",
            )
            link = sms[0]["ack_url"]
            assert link.startswith(f"http://127.0.0.1:{port}/ack/")
            async with httpx.AsyncClient() as client:
                answer = await client.post(link, data={"answer": "yes", "eta": "10"})
            assert answer.status_code == 200

            # The console sees serve's write within a poll or two, on this screen...
            await until(
                pilot,
                lambda: "said yes 1" in text_of(screen, "#mob-counters"),
                "the yes on the mobilization screen",
            )
            assert "said yes" in text_of(screen, "#mob-counters")

            # ...and on the dashboard: the feed names who answered, the bar counts the yes.
            while not isinstance(app.screen, DashboardScreen):
                await pilot.press("escape")
                await settle(pilot)
            dashboard = app.screen

            def answered() -> bool:
                feed = dashboard.query_one("#feed", DataTable)
                kinds = [str(feed.get_row_at(i)[1]) for i in range(feed.row_count)]
                return "✔ answered yes" in kinds and " 1/0/" in text_of(dashboard, "#mobs")

            assert await until(pilot, answered, "the answer on the dashboard")
    finally:
        ctx.close()
