"""Provides the hub: the units below it and their tokens, idempotent ingestion, the read model.

A county runs dutydesk as a **hub** for its townships (and a city for its counties). Each unit
below is registered once (:func:`add_unit`) and handed a bearer token that is shown that one
time: the hub keeps only its SHA-256 and finds the unit by it (:func:`authenticate`).

:func:`ingest` takes one batch (``POST /v1/events``) in one transaction, its events in the
batch's order. An event is stored once per ``(unit, event id)``: a resend is a ``duplicate``.
Each subject (a case, a mobilization, the unit itself, a township rolled up) is applied in
``seq`` order: ``hub_subjects`` keeps the last seq applied; an event ahead of a gap is ``held``
and applied as soon as its predecessors arrive; another event at a seq already taken is a
``conflict`` (the unit must resynchronise from :func:`unit_state`); an event that cannot be
applied (a case event without its case...) is ``rejected`` and stored nowhere. Applying an
event updates the read model: ``hub_cases``, ``hub_mobilizations``, ``hub_rollups`` and the
unit's last signed audit head (:func:`witness`); a ``report`` event (an information report,
初报/续报/终报) also goes into ``hub_reports`` (:func:`reports`), its ``accepted`` result being
the report's receipt at the unit. A ``resync`` event, sent by a unit restored from an older
backup, marks the events it no longer has ``superseded`` and puts its case as it stands now (or
marks the hub's copy ``lost``).

The answer to a batch is kept 24 hours under its ``Idempotency-Key`` (``hub_batches``), so a
retried POST gets the same answer (:func:`replayed`) and a key reused for another body is
refused. A batch costs a fixed number of statements, not a few per event: the known ids, the
subjects and their held events are read once, and every write is one ``executemany``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from incidents.models import Severity
from mobilization import MobilizationState
from store.audit import append_event, parse_head
from store.clock import from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, NotFound, PermissionDenied
from store.i18n import N_, _
from store.text import clean_text
from uplink.models import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    UNIT_SUBJECT,
    Batch,
    EventResult,
    Kind,
    Result,
    UplinkEvent,
    code_problem,
    rollup_subject,
    subject_ref,
)
from uplink.reporting import Channel, ObligationKind, ReportKind, report_name

TOKEN_PREFIX = "ddh_"
REPLAY_WINDOW = timedelta(hours=24)  # how long a batch's answer is kept under its key
STATE_LIMIT = 1000  # subjects per page of unit_state, by default
STATE_LIMIT_MAX = 5000
SEVERITIES = tuple(level.roman for level in Severity)  # "I" .. "IV"

# Why a token is refused: the protocol's words (sent as they are in the 401 body).
UNKNOWN_TOKEN = N_("unknown token")
TOKEN_REVOKED = N_("token revoked")

_STORE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_CASE_KINDS = frozenset(kind for kind in Kind if kind.about_case)  # carry the case
_IN_CHUNK = 500  # values in one IN (...) list
_MOBILIZATION_KINDS = (Kind.MOBILIZATION_STARTED, Kind.MOBILIZATION_SUMMARY)
_COUNTS = ("total", "yes", "no", "silent", "unreachable")
# Overdue at the hub: the township said so, or the deadline has passed since it last said
# anything (an open case, not parked). Needs the named parameter :now.
_OVERDUE = (
    "(overdue = 1 OR (active = 1 AND deadline IS NOT NULL AND deadline < :now"
    " AND coalesce(json_extract(data, '$.parked'), 0) = 0))"
)


class Unauthorized(PermissionDenied):
    """A bearer token the hub does not take.

    Attributes:
        reason: the protocol's word for why, :data:`UNKNOWN_TOKEN` or :data:`TOKEN_REVOKED`
            (English always, for the 401 body); the message is the same in the current language.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(_(reason))


def _iso(at: datetime | None) -> str | None:
    return to_iso(at) if at is not None else None


def _opt_time(text: str | None) -> datetime | None:
    return from_iso(text) if text else None


# --- the read model's records -----------------------------------------------------------------


@dataclass(frozen=True)
class HubUnit:
    """A unit registered at this hub (its token is never kept, only the token's hash)."""

    code: str
    name: str
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    last_contact_at: datetime | None
    push_url: str | None = None  # where the hub pokes it when its inbox has news (else it polls)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "created_at": to_iso(self.created_at),
            "rotated_at": _iso(self.rotated_at),
            "revoked_at": _iso(self.revoked_at),
            "last_contact_at": _iso(self.last_contact_at),
            "push_url": self.push_url,
        }


@dataclass(frozen=True)
class UnitOverview:
    """One unit at a glance: its open cases (lost ones not counted), mobilizations, contact."""

    unit: HubUnit
    open_cases: int
    by_severity: dict[str, int]  # "I".."IV" -> open cases
    overdue: int
    supervised: int
    active_mobilizations: int
    silent: bool  # not heard from for longer than [hub] silent_minutes (revoked units never)
    last_head: dict[str, Any] | None
    children: int  # roll-ups received from this unit (it is itself a hub)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit.code,
            "name": self.unit.name,
            "open_cases": self.open_cases,
            "by_severity": dict(self.by_severity),
            "overdue": self.overdue,
            "supervised": self.supervised,
            "active_mobilizations": self.active_mobilizations,
            "last_contact_at": _iso(self.unit.last_contact_at),
            "silent": self.silent,
            "revoked": self.unit.revoked_at is not None,
            "last_head": self.last_head,
            "children": self.children,
        }


@dataclass(frozen=True)
class HubCase:
    """A unit's case as its last applied event showed it; ``overdue`` as of the read."""

    unit: str
    number: str
    title: str
    category: str
    type: str
    severity: str  # "I".."IV"
    stage: str
    active: bool
    deadline: datetime | None
    overdue: bool
    supervised: bool
    lost: bool  # the unit no longer has it (restored from an older backup)
    last_change_at: datetime
    seq: int
    data: dict[str, Any]  # the whole case as the unit sent it

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "number": self.number,
            "title": self.title,
            "category": self.category,
            "type": self.type,
            "severity": self.severity,
            "stage": self.stage,
            "active": self.active,
            "deadline": _iso(self.deadline),
            "overdue": self.overdue,
            "supervised": self.supervised,
            "lost": self.lost,
            "last_change_at": to_iso(self.last_change_at),
            "seq": self.seq,
            "data": self.data,
        }


@dataclass(frozen=True)
class ReceivedEvent:
    """One event as the hub received it (``state``: applied, held or superseded)."""

    unit: str
    event_id: str
    subject: str
    seq: int
    kind: str
    at: datetime
    received_at: datetime
    state: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "id": self.event_id,
            "subject": self.subject,
            "seq": self.seq,
            "kind": self.kind,
            "at": to_iso(self.at),
            "received_at": to_iso(self.received_at),
            "state": self.state,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class HubReport:
    """An information report a unit sent up (初报, 续报二, 终报, or one given by phone).

    ``at``: when it was sent (a phone report: when it was given); ``received_at``: when the hub
    took it (its receipt); ``data``: the report as the unit sent it, its exact text included.
    """

    unit: str
    event_id: str
    number: str  # the case's number at the unit
    kind: ReportKind
    seq: int
    channel: Channel
    at: datetime
    received_at: datetime
    name: str
    data: dict[str, Any]

    @property
    def text(self) -> str | None:
        text = self.data.get("text")
        return text if isinstance(text, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "id": self.event_id,
            "case": self.number,
            "kind": self.kind.value,
            "seq": self.seq,
            "channel": self.channel.value,
            "name": self.name,
            "at": to_iso(self.at),
            "received_at": to_iso(self.received_at),
            "report": self.data,
        }


@dataclass(frozen=True)
class HubMobilization:
    """A unit's mobilization as its last summary counted it."""

    unit: str
    ref: str
    case_number: str | None
    state: str
    exercise: bool
    total: int
    yes: int
    no: int
    silent: int
    unreachable: int
    started_at: datetime
    updated_at: datetime

    @property
    def answered_pct(self) -> float:
        return round(100.0 * (self.yes + self.no) / self.total, 1) if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "ref": self.ref,
            "case": self.case_number,
            "state": self.state,
            "exercise": self.exercise,
            "total": self.total,
            "yes": self.yes,
            "no": self.no,
            "silent": self.silent,
            "unreachable": self.unreachable,
            "answered_pct": self.answered_pct,
            "started_at": to_iso(self.started_at),
            "updated_at": to_iso(self.updated_at),
        }


@dataclass(frozen=True)
class Rollup:
    """The summary a unit (itself a hub) sent of one of its own units, ``child``."""

    unit: str
    child: str
    at: datetime
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "child": self.child, "at": to_iso(self.at), "data": self.data}


@dataclass(frozen=True)
class SubjectState:
    """What the hub has of one subject: the last seq applied, its event id, events held."""

    subject: str
    seq: int
    id: str
    held: int


@dataclass(frozen=True)
class UnitState:
    """A page of what the hub has of a unit (``GET /v1/units/{code}/state``)."""

    unit: str
    subjects: list[SubjectState]
    next: str | None  # pass as ``after`` for the next page; None: this was the last
    last_contact_at: datetime | None
    head: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "unit": self.unit,
            "subjects": [
                {"subject": s.subject, "seq": s.seq, "id": s.id, "held": s.held}
                for s in self.subjects
            ],
            "next": self.next,
            "last_contact_at": _iso(self.last_contact_at),
            "head": self.head,
        }


# --- units and tokens -------------------------------------------------------------------------

_UNIT_COLUMNS = "code, name, created_at, rotated_at, revoked_at, last_contact_at, push_url"


def _unit(row: Sequence[Any]) -> HubUnit:
    code, name, created_at, rotated_at, revoked_at, last_contact_at, push_url = row
    return HubUnit(
        code,
        name,
        from_iso(created_at),
        _opt_time(rotated_at),
        _opt_time(revoked_at),
        _opt_time(last_contact_at),
        push_url or None,
    )


def token_hash(token: str) -> str:
    """What the hub keeps of a token, and looks it up by."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _audit(db: Database, now: datetime, operator: str, kind: str, code: str) -> None:
    append_event(db, at=to_iso(now), operator=operator, kind=kind, data={"unit": code})


def list_units(db: Database) -> list[HubUnit]:
    rows = db.conn.execute(f"SELECT {_UNIT_COLUMNS} FROM hub_units ORDER BY code").fetchall()
    return [_unit(r) for r in rows]


def _no_unit(code: str) -> NotFound:
    return NotFound(_("no unit {code} is registered at this hub").format(code=code))


def get_unit(db: Database, code: str) -> HubUnit:
    """The unit registered as ``code``.

    Raises:
        NotFound: no such unit is registered here.
    """
    row = db.conn.execute(
        f"SELECT {_UNIT_COLUMNS} FROM hub_units WHERE code = ?", (code,)
    ).fetchone()
    if row is None:
        raise _no_unit(code)
    return _unit(row)


def add_unit(
    db: Database, now: datetime, code: str, name: str, *, operator: str = "hub"
) -> tuple[HubUnit, str]:
    """Register a unit below this hub; returns it and its token, which is not kept anywhere.

    Raises:
        InvalidInput: a malformed code or name, or a code already registered.
    """
    problem = code_problem(code)
    if problem:
        raise InvalidInput(problem, "code")
    name = clean_text(name, "name", kind="name", required=True)
    token = _new_token()
    with write(db):
        if db.conn.execute("SELECT 1 FROM hub_units WHERE code = ?", (code,)).fetchone():
            raise InvalidInput(_("unit {code} is already registered").format(code=code), "code")
        db.conn.execute(
            "INSERT INTO hub_units (code, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
            (code, name, token_hash(token), to_iso(now)),
        )
        _audit(db, now, operator, "hub_unit_added", code)
    return get_unit(db, code), token


def revoke_unit(db: Database, now: datetime, code: str, *, operator: str = "hub") -> HubUnit:
    """Refuse the unit's token from now on (401 "token revoked"); its data stays.

    Revoking a revoked unit changes nothing. :func:`rotate_token` gives it a working token again.
    """
    with write(db):
        unit = get_unit(db, code)
        if unit.revoked_at is None:
            db.conn.execute(
                "UPDATE hub_units SET revoked_at = ? WHERE code = ?", (to_iso(now), code)
            )
            _audit(db, now, operator, "hub_unit_revoked", code)
    return get_unit(db, code)


def rotate_token(
    db: Database, now: datetime, code: str, *, operator: str = "hub"
) -> tuple[HubUnit, str]:
    """A new token for the unit; the old one stops working at once. A revoked unit is
    enabled again with the new token (that is how a replaced machine gets back in)."""
    token = _new_token()
    with write(db):
        get_unit(db, code)
        db.conn.execute(
            "UPDATE hub_units SET token_hash = ?, rotated_at = ?, revoked_at = NULL WHERE code = ?",
            (token_hash(token), to_iso(now), code),
        )
        _audit(db, now, operator, "hub_unit_rotated", code)
    return get_unit(db, code), token


def authenticate(db: Database, token: str, now: datetime) -> HubUnit:
    """The unit whose token this is; records the contact (once per second at most).

    Raises:
        Unauthorized: no unit has this token (``unknown token``), or it was revoked.
    """
    row = db.conn.execute(
        f"SELECT {_UNIT_COLUMNS} FROM hub_units WHERE token_hash = ?", (token_hash(token),)
    ).fetchone()
    if row is None:
        raise Unauthorized(UNKNOWN_TOKEN)
    unit = _unit(row)
    if unit.revoked_at is not None:
        raise Unauthorized(TOKEN_REVOKED)
    at = to_iso(now)
    if _iso(unit.last_contact_at) != at:  # many requests in one second: one write
        with write(db):
            _touch(db, unit.code, at)
        unit = replace(unit, last_contact_at=from_iso(at))
    return unit


def _touch(db: Database, code: str, at: str) -> bool:
    """Move the unit's last contact forward to ``at``; False when there is no such unit."""
    cur = db.conn.execute(
        "UPDATE hub_units SET last_contact_at = max(coalesce(last_contact_at, ''), ?)"
        " WHERE code = ?",
        (at, code),
    )
    return cur.rowcount > 0


# --- ingestion --------------------------------------------------------------------------------


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _marks(items: Sequence[str]) -> str:
    return ",".join("?" * len(items))


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _norm_time(value: str) -> str:
    """``value`` in the store form (UTC, seconds, ``Z``), which compares as text."""
    return value if _STORE_TIME.fullmatch(value) else to_iso(from_iso(value))


def _case_problem(case: Any, number: str, where: str) -> str | None:
    """Why ``case`` (a case event's ``payload.case``) cannot go into the read model."""
    if not isinstance(case, dict):
        return f"{where}: " + _("must be a JSON object (the case as it stands)")
    for name in ("number", "title", "category", "type", "stage"):
        value = case.get(name)
        if not isinstance(value, str) or not value:
            return f"{where}.{name}: " + _("must be a non-empty string")
    if case["number"] != number:
        return f"{where}.number: " + _("is not the case of the subject ({number})").format(
            number=number
        )
    if case.get("severity") not in SEVERITIES:
        return f"{where}.severity: " + _("must be one of {values}").format(
            values=", ".join(SEVERITIES)
        )
    for name in ("active", "overdue", "supervised"):
        if not isinstance(case.get(name), bool):
            return f"{where}.{name}: " + _("must be true or false")
    deadline = case.get("deadline")
    if deadline is not None and not _is_time(deadline):
        return f"{where}.deadline: " + _("must be an ISO-8601 time with its offset, or null")
    reporting = case.get("reporting")
    if reporting is not None:  # absent: a unit that does not send its reporting facts
        return _reporting_problem(reporting, f"{where}.reporting")
    return None


def _reporting_problem(reporting: Any, where: str) -> str | None:
    """Why a case's ``reporting`` (received time, marked, sensitive, figures) is unusable."""
    if not isinstance(reporting, dict):
        return f"{where}: " + _("must be a JSON object")
    received = reporting.get("received_at")
    if received is not None and not _is_time(received):
        return f"{where}.received_at: " + _("must be an ISO-8601 time with its offset, or null")
    for name in ("marked", "sensitive"):
        if not isinstance(reporting.get(name, False), bool):
            return f"{where}.{name}: " + _("must be true or false")
    figures = reporting.get("figures")
    if figures is not None and not isinstance(figures, dict):
        return f"{where}.figures: " + _("must be a JSON object or null")
    return None


def _report_problem(report: Any) -> str | None:
    """Why a ``report`` event's ``payload.report`` cannot be stored."""
    where = "payload.report"
    if not isinstance(report, dict):
        return f"{where}: " + _("must be a JSON object (the report as sent)")
    if report.get("kind") not in {kind.value for kind in ReportKind}:
        return f"{where}.kind: " + _("must be one of {values}").format(
            values=", ".join(kind.value for kind in ReportKind)
        )
    if report.get("channel") not in {channel.value for channel in Channel}:
        return f"{where}.channel: " + _("must be one of {values}").format(
            values=", ".join(channel.value for channel in Channel)
        )
    seq = report.get("seq", 0)
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= 999:
        return f"{where}.seq: " + _("must be a whole number from 0 to 999")
    if not _is_time(report.get("at")):
        return f"{where}.at: " + _("must be an ISO-8601 time with its offset")
    for name in ("name", "text"):
        value = report.get(name)
        if value is not None and not isinstance(value, str):
            return f"{where}.{name}: " + _("must be a string or null")
    return None


def _mobilization_problem(event: UplinkEvent) -> str | None:
    payload = event.payload
    ref = payload.get("mobilization")
    if (
        not isinstance(ref, int | str)
        or isinstance(ref, bool)
        or str(ref) != subject_ref(event.subject)
    ):
        return "payload.mobilization: " + _("must be the mobilization of the subject")
    case = payload.get("case")
    if case is not None and not isinstance(case, str):
        return "payload.case: " + _("must be a case number or null")
    if not isinstance(payload.get("state"), str) or not payload["state"]:
        return "payload.state: " + _("must be a non-empty string")
    if not isinstance(payload.get("exercise", False), bool):
        return "payload.exercise: " + _("must be true or false")
    if not _is_time(payload.get("created_at")):
        return "payload.created_at: " + _("must be an ISO-8601 time with its offset")
    counts = payload.get("counts")
    if not isinstance(counts, dict):
        return "payload.counts: " + _("must be a JSON object")
    for name in _COUNTS:
        value = counts.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"payload.counts.{name}: " + _("must be a whole number, 0 or more")
    return None


def _refusal(unit: str, event: UplinkEvent, payload: str) -> str | None:
    """Why ``event`` (well-formed) is refused for good, or ``None``: the ``rejected`` reason."""
    if event.unit != unit:
        return _("an event of unit {other} in a batch of unit {unit}").format(
            other=event.unit, unit=unit
        )
    size = len(payload.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        return _("payload of {size} bytes; at most {most}").format(
            size=size, most=MAX_PAYLOAD_BYTES
        )
    kind, subject = event.kind, event.subject
    prefix = subject.partition(":")[0]
    expected = {
        Kind.MOBILIZATION_STARTED: "mobilization",
        Kind.MOBILIZATION_SUMMARY: "mobilization",
        Kind.ROLLUP: "rollup",
        Kind.AUDIT_HEAD: UNIT_SUBJECT,
        Kind.HANDOVER: UNIT_SUBJECT,
        Kind.ALERT_RECEIVED: "alert",
        Kind.DIRECTIVE_RECEIVED: "directive",
        Kind.DIRECTIVE_REPLIED: "directive",
    }.get(kind, "case" if kind in _CASE_KINDS else None)
    if expected is not None and prefix != expected:
        return _("a {kind} event cannot be about {subject}").format(
            kind=kind.value, subject=subject
        )
    if kind is Kind.REPORT:
        problem = _report_problem(event.payload.get("report"))
        if problem is not None:
            return problem
    if kind in _CASE_KINDS:
        return _case_problem(event.payload.get("case"), subject_ref(subject), "payload.case")
    if kind in _MOBILIZATION_KINDS:
        return _mobilization_problem(event)
    if kind is Kind.ROLLUP:
        child = event.payload.get("unit")
        if code_problem(child) or rollup_subject(str(child)) != subject:
            return "payload.unit: " + _("must be the unit of the subject")
    elif kind is Kind.AUDIT_HEAD:
        try:
            parse_head(event.payload)
        except InvalidInput as exc:
            return "payload: " + _("not a signed audit head: {error}").format(error=exc)
    elif kind is Kind.RESYNC:
        return _resync_problem(event)
    elif kind is Kind.ALERT_RECEIVED:
        return _receipt_problem(event, "alert")
    elif kind in (Kind.DIRECTIVE_RECEIVED, Kind.DIRECTIVE_REPLIED):
        return _receipt_problem(event, "directive")
    return None


_VIAS = ("push", "poll", "import")
_CALL_STATES = ("started", "skipped")


def _receipt_problem(event: UplinkEvent, what: str) -> str | None:
    """Why an ``alert_received``, ``directive_received`` or ``directive_replied`` event is
    refused, or ``None`` (the fields the hub applies; the rest is kept as sent)."""
    payload = event.payload
    ref = payload.get(what)
    if ref is not None and str(ref) != subject_ref(event.subject):
        words = (
            _("must be the alert of the subject")
            if what == "alert"
            else _("must be the directive of the subject")
        )
        return f"payload.{what}: " + words
    times = ["received_at"] if event.kind is not Kind.DIRECTIVE_REPLIED else ["replied_at"]
    for name in times:
        if payload.get(name) is not None and not _is_time(payload.get(name)):
            return f"payload.{name}: " + _("must be an ISO-8601 time with its offset")
    via = payload.get("via")
    if via is not None and via not in _VIAS:
        return "payload.via: " + _("must be one of {values}").format(values=", ".join(_VIAS))
    if event.kind is Kind.DIRECTIVE_REPLIED:
        reply = payload.get("reply")
        if not isinstance(reply, str) or not reply.strip():
            return "payload.reply: " + _("must be a non-empty string")
    call = payload.get("call")
    if call is not None:
        if not isinstance(call, dict):
            return "payload.call: " + _("must be a JSON object or null")
        state = call.get("state")
        if "started" in call and not isinstance(call.get("started"), bool):
            return "payload.call.started: " + _("must be true or false")
        if state is not None and state not in _CALL_STATES:
            return "payload.call.state: " + _("must be one of {values}").format(
                values=", ".join(_CALL_STATES)
            )
        for name in ("at", "started_at"):
            if call.get(name) is not None and not _is_time(call.get(name)):
                return f"payload.call.{name}: " + _("must be an ISO-8601 time with its offset")
    return None


def _resync_problem(event: UplinkEvent) -> str | None:
    known = event.payload.get("known")
    if not isinstance(known, int) or isinstance(known, bool) or not 0 <= known < event.seq:
        return "payload.known: " + _("must be a whole number from 0 to the event's seq - 1")
    case = event.payload.get("case")
    if case is None:
        return None
    if not event.subject.startswith("case:"):
        return "payload.case: " + _("must be null for a subject that is not a case")
    return _case_problem(case, subject_ref(event.subject), "payload.case")


# A case's last state in a batch: (seq, at, the case, lost).
_CaseState = tuple[int, str, dict[str, Any], bool]


@dataclass
class _Row:
    """An event of this batch to insert into ``hub_events``, in the state it ends in."""

    event: UplinkEvent
    payload: str
    state: str


@dataclass
class _Subject:
    """A subject of the batch: the last seq applied, and the held events by seq (an event of
    this batch, or the row id of one held earlier)."""

    name: str
    applied: int
    event_id: str
    held: dict[int, _Row | int] = field(default_factory=dict)
    changed: bool = False


class _Ingest:
    """One batch's ingestion: decides each event's result in memory, then writes it all."""

    def __init__(self, db: Database, unit: str, now: str) -> None:
        self.db = db
        self.unit = unit
        self.now = now
        self.rows: list[_Row] = []
        self.promoted: list[int] = []  # rows held earlier, now applied
        self.superseded: list[tuple[str, int, int]] = []  # (subject, after seq, before seq)
        self.cases: dict[str, _CaseState] = {}  # number -> its last state in the batch
        self.lost: dict[str, dict[str, Any]] = {}  # number -> mark lost (no row in this batch)
        self.mobilizations: dict[str, dict[str, Any]] = {}
        self.rollups: dict[str, dict[str, Any]] = {}
        self.reports: list[dict[str, Any]] = []
        self.alert_units: dict[str, dict[str, Any]] = {}  # identifier -> receipt
        self.alert_calls: dict[str, dict[str, Any]] = {}  # identifier -> its 叫应's figures
        self.directive_units: dict[str, dict[str, Any]] = {}  # directive -> receipt/reply
        self.head: str | None = None
        self.changed = False
        self.subjects: dict[str, _Subject] = {}
        self.known: set[str] = set()  # event ids stored, before this batch or by it

    def take(self, events: Sequence[UplinkEvent]) -> list[EventResult]:
        """Decide each event's result, in order (nothing is written yet: see :meth:`flush`)."""
        self.known = self._known_ids([e.id for e in events])
        self.subjects = self._subjects(sorted({e.subject for e in events}))
        return [self._one(event) for event in events]

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(ids):
            rows = self.db.conn.execute(
                f"SELECT event_id FROM hub_events WHERE unit = ? AND event_id IN ({_marks(chunk)})",
                (self.unit, *chunk),
            )
            known.update(r[0] for r in rows)
        return known

    def _subjects(self, names: Sequence[str]) -> dict[str, _Subject]:
        subjects = {name: _Subject(name, 0, "") for name in names}
        for chunk in _chunks(names):
            marks = _marks(chunk)
            for name, seq, event_id in self.db.conn.execute(
                f"SELECT subject, seq, event_id FROM hub_subjects WHERE unit = ?"
                f" AND subject IN ({marks})",
                (self.unit, *chunk),
            ):
                subjects[name].applied, subjects[name].event_id = int(seq), event_id
            for name, seq, row_id in self.db.conn.execute(
                f"SELECT subject, seq, id FROM hub_events WHERE unit = ? AND state = 'held'"
                f" AND subject IN ({marks})",
                (self.unit, *chunk),
            ):
                subjects[name].held[int(seq)] = int(row_id)
        return subjects

    def _one(self, event: UplinkEvent) -> EventResult:
        if event.id in self.known:
            return EventResult(event.id, Result.DUPLICATE)
        payload = _dumps(event.payload)
        reason = _refusal(self.unit, event, payload)
        if reason is not None:
            return EventResult(event.id, Result.REJECTED, reason)
        subject = self.subjects[event.subject]
        if event.seq <= subject.applied:
            return EventResult(
                event.id,
                Result.CONFLICT,
                _("{subject} seq {seq} is taken: the hub applied up to {applied}").format(
                    subject=event.subject, seq=event.seq, applied=subject.applied
                ),
            )
        if event.seq in subject.held:
            return EventResult(
                event.id,
                Result.CONFLICT,
                _(
                    "{subject} seq {seq} is taken by another event held there (applied up to"
                    " {applied})"
                ).format(subject=event.subject, seq=event.seq, applied=subject.applied),
            )
        self.known.add(event.id)
        row = _Row(event, payload, "held")
        self.rows.append(row)
        if event.seq > subject.applied + 1:
            subject.held[event.seq] = row
            return EventResult(event.id, Result.HELD)
        row.state = "applied"
        self._apply(subject, event)
        self._drain(subject)
        return EventResult(event.id, Result.ACCEPTED)

    def _drain(self, subject: _Subject) -> None:
        """Apply the held events that follow the last applied one, in order."""
        while (waiting := subject.held.pop(subject.applied + 1, None)) is not None:
            if isinstance(waiting, _Row):
                waiting.state = "applied"
                event = waiting.event
            else:
                event = self._load(waiting)
                self.promoted.append(waiting)
            self._apply(subject, event)

    def _load(self, row_id: int) -> UplinkEvent:
        event_id, subject, seq, kind, at, payload = self.db.conn.execute(
            "SELECT event_id, subject, seq, kind, at, payload FROM hub_events WHERE id = ?",
            (row_id,),
        ).fetchone()
        return UplinkEvent(
            event_id, self.unit, subject, int(seq), Kind(kind), at, json.loads(payload)
        )

    def _apply(self, subject: _Subject, event: UplinkEvent) -> None:
        subject.applied, subject.event_id, subject.changed = event.seq, event.id, True
        self.changed = True
        payload = event.payload
        if event.kind is Kind.REPORT:
            self._report(event)
        if event.kind in _CASE_KINDS:
            self._case(event.seq, event.at, payload["case"])
        elif event.kind in _MOBILIZATION_KINDS:
            self._mobilization(event)
        elif event.kind is Kind.AUDIT_HEAD:
            self.head = _dumps(parse_head(payload).to_json())
        elif event.kind is Kind.ROLLUP:
            self.rollups[payload["unit"]] = {
                "unit": self.unit,
                "child": payload["unit"],
                "at": _norm_time(event.at),
                "data": _dumps(payload),
            }
        elif event.kind is Kind.RESYNC:
            self._resync(subject, event)
        elif event.kind is Kind.ALERT_RECEIVED:
            self._alert_received(event)
        elif event.kind in (Kind.DIRECTIVE_RECEIVED, Kind.DIRECTIVE_REPLIED):
            self._directive(event)
        # a handover is kept in hub_events only: the unit's received timeline

    def _case(self, seq: int, at: str, case: dict[str, Any]) -> None:
        # Only the last state of a case in the batch is written: its row is made at flush.
        self.lost.pop(case["number"], None)
        self.cases[case["number"]] = (seq, at, case, False)

    def _report(self, event: UplinkEvent) -> None:
        """An information report received: kept per unit and case (the receipt is the
        ``accepted`` result the unit records)."""
        report = event.payload["report"]
        kind = ReportKind(report["kind"])
        channel = Channel(report["channel"])
        seq = int(report.get("seq", 0))
        name = report.get("name") or (
            ObligationKind.PHONE.label_zh if channel is Channel.PHONE else report_name(kind, seq)
        )
        self.reports.append(
            {
                "unit": self.unit,
                "event_id": event.id,
                "number": event.payload["case"]["number"],
                "kind": kind.value,
                "seq": seq,
                "channel": channel.value,
                "at": _norm_time(report["at"]),
                "received_at": self.now,
                "name": name,
                "data": _dumps(report),
            }
        )

    def _mobilization(self, event: UplinkEvent) -> None:
        payload = event.payload
        counts = payload["counts"]
        ref = str(payload["mobilization"])
        self.mobilizations[ref] = {
            "unit": self.unit,
            "ref": ref,
            "case_number": payload.get("case"),
            "state": payload["state"],
            "exercise": int(bool(payload.get("exercise", False))),
            **{name: int(counts.get(name, 0)) for name in _COUNTS},
            "started_at": _norm_time(payload["created_at"]),
            "updated_at": _norm_time(event.at),
            "data": _dumps(payload),
        }
        alert = payload.get("alert")
        if isinstance(alert, str) and alert:
            given = payload.get("answers")
            answers: dict[str, Any] = given if isinstance(given, dict) else {}
            first = answers.get("first_at")
            self.alert_calls[alert] = {
                "identifier": alert,
                "unit": self.unit,
                "call_started_at": _norm_time(payload["created_at"]),
                "call_mobilization": ref,
                "exercise": int(bool(payload.get("exercise", False))),
                "total": int(counts.get("total", 0)),
                "yes": int(counts.get("yes", 0)),
                "no": int(counts.get("no", 0)),
                "silent": int(counts.get("silent", 0)),
                "first_answer_at": _norm_time(str(first)) if _is_time(first) else None,
                "last_change_at": _norm_time(event.at),
                "answers": _dumps(answers),
            }

    def _alert_received(self, event: UplinkEvent) -> None:
        """A unit's receipt (签收) of an alert, with whether its 叫应 started or why not."""
        payload = event.payload
        given = payload.get("call")
        call: dict[str, Any] = given if isinstance(given, dict) else {}
        received = payload.get("received_at") or event.at
        # {"state": "started"|"skipped", ...} or W4's decision {"started": bool, "reason", ...}
        state = call.get("state")
        if state is None and isinstance(call.get("started"), bool):
            state = "started" if call["started"] else "skipped"
        at = call.get("started_at") or call.get("at")
        started = at if state == "started" and _is_time(at) else None
        mobilization = call.get("mobilization")
        reason = call.get("reason") if state != "started" else None
        if reason is not None and call.get("detail"):
            reason = f"{reason}: {call['detail']}"
        self.alert_units[subject_ref(event.subject)] = {
            "identifier": subject_ref(event.subject),
            "unit": self.unit,
            "received_at": _norm_time(received),
            "via": payload.get("via"),
            "call_state": state,
            "call_reason": str(reason)[:500] if reason is not None else None,
            "call_started_at": _norm_time(started) if started else None,
            "call_mobilization": str(mobilization) if mobilization is not None else None,
            "exercise": int(bool(payload.get("exercise", False))),
            "data": _dumps(payload),
        }

    def _directive(self, event: UplinkEvent) -> None:
        payload = event.payload
        ref = subject_ref(event.subject)
        row = self.directive_units.setdefault(
            ref,
            {
                "directive": ref,
                "unit": self.unit,
                "received_at": None,
                "replied_at": None,
                "replied_by": None,
                "reply": None,
            },
        )
        if event.kind is Kind.DIRECTIVE_RECEIVED:
            row["received_at"] = _norm_time(payload.get("received_at") or event.at)
        else:
            row["replied_at"] = _norm_time(payload.get("replied_at") or event.at)
            row["replied_by"] = payload.get("replied_by")
            row["reply"] = payload.get("reply")
            row["received_at"] = row["received_at"] or row["replied_at"]

    def _resync(self, subject: _Subject, event: UplinkEvent) -> None:
        """The unit has only up to ``known``: what it sent after that is superseded, and its
        case as it stands now replaces the hub's (or, when it has none, marks it lost)."""
        known = int(event.payload["known"])
        for row in self.rows:
            if (
                row.event.subject == subject.name
                and row.state == "applied"
                and known < row.event.seq < event.seq
            ):
                row.state = "superseded"
        self.superseded.append((subject.name, known, event.seq))
        if not subject.name.startswith("case:"):
            return
        case = event.payload.get("case")
        if case is not None:
            self._case(event.seq, event.at, case)
            return
        number = subject_ref(subject.name)
        if number in self.cases:
            self.cases[number] = (event.seq, event.at, self.cases[number][2], True)
        else:
            self.lost[number] = {
                "unit": self.unit,
                "number": number,
                "last_change_at": _norm_time(event.at),
                "seq": event.seq,
            }

    def _case_row(self, seq: int, at: str, case: dict[str, Any], lost: bool) -> dict[str, Any]:
        deadline = case.get("deadline")
        return {
            "unit": self.unit,
            "number": case["number"],
            "title": case["title"],
            "category": case["category"],
            "type": case["type"],
            "severity": case["severity"],
            "stage": case["stage"],
            "active": int(case["active"]),
            "deadline": _norm_time(deadline) if deadline else None,
            "overdue": int(case["overdue"]),
            "supervised": int(case["supervised"]),
            "lost": int(lost),
            "last_change_at": _norm_time(at),
            "seq": seq,
            "data": _dumps(case),
        }

    def flush(self) -> None:
        """Write the batch: held rows promoted, superseded marked, new rows, the read model."""
        conn = self.db.conn
        conn.executemany(
            "UPDATE hub_events SET state = 'applied' WHERE id = ?", [(i,) for i in self.promoted]
        )
        conn.executemany(
            "UPDATE hub_events SET state = 'superseded' WHERE unit = ? AND subject = ?"
            " AND state = 'applied' AND seq > ? AND seq < ?",
            [(self.unit, *s) for s in self.superseded],
        )
        conn.executemany(
            "INSERT INTO hub_events (unit, event_id, subject, seq, kind, at, received_at,"
            " payload, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    self.unit,
                    r.event.id,
                    r.event.subject,
                    r.event.seq,
                    r.event.kind.value,
                    r.event.at,
                    self.now,
                    r.payload,
                    r.state,
                )
                for r in self.rows
            ],
        )
        conn.executemany(
            "INSERT INTO hub_cases (unit, number, title, category, type, severity, stage, active,"
            " deadline, overdue, supervised, lost, last_change_at, seq, data) VALUES (:unit,"
            " :number, :title, :category, :type, :severity, :stage, :active, :deadline,"
            " :overdue, :supervised, :lost, :last_change_at, :seq, :data)"
            " ON CONFLICT(unit, number) DO UPDATE SET title = excluded.title,"
            " category = excluded.category, type = excluded.type, severity = excluded.severity,"
            " stage = excluded.stage, active = excluded.active, deadline = excluded.deadline,"
            " overdue = excluded.overdue, supervised = excluded.supervised,"
            " lost = excluded.lost, last_change_at = excluded.last_change_at,"
            " seq = excluded.seq, data = excluded.data",
            [self._case_row(*state) for state in self.cases.values()],
        )
        conn.executemany(
            "UPDATE hub_cases SET lost = 1, last_change_at = :last_change_at, seq = :seq"
            " WHERE unit = :unit AND number = :number",
            list(self.lost.values()),
        )
        conn.executemany(
            "INSERT INTO hub_mobilizations (unit, ref, case_number, state, exercise, total, yes,"
            " no, silent, unreachable, started_at, updated_at, data) VALUES (:unit, :ref,"
            " :case_number, :state, :exercise, :total, :yes, :no, :silent, :unreachable,"
            " :started_at, :updated_at, :data) ON CONFLICT(unit, ref) DO UPDATE SET"
            " case_number = excluded.case_number, state = excluded.state,"
            " exercise = excluded.exercise, total = excluded.total, yes = excluded.yes,"
            " no = excluded.no, silent = excluded.silent, unreachable = excluded.unreachable,"
            " started_at = excluded.started_at, updated_at = excluded.updated_at,"
            " data = excluded.data",
            list(self.mobilizations.values()),
        )
        conn.executemany(
            "INSERT INTO hub_rollups (unit, child, at, data) VALUES (:unit, :child, :at, :data)"
            " ON CONFLICT(unit, child) DO UPDATE SET at = excluded.at, data = excluded.data",
            list(self.rollups.values()),
        )
        if self.reports:
            # A report stays once received, even if a resync later sets its event aside: the
            # county did receive it.
            conn.executemany(
                "INSERT OR IGNORE INTO hub_reports (unit, event_id, number, kind, seq, channel,"
                " at, received_at, name, data) VALUES (:unit, :event_id, :number, :kind, :seq,"
                " :channel, :at, :received_at, :name, :data)",
                self.reports,
            )
        self._flush_alerts()
        conn.executemany(
            "INSERT INTO hub_subjects (unit, subject, seq, event_id) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(unit, subject) DO UPDATE SET seq = excluded.seq,"
            " event_id = excluded.event_id",
            [
                (self.unit, s.name, s.applied, s.event_id)
                for s in self.subjects.values()
                if s.changed
            ],
        )
        if self.changed:
            conn.execute(
                "UPDATE hub_units SET changed_at = ?, last_head = coalesce(?, last_head)"
                " WHERE code = ?",
                (self.now, self.head, self.unit),
            )

    def _flush_alerts(self) -> None:
        """The receipts and the 叫应 figures of alerts, and directives' receipts and replies."""
        conn = self.db.conn
        conn.executemany(
            "INSERT INTO hub_alert_units (identifier, unit, received_at, via, call_state,"
            " call_reason, call_started_at, call_mobilization, exercise, last_change_at, data)"
            " VALUES (:identifier, :unit, :received_at, :via, :call_state, :call_reason,"
            " :call_started_at, :call_mobilization, :exercise, :received_at, :data)"
            " ON CONFLICT(identifier, unit) DO UPDATE SET"
            " received_at = coalesce(hub_alert_units.received_at, excluded.received_at),"
            " via = coalesce(hub_alert_units.via, excluded.via),"
            " call_state = CASE WHEN hub_alert_units.call_state = 'started' THEN 'started'"
            "  ELSE excluded.call_state END,"
            " call_reason = CASE WHEN hub_alert_units.call_state = 'started'"
            "  THEN hub_alert_units.call_reason ELSE excluded.call_reason END,"
            " call_started_at = coalesce(hub_alert_units.call_started_at,"
            "  excluded.call_started_at),"
            " call_mobilization = coalesce(hub_alert_units.call_mobilization,"
            "  excluded.call_mobilization),"
            " exercise = excluded.exercise,"
            " last_change_at = max(coalesce(hub_alert_units.last_change_at, ''),"
            "  excluded.last_change_at),"
            " data = excluded.data",
            list(self.alert_units.values()),
        )
        conn.executemany(
            "INSERT INTO hub_alert_units (identifier, unit, call_state, call_started_at,"
            " call_mobilization, exercise, total, yes, no, silent, first_answer_at,"
            " last_change_at, data) VALUES (:identifier, :unit, 'started', :call_started_at,"
            " :call_mobilization, :exercise, :total, :yes, :no, :silent, :first_answer_at,"
            " :last_change_at, json_object('answers', json(:answers)))"
            " ON CONFLICT(identifier, unit) DO UPDATE SET call_state = 'started',"
            " call_started_at = coalesce(hub_alert_units.call_started_at,"
            "  excluded.call_started_at),"
            " call_mobilization = excluded.call_mobilization, exercise = excluded.exercise,"
            " total = excluded.total, yes = excluded.yes, no = excluded.no,"
            " silent = excluded.silent,"
            " first_answer_at = coalesce(excluded.first_answer_at,"
            "  hub_alert_units.first_answer_at),"
            " last_change_at = max(coalesce(hub_alert_units.last_change_at, ''),"
            "  excluded.last_change_at),"
            " data = json_set(hub_alert_units.data, '$.answers', json(:answers))",
            list(self.alert_calls.values()),
        )
        conn.executemany(
            "INSERT INTO hub_directive_units (directive, unit, received_at, replied_at,"
            " replied_by, reply) VALUES (:directive, :unit, :received_at, :replied_at,"
            " :replied_by, :reply) ON CONFLICT(directive, unit) DO UPDATE SET"
            " received_at = coalesce(hub_directive_units.received_at, excluded.received_at),"
            " replied_at = coalesce(excluded.replied_at, hub_directive_units.replied_at),"
            " replied_by = coalesce(excluded.replied_by, hub_directive_units.replied_by),"
            " reply = coalesce(excluded.reply, hub_directive_units.reply)",
            list(self.directive_units.values()),
        )


def _check_key(key: str) -> None:
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise InvalidInput(_("must be 8-64 letters, digits, '_' or '-'"), "Idempotency-Key")


def replayed(
    db: Database, unit: str, key: str, body_hash: str, now: datetime
) -> list[EventResult] | None:
    """The stored answer to a batch sent before under ``key`` (within 24 h), or ``None``.

    Raises:
        InvalidInput: the key was used (within 24 h) for a batch with another body.
    """
    row = db.conn.execute(
        "SELECT body_hash, response FROM hub_batches WHERE unit = ? AND key = ? AND at >= ?",
        (unit, key, to_iso(now - REPLAY_WINDOW)),
    ).fetchone()
    if row is None:
        return None
    stored_hash, response = row
    if stored_hash != body_hash:
        raise InvalidInput(_("idempotency key reused with a different body"), "Idempotency-Key")
    return [
        EventResult.from_json(item, f"results[{i}]") for i, item in enumerate(json.loads(response))
    ]


def ingest(
    db: Database, unit: str, batch: Batch, now: datetime, *, key: str, body_hash: str
) -> list[EventResult]:
    """Take a batch from ``unit`` (already authenticated): one result per event, in order.

    One transaction: the events stored, the read model updated, the unit's last contact, and
    the answer kept under ``key`` for 24 h. A key seen before with the same body replays its
    answer and changes nothing else.

    Raises:
        PermissionDenied: the batch is another unit's.
        InvalidInput: a malformed key, or a key reused with another body.
        NotFound: no such unit.
    """
    if batch.unit != unit:
        raise PermissionDenied(
            _("a batch of unit {other} sent with the token of unit {unit}").format(
                other=batch.unit, unit=unit
            )
        )
    _check_key(key)
    at = to_iso(now)
    with write(db):
        if not _touch(db, unit, at):
            raise _no_unit(unit)
        stored = replayed(db, unit, key, body_hash, now)
        if stored is not None:
            return stored
        run = _Ingest(db, unit, at)
        results = run.take(batch.events)
        run.flush()
        db.conn.execute("DELETE FROM hub_batches WHERE at < ?", (to_iso(now - REPLAY_WINDOW),))
        db.conn.execute(
            "INSERT OR REPLACE INTO hub_batches (unit, key, at, body_hash, response)"
            " VALUES (?, ?, ?, ?, ?)",
            (unit, key, at, body_hash, _dumps([r.to_json() for r in results])),
        )
    return results


# --- reading the read model -------------------------------------------------------------------


def unit_state(
    db: Database, unit: str, *, after: str | None = None, limit: int = STATE_LIMIT
) -> UnitState:
    """A page of the unit's subjects, sorted, each with the last seq the hub applied.

    A subject of which nothing was applied yet (only held events, or nothing) is not listed:
    its seq at the hub is 0.

    Raises:
        NotFound: no such unit.
        InvalidInput: ``limit`` outside 1-5000.
    """
    if not 1 <= limit <= STATE_LIMIT_MAX:
        raise InvalidInput(_("must be from 1 to {most}").format(most=STATE_LIMIT_MAX), "limit")
    found = get_unit(db, unit)
    rows = db.conn.execute(
        "SELECT s.subject, s.seq, s.event_id, (SELECT count(*) FROM hub_events h"
        " WHERE h.unit = s.unit AND h.subject = s.subject AND h.state = 'held')"
        " FROM hub_subjects s WHERE s.unit = ? AND s.subject > ? ORDER BY s.subject LIMIT ?",
        (unit, after or "", limit + 1),
    ).fetchall()
    page = [SubjectState(s, int(seq), event_id, int(held)) for s, seq, event_id, held in rows]
    more = len(page) > limit
    page = page[:limit]
    return UnitState(
        unit,
        page,
        page[-1].subject if more else None,
        found.last_contact_at,
        witness(db, unit),
    )


def subject_events(db: Database, unit: str, subject: str) -> list[dict[str, Any]]:
    """Every event the hub stores of one subject of ``unit``: ``{"seq", "id", "state"}`` in
    seq order (superseded ones too). What a unit restored from a backup reads to learn which
    of its events the hub already has (``GET /v1/units/{code}/state?subject=...``).

    Raises:
        NotFound: no such unit.
    """
    get_unit(db, unit)
    rows = db.conn.execute(
        "SELECT seq, event_id, state FROM hub_events WHERE unit = ? AND subject = ?"
        " ORDER BY seq, id",
        (unit, subject),
    ).fetchall()
    return [{"seq": int(seq), "id": event_id, "state": state} for seq, event_id, state in rows]


def witness(db: Database, unit: str) -> dict[str, Any] | None:
    """The unit's last signed audit head (for ``audit verify --witness``), or ``None`` yet.

    Raises:
        NotFound: no such unit.
    """
    row = db.conn.execute("SELECT last_head FROM hub_units WHERE code = ?", (unit,)).fetchone()
    if row is None:
        raise _no_unit(unit)
    head: dict[str, Any] | None = json.loads(row[0]) if row[0] else None
    return head


@dataclass
class _Counts:
    by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    overdue: int = 0
    supervised: int = 0


def _case_counts(db: Database, now: datetime) -> dict[str, _Counts]:
    """Open cases per unit (lost ones left out): by severity, overdue, supervised."""
    counts: dict[str, _Counts] = {}
    for unit, severity, n, overdue, supervised in db.conn.execute(
        f"SELECT unit, severity, count(*), sum({_OVERDUE}), sum(supervised) FROM hub_cases"
        " WHERE active = 1 AND lost = 0 GROUP BY unit, severity",
        {"now": to_iso(now)},
    ):
        c = counts.setdefault(unit, _Counts())
        c.by_severity[severity] = c.by_severity.get(severity, 0) + int(n)
        c.overdue += int(overdue or 0)
        c.supervised += int(supervised or 0)
    return counts


def _per_unit(db: Database, sql: str, *params: Any) -> dict[str, int]:
    return {unit: int(n) for unit, n in db.conn.execute(sql, params)}


def overview(db: Database, now: datetime, silent: timedelta) -> list[UnitOverview]:
    """Every unit at a glance, by code; ``silent``: flag a unit not heard from for longer."""
    counts = _case_counts(db, now)
    mobilizations = _per_unit(
        db,
        "SELECT unit, count(*) FROM hub_mobilizations WHERE state = ? GROUP BY unit",
        MobilizationState.ACTIVE.value,
    )
    children = _per_unit(db, "SELECT unit, count(*) FROM hub_rollups GROUP BY unit")
    heads = {
        code: json.loads(head)
        for code, head in db.conn.execute(
            "SELECT code, last_head FROM hub_units WHERE last_head IS NOT NULL"
        )
    }
    out = []
    for unit in list_units(db):
        c = counts.get(unit.code, _Counts())
        heard = unit.last_contact_at or unit.created_at
        out.append(
            UnitOverview(
                unit=unit,
                open_cases=sum(c.by_severity.values()),
                by_severity=c.by_severity,
                overdue=c.overdue,
                supervised=c.supervised,
                active_mobilizations=mobilizations.get(unit.code, 0),
                silent=unit.revoked_at is None and now - heard > silent,
                last_head=heads.get(unit.code),
                children=children.get(unit.code, 0),
            )
        )
    return out


_CASE_COLUMNS = (
    f"unit, number, title, category, type, severity, stage, active, deadline, {_OVERDUE},"
    " supervised, lost, last_change_at, seq, data"
)


def _case(row: Sequence[Any]) -> HubCase:
    unit, number, title, category, type_, severity, stage, active, deadline = row[:9]
    overdue, supervised, lost, last_change_at, seq, data = row[9:]
    return HubCase(
        unit,
        number,
        title,
        category,
        type_,
        severity,
        stage,
        bool(active),
        _opt_time(deadline),
        bool(overdue),
        bool(supervised),
        bool(lost),
        from_iso(last_change_at),
        int(seq),
        json.loads(data),
    )


def cases(
    db: Database,
    now: datetime,
    *,
    unit: str | None = None,
    overdue_only: bool = False,
    open_only: bool = True,
    limit: int = 1000,
) -> list[HubCase]:
    """The units' cases by unit, severity (I first) and number; lost ones included, flagged.

    Raises:
        NotFound: ``unit`` is not registered here.
    """
    where = ["1 = 1"]
    params: dict[str, Any] = {"now": to_iso(now), "limit": limit}
    if unit is not None:
        get_unit(db, unit)
        where.append("unit = :unit")
        params["unit"] = unit
    if open_only:
        where.append("active = 1")
    if overdue_only:
        where.append(_OVERDUE)
    rows = db.conn.execute(
        f"SELECT {_CASE_COLUMNS} FROM hub_cases WHERE {' AND '.join(where)}"
        " ORDER BY unit, severity, number LIMIT :limit",
        params,
    ).fetchall()
    return [_case(r) for r in rows]


@dataclass(frozen=True)
class UnitCaseFigures:
    """One unit's cases reported in a period, as the hub's copies show them now (the
    statistics per township, :mod:`reports.hub_stats`)."""

    unit: str
    cases: int
    closed: int
    open: int
    overdue: int
    supervised: int
    serious: int  # severity I or II
    avg_handling_h: float | None  # reported → closed, the closed ones


def case_figures(db: Database, start: datetime, end: datetime) -> dict[str, UnitCaseFigures]:
    """Per unit, the cases whose ``reported_at`` (as sent) falls in ``[start, end)``.

    One grouped read of ``hub_cases``; the times are compared as instants (``julianday``), so a
    unit sending offsets other than ``Z`` counts right.
    """
    lo, hi = julianday_of(start), julianday_of(end)
    rows = db.conn.execute(
        "SELECT unit, count(*), sum(stage = 'closed'), sum(active), sum(overdue),"
        " sum(supervised), sum(severity IN ('I', 'II')),"
        " avg(CASE WHEN stage = 'closed' THEN (julianday(json_extract(data, '$.closed_at'))"
        "  - julianday(json_extract(data, '$.reported_at'))) * 24 END)"
        " FROM hub_cases WHERE julianday(json_extract(data, '$.reported_at')) >= ?"
        " AND julianday(json_extract(data, '$.reported_at')) < ? GROUP BY unit",
        (lo, hi),
    ).fetchall()
    return {
        r[0]: UnitCaseFigures(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0),
                              int(r[5] or 0), int(r[6] or 0), r[7])
        for r in rows
    }  # fmt: skip


def julianday_of(at: datetime) -> float:
    """``at`` as SQLite's ``julianday`` number (days since noon UTC, 24 November 4714 BC)."""
    return at.timestamp() / 86400.0 + 2440587.5


def case_timeline(db: Database, unit: str, number: str) -> list[ReceivedEvent]:
    """Every event received about a case of ``unit``, in seq order (superseded ones too).

    Raises:
        NotFound: no such unit, or nothing received about that case.
    """
    get_unit(db, unit)
    rows = db.conn.execute(
        "SELECT event_id, subject, seq, kind, at, received_at, state, payload FROM hub_events"
        " WHERE unit = ? AND subject = ? ORDER BY seq, id",
        (unit, f"case:{number}"),
    ).fetchall()
    if not rows:
        raise NotFound(
            _("nothing received about case {number} from unit {unit}").format(
                number=number, unit=unit
            )
        )
    return [
        ReceivedEvent(
            unit,
            event_id,
            subject,
            int(seq),
            kind,
            from_iso(at),
            from_iso(received_at),
            state,
            json.loads(payload),
        )
        for event_id, subject, seq, kind, at, received_at, state, payload in rows
    ]


_REPORT_COLUMNS = "unit, event_id, number, kind, seq, channel, at, received_at, name, data"


def _report_row(row: Sequence[Any]) -> HubReport:
    unit, event_id, number, kind, seq, channel, at, received_at, name, data = row
    return HubReport(
        unit,
        event_id,
        number,
        ReportKind(kind),
        int(seq),
        Channel(channel),
        from_iso(at),
        from_iso(received_at),
        name,
        json.loads(data),
    )


def reports(
    db: Database,
    *,
    unit: str | None = None,
    case: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[HubReport]:
    """The information reports received, by unit, case and time sent (``since`` <= at <
    ``until`` when given).

    Raises:
        NotFound: ``unit`` is not registered here.
    """
    where = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit}
    if unit is not None:
        get_unit(db, unit)
        where.append("unit = :unit")
        params["unit"] = unit
    if case is not None:
        where.append("number = :number")
        params["number"] = case
    if since is not None:
        where.append("at >= :since")
        params["since"] = to_iso(since)
    if until is not None:
        where.append("at < :until")
        params["until"] = to_iso(until)
    rows = db.conn.execute(
        f"SELECT {_REPORT_COLUMNS} FROM hub_reports WHERE {' AND '.join(where)}"
        " ORDER BY unit, number, at, seq LIMIT :limit",
        params,
    ).fetchall()
    return [_report_row(r) for r in rows]


def case_reports(db: Database, unit: str, numbers: Sequence[str]) -> dict[str, list[HubReport]]:
    """The reports received for each of these cases of ``unit`` (number -> reports by time):
    one query per 500 cases, for the timeliness figures."""
    found: dict[str, list[HubReport]] = {}
    for chunk in _chunks(list(numbers)):
        rows = db.conn.execute(
            f"SELECT {_REPORT_COLUMNS} FROM hub_reports WHERE unit = ?"
            f" AND number IN ({_marks(chunk)}) ORDER BY number, at, seq",
            (unit, *chunk),
        ).fetchall()
        for row in rows:
            report = _report_row(row)
            found.setdefault(report.number, []).append(report)
    return found


def mobilizations(
    db: Database, *, unit: str | None = None, active_only: bool = True
) -> list[HubMobilization]:
    """The units' mobilizations, newest first within each unit."""
    where = ["1 = 1"]
    params: list[Any] = []
    if unit is not None:
        where.append("unit = ?")
        params.append(unit)
    if active_only:
        where.append("state = ?")
        params.append(MobilizationState.ACTIVE.value)
    rows = db.conn.execute(
        "SELECT unit, ref, case_number, state, exercise, total, yes, no, silent, unreachable,"
        f" started_at, updated_at FROM hub_mobilizations WHERE {' AND '.join(where)}"
        " ORDER BY unit, started_at DESC, ref",
        params,
    ).fetchall()
    return [_mobilization(r) for r in rows]


def _mobilization(row: Sequence[Any]) -> HubMobilization:
    unit, ref, case_number, state, exercise = row[:5]
    total, yes, no, silent, unreachable = (int(n) for n in row[5:10])
    started_at, updated_at = row[10:]
    return HubMobilization(
        unit,
        ref,
        case_number,
        state,
        bool(exercise),
        total,
        yes,
        no,
        silent,
        unreachable,
        from_iso(started_at),
        from_iso(updated_at),
    )


def rollups(db: Database, *, unit: str | None = None) -> list[Rollup]:
    """The roll-ups received (from units that are hubs themselves), by unit and child."""
    sql = "SELECT unit, child, at, data FROM hub_rollups"
    params: tuple[str, ...] = ()
    if unit is not None:
        sql += " WHERE unit = ?"
        params = (unit,)
    rows = db.conn.execute(sql + " ORDER BY unit, child", params).fetchall()
    return [Rollup(u, child, from_iso(at), json.loads(data)) for u, child, at, data in rows]


def _rollup_payload(view: UnitOverview, changed_at: str | None) -> dict[str, Any]:
    """What the level above learns of one of this hub's units (a ``rollup`` event)."""
    return {
        "unit": view.unit.code,
        "name": view.unit.name,
        "open": view.open_cases,
        "by_severity": dict(view.by_severity),
        "overdue": view.overdue,
        "supervised": view.supervised,
        "active_mobilizations": view.active_mobilizations,
        "last_contact_at": _iso(view.unit.last_contact_at),
        "changed_at": changed_at,
        "revoked": view.unit.revoked_at is not None,
    }


def rollups_due(
    db: Database, now: datetime, every: timedelta
) -> list[tuple[str, Kind, str, dict[str, Any]]]:
    """Roll-up events for the units changed since their last roll-up, at most one per unit
    per ``every``; marks them rolled up. For :func:`uplink.outbox.enqueue`, in the same
    transaction (call inside ``write``)."""
    with write(db):
        due = dict(
            db.conn.execute(
                "SELECT code, changed_at FROM hub_units WHERE changed_at IS NOT NULL"
                " AND (rolled_up_at IS NULL OR (changed_at >= rolled_up_at"
                " AND rolled_up_at <= ?))",
                (to_iso(now - every),),
            ).fetchall()
        )
        if not due:
            return []
        at = to_iso(now)
        views = [v for v in overview(db, now, timedelta.max) if v.unit.code in due]
        db.conn.executemany(
            "UPDATE hub_units SET rolled_up_at = ? WHERE code = ?", [(at, code) for code in due]
        )
    return [
        (
            rollup_subject(v.unit.code),
            Kind.ROLLUP,
            at,
            _rollup_payload(v, due[v.unit.code]),
        )
        for v in views
    ]


# --- alerts and directives sent down: receipts and 叫应 ------------------------------------------

CALL_LEVELS = ("Severe", "Extreme")  # severities whose receipt must start a 叫应 (by default)


class AlertFlag:
    """Why a unit is flagged in an alert's view (the protocol's words, shown translated)."""

    NOT_RECEIVED = "not_received"  # sent down, no receipt within call_start
    NOT_STARTED = "not_started"  # received, no 叫应 within call_start of the sending
    LATE = "late"  # its 叫应 started, but later than call_start after the sending

    LABELS = {
        NOT_RECEIVED: N_("not received"),
        NOT_STARTED: N_("call-and-answer not started"),
        LATE: N_("call-and-answer started late"),
    }

    @classmethod
    def label(cls, flag: str | None) -> str:
        return _(cls.LABELS[flag]) if flag in cls.LABELS else ""


@dataclass(frozen=True)
class AlertUnit:
    """One unit in an alert's view: received, 叫应 started, answered, how fast, still silent."""

    unit: str
    name: str
    sent_at: datetime | None
    received_at: datetime | None
    via: str | None
    call_state: str | None  # started | skipped | None (no word yet)
    call_reason: str | None  # why not started (the unit's words)
    call_started_at: datetime | None
    call_mobilization: str | None
    mobilization_state: str | None
    exercise: bool
    total: int
    yes: int
    no: int
    silent: int
    first_answer_at: datetime | None
    median_answer_s: float | None
    last_change_at: datetime | None
    waiting_for_s: float | None  # how long the not-yet-answered have waited (since the start)
    flag: str | None
    silent_people: tuple[tuple[str, datetime], ...] = ()  # (name, silent since), longest first
    silent_more: int = 0  # silent people beyond those named

    @property
    def answered(self) -> int:
        return self.yes + self.no

    @property
    def not_answered(self) -> int:
        """People called who have not answered (yet): silent, escalated or still waiting."""
        return max(0, self.total - self.yes - self.no)

    @property
    def first_answer_s(self) -> float | None:
        if self.first_answer_at is None or self.call_started_at is None:
            return None
        return max(0.0, (self.first_answer_at - self.call_started_at).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "name": self.name,
            "sent_at": _iso(self.sent_at),
            "received_at": _iso(self.received_at),
            "via": self.via,
            "call": {
                "state": self.call_state,
                "reason": self.call_reason,
                "started_at": _iso(self.call_started_at),
                "mobilization": self.call_mobilization,
                "mobilization_state": self.mobilization_state,
                "exercise": self.exercise,
            },
            "people": {
                "total": self.total,
                "yes": self.yes,
                "no": self.no,
                "answered": self.answered,
                "silent": self.silent,
                "not_answered": self.not_answered,
            },
            "first_answer_at": _iso(self.first_answer_at),
            "first_answer_s": self.first_answer_s,
            "median_answer_s": self.median_answer_s,
            "waiting_for_s": self.waiting_for_s,
            "silent_people": [
                {"name": name, "since": to_iso(since)} for name, since in self.silent_people
            ],
            "silent_more": self.silent_more,
            "last_change_at": _iso(self.last_change_at),
            "flag": self.flag,
        }


@dataclass(frozen=True)
class AlertView:
    """An alert sent down, per unit of its area (the county's 叫应 board)."""

    identifier: str
    event: str | None
    colour: str | None
    severity: str | None
    headline: str | None
    status: str | None
    msg_type: str | None
    sent: datetime | None
    expires: datetime | None
    cancelled_at: datetime | None
    call_start: timedelta
    units: list[AlertUnit]

    @property
    def totals(self) -> dict[str, int]:
        units = self.units
        return {
            "units": len(units),
            "received": sum(1 for u in units if u.received_at is not None),
            "started": sum(1 for u in units if u.call_state == "started"),
            "flagged": sum(1 for u in units if u.flag is not None),
            "people": sum(u.total for u in units),
            "yes": sum(u.yes for u in units),
            "no": sum(u.no for u in units),
            "answered": sum(u.answered for u in units),
            "silent": sum(u.silent for u in units),
            "not_answered": sum(u.not_answered for u in units),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "event": self.event,
            "colour": self.colour,
            "severity": self.severity,
            "headline": self.headline,
            "status": self.status,
            "msg_type": self.msg_type,
            "sent": _iso(self.sent),
            "expires": _iso(self.expires),
            "cancelled_at": _iso(self.cancelled_at),
            "call_start_minutes": self.call_start.total_seconds() / 60,
            "totals": self.totals,
            "units": [u.to_json() for u in self.units],
        }


def _alert_row(db: Database, identifier: str) -> dict[str, Any] | None:
    """The alert as stored at this hub (issued here, or received from above), if it is."""
    cur = db.conn.execute(
        "SELECT event, colour, severity, headline, status, msg_type, sent, expires,"
        " cancelled_at, area_codes, polygons FROM alerts WHERE identifier = ?",
        (identifier,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def _flag(
    unit: AlertUnit,
    now: datetime,
    call_start: timedelta,
    must_call: bool,
    cancelled: datetime | None,
) -> str | None:
    since = unit.sent_at or unit.received_at
    if since is None:
        return None
    deadline = since + call_start
    if unit.call_started_at is not None:
        return AlertFlag.LATE if must_call and unit.call_started_at > deadline else None
    if cancelled is not None and cancelled <= deadline:
        return None  # called off before anyone had to start
    if now <= deadline:
        return None
    if unit.received_at is None:
        return AlertFlag.NOT_RECEIVED
    return AlertFlag.NOT_STARTED if must_call else None


def alert_view(
    db: Database,
    identifier: str,
    now: datetime,
    call_start: timedelta,
    *,
    call_levels: Sequence[str] = CALL_LEVELS,
) -> AlertView:
    """Per unit of the alert's area: sent down at, received at (and via), 叫应 started at, the
    people called (total, yes, no, silent), the first and median answer times, how long the
    unanswered have waited, and a flag (:class:`AlertFlag`) when the unit had not received the
    alert, or not started its 叫应, within ``call_start`` of its sending. Units of the area that
    never received it are listed too.

    Raises:
        NotFound: the hub neither holds nor sent down an alert with this identifier.
    """
    from uplink.downlink import units_in_area

    alert = _alert_row(db, identifier)
    rows = db.conn.execute(
        "SELECT a.unit, coalesce(u.name, a.unit), a.sent_at, a.received_at, a.via, a.call_state,"
        " a.call_reason, a.call_started_at, a.call_mobilization, m.state, a.exercise, a.total,"
        " a.yes, a.no, a.silent, a.first_answer_at, a.last_change_at, a.data"
        " FROM hub_alert_units a LEFT JOIN hub_units u ON u.code = a.unit"
        " LEFT JOIN hub_mobilizations m ON m.unit = a.unit AND m.ref = a.call_mobilization"
        " WHERE a.identifier = ? ORDER BY a.unit",
        (identifier,),
    ).fetchall()
    if alert is None and not rows:
        raise NotFound(
            _("no alert {identifier} was sent down from this hub").format(identifier=identifier)
        )
    cancelled = _opt_time(alert["cancelled_at"]) if alert else None
    severity = alert["severity"] if alert else None
    must_call = severity is None or severity in call_levels
    units: list[AlertUnit] = []
    seen: set[str] = set()
    for row in rows:
        data = json.loads(row[17] or "{}")
        answers = data.get("answers") if isinstance(data.get("answers"), dict) else {}
        median = answers.get("median_s")
        started = _opt_time(row[7])
        total, yes, no = int(row[11]), int(row[12]), int(row[13])
        silent_people = tuple(
            (str(p["name"]), from_iso(p["since"]))
            for p in answers.get("silent") or []
            if isinstance(p, dict) and isinstance(p.get("name"), str) and _is_time(p.get("since"))
        )
        since = silent_people[0][1] if silent_people else started
        waiting = (
            max(0.0, (now - since).total_seconds())
            if since is not None and total - yes - no > 0 and row[9] in (None, "active")
            else None
        )
        more = answers.get("silent_more")
        unit = AlertUnit(
            unit=row[0],
            name=row[1],
            sent_at=_opt_time(row[2]),
            received_at=_opt_time(row[3]),
            via=row[4],
            call_state=row[5],
            call_reason=row[6],
            call_started_at=started,
            call_mobilization=row[8],
            mobilization_state=row[9],
            exercise=bool(row[10]),
            total=total,
            yes=yes,
            no=no,
            silent=int(row[14]),
            first_answer_at=_opt_time(row[15]),
            median_answer_s=float(median) if isinstance(median, int | float) else None,
            last_change_at=_opt_time(row[16]),
            waiting_for_s=waiting,
            flag=None,
            silent_people=silent_people,
            silent_more=more if isinstance(more, int) and not isinstance(more, bool) else 0,
        )
        units.append(replace(unit, flag=_flag(unit, now, call_start, must_call, cancelled)))
        seen.add(unit.unit)
    if alert is not None:
        codes = json.loads(alert["area_codes"] or "[]")
        polygons = [
            [(float(p[0]), float(p[1])) for p in ring]
            for ring in json.loads(alert["polygons"] or "[]")
        ]
        names = {u.code: u.name for u in list_units(db)}
        for code in units_in_area(db, codes, polygons):
            if code not in seen:
                units.append(
                    AlertUnit(
                        code,
                        names.get(code, code),
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        False,
                        0,
                        0,
                        0,
                        0,
                        None,
                        None,
                        None,
                        None,
                        AlertFlag.NOT_RECEIVED,
                    )
                )
        units.sort(key=lambda u: u.unit)
    return AlertView(
        identifier=identifier,
        event=alert["event"] if alert else None,
        colour=alert["colour"] if alert else None,
        severity=severity,
        headline=alert["headline"] if alert else None,
        status=alert["status"] if alert else None,
        msg_type=alert["msg_type"] if alert else None,
        sent=_opt_time(alert["sent"]) if alert else None,
        expires=_opt_time(alert["expires"]) if alert else None,
        cancelled_at=cancelled,
        call_start=call_start,
        units=units,
    )


def alert_list(
    db: Database,
    now: datetime,
    call_start: timedelta,
    *,
    limit: int = 100,
    call_levels: Sequence[str] = CALL_LEVELS,
) -> list[AlertView]:
    """The alerts sent down from this hub, the newest first, each as its :func:`alert_view`
    (``.totals`` is the one-line summary: units, received, started, flagged, people...)."""
    rows = db.conn.execute(
        "SELECT identifier FROM hub_alert_units GROUP BY identifier"
        " ORDER BY min(coalesce(sent_at, received_at, '')) DESC, identifier LIMIT ?",
        (limit,),
    ).fetchall()
    return [alert_view(db, str(r[0]), now, call_start, call_levels=call_levels) for r in rows]


@dataclass(frozen=True)
class DirectiveUnit:
    """One unit a directive went to: received, replied (and what), overdue."""

    unit: str
    name: str
    sent_at: datetime | None
    received_at: datetime | None
    replied_at: datetime | None
    replied_by: str | None
    reply: str | None
    overdue: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "name": self.name,
            "sent_at": _iso(self.sent_at),
            "received_at": _iso(self.received_at),
            "replied_at": _iso(self.replied_at),
            "replied_by": self.replied_by,
            "reply": self.reply,
            "overdue": self.overdue,
        }


@dataclass(frozen=True)
class DirectiveView:
    """A directive sent down from this hub, per unit."""

    id: str
    title: str | None
    reply_by: datetime | None
    units: list[DirectiveUnit]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "reply_by": _iso(self.reply_by),
            "totals": {
                "units": len(self.units),
                "received": sum(1 for u in self.units if u.received_at is not None),
                "replied": sum(1 for u in self.units if u.replied_at is not None),
                "overdue": sum(1 for u in self.units if u.overdue),
            },
            "units": [u.to_json() for u in self.units],
        }


def directive_view(db: Database, directive: str, now: datetime) -> DirectiveView:
    """Per unit: sent, received (签收), replied (反馈) and what, overdue past its reply-by.

    Raises:
        NotFound: no such directive was sent from this hub.
    """
    head = db.conn.execute(
        "SELECT title, reply_by FROM hub_directives WHERE id = ?", (directive,)
    ).fetchone()
    rows = db.conn.execute(
        "SELECT d.unit, coalesce(u.name, d.unit), d.sent_at, d.received_at, d.replied_at,"
        " d.replied_by, d.reply FROM hub_directive_units d"
        " LEFT JOIN hub_units u ON u.code = d.unit WHERE d.directive = ? ORDER BY d.unit",
        (directive,),
    ).fetchall()
    if head is None and not rows:
        raise NotFound(_("no directive {id} was sent from this hub").format(id=directive))
    reply_by = _opt_time(head[1]) if head else None
    return DirectiveView(
        directive,
        head[0] if head else None,
        reply_by,
        [
            DirectiveUnit(
                r[0],
                r[1],
                _opt_time(r[2]),
                _opt_time(r[3]),
                _opt_time(r[4]),
                r[5],
                r[6],
                reply_by is not None and r[4] is None and now > reply_by,
            )
            for r in rows
        ],
    )


FLAGGED_KIND = "hub_alert_flagged"  # the timeline entry of a unit newly flagged (notices)


def flag_overdue(
    db: Database,
    now: datetime,
    call_start: timedelta,
    *,
    call_levels: Sequence[str] = CALL_LEVELS,
) -> list[tuple[str, str, str]]:
    """Mark the units whose 叫应 has not started within ``call_start`` of the alert's sending
    (not received, or received without a 叫应), once each: ``hub_alert_units.flag`` and
    ``flagged_at``, and one ``hub_alert_flagged`` timeline entry per unit (the hub's notices
    make it a toast). Returns the (identifier, unit, flag) newly flagged. The engine's sweep
    calls it at a hub; :func:`alert_view` computes the same flags on every read."""
    rows = db.conn.execute(
        "SELECT h.identifier, h.unit, h.received_at, a.severity, a.cancelled_at, h.sent_at"
        " FROM hub_alert_units h LEFT JOIN alerts a ON a.identifier = h.identifier"
        " WHERE h.call_started_at IS NULL AND h.flag IS NULL AND h.sent_at IS NOT NULL"
        " AND h.sent_at <= ? ORDER BY h.identifier, h.unit",
        (to_iso(now - call_start),),
    ).fetchall()
    flagged: list[tuple[str, str, str]] = []
    for identifier, unit, received_at, severity, cancelled_at, sent_at in rows:
        deadline = from_iso(sent_at) + call_start
        if cancelled_at is not None and from_iso(cancelled_at) <= deadline:
            continue
        if received_at is None:
            flagged.append((identifier, unit, AlertFlag.NOT_RECEIVED))
        elif severity is None or severity in call_levels:
            flagged.append((identifier, unit, AlertFlag.NOT_STARTED))
    if not flagged:
        return []
    at = to_iso(now)
    with write(db):
        for identifier, unit, flag in flagged:
            db.conn.execute(
                "UPDATE hub_alert_units SET flag = ?, flagged_at = ? WHERE identifier = ?"
                " AND unit = ? AND flag IS NULL",
                (flag, at, identifier, unit),
            )
            append_event(
                db,
                at=at,
                operator="engine",
                kind=FLAGGED_KIND,
                data={"identifier": identifier, "unit": unit, "flag": flag},
            )
    return flagged
