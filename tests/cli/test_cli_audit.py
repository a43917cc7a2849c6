"""``audit verify``, ``audit head`` and ``backup`` from the command line, attacked and faulted.

Each test does what an intruder or a fault did on the old code (rewrite and re-hash, wipe,
verify a path that does not exist, a read-only mount, a damaged page, a missing directory)
and checks the one-line answer, the exit code, and what is left on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from store.audit import GENESIS, row_hash
from tests.unit.test_store import corrupt_a_page

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = "id, at, operator, incident_id, kind, stage_from, stage_to, data, prev_hash, hash"


def cases(run, n: int = 3) -> None:
    for i in range(n):
        result = run("incident", "new", "--title", f"路灯{i}不亮", "--category", "facilities")
        assert result.code == 0, result.err


def rewrite_and_recompute(path: Path, event_id: int) -> None:
    """Edit one entry and recompute every hash after it, as sqlite3 in a shell would."""
    conn = sqlite3.connect(path)
    conn.execute("UPDATE events SET operator = 'mallory' WHERE id = ?", (event_id,))
    prev = GENESIS
    for row in conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY id").fetchall():
        eid, at, operator, incident_id, kind, stage_from, stage_to, data = row[:8]
        digest = row_hash(prev, eid, at, operator, incident_id, kind, stage_from, stage_to, data)
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, eid))
        prev = digest
    conn.execute("UPDATE audit_head SET last_hash = ?", (prev,))
    conn.commit()
    conn.close()


def one_line(text: str) -> bool:
    return text.count("\n") == 1 and text.startswith("dutydesk: ") and "Traceback" not in text


def test_verify_on_a_missing_path_creates_nothing(run, tmp_path: Path) -> None:
    """Before: ``audit verify`` created (and migrated) an empty database and said "intact"."""
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run("audit", "verify")
    assert result.code == 2 and one_line(result.err)
    assert "does not exist" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no db, no -wal, no keys


def test_rewrite_and_recompute_is_detected(run) -> None:
    cases(run)
    assert run("audit", "head").code == 0  # the engine's sweep signs like this every 30 s
    rewrite_and_recompute(run.db, 2)
    result = run("audit", "verify")
    assert result.code == 1 and one_line(result.err)
    assert "rewritten" in result.err


def test_a_wipe_is_detected(run) -> None:
    """Before: ``DELETE FROM events; DELETE FROM audit_head`` verified as "intact: 0 entries"."""
    cases(run, 4)
    assert run("audit", "verify").code == 0  # a successful verify signs the head
    conn = sqlite3.connect(run.db)
    conn.executescript("DELETE FROM events; DELETE FROM audit_head; DELETE FROM audit_checkpoints;")
    conn.close()
    result = run("audit", "verify")
    assert result.code == 1 and one_line(result.err)
    assert "had 4 entries" in result.err and "now has 0" in result.err
    data = run("audit", "verify", "--json")
    assert data.code == 1 and data.json()["ok"] is False


def test_verify_signs_the_head_and_reports_checkpoints(run) -> None:
    cases(run, 2)
    first = run("audit", "verify", "--json").json()
    assert first["ok"] and first["checked"] == 2
    assert first["checkpoint_written"]["last_id"] == 2
    second = run("audit", "verify", "--json").json()
    assert second["checkpoint_written"] is None  # the head did not move
    assert second["checkpoints"] == 1 and second["head_file"] == first["checkpoint_written"]
    text = run("audit", "verify")
    assert "intact: 2 entries" in text.out and "1 hold, 1 with a valid signature" in text.out


def test_a_witness_is_checked(run, tmp_path: Path) -> None:
    cases(run, 3)
    head = run("audit", "head", "--json")
    assert head.code == 0
    witness = tmp_path / "county.json"
    witness.write_text(head.out, encoding="utf-8")
    assert head.json()["last_id"] == 3 and len(head.json()["mac"]) == 64
    ok = run("audit", "verify", "--witness", str(witness))
    assert ok.code == 0 and "entry 3 is in the chain as witnessed" in ok.out
    # Someone with the key rewrites, re-signs, and removes the signed traces: the county's
    # copy still tells.
    rewrite_and_recompute(run.db, 1)
    conn = sqlite3.connect(run.db)
    conn.execute("DELETE FROM audit_checkpoints")
    conn.commit()
    conn.close()
    run.db.with_name("cli.audit-head").unlink()
    assert run("audit", "verify").code == 0
    caught = run("audit", "verify", "--witness", str(witness))
    assert caught.code == 1 and one_line(caught.err) and "the witness" in caught.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "not a signed audit head"),
        ('{"last_id": 1e400, "last_hash": "00"}', "last_id"),
        ('{"last_id": 99999999999999999999999, "last_hash": "' + "a" * 64 + '"}', "last_id"),
        ('{"last_id": 1, "last_hash": "zz"}', "last_hash"),
        ("[" * 100_000, "not a signed audit head"),
    ],
)
def test_a_bad_witness_is_one_line_exit_2(run, tmp_path: Path, content: str, says: str) -> None:
    cases(run, 1)
    witness = tmp_path / "w.json"
    witness.write_text(content, encoding="utf-8")
    result = run("audit", "verify", "--witness", str(witness))
    assert result.code == 2 and one_line(result.err) and says in result.err


def test_a_witness_beyond_the_end_is_a_break(run, tmp_path: Path) -> None:
    cases(run, 1)
    witness = tmp_path / "w.json"
    witness.write_text(json.dumps({"last_id": 9, "last_hash": "a" * 64}), encoding="utf-8")
    result = run("audit", "verify", "--witness", str(witness))
    assert result.code == 1 and "now has 1" in result.err


def test_verify_on_a_read_only_mount(run, tmp_path: Path) -> None:
    """Before: opening migrated and set WAL, which fails on a read-only file system."""
    cases(run, 2)
    assert run("audit", "head").code == 0
    source = tmp_path / "ro-source"
    mount = tmp_path / "ro"
    source.mkdir()
    mount.mkdir()
    for name in ("cli.db", "cli.keys", "cli.audit-head"):
        shutil.copy2(tmp_path / name, source / name)
    script = (
        f"mount --bind {source} {mount} && mount -o remount,bind,ro {mount}"
        f" && touch {mount}/probe 2>/dev/null && exit 99;"
        f" exec {sys.executable} -m console.cli --db {mount}/cli.db --config {run.config}"
        " audit verify"
    )
    done = subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LANG": "C.UTF-8"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "audit chain intact: 2 entries verified" in done.stdout
    assert "1 with a valid signature" in done.stdout
    assert sorted(p.name for p in source.iterdir()) == ["cli.audit-head", "cli.db", "cli.keys"]


def test_backup_into_a_missing_directory_is_one_line_exit_2(run, tmp_path: Path) -> None:
    """Before: "unexpected error" exit 1 (or a directory made silently)."""
    cases(run, 1)
    result = run("backup", str(tmp_path / "nowhere" / "copy.db"))
    assert result.code == 2 and one_line(result.err) and "does not exist" in result.err
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("name", ["a-file/copy.db", "a-file/deeper/copy.db"])
def test_backup_to_an_impossible_path_is_one_line_exit_2(run, tmp_path: Path, name: str) -> None:
    cases(run, 1)
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    result = run("backup", str(tmp_path / name))
    assert result.code == 2 and one_line(result.err)


def test_backup_of_a_missing_database_creates_nothing(run, tmp_path: Path) -> None:
    result = run("backup", str(tmp_path / "copy.db"))
    assert result.code == 2 and "does not exist" in result.err
    assert not run.db.exists() and not (tmp_path / "copy.db").exists()


def test_backup_of_a_damaged_page_fails_loudly_and_leaves_nothing(run, tmp_path: Path) -> None:
    """Before: the damaged page was copied and ``backup`` said "backup written", exit 0."""
    cases(run, 30)
    corrupt_a_page(run.db)
    out = tmp_path / "out"
    out.mkdir()
    result = run("backup", str(out / "copy.db"))
    assert result.code == 1 and one_line(result.err)
    assert "integrity" in result.err and "No backup was written" in result.err
    assert list(out.iterdir()) == []


def test_a_good_backup_is_private_and_verifies(run, tmp_path: Path) -> None:
    cases(run, 3)
    out = tmp_path / "out"
    out.mkdir()
    result = run("backup", str(out / "copy.db"))
    assert result.code == 0, result.err
    assert "integrity ok, 3 audit entries verified" in result.out
    assert sorted(p.name for p in out.iterdir()) == ["copy.audit-head", "copy.db"]
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    checked = run(
        "--db", str(out / "copy.db"), "audit", "verify", "--keys", str(tmp_path / "cli.keys")
    )
    assert checked.code == 0 and "1 with a valid signature" in checked.out
    assert checked.err == ""
