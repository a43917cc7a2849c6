"""Provides the last meter of the closed loop: a dispatched case reaches the people who handle it.

Dispatching a case (:func:`incidents.workflow.dispatch`, also again after a return) sends it to
the responsible people of the target, who accept it (签收) on their phone, report progress with
photos and feed back (反馈) the result:

* :func:`catch_up` reads the timeline after ``field_cursor`` (the engine calls it on each sweep
  and when the data changes; ``dutydesk sweep`` too): for each ``dispatch`` entry it writes a
  *field dispatch* (``field_dispatches``), its people (``field_people``: a grid's leader and
  members, a team's leader with its members as alternates, the office's duty officer (post
  ``DO``) with the shift lead (``SL``) as alternate, or the named person), and starts a
  mobilization over a contact tree built for it (:data:`FIELD_TREE`, rebuilt for each
  dispatch as the 叫应's is), broadcast, acknowledgement required, ``need`` 1 (the first
  acceptance stands the others' escalation down). Its message is :func:`field_message`; each
  person's call-out carries their own signed case link in place of the mobilization's ack
  link (:func:`recipient_link`, the engine's hook in the texts the delivery fixes and sends).
  A ``return``, ``close``, ``void``, ``merge`` or a new ``dispatch`` of the case ends the open
  field dispatch (its links expire) and cancels its mobilization; after a return the case
  goes again to its assignee.
* Acceptance is supervised: half the limit (``[field] accept_minutes``, ``urgent_accept_minutes``
  for urgent cases) repeats the call-out, the whole limit escalates to the alternates and
  :func:`sweep` writes ``field_accept_overdue`` once (the officer's screen rings).
* The case page (:mod:`console.http.casepage`) reads a link with :func:`read_link`, shows
  :func:`field_view` and takes the actions :func:`accept`, :func:`decline`,
  :func:`add_progress`, :func:`add_photo` and :func:`submit_feedback`, each one transaction
  with its timeline entry; every form carries a CSRF token (:func:`make_csrf`) and a random
  form id stored with the update, so a replayed form changes nothing.

A link is ``<payload>.<mac>`` in canonical URL-safe base64: the payload names the dispatch, the
person (their code: the key, or ``#id`` when the key is a phone number), the random nonce of
their ``field_people`` row, when it was issued and the key id; the MAC is HMAC-SHA256 (128 bits)
with the key ring's key derived for :data:`PURPOSE`. It is valid while its dispatch is open,
within ``[field] link_days`` of issue, and while the nonce matches the row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from contacts.directory import describe, person_code
from contacts.people import get_person
from contacts.roster import get_post
from incidents.limits import Policy
from incidents.models import CATEGORIES, Incident, Stage, Urgency, category_label
from incidents.records import get_incident
from mobilization import (
    MobilizationState,
    Mode,
    NodeRef,
    Target,
    TargetKind,
    b64decode_token,
    b64encode_token,
    cancel_mobilization,
    get_mobilization,
    recipient_rows,
    record_answer,
    resolve,
    start_mobilization,
    store_tree,
)
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from store.i18n import N_, _
from store.keys import KeyRing
from store.text import clean_text
from uplink.callanswer_rules import DUTY_POST, LEADER_FALLBACK
from uplink.field_rules import FieldRules

if TYPE_CHECKING:
    from uplink.photos import Photo

PURPOSE = "field"  # the key ring's derived key that signs case links and forms
FIELD_TREE = "field"
ENGINE = "engine"
OPERATOR_PREFIX = "field:"
CSRF_LIFE = timedelta(hours=4)
FUTURE_SKEW = timedelta(minutes=5)  # a link or form "issued" later than now by more: forged
TOKEN_MAX = 400
CATCH_UP_BATCH = 500
IDLE_SPAN = 200  # entries of no concern left behind the cursor before it is moved over them
MESSAGE_TITLE_CHARS = 40

UPDATE_KINDS = ("accepted", "declined", "progress", "photo", "feedback")
PHOTO_KINDS = ("before", "after", "progress")
ROLES = ("leader", "member", "duty", "person", "alternate")
OPEN_STAGES = (Stage.DISPATCHED, Stage.HANDLING, Stage.FEEDBACK)

# A timeline entry that ends the case's open field dispatch, and the reason it is written with.
ENDINGS = {
    "dispatch": "redispatched",
    "return": "returned",
    "close": "closed",
    "void": "voided",
    "merge": "merged",
}

EVENT_NAMES = {
    "field_sent": N_("sent to the field"),
    "field_ended": N_("field links expired"),
    "field_accepted": N_("accepted in the field"),
    "field_declined": N_("declined in the field"),
    "field_progress": N_("progress from the field"),
    "field_photo": N_("photo from the field"),
    "field_feedback": N_("feedback from the field"),
    "field_accept_overdue": N_("not accepted in time"),
}

ROLE_NAMES = {
    "leader": N_("leader"),
    "member": N_("member"),
    "duty": N_("duty officer"),
    "person": N_("named person"),
    "alternate": N_("alternate"),
}

PHOTO_KIND_NAMES = {
    "before": N_("before"),
    "after": N_("after"),
    "progress": N_("progress"),
}


class LinkInvalid(PermissionDenied):
    """A case link (or form) that is malformed, forged, expired or no longer open.

    ``reason`` is one of ``malformed``, ``bad signature``, ``expired``, ``ended``, ``unknown``
    or ``csrf``: for the security summary, never shown to the person (the page says only that
    the link is not valid).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(_("this link is not valid (any more)"))
        self.reason = reason


class CsrfInvalid(LinkInvalid):
    """A form without a valid CSRF token: missing, forged, or older than :data:`CSRF_LIFE`."""

    def __init__(self) -> None:
        super().__init__("csrf")


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link says: one person of one dispatch, and when it was issued."""

    dispatch_id: int
    person_key: str
    nonce: str
    issued_at: datetime


@dataclass(frozen=True)
class FieldUpdate:
    """One thing a person sent back from the field (``field_updates``)."""

    id: int
    at: datetime
    person_key: str
    person_name: str
    kind: str
    text: str
    photo_sha256: str | None = None
    photo_bytes: int | None = None
    photo_width: int | None = None
    photo_height: int | None = None
    photo_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "at": to_iso(self.at),
            "person": self.person_key,
            "name": self.person_name,
            "kind": self.kind,
            "text": self.text,
        }
        if self.photo_sha256:
            out["photo"] = {
                "sha256": self.photo_sha256,
                "bytes": self.photo_bytes,
                "width": self.photo_width,
                "height": self.photo_height,
                "kind": self.photo_kind,
            }
        return out


@dataclass(frozen=True)
class FieldPerson:
    """One person a dispatch was sent to, and their answer."""

    key: str
    name: str
    role: str
    accepted_at: datetime | None
    declined_at: datetime | None
    decline_reason: str | None
    opened_at: datetime | None

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.declined_at:
            return "declined"
        return "opened" if self.opened_at else "waiting"

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.key,
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "accepted_at": to_iso(self.accepted_at) if self.accepted_at else None,
            "declined_at": to_iso(self.declined_at) if self.declined_at else None,
            "decline_reason": self.decline_reason,
            "opened_at": to_iso(self.opened_at) if self.opened_at else None,
        }


@dataclass(frozen=True)
class FieldDispatch:
    """One dispatch of a case to the field, with its people and updates."""

    id: int
    incident_id: int
    target: str
    mobilization_id: int | None
    created_at: datetime
    accept_by: datetime
    accepted_at: datetime | None
    accepted_by: str | None
    overdue_at: datetime | None
    ended_at: datetime | None
    ended_reason: str | None
    people: tuple[FieldPerson, ...] = ()
    updates: tuple[FieldUpdate, ...] = ()

    @property
    def state(self) -> str:
        if self.ended_at:
            return "ended"
        if self.accepted_at:
            return "accepted"
        return "overdue" if self.overdue_at else "waiting"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "mobilization": self.mobilization_id,
            "state": self.state,
            "created_at": to_iso(self.created_at),
            "accept_by": to_iso(self.accept_by),
            "accepted_at": to_iso(self.accepted_at) if self.accepted_at else None,
            "accepted_by": self.accepted_by,
            "overdue_at": to_iso(self.overdue_at) if self.overdue_at else None,
            "ended_at": to_iso(self.ended_at) if self.ended_at else None,
            "ended_reason": self.ended_reason,
            "people": [p.to_json() for p in self.people],
            "updates": [u.to_json() for u in self.updates],
        }


@dataclass(frozen=True)
class FieldView:
    """What the case page shows one person: the case (never its reporter) and this dispatch."""

    dispatch_id: int
    incident_id: int
    number: str
    title: str
    category: str
    category_label: str
    urgency: str
    urgency_label: str
    stage: str
    stage_label: str
    place: str
    lon: float | None
    lat: float | None
    map_url: str | None
    what: str
    deadline: datetime | None
    accept_by: datetime
    instructions: str
    target: str
    person_key: str
    person_name: str
    role: str
    accepted_at: datetime | None
    declined_at: datetime | None
    dispatch_accepted_at: datetime | None
    dispatch_accepted_by: str | None
    updates: tuple[FieldUpdate, ...]
    photos_left: int
    can_accept: bool
    can_decline: bool
    can_progress: bool
    can_photo: bool
    can_feedback: bool


# ------------------------------------------------------------------------------- tokens


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:16]


def make_link_token(
    keys: KeyRing, dispatch_id: int, person_key: str, nonce: str, issued_at: datetime
) -> str:
    """A case link's token for one person of one dispatch, signed with the ring's current key."""
    key = keys.current
    payload = json.dumps(
        [dispatch_id, person_key, nonce, int(issued_at.timestamp()), key.kid],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return f"{b64encode_token(payload)}.{b64encode_token(_mac(key.derive(PURPOSE), payload))}"


def read_link(
    keys: KeyRing, token: str, now: datetime, rules: FieldRules | None = None
) -> LinkClaim:
    """What a link token claims, if its signature holds and it is within ``link_days``.

    Whether its dispatch is still open and its nonce still the person's is
    :func:`check_claim`'s (every function taking a claim checks it in its transaction).

    Raises:
        LinkInvalid: malformed, bad signature, or expired.
    """
    rules = rules or FieldRules()
    if not token or len(token) > TOKEN_MAX or token.count(".") != 1:
        raise LinkInvalid("malformed")
    body, mac_text = token.split(".")
    try:
        payload = b64decode_token(body)
        mac = b64decode_token(mac_text)
        fields = json.loads(payload.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkInvalid("malformed") from exc
    if (
        not isinstance(fields, list)
        or len(fields) != 5
        or not isinstance(fields[0], int)
        or isinstance(fields[0], bool)
        or not all(isinstance(f, str) for f in (fields[1], fields[2], fields[4]))
        or not isinstance(fields[3], int)
        or isinstance(fields[3], bool)
    ):
        raise LinkInvalid("malformed")
    dispatch_id, person_key, nonce, issued, kid = fields
    key = keys.get(kid)
    if key is None or not hmac.compare_digest(mac, _mac(key.derive(PURPOSE), payload)):
        raise LinkInvalid("bad signature")
    issued_at = datetime.fromtimestamp(issued, UTC)
    retired = keys.retired_at(key.kid)
    if issued_at > now + FUTURE_SKEW or (retired is not None and issued_at > retired):
        raise LinkInvalid("bad signature")
    if issued_at + timedelta(days=rules.link_days) <= now:
        raise LinkInvalid("expired")
    return LinkClaim(dispatch_id, person_key, nonce, issued_at)


class _Row:
    """The dispatch and person a claim names, as read inside a transaction."""

    def __init__(self, row: Sequence[Any]) -> None:
        self.dispatch_id = int(row[0])
        self.incident_id = int(row[1])
        self.target = str(row[2])
        self.mobilization_id = int(row[3]) if row[3] is not None else None
        self.accept_by = from_iso(row[4])
        self.accepted_at = from_iso(row[5]) if row[5] else None
        self.accepted_by = row[6]
        self.ended_at = row[7]
        self.person_key = str(row[8])
        self.person_id = int(row[9]) if row[9] is not None else None
        self.name = str(row[10])
        self.nonce = str(row[11])
        self.role = str(row[12])
        self.p_accepted_at = from_iso(row[13]) if row[13] else None
        self.p_declined_at = from_iso(row[14]) if row[14] else None
        self.opened_at = row[15]
        self.event_id = int(row[16])


def _claimed(db: Database, claim: LinkClaim) -> _Row:
    row = db.conn.execute(
        "SELECT d.id, d.incident_id, d.target, d.mobilization_id, d.accept_by, d.accepted_at,"
        " d.accepted_by, d.ended_at, p.person_key, p.person_id, p.name, p.nonce, p.role,"
        " p.accepted_at, p.declined_at, p.opened_at, d.event_id"
        " FROM field_dispatches d JOIN field_people p ON p.dispatch_id = d.id"
        " WHERE d.id = ? AND p.person_key = ?",
        (claim.dispatch_id, claim.person_key),
    ).fetchone()
    if row is None:
        raise LinkInvalid("unknown")
    found = _Row(row)
    if not hmac.compare_digest(found.nonce.encode(), claim.nonce.encode()):
        raise LinkInvalid("unknown")
    if found.ended_at is not None:
        raise LinkInvalid("ended")
    return found


def check_claim(db: Database, claim: LinkClaim) -> None:
    """Refuse a claim whose dispatch ended, or whose person or nonce is not the row's.

    Raises:
        LinkInvalid: ``ended`` or ``unknown``.
    """
    _claimed(db, claim)


def claim_for(
    db: Database, dispatch_id: int, person_key: str, now: datetime | None = None
) -> LinkClaim:
    """The claim a fresh link of a person of a dispatch makes (what the page acts with); for
    the demo and tests, which act as that person without a token.

    Raises:
        NotFound: no such person on that dispatch.
    """
    row = db.conn.execute(
        "SELECT nonce FROM field_people WHERE dispatch_id = ? AND person_key = ?",
        (dispatch_id, person_key),
    ).fetchone()
    if row is None:
        raise NotFound(
            _("{person} is not on field dispatch {id}").format(person=person_key, id=dispatch_id)
        )
    return LinkClaim(dispatch_id, person_key, str(row[0]), now or datetime.now(UTC))


def token_for(
    db: Database, keys: KeyRing, dispatch_id: int, person_key: str, now: datetime | None = None
) -> str:
    """A fresh token for a person of a dispatch (their row's nonce), issued ``now``.

    Raises:
        NotFound: no such person on that dispatch.
    """
    claim = claim_for(db, dispatch_id, person_key, now)
    return make_link_token(keys, dispatch_id, person_key, claim.nonce, claim.issued_at)


def link_for(
    db: Database,
    keys: KeyRing,
    dispatch_id: int,
    person_key: str,
    base_url: str,
    now: datetime | None = None,
) -> str:
    """The case link of a person of a dispatch: ``{base_url}/case/{token}``."""
    token = token_for(db, keys, dispatch_id, person_key, now)
    return f"{base_url.rstrip('/')}/case/{token}"


# ------------------------------------------------------------------------------- forms


def new_form_id() -> str:
    """A random id for one rendered form (stored with what it sends: a replay is a no-op)."""
    return secrets.token_urlsafe(16)


def _csrf_mac(keys: KeyRing, kid: str, claim: LinkClaim, form_id: str, issued: int) -> bytes:
    key = keys.get(kid)
    if key is None:
        raise CsrfInvalid()
    text = f"csrf\n{claim.dispatch_id}\n{claim.person_key}\n{claim.nonce}\n{form_id}\n{issued}"
    return _mac(key.derive(PURPOSE), text.encode("utf-8"))


def make_csrf(keys: KeyRing, claim: LinkClaim, form_id: str, now: datetime) -> str:
    """The CSRF token of one form of one person's page: ``<issued>.<kid>.<mac>``."""
    issued = int(now.timestamp())
    kid = keys.current.kid
    return f"{issued}.{kid}.{b64encode_token(_csrf_mac(keys, kid, claim, form_id, issued))}"


def check_csrf(
    keys: KeyRing, claim: LinkClaim, form_id: str | None, token: str | None, now: datetime
) -> None:
    """Refuse a form whose CSRF token is missing, forged, or older than :data:`CSRF_LIFE`.

    Raises:
        CsrfInvalid: what the page answers with 403.
    """
    if not token or not form_id or len(token) > 200 or len(form_id) > 64:
        raise CsrfInvalid()
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        raise CsrfInvalid()
    issued = int(parts[0])
    try:
        mac = b64decode_token(parts[2])
    except ValueError as exc:
        raise CsrfInvalid() from exc
    if not hmac.compare_digest(mac, _csrf_mac(keys, parts[1], claim, form_id, issued)):
        raise CsrfInvalid()
    at = datetime.fromtimestamp(issued, UTC)
    if at > now + FUTURE_SKEW or at + CSRF_LIFE <= now:
        raise CsrfInvalid()


# ------------------------------------------------------------------------------- the message


def _minute(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%m-%d %H:%M")


def field_message(incident: Incident, accept_by: datetime, zone: tzinfo) -> str:
    """The call-out of a dispatch: number, category, place, what, and the acceptance deadline.

    In Chinese, as the people it goes to read it; each person's case link follows it
    (:func:`recipient_link`).
    """
    category = CATEGORIES.get(incident.category, (incident.category, {}))[0]
    title = " ".join(incident.title.split())
    if len(title) > MESSAGE_TITLE_CHARS:
        title = title[: MESSAGE_TITLE_CHARS - 1] + "…"
    place = " ".join(incident.location.split())[:30]
    where = f"{place}：" if place else ""
    return (
        f"【派遣】{incident.number} {category} {where}{title}。"
        f"请于{_minute(accept_by, zone)}前点链接签收处置。"
    )


# ------------------------------------------------------------------------------- catch-up


def _cursor(db: Database) -> int:
    row = db.conn.execute("SELECT event_id FROM field_cursor WHERE id = 1").fetchone()
    return 0 if row is None else int(row[0])


@dataclass
class _Planned:
    """A tree node of a dispatch and the people it names now."""

    code: str
    ref: NodeRef
    label: str
    role: str
    alternates: list[NodeRef]
    children: list[_Planned]

    def to_json(self, timeout_s: int) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.ref.kind,
            "ref": self.ref.ref,
            "label": self.label[:100],
            "timeout_s": timeout_s,
            "repeats": 1,
            "alternates": [a.format() for a in self.alternates if a != self.ref],
            "children": [c.to_json(timeout_s) for c in self.children],
        }


def _post(db: Database, code: str) -> NodeRef | None:
    try:
        return NodeRef("post", get_post(db, code).code)
    except NotFound:
        return None


def _parent_unit(db: Database, grid: str) -> str | None:
    from jurisdiction.units import get_unit

    try:
        return get_unit(db, grid).parent_code
    except (NotFound, InvalidInput):
        return None


def plan(db: Database, target: str) -> _Planned | None:
    """The contact tree of a dispatch to ``target`` (its root), or ``None`` when it names nothing.

    A grid: its leader (alternate: the community's secretary, then the duty officer), its
    members below (alternate: the leader). A team: its leader, the members as alternates. The
    office: the duty officer (post ``DO``), the shift lead as alternate. A person: that person.
    """
    kind, _sep, code = target.partition(":")
    duty = _post(db, DUTY_POST)
    if kind == "grid":
        leader_alts: list[NodeRef] = []
        parent = _parent_unit(db, code)
        if parent:
            leader_alts.append(NodeRef("role", f"community_secretary@{parent}"))
        if duty:
            leader_alts.append(duty)
        leader_ref = NodeRef("role", f"grid_leader@{code}")
        members = _Planned(
            "members",
            NodeRef("role", f"grid_member@{code}"),
            f"{code} 网格员",
            "member",
            [leader_ref],
            [],
        )
        return _Planned("root", leader_ref, f"{code} 网格长", "leader", leader_alts, [members])
    if kind == "team":
        alts = [NodeRef("role", f"team_member@{code}")]
        return _Planned(
            "root", NodeRef("role", f"team_leader@{code}"), f"{code} 队长", "leader", alts, []
        )
    if kind == "office":
        if duty is None:
            return None
        lead = _post(db, LEADER_FALLBACK)
        return _Planned("root", duty, "值班员", "duty", [lead] if lead else [], [])
    if kind == "person":
        try:
            person = get_person(db, code)
        except (NotFound, InvalidInput):
            return None
        return _Planned("root", NodeRef("person", person.key), person.name, "person", [], [])
    return None


def _walk(node: _Planned) -> list[_Planned]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


def _responsible(db: Database, root: _Planned, now: datetime) -> list[tuple[Any, str]]:
    """The people the tree names now, each with their role on the dispatch, leaders first."""
    found: dict[int, tuple[Any, str]] = {}
    for node in _walk(root):
        for person in resolve(db, node.ref, now):
            found.setdefault(person.id, (person, node.role))
    for node in _walk(root):
        for alt in node.alternates:
            if alt.kind == "post" and alt.ref.upper() == DUTY_POST and node.role != "duty":
                continue  # the duty officer hears of it on the screen; not sent a case link
            for person in resolve(db, alt, now):
                found.setdefault(person.id, (person, "alternate"))
    return list(found.values())


def _add_person(db: Database, dispatch_id: int, person: Any, role: str) -> str:
    code = person_code(int(person.id), str(person.key))
    db.conn.execute(
        "INSERT OR IGNORE INTO field_people (dispatch_id, person_key, person_id, name, nonce, role)"
        " VALUES (?,?,?,?,?,?)",
        (dispatch_id, code, int(person.id), str(person.name), secrets.token_urlsafe(12), role),
    )
    return code


def _end(db: Database, clock: Clock, row: Sequence[Any], reason: str, operator: str) -> None:
    """End an open field dispatch (its links expire) and stop its mobilization."""
    dispatch_id, incident_id, mob_id = int(row[0]), int(row[1]), row[2]
    now = clock.now()
    db.conn.execute(
        "UPDATE field_dispatches SET ended_at = ?, ended_reason = ? WHERE id = ?",
        (to_iso(now), reason, dispatch_id),
    )
    if mob_id is None:
        return  # nothing was sent for it (caught up late, or nobody to send it to): quietly
    told = 0
    if get_mobilization(db, int(mob_id)).state is MobilizationState.ACTIVE:
        told = cancel_mobilization(db, clock, operator, int(mob_id))
    append_event(
        db,
        at=to_iso(now),
        operator=operator,
        kind="field_ended",
        incident_id=incident_id,
        data={"dispatch": dispatch_id, "reason": reason, "mobilization": mob_id, "told": told},
    )


def _open_dispatch(db: Database, incident_id: int) -> Sequence[Any] | None:
    row: Sequence[Any] | None = db.conn.execute(
        "SELECT id, incident_id, mobilization_id FROM field_dispatches"
        " WHERE incident_id = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
        (incident_id,),
    ).fetchone()
    return row


def _later_ending(db: Database, incident_id: int, event_id: int) -> str | None:
    """The reason a later entry of the case already ended a dispatch made at ``event_id``."""
    marks = ",".join("?" * len(ENDINGS))
    row = db.conn.execute(
        f"SELECT kind FROM events WHERE incident_id = ? AND id > ? AND kind IN ({marks})"
        " ORDER BY id LIMIT 1",
        (incident_id, event_id, *ENDINGS),
    ).fetchone()
    return ENDINGS[str(row[0])] if row else None


def _create(
    db: Database,
    clock: Clock,
    rules: FieldRules,
    policy: Policy,
    event_id: int,
    incident_id: int,
    target: str,
) -> int:
    """Write the field dispatch of one ``dispatch`` entry and start its mobilization."""
    now = clock.now()
    incident = get_incident(db, incident_id)
    minutes = rules.accept_limit(incident.urgency.value)
    accept_by = now + timedelta(minutes=minutes)
    cur = db.conn.execute(
        "INSERT INTO field_dispatches (incident_id, event_id, target, created_at, accept_by)"
        " VALUES (?,?,?,?,?)",
        (incident_id, event_id, target, to_iso(now), to_iso(accept_by)),
    )
    dispatch_id = int(cur.lastrowid or 0)
    later = _later_ending(db, incident_id, event_id)
    if later is not None:  # caught up late: the case already left this dispatch
        db.conn.execute(
            "UPDATE field_dispatches SET ended_at = ?, ended_reason = ? WHERE id = ?",
            (to_iso(now), later, dispatch_id),
        )
        return dispatch_id
    root = plan(db, target)
    people = _responsible(db, root, now) if root is not None else []
    for person, role in people:
        _add_person(db, dispatch_id, person, role)
    mob_id: int | None = None
    problem: str | None = None
    handled = db.conn.execute(
        "SELECT at, operator FROM events WHERE incident_id = ? AND id > ? AND kind = 'handle'"
        " ORDER BY id LIMIT 1",
        (incident_id, event_id),
    ).fetchone()
    if handled is not None:
        # Caught up after the case was already being handled: the people get their links (for
        # progress and feedback) but no call-out to accept it, and nobody is supervised.
        db.conn.execute(
            "UPDATE field_dispatches SET accepted_at = ?, accepted_by = ? WHERE id = ?",
            (handled[0], handled[1], dispatch_id),
        )
        return dispatch_id  # nothing was sent: no entry on the case (the links exist)
    elif root is not None and people:
        timeout_s = max(60, minutes * 30)  # a repeat at half the limit, alternates at all of it
        try:
            with write(db):  # a savepoint: a refused tree or start leaves nothing behind
                store_tree(
                    db,
                    clock,
                    ENGINE,
                    FIELD_TREE,
                    root.to_json(timeout_s),
                    replace=True,
                    source=None,
                )
                mob_id = start_mobilization(
                    db,
                    clock,
                    ENGINE,
                    targets=[Target(TargetKind.NODE, "root")],
                    message=field_message(incident, accept_by, policy.calendar.zone),
                    mode=Mode.BROADCAST,
                    need=1,
                    # Not the case's: the officer's own call-outs for the case (and their
                    # figures) stay apart; field_dispatches links the two.
                    incident_id=None,
                    tree=FIELD_TREE,
                )
        except (InvalidInput, NotFound, InvalidTransition) as exc:
            problem = str(exc)
    elif not people:
        problem = _("nobody to send it to")
    if mob_id is not None:
        db.conn.execute(
            "UPDATE field_dispatches SET mobilization_id = ? WHERE id = ?", (mob_id, dispatch_id)
        )
    append_event(
        db,
        at=to_iso(now),
        operator=ENGINE,
        kind="field_sent",
        incident_id=incident_id,
        data={
            # Names, as the case's timeline shows them (the codes are in field_dispatches).
            "sent_to": describe(db, target),
            "people": [str(p.name) for p, _role in people],
            "mobilization": mob_id,
            "accept_by": to_iso(accept_by),
            **({"problem": problem} if problem else {}),
        },
    )
    return dispatch_id


def catch_up(
    db: Database,
    clock: Clock,
    rules: FieldRules,
    policy: Policy,
    *,
    batch: int = CATCH_UP_BATCH,
) -> int:
    """Bring the field dispatches up to date with the timeline after ``field_cursor``.

    A ``dispatch`` entry ends the case's open field dispatch (``redispatched``) and creates the
    new one with its people and mobilization; a ``return`` ends it (``returned``) and sends the
    case again to its assignee (the workflow's return leaves it dispatched to them);
    ``close``, ``void`` and ``merge`` end it. A dispatch caught up late (the case already left
    it, or is already being handled) is recorded without a call-out. Each batch of entries in
    one transaction. Returns how many dispatches were created or ended.
    """
    done = 0
    kinds = tuple(ENDINGS)
    marks = ",".join("?" * len(kinds))
    while True:
        # Most calls (the engine's every step) find nothing for the field: look before taking
        # the write lock, and leave the cursor where it is while fewer than IDLE_SPAN entries
        # of no concern wait behind it (a range read on the primary key each time).
        peek = db.conn.execute(
            "SELECT kind, incident_id FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (_cursor(db), batch),
        ).fetchall()
        if not peek or (
            len(peek) < IDLE_SPAN and not any(k in ENDINGS and i is not None for k, i in peek)
        ):
            return done
        with write(db):
            after = _cursor(db)
            ids = db.conn.execute(
                "SELECT count(*), max(id) FROM"
                " (SELECT id FROM events WHERE id > ? ORDER BY id LIMIT ?)",
                (after, batch),
            ).fetchone()
            if ids[1] is None:
                return done
            count, last = int(ids[0]), int(ids[1])
            rows = db.conn.execute(
                "SELECT id, incident_id, kind, data FROM events WHERE id > ? AND id <= ?"
                f" AND incident_id IS NOT NULL AND kind IN ({marks}) ORDER BY id",
                (after, int(last), *kinds),
            ).fetchall()
            for event_id, incident_id, kind, data in rows:
                open_row = _open_dispatch(db, int(incident_id))
                if open_row is not None:
                    _end(db, clock, open_row, ENDINGS[str(kind)], ENGINE)
                    done += 1
                target = ""
                if kind == "dispatch":
                    target = str(json.loads(data or "{}").get("to") or "")
                elif kind == "return":  # back to dispatched: sent again to its assignee
                    target = get_incident(db, int(incident_id)).assignee or ""
                if target:
                    _create(db, clock, rules, policy, int(event_id), int(incident_id), target)
                    done += 1
            db.conn.execute(
                "INSERT INTO field_cursor (id, event_id) VALUES (1, ?)"
                " ON CONFLICT(id) DO UPDATE SET event_id = excluded.event_id",
                (int(last),),
            )
            full = count >= batch
        if not full:
            return done


def sweep(db: Database, clock: Clock) -> int:
    """Write ``field_accept_overdue`` once for each open dispatch nobody accepted in time.

    Returns how many were newly overdue.
    """
    now = to_iso(clock.now())
    if not db.conn.execute(
        "SELECT 1 FROM field_dispatches WHERE accept_by <= ?"
        " AND ended_at IS NULL AND accepted_at IS NULL AND overdue_at IS NULL LIMIT 1",
        (now,),
    ).fetchone():
        return 0
    with write(db):
        rows = db.conn.execute(
            "SELECT id, incident_id, target, accept_by FROM field_dispatches"
            " WHERE accept_by <= ? AND ended_at IS NULL AND accepted_at IS NULL"
            " AND overdue_at IS NULL ORDER BY accept_by",
            (now,),
        ).fetchall()
        for dispatch_id, incident_id, target, accept_by in rows:
            declined = db.conn.execute(
                "SELECT count(*) FROM field_people WHERE dispatch_id = ?"
                " AND declined_at IS NOT NULL",
                (dispatch_id,),
            ).fetchone()[0]
            db.conn.execute(
                "UPDATE field_dispatches SET overdue_at = ? WHERE id = ?", (now, dispatch_id)
            )
            append_event(
                db,
                at=now,
                operator=ENGINE,
                kind="field_accept_overdue",
                incident_id=int(incident_id),
                data={
                    "dispatch": int(dispatch_id),
                    "sent_to": describe(db, str(target)),
                    "accept_by": accept_by,
                    "declined": int(declined),
                },
            )
    return len(rows)


def accept_replies(db: Database, clock: Clock, policy: Policy) -> int:
    """Accept, for them, the people who answered yes to a waiting dispatch's call-out some other
    way than the page (an SMS reply ``4821 1``, the officer recording it): a yes to the
    call-out is a 签收. Returns how many acceptances were recorded."""
    rows = db.conn.execute(
        "SELECT id, mobilization_id FROM field_dispatches WHERE ended_at IS NULL"
        " AND accepted_at IS NULL AND accept_by > '' AND mobilization_id IS NOT NULL"
    ).fetchall()
    done = 0
    for dispatch_id, mob_id in rows:
        for row in recipient_rows(db, int(mob_id)):
            if row["state"] != "yes":
                continue
            try:
                person = get_person(db, str(row["key"]))
                code = person_code(int(person.id), str(person.key))
                claim = claim_for(db, int(dispatch_id), code, clock.now())
                if accept(
                    db,
                    clock,
                    policy,
                    claim,
                    form_id=f"reply-{row['id']}",
                    via=str(row["via"] or "reply"),
                ):
                    done += 1
            except (NotFound, InvalidInput, InvalidTransition, LinkInvalid):
                continue  # not on the dispatch, or the case moved on: nothing to accept
    return done


# ------------------------------------------------------------------------------- links in sends


def recipient_link(
    db: Database,
    mobilization_id: int,
    recipient_id: int,
    now: datetime,
    *,
    keys: KeyRing,
    base_url: str,
) -> str | None:
    """The link a recipient's call-out carries, or ``None`` for the mobilization's ack link.

    The hook of :class:`mobilization.delivery.Routing` (``link_for``): the engine binds
    ``keys`` and ``base_url``, and the delivery puts the link in the text it fixes for the
    attempt, so what is recorded is what is sent. A recipient of a field dispatch's call-out
    gets their own case link; one the mobilization reached who is not yet on the dispatch (an
    alternate resolved later) is added with the role ``alternate``, in the caller's transaction.
    Only a dispatch nobody accepted yet still calls people (the first acceptance completes its
    mobilization): any other mobilization, or a recipient it does not list, gets ``None``.
    """
    row = db.conn.execute(
        "SELECT id FROM field_dispatches WHERE ended_at IS NULL AND accepted_at IS NULL"
        " AND accept_by > '' AND mobilization_id = ? ORDER BY id DESC LIMIT 1",
        (mobilization_id,),
    ).fetchone()
    if row is None:
        return None
    found = next((r for r in recipient_rows(db, mobilization_id) if r["id"] == recipient_id), None)
    if found is None:
        return None
    dispatch_id = int(row[0])
    with write(db):
        code = _add_person(db, dispatch_id, get_person(db, str(found["key"])), "alternate")
        return link_for(db, keys, dispatch_id, code, base_url, now)


# ------------------------------------------------------------------------------- reading


def _update(row: Sequence[Any], names: dict[str, str]) -> FieldUpdate:
    return FieldUpdate(
        id=int(row[0]),
        at=from_iso(row[1]),
        person_key=str(row[2]),
        person_name=names.get(str(row[2]), str(row[2])),
        kind=str(row[3]),
        text=str(row[4] or ""),
        photo_sha256=row[5],
        photo_bytes=row[6],
        photo_width=row[7],
        photo_height=row[8],
        photo_kind=row[9],
    )


def updates_of(db: Database, dispatch_id: int) -> tuple[FieldUpdate, ...]:
    """A dispatch's updates, oldest first."""
    names = {
        str(k): str(n)
        for k, n in db.conn.execute(
            "SELECT person_key, name FROM field_people WHERE dispatch_id = ?", (dispatch_id,)
        )
    }
    rows = db.conn.execute(
        "SELECT id, at, person_key, kind, text, photo_sha256, photo_bytes, photo_width,"
        " photo_height, photo_kind FROM field_updates WHERE dispatch_id = ? ORDER BY id",
        (dispatch_id,),
    ).fetchall()
    return tuple(_update(r, names) for r in rows)


def _people(db: Database, dispatch_id: int) -> tuple[FieldPerson, ...]:
    rows = db.conn.execute(
        "SELECT person_key, name, role, accepted_at, declined_at, decline_reason, opened_at"
        " FROM field_people WHERE dispatch_id = ? ORDER BY rowid",
        (dispatch_id,),
    ).fetchall()
    return tuple(
        FieldPerson(
            key=str(r[0]),
            name=str(r[1]),
            role=str(r[2]),
            accepted_at=from_iso(r[3]) if r[3] else None,
            declined_at=from_iso(r[4]) if r[4] else None,
            decline_reason=r[5],
            opened_at=from_iso(r[6]) if r[6] else None,
        )
        for r in rows
    )


def dispatches_of(db: Database, ref: int | str) -> list[FieldDispatch]:
    """Every field dispatch of a case, oldest first, with people and updates.

    Raises:
        NotFound: no such case.
    """
    incident = get_incident(db, ref)
    rows = db.conn.execute(
        "SELECT id, incident_id, target, mobilization_id, created_at, accept_by, accepted_at,"
        " accepted_by, overdue_at, ended_at, ended_reason FROM field_dispatches"
        " WHERE incident_id = ? ORDER BY id",
        (incident.id,),
    ).fetchall()
    return [
        FieldDispatch(
            id=int(r[0]),
            incident_id=int(r[1]),
            target=str(r[2]),
            mobilization_id=int(r[3]) if r[3] is not None else None,
            created_at=from_iso(r[4]),
            accept_by=from_iso(r[5]),
            accepted_at=from_iso(r[6]) if r[6] else None,
            accepted_by=r[7],
            overdue_at=from_iso(r[8]) if r[8] else None,
            ended_at=from_iso(r[9]) if r[9] else None,
            ended_reason=r[10],
            people=_people(db, int(r[0])),
            updates=updates_of(db, int(r[0])),
        )
        for r in rows
    ]


def _photo_count(db: Database, dispatch_id: int, person_key: str) -> int:
    return int(
        db.conn.execute(
            "SELECT count(*) FROM field_updates WHERE dispatch_id = ? AND person_key = ?"
            " AND kind = 'photo'",
            (dispatch_id, person_key),
        ).fetchone()[0]
    )


def photos_left(db: Database, claim: LinkClaim, rules: FieldRules | None = None) -> int:
    """How many more photos this person may add to this dispatch."""
    rules = rules or FieldRules()
    return max(0, rules.photo_max_count - _photo_count(db, claim.dispatch_id, claim.person_key))


def has_photo(db: Database, claim: LinkClaim, sha256: str) -> bool:
    """Whether the photo ``sha256`` belongs to the claim's dispatch (its page may serve it)."""
    _claimed(db, claim)
    return (
        db.conn.execute(
            "SELECT 1 FROM field_updates WHERE dispatch_id = ? AND kind = 'photo'"
            " AND photo_sha256 = ? LIMIT 1",
            (claim.dispatch_id, sha256),
        ).fetchone()
        is not None
    )


def _instructions(db: Database, found: _Row) -> str:
    """The officer's instructions: the dispatch entry's note, else the latest note the
    dispatching operator wrote on the case up to now (never a caller's)."""
    row = db.conn.execute(
        "SELECT operator, data FROM events WHERE id = ?", (found.event_id,)
    ).fetchone()
    if row is None:
        return ""
    data = json.loads(row[1] or "{}")
    if isinstance(data.get("note"), str) and data["note"].strip():
        return str(data["note"]).strip()
    for (text,) in db.conn.execute(
        "SELECT data FROM events WHERE incident_id = ? AND kind = 'note' AND operator = ?"
        " ORDER BY id DESC LIMIT 5",
        (found.incident_id, row[0]),
    ):
        note = json.loads(text or "{}")
        if "caller" not in note and isinstance(note.get("text"), str):
            return str(note["text"]).strip()
    return ""


def field_view(
    db: Database, claim: LinkClaim, now: datetime, rules: FieldRules | None = None
) -> FieldView:
    """What the case page shows the claim's person; the first look is recorded (``opened_at``).

    Raises:
        LinkInvalid: the dispatch ended, or the claim's person or nonce is not the row's.
    """
    rules = rules or FieldRules()
    with write(db):
        found = _claimed(db, claim)
        if found.opened_at is None:
            db.conn.execute(
                "UPDATE field_people SET opened_at = ? WHERE dispatch_id = ? AND person_key = ?",
                (to_iso(now), found.dispatch_id, found.person_key),
            )
    incident = get_incident(db, found.incident_id)
    stage = incident.stage
    accepted = found.p_accepted_at is not None
    open_case = stage in OPEN_STAGES
    left = photos_left(db, claim, rules)
    map_url = (
        f"https://uri.amap.com/marker?position={incident.lon:.6f},{incident.lat:.6f}"
        if incident.lon is not None and incident.lat is not None
        else None
    )
    return FieldView(
        dispatch_id=found.dispatch_id,
        incident_id=incident.id,
        number=incident.number,
        title=incident.title,
        category=incident.category,
        category_label=category_label(incident.category),
        urgency=incident.urgency.value,
        urgency_label=Urgency(incident.urgency).label,
        stage=stage.value,
        stage_label=stage.label,
        place=incident.location,
        lon=incident.lon,
        lat=incident.lat,
        map_url=map_url,
        what=incident.description,
        deadline=incident.deadline,
        accept_by=found.accept_by,
        instructions=_instructions(db, found),
        target=found.target,
        person_key=found.person_key,
        person_name=found.name,
        role=found.role,
        accepted_at=found.p_accepted_at,
        declined_at=found.p_declined_at,
        dispatch_accepted_at=found.accepted_at,
        dispatch_accepted_by=found.accepted_by,
        updates=updates_of(db, found.dispatch_id),
        photos_left=left,
        can_accept=open_case and not accepted,
        can_decline=open_case and not accepted and found.p_declined_at is None,
        can_progress=open_case and accepted,
        can_photo=open_case and accepted and left > 0,
        can_feedback=stage is Stage.HANDLING and accepted,
    )


# ------------------------------------------------------------------------------- actions


def operator_of(person_key: str) -> str:
    """How the timeline names a person acting from the field: ``field:<key>``."""
    return f"{OPERATOR_PREFIX}{person_key}"


def _replayed(db: Database, found: _Row, form_id: str) -> bool:
    clean = clean_text(form_id or "", "form_id", kind="short")
    if not clean:
        raise InvalidInput(_("the form has no id; reload the page"), "form_id")
    return (
        db.conn.execute(
            "SELECT 1 FROM field_updates WHERE dispatch_id = ? AND person_key = ? AND form_id = ?",
            (found.dispatch_id, found.person_key, clean),
        ).fetchone()
        is not None
    )


def _record(
    db: Database,
    found: _Row,
    at: str,
    kind: str,
    text: str,
    form_id: str,
    photo: tuple[str, int, int, int, str] | None = None,
) -> int:
    sha, size, width, height, photo_kind = photo or (None, None, None, None, None)
    cur = db.conn.execute(
        "INSERT INTO field_updates (dispatch_id, person_key, at, kind, text, photo_sha256,"
        " photo_bytes, photo_width, photo_height, photo_kind, form_id)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            found.dispatch_id,
            found.person_key,
            at,
            kind,
            text,
            sha,
            size,
            width,
            height,
            photo_kind,
            form_id.strip(),
        ),
    )
    return int(cur.lastrowid or 0)


def _answer(db: Database, clock: Clock, found: _Row, yes: bool) -> None:
    """The person's answer in the dispatch's mobilization (so its escalation stops)."""
    if found.mobilization_id is None or found.person_id is None:
        return
    if get_mobilization(db, found.mobilization_id).state is not MobilizationState.ACTIVE:
        return
    key = get_person(db, found.person_id).key
    for row in recipient_rows(db, found.mobilization_id):
        if str(row["key"]) == key:
            record_answer(
                db,
                clock,
                operator_of(found.person_key),
                yes=yes,
                via="link",
                recipient_id=int(row["id"]),
            )
            return


def _entry(db: Database, found: _Row, at: str, kind: str, data: dict[str, Any]) -> None:
    append_event(
        db,
        at=at,
        operator=operator_of(found.person_key),
        kind=kind,
        incident_id=found.incident_id,
        data={
            "dispatch": found.dispatch_id,
            "person": found.person_key,
            "name": found.name,
            **data,
        },
    )


def _stage_of(db: Database, found: _Row) -> Incident:
    incident = get_incident(db, found.incident_id)
    if incident.stage not in OPEN_STAGES:
        raise InvalidTransition(
            _("case {number} is {stage}: nothing more to do here").format(
                number=incident.number, stage=incident.stage.label
            )
        )
    return incident


def accept(
    db: Database,
    clock: Clock,
    policy: Policy,
    claim: LinkClaim,
    *,
    form_id: str,
    via: str = "link",
) -> bool:
    """签收: the person accepts the case; a dispatched case moves to handling.

    Their answer yes goes to the mobilization (escalation stops), the acceptance is written on
    the person and (the first) on the dispatch, with ``field_accepted``, in one transaction.
    Returns False for a replayed form or a person who had already accepted (nothing changes).

    Raises:
        LinkInvalid: the dispatch ended or the claim is not the row's.
        InvalidTransition: the case is no longer open.
    """
    from incidents.workflow import handle

    now = clock.now()
    at = to_iso(now)
    with write(db):
        found = _claimed(db, claim)
        if _replayed(db, found, form_id) or found.p_accepted_at is not None:
            return False
        incident = _stage_of(db, found)
        operator = operator_of(found.person_key)
        _answer(db, clock, found, True)
        _record(db, found, at, "accepted", "", form_id)
        db.conn.execute(
            "UPDATE field_people SET accepted_at = ?, declined_at = NULL, decline_reason = NULL"
            " WHERE dispatch_id = ? AND person_key = ?",
            (at, found.dispatch_id, found.person_key),
        )
        db.conn.execute(
            "UPDATE field_dispatches SET accepted_at = coalesce(accepted_at, ?),"
            " accepted_by = coalesce(accepted_by, ?) WHERE id = ?",
            (at, found.person_key, found.dispatch_id),
        )
        late = now > found.accept_by
        _entry(db, found, at, "field_accepted", {"late": late, "via": via})
        if incident.stage is Stage.DISPATCHED:
            handle(db, clock, policy, operator, incident.id)
    return True


def decline(
    db: Database, clock: Clock, policy: Policy, claim: LinkClaim, *, reason: str, form_id: str
) -> bool:
    """The person declines with a reason: their answer no goes to the mobilization (its
    alternates take over), ``field_declined`` tells the officer at once; the dispatch stays
    with the others. Returns False for a replayed form.

    Raises:
        LinkInvalid: the dispatch ended or the claim is not the row's.
        InvalidInput: no reason.
        InvalidTransition: the person already accepted, or the case is no longer open.
    """
    text = clean_text(reason or "", "reason", kind="note", multiline=True)
    if not text:
        raise InvalidInput(_("say why you cannot take this case"), "reason")
    at = to_iso(clock.now())
    with write(db):
        found = _claimed(db, claim)
        if _replayed(db, found, form_id):
            return False
        if found.p_accepted_at is not None:
            raise InvalidTransition(_("you accepted this case; report progress instead"))
        _stage_of(db, found)
        _answer(db, clock, found, False)
        _record(db, found, at, "declined", text, form_id)
        db.conn.execute(
            "UPDATE field_people SET declined_at = ?, decline_reason = ?"
            " WHERE dispatch_id = ? AND person_key = ?",
            (at, text, found.dispatch_id, found.person_key),
        )
        _entry(db, found, at, "field_declined", {"reason": text})
    return True


def _accepted(db: Database, found: _Row) -> Incident:
    incident = _stage_of(db, found)
    if found.p_accepted_at is None:
        raise InvalidTransition(_("accept the case first"))
    return incident


def add_progress(
    db: Database, clock: Clock, policy: Policy, claim: LinkClaim, *, text: str, form_id: str
) -> bool:
    """A progress note from the field (``field_progress``); only after accepting. Returns
    False for a replayed form.

    Raises:
        LinkInvalid, InvalidInput (no text), InvalidTransition (not accepted, case finished).
    """
    body = clean_text(text or "", "text", kind="note", multiline=True)
    if not body:
        raise InvalidInput(_("write what has been done"), "text")
    at = to_iso(clock.now())
    with write(db):
        found = _claimed(db, claim)
        if _replayed(db, found, form_id):
            return False
        _accepted(db, found)
        update = _record(db, found, at, "progress", body, form_id)
        _entry(db, found, at, "field_progress", {"text": body, "update": update})
    return True


def add_photo(
    db: Database,
    clock: Clock,
    policy: Policy,
    claim: LinkClaim,
    *,
    photo: Photo,
    kind: str,
    form_id: str,
    rules: FieldRules | None = None,
) -> bool:
    """Record a photo already saved (:func:`uplink.photos.save`): ``field_photo`` carries its
    hash, size and kind, so the hash is in the audit chain. Only after accepting, at most
    ``photo_max_count`` per person per dispatch. Returns False for a replayed form.

    Raises:
        LinkInvalid; InvalidInput (``kind`` not before/after/progress, or ``photo``: too many);
        InvalidTransition (not accepted, case finished).
    """
    rules = rules or FieldRules()
    if kind not in PHOTO_KINDS:
        raise InvalidInput(
            _("{kind!r} is not one of {kinds}").format(kind=kind, kinds=", ".join(PHOTO_KINDS)),
            "kind",
        )
    sha = str(photo.sha256)
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise InvalidInput(_("not a photo's SHA-256"), "photo")
    at = to_iso(clock.now())
    with write(db):
        found = _claimed(db, claim)
        if _replayed(db, found, form_id):
            return False
        _accepted(db, found)
        if _photo_count(db, found.dispatch_id, found.person_key) >= rules.photo_max_count:
            raise InvalidInput(
                _("at most {count} photos per person").format(count=rules.photo_max_count),
                "photo",
            )
        size = len(photo.data)
        update = _record(
            db,
            found,
            at,
            "photo",
            "",
            form_id,
            (sha, size, int(photo.width), int(photo.height), kind),
        )
        _entry(
            db,
            found,
            at,
            "field_photo",
            {
                "sha256": sha,
                "bytes": size,
                "width": int(photo.width),
                "height": int(photo.height),
                "kind": kind,
                "update": update,
            },
        )
    return True


def submit_feedback(
    db: Database, clock: Clock, policy: Policy, claim: LinkClaim, *, text: str, form_id: str
) -> bool:
    """反馈: the handling result; the case moves handling → feedback
    (:func:`incidents.workflow.feedback`) with ``field_feedback`` naming the person. Only after
    this person accepted. Returns False for a replayed form.

    Raises:
        LinkInvalid; InvalidInput (no text); InvalidTransition (not accepted, or the case is
        not being handled).
    """
    from incidents.workflow import feedback

    body = clean_text(text or "", "result", kind="note", multiline=True)
    if not body:
        raise InvalidInput(_("write the result of the handling"), "result")
    at = to_iso(clock.now())
    with write(db):
        found = _claimed(db, claim)
        if _replayed(db, found, form_id):
            return False
        incident = _accepted(db, found)
        if incident.stage is not Stage.HANDLING:
            raise InvalidTransition(
                _("case {number} is {stage}: feedback is given while it is handled").format(
                    number=incident.number, stage=incident.stage.label
                )
            )
        update = _record(db, found, at, "feedback", body, form_id)
        _entry(db, found, at, "field_feedback", {"text": body, "update": update})
        feedback(db, clock, policy, operator_of(found.person_key), incident.id, body)
    return True


__all__ = [
    "CsrfInvalid",
    "EVENT_NAMES",
    "FieldDispatch",
    "FieldPerson",
    "FieldUpdate",
    "FieldView",
    "LinkClaim",
    "LinkInvalid",
    "accept",
    "accept_replies",
    "add_photo",
    "add_progress",
    "catch_up",
    "check_claim",
    "claim_for",
    "check_csrf",
    "decline",
    "dispatches_of",
    "field_message",
    "field_view",
    "has_photo",
    "link_for",
    "make_csrf",
    "make_link_token",
    "new_form_id",
    "operator_of",
    "photos_left",
    "plan",
    "read_link",
    "recipient_link",
    "submit_feedback",
    "sweep",
    "token_for",
    "updates_of",
]
