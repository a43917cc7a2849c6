"""Provides the small town the tests mobilize, as codes, phones, builders and a fixture.

A township (``TOWN``), one community (``COM``; ``OTHER`` is a second community's code), grids
G01 and G02, and people known by a key (A, SEC, L1, M1, M2, V1, L2) with the phones in
``PHONES`` (``e164(key)`` is the number as a gateway sees it). ``person`` adds one person by
key. Registered as a plugin by ``tests/conftest.py``, it gives every directory the fixture
``town_db``: a database file with the town, a team, a duty rotation and the default contact
tree, built through the domain functions as an office would through the CLI. ``big_grid_db``
builds one grid with thousands of members, imported from a CSV.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from contacts.importer import import_contacts
from contacts.people import NewPerson, Person, add_person
from contacts.roster import add_post, add_rotation
from contacts.teams import add_member, add_team
from jurisdiction.units import NewUnit, add_unit
from mobilization import build_default_tree
from store.clock import Clock, FixedClock, SystemClock
from store.db import connect
from tests.support.domain import OPERATOR

TOWN = "330106001000"
COM = "330106001001"
OTHER = "330106001002"
PHONES = {
    "A": "13800138001",
    "B": "13800138002",
    "SEC": "13800138003",
    "L1": "13800138004",
    "M1": "13800138005",
    "M2": "13800138006",
    "V1": "13800138007",
    "L2": "13800138008",
}


def e164(key: str) -> str:
    """The phone of the person ``key`` in international form."""
    return "+86" + PHONES[key]


def person(db: Database, clock: Clock, key: str, unit: str, role: str, phone: str | None) -> Person:
    """Add the person ``key`` (also their name) to ``unit`` with one role."""
    return add_person(
        db, clock, OPERATOR, NewPerson(name=key, unit=unit, phone=phone, roles=[role]), key=key
    )


def build_town(
    db: Database, clock: Clock, *, officers: tuple[str, ...] = ("A",), starts_on: date
) -> Database:
    """The town in ``db``: units, people, the rescue team, and a daily duty-officer rotation of
    ``officers`` (keys of ``PHONES``) from ``starts_on``."""
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    for grid in ("G01", "G02"):
        add_unit(db, clock, OPERATOR, NewUnit(grid, f"{grid}网格", "grid", parent=COM))
    for key, unit, role in (
        *((officer, TOWN, "duty_officer") for officer in officers),
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
        people=list(officers),
        starts_on=starts_on,
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    return db


@pytest.fixture
def town_db(tmp_path: Path) -> Path:
    """A database file with the small town; the DO rotation covers any day of the test run."""
    path = tmp_path / "town.db"
    db = connect(path)
    clock = SystemClock()
    build_town(db, clock, starts_on=date(2020, 1, 1))
    build_default_tree(db, clock, OPERATOR, timeout_s=60, repeats=1)
    db.close()
    return path


def big_grid_db(path: Path, people: int, *, timeout_s: int, repeats: int) -> Path:
    """One grid with a leader and ``people`` members, imported from a CSV as an office would."""
    db = connect(path)
    clock = FixedClock(datetime.now(UTC))
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "G01网格", "grid", parent=COM))
    sheet = path.with_suffix(".csv")
    with sheet.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "name", "unit", "phone", "roles"])
        out.writerow(["L", "组长", "G01", "13900000000", "grid-leader"])
        for i in range(1, people + 1):
            out.writerow([f"P{i:05d}", f"网格员{i}", "G01", f"139{i:08d}", "grid_member"])
    import_contacts(db, clock, OPERATOR, sheet)
    build_default_tree(db, clock, OPERATOR, timeout_s=timeout_s, repeats=repeats)
    db.close()
    return path
