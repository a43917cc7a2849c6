"""Provides the mobilization engine's state machine: start, escalate, answer, stand down, cancel.

A mobilization snapshots the chosen part of a contact tree (:mod:`mobilization.trees`) into
``mob_nodes`` and walks it. Nodes are resolved to people when they are *released* (cascade: the
roots at once, a child when its parent answers yes or is declared unreachable; broadcast: all at
once). Each person becomes one **recipient** per mobilization, however many nodes name them, and
moves through::

    queued → sent → yes | no | no_answer → escalated | unreachable
                  (stood_down when --need is met, cancelled when the mobilization is)

A silent recipient is re-sent after the node's timeout up to its repeat count, then counts as
``no_answer``. A node whose current people are all negative (``no`` at once, ``no_answer`` after
the repeats) notifies its next alternate; with none left it is **unreachable**: its silent
people become ``unreachable``, its children are released all the same (the branch below is
never cut off) and its parent's people are told.

Everything the engine must do later is a row: ``recipients.due_at`` (send, or time out) and
``attempts`` in state ``pending`` (a send whose outcome is not yet known; re-sent after a crash
with the same id, which the gateway sees as the ``Idempotency-Key``). The async runner in
``console/engine.py`` calls :func:`process_due`, :func:`claim_pending` and
:func:`record_deliveries` in a loop; answers come through :func:`record_answer` and its
token/SMS front doors and move the cascade in the same transaction.

A person is never sent more than one message per ``interval_s`` across all mobilizations:
``person_sends`` holds when they were last (or will next be) sent something, and an attempt's
``not_before`` is pushed back to respect it.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contacts.phones import mask_phone, normalize_phone
from jurisdiction.models import Level
from mobilization.acks import TokenInvalid, installation_secret, make_token, parse_reply, read_token
from mobilization.channels import Delivery, Outgoing
from mobilization.trees import (
    DEFAULT_TREE,
    NodeRef,
    TreeNode,
    build_default_tree,
    get_tree,
    resolve,
)
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from store.i18n import _

MODES = ("cascade", "broadcast")
TARGET_KINDS = ("grid", "team", "node")
DEFAULT_INTERVAL_S = 60
DEFAULT_TTL = timedelta(hours=24)
MAX_MESSAGE = 500
FAILED_ROUND_RETRY_S = 60
OPEN = ("queued", "sent")
ANSWERED = ("yes", "no")
NEGATIVE = ("no", "no_answer", "escalated", "unreachable", "stood_down", "cancelled")
SILENT = ("sent", "no_answer", "escalated")
_NODE_KEYS = (
    "id", "parent_id", "label", "kind", "ref", "alternates", "timeout_s", "repeats", "grp",
    "state", "tier",
)  # fmt: skip


@dataclass(frozen=True)
class Target:
    """What a mobilization calls: ``grid:G01``, ``team:FIRE1`` or ``node:CODE`` of the tree."""

    kind: str
    code: str

    @classmethod
    def parse(cls, text: str) -> Target:
        kind, sep, code = text.partition(":")
        if not sep or kind not in TARGET_KINDS or not code.strip():
            raise InvalidInput(
                _("{text!r} is not grid:CODE, team:CODE or node:CODE").format(text=text), "targets"
            )
        return cls(kind, code.strip())

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
    mode: str
    need: int | None
    exercise: bool
    state: str
    interval_s: int
    expires_at: datetime
    created_at: datetime
    created_by: str
    finished_at: datetime | None


@dataclass(frozen=True)
class Answer:
    """The outcome of :func:`record_answer`."""

    recipient_id: int
    mobilization_id: int
    name: str
    yes: bool
    first: bool
    changed: bool
    answered_at: datetime


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
    state: str
    tier: int
    counts: Counts
    released_at: datetime | None
    settled_at: datetime | None


# ------------------------------------------------------------------------------- helpers


def _mob_row(row: Sequence[Any]) -> Mobilization:
    return Mobilization(
        id=int(row[0]),
        incident_id=row[1],
        incident_number=row[2],
        tree=row[3],
        targets=tuple(json.loads(row[4])),
        message=row[5],
        mode=row[6],
        need=row[7],
        exercise=bool(row[8]),
        state=row[9],
        interval_s=int(row[10]),
        expires_at=from_iso(row[11]),
        created_at=from_iso(row[12]),
        created_by=row[13],
        finished_at=from_iso(row[14]) if row[14] else None,
    )


_MOB_COLUMNS = (
    "m.id, m.incident_id, i.number, m.tree, m.targets, m.message, m.mode, m.need, m.exercise,"
    " m.state, m.interval_s, m.expires_at, m.created_at, m.created_by, m.finished_at"
)
_MOB_FROM = "mobilizations m LEFT JOIN incidents i ON i.id = m.incident_id"


def get_mobilization(db: Database, mobilization_id: int) -> Mobilization:
    row = db.conn.execute(
        f"SELECT {_MOB_COLUMNS} FROM {_MOB_FROM} WHERE m.id = ?", (mobilization_id,)
    ).fetchone()
    if row is None:
        raise NotFound(_("mobilization {id} not found").format(id=mobilization_id))
    return _mob_row(row)


def list_mobilizations(
    db: Database,
    *,
    state: str | None = None,
    exercise: bool | None = None,
    incident_id: int | None = None,
    limit: int = 50,
) -> list[Mobilization]:
    """Newest first; ``exercise`` keeps drills apart from real mobilizations when given."""
    where: list[str] = ["1=1"]
    params: list[Any] = []
    if state is not None:
        where.append("m.state = ?")
        params.append(state)
    if exercise is not None:
        where.append("m.exercise = ?")
        params.append(int(exercise))
    if incident_id is not None:
        where.append("m.incident_id = ?")
        params.append(incident_id)
    rows = db.conn.execute(
        f"SELECT {_MOB_COLUMNS} FROM {_MOB_FROM} WHERE {' AND '.join(where)}"
        " ORDER BY m.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [_mob_row(r) for r in rows]


def _group_of(db: Database, node: TreeNode, parent_group: str | None) -> str | None:
    """The grid or team a node belongs to, for ``--need``: its own if it names one."""
    if node.kind == "role" and "@" in node.ref:
        code = node.ref.split("@", 1)[1]
        row = db.conn.execute(
            "SELECT 1 FROM units WHERE code = ? AND level = ? UNION ALL"
            " SELECT 1 FROM teams WHERE code = ?",
            (code, Level.GRID.value, code),
        ).fetchone()
        if row is not None:
            return code
    return parent_group


def _select_nodes(
    db: Database, nodes: Sequence[TreeNode], targets: Sequence[Target]
) -> list[TreeNode]:
    """The subtrees the targets name, roots first, without repeats."""
    by_code = {n.code: n for n in nodes}
    kids: dict[str | None, list[TreeNode]] = {}
    for n in nodes:
        kids.setdefault(n.parent_code, []).append(n)
    roots: list[TreeNode] = []
    for target in targets:
        if target.kind == "node":
            node = by_code.get(target.code)
        else:
            ref = f"grid_leader@{target.code}" if target.kind == "grid" else None
            ref = ref or f"team_leader@{target.code}"
            node = next((n for n in nodes if n.kind == "role" and n.ref == ref), None)
        if node is None:
            raise InvalidInput(
                _(
                    "{target} has no node in the contact tree (check the code, or rebuild the"
                    " tree with `dutydesk tree build --replace`)"
                ).format(target=target.format()),
                "targets",
            )
        roots.append(node)
    # A target inside another target's subtree is reached through it (and gets its level).
    named = {r.code for r in roots}

    def inside_another(node: TreeNode) -> bool:
        parent = node.parent_code
        while parent is not None:
            if parent in named:
                return True
            parent = by_code[parent].parent_code if parent in by_code else None
        return False

    roots = [r for r in roots if not inside_another(r)]
    seen: set[str] = set()
    stack = list(reversed(roots))
    order: list[TreeNode] = []
    while stack:
        node = stack.pop()
        if node.code in seen:
            continue
        seen.add(node.code)
        order.append(node)
        stack.extend(reversed(kids.get(node.code, [])))
    return order


def _clean_message(message: str) -> str:
    text = " ".join((message or "").split())
    if not text:
        raise InvalidInput(_("must not be empty"), "message")
    if len(text) > MAX_MESSAGE:
        raise InvalidInput(
            _("is {count} characters; at most {max}").format(count=len(text), max=MAX_MESSAGE),
            "message",
        )
    return text


# ------------------------------------------------------------------------------- starting


def start_mobilization(
    db: Database,
    clock: Clock,
    operator: str,
    *,
    targets: Sequence[Target],
    message: str,
    mode: str = "cascade",
    need: int | None = None,
    exercise: bool = False,
    incident_id: int | None = None,
    tree: str = DEFAULT_TREE,
    interval_s: int = DEFAULT_INTERVAL_S,
    ttl: timedelta = DEFAULT_TTL,
) -> int:
    """Start a mobilization and release its first nodes; returns its id.

    The default tree is built from the jurisdiction first if it does not exist yet, so a grid
    can be mobilized on a fresh installation.
    """
    if mode not in MODES:
        raise InvalidInput(
            _("{mode!r} is not one of {modes}").format(mode=mode, modes=", ".join(MODES)), "mode"
        )
    if need is not None and need < 1:
        raise InvalidInput(_("must be at least 1"), "need")
    if not targets:
        raise InvalidInput(_("name at least one grid, team or tree node"), "targets")
    if interval_s < 0:
        raise InvalidInput(_("must not be negative"), "interval")
    text = _clean_message(message)
    now = clock.now()
    if incident_id is not None:
        row = db.conn.execute(
            "SELECT active FROM incidents WHERE id = ?", (incident_id,)
        ).fetchone()
        if row is None:
            raise NotFound(_("incident {id} not found").format(id=incident_id))
    with write(db):
        nodes = get_tree(db, tree)
        if not nodes and tree == DEFAULT_TREE:
            build_default_tree(db, clock, operator)
            nodes = get_tree(db, tree)
        if not nodes:
            raise NotFound(_("contact tree {tree!r} has no nodes").format(tree=tree))
        chosen = _select_nodes(db, nodes, targets)
        cur = db.conn.execute(
            "INSERT INTO mobilizations (incident_id, tree, targets, message, mode, need, exercise,"
            " state, interval_s, expires_at, created_at, created_by)"
            " VALUES (?,?,?,?,?,?,?,'active',?,?,?,?)",
            (
                incident_id,
                tree,
                json.dumps([t.format() for t in targets]),
                text,
                mode,
                need,
                int(exercise),
                interval_s,
                to_iso(now + ttl),
                to_iso(now),
                operator,
            ),
        )
        mob_id = int(cur.lastrowid or 0)
        ids: dict[str, int] = {}
        groups: dict[str, str | None] = {}
        levels: dict[str, int] = {}
        chosen_codes = {n.code for n in chosen}
        for pos, node in enumerate(chosen):
            parent = node.parent_code if node.parent_code in chosen_codes else None
            levels[node.code] = 0 if parent is None else levels[parent] + 1
            groups[node.code] = _group_of(db, node, groups.get(parent) if parent else None)
            cur = db.conn.execute(
                "INSERT INTO mob_nodes (mobilization_id, code, parent_id, level, position, label,"
                " kind, ref, alternates, timeout_s, repeats, grp, state)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'waiting')",
                (
                    mob_id,
                    node.code,
                    ids[parent] if parent else None,
                    levels[node.code],
                    pos,
                    node.label,
                    node.kind,
                    node.ref,
                    json.dumps([a.format() for a in node.alternates]),
                    node.timeout_s,
                    node.repeats,
                    groups[node.code],
                ),
            )
            ids[node.code] = int(cur.lastrowid or 0)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="mobilization_started",
            incident_id=incident_id,
            data={
                "mobilization": mob_id,
                "targets": [t.format() for t in targets],
                "mode": mode,
                "need": need,
                "exercise": exercise,
                "nodes": len(chosen),
                "message": text,
            },
        )
        engine = _Engine(db, now, get_mobilization(db, mob_id))
        first = [ids[n.code] for n in chosen if mode == "broadcast" or levels[n.code] == 0]
        engine.release(first)
        engine.finish()
    return mob_id


# ------------------------------------------------------------------------------- the walker


class _Engine:
    """The transitions of one mobilization inside one write transaction."""

    def __init__(self, db: Database, now: datetime, mob: Mobilization) -> None:
        self.db = db
        self.now = now
        self.at = to_iso(now)
        self.mob = mob
        self._codes: set[str] = set()
        self._digits: int | None = None

    # --- codes
    def _code(self) -> str:
        if self._digits is None:
            live = self.db.conn.execute("SELECT count(*) FROM recipients WHERE live = 1").fetchone()
            self._digits = max(4, math.ceil(math.log10(max(10, (int(live[0]) + 100) * 20))))
        for _attempt in range(50):
            code = str(random.randrange(10 ** (self._digits - 1), 10**self._digits))
            if code in self._codes:
                continue
            if (
                self.db.conn.execute(
                    "SELECT 1 FROM recipients WHERE live = 1 AND ack_code = ?", (code,)
                ).fetchone()
                is None
            ):
                self._codes.add(code)
                return code
        self._digits += 1
        return self._code()

    # --- nodes
    def _node(self, node_id: int) -> dict[str, Any]:
        row = self.db.conn.execute(
            "SELECT id, parent_id, label, kind, ref, alternates, timeout_s, repeats, grp, state,"
            " tier FROM mob_nodes WHERE id = ?",
            (node_id,),
        ).fetchone()
        return dict(zip(_NODE_KEYS, row, strict=True))

    def release(self, node_ids: Iterable[int]) -> None:
        for node_id in node_ids:
            node = self._node(node_id)
            if node["state"] != "waiting":
                continue
            if self._group_met(node["grp"]):
                self._stand_down_nodes([node_id])
                continue
            self.db.conn.execute(
                "UPDATE mob_nodes SET state = 'active', released_at = ? WHERE id = ?",
                (self.at, node_id),
            )
            self._activate(node, 0)

    def _refs(self, node: dict[str, Any]) -> list[NodeRef]:
        alternates = [NodeRef.parse(a) for a in json.loads(node["alternates"])]
        return [NodeRef(node["kind"], node["ref"]), *alternates]

    def _activate(self, node: dict[str, Any], tier: int) -> None:
        """Notify the people of ``tier`` (0 = the node itself, k = its k-th alternate)."""
        refs = self._refs(node)
        while tier < len(refs):
            people = resolve(self.db, refs[tier], self.now)
            if people:
                self.db.conn.execute(
                    "UPDATE mob_nodes SET tier = ? WHERE id = ?", (tier, node["id"])
                )
                if tier > 0:
                    self.db.conn.execute(
                        "UPDATE recipients SET state = 'escalated' WHERE state = 'no_answer' AND"
                        " id IN (SELECT recipient_id FROM mob_links WHERE node_id = ?)",
                        (node["id"],),
                    )
                for person in people:
                    self._link(node, person.id, person.name, tier)
                self.evaluate(node["id"])
                return
            tier += 1
        self._settle(node, "unreachable")

    def _link(self, node: dict[str, Any], person_id: int, name: str, tier: int) -> None:
        row = self.db.conn.execute(
            "SELECT id FROM recipients WHERE mobilization_id = ? AND person_id = ?",
            (self.mob.id, person_id),
        ).fetchone()
        if row is None:
            cur = self.db.conn.execute(
                "INSERT INTO recipients (mobilization_id, person_id, name, ack_code, state,"
                " repeats, timeout_s, due_at, created_at) VALUES (?,?,?,?,'queued',?,?,?,?)",
                (
                    self.mob.id,
                    person_id,
                    name,
                    self._code(),
                    node["repeats"],
                    node["timeout_s"],
                    self.at,
                    self.at,
                ),
            )
            recipient_id = int(cur.lastrowid or 0)
        else:
            recipient_id = int(row[0])
        self.db.conn.execute(
            # Named again by a later tier (an alternate who is the node's own person, a leader
            # who is also the secretary): the link moves to that tier, so the node sees the
            # person's answer, or silence, there and escalates on.
            "INSERT INTO mob_links (node_id, recipient_id, tier) VALUES (?,?,?)"
            " ON CONFLICT(node_id, recipient_id) DO UPDATE SET tier = excluded.tier",
            (node["id"], recipient_id, tier),
        )

    def evaluate(self, node_id: int) -> None:
        """Settle or escalate a node after one of its people changed state."""
        node = self._node(node_id)
        if node["state"] != "active":
            return
        negative = ", ".join(f"'{state}'" for state in NEGATIVE)
        any_yes, current, current_negative = self.db.conn.execute(
            "SELECT coalesce(max(r.state = 'yes'), 0), count(*) FILTER (WHERE l.tier = ?1),"
            f" count(*) FILTER (WHERE l.tier = ?1 AND r.state IN ({negative}))"
            " FROM mob_links l JOIN recipients r ON r.id = l.recipient_id WHERE l.node_id = ?2",
            (node["tier"], node_id),
        ).fetchone()
        if any_yes:
            self._settle(node, "yes")
        elif current and current == current_negative:
            self._activate(node, node["tier"] + 1)

    def _settle(self, node: dict[str, Any], outcome: str) -> None:
        self.db.conn.execute(
            "UPDATE mob_nodes SET state = ?, settled_at = ? WHERE id = ?",
            (outcome, self.at, node["id"]),
        )
        if outcome == "unreachable":
            self.db.conn.execute(
                "UPDATE recipients SET state = 'unreachable', due_at = NULL"
                " WHERE state IN ('no_answer', 'escalated')"
                " AND id IN (SELECT recipient_id FROM mob_links WHERE node_id = ?)",
                (node["id"],),
            )
            append_event(
                self.db,
                at=self.at,
                operator="engine",
                kind="mobilization_node_unreachable",
                incident_id=self.mob.incident_id,
                data={"mobilization": self.mob.id, "node": node["label"]},
            )
            if node["parent_id"] is not None:
                self._notice_parent(node)
        if self.mob.mode == "cascade":
            kids = [
                int(r[0])
                for r in self.db.conn.execute(
                    "SELECT id FROM mob_nodes WHERE parent_id = ? AND state = 'waiting'"
                    " ORDER BY position",
                    (node["id"],),
                )
            ]
            self.release(kids)

    def _notice_parent(self, node: dict[str, Any]) -> None:
        rows = self.db.conn.execute(
            "SELECT r.id, r.person_id FROM mob_links l JOIN recipients r ON r.id = l.recipient_id"
            " WHERE l.node_id = ? AND r.state IN ('yes', 'sent')",
            (node["parent_id"],),
        ).fetchall()
        text = _notice_text(node["label"])
        for recipient_id, person_id in rows:
            self.enqueue(int(recipient_id), int(person_id), "notice", text)

    # --- --need
    def _group_met(self, grp: str | None) -> bool:
        if grp is None or self.mob.need is None:
            return False
        row = self.db.conn.execute(
            "SELECT count(DISTINCT r.id) FROM mob_nodes n JOIN mob_links l ON l.node_id = n.id"
            " JOIN recipients r ON r.id = l.recipient_id"
            " WHERE n.mobilization_id = ? AND n.grp = ? AND r.state = 'yes'",
            (self.mob.id, grp),
        ).fetchone()
        return int(row[0]) >= self.mob.need

    def check_groups(self, recipient_id: int) -> None:
        if self.mob.need is None:
            return
        groups = [
            r[0]
            for r in self.db.conn.execute(
                "SELECT DISTINCT n.grp FROM mob_links l JOIN mob_nodes n ON n.id = l.node_id"
                " WHERE l.recipient_id = ? AND n.grp IS NOT NULL",
                (recipient_id,),
            )
        ]
        for grp in groups:
            if not self._group_met(grp):
                continue
            node_ids = [
                int(r[0])
                for r in self.db.conn.execute(
                    "SELECT id FROM mob_nodes WHERE mobilization_id = ? AND grp = ?",
                    (self.mob.id, grp),
                )
            ]
            self._stand_down_nodes(node_ids)

    def _stand_down_nodes(self, node_ids: Sequence[int]) -> None:
        """Stop calling for these nodes: open ones stand down, their open people are told."""
        if not node_ids:
            return
        ids = json.dumps(list(node_ids))
        self.db.conn.execute(
            "UPDATE mob_nodes SET state = 'stood_down', settled_at = ?"
            " WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('waiting', 'active')",
            (self.at, ids),
        )
        # People named only by nodes that are now stood down (or settled) are told to stand down.
        rows = self.db.conn.execute(
            "SELECT r.id, r.person_id, r.sends FROM recipients r WHERE r.state IN"
            " ('queued', 'sent') AND r.id IN (SELECT recipient_id FROM mob_links WHERE node_id IN"
            " (SELECT value FROM json_each(?))) AND NOT EXISTS (SELECT 1 FROM mob_links l2 JOIN"
            " mob_nodes n2 ON n2.id = l2.node_id WHERE l2.recipient_id = r.id AND n2.state ="
            " 'active')",
            (ids,),
        ).fetchall()
        text = _followup_text(self.mob, "stand_down")
        for recipient_id, person_id, sends in rows:
            self._close_recipient(int(recipient_id), "stood_down")
            if sends:
                self.enqueue(int(recipient_id), int(person_id), "stand_down", text)
        # Children of stood-down nodes in another group are released (cascade); same-group
        # children stand down with them.
        if self.mob.mode == "cascade":
            kids = [
                int(r[0])
                for r in self.db.conn.execute(
                    "SELECT id FROM mob_nodes WHERE state = 'waiting' AND parent_id IN"
                    " (SELECT value FROM json_each(?)) ORDER BY position",
                    (ids,),
                )
            ]
            self.release(kids)

    def _close_recipient(self, recipient_id: int, state: str) -> None:
        self.db.conn.execute(
            "UPDATE recipients SET state = ?, due_at = NULL WHERE id = ?", (state, recipient_id)
        )
        self.db.conn.execute(
            "UPDATE attempts SET state = 'withdrawn', done_at = ? WHERE recipient_id = ?"
            " AND kind = 'notify' AND state = 'pending'",
            (self.at, recipient_id),
        )

    # --- messages
    def enqueue(self, recipient_id: int, person_id: int, kind: str, text: str) -> None:
        """A follow-up message (stand down, cancel, notice) to one person, throttled."""
        not_before = _reserve(self.db, self.now, [(person_id, self.mob.interval_s)])[0]
        self.db.conn.execute(
            "INSERT INTO attempts (id, recipient_id, kind, round, text, state, created_at,"
            " not_before) VALUES (?,?,?,0,?,'pending',?,?)",
            (uuid.uuid4().hex, recipient_id, kind, text, self.at, not_before),
        )

    def finish(self) -> None:
        """Mark the mobilization completed once nothing is left to send or wait for."""
        if self.mob.state != "active":
            return
        row = self.db.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM mob_nodes WHERE mobilization_id = ?1 AND state IN"
            " ('waiting', 'active')) OR EXISTS (SELECT 1 FROM recipients WHERE"
            " mobilization_id = ?1 AND state IN ('queued', 'sent'))",
            (self.mob.id,),
        ).fetchone()
        if not row[0]:
            self.db.conn.execute(
                "UPDATE mobilizations SET state = 'completed', finished_at = ? WHERE id = ?",
                (self.at, self.mob.id),
            )
            append_event(
                self.db,
                at=self.at,
                operator="engine",
                kind="mobilization_completed",
                incident_id=self.mob.incident_id,
                data={"mobilization": self.mob.id},
            )


# ------------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Routing:
    """What the engine's process knows about sending: configured channels, the public base URL."""

    configured: frozenset[str] = frozenset()
    base_url: str = "http://127.0.0.1:8470"


def _routes(
    db: Database, person_ids: Sequence[int], configured: frozenset[str]
) -> dict[int, list[tuple[str, str]]]:
    """Each person's usable (channel, address) pairs, best first.

    Verified channels before unverified, then by the person's own order; only channels that
    are configured. With only ``sms`` configured, a phone number is enough. With nothing
    configured, everyone goes to the ``log`` channel (the demo and offline installations).
    """
    ids = json.dumps(sorted(set(person_ids)))
    out: dict[int, list[tuple[str, str]]] = {pid: [] for pid in person_ids}
    real = configured - {"log"}
    if not real:
        for pid, key, phone, email in db.conn.execute(
            "SELECT id, key, phone, email FROM people WHERE id IN (SELECT value FROM json_each(?))",
            (ids,),
        ):
            out[int(pid)] = [("log", phone or email or key)]
        return out
    ranked: dict[int, list[tuple[int, int, str, str]]] = {}
    for pid, kind, address, rank, verified in db.conn.execute(
        "SELECT person_id, kind, address, rank, verified FROM channels"
        " WHERE person_id IN (SELECT value FROM json_each(?))",
        (ids,),
    ):
        if kind in real:
            ranked.setdefault(int(pid), []).append((0 if verified else 1, int(rank), kind, address))
    for pid, phone, email, webhook in db.conn.execute(
        "SELECT id, phone, email, webhook FROM people WHERE id IN (SELECT value FROM json_each(?))",
        (ids,),
    ):
        pairs = [(kind, address) for _v, _r, kind, address in sorted(ranked.get(int(pid), []))]
        for kind, address in (("sms", phone), ("webhook", webhook), ("email", email)):
            if address and kind in real and (kind, address) not in pairs:
                pairs.append((kind, address))
        out[int(pid)] = pairs
    return out


def _reserve(db: Database, now: datetime, wants: Sequence[tuple[int, int]]) -> list[str]:
    """Book the next moment each ``(person id, interval s)`` may be sent something.

    Returns the slots in the order asked; a person asked for twice gets two slots an interval
    apart, so two mobilizations falling due together never send them two messages at once.
    """
    ids = json.dumps(sorted({pid for pid, _interval in wants}))
    last = {
        int(pid): from_iso(at)
        for pid, at in db.conn.execute(
            "SELECT person_id, last_at FROM person_sends WHERE person_id IN"
            " (SELECT value FROM json_each(?))",
            (ids,),
        )
    }
    out: list[str] = []
    booked: dict[int, str] = {}
    at_now = to_iso(now)
    for pid, interval_s in wants:
        previous = last.get(pid)
        gap = timedelta(seconds=interval_s)
        if previous is None or previous + gap <= now:
            slot, iso = now, at_now
        else:
            slot = previous + gap
            iso = to_iso(slot)
        last[pid] = slot
        booked[pid] = iso
        out.append(iso)
    db.conn.executemany(
        "INSERT INTO person_sends (person_id, last_at) VALUES (?, ?) ON CONFLICT(person_id)"
        " DO UPDATE SET last_at = excluded.last_at",
        list(booked.items()),
    )
    return out


def _notice_text(label: str) -> str:
    """The notice sent to a parent node's people when a node below is unreachable.

    Sent to people, not shown to the operator: both languages in one text, whatever the
    language of the program (the recipient's is not known).
    """
    return (
        f"{label} 无人应答，已直接通知其下级。"
        f" {label} did not answer; the people below were notified directly."
    )


def _notify_text(mob: Mobilization, code: str, url: str) -> str:
    drill = "【演练 EXERCISE】" if mob.exercise else ""
    return (
        f"{drill}{mob.message} 回复“{code} 1”到岗，“{code} 2”不能到。"
        f" Reply {code} 1 = coming, {code} 2 = can't. {url}"
    )


# ------------------------------------------------------------------------------- the runner's steps


def process_due(db: Database, clock: Clock, *, limit: int = 5000) -> int:
    """Act on recipients whose time has come: first sends, re-sends, and silence after repeats.

    Returns how many recipients were acted on; call again while it returns ``limit``.
    """
    now = clock.now()
    at = to_iso(now)
    with write(db):
        rows = db.conn.execute(
            "SELECT r.id, r.mobilization_id, r.person_id, r.state, r.sends, r.repeats,"
            " m.interval_s FROM recipients r JOIN mobilizations m ON m.id = r.mobilization_id"
            " WHERE r.due_at IS NOT NULL AND r.due_at <= ? AND r.state IN ('queued', 'sent')"
            " ORDER BY r.due_at LIMIT ?",
            (at, limit),
        ).fetchall()
        if not rows:
            return 0
        sends = [r for r in rows if r[4] <= r[5]]
        silent = [r for r in rows if r[4] > r[5]]
        slots = _reserve(db, now, [(int(r[2]), int(r[6])) for r in sends])
        db.conn.executemany(
            "INSERT INTO attempts (id, recipient_id, kind, round, state, created_at, not_before)"
            " VALUES (?, ?, 'notify', ?, 'pending', ?, ?)",
            [
                (uuid.uuid4().hex, r[0], r[4] + 1, at, slot)
                for r, slot in zip(sends, slots, strict=True)
            ],
        )
        db.conn.executemany(
            "UPDATE recipients SET due_at = NULL WHERE id = ?", [(r[0],) for r in sends]
        )
        if silent:
            db.conn.executemany(
                "UPDATE recipients SET state = 'no_answer', due_at = NULL WHERE id = ?",
                [(r[0],) for r in silent],
            )
            _after_change(db, now, [(int(r[1]), int(r[0])) for r in silent])
    return len(rows)


def _after_change(db: Database, now: datetime, changed: Sequence[tuple[int, int]]) -> None:
    """Re-evaluate, once each, the nodes of recipients that changed state."""
    by_mob: dict[int, list[int]] = {}
    for mob_id, recipient_id in changed:
        by_mob.setdefault(mob_id, []).append(recipient_id)
    for mob_id, recipient_ids in by_mob.items():
        engine = _Engine(db, now, get_mobilization(db, mob_id))
        if engine.mob.need is not None:
            for recipient_id in recipient_ids:
                engine.check_groups(recipient_id)
        node_ids = [
            int(r[0])
            for r in db.conn.execute(
                "SELECT DISTINCT node_id FROM mob_links WHERE recipient_id IN"
                " (SELECT value FROM json_each(?)) ORDER BY node_id",
                (json.dumps(recipient_ids),),
            )
        ]
        for node_id in node_ids:
            engine.evaluate(node_id)
        engine.finish()


def claim_pending(
    db: Database,
    clock: Clock,
    routing: Routing,
    *,
    limit: int = 1000,
    claimer: str = "engine",
) -> tuple[list[Outgoing], list[Delivery]]:
    """Claim pending attempts that may go now, as messages, for ``claimer`` to send.

    Claimed attempts are marked with ``claimer`` in the same transaction, so the next claim
    skips them without reading them; they stay ``pending`` (their outcome unknown) until
    :func:`record_deliveries`. An attempt's channel, address and text are fixed the first time
    it is claimed, so a re-send after a crash (:func:`release_claims`, then a new claim) is the
    same message with the same id. Attempts for people with no configured channel come back as
    failed deliveries (second list) for :func:`record_deliveries`.
    """
    now = clock.now()
    with write(db):
        rows = db.conn.execute(
            "SELECT a.id, a.recipient_id, a.kind, a.channel, a.address, a.text, r.person_id,"
            " r.ack_code, r.name, m.id, m.exercise, m.expires_at FROM attempts a"
            " JOIN recipients r ON r.id = a.recipient_id"
            " JOIN mobilizations m ON m.id = r.mobilization_id"
            " WHERE a.state = 'pending' AND a.claimed_by IS NULL AND a.not_before <= ?"
            " ORDER BY a.not_before LIMIT ?",
            (to_iso(now), limit),
        ).fetchall()
        if not rows:
            return [], []
        out, failed, fixed = _messages(db, rows, routing)
        # One write per attempt: the claim, and for a first claim the route and text it keeps.
        db.conn.executemany(
            "UPDATE attempts SET claimed_by = ?, channel = ?, address = ?, text = ? WHERE id = ?",
            [(claimer, *v, k) for k, v in fixed.items()],
        )
        db.conn.executemany(
            "UPDATE attempts SET claimed_by = ? WHERE id = ?",
            [(claimer, r[0]) for r in rows if r[0] not in fixed],
        )
        return out, failed


def release_claims(db: Database, claimer: str | None = None) -> int:
    """Make claimed, unrecorded attempts claimable again (all, or those of ``claimer``).

    An engine calls it when it starts (a claim left by a dead engine means "outcome unknown":
    send again, same id) and for chunks it gave up waiting for.
    """
    with write(db):
        if claimer is None:
            cur = db.conn.execute(
                "UPDATE attempts SET claimed_by = NULL"
                " WHERE state = 'pending' AND claimed_by IS NOT NULL"
            )
        else:
            cur = db.conn.execute(
                "UPDATE attempts SET claimed_by = NULL WHERE state = 'pending' AND claimed_by = ?",
                (claimer,),
            )
    return cur.rowcount


def release_attempts(db: Database, attempt_ids: Sequence[str]) -> None:
    """Make these claimed attempts claimable again (a sender gave up on them unfinished)."""
    with write(db):
        db.conn.executemany(
            "UPDATE attempts SET claimed_by = NULL WHERE id = ? AND state = 'pending'",
            [(a,) for a in attempt_ids],
        )


def _messages(
    db: Database, rows: Sequence[Sequence[Any]], routing: Routing
) -> tuple[list[Outgoing], list[Delivery], dict[str, tuple[str, str, str]]]:
    """The messages of claimed ``rows``, the deliveries that failed for want of a channel, and
    the (channel, address, text) fixed for attempts claimed for the first time."""
    fresh = [r for r in rows if r[3] is None]
    fixed: dict[str, tuple[str, str, str]] = {}
    failed: list[Delivery] = []
    if fresh:
        routes = _routes(db, [int(r[6]) for r in fresh], routing.configured)
        secret = installation_secret(db)
        tried = _tried(db, [r[0] for r in fresh])
        mobs: dict[int, Mobilization] = {}
        for r in fresh:
            options = [x for x in routes[int(r[6])] if x not in tried.get(r[0], set())]
            if not options:
                failed.append(Delivery(r[0], False, "no configured channel reaches this person"))
                continue
            channel, address = options[0]
            text = r[5]
            if r[2] == "notify":
                mob = mobs.get(int(r[9])) or get_mobilization(db, int(r[9]))
                mobs[mob.id] = mob
                token = make_token(secret, int(r[1]), mob.expires_at)
                text = _notify_text(mob, r[7], f"{routing.base_url.rstrip('/')}/ack/{token}")
            fixed[r[0]] = (channel, address, text)
    failed_ids = {d.attempt_id for d in failed}
    out: list[Outgoing] = []
    for r in rows:
        if r[0] in failed_ids:
            continue
        channel, address, text = fixed.get(r[0]) or (r[3], r[4], r[5])
        url = ""
        if r[2] == "notify":
            marker = "/ack/"
            url = text[text.rfind("http") :] if marker in text else ""
        out.append(
            Outgoing(
                attempt_id=r[0],
                recipient_id=int(r[1]),
                channel=channel,
                address=address,
                text=text,
                kind=r[2],
                ack_code=r[7] if r[2] == "notify" else "",
                ack_url=url,
                exercise=bool(r[10]),
                name=r[8],
            )
        )
    return out, failed, fixed


def _tried(db: Database, attempt_ids: Sequence[str]) -> dict[str, set[tuple[str, str]]]:
    """For each attempt, the routes already tried for the same recipient, kind and round."""
    out: dict[str, set[tuple[str, str]]] = {}
    for attempt_id, channel, address in db.conn.execute(
        "SELECT a.id, b.channel, b.address FROM attempts a JOIN attempts b ON"
        " b.recipient_id = a.recipient_id AND b.kind = a.kind AND b.round = a.round"
        " AND b.id != a.id AND b.state = 'failed' AND b.channel IS NOT NULL"
        " WHERE a.id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(attempt_ids)),),
    ):
        out.setdefault(attempt_id, set()).add((channel, address))
    return out


def record_deliveries(
    db: Database, clock: Clock, deliveries: Sequence[Delivery], routing: Routing
) -> None:
    """Record what became of sent attempts, and move their recipients on.

    A delivered call-out makes its recipient ``sent`` and starts the node's timeout. A failed one
    is retried at once on the person's next configured channel; when every channel failed the
    round counts as made and is tried again after the timeout (at most a minute), so a gateway
    outage delays the call-out but never silently drops it.
    """
    if not deliveries:
        return
    now = clock.now()
    at = to_iso(now)
    with write(db):
        info = {
            row[0]: row
            for row in db.conn.execute(
                "SELECT a.id, a.recipient_id, a.kind, a.round, a.state, r.state, r.timeout_s,"
                " r.person_id, r.mobilization_id, m.state, m.interval_s FROM attempts a"
                " JOIN recipients r ON r.id = a.recipient_id"
                " JOIN mobilizations m ON m.id = r.mobilization_id"
                " WHERE a.id IN (SELECT value FROM json_each(?))",
                (json.dumps([d.attempt_id for d in deliveries]),),
            )
        }
        ok = [d for d in deliveries if d.ok and d.attempt_id in info]
        bad = [d for d in deliveries if not d.ok and d.attempt_id in info]
        db.conn.executemany(
            "UPDATE attempts SET state = 'sent', done_at = ?, error = NULL WHERE id = ?",
            [(at, d.attempt_id) for d in ok],
        )
        db.conn.executemany(
            "UPDATE attempts SET state = 'failed', done_at = ?, error = ? WHERE id = ?"
            " AND state IN ('pending', 'withdrawn')",
            [(at, (d.error or "failed")[:300], d.attempt_id) for d in bad],
        )
        delivered = []
        followups: list[tuple[int, int, int, str]] = []
        due: dict[int, str] = {}  # timeout -> when it runs out, formatted once
        for d in ok:
            row = info[d.attempt_id]
            if row[2] != "notify":
                continue
            if row[5] in ("stood_down", "cancelled"):
                followups.append((int(row[8]), int(row[1]), int(row[7]), row[5]))
            timeout = int(row[6])
            if timeout not in due:
                due[timeout] = to_iso(now + timedelta(seconds=timeout))
            delivered.append((at, at, at, due[timeout], int(row[1])))
        db.conn.executemany(
            "UPDATE recipients SET sends = sends + 1,"
            " state = CASE WHEN state = 'queued' THEN 'sent' ELSE state END,"
            " first_sent_at = coalesce(first_sent_at, ?), last_sent_at = ?, error = NULL,"
            " due_at = CASE WHEN state IN ('queued', 'sent') THEN ? ELSE NULL END"
            " WHERE id = ?",
            [(a, b, d, rid) for a, b, _c, d, rid in delivered],
        )
        for d in bad:
            row = info[d.attempt_id]
            if row[2] == "notify" and row[4] == "pending":
                _failed_notify(db, now, row, d.error or "failed", routing)
        for mob_id, recipient_id, person_id, state in followups:
            mob = get_mobilization(db, mob_id)
            kind = "cancel" if state == "cancelled" else "stand_down"
            _Engine(db, now, mob).enqueue(recipient_id, person_id, kind, _followup_text(mob, kind))


def _failed_notify(
    db: Database, now: datetime, row: Sequence[Any], error: str, routing: Routing
) -> None:
    attempt_id, recipient_id, _kind, round_, _state, state, timeout_s, person_id, *_rest = row
    db.conn.execute("UPDATE recipients SET error = ? WHERE id = ?", (error[:300], recipient_id))
    if state not in OPEN:
        return
    if _untried_route(db, attempt_id, int(person_id), routing):
        db.conn.execute(
            "INSERT INTO attempts (id, recipient_id, kind, round, state, created_at, not_before)"
            " VALUES (?, ?, 'notify', ?, 'pending', ?, ?)",
            (uuid.uuid4().hex, recipient_id, round_, to_iso(now), to_iso(now)),
        )
        return
    retry = min(int(timeout_s), FAILED_ROUND_RETRY_S)
    db.conn.execute(
        "UPDATE recipients SET sends = sends + 1, due_at = ? WHERE id = ?",
        (to_iso(now + timedelta(seconds=retry)), recipient_id),
    )


def _untried_route(db: Database, attempt_id: str, person_id: int, routing: Routing) -> bool:
    """Whether a configured channel of the person is left to try in this attempt's round."""
    tried = {
        (c, a)
        for c, a in db.conn.execute(
            "SELECT b.channel, b.address FROM attempts a JOIN attempts b ON"
            " b.recipient_id = a.recipient_id AND b.kind = a.kind AND b.round = a.round"
            " WHERE a.id = ? AND b.channel IS NOT NULL",
            (attempt_id,),
        )
    }
    return any(r not in tried for r in _routes(db, [person_id], routing.configured)[person_id])


def _followup_text(mob: Mobilization, kind: str) -> str:
    drill = "【演练 EXERCISE】" if mob.exercise else ""
    if kind == "cancel":
        return f"{drill}动员已取消。Mobilization cancelled. ({mob.message[:40]})"
    return (
        f"{drill}已有足够人员响应，您可以不必前往。Enough people have answered; you can"
        f" stand down. ({mob.message[:40]})"
    )


def next_due(db: Database) -> datetime | None:
    """The earliest moment the engine has something to do, or ``None`` when idle."""
    row = db.conn.execute(
        "SELECT min(x) FROM (SELECT min(due_at) AS x FROM recipients WHERE due_at IS NOT NULL"
        " UNION ALL SELECT min(not_before) FROM attempts WHERE state = 'pending')"
    ).fetchone()
    return from_iso(row[0]) if row and row[0] else None


def expire(db: Database, clock: Clock) -> int:
    """Free the ack codes of mobilizations whose tokens have expired; returns how many."""
    at = to_iso(clock.now())
    with write(db):
        cur = db.conn.execute(
            "UPDATE recipients SET live = 0 WHERE live = 1 AND mobilization_id IN"
            " (SELECT id FROM mobilizations WHERE expires_at <= ?)",
            (at,),
        )
    return cur.rowcount


# ------------------------------------------------------------------------------- answers


def _recipient(db: Database, where: str, params: Sequence[Any]) -> Sequence[Any] | None:
    row: Sequence[Any] | None = db.conn.execute(
        "SELECT r.id, r.mobilization_id, r.name, r.state, r.answered_at, p.phone, r.live"
        f" FROM recipients r JOIN people p ON p.id = r.person_id WHERE {where}",
        params,
    ).fetchone()
    return row


def record_answer(
    db: Database,
    clock: Clock,
    operator: str,
    *,
    yes: bool,
    via: str,
    recipient_id: int | None = None,
    code: str | None = None,
    eta_min: int | None = None,
) -> Answer:
    """Record a person's answer, by recipient id (token) or live ack code (CLI, console, SMS).

    The first answer's time is kept; a later different answer changes the state and is recorded
    as a change. A yes releases the node's children (cascade) and may satisfy ``--need``; a no
    moves the node to its next alternate when its other people are negative too.
    """
    if eta_min is not None and not 0 <= eta_min <= 24 * 60:
        raise InvalidInput(_("must be between 0 and 1440 minutes"), "eta")
    now = clock.now()
    with write(db):
        if recipient_id is not None:
            row = _recipient(db, "r.id = ?", (recipient_id,))
        elif code is not None:
            row = _recipient(db, "r.live = 1 AND r.ack_code = ?", (code.strip(),))
        else:
            raise InvalidInput(_("give an ack code"), "code")
        if row is None:
            raise NotFound(
                _("no live mobilization recipient has ack code {code}").format(code=code)
            )
        rid, mob_id, name, state, answered_at, _phone, _live = row
        new = "yes" if yes else "no"
        first = answered_at is None
        changed = not first and state != new
        mob = get_mobilization(db, int(mob_id))
        if first or changed:
            db.conn.execute(
                "UPDATE recipients SET state = ?, answered_at = coalesce(answered_at, ?),"
                " answer_via = coalesce(answer_via, ?), eta_min = coalesce(?, eta_min),"
                " due_at = NULL WHERE id = ?",
                (new, to_iso(now), via, eta_min, rid),
            )
            db.conn.execute(
                "UPDATE attempts SET state = 'withdrawn', done_at = ? WHERE recipient_id = ?"
                " AND kind = 'notify' AND state = 'pending'",
                (to_iso(now), rid),
            )
            append_event(
                db,
                at=to_iso(now),
                operator=operator,
                kind="mobilization_answer_changed" if changed else "mobilization_answer",
                incident_id=None,
                data={
                    "mobilization": mob.id,
                    "recipient": rid,
                    "answer": new,
                    "previous": state if changed else None,
                    "via": via,
                    "eta_min": eta_min,
                },
            )
            engine = _Engine(db, now, mob)
            if yes:
                # A late yes on a node already settled unreachable still counts for that node.
                db.conn.execute(
                    "UPDATE mob_nodes SET state = 'yes' WHERE state = 'unreachable' AND id IN"
                    " (SELECT node_id FROM mob_links WHERE recipient_id = ?)",
                    (rid,),
                )
            engine.check_groups(int(rid))
            for (node_id,) in db.conn.execute(
                "SELECT node_id FROM mob_links WHERE recipient_id = ?", (rid,)
            ).fetchall():
                engine.evaluate(int(node_id))
            engine.finish()
    return Answer(
        recipient_id=int(rid),
        mobilization_id=int(mob_id),
        name=name,
        yes=yes,
        first=first,
        changed=changed,
        answered_at=from_iso(to_iso(now) if first else answered_at),
    )


def answer_by_token(
    db: Database, clock: Clock, token: str, *, yes: bool, remote: str = ""
) -> Answer:
    """Record an answer given through a signed link.

    Raises:
        PermissionDenied: the token is malformed, forged, altered or expired; a security entry
            is appended to the audit log (with the reason and where the request came from).
    """
    recipient_id = check_token(db, clock, token, remote=remote)
    return record_answer(db, clock, "ack-link", yes=yes, via="link", recipient_id=recipient_id)


def check_token(db: Database, clock: Clock, token: str, *, remote: str = "") -> int:
    """The recipient a token names, or :class:`PermissionDenied` with an audit entry."""
    now = clock.now()
    try:
        recipient_id = read_token(installation_secret(db), token, now)
    except TokenInvalid as exc:
        with write(db):
            append_event(
                db,
                at=to_iso(now),
                operator="ack-link",
                kind="security_ack_token_rejected",
                data={"reason": exc.reason, "token": token[:12], "remote": remote[:64]},
            )
        raise PermissionDenied(_("ack link refused: {reason}").format(reason=exc.reason)) from exc
    if _recipient(db, "r.id = ?", (recipient_id,)) is None:
        raise NotFound(_("this ack link names no recipient"))
    return recipient_id


def answer_by_sms(
    db: Database, clock: Clock, sender: str, text: str, *, region: str = "CN"
) -> Answer:
    """Record an SMS reply forwarded by the gateway (``{"from", "text"}``).

    The reply's code must belong to the sending number; a reply without a code is accepted when
    the number has exactly one live recipient still waiting for an answer.

    Raises:
        InvalidInput: the text is not a yes/no reply, the number is not valid, or the code does
            not belong to that number.
    """
    reply = parse_reply(text)
    if reply is None:
        raise InvalidInput(_("not a reply: send the code then 1 (coming) or 2 (can't)"), "text")
    phone = normalize_phone(sender, region)
    if reply.code is not None:
        row = _recipient(db, "r.live = 1 AND r.ack_code = ?", (reply.code,))
        if row is None:
            raise NotFound(
                _("no live mobilization recipient has ack code {code}").format(code=reply.code)
            )
        if row[5] != phone:
            raise InvalidInput(
                _("code {code} was not sent to {phone}").format(
                    code=reply.code, phone=mask_phone(phone, region)
                ),
                "from",
            )
        rid = int(row[0])
    else:
        rows = db.conn.execute(
            "SELECT r.id FROM recipients r JOIN people p ON p.id = r.person_id"
            " WHERE p.phone = ? AND r.live = 1 AND r.state IN ('queued', 'sent', 'no_answer',"
            " 'escalated')",
            (phone,),
        ).fetchall()
        if len(rows) != 1:
            raise InvalidInput(
                _(
                    "reply with the code from the message, e.g. '4821 1' ({count} open call-outs"
                    " for this number)"
                ).format(count=len(rows)),
                "text",
            )
        rid = int(rows[0][0])
    return record_answer(
        db, clock, "sms", yes=reply.yes, via="sms", recipient_id=rid, eta_min=reply.eta_min
    )


# ------------------------------------------------------------------------------- cancel / resend


def cancel_mobilization(db: Database, clock: Clock, operator: str, mobilization_id: int) -> int:
    """Cancel a running mobilization; people already called are told. Returns how many."""
    now = clock.now()
    with write(db):
        mob = get_mobilization(db, mobilization_id)
        if mob.state != "active":
            raise InvalidTransition(
                _("mobilization {id} is {state}; only an active one can be cancelled").format(
                    id=mob.id, state=mob.state
                )
            )
        engine = _Engine(db, now, mob)
        rows = db.conn.execute(
            "SELECT id, person_id, sends FROM recipients WHERE mobilization_id = ?"
            " AND state IN ('queued', 'sent')",
            (mob.id,),
        ).fetchall()
        told = 0
        text = _followup_text(mob, "cancel")
        for recipient_id, person_id, sends in rows:
            engine._close_recipient(int(recipient_id), "cancelled")
            if sends:
                engine.enqueue(int(recipient_id), int(person_id), "cancel", text)
                told += 1
        db.conn.execute(
            "UPDATE mob_nodes SET state = 'cancelled', settled_at = ? WHERE mobilization_id = ?"
            " AND state IN ('waiting', 'active')",
            (to_iso(now), mob.id),
        )
        db.conn.execute(
            "UPDATE mobilizations SET state = 'cancelled', finished_at = ? WHERE id = ?",
            (to_iso(now), mob.id),
        )
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="mobilization_cancelled",
            incident_id=mob.incident_id,
            data={"mobilization": mob.id, "pending": len(rows), "told": told},
        )
    return told


def resend_silent(db: Database, clock: Clock, operator: str, mobilization_id: int) -> int:
    """Call again everyone still silent (sent, no answer yet) now; returns how many."""
    now = clock.now()
    with write(db):
        mob = get_mobilization(db, mobilization_id)
        if mob.state != "active":
            raise InvalidTransition(
                _("mobilization {id} is {state}").format(id=mob.id, state=mob.state)
            )
        rows = db.conn.execute(
            "SELECT id, person_id, sends FROM recipients WHERE mobilization_id = ?"
            " AND state = 'sent' AND NOT EXISTS (SELECT 1 FROM attempts a WHERE"
            " a.recipient_id = recipients.id AND a.state = 'pending')",
            (mob.id,),
        ).fetchall()
        slots = _reserve(db, now, [(int(r[1]), mob.interval_s) for r in rows])
        db.conn.executemany(
            "INSERT INTO attempts (id, recipient_id, kind, round, state, created_at, not_before)"
            " VALUES (?, ?, 'notify', ?, 'pending', ?, ?)",
            [
                (uuid.uuid4().hex, r[0], r[2] + 1, to_iso(now), slot)
                for r, slot in zip(rows, slots, strict=True)
            ],
        )
        if rows:
            append_event(
                db,
                at=to_iso(now),
                operator=operator,
                kind="mobilization_resent",
                incident_id=mob.incident_id,
                data={"mobilization": mob.id, "recipients": len(rows)},
            )
    return len(rows)


# ------------------------------------------------------------------------------- reading


def _count(counts: Counts, state: str, reached: bool) -> None:
    """Count one person; ``reached``: a call-out was delivered to them (or they answered)."""
    counts.total += 1
    if reached or state in ANSWERED:
        counts.notified += 1
    if state == "yes":
        counts.yes += 1
    elif state == "no":
        counts.no += 1
    elif state in SILENT:
        counts.silent += 1
    elif state == "unreachable":
        counts.unreachable += 1
    elif state == "queued":
        counts.queued += 1
    elif state == "stood_down":
        counts.stood_down += 1
    elif state == "cancelled":
        counts.cancelled += 1


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(
    db: Database, mobilization_id: int, now: datetime, *, silent_limit: int = 50
) -> Summary:
    """Counts per level and per group, time-to-answer p50/p90, who is still silent.

    Each person counts once, at the highest level (and that node's group) that names them.
    ``silent`` is everyone called who has not answered (sent, no answer, escalated), longest
    silent first. ``answers_by_minute`` counts yes/no answers per minute since the start.
    """
    mob = get_mobilization(db, mobilization_id)
    out = Summary(mobilization=mob, total=Counts())
    rows = db.conn.execute(
        "SELECT r.id, r.name, r.state, r.sends, r.ack_code, r.first_sent_at, r.answered_at,"
        " n.level, n.grp, n.label FROM recipients r JOIN mob_links l ON l.recipient_id = r.id"
        " JOIN mob_nodes n ON n.id = l.node_id WHERE r.mobilization_id = ?"
        " ORDER BY r.id, n.level, n.position",
        (mob.id,),
    ).fetchall()
    seen: set[int] = set()
    waits: list[float] = []
    minutes: dict[int, int] = {}
    for rid, name, state, sends, code, first_sent, answered, level, grp, label in rows:
        if rid in seen:
            continue
        seen.add(rid)
        reached = first_sent is not None
        _count(out.total, state, reached)
        _count(out.by_level.setdefault(int(level), Counts()), state, reached)
        if grp:
            _count(out.by_group.setdefault(grp, Counts()), state, reached)
        if answered and first_sent:
            waits.append(max(0.0, (from_iso(answered) - from_iso(first_sent)).total_seconds()))
        if answered:
            minute = int((from_iso(answered) - mob.created_at).total_seconds() // 60)
            minutes[minute] = minutes.get(minute, 0) + 1
        if state in SILENT and first_sent:
            out.silent.append(SilentPerson(rid, name, label, code, from_iso(first_sent), sends))
    out.silent.sort(key=lambda p: p.since)
    del out.silent[silent_limit:]
    out.p50_s = _percentile(waits, 0.5)
    out.p90_s = _percentile(waits, 0.9)
    if minutes:
        span = max(max(minutes), int((now - mob.created_at).total_seconds() // 60))
        out.answers_by_minute = [minutes.get(m, 0) for m in range(span + 1)]
    return out


def totals(db: Database, mobilization_id: int) -> Counts:
    """The whole mobilization's counts in one grouped read of its recipients.

    What listings and the dashboard show for every mobilization; :func:`summary` adds the
    per-level and per-group split, which costs a join over every node link.
    """
    out = Counts()
    for state, count, reached in db.conn.execute(
        "SELECT state, count(*), count(first_sent_at) FROM recipients"
        " WHERE mobilization_id = ? GROUP BY state",
        (mobilization_id,),
    ):
        out.total += count
        out.notified += count if state in ANSWERED else reached
        if state == "yes":
            out.yes += count
        elif state == "no":
            out.no += count
        elif state in SILENT:
            out.silent += count
        elif state == "unreachable":
            out.unreachable += count
        elif state == "queued":
            out.queued += count
        elif state == "stood_down":
            out.stood_down += count
        elif state == "cancelled":
            out.cancelled += count
    return out


def node_states(db: Database, mobilization_id: int) -> list[NodeState]:
    """Every node of the mobilization with its state and its people's counts, in tree order."""
    counts: dict[int, Counts] = {}
    for node_id, state, first_sent in db.conn.execute(
        "SELECT l.node_id, r.state, r.first_sent_at FROM mob_links l JOIN recipients r"
        " ON r.id = l.recipient_id JOIN mob_nodes n ON n.id = l.node_id"
        " WHERE n.mobilization_id = ?",
        (mobilization_id,),
    ):
        _count(counts.setdefault(int(node_id), Counts()), state, first_sent is not None)
    rows = db.conn.execute(
        "SELECT id, code, parent_id, level, label, state, tier, released_at, settled_at"
        " FROM mob_nodes WHERE mobilization_id = ? ORDER BY position",
        (mobilization_id,),
    ).fetchall()
    return [
        NodeState(
            id=int(r[0]),
            code=r[1],
            parent_id=r[2],
            level=int(r[3]),
            label=r[4],
            state=r[5],
            tier=int(r[6]),
            counts=counts.get(int(r[0]), Counts()),
            released_at=from_iso(r[7]) if r[7] else None,
            settled_at=from_iso(r[8]) if r[8] else None,
        )
        for r in rows
    ]


def recipient_rows(db: Database, mobilization_id: int) -> list[dict[str, Any]]:
    """Every recipient with their state, sends and answer, for listings and JSON."""
    rows = db.conn.execute(
        "SELECT r.id, r.name, p.key, p.phone, r.ack_code, r.state, r.sends, r.first_sent_at,"
        " r.answered_at, r.answer_via, r.eta_min, r.error FROM recipients r"
        " JOIN people p ON p.id = r.person_id WHERE r.mobilization_id = ? ORDER BY r.id",
        (mobilization_id,),
    ).fetchall()
    keys = "id name key phone code state sends first_sent_at answered_at via eta_min error"
    return [dict(zip(keys.split(), r, strict=True)) for r in rows]


def attempts_of(db: Database, recipient_id: int) -> list[dict[str, Any]]:
    """Every attempt made for one recipient: channel, time, result, error."""
    rows = db.conn.execute(
        "SELECT id, kind, round, channel, state, created_at, done_at, error FROM attempts"
        " WHERE recipient_id = ? ORDER BY created_at, rowid",
        (recipient_id,),
    ).fetchall()
    keys = "id kind round channel state created_at done_at error"
    return [dict(zip(keys.split(), r, strict=True)) for r in rows]
