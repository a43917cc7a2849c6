"""Provides the hash-chained timeline/audit log that every state change appends to, and the
signed checkpoints that make a rewrite of it detectable.

Each row of ``events`` stores the hash of the row before it and its own hash over its content,
and ``audit_head`` stores the last id and hash. A row edited, inserted or deleted behind the
application's back breaks the chain at that row, and :func:`verify_chain` names the first one.
Appending must happen inside :func:`store.db.write`, in the same transaction as the state change
it records.

The hashes alone are unkeyed: whoever can write the file can rewrite rows and recompute every
hash after them, or delete everything. So :func:`checkpoint` (run by the engine every sweep, by
``backup`` and by a successful ``audit verify``) signs the head — "entry N has hash H; there are
N entries" — with the audit key derived from the key file (:mod:`store.keys`, outside the
database), and keeps the signed head in two places: the ``audit_checkpoints`` table and a small
file beside the database, ``<db stem>.audit-head`` (0600), so wiping the tables still leaves a
record of how long the history was. :func:`verify_history` checks the chain, every checkpoint's
signature and that the chain still holds what each one signed, the head file, and optionally a
*witness*: a signed head kept by someone else (the county, through the uplink), which proves a
township's history even against someone who holds the township's key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from store.clock import to_iso
from store.db import database_file, has_table, write
from store.errors import AuditBroken, InvalidInput
from store.i18n import _
from store.keys import KeyRing
from store.paths import write_private

GENESIS = "0" * 64
MAX_ID = 2**63 - 1  # SQLite's largest integer


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


PERSONAL_DATA_SHOWN = "personal_data_shown"
MAX_NAMED = 100  # records an entry names one by one; beyond, only how many


def record_personal_data_shown(
    db: Database,
    *,
    at: str,
    operator: str,
    command: str,
    what: str,
    count: int,
    cases: Iterable[str] = (),
    incident_id: int | None = None,
) -> int:
    """Audit that personal data was shown or exported unmasked (``personal_data_shown``).

    One entry per read, whatever it showed: the operator (the entry's), the command, what kind
    of data, how many records, and the first :data:`MAX_NAMED` cases by number, so a long
    listing cannot bloat the permanent log. Its own transaction; returns the entry's id.
    """
    data: dict[str, Any] = {"command": command, "what": what, "count": count}
    named = list(cases)[:MAX_NAMED]
    if named:
        data["cases"] = named
    with write(db):
        return append_event(
            db,
            at=at,
            operator=operator,
            kind=PERSONAL_DATA_SHOWN,
            incident_id=incident_id,
            data=data,
        )


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


def _walk(
    db: Database, after_id: int, after_hash: str, upto: int | None
) -> tuple[ChainReport, str]:
    """Check the entries after ``after_id`` (whose hash is ``after_hash``) up to ``upto``.

    Returns:
        The report (``checked`` counts every entry up to the last good one, from entry 1) and
        the hash of the last entry that verified.
    """
    expected_prev = after_hash
    expected_id = after_id + 1
    checked = after_id
    cursor = db.conn.execute(
        "SELECT id, at, operator, incident_id, kind, stage_from, stage_to, data, prev_hash, hash"
        " FROM events WHERE id > ? AND id <= ? ORDER BY id",
        (after_id, MAX_ID if upto is None else upto),
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
                ), expected_prev
            return ChainReport(
                False,
                checked,
                event_id,
                _("entry {entry} is out of order").format(entry=event_id),
            ), expected_prev
        if prev != expected_prev:
            return ChainReport(
                False,
                checked,
                event_id,
                _(
                    "entry {entry} does not follow entry {previous} (previous hash differs:"
                    " an entry was deleted or inserted before it)"
                ).format(entry=event_id, previous=event_id - 1),
            ), expected_prev
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
            ), expected_prev
        expected_prev = digest
        expected_id += 1
        checked += 1
    return ChainReport(True, checked), expected_prev


def verify_chain(db: Database) -> ChainReport:
    """Walk the whole chain in id order and report the first entry that does not verify."""
    report, expected_prev = _walk(db, 0, GENESIS, None)
    if not report.ok:
        return report
    checked = report.checked
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


# --- signed checkpoints ------------------------------------------------------------------------

AUDIT_PURPOSE = "audit"  # the key derived from the key file for checkpoints (never for links)
HEAD_FILE_SUFFIX = ".audit-head"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Checkpoint:
    """A signed head of the chain: at ``at`` it had ``count`` entries, the last ``last_id``
    with hash ``last_hash``; ``mac`` signs all of that with the audit key of key ``kid``.

    The same object is a row of ``audit_checkpoints``, the content of the head file beside the
    database, what ``audit head --json`` prints, and a witness given to ``audit verify``.
    """

    at: str
    last_id: int
    last_hash: str
    count: int
    kid: str
    mac: str

    def to_json(self) -> dict[str, Any]:
        return {
            "last_id": self.last_id,
            "last_hash": self.last_hash,
            "count": self.count,
            "at": self.at,
            "kid": self.kid,
            "mac": self.mac,
        }


def _mac(secret: bytes, at: str, last_id: int, last_hash: str, count: int, kid: str) -> str:
    message = "\x1f".join(("dutydesk-audit/1", at, str(last_id), last_hash, str(count), kid))
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_head(keys: KeyRing, at: str, last_id: int, last_hash: str, count: int) -> Checkpoint:
    """A checkpoint of the given head, signed with the ring's current key."""
    key = keys.current
    mac = _mac(key.derive(AUDIT_PURPOSE), at, last_id, last_hash, count, key.kid)
    return Checkpoint(at, last_id, last_hash, count, key.kid, mac)


def signature_valid(point: Checkpoint, keys: KeyRing | None) -> bool | None:
    """Whether ``point`` was signed by its key; ``None`` when that key is not at hand."""
    key = None if keys is None else keys.get(point.kid)
    if key is None:
        return None
    expected = _mac(
        key.derive(AUDIT_PURPOSE), point.at, point.last_id, point.last_hash, point.count, key.kid
    )
    return hmac.compare_digest(expected, point.mac)


def parse_head(data: Any, *, signed: bool = True) -> Checkpoint:
    """A checkpoint from its JSON form (a head file, a witness).

    Args:
        data: the decoded JSON.
        signed: require ``at``, ``count``, ``kid`` and ``mac``; a witness may carry only
            ``last_id`` and ``last_hash``.

    Raises:
        InvalidInput: a field is missing or not what it should be (names the field).
    """
    if not isinstance(data, dict):
        raise InvalidInput(_("not a JSON object"))

    def number(name: str, default: int | None = None) -> int:
        value = data.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
            raise InvalidInput(_("must be a whole number from 0 to 2^63-1"), name)
        return value

    def text(name: str, pattern: re.Pattern[str] | None, default: str | None = None) -> str:
        value = data.get(name, default)
        if not isinstance(value, str) or len(value) > 64:
            raise InvalidInput(_("must be a string of at most 64 characters"), name)
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidInput(_("is not in the expected form"), name)
        return value

    last_id = number("last_id")
    last_hash = text("last_hash", _HEX64)
    if last_id == 0 and last_hash != GENESIS:
        raise InvalidInput(_("an empty chain's hash is 64 zeros"), "last_hash")
    if signed:
        return Checkpoint(
            text("at", None),
            last_id,
            last_hash,
            number("count"),
            text("kid", _KID),
            text("mac", _HEX64),
        )
    return Checkpoint(
        text("at", None, ""),
        last_id,
        last_hash,
        number("count", last_id),
        text("kid", None, ""),
        text("mac", None, ""),
    )


def read_head_file(path: Path, *, signed: bool = True) -> Checkpoint:
    """The checkpoint in the JSON file at ``path`` (a head file, or a witness).

    Raises:
        InvalidInput: the file cannot be read or is not a checkpoint (one line, exit 2).
    """
    try:
        raw = path.read_bytes()
        if len(raw) > 4096:
            raise ValueError(_("larger than 4 KB"))
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise InvalidInput(
            _("{path}: not a signed audit head: {error}").format(path=path, error=exc)
        ) from exc
    try:
        return parse_head(data, signed=signed)
    except InvalidInput as exc:
        raise InvalidInput(
            _("{path}: not a signed audit head: {error}").format(path=path, error=exc)
        ) from exc


def head_file_for(db_path: Path) -> Path:
    """The head file of the database at ``db_path``: beside it, ``<stem>.audit-head``."""
    return db_path.with_name(db_path.stem + HEAD_FILE_SUFFIX)


def write_head_file(path: Path, point: Checkpoint) -> None:
    """Write the head file whole, 0600, fsynced (see :func:`store.paths.write_private`)."""
    text = json.dumps(point.to_json(), sort_keys=True, indent=1) + "\n"
    write_private(path, text.encode("utf-8"))


def _auto_head_file(db: Database) -> Path | None:
    path = database_file(db)
    return None if path is None else head_file_for(path)


def hash_at(db: Database, event_id: int) -> str | None:
    """The stored hash of entry ``event_id`` (:data:`GENESIS` for 0), or ``None`` if absent."""
    if event_id == 0:
        return GENESIS
    row = db.conn.execute("SELECT hash FROM events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else str(row[0])


_COLUMNS = "at, last_id, last_hash, count, kid, mac"


def checkpoints(db: Database) -> list[tuple[int, Checkpoint]]:
    """Every stored checkpoint with its row id, oldest first (none on an older schema)."""
    if not has_table(db, "audit_checkpoints"):
        return []
    rows = db.conn.execute(f"SELECT id, {_COLUMNS} FROM audit_checkpoints ORDER BY id").fetchall()
    return [(int(r[0]), Checkpoint(r[1], int(r[2]), r[3], int(r[4]), r[5], r[6])) for r in rows]


def latest_checkpoint(db: Database) -> Checkpoint | None:
    """The newest stored checkpoint, or ``None``."""
    if not has_table(db, "audit_checkpoints"):
        return None
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else Checkpoint(row[0], int(row[1]), row[2], int(row[3]), *row[4:])


def latest_checkpoint_row(db: Database) -> tuple[int, Checkpoint] | None:
    """The newest stored checkpoint with its row id (what the uplink follows), or ``None``."""
    if not has_table(db, "audit_checkpoints"):
        return None
    row = db.conn.execute(
        f"SELECT id, {_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return int(row[0]), Checkpoint(row[1], int(row[2]), row[3], int(row[4]), row[5], row[6])


def _holds(db: Database, length: int, point: Checkpoint, source: str) -> tuple[int, str] | None:
    """Why the chain (``length`` entries) no longer holds ``point``: ``(entry, problem)``."""
    if point.last_id > length or point.count > length:
        return min(point.last_id, length + 1), _(
            "the database had {count} entries at {source} ({at}); it now has {now}: entries"
            " were deleted, or the database was replaced by an older copy"
        ).format(count=point.count, source=source, at=point.at or "?", now=length)
    if hash_at(db, point.last_id) != point.last_hash:
        return point.last_id, _(
            "entry {entry} is not the one recorded at {source} ({at}): the history up to it"
            " was rewritten"
        ).format(entry=point.last_id, source=source, at=point.at or "?")
    return None


def _checkpoint_name(row_id: int) -> str:
    return _("checkpoint {number}").format(number=row_id)


def checkpoint(
    db: Database, keys: KeyRing, now: datetime, head_file: Path | None = None
) -> Checkpoint | None:
    """Sign the chain's current head, if it moved since the last checkpoint.

    Before signing, it checks what is cheap to check: the last checkpoint (its signature, and
    that the chain still holds it), the head file, and every entry after the last checkpoint.
    So a rewrite is never signed over; the whole chain is walked by :func:`verify_history`.
    The row and the head file are written under the database's write lock, so two processes
    never leave an older head in the file.

    Args:
        db: the database (read-write).
        keys: the key ring; the current key signs.
        now: the checkpoint's time.
        head_file: the head file; by default ``<db stem>.audit-head`` beside the database file
            (none for an in-memory database).

    Returns:
        The new checkpoint, or ``None`` when the head has not moved.

    Raises:
        AuditBroken: the chain no longer matches the last checkpoint or the head file, or an
            entry after the last checkpoint does not verify; nothing is signed.
    """
    path = _auto_head_file(db) if head_file is None else head_file
    target_id, target_hash = head(db)
    last = latest_checkpoint(db)
    if last is not None and (last.last_id, last.last_hash) == (target_id, target_hash):
        if path is not None and not path.exists():
            write_head_file(path, last)
        return None
    base_id, base_hash = 0, GENESIS
    if last is not None:
        _refuse_if_broken(db, target_id, last, keys, _("the last checkpoint"))
        base_id, base_hash = last.last_id, last.last_hash
    if path is not None and path.exists():
        try:
            recorded = read_head_file(path)
        except InvalidInput as exc:
            raise AuditBroken(
                _("the audit head file is damaged ({error}); nothing was signed").format(error=exc)
            ) from exc
        _refuse_if_broken(db, target_id, recorded, keys, _("the audit head file"))
        if recorded.last_id > base_id:
            base_id, base_hash = recorded.last_id, recorded.last_hash
    report, last_hash = _walk(db, base_id, base_hash, target_id)
    if not report.ok or report.checked != target_id or last_hash != target_hash:
        problem = report.problem or _("the recorded head does not match the chain")
        raise AuditBroken(
            _("audit chain broken at entry {entry}: {problem}; nothing was signed").format(
                entry=report.bad_id or target_id, problem=problem
            )
        )
    point = sign_head(keys, to_iso(now), target_id, target_hash, target_id)
    with write(db):
        newest = latest_checkpoint(db)
        if newest is not None and newest != last and newest.last_id >= target_id:
            return None  # another process signed this head, or a later one, meanwhile
        if hash_at(db, target_id) != target_hash:
            raise AuditBroken(
                _("entry {entry} changed while it was being signed; nothing was signed").format(
                    entry=target_id
                )
            )
        db.conn.execute(
            f"INSERT INTO audit_checkpoints ({_COLUMNS}) VALUES (?,?,?,?,?,?)",
            (point.at, point.last_id, point.last_hash, point.count, point.kid, point.mac),
        )
        if path is not None:
            write_head_file(path, point)
    return point


def _refuse_if_broken(
    db: Database, length: int, point: Checkpoint, keys: KeyRing, source: str
) -> None:
    if signature_valid(point, keys) is False:
        raise AuditBroken(
            _("{source} ({at}) is not validly signed: it was forged or altered").format(
                source=source, at=point.at
            )
        )
    broken = _holds(db, length, point, source)
    if broken is not None:
        raise AuditBroken(
            _("audit chain broken at entry {entry}: {problem}").format(
                entry=broken[0], problem=broken[1]
            )
        )


@dataclass(frozen=True)
class HistoryReport:
    """Result of :func:`verify_history`.

    ``ok``/``checked``/``bad_id``/``problem`` as in :class:`ChainReport`; ``checkpoints``
    checked with their signature, ``unsigned`` checked without (their key is not at hand);
    ``last`` the newest checkpoint, ``head_file`` what the head file holds; ``notes`` what
    deserves a look without being a break (a missing head file, signatures not checked).
    """

    ok: bool
    checked: int
    bad_id: int | None = None
    problem: str | None = None
    checkpoints: int = 0
    unsigned: int = 0
    last: Checkpoint | None = None
    head_file: Checkpoint | None = None
    witness: Checkpoint | None = None
    notes: tuple[str, ...] = ()


def verify_history(
    db: Database,
    keys: KeyRing | None,
    *,
    head_file: Path | None = None,
    witness: Checkpoint | None = None,
    check_head_file: bool = True,
) -> HistoryReport:
    """Verify the whole history: the chain, every checkpoint, the head file, a witness.

    Args:
        db: the database (read-only is enough).
        keys: the key ring, or ``None`` when the key file is not at hand (the checkpoints are
            then compared with the chain, but their signatures are not checked: a note says so).
        head_file: the head file; by default the one beside the database file.
        witness: a signed head kept elsewhere (``audit head --json`` of an earlier day); the
            chain must still hold it.
        check_head_file: ``False`` for a copy being made, which has no head file yet.
    """
    chain = verify_chain(db)
    notes: list[str] = []
    stored = checkpoints(db)
    last = stored[-1][1] if stored else None
    if not chain.ok:
        return HistoryReport(False, chain.checked, chain.bad_id, chain.problem, last=last)
    length = chain.checked
    signed = unsigned = 0
    held = 0

    def broken(entry: int, problem: str, **extra: Any) -> HistoryReport:
        return HistoryReport(
            False,
            length,
            entry,
            problem,
            checkpoints=signed,
            unsigned=unsigned,
            last=last,
            **extra,
        )

    for row_id, point in stored:
        name = _checkpoint_name(row_id)
        validity = signature_valid(point, keys)
        if validity is False:
            return broken(
                point.last_id,
                _("{source} ({at}) is not validly signed: it was forged or altered").format(
                    source=name, at=point.at
                ),
            )
        found = _holds(db, length, point, name)
        if found is not None:
            entry, problem = found
            if held:
                problem += " " + _("(entry {entry}, signed earlier, still holds)").format(
                    entry=held
                )
            return broken(entry, problem)
        held = max(held, point.last_id)
        if validity:
            signed += 1
        else:
            unsigned += 1
    if unsigned:
        notes.append(
            _(
                "{count} checkpoints were signed with keys that are not in the key file: their"
                " signatures were not checked"
            ).format(count=unsigned)
            if keys is not None
            else _("no key file: the signatures of {count} checkpoints were not checked").format(
                count=unsigned
            )
        )
    path = _auto_head_file(db) if head_file is None else head_file
    if not check_head_file:
        path = None
    recorded: Checkpoint | None = None
    if path is not None and path.exists():
        try:
            recorded = read_head_file(path)
        except InvalidInput as exc:
            return broken(length, _("the audit head file is damaged: {error}").format(error=exc))
        source = _("the audit head file")
        validity = signature_valid(recorded, keys)
        if validity is False:
            return broken(
                recorded.last_id,
                _("{source} ({at}) is not validly signed: it was forged or altered").format(
                    source=source, at=recorded.at
                ),
            )
        if validity is None:
            notes.append(_("the audit head file's signature was not checked (no key)"))
        found = _holds(db, length, recorded, source)
        if found is not None:
            return broken(*found)
    elif path is not None and (stored or length):
        notes.append(
            _(
                "the audit head file {path} is missing: a wipe of the database could not be"
                " told from a new one (it is written again at the next checkpoint)"
            ).format(path=path)
        )
    if witness is not None:
        source = _("the witness")
        if witness.mac and signature_valid(witness, keys) is False:
            return broken(
                witness.last_id,
                _("the witness is not signed by this installation's key {kid}").format(
                    kid=witness.kid
                ),
                head_file=recorded,
                witness=witness,
            )
        found = _holds(db, length, witness, source)
        if found is not None:
            return broken(*found, head_file=recorded, witness=witness)
    return HistoryReport(
        True,
        length,
        checkpoints=signed,
        unsigned=unsigned,
        last=last,
        head_file=recorded,
        witness=witness,
        notes=tuple(notes),
    )
