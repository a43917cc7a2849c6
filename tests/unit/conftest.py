"""Fixtures for the domain tests: a small jurisdiction with people, a team and a duty rotation."""

from __future__ import annotations

from datetime import date

import pytest
from sqlite_utils import Database

from contacts.people import NewPerson, add_person
from contacts.roster import add_post, add_rotation
from contacts.teams import add_member, add_team
from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock
from tests.conftest import OPERATOR

TOWN = "330106001000"
COM = "330106001001"


def person(db: Database, clock: FixedClock, key: str, unit: str, role: str, phone: str | None):
    return add_person(
        db, clock, OPERATOR, NewPerson(name=key, unit=unit, phone=phone, roles=[role]), key=key
    )


@pytest.fixture
def town(db: Database, clock: FixedClock) -> Database:
    """One township, one community, two grids, a team and a daily DO rotation (A, then B)."""
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    for grid in ("G01", "G02"):
        add_unit(db, clock, OPERATOR, NewUnit(grid, f"{grid}网格", "grid", parent=COM))
    person(db, clock, "A", TOWN, "duty_officer", "13800138001")
    person(db, clock, "B", TOWN, "duty_officer", "13800138002")
    person(db, clock, "SEC", COM, "community_secretary", "13800138003")
    person(db, clock, "L1", "G01", "grid_leader", "13800138004")
    person(db, clock, "M1", "G01", "grid_member", "13800138005")
    person(db, clock, "M2", "G01", "grid_member", "13800138006")
    person(db, clock, "V1", "G01", "volunteer", "13800138007")
    person(db, clock, "L2", "G02", "grid_leader", "13800138008")
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
