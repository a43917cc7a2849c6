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
