"""Provides where dutydesk keeps its files by default (platformdirs), the overrides, and how
it creates them: private to the user it runs as.

Order of precedence: an explicit ``--db``/``--config`` option, then the ``DUTYDESK_DB`` /
``DUTYDESK_CONFIG`` environment variables, then the user data/config directory.

The database, its ``-wal``/``-shm`` files, backups and the audit head file hold personal data
and the history: they are created 0600, and the directories dutydesk creates for them 0700.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from platformdirs import user_config_path, user_data_path

APP = "dutydesk"


def default_db_path() -> Path:
    env = os.environ.get("DUTYDESK_DB")
    if env:
        return Path(env).expanduser()
    return user_data_path(APP, appauthor=False) / "dutydesk.db"


def demo_db_path() -> Path:
    return user_data_path(APP, appauthor=False) / "demo.db"


def reports_dir() -> Path:
    """Where the console writes reports by default (``[reports] folder`` overrides it)."""
    return user_data_path(APP, appauthor=False) / "reports"


def default_config_path() -> Path:
    env = os.environ.get("DUTYDESK_CONFIG")
    if env:
        return Path(env).expanduser()
    return user_config_path(APP, appauthor=False) / "config.toml"


def private_dir(path: Path) -> None:
    """Create the directory ``path`` (and missing parents) readable by its owner only (0700).

    A directory that already exists keeps its mode: an office may have chosen it on purpose
    (``/var/lib/dutydesk`` shared with a backup user); ``dutydesk doctor`` reports it.
    """
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # another process made it first
            continue
        # mkdir's mode is filtered by the umask; 0700 is already the narrowest useful one.


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; ``True`` if this call made it.

    SQLite creates a database file with the umask's mode (usually 0644) and gives its ``-wal``
    and ``-shm`` files the database file's mode, so creating the file first, 0600, keeps all
    three private.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole: 0600 from its first byte, fsynced, moved into place.

    A reader sees the old file or the new one, never half of one; the directory is fsynced
    too, so the rename survives a power cut.
    """
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in the directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
