"""Benchmark of a red warning down the chain: 20 townships x 150 grids, 叫应 and the roll-up.

One county hub database and ``--townships`` (20) township databases of ``--grids`` (150) grids
each, ten grids a community: every township its own jurisdiction (its units and people
imported as CSV through :func:`contacts.importer.import_contacts`), a leader on duty (post
``LD``) and a duty officer (post ``DO``) on daily rotations, a secretary per community, a leader
and two members per grid. The hub registers the townships (:func:`uplink.hub.add_unit`, a push
URL each). This is an in-process equivalent of 20 township processes: separate databases and
connections, and each township's work goes through the functions its engine runs, one
township after the other in this one thread (sequentially: on this 2-core machine 20
processes would share two cores, so the sums below bound what they would take). The HTTP
exchanges (the poke, ``GET /v1/units/{code}/inbox``, ``POST /v1/events``) are answered
in-process, no sockets: ``bench.uplink`` measures that path over loopback.

Figures, one line each, every one with a baseline measured in the same run and the ratio:

* ``push.started``: from ``alert issue`` at the hub (:func:`uplink.alerts.issue` +
  :func:`uplink.downlink.fan_out_alert`, one transaction, as the CLI does on a hub) until
  every township's 叫应 has started. Each township is poked (the hub's
  :func:`uplink.downlink.poke_request`, checked by the unit with
  :func:`~uplink.downlink.poke_signed`) and pulls at once: :class:`uplink.downlink.Puller`
  over an in-process transport answered by the hub's own functions (``authenticate``,
  ``inbox``: what ``GET /v1/units/{code}/inbox`` runs), each item taken with
  :func:`~uplink.downlink.take_item` in one transaction with the cursor (CAP parsed and
  validated, ``alerts.receive``, ``callanswer.maybe_start``: the call tree rebuilt for the
  area and the mobilization started). Target: under 60 s. The CAP schema is compiled once
  before (a township process pays it on its first alert: ``cold`` adds that cost once per
  township). Baseline: the same mobilization started by hand in each township (a copy of
  its database taken before the alert, the 叫应 tree built beforehand, then
  :func:`mobilization.start_mobilization` over it, broadcast, the same message: what
  ``dutydesk mobilize start`` does), summed over the townships.
* ``push.processes.warm`` / ``.cold``: the push again with one process per township (spawned,
  connections open, waiting), each pulling its own fresh copy from before the alert from a
  fresh copy of the hub the moment the alert is issued, all at once on this machine's cores:
  the real spread of 20 township engines. ``warm``: the CAP schema compiled at the process's
  start; ``cold``: on the first alert, with the modules the pull imports lazily (the engine
  does not compile it ahead today). Same target.
* ``poll.started``: the same with polling every ``[uplink] poll_seconds`` (60) instead of a
  poke: a township's expected latency is half the interval plus its measured pull; for all of
  them, each township's phase uniform in the interval, 10,000 simulated rounds (seeded) with
  the measured pull costs (the pull is the same code, only ``via`` differs).
* ``sent.all``: from ``alert issue`` until every responsible person of every township has
  been sent a message: after the pulls, each township's engine path
  (:func:`mobilization.process_due`, :func:`~mobilization.claim_pending`, a fast local sender
  (:class:`mobilization.channels.LogSender`, a file), :func:`~mobilization.record_deliveries`)
  until nothing is due. Baseline: the hand-started mobilizations above, sent the same way.
* ``rollup.*``: the county's view as answers arrive. First the receipts (签收) and the started
  calls, then ``--batches`` (5) batches, each a share of every township's people answering
  (:func:`mobilization.record_answer`, 90 % yes). Per batch, from the answers recorded at the
  townships until the hub's :func:`uplink.hub.alert_view` shows them all: each township's
  :func:`uplink.outbox.project_all` and the hub's :func:`uplink.hub.ingest` of its batches (200
  events, as the drain sends them), then the view. The simulated clock moves by the projection's
  ``summary_every`` (30 s) before each batch, so every township has a summary due (that
  interval is the protocol's own delay, not counted). Baseline: the hub's ``ingest`` alone of
  the very same batches into a copy of the hub taken just before.

The verdict is PASS when ``push.started`` is under its target and every check found what it
counted (every 叫应 started, every message sent, the hub showing every answer); else the exit
status is 1.

Not part of CI. Run from the repository root (under a minute on 2 cores; ``--quick`` a few
seconds)::

    python -m bench.warnings
    python -m bench.warnings --quick        # 4 townships x 30 grids
    python -m bench.warnings --townships 10 --grids 100
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file, this module's directory comes first on sys.path and its own name would
    # shadow the standard ``warnings`` module: put the repository root there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from bench.contacts import write_csv  # noqa: E402
from bench.report import Report, pct  # noqa: E402
from contacts.importer import import_contacts  # noqa: E402
from contacts.roster import add_post, add_rotation  # noqa: E402
from mobilization import (  # noqa: E402
    Delivery,
    Mode,
    Routing,
    Target,
    TargetKind,
    claim_pending,
    get_mobilization,
    process_due,
    record_answer,
    record_deliveries,
    start_mobilization,
)
from mobilization.channels import LogSender  # noqa: E402
from store.db import Database, connect, write  # noqa: E402
from uplink import alerts, cap, downlink, hub  # noqa: E402
from uplink.callanswer import CALL_TREE, build_call_tree, call_of  # noqa: E402
from uplink.callanswer_rules import WarningRules  # noqa: E402
from uplink.models import Batch  # noqa: E402
from uplink.outbox import Projection, mark_sent, project_all, sendable  # noqa: E402

TOWNSHIPS = 20
GRIDS = 150
QUICK_TOWNSHIPS = 4
QUICK_GRIDS = 30
GRIDS_PER_COMMUNITY = 10
MEMBERS_PER_GRID = 2  # grid members: people of the grid the 叫应 does not call
BATCHES = 5
YES_SHARE = 0.9
PUSH_TARGET_S = 60.0
POLL_S = 60  # [uplink] poll_seconds, default
POLL_SIMULATIONS = 10_000
UPLINK_BATCH = 200  # [uplink] batch, default
CALL_START = timedelta(minutes=15)  # [hub] call_start_minutes, default
SEED = 20261207
COUNTY = ("330106000000", "西湖区")
OPERATOR = "区应急值班员"
BASE_URL = "http://127.0.0.1:8480"
SPEC = {
    "event": "暴雨",
    "headline": "西湖区气象台发布暴雨红色预警信号",
    "description": "受强降雨云团影响，预计未来3小时全区累计降雨量将达100毫米以上，"
    "局地伴有短时强降水和雷暴大风。",
    "instruction": "请立即到岗带班，转移低洼地带和地质灾害隐患点群众，随时上报险情。",
}


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def progress(text: str) -> None:
    print(f"# {text}", file=sys.stderr, flush=True)


class OffsetClock:
    """The wall clock, moved forward by hand (``advance``): the roll-up's simulated minutes."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


# ---- the townships -------------------------------------------------------------------------


@dataclass
class Town:
    code: str
    name: str
    path: Path
    base: Path  # a copy taken before the alert, for the baseline
    people: int
    responsible: int  # LD + DO + a secretary per community + a leader per grid
    token: str = ""
    db: Database | None = None
    started_s: float = 0.0  # its 叫应 started, seconds after the alert was issued
    pull_s: float = 0.0
    deliver_s: float = 0.0
    sent: int = 0
    mobilization: int = 0
    recipients: list[int] = field(default_factory=list)

    @property
    def conn(self) -> Database:
        assert self.db is not None
        return self.db


def town_rows(
    t: int, grids: int
) -> tuple[str, str, list[list[str]], list[tuple[str, str, str, str, str, str]], int]:
    """The township's code and name, its units CSV rows and people rows, and how many of its
    people a 叫应 calls."""
    code = f"{COUNTY[0][:6]}{t + 1:03d}000"
    name = f"街道{t + 1}"
    units = [[code, name, "township", ""]]
    communities = max(1, grids // GRIDS_PER_COMMUNITY)
    com_codes = [f"{code[:9]}{c + 1:03d}" for c in range(communities)]
    units += [[c, f"{name}社区{i + 1}", "community", code] for i, c in enumerate(com_codes)]
    grid_codes = [f"G{t + 1:02d}{g // GRIDS_PER_COMMUNITY:03d}-{g % 10:02d}" for g in range(grids)]
    units += [
        [g, f"网格{i + 1}", "grid", com_codes[min(i // GRIDS_PER_COMMUNITY, communities - 1)]]
        for i, g in enumerate(grid_codes)
    ]
    people: list[tuple[str, str, str, str, str, str]] = []

    def add(unit: str, role: str) -> None:
        n = len(people)
        people.append((f"P{n:06d}", f"居民{t + 1}-{n}", unit, f"13{t + 1:02d}{n:07d}", role, ""))

    add(code, "值班长")  # P000000: the leader on duty (post LD)
    add(code, "值班员")  # P000001: the duty officer (post DO)
    for c in com_codes:
        add(c, "社区书记")
    for g in grid_codes:
        add(g, "网格长")
        for _m in range(MEMBERS_PER_GRID):
            add(g, "网格员")
    return code, name, units, people, 2 + communities + grids


def build_town(root: Path, t: int, grids: int, clock: OffsetClock) -> Town:
    code, name, units, people, responsible = town_rows(t, grids)
    path = root / f"{code}.db"
    db = connect(path, synchronous="NORMAL")
    units_csv = root / f"{code}-units.csv"
    with units_csv.open("w", encoding="utf-8", newline="") as out:
        out.write("code,name,level,parent\n")
        out.writelines(",".join(r) + "\n" for r in units)
    import_contacts(db, clock, "bench", units_csv)
    people_csv = root / f"{code}-people.csv"
    write_csv(people_csv, people)
    report = import_contacts(db, clock, "bench", people_csv)
    if report.total("added") != len(people):
        raise SystemExit(f"{code}: imported {report.total('added')} people of {len(people)}")
    since: date = (clock.now() - timedelta(days=2)).date()
    for post, post_name, key in (("LD", "带班领导", "P000000"), ("DO", "值班员", "P000001")):
        add_post(db, clock, "bench", post, post_name)
        add_rotation(
            db,
            clock,
            "bench",
            post,
            people=[key],
            starts_on=since,
            shift_start="08:00",
            shift_hours=24,
            zone="Asia/Shanghai",
        )
    db.close()
    base = root / f"{code}-base.db"
    shutil.copy(path, base)
    units_csv.unlink()
    people_csv.unlink()
    return Town(code, name, path, base, len(people), responsible)


def build_hub(path: Path, towns: list[Town], clock: OffsetClock) -> None:
    db = connect(path, synchronous="NORMAL")
    for i, town in enumerate(towns):
        _unit, town.token = hub.add_unit(db, clock.now(), town.code, town.name)
        downlink.set_push_url(db, town.code, f"http://127.0.0.{2 + i % 250}:8470")
    db.close()


# ---- the township's engine, in-process -----------------------------------------------------


def pull(hub_db: Database, town: Town, clock: OffsetClock, via: str) -> downlink.PullReport:
    """The township's engine pulling its inbox through :class:`uplink.downlink.Puller`; the HTTP
    exchange answered in-process by the hub's functions (what ``serve --hub`` runs for
    ``GET /v1/units/{code}/inbox``)."""

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        unit = hub.authenticate(hub_db, token, clock.now())
        after = downlink.check_cursor(request.url.params.get("after"))
        limit = downlink.check_limit(request.url.params.get("limit"))
        items, following = downlink.inbox(hub_db, unit.code, after, limit)
        return httpx.Response(200, json=downlink.inbox_json(unit.code, items, following, limit))

    async def run() -> downlink.PullReport:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            puller = downlink.Puller(
                BASE_URL, town.token, town.code, clock, client=client, rules=WarningRules()
            )
            return await puller.pull(town.conn, via=via)

    return asyncio.run(run())


def deliver(db: Database, clock: OffsetClock, sender: LogSender) -> int:
    """What the engine does now: every message due claimed, sent and recorded; returns how many."""
    routing = Routing()
    sent = 0
    while True:
        moved = process_due(db, clock)
        out, failed = claim_pending(db, clock, routing, claimer="bench")
        deliveries: list[Delivery] = list(failed)
        if out:
            deliveries += asyncio.run(sender.send(out))
        record_deliveries(db, clock, deliveries, routing)
        sent += sum(1 for d in deliveries if d.ok)
        if not (moved or out or failed):
            return sent


def send_up(hub_db: Database, town: Town, clock: OffsetClock) -> tuple[float, float, list[Batch]]:
    """The township's outbox projected, then ingested by the hub batch by batch (what the drain
    and ``POST /v1/events`` do). Returns (project s, ingest s, the batches)."""
    db = town.conn
    t0 = time.perf_counter()
    project_all(db, Projection(town.code), clock.now())
    project_s = time.perf_counter() - t0
    ingest_s = 0.0
    batches = []
    while events := sendable(db, town.code, UPLINK_BATCH):
        now = clock.now()
        t1 = time.perf_counter()
        hub.authenticate(hub_db, town.token, now)
        batch = Batch(town.code, tuple(e.event for e in events))
        key = f"bench-{town.code}-{events[0].row}"
        results = hub.ingest(hub_db, town.code, batch, now, key=key, body_hash=key)
        ingest_s += time.perf_counter() - t1
        batches.append(batch)
        with write(db):
            mark_sent(
                db, [(e.row, r.result.value) for e, r in zip(events, results, strict=True)], now
            )
    return project_s, ingest_s, batches


# ---- the phases ----------------------------------------------------------------------------


def baseline(
    towns: list[Town], clock: OffsetClock, root: Path, message: str
) -> tuple[float, float]:
    """Per township, on its copy from before the alert: the 叫应's tree built (not timed), then
    the same mobilization started by hand and sent. Returns (start s, send s) summed."""
    start_s = send_s = 0.0
    sender = LogSender(root / "baseline-sms.log", clock=clock)
    for town in towns:
        path = root / f"{town.code}-byhand.db"
        shutil.copy(town.base, path)
        db = connect(path)
        try:
            build_call_tree(db, clock, "bench", WarningRules())
            t0 = time.perf_counter()
            start_mobilization(
                db,
                clock,
                "bench",
                targets=[Target(TargetKind.NODE, "root")],
                message=message,
                mode=Mode.BROADCAST,
                tree=CALL_TREE,
            )
            t1 = time.perf_counter()
            sent = deliver(db, clock, sender)
            t2 = time.perf_counter()
        finally:
            db.close()
        if sent != town.responsible:
            raise SystemExit(f"{town.code}: baseline sent {sent}, expected {town.responsible}")
        start_s += t1 - t0
        send_s += t2 - t1
    return start_s, send_s


def poll_spread(costs: list[float], poll_s: float, n: int, seed: int) -> list[float]:
    """Seconds until every township has started, each polling with a uniform phase, over ``n``
    simulated rounds: max over townships of (phase + its pull)."""
    rng = random.Random(seed)
    return sorted(max(rng.uniform(0, poll_s) + c for c in costs) for _ in range(n))


def red_spec(now: datetime) -> alerts.AlertSpec:
    """The red 暴雨 warning over the whole county, in force six hours."""
    return alerts.AlertSpec(
        event=SPEC["event"],
        severity="Extreme",
        urgency="Immediate",
        certainty="Likely",
        headline=SPEC["headline"],
        description=SPEC["description"],
        instruction=SPEC["instruction"],
        area_desc=COUNTY[1],
        area_codes=(COUNTY[0],),
        expires=now + timedelta(hours=6),
        sender_name=COUNTY[1],
    )


@dataclass
class AlertRun:
    identifier: str
    issue_s: float
    started_s: float
    sent_s: float
    schema_s: float


def bench_alert(
    report: Report, hub_db: Database, towns: list[Town], clock: OffsetClock, root: Path
) -> AlertRun:
    """Issue, push, 叫应 started at every township, then every message sent."""
    t = time.perf_counter()
    cap.schema()
    schema_s = time.perf_counter() - t
    spec = red_spec(clock.now())
    for town in towns:
        town.db = connect(town.path)
    progress(f"red alert over {len(towns)} townships, pushed ...")
    t0 = time.perf_counter()
    with write(hub_db):
        record = alerts.issue(hub_db, clock, OPERATOR, spec, sender_code=COUNTY[0])
        units = downlink.fan_out_alert(hub_db, clock.now(), record)
    issue_s = time.perf_counter() - t0
    if sorted(units) != sorted(t.code for t in towns):
        raise SystemExit(f"fan_out_alert sent to {units}")
    by_code = {t.code: t for t in towns}
    targets = downlink.push_targets(hub_db)
    for target in targets:  # the hub's engine pokes each unit; each pulls at once
        town = by_code[target.unit]
        t1 = time.perf_counter()
        with write(hub_db):
            _url, body, headers = downlink.poke_request(target, time.time())
            downlink.poked(hub_db, clock.now(), target)
        stamp = headers[downlink.TIMESTAMP_HEADER]
        signature = headers[downlink.SIGNATURE_HEADER]
        if not downlink.poke_signed(downlink.poke_key(town.token), stamp, signature, body):
            raise SystemExit(f"{town.code}: the poke's signature does not verify")
        got = pull(hub_db, town, clock, "push")
        town.pull_s = time.perf_counter() - t1
        town.started_s = time.perf_counter() - t0
        if got.error or got.refused or got.received != 1:
            raise SystemExit(f"{town.code}: pull {got}")
    started_s = max(t.started_s for t in towns)
    started = 0
    for town in towns:
        call = call_of(town.conn, record.identifier)
        if call is not None:
            started += 1
            town.mobilization = call.mobilization_id
    progress("sending ...")
    sender = LogSender(root / "sms.log", clock=clock)
    for town in towns:
        t1 = time.perf_counter()
        town.sent = deliver(town.conn, clock, sender)
        town.deliver_s = time.perf_counter() - t1
    sent_s = time.perf_counter() - t0
    responsible = sum(t.responsible for t in towns)
    sent = sum(t.sent for t in towns)
    message = get_mobilization(towns[0].conn, towns[0].mobilization).message
    progress("baseline: the same mobilizations started by hand ...")
    base_start, base_send = baseline(towns, clock, root, message)

    n = len(towns)
    pulls = sorted(t.pull_s for t in towns)
    cold = started_s + n * schema_s
    report.line(
        f"alert.issue time={issue_s * 1000:,.0f}ms (alerts.issue + downlink.fan_out_alert, one"
        f" transaction; {len(record.xml):,} bytes of CAP; {len(units)} units queued)"
    )
    report.check(
        "push.started",
        f"time={started_s:.2f}s target<{PUSH_TARGET_S:.0f}s started={started}/{n}"
        f" ratio_by_hand={started_s / base_start:.2f} (by hand: start_mobilization of the same"
        f" trees {base_start:.2f}s summed; pull+take+叫应 per township p50={pct(pulls, 50):.2f}s"
        f" max={pulls[-1]:.2f}s, one after the other; cold={cold:.2f}s with the CAP schema"
        f" compiled by each township, {schema_s:.2f}s each)",
        started_s < PUSH_TARGET_S and started == n,
    )
    mean = sum(pulls) / n
    spread = poll_spread(pulls, POLL_S, POLL_SIMULATIONS, SEED)
    report.line(
        f"poll.started expected={POLL_S / 2 + mean:.1f}s per township (poll {POLL_S}s / 2 +"
        f" pull {mean:.2f}s) all: p50={pct(spread, 50):.1f}s p95={pct(spread, 95):.1f}s"
        f" max={spread[-1]:.1f}s ratio_push_all={pct(spread, 50) / started_s:.0f}"
        f" (p50 against push.started; each township's phase uniform in the interval,"
        f" {POLL_SIMULATIONS:,} simulated rounds with the measured pulls)"
    )
    delivers = sorted(t.deliver_s for t in towns)
    report.check(
        "sent.all",
        f"time={sent_s:.2f}s sent={sent:,}/{responsible:,} ratio_by_hand="
        f"{sent_s / (base_start + base_send):.2f} (by hand: start + send"
        f" {base_start + base_send:.2f}s summed; sending per township p50={pct(delivers, 50):.2f}s"
        f" max={delivers[-1]:.2f}s; LogSender; from the issue, townships one after the other)",
        sent == responsible,
    )
    return AlertRun(record.identifier, issue_s, started_s, sent_s, schema_s)


def pull_worker(
    hub_path: str,
    town_path: str,
    code: str,
    token: str,
    warm: bool,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    """One township's process: its connections open (and the CAP schema compiled when
    ``warm``), it waits for the poke, pulls, and says when its 叫应 had started."""
    hub_db = connect(hub_path)
    db = connect(town_path)
    try:
        if warm:
            cap.schema()
        town = Town(code, code, Path(town_path), Path(town_path), 0, 0, token=token, db=db)
        ready.put(code)
        go.wait()
        got = pull(hub_db, town, OffsetClock(), "push")
        end = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        calls = int(db.conn.execute("SELECT count(*) FROM call_answers").fetchone()[0])
        out.put((code, end, got.received, calls))
    finally:
        db.close()
        hub_db.close()


def bench_processes(
    report: Report, towns: list[Town], hub_base: Path, root: Path, spec: alerts.AlertSpec
) -> None:
    """The push again with one process per township (pulling at the same moment, on this
    machine's cores), on fresh copies of the hub and townships from before the alert: with
    the CAP schema compiled at each process's start (``warm``) and on its first alert
    (``cold``, as the engine is today)."""
    ctx = multiprocessing.get_context("spawn")
    n = len(towns)
    for variant in ("warm", "cold"):
        progress(f"push with {n} township processes ({variant}) ...")
        folder = root / f"processes-{variant}"
        folder.mkdir()
        hub_path = folder / "hub.db"
        shutil.copy(hub_base, hub_path)
        paths = {}
        for town in towns:
            paths[town.code] = folder / f"{town.code}.db"
            shutil.copy(town.base, paths[town.code])
        ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [
            ctx.Process(
                target=pull_worker,
                args=(
                    str(hub_path),
                    str(paths[t.code]),
                    t.code,
                    t.token,
                    variant == "warm",
                    ready,
                    go,
                    out,
                ),
            )
            for t in towns
        ]
        for proc in procs:
            proc.start()
        try:
            for _proc in procs:
                ready.get(timeout=300)
            clock = OffsetClock()
            hub_db = connect(hub_path)
            try:
                t0 = time.perf_counter()
                with write(hub_db):
                    record = alerts.issue(hub_db, clock, OPERATOR, spec, sender_code=COUNTY[0])
                    downlink.fan_out_alert(hub_db, clock.now(), record)
                go.set()  # every township poked at once
                results = [out.get(timeout=300) for _proc in procs]
            finally:
                hub_db.close()
        finally:
            for proc in procs:
                proc.join(timeout=60)
                if proc.is_alive():
                    proc.terminate()
        ends = sorted(end - t0 for _code, end, _got, _calls in results)
        started = sum(1 for _code, _end, got, calls in results if got == 1 and calls == 1)
        report.check(
            f"push.processes.{variant}",
            f"time={ends[-1]:.2f}s target<{PUSH_TARGET_S:.0f}s started={started}/{n}"
            f" first={ends[0]:.2f}s p50={pct(ends, 50):.2f}s ({n} township processes on"
            f" {os.cpu_count()} cores, poked at once after the issue; CAP schema compiled"
            + (" at the process's start)" if variant == "warm" else " on the first alert)"),
            ends[-1] < PUSH_TARGET_S and started == n,
        )
        shutil.rmtree(folder, ignore_errors=True)


def shadow(hub_db: Database, path: Path) -> Database:
    """A copy of the hub as it is now (SQLite's backup), for the ingest-only baseline."""
    path.unlink(missing_ok=True)
    target = sqlite3.connect(path)
    hub_db.conn.backup(target)
    target.close()
    return connect(path)


def replay(db: Database, plan: list[tuple[Town, list[Batch]]], clock: OffsetClock) -> float:
    """``hub.ingest`` alone of the same batches; seconds."""
    spent = 0.0
    for town, batches in plan:
        for i, batch in enumerate(batches):
            now = clock.now()
            key = f"shadow-{town.code}-{i}-{clock.offset.total_seconds():.0f}"
            t = time.perf_counter()
            hub.ingest(db, town.code, batch, now, key=key, body_hash=key)
            spent += time.perf_counter() - t
    return spent


def rollup_round(
    name: str,
    report: Report,
    hub_db: Database,
    towns: list[Town],
    clock: OffsetClock,
    identifier: str,
    root: Path,
    expect: Callable[[dict[str, Any]], bool],
    answers: int,
    answer_s: float,
) -> None:
    copy = shadow(hub_db, root / "shadow.db")
    t0 = time.perf_counter()
    project_s = ingest_s = 0.0
    plan = []
    for town in towns:
        p, i, batches = send_up(hub_db, town, clock)
        project_s += p
        ingest_s += i
        plan.append((town, batches))
    t1 = time.perf_counter()
    view = hub.alert_view(hub_db, identifier, clock.now(), CALL_START)
    view_s = time.perf_counter() - t1
    latency = time.perf_counter() - t0
    try:
        base = replay(copy, plan, clock)
    finally:
        copy.close()
    totals = view.totals
    events = sum(len(b.events) for _t, bs in plan for b in bs)
    report.check(
        name,
        f"latency={latency:.2f}s ratio_ingest={latency / base:.2f} (answers={answers:,} recorded"
        f" in {answer_s:.2f}s before; {events:,} events; project={project_s:.2f}s"
        f" ingest={ingest_s:.2f}s view={view_s * 1000:.0f}ms; ingest alone on a copy"
        f" {base:.2f}s) hub: started={totals['started']}/{totals['units']}"
        f" yes={totals['yes']:,} no={totals['no']:,} answered={totals['answered']:,}"
        f"/{totals['people']:,}",
        expect(totals),
    )


def bench_rollup(
    report: Report,
    hub_db: Database,
    towns: list[Town],
    clock: OffsetClock,
    identifier: str,
    root: Path,
    batches: int,
) -> None:
    n = len(towns)
    people = sum(t.responsible for t in towns)
    rollup_round(
        "rollup.receipts",
        report,
        hub_db,
        towns,
        clock,
        identifier,
        root,
        lambda x: x["started"] == n and x["people"] == people,
        0,
        0.0,
    )
    rng = random.Random(SEED)
    for town in towns:
        town.recipients = [
            int(r[0])
            for r in town.conn.conn.execute(
                "SELECT id FROM recipients WHERE mobilization_id = ? ORDER BY id",
                (town.mobilization,),
            )
        ]
        rng.shuffle(town.recipients)
    answered = yes = 0
    for k in range(batches):
        clock.advance(Projection("x").summary_every + timedelta(seconds=1))
        t = time.perf_counter()
        count = 0
        for town in towns:
            share = town.recipients[
                len(town.recipients) * k // batches : len(town.recipients) * (k + 1) // batches
            ]
            for rid in share:
                said = rng.random() < YES_SHARE
                record_answer(town.conn, clock, "sms", yes=said, via="sms", recipient_id=rid)
                yes += said
                count += 1
        answer_s = time.perf_counter() - t
        answered += count
        want = answered

        def expect(x: dict[str, Any], want: int = want, yes: int = yes) -> bool:
            return bool(x["answered"] == want and x["yes"] == yes)

        rollup_round(
            f"rollup.batch{k + 1}",
            report,
            hub_db,
            towns,
            clock,
            identifier,
            root,
            expect,
            count,
            answer_s,
        )


# ---- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--townships", type=int, default=TOWNSHIPS)
    parser.add_argument("--grids", type=int, default=GRIDS, help="grids per township")
    parser.add_argument("--batches", type=int, default=BATCHES, help="batches of answers")
    parser.add_argument("--quick", action="store_true", help="4 townships x 30 grids")
    parser.add_argument(
        "--no-processes",
        dest="processes",
        action="store_false",
        help="skip the push with one process per township",
    )
    parser.add_argument("--out", type=Path, help="directory for the databases (kept)")
    args = parser.parse_args(argv)
    if args.quick:
        args.townships, args.grids = QUICK_TOWNSHIPS, QUICK_GRIDS
    if not 1 <= args.townships <= 999 or args.grids < 1 or args.batches < 1:
        parser.error("--townships 1-999, --grids and --batches at least 1")
    report = Report()
    report.line(
        f"bench.warnings townships={args.townships} grids={args.grids} per township"
        f" cores={os.cpu_count()} load={load()} sqlite={sqlite3.sqlite_version}"
    )
    root = args.out or Path(tempfile.mkdtemp(prefix="dutydesk-bench-warnings-"))
    root.mkdir(parents=True, exist_ok=True)
    clock = OffsetClock()
    towns: list[Town] = []
    hub_db: Database | None = None
    try:
        progress(f"{args.townships} townships of {args.grids} grids ...")
        t = time.perf_counter()
        towns = [build_town(root, i, args.grids, clock) for i in range(args.townships)]
        hub_path = root / "hub.db"
        build_hub(hub_path, towns, clock)
        report.line(
            f"data townships={len(towns)} grids={args.grids * len(towns):,}"
            f" people={sum(x.people for x in towns):,}"
            f" responsible={sum(x.responsible for x in towns):,}"
            f" build={time.perf_counter() - t:.1f}s"
            " (import_contacts per township, posts LD and DO)"
        )
        hub_base = root / "hub-base.db"
        shutil.copy(hub_path, hub_base)
        hub_db = connect(hub_path)
        run = bench_alert(report, hub_db, towns, clock, root)
        if args.processes:
            bench_processes(report, towns, hub_base, root, red_spec(clock.now()))
        progress("roll-up ...")
        bench_rollup(report, hub_db, towns, clock, run.identifier, root, args.batches)
    finally:
        for town in towns:
            if town.db is not None:
                town.db.close()
        if hub_db is not None:
            hub_db.close()
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    report.line(f"machine load={load()}")
    report.verdict()
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
