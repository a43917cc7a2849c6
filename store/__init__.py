"""dutydesk's storage layer and shared kernel: the ground floor, and the only package that opens
SQLite; it imports no other package of dutydesk.

Provides the connection policy, read-only opening included (:mod:`store.db`), the schema and
its migrations for every package's tables (:mod:`store.schema`), the hash-chained audit log that
is also the one timeline, with its signed checkpoints (:mod:`store.audit`), the checked backup
(:mod:`store.backup`), the facts ``doctor`` checks (:mod:`store.health`), the installation's
keys (:mod:`store.keys`), the engine lease (:mod:`store.lease`), the error hierarchy
(:mod:`store.errors`), clocks (:mod:`store.clock`), Chinese-aware search segmentation
(:mod:`store.textsearch`), default paths and private files (:mod:`store.paths`) and the
translations every package uses (:mod:`store.i18n`). Which package owns which table:
``tests/unit/test_table_owners.py``.

Importing the package imports sqlite-utils once, with numpy hidden: see
:func:`_import_sqlite_utils`.
"""

from __future__ import annotations

import sys


def _import_sqlite_utils() -> None:
    """Import sqlite-utils without numpy and pandas.

    sqlite-utils imports both, when installed, only to map their scalar types to column types
    (dutydesk never stores numpy or pandas values). numpy is installed (shapely needs it, and
    imports it itself when a grid check runs) and costs ~110 ms of every start of the console
    and of every CLI command. Hidden for this one import, then visible again.
    """
    if "sqlite_utils" in sys.modules:
        return
    hidden = {name: sys.modules.get(name) for name in ("numpy", "pandas")}
    for name, module in hidden.items():
        if module is None:
            sys.modules[name] = None  # type: ignore[assignment]  # "import numpy" fails
    try:
        import sqlite_utils  # noqa: F401
    finally:
        for name, module in hidden.items():
            if module is None:
                del sys.modules[name]


_import_sqlite_utils()
