"""Provides :func:`openapi`: the OpenAPI 3.1 description of the uplink protocol v1.

A provincial platform (or any other receiving side) implements the protocol from this document
and ``docs/uplink-protocol.md`` without reading our code; the hub serves it at
``GET /v1/openapi.json`` and ``docs/uplink-openapi.json`` is the same document, checked by a test
so it never drifts. The vocabularies are not spelled here: event kinds and results come from
:mod:`uplink.models`, stages, severities, urgencies and sources from :mod:`incidents.models`,
mobilization states, modes and counts from :mod:`mobilization`, so each word has one owner.
Plain dictionaries (JSON Schema 2020-12, as OpenAPI 3.1 uses), no dependency.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from incidents.models import Severity, Source, Stage, Urgency
from incidents.workflow import STAGE_STEPS
from mobilization import Counts, MobilizationState, Mode
from uplink.downlink import (
    ACTIONS,
    INBOX_LIMIT,
    MAX_CURSOR,
    POKE_BODY_LIMIT,
    POKE_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from uplink.models import (
    CODE_PATTERN,
    EVENT_ID_PATTERN,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    MAX_BATCH_EVENTS,
    MAX_BODY_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    REPLAYED_HEADER,
    SUBJECT_PATTERN,
    Kind,
    Result,
)
from uplink.outbox import CASE_KINDS
from uplink.reporting import (
    FIELD_NAMES,
    FIELD_ZH,
    FIGURE_NAMES,
    Channel,
    ObligationKind,
    ReportKind,
    report_name,
)

JSON = "application/json"
STATE_LIMIT = (1, 5000, 1000)  # least, most, default subjects on one page of /state
STATE_AFTER_MAX = 200  # characters of ?after=

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def _string(description: str, **more: Any) -> Schema:
    return {"type": "string", "description": description, **more}


def _time(description: str) -> Schema:
    return {"type": "string", "format": "date-time", "description": description}


def _count(description: str) -> Schema:
    return {"type": "integer", "minimum": 0, "description": description}


def _object(
    description: str,
    properties: dict[str, Schema],
    required: list[str] | None = None,
    *,
    closed: bool = False,
) -> Schema:
    schema: Schema = {"type": "object", "description": description, "properties": properties}
    schema["required"] = list(properties) if required is None else required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _values(enum: Any) -> list[str]:
    return [member.value for member in enum]


# --- the events' payloads ---------------------------------------------------------------------


def _case() -> Schema:
    nullable_text = {"type": ["string", "null"]}
    return _object(
        "The case as it stands when the event was projected (its latest state): the hub's "
        "read model takes it whole. Never a full phone number; the reporter only when the unit "
        "is configured to send it.",
        {
            "number": _string("The case number, unique within the unit."),
            "title": _string("Short title."),
            "description": _string("What was reported (may be empty)."),
            "category": _string("Incident category (the unit's classification)."),
            "type": _string("Incident type within the category."),
            "severity": _string(
                "Level I (particularly major) to IV (general).",
                enum=[level.roman for level in Severity],
            ),
            "urgency": _string("How urgent.", enum=_values(Urgency)),
            "stage": _string(
                "Where the case is in the closed loop (closed, voided and merged are final).",
                enum=_values(Stage),
            ),
            "location": _string("Where, as written by the duty officer (may be empty)."),
            "lat": {"type": ["number", "null"], "description": "WGS-84 latitude, if known."},
            "lon": {"type": ["number", "null"], "description": "WGS-84 longitude, if known."},
            "grid": {**nullable_text, "description": "The grid's code, if assigned."},
            "source": _string("How the case came in.", enum=_values(Source)),
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Free tags."},
            "assignee": {**nullable_text, "description": "Who handles it (a team or person)."},
            "reported_at": _time("When it was reported."),
            "stage_since": _time("When it entered its current stage."),
            "deadline": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "The current stage's time limit, if it has one.",
            },
            "overdue": {
                "type": "boolean",
                "description": "Past its deadline (and not parked) when projected.",
            },
            "parked": {"type": "boolean", "description": "Parked: the clock is stopped."},
            "supervised": {"type": "boolean", "description": "Under supervision."},
            "extensions": _count("Extensions granted so far."),
            "updated_at": _time("Its last change."),
            "closed_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When it reached a final stage.",
            },
            "active": {"type": "boolean", "description": "Not in a final stage."},
            "merged_into": {
                **nullable_text,
                "description": "The number of the case it was merged into, if merged.",
            },
            "reporting": _ref("Reporting"),
            "reporter": {
                "type": "object",
                "description": "Only with [uplink] include_reporter = true.",
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "phone": {
                        "type": ["string", "null"],
                        "description": "Masked: 138****8000, never the full number.",
                    },
                },
            },
        },
        required=[
            "number",
            "title",
            "category",
            "type",
            "severity",
            "stage",
            "active",
            "deadline",
            "overdue",
            "supervised",
            "updated_at",
        ],
    )


def _figures() -> Schema:
    return _object(
        "Casualty and evacuation counts valid at `as_of`; null: not known (not zero).",
        {
            **{name: {"type": ["integer", "null"], "minimum": 0} for name in FIGURE_NAMES},
            "as_of": {"type": ["string", "null"], "format": "date-time"},
        },
        required=[],
    )


def _reporting() -> Schema:
    return _object(
        "The case's reporting facts, from which the hub computes the information reports the "
        "unit owes (a receiver that does not compute them may ignore this). Absent from units "
        "that do not send it: then the case was received when reported and is not marked.",
        {
            "received_at": _time(
                "When the unit received the report of the case: the clock of its initial "
                "report. The case's reported_at unless an officer corrected it."
            ),
            "marked": {
                "type": "boolean",
                "description": "Marked to be reported whatever its level.",
            },
            "sensitive": {
                "type": "boolean",
                "description": "Marked sensitive: reportable whatever its level.",
            },
            "figures": _nullable(_ref("Figures")),
        },
    )


def _report() -> Schema:
    return _object(
        "An information report as the unit sent it (its exact text included), or a report "
        "given by phone (channel phone: `to`, `at` when it was given, `note`).",
        {
            "id": {"type": "integer", "description": "The report's id at the unit."},
            "kind": _string(
                ", ".join(f"{kind.value} ({kind.label_zh})" for kind in ReportKind)
                + "; follow-ups are numbered by seq.",
                enum=_values(ReportKind),
            ),
            "seq": {
                "type": "integer",
                "minimum": 0,
                "maximum": 999,
                "description": "Follow-ups are numbered from 1 ("
                + report_name(ReportKind.FOLLOWUP, 1)
                + "); 0 otherwise.",
            },
            "name": _string(
                "Its short Chinese name: "
                + ", ".join(
                    (
                        report_name(ReportKind.INITIAL, 0),
                        report_name(ReportKind.FOLLOWUP, 2),
                        report_name(ReportKind.FINAL, 0),
                        ObligationKind.PHONE.label_zh,
                    )
                )
                + "."
            ),
            "channel": _string("Written (signed off and sent) or by phone.", enum=_values(Channel)),
            "at": _time("When it was sent (by phone: when it was given)."),
            "fields": {
                "type": "object",
                "description": "The report's text elements: " + ", ".join(FIELD_NAMES) + ".",
                "additionalProperties": {"type": "string"},
            },
            "figures": _ref("Figures"),
            "corrects": {
                "type": ["integer", "null"],
                "description": "The id of the report this one corrects.",
            },
            "signed_by": _string("Who signed it off."),
            "signed_at": _time("When it was signed off."),
            "title": _string("Its title, as the document has it."),
            "unit": _string(f"The reporting unit ({FIELD_ZH['unit']}) as the report names it."),
            "corrects_name": {
                "type": ["string", "null"],
                "description": "The name of the report it corrects, if any.",
            },
            "text": {"type": ["string", "null"], "description": "The exact text sent."},
            "to": _string("Channel phone: to whom it was given."),
            "note": _string("Channel phone: what was said."),
        },
        required=["kind", "seq", "channel", "at"],
    )


def _change() -> Schema:
    return _object(
        "The change this event reports: the unit's timeline entry, projected.",
        {
            "kind": _string(
                "The timeline entry's kind: "
                + ", ".join(CASE_KINDS)
                + ", or the step that moved the stage ("
                + ", ".join(step for step in STAGE_STEPS if step not in CASE_KINDS)
                + ")."
            ),
            "operator": _string("Who did it, at the unit."),
            "stage_from": {
                "type": ["string", "null"],
                "enum": [*_values(Stage), None],
                "description": "The stage before (stage changes only; null for reported).",
            },
            "stage_to": _string("The stage after (stage changes only).", enum=_values(Stage)),
            "fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Names of the fields changed (kind edit only).",
            },
            "to": _string("The new assignee (dispatch, assign), when given."),
            "into": _string("The case it was merged into (kind merge)."),
            "duplicate": _string("The case merged into this one (kind merged_in)."),
            "new_deadline": _string("The new deadline, when the entry carries one."),
        },
        required=["kind", "operator"],
    )


def _counts() -> Schema:
    names = [f.name for f in dataclasses.fields(Counts)]
    return _object(
        "People by state; total is everyone called.",
        {name: _count(f"People: {name.replace('_', ' ')}.") for name in names},
    )


def _mobilization() -> Schema:
    return _object(
        "A mobilization (call-out) and its counts so far.",
        {
            "mobilization": {"type": "integer", "description": "Its id at the unit."},
            "case": {
                "type": ["string", "null"],
                "description": "The case number it was started for, if any.",
            },
            "state": _string("Where it stands.", enum=_values(MobilizationState)),
            "exercise": {"type": "boolean", "description": "A drill, not a real call-out."},
            "mode": _string("Down the tree level by level, or all at once.", enum=_values(Mode)),
            "targets": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Who was called (grid:CODE, team:NAME, person:KEY, ...).",
            },
            "need": {
                "type": ["integer", "null"],
                "description": "People needed; the rest are stood down once that many said yes.",
            },
            "created_at": _time("When it started."),
            "finished_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When it completed or was cancelled.",
            },
            "counts": _ref("Counts"),
            "answered_pct": {
                "type": "number",
                "description": "Yes and no answers, in % of everyone called (one decimal).",
            },
            "final": {
                "type": "boolean",
                "description": "The last summary: the mobilization is over.",
            },
            "message": _string("The message sent (mobilization_started only)."),
            "alert": _string(
                "The identifier of the CAP alert this mobilization is the call-and-answer of; "
                "absent for any other mobilization."
            ),
            "answers": _object(
                "How fast the call-and-answer's people answer (with `alert` only).",
                {
                    "first_at": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "The first answer (yes or no).",
                    },
                    "median_s": {
                        "type": ["number", "null"],
                        "description": "Median seconds from the start to each answer.",
                    },
                    "silent": {
                        "type": "array",
                        "description": "Who is still silent, since when (names, no numbers), "
                        "the longest silent first.",
                        "items": _object(
                            "A silent person.",
                            {"name": _string("Their name."), "since": _time("Called at.")},
                        ),
                    },
                    "silent_more": _count("Silent people beyond those named."),
                },
            ),
        },
        required=["mobilization", "case", "state", "exercise", "counts", "created_at", "final"],
    )


def _handover() -> Schema:
    return _object(
        "A shift handed over (kind handover) or the handover confirmed by the incoming "
        "officer (kind handover_confirmed).",
        {
            "kind": _string("Which step.", enum=["handover", "handover_confirmed"]),
            "operator": _string("Who handed over, or who confirmed."),
            "to": _string("The incoming officer (handover)."),
            "open": _count("Open cases at handover."),
            "overdue": _count("Overdue cases at handover."),
            "supervised": _count("Supervised cases at handover."),
            "parked": _count("Parked cases at handover."),
            "pending_extensions": _count("Extension requests awaiting a decision."),
            "from": _string("The outgoing officer (handover_confirmed)."),
            "handed_over_at": _time("When the confirmed handover was made."),
        },
        required=["kind", "operator"],
    )


def _audit_head() -> Schema:
    return _object(
        "A signed head of the unit's hash-chained audit log: at `at` the chain had `count` "
        "entries, the last `last_id` with hash `last_hash`; `mac` is HMAC-SHA256 under the "
        "unit's audit key `kid` (which only the unit holds). The hub keeps the latest as a "
        "witness: the unit's `dutydesk audit verify --witness FILE` proves its chain still "
        "holds that entry with that hash.",
        {
            "last_id": {"type": "integer", "minimum": 0},
            "last_hash": _string("SHA-256, hex.", pattern="^[0-9a-f]{64}$"),
            "count": _count("Entries in the chain."),
            "at": _time("When it was signed."),
            "kid": _string("The id of the key that signed it."),
            "mac": _string("HMAC-SHA256, hex.", pattern="^[0-9a-f]{64}$"),
        },
    )


def _rollup() -> Schema:
    return _object(
        "A hub's summary of one unit below it (sent by a county to the city).",
        {
            "unit": _string("The unit summarised (the subject's code)."),
            "name": _string("Its name."),
            "open": _count("Open cases."),
            "by_severity": {
                "type": "object",
                "description": "Open cases by severity level.",
                "properties": {level.roman: _count(f"Level {level.roman}.") for level in Severity},
            },
            "overdue": _count("Overdue open cases."),
            "supervised": _count("Supervised open cases."),
            "active_mobilizations": _count("Mobilizations still running."),
            "last_contact_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "The unit's last authenticated request to the hub.",
            },
            "changed_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the hub last applied an event of the unit.",
            },
            "revoked": {"type": "boolean", "description": "The unit's token was revoked."},
        },
        required=[
            "unit",
            "name",
            "open",
            "by_severity",
            "overdue",
            "supervised",
            "active_mobilizations",
            "last_contact_at",
        ],
    )


def _call() -> Schema:
    return _object(
        "Whether the unit's call-and-answer started automatically on receipt, or why not.",
        {
            "state": {
                "type": ["string", "null"],
                "enum": ["started", "skipped", None],
                "description": "started, skipped (see reason), or null: not decided yet.",
            },
            "reason": {
                "type": ["string", "null"],
                "description": "Why not (below_level, expired, cancelled, superseded, exercise, "
                "not_a_warning, cancel_message, already_calling, nobody, failed...).",
            },
            "at": {"type": ["string", "null"], "format": "date-time"},
            "mobilization": {
                "type": ["integer", "null"],
                "description": "The call-and-answer's id.",
            },
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "auto": {"type": ["boolean", "null"], "description": "Started without an officer."},
        },
    )


def _alert_received() -> Schema:
    return _object(
        "The receipt of a CAP alert that came down: sent automatically when the unit "
        "takes it, with the automatic call-and-answer's decision as it stood. The hub shows "
        "it per unit in the alert's view.",
        {
            "alert": _string("The alert's identifier (the subject's)."),
            "thread": _string("The identifier of the first message of its Update/Cancel chain."),
            "msg_type": _string("CAP msgType.", enum=["Alert", "Update", "Cancel"]),
            "status": _string("CAP status (Exercise for a drill)."),
            "exercise": {"type": "boolean"},
            "sender": _string("CAP sender."),
            "sent": _time("CAP sent."),
            "event": _string("CAP event (heavy rain, flood...)."),
            "colour": {
                "type": ["string", "null"],
                "enum": ["red", "orange", "yellow", "blue", None],
                "description": "The Chinese warning colour of its severity.",
            },
            "severity": _string("CAP severity."),
            "headline": _string("CAP headline."),
            "area_codes": {"type": "array", "items": {"type": "string"}},
            "expires": {"type": ["string", "null"], "format": "date-time"},
            "references": {"type": "array", "items": {"type": "string"}},
            "received_at": _time("When the unit took it."),
            "via": _string(
                "push: pulled at once on the hub's poke; poll: on the unit's own schedule; "
                "import: from a file.",
                enum=["push", "poll", "import"],
            ),
            "call": _call(),
        },
        required=["received_at"],
    )


def _directive() -> Schema:
    return _object(
        "A directive's receipt (directive_received) or its reply (directive_replied).",
        {
            "directive": _string("The directive's id (the subject's)."),
            "title": _string("Its title (receipt)."),
            "sender": _string("Who sent it (receipt)."),
            "received_at": _time("When the unit took it (receipt)."),
            "via": _string("How it came (receipt).", enum=["push", "poll", "import"]),
            "reply_by": {"type": ["string", "null"], "format": "date-time"},
            "action": _string("What it asked to open.", enum=list(ACTIONS)),
            "case": {"type": ["string", "null"], "description": "The case opened for it."},
            "task": {"type": ["integer", "null"], "description": "The task opened for it."},
            "exercise": {"type": "boolean"},
            "reply": _string("The reply's text (reply: required, not empty)."),
            "replied_by": _string("Who replied (reply)."),
            "replied_at": _time("When (reply)."),
            "late": {"type": "boolean", "description": "Replied after reply_by (reply)."},
        },
    )


def _inbox_item() -> Schema:
    return _object(
        "One item sent down to the unit: a CAP alert or a directive.",
        {
            "id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_CURSOR,
                "description": "The item's cursor: pass the last one taken as ?after=.",
            },
            "kind": _string("What it is.", enum=["alert", "directive"]),
            "ref": _string("The alert's identifier, or the directive's id."),
            "created_at": _time("When the hub queued it."),
            "alert": _string(
                "The CAP 1.2 XML, exactly as the hub validated it (kind alert). The unit "
                "validates it again before it stores it."
            ),
            "directive": _object(
                "The directive (kind directive).",
                {
                    "id": _string("Its id at the hub."),
                    "sender": _string("The sending unit's code."),
                    "sender_name": _string("The sending office."),
                    "title": _string("Its title."),
                    "text": _string("Its text."),
                    "attachments": {
                        "type": "array",
                        "description": "By reference: never fetched automatically.",
                        "items": _object(
                            "An attachment.",
                            {"name": _string("Its name."), "url": _string("http(s) address.")},
                        ),
                    },
                    "sent_at": _time("When it was sent."),
                    "reply_by": {"type": ["string", "null"], "format": "date-time"},
                    "action": _string("Open a case or a task for it.", enum=list(ACTIONS)),
                    "alert": {
                        "type": ["string", "null"],
                        "description": "The alert it relates to.",
                    },
                    "exercise": {"type": "boolean"},
                },
            ),
        },
        required=["id", "kind", "ref", "created_at"],
    )


def _resync() -> Schema:
    return _object(
        "The unit's state of a subject after it diverged from the hub (restored from an older "
        "backup): the hub sets aside (supersedes, keeps flagged) what it applied after `known` "
        "and takes this state.",
        {
            "known": _count("The last seq both sides agree on."),
            "case": {
                **_nullable(_ref("Case")),
                "description": "The case now, or null: the unit no longer has it (case subjects).",
            },
            "mobilization": {
                **_ref("MobilizationPayload"),
                "description": "The mobilization now (mobilization subjects).",
            },
        },
        required=["known"],
    )


# Which schema carries the payload of each kind, and which subjects it may be about.
_EVENT_SCHEMAS: dict[str, tuple[str, str | None]] = {
    "CaseEvent": ("CasePayload", r"^case:"),
    "MobilizationEvent": ("MobilizationPayload", r"^mobilization:"),
    "HandoverEvent": ("HandoverPayload", r"^unit$"),
    "AuditHeadEvent": ("AuditHead", r"^unit$"),
    "RollupEvent": ("RollupPayload", r"^rollup:"),
    "ResyncEvent": ("ResyncPayload", None),
    "ReportEvent": ("ReportPayload", r"^case:"),
    "AlertReceivedEvent": ("AlertReceivedPayload", r"^alert:"),
    "DirectiveEvent": ("DirectivePayload", r"^directive:"),
}


def event_schema_of(kind: Kind) -> str:
    """The name of the event schema of ``kind`` (every kind has one)."""
    if kind.is_case:
        return "CaseEvent"
    return {
        Kind.MOBILIZATION_STARTED: "MobilizationEvent",
        Kind.MOBILIZATION_SUMMARY: "MobilizationEvent",
        Kind.HANDOVER: "HandoverEvent",
        Kind.AUDIT_HEAD: "AuditHeadEvent",
        Kind.ROLLUP: "RollupEvent",
        Kind.RESYNC: "ResyncEvent",
        Kind.REPORT: "ReportEvent",
        Kind.ALERT_RECEIVED: "AlertReceivedEvent",
        Kind.DIRECTIVE_RECEIVED: "DirectiveEvent",
        Kind.DIRECTIVE_REPLIED: "DirectiveEvent",
    }[kind]


def _event(name: str) -> Schema:
    payload, subject = _EVENT_SCHEMAS[name]
    kinds = [kind.value for kind in Kind if event_schema_of(kind) == name]
    subject_schema: Schema = _ref("Subject")
    if subject is not None:
        subject_schema = {"allOf": [_ref("Subject"), {"type": "string", "pattern": subject}]}
    return _object(
        f"An event of kind {', '.join(kinds)}.",
        {
            "id": {
                **_ref("EventId"),
                "description": "Stable id, the event's idempotency key: made once, kept "
                "through every retry.",
            },
            "unit": {**_ref("UnitCode"), "description": "The sending unit (the batch's)."},
            "subject": subject_schema,
            "seq": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SEQ,
                "description": "1, 2, 3... per subject with no gap: the hub applies a "
                "subject's events in this order.",
            },
            "kind": {"type": "string", "enum": kinds},
            "at": _time("When it happened at the unit (UTC, with its offset)."),
            "payload": {
                **_ref(payload),
                "description": f"At most {MAX_PAYLOAD_BYTES // 1024} KB as JSON.",
            },
        },
        closed=True,
    )


def _schemas() -> dict[str, Schema]:
    events = {name: _event(name) for name in _EVENT_SCHEMAS}
    return {
        "UnitCode": _string(
            "A division code (the unit's code in the administration).",
            pattern=_anchored(CODE_PATTERN.pattern),
        ),
        "EventId": _string(
            "8-64 letters, digits, '_' or '-'.", pattern=_anchored(EVENT_ID_PATTERN.pattern)
        ),
        "Subject": _string(
            'What an event is about: "unit", "case:NUMBER", "mobilization:ID", '
            '"rollup:CODE" (a unit below a hub), "alert:IDENTIFIER" (a CAP alert received) '
            'or "directive:ID" (a directive received).',
            pattern=_anchored(SUBJECT_PATTERN.pattern),
        ),
        "Batch": _object(
            "The body of POST /v1/events. Refused whole (422, nothing stored) if any event is "
            "invalid, of another unit, or if an event id appears twice.",
            {
                "version": {"const": PROTOCOL_VERSION, "description": "The protocol version."},
                "unit": _ref("UnitCode"),
                "events": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH_EVENTS,
                    "items": _ref("UplinkEvent"),
                    "description": "In the unit's order; each subject's events by seq.",
                },
            },
        ),
        "UplinkEvent": {
            "description": "One event; its `kind` says which payload it carries.",
            "oneOf": [_ref(name) for name in events],
            "discriminator": {
                "propertyName": "kind",
                "mapping": {
                    kind.value: f"#/components/schemas/{event_schema_of(kind)}" for kind in Kind
                },
            },
        },
        **events,
        "CasePayload": _object(
            "What changed, and the case as it stands.",
            {"change": _ref("Change"), "case": _ref("Case")},
        ),
        "ReportPayload": _object(
            "An information report sent up, and the case as it stands. The hub keeps it per "
            "unit and case; its `accepted` result is the report's receipt. A report of "
            "a case the hub cannot take (payload.case missing or of another case) is rejected.",
            {"report": _ref("Report"), "case": _ref("Case")},
        ),
        "Report": _report(),
        "Reporting": _reporting(),
        "Figures": _figures(),
        "Change": _change(),
        "Case": _case(),
        "MobilizationPayload": _mobilization(),
        "Counts": _counts(),
        "HandoverPayload": _handover(),
        "AuditHead": _audit_head(),
        "RollupPayload": _rollup(),
        "ResyncPayload": _resync(),
        "AlertReceivedPayload": _alert_received(),
        "DirectivePayload": _directive(),
        "InboxItem": _inbox_item(),
        "InboxPage": _object(
            "A page of the unit's inbox: the items queued after the cursor, oldest first.",
            {
                "version": {"const": PROTOCOL_VERSION},
                "unit": _ref("UnitCode"),
                "items": {"type": "array", "items": _ref("InboxItem")},
                "next": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The last item's id (or ?after= when there is none): the "
                    "next ?after=.",
                },
                "more": {"type": "boolean", "description": "A full page: ask again at once."},
            },
        ),
        "Poke": _object(
            "The body of the hub's poke.",
            {
                "unit": _ref("UnitCode"),
                "nonce": _string("Random, so that each poke's signature differs."),
            },
            required=["unit"],
        ),
        "EventResult": _object(
            "The hub's answer for one event.",
            {
                "id": _ref("EventId"),
                "result": _string(
                    "accepted: stored and applied; duplicate: received before, nothing "
                    "changed; held: stored, waits for a missing predecessor; conflict: another "
                    "event holds this subject's seq (resynchronise); rejected: refused for "
                    "good (see reason). The first three are done: never send it again.",
                    enum=_values(Result),
                ),
                "reason": _string("Why (conflict, rejected)."),
            },
            required=["id", "result"],
        ),
        "EventsResponse": _object(
            "One result per event, in the batch's order.",
            {
                "version": {"const": PROTOCOL_VERSION},
                "unit": _ref("UnitCode"),
                "results": {"type": "array", "items": _ref("EventResult")},
            },
        ),
        "SubjectState": _object(
            "What the hub has applied of one subject.",
            {
                "subject": _ref("Subject"),
                "seq": _count("The last seq applied (contiguous from 1)."),
                "id": _ref("EventId"),
                "held": _count("Events received ahead of a missing predecessor."),
            },
        ),
        "UnitState": _object(
            "What the hub holds for a unit, a page of subjects sorted by subject.",
            {
                "version": {"const": PROTOCOL_VERSION},
                "unit": _ref("UnitCode"),
                "subjects": {"type": "array", "items": _ref("SubjectState")},
                "next": {
                    "type": ["string", "null"],
                    "description": "Pass as ?after= for the next page; null on the last.",
                },
                "last_contact_at": {"type": ["string", "null"], "format": "date-time"},
                "head": _nullable(_ref("AuditHead")),
            },
        ),
        "SubjectEvents": _object(
            "Every event the hub holds of one subject (?subject=), in seq order: what a unit "
            "restored from an older backup needs to put its history after the hub's.",
            {
                "version": {"const": PROTOCOL_VERSION},
                "unit": _ref("UnitCode"),
                "subject": _ref("Subject"),
                "seq": _count("The last seq applied (0: none)."),
                "events": {
                    "type": "array",
                    "items": _object(
                        "One event as the hub holds it.",
                        {
                            "seq": {"type": "integer", "minimum": 1},
                            "id": _ref("EventId"),
                            "state": _string(
                                "applied; held (waits for a predecessor); superseded (set "
                                "aside by a resync, kept).",
                                enum=["applied", "held", "superseded"],
                            ),
                        },
                    ),
                },
            },
        ),
        "Error": _object(
            "A refusal: nothing was stored.",
            {
                "error": _string("What is wrong."),
                "field": _string(
                    "Where: a body field (events[3].kind), a header (Idempotency-Key, "
                    "Dutydesk-Protocol, Authorization) or a parameter."
                ),
            },
            required=["error"],
        ),
    }


def _error(description: str, *headers: str) -> Schema:
    response: Schema = {
        "description": description,
        "content": {JSON: {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return response


_RESPONSES: dict[str, Schema] = {
    "BadRequest": _error(
        "Not UTF-8 JSON, nested too deeply, a missing or wrong Dutydesk-Protocol header, "
        "another body version, a missing or malformed Idempotency-Key or query parameter."
    ),
    "Unauthorized": _error(
        'No token, an unknown token, or a revoked one (error: "token revoked").',
        "WWW-Authenticate",
    ),
    "Forbidden": _error("The token's unit is not the unit named (batch or path)."),
    "RequestTimeout": _error("The body did not arrive within the server's deadline."),
    "TooLarge": _error(
        "The body is over the hub's limit ([hub] max_body_kb, default "
        f"{MAX_BODY_BYTES // 1024} KB)."
    ),
    "Unprocessable": _error(
        "The batch or an event is invalid (field names it, e.g. events[0].kind), or the "
        "Idempotency-Key was used within 24 h for another body."
    ),
    "TooManyRequests": _error("Over the unit's (or the address's) rate.", "Retry-After"),
    "Busy": _error("The hub's database is busy; try again.", "Retry-After"),
}

_HEADERS: dict[str, Schema] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}},
    PROTOCOL_HEADER: {
        "description": "The protocol version the hub speaks.",
        "schema": {"type": "string", "const": str(PROTOCOL_VERSION)},
    },
    REPLAYED_HEADER: {
        "description": '"true" when the response is the stored one of an earlier request with '
        "the same Idempotency-Key and body (nothing was ingested again).",
        "schema": {"type": "string", "const": "true"},
    },
}

_PARAMETERS: dict[str, Schema] = {
    "Protocol": {
        "name": PROTOCOL_HEADER,
        "in": "header",
        "required": True,
        "description": "The protocol version the request speaks.",
        "schema": {"type": "string", "const": str(PROTOCOL_VERSION)},
    },
    "IdempotencyKey": {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": True,
        "description": "One per batch, reused when the same batch is retried. The same key and "
        "body within 24 h replay the stored response; the same key with another body is 422.",
        "schema": {"type": "string", "pattern": _anchored(IDEMPOTENCY_KEY_PATTERN.pattern)},
    },
    "Code": {
        "name": "code",
        "in": "path",
        "required": True,
        "description": "The unit's code: the token's own.",
        "schema": _ref("UnitCode"),
    },
    "Subject": {
        "name": "subject",
        "in": "query",
        "required": False,
        "description": "One subject's events instead of the page of subjects (after and "
        "limit are then ignored).",
        "schema": _ref("Subject"),
    },
    "After": {
        "name": "after",
        "in": "query",
        "required": False,
        "description": "Subjects after this one (the previous page's `next`).",
        "schema": {"type": "string", "minLength": 1, "maxLength": STATE_AFTER_MAX},
    },
    "Cursor": {
        "name": "after",
        "in": "query",
        "required": False,
        "description": "Items after this cursor (the id of the last item taken; 0 or absent: "
        "from the first).",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR, "default": 0},
    },
    "InboxLimit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Items on one page.",
        "schema": {
            "type": "integer",
            "minimum": INBOX_LIMIT[0],
            "maximum": INBOX_LIMIT[1],
            "default": INBOX_LIMIT[2],
        },
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Subjects on one page.",
        "schema": {
            "type": "integer",
            "minimum": STATE_LIMIT[0],
            "maximum": STATE_LIMIT[1],
            "default": STATE_LIMIT[2],
        },
    },
}


def _responses(ok: Schema, *errors: tuple[int, str]) -> dict[str, Schema]:
    out: dict[str, Schema] = {"200": ok}
    for status, name in errors:
        out[str(status)] = {"$ref": f"#/components/responses/{name}"}
    return out


def _ok(description: str, schema: Schema, *headers: str) -> Schema:
    names = (PROTOCOL_HEADER, *headers)
    return {
        "description": description,
        "headers": {name: {"$ref": f"#/components/headers/{name}"} for name in names},
        "content": {JSON: {"schema": schema}},
    }


_EXAMPLE_EVENT = {
    "id": "b6cd55d2da194f619ca9402abcaaea83",
    "unit": "330106001",
    "subject": "case:2026-000001",
    "seq": 1,
    "kind": "case_reported",
    "at": "2026-11-26T02:00:00Z",
    "payload": {
        "change": {
            "kind": "reported",
            "operator": "wang.li",
            "stage_from": None,
            "stage_to": "reported",
        },
        "case": {
            "number": "2026-000001",
            "title": "Basement car park of building 3 flooded",
            "description": "",
            "category": "natural_disaster",
            "type": "flood",
            "severity": "III",
            "urgency": "urgent",
            "stage": "registered",
            "location": "12 Xingfu Road, building 3",
            "lat": 30.27,
            "lon": 120.15,
            "grid": "G01",
            "source": "phone",
            "tags": [],
            "assignee": None,
            "reported_at": "2026-11-26T02:00:00Z",
            "stage_since": "2026-11-26T02:05:00Z",
            "deadline": "2026-11-26T03:05:00Z",
            "overdue": False,
            "parked": False,
            "supervised": False,
            "extensions": 0,
            "updated_at": "2026-11-26T02:05:00Z",
            "closed_at": None,
            "active": True,
            "merged_into": None,
        },
    },
}


def _paths() -> dict[str, Schema]:
    common = [(401, "Unauthorized"), (429, "TooManyRequests"), (503, "Busy")]
    return {
        "/v1/events": {
            "post": {
                "operationId": "postEvents",
                "summary": "Send a batch of events",
                "description": "One transaction per batch, events in batch order; one result "
                "per event. See docs/uplink-protocol.md for the ingestion rules.",
                "parameters": [
                    {"$ref": "#/components/parameters/Protocol"},
                    {"$ref": "#/components/parameters/IdempotencyKey"},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": _ref("Batch"),
                            "example": {
                                "version": PROTOCOL_VERSION,
                                "unit": "330106001",
                                "events": [_EXAMPLE_EVENT],
                            },
                        }
                    },
                },
                "responses": _responses(
                    _ok("One result per event.", _ref("EventsResponse"), REPLAYED_HEADER),
                    (400, "BadRequest"),
                    (403, "Forbidden"),
                    (408, "RequestTimeout"),
                    (413, "TooLarge"),
                    (422, "Unprocessable"),
                    *common,
                ),
            }
        },
        "/v1/units/{code}/state": {
            "get": {
                "operationId": "getUnitState",
                "summary": "What the hub holds for the unit, to resynchronise",
                "parameters": [
                    {"$ref": "#/components/parameters/Protocol"},
                    {"$ref": "#/components/parameters/Code"},
                    {"$ref": "#/components/parameters/After"},
                    {"$ref": "#/components/parameters/Limit"},
                    {"$ref": "#/components/parameters/Subject"},
                ],
                "responses": _responses(
                    _ok(
                        "A page of the unit's subjects, or with ?subject= that subject's events.",
                        {"oneOf": [_ref("UnitState"), _ref("SubjectEvents")]},
                    ),
                    (400, "BadRequest"),
                    (403, "Forbidden"),
                    *common,
                ),
            }
        },
        "/v1/units/{code}/inbox": {
            "get": {
                "operationId": "getInbox",
                "summary": "The alerts and directives sent down to the unit, after its cursor",
                "description": "The unit takes each item in one transaction with its cursor "
                "(exactly once), then its receipt goes up as an event (alert_received, "
                "directive_received). It asks every [uplink] poll_seconds, and at once when the "
                "hub pokes it (see the webhook inboxPoke). Reading changes nothing at the hub.",
                "parameters": [
                    {"$ref": "#/components/parameters/Protocol"},
                    {"$ref": "#/components/parameters/Code"},
                    {"$ref": "#/components/parameters/Cursor"},
                    {"$ref": "#/components/parameters/InboxLimit"},
                ],
                "responses": _responses(
                    _ok("A page of the inbox.", _ref("InboxPage")),
                    (400, "BadRequest"),
                    (403, "Forbidden"),
                    *common,
                ),
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "description": "Any valid unit token; the Dutydesk-Protocol header is optional.",
                "responses": _responses(
                    _ok("The OpenAPI 3.1 description of the protocol.", {"type": "object"}),
                    *common,
                ),
            }
        },
    }


def _webhooks() -> dict[str, Schema]:
    return {
        "inboxPoke": {
            "post": {
                "operationId": "pokeInbox",
                "summary": f"The hub tells a unit that its inbox has news ({POKE_PATH})",
                "description": f"Sent by the hub to `<push URL>{POKE_PATH}` of a unit "
                "registered with a push URL, as soon as items are queued for it. Not the "
                "bearer token: signed with HMAC-SHA256 keyed by the hex SHA-256 of the unit's "
                f"token, over `<{TIMESTAMP_HEADER}>.` + the body; the timestamp within the "
                "unit's signature window, each signature accepted once. The unit then pulls "
                "its inbox at once; a lost or refused poke only delays the item to the next "
                "poll.",
                "security": [],
                "parameters": [
                    {
                        "name": TIMESTAMP_HEADER,
                        "in": "header",
                        "required": True,
                        "description": "Unix seconds when the hub sent it.",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
                    },
                    {
                        "name": SIGNATURE_HEADER,
                        "in": "header",
                        "required": True,
                        "description": "v1= and 64 lowercase hex digits.",
                        "schema": {"type": "string", "pattern": "^v1=[0-9a-f]{64}$"},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "description": f"At most {POKE_BODY_LIMIT} bytes.",
                    "content": {JSON: {"schema": _ref("Poke")}},
                },
                "responses": {
                    "202": {"description": "The unit pulls its inbox now."},
                    "400": {"description": "Not the body above."},
                    "401": {"description": "Unsigned, badly signed, stale or replayed."},
                    "403": {"description": "A poke for another unit."},
                    "413": {"description": "A larger body."},
                    "429": {"description": "Too many pokes."},
                    "503": {"description": "The unit cannot read its token."},
                },
            }
        }
    }


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the uplink protocol (plain JSON-ready dictionaries)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dutydesk uplink",
            "version": str(PROTOCOL_VERSION),
            "summary": "Status flows up from a unit (township, county) to the hub above it.",
            "description": "Events of a unit's cases, mobilizations, handovers and audit "
            "heads, sent in order, exactly once, to the hub above; CAP alerts and directives "
            "sent down to the unit's inbox, and their receipts and replies back up. Every "
            "path is under the hub's base URL; every request carries "
            "`Authorization: Bearer <unit token>` and "
            f"`{PROTOCOL_HEADER}: {PROTOCOL_VERSION}`; bodies are UTF-8 JSON. The protocol, "
            "its ingestion rules and each payload field by field: docs/uplink-protocol.md.",
        },
        "security": [{"unitToken": []}],
        "paths": _paths(),
        "webhooks": _webhooks(),
        "components": {
            "securitySchemes": {
                "unitToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The unit's token, made by `dutydesk hub unit add` at the "
                    "hub and shown once (ddh_...).",
                }
            },
            "schemas": _schemas(),
            "responses": _RESPONSES,
            "parameters": _PARAMETERS,
            "headers": _HEADERS,
        },
    }
