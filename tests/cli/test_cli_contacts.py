"""``dutydesk contacts import`` and ``export``: summaries, problems on stderr, exit codes."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contacts"
TOWN = "330106001000"
COMM = "330106001001"


def with_grids(run) -> None:
    for args in (
        ("--code", TOWN, "--name", "北山街道", "--level", "township"),
        ("--code", COMM, "--name", "幸福社区", "--level", "community", "--parent", TOWN),
        ("--code", "G01", "--name", "一网格", "--level", "grid", "--parent", COMM),
        ("--code", "G02", "--name", "二网格", "--level", "grid", "--parent", COMM),
    ):
        assert run("unit", "add", *args).code == 0


def test_import_prints_a_summary_and_re_import_changes_nothing(run) -> None:
    with_grids(run)
    path = str(FIXTURES / "people_zh.csv")
    first = run("contacts", "import", path)
    assert first.code == 0, first.err
    assert first.out.strip() == "people: 2 added, 0 updated, 0 unchanged, 0 skipped"
    again = run("contacts", "import", path, "--json")
    assert again.code == 0
    data = again.json()
    assert data["kinds"] == [
        {"kind": "people", "added": 0, "updated": 0, "unchanged": 2, "skipped": 0}
    ]
    assert data["written"] is True


def test_problems_go_to_stderr_and_exit_2(run) -> None:
    with_grids(run)
    path = FIXTURES / "people_bad.csv"
    result = run("contacts", "import", str(path))
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert lines[2] == f"{path}:4: column 'unit' = 'G99': unknown unit 'G99'"
    assert lines[-1] == f"{path}: 5 problem(s); nothing was written"
    assert len(lines) == 6


def test_dry_run_and_skip_invalid(run, tmp_path: Path) -> None:
    with_grids(run)
    path = tmp_path / "mixed.csv"
    path.write_text("name,unit,phone\n好人,G01,13800138000\n坏人,G99,13900139000\n")
    dry = run("contacts", "import", str(path), "--dry-run")
    assert dry.code == 2
    assert "people: 1 would be added" in dry.out
    assert "nothing was written (dry run)" in dry.err
    skip = run("contacts", "import", str(path), "--skip-invalid")
    assert skip.code == 2
    assert skip.out.strip() == "people: 1 added, 0 updated, 0 unchanged, 1 skipped"
    assert "the other rows were written" in skip.err
    again = run("contacts", "import", str(path), "--skip-invalid", "--json")
    assert again.json()["kinds"][0]["unchanged"] == 1  # type: ignore[index]


def test_export_masks_unless_unmasked(run, tmp_path: Path) -> None:
    with_grids(run)
    assert run("contacts", "import", str(FIXTURES / "people_en.csv")).code == 0
    masked = tmp_path / "masked.csv"
    result = run("contacts", "export", "people", str(masked), "--chinese-headers")
    assert result.code == 0
    assert result.out.strip() == f"3 people row(s) written to {masked} (phones masked)"
    assert "138****8000" in masked.read_text(encoding="utf-8-sig")
    refused = run("contacts", "import", str(masked))
    assert refused.code == 2 and "masked export" in refused.err
    full = tmp_path / "full.xlsx"
    assert run("contacts", "export", "people", str(full), "--unmasked").code == 0
    back = run("contacts", "import", str(full), "--json")
    assert back.code == 0
    assert back.json()["kinds"][0]["unchanged"] == 3  # type: ignore[index]


def test_an_unknown_kind_is_a_usage_error(run, tmp_path: Path) -> None:
    result = run("contacts", "export", "cats", str(tmp_path / "x.csv"))
    assert result.code == 2
    assert "cats" in result.err


def test_a_damaged_utf8_file_is_refused_naming_the_line(run, tmp_path: Path) -> None:
    with_grids(run)
    path = tmp_path / "people.csv"
    path.write_bytes("name,phone\n张伟,13800138000\n".encode() + b"\xe5A\xa0,13900139000\n")
    result = run("contacts", "import", str(path))
    assert result.code == 2 and result.out == ""
    (line,) = result.err.strip().splitlines()
    assert "line 3, byte 1 of the line" in line and "--encoding" in line
    listed = run("person", "list", "--json")
    assert listed.code == 0 and listed.json()["items"] == []


def test_a_gbk_file_says_how_it_was_read_and_encoding_decides(run) -> None:
    with_grids(run)
    path = str(FIXTURES / "people_gbk.csv")
    dry = run("contacts", "import", path, "--dry-run")
    assert dry.code == 0, dry.err
    first = dry.out.splitlines()[0]
    assert first.startswith(f"{path}: read as gb18030: GB18030/GBK: not UTF-8 (")
    wrong = run("contacts", "import", path, "--encoding", "utf-8")
    assert wrong.code == 2 and "is not valid utf-8 at line 1" in wrong.err
    right = run("contacts", "import", path, "--encoding", "gbk", "--json")
    assert right.code == 0, right.err
    data = right.json()
    assert data["encoding"] == "gbk"  # type: ignore[index]
    assert data["encoding_evidence"] == "--encoding gbk was given"  # type: ignore[index]


def test_dry_run_prints_each_change(run, tmp_path: Path) -> None:
    with_grids(run)
    assert run("contacts", "import", str(FIXTURES / "people_en.csv")).code == 0
    path = tmp_path / "changed.csv"
    path.write_text(
        "id,name,unit,phone,roles\nP002,李娜娜,G02,13900139001,grid_member\n"
        "P003,王芳,,13700137000,\n"
    )
    dry = run("contacts", "import", str(path), "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.splitlines() == [
        "people: 0 would be added, 1 would be updated, 1 unchanged, 0 skipped",
        "  people P002 (row 2): name: '李娜' -> '李娜娜'; phone: '139****9000' -> '139****9001'",
        f"{path}: no problems found; nothing was written (dry run)",
    ]
    shown = run("person", "show", "P002", "--json")
    assert shown.json()["name"] == "李娜"  # type: ignore[index]


def test_an_xlsx_bomb_is_refused_in_one_line(run, tmp_path: Path) -> None:
    import time

    from tests.support.workbooks import PEOPLE_HEADER, sheet, workbook

    path = tmp_path / "bomb.xlsx"
    path.write_bytes(workbook(sheet(PEOPLE_HEADER, dimension="A1:XFD1048576")))
    started = time.monotonic()
    result = run("contacts", "import", str(path))
    assert time.monotonic() - started < 5.0
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert "refused: the sheet declares 1048576 rows x 16384 columns" in line


def test_a_csv_export_says_which_cells_were_neutralized(run, tmp_path: Path) -> None:
    with_grids(run)
    assert run("contacts", "import", str(FIXTURES / "people_en.csv")).code == 0
    path = tmp_path / "full.csv"
    result = run("contacts", "export", "people", str(path), "--unmasked")
    assert result.code == 0
    assert result.out.splitlines()[1].startswith(
        "3 cell(s) start with = + - or @ and were written with a leading '"
    )
    assert "'+8613800138000" in path.read_text(encoding="utf-8-sig")
    back = run("contacts", "import", str(path), "--json")
    assert back.json()["kinds"][0]["unchanged"] == 3  # type: ignore[index]
