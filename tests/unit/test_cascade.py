"""The cascade: release level by level or all at once, repeats, alternates, unreachable, --need.

Fast versions (in memory, a fixed clock moved by hand) of what ``tests/e2e`` shows in real time
through ``dutydesk serve`` and a gateway. The tree is the town's default: a silent node is sent
again once after 300 s, then its alternate (for a grid leader, the community secretary) is
called, then it is unreachable.
"""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from mobilization import (
    NodeStatus,
    RecipientState,
    Target,
    attempts_of,
    cancel_mobilization,
    edit_node,
    ensure_default_tree,
    get_mobilization,
    get_tree,
    next_due,
    node_states,
    recipient_rows,
    record_answer,
    start_mobilization,
)
from store.clock import FixedClock
from store.errors import InvalidInput, InvalidTransition, NotFound
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import code_of, drive, events, names, nodes, start, states


def test_cascade_notifies_a_child_only_after_its_parent_answers(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    sent = drive(town_tree, clock)
    assert [m.name for m in sent] == ["L1"]
    assert sent[0].kind == "notify" and sent[0].channel == "log"
    assert code_of(town_tree, mob, "L1") in sent[0].text and "/ack/" in sent[0].ack_url
    assert states(town_tree, mob) == {"L1": "sent"}
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="console", code=code_of(town_tree, mob, "L1")
    )
    assert names(drive(town_tree, clock)) == ["M1", "M2", "V1"]
    assert nodes(town_tree, mob)["grid-G01"] == NodeStatus.YES


def test_broadcast_notifies_everyone_at_once(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast")
    assert names(drive(town_tree, clock)) == ["L1", "M1", "M2", "V1"]
    assert set(states(town_tree, mob).values()) == {"sent"}


def test_silence_resends_then_alternates_then_unreachable_releases_children(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    clock.advance(seconds=299)
    assert drive(town_tree, clock) == []
    clock.advance(seconds=1)
    again = drive(town_tree, clock)
    assert [(m.name, m.kind) for m in again] == [("L1", "notify")]
    clock.advance(seconds=300)
    # Repeats used up: L1 is silent, the alternate (the community secretary) is called.
    assert [m.name for m in drive(town_tree, clock)] == ["SEC"]
    assert states(town_tree, mob) == {"L1": "escalated", "SEC": "sent"}
    clock.advance(seconds=300)
    assert [m.name for m in drive(town_tree, clock)] == ["SEC"]  # the alternate's own repeat
    clock.advance(seconds=300)
    sent = drive(town_tree, clock)
    # Nobody answered: the node is unreachable, its children are called all the same.
    assert nodes(town_tree, mob)["grid-G01"] == NodeStatus.UNREACHABLE
    assert states(town_tree, mob)["L1"] == states(town_tree, mob)["SEC"] == "unreachable"
    assert names(sent) == ["M1", "M2", "V1"]
    assert [a["kind"] for a in attempts_of(town_tree, 1)] == ["notify", "notify"]
    assert len(events(town_tree, "mobilization_node_unreachable")) == 1


def test_repeats_used_up_leave_a_person_no_answer(town_tree: Database, clock: FixedClock) -> None:
    """A silent member of a node already settled by another's yes ends ``no_answer``."""
    mob = start(town_tree, clock, "node:grid-G01-members", mode="broadcast")
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="console", code=code_of(town_tree, mob, "M1")
    )
    clock.advance(seconds=300)
    assert [(m.name, m.kind) for m in drive(town_tree, clock)] == [("M2", "notify")]
    clock.advance(seconds=300)
    assert drive(town_tree, clock) == []  # one repeat, then nothing more is sent
    assert states(town_tree, mob) == {"M1": "yes", "M2": RecipientState.NO_ANSWER}
    assert [a["round"] for a in attempts_of(town_tree, 2)] == [1, 2]
    assert get_mobilization(town_tree, mob).state == "completed"


def test_a_no_goes_to_the_next_alternate_at_once(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=False, via="console", code=code_of(town_tree, mob, "L1")
    )
    assert [m.name for m in drive(town_tree, clock)] == ["SEC"]
    record_answer(
        town_tree, clock, OPERATOR, yes=False, via="console", code=code_of(town_tree, mob, "SEC")
    )
    sent = drive(town_tree, clock)
    assert nodes(town_tree, mob)["grid-G01"] == NodeStatus.UNREACHABLE
    assert names(sent) == ["M1", "M2", "V1"]


def test_silence_then_the_alternates_no_releases_the_branch(
    town_tree: Database, clock: FixedClock
) -> None:
    """As in real time end to end: the leader silent twice, the alternate says no."""
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    clock.advance(seconds=300)
    drive(town_tree, clock)
    clock.advance(seconds=300)
    assert [m.name for m in drive(town_tree, clock)] == ["SEC"]
    record_answer(
        town_tree, clock, OPERATOR, yes=False, via="sms", code=code_of(town_tree, mob, "SEC")
    )
    assert names(drive(town_tree, clock)) == ["M1", "M2", "V1"]
    assert states(town_tree, mob)["L1"] == "unreachable"
    assert states(town_tree, mob)["SEC"] == "no"


def test_unreachable_child_whose_alternate_said_yes_settles_yes(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "node:com-330106001001")
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="console", code=code_of(town_tree, mob, "SEC")
    )
    drive(town_tree, clock)
    assert states(town_tree, mob)["L2"] == "sent"
    # G02's leader stays silent; its alternate is SEC, who already answered yes: a yes there
    # settles the node at once rather than calling SEC a second time.
    clock.advance(seconds=300)
    drive(town_tree, clock)
    clock.advance(seconds=300)
    drive(town_tree, clock)
    assert nodes(town_tree, mob)["grid-G02"] == NodeStatus.YES


def test_an_unreachable_node_tells_the_people_of_its_parent(
    town_tree: Database, clock: FixedClock
) -> None:
    edit_node(town_tree, clock, OPERATOR, "default", "grid-G02", alternates=[])
    mob = start(town_tree, clock, "node:com-330106001001")
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="console", code=code_of(town_tree, mob, "SEC")
    )
    drive(town_tree, clock)
    clock.advance(seconds=300)
    drive(town_tree, clock)
    clock.advance(seconds=300)
    sent = drive(town_tree, clock)
    assert nodes(town_tree, mob)["grid-G02"] == NodeStatus.UNREACHABLE
    notices = [m for m in sent if m.kind == "notice"]
    assert [m.name for m in notices] == ["SEC"]
    assert "G02" in notices[0].text


def test_need_stands_the_rest_of_the_group_down(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast", need=2)
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="console", code=code_of(town_tree, mob, "M1")
    )
    assert drive(town_tree, clock) == []
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="console", code=code_of(town_tree, mob, "V1")
    )
    assert drive(town_tree, clock) == []  # they were called a moment ago: the interval holds
    clock.advance(seconds=60)
    sent = drive(town_tree, clock)
    assert sorted((m.name, m.kind) for m in sent) == [("L1", "stand_down"), ("M2", "stand_down")]
    assert states(town_tree, mob) == {
        "L1": "stood_down",
        "M1": "yes",
        "M2": "stood_down",
        "V1": "yes",
    }
    clock.advance(hours=2)
    assert drive(town_tree, clock) == []
    assert get_mobilization(town_tree, mob).state == "completed"


def test_need_met_in_a_cascade_stands_the_rest_down_and_calls_nobody_new(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01", need=2, interval_s=0)
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="console", code=code_of(town_tree, mob, "L1")
    )
    drive(town_tree, clock)  # the leader's yes releases the members and volunteers
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="sms", code=code_of(town_tree, mob, "M1")
    )
    sent = drive(town_tree, clock)
    # Two yes in G01 (the leader and M1): the others are told to stand down, not called again.
    assert names(sent, "stand_down") == ["M2", "V1"] and names(sent) == []
    assert states(town_tree, mob) == {
        "L1": "yes",
        "M1": "yes",
        "M2": "stood_down",
        "V1": "stood_down",
    }
    assert set(nodes(town_tree, mob).values()) <= {NodeStatus.YES, NodeStatus.STOOD_DOWN}
    clock.advance(seconds=600)
    assert drive(town_tree, clock) == []


def test_one_message_per_person_however_many_nodes_name_them(
    town_tree: Database, clock: FixedClock
) -> None:
    # M1 is a grid member and the rescue team's leader; V1 a volunteer and a team member.
    mob = start(town_tree, clock, "grid:G01", "team:T-RESCUE", mode="broadcast")
    assert names(drive(town_tree, clock)) == ["L1", "M1", "M2", "V1"]
    assert len(recipient_rows(town_tree, mob)) == 4


def test_cancel_tells_those_called_and_stops_everything(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast")
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="cli", code=code_of(town_tree, mob, "L1")
    )
    assert cancel_mobilization(town_tree, clock, OPERATOR, mob) == 3
    clock.advance(seconds=60)
    sent = drive(town_tree, clock)
    assert names(sent, "cancel") == ["M1", "M2", "V1"] and len(sent) == 3
    with pytest.raises(InvalidTransition, match="cancelled"):
        cancel_mobilization(town_tree, clock, OPERATOR, mob)
    clock.advance(hours=1)
    assert drive(town_tree, clock) == []
    assert next_due(town_tree) is None


def test_bad_requests_change_nothing(town_tree: Database, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="grid:NOPE has no node"):
        start(town_tree, clock, "grid:NOPE")
    with pytest.raises(InvalidInput, match="message"):
        start_mobilization(
            town_tree, clock, OPERATOR, targets=[Target.parse("grid:G01")], message=" "
        )
    with pytest.raises(InvalidInput, match="not grid:CODE"):
        Target.parse("street:X")
    with pytest.raises(NotFound, match="incident 99"):
        start(town_tree, clock, "grid:G01", incident_id=99)
    assert town_tree.conn.execute("SELECT count(*) FROM mobilizations").fetchone()[0] == 0


def test_starting_builds_no_tree_the_caller_asks_for_it(town: Database, clock: FixedClock) -> None:
    with pytest.raises(NotFound, match="contact tree 'default'"):
        start(town, clock, "grid:G01")
    assert get_tree(town) == []
    assert ensure_default_tree(town, clock, OPERATOR) is True
    assert ensure_default_tree(town, clock, OPERATOR) is False  # built once
    assert ensure_default_tree(town, clock, OPERATOR, "flood") is False  # only the default
    mob = start(town, clock, "grid:G01")
    assert names(drive(town, clock)) == ["L1"] and mob == 1


def test_a_target_inside_another_targets_subtree_is_reached_through_it(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01", "node:com-330106001001")
    levels = {n.code: n.level for n in node_states(town_tree, mob)}
    assert levels["com-330106001001"] == 0 and levels["grid-G01"] == 1
    assert [m.name for m in drive(town_tree, clock)] == ["SEC"]  # cascade from the community
