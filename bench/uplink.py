"""Benchmark of the uplink: a township's outbox drained to a local hub, and the hub under load.

Every hub is a fresh database served by a child process on 127.0.0.1 (it does not share the
GIL with the senders measured here), its units registered with :func:`uplink.hub.add_unit`
before it starts. Figures, one line each, then a verdict (PASS when the drain's ratio to plain
httpx is >= 0.8 and every hub received every event it was sent, accepted):

* ``data.township``: a township database whose timeline projects into exactly ``--events``
  uplink events (100,000): cases with the text of :class:`bench.incidents.DataSet`, loaded with
  :func:`incidents.bulk.bulk_load`, five entries each (reported, registered, dispatched,
  handling, assigned), interleaved in time as a live office writes them.
  ``project``: :func:`uplink.outbox.project` run until the cursor is at the end (its own
  figure; the drain's rate below excludes it).
* ``drain.httpx``: the baseline, a plain ``httpx.AsyncClient`` loop (one connection, as the
  drain's) posting to ``/v1/events`` the very bodies the drain sends (the same batches of
  ``--batch`` events, byte for byte, the same headers and Idempotency-Keys), one after the
  other, each answer read and counted. ``drain.uplink``: :class:`uplink.drain.Drain` as the
  engine runs it: ``await drain.step(db)`` until nothing is left (its first step reads the
  hub's state to resynchronise, as at every engine start). Each run gets a fresh hub with the
  same unit, so the hub does the same work for both. ``--reps`` rounds (order alternating),
  best of each. Target: ratio >= 0.8.
* ``hub.db_growth``: the hub's database after the drain (checkpointed, the server stopped)
  minus the fresh one, per million events; where SQLite has ``dbstat``, the largest tables.
* ``hub.townships20`` / ``hub.townships200``: that many townships pushing at once, each an
  asyncio task with its own client (one connection) from its own loopback address (127.0.0.N,
  as each township's machine has its own), each posting batches of ``--batch`` fresh events
  of its own unit, retrying as the drain does (``Retry-After``, or its backoff, on 408, 429,
  5xx and transport errors; the drain's 10 s timeout). ``--load-events`` in all per scenario.
  Events/s overall; per batch p50/p99 from its first try to its answer; the retries by cause.
  ``hub.townships200.raised``: the same 200 again, on a hub whose listener takes 256 requests
  at once (``serve``'s default caps, 64 requests and 80 connections, are an office's: with
  more keep-alive connections than that, uvicorn answers 503 and the listener closes the
  connections over its cap; not with ``--quick``).
* ``outage.catchup``: a busy township (``--busy-rate`` events a minute, default 500: a storm,
  ten times a busy day's 50) cut off from its hub for 10 minutes: its backlog, then how long
  the real drain takes to notice the hub is back (the backoff it was in, simulated: its
  clock jumps to each next try, ``random`` seeded; the spread over 10,000 simulated outages
  is printed too) and to send everything once it does (real time).

The hubs: ``drain.*`` and ``hub.db_growth`` run on :func:`console.http.server.serve` (the
engine, the listener and its limits as ``dutydesk serve --hub``) with the per-address guard
and the per-unit rate lifted (one township posting 500 batches back to back would otherwise
measure the rate limit, 10 requests a second, not the hub); the townships and the outage run
on the real ``dutydesk serve`` command with ``[hub] enabled = true`` and every default (but
``.raised``). ``--phases`` runs only some of ``drain``, ``townships`` and ``outage``.

Not part of CI. Run from the repository root (about 5-6 minutes on 2 cores)::

    python -m bench.uplink
    python -m bench.uplink --quick           # 10,000 events, one round, smaller loads
    python -m bench.uplink --events 50000 --reps 1
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file, this module's directory comes first on sys.path and its own name would
    # shadow the ``uplink`` package: put the repository root there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import heapq  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from bench.incidents import DataSet  # noqa: E402
from bench.report import Report, pct  # noqa: E402
from console.config import UplinkSettings  # noqa: E402
from incidents.bulk import BulkEvent, bulk_load  # noqa: E402
from store.clock import SystemClock  # noqa: E402
from store.db import connect  # noqa: E402
from tests.support.serve import Serve, free_port, write_config  # noqa: E402
from uplink import status  # noqa: E402
from uplink.drain import Drain, backoff_s, batch_key, retry_after  # noqa: E402
from uplink.hub import add_unit  # noqa: E402
from uplink.models import (  # noqa: E402
    IDEMPOTENCY_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    encode_batch,
)
from uplink.outbox import (  # noqa: E402
    PROJECT_BATCH,
    OutboxEvent,
    Projection,
    backlog,
    project_all,
    sendable,
)

RATIO_TARGET = 0.8
EVENTS = 100_000
QUICK_EVENTS = 10_000
BATCH = 200  # [uplink] batch, default
LOAD_EVENTS = 80_000  # per townships scenario
QUICK_LOAD_EVENTS = 16_000
BUSY_RATE = 500  # events a minute in the outage (a storm: ten times a busy day's 50)
OUTAGE_S = 600
TIMEOUT_S = 10.0  # [uplink] timeout_seconds, default
BACKOFF_MAX_S = UplinkSettings().backoff_max_s  # [uplink] backoff_max_seconds, default
POLL_S = 1.0  # the engine's drain looks again this often while it waits (EngineOptions.uplink_s)
OUTAGE_SIMULATIONS = 10_000
SEED = 20261126
UNIT = "T0001"  # every township's code has this length: bodies of the same size
PER_CASE = 5  # timeline entries per case, each projected into one uplink event
# The closed loop as far as the generated cases go: (timeline kind, stage from, stage to).
STEPS = (
    ("register", "reported", "registered"),
    ("dispatch", "registered", "dispatched"),
    ("handle", "dispatched", "handling"),
)
OPERATORS = ("值班员甲", "值班员乙", "值班员丙", "带班领导")
ASSIGNEES = ("张工", "王工", "李工", "赵工", "刘工")
T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
TOWNSHIPS = (20, 200)
RAISED_REQUESTS = 256  # the listener's caps for the second 200-township run
PHASES = ("drain", "townships", "outage")
HOLD_MAX_S = 30.0  # a simulated township gives up a batch after this long (the run failed)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def progress(text: str) -> None:
    print(f"# {text}", file=sys.stderr, flush=True)


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def rate(value: float) -> str:
    return f"{value:,.0f}"


def rates(values: list[float]) -> str:
    return "/".join(rate(v) for v in values)


# ---- the township --------------------------------------------------------------------------


@dataclass
class Township:
    path: Path
    cases: int
    entries: int
    build_s: float
    project_s: float
    outbox: int


def township_data(
    events: int, span: timedelta, seed: int
) -> tuple[list[dict[str, Any]], Iterator[BulkEvent]]:
    """Cases and a timeline of exactly ``events`` entries, all of kinds the uplink carries.

    Case ``i`` is reported at ``T0 + i * span / cases``, then registered, dispatched, taken in
    hand and assigned at steps of ten cases' spacing, so the entries of about forty cases
    interleave as an office writes them (and a batch holds many subjects, as it does live).
    """
    n = -(-events // PER_CASE)
    gap = span / n
    cases: list[dict[str, Any]] = []
    for i, case in enumerate(DataSet(n, n, seed).cases()):
        reported = T0 + gap * i
        cases.append(
            {
                **case,
                "stage": "handling",
                "active": 1,
                "parked": 0,
                "supervised": 0,
                "overdue_since": None,
                "remind_at": None,
                "closed_at": None,
                "assignee": f"person:{ASSIGNEES[i % len(ASSIGNEES)]}",
                "reported_at": iso(reported),
                "stage_since": iso(reported + gap * 30),
                "updated_at": iso(reported + gap * 40),
                "deadline": iso(reported + timedelta(days=3)),
            }
        )

    def entry(i: int, k: int) -> tuple[str, BulkEvent]:
        at = iso(T0 + gap * (i + 10 * k))
        operator = OPERATORS[(i + k) % len(OPERATORS)]
        if k == 0:
            return at, (at, operator, i, "reported", None, "reported", {"source": "phone"})
        if k <= len(STEPS):
            kind, stage_from, stage_to = STEPS[k - 1]
            data: dict[str, Any] = {"deadline": None}
            if kind == "dispatch":
                data["to"] = f"grid:{cases[i]['grid']}"
            return at, (at, operator, i, kind, stage_from, stage_to, data)
        to = cases[i]["assignee"]
        return at, (at, operator, i, "assign", None, None, {"from": None, "to": to})

    streams = [[entry(i, k) for i in range(n)] for k in range(PER_CASE)]
    merged = (e for _at, e in heapq.merge(*streams, key=lambda pair: pair[0]))

    def exactly() -> Iterator[BulkEvent]:
        for count, e in enumerate(merged):
            if count == events:
                return
            yield e

    return cases, exactly()


def build_township(path: Path, events: int, span: timedelta, unit: str) -> Township:
    """The township's database with its timeline projected into the outbox (timed apart)."""
    t0 = time.perf_counter()
    cases, timeline = township_data(events, span, SEED)
    db = connect(path, synchronous="NORMAL")
    result = bulk_load(db, cases, timeline)
    build_s = time.perf_counter() - t0
    now = T0 + span
    t1 = time.perf_counter()
    project_all(db, Projection(unit), now)
    project_s = time.perf_counter() - t1
    pending, _oldest, _dead = backlog(db)
    db.close()
    return Township(path, result.cases, result.events, build_s, project_s, pending)


def outbox_batches(path: Path, unit: str, batch: int) -> list[list[OutboxEvent]]:
    """Every pending outbox event in id order, in batches of ``batch``: what the drain sends."""
    db = connect(path)
    try:
        events = sendable(db, unit, 10**9)
    finally:
        db.close()
    return [events[i : i + batch] for i in range(0, len(events), batch)]


def encode(unit: str, events: list[OutboxEvent]) -> tuple[str, bytes]:
    """``(Idempotency-Key, body)`` of a batch, exactly as :meth:`Drain._send` makes them."""
    rows = [(e.id, e.subject, e.seq, e.kind.value, e.at, e.payload_json) for e in events]
    return batch_key(events), encode_batch(unit, rows)


def headers(token: str) -> dict[str, str]:
    """The headers the drain sends with every request."""
    return {
        "Authorization": f"Bearer {token}",
        PROTOCOL_HEADER: str(PROTOCOL_VERSION),
        "Content-Type": "application/json",
    }


# ---- hubs ----------------------------------------------------------------------------------

_HUB_CONFIG = "\n[hub]\nenabled = true\n"
_OPEN_CONFIG = "\n[hub]\nenabled = true\nrequests_per_minute = 100000\n"


class OpenServe(Serve):
    """``console.http.server.serve`` in a child (``--hub-run``) with the rate limits lifted,
    and with ``max_requests`` the listener's caps raised to that many requests at once."""

    max_requests: int | None = None

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "bench.uplink", "--hub-run", str(self.db)]
        command += ["--config", str(self.config), "--port", str(self.port)]
        if self.max_requests:
            command += ["--max-requests", str(self.max_requests)]
        return command


def hub_run_main(args: argparse.Namespace) -> int:
    """``--hub-run DB``: serve the hub as ``dutydesk serve --hub`` does, but with the
    per-address guard lifted (and ``[hub] requests_per_minute`` at its maximum, in the
    configuration): everything else, the engine and the listener's limits, as it is."""
    from console.context import open_context
    from console.http import guard
    from console.http.limits import HttpLimits
    from console.http.server import serve

    original = guard.middleware
    lifted = guard.Limits(rate=1e9, burst=1_000_000_000)

    def middleware(service: Any, limits: Any = None) -> Any:
        return original(service, lifted)

    guard.middleware = middleware
    ctx = open_context(Path(args.hub_run), Path(args.config))
    limits = None
    if args.max_requests:
        n = args.max_requests
        limits = HttpLimits(max_requests=n, max_connections=n + n // 4, backlog=n)
    asyncio.run(
        serve(
            ctx.db_path,
            ctx.config,
            host="127.0.0.1",
            port=args.port,
            clock=ctx.clock,
            announce=lambda line: print(line, file=sys.stderr),
            limits=limits,
        )
    )
    return 0


class Hub:
    """A fresh hub database with ``units`` registered, served by a child process."""

    def __init__(
        self,
        root: Path,
        name: str,
        units: list[str],
        *,
        lifted: bool,
        port: int = 0,
        max_requests: int | None = None,
    ) -> None:
        self.dir = root / name
        self.dir.mkdir()
        self.path = self.dir / "hub.db"
        db = connect(self.path)
        now = datetime.now(UTC)
        self.tokens = {code: add_unit(db, now, code, f"乡镇{code}")[1] for code in units}
        db.close()
        self.size_before = checkpointed_size(self.path)
        self.port = port or free_port()
        config = write_config(self.dir, self.port)
        with config.open("a", encoding="utf-8") as out:
            out.write(_OPEN_CONFIG if lifted else _HUB_CONFIG)
        log = self.dir / "serve.log"
        self.serve = Serve(self.path, config, self.port, log)
        if lifted:
            self.serve = opened = OpenServe(self.path, config, self.port, log)
            opened.max_requests = max_requests
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Hub:
        self.serve.start(timeout=60)
        return self

    def stop(self) -> None:
        self.serve.stop()

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def received(self) -> Counter[str]:
        """Events stored per state (the hub stopped or not: a read)."""
        conn = sqlite3.connect(self.path)
        try:
            rows = conn.execute("SELECT state, count(*) FROM hub_events GROUP BY state").fetchall()
        finally:
            conn.close()
        return Counter({str(state): int(n) for state, n in rows})


def checkpointed_size(path: Path) -> int:
    """The database's bytes once its WAL is written back (nobody else must be writing)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def table_sizes(path: Path) -> list[tuple[str, int]] | None:
    """Bytes per table and index, largest first; ``None`` without SQLite's ``dbstat``."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return [(str(name), int(size)) for name, size in rows]


# ---- the drain and its baseline ------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    events: int
    requests: int
    accepted: int = 0


async def plain_loop(url: str, token: str, bodies: list[tuple[str, bytes]]) -> Run:
    """The baseline: one client, one connection, each body posted and its answer counted."""
    sent = headers(token)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    accepted = events = 0
    async with httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT_S), limits=limits) as client:
        start = time.perf_counter()
        for key, body in bodies:
            r = await client.post(
                f"{url}/v1/events", content=body, headers={**sent, IDEMPOTENCY_HEADER: key}
            )
            if r.status_code != 200:
                raise RuntimeError(f"the hub answered {r.status_code}: {r.text[:300]}")
            results = r.json()["results"]
            events += len(results)
            accepted += sum(1 for x in results if x["result"] == "accepted")
        elapsed = time.perf_counter() - start
    return Run(elapsed, events, len(bodies), accepted)


async def drain_loop(db_path: Path, url: str, token: str, unit: str, batch: int) -> Run:
    """:class:`Drain` as the engine runs it, step after step until nothing is left."""
    db = connect(db_path)
    drain = Drain(url, token, Projection(unit), SystemClock(), batch=batch)
    steps = sent = 0
    try:
        start = time.perf_counter()
        while True:
            report = await drain.step(db)
            steps += 1
            if report.error or report.dead or report.conflicts:
                raise RuntimeError(f"the drain failed: {report}")
            sent += report.sent
            if not report.more:
                break
        elapsed = time.perf_counter() - start
        pending, _oldest, dead = backlog(db)
        if pending or dead:
            raise RuntimeError(f"the drain stopped with {pending} pending, {dead} dead")
    finally:
        await drain.aclose()
        db.close()
    return Run(elapsed, sent, steps)


@dataclass
class Round:
    plain: Run
    drain: Run
    hub_bytes: int
    hub_events: int
    tables: list[tuple[str, int]] | None


def one_round(
    root: Path, r: int, town: Township, bodies: list[tuple[str, bytes]], batch: int
) -> Round:
    """A baseline run and a drain run, each against a fresh hub (the order alternates)."""
    out: dict[str, Any] = {}

    def plain() -> None:
        with Hub(root, f"plain{r}", [UNIT], lifted=True) as hub:
            out["plain"] = asyncio.run(plain_loop(hub.url, hub.tokens[UNIT], bodies))
        if hub.received()["applied"] != town.outbox:
            raise RuntimeError(f"the baseline's hub holds {hub.received()}")
        shutil.rmtree(hub.dir)

    def drain() -> None:
        path = root / f"drain{r}.db"
        shutil.copy(town.path, path)
        with Hub(root, f"drain{r}", [UNIT], lifted=True) as hub:
            out["drain"] = asyncio.run(drain_loop(path, hub.url, hub.tokens[UNIT], UNIT, batch))
        out["events"] = hub.received()["applied"]
        out["bytes"] = checkpointed_size(hub.path) - hub.size_before
        out["tables"] = table_sizes(hub.path)
        path.unlink()
        shutil.rmtree(hub.dir)

    for run in (plain, drain) if r % 2 == 0 else (drain, plain):
        run()
    return Round(out["plain"], out["drain"], out["bytes"], out["events"], out["tables"])


def bench_drain(root: Path, town: Township, args: argparse.Namespace, report: Report) -> None:
    batches = outbox_batches(town.path, UNIT, args.batch)
    bodies = [encode(UNIT, b) for b in batches]
    del batches
    size = sum(len(b) for _k, b in bodies)
    n = town.outbox
    progress(f"drain vs plain httpx, {args.reps} round(s) ...")
    rounds = [one_round(root, r, town, bodies, args.batch) for r in range(args.reps)]
    plain = [n / x.plain.seconds for x in rounds]
    drain = [n / x.drain.seconds for x in rounds]
    best_plain, best_drain = max(plain), max(drain)
    report.line(
        f"drain.httpx rate={rate(best_plain)} events/s (best of {rates(plain)}; {len(bodies):,}"
        f" POSTs of {args.batch} events, {size / len(bodies) / 1024:,.0f} KB each,"
        f" {size / n:,.0f} bytes/event; one connection)"
    )
    ratio = best_drain / best_plain
    best = max(rounds, key=lambda x: n / x.drain.seconds)
    report.check(
        "drain.uplink",
        f"rate={rate(best_drain)} events/s ratio_httpx={ratio:.2f} target>={RATIO_TARGET}"
        f" (best of {rates(drain)}; {best.drain.events:,} sent in {best.drain.seconds:.1f}s,"
        f" {best.drain.requests:,} steps)",
        ratio >= RATIO_TARGET,
    )
    complete = all(
        x.hub_events == n and x.drain.events == n and x.plain.accepted == n for x in rounds
    )
    report.check(
        "drain.complete",
        f"every hub applied all {n:,} events, each accepted once",
        complete,
    )
    growth = best.hub_bytes
    line = (
        f"hub.db_growth per_million={growth / n * 1e6 / 2**20:,.0f}MB"
        f" ({n:,} events: +{growth / 2**20:,.1f}MB, {growth / n:,.0f} bytes/event, after a"
        f" checkpoint; {size / n:,.0f} bytes/event on the wire)"
    )
    if best.tables:
        total = sum(s for _n, s in best.tables) or 1
        line += " largest: " + ", ".join(f"{name} {s / total:.0%}" for name, s in best.tables[:5])
    report.line(line)


# ---- townships pushing at once -------------------------------------------------------------


@dataclass
class Pushed:
    latencies: list[float] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    events: int = 0
    accepted: int = 0
    failed: int = 0


def township_bodies(
    template: list[list[OutboxEvent]], code: str, batches: int
) -> list[tuple[str, bytes]]:
    """``batches`` batches of the template's events as township ``code``'s, with fresh ids."""
    out = []
    for events in template[:batches]:
        fresh = [replace(e, id=uuid.uuid4().hex, unit=code) for e in events]
        out.append(encode(code, fresh))
    return out


async def push(
    url: str, token: str, address: str, bodies: list[tuple[str, bytes]], out: Pushed
) -> None:
    """One township: its batches one after the other, retried as the drain retries them."""
    sent = headers(token)
    transport = httpx.AsyncHTTPTransport(
        local_address=address,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )
    rng = random.Random(address)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(TIMEOUT_S)) as client:
        for key, body in bodies:
            first = time.perf_counter()
            failures = 0
            while True:
                wait: float | None = None
                try:
                    r = await client.post(
                        f"{url}/v1/events", content=body, headers={**sent, IDEMPOTENCY_HEADER: key}
                    )
                except httpx.TimeoutException:
                    out.retries["timeout"] += 1
                except httpx.TransportError as exc:
                    out.retries[type(exc).__name__] += 1
                else:
                    if r.status_code == 200:
                        results = r.json()["results"]
                        out.events += len(results)
                        out.accepted += sum(1 for x in results if x["result"] == "accepted")
                        out.latencies.append(time.perf_counter() - first)
                        break
                    if r.status_code not in (408, 429) and r.status_code < 500:
                        raise RuntimeError(f"the hub answered {r.status_code}: {r.text[:300]}")
                    out.retries[str(r.status_code)] += 1
                    wait = retry_after(r.headers.get("retry-after"), datetime.now(UTC))
                failures += 1
                if time.perf_counter() - first > HOLD_MAX_S:
                    out.failed += 1
                    break
                delay = backoff_s(failures, BACKOFF_MAX_S, rng.random)
                await asyncio.sleep(max(delay, wait or 0.0))


async def push_all(hub: Hub, plan: dict[str, list[tuple[str, bytes]]]) -> tuple[float, Pushed]:
    out = Pushed()
    codes = list(plan)
    start = time.perf_counter()
    await asyncio.gather(
        *(
            push(hub.url, hub.tokens[code], f"127.0.0.{2 + j}", plan[code], out)
            for j, code in enumerate(codes)
        )
    )
    return time.perf_counter() - start, out


def bench_townships(
    root: Path, town: Township, args: argparse.Namespace, n: int, report: Report
) -> None:
    """``n`` townships at once on the stock hub; for 200, again with the listener's caps raised
    (the same bodies: each hub is fresh)."""
    per = max(1, args.load_events // (n * args.batch))
    template = outbox_batches(town.path, UNIT, args.batch)
    codes = [f"T{j + 1:04d}" for j in range(n)]
    plan = {code: township_bodies(template, code, per) for code in codes}
    del template
    expected = sum(len(json.loads(b)["events"]) for bodies in plan.values() for _k, b in bodies)
    variants: list[tuple[str, int | None]] = [("", None)]
    if n > RAISED_REQUESTS // 2 and not args.quick:
        variants.append((".raised", RAISED_REQUESTS))
    for suffix, raised in variants:
        name = f"hub.townships{n}{suffix}"
        progress(f"{name}: {n} townships at once, {per} batch(es) each ...")
        hub = Hub(root, name, codes, lifted=raised is not None, max_requests=raised)
        with hub:
            seconds, out = asyncio.run(push_all(hub, plan))
        got = hub.received()
        shutil.rmtree(hub.dir)
        lat = sorted(x * 1000 for x in out.latencies)
        retries = " ".join(f"{k}={v:,}" for k, v in sorted(out.retries.items())) or "none"
        served = (
            "stock dutydesk serve --hub"
            if raised is None
            else f"serve with the listener's caps raised to {raised} requests at once and the"
            " rate limits lifted"
        )
        report.line(
            f"{name} rate={rate(out.events / seconds)} events/s"
            f" batch_p50={pct(lat, 50):,.0f}ms batch_p99={pct(lat, 99):,.0f}ms"
            f" max={lat[-1]:,.0f}ms ({n} townships x {per} batch(es) of {args.batch} ="
            f" {expected:,} events in {seconds:.1f}s; retries: {retries}; {served};"
            " one client and one address each)"
        )
        report.check(
            f"{name}.complete",
            f"applied={got['applied']:,} accepted={out.accepted:,} of {expected:,},"
            f" batches given up={out.failed}",
            got["applied"] == expected == out.accepted and not out.failed,
        )


# ---- the outage ----------------------------------------------------------------------------


class SimClock:
    """The drain's clock: set by hand during the outage, then running with the wall clock."""

    def __init__(self, start: datetime) -> None:
        self.at = start
        self._real_from: float | None = None

    def now(self) -> datetime:
        if self._real_from is None:
            return self.at
        return self.at + timedelta(seconds=time.monotonic() - self._real_from)

    def run(self) -> None:
        self._real_from = time.monotonic()


def reconnect_waits(outage_s: float, cap: float, n: int, seed: int) -> list[float]:
    """Seconds from the hub's return to the drain's next try, over ``n`` simulated outages.

    The drain tries at once when the hub goes away, then at each ``next_try_at``
    (:func:`uplink.drain.backoff_s` of the failures so far, rounded up to the second as
    ``Drain._fail`` stores it), looked at every :data:`POLL_S` by the engine.
    """
    rng = random.Random(seed)
    waits = []
    for _ in range(n):
        t, failures = 0.0, 0
        while t < outage_s:
            failures += 1
            t = max(t + math.ceil(backoff_s(failures, cap, rng.random)), t + POLL_S)
        waits.append(t - outage_s)
    return waits


async def outage_drain(
    db_path: Path, hub: Hub, unit: str, batch: int
) -> tuple[int, float, float, Run]:
    """The drain through an outage of :data:`OUTAGE_S`; (tries, simulated s, wait, run)."""
    db = connect(db_path)
    clock = SimClock(T0 + timedelta(seconds=OUTAGE_S))  # the outage starts at the backlog's end
    down = clock.at
    back = down + timedelta(seconds=OUTAGE_S)
    random.seed(SEED)  # Drain._fail's jitter
    drain = Drain(hub.url, hub.tokens[unit], Projection(unit), clock, batch=batch)
    tries = 0
    try:
        while clock.at < back:
            report = await drain.step(db)
            if report.sent:
                raise RuntimeError("the hub answered during the outage")
            if not report.waiting:
                continue
            tries += 1
            _failures, next_try = status.failures(db)
            assert next_try is not None
            clock.at = max(next_try, clock.at + timedelta(seconds=POLL_S))
        wait = (clock.at - back).total_seconds()
        hub.start()
        clock.run()
        steps = sent = 0
        start = time.perf_counter()
        while True:
            report = await drain.step(db)
            steps += 1
            if report.error or report.dead or report.conflicts:
                raise RuntimeError(f"the drain failed after the outage: {report}")
            sent += report.sent
            if not report.more:
                break
        elapsed = time.perf_counter() - start
        pending, _oldest, _dead = backlog(db)
        if pending:
            raise RuntimeError(f"{pending} events still pending after the catch-up")
    finally:
        await drain.aclose()
        db.close()
    return tries, (back - down).total_seconds(), wait, Run(elapsed, sent, steps)


def bench_outage(root: Path, args: argparse.Namespace, report: Report) -> None:
    events = args.busy_rate * OUTAGE_S // 60
    progress(f"outage: {events:,} events in 10 minutes ...")
    town = build_township(root / "outage.db", events, timedelta(seconds=OUTAGE_S), UNIT)
    hub = Hub(root, "outage", [UNIT], lifted=False)
    try:
        tries, down_s, wait, run = asyncio.run(outage_drain(town.path, hub, UNIT, args.batch))
    finally:
        hub.stop()
    got = hub.received()["applied"]
    waits = sorted(reconnect_waits(OUTAGE_S, BACKOFF_MAX_S, OUTAGE_SIMULATIONS, SEED))
    report.line(
        f"outage.catchup backlog={town.outbox:,} events ({args.busy_rate}/min for"
        f" {down_s / 60:.0f} min) reconnect_wait={wait:.0f}s (simulated: {tries} tries in the"
        f" outage, backoff up to {BACKOFF_MAX_S:.0f}s; over {OUTAGE_SIMULATIONS:,} outages"
        f" p50={pct(waits, 50):.0f}s p95={pct(waits, 95):.0f}s max={waits[-1]:.0f}s)"
        f" drain={run.seconds:.1f}s ({rate(run.events / run.seconds)} events/s, {run.requests}"
        f" steps) total={wait + run.seconds:.0f}s from the hub's return"
    )
    report.check(
        "outage.complete",
        f"applied={got:,} of {town.outbox:,}; stock dutydesk serve --hub",
        got == town.outbox == run.events,
    )


# ---- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS, help="events drained")
    parser.add_argument("--quick", action="store_true", help="10,000 events, smaller loads")
    parser.add_argument("--batch", type=int, default=BATCH, help="events per POST (1-500)")
    parser.add_argument("--reps", type=int, default=2, help="rounds of drain vs plain httpx")
    parser.add_argument(
        "--load-events", type=int, default=LOAD_EVENTS, help="events per townships scenario"
    )
    parser.add_argument(
        "--busy-rate", type=int, default=BUSY_RATE, help="events a minute in the outage"
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"what to run, of {','.join(PHASES)} (default: all)",
    )
    parser.add_argument("--out", type=Path, help="directory for the databases (kept)")
    # The child side of OpenServe: a hub with the rate limits lifted.
    parser.add_argument("--hub-run", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--max-requests", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hub_run:
        return hub_run_main(args)
    if args.quick:
        args.events = min(args.events, QUICK_EVENTS)
        args.reps = 1
        args.load_events = QUICK_LOAD_EVENTS
        args.busy_rate = min(args.busy_rate, 200)
    if not 1 <= args.batch <= 500:
        parser.error("--batch must be 1-500")
    phases = set(args.phases.split(","))
    if not phases <= set(PHASES):
        parser.error(f"--phases: unknown {', '.join(sorted(phases - set(PHASES)))}")

    report = Report()
    report.line(
        f"bench.uplink events={args.events:,} batch={args.batch} cores={os.cpu_count()}"
        f" load={load()} sqlite={sqlite3.sqlite_version} httpx={httpx.__version__}"
    )
    root = args.out or Path(tempfile.mkdtemp(prefix="dutydesk-bench-uplink-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        progress(f"township of {args.events:,} events ...")
        town = build_township(root / "township.db", args.events, timedelta(days=30), UNIT)
        report.line(
            f"data.township cases={town.cases:,} timeline={town.entries:,}"
            f" build={town.build_s:.1f}s (bulk_load)"
        )
        report.check(
            "project",
            f"entries={town.entries:,} events={town.outbox:,} time={town.project_s:.1f}s"
            f" rate={rate(town.entries / town.project_s)} entries/s"
            f" (uplink.outbox.project, {PROJECT_BATCH:,} a transaction)",
            town.outbox == args.events,
        )
        if "drain" in phases:
            bench_drain(root, town, args, report)
        if "townships" in phases:
            for n in TOWNSHIPS:
                bench_townships(root, town, args, n, report)
        if "outage" in phases:
            bench_outage(root, args, report)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    report.line(f"machine load={load()}")
    report.verdict()
    return 0 if not report.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
