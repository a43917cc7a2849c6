"""Random sequences of operations never reach an illegal state.

A hypothesis state machine logs cases and throws every workflow step at them, the illegal ones
included, moves the clock and runs the overdue sweep. Each step either does exactly what the
closed loop says or is refused without writing anything; and after every step the stored state
is consistent and the timeline, replayed, gives each case's current stage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import CATEGORIES, Stage
from incidents.records import NewIncident, create_incident, get_incident, replay_stage, timeline
from incidents.supervision import sweep_overdue
from store.audit import verify_chain
from store.clock import FixedClock, from_iso, to_iso
from store.db import connect
from store.errors import InvalidInput, InvalidTransition, PermissionDenied
from tests.conftest import START

OPEN = frozenset(s for s in Stage if s.is_open)
# step -> (stages it may start from, stage it leads to); the model the workflow is held to.
LOOP_STEPS: dict[str, tuple[frozenset[Stage], Stage]] = {
    "register": (frozenset({Stage.REPORTED}), Stage.REGISTERED),
    "dispatch": (frozenset({Stage.REGISTERED}), Stage.DISPATCHED),
    "handle": (frozenset({Stage.DISPATCHED}), Stage.HANDLING),
    "feedback": (frozenset({Stage.HANDLING}), Stage.FEEDBACK),
    "verify_pass": (frozenset({Stage.FEEDBACK}), Stage.VERIFIED),
    "verify_fail": (frozenset({Stage.FEEDBACK}), Stage.HANDLING),
    "close": (frozenset({Stage.VERIFIED}), Stage.CLOSED),
    "void": (frozenset({Stage.REPORTED, Stage.REGISTERED}), Stage.VOIDED),
    "return": (frozenset({Stage.HANDLING, Stage.FEEDBACK}), Stage.DISPATCHED),
    "reopen": (frozenset({Stage.CLOSED}), Stage.HANDLING),
}
PEOPLE = ("张三", "李班长", "赵班长", "王五")
CLASSES = [(c, t) for c, (_, types) in CATEGORIES.items() for t in list(types)[:2]]
texts = st.sampled_from(["原因", "现场已处理", "复查", ""])


class WorkflowMachine(RuleBasedStateMachine):
    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.db = connect()
        self.clock = FixedClock(START)
        self.policy = Policy(
            shift_leads=("李班长", "赵班长"),
            second_extension_approvals=2,
            remind_every=timedelta(hours=1),
        )
        self.ids: list[int] = []

    def teardown(self) -> None:
        self.db.close()

    # ---- helpers -------------------------------------------------------------------

    def events(self) -> int:
        return int(self.db.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def state(self) -> tuple[list, list]:
        return (
            self.db.conn.execute("SELECT * FROM incidents ORDER BY id").fetchall(),
            self.db.conn.execute("SELECT * FROM extensions ORDER BY id").fetchall(),
        )

    def expect_refusal(self, error: type[Exception], call: Callable[[], object]) -> None:
        before, count = self.state(), self.events()
        try:
            call()
        except error:
            pass
        else:
            raise AssertionError(f"expected {error.__name__}")
        assert self.state() == before
        assert self.events() == count

    # ---- rules ---------------------------------------------------------------------

    @initialize(target=cases, cls=st.sampled_from(CLASSES))
    def first_case(self, cls: tuple[str, str]) -> int:
        return self.log_case(cls, "normal", None)

    @precondition(lambda self: len(self.ids) < 4)
    @rule(
        target=cases,
        cls=st.sampled_from(CLASSES),
        urgency=st.sampled_from(["normal", "urgent", "very_urgent"]),
        grid=st.sampled_from([None, "G01", "G02"]),
    )
    def log_case(self, cls: tuple[str, str], urgency: str, grid: str | None) -> int:
        category, type_ = cls
        new = NewIncident(
            title="3号楼发生火灾", category=category, type=type_, urgency=urgency, grid=grid
        )
        incident = create_incident(self.db, self.clock, self.policy, "张三", new)
        assert incident.stage is Stage.REPORTED
        self.ids.append(incident.id)
        return incident.id

    @rule(
        case=cases,
        step=st.sampled_from(sorted(LOOP_STEPS)),
        text=texts,
        target_=st.sampled_from([None, "grid:G09", "person:#3", "team:rescue", "nowhere:x"]),
        who=st.sampled_from(PEOPLE),
    )
    def loop_step(self, case: int, step: str, text: str, target_: str | None, who: str) -> None:
        db, clock, policy = self.db, self.clock, self.policy
        calls = {
            "register": lambda: wf.register(db, clock, policy, who, case, note=text or None),
            "dispatch": lambda: wf.dispatch(db, clock, policy, who, case, target_),
            "handle": lambda: wf.handle(db, clock, policy, who, case),
            "feedback": lambda: wf.feedback(db, clock, policy, who, case, text),
            "verify_pass": lambda: wf.verify(db, clock, policy, who, case, passed=True),
            "verify_fail": lambda: wf.verify(
                db, clock, policy, who, case, passed=False, reason=text
            ),
            "close": lambda: wf.close(db, clock, policy, who, case),
            "void": lambda: wf.void(db, clock, policy, who, case, text),
            "return": lambda: wf.return_case(db, clock, policy, who, case, text),
            "reopen": lambda: wf.reopen(db, clock, policy, who, case, text),
        }
        needs_text = step in ("feedback", "verify_fail", "void", "return", "reopen")
        bad_input = (needs_text and not text.strip()) or (
            step == "dispatch" and target_ == "nowhere:x"
        )
        before = get_incident(db, case)
        origins, destination = LOOP_STEPS[step]
        if bad_input:
            self.expect_refusal(InvalidInput, calls[step])
        elif before.parked or before.stage not in origins:
            self.expect_refusal(InvalidTransition, calls[step])
        else:
            after = calls[step]()
            assert after.stage is destination
            assert after.stage_since == clock.now()
            entry = timeline(db, case)[-1]
            assert (entry.stage_from, entry.stage_to, entry.operator) == (
                before.stage,
                destination,
                who,
            )

    @rule(case=cases, who=st.sampled_from(PEOPLE))
    def advance(self, case: int, who: str) -> None:
        """The console's "advance" key: the one forward step, so cases get deep into the loop."""
        incident = get_incident(self.db, case)
        if incident.parked:
            self.unpark(case)
        elif incident.stage is Stage.CLOSED:
            self.loop_step(case, "reopen", "复燃", None, who)
        elif incident.stage in wf.NEXT_STEP:
            step = wf.NEXT_STEP[incident.stage]
            step = "verify_pass" if step == "verify" else step
            self.loop_step(case, step, "现场已处理", None, who)
        else:
            assert wf.allowed_actions(incident) == []

    @rule(case=cases, reason=texts)
    def park(self, case: int, reason: str) -> None:
        db, clock, policy = self.db, self.clock, self.policy
        before = get_incident(db, case)
        call = partial(wf.park, db, clock, policy, "张三", case, reason)
        if not reason.strip():
            self.expect_refusal(InvalidInput, call)
        elif before.parked or before.stage not in OPEN - {Stage.REPORTED}:
            self.expect_refusal(InvalidTransition, call)
        else:
            after = call()
            assert after.parked and after.deadline is None and after.stage is before.stage

    @rule(case=cases)
    def unpark(self, case: int) -> None:
        db, clock, policy = self.db, self.clock, self.policy
        before = get_incident(db, case)
        call = partial(wf.unpark, db, clock, policy, "张三", case)
        if not before.parked:
            self.expect_refusal(InvalidTransition, call)
        else:
            after = call()
            assert not after.parked and after.stage is before.stage
            assert after.deadline is not None and after.deadline > clock.now()

    @rule(duplicate=cases, original=cases)
    def merge(self, duplicate: int, original: int) -> None:
        db, clock, policy = self.db, self.clock, self.policy
        dup, into = get_incident(db, duplicate), get_incident(db, original)
        call = partial(wf.merge, db, clock, policy, "张三", duplicate, original)
        if duplicate == original:
            self.expect_refusal(InvalidInput, call)
        elif into.stage in (Stage.VOIDED, Stage.MERGED) or not dup.stage.is_open:
            self.expect_refusal(InvalidTransition, call)
        else:
            merged = call()
            assert merged.stage is Stage.MERGED and merged.merged_into == original
            assert timeline(db, original)[-1].kind == "merged_in"

    @rule(case=cases, hours=st.integers(min_value=-2, max_value=72), who=st.sampled_from(PEOPLE))
    def request_extension(self, case: int, hours: int, who: str) -> None:
        db, clock, policy = self.db, self.clock, self.policy
        before = get_incident(db, case)
        until = (before.deadline or clock.now()) + timedelta(hours=hours)
        pending = [e for e in wf.extensions_of(db, case) if e.status == "pending"]
        call = partial(wf.request_extension, db, clock, policy, who, case, "等待配件", until)
        if not before.stage.is_open or before.parked:
            self.expect_refusal(InvalidTransition, call)
        elif until <= max(before.deadline or clock.now(), clock.now()):
            self.expect_refusal(InvalidInput, call)
        elif pending:
            self.expect_refusal(InvalidTransition, call)
        else:
            ext = call()
            assert ext.status == "pending"
            assert ext.approvals_needed == (1 if before.extensions == 0 else 2)

    @rule(case=cases, who=st.sampled_from(PEOPLE), reject=st.booleans())
    def decide_extension(self, case: int, who: str, reject: bool) -> None:
        db, clock, policy = self.db, self.clock, self.policy
        before = get_incident(db, case)
        pending = [e for e in wf.extensions_of(db, case) if e.status == "pending"]
        reason = "不同意" if reject else None
        call = partial(
            wf.approve_extension, db, clock, policy, who, case, reject=reject, reason=reason
        )
        if not pending:
            self.expect_refusal(InvalidTransition, call)
            return
        [ext] = pending
        if who not in policy.shift_leads or who == ext.requested_by or who in ext.approvals:
            self.expect_refusal(PermissionDenied, call)
            return
        decided = call()
        after = get_incident(db, case)
        if reject:
            assert decided.status == "rejected"
            assert after.deadline == before.deadline
        elif len(ext.approvals) + 1 >= ext.approvals_needed:
            assert decided.status == "granted"
            assert after.deadline == ext.new_deadline
            assert after.extensions == before.extensions + 1
        else:
            assert decided.status == "pending"
            assert after.deadline == before.deadline

    @rule(case=cases, urgency=st.sampled_from(["normal", "urgent", "very_urgent"]))
    def edit_urgency(self, case: int, urgency: str) -> None:
        db, clock, policy = self.db, self.clock, self.policy
        before = get_incident(db, case)
        call = partial(wf.edit, db, clock, policy, "张三", case, urgency=urgency)
        if before.parked or not before.stage.is_open:
            self.expect_refusal(InvalidTransition, call)
            return
        after = call()
        assert after.urgency.value == urgency
        if urgency != before.urgency.value:
            assert after.deadline == policy.deadline(
                before.stage, before.stage_since, before.category, before.type, urgency
            )

    @rule(case=cases, text=texts)
    def note(self, case: int, text: str) -> None:
        call = partial(wf.add_note, self.db, self.clock, "张三", case, text)
        if not text.strip():
            self.expect_refusal(InvalidInput, call)
        else:
            assert call() == self.events()

    @rule(minutes=st.integers(min_value=1, max_value=3 * 24 * 60))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        sweep_overdue(self.db, self.clock, self.policy)
        now = to_iso(self.clock.now())
        unsupervised = self.db.conn.execute(
            "SELECT count(*) FROM incidents WHERE active = 1 AND deadline < ?"
            " AND (supervised = 0 OR overdue_since IS NULL)",
            (now,),
        ).fetchone()[0]
        assert unsupervised == 0

    @precondition(lambda self: len(self.ids) > 0)
    @invariant()
    def every_case_is_consistent(self) -> None:
        rows = self.db.conn.execute(
            "SELECT id, stage, active, parked, deadline, closed_at, supervised, merged_into,"
            " overdue_since FROM incidents"
        ).fetchall()
        assert len(rows) == len(self.ids)
        for cid, stage_text, active, parked, deadline, closed_at, supervised, merged, since in rows:
            stage = Stage(stage_text)
            assert active == int(stage.is_open and not parked), (cid, stage, parked)
            if not stage.is_open:
                assert deadline is None
                assert not parked and not supervised
                assert closed_at is not None
                assert since is None
            elif not parked:
                assert deadline is not None
            if stage.is_open:
                assert closed_at is None
            assert (merged is not None) == (stage is Stage.MERGED)
            if since is not None:
                assert supervised and from_iso(since) <= self.clock.now()
            assert replay_stage(timeline(self.db, cid)) is stage

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        report = verify_chain(self.db)
        assert report.ok, report.problem
        assert report.checked == self.events()


WorkflowMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestWorkflowMachine = WorkflowMachine.TestCase
