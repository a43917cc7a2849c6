"""The console's import closure at its first frame stays within a listed set of modules.

Not a timed test, so it cannot flake: a fresh interpreter does what ``dutydesk`` does up to the
dashboard's first frame (import :mod:`console.cli`, open the context, run
:class:`~console.tui.app.DutydeskApp`) and prints what it imported. Thread workers are held at
their start until then, so what the engine and the first reads import later (on their own
threads, at their own pace) is not counted: the set is the same on every run.

A module that is new to the closure fails the test with its name: either move its import behind
first use (into the function that needs it, or under ``TYPE_CHECKING``), or, if the first frame
really needs it, refresh the lists on purpose. A first-party module that left the closure
fails it too, so the list stays what the first frame loads and cannot hide a regression::

    .venv/bin/python -m tests.console.test_import_closure

prints the closure as it is now, as the two literals below; paste them over the old ones and say
why in the commit. Modules whose top-level name starts with ``_`` (C accelerators such as
``_decimal``, ``_sysconfigdata_...``) are not listed: their public parents are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = sorted(
    p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "tests"
)
# Heavy libraries the first frame must never import, wherever they come from.
HEAVY = (
    "aiosmtpd",
    "defusedxml",
    "docx",
    "docxtpl",
    "elementpath",
    "httpx",
    "icalendar",
    "numpy",
    "openpyxl",
    "phonenumbers",
    "shapely",
    "starlette",
    "uvicorn",
    "xmlschema",
)
# Heavy ones still imported today, each with why. Remove the line when the import is gone
# (the test says so).
STILL_HEAVY: dict[str, str] = {}

# The top-level packages of the closure (public names only). Refresh: see the docstring.
ALLOWED_PACKAGES = [
    "array", "ast", "asyncio", "atexit", "base64", "binascii", "bisect", "bz2", "click",
    "collections", "colorsys", "concurrent", "console", "contacts", "contextvars", "copy", "csv",
    "dataclasses", "datetime", "dateutil", "decimal", "difflib", "dis", "fcntl", "fractions", "gc",
    "gettext", "hashlib", "heapq", "hmac", "incidents", "inspect", "json", "linecache", "locale",
    "logging", "lzma", "math", "mimetypes", "mobilization", "numbers", "opcode", "pickle",
    "platform", "platformdirs", "pluggy", "queue", "random", "rich", "secrets", "select",
    "selectors", "shutil", "signal", "socket", "sqlite3", "sqlite_fts4", "sqlite_utils", "ssl",
    "store", "string", "struct", "subprocess", "sysconfig", "tempfile", "termios", "textual",
    "textwrap", "threading", "token", "tokenize", "tomllib", "traceback", "tty", "typing",
    "typing_extensions", "unicodedata", "uuid", "weakref", "zlib", "zoneinfo",
]  # fmt: skip

# Every first-party module of the closure. Refresh: see the docstring.
ALLOWED_FIRST_PARTY = [
    "console", "console.acting", "console.cli", "console.cli.common", "console.cli.i18n",
    "console.cli.main", "console.config", "console.context", "console.dbinfo", "console.launch",
    "console.timefmt", "console.tui", "console.tui.app", "console.tui.i18n",
    "console.tui.messages", "console.tui.screens", "console.tui.screens.dashboard",
    "console.tui.screens.live", "console.tui.widgets", "console.tui.widgets.calendar_warning",
    "console.tui.widgets.cells", "console.tui.widgets.keybar", "console.tui.widgets.looks",
    "console.tui.widgets.stage_bar", "contacts", "contacts.phones", "contacts.roster", "incidents",
    "incidents.calendar", "incidents.limits", "incidents.models", "mobilization",
    "mobilization.vocabulary", "store", "store.clock", "store.db", "store.errors", "store.i18n",
    "store.keys", "store.lease", "store.masking", "store.paths", "store.schema", "store.text",
    "store.textsearch",
]  # fmt: skip

# Run in a fresh interpreter: argv[1] the database, argv[2] a configuration file. Prints
# {"modules": [...]}, the modules imported since the interpreter started.
PROBE = """
import sys
before = set(sys.modules)

import asyncio
import json
from pathlib import Path

import console.cli
from console.cli.main import choose_language
from console.context import open_context
from textual.worker import Worker

db, config = sys.argv[1], sys.argv[2]
choose_language(["--db", db, "--config", config])
ctx = open_context(Path(db), Path(config), deferred_sections=True)  # as the console does

from console.tui.app import DutydeskApp

gate = asyncio.Event()  # never set: workers wait here until the app exits
run = Worker._run


async def held(self, app):
    await gate.wait()
    await run(self, app)


Worker._run = held


async def main():
    app = DutydeskApp(ctx)
    async with app.run_test(size=(120, 36)) as pilot:
        while type(app.screen).__name__ != "DashboardScreen" or not app.screen.is_mounted:
            await pilot.pause()
        seen = sorted(set(sys.modules) - before)
    print(json.dumps({"modules": seen}))


asyncio.run(main())
"""


def first_frame_modules(workdir: Path) -> list[str]:
    """The modules the console imports up to the dashboard's first frame, on a small database."""
    from console.config import Config
    from incidents.records import NewIncident, create_incident
    from store.clock import FixedClock
    from store.db import connect
    from tests.console.conftest import NOW

    db_path = workdir / "closure.db"
    db = connect(db_path)
    try:
        policy = Config(path=None).policy
        for title in ("Streetlight out on Elm Road", "Water leak at the clinic"):
            create_incident(
                db, FixedClock(NOW), policy, "seed", NewIncident(title=title, category="facilities")
            )
    finally:
        db.close()
    # An office's usual file: what is written in it is parsed before the first frame (a file
    # left out would be the defaults, which parse nothing).
    config = workdir / "dutydesk.toml"
    config.write_text(
        'operator = "值班员"\ntimezone = "Asia/Shanghai"\n[ui]\nlanguage = "zh_CN"\n'
        '[shift]\nleads = ["李芳"]\n',
        encoding="utf-8",
    )
    env = {**os.environ, "DUTYDESK_DB": str(db_path), "LANG": "C.UTF-8"}
    env.pop("DUTYDESK_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(db_path), str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])["modules"]
    return modules


def packages(modules: list[str]) -> list[str]:
    return sorted({m.partition(".")[0] for m in modules if not m.startswith("_")})


def first_party(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m.partition(".")[0] in FIRST_PARTY)


@pytest.fixture(scope="module")
def closure(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return first_frame_modules(tmp_path_factory.mktemp("closure"))


def test_no_heavy_library_is_imported_before_the_first_frame(closure: list[str]) -> None:
    found = {m.partition(".")[0] for m in closure} & set(HEAVY)
    unexpected = sorted(found - set(STILL_HEAVY))
    assert not unexpected, (
        f"heavy libraries imported before the console's first frame: {', '.join(unexpected)}; "
        "import them where they are used, after the first frame"
    )
    gone = sorted(set(STILL_HEAVY) - found)
    assert not gone, f"no longer imported before the first frame: remove {gone} from STILL_HEAVY"


def test_the_top_level_packages_are_listed(closure: list[str]) -> None:
    new = sorted(set(packages(closure)) - set(ALLOWED_PACKAGES))
    assert not new, (
        f"new packages imported before the console's first frame: {', '.join(new)} "
        "(move the import behind first use, or refresh ALLOWED_PACKAGES on purpose)"
    )


def test_the_first_party_modules_are_listed(closure: list[str]) -> None:
    new = sorted(set(first_party(closure)) - set(ALLOWED_FIRST_PARTY))
    assert not new, (
        f"new first-party modules imported before the console's first frame: {', '.join(new)} "
        "(move the import behind first use, or refresh ALLOWED_FIRST_PARTY on purpose)"
    )
    gone = sorted(set(ALLOWED_FIRST_PARTY) - set(first_party(closure)))
    assert not gone, (
        f"no longer imported before the first frame: {', '.join(gone)}; refresh"
        " ALLOWED_FIRST_PARTY (see the module's docstring) so the list stays the closure"
    )


DEFERRED = """
import sys

from store.db import connect

db = connect(":memory:")
loaded = sorted(
    name for name in ("dateutil.tz", "dateutil.parser._parser", "importlib.metadata")
    if name in sys.modules
)
import sqlite_utils.db

lazy = type(sqlite_utils.db._virtual_table_using_re).__name__
match = sqlite_utils.db._virtual_table_using_re.match("CREATE VIRTUAL TABLE t USING fts5(a)")
from sqlite_utils.recipes import parsedate

print(loaded, lazy, match.group("using"), parsedate("2026-05-20"))
"""


def test_sqlite_utils_loads_without_dateutil_or_the_plugin_scan() -> None:
    """What :mod:`store` defers of sqlite-utils (dateutil's parser, one slow regular
    expression) and what its connections skip (the plugin scan over every installed
    distribution) stay deferred, and still work when used."""
    done = subprocess.run(
        [sys.executable, "-c", DEFERRED],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "_LazyPattern", "fts5", "2026-05-20"]


def _literal(name: str, items: list[str]) -> str:
    lines, line = [], "   "
    for item in items:
        piece = f' "{item}",'
        if len(line) + len(piece) > 99:
            lines.append(line)
            line = "   "
        line += piece
    lines.append(line)
    return f"{name} = [\n" + "\n".join(lines) + "\n]  # fmt: skip"


if __name__ == "__main__":  # refresh the lists: see the module docstring
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        now = first_frame_modules(Path(tmp))
    print(_literal("ALLOWED_PACKAGES", packages(now)))
    print()
    print(_literal("ALLOWED_FIRST_PARTY", first_party(now)))
