"""Provides the closed-loop workflow: every step a case can take, each one audited.

上报 reported → 立案 registered → 派遣 dispatched → 处置 handling → 反馈 feedback → 核查 verified
→ 结案 closed, with 作废 void (false reports), 回退 return, 延期 extension, 挂账 parking, reopen
and merge. Every step is one transaction that writes the new state and its timeline entry;
a step not allowed from the current stage raises :class:`InvalidTransition` naming the stage and
the steps that are allowed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incidents.limits import Policy
from incidents.models import (
    MAX_ID,
    OPEN_STAGES,
    Extension,
    Incident,
    Severity,
    Stage,
    Task,
    TimelineEntry,
    Urgency,
)
from incidents.records import (
    TASK_COLUMNS,
    NewIncident,
    get_incident,
    grid_unit_id,
    resolve_id,
    row_to_task,
    timeline,
    validate_new,
)
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from store.i18n import _
from store.masking import mask_phone
from store.text import clean_text

OPEN = frozenset(OPEN_STAGES)
MAX_EXTENSION = timedelta(days=30)
"""How far one extension may move a deadline unless the caller passes the configured bound."""

# action -> stages it may start from; the stage it leads to is decided by the action itself.
ACTIONS: dict[str, frozenset[Stage]] = {
    "register": frozenset({Stage.REPORTED}),
    "dispatch": frozenset({Stage.REGISTERED}),
    "handle": frozenset({Stage.DISPATCHED}),
    "feedback": frozenset({Stage.HANDLING}),
    "verify": frozenset({Stage.FEEDBACK}),
    "close": frozenset({Stage.VERIFIED}),
    "void": frozenset({Stage.REPORTED, Stage.REGISTERED}),
    "return": frozenset({Stage.HANDLING, Stage.FEEDBACK}),
    "reopen": frozenset({Stage.CLOSED}),
    "merge": OPEN,
    "extend": OPEN,
    "park": OPEN - {Stage.REPORTED},
    "unpark": OPEN,
    "edit": OPEN,
}
STAGE_STEPS = (
    "register",
    "dispatch",
    "handle",
    "feedback",
    "verify",
    "close",
    "void",
    "return",
    "reopen",
    "merge",
)
# The one forward step from each stage of the loop, for the console's "advance" key.
NEXT_STEP = {
    Stage.REPORTED: "register",
    Stage.REGISTERED: "dispatch",
    Stage.DISPATCHED: "handle",
    Stage.HANDLING: "feedback",
    Stage.FEEDBACK: "verify",
    Stage.VERIFIED: "close",
}


def allowed_actions(incident: Incident) -> list[str]:
    """The steps the case may take now, in loop order."""
    if incident.parked:
        return ["unpark", "merge"]
    return [
        action
        for action, origins in ACTIONS.items()
        if incident.stage in origins and action != "unpark"
    ]


def _check(incident: Incident, action: str) -> None:
    if incident.parked and action not in ("unpark", "merge"):
        raise InvalidTransition(
            _("case {number} is parked; unpark it before '{action}'").format(
                number=incident.number, action=action
            )
        )
    if incident.stage not in ACTIONS[action]:
        # The steps are command names: listed as they are typed, never translated.
        allowed = ", ".join(allowed_actions(incident)) or _("none (the case is finished)")
        raise InvalidTransition(
            _(
                "case {number} is in stage '{stage}' ({label}); '{action}' is not allowed there."
                " Allowed next steps: {allowed}"
            ).format(
                number=incident.number,
                stage=incident.stage.value,
                label=incident.stage.label,
                action=action,
                allowed=allowed,
            )
        )


def _require(text: str | None, field: str, *, kind: str = "note") -> str:
    """The cleaned text (:func:`store.text.clean_text`), which must not be empty.

    Notes, reasons and results (``kind="note"``) may run over several lines; other kinds are one
    line.
    """
    value = clean_text(text or "", field, kind=kind, multiline=kind == "note")
    if not value:
        raise InvalidInput(_("a reason is required") if field == "reason" else _("required"), field)
    return value


def _noted(text: str | None, field: str = "note") -> dict[str, str] | None:
    """``{"note": text}`` for an optional note, cleaned (an error names ``field``); ``None``
    when there is none."""
    value = clean_text(text or "", field, kind="note", multiline=True)
    return {"note": value} if value else None


def _lapse_pending_extension(db: Database, incident_id: int, at: str) -> int | None:
    """End a pending extension request when its stage deadline stops applying.

    The request asked for a new deadline of the stage being left (or of a case being parked):
    it lapses, so it cannot later move the next stage's deadline, or give a finished or parked
    case one. Returns the lapsed request's sequence number, if any.
    """
    row = db.conn.execute(
        "SELECT seq FROM extensions WHERE incident_id = ? AND status = 'pending'", (incident_id,)
    ).fetchone()
    if row is None:
        return None
    db.conn.execute(
        "UPDATE extensions SET status = 'lapsed', decided_at = ?"
        " WHERE incident_id = ? AND status = 'pending'",
        (at, incident_id),
    )
    return int(row[0])


def _move(
    db: Database,
    policy: Policy,
    operator: str,
    incident: Incident,
    now: datetime,
    to: Stage,
    kind: str,
    data: dict[str, Any] | None = None,
    **columns: Any,
) -> None:
    """Write a stage change and its timeline entry (inside the caller's transaction)."""
    deadline = policy.deadline(to, now, incident.category, incident.type, incident.urgency)
    at = to_iso(now)
    values: dict[str, Any] = {
        "stage": to.value,
        "stage_since": at,
        "deadline": to_iso(deadline) if deadline else None,
        "overdue_since": None,
        "remind_at": None,
        "reminders": 0,
        "active": int(to.is_open and not incident.parked),
        "updated_at": at,
        **columns,
    }
    if not to.is_open:
        # A finished case is neither supervised nor parked (a parked duplicate may be merged).
        values["supervised"] = 0
        values["parked"] = 0
        values.setdefault("closed_at", at)
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    cursor = db.conn.execute(
        f"UPDATE incidents SET {assignments} WHERE id = :id AND stage = :expected",
        {**values, "id": incident.id, "expected": incident.stage.value},
    )
    if cursor.rowcount != 1:
        raise InvalidTransition(
            _("case {number} was changed by someone else meanwhile; look again and retry").format(
                number=incident.number
            )
        )
    lapsed = _lapse_pending_extension(db, incident.id, at)
    append_event(
        db,
        at=at,
        operator=operator,
        kind=kind,
        incident_id=incident.id,
        stage_from=incident.stage.value,
        stage_to=to.value,
        data={
            **(data or {}),
            "deadline": values["deadline"],
            **({"extension_lapsed": lapsed} if lapsed is not None else {}),
        },
    )


def _step(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    action: str,
    to: Stage,
    data: dict[str, Any] | None = None,
    **columns: Any,
) -> Incident:
    with write(db):
        incident = get_incident(db, ref)
        _check(incident, action)
        _move(db, policy, operator, incident, clock.now(), to, action, data, **columns)
    return get_incident(db, incident.id)


def register(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    note: str | None = None,
) -> Incident:
    """立案: accept a reported case."""
    return _step(db, clock, policy, operator, ref, "register", Stage.REGISTERED, _noted(note))


TARGET_KINDS = ("grid", "team", "office", "person")
"""What a case can be dispatched or assigned to; ``contacts.directory.KINDS`` finds them by name
(incidents sits beside contacts and cannot ask it: tests/unit/test_directory.py checks that the
two agree)."""


def written_target(text: str | None, field: str = "to") -> str:
    """A target in its written form, ``kind:code`` (``grid:G01``, ``team:T-FIRE``,
    ``person:#12``), cleaned; the console and the CLI resolve names to it
    (:mod:`contacts.directory`) before a step is taken.

    Raises:
        InvalidInput: empty, a bare name, or an unknown kind (naming ``field``).
    """
    target = _require(text, field, kind="short")
    kind, sep, code = target.partition(":")
    if not sep or kind.strip() not in TARGET_KINDS or not code.strip():
        raise InvalidInput(
            _(
                "{target!r} is not a written target; use grid:CODE, team:CODE, office:NAME or"
                " person:KEY (the console and the CLI find them by name)"
            ).format(target=target),
            field,
        )
    return f"{kind.strip()}:{code.strip()}"


def dispatch(
    db: Database, clock: Clock, policy: Policy, operator: str, ref: int | str, to: str | None = None
) -> Incident:
    """派遣: send the case to a grid, team, office or person, written ``kind:code``
    (:func:`written_target`; names are resolved by the caller).

    Without a target it goes to its own grid, or to the duty office when it has none.

    Raises:
        InvalidInput: a target not written ``kind:code``, or an office other than the policy's.
    """
    incident = get_incident(db, ref)
    if not clean_text(to or "", "to", kind="short"):
        target = f"grid:{incident.grid}" if incident.grid else f"office:{policy.office_name}"
    else:
        target = written_target(to)
    kind, _sep, code = target.partition(":")
    if kind == "office" and code != policy.office_name:
        raise InvalidInput(
            _("the office is called {office!r}, not {name!r}").format(
                office=policy.office_name, name=code
            ),
            "to",
        )
    return _step(
        db,
        clock,
        policy,
        operator,
        ref,
        "dispatch",
        Stage.DISPATCHED,
        {"to": target},
        assignee=target,
    )


def handle(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    note: str | None = None,
) -> Incident:
    """处置: the assignee has started handling the case."""
    return _step(db, clock, policy, operator, ref, "handle", Stage.HANDLING, _noted(note))


def feedback(
    db: Database, clock: Clock, policy: Policy, operator: str, ref: int | str, result: str
) -> Incident:
    """反馈: the handler reports what was done."""
    text = _require(result, "result")
    return _step(db, clock, policy, operator, ref, "feedback", Stage.FEEDBACK, {"result": text})


def verify(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    *,
    passed: bool = True,
    reason: str | None = None,
) -> Incident:
    """核查: confirm the result (→ verified) or find it lacking (→ back to handling)."""
    if passed:
        return _step(
            db,
            clock,
            policy,
            operator,
            ref,
            "verify",
            Stage.VERIFIED,
            {"passed": True, **(_noted(reason, "reason") or {})},
        )
    text = _require(reason, "reason")
    return _step(
        db,
        clock,
        policy,
        operator,
        ref,
        "verify",
        Stage.HANDLING,
        {"passed": False, "reason": text},
    )


def close(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    note: str | None = None,
) -> Incident:
    """结案."""
    return _step(db, clock, policy, operator, ref, "close", Stage.CLOSED, _noted(note))


def void(
    db: Database, clock: Clock, policy: Policy, operator: str, ref: int | str, reason: str
) -> Incident:
    """作废: a false or duplicate-by-mistake report, before dispatch."""
    text = _require(reason, "reason")
    return _step(db, clock, policy, operator, ref, "void", Stage.VOIDED, {"reason": text})


def return_case(
    db: Database, clock: Clock, policy: Policy, operator: str, ref: int | str, reason: str
) -> Incident:
    """回退: from handling/feedback back to dispatched, e.g. sent to the wrong grid."""
    text = _require(reason, "reason")
    return _step(db, clock, policy, operator, ref, "return", Stage.DISPATCHED, {"reason": text})


def reopen(
    db: Database, clock: Clock, policy: Policy, operator: str, ref: int | str, reason: str
) -> Incident:
    """Reopen a closed case: back to handling with a fresh deadline."""
    text = _require(reason, "reason")
    return _step(
        db, clock, policy, operator, ref, "reopen", Stage.HANDLING, {"reason": text}, closed_at=None
    )


def _callers(incident: Incident, entries: list[TimelineEntry]) -> list[dict[str, Any]]:
    """Who called about a case: its reporter, the callers its notes name, and the callers of
    the duplicates merged into it (each ``{"name", "phone"}``, the phone masked)."""
    found: list[dict[str, Any]] = []
    if incident.reporter_name or incident.reporter_phone:
        found.append(
            {"name": incident.reporter_name, "phone": mask_phone(incident.reporter_phone) or None}
        )
    for entry in entries:
        if entry.kind == "note" and isinstance(entry.data.get("caller"), dict):
            found.append(dict(entry.data["caller"]))
        elif entry.kind == "merged_in" and isinstance(entry.data.get("callers"), list):
            found.extend(c for c in entry.data["callers"] if isinstance(c, dict))
    return found


def merge(
    db: Database, clock: Clock, policy: Policy, operator: str, duplicate: int | str, into: int | str
) -> Incident:
    """Merge a duplicate report into its original; the duplicate keeps its history.

    The duplicate is finished (stage ``merged``) with a link to the original; the original's
    ``merged_in`` entry refers to the duplicate's notes (by entry id) and names its callers, so
    nothing is copied and nothing erased.
    """
    with write(db):
        dup = get_incident(db, duplicate)
        original = get_incident(db, into)
        if dup.id == original.id:
            raise InvalidInput(_("a case cannot be merged into itself"), "into")
        if original.stage in (Stage.VOIDED, Stage.MERGED):
            raise InvalidTransition(
                _("case {number} is {stage}; merge into its original instead").format(
                    number=original.number, stage=original.stage.label
                )
            )
        _check(dup, "merge")
        entries = timeline(db, dup.id)
        now = clock.now()
        _move(
            db,
            policy,
            operator,
            dup,
            now,
            Stage.MERGED,
            "merge",
            {"into": original.number},
            merged_into=original.id,
        )
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="merged_in",
            incident_id=original.id,
            data={
                "duplicate": dup.number,
                "notes": [e.id for e in entries if e.kind == "note"],
                "callers": _callers(dup, entries),
            },
        )
        db.conn.execute(
            "UPDATE incidents SET updated_at = ? WHERE id = ?", (to_iso(now), original.id)
        )
    return get_incident(db, dup.id)


def park(
    db: Database, clock: Clock, policy: Policy, operator: str, ref: int | str, reason: str
) -> Incident:
    """挂账: a long-running case leaves the active queue (no deadline) but stays visible."""
    text = _require(reason, "reason")
    with write(db):
        incident = get_incident(db, ref)
        if incident.parked:
            raise InvalidTransition(
                _("case {number} is already parked").format(number=incident.number)
            )
        _check(incident, "park")
        at = to_iso(clock.now())
        db.conn.execute(
            "UPDATE incidents SET parked = 1, active = 0, deadline = NULL, overdue_since = NULL,"
            " remind_at = NULL, reminders = 0, updated_at = ? WHERE id = ?",
            (at, incident.id),
        )
        lapsed = _lapse_pending_extension(db, incident.id, at)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="park",
            incident_id=incident.id,
            data={"reason": text, **({"extension_lapsed": lapsed} if lapsed is not None else {})},
        )
    return get_incident(db, incident.id)


def unpark(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    note: str | None = None,
) -> Incident:
    """Bring a parked case back to the active queue with a fresh deadline for its stage."""
    noted = _noted(note) or {}
    with write(db):
        incident = get_incident(db, ref)
        if not incident.parked:
            raise InvalidTransition(_("case {number} is not parked").format(number=incident.number))
        _check(incident, "unpark")
        now = clock.now()
        deadline = policy.deadline(
            incident.stage, now, incident.category, incident.type, incident.urgency
        )
        at = to_iso(now)
        db.conn.execute(
            "UPDATE incidents SET parked = 0, active = 1, deadline = ?, updated_at = ?"
            " WHERE id = ?",
            (to_iso(deadline) if deadline else None, at, incident.id),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="unpark",
            incident_id=incident.id,
            data={
                "deadline": to_iso(deadline) if deadline else None,
                **noted,
            },
        )
    return get_incident(db, incident.id)


def add_note(db: Database, clock: Clock, operator: str, ref: int | str, text: str) -> int:
    """Add a note to the timeline (searchable); returns the entry id."""
    body = _require(text, "text")
    with write(db):
        incident_id = resolve_id(db, ref)
        at = to_iso(clock.now())
        db.conn.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (at, incident_id))
        return append_event(
            db, at=at, operator=operator, kind="note", incident_id=incident_id, data={"text": body}
        )


def assign(db: Database, clock: Clock, operator: str, ref: int | str, to: str) -> Incident:
    """Name who is responsible for the case without changing its stage: a grid, team, office or
    person written ``kind:code`` (:func:`written_target`)."""
    target = written_target(to)
    with write(db):
        incident = get_incident(db, ref)
        if not incident.stage.is_open:
            raise InvalidTransition(
                _("case {number} is {stage}; reopen it first").format(
                    number=incident.number, stage=incident.stage.label
                )
            )
        at = to_iso(clock.now())
        db.conn.execute(
            "UPDATE incidents SET assignee = ?, updated_at = ? WHERE id = ?",
            (target, at, incident.id),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="assign",
            incident_id=incident.id,
            data={"from": incident.assignee, "to": target},
        )
    return get_incident(db, incident.id)


EDITABLE = (
    "title",
    "description",
    "location",
    "severity",
    "urgency",
    "grid",
    "tags",
    "reporter_name",
    "reporter_phone",
    "lat",
    "lon",
)


def edit(
    db: Database, clock: Clock, policy: Policy, operator: str, ref: int | str, **changes: Any
) -> Incident:
    """Change case fields, recording each as old → new; a new urgency moves the deadline."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(
            _("cannot edit {fields}").format(fields=", ".join(sorted(unknown))), "field"
        )
    with write(db):
        incident = get_incident(db, ref)
        _check(incident, "edit")
        current = NewIncident(
            title=incident.title,
            category=incident.category,
            type=incident.type,
            severity=int(incident.severity),
            urgency=incident.urgency.value,
            description=incident.description,
            location=incident.location,
            lat=incident.lat,
            lon=incident.lon,
            grid=incident.grid,
            reporter_name=incident.reporter_name,
            reporter_phone=incident.reporter_phone,
            source=incident.source.value,
            tags=incident.tags,
        )
        before = validate_new(current)
        after = validate_new(NewIncident(**{**current.__dict__, **changes}))
        diff = {k: [before[k], after[k]] for k in EDITABLE if before[k] != after[k]}
        if not diff:
            return incident
        now = clock.now()
        at = to_iso(now)
        columns = {k: after[k] for k in diff}
        if "grid" in diff:
            columns["grid_id"] = grid_unit_id(db, after["grid"])
        if "urgency" in diff and not incident.parked:
            deadline = policy.deadline(
                incident.stage,
                incident.stage_since,
                incident.category,
                incident.type,
                after["urgency"],
            )
            columns["deadline"] = to_iso(deadline) if deadline else None
            columns["overdue_since"] = None
            columns["remind_at"] = None
            columns["reminders"] = 0
        assignments = ", ".join(f"{k} = :{k}" for k in columns)
        db.conn.execute(
            f"UPDATE incidents SET {assignments}, updated_at = :at WHERE id = :id",
            {**columns, "at": at, "id": incident.id},
        )
        if "tags" in diff:
            diff["tags"] = [json.loads(diff["tags"][0]), json.loads(diff["tags"][1])]
        if "reporter_phone" in diff:
            # The permanent log keeps the reporter's number masked (the table keeps it whole).
            diff["reporter_phone"] = [mask_phone(v) or None for v in diff["reporter_phone"]]
        append_event(
            db,
            at=at,
            operator=operator,
            kind="edit",
            incident_id=incident.id,
            data={"changes": diff},
        )
    return get_incident(db, incident.id)


# ---- extensions (延期) -------------------------------------------------------------------


def _row_to_extension(row: Any) -> Extension:
    return Extension(
        id=row[0],
        incident_id=row[1],
        seq=row[2],
        requested_by=row[3],
        requested_at=from_iso(row[4]),
        reason=row[5],
        new_deadline=from_iso(row[6]),
        approvals_needed=row[7],
        approvals=tuple(json.loads(row[8])),
        status=row[9],
    )


EXT_COLUMNS = (
    "id, incident_id, seq, requested_by, requested_at, reason, new_deadline,"
    " approvals_needed, approvals, status"
)


def extensions_of(db: Database, ref: int | str) -> list[Extension]:
    incident_id = resolve_id(db, ref)
    rows = db.conn.execute(
        f"SELECT {EXT_COLUMNS} FROM extensions WHERE incident_id = ? ORDER BY id", (incident_id,)
    ).fetchall()
    return [_row_to_extension(r) for r in rows]


def request_extension(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    reason: str,
    until: datetime,
    *,
    max_extension: timedelta = MAX_EXTENSION,
) -> Extension:
    """延期 request: a new deadline for the current stage, pending a shift lead's approval.

    The first extension of a case needs one approval; every later one needs
    ``policy.second_extension_approvals`` approvals by different shift leads. A request still
    pending when the case changes stage lapses (status ``lapsed``).

    Args:
        until: the new deadline; at most ``max_extension`` after the current one (or after
            now, when the case is already overdue), so no extension takes a case out of
            supervision for good.
        max_extension: the configured bound (``[security] max_extension_days``).

    Raises:
        InvalidInput: no reason, or a new deadline not after the current one or beyond the
            bound (field ``until``).
    """
    text = _require(reason, "reason")
    with write(db):
        incident = get_incident(db, ref)
        _check(incident, "extend")
        now = clock.now()
        floor = incident.deadline or now
        if until <= max(floor, now):
            raise InvalidInput(
                _("the new deadline must be after the current one ({deadline})").format(
                    deadline=to_iso(max(floor, now))
                ),
                "until",
            )
        if until - max(floor, now) > max_extension:
            raise InvalidInput(
                _(
                    "an extension may move the deadline by at most {days} days (to {latest});"
                    " ask again later if more time is needed"
                ).format(
                    days=f"{max_extension / timedelta(days=1):g}",
                    latest=to_iso(max(floor, now) + max_extension),
                ),
                "until",
            )
        if db.conn.execute(
            "SELECT 1 FROM extensions WHERE incident_id = ? AND status = 'pending'", (incident.id,)
        ).fetchone():
            raise InvalidTransition(
                _("case {number} already has an extension waiting for approval").format(
                    number=incident.number
                )
            )
        seq = incident.extensions + 1
        needed = 1 if seq == 1 else max(1, policy.second_extension_approvals)
        at = to_iso(now)
        cursor = db.conn.execute(
            "INSERT INTO extensions (incident_id, seq, requested_by, requested_at, reason,"
            " new_deadline, approvals_needed) VALUES (?,?,?,?,?,?,?)",
            (incident.id, seq, operator, at, text, to_iso(until), needed),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="extension_requested",
            incident_id=incident.id,
            data={"seq": seq, "reason": text, "until": to_iso(until), "approvals_needed": needed},
        )
        ext_id = int(cursor.lastrowid or 0)
        row = db.conn.execute(
            f"SELECT {EXT_COLUMNS} FROM extensions WHERE id = ?", (ext_id,)
        ).fetchone()
    return _row_to_extension(row)


def approve_extension(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    *,
    reject: bool = False,
    reason: str | None = None,
) -> Extension:
    """A shift lead approves (or rejects) the pending extension of a case.

    Raises:
        PermissionDenied: the operator is not a shift lead, is the requester, or already approved.
        InvalidTransition: nothing is pending.
    """
    with write(db):
        incident = get_incident(db, ref)
        row = db.conn.execute(
            f"SELECT {EXT_COLUMNS} FROM extensions WHERE incident_id = ? AND status = 'pending'",
            (incident.id,),
        ).fetchone()
        if row is None:
            raise InvalidTransition(
                _("case {number} has no extension waiting for approval").format(
                    number=incident.number
                )
            )
        ext = _row_to_extension(row)
        if policy.shift_leads and operator not in policy.shift_leads:
            raise PermissionDenied(
                _(
                    "{operator} is not a shift lead (the shift leads: {leads}); use --as NAME"
                ).format(operator=operator, leads=", ".join(policy.shift_leads))
            )
        if operator == ext.requested_by:
            raise PermissionDenied(
                _("{operator} requested this extension and cannot approve it").format(
                    operator=operator
                )
            )
        if operator in ext.approvals:
            raise PermissionDenied(
                _("{operator} has already approved this extension").format(operator=operator)
            )
        now = clock.now()
        at = to_iso(now)
        if reject:
            text = _require(reason, "reason")
            db.conn.execute(
                "UPDATE extensions SET status = 'rejected', decided_at = ? WHERE id = ?",
                (at, ext.id),
            )
            append_event(
                db,
                at=at,
                operator=operator,
                kind="extension_rejected",
                incident_id=incident.id,
                data={"seq": ext.seq, "reason": text},
            )
        else:
            approvals = [*ext.approvals, operator]
            granted = len(approvals) >= ext.approvals_needed
            db.conn.execute(
                "UPDATE extensions SET approvals = ?, status = ?, decided_at = ? WHERE id = ?",
                (
                    json.dumps(approvals, ensure_ascii=False),
                    "granted" if granted else "pending",
                    at if granted else None,
                    ext.id,
                ),
            )
            if granted:
                db.conn.execute(
                    "UPDATE incidents SET deadline = ?, extensions = extensions + 1,"
                    " overdue_since = NULL, remind_at = NULL, reminders = 0, updated_at = ?"
                    " WHERE id = ?",
                    (to_iso(ext.new_deadline), at, incident.id),
                )
            append_event(
                db,
                at=at,
                operator=operator,
                kind="extension_granted" if granted else "extension_approved",
                incident_id=incident.id,
                data={
                    "seq": ext.seq,
                    "approvals": approvals,
                    "needed": ext.approvals_needed,
                    **({"deadline": to_iso(ext.new_deadline)} if granted else {}),
                },
            )
        row = db.conn.execute(
            f"SELECT {EXT_COLUMNS} FROM extensions WHERE id = ?", (ext.id,)
        ).fetchone()
    return _row_to_extension(row)


# ---- tasks -----------------------------------------------------------------------------


def add_task(
    db: Database,
    clock: Clock,
    operator: str,
    ref: int | str,
    title: str,
    owner: str | None = None,
    due: datetime | None = None,
) -> Task:
    text = _require(title, "title", kind="title")
    who = clean_text(owner or "", "owner", kind="name") or None
    with write(db):
        incident_id = resolve_id(db, ref)
        at = to_iso(clock.now())
        cursor = db.conn.execute(
            "INSERT INTO tasks (incident_id, title, owner, due, created_at) VALUES (?,?,?,?,?)",
            (incident_id, text, who, to_iso(due) if due else None, at),
        )
        task_id = int(cursor.lastrowid or 0)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="task_added",
            incident_id=incident_id,
            data={
                "task": task_id,
                "title": text,
                "owner": who,
                "due": to_iso(due) if due else None,
            },
        )
        row = db.conn.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
    return row_to_task(row)


def complete_task(db: Database, clock: Clock, operator: str, task_id: int) -> Task:
    if not 0 < task_id <= MAX_ID:
        raise NotFound(_("no task {task}").format(task=task_id))
    with write(db):
        row = db.conn.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFound(_("no task {task}").format(task=task_id))
        task = row_to_task(row)
        if task.done_at is not None:
            raise InvalidTransition(_("task {task} is already done").format(task=task_id))
        at = to_iso(clock.now())
        db.conn.execute(
            "UPDATE tasks SET done_at = ?, done_by = ? WHERE id = ?", (at, operator, task_id)
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="task_done",
            incident_id=task.incident_id,
            data={"task": task_id, "title": task.title},
        )
        row = db.conn.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
    return row_to_task(row)


# ---- undo ------------------------------------------------------------------------------

UNDO_WINDOW = timedelta(minutes=5)
"""How long after a step the officer who took it may take it back (by default)."""
UNDOABLE = frozenset({"register", "dispatch", "handle", "feedback", "verify", "close"})
"""The steps of the loop an undo takes back: the advances (a verification that failed too)."""


@dataclass(frozen=True)
class Undo:
    """What taking back the last step of a case would do (see :func:`undoable`).

    Attributes:
        step: the timeline entry of the step taken back.
        stage: the stage the case goes back to.
        stage_since: when the case entered that stage (kept, not restarted).
        deadline: that stage's deadline as it stood when the step was taken (extensions kept).
    """

    incident: Incident
    step: TimelineEntry
    stage: Stage
    stage_since: datetime
    deadline: datetime | None
    assignee: str | None
    reminders: int
    supervised: bool
    """The stage was put under supervision for ``deadline`` before the step was taken."""


def _opt(value: object) -> datetime | None:
    return from_iso(str(value)) if value else None


def undoable(
    db: Database,
    policy: Policy,
    operator: str,
    ref: int | str,
    now: datetime,
    *,
    window: timedelta = UNDO_WINDOW,
) -> Undo:
    """The last step of a case, if ``operator`` may take it back now; else why not.

    Only the last stage change can be taken back, only an advance of the loop
    (:data:`UNDOABLE`), only by the officer who took it and only within ``window``. The stage
    goes back with the time limit it had: its start, its deadline (with any extension granted
    in it) and its overdue state, so an undo never gives a case fresh time.

    Raises:
        InvalidTransition: nothing to undo (no step, a step that is not an advance, one
            already undone, a parked case) or too late.
        PermissionDenied: the step was taken by another officer.
    """
    incident = get_incident(db, ref)
    entries = timeline(db, incident.id)
    moves = [i for i, e in enumerate(entries) if e.stage_to is not None]
    last = entries[moves[-1]] if moves else None
    if last is None or last.kind not in UNDOABLE or len(moves) < 2:
        if last is not None and last.kind == "undo":
            why = _("nothing to undo on {number}: its last step was already undone")
        else:
            why = _("nothing to undo on {number}: its last step was not an advance")
        raise InvalidTransition(why.format(number=incident.number))
    if incident.parked:
        raise InvalidTransition(
            _("case {number} is parked; unpark it before undoing").format(number=incident.number)
        )
    if last.operator != operator:
        raise PermissionDenied(
            _("only {who}, who took the last step of {number}, can undo it").format(
                who=last.operator, number=incident.number
            )
        )
    age = now - last.at
    if age > window:
        raise InvalidTransition(
            _(
                "too late to undo the last step of {number}: it was taken {minutes} min ago,"
                " undo is possible for {limit} min; return or reopen the case instead"
            ).format(
                number=incident.number,
                minutes=int(age / timedelta(minutes=1)),
                limit=f"{window / timedelta(minutes=1):g}",
            )
        )
    # Replay what the earlier entries did to the stage being returned to.
    back = entries[moves[-2]]
    assert back.stage_to is not None and last.stage_from == back.stage_to
    stage = back.stage_to
    urgency = incident.urgency
    deadline = _opt(back.data.get("deadline")) if "deadline" in back.data else None
    if "deadline" not in back.data:  # the first entry ("reported") names no deadline
        deadline = policy.deadline(stage, back.at, incident.category, incident.type, urgency)
    assignee: str | None = None
    reminders = 0
    supervised = False
    for index, entry in enumerate(entries[: moves[-1]]):
        if entry.kind in ("dispatch", "assign") and entry.data.get("to"):
            assignee = str(entry.data["to"])
        if index <= moves[-2]:
            continue
        if entry.kind in ("extension_granted", "unpark"):
            deadline = _opt(entry.data.get("deadline"))
        elif entry.kind == "edit" and "urgency" in entry.data.get("changes", {}):
            new_urgency = entry.data["changes"]["urgency"][1]
            deadline = policy.deadline(
                stage, back.at, incident.category, incident.type, new_urgency
            )
        elif entry.kind == "supervise" and _opt(entry.data.get("deadline")) == deadline:
            supervised = True
        elif entry.kind == "remind" and _opt(entry.data.get("deadline")) == deadline:
            reminders = int(entry.data.get("n") or 0)
    if not supervised:
        reminders = 0
    return Undo(incident, last, stage, back.at, deadline, assignee, reminders, supervised)


def undo(
    db: Database,
    clock: Clock,
    policy: Policy,
    operator: str,
    ref: int | str,
    *,
    window: timedelta = UNDO_WINDOW,
) -> Incident:
    """Take back a mistaken advance: a step back to the previous stage, with reason "undo".

    History is never erased: the step stays in the timeline and an ``undo`` entry follows it,
    naming the entry it takes back. The stage's time limit is restored as it was (see
    :func:`undoable`); a case that was overdue in that stage is supervised again at once, with
    the reminders it had and no second 督办 entry (one whose deadline passed unnoticed is left to
    the sweep); an extension request the step let lapse waits for approval again.

    Raises:
        InvalidTransition, PermissionDenied: as :func:`undoable`.
    """
    with write(db):
        now = clock.now()
        plan = undoable(db, policy, operator, ref, now, window=window)
        incident = plan.incident
        at = to_iso(now)
        # Overdue again as it was; a deadline that passed unnoticed is left to the sweep.
        overdue = plan.supervised and plan.deadline is not None and plan.deadline < now
        values: dict[str, Any] = {
            "stage": plan.stage.value,
            "stage_since": to_iso(plan.stage_since),
            "deadline": to_iso(plan.deadline) if plan.deadline else None,
            "overdue_since": to_iso(plan.deadline) if overdue and plan.deadline else None,
            "remind_at": (
                to_iso(plan.deadline + (plan.reminders + 1) * policy.remind_every)
                if overdue and plan.deadline
                else None
            ),
            "reminders": plan.reminders if overdue else 0,
            "active": 1,
            "assignee": plan.assignee,
            "closed_at": None,
            "updated_at": at,
        }
        if overdue:
            values["supervised"] = 1
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        cursor = db.conn.execute(
            f"UPDATE incidents SET {assignments} WHERE id = :id AND stage = :expected",
            {**values, "id": incident.id, "expected": incident.stage.value},
        )
        if cursor.rowcount != 1:
            raise InvalidTransition(
                _(
                    "case {number} was changed by someone else meanwhile; look again and retry"
                ).format(number=incident.number)
            )
        lapsed = _lapse_pending_extension(db, incident.id, at)
        restored = plan.step.data.get("extension_lapsed")
        if isinstance(restored, int):
            db.conn.execute(
                "UPDATE extensions SET status = 'pending', decided_at = NULL"
                " WHERE incident_id = ? AND seq = ? AND status = 'lapsed'",
                (incident.id, restored),
            )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="undo",
            incident_id=incident.id,
            stage_from=incident.stage.value,
            stage_to=plan.stage.value,
            data={
                "reason": "undo",
                "undone": plan.step.id,
                "step": plan.step.kind,
                "deadline": values["deadline"],
                **({"extension_lapsed": lapsed} if lapsed is not None else {}),
                **({"extension_restored": restored} if isinstance(restored, int) else {}),
            },
        )
    return get_incident(db, incident.id)


__all__ = [
    "ACTIONS",
    "NEXT_STEP",
    "Severity",
    "Urgency",
    "add_note",
    "add_task",
    "allowed_actions",
    "approve_extension",
    "assign",
    "close",
    "complete_task",
    "dispatch",
    "edit",
    "feedback",
    "handle",
    "merge",
    "park",
    "register",
    "reopen",
    "request_extension",
    "return_case",
    "undo",
    "undoable",
    "unpark",
    "verify",
    "void",
]
