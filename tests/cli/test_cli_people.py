"""``dutydesk person ...`` and ``dutydesk team ...``: masking, audited unmasking, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from store.db import connect

TOWN = "330106001000"
COMMUNITY = "330106001001"


@pytest.fixture
def town(run: Any) -> Any:
    assert run("unit", "add", "--code", TOWN, "--name", "城关街道", "--level", "street").code == 0
    assert (
        run(
            "unit",
            "add",
            "--code",
            COMMUNITY,
            "--name",
            "幸福社区",
            "--level",
            "community",
            "--parent",
            TOWN,
        ).code
        == 0
    )
    assert (
        run(
            "unit",
            "add",
            "--code",
            "G01",
            "--name",
            "幸福一网格",
            "--level",
            "grid",
            "--parent",
            COMMUNITY,
        ).code
        == 0
    )
    return run


def add(run: Any, name: str, phone: str, *extra: str) -> Any:
    result = run("person", "add", "--name", name, "--unit", "G01", "--phone", phone, *extra)
    assert result.code == 0, result.err
    return result


def audit_kinds(run: Any) -> list[tuple[str, dict[str, Any]]]:
    db = connect(run.db)
    try:
        rows = db.conn.execute("SELECT kind, data FROM events ORDER BY id").fetchall()
    finally:
        db.close()
    return [(kind, json.loads(data)) for kind, data in rows]


def test_add_and_list_mask_phones(town: Any) -> None:
    added = town(
        "person",
        "add",
        "--name",
        "张伟",
        "--unit",
        "G01",
        "--phone",
        "138 0013 8000",
        "--role",
        "网格长",
        "--skill",
        "急救",
        "--email",
        "z@example.com",
        "--json",
    )
    assert added.code == 0, added.err
    data = added.json()
    assert data["phone"] == "138****8000" and data["roles"] == ["grid_leader"]
    listing = town("person", "list")
    assert "138****8000" in listing.out and "13800138000" not in listing.out
    assert "grid leader" in listing.out and "1 person(s)" in listing.out
    shown = town("person", "show", "张伟")
    assert "138****8000" in shown.out and "13800138000" not in shown.out
    assert "1. sms" in shown.out and "(unverified)" in shown.out
    assert "grid_leader (grid leader)" in shown.out
    as_json = town("person", "list", "--json").json()["items"]
    assert isinstance(as_json, list)
    assert as_json[0]["phone"] == "138****8000"
    assert "13800138000" not in town("person", "show", "张伟", "--json").out
    assert not any(k == "personal_data_shown" for k, _ in audit_kinds(town))


def test_unmasked_listing_is_audited(town: Any) -> None:
    add(town, "张伟", "13800138000")
    add(town, "李娜", "13900139000")
    listing = town("person", "list", "--unmasked", "--json")
    assert [p["phone"] for p in listing.json()["items"]] == ["+8613800138000", "+8613900139000"]
    shown = town("person", "show", "李娜", "--unmasked")
    assert "+8613900139000" in shown.out
    events = [d for k, d in audit_kinds(town) if k == "personal_data_shown"]
    assert events == [
        {"command": "person list", "count": 2, "what": "phones"},
        {"command": "person show", "count": 1, "what": "phones"},
    ]


def test_list_filters(town: Any) -> None:
    add(town, "张伟", "13800138000", "--role", "grid-leader")
    town("person", "add", "--name", "李娜", "--unit", COMMUNITY, "--phone", "13900139000")
    add(town, "王强", "13700135678")
    assert town("person", "deactivate", "王强", "--reason", "moved away").code == 0

    def names(*args: str) -> list[str]:
        result = town("person", "list", "--json", *args)
        assert result.code == 0, result.err
        return [p["name"] for p in result.json()["items"]]

    assert names() == ["张伟", "李娜"]
    assert names("--role", "网格长") == ["张伟"]
    assert names("--unit", COMMUNITY, "--direct") == ["李娜"]
    assert names("--unit", TOWN) == ["张伟", "李娜"]
    assert names("--text", "李") == ["李娜"]
    assert names("--inactive") == ["王强"]
    assert names("--all", "--text", "5678") == ["王强"]
    both = town("person", "list", "--inactive", "--all")
    assert both.code == 2 and "inactive" in both.err


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--name", " "), "name"),
        (("--unit", "NOPE"), "unit"),
        (("--phone", "12345"), "phone"),
        (("--email", "no-at-sign"), "email"),
        (("--webhook", "hook.example.com"), "webhook"),
        (("--role", "mayor"), "roles"),
        (("--skill", " "), "skills"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(
    town: Any, args: tuple[str, str], field: str
) -> None:
    base = {"--name": "张伟", "--unit": "G01", "--phone": "13800138000"}
    base[args[0]] = args[1]
    result = town("person", "add", *[x for kv in base.items() for x in kv])
    assert result.code == 2
    assert result.err.startswith(f"dutydesk: {field}: ")
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


def test_duplicate_phone_and_ambiguous_name(town: Any) -> None:
    add(town, "张伟", "13800138000")
    dup = town("person", "add", "--name", "李娜", "--phone", "+86 138 0013 8000")
    assert dup.code == 2 and "phone:" in dup.err and "张伟" in dup.err
    add(town, "张伟", "13900139000")
    ambiguous = town("person", "show", "张伟")
    assert ambiguous.code == 2
    assert "2 people are called 张伟" in ambiguous.err
    assert "#1" in ambiguous.err and "#2" in ambiguous.err
    missing = town("person", "show", "无名")
    assert missing.code == 2 and "no person" in missing.err


def test_edit_deactivate_and_channels(town: Any) -> None:
    add(town, "张伟", "13800138000", "--email", "z@example.com")
    edited = town(
        "person", "edit", "张伟", "--phone", "13900139000", "--role", "volunteer", "--json"
    )
    assert edited.code == 0, edited.err
    assert edited.json()["phone"] == "139****9000"
    assert edited.json()["roles"] == ["volunteer"]
    nothing = town("person", "edit", "张伟")
    assert nothing.code == 2 and "changes" in nothing.err
    channels = town(
        "person",
        "channels",
        "张伟",
        "--channel",
        "email=z@example.com!",
        "--channel",
        "sms=13900139000",
        "--json",
    )
    assert channels.code == 0, channels.err
    assert [(c["kind"], c["verified"]) for c in channels.json()["channels"]] == [
        ("email", True),
        ("sms", False),
    ]
    bad = town("person", "channels", "张伟", "--channel", "fax")
    assert bad.code == 2 and bad.err.startswith("dutydesk: channel: ")
    assert town("person", "deactivate", "张伟", "--reason", "left").code == 0
    again = town("person", "deactivate", "张伟", "--reason", "left")
    assert again.code == 2 and "already inactive" in again.err
    kinds = [k for k, _ in audit_kinds(town)]
    for kind in ("person_added", "person_edited", "channels_set", "person_deactivated"):
        assert kind in kinds
    shown = town("person", "show", "张伟", "--json").json()
    assert shown["active"] is False


def test_teams(town: Any) -> None:
    add(town, "张伟", "13800138000")
    add(town, "李娜", "13900139000")
    added = town(
        "team",
        "add",
        "--code",
        "JY01",
        "--name",
        "救援队",
        "--kind",
        "rescue",
        "--unit",
        TOWN,
        "--leader",
        "张伟",
        "--json",
    )
    assert added.code == 0, added.err
    assert added.json()["leader"]["phone"] == "138****8000"
    added = town("team", "show", "JY01")
    assert added.out.startswith("JY01  救援队  (rescue team)\n")
    assert town("team", "add", "--code", "YL01", "--name", "医疗队", "--kind", "医疗队").code == 0
    assert town("team", "member-add", "YL01", "张伟").code == 0
    lead = town("team", "leader", "YL01", "李娜")
    assert lead.code == 0 and "2 member(s), leader 李娜" in lead.out
    mine = town("team", "list", "--person", "张伟", "--json").json()["items"]
    assert [t["code"] for t in mine] == ["JY01", "YL01"]
    listing = town("team", "list")
    assert "救援队" in listing.out and "2 team(s)" in listing.out
    assert "medical team" in listing.out
    shown = town("team", "show", "YL01")
    assert "李娜" in shown.out and "(leader)" in shown.out and "139****9000" in shown.out
    assert "YL01  医疗队  (medical team)" in shown.out
    person = town("person", "show", "张伟", "--json").json()
    assert [(t["code"], t["leader"]) for t in person["teams"]] == [("JY01", True), ("YL01", False)]
    assert town("team", "member-remove", "YL01", "张伟").code == 0
    bad_kind = town("team", "add", "--code", "X1", "--name", "x", "--kind", "navy")
    assert bad_kind.code == 2 and bad_kind.err.startswith("dutydesk: kind: ")
    town("team", "show", "YL01", "--unmasked", "--json")
    events = [d for k, d in audit_kinds(town) if k == "personal_data_shown"]
    assert events == [{"command": "team show", "count": 1, "what": "phones"}]


def test_phone_region_comes_from_the_configuration(town: Any) -> None:
    config = town.config
    config.write_text(
        config.read_text(encoding="utf-8") + '[contacts]\nphone_region = "HK"\n', encoding="utf-8"
    )
    added = town("person", "add", "--name", "陈", "--phone", "9123 4567", "--json")
    assert added.code == 0, added.err
    assert town("person", "show", "陈", "--unmasked", "--json").json()["phone"] == "+85291234567"
    effective = town("config", "show", "--json").json()
    assert effective["contacts"] == {"phone_region": "HK"}
