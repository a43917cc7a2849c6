"""Provides the vocabulary of information reports (初报、续报、终报): the one owner of their words.

An **information report** (sitrep) tells the level above what is happening with a case: the
**initial** report (初报) soon after the case was received, **follow-ups** (续报一, 续报二 ...)
as it develops and at least daily while it lasts, and the **final** report (终报) once it is
closed. A report given by **phone** before the written one is a report of its own channel.
Which cases must be reported and how fast is decided by
:class:`~uplink.sitrep_rules.SitrepRules` (the ``[sitrep]`` configuration); each duty that
follows is an **obligation** with a deadline, met by a report sent in time, late, or still
owed.

Casualty and evacuation figures are structured (:class:`Figures`: numbers valid at a time),
so a follow-up says what changed since the last report and the final report has the totals.
The text fields of a report (:data:`TEXT_FIELDS`) are the standard elements of a Chinese
duty office's report, with the Chinese labels the form and the documents use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from store.clock import from_iso, to_iso
from store.errors import InvalidInput
from store.i18n import N_, _

# The information reports' timeline entries (uplink.sitreps writes them on the case's timeline)
# in words: one owner for the console's timeline and the reports' activity log.
EVENT_NAMES = {
    "sitrep_drafted": N_("report drafted"),
    "sitrep_edited": N_("report edited"),
    "sitrep_signed": N_("report signed off"),
    "sitrep_unsigned": N_("sign-off voided"),
    "sitrep_sent": N_("report sent"),
    "sitrep_phoned": N_("reported by phone"),
    "sitrep_discarded": N_("report discarded"),
    "sitrep_marked": N_("reporting marked"),
    "sitrep_received": N_("received time corrected"),
    "sitrep_figures": N_("casualties recorded"),
    "sitrep_overdue": N_("report overdue"),
}

MAX_FIGURE = 10_000_000  # no count of people is larger; a typo is refused, not stored


class ReportKind(StrEnum):
    """What a report is in the sequence of a case's reports."""

    INITIAL = "initial"  # 初报
    FOLLOWUP = "followup"  # 续报 (numbered)
    FINAL = "final"  # 终报

    @property
    def label_zh(self) -> str:
        return _KIND_ZH[self]

    @property
    def label(self) -> str:
        return _(_KIND_NAMES[self])

    @classmethod
    def parse(cls, text: str) -> ReportKind:
        value = text.strip().lower()
        for kind in cls:
            if value in (kind.value, kind.label_zh):
                return kind
        raise InvalidInput(
            _("unknown report kind {text!r}; use initial, followup or final").format(text=text),
            "kind",
        )


_KIND_ZH = {ReportKind.INITIAL: "初报", ReportKind.FOLLOWUP: "续报", ReportKind.FINAL: "终报"}
_KIND_NAMES = {
    ReportKind.INITIAL: N_("initial report"),
    ReportKind.FOLLOWUP: N_("follow-up"),
    ReportKind.FINAL: N_("final report"),
}

CHINESE_NUMERALS = "零一二三四五六七八九十"


def chinese_number(n: int) -> str:
    """1 -> 一, 12 -> 十二, 20 -> 二十, 35 -> 三十五 (as follow-ups are numbered; up to 99)."""
    if n <= 10:
        return CHINESE_NUMERALS[n]
    tens, ones = divmod(n, 10)
    if n >= 100:
        return str(n)
    head = "" if tens == 1 else CHINESE_NUMERALS[tens]
    return head + "十" + (CHINESE_NUMERALS[ones] if ones else "")


def report_name(kind: ReportKind, seq: int) -> str:
    """The report's short Chinese name: 初报, 续报二, 终报 (``seq`` numbers follow-ups from 1)."""
    if kind is ReportKind.FOLLOWUP:
        return kind.label_zh + chinese_number(seq)
    return kind.label_zh


class Channel(StrEnum):
    """How a report went up: written (through the uplink, signed off) or given by phone."""

    WRITTEN = "written"
    PHONE = "phone"

    @property
    def label(self) -> str:
        return _(_CHANNEL_NAMES[self])


_CHANNEL_NAMES = {Channel.WRITTEN: N_("written"), Channel.PHONE: N_("by phone")}


class ReportState(StrEnum):
    """Where a written report stands: drafted, signed off (签发), sent up, received (签收)."""

    DRAFT = "draft"
    SIGNED = "signed"
    SENT = "sent"  # in the outbox, on its way up (never edited again)
    RECEIVED = "received"  # the hub accepted it: its receipt (签收)

    @property
    def label_zh(self) -> str:
        return _STATE_ZH[self]

    @property
    def label(self) -> str:
        return _(_STATE_NAMES[self])

    @property
    def final(self) -> bool:
        """Sent or received: the text is fixed; a correction is a new follow-up."""
        return self in (ReportState.SENT, ReportState.RECEIVED)


_STATE_ZH = {
    ReportState.DRAFT: "草稿",
    ReportState.SIGNED: "已签发",
    ReportState.SENT: "已报送",
    ReportState.RECEIVED: "已签收",
}
_STATE_NAMES = {
    ReportState.DRAFT: N_("draft"),
    ReportState.SIGNED: N_("signed off"),
    ReportState.SENT: N_("sent"),
    ReportState.RECEIVED: N_("received"),
}


class ObligationKind(StrEnum):
    """A duty to report: by phone, the written initial report, a follow-up on a change, the
    daily follow-up of a long event, the final report."""

    PHONE = "phone"
    INITIAL = "initial"
    FOLLOWUP = "followup"
    DAILY = "daily"
    FINAL = "final"

    @property
    def label_zh(self) -> str:
        return _OBLIGATION_ZH[self]

    @property
    def label(self) -> str:
        return _(_OBLIGATION_NAMES[self])


_OBLIGATION_ZH = {
    ObligationKind.PHONE: "电话报告",
    ObligationKind.INITIAL: "初报",
    ObligationKind.FOLLOWUP: "续报",
    ObligationKind.DAILY: "每日续报",
    ObligationKind.FINAL: "终报",
}
_OBLIGATION_NAMES = {
    ObligationKind.PHONE: N_("phone report"),
    ObligationKind.INITIAL: N_("initial report"),
    ObligationKind.FOLLOWUP: N_("follow-up"),
    ObligationKind.DAILY: N_("daily follow-up"),
    ObligationKind.FINAL: N_("final report"),
}


class ObligationState(StrEnum):
    """Where an obligation stands at a given moment."""

    PENDING = "pending"  # not met, not yet due
    OVERDUE = "overdue"  # not met, past due (an initial one is "missing" at the hub: 漏报)
    MET = "met"  # met on time
    LATE = "late"  # met after its deadline (迟报)
    CANCELLED = "cancelled"  # no longer owed (the case was voided, reopened, de-escalated)

    @property
    def label_zh(self) -> str:
        return _OBLIGATION_STATE_ZH[self]

    @property
    def label(self) -> str:
        return _(_OBLIGATION_STATE_NAMES[self])

    @property
    def open(self) -> bool:
        return self in (ObligationState.PENDING, ObligationState.OVERDUE)


_OBLIGATION_STATE_ZH = {
    ObligationState.PENDING: "待报",
    ObligationState.OVERDUE: "超时未报",
    ObligationState.MET: "按时",
    ObligationState.LATE: "迟报",
    ObligationState.CANCELLED: "已取消",
}
_OBLIGATION_STATE_NAMES = {
    ObligationState.PENDING: N_("still due"),
    ObligationState.OVERDUE: N_("overdue"),
    ObligationState.MET: N_("on time"),
    ObligationState.LATE: N_("late"),
    ObligationState.CANCELLED: N_("cancelled"),
}


class Reason(StrEnum):
    """Why an obligation exists (its reason is shown beside it)."""

    RECEIVED = "received"  # a reportable case was received
    ESCALATED = "escalated"  # the case became reportable later (severity raised, marked)
    SEVERITY = "severity"  # its severity changed
    FIGURES = "figures"  # casualty or evacuation figures changed
    STAGE = "stage"  # it moved along the closed loop
    DAILY = "daily"  # a day passed since the last report
    CLOSED = "closed"  # it was closed

    @property
    def label(self) -> str:
        return _(_REASON_NAMES[self])


_REASON_NAMES = {
    Reason.RECEIVED: N_("case received"),
    Reason.ESCALATED: N_("became reportable"),
    Reason.SEVERITY: N_("severity changed"),
    Reason.FIGURES: N_("casualties changed"),
    Reason.STAGE: N_("stage changed"),
    Reason.DAILY: N_("daily while open"),
    Reason.CLOSED: N_("case closed"),
}


# --- figures ---------------------------------------------------------------------------------

FIGURE_NAMES = ("dead", "injured", "missing", "trapped", "evacuated")
FIGURE_ZH = {
    "dead": "死亡",
    "injured": "受伤",
    "missing": "失联",
    "trapped": "被困",
    "evacuated": "转移疏散",
}


@dataclass(frozen=True)
class Figures:
    """Casualty and evacuation counts valid at ``as_of``; ``None``: not known (not zero)."""

    dead: int | None = None
    injured: int | None = None
    missing: int | None = None
    trapped: int | None = None
    evacuated: int | None = None
    as_of: datetime | None = None

    def counts(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in FIGURE_NAMES}

    @property
    def known(self) -> bool:
        return any(value is not None for value in self.counts().values())

    def changes(self, before: Figures | None) -> dict[str, tuple[int | None, int | None]]:
        """What differs from ``before`` (the last report's figures): name -> (old, new)."""
        old = before.counts() if before is not None else dict.fromkeys(FIGURE_NAMES)
        return {
            name: (old[name], new)
            for name, new in self.counts().items()
            if new is not None and new != old[name]
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.counts(), "as_of": to_iso(self.as_of) if self.as_of else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Figures:
        if not data:
            return cls()
        as_of = data.get("as_of")
        return cls(
            **{name: data.get(name) for name in FIGURE_NAMES},
            as_of=from_iso(as_of) if as_of else None,
        )

    @classmethod
    def parse(cls, values: Mapping[str, Any], as_of: datetime | None) -> Figures:
        """Counts as a person gave them (text or numbers); empty or None stays unknown.

        Raises:
            InvalidInput: a name that is not a figure, a negative, fractional or non-numeric
                count, or one beyond :data:`MAX_FIGURE`; the field is the figure's name.
        """
        counts: dict[str, int | None] = {}
        for name, raw in values.items():
            if name not in FIGURE_NAMES:
                raise InvalidInput(
                    _("unknown figure {name!r}; use {names}").format(
                        name=name, names=", ".join(FIGURE_NAMES)
                    ),
                    name,
                )
            counts[name] = parse_count(raw, name)
        return cls(**counts, as_of=as_of)


def parse_count(raw: Any, name: str) -> int | None:
    """One count of people: a whole number 0..MAX_FIGURE, or None when empty."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise InvalidInput(_("{name} must be a whole number").format(name=name), name)
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not text.lstrip("-").isdigit():
            raise InvalidInput(
                _("{name} must be a whole number of people, not {text!r}").format(
                    name=name, text=text
                ),
                name,
            )
        value = int(text)
    if value < 0:
        raise InvalidInput(
            _("{name} cannot be negative ({value})").format(name=name, value=value), name
        )
    if value > MAX_FIGURE:
        raise InvalidInput(
            _("{name} is more than {limit}").format(name=name, limit=MAX_FIGURE), name
        )
    return value


# --- the report's text fields ------------------------------------------------------------------

TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("received", "接报时间及来源"),
    ("occurred", "事发时间"),
    ("place", "事发地点"),
    ("nature", "事件性质及类别"),
    ("area", "影响范围"),
    ("damage", "财产损失"),
    ("trend", "发展趋势"),
    ("leaders", "到场领导"),
    ("measures", "已采取措施"),
    ("next_steps", "下步工作及请求事项"),
    ("unit", "报告单位"),
    ("contact", "联系人及电话"),
    ("corrects", "更正说明"),
)
"""The report's text elements in their conventional order: name -> Chinese label."""
FIELD_NAMES = tuple(name for name, _label in TEXT_FIELDS)
FIELD_ZH = dict(TEXT_FIELDS)


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sitrep:
    """One information report of a case, as stored.

    ``seq`` numbers follow-ups from 1 (续报一); initial and final reports have 0. A phone report
    (``channel`` phone) has ``phoned_to`` and is sent when recorded. ``text`` is the exact text
    sent (set when it was sent; None before).
    """

    id: int
    case_id: int
    case_number: str
    kind: ReportKind
    seq: int
    channel: Channel
    state: ReportState
    fields: dict[str, str]
    figures: Figures
    corrects: int | None  # the report this one corrects
    drafted_by: str
    drafted_at: datetime
    updated_at: datetime
    signed_by: str | None = None
    signed_at: datetime | None = None
    sent_by: str | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None  # the hub's receipt (签收)
    phoned_to: str | None = None
    text: str | None = None

    @property
    def name(self) -> str:
        """初报, 续报二, 终报; 电话报告 for a report by phone."""
        if self.channel is Channel.PHONE:
            return ObligationKind.PHONE.label_zh
        return report_name(self.kind, self.seq)

    def to_json(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return to_iso(at) if at is not None else None

        return {
            "id": self.id,
            "case": self.case_number,
            "kind": self.kind.value,
            "seq": self.seq,
            "name": self.name,
            "channel": self.channel.value,
            "state": self.state.value,
            "fields": dict(self.fields),
            "figures": self.figures.to_json(),
            "corrects": self.corrects,
            "drafted_by": self.drafted_by,
            "drafted_at": to_iso(self.drafted_at),
            "updated_at": to_iso(self.updated_at),
            "signed_by": self.signed_by,
            "signed_at": iso(self.signed_at),
            "sent_by": self.sent_by,
            "sent_at": iso(self.sent_at),
            "received_at": iso(self.received_at),
            "phoned_to": self.phoned_to,
            "text": self.text,
        }


@dataclass(frozen=True)
class Obligation:
    """One duty to report a case, with its deadline; ``met_by`` is the report that met it.

    ``seq`` numbers obligations of one kind per case from 1 (the stored row's key with the
    case and kind). The state depends on the moment: :meth:`state_at`.
    """

    case_id: int
    case_number: str
    kind: ObligationKind
    seq: int
    reason: Reason
    since: datetime  # what started the clock (received, escalated, changed, closed)
    due: datetime
    met_at: datetime | None = None
    met_by: int | None = None  # the sitrep's id (the hub: the report event's id as text)
    cancelled: bool = False
    id: int | None = None  # the stored row (None: computed, not stored)

    def state_at(self, now: datetime) -> ObligationState:
        if self.cancelled:
            return ObligationState.CANCELLED
        if self.met_at is not None:
            return ObligationState.MET if self.met_at <= self.due else ObligationState.LATE
        return ObligationState.OVERDUE if now > self.due else ObligationState.PENDING

    def delay_at(self, now: datetime) -> float | None:
        """Minutes past the deadline (met late, or still owed); None when on time or not due."""
        end = self.met_at if self.met_at is not None else now
        if self.cancelled or end <= self.due:
            return None
        return (end - self.due).total_seconds() / 60

    def to_json(self, now: datetime) -> dict[str, Any]:
        delay = self.delay_at(now)
        return {
            "id": self.id,
            "case": self.case_number,
            "kind": self.kind.value,
            "seq": self.seq,
            "reason": self.reason.value,
            "since": to_iso(self.since),
            "due": to_iso(self.due),
            "met_at": to_iso(self.met_at) if self.met_at else None,
            "met_by": self.met_by,
            "state": self.state_at(now).value,
            "delay_minutes": round(delay, 1) if delay is not None else None,
        }


@dataclass(frozen=True)
class CaseMoment:
    """A case as it stood after one change: the input of the obligation calculator.

    Built from the unit's timeline (the township) or from the case events the hub received.
    ``figures_changed`` says this change recorded new casualty/evacuation figures.
    """

    at: datetime
    category: str
    type: str
    severity: int
    stage: str  # incidents.models.Stage value
    received_at: datetime
    marked: bool = False  # marked "to be reported", or sensitive
    figures_changed: bool = False


@dataclass(frozen=True)
class Filed:
    """A report as the calculator sees it: what, when (sent), and its reference."""

    ref: int
    kind: ReportKind
    channel: Channel
    at: datetime


@dataclass(frozen=True)
class SitrepDoc:
    """What the documents render: a report with its case and reporting unit.

    Attributes:
        previous: the figures of the last report sent before this one (a follow-up says what
            changed); None for the first.
    """

    sitrep: Sitrep
    case_title: str
    unit_name: str
    previous: Figures | None = None
    corrects_name: str | None = None  # e.g. 续报一, when this report corrects that one
    extra: dict[str, Any] = field(default_factory=dict)
