"""The outbox: each timeline entry the county must see becomes its uplink events, once, in order."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlite_utils import Database

from incidents import workflow
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from incidents.supervision import shift_handover
from mobilization import record_answer
from store.audit import checkpoint
from store.clock import FixedClock
from store.db import write
from store.keys import KeyRing
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import drive, start
from uplink.models import Kind, OutboxState
from uplink.outbox import (
    Projection,
    backlog,
    dead_letters,
    mark_dead,
    mark_sent,
    project,
    rebase,
    reconcile,
    requeue,
    sendable,
)

UNIT = "330106001"
OPTIONS = Projection(UNIT)


def case(db: Database, clock: FixedClock, policy: Policy, title: str = "路面塌陷") -> int:
    new = NewIncident(
        title=title,
        category="safety-hazard",
        reporter_name="张三",
        reporter_phone="13800138000",
        location="文一路 12 号",
    )
    return create_incident(db, clock, policy, OPERATOR, new).id


def queued(db: Database) -> list[tuple[str, int, Kind]]:
    return [(e.event.subject, e.event.seq, e.event.kind) for e in sendable(db, UNIT, 10_000)]


def test_a_case_becomes_numbered_events_with_its_stage_changes(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    ref = case(db, clock, policy)
    workflow.register(db, clock, policy, OPERATOR, ref)
    workflow.add_note(db, clock, OPERATOR, ref, "现场已拉警戒线")  # stays local
    workflow.edit(db, clock, policy, OPERATOR, ref, title="路面塌陷（已封路）")
    workflow.dispatch(db, clock, policy, OPERATOR, ref)
    assert project(db, OPTIONS, clock.now()) == 5
    subject = "case:2026-000001"
    assert queued(db) == [
        (subject, 1, Kind.CASE_REPORTED),
        (subject, 2, Kind.CASE_STAGE),
        (subject, 3, Kind.CASE_UPDATED),
        (subject, 4, Kind.CASE_STAGE),
    ]
    events = sendable(db, UNIT, 10)
    assert events[1].event.payload["change"] == {
        "kind": "register",
        "operator": OPERATOR,
        "stage_from": "reported",
        "stage_to": "registered",
    }
    assert events[2].event.payload["change"]["fields"] == ["title"]
    last = events[3].event.payload["case"]
    assert last["stage"] == "dispatched"
    assert last["title"] == "路面塌陷（已封路）"
    assert last["active"] is True
    assert events[0].event.unit == UNIT


def test_each_entry_is_projected_once_across_calls(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    assert project(db, OPTIONS, clock.now()) == 1
    assert project(db, OPTIONS, clock.now()) == 0
    case(db, clock, policy, "井盖缺失")
    project(db, OPTIONS, clock.now())
    assert [s for s, _q, _k in queued(db)] == ["case:2026-000001", "case:2026-000002"]
    ids = {e.event.id for e in sendable(db, UNIT, 10)}
    assert len(ids) == 2


def test_a_small_batch_projects_everything_in_several_steps(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    for i in range(7):
        case(db, clock, policy, f"案件{i}")
    steps = []
    while (n := project(db, OPTIONS, clock.now(), batch=3)) > 0:
        steps.append(n)
    assert steps == [3, 3, 1]
    assert len(queued(db)) == 7


def test_no_full_phone_number_and_no_reporter_unless_configured(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    project(db, OPTIONS, clock.now())
    text = json.dumps([e.event.to_json() for e in sendable(db, UNIT, 10)], ensure_ascii=False)
    assert "13800138000" not in text
    assert "张三" not in text
    assert "reporter" not in sendable(db, UNIT, 10)[0].event.payload["case"]


def test_the_reporter_masked_when_configured(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    project(db, Projection(UNIT, include_reporter=True), clock.now())
    reporter = sendable(db, UNIT, 10)[0].event.payload["case"]["reporter"]
    assert reporter["name"] == "张三"
    assert reporter["phone"] != "13800138000"
    assert reporter["phone"].endswith("8000")


def test_closed_voided_and_merged_are_stage_and_merge_events(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    b = case(db, clock, policy, "B")
    c = case(db, clock, policy, "C")
    workflow.void(db, clock, policy, OPERATOR, a, "误报")
    workflow.merge(db, clock, policy, OPERATOR, b, c)
    project(db, OPTIONS, clock.now())
    by_subject: dict[str, list[Kind]] = {}
    for e in sendable(db, UNIT, 100):
        by_subject.setdefault(e.event.subject, []).append(e.event.kind)
        if e.event.kind is Kind.CASE_MERGED:
            assert e.event.payload["case"]["merged_into"] == "2026-000003"
            assert e.event.payload["case"]["active"] is False
    assert by_subject["case:2026-000001"] == [Kind.CASE_REPORTED, Kind.CASE_STAGE]
    assert by_subject["case:2026-000002"] == [Kind.CASE_REPORTED, Kind.CASE_MERGED]
    assert by_subject["case:2026-000003"] == [Kind.CASE_REPORTED, Kind.CASE_UPDATED]


def test_mobilization_answers_are_summarised_at_most_every_30_s_and_finally(
    town_tree: Database, clock: FixedClock
) -> None:
    db = town_tree
    mob = start(db, clock, "grid:G01")
    drive(db, clock)
    project(db, OPTIONS, clock.now())
    subject = f"mobilization:{mob}"
    assert [k for s, _q, k in queued(db) if s == subject] == [Kind.MOBILIZATION_STARTED]
    rows = db.conn.execute(
        "SELECT ack_code FROM recipients WHERE mobilization_id = ? AND ack_code IS NOT NULL",
        (mob,),
    ).fetchall()
    record_answer(db, clock, OPERATOR, yes=True, via="officer", code=rows[0][0])
    project(db, OPTIONS, clock.now())  # answered at once: throttled (started just now)
    assert [k for s, _q, k in queued(db) if s == subject] == [Kind.MOBILIZATION_STARTED]
    clock.advance(timedelta(seconds=31))
    project(db, OPTIONS, clock.now())
    kinds = [k for s, _q, k in queued(db) if s == subject]
    assert kinds == [Kind.MOBILIZATION_STARTED, Kind.MOBILIZATION_SUMMARY]
    summary = sendable(db, UNIT, 100)[-1].event.payload
    assert summary["counts"]["yes"] == 1
    assert summary["final"] is False
    project(db, OPTIONS, clock.now())  # nothing new: no summary
    assert len([k for s, _q, k in queued(db) if s == subject]) == 2


def test_a_checkpoint_and_a_handover_go_up_on_the_unit_subject(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    point = checkpoint(db, KeyRing.ephemeral(), clock.now())
    assert point is not None
    shift_handover(db, clock, OPERATOR, "李四", "雨夜注意积水")
    project(db, OPTIONS, clock.now())
    unit_events = [e.event for e in sendable(db, UNIT, 10) if e.event.subject == "unit"]
    kinds = [e.kind for e in unit_events]
    assert set(kinds) == {Kind.AUDIT_HEAD, Kind.HANDOVER}
    head = next(e for e in unit_events if e.kind is Kind.AUDIT_HEAD)
    assert head.payload == point.to_json()
    handover = next(e for e in unit_events if e.kind is Kind.HANDOVER)
    assert handover.payload["to"] == "李四"
    assert "note" not in handover.payload
    assert sorted(e.seq for e in unit_events) == [1, 2]


def test_dead_letters_block_their_subject_only_and_can_be_requeued(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    case(db, clock, policy, "B")
    workflow.register(db, clock, policy, OPERATOR, a)
    project(db, OPTIONS, clock.now())
    first = sendable(db, UNIT, 10)[0]
    with write(db):
        mark_dead(db, first.row, "unknown grid")
    assert [s for s, _q, _k in queued(db)] == ["case:2026-000002"]
    assert backlog(db)[0] == 2 and backlog(db)[2] == 1
    assert dead_letters(db, UNIT)[0].error == "unknown grid"
    assert requeue(db) == 1
    assert [(s, q) for s, q, _k in queued(db)] == [
        ("case:2026-000001", 1),
        ("case:2026-000002", 1),
        ("case:2026-000001", 2),
    ]


def test_reconcile_resends_what_the_hub_lost(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    workflow.register(db, clock, policy, OPERATOR, a)
    project(db, OPTIONS, clock.now())
    events = sendable(db, UNIT, 10)
    with write(db):
        mark_sent(db, [(e.row, "accepted") for e in events], clock.now())
    assert queued(db) == []
    with write(db):
        found = reconcile(db, {"case:2026-000001": (1, events[0].event.id)})
    assert found.requeued == 1 and found.diverged == []
    assert queued(db) == [("case:2026-000001", 2, Kind.CASE_STAGE)]


def test_rebase_after_a_restore_puts_a_resync_first_and_renumbers(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    project(db, OPTIONS, clock.now())
    first = sendable(db, UNIT, 10)[0]
    with write(db):
        mark_sent(db, [(first.row, "accepted")], clock.now())
    # Restored from a backup: the hub holds seqs 2 and 3 this unit no longer has, and the
    # unit has since made a change of its own (its seq 2, which the hub lacks).
    workflow.register(db, clock, policy, OPERATOR, a)
    project(db, OPTIONS, clock.now())
    with write(db):
        found = reconcile(db, {"case:2026-000001": (3, "lost-event-3")})
        assert found.diverged == [("case:2026-000001", 3)]
        moved = rebase(
            db, "case:2026-000001", 3, {first.event.id, "lost-2", "lost-3"}, clock.now(), OPTIONS
        )
    assert moved == 1
    events = sendable(db, UNIT, 10)
    assert [(e.event.seq, e.event.kind) for e in events] == [
        (4, Kind.RESYNC),
        (5, Kind.CASE_STAGE),
    ]
    assert events[0].event.payload["known"] == 1
    assert events[0].event.payload["case"]["stage"] == "registered"
    assert all(e.state is OutboxState.PENDING for e in events)


def test_rebase_of_a_subject_the_unit_no_longer_has(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    with write(db):
        found = reconcile(db, {"case:2026-000009": (2, "x" * 32)})
        assert found.diverged == [("case:2026-000009", 2)]
        rebase(db, "case:2026-000009", 2, {"a" * 32, "x" * 32}, clock.now(), OPTIONS)
    (event,) = [e.event for e in sendable(db, UNIT, 10)]
    assert (event.seq, event.kind, event.payload) == (3, Kind.RESYNC, {"known": 0, "case": None})
