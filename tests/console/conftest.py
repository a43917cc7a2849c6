"""Fixtures of the console tests: a temporary database file, a fixed clock and a context.

The clock stands at Wednesday 2026-05-20 14:00 in Shanghai (06:00 UTC), inside working hours,
so stage deadlines and "time left" come out the same on every run and in every snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from console.config import Config
from console.context import Context
from incidents.models import Incident
from incidents.records import NewIncident, create_incident
from store.clock import FixedClock
from store.db import connect

NOW = datetime(2026, 5, 20, 6, 0, tzinfo=UTC)
OPERATOR = "zhang-san"


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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = connect(db_path)
    yield database
    database.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def ctx(db: Database, db_path: Path, clock: FixedClock) -> Context:
    return Context(db=db, db_path=db_path, config=Config(path=None), operator=OPERATOR, clock=clock)


@pytest.fixture
def log_case(ctx: Context):  # noqa: ANN201 - a factory fixture
    """Log a case straight through the domain (as the CLI would), as reporter ``seed``."""

    def log(title: str, category: str = "facilities", **fields: object) -> Incident:
        new = NewIncident(title=title, category=category, **fields)  # type: ignore[arg-type]
        return create_incident(ctx.db, ctx.clock, ctx.policy, "seed", new)

    return log
