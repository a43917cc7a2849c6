"""Provides ``dutydesk shift``: hand over the shift, confirm a handover, list handovers."""

from __future__ import annotations

from typing import Any

import click

from console.cli import render
from console.cli.common import ROW_ID, State, emit_json, pass_state
from store.i18n import N_, _


@click.group("shift")
def shift_group() -> None:
    """Shift handover: hand over, confirm, list."""


def _handover_json(handover: Any) -> dict[str, Any]:
    """The stable JSON form of a handover (``incidents.supervision.Handover``)."""
    c = handover.counts
    return {
        "id": handover.id,
        "from": handover.from_operator,
        "to": handover.to_operator,
        "at": render.iso(handover.at),
        "note": handover.note,
        "open": c.open,
        "overdue": c.overdue,
        "supervised": c.supervised,
        "parked": c.parked,
        "pending_extensions": handover.pending_extensions,
        "active_mobilizations": handover.active_mobilizations,
        "confirmed_at": render.iso(handover.confirmed_at),
        "confirmed_by": handover.confirmed_by,
    }


@shift_group.command("handover")
@click.option("--to", "to", required=True, help=N_("The operator taking over."))
@click.option("--note", default="", help=N_("What the next shift must know."))
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def shift_handover_cmd(state: State, to: str, note: str, as_json: bool) -> None:
    """Record the handover with the open/overdue/supervised counts at this moment."""
    from incidents.supervision import shift_handover
    from reports.handover import handover_brief

    ctx = state.ctx
    handover = shift_handover(ctx.db, ctx.clock, ctx.operator, to, note, brief=handover_brief)
    c = handover.counts
    if as_json:
        emit_json(_handover_json(handover))
        return
    click.echo(
        _(
            "shift handed over from {giver} to {taker}: {open} open, {overdue} overdue,"
            " {supervised} supervised, {parked} parked (handover {id}, waiting for {taker}"
            " to confirm: dutydesk shift confirm)"
        ).format(
            giver=handover.from_operator,
            taker=handover.to_operator,
            open=c.open,
            overdue=c.overdue,
            supervised=c.supervised,
            parked=c.parked,
            id=handover.id,
        )
    )


@shift_group.command("confirm")
@click.argument("handover_id", metavar="[ID]", type=ROW_ID, required=False)
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def shift_confirm_cmd(state: State, handover_id: int | None, as_json: bool) -> None:
    """Confirm, as the incoming officer, the handover ID (default: the one waiting for you)."""
    from console.timefmt import local
    from incidents.supervision import confirm_handover, pending_handover
    from store.errors import NotFound

    ctx = state.ctx
    if handover_id is None:
        waiting = pending_handover(ctx.db, ctx.operator)
        if waiting is None:
            raise NotFound(
                _("no handover is waiting for {operator} to confirm").format(operator=ctx.operator)
            )
        handover_id = waiting.id
    handover = confirm_handover(ctx.db, ctx.clock, ctx.operator, handover_id)
    if as_json:
        emit_json(_handover_json(handover))
        return
    zone = ctx.config.zone
    click.echo(
        _("handover {id} from {giver} ({at}) confirmed by {taker} at {confirmed_at}").format(
            id=handover.id,
            giver=handover.from_operator,
            at=local(handover.at, zone),
            taker=handover.confirmed_by,
            confirmed_at=local(handover.confirmed_at, zone),
        )
    )


@shift_group.command("list")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help=N_("How many.")
)
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def shift_list_cmd(state: State, limit: int, as_json: bool) -> None:
    """The newest handovers first, with their counts and whether they were confirmed."""
    from console.timefmt import local
    from incidents.supervision import list_handovers

    ctx = state.ctx
    handovers = list_handovers(ctx.db, limit)
    if as_json:
        emit_json([_handover_json(h) for h in handovers])
        return
    if not handovers:
        click.echo(_("no handovers yet (record one with: dutydesk shift handover --to NAME)"))
        return
    zone = ctx.config.zone
    for h in handovers:
        c = h.counts
        confirmed = (
            _("confirmed by {operator} {at}").format(
                operator=h.confirmed_by, at=local(h.confirmed_at, zone)
            )
            if h.confirmed_at
            else _("NOT CONFIRMED")
        )
        counts = _("open {open} overdue {overdue} supervised {supervised}").format(
            open=c.open, overdue=c.overdue, supervised=c.supervised
        )
        click.echo(
            f"{h.id:>5}  {local(h.at, zone)}  {h.from_operator} → {h.to_operator}"
            f"  {counts}  {confirmed}"
        )
        if h.note:
            click.echo(f"       {h.note}")
