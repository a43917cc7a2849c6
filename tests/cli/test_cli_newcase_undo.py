"""``incident new`` lists likely duplicates and adds a call to a case; ``merge``; ``undo``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store.clock import SystemClock


def fire(run, *extra: str, title: str = "3号楼着火了"):
    return run(
        "incident",
        "new",
        "--title",
        title,
        "--category",
        "accident-disaster",
        "--type",
        "fire",
        "--grid",
        "G01",
        "--location",
        "幸福小区3号楼",
        *extra,
    )


def test_new_lists_likely_duplicates_and_json_carries_them(run) -> None:
    first = fire(run, "--json").json()
    assert first["duplicates"] == []
    second = fire(run, title="3号楼冒烟着火")
    assert second.code == 0, second.err
    assert "likely duplicates" in second.out
    assert first["number"] in second.out
    assert "same grid" in second.out
    assert "dutydesk incident merge 2026-000002 2026-000001" in second.out
    third = fire(run, "--json", title="3号楼火灾").json()
    assert first["number"] in [d["number"] for d in third["duplicates"]]
    assert {"number", "title", "stage", "grid", "score", "reasons"} <= set(third["duplicates"][0])
    far = run(
        "incident", "new", "--title", "路灯不亮", "--category", "facilities", "--grid", "G01",
        "--json",
    ).json()  # fmt: skip
    assert far["duplicates"] == []


def test_as_note_to_adds_the_call_with_its_caller(run) -> None:
    number = fire(run, "--json").json()["number"]
    added = run(
        "incident",
        "new",
        "--title",
        "3号楼还在冒烟",
        "--reporter",
        "张三",
        "--phone",
        "13800138000",
        "--as-note-to",
        number,
    )
    assert added.code == 0, added.err
    assert added.out.strip() == f"call added to {number} as a note (caller 张三 138****8000)"
    shown = run("incident", "show", number, "--json").json()
    assert len(run("incident", "list", "--json").json()["items"]) == 1  # no new case
    note = shown["timeline"][-1]
    assert note["kind"] == "note"
    as_json = run(
        "incident", "new", "--title", "又一个", "--as-note-to", number, "--json"
    ).json()  # fmt: skip
    assert as_json["case"] == number and as_json["caller"] is None


def test_bad_inputs_are_exit_2_and_change_nothing(run) -> None:
    number = fire(run, "--json").json()["number"]
    missing = run("incident", "new", "--title", "x")
    assert missing.code == 2 and "--category" in missing.err
    bad_phone = run(
        "incident", "new", "--title", "x", "--phone", "12ab", "--as-note-to", number
    )  # fmt: skip
    assert bad_phone.code == 2 and "not a phone number" in bad_phone.err
    unknown = run("incident", "new", "--title", "x", "--as-note-to", "2026-999999")
    assert unknown.code == 2 and "no case 2026-999999" in unknown.err
    shown = run("incident", "show", number, "--json").json()
    assert [e["kind"] for e in shown["timeline"]] == ["reported"]


def test_merge_takes_the_original_as_an_argument(run) -> None:
    original = fire(run, "--json").json()["number"]
    dup = fire(run, "--json", title="3号楼冒烟").json()["number"]
    both = run("incident", "merge", dup, original, "--into", "2026-000009")
    assert both.code == 2 and "two different originals" in both.err
    merged = run("incident", "merge", dup, original, "--json")
    assert merged.code == 0, merged.err
    assert merged.json()["stage"] == "merged"
    kinds = [e["kind"] for e in run("incident", "show", original, "--json").json()["timeline"]]
    assert kinds[-1] == "merged_in"


def test_undo_within_the_window_and_too_late(run, monkeypatch: pytest.MonkeyPatch) -> None:
    number = fire(run, "--json").json()["number"]
    assert run("incident", "register", number).code == 0
    undone = run("incident", "undo", number, "--json")
    assert undone.code == 0, undone.err
    assert undone.json()["stage"] == "reported"
    again = run("incident", "undo", number)
    assert again.code == 2 and "already undone" in again.err

    assert run("incident", "register", number).code == 0
    later = datetime.now(UTC) + timedelta(minutes=6)
    monkeypatch.setattr(SystemClock, "now", lambda self: later)
    late = run("incident", "undo", number)
    assert late.code == 2
    assert "too late to undo" in late.err and "\n" not in late.err.strip()
    assert run("incident", "show", number, "--json").json()["stage"] == "registered"
