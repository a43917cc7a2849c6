"""Contact trees: the default build, resolution at a time, checks, edits, import and export."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from console.demo import build_demo
from contacts.people import deactivate_person
from jurisdiction.units import NewUnit, add_unit
from mobilization.trees import (
    NodeRef,
    add_node,
    build_default_tree,
    check_tree,
    children,
    edit_node,
    export_tree,
    get_node,
    get_tree,
    import_tree,
    levels,
    remove_node,
    resolve,
)
from store.clock import FixedClock
from store.db import connect
from store.errors import ImportRejected, InvalidInput, NotFound
from tests.conftest import OPERATOR, START, events_count
from tests.support.town import COM, TOWN, person


def keys(people: list[Any]) -> list[str]:
    return [p.key for p in people]


def test_default_tree_follows_the_jurisdiction(town: Database, clock: FixedClock) -> None:
    before = events_count(town)
    nodes = build_default_tree(town, clock, OPERATOR)
    assert events_count(town) == before + 1
    by_code = {n.code: n for n in nodes}
    assert by_code["root"].node_ref == NodeRef("post", "DO")
    assert by_code["root"].parent_code is None
    assert by_code[f"com-{COM}"].parent_code == "root"
    leader = by_code["grid-G01"]
    assert leader.parent_code == f"com-{COM}"
    assert leader.ref == "grid_leader@G01"
    assert leader.alternates == (NodeRef("role", f"community_secretary@{COM}"),)
    assert [c.code for c in children(town, "default", "grid-G01")] == [
        "grid-G01-members",
        "grid-G01-volunteers",
    ]
    # G02 has a leader only: no empty members/volunteers leaves are built.
    assert children(town, "default", "grid-G02") == []
    assert by_code["team-T-RESCUE"].parent_code == "root"
    assert by_code["team-T-RESCUE-members"].parent_code == "team-T-RESCUE"
    shape = [[n.code for n in level] for level in levels(nodes)]
    assert shape == [
        ["root"],
        [f"com-{COM}", "team-T-RESCUE"],
        ["grid-G01", "grid-G02", "team-T-RESCUE-members"],
        ["grid-G01-members", "grid-G01-volunteers"],
    ]
    assert all(n.timeout_s == 300 and n.repeats == 1 for n in nodes)


def test_build_refuses_to_overwrite_unless_replace(town: Database, clock: FixedClock) -> None:
    build_default_tree(town, clock, OPERATOR)
    with pytest.raises(InvalidInput, match="already exists"):
        build_default_tree(town, clock, OPERATOR)
    nodes = build_default_tree(town, clock, OPERATOR, timeout_s=60, repeats=3, replace=True)
    assert {(n.timeout_s, n.repeats) for n in nodes} == {(60, 3)}
    assert len(get_tree(town, "default")) == len(nodes)


def test_root_falls_back_to_the_township_duty_officers(db: Database, clock: FixedClock) -> None:
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    person(db, clock, "A", TOWN, "duty_officer", "13800138001")
    nodes = build_default_tree(db, clock, OPERATOR)
    assert nodes[0].node_ref == NodeRef("role", f"duty_officer@{TOWN}")
    assert keys(resolve(db, nodes[0], clock.now())) == ["A"]


def test_a_post_resolves_to_its_holder_at_each_time(town: Database, clock: FixedClock) -> None:
    root = build_default_tree(town, clock, OPERATOR)[0]
    assert keys(resolve(town, root, START)) == ["A"]
    assert keys(resolve(town, root, START + timedelta(days=1))) == ["B"]


def test_roles_resolve_to_active_people_only(town: Database, clock: FixedClock) -> None:
    ref = NodeRef("role", "grid_member@G01")
    assert keys(resolve(town, ref, START)) == ["M1", "M2"]
    deactivate_person(town, clock, OPERATOR, "M2", "moved away")
    assert keys(resolve(town, ref, START)) == ["M1"]
    # Team members leave out the leader, who has a node of their own.
    assert keys(resolve(town, NodeRef("role", "team_member@T-RESCUE"), START)) == ["V1"]
    assert keys(resolve(town, NodeRef("role", "team_leader@T-RESCUE"), START)) == ["M1"]


def test_check_finds_nobody_no_channel_and_cycles(town: Database, clock: FixedClock) -> None:
    build_default_tree(town, clock, OPERATOR)
    assert check_tree(town, "default", START) == []
    deactivate_person(town, clock, OPERATOR, "L2", "left")
    person(town, clock, "MUTE", "G01", "grid_member", None)
    problems = check_tree(town, "default", START)
    assert [(p.kind, p.node_code) for p in problems] == [
        ("nobody", "grid-G02"),
        ("no_channel", "grid-G01-members"),
    ]
    assert "MUTE" in problems[1].message
    # A cycle can only come from data edited behind the tool's back.
    g1, com = get_node(town, "default", "grid-G01"), get_node(town, "default", f"com-{COM}")
    town.conn.execute("UPDATE tree_nodes SET parent_id = ? WHERE id = ?", (g1.id, com.id))
    kinds = {(p.kind, p.node_code) for p in check_tree(town, "default", START)}
    assert ("cycle", f"com-{COM}") in kinds
    assert ("orphan", "grid-G01-members") in kinds
    assert all(n.code != "grid-G01" for level in levels(get_tree(town)) for n in level)


def test_edit_refuses_a_cycle_and_audits_changes(town: Database, clock: FixedClock) -> None:
    build_default_tree(town, clock, OPERATOR)
    with pytest.raises(InvalidInput, match="cycle"):
        edit_node(town, clock, OPERATOR, "default", f"com-{COM}", parent="grid-G01-members")
    with pytest.raises(InvalidInput, match="cycle"):
        edit_node(town, clock, OPERATOR, "default", "root", parent="grid-G01")
    before = events_count(town)
    node = edit_node(
        town,
        clock,
        OPERATOR,
        "default",
        "grid-G02",
        parent="root",
        timeout_s=120,
        repeats=2,
        alternates=["post:DO", "person:SEC"],
    )
    assert (node.parent_code, node.timeout_s, node.repeats) == ("root", 120, 2)
    assert node.alternates == (NodeRef("post", "DO"), NodeRef("person", "SEC"))
    kind, data = town.conn.execute(
        "SELECT kind, data FROM events ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert events_count(town) == before + 1
    assert kind == "tree_node_edited"
    assert json.loads(data)["changes"]["parent"] == {"old": f"com-{COM}", "new": "root"}
    with pytest.raises(InvalidInput, match="alternate"):
        edit_node(town, clock, OPERATOR, "default", "grid-G02", alternates=["role:boss@G01"])


def test_add_and_remove_nodes(town: Database, clock: FixedClock) -> None:
    build_default_tree(town, clock, OPERATOR)
    added = add_node(
        town,
        clock,
        OPERATOR,
        "default",
        "g01-extra",
        NodeRef("person", "13800138003"),
        parent="grid-G01",
    )
    assert (added.ref, added.label, added.position) == ("SEC", "SEC", 2)
    with pytest.raises(InvalidInput, match="root already"):
        add_node(town, clock, OPERATOR, "default", "second", NodeRef("post", "DO"))
    with pytest.raises(InvalidInput, match="already has a node"):
        add_node(
            town, clock, OPERATOR, "default", "g01-extra", NodeRef("post", "DO"), parent="root"
        )
    with pytest.raises(InvalidInput, match="below it"):
        remove_node(town, clock, OPERATOR, "default", "grid-G01")
    assert get_node(town, "default", "grid-G01")
    removed = remove_node(town, clock, OPERATOR, "default", "grid-G01", cascade=True)
    assert sorted(removed) == sorted(
        ["grid-G01", "grid-G01-members", "grid-G01-volunteers", "g01-extra"]
    )
    with pytest.raises(NotFound):
        get_node(town, "default", "g01-extra")


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


GOOD = {
    "code": "top",
    "kind": "post",
    "ref": "DO",
    "label": "值班员",
    "alternates": ["person:SEC"],
    "children": [
        {"code": "g1", "kind": "role", "ref": "grid_leader@G01", "timeout_s": 60, "repeats": 0},
        {"code": "g2", "kind": "role", "ref": "grid_leader@G02"},
    ],
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ref": "grid_leader@G99"}, "node g2 ref: no unit G99"),
        ({"ref": "boss@G02"}, "node g2 ref: unknown role"),
        ({"kind": "team"}, "node g2 kind"),
        ({"code": "g1"}, "node g1 code: the code g1 is used by two nodes"),
        ({"timeout_s": 0}, "node g2 timeout_s"),
        ({"repeats": "2"}, "node g2 repeats"),
        ({"alternates": ["person:NOBODY"]}, "node g2 alternates: no person NOBODY"),
        ({"alternates": ["G01"]}, "node g2 alternates"),
    ],
)
def test_import_names_node_and_field_and_writes_nothing(
    town: Database, clock: FixedClock, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["children"][1].update(change)
    before = events_count(town)
    with pytest.raises(ImportRejected) as refused:
        import_tree(town, clock, OPERATOR, "t", write_json(tmp_path / "bad.json", bad))
    assert str(refused.value).startswith(expected)
    assert get_tree(town, "t") == []
    assert events_count(town) == before


def test_import_then_export_round_trips(town: Database, clock: FixedClock, tmp_path: Path) -> None:
    nodes = import_tree(town, clock, OPERATOR, "t", write_json(tmp_path / "t.json", GOOD))
    assert [n.code for n in nodes] == ["top", "g1", "g2"]
    assert nodes[1].timeout_s == 60 and nodes[1].repeats == 0
    assert nodes[2].label == "G02网格 网格长"
    with pytest.raises(InvalidInput, match="already exists"):
        import_tree(town, clock, OPERATOR, "t", tmp_path / "t.json")
    build_default_tree(town, clock, OPERATOR)
    assert export_tree(town, "default", tmp_path / "out.json") == len(get_tree(town))
    copied = import_tree(town, clock, OPERATOR, "copy", tmp_path / "out.json")
    strip = [
        (n.code, n.parent_code, n.kind, n.ref, n.label, n.alternates, n.timeout_s, n.repeats)
        for n in get_tree(town)
    ]
    assert [
        (n.code, n.parent_code, n.kind, n.ref, n.label, n.alternates, n.timeout_s, n.repeats)
        for n in copied
    ] == strip


def test_import_rejects_what_is_not_json(town: Database, clock: FixedClock, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ImportRejected, match="not JSON"):
        import_tree(town, clock, OPERATOR, "t", path)


def test_demo_default_tree_reaches_somebody_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    build_demo(path, cases=20, now=START)
    db = connect(path)
    try:
        clock = FixedClock(START)
        # The demo has a tree already (its drills ran on it): build it afresh, as an office would.
        nodes = build_default_tree(db, clock, OPERATOR, replace=True)
        assert len(nodes) > 40 + 6
        problems = check_tree(db, "default", START)
        assert not [p for p in problems if p.kind in ("nobody", "cycle")]
        assert resolve(db, nodes[0], START)
    finally:
        db.close()


def test_a_role_node_resolves_every_holder_beyond_one_page(
    town: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mobilization.trees as trees

    monkeypatch.setattr(trees, "RESOLVE_PAGE", 1)
    members = resolve(town, NodeRef("role", "grid_member@G01"), START)
    assert keys(members) == ["M1", "M2"]
