"""Fixtures for the domain tests: a small jurisdiction with people, a team and a duty rotation."""

from __future__ import annotations

from datetime import date

import pytest
from sqlite_utils import Database

from contacts.roster import add_post, add_rotation
from contacts.teams import add_member, add_team
from jurisdiction.units import NewUnit, add_unit
from mobilization import build_default_tree
from store.clock import FixedClock
from tests.support.domain import OPERATOR
from tests.support.town import COM, PHONES, TOWN, person


@pytest.fixture
def town(db: Database, clock: FixedClock) -> Database:
    """One township, one community, two grids, a team and a daily DO rotation (A, then B)."""
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    for grid in ("G01", "G02"):
        add_unit(db, clock, OPERATOR, NewUnit(grid, f"{grid}网格", "grid", parent=COM))
    for key, unit, role in (
        ("A", TOWN, "duty_officer"),
        ("B", TOWN, "duty_officer"),
        ("SEC", COM, "community_secretary"),
        ("L1", "G01", "grid_leader"),
        ("M1", "G01", "grid_member"),
        ("M2", "G01", "grid_member"),
        ("V1", "G01", "volunteer"),
        ("L2", "G02", "grid_leader"),
    ):
        person(db, clock, key, unit, role, PHONES[key])
    add_team(db, clock, OPERATOR, "T-RESCUE", "救援队", "rescue", TOWN, "M1")
    add_member(db, clock, OPERATOR, "T-RESCUE", "V1")
    add_post(db, clock, OPERATOR, "DO", "值班员")
    add_rotation(
        db,
        clock,
        OPERATOR,
        "DO",
        people=["A", "B"],
        starts_on=date(2026, 11, 26),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    return db


@pytest.fixture
def town_tree(town: Database, clock: FixedClock) -> Database:
    """The town with its default contact tree: time-outs of 300 s, one repeat."""
    build_default_tree(town, clock, OPERATOR, timeout_s=300, repeats=1)
    return town
