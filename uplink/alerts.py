"""Provides the warnings (CAP 1.2 alerts) a unit issues or receives from above, and their lists.

Each row of ``alerts`` is one CAP message, issued here (:func:`issue`, :func:`update`,
:func:`cancel`) or received from the level above (:func:`receive`: pushed, pulled, or imported
from a file with :func:`import_file`). The XML is kept exactly as it was validated
(:mod:`uplink.cap` is the one reader and writer of CAP: nothing here builds or reads XML), with
the fields lists need beside it. Messages of one warning form a **thread**: an Update or a
Cancel references the messages before it (CAP ``references``); the thread is named by the
identifier of its first message. An Update supersedes what it references; a Cancel closes the
whole thread. So the warning in force is the thread's newest Alert/Update message, neither
superseded nor cancelled nor expired (:func:`active_alerts`).

Every change is one transaction with its timeline entry (``alert_issued``, ``alert_updated``,
``alert_cancelled``, ``alert_received``); ``alert_received`` goes up as the receipt (签收,
:mod:`uplink.outbox`). Receiving is idempotent on the identifier: the same message pushed and
then pulled is stored once and :class:`Received` says it was not new. Receiving never starts the
叫应 itself: the caller (the engine's pull, ``alert import``) hands a new record to
:func:`uplink.callanswer.maybe_start` in the same transaction; this module only keeps the
decision it records (:func:`set_call`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import N_, _
from store.text import clean_text
from uplink import cap

SYSTEM = "uplink"  # the operator of the entries written on receipt
VIAS = ("push", "poll", "import")
MAX_LIMIT = 10_000
MAX_AREA_CODES = 500
TAKEN = (cap.MsgType.ALERT, cap.MsgType.UPDATE, cap.MsgType.CANCEL)  # what a unit receives

Polygon = tuple[tuple[float, float], ...]


class Origin(StrEnum):
    """Where a message comes from."""

    ISSUED = "issued"  # written here
    RECEIVED = "received"  # from the level above (or a file)

    @property
    def label(self) -> str:
        return _(_ORIGIN_LABELS[self])


_ORIGIN_LABELS = {Origin.ISSUED: N_("issued here"), Origin.RECEIVED: N_("from above")}


class AlertState(StrEnum):
    """Where a message stands (:meth:`AlertRecord.state`)."""

    ACTIVE = "active"  # in force
    EXPIRED = "expired"  # past its expiry
    SUPERSEDED = "superseded"  # an Update replaced it
    CANCELLED = "cancelled"  # its warning was cancelled (and a Cancel message itself)

    @property
    def label(self) -> str:
        return _(_STATE_LABELS[self])


_STATE_LABELS = {
    AlertState.ACTIVE: N_("in force"),
    AlertState.EXPIRED: N_("expired"),
    AlertState.SUPERSEDED: N_("superseded"),
    AlertState.CANCELLED: N_("cancelled"),
}


@dataclass(frozen=True)
class AlertSpec:
    """What an officer gives to issue (or update) a warning; see :func:`issue`.

    ``severity``, ``urgency``, ``certainty`` and ``category`` take the CAP words (an enum of
    :mod:`uplink.cap` or its value; ``severity`` also a colour word: 红色, orange...).
    ``polygons`` are closed rings of (lat, lon). ``exercise`` makes it a drill (status
    ``Exercise``): it moves nobody for real.
    """

    event: str
    severity: cap.Severity | str
    urgency: cap.Urgency | str
    certainty: cap.Certainty | str
    headline: str
    description: str = ""
    instruction: str = ""
    area_desc: str = ""
    area_codes: tuple[str, ...] = ()
    polygons: tuple[Polygon, ...] = ()
    expires: datetime | None = None
    effective: datetime | None = None
    onset: datetime | None = None
    category: cap.Category | str = cap.Category.MET
    exercise: bool = False
    sender_name: str = ""
    web: str = ""
    contact: str = ""


@dataclass(frozen=True)
class AlertRecord:
    """One CAP message as stored (``alerts``); times are aware UTC datetimes."""

    id: int
    identifier: str
    sender: str
    sent: datetime
    status: cap.Status
    msg_type: cap.MsgType
    scope: cap.Scope
    refs: str
    thread: str
    event: str
    category: str
    colour: cap.Colour | None
    severity: cap.Severity
    urgency: cap.Urgency
    certainty: cap.Certainty
    headline: str
    description: str
    instruction: str
    area_desc: str
    area_codes: tuple[str, ...]
    polygons: tuple[Polygon, ...]
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    xml: bytes = field(repr=False)
    origin: Origin
    via: str | None
    issued_by: str | None
    received_at: datetime
    cancelled_at: datetime | None
    superseded_by: str | None
    call_state: str | None
    call_reason: str | None
    call_at: datetime | None

    @property
    def exercise(self) -> bool:
        """A drill (or test) message: it must move nobody for real."""
        return self.status is not cap.Status.ACTUAL

    @cached_property
    def references(self) -> tuple[str, ...]:
        """The identifiers this message references, oldest first."""
        if not self.refs:
            return ()
        return tuple(r.identifier for r in cap.parse_references(self.refs))

    @cached_property
    def alert(self) -> cap.Alert:
        """The CAP message itself, parsed again from the stored XML."""
        return cap.parse(self.xml)

    def state(self, now: datetime) -> AlertState:
        if self.cancelled_at is not None or self.msg_type is cap.MsgType.CANCEL:
            return AlertState.CANCELLED
        if self.superseded_by is not None:
            return AlertState.SUPERSEDED
        if self.expires is not None and now >= self.expires:
            return AlertState.EXPIRED
        return AlertState.ACTIVE

    def is_active(self, now: datetime) -> bool:
        return self.state(now) is AlertState.ACTIVE

    @property
    def title(self) -> str:
        """How lists name it: the headline, else colour + event (``橙色 暴雨``)."""
        if self.headline:
            return self.headline
        return " ".join(p for p in (self.colour.label if self.colour else "", self.event) if p)

    def to_json(self, now: datetime, *, xml: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "identifier": self.identifier,
            "sender": self.sender,
            "sent": to_iso(self.sent),
            "status": self.status.value,
            "msg_type": self.msg_type.value,
            "scope": self.scope.value,
            "references": list(self.references),
            "thread": self.thread,
            "event": self.event,
            "category": self.category,
            "colour": self.colour.value if self.colour else None,
            "severity": self.severity.value,
            "urgency": self.urgency.value,
            "certainty": self.certainty.value,
            "headline": self.headline,
            "description": self.description,
            "instruction": self.instruction,
            "area_desc": self.area_desc,
            "area_codes": list(self.area_codes),
            "polygons": [[list(p) for p in poly] for poly in self.polygons],
            "effective": _iso(self.effective),
            "onset": _iso(self.onset),
            "expires": _iso(self.expires),
            "exercise": self.exercise,
            "origin": self.origin.value,
            "via": self.via,
            "issued_by": self.issued_by,
            "received_at": to_iso(self.received_at),
            "cancelled_at": _iso(self.cancelled_at),
            "superseded_by": self.superseded_by,
            "state": self.state(now).value,
            "call": {
                "state": self.call_state,
                "reason": self.call_reason,
                "at": _iso(self.call_at),
            },
        }
        if xml:
            data["xml"] = self.xml.decode("utf-8")
        return data


@dataclass(frozen=True)
class Received:
    """What :func:`receive` did: the message, and whether it is new here (first delivery)."""

    record: AlertRecord
    new: bool


def _iso(value: datetime | None) -> str | None:
    return to_iso(value) if value is not None else None


def _opt(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


_COLUMNS = (
    "id, identifier, sender, sent, status, msg_type, scope, refs, thread, event, category,"
    " colour, severity, urgency, certainty, headline, description, instruction, area_desc,"
    " area_codes, polygons, effective, onset, expires, xml, origin, via, issued_by,"
    " received_at, cancelled_at, superseded_by, call_state, call_reason, call_at"
)


def _row(row: Sequence[Any]) -> AlertRecord:
    (
        rid,
        identifier,
        sender,
        sent,
        status,
        msg_type,
        scope,
        refs,
        thread,
        event,
        category,
        colour,
        severity,
        urgency,
        certainty,
        headline,
        description,
        instruction,
        area_desc,
        area_codes,
        polygons,
        effective,
        onset,
        expires,
        xml,
        origin,
        via,
        issued_by,
        received_at,
        cancelled_at,
        superseded_by,
        call_state,
        call_reason,
        call_at,
    ) = row
    return AlertRecord(
        id=int(rid),
        identifier=identifier,
        sender=sender,
        sent=from_iso(sent),
        status=cap.Status(status),
        msg_type=cap.MsgType(msg_type),
        scope=cap.Scope(scope),
        refs=refs,
        thread=thread,
        event=event,
        category=category,
        colour=cap.Colour(colour) if colour else None,
        severity=cap.Severity(severity),
        urgency=cap.Urgency(urgency),
        certainty=cap.Certainty(certainty),
        headline=headline,
        description=description,
        instruction=instruction,
        area_desc=area_desc,
        area_codes=tuple(json.loads(area_codes)),
        polygons=tuple(
            tuple((float(lat), float(lon)) for lat, lon in poly) for poly in json.loads(polygons)
        ),
        effective=_opt(effective),
        onset=_opt(onset),
        expires=_opt(expires),
        xml=bytes(xml),
        origin=Origin(origin),
        via=via,
        issued_by=issued_by,
        received_at=from_iso(received_at),
        cancelled_at=_opt(cancelled_at),
        superseded_by=superseded_by,
        call_state=call_state,
        call_reason=call_reason,
        call_at=_opt(call_at),
    )


# --- reading --------------------------------------------------------------------------------------


def find_alert(db: Database, ref: str | int) -> AlertRecord | None:
    """A message by identifier, or by row id (an int, or digits no identifier has)."""
    if isinstance(ref, str):
        row = db.conn.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE identifier = ?", (ref,)
        ).fetchone()
        if row is not None:
            return _row(row)
        if not ref.strip().isdigit():
            return None
        ref = int(ref.strip())
    if not 0 < ref < 2**63:
        return None
    row = db.conn.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = ?", (ref,)).fetchone()
    return _row(row) if row is not None else None


def get_alert(db: Database, ref: str | int) -> AlertRecord:
    """A message by identifier or row id.

    Raises:
        NotFound: naming the reference.
    """
    record = find_alert(db, ref)
    if record is None:
        raise NotFound(_("no alert {ref}").format(ref=ref))
    return record


def thread_of(db: Database, thread: str) -> list[AlertRecord]:
    """Every message of a thread (named by its first identifier), oldest first."""
    rows = db.conn.execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE thread = ? ORDER BY id", (thread,)
    ).fetchall()
    return [_row(r) for r in rows]


def latest(db: Database, thread: str) -> AlertRecord | None:
    """The newest message of a thread (what is in force, unless closed or expired)."""
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM alerts INDEXED BY alerts_thread WHERE thread = ?"
        " ORDER BY id DESC LIMIT 1",
        (thread,),
    ).fetchone()
    return _row(row) if row is not None else None


def list_alerts(
    db: Database,
    *,
    active_only: bool = False,
    now: datetime | None = None,
    origin: Origin | None = None,
    limit: int = 200,
) -> list[AlertRecord]:
    """Messages newest first (by the time they were stored here).

    ``active_only``: only the warnings in force at ``now`` (required then), as
    :func:`active_alerts`.
    """
    if not 0 < limit <= MAX_LIMIT:
        raise InvalidInput(_("must be from 1 to {max}").format(max=MAX_LIMIT), "limit")
    if active_only:
        if now is None:
            raise InvalidInput(_("a time is needed to know what is in force"), "now")
        found = active_alerts(db, now)
        if origin is not None:
            found = [r for r in found if r.origin is origin]
        return found[:limit]
    sql = f"SELECT {_COLUMNS} FROM alerts"
    args: list[Any] = []
    if origin is not None:
        sql += " WHERE origin = ?"
        args.append(origin.value)
    sql += " ORDER BY received_at DESC, id DESC LIMIT ?"
    return [_row(r) for r in db.conn.execute(sql, (*args, limit))]


def active_alerts(db: Database, now: datetime) -> list[AlertRecord]:
    """The warnings in force at ``now``: Alert/Update messages neither superseded nor
    cancelled nor expired, most severe first, then newest."""
    rows = db.conn.execute(
        f"SELECT {_COLUMNS} FROM alerts INDEXED BY alerts_open"
        " WHERE cancelled_at IS NULL AND superseded_by IS NULL"
        " AND (expires IS NULL OR expires > ?) AND msg_type IN ('Alert', 'Update')",
        (to_iso(now),),
    ).fetchall()
    found = [_row(r) for r in rows]
    found.sort(key=lambda r: (-r.severity.rank, -r.received_at.timestamp(), -r.id))
    return found


# --- writing ----------------------------------------------------------------------------------


def set_call(db: Database, alert_id: int, state: str, reason: str | None, at: datetime) -> None:
    """Record the automatic 叫应 decision for a message (``started``, or ``skipped`` and why);
    for :mod:`uplink.callanswer`. Call inside ``write``."""
    if state not in ("started", "skipped"):
        raise InvalidInput(_("must be one of {names}").format(names="started, skipped"), "state")
    db.conn.execute(
        "UPDATE alerts SET call_state = ?, call_reason = ?, call_at = ? WHERE id = ?",
        (state, reason, to_iso(at), alert_id),
    )


def _store(
    db: Database,
    alert: cap.Alert,
    xml: bytes,
    *,
    thread: str,
    origin: Origin,
    via: str | None,
    issued_by: str | None,
    received_at: datetime,
    like: AlertRecord | None = None,
) -> AlertRecord:
    """Insert one message. A message without info (a bare Cancel) takes the list fields of the
    message it follows (``like``), so lists still say what was cancelled."""
    info = alert.info
    if info is not None:
        event, severity = info.event, alert.severity
        urgency, certainty = info.urgency.value, info.certainty.value
        category = info.categories[0].value if info.categories else cap.Category.OTHER.value
        headline, description = info.headline or "", info.description or ""
        instruction = info.instruction or ""
        effective, onset, expires = info.effective, info.onset, alert.expires
    elif like is not None:
        event, severity = like.event, like.severity
        urgency, certainty = like.urgency.value, like.certainty.value
        category, headline = like.category, like.headline
        description, instruction = "", ""
        effective, onset, expires = None, None, like.expires
    else:
        event, severity = "", cap.Severity.UNKNOWN
        urgency, certainty = cap.Urgency.UNKNOWN.value, cap.Certainty.UNKNOWN.value
        category, headline, description, instruction = cap.Category.OTHER.value, "", "", ""
        effective, onset, expires = None, None, None
    colour = cap.Colour.from_severity(severity)
    area_desc = alert.area_description if info is not None else (like.area_desc if like else "")
    area_codes = (
        list(alert.area_codes) if info is not None else list(like.area_codes if like else ())
    )
    polygons = alert.polygons if info is not None else (like.polygons if like else ())
    cur = db.conn.execute(
        "INSERT INTO alerts (identifier, sender, sent, status, msg_type, scope, refs, thread,"
        " event, category, colour, severity, urgency, certainty, headline, description,"
        " instruction, area_desc, area_codes, polygons, effective, onset, expires, xml, origin,"
        " via, issued_by, received_at) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            alert.identifier,
            alert.sender,
            to_iso(alert.sent),
            alert.status.value,
            alert.msg_type.value,
            alert.scope.value,
            alert.references_text,
            thread,
            event,
            category,
            colour.value if colour else None,
            severity.value,
            urgency,
            certainty,
            headline,
            description,
            instruction,
            area_desc,
            json.dumps(area_codes, ensure_ascii=False, separators=(",", ":")),
            json.dumps([[list(p) for p in poly] for poly in polygons], separators=(",", ":")),
            _iso(effective),
            _iso(onset),
            _iso(expires),
            xml,
            origin.value,
            via,
            issued_by,
            to_iso(received_at),
        ),
    )
    return get_alert(db, int(cur.lastrowid or 0))


def _close(db: Database, record: AlertRecord, at: datetime) -> int:
    """What a new Update/Cancel does to the messages before it: an Update supersedes the ones
    it references; a Cancel closes its whole thread (and the ones it references). Returns how
    many messages it closed."""
    refs = [r for r in record.references if r != record.identifier]
    marks = ",".join("?" * len(refs)) or "NULL"
    if record.msg_type is cap.MsgType.UPDATE:
        cur = db.conn.execute(
            "UPDATE alerts SET superseded_by = ? WHERE superseded_by IS NULL"
            f" AND cancelled_at IS NULL AND id != ? AND identifier IN ({marks})",
            (record.identifier, record.id, *refs),
        )
        return int(cur.rowcount)
    if record.msg_type is cap.MsgType.CANCEL:
        cur = db.conn.execute(
            "UPDATE alerts SET cancelled_at = ? WHERE cancelled_at IS NULL"
            f" AND (thread = ? OR identifier IN ({marks}))",
            (to_iso(at), record.thread, *refs),
        )
        return int(cur.rowcount)
    return 0


def _closed_by_held(db: Database, record: AlertRecord, at: datetime) -> int:
    """A message that arrives after an Update or a Cancel that references it (deliveries out
    of order, or a pull after a push) is closed at once, as it would have been."""
    rows = db.conn.execute(
        "SELECT identifier, msg_type FROM alerts WHERE id != ? AND instr(refs, ?) > 0 ORDER BY id",
        (record.id, f",{record.identifier},"),
    ).fetchall()
    cancel = any(kind == cap.MsgType.CANCEL.value for _ident, kind in rows)
    update = next((ident for ident, kind in rows if kind == cap.MsgType.UPDATE.value), None)
    if cancel:
        db.conn.execute("UPDATE alerts SET cancelled_at = ? WHERE id = ?", (to_iso(at), record.id))
    elif update is not None:
        db.conn.execute("UPDATE alerts SET superseded_by = ? WHERE id = ?", (update, record.id))
    return int(cancel or update is not None)


def _thread_for(db: Database, alert: cap.Alert) -> tuple[str, AlertRecord | None]:
    """The thread of a new message and the newest message it follows that is held here."""
    if not alert.references:
        return alert.identifier, None
    known: AlertRecord | None = None
    for ref in reversed(alert.references):
        known = find_alert(db, ref.identifier)
        if known is not None:
            break
    if known is not None:
        return known.thread, known
    # None held here (missed, or never sent to us): the chain's first message names the thread.
    return alert.references[0].identifier, None


def _entry(record: AlertRecord, **extra: Any) -> dict[str, Any]:
    """The timeline data of a message: what the console's notices show without a lookup."""
    return {
        "identifier": record.identifier,
        "thread": record.thread,
        "msg_type": record.msg_type.value,
        "status": record.status.value,
        "event": record.event,
        "colour": record.colour.value if record.colour else None,
        "severity": record.severity.value,
        "headline": record.headline,
        "expires": _iso(record.expires),
        "references": list(record.references),
        **extra,
    }


def receive(db: Database, clock: Clock, xml: bytes | str, *, via: str) -> Received:
    """Take a CAP message from the level above (or a file): validate, store, record.

    Idempotent on the identifier: a message already held is returned with ``new=False`` and
    nothing changes. A new Update supersedes, a new Cancel cancels, the messages it references.
    One transaction (nested in the caller's, if any) with the ``alert_received`` entry.

    Raises:
        InvalidInput: the XML is not a valid CAP 1.2 message (the element's path named), or it
            is an Ack/Error; nothing is stored.
    """
    if via not in VIAS:
        raise InvalidInput(_("must be one of {names}").format(names=", ".join(VIAS)), "via")
    if isinstance(xml, str):
        xml = xml.encode("utf-8")  # the inbox carries the XML as JSON text
    alert = cap.parse(xml)
    if alert.msg_type not in TAKEN:
        raise InvalidInput(
            _("only Alert, Update and Cancel messages are taken, not {kind}").format(
                kind=alert.msg_type.value
            ),
            "/alert/msgType",
        )
    now = clock.now()
    with write(db):
        held = find_alert(db, alert.identifier)
        if held is not None:
            return Received(held, False)
        thread, like = _thread_for(db, alert)
        record = _store(
            db,
            alert,
            xml,
            thread=thread,
            origin=Origin.RECEIVED,
            via=via,
            issued_by=None,
            received_at=now,
            like=like,
        )
        closed = _close(db, record, now) + _closed_by_held(db, record, now)
        append_event(
            db,
            at=to_iso(now),
            operator=SYSTEM,
            kind="alert_received",
            data=_entry(record, via=via, closed=closed),
        )
        return Received(get_alert(db, record.id), True)


def import_file(db: Database, clock: Clock, path: Path | str) -> Received:
    """``alert import FILE.xml``: receive a CAP message from a file (``via="import"``).

    Raises:
        InvalidInput: the file cannot be read, is larger than CAP's limit, or is not a valid
            message (the field names the file, or the element's path).
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            xml = handle.read(cap.MAX_ALERT_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(exc.strerror or str(exc), str(file)) from None
    if len(xml) > cap.MAX_ALERT_BYTES:
        raise InvalidInput(
            _("larger than {size} bytes").format(size=cap.MAX_ALERT_BYTES), str(file)
        )
    return receive(db, clock, xml, via="import")


def _choice(enum: Any, value: Any, name: str) -> Any:
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip())
    except ValueError:
        for member in enum:
            if str(value).strip().lower() == member.value.lower():
                return member
        raise InvalidInput(
            _("must be one of {names}").format(names=", ".join(m.value for m in enum)), name
        ) from None


def _info(spec: AlertSpec, now: datetime) -> cap.Info:
    """The one info block of a message issued here, from the officer's spec (checked)."""
    if spec.expires is not None and spec.expires.tzinfo is not None and spec.expires <= now:
        raise InvalidInput(_("must be later than now"), "expires")
    severity = (
        spec.severity
        if isinstance(spec.severity, cap.Severity)
        else cap.parse_severity(spec.severity)
    )
    codes = tuple(clean_text(c, "area", kind="code", required=True) for c in spec.area_codes)
    if len(codes) > MAX_AREA_CODES:
        raise InvalidInput(_("at most {count} areas").format(count=MAX_AREA_CODES), "area")
    if not codes and not spec.polygons:
        raise InvalidInput(_("name at least one area code or polygon"), "area")
    event = clean_text(spec.event, "event", kind="short", required=True)
    area_desc = clean_text(spec.area_desc, "area_desc", kind="short") or ", ".join(codes) or event
    area = cap.Area(
        area_desc,
        polygons=tuple(spec.polygons),
        geocodes=tuple((cap.AREA_CODE_NAME, c) for c in dict.fromkeys(codes)),
    )
    return cap.Info(
        categories=(_choice(cap.Category, spec.category, "category"),),
        event=event,
        urgency=_choice(cap.Urgency, spec.urgency, "urgency"),
        severity=severity,
        certainty=_choice(cap.Certainty, spec.certainty, "certainty"),
        language=cap.DEFAULT_LANGUAGE,
        effective=spec.effective,
        onset=spec.onset,
        expires=spec.expires,
        sender_name=clean_text(spec.sender_name, "sender_name", kind="name") or None,
        headline=clean_text(spec.headline, "headline", kind="title", required=True),
        description=clean_text(spec.description, "description", kind="note", multiline=True)
        or None,
        instruction=clean_text(spec.instruction, "instruction", kind="note", multiline=True)
        or None,
        web=clean_text(spec.web, "web", kind="short") or None,
        contact=clean_text(spec.contact, "contact", kind="short") or None,
        areas=(area,),
    )


def spec_of(record: AlertRecord) -> AlertSpec:
    """The spec a message was issued from: what ``alert update`` starts from."""
    info = record.alert.info
    return AlertSpec(
        event=record.event,
        severity=record.severity,
        urgency=record.urgency,
        certainty=record.certainty,
        headline=record.headline,
        description=record.description,
        instruction=record.instruction,
        area_desc=record.area_desc,
        area_codes=record.area_codes,
        polygons=record.polygons,
        expires=record.expires,
        effective=record.effective,
        onset=record.onset,
        category=record.category,
        exercise=record.exercise,
        sender_name=(info.sender_name or "") if info else "",
        web=(info.web or "") if info else "",
        contact=(info.contact or "") if info else "",
    )


def _next_identifier(db: Database, sender_code: str, now: datetime) -> str:
    """A new identifier for ``sender_code`` (its own sequence in ``counters``), unused here."""
    name = f"alert-{sender_code}"
    while True:
        db.conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1)"
            " ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )
        seq = int(
            db.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]
        )
        identifier = cap.new_identifier(sender_code, now, seq)
        if find_alert(db, identifier) is None:
            return identifier


def _issue_message(
    db: Database,
    alert: cap.Alert,
    *,
    thread: str | None,
    operator: str,
    now: datetime,
    kind: str,
    like: AlertRecord | None = None,
) -> AlertRecord:
    xml = cap.to_xml(alert)  # validated against the schema and the spec's rules
    record = _store(
        db,
        alert,
        xml,
        thread=thread or alert.identifier,
        origin=Origin.ISSUED,
        via=None,
        issued_by=operator,
        received_at=now,
        like=like,
    )
    closed = _close(db, record, now)
    append_event(
        db, at=to_iso(now), operator=operator, kind=kind, data=_entry(record, closed=closed)
    )
    return get_alert(db, record.id)


def issue(
    db: Database,
    clock: Clock,
    operator: str,
    spec: AlertSpec,
    *,
    sender_code: str,
    sender: str | None = None,
) -> AlertRecord:
    """Issue a new warning here (msgType Alert; status Exercise for a drill).

    Args:
        sender_code: this unit's division code: the identifier's prefix
            (``<code>_<YYYYMMDDhhmmss>_<seq>``, Beijing time).
        sender: CAP ``sender`` (no spaces or commas); the code when not given.

    Raises:
        InvalidInput: a field of the spec is wrong (named), or the message breaks CAP.
    """
    who = clean_text(operator, "--as", kind="operator", required=True)
    now = clock.now()
    info = _info(spec, now)
    with write(db):
        alert = cap.Alert(
            identifier=_next_identifier(db, sender_code, now),
            sender=sender or sender_code,
            sent=now,
            status=cap.Status.EXERCISE if spec.exercise else cap.Status.ACTUAL,
            msg_type=cap.MsgType.ALERT,
            scope=cap.Scope.PUBLIC,
            infos=(info,),
        )
        return _issue_message(db, alert, thread=None, operator=who, now=now, kind="alert_issued")


def _followed(db: Database, ref: str | int) -> AlertRecord:
    """The newest message of the thread of ``ref``, which must be a warning issued here and
    not cancelled."""
    record = get_alert(db, ref)
    if record.origin is not Origin.ISSUED:
        raise InvalidTransition(
            _("alert {id} was received from above: only its sender can change it").format(
                id=record.identifier
            )
        )
    newest = latest(db, record.thread) or record
    if newest.cancelled_at is not None or newest.msg_type is cap.MsgType.CANCEL:
        raise InvalidTransition(_("alert {id} is cancelled").format(id=record.identifier))
    return newest


def update(
    db: Database,
    clock: Clock,
    operator: str,
    ref: str | int,
    spec: AlertSpec,
    *,
    sender_code: str,
    sender: str | None = None,
) -> AlertRecord:
    """Issue an Update of a warning issued here: it references the thread's messages and
    supersedes the newest (status and sender are the original's; ``spec.exercise`` is ignored).

    Raises:
        NotFound: no such alert.
        InvalidTransition: it was received from above, or is cancelled.
        InvalidInput: a field of the spec is wrong.
    """
    who = clean_text(operator, "--as", kind="operator", required=True)
    now = clock.now()
    info = _info(spec, now)
    with write(db):
        newest = _followed(db, ref)
        alert = cap.follow_up(
            newest.alert,
            msg_type=cap.MsgType.UPDATE,
            identifier=_next_identifier(db, sender_code, now),
            sent=now,
            infos=(info,),
        )
        if sender:
            alert = _with_sender(alert, sender)
        return _issue_message(
            db, alert, thread=newest.thread, operator=who, now=now, kind="alert_updated"
        )


def cancel(
    db: Database,
    clock: Clock,
    operator: str,
    ref: str | int,
    *,
    sender_code: str,
    sender: str | None = None,
    note: str = "",
) -> AlertRecord:
    """Cancel a warning issued here (msgType Cancel referencing its thread): every message of
    the thread is closed. Stopping its 叫应 is :func:`uplink.callanswer.stop_for_cancel`'s,
    called by the caller in the same transaction.

    Raises:
        NotFound: no such alert.
        InvalidTransition: it was received from above, or is already cancelled.
    """
    who = clean_text(operator, "--as", kind="operator", required=True)
    text = clean_text(note, "note", kind="note") or None
    now = clock.now()
    with write(db):
        newest = _followed(db, ref)
        alert = cap.follow_up(
            newest.alert,
            msg_type=cap.MsgType.CANCEL,
            identifier=_next_identifier(db, sender_code, now),
            sent=now,
            note=text,
        )
        if sender:
            alert = _with_sender(alert, sender)
        return _issue_message(
            db,
            alert,
            thread=newest.thread,
            operator=who,
            now=now,
            kind="alert_cancelled",
            like=newest,
        )


def _with_sender(alert: cap.Alert, sender: str) -> cap.Alert:
    return replace(alert, sender=sender)
