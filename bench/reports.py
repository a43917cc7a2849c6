"""Benchmark of the reports: the month's statistics over a township's history, and the
post-incident report of a huge case.

Every figure is printed absolute and as a ratio to a baseline measured in the same run, on the
same database (these machines are shared and noisy), with the load average:

* ``stats.month``: :func:`reports.stats.compute_stats` for one calendar month in the middle of a
  history of ``--cases`` (1,000,000; ``--quick`` 100,000) cases and five timeline entries each
  (:class:`bench.incidents.DataSet` loaded with :func:`incidents.bulk.bulk_load`). Baseline:
  the plain count of that month's cases (``SELECT count(*) ... WHERE reported_at`` in range,
  :func:`incidents.evaluation.count_cases`), the least any statistics must read. Target: < 5 s
  absolute. ``stats.cli``: what ``dutydesk report stats`` does on top (the previous month too,
  the document, its HTML with charts), reported. ``stats.indexed``: the same month once the
  index proposed to the lead (``incidents(reported_at)``, see below) exists, reported, so the
  choice can be made on figures.
* ``case.html``: :func:`reports.case.build_case_report` + the HTML renderer for one case with
  ``--entries`` (10,000) timeline entries and a ``--people`` (30,000) person mobilization
  (built with :func:`bench.mobilize.build`, a broadcast to the whole tree; a share of the
  people marked sent and answered in SQL, as the engine would have left them). Baseline: reading
  the case's timeline once (:func:`incidents.records.get_timeline` or the plain ``SELECT``).
  Target: < 1 s. ``case.pdf`` and ``case.docx``: reported.

Not part of CI. Run from the repository root::

    python -m bench.reports --quick      # 100,000 cases; the case with 10,000 / 30,000
    python -m bench.reports              # 1,000,000 cases, several minutes to build
    python -m bench.reports --phases stats
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from datetime import time as dtime
from zoneinfo import ZoneInfo  # noqa: E402

from bench.incidents import START, DataSet  # noqa: E402
from bench.report import Report  # noqa: E402
from incidents.bulk import bulk_load  # noqa: E402
from incidents.evaluation import count_cases  # noqa: E402
from incidents.limits import Policy  # noqa: E402
from store.clock import FixedClock, to_iso  # noqa: E402
from store.db import connect  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
TARGET_STATS_S = 5.0
TARGET_CASE_S = 1.0
POLICY = Policy()
PROPOSED_INDEX = "CREATE INDEX IF NOT EXISTS incidents_reported ON incidents(reported_at)"


def best(run: Callable[[], object], reps: int = 3) -> float:
    took = 1e9
    for _rep in range(reps):
        t0 = time.perf_counter()
        run()
        took = min(took, time.perf_counter() - t0)
    return took


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load={one:.2f}/{five:.2f} cpus={os.cpu_count()}"


# ---- statistics ---------------------------------------------------------------------------


def bench_stats(root: Path, n_cases: int, report: Report) -> None:
    from reports.render import render
    from reports.stats import build_stats_report, compute_stats, previous_period

    data = DataSet(n_cases, n_cases * 5, seed=17)
    path = root / "township.db"
    t0 = time.perf_counter()
    db = connect(path, synchronous="OFF")
    bulk_load(db, data.cases(), data.events())
    db.conn.execute("ANALYZE")
    report.line(f"data.township cases={n_cases:,} events={n_cases * 5:,}"
                f" built in {time.perf_counter() - t0:.1f}s")  # fmt: skip
    middle = datetime.fromtimestamp((START + data.now) / 2, UTC)
    first = middle.astimezone(ZONE).date().replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    lo = datetime.combine(first, dtime(0), ZONE).astimezone(UTC)
    hi = datetime.combine(last + timedelta(days=1), dtime(0), ZONE).astimezone(UTC)
    month_cases = count_cases(db, lo, hi)
    base = best(lambda: count_cases(db, lo, hi))
    took = best(lambda: compute_stats(db, first, last, by="grid", zone=ZONE, policy=POLICY))
    report.line(
        f"stats.baseline count(*) of the month's cases: {base:.3f}s ({month_cases:,} cases)"
    )
    report.check(
        "stats.month",
        f"{took:.3f}s ratio={took / base:.1f} to the count ({first}..{last}, --by grid)"
        f" target<{TARGET_STATS_S:.0f}s {load()}",
        took < TARGET_STATS_S,
    )

    def cli() -> bytes:
        stats = compute_stats(db, first, last, zone=ZONE, policy=POLICY)
        before = compute_stats(db, *previous_period(first, last), zone=ZONE, policy=POLICY)
        doc = build_stats_report(stats, before, now=datetime.now(UTC))
        return render(doc, "html")

    took_cli = best(cli, reps=1)
    report.line(f"stats.cli month+previous+document+html {took_cli:.3f}s (reported)")
    db.conn.execute(PROPOSED_INDEX)
    db.conn.execute("ANALYZE")
    base_ix = best(lambda: count_cases(db, lo, hi))
    took_ix = best(lambda: compute_stats(db, first, last, by="grid", zone=ZONE, policy=POLICY))
    report.line(
        f"stats.indexed with {PROPOSED_INDEX!r}: {took_ix:.3f}s"
        f" (count {base_ix:.3f}s; ratio={took_ix / base_ix:.1f}) (reported)"
    )
    db.close()


# ---- the huge case --------------------------------------------------------------------------


def bench_case(root: Path, entries: int, people: int, report: Report) -> None:
    try:
        from reports.case import build_case_report
    except ImportError:
        report.line("case.* skipped: reports.case is not there yet")
        return
    from bench.mobilize import build
    from incidents.records import NewIncident, create_incident
    from mobilization import Target, start_mobilization
    from reports.render import render
    from store.audit import append_event
    from store.db import write

    clock = FixedClock(datetime(2026, 11, 26, 2, tzinfo=UTC))
    t0 = time.perf_counter()
    path, _county, _timings = build(root, people, clock)
    db = connect(path, synchronous="OFF")
    case = create_incident(
        db,
        clock,
        POLICY,
        "bench",
        NewIncident(
            title="东湖村后山山体滑坡", category="natural_disaster", type="other", severity=2
        ),
    )
    start = clock.now()
    with write(db):
        for i in range(entries - 1):
            at = start + timedelta(seconds=5 * i)
            append_event(
                db,
                at=to_iso(at),
                operator="bench",
                kind="note",
                incident_id=case.id,
                data={"text": f"第{i}条现场情况：道路抢通进展，转移群众{i % 50}人"},
            )
    mob_id = start_mobilization(
        db, clock, "bench", targets=[Target("node", "root")], message="集合",
        mode="broadcast", incident_id=case.id,
    )  # fmt: skip
    rng = random.Random(5)
    rows = db.conn.execute(
        "SELECT id FROM recipients WHERE mobilization_id = ?", (mob_id,)
    ).fetchall()
    updates = []
    for (rid,) in rows:
        sent = start + timedelta(seconds=rng.randint(0, 600))
        pick = rng.random()
        state = (
            "yes"
            if pick < 0.6
            else "no"
            if pick < 0.7
            else "no_answer"
            if pick < 0.95
            else "unreachable"
        )
        answered = (
            sent + timedelta(seconds=rng.randint(10, 1800)) if state in ("yes", "no") else None
        )
        updates.append((state, to_iso(sent), to_iso(answered) if answered else None, rid))
    with write(db):
        db.conn.executemany(
            "UPDATE recipients SET state = ?, first_sent_at = ?, answered_at = ? WHERE id = ?",
            updates,
        )
    db.conn.execute("ANALYZE")
    report.line(
        f"data.case entries={entries:,} people={len(rows):,}"
        f" built in {time.perf_counter() - t0:.1f}s"
    )
    now = start + timedelta(days=1)
    base = best(
        lambda: db.conn.execute(
            "SELECT id, at, operator, kind, data FROM events WHERE incident_id = ? ORDER BY id",
            (case.id,),
        ).fetchall()
    )
    doc_holder: list[object] = []

    def html() -> bytes:
        doc = build_case_report(db, case.id, now=now, zone=ZONE)
        doc_holder[:] = [doc]
        return render(doc, "html")

    took = best(html)
    report.line(f"case.baseline read the timeline once {base:.3f}s")
    report.check(
        "case.html",
        f"{took:.3f}s ratio={took / base:.1f} to the read target<{TARGET_CASE_S:.0f}s {load()}",
        took < TARGET_CASE_S,
    )
    doc = doc_holder[0]
    for fmt in ("pdf", "docx"):
        t1 = time.perf_counter()
        size = len(render(doc, fmt))  # type: ignore[arg-type]
        report.line(f"case.{fmt} {time.perf_counter() - t1:.3f}s ({size / 1e6:.1f} MB) (reported)")
    db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100,000 cases instead of 1,000,000")
    parser.add_argument("--cases", type=int, default=None)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--phases", default="stats,case")
    parser.add_argument("--out", type=Path, default=None, help="keep the databases here")
    args = parser.parse_args(argv)
    n_cases = args.cases or (100_000 if args.quick else 1_000_000)
    phases = set(args.phases.split(","))
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-reports-"))
    root.mkdir(parents=True, exist_ok=True)
    report = Report()
    report.line(f"bench.reports {date.today()} {load()}")
    try:
        if "stats" in phases:
            bench_stats(root, n_cases, report)
        if "case" in phases:
            bench_case(root, args.entries, args.people, report)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    report.verdict()
    return 0 if not report.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
