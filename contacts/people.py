"""Provides the people of the jurisdiction: validation, adding, editing, deactivating, channels.

A person belongs to a unit, holds roles (网格长, 网格员, ...), has skills, and is reached through
channels in order of preference (sms, webhook, e-mail), each verified or not. Phone numbers are
stored in E.164 (``contacts.phones``) and are unique among people.

Personal data and the audit log: every change appends an audit event in the same transaction
(``person_added``, ``person_edited``, ``person_deactivated``, ``channels_set``), but the
append-only, hash-chained log is the one place data can never be erased from, so it does not
copy personal data. Phone numbers (and a key that is a phone number) are recorded masked
(``138****8000``), e-mail addresses masked (``z***@example.com``) and webhook addresses reduced
to scheme and host (robot webhooks carry their access token in the path or query). An edit
records each changed field as ``{"old": ..., "new": ...}`` in that masked form, which is enough
to see *that* and *when* a number changed and who changed it.

Deactivating a person keeps the row, their roles, channels, team memberships and audit history;
they only drop out of the default listings and can no longer be added to teams.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from contacts.models import ChannelKind, Role
from contacts.phones import DEFAULT_REGION, mask_phone, normalize_phone, shown_key
from store.audit import append_event
from store.audit import record_personal_data_shown as audit_data_shown
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import _
from store.text import clean_text

MAX_NAME = 100
MAX_SKILL = 50
MAX_KEY = 100
DEFAULT_LIMIT = 1000
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
EDITABLE = ("name", "unit", "phone", "email", "webhook", "roles", "skills")


@dataclass(frozen=True)
class Channel:
    """One way to reach a person; ``rank`` 1 is tried first."""

    kind: ChannelKind
    address: str
    verified: bool = False
    rank: int = 1


@dataclass(frozen=True)
class Person:
    """A person of the jurisdiction as stored; ``phone`` is E.164 or ``None``."""

    id: int
    key: str
    name: str
    unit_code: str | None
    phone: str | None
    email: str | None
    webhook: str | None
    skills: tuple[str, ...]
    roles: tuple[Role, ...]
    active: bool
    channels: tuple[Channel, ...] = ()

    def shown_key(self, *, unmasked: bool = False, region: str = DEFAULT_REGION) -> str:
        """The key as listings show it (:func:`contacts.phones.shown_key`), or as it is."""
        return self.key if unmasked else shown_key(self.key, region)


@dataclass(frozen=True)
class NewPerson:
    """What a person (or an imported row) gives to add someone; see :func:`validate_person`.

    ``roles`` take codes (``grid-leader``) or Chinese labels (网格长); empty strings for
    ``phone``/``email``/``webhook`` mean "none".
    """

    name: str
    unit: str | None = None
    phone: str | None = None
    email: str | None = None
    webhook: str | None = None
    roles: Sequence[str | Role] = ()
    skills: Sequence[str] = ()


# --- masking for the audit log and listings ---------------------------------------------------


def mask_email(email: str | None) -> str | None:
    """``zhang.san@example.com`` → ``z***@example.com``."""
    if not email:
        return None
    local_part, _at, domain = email.partition("@")
    return f"{local_part[:1]}***@{domain}"


def mask_webhook(url: str | None) -> str | None:
    """A webhook reduced to ``scheme://host/…`` (tokens live in the path and query)."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def mask_address(kind: ChannelKind, address: str, region: str = DEFAULT_REGION) -> str:
    """A channel address in the masked form used by the audit log and masked listings."""
    if kind is ChannelKind.SMS:
        return mask_phone(address, region)
    if kind is ChannelKind.EMAIL:
        return mask_email(address) or ""
    return mask_webhook(address) or ""


# --- validation -------------------------------------------------------------------------------


def clean_name(text: str | None) -> str:
    name = " ".join(clean_text(text or "", "name", kind="name").split())
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(
            _("a name of 1-{max} characters is required").format(max=MAX_NAME), "name"
        )
    return name


def clean_email(text: str | None, field: str = "email") -> str | None:
    value = clean_text(text or "", field, kind="email")
    if not value:
        return None
    if not EMAIL_RE.match(value):
        raise InvalidInput(
            _("{value!r} is not an e-mail address (name@example.com)").format(value=value), field
        )
    return value


def clean_webhook(text: str | None, field: str = "webhook") -> str | None:
    value = clean_text(text or "", field, kind="address")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise InvalidInput(_("{value!r} is not an http(s) URL").format(value=value), field)
    return value


def clean_roles(values: Iterable[str | Role]) -> list[Role]:
    roles: list[Role] = []
    for value in values:
        try:
            role = value if isinstance(value, Role) else Role.parse(str(value))
        except ValueError as exc:
            raise InvalidInput(str(exc), "roles") from exc
        if role not in roles:
            roles.append(role)
    return sorted(roles, key=list(Role).index)


def clean_skills(values: Iterable[str]) -> list[str]:
    skills: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(
                _("a skill must be non-empty text (got {value!r})").format(value=value), "skills"
            )
        skill = " ".join(clean_text(value, "skills").split())
        if len(skill) > MAX_SKILL:
            raise InvalidInput(
                _("a skill is at most {max} characters: {skill!r}").format(
                    max=MAX_SKILL, skill=skill
                ),
                "skills",
            )
        if skill not in skills:
            skills.append(skill)
    return skills


def current_unit_id(db: Database, code: str | None) -> tuple[int | None, str | None]:
    """The id and code of the current unit ``code`` (``(None, None)`` for no unit)."""
    value = (code or "").strip()
    if not value:
        return None, None
    row = db.conn.execute("SELECT id, valid_to FROM units WHERE code = ?", (value,)).fetchone()
    if row is None:
        raise InvalidInput(_("no unit {code}").format(code=value), "unit")
    if row[1] is not None:
        raise InvalidInput(
            _("unit {code} was retired on {date}").format(code=value, date=row[1]), "unit"
        )
    return int(row[0]), value


def clean_phone(
    db: Database, text: str | None, region: str, *, exclude_id: int | None = None
) -> str | None:
    """The E.164 phone, refusing a number another person already has."""
    if not (text or "").strip():
        return None
    phone = normalize_phone(text or "", region, field="phone")
    row = db.conn.execute(
        "SELECT p.id, p.name, u.code FROM people p LEFT JOIN units u ON u.id = p.unit_id"
        " WHERE p.phone = ? AND p.id IS NOT ?",
        (phone, exclude_id),
    ).fetchone()
    if row is not None:
        if row[2]:
            text = _("{phone} is already the number of {name} of {unit} (#{id})")
        else:
            text = _("{phone} is already the number of {name} (#{id})")
        raise InvalidInput(
            text.format(phone=mask_phone(phone, region), name=row[1], unit=row[2], id=row[0]),
            "phone",
        )
    return phone


def validate_person(
    db: Database, new: NewPerson, region: str = DEFAULT_REGION, *, exclude_id: int | None = None
) -> dict[str, Any]:
    """Check and normalise what is given for a person; reads the database, writes nothing.

    Args:
        db: the database (for the unit and the duplicate-phone check).
        new: the values given.
        region: the region of numbers written without a country code.
        exclude_id: the person being edited (their own number is not a duplicate).

    Returns:
        ``name``, ``unit_id``, ``unit_code``, ``phone`` (E.164 or None), ``email``,
        ``webhook``, ``roles`` (list of :class:`Role`), ``skills`` (list of str).

    Raises:
        InvalidInput: naming the field (``name``, ``unit``, ``phone``, ``email``, ``webhook``,
            ``roles``, ``skills``); a phone number another person has names that person.
    """
    name = clean_name(new.name)
    unit_id, unit_code = current_unit_id(db, new.unit)
    phone = clean_phone(db, new.phone, region, exclude_id=exclude_id)
    return {
        "name": name,
        "unit_id": unit_id,
        "unit_code": unit_code,
        "phone": phone,
        "email": clean_email(new.email),
        "webhook": clean_webhook(new.webhook),
        "roles": clean_roles(new.roles),
        "skills": clean_skills(new.skills),
    }


def default_channels(
    phone: str | None, webhook: str | None, email: str | None
) -> list[tuple[ChannelKind, str, bool]]:
    """sms → phone, webhook → webhook, e-mail → e-mail, all unverified, for what is known."""
    derived: list[tuple[ChannelKind, str, bool]] = []
    for kind, address in (
        (ChannelKind.SMS, phone),
        (ChannelKind.WEBHOOK, webhook),
        (ChannelKind.EMAIL, email),
    ):
        if address:
            derived.append((kind, address, False))
    return derived


def validate_channels(
    channels: Iterable[tuple[str | ChannelKind, str, bool]], region: str = DEFAULT_REGION
) -> list[tuple[ChannelKind, str, bool]]:
    """Parse and normalise channel triples ``(kind, address, verified)``; order is kept.

    Raises:
        InvalidInput: an unknown kind, a bad address, or a channel given twice (field
            ``channels``).
    """
    out: list[tuple[ChannelKind, str, bool]] = []
    for raw_kind, address, verified in channels:
        try:
            kind = ChannelKind(str(raw_kind).strip().lower())
        except ValueError as exc:
            kinds = ", ".join(k.value for k in ChannelKind)
            raise InvalidInput(
                _("unknown channel kind {kind!r}; use {kinds}").format(kind=raw_kind, kinds=kinds),
                "channels",
            ) from exc
        if kind is ChannelKind.SMS:
            value: str | None = normalize_phone(address, region, field="channels")
        elif kind is ChannelKind.EMAIL:
            value = clean_email(address, "channels")
        else:
            value = clean_webhook(address, "channels")
        if value is None:
            raise InvalidInput(
                _("a {kind} channel needs an address").format(kind=kind.value), "channels"
            )
        if any(k is kind and a == value for k, a, _verified in out):
            shown = mask_address(kind, value, region)
            raise InvalidInput(
                _("{kind} {address} is listed twice").format(kind=kind.value, address=shown),
                "channels",
            )
        out.append((kind, value, bool(verified)))
    return out


# --- reading ----------------------------------------------------------------------------------

PERSON_COLUMNS = "p.id, p.key, p.name, u.code, p.phone, p.email, p.webhook, p.skills, p.active"
PERSON_FROM = "people p LEFT JOIN units u ON u.id = p.unit_id"


def _load(db: Database, rows: Sequence[Sequence[Any]]) -> list[Person]:
    """Build people from rows, reading their roles and channels in two queries."""
    if not rows:
        return []
    ids = json.dumps([int(r[0]) for r in rows])
    roles: dict[int, list[Role]] = {}
    for person_id, role in db.conn.execute(
        "SELECT person_id, role FROM person_roles WHERE person_id IN (SELECT value FROM"
        " json_each(?))",
        (ids,),
    ):
        roles.setdefault(int(person_id), []).append(Role(role))
    channels: dict[int, list[Channel]] = {}
    for person_id, kind, address, rank, verified in db.conn.execute(
        "SELECT person_id, kind, address, rank, verified FROM channels"
        " WHERE person_id IN (SELECT value FROM json_each(?)) ORDER BY person_id, rank",
        (ids,),
    ):
        channels.setdefault(int(person_id), []).append(
            Channel(ChannelKind(kind), address, bool(verified), int(rank))
        )
    order = list(Role)
    return [
        Person(
            id=int(r[0]),
            key=r[1],
            name=r[2],
            unit_code=r[3],
            phone=r[4],
            email=r[5],
            webhook=r[6],
            skills=tuple(json.loads(r[7])),
            roles=tuple(sorted(roles.get(int(r[0]), []), key=order.index)),
            active=bool(r[8]),
            channels=tuple(channels.get(int(r[0]), [])),
        )
        for r in rows
    ]


def _by(db: Database, where: str, params: Sequence[Any]) -> list[Person]:
    rows = db.conn.execute(
        f"SELECT {PERSON_COLUMNS} FROM {PERSON_FROM} WHERE {where} ORDER BY p.id", params
    ).fetchall()
    return _load(db, rows)


def get_person(
    db: Database, ref: int | str, *, region: str = DEFAULT_REGION, field: str = "person"
) -> Person:
    """Find one person by id, key, phone number (any written form) or a unique name.

    The one way to name a person: commands, the roster, teams and contact trees all ask here.

    Args:
        field: the input the reference came from, named by an :class:`InvalidInput`.

    Raises:
        NotFound: nobody matches.
        InvalidInput: no reference, or the name is shared by several people (the message lists
            them so the operator can pick an id or key).
    """
    if isinstance(ref, int):
        found = _by(db, "p.id = ?", (ref,))
        if found:
            return found[0]
        raise NotFound(_("no person #{id}").format(id=ref))
    text = ref.strip()
    if not text:
        raise InvalidInput(_("name, key, phone or id of a person is required"), field)
    found = _by(db, "p.key = ?", (text,))
    if not found and text.lstrip("#").isdigit() and len(text.lstrip("#")) < 10:
        found = _by(db, "p.id = ?", (int(text.lstrip("#")),))
    if not found and any(c.isdigit() for c in text):
        try:
            phone = normalize_phone(text, region)
        except InvalidInput:
            phone = None
        if phone:
            found = _by(db, "p.phone = ?", (phone,))
    if not found:
        found = _by(db, "p.name = ?", (" ".join(text.split()),))
        if len(found) > 1:
            candidates = "; ".join(_candidate(p, region) for p in found)
            raise InvalidInput(
                _("{count} people are called {name}: {candidates}; give an id or key").format(
                    count=len(found), name=text, candidates=candidates
                ),
                field,
            )
    if not found:
        raise NotFound(
            _("no person {ref} (nobody has that key, id, phone or name)").format(ref=text)
        )
    return found[0]


def _candidate(person: Person, region: str) -> str:
    phone = mask_phone(person.phone, region) or _("no phone")
    if person.active:
        text = _("#{id} {name} ({unit}, {phone})")
    else:
        text = _("#{id} {name} ({unit}, {phone}, inactive)")
    return text.format(
        id=person.id, name=person.name, unit=person.unit_code or _("no unit"), phone=phone
    )


def list_people(
    db: Database,
    *,
    unit: str | None = None,
    include_sub_units: bool = True,
    role: str | Role | None = None,
    active: bool | None = True,
    text: str | None = None,
    limit: int = DEFAULT_LIMIT,
    after_id: int | None = None,
) -> list[Person]:
    """People in id order, filtered.

    Args:
        unit: only people of this unit (and, with ``include_sub_units``, of units below it).
        role: only people holding this role (code or Chinese label).
        active: ``True`` active only (default), ``False`` inactive only, ``None`` everyone.
        text: a substring of the name, or digits found in the phone number.
        limit, after_id: a page of at most ``limit`` people with ids above ``after_id``.

    Raises:
        NotFound: ``unit`` names no unit. InvalidInput: an unknown role, a limit below 1.
    """
    if limit < 1:
        raise InvalidInput(_("must be at least 1"), "limit")
    where: list[str] = []
    params: list[Any] = []
    if unit is not None:
        row = db.conn.execute("SELECT id FROM units WHERE code = ?", (unit.strip(),)).fetchone()
        if row is None:
            raise NotFound(_("no unit {code}").format(code=unit.strip()))
        if include_sub_units:
            where.append(
                "p.unit_id IN (WITH RECURSIVE sub(id) AS (SELECT ?"
                " UNION SELECT u2.id FROM units u2 JOIN sub ON u2.parent_id = sub.id)"
                " SELECT id FROM sub)"
            )
        else:
            where.append("p.unit_id = ?")
        params.append(int(row[0]))
    if role is not None:
        parsed = clean_roles([role])[0]
        where.append(
            "EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = ?)"
        )
        params.append(parsed.value)
    if active is not None:
        where.append("p.active = ?")
        params.append(1 if active else 0)
    if text and text.strip():
        needle = text.strip()
        digits = "".join(c for c in needle if c.isdigit())
        clause = "instr(p.name, ?) > 0"
        params.append(needle)
        if digits and len(digits) == len(needle.replace(" ", "").replace("-", "").lstrip("+")):
            clause += " OR instr(coalesce(p.phone, ''), ?) > 0"
            params.append(digits)
        where.append(f"({clause})")
    if after_id is not None:
        where.append("p.id > ?")
        params.append(after_id)
    sql = f"SELECT {PERSON_COLUMNS} FROM {PERSON_FROM}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.conn.execute(sql + " ORDER BY p.id LIMIT ?", [*params, limit]).fetchall()
    return _load(db, rows)


# --- writing ----------------------------------------------------------------------------------


def _write_channels(
    db: Database, person_id: int, channels: Sequence[tuple[ChannelKind, str, bool]]
) -> None:
    db.conn.execute("DELETE FROM channels WHERE person_id = ?", (person_id,))
    db.conn.executemany(
        "INSERT INTO channels (person_id, kind, address, rank, verified) VALUES (?,?,?,?,?)",
        [(person_id, k.value, a, rank, int(v)) for rank, (k, a, v) in enumerate(channels, 1)],
    )


def _channels_audit(
    channels: Sequence[tuple[ChannelKind, str, bool]], region: str
) -> list[dict[str, Any]]:
    return [
        {"kind": k.value, "address": mask_address(k, a, region), "verified": v}
        for k, a, v in channels
    ]


def add_person(
    db: Database,
    clock: Clock,
    operator: str,
    new: NewPerson,
    *,
    region: str = DEFAULT_REGION,
    key: str | None = None,
) -> Person:
    """Add a person with their roles and the default channels, and audit it (``person_added``).

    Args:
        key: the stable key imports upsert by; defaults to the E.164 phone, else
            ``name@unit`` (``name`` when there is no unit).

    Raises:
        InvalidInput: see :func:`validate_person`; also a key already used (field ``key``).
    """
    values = validate_person(db, new, region)
    chosen = clean_text(key or "", "key", kind="name")
    if len(chosen) > MAX_KEY:
        raise InvalidInput(_("a key is at most {max} characters").format(max=MAX_KEY), "key")
    if not chosen:
        chosen = values["phone"] or (
            f"{values['name']}@{values['unit_code']}" if values["unit_code"] else values["name"]
        )
    at = to_iso(clock.now())
    channels = default_channels(values["phone"], values["webhook"], values["email"])
    with write(db):
        other = db.conn.execute("SELECT id, name FROM people WHERE key = ?", (chosen,)).fetchone()
        if other is not None:
            shown = shown_key(chosen, region)
            raise InvalidInput(
                _("key {key} is already used by {name} (#{id}); give another --key").format(
                    key=shown, name=other[1], id=other[0]
                ),
                "key",
            )
        cursor = db.conn.execute(
            "INSERT INTO people (key, name, unit_id, phone, email, webhook, skills, active,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,1,?,?)",
            (
                chosen,
                values["name"],
                values["unit_id"],
                values["phone"],
                values["email"],
                values["webhook"],
                json.dumps(values["skills"], ensure_ascii=False),
                at,
                at,
            ),
        )
        person_id = int(cursor.lastrowid or 0)
        db.conn.executemany(
            "INSERT INTO person_roles (person_id, role) VALUES (?, ?)",
            [(person_id, r.value) for r in values["roles"]],
        )
        _write_channels(db, person_id, channels)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="person_added",
            data={
                "person_id": person_id,
                "key": shown_key(chosen, region),
                "name": values["name"],
                "unit": values["unit_code"],
                "phone": mask_phone(values["phone"], region) or None,
                "email": mask_email(values["email"]),
                "webhook": mask_webhook(values["webhook"]),
                "roles": [r.value for r in values["roles"]],
                "skills": values["skills"],
                "channels": _channels_audit(channels, region),
            },
        )
    return get_person(db, person_id)


def _shown(field: str, value: Any, region: str) -> Any:
    """A field's value as the audit log records it."""
    if field == "phone":
        return mask_phone(value, region) or None
    if field == "email":
        return mask_email(value)
    if field == "webhook":
        return mask_webhook(value)
    if field == "roles":
        return [r.value for r in value]
    if field == "skills":
        return list(value)
    return value


def edit_person(
    db: Database,
    clock: Clock,
    operator: str,
    ref: int | str,
    *,
    region: str = DEFAULT_REGION,
    **changes: Any,
) -> Person:
    """Change some of a person's fields, audited as ``person_edited`` with old → new.

    Args:
        changes: any of ``name``, ``unit`` (code, or ``None``/"" for none), ``phone``,
            ``email``, ``webhook`` ("" or ``None`` clears them), ``roles``, ``skills``
            (replacing the lists). A changed phone is validated again (format and duplicate);
            an sms channel on the old number moves to the new one, unverified. The key stays:
            it is the identity imports match on.

    Raises:
        InvalidInput: an unknown field, nothing to change, or a bad value (naming the field).
        NotFound: no such person.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(
            _("cannot edit {fields}; editable: {editable}").format(
                fields=", ".join(unknown), editable=", ".join(EDITABLE)
            ),
            unknown[0],
        )
    person = get_person(db, ref, region=region)
    old: dict[str, Any] = {
        "name": person.name,
        "unit": person.unit_code,
        "phone": person.phone,
        "email": person.email,
        "webhook": person.webhook,
        "roles": list(person.roles),
        "skills": list(person.skills),
    }
    new: dict[str, Any] = {}
    unit_id: int | None = None
    for field, value in changes.items():
        if field == "name":
            new[field] = clean_name(value)
        elif field == "unit":
            unit_id, new[field] = current_unit_id(db, value)
        elif field == "phone":
            new[field] = clean_phone(db, value, region, exclude_id=person.id)
        elif field == "email":
            new[field] = clean_email(value)
        elif field == "webhook":
            new[field] = clean_webhook(value)
        elif field == "roles":
            new[field] = clean_roles(_as_list(value, field))
        else:
            new[field] = clean_skills(_as_list(value, field))
    changed = {f: v for f, v in new.items() if v != old[f]}
    if not changed:
        raise InvalidInput(
            _("nothing to change for {name} (#{id})").format(name=person.name, id=person.id),
            "changes",
        )
    at = to_iso(clock.now())
    columns: dict[str, Any] = {}
    for field, value in changed.items():
        if field == "unit":
            columns["unit_id"] = unit_id
        elif field == "skills":
            columns["skills"] = json.dumps(value, ensure_ascii=False)
        elif field != "roles":
            columns[field] = value
    with write(db):
        assignments = ", ".join(f"{c} = ?" for c in columns)
        db.conn.execute(
            f"UPDATE people SET {assignments + ', ' if assignments else ''}updated_at = ?"
            " WHERE id = ?",
            (*columns.values(), at, person.id),
        )
        if "roles" in changed:
            db.conn.execute("DELETE FROM person_roles WHERE person_id = ?", (person.id,))
            db.conn.executemany(
                "INSERT INTO person_roles (person_id, role) VALUES (?, ?)",
                [(person.id, r.value) for r in changed["roles"]],
            )
        moved = 0
        if "phone" in changed and person.phone:
            if changed["phone"]:
                moved = db.conn.execute(
                    "UPDATE OR IGNORE channels SET address = ?, verified = 0"
                    " WHERE person_id = ? AND kind = 'sms' AND address = ?",
                    (changed["phone"], person.id, person.phone),
                ).rowcount
            else:
                db.conn.execute(
                    "DELETE FROM channels WHERE person_id = ? AND kind = 'sms' AND address = ?",
                    (person.id, person.phone),
                )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="person_edited",
            data={
                "person_id": person.id,
                "key": shown_key(person.key, region),
                "changes": {
                    f: {"old": _shown(f, old[f], region), "new": _shown(f, v, region)}
                    for f, v in changed.items()
                },
                "sms_channels_moved": moved,
            },
        )
    return get_person(db, person.id)


def _as_list(value: Any, field: str) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(_("must be a list"), field)
    return list(value)


def deactivate_person(
    db: Database,
    clock: Clock,
    operator: str,
    ref: int | str,
    reason: str,
    *,
    region: str = DEFAULT_REGION,
) -> Person:
    """Mark a person inactive (``person_deactivated``); everything about them is kept.

    Raises:
        InvalidInput: no reason given. InvalidTransition: already inactive. NotFound.
    """
    why = clean_text(reason or "", "reason", kind="note", multiline=True)
    if not why:
        raise InvalidInput(_("a reason is required"), "reason")
    person = get_person(db, ref, region=region)
    if not person.active:
        raise InvalidTransition(
            _("{name} (#{id}) is already inactive").format(name=person.name, id=person.id)
        )
    at = to_iso(clock.now())
    with write(db):
        db.conn.execute(
            "UPDATE people SET active = 0, updated_at = ? WHERE id = ?", (at, person.id)
        )
        teams = [
            r[0]
            for r in db.conn.execute(
                "SELECT t.code FROM team_members m JOIN teams t ON t.id = m.team_id"
                " WHERE m.person_id = ? ORDER BY t.code",
                (person.id,),
            )
        ]
        append_event(
            db,
            at=at,
            operator=operator,
            kind="person_deactivated",
            data={
                "person_id": person.id,
                "key": shown_key(person.key, region),
                "name": person.name,
                "reason": why,
                "teams": teams,
            },
        )
    return get_person(db, person.id)


def set_channels(
    db: Database,
    clock: Clock,
    operator: str,
    ref: int | str,
    channels: Sequence[tuple[str | ChannelKind, str, bool]] | None = None,
    *,
    region: str = DEFAULT_REGION,
) -> Person:
    """Replace a person's channels; the order given is the order of preference.

    With no channels, the default ones are derived from the person's phone (sms), webhook and
    e-mail, unverified. Audited as ``channels_set`` (addresses masked).

    Raises:
        InvalidInput: see :func:`validate_channels`; a person with nothing to derive from.
    """
    person = get_person(db, ref, region=region)
    if channels:
        cleaned = validate_channels(channels, region)
    else:
        cleaned = default_channels(person.phone, person.webhook, person.email)
        if not cleaned:
            raise InvalidInput(
                _("{name} has no phone, webhook or e-mail to derive channels from").format(
                    name=person.name
                ),
                "channels",
            )
    at = to_iso(clock.now())
    with write(db):
        _write_channels(db, person.id, cleaned)
        db.conn.execute("UPDATE people SET updated_at = ? WHERE id = ?", (at, person.id))
        append_event(
            db,
            at=at,
            operator=operator,
            kind="channels_set",
            data={
                "person_id": person.id,
                "key": shown_key(person.key, region),
                "derived": not channels,
                "channels": _channels_audit(cleaned, region),
            },
        )
    return get_person(db, person.id)


def record_personal_data_shown(
    db: Database, clock: Clock, operator: str, command: str, count: int
) -> int:
    """Audit that unmasked personal data was shown or exported (``personal_data_shown``)."""
    return audit_data_shown(
        db,
        at=to_iso(clock.now()),
        operator=operator,
        command=command,
        what="phones",
        count=count,
    )


def person_to_json(
    person: Person, *, unmasked: bool = False, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """The stable JSON form; phone numbers (and sms channels) masked unless ``unmasked``."""

    def phone(value: str | None) -> str | None:
        return value if unmasked else (mask_phone(value, region) or None)

    return {
        "id": person.id,
        "key": person.shown_key(unmasked=unmasked, region=region),
        "name": person.name,
        "unit": person.unit_code,
        "phone": phone(person.phone),
        "email": person.email,
        "webhook": person.webhook,
        "roles": [r.value for r in person.roles],
        "skills": list(person.skills),
        "active": person.active,
        "channels": [
            {
                "kind": c.kind.value,
                "address": phone(c.address) if c.kind is ChannelKind.SMS else c.address,
                "verified": c.verified,
                "rank": c.rank,
            }
            for c in person.channels
        ],
    }
