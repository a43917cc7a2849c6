"""Bad input through the real CLI: one line, exit 2, nothing written (issue 11, items 11 and 12).

Before: sixteen inputs (ids past SQLite's INTEGER, ``+999999999d``, years 0001 and 9999, a
negative or huge ``--limit``...) ended in ``unexpected error: OverflowError`` with exit 1, or
were taken (an extension to 9999); terminal escapes were accepted in titles, notes and ``--as``;
and ``incident show``/``list --json`` printed the reporter's phone number in full. Every input
below is run through ``console.cli.main``, as the ``dutydesk`` script runs it.
"""

from __future__ import annotations

import sqlite3

import pytest

PHONE = "13800138000"
ESCAPE = "fire\x1b[2J\x1b]0;pwned\x07"
BIG = "99999999999999999999"  # past SQLite's INTEGER (2**63 - 1)


@pytest.fixture
def office(run):
    """A database with one case reported by PHONE, a person, a duty post and a rotation."""
    new = run(
        "incident",
        "new",
        "--title",
        "3号楼发生火灾",
        "--category",
        "accident-disaster",
        "--type",
        "fire",
        "--reporter",
        "李四",
        "--phone",
        PHONE,
    )
    assert new.code == 0, new.err
    assert run("person", "add", "--name", "张三", "--phone", "13912345678").code == 0
    assert run("duty", "post-add", "DO", "值班员").code == 0
    return run


def events(run) -> list[tuple]:
    with sqlite3.connect(run.db) as conn:
        return conn.execute("SELECT * FROM events").fetchall()


def one_clear_line(result) -> None:
    """Exit 2, exactly one line on stderr, naming a field or option, no traceback."""
    assert result.code == 2, (result.code, result.err)
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err and "unexpected error" not in result.err


# Every option or argument that takes an id, a number, a duration or a date, with the values
# that used to crash or slip through (each line: the command, and what the line must name).
BAD_INPUTS = [
    (("incident", "show", BIG), "no case"),
    (("incident", "register", BIG), "no case"),
    (("incident", "note", BIG, "text"), "no case"),
    (("incident", "merge", "1", "--into", BIG), "no case"),
    (("incident", "list", "--after", f"x/{BIG}"), "after"),
    (("incident", "list", "--limit", BIG), "--limit"),
    (("incident", "list", "--limit", "0"), "--limit"),
    (("incident", "extend", "1", "--reason", "r", "--until", "+999999999d"), "until"),
    (("incident", "extend", "1", "--reason", "r", "--until", "0001-01-01"), "until"),
    (("incident", "extend", "1", "--reason", "r", "--until", "9999-12-31"), "until"),
    (("incident", "extend", "1", "--reason", "r", "--until", "+1e308d"), "until"),
    (("incident", "extend", "1", "--reason", "r", "--until", "+400d"), "until"),
    (("incident", "task", "add", "1", "--title", "t", "--due", "+999999999d"), "due"),
    (("incident", "task", "add", "1", "--title", "t", "--due", "0001-01-01"), "due"),
    (("incident", "task", "add", "1", "--title", "t", "--due", "9999-12-31 23:59"), "due"),
    (("incident", "task", "done", BIG), "TASK_ID"),
    (
        ("incident", "new", "--title", "t", "--category", "dispute", "--lat", BIG, "--lon", "1"),
        "lat",
    ),
    (("person", "list", "--after", BIG), "--after"),
    (("person", "list", "--limit", BIG), "--limit"),
    (("duty", "rotation-add", "DO", "--people", "张三", "--starts-on", "0001-01-01"), "starts-on"),
    (("duty", "rotation-add", "DO", "--people", "张三", "--starts-on", "9999-12-31"), "starts-on"),
    (
        (
            "duty",
            "rotation-add",
            "DO",
            "--people",
            "张三",
            "--starts-on",
            "2026-01-01",
            "--until",
            "+999999999d",
        ),
        "until",
    ),
    (
        (
            "duty",
            "rotation-add",
            "DO",
            "--people",
            "张三",
            "--starts-on",
            "2026-01-01",
            "--every-days",
            BIG,
        ),
        "--every-days",
    ),
    (
        (
            "duty",
            "rotation-add",
            "DO",
            "--people",
            "张三",
            "--starts-on",
            "2026-01-01",
            "--hours",
            "1e400",
        ),
        "--hours",
    ),
    (
        (
            "duty",
            "override",
            "DO",
            "--person",
            "张三",
            "--from",
            "0001-01-01",
            "--to",
            "+1h",
            "--reason",
            "x",
        ),
        "from",
    ),
    (
        (
            "duty",
            "override",
            "DO",
            "--person",
            "张三",
            "--from",
            "+1h",
            "--to",
            "+999999999d",
            "--reason",
            "x",
        ),
        "to",
    ),
    (
        (
            "duty",
            "override",
            "DO",
            "--person",
            "张三",
            "--from",
            "+1h",
            "--to",
            "9999-12-31",
            "--reason",
            "x",
        ),
        "to",
    ),
    (("duty", "at", "0001-01-01"), "when"),
    (("duty", "at", "+999999999d"), "when"),
    (("duty", "at", "9999-12-31 23:59"), "when"),
    (("duty", "list", "--from", "0001-01-01"), "from"),
    (("duty", "check", "--from", "+99999999d"), "from"),
    (
        ("unit", "add", "--code", "G1", "--name", "x", "--level", "grid", "--households", BIG),
        "--households",
    ),
    (
        ("unit", "add", "--code", "G1", "--name", "x", "--level", "grid", "--since", "0001-01-01"),
        "since",
    ),
    (
        ("unit", "add", "--code", "G1", "--name", "x", "--level", "grid", "--since", "+999999999d"),
        "since",
    ),
    (("shift", "confirm", BIG), "[ID]"),
    (("shift", "list", "--limit", BIG), "--limit"),
    (("mobilization", "show", BIG), "MOBILIZATION_ID"),
    (("mobilization", "cancel", BIG), "MOBILIZATION_ID"),
    (("mobilization", "people", BIG), "MOBILIZATION_ID"),
    (("mobilization", "list", "--limit", BIG), "--limit"),
    (("mobilization", "list", "--limit", "-1"), "--limit"),
    (("mobilization", "show", "1", "--watch", "--every", "1e400"), "--every"),
    (("ack", "CODE", "--eta", BIG), "eta"),
]


@pytest.mark.parametrize(
    ("args", "names"), BAD_INPUTS, ids=[" ".join(a)[:60] for a, _n in BAD_INPUTS]
)
def test_bad_numbers_ids_and_dates_are_one_line_exit_2(office, args, names) -> None:
    before = len(events(office))
    result = office(*args)
    one_clear_line(result)
    assert names in result.err
    assert len(events(office)) == before


@pytest.mark.parametrize(
    "args",
    [
        ("incident", "new", "--title", ESCAPE, "--category", "dispute"),
        ("incident", "new", "--title", "x" * 100_000, "--category", "dispute"),
        ("incident", "new", "--title", "t", "--category", "dispute", "--description", "\x1b[2J"),
        ("incident", "note", "1", ESCAPE),
        ("incident", "note", "1", "x" * 100_000),
        ("incident", "register", "1", "--note", ESCAPE),
        ("incident", "extend", "1", "--reason", ESCAPE, "--until", "+1d"),
        ("incident", "edit", "1", "--title", ESCAPE),
        ("person", "add", "--name", ESCAPE),
        ("team", "add", "--code", "T1", "--name", ESCAPE, "--kind", "rescue"),
        ("unit", "add", "--code", "G9", "--name", ESCAPE, "--level", "grid"),
        ("duty", "post-add", "D2", ESCAPE),
        ("shift", "handover", "--to", "李四", "--note", ESCAPE),
        ("--as", ESCAPE, "incident", "note", "1", "ok"),
        ("--as", "x" * 100_000, "incident", "note", "1", "ok"),
    ],
    ids=lambda a: " ".join(a)[:40].encode("unicode_escape").decode(),
)
def test_control_characters_and_huge_text_are_refused_before_the_log(office, args) -> None:
    before = events(office)
    result = office(*args)
    one_clear_line(result)
    assert "\x1b" not in result.err  # the error itself never replays the escape
    assert events(office) == before


def test_a_note_may_hold_line_breaks(office) -> None:
    assert office("incident", "note", "1", "第一行\n第二行").code == 0
    shown = office("incident", "show", "1", "--json").json()
    assert shown["timeline"][-1]["data"]["text"] == "第一行\n第二行"


def test_the_extension_bound_comes_from_the_configuration(office) -> None:
    with open(office.config, "a", encoding="utf-8") as config:
        config.write("[security]\nmax_extension_days = 2\n")
    refused = office("incident", "extend", "1", "--reason", "r", "--until", "+3d")
    one_clear_line(refused)
    assert "at most 2 days" in refused.err
    assert office("incident", "extend", "1", "--reason", "r", "--until", "+1d").code == 0


# ---- reporters' phone numbers (item 11) ------------------------------------------------------


def test_listings_and_show_mask_the_reporter_phone(office) -> None:
    outputs = [
        office("incident", "show", "1", "--json"),
        office("incident", "show", "1"),
        office("incident", "list", "--json"),
        office("incident", "list"),
        office("incident", "search", "火灾", "--json"),
    ]
    for result in outputs:
        assert result.code == 0, result.err
        assert PHONE not in result.out
    assert office("incident", "show", "1", "--json").json()["reporter_phone"] == "138****8000"
    assert "138****8000" in outputs[1].out


def test_the_log_holds_no_whole_number_after_cases_and_roster_changes(office) -> None:
    assert office("incident", "edit", "1", "--title", "3号楼火灾").code == 0
    assert (
        office(
            "incident", "new", "--title", "t", "--category", "dispute", "--phone", "13700137000"
        ).code
        == 0
    )
    rotation = office(
        "duty", "rotation-add", "DO", "--people", "+8613912345678", "--starts-on", "2026-01-01"
    )
    assert rotation.code == 0, rotation.err
    override = office(
        "duty",
        "override",
        "DO",
        "--person",
        "13912345678",
        "--from",
        "+1h",
        "--to",
        "+9h",
        "--reason",
        "swap",
    )
    assert override.code == 0, override.err
    dump = " ".join(str(v) for row in events(office) for v in row)
    for digits in (PHONE, "13700137000", "13912345678"):
        assert digits not in dump
    with sqlite3.connect(office.db) as conn:  # the table keeps the number, to call back
        assert (
            conn.execute("SELECT reporter_phone FROM incidents WHERE id = 1").fetchone()[0] == PHONE
        )


@pytest.mark.parametrize(
    "args",
    [
        ("incident", "show", "1", "--json"),
        ("incident", "list", "--json"),
        ("incident", "show", "1"),
    ],
)
def test_unmasked_shows_the_number_and_audits_the_read(office, args) -> None:
    assert office("person", "add", "--name", "赵主任", "--key", "zhao").code == 0  # --as: a person
    result = office("--as", "赵主任", *args, "--unmasked")
    assert result.code == 0, result.err
    assert PHONE in result.out
    with sqlite3.connect(office.db) as conn:
        row = conn.execute(
            "SELECT operator, kind, data FROM events ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row[0] == "赵主任" and row[1] == "personal_data_shown"
    assert '"2026-000001"' in row[2] or "-000001" in row[2]
    assert PHONE not in row[2]
    assert office("audit", "verify").code == 0
