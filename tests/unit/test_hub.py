"""The hub's domain (:mod:`uplink.hub`): tokens, idempotent in-order ingestion, the read model.

The hub is the ``db`` fixture; a township, where real case payloads come from, is a second
in-memory database projected through :mod:`uplink.outbox`. Hand-built events (with payloads of
the same shape) cover the orders and faults a real township would rarely produce.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from incidents import workflow
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from store.clock import FixedClock, to_iso
from store.db import connect, write
from store.errors import InvalidInput, NotFound, PermissionDenied
from tests.support.domain import OPERATOR, START, case_json
from uplink import hub
from uplink.hub import Unauthorized
from uplink.models import Batch, EventResult, Kind, Result, UplinkEvent
from uplink.outbox import Projection, mark_sent, project, sendable

UNIT = "T1"
HEAD = {
    "last_id": 42,
    "last_hash": "ab" * 32,
    "count": 42,
    "at": "2026-11-26T01:59:00Z",
    "kid": "k1",
    "mac": "cd" * 32,
}


def new_id() -> str:
    return uuid.uuid4().hex


def event(
    subject: str,
    seq: int,
    kind: Kind = Kind.CASE_UPDATED,
    payload: dict[str, Any] | None = None,
    *,
    event_id: str | None = None,
    unit: str = UNIT,
    at: str = "2026-11-26T01:00:00Z",
) -> UplinkEvent:
    if payload is None:
        payload = {"change": {"kind": "edit"}, "case": case_json(subject.partition(":")[2])}
    return UplinkEvent(event_id or new_id(), unit, subject, seq, kind, at, payload)


def case_event(number: str, seq: int, *, event_id: str | None = None, **fields: Any) -> UplinkEvent:
    payload = {"change": {"kind": "edit"}, "case": case_json(number, **fields)}
    return event(f"case:{number}", seq, payload=payload, event_id=event_id)


def mobilization_event(ref: int, seq: int, *, state: str = "active", **counts: int) -> UplinkEvent:
    payload = {
        "mobilization": ref,
        "case": None,
        "state": state,
        "exercise": False,
        "created_at": "2026-11-26T01:00:00Z",
        "counts": {"total": 10, "yes": 0, "no": 0, "silent": 0, "unreachable": 0, **counts},
    }
    return event(f"mobilization:{ref}", seq, Kind.MOBILIZATION_SUMMARY, payload)


def send(
    db: Database, clock: FixedClock, *events: UplinkEvent, key: str | None = None
) -> list[Result]:
    batch = Batch(UNIT, tuple(events))
    body = json.dumps(batch.to_json(), sort_keys=True).encode()
    results = hub.ingest(
        db,
        UNIT,
        batch,
        clock.now(),
        key=key or new_id(),
        body_hash=hashlib.sha256(body).hexdigest(),
    )
    assert [r.id for r in results] == [e.id for e in events]
    return [r.result for r in results]


def states(db: Database, subject: str) -> list[tuple[int, str]]:
    rows = db.conn.execute(
        "SELECT seq, state FROM hub_events WHERE subject = ? ORDER BY seq", (subject,)
    )
    return [(int(seq), state) for seq, state in rows]


def stored(db: Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM hub_events").fetchone()[0])


@pytest.fixture
def unit(db: Database, clock: FixedClock) -> str:
    """Unit T1 registered at the hub; returns its token."""
    _unit, token = hub.add_unit(db, clock.now(), UNIT, "城关镇", operator=OPERATOR)
    return token


@pytest.fixture
def township() -> Iterator[Database]:
    town = connect()
    yield town
    town.close()


def township_events(town: Database, clock: FixedClock) -> list[UplinkEvent]:
    """The township's events not yet taken, projected from its timeline (marked sent)."""
    project(town, Projection(unit=UNIT), clock.now())
    out = sendable(town, UNIT, 10_000)
    with write(town):
        mark_sent(town, [(o.row, "accepted") for o in out], clock.now())
    return [o.event for o in out]


# --- tokens -----------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_kept(
    db: Database, clock: FixedClock, unit: str
) -> None:
    assert unit.startswith("ddh_") and len(unit) == 4 + 43
    row = db.conn.execute("SELECT * FROM hub_units WHERE code = ?", (UNIT,)).fetchone()
    assert unit not in [str(v) for v in row]
    assert hashlib.sha256(unit.encode()).hexdigest() in row
    audit = db.conn.execute("SELECT kind, data FROM events WHERE kind LIKE 'hub_%'").fetchall()
    assert audit == [("hub_unit_added", json.dumps({"unit": UNIT}, separators=(",", ":")))]
    clock.advance(minutes=5)
    found = hub.authenticate(db, unit, clock.now())
    assert found.code == UNIT and found.last_contact_at == clock.now()
    assert hub.get_unit(db, UNIT).last_contact_at == clock.now()
    assert [u.code for u in hub.list_units(db)] == [UNIT]


def test_a_code_is_registered_once_and_must_be_well_formed(
    db: Database, clock: FixedClock, unit: str
) -> None:
    with pytest.raises(InvalidInput, match="already registered") as again:
        hub.add_unit(db, clock.now(), UNIT, "another")
    assert again.value.field == "code"
    with pytest.raises(InvalidInput) as bad:
        hub.add_unit(db, clock.now(), "bad code/", "x")
    assert bad.value.field == "code"
    with pytest.raises(InvalidInput) as empty:
        hub.add_unit(db, clock.now(), "T2", "  ")
    assert empty.value.field == "name"
    assert len(hub.list_units(db)) == 1


def test_a_revoked_token_is_refused_as_revoked_and_a_stranger_as_unknown(
    db: Database, clock: FixedClock, unit: str
) -> None:
    with pytest.raises(Unauthorized) as unknown:
        hub.authenticate(db, "ddh_" + "x" * 43, clock.now())
    assert unknown.value.reason == "unknown token"
    revoked = hub.revoke_unit(db, clock.now(), UNIT)
    assert revoked.revoked_at == clock.now()
    with pytest.raises(Unauthorized) as refused:
        hub.authenticate(db, unit, clock.now())
    assert refused.value.reason == "token revoked"
    assert hub.get_unit(db, UNIT).last_contact_at is None  # a refused request is no contact
    with pytest.raises(NotFound):
        hub.revoke_unit(db, clock.now(), "nobody")


def test_rotation_stops_the_old_token_at_once_and_revives_a_revoked_unit(
    db: Database, clock: FixedClock, unit: str
) -> None:
    hub.revoke_unit(db, clock.now(), UNIT)
    clock.advance(hours=1)
    rotated, token = hub.rotate_token(db, clock.now(), UNIT)
    assert token != unit and rotated.rotated_at == clock.now() and rotated.revoked_at is None
    with pytest.raises(Unauthorized) as old:
        hub.authenticate(db, unit, clock.now())
    assert old.value.reason == "unknown token"
    assert hub.authenticate(db, token, clock.now()).code == UNIT
    kinds = [k for (k,) in db.conn.execute("SELECT kind FROM events WHERE kind LIKE 'hub_%'")]
    assert kinds == ["hub_unit_added", "hub_unit_revoked", "hub_unit_rotated"]


# --- ingestion --------------------------------------------------------------------------------


def test_a_townships_cases_are_accepted_once_and_make_the_read_model(
    db: Database, clock: FixedClock, policy: Policy, unit: str, township: Database
) -> None:
    fire = create_incident(
        township,
        clock,
        policy,
        OPERATOR,
        NewIncident(title="3号楼火灾", category="accident-disaster", type="fire", severity="II"),
    )
    clock.advance(minutes=3)
    workflow.register(township, clock, policy, OPERATOR, fire.id)
    events = township_events(township, clock)
    assert [e.kind for e in events] == [Kind.CASE_REPORTED, Kind.CASE_STAGE]
    assert send(db, clock, *events) == [Result.ACCEPTED, Result.ACCEPTED]
    [case] = hub.cases(db, clock.now())
    assert (case.unit, case.number, case.title, case.severity) == (
        UNIT,
        fire.number,
        "3号楼火灾",
        "II",
    )
    assert (case.stage, case.active, case.seq, case.lost) == ("registered", True, 2, False)
    assert case.deadline is not None and case.last_change_at == clock.now()
    assert case.data["number"] == fire.number and "reporter" not in case.data
    assert hub.get_unit(db, UNIT).last_contact_at == clock.now()

    before = stored(db)
    assert send(db, clock, *events) == [Result.DUPLICATE, Result.DUPLICATE]
    assert stored(db) == before
    timeline = hub.case_timeline(db, UNIT, fire.number)
    assert [(e.seq, e.kind, e.state) for e in timeline] == [
        (1, "case_reported", "applied"),
        (2, "case_stage", "applied"),
    ]


def test_an_event_ahead_of_a_gap_is_held_then_applied_in_order(
    db: Database, clock: FixedClock, unit: str
) -> None:
    first, second, third = (case_event("A-1", n, stage=f"s{n}") for n in (1, 2, 3))
    assert send(db, clock, third) == [Result.HELD]
    assert send(db, clock, second) == [Result.HELD]
    assert hub.cases(db, clock.now()) == []  # nothing applied out of order
    assert states(db, "case:A-1") == [(2, "held"), (3, "held")]
    assert send(db, clock, first) == [Result.ACCEPTED]
    assert states(db, "case:A-1") == [(1, "applied"), (2, "applied"), (3, "applied")]
    [case] = hub.cases(db, clock.now())
    assert (case.stage, case.seq) == ("s3", 3)
    [subject] = hub.unit_state(db, UNIT).subjects
    assert (subject.seq, subject.id, subject.held) == (3, third.id, 0)


def test_held_events_of_one_batch_are_applied_when_the_batch_fills_the_gap(
    db: Database, clock: FixedClock, unit: str
) -> None:
    events = [case_event("A-1", n, stage=f"s{n}") for n in (1, 2, 3)]
    assert send(db, clock, events[2], events[0], events[1]) == [
        Result.HELD,
        Result.ACCEPTED,
        Result.ACCEPTED,
    ]
    assert states(db, "case:A-1") == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert hub.cases(db, clock.now())[0].stage == "s3"


def test_a_seq_taken_by_another_event_is_a_conflict_and_not_stored(
    db: Database, clock: FixedClock, unit: str
) -> None:
    send(db, clock, case_event("A-1", 1), case_event("A-1", 3))
    before = stored(db)
    taken, held = case_event("A-1", 1, stage="other"), case_event("A-1", 3, stage="other")
    results = hub.ingest(
        db, UNIT, Batch(UNIT, (taken, held)), clock.now(), key=new_id(), body_hash="h"
    )
    assert [r.result for r in results] == [Result.CONFLICT, Result.CONFLICT]
    assert results[0].reason is not None and "case:A-1 seq 1" in results[0].reason
    assert "applied up to 1" in results[0].reason
    assert results[1].reason is not None and "held" in results[1].reason
    assert stored(db) == before
    assert hub.cases(db, clock.now())[0].stage == "reported"


def test_refused_events_are_stored_nowhere_and_block_nothing_else(
    db: Database, clock: FixedClock, unit: str
) -> None:
    no_case = event("case:A-1", 1, payload={"change": {"kind": "edit"}})
    big = case_event("B-1", 1, title="x" * 70_000)
    wrong_subject = event("mobilization:7", 1, Kind.CASE_UPDATED)
    bad_head = event("unit", 1, Kind.AUDIT_HEAD, {"last_id": "many"})
    fine = case_event("C-1", 1)
    results = hub.ingest(
        db,
        UNIT,
        Batch(UNIT, (no_case, big, wrong_subject, bad_head, fine)),
        clock.now(),
        key=new_id(),
        body_hash="h",
    )
    assert [r.result for r in results] == [Result.REJECTED] * 4 + [Result.ACCEPTED]
    reasons = [r.reason or "" for r in results[:4]]
    assert "payload.case" in reasons[0]
    assert "bytes" in reasons[1]
    assert "case_updated" in reasons[2] and "mobilization:7" in reasons[2]
    assert "audit head" in reasons[3]
    assert stored(db) == 1
    # the rejected seq 1 never arrived: the next event of that case waits for it
    assert send(db, clock, case_event("A-1", 2)) == [Result.HELD]


def test_a_batch_of_another_unit_is_refused_whole(
    db: Database, clock: FixedClock, unit: str
) -> None:
    batch = Batch("T2", (event("case:A-1", 1, unit="T2"),))
    with pytest.raises(PermissionDenied):
        hub.ingest(db, UNIT, batch, clock.now(), key=new_id(), body_hash="h")
    assert stored(db) == 0


def test_a_resync_supersedes_what_the_restored_unit_lost_and_takes_its_case(
    db: Database, clock: FixedClock, unit: str
) -> None:
    send(db, clock, *(case_event("A-1", n, stage=f"s{n}") for n in (1, 2, 3, 4)))
    resync = event("case:A-1", 5, Kind.RESYNC, {"known": 2, "case": case_json("A-1", stage="s2")})
    assert send(db, clock, resync) == [Result.ACCEPTED]
    assert states(db, "case:A-1") == [
        (1, "applied"),
        (2, "applied"),
        (3, "superseded"),
        (4, "superseded"),
        (5, "applied"),
    ]
    [case] = hub.cases(db, clock.now())
    assert (case.stage, case.seq, case.lost) == ("s2", 5, False)
    # a unit restored from a backup older than the case has no case at all
    gone = event("case:A-1", 6, Kind.RESYNC, {"known": 0, "case": None})
    clock.advance(minutes=1)
    assert send(db, clock, gone) == [Result.ACCEPTED]
    [lost] = hub.cases(db, clock.now())
    assert (lost.lost, lost.seq, lost.stage) == (True, 6, "s2")
    assert [s for _seq, s in states(db, "case:A-1")] == ["superseded"] * 5 + ["applied"]


def test_a_resync_within_one_batch_supersedes_the_events_before_it(
    db: Database, clock: FixedClock, unit: str
) -> None:
    events = [case_event("A-1", n, stage=f"s{n}") for n in (1, 2, 3)]
    resync = event("case:A-1", 4, Kind.RESYNC, {"known": 1, "case": None})
    send(db, clock, *events, resync)
    assert states(db, "case:A-1") == [
        (1, "applied"),
        (2, "superseded"),
        (3, "superseded"),
        (4, "applied"),
    ]
    [case] = hub.cases(db, clock.now())
    assert (case.lost, case.stage, case.seq) == (True, "s3", 4)


def test_the_same_key_replays_the_answer_and_another_body_is_refused(
    db: Database, clock: FixedClock, unit: str
) -> None:
    events = (case_event("A-1", 2), case_event("B-1", 1))
    batch = Batch(UNIT, events)
    first = hub.ingest(db, UNIT, batch, clock.now(), key="key-0001", body_hash="same")
    assert [r.result for r in first] == [Result.HELD, Result.ACCEPTED]
    assert hub.replayed(db, UNIT, "key-0001", "same", clock.now()) == first
    again = hub.ingest(db, UNIT, batch, clock.now(), key="key-0001", body_hash="same")
    assert again == first  # the stored answer, not "duplicate"
    assert hub.replayed(db, UNIT, "another", "same", clock.now()) is None
    with pytest.raises(InvalidInput, match="different body") as reused:
        hub.replayed(db, UNIT, "key-0001", "other", clock.now())
    assert reused.value.field == "Idempotency-Key"
    with pytest.raises(InvalidInput):
        hub.ingest(db, UNIT, batch, clock.now(), key="key-0001", body_hash="other")
    with pytest.raises(InvalidInput):
        hub.ingest(db, UNIT, batch, clock.now(), key="short", body_hash="same")
    # a day later the key is forgotten; the next batch prunes the old answer
    clock.advance(hours=24, seconds=1)
    assert hub.replayed(db, UNIT, "key-0001", "other", clock.now()) is None
    send(db, clock, case_event("C-1", 1))
    keys = [k for (k,) in db.conn.execute("SELECT key FROM hub_batches")]
    assert "key-0001" not in keys and len(keys) == 1


def test_overdue_is_the_snapshot_or_a_deadline_passed_since(
    db: Database, clock: FixedClock, unit: str
) -> None:
    soon = to_iso(clock.now() + timedelta(hours=1))
    send(
        db,
        clock,
        case_event("A-1", 1, deadline=soon),
        case_event("B-1", 1, overdue=True, supervised=True, severity="I"),
        case_event("C-1", 1, deadline=soon, parked=True),
        case_event("D-1", 1, deadline=soon, active=False, stage="closed"),
    )
    assert [c.number for c in hub.cases(db, clock.now(), overdue_only=True)] == ["B-1"]
    later = clock.now() + timedelta(hours=2)
    assert [c.number for c in hub.cases(db, later, overdue_only=True)] == ["B-1", "A-1"]
    flags = {c.number: c.overdue for c in hub.cases(db, later, open_only=False)}
    assert flags == {"A-1": True, "B-1": True, "C-1": False, "D-1": False}
    assert [c.number for c in hub.cases(db, later)] == ["B-1", "A-1", "C-1"]
    with pytest.raises(NotFound):
        hub.cases(db, later, unit="nobody")
    [view] = hub.overview(db, later, timedelta(minutes=30))
    assert (view.open_cases, view.overdue, view.supervised) == (3, 2, 1)
    assert view.by_severity == {"I": 1, "II": 0, "III": 0, "IV": 2}


def test_mobilizations_and_heads_and_rollups_feed_the_read_model(
    db: Database, clock: FixedClock, unit: str
) -> None:
    rollup = {"unit": "T1-a", "name": "社区", "open": 3}
    send(
        db,
        clock,
        mobilization_event(7, 1, yes=6, no=1),
        mobilization_event(8, 1, state="completed", yes=10),
        event("unit", 1, Kind.AUDIT_HEAD, HEAD),
        event("unit", 2, Kind.HANDOVER, {"kind": "handover", "operator": "王伟"}),
        event("rollup:T1-a", 1, Kind.ROLLUP, rollup),
    )
    [active] = hub.mobilizations(db)
    assert (active.ref, active.state, active.yes, active.answered_pct) == ("7", "active", 6, 70.0)
    assert len(hub.mobilizations(db, unit=UNIT, active_only=False)) == 2
    assert hub.witness(db, UNIT) == HEAD
    [child] = hub.rollups(db)
    assert (child.unit, child.child, child.data) == (UNIT, "T1-a", rollup)
    [view] = hub.overview(db, clock.now(), timedelta(minutes=30))
    assert (view.active_mobilizations, view.children, view.last_head) == (1, 1, HEAD)
    assert hub.unit_state(db, UNIT).head == HEAD


def test_a_unit_without_a_signed_head_has_no_witness(
    db: Database, clock: FixedClock, unit: str
) -> None:
    assert hub.witness(db, UNIT) is None
    with pytest.raises(NotFound):
        hub.witness(db, "nobody")


def test_unit_state_pages_through_the_subjects_in_order(
    db: Database, clock: FixedClock, unit: str
) -> None:
    send(db, clock, *(case_event(f"A-{n}", 1) for n in range(5)), case_event("A-0", 3))
    first = hub.unit_state(db, UNIT, limit=2)
    assert [s.subject for s in first.subjects] == ["case:A-0", "case:A-1"]
    assert first.subjects[0].held == 1 and first.next == "case:A-1"
    second = hub.unit_state(db, UNIT, after=first.next, limit=2)
    assert [s.subject for s in second.subjects] == ["case:A-2", "case:A-3"]
    last = hub.unit_state(db, UNIT, after=second.next, limit=2)
    assert [s.subject for s in last.subjects] == ["case:A-4"] and last.next is None
    data = last.to_json()
    assert data["unit"] == UNIT and data["subjects"][0]["seq"] == 1 and data["head"] is None
    with pytest.raises(InvalidInput):
        hub.unit_state(db, UNIT, limit=0)
    with pytest.raises(NotFound):
        hub.unit_state(db, "nobody")


def test_rollups_are_due_after_a_change_at_most_once_per_interval(
    db: Database, clock: FixedClock, unit: str
) -> None:
    every = timedelta(seconds=60)
    assert hub.rollups_due(db, clock.now(), every) == []  # nothing received yet
    send(db, clock, case_event("A-1", 1, severity="II"))
    [(subject, kind, at, payload)] = hub.rollups_due(db, clock.now(), every)
    assert (subject, kind, at) == ("rollup:T1", Kind.ROLLUP, to_iso(clock.now()))
    assert payload["unit"] == UNIT and payload["open"] == 1
    assert payload["by_severity"] == {"I": 0, "II": 1, "III": 0, "IV": 0}
    assert hub.rollups_due(db, clock.now(), every) == []  # nothing new
    clock.advance(seconds=10)
    send(db, clock, case_event("B-1", 1))
    assert hub.rollups_due(db, clock.now(), every) == []  # throttled
    clock.advance(seconds=50)
    [(_s, _k, _at, again)] = hub.rollups_due(db, clock.now(), every)
    assert again["open"] == 2
    clock.advance(minutes=5)
    send(db, clock, case_event("A-1", 1))  # a duplicate changes nothing
    assert hub.rollups_due(db, clock.now(), every) == []


def test_the_overview_flags_a_unit_silent_for_too_long(
    db: Database, clock: FixedClock, unit: str
) -> None:
    silent = timedelta(minutes=30)
    hub.add_unit(db, clock.now(), "T2", "东街道")
    [t1, t2] = hub.overview(db, clock.now(), silent)
    assert (t1.silent, t2.silent) == (False, False)  # just registered
    clock.advance(minutes=31)
    hub.authenticate(db, unit, clock.now())
    [t1, t2] = hub.overview(db, clock.now(), silent)
    assert (t1.silent, t2.silent) == (False, True)
    assert t2.to_json()["silent"] is True and t1.to_json()["last_contact_at"] == to_iso(clock.now())
    hub.revoke_unit(db, clock.now(), "T2")
    assert hub.overview(db, clock.now(), silent)[1].silent is False  # revoked: expected silence


def test_the_timeline_of_an_unknown_case_or_unit_is_not_found(
    db: Database, clock: FixedClock, unit: str
) -> None:
    with pytest.raises(NotFound, match="A-9"):
        hub.case_timeline(db, UNIT, "A-9")
    with pytest.raises(NotFound, match="nobody"):
        hub.case_timeline(db, "nobody", "A-9")


def test_results_round_trip_through_their_json() -> None:
    result = EventResult("abcdefgh", Result.CONFLICT, "why")
    assert EventResult.from_json(result.to_json()) == result


# --- property: any order, any repeats, any batching ---------------------------------------------


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[int, list[list[int]]]:
    """(events of the subject, batches of indexes into them): every event at least once."""
    count = draw(st.integers(1, 8))
    order = draw(st.permutations(range(count)))
    repeats = draw(st.lists(st.integers(0, count - 1), max_size=6))
    sends = list(order)
    for index in repeats:
        sends.insert(draw(st.integers(0, len(sends))), index)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(sends) - 1)), max_size=len(sends))))
    batches = [sends[a:b] for a, b in zip([0, *cuts], [*cuts, len(sends)], strict=True)]
    return count, [b for b in batches if b]


@settings(max_examples=60)
@given(deliveries())
def test_any_delivery_order_ends_with_every_event_applied_in_seq_order(
    delivery: tuple[int, list[list[int]]],
) -> None:
    count, batches = delivery
    clock = FixedClock(START)
    db = connect()
    try:
        hub.add_unit(db, clock.now(), UNIT, "城关镇")
        events = [case_event("A-1", n + 1, stage=f"s{n + 1}") for n in range(count)]
        applied: list[int] = []
        original = hub._Ingest._apply

        def spy(self: Any, subject: Any, e: UplinkEvent) -> None:
            applied.append(e.seq)
            original(self, subject, e)

        seen: set[int] = set()
        with mock.patch.object(hub._Ingest, "_apply", spy):
            for indexes in batches:
                unique = list(dict.fromkeys(indexes))  # a batch never holds an id twice
                results = send(db, clock, *(events[i] for i in unique))
                for i, result in zip(unique, results, strict=True):
                    expected = {Result.DUPLICATE} if i in seen else {Result.ACCEPTED, Result.HELD}
                    assert result in expected
                    seen.add(i)
        assert applied == list(range(1, count + 1))
        assert states(db, "case:A-1") == [(n, "applied") for n in range(1, count + 1)]
        [case] = hub.cases(db, clock.now())
        assert (case.stage, case.seq) == (f"s{count}", count)
        assert case.data == events[-1].payload["case"]
    finally:
        db.close()
