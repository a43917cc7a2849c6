"""Mobilization (动员): contact trees, the cascade, delivery through channels, answers, progress.

A mobilization sends a message down a contact tree and tracks each person's answer; silence
escalates to alternates and the branch below a silent node is never cut off. The package sits
above ``contacts`` (people, teams, the roster) and ``jurisdiction`` (grids), whose tables it
reads to resolve who is called; below ``drills``, which runs exercise mobilizations, and the
console, which runs the engine loop and the screens.

This module is its public surface: callers import from ``mobilization``, not from its modules.

* :mod:`~mobilization.models` — the vocabulary (states, modes as enums with ``.label``) and records;
* :mod:`~mobilization.trees` — contact trees: building, editing, importing, resolving, checking;
* :mod:`~mobilization.cascade` — start, walk, cancel and re-send; the runner's time-outs;
* :mod:`~mobilization.delivery` — routes, claims, outcomes, the per-person interval, the texts;
* :mod:`~mobilization.answers` — answers by signed link, SMS reply, ack code or the officer;
* :mod:`~mobilization.progress` — the reads: counts, summaries, nodes, people, attempts;
* :mod:`~mobilization.channels` — the senders (log, SMS gateway, chat robot, e-mail);
* :mod:`~mobilization.acks` — signed ack tokens and SMS reply parsing.

Importing it loads neither ``httpx`` nor ``rich``: the channels import their HTTP client only
when a sender is made.
"""

from mobilization.acks import installation_secret, make_token, parse_reply
from mobilization.answers import (
    answer_by_sms,
    answer_by_token,
    called_by_token,
    check_token,
    record_answer,
)
from mobilization.cascade import (
    CascadeTxn,
    cancel_mobilization,
    expire,
    process_due,
    resend_silent,
    start_mobilization,
)
from mobilization.channels import (
    ChannelSettings,
    Delivery,
    EmailSender,
    LogSender,
    Outgoing,
    Sender,
    SmsSender,
    SmsSettings,
    WebhookSender,
    build_senders,
    parse_channels,
)
from mobilization.delivery import (
    Routing,
    claim_pending,
    next_due,
    record_deliveries,
    release_attempts,
    release_claims,
)
from mobilization.models import (
    ANSWERED,
    DEFAULT_INTERVAL_S,
    DEFAULT_TTL,
    MAX_MESSAGE,
    MODES,
    NEGATIVE,
    OPEN,
    SILENT,
    TARGET_KINDS,
    Answer,
    AttemptKind,
    AttemptState,
    Called,
    Counts,
    Mobilization,
    MobilizationState,
    Mode,
    NodeState,
    NodeStatus,
    RecipientState,
    SilentPerson,
    Summary,
    Target,
    TargetKind,
)
from mobilization.progress import (
    attempts_of,
    get_mobilization,
    list_mobilizations,
    node_states,
    recipient_rows,
    summary,
    totals,
)
from mobilization.trees import (
    DEFAULT_TREE,
    NodeRef,
    TreeNode,
    TreeProblem,
    add_node,
    build_default_tree,
    check_tree,
    children,
    edit_node,
    ensure_default_tree,
    export_tree,
    get_node,
    get_tree,
    import_tree,
    levels,
    list_trees,
    remove_node,
    resolve,
    shown_ref,
    subtree,
    tree_to_json,
)

__all__ = [
    "ANSWERED",
    "DEFAULT_INTERVAL_S",
    "DEFAULT_TREE",
    "DEFAULT_TTL",
    "MAX_MESSAGE",
    "MODES",
    "NEGATIVE",
    "OPEN",
    "SILENT",
    "TARGET_KINDS",
    "Answer",
    "Called",
    "AttemptKind",
    "AttemptState",
    "CascadeTxn",
    "ChannelSettings",
    "Counts",
    "Delivery",
    "EmailSender",
    "LogSender",
    "Mobilization",
    "MobilizationState",
    "Mode",
    "NodeRef",
    "NodeState",
    "NodeStatus",
    "Outgoing",
    "RecipientState",
    "Routing",
    "Sender",
    "SilentPerson",
    "SmsSender",
    "SmsSettings",
    "Summary",
    "Target",
    "TargetKind",
    "TreeNode",
    "TreeProblem",
    "WebhookSender",
    "add_node",
    "answer_by_sms",
    "answer_by_token",
    "attempts_of",
    "build_default_tree",
    "build_senders",
    "cancel_mobilization",
    "called_by_token",
    "check_token",
    "check_tree",
    "children",
    "claim_pending",
    "edit_node",
    "ensure_default_tree",
    "expire",
    "export_tree",
    "get_mobilization",
    "get_node",
    "get_tree",
    "import_tree",
    "installation_secret",
    "levels",
    "list_mobilizations",
    "list_trees",
    "make_token",
    "next_due",
    "node_states",
    "parse_channels",
    "parse_reply",
    "process_due",
    "recipient_rows",
    "record_answer",
    "record_deliveries",
    "release_attempts",
    "release_claims",
    "remove_node",
    "resend_silent",
    "resolve",
    "start_mobilization",
    "shown_ref",
    "subtree",
    "summary",
    "totals",
    "tree_to_json",
]
