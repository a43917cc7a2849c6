"""``dutydesk calendar show``: a month's days as the time limits count them; and ``--demo`` on
every command (the demo database, never the other, empty one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from console.demo import build_demo
from store.db import connect
from tests.cli.conftest import Result


def test_national_day_month_as_a_grid_with_names(run) -> None:
    result = run("calendar", "show", "2026-10")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("2026-10") and "chinesecalendar" in lines[0]
    header = lines[2].split()
    assert header == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    first_week = lines[3]
    assert first_week.split() == ["1*", "2*", "3*", "4*"]  # Thursday 10-01 to Sunday 10-04
    assert first_week.index("1*") == lines[2].index("Thu") + 2  # under its weekday's end
    assert lines[4].split() == ["5*", "6*", "7*", "8", "9", "10+", "11"]
    assert "worked: 18 days" in result.out
    assert "10-01 Thu  holiday  National Day" in result.out
    assert "10-10 Sat  make-up workday  National Day" in result.out
    assert "warning" not in result.out


def test_chinese_names_and_local_overrides(run) -> None:
    run.config.write_text(
        'operator = "王伟"\n[calendar]\nholidays = [2026-10-12]\nextra_workdays = [2026-10-07]\n',
        encoding="utf-8",
    )
    result = run("--lang", "zh_CN", "calendar", "show", "2026-10")
    assert result.code == 0, result.err
    assert "国庆节" in result.out
    week = next(line for line in result.out.splitlines() if line.split()[:1] == ["5*"])
    assert week.split()[2] == "7!"  # officially off, worked here: marked as the office's own
    assert "12*!" in result.out
    data = run("calendar", "show", "2026-10", "--json").json()
    by_date = {d["date"]: d for d in data["days"]}
    assert by_date["2026-10-07"] == {
        "date": "2026-10-07",
        "weekday": 3,
        "kind": "workday",
        "worked": True,
        "source": "local",
        "holiday": "national_day",
        "overridden": True,
        "official": True,
    }
    assert by_date["2026-10-12"]["kind"] == "holiday" and by_date["2026-10-12"]["overridden"]


def test_json_keeps_codes(run) -> None:
    data = run("calendar", "show", "2026-10", "--json").json()
    assert data["month"] == "2026-10"
    assert data["official"]["enabled"] is True and data["official"]["covered"] is True
    assert data["official"]["last_year"] == 2026
    days = data["days"]
    assert len(days) == 31
    assert days[0]["kind"] == "holiday" and days[0]["holiday"] == "national_day"
    assert days[9]["kind"] == "makeup_workday" and days[9]["worked"] is True
    assert days[10]["kind"] == "weekend" and days[10]["source"] == "week"
    assert sum(d["worked"] for d in days) == 18


def test_a_year_the_package_does_not_cover_says_what_is_counted(run) -> None:
    result = run("calendar", "show", "2027-01")
    assert result.code == 0
    assert "official holidays: not known" in result.out.splitlines()[0]
    assert "warning: 2027 is not in the official holiday calendar" in result.out
    data = run("calendar", "show", "2027-01", "--json").json()
    assert data["official"]["covered"] is False
    assert data["days"][0]["official"] is False and data["days"][0]["kind"] == "workday"


@pytest.mark.parametrize(
    ("month", "words"),
    [
        ("2026-13", "is not a month"),
        ("october", "is not a month"),
        ("2026-10-01", "is not a month"),
        ("9999-01", "from 1970 to 2199"),
    ],
)
def test_a_bad_month_is_exit_2(run, month: str, words: str) -> None:
    result = run("calendar", "show", month)
    assert result.code == 2
    assert result.err.startswith("dutydesk: MONTH: ") and words in result.err
    assert result.out == ""


# ---- --demo on every command ------------------------------------------------------------


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user data directory in tmp_path holding a small demo database; no DUTYDESK_DB."""
    monkeypatch.delenv("DUTYDESK_DB", raising=False)
    monkeypatch.setenv("DUTYDESK_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    demo = tmp_path / "data" / "dutydesk" / "demo.db"
    build_demo(demo, cases=6)
    return demo


def cases(path: Path) -> int:
    """How many cases the database at ``path`` holds (6 logged, and the demo's special ones)."""
    db = connect(path)
    try:
        return db["incidents"].count
    finally:
        db.close()


def call(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def test_demo_flag_works_on_a_command(
    desk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dutydesk --demo incident list` lists the demo's cases; without --demo the command
    says that it makes a new, empty database, and that the demo is one flag away."""
    shown = call(capsys, "--demo", "incident", "list", "--json", "--all")
    assert shown.code == 0, shown.err
    assert len(shown.json()["items"]) == cases(desk) >= 6
    assert shown.err == ""
    real = tmp_path / "data" / "dutydesk" / "dutydesk.db"
    assert not real.exists()
    empty = call(capsys, "incident", "list", "--json")
    assert empty.code == 0 and empty.json()["items"] == []
    assert "--demo" in empty.err and "dutydesk --demo incident" in empty.err
    again = call(capsys, "incident", "list", "--json")  # it exists now: nothing more to say
    assert again.err == ""


def test_demo_flag_never_opens_the_database_dutydesk_db_names(
    desk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real.db"
    monkeypatch.setenv("DUTYDESK_DB", str(real))
    shown = call(capsys, "--demo", "incident", "list", "--json", "--all")
    assert shown.code == 0 and len(shown.json()["items"]) == cases(desk)
    assert not real.exists()
    mine = tmp_path / "mine-demo.db"
    built = call(capsys, "--demo", "--db", str(mine), "incident", "list", "--json")
    assert built.code == 0, built.err
    assert mine.exists() and "building the demo database" in built.err
