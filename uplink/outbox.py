"""Provides the outbox: the timeline turned into uplink events, in order, exactly once.

Every change the level above must see is already an entry of the hash-chained timeline
(``events``), written in the same transaction as the change. :func:`project` is a cursor over
that append-only chain: it reads the entries after ``uplink_cursor``, projects each one it
cares about into an uplink event (:mod:`uplink.models`), and writes those events and the
cursor's new position in one transaction. So an entry becomes its events once, never twice,
and none is skipped, across crashes and restarts: the same guarantee as an outbox row written
with the change, at the cost of a short delay (the engine projects every tick).

A case event carries the change (the timeline entry's kind, stages, operator) and the case as
it stands when projected (normally within a second of the change; after the engine was off,
as it stands at catch-up), so the hub's read model is always the case's latest state. Answers
to a mobilization are not sent one by one: they mark it, and :func:`project` sends a summary
at most every ``summary_every`` seconds per mobilization, and a final one when it ends. Each
new signed checkpoint of the audit chain becomes one ``audit_head`` event (the newest, when
several were signed between two projections). A hub rolls up its units the same way.

An information report sent (``sitrep_sent``) or given by phone (``sitrep_phoned``) becomes a
``report`` event on its case's subject, with the whole report (the exact text sent) and the
case; the event's id is written into the report's row (``sitreps.event_id``), so the report's
receipt (签收) is that outbox row acknowledged by the hub (:func:`receipts`). Every case
payload carries the case's reporting facts (``reporting``: received time, marked, sensitive,
latest figures), from which the hub computes the unit's reporting obligations.

A warning received from above (``alert_received``) goes up as its receipt (签收) on the subject
``alert:<identifier>``, with the automatic 叫应 decision as it stands when projected (the
caller records it in the same transaction as the receipt); a directive's receipt and its reply
go up on ``directive:<id>``. A mobilization that is a 叫应 (``call_answers`` links it to an
alert) carries the alert's identifier and how fast its people answered.

The payload of each kind is documented field by field in ``docs/uplink-protocol.md``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from statistics import median
from typing import Any

from incidents.models import Incident, Severity
from incidents.records import get_incident
from mobilization import ANSWERED, SILENT, get_mobilization, recipient_rows, totals
from store.audit import StoredEvent, events_after, latest_checkpoint_row
from store.clock import from_iso, to_iso
from store.db import Database, write
from store.errors import NotFound
from uplink import alerts, directives
from uplink.models import (
    SUBJECT_PATTERN,
    UNIT_SUBJECT,
    Kind,
    OutboxState,
    UplinkEvent,
    alert_subject,
    case_subject,
    compact_json,
    directive_subject,
    mobilization_subject,
)
from uplink.reporting import Channel, ObligationKind, ReportKind, report_name

PROJECT_BATCH = 2000  # timeline entries read and projected per transaction

# Timeline kinds (written by the domains) and what the level above hears of them. A kind not
# named here stays local (notes, tasks, contacts, trees, security summaries...).
CASE_KINDS: dict[str, Kind] = {
    "reported": Kind.CASE_REPORTED,
    "edit": Kind.CASE_UPDATED,
    "assign": Kind.CASE_UPDATED,
    "park": Kind.CASE_UPDATED,
    "unpark": Kind.CASE_UPDATED,
    "merged_in": Kind.CASE_UPDATED,
    "extension_granted": Kind.CASE_UPDATED,
    "supervise": Kind.CASE_SUPERVISED,
    "remind": Kind.CASE_SUPERVISED,
    "merge": Kind.CASE_MERGED,
    # the case's reporting facts changed (uplink.sitreps): its ``reporting`` goes up
    "sitrep_marked": Kind.CASE_UPDATED,
    "sitrep_received": Kind.CASE_UPDATED,
    "sitrep_figures": Kind.CASE_UPDATED,
}
# An information report sent up in writing, or given by phone: a ``report`` event.
REPORT_KINDS = frozenset({"sitrep_sent", "sitrep_phoned"})
MOBILIZATION_ANSWERS = frozenset(
    {
        "mobilization_answer",
        "mobilization_answer_changed",
        "mobilization_node_unreachable",
        "mobilization_resent",
    }
)
MOBILIZATION_ENDS = frozenset({"mobilization_completed", "mobilization_cancelled"})
HANDOVER_KINDS = frozenset({"handover", "handover_confirmed"})
# Warnings and directives from above: the receipts (签收) and the replies (反馈) go up.
DIRECTIVE_KINDS: dict[str, Kind] = {
    "directive_received": Kind.DIRECTIVE_RECEIVED,
    "directive_replied": Kind.DIRECTIVE_REPLIED,
}
CALL_SILENT_LIMIT = 50  # silent people named in a 叫应's summary (longest silent first)


@dataclass(frozen=True)
class Projection:
    """What to project, and how: from the ``[uplink]`` configuration.

    Attributes:
        unit: the division code events carry.
        include_reporter: send the reporter's name (and masked phone) with each case.
        summary_every: at most one mobilization summary per mobilization this often.
    """

    unit: str
    include_reporter: bool = False
    summary_every: timedelta = timedelta(seconds=30)


def _new_id() -> str:
    return uuid.uuid4().hex


def case_payload(incident: Incident, now: datetime, *, include_reporter: bool) -> dict[str, Any]:
    """The case as the level above sees it: no reporter unless configured, phone masked."""
    # Masking the reporter's phone (libphonenumber) was a third of a projection's time: only
    # when it is sent.
    full = (incident if include_reporter else replace(incident, reporter_phone=None)).to_json(now)
    case = {
        name: full[name]
        for name in (
            "number",
            "title",
            "description",
            "category",
            "type",
            "severity",
            "urgency",
            "stage",
            "location",
            "lat",
            "lon",
            "grid",
            "source",
            "tags",
            "assignee",
            "reported_at",
            "stage_since",
            "deadline",
            "overdue",
            "parked",
            "supervised",
            "extensions",
            "updated_at",
            "closed_at",
        )
    }
    case["active"] = incident.stage.is_open
    case["merged_into"] = None
    if include_reporter:
        case["reporter"] = {"name": full["reporter_name"], "phone": full["reporter_phone"]}
    return case


def case_reporting(db: Database, incident: Incident) -> dict[str, Any]:
    """The case's reporting facts as the level above sees them (``case.reporting``).

    ``received_at`` is when the unit received the report of the case (接报时间): the case's
    ``reported_at`` unless an officer corrected it; ``marked``/``sensitive`` make any case
    reportable; ``figures`` are the latest casualty figures recorded (None: none yet).
    """
    row = db.conn.execute(
        "SELECT received_at, marked, sensitive, figures FROM sitrep_cases WHERE incident_id = ?",
        (incident.id,),
    ).fetchone()
    received_at, marked, sensitive, figures = row if row is not None else (None, 0, 0, None)
    return {
        "received_at": received_at or to_iso(incident.reported_at),
        "marked": bool(marked),
        "sensitive": bool(sensitive),
        "figures": json.loads(figures) if figures else None,
    }


def _case_of(
    db: Database, incident: Incident, now: datetime, options: Projection
) -> dict[str, Any]:
    """The whole case payload: the case, the case it was merged into, its reporting facts."""
    case = case_payload(incident, now, include_reporter=options.include_reporter)
    if incident.merged_into is not None:
        try:
            case["merged_into"] = get_incident(db, incident.merged_into).number
        except NotFound:
            case["merged_into"] = None
    case["reporting"] = case_reporting(db, incident)
    return case


def report_payload(entry: StoredEvent) -> dict[str, Any]:
    """The report of a ``sitrep_sent``/``sitrep_phoned`` entry as it goes up: the entry's data
    (the whole report, its exact text included), with its channel, time and name always set."""
    report = dict(entry.data)
    phoned = entry.kind == "sitrep_phoned"
    report.setdefault("channel", (Channel.PHONE if phoned else Channel.WRITTEN).value)
    report.setdefault("kind", ReportKind.INITIAL.value)
    report.setdefault("seq", 0)
    if not isinstance(report.get("at"), str):
        report["at"] = entry.at  # sent now; a phone report says when it was given
    if not isinstance(report.get("name"), str):
        if report["channel"] == Channel.PHONE.value:
            report["name"] = ObligationKind.PHONE.label_zh
        else:
            try:
                kind = ReportKind(str(report["kind"]))
            except ValueError:
                kind = ReportKind.INITIAL
            seq = report["seq"] if isinstance(report["seq"], int) else 0
            report["name"] = report_name(kind, seq)
    return report


def _change(entry: StoredEvent) -> dict[str, Any]:
    change: dict[str, Any] = {"kind": entry.kind, "operator": entry.operator}
    if entry.stage_to:
        change["stage_from"] = entry.stage_from
        change["stage_to"] = entry.stage_to
    if entry.kind == "edit":
        changes = entry.data.get("changes", entry.data)
        change["fields"] = sorted(changes)
        # The classification before and after: the hub replays the case's reporting duties
        # from its events, even when they were projected late (each carries the case as it
        # stands when projected, not as it stood then).
        for name in ("category", "type", "severity"):
            pair = changes.get(name)
            if isinstance(pair, list) and len(pair) == 2:
                change[name] = [_roman(v) for v in pair] if name == "severity" else pair
    elif entry.kind == "sitrep_marked":
        for name in ("marked", "sensitive"):
            pair = entry.data.get(name)
            if isinstance(pair, list) and len(pair) == 2:
                change[name] = [bool(v) for v in pair]
    for name in ("into", "duplicate", "new_deadline", "to"):
        value = entry.data.get(name)
        if isinstance(value, str | int):
            change[name] = value
    return change


def _roman(level: Any) -> Any:
    try:
        return Severity(int(level)).roman
    except (TypeError, ValueError):
        return level


def _call_alert(db: Database, mobilization_id: int) -> str | None:
    """The identifier of the alert a mobilization is the 叫应 of, or None."""
    row = db.conn.execute(
        "SELECT a.identifier FROM call_answers AS c JOIN alerts AS a ON a.id = c.alert_id"
        " WHERE c.mobilization_id = ?",
        (mobilization_id,),
    ).fetchone()
    return str(row[0]) if row is not None else None


def call_answers_payload(db: Database, mobilization_id: int, started: datetime) -> dict[str, Any]:
    """How fast a 叫应's people answer: the first answer, the median seconds from the start to
    each answer (yes or no), and who is still silent since when (names, no numbers)."""
    rows = recipient_rows(db, mobilization_id)
    answered = sorted(
        from_iso(r["answered_at"]) for r in rows if r["answered_at"] and r["state"] in ANSWERED
    )
    waits = [max(0.0, (at - started).total_seconds()) for at in answered]
    silent = sorted(
        (r for r in rows if r["state"] in SILENT and r["first_sent_at"]),
        key=lambda r: (r["first_sent_at"], r["id"]),
    )
    return {
        "first_at": to_iso(answered[0]) if answered else None,
        "median_s": round(median(waits), 1) if waits else None,
        "silent": [
            {"name": r["name"], "since": r["first_sent_at"]} for r in silent[:CALL_SILENT_LIMIT]
        ],
        "silent_more": max(0, len(silent) - CALL_SILENT_LIMIT),
    }


def mobilization_payload(db: Database, mobilization_id: int, *, final: bool) -> dict[str, Any]:
    mob = get_mobilization(db, mobilization_id)
    counts = totals(db, mobilization_id)
    answered = counts.yes + counts.no
    payload = {
        "mobilization": mob.id,
        "case": mob.incident_number,
        "state": mob.state.value,
        "exercise": mob.exercise,
        "mode": mob.mode.value,
        "targets": list(mob.targets),
        "need": mob.need,
        "created_at": to_iso(mob.created_at),
        "finished_at": to_iso(mob.finished_at) if mob.finished_at else None,
        "counts": counts.to_json(),
        "answered_pct": round(100.0 * answered / counts.total, 1) if counts.total else 0.0,
        "final": final,
    }
    identifier = _call_alert(db, mob.id)
    if identifier is not None:
        payload["alert"] = identifier
        payload["answers"] = call_answers_payload(db, mob.id, mob.created_at)
    return payload


def alert_payload(db: Database, identifier: str) -> dict[str, Any] | None:
    """The receipt of a warning as it goes up (``alert_received``), with the 叫应 decision as
    it stands; None when the message is no longer held here."""
    record = alerts.find_alert(db, identifier)
    if record is None:
        return None
    row = db.conn.execute(
        "SELECT c.mobilization_id, c.started_at, c.auto FROM call_answers AS c"
        " JOIN alerts AS a ON a.id = c.alert_id WHERE a.thread = ?"
        " ORDER BY c.started_at, c.mobilization_id LIMIT 1",
        (record.thread,),
    ).fetchone()
    call: dict[str, Any] = {
        "state": record.call_state,
        "reason": record.call_reason,
        "at": to_iso(record.call_at) if record.call_at else None,
        "mobilization": None,
        "started_at": None,
        "auto": None,
    }
    if row is not None:
        call.update(mobilization=int(row[0]), started_at=row[1], auto=bool(row[2]))
        if call["state"] is None:
            call["state"] = "started"
    return {
        "alert": record.identifier,
        "thread": record.thread,
        "msg_type": record.msg_type.value,
        "status": record.status.value,
        "exercise": record.exercise,
        "sender": record.sender,
        "sent": to_iso(record.sent),
        "event": record.event,
        "colour": record.colour.value if record.colour else None,
        "severity": record.severity.value,
        "headline": record.headline,
        "area_codes": list(record.area_codes),
        "expires": to_iso(record.expires) if record.expires else None,
        "references": list(record.references),
        "received_at": to_iso(record.received_at),
        "via": record.via,
        "call": call,
    }


def directive_payload(db: Database, directive_id: str) -> dict[str, Any] | None:
    """A directive's receipt as it goes up, with its reply once there is one; None when the
    directive is no longer held here."""
    try:
        found = directives.get_directive(db, directive_id)
    except NotFound:
        return None
    return {
        "directive": found.id,
        "title": found.title,
        "sender": found.sender,
        "received_at": to_iso(found.received_at),
        "via": found.via,
        "reply_by": to_iso(found.reply_by) if found.reply_by else None,
        "action": found.action.value,
        "case": found.case_number,
        "task": found.task_id,
        "exercise": found.exercise,
    }


class _Writer:
    """Appends events to the outbox inside one transaction, numbering each subject."""

    def __init__(self, db: Database, unit: str) -> None:
        self.db = db
        self.unit = unit
        self.written = 0
        self._seqs: dict[str, int] = {}

    def next_seq(self, subject: str) -> int:
        seq = self._seqs.get(subject)
        if seq is None:
            row = self.db.conn.execute(
                "SELECT seq FROM uplink_subjects WHERE subject = ?", (subject,)
            ).fetchone()
            seq = int(row[0]) if row else 0
        seq += 1
        self._seqs[subject] = seq
        return seq

    def add(self, subject: str, kind: Kind, at: str, payload: dict[str, Any]) -> str:
        """Append one event; returns its id."""
        seq = self.next_seq(subject)
        event_id = _new_id()
        self.db.conn.execute(
            "INSERT INTO uplink_outbox (event_id, subject, seq, kind, at, payload)"
            " VALUES (?,?,?,?,?,?)",
            (event_id, subject, seq, kind.value, at, compact_json(payload)),
        )
        self.written += 1
        return event_id

    def close(self) -> None:
        self.db.conn.executemany(
            "INSERT INTO uplink_subjects (subject, seq) VALUES (?, ?)"
            " ON CONFLICT(subject) DO UPDATE SET seq = excluded.seq",
            list(self._seqs.items()),
        )


def _cursor(db: Database) -> tuple[int, int]:
    row = db.conn.execute(
        "SELECT event_id, checkpoint_id FROM uplink_cursor WHERE id = 1"
    ).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def _move_cursor(db: Database, event_id: int, checkpoint_id: int) -> None:
    db.conn.execute(
        "INSERT INTO uplink_cursor (id, event_id, checkpoint_id) VALUES (1, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET event_id = excluded.event_id,"
        " checkpoint_id = excluded.checkpoint_id",
        (event_id, checkpoint_id),
    )


def _mark_mobilization(db: Database, mobilization_id: int) -> None:
    db.conn.execute(
        "INSERT INTO uplink_mobilizations (mobilization_id, dirty) VALUES (?, 1)"
        " ON CONFLICT(mobilization_id) DO UPDATE SET dirty = 1",
        (mobilization_id,),
    )


def _project_entry(
    db: Database, out: _Writer, entry: StoredEvent, options: Projection, now: datetime
) -> None:
    if entry.incident_id is not None and (entry.kind in CASE_KINDS or entry.stage_to):
        try:
            incident = get_incident(db, entry.incident_id)
        except NotFound:
            return
        kind = CASE_KINDS.get(entry.kind, Kind.CASE_STAGE)
        if entry.stage_to and kind is not Kind.CASE_MERGED:
            kind = Kind.CASE_STAGE if entry.kind != "reported" else Kind.CASE_REPORTED
        case = _case_of(db, incident, now, options)
        out.add(
            case_subject(incident.number), kind, entry.at, {"change": _change(entry), "case": case}
        )
        return
    if entry.incident_id is not None and entry.kind in REPORT_KINDS:
        try:
            incident = get_incident(db, entry.incident_id)
        except NotFound:
            return
        report = report_payload(entry)
        event_id = out.add(
            case_subject(incident.number),
            Kind.REPORT,
            entry.at,
            {"report": report, "case": _case_of(db, incident, now, options)},
        )
        if isinstance(report.get("id"), int):
            db.conn.execute(
                "UPDATE sitreps SET event_id = ? WHERE id = ?", (event_id, report["id"])
            )
        return
    mob_id = entry.data.get("mobilization")
    if entry.kind == "mobilization_started" and isinstance(mob_id, int):
        payload = mobilization_payload(db, mob_id, final=False)
        payload["message"] = get_mobilization(db, mob_id).message
        out.add(mobilization_subject(mob_id), Kind.MOBILIZATION_STARTED, entry.at, payload)
        db.conn.execute(
            "INSERT OR IGNORE INTO uplink_mobilizations (mobilization_id, summarized_at)"
            " VALUES (?, ?)",
            (mob_id, entry.at),
        )
    elif entry.kind in MOBILIZATION_ANSWERS and isinstance(mob_id, int):
        _mark_mobilization(db, mob_id)
    elif entry.kind in MOBILIZATION_ENDS and isinstance(mob_id, int):
        out.add(
            mobilization_subject(mob_id),
            Kind.MOBILIZATION_SUMMARY,
            entry.at,
            mobilization_payload(db, mob_id, final=True),
        )
        db.conn.execute(
            "INSERT INTO uplink_mobilizations (mobilization_id, dirty, summarized_at, final)"
            " VALUES (?, 0, ?, 1) ON CONFLICT(mobilization_id) DO UPDATE SET dirty = 0,"
            " summarized_at = excluded.summarized_at, final = 1",
            (mob_id, entry.at),
        )
    elif entry.kind == "alert_received" and isinstance(entry.data.get("identifier"), str):
        identifier = entry.data["identifier"]
        # An identifier the protocol cannot carry as a subject (CAP allows a '/', or 200
        # characters) would make the hub refuse the whole batch: its receipt stays local.
        receipt = alert_payload(db, identifier)
        if receipt is not None and SUBJECT_PATTERN.fullmatch(alert_subject(identifier)):
            out.add(alert_subject(identifier), Kind.ALERT_RECEIVED, entry.at, receipt)
    elif entry.kind in DIRECTIVE_KINDS and isinstance(entry.data.get("id"), str):
        directive_id = entry.data["id"]
        sent = directive_payload(db, directive_id)
        if sent is None:
            return
        if entry.kind == "directive_replied":
            sent = {
                "directive": directive_id,
                "reply": entry.data.get("reply"),
                "replied_by": entry.operator,
                "replied_at": entry.at,
                "reply_by": sent["reply_by"],
                "late": bool(entry.data.get("late")),
            }
        out.add(directive_subject(directive_id), DIRECTIVE_KINDS[entry.kind], entry.at, sent)
    elif entry.kind in HANDOVER_KINDS:
        payload = {"kind": entry.kind, "operator": entry.operator}
        for name in (
            "to",
            "open",
            "overdue",
            "supervised",
            "parked",
            "pending_extensions",
            "from",
            "handed_over_at",
        ):
            if name in entry.data:
                payload[name] = entry.data[name]
        out.add(UNIT_SUBJECT, Kind.HANDOVER, entry.at, payload)


def _summaries(db: Database, out: _Writer, options: Projection, now: datetime) -> None:
    """A summary for each mobilization answered since its last one, at most every so often."""
    before = to_iso(now - options.summary_every)
    rows = db.conn.execute(
        "SELECT mobilization_id, final FROM uplink_mobilizations WHERE dirty = 1"
        " AND (summarized_at IS NULL OR summarized_at <= ?) ORDER BY mobilization_id",
        (before,),
    ).fetchall()
    at = to_iso(now)
    for mob_id, final in rows:
        try:
            payload = mobilization_payload(db, int(mob_id), final=bool(final))
        except NotFound:
            payload = None
        if payload is not None:
            out.add(mobilization_subject(int(mob_id)), Kind.MOBILIZATION_SUMMARY, at, payload)
        db.conn.execute(
            "UPDATE uplink_mobilizations SET dirty = 0, summarized_at = ?"
            " WHERE mobilization_id = ?",
            (at, mob_id),
        )


def project(db: Database, options: Projection, now: datetime, *, batch: int = PROJECT_BATCH) -> int:
    """Project the timeline entries after the cursor (at most ``batch``) into the outbox.

    One transaction: the events written, the cursor moved, the mobilizations marked. Also
    sends the summaries that fell due and the newest signed checkpoint, if a new one exists.

    Returns:
        The number of timeline entries read (``batch`` means: call again, there is more).
    """
    with write(db):
        after, checkpoint_id = _cursor(db)
        entries = events_after(db, after, batch)
        out = _Writer(db, options.unit)
        for entry in entries:
            _project_entry(db, out, entry, options, now)
        last = entries[-1].id if entries else after
        newest = latest_checkpoint_row(db)
        if newest is not None and newest[0] > checkpoint_id:
            checkpoint_id, point = newest
            out.add(UNIT_SUBJECT, Kind.AUDIT_HEAD, point.at, point.to_json())
        _summaries(db, out, options, now)
        out.close()
        if entries or newest is not None:
            _move_cursor(db, last, checkpoint_id)
    return len(entries)


def project_all(db: Database, options: Projection, now: datetime) -> int:
    """Project every entry after the cursor, a batch a transaction; returns how many were read
    (what the demo and the benchmark use to catch a whole history up at once)."""
    total = 0
    while (read := project(db, options, now)) > 0:
        total += read
    return total


def enqueue(db: Database, events: Iterable[tuple[str, Kind, str, dict[str, Any]]]) -> int:
    """Append events built elsewhere (a hub's roll-ups, a resync) to the outbox; call inside a
    write transaction. Returns how many."""
    out = _Writer(db, "")
    for subject, kind, at, payload in events:
        out.add(subject, kind, at, payload)
    out.close()
    return out.written


# --- reading the outbox -----------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEvent:
    """One row of the outbox as the drain and the operator see it.

    The payload stays the JSON text it was stored as until someone reads :attr:`event`: the
    drain puts that text into the request as it is (:func:`uplink.models.encode_batch`), so
    a batch is never parsed and serialised again on its way out.
    """

    row: int
    id: str
    unit: str
    subject: str
    seq: int
    kind: Kind
    at: str
    payload_json: str
    state: OutboxState
    tries: int
    error: str | None

    @cached_property
    def event(self) -> UplinkEvent:
        return UplinkEvent(
            self.id,
            self.unit,
            self.subject,
            self.seq,
            self.kind,
            self.at,
            json.loads(self.payload_json),
        )


def _row_event(row: Sequence[Any], unit: str) -> OutboxEvent:
    rid, event_id, subject, seq, kind, at, payload, state, tries, error = row
    return OutboxEvent(
        int(rid),
        event_id,
        unit,
        subject,
        int(seq),
        Kind(kind),
        at,
        payload,
        OutboxState(state),
        int(tries),
        error,
    )


_OUT_COLUMNS = "id, event_id, subject, seq, kind, at, payload, state, tries, error"


def sendable(db: Database, unit: str, limit: int) -> list[OutboxEvent]:
    """The next unsent events in order, skipping the subjects a dead letter blocks."""
    # Through the unsent index (SQLite does not infer "state != 'sent'" from "state =
    # 'pending'"), and a subject's dead letters through its (subject, seq) index: without
    # both, each call read the whole table twice, and draining 100,000 events took 76 s of it.
    rows = db.conn.execute(
        f"SELECT {_OUT_COLUMNS} FROM uplink_outbox AS o INDEXED BY uplink_outbox_unsent"
        " WHERE o.state != 'sent' AND o.state = 'pending' AND NOT EXISTS (SELECT 1"
        " FROM uplink_outbox AS d WHERE d.subject = o.subject AND d.state = 'dead')"
        " ORDER BY o.id LIMIT ?",
        (limit,),
    ).fetchall()
    return [_row_event(r, unit) for r in rows]


def sendable_after(db: Database, unit: str, after_row: int, limit: int) -> list[OutboxEvent]:
    """Like :func:`sendable`, for the rows after ``after_row`` (the drain's read-ahead)."""
    rows = db.conn.execute(
        f"SELECT {_OUT_COLUMNS} FROM uplink_outbox AS o INDEXED BY uplink_outbox_unsent"
        " WHERE o.state != 'sent' AND o.state = 'pending' AND o.id > ? AND NOT EXISTS"
        " (SELECT 1 FROM uplink_outbox AS d WHERE d.subject = o.subject AND d.state = 'dead')"
        " ORDER BY o.id LIMIT ?",
        (after_row, limit),
    ).fetchall()
    return [_row_event(r, unit) for r in rows]


def dead_letters(db: Database, unit: str) -> list[OutboxEvent]:
    rows = db.conn.execute(
        f"SELECT {_OUT_COLUMNS} FROM uplink_outbox WHERE state = 'dead' ORDER BY id"
    ).fetchall()
    return [_row_event(r, unit) for r in rows]


def mark_sent(db: Database, rows: Sequence[tuple[int, str]], now: datetime) -> None:
    """Record the hub's ``done`` answers: ``(row, result)`` pairs; call inside ``write``."""
    at = to_iso(now)
    db.conn.executemany(
        "UPDATE uplink_outbox SET state = 'sent', sent_at = ?, result = ?, error = NULL,"
        " tries = tries + 1 WHERE id = ?",
        [(at, result, row) for row, result in rows],
    )


def mark_dead(db: Database, row: int, reason: str) -> None:
    """A refused event becomes a dead letter; call inside ``write``."""
    db.conn.execute(
        "UPDATE uplink_outbox SET state = 'dead', result = 'rejected', error = ?,"
        " tries = tries + 1 WHERE id = ?",
        (reason, row),
    )


def receipts(db: Database, event_ids: Iterable[str]) -> dict[str, datetime]:
    """When the hub took each of these events (event id -> time), for those it has taken.

    The receipt (签收) of an information report: its ``report`` event acknowledged by the hub
    (accepted, or a duplicate or held event the hub already stores), at the time the answer
    arrived (an event a resync found at the hub: its own time). An event still pending, or a
    dead letter, has no receipt (it is left out).
    """
    ids = list(dict.fromkeys(event_ids))
    found: dict[str, datetime] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.conn.execute(
            "SELECT event_id, coalesce(sent_at, at) FROM uplink_outbox WHERE state = 'sent'"
            f" AND event_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.update((event_id, from_iso(at)) for event_id, at in rows)
    return found


def predecessor_sent(db: Database, subject: str, seq: int) -> bool:
    """Whether the event before ``seq`` in ``subject`` was acknowledged by the hub."""
    row = db.conn.execute(
        "SELECT state FROM uplink_outbox WHERE subject = ? AND seq = ?", (subject, seq - 1)
    ).fetchone()
    return row is not None and row[0] == "sent"


def requeue(db: Database, rows: Sequence[int] | None = None) -> int:
    """Put dead letters back in the queue (all of them, or the given rows); returns how many."""
    with write(db):
        if rows is None:
            cur = db.conn.execute(
                "UPDATE uplink_outbox SET state = 'pending', error = NULL WHERE state = 'dead'"
            )
        else:
            cur = db.conn.executemany(
                "UPDATE uplink_outbox SET state = 'pending', error = NULL"
                " WHERE state = 'dead' AND id = ?",
                [(r,) for r in rows],
            )
        return int(cur.rowcount)


def backlog(db: Database) -> tuple[int, str | None, int]:
    """``(pending, at of the oldest pending, dead letters)`` in one read of the unsent index."""
    pending, oldest, dead = db.conn.execute(
        "SELECT sum(state = 'pending'), min(CASE WHEN state = 'pending' THEN at END),"
        " sum(state = 'dead') FROM uplink_outbox INDEXED BY uplink_outbox_unsent"
        " WHERE state != 'sent'"
    ).fetchone()
    return int(pending or 0), oldest, int(dead or 0)


def oldest_pending(db: Database) -> datetime | None:
    _pending, oldest, _dead = backlog(db)
    return from_iso(oldest) if oldest else None


# --- resynchronisation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciled:
    """What :func:`reconcile` found: subjects requeued for the hub, and those needing a rebase."""

    requeued: int  # events sent before that the hub no longer has: pending again
    diverged: list[tuple[str, int]]  # (subject, hub's seq): the hub holds a history we lack


def local_subjects(db: Database) -> dict[str, int]:
    """Every subject this unit has numbered, with the last seq used."""
    return {s: int(q) for s, q in db.conn.execute("SELECT subject, seq FROM uplink_subjects")}


def reconcile(db: Database, hub: dict[str, tuple[int, str]]) -> Reconciled:
    """Compare the outbox with the hub's state (subject -> (applied seq, its event id)).

    A subject the hub is behind on (it lost data, or never got it), whose history agrees up to
    the hub's seq, has its later events set pending again: they go with their ids, in order.
    A subject where the hub is ahead, or holds another event at its seq (this unit was
    restored from an older backup), is returned in ``diverged`` for :func:`rebase`, which
    needs the hub's event ids of that subject. Call inside ``write``.
    """
    requeued = 0
    diverged: list[tuple[str, int]] = []
    mine = local_subjects(db)
    for subject, last in mine.items():
        hub_seq, hub_id = hub.get(subject, (0, ""))
        if hub_seq > last:
            diverged.append((subject, hub_seq))
            continue
        if hub_seq > 0:
            row = db.conn.execute(
                "SELECT event_id FROM uplink_outbox WHERE subject = ? AND seq = ?",
                (subject, hub_seq),
            ).fetchone()
            if row is None or row[0] != hub_id:
                if not _rebase_waiting(db, subject, hub_seq):
                    diverged.append((subject, hub_seq))
                continue
        if hub_seq < last:
            cur = db.conn.execute(
                "UPDATE uplink_outbox SET state = 'pending', sent_at = NULL, result = NULL"
                " WHERE subject = ? AND seq > ? AND state = 'sent'",
                (subject, hub_seq),
            )
            requeued += int(cur.rowcount)
    for subject, (hub_seq, _hub_id) in hub.items():
        if subject not in mine and hub_seq > 0:
            diverged.append((subject, hub_seq))
    return Reconciled(requeued, sorted(diverged))


def _rebase_waiting(db: Database, subject: str, hub_seq: int) -> bool:
    """An earlier :func:`rebase` on this very hub state has not gone out yet: its ``resync``
    waits at ``hub_seq + 1`` (rebasing again would stack a second resync on it)."""
    return (
        db.conn.execute(
            "SELECT 1 FROM uplink_outbox WHERE subject = ? AND seq = ? AND kind = 'resync'"
            " AND state = 'pending'",
            (subject, hub_seq + 1),
        ).fetchone()
        is not None
    )


def _current_state(db: Database, subject: str, now: datetime, options: Projection) -> Any:
    """What a ``resync`` event says the subject is now: the case, the mobilization, or None."""
    kind, _sep, ref = subject.partition(":")
    gone: dict[str, Any] = {"case": None} if kind == "case" else {}
    try:
        if kind == "case":
            incident = get_incident(db, ref)
            if incident.merged_into is not None:
                get_incident(db, incident.merged_into)  # its target gone: this one is too
            return {"case": _case_of(db, incident, now, options)}
        if kind == "mobilization" and ref.isdigit():
            return {"mobilization": mobilization_payload(db, int(ref), final=False)}
        if kind == "alert":
            alert = alert_payload(db, ref)
            return {"alert": alert} if alert is not None else gone
        if kind == "directive":
            directive = directive_payload(db, ref)
            if directive is None:
                return gone
            found = directives.get_directive(db, ref)
            directive["reply"] = found.reply
            directive["replied_by"] = found.replied_by
            directive["replied_at"] = to_iso(found.replied_at) if found.replied_at else None
            return {"directive": directive}
    except (NotFound, ValueError):
        return gone  # the unit no longer has it (restored from an older backup)
    return gone


def rebase(
    db: Database,
    subject: str,
    hub_seq: int,
    hub_ids: set[str],
    now: datetime,
    options: Projection,
) -> int:
    """Put this unit's history of ``subject`` after the hub's, without a gap or a duplicate.

    The hub holds ``hub_seq`` events of the subject (ids ``hub_ids``); this unit lacks some of
    them (restored from an older backup). Events the hub has are marked sent. ``known`` is the
    last seq up to which both histories agree. A ``resync`` event at ``hub_seq + 1`` tells the
    hub to set aside (supersede, not delete) what it holds after ``known`` and take the
    subject's current state; this unit's events the hub lacks follow it, renumbered in their
    order. Call inside ``write``. Returns how many events were renumbered.
    """
    rows = db.conn.execute(
        "SELECT id, event_id, seq, state FROM uplink_outbox WHERE subject = ? ORDER BY seq",
        (subject,),
    ).fetchall()
    known = 0
    for _row, event_id, seq, _state in rows:
        if event_id not in hub_ids:
            break
        known = int(seq)
    theirs = [int(r[0]) for r in rows if r[1] in hub_ids and r[3] != "sent"]
    db.conn.executemany(
        "UPDATE uplink_outbox SET state = 'sent', result = 'duplicate' WHERE id = ?",
        [(r,) for r in theirs],
    )
    missing = [int(r[0]) for r in rows if r[1] not in hub_ids]
    # Renumber through negative values: (subject, seq) is unique at every step.
    db.conn.executemany("UPDATE uplink_outbox SET seq = -seq WHERE id = ?", [(r,) for r in missing])
    payload = {"known": known, **_current_state(db, subject, now, options)}
    db.conn.execute(
        "INSERT INTO uplink_subjects (subject, seq) VALUES (?, ?)"
        " ON CONFLICT(subject) DO UPDATE SET seq = excluded.seq",
        (subject, hub_seq),
    )
    enqueue(db, [(subject, Kind.RESYNC, to_iso(now), payload)])
    # The resync must reach the hub before the renumbered events: they move to later rows.
    for seq, row in enumerate(missing, start=hub_seq + 2):
        old = db.conn.execute(
            "SELECT event_id, kind, at, payload, state, tries, error FROM uplink_outbox"
            " WHERE id = ?",
            (row,),
        ).fetchone()
        db.conn.execute("DELETE FROM uplink_outbox WHERE id = ?", (row,))
        event_id, kind, at, payload_json, state, tries, error = old
        db.conn.execute(
            "INSERT INTO uplink_outbox (event_id, subject, seq, kind, at, payload, state,"
            " tries, error) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                event_id,
                subject,
                seq,
                kind,
                at,
                payload_json,
                "dead" if state == "dead" else "pending",
                tries,
                error,
            ),
        )
    db.conn.execute(
        "UPDATE uplink_subjects SET seq = ? WHERE subject = ?",
        (hub_seq + 1 + len(missing), subject),
    )
    return len(missing)
