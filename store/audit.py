"""Provides the hash-chained timeline/audit log that every state change appends to.

Each row of ``events`` stores the hash of the row before it and its own hash over its content,
and ``audit_head`` stores the last id and hash. A row edited, inserted or deleted behind the
application's back breaks the chain at that row, and :func:`verify_chain` names the first one.
Appending must happen inside :func:`store.db.write`, in the same transaction as the state change
it records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from store.i18n import _

GENESIS = "0" * 64


def canonical(data: dict[str, Any] | None) -> str:
    """The JSON form stored and hashed: sorted keys, no spaces, UTF-8 kept readable."""
    return json.dumps(data or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    prev_hash: str,
    event_id: int,
    at: str,
    operator: str,
    incident_id: int | None,
    kind: str,
    stage_from: str | None,
    stage_to: str | None,
    data_json: str,
) -> str:
    fields = [
        prev_hash,
        str(event_id),
        at,
        operator,
        "" if incident_id is None else str(incident_id),
        kind,
        stage_from or "",
        stage_to or "",
        data_json,
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def head(db: Database) -> tuple[int, str]:
    row = db.conn.execute("SELECT last_id, last_hash FROM audit_head WHERE id = 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def append_event(
    db: Database,
    *,
    at: str,
    operator: str,
    kind: str,
    incident_id: int | None = None,
    stage_from: str | None = None,
    stage_to: str | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append one entry to the chain; call inside a write transaction. Returns its id."""
    last_id, last_hash = head(db)
    event_id = last_id + 1
    data_json = canonical(data)
    digest = row_hash(
        last_hash, event_id, at, operator, incident_id, kind, stage_from, stage_to, data_json
    )
    db.conn.execute(
        "INSERT INTO events (id, at, operator, incident_id, kind, stage_from, stage_to, data,"
        " prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            event_id,
            at,
            operator,
            incident_id,
            kind,
            stage_from,
            stage_to,
            data_json,
            last_hash,
            digest,
        ),
    )
    db.conn.execute(
        "INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash",
        (event_id, digest),
    )
    return event_id


@dataclass(frozen=True)
class ChainedRow:
    """An event ready for bulk insertion, with its chain fields computed."""

    values: tuple[Any, ...]


def chain_rows(
    rows: Iterable[tuple[str, str, int | None, str, str | None, str | None, dict[str, Any]]],
    start: tuple[int, str],
) -> Iterator[tuple[Any, ...]]:
    """Compute ids and hashes for a stream of new events (bulk loads).

    Args:
        rows: ``(at, operator, incident_id, kind, stage_from, stage_to, data)`` tuples in order.
        start: the current head ``(last_id, last_hash)``.

    Yields:
        Tuples in the column order of ``events``; the caller must update ``audit_head`` with
        the last id and hash in the same transaction.
    """
    last_id, last_hash = start
    for at, operator, incident_id, kind, stage_from, stage_to, data in rows:
        last_id += 1
        data_json = canonical(data)
        digest = row_hash(
            last_hash, last_id, at, operator, incident_id, kind, stage_from, stage_to, data_json
        )
        yield (
            last_id,
            at,
            operator,
            incident_id,
            kind,
            stage_from,
            stage_to,
            data_json,
            last_hash,
            digest,
        )
        last_hash = digest


@dataclass(frozen=True)
class ChainReport:
    """Result of :func:`verify_chain`: ``ok``, the number of entries checked, the first problem."""

    ok: bool
    checked: int
    bad_id: int | None = None
    problem: str | None = None


def verify_chain(db: Database) -> ChainReport:
    """Walk the whole chain in id order and report the first entry that does not verify."""
    expected_prev = GENESIS
    expected_id = 1
    checked = 0
    cursor = db.conn.execute(
        "SELECT id, at, operator, incident_id, kind, stage_from, stage_to, data, prev_hash, hash"
        " FROM events ORDER BY id"
    )
    for row in cursor:
        event_id, at, operator, incident_id, kind, stage_from, stage_to, data, prev, digest = row
        if event_id != expected_id:
            if event_id > expected_id:
                return ChainReport(
                    False,
                    checked,
                    expected_id,
                    _("entry {missing} is missing (deleted); the chain jumps to {found}").format(
                        missing=expected_id, found=event_id
                    ),
                )
            return ChainReport(
                False,
                checked,
                event_id,
                _("entry {entry} is out of order").format(entry=event_id),
            )
        if prev != expected_prev:
            return ChainReport(
                False,
                checked,
                event_id,
                _(
                    "entry {entry} does not follow entry {previous} (previous hash differs:"
                    " an entry was deleted or inserted before it)"
                ).format(entry=event_id, previous=event_id - 1),
            )
        recomputed = row_hash(
            prev, event_id, at, operator, incident_id, kind, stage_from, stage_to, data
        )
        if recomputed != digest:
            return ChainReport(
                False,
                checked,
                event_id,
                _(
                    "entry {entry} ({kind} at {at}) was altered: its content does not match its"
                    " hash"
                ).format(entry=event_id, kind=kind, at=at),
            )
        expected_prev = digest
        expected_id += 1
        checked += 1
    last_id, last_hash = head(db)
    if checked != last_id or (checked and last_hash != expected_prev):
        # Rows missing at the end: the first missing one. Rows beyond the head: the first of
        # them. Same length but a different last hash: the last row is not the recorded one.
        if last_id > checked:
            bad_id = checked + 1
        elif last_id < checked:
            bad_id = last_id + 1
        else:
            bad_id = last_id
        return ChainReport(
            False,
            checked,
            bad_id,
            _(
                "the chain ends at entry {last} but the recorded head is entry {head}:"
                " entries at the end were deleted or appended outside dutydesk"
            ).format(last=checked, head=last_id),
        )
    return ChainReport(True, checked)


@dataclass(frozen=True)
class StoredEvent:
    """One entry of the chain as read back, without its chain fields."""

    id: int
    at: str
    operator: str
    incident_id: int | None
    kind: str
    stage_from: str | None
    stage_to: str | None
    data: dict[str, Any]


def events_after(db: Database, after_id: int, limit: int) -> list[StoredEvent]:
    """The entries with an id above ``after_id``, oldest first, at most ``limit`` of them.

    One range read on the primary key, however long the chain: what a watcher reads to learn
    what happened since it last looked.
    """
    rows = db.conn.execute(
        "SELECT id, at, operator, incident_id, kind, stage_from, stage_to, data FROM events"
        " WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    return [
        StoredEvent(
            id=int(event_id),
            at=at,
            operator=operator,
            incident_id=None if incident_id is None else int(incident_id),
            kind=kind,
            stage_from=stage_from,
            stage_to=stage_to,
            data=json.loads(data) if data else {},
        )
        for event_id, at, operator, incident_id, kind, stage_from, stage_to, data in rows
    ]
