"""``dutydesk duty ...``: posts, rotations, overrides, now/at/list/check and the .ics export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from icalendar import Calendar

from store.db import connect


def seed_people(run: Any) -> None:
    run("init")
    db = connect(run.db)
    with db.conn:
        for key, name in (("P1", "王伟"), ("P2", "李娜"), ("P3", "刘洋")):
            db.conn.execute(
                "INSERT INTO people (key, name, created_at, updated_at) VALUES (?,?,?,?)",
                (key, name, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            )
    db.close()


def setup_roster(run: Any) -> None:
    seed_people(run)
    assert run("duty", "post-add", "DO", "值班员").code == 0
    result = run(
        "duty",
        "rotation-add",
        "DO",
        "--people",
        "P1,李娜",
        "--starts-on",
        "2026-11-01",
        "--shift-start",
        "08:00",
        "--hours",
        "24",
    )
    assert result.code == 0, result.err
    assert "王伟, 李娜" in result.out


def test_at_and_now_say_who_holds_each_post(run: Any) -> None:
    setup_roster(run)
    assert run("duty", "post-add", "LEAD", "值班长").code == 0
    result = run("duty", "at", "2026-11-27 03:00")
    assert result.code == 0, result.err
    assert "DO       值班员: 李娜 (P2) 2026-11-26 08:00 → 2026-11-27 08:00" in result.out
    assert "LEAD     值班长: UNFILLED" in result.out
    data = run("duty", "at", "2026-11-27 09:00", "--json").json()
    assert data["at"] == "2026-11-27T01:00:00Z"  # type: ignore[index]
    assert data["at"] and data["next_after"] is None  # type: ignore[index]
    posts = {p["post"]: p for p in data["items"]}  # type: ignore[index]
    assert posts["DO"]["shift"]["person"] == "P1"
    assert posts["LEAD"]["shift"] is None
    now = run("duty", "now", "--json")
    assert now.code == 0 and len(now.json()["items"]) == 2  # type: ignore[index]


def test_override_splits_the_listed_shift(run: Any) -> None:
    setup_roster(run)
    result = run(
        "duty",
        "override",
        "DO",
        "--person",
        "P3",
        "--from",
        "2026-11-26 12:00",
        "--to",
        "2026-11-26 18:00",
        "--reason",
        "就医",
    )
    assert result.code == 0, result.err
    listed = run(
        "duty", "list", "--from", "2026-11-26 09:00", "--to", "2026-11-26 20:00", "--json"
    ).json()["items"]
    assert [(s["person"], s["source"], s["starts_at"]) for s in listed] == [  # type: ignore[union-attr]
        ("P2", "rotation", "2026-11-26T00:00:00Z"),
        ("P3", "override", "2026-11-26T04:00:00Z"),
        ("P2", "rotation", "2026-11-26T10:00:00Z"),
    ]
    table = run("duty", "list", "--from", "2026-11-26 09:00", "--to", "2026-11-26 20:00")
    assert "3 shift(s)" in table.out and "刘洋 (P3)" in table.out


def test_check_exits_1_and_lists_gaps(run: Any) -> None:
    setup_roster(run)
    ok = run("duty", "check", "--from", "2026-11-02", "--to", "2026-11-30")
    assert ok.code == 0 and "no gaps" in ok.out
    bad = run("duty", "check", "--from", "2026-10-31 08:00", "--to", "2026-11-02")
    assert bad.code == 1
    assert bad.out.strip().splitlines() == [
        "gap: DO 值班员 unfilled 2026-10-31 08:00 → 2026-11-01 08:00"
    ]
    data = run("duty", "check", "--from", "2026-10-31 08:00", "--to", "2026-11-02", "--json")
    assert data.code == 1
    assert data.json() == {
        "ok": False,
        "problems": [
            {
                "code": "gap",
                "message": "gap: DO 值班员 unfilled 2026-10-31 08:00 → 2026-11-01 08:00",
                "where": {
                    "post": "DO",
                    "starts_at": "2026-10-31T00:00:00Z",
                    "ends_at": "2026-11-01T00:00:00Z",
                },
            }
        ],
    }


def test_export_writes_a_personal_ical(run: Any, tmp_path: Path) -> None:
    setup_roster(run)
    target = tmp_path / "me.ics"
    result = run(
        "duty",
        "export",
        str(target),
        "--person",
        "P1",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-07",
    )
    assert result.code == 0, result.err
    assert "3 shift(s)" in result.out
    events = Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    starts = [e.decoded("DTSTART").astimezone(UTC) for e in events]
    assert starts == [datetime(2026, 11, d, 0, tzinfo=UTC) for d in (1, 3, 5)]
    assert {str(e["SUMMARY"]) for e in events} == {"值班员: 王伟"}


def test_bad_input_is_one_line_and_exit_2(run: Any) -> None:
    setup_roster(run)
    dup = run("duty", "post-add", "DO", "again")
    assert dup.code == 2 and dup.err.strip().count("\n") == 0 and "already exists" in dup.err
    nobody = run(
        "duty", "override", "DO", "--person", "X9", "--from", "+1h", "--to", "+2h", "--reason", "r"
    )
    assert nobody.code == 2 and "nobody" in nobody.err
    date = run("duty", "rotation-add", "DO", "--people", "P1", "--starts-on", "11/01")
    assert date.code == 2 and "starts-on" in date.err
    post = run("duty", "at", "2026-11-27 03:00", "--json")
    assert post.code == 0
    missing = run("duty", "list", "--post", "NOPE")
    assert missing.code == 2 and "no post 'NOPE'" in missing.err


def test_a_phone_key_is_masked_in_roster_output(run: Any) -> None:
    """People keyed by their phone (the default) never show the number in the roster."""
    run("init")
    db = connect(run.db)
    with db.conn:
        db.conn.execute(
            "INSERT INTO people (key, name, phone, created_at, updated_at) VALUES (?,?,?,?,?)",
            ("+8613800138000", "王伟", "+8613800138000", "2026-01-01T00:00:00Z", "x"),
        )
    db.close()
    assert run("duty", "post-add", "DO", "值班员").code == 0
    added = run(
        "duty",
        "rotation-add",
        "DO",
        "--people",
        "13800138000",
        "--starts-on",
        "2026-11-01",
        "--shift-start",
        "08:00",
        "--hours",
        "24",
    )
    assert added.code == 0, added.err
    text = run("duty", "at", "2026-11-27 03:00").out
    assert "王伟 (138****8000)" in text and "13800138000" not in text
    data = run("duty", "at", "2026-11-27 03:00", "--json").json()
    assert data["items"][0]["shift"]["person"] == "138****8000"  # type: ignore[index]
