"""Benchmark of mobilization sending: 30,000 people, the ``sms`` channel, a local gateway.

Builds once, into a temporary directory, a county of 20 townships, 300 communities and 3,000
grids with 30,000 people (``--people``; grids = people / 10): one duty officer (post ``DO``,
on a daily rotation), 300 community secretaries, 3,000 grid leaders, the rest grid members and,
in every other grid, one volunteer. Units and people go in as CSV through
:func:`contacts.importer.import_contacts`, the tree through
:func:`mobilization.trees.build_default_tree` (timeouts 300 s, 1 repeat). Phones are distinct CN
mobiles. Each phase works on its own copy of that database file.

The gateway (:mod:`bench.gateway_server`) is an aiohttp server in a subprocess, so it does not
share the GIL with the client being measured; it answers 200 at once and counts messages,
requests and bytes. One gateway serves every phase. Figures, one line each, then a verdict
(PASS when the two targets are met: ratio to httpx >= 0.8, batched under 5 s):

* ``send.httpx``: plain ``httpx`` loops posting the same 30,000 bodies the engine sends (same
  recipients, phones, texts with their ack codes and signed links, same JSON encoding; the
  attempt ids are fresh ``uuid4().hex`` of the same length, since the engine's own are only
  made by :func:`mobilization.process_due` once it runs; ``bytes/message`` of each side
  is printed). Shapes tried on a 3,000 sample, best of two rounds: K async clients of one
  connection each with K workers, one async client with K connections, K threads each with a
  synchronous ``httpx.Client``. The best async shape and the best threaded shape then go on
  all bodies; the faster of the two is "the fastest plain httpx loop" of the target. The
  threaded synchronous client is often the fastest httpx on this machine (no anyio layer),
  so the ratio to the best async shape is printed as well (``ratio_httpx_async``).
* ``send.aiohttp``: one ``aiohttp.ClientSession`` (connector limit K, K workers), best K: the
  ceiling of this machine.
* ``send.sender_only``: :class:`mobilization.channels.SmsSender` alone (no database) sending the
  same messages in chunks of 500, 8 at a time as the engine hands them over: splits the gap
  between httpx and the engine into the sender's share and the engine's.
* ``send.mobilization``: a broadcast mobilization of the whole tree started with
  :func:`mobilization.start_mobilization` (its time is ``start.broadcast``, not part of
  the rate), then the real :class:`console.engine.Engine` (asyncio, default
  ``EngineOptions``) with ``[channels.sms] url``, no batch, ``concurrency`` = the K of the best
  async httpx shape (``--concurrency``); wall time from the engine's start to the last
  delivery recorded in the database (``Engine.sent`` polled every 5 ms; checked against the
  database and the gateway's count). The engine runs in a child process of this script
  (``--engine-run``), so its CPU time and memory are its own and not those of the baselines'
  bodies and clients held here. The machine is shared and throughput figures wander by
  10-20 %: the httpx loops, aiohttp, the bare sender and the engine run in ``--reps`` rounds
  back to back, and each figure is its best round (all rounds printed).
* ``engine.split``: wall time inside ``process_due``, ``claim_pending`` and
  ``record_deliveries`` as :mod:`console.engine` calls them (wrapped in the child), the rest
  being the sender and the event loop. ``engine.cpu``: CPU seconds of the engine's process per
  1,000 notifications. ``memory``: its RSS before the engine starts and the peak, sampled
  every 50 ms.
* ``send.batched100``: the same with ``batch = 100``; target: all sent within 5 s.
* ``first_level.sent``: a cascade to every grid (3,000 ``grid:`` targets), unbatched: seconds
  until the 3,000 grid leaders (level 0) are all recorded sent.
* ``escalation.settle``: a cascade from the root with a compressed clock (:class:`ScaledClock`,
  ``--factor`` simulated seconds per real second, default 100); 30 % of the people, chosen
  with a fixed seed, answer (60 % yes) through :func:`mobilization.record_answer` from a
  thread with its own connection (and wake the engine, as the ack endpoint does), at a random
  simulated delay of 0 to (repeats + 1) x timeout after their first message; the rest stay
  silent. Real and simulated time from ``start_mobilization`` until the mobilization is
  ``completed``, the final counts, and for reference the time a branch silent all the way
  down takes (levels x (repeats + 1) x timeout). The engine runs in this process, next to the
  answering thread. The sms channel is batched (``--settle-batch``, 100) so the figure is
  about escalation and answers, not the per-request HTTP cost measured above. The engine
  still ticks in real time (0.2 s), and when it cannot keep up with the compressed clock the
  simulated time stretches: the gap to the silent-branch time is the engine's lag.

Not part of CI. Run from the repository root (about 5-6 minutes on 2 cores)::

    python -m bench.mobilize
    python -m bench.mobilize --quick            # 3,000 people, 300 grids
    python -m bench.mobilize --people 10000 --reps 1
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file, this module's directory comes first on sys.path and its own name would
    # shadow the ``contacts`` package: put the repository root there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import heapq  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402

import console.engine as engine_module  # noqa: E402
from bench.contacts import write_csv  # noqa: E402
from console.config import Config, parse_config  # noqa: E402
from console.context import keys_for  # noqa: E402
from console.engine import Engine, EngineOptions  # noqa: E402
from contacts.importer import import_contacts  # noqa: E402
from contacts.roster import add_post, add_rotation  # noqa: E402
from mobilization import (  # noqa: E402
    DEFAULT_TREE,
    Delivery,
    Outgoing,
    SmsSender,
    SmsSettings,
    Target,
    build_default_tree,
    get_mobilization,
    get_tree,
    make_token,
    record_answer,
    start_mobilization,
    summary,
)
from mobilization.delivery import notify_text  # noqa: E402 - the call-out, as the engine writes it
from store.clock import Clock, SystemClock, from_iso  # noqa: E402
from store.db import connect  # noqa: E402
from store.errors import DatabaseBusy, DutydeskError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RATIO_TARGET = 0.8
BATCHED_TARGET_S = 5.0
BATCH = 100
TOWNSHIPS = 20
GRIDS_PER_COMMUNITY = 10
SAMPLE = 3_000
TRIAL_ROUNDS = 2
HTTPX_SHAPES: tuple[tuple[str, int], ...] = (
    *(("clients", k) for k in (1, 4, 8, 16)),
    ("pool", 8),
    *(("sync-threads", k) for k in (1, 2, 4)),
)
AIOHTTP_KS = (1, 4, 8, 16, 32, 64)
ANSWER_SHARE = 0.3
YES_SHARE = 0.6
SEED = 13
MESSAGE = (
    "【防汛】北山街道发布暴雨红色预警，今晚22时起降雨持续加强，请所有网格员、志愿者立即到岗，"
    "巡查低洼地带、地下车库和危旧房屋，转移群众并随时上报情况。"
)
BASE_URL = "http://127.0.0.1:8470"
HEADERS = {"Content-Type": "application/json", "User-Agent": "dutydesk"}
Body = tuple[str, bytes]

# ---- the county --------------------------------------------------------------------------


@dataclass
class County:
    grids: list[str]
    communities: int
    townships: int
    people: int
    leaders: int


def unit_rows(grids: int) -> tuple[list[list[str]], list[str], list[str], list[str]]:
    """Rows of the units CSV, and the township, community and grid codes."""
    communities = max(1, grids // GRIDS_PER_COMMUNITY)
    townships = max(1, min(TOWNSHIPS, communities))
    rows = [["330106000000", "西湖区", "county", ""]]
    town_codes = [f"330106{t + 1:03d}000" for t in range(townships)]
    rows += [
        [code, f"街道{t + 1}", "township", "330106000000"] for t, code in enumerate(town_codes)
    ]
    com_codes: list[str] = []
    for c in range(communities):
        town = c % townships
        code = f"{town_codes[town][:9]}{c // townships + 1:03d}"
        com_codes.append(code)
        rows.append([code, f"社区{c + 1}", "community", town_codes[town]])
    grid_codes: list[str] = []
    for g in range(grids):
        code = f"G{g // GRIDS_PER_COMMUNITY:04d}-{g % GRIDS_PER_COMMUNITY:02d}"
        grid_codes.append(code)
        rows.append([code, f"网格{g + 1}", "grid", com_codes[min(g // 10, communities - 1)]])
    return rows, town_codes, com_codes, grid_codes


def people_rows(
    people: int, towns: list[str], communities: list[str], grids: list[str]
) -> list[tuple[str, str, str, str, str, str]]:
    """One duty officer, a secretary per community, a leader per grid, members, volunteers."""
    rows: list[tuple[str, str, str, str, str, str]] = []

    def add(unit: str, role: str) -> None:
        n = len(rows)
        phone = f"139{n:08d}"
        written = f"{phone[:3]} {phone[3:7]} {phone[7:]}" if n % 3 == 0 else phone
        rows.append((f"P{n:06d}", f"居民{n}", unit, written, role, ""))

    add(towns[0], "值班员")
    for code in communities:
        add(code, "社区书记")
    for code in grids:
        add(code, "网格长")
    left = people - len(rows)
    for n in range(left):
        g = n % len(grids)
        volunteer = g % 2 == 0 and n // len(grids) == 0
        add(grids[g], "志愿者" if volunteer else "网格员")
    return rows


def build(root: Path, people: int, clock: Clock) -> tuple[Path, County, dict[str, float]]:
    """The database every phase copies; returns it, the county and build timings."""
    grids_n = max(1, people // 10)
    units, towns, communities, grids = unit_rows(grids_n)
    timings: dict[str, float] = {}
    path = root / "base.db"
    db = connect(path, synchronous="NORMAL")
    units_csv = root / "units.csv"
    with units_csv.open("w", encoding="utf-8", newline="") as out:
        out.write("code,name,level,parent\n")
        out.writelines(",".join(r) + "\n" for r in units)
    start = time.perf_counter()
    import_contacts(db, clock, "bench", units_csv)
    timings["units"] = time.perf_counter() - start
    people_csv = root / "people.csv"
    write_csv(people_csv, people_rows(people, towns, communities, grids))
    start = time.perf_counter()
    report = import_contacts(db, clock, "bench", people_csv)
    timings["people"] = time.perf_counter() - start
    if report.total("added") != people:
        raise SystemExit(f"imported {report.total('added')} people, expected {people}")
    add_post(db, clock, "bench", "DO", "值班员")
    add_rotation(
        db,
        clock,
        "bench",
        "DO",
        people=["P000000"],
        starts_on=(clock.now() - timedelta(days=2)).date(),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    start = time.perf_counter()
    build_default_tree(db, clock, "bench")
    timings["tree"] = time.perf_counter() - start
    db.close()
    county = County(grids, len(communities), len(towns), people, len(grids))
    return path, county, timings


# ---- the gateway -------------------------------------------------------------------------


class Gateway:
    """``bench.gateway_server`` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/send"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.gateway_server", "--port", str(self.port)],
            cwd=REPO,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.base}/count", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the gateway did not start") from None
                time.sleep(0.05)

    def reset(self) -> None:
        httpx.post(f"{self.base}/reset", timeout=5)

    def count(self) -> dict[str, int]:
        data: dict[str, int] = httpx.get(f"{self.base}/count", timeout=5).json()
        return data

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- plain-client baselines --------------------------------------------------------------


def bodies_of(db_path: Path, mob_id: int) -> list[Body]:
    """The bodies the engine will send for a freshly started mobilization, byte for byte.

    Same recipients, addresses, ack codes and signed links, the same text
    (:func:`mobilization.delivery.notify_text`) and the same JSON encoding as ``SmsSender``; the
    attempt ids are made as :func:`mobilization.process_due` makes them (``uuid4().hex``)
    when the engine runs, so they differ but have the same length.
    """
    db = connect(db_path)
    mob = get_mobilization(db, mob_id)
    # The ring the engine will sign with: the database's key file, made on first use.
    key = keys_for(db, db_path, Config(path=None)).current
    rows = db.conn.execute(
        "SELECT r.id, r.ack_code, p.phone FROM recipients r JOIN people p ON p.id = r.person_id"
        " WHERE r.mobilization_id = ? ORDER BY r.id",
        (mob_id,),
    ).fetchall()
    db.close()
    out: list[Body] = []
    for rid, code, phone in rows:
        attempt_id = uuid.uuid4().hex  # what process_due gives each attempt
        url = f"{BASE_URL}/ack/{make_token(key, int(rid), mob.expires_at)}"
        body = {
            "id": attempt_id,
            "to": phone,
            "text": notify_text(mob, code, url),
            "kind": "notify",
            "exercise": mob.exercise,
            "ack_code": code,
            "ack_url": url,
        }
        out.append(
            (attempt_id, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
        )
    return out


async def _workers(k: int, bodies: list[Body], post: Callable[[Body], Awaitable[None]]) -> None:
    it: Iterator[Body] = iter(bodies)

    async def work() -> None:
        for body in it:
            await post(body)

    await asyncio.gather(*(work() for _ in range(k)))


def _check(status: int) -> None:
    if status != 200:
        raise RuntimeError(f"gateway answered {status}")


async def httpx_clients(url: str, k: int, bodies: list[Body]) -> float:
    """K async clients of one connection each, K workers; seconds for all bodies."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(limits=limits, timeout=10, headers=HEADERS) for _ in range(k)]
    idle = list(clients)

    async def post(body: Body) -> None:
        client = idle.pop()
        try:
            r = await client.post(url, content=body[1], headers={"Idempotency-Key": body[0]})
            _check(r.status_code)
        finally:
            idle.append(client)

    start = time.perf_counter()
    await _workers(k, bodies, post)
    elapsed = time.perf_counter() - start
    for client in clients:
        await client.aclose()
    return elapsed


async def httpx_pool(url: str, k: int, bodies: list[Body]) -> float:
    """One async client with K connections, K workers."""
    limits = httpx.Limits(max_connections=k, max_keepalive_connections=k)
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=HEADERS) as client:

        async def post(body: Body) -> None:
            r = await client.post(url, content=body[1], headers={"Idempotency-Key": body[0]})
            _check(r.status_code)

        start = time.perf_counter()
        await _workers(k, bodies, post)
        return time.perf_counter() - start


def httpx_threads(url: str, k: int, bodies: list[Body]) -> float:
    """K threads, each a synchronous ``httpx.Client`` (one connection) in a plain loop."""
    it = iter(bodies)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with httpx.Client(timeout=10, headers=HEADERS) as client:
                while True:
                    with lock:
                        body = next(it, None)
                    if body is None:
                        return
                    r = client.post(url, content=body[1], headers={"Idempotency-Key": body[0]})
                    _check(r.status_code)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(k)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


async def aiohttp_loop(url: str, k: int, bodies: list[Body]) -> float:
    """One ``aiohttp.ClientSession`` with a connector limit of K, K workers."""
    connector = aiohttp.TCPConnector(limit=k)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:

        async def post(body: Body) -> None:
            async with session.post(url, data=body[1], headers={"Idempotency-Key": body[0]}) as r:
                await r.read()
                _check(r.status)

        start = time.perf_counter()
        await _workers(k, bodies, post)
        return time.perf_counter() - start


def run_httpx(shape: str, url: str, k: int, bodies: list[Body]) -> float:
    if shape == "clients":
        return asyncio.run(httpx_clients(url, k, bodies))
    if shape == "pool":
        return asyncio.run(httpx_pool(url, k, bodies))
    return httpx_threads(url, k, bodies)


# ---- running the engine ------------------------------------------------------------------


class ScaledClock:
    """A clock running ``factor`` times faster than the wall clock from ``start``."""

    def __init__(self, start: datetime, factor: float) -> None:
        self.start = start
        self.factor = factor
        self.m0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.m0) * self.factor)


class RssSampler:
    """Peak RSS of this process, sampled every 50 ms on a thread."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.before = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)


def sms_config(url: str, concurrency: int, batch: int = 1) -> Config:
    batch_line = f"batch = {batch}\n" if batch > 1 else ""
    return parse_config(
        f'[serve]\npublic_url = "{BASE_URL}"\n'
        f'[channels.sms]\nurl = "{url}"\nconcurrency = {concurrency}\n{batch_line}'
    )


@dataclass
class EngineRun:
    seconds: float
    cpu: float
    sent: int
    last_error: str | None


async def _drive(
    db_path: Path,
    config: Config,
    clock: Clock,
    done: Callable[[Engine], bool],
    options: EngineOptions,
    limit_s: float,
    wake: list[Callable[[], None]] | None = None,
) -> EngineRun:
    engine = Engine(db_path, config, clock=clock, options=options)
    if wake is not None:
        wake.append(engine.wake)
    stop = asyncio.Event()
    cpu0 = time.process_time()
    start = time.perf_counter()
    task = asyncio.ensure_future(engine.run(stop))
    try:
        while not done(engine):
            if task.done():
                raise RuntimeError(f"the engine stopped: {engine.last_error}")
            if time.perf_counter() - start > limit_s:
                raise RuntimeError(f"not done within {limit_s:.0f} s (sent {engine.sent})")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    finally:
        stop.set()
        await task
    return EngineRun(elapsed, cpu, engine.sent, engine.last_error)


def run_engine(
    db_path: Path,
    config: Config,
    clock: Clock,
    done: Callable[[Engine], bool],
    *,
    options: EngineOptions | None = None,
    limit_s: float = 600,
    wake: list[Callable[[], None]] | None = None,
) -> EngineRun:
    return asyncio.run(
        _drive(db_path, config, clock, done, options or EngineOptions(), limit_s, wake)
    )


@dataclass
class ChildRun:
    """What ``--engine-run`` reports: the engine alone in a fresh interpreter."""

    seconds: float
    cpu: float
    sent: int
    rss_before: int
    rss_peak: int
    split: dict[str, tuple[int, float]]
    last_error: str | None


def engine_child(db_path: Path, url: str, concurrency: int, batch: int, until: int) -> ChildRun:
    """Run the engine over ``db_path`` in a child process until ``until`` deliveries are recorded.

    A process of its own, so its CPU time and memory are the engine's alone (not the bodies and
    clients of the baselines kept by this one), and this process sits idle meanwhile.
    """
    command = [sys.executable, "-m", "bench.mobilize", "--engine-run", str(db_path)]
    command += ["--url", url, "--concurrency", str(concurrency), "--batch", str(batch)]
    command += ["--until", str(until)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the engine run failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    data["split"] = {k: (int(v[0]), float(v[1])) for k, v in data["split"].items()}
    return ChildRun(**data)


def engine_run_main(args: argparse.Namespace) -> int:
    """``--engine-run DB``: the child side of :func:`engine_child`; prints one JSON line."""
    config = sms_config(args.url, args.concurrency, args.batch)
    until = args.until
    with RssSampler() as rss, Split() as split:
        run = run_engine(Path(args.engine_run), config, SystemClock(), lambda e: e.sent >= until)
    result = ChildRun(
        run.seconds, run.cpu, run.sent, rss.before, rss.peak, split.calls, run.last_error
    )
    print(json.dumps(result.__dict__))
    return 0


def sent_in_db(db_path: Path, mob_id: int) -> int:
    db = connect(db_path)
    row = db.conn.execute(
        "SELECT count(*) FROM attempts a JOIN recipients r ON r.id = a.recipient_id"
        " WHERE r.mobilization_id = ? AND a.state = 'sent' AND a.kind = 'notify'",
        (mob_id,),
    ).fetchone()
    db.close()
    return int(row[0])


def start(db_path: Path, clock: Clock, targets: list[Target], mode: str) -> tuple[int, float]:
    db = connect(db_path)
    t0 = time.perf_counter()
    mob_id = start_mobilization(db, clock, "bench", targets=targets, message=MESSAGE, mode=mode)
    elapsed = time.perf_counter() - t0
    db.close()
    return mob_id, elapsed


# ---- escalation with a compressed clock --------------------------------------------------


@dataclass
class Answerer:
    """Answers for a share of the people at a simulated delay after their first message."""

    db_path: Path
    clock: Clock
    mob_id: int
    plans: dict[int, tuple[float, bool]]  # person id -> (delay s, yes)
    wake: list[Callable[[], None]]
    answered: int = 0
    busy: int = 0
    refused: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        db = connect(self.db_path)
        due: list[tuple[datetime, int, bool]] = []
        seen: set[int] = set()
        mark = "0000"
        try:
            while not self.stop.is_set():
                rows = db.conn.execute(
                    "SELECT id, person_id, first_sent_at FROM recipients WHERE"
                    " mobilization_id = ? AND first_sent_at >= ?",
                    (self.mob_id, mark),
                ).fetchall()
                for rid, pid, first in rows:
                    if rid in seen:
                        continue
                    seen.add(rid)
                    mark = max(mark, first)
                    plan = self.plans.get(int(pid))
                    if plan is not None:
                        at = from_iso(first) + timedelta(seconds=plan[0])
                        heapq.heappush(due, (at, int(rid), plan[1]))
                now = self.clock.now()
                answered = 0
                while due and due[0][0] <= now and not self.stop.is_set():
                    at, rid, yes = heapq.heappop(due)
                    try:
                        record_answer(
                            db, self.clock, "bench", yes=yes, via="bench", recipient_id=rid
                        )
                        answered += 1
                    except DatabaseBusy:
                        self.busy += 1
                        heapq.heappush(due, (at, rid, yes))
                        break
                    except DutydeskError:
                        self.refused += 1
                self.answered += answered
                if answered:
                    for wake in self.wake:
                        wake()
                self.stop.wait(0.05)
        finally:
            db.close()


def completed(db_path: Path, mob_id: int) -> Callable[[Engine], bool]:
    db = connect(db_path)
    state = {"next": 0.0}

    def check(_engine: Engine) -> bool:
        now = time.perf_counter()
        if now < state["next"]:
            return False
        state["next"] = now + 0.1
        return get_mobilization(db, mob_id).state == "completed"

    return check


# ---- main --------------------------------------------------------------------------------


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}"


def rates(values: list[float]) -> str:
    return "/".join(fmt_rate(v) for v in values)


@dataclass
class Rep:
    """One round of the unbatched comparison: the baselines and the engine, back to back."""

    httpx: dict[str, float] = field(default_factory=dict)
    sender: float = 0.0
    engine: float = 0.0
    run: ChildRun | None = None
    bytes_per_message: dict[str, float] = field(default_factory=dict)
    gateway_got: int = 0
    in_db: int = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--quick", action="store_true", help="3,000 people, 300 grids")
    parser.add_argument("--reps", type=int, default=3, help="rounds of the unbatched comparison")
    parser.add_argument("--factor", type=float, default=100.0, help="clock compression (settle)")
    parser.add_argument("--concurrency", type=int, default=0, help="sms concurrency (0: best K)")
    parser.add_argument("--settle-batch", type=int, default=BATCH, help="sms batch (settle)")
    # The child side of engine_child(): run the engine over a database and report.
    parser.add_argument("--engine-run", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--until", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_run:
        return engine_run_main(args)
    people = 3_000 if args.quick else args.people
    sample = min(SAMPLE, people)
    clock = SystemClock()
    print(f"machine cores={os.cpu_count()} load={load()} (other work slows every figure)")
    gateway = Gateway()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            base, county, timings = build(root, people, clock)
            print(
                f"data people={people:,} grids={len(county.grids):,}"
                f" communities={county.communities} townships={county.townships}"
                f" import_units={timings['units']:.1f}s import_people={timings['people']:.1f}s"
                f" tree={timings['tree']:.1f}s"
            )
            ok, concurrency = compare(root, base, gateway, clock, people, sample, args)
            ok &= batched(root, base, gateway, clock, people, concurrency)
            first_level(root, base, gateway, clock, county, concurrency)
            settle(root, base, gateway, concurrency, people, args)
    finally:
        gateway.stop()
    print(f"machine load={load()}")
    print(f"VERDICT: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def compare(
    root: Path,
    base: Path,
    gateway: Gateway,
    clock: Clock,
    people: int,
    sample: int,
    args: argparse.Namespace,
) -> tuple[bool, int]:
    """Unbatched: plain httpx, aiohttp, the bare sender and the engine, in rounds; best of each."""
    root_target = [Target("node", "root")]
    path = root / "bodies.db"
    shutil.copy(base, path)
    mob_id, start_s = start(path, clock, root_target, "broadcast")
    bodies = bodies_of(path, mob_id)
    n = len(bodies)
    size = sum(len(b) for _, b in bodies)
    print(f"start.broadcast recipients={n:,} time={start_s:.1f}s body_bytes={size / n:.0f}")
    # Warm the gateway up (and the loopback) before anything is measured.
    asyncio.run(aiohttp_loop(gateway.url, 8, bodies[:2000]))

    # Two rounds of trials, best of each shape, so that one slow moment does not pick K.
    trials: dict[tuple[str, int], float] = {}
    for _ in range(TRIAL_ROUNDS):
        for shape, k in HTTPX_SHAPES:
            rate = sample / run_httpx(shape, gateway.url, k, bodies[:sample])
            trials[shape, k] = max(trials.get((shape, k), 0.0), rate)
    print(
        f"send.httpx.trials n={sample:,} best of {TRIAL_ROUNDS} "
        + " ".join(f"{s}/{k}={fmt_rate(r)}" for (s, k), r in trials.items())
    )
    best_async = max((r, s, k) for (s, k), r in trials.items() if s != "sync-threads")
    best_sync = max((r, s, k) for (s, k), r in trials.items() if s == "sync-threads")
    shapes = [best_async[1:], best_sync[1:]]
    aio_trials: dict[int, float] = {}
    for _ in range(TRIAL_ROUNDS):
        for k in AIOHTTP_KS:
            rate = sample / asyncio.run(aiohttp_loop(gateway.url, k, bodies[:sample]))
            aio_trials[k] = max(aio_trials.get(k, 0.0), rate)
    print(
        f"send.aiohttp.trials n={sample:,} best of {TRIAL_ROUNDS} "
        + " ".join(f"{k}={fmt_rate(r)}" for k, r in aio_trials.items())
    )
    k_aio = max(aio_trials, key=lambda k: aio_trials[k])
    concurrency = args.concurrency or best_async[2]
    messages = outgoing(bodies)

    reps: list[Rep] = []
    aio: list[float] = []
    for r in range(max(1, args.reps)):
        rep = Rep()
        for shape, k in shapes:
            gateway.reset()
            rep.httpx[f"{shape}/{k}"] = n / run_httpx(shape, gateway.url, k, bodies)
            rep.bytes_per_message["httpx"] = gateway.count()["bytes"] / n
        aio.append(n / asyncio.run(aiohttp_loop(gateway.url, k_aio, bodies)))
        gateway.reset()
        rep.sender = n / asyncio.run(sender_only(gateway.url, concurrency, messages))
        rep.bytes_per_message["sender"] = gateway.count()["bytes"] / n

        path = root / f"unbatched{r}.db"
        shutil.copy(base, path)
        rep_mob, _ = start(path, clock, root_target, "broadcast")
        gateway.reset()
        rep.run = engine_child(path, gateway.url, concurrency, 1, n)
        got = gateway.count()
        rep.engine = n / rep.run.seconds
        rep.bytes_per_message["engine"] = got["bytes"] / max(1, got["messages"])
        rep.gateway_got = got["messages"]
        rep.in_db = sent_in_db(path, rep_mob)
        path.unlink()
        reps.append(rep)
    del bodies, messages

    names = list(reps[0].httpx)
    best_by_shape = {name: max(rep.httpx[name] for rep in reps) for name in names}
    httpx_name = max(best_by_shape, key=lambda name: best_by_shape[name])
    httpx_rate = best_by_shape[httpx_name]
    async_name = f"{best_async[1]}/{best_async[2]}"
    for name in names:
        print(
            f"send.httpx shape={name} rate={fmt_rate(best_by_shape[name])} msg/s"
            f" (best of {rates([rep.httpx[name] for rep in reps])})"
            + (" <- fastest httpx" if name == httpx_name else "")
        )
    aio_rate = max(aio)
    print(f"send.aiohttp best={k_aio} rate={fmt_rate(aio_rate)} msg/s (best of {rates(aio)})")
    sender_rate = max(rep.sender for rep in reps)
    print(
        f"send.sender_only concurrency={concurrency} rate={fmt_rate(sender_rate)} msg/s"
        f" ratio_httpx={sender_rate / httpx_rate:.2f} (SmsSender.send alone, chunks of 500,"
        f" no database; best of {rates([rep.sender for rep in reps])})"
    )
    best = max(reps, key=lambda rep: rep.engine)
    assert best.run is not None
    rate = best.engine
    ratio = rate / httpx_rate
    complete = all(rep.in_db == rep.gateway_got == n for rep in reps)
    ok = ratio >= RATIO_TARGET and complete
    sizes = {
        who: sum(rep.bytes_per_message[who] for rep in reps) / len(reps)
        for who in ("httpx", "sender", "engine")
    }
    print(
        f"send.mobilization concurrency={concurrency} rate={fmt_rate(rate)} msg/s"
        f" ratio_httpx={ratio:.2f} target>={RATIO_TARGET} {'OK' if ok else 'FAIL'}"
        f" ratio_httpx_async={rate / best_by_shape[async_name]:.2f}"
        f" ratio_aiohttp={rate / aio_rate:.2f} (best of {rates([rep.engine for rep in reps])};"
        f" {n:,} sent in {best.run.seconds:.1f}s; recorded and received:"
        f" {'all' if complete else 'NOT ALL'}; bytes/message "
        + " ".join(f"{who}={size:.1f}" for who, size in sizes.items())
        + ")"
    )
    db_s = sum(s for _, s in best.run.split.values())
    print(
        f"engine.split db={db_s:.1f}s "
        + " ".join(f"{name}={s:.2f}s/{calls:,}calls" for name, (calls, s) in best.run.split.items())
        + f" rest={best.run.seconds - db_s:.1f}s (sender, event loop) of {best.run.seconds:.1f}s"
    )
    cpus = [rep.run.cpu / n * 1000 for rep in reps if rep.run is not None]
    print(
        f"engine.cpu per1000={best.run.cpu / n * 1000:.3f}s"
        f" (runs {'/'.join(f'{c:.3f}' for c in cpus)}; the engine's process alone)"
    )
    peak = max(rep.run.rss_peak for rep in reps if rep.run is not None)
    before = min(rep.run.rss_before for rep in reps if rep.run is not None)
    print(
        f"memory.peak_rss={peak / 2**20:.0f}MB before={before / 2**20:.0f}MB"
        f" delta={(peak - before) / 2**20:.0f}MB (the engine's process, sampled every 50 ms)"
    )
    return ok, concurrency


def outgoing(bodies: list[Body]) -> list[Outgoing]:
    """The messages behind the bodies, for the bare sender (which encodes them the same)."""
    out = []
    for _, raw in bodies:
        b = json.loads(raw)
        out.append(
            Outgoing(
                attempt_id=b["id"],
                recipient_id=0,
                channel="sms",
                address=b["to"],
                text=b["text"],
                kind=b["kind"],
                ack_code=b["ack_code"],
                ack_url=b["ack_url"],
                exercise=b["exercise"],
            )
        )
    return out


async def sender_only(url: str, concurrency: int, messages: list[Outgoing]) -> float:
    """``SmsSender.send`` alone, in chunks of 500 with up to 8 in flight, as the engine hands
    them over (``EngineOptions`` chunk 500, inflight 4 x 2 senders)."""
    options = EngineOptions()
    sender = SmsSender(SmsSettings(url=url, concurrency=concurrency))
    slots = asyncio.Semaphore(options.inflight * 2)
    chunk = options.chunk

    async def one(part: list[Outgoing]) -> list[Delivery]:
        async with slots:
            return await sender.send(part)

    begin = time.perf_counter()
    done = await asyncio.gather(
        *(one(messages[i : i + chunk]) for i in range(0, len(messages), chunk))
    )
    elapsed = time.perf_counter() - begin
    await sender.aclose()
    if not all(d.ok for part in done for d in part):
        raise RuntimeError("the bare sender failed some messages")
    return elapsed


class Split:
    """Wall time in the engine's database steps, wrapped where ``console.engine`` calls them."""

    NAMES = ("process_due", "claim_pending", "record_deliveries")

    def __init__(self) -> None:
        self.calls: dict[str, tuple[int, float]] = {}
        self._saved: dict[str, Callable[..., Any]] = {}

    def __enter__(self) -> Split:
        for name in self.NAMES:
            real = self._saved[name] = getattr(engine_module, name)
            setattr(engine_module, name, self._timed(name, real))
        return self

    def __exit__(self, *_: object) -> None:
        for name, real in self._saved.items():
            setattr(engine_module, name, real)

    def _timed(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                calls, spent = self.calls.get(name, (0, 0.0))
                self.calls[name] = (calls + 1, spent + time.perf_counter() - begin)

        return timed


def batched(
    root: Path, base: Path, gateway: Gateway, clock: Clock, people: int, concurrency: int
) -> bool:
    path = root / "batched.db"
    shutil.copy(base, path)
    mob_id, start_s = start(path, clock, [Target("node", "root")], "broadcast")
    gateway.reset()
    run = engine_child(path, gateway.url, concurrency, BATCH, people)
    in_db = sent_in_db(path, mob_id)
    got = gateway.count()
    ok = run.seconds < BATCHED_TARGET_S and in_db == got["messages"] == people
    print(
        f"send.batched{BATCH} time={run.seconds:.2f}s target<{BATCHED_TARGET_S:.0f}s"
        f" {'OK' if ok else 'FAIL'} rate={fmt_rate(people / run.seconds)} msg/s"
        f" (sent {in_db:,} in {got['requests']:,} requests, concurrency {concurrency},"
        f" cpu per1000={run.cpu / people * 1000:.3f}s, {split_text(run)};"
        f" start_mobilization {start_s:.1f}s before)"
    )
    return ok


def split_text(run: ChildRun) -> str:
    return "db " + " ".join(f"{name}={s:.2f}s" for name, (_, s) in run.split.items())


def first_level(
    root: Path, base: Path, gateway: Gateway, clock: Clock, county: County, concurrency: int
) -> None:
    path = root / "first.db"
    shutil.copy(base, path)
    targets = [Target("grid", code) for code in county.grids]
    mob_id, start_s = start(path, clock, targets, "cascade")
    leaders = county.leaders
    run = engine_child(path, gateway.url, concurrency, 1, leaders)
    in_db = sent_in_db(path, mob_id)
    print(
        f"first_level.sent n={in_db:,} time={run.seconds:.2f}s"
        f" (cascade to {len(targets):,} grid targets, unbatched; start_mobilization"
        f" {start_s:.1f}s before, {start_s + run.seconds:.1f}s from the operator's enter)"
    )


def settle(
    root: Path,
    base: Path,
    gateway: Gateway,
    concurrency: int,
    people: int,
    args: argparse.Namespace,
) -> None:
    """Cascade from the root with a compressed clock, 30 % answering; until ``completed``."""
    path = root / "settle.db"
    shutil.copy(base, path)
    rng = random.Random(SEED)
    db = connect(path)
    ids = [int(r[0]) for r in db.conn.execute("SELECT id FROM people ORDER BY id")]
    tree = get_tree(db, DEFAULT_TREE)
    db.close()
    timeout_s = max(node.timeout_s for node in tree)
    repeats = max(node.repeats for node in tree)
    window = (repeats + 1) * timeout_s  # answers come before the node gives up on them
    plans = {
        pid: (rng.uniform(0, window), rng.random() < YES_SHARE)
        for pid in rng.sample(ids, round(len(ids) * ANSWER_SHARE))
    }
    factor = args.factor
    clock = ScaledClock(datetime.now(UTC), factor)
    real0 = time.perf_counter()
    mob_id, start_s = start(path, clock, [Target("node", "root")], "cascade")
    wake: list[Callable[[], None]] = []
    answerer = Answerer(path, clock, mob_id, plans, wake)
    thread = threading.Thread(target=answerer.run, daemon=True)
    thread.start()
    # The lease is checked against the compressed clock: make it outlast the phase. An idle
    # engine looks for due work every idle_s of real time; the clock runs `factor` times
    # faster here, so the look is compressed the same way (1 s of a real office's clock).
    options = EngineOptions(
        lease_ttl=timedelta(days=7), idle_s=EngineOptions().idle_s / args.factor
    )
    config = sms_config(gateway.url, concurrency, args.settle_batch)
    try:
        run = run_engine(path, config, clock, completed(path, mob_id), options=options, wake=wake)
    finally:
        answerer.stop.set()
        thread.join()
    real = time.perf_counter() - real0
    db = connect(path)
    mob = get_mobilization(db, mob_id)
    total = summary(db, mob_id, clock.now()).total
    sends = dict(
        db.conn.execute(
            "SELECT kind, count(*) FROM attempts a JOIN recipients r ON r.id = a.recipient_id"
            " WHERE r.mobilization_id = ? AND a.state = 'sent' GROUP BY kind ORDER BY kind",
            (mob_id,),
        ).fetchall()
    )
    depth = int(
        db.conn.execute(
            "SELECT max(level) + 1 FROM mob_nodes WHERE mobilization_id = ?", (mob_id,)
        ).fetchone()[0]
    )
    db.close()
    assert mob.finished_at is not None
    simulated = (mob.finished_at - mob.created_at).total_seconds()
    silent_path = depth * window
    print(
        f"escalation.settle real={real:.1f}s simulated={simulated / 60:.0f}min"
        f" yes={total.yes:,} no={total.no:,} silent={total.silent:,}"
        f" unreachable={total.unreachable:,} people={total.total:,}"
        f" (state {mob.state}; factor {factor:g}; {answerer.answered:,} answers, "
        f"{answerer.busy} retried busy, {answerer.refused} refused;"
        f" levels {depth} x {repeats + 1} x {timeout_s}s ="
        f" {silent_path / 60:.0f}min when silent all the way down; sms batch"
        f" {args.settle_batch}; messages "
        + " ".join(f"{kind}={count:,}" for kind, count in sends.items())
        + f"; engine cpu {run.cpu:.1f}s; start_mobilization {start_s:.1f}s)"
    )
    if mob.state != "completed" or total.total != people:
        print(f"escalation.settle CHECK: expected {people:,} people, completed")


if __name__ == "__main__":
    sys.exit(main())
