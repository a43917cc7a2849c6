"""``dutydesk alert`` and ``hub alert(s)``: CAP warnings issued, updated, cancelled, imported and
called (叫应) from the command line, on a copy of the demo street (its people answer the 叫应)
and on a fresh county hub. Each flow checks the exit code, the output and what the database
says after; bad input exits 2 naming the option and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from store.db import connect
from tests.cli.test_json_shapes import Desk, build_street, copy_street
from uplink import cap

TOWNSHIP = "330106001000"  # the demo street's division code
COUNTY = "330106000000"
ISSUE = ("alert", "issue", "--event", "暴雨", "--area", TOWNSHIP, "--expires", "+6h")


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_street(tmp_path_factory)


@pytest.fixture
def desk(
    street: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Desk:
    return copy_street(street, tmp_path, capsys, monkeypatch)


def query(desk: Desk, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = connect(desk.db)
    try:
        return [tuple(row) for row in db.conn.execute(sql, args).fetchall()]
    finally:
        db.close()


def count(desk: Desk, table: str) -> int:
    return int(query(desk, f"SELECT count(*) FROM {table}")[0][0])


def audit_count(desk: Desk) -> int:
    return count(desk, "events")


def test_an_orange_warning_issued_at_a_township_starts_its_call(desk: Desk) -> None:
    data = desk.ok(
        *ISSUE, "--severity", "橙色", "--headline", "青山街道暴雨橙色预警",
        "--instruction", "请立即到岗，转移低洼地带群众",
    )  # fmt: skip
    assert data["colour"] == "orange" and data["severity"] == "Severe"
    assert data["status"] == "Actual" and data["msg_type"] == "Alert"
    assert data["identifier"].startswith(f"{TOWNSHIP}_")
    assert data["area_codes"] == [TOWNSHIP] and data["area_desc"] == "青山街道"
    assert data["call"]["state"] == "started"
    call = data["call"]["progress"]
    assert call is not None and call["auto"] and call["counts"]["total"] > 40
    [(alert_id, origin, state)] = query(desk, "SELECT id, origin, call_state FROM alerts")
    assert (origin, state) == ("issued", "started")
    [(auto, exercise)] = query(
        desk, "SELECT auto, exercise FROM call_answers WHERE alert_id = ?", alert_id
    )
    assert (auto, exercise) == (1, 0)

    shown = desk.run("alert", "show", data["identifier"])
    assert shown.code == 0 and "橙色暴雨预警" in shown.out and "48" in shown.out
    xml = desk.run("alert", "show", str(alert_id), "--xml")
    assert xml.code == 0
    parsed = cap.parse(xml.out.encode("utf-8"))
    assert parsed.identifier == data["identifier"] and parsed.colour is cap.Colour.ORANGE
    listed = desk.items("alert", "list", "--active")
    assert [a["identifier"] for a in listed] == [data["identifier"]]
    assert listed[0]["call"]["progress"]["mobilization"] == call["mobilization"]
    table = desk.run("alert", "list")
    assert table.code == 0 and "橙色" in table.out and "0/48" in table.out


@pytest.mark.parametrize(
    ("word", "colour"),
    [
        ("Extreme", "red"),
        ("红色", "red"),
        ("橙", "orange"),
        ("yellow", "yellow"),
        ("Minor", "blue"),
    ],
)
def test_the_level_is_a_severity_a_colour_or_its_chinese_name(
    desk: Desk, word: str, colour: str
) -> None:
    data = desk.ok(*ISSUE, "--severity", word)
    assert data["colour"] == colour
    assert data["headline"].endswith("暴雨预警")
    started = data["call"]["progress"] is not None
    assert started == (colour in ("red", "orange"))  # the default call levels
    if not started:
        [(state, reason)] = query(desk, "SELECT call_state, call_reason FROM alerts")
        assert (state, reason) == ("skipped", "below_level")


def _write(desk: Desk, name: str, text: str) -> str:
    return desk.write(name, text)


OPEN_RING = "30.25,120.10 30.25,120.16 30.28,120.16 30.28,120.10"


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (("--severity", "purple"), "--severity"),
        (("--severity", "red", "--urgency", "soon"), "--urgency"),
        (("--severity", "red", "--certainty", "sure"), "--certainty"),
        (("--severity", "red", "--headline", "暴雨\x07"), "--headline"),
        (("--severity", "red", "--expires", "-1h"), "--expires"),
        (("--severity", "red", "--expires", "tomorrow-ish"), "--expires"),
        (("--severity", "red", "--polygon", "@open"), "--polygon"),
        (("--severity", "red", "--polygon", "@geo-point"), "--polygon"),
        (("--severity", "red", "--polygon", "@missing"), "--polygon"),
    ],
)
def test_bad_input_exits_2_naming_the_option_and_changes_nothing(
    desk: Desk, extra: tuple[str, ...], option: str
) -> None:
    files = {
        "@open": _write(desk, "open.txt", OPEN_RING + "\n"),
        "@geo-point": _write(
            desk, "point.geojson", json.dumps({"type": "Point", "coordinates": [120.1, 30.2]})
        ),
        "@missing": str(desk.folder / "nowhere.geojson"),
    }
    args = [files.get(a, a) for a in extra]
    before = audit_count(desk)
    result = desk.run(*ISSUE, *args)
    assert result.code == 2, result.err
    assert option in result.err and "Traceback" not in result.err
    assert count(desk, "alerts") == 0
    assert audit_count(desk) == before


def test_an_area_is_required(desk: Desk) -> None:
    result = desk.run("alert", "issue", "--event", "暴雨", "--severity", "red", "--expires", "+1h")
    assert result.code == 2 and "--area" in result.err
    assert count(desk, "alerts") == 0


def test_polygons_from_geojson_and_cap_rings_are_kept_in_cap_order(desk: Desk) -> None:
    ring = [[120.10, 30.25], [120.16, 30.25], [120.16, 30.28], [120.10, 30.28], [120.10, 30.25]]
    geojson = _write(
        desk,
        "area.geojson",
        json.dumps({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}),
    )
    data = desk.ok(*ISSUE, "--severity", "red", "--polygon", geojson)
    assert data["polygons"] == [[[lat, lon] for lon, lat in ring]]
    cap_file = _write(desk, "area.txt", "# 青山街道\n" + OPEN_RING + " 30.25,120.10\n")
    data = desk.ok(*ISSUE, "--severity", "blue", "--polygon", cap_file)
    assert data["polygons"][0][0] == [30.25, 120.10] and len(data["polygons"][0]) == 5
    xml = desk.run("alert", "show", data["identifier"], "--xml").out
    assert "<polygon>30.25,120.1 " in xml or "<polygon>30.25,120.10 " in xml


def test_update_supersedes_and_cancel_stops_the_call(desk: Desk) -> None:
    first = desk.ok(*ISSUE, "--severity", "orange", "--headline", "暴雨橙色预警")
    update = desk.ok(
        "alert", "update", first["identifier"], "--severity", "red", "--expires", "+8h"
    )
    assert update["msg_type"] == "Update" and update["references"] == [first["identifier"]]
    assert update["colour"] == "red" and update["headline"] == "暴雨橙色预警"  # kept
    assert (
        update["call"]["progress"]
        == desk.ok("alert", "show", first["identifier"])["call"]["progress"]
    )  # the same 叫应
    old = desk.ok("alert", "show", first["identifier"])
    assert old["state"] == "superseded" and old["superseded_by"] == update["identifier"]

    cancel = desk.ok("alert", "cancel", update["identifier"], "--reason", "降雨减弱")
    assert cancel["msg_type"] == "Cancel" and cancel["state"] == "cancelled"
    [(stopped,)] = query(desk, "SELECT stopped_at FROM call_answers")
    assert stopped is not None
    [(mob_state,)] = query(
        desk,
        "SELECT state FROM mobilizations WHERE id = ?",
        first["call"]["progress"]["mobilization"],
    )
    assert mob_state == "cancelled"
    assert desk.items("alert", "list", "--active") == []

    again = desk.run("alert", "update", first["identifier"], "--headline", "再次更新")
    assert again.code == 2 and "cancelled" in again.err
    assert count(desk, "alerts") == 3
    nothing = desk.run("alert", "update", first["identifier"])
    assert nothing.code == 2


def _county_alert(severity: str, *, expires: timedelta, identifier: str) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    area = cap.Area("青山街道", geocodes=((cap.AREA_CODE_NAME, TOWNSHIP),))
    info = cap.Info(
        categories=(cap.Category.MET,),
        event="暴雨",
        urgency=cap.Urgency.IMMEDIATE,
        severity=cap.Severity(severity),
        certainty=cap.Certainty.LIKELY,
        language=cap.DEFAULT_LANGUAGE,
        headline="西湖区气象台发布暴雨预警",
        instruction="请立即做好防范",
        expires=now + expires,
        areas=(area,),
    )
    alert = cap.Alert(
        identifier=identifier,
        sender=COUNTY,
        sent=now - timedelta(hours=2),
        status=cap.Status.ACTUAL,
        msg_type=cap.MsgType.ALERT,
        scope=cap.Scope.PUBLIC,
        infos=(info,),
    )
    return cap.to_xml(alert)


def test_import_takes_a_warning_from_a_file_once_and_starts_its_call(desk: Desk) -> None:
    path = desk.folder / "red.xml"
    path.write_bytes(_county_alert("Extreme", expires=timedelta(hours=3), identifier="A_1"))
    data = desk.ok("alert", "import", str(path))
    assert data["new"] and data["origin"] == "received" and data["via"] == "import"
    assert data["colour"] == "red" and data["call"]["progress"] is not None
    again = desk.ok("alert", "import", str(path))
    assert not again["new"] and again["id"] == data["id"]
    assert count(desk, "alerts") == 1 and count(desk, "call_answers") == 1

    late = desk.folder / "late.xml"
    late.write_bytes(_county_alert("Extreme", expires=-timedelta(hours=1), identifier="A_2"))
    expired = desk.ok("alert", "import", str(late))
    assert expired["call"]["progress"] is None and expired["state"] == "expired"
    assert expired["call"]["state"] == "skipped" and expired["call"]["reason"] == "expired"
    assert query(desk, "SELECT call_state, call_reason FROM alerts WHERE identifier = 'A_2'") == [
        ("skipped", "expired")
    ]
    blue = desk.folder / "blue.xml"
    blue.write_bytes(_county_alert("Minor", expires=timedelta(hours=1), identifier="A_3"))
    shown = desk.run("alert", "import", str(blue))
    assert shown.code == 0 and "below the level" in shown.out


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda x: x.replace(b"<status>Actual", b"<status>Bogus"), "/alert/status"),
        (lambda x: x.replace(b"</alert>", b""), ""),
        (
            lambda x: (
                b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                + x.split(b"?>", 1)[1].replace(b"<note>", b"<note>&e;")
            ),
            "",
        ),
    ],
)
def test_a_bad_file_is_refused_with_the_schemas_words_and_nothing_is_kept(
    desk: Desk, mangle: Any, words: str
) -> None:
    path = desk.folder / "bad.xml"
    path.write_bytes(mangle(_county_alert("Extreme", expires=timedelta(hours=3), identifier="B_1")))
    before = audit_count(desk)
    result = desk.run("alert", "import", str(path))
    assert result.code == 2, result.err
    assert words in result.err and "Traceback" not in result.err
    assert count(desk, "alerts") == 0 and audit_count(desk) == before


def test_a_call_by_hand_in_exercise_mode(desk: Desk) -> None:
    data = desk.ok(*ISSUE, "--severity", "yellow")
    assert data["call"]["progress"] is None  # below the level: no automatic 叫应
    called = desk.ok("alert", "call", data["identifier"], "--exercise")
    assert called["call"]["progress"]["mobilization"] == called["mobilization"]
    [(auto, exercise)] = query(desk, "SELECT auto, exercise FROM call_answers")
    assert (auto, exercise) == (0, 1)
    shown = desk.run("alert", "show", data["identifier"])
    assert "started by hand" in shown.out


def test_a_drill_of_the_call_walks_the_call_tree(desk: Desk) -> None:
    built = desk.ok("alert", "call-tree")
    assert built == {"tree": "jiaoying-drill", "nodes": 48}  # SL, DO, 6 secretaries, 40 grids
    desk.ok(
        "drill", "plan", "add", "JY", "--name", "叫应演练", "--kind", "notification",
        "--tree", "jiaoying-drill", "--scope", "node:root", "--organizer", "#1",
        "--message", "叫应演练：收到请回复",
    )  # fmt: skip
    run = desk.ok("drill", "run", "JY", "--yes")
    [(exercise, tree)] = query(
        desk, "SELECT exercise, tree FROM mobilizations WHERE id = ?", run["mobilization"]
    )
    assert (exercise, tree) == (1, "jiaoying-drill")  # the tree walked from its root
    bad = desk.run("alert", "call-tree", "--tree", "bad\x01name")
    assert bad.code == 2 and "--tree" in bad.err


def test_unknown_alert_exits_2(desk: Desk) -> None:
    for args in (("show", "NOPE_1"), ("call", "99"), ("cancel", "99")):
        result = desk.run("alert", *args)
        assert result.code == 2 and result.err.startswith("dutydesk: "), args


# --- at the county hub ----------------------------------------------------------------------


@pytest.fixture
def hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Desk:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    desk = Desk(tmp_path, capsys)
    desk.config.write_text(
        'timezone = "Asia/Shanghai"\noperator = "区值班员"\n[hub]\nenabled = true\n',
        encoding="utf-8",
    )
    result = desk.run("unit", "add", "--code", COUNTY, "--name", "西湖区", "--level", "county")
    assert result.code == 0, result.err
    return desk


def test_a_hub_sends_a_warning_down_to_the_units_of_its_area(hub: Desk) -> None:
    first = hub.ok(
        "hub", "unit", "add", TOWNSHIP, "--name", "青山街道", "--push-url", "http://127.0.0.1:9"
    )
    assert first["push_url"] == "http://127.0.0.1:9"
    hub.ok("hub", "unit", "add", "330106002000", "--name", "和平街道")
    hub.ok("hub", "unit", "add", "330107001000", "--name", "别区街道")
    data = hub.ok(
        "alert", "issue", "--event", "暴雨", "--severity", "orange", "--area", TOWNSHIP,
        "--area", "330106002000", "--expires", "+3h",
    )  # fmt: skip
    assert data["units"] == [TOWNSHIP, "330106002000"]
    assert data["identifier"].startswith(f"{COUNTY}_") and data["call"]["progress"] is None
    assert query(hub, "SELECT unit, kind, ref FROM hub_down ORDER BY unit") == [
        (TOWNSHIP, "alert", data["identifier"]),
        ("330106002000", "alert", data["identifier"]),
    ]
    assert query(hub, "SELECT push_url FROM hub_units WHERE code = ?", TOWNSHIP) == [
        ("http://127.0.0.1:9",)
    ]
    units = {u["code"]: u["push_url"] for u in hub.items("hub", "unit", "list")}
    assert units == {TOWNSHIP: "http://127.0.0.1:9", "330106002000": None, "330107001000": None}
    listing = hub.run("hub", "unit", "list")
    assert "pushed to http://127.0.0.1:9" in listing.out and "polls" in listing.out
    [listed] = hub.items("hub", "alerts")
    assert listed["identifier"] == data["identifier"]
    view = hub.ok("hub", "alert", str(data["id"]))  # its number here works too
    assert sorted(u["unit"] for u in view["units"]) == [TOWNSHIP, "330106002000"]
    assert all(u["received_at"] is None for u in view["units"])
    table = hub.run("hub", "alert", data["identifier"])
    assert table.code == 0 and "青山街道" in table.out and "not yet" in table.out

    cancel = hub.ok("alert", "cancel", data["identifier"])
    assert cancel["units"] == [TOWNSHIP, "330106002000"]
    assert count(hub, "hub_down") == 4


def test_a_bad_push_url_registers_nothing(hub: Desk) -> None:
    result = hub.run("hub", "unit", "add", TOWNSHIP, "--name", "青山街道", "--push-url", "ftp://x")
    assert result.code == 2 and "--push-url" in result.err
    assert count(hub, "hub_units") == 0


def test_an_unknown_alert_at_the_hub_exits_2(hub: Desk) -> None:
    result = hub.run("hub", "alert", "NOPE_1")
    assert result.code == 2 and "NOPE_1" in result.err
    assert hub.items("hub", "alerts") == []
