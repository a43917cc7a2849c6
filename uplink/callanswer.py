"""Provides the 叫应 (call and answer) of a warning: every responsible person called, and answering.

A warning at or above the configured level must not stop at a broadcast: the township's leader
on duty and duty officer, and the community/village secretaries and grid leaders of every
unit the warning covers, are called and must answer (临灾预警"叫应"). A 叫应 is a mobilization
(:mod:`mobilization`) with acknowledgement required, run over a contact tree built for the call
(:data:`CALL_TREE`, rebuilt for each call from the warning's area)::

    leader on duty (post LD, else SL)            alternates: the shift lead, the duty officer
    ├── duty officer (post DO)                   alternate: the leader post
    └── community secretary of each covered community   alternate: the duty officer
        └── grid leader of each covered grid     alternates: the community's secretary, the DO

Everyone is called at once (broadcast). A person silent past ``answer_minutes`` (and the
repeats) escalates their node to its alternates — people already called, so nobody new is
woken — and stays *silent* in the mobilization: the duty officer's silent list shows them, to
be phoned now. Which roles and posts are called, and which levels start a 叫应 on receipt,
come from :class:`~uplink.callanswer_rules.WarningRules` (``[warning]``), per CAP event.

A unit is covered when its division code is at or under one of the area's codes (``330106``
covers every unit whose 12-digit code starts with it once the trailing zero segments are
dropped) or its boundary intersects one of the area's polygons; the units below a covered
unit are covered with it, and the community of a covered grid is called for it. An area that
names none of the units here (codes of another scheme, polygons and no boundaries) covers the
whole jurisdiction: the warning was sent to this unit, so its people are called rather than
nobody.

The link between a mobilization and its alert is a row of ``call_answers``; the automatic
decision on receipt (started, or skipped and why) is kept on the alert
(``alerts.call_state``/``call_reason``/``call_at``). Timeline entries: ``alert_call_started``,
``alert_call_stopped``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from contacts.models import Role
from contacts.people import list_people
from contacts.roster import get_post
from jurisdiction.models import Level, Unit
from jurisdiction.units import list_units
from mobilization import (
    Counts,
    MobilizationState,
    Mode,
    NodeRef,
    Target,
    TargetKind,
    cancel_mobilization,
    get_mobilization,
    resolve,
    sms_length,
    start_mobilization,
    store_tree,
    totals,
)
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import N_, _
from uplink.alerts import set_call
from uplink.callanswer_rules import (
    DUTY_POST,
    LEADER_FALLBACK,
    LEADER_POST,
    Applied,
    WarningRules,
)
from uplink.cap import Colour

CALL_TREE = "jiaoying"
ROOT = "root"
ENGINE = "engine"  # the operator of an automatic start
CALL_MESSAGE_UNITS = 160  # the message's length at most, in SMS units (UTF-16 for Chinese)
HEADLINE_UNITS = 70  # a headline longer than this is cut first, the instruction after it
EXERCISE_STATUS = "Exercise"
ACTUAL_STATUS = "Actual"
CANCEL = "Cancel"
WARNING_TYPES = ("Alert", "Update")

EVENT_NAMES = {
    "alert_call_started": N_("call-and-answer started"),
    "alert_call_stopped": N_("call-and-answer stopped"),
}


class CallReason(StrEnum):
    """Why a received warning did or did not start its 叫应 (``alerts.call_reason``)."""

    STARTED = "started"
    BELOW_LEVEL = "below_level"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    EXERCISE = "exercise"
    NOT_A_WARNING = "not_a_warning"
    CANCEL_MESSAGE = "cancel_message"
    ALREADY_CALLING = "already_calling"
    NOBODY = "nobody"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return _(REASON_NAMES[self])


REASON_NAMES = {
    CallReason.STARTED: N_("call-and-answer started"),
    CallReason.BELOW_LEVEL: N_("below the level that starts a call-and-answer"),
    CallReason.EXPIRED: N_("the warning had expired"),
    CallReason.CANCELLED: N_("the warning was cancelled"),
    CallReason.SUPERSEDED: N_("the warning was updated"),
    CallReason.EXERCISE: N_("an exercise warning (exercise_calls is off)"),
    CallReason.NOT_A_WARNING: N_("not an actual warning (test, draft, system, ack or error)"),
    CallReason.CANCEL_MESSAGE: N_("a cancel: its call-and-answer was stopped"),
    CallReason.ALREADY_CALLING: N_("a call-and-answer for this warning is already running"),
    CallReason.NOBODY: N_("nobody to call: no post or role holder for the area"),
    CallReason.FAILED: N_("the call-and-answer could not start"),
}


class NobodyToCall(InvalidInput):
    """No post or role holder to call for the alert's area (no tree can be built)."""


@dataclass(frozen=True)
class CallAlert:
    """The fields of an alert a 叫应 needs, as the ``alerts`` table holds them."""

    id: int
    identifier: str
    thread: str
    status: str
    msg_type: str
    event: str
    colour: str | None
    severity: str
    headline: str
    instruction: str
    area_desc: str
    area_codes: tuple[str, ...]
    polygons: tuple[tuple[tuple[float, float], ...], ...]  # (lat, lon) pairs, as CAP writes
    expires: datetime | None
    cancelled_at: datetime | None
    superseded_by: str | None


@dataclass(frozen=True)
class Responsible:
    """One person a 叫应 calls now, and why (a person named twice has both reasons)."""

    person_id: int
    key: str
    name: str
    refs: tuple[str, ...]  # the contact-tree references naming them: post:DO, role:grid_leader@G01
    why: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.key,
            "name": self.name,
            "refs": list(self.refs),
            "why": list(self.why),
        }


@dataclass(frozen=True)
class CallDecision:
    """What :func:`maybe_start` did: started a 叫应 (its mobilization), or why not."""

    reason: CallReason
    mobilization_id: int | None = None
    stopped: int = 0  # a cancel: the 叫应 it stopped
    detail: str = ""  # a failure's own words

    @property
    def started(self) -> bool:
        return self.reason is CallReason.STARTED

    def to_json(self) -> dict[str, Any]:
        """The ``call`` field of the alert's receipt (``alert_received``)."""
        out: dict[str, Any] = {"started": self.started, "reason": self.reason.value}
        if self.mobilization_id is not None:
            out["mobilization"] = self.mobilization_id
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class CallProgress:
    """One 叫应 of an alert: when and how it started, and the answers so far."""

    mobilization_id: int
    alert_id: int
    identifier: str
    started_at: datetime
    started_by: str
    auto: bool
    exercise: bool
    stopped_at: datetime | None
    state: MobilizationState
    counts: Counts = field(default_factory=Counts)

    @property
    def answered(self) -> int:
        return self.counts.yes + self.counts.no

    def to_json(self) -> dict[str, Any]:
        return {
            "mobilization": self.mobilization_id,
            "alert": self.identifier,
            "started_at": to_iso(self.started_at),
            "started_by": self.started_by,
            "auto": self.auto,
            "exercise": self.exercise,
            "stopped_at": to_iso(self.stopped_at) if self.stopped_at else None,
            "state": self.state.value,
            "counts": self.counts.to_json(),
        }


# ------------------------------------------------------------------------------- reading


_ALERT_COLUMNS = (
    "id, identifier, thread, status, msg_type, event, colour, severity, headline, instruction,"
    " area_desc, area_codes, polygons, expires, cancelled_at, superseded_by"
)


def _polygons(text: str) -> tuple[tuple[tuple[float, float], ...], ...]:
    out: list[tuple[tuple[float, float], ...]] = []
    for polygon in json.loads(text or "[]"):
        out.append(tuple((float(p[0]), float(p[1])) for p in polygon))
    return tuple(out)


def _alert_from_row(row: Sequence[Any]) -> CallAlert:
    return CallAlert(
        id=int(row[0]),
        identifier=str(row[1]),
        thread=str(row[2]),
        status=str(row[3]),
        msg_type=str(row[4]),
        event=str(row[5]),
        colour=row[6],
        severity=str(row[7]),
        headline=str(row[8] or ""),
        instruction=str(row[9] or ""),
        area_desc=str(row[10] or ""),
        area_codes=tuple(str(c) for c in json.loads(row[11] or "[]")),
        polygons=_polygons(row[12]),
        expires=from_iso(row[13]) if row[13] else None,
        cancelled_at=from_iso(row[14]) if row[14] else None,
        superseded_by=row[15],
    )


def load_alert(db: Database, alert: int | str | Any) -> CallAlert:
    """The alert by row id, by identifier, or as a record with an ``id`` (W2's AlertRecord).

    Raises:
        NotFound: no such alert.
    """
    if isinstance(alert, CallAlert):
        return alert
    if isinstance(alert, int) and not isinstance(alert, bool):
        row = db.conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert,)
        ).fetchone()
    elif isinstance(alert, str):
        row = db.conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE identifier = ?", (alert.strip(),)
        ).fetchone()
    else:
        return load_alert(db, int(getattr(alert, "id")))  # noqa: B009
    if row is None:
        raise NotFound(_("no alert {id}").format(id=alert))
    return _alert_from_row(row)


# ------------------------------------------------------------------------------- the area


def significant_prefix(code: str) -> str | None:
    """The digits a division code fixes: ``330106000000`` → ``330106``; ``None`` for a code that
    is not a (2, 4, 6, 9 or 12-digit) division code. Shorter codes are read as padded."""
    text = code.strip()
    if not text.isdigit() or len(text) not in (2, 4, 6, 9, 12):
        return None
    full = text.ljust(12, "0")
    for cut in (12, 9, 6, 4, 2):
        start = {12: 9, 9: 6, 6: 4, 4: 2, 2: 0}[cut]
        if full[start:cut].strip("0"):
            return full[:cut]
    return None  # all zeros: no place at all


def _area_shapes(alert: CallAlert) -> list[Any]:
    from jurisdiction.geo import make_sound, to_shape

    shapes = []
    for polygon in alert.polygons:
        ring = [[lon, lat] for lat, lon in polygon]
        if len(ring) >= 3:
            shapes.append(make_sound(to_shape({"type": "Polygon", "coordinates": [ring]})))
    return shapes


def covered_units(db: Database, alert: CallAlert) -> dict[str, tuple[Unit, str]]:
    """The current units the alert's area covers, each with why, in level then code order.

    Covered: by code (at or under an area code), by polygon (boundary intersects), below a
    covered unit, or the community of a covered grid; an area that places none of the units
    covers them all (see the module docstring).
    """
    units = list_units(db)
    by_code = {u.code: u for u in units}
    why: dict[str, str] = {}
    prefixes = [(c, significant_prefix(c)) for c in alert.area_codes]
    for unit in units:
        for code, prefix in prefixes:
            if unit.code == code.strip() or (prefix and unit.code.startswith(prefix)):
                why[unit.code] = _("area code {code}").format(code=code.strip())
                break
    if alert.polygons:
        bounded = [u for u in units if u.boundary and u.code not in why]
        if bounded:
            from jurisdiction.geo import make_sound, to_shape

            shapes = _area_shapes(alert)
            for unit in bounded:
                assert unit.boundary is not None
                own = make_sound(to_shape(unit.boundary))
                if any(shape.intersects(own) for shape in shapes):
                    why[unit.code] = _("inside the warning's polygon")
    if not why:
        return {
            u.code: (u, _("the area names no unit here: the whole jurisdiction"))
            for u in _ordered(units)
        }
    kids: dict[str, list[Unit]] = {}
    for unit in units:
        if unit.parent_code:
            kids.setdefault(unit.parent_code, []).append(unit)
    stack = list(why)
    while stack:  # below a covered unit
        code = stack.pop()
        for child in kids.get(code, []):
            if child.code not in why:
                why[child.code] = _("in {unit}").format(unit=by_code[code].name)
                stack.append(child.code)
    for code in list(why):  # the community of a covered grid answers for it
        unit = by_code[code]
        parent = by_code.get(unit.parent_code or "")
        if unit.level is Level.GRID and parent is not None and parent.code not in why:
            why[parent.code] = _("community of {grid}").format(grid=unit.name)
    return {u.code: (u, why[u.code]) for u in _ordered(units) if u.code in why}


def _ordered(units: Iterable[Unit]) -> list[Unit]:
    return sorted(units, key=lambda u: (u.level.rank, u.code))


# ------------------------------------------------------------------------------- the tree


@dataclass
class _Node:
    code: str
    ref: NodeRef
    label: str
    why: str
    alternates: list[NodeRef] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)

    def to_json(self, timeout_s: int, repeats: int) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.ref.kind,
            "ref": self.ref.ref,
            "label": self.label[:100],
            "timeout_s": timeout_s,
            "repeats": repeats,
            "alternates": [a.format() for a in self.alternates if a != self.ref],
            "children": [c.to_json(timeout_s, repeats) for c in self.children],
        }

    def walk(self) -> Iterable[_Node]:
        yield self
        for child in self.children:
            yield from child.walk()


# The level each role belongs to: its node is built there even when nobody holds it now (the
# vacancy shows, and the node's alternates answer for it); elsewhere only where someone does.
ROLE_LEVELS = {
    Role.COMMUNITY_SECRETARY: Level.COMMUNITY,
    Role.GRID_LEADER: Level.GRID,
    Role.GRID_MEMBER: Level.GRID,
    Role.VOLUNTEER: Level.GRID,
}


def _called_at(db: Database, role: Role, unit: Unit) -> bool:
    """Whether the call tree gets a node for ``role`` in ``unit``."""
    if ROLE_LEVELS.get(role) is unit.level:
        return True
    return bool(
        list_people(db, unit=unit.code, include_sub_units=False, role=role, active=True, limit=1)
    )


def _existing_post(db: Database, code: str) -> tuple[NodeRef, str] | None:
    try:
        post = get_post(db, code)
    except NotFound:
        return None
    return NodeRef("post", post.code), post.name


def _plan(db: Database, alert: CallAlert, applied: Applied) -> _Node | None:
    """The call tree for ``alert`` (its root), or ``None`` when it would call nobody."""
    return _tree_for(db, covered_units(db, alert), applied)


def _tree_for(
    db: Database, covered: Mapping[str, tuple[Unit, str]], applied: Applied
) -> _Node | None:
    """The call tree over ``covered`` units (its root), or ``None`` when it calls nobody."""
    posts: list[tuple[str, NodeRef, str]] = []  # (configured code, ref, name)
    for code in applied.posts:
        found = _existing_post(db, code)
        if found is None and code.upper() == LEADER_POST:
            found = _existing_post(db, LEADER_FALLBACK)
        if found is not None and all(found[0] != p[1] for p in posts):
            posts.append((code, found[0], found[1]))
    duty = next((ref for code, ref, _name in posts if ref.ref.upper() == DUTY_POST), None)
    leader = next(
        (ref for _code, ref, _n in posts if ref.ref.upper() in (LEADER_POST, LEADER_FALLBACK)),
        None,
    )
    shift_lead = _existing_post(db, LEADER_FALLBACK)
    post_nodes: list[_Node] = []
    for _code, ref, name in posts:
        node = _Node(f"post-{ref.ref}", ref, name, _("on duty at post {post}").format(post=ref.ref))
        if ref == leader:
            if ref.ref.upper() == LEADER_POST and shift_lead is not None:
                node.alternates.append(shift_lead[0])
            if duty is not None:
                node.alternates.append(duty)
        elif leader is not None:
            node.alternates.append(leader)
        post_nodes.append(node)
    roles = [Role.parse(r) for r in applied.roles]
    anchors: dict[str, _Node] = {}  # unit code -> its first role node (where its units hang)
    role_nodes: list[tuple[Unit, _Node]] = []
    for unit, why in covered.values():
        first: _Node | None = None
        for role in roles:
            if not _called_at(db, role, unit):
                continue
            ref = NodeRef("role", f"{role.value}@{unit.code}")
            node = _Node(
                f"{role.value}@{unit.code}"[:64],
                ref,
                f"{unit.name} {role.label_zh}",
                _("{role} of {unit}: {why}").format(role=role.label, unit=unit.name, why=why),
            )
            parent = anchors.get(unit.parent_code or "")
            if parent is not None:
                node.alternates.append(parent.ref)
            if duty is not None:
                node.alternates.append(duty)
            role_nodes.append((unit, node))
            first = first or node
        if first is not None:
            anchors[unit.code] = first
    if not post_nodes and not role_nodes:
        return None
    if post_nodes:
        root = post_nodes[0]
        root.children.extend(post_nodes[1:])
    else:
        townships = [u for u, _why in covered.values() if u.level is Level.TOWNSHIP] or list_units(
            db, level=Level.TOWNSHIP
        )
        if not townships:
            return None
        town = townships[0]
        root = _Node(
            ROOT,
            NodeRef("role", f"{Role.DUTY_OFFICER.value}@{town.code}"),
            f"{town.name} {Role.DUTY_OFFICER.label_zh}",
            _("duty officer of {unit}").format(unit=town.name),
        )
    root.code = ROOT
    under_posts = next((n for n in post_nodes if n.ref == duty), root)
    for unit, node in role_nodes:
        parent = anchors.get(unit.parent_code or "")
        if parent is None or parent is node:
            under_posts.children.append(node)
        else:
            parent.children.append(node)
    return root


# ------------------------------------------------------------------------------- who


def responsible(
    db: Database, alert: int | str | Any, rules: WarningRules, now: datetime
) -> list[Responsible]:
    """Who a 叫应 of ``alert`` calls at ``now`` (the tree's nodes, resolved), each with why.

    Raises:
        NotFound: no such alert.
    """
    found = load_alert(db, alert)
    root = _plan(db, found, rules.for_event(found.event))
    if root is None:
        return []
    people: dict[int, tuple[str, str, list[str], list[str]]] = {}
    for node in root.walk():
        for person in resolve(db, node.ref, now):
            entry = people.setdefault(person.id, (person.key, person.name, [], []))
            if node.ref.format() not in entry[2]:
                entry[2].append(node.ref.format())
                entry[3].append(f"{node.label}: {node.why}")
    return [
        Responsible(pid, key, name, tuple(refs), tuple(whys))
        for pid, (key, name, refs, whys) in people.items()
    ]


# ------------------------------------------------------------------------------- the message


def _units(text: str) -> int:
    return sms_length(text).chars


def _cut(text: str, budget: int) -> str:
    """``text`` cut to ``budget`` SMS units, an ellipsis marking the cut."""
    if _units(text) <= budget:
        return text
    out = text
    while out and _units(out + "…") > budget:
        out = out[:-1]
    return out.rstrip() + "…" if out else ""


def call_message(alert: CallAlert) -> str:
    """The 叫应's message: the warning's colour and event, headline and instruction, within
    :data:`CALL_MESSAGE_UNITS` (the headline cut first past :data:`HEADLINE_UNITS`, then the
    instruction). In Chinese, as the warnings are: it goes to the responsible people."""
    colour = _colour_zh(alert.colour)
    event = " ".join(alert.event.split())
    title = event if event.endswith("预警") else f"{event}预警"
    head = f"【{colour}{title}】"
    headline = _cut(" ".join(alert.headline.split()), HEADLINE_UNITS)
    text = head + headline
    instruction = " ".join(alert.instruction.split())
    if instruction:
        sep = "" if not headline or headline[-1] in "。！；…!." else "。"
        room = CALL_MESSAGE_UNITS - _units(text + sep)
        if room > 4:
            text += sep + _cut(instruction, room)
    return _cut(text, CALL_MESSAGE_UNITS) or head


def _colour_zh(colour: str | None) -> str:
    if not colour:
        return ""
    try:
        return Colour(colour).label_zh
    except ValueError:
        return ""


# ------------------------------------------------------------------------------- starting


def _active_call(db: Database, thread: str) -> int | None:
    row = db.conn.execute(
        "SELECT c.mobilization_id FROM call_answers c JOIN alerts a ON a.id = c.alert_id"
        " JOIN mobilizations m ON m.id = c.mobilization_id"
        " WHERE a.thread = ? AND c.stopped_at IS NULL AND m.state = 'active'"
        " ORDER BY c.mobilization_id DESC LIMIT 1",
        (thread,),
    ).fetchone()
    return int(row[0]) if row else None


def _write_tree(
    db: Database,
    clock: Clock,
    operator: str,
    root: _Node,
    rules: WarningRules,
    tree: str = CALL_TREE,
) -> None:
    """Store ``root`` as ``tree`` (replacing the last call's), inside the caller's transaction,
    through :func:`mobilization.store_tree` (validated, one ``tree_imported`` audit entry)."""
    data = root.to_json(rules.answer_minutes * 60, rules.repeats)
    store_tree(db, clock, operator, tree, data, replace=True, source=None)


def build_call_tree(
    db: Database,
    clock: Clock,
    operator: str,
    rules: WarningRules | None = None,
    *,
    tree: str = CALL_TREE,
) -> int:
    """Build :data:`CALL_TREE` over the whole jurisdiction, as a warning covering all of it
    would (the default roles and posts), or as ``tree``; returns its number of nodes. What a
    drill of the 叫应 walks: a call-tree drill plan naming the tree, scope ``node:root`` (a
    tree of its own, e.g. ``jiaoying-drill``, is not narrowed by the next warning's area).

    Raises:
        NobodyToCall: no post or role holder in the jurisdiction.
    """
    rules = rules or WarningRules()
    why = _("the whole jurisdiction")
    covered = {u.code: (u, why) for u in _ordered(list_units(db))}
    root = _tree_for(db, covered, rules.for_event(""))
    if root is None:
        raise NobodyToCall(CallReason.NOBODY.label, "tree")
    with write(db):
        _write_tree(db, clock, operator, root, rules, tree)
    return sum(1 for _node in root.walk())


def start_call(
    db: Database,
    clock: Clock,
    operator: str,
    alert_id: int | str | Any,
    *,
    auto: bool,
    exercise: bool = False,
    rules: WarningRules | None = None,
) -> int:
    """Start a 叫应 for the alert now; returns its mobilization's id.

    The call tree is rebuilt for the alert's area, the mobilization started over it (broadcast,
    acknowledgement required), ``call_answers`` written and ``alert_call_started`` appended,
    all in one transaction. An alert of status ``Exercise``, or ``exercise``, makes it an
    exercise (every message marked as a drill). By hand (``auto`` false) it may be started for
    any alert, even one below the level, expired or already called; a cancelled one is refused.

    Raises:
        NotFound: no such alert.
        InvalidTransition: the alert was cancelled, or is itself a cancel.
        InvalidInput: nobody to call (no post or role holder for the area), or what the
            mobilization refuses.
    """
    rules = rules or WarningRules()
    now = clock.now()
    with write(db):
        alert = load_alert(db, alert_id)
        if alert.cancelled_at is not None or alert.msg_type == CANCEL:
            raise InvalidTransition(
                _("alert {id} was cancelled: no call-and-answer for it").format(id=alert.identifier)
            )
        applied = rules.for_event(alert.event)
        root = _plan(db, alert, applied)
        if root is None:
            raise NobodyToCall(CallReason.NOBODY.label, "alert")
        _write_tree(db, clock, operator, root, rules)
        drill = exercise or alert.status == EXERCISE_STATUS
        mob_id = start_mobilization(
            db,
            clock,
            operator,
            targets=[Target(TargetKind.NODE, ROOT)],
            message=call_message(alert),
            mode=Mode.BROADCAST,
            exercise=drill,
            tree=CALL_TREE,
        )
        db.conn.execute(
            "INSERT INTO call_answers (mobilization_id, alert_id, started_at, started_by, auto,"
            " exercise) VALUES (?,?,?,?,?,?)",
            (mob_id, alert.id, to_iso(now), operator, int(auto), int(drill)),
        )
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="alert_call_started",
            data={
                "alert": alert.identifier,
                "mobilization": mob_id,
                "auto": auto,
                "exercise": drill,
                "nodes": sum(1 for _node in root.walk()),
                "rule": applied.rule,
            },
        )
    return mob_id


def _why_not(db: Database, alert: CallAlert, rules: WarningRules, now: datetime) -> CallReason:
    if alert.msg_type == CANCEL:
        return CallReason.CANCEL_MESSAGE
    if alert.msg_type not in WARNING_TYPES or alert.status not in (
        ACTUAL_STATUS,
        EXERCISE_STATUS,
    ):
        return CallReason.NOT_A_WARNING
    if alert.status == EXERCISE_STATUS and not rules.exercise_calls:
        return CallReason.EXERCISE
    if alert.cancelled_at is not None:
        return CallReason.CANCELLED
    if alert.superseded_by:
        return CallReason.SUPERSEDED
    if alert.expires is not None and alert.expires <= now:
        return CallReason.EXPIRED
    if alert.severity not in rules.for_event(alert.event).levels:
        return CallReason.BELOW_LEVEL
    if _active_call(db, alert.thread) is not None:
        return CallReason.ALREADY_CALLING
    return CallReason.STARTED


def _record(db: Database, alert_id: int, decision: CallDecision, at: datetime) -> None:
    state = "started" if decision.started else "skipped"
    set_call(db, alert_id, state, decision.reason.value, at)


def maybe_start(
    db: Database, clock: Clock, alert: int | str | Any, rules: WarningRules | None = None
) -> CallDecision:
    """The automatic start on receipt: a 叫应 when the warning is at or above its level, still
    in force and actual (an exercise only with ``exercise_calls``); else why not. A cancel
    stops its thread's 叫应 (:func:`stop_for_cancel`); an update whose thread already has a
    running 叫应 does not start a second (the people called keep the first message). The
    decision is kept on the alert (``call_state``, ``call_reason``, ``call_at``, through
    :func:`uplink.alerts.set_call`); call it in the receipt's transaction, right after
    :func:`uplink.alerts.receive`, so the receipt that goes up can carry it
    (:meth:`CallDecision.to_json`).

    A start that fails (nobody to call, a refused tree) is recorded as ``failed`` or
    ``nobody`` and never fails the receipt.

    Raises:
        NotFound: no such alert.
    """
    rules = rules or WarningRules()
    now = clock.now()
    with write(db):
        found = load_alert(db, alert)
        reason = _why_not(db, found, rules, now)
        if reason is CallReason.CANCEL_MESSAGE:
            decision = CallDecision(reason, stopped=stop_for_cancel(db, clock, found))
        elif reason is not CallReason.STARTED:
            decision = CallDecision(reason)
        else:
            try:
                with write(db):  # a savepoint: a refused start leaves nothing behind
                    mob_id = start_call(
                        db, clock, ENGINE, found.id, auto=True, exercise=False, rules=rules
                    )
                decision = CallDecision(CallReason.STARTED, mob_id)
            except NobodyToCall:
                decision = CallDecision(CallReason.NOBODY)
            except (InvalidInput, NotFound, InvalidTransition) as exc:
                decision = CallDecision(CallReason.FAILED, detail=str(exc))
        _record(db, found.id, decision, now)
    return decision


def _thread_ids(db: Database, alert: CallAlert) -> list[int]:
    """The alert and every alert of its thread or named in its references."""
    threads = {alert.thread}
    row = db.conn.execute("SELECT refs FROM alerts WHERE id = ?", (alert.id,)).fetchone()
    for triple in str(row[0] if row else "").split():
        parts = triple.split(",")
        if len(parts) == 3:
            ref = db.conn.execute(
                "SELECT thread FROM alerts WHERE identifier = ?", (parts[1],)
            ).fetchone()
            if ref is not None:
                threads.add(str(ref[0]))
    marks = ",".join("?" * len(threads))
    return [
        int(r[0])
        for r in db.conn.execute(
            f"SELECT id FROM alerts WHERE thread IN ({marks}) OR id = ?", [*threads, alert.id]
        )
    ]


def stop_for_cancel(
    db: Database, clock: Clock, alert: int | str | Any, operator: str = ENGINE
) -> int:
    """Stop the 叫应 of a cancelled warning: every running call of its thread (the cancel
    message's references, or the alert itself) is cancelled, those already called are told.
    Returns how many calls were stopped; idempotent.

    Raises:
        NotFound: no such alert.
    """
    now = clock.now()
    stopped = 0
    with write(db):
        found = load_alert(db, alert)
        ids = _thread_ids(db, found)
        marks = ",".join("?" * len(ids))
        rows = db.conn.execute(
            "SELECT c.mobilization_id, a.identifier FROM call_answers c JOIN alerts a"
            f" ON a.id = c.alert_id WHERE c.alert_id IN ({marks}) AND c.stopped_at IS NULL"
            " ORDER BY c.mobilization_id",
            ids,
        ).fetchall()
        for mob_id, identifier in rows:
            told = 0
            if get_mobilization(db, int(mob_id)).state is MobilizationState.ACTIVE:
                told = cancel_mobilization(db, clock, operator, int(mob_id))
            db.conn.execute(
                "UPDATE call_answers SET stopped_at = ? WHERE mobilization_id = ?",
                (to_iso(now), mob_id),
            )
            append_event(
                db,
                at=to_iso(now),
                operator=operator,
                kind="alert_call_stopped",
                data={
                    "alert": identifier,
                    "mobilization": int(mob_id),
                    "cancel": found.identifier,
                    "told": told,
                },
            )
            stopped += 1
    return stopped


# ------------------------------------------------------------------------------- progress


def _progress(db: Database, row: Sequence[Any]) -> CallProgress:
    mob_id = int(row[0])
    return CallProgress(
        mobilization_id=mob_id,
        alert_id=int(row[1]),
        identifier=str(row[2]),
        started_at=from_iso(row[3]),
        started_by=str(row[4]),
        auto=bool(row[5]),
        exercise=bool(row[6]),
        stopped_at=from_iso(row[7]) if row[7] else None,
        state=get_mobilization(db, mob_id).state,
        counts=totals(db, mob_id),
    )


_CALL_COLUMNS = (
    "c.mobilization_id, c.alert_id, a.identifier, c.started_at, c.started_by, c.auto,"
    " c.exercise, c.stopped_at"
)


def calls_of(db: Database, alert_id: int | str | Any) -> list[CallProgress]:
    """Every 叫应 of the alert's thread (an update shares its original's), newest first.

    Raises:
        NotFound: no such alert.
    """
    found = load_alert(db, alert_id)
    rows = db.conn.execute(
        f"SELECT {_CALL_COLUMNS} FROM call_answers c JOIN alerts a ON a.id = c.alert_id"
        " WHERE a.thread = ? ORDER BY c.mobilization_id DESC",
        (found.thread,),
    ).fetchall()
    return [_progress(db, r) for r in rows]


def call_of(db: Database, alert_id: int | str | Any) -> CallProgress | None:
    """The alert's latest 叫应 (of its thread) with its totals, or ``None`` when it has none.

    Raises:
        NotFound: no such alert.
    """
    calls = calls_of(db, alert_id)
    return calls[0] if calls else None


def alert_of_mobilization(db: Database, mobilization_id: int) -> str | None:
    """The identifier of the alert a mobilization is the 叫应 of, or ``None``."""
    row = db.conn.execute(
        "SELECT a.identifier FROM call_answers c JOIN alerts a ON a.id = c.alert_id"
        " WHERE c.mobilization_id = ?",
        (mobilization_id,),
    ).fetchone()
    return str(row[0]) if row else None


def calls_by_alert(db: Database, alert_ids: Sequence[int]) -> Mapping[int, CallProgress]:
    """The latest 叫应 of each of these alerts (by row id) that has one, for lists."""
    if not alert_ids:
        return {}
    marks = ",".join("?" * len(alert_ids))
    rows = db.conn.execute(
        f"SELECT {_CALL_COLUMNS} FROM call_answers c JOIN alerts a ON a.id = c.alert_id"
        f" WHERE c.alert_id IN ({marks}) ORDER BY c.mobilization_id",
        list(alert_ids),
    ).fetchall()
    out: dict[int, CallProgress] = {}
    for row in rows:
        out[int(row[1])] = _progress(db, row)
    return out


def answer_window(rules: WarningRules) -> timedelta:
    """How long a person has to answer before their silence escalates (the repeats included)."""
    return timedelta(minutes=rules.answer_minutes * (rules.repeats + 1))


__all__ = [
    "CALL_TREE",
    "CallAlert",
    "CallDecision",
    "CallProgress",
    "CallReason",
    "EVENT_NAMES",
    "NobodyToCall",
    "Responsible",
    "WarningRules",
    "alert_of_mobilization",
    "answer_window",
    "build_call_tree",
    "call_message",
    "call_of",
    "calls_by_alert",
    "calls_of",
    "covered_units",
    "load_alert",
    "maybe_start",
    "responsible",
    "significant_prefix",
    "start_call",
    "stop_for_cancel",
]
