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

A new database file is created 0600 before SQLite opens it (SQLite gives ``-wal`` and ``-shm``
the database file's mode), in a directory created 0700. Tools that only look
(``audit verify``, ``doctor``) open with :func:`connect_readonly`, which never creates a file
and still works on a read-only mount.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from store.errors import DatabaseBusy, DutydeskError, NotFound, SchemaTooNew
from store.i18n import _
from store.paths import create_private_file
from store.schema import MIGRATIONS, SCHEMA_VERSION
from store.textsearch import segment

# PLUGINS: dutydesk's connections run no sqlite-utils plugins (``execute_plugins=False``): none
# is installed with it, one installed beside it would change every connection unseen, and
# looking for them scans every installed distribution's entry points (importlib.metadata,
# ~80 ms of each start of the console and of every CLI command).

MEMORY = ":memory:"

# Other packages name the database type and catch SQLite's errors through these, so that
# ``store`` stays the only package that imports sqlite3 or sqlite_utils.
SQLError = sqlite3.Error
__all__ = [
    "MEMORY",
    "Database",
    "SQLError",
    "apply_migrations",
    "connect",
    "connect_readonly",
    "database_file",
    "has_table",
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
        try:
            create_private_file(Path(path))
        except OSError as exc:
            raise DutydeskError(
                _("cannot open database {path}: {error}").format(path=path, error=exc)
            ) from exc
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
    _refuse_newer(conn, path, version)
    if str(path) != MEMORY:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    db = Database(conn, execute_plugins=False)  # see PLUGINS
    if migrate:
        apply_migrations(db)
    return db


def _refuse_newer(conn: sqlite3.Connection, path: str | Path, version: int) -> None:
    """:class:`SchemaTooNew` (closing ``conn``) when a newer dutydesk wrote the file."""
    if version > SCHEMA_VERSION:
        conn.close()
        raise SchemaTooNew(
            _(
                "database {path} has schema version {version}, but this dutydesk only knows up"
                " to {known}: upgrade dutydesk; the database was left untouched"
            ).format(path=path, version=version, known=SCHEMA_VERSION)
        )


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


def connect_readonly(path: str | Path) -> Database:
    """Open the existing database at ``path`` for reading only; never create or migrate it.

    Opened with SQLite's ``mode=ro``; where that fails (a read-only mount on which the WAL's
    ``-shm`` file cannot be created), with ``immutable=1``, which reads the file as it is on
    disk (what a crashed writer left in the ``-wal`` file is not seen).

    Raises:
        NotFound: there is no file at ``path`` (exit 2).
        SchemaTooNew: the file was written by a newer dutydesk.
        DutydeskError: the file is not a SQLite database or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(_("database {path} does not exist").format(path=path))
    uri = path.resolve().as_uri()
    conn: sqlite3.Connection | None = None
    error: sqlite3.Error | None = None
    for mode in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(
                f"{uri}?{mode}", uri=True, isolation_level=None, check_same_thread=False
            )
            _register_functions(conn)
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            break
        except sqlite3.Error as exc:
            error = exc
            if conn is not None:
                conn.close()
            conn = None
    if conn is None:
        raise DutydeskError(
            _("cannot open database {path}: {error}").format(path=path, error=error)
        ) from error
    _refuse_newer(conn, path, version)
    conn.execute("PRAGMA query_only = ON")
    return Database(conn, execute_plugins=False)  # see PLUGINS


def database_file(db: Database) -> Path | None:
    """The file the database ``db`` was opened from; ``None`` for an in-memory database."""
    for _seq, name, file in db.conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return Path(file) if file else None
    return None


def has_table(db: Database, name: str) -> bool:
    """Whether the table ``name`` exists (an older schema opened read-only may lack it)."""
    row = db.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None
