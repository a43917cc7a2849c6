"""Provides the reads a closed-loop evaluation needs: the cases reported in a period and their
stage moves, each move with the deadline that was in force when it happened.

The office's statistics (:mod:`reports.stats`) are assessed on these figures: was each stage
left before its deadline, how many cases were returned, reopened, supervised. The reads stay
here because the cases are this package's table; they return plain rows, so a month over a
million-case store reads that month's cases (``reported_at`` in range) once, then their
timeline through ``events_incident``, a chunk of cases at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import NamedTuple

from store.clock import to_iso
from store.db import Database

# Timeline kinds that set the deadline of the stage a case is in (besides the stage moves).
DEADLINE_KINDS = ("extension_granted", "unpark")
# Timeline kinds that count in the evaluation besides stage moves.
MARK_KINDS = ("supervise", "remind")


class CaseRow(NamedTuple):
    """One case reported in the period, with what the evaluation needs of it."""

    id: int
    category: str
    type: str
    urgency: str
    source: str
    severity: int
    grid: str | None
    reported_at: str
    closed_at: str | None
    stage: str
    supervised: int
    overdue_since: str | None


class MoveRow(NamedTuple):
    """One timeline entry of a case of the period that matters to the evaluation.

    ``deadline`` is the entry's own ``data.deadline`` (the next stage's limit for a stage move,
    the new limit for an extension or an unpark); ``None`` when it has none.
    """

    incident_id: int
    kind: str
    at: str
    stage_from: str | None
    stage_to: str | None
    deadline: str | None


def _range(start: datetime, end: datetime) -> tuple[str, str]:
    return to_iso(start), to_iso(end)


def count_cases(db: Database, start: datetime, end: datetime) -> int:
    """How many cases were reported in ``[start, end)`` (the plain scan a benchmark compares
    against)."""
    row = db.conn.execute(
        "SELECT count(*) FROM incidents WHERE reported_at >= ? AND reported_at < ?",
        _range(start, end),
    ).fetchone()
    return int(row[0])


def period_cases(db: Database, start: datetime, end: datetime) -> Iterator[CaseRow]:
    """The cases reported in ``[start, end)``, in id order (merged duplicates left out)."""
    cursor = db.conn.execute(
        "SELECT id, category, type, urgency, source, severity, grid, reported_at, closed_at, stage,"
        " supervised, overdue_since FROM incidents"
        " WHERE reported_at >= ? AND reported_at < ? AND stage != 'merged' ORDER BY id",
        _range(start, end),
    )
    for row in cursor:
        yield CaseRow(*row)


def moves_of(db: Database, ids: Sequence[int], *, chunk: int = 500) -> Iterator[MoveRow]:
    """The stage moves, deadline changes, reminders and supervisions of the cases ``ids``
    (ascending), per case in timeline order: each chunk of cases is one read through
    ``events_incident``, so a period's cases are not looked for twice."""
    kinds = DEADLINE_KINDS + MARK_KINDS
    marks = ", ".join("?" for _ in kinds)
    for lo in range(0, len(ids), chunk):
        part = ids[lo : lo + chunk]
        cursor = db.conn.execute(
            "SELECT incident_id, kind, at, stage_from, stage_to,"
            " CASE WHEN stage_to IS NOT NULL OR kind IN ('extension_granted', 'unpark')"
            " THEN json_extract(data, '$.deadline') END FROM events"
            f" WHERE incident_id IN ({', '.join('?' for _ in part)})"
            f" AND (stage_to IS NOT NULL OR kind IN ({marks}))"
            " ORDER BY incident_id, id",
            (*part, *kinds),
        )
        for row in cursor:
            yield MoveRow(*row)


class OpenRow(NamedTuple):
    """A case still open at a moment (handed on to the next shift)."""

    number: str
    title: str
    stage: str
    severity: int
    deadline: str | None


def open_at(db: Database, at: datetime, *, limit: int = 200) -> tuple[int, list[OpenRow]]:
    """How many cases were open at ``at`` (reported by then, not finished by then), and the
    first ``limit`` of them, most severe then oldest first.

    ``stage`` and ``deadline`` are the case's current ones (the timeline is not replayed).
    """
    where = "reported_at <= :at AND (closed_at IS NULL OR closed_at > :at) AND stage != 'merged'"
    params = {"at": to_iso(at), "limit": max(0, limit)}
    total = int(
        db.conn.execute(f"SELECT count(*) FROM incidents WHERE {where}", params).fetchone()[0]
    )
    rows = db.conn.execute(
        f"SELECT number, title, stage, severity, deadline FROM incidents WHERE {where}"
        " ORDER BY severity, reported_at, id LIMIT :limit",
        params,
    ).fetchall()
    return total, [OpenRow(*r) for r in rows]
