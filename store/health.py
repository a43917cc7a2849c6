"""Provides the read-only facts about a database that ``dutydesk doctor`` and ``backup`` check.

SQLite's ``quick_check`` (a damaged page is found before it is copied into a backup or written
over), and the engine lease as it stands (who holds it, until when, and whether its holder
stopped renewing it). Nothing here writes: the doctor opens the database read-only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from store.clock import to_iso


def quick_check(db: Database, limit: int = 5) -> list[str]:
    """The problems ``PRAGMA quick_check`` finds (at most ``limit``); empty when the file is ok.

    ``quick_check`` reads every page and checks the b-trees, without comparing indexes to their
    tables (``integrity_check`` does that too, several times slower on a big file).
    """
    try:
        rows = db.conn.execute(f"PRAGMA quick_check({int(limit)})").fetchall()
    except sqlite3.DatabaseError as exc:  # damage that stops the check itself
        return [str(exc)]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


@dataclass(frozen=True)
class LeaseState:
    """The engine lease: its holder (``kind:host:pid:random``), when it expires, whether the
    holder stopped renewing it (``stale``: expired but never released)."""

    holder: str
    expires_at: str
    stale: bool


def lease_state(db: Database, now: datetime) -> LeaseState | None:
    """The lease as it stands, or ``None`` when nobody holds it (never taken, or released)."""
    row = db.conn.execute("SELECT holder, expires_at FROM engine_lease WHERE id = 1").fetchone()
    if row is None:
        return None
    return LeaseState(str(row[0]), str(row[1]), str(row[1]) <= to_iso(now))
