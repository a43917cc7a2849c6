"""Provides how the console names the database it has open, for its header.

Two databases live side by side on a desk — the office's and the demo (``dutydesk --demo``) —
and they look alike at a glance: the header names the file, and says so in words when it is the
demo. Only the file's name: the header is narrow, and a path would push out who is acting.
"""

from __future__ import annotations

from pathlib import Path

from store.db import MEMORY
from store.i18n import _
from store.paths import demo_db_path


def is_demo(path: Path) -> bool:
    """Whether ``path`` is the demo database (``dutydesk --demo`` opens it)."""
    try:
        return path.expanduser().resolve() == demo_db_path().expanduser().resolve()
    except OSError:
        return False


def database_label(path: Path | str, *, demo: bool | None = None) -> str:
    """The open database in people's words: ``demo database (demo.db)`` for the demo, else the
    file's name (``dutydesk.db``).

    Args:
        path: the database file.
        demo: it was opened as the demo (``--demo`` with ``--db``); ``None``: the demo is
            the demo file in the user data directory.
    """
    if str(path) == MEMORY:
        return _("in-memory database")
    path = Path(path)
    if demo is None:
        demo = is_demo(path)
    if demo:
        return _("demo database ({name})").format(name=path.name)
    return path.name
