"""The uplink end to end: townships and hubs as real ``dutydesk serve`` processes, each on its
own database, a fault proxy between a township and its hub (:mod:`tests.support.faultproxy`).

Every scenario ends the same way (:func:`tests.support.uplink.assert_converged`): the hub's
read model equals the township's state, 0 events lost, 0 duplicates, per-case order kept.
The scenarios: steady flow; an outage (port closed, then 503s) while the office keeps working;
429 with ``Retry-After`` (no request before it ran out); answers cut mid-body after the hub
stored the batch (replayed, or answered ``duplicate``, never applied twice); hung and late
requests; SIGKILL of the township mid-drain of 2,000 events; SIGKILL of the hub mid-ingest,
then the hub restored from a backup that has nothing of the township; a revoked token (the
township says ``unauthorized`` and its backlog grows) then a rotated one; a township restored
from a backup (the hub keeps what it superseded, flagged; the township's state wins); and a
three-level chain township -> county -> city. Dropped requests, and every fault mixed at
random, are the in-process property test's (``test_uplink_faults_property.py``).

Time is compressed the only way a real process allows: ``[uplink] backoff_max_seconds = 1``
caps the backoff that reaches 5 minutes in production, so the retries of a minutes-long
outage come every second or two; ``timeout_seconds = 1`` makes a hung hub cost a second. The
township's engine looks at its outbox every second (``EngineOptions.uplink_s``). One county
hub serves the module (each test registers a township of its own); the tests that kill or
restore a hub, and the chain, start their own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from store.audit import head_file_for
from store.db import connect_readonly, write
from tests.support.faultproxy import (
    CUT,
    DOWN,
    HANG,
    PASS,
    FaultProxy,
    Seen,
    delay,
    status,
)
from tests.support.uplink import (
    Activity,
    Node,
    assert_converged,
    hub_table,
    register_unit,
    uplink_table,
    write_token,
)
from tests.support.wait import wait_for
from uplink import hub
from uplink.models import LinkState, LinkStatus
from uplink.status import failures, link_status

EVENTS = "/v1/events"


# --- the processes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One county hub for the module; each test registers a township of its own there."""
    root = tmp_path_factory.mktemp("uplink")
    with pytest.MonkeyPatch.context() as env:  # the child's user dirs, inside the test's tree
        for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            env.setenv(name, str(root / "home" / name.lower()))
        node = Node(root, "county")
        node.configure(hub=hub_table())
        node.start()
    yield node
    node.stop()


@dataclass
class Town:
    """A township: its node, the proxy in front of its hub, its office at work."""

    node: Node
    hub: Node
    proxy: FaultProxy
    unit: str
    office: Activity

    def converged(self, timeout: float = 30.0) -> list[str]:
        return assert_converged(self.node.db, self.hub.db, self.unit, timeout=timeout)

    def link(self) -> LinkStatus:
        """The link as the township's engine last recorded it (read from its database)."""
        db = connect_readonly(self.node.db)
        try:
            return link_status(db, self.proxy.url, self.unit)
        finally:
            db.close()

    def failures(self) -> int:
        db = connect_readonly(self.node.db)
        try:
            return failures(db)[0]
        finally:
            db.close()

    def posts(self) -> list[Seen]:
        return self.proxy.requests(EVENTS, "POST")


MakeTown = Callable[..., Town]


@pytest.fixture
def make_town(tmp_path: Path, hub_node: Node) -> Iterator[MakeTown]:
    """``make_town(code, hub=..., start=True, **uplink)``: a registered township behind a
    fault proxy to its hub, its serve started (unless ``start=False``)."""
    made: list[Town] = []

    def make(code: str, *, hub: Node = hub_node, start: bool = True, **uplink: Any) -> Town:
        token = register_unit(hub, code, f"{code} township")
        proxy = FaultProxy(hub.url).start()
        node = Node(tmp_path, code.lower())
        write_token(node.token_file, token)
        node.configure(uplink=uplink_table(proxy.url, node.token_file, code, **uplink))
        town = Town(node, hub, proxy, code, Activity(node.db, seed=len(code)))
        made.append(town)
        if start:
            node.start()
        return town

    yield make
    for town in made:
        town.node.stop()
        town.proxy.stop()
        town.office.close()


def sent_in_order(posts: list[Seen]) -> list[str]:
    """Problems with the order events were sent in: within a batch, each subject's seqs must
    be consecutive; across batches, a subject never skips ahead of what was sent before."""
    problems: list[str] = []
    top: dict[str, int] = {}
    for n, post in enumerate(posts):
        mine: dict[str, list[int]] = {}
        for event in post.json()["events"]:
            mine.setdefault(event["subject"], []).append(event["seq"])
        for subject, seqs in mine.items():
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                problems.append(f"post {n}: {subject} seqs {seqs}")
            if seqs[0] > top.get(subject, 0) + 1:
                problems.append(
                    f"post {n}: {subject} from {seqs[0]}, sent up to {top.get(subject)}"
                )
            top[subject] = max(top.get(subject, 0), seqs[-1])
    return problems


def results(seen: Seen) -> list[str]:
    """The hub's per-event results in the answer to ``seen`` (what the proxy got)."""
    answer = seen.answer()
    assert answer is not None, f"the hub did not answer {seen}"
    return [r["result"] for r in answer["results"]]


def event_ids(seen: Seen) -> list[str]:
    return [e["id"] for e in seen.json()["events"]]


# --- the scenarios -----------------------------------------------------------------------------


def test_steady_flow_arrives_once_and_in_order(make_town: MakeTown) -> None:
    town = make_town("T-steady")
    town.office.churn(120)
    numbers = town.converged()
    assert len(numbers) >= 20
    posts = town.posts()
    assert posts and all(p.status == 200 for p in posts)
    # Nothing failed, so nothing was sent twice: every batch new, every event accepted.
    assert len({p.key for p in posts}) == len(posts)
    assert {r for p in posts for r in results(p)} == {"accepted"}
    assert sent_in_order(posts) == []
    assert town.link().state is LinkState.CONNECTED


def test_an_outage_while_the_office_works_then_the_backlog_drains_in_order(
    make_town: MakeTown,
) -> None:
    town = make_town("T-outage")
    town.office.churn(10)
    town.converged()
    # The hub's port closes: connections refused.
    town.proxy.set(DOWN)
    town.office.churn(60)
    wait_for(
        lambda: town.failures() >= 2 and town.link().state is LinkState.BACKING_OFF,
        15,
        "failed tries in a row",
    )
    during = town.link()
    assert during.backlog > 0 and during.down_since is not None
    assert "connect" in (during.last_error or "")
    # Then it answers, but 503 (a hub behind a gateway that is up before it).
    town.proxy.set(status(503))
    before = town.proxy.counts["status_503"]
    town.office.churn(30)
    town.proxy.wait_requests(before + 1, labels=["status_503"])
    assert town.link().backlog > during.backlog  # the office kept working, the backlog grew
    assert town.link().down_since == during.down_since  # one outage, still counted from its start
    town.proxy.set(PASS)
    town.converged()
    assert sent_in_order(town.posts()) == []
    assert town.link().state is LinkState.CONNECTED


def test_429_retry_after_is_honoured(make_town: MakeTown) -> None:
    # The inbox is pulled every second: the hub limits an address over all its routes, so a
    # 429 to the events holds the pulls as well.
    town = make_town("T-429", poll_s=1)
    town.converged()  # what the engine sends when it starts is through
    town.proxy.schedule([status(429, retry_after=2)], path=EVENTS)
    town.office.churn(10)
    town.converged()
    seen = town.proxy.requests()
    throttled = [s for s in seen if s.fault.label == "status_429"]
    assert len(throttled) == 1
    answered = throttled[0].answered_at
    assert answered is not None
    after = [s for s in seen if s.at > answered]
    assert any(s.path == EVENTS for s in after) and any("/inbox" in s.path for s in after)
    # A request already on its way when the 429 went out cannot know of it: a quarter of a
    # second covers that (the pulls come every second, so a pull that ignored the 429 would
    # arrive inside the two seconds after it).
    early = [
        f"{s.method} {s.path} {s.at - answered:.3f} s after"
        for s in after
        if 0.25 < s.at - answered < 2.0
    ]
    assert early == [], "requests before the 429's Retry-After (2 s) ran out"
    first_post = min(s.at for s in after if s.path == EVENTS)
    assert first_post - answered >= 2.0


def test_cut_answers_are_replayed_or_answered_duplicate_never_applied_twice(
    make_town: MakeTown,
) -> None:
    town = make_town("T-cut")
    town.converged()  # what the engine sends when it starts (its audit head) is through
    # 1. The answer is cut after the hub stored the batch; the retry carries the same batch,
    # the same key: the hub replays its stored answer.
    town.proxy.schedule([CUT], path=EVENTS)
    with write(town.office.db):  # one transaction: one batch
        for i in range(5):
            town.office.report(f"切断{i}")
    town.converged()
    posts = town.posts()
    cut = next(i for i, p in enumerate(posts) if p.fault is CUT)
    assert results(posts[cut]) == ["accepted"] * len(event_ids(posts[cut]))
    retry = posts[cut + 1]
    assert retry.key == posts[cut].key and retry.body == posts[cut].body
    assert retry.upstream_headers.get("idempotency-replayed") == "true"
    assert results(retry) == results(posts[cut])
    # 2. Cut again; before the retry the office logs three more cases, so the next batch is
    # a new one (a new key) holding the stored events and the new: duplicates + accepted.
    town.proxy.schedule([CUT], path=EVENTS)
    with write(town.office.db):
        for i in range(5):
            town.office.report(f"再切断{i}")
    second = town.proxy.wait_requests(2, path=EVENTS, labels=["cut"])[1]
    for i in range(3):
        town.office.report(f"新案件{i}")
    town.converged()
    posts = town.posts()
    stored = event_ids(second)
    after = posts[posts.index(second) + 1]
    assert after.key != second.key
    assert event_ids(after)[: len(stored)] == stored
    got = results(after)
    assert got[: len(stored)] == ["duplicate"] * len(stored)
    assert got[len(stored) :] and set(got[len(stored) :]) == {"accepted"}


def test_hung_and_late_requests_are_retried_with_the_same_batch(make_town: MakeTown) -> None:
    town = make_town("T-hang", timeout_s=1)
    town.converged()
    # Hung until the township's 1 s timeout; then forwarded 1.2 s late, after the township
    # gave up (so the hub stores it while nobody waits for the answer).
    town.proxy.schedule([HANG, delay(1.2)], path=EVENTS)
    with write(town.office.db):  # one transaction: one batch
        for i in range(4):
            town.office.report(f"挂起{i}")
    town.converged()
    posts = town.posts()
    faulty = [p for p in posts if p.fault.kind in ("hang", "delay")]
    assert [p.fault.kind for p in faulty] == ["hang", "delay"]
    assert faulty[0].upstream is None and faulty[1].upstream == 200  # the late one got there
    assert faulty[0].key == faulty[1].key  # one batch, tried again
    retry = posts[posts.index(faulty[1]) + 1]
    assert retry.key == faulty[0].key
    assert retry.upstream_headers.get("idempotency-replayed") == "true"
    assert town.link().state is LinkState.CONNECTED


def test_the_township_killed_mid_drain_of_2000_events_converges_after_restart(
    make_town: MakeTown,
) -> None:
    town = make_town("T-kill", start=False, batch=50)
    office = town.office
    with write(office.db):  # 400 cases x 5 stages: 2,000 events waiting when serve starts
        for i in range(400):
            number = office.report(f"积压{i}").number
            for _ in range(4):
                office.advance(number)
    town.proxy.set(delay(0.1))  # about 40 batches of 50, a tenth of a second each
    town.node.start()
    town.proxy.wait_requests(8, path=EVENTS, timeout=30)
    town.node.kill()
    at_kill = town.link()
    assert 0 < at_kill.backlog < 2000 and at_kill.sent_total >= 300
    office.churn(20)  # the office goes on while the engine is down
    town.proxy.set(PASS)
    town.node.start()  # waits for the dead engine's lease to lapse
    numbers = town.converged(timeout=60)
    assert len(numbers) >= 400
    assert sent_in_order(town.posts()) == []


def test_the_hub_killed_mid_ingest_then_restored_from_a_backup_converges(
    tmp_path: Path, make_town: MakeTown
) -> None:
    central = Node(tmp_path, "hub2")
    central.configure(hub=hub_table())
    central.start()
    try:
        town = make_town("T-hubkill", hub=central, start=False, batch=200)
        copy = tmp_path / "hub-backup.db"
        central.cli("backup", str(copy))  # the hub knows the unit, nothing of it yet
        with write(town.office.db):  # 1,000 events, to go in batches of 200
            for i in range(200):
                number = town.office.report(f"枢纽{i}").number
                for _ in range(4):
                    town.office.advance(number)
        town.node.start()

        def in_flight() -> bool:
            posts = town.posts()
            return any(p.status == 200 for p in posts) and any(p.answered_at is None for p in posts)

        # 1. SIGKILL while a batch is on its way in (after a first one was stored).
        wait_for(in_flight, 30, "a batch on its way to the hub after a first one", 0.002)
        central.kill()
        town.office.churn(20)
        wait_for(lambda: town.link().state is LinkState.BACKING_OFF, 15, "the township to back off")
        assert any(p.status == 502 for p in town.posts())  # the gateway found no hub
        # Its dead engine's lease has not lapsed yet: the new one stands by, the routes serve.
        central.start(until=("elsewhere", "here"))
        numbers = town.converged(timeout=60)
        # 2. The hub's machine is restored from the backup: everything of the township is gone
        # there. The township is not restarted; it goes on working.
        central.stop()
        for suffix in ("-wal", "-shm"):
            Path(f"{central.db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(copy, central.db)
        shutil.copyfile(head_file_for(copy), head_file_for(central.db))
        central.start(until=("elsewhere", "here"))
        assert any([town.office.advance(number) for number in numbers[:5]])
        town.converged(timeout=60)
    finally:
        central.stop()


def test_a_revoked_token_shows_unauthorized_then_a_rotated_one_converges(
    make_town: MakeTown, hub_node: Node
) -> None:
    town = make_town("T-revoke")
    town.office.churn(10)
    town.converged()
    hub_node.cli("hub", "unit", "revoke", town.unit)
    town.office.churn(10)
    wait_for(lambda: town.link().state is LinkState.UNAUTHORIZED, 15, "the township to see 401")
    shown = town.node.sync_status()
    assert shown["state"] == "unauthorized"
    assert "token revoked" in shown["last_error"]
    refused = [p for p in town.posts() if p.upstream == 401]
    assert refused and all(
        p.answer() == {"error": "token revoked", "field": "Authorization"} for p in refused
    )
    # The office goes on: the backlog grows while the token is refused.
    first = shown["backlog"]
    town.office.churn(15)
    wait_for(lambda: town.link().backlog > first, 15, "the backlog to grow")
    assert town.link().state is LinkState.UNAUTHORIZED
    # A new token, written to the township's token file: the running engine takes it at its
    # next step (no restart) and tries at once, whatever its backoff.
    rotated = json.loads(hub_node.cli("hub", "unit", "rotate", town.unit, "--json").stdout)
    write_token(town.node.token_file, rotated["token"])
    town.converged()
    assert town.node.sync_status()["state"] == "connected"


def test_a_township_restored_from_a_backup_converges_its_state_wins(
    tmp_path: Path, make_town: MakeTown, hub_node: Node
) -> None:
    town = make_town("T-restore")
    office = town.office
    early = [office.report(f"备份前{i}").number for i in range(6)]
    office.churn(20)
    town.converged()
    copy = tmp_path / "restore-backup.db"
    town.node.cli("backup", str(copy))
    # After the backup: the early cases move on, new cases are logged; all of it reaches the hub.
    moved = [number for number in early[:4] if office.advance(number)]
    assert moved
    later = [office.report(f"备份后{i}").number for i in range(4)]
    town.converged()
    # The township's machine is restored from the backup (database and its audit head file).
    town.node.stop()
    office.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{town.node.db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, town.node.db)
    shutil.copyfile(head_file_for(copy), head_file_for(town.node.db))
    # The office works on the restored database before the engine runs again: two new
    # cases take numbers the hub already knows (from the lost cases) with other contents.
    office = town.office = Activity(town.node.db, seed=7)
    reused = [office.report(f"恢复后{i}").number for i in range(2)]
    assert reused == later[:2]
    office.advance(early[5])
    town.node.start()
    town.converged()
    central = connect_readonly(hub_node.db)
    try:
        now = datetime.now(UTC)
        at_hub = {c.number: c for c in hub.cases(central, now, unit=town.unit, open_only=False)}
        assert [at_hub[n].lost for n in later] == [False, False, True, True]
        assert at_hub[reused[0]].title == "恢复后0"
        superseded = [
            e
            for number in early[:4] + later
            for e in hub.case_timeline(central, town.unit, number)
            if e.state == "superseded"
        ]
    finally:
        central.close()
    # What the hub had of the lost history is kept, flagged: the early cases' moves after
    # the backup, and everything of the lost cases.
    assert len(superseded) == len(moved) + len(later)


def test_a_three_level_chain_township_county_city(tmp_path: Path, make_town: MakeTown) -> None:
    city = Node(tmp_path, "city")
    city.configure(hub=hub_table())
    city.start()
    county = Node(tmp_path, "county-c1")
    try:
        write_token(county.token_file, register_unit(city, "C1", "the county"))
        county.configure(
            hub=hub_table(rollup_seconds=1),
            uplink=uplink_table(city.url, county.token_file, "C1"),
        )
        county.start()
        town = make_town("T9", hub=county)
        county_office = Activity(county.db, seed=3)
        try:
            for i in range(3):
                county_office.report(f"县级案件{i}", severity="II")
            county_office.churn(10)
            town.office.churn(40)
            numbers = town.converged()
            assert_converged(county.db, city.db, "C1")
        finally:
            county_office.close()
        assert numbers

        def rolled_up() -> dict[str, Any]:
            db = connect_readonly(city.db)
            county_db = connect_readonly(county.db)
            try:
                now = datetime.now(UTC)
                want = [c for c in hub.cases(county_db, now, unit="T9") if not c.lost]
                for rollup in hub.rollups(db, unit="C1"):
                    if rollup.child == "T9" and rollup.data["open"] == len(want):
                        return rollup.data
                return {}
            finally:
                db.close()
                county_db.close()

        data = wait_for(rolled_up, 20, "the city to see the township's roll-up")
        assert data["unit"] == "T9" and sum(data["by_severity"].values()) == data["open"]
        db = connect_readonly(city.db)
        try:
            # The city has the county's own cases, and of the township only the roll-up.
            assert {c.unit for c in hub.cases(db, datetime.now(UTC), open_only=False)} == {"C1"}
            assert [u.code for u in hub.list_units(db)] == ["C1"]
        finally:
            db.close()
    finally:
        county.stop()
        city.stop()
