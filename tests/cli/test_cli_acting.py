"""Who acts at the desk, from the CLI: the roster's duty officer by default, ``--as`` a known
person only (by key, name or pinyin), the shift leads from the roster's shift-lead post, a
confirmed handover putting the incoming officer on duty, and the brief saying what changed.

The configuration names 王伟 as its operator and 陈队长, 赵主任 as shift leads (``run``'s
file); tests about the roster's shift leads write a configuration without them.
"""

from __future__ import annotations

import sqlite3

import pytest

OFFICERS = (("刘静", "P0001"), ("李芳", "lifang"), ("王伟", "wangwei"), ("赵主任", "zhao"))


@pytest.fixture(autouse=True)
def people(run) -> None:
    for name, key in OFFICERS:
        added = run("person", "add", "--name", name, "--key", key)
        assert added.code == 0, added.err


def roster(run, post: str, name: str, *people: str) -> None:
    """``post`` filled every day from 08:00 for 24 hours by ``people`` in turn (since 2020)."""
    assert run("duty", "post-add", post, name).code == 0
    added = run(
        "duty", "rotation-add", post, "--people", ",".join(people), "--starts-on", "2020-01-01"
    )
    assert added.code == 0, added.err


def last_event(run) -> tuple[str, str]:
    with sqlite3.connect(run.db) as conn:
        row = conn.execute("SELECT operator, kind FROM events ORDER BY id DESC LIMIT 1").fetchone()
    return str(row[0]), str(row[1])


def new_case(run, *prefix: str, title: str = "3号楼火灾") -> str:
    made = run(*prefix, "incident", "new", "--title", title, "--category", "facilities", "--json")
    assert made.code == 0, made.err
    return str(made.json()["number"])


def without_leads(run) -> None:
    run.config.write_text('operator = "王伟"\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")


def test_an_unknown_as_is_refused_with_the_closest_and_nothing_is_written(run) -> None:
    with sqlite3.connect(run.db) as conn:
        before = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    refused = run("--as", "李放", "incident", "new", "--title", "火灾", "--category", "facilities")
    assert refused.code == 2
    assert refused.err.count("\n") == 1 and "--as" in refused.err and "李芳" in refused.err
    assert "Traceback" not in refused.err
    with sqlite3.connect(run.db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == before


@pytest.mark.parametrize("typed", ["liujing", "lj", "P0001", "刘静"])
def test_as_names_a_person_by_pinyin_initials_key_or_name(run, typed: str) -> None:
    new_case(run, "--as", typed)
    assert last_event(run) == ("刘静", "reported")


def test_by_default_the_roster_duty_officer_acts_else_the_configured_operator(run) -> None:
    new_case(run)
    assert last_event(run)[0] == "王伟"  # no roster: the configuration's operator
    brief = run("shift", "brief")
    assert "王伟" in brief.out and "configuration" in brief.out
    roster(run, "DO", "值班员", "刘静")
    new_case(run)
    assert last_event(run)[0] == "刘静"
    assert "刘静" in run("shift", "brief").out


def test_a_confirmed_handover_puts_the_incoming_officer_on_duty(run) -> None:
    roster(run, "DO", "值班员", "刘静")
    handed = run("shift", "handover", "--to", "lifang", "--note", "河堤")
    assert handed.code == 0, handed.err
    # The hint is the real command, and it works as given.
    assert "dutydesk --as 李芳 shift confirm 1" in handed.out
    confirmed = run("--as", "李芳", "shift", "confirm", "1")
    assert confirmed.code == 0, confirmed.err
    now = run("duty", "now", "--json").json()
    items = now["items"] if isinstance(now, dict) else now
    (do,) = [held["shift"] for held in items if held["post"] == "DO"]
    assert (do["person_name"], do["source"]) == ("李芳", "override")
    new_case(run)  # no --as: the roster says 李芳 now
    assert last_event(run)[0] == "李芳"
    # The second handover of the day goes on from there.
    assert run("shift", "handover", "--to", "王伟").code == 0
    assert run("--as", "wangwei", "shift", "confirm").code == 0
    new_case(run)
    assert last_event(run)[0] == "王伟"


def test_handing_over_to_nobody_known_is_refused(run) -> None:
    refused = run("shift", "handover", "--to", "李放")
    assert refused.code == 2 and "--to" in refused.err and "李芳" in refused.err
    assert run("shift", "list", "--json").code == 0
    with sqlite3.connect(run.db) as conn:
        assert conn.execute("SELECT count(*) FROM handovers").fetchone()[0] == 0


def test_the_shift_lead_post_says_who_approves(run) -> None:
    without_leads(run)
    roster(run, "SL", "值班长", "赵主任")
    number = new_case(run, "--as", "刘静")
    assert (
        run(
            "--as", "刘静", "incident", "extend", number, "--reason", "等配件", "--until", "+3d"
        ).code
        == 0
    )
    refused = run("--as", "李芳", "incident", "approve-extension", number)
    assert refused.code == 2 and "not a shift lead" in refused.err and "赵主任" in refused.err
    granted = run("--as", "zhao", "incident", "approve-extension", number, "--json")
    assert granted.code == 0, granted.err
    assert granted.json()["status"] == "granted"


def test_the_configured_leads_override_the_post(run) -> None:
    roster(run, "SL", "值班长", "李芳")  # the configuration names 陈队长 and 赵主任
    number = new_case(run, "--as", "刘静")
    assert (
        run(
            "--as", "刘静", "incident", "extend", number, "--reason", "等配件", "--until", "+3d"
        ).code
        == 0
    )
    refused = run("--as", "李芳", "incident", "approve-extension", number)
    assert refused.code == 2 and "not a shift lead" in refused.err
    assert run("--as", "赵主任", "incident", "approve-extension", number).code == 0


def test_the_brief_says_what_is_new_closed_and_changed_since_the_last_handover(run) -> None:
    before = new_case(run, title="路灯不亮")
    moved = new_case(run, title="井盖缺失")
    closing = new_case(run, title="噪音扰民")
    assert run("shift", "handover", "--to", "李芳").code == 0
    assert run("--as", "李芳", "shift", "confirm").code == 0
    fresh = new_case(run, "--as", "李芳", title="3号楼火灾")
    assert run("--as", "李芳", "incident", "register", moved).code == 0
    assert run("--as", "李芳", "incident", "void", closing, "--reason", "重复").code == 0

    data = run("shift", "brief", "--json").json()
    changes = data["changes"]
    assert changes["since_handover"] == 1
    assert [c["number"] for c in changes["opened"]["items"]] == [fresh]
    assert [c["number"] for c in changes["closed"]["items"]] == [closing]
    assert [(c["number"], c["was"], c["stage"]) for c in changes["changed"]["items"]] == [
        (moved, "reported", "registered")
    ]
    assert before not in str(changes)
    assert changes["mobilizations_started"] == {"items": [], "total": 0}

    text = run("shift", "brief").out
    assert "since handover #1" in text
    assert f"new 1: {fresh} 3号楼火灾" in text
    assert f"closed 1: {closing} 噪音扰民" in text
    assert f"changed stage 1: {moved} 井盖缺失 reported → registered" in text

    handed = run("--as", "李芳", "shift", "handover", "--to", "王伟", "--json")
    assert handed.code == 0, handed.err
    assert [c["number"] for c in handed.json()["changes"]["opened"]["items"]] == [fresh]


def test_a_name_two_people_share_is_the_one_on_a_duty_post(run) -> None:
    """Streets have more than one 王伟: ``--as`` and ``--to`` take the one on the roster, and a
    name shared only off the roster stays ambiguous (exit 2, both listed)."""
    assert run("person", "add", "--name", "刘静", "--key", "grid-liujing").code == 0
    assert run("person", "add", "--name", "张强", "--key", "zq1").code == 0
    assert run("person", "add", "--name", "张强", "--key", "zq2").code == 0
    roster(run, "DO", "值班员", "P0001", "lifang")
    new_case(run, "--as", "刘静")
    assert last_event(run) == ("刘静", "reported")
    with sqlite3.connect(run.db) as conn:
        operators = conn.execute("SELECT count(*) FROM people WHERE name = '刘静'").fetchone()[0]
    assert operators == 2
    ambiguous = run("--as", "张强", "incident", "list")
    assert ambiguous.code == 2 and "zq1" in ambiguous.err and "zq2" in ambiguous.err
