"""How the header names the open database: the demo in words, any other by its file's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.dbinfo import database_label, is_demo


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DUTYDESK_DB", raising=False)
    return tmp_path


def test_the_demo_is_named_in_words(home: Path) -> None:
    demo = home / "data" / "dutydesk" / "demo.db"
    assert is_demo(demo)
    assert database_label(demo) == "demo database (demo.db)"
    # `--demo --db other.db`: the caller knows it is the demo.
    assert database_label(home / "other.db", demo=True) == "demo database (other.db)"


def test_any_other_database_by_its_name(home: Path) -> None:
    assert database_label(home / "data" / "dutydesk" / "dutydesk.db") == "dutydesk.db"
    assert database_label(home / "office" / "duty.db") == "duty.db"
    assert database_label(":memory:") == "in-memory database"
    assert not is_demo(home / "office" / "demo.db")  # only the demo file is the demo


async def test_the_console_header_says_the_demo_is_open(home: Path, clock) -> None:
    """`dutydesk --demo` opens the console on the demo: the header says so, in words."""
    from datetime import timedelta

    from console.config import Config
    from console.context import Context
    from console.tui.app import DutydeskApp
    from store import lease
    from store.db import connect
    from tests.support.console import OPERATOR, settle

    demo = home / "data" / "dutydesk" / "demo.db"
    demo.parent.mkdir(parents=True)
    db = connect(demo)
    try:
        lease.acquire(db, "serve:elsewhere", clock.now(), timedelta(days=1))
        ctx = Context(db=db, db_path=demo, config=Config(path=None), operator=OPERATOR, clock=clock)
        app = DutydeskApp(ctx)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert "demo database (demo.db)" in app.sub_title
    finally:
        db.close()
