"""Provides the fixed moment and the operator the domain tests work with, and ``events_count``.

``tests/conftest.py`` builds its ``clock`` fixture on ``START`` and re-exports all three, so
tests may import them from either; the other support modules import them from here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlite_utils import Database

# Thursday 2026-11-26, 10:00 in Asia/Shanghai: inside working hours of a normal work day.
START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
OPERATOR = "tester"


def events_count(db: Database) -> int:
    """How many audit events the database holds."""
    return int(db.conn.execute("SELECT count(*) FROM events").fetchone()[0])
