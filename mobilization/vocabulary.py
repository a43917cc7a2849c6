"""Provides the mobilization's words: its states, modes and kinds, and the limits of a call-out.

Each state is a :class:`~enum.StrEnum` whose value is the code stored in the database and
printed by ``--json``, and whose ``.label`` is the word shown to people, translated when it is
read (as :class:`incidents.models.Stage` does). The CLI and the TUI add glyphs and colours, never
words of their own. Kept apart from the records (:mod:`mobilization.models`): the console's
first frame draws these states and needs none of the records.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

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
