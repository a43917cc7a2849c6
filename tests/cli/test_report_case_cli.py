"""``dutydesk report case|lesson|action``: the post-incident report from the command line.

The deterministic case of :mod:`tests.support.case_report` is built in the test database on a
clock that then stands still; the wall clock is that clock. Refusals exit 2 with one line naming
the field and write nothing.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from incidents.limits import Policy
from store.clock import FixedClock, SystemClock
from store.db import connect
from tests.support.case_report import build_report_case

CASE = "2026-000001"


@pytest.fixture
def office(run: Any, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    db = connect(run.db)
    build_report_case(db, clock, Policy())
    db.close()
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())
    return run


def _events(path: Path, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
        return [json.loads(r[0]) for r in rows]


def test_the_report_goes_to_stdout_as_markdown_masked(office: Any) -> None:
    result = office("report", "case", CASE)
    assert result.code == 0, result.err
    assert result.out.startswith(f"# Post-incident report: {CASE} 东湖村后山山体滑坡")
    assert "## Activity log" in result.out and "13900139000" not in result.out
    assert _events(office.db, "personal_data_shown") == []


def test_a_file_by_its_suffix_and_the_key_figures_as_json(office: Any, tmp_path: Path) -> None:
    target = tmp_path / "case.html"
    result = office("report", "case", CASE, "-o", str(target), "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["format"] == "html" and data["path"] == str(target) and data["masked"] is True
    assert data["figures"][0] == {"label": "Stages on time", "value": "6/8", "note": ""}
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "东湖村后山山体滑坡" in page


def test_unmasked_is_audited_before_the_file_is_written(office: Any, tmp_path: Path) -> None:
    target = tmp_path / "case.md"
    result = office("report", "case", CASE, "--unmasked", "-o", str(target))
    assert result.code == 0, result.err
    assert "13900139000" in target.read_text(encoding="utf-8")
    (audit,) = _events(office.db, "personal_data_shown")
    assert audit["command"] == "report case" and audit["cases"] == [CASE]


def test_pdf_needs_an_output_file(office: Any) -> None:
    result = office("report", "case", CASE, "--format", "pdf")
    assert result.code == 2
    assert "output" in result.err and "Traceback" not in result.err
    assert result.out == ""


def test_an_unknown_case_is_one_line(office: Any) -> None:
    result = office("report", "case", "2026-999999")
    assert result.code != 0 and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_lessons_and_actions_are_added_and_shown(office: Any) -> None:
    lesson = office("report", "lesson", CASE, "预警短信应提前发送", "--json")
    assert lesson.code == 0, lesson.err
    assert lesson.json()["case"] == CASE
    action = office(
        "report", "action", CASE, "修订应急预案", "--owner", "应急办", "--due", "2026-12-31"
    )
    assert action.code == 0, action.err
    assert CASE in action.out
    report = office("report", "case", CASE).out
    assert "预警短信应提前发送" in report
    assert "| 修订应急预案 | 应急办 | 2026-12-31 00:00 |" in report
    assert _events(office.db, "follow_up_action")[-1]["due"] == "2026-12-30T16:00:00Z"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("report", "lesson", CASE, "  "), "text"),
        (("report", "action", CASE, "x", "--due", "someday"), "due"),
        (("report", "action", CASE, "x", "--owner", "a\tb"), "owner"),
    ],
)
def test_refusals_exit_2_naming_the_field(office: Any, args: tuple[str, ...], field: str) -> None:
    before = len(_events(office.db, "lesson")) + len(_events(office.db, "follow_up_action"))
    result = office(*args)
    assert result.code == 2
    assert field in result.err and "Traceback" not in result.err
    after = len(_events(office.db, "lesson")) + len(_events(office.db, "follow_up_action"))
    assert after == before
