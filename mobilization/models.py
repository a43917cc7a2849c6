"""Provides the records the mobilization returns: targets, mobilizations, answers, counts, nodes.

Plain frozen data shared by the cascade, delivery, answers and progress modules and by the
console; their states and kinds are the words of :mod:`mobilization.vocabulary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mobilization.vocabulary import (
    ANSWERED,
    SILENT,
    TARGET_KINDS,
    MobilizationState,
    Mode,
    NodeStatus,
    RecipientState,
    TargetKind,
)
from store.errors import InvalidInput
from store.i18n import _


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
