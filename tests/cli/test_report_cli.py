"""``dutydesk report``: the AAR and an information report in every format, and the common
options (``--format``, ``-o``, ``--templates``, ``--unmasked``, ``--json``) with their refusals:
each exits 2 with one line naming the field and writes nothing.

The demo is built once (40 cases: the landslide's information reports, two evaluated drill
runs) and copied for each test.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from console.cli import main
from tests.cli.conftest import Result

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("demo")
    try:
        main(["demo", "--db", str(where / "demo.db"), "--cases", "40"])
    except SystemExit as exc:
        assert not exc.code
    return where


@pytest.fixture
def office(demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    for file in demo_dir.iterdir():
        shutil.copy2(file, tmp_path / file.name)
    db = tmp_path / "demo.db"
    config = tmp_path / "config.toml"
    config.write_text('operator = "王伟"\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")
    capsys.readouterr()

    def invoke(*args: str) -> Result:
        code = 0
        try:
            main(["--db", str(db), "--config", str(config), "--lang", "zh", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    invoke.db = db  # type: ignore[attr-defined]
    invoke.config = config  # type: ignore[attr-defined]
    return invoke


def one_clear_line(result: Result, field: str) -> None:
    assert result.code == 2, result
    assert result.err.count("\n") == 1 and field in result.err and "Traceback" not in result.err


def landslide_report(office: Run) -> int:
    """A sent information report of the landslide (东湖村后山山体滑坡)."""
    listed = office("sitrep", "list", "--json")
    assert listed.code == 0, listed.err
    data = json.loads(listed.out)
    items = data["items"] if isinstance(data, dict) else data
    return int(
        next(
            i["id"]
            for i in items
            if "东湖" in i["fields"].get("place", "") and i["state"] == "sent"
        )
    )


def audits(office: Run) -> int:
    with sqlite3.connect(office.db) as conn:  # type: ignore[attr-defined]
        (count,) = conn.execute(
            "SELECT count(*) FROM events WHERE kind = 'personal_data_shown'"
        ).fetchone()
    return int(count)


def test_aar_in_every_format_by_the_suffix(office: Run, tmp_path: Path) -> None:
    import docx

    for suffix in ("md", "html", "pdf", "docx"):
        out = tmp_path / f"aar.{suffix}"
        result = office("report", "aar", "1", "-o", str(out))
        assert result.code == 0, result.err
        assert str(out) in result.out
    assert "# 演练评估报告与改进计划" in (tmp_path / "aar.md").read_text(encoding="utf-8")
    html = (tmp_path / "aar.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "演练目标与评定" in html
    assert (tmp_path / "aar.pdf").read_bytes()[:5] == b"%PDF-"
    word = docx.Document(io.BytesIO((tmp_path / "aar.docx").read_bytes()))
    assert word.paragraphs[0].text.startswith("演练评估报告与改进计划") and word.tables
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".aar")]  # no temp files


def test_markdown_and_html_go_to_stdout_and_format_wins(office: Run, tmp_path: Path) -> None:
    md = office("report", "aar", "1")
    assert md.code == 0 and md.out.startswith("# 演练评估报告与改进计划")
    html = office("report", "aar", "1", "--format", "html")
    assert html.code == 0 and html.out.startswith("<!DOCTYPE html>")
    out = tmp_path / "aar.txt"
    assert office("report", "aar", "1", "--format", "html", "-o", str(out)).code == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_json_prints_the_figures_and_the_path(office: Run, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    result = office("report", "sitrep", str(landslide_report(office)), "-o", str(out), "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["kind"] == "sitrep" and data["format"] == "pdf" and data["path"] == str(out)
    assert data["masked"] is True and "东湖村后山山体滑坡" in data["title"] and out.exists()


def test_refusals_exit_2_and_write_nothing(office: Run, tmp_path: Path) -> None:
    before = audits(office)
    one_clear_line(office("report", "aar", "1", "--format", "pdf"), "output")
    one_clear_line(office("report", "aar", "1", "--format", "docx"), "output")
    one_clear_line(office("report", "aar", "999", "-o", str(tmp_path / "x.md")), "")
    one_clear_line(office("report", "aar", "1", "--unmasked"), "unmasked")
    bad = tmp_path / "tpl"
    bad.mkdir()
    (bad / "report.html.j2").write_text("<p>\n{% if %}\n", encoding="utf-8")
    target = tmp_path / "r.html"
    refused = office("report", "sitrep", str(landslide_report(office)), "--unmasked",
                     "--templates", str(bad), "-o", str(target))  # fmt: skip
    one_clear_line(refused, "templates")
    assert str(bad / "report.html.j2") in refused.err and "第 2 行" in refused.err
    one_clear_line(office("report", "aar", "1", "--templates", str(tmp_path / "none")), "templates")
    unwritable = tmp_path / "no" / "such" / "dir" / "r.md"
    one_clear_line(office("report", "aar", "1", "-o", str(unwritable)), "output")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("r.", "x.", "."))) == []
    assert audits(office) == before  # nothing shown, nothing audited


def test_sitrep_masks_a_phone_unless_unmasked_which_is_audited(office: Run) -> None:
    with sqlite3.connect(office.db) as conn:  # type: ignore[attr-defined]
        (draft,) = conn.execute("SELECT id FROM sitreps WHERE state = 'draft' LIMIT 1").fetchone()
    edited = office("sitrep", "edit", str(draft), "--field", "contact=张强 13800138000")
    assert edited.code == 0, edited.err
    masked = office("report", "sitrep", str(draft), "--format", "html")
    assert masked.code == 0, masked.err
    assert "138****8000" in masked.out and "13800138000" not in masked.out
    before = audits(office)
    shown = office("report", "sitrep", str(draft), "--unmasked")
    assert shown.code == 0 and "13800138000" in shown.out
    assert audits(office) == before + 1


def test_the_configured_template_directory_is_used(office: Run, tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "report.md.j2").write_text("本办模板 {{ doc.title }}\n", encoding="utf-8")
    config: Path = office.config  # type: ignore[attr-defined]
    config.write_text(
        config.read_text(encoding="utf-8") + '[reports]\ntemplates = "own"\n', encoding="utf-8"
    )
    result = office("report", "aar", "1")
    assert result.code == 0 and result.out.startswith("本办模板 演练评估报告与改进计划")
    config.write_text("[reports]\ntemplates = 3\n", encoding="utf-8")
    bad = office("report", "aar", "1")
    assert bad.code == 2 and "reports.templates" in bad.err


def test_drill_report_also_makes_html_and_pdf(office: Run, tmp_path: Path) -> None:
    for suffix, head in (("html", b"<!DOCTYPE html>"), ("pdf", b"%PDF-")):
        out = tmp_path / f"aar.{suffix}"
        assert office("drill", "report", "1", "-o", str(out)).code == 0
        assert out.read_bytes().startswith(head)


def test_help_lists_the_report_kinds(office: Run) -> None:
    result = office("report", "--help")
    assert result.code == 0 and "aar" in result.out and "sitrep" in result.out
