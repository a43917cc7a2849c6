"""Provides the directives (通知/指令) a unit receives from the level above, and its replies (反馈).

A directive comes down the chain through the unit's inbox at the hub (pushed or pulled, see
:mod:`uplink.downlink`) as a JSON object: the hub's ``id``, who sent it, a title, a text,
attachments *by reference* (a name and a URL each: never fetched automatically, the officer
opens them), a reply deadline (``reply_by``) and an ``action``: ``none``, ``case`` (open a case
for it) or ``task`` (open a case with a task due at the deadline). :func:`receive` stores it once
(a directive delivered twice is the same row: the hub's id is the key), opens the case or task
through the incidents API in the same transaction, and writes a ``directive_received`` timeline
entry, which the outbox sends up as the receipt (签收). :func:`reply` records the officer's
answer (``directive_replied``, sent up too). :func:`sweep_overdue` (called by the engine each
sweep) writes one ``directive_overdue`` entry per directive whose deadline passed unanswered:
the console's notices make it a toast and the bell, as for an overdue case stage.

The directive's states (:class:`DirectiveState`) and actions (:class:`DirectiveAction`) have
their one owner here. Refusals raise :mod:`store.errors` classes naming the field and change
nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from incidents.limits import Policy
from incidents.records import NewIncident, create_incident, get_incident
from incidents.workflow import add_task
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import N_, _
from store.text import UNSAFE_IN_ONE_LINE, clean_text

SYSTEM = "uplink"  # the operator of the entries written on receipt and by the sweep
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_ATTACHMENTS = 20
MAX_URL = 2_000
MAX_LIMIT = 10_000
SWEEP_BATCH = 1_000  # overdue directives written per sweep, the rest at the next one
DEFAULT_CATEGORY = ("natural_disaster", "other")  # a case opened for a directive, unless given
VIAS = ("push", "poll", "import")


class DirectiveAction(StrEnum):
    """What receiving a directive opens at the unit."""

    NONE = "none"
    CASE = "case"  # a case (source ``directive``) for the directive
    TASK = "task"  # a case and, on it, a task due at the reply deadline

    @property
    def label(self) -> str:
        return _(_ACTION_LABELS[self])


_ACTION_LABELS = {
    DirectiveAction.NONE: N_("no action"),
    DirectiveAction.CASE: N_("open a case"),
    DirectiveAction.TASK: N_("open a task"),
}


class DirectiveState(StrEnum):
    """Where a directive stands at the unit."""

    OPEN = "open"  # waits for a reply (or needs none: no deadline)
    OVERDUE = "overdue"  # its reply deadline passed unanswered
    REPLIED = "replied"

    @property
    def label(self) -> str:
        return _(_STATE_LABELS[self])


_STATE_LABELS = {
    DirectiveState.OPEN: N_("awaiting reply"),
    DirectiveState.OVERDUE: N_("reply overdue"),
    DirectiveState.REPLIED: N_("replied"),
}


@dataclass(frozen=True)
class Attachment:
    """A document the directive refers to: shown with its URL, never fetched automatically."""

    name: str
    url: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url}


@dataclass(frozen=True)
class Directive:
    """One directive as stored at the unit (``directives``)."""

    id: str
    sender: str
    sender_name: str
    title: str
    text: str
    attachments: tuple[Attachment, ...]
    sent_at: datetime
    reply_by: datetime | None
    action: DirectiveAction
    alert: str | None
    exercise: bool
    via: str
    received_at: datetime
    incident_id: int | None
    case_number: str | None
    task_id: int | None
    reply: str | None
    replied_by: str | None
    replied_at: datetime | None
    overdue_at: datetime | None

    def state(self, now: datetime) -> DirectiveState:
        if self.replied_at is not None:
            return DirectiveState.REPLIED
        if self.overdue_at is not None or (self.reply_by is not None and now >= self.reply_by):
            return DirectiveState.OVERDUE
        return DirectiveState.OPEN

    @property
    def late(self) -> bool:
        """Replied after the deadline."""
        return (
            self.replied_at is not None
            and self.reply_by is not None
            and self.replied_at > self.reply_by
        )

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "sender": self.sender,
            "sender_name": self.sender_name,
            "title": self.title,
            "text": self.text,
            "attachments": [a.to_json() for a in self.attachments],
            "sent_at": to_iso(self.sent_at),
            "reply_by": to_iso(self.reply_by) if self.reply_by else None,
            "action": self.action.value,
            "alert": self.alert,
            "exercise": self.exercise,
            "via": self.via,
            "received_at": to_iso(self.received_at),
            "case": self.case_number,
            "task": self.task_id,
            "reply": self.reply,
            "replied_by": self.replied_by,
            "replied_at": to_iso(self.replied_at) if self.replied_at else None,
            "late": self.late,
            "state": self.state(now).value,
        }


@dataclass(frozen=True)
class Received:
    """What :func:`receive` did: the directive, and whether it is new here."""

    directive: Directive
    new: bool


_COLUMNS = (
    "id, sender, sender_name, title, text, attachments, sent_at, reply_by, action, alert,"
    " exercise, via, received_at, incident_id, task_id, reply, replied_by, replied_at,"
    " overdue_at"
)


def _opt(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


def _case_number(db: Database, incident_id: int | None) -> str | None:
    """The number of the case a directive opened (through the incidents API)."""
    if incident_id is None:
        return None
    try:
        return get_incident(db, incident_id).number
    except NotFound:
        return None


def _rows(db: Database, rows: Iterable[Sequence[Any]]) -> list[Directive]:
    return [_row(db, r) for r in rows]


def _row(db: Database, row: Sequence[Any]) -> Directive:
    (
        did,
        sender,
        sender_name,
        title,
        text,
        attachments,
        sent_at,
        reply_by,
        action,
        alert,
        exercise,
        via,
        received_at,
        incident_id,
        task_id,
        reply,
        replied_by,
        replied_at,
        overdue_at,
    ) = row
    return Directive(
        id=did,
        sender=sender,
        sender_name=sender_name,
        title=title,
        text=text,
        attachments=tuple(Attachment(a["name"], a["url"]) for a in json.loads(attachments)),
        sent_at=from_iso(sent_at),
        reply_by=_opt(reply_by),
        action=DirectiveAction(action),
        alert=alert,
        exercise=bool(exercise),
        via=via,
        received_at=from_iso(received_at),
        incident_id=incident_id,
        case_number=_case_number(db, incident_id),
        task_id=task_id,
        reply=reply,
        replied_by=replied_by,
        replied_at=_opt(replied_at),
        overdue_at=_opt(overdue_at),
    )


# --- validation of what comes down --------------------------------------------------------------


def _text(data: Mapping[str, Any], name: str, where: str, **kwargs: Any) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(_("must be a string"), f"{where}.{name}")
    return clean_text(value, f"{where}.{name}", **kwargs)


def _time(data: Mapping[str, Any], name: str, where: str, *, required: bool) -> datetime | None:
    value = data.get(name)
    if value is None and not required:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError(value)
    except ValueError:
        raise InvalidInput(
            _("must be an ISO-8601 time with its offset"), f"{where}.{name}"
        ) from None
    return at


def _attachments(value: Any, where: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(_("must be a list"), f"{where}.attachments")
    if len(value) > MAX_ATTACHMENTS:
        raise InvalidInput(
            _("at most {count} attachments").format(count=MAX_ATTACHMENTS), f"{where}.attachments"
        )
    out: list[dict[str, str]] = []
    for index, item in enumerate(value):
        field = f"{where}.attachments[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(_("must be a JSON object"), field)
        raw = item.get("url")
        bad_url = InvalidInput(
            _("must be an http or https URL of at most {count} characters").format(count=MAX_URL),
            f"{field}.url",
        )
        if not isinstance(raw, str) or len(raw) > MAX_URL:
            raise bad_url
        url = raw.strip()
        if UNSAFE_IN_ONE_LINE.search(url) or " " in url:
            raise bad_url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_url
        name = _text(item, "name", field, kind="title") or parts.path.rsplit("/", 1)[-1] or url
        out.append({"name": name[:200], "url": url})
    return out


def parse(data: Any, where: str = "directive") -> dict[str, Any]:
    """Check a directive as it comes down (the hub's JSON); returns the row's values.

    Fields: ``id`` (the hub's), ``sender`` (or ``from``: the sending unit's code),
    ``sender_name``, ``title``, ``text``, ``attachments`` (``[{"name", "url"}]``), ``sent_at``,
    ``reply_by`` (ISO-8601 with offset, or null), ``action`` (none/case/task), ``alert`` (the
    identifier of a warning it relates to), ``exercise``, and for a case ``category``/``type``.

    Raises:
        InvalidInput: a field is missing or wrong; ``field`` names it (``directive.title``).
    """
    if not isinstance(data, dict):
        raise InvalidInput(_("must be a JSON object"), where)
    did = data.get("id")
    if isinstance(did, int) and not isinstance(did, bool):
        did = str(did)
    if not isinstance(did, str) or not ID_PATTERN.fullmatch(did):
        raise InvalidInput(_("must be 1-64 letters, digits, '.', ':', '_' or '-'"), f"{where}.id")
    sender = data.get("sender", data.get("from"))
    if not isinstance(sender, str):
        raise InvalidInput(_("must be a string"), f"{where}.sender")
    sender = clean_text(sender, f"{where}.sender", kind="code", required=True)
    action_value = data.get("action") or DirectiveAction.NONE.value
    try:
        action = DirectiveAction(str(action_value))
    except ValueError:
        raise InvalidInput(
            _("must be one of {names}").format(names=", ".join(a.value for a in DirectiveAction)),
            f"{where}.action",
        ) from None
    exercise = data.get("exercise", False)
    if not isinstance(exercise, bool):
        raise InvalidInput(_("must be true or false"), f"{where}.exercise")
    alert = data.get("alert")
    if alert is not None and (
        not isinstance(alert, str) or not 0 < len(alert) <= 128 or UNSAFE_IN_ONE_LINE.search(alert)
    ):
        raise InvalidInput(_("must be an alert identifier"), f"{where}.alert")
    return {
        "id": did,
        "sender": sender,
        "sender_name": _text(data, "sender_name", where, kind="name"),
        "title": _text(data, "title", where, kind="title", required=True),
        "text": _text(data, "text", where, kind="note", multiline=True),
        "attachments": _attachments(data.get("attachments"), where),
        "sent_at": _time(data, "sent_at", where, required=False),
        "reply_by": _time(data, "reply_by", where, required=False),
        "action": action,
        "alert": alert,
        "exercise": exercise,
        "category": _text(data, "category", where, kind="short") or None,
        "type": _text(data, "type", where, kind="short") or None,
    }


# --- the unit's side: receive, reply, supervise ------------------------------------------------


def get_directive(db: Database, directive_id: str) -> Directive:
    """One directive by the hub's id.

    Raises:
        NotFound: naming the id.
    """
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM directives WHERE id = ?", (directive_id,)
    ).fetchone()
    if row is None:
        raise NotFound(_("no directive {id}").format(id=directive_id))
    return _row(db, row)


def list_directives(
    db: Database,
    *,
    now: datetime | None = None,
    open_only: bool = False,
    overdue_only: bool = False,
    limit: int = 200,
) -> list[Directive]:
    """Directives newest first. ``open_only``: not yet replied; ``overdue_only``: unanswered
    past the deadline at ``now`` (or already swept overdue)."""
    if not 0 < limit <= MAX_LIMIT:
        raise InvalidInput(_("must be from 1 to {max}").format(max=MAX_LIMIT), "limit")
    where: list[str] = []
    args: list[Any] = []
    if open_only or overdue_only:
        where.append("replied_at IS NULL")
    if overdue_only:
        where.append("(overdue_at IS NOT NULL OR (reply_by IS NOT NULL AND reply_by <= ?))")
        args.append(to_iso(now) if now is not None else "9999")
    sql = f"SELECT {_COLUMNS} FROM directives"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY received_at DESC, rowid DESC LIMIT ?"
    return _rows(db, db.conn.execute(sql, (*args, limit)))


def _open_case(
    db: Database, clock: Clock, policy: Policy, values: Mapping[str, Any]
) -> tuple[int, int | None]:
    """The case (and task) a directive asks for; returns ``(incident id, task id)``."""
    category, type_ = DEFAULT_CATEGORY
    if values["category"]:
        category, type_ = values["category"], values["type"]
    new = NewIncident(
        title=values["title"],
        category=category,
        type=type_,
        description=values["text"],
        source="directive",
    )
    try:
        incident = create_incident(db, clock, policy, SYSTEM, new)
    except InvalidInput as exc:
        if exc.field not in ("category", "type"):
            raise
        # A classification this unit does not know must not lose the directive.
        new = NewIncident(
            title=new.title,
            category=DEFAULT_CATEGORY[0],
            type=DEFAULT_CATEGORY[1],
            description=new.description,
            source=new.source,
        )
        incident = create_incident(db, clock, policy, SYSTEM, new)
    task_id = None
    if values["action"] is DirectiveAction.TASK:
        task = add_task(db, clock, SYSTEM, incident.id, values["title"], due=values["reply_by"])
        task_id = task.id
    return incident.id, task_id


def receive(
    db: Database,
    clock: Clock,
    data: Any,
    *,
    via: str,
    policy: Policy | None = None,
) -> Received:
    """Store a directive that came down (idempotent on its id) and open what it asks for.

    One transaction (nested in the caller's, if any): the row, the case/task through the
    incidents API (their own timeline entries), and the ``directive_received`` entry that goes
    up as the receipt. The same id again changes nothing and returns ``new=False``.

    Args:
        data: the directive's JSON (see :func:`parse`).
        via: ``push``, ``poll`` or ``import``.
        policy: the case workflow's policy (time limits), for a case opened here.

    Raises:
        InvalidInput: the directive is malformed (the field named); nothing is stored.
    """
    if via not in VIAS:
        raise InvalidInput(_("must be one of {names}").format(names=", ".join(VIAS)), "via")
    values = parse(data)
    now = clock.now()
    at = to_iso(now)
    with write(db):
        if db.conn.execute("SELECT 1 FROM directives WHERE id = ?", (values["id"],)).fetchone():
            return Received(get_directive(db, values["id"]), False)
        incident_id: int | None = None
        task_id: int | None = None
        if values["action"] is not DirectiveAction.NONE:
            incident_id, task_id = _open_case(db, clock, policy or Policy(), values)
        db.conn.execute(
            "INSERT INTO directives (id, sender, sender_name, title, text, attachments, sent_at,"
            " reply_by, action, alert, exercise, via, received_at, incident_id, task_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                values["id"],
                values["sender"],
                values["sender_name"],
                values["title"],
                values["text"],
                json.dumps(values["attachments"], ensure_ascii=False, separators=(",", ":")),
                to_iso(values["sent_at"] or now),
                to_iso(values["reply_by"]) if values["reply_by"] else None,
                values["action"].value,
                values["alert"],
                int(values["exercise"]),
                via,
                at,
                incident_id,
                task_id,
            ),
        )
        directive = get_directive(db, values["id"])
        append_event(
            db,
            at=at,
            operator=SYSTEM,
            kind="directive_received",
            data={
                "id": directive.id,
                "title": directive.title,
                "sender": directive.sender,
                "sender_name": directive.sender_name,
                "reply_by": to_iso(directive.reply_by) if directive.reply_by else None,
                "action": directive.action.value,
                "case": directive.case_number,
                "task": directive.task_id,
                "via": via,
                "exercise": directive.exercise,
            },
        )
    return Received(directive, True)


def reply(db: Database, clock: Clock, operator: str, directive_id: str, text: str) -> Directive:
    """Record the unit's reply (反馈) to a directive; it goes up (``directive_replied``).

    A directive is answered once; a reply after the deadline is taken and marked late.

    Raises:
        NotFound: no such directive.
        InvalidInput: the reply is empty or too long (field ``text``).
        InvalidTransition: it was already replied to.
    """
    who = clean_text(operator, "--as", kind="operator", required=True)
    body = clean_text(text, "text", kind="note", multiline=True, required=True)
    now = clock.now()
    at = to_iso(now)
    with write(db):
        directive = get_directive(db, directive_id)
        if directive.replied_at is not None:
            raise InvalidTransition(
                _("directive {id} was already replied to at {at}").format(
                    id=directive.id, at=to_iso(directive.replied_at)
                )
            )
        db.conn.execute(
            "UPDATE directives SET reply = ?, replied_by = ?, replied_at = ? WHERE id = ?",
            (body, who, at, directive.id),
        )
        late = directive.reply_by is not None and now > directive.reply_by
        append_event(
            db,
            at=at,
            operator=who,
            kind="directive_replied",
            data={
                "id": directive.id,
                "title": directive.title,
                "reply": body,
                "reply_by": to_iso(directive.reply_by) if directive.reply_by else None,
                "late": late,
            },
        )
        return get_directive(db, directive.id)


def sweep_overdue(db: Database, clock: Clock, *, batch: int = SWEEP_BATCH) -> list[Directive]:
    """Mark each directive whose reply deadline passed unanswered, once: one
    ``directive_overdue`` timeline entry each (the console's toast and bell). Returns them."""
    now = clock.now()
    at = to_iso(now)
    with write(db):
        rows = db.conn.execute(
            f"SELECT {_COLUMNS} FROM directives INDEXED BY directives_due WHERE replied_at IS NULL"
            " AND overdue_at IS NULL AND reply_by IS NOT NULL AND reply_by <= ?"
            " ORDER BY reply_by LIMIT ?",
            (at, batch),
        ).fetchall()
        swept = _rows(db, rows)
        for directive in swept:
            db.conn.execute("UPDATE directives SET overdue_at = ? WHERE id = ?", (at, directive.id))
            append_event(
                db,
                at=at,
                operator=SYSTEM,
                kind="directive_overdue",
                data={
                    "id": directive.id,
                    "title": directive.title,
                    "sender": directive.sender,
                    "sender_name": directive.sender_name,
                    "reply_by": to_iso(directive.reply_by) if directive.reply_by else None,
                },
            )
    return [get_directive(db, d.id) for d in swept]
