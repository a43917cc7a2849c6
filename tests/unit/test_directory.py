"""The directory resolves what people type to targets that exist, or refuses with the closest.

The town of ``tests/support/town.py`` (grids G01, G02, team T-RESCUE 救援队) gains the people
a duty office has (刘静, 李芳, 王伟 with phone keys, 张三 with key P0003) and a fire team.
"""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from contacts import directory
from contacts.directory import Target, candidates, describe, resolve_person, resolve_target
from contacts.people import NewPerson, add_person, deactivate_person
from contacts.teams import add_team
from store.clock import FixedClock
from store.errors import InvalidInput
from tests.support.domain import OPERATOR
from tests.support.town import TOWN

OFFICE = "城关镇应急办"


@pytest.fixture
def office(town: Database, clock: FixedClock) -> Database:
    for name, phone in (("刘静", "13900000001"), ("李芳", "13900000002"), ("王伟", "13900000003")):
        add_person(town, clock, OPERATOR, NewPerson(name, "G01", phone, roles=["grid_member"]))
    add_person(town, clock, OPERATOR, NewPerson("张三", "G02"), key="P0003")
    add_team(town, clock, OPERATOR, "T-FIRE", "消防志愿队", "firefighting", TOWN)
    return town


def person_id(db: Database, name: str) -> int:
    return int(db.conn.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()[0])


def test_pinyin_initials_find_the_person_first(office: Database) -> None:
    for typed in ("lj", "LJ", "liuj", "ljing", "liujing", "liu jing", "刘"):
        found = candidates(office, typed, kinds=("person",))
        assert found and found[0].label == "刘静", typed
    assert candidates(office, "xf")[0].target == Target("team", "T-FIRE", "消防志愿队")
    assert candidates(office, "jing", kinds=("person",))[0].label == "刘静"  # a later syllable


def test_codes_names_and_kinds_are_matched(office: Database) -> None:
    assert candidates(office, "g0")[0].target.kind == "grid"
    assert [c.target.format() for c in candidates(office, "grid:")] == ["grid:G01", "grid:G02"]
    assert candidates(office, "救援")[0].target.format() == "team:T-RESCUE"
    first = candidates(office, "office:", offices=[OFFICE])
    assert [c.target for c in first] == [Target("office", OFFICE, OFFICE)]
    assert candidates(office, "") == []


def test_only_the_people_given_are_candidates(office: Database) -> None:
    only = [person_id(office, "李芳")]
    assert [c.label for c in candidates(office, "l", kinds=("person",), people=only)] == ["李芳"]


def test_a_bare_team_name_is_the_team_not_a_person(office: Database) -> None:
    assert resolve_target(office, "消防志愿队").format() == "team:T-FIRE"
    assert resolve_target(office, "team:消防志愿队").format() == "team:T-FIRE"
    assert resolve_target(office, "t-fire").format() == "team:T-FIRE"


def test_written_forms_resolve_to_their_canonical_code(office: Database) -> None:
    liu = person_id(office, "刘静")
    assert resolve_target(office, "grid:G01") == Target("grid", "G01", "G01网格")
    assert resolve_target(office, "G02").format() == "grid:G02"
    assert resolve_target(office, "刘静") == Target("person", f"#{liu}", "刘静")
    assert resolve_target(office, f"person:#{liu}").label == "刘静"
    assert resolve_target(office, "139 0000 0001").label == "刘静"  # a phone number
    assert resolve_target(office, "lj").label == "刘静"  # unique initials
    assert resolve_target(office, "P0003").format() == "person:P0003"  # a key of its own
    assert resolve_target(office, f"office:{OFFICE}", offices=[OFFICE]).kind == "office"


def test_the_phone_key_never_reaches_the_written_form(office: Database) -> None:
    target = resolve_target(office, "王伟")
    assert target.code.startswith("#") and "139" not in target.format()


@pytest.mark.parametrize(
    ("typed", "kinds", "suggested"),
    [
        ("team:不存在队", directory.KINDS, "team:T-"),
        ("grid:G99", directory.KINDS, "grid:G0"),
        ("查无此人", ("person",), None),
        ("李放", ("person",), "李芳"),  # a typo: the homophone is suggested, not taken
        ("node:X1", ("grid", "team"), None),
    ],
)
def test_what_does_not_exist_is_refused_with_the_closest(
    office: Database, typed: str, kinds: tuple[str, ...], suggested: str | None
) -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_target(office, typed, kinds=kinds)
    assert refused.value.field == "to"
    if suggested:
        assert "closest" in str(refused.value) and suggested in str(refused.value)


def test_the_typo_lists_the_homophone_first(office: Database) -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_person(office, "李放", field="--to")
    message = str(refused.value)
    assert message.startswith("--to: no person is called '李放'; closest: 李芳 (person:#")


def test_an_ambiguous_name_lists_every_match(office: Database, clock: FixedClock) -> None:
    add_person(office, clock, OPERATOR, NewPerson("刘静", "G02", "13900000009"))
    with pytest.raises(InvalidInput, match="names 2") as refused:
        resolve_person(office, "刘静")
    assert str(refused.value).count("刘静 (person:#") == 2
    with pytest.raises(InvalidInput, match="may be"):
        resolve_person(office, "lj")


def test_resolve_person_gives_the_active_person(office: Database, clock: FixedClock) -> None:
    assert resolve_person(office, "lifang").name == "李芳"
    assert resolve_person(office, "P0003").key == "P0003"
    deactivate_person(office, clock, OPERATOR, "P0003", "moved away")
    with pytest.raises(InvalidInput):
        resolve_person(office, "P0003")
    with pytest.raises(InvalidInput, match="required"):
        resolve_person(office, "  ")


def test_describe_names_stored_targets_in_peoples_words(office: Database) -> None:
    liu = resolve_target(office, "刘静").format()
    assert describe(office, liu) == "刘静"
    assert describe(office, "team:T-FIRE") == "消防志愿队"
    assert describe(office, "team:消防志愿队") == "消防志愿队"  # written before it was checked
    assert describe(office, "grid:G01") == "G01网格"
    assert describe(office, "person:王五") == "王五"
    assert describe(office, "王五") == "王五"
    assert describe(office, f"office:{OFFICE}") == OFFICE
    assert describe(office, None) == ""


def test_heteronyms_and_u_umlaut_are_typed_either_way() -> None:
    assert directory.spell("曾").syllables == (("ceng", "zeng"),)
    spelled = directory.spell("吕")
    assert "lv" in spelled.syllables[0] and "lu" in spelled.syllables[0]


def test_ten_thousand_people_by_initials_are_the_ones_named_so(db: Database) -> None:
    """Among 10,000 people, ``lj`` lists only people whose name spells l…j… (how fast that is:
    ``python -m bench.pickers``, never a timed test)."""
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
    rows = [
        (f"K{i}", surnames[i % 20] + given[(i // 20) % 20] + given[(i // 400) % 20], 1, "[]", "x")
        for i in range(10_000)
    ]
    db.conn.executemany(
        "INSERT INTO people (key, name, active, skills, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(k, n, a, s, t, t) for k, n, a, s, t in rows],
    )
    items = directory.entries(db, kinds=("person",))
    found = directory.match(items, "lj")
    assert len(found) == 20 and all(c.label[0] == "刘" for c in found)


def test_the_directory_and_the_workflow_agree_on_the_kinds() -> None:
    from incidents.workflow import TARGET_KINDS

    assert set(directory.KINDS) == set(TARGET_KINDS)


def test_labels_names_each_written_target_once(office: Database) -> None:
    written = ["team:T-FIRE", None, "grid:G01", "team:T-FIRE"]
    assert directory.labels(office, written) == {"team:T-FIRE": "消防志愿队", "grid:G01": "G01网格"}
