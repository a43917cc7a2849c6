"""Provides the mobilization vocabulary: its states, modes and kinds, and the records it returns.

Plain data shared by the cascade, delivery, answers and progress modules and by the console:
each state is a :class:`~enum.StrEnum` whose value is the code stored in the database and
printed by ``--json``, and whose ``.label`` is the word shown to people, translated when it is
read (as :class:`incidents.models.Stage` does). The CLI and the TUI add glyphs and colours, never
words of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from store.errors import InvalidInput
from store.i18n import N_, _

DEFAULT_INTERVAL_S = 60
DEFAULT_TTL = timedelta(hours=24)
MAX_MESSAGE = 500


class MobilizationState(StrEnum):
    """A mobilization runs (``active``) until nothing is left to send or wait for."""

    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _(MOBILIZATION_STATE_NAMES[self])


MOBILIZATION_STATE_NAMES = {
    MobilizationState.ACTIVE: N_("active"),
    MobilizationState.COMPLETED: N_("completed"),
    MobilizationState.CANCELLED: N_("cancelled"),
}


class Mode(StrEnum):
    """``cascade``: down the tree level by level; ``broadcast``: every node at once."""

    CASCADE = "cascade"
    BROADCAST = "broadcast"

    @property
    def label(self) -> str:
        return _(MODE_NAMES[self])


MODE_NAMES = {Mode.CASCADE: N_("cascade"), Mode.BROADCAST: N_("broadcast")}
MODES = tuple(Mode)


# Kinds of the events a mobilization writes into its case's timeline -> what people call them.
EVENT_NAMES = {
    "mobilization_started": N_("mobilization started"),
    "mobilization_node_unreachable": N_("nobody reached"),
    "mobilization_completed": N_("mobilization completed"),
    "mobilization_cancelled": N_("mobilization cancelled"),
    "mobilization_resent": N_("sent again"),
    "mobilization_answer": N_("answer recorded"),
    "mobilization_answer_changed": N_("answer changed"),
}


class TargetKind(StrEnum):
    """What a target names; always written as a code (``grid:G01``), so it has no label."""

    GRID = "grid"
    TEAM = "team"
    NODE = "node"


TARGET_KINDS = tuple(TargetKind)


class RecipientState(StrEnum):
    """One person's state in one mobilization::

    queued → sent → yes | no | no_answer → escalated | unreachable
                  (stood_down when --need is met, cancelled when the mobilization is)
    """

    QUEUED = "queued"
    SENT = "sent"
    YES = "yes"
    NO = "no"
    NO_ANSWER = "no_answer"
    ESCALATED = "escalated"
    UNREACHABLE = "unreachable"
    STOOD_DOWN = "stood_down"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _(RECIPIENT_STATE_NAMES[self])


RECIPIENT_STATE_NAMES = {
    RecipientState.QUEUED: N_("queued"),
    RecipientState.SENT: N_("sent"),
    RecipientState.YES: N_("said yes"),
    RecipientState.NO: N_("said no"),
    RecipientState.NO_ANSWER: N_("no answer"),
    RecipientState.ESCALATED: N_("escalated"),
    RecipientState.UNREACHABLE: N_("unreachable"),
    RecipientState.STOOD_DOWN: N_("stood down"),
    RecipientState.CANCELLED: N_("cancelled"),
}
# Still waiting to be sent or to answer.
OPEN = frozenset({RecipientState.QUEUED, RecipientState.SENT})
ANSWERED = frozenset({RecipientState.YES, RecipientState.NO})
# Counts against a node: its next alternate is called once all its current people are here.
NEGATIVE = frozenset(
    {
        RecipientState.NO,
        RecipientState.NO_ANSWER,
        RecipientState.ESCALATED,
        RecipientState.UNREACHABLE,
        RecipientState.STOOD_DOWN,
        RecipientState.CANCELLED,
    }
)
# Called and not answered: what the counters and the "still silent" list show.
SILENT = frozenset({RecipientState.SENT, RecipientState.NO_ANSWER, RecipientState.ESCALATED})


class NodeStatus(StrEnum):
    """The state of one node of a running mobilization (:class:`NodeState` is the node drawn)."""

    WAITING = "waiting"
    ACTIVE = "active"
    YES = "yes"
    UNREACHABLE = "unreachable"
    STOOD_DOWN = "stood_down"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _(NODE_STATUS_NAMES[self])


NODE_STATUS_NAMES = {
    NodeStatus.WAITING: N_("waiting"),
    NodeStatus.ACTIVE: N_("calling"),
    NodeStatus.YES: N_("said yes"),
    NodeStatus.UNREACHABLE: N_("unreachable"),
    NodeStatus.STOOD_DOWN: N_("stood down"),
    NodeStatus.CANCELLED: N_("cancelled"),
}


class AttemptKind(StrEnum):
    """What a message is: the call-out, or a follow-up to someone already called."""

    NOTIFY = "notify"
    STAND_DOWN = "stand_down"
    CANCEL = "cancel"
    NOTICE = "notice"

    @property
    def label(self) -> str:
        return _(ATTEMPT_KIND_NAMES[self])


ATTEMPT_KIND_NAMES = {
    AttemptKind.NOTIFY: N_("notify"),
    AttemptKind.STAND_DOWN: N_("stand down"),
    AttemptKind.CANCEL: N_("cancel"),
    AttemptKind.NOTICE: N_("notice"),
}


class AttemptState(StrEnum):
    """One send: ``pending`` until its outcome is recorded (re-sent after a crash, same id)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return _(ATTEMPT_STATE_NAMES[self])


ATTEMPT_STATE_NAMES = {
    AttemptState.PENDING: N_("waiting to send"),
    AttemptState.SENT: N_("sent"),
    AttemptState.FAILED: N_("send failed"),
    AttemptState.WITHDRAWN: N_("withdrawn"),
}


@dataclass(frozen=True)
class Target:
    """What a mobilization calls: ``grid:G01``, ``team:FIRE1`` or ``node:CODE`` of the tree."""

    kind: TargetKind
    code: str

    @classmethod
    def parse(cls, text: str) -> Target:
        kind, sep, code = text.partition(":")
        if not sep or kind not in TARGET_KINDS or not code.strip():
            raise InvalidInput(
                _("{text!r} is not grid:CODE, team:CODE or node:CODE").format(text=text), "targets"
            )
        return cls(TargetKind(kind), code.strip())

    def format(self) -> str:
        return f"{self.kind}:{self.code}"


@dataclass(frozen=True)
class Mobilization:
    id: int
    incident_id: int | None
    incident_number: str | None
    tree: str
    targets: tuple[str, ...]
    message: str
    mode: Mode
    need: int | None
    exercise: bool
    state: MobilizationState
    interval_s: int
    expires_at: datetime
    created_at: datetime
    created_by: str
    finished_at: datetime | None


@dataclass(frozen=True)
class Answer:
    """The outcome of recording an answer (:func:`mobilization.answers.record_answer`)."""

    recipient_id: int
    mobilization_id: int
    name: str
    yes: bool
    first: bool
    changed: bool
    answered_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of an answer: ``dutydesk ack --json`` and the HTTP answers."""
        return {
            "mobilization": self.mobilization_id,
            "recipient": self.recipient_id,
            "name": self.name,
            "answer": RecipientState.YES if self.yes else RecipientState.NO,
            "first": self.first,
            "changed": self.changed,
            "answered_at": self.answered_at.isoformat(),
        }


@dataclass(frozen=True)
class Called:
    """Whom a signed link calls, and to what: what the link's page shows before the answer
    (:func:`mobilization.answers.called_by_token`)."""

    recipient_id: int
    name: str
    mobilization: Mobilization
    state: RecipientState
    answered_at: datetime | None


@dataclass
class Counts:
    notified: int = 0
    yes: int = 0
    no: int = 0
    silent: int = 0
    unreachable: int = 0
    queued: int = 0
    stood_down: int = 0
    cancelled: int = 0
    total: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)

    def add(self, state: str, count: int, reached: int) -> None:
        """Count ``count`` people in ``state``, ``reached`` of whom had a call-out delivered."""
        self.total += count
        self.notified += count if state in ANSWERED else reached
        if state == RecipientState.YES:
            self.yes += count
        elif state == RecipientState.NO:
            self.no += count
        elif state in SILENT:
            self.silent += count
        elif state == RecipientState.UNREACHABLE:
            self.unreachable += count
        elif state == RecipientState.QUEUED:
            self.queued += count
        elif state == RecipientState.STOOD_DOWN:
            self.stood_down += count
        elif state == RecipientState.CANCELLED:
            self.cancelled += count


@dataclass(frozen=True)
class SilentPerson:
    recipient_id: int
    name: str
    node: str
    ack_code: str
    since: datetime
    sends: int


@dataclass
class Summary:
    mobilization: Mobilization
    total: Counts
    by_level: dict[int, Counts] = field(default_factory=dict)
    by_group: dict[str, Counts] = field(default_factory=dict)
    p50_s: float | None = None
    p90_s: float | None = None
    silent: list[SilentPerson] = field(default_factory=list)
    answers_by_minute: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class NodeState:
    """One node of a running mobilization as the console draws it."""

    id: int
    code: str
    parent_id: int | None
    level: int
    label: str
    state: NodeStatus
    tier: int
    counts: Counts
    released_at: datetime | None
    settled_at: datetime | None
