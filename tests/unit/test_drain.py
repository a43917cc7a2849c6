"""The drain's protocol handling, against httpx's MockTransport (the real hub: tests/e2e).

Each test scripts what the "hub" answers and checks what the drain records: sent, dead
letters, the link's state and when it tries next. Nothing here sleeps: the backoff is a time
stored in the database, read against the fixed clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlite_utils import Database

from incidents import workflow
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from store.clock import FixedClock
from tests.support.domain import OPERATOR
from uplink.drain import Drain, backoff_s, batch_key, retry_after
from uplink.models import LinkState
from uplink.outbox import Projection, backlog, dead_letters, sendable
from uplink.status import failures, link_status

UNIT = "330106001"
URL = "http://hub.test"
Handler = Callable[[httpx.Request], httpx.Response]


def cases(db: Database, clock: FixedClock, policy: Policy, n: int) -> None:
    for i in range(n):
        create_incident(
            db, clock, policy, OPERATOR, NewIncident(title=f"案件{i}", category="dispute")
        )


def accept_all(request: httpx.Request) -> httpx.Response:
    if request.method == "GET":
        return httpx.Response(200, json={"version": 1, "unit": UNIT, "subjects": [], "next": None})
    body = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "version": 1,
            "unit": UNIT,
            "results": [{"id": e["id"], "result": "accepted"} for e in body["events"]],
        },
    )


class Hub:
    """Records what was posted and answers with ``handler``."""

    def __init__(self, handler: Handler = accept_all) -> None:
        self.handler = handler
        self.posts: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts.append(json.loads(request.content))
            self.headers.append(request.headers)
        return self.handler(request)


async def until_idle(drain: Drain, db: Database, most: int = 50) -> None:
    """Step the drain until it says there is nothing more to do right away."""
    for _ in range(most):
        if not (await drain.step(db)).more:
            return
    raise AssertionError(f"the drain still had more after {most} steps")


def drain_for(clock: FixedClock, hub: Hub, batch: int = 200) -> Drain:
    client = httpx.AsyncClient(transport=httpx.MockTransport(hub))
    return Drain(URL, "t" * 20, Projection(UNIT), clock, batch=batch, client=client)


async def test_events_go_in_order_with_the_protocol_headers(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    cases(db, clock, policy, 3)
    hub = Hub()
    report = await drain_for(clock, hub).step(db)
    assert report.sent == 3
    (post,) = hub.posts
    assert [e["subject"] for e in post["events"]] == [
        "case:2026-000001",
        "case:2026-000002",
        "case:2026-000003",
    ]
    headers = hub.headers[0]
    assert headers["authorization"] == "Bearer " + "t" * 20
    assert headers["dutydesk-protocol"] == "1"
    assert len(headers["idempotency-key"]) == 40
    assert backlog(db)[0] == 0
    status = link_status(db, URL, UNIT)
    assert status.state is LinkState.CONNECTED
    assert status.sent_total == 3


async def test_batches_are_cut_at_the_configured_size(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    cases(db, clock, policy, 5)
    hub = Hub()
    await until_idle(drain_for(clock, hub, batch=2), db)
    assert [len(p["events"]) for p in hub.posts] == [2, 2, 1]


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503])
async def test_retryable_answers_back_off_and_keep_everything(
    db: Database, clock: FixedClock, policy: Policy, code: int
) -> None:
    cases(db, clock, policy, 2)
    hub = Hub(lambda r: accept_all(r) if r.method == "GET" else httpx.Response(code))
    drain = drain_for(clock, hub)
    report = await drain.step(db)
    assert report.waiting and report.sent == 0
    status = link_status(db, URL, UNIT)
    assert status.state is LinkState.BACKING_OFF
    assert status.backlog == 2
    assert status.down_since == clock.now()
    assert status.next_try_at is not None and status.next_try_at > clock.now()
    # Until then nothing is tried.
    again = await drain.step(db)
    assert again.waiting and len(hub.posts) == 1
    clock.advance(timedelta(seconds=2))
    hub.handler = accept_all
    assert (await drain.step(db)).sent == 2
    assert link_status(db, URL, UNIT).state is LinkState.CONNECTED
    # The retry carried the same batch, so the same idempotency key.
    assert hub.headers[0]["idempotency-key"] == hub.headers[1]["idempotency-key"]


async def test_retry_after_is_honoured(db: Database, clock: FixedClock, policy: Policy) -> None:
    cases(db, clock, policy, 1)
    hub = Hub(
        lambda r: (
            accept_all(r)
            if r.method == "GET"
            else httpx.Response(429, headers={"Retry-After": "120"})
        )
    )
    report = await drain_for(clock, hub).step(db)
    assert report.retry_after == 120  # the engine holds the inbox's pulls for as long
    _failures, next_try = failures(db)
    assert next_try is not None
    assert next_try - clock.now() >= timedelta(seconds=120)


async def test_a_held_step_projects_and_sends_nothing(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    # The hub's Retry-After to an inbox pull holds the drain too (the hub limits an address).
    cases(db, clock, policy, 3)
    hub = Hub()
    drain = drain_for(clock, hub)
    held = await drain.step(db, hold=True)
    assert held.waiting and held.projected > 0 and held.sent == 0
    assert hub.posts == [] and backlog(db)[0] == held.projected
    assert (await drain.step(db)).sent == held.projected


def test_retry_after_reads_seconds_and_http_dates(clock: FixedClock) -> None:
    now = clock.now()
    assert retry_after("30", now) == 30
    assert retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    assert backoff_s(1, 300, lambda: 0.0) == 0.5
    assert backoff_s(1, 300, lambda: 1.0) == 1.0
    assert backoff_s(4, 300, lambda: 1.0) == 8.0
    assert backoff_s(40, 300, lambda: 1.0) == 300.0
    assert backoff_s(40, 300, lambda: 0.0) == 150.0


async def test_a_transport_failure_backs_off(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    cases(db, clock, policy, 1)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    report = await drain_for(clock, Hub(refuse)).step(db)
    assert report.waiting
    status = link_status(db, URL, UNIT)
    assert status.state is LinkState.BACKING_OFF
    assert "cannot connect" in (status.last_error or "")
    assert status.backlog == 1


async def test_a_refused_token_says_so(db: Database, clock: FixedClock, policy: Policy) -> None:
    cases(db, clock, policy, 1)
    hub = Hub(lambda r: httpx.Response(401, json={"error": "token revoked"}))
    await drain_for(clock, hub).step(db)
    status = link_status(db, URL, UNIT)
    assert status.state is LinkState.UNAUTHORIZED
    assert "token revoked" in (status.last_error or "")
    assert status.backlog == 1


async def test_a_rejected_event_is_a_dead_letter_and_blocks_its_case_only(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    cases(db, clock, policy, 2)
    workflow.register(db, clock, policy, OPERATOR, 1)

    def reject_first(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return accept_all(request)
        body = json.loads(request.content)
        results = []
        for e in body["events"]:
            bad = e["subject"] == "case:2026-000001" and e["seq"] == 1
            results.append(
                {"id": e["id"], "result": "rejected", "reason": "unknown grid"}
                if bad
                else {"id": e["id"], "result": "held" if e["seq"] > 1 else "accepted"}
            )
        return httpx.Response(200, json={"version": 1, "unit": UNIT, "results": results})

    hub = Hub(reject_first)
    await until_idle(drain_for(clock, hub, batch=1), db)
    sent = [(e["subject"], e["seq"]) for p in hub.posts for e in p["events"]]
    # Case 1's second event waits behind its dead first one; case 2 flowed.
    assert sent == [("case:2026-000001", 1), ("case:2026-000002", 1)]
    (dead,) = dead_letters(db, UNIT)
    assert dead.error == "unknown grid"
    assert [e.event.seq for e in sendable(db, UNIT, 10)] == []
    assert backlog(db) == (1, backlog(db)[1], 1)


async def test_a_4xx_batch_is_halved_until_the_bad_event_is_found(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    cases(db, clock, policy, 4)

    def refuse_third(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return accept_all(request)
        body = json.loads(request.content)
        if any(e["subject"] == "case:2026-000003" for e in body["events"]):
            return httpx.Response(
                422, json={"error": "unknown category", "field": "events[0].payload"}
            )
        return accept_all(request)

    hub = Hub(refuse_third)
    await until_idle(drain_for(clock, hub), db)
    (dead,) = dead_letters(db, UNIT)
    assert dead.event.subject == "case:2026-000003"
    assert "422" in (dead.error or "") and "unknown category" in (dead.error or "")
    assert backlog(db)[0] == 0
    delivered = {
        e["subject"]
        for p, h in zip(hub.posts, hub.headers, strict=True)
        for e in p["events"]
        if "case:2026-000003" not in {x["subject"] for x in p["events"]}
    }
    assert delivered == {"case:2026-000001", "case:2026-000002", "case:2026-000004"}


async def test_an_answer_for_other_events_is_not_trusted(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    cases(db, clock, policy, 1)
    hub = Hub(
        lambda r: (
            accept_all(r)
            if r.method == "GET"
            else httpx.Response(200, json={"results": [{"id": "zzzzzzzzzz", "result": "accepted"}]})
        )
    )
    report = await drain_for(clock, hub).step(db)
    assert report.sent == 0
    assert link_status(db, URL, UNIT).state is LinkState.BACKING_OFF
    assert backlog(db)[0] == 1


async def test_a_conflict_triggers_a_resync_that_rebases(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    cases(db, clock, policy, 1)
    calls: list[str] = []

    def hub_ahead(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.query.decode()}")
        if request.method == "GET" and b"subject=" in request.url.query:
            return httpx.Response(
                200,
                json={"events": [{"seq": 1, "id": "older-event-1", "state": "applied"}]},
            )
        if request.method == "GET":
            subjects = [{"subject": "case:2026-000001", "seq": 1, "id": "older-event-1", "held": 0}]
            return httpx.Response(200, json={"subjects": subjects, "next": None})
        return accept_all(request)

    hub = Hub(hub_ahead)
    drain = drain_for(clock, hub)
    await drain.step(db)
    # The first step resynchronised: the hub holds seq 1 from another history.
    assert calls[0].startswith("GET limit=")
    assert calls[1] == "GET subject=case%3A2026-000001"
    posted = [(e["seq"], e["kind"]) for e in hub.posts[0]["events"]]
    assert posted == [(2, "resync"), (3, "case_reported")]
    assert hub.posts[0]["events"][0]["payload"]["known"] == 0


def test_the_batch_key_depends_on_the_events_only(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    from uplink.outbox import project

    cases(db, clock, policy, 2)
    project(db, Projection(UNIT), clock.now())
    events = sendable(db, UNIT, 10)
    assert batch_key(events) == batch_key(list(events))
    assert batch_key(events) != batch_key(events[:1])


def test_the_raw_body_is_the_batch_s_json(db: Database, clock: FixedClock, policy: Policy) -> None:
    from uplink.models import Batch, encode_batch
    from uplink.outbox import project

    cases(db, clock, policy, 3)
    project(db, Projection(UNIT), clock.now())
    events = sendable(db, UNIT, 10)
    raw = encode_batch(
        UNIT, [(e.id, e.subject, e.seq, e.kind.value, e.at, e.payload_json) for e in events]
    )
    assert json.loads(raw) == Batch(UNIT, tuple(e.event for e in events)).to_json()
    assert Batch.from_json(json.loads(raw)).events == tuple(e.event for e in events)
