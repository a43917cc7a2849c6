"""Fixtures for the domain tests: a small jurisdiction with people, a team and a duty rotation."""

from __future__ import annotations

from datetime import date

import pytest
from sqlite_utils import Database

from mobilization import build_default_tree
from store.clock import FixedClock
from tests.support.domain import OPERATOR
from tests.support.town import build_town


@pytest.fixture
def town(db: Database, clock: FixedClock) -> Database:
    """One township, one community, two grids, a team and a daily DO rotation (A, then B)."""
    return build_town(db, clock, officers=("A", "B"), starts_on=date(2026, 11, 26))


@pytest.fixture
def town_tree(town: Database, clock: FixedClock) -> Database:
    """The town with its default contact tree: time-outs of 300 s, one repeat."""
    build_default_tree(town, clock, OPERATOR, timeout_s=300, repeats=1)
    return town
