"""Provides the fixed moment and the operator the domain tests work with, ``events_count``,
``events_since`` (a file database's audit entries after an id) and ``case_json`` (a case as the
uplink projects it, for the hub's tests).

``tests/conftest.py`` builds its ``clock`` fixture on ``START`` and re-exports all three, so
tests may import them from either; the other support modules import them from here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from store.db import connect

# Thursday 2026-11-26, 10:00 in Asia/Shanghai: inside working hours of a normal work day.
START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
OPERATOR = "tester"


def events_count(db: Database) -> int:
    """How many audit events the database holds."""
    return int(db.conn.execute("SELECT count(*) FROM events").fetchone()[0])


def events_since(db_path: Path, after: int = 0) -> list[tuple[int, str, dict[str, Any]]]:
    """``(id, kind, data)`` of the audit entries after ``after`` in the database at ``db_path``."""
    db = connect(db_path)
    try:
        return [
            (int(r[0]), str(r[1]), json.loads(r[2] or "{}"))
            for r in db.conn.execute(
                "SELECT id, kind, data FROM events WHERE id > ? ORDER BY id", (after,)
            )
        ]
    finally:
        db.close()


def case_json(number: str, **fields: Any) -> dict[str, Any]:
    """A case as ``uplink.outbox.case_payload`` shapes it (the fields the hub reads)."""
    case: dict[str, Any] = {
        "number": number,
        "title": "3号楼火灾",
        "category": "accident_disaster",
        "type": "fire",
        "severity": "IV",
        "stage": "reported",
        "active": True,
        "deadline": None,
        "overdue": False,
        "parked": False,
        "supervised": False,
    }
    case.update(fields)
    return case
