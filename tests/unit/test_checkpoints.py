"""Signed checkpoints of the audit chain: a history rewritten, wiped or cut back is detected.

The chain's hashes are unkeyed, so each attack here first shows that the chain alone still
verifies (what happened before checkpoints existed), then that the signed checkpoints, the head
file beside the database, or a witness kept elsewhere catch it.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from store.audit import (
    GENESIS,
    Checkpoint,
    append_event,
    checkpoint,
    checkpoints,
    head,
    head_file_for,
    latest_checkpoint,
    parse_head,
    read_head_file,
    row_hash,
    sign_head,
    verify_chain,
    verify_history,
)
from store.db import connect, write
from store.errors import AuditBroken, InvalidInput
from store.keys import Key, KeyRing

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
COLUMNS = "id, at, operator, incident_id, kind, stage_from, stage_to, data, prev_hash, hash"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "town.db"


@pytest.fixture
def filedb(path: Path) -> Iterator[Database]:
    database = connect(path)
    yield database
    database.close()


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing.ephemeral()


def add(db: Database, n: int, operator: str = "王伟") -> None:
    with write(db):
        for i in range(n):
            append_event(db, at=f"2026-11-26T02:{i:02d}:00Z", operator=operator, kind="note")


def rewrite_and_recompute(db: Database, event_id: int) -> None:
    """What someone with write access but no key does: edit a row, re-hash everything after."""
    db.conn.execute("UPDATE events SET operator = 'mallory' WHERE id = ?", (event_id,))
    rows = db.conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY id").fetchall()
    prev = GENESIS
    for eid, at, operator, incident_id, kind, stage_from, stage_to, data, _p, _h in rows:
        digest = row_hash(prev, eid, at, operator, incident_id, kind, stage_from, stage_to, data)
        db.conn.execute(
            "UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, eid)
        )
        prev = digest
    db.conn.execute("UPDATE audit_head SET last_hash = ? WHERE id = 1", (prev,))


def test_a_checkpoint_signs_the_head_and_writes_the_head_file(
    filedb: Database, path: Path, keys: KeyRing
) -> None:
    add(filedb, 4)
    point = checkpoint(filedb, keys, NOW)
    assert point is not None
    assert (point.last_id, point.last_hash, point.count) == (4, head(filedb)[1], 4)
    assert point.kid == keys.current.kid
    assert latest_checkpoint(filedb) == point
    head_file = head_file_for(path)
    assert head_file == path.with_name("town.audit-head")
    assert read_head_file(head_file) == point
    assert stat.S_IMODE(head_file.stat().st_mode) == 0o600
    report = verify_history(filedb, keys)
    assert (report.ok, report.checked, report.checkpoints, report.notes) == (True, 4, 1, ())


def test_a_checkpoint_is_written_only_when_the_head_moved(filedb: Database, keys: KeyRing) -> None:
    add(filedb, 2)
    assert checkpoint(filedb, keys, NOW) is not None
    assert checkpoint(filedb, keys, NOW + timedelta(seconds=30)) is None
    add(filedb, 1)
    moved = checkpoint(filedb, keys, NOW + timedelta(seconds=60))
    assert moved is not None and moved.last_id == 3
    assert len(checkpoints(filedb)) == 2


def test_rewrite_and_recompute_is_detected(filedb: Database, keys: KeyRing) -> None:
    add(filedb, 6)
    checkpoint(filedb, keys, NOW)
    add(filedb, 4)
    checkpoint(filedb, keys, NOW + timedelta(minutes=1))
    rewrite_and_recompute(filedb, 8)
    assert verify_chain(filedb).ok  # the unkeyed chain alone: "intact" (the old weakness)
    report = verify_history(filedb, keys)
    assert not report.ok
    assert report.bad_id == 10  # the first signed head that no longer holds
    assert "rewritten" in (report.problem or "")
    assert "entry 6, signed earlier, still holds" in (report.problem or "")


def test_checkpoint_refuses_to_sign_over_a_rewrite(
    filedb: Database, path: Path, keys: KeyRing
) -> None:
    add(filedb, 5)
    first = checkpoint(filedb, keys, NOW)
    rewrite_and_recompute(filedb, 2)
    add(filedb, 1)
    with pytest.raises(AuditBroken, match="rewritten"):
        checkpoint(filedb, keys, NOW + timedelta(minutes=1))
    assert checkpoints(filedb) == [(1, first)]
    assert read_head_file(head_file_for(path)) == first


def test_a_wipe_is_detected(filedb: Database, keys: KeyRing) -> None:
    add(filedb, 7)
    checkpoint(filedb, keys, NOW)
    for table in ("events", "audit_head", "audit_checkpoints"):
        filedb.conn.execute(f"DELETE FROM {table}")
    before = verify_chain(filedb)
    assert (before.ok, before.checked) == (True, 0)  # "intact: 0 entries" (the old weakness)
    report = verify_history(filedb, keys)
    assert not report.ok
    assert "had 7 entries" in (report.problem or "")
    assert "now has 0" in (report.problem or "")


def test_a_truncation_back_to_an_old_signed_head_is_detected_by_the_head_file(
    filedb: Database, path: Path, keys: KeyRing
) -> None:
    add(filedb, 5)
    old = checkpoint(filedb, keys, NOW)
    assert old is not None
    add(filedb, 5)
    checkpoint(filedb, keys, NOW + timedelta(minutes=1))
    # Cut back to the old head, which is validly signed, and drop the newer checkpoint.
    filedb.conn.execute("DELETE FROM events WHERE id > 5")
    filedb.conn.execute("UPDATE audit_head SET last_id = 5, last_hash = ?", (old.last_hash,))
    filedb.conn.execute("DELETE FROM audit_checkpoints WHERE last_id > 5")
    assert verify_history(filedb, keys, check_head_file=False).ok  # the database agrees
    report = verify_history(filedb, keys)
    assert not report.ok
    assert "had 10 entries" in (report.problem or "") and "now has 5" in (report.problem or "")
    add(filedb, 1)
    with pytest.raises(AuditBroken, match="had 10 entries"):  # and nothing signs over it
        checkpoint(filedb, keys, NOW + timedelta(minutes=2))


def test_a_forged_checkpoint_or_head_file_is_refused(
    filedb: Database, path: Path, keys: KeyRing
) -> None:
    add(filedb, 3)
    point = checkpoint(filedb, keys, NOW)
    assert point is not None
    head_file = head_file_for(path)
    forged = {**point.to_json(), "count": 2, "last_id": 2, "last_hash": head_hash(filedb, 2)}
    head_file.write_text(json.dumps(forged), encoding="utf-8")
    report = verify_history(filedb, keys)
    assert not report.ok and "head file" in (report.problem or "")
    assert "not validly signed" in (report.problem or "")
    head_file.write_text(json.dumps(point.to_json()), encoding="utf-8")
    filedb.conn.execute("UPDATE audit_checkpoints SET mac = ?", ("0" * 64,))
    report = verify_history(filedb, keys)
    assert not report.ok and "checkpoint 1" in (report.problem or "")


def head_hash(db: Database, event_id: int) -> str:
    return str(db.conn.execute("SELECT hash FROM events WHERE id = ?", (event_id,)).fetchone()[0])


def test_a_witness_proves_the_history_even_against_the_key(
    filedb: Database, path: Path, keys: KeyRing
) -> None:
    """Someone holding the key rewrites, re-signs everything: only the county's copy catches it."""
    add(filedb, 4)
    witnessed = checkpoint(filedb, keys, NOW)
    assert witnessed is not None
    assert verify_history(filedb, keys, witness=witnessed).ok
    rewrite_and_recompute(filedb, 3)
    filedb.conn.execute("DELETE FROM audit_checkpoints")
    head_file_for(path).unlink()
    checkpoint(filedb, keys, NOW + timedelta(minutes=1))  # re-signed with the real key
    assert verify_history(filedb, keys).ok
    report = verify_history(filedb, keys, witness=witnessed)
    assert not report.ok and report.bad_id == 4
    assert "the witness" in (report.problem or "")


def test_older_keys_keep_verifying_and_unknown_keys_are_noted(filedb: Database) -> None:
    old = Key("k1", NOW - timedelta(days=9), b"\x01" * 32)
    new = Key("k2", NOW, b"\x02" * 32)
    add(filedb, 2)
    checkpoint(filedb, KeyRing((old,)), NOW)
    add(filedb, 2)
    checkpoint(filedb, KeyRing((old, new)), NOW + timedelta(minutes=1))
    rotated = verify_history(filedb, KeyRing((old, new)))
    assert (rotated.ok, rotated.checkpoints, rotated.unsigned) == (True, 2, 0)
    lost = verify_history(filedb, KeyRing((new,)))
    assert (lost.ok, lost.checkpoints, lost.unsigned) == (True, 1, 1)
    assert "not in the key file" in lost.notes[0]
    none = verify_history(filedb, None)
    assert none.ok and none.unsigned == 2 and "no key file" in none.notes[0]
    wrong = verify_history(filedb, KeyRing((Key("k1", NOW, b"\x09" * 32),)))
    assert not wrong.ok and "not validly signed" in (wrong.problem or "")


def test_a_missing_head_file_is_a_note_and_is_written_again(
    filedb: Database, path: Path, keys: KeyRing
) -> None:
    add(filedb, 2)
    point = checkpoint(filedb, keys, NOW)
    head_file_for(path).unlink()
    report = verify_history(filedb, keys)
    assert report.ok and "is missing" in report.notes[0]
    assert checkpoint(filedb, keys, NOW) is None
    assert read_head_file(head_file_for(path)) == point


def test_an_in_memory_database_checkpoints_without_a_file(db: Database, keys: KeyRing) -> None:
    add(db, 1)
    assert checkpoint(db, keys, NOW) is not None
    assert verify_history(db, keys).ok


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"last_id": 10**30, "last_hash": "a" * 64}, "last_id"),
        ({"last_id": -1, "last_hash": "a" * 64}, "last_id"),
        ({"last_id": True, "last_hash": "a" * 64}, "last_id"),
        ({"last_id": 3, "last_hash": "xyz"}, "last_hash"),
        ({"last_id": 0, "last_hash": "a" * 64}, "last_hash"),
        ({"last_hash": "a" * 64}, "last_id"),
    ],
)
def test_a_malformed_head_is_refused_naming_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_head(data, signed=False)
    assert caught.value.field == field


def test_a_witness_needs_only_id_and_hash_but_a_head_file_is_signed() -> None:
    bare = parse_head({"last_id": 3, "last_hash": "a" * 64}, signed=False)
    assert bare == Checkpoint("", 3, "a" * 64, 3, "", "")
    with pytest.raises(InvalidInput):
        parse_head({"last_id": 3, "last_hash": "a" * 64})
    signed = sign_head(KeyRing.ephemeral(), "2026-11-26T02:00:00Z", 3, "a" * 64, 3)
    assert parse_head(signed.to_json()) == signed
