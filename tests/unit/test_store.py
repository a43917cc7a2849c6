"""The store: migrations, refusal of newer schemas, connection pragmas, file modes, read-only
opening, the checked backup, the lease."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import Stage
from incidents.records import NewIncident, create_incident, get_incident, search_incidents
from store import lease
from store.audit import append_event, head_file_for, latest_checkpoint, verify_chain
from store.backup import BackupFailed, backup, last_backup
from store.clock import FixedClock
from store.db import (
    apply_migrations,
    connect,
    connect_readonly,
    data_version,
    database_file,
    schema_version,
    write,
)
from store.errors import (
    DatabaseBusy,
    DutydeskError,
    InvalidInput,
    NotFound,
    SchemaTooNew,
)
from store.health import lease_state, quick_check
from store.keys import KeyRing
from store.paths import default_config_path, default_db_path
from store.schema import SCHEMA_VERSION
from tests.conftest import OPERATOR

AT = "2025-06-01T08:00:00Z"


def tables(db: Database) -> set[str]:
    rows = db.conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    return {r[0] for r in rows}


def make_v1_database(path: Path) -> None:
    """A database as the first release wrote it: one case with a note, no search index."""
    db = connect(path, migrate=False)
    assert apply_migrations(db, upto=1) == 1
    assert schema_version(db) == 1
    assert "incident_fts" not in tables(db)
    with write(db):
        db.conn.execute("INSERT INTO counters (name, value) VALUES ('incident-2025', 1)")
        db.conn.execute(
            "INSERT INTO incidents (id, number, title, description, category, type, severity,"
            " urgency, stage, location, source, reported_at, stage_since, deadline, active,"
            " updated_at) VALUES (1, '2025-000001', '3号楼发生火灾', '浓烟', 'accident_disaster',"
            " 'fire', 3, 'normal', 'reported', '幸福小区', 'phone', ?, ?, ?, 1, ?)",
            (AT, AT, "2025-06-01T08:30:00Z", AT),
        )
        append_event(
            db,
            at=AT,
            operator="old-officer",
            kind="reported",
            incident_id=1,
            stage_to="reported",
            data={"title": "3号楼发生火灾"},
        )
        append_event(
            db, at=AT, operator="old-officer", kind="note", incident_id=1, data={"text": "液化气罐"}
        )
    db.close()


def test_a_version_1_database_is_upgraded_with_its_data(
    tmp_path: Path, clock: FixedClock, policy: Policy
) -> None:
    path = tmp_path / "old.db"
    make_v1_database(path)
    db = connect(path)
    try:
        assert schema_version(db) == SCHEMA_VERSION
        assert {"incident_fts", "engine_lease"} <= tables(db)
        case = get_incident(db, "2025-000001")
        assert (case.title, case.stage, case.location) == (
            "3号楼发生火灾",
            Stage.REPORTED,
            "幸福小区",
        )
        assert verify_chain(db).ok
        assert verify_chain(db).checked == 2
        # The search index was built for the old case, notes included.
        for text in ("火灾", "浓烟", "幸福", "液化气"):
            assert [h.incident.id for h in search_incidents(db, text)] == [1], text
        # ... and kept in step from now on.
        wf.register(db, clock, policy, OPERATOR, 1)
        wf.add_note(db, clock, OPERATOR, 1, "消防车到场")
        assert [h.incident.id for h in search_incidents(db, "消防车")] == [1]
        new = create_incident(db, clock, policy, OPERATOR, NewIncident("路灯不亮", "facilities"))
        assert new.number == "2026-000001"
        assert verify_chain(db).ok
    finally:
        db.close()
    # Opening an up-to-date database again changes nothing.
    again = connect(path)
    assert schema_version(again) == SCHEMA_VERSION
    assert get_incident(again, 1).stage is Stage.REGISTERED
    again.close()


def test_a_newer_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future_things (x)")
    conn.execute("INSERT INTO future_things VALUES (42)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew) as refused:
        connect(path)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(refused.value)
    assert "untouched" in str(refused.value)
    assert refused.value.exit_code == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["future.db"]  # no -wal, no -shm
    with pytest.raises(SchemaTooNew):
        connect(path, migrate=False)
    assert path.read_bytes() == before


def test_apply_migrations_refuses_a_newer_schema(db: Database) -> None:
    db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    with pytest.raises(SchemaTooNew):
        apply_migrations(db)
    assert schema_version(db) == SCHEMA_VERSION + 3
    assert not db.conn.in_transaction


def test_a_failed_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "half.db"
    db = connect(path, migrate=False)
    apply_migrations(db, upto=1)
    db.conn.execute("CREATE TABLE engine_lease (x)")  # makes migration 2 fail half-way
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(db)
    assert schema_version(db) == 1
    assert "incident_fts" not in tables(db)
    db.close()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(DutydeskError, match="cannot open database"):
        connect(path)


def test_file_database_pragmas(tmp_path: Path) -> None:
    db = connect(tmp_path / "pragmas.db")
    try:
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    finally:
        db.close()
    bulk = connect(tmp_path / "pragmas.db", synchronous="NORMAL", busy_timeout=0.5)
    try:
        assert bulk.conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert bulk.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 500
        assert bulk.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        bulk.close()


def test_foreign_keys_are_enforced(db: Database) -> None:
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute(
            "INSERT INTO tasks (incident_id, title, created_at) VALUES (999, 't', ?)", (AT,)
        )


def test_the_database_file_goes_where_asked(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "duty.db"
    connect(path).close()
    assert path.exists()


def test_default_paths_stay_inside_the_test_directory(tmp_path: Path) -> None:
    assert default_db_path().is_relative_to(tmp_path)
    assert default_config_path().is_relative_to(tmp_path)


def test_write_commits_together_or_not_at_all(db: Database) -> None:
    with pytest.raises(RuntimeError), write(db):
        db.conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
        with write(db):  # nested: a savepoint
            db.conn.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
        raise RuntimeError
    assert db.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    assert not db.conn.in_transaction
    with write(db):
        db.conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
        with pytest.raises(RuntimeError), write(db):
            db.conn.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
            raise RuntimeError
    assert [r[0] for r in db.conn.execute("SELECT key FROM meta")] == ["a"]


def test_data_version_sees_other_connections(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "shared.db"
    one, two = connect(path), connect(path)
    try:
        seen = data_version(one)
        create_incident(two, clock, Policy(), OPERATOR, NewIncident("路灯不亮", "facilities"))
        assert data_version(one) != seen
    finally:
        one.close()
        two.close()


def test_backup_during_an_open_read_transaction(
    tmp_path: Path, clock: FixedClock, policy: Policy
) -> None:
    path = tmp_path / "live.db"
    db = connect(path)
    reader = connect(path)
    try:
        first = create_incident(
            db, clock, policy, OPERATOR, NewIncident("3号楼火灾", "accident_disaster")
        )
        wf.add_note(db, clock, OPERATOR, first.id, "液化气罐")
        reader.conn.execute("BEGIN")
        assert reader.conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 1
        create_incident(db, clock, policy, OPERATOR, NewIncident("路灯不亮", "facilities"))
        (tmp_path / "copies").mkdir()
        result = backup(db, tmp_path / "copies" / "backup.db", keys=KeyRing.ephemeral(), now=NOW)
        target = result.path
        # The reader still sees its snapshot and is not disturbed.
        assert reader.conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 1
        reader.conn.execute("COMMIT")
    finally:
        reader.close()
        db.close()
    assert target == tmp_path / "copies" / "backup.db"
    copy = connect(target)
    try:
        assert copy.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert schema_version(copy) == SCHEMA_VERSION
        assert copy.conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 2
        report = verify_chain(copy)
        assert report.ok
        assert report.checked == 3
        assert [h.incident.id for h in search_incidents(copy, "液化气")] == [first.id]
    finally:
        copy.close()


def test_backup_never_overwrites(tmp_path: Path, db: Database) -> None:
    target = tmp_path / "exists.db"
    target.write_bytes(b"keep me")
    with pytest.raises(DutydeskError, match="already exists"):
        backup(db, target, keys=None, now=NOW)
    assert target.read_bytes() == b"keep me"


def make_town_file(path: Path, clock: FixedClock, cases: int = 30) -> None:
    db = connect(path)
    try:
        for i in range(cases):
            create_incident(
                db, clock, Policy(), OPERATOR, NewIncident(f"路灯{i}不亮", "facilities")
            )
    finally:
        db.close()


def corrupt_a_page(path: Path, table: str = "incidents") -> int:
    """Write garbage over a b-tree page of ``table`` (a deliberate disk fault); its number."""
    conn = sqlite3.connect(path)
    try:
        page = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno DESC LIMIT 1", (table,)
        ).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    with path.open("r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(bytes(range(256)) * (size // 256))
    return int(page)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_backup_of_a_damaged_database_fails_and_leaves_nothing(
    tmp_path: Path, clock: FixedClock
) -> None:
    """Before: the online backup copied the damaged page and reported success (exit 0)."""
    source = tmp_path / "damaged.db"
    make_town_file(source, clock)
    corrupt_a_page(source)
    out = tmp_path / "out"
    out.mkdir()
    db = connect(source)
    try:
        assert quick_check(db)  # the damage is there to be found
        with pytest.raises(BackupFailed, match="integrity check"):
            backup(db, out / "copy.db", keys=KeyRing.ephemeral(), now=NOW)
        assert last_backup(db) is None
    finally:
        db.close()
    assert leftovers(out) == []  # no copy, no temporary file, no head file


def test_a_backup_of_a_rewritten_history_fails_and_leaves_nothing(
    tmp_path: Path, clock: FixedClock
) -> None:
    source = tmp_path / "town.db"
    make_town_file(source, clock, cases=3)
    keys = KeyRing.ephemeral()
    db = connect(source)
    try:
        backup(db, tmp_path / "first.db", keys=keys, now=NOW)
        db.conn.execute("UPDATE events SET operator = 'mallory' WHERE id = 2")
        with pytest.raises(DutydeskError, match="altered") as caught:
            backup(db, tmp_path / "second.db", keys=keys, now=NOW)
        assert caught.value.exit_code == 1
    finally:
        db.close()
    assert not (tmp_path / "second.db").exists()
    assert not head_file_for(tmp_path / "second.db").exists()
    assert not [name for name in leftovers(tmp_path) if ".tmp" in name]


def test_a_backup_into_a_missing_directory_is_bad_input(tmp_path: Path, db: Database) -> None:
    with pytest.raises(InvalidInput, match="does not exist") as caught:
        backup(db, tmp_path / "nowhere" / "copy.db", keys=None, now=NOW)
    assert caught.value.exit_code == 2
    assert not (tmp_path / "nowhere").exists()


def test_a_good_backup_is_private_signed_and_recorded(tmp_path: Path, clock: FixedClock) -> None:
    source = tmp_path / "town.db"
    make_town_file(source, clock, cases=3)
    keys = KeyRing.ephemeral()
    db = connect(source)
    try:
        result = backup(db, tmp_path / "copy.db", keys=keys, now=NOW)
        assert last_backup(db) == ("2026-11-26T02:00:00Z", str((tmp_path / "copy.db").resolve()))
        signed = latest_checkpoint(db)
    finally:
        db.close()
    assert result.entries == 3 and result.head == signed and result.recorded
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    head_file = head_file_for(result.path)
    assert stat.S_IMODE(head_file.stat().st_mode) == 0o600
    assert not Path(f"{result.path}-wal").exists()  # one self-contained file
    copy = connect_readonly(result.path)
    try:
        assert latest_checkpoint(copy) == signed
    finally:
        copy.close()


# ---- file modes and read-only opening ---------------------------------------------------


def test_the_database_and_its_wal_and_shm_are_created_0600_in_a_0700_directory(
    tmp_path: Path, clock: FixedClock
) -> None:
    """Before: 0644 files (world-readable personal data), directories 0755."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "data" / "dutydesk" / "duty.db"
        db = connect(path)
        try:
            create_incident(db, clock, Policy(), OPERATOR, NewIncident("路灯不亮", "facilities"))
            wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
            assert wal.exists() and shm.exists()
            for file in (path, wal, shm):
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        finally:
            db.close()
    finally:
        os.umask(old)
    for directory in (path.parent, path.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_read_only_opening_never_creates_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "duty.db"
    with pytest.raises(NotFound, match="does not exist"):
        connect_readonly(missing)
    assert not (tmp_path / "absent").exists()


def test_read_only_opening_reads_and_refuses_writes(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "town.db"
    make_town_file(path, clock, cases=2)
    db = connect_readonly(path)
    try:
        assert db.conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 2
        assert database_file(db) == path.resolve()
        with pytest.raises(sqlite3.OperationalError):
            db.conn.execute("DELETE FROM incidents")
    finally:
        db.close()


def test_the_lease_as_the_doctor_sees_it(db: Database) -> None:
    assert lease_state(db, NOW) is None
    assert lease.acquire(db, "engine:h:1:a", NOW, TTL)
    live = lease_state(db, NOW)
    assert live is not None and (live.holder, live.stale) == ("engine:h:1:a", False)
    stale = lease_state(db, NOW + TTL * 2)
    assert stale is not None and stale.stale and stale.expires_at == "2026-11-26T02:00:30Z"


# ---- the engine lease --------------------------------------------------------------


NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def test_the_lease_is_held_by_one_holder(db: Database) -> None:
    assert lease.current_holder(db, NOW) is None
    assert lease.acquire(db, "console-1", NOW, TTL)
    assert lease.current_holder(db, NOW) == "console-1"
    assert not lease.acquire(db, "console-2", NOW + timedelta(seconds=10), TTL)
    assert lease.current_holder(db, NOW + timedelta(seconds=10)) == "console-1"


def test_the_holder_renews_its_lease(db: Database) -> None:
    assert lease.acquire(db, "console-1", NOW, TTL)
    assert lease.acquire(db, "console-1", NOW + timedelta(seconds=20), TTL)
    later = NOW + timedelta(seconds=40)  # past the first expiry, inside the renewed one
    assert lease.current_holder(db, later) == "console-1"
    assert not lease.acquire(db, "serve", later, TTL)


def test_an_expired_lease_is_taken_over(db: Database) -> None:
    assert lease.acquire(db, "console-1", NOW, TTL)
    expiry = NOW + TTL
    assert lease.current_holder(db, expiry) is None
    assert lease.acquire(db, "serve", expiry, TTL)
    assert lease.current_holder(db, expiry) == "serve"
    assert not lease.acquire(db, "console-1", expiry + timedelta(seconds=1), TTL)


def test_release_only_by_the_holder(db: Database) -> None:
    assert lease.acquire(db, "console-1", NOW, TTL)
    lease.release(db, "console-2")
    assert lease.current_holder(db, NOW) == "console-1"
    lease.release(db, "console-1")
    assert lease.current_holder(db, NOW) is None
    assert lease.acquire(db, "console-2", NOW, TTL)


def test_the_lease_is_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "lease.db"
    one, two = connect(path), connect(path)
    try:
        assert lease.acquire(one, "console-1", NOW, TTL)
        assert not lease.acquire(two, "console-2", NOW, TTL)
        assert lease.current_holder(two, NOW) == "console-1"
        assert lease.acquire(two, "console-2", NOW + TTL, TTL)
        assert not lease.acquire(one, "console-1", NOW + TTL, TTL)
    finally:
        one.close()
        two.close()


def test_a_write_blocked_past_the_busy_timeout_is_a_clear_error(tmp_path: Path) -> None:
    """Another process holding the write lock gives DatabaseBusy, and nothing is written."""
    path = tmp_path / "busy.db"
    db = connect(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseBusy, match="busy"), write(db):
            db.conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert db.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    assert not db.conn.in_transaction
    db.close()


def test_a_version_2_database_gets_grid_units_for_its_grid_codes(
    tmp_path: Path, clock: FixedClock, policy: Policy
) -> None:
    path = tmp_path / "v2.db"
    db = connect(path, migrate=False)
    assert apply_migrations(db, upto=2) == 2
    with write(db):
        for ident, grid, at in (
            (1, "G01", "2025-06-02T08:00:00Z"),
            (2, "G01", "2025-06-01T08:00:00Z"),
            (3, "G02", "2025-07-01T08:00:00Z"),
            (4, None, "2025-07-01T08:00:00Z"),
        ):
            db.conn.execute(
                "INSERT INTO incidents (id, number, title, category, type, severity, urgency,"
                " stage, grid, source, reported_at, stage_since, active, updated_at) VALUES"
                " (?, ?, '积水', 'facilities', 'other', 4, 'normal', 'reported', ?, 'phone',"
                " ?, ?, 1, ?)",
                (ident, f"2025-{ident:06d}", grid, at, at, at),
            )
    db.close()
    db = connect(path)
    try:
        units = db.conn.execute(
            "SELECT code, name, level, parent_id, valid_from, valid_to FROM units ORDER BY code"
        ).fetchall()
        assert [tuple(u) for u in units] == [
            ("G01", "G01", "grid", None, "2025-06-01T08:00:00Z", None),
            ("G02", "G02", "grid", None, "2025-07-01T08:00:00Z", None),
        ]
        links = db.conn.execute(
            "SELECT i.id, u.code FROM incidents i LEFT JOIN units u ON u.id = i.grid_id"
            " ORDER BY i.id"
        ).fetchall()
        assert [tuple(r) for r in links] == [(1, "G01"), (2, "G01"), (3, "G02"), (4, None)]
        # Grids exist now, so a case in a grid nobody entered is refused.
        with pytest.raises(InvalidInput, match="no grid G03"):
            create_incident(
                db, clock, policy, OPERATOR, NewIncident("积水", "facilities", grid="G03")
            )
    finally:
        db.close()
