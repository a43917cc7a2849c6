"""`incident show` takes a case number, its tail (`244` for 2026-000244) or an id; `incident
search` says when there are more matches than it shows."""

from __future__ import annotations

import sqlite3


def new_case(run, title: str) -> dict:
    result = run("incident", "new", "--title", title, "--category", "dispute", "--json")
    assert result.code == 0, result.err
    return result.json()


def test_show_takes_the_tail_of_a_number(run) -> None:
    first = new_case(run, "邻里纠纷")
    # The numbering jumps (as after a restored unit's resync): the second case is number 244
    # with id 2, so only the number's tail can name it as "244".
    with sqlite3.connect(run.db) as conn:
        conn.execute("UPDATE counters SET value = 243")
    second = new_case(run, "物业纠纷")
    assert (first["number"][-6:], second["number"][-6:]) == ("000001", "000244")

    shown = run("incident", "show", "244", "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["number"] == second["number"]
    assert run("incident", "show", "000244", "--json").json()["number"] == second["number"]
    assert run("incident", "show", "1", "--json").json()["number"] == first["number"]
    # No case is numbered ...0002: the id, as before.
    assert run("incident", "show", "2", "--json").json()["number"] == second["number"]

    missing = run("incident", "show", "999")
    assert missing.code != 0 and "999" in missing.err


def test_search_says_when_there_are_more_matches(run) -> None:
    for n in range(3):
        new_case(run, f"物业纠纷 {n}")
    few = run("incident", "search", "纠纷", "--limit", "2")
    assert few.code == 0, few.err
    assert "there are more: --limit 10" in few.out
    every = run("incident", "search", "纠纷", "--limit", "3")
    assert "there are more" not in every.out
