"""Benchmark of drills: 10,000 schedules in the engine, a minute of 1,000 reminders, a 30,000-person
evaluation.

Every figure is printed absolute and as a ratio to a baseline measured in the same run, on the
same machine, a moment before or after (these machines are shared and noisy):

* ``schedules.engine_start``: a database with ``--schedules`` (10,000) active schedules, monthly
  and weekly RRULEs in two time zones, each plan with three reminders; the real
  :class:`console.engine.Engine` (on its own thread, as the console runs it) from its start until
  its APScheduler holds one job per schedule (:attr:`Engine.drill_jobs`). Baseline: APScheduler
  alone, an ``AsyncIOScheduler`` given the same number of date jobs whose times are already known
  (the framework's floor). ``schedules.memory``: the engine's RSS growth for those jobs (the
  engine on a database without schedules is measured first). Target: start under 5 s.
* ``reminders.burst``: ``--burst`` (1,000) schedules whose reminders fall due in the same minute:
  :func:`drills.schedules.fire_due` claims them all (one pass, as the engine's job does) and the
  notices go out through :class:`mobilization.channels.SmsSender` to a local gateway
  (:mod:`bench.gateway_server`, its own process) as the engine sends them: reminders per second
  from the pass's start to the last delivery recorded. Baseline: the same number of messages of
  a broadcast exercise mobilization sent and recorded by the same sender and the mobilization's
  own claim/record (the call-out path). Target: ratio >= 0.5.
* ``evaluation.people30000``: a county of ``--people`` (30,000, :func:`bench.mobilize.build`), a
  call-tree plan of the whole tree with four objectives, run with
  :func:`drills.runs.start_run`; the cascade is walked to the end with a compressed clock (every
  node released by the cascade's own time-outs) and then 70 % of the people are given answers
  (90 % yes) at random times within 20 minutes. Timed: :func:`drills.evaluation.evaluation`
  (metrics, proposals, ratings) and :func:`drills.trends.trend` over two such runs. Baseline:
  :func:`mobilization.summary` of the same mobilization (what the live screen computes).
  Target: evaluation under 10 s.

Not part of CI. Run from the repository root (a few minutes on 2 cores)::

    python -m bench.drills
    python -m bench.drills --quick      # 1,000 schedules, 200 reminders, 3,000 people
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil

from bench.mobilize import Gateway, build
from bench.report import Report
from store.clock import FixedClock, to_iso
from store.db import connect, write

SCHEDULES = 10_000
BURST = 1_000
PEOPLE = 30_000
SEED = 20261207
ZONES = ("Asia/Shanghai", "Europe/Berlin")


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


# ---- schedules in the engine -------------------------------------------------------------


def schedules_db(root: Path, count: int, clock: FixedClock) -> Path:
    """A small town with ``count`` schedules of 100 plans (three reminders each)."""
    from drills.plans import add_plan
    from drills.schedules import add_schedule
    from mobilization import build_default_tree
    from tests.support.town import build_town

    path = root / "schedules.db"
    db = connect(path, synchronous="OFF")
    build_town(db, clock, starts_on=clock.now().date())
    build_default_tree(db, clock, "bench")
    rng = random.Random(SEED)
    plans = [
        add_plan(
            db,
            clock,
            "bench",
            code=f"P{n:03d}",
            name=f"演练方案{n}",
            kind="notification",
            scope=["grid:G01"],
            organizer="A",
            evaluators=["SEC"],
            message="通信联络演练",
        ).code
        for n in range(100)
    ]
    start = clock.now().replace(tzinfo=None) + timedelta(days=1)
    with write(db):
        for n in range(count):
            rule = (
                f"FREQ=MONTHLY;BYDAY={rng.randint(1, 4)}WE;BYHOUR={rng.randint(8, 17)}"
                if n % 2
                else f"FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR={rng.randint(0, 23)}"
            )
            add_schedule(
                db,
                clock,
                "bench",
                plans[n % len(plans)],
                start=start,
                zone=ZONES[n % 2],
                rrule=rule,
            )
    db.close()
    return path


async def apscheduler_floor(count: int) -> float:
    """Seconds for a bare AsyncIOScheduler to take ``count`` date jobs whose times are known."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    async def job() -> None:
        return None

    when = [datetime.now(UTC) + timedelta(days=1, seconds=n) for n in range(count)]
    start = time.perf_counter()
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    for n, at in enumerate(when):
        scheduler.add_job(job, "date", run_date=at, id=f"drill-{n}")
    took = time.perf_counter() - start
    scheduler.shutdown(wait=False)
    return took


def engine_jobs(path: Path, expected: int) -> tuple[float, int]:
    """Seconds from the engine's start until it holds ``expected`` drill jobs; RSS growth."""
    from console.config import Config
    from console.engine import Engine, EngineThread
    from mobilization import LogSender

    proc = psutil.Process()
    before = proc.memory_info().rss
    engine = Engine(path, Config(path=None), senders={"log": LogSender(path.with_suffix(".log"))})
    thread = EngineThread(engine)
    start = time.perf_counter()
    thread.start()
    deadline = start + 120
    while engine.drill_jobs < expected:
        if time.perf_counter() > deadline:
            thread.stop()
            raise SystemExit(f"the engine armed {engine.drill_jobs} of {expected} jobs in 120 s")
        time.sleep(0.01)
    took = time.perf_counter() - start
    grown = proc.memory_info().rss - before
    thread.stop()
    return took, grown


def bench_schedules(report: Report, root: Path, count: int) -> None:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    start = time.perf_counter()
    path = schedules_db(root, count, clock)
    report.line(f"schedules.setup {count:,} schedules in {time.perf_counter() - start:.1f} s")
    empty = root / "empty.db"
    shutil.copy(path, empty)
    e = sqlite3.connect(empty)
    e.execute("UPDATE drill_schedules SET state = 'cancelled'")
    e.commit()
    e.close()
    _idle, idle_rss = engine_jobs(empty, 0)
    floor = asyncio.run(apscheduler_floor(count))
    took, rss = engine_jobs(path, count)
    report.line(f"schedules.apscheduler_floor {floor:.3f} s for {count:,} date jobs")
    report.check(
        "schedules.engine_start",
        f"{took:.2f} s ratio {took / floor:.1f}x floor (target < 5 s)",
        took < 5.0,
    )
    report.line(
        f"schedules.memory {max(0, rss - idle_rss) / 2**20:.1f} MB for {count:,} jobs"
        f" (engine alone {idle_rss / 2**20:.1f} MB)"
    )


# ---- a minute of reminders ---------------------------------------------------------------


def burst_db(root: Path, count: int, clock: FixedClock) -> tuple[Path, datetime]:
    """``count`` plans, one organizer each, every schedule's 60-minute reminder due within one
    minute of the returned moment."""
    from contacts.people import NewPerson, add_person
    from drills.plans import add_plan
    from drills.schedules import add_schedule
    from mobilization import build_default_tree
    from tests.support.town import build_town

    path = root / "burst.db"
    db = connect(path, synchronous="OFF")
    build_town(db, clock, starts_on=clock.now().date())
    with write(db):
        for n in range(count):
            person = NewPerson(f"组织者{n}", "G01", f"1390000{n:04d}", roles=["grid_member"])
            add_person(db, clock, "bench", person, key=f"O{n}")
    # After the people: the baseline's broadcast of grid G01 calls every organizer.
    build_default_tree(db, clock, "bench")
    at = clock.now() + timedelta(days=2)
    local = at.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    with write(db):
        for n in range(count):
            plan = add_plan(
                db,
                clock,
                "bench",
                code=f"B{n:04d}",
                name=f"演练{n}",
                kind="tabletop",
                organizer=f"O{n}",
                reminders_min=[60],
            )
            add_schedule(
                db,
                clock,
                "bench",
                plan.code,
                start=local + timedelta(seconds=n * 59 // count),
                zone="Asia/Shanghai",
            )
    db.close()
    return path, at - timedelta(minutes=60)


async def send_all(path: Path, url: str, clock: FixedClock, drills: bool) -> int:
    """Claim and send everything due, as the engine does, until nothing is left; count sent."""
    from drills import notices
    from mobilization import (
        Delivery,
        Routing,
        SmsSender,
        claim_pending,
        process_due,
        record_deliveries,
    )
    from mobilization.settings import SmsSettings

    db = connect(path)
    sender = SmsSender(SmsSettings(url=url, concurrency=8))
    routing = Routing(configured=frozenset({"sms"}))
    halt = asyncio.Event()
    sent = 0
    try:
        while True:
            if drills:
                out = notices.claim(db, clock, limit=500, holder="bench")
            else:
                process_due(db, clock)
                out, _failed = claim_pending(db, clock, routing, limit=500, claimer="bench")
            if not out:
                return sent

            async def report(deliveries: list[Delivery]) -> None:
                return None

            deliveries = await sender.send(out, report, halt)
            if drills:
                notices.record(db, clock, deliveries)
            else:
                record_deliveries(db, clock, deliveries, routing)
            sent += sum(1 for d in deliveries if d.ok)
    finally:
        await sender.aclose()
        db.close()


def bench_burst(report: Report, root: Path, count: int, gateway: Gateway) -> None:
    from drills.schedules import fire_due
    from mobilization import Target, start_mobilization

    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    path, due = burst_db(root, count, clock)
    # Baseline: a broadcast exercise mobilization of as many people, through the same sender.
    base = root / "baseline.db"
    shutil.copy(path, base)
    db = connect(base)
    mob = start_mobilization(
        db,
        clock,
        "bench",
        targets=[Target.parse("grid:G01")],
        message="通信联络演练",
        mode="broadcast",
        exercise=True,
    )
    db.close()
    gateway.reset()
    start = time.perf_counter()
    sent_base = asyncio.run(send_all(base, gateway.url, clock, drills=False))
    base_s = time.perf_counter() - start
    gateway.reset()
    clock.set(due + timedelta(seconds=59))
    start = time.perf_counter()
    db = connect(path)
    fired = fire_due(db, clock, grace=timedelta(minutes=30), holder="bench")
    db.close()
    fire_s = time.perf_counter() - start
    sent = asyncio.run(send_all(path, gateway.url, clock, drills=True))
    took = time.perf_counter() - start
    rate = sent / took
    base_rate = sent_base / base_s
    report.line(
        f"reminders.claimed {len(fired):,} moments in {fire_s:.2f} s (mobilization {mob}:"
        f" {sent_base:,} messages in {base_s:.2f} s = {base_rate:,.0f}/s)"
    )
    report.check(
        "reminders.burst",
        f"{sent:,} reminders sent in {took:.2f} s = {rate:,.0f}/s"
        f" ratio {rate / base_rate:.2f} to the call-out path (target >= 0.5)",
        sent == count and rate / base_rate >= 0.5,
    )


# ---- evaluating 30,000 people ------------------------------------------------------------


def walk_cascade(path: Path, clock: FixedClock, mob_id: int) -> int:
    """Release every node of the cascade by its time-outs (the clock jumps); returns rounds."""
    from mobilization import (
        Delivery,
        Routing,
        claim_pending,
        get_mobilization,
        process_due,
        record_deliveries,
    )

    db = connect(path, synchronous="OFF")
    routing = Routing()
    try:
        for rounds in range(1, 10_000):
            moved = process_due(db, clock, limit=50_000)
            out, failed = claim_pending(db, clock, routing, limit=50_000, claimer="bench")
            record_deliveries(
                db, clock, [Delivery(m.attempt_id, True) for m in out] + failed, routing
            )
            if get_mobilization(db, mob_id).state != "active":
                return rounds
            if not moved and not out:
                clock.advance(seconds=301)
        raise SystemExit("the cascade did not end")
    finally:
        db.close()


def answer(path: Path, mob_id: int, rng: random.Random) -> int:
    """Give 70 % of the people called an answer (90 % yes) within 20 minutes of their call."""
    db = connect(path, synchronous="OFF")
    try:
        rows = db.conn.execute(
            "SELECT id, first_sent_at FROM recipients WHERE mobilization_id = ?"
            " AND first_sent_at IS NOT NULL",
            (mob_id,),
        ).fetchall()
        updates = []
        for rid, sent in rows:
            if rng.random() < 0.7:
                at = datetime.fromisoformat(sent.replace("Z", "+00:00"))
                at += timedelta(seconds=rng.randint(5, 1200))
                updates.append(("yes" if rng.random() < 0.9 else "no", to_iso(at), rid))
        with write(db):
            db.conn.executemany(
                "UPDATE recipients SET state = ?, answered_at = ? WHERE id = ?", updates
            )
        return len(rows)
    finally:
        db.close()


def best(fn, reps: int = 3) -> float:  # type: ignore[no-untyped-def]
    took = 1e9
    for _rep in range(reps):
        start = time.perf_counter()
        fn()
        took = min(took, time.perf_counter() - start)
    return took


def bench_evaluation(report: Report, root: Path, people: int) -> None:
    from drills.evaluation import evaluation
    from drills.plans import add_plan, parse_objective
    from drills.runs import end_run, get_run, start_run
    from drills.trends import trend
    from mobilization import summary

    clock = FixedClock(datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    start = time.perf_counter()
    path, _county, _timings = build(root, people, clock)
    report.line(
        f"evaluation.setup county of {people:,} people in {time.perf_counter() - start:.1f} s"
    )
    db = connect(path)
    add_plan(
        db,
        clock,
        "bench",
        code="CT",
        name="全县通信联络演练",
        kind="notification",
        scope=["node:root"],
        organizer="P000000",
        message="通信联络演练",
        objectives=[
            parse_objective("answer_rate 90% 10m"),
            parse_objective("answer_rate 80% 10m level=2"),
            parse_objective("reach 100% 5m"),
            parse_objective("first_answer 1m"),
        ],
    )
    db.close()
    rng = random.Random(SEED)
    run_ids = []
    for _n in range(2):
        db = connect(path)
        begun = time.perf_counter()
        run = start_run(db, clock, "bench", "CT")
        start_s = time.perf_counter() - begun
        db.close()
        assert run.mobilization_id is not None
        begun = time.perf_counter()
        rounds = walk_cascade(path, clock, run.mobilization_id)
        called = answer(path, run.mobilization_id, rng)
        report.line(
            f"evaluation.run {run.id}: started in {start_s:.2f} s; cascade walked in {rounds}"
            f" rounds, {time.perf_counter() - begun:.1f} s; {called:,} called"
        )
        db = connect(path)
        end_run(db, clock, "bench", run.id)
        db.close()
        run_ids.append(run.id)
        clock.advance(days=30)
    db = connect(path)
    run = get_run(db, run_ids[-1])
    assert run.mobilization_id is not None
    mob = run.mobilization_id
    base = best(lambda: summary(db, mob, clock.now()))
    took = best(lambda: evaluation(db, run_ids[-1]))
    trend_s = best(lambda: trend(db, "CT"))
    ev = evaluation(db, run_ids[-1])
    db.close()
    report.line(
        f"evaluation.figures called {ev.metrics.called:,} yes {ev.metrics.yes:,}"
        f" silent {ev.metrics.silent:,} grids {len(ev.metrics.by_group):,}; proposed "
        + " ".join(str(r.proposed) for r in ev.results)
    )
    report.line(f"evaluation.baseline mobilization.summary {base:.2f} s")
    report.check(
        f"evaluation.people{people}",
        f"{took:.2f} s ratio {took / base:.1f}x the live summary (target < 10 s)",
        took < 10.0,
    )
    report.line(f"evaluation.trend two runs {trend_s:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=SCHEDULES)
    parser.add_argument("--burst", type=int, default=BURST)
    parser.add_argument("--people", type=int, default=PEOPLE)
    parser.add_argument("--quick", action="store_true", help="1,000 / 200 / 3,000")
    parser.add_argument("--phases", default="schedules,burst,evaluation")
    parser.add_argument("--out", type=Path, help="directory for the databases (kept)")
    args = parser.parse_args(argv)
    if args.quick:
        args.schedules, args.burst, args.people = 1_000, 200, 3_000
    phases = set(args.phases.split(","))
    report = Report()
    report.line(
        f"bench.drills schedules={args.schedules:,} burst={args.burst:,} people={args.people:,}"
        f" cores={os.cpu_count()} load={load()} sqlite={sqlite3.sqlite_version}"
    )
    root = args.out or Path(tempfile.mkdtemp(prefix="dutydesk-bench-drills-"))
    root.mkdir(parents=True, exist_ok=True)
    gateway = Gateway() if "burst" in phases else None
    try:
        if "schedules" in phases:
            bench_schedules(report, root, args.schedules)
        if gateway is not None:
            bench_burst(report, root, args.burst, gateway)
        if "evaluation" in phases:
            bench_evaluation(report, root, args.people)
    finally:
        if gateway is not None:
            gateway.stop()
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    report.line(f"load after {load()}")
    report.verdict()
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
