"""Provides the link's state as the drain last saw it, kept in the database for every process.

The drain (in whichever process holds the engine) records each exchange's outcome in the one
row of ``uplink_status``; the console, ``sync status`` and ``doctor`` read it with the outbox's
backlog into a :class:`~uplink.models.LinkStatus`. So a second console, or the CLI while
``serve`` runs, shows the same "backing off until 10:42" as the process that is trying.
"""

from __future__ import annotations

from datetime import datetime

from store.clock import from_iso, to_iso
from store.db import Database, has_table
from uplink.models import LinkState, LinkStatus
from uplink.outbox import backlog


def _opt(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


def link_status(db: Database, url: str | None, unit: str | None) -> LinkStatus:
    """The link at a glance (one read of the status row, one of the unsent index)."""
    if not has_table(db, "uplink_status"):
        return LinkStatus(LinkState.OFF, url, unit, 0, None, 0, None, None, None, None, 0)
    row = db.conn.execute(
        "SELECT state, last_ok_at, next_try_at, down_since, last_error, sent_total"
        " FROM uplink_status WHERE id = 1"
    ).fetchone()
    pending, oldest, dead = backlog(db)
    if url is None:
        state = LinkState.OFF
    elif row is None:
        state = LinkState.IDLE
    else:
        state = LinkState(row[0])
    return LinkStatus(
        state=state,
        url=url,
        unit=unit,
        backlog=pending,
        oldest_pending_at=_opt(oldest),
        dead_letters=dead,
        last_ok_at=_opt(row[1]) if row else None,
        next_try_at=_opt(row[2]) if row and state is LinkState.BACKING_OFF else None,
        down_since=_opt(row[3]) if row else None,
        last_error=row[4] if row else None,
        sent_total=int(row[5]) if row else 0,
    )


def _ensure(db: Database) -> None:
    db.conn.execute(
        "INSERT OR IGNORE INTO uplink_status (id, state) VALUES (1, ?)", (LinkState.IDLE.value,)
    )


def record_ok(db: Database, now: datetime, sent: int) -> None:
    """An exchange went through; call inside ``write``."""
    _ensure(db)
    db.conn.execute(
        "UPDATE uplink_status SET state = ?, last_ok_at = ?, next_try_at = NULL,"
        " down_since = NULL, failures = 0, last_error = NULL, sent_total = sent_total + ?"
        " WHERE id = 1",
        (LinkState.CONNECTED.value, to_iso(now), sent),
    )


def record_failure(
    db: Database, now: datetime, state: LinkState, error: str, next_try_at: datetime
) -> int:
    """An exchange failed; returns how many failed in a row (this one included).

    Call inside ``write``. ``down_since`` keeps the first failure of the run.
    """
    _ensure(db)
    db.conn.execute(
        "UPDATE uplink_status SET state = ?, next_try_at = ?, last_error = ?,"
        " down_since = coalesce(down_since, ?), failures = failures + 1 WHERE id = 1",
        (state.value, to_iso(next_try_at), error[:500], to_iso(now)),
    )
    row = db.conn.execute("SELECT failures FROM uplink_status WHERE id = 1").fetchone()
    return int(row[0])


def failures(db: Database) -> tuple[int, datetime | None]:
    """Failures in a row, and when the next try is due."""
    row = db.conn.execute("SELECT failures, next_try_at FROM uplink_status WHERE id = 1").fetchone()
    if row is None:
        return 0, None
    return int(row[0]), _opt(row[1])


def resync_due(db: Database) -> bool:
    row = db.conn.execute("SELECT resync_due FROM uplink_status WHERE id = 1").fetchone()
    return row is None or bool(row[0])


def set_resync_due(db: Database, due: bool) -> None:
    """Ask for (or clear) a resynchronisation before the next batch; call inside ``write``."""
    _ensure(db)
    db.conn.execute("UPDATE uplink_status SET resync_due = ? WHERE id = 1", (int(due),))


def retry_now(db: Database) -> None:
    """End the current backoff: the next step tries at once (a token or a unit was fixed);
    call inside ``write``."""
    db.conn.execute("UPDATE uplink_status SET next_try_at = NULL WHERE id = 1")
