"""Provides what the Pilot tests of the console share: ``settle`` and the console's operator.

``settle(pilot)`` is the one way a Pilot test waits for the console to be quiet (its workers
done, the messages they posted handled) instead of scattered pauses; ``wait_until(pilot,
predicate)`` waits, with a deadline, for what a timer brings (a clock tick, a poll).
``OPERATOR`` is who the console tests' context is opened as; ``officer_entries`` is a case's
timeline without what the engine, running beside the console, adds on its own (a dispatched
case is sent to the field a moment later).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from time import monotonic

from sqlite_utils import Database
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from incidents.models import TimelineEntry
from incidents.records import timeline

OPERATOR = "zhang-san"


def officer_entries(db: Database, incident_id: int) -> list[TimelineEntry]:
    """The case's timeline entries written by people, not by the engine."""
    return [e for e in timeline(db, incident_id) if e.operator != "engine"]


async def settle(pilot: Pilot[object]) -> None:
    """Let the refresh workers finish and the messages they posted be handled.

    ``await app.workers.wait_for_complete(); await pilot.pause()``, repeated while the messages
    handled start further reads (a page, then the counts). A reload cancels the read it
    replaces, and waiting on a cancelled worker raises: that one needs no waiting for.
    """
    app = pilot.app
    for _ in range(20):
        with suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if all(worker.is_finished for worker in app.workers):
            return
    raise AssertionError(f"the console is still busy: {list(app.workers)}")


async def wait_until(
    pilot: Pilot[object],
    predicate: Callable[[], object],
    within: float = 5.0,
    what: str = "the condition",
    step: float = 0.02,
) -> None:
    """Let the console run, in small steps, until ``predicate()`` holds.

    Raises:
        AssertionError: it did not hold ``within`` seconds (saying ``what``).
    """
    deadline = monotonic() + within
    while not predicate():
        if monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await pilot.pause(step)
