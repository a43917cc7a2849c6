"""The hash-chained audit log: an intact chain verifies, and tampering is found at its row."""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import Stage
from store.audit import GENESIS, append_event, head, row_hash, verify_chain
from store.clock import FixedClock
from store.db import write
from tests.conftest import OPERATOR, MakeCase, events_count

COLUMNS = "id, at, operator, incident_id, kind, stage_from, stage_to, data, prev_hash, hash"


@pytest.fixture
def chained(db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase) -> int:
    """A few cases through a few steps; returns the number of chained entries (at least 10)."""
    first = make_case(Stage.HANDLING)
    second = make_case(Stage.REGISTERED, title="河道垃圾")
    wf.add_note(db, clock, OPERATOR, first.id, "现场有液化气罐")
    wf.add_task(db, clock, OPERATOR, first.id, "疏散住户")
    clock.advance(minutes=5)
    wf.void(db, clock, policy, OPERATOR, second.id, "误报")
    with write(db):
        append_event(db, at="2026-11-26T02:10:00Z", operator=OPERATOR, kind="handover")
    count = events_count(db)
    assert count >= 10
    return count


def row(db: Database, event_id: int) -> tuple:
    return db.conn.execute(f"SELECT {COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()


def insert(db: Database, values: tuple) -> None:
    db.conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", values)


def test_an_empty_chain_verifies(db: Database) -> None:
    report = verify_chain(db)
    assert (report.ok, report.checked, report.bad_id) == (True, 0, None)
    assert head(db) == (0, GENESIS)


def test_an_intact_chain_verifies(db: Database, chained: int) -> None:
    report = verify_chain(db)
    assert (report.ok, report.checked, report.bad_id, report.problem) == (
        True,
        chained,
        None,
        None,
    )
    assert head(db)[0] == chained
    assert row(db, 1)[8] == GENESIS
    assert all(row(db, i)[8] == row(db, i - 1)[9] for i in range(2, chained + 1))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", '{"text":"已处理"}'),
        ("operator", "intruder"),
        ("at", "2020-01-01T00:00:00Z"),
        ("kind", "close"),
        ("stage_to", "closed"),
        ("stage_from", "verified"),
    ],
)
@pytest.mark.parametrize("target", ["first", "middle", "last"])
def test_an_edited_row_is_named(
    db: Database, chained: int, column: str, value: object, target: str
) -> None:
    event_id = {"first": 1, "middle": chained // 2, "last": chained}[target]
    db.conn.execute(f"UPDATE events SET {column} = ? WHERE id = ?", (value, event_id))
    report = verify_chain(db)
    assert not report.ok
    assert report.bad_id == event_id
    assert report.checked == event_id - 1
    assert "altered" in (report.problem or "")


def test_an_edit_in_the_middle_is_reported_not_a_later_row(db: Database, chained: int) -> None:
    db.conn.execute("UPDATE events SET data = '{}' WHERE id = 4")
    db.conn.execute("UPDATE events SET operator = 'x' WHERE id = 7")
    assert verify_chain(db).bad_id == 4


def test_an_edit_with_a_recomputed_hash_breaks_the_next_row(db: Database, chained: int) -> None:
    """A forger who also recomputes the edited row's hash is caught by the row after it."""
    eid, at, operator, incident_id, kind, stage_from, stage_to, _, prev, _ = row(db, 3)
    forged_data = '{"text":"伪造"}'
    digest = row_hash(prev, eid, at, operator, incident_id, kind, stage_from, stage_to, forged_data)
    db.conn.execute("UPDATE events SET data = ?, hash = ? WHERE id = 3", (forged_data, digest))
    report = verify_chain(db)
    assert (report.ok, report.bad_id) == (False, 4)
    assert "does not follow" in (report.problem or "")


@pytest.mark.parametrize("event_id", [1, 2, 5])
def test_a_deleted_row_is_named(db: Database, chained: int, event_id: int) -> None:
    db.conn.execute("DELETE FROM events WHERE id = ?", (event_id,))
    report = verify_chain(db)
    assert (report.ok, report.bad_id) == (False, event_id)
    assert "missing" in (report.problem or "")


@pytest.mark.parametrize("deleted", [1, 2, 3])
def test_deleted_rows_at_the_end_are_found(db: Database, chained: int, deleted: int) -> None:
    db.conn.execute("DELETE FROM events WHERE id > ?", (chained - deleted,))
    report = verify_chain(db)
    assert not report.ok
    assert report.checked == chained - deleted
    assert report.bad_id == chained - deleted + 1
    assert "deleted" in (report.problem or "")


def test_everything_deleted_is_found(db: Database, chained: int) -> None:
    db.conn.execute("DELETE FROM events")
    report = verify_chain(db)
    assert (report.ok, report.bad_id) == (False, 1)


def test_a_forged_row_appended_behind_the_head_is_named(db: Database, chained: int) -> None:
    """A correctly chained row added outside dutydesk does not move the recorded head."""
    last = row(db, chained)
    forged_id = chained + 1
    digest = row_hash(last[9], forged_id, last[1], "intruder", None, "note", None, None, "{}")
    insert(db, (forged_id, last[1], "intruder", None, "note", None, None, "{}", last[9], digest))
    report = verify_chain(db)
    assert (report.ok, report.bad_id) == (False, forged_id)
    assert report.checked == forged_id


def test_a_forged_row_with_a_made_up_hash_is_named(db: Database, chained: int) -> None:
    last = row(db, chained)
    insert(
        db, (chained + 1, last[1], "intruder", None, "note", None, None, "{}", last[9], "f" * 64)
    )
    assert verify_chain(db).bad_id == chained + 1


def shift_up(db: Database, from_id: int) -> None:
    """Make room for a row at ``from_id`` by renumbering every row from there on."""
    ids = [
        r[0]
        for r in db.conn.execute(
            "SELECT id FROM events WHERE id >= ? ORDER BY id DESC", (from_id,)
        ).fetchall()
    ]
    for event_id in ids:
        db.conn.execute("UPDATE events SET id = id + 1 WHERE id = ?", (event_id,))


def test_a_forged_row_inserted_in_the_middle_is_named(db: Database, chained: int) -> None:
    before = row(db, 3)
    shift_up(db, 4)
    insert(db, (4, before[1], "intruder", None, "note", None, None, "{}", before[9], "0" * 64))
    report = verify_chain(db)
    assert (report.ok, report.bad_id) == (False, 4)


def test_a_well_forged_row_in_the_middle_breaks_the_row_after_it(
    db: Database, chained: int
) -> None:
    before = row(db, 3)
    shift_up(db, 4)
    digest = row_hash(before[9], 4, before[1], "intruder", None, "note", None, None, "{}")
    insert(db, (4, before[1], "intruder", None, "note", None, None, "{}", before[9], digest))
    report = verify_chain(db)
    assert (report.ok, report.bad_id) == (False, 5)


def test_appending_after_verification_keeps_the_chain(
    db: Database, clock: FixedClock, policy: Policy, chained: int, make_case: MakeCase
) -> None:
    make_case(Stage.CLOSED)
    report = verify_chain(db)
    assert report.ok
    assert report.checked == events_count(db) > chained


def test_a_failed_step_appends_nothing(
    db: Database, clock: FixedClock, policy: Policy, chained: int
) -> None:
    before = head(db)
    with pytest.raises(ZeroDivisionError), write(db):
        append_event(db, at="2026-11-26T03:00:00Z", operator=OPERATOR, kind="note")
        raise ZeroDivisionError
    assert head(db) == before
    assert events_count(db) == chained
    assert verify_chain(db).ok


def test_a_replaced_last_row_is_named(db: Database, chained: int) -> None:
    """The last row deleted and a correctly chained forgery put in its place."""
    last = row(db, chained)
    db.conn.execute("DELETE FROM events WHERE id = ?", (chained,))
    prev = last[8]
    digest = row_hash(prev, chained, last[1], "intruder", None, "note", None, None, "{}")
    insert(db, (chained, last[1], "intruder", None, "note", None, None, "{}", prev, digest))
    report = verify_chain(db)
    assert (report.ok, report.checked, report.bad_id) == (False, chained, chained)
