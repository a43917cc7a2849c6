"""The real ``dutydesk`` command in a real terminal: tmux runs it, keys are typed, the screen read.

This is how a person meets the console: ``dutydesk --demo`` on a fresh machine opens the
dashboard on the demo street; ``i`` shows the queue; ``a`` advances the highlighted case. The
test reads the screen with ``tmux capture-pane`` and checks the database through the CLI.

tmux is required, never skipped: the README's test command and ``.ci/run`` install it first
(``.ci/system-packages``), and without it the test fails saying so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.terminal import TMUX, Terminal

pytestmark = pytest.mark.slow

# A row of the queue as the screen shows it, the case number first.
ROW = r"^\s*(\d{4}-\d{6})\s+\S+\s+(\S+)"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A fresh user of a Chinese duty office: their own data and configuration directories,
    and a Chinese locale (which alone makes the console speak Chinese)."""
    return {
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TERM": "xterm-256color",
        "LANG": "zh_CN.UTF-8",
        "PATH": os.environ.get("PATH", ""),
    }


@pytest.fixture
def terminal(home: dict[str, str]) -> Iterator[Terminal]:
    assert TMUX is not None, "tmux is required: run .ci/system-packages (or install tmux)"
    command = [sys.executable, "-c", "from console.cli import main; main()", "--demo"]
    with Terminal(command, home) as term:
        yield term


def cli(home: dict[str, str], *args: str) -> str:
    db = Path(home["XDG_DATA_HOME"]) / "dutydesk" / "demo.db"
    result = subprocess.run(
        [sys.executable, "-c", "from console.cli import main; main()", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **home},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_person_opens_the_demo_sees_the_dashboard_and_advances_a_case(
    terminal: Terminal, home: dict[str, str]
) -> None:
    # Built on first use, then painted: the feed's newest case and the footer's keys.
    # In Chinese, from LANG=zh_CN.UTF-8 alone. The engine's state comes a moment after the
    # first paint (it takes the lease in a thread): wait for it too, not just the keys.
    dashboard = terminal.wait_for(
        r"(?s)(?=.*(?:此处运行|他处运行))(?=.*✚ 上报.*i\s+事件)", timeout=90
    )
    assert "在办" in dashboard and "引擎" in dashboard
    assert "动态" in dashboard and "在办阶段" in dashboard
    assert re.search(r"此处运行|他处运行", dashboard)
    assert "running here" not in dashboard and "live feed" not in dashboard

    # The header is painted before the first page of rows is read: wait for a row under it.
    terminal.keys("i")
    queue = terminal.wait_for(rf"(?ms)编号.*{ROW}")
    first = re.search(ROW, queue.split("编号")[1], re.M)
    assert first is not None, queue
    number = first.group(1)
    before = json.loads(cli(home, "incident", "show", number, "--json"))["stage"]

    terminal.keys("a")
    terminal.wait_for(rf"{number}: ")  # the toast names the case and its new stage
    after = json.loads(cli(home, "incident", "show", number, "--json"))["stage"]
    assert after != before

    terminal.keys("Escape")
    terminal.wait_for(r"在办阶段")  # back on the dashboard
    terminal.keys("q")
