"""Provides a plan's trend: its runs side by side, and who missed two drills in a row.

One drill says little; the same call tree tested month after month says whether it is getting
better, and someone silent twice in a row is a person the office head calls, not a network
fault. Only runs that went their course count (ended or evaluated): a run stopped by a real
emergency measured the emergency, not the plan.
"""

from __future__ import annotations

from drills.evaluation import RunMetrics, measure_run, results
from drills.models import Plan, Rating, Run, RunState, SilentOne, Trend, TrendPoint
from drills.plans import get_plan
from drills.runs import list_runs
from store.db import Database

COUNTED = (RunState.ENDED, RunState.EVALUATED)


def _silent(metrics: RunMetrics) -> set[int]:
    return {s.person_id for s in metrics.never_answered if s.person_id is not None}


def _ratings(db: Database, run: Run, plan: Plan, metrics: RunMetrics) -> dict[int, str]:
    out: dict[int, str] = {}
    for result in results(db, run, plan, metrics):
        chosen: Rating | None = result.rating or result.proposed
        if chosen is not None:
            out[result.objective.id] = chosen.value
    return out


def trend(db: Database, plan: str | int, *, limit: int = 12) -> Trend:
    """The plan's last ``limit`` counted runs, oldest first: called, answer rate, median time to
    answer, silent, silent again (also silent in the run before with a call-out) and each
    objective's confirmed (else proposed) rating; ``missed_twice`` lists the people silent in
    both of the last two runs with a call-out.

    Raises:
        NotFound: no such plan.
    """
    current = get_plan(db, plan)
    limit = max(1, limit)
    # One run more than shown: the oldest shown one's "silent again" needs the run before it.
    # A stopped run may have been evaluated since: its stop reason still leaves it out.
    counted = [
        r
        for r in list_runs(db, plan=current.id, states=COUNTED, limit=4 * (limit + 1))
        if r.stop_reason is None
    ]
    runs = list(reversed(counted[: limit + 1]))
    called_out = [r for r in runs if r.mobilization_id is not None]
    last_two = {r.id for r in called_out[-2:]}
    points: list[TrendPoint] = []
    previous: set[int] | None = None
    latest: RunMetrics | None = None
    silent_sets: dict[int, set[int]] = {}
    for run in runs:
        metrics = measure_run(db, run, phones=bool(called_out) and run.id == called_out[-1].id)
        silent = _silent(metrics)
        if run.mobilization_id is not None:
            if run.id in last_two:
                silent_sets[run.id] = silent
            latest = metrics
        points.append(
            TrendPoint(
                run_id=run.id,
                started_at=run.started_at,
                called=metrics.called,
                answer_rate=metrics.answer_rate,
                p50_s=metrics.p50_s,
                silent=metrics.silent,
                silent_again=len(silent & previous) if previous is not None else 0,
                ratings=_ratings(db, run, current, metrics),
            )
        )
        if run.mobilization_id is not None:
            previous = silent
    if len(runs) > limit:
        points = points[len(runs) - limit :]
    missed: tuple[SilentOne, ...] = ()
    if latest is not None and len(silent_sets) == 2:
        both = set.intersection(*silent_sets.values())
        missed = tuple(s for s in latest.never_answered if s.person_id in both)
    return Trend(plan=current, points=tuple(points), missed_twice=missed)
