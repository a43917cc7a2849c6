"""Provides ``dutydesk directive``: the notices and instructions (通知/指令) received from above.

A directive comes down from the hub with a reply deadline, and sometimes a case or task it
opened here; ``list`` shows them (``--open``: not yet answered), ``show`` one with its
attachments (named, with their addresses: never fetched automatically), ``reply`` answers it
(反馈): the reply goes up to the hub with the next batch. An answer after the deadline is still
taken; the directive stays marked overdue. The domain is :mod:`uplink.directives`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click
from rich.text import Text

from console.cli import render
from console.cli.common import State, emit_json, pass_state
from console.cli.tables import echo_fields, print_table
from console.timefmt import local, short, time_left
from store.i18n import N_, _
from store.text import clean_text

if TYPE_CHECKING:
    from uplink.directives import Directive

DIRECTIVE = click.argument("directive_id", metavar="ID")
JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))


def state_words(item: Directive, now: datetime) -> tuple[str, bool]:
    """Where a directive stands, and whether that is bad: ``replied``, ``replied late``,
    ``awaiting reply, 2 h left``, ``reply overdue by 20 min``."""
    from uplink.directives import DirectiveState

    state = item.state(now)
    if state is DirectiveState.REPLIED:
        return (_("replied late") if item.late else state.label), item.late
    if item.reply_by is None:
        return state.label, False
    left, late = time_left(item.reply_by, now)
    return f"{state.label}, {left}", state is DirectiveState.OVERDUE or late


@click.group("directive")
def directive_group() -> None:
    """Notices and instructions (通知/指令) from the level above: read them, reply in time."""


@directive_group.command("list")
@click.option("--open", "open_only", is_flag=True, help=N_("Only those not yet replied to."))
@click.option(
    "--overdue", "overdue_only", is_flag=True, help=N_("Only those unanswered past the deadline.")
)
@click.option(
    "--limit", default=200, show_default=True, type=click.IntRange(1, 10_000), help=N_("How many.")
)
@JSON
@pass_state
def list_cmd(state: State, open_only: bool, overdue_only: bool, limit: int, as_json: bool) -> None:
    """The directives received, newest first, with their reply deadline."""
    from uplink import directives

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    found = directives.list_directives(
        ctx.db, now=now, open_only=open_only, overdue_only=overdue_only, limit=limit
    )
    if as_json:
        emit_json(render.listing_json((d.to_json(now) for d in found), at=render.iso(now)))
        return
    if not found:
        click.echo(
            _("no directives waiting for a reply")
            if open_only or overdue_only
            else _("no directives")
        )
        return
    rows = []
    for d in found:
        words, bad = state_words(d, now)
        rows.append(
            (
                d.id,
                d.sender_name or d.sender,
                d.title,
                short(d.received_at, zone),
                short(d.reply_by, zone),
                Text(words, style="bold red" if bad else ""),
            )
        )
    print_table([_("id"), _("from"), _("title"), _("received"), _("reply by"), _("state")], rows)


def _show_lines(state: State, item: Directive) -> None:
    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    words, _bad = state_words(item, now)
    rows = [
        (_("directive"), item.id),
        (_("from"), " ".join(x for x in (item.sender_name, item.sender) if x)),
        (_("title"), item.title),
        (_("sent"), local(item.sent_at, zone)),
        (_("received"), f"{local(item.received_at, zone)} ({item.via})"),
        (_("reply by"), local(item.reply_by, zone) or "-"),
        (_("state"), words),
    ]
    if item.action.value != "none":
        rows.append((_("on receipt"), item.action.label))
    if item.case_number is not None:
        rows.append((_("case opened"), item.case_number))
    if item.task_id is not None:
        rows.append((_("task opened"), _("id {id}").format(id=item.task_id)))
    if item.alert:
        rows.append((_("alert"), item.alert))
    if item.exercise:
        rows.append((_("exercise"), _("yes")))
    for attachment in item.attachments:
        rows.append((_("attachment"), f"{attachment.name}  {attachment.url}"))
    if item.reply is not None:
        rows.append((_("reply"), f"{item.replied_by} {local(item.replied_at, zone)}: {item.reply}"))
    echo_fields(rows)
    click.echo()
    click.echo(item.text)


@directive_group.command("show")
@DIRECTIVE
@JSON
@pass_state
def show_cmd(state: State, directive_id: str, as_json: bool) -> None:
    """A directive: who sent it, its text, attachments (by address), the deadline, the reply."""
    from uplink import directives

    ctx = state.ctx
    item = directives.get_directive(ctx.db, directive_id.strip())
    if as_json:
        emit_json(item.to_json(ctx.clock.now()))
        return
    _show_lines(state, item)


@directive_group.command("reply")
@DIRECTIVE
@click.option("--text", "text", required=True, help=N_("The reply: what was done."))
@JSON
@pass_state
def reply_cmd(state: State, directive_id: str, text: str, as_json: bool) -> None:
    """Reply to a directive (反馈); the reply goes up to the hub with the next batch."""
    from uplink import directives

    reply = clean_text(text, "--text", kind="note", multiline=True, required=True)
    ctx = state.ctx
    item = directives.reply(ctx.db, ctx.clock, ctx.operator, directive_id.strip(), reply)
    now = ctx.clock.now()
    if as_json:
        emit_json(item.to_json(now))
        return
    words, _late = state_words(item, now)
    message = _("reply to {id} recorded ({state}); it goes up with the next batch").format(
        id=item.id, state=words
    )
    click.echo(message)
