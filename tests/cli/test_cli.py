"""CLI tests through the real entry point ``console.cli.main`` (and the installed script).

Each test gets its own database and configuration file under tmp_path, named with --db and
--config, so nothing touches the user's directories.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from store.schema import SCHEMA_VERSION


def new_case(run, *extra: str) -> dict:
    result = run(
        "incident",
        "new",
        "--title",
        "3号楼发生火灾",
        "--category",
        "accident-disaster",
        "--type",
        "fire",
        "--severity",
        "II",
        "--urgency",
        "urgent",
        "--grid",
        "G01",
        "--description",
        "smoke on the fifth floor",
        "--json",
        *extra,
    )
    assert result.code == 0, result.err
    return result.json()


def test_init_creates_and_reports_schema(run) -> None:
    result = run("init")
    assert result.code == 0
    assert f"schema version {SCHEMA_VERSION}" in result.out
    assert run.db.exists()


def test_whole_closed_loop_from_the_cli(run) -> None:
    added = run("team", "add", "--code", "T-FIRE", "--name", "消防志愿队", "--kind", "firefighting")
    assert added.code == 0, added.err
    case = new_case(run)
    number = case["number"]
    assert case["stage"] == "reported" and case["severity"] == "II" and case["deadline"]
    steps = [
        ("register",),
        ("dispatch", "--to", "team:消防志愿队"),
        ("handle",),
        ("feedback", "--result", "明火已扑灭"),
        ("verify",),
        ("close",),
    ]
    expected = ["registered", "dispatched", "handling", "feedback", "verified", "closed"]
    for step, stage in zip(steps, expected, strict=True):
        result = run("incident", step[0], number, *step[1:], "--json")
        assert result.code == 0, result.err
        assert result.json()["stage"] == stage
    shown = run("incident", "show", number, "--json").json()
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds == ["reported", "register", "dispatch", "handle", "feedback", "verify", "close"]
    assert shown["assignee"] == "team:T-FIRE"  # the team's name names the team
    assert shown["allowed"] == ["reopen"]
    assert run("audit", "verify").code == 0


def test_refused_transition_is_one_line_exit_2(run) -> None:
    number = new_case(run)["number"]
    result = run("incident", "close", number)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "stage 'reported'" in result.err and "Allowed next steps: register" in result.err
    assert "Traceback" not in result.err


def test_bad_input_names_the_field(run) -> None:
    result = run("incident", "new", "--title", "x", "--category", "weather")
    assert result.code == 2
    assert result.err.startswith("dutydesk: category: unknown category 'weather'")
    result = run("incident", "new", "--title", " ", "--category", "environment")
    assert result.code == 2 and "title: a title is required" in result.err
    result = run(
        "incident",
        "new",
        "--title",
        "t",
        "--category",
        "environment",
        "--lat",
        "91",
        "--lon",
        "120",
    )
    assert result.code == 2 and "lat:" in result.err


def test_unknown_case_and_bad_reference(run) -> None:
    assert run("incident", "show", "2026-999999").code == 2
    result = run("incident", "show", "abc")
    assert result.code == 2 and "case:" in result.err


def test_list_filters_sort_and_json_keys(run) -> None:
    first = new_case(run)
    second = new_case(run, "--urgency", "very-urgent")
    run("incident", "register", first["number"])
    listing = run("incident", "list", "--json").json()
    numbers = [i["number"] for i in listing["items"]]
    # very urgent case has the earlier deadline
    assert numbers == [second["number"], first["number"]]
    for key in ("id", "number", "title", "stage", "severity", "urgency", "deadline", "overdue"):
        assert key in listing["items"][0]
    only = run("incident", "list", "--stage", "registered", "--json").json()
    assert [i["number"] for i in only["items"]] == [first["number"]]
    assert run("incident", "list", "--severity", "I", "--json").json()["items"] == []
    assert run("incident", "list", "--text", "火灾", "--json").json()["items"]
    paged = run("incident", "list", "--limit", "1", "--json").json()
    assert paged["next_after"]
    rest = run("incident", "list", "--limit", "1", "--after", paged["next_after"], "--json")
    assert [i["number"] for i in rest.json()["items"]] == [first["number"]]


def test_search_chinese_and_english(run) -> None:
    number = new_case(run)["number"]

    def hits(text: str) -> list[str]:
        return [h["number"] for h in run("incident", "search", text, "--json").json()["items"]]

    assert hits("火灾") == [number]
    assert hits("SMOKE") == [number]
    run("incident", "note", number, "消防车已到达")
    assert hits("消防") == [number]
    assert "nothing found" in run("incident", "search", "地震").out


def test_extension_needs_a_shift_lead(run) -> None:
    number = new_case(run)["number"]
    assert run("incident", "extend", number, "--reason", "等待配件", "--until", "+3d").code == 0
    refused = run("incident", "approve-extension", number)
    assert refused.code == 2 and "not a shift lead" in refused.err
    assert run("person", "add", "--name", "陈队长", "--key", "chen").code == 0  # --as: a person
    granted = run("--as", "陈队长", "incident", "approve-extension", number, "--json")
    assert granted.code == 0 and granted.json()["status"] == "granted"
    assert run("incident", "show", number, "--json").json()["extensions"][0]["status"] == "granted"


def test_void_return_park_reopen_merge(run) -> None:
    a = new_case(run)["number"]
    b = new_case(run)["number"]
    assert run("incident", "void", a).code == 2  # --reason missing: usage error
    assert run("incident", "void", a, "--reason", "误报", "--json").json()["stage"] == "voided"
    for step in (("register",), ("dispatch",), ("handle",)):
        run("incident", step[0], b)
    assert run("incident", "return", b, "--reason", "派错网格", "--json").json()["stage"] == (
        "dispatched"
    )
    parked = run("incident", "park", b, "--reason", "长期", "--json").json()
    assert parked["parked"] is True and parked["deadline"] is None
    assert run("incident", "list", "--json").json()["items"] == []
    assert run("incident", "list", "--parked", "--json").json()["items"][0]["number"] == b
    assert run("incident", "unpark", b, "--json").json()["parked"] is False
    c = new_case(run)["number"]
    merged = run("incident", "merge", c, "--into", b, "--json").json()
    assert merged["stage"] == "merged"


def test_tasks_and_overdue_listing(run) -> None:
    number = new_case(run)["number"]
    added = run(
        "incident",
        "task",
        "add",
        number,
        "--title",
        "疏散群众",
        "--owner",
        "李四",
        "--due",
        "2000-01-01 08:00",
        "--json",
    ).json()
    overdue = run("incident", "task", "list", "--overdue", "--json").json()["items"]
    assert [t["id"] for t in overdue] == [added["id"]]
    assert run("incident", "task", "done", str(added["id"])).code == 0
    assert run("incident", "task", "list", "--overdue", "--json").json()["items"] == []
    again = run("incident", "task", "done", str(added["id"]))
    assert again.code == 2 and "already done" in again.err


def test_bad_time_is_rejected_with_the_field(run) -> None:
    number = new_case(run)["number"]
    result = run("incident", "extend", number, "--reason", "r", "--until", "tomorrow")
    assert result.code == 2 and "until:" in result.err


def test_shift_handover_records_counts(run) -> None:
    new_case(run)
    assert run("person", "add", "--name", "李芳", "--key", "lifang").code == 0  # --to: a person
    result = run("shift", "handover", "--to", "李芳", "--note", "3号楼火灾跟进", "--json")
    assert result.code == 0
    data = result.json()
    assert data["from"] == "王伟" and data["to"] == "李芳" and data["open"] == 1


def test_config_show_and_malformed_config(run) -> None:
    shown = run("config", "show", "--json").json()
    assert shown["operator"] == "王伟" and shown["shift"]["leads"] == ["陈队长", "赵主任"]
    run.config.write_text('operator = "x"\n[calendar]\nhours = ["8:30-"]\n', encoding="utf-8")
    result = run("config", "show")
    assert result.code == 2
    assert "line 3" in result.err and "calendar.hours" in result.err


def test_audit_verify_detects_tampering(run) -> None:
    number = new_case(run)["number"]
    run("incident", "register", number)
    assert run("audit", "verify").code == 0
    conn = sqlite3.connect(run.db)
    conn.execute("UPDATE events SET operator = 'mallory' WHERE id = 2")
    conn.commit()
    conn.close()
    result = run("audit", "verify")
    assert result.code == 1 and "entry 2" in result.err


def test_backup_makes_a_consistent_copy(run, tmp_path: Path) -> None:
    number = new_case(run)["number"]
    target = tmp_path / "copy.db"
    assert run("backup", str(target)).code == 0
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT number FROM incidents").fetchall() == [(number,)]
    conn.close()
    exists = run("backup", str(target))
    assert exists.code == 1 and "already exists" in exists.err


def test_newer_schema_is_refused(run) -> None:
    run("init")
    conn = sqlite3.connect(run.db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    result = run("incident", "list")
    assert result.code == 1 and "schema version 99" in result.err


def test_demo_builds_and_reports_where(tmp_path: Path, capsys) -> None:
    target = tmp_path / "data" / "demo.db"
    main(["demo", "--db", str(target), "--cases", "40"])
    out = capsys.readouterr().out
    assert str(target) in out and target.exists()
    # Only its owner reads the demo's files, like any database's.
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    main(["demo", "--db", str(target)])
    assert "already at" in capsys.readouterr().out
    main(["--db", str(target), "audit", "verify"])
    assert "intact" in capsys.readouterr().out
    # A rebuild is a new history: its head is signed afresh, the old head file does not
    # stand against it.
    main(["demo", "--db", str(target), "--cases", "20", "--force"])
    capsys.readouterr()
    main(["--db", str(target), "audit", "verify", "--json"])
    verified = json.loads(capsys.readouterr().out)
    assert verified["ok"] and verified["checkpoints"] == 1, verified
    # The demo street breaks the grid rules exactly where it was built to: one undersized
    # grid and one small gap, nothing else.
    with pytest.raises(SystemExit) as checked:
        main(["--db", str(target), "grid", "check", "--json"])
    assert checked.value.code == 1
    report = json.loads(capsys.readouterr().out)
    assert [(v["code"], v["where"][-1]) for v in report["problems"]] == [
        ("scale", "G10"),
        ("coverage", "G24"),
    ]
    assert report["problems"][1]["figure"] < 2000  # m²: a small gap, not a missing strip


def test_installed_script_prints_one_line_errors(tmp_path: Path) -> None:
    """The real `dutydesk` entry point in a subprocess: no traceback, the right exit code."""
    env = {
        "DUTYDESK_DB": str(tmp_path / "s.db"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PATH": "/usr/bin:/bin",
    }
    script = [sys.executable, "-c", "from console.cli import main; main()"]
    done = subprocess.run(
        [*script, "incident", "register", "42"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "dutydesk: no case 42"
    ok = subprocess.run(
        [*script, "incident", "list", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["items"] == []


def test_demo_flag_builds_the_demo_and_never_opens_dutydesk_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dutydesk --demo` opens the demo file, even when DUTYDESK_DB names the real database."""
    import console.tui.app

    opened: list[Path] = []
    monkeypatch.setattr(console.tui.app, "run_console", lambda ctx: opened.append(ctx.db_path))
    real = tmp_path / "real.db"
    monkeypatch.setenv("DUTYDESK_DB", str(real))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    main(["--demo"])
    assert opened == [tmp_path / "data" / "dutydesk" / "demo.db"]
    assert opened[0].exists() and not real.exists()
    main([])
    assert opened[-1] == real
