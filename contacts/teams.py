"""Provides emergency teams (应急队伍): rescue, medical, firefighting volunteers, ...

A team has a code, a kind, an optional unit it belongs to, members and a leader; a person may be
in several teams. The leader is always a member: naming a leader who is not one adds them. Every
change appends an audit event in the same transaction (``team_added``, ``team_member_added``,
``team_member_removed``, ``team_leader_set``); like ``contacts.people`` the events name people
by id and name, never by phone number.

Deactivating a person keeps their membership rows (the history of who was in which team); they
cannot be added to a team or made its leader while inactive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contacts.models import parse_labelled
from contacts.people import Person, current_unit_id, get_person, person_to_json
from contacts.phones import DEFAULT_REGION
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import InvalidInput, NotFound
from store.i18n import N_, _
from store.text import clean_text

TEAM_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
MAX_NAME = 100


class TeamKind(StrEnum):
    """What an emergency team does."""

    RESCUE = "rescue"
    MEDICAL = "medical"
    FIREFIGHTING = "firefighting"
    FLOOD_CONTROL = "flood_control"
    PUBLIC_SECURITY = "public_security"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        """The official Chinese name (also accepted as input, whatever the language)."""
        return TEAM_KIND_LABELS[self]

    @property
    def label(self) -> str:
        """The kind's name in the current language."""
        return _(TEAM_KIND_NAMES[self])

    @classmethod
    def parse(cls, text: str) -> TeamKind:
        """Accept the code (``flood-control`` or ``flood_control``) or the Chinese label."""
        return parse_labelled(cls, text, N_("team kind"))


# The Chinese labels are data: accepted as input whatever the language, and the JSON form's
# ``kind_label``; TEAM_KIND_NAMES is what is shown.
TEAM_KIND_LABELS = {
    TeamKind.RESCUE: "救援队",
    TeamKind.MEDICAL: "医疗队",
    TeamKind.FIREFIGHTING: "消防志愿队",
    TeamKind.FLOOD_CONTROL: "防汛抢险队",
    TeamKind.PUBLIC_SECURITY: "治安巡逻队",
    TeamKind.OTHER: "其他",
}
TEAM_KIND_NAMES = {
    TeamKind.RESCUE: N_("rescue team"),
    TeamKind.MEDICAL: N_("medical team"),
    TeamKind.FIREFIGHTING: N_("volunteer fire team"),
    TeamKind.FLOOD_CONTROL: N_("flood control team"),
    TeamKind.PUBLIC_SECURITY: N_("security patrol team"),
    TeamKind.OTHER: N_("other"),
}


@dataclass(frozen=True)
class Team:
    """An emergency team with its leader and members (members in name order)."""

    id: int
    code: str
    name: str
    kind: TeamKind
    unit_code: str | None
    leader: Person | None
    members: tuple[Person, ...]
    active: bool


def _kind(text: str | TeamKind) -> TeamKind:
    if isinstance(text, TeamKind):
        return text
    try:
        return TeamKind.parse(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), "kind") from exc


def _team_row(db: Database, code: str) -> tuple[Any, ...]:
    row = db.conn.execute(
        "SELECT t.id, t.code, t.name, t.kind, u.code, t.leader_id, t.active"
        " FROM teams t LEFT JOIN units u ON u.id = t.unit_id WHERE t.code = ?",
        (code.strip(),),
    ).fetchone()
    if row is None:
        raise NotFound(_("no team {code}").format(code=code.strip()))
    return tuple(row)


def get_team(db: Database, code: str) -> Team:
    """The team with this code, its leader and all members (inactive ones too).

    Raises:
        NotFound: no such team.
    """
    row = _team_row(db, code)
    ids = [
        int(r[0])
        for r in db.conn.execute(
            "SELECT person_id FROM team_members WHERE team_id = ?", (row[0],)
        ).fetchall()
    ]
    members = tuple(
        sorted(
            (get_person(db, i) for i in ids),
            key=lambda p: (p.name, p.id),
        )
    )
    leader = next((p for p in members if p.id == row[5]), None)
    return Team(
        id=int(row[0]),
        code=row[1],
        name=row[2],
        kind=TeamKind(row[3]),
        unit_code=row[4],
        leader=leader,
        members=members,
        active=bool(row[6]),
    )


def list_teams(
    db: Database,
    *,
    unit: str | None = None,
    kind: str | TeamKind | None = None,
    person: int | str | None = None,
    region: str = DEFAULT_REGION,
) -> list[Team]:
    """Teams in code order, filtered by unit code, kind, or a member (any person reference).

    Raises:
        InvalidInput: an unknown kind. NotFound: no such unit or person.
    """
    where: list[str] = []
    params: list[Any] = []
    if unit is not None:
        row = db.conn.execute("SELECT id FROM units WHERE code = ?", (unit.strip(),)).fetchone()
        if row is None:
            raise NotFound(_("no unit {code}").format(code=unit.strip()))
        where.append("t.unit_id = ?")
        params.append(int(row[0]))
    if kind is not None:
        where.append("t.kind = ?")
        params.append(_kind(kind).value)
    if person is not None:
        member = get_person(db, person, region=region)
        where.append(
            "EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.id AND m.person_id = ?)"
        )
        params.append(member.id)
    sql = "SELECT t.code FROM teams t"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [get_team(db, r[0]) for r in db.conn.execute(sql + " ORDER BY t.code", params)]


def _active_person(db: Database, ref: int | str, region: str, field: str) -> Person:
    person = get_person(db, ref, region=region)
    if not person.active:
        raise InvalidInput(
            _("{name} (#{id}) is inactive").format(name=person.name, id=person.id), field
        )
    return person


def _who(person: Person) -> dict[str, Any]:
    return {"person_id": person.id, "name": person.name}


def add_team(
    db: Database,
    clock: Clock,
    operator: str,
    code: str,
    name: str,
    kind: str | TeamKind,
    unit: str | None = None,
    leader: int | str | None = None,
    *,
    region: str = DEFAULT_REGION,
) -> Team:
    """Add a team (``team_added``); a leader given becomes its first member.

    Raises:
        InvalidInput: a bad or used code, a missing name, an unknown kind, a unit that is not
            current, an inactive or ambiguous leader (naming the field). NotFound: no such
            leader.
    """
    clean_code = (code or "").strip()
    if not TEAM_CODE_RE.match(clean_code):
        raise InvalidInput(
            _("{code!r} is not a team code: up to 32 letters, digits, '-', '_' or '.'").format(
                code=clean_code
            ),
            "code",
        )
    clean_name = " ".join(clean_text(name or "", "name", kind="name").split())
    if not clean_name or len(clean_name) > MAX_NAME:
        raise InvalidInput(
            _("a name of 1-{max} characters is required").format(max=MAX_NAME), "name"
        )
    team_kind = _kind(kind)
    unit_id, unit_code = current_unit_id(db, unit)
    head = _active_person(db, leader, region, "leader") if leader is not None else None
    at = to_iso(clock.now())
    with write(db):
        if db.conn.execute("SELECT 1 FROM teams WHERE code = ?", (clean_code,)).fetchone():
            raise InvalidInput(_("team {code} already exists").format(code=clean_code), "code")
        cursor = db.conn.execute(
            "INSERT INTO teams (code, name, kind, unit_id, leader_id, active, created_at,"
            " updated_at) VALUES (?,?,?,?,?,1,?,?)",
            (
                clean_code,
                clean_name,
                team_kind.value,
                unit_id,
                head.id if head else None,
                at,
                at,
            ),
        )
        if head is not None:
            db.conn.execute(
                "INSERT INTO team_members (team_id, person_id) VALUES (?, ?)",
                (int(cursor.lastrowid or 0), head.id),
            )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="team_added",
            data={
                "code": clean_code,
                "name": clean_name,
                "kind": team_kind.value,
                "unit": unit_code,
                "leader": _who(head) if head else None,
            },
        )
    return get_team(db, clean_code)


def add_member(
    db: Database,
    clock: Clock,
    operator: str,
    team: str,
    person: int | str,
    *,
    region: str = DEFAULT_REGION,
) -> Team:
    """Add an active person to a team (``team_member_added``).

    Raises:
        InvalidInput: the person is inactive or already a member (field ``person``).
        NotFound: no such team or person.
    """
    row = _team_row(db, team)
    member = _active_person(db, person, region, "person")
    at = to_iso(clock.now())
    with write(db):
        if db.conn.execute(
            "SELECT 1 FROM team_members WHERE team_id = ? AND person_id = ?", (row[0], member.id)
        ).fetchone():
            raise InvalidInput(
                _("{name} is already in team {team}").format(name=member.name, team=row[1]),
                "person",
            )
        _insert_member(db, int(row[0]), member.id, at)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="team_member_added",
            data={"team": row[1], **_who(member)},
        )
    return get_team(db, row[1])


def _insert_member(db: Database, team_id: int, person_id: int, at: str) -> None:
    db.conn.execute(
        "INSERT INTO team_members (team_id, person_id) VALUES (?, ?)", (team_id, person_id)
    )
    db.conn.execute("UPDATE teams SET updated_at = ? WHERE id = ?", (at, team_id))


def remove_member(
    db: Database,
    clock: Clock,
    operator: str,
    team: str,
    person: int | str,
    *,
    region: str = DEFAULT_REGION,
) -> Team:
    """Take a person out of a team (``team_member_removed``); a removed leader leaves it leaderless.

    Raises:
        InvalidInput: the person is not a member (field ``person``). NotFound.
    """
    row = _team_row(db, team)
    member = get_person(db, person, region=region)
    at = to_iso(clock.now())
    with write(db):
        removed = db.conn.execute(
            "DELETE FROM team_members WHERE team_id = ? AND person_id = ?", (row[0], member.id)
        ).rowcount
        if not removed:
            raise InvalidInput(
                _("{name} is not in team {team}").format(name=member.name, team=row[1]), "person"
            )
        was_leader = row[5] == member.id
        db.conn.execute(
            "UPDATE teams SET updated_at = ?, leader_id = CASE WHEN leader_id = ? THEN NULL"
            " ELSE leader_id END WHERE id = ?",
            (at, member.id, row[0]),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="team_member_removed",
            data={"team": row[1], **_who(member), "was_leader": was_leader},
        )
    return get_team(db, row[1])


def set_leader(
    db: Database,
    clock: Clock,
    operator: str,
    team: str,
    person: int | str,
    *,
    region: str = DEFAULT_REGION,
) -> Team:
    """Make an active person the team's leader (``team_leader_set``), adding them if needed.

    Raises:
        InvalidInput: inactive, or already the leader (field ``leader``). NotFound.
    """
    row = _team_row(db, team)
    head = _active_person(db, person, region, "leader")
    if row[5] == head.id:
        raise InvalidInput(
            _("{name} already leads team {team}").format(name=head.name, team=row[1]), "leader"
        )
    at = to_iso(clock.now())
    with write(db):
        added = not db.conn.execute(
            "SELECT 1 FROM team_members WHERE team_id = ? AND person_id = ?", (row[0], head.id)
        ).fetchone()
        if added:
            _insert_member(db, int(row[0]), head.id, at)
        db.conn.execute(
            "UPDATE teams SET leader_id = ?, updated_at = ? WHERE id = ?", (head.id, at, row[0])
        )
        previous = get_person(db, int(row[5])) if row[5] is not None else None
        append_event(
            db,
            at=at,
            operator=operator,
            kind="team_leader_set",
            data={
                "team": row[1],
                "leader": _who(head),
                "previous": _who(previous) if previous else None,
                "added_as_member": added,
            },
        )
    return get_team(db, row[1])


def team_to_json(
    team: Team, *, unmasked: bool = False, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """The stable JSON form; members with masked phone numbers unless ``unmasked``."""

    def brief(p: Person) -> dict[str, Any]:
        full = person_to_json(p, unmasked=unmasked, region=region)
        return {k: full[k] for k in ("id", "key", "name", "unit", "phone", "roles", "active")}

    return {
        "code": team.code,
        "name": team.name,
        "kind": team.kind.value,
        "kind_label": team.kind.label_zh,
        "unit": team.unit_code,
        "leader": brief(team.leader) if team.leader else None,
        "members": [brief(p) for p in team.members],
        "active": team.active,
    }


__all__ = [
    "TEAM_KIND_LABELS",
    "TEAM_KIND_NAMES",
    "Team",
    "TeamKind",
    "add_member",
    "add_team",
    "get_team",
    "list_teams",
    "remove_member",
    "set_leader",
    "team_to_json",
]
