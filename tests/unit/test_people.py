"""People: validation (each field named), keys, lookup, listings, edits, deactivation, channels."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlite_utils import Database

from contacts.models import ChannelKind, Role
from contacts.people import (
    NewPerson,
    Person,
    add_person,
    deactivate_person,
    edit_person,
    get_person,
    list_people,
    person_to_json,
    record_personal_data_shown,
    set_channels,
    validate_person,
)
from contacts.teams import add_team
from jurisdiction.units import NewUnit, add_unit
from store.audit import verify_chain
from store.clock import FixedClock
from store.errors import InvalidInput, InvalidTransition, NotFound
from tests.conftest import OPERATOR, events_count

TOWN = "330106001000"
COMMUNITY = "330106001001"
OTHER_COMMUNITY = "330106001002"


@pytest.fixture
def units(db: Database, clock: FixedClock) -> None:
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COMMUNITY, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit(OTHER_COMMUNITY, "和平社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "幸福一网格", "grid", parent=COMMUNITY))


def add(db: Database, clock: FixedClock, name: str = "张伟", **fields: Any) -> Person:
    key = fields.pop("key", None)
    values: dict[str, Any] = {"unit": "G01", "phone": "138 0013 8000", **fields}
    return add_person(db, clock, OPERATOR, NewPerson(name=name, **values), key=key)


def last_event(db: Database) -> tuple[str, dict[str, Any]]:
    kind, data = db.conn.execute(
        "SELECT kind, data FROM events ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return kind, json.loads(data)


@pytest.mark.usefixtures("units")
def test_add_person_normalises_and_derives_channels(db: Database, clock: FixedClock) -> None:
    p = add(
        db,
        clock,
        email="zhang@example.com",
        webhook="https://oapi.example.com/robot/send?access_token=SECRET",
        roles=["网格长", "volunteer", "grid-leader"],
        skills=[" 急救 ", "firefighting", "急救"],
    )
    assert p.phone == "+8613800138000"
    assert p.key == "+8613800138000"
    assert p.unit_code == "G01"
    assert p.roles == (Role.GRID_LEADER, Role.VOLUNTEER)
    assert [r.label for r in p.roles] == ["grid leader", "volunteer"]
    assert p.skills == ("急救", "firefighting")
    assert p.active
    assert [(c.kind, c.address, c.verified, c.rank) for c in p.channels] == [
        (ChannelKind.SMS, "+8613800138000", False, 1),
        (ChannelKind.WEBHOOK, "https://oapi.example.com/robot/send?access_token=SECRET", False, 2),
        (ChannelKind.EMAIL, "zhang@example.com", False, 3),
    ]


@pytest.mark.usefixtures("units")
def test_person_added_is_audited_without_personal_data(db: Database, clock: FixedClock) -> None:
    before = events_count(db)
    add(db, clock, email="zhang@example.com", webhook="https://hook.example.com/t/SECRET")
    assert events_count(db) == before + 1
    kind, data = last_event(db)
    raw = db.conn.execute("SELECT data FROM events ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert kind == "person_added"
    assert data["phone"] == "138****8000"
    assert data["key"] == "138****8000"
    assert data["email"] == "z***@example.com"
    assert data["webhook"] == "https://hook.example.com/…"
    for secret in ("13800138000", "zhang@", "SECRET"):
        assert secret not in raw
    assert verify_chain(db).ok


@pytest.mark.usefixtures("units")
def test_key_defaults_to_name_at_unit_without_phone(db: Database, clock: FixedClock) -> None:
    p = add(db, clock, "李娜", phone=None, email="li@example.com")
    assert p.key == "李娜@G01"
    assert p.phone is None
    assert [c.kind for c in p.channels] == [ChannelKind.EMAIL]
    explicit = add(db, clock, "王强", phone="13900139000", key="ID-0042")
    assert explicit.key == "ID-0042"
    with pytest.raises(InvalidInput) as used:
        add(db, clock, "赵六", phone="13700137000", key="ID-0042")
    assert used.value.field == "key"
    assert "王强" in str(used.value)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"unit": "NOPE"}, "unit"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "not a number"}, "phone"),
        ({"email": "zhang.example.com"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"webhook": "ftp://hook.example.com/x"}, "webhook"),
        ({"webhook": "hook.example.com/x"}, "webhook"),
        ({"roles": ["mayor"]}, "roles"),
        ({"skills": ["急救", "  "]}, "skills"),
        ({"skills": ["x" * 51]}, "skills"),
    ],
)
@pytest.mark.usefixtures("units")
def test_validation_names_the_field(db: Database, fields: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"name": "张伟", "unit": "G01", "phone": "13800138000", **fields}
    with pytest.raises(InvalidInput) as bad:
        validate_person(db, NewPerson(**values))
    assert bad.value.field == field
    assert str(bad.value).startswith(f"{field}: ")


@pytest.mark.usefixtures("units")
def test_validation_refuses_a_retired_unit(db: Database, clock: FixedClock) -> None:
    db.conn.execute("UPDATE units SET valid_to = '2026-01-01T00:00:00Z' WHERE code = 'G01'")
    with pytest.raises(InvalidInput) as bad:
        validate_person(db, NewPerson(name="张伟", unit="G01"))
    assert bad.value.field == "unit"
    assert "retired" in str(bad.value)


@pytest.mark.usefixtures("units")
def test_validate_person_writes_nothing_and_returns_clean_values(db: Database) -> None:
    before = events_count(db)
    values = validate_person(
        db, NewPerson(name=" 张  伟 ", unit="G01", phone="+852 9123 4567", roles=["队员"])
    )
    assert values["name"] == "张 伟"
    assert values["phone"] == "+85291234567"
    assert values["unit_code"] == "G01"
    assert isinstance(values["unit_id"], int)
    assert values["roles"] == [Role.TEAM_MEMBER]
    assert values["email"] is None
    assert events_count(db) == before
    assert db.conn.execute("SELECT count(*) FROM people").fetchone()[0] == 0


@pytest.mark.usefixtures("units")
def test_region_reads_numbers_without_country_code(db: Database) -> None:
    values = validate_person(db, NewPerson(name="陈", phone="9123 4567"), region="HK")
    assert values["phone"] == "+85291234567"
    with pytest.raises(InvalidInput):
        validate_person(db, NewPerson(name="陈", phone="9123 4567"))


@pytest.mark.usefixtures("units")
def test_duplicate_phone_names_the_other_person(db: Database, clock: FixedClock) -> None:
    first = add(db, clock)
    with pytest.raises(InvalidInput) as dup:
        add(db, clock, "李娜", phone="+86 138-0013-8000", key="other")
    assert dup.value.field == "phone"
    assert "张伟" in str(dup.value)
    assert f"#{first.id}" in str(dup.value)
    assert "13800138000" not in str(dup.value)
    assert "138****8000" in str(dup.value)
    # the person's own number is not a duplicate of itself
    assert validate_person(db, NewPerson("张伟", phone="13800138000"), exclude_id=first.id)


@pytest.mark.usefixtures("units")
def test_get_person_by_id_key_phone_and_name(db: Database, clock: FixedClock) -> None:
    p = add(db, clock)
    assert get_person(db, p.id) == p
    assert get_person(db, str(p.id)) == p
    assert get_person(db, "+8613800138000") == p
    assert get_person(db, "138 0013 8000") == p
    assert get_person(db, "张伟") == p
    with pytest.raises(NotFound):
        get_person(db, "无名")
    with pytest.raises(NotFound):
        get_person(db, 999)


@pytest.mark.usefixtures("units")
def test_an_ambiguous_name_lists_the_candidates(db: Database, clock: FixedClock) -> None:
    one = add(db, clock)
    two = add(db, clock, phone="13900139000", unit=COMMUNITY)
    with pytest.raises(InvalidInput) as many:
        get_person(db, "张伟")
    message = str(many.value)
    assert many.value.field == "person"
    assert f"#{one.id}" in message and f"#{two.id}" in message
    assert "139****9000" in message and COMMUNITY in message
    assert get_person(db, two.key) == two


@pytest.mark.usefixtures("units")
def test_list_people_filters(db: Database, clock: FixedClock) -> None:
    grid = add(db, clock, roles=["grid-member"])
    community = add(db, clock, "李娜", phone="13900139000", unit=COMMUNITY, roles=["网格长"])
    other = add(db, clock, "王强", phone="13700135678", unit=OTHER_COMMUNITY)
    deactivate_person(db, clock, OPERATOR, other.id, "moved away")

    def ids(**kw: Any) -> list[int]:
        return [p.id for p in list_people(db, **kw)]

    assert ids() == [grid.id, community.id]
    assert ids(active=None) == [grid.id, community.id, other.id]
    assert ids(active=False) == [other.id]
    assert ids(unit=TOWN) == [grid.id, community.id]
    assert ids(unit=COMMUNITY) == [grid.id, community.id]
    assert ids(unit=COMMUNITY, include_sub_units=False) == [community.id]
    assert ids(role="grid-leader") == [community.id]
    assert ids(role=Role.GRID_MEMBER) == [grid.id]
    assert ids(text="李") == [community.id]
    assert ids(text="5678", active=None) == [other.id]
    assert ids(text="138 001") == [grid.id]
    assert ids(limit=1) == [grid.id]
    assert ids(after_id=grid.id) == [community.id]
    with pytest.raises(NotFound):
        list_people(db, unit="NOPE")
    with pytest.raises(InvalidInput) as bad:
        list_people(db, role="mayor")
    assert bad.value.field == "roles"


@pytest.mark.usefixtures("units")
def test_edit_records_old_and_new_masked(db: Database, clock: FixedClock) -> None:
    p = add(db, clock, roles=["volunteer"])
    set_channels(db, clock, OPERATOR, p.id, [("sms", "13800138000", True)])
    edited = edit_person(
        db,
        clock,
        OPERATOR,
        p.id,
        name="张 伟",
        phone="13900139000",
        unit=COMMUNITY,
        roles=["grid-leader"],
        skills=["急救"],
    )
    assert edited.phone == "+8613900139000"
    assert edited.key == "+8613800138000"  # the key is the identity imports match on
    assert edited.unit_code == COMMUNITY
    assert edited.roles == (Role.GRID_LEADER,)
    assert edited.skills == ("急救",)
    assert [(c.address, c.verified) for c in edited.channels] == [("+8613900139000", False)]
    kind, data = last_event(db)
    assert kind == "person_edited"
    assert data["changes"]["phone"] == {"old": "138****8000", "new": "139****9000"}
    assert data["changes"]["unit"] == {"old": "G01", "new": COMMUNITY}
    assert data["changes"]["roles"] == {"old": ["volunteer"], "new": ["grid_leader"]}
    assert data["sms_channels_moved"] == 1
    assert "email" not in data["changes"]


@pytest.mark.usefixtures("units")
def test_edit_revalidates_and_refuses_nothing(db: Database, clock: FixedClock) -> None:
    p = add(db, clock)
    add(db, clock, "李娜", phone="13900139000")
    before = events_count(db)
    with pytest.raises(InvalidInput) as dup:
        edit_person(db, clock, OPERATOR, p.id, phone="139 0013 9000")
    assert dup.value.field == "phone" and "李娜" in str(dup.value)
    with pytest.raises(InvalidInput) as same:
        edit_person(db, clock, OPERATOR, p.id, name="张伟")
    assert same.value.field == "changes"
    with pytest.raises(InvalidInput) as unknown:
        edit_person(db, clock, OPERATOR, p.id, key="x")
    assert unknown.value.field == "key"
    with pytest.raises(InvalidInput) as roles:
        edit_person(db, clock, OPERATOR, p.id, roles="grid-leader")
    assert roles.value.field == "roles"
    assert events_count(db) == before
    cleared = edit_person(db, clock, OPERATOR, p.id, phone="", email="")
    assert cleared.phone is None
    assert cleared.channels == ()


@pytest.mark.usefixtures("units")
def test_deactivate_keeps_history_and_refuses_twice(db: Database, clock: FixedClock) -> None:
    p = add(db, clock)
    add_team(db, clock, OPERATOR, "JY01", "救援队", "rescue", leader=p.id)
    with pytest.raises(InvalidInput) as no_reason:
        deactivate_person(db, clock, OPERATOR, p.id, " ")
    assert no_reason.value.field == "reason"
    done = deactivate_person(db, clock, OPERATOR, p.id, "moved away")
    assert not done.active
    assert done.channels == p.channels and done.roles == p.roles
    kind, data = last_event(db)
    assert kind == "person_deactivated"
    assert data["teams"] == ["JY01"] and data["reason"] == "moved away"
    kinds = [r[0] for r in db.conn.execute("SELECT kind FROM events WHERE kind LIKE 'person_%'")]
    assert kinds == ["person_added", "person_deactivated"]
    assert (
        db.conn.execute(
            "SELECT count(*) FROM team_members WHERE person_id = ?", (p.id,)
        ).fetchone()[0]
        == 1
    )
    with pytest.raises(InvalidTransition):
        deactivate_person(db, clock, OPERATOR, p.id, "again")
    assert get_person(db, p.id).active is False


@pytest.mark.usefixtures("units")
def test_set_channels_in_order_and_derived(db: Database, clock: FixedClock) -> None:
    p = add(db, clock, email="zhang@example.com")
    done = set_channels(
        db,
        clock,
        OPERATOR,
        p.id,
        [("email", "zhang@example.com", True), (ChannelKind.SMS, "13800138000", False)],
    )
    assert [(c.kind.value, c.verified, c.rank) for c in done.channels] == [
        ("email", True, 1),
        ("sms", False, 2),
    ]
    kind, data = last_event(db)
    assert kind == "channels_set" and data["derived"] is False
    assert data["channels"][1]["address"] == "138****8000"
    derived = set_channels(db, clock, OPERATOR, p.id, None)
    assert [(c.kind.value, c.verified) for c in derived.channels] == [
        ("sms", False),
        ("email", False),
    ]
    assert last_event(db)[1]["derived"] is True


@pytest.mark.parametrize(
    "channels",
    [
        [("fax", "123", False)],
        [("sms", "12345", False)],
        [("email", "nope", False)],
        [("webhook", "ftp://x.example.com", False)],
        [("sms", "13800138000", False), ("sms", "+8613800138000", True)],
        [("email", "", False)],
    ],
)
@pytest.mark.usefixtures("units")
def test_bad_channels_are_refused(
    db: Database, clock: FixedClock, channels: list[tuple[str, str, bool]]
) -> None:
    p = add(db, clock)
    with pytest.raises(InvalidInput) as bad:
        set_channels(db, clock, OPERATOR, p.id, channels)
    assert bad.value.field == "channels"
    assert get_person(db, p.id).channels == p.channels


@pytest.mark.usefixtures("units")
def test_derived_channels_need_something_to_derive_from(db: Database, clock: FixedClock) -> None:
    p = add(db, clock, phone=None)
    with pytest.raises(InvalidInput) as bad:
        set_channels(db, clock, OPERATOR, p.id)
    assert bad.value.field == "channels"


@pytest.mark.usefixtures("units")
def test_json_masks_phones_unless_unmasked(db: Database, clock: FixedClock) -> None:
    p = add(db, clock)
    masked = person_to_json(p)
    assert masked["phone"] == "138****8000"
    assert masked["key"] == "138****8000"
    assert masked["channels"][0]["address"] == "138****8000"
    assert "13800138000" not in json.dumps(masked)
    full = person_to_json(p, unmasked=True)
    assert full["phone"] == full["key"] == full["channels"][0]["address"] == "+8613800138000"


def test_personal_data_shown_is_audited(db: Database, clock: FixedClock) -> None:
    record_personal_data_shown(db, clock, OPERATOR, "person list", 3)
    kind, data = last_event(db)
    assert kind == "personal_data_shown"
    assert data == {"command": "person list", "count": 3, "what": "phones"}
