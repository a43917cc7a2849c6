"""``dutydesk report duty-log`` and ``dutydesk report stats`` on a small database.

The CLI runs on the system clock: "today" is the office's day (Asia/Shanghai) now, when the
test's cases were logged.
"""

from __future__ import annotations

from pathlib import Path


def new_case(run, title: str = "3号楼火灾") -> None:
    logged = run("incident", "new", "--title", title, "--category", "accident-disaster")
    assert logged.code == 0, logged.err


def test_stats_json_counts_today(run) -> None:
    new_case(run)
    new_case(run, "幸福社区物业纠纷")
    result = run("report", "stats", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    assert data["cases"] == 2
    assert data["per_category"] == {"accident_disaster": 2}
    assert set(data["stages"]) == {"registration", "dispatch", "handling", "closing"}


def test_stats_markdown_to_stdout(run) -> None:
    new_case(run)
    result = run("report", "stats", "--by", "category", "--format", "md")
    assert result.code == 0, result.err
    assert "On-time rate per stage" in result.out
    assert "Per category" in result.out


def test_duty_log_writes_html(run, tmp_path: Path) -> None:
    new_case(run, "南苑社区山体滑坡隐患")
    out = tmp_path / "log.html"
    result = run("report", "duty-log", "-o", str(out))
    assert result.code == 0, result.err
    page = out.read_text(encoding="utf-8")
    assert "南苑社区山体滑坡隐患" in page
    assert "duty officer" in page


def test_refusals_exit_2_and_write_nothing(run, tmp_path: Path) -> None:
    bad = run("report", "stats", "--from", "2026-13-01")
    assert bad.code == 2 and "from" in bad.err
    backwards = run("report", "stats", "--from", "2026-11-30", "--to", "2026-11-01")
    assert backwards.code == 2 and "Traceback" not in backwards.err
    pdf = run("report", "duty-log", "--format", "pdf")
    assert pdf.code == 2 and "output" in pdf.err
    day = run("report", "duty-log", "--date", "yesterday", "-o", str(tmp_path / "x.md"))
    assert day.code == 2
    assert not (tmp_path / "x.md").exists()


def test_hub_stats_lists_the_townships(run) -> None:
    added = run("hub", "unit", "add", "330106001000", "--name", "城关镇")
    assert added.code == 0, added.err
    result = run("report", "stats", "--hub", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    assert [u["name"] for u in data["units"]] == ["城关镇"]
    refused = run("report", "stats", "--hub", "--by", "grid")
    assert refused.code == 2 and "by" in refused.err
