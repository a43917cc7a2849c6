"""Provides a run's evaluation: its figures, a proposed P/S/M/U rating per objective, the
evaluator's confirmed ratings, and the proof an earlier improvement item worked.

The figures come from the run's exercise mobilization: who was called, who said yes or no, who
never answered (phones masked: the list goes into reports), how long people took, per grid and
per level of the tree, plus the milestones noted during the run. A rating is proposed from them
(:func:`propose`) so evaluators start from the same numbers every time; the evaluator confirms
or changes it, and a change needs a reason: a rating is argued, not asserted. An objective
rated met (P or S) closes the plan's improvement items for it raised by earlier runs: that is
the retest that proves a fix.

Called means a call-out went to the person (or they answered, or no channel reached them: a
finding too); someone still queued, or stood down or cancelled before their message went, was
not called. Times: ``p50_s``/``p90_s`` are how long a person took to answer once called (what the
mobilization's live view shows); ``first_answer_s``, a group's ``first_s`` and the objectives
count from the start of the run, as their words say ("answer yes within 10 minutes").

One read of the mobilization's recipients with their nodes gives everything: a 30,000-person
call-out is measured in a second or two, most of it masking the silent people's phones.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from drills import improvements
from drills.models import (
    MAX_TEXT,
    Evaluation,
    GroupFigure,
    Metric,
    Metrics,
    NoteKind,
    Objective,
    ObjectiveResult,
    Plan,
    Rating,
    Run,
    RunState,
    SilentOne,
)
from drills.plans import get_plan, objectives_by_id
from drills.runs import get_run, notes
from mobilization import RecipientState, get_mobilization, recipient_rows
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import DutydeskError, InvalidInput, InvalidTransition
from store.i18n import _
from store.masking import mask_phone
from store.text import clean_text

# Rates: P at the target, S within 10 points below it, M within 25, else U.
RATE_STEPS = (0.0, 10.0, 25.0)
# Times: P within the limit, S within 1.25 times it, M within 1.5 times, else U.
TIME_STEPS = (1.0, 1.25, 1.5)
_EPSILON = 1e-9
# Not called: never sent a call-out (still queued, or stood down or cancelled before it went).
_NOT_CALLED = frozenset(
    {RecipientState.QUEUED, RecipientState.STOOD_DOWN, RecipientState.CANCELLED}
)


@dataclass(frozen=True)
class RunMetrics(Metrics):
    """:class:`~drills.models.Metrics` with what the answer-rate objectives need besides:
    each level's yes answers, seconds from the start, sorted (not part of the JSON form)."""

    yes_at_s: Mapping[int, tuple[float, ...]] = field(default_factory=dict)


def milestone_key(name: str) -> str:
    """How a milestone's name is matched: case, spaces and underscores do not matter."""
    return " ".join(name.replace("_", " ").split()).casefold()


class _Recipient(NamedTuple):
    """One recipient with the first (highest) node that names them."""

    id: int
    person_id: int
    name: str
    state: str
    sent: int
    wait_s: float | None  # answered - first sent
    since_s: float | None  # answered - the start
    level: int
    position: int
    grp: str | None
    label: str


# The recipients of a mobilization with the nodes that name them, highest node first (as the
# mobilization's summary counts them); times as seconds, computed by SQLite.
_RECIPIENTS = (
    "SELECT r.id, r.person_id, r.name, r.state, r.first_sent_at IS NOT NULL,"
    " round((julianday(r.answered_at) - julianday(r.first_sent_at)) * 86400.0, 3),"
    " round((julianday(r.answered_at) - julianday(?)) * 86400.0, 3),"
    " n.level, n.position, n.grp, n.label FROM recipients r"
    " JOIN mob_links l ON l.recipient_id = r.id JOIN mob_nodes n ON n.id = l.node_id"
    " WHERE r.mobilization_id = ?"
    " ORDER BY r.id, n.level, n.position"
)


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks of sorted ``values`` (as mobilization's)."""
    if not values:
        return None
    k = (len(values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


class _Tally:
    """The figures of one group of recipients as they are counted."""

    def __init__(self) -> None:
        self.called = self.yes = self.no = 0
        self.waits: list[float] = []
        self.first: float | None = None
        self.yes_at: list[float] = []

    def add(self, r: _Recipient) -> None:
        self.called += 1
        if r.state == RecipientState.YES:
            self.yes += 1
        elif r.state == RecipientState.NO:
            self.no += 1
        else:
            return
        if r.wait_s is not None:
            self.waits.append(max(0.0, r.wait_s))
        if r.since_s is not None:
            since = max(0.0, r.since_s)
            self.first = since if self.first is None else min(self.first, since)
            if r.state == RecipientState.YES:
                self.yes_at.append(since)

    def percentile(self, q: float) -> float | None:
        self.waits.sort()
        return _percentile(self.waits, q)

    def figure(self, key: str) -> GroupFigure:
        return GroupFigure(
            key=key,
            called=self.called,
            yes=self.yes,
            no=self.no,
            silent=self.called - self.yes - self.no,
            p50_s=self.percentile(0.5),
            first_s=self.first,
        )


def _milestones(db: Database, run: Run) -> dict[str, float]:
    """Each milestone's first time, minutes from the start."""
    out: dict[str, float] = {}
    for note in notes(db, run.id):
        if note.kind is NoteKind.MILESTONE:
            key = milestone_key(note.text)
            if key not in out:
                out[key] = round((note.at - run.started_at).total_seconds() / 60, 2)
    return out


def _called(rows: Sequence[Any]) -> list[_Recipient]:
    """Each recipient once (at their highest node), those a call-out went to."""
    out: list[_Recipient] = []
    last = None
    for row in rows:
        r = _Recipient._make(row)
        if r.id == last:
            continue
        last = r.id
        if r.sent or r.state not in _NOT_CALLED:
            out.append(r)
    return out


def measure_run(db: Database, run: Run, *, phones: bool = True) -> RunMetrics:
    """What ``run`` measured; ``phones=False`` leaves the silent people's phones unread
    (masked phones cost a parse each: the trend needs them for one run only)."""
    milestones = _milestones(db, run)
    if run.mobilization_id is None:
        return RunMetrics(run_id=run.id, milestones=milestones)
    mob = get_mobilization(db, run.mobilization_id)
    rows = db.conn.execute(_RECIPIENTS, (to_iso(mob.created_at), mob.id)).fetchall()
    called = _called(rows)
    total = _Tally()
    groups: dict[str, _Tally] = {}
    levels: dict[int, _Tally] = {}
    for r in called:
        total.add(r)
        levels.setdefault(int(r.level), _Tally()).add(r)
        if r.grp:
            groups.setdefault(r.grp, _Tally()).add(r)
    silent = [r for r in called if r.state not in (RecipientState.YES, RecipientState.NO)]
    phone_of: dict[int, str] = {}
    if phones and silent:
        phone_of = {int(p["id"]): p["phone"] or "" for p in recipient_rows(db, mob.id)}
    silent.sort(key=lambda r: (r.level, r.position, r.name, r.id))  # tree order
    figure = total.figure("")
    return RunMetrics(
        run_id=run.id,
        called=figure.called,
        yes=figure.yes,
        no=figure.no,
        silent=figure.silent,
        first_answer_s=total.first,
        p50_s=figure.p50_s,
        p90_s=total.percentile(0.9),
        by_group=tuple(groups[g].figure(g) for g in sorted(groups)),
        by_level=tuple(levels[n].figure(f"level {n}") for n in sorted(levels)),
        never_answered=tuple(
            SilentOne(
                person_id=int(r.person_id),
                name=r.name,
                node=r.label,
                phone_masked=mask_phone(phone_of.get(int(r.id))),
            )
            for r in silent
        ),
        milestones=milestones,
        yes_at_s={n: tuple(sorted(t.yes_at)) for n, t in levels.items()},
    )


def measure(db: Database, run_id: int) -> RunMetrics:
    """What the run measured; the call-out figures stay empty for a run without one.

    Raises:
        NotFound: no such run.
    """
    return measure_run(db, get_run(db, run_id))


# ------------------------------------------------------------------------------- proposing


def _by_rate(value: float, target: float) -> Rating:
    for step, rating in zip(RATE_STEPS, (Rating.P, Rating.S, Rating.M), strict=True):
        if value >= target - step - _EPSILON:
            return rating
    return Rating.U


def _by_time(value: float, within: float) -> Rating:
    for step, rating in zip(TIME_STEPS, (Rating.P, Rating.S, Rating.M), strict=True):
        if value <= within * step + _EPSILON:
            return rating
    return Rating.U


def _yes_within(metrics: Metrics, level: int | None, seconds: float) -> int | None:
    """How many said yes within ``seconds`` of the start (at ``level``), when known."""
    if not isinstance(metrics, RunMetrics):
        return None
    times = (
        sorted(t for ts in metrics.yes_at_s.values() for t in ts)
        if level is None
        else list(metrics.yes_at_s.get(level, ()))
    )
    return bisect.bisect_right(times, seconds + _EPSILON)


def propose(objective: Objective, metrics: Metrics) -> tuple[float | None, Rating | None]:
    """The objective's value in its unit (% or minutes) and the rating it earns.

    Rates: P at or above the target, S within 10 points below, M within 25, else U. Times: P
    within the limit, S within 1.25 times it, M within 1.5 times, else U. ``(None, None)``
    when the run cannot measure it (a free objective; no call-out; a milestone never noted);
    ``(None, U)`` for a first answer that never came.
    """
    metric = objective.metric
    within = objective.within_min
    if metric is Metric.FREE:
        return None, None
    if metric is Metric.MILESTONE:
        minutes = metrics.milestones.get(milestone_key(objective.name or ""))
        if minutes is None or within is None:
            return None, None
        return minutes, _by_time(minutes, within)
    if metrics.called == 0 or within is None:
        return None, None
    if metric is Metric.FIRST_ANSWER:
        if metrics.first_answer_s is None:
            return None, Rating.U
        minutes = round(metrics.first_answer_s / 60, 2)
        return minutes, _by_time(metrics.first_answer_s / 60, within)
    target = objective.target if objective.target is not None else 100.0
    if metric is Metric.REACH:
        if not metrics.by_group:
            return None, None
        reached = sum(
            1 for g in metrics.by_group if g.first_s is not None and g.first_s <= within * 60
        )
        rate = 100.0 * reached / len(metrics.by_group)
        return round(rate, 2), _by_rate(rate, target)
    # answer rate, of everyone called or of one level
    if objective.level is None:
        called = metrics.called
    else:
        figure = next((g for g in metrics.by_level if g.key == f"level {objective.level}"), None)
        called = figure.called if figure is not None else 0
    yes = _yes_within(metrics, objective.level, within * 60)
    if called == 0 or yes is None:
        return None, None
    rate = 100.0 * yes / called
    return round(rate, 2), _by_rate(rate, target)


# ------------------------------------------------------------------------------- evaluating


class _RatingRow(NamedTuple):
    objective_id: int
    value: float | None
    proposed: str | None
    rating: str
    reason: str | None
    rated_by: str
    rated_at: str


def _ratings(db: Database, run_id: int) -> dict[int, _RatingRow]:
    return {
        int(r[0]): _RatingRow._make(r)
        for r in db.conn.execute(
            "SELECT objective_id, value, proposed, rating, reason, rated_by, rated_at"
            " FROM drill_ratings WHERE run_id = ?",
            (run_id,),
        )
    }


def run_objectives(db: Database, run: Run, plan: Plan) -> list[Objective]:
    """What a run is rated on: the objectives it was rated on, and, until it is evaluated, the
    plan's current ones (a plan edited after the run keeps its old ratings)."""
    rated = set(_ratings(db, run.id))
    current = [] if run.state is RunState.EVALUATED else list(plan.objectives)
    known = {o.id for o in current}
    retired = objectives_by_id(db, rated - known).values()
    return current + sorted(retired, key=lambda o: (o.position, o.id))


def _result(objective: Objective, metrics: Metrics, row: _RatingRow | None) -> ObjectiveResult:
    if row is None:
        value, proposed = propose(objective, metrics)
        return ObjectiveResult(objective=objective, value=value, proposed=proposed)
    return ObjectiveResult(
        objective=objective,
        value=row.value,
        proposed=Rating(row.proposed) if row.proposed else None,
        rating=Rating(row.rating),
        reason=row.reason,
        rated_by=row.rated_by,
        rated_at=from_iso(row.rated_at),
    )


def results(db: Database, run: Run, plan: Plan, metrics: Metrics) -> tuple[ObjectiveResult, ...]:
    """Each objective of the run: as rated, or with its proposal from ``metrics``."""
    rows = _ratings(db, run.id)
    return tuple(_result(o, metrics, rows.get(o.id)) for o in run_objectives(db, run, plan))


def evaluation(db: Database, run_id: int) -> Evaluation:
    """Everything the after-action report shows of a run: its figures, each objective's
    result, the notes, and the improvement items it raised.

    Raises:
        NotFound: no such run.
    """
    run = get_run(db, run_id)
    plan = get_plan(db, run.plan_id)
    metrics = measure_run(db, run)
    rated = results(db, run, plan, metrics)
    keys = {plan.organizer, *plan.evaluators, *plan.participants, run.started_by}
    keys |= {r.rated_by for r in rated if r.rated_by}
    return Evaluation(
        run=run,
        plan=plan,
        metrics=metrics,
        results=rated,
        notes=tuple(notes(db, run.id)),
        improvements=tuple(improvements.list_improvements(db, run=run.id)),
        names=_names(db, keys),
    )


def _names(db: Database, keys: Iterable[str]) -> dict[str, str]:
    """Each key that names a person, with the person's name (operators that are not people,
    such as the scheduler, are left out)."""
    from contacts.people import get_person

    names: dict[str, str] = {}
    for key in keys:
        try:
            names[key] = get_person(db, key).name
        except DutydeskError:
            continue
    return names


def _rating(value: Rating | str) -> Rating:
    if isinstance(value, Rating):
        return value
    try:
        return Rating(str(value).strip().upper())
    except ValueError:
        raise InvalidInput(_("rate P, S, M or U"), "rating") from None


def rate(
    db: Database,
    clock: Clock,
    operator: str,
    run_id: int,
    objective_id: int,
    rating: Rating | str,
    reason: str | None = None,
) -> ObjectiveResult:
    """Confirm (or change) an objective's rating for a run (audit ``drill_rated``).

    A rating other than the proposed one needs a reason, and so does M or U for an objective
    the run could not measure (a free one). Once every objective is rated, the run is
    ``evaluated``. A met rating (P, S) closes the plan's improvement items for the objective
    raised by earlier runs; changing it to M or U later reopens those this run closed.

    Raises:
        InvalidTransition: the run is still running. InvalidInput: a bad rating, an objective
            the run is not rated on, a missing reason. NotFound: no such run.
    """
    chosen = _rating(rating)
    why = clean_text(reason or "", "reason", kind="note", multiline=True) or None
    if why is not None and len(why) > MAX_TEXT:
        raise InvalidInput(
            _("is {length} characters long; at most {limit}").format(
                length=len(why), limit=MAX_TEXT
            ),
            "reason",
        )
    now = clock.now()
    at = to_iso(now)
    with write(db):
        run = get_run(db, run_id)
        if run.state is RunState.RUNNING:
            raise InvalidTransition(
                _("drill run {id} is still running; end it before rating it").format(id=run.id)
            )
        plan = get_plan(db, run.plan_id)
        objectives = {o.id: o for o in run_objectives(db, run, plan)}
        objective = objectives.get(int(objective_id))
        if objective is None:
            raise InvalidInput(
                _("objective {id} is not one of run {run}'s objectives").format(
                    id=objective_id, run=run.id
                ),
                "objective",
            )
        previous = _ratings(db, run.id).get(objective.id)
        if previous is not None:
            value = previous.value
            proposed = Rating(previous.proposed) if previous.proposed else None
        else:
            value, proposed = propose(objective, measure_run(db, run, phones=False))
        if why is None and proposed is not None and chosen is not proposed:
            raise InvalidInput(
                _("{rating} differs from the proposed {proposed}: give the reason").format(
                    rating=chosen.value, proposed=proposed.value
                ),
                "reason",
            )
        if why is None and proposed is None and not chosen.met:
            raise InvalidInput(
                _("{rating} needs a reason: what went wrong").format(rating=chosen.value),
                "reason",
            )
        db.conn.execute(
            "INSERT INTO drill_ratings (run_id, objective_id, value, proposed, rating, reason,"
            " rated_by, rated_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (run_id, objective_id)"
            " DO UPDATE SET rating = excluded.rating, reason = excluded.reason,"
            " rated_by = excluded.rated_by, rated_at = excluded.rated_at",
            (
                run.id,
                objective.id,
                value,
                proposed.value if proposed else None,
                chosen.value,
                why,
                operator,
                at,
            ),
        )
        if chosen.met:
            closed, reopened = improvements.close_met(db, at, operator, run, objective.id), []
        else:
            closed, reopened = [], improvements.reopen(db, run, objective.id)
        rated = _ratings(db, run.id)
        complete = all(o in rated for o in objectives)
        if complete and run.state in (RunState.ENDED, RunState.STOPPED):
            db.conn.execute("UPDATE drill_runs SET state = 'evaluated' WHERE id = ?", (run.id,))
        append_event(
            db,
            at=at,
            operator=operator,
            kind="drill_rated",
            data={
                "run": run.id,
                "plan": plan.code,
                "objective": objective.id,
                "rating": chosen.value,
                "proposed": proposed.value if proposed else None,
                "value": value,
                "reason": why,
                "previous": previous.rating if previous else None,
                "closed": closed,
                "reopened": reopened,
                "evaluated": complete,
            },
        )
    return ObjectiveResult(
        objective=objective,
        value=value,
        proposed=proposed,
        rating=chosen,
        reason=why,
        rated_by=operator,
        rated_at=from_iso(at),
    )
