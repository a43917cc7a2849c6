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

Importing the package imports sqlite-utils once, with numpy hidden, and dateutil's parser and
one slow regular expression deferred to their first use: see :func:`_import_sqlite_utils`.
"""

from __future__ import annotations

import sys
from typing import Any


def _import_sqlite_utils() -> None:
    """Import sqlite-utils without numpy and pandas.

    sqlite-utils imports both, when installed, only to map their scalar types to column types
    (dutydesk never stores numpy or pandas values). numpy is installed (shapely needs it, and
    imports it itself when a grid check runs) and costs ~110 ms of every start of the console
    and of every CLI command. Hidden for this one import, then visible again.
    """
    if "sqlite_utils" in sys.modules:
        return
    _defer_dateutil_parser()
    hidden = {name: sys.modules.get(name) for name in ("numpy", "pandas")}
    for name, module in hidden.items():
        if module is None:
            sys.modules[name] = None  # type: ignore[assignment]  # "import numpy" fails
    import re

    compile_now = re.compile

    def compile_slow_later(pattern: Any, flags: Any = 0) -> Any:
        if isinstance(pattern, str) and "CREATE\\s+VIRTUAL" in pattern:
            return _LazyPattern(pattern, flags)  # ~20 ms to compile (\u0080-\uffff, any case)
        return compile_now(pattern, flags)

    re.compile = compile_slow_later
    try:
        import sqlite_utils  # noqa: F401
    finally:
        re.compile = compile_now
        for name, module in hidden.items():
            if module is None:
                del sys.modules[name]


class _LazyPattern:
    """A regular expression compiled on its first use (sqlite-utils' ``CREATE VIRTUAL TABLE``
    matcher, which only its full-text helpers use)."""

    def __init__(self, pattern: str, flags: Any) -> None:
        self._args = (pattern, flags)
        self._compiled: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            import re

            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


def _defer_dateutil_parser() -> None:
    """Make ``dateutil.parser`` load on its first use rather than with sqlite-utils.

    sqlite-utils' ``recipes`` imports it at the top only for its ``parsedate`` conversions,
    which dutydesk's reads never use; loading it (and ``dateutil.tz``) costs ~20 ms of every
    start. The module is bound lazily (:class:`importlib.util.LazyLoader`): it runs on the first
    attribute looked up on it, which then behaves as the real module.
    """
    if "dateutil.parser" in sys.modules:
        return
    import importlib.util

    spec = importlib.util.find_spec("dateutil.parser")
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["dateutil.parser"] = module
    loader.exec_module(module)
    setattr(sys.modules["dateutil"], "parser", module)  # noqa: B010  # as an import would


_import_sqlite_utils()
