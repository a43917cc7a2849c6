"""Provides the engine lease: only one process at a time runs the timers on a database.

The console and ``dutydesk serve`` both try to take the lease when they start and renew it
while they run; a second console on the same database sees that the lease is held and leaves
the timers (overdue sweep, later escalations and the outbox drain) to the holder. A holder that
dies stops renewing, and the lease can be taken over once it has expired; a holder that stops
cleanly deletes the row (:func:`release`). A standby looks with :func:`current_holder`, a plain
read, and calls :func:`acquire` (a write transaction) only when the row is gone or expired.

Taking the lease and a clean stop note when they happened (``meta``): :func:`held_since` says
since when the holder runs the engine, :func:`vacancy` since when none has (escalations wait
meanwhile, and the officer must be told so).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from store.clock import from_iso, to_iso
from store.db import write

# meta keys (store's own): when the holder took the lease, when the last one let it go, who.
HELD_SINCE = "engine_held_since"
HELD_BY = "engine_held_by"
STOPPED_AT = "engine_stopped_at"
STOPPED_BY = "engine_stopped_by"


def new_holder(kind: str) -> str:
    """A holder id unique to this process and call: ``kind:host:pid:random``.

    ``kind`` says what holds it (``engine``, ``console``); host and pid tell an operator which
    process that is, and the random part tells two holders of one process apart.
    """
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(db: Database, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease for ``holder``; ``False`` when another live holder has it."""
    with write(db):
        row = db.conn.execute("SELECT holder, expires_at FROM engine_lease WHERE id = 1").fetchone()
        if row is not None and row[0] != holder and row[1] > to_iso(now):
            return False
        db.conn.execute(
            "INSERT INTO engine_lease (id, holder, expires_at) VALUES (1, ?, ?) ON CONFLICT(id)"
            " DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            (holder, to_iso(now + ttl)),
        )
        if row is None or row[0] != holder:  # taken, not renewed: note since when
            _note(db, ((HELD_SINCE, to_iso(now)), (HELD_BY, holder)))
    return True


def _note(db: Database, pairs: tuple[tuple[str, str], ...]) -> None:
    db.conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        pairs,
    )


def held_since(db: Database, holder: str) -> datetime | None:
    """When ``holder`` took the lease (``None`` if that was not noted: an older version)."""
    noted = dict(
        db.conn.execute(
            "SELECT key, value FROM meta WHERE key IN (?, ?)", (HELD_SINCE, HELD_BY)
        ).fetchall()
    )
    if noted.get(HELD_BY) != holder or HELD_SINCE not in noted:
        return None
    return from_iso(noted[HELD_SINCE])


def release(db: Database, holder: str, now: datetime | None = None) -> None:
    """Give the lease up (on a clean shutdown) so another process can take it at once.

    ``now``: when, kept for :func:`vacancy` (the row itself is gone after a clean stop).
    """
    with write(db):
        gone = db.conn.execute(
            "DELETE FROM engine_lease WHERE id = 1 AND holder = ?", (holder,)
        ).rowcount
        if gone and now is not None:
            _note(db, ((STOPPED_AT, to_iso(now)), (STOPPED_BY, holder)))


@dataclass(frozen=True)
class Vacancy:
    """No engine holds the lease: since when (``None``: none ever ran, or it is not known) and
    who held it last; ``crashed`` when that holder stopped renewing without letting go."""

    since: datetime | None
    last_holder: str | None
    crashed: bool


def vacancy(db: Database, now: datetime) -> Vacancy | None:
    """``None`` while a live engine holds the lease; else since when nobody has (two reads).

    A holder that crashed left its row: the engine stopped acting around its expiry (a few
    seconds after its last renewal). One that stopped cleanly noted the moment it let go.
    """
    row = db.conn.execute("SELECT holder, expires_at FROM engine_lease WHERE id = 1").fetchone()
    if row is not None:
        if row[1] > to_iso(now):
            return None
        return Vacancy(from_iso(row[1]), str(row[0]), True)
    noted = dict(
        db.conn.execute(
            "SELECT key, value FROM meta WHERE key IN (?, ?)", (STOPPED_AT, STOPPED_BY)
        ).fetchall()
    )
    at = noted.get(STOPPED_AT)
    return Vacancy(from_iso(at) if at else None, noted.get(STOPPED_BY), False)


def current_holder(db: Database, now: datetime) -> str | None:
    """Who holds a live lease now, or ``None``: a read, cheap enough for several looks a second."""
    row = db.conn.execute("SELECT holder, expires_at FROM engine_lease WHERE id = 1").fetchone()
    if row is None or row[1] <= to_iso(now):
        return None
    return str(row[0])
