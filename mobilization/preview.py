"""Provides the preview of a mobilization before it starts: who would be called, per grid or team.

Starting a mobilization sends real messages at once, so the officer is shown first how many
people each grid and team would call, which nodes have nobody on post now (their alternates
would be called), and whether the case already has a mobilization running. The preview walks
the same part of the contact tree as :func:`mobilization.start_mobilization` (and refuses the
same unknown targets) and resolves each node's people now, without writing anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address
from urllib.parse import urlsplit

from contacts.teams import get_team
from jurisdiction.units import get_unit
from mobilization.acks import make_token
from mobilization.cascade import _group_of, _select_nodes
from mobilization.channels import SmsLength, signed, sms_length
from mobilization.delivery import notify_text
from mobilization.models import Mobilization, Target
from mobilization.progress import list_mobilizations
from mobilization.trees import DEFAULT_TREE, get_tree, resolve
from mobilization.vocabulary import DEFAULT_TTL, MobilizationState, Mode
from store.db import Database
from store.errors import NotFound
from store.i18n import _
from store.keys import KeyRing


@dataclass(frozen=True)
class GroupCount:
    """The people one grid or team names (``code`` ``""``: nodes above any grid or team);
    someone in two groups counts in both, and is called once."""

    code: str
    label: str
    people: int


@dataclass(frozen=True)
class Preview:
    """Who a mobilization would call now.

    Attributes:
        people: the distinct people named by the chosen nodes now (each called once).
        groups: per grid or team, in tree order; the nodes above them last.
        unfilled: the labels of nodes nobody holds now (their alternates would be called).
        nodes: how many nodes of the contact tree would be walked.
    """

    people: int
    groups: tuple[GroupCount, ...]
    unfilled: tuple[str, ...]
    nodes: int


def _group_label(db: Database, code: str) -> str:
    """A grid's or a team's name, for the officer (the code when neither has it)."""
    with contextlib.suppress(NotFound):  # not a grid: a team, then
        return get_unit(db, code).name
    try:
        return get_team(db, code).name
    except NotFound:
        return code


def preview_mobilization(
    db: Database, now: datetime, targets: Sequence[Target], *, tree: str = DEFAULT_TREE
) -> Preview:
    """Who mobilizing ``targets`` would call now, counted per grid or team.

    A tree that does not exist yet (a fresh installation) previews as nobody: the caller builds
    the default tree first, as starting would.

    Raises:
        InvalidInput: a target with no node in the tree (as starting would).
    """
    nodes = get_tree(db, tree)
    if not nodes:
        return Preview(0, (), (), 0)
    chosen = _select_nodes(nodes, targets)
    chosen_codes = {n.code for n in chosen}
    groups: dict[str, str | None] = {}
    people: dict[str, set[int]] = {}
    everyone: set[int] = set()
    unfilled: list[str] = []
    for node in chosen:
        parent = node.parent_code if node.parent_code in chosen_codes else None
        group = _group_of(db, node, groups.get(parent) if parent else None)
        groups[node.code] = group
        found = resolve(db, node, now)
        if not found:
            unfilled.append(node.label)
        ids = {p.id for p in found}
        everyone |= ids  # each person is called once, however many groups name them
        people.setdefault(group or "", set()).update(ids)
    counts = [
        GroupCount(code, _group_label(db, code) if code else _("others"), len(ids))
        for code, ids in people.items()
        if code
    ]
    if people.get(""):
        counts.append(GroupCount("", _("others"), len(people[""])))
    return Preview(len(everyone), tuple(counts), tuple(unfilled), len(chosen))


def is_loopback_url(url: str) -> bool:
    """Whether links to ``url`` open only on this machine (localhost, 127.0.0.1, ::1): a reply
    link pointing there is useless on a phone (``[serve] public_url`` is unset or wrong)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def running_for_incident(db: Database, incident_id: int) -> list[Mobilization]:
    """The case's mobilizations still running, newest first."""
    return list_mobilizations(db, state=MobilizationState.ACTIVE, incident_id=incident_id)


SAMPLE_CODE = "12345"  # ack codes are 4-6 digits; the longer ones make the text a little longer
SAMPLE_RECIPIENT = 99_999


def sample_sms(
    message: str,
    *,
    exercise: bool,
    now: datetime,
    base_url: str,
    ttl: timedelta = DEFAULT_TTL,
    signature: str | None = None,
    signature_at: str = "start",
) -> tuple[str, SmsLength]:
    """The call-out SMS one person would receive, and its length in segments.

    The text is the one :func:`mobilization.delivery.notify_text` writes (the message, how to
    reply, the signed link), with a sample ack code and link token of the usual length, and
    the carriers' signature as the SMS gateway adds it.
    """
    mob = Mobilization(
        id=0,
        incident_id=None,
        incident_number=None,
        tree=DEFAULT_TREE,
        targets=(),
        message=" ".join(message.split()),
        mode=Mode.CASCADE,
        need=None,
        exercise=exercise,
        state=MobilizationState.ACTIVE,
        interval_s=0,
        expires_at=now + ttl,
        created_at=now,
        created_by="",
        finished_at=None,
    )
    token = make_token(KeyRing.ephemeral().current, SAMPLE_RECIPIENT, now + ttl)
    url = f"{base_url.rstrip('/')}/ack/{token}"
    text = signed(notify_text(mob, SAMPLE_CODE, url), signature, signature_at)
    return text, sms_length(text)
