"""The ``dutydesk`` script starts without garbage collection and turns it back on (console.launch).

A command collects again as soon as it begins; the console once its first frame is painted.
Either way what start made is frozen, so no collection walks it again.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import launch
from console.tui.app import DutydeskApp
from console.tui.screens.dashboard import DashboardScreen
from tests.support.console import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as the test found it afterwards, whatever the test left."""
    yield
    gc.enable()
    gc.unfreeze()


def test_started_freezes_what_start_made_and_collects_again(collector: None) -> None:
    launch.starting()
    assert not gc.isenabled()
    made = [[i] for i in range(1_000)]  # start-time objects
    launch.started()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)
    frozen = gc.get_freeze_count()
    launch.started()  # already on: nothing more is frozen
    assert gc.get_freeze_count() == frozen


def test_a_command_collects_again_once_it_begins(tmp_path: Path) -> None:
    """Through the real script's entry point, in a fresh process: the command's own work runs
    with the collector on."""
    probe = (
        "import gc, sys\n"
        "import console.cli\n"
        "cli_main = sys.modules['console.cli.main']\n"
        "from console import launch\n"
        "real = cli_main.started\n"
        "def started():\n"
        "    real()\n"
        "    print('collector on:', gc.isenabled(), file=sys.stderr)\n"
        "cli_main.started = started\n"
        "sys.argv = ['dutydesk', '--db', sys.argv[1], 'init']\n"
        "launch.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "new.db")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "collector on: True" in done.stderr
    assert (tmp_path / "new.db").exists()


async def test_the_console_collects_again_after_its_first_frame(ctx, collector: None) -> None:
    launch.starting()
    app = DutydeskApp(ctx)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, DashboardScreen) and gc.isenabled(),
            what="the collector back on after the dashboard's first frame",
        )
        assert gc.get_freeze_count() > 0
