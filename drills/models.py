"""Provides the drill vocabulary: kinds, metrics, ratings and states, and the records drills return.

Plain data shared by plans, schedules, runs, evaluation and the shells. Each state is a
:class:`~enum.StrEnum` whose value is the code stored in the database and printed by ``--json``,
and whose ``.label`` is the word shown to people, translated when read (as
:class:`incidents.models.Stage` does); each record's ``to_json`` is its one JSON form.

The cycle follows HSEEP and the Chinese practice alike (plan → prepare → run → evaluate →
improve): a :class:`Plan` with measurable :class:`Objective` s is scheduled (:class:`Schedule`, one
occurrence or an RFC 5545 RRULE in a time zone), each occurrence and each reminder before it is
claimed once (:class:`ClaimOutcome`), a :class:`Run` exercises the plan (a call-tree drill is an
exercise mobilization), the evaluator confirms a :class:`Rating` per objective, and each area for
improvement becomes an :class:`Improvement` that only a later run can close.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from store.clock import to_iso
from store.errors import InvalidInput
from store.i18n import N_, _

E = TypeVar("E", bound=StrEnum)

DEFAULT_REMINDERS_MIN = (7 * 24 * 60, 24 * 60, 60)  # 7 days, 1 day, 1 hour before
DEFAULT_GRACE_MIN = 30  # fires late (and says so) within this; beyond it, recorded as missed
MAX_NAME = 120
MAX_TEXT = 2000
PLAN_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"


def choice(cls: type[E], value: E | str, field: str) -> E:
    """``value`` as a member of the vocabulary ``cls`` (its code, any case), or a clear refusal.

    Raises:
        InvalidInput: not one of the codes, which the message lists, naming ``field``.
    """
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(
            _("{value!r} is not one of {choices}").format(
                value=value, choices=", ".join(m.value for m in cls)
            ),
            field,
        ) from None


class DrillKind(StrEnum):
    """What is exercised: the call tree alone, a discussion, or the office and the field."""

    NOTIFICATION = "notification"  # 通信联络/叫应: does the call tree answer?
    TABLETOP = "tabletop"  # 桌面推演
    FUNCTIONAL = "functional"  # 功能演练 (单项)
    FULL_SCALE = "full_scale"  # 实战/综合演练

    @property
    def label(self) -> str:
        return _(DRILL_KIND_NAMES[self])

    @property
    def label_zh(self) -> str:
        return DRILL_KIND_ZH[self]

    @property
    def calls_out(self) -> bool:
        """Whether a run starts an exercise mobilization of the plan's scope."""
        return self is not DrillKind.TABLETOP


DRILL_KIND_NAMES = {
    DrillKind.NOTIFICATION: N_("call-tree"),
    DrillKind.TABLETOP: N_("tabletop"),
    DrillKind.FUNCTIONAL: N_("functional"),
    DrillKind.FULL_SCALE: N_("full-scale"),
}
DRILL_KIND_ZH = {
    DrillKind.NOTIFICATION: "通信联络",
    DrillKind.TABLETOP: "桌面推演",
    DrillKind.FUNCTIONAL: "单项演练",
    DrillKind.FULL_SCALE: "综合演练",
}


class Hours(StrEnum):
    """When a plan's drills may fall: a call tree is only proven when it answers at 3 a.m."""

    ANY = "any"
    WORKING = "working"
    AFTER = "after"  # outside working hours (nights, weekends, holidays)

    @property
    def label(self) -> str:
        return _(HOURS_NAMES[self])


HOURS_NAMES = {
    Hours.ANY: N_("any time"),
    Hours.WORKING: N_("working hours"),
    Hours.AFTER: N_("after hours"),
}


class Metric(StrEnum):
    """What an objective measures, and so how a run computes its value.

    * ``answer_rate`` — % of the people called (at ``level`` of the tree when given) who answered
      yes within ``within_min`` minutes of the start; met when ≥ ``target``.
    * ``reach`` — % of groups (grids) where somebody answered (yes or no) within ``within_min``;
      met when ≥ ``target`` (100: every grid).
    * ``first_answer`` — minutes from the start to the first answer; met when ≤ ``within_min``.
    * ``milestone`` — minutes from the start to the milestone named ``name`` recorded during the
      run ("case logged", "initial report signed off"); met when ≤ ``within_min``.
    * ``free`` — no number: the evaluator rates it from observations.
    """

    ANSWER_RATE = "answer_rate"
    REACH = "reach"
    FIRST_ANSWER = "first_answer"
    MILESTONE = "milestone"
    FREE = "free"

    @property
    def label(self) -> str:
        return _(METRIC_NAMES[self])

    @property
    def unit(self) -> str:
        """``%`` for rates, ``min`` for times, empty for free objectives."""
        if self in (Metric.ANSWER_RATE, Metric.REACH):
            return "%"
        return "" if self is Metric.FREE else "min"


METRIC_NAMES = {
    Metric.ANSWER_RATE: N_("answer rate"),
    Metric.REACH: N_("reach"),
    Metric.FIRST_ANSWER: N_("first answer"),
    Metric.MILESTONE: N_("milestone"),
    Metric.FREE: N_("rated by the evaluator"),
}


class Rating(StrEnum):
    """HSEEP's four ratings of how an objective was performed."""

    P = "P"  # performed without challenges
    S = "S"  # performed with some challenges
    M = "M"  # performed with major challenges
    U = "U"  # unable to be performed

    @property
    def label(self) -> str:
        return _(RATING_NAMES[self])

    @property
    def met(self) -> bool:
        """P and S count as the objective met (what closes an improvement item on retest)."""
        return self in (Rating.P, Rating.S)


RATING_NAMES = {
    Rating.P: N_("performed without challenges"),
    Rating.S: N_("performed with some challenges"),
    Rating.M: N_("performed with major challenges"),
    Rating.U: N_("unable to be performed"),
}


class ScheduleState(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    ENDED = "ended"  # a one-off that ran, or an RRULE with no occurrence left

    @property
    def label(self) -> str:
        return _(SCHEDULE_STATE_NAMES[self])


SCHEDULE_STATE_NAMES = {
    ScheduleState.ACTIVE: N_("active"),
    ScheduleState.CANCELLED: N_("cancelled"),
    ScheduleState.ENDED: N_("ended"),
}


class ClaimOutcome(StrEnum):
    """What became of one due moment (an occurrence's run, or one of its reminders).

    A moment is claimed by one row, UNIQUE (schedule, occurrence, what), before anything is
    done: two engines, a restart or a clock jump never act on it twice.
    """

    FIRED = "fired"  # on time
    LATE = "late"  # within the grace period: fired late, and says by how much
    MISSED = "missed"  # beyond the grace period (no engine ran): recorded, shown, not fired
    CANCELLED = "cancelled"  # the occurrence was cancelled before it fell due
    SKIPPED = "skipped"  # nothing to do (an unannounced drill's reminders)

    @property
    def label(self) -> str:
        return _(CLAIM_OUTCOME_NAMES[self])


CLAIM_OUTCOME_NAMES = {
    ClaimOutcome.FIRED: N_("fired"),
    ClaimOutcome.LATE: N_("fired late"),
    ClaimOutcome.MISSED: N_("missed"),
    ClaimOutcome.CANCELLED: N_("cancelled"),
    ClaimOutcome.SKIPPED: N_("skipped"),
}

RUN_WHAT = "run"
"""The ``what`` of an occurrence's own claim; a reminder's is ``remind:<minutes before>``."""


def remind_what(minutes: int) -> str:
    return f"remind:{minutes}"


class RunState(StrEnum):
    """A run: ``running`` → ``ended`` (its mobilization finished or the officer ended it) or
    ``stopped`` (a real emergency) → ``evaluated`` once the evaluator confirmed every rating."""

    RUNNING = "running"
    ENDED = "ended"
    STOPPED = "stopped"
    EVALUATED = "evaluated"

    @property
    def label(self) -> str:
        return _(RUN_STATE_NAMES[self])


RUN_STATE_NAMES = {
    RunState.RUNNING: N_("running"),
    RunState.ENDED: N_("ended"),
    RunState.STOPPED: N_("stopped"),
    RunState.EVALUATED: N_("evaluated"),
}


class NoteKind(StrEnum):
    OBSERVATION = "observation"  # what an evaluator saw, at a time
    STRENGTH = "strength"
    MILESTONE = "milestone"  # a named moment an objective measures ("case logged")

    @property
    def label(self) -> str:
        return _(NOTE_KIND_NAMES[self])


NOTE_KIND_NAMES = {
    NoteKind.OBSERVATION: N_("observation"),
    NoteKind.STRENGTH: N_("strength"),
    NoteKind.MILESTONE: N_("milestone"),
}


class Element(StrEnum):
    """HSEEP's capability elements an improvement item corrects."""

    PLANNING = "planning"
    ORGANIZATION = "organization"
    EQUIPMENT = "equipment"
    TRAINING = "training"
    EXERCISE = "exercise"

    @property
    def label(self) -> str:
        return _(ELEMENT_NAMES[self])


ELEMENT_NAMES = {
    Element.PLANNING: N_("planning"),
    Element.ORGANIZATION: N_("organization"),
    Element.EQUIPMENT: N_("equipment"),
    Element.TRAINING: N_("training"),
    Element.EXERCISE: N_("exercise"),
}


class ImprovementState(StrEnum):
    """``open`` → ``done`` (the owner reports the corrective action taken) → ``closed`` only when
    a later run of the plan meets the objective again (or its evaluator confirms the retest)."""

    OPEN = "open"
    DONE = "done"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return _(IMPROVEMENT_STATE_NAMES[self])


IMPROVEMENT_STATE_NAMES = {
    ImprovementState.OPEN: N_("to fix"),
    ImprovementState.DONE: N_("awaiting retest"),
    ImprovementState.CLOSED: N_("fixed and retested"),
}


class NoticeKind(StrEnum):
    """A message drills send through the contact channels (not a mobilization's call-out)."""

    REMINDER = "reminder"  # a drill is coming
    INJECT = "inject"  # a scripted message of a tabletop or field run
    STOPPED = "stopped"  # the drill was stopped: a real emergency
    IMPROVEMENT = "improvement"  # an improvement item is overdue (to its owner)

    @property
    def label(self) -> str:
        return _(NOTICE_KIND_NAMES[self])


NOTICE_KIND_NAMES = {
    NoticeKind.REMINDER: N_("drill reminder"),
    NoticeKind.INJECT: N_("inject"),
    NoticeKind.STOPPED: N_("drill stopped"),
    NoticeKind.IMPROVEMENT: N_("improvement due"),
}


class NoticeState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # handed to a sender; goes again (same id) if the engine dies
    SENT = "sent"
    FAILED = "failed"  # no channel, or the channel refused for good

    @property
    def label(self) -> str:
        return _(NOTICE_STATE_NAMES[self])


NOTICE_STATE_NAMES = {
    NoticeState.PENDING: N_("pending"),
    NoticeState.CLAIMED: N_("sending"),
    NoticeState.SENT: N_("sent"),
    NoticeState.FAILED: N_("failed"),
}


def _iso(at: datetime | None) -> str | None:
    return to_iso(at) if at is not None else None


# ------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Objective:
    """One measurable objective of a plan (see :class:`Metric` for how it is computed)."""

    id: int
    position: int
    text: str
    metric: Metric
    target: float | None = None  # % for rates
    within_min: float | None = None  # minutes
    level: int | None = None  # tree level the answer rate counts (0: the top); None: all
    name: str | None = None  # the milestone's name

    def describe(self) -> str:
        """The objective's measure in words: "≥ 90 % answer yes within 10 min (level 1)"."""
        if self.metric is Metric.ANSWER_RATE:
            text = _("≥ {target:g} % answer yes within {within:g} min").format(
                target=self.target or 0, within=self.within_min or 0
            )
            if self.level is not None:
                text += " " + _("(level {level})").format(level=self.level)
            return text
        if self.metric is Metric.REACH:
            return _("≥ {target:g} % of grids answer within {within:g} min").format(
                target=self.target or 0, within=self.within_min or 0
            )
        if self.metric is Metric.FIRST_ANSWER:
            return _("first answer within {within:g} min").format(within=self.within_min or 0)
        if self.metric is Metric.MILESTONE:
            return _("{name} within {within:g} min").format(
                name=self.name or "?", within=self.within_min or 0
            )
        return _("rated by the evaluator")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "position": self.position,
            "text": self.text,
            "metric": self.metric.value,
            "target": self.target,
            "within_min": self.within_min,
            "level": self.level,
            "name": self.name,
        }


@dataclass(frozen=True)
class Inject:
    """A scripted message of a tabletop or field run: ``at_min`` after the start, to everyone
    taking part (or shown only, when ``send`` is false)."""

    at_min: float
    text: str
    send: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"at_min": self.at_min, "text": self.text, "send": self.send}


@dataclass(frozen=True)
class Plan:
    id: int
    code: str
    name: str
    kind: DrillKind
    scenario: str  # a case category/type, "flood/内涝"; may be empty
    scope: tuple[str, ...]  # targets as mobilization formats them: grid:G01, team:.., node:..
    announced: bool
    hours: Hours
    organizer: str  # a person's key
    evaluators: tuple[str, ...]  # person keys: reminded always
    participants: tuple[str, ...]  # person keys: reminded only when announced
    message: str  # the call-out text of the exercise mobilization
    tree: str
    reminders_min: tuple[int, ...]
    injects: tuple[Inject, ...]
    objectives: tuple[Objective, ...]
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "kind": self.kind.value,
            "scenario": self.scenario,
            "scope": list(self.scope),
            "announced": self.announced,
            "hours": self.hours.value,
            "organizer": self.organizer,
            "evaluators": list(self.evaluators),
            "participants": list(self.participants),
            "message": self.message,
            "tree": self.tree,
            "reminders_min": list(self.reminders_min),
            "injects": [i.to_json() for i in self.injects],
            "objectives": [o.to_json() for o in self.objectives],
            "active": self.active,
            "created_at": to_iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": to_iso(self.updated_at),
        }


@dataclass(frozen=True)
class Schedule:
    """When a plan runs: ``start`` is the first occurrence's local wall time in ``zone``;
    ``rrule`` (RFC 5545, without DTSTART) repeats it, None for a one-off."""

    id: int
    plan_id: int
    plan_code: str
    start: datetime  # naive local wall time
    zone: str
    rrule: str | None
    state: ScheduleState
    created_at: datetime
    created_by: str
    cancelled_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan_code,
            "start": self.start.isoformat(timespec="minutes"),
            "zone": self.zone,
            "rrule": self.rrule,
            "state": self.state.value,
            "created_at": to_iso(self.created_at),
            "created_by": self.created_by,
            "cancelled_at": _iso(self.cancelled_at),
        }


@dataclass(frozen=True)
class Occurrence:
    """One planned drill of a schedule (UTC), with its reminders still to come."""

    schedule_id: int
    plan_id: int
    plan_code: str
    plan_name: str
    kind: DrillKind
    announced: bool
    at: datetime  # UTC
    cancelled: bool = False
    next_reminder: datetime | None = None

    @property
    def uid(self) -> str:
        """Stable across feeds and restarts: the calendar's UID of this occurrence."""
        return f"drill-{self.schedule_id}-{self.at.strftime('%Y%m%dT%H%M%SZ')}@dutydesk"

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule_id,
            "plan": self.plan_code,
            "name": self.plan_name,
            "kind": self.kind.value,
            "announced": self.announced,
            "at": to_iso(self.at),
            "cancelled": self.cancelled,
            "next_reminder": _iso(self.next_reminder),
            "uid": self.uid,
        }


@dataclass(frozen=True)
class Due:
    """A moment that fell due and was claimed: what the engine must now do."""

    schedule_id: int
    occurrence: datetime  # UTC
    what: str  # RUN_WHAT or remind_what(minutes)
    outcome: ClaimOutcome
    late_s: int = 0
    run_id: int | None = None  # the run started, for a fired RUN_WHAT

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule_id,
            "occurrence": to_iso(self.occurrence),
            "what": self.what,
            "outcome": self.outcome.value,
            "late_s": self.late_s,
            "run": self.run_id,
        }


@dataclass(frozen=True)
class Run:
    id: int
    plan_id: int
    plan_code: str
    plan_name: str
    kind: DrillKind
    state: RunState
    started_at: datetime
    started_by: str
    schedule_id: int | None = None
    occurrence: datetime | None = None
    late_s: int = 0
    mobilization_id: int | None = None
    ended_at: datetime | None = None
    stop_reason: str | None = None

    @property
    def is_running(self) -> bool:
        return self.state is RunState.RUNNING

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan_code,
            "name": self.plan_name,
            "kind": self.kind.value,
            "state": self.state.value,
            "started_at": to_iso(self.started_at),
            "started_by": self.started_by,
            "schedule": self.schedule_id,
            "occurrence": _iso(self.occurrence),
            "late_s": self.late_s,
            "mobilization": self.mobilization_id,
            "ended_at": _iso(self.ended_at),
            "stop_reason": self.stop_reason,
        }


@dataclass(frozen=True)
class Note:
    """An observation, a strength or a milestone noted during or after a run."""

    id: int
    run_id: int
    kind: NoteKind
    at: datetime
    by: str
    text: str
    objective_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run": self.run_id,
            "kind": self.kind.value,
            "at": to_iso(self.at),
            "by": self.by,
            "text": self.text,
            "objective": self.objective_id,
        }


@dataclass(frozen=True)
class GroupFigure:
    """One grid's (group's) or one level's figures in a call-tree run."""

    key: str  # the group's code, or "level N"
    called: int
    yes: int
    no: int
    silent: int
    p50_s: float | None
    first_s: float | None

    @property
    def rate(self) -> float:
        return 100.0 * self.yes / self.called if self.called else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "called": self.called,
            "yes": self.yes,
            "no": self.no,
            "silent": self.silent,
            "rate": round(self.rate, 1),
            "p50_s": self.p50_s,
            "first_s": self.first_s,
        }


@dataclass(frozen=True)
class SilentOne:
    """Somebody called who never answered (the phone masked, for reports)."""

    person_id: int | None
    name: str
    node: str
    phone_masked: str

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person_id,
            "name": self.name,
            "node": self.node,
            "phone": self.phone_masked,
        }


@dataclass(frozen=True)
class Metrics:
    """What a run measured; the call-tree figures are empty for a run with no mobilization."""

    run_id: int
    called: int = 0
    yes: int = 0
    no: int = 0
    silent: int = 0
    first_answer_s: float | None = None
    p50_s: float | None = None
    p90_s: float | None = None
    by_group: tuple[GroupFigure, ...] = ()
    by_level: tuple[GroupFigure, ...] = ()
    never_answered: tuple[SilentOne, ...] = ()
    milestones: dict[str, float] = field(default_factory=dict)  # name -> minutes from start

    @property
    def answer_rate(self) -> float:
        return 100.0 * self.yes / self.called if self.called else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "called": self.called,
            "yes": self.yes,
            "no": self.no,
            "silent": self.silent,
            "answer_rate": round(self.answer_rate, 1),
            "first_answer_s": self.first_answer_s,
            "p50_s": self.p50_s,
            "p90_s": self.p90_s,
            "by_group": [g.to_json() for g in self.by_group],
            "by_level": [g.to_json() for g in self.by_level],
            "never_answered": [s.to_json() for s in self.never_answered],
            "milestones": dict(self.milestones),
        }


@dataclass(frozen=True)
class ObjectiveResult:
    """One objective of one run: its measured value, the proposed and the confirmed rating."""

    objective: Objective
    value: float | None  # in the metric's unit; None when the run cannot measure it
    proposed: Rating | None  # None for a free objective (the evaluator decides)
    rating: Rating | None = None  # confirmed by the evaluator
    reason: str | None = None  # required when the rating differs from the proposal
    rated_by: str | None = None
    rated_at: datetime | None = None

    @property
    def met(self) -> bool | None:
        chosen = self.rating or self.proposed
        return chosen.met if chosen is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "objective": self.objective.to_json(),
            "value": self.value,
            "proposed": self.proposed.value if self.proposed else None,
            "rating": self.rating.value if self.rating else None,
            "reason": self.reason,
            "rated_by": self.rated_by,
            "rated_at": _iso(self.rated_at),
        }


@dataclass(frozen=True)
class Improvement:
    """An area for improvement turned into a tracked corrective action (the IP's row)."""

    id: int
    plan_id: int
    plan_code: str
    run_id: int
    objective_id: int | None
    issue: str
    action: str
    element: Element
    owner: str  # a person's key
    owner_name: str
    due: datetime  # UTC
    state: ImprovementState
    created_at: datetime
    created_by: str
    done_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by_run: int | None = None

    def overdue(self, now: datetime) -> bool:
        return self.state is ImprovementState.OPEN and now > self.due

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan_code,
            "run": self.run_id,
            "objective": self.objective_id,
            "issue": self.issue,
            "action": self.action,
            "element": self.element.value,
            "owner": self.owner,
            "owner_name": self.owner_name,
            "due": to_iso(self.due),
            "state": self.state.value,
            "created_at": to_iso(self.created_at),
            "created_by": self.created_by,
            "done_at": _iso(self.done_at),
            "closed_at": _iso(self.closed_at),
            "closed_by_run": self.closed_by_run,
        }


@dataclass(frozen=True)
class Evaluation:
    """Everything the after-action report shows of one run."""

    run: Run
    plan: Plan
    metrics: Metrics
    results: tuple[ObjectiveResult, ...]
    notes: tuple[Note, ...]
    improvements: tuple[Improvement, ...]
    # Person keys (organizer, evaluators, participants, who rated) -> their names, for reports.
    names: dict[str, str] = field(default_factory=dict)

    def name_of(self, key: str) -> str | None:
        """The name of the person ``key`` names, when known."""
        return self.names.get(key)

    @property
    def complete(self) -> bool:
        """Every objective has a confirmed rating."""
        return all(r.rating is not None for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run.to_json(),
            "plan": self.plan.to_json(),
            "metrics": self.metrics.to_json(),
            "results": [r.to_json() for r in self.results],
            "notes": [n.to_json() for n in self.notes],
            "improvements": [i.to_json() for i in self.improvements],
            "complete": self.complete,
        }


@dataclass(frozen=True)
class TrendPoint:
    """One run of a plan, side by side with the others."""

    run_id: int
    started_at: datetime
    called: int
    answer_rate: float
    p50_s: float | None
    silent: int
    silent_again: int  # silent this run and the one before
    ratings: dict[int, str]  # objective id -> confirmed (or proposed) rating

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "started_at": to_iso(self.started_at),
            "called": self.called,
            "answer_rate": round(self.answer_rate, 1),
            "p50_s": self.p50_s,
            "silent": self.silent,
            "silent_again": self.silent_again,
            "ratings": {str(k): v for k, v in self.ratings.items()},
        }


@dataclass(frozen=True)
class Trend:
    """A plan's runs, oldest first, and who missed its last two drills in a row."""

    plan: Plan
    points: tuple[TrendPoint, ...]
    missed_twice: tuple[SilentOne, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.code,
            "points": [p.to_json() for p in self.points],
            "missed_twice": [s.to_json() for s in self.missed_twice],
        }


@dataclass(frozen=True)
class Notice:
    """A drill message to one person on one channel; ``id`` is its idempotency key."""

    id: str
    kind: NoticeKind
    person_id: int | None
    name: str
    channel: str
    address: str
    text: str
    due_at: datetime
    state: NoticeState
    run_id: int | None = None
    schedule_id: int | None = None
    tries: int = 0
    sent_at: datetime | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "person": self.person_id,
            "name": self.name,
            "channel": self.channel,
            "text": self.text,
            "due_at": to_iso(self.due_at),
            "state": self.state.value,
            "run": self.run_id,
            "schedule": self.schedule_id,
            "tries": self.tries,
            "sent_at": _iso(self.sent_at),
            "error": self.error,
        }
