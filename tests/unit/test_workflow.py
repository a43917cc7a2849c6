"""The closed-loop workflow: every step, every refusal, and what each one leaves behind."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import OPEN_CASE_SQL, OPEN_STAGES, Incident, Stage
from incidents.records import (
    ListFilter,
    get_incident,
    list_incidents,
    list_tasks,
    tasks_of,
    timeline,
)
from incidents.supervision import sweep_overdue
from store.audit import verify_chain
from store.clock import FixedClock, to_iso
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from tests.conftest import OPERATOR, MakeCase, events_count

# The specification the workflow must follow, written out independently of workflow.ACTIONS.
STAGE_CHANGES: dict[str, tuple[frozenset[Stage], Stage]] = {
    "register": (frozenset({Stage.REPORTED}), Stage.REGISTERED),
    "dispatch": (frozenset({Stage.REGISTERED}), Stage.DISPATCHED),
    "handle": (frozenset({Stage.DISPATCHED}), Stage.HANDLING),
    "feedback": (frozenset({Stage.HANDLING}), Stage.FEEDBACK),
    "verify": (frozenset({Stage.FEEDBACK}), Stage.VERIFIED),
    "close": (frozenset({Stage.VERIFIED}), Stage.CLOSED),
    "void": (frozenset({Stage.REPORTED, Stage.REGISTERED}), Stage.VOIDED),
    "return": (frozenset({Stage.HANDLING, Stage.FEEDBACK}), Stage.DISPATCHED),
    "reopen": (frozenset({Stage.CLOSED}), Stage.HANDLING),
}
OPEN = frozenset(OPEN_STAGES)
OTHER_STEPS: dict[str, frozenset[Stage]] = {
    "merge": OPEN,
    "park": OPEN - {Stage.REPORTED},
    "extend": OPEN,
    "edit": OPEN,
}
ALL_STEPS = [*STAGE_CHANGES, *OTHER_STEPS]
ALL_STAGES = [*Stage]


def test_the_open_stages_are_the_loop_before_its_end_in_order() -> None:
    assert OPEN_STAGES == (
        Stage.REPORTED,
        Stage.REGISTERED,
        Stage.DISPATCHED,
        Stage.HANDLING,
        Stage.FEEDBACK,
        Stage.VERIFIED,
    )
    assert all(s.is_open for s in OPEN_STAGES)
    assert [s for s in Stage if s.is_open] == list(OPEN_STAGES)


STAGE_LIST_SQL = re.compile(r"stage\s+(?:NOT\s+)?IN\s*\(\s*'[^)]*\)", re.IGNORECASE)


def test_open_has_one_spelling_in_sql() -> None:
    """Every SQL literal listing stages is incidents.models' OPEN_CASE_SQL, word for word
    (jurisdiction, below incidents, spells it out and is checked here)."""
    from jurisdiction.units import OPEN_CASE

    assert OPEN_CASE == OPEN_CASE_SQL
    root = Path(__file__).resolve().parents[2]
    found = {}
    for package in ("store", "jurisdiction", "contacts", "incidents", "mobilization", "reports"):
        for path in sorted((root / package).rglob("*.py")):
            for match in STAGE_LIST_SQL.finditer(path.read_text(encoding="utf-8")):
                found[f"{path.relative_to(root)}: {match.group()}"] = match.group()
    assert found, "the scan finds the spelling in jurisdiction/units.py"
    assert {where for where, text in found.items() if text != OPEN_CASE_SQL} == set()


def allowed_from(stage: Stage) -> set[str]:
    allowed = {name for name, (origins, _) in STAGE_CHANGES.items() if stage in origins}
    return allowed | {name for name, origins in OTHER_STEPS.items() if stage in origins}


def snapshot(db: Database) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Everything a step may write, to check that a refused step wrote nothing."""
    return (
        db.conn.execute("SELECT * FROM incidents ORDER BY id").fetchall(),
        db.conn.execute("SELECT * FROM events ORDER BY id").fetchall(),
        db.conn.execute("SELECT * FROM extensions ORDER BY id").fetchall(),
        db.conn.execute("SELECT * FROM tasks ORDER BY id").fetchall(),
    )


def active_flag(db: Database, incident_id: int) -> int:
    return int(
        db.conn.execute("SELECT active FROM incidents WHERE id = ?", (incident_id,)).fetchone()[0]
    )


@pytest.fixture
def case_in(db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase):
    """Factory for a case in any stage, including voided and merged."""

    def make(stage: Stage, **fields: Any) -> Incident:
        if stage is Stage.VOIDED:
            case = make_case(Stage.REPORTED, **fields)
            return wf.void(db, clock, policy, OPERATOR, case.id, "false report")
        if stage is Stage.MERGED:
            original = make_case(Stage.REPORTED, title="原始报告")
            case = make_case(Stage.REPORTED, **fields)
            return wf.merge(db, clock, policy, OPERATOR, case.id, original.id)
        return make_case(stage, **fields)

    return make


@pytest.fixture
def do(db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase):
    """Run one named step on a case with valid arguments, so only the stage decides."""

    def run(step: str, case: Incident) -> Incident | Any:
        ref = case.id
        calls: dict[str, Callable[[], Any]] = {
            "register": lambda: wf.register(db, clock, policy, OPERATOR, ref),
            "dispatch": lambda: wf.dispatch(db, clock, policy, OPERATOR, ref, "grid:G01"),
            "handle": lambda: wf.handle(db, clock, policy, OPERATOR, ref),
            "feedback": lambda: wf.feedback(db, clock, policy, OPERATOR, ref, "扑灭"),
            "verify": lambda: wf.verify(db, clock, policy, OPERATOR, ref),
            "close": lambda: wf.close(db, clock, policy, OPERATOR, ref),
            "void": lambda: wf.void(db, clock, policy, OPERATOR, ref, "误报"),
            "return": lambda: wf.return_case(db, clock, policy, OPERATOR, ref, "派错网格"),
            "reopen": lambda: wf.reopen(db, clock, policy, OPERATOR, ref, "复燃"),
            "merge": lambda: wf.merge(
                db, clock, policy, OPERATOR, ref, make_case(Stage.REGISTERED, title="原件").id
            ),
            "park": lambda: wf.park(db, clock, policy, OPERATOR, ref, "长期整改"),
            "extend": lambda: wf.request_extension(
                db, clock, policy, OPERATOR, ref, "需要更多时间", clock.now() + timedelta(days=30)
            ),
            "edit": lambda: wf.edit(db, clock, policy, OPERATOR, ref, title="新标题"),
        }
        return calls[step]()

    return run


# ---- the transition table ----------------------------------------------------------------


@pytest.mark.parametrize("stage", ALL_STAGES, ids=str)
@pytest.mark.parametrize("step", ALL_STEPS)
def test_every_step_from_every_stage(db: Database, case_in, do, stage: Stage, step: str) -> None:
    case = case_in(stage)
    assert case.stage is stage
    allowed = allowed_from(stage)
    if step in allowed:
        do(step, case)
        after = get_incident(db, case.id)
        if step in STAGE_CHANGES:
            assert after.stage is STAGE_CHANGES[step][1]
            entry = timeline(db, case.id)[-1]
            assert (entry.kind, entry.stage_from, entry.stage_to) == (
                step,
                stage,
                STAGE_CHANGES[step][1],
            )
        assert verify_chain(db).ok
        return
    before = snapshot(db)
    with pytest.raises(InvalidTransition) as refused:
        do(step, case)
    message = str(refused.value)
    assert f"'{stage.value}'" in message
    assert f"({stage.label})" in message
    assert f"'{step}'" in message
    if allowed:
        listed = message.split("Allowed next steps:")[1]
        assert {s.strip() for s in listed.split(",")} == allowed
    else:
        assert "none (the case is finished)" in message
    # The merge step creates its target case before the refusal, so compare only this case.
    after = snapshot(db)
    if step == "merge":
        assert [r for r in after[0] if r[0] == case.id] == [r for r in before[0] if r[0] == case.id]
        assert [e for e in after[1] if e[3] == case.id] == [e for e in before[1] if e[3] == case.id]
    else:
        assert after == before


@pytest.mark.parametrize("stage", ALL_STAGES, ids=str)
def test_allowed_actions_match_the_specification(case_in, stage: Stage) -> None:
    assert set(wf.allowed_actions(case_in(stage))) == allowed_from(stage)


# ---- the loop, step by step ------------------------------------------------------------


def test_new_case_is_reported_with_a_deadline(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case()
    assert case.stage is Stage.REPORTED
    assert case.number == "2026-000001"
    assert case.deadline == policy.deadline(
        Stage.REPORTED, clock.now(), "accident_disaster", "fire", "normal"
    )
    assert active_flag(db, case.id) == 1
    [entry] = timeline(db, case.id)
    assert (entry.kind, entry.stage_from, entry.stage_to) == ("reported", None, Stage.REPORTED)
    assert entry.data["title"] == "3号楼发生火灾"


def test_register_moves_the_deadline_and_records_the_operator(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(category="environment", type="garbage")
    clock.advance(minutes=30)
    after = wf.register(db, clock, policy, "张三", case.id, note="属实")
    assert after.stage is Stage.REGISTERED
    assert after.stage_since == clock.now()
    assert after.deadline == policy.deadline(
        Stage.REGISTERED, clock.now(), "environment", "garbage", "normal"
    )
    entry = timeline(db, case.id)[-1]
    assert entry.operator == "张三"
    assert entry.data == {"note": "属实", "deadline": to_iso(after.deadline)}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("grid:G07", "grid:G07"),
        ("team:rescue", "team:rescue"),
        ("office:duty-office", "office:duty-office"),  # the policy's office
        ("  person:李四 ", "person:李四"),
        ("person : #12", "person:#12"),
    ],
)
def test_dispatch_to_a_target(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, given: str, expected: str
) -> None:
    case = make_case(Stage.REGISTERED, grid="G01")
    after = wf.dispatch(db, clock, policy, OPERATOR, case.id, given)
    assert after.stage is Stage.DISPATCHED
    assert after.assignee == expected
    assert timeline(db, case.id)[-1].data["to"] == expected


def test_dispatch_without_target_goes_to_the_case_grid(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.REGISTERED, grid="G03")
    assert wf.dispatch(db, clock, policy, OPERATOR, case.id).assignee == "grid:G03"


def test_dispatch_without_target_or_grid_goes_to_the_duty_office(
    db: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    policy = Policy(office_name="城关镇应急办")
    case = make_case(Stage.REGISTERED)
    assert case.grid is None
    after = wf.dispatch(db, clock, policy, OPERATOR, case.id, "  ")
    assert after.assignee == "office:城关镇应急办"


@pytest.mark.parametrize(
    "target", ["planet:mars", "grid:", "grid:  ", ":G01", "王五", "消防志愿队", "office:别处"]
)
def test_dispatch_to_a_bad_target_is_refused(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, target: str
) -> None:
    case = make_case(Stage.REGISTERED)
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        wf.dispatch(db, clock, policy, OPERATOR, case.id, target)
    assert refused.value.field == "to"
    assert snapshot(db) == before


def test_handle_then_feedback_records_the_result(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.DISPATCHED)
    assert wf.handle(db, clock, policy, OPERATOR, case.id).stage is Stage.HANDLING
    after = wf.feedback(db, clock, policy, OPERATOR, case.id, "  明火已扑灭  ")
    assert after.stage is Stage.FEEDBACK
    assert timeline(db, case.id)[-1].data["result"] == "明火已扑灭"


@pytest.mark.parametrize("result", ["", "   ", None])
def test_feedback_needs_a_result(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, result: str | None
) -> None:
    case = make_case(Stage.HANDLING)
    before = events_count(db)
    with pytest.raises(InvalidInput) as refused:
        wf.feedback(db, clock, policy, OPERATOR, case.id, result)  # type: ignore[arg-type]
    assert refused.value.field == "result"
    assert events_count(db) == before
    assert get_incident(db, case.id).stage is Stage.HANDLING


def test_verify_pass_moves_to_verified(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.FEEDBACK)
    after = wf.verify(db, clock, policy, OPERATOR, case.id, passed=True)
    assert after.stage is Stage.VERIFIED
    assert timeline(db, case.id)[-1].data["passed"] is True


def test_verify_fail_goes_back_to_handling_with_the_reason(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.FEEDBACK)
    clock.advance(hours=1)
    after = wf.verify(db, clock, policy, OPERATOR, case.id, passed=False, reason="仍有烟雾")
    assert after.stage is Stage.HANDLING
    assert after.deadline == policy.deadline(
        Stage.HANDLING, clock.now(), "accident_disaster", "fire", "normal"
    )
    entry = timeline(db, case.id)[-1]
    assert (entry.stage_from, entry.stage_to) == (Stage.FEEDBACK, Stage.HANDLING)
    assert entry.data["passed"] is False
    assert entry.data["reason"] == "仍有烟雾"


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_verify_fail_needs_a_reason(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, reason: str | None
) -> None:
    case = make_case(Stage.FEEDBACK)
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        wf.verify(db, clock, policy, OPERATOR, case.id, passed=False, reason=reason)
    assert refused.value.field == "reason"
    assert snapshot(db) == before


def test_close_ends_the_loop(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.VERIFIED)
    clock.advance(hours=2)
    after = wf.close(db, clock, policy, OPERATOR, case.id, note="结案")
    assert after.stage is Stage.CLOSED
    assert after.closed_at == clock.now()
    assert after.deadline is None
    assert active_flag(db, case.id) == 0
    kinds = [e.kind for e in timeline(db, case.id)]
    assert kinds == ["reported", "register", "dispatch", "handle", "feedback", "verify", "close"]


@pytest.mark.parametrize("stage", [Stage.REPORTED, Stage.REGISTERED])
def test_void_before_dispatch(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, stage: Stage
) -> None:
    case = make_case(stage)
    after = wf.void(db, clock, policy, OPERATOR, case.id, "重复误报")
    assert after.stage is Stage.VOIDED
    assert after.deadline is None
    assert active_flag(db, case.id) == 0
    assert timeline(db, case.id)[-1].data["reason"] == "重复误报"


@pytest.mark.parametrize(
    "call",
    [
        lambda db, c, p, ref: wf.void(db, c, p, OPERATOR, ref, " "),
        lambda db, c, p, ref: wf.return_case(db, c, p, OPERATOR, ref, ""),
        lambda db, c, p, ref: wf.park(db, c, p, OPERATOR, ref, ""),
        lambda db, c, p, ref: wf.reopen(db, c, p, OPERATOR, ref, "\t"),
    ],
    ids=["void", "return", "park", "reopen"],
)
def test_steps_that_need_a_reason(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, call
) -> None:
    case = make_case(Stage.REGISTERED)
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        call(db, clock, policy, case.id)
    assert refused.value.field == "reason"
    assert "reason is required" in str(refused.value)
    assert snapshot(db) == before


@pytest.mark.parametrize("stage", [Stage.HANDLING, Stage.FEEDBACK])
def test_return_goes_back_to_dispatched(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, stage: Stage
) -> None:
    case = make_case(stage)
    after = wf.return_case(db, clock, policy, OPERATOR, case.id, "派错网格")
    assert after.stage is Stage.DISPATCHED
    entry = timeline(db, case.id)[-1]
    assert (entry.kind, entry.stage_from, entry.stage_to) == ("return", stage, Stage.DISPATCHED)


def test_reopen_brings_a_closed_case_back_to_handling(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.CLOSED)
    clock.advance(days=1)
    after = wf.reopen(db, clock, policy, OPERATOR, case.id, "复燃")
    assert after.stage is Stage.HANDLING
    assert after.closed_at is None
    assert after.deadline == policy.deadline(
        Stage.HANDLING, clock.now(), "accident_disaster", "fire", "normal"
    )
    assert active_flag(db, case.id) == 1
    assert timeline(db, case.id)[-1].data["reason"] == "复燃"


def test_unknown_case_and_bad_reference(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case()
    with pytest.raises(NotFound, match="no case 99"):
        wf.register(db, clock, policy, OPERATOR, 99)
    with pytest.raises(InvalidInput):
        wf.register(db, clock, policy, OPERATOR, "fire")
    assert wf.register(db, clock, policy, OPERATOR, case.number).stage is Stage.REGISTERED


# ---- extensions (延期) ----------------------------------------------------------------


def test_first_extension_needs_one_approval(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    until = case.deadline + timedelta(days=2)
    ext = wf.request_extension(db, clock, policy, "张三", case.id, "等待配件", until)
    assert (ext.seq, ext.approvals_needed, ext.status) == (1, 1, "pending")
    assert get_incident(db, case.id).deadline == case.deadline
    granted = wf.approve_extension(db, clock, policy, "李组长", case.id)
    assert granted.status == "granted"
    assert granted.approvals == ("李组长",)
    after = get_incident(db, case.id)
    assert after.deadline == until
    assert after.extensions == 1
    kinds = [e.kind for e in timeline(db, case.id)][-2:]
    assert kinds == ["extension_requested", "extension_granted"]


def grant_first_extension(db, clock, policy, case: Incident) -> None:
    wf.request_extension(
        db, clock, policy, "张三", case.id, "first", case.deadline + timedelta(days=1)
    )
    wf.approve_extension(db, clock, policy, "lead1", case.id)


@pytest.mark.parametrize("needed", [2, 3])
def test_second_extension_needs_distinct_approvers(
    db: Database, clock: FixedClock, make_case: MakeCase, needed: int
) -> None:
    policy = Policy(second_extension_approvals=needed)
    case = make_case(Stage.HANDLING)
    grant_first_extension(db, clock, policy, case)
    first_deadline = get_incident(db, case.id).deadline
    until = first_deadline + timedelta(days=3)
    ext = wf.request_extension(db, clock, policy, "张三", case.id, "second", until)
    assert (ext.seq, ext.approvals_needed) == (2, needed)
    leads = [f"lead{i}" for i in range(1, needed + 1)]
    for approver in leads[:-1]:
        ext = wf.approve_extension(db, clock, policy, approver, case.id)
        assert ext.status == "pending"
        assert get_incident(db, case.id).deadline == first_deadline
        before = events_count(db)
        with pytest.raises(PermissionDenied, match="already approved"):
            wf.approve_extension(db, clock, policy, approver, case.id)
        assert events_count(db) == before
    ext = wf.approve_extension(db, clock, policy, leads[-1], case.id)
    assert ext.status == "granted"
    assert ext.approvals == tuple(leads)
    assert get_incident(db, case.id).deadline == until
    assert get_incident(db, case.id).extensions == 2


def test_requester_cannot_approve_own_extension(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    wf.request_extension(db, clock, policy, "张三", case.id, "x", clock.now() + timedelta(days=9))
    before = snapshot(db)
    with pytest.raises(PermissionDenied, match="requested this extension"):
        wf.approve_extension(db, clock, policy, "张三", case.id)
    assert snapshot(db) == before


def test_only_shift_leads_approve_when_configured(
    db: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    policy = Policy(shift_leads=("王班长", "赵班长"))
    case = make_case(Stage.HANDLING)
    wf.request_extension(db, clock, policy, "张三", case.id, "x", clock.now() + timedelta(days=9))
    before = snapshot(db)
    with pytest.raises(PermissionDenied, match="not a shift lead"):
        wf.approve_extension(db, clock, policy, "李四", case.id)
    assert snapshot(db) == before
    assert wf.approve_extension(db, clock, policy, "赵班长", case.id).status == "granted"


def test_rejected_extension_keeps_the_deadline(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    wf.request_extension(db, clock, policy, "张三", case.id, "x", clock.now() + timedelta(days=9))
    with pytest.raises(InvalidInput) as refused:
        wf.approve_extension(db, clock, policy, "lead", case.id, reject=True)
    assert refused.value.field == "reason"
    ext = wf.approve_extension(db, clock, policy, "lead", case.id, reject=True, reason="理由不足")
    assert ext.status == "rejected"
    after = get_incident(db, case.id)
    assert (after.deadline, after.extensions) == (case.deadline, 0)
    assert timeline(db, case.id)[-1].kind == "extension_rejected"
    # Nothing is pending any more: a new request may be made, and it is again the first one.
    again = wf.request_extension(
        db, clock, policy, "张三", case.id, "y", clock.now() + timedelta(days=5)
    )
    assert (again.seq, again.approvals_needed) == (1, 1)


def test_extension_must_move_the_deadline_later(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    before = snapshot(db)
    for until in (case.deadline, case.deadline - timedelta(hours=1), clock.now()):
        with pytest.raises(InvalidInput) as refused:
            wf.request_extension(db, clock, policy, "张三", case.id, "x", until)
        assert refused.value.field == "until"
    with pytest.raises(InvalidInput):
        wf.request_extension(db, clock, policy, "张三", case.id, " ", clock.now() + timedelta(9))
    assert snapshot(db) == before


def test_one_pending_extension_at_a_time(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    with pytest.raises(InvalidTransition, match="no extension waiting"):
        wf.approve_extension(db, clock, policy, "lead", case.id)
    wf.request_extension(db, clock, policy, "张三", case.id, "x", clock.now() + timedelta(days=9))
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="already has an extension waiting"):
        wf.request_extension(
            db, clock, policy, "李四", case.id, "y", clock.now() + timedelta(days=10)
        )
    assert snapshot(db) == before


def test_granted_extension_lifts_the_overdue_state(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    clock.set(case.deadline + timedelta(hours=5))
    sweep_overdue(db, clock, policy)
    sweep_overdue(db, clock, policy)
    overdue = get_incident(db, case.id)
    assert overdue.overdue_at(clock.now())
    assert overdue.reminders > 0
    until = clock.now() + timedelta(days=1)
    wf.request_extension(db, clock, policy, "张三", case.id, "x", until)
    wf.approve_extension(db, clock, policy, "lead", case.id)
    after = get_incident(db, case.id)
    assert not after.overdue_at(clock.now())
    assert after.reminders == 0
    assert list_incidents(db, clock.now(), ListFilter(overdue=True)).items == []


def test_pending_extension_lapses_when_the_case_moves_on(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    """The extension asked for the handling deadline; it must not land on the next stage."""
    case = make_case(Stage.HANDLING)
    wf.request_extension(db, clock, policy, "张三", case.id, "x", clock.now() + timedelta(days=20))
    moved = wf.feedback(db, clock, policy, OPERATOR, case.id, "完成")
    [ext] = wf.extensions_of(db, case.id)
    assert ext.status == "lapsed"
    assert timeline(db, case.id)[-1].data["extension_lapsed"] == ext.seq
    with pytest.raises(InvalidTransition):
        wf.approve_extension(db, clock, policy, "lead", case.id)
    assert get_incident(db, case.id).deadline == moved.deadline
    again = wf.request_extension(
        db, clock, policy, "张三", case.id, "y", clock.now() + timedelta(days=2)
    )
    assert again.status == "pending"


def test_pending_extension_cannot_give_a_finished_case_a_deadline(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.REGISTERED)
    wf.request_extension(db, clock, policy, "张三", case.id, "x", clock.now() + timedelta(days=20))
    wf.void(db, clock, policy, OPERATOR, case.id, "误报")
    with pytest.raises(InvalidTransition):
        wf.approve_extension(db, clock, policy, "lead", case.id)
    after = get_incident(db, case.id)
    assert (after.stage, after.deadline) == (Stage.VOIDED, None)


# ---- parking (挂账) -------------------------------------------------------------------


def test_parked_case_leaves_the_active_queue(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    other = make_case(Stage.HANDLING, title="另一件")
    parked = wf.park(db, clock, policy, OPERATOR, case.id, "长期整改")
    assert parked.parked
    assert parked.deadline is None
    assert active_flag(db, case.id) == 0
    assert timeline(db, case.id)[-1].data == {"reason": "长期整改"}
    queue = list_incidents(db, clock.now()).items
    assert [i.id for i in queue] == [other.id]
    assert [i.id for i in list_incidents(db, clock.now(), ListFilter(parked=True)).items] == [
        case.id
    ]
    clock.advance(days=30)
    sweep_overdue(db, clock, policy)
    assert not get_incident(db, case.id).overdue_at(clock.now())
    assert not get_incident(db, case.id).supervised
    assert "supervise" not in [e.kind for e in timeline(db, case.id)]
    assert get_incident(db, other.id).supervised


@pytest.mark.parametrize(
    "call",
    [
        lambda db, c, p, ref: wf.feedback(db, c, p, OPERATOR, ref, "done"),
        lambda db, c, p, ref: wf.return_case(db, c, p, OPERATOR, ref, "r"),
        lambda db, c, p, ref: wf.edit(db, c, p, OPERATOR, ref, title="t"),
        lambda db, c, p, ref: wf.park(db, c, p, OPERATOR, ref, "again"),
        lambda db, c, p, ref: wf.request_extension(
            db, c, p, OPERATOR, ref, "r", c.now() + timedelta(days=3)
        ),
    ],
    ids=["feedback", "return", "edit", "park-again", "extend"],
)
def test_steps_are_refused_while_parked(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, call
) -> None:
    case = make_case(Stage.HANDLING)
    wf.park(db, clock, policy, OPERATOR, case.id, "长期整改")
    assert wf.allowed_actions(get_incident(db, case.id)) == ["unpark", "merge"]
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="parked"):
        call(db, clock, policy, case.id)
    assert snapshot(db) == before


def test_unpark_restores_the_queue_with_a_fresh_deadline(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    wf.park(db, clock, policy, OPERATOR, case.id, "长期整改")
    clock.advance(days=10)
    after = wf.unpark(db, clock, policy, OPERATOR, case.id, note="恢复")
    assert not after.parked
    assert after.stage is Stage.HANDLING
    assert after.deadline == policy.deadline(
        Stage.HANDLING, clock.now(), "accident_disaster", "fire", "normal"
    )
    assert active_flag(db, case.id) == 1
    assert wf.feedback(db, clock, policy, OPERATOR, case.id, "ok").stage is Stage.FEEDBACK


def test_unpark_a_case_that_is_not_parked(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="not parked"):
        wf.unpark(db, clock, policy, OPERATOR, case.id)
    assert snapshot(db) == before


def test_merging_a_parked_case_leaves_it_finished_not_parked(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    original = make_case(Stage.HANDLING, title="原件")
    dup = make_case(Stage.HANDLING)
    wf.park(db, clock, policy, OPERATOR, dup.id, "长期整改")
    merged = wf.merge(db, clock, policy, OPERATOR, dup.id, original.id)
    assert merged.stage is Stage.MERGED
    assert not merged.parked
    assert active_flag(db, dup.id) == 0
    assert wf.allowed_actions(merged) == []
    with pytest.raises(InvalidTransition):
        wf.unpark(db, clock, policy, OPERATOR, dup.id)
    assert active_flag(db, dup.id) == 0


# ---- merge ---------------------------------------------------------------------------


def test_merge_a_duplicate_into_its_original(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    original = make_case(Stage.DISPATCHED, title="原件")
    dup = make_case(Stage.REPORTED, title="重复报告")
    merged = wf.merge(db, clock, policy, OPERATOR, dup.number, original.number)
    assert merged.stage is Stage.MERGED
    assert merged.merged_into == original.id
    assert merged.deadline is None
    assert active_flag(db, dup.id) == 0
    assert timeline(db, dup.id)[-1].data["into"] == original.number
    last = timeline(db, original.id)[-1]
    assert (last.kind, last.data) == (
        "merged_in",
        {"duplicate": dup.number, "notes": [], "callers": []},
    )
    assert get_incident(db, original.id).stage is Stage.DISPATCHED


def test_cannot_merge_into_itself(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case()
    before = snapshot(db)
    with pytest.raises(InvalidInput, match="itself"):
        wf.merge(db, clock, policy, OPERATOR, case.id, case.number)
    assert snapshot(db) == before


@pytest.mark.parametrize("stage", [Stage.VOIDED, Stage.MERGED])
def test_cannot_merge_into_a_voided_or_merged_case(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, case_in, stage: Stage
) -> None:
    target = case_in(stage)
    dup = make_case()
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match=stage.value):
        wf.merge(db, clock, policy, OPERATOR, dup.id, target.id)
    assert snapshot(db) == before


# ---- notes, assignment, edits --------------------------------------------------------


def test_notes_go_on_the_timeline(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.CLOSED)
    clock.advance(minutes=5)
    entry_id = wf.add_note(db, clock, "张三", case.id, "回访群众满意")
    last = timeline(db, case.id)[-1]
    assert (last.id, last.kind, last.operator, last.data) == (
        entry_id,
        "note",
        "张三",
        {"text": "回访群众满意"},
    )
    assert get_incident(db, case.id).updated_at == clock.now()
    assert get_incident(db, case.id).stage is Stage.CLOSED
    before = events_count(db)
    with pytest.raises(InvalidInput):
        wf.add_note(db, clock, "张三", case.id, "   ")
    assert events_count(db) == before


def test_assign_records_old_and_new_assignee(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.DISPATCHED, grid="G02")
    after = wf.assign(db, clock, "lead", case.id, "person:王五")
    assert after.assignee == "person:王五"
    assert after.stage is Stage.DISPATCHED
    assert timeline(db, case.id)[-1].data == {"from": "grid:G02", "to": "person:王五"}
    before = snapshot(db)
    for bare in ("", "王五", "node:X"):  # names are resolved by the console and the CLI
        with pytest.raises(InvalidInput):
            wf.assign(db, clock, "lead", case.id, bare)
    assert snapshot(db) == before


def test_assign_refused_on_a_finished_case(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.CLOSED)
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="reopen"):
        wf.assign(db, clock, "lead", case.id, "person:王五")
    assert snapshot(db) == before


def test_edit_records_each_change_old_to_new(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.REGISTERED, location="幸福路1号")
    after = wf.edit(
        db, clock, policy, "张三", case.id, title="3号楼火灾", severity="II", tags=("高层",)
    )
    assert (after.title, int(after.severity), after.tags) == ("3号楼火灾", 2, ("高层",))
    entry = timeline(db, case.id)[-1]
    assert entry.kind == "edit"
    assert entry.data == {
        "changes": {
            "title": ["3号楼发生火灾", "3号楼火灾"],
            "severity": [4, 2],
            "tags": [[], ["高层"]],
        }
    }
    assert after.deadline == case.deadline


def test_edit_without_change_writes_nothing(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.REGISTERED)
    before = snapshot(db)
    assert wf.edit(db, clock, policy, OPERATOR, case.id, title="  3号楼发生火灾 ") == case
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stage": "closed"}, "field"),
        ({"severity": "V"}, "severity"),
        ({"title": ""}, "title"),
        ({"lat": 95.0, "lon": 120.0}, "lat"),
    ],
)
def test_edit_rejects_bad_changes(
    db: Database,
    clock: FixedClock,
    policy: Policy,
    make_case: MakeCase,
    changes: dict[str, Any],
    field: str,
) -> None:
    case = make_case(Stage.REGISTERED)
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        wf.edit(db, clock, policy, OPERATOR, case.id, **changes)
    assert refused.value.field == field
    assert snapshot(db) == before


def test_urgency_change_moves_the_deadline(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.REGISTERED, category="environment", type="garbage")
    assert case.deadline == policy.deadline(
        Stage.REGISTERED, case.stage_since, "environment", "garbage", "normal"
    )
    clock.advance(minutes=10)
    after = wf.edit(db, clock, policy, OPERATOR, case.id, urgency="urgent")
    # Counted from when the case entered its stage, now in the urgent (natural-hour) limit.
    assert after.deadline == case.stage_since + timedelta(hours=1)
    assert after.deadline < case.deadline
    assert timeline(db, case.id)[-1].data["changes"]["urgency"] == ["normal", "urgent"]


# ---- tasks ---------------------------------------------------------------------------


def test_tasks_add_complete_and_overdue(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    soon = wf.add_task(db, clock, "张三", case.id, "疏散住户", owner="王五", due=clock.now())
    later = wf.add_task(
        db, clock, "张三", case.id, "清点物资", due=clock.now() + timedelta(hours=6)
    )
    undated = wf.add_task(db, clock, "张三", case.id, "回访")
    assert [t.id for t in tasks_of(db, case.id)] == [soon.id, later.id, undated.id]
    assert list_tasks(db, clock.now(), overdue_only=True) == []
    clock.advance(hours=1)
    assert [t.id for t in list_tasks(db, clock.now(), overdue_only=True)] == [soon.id]
    assert [t.id for t in list_tasks(db, clock.now())] == [soon.id, later.id, undated.id]
    assert soon.overdue_at(clock.now())
    done = wf.complete_task(db, clock, "王五", soon.id)
    assert (done.done_at, done.done_by) == (clock.now(), "王五")
    assert list_tasks(db, clock.now(), overdue_only=True) == []
    assert [e.kind for e in timeline(db, case.id)][-4:] == [
        "task_added",
        "task_added",
        "task_added",
        "task_done",
    ]


def test_task_done_twice_is_refused(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.HANDLING)
    task = wf.add_task(db, clock, "张三", case.id, "疏散住户")
    wf.complete_task(db, clock, "张三", task.id)
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="already done"):
        wf.complete_task(db, clock, "李四", task.id)
    with pytest.raises(NotFound):
        wf.complete_task(db, clock, "李四", task.id + 100)
    with pytest.raises(InvalidInput):
        wf.add_task(db, clock, "张三", case.id, "  ")
    assert snapshot(db) == before
