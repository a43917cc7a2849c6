"""Emergency teams: kinds, members in several teams, the leader always a member, audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlite_utils import Database

from contacts.people import NewPerson, Person, add_person, deactivate_person
from contacts.teams import (
    TeamKind,
    add_member,
    add_team,
    get_team,
    list_teams,
    remove_member,
    set_leader,
    team_to_json,
)
from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock
from store.errors import InvalidInput, NotFound
from tests.conftest import OPERATOR, events_count

TOWN = "330106001000"


@pytest.fixture
def people(db: Database, clock: FixedClock) -> dict[str, Person]:
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    return {
        name: add_person(db, clock, OPERATOR, NewPerson(name=name, unit=TOWN, phone=phone))
        for name, phone in (
            ("张伟", "13800138000"),
            ("李娜", "13900139000"),
            ("王强", "13700137000"),
        )
    }


def last_event(db: Database) -> tuple[str, dict[str, Any]]:
    kind, data = db.conn.execute(
        "SELECT kind, data FROM events ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return kind, json.loads(data)


def test_kinds_have_chinese_labels_and_parse() -> None:
    assert [k.label_zh for k in TeamKind] == [
        "救援队",
        "医疗队",
        "消防志愿队",
        "防汛抢险队",
        "治安巡逻队",
        "其他",
    ]
    # Shown in the current language (English in tests); the Chinese labels stay input.
    assert TeamKind.MEDICAL.label == "medical team"
    assert TeamKind.OTHER.label == "other"
    assert TeamKind.parse("flood-control") is TeamKind.FLOOD_CONTROL
    assert TeamKind.parse("医疗队") is TeamKind.MEDICAL
    with pytest.raises(ValueError, match="unknown team kind"):
        TeamKind.parse("navy")


def test_add_team_with_leader_makes_them_a_member(
    db: Database, clock: FixedClock, people: dict[str, Person]
) -> None:
    team = add_team(db, clock, OPERATOR, "JY01", "城关救援队", "救援队", unit=TOWN, leader="张伟")
    assert team.kind is TeamKind.RESCUE
    assert team.unit_code == TOWN
    assert team.leader is not None and team.leader.id == people["张伟"].id
    assert [m.name for m in team.members] == ["张伟"]
    kind, data = last_event(db)
    assert kind == "team_added"
    assert data["leader"] == {"person_id": people["张伟"].id, "name": "张伟"}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"code": "bad code"}, "code"),
        ({"name": " "}, "name"),
        ({"kind": "navy"}, "kind"),
        ({"unit": "NOPE"}, "unit"),
    ],
)
@pytest.mark.usefixtures("people")
def test_add_team_validation_names_the_field(
    db: Database, clock: FixedClock, args: dict[str, str], field: str
) -> None:
    values = {"code": "JY01", "name": "救援队", "kind": "rescue", **args}
    with pytest.raises(InvalidInput) as bad:
        add_team(
            db, clock, OPERATOR, values["code"], values["name"], values["kind"], values.get("unit")
        )
    assert bad.value.field == field


def test_add_team_refuses_a_used_code_and_inactive_leader(
    db: Database, clock: FixedClock, people: dict[str, Person]
) -> None:
    add_team(db, clock, OPERATOR, "JY01", "救援队", "rescue")
    with pytest.raises(InvalidInput) as used:
        add_team(db, clock, OPERATOR, "JY01", "另一队", "medical")
    assert used.value.field == "code"
    deactivate_person(db, clock, OPERATOR, people["王强"].id, "left")
    with pytest.raises(InvalidInput) as inactive:
        add_team(db, clock, OPERATOR, "YL01", "医疗队", "medical", leader="王强")
    assert inactive.value.field == "leader"
    with pytest.raises(NotFound):
        add_team(db, clock, OPERATOR, "YL01", "医疗队", "medical", leader="无名")


def test_a_person_in_several_teams(
    db: Database, clock: FixedClock, people: dict[str, Person]
) -> None:
    add_team(db, clock, OPERATOR, "JY01", "救援队", "rescue")
    add_team(db, clock, OPERATOR, "YL01", "医疗队", "medical")
    add_team(db, clock, OPERATOR, "XF01", "消防志愿队", "firefighting")
    add_member(db, clock, OPERATOR, "JY01", "张伟")
    add_member(db, clock, OPERATOR, "YL01", "13800138000")
    add_member(db, clock, OPERATOR, "YL01", "李娜")
    assert [t.code for t in list_teams(db, person="张伟")] == ["JY01", "YL01"]
    assert [t.code for t in list_teams(db, person="李娜")] == ["YL01"]
    assert [t.code for t in list_teams(db, kind="medical")] == ["YL01"]
    assert [t.code for t in list_teams(db)] == ["JY01", "XF01", "YL01"]
    assert [m.name for m in get_team(db, "YL01").members] == sorted(["张伟", "李娜"])
    kind, data = last_event(db)
    assert kind == "team_member_added" and data["team"] == "YL01" and data["name"] == "李娜"
    with pytest.raises(InvalidInput) as twice:
        add_member(db, clock, OPERATOR, "YL01", "李娜")
    assert twice.value.field == "person"
    with pytest.raises(NotFound):
        add_member(db, clock, OPERATOR, "NOPE", "李娜")


def test_set_leader_adds_a_non_member(
    db: Database, clock: FixedClock, people: dict[str, Person]
) -> None:
    add_team(db, clock, OPERATOR, "JY01", "救援队", "rescue", leader="张伟")
    team = set_leader(db, clock, OPERATOR, "JY01", "李娜")
    assert team.leader is not None and team.leader.name == "李娜"
    assert {m.name for m in team.members} == {"张伟", "李娜"}
    kind, data = last_event(db)
    assert kind == "team_leader_set"
    assert data["added_as_member"] is True
    assert data["previous"]["name"] == "张伟"
    with pytest.raises(InvalidInput) as again:
        set_leader(db, clock, OPERATOR, "JY01", "李娜")
    assert again.value.field == "leader"


def test_removing_the_leader_leaves_the_team_leaderless(
    db: Database, clock: FixedClock, people: dict[str, Person]
) -> None:
    add_team(db, clock, OPERATOR, "JY01", "救援队", "rescue", leader="张伟")
    add_member(db, clock, OPERATOR, "JY01", "李娜")
    team = remove_member(db, clock, OPERATOR, "JY01", "张伟")
    assert team.leader is None
    assert [m.name for m in team.members] == ["李娜"]
    assert last_event(db)[1]["was_leader"] is True
    before = events_count(db)
    with pytest.raises(InvalidInput) as absent:
        remove_member(db, clock, OPERATOR, "JY01", "王强")
    assert absent.value.field == "person"
    assert events_count(db) == before


def test_deactivated_members_stay_and_cannot_be_added(
    db: Database, clock: FixedClock, people: dict[str, Person]
) -> None:
    add_team(db, clock, OPERATOR, "JY01", "救援队", "rescue", leader="王强")
    deactivate_person(db, clock, OPERATOR, "王强", "moved away")
    team = get_team(db, "JY01")
    assert [(m.name, m.active) for m in team.members] == [("王强", False)]
    add_team(db, clock, OPERATOR, "YL01", "医疗队", "medical")
    with pytest.raises(InvalidInput) as inactive:
        add_member(db, clock, OPERATOR, "YL01", "王强")
    assert inactive.value.field == "person"


def test_team_json_masks_member_phones(
    db: Database, clock: FixedClock, people: dict[str, Person]
) -> None:
    team = add_team(db, clock, OPERATOR, "JY01", "救援队", "rescue", leader="张伟")
    masked = team_to_json(team)
    assert masked["kind_label"] == "救援队"
    assert masked["leader"]["phone"] == "138****8000"
    assert "13800138000" not in json.dumps(masked)
    assert team_to_json(team, unmasked=True)["members"][0]["phone"] == "+8613800138000"
