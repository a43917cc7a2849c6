"""The shift handover (交接班): the outgoing officer's brief, the record, and the confirmation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlite_utils import Database

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import Stage
from incidents.supervision import (
    case_brief,
    confirm_handover,
    get_handover,
    list_handovers,
    pending_handover,
    shift_handover,
    sweep_overdue,
)
from reports.handover import handover_brief
from store.clock import FixedClock, to_iso
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from tests.conftest import OPERATOR, MakeCase, events_count

SUCCESSOR = "李芳"


def add_mobilization(db: Database, state: str, at: str) -> None:
    """A mobilization row as far as the brief cares: its state (the brief only counts them)."""
    db.conn.execute(
        "INSERT INTO mobilizations (tree, targets, message, mode, state, interval_s,"
        " expires_at, created_at, created_by) VALUES ('default', '[]', 'm', 'cascade', ?, 60,"
        " ?, ?, ?)",
        (state, at, at, OPERATOR),
    )
    db.conn.commit()


def events_of(db: Database, kind: str) -> list[dict[str, object]]:
    rows = db.conn.execute(
        "SELECT operator, data FROM events WHERE kind = ? ORDER BY id", (kind,)
    ).fetchall()
    return [{"operator": operator, **json.loads(data)} for operator, data in rows]


@pytest.fixture
def desk(db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase) -> dict[str, str]:
    """An overdue, supervised case (90 min late); then a parked case, a case with an extension
    waiting for approval, a case on time, and two active mobilizations (one finished)."""
    late = make_case(title="3号楼火灾")
    assert late.deadline is not None
    clock.set(late.deadline + timedelta(minutes=90))
    sweep_overdue(db, clock, policy)
    parked = make_case(Stage.HANDLING, title="老旧管网改造")
    wf.park(db, clock, policy, OPERATOR, parked.id, "待财政拨款")
    extended = make_case(Stage.HANDLING, title="河堤渗水")
    assert extended.deadline is not None
    wf.request_extension(
        db,
        clock,
        policy,
        OPERATOR,
        extended.id,
        "等水位回落",
        extended.deadline + timedelta(days=1),
    )
    make_case(title="路灯不亮")
    now = to_iso(clock.now())
    for state in ("active", "active", "completed"):
        add_mobilization(db, state, now)
    return {"late": late.number, "parked": parked.number, "extended": extended.number}


def test_the_brief_shows_what_is_open_overdue_supervised_parked_and_pending(
    db: Database, clock: FixedClock, desk: dict[str, str]
) -> None:
    brief = handover_brief(db, clock.now())
    c = brief.counts
    assert (c.open, c.overdue, c.supervised, c.parked) == (4, 1, 1, 1)

    (late,) = brief.overdue.items
    assert (late.number, late.title, late.stage) == (desk["late"], "3号楼火灾", Stage.REPORTED)
    assert late.late == timedelta(minutes=90) and late.supervised
    assert brief.overdue.total == 1 and brief.overdue.more == 0
    assert [s.number for s in brief.supervised.items] == [desk["late"]]

    (parked,) = brief.parked.items
    assert parked.number == desk["parked"] and parked.late is None  # its clock is stopped

    (ext,) = brief.extensions.items
    assert (ext.number, ext.requested_by, ext.reason) == (desk["extended"], OPERATOR, "等水位回落")
    assert (ext.approvals, ext.approvals_needed) == (0, 1)
    assert brief.extensions.total == 1
    assert brief.active_mobilizations == 2


def test_each_list_is_capped_and_keeps_its_total(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    cases = []
    for i in range(5):
        cases.append(make_case(title=f"案件{i}"))
        clock.advance(minutes=10)
    clock.advance(days=1)
    sweep_overdue(db, clock, policy)
    brief = handover_brief(db, clock.now(), limit=2)
    assert brief.overdue.total == 5 and brief.overdue.more == 3
    # Most late first: the oldest deadline leads.
    assert [c.number for c in brief.overdue.items] == [cases[0].number, cases[1].number]
    assert len(brief.supervised.items) == 2 and brief.supervised.total == 5


def test_an_empty_desk_has_an_empty_brief(db: Database, clock: FixedClock) -> None:
    brief = handover_brief(db, clock.now())
    assert brief.counts.open == 0 and brief.active_mobilizations == 0
    assert brief.overdue.items == () and brief.extensions.total == 0


def test_the_handover_keeps_the_brief_and_the_successor_confirms_it(
    db: Database, clock: FixedClock, desk: dict[str, str]
) -> None:
    handover = shift_handover(
        db, clock, OPERATOR, f" {SUCCESSOR} ", "3号楼火灾跟进", brief=handover_brief
    )
    assert (handover.to_operator, handover.note) == (SUCCESSOR, "3号楼火灾跟进")
    assert handover.counts.parked == 1 and not handover.confirmed
    stored = get_handover(db, handover.id)
    assert stored == handover
    assert stored.pending["overdue"] == [desk["late"]]
    assert stored.pending["extensions"] == [desk["extended"]]
    assert (stored.pending_extensions, stored.active_mobilizations) == (1, 2)
    (event,) = events_of(db, "handover")
    assert event["to"] == SUCCESSOR and event["pending_extensions"] == 1
    assert event["active_mobilizations"] == 2

    assert pending_handover(db, SUCCESSOR) == stored
    assert pending_handover(db, OPERATOR) is None

    clock.advance(minutes=5)
    confirmed = confirm_handover(db, clock, SUCCESSOR, handover.id)
    assert confirmed.confirmed_by == SUCCESSOR
    assert confirmed.confirmed_at == clock.now()
    assert get_handover(db, handover.id) == confirmed
    (event,) = events_of(db, "handover_confirmed")
    assert event == {
        "operator": SUCCESSOR,
        "handover": handover.id,
        "from": OPERATOR,
        "handed_over_at": to_iso(handover.at),
    }
    assert pending_handover(db, SUCCESSOR) is None
    assert [h.confirmed for h in list_handovers(db, 10)] == [True]


def test_only_the_named_successor_may_confirm(db: Database, clock: FixedClock) -> None:
    handover = shift_handover(db, clock, OPERATOR, SUCCESSOR)
    before = events_count(db)
    for stranger in ("赵强", OPERATOR):
        with pytest.raises(PermissionDenied, match=f"only {SUCCESSOR} can confirm it, not"):
            confirm_handover(db, clock, stranger, handover.id)
    assert events_count(db) == before
    assert pending_handover(db, SUCCESSOR) == handover


def test_a_handover_is_confirmed_once(db: Database, clock: FixedClock) -> None:
    handover = shift_handover(db, clock, OPERATOR, SUCCESSOR)
    confirm_handover(db, clock, SUCCESSOR, handover.id)
    with pytest.raises(InvalidTransition, match=f"already confirmed by {SUCCESSOR}"):
        confirm_handover(db, clock, SUCCESSOR, handover.id)
    with pytest.raises(NotFound, match="no handover 99"):
        confirm_handover(db, clock, SUCCESSOR, 99)


def test_a_stale_handover_no_longer_waits(db: Database, clock: FixedClock) -> None:
    first = shift_handover(db, clock, OPERATOR, SUCCESSOR, "first")
    second = shift_handover(db, clock, OPERATOR, SUCCESSOR, "corrected")
    assert pending_handover(db, SUCCESSOR) == second
    confirm_handover(db, clock, SUCCESSOR, second.id)
    assert pending_handover(db, SUCCESSOR) is None  # the first is older than the confirmation
    assert not get_handover(db, first.id).confirmed

    third = shift_handover(db, clock, OPERATOR, SUCCESSOR)
    shift_handover(db, clock, SUCCESSOR, "赵强")  # handed on without confirming: moot
    assert pending_handover(db, SUCCESSOR) is None
    assert pending_handover(db, "赵强") is not None
    assert [h.id for h in list_handovers(db, 2)] == [third.id + 1, third.id]


def test_the_successor_is_required_and_someone_else(db: Database, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="name the operator"):
        shift_handover(db, clock, OPERATOR, "  ")
    with pytest.raises(InvalidInput, match="themselves"):
        shift_handover(db, clock, OPERATOR, OPERATOR)


def test_a_handover_recorded_before_the_brief_was_kept_reads_back(
    db: Database, clock: FixedClock
) -> None:
    db.conn.execute(
        "INSERT INTO handovers (at, from_operator, to_operator, note, open_cases,"
        " overdue_cases, supervised_cases) VALUES (?, 'a', 'b', '', 3, 1, 1)",
        (to_iso(clock.now()),),
    )
    db.conn.commit()
    (old,) = list_handovers(db)
    assert (old.counts.open, old.counts.parked, old.pending, old.confirmed) == (3, 0, {}, False)


def test_the_cases_brief_alone_says_nothing_of_mobilizations(
    db: Database, clock: FixedClock, desk: dict[str, str]
) -> None:
    """incidents reads only its own tables: the mobilizations come from reports' brief."""
    cases = case_brief(db, clock.now())
    full = handover_brief(db, clock.now())
    assert cases.counts == full.counts and cases.overdue == full.overdue
    assert cases.summary() == {
        key: value
        for key, value in full.summary().items()
        if key not in ("active_mobilizations", "mobilizations")
    }
    assert full.summary()["active_mobilizations"] == 2
    handover = shift_handover(db, clock, OPERATOR, SUCCESSOR)
    assert "active_mobilizations" not in handover.pending
    (event,) = events_of(db, "handover")
    assert "active_mobilizations" not in event and event["open"] == full.counts.open
