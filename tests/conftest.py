"""Shared fixtures for every test: an in-memory store, a fixed clock, the default policy.

An autouse fixture points every file dutydesk could touch (database, configuration, the
platformdirs user directories) into the test's ``tmp_path``, so no test reads or writes the
real user's data. Feature-specific fixtures live in the conftest of their own directory;
fixtures that several directories use live in ``tests/support`` and are registered here as
plugins. Hypothesis runs with the ``ci`` profile (derandomized: a failure reproduces) when
``HYPOTHESIS_PROFILE=ci``, as ``.ci/run`` sets it, and with its default profile otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlite_utils import Database

from incidents import workflow
from incidents.limits import Policy
from incidents.models import Incident, Stage
from incidents.records import NewIncident, create_incident, get_incident
from store.clock import FixedClock
from store.db import connect
from store.i18n import ENGLISH, LOCALE_VARIABLES, language, set_language
from tests.support.domain import OPERATOR, START, events_count

__all__ = ["OPERATOR", "START", "MakeCase", "events_count", "walk_to"]  # tests import these

# Fixtures shared across test directories (pytest takes pytest_plugins from the root conftest only).
pytest_plugins = ["tests.support.town"]

# CI: the same examples on every run, so a red run reproduces; the blob to replay a failure;
# no deadline, since a loaded machine makes any example slow now and then.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# How to walk a fresh case forward to each stage of the loop.
_PATH: dict[Stage, tuple[Stage, ...]] = {
    Stage.REPORTED: (),
    Stage.REGISTERED: (Stage.REGISTERED,),
    Stage.DISPATCHED: (Stage.REGISTERED, Stage.DISPATCHED),
    Stage.HANDLING: (Stage.REGISTERED, Stage.DISPATCHED, Stage.HANDLING),
    Stage.FEEDBACK: (Stage.REGISTERED, Stage.DISPATCHED, Stage.HANDLING, Stage.FEEDBACK),
    Stage.VERIFIED: (
        Stage.REGISTERED,
        Stage.DISPATCHED,
        Stage.HANDLING,
        Stage.FEEDBACK,
        Stage.VERIFIED,
    ),
    Stage.CLOSED: (
        Stage.REGISTERED,
        Stage.DISPATCHED,
        Stage.HANDLING,
        Stage.FEEDBACK,
        Stage.VERIFIED,
        Stage.CLOSED,
    ),
}


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the database, the configuration and platformdirs' user dirs inside ``tmp_path``."""
    home = tmp_path / "home"
    for name, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("DUTYDESK_DB", str(home / "data" / "dutydesk" / "dutydesk.db"))
    monkeypatch.setenv("DUTYDESK_CONFIG", str(home / "config" / "dutydesk" / "config.toml"))
    return home


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test speaks English (and so do the processes it starts) unless it says otherwise.

    A test that wants Chinese calls ``set_language("zh_CN")`` (or passes ``--lang zh_CN`` /
    ``LANG=zh_CN.UTF-8`` to a process); this puts English back afterwards, click help included.
    """
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    set_language(ENGLISH)
    yield
    if language() != ENGLISH:
        set_language(ENGLISH)
        from console.cli.i18n import translate_commands
        from console.cli.main import cli

        translate_commands(cli)


@pytest.fixture
def db() -> Iterator[Database]:
    """A migrated in-memory database."""
    database = connect()
    yield database
    database.close()


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at Thursday 2026-11-26 10:00 Asia/Shanghai (02:00 UTC)."""
    return FixedClock(START)


@pytest.fixture
def policy() -> Policy:
    return Policy()


def walk_to(
    db: Database, clock: FixedClock, policy: Policy, ref: int | str, stage: Stage
) -> Incident:
    """Advance a freshly reported case along the loop until it reaches ``stage``."""
    steps: dict[Stage, Callable[[], Incident]] = {
        Stage.REGISTERED: lambda: workflow.register(db, clock, policy, OPERATOR, ref),
        Stage.DISPATCHED: lambda: workflow.dispatch(db, clock, policy, OPERATOR, ref),
        Stage.HANDLING: lambda: workflow.handle(db, clock, policy, OPERATOR, ref),
        Stage.FEEDBACK: lambda: workflow.feedback(db, clock, policy, OPERATOR, ref, "done"),
        Stage.VERIFIED: lambda: workflow.verify(db, clock, policy, OPERATOR, ref),
        Stage.CLOSED: lambda: workflow.close(db, clock, policy, OPERATOR, ref),
    }
    incident = get_incident(db, ref)
    for target in _PATH[stage]:
        incident = steps[target]()
    return incident


MakeCase = Callable[..., Incident]


@pytest.fixture
def make_case(db: Database, clock: FixedClock, policy: Policy) -> MakeCase:
    """Factory: ``make_case(stage=Stage.HANDLING, title=..., category=..., ...)``.

    Logs a case (a fire, accident_disaster/fire, by default; a category given without a type
    means type ``other``) and walks it to ``stage`` along the loop.
    """

    def make(stage: Stage = Stage.REPORTED, operator: str = OPERATOR, **fields: Any) -> Incident:
        values: dict[str, Any] = {"title": "3号楼发生火灾", **fields}
        if "category" not in fields:
            values.update(category="accident_disaster", type=fields.get("type", "fire"))
        incident = create_incident(db, clock, policy, operator, NewIncident(**values))
        return walk_to(db, clock, policy, incident.id, stage)

    return make
