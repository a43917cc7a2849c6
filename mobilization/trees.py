"""Provides contact trees (call trees): building, editing, importing, resolving and checking them.

A contact tree is a named, rooted tree of nodes. A node names *who* is called in one of three
ways, resolved to people only at the moment of sending (:func:`resolve`):

* ``person`` — ``ref`` is a person's key; the person if they are active.
* ``post`` — ``ref`` is a duty-post code (``DO``); whoever the duty roster says holds it then.
* ``role`` — ``ref`` is ``ROLE@UNIT`` (``grid_leader@G01``, ``community_secretary@330106001001``):
  the active people *of that very unit* holding the role; or, for the two team roles,
  ``team_leader@TEAM`` (the team's leader) and ``team_member@TEAM`` (its active members other
  than the leader, who is reached through the leader node).

Written as one token — for alternates, files and the CLI — a reference is ``KIND:REF``:
``person:P0001``, ``post:DO``, ``role:grid_leader@G01`` (:class:`NodeRef`).

Each node carries ordered **alternates** (references of the same forms), an acknowledgement
**timeout** in seconds and a **repeat** count. The mobilization engine walks :func:`levels`
(or :func:`children`) top down; a node silent past its timeout is re-sent ``repeats`` times,
then its alternates are notified in order, then it is declared unreachable and its children
are released all the same.

:func:`build_default_tree` derives the tree from the jurisdiction::

    duty officer (post DO; alternate post SL)            or role duty_officer@<township>
    ├── community secretary of each community
    │   └── grid leader of each current grid (alternate: the community's secretary)
    │       ├── grid members of the grid         (only when the grid has some at build time)
    │       └── volunteers of the grid           (only when the grid has some at build time)
    └── team leader of each active team
        └── team members                         (only when the team has some besides the leader)

Volunteers are a sibling of the members node rather than part of it, so a mobilization can
drop or delay them without touching the members. Leaf nodes that would resolve to nobody are
left out (rebuild with ``replace=True`` after adding people); the backbone nodes (secretaries,
grid leaders, team leaders) are always built, so :func:`check_tree` reports a missing one.

Cycles can only come from edited data: :func:`edit_node` refuses a parent change that makes
one, and :func:`check_tree` detects them anyway by walking each parent chain with a visited set.
Every change appends one audit event in the same transaction (``tree_built``,
``tree_node_added``, ``tree_node_edited``, ``tree_node_removed``, ``tree_imported``); a person
key that is a phone number is recorded masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from contacts.models import Role
from contacts.people import Person, get_person, list_people
from contacts.phones import DEFAULT_REGION, shown_key
from contacts.roster import get_post, holder
from contacts.teams import get_team, list_teams
from jurisdiction.models import Level
from jurisdiction.units import get_unit, list_units
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import ImportRejected, InvalidInput, NotFound
from store.i18n import N_, _

KINDS = ("person", "post", "role")
TEAM_ROLES = (Role.TEAM_LEADER, Role.TEAM_MEMBER)
NODE_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
TREE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
DEFAULT_TREE = "default"
DEFAULT_TIMEOUT_S = 300
DEFAULT_REPEATS = 1
MAX_TIMEOUT_S = 7 * 24 * 3600
MAX_REPEATS = 20
MAX_LABEL = 100
PROBLEM_KINDS = ("nobody", "no_channel", "cycle", "orphan")
# What each kind of problem is called where people read it (JSON keeps the kind).
PROBLEM_LABELS = {
    "nobody": N_("reaches nobody"),
    "no_channel": N_("cannot be reached"),
    "cycle": N_("loop"),
    "orphan": N_("cut off from the root"),
}
RESOLVE_PAGE = 5000


@dataclass(frozen=True)
class NodeRef:
    """Who a node (or an alternate) names: ``kind`` is person/post/role; see the module doc."""

    kind: str
    ref: str

    @classmethod
    def parse(cls, text: str, field: str = "ref") -> NodeRef:
        """Read ``person:KEY``, ``post:CODE`` or ``role:ROLE@UNIT`` (syntax only).

        Raises:
            InvalidInput: no known ``KIND:`` prefix, or nothing after it.
        """
        kind, sep, ref = str(text).strip().partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in KINDS or not ref.strip():
            raise InvalidInput(
                _(
                    "{text!r} is not a reference; write person:KEY, post:CODE or role:ROLE@UNIT"
                ).format(text=text),
                field,
            )
        return cls(kind, ref.strip())

    def format(self) -> str:
        return f"{self.kind}:{self.ref}"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class TreeNode:
    """One node of a contact tree as stored; ``parent_code`` is ``None`` for the root."""

    id: int
    tree: str
    code: str
    parent_code: str | None
    kind: str
    ref: str
    label: str
    alternates: tuple[NodeRef, ...]
    timeout_s: int
    repeats: int
    position: int
    parent_id: int | None = field(default=None, compare=False)

    @property
    def node_ref(self) -> NodeRef:
        return NodeRef(self.kind, self.ref)


@dataclass(frozen=True)
class TreeProblem:
    """A finding of :func:`check_tree`; ``kind`` is one of :data:`PROBLEM_KINDS`."""

    kind: str
    node_code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "node": self.node_code, "message": self.message}


# ------------------------------------------------------------------------------ validation


def _tree_name(tree: str) -> str:
    name = tree.strip()
    if not TREE_NAME_RE.match(name):
        raise InvalidInput(
            _("{name!r} is not a tree name: up to 32 letters, digits, '-', '_' or '.'").format(
                name=tree
            ),
            "tree",
        )
    return name


def _node_code(code: str, field: str = "code") -> str:
    value = str(code).strip()
    if not NODE_CODE_RE.match(value):
        raise InvalidInput(
            _("{code!r} is not a node code: up to 64 letters, digits, '-', '_', '.' or '@'").format(
                code=code
            ),
            field,
        )
    return value


def _number(value: Any, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            _("must be a whole number from {low} to {high} (got {value!r})").format(
                low=low, high=high, value=value
            ),
            field,
        )
    return value


def _label(value: Any, field: str = "label") -> str:
    text = " ".join(str(value).split()) if isinstance(value, str) else ""
    if not text or len(text) > MAX_LABEL:
        raise InvalidInput(
            _("a label of 1-{max} characters is required").format(max=MAX_LABEL), field
        )
    return text


def _split_role(ref: str, field: str) -> tuple[Role, str]:
    role_text, sep, target = ref.partition("@")
    if not sep or not target.strip():
        raise InvalidInput(
            _("{ref!r} is not ROLE@UNIT (e.g. grid_leader@G01)").format(ref=ref), field
        )
    try:
        role = Role.parse(role_text)
    except ValueError as exc:
        raise InvalidInput(str(exc), field) from exc
    return role, target.strip()


def validate_ref(db: Database, node_ref: NodeRef, field: str = "ref") -> tuple[NodeRef, str]:
    """Check that ``node_ref`` names something that exists; return it normalised and a label.

    Persons are stored by key (any person reference is accepted), posts by their code, roles
    as ``role_code@UNIT``.

    Raises:
        InvalidInput: an unknown kind, person, post, role, unit or team (naming ``field``).
    """
    kind, ref = node_ref.kind, node_ref.ref.strip()
    if kind not in KINDS:
        raise InvalidInput(
            _("unknown kind {kind!r}; use person, post or role").format(kind=kind), field
        )
    try:
        if kind == "person":
            person = get_person(db, ref)
            return NodeRef("person", person.key), person.name
        if kind == "post":
            post = get_post(db, ref)
            return NodeRef("post", post.code), post.name
        role, target = _split_role(ref, field)
        if role in TEAM_ROLES:
            team = get_team(db, target)
            return NodeRef("role", f"{role.value}@{team.code}"), f"{team.name} {role.label_zh}"
        unit = get_unit(db, target)
        return NodeRef("role", f"{role.value}@{unit.code}"), f"{unit.name} {role.label_zh}"
    except NotFound as exc:
        raise InvalidInput(str(exc), field) from exc
    except InvalidInput as exc:
        if exc.field == field:
            raise
        raise InvalidInput(exc.reason, field) from exc


def _validate_alternates(
    db: Database, values: Iterable[str | NodeRef], field: str
) -> list[NodeRef]:
    out: list[NodeRef] = []
    for value in values:
        parsed = value if isinstance(value, NodeRef) else NodeRef.parse(value, field)
        normal, _label_text = validate_ref(db, parsed, field)
        if normal in out:
            raise InvalidInput(
                _("alternate {ref} is listed twice").format(ref=normal.format()), field
            )
        out.append(normal)
    return out


def shown_ref(node_ref: NodeRef, region: str = DEFAULT_REGION) -> str:
    """A reference as the audit log and listings show it: a phone-number key masked."""
    if node_ref.kind == "person":
        return f"person:{shown_key(node_ref.ref, region)}"
    return node_ref.format()


# --------------------------------------------------------------------------------- reading

_NODE_COLUMNS = (
    "n.id, n.tree, n.code, p.code, n.kind, n.ref, n.label, n.alternates, n.timeout_s,"
    " n.repeats, n.position, n.parent_id"
)
_NODE_FROM = "tree_nodes n LEFT JOIN tree_nodes p ON p.id = n.parent_id AND p.tree = n.tree"


def _row_to_node(row: Sequence[Any]) -> TreeNode:
    return TreeNode(
        id=int(row[0]),
        tree=str(row[1]),
        code=str(row[2]),
        parent_code=row[3],
        kind=str(row[4]),
        ref=str(row[5]),
        label=str(row[6]),
        alternates=tuple(NodeRef.parse(a) for a in json.loads(row[7])),
        timeout_s=int(row[8]),
        repeats=int(row[9]),
        position=int(row[10]),
        parent_id=row[11],
    )


def get_tree(db: Database, tree: str = DEFAULT_TREE) -> list[TreeNode]:
    """Every node of ``tree`` (empty when there is no such tree), parents before children
    where the data allows, siblings in position order."""
    rows = db.conn.execute(
        f"SELECT {_NODE_COLUMNS} FROM {_NODE_FROM} WHERE n.tree = ? ORDER BY n.position, n.id",
        (tree.strip(),),
    ).fetchall()
    nodes = [_row_to_node(r) for r in rows]
    ordered: list[TreeNode] = [n for level in levels(nodes) for n in level]
    seen = {n.id for n in ordered}
    return ordered + [n for n in nodes if n.id not in seen]


def list_trees(db: Database) -> list[tuple[str, int]]:
    """``(tree name, node count)`` of every tree, by name."""
    rows = db.conn.execute(
        "SELECT tree, count(*) FROM tree_nodes GROUP BY tree ORDER BY tree"
    ).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


def get_node(db: Database, tree: str, code: str) -> TreeNode:
    """Raises: NotFound: no node ``code`` in ``tree``."""
    row = db.conn.execute(
        f"SELECT {_NODE_COLUMNS} FROM {_NODE_FROM} WHERE n.tree = ? AND n.code = ?",
        (tree.strip(), code.strip()),
    ).fetchone()
    if row is None:
        raise NotFound(
            _("no node {code} in tree {tree}").format(code=code.strip(), tree=tree.strip())
        )
    return _row_to_node(row)


def children(db: Database, tree: str, code: str) -> list[TreeNode]:
    """The direct children of node ``code``, in position order.

    Raises:
        NotFound: no such node.
    """
    parent = get_node(db, tree, code)
    rows = db.conn.execute(
        f"SELECT {_NODE_COLUMNS} FROM {_NODE_FROM} WHERE n.tree = ? AND n.parent_id = ?"
        " ORDER BY n.position, n.id",
        (parent.tree, parent.id),
    ).fetchall()
    return [_row_to_node(r) for r in rows]


def levels(nodes: Sequence[TreeNode]) -> list[list[TreeNode]]:
    """The nodes reachable from the root, level by level (the root alone first).

    Siblings keep their position order. Nodes in a cycle, below one, or hanging off a second
    root are left out: :func:`check_tree` reports them.
    """
    kids: dict[int, list[TreeNode]] = {}
    by_id = {n.id: n for n in nodes}
    roots = [n for n in nodes if n.parent_id is None]
    for n in nodes:
        if n.parent_id is not None and n.parent_id in by_id:
            kids.setdefault(n.parent_id, []).append(n)
    if not roots:
        return []
    root = min(roots, key=lambda n: (n.position, n.id))
    out: list[list[TreeNode]] = []
    current, seen = [root], {root.id}
    while current:
        out.append(current)
        following: list[TreeNode] = []
        for n in current:
            for child in sorted(kids.get(n.id, []), key=lambda c: (c.position, c.id)):
                if child.id not in seen:
                    seen.add(child.id)
                    following.append(child)
        current = following
    return out


def subtree(nodes: Sequence[TreeNode], code: str) -> list[tuple[int, TreeNode]]:
    """``(depth, node)`` of node ``code`` and everything below it, depth first.

    Raises:
        NotFound: no such node among ``nodes``.
    """
    start = next((n for n in nodes if n.code == code.strip()), None)
    if start is None:
        raise NotFound(_("no node {code}").format(code=code.strip()))
    kids: dict[int, list[TreeNode]] = {}
    for n in nodes:
        if n.parent_id is not None:
            kids.setdefault(n.parent_id, []).append(n)
    out: list[tuple[int, TreeNode]] = []
    seen: set[int] = set()
    stack = [(0, start)]
    while stack:
        depth, node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        out.append((depth, node))
        ordered = sorted(kids.get(node.id, []), key=lambda c: (c.position, c.id))
        stack.extend((depth + 1, c) for c in reversed(ordered))
    return out


# ------------------------------------------------------------------------------ resolution


def resolve(db: Database, node: TreeNode | NodeRef, at: datetime) -> list[Person]:
    """The active people ``node`` names at ``at``, in a stable order, without repeats.

    A reference to something that no longer exists resolves to nobody (the engine must keep
    going; :func:`check_tree` reports it).
    """
    target = node.node_ref if isinstance(node, TreeNode) else node
    try:
        people = _resolve(db, target, at)
    except (NotFound, InvalidInput):
        return []
    out: list[Person] = []
    seen: set[int] = set()
    for p in people:
        if p.active and p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


def _resolve(db: Database, target: NodeRef, at: datetime) -> list[Person]:
    if target.kind == "person":
        return [get_person(db, target.ref)]
    if target.kind == "post":
        shift = holder(db, target.ref, at)
        return [] if shift is None else [get_person(db, shift.person.id)]
    if target.kind != "role":
        return []
    role, code = _split_role(target.ref, "ref")
    if role in TEAM_ROLES:
        team = get_team(db, code)
        if not team.active:
            return []
        leader_id = team.leader.id if team.leader else None
        if role is Role.TEAM_LEADER:
            return [team.leader] if team.leader else []
        return [m for m in team.members if m.id != leader_id]
    # Every holder, page by page: a grid's members can outnumber one listing page.
    people: list[Person] = []
    while True:
        page = list_people(
            db,
            unit=code,
            include_sub_units=False,
            role=role,
            active=True,
            limit=RESOLVE_PAGE,
            after_id=people[-1].id if people else None,
        )
        people += page
        if len(page) < RESOLVE_PAGE:
            return people


def has_channel(person: Person) -> bool:
    """Whether ``person`` can be sent anything: a channel row, or a phone, e-mail or webhook."""
    return bool(person.channels or person.phone or person.email or person.webhook)


def problem_label(kind: str) -> str:
    """A problem kind in people's words, in the current language."""
    return _(PROBLEM_LABELS[kind]) if kind in PROBLEM_LABELS else kind


def check_tree(db: Database, tree: str, at: datetime) -> list[TreeProblem]:
    """Report what would stop a mobilization reaching people at ``at``.

    * ``nobody``: a node (or one of its alternates) that resolves to no active person;
    * ``no_channel``: a person a node or alternate resolves to who has no way to be reached;
    * ``cycle``: nodes whose parent chain loops (one problem per cycle, naming its nodes);
    * ``orphan``: nodes not reachable from the root (a second root, a parent in another tree,
      or hanging below a cycle).

    Raises:
        NotFound: no tree of that name.
    """
    nodes = get_tree(db, tree)
    if not nodes:
        raise NotFound(_("no contact tree {tree}").format(tree=tree.strip()))
    problems = _structure_problems(nodes)
    cache: dict[NodeRef, list[Person]] = {}

    def people_of(ref: NodeRef) -> list[Person]:
        if ref not in cache:
            cache[ref] = resolve(db, ref, at)
        return cache[ref]

    for node in nodes:
        refs = [(False, node.node_ref), *((True, a) for a in node.alternates)]
        for alternate, ref in refs:
            found = people_of(ref)
            if not found:
                if alternate:
                    text = _("{code} ({label}) alternate {ref} resolves to nobody")
                else:
                    text = _("{code} ({label}) {ref} resolves to nobody")
                problems.append(
                    TreeProblem(
                        "nobody",
                        node.code,
                        text.format(code=node.code, label=node.label, ref=shown_ref(ref)),
                    )
                )
            for person in found:
                if not has_channel(person):
                    if alternate:
                        text = _(
                            "{code} alternate: {name} ({key}) has no phone, e-mail, webhook or"
                            " channel"
                        )
                    else:
                        text = _("{code}: {name} ({key}) has no phone, e-mail, webhook or channel")
                    problems.append(
                        TreeProblem(
                            "no_channel",
                            node.code,
                            text.format(code=node.code, name=person.name, key=person.shown_key()),
                        )
                    )
    order = {kind: i for i, kind in enumerate(PROBLEM_KINDS)}
    return sorted(problems, key=lambda p: (order[p.kind], p.node_code, p.message))


def _structure_problems(nodes: Sequence[TreeNode]) -> list[TreeProblem]:
    """Cycles and unreachable nodes, by walking every parent chain with a visited set."""
    parent = {n.id: n.parent_id for n in nodes}
    code = {n.id: n.code for n in nodes}
    roots = sorted((n for n in nodes if n.parent_id is None), key=lambda n: (n.position, n.id))
    root_id = roots[0].id if roots else None
    state: dict[int, str] = {}  # ok | cycle | orphan
    why: dict[int, str] = {}
    problems: list[TreeProblem] = []
    for start in parent:
        path: list[int] = []
        on_path: set[int] = set()
        cur: int | None = start
        result, reason = "ok", ""
        while cur is not None:
            if cur in state:
                result = "orphan" if state[cur] in ("cycle", "orphan") else "ok"
                reason = why.get(cur, _("it hangs below a cycle"))
                break
            if cur in on_path:
                loop = path[path.index(cur) :]
                for member in loop:
                    state[member] = "cycle"
                names = sorted(code[m] for m in loop)
                problems.append(
                    TreeProblem(
                        "cycle",
                        names[0],
                        _("parent chain loops: {chain}").format(
                            chain=" → ".join(code[m] for m in loop + [cur])
                        ),
                    )
                )
                result, reason = "orphan", _("it hangs below a cycle")
                break
            on_path.add(cur)
            path.append(cur)
            up = parent[cur]
            if up is None:
                if cur != root_id:
                    result, reason = "orphan", _("{code} is a second root").format(code=code[cur])
                break
            if up not in parent:
                result = "orphan"
                reason = _("{code}'s parent belongs to another tree").format(code=code[cur])
                break
            cur = up
        for member in path:
            if member not in state:
                state[member] = result
                if result == "orphan":
                    why[member] = reason
    for n in nodes:
        if state.get(n.id) == "orphan":
            problems.append(
                TreeProblem(
                    "orphan",
                    n.code,
                    _("{code} is not reachable from the root: {reason}").format(
                        code=n.code, reason=why[n.id]
                    ),
                )
            )
    return problems


# --------------------------------------------------------------------------------- writing


@dataclass
class _Draft:
    """A node about to be written: ``parent`` is the code of its parent in the same tree."""

    code: str
    parent: str | None
    ref: NodeRef
    label: str
    alternates: list[NodeRef]
    timeout_s: int
    repeats: int
    position: int = 0


def _tree_exists(db: Database, tree: str) -> bool:
    return (
        db.conn.execute("SELECT 1 FROM tree_nodes WHERE tree = ? LIMIT 1", (tree,)).fetchone()
        is not None
    )


def _insert(db: Database, tree: str, drafts: Sequence[_Draft], at: str) -> None:
    """Insert drafts given parents first; positions are kept as given."""
    ids: dict[str, int] = {}
    for d in drafts:
        parent_id = ids[d.parent] if d.parent is not None else None
        cursor = db.conn.execute(
            "INSERT INTO tree_nodes (tree, code, parent_id, kind, ref, label, alternates,"
            " timeout_s, repeats, position, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                tree,
                d.code,
                parent_id,
                d.ref.kind,
                d.ref.ref,
                d.label,
                json.dumps([a.format() for a in d.alternates], ensure_ascii=False),
                d.timeout_s,
                d.repeats,
                d.position,
                at,
                at,
            ),
        )
        ids[d.code] = int(cursor.lastrowid or 0)


def _replace_tree(
    db: Database, tree: str, drafts: Sequence[_Draft], at: str, *, replace_existing: bool
) -> bool:
    """Write ``drafts`` as ``tree`` inside the caller's transaction; True when one was replaced."""
    existed = _tree_exists(db, tree)
    if existed and not replace_existing:
        raise InvalidInput(
            _("contact tree {tree} already exists; pass --replace to rebuild it").format(tree=tree),
            "tree",
        )
    if existed:
        # One statement: SQLite checks the parent foreign key at its end, so order is moot.
        db.conn.execute("DELETE FROM tree_nodes WHERE tree = ?", (tree,))
    _insert(db, tree, drafts, at)
    return existed


def build_default_tree(
    db: Database,
    clock: Clock,
    operator: str,
    tree: str = DEFAULT_TREE,
    *,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    repeats: int = DEFAULT_REPEATS,
    replace: bool = False,
) -> list[TreeNode]:
    """Derive the default tree from the jurisdiction, teams and posts (see the module doc).

    Raises:
        InvalidInput: a bad name or number; the tree exists and ``replace`` is false; no post
            ``DO`` and no township to hang the duty-officer role on.
    """
    name = _tree_name(tree)
    timeout_s = _number(timeout_s, "timeout", low=1, high=MAX_TIMEOUT_S)
    repeats = _number(repeats, "repeats", low=0, high=MAX_REPEATS)
    now = clock.now()
    drafts = _default_drafts(db, now, timeout_s, repeats)
    with write(db):
        replaced = _replace_tree(db, name, drafts, to_iso(now), replace_existing=replace)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="tree_built",
            data={
                "tree": name,
                "nodes": len(drafts),
                "replaced": replaced,
                "timeout_s": timeout_s,
                "repeats": repeats,
            },
        )
    return get_tree(db, name)


def ensure_default_tree(
    db: Database, clock: Clock, operator: str, tree: str = DEFAULT_TREE
) -> bool:
    """Build the default tree from the jurisdiction unless it exists; True when it was built.

    What a caller that mobilizes asks for first, so a grid can be mobilized on a fresh
    installation; only the default tree is derived, any other name is left as it is.
    """
    if tree != DEFAULT_TREE or _tree_exists(db, tree):
        return False
    build_default_tree(db, clock, operator, tree)
    return True


def _default_drafts(db: Database, at: datetime, timeout_s: int, repeats: int) -> list[_Draft]:
    def node(
        code: str, parent: str | None, ref: NodeRef, label: str, alternates: Sequence[NodeRef] = ()
    ) -> _Draft:
        return _Draft(code, parent, ref, label, list(alternates), timeout_s, repeats)

    def populated(role: Role, unit: str) -> bool:
        return bool(
            list_people(db, unit=unit, include_sub_units=False, role=role, active=True, limit=1)
        )

    try:
        duty = get_post(db, "DO")
        root = node("root", None, NodeRef("post", duty.code), duty.name)
        with suppress(NotFound):  # a shift lead post, when there is one, backs the duty officer
            root.alternates.append(NodeRef("post", get_post(db, "SL").code))
    except NotFound:
        townships = list_units(db, level=Level.TOWNSHIP)
        if not townships:
            raise InvalidInput(
                _(
                    "no duty post DO and no township: add the post (duty post-add DO"
                    ' "duty officer") or the jurisdiction first'
                ),
                "tree",
            ) from None
        top = townships[0]
        root = node(
            "root",
            None,
            NodeRef("role", f"{Role.DUTY_OFFICER.value}@{top.code}"),
            f"{top.name} {Role.DUTY_OFFICER.label_zh}",
        )
    drafts = [root]
    communities = {u.code: u for u in list_units(db, level=Level.COMMUNITY)}
    grids = list_units(db, level=Level.GRID)
    for com in communities.values():
        drafts.append(
            node(
                f"com-{com.code}",
                "root",
                NodeRef("role", f"{Role.COMMUNITY_SECRETARY.value}@{com.code}"),
                f"{com.name} {Role.COMMUNITY_SECRETARY.label_zh}",
            )
        )
    for grid in grids:
        community = communities.get(grid.parent_code or "")
        parent = f"com-{community.code}" if community else "root"
        alternates = (
            [NodeRef("role", f"{Role.COMMUNITY_SECRETARY.value}@{community.code}")]
            if community
            else []
        )
        leader = f"grid-{grid.code}"
        drafts.append(
            node(
                leader,
                parent,
                NodeRef("role", f"{Role.GRID_LEADER.value}@{grid.code}"),
                f"{grid.name} {Role.GRID_LEADER.label_zh}",
                alternates,
            )
        )
        for role, suffix in ((Role.GRID_MEMBER, "members"), (Role.VOLUNTEER, "volunteers")):
            if populated(role, grid.code):
                drafts.append(
                    node(
                        f"{leader}-{suffix}",
                        leader,
                        NodeRef("role", f"{role.value}@{grid.code}"),
                        f"{grid.name} {role.label_zh}",
                    )
                )
    for team in list_teams(db):
        if not team.active:
            continue
        code = f"team-{team.code}"
        drafts.append(
            node(
                code,
                "root",
                NodeRef("role", f"{Role.TEAM_LEADER.value}@{team.code}"),
                f"{team.name} {Role.TEAM_LEADER.label_zh}",
            )
        )
        leader_id = team.leader.id if team.leader else None
        if any(m.active and m.id != leader_id for m in team.members):
            drafts.append(
                node(
                    f"{code}-members",
                    code,
                    NodeRef("role", f"{Role.TEAM_MEMBER.value}@{team.code}"),
                    f"{team.name} {Role.TEAM_MEMBER.label_zh}",
                )
            )
    positions: dict[str | None, int] = {}
    for d in drafts:
        d.position = positions.get(d.parent, 0)
        positions[d.parent] = d.position + 1
    return drafts


def add_node(
    db: Database,
    clock: Clock,
    operator: str,
    tree: str,
    code: str,
    ref: NodeRef,
    *,
    parent: str | None = None,
    label: str | None = None,
    alternates: Sequence[str | NodeRef] = (),
    timeout_s: int = DEFAULT_TIMEOUT_S,
    repeats: int = DEFAULT_REPEATS,
) -> TreeNode:
    """Add a node as the last child of ``parent`` (or as the root of a new, empty tree).

    Raises:
        InvalidInput: a bad code, reference, label or number; a code already in the tree; no
            parent given for a tree that has a root already.
        NotFound: no node ``parent`` in the tree.
    """
    name = _tree_name(tree)
    node_code = _node_code(code)
    normal, default_label = validate_ref(db, ref)
    text = _label(label if label is not None else default_label)
    alts = _validate_alternates(db, alternates, "alternate")
    timeout_s = _number(timeout_s, "timeout", low=1, high=MAX_TIMEOUT_S)
    repeats = _number(repeats, "repeats", low=0, high=MAX_REPEATS)
    now = to_iso(clock.now())
    with write(db):
        if db.conn.execute(
            "SELECT 1 FROM tree_nodes WHERE tree = ? AND code = ?", (name, node_code)
        ).fetchone():
            raise InvalidInput(
                _("tree {tree} already has a node {code}").format(tree=name, code=node_code),
                "code",
            )
        if parent is None:
            if _tree_exists(db, name):
                raise InvalidInput(
                    _("tree {tree} has a root already; give the parent of the new node").format(
                        tree=name
                    ),
                    "parent",
                )
            parent_id, parent_code = None, None
        else:
            up = get_node(db, name, parent)
            parent_id, parent_code = up.id, up.code
        position = int(
            db.conn.execute(
                "SELECT coalesce(max(position) + 1, 0) FROM tree_nodes WHERE tree = ?"
                " AND parent_id IS ?",
                (name, parent_id),
            ).fetchone()[0]
        )
        db.conn.execute(
            "INSERT INTO tree_nodes (tree, code, parent_id, kind, ref, label, alternates,"
            " timeout_s, repeats, position, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                name,
                node_code,
                parent_id,
                normal.kind,
                normal.ref,
                text,
                json.dumps([a.format() for a in alts], ensure_ascii=False),
                timeout_s,
                repeats,
                position,
                now,
                now,
            ),
        )
        append_event(
            db,
            at=now,
            operator=operator,
            kind="tree_node_added",
            data={
                "tree": name,
                "code": node_code,
                "parent": parent_code,
                "ref": shown_ref(normal),
                "label": text,
                "alternates": [shown_ref(a) for a in alts],
                "timeout_s": timeout_s,
                "repeats": repeats,
            },
        )
    return get_node(db, name, node_code)


def _descendants(db: Database, node_id: int) -> list[int]:
    """Ids below ``node_id`` (a visited set keeps a corrupt, cyclic chain finite)."""
    out: list[int] = []
    seen = {node_id}
    frontier = [node_id]
    while frontier:
        marks = ",".join("?" * len(frontier))
        rows = db.conn.execute(
            f"SELECT id FROM tree_nodes WHERE parent_id IN ({marks})", frontier
        ).fetchall()
        frontier = [int(r[0]) for r in rows if int(r[0]) not in seen]
        seen.update(frontier)
        out.extend(frontier)
    return out


def edit_node(
    db: Database,
    clock: Clock,
    operator: str,
    tree: str,
    code: str,
    *,
    ref: NodeRef | None = None,
    label: str | None = None,
    alternates: Sequence[str | NodeRef] | None = None,
    timeout_s: int | None = None,
    repeats: int | None = None,
    parent: str | None = None,
) -> TreeNode:
    """Change what is given of node ``code``; ``parent`` moves it (as the last child).

    Raises:
        InvalidInput: a bad value; a move under the node itself or one of its descendants
            (a cycle); nothing to change.
        NotFound: no such node or parent.
    """
    name = _tree_name(tree)
    old = get_node(db, name, code)
    changes: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if ref is not None:
        normal, _default = validate_ref(db, ref)
        if normal != old.node_ref:
            values.update(kind=normal.kind, ref=normal.ref)
            changes["ref"] = {"old": shown_ref(old.node_ref), "new": shown_ref(normal)}
    if label is not None:
        text = _label(label)
        if text != old.label:
            values["label"] = text
            changes["label"] = {"old": old.label, "new": text}
    if alternates is not None:
        alts = _validate_alternates(db, alternates, "alternate")
        if tuple(alts) != old.alternates:
            values["alternates"] = json.dumps([a.format() for a in alts], ensure_ascii=False)
            changes["alternates"] = {
                "old": [shown_ref(a) for a in old.alternates],
                "new": [shown_ref(a) for a in alts],
            }
    if timeout_s is not None:
        value = _number(timeout_s, "timeout", low=1, high=MAX_TIMEOUT_S)
        if value != old.timeout_s:
            values["timeout_s"] = value
            changes["timeout_s"] = {"old": old.timeout_s, "new": value}
    if repeats is not None:
        value = _number(repeats, "repeats", low=0, high=MAX_REPEATS)
        if value != old.repeats:
            values["repeats"] = value
            changes["repeats"] = {"old": old.repeats, "new": value}
    now = to_iso(clock.now())
    with write(db):
        if parent is not None:
            target = get_node(db, name, parent)
            if target.id != old.parent_id:
                if target.id == old.id or target.id in _descendants(db, old.id):
                    raise InvalidInput(
                        _(
                            "moving {node} under {target} would make a cycle"
                            " ({target} is {node} or below it)"
                        ).format(node=old.code, target=target.code),
                        "parent",
                    )
                values["parent_id"] = target.id
                values["position"] = int(
                    db.conn.execute(
                        "SELECT coalesce(max(position) + 1, 0) FROM tree_nodes WHERE parent_id = ?",
                        (target.id,),
                    ).fetchone()[0]
                )
                changes["parent"] = {"old": old.parent_code, "new": target.code}
        if not values:
            raise InvalidInput(_("nothing to change on {code}").format(code=old.code), "node")
        values["updated_at"] = now
        assignments = ", ".join(f"{column} = ?" for column in values)
        db.conn.execute(
            f"UPDATE tree_nodes SET {assignments} WHERE id = ?", [*values.values(), old.id]
        )
        append_event(
            db,
            at=now,
            operator=operator,
            kind="tree_node_edited",
            data={"tree": name, "code": old.code, "changes": changes},
        )
    return get_node(db, name, old.code)


def remove_node(
    db: Database, clock: Clock, operator: str, tree: str, code: str, *, cascade: bool = False
) -> list[str]:
    """Remove node ``code`` (and, with ``cascade``, everything below it); returns the codes.

    Raises:
        InvalidInput: the node has children and ``cascade`` is false.
        NotFound: no such node.
    """
    name = _tree_name(tree)
    node = get_node(db, name, code)
    now = to_iso(clock.now())
    with write(db):
        below = _descendants(db, node.id)
        if below and not cascade:
            raise InvalidInput(
                _("{code} has {count} node(s) below it; remove them first or cascade").format(
                    code=node.code, count=len(below)
                ),
                "node",
            )
        ids = [node.id, *below]
        marks = ",".join("?" * len(ids))
        codes = [
            str(r[0])
            for r in db.conn.execute(
                f"SELECT code FROM tree_nodes WHERE id IN ({marks}) ORDER BY id", ids
            )
        ]
        db.conn.execute(f"DELETE FROM tree_nodes WHERE id IN ({marks})", ids)
        append_event(
            db,
            at=now,
            operator=operator,
            kind="tree_node_removed",
            data={"tree": name, "code": node.code, "removed": len(codes), "cascade": cascade},
        )
    return codes


# ------------------------------------------------------------------------------ files


def tree_to_json(nodes: Sequence[TreeNode], code: str | None = None) -> dict[str, Any]:
    """The nested form of the tree (from ``code``, else the root) that import reads back."""
    by_parent: dict[int | None, list[TreeNode]] = {}
    for n in nodes:
        by_parent.setdefault(n.parent_id, []).append(n)
    reachable = levels(nodes)
    if not reachable:
        raise NotFound(_("the tree has no root"))
    start = reachable[0][0] if code is None else next((n for n in nodes if n.code == code), None)
    if start is None:
        raise NotFound(_("no node {code}").format(code=code))
    seen: set[int] = set()

    def convert(node: TreeNode) -> dict[str, Any]:
        seen.add(node.id)
        kids = sorted(by_parent.get(node.id, []), key=lambda c: (c.position, c.id))
        return {
            "code": node.code,
            "kind": node.kind,
            "ref": node.ref,
            "label": node.label,
            "timeout_s": node.timeout_s,
            "repeats": node.repeats,
            "alternates": [a.format() for a in node.alternates],
            "children": [convert(c) for c in kids if c.id not in seen],
        }

    return convert(start)


def export_tree(db: Database, tree: str, path: Path) -> int:
    """Write ``tree`` as nested JSON to ``path``; returns the number of nodes written.

    Raises:
        NotFound: no such tree. InvalidInput: the file cannot be written.
    """
    nodes = get_tree(db, tree)
    if not nodes:
        raise NotFound(_("no contact tree {tree}").format(tree=tree.strip()))
    data = tree_to_json(nodes)
    try:
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            _("cannot write {path}: {reason}").format(path=path, reason=exc), "file"
        ) from exc
    return sum(1 for _node in _walk(data))


def _walk(data: dict[str, Any]) -> Iterable[dict[str, Any]]:
    yield data
    for child in data.get("children", []):
        yield from _walk(child)


def _rejected(code: str, field: str, message: str) -> ImportRejected:
    return ImportRejected(message, f"node {code} {field}")


def parse_tree_json(db: Database, data: Any) -> list[_Draft]:
    """Validate a nested tree structure completely; write nothing.

    Raises:
        ImportRejected: naming the node code and field of the first problem.
    """
    drafts: list[_Draft] = []
    codes: set[str] = set()
    allowed = {"code", "kind", "ref", "label", "timeout_s", "repeats", "alternates", "children"}

    def visit(item: Any, parent: str | None, position: int, where: str) -> None:
        if not isinstance(item, dict):
            raise _rejected(where, "node", _("each node must be a JSON object"))
        raw_code = item.get("code")
        if not isinstance(raw_code, str):
            raise _rejected(where, "code", _("a node code (text) is required"))
        try:
            code = _node_code(raw_code)
        except InvalidInput as exc:
            raise _rejected(where, "code", exc.reason) from exc
        if code in codes:
            raise _rejected(
                code, "code", _("the code {code} is used by two nodes").format(code=code)
            )
        codes.add(code)
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise _rejected(code, unknown[0], _("unknown field {field!r}").format(field=unknown[0]))
        kind, ref = item.get("kind"), item.get("ref")
        if not isinstance(kind, str) or kind not in KINDS:
            raise _rejected(
                code,
                "kind",
                _("kind must be person, post or role (got {kind!r})").format(kind=kind),
            )
        if not isinstance(ref, str) or not ref.strip():
            raise _rejected(code, "ref", _("a reference (text) is required"))
        try:
            normal, default_label = validate_ref(db, NodeRef(kind, ref.strip()))
        except InvalidInput as exc:
            raise _rejected(code, "ref", exc.reason) from exc
        try:
            label = _label(item.get("label", default_label))
        except InvalidInput as exc:
            raise _rejected(code, "label", exc.reason) from exc
        numbers: dict[str, int] = {}
        for key, default, low, high in (
            ("timeout_s", DEFAULT_TIMEOUT_S, 1, MAX_TIMEOUT_S),
            ("repeats", DEFAULT_REPEATS, 0, MAX_REPEATS),
        ):
            try:
                numbers[key] = _number(item.get(key, default), key, low=low, high=high)
            except InvalidInput as exc:
                raise _rejected(code, key, exc.reason) from exc
        raw_alts = item.get("alternates", [])
        if not isinstance(raw_alts, list) or not all(isinstance(a, str) for a in raw_alts):
            raise _rejected(code, "alternates", _("alternates must be a list of KIND:REF texts"))
        try:
            alts = _validate_alternates(db, raw_alts, "alternates")
        except InvalidInput as exc:
            raise _rejected(code, "alternates", exc.reason) from exc
        kids = item.get("children", [])
        if not isinstance(kids, list):
            raise _rejected(code, "children", _("children must be a list of nodes"))
        drafts.append(
            _Draft(
                code,
                parent,
                normal,
                label,
                alts,
                numbers["timeout_s"],
                numbers["repeats"],
                position,
            )
        )
        for i, child in enumerate(kids):
            visit(child, code, i, f"{code}.children[{i}]")

    if isinstance(data, dict) and "root" in data and "code" not in data:
        data = data["root"]
    visit(data, None, 0, "root")
    return drafts


def import_tree(
    db: Database, clock: Clock, operator: str, tree: str, path: Path, *, replace: bool = False
) -> list[TreeNode]:
    """Read a nested JSON tree from ``path`` and store it as ``tree``, all or nothing.

    Raises:
        ImportRejected: unreadable JSON, or a node with a bad field (naming node and field).
        InvalidInput: the tree exists and ``replace`` is false.
    """
    name = _tree_name(tree)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportRejected(
            _("cannot read {path}: {reason}").format(path=path, reason=exc), "file"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ImportRejected(
            _("{path} is not JSON (line {line}, column {column}: {reason})").format(
                path=path, line=exc.lineno, column=exc.colno, reason=exc.msg
            ),
            "file",
        ) from exc
    return store_tree(db, clock, operator, name, data, replace=replace, source=path.name)


def store_tree(
    db: Database,
    clock: Clock,
    operator: str,
    tree: str,
    data: Any,
    *,
    replace: bool = False,
    source: str | None = None,
) -> list[TreeNode]:
    """Store the nested tree ``data`` (the JSON form :func:`import_tree` reads) as ``tree``,
    all or nothing, with one ``tree_imported`` audit entry; what a tree built by the program
    (the 叫应's, from the jurisdiction) is stored with.

    Raises:
        ImportRejected: a node with a bad field (naming node and field).
        InvalidInput: the tree exists and ``replace`` is false.
    """
    name = _tree_name(tree)
    drafts = parse_tree_json(db, data)
    now = to_iso(clock.now())
    with write(db):
        replaced = _replace_tree(db, name, drafts, now, replace_existing=replace)
        append_event(
            db,
            at=now,
            operator=operator,
            kind="tree_imported",
            data={"tree": name, "nodes": len(drafts), "replaced": replaced, "file": source},
        )
    return get_tree(db, name)


__all__ = [
    "DEFAULT_TREE",
    "NodeRef",
    "TreeNode",
    "TreeProblem",
    "add_node",
    "build_default_tree",
    "check_tree",
    "children",
    "edit_node",
    "export_tree",
    "get_node",
    "get_tree",
    "has_channel",
    "import_tree",
    "store_tree",
    "levels",
    "list_trees",
    "parse_tree_json",
    "remove_node",
    "resolve",
    "subtree",
    "tree_to_json",
    "validate_ref",
]
