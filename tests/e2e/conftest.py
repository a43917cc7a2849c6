"""Fixtures of the end-to-end tests: real processes, real HTTP, a real SMTP server.

``serve`` starts ``dutydesk serve`` as a subprocess on a free port of 127.0.0.1, with a
configuration pointing the ``sms`` channel at a :class:`tests.support.gateway.Gateway` that the
test started; it waits until the engine holds the lease. ``town_db`` is a database file with a
small jurisdiction (one community, two grids, a team, a duty rotation) built through the
domain functions, as an office would through the CLI.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contacts.importer import import_contacts
from contacts.people import NewPerson, add_person
from contacts.roster import add_post, add_rotation
from contacts.teams import add_member, add_team
from jurisdiction.units import NewUnit, add_unit
from mobilization.trees import build_default_tree
from store.clock import FixedClock, SystemClock
from store.db import connect
from tests.support.gateway import Gateway

TOWN = "330106001000"
COM = "330106001001"
OPERATOR = "e2e"
PHONES = {
    "A": "13800138001",
    "SEC": "13800138003",
    "L1": "13800138004",
    "M1": "13800138005",
    "M2": "13800138006",
    "V1": "13800138007",
    "L2": "13800138008",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def e164(key: str) -> str:
    return "+86" + PHONES[key]


@pytest.fixture
def town_db(tmp_path: Path) -> Path:
    """A database file with the small town; the DO rotation covers any day of the test run."""
    path = tmp_path / "town.db"
    db = connect(path)
    clock = SystemClock()
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COM, "幸福社区", "community", parent=TOWN))
    for grid in ("G01", "G02"):
        add_unit(db, clock, OPERATOR, NewUnit(grid, f"{grid}网格", "grid", parent=COM))
    people = [
        ("A", TOWN, "duty_officer"),
        ("SEC", COM, "community_secretary"),
        ("L1", "G01", "grid_leader"),
        ("M1", "G01", "grid_member"),
        ("M2", "G01", "grid_member"),
        ("V1", "G01", "volunteer"),
        ("L2", "G02", "grid_leader"),
    ]
    for key, unit, role in people:
        add_person(
            db,
            clock,
            OPERATOR,
            NewPerson(name=key, unit=unit, phone=PHONES[key], roles=[role]),
            key=key,
        )
    add_team(db, clock, OPERATOR, "T-RESCUE", "救援队", "rescue", TOWN, "M1")
    add_member(db, clock, OPERATOR, "T-RESCUE", "V1")
    add_post(db, clock, OPERATOR, "DO", "值班员")
    add_rotation(
        db,
        clock,
        OPERATOR,
        "DO",
        people=["A"],
        starts_on=date(2020, 1, 1),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
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


def write_config(tmp_path: Path, port: int, **channels: dict[str, Any]) -> Path:
    lines = [f"[serve]\nport = {port}\n", "[mobilize]\ninterval_seconds = 0\n"]
    for name, table in channels.items():
        lines.append(f"[channels.{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items())
        lines.append("")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Serve:
    """``dutydesk serve`` as a child process."""

    def __init__(self, db: Path, config: Path, port: int, log: Path) -> None:
        self.db, self.config, self.port, self.log = db, config, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 20.0, until: str = "here") -> Serve:
        """Start it and wait until its engine state is ``until`` (``here``: it holds the lease)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        code = "import sys; from console.cli import main; main(sys.argv[1:])"
        args = [
            "--db",
            str(self.db),
            "--config",
            str(self.config),
            "serve",
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, *args], stdout=log, stderr=log, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.log.read_text(errors='replace')}")
            try:
                health = httpx.get(f"{self.url}/healthz", timeout=1).json()
                if health["engine"] == until:
                    return self
            except httpx.HTTPError:
                pass  # not listening yet: look again
            time.sleep(0.1)
        raise AssertionError(f"serve did not take the lease: {self.log.read_text()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway(dedupe=True) as gw:
        yield gw


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def make(db: Path, config: Path, port: int) -> Serve:
        server = Serve(db, config, port, tmp_path / "serve.log")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
