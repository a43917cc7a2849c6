"""Fixtures of the console tests: a temporary database file, a fixed clock and a context.

The clock stands at Wednesday 2026-05-20 14:00 in Shanghai (06:00 UTC), inside working hours,
so stage deadlines and "time left" come out the same on every run and in every snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from console.config import Config
from console.context import Context
from incidents.models import Incident
from incidents.records import NewIncident, create_incident
from store.clock import FixedClock
from store.db import connect
from tests.support.console import OPERATOR

NOW = datetime(2026, 5, 20, 6, 0, tzinfo=UTC)


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
