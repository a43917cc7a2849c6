"""Provides the one way dutydesk opens its SQLite database, and its write transactions.

Connection policy, applied on every connection:

* WAL journal, so the console, the CLI and the engine read while one of them writes;
* ``foreign_keys = ON`` (SQLite's default is off per connection);
* a busy timeout (default 5 s) so a second writer waits instead of failing at once;
* ``synchronous = FULL``: a case or an acknowledgement that was reported as saved must survive a
  power cut. ``NORMAL`` in WAL mode may lose the last transactions on power loss (not on an
  application crash); the fsync per commit costs far less than a duty officer's lost report.
  Bulk loads (demo, benchmark) pass ``synchronous="NORMAL"`` explicitly.

Migrations (``store.schema``) are applied on open inside one transaction; a database whose
``user_version`` is newer than this code knows is refused with :class:`SchemaTooNew` before
anything is written to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from store.errors import DatabaseBusy, DutydeskError, SchemaTooNew
from store.i18n import _
from store.schema import MIGRATIONS, SCHEMA_VERSION
from store.textsearch import segment

MEMORY = ":memory:"

# Other packages name the database type and catch SQLite's errors through these, so that
# ``store`` stays the only package that imports sqlite3 or sqlite_utils.
SQLError = sqlite3.Error
__all__ = [
    "MEMORY",
    "Database",
    "SQLError",
    "apply_migrations",
    "backup",
    "connect",
    "data_version",
    "schema_version",
    "write",
]


def _register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("dd_seg", 1, segment, deterministic=True)


def connect(
    path: str | Path = MEMORY,
    *,
    busy_timeout: float = 5.0,
    synchronous: str = "FULL",
    migrate: bool = True,
) -> Database:
    """Open (creating if needed) and migrate the database at ``path``.

    Args:
        path: a file path, or ``":memory:"`` for tests.
        busy_timeout: seconds a write waits for another writer's lock.
        synchronous: ``FULL`` (default) or ``NORMAL`` for bulk loads.
        migrate: apply pending migrations (``False`` only for inspection tools and tests).

    Returns:
        A sqlite-utils ``Database`` in autocommit mode; writes go through :func:`write`.

    Raises:
        SchemaTooNew: the file was written by a newer dutydesk.
        DutydeskError: the file is not a SQLite database or cannot be opened.
    """
    if str(path) != MEMORY:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        _register_functions(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise DutydeskError(
            _("cannot open database {path}: {error}").format(path=path, error=exc)
        ) from exc
    if version > SCHEMA_VERSION:
        conn.close()
        raise SchemaTooNew(
            _(
                "database {path} has schema version {version}, but this dutydesk only knows up"
                " to {known}: upgrade dutydesk; the database was left untouched"
            ).format(path=path, version=version, known=SCHEMA_VERSION)
        )
    if str(path) != MEMORY:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    db = Database(conn)
    if migrate:
        apply_migrations(db)
    return db


def apply_migrations(db: Database, upto: int | None = None) -> int:
    """Apply the migrations not yet applied, all in one immediate transaction.

    Returns:
        The schema version the database is at afterwards.
    """
    target = SCHEMA_VERSION if upto is None else upto
    conn = db.conn
    _begin_immediate(conn)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                _("database has schema version {version} (> {known})").format(
                    version=version, known=SCHEMA_VERSION
                )
            )
        for number in range(version, target):
            MIGRATIONS[number](conn)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(version, target)


def schema_version(db: Database) -> int:
    return int(db.conn.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def write(db: Database) -> Iterator[Database]:
    """One write transaction: everything inside commits together or not at all.

    The outermost block takes the write lock at once (``BEGIN IMMEDIATE``), so the audit chain's
    "read the last hash, append the next" can never interleave with another process. Nested
    blocks become savepoints.
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    _begin_immediate(conn)
    try:
        yield db
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if _is_busy(exc):
            raise _busy(exc) from exc
        raise
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if _is_busy(exc):
                raise _busy(exc) from exc
            raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _busy(exc: sqlite3.OperationalError) -> DatabaseBusy:
    return DatabaseBusy(
        _(
            "the database is busy ({error}): another dutydesk process held it longer than the"
            " busy timeout; nothing was written, try again"
        ).format(error=exc)
    )


def _begin_immediate(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise _busy(exc) from exc
        raise


def data_version(db: Database) -> int:
    """SQLite's ``PRAGMA data_version``: changes when another connection commits a write."""
    return int(db.conn.execute("PRAGMA data_version").fetchone()[0])


def change_marker(db: Database) -> tuple[object, ...]:
    """What changes when anything a person sees changes, read from indexes only.

    Every state change of a case, a person, the roster or a mobilization's answers appends to
    the audit chain; sends and escalations create or finish attempts. The engine lease's
    renewals touch none of these, so a commit that only renewed the lease leaves this equal.
    """
    row = db.conn.execute(
        "SELECT (SELECT max(id) FROM events), (SELECT max(rowid) FROM attempts),"
        " (SELECT count(*) FROM attempts WHERE state = 'pending' AND claimed_by IS NULL),"
        " (SELECT count(*) FROM attempts WHERE state = 'pending' AND claimed_by IS NOT NULL)"
    ).fetchone()
    return tuple(row)


def backup(db: Database, target: str | Path) -> Path:
    """Copy the live database to ``target`` with SQLite's online backup API.

    The copy is consistent even while other processes write; ``target`` must not exist.
    """
    target = Path(target)
    if target.exists():
        raise DutydeskError(
            _("backup target {target} already exists; choose a new file name").format(target=target)
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = sqlite3.connect(str(target))
    try:
        db.conn.backup(dest, pages=1024)
    finally:
        dest.close()
    return target
