"""Provides drill runs: starting one, its injects and notes, and how it ends.

A run of a call-out plan is an exercise mobilization of the plan's scope, started in the same
transaction as the run, so there is never a run without its call-out nor a call-out without its
run; every message it sends is marked as a drill, and its answers stay apart from real ones. A
tabletop or field run has a timeline of injects (scripted messages at planned minutes) and the
notes evaluators take; a ``milestone`` note names a moment an objective measures ("case
logged").

A run ends when its mobilization is over and its script has no inject left (the engine's
:func:`advance`), when the officer ends it (:func:`end_run`), or when a real emergency stops it
(:func:`stop_run`: the call-out is cancelled, so everyone already called is told, and the plan's
people get a "drill stopped" notice). A scheduled occurrence starts at most one run: the UNIQUE
(schedule, occurrence) row makes :func:`start_run` idempotent for the engine's retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from drills.models import (
    DRILL_KIND_NAMES,
    MAX_NAME,
    MAX_TEXT,
    DrillKind,
    Note,
    NoteKind,
    NoticeKind,
    Plan,
    Run,
    RunState,
    choice,
)
from drills.plans import check_objective, get_plan
from mobilization import (
    MobilizationState,
    Target,
    cancel_mobilization,
    ensure_default_tree,
    get_mobilization,
    start_mobilization,
)
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import _
from store.text import clean_text

ENGINE = "engine"  # the operator of what the engine's sweep does
FUTURE_SLACK = timedelta(minutes=1)  # a note may be dated this far ahead (clocks disagree)


class _RunRow(NamedTuple):
    id: int
    plan_id: int
    code: str
    name: str
    kind: str
    state: str
    started_at: str
    started_by: str
    schedule_id: int | None
    occurrence: str | None
    late_s: int
    mobilization_id: int | None
    ended_at: str | None
    stop_reason: str | None

    def run(self) -> Run:
        return Run(
            id=int(self.id),
            plan_id=int(self.plan_id),
            plan_code=self.code,
            plan_name=self.name,
            kind=DrillKind(self.kind),
            state=RunState(self.state),
            started_at=from_iso(self.started_at),
            started_by=self.started_by,
            schedule_id=self.schedule_id,
            occurrence=from_iso(self.occurrence) if self.occurrence else None,
            late_s=int(self.late_s),
            mobilization_id=self.mobilization_id,
            ended_at=from_iso(self.ended_at) if self.ended_at else None,
            stop_reason=self.stop_reason,
        )


_RUN_SELECT = (
    "SELECT r.id, r.plan_id, p.code, p.name, p.kind, r.state, r.started_at, r.started_by,"
    " r.schedule_id, r.occurrence, r.late_s, r.mobilization_id, r.ended_at, r.stop_reason"
    " FROM drill_runs r JOIN drill_plans p ON p.id = r.plan_id"
)


def _runs(db: Database, where: str, params: Sequence[Any], tail: str = "") -> list[Run]:
    rows = db.conn.execute(f"{_RUN_SELECT} WHERE {where} {tail}", params).fetchall()
    return [_RunRow._make(r).run() for r in rows]


def get_run(db: Database, run_id: int) -> Run:
    """Raises :class:`NotFound` for an unknown id."""
    found = _runs(db, "r.id = ?", (int(run_id),))
    if not found:
        raise NotFound(_("no drill run {id}").format(id=run_id))
    return found[0]


def list_runs(
    db: Database,
    *,
    plan: str | int | None = None,
    states: Sequence[RunState] | None = None,
    limit: int = 100,
) -> list[Run]:
    """Runs newest first, of one plan and in some states when given."""
    where = ["1 = 1"]
    params: list[Any] = []
    if plan is not None:
        where.append("r.plan_id = ?")
        params.append(get_plan(db, plan).id)
    if states is not None:
        where.append("r.state IN (SELECT value FROM json_each(?))")
        params.append(json.dumps([RunState(s).value for s in states]))
    return _runs(
        db, " AND ".join(where), [*params, limit], "ORDER BY r.started_at DESC, r.id DESC LIMIT ?"
    )


def running(db: Database) -> list[Run]:
    """The runs still running, oldest first."""
    return _runs(db, "r.state = ?", (RunState.RUNNING.value,), "ORDER BY r.started_at, r.id")


# ------------------------------------------------------------------------------- the texts


def inject_text(plan: Plan, text: str) -> str:
    """An inject as its participants receive it, marked as a drill in both languages."""
    return f"【演练 DRILL】{plan.name}: {text}"


def stop_text(plan: Plan, reason: str) -> str:
    """What the plan's people are told when a real emergency stops the drill."""
    kind_en = DRILL_KIND_NAMES[plan.kind]
    return (
        f"【演练中止 DRILL STOPPED】{plan.name}（{plan.kind.label_zh}）"
        f"因真实突发情况中止：{reason}。"
        "演练到此结束，请以实际指令为准。"
        f" Drill {plan.name} ({kind_en}) is stopped for a real emergency: {reason}."
        " The drill is over; follow real instructions only."
    )


# ------------------------------------------------------------------------------- starting


def _plan_of(db: Database, plan: str | int | Plan) -> Plan:
    return get_plan(db, plan.id if isinstance(plan, Plan) else plan)


def start_run(
    db: Database,
    clock: Clock,
    operator: str,
    plan: str | int | Plan,
    *,
    schedule_id: int | None = None,
    occurrence: datetime | None = None,
    late_s: int = 0,
) -> Run:
    """Start a run of ``plan`` now (audit ``drill_started``); a call-out plan's exercise
    mobilization starts in the same transaction (the default tree is built first if missing).

    A scheduled run (``schedule_id`` and ``occurrence``) is started once: called again for the
    same occurrence it returns the run already started. A run started by hand is refused while
    the plan has another run running.

    Raises:
        InvalidTransition: the plan is inactive, or (by hand) already running.
        InvalidInput / NotFound: what the mobilization refuses (a target no longer in the tree).
    """
    if (schedule_id is None) != (occurrence is None):
        raise InvalidInput(_("a scheduled run names its schedule and its occurrence"), "occurrence")
    if late_s < 0:
        raise InvalidInput(_("must not be negative"), "late_s")
    now = clock.now()
    at = to_iso(now)
    with write(db):
        if schedule_id is not None and occurrence is not None:
            row = db.conn.execute(
                "SELECT id FROM drill_runs WHERE schedule_id = ? AND occurrence = ?",
                (schedule_id, to_iso(occurrence)),
            ).fetchone()
            if row is not None:
                return get_run(db, int(row[0]))
        current = _plan_of(db, plan)
        if not current.active:
            raise InvalidTransition(
                _("drill plan {code} is inactive; activate it before running it").format(
                    code=current.code
                )
            )
        if schedule_id is None:
            busy = db.conn.execute(
                "SELECT id FROM drill_runs WHERE plan_id = ? AND state = 'running'", (current.id,)
            ).fetchone()
            if busy is not None:
                raise InvalidTransition(
                    _(
                        "drill plan {code} is already running (run {id}); end or stop it first"
                    ).format(code=current.code, id=busy[0])
                )
        mobilization_id: int | None = None
        if current.kind.calls_out:
            ensure_default_tree(db, clock, operator, current.tree)
            mobilization_id = start_mobilization(
                db,
                clock,
                operator,
                targets=[Target.parse(s) for s in current.scope],
                message=current.message,
                exercise=True,
                tree=current.tree,
            )
        cur = db.conn.execute(
            "INSERT INTO drill_runs (plan_id, schedule_id, occurrence, state, mobilization_id,"
            " started_at, started_by, late_s) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
            (
                current.id,
                schedule_id,
                to_iso(occurrence) if occurrence is not None else None,
                mobilization_id,
                at,
                operator,
                late_s,
            ),
        )
        run_id = int(cur.lastrowid or 0)
        db.conn.executemany(
            "INSERT INTO drill_injects (run_id, position, due_at, text, send) VALUES (?,?,?,?,?)",
            [
                (run_id, pos, to_iso(now + timedelta(minutes=i.at_min)), i.text, int(i.send))
                for pos, i in enumerate(current.injects, start=1)
            ],
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="drill_started",
            data={
                "run": run_id,
                "plan": current.code,
                "kind": current.kind.value,
                "schedule": schedule_id,
                "occurrence": to_iso(occurrence) if occurrence is not None else None,
                "late_s": late_s,
                "mobilization": mobilization_id,
                "injects": len(current.injects),
            },
        )
        return get_run(db, run_id)


# ------------------------------------------------------------------------------- ending


def _running(db: Database, run_id: int, refusal: str) -> Run:
    """The run, or ``refusal`` (translated, with ``{id}`` and ``{state}``) when it is over."""
    run = get_run(db, run_id)
    if run.state is not RunState.RUNNING:
        raise InvalidTransition(refusal.format(id=run.id, state=run.state.label))
    return run


def _cancel_call_out(db: Database, clock: Clock, operator: str, run: Run) -> int | None:
    """Cancel the run's mobilization while it is active (those called are told); how many
    were told, or None when there was nothing to cancel."""
    if run.mobilization_id is None:
        return None
    if get_mobilization(db, run.mobilization_id).state is not MobilizationState.ACTIVE:
        return None
    return cancel_mobilization(db, clock, operator, run.mobilization_id)


def stop_run(db: Database, clock: Clock, operator: str, run_id: int, reason: str) -> Run:
    """Stop a running drill for a real emergency (audit ``drill_stopped``).

    In one transaction: the exercise mobilization is cancelled (everyone already called is
    told), the injects not yet released are never sent, and the plan's organizer, evaluators
    and participants get a STOPPED notice saying why.

    Raises:
        InvalidInput: no reason. InvalidTransition: the run is not running. NotFound.
    """
    from drills import notices  # written beside this module; imported when a drill is stopped

    why = clean_text(reason, "reason", kind="note", required=True)
    if len(why) > MAX_TEXT:
        raise InvalidInput(
            _("is {length} characters long; at most {limit}").format(
                length=len(why), limit=MAX_TEXT
            ),
            "reason",
        )
    now = clock.now()
    with write(db):
        run = _running(
            db, run_id, _("drill run {id} is {state}; only a running drill can be stopped")
        )
        plan = get_plan(db, run.plan_id)
        told = _cancel_call_out(db, clock, operator, run)
        db.conn.execute(
            "UPDATE drill_runs SET state = 'stopped', ended_at = ?, stop_reason = ? WHERE id = ?",
            (to_iso(now), why, run.id),
        )
        queued = notices.queue(
            db,
            clock,
            kind=NoticeKind.STOPPED,
            people=[plan.organizer, *plan.evaluators, *plan.participants],
            text=stop_text(plan, why),
            key=f"stopped:{run.id}",
            run_id=run.id,
        )
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="drill_stopped",
            data={
                "run": run.id,
                "plan": plan.code,
                "reason": why,
                "mobilization": run.mobilization_id,
                "told": told,
                "notices": queued,
            },
        )
        return get_run(db, run.id)


def end_run(db: Database, clock: Clock, operator: str, run_id: int) -> Run:
    """The officer ends a running drill (audit ``drill_ended``); an exercise mobilization still
    active is cancelled, its people told. Injects not yet released are never sent.

    Raises:
        InvalidTransition: the run is not running. NotFound.
    """
    now = clock.now()
    with write(db):
        run = _running(
            db, run_id, _("drill run {id} is {state}; only a running drill can be ended")
        )
        told = _cancel_call_out(db, clock, operator, run)
        db.conn.execute(
            "UPDATE drill_runs SET state = 'ended', ended_at = ? WHERE id = ?",
            (to_iso(now), run.id),
        )
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="drill_ended",
            data={
                "run": run.id,
                "plan": run.plan_code,
                "mobilization": run.mobilization_id,
                "cancelled": told is not None,
                "told": told,
            },
        )
        return get_run(db, run.id)


class _DueInject(NamedTuple):
    run_id: int
    position: int
    text: str
    send: int
    plan_id: int


def advance(db: Database, clock: Clock) -> int:
    """The engine's sweep: release the injects due now (an INJECT notice to the participants
    and evaluators for those sent), and end the runs whose mobilization is over and whose
    script has nothing left. Returns how many injects and runs it moved."""
    from drills import notices  # written beside this module; imported by the engine's sweep

    now = clock.now()
    at = to_iso(now)
    moved = 0
    due = [
        _DueInject._make(r)
        for r in db.conn.execute(
            "SELECT i.run_id, i.position, i.text, i.send, r.plan_id FROM drill_injects i"
            " JOIN drill_runs r ON r.id = i.run_id WHERE i.released_at IS NULL"
            " AND i.due_at <= ? AND r.state = 'running' ORDER BY i.due_at, i.run_id, i.position",
            (at,),
        ).fetchall()
    ]
    plans: dict[int, Plan] = {}
    for inject in due:
        if inject.plan_id not in plans:
            plans[inject.plan_id] = get_plan(db, inject.plan_id)
        plan = plans[inject.plan_id]
        with write(db):
            cur = db.conn.execute(
                "UPDATE drill_injects SET released_at = ? WHERE run_id = ? AND position = ?"
                " AND released_at IS NULL",
                (at, inject.run_id, inject.position),
            )
            if not cur.rowcount:
                continue
            moved += 1
            if inject.send:
                notices.queue(
                    db,
                    clock,
                    kind=NoticeKind.INJECT,
                    people=[*plan.participants, *plan.evaluators],
                    text=inject_text(plan, inject.text),
                    key=f"inject:{inject.run_id}:{inject.position}",
                    run_id=inject.run_id,
                )
    for run in running(db):
        if run.mobilization_id is None:
            continue
        mob = get_mobilization(db, run.mobilization_id)
        if mob.state is MobilizationState.ACTIVE:
            continue
        with write(db):
            pending = db.conn.execute(
                "SELECT 1 FROM drill_injects WHERE run_id = ? AND released_at IS NULL", (run.id,)
            ).fetchone()
            if pending is not None:
                continue  # the script goes on: a field drill outlasts its call-out
            cur = db.conn.execute(
                "UPDATE drill_runs SET state = 'ended', ended_at = ? WHERE id = ?"
                " AND state = 'running'",
                (to_iso(mob.finished_at or now), run.id),
            )
            if not cur.rowcount:
                continue
            moved += 1
            append_event(
                db,
                at=at,
                operator=ENGINE,
                kind="drill_ended",
                data={
                    "run": run.id,
                    "plan": run.plan_code,
                    "mobilization": mob.id,
                    "mobilization_state": mob.state.value,
                },
            )
    return moved


# ------------------------------------------------------------------------------- notes


class _NoteRow(NamedTuple):
    id: int
    run_id: int
    kind: str
    at: str
    by: str
    text: str
    objective_id: int | None

    def note(self) -> Note:
        return Note(
            id=int(self.id),
            run_id=int(self.run_id),
            kind=NoteKind(self.kind),
            at=from_iso(self.at),
            by=self.by,
            text=self.text,
            objective_id=self.objective_id,
        )


def _note_kind(value: NoteKind | str) -> NoteKind:
    return choice(NoteKind, value, "kind")


def add_note(
    db: Database,
    clock: Clock,
    operator: str,
    run_id: int,
    kind: NoteKind | str,
    text: str,
    *,
    objective_id: int | None = None,
    at: datetime | None = None,
) -> Note:
    """Note an observation, a strength or a milestone of a run, now or at ``at`` (audit
    ``drill_noted``). A milestone's text is its name, as a milestone objective names it.

    Raises:
        InvalidInput: naming the field: empty or too long a text, a time before the run
            started or in the future, an objective of another plan. NotFound: no such run.
    """
    note_kind = _note_kind(kind)
    if note_kind is NoteKind.MILESTONE:
        words = clean_text(text, "text", kind="short", required=True)
        limit = MAX_NAME
    else:
        words = clean_text(text, "text", kind="note", multiline=True, required=True)
        limit = MAX_TEXT
    if len(words) > limit:
        raise InvalidInput(
            _("is {length} characters long; at most {limit}").format(
                length=len(words), limit=limit
            ),
            "text",
        )
    if at is not None and at.tzinfo is None:
        raise InvalidInput(_("give a time with its time zone"), "at")
    now = clock.now()
    when = (at or now).astimezone(UTC)
    with write(db):
        run = get_run(db, run_id)
        if when < run.started_at:
            raise InvalidInput(_("is before the run started"), "at")
        if when > now + FUTURE_SLACK:
            raise InvalidInput(_("is in the future"), "at")
        if objective_id is not None:
            check_objective(db, run.plan_id, run.plan_code, objective_id)
        cur = db.conn.execute(
            "INSERT INTO drill_notes (run_id, kind, at, by, text, objective_id)"
            " VALUES (?,?,?,?,?,?)",
            (run.id, note_kind.value, to_iso(when), operator, words, objective_id),
        )
        note_id = int(cur.lastrowid or 0)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="drill_noted",
            data={
                "run": run.id,
                "note": note_id,
                "kind": note_kind.value,
                "at": to_iso(when),
                "objective": objective_id,
                "milestone": words if note_kind is NoteKind.MILESTONE else None,
            },
        )
    return next(n for n in notes(db, run.id) if n.id == note_id)


def notes(db: Database, run_id: int) -> list[Note]:
    """A run's notes in time order."""
    return [
        _NoteRow._make(r).note()
        for r in db.conn.execute(
            "SELECT id, run_id, kind, at, by, text, objective_id FROM drill_notes"
            " WHERE run_id = ? ORDER BY at, id",
            (run_id,),
        )
    ]


def injects(db: Database, run_id: int) -> list[tuple[int, datetime, str, bool, datetime | None]]:
    """A run's script: (position, due, text, sent to people?, released at) in order."""
    return [
        (
            int(position),
            from_iso(due),
            text,
            bool(send),
            from_iso(released) if released else None,
        )
        for position, due, text, send, released in db.conn.execute(
            "SELECT position, due_at, text, send, released_at FROM drill_injects"
            " WHERE run_id = ? ORDER BY position",
            (run_id,),
        )
    ]
