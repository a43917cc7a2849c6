"""Undo: the officer who advanced a case may take the step back for a few minutes.

The step stays in the timeline and an ``undo`` entry follows it; the stage goes back with the
time limit it had (start, deadline, extensions, overdue state), so an undo never buys time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidents import workflow as wf
from incidents.models import Stage
from incidents.records import get_incident, replay_stage, timeline
from incidents.supervision import sweep_overdue
from store.audit import verify_chain
from store.errors import InvalidTransition, PermissionDenied
from tests.support.domain import OPERATOR


def test_undo_takes_the_advance_back_and_keeps_the_history(db, clock, policy, make_case):
    case = make_case(Stage.REGISTERED)
    before = get_incident(db, case.id)
    clock.advance(minutes=2)
    wf.dispatch(db, clock, policy, OPERATOR, case.id)
    clock.advance(minutes=3)

    undone = wf.undo(db, clock, policy, OPERATOR, case.id)

    assert undone.stage is Stage.REGISTERED
    assert undone.assignee is None  # the dispatch's target goes with it
    assert undone.stage_since == before.stage_since  # the stage is not restarted...
    assert undone.deadline == before.deadline  # ...and its time limit is the one it had
    entries = timeline(db, case.id)
    assert [e.kind for e in entries] == ["reported", "register", "dispatch", "undo"]
    last = entries[-1]
    assert (last.stage_from, last.stage_to) == (Stage.DISPATCHED, Stage.REGISTERED)
    assert last.data["reason"] == "undo"
    assert last.data["undone"] == entries[2].id and last.data["step"] == "dispatch"
    assert replay_stage(entries) is Stage.REGISTERED
    assert verify_chain(db).ok


def test_only_the_same_officer_within_the_window(db, clock, policy, make_case):
    case = make_case(Stage.REPORTED)
    wf.register(db, clock, policy, OPERATOR, case.id)
    with pytest.raises(PermissionDenied, match=f"only {OPERATOR}, who took the last step"):
        wf.undo(db, clock, policy, "someone-else", case.id)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(InvalidTransition, match="too late to undo .* 5 min ago.* for 5 min"):
        wf.undo(db, clock, policy, OPERATOR, case.id)
    # A configured, longer window allows it.
    wf.undo(db, clock, policy, OPERATOR, case.id, window=timedelta(minutes=10))
    assert get_incident(db, case.id).stage is Stage.REPORTED


def test_nothing_to_undo(db, clock, policy, make_case):
    case = make_case(Stage.REPORTED)
    with pytest.raises(InvalidTransition, match="not an advance"):
        wf.undo(db, clock, policy, OPERATOR, case.id)  # only reported
    wf.register(db, clock, policy, OPERATOR, case.id)
    wf.undo(db, clock, policy, OPERATOR, case.id)
    with pytest.raises(InvalidTransition, match="already undone"):
        wf.undo(db, clock, policy, OPERATOR, case.id)  # no undo of the step before
    wf.register(db, clock, policy, OPERATOR, case.id)
    wf.void(db, clock, policy, OPERATOR, case.id, "false alarm")
    with pytest.raises(InvalidTransition, match="not an advance"):
        wf.undo(db, clock, policy, OPERATOR, case.id)  # voiding is not an advance
    count = len(timeline(db, case.id))
    assert get_incident(db, case.id).stage is Stage.VOIDED
    assert len(timeline(db, case.id)) == count  # refusals write nothing


def test_undo_of_a_close_reopens_to_verified(db, clock, policy, make_case):
    case = make_case(Stage.VERIFIED)
    verified = get_incident(db, case.id)
    wf.close(db, clock, policy, OPERATOR, case.id)
    undone = wf.undo(db, clock, policy, OPERATOR, case.id)
    assert undone.stage is Stage.VERIFIED and undone.closed_at is None
    assert undone.deadline == verified.deadline
    assert db.conn.execute("SELECT active FROM incidents WHERE id = ?", (case.id,)).fetchone()[0]


def test_an_overdue_stage_comes_back_overdue_without_a_second_supervision(
    db, clock, policy, make_case
):
    case = make_case(Stage.REGISTERED, urgency="urgent")  # registered: 1 h
    clock.advance(hours=1, minutes=1)
    sweep_overdue(db, clock, policy)
    overdue = get_incident(db, case.id)
    assert overdue.supervised
    wf.dispatch(db, clock, policy, OPERATOR, case.id)
    undone = wf.undo(db, clock, policy, OPERATOR, case.id)
    assert undone.deadline == overdue.deadline and undone.supervised
    assert undone.overdue_at(clock.now())
    sweep_overdue(db, clock, policy)
    kinds = [e.kind for e in timeline(db, case.id)]
    assert kinds.count("supervise") == 1


def test_an_extension_granted_in_the_stage_is_kept(db, clock, policy, make_case):
    case = make_case(Stage.HANDLING)
    until = get_incident(db, case.id).deadline + timedelta(days=1)
    wf.request_extension(db, clock, policy, OPERATOR, case.id, "waiting for parts", until)
    wf.approve_extension(db, clock, policy, "lead", case.id)
    wf.feedback(db, clock, policy, OPERATOR, case.id, "fixed")
    undone = wf.undo(db, clock, policy, OPERATOR, case.id)
    assert undone.stage is Stage.HANDLING and undone.deadline == until


def test_a_request_the_step_let_lapse_waits_again(db, clock, policy, make_case):
    case = make_case(Stage.HANDLING)
    until = get_incident(db, case.id).deadline + timedelta(days=1)
    wf.request_extension(db, clock, policy, OPERATOR, case.id, "waiting for parts", until)
    wf.feedback(db, clock, policy, OPERATOR, case.id, "fixed")
    assert wf.extensions_of(db, case.id)[0].status == "lapsed"
    wf.undo(db, clock, policy, OPERATOR, case.id)
    assert wf.extensions_of(db, case.id)[0].status == "pending"


ADVANCE = {
    Stage.REPORTED: lambda db, clock, policy, ref: wf.register(db, clock, policy, OPERATOR, ref),
    Stage.REGISTERED: lambda db, clock, policy, ref: wf.dispatch(db, clock, policy, OPERATOR, ref),
    Stage.DISPATCHED: lambda db, clock, policy, ref: wf.handle(db, clock, policy, OPERATOR, ref),
    Stage.HANDLING: lambda db, clock, policy, ref: wf.feedback(
        db, clock, policy, OPERATOR, ref, "done"
    ),
    Stage.FEEDBACK: lambda db, clock, policy, ref: wf.verify(db, clock, policy, OPERATOR, ref),
    Stage.VERIFIED: lambda db, clock, policy, ref: wf.close(db, clock, policy, OPERATOR, ref),
}


@pytest.mark.parametrize("stage", list(ADVANCE))
@pytest.mark.parametrize("urgency", ["normal", "very_urgent"])
@pytest.mark.parametrize("minutes", [0, 3, 45])
def test_every_advance_undone_gives_back_the_case_as_it_was(
    db, clock, policy, make_case, stage, urgency, minutes
):
    """From every stage, at every urgency, overdue or not: advance then undo restores the
    stage, its start, deadline, overdue state, assignee and queue flags exactly."""
    case = make_case(stage, urgency=urgency, grid="G01")
    clock.advance(minutes=minutes)  # 45 min: a very urgent case is overdue meanwhile
    sweep_overdue(db, clock, policy)
    columns = (
        "stage, stage_since, deadline, overdue_since, supervised, reminders, remind_at, active,"
        " assignee, closed_at, parked"
    )
    query = f"SELECT {columns} FROM incidents WHERE id = ?"
    before = db.conn.execute(query, (case.id,)).fetchone()
    ADVANCE[stage](db, clock, policy, case.id)
    clock.advance(minutes=2)
    wf.undo(db, clock, policy, OPERATOR, case.id)
    assert db.conn.execute(query, (case.id,)).fetchone() == before
    sweep_overdue(db, clock, policy)  # nothing new for the sweep: no second 督办
    assert db.conn.execute(query, (case.id,)).fetchone() == before
