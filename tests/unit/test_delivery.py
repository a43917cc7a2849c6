"""Delivery: routes, claims that survive a crash, outcomes recorded, one message per interval.

The engine is driven by hand; what the real engine does after ``kill -9`` (release the dead
one's claims, send the same attempts again) is done here step by step.
"""

from __future__ import annotations

from datetime import timedelta

from sqlite_utils import Database

from mobilization import (
    Delivery,
    Routing,
    attempts_of,
    claim_pending,
    next_due,
    process_due,
    recipient_rows,
    record_answer,
    record_deliveries,
    release_attempts,
    release_claims,
)
from mobilization.channels import NOT_SENT
from mobilization.delivery import reserve
from store.clock import FixedClock, from_iso, to_iso
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import LOG, drive, names, start, states


def slots_of(db: Database, key: str) -> list[str]:
    """When each attempt for the person ``key`` may go, in order."""
    return sorted(
        r[0]
        for r in db.conn.execute(
            "SELECT a.not_before FROM attempts a JOIN recipients r ON r.id = a.recipient_id"
            " JOIN people p ON p.id = r.person_id WHERE p.key = ?",
            (key,),
        )
    )


def test_a_person_is_sent_at_most_one_message_per_interval(
    town_tree: Database, clock: FixedClock
) -> None:
    start(town_tree, clock, "grid:G01", mode="broadcast")
    first = drive(town_tree, clock)
    start(town_tree, clock, "team:T-RESCUE", mode="broadcast", interval_s=120)
    assert drive(town_tree, clock) == []  # M1 and V1 were just called
    clock.advance(seconds=119)
    assert drive(town_tree, clock) == []
    clock.advance(seconds=1)
    assert names(drive(town_tree, clock)) == ["M1", "V1"]
    assert {m.name for m in first} >= {"M1", "V1"}


def test_two_mobilizations_due_together_still_respect_the_interval(
    town_tree: Database, clock: FixedClock
) -> None:
    start(town_tree, clock, "team:T-RESCUE")  # M1 leads the team
    start(town_tree, clock, "node:grid-G01-members", mode="broadcast")  # M1 again, same moment
    process_due(town_tree, clock)
    slots = slots_of(town_tree, "M1")
    assert len(slots) == 2
    assert (from_iso(slots[1]) - from_iso(slots[0])).total_seconds() == 60


def test_the_interval_pushes_not_before_back_and_lapses(
    town_tree: Database, clock: FixedClock
) -> None:
    person = town_tree.conn.execute("SELECT id FROM people WHERE key = 'M1'").fetchone()[0]
    now = clock.now()
    assert reserve(town_tree, now, [(person, 60), (person, 60)]) == [
        to_iso(now),
        to_iso(now + timedelta(seconds=60)),
    ]
    # The second slot is booked: a third message waits a further interval.
    assert reserve(town_tree, now, [(person, 60)]) == [to_iso(now + timedelta(seconds=120))]
    later = now + timedelta(minutes=10)
    assert reserve(town_tree, later, [(person, 60)]) == [to_iso(later)]  # long past: at once
    assert reserve(town_tree, later, [(person, 0)]) == [to_iso(later)]  # no interval: at once


def test_a_pushed_back_call_out_is_claimed_only_when_its_time_comes(
    town_tree: Database, clock: FixedClock
) -> None:
    start(town_tree, clock, "grid:G01", mode="broadcast")
    drive(town_tree, clock)
    mob = start(town_tree, clock, "team:T-RESCUE", mode="broadcast", interval_s=90)
    process_due(town_tree, clock)
    assert claim_pending(town_tree, clock, LOG) == ([], [])
    # The new mobilization's interval counts from the last message M1 and V1 were sent.
    assert next_due(town_tree) == clock.now() + timedelta(seconds=90)
    assert states(town_tree, mob) == {"M1": "queued", "V1": "queued"}
    clock.advance(seconds=89)
    assert claim_pending(town_tree, clock, LOG) == ([], [])
    clock.advance(seconds=1)
    out, _failed = claim_pending(town_tree, clock, LOG)
    assert sorted(m.name for m in out) == ["M1", "V1"]


def test_failed_channel_falls_back_and_a_failed_round_is_retried(
    town_tree: Database, clock: FixedClock
) -> None:
    town_tree.conn.execute("UPDATE people SET email = 'l1@example.com' WHERE key = 'L1'")
    routing = Routing(configured=frozenset({"sms", "email"}))
    mob = start(town_tree, clock, "grid:G01")
    sent = drive(town_tree, clock, fail=frozenset({"+8613800138004"}), routing=routing)
    assert [(m.channel, m.address) for m in sent] == [("email", "l1@example.com")]
    rows = attempts_of(town_tree, recipient_rows(town_tree, mob)[0]["id"])
    assert [(a["channel"], a["state"]) for a in rows] == [("sms", "failed"), ("email", "sent")]
    assert rows[0]["error"] == "rejected"


def test_every_channel_failing_retries_the_round_after_a_minute(
    town_tree: Database, clock: FixedClock
) -> None:
    routing = Routing(configured=frozenset({"sms"}))
    mob = start(town_tree, clock, "grid:G01")
    assert drive(town_tree, clock, fail=frozenset({"+8613800138004"}), routing=routing) == []
    [row] = recipient_rows(town_tree, mob)
    assert row["state"] == "queued" and row["error"] == "rejected" and row["sends"] == 1
    assert next_due(town_tree) == clock.now() + timedelta(seconds=60)
    clock.advance(seconds=60)
    assert [m.name for m in drive(town_tree, clock, routing=routing)] == ["L1"]
    assert states(town_tree, mob) == {"L1": "sent"}


def test_nobody_reachable_on_configured_channels_escalates(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    routing = Routing(configured=frozenset({"webhook"}))
    drive(town_tree, clock, routing=routing)
    row = recipient_rows(town_tree, mob)[0]
    assert row["error"] == "no configured channel reaches this person"
    assert row["state"] == "queued"
    clock.advance(seconds=60)
    drive(town_tree, clock, routing=routing)
    clock.advance(seconds=60)
    drive(town_tree, clock, routing=routing)
    assert states(town_tree, mob)["L1"] in ("escalated", "unreachable")


def test_a_crash_between_claim_and_record_resends_with_the_same_key(
    town_tree: Database, clock: FixedClock
) -> None:
    start(town_tree, clock, "grid:G01", mode="broadcast")
    process_due(town_tree, clock)
    claimed, _ = claim_pending(town_tree, clock, LOG, claimer="engine-1")
    assert claim_pending(town_tree, clock, LOG, claimer="engine-1") == ([], [])  # in flight
    # The process dies here: nothing recorded. The next engine clears the dead one's claims
    # when it takes over, and claims the same attempts again: same ids, same texts.
    assert release_claims(town_tree) == len(claimed)
    again, _ = claim_pending(town_tree, clock, LOG, claimer="engine-2")
    assert [(m.attempt_id, m.text) for m in again] == [(m.attempt_id, m.text) for m in claimed]
    record_deliveries(town_tree, clock, [Delivery(m.attempt_id, True) for m in again], LOG)
    assert claim_pending(town_tree, clock, LOG) == ([], [])
    assert set(states(town_tree, 1).values()) == {"sent"}


def test_released_claims_are_only_the_named_engines_or_the_given_attempts(
    town_tree: Database, clock: FixedClock
) -> None:
    start(town_tree, clock, "grid:G01", mode="broadcast")
    process_due(town_tree, clock)
    first, _ = claim_pending(town_tree, clock, LOG, limit=2, claimer="engine-1")
    second, _ = claim_pending(town_tree, clock, LOG, limit=2, claimer="engine-2")
    assert len(first) == len(second) == 2
    assert release_claims(town_tree, "engine-2") == 2
    again, _ = claim_pending(town_tree, clock, LOG, claimer="engine-3")
    assert {m.attempt_id for m in again} == {m.attempt_id for m in second}
    release_attempts(town_tree, [first[0].attempt_id])
    last, _ = claim_pending(town_tree, clock, LOG, claimer="engine-4")
    assert [m.attempt_id for m in last] == [first[0].attempt_id]
    # A recorded attempt is no longer pending: releasing it does nothing.
    record_deliveries(town_tree, clock, [Delivery(m.attempt_id, True) for m in last], LOG)
    release_attempts(town_tree, [first[0].attempt_id])
    assert claim_pending(town_tree, clock, LOG) == ([], [])


def test_a_call_out_delivered_after_a_stand_down_is_followed_by_the_stand_down(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast", need=1, interval_s=0)
    process_due(town_tree, clock)
    out, _ = claim_pending(town_tree, clock, LOG)
    by_name = {m.name: m for m in out}
    # L1 answers (told on the phone) while the call-outs are still in flight.
    record_deliveries(town_tree, clock, [Delivery(by_name["L1"].attempt_id, True)], LOG)
    code = next(r["code"] for r in recipient_rows(town_tree, mob) if r["key"] == "L1")
    record_answer(town_tree, clock, OPERATOR, yes=True, via="console", code=code)
    assert states(town_tree, mob)["M1"] == "stood_down"
    # M1's call-out arrives after all: they are told to stand down as well.
    record_deliveries(town_tree, clock, [Delivery(by_name["M1"].attempt_id, True)], LOG)
    sent = drive(town_tree, clock)
    assert [(m.name, m.kind) for m in sent] == [("M1", "stand_down")]


def test_a_local_failure_holds_the_message_back_without_charging_anyone(
    town_tree: Database, clock: FixedClock
) -> None:
    """Before: a send that failed because this machine was out of file descriptors counted
    as a failed try of the route and, round after round, made the person unreachable. Now it
    stays pending on the same route, goes again after the back-off, and nobody is charged."""
    routing = Routing(configured=frozenset({"sms"}))
    mob = start(town_tree, clock, "grid:G01", mode="broadcast")
    process_due(town_tree, clock)
    for _ in range(5):  # five rounds of EMFILE, each a minute apart: never unreachable
        out, failed = claim_pending(town_tree, clock, routing)
        assert out and not failed
        error = "gateway: local error EMFILE"
        held = [Delivery(m.attempt_id, False, error, local=True) for m in out]
        record_deliveries(town_tree, clock, held, routing, local_retry_s=30)
        assert claim_pending(town_tree, clock, routing) == ([], [])  # backing off
        assert next_due(town_tree) == clock.now() + timedelta(seconds=30)
        clock.advance(seconds=60)
        process_due(town_tree, clock)
    rows = recipient_rows(town_tree, mob)
    assert {r["state"] for r in rows} == {"queued"}
    assert {r["sends"] for r in rows} == {0} and {r["error"] for r in rows} == {None}
    # The resource is back: the same attempts, same route and text, go out, once each.
    again, _ = claim_pending(town_tree, clock, routing)
    assert sorted(m.attempt_id for m in again) == sorted(m.attempt_id for m in out)
    assert [(m.channel, m.address, m.text) for m in again] == [
        (m.channel, m.address, m.text) for m in out
    ]
    record_deliveries(town_tree, clock, [Delivery(m.attempt_id, True) for m in again], routing)
    assert set(states(town_tree, mob).values()) == {"sent"}
    first = attempts_of(town_tree, rows[0]["id"])
    assert [a["state"] for a in first] == ["sent"]  # one attempt: no failed try recorded


def test_a_message_never_tried_before_a_stop_goes_again_at_once(
    town_tree: Database, clock: FixedClock
) -> None:
    start(town_tree, clock, "grid:G01", mode="broadcast")
    process_due(town_tree, clock)
    out, _ = claim_pending(town_tree, clock, LOG, claimer="engine-1")
    unsent = [Delivery(m.attempt_id, False, NOT_SENT, local=True) for m in out]
    record_deliveries(town_tree, clock, unsent, LOG)
    again, _ = claim_pending(town_tree, clock, LOG, claimer="engine-2")
    assert sorted(m.attempt_id for m in again) == sorted(m.attempt_id for m in out)
