"""``dutydesk tree ...``: build, show, check exit codes, add/edit/remove, import/export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contacts.people import NewPerson, add_person
from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock
from store.db import connect
from tests.conftest import START
from tests.support.town import COM, TOWN


@pytest.fixture
def seeded(run):
    """A township, a community with its secretary, grid G01 with a leader and a member."""
    db = connect(run.db)
    clock = FixedClock(START)
    add_unit(db, clock, "t", NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, "t", NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, "t", NewUnit("G01", "一网格", "grid", parent=COM))
    for key, unit, role, phone in (
        ("A", TOWN, "duty_officer", "13800138001"),
        ("SEC", COM, "community_secretary", "13800138003"),
        ("L1", "G01", "grid_leader", "13800138004"),
        ("M1", "G01", "grid_member", "13800138005"),
    ):
        add_person(db, clock, "t", NewPerson(key, unit, phone, roles=[role]), key=key)
    db.close()
    return run


def test_build_show_and_check(seeded) -> None:
    built = seeded("tree", "build")
    assert built.code == 0, built.err
    assert "4 node(s)" in built.out
    again = seeded("tree", "build")
    assert again.code == 2 and "already exists" in again.err
    shown = seeded("tree", "show", "--json")
    data = shown.json()
    codes = [(n["code"], n["depth"]) for n in data["nodes"]]
    assert codes == [("root", 0), (f"com-{COM}", 1), ("grid-G01", 2), ("grid-G01-members", 3)]
    leader = data["nodes"][2]
    assert leader["alternates"] == [f"role:community_secretary@{COM}"]
    assert leader["people"] == [{"id": 3, "key": "L1", "name": "L1", "phone": "138****8004"}]
    text = seeded("tree", "show", "grid-G01")
    assert "138****8004" in text.out and "13800138004" not in text.out
    assert "root" not in text.out
    ok = seeded("tree", "check")
    assert ok.code == 0 and "no problems" in ok.out


def test_check_exits_1_with_one_line_per_problem(seeded) -> None:
    seeded("tree", "build")
    added = seeded("tree", "add", "x", "--parent", "root", "--ref", "role:volunteer@G01")
    assert added.code == 0, added.err
    checked = seeded("tree", "check")
    assert checked.code == 1
    assert checked.out.splitlines() == [
        "reaches nobody: x (一网格 志愿者) role:volunteer@G01 resolves to nobody"
    ]
    as_json = seeded("tree", "check", "--json")
    assert as_json.code == 1
    assert as_json.json() == {
        "ok": False,
        "problems": [
            {
                "code": "nobody",
                "message": "x (一网格 志愿者) role:volunteer@G01 resolves to nobody",
                "where": "x",
            }
        ],
    }


def test_add_edit_remove(seeded) -> None:
    seeded("tree", "build")
    bad = seeded("tree", "add", "y", "--parent", "root", "--kind", "role", "--ref", "boss@G01")
    assert bad.code == 2 and bad.err.startswith("dutydesk: ref: unknown role")
    added = seeded(
        "tree",
        "add",
        "y",
        "--parent",
        "grid-G01",
        "--kind",
        "person",
        "--ref",
        "SEC",
        "--timeout",
        "60",
        "--alternate",
        "post:DO",
    )
    assert added.code == 2 and "no post" in added.err
    added = seeded(
        "tree",
        "add",
        "y",
        "--parent",
        "grid-G01",
        "--kind",
        "person",
        "--ref",
        "SEC",
        "--timeout",
        "60",
        "--alternate",
        "person:A",
    )
    assert added.code == 0, added.err
    cycle = seeded("tree", "edit", f"com-{COM}", "--parent", "y")
    assert cycle.code == 2 and "cycle" in cycle.err
    edited = seeded("tree", "edit", "y", "--repeats", "3", "--no-alternates", "--parent", "root")
    assert edited.code == 0, edited.err
    node = next(n for n in seeded("tree", "show", "--json").json()["nodes"] if n["code"] == "y")
    assert (node["repeats"], node["alternates"], node["parent"], node["timeout_s"]) == (
        3,
        [],
        "root",
        60,
    )
    refused = seeded("tree", "remove", "grid-G01")
    assert refused.code == 2 and "below it" in refused.err
    removed = seeded("tree", "remove", "grid-G01", "--cascade")
    assert removed.code == 0 and "2 node(s) removed" in removed.out
    missing = seeded("tree", "show", "grid-G01")
    assert missing.code == 2 and "no node grid-G01" in missing.err


def test_export_then_import(seeded, tmp_path: Path) -> None:
    seeded("tree", "build", "--timeout", "90")
    out = tmp_path / "tree.json"
    exported = seeded("tree", "export", str(out))
    assert exported.code == 0 and "4 node(s)" in exported.out
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["code"] == "root" and data["timeout_s"] == 90
    imported = seeded("tree", "import", str(out), "--tree", "copy")
    assert imported.code == 0, imported.err
    copy = seeded("tree", "show", "--tree", "copy", "--json").json()["nodes"]
    assert [n["code"] for n in copy] == [
        n["code"] for n in seeded("tree", "show", "--json").json()["nodes"]
    ]
    data["children"][0]["children"][0]["ref"] = "grid_leader@G77"
    out.write_text(json.dumps(data), encoding="utf-8")
    refused = seeded("tree", "import", str(out), "--tree", "copy", "--replace")
    assert refused.code == 2
    assert refused.err.strip() == "dutydesk: node grid-G01 ref: no unit G77"
    assert len(seeded("tree", "show", "--tree", "copy", "--json").json()["nodes"]) == 4
