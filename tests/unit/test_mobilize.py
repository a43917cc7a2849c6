"""Mobilizations: cascade and broadcast, escalation with an injected clock, answers, --need.

The engine's steps are driven by hand here (process → claim → deliver → record) with a
channel that delivers everything at once; the real senders and the HTTP front doors are tested
in ``test_channels.py`` and ``tests/e2e``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlite_utils import Database

from mobilization.acks import installation_secret, make_token
from mobilization.channels import Delivery, Outgoing
from mobilization.mobilize import (
    Routing,
    Target,
    answer_by_sms,
    answer_by_token,
    attempts_of,
    cancel_mobilization,
    claim_pending,
    get_mobilization,
    next_due,
    node_states,
    process_due,
    recipient_rows,
    record_answer,
    record_deliveries,
    release_claims,
    resend_silent,
    start_mobilization,
    summary,
    totals,
)
from mobilization.trees import build_default_tree, edit_node
from store.clock import FixedClock, from_iso
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from tests.conftest import OPERATOR

LOG = Routing()


def drive(
    db: Database, clock: FixedClock, *, fail: frozenset[str] = frozenset(), routing=LOG
) -> list[Outgoing]:
    """Run the engine's steps until nothing is due now; returns every message sent."""
    sent: list[Outgoing] = []
    for _ in range(200):
        moved = process_due(db, clock)
        out, failed = claim_pending(db, clock, routing)
        deliveries = [Delivery(m.attempt_id, m.address not in fail, "rejected") for m in out]
        record_deliveries(db, clock, deliveries + failed, routing)
        sent += [m for m in out if m.address not in fail]
        if not moved and not out and not failed:
            return sent
    raise AssertionError("the engine did not settle")


def states(db: Database, mob_id: int) -> dict[str, str]:
    return {r["key"]: r["state"] for r in recipient_rows(db, mob_id)}


def code_of(db: Database, mob_id: int, key: str) -> str:
    return next(r["code"] for r in recipient_rows(db, mob_id) if r["key"] == key)


def nodes(db: Database, mob_id: int) -> dict[str, str]:
    return {n.code: n.state for n in node_states(db, mob_id)}


@pytest.fixture
def tree(town: Database, clock: FixedClock) -> Database:
    build_default_tree(town, clock, OPERATOR, timeout_s=300, repeats=1)
    return town


def start(db: Database, clock: FixedClock, *targets: str, **kw) -> int:
    return start_mobilization(
        db, clock, OPERATOR, targets=[Target.parse(t) for t in targets], message="防汛集结", **kw
    )


def test_cascade_notifies_a_child_only_after_its_parent_answers(
    tree: Database, clock: FixedClock
) -> None:
    mob = start(tree, clock, "grid:G01")
    sent = drive(tree, clock)
    assert [m.name for m in sent] == ["L1"]
    assert sent[0].kind == "notify" and sent[0].channel == "log"
    assert code_of(tree, mob, "L1") in sent[0].text and "/ack/" in sent[0].ack_url
    assert states(tree, mob) == {"L1": "sent"}
    record_answer(tree, clock, OPERATOR, yes=True, via="console", code=code_of(tree, mob, "L1"))
    sent = drive(tree, clock)
    assert sorted(m.name for m in sent) == ["M1", "M2", "V1"]
    assert nodes(tree, mob)["grid-G01"] == "yes"


def test_broadcast_notifies_everyone_at_once(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01", mode="broadcast")
    sent = drive(tree, clock)
    assert sorted(m.name for m in sent) == ["L1", "M1", "M2", "V1"]
    assert set(states(tree, mob).values()) == {"sent"}


def test_silence_resends_then_alternates_then_unreachable_releases_children(
    tree: Database, clock: FixedClock
) -> None:
    mob = start(tree, clock, "grid:G01")
    drive(tree, clock)
    clock.advance(seconds=299)
    assert drive(tree, clock) == []
    clock.advance(seconds=1)
    again = drive(tree, clock)
    assert [(m.name, m.kind) for m in again] == [("L1", "notify")]
    assert len({m.attempt_id for m in again}) == 1
    clock.advance(seconds=300)
    # Repeats used up: L1 is silent, the alternate (the community secretary) is called.
    sent = drive(tree, clock)
    assert [m.name for m in sent] == ["SEC"]
    assert states(tree, mob) == {"L1": "escalated", "SEC": "sent"}
    clock.advance(seconds=300)
    assert [m.name for m in drive(tree, clock)] == ["SEC"]  # the alternate's own repeat
    clock.advance(seconds=300)
    sent = drive(tree, clock)
    # Nobody answered: the node is unreachable, its children are called all the same.
    assert nodes(tree, mob)["grid-G01"] == "unreachable"
    assert states(tree, mob)["L1"] == "unreachable"
    assert states(tree, mob)["SEC"] == "unreachable"
    assert sorted(m.name for m in sent if m.kind == "notify") == ["M1", "M2", "V1"]
    assert [a["kind"] for a in attempts_of(tree, 1)] == ["notify", "notify"]


def test_unreachable_child_tells_its_parent(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "node:com-330106001001")
    drive(tree, clock)
    record_answer(tree, clock, OPERATOR, yes=True, via="console", code=code_of(tree, mob, "SEC"))
    drive(tree, clock)
    assert states(tree, mob)["L2"] == "sent"
    # G02's leader stays silent; its alternate is SEC, who already answered yes: a yes there
    # settles the node at once rather than calling SEC a second time.
    clock.advance(seconds=300)
    drive(tree, clock)
    clock.advance(seconds=300)
    drive(tree, clock)
    assert nodes(tree, mob)["grid-G02"] == "yes"


def test_a_no_goes_to_the_next_alternate_at_once(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01")
    drive(tree, clock)
    record_answer(tree, clock, OPERATOR, yes=False, via="console", code=code_of(tree, mob, "L1"))
    sent = drive(tree, clock)
    assert [m.name for m in sent] == ["SEC"]
    record_answer(tree, clock, OPERATOR, yes=False, via="console", code=code_of(tree, mob, "SEC"))
    sent = drive(tree, clock)
    assert nodes(tree, mob)["grid-G01"] == "unreachable"
    assert sorted(m.name for m in sent) == ["M1", "M2", "V1"]


def test_a_silent_parent_is_told_when_its_child_node_is_unreachable(
    tree: Database, clock: FixedClock
) -> None:
    edit_node(tree, clock, OPERATOR, "default", "grid-G02", alternates=[])
    mob = start(tree, clock, "node:com-330106001001")
    drive(tree, clock)
    record_answer(tree, clock, OPERATOR, yes=True, via="console", code=code_of(tree, mob, "SEC"))
    drive(tree, clock)
    clock.advance(seconds=300)
    drive(tree, clock)
    clock.advance(seconds=300)
    sent = drive(tree, clock)
    assert nodes(tree, mob)["grid-G02"] == "unreachable"
    notices = [m for m in sent if m.kind == "notice"]
    assert [m.name for m in notices] == ["SEC"]
    assert "G02" in notices[0].text


def test_need_stands_the_rest_of_the_group_down(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01", mode="broadcast", need=2)
    drive(tree, clock)
    record_answer(tree, clock, OPERATOR, yes=True, via="console", code=code_of(tree, mob, "M1"))
    assert drive(tree, clock) == []
    record_answer(tree, clock, OPERATOR, yes=True, via="console", code=code_of(tree, mob, "V1"))
    assert drive(tree, clock) == []  # they were called a moment ago: the interval holds it back
    clock.advance(seconds=60)
    sent = drive(tree, clock)
    assert sorted((m.name, m.kind) for m in sent) == [("L1", "stand_down"), ("M2", "stand_down")]
    assert states(tree, mob) == {"L1": "stood_down", "M1": "yes", "M2": "stood_down", "V1": "yes"}
    clock.advance(hours=2)
    assert drive(tree, clock) == []
    assert get_mobilization(tree, mob).state == "completed"


def test_one_message_per_person_however_many_nodes_name_them(
    tree: Database, clock: FixedClock
) -> None:
    # M1 is a grid member and the rescue team's leader; V1 a volunteer and a team member.
    mob = start(tree, clock, "grid:G01", "team:T-RESCUE", mode="broadcast")
    sent = drive(tree, clock)
    names = [m.name for m in sent]
    assert sorted(names) == ["L1", "M1", "M2", "V1"]
    assert len(recipient_rows(tree, mob)) == 4


def test_a_person_is_sent_at_most_one_message_per_interval(
    tree: Database, clock: FixedClock
) -> None:
    start(tree, clock, "grid:G01", mode="broadcast")
    first = drive(tree, clock)
    start(tree, clock, "team:T-RESCUE", mode="broadcast", interval_s=120)
    assert drive(tree, clock) == []  # M1 and V1 were just called
    clock.advance(seconds=119)
    assert drive(tree, clock) == []
    clock.advance(seconds=1)
    second = drive(tree, clock)
    assert sorted(m.name for m in second) == ["M1", "V1"]
    assert {m.name for m in first} >= {"M1", "V1"}


def test_answers_keep_the_first_time_and_record_a_change(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01")
    drive(tree, clock)
    code = code_of(tree, mob, "L1")
    first = record_answer(tree, clock, OPERATOR, yes=False, via="cli", code=code)
    clock.advance(minutes=3)
    second = record_answer(tree, clock, OPERATOR, yes=True, via="cli", code=code)
    assert first.first and not second.first and second.changed
    assert second.answered_at == first.answered_at
    again = record_answer(tree, clock, OPERATOR, yes=True, via="cli", code=code)
    assert not again.changed
    with pytest.raises(NotFound, match="ack code 0000"):
        record_answer(tree, clock, OPERATOR, yes=True, via="cli", code="0000")


def test_tokens_answer_once_signed_and_refuse_forgery_and_expiry(
    tree: Database, clock: FixedClock
) -> None:
    mob = start(tree, clock, "grid:G01")
    sent = drive(tree, clock)
    token = sent[0].ack_url.rsplit("/", 1)[1]
    answer = answer_by_token(tree, clock, token, yes=True)
    assert answer.yes and answer.name == "L1"
    forged = make_token(b"x" * 32, answer.recipient_id, clock.now() + timedelta(hours=1))
    with pytest.raises(PermissionDenied, match="bad signature"):
        answer_by_token(tree, clock, forged, yes=True, remote="127.0.0.1")
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(PermissionDenied):
        answer_by_token(tree, clock, altered, yes=True)
    expired = make_token(installation_secret(tree), answer.recipient_id, clock.now())
    with pytest.raises(PermissionDenied, match="expired"):
        answer_by_token(tree, clock, expired, yes=True)
    kinds = [r[0] for r in tree.conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds.count("security_ack_token_rejected") == 3
    assert get_mobilization(tree, mob).state == "active"


def test_sms_replies_with_and_without_code(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01", mode="broadcast")
    drive(tree, clock)
    code = code_of(tree, mob, "M1")
    assert answer_by_sms(tree, clock, "+8613800138005", f"{code} 收到").yes
    with pytest.raises(InvalidInput, match="was not sent to"):
        answer_by_sms(tree, clock, "13800138006", f"{code} 1")
    assert not answer_by_sms(tree, clock, "13800138006", "2").yes
    with pytest.raises(InvalidInput, match="not a reply"):
        answer_by_sms(tree, clock, "13800138006", "what?")
    assert states(tree, mob)["M1"] == "yes" and states(tree, mob)["M2"] == "no"


def test_cancel_tells_those_called_and_stops_everything(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01", mode="broadcast")
    drive(tree, clock)
    record_answer(tree, clock, OPERATOR, yes=True, via="cli", code=code_of(tree, mob, "L1"))
    assert cancel_mobilization(tree, clock, OPERATOR, mob) == 3
    clock.advance(seconds=60)
    sent = drive(tree, clock)
    assert sorted((m.name, m.kind) for m in sent) == [
        ("M1", "cancel"),
        ("M2", "cancel"),
        ("V1", "cancel"),
    ]
    with pytest.raises(InvalidTransition, match="cancelled"):
        cancel_mobilization(tree, clock, OPERATOR, mob)
    clock.advance(hours=1)
    assert drive(tree, clock) == []
    assert next_due(tree) is None


def test_failed_channel_falls_back_and_a_failed_round_is_retried(
    tree: Database, clock: FixedClock
) -> None:
    tree.conn.execute("UPDATE people SET email = 'l1@example.com' WHERE key = 'L1'")
    routing = Routing(configured=frozenset({"sms", "email"}))
    mob = start(tree, clock, "grid:G01")
    sent = drive(tree, clock, fail=frozenset({"+8613800138004"}), routing=routing)
    assert [(m.channel, m.address) for m in sent] == [("email", "l1@example.com")]
    rows = attempts_of(tree, recipient_rows(tree, mob)[0]["id"])
    assert [(a["channel"], a["state"]) for a in rows] == [("sms", "failed"), ("email", "sent")]
    assert rows[0]["error"] == "rejected"


def test_nobody_reachable_on_configured_channels_escalates(
    tree: Database, clock: FixedClock
) -> None:
    mob = start(tree, clock, "grid:G01")
    routing = Routing(configured=frozenset({"webhook"}))
    drive(tree, clock, routing=routing)
    row = recipient_rows(tree, mob)[0]
    assert row["error"] == "no configured channel reaches this person"
    assert row["state"] == "queued"
    clock.advance(seconds=60)
    drive(tree, clock, routing=routing)
    clock.advance(seconds=60)
    drive(tree, clock, routing=routing)
    assert states(tree, mob)["L1"] in ("escalated", "unreachable")


def test_resend_silent_and_summary(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01", mode="broadcast", exercise=True)
    sent = drive(tree, clock)
    assert all("演练" in m.text for m in sent)
    clock.advance(seconds=90)
    record_answer(tree, clock, OPERATOR, yes=True, via="cli", code=code_of(tree, mob, "M1"))
    clock.advance(seconds=30)
    record_answer(tree, clock, OPERATOR, yes=False, via="cli", code=code_of(tree, mob, "M2"))
    assert resend_silent(tree, clock, OPERATOR, mob) == 2
    again = drive(tree, clock)
    assert sorted(m.name for m in again) == ["L1", "V1"]
    s = summary(tree, mob, clock.now())
    assert (s.total.notified, s.total.yes, s.total.no, s.total.silent) == (4, 1, 1, 2)
    assert s.by_level[0].total == 1 and s.by_group["G01"].total == 4
    assert s.p50_s == 105.0 and s.p90_s == pytest.approx(117.0)
    assert [p.name for p in s.silent] == ["L1", "V1"]
    assert sum(s.answers_by_minute) == 2
    assert s.mobilization.exercise


def test_bad_requests_change_nothing(tree: Database, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="grid:NOPE has no node"):
        start(tree, clock, "grid:NOPE")
    with pytest.raises(InvalidInput, match="message"):
        start_mobilization(tree, clock, OPERATOR, targets=[Target.parse("grid:G01")], message=" ")
    with pytest.raises(InvalidInput, match="not grid:CODE"):
        Target.parse("street:X")
    with pytest.raises(NotFound, match="incident 99"):
        start(tree, clock, "grid:G01", incident_id=99)
    assert tree.conn.execute("SELECT count(*) FROM mobilizations").fetchone()[0] == 0


def test_a_crash_between_claim_and_record_resends_with_the_same_key(
    tree: Database, clock: FixedClock
) -> None:
    start(tree, clock, "grid:G01", mode="broadcast")
    process_due(tree, clock)
    claimed, _ = claim_pending(tree, clock, LOG, claimer="engine-1")
    assert claim_pending(tree, clock, LOG, claimer="engine-1") == ([], [])  # in flight
    # The process dies here: nothing recorded. The next engine clears the dead one's claims
    # when it takes over, and claims the same attempts again: same ids, same texts.
    assert release_claims(tree) == len(claimed)
    again, _ = claim_pending(tree, clock, LOG, claimer="engine-2")
    assert [(m.attempt_id, m.text) for m in again] == [(m.attempt_id, m.text) for m in claimed]
    record_deliveries(tree, clock, [Delivery(m.attempt_id, True) for m in again], LOG)
    assert claim_pending(tree, clock, LOG) == ([], [])


def test_two_mobilizations_due_together_still_respect_the_interval(
    tree: Database, clock: FixedClock
) -> None:
    start(tree, clock, "team:T-RESCUE")  # M1 leads the team
    start(tree, clock, "node:grid-G01-members", mode="broadcast")  # M1 again, same moment
    process_due(tree, clock)
    slots = sorted(
        r[0]
        for r in tree.conn.execute(
            "SELECT a.not_before FROM attempts a JOIN recipients r ON r.id = a.recipient_id"
            " JOIN people p ON p.id = r.person_id WHERE p.key = 'M1'"
        )
    )
    assert len(slots) == 2
    assert (from_iso(slots[1]) - from_iso(slots[0])).total_seconds() == 60


def test_totals_agree_with_the_summary(tree: Database, clock: FixedClock) -> None:
    mob = start(tree, clock, "grid:G01", mode="broadcast")
    drive(tree, clock)
    record_answer(tree, clock, OPERATOR, yes=True, via="cli", code=code_of(tree, mob, "M1"))
    record_answer(tree, clock, OPERATOR, yes=False, via="cli", code=code_of(tree, mob, "M2"))
    assert totals(tree, mob) == summary(tree, mob, clock.now()).total


def test_a_target_inside_another_targets_subtree_is_reached_through_it(
    tree: Database, clock: FixedClock
) -> None:
    mob = start(tree, clock, "grid:G01", "node:com-330106001001")
    levels = {n.code: n.level for n in node_states(tree, mob)}
    assert levels["com-330106001001"] == 0 and levels["grid-G01"] == 1
    assert [m.name for m in drive(tree, clock)] == ["SEC"]  # cascade from the community
