"""Provides ``dutydesk person ...`` (people and their channels) and ``dutydesk team ...``.

Phone numbers are personal data: every listing, ``show`` and JSON output masks them
(``138****8000``) unless ``--unmasked`` is given, and an unmasked output appends a
``personal_data_shown`` audit event (the command and how many people it showed). Numbers
typed without a country code are read in the configured ``[contacts] phone_region``.
"""

from __future__ import annotations

from typing import Any

import click

from console.cli import render
from console.cli.common import MAX_ROW_ID, State, emit_json, pass_state
from console.cli.tables import echo_fields, print_table
from contacts.models import ChannelKind
from contacts.people import (
    NewPerson,
    Person,
    add_person,
    deactivate_person,
    edit_person,
    get_person,
    list_people,
    person_to_json,
    record_personal_data_shown,
    set_channels,
)
from contacts.phones import mask_phone
from contacts.teams import (
    add_member,
    add_team,
    get_team,
    list_teams,
    remove_member,
    set_leader,
    team_to_json,
)
from store.errors import InvalidInput
from store.i18n import N_, _

JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
UNMASKED = click.option(
    "--unmasked",
    is_flag=True,
    help=N_("Show full phone numbers (personal data: the showing is audited)."),
)

PERSON_COLUMNS = (
    N_("id"),
    N_("name"),
    N_("unit"),
    N_("phone"),
    N_("roles"),
    N_("skills"),
    N_("in service"),
)
TEAM_COLUMNS = (N_("code"), N_("name"), N_("kind"), N_("unit"), N_("leader"), N_("members"))


def _region(state: State) -> str:
    return state.ctx.config.phone_region


def _audit_unmasked(state: State, unmasked: bool, command: str, count: int) -> None:
    if unmasked:
        ctx = state.ctx
        record_personal_data_shown(ctx.db, ctx.clock, ctx.operator, command, count)


def _phone(person: Person, unmasked: bool, region: str) -> str:
    if not person.phone:
        return ""
    return person.phone if unmasked else mask_phone(person.phone, region)


def _channel_text(person: Person, unmasked: bool, region: str) -> list[str]:
    lines = []
    for c in person.channels:
        address = c.address
        if c.kind is ChannelKind.SMS and not unmasked:
            address = mask_phone(address, region)
        status = _("(verified)") if c.verified else _("(unverified)")
        lines.append(f"{c.rank}. {c.kind.value:<8}{address}  {status}")
    return lines


@click.group("person")
def person() -> None:
    """People of the jurisdiction: units, roles, skills, channels.

    PERSON is an id, a key, a phone number or a name that is unique.
    """


@person.command("add")
@click.option("--name", required=True, help=N_("Full name, e.g. Zhang Wei."))
@click.option("--unit", help=N_("Code of the unit (township, community or grid)."))
@click.option(
    "--phone", help=N_("Mobile number; without +CC it is read in [contacts] phone_region.")
)
@click.option("--email", help=N_("E-mail address."))
@click.option("--webhook", help=N_("Chat-robot webhook URL (http or https)."))
@click.option(
    "--role",
    "roles",
    multiple=True,
    help=N_("A role, e.g. grid-leader, or its Chinese name (repeatable)."),
)
@click.option("--skill", "skills", multiple=True, help=N_("A skill, e.g. first aid (repeatable)."))
@click.option("--key", help=N_("Stable key for imports (default: the phone, else name@unit)."))
@JSON
@pass_state
def person_add(
    state: State,
    name: str,
    unit: str | None,
    phone: str | None,
    email: str | None,
    webhook: str | None,
    roles: tuple[str, ...],
    skills: tuple[str, ...],
    key: str | None,
    as_json: bool,
) -> None:
    """Add a person; channels default to sms, webhook, e-mail (unverified)."""
    ctx = state.ctx
    region = _region(state)
    added = add_person(
        ctx.db,
        ctx.clock,
        ctx.operator,
        NewPerson(
            name=name,
            unit=unit,
            phone=phone,
            email=email,
            webhook=webhook,
            roles=roles,
            skills=skills,
        ),
        region=region,
        key=key,
    )
    if as_json:
        emit_json(person_to_json(added, region=region))
        return
    click.echo(
        _("added #{id} {name} ({unit}, {phone})").format(
            id=added.id,
            name=added.name,
            unit=added.unit_code or _("no unit"),
            phone=_phone(added, False, region) or _("no phone"),
        )
    )


@person.command("list")
@click.option("--unit", help=N_("Only people of this unit and the units below it."))
@click.option("--direct", is_flag=True, help=N_("With --unit: only that unit, not the ones below."))
@click.option("--role", help=N_("Only people with this role."))
@click.option("--text", help=N_("Part of the name, or digits of the phone number."))
@click.option("--inactive", is_flag=True, help=N_("Only deactivated people."))
@click.option("--all", "everyone", is_flag=True, help=N_("Active and deactivated people."))
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--after",
    "after_id",
    type=click.IntRange(0, MAX_ROW_ID),
    help=N_("Only ids above this (next page)."),
)
@UNMASKED
@JSON
@pass_state
def person_list(
    state: State,
    unit: str | None,
    direct: bool,
    role: str | None,
    text: str | None,
    inactive: bool,
    everyone: bool,
    limit: int,
    after_id: int | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """List people in id order (active ones unless --inactive or --all)."""
    if inactive and everyone:
        raise InvalidInput(_("give --inactive or --all, not both"), "inactive")
    region = _region(state)
    people = list_people(
        state.ctx.db,
        unit=unit,
        include_sub_units=not direct,
        role=role,
        active=None if everyone else not inactive,
        text=text,
        limit=limit,
        after_id=after_id,
    )
    _audit_unmasked(state, unmasked, "person list", len(people))
    if as_json:
        emit_json(
            render.listing_json(person_to_json(p, unmasked=unmasked, region=region) for p in people)
        )
        return
    print_table(
        [_(name) for name in PERSON_COLUMNS],
        [
            (
                str(p.id),
                p.name,
                p.unit_code or "",
                _phone(p, unmasked, region),
                ", ".join(r.label for r in p.roles),
                ", ".join(p.skills),
                _("yes") if p.active else _("no"),
            )
            for p in people
        ],
    )
    click.echo(_("{count} person(s)").format(count=len(people)))


@person.command("show")
@click.argument("ref", metavar="PERSON")
@UNMASKED
@JSON
@pass_state
def person_show(state: State, ref: str, unmasked: bool, as_json: bool) -> None:
    """Show a person with roles, skills, channels and teams."""
    ctx = state.ctx
    region = _region(state)
    p = get_person(ctx.db, ref, region=region)
    teams = list_teams(ctx.db, person=p.id)
    _audit_unmasked(state, unmasked, "person show", 1)
    if as_json:
        emit_json(
            {
                **person_to_json(p, unmasked=unmasked, region=region),
                "teams": [
                    {
                        "code": t.code,
                        "name": t.name,
                        "leader": t.leader is not None and t.leader.id == p.id,
                    }
                    for t in teams
                ],
            }
        )
        return
    click.echo(f"#{p.id}  {p.name}" + ("" if p.active else "  " + _("(inactive)")))
    roles = ", ".join(f"{r.value} ({r.label})" for r in p.roles)
    echo_fields(
        [
            (_("key"), p.shown_key(unmasked=unmasked, region=region)),
            (_("unit"), p.unit_code or "-"),
            (_("phone"), _phone(p, unmasked, region) or "-"),
            (_("email"), p.email or "-"),
            (_("webhook"), p.webhook or "-"),
            (_("roles"), roles or "-"),
            (_("skills"), ", ".join(p.skills) or "-"),
        ]
    )
    click.echo(_("channels") + ":" + ("" if p.channels else " -"))
    for line in _channel_text(p, unmasked, region):
        click.echo(f"  {line}")
    click.echo(_("teams") + ":" + ("" if teams else " -"))
    for t in teams:
        lead = "  " + _("(leader)") if t.leader is not None and t.leader.id == p.id else ""
        click.echo(f"  {t.code}  {t.name}{lead}")


@person.command("edit")
@click.argument("ref", metavar="PERSON")
@click.option("--name", help=N_("New name."))
@click.option("--unit", help=N_("New unit code ('' for none)."))
@click.option("--phone", help=N_("New phone number ('' for none)."))
@click.option("--email", help=N_("New e-mail ('' for none)."))
@click.option("--webhook", help=N_("New webhook URL ('' for none)."))
@click.option("--role", "roles", multiple=True, help=N_("Roles, replacing the current ones."))
@click.option("--no-roles", is_flag=True, help=N_("Remove every role."))
@click.option("--skill", "skills", multiple=True, help=N_("Skills, replacing the current ones."))
@click.option("--no-skills", is_flag=True, help=N_("Remove every skill."))
@JSON
@pass_state
def person_edit(
    state: State,
    ref: str,
    name: str | None,
    unit: str | None,
    phone: str | None,
    email: str | None,
    webhook: str | None,
    roles: tuple[str, ...],
    no_roles: bool,
    skills: tuple[str, ...],
    no_skills: bool,
    as_json: bool,
) -> None:
    """Change a person's fields; the audit log records old → new (phones masked)."""
    changes: dict[str, Any] = {
        k: v
        for k, v in (
            ("name", name),
            ("unit", unit),
            ("phone", phone),
            ("email", email),
            ("webhook", webhook),
        )
        if v is not None
    }
    if roles or no_roles:
        changes["roles"] = list(roles)
    if skills or no_skills:
        changes["skills"] = list(skills)
    if not changes:
        raise InvalidInput(_("give at least one field to change"), "changes")
    ctx = state.ctx
    region = _region(state)
    edited = edit_person(ctx.db, ctx.clock, ctx.operator, ref, region=region, **changes)
    if as_json:
        emit_json(person_to_json(edited, region=region))
        return
    click.echo(
        _("edited #{id} {name}: {fields}").format(
            id=edited.id, name=edited.name, fields=", ".join(sorted(changes))
        )
    )


@person.command("deactivate")
@click.argument("ref", metavar="PERSON")
@click.option("--reason", required=True, help=N_("Why (moved away, left the team, ...)."))
@JSON
@pass_state
def person_deactivate(state: State, ref: str, reason: str, as_json: bool) -> None:
    """Mark a person inactive; their history and team memberships are kept."""
    ctx = state.ctx
    region = _region(state)
    done = deactivate_person(ctx.db, ctx.clock, ctx.operator, ref, reason, region=region)
    if as_json:
        emit_json(person_to_json(done, region=region))
        return
    click.echo(_("deactivated #{id} {name}").format(id=done.id, name=done.name))


def _parse_channel(text: str) -> tuple[str, str, bool]:
    kind, sep, address = text.partition("=")
    if not sep or not address.strip():
        raise InvalidInput(
            _("{text!r}: use KIND=ADDRESS, e.g. sms=13800138000").format(text=text), "channel"
        )
    address = address.strip()
    verified = address.endswith("!")
    return kind.strip(), address.rstrip("!").strip(), verified


@person.command("channels")
@click.argument("ref", metavar="PERSON")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    help=N_("KIND=ADDRESS in order of preference (sms, webhook, email); end with ! if verified."),
)
@JSON
@pass_state
def person_channels(state: State, ref: str, channels: tuple[str, ...], as_json: bool) -> None:
    """Set how a person is reached, first choice first.

    Without --channel, the channels are derived again from the phone (sms), webhook and
    e-mail, unverified.
    """
    ctx = state.ctx
    region = _region(state)
    parsed = [_parse_channel(c) for c in channels]
    done = set_channels(ctx.db, ctx.clock, ctx.operator, ref, parsed or None, region=region)
    if as_json:
        emit_json(person_to_json(done, region=region))
        return
    click.echo(_("channels of #{id} {name}:").format(id=done.id, name=done.name))
    for line in _channel_text(done, False, region):
        click.echo(f"  {line}")


@click.group("team")
def team() -> None:
    """Emergency teams: members and a leader; a person may be in several."""


@team.command("add")
@click.option("--code", required=True, help=N_("Team code, e.g. JY01."))
@click.option("--name", required=True, help=N_("Name, e.g. Chengguan Emergency Rescue Team."))
@click.option(
    "--kind",
    required=True,
    help=N_(
        "rescue, medical, firefighting, flood-control, public-security or other"
        " (or the Chinese name)."
    ),
)
@click.option("--unit", help=N_("Code of the unit the team belongs to."))
@click.option("--leader", help=N_("The leader (PERSON); becomes the first member."))
@JSON
@pass_state
def team_add(
    state: State,
    code: str,
    name: str,
    kind: str,
    unit: str | None,
    leader: str | None,
    as_json: bool,
) -> None:
    """Add an emergency team."""
    ctx = state.ctx
    region = _region(state)
    added = add_team(ctx.db, ctx.clock, ctx.operator, code, name, kind, unit, leader, region=region)
    if as_json:
        emit_json(team_to_json(added, region=region))
        return
    click.echo(
        _("added team {code} {name} ({kind})").format(
            code=added.code, name=added.name, kind=added.kind.label
        )
    )


@team.command("list")
@click.option("--unit", help=N_("Only teams of this unit."))
@click.option("--kind", help=N_("Only teams of this kind."))
@click.option("--person", "member", help=N_("Only teams this PERSON is in."))
@UNMASKED
@JSON
@pass_state
def team_list(
    state: State,
    unit: str | None,
    kind: str | None,
    member: str | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """List teams in code order."""
    region = _region(state)
    teams = list_teams(state.ctx.db, unit=unit, kind=kind, person=member, region=region)
    if as_json:
        _audit_unmasked(state, unmasked, "team list", sum(len(t.members) for t in teams))
        emit_json(
            render.listing_json(team_to_json(t, unmasked=unmasked, region=region) for t in teams)
        )
        return
    print_table(
        [_(name) for name in TEAM_COLUMNS],
        [
            (
                t.code,
                t.name,
                t.kind.label,
                t.unit_code or "",
                t.leader.name if t.leader else "",
                str(sum(1 for m in t.members if m.active)),
            )
            for t in teams
        ],
    )
    click.echo(_("{count} team(s)").format(count=len(teams)))


@team.command("show")
@click.argument("code")
@UNMASKED
@JSON
@pass_state
def team_show(state: State, code: str, unmasked: bool, as_json: bool) -> None:
    """Show a team with its leader and members (inactive members marked)."""
    region = _region(state)
    t = get_team(state.ctx.db, code)
    _audit_unmasked(state, unmasked, "team show", len(t.members))
    if as_json:
        emit_json(team_to_json(t, unmasked=unmasked, region=region))
        return
    click.echo(f"{t.code}  {t.name}  ({t.kind.label})")
    echo_fields(
        [
            (_("unit"), t.unit_code or "-"),
            (_("leader"), t.leader.name if t.leader else "-"),
        ]
    )
    click.echo(_("members ({count}):").format(count=len(t.members)))
    for m in t.members:
        flags = [f for f, on in ((_("leader"), t.leader == m), (_("inactive"), not m.active)) if on]
        suffix = f"  ({', '.join(flags)})" if flags else ""
        click.echo(
            f"  #{m.id} {m.name}  {m.unit_code or '-'}  {_phone(m, unmasked, region)}{suffix}"
        )


def _team_step(state: State, action: str, code: str, ref: str, as_json: bool) -> None:
    ctx = state.ctx
    region = _region(state)
    step = {"member-add": add_member, "member-remove": remove_member, "leader": set_leader}[action]
    done = step(ctx.db, ctx.clock, ctx.operator, code, ref, region=region)
    if as_json:
        emit_json(team_to_json(done, region=region))
        return
    leader = done.leader.name if done.leader else "-"
    click.echo(
        _("team {code}: {count} member(s), leader {leader}").format(
            code=done.code, count=len(done.members), leader=leader
        )
    )


@team.command("member-add")
@click.argument("code")
@click.argument("ref", metavar="PERSON")
@JSON
@pass_state
def team_member_add(state: State, code: str, ref: str, as_json: bool) -> None:
    """Add PERSON to the team."""
    _team_step(state, "member-add", code, ref, as_json)


@team.command("member-remove")
@click.argument("code")
@click.argument("ref", metavar="PERSON")
@JSON
@pass_state
def team_member_remove(state: State, code: str, ref: str, as_json: bool) -> None:
    """Take PERSON out of the team (a removed leader leaves the team without one)."""
    _team_step(state, "member-remove", code, ref, as_json)


@team.command("leader")
@click.argument("code")
@click.argument("ref", metavar="PERSON")
@JSON
@pass_state
def team_leader(state: State, code: str, ref: str, as_json: bool) -> None:
    """Make PERSON the team's leader (added as a member if not one yet)."""
    _team_step(state, "leader", code, ref, as_json)
