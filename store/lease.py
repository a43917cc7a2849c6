"""Provides the engine lease: only one process at a time runs the timers on a database.

The console and ``dutydesk serve`` both try to take the lease when they start and renew it
while they run; a second console on the same database sees that the lease is held and leaves
the timers (overdue sweep, later escalations and the outbox drain) to the holder. A holder that
dies stops renewing, and the lease can be taken over once it has expired; a holder that stops
cleanly deletes the row (:func:`release`). A standby looks with :func:`current_holder`, a plain
read, and calls :func:`acquire` (a write transaction) only when the row is gone or expired.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlite_utils import Database

from store.clock import to_iso
from store.db import write


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
    return True


def release(db: Database, holder: str) -> None:
    """Give the lease up (on a clean shutdown) so another process can take it at once."""
    with write(db):
        db.conn.execute("DELETE FROM engine_lease WHERE id = 1 AND holder = ?", (holder,))


def current_holder(db: Database, now: datetime) -> str | None:
    """Who holds a live lease now, or ``None``: a read, cheap enough for several looks a second."""
    row = db.conn.execute("SELECT holder, expires_at FROM engine_lease WHERE id = 1").fetchone()
    if row is None or row[1] <= to_iso(now):
        return None
    return str(row[0])
