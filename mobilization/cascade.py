"""Provides the cascade: starting, walking, cancelling and re-sending a mobilization.

A mobilization snapshots the chosen part of a contact tree (:mod:`mobilization.trees`) into
``mob_nodes`` and walks it. Nodes are resolved to people when they are *released* (cascade: the
roots at once, a child when its parent answers yes or is declared unreachable; broadcast: all at
once). Each person becomes one **recipient** per mobilization, however many nodes name them
(their states: :class:`~mobilization.vocabulary.RecipientState`).

A silent recipient is re-sent after the node's timeout up to its repeat count, then counts as
``no_answer`` (:func:`process_due`). A node whose current people are all negative (``no`` at
once, ``no_answer`` after the repeats) notifies its next alternate; with none left it is
**unreachable**: its silent people become ``unreachable``, its children are released all the
same (the branch below is never cut off) and its parent's people are told.

Everything the engine must do later is a row: ``recipients.due_at`` (send, or time out) and
``attempts`` in state ``pending`` (:mod:`mobilization.delivery` sends them). Each step is one
write transaction, in which :class:`CascadeTxn` moves one mobilization's nodes and people on.
"""

from __future__ import annotations

import json
import math
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from jurisdiction.models import Level
from mobilization.delivery import enqueue, followup_text, notice_text, reserve
from mobilization.models import Mobilization, Target
from mobilization.progress import get_mobilization
from mobilization.trees import DEFAULT_TREE, NodeRef, TreeNode, get_tree, resolve
from mobilization.vocabulary import (
    DEFAULT_INTERVAL_S,
    DEFAULT_TTL,
    MAX_MESSAGE,
    MODES,
    NEGATIVE,
    AttemptKind,
    MobilizationState,
    Mode,
    NodeStatus,
    RecipientState,
    TargetKind,
)
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import _

# The negative states as an SQL list, written once (sorted: the same statement text each time).
_NEGATIVE_SQL = ", ".join(f"'{state}'" for state in sorted(NEGATIVE))


def _group_of(db: Database, node: TreeNode, parent_group: str | None) -> str | None:
    """The grid or team a node belongs to, for ``--need``: its own if it names one."""
    if node.kind == "role" and "@" in node.ref:
        code = node.ref.split("@", 1)[1]
        # Which codes are grids or teams: read from their owners' tables (jurisdiction, contacts).
        row = db.conn.execute(
            "SELECT 1 FROM units WHERE code = ? AND level = ? UNION ALL"
            " SELECT 1 FROM teams WHERE code = ?",
            (code, Level.GRID.value, code),
        ).fetchone()
        if row is not None:
            return code
    return parent_group


def _select_nodes(nodes: Sequence[TreeNode], targets: Sequence[Target]) -> list[TreeNode]:
    """The subtrees the targets name, roots first, without repeats."""
    by_code = {n.code: n for n in nodes}
    kids: dict[str | None, list[TreeNode]] = {}
    for n in nodes:
        kids.setdefault(n.parent_code, []).append(n)
    roots: list[TreeNode] = []
    for target in targets:
        if target.kind == TargetKind.NODE:
            node = by_code.get(target.code)
        else:
            role = "grid_leader" if target.kind == TargetKind.GRID else "team_leader"
            ref = f"{role}@{target.code}"
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
    mode: str = Mode.CASCADE,
    need: int | None = None,
    exercise: bool = False,
    incident_id: int | None = None,
    tree: str = DEFAULT_TREE,
    interval_s: int = DEFAULT_INTERVAL_S,
    ttl: timedelta = DEFAULT_TTL,
) -> int:
    """Start a mobilization and release its first nodes; returns its id.

    The tree must exist: a caller that mobilizes a fresh installation asks for the default tree
    first (:func:`mobilization.trees.ensure_default_tree`).

    Raises:
        InvalidInput: a bad mode, need, interval or message; no targets, or a target with no
            node in the tree.
        NotFound: the incident, or the contact tree, does not exist.
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
        # Only whether the case exists: the incidents table is read, never written, here.
        row = db.conn.execute(
            "SELECT active FROM incidents WHERE id = ?", (incident_id,)
        ).fetchone()
        if row is None:
            raise NotFound(_("incident {id} not found").format(id=incident_id))
    with write(db):
        nodes = get_tree(db, tree)
        if not nodes:
            raise NotFound(_("contact tree {tree!r} has no nodes").format(tree=tree))
        chosen = _select_nodes(nodes, targets)
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
        step = CascadeTxn(db, now, get_mobilization(db, mob_id))
        first = [ids[n.code] for n in chosen if mode == Mode.BROADCAST or levels[n.code] == 0]
        step.release(first)
        step.finish()
    return mob_id


# ------------------------------------------------------------------------------- the walker


class _Node(NamedTuple):
    """A row of ``mob_nodes`` as the walker reads it."""

    id: int
    parent_id: int | None
    label: str
    kind: str
    ref: str
    alternates: str
    timeout_s: int
    repeats: int
    grp: str | None
    state: str
    tier: int


class CascadeTxn:
    """One mobilization's cascade inside one write transaction.

    Made by each step (start, a due time-out, an answer, a cancel) once it holds the write lock,
    and dropped at its end; it walks the nodes the step touched (release a node, link its people,
    settle or escalate it, stand a group down) and, with :meth:`finish`, completes the
    mobilization when nothing is left to send or wait for. It keeps only what one transaction
    may cache: the ack codes it handed out and their length.
    """

    def __init__(self, db: Database, now: datetime, mob: Mobilization) -> None:
        self.db = db
        self.now = now
        self.at = to_iso(now)
        self.mob = mob
        self._codes: set[str] = set()
        self._digits: int | None = None

    # --- codes
    def _code(self) -> str:
        """A fresh ack code, unique among live recipients, long enough to be hard to guess."""
        if self._digits is None:
            live = self.db.conn.execute("SELECT count(*) FROM recipients WHERE live = 1").fetchone()
            self._digits = max(4, math.ceil(math.log10(max(10, (int(live[0]) + 100) * 20))))
        for _attempt in range(50):
            low = 10 ** (self._digits - 1)
            code = str(low + secrets.randbelow(10**self._digits - low))
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
    def _node(self, node_id: int) -> _Node:
        return _Node._make(
            self.db.conn.execute(
                "SELECT id, parent_id, label, kind, ref, alternates, timeout_s, repeats, grp,"
                " state, tier FROM mob_nodes WHERE id = ?",
                (node_id,),
            ).fetchone()
        )

    def release(self, node_ids: Iterable[int]) -> None:
        """Start calling these nodes (those still waiting), unless their group is satisfied."""
        for node_id in node_ids:
            node = self._node(node_id)
            if node.state != NodeStatus.WAITING:
                continue
            if self._group_met(node.grp):
                self._stand_down_nodes([node_id])
                continue
            self.db.conn.execute(
                "UPDATE mob_nodes SET state = 'active', released_at = ? WHERE id = ?",
                (self.at, node_id),
            )
            self._activate(node, 0)

    def _refs(self, node: _Node) -> list[NodeRef]:
        alternates = [NodeRef.parse(a) for a in json.loads(node.alternates)]
        return [NodeRef(node.kind, node.ref), *alternates]

    def _activate(self, node: _Node, tier: int) -> None:
        """Notify the people of ``tier`` (0 = the node itself, k = its k-th alternate)."""
        refs = self._refs(node)
        while tier < len(refs):
            people = resolve(self.db, refs[tier], self.now)
            if people:
                self.db.conn.execute("UPDATE mob_nodes SET tier = ? WHERE id = ?", (tier, node.id))
                if tier > 0:
                    self.db.conn.execute(
                        "UPDATE recipients SET state = 'escalated' WHERE state = 'no_answer' AND"
                        " id IN (SELECT recipient_id FROM mob_links WHERE node_id = ?)",
                        (node.id,),
                    )
                for person in people:
                    self._link(node, person.id, person.name, tier)
                self.evaluate(node.id)
                return
            tier += 1
        self._settle(node, NodeStatus.UNREACHABLE)

    def _link(self, node: _Node, person_id: int, name: str, tier: int) -> None:
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
                    node.repeats,
                    node.timeout_s,
                    self.at,
                    self.at,
                ),
            )
            recipient_id = int(cur.lastrowid or 0)
        else:
            (recipient_id,) = row
        self.db.conn.execute(
            # Named again by a later tier (an alternate who is the node's own person, a leader
            # who is also the secretary): the link moves to that tier, so the node sees the
            # person's answer, or silence, there and escalates on.
            "INSERT INTO mob_links (node_id, recipient_id, tier) VALUES (?,?,?)"
            " ON CONFLICT(node_id, recipient_id) DO UPDATE SET tier = excluded.tier",
            (node.id, recipient_id, tier),
        )

    def evaluate(self, node_id: int) -> None:
        """Settle or escalate a node after one of its people changed state."""
        node = self._node(node_id)
        if node.state != NodeStatus.ACTIVE:
            return
        any_yes, current, current_negative = self.db.conn.execute(
            "SELECT coalesce(max(r.state = 'yes'), 0), count(*) FILTER (WHERE l.tier = ?1),"
            f" count(*) FILTER (WHERE l.tier = ?1 AND r.state IN ({_NEGATIVE_SQL}))"
            " FROM mob_links l JOIN recipients r ON r.id = l.recipient_id WHERE l.node_id = ?2",
            (node.tier, node_id),
        ).fetchone()
        if any_yes:
            self._settle(node, NodeStatus.YES)
        elif current and current == current_negative:
            self._activate(node, node.tier + 1)

    def _settle(self, node: _Node, outcome: NodeStatus) -> None:
        self.db.conn.execute(
            "UPDATE mob_nodes SET state = ?, settled_at = ? WHERE id = ?",
            (outcome, self.at, node.id),
        )
        if outcome == NodeStatus.UNREACHABLE:
            self.db.conn.execute(
                "UPDATE recipients SET state = 'unreachable', due_at = NULL"
                " WHERE state IN ('no_answer', 'escalated')"
                " AND id IN (SELECT recipient_id FROM mob_links WHERE node_id = ?)",
                (node.id,),
            )
            append_event(
                self.db,
                at=self.at,
                operator="engine",
                kind="mobilization_node_unreachable",
                incident_id=self.mob.incident_id,
                data={"mobilization": self.mob.id, "node": node.label},
            )
            if node.parent_id is not None:
                self._notice_parent(node)
        if self.mob.mode == Mode.CASCADE:
            kids = [
                node_id
                for (node_id,) in self.db.conn.execute(
                    "SELECT id FROM mob_nodes WHERE parent_id = ? AND state = 'waiting'"
                    " ORDER BY position",
                    (node.id,),
                )
            ]
            self.release(kids)

    def _notice_parent(self, node: _Node) -> None:
        rows = self.db.conn.execute(
            "SELECT r.id, r.person_id FROM mob_links l JOIN recipients r ON r.id = l.recipient_id"
            " WHERE l.node_id = ? AND r.state IN ('yes', 'sent')",
            (node.parent_id,),
        ).fetchall()
        text = notice_text(node.label)
        for recipient_id, person_id in rows:
            self.enqueue(recipient_id, person_id, AttemptKind.NOTICE, text)

    # --- --need
    def _group_met(self, grp: str | None) -> bool:
        if grp is None or self.mob.need is None:
            return False
        (yes,) = self.db.conn.execute(
            "SELECT count(DISTINCT r.id) FROM mob_nodes n JOIN mob_links l ON l.node_id = n.id"
            " JOIN recipients r ON r.id = l.recipient_id"
            " WHERE n.mobilization_id = ? AND n.grp = ? AND r.state = 'yes'",
            (self.mob.id, grp),
        ).fetchone()
        return int(yes) >= self.mob.need

    def check_groups(self, recipient_id: int) -> None:
        """Stand down the groups (grids, teams) of this person that have enough yes now."""
        if self.mob.need is None:
            return
        groups = [
            grp
            for (grp,) in self.db.conn.execute(
                "SELECT DISTINCT n.grp FROM mob_links l JOIN mob_nodes n ON n.id = l.node_id"
                " WHERE l.recipient_id = ? AND n.grp IS NOT NULL",
                (recipient_id,),
            )
        ]
        for grp in groups:
            if not self._group_met(grp):
                continue
            node_ids = [
                node_id
                for (node_id,) in self.db.conn.execute(
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
        text = followup_text(self.mob, AttemptKind.STAND_DOWN)
        for recipient_id, person_id, sends in rows:
            self.close_recipient(recipient_id, RecipientState.STOOD_DOWN)
            if sends:
                self.enqueue(recipient_id, person_id, AttemptKind.STAND_DOWN, text)
        # Children of stood-down nodes in another group are released (cascade); same-group
        # children stand down with them.
        if self.mob.mode == Mode.CASCADE:
            kids = [
                node_id
                for (node_id,) in self.db.conn.execute(
                    "SELECT id FROM mob_nodes WHERE state = 'waiting' AND parent_id IN"
                    " (SELECT value FROM json_each(?)) ORDER BY position",
                    (ids,),
                )
            ]
            self.release(kids)

    def close_recipient(self, recipient_id: int, state: RecipientState) -> None:
        """Stop calling a person (stood down, cancelled); their unsent call-out is withdrawn."""
        self.db.conn.execute(
            "UPDATE recipients SET state = ?, due_at = NULL WHERE id = ?", (state, recipient_id)
        )
        self.db.conn.execute(
            "UPDATE attempts SET state = 'withdrawn', done_at = ? WHERE recipient_id = ?"
            " AND kind = 'notify' AND state = 'pending'",
            (self.at, recipient_id),
        )

    # --- messages
    def enqueue(self, recipient_id: int, person_id: int, kind: AttemptKind, text: str) -> None:
        """A follow-up message (stand down, cancel, notice) to one person, throttled."""
        enqueue(self.db, self.now, self.mob, recipient_id, person_id, kind, text)

    def finish(self) -> None:
        """Mark the mobilization completed once nothing is left to send or wait for."""
        if self.mob.state != MobilizationState.ACTIVE:
            return
        (busy,) = self.db.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM mob_nodes WHERE mobilization_id = ?1 AND state IN"
            " ('waiting', 'active')) OR EXISTS (SELECT 1 FROM recipients WHERE"
            " mobilization_id = ?1 AND state IN ('queued', 'sent'))",
            (self.mob.id,),
        ).fetchone()
        if not busy:
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

    def after_answers(self, recipient_ids: Sequence[int]) -> None:
        """Re-evaluate, once each, the groups and nodes of people whose state changed."""
        if self.mob.need is not None:
            for recipient_id in recipient_ids:
                self.check_groups(recipient_id)
        for (node_id,) in self.db.conn.execute(
            "SELECT DISTINCT node_id FROM mob_links WHERE recipient_id IN"
            " (SELECT value FROM json_each(?)) ORDER BY node_id",
            (json.dumps(list(recipient_ids)),),
        ).fetchall():
            self.evaluate(node_id)
        self.finish()


# ------------------------------------------------------------------------------- the runner's step


class _Due(NamedTuple):
    """A recipient whose time has come, as :func:`process_due` reads it."""

    id: int
    mobilization_id: int
    person_id: int
    state: str
    sends: int
    repeats: int
    interval_s: int


def process_due(db: Database, clock: Clock, *, limit: int = 5000) -> int:
    """Act on recipients whose time has come: first sends, re-sends, and silence after repeats.

    Returns how many recipients were acted on; call again while it returns ``limit``.
    """
    now = clock.now()
    at = to_iso(now)
    with write(db):
        rows = [
            _Due._make(row)
            for row in db.conn.execute(
                "SELECT r.id, r.mobilization_id, r.person_id, r.state, r.sends, r.repeats,"
                " m.interval_s FROM recipients r JOIN mobilizations m ON m.id = r.mobilization_id"
                " WHERE r.due_at IS NOT NULL AND r.due_at <= ? AND r.state IN ('queued', 'sent')"
                " ORDER BY r.due_at LIMIT ?",
                (at, limit),
            )
        ]
        if not rows:
            return 0
        sends = [r for r in rows if r.sends <= r.repeats]
        silent = [r for r in rows if r.sends > r.repeats]
        slots = reserve(db, now, [(int(r.person_id), int(r.interval_s)) for r in sends])
        db.conn.executemany(
            "INSERT INTO attempts (id, recipient_id, kind, round, state, created_at, not_before)"
            " VALUES (?, ?, 'notify', ?, 'pending', ?, ?)",
            [
                (uuid.uuid4().hex, r.id, r.sends + 1, at, slot)
                for r, slot in zip(sends, slots, strict=True)
            ],
        )
        db.conn.executemany(
            "UPDATE recipients SET due_at = NULL WHERE id = ?", [(r.id,) for r in sends]
        )
        if silent:
            db.conn.executemany(
                "UPDATE recipients SET state = 'no_answer', due_at = NULL WHERE id = ?",
                [(r.id,) for r in silent],
            )
            by_mob: dict[int, list[int]] = {}
            for r in silent:
                by_mob.setdefault(int(r.mobilization_id), []).append(int(r.id))
            for mob_id, recipient_ids in by_mob.items():
                CascadeTxn(db, now, get_mobilization(db, mob_id)).after_answers(recipient_ids)
    return len(rows)


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


# ------------------------------------------------------------------------------- cancel / resend


def cancel_mobilization(db: Database, clock: Clock, operator: str, mobilization_id: int) -> int:
    """Cancel a running mobilization; people already called are told. Returns how many."""
    now = clock.now()
    with write(db):
        mob = get_mobilization(db, mobilization_id)
        if mob.state != MobilizationState.ACTIVE:
            raise InvalidTransition(
                _("mobilization {id} is {state}; only an active one can be cancelled").format(
                    id=mob.id, state=mob.state
                )
            )
        step = CascadeTxn(db, now, mob)
        rows = db.conn.execute(
            "SELECT id, person_id, sends FROM recipients WHERE mobilization_id = ?"
            " AND state IN ('queued', 'sent')",
            (mob.id,),
        ).fetchall()
        told = 0
        text = followup_text(mob, AttemptKind.CANCEL)
        for recipient_id, person_id, sends in rows:
            step.close_recipient(recipient_id, RecipientState.CANCELLED)
            if sends:
                step.enqueue(recipient_id, person_id, AttemptKind.CANCEL, text)
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
        if mob.state != MobilizationState.ACTIVE:
            raise InvalidTransition(
                _("mobilization {id} is {state}").format(id=mob.id, state=mob.state)
            )
        rows = db.conn.execute(
            "SELECT id, person_id, sends FROM recipients WHERE mobilization_id = ?"
            " AND state = 'sent' AND NOT EXISTS (SELECT 1 FROM attempts a WHERE"
            " a.recipient_id = recipients.id AND a.state = 'pending')",
            (mob.id,),
        ).fetchall()
        slots = reserve(db, now, [(person_id, mob.interval_s) for _id, person_id, _s in rows])
        db.conn.executemany(
            "INSERT INTO attempts (id, recipient_id, kind, round, state, created_at, not_before)"
            " VALUES (?, ?, 'notify', ?, 'pending', ?, ?)",
            [
                (uuid.uuid4().hex, recipient_id, sends + 1, to_iso(now), slot)
                for (recipient_id, _person_id, sends), slot in zip(rows, slots, strict=True)
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
