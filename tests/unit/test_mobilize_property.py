"""Random contact trees and random answers: every mobilization settles, and its books balance.

Hypothesis draws a tree of 1-25 ``person:`` nodes over a handful of people (so people repeat
across nodes, and a node's alternate may be its own person), each with 0-2 alternates, a
timeout and a repeat count; a mode and an interval; and for each person an answer (yes, no or
silence) given some seconds after they were first called. The clock then moves the way the
runner wakes: to the next thing due (``next_due``) or the next planned answer, but at least a
random step (10-120 s) on, so the runner is sometimes on time and sometimes late. At each stop
the engine is driven (process → claim → deliver → record) until nothing is due, then the
answers whose time has come are given (and the engine driven again). At the end:

1. every node was released and settled (yes or unreachable), with the people of exactly its
   tried tiers linked; everyone linked was called (or is explicitly not: unreachable, stood
   down, cancelled); nobody is left queued or sent and the mobilization is completed;
2. a person's messages are at least ``interval_s`` apart (``not_before``), none went early;
3. one recipient per person, at most one call-out per round, nobody called after answering,
   the silent called exactly ``repeats + 1`` times;
4. the summary's counts add up, in total and over the levels;
5. every answer is kept: the state it set, one ``mobilization_answer`` event each.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from contacts.people import NewPerson, add_person
from mobilization import (
    MODES,
    Delivery,
    NodeRef,
    Routing,
    Target,
    add_node,
    claim_pending,
    get_mobilization,
    next_due,
    node_states,
    process_due,
    recipient_rows,
    record_answer,
    record_deliveries,
    start_mobilization,
    summary,
)
from store.clock import FixedClock, from_iso
from store.db import connect
from tests.conftest import OPERATOR, START

LOG = Routing()
TREE = "prop"
MAX_STOPS = 2000
SETTLED = ("yes", "unreachable")
NOT_CALLED_BECAUSE = ("unreachable", "stood_down", "cancelled")


@dataclass(frozen=True)
class Node:
    parent: int | None  # index of an earlier node; None for the root
    person: int
    alternates: tuple[int, ...]
    timeout_s: int
    repeats: int


@dataclass(frozen=True)
class Plan:
    answer: str  # yes / no / silent
    delay_s: int  # seconds after the person's first call-out


@dataclass(frozen=True)
class Scenario:
    people: int
    nodes: tuple[Node, ...]
    plans: tuple[Plan, ...]
    mode: str
    interval_s: int
    steps: tuple[int, ...]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    people = draw(st.integers(1, 8))
    person = st.integers(0, people - 1)
    count = draw(st.integers(1, 25))
    nodes = tuple(
        Node(
            parent=None if i == 0 else draw(st.integers(0, i - 1)),
            person=draw(person),
            alternates=tuple(draw(st.lists(person, max_size=2, unique=True))),
            timeout_s=draw(st.integers(60, 600)),
            repeats=draw(st.integers(0, 2)),
        )
        for i in range(count)
    )
    plans = tuple(
        Plan(draw(st.sampled_from(["yes", "no", "silent"])), draw(st.integers(0, 1500)))
        for _ in range(people)
    )
    return Scenario(
        people=people,
        nodes=nodes,
        plans=plans,
        mode=draw(st.sampled_from(MODES)),
        interval_s=draw(st.sampled_from([0, 30, 60])),
        steps=tuple(draw(st.lists(st.integers(10, 120), min_size=1, max_size=6))),
    )


def key(i: int) -> str:
    return f"P{i}"


def drive(db: Database, clock: FixedClock) -> None:
    """The runner's steps until nothing is due now (as ``drive`` in mobilization_support.py)."""
    for _ in range(200):
        moved = process_due(db, clock)
        out, failed = claim_pending(db, clock, LOG)
        record_deliveries(db, clock, [Delivery(m.attempt_id, True) for m in out] + failed, LOG)
        if not moved and not out and not failed:
            return
    raise AssertionError("the engine did not settle at one moment")


def build(db: Database, clock: FixedClock, s: Scenario) -> int:
    for i in range(s.people):
        add_person(db, clock, OPERATOR, NewPerson(name=key(i), phone=f"1390000{i:04d}"), key=key(i))
    for i, node in enumerate(s.nodes):
        add_node(
            db,
            clock,
            OPERATOR,
            TREE,
            f"n{i}",
            NodeRef("person", key(node.person)),
            parent=None if node.parent is None else f"n{node.parent}",
            alternates=[f"person:{key(a)}" for a in node.alternates],
            timeout_s=node.timeout_s,
            repeats=node.repeats,
        )
    return start_mobilization(
        db,
        clock,
        OPERATOR,
        targets=[Target("node", "n0")],
        message="防汛集结 property",
        mode=s.mode,
        tree=TREE,
        interval_s=s.interval_s,
    )


def simulate(db: Database, clock: FixedClock, s: Scenario, mob: int) -> dict[str, bool]:
    """Run the mobilization to its end; returns the answers given (person key → yes)."""
    plans = {key(i): p for i, p in enumerate(s.plans)}
    given_: dict[str, bool] = {}
    for stop in range(MAX_STOPS):
        drive(db, clock)
        now = clock.now()
        upcoming: list[datetime] = []
        answered_now = False
        for row in recipient_rows(db, mob):
            plan = plans[row["key"]]
            if row["key"] in given_ or plan.answer == "silent" or row["first_sent_at"] is None:
                continue
            at = from_iso(row["first_sent_at"]) + timedelta(seconds=plan.delay_s)
            if at > now:
                upcoming.append(at)
                continue
            yes = plan.answer == "yes"
            record_answer(db, clock, OPERATOR, yes=yes, via="cli", recipient_id=row["id"])
            given_[row["key"]] = yes
            answered_now = True
        if answered_now:
            continue  # drive again at the same moment: an answer moves the cascade
        due = next_due(db)
        if due is not None:
            upcoming.append(due)
        if not upcoming:
            return given_
        step = timedelta(seconds=s.steps[stop % len(s.steps)])
        clock.set(max(now + step, min(upcoming)))
    raise AssertionError(f"no end after {MAX_STOPS} stops")


def check(db: Database, s: Scenario, mob: int, given_: dict[str, bool]) -> None:
    conn = db.conn
    rows = recipient_rows(db, mob)
    by_key = {r["key"]: r for r in rows}
    by_id = {r["id"]: r for r in rows}
    refs = [(n.person, *n.alternates) for n in s.nodes]

    # 3. One recipient per person (before anything is keyed by person).
    assert len(by_key) == len(rows), [r["key"] for r in rows]

    sent = conn.execute(
        "SELECT a.recipient_id, a.kind, a.round, a.not_before, a.done_at FROM attempts a"
        " JOIN recipients r ON r.id = a.recipient_id WHERE r.mobilization_id = ?"
        " AND a.state = 'sent' ORDER BY a.not_before, a.done_at",
        (mob,),
    ).fetchall()
    notify_rounds: dict[int, list[int]] = defaultdict(list)
    for rid, kind, round_, _, _ in sent:
        if kind == "notify":
            notify_rounds[rid].append(round_)

    # 1. Every node was released and settled: a silent node never cuts off the branch below.
    # A node naming one person at two tiers (an alternate equal to its own person; with roles,
    # a grid leader who is also the secretary) once stalled here: the property found it.
    states = {n.code: n for n in node_states(db, mob)}
    assert len(states) == len(s.nodes)
    for code, n in states.items():
        assert n.released_at is not None, f"{code} never released: {states}"
        assert n.state in SETTLED, f"{code} is {n.state}: {states}"
    links: dict[str, dict[str, int]] = defaultdict(dict)
    for code, person_key, tier in conn.execute(
        "SELECT n.code, p.key, l.tier FROM mob_links l JOIN mob_nodes n ON n.id = l.node_id"
        " JOIN recipients r ON r.id = l.recipient_id JOIN people p ON p.id = r.person_id"
        " WHERE n.mobilization_id = ?",
        (mob,),
    ):
        links[code][person_key] = tier
    for i, node_refs in enumerate(refs):
        n = states[f"n{i}"]
        tried = {key(p) for p in node_refs[: n.tier + 1]}
        assert set(links[n.code]) == tried, (n.code, n.tier, links[n.code])
        linked_states = {by_key[k]["state"] for k in tried}
        if n.state == "unreachable":
            assert n.tier == len(node_refs) - 1, (n.code, n.tier)
            assert "yes" not in linked_states, (n.code, linked_states)
        else:
            assert "yes" in linked_states, (n.code, linked_states)
    # Everyone a node names is a recipient, and everyone linked was called (or says why not).
    assert {key(n.person) for n in s.nodes} <= set(by_key)
    for r in rows:
        assert notify_rounds[r["id"]] or r["state"] in NOT_CALLED_BECAUSE, r
        assert r["state"] not in ("queued", "sent"), r
    assert get_mobilization(db, mob).state == "completed"
    assert next_due(db) is None

    # 2. A person's messages keep the interval, and none goes before its slot.
    slots: dict[str, list[datetime]] = defaultdict(list)
    for rid, kind, _, not_before, done_at in sent:
        assert from_iso(done_at) >= from_iso(not_before), (kind, not_before, done_at)
        slots[by_id[rid]["key"]].append(from_iso(not_before))
    gap = timedelta(seconds=s.interval_s)
    for person_key, times in slots.items():
        for earlier, later in pairwise(times):
            assert later - earlier >= gap, (person_key, earlier, later)

    # 3. At most one call-out per round; nobody called after answering; silence uses every
    # repeat of the node that first named the person.
    repeats_of = dict(
        conn.execute("SELECT id, repeats FROM recipients WHERE mobilization_id = ?", (mob,))
    )
    for r in rows:
        rounds = notify_rounds[r["id"]]
        assert len(rounds) == len(set(rounds)) == r["sends"], (r, rounds)
        assert r["sends"] <= repeats_of[r["id"]] + 1, r
        if r["answered_at"]:
            last_call = conn.execute(
                "SELECT max(done_at) FROM attempts WHERE recipient_id = ? AND kind = 'notify'"
                " AND state = 'sent'",
                (r["id"],),
            ).fetchone()[0]
            assert last_call is None or last_call <= r["answered_at"], r
        elif r["sends"]:
            assert r["sends"] == repeats_of[r["id"]] + 1, r

    # 4. The counts add up.
    sums = summary(db, mob, START)
    total = sums.total
    parts = (
        total.yes,
        total.no,
        total.silent,
        total.unreachable,
        total.queued,
        total.stood_down,
        total.cancelled,
    )
    assert sum(parts) == total.total == len(rows), total
    assert sum(c.total for c in sums.by_level.values()) == total.total, sums.by_level

    # 5. No answer is lost.
    for person_key, yes in given_.items():
        assert by_key[person_key]["state"] == ("yes" if yes else "no"), by_key[person_key]
        assert by_key[person_key]["answered_at"] is not None
    answered = {r["key"] for r in rows if r["answered_at"]}
    assert answered == set(given_)
    kinds = [k for (k,) in conn.execute("SELECT kind FROM events")]
    assert kinds.count("mobilization_answer") == len(given_)
    assert kinds.count("mobilization_answer_changed") == 0


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(s=scenarios())
def test_random_trees_and_answers_always_settle_and_balance(s: Scenario) -> None:
    db = connect()
    try:
        clock = FixedClock(START)
        mob = build(db, clock, s)
        answers = simulate(db, clock, s, mob)
        check(db, s, mob, answers)
    finally:
        db.close()
