"""Provides the uplink's vocabulary and its JSON forms: the one owner of every word of the protocol.

An **uplink event** is what the level above (the county hub, the city) learns of a change below.
It has a stable ``id`` (its idempotency key, made once when the event is projected and kept
through every retry), the ``unit`` (division code) it comes from, a ``subject`` (what it is
about: a case, a mobilization, the unit itself, a township rolled up by a county, a warning
or a directive received from above) with a ``seq`` number per subject (1, 2, 3, ... with no
gaps: the hub applies a subject's events in that order and holds one that arrives ahead of its
predecessor), a ``kind``, the time ``at`` it happened, and a ``payload``: a projection
documented field by field in ``docs/uplink-protocol.md`` (no full phone number, the reporter
only when configured).

Events travel in a :class:`Batch` (``POST /v1/events``); the hub answers one :class:`Result`
per event. The protocol version is :data:`PROTOCOL_VERSION`; its paths live under ``/v1``.
Validation here is strict and names what is wrong (``events[3].seq``), so the hub can refuse
a bad batch whole with a 4xx and change nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from store.errors import InvalidInput
from store.i18n import N_, _

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "Dutydesk-Protocol"  # carries PROTOCOL_VERSION on every request
IDEMPOTENCY_HEADER = "Idempotency-Key"  # one key per batch, made by the sender
REPLAYED_HEADER = "Idempotency-Replayed"  # "true" on a stored response given again
MAX_BATCH_EVENTS = 500  # events in one POST /v1/events
MAX_BODY_BYTES = 4 * 1024 * 1024  # one batch's body at most (the hub's default limit)
MAX_PAYLOAD_BYTES = 64 * 1024  # one event's payload, as JSON

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
EVENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
SUBJECT_PATTERN = re.compile(
    r"(case|mobilization|rollup|directive):[^\s/]{1,64}|alert:[^\s/,<&]{1,128}|unit"
)
MAX_SEQ = 2**53  # JSON numbers stay exact up to here


class Kind(StrEnum):
    """What an uplink event says happened."""

    CASE_REPORTED = "case_reported"  # a case was logged (its first event)
    CASE_UPDATED = "case_updated"  # its fields changed (edit, assignment, parking, extension...)
    CASE_STAGE = "case_stage"  # it moved along the closed loop (closed and voided included)
    CASE_SUPERVISED = "case_supervised"  # it went under supervision (督办), or was reminded
    CASE_MERGED = "case_merged"  # it was merged into another case (payload names it)
    MOBILIZATION_STARTED = "mobilization_started"
    MOBILIZATION_SUMMARY = "mobilization_summary"  # counts so far (throttled; ``final`` at end)
    HANDOVER = "handover"  # a shift handed over
    AUDIT_HEAD = "audit_head"  # a signed head of the unit's audit chain (a witness)
    ROLLUP = "rollup"  # a hub's summary of one unit below it (subject ``rollup:<code>``)
    RESYNC = "resync"  # the unit's state of a subject after a restore (see the protocol doc)
    REPORT = "report"  # an information report (初报/续报/终报) sent up, with the case
    ALERT_RECEIVED = "alert_received"  # a warning came down: the receipt (签收), subject alert:ID
    DIRECTIVE_RECEIVED = "directive_received"  # a directive came down: the receipt
    DIRECTIVE_REPLIED = "directive_replied"  # the unit's reply (反馈), subject directive:ID

    @property
    def is_case(self) -> bool:
        """A change of the case itself: the payload is ``{"change", "case"}``."""
        return self.value.startswith("case_")

    @property
    def about_case(self) -> bool:
        """About a case (subject ``case:NUMBER``) and carrying it as it stands: the case kinds
        and ``report`` (whose payload is ``{"report", "case"}``)."""
        return self.is_case or self is Kind.REPORT

    @property
    def label(self) -> str:
        return _(_KIND_LABELS[self])


_KIND_LABELS = {
    Kind.CASE_REPORTED: N_("reported"),
    Kind.CASE_UPDATED: N_("updated"),
    Kind.CASE_STAGE: N_("stage changed"),
    Kind.CASE_SUPERVISED: N_("supervised"),
    Kind.CASE_MERGED: N_("merged"),
    Kind.MOBILIZATION_STARTED: N_("mobilization started"),
    Kind.MOBILIZATION_SUMMARY: N_("mobilization summary"),
    Kind.HANDOVER: N_("shift handover"),
    Kind.AUDIT_HEAD: N_("audit head"),
    Kind.ROLLUP: N_("roll-up"),
    Kind.RESYNC: N_("resynchronised"),
    Kind.REPORT: N_("information report"),
    Kind.ALERT_RECEIVED: N_("warning received"),
    Kind.DIRECTIVE_RECEIVED: N_("directive received"),
    Kind.DIRECTIVE_REPLIED: N_("directive replied"),
}


class ReceivedState(StrEnum):
    """Where an event stands at the hub that received it (``hub_events.state``)."""

    APPLIED = "applied"  # in the read model
    HELD = "held"  # stored; waits for an earlier event of its subject
    SUPERSEDED = "superseded"  # set aside by a resync: the unit no longer has it

    @property
    def label(self) -> str:
        return {
            ReceivedState.APPLIED: _("applied"),
            ReceivedState.HELD: _("held: waits for an earlier event"),
            ReceivedState.SUPERSEDED: _("superseded"),
        }[self]


class OutboxState(StrEnum):
    """Where an outbox event stands at the unit that sends it."""

    PENDING = "pending"  # not yet acknowledged by the hub
    SENT = "sent"  # the hub answered accepted, duplicate or held: done
    DEAD = "dead"  # refused: waits for an operator (later events of its subject wait too)


class Result(StrEnum):
    """The hub's answer for one event of a batch."""

    ACCEPTED = "accepted"  # stored and applied (or applied once its predecessors arrive)
    DUPLICATE = "duplicate"  # this event id was received before: nothing changed
    HELD = "held"  # stored; waits for a missing predecessor before it is applied
    CONFLICT = "conflict"  # another event already holds this subject's seq: resynchronise
    REJECTED = "rejected"  # refused for good; ``reason`` says why

    @property
    def done(self) -> bool:
        """The sender may forget the event (it will never send it again)."""
        return self in (Result.ACCEPTED, Result.DUPLICATE, Result.HELD)


class LinkState(StrEnum):
    """How the link to the level above is doing, as the drain last saw it."""

    OFF = "off"  # no [uplink] url configured
    IDLE = "idle"  # configured, nothing sent yet in this database
    CONNECTED = "connected"  # the last exchange went through
    BACKING_OFF = "backing_off"  # a retryable failure: the next try is at ``next_try_at``
    UNAUTHORIZED = "unauthorized"  # 401/403: the token is wrong or was revoked

    @property
    def label(self) -> str:
        return {
            LinkState.OFF: _("not configured"),
            LinkState.IDLE: _("idle"),
            LinkState.CONNECTED: _("connected"),
            LinkState.BACKING_OFF: _("backing off"),
            LinkState.UNAUTHORIZED: _("token refused"),
        }[self]


UNIT_SUBJECT = "unit"


def case_subject(number: str) -> str:
    return f"case:{number}"


def mobilization_subject(mobilization_id: int) -> str:
    return f"mobilization:{mobilization_id}"


def rollup_subject(unit_code: str) -> str:
    return f"rollup:{unit_code}"


def alert_subject(identifier: str) -> str:
    """The subject of a CAP alert's receipt: ``alert:<identifier>``."""
    return f"alert:{identifier}"


def directive_subject(directive_id: str) -> str:
    """The subject of a directive's receipt and reply: ``directive:<id>``."""
    return f"directive:{directive_id}"


def subject_ref(subject: str) -> str:
    """The part after the colon: a case number, a mobilization id, a unit code, an alert
    identifier, a directive id."""
    return subject.partition(":")[2]


def code_problem(code: Any) -> str | None:
    """Why ``code`` is not a division code the protocol carries, or ``None``."""
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        return _("must be 1-64 letters, digits, '.', '_' or '-'")
    return None


@dataclass(frozen=True)
class UplinkEvent:
    """One event as it travels (see the module docstring)."""

    id: str
    unit: str
    subject: str
    seq: int
    kind: Kind
    at: str  # UTC ISO-8601
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unit": self.unit,
            "subject": self.subject,
            "seq": self.seq,
            "kind": self.kind.value,
            "at": self.at,
            "payload": self.payload,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "event") -> UplinkEvent:
        """Read one event; ``where`` prefixes the field in errors (``events[3]``).

        Raises:
            InvalidInput: a field is missing or wrong; ``field`` names it.
        """
        if not isinstance(data, dict):
            raise InvalidInput(_("must be a JSON object"), where)
        unknown = sorted(set(data) - {"id", "unit", "subject", "seq", "kind", "at", "payload"})
        if unknown:
            raise InvalidInput(
                _("unknown field {name!r}").format(name=unknown[0]), f"{where}.{unknown[0]}"
            )
        event_id = data.get("id")
        if not isinstance(event_id, str) or not EVENT_ID_PATTERN.fullmatch(event_id):
            raise InvalidInput(_("must be 8-64 letters, digits, '_' or '-'"), f"{where}.id")
        problem = code_problem(data.get("unit"))
        if problem:
            raise InvalidInput(problem, f"{where}.unit")
        subject = data.get("subject")
        if not isinstance(subject, str) or not SUBJECT_PATTERN.fullmatch(subject):
            raise InvalidInput(
                _(
                    'must be "unit", "case:NUMBER", "mobilization:ID", "rollup:CODE",'
                    ' "alert:IDENTIFIER" or "directive:ID"'
                ),
                f"{where}.subject",
            )
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
            raise InvalidInput(_("must be a whole number from 1 to 2^53"), f"{where}.seq")
        try:
            kind = Kind(str(data.get("kind")))
        except ValueError:
            raise InvalidInput(
                _("unknown kind {kind!r}; known: {kinds}").format(
                    kind=data.get("kind"), kinds=", ".join(k.value for k in Kind)
                ),
                f"{where}.kind",
            ) from None
        at = data.get("at")
        try:
            if not isinstance(at, str):
                raise ValueError(at)
            if datetime.fromisoformat(at.replace("Z", "+00:00")).tzinfo is None:
                raise ValueError(at)
        except (ValueError, TypeError):
            raise InvalidInput(
                _("must be an ISO-8601 time with its offset"), f"{where}.at"
            ) from None
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise InvalidInput(_("must be a JSON object"), f"{where}.payload")
        return cls(event_id, str(data["unit"]), subject, seq, kind, at, payload)


@dataclass(frozen=True)
class Batch:
    """The body of ``POST /v1/events``: ``{"version": 1, "unit": CODE, "events": [...]}``."""

    unit: str
    events: tuple[UplinkEvent, ...]
    version: int = PROTOCOL_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "unit": self.unit,
            "events": [e.to_json() for e in self.events],
        }

    @classmethod
    def from_json(cls, data: Any) -> Batch:
        """Read a whole batch, or refuse it whole.

        Raises:
            InvalidInput: the envelope or one event is wrong (``field`` names it, e.g.
                ``events[2].kind``); an event of another unit than the envelope's; more than
                :data:`MAX_BATCH_EVENTS` events; the same event id twice.
        """
        if not isinstance(data, dict):
            raise InvalidInput(_("must be a JSON object"), "body")
        version = data.get("version")
        if version != PROTOCOL_VERSION:
            raise InvalidInput(
                _("unsupported protocol version {got!r}; this side speaks {ours}").format(
                    got=version, ours=PROTOCOL_VERSION
                ),
                "version",
            )
        problem = code_problem(data.get("unit"))
        if problem:
            raise InvalidInput(problem, "unit")
        unit = str(data["unit"])
        raw = data.get("events")
        if not isinstance(raw, list) or not raw:
            raise InvalidInput(_("must be a non-empty list"), "events")
        if len(raw) > MAX_BATCH_EVENTS:
            raise InvalidInput(
                _("{n} events; at most {most} in one batch").format(
                    n=len(raw), most=MAX_BATCH_EVENTS
                ),
                "events",
            )
        events: list[UplinkEvent] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            event = UplinkEvent.from_json(item, f"events[{i}]")
            if event.unit != unit:
                raise InvalidInput(
                    _("event of unit {other!r} in a batch of unit {unit!r}").format(
                        other=event.unit, unit=unit
                    ),
                    f"events[{i}].unit",
                )
            if event.id in seen:
                raise InvalidInput(_("the same event id twice in one batch"), f"events[{i}].id")
            seen.add(event.id)
            events.append(event)
        return cls(unit, tuple(events), PROTOCOL_VERSION)


def compact_json(data: Any) -> str:
    """The protocol's JSON text: no spaces, UTF-8 kept readable."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def encode_batch(unit: str, events: Iterable[tuple[str, str, int, str, str, str]]) -> bytes:
    """The body of ``POST /v1/events`` from stored events: ``(id, subject, seq, kind, at,
    payload as JSON text)`` each, the payload put in as it is (never parsed again).

    The same JSON as ``Batch(unit, ...).to_json()`` (a test holds them equal).
    """
    parts = []
    for event_id, subject, seq, kind, at, payload_json in events:
        head = compact_json(
            {"id": event_id, "unit": unit, "subject": subject, "seq": seq, "kind": kind, "at": at}
        )
        parts.append(f'{head[:-1]},"payload":{payload_json}}}')
    envelope = compact_json({"version": PROTOCOL_VERSION, "unit": unit})
    return f'{envelope[:-1]},"events":[{",".join(parts)}]}}'.encode()


@dataclass(frozen=True)
class EventResult:
    """The hub's answer for one event: ``{"id": ..., "result": ..., "reason": ...}``."""

    id: str
    result: Result
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "result": self.result.value}
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "results[0]") -> EventResult:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise InvalidInput(_("must be an object with an id"), where)
        try:
            result = Result(str(data.get("result")))
        except ValueError:
            raise InvalidInput(
                _("unknown result {result!r}").format(result=data.get("result")),
                f"{where}.result",
            ) from None
        reason = data.get("reason")
        return cls(data["id"], result, reason if isinstance(reason, str) else None)


@dataclass(frozen=True)
class LinkStatus:
    """The uplink at a glance: what the dashboard, the status line and ``sync status`` show."""

    state: LinkState
    url: str | None
    unit: str | None
    backlog: int  # events not yet acknowledged (pending, dead letters not counted)
    oldest_pending_at: datetime | None  # when the oldest of them happened
    dead_letters: int
    last_ok_at: datetime | None  # the last exchange that went through
    next_try_at: datetime | None  # while backing off
    down_since: datetime | None  # the first failure of the current run of failures
    last_error: str | None
    sent_total: int  # events acknowledged, ever

    def oldest_age_s(self, now: datetime) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return max(0.0, (now - self.oldest_pending_at).total_seconds())

    def to_json(self, now: datetime) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "state": self.state.value,
            "url": self.url,
            "unit": self.unit,
            "backlog": self.backlog,
            "oldest_pending_at": iso(self.oldest_pending_at),
            "oldest_pending_age_s": self.oldest_age_s(now),
            "dead_letters": self.dead_letters,
            "last_ok_at": iso(self.last_ok_at),
            "next_try_at": iso(self.next_try_at),
            "down_since": iso(self.down_since),
            "last_error": self.last_error,
            "sent_total": self.sent_total,
        }
