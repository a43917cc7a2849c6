"""Provides ``dutydesk field``: where a case's dispatches to the field stand.

``field list CASE`` shows each dispatch of the case (target, state, acceptance deadline), the
people it was sent to with their answer, and what they sent back (progress, photos, feedback).
Each person's case link is a bearer secret: it is printed only with ``--links``, which is
audited as a showing of personal data. The domain is :mod:`uplink.field`; ``dutydesk sweep``
and the engine send new dispatches and mark those not accepted in time.
"""

from __future__ import annotations

from typing import Any

import click

from console.cli import render
from console.cli.common import State, emit_json, pass_state
from console.cli.tables import print_table
from console.timefmt import local
from store.i18n import N_, _

STATE_NAMES = {
    "waiting": N_("waiting for acceptance"),
    "accepted": N_("accepted"),
    "overdue": N_("not accepted in time"),
    "ended": N_("ended"),
    "declined": N_("declined"),
    "opened": N_("opened, not answered"),
}
ENDED_NAMES = {
    "returned": N_("returned"),
    "redispatched": N_("dispatched elsewhere"),
    "closed": N_("closed"),
    "voided": N_("voided"),
    "merged": N_("merged"),
}
UPDATE_NAMES = {
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "progress": N_("progress"),
    "photo": N_("photo"),
    "feedback": N_("feedback"),
}


def _state(name: str) -> str:
    return _(STATE_NAMES[name]) if name in STATE_NAMES else name


@click.group("field")
def field_group() -> None:
    """Dispatched cases in the field: who got them, who accepted, what came back."""


@field_group.command("list")
@click.argument("case")
@click.option(
    "--links",
    "with_links",
    is_flag=True,
    help=N_("Also print each person's case link (a secret: audited as personal data)."),
)
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def list_cmd(state: State, case: str, with_links: bool, as_json: bool) -> None:
    """The field dispatches of CASE: target, state, people and their answers, updates."""
    from incidents.records import get_incident
    from store.audit import record_personal_data_shown
    from store.clock import to_iso
    from uplink import field

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    incident = get_incident(ctx.db, case)
    found = field.dispatches_of(ctx.db, incident.id)
    links: dict[tuple[int, str], str] = {}
    if with_links:
        base = ctx.config.base_url
        for d in found:
            if d.ended_at is None:
                for p in d.people:
                    links[(d.id, p.key)] = field.link_for(ctx.db, ctx.keys, d.id, p.key, base, now)
        record_personal_data_shown(
            ctx.db,
            at=to_iso(now),
            operator=ctx.operator,
            command="field list --links",
            what="case links",
            count=len(links),
            cases=[incident.number],
            incident_id=incident.id,
        )
    if as_json:
        items: list[dict[str, Any]] = []
        for d in found:
            item = d.to_json()
            if with_links:
                for person in item["people"]:
                    person["link"] = links.get((d.id, person["person"]))
            items.append(item)
        emit_json({"case": incident.number, "at": render.iso(now), "dispatches": items})
        return
    if not found:
        click.echo(_("{number} has not been sent to the field").format(number=incident.number))
        return
    for d in found:
        ended = (
            _("ended {at} ({why})").format(
                at=local(d.ended_at, zone),
                why=_(ENDED_NAMES[d.ended_reason]) if d.ended_reason in ENDED_NAMES else "",
            )
            if d.ended_at
            else _state(d.state)
        )
        click.echo(
            _("dispatch {id} to {target}: {state}; accept by {deadline}").format(
                id=d.id, target=d.target, state=ended, deadline=local(d.accept_by, zone)
            )
        )
        if d.accepted_at:
            click.echo(
                "  "
                + _("accepted by {who} at {at}").format(
                    who=d.accepted_by, at=local(d.accepted_at, zone)
                )
            )
        rows = []
        for p in d.people:
            answer = _state(p.state)
            if p.decline_reason:
                answer += f": {p.decline_reason}"
            rows.append([p.name, p.key, p.role, answer])
        if rows:
            print_table([_("Name"), _("Key"), _("Role"), _("Answer")], rows)
        for p in d.people:  # whole, one a line: a table would cut them
            if (d.id, p.key) in links:
                click.echo(f"  {p.name} ({p.key}): {links[(d.id, p.key)]}")
        for u in d.updates:
            what = _(UPDATE_NAMES[u.kind]) if u.kind in UPDATE_NAMES else u.kind
            text = u.text
            if u.photo_sha256:
                text = _("{kind} photo {sha} ({size} bytes, {w}x{h})").format(
                    kind=u.photo_kind,
                    sha=u.photo_sha256[:12],
                    size=u.photo_bytes,
                    w=u.photo_width,
                    h=u.photo_height,
                )
            click.echo(f"  {local(u.at, zone)}  {u.person_name}  {what}  {text}".rstrip())
