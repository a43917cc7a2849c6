"""``dutydesk shift``: hand over, confirm as the incoming officer, list the handovers.

The officers are people of the directory: the outgoing one is the configuration's operator
(王伟: the database has no duty roster), the incoming one 李芳 (key ``lifang``).
"""

from __future__ import annotations

import json
import sqlite3

import pytest

SUCCESSOR = "李芳"


@pytest.fixture(autouse=True)
def officers(run) -> None:
    for name, key in (("王伟", "wangwei"), (SUCCESSOR, "lifang")):
        added = run("person", "add", "--name", name, "--key", key)
        assert added.code == 0, added.err


def hand_over(run, note: str = "3号楼火灾跟进") -> dict[str, object]:
    result = run("shift", "handover", "--to", SUCCESSOR, "--note", note, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return data


def test_the_successor_confirms_and_both_are_listed(run) -> None:
    logged = run(
        "incident", "new", "--title", "3号楼火灾", "--category", "accident-disaster", "--json"
    )
    assert logged.code == 0, logged.err
    handed = hand_over(run)
    assert (handed["from"], handed["to"], handed["confirmed_at"]) == ("王伟", SUCCESSOR, None)
    assert handed["open"] == 1 and handed["pending_extensions"] == 0

    confirmed = run("--as", SUCCESSOR, "shift", "confirm", str(handed["id"]), "--json")
    assert confirmed.code == 0, confirmed.err
    data = confirmed.json()
    assert isinstance(data, dict)
    assert data["confirmed_by"] == SUCCESSOR and data["confirmed_at"]

    listed = run("shift", "list", "--json").json()["items"]
    assert isinstance(listed, list)
    assert [(h["id"], h["note"], h["confirmed_by"]) for h in listed] == [
        (handed["id"], "3号楼火灾跟进", SUCCESSOR)
    ]
    conn = sqlite3.connect(run.db)
    kinds = [k for (k,) in conn.execute("SELECT kind FROM events WHERE kind LIKE 'handover%'")]
    conn.close()
    assert kinds == ["handover", "handover_confirmed"]

    text = run("shift", "list")
    assert text.code == 0
    assert f"王伟 → {SUCCESSOR}" in text.out and f"confirmed by {SUCCESSOR}" in text.out


def test_confirm_without_an_id_takes_the_one_waiting(run) -> None:
    first = hand_over(run, "first")
    second = hand_over(run, "second")
    result = run("--as", SUCCESSOR, "shift", "confirm")
    assert result.code == 0, result.err
    assert f"handover {second['id']} from 王伟" in result.out
    assert f"confirmed by {SUCCESSOR}" in result.out
    listed = {h["id"]: h["confirmed_by"] for h in run("shift", "list", "--json").json()["items"]}
    assert listed == {first["id"]: None, second["id"]: SUCCESSOR}
    nothing = run("--as", SUCCESSOR, "shift", "confirm")
    assert nothing.code == 2 and f"no handover is waiting for {SUCCESSOR}" in nothing.err


def test_only_the_successor_confirms_and_only_once(run) -> None:
    handed = hand_over(run)
    ident = str(handed["id"])
    wrong = run("shift", "confirm", ident)  # the outgoing officer (王伟) is not the successor
    assert wrong.code == 2
    assert f"only {SUCCESSOR} can confirm it, not 王伟" in wrong.err
    assert "Traceback" not in wrong.err
    assert run("--as", SUCCESSOR, "shift", "confirm", ident).code == 0
    again = run("--as", SUCCESSOR, "shift", "confirm", ident)
    assert again.code == 2 and "already confirmed" in again.err
    missing = run("--as", SUCCESSOR, "shift", "confirm", "999")
    assert missing.code == 2 and "no handover 999" in missing.err


def test_the_list_says_when_there_is_nothing_and_what_is_unconfirmed(run) -> None:
    empty = run("shift", "list")
    assert empty.code == 0 and "no handovers yet" in empty.out
    assert json.loads(run("shift", "list", "--json").out) == {"items": [], "next_after": None}
    hand_over(run)
    text = run("shift", "list").out
    assert "NOT CONFIRMED" in text and "3号楼火灾跟进" in text
