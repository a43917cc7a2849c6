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
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.terminal import TMUX, Terminal
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

# The screen no longer shows something (a select's list closed): re.search at the start.
GONE = r"^(?![\s\S]*{})"
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
    command = [sys.executable, "-c", "from console.launch import main; main()", "--demo"]
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
    # Built on first use, then painted: the feed's newest entries (a case reported, or the
    # landslide's call-out answered, the demo's last-built history) and the footer's keys.
    # In Chinese, from LANG=zh_CN.UTF-8 alone. The engine's state comes a moment after the
    # first paint (it takes the lease in a thread): wait for it too, not just the keys.
    dashboard = terminal.wait_for(
        r"(?s)(?=.*(?:此处运行|他处运行))(?=.*(?:✚ 上报|✔ 应答).*i\s+事件)", timeout=90
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


def to_dashboard(terminal: Terminal) -> None:
    """Escape until the dashboard shows (the queue's first escape leaves its search field)."""
    for _attempt in range(4):
        terminal.keys("Escape")
        try:
            terminal.wait_for(r"在办阶段", timeout=5)
            return
        except AssertionError:
            continue
    terminal.wait_for(r"在办阶段")


def pick(terminal: Terminal, typed: str, offered: str, *, clear: bool = False) -> None:
    """Type ``typed`` into the focused picker until its list offers ``offered``. A dialog's
    first keys can reach it before its field has the focus: then the officer types again."""
    for _attempt in range(3):
        if clear:
            terminal.keys("C-u")
        terminal.keys(typed)
        try:
            terminal.wait_for(offered, timeout=5)
            return
        except AssertionError:
            clear = True
    terminal.wait_for(offered)


def _json(home: dict[str, str], *args: str) -> Any:
    return json.loads(cli(home, *args, "--json"))


def test_a_shift_walk_in_a_real_terminal(terminal: Terminal, home: dict[str, str]) -> None:
    """Issue 14's walk, as the incoming officer lives it, without typing one code or syntax:
    switch the desk to the incoming officer (ctrl+o), log a case picking its grid by pinyin,
    register it and dispatch it by picker, mobilize with the preview and a confirmation, open
    the silent list with one key from the dashboard, record an answer taken on the phone,
    hand the shift over and confirm it in the same console."""
    dash = terminal.wait_for(
        r"(?s)(?=.*(?:此处运行|他处运行))(?=.*(?:✚ 上报|✔ 应答).*i\s+事件)", timeout=90
    )
    acting = re.search(r"当班 (\S+)", dash)
    # "→ 刘静 12-08 08:00 起", or "→ 刘静 08:00 起" once the next shift starts today.
    incoming = re.search(r"值班员 \S+ 至 [^\n]*\n[^\n]*?→ (\S+) \d", dash)
    assert acting and incoming, dash
    assert acting.group(1) != incoming.group(1)
    officer = incoming.group(1)

    # 1. The incoming officer takes the desk: a picker of the people on duty posts.
    terminal.keys("C-o")
    dialog = terminal.wait_for(r"从现在起由谁在值班台当班")
    names = re.findall(r"▊ ([▶ ]) (\S+) \(", dialog)
    order = [name for _mark, name in names]
    current = next(i for i, (mark, _name) in enumerate(names) if mark == "▶")
    steps = order.index(officer) - current
    terminal.keys(*(["Down"] * steps if steps > 0 else ["Up"] * -steps))
    terminal.keys("Enter")
    terminal.wait_for(rf"当班 {officer} ")

    # 2. A call: the form's grid is picked by pinyin; the likely duplicate is shown.
    terminal.keys("n")
    terminal.wait_for(r"新建事件")
    terminal.keys("幸福社区5号楼冒烟起火")
    terminal.wait_for(r"标题\s+幸福社区5号楼冒烟起火")
    # The officer clicks the fields (a tab typed right after a burst of text can land after
    # it); the selects' lists open on a click too.
    terminal.click(r"地址 / 标志性建筑")
    terminal.keys("长江路90号")
    terminal.wait_for(r"地点\s+长江路90号")
    terminal.click(r"名称、编码或拼音")
    terminal.keys("xf")
    terminal.wait_for(r"幸福社区第1网格\s+G01")
    terminal.keys("Enter")  # takes the grid and moves on to the reporter
    terminal.wait_for(r"网格\s+幸福社区第1网格")
    # The same grid, similar words, an open case: the likely duplicate (another building here).
    terminal.wait_for(r"(?s)同一来电.*2026-\d{6}\s+\d\d:\d\d\s+幸福社区3号楼发生火灾")
    terminal.click(r"类别\s+(类别)")
    terminal.wait_for(r"\s事故灾难\s{3,}")
    terminal.click(r"\s(事故灾难)\s{3,}")
    terminal.wait_for(r"类别\s+事故灾难")
    terminal.wait_for(GONE.format("自然灾害"))
    terminal.click(r"类型 (类型)")
    terminal.wait_for(r"交通事故")
    terminal.click(r"(交通事故)", rows_above=1)  # 火灾, the first type of accidents
    terminal.wait_for(r"类型 火灾")
    assert "grid:" not in terminal.screen()
    terminal.keys("C-s")
    logged = terminal.wait_for(r"(\d{4}-\d{6}) 幸福社区5号楼冒烟起火")
    found = re.search(r"(\d{4}-\d{6}) 幸福社区5号楼冒烟起火", logged)
    assert found is not None
    number = found.group(1)
    case = _json(home, "incident", "show", number)
    assert case["grid"] == "G01" and case["stage"] == "reported"

    # 3. Open it by the tail of its number; register; dispatch to a team picked by initials.
    terminal.keys("i")
    terminal.wait_for(r"编号")
    terminal.keys("/")
    terminal.wait_for(r"(?m)^ / 搜索\s+▏")  # the search field has the keys (and the footer)
    terminal.keys(number[-3:])
    terminal.wait_for(rf"(?m)^ {number[-3:]}\s")
    terminal.keys("Enter")
    terminal.wait_for(rf"(?s)^[^\n]*\n {number}  .*时间线")
    terminal.wait_for(r"(?m)^ a 推进 ")  # the case is read: its keys are live
    terminal.keys("a")
    terminal.wait_for(r"上报→立案")
    terminal.keys("s")
    terminal.wait_for(r"派遣到网格")
    # The case's grid is offered, by name once the directory is read (and listed).
    terminal.wait_for(r"▊  幸福社区第1网格")
    pick(terminal, "xfzyd", r"消防志愿队\s+T-FIRE", clear=True)
    terminal.keys("Enter")
    terminal.wait_for(r"责任人\s+消防志愿队")
    case = _json(home, "incident", "show", number)
    assert case["stage"] == "dispatched" and case["assignee"] == "team:T-FIRE"

    # 4. Mobilize: the case's grid is chosen, the team added by picker; who is called is
    #    shown; ctrl+s asks before anything goes out.
    terminal.keys("M")
    terminal.wait_for(r"将通知 \d+ 人")
    pick(terminal, "xfzyd", r"消防志愿队\s+T-FIRE")
    terminal.keys("Enter")
    terminal.wait_for(r"将通知 \d+ 人: 幸福社区第1网格 \d+ · 消防志愿队 \d+")
    terminal.keys("C-s")
    terminal.wait_for(r"确认动员")

    def started() -> list[dict[str, Any]]:
        listed = _json(home, "mobilization", "list")["items"]
        return [m for m in listed if m["incident"] == number]

    assert not started()  # nothing went out yet
    terminal.keys("y")

    mobilizations = wait_for(started, 30, "the mobilization to start")
    mob = mobilizations[0]["id"]

    # 5. One key from the dashboard: who is silent; the answer taken on the phone recorded.
    terminal.wait_for(r"动员 #\d+\s+● 进行中")  # it opens, calling the grid's and team's leads
    terminal.keys("Escape")
    terminal.wait_for(r"动员已启动")  # back on the case: its timeline says so
    to_dashboard(terminal)
    terminal.keys("s")
    terminal.wait_for(r"仍未应答：\d+ 人")
    terminal.keys("a")
    terminal.wait_for(r"记录应答")
    terminal.keys("C-s")

    def answered() -> list[dict[str, Any]]:
        people = _json(home, "mobilization", "people", str(mob))["items"]
        return [p for p in people if p["state"] == "yes" and p["via"] == "phone"]

    wait_for(answered, 30, "the phone answer to be recorded")

    # 6. Hand over to the next officer; they confirm at this same desk and act from then on.
    to_dashboard(terminal)
    terminal.keys("h")
    terminal.wait_for(r"接班人\s+\S+")  # the next officer by the roster, already picked
    terminal.click(r"交接说明：")
    terminal.keys("5号楼火情：消防志愿队在场，等待核查")
    terminal.wait_for(r"5号楼火情：消防志愿队在场")
    terminal.keys("C-s")
    asked = terminal.wait_for(r"把班交给 (\S+)？")
    successor = re.search(r"把班交给 (\S+)？", asked)
    assert successor is not None and successor.group(1) != officer
    terminal.keys("y")
    terminal.wait_for(rf"已交班给 {successor.group(1)}（#\d+）")
    terminal.keys("y")  # the incoming officer confirms here: asked once more, by name
    terminal.wait_for(rf"{successor.group(1)} 在本值班台接 {officer} 的班")
    terminal.keys("y")
    terminal.wait_for(rf"当班 {successor.group(1)} ")
    handovers = _json(home, "shift", "list")["items"]
    assert handovers[0]["from"] == officer and handovers[0]["confirmed_at"]

    # What happened was done by the officer at the desk, not "duty-officer".
    timeline = _json(home, "incident", "show", number)["timeline"]
    assert {e["operator"] for e in timeline if e["kind"] in ("reported", "dispatch")} == {officer}

    # Quitting with a call-out running asks; pausing is a choice, said out loud.
    terminal.keys("q")
    terminal.wait_for(r"转入后台继续运行 \(k\)")
    terminal.keys("p")


def test_a_wrong_rules_section_closes_the_console_with_its_file_line_and_key(
    home: dict[str, str], tmp_path: Path
) -> None:
    """The console checks [sitrep], [warning]... right after its first frame: a wrong one ends
    it with the one line any command gives for the file (and exit 2), not a traceback."""
    assert TMUX is not None, "tmux is required: run .ci/system-packages (or install tmux)"
    config = tmp_path / "dutydesk.toml"
    config.write_text('operator = "王伟"\n\n[warning]\nanswer_minutes = -3\n', encoding="utf-8")
    dutydesk = [sys.executable, "-c", "from console.launch import main; main()"]
    args = ["--db", str(tmp_path / "office.db"), "--config", str(config)]
    script = " ".join(map(shlex.quote, [*dutydesk, *args])) + "; echo EXIT=$?; sleep 120"
    with Terminal(["sh", "-c", script], {**home, "LANG": "C.UTF-8"}) as term:
        screen = term.wait_for(r"EXIT=\d+", timeout=60)
    assert "EXIT=2" in screen
    assert f"{config}, line 4, key 'warning.answer_minutes'" in screen.replace("\n", "")
    assert "Traceback" not in screen
