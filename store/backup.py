"""Provides the checked backup: a copy that is known good, or no file at all.

SQLite's online backup API copies pages as they are, so a damaged page in the live database
goes into the copy unnoticed, and a copy that stopped half-way (a full disk, a kill) looks like a
database. So :func:`backup` writes into a temporary file (0600) in the target's directory, signs
the source's audit head first (:func:`store.audit.checkpoint`), then checks the copy —
``PRAGMA quick_check``, and its whole audit history, which must hold the head just signed —
fsyncs it and only then links it into place under the name asked for. On any failure the
temporary file is removed and the error says why; the target name never appears. The time of
the last successful backup is kept in ``meta`` for ``dutydesk doctor``.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from store.audit import (
    Checkpoint,
    checkpoint,
    head_file_for,
    latest_checkpoint,
    verify_history,
    write_head_file,
)
from store.clock import to_iso
from store.db import write
from store.errors import DutydeskError, InvalidInput
from store.health import quick_check
from store.i18n import _
from store.keys import KeyRing
from store.paths import fsync_dir

LAST_BACKUP = "last_backup_at"  # meta keys (store's own)
LAST_BACKUP_PATH = "last_backup_path"


@dataclass(frozen=True)
class BackupResult:
    """A backup that was written and checked: where, how big, how many audit entries."""

    path: Path
    size: int
    entries: int
    head: Checkpoint | None
    recorded: bool  # the time was kept in the source's meta (False: the source was busy)


class BackupFailed(DutydeskError):
    """The copy did not pass its checks, or could not be written; no backup file was left."""


def _check_target(target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise DutydeskError(
            _("backup target {target} already exists; choose a new file name").format(target=target)
        )
    parent = target.parent
    if not parent.is_dir():
        raise InvalidInput(
            _("directory {path} does not exist: create it first, or choose another").format(
                path=parent
            ),
            "PATH",
        )
    if head_file_for(target).exists():
        raise InvalidInput(
            _(
                "{path} (the audit head file of another database) is in the way: choose another"
                " name, or remove it"
            ).format(path=head_file_for(target)),
            "PATH",
        )


def backup(
    db: Database, target: str | Path, *, keys: KeyRing | None, now: datetime
) -> BackupResult:
    """Copy the live database to ``target``, consistently, and check the copy before it counts.

    Args:
        db: the live database (read-write: its head is signed and the backup time recorded).
        target: the new file; its directory must exist, the file must not.
        keys: the key ring that signs the audit head; ``None`` (in-memory databases, tests)
            copies and checks without signing.
        now: the time of the checkpoint and of the backup.

    Raises:
        InvalidInput: the directory does not exist or cannot be written to (exit 2).
        DutydeskError: the target exists.
        AuditBroken: the source's audit chain does not match its last checkpoint.
        BackupFailed: the copy failed a check or could not be written; no file was left.
    """
    target = Path(target)
    try:
        _check_target(target)
    except (OSError, ValueError) as exc:
        raise InvalidInput(str(exc), "PATH") from exc
    try:
        if keys is not None:
            checkpoint(db, keys, now)
        signed = latest_checkpoint(db)
    except sqlite3.DatabaseError as exc:
        raise BackupFailed(
            _(
                "backup failed: reading the database failed ({error}); it may be damaged: run"
                " dutydesk doctor. No backup was written"
            ).format(error=exc)
        ) from exc
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}.{secrets.token_hex(4)}")
    head_file = head_file_for(target)
    wrote_head = False
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except PermissionError as exc:
            raise InvalidInput(
                _("cannot write in {path}: {error}").format(path=target.parent, error=exc),
                "PATH",
            ) from exc
        os.close(fd)
        entries, head = _copy_and_check(db, tmp, keys, signed)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        if head is not None:
            write_head_file(head_file, head)
            wrote_head = True
        os.link(tmp, target)  # never replaces a file that appeared meanwhile
        tmp.unlink()
        fsync_dir(target.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}-journal").unlink(missing_ok=True)
        if wrote_head:
            head_file.unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise DutydeskError(
                _("backup target {target} already exists; choose a new file name").format(
                    target=target
                )
            ) from exc
        if isinstance(exc, OSError | sqlite3.Error):
            raise BackupFailed(
                _("backup failed: {error}; no backup was written").format(error=exc)
            ) from exc
        raise
    return BackupResult(
        target, target.stat().st_size, entries, head or signed, _record(db, target, now)
    )


def _copy_and_check(
    db: Database, tmp: Path, keys: KeyRing | None, signed: Checkpoint | None
) -> tuple[int, Checkpoint | None]:
    """Copy ``db`` into ``tmp`` and check the copy; returns its entries and newest checkpoint.

    The copy's history must hold ``signed``, the source's head signed just before copying.
    """
    dest = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        db.conn.backup(dest, pages=1024)
        # One self-contained file: the copy keeps no -wal beside it (opening it for use turns
        # WAL on again).
        dest.execute("PRAGMA journal_mode = DELETE")
        copy = Database(dest)
        problems = quick_check(copy)
        if problems:
            raise BackupFailed(
                _(
                    "backup failed: the copy does not pass SQLite's integrity check ({problem});"
                    " the database itself is probably damaged: run dutydesk doctor. No backup"
                    " was written"
                ).format(problem="; ".join(problems))
            )
        history = verify_history(copy, keys, witness=signed, check_head_file=False)
        if not history.ok:
            raise BackupFailed(
                _(
                    "backup failed: the audit history of the copy does not verify (entry"
                    " {entry}: {problem}). No backup was written"
                ).format(entry=history.bad_id, problem=history.problem)
            )
        return history.checked, latest_checkpoint(copy)
    finally:
        dest.close()


def _record(db: Database, target: Path, now: datetime) -> bool:
    """Keep the time and place of this backup in the source's ``meta``; ``False`` if busy."""
    try:
        with write(db):
            db.conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(LAST_BACKUP, to_iso(now)), (LAST_BACKUP_PATH, str(target.resolve()))],
            )
    except (DutydeskError, sqlite3.Error):
        return False
    return True


def last_backup(db: Database) -> tuple[str, str] | None:
    """When and where the last successful backup was written: ``(at, path)``, or ``None``."""
    rows = dict(
        db.conn.execute(
            "SELECT key, value FROM meta WHERE key IN (?, ?)", (LAST_BACKUP, LAST_BACKUP_PATH)
        ).fetchall()
    )
    if LAST_BACKUP not in rows:
        return None
    return str(rows[LAST_BACKUP]), str(rows.get(LAST_BACKUP_PATH, ""))
