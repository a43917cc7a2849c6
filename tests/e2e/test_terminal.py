"""The real ``dutydesk`` command in a real terminal: tmux runs it, keys are typed, the screen read.

This is how a person meets the console: ``dutydesk --demo`` on a fresh machine opens the
dashboard on the demo street; ``i`` shows the queue; ``a`` advances the highlighted case. The
test reads the screen with ``tmux capture-pane`` and checks the database through the CLI.

tmux is required: ``.ci/run`` installs it when it is missing, and sets
``DUTYDESK_REQUIRE_TMUX=1`` so that a missing tmux fails CI instead of being skipped. On a
developer machine without tmux the test is skipped with that reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TMUX = shutil.which("tmux")
if TMUX is None and os.environ.get("DUTYDESK_REQUIRE_TMUX") != "1":
    pytest.skip("tmux is not installed (CI installs it and requires it)", allow_module_level=True)


class Terminal:
    """One detached tmux session running one command, 120x36."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        assert TMUX is not None, "tmux is required (DUTYDESK_REQUIRE_TMUX=1) but not installed"
        self.name = f"dd-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        # COLUMNS/LINES inherited from a test runner would override the terminal's real size.
        unset = "-u COLUMNS -u LINES -u LANGUAGE -u LC_ALL -u LC_MESSAGES"
        shell = f"env {unset} {exports} {' '.join(_quote(c) for c in command)}"
        subprocess.run(
            [TMUX, "new-session", "-d", "-s", self.name, "-x", "120", "-y", "36", shell],
            check=True,
        )

    def screen(self) -> str:
        return subprocess.run(
            [TMUX, "capture-pane", "-t", self.name, "-p"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([TMUX, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if re.search(pattern, shown):
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never appeared; the screen showed:\n{shown}")

    def close(self) -> None:
        subprocess.run([TMUX, "kill-session", "-t", self.name], check=False)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


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
    term = Terminal([sys.executable, "-c", "from console.cli import main; main()", "--demo"], home)
    yield term
    term.close()


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

    terminal.keys("i")
    queue = terminal.wait_for(r"编号")
    first = re.search(r"^\s*(\d{4}-\d{6})\s+\S+\s+(\S+)", queue.split("编号")[1], re.M)
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
