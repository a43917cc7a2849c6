"""Mobilization (动员): contact trees, the cascade, delivery through channels, answers, progress.

A mobilization sends a message down a contact tree and tracks each person's answer; silence
escalates to alternates and the branch below a silent node is never cut off. The package sits
above ``contacts`` (people, teams, the roster) and ``jurisdiction`` (grids), whose tables it
reads to resolve who is called; below ``drills``, which runs exercise mobilizations, and the
console, which runs the engine loop and the screens.

This module is its public surface: callers import from ``mobilization``, not from its modules.

* :mod:`~mobilization.vocabulary` — the words: states, modes and kinds as enums with ``.label``;
* :mod:`~mobilization.models` — the records the others return;
* :mod:`~mobilization.trees` — contact trees: building, editing, importing, resolving, checking;
* :mod:`~mobilization.cascade` — start, walk, cancel and re-send; the runner's time-outs;
* :mod:`~mobilization.delivery` — routes, claims, outcomes, the per-person interval, the texts;
* :mod:`~mobilization.answers` — answers by signed link, SMS reply, ack code or the officer;
* :mod:`~mobilization.progress` — the reads: counts, summaries, nodes, people, attempts;
* :mod:`~mobilization.channels` — the senders (log, SMS gateway, chat robot, e-mail);
* :mod:`~mobilization.settings` — ``[channels.*]`` of the configuration, checked (light: the
  configuration is read by every command and the console's first frame);
* :mod:`~mobilization.acks` — signed ack tokens and SMS reply parsing;
* :mod:`~mobilization.templates` — the call-out's text per incident category, filled from a case;
* :mod:`~mobilization.preview` — who a mobilization would call, before it starts.

Importing it loads none of its modules: each name loads its module on first use (PEP 562), so
the console's first frame pays for the enums it shows and not for the cascade, delivery or the
e-mail sender; the channels import their HTTP client only when a sender is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mobilization.acks import (
        adopt_legacy_secret,
        b64decode_token,
        b64encode_token,
        make_token,
        parse_reply,
        read_token,
    )
    from mobilization.answers import (
        CallOutOver,
        LinkRefused,
        WrongCode,
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
        Delivery,
        EmailSender,
        LogSender,
        Outgoing,
        Sender,
        SmsLength,
        SmsSender,
        WebhookSender,
        build_senders,
        local_fault,
        signed,
        sms_length,
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
        Answer,
        Called,
        Counts,
        Mobilization,
        NodeState,
        SilentPerson,
        Summary,
        Target,
    )
    from mobilization.preview import (
        GroupCount,
        Preview,
        is_loopback_url,
        preview_mobilization,
        running_for_incident,
        sample_sms,
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
    from mobilization.settings import ChannelSettings, SmsSettings, parse_channels
    from mobilization.templates import CaseFacts, check_templates, fill, template_for
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
        store_tree,
        subtree,
        tree_to_json,
    )
    from mobilization.vocabulary import (
        ANSWERED,
        DEFAULT_INTERVAL_S,
        DEFAULT_TTL,
        MAX_MESSAGE,
        MODES,
        NEGATIVE,
        OPEN,
        RECIPIENT_STATE_NAMES,
        SILENT,
        TARGET_KINDS,
        AttemptKind,
        AttemptState,
        MobilizationState,
        Mode,
        NodeStatus,
        RecipientState,
        TargetKind,
    )

# name -> the module that defines it; loaded on first use (see the module docstring).
_WHERE: dict[str, str] = {
    "ANSWERED": "mobilization.vocabulary",
    "Answer": "mobilization.models",
    "AttemptKind": "mobilization.vocabulary",
    "AttemptState": "mobilization.vocabulary",
    "Called": "mobilization.models",
    "CallOutOver": "mobilization.answers",
    "CascadeTxn": "mobilization.cascade",
    "ChannelSettings": "mobilization.settings",
    "Counts": "mobilization.models",
    "DEFAULT_INTERVAL_S": "mobilization.vocabulary",
    "DEFAULT_TREE": "mobilization.trees",
    "DEFAULT_TTL": "mobilization.vocabulary",
    "Delivery": "mobilization.channels",
    "local_fault": "mobilization.channels",
    "EmailSender": "mobilization.channels",
    "LogSender": "mobilization.channels",
    "MAX_MESSAGE": "mobilization.vocabulary",
    "MODES": "mobilization.vocabulary",
    "LinkRefused": "mobilization.answers",
    "Mobilization": "mobilization.models",
    "MobilizationState": "mobilization.vocabulary",
    "Mode": "mobilization.vocabulary",
    "NEGATIVE": "mobilization.vocabulary",
    "NodeRef": "mobilization.trees",
    "NodeState": "mobilization.models",
    "NodeStatus": "mobilization.vocabulary",
    "OPEN": "mobilization.vocabulary",
    "Outgoing": "mobilization.channels",
    "RECIPIENT_STATE_NAMES": "mobilization.vocabulary",
    "RecipientState": "mobilization.vocabulary",
    "Routing": "mobilization.delivery",
    "SILENT": "mobilization.vocabulary",
    "Sender": "mobilization.channels",
    "SilentPerson": "mobilization.models",
    "SmsSender": "mobilization.channels",
    "SmsSettings": "mobilization.settings",
    "Summary": "mobilization.models",
    "TARGET_KINDS": "mobilization.vocabulary",
    "Target": "mobilization.models",
    "TargetKind": "mobilization.vocabulary",
    "TreeNode": "mobilization.trees",
    "TreeProblem": "mobilization.trees",
    "WebhookSender": "mobilization.channels",
    "WrongCode": "mobilization.answers",
    "add_node": "mobilization.trees",
    "answer_by_sms": "mobilization.answers",
    "answer_by_token": "mobilization.answers",
    "attempts_of": "mobilization.progress",
    "build_default_tree": "mobilization.trees",
    "build_senders": "mobilization.channels",
    "called_by_token": "mobilization.answers",
    "cancel_mobilization": "mobilization.cascade",
    "check_token": "mobilization.answers",
    "check_tree": "mobilization.trees",
    "children": "mobilization.trees",
    "claim_pending": "mobilization.delivery",
    "edit_node": "mobilization.trees",
    "ensure_default_tree": "mobilization.trees",
    "expire": "mobilization.cascade",
    "export_tree": "mobilization.trees",
    "get_mobilization": "mobilization.progress",
    "get_node": "mobilization.trees",
    "get_tree": "mobilization.trees",
    "import_tree": "mobilization.trees",
    "store_tree": "mobilization.trees",
    "adopt_legacy_secret": "mobilization.acks",
    "b64decode_token": "mobilization.acks",
    "b64encode_token": "mobilization.acks",
    "read_token": "mobilization.acks",
    "levels": "mobilization.trees",
    "list_mobilizations": "mobilization.progress",
    "list_trees": "mobilization.trees",
    "make_token": "mobilization.acks",
    "next_due": "mobilization.delivery",
    "node_states": "mobilization.progress",
    "parse_channels": "mobilization.settings",
    "parse_reply": "mobilization.acks",
    "process_due": "mobilization.cascade",
    "recipient_rows": "mobilization.progress",
    "record_answer": "mobilization.answers",
    "record_deliveries": "mobilization.delivery",
    "release_attempts": "mobilization.delivery",
    "release_claims": "mobilization.delivery",
    "remove_node": "mobilization.trees",
    "resend_silent": "mobilization.cascade",
    "resolve": "mobilization.trees",
    "shown_ref": "mobilization.trees",
    "start_mobilization": "mobilization.cascade",
    "subtree": "mobilization.trees",
    "summary": "mobilization.progress",
    "totals": "mobilization.progress",
    "tree_to_json": "mobilization.trees",
    "SmsLength": "mobilization.channels",
    "signed": "mobilization.channels",
    "sms_length": "mobilization.channels",
    "GroupCount": "mobilization.preview",
    "Preview": "mobilization.preview",
    "is_loopback_url": "mobilization.preview",
    "preview_mobilization": "mobilization.preview",
    "running_for_incident": "mobilization.preview",
    "sample_sms": "mobilization.preview",
    "CaseFacts": "mobilization.templates",
    "check_templates": "mobilization.templates",
    "fill": "mobilization.templates",
    "template_for": "mobilization.templates",
}

__all__ = [
    "ANSWERED",
    "Answer",
    "AttemptKind",
    "AttemptState",
    "Called",
    "CallOutOver",
    "CascadeTxn",
    "ChannelSettings",
    "Counts",
    "DEFAULT_INTERVAL_S",
    "DEFAULT_TREE",
    "DEFAULT_TTL",
    "Delivery",
    "EmailSender",
    "LogSender",
    "MAX_MESSAGE",
    "MODES",
    "LinkRefused",
    "Mobilization",
    "MobilizationState",
    "Mode",
    "NEGATIVE",
    "NodeRef",
    "NodeState",
    "NodeStatus",
    "OPEN",
    "Outgoing",
    "RECIPIENT_STATE_NAMES",
    "RecipientState",
    "Routing",
    "SILENT",
    "Sender",
    "SilentPerson",
    "SmsSender",
    "SmsSettings",
    "Summary",
    "TARGET_KINDS",
    "Target",
    "TargetKind",
    "TreeNode",
    "TreeProblem",
    "WebhookSender",
    "WrongCode",
    "add_node",
    "answer_by_sms",
    "answer_by_token",
    "attempts_of",
    "build_default_tree",
    "build_senders",
    "called_by_token",
    "cancel_mobilization",
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
    "store_tree",
    "adopt_legacy_secret",
    "b64decode_token",
    "b64encode_token",
    "read_token",
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
    "local_fault",
    "release_attempts",
    "release_claims",
    "remove_node",
    "resend_silent",
    "resolve",
    "shown_ref",
    "start_mobilization",
    "subtree",
    "summary",
    "totals",
    "tree_to_json",
    "SmsLength",
    "signed",
    "sms_length",
    "GroupCount",
    "Preview",
    "is_loopback_url",
    "preview_mobilization",
    "running_for_incident",
    "sample_sms",
    "CaseFacts",
    "check_templates",
    "fill",
    "template_for",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mobilization' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
