"""Provides the overdue sweep (督办 and 催办) and the shift handover.

The sweep is idempotent and driven by stored state only: a case whose current deadline has
passed is put under supervision once (one ``supervise`` entry per deadline), then gets one
``remind`` entry per ``policy.remind_every`` while it stays overdue. After downtime the sweep
writes the reminder the case is due now (numbered by elapsed intervals), not a burst of
back-dated ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from incidents.limits import Policy
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput


@dataclass(frozen=True)
class SweepResult:
    """Cases newly supervised, reminders written, and whether a ``once`` sweep left work."""

    supervised: int
    reminded: int
    more: bool = False


def sweep_overdue(
    db: Database,
    clock: Clock,
    policy: Policy,
    *,
    operator: str = "system",
    batch: int = 500,
    once: bool = False,
) -> SweepResult:
    """Put newly overdue cases under supervision and remind the ones still overdue.

    Only rows with work to do are read (two partial indexes: overdue cases not yet noted, and
    cases whose next reminder is due), in transactions of ``batch`` cases, so a sweep over a
    large backlog neither starves later cases nor holds the write lock for long.

    Args:
        once: do at most one batch of each kind and return; a caller sharing the connection
            (the console) calls again while ``more`` says work is left, letting others in
            between.
    """
    now = clock.now()
    at = to_iso(now)
    interval = policy.remind_every
    supervised = reminded = 0
    more = False
    # Reminders first: a case supervised by this sweep gets its first reminder from the next
    # one, so after downtime the office sees 督办 before 催办.
    while True:
        with write(db):
            rows = db.conn.execute(
                "SELECT id, stage, deadline, reminders FROM incidents"
                " WHERE remind_at IS NOT NULL AND remind_at <= ? ORDER BY remind_at LIMIT ?",
                (at, batch),
            ).fetchall()
            for incident_id, stage, deadline, reminders in rows:
                # Numbered by elapsed intervals: after downtime, one reminder, not a burst.
                due = max(reminders + 1, int((now - from_iso(deadline)) / interval))
                db.conn.execute(
                    "UPDATE incidents SET reminders = ?, remind_at = ? WHERE id = ?",
                    (due, to_iso(from_iso(deadline) + (due + 1) * interval), incident_id),
                )
                append_event(
                    db,
                    at=at,
                    operator=operator,
                    kind="remind",
                    incident_id=incident_id,
                    data={"n": due, "stage": stage, "deadline": deadline},
                )
            reminded += len(rows)
        if len(rows) < batch or once:
            more = more or len(rows) == batch
            break
    while True:
        with write(db):
            rows = db.conn.execute(
                "SELECT id, stage, deadline FROM incidents"
                " WHERE active = 1 AND overdue_since IS NULL AND deadline < ?"
                " ORDER BY deadline LIMIT ?",
                (at, batch),
            ).fetchall()
            for incident_id, stage, deadline in rows:
                db.conn.execute(
                    "UPDATE incidents SET supervised = 1, overdue_since = ?, reminders = 0,"
                    " remind_at = ? WHERE id = ?",
                    (deadline, to_iso(from_iso(deadline) + interval), incident_id),
                )
                append_event(
                    db,
                    at=at,
                    operator=operator,
                    kind="supervise",
                    incident_id=incident_id,
                    data={"stage": stage, "deadline": deadline},
                )
            supervised += len(rows)
        if len(rows) < batch or once:
            more = more or len(rows) == batch
            break
    return SweepResult(supervised, reminded, more)


@dataclass(frozen=True)
class Counts:
    open: int
    overdue: int
    supervised: int
    parked: int


def counts(db: Database, now: datetime) -> Counts:
    """Open, overdue, supervised and parked cases; each count reads an index only.

    A case is open when it is in the active queue or parked (finishing a case clears both);
    supervision is cleared when a case finishes.
    """
    active, overdue, supervised, parked = db.conn.execute(
        "SELECT"
        " (SELECT count(*) FROM incidents WHERE active = 1),"
        " (SELECT count(*) FROM incidents WHERE active = 1 AND deadline < ?),"
        " (SELECT count(*) FROM incidents WHERE supervised = 1),"
        " (SELECT count(*) FROM incidents WHERE parked = 1)",
        (to_iso(now),),
    ).fetchone()
    return Counts(active + parked, overdue, supervised, parked)


@dataclass(frozen=True)
class Handover:
    id: int
    at: datetime
    from_operator: str
    to_operator: str
    note: str
    counts: Counts


def shift_handover(db: Database, clock: Clock, operator: str, to: str, note: str = "") -> Handover:
    """交接班: record who hands the shift to whom, with the open/overdue/supervised counts."""
    successor = to.strip()
    if not successor:
        raise InvalidInput("name the operator taking over", "to")
    if successor == operator:
        raise InvalidInput(f"{operator} cannot hand the shift over to themselves", "to")
    now = clock.now()
    at = to_iso(now)
    with write(db):
        c = counts(db, now)
        cursor = db.conn.execute(
            "INSERT INTO handovers (at, from_operator, to_operator, note, open_cases,"
            " overdue_cases, supervised_cases) VALUES (?,?,?,?,?,?,?)",
            (at, operator, successor, note, c.open, c.overdue, c.supervised),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="handover",
            data={
                "to": successor,
                "note": note,
                "open": c.open,
                "overdue": c.overdue,
                "supervised": c.supervised,
                "parked": c.parked,
            },
        )
    return Handover(int(cursor.lastrowid or 0), now, operator, successor, note, c)
