"""``dutydesk unit ...`` and ``dutydesk grid ...`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.shapes import box
from tests.support.town import COM, TOWN


def write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def jurisdiction(run, tmp_path: Path) -> None:
    """A street, a community of 2 × 1 steps, and G01 covering it (700 households)."""
    steps = [
        ("--code", TOWN, "--name", "北山街道", "--level", "street"),
        (
            "--code",
            COM,
            "--name",
            "幸福社区",
            "--level",
            "community",
            "--parent",
            TOWN,
            "--boundary",
            write_json(tmp_path / "comm.geojson", {"type": "Feature", "geometry": box(0, 0, 2, 1)}),
        ),
        (
            "--code",
            "G01",
            "--name",
            "一网格",
            "--level",
            "grid",
            "--parent",
            COM,
            "--households",
            "700",
            "--boundary",
            write_json(tmp_path / "g01.geojson", box(0, 0, 2, 1)),
            "--address",
            "幸福路1号",
            "--address",
            "幸福路2号",
        ),
    ]
    for args in steps:
        result = run("unit", "add", *args, "--since", "2025-01-01")
        assert result.code == 0, result.err


def test_units_are_added_listed_and_shown(run, tmp_path: Path) -> None:
    jurisdiction(run, tmp_path)
    listed = run("unit", "list", "--json")
    assert listed.code == 0
    assert [(u["code"], u["level"], u["parent"]) for u in listed.json()["items"]] == [
        (TOWN, "township", None),
        (COM, "community", TOWN),
        ("G01", "grid", COM),
    ]
    grids = run("unit", "list", "--level", "grid", "--parent", COM, "--json").json()["items"]
    assert [u["code"] for u in grids] == ["G01"]
    shown = run("unit", "show", COM, "--json").json()
    assert [c["code"] for c in shown["children"]] == ["G01"]
    assert shown["boundary"]["type"] == "Polygon"
    human = run("unit", "show", "G01")
    assert human.out.startswith("G01  一网格  (grid)\n")
    assert "households: 700" in human.out and "幸福路2号" in human.out
    table = run("unit", "list")
    assert "幸福社区" in table.out and "3 unit(s)" in table.out


def test_bad_unit_input_is_one_line_naming_the_field(run, tmp_path: Path) -> None:
    jurisdiction(run, tmp_path)
    for args, says in (
        (("--code", "G02", "--name", "二", "--level", "grid", "--parent", TOWN), "parent:"),
        (("--code", "123", "--name", "社区", "--level", "community"), "code:"),
        (("--code", "G02", "--name", "二", "--level", "grid", "--boundary", "nope.json"), "nope"),
    ):
        result = run("unit", "add", *args)
        assert result.code == 2, args
        assert result.err.count("\n") == 1 and says in result.err, result.err
    assert run("unit", "show", "G99").err == "dutydesk: no unit G99\n"
    assert run("unit", "list", "--level", "block").code == 2


def test_an_invalid_boundary_is_kept_with_a_warning(run, tmp_path: Path) -> None:
    jurisdiction(run, tmp_path)
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[120, 30], [120.001, 30.001], [120.001, 30], [120, 30.001], [120, 30]]],
    }
    result = run(
        "unit", "add", "--code", "G02", "--name", "二", "--level", "grid", "--parent", COM,
        "--boundary", write_json(tmp_path / "bad.geojson", bowtie),
    )  # fmt: skip
    assert result.code == 0
    assert "warning: boundary of G02: polygon is not valid: Self-intersection" in result.err


def test_grid_check_exit_codes_and_json(run, tmp_path: Path) -> None:
    jurisdiction(run, tmp_path)
    dirty = run("grid", "check")
    assert dirty.code == 1
    assert dirty.out.splitlines() == [
        "moderate scale: grid 一网格 (G01) has 700 households, above the maximum 500",
        "1 violation(s)",
    ]
    report = run("grid", "check", "--json", "--community", COM)
    assert report.code == 1
    assert report.json()["problems"][0]["figure"] == 700.0
    run.config.write_text("[grid]\nhouseholds_max = 800\n", encoding="utf-8")
    clean = run("grid", "check")
    assert (clean.code, clean.out) == (0, "all grid rules hold\n")
    assert "Exit status: 0 when every rule holds, 1 when" in run("grid", "check", "--help").out
    assert '"cases": ["2026-000042"' in run("grid", "split", "--help").out


def test_split_and_merge_from_spec_files(run, tmp_path: Path) -> None:
    jurisdiction(run, tmp_path)
    case = run(
        "incident", "new", "--title", "漏水", "--category", "facilities", "--grid", "G01",
        "--lat", "30.0005", "--lon", "120.0015", "--json",
    ).json()  # fmt: skip
    parts = [
        {"code": "G01A", "name": "西", "boundary": box(0, 0, 1, 1), "households": 350,
         "addresses": ["幸福路1号"]},
        {"code": "G01B", "name": "东", "boundary": box(1, 0, 2, 1), "households": 350,
         "addresses": ["幸福路2号"]},
    ]  # fmt: skip
    spec = write_json(tmp_path / "split.json", parts)
    split = run("grid", "split", "G01", "--into", spec, "--effective", "2025-03-01", "--json")
    assert split.code == 0, split.err
    assert split.json()["cases_moved"] == {case["number"]: "G01B"}
    assert run("grid", "check").code == 0
    history = run("unit", "list", "--all", "--json").json()["items"]
    assert {u["code"]: u["successors"] for u in history}["G01"] == ["G01A", "G01B"]
    grids = run("unit", "list", "--level", "grid", "--json").json()["items"]
    assert [u["code"] for u in grids] == ["G01A", "G01B"]
    assert run("incident", "show", case["number"], "--json").json()["grid"] == "G01B"

    merged_spec = write_json(tmp_path / "merge.json", {"code": "G01C", "name": "一网格"})
    merged = run(
        "grid", "merge", "G01A", "G01B", "--into", merged_spec, "--effective", "2025-04-01"
    )
    assert merged.code == 0, merged.err
    assert merged.out == "G01A, G01B → G01C: 2 address(es) and 1 open case(s) moved\n"
    shown = run("unit", "show", "G01C", "--json").json()
    assert shown["predecessors"] == ["G01A", "G01B"] and shown["open_cases"] == 1
    assert run("audit", "verify").code == 0


def test_bad_spec_files_name_the_file(run, tmp_path: Path) -> None:
    jurisdiction(run, tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    result = run("grid", "split", "G01", "--into", str(broken), "--effective", "2025-03-01")
    assert result.code == 2 and "broken.json is not JSON" in result.err
    spec = write_json(tmp_path / "one.json", [{"code": "G01A"}])
    result = run("grid", "split", "G01", "--into", spec, "--effective", "2025-03-01")
    assert result.code == 2 and "one.json grid 1: 'name' (text) is required" in result.err
    spec = write_json(
        tmp_path / "two.json", [{"code": "A", "name": "a"}, {"code": "B", "name": "b"}]
    )
    result = run("grid", "split", "G01", "--into", spec, "--effective", "2025-03-01")
    assert result.code == 2 and "'幸福路1号' of grid G01 is given to no part" in result.err
    result = run("grid", "split", "G01", "--into", spec, "--effective", "soon")
    assert result.code == 2 and "effective:" in result.err
