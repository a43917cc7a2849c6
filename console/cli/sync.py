"""Provides ``dutydesk sync``: the uplink to the level above, seen and mended by an operator.

``status`` shows the link as the engine last saw it (connected, backing off until when, down
since when, the token refused), the backlog and its oldest event's age, and the dead letters.
``dead-letters`` lists the events the hub refused, with its reason; once the cause is fixed
(a configuration change, a unit registered at the hub), ``retry`` puts them back in the queue
and the engine sends them, in order, with the events of their subjects that waited behind
them. ``resync`` asks the engine to compare its outbox with the hub's state before its next
batch (after restoring a backup, or when the county restored theirs). ``now`` runs one drain
pass in this process when no engine runs.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import click

from console.cli import render
from console.cli.common import State, emit_json, fail, pass_state
from console.timefmt import local
from store.clock import from_iso
from store.i18n import N_, _


@click.group("sync")
def sync_group() -> None:
    """The uplink to the county/city: status, dead letters, retry, resync."""


def _status(state: State) -> Any:
    from console.context import uplink_unit
    from uplink.status import link_status

    ctx = state.ctx
    unit = uplink_unit(ctx.db, ctx.config) if ctx.config.uplink.enabled else None
    return link_status(ctx.db, ctx.config.uplink.url, unit)


@sync_group.command("status")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def sync_status_cmd(state: State, as_json: bool) -> None:
    """The link, the backlog, the oldest unsent event's age, the dead letters."""
    from console.timefmt import short
    from uplink.models import LinkState

    ctx = state.ctx
    link = _status(state)
    now = ctx.clock.now()

    def local(at: datetime | None) -> str:
        return short(at, ctx.config.zone)

    if as_json:
        emit_json(link.to_json(now))
        return
    if link.state is LinkState.OFF:
        click.echo(_("uplink: not configured (set [uplink] url)"))
        return
    click.echo(
        _("uplink: {state} -> {url} as {unit}").format(
            state=link.state.label, url=link.url, unit=link.unit or "?"
        )
    )
    if link.state is LinkState.BACKING_OFF and link.next_try_at:
        click.echo(_("next try: {at}").format(at=local(link.next_try_at)))
    if link.down_since:
        click.echo(_("down since: {at}").format(at=local(link.down_since)))
    if link.last_error:
        click.echo(_("last error: {error}").format(error=link.last_error))
    age = link.oldest_age_s(now)
    click.echo(
        _("backlog: {n} events; oldest {minutes} min; dead letters: {dead}").format(
            n=link.backlog,
            minutes="-" if age is None else int(age // 60),
            dead=link.dead_letters,
        )
    )
    if link.last_ok_at:
        click.echo(
            _("last exchange: {at}; {sent} events acknowledged in all").format(
                at=local(link.last_ok_at), sent=link.sent_total
            )
        )


@sync_group.command("dead-letters")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def sync_dead_cmd(state: State, as_json: bool) -> None:
    """The events the hub refused, with its reason; later events of each subject wait."""
    from uplink.outbox import dead_letters

    ctx = state.ctx
    link = _status(state)
    rows = dead_letters(ctx.db, link.unit or "")
    if as_json:
        emit_json(
            render.listing_json(
                {"row": r.row, "tries": r.tries, "reason": r.error, "event": r.event.to_json()}
                for r in rows
            )
        )
        return
    if not rows:
        click.echo(_("no dead letters"))
        return
    for r in rows:
        click.echo(
            f"{r.row}  {r.event.subject} #{r.event.seq}  {r.event.kind.value}"
            f"  {local(from_iso(r.event.at), ctx.config.zone)}  "
            f"{r.error or ''}"
        )
    click.echo(_("fix the cause, then: dutydesk sync retry --all (or the rows)"), err=True)


@sync_group.command("retry")
@click.argument("rows", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help=N_("Every dead letter."))
@pass_state
def sync_retry_cmd(state: State, rows: tuple[int, ...], every: bool) -> None:
    """Put dead letters back in the queue (the given rows, or --all)."""
    from store.db import write
    from uplink.outbox import requeue
    from uplink.status import retry_now, set_resync_due

    if not rows and not every:
        fail(_("name the rows to retry, or give --all"), 2)
    if rows and every:
        fail(_("give rows or --all, not both"), 2)
    ctx = state.ctx
    count = requeue(ctx.db, None if every else list(rows))
    if rows and count == 0:
        fail(_("none of the rows given is a dead letter; nothing changed"), 2)
    if rows and count < len(rows):
        click.echo(
            _("{n} of the rows given were not dead letters").format(n=len(rows) - count),
            err=True,
        )
    with write(ctx.db):
        # A token or unit fixed since: try at once rather than at the end of a backoff.
        set_resync_due(ctx.db, True)
        retry_now(ctx.db)
    click.echo(_("{n} events back in the queue").format(n=count))


@sync_group.command("resync")
@pass_state
def sync_resync_cmd(state: State) -> None:
    """Compare the outbox with the hub's state before the next batch, and converge."""
    from store.db import write
    from uplink.status import set_resync_due

    with write(state.ctx.db):
        set_resync_due(state.ctx.db, True)
    click.echo(_("the engine compares with the hub before its next batch"))


@sync_group.command("now")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def sync_now_cmd(state: State, as_json: bool) -> None:
    """Send what is waiting, here and now (only when no engine is running)."""
    from console.engine import drain_for
    from store import lease

    ctx = state.ctx
    if not ctx.config.uplink.enabled:
        fail(_("no uplink configured: set [uplink] url"), 2)
    holder = lease.current_holder(ctx.db, ctx.clock.now())
    if holder is not None:
        fail(_("an engine is running ({holder}); it sends by itself").format(holder=holder), 2)
    drain = drain_for(ctx.db, ctx.config, ctx.clock)
    if drain is None:
        fail(_("set [uplink] unit: the jurisdiction has no single top unit to report as"), 2)

    async def run() -> dict[str, Any]:
        sent = dead = 0
        try:
            while True:
                report = await drain.step(ctx.db)
                sent += report.sent
                dead += report.dead
                if report.waiting or not report.more:
                    return {"sent": sent, "dead": dead, "error": report.error}
        finally:
            await drain.aclose()

    total = asyncio.run(run())
    if as_json:
        emit_json(total)
    else:
        click.echo(
            _("{sent} events sent, {dead} refused").format(sent=total["sent"], dead=total["dead"])
        )
    if total["error"]:
        fail(str(total["error"]), 1)
