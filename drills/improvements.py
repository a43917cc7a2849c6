"""Provides the improvement plan: each area for improvement a run found, tracked to its proof.

An item names the issue, the corrective action, the capability element it corrects, an owner
and a due date. The owner reports the action taken (``done``), but only a later run of the same
plan closes it: one whose rating of the item's objective is met (closed by
:func:`drills.evaluation.rate` as the evaluator confirms it, or here by
:func:`close_by_retest`), so a fix is proven, not declared. An item without an objective is
closed by any later ended run the organizer names. Overdue items (still open past their due
date) are supervised like overdue tasks: the owner gets one reminder through their channels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from contacts.people import get_person
from contacts.phones import shown_key
from drills.models import (
    MAX_TEXT,
    Element,
    Improvement,
    ImprovementState,
    NoticeKind,
    Run,
    RunState,
    choice,
)
from drills.plans import check_objective, get_plan
from drills.runs import get_run
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import _
from store.text import clean_text


class _ItemRow(NamedTuple):
    id: int
    plan_id: int
    code: str
    run_id: int
    objective_id: int | None
    issue: str
    action: str
    element: str
    owner: str
    due: str
    state: str
    created_at: str
    created_by: str
    done_at: str | None
    closed_at: str | None
    closed_by_run: int | None


_ITEM_SELECT = (
    "SELECT i.id, i.plan_id, p.code, i.run_id, i.objective_id, i.issue, i.action, i.element,"
    " i.owner, i.due, i.state, i.created_at, i.created_by, i.done_at, i.closed_at,"
    " i.closed_by_run FROM drill_improvements i JOIN drill_plans p ON p.id = i.plan_id"
)


def _items(db: Database, where: str, params: Sequence[Any]) -> list[Improvement]:
    rows = [
        _ItemRow._make(r)
        for r in db.conn.execute(f"{_ITEM_SELECT} WHERE {where} ORDER BY i.due, i.id", params)
    ]
    names: dict[str, str] = {}
    for key in {r.owner for r in rows}:
        try:
            names[key] = get_person(db, key).name
        except (NotFound, InvalidInput):  # gone from contacts: the key is all that is known
            names[key] = shown_key(key)
    return [
        Improvement(
            id=int(r.id),
            plan_id=int(r.plan_id),
            plan_code=r.code,
            run_id=int(r.run_id),
            objective_id=r.objective_id,
            issue=r.issue,
            action=r.action,
            element=Element(r.element),
            owner=r.owner,
            owner_name=names[r.owner],
            due=from_iso(r.due),
            state=ImprovementState(r.state),
            created_at=from_iso(r.created_at),
            created_by=r.created_by,
            done_at=from_iso(r.done_at) if r.done_at else None,
            closed_at=from_iso(r.closed_at) if r.closed_at else None,
            closed_by_run=r.closed_by_run,
        )
        for r in rows
    ]


def get_improvement(db: Database, item_id: int) -> Improvement:
    """Raises :class:`NotFound` for an unknown id."""
    found = _items(db, "i.id = ?", (int(item_id),))
    if not found:
        raise NotFound(_("no improvement item {id}").format(id=item_id))
    return found[0]


def list_improvements(
    db: Database,
    *,
    plan: str | int | None = None,
    state: ImprovementState | None = None,
    open_only: bool = False,
    run: int | None = None,
) -> list[Improvement]:
    """Items soonest due first: of one plan, one state, not yet closed (``open_only``), or
    raised by one run."""
    where = ["1 = 1"]
    params: list[Any] = []
    if plan is not None:
        where.append("i.plan_id = ?")
        params.append(get_plan(db, plan).id)
    if state is not None:
        where.append("i.state = ?")
        params.append(ImprovementState(state).value)
    if open_only:
        where.append("i.state != 'closed'")
    if run is not None:
        where.append("i.run_id = ?")
        params.append(run)
    return _items(db, " AND ".join(where), params)


def overdue(db: Database, now: datetime) -> list[Improvement]:
    """Items still open past their due date (an item done awaits its retest, not its owner)."""
    return _items(db, "i.state = 'open' AND i.due < ?", (to_iso(now),))


# ------------------------------------------------------------------------------- writing


def _text(value: str, field: str) -> str:
    text = clean_text(value or "", field, kind="note", multiline=True, required=True)
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            _("is {length} characters long; at most {limit}").format(
                length=len(text), limit=MAX_TEXT
            ),
            field,
        )
    return text


def _element(value: Element | str) -> Element:
    return choice(Element, value, "element")


def add_improvement(
    db: Database,
    clock: Clock,
    operator: str,
    run_id: int,
    *,
    issue: str,
    action: str,
    element: Element | str,
    owner: str,
    due: datetime,
    objective_id: int | None = None,
) -> Improvement:
    """Record an area for improvement a run found (audit ``drill_improvement_added``).

    Raises:
        InvalidInput: naming the field: no issue or action, an unknown element or owner, a
            due date without a time zone or in the past, an objective of another plan.
        NotFound: no such run.
    """
    issue = _text(issue, "issue")
    action = _text(action, "action")
    kind = _element(element)
    try:
        person = get_person(db, owner, field="owner")
    except NotFound as exc:
        raise InvalidInput(str(exc), "owner") from exc
    if not person.active:
        raise InvalidInput(_("{name} is inactive").format(name=person.name), "owner")
    if due.tzinfo is None:
        raise InvalidInput(_("give a time with its time zone"), "due")
    now = clock.now()
    if due <= now:
        raise InvalidInput(_("is not in the future"), "due")
    with write(db):
        run = get_run(db, run_id)
        if objective_id is not None:
            check_objective(db, run.plan_id, run.plan_code, objective_id)
        cur = db.conn.execute(
            "INSERT INTO drill_improvements (plan_id, run_id, objective_id, issue, action,"
            " element, owner, due, state, created_at, created_by)"
            " VALUES (?,?,?,?,?,?,?,?,'open',?,?)",
            (
                run.plan_id,
                run.id,
                objective_id,
                issue,
                action,
                kind.value,
                person.key,
                to_iso(due),
                to_iso(now),
                operator,
            ),
        )
        item_id = int(cur.lastrowid or 0)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="drill_improvement_added",
            data={
                "item": item_id,
                "plan": run.plan_code,
                "run": run.id,
                "objective": objective_id,
                "element": kind.value,
                "owner": shown_key(person.key),
                "due": to_iso(due),
                "issue": issue,
                "action": action,
            },
        )
    return get_improvement(db, item_id)


def mark_done(
    db: Database, clock: Clock, operator: str, item_id: int, note: str | None = None
) -> Improvement:
    """The owner reports the corrective action taken: ``open`` → ``done``, awaiting its retest
    (audit ``drill_improvement_done``, with the note).

    Raises:
        InvalidTransition: the item is not open. NotFound: no such item.
    """
    words = _text(note, "note") if note and note.strip() else None
    now = to_iso(clock.now())
    with write(db):
        item = get_improvement(db, item_id)
        if item.state is not ImprovementState.OPEN:
            raise InvalidTransition(
                _("improvement item {id} is {state}; only an open one can be marked done").format(
                    id=item.id, state=item.state.label
                )
            )
        db.conn.execute(
            "UPDATE drill_improvements SET state = 'done', done_at = ? WHERE id = ?",
            (now, item.id),
        )
        append_event(
            db,
            at=now,
            operator=operator,
            kind="drill_improvement_done",
            data={"item": item.id, "plan": item.plan_code, "note": words},
        )
    return get_improvement(db, item.id)


def _close(db: Database, at: str, operator: str, item: Improvement, run: Run, how: str) -> None:
    db.conn.execute(
        "UPDATE drill_improvements SET state = 'closed', closed_at = ?, closed_by_run = ?"
        " WHERE id = ?",
        (at, run.id, item.id),
    )
    append_event(
        db,
        at=at,
        operator=operator,
        kind="drill_improvement_closed",
        data={"item": item.id, "plan": item.plan_code, "run": run.id, "by": how},
    )


def close_by_retest(
    db: Database, clock: Clock, operator: str, item_id: int, run_id: int
) -> Improvement:
    """Close an item by a later run of its plan that retested it (audit
    ``drill_improvement_closed``): the run is over (ended or evaluated) and, when the item has
    an objective, its rating of that objective is met (P or S).

    Raises:
        InvalidTransition: the item is closed; the run is running or stopped; the objective is
            not rated met in that run. InvalidInput: a run of another plan, or not later.
        NotFound: no such item or run.
    """
    at = to_iso(clock.now())
    with write(db):
        item = get_improvement(db, item_id)
        if item.state is ImprovementState.CLOSED:
            raise InvalidTransition(
                _("improvement item {id} was closed by run {run}").format(
                    id=item.id, run=item.closed_by_run
                )
            )
        run = get_run(db, run_id)
        raised = get_run(db, item.run_id)
        if run.plan_id != item.plan_id:
            raise InvalidInput(
                _("run {run} is of plan {plan}, not {item_plan}").format(
                    run=run.id, plan=run.plan_code, item_plan=item.plan_code
                ),
                "run",
            )
        if (run.started_at, run.id) <= (raised.started_at, raised.id):
            raise InvalidInput(
                _("run {run} is not later than run {raised}, where the item was found").format(
                    run=run.id, raised=raised.id
                ),
                "run",
            )
        if run.state not in (RunState.ENDED, RunState.EVALUATED):
            raise InvalidTransition(
                _("run {run} is {state}; only an ended or evaluated run retests").format(
                    run=run.id, state=run.state.label
                )
            )
        if item.objective_id is not None:
            row = db.conn.execute(
                "SELECT rating FROM drill_ratings WHERE run_id = ? AND objective_id = ?",
                (run.id, item.objective_id),
            ).fetchone()
            if row is None or row[0] not in ("P", "S"):
                raise InvalidTransition(
                    _(
                        "objective {objective} is not rated met in run {run} ({rating}):"
                        " the retest did not prove the fix"
                    ).format(
                        objective=item.objective_id,
                        run=run.id,
                        rating=row[0] if row else _("not rated"),
                    )
                )
        _close(db, at, operator, item, run, "retest")
    return get_improvement(db, item.id)


def _before(run: Run) -> tuple[str, str, int]:
    """The parameters of "started before ``run``" (ties broken by id)."""
    at = to_iso(run.started_at)
    return at, at, run.id


def close_met(db: Database, at: str, operator: str, run: Run, objective_id: int) -> list[int]:
    """Close the plan's items of ``objective_id`` raised by runs before ``run``, which met it;
    call inside the rating's transaction. Returns their ids."""
    items = _items(
        db,
        "i.plan_id = ? AND i.objective_id = ? AND i.state != 'closed' AND i.run_id IN"
        " (SELECT id FROM drill_runs WHERE plan_id = ? AND (started_at < ?"
        " OR (started_at = ? AND id < ?)))",
        (run.plan_id, objective_id, run.plan_id, *_before(run)),
    )
    for item in items:
        _close(db, at, operator, item, run, "rating")
    return [item.id for item in items]


def reopen(db: Database, run: Run, objective_id: int) -> list[int]:
    """Undo :func:`close_met` when the evaluator changes the rating to not met: the items this
    run closed for the objective go back to open (or done, when the owner reported it)."""
    ids = [
        int(r[0])
        for r in db.conn.execute(
            "SELECT id FROM drill_improvements WHERE closed_by_run = ? AND objective_id = ?"
            " AND state = 'closed'",
            (run.id, objective_id),
        )
    ]
    db.conn.execute(
        "UPDATE drill_improvements SET state = CASE WHEN done_at IS NULL THEN 'open'"
        " ELSE 'done' END, closed_at = NULL, closed_by_run = NULL"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    )
    return ids


def overdue_text(item: Improvement) -> str:
    """The owner's reminder of an overdue item, in both languages (the owner's is unknown)."""
    return (
        f"【演练整改逾期 DRILL IMPROVEMENT OVERDUE】{item.plan_code} 整改事项#{item.id}："
        f"{item.action}，已过期限，请尽快完成并报告。"
        f" Improvement item #{item.id} of drill {item.plan_code} is overdue: {item.action}."
        " Please complete it and report."
    )


def remind_overdue(db: Database, clock: Clock) -> int:
    """Queue one IMPROVEMENT notice to the owner of each overdue item not yet reminded; returns
    how many items were reminded."""
    from drills import notices  # written beside this module; imported by the engine's sweep

    now = clock.now()
    at = to_iso(now)
    reminded = 0
    for item in _items(db, "i.state = 'open' AND i.due < ? AND i.reminded_at IS NULL", (at,)):
        with write(db):
            cur = db.conn.execute(
                "UPDATE drill_improvements SET reminded_at = ? WHERE id = ?"
                " AND reminded_at IS NULL",
                (at, item.id),
            )
            if not cur.rowcount:
                continue
            notices.queue(
                db,
                clock,
                kind=NoticeKind.IMPROVEMENT,
                people=[item.owner],
                text=overdue_text(item),
                key=f"improvement:{item.id}",
            )
            reminded += 1
    return reminded
