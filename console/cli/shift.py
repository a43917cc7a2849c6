"""Provides ``dutydesk shift``: the brief, hand over the shift, confirm a handover, list them."""

from __future__ import annotations

from typing import Any

import click

from console.cli import render
from console.cli.common import ROW_ID, State, emit_json, pass_state
from store.i18n import N_, _


@click.group("shift")
def shift_group() -> None:
    """Shift handover: brief, hand over, confirm, list."""


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


def _changes_lines(brief: Any, zone: Any) -> list[str]:
    """What changed since the previous confirmed handover, in words, a line a kind."""
    from console.timefmt import short

    ch = brief.changes
    if ch is None:
        return []
    if ch.handover_id is not None:
        head = _("since handover #{id} ({at}):").format(id=ch.handover_id, at=short(ch.since, zone))
    else:
        head = _("since {at} (no confirmed handover yet):").format(at=short(ch.since, zone))
    lines = [head]
    for label, part in (
        (_("new"), ch.opened),
        (_("closed"), ch.closed),
        (_("changed stage"), ch.changed),
    ):
        cases = []
        for case in part.items:
            move = (
                f" {case.was.label} → {case.stage.label}"
                if case.was is not None and case.was != case.stage
                else f" {case.stage.label}"
            )
            cases.append(f"{case.number} {case.title}{move}")
        more = [_("… +{count} more").format(count=part.more)] if part.more else []
        lines.append(f"  {label} {part.total}" + (": " + "; ".join(cases + more) if cases else ""))
    for label, part in (
        (_("mobilizations started"), brief.mobilizations_started),
        (_("mobilizations finished"), brief.mobilizations_finished),
    ):
        mobs = [
            f"#{m.id}"
            + (f" {m.number}" if m.number else "")
            + (f" {m.message}" if m.message else "")
            for m in part.items
        ]
        more = [_("… +{count} more").format(count=part.more)] if part.more else []
        lines.append(f"  {label} {part.total}" + (": " + "; ".join(mobs + more) if mobs else ""))
    return lines


def _reports_lines(brief: Any, now: Any, zone: Any) -> list[str]:
    """The information reports owed (``初报 2026-000123 due in 12 min``) and those gone late
    since the previous handover, a line each kind; nothing when there are none."""
    from console.sitrep_words import obligation_words

    lines = []
    for label, part in (
        (_("reports owed"), brief.reports_due),
        (_("reports late since the last handover"), brief.reports_late),
    ):
        if part.total:
            words = [obligation_words(o, now, zone, number=True) for o in part.items]
            more = [_("… +{count} more").format(count=part.more)] if part.more else []
            lines.append(f"  {label} {part.total}: " + "; ".join(words + more))
    return lines


def _shell_word(text: str) -> str:
    """``text`` as one word of a shell command: quoted only when it must be (李芳 stays)."""
    import re
    import shlex

    return text if re.fullmatch(r"[\w.@-]+", text) else shlex.quote(text)


def _brief_json(brief: Any) -> dict[str, Any]:
    """The brief's JSON: counts, the lists' case numbers, and what changed (with items)."""
    return {
        "at": render.iso(brief.at),
        **brief.summary(),
        "changes": brief.changes_json(),
        "reports": brief.reports_json(),
    }


@shift_group.command("brief")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def shift_brief_cmd(state: State, as_json: bool) -> None:
    """The handover brief now: the counts, and what changed since the last confirmed handover."""
    from reports.handover import handover_brief

    ctx = state.ctx
    brief = handover_brief(ctx.db, ctx.clock.now())
    if as_json:
        emit_json(_brief_json(brief))
        return
    if ctx.acting is not None:
        click.echo(_("acting: {name} ({why})").format(name=ctx.acting.name, why=ctx.acting.why))
    c = brief.counts
    click.echo(
        _(
            "now: {open} open, {overdue} overdue, {supervised} supervised, {parked} parked,"
            " {extensions} extensions waiting, {mobilizations} mobilizing"
        ).format(
            open=c.open,
            overdue=c.overdue,
            supervised=c.supervised,
            parked=c.parked,
            extensions=brief.extensions.total,
            mobilizations=brief.active_mobilizations,
        )
    )
    for label, part in ((_("overdue"), brief.overdue), (_("supervised"), brief.supervised)):
        if part.total:
            numbers = [f"{case.number} {case.title}" for case in part.items]
            click.echo(f"  {label}: " + "; ".join(numbers))
    for line in _reports_lines(brief, ctx.clock.now(), ctx.config.zone):
        click.echo(line)
    for line in _changes_lines(brief, ctx.config.zone):
        click.echo(line)


@shift_group.command("handover")
@click.option(
    "--to", "to", required=True, help=N_("The officer taking over (key, name or pinyin).")
)
@click.option("--note", default="", help=N_("What the next shift must know."))
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def shift_handover_cmd(state: State, to: str, note: str, as_json: bool) -> None:
    """Record the handover with the brief at this moment: the counts and what changed since."""
    from console.acting import lookup_person
    from incidents.supervision import shift_handover
    from reports.handover import HandoverBrief, handover_brief
    from store.text import clean_text

    ctx = state.ctx
    note = clean_text(note, "--note", kind="note", multiline=True)  # before looking anyone up
    successor = lookup_person(ctx.db, to, "--to", ctx.clock.now())
    read: list[HandoverBrief] = []

    def brief(db: Any, now: Any) -> HandoverBrief:
        read.append(handover_brief(db, now))
        return read[-1]

    handover = shift_handover(ctx.db, ctx.clock, ctx.operator, successor.name, note, brief=brief)
    c = handover.counts
    if as_json:
        emit_json({**_handover_json(handover), "changes": read[-1].changes_json()})
        return
    click.echo(
        _(
            "shift handed over from {giver} to {taker}: {open} open, {overdue} overdue,"
            " {supervised} supervised, {parked} parked (handover {id}, waiting for {taker}"
            " to confirm: {command})"
        ).format(
            giver=handover.from_operator,
            taker=handover.to_operator,
            open=c.open,
            overdue=c.overdue,
            supervised=c.supervised,
            parked=c.parked,
            id=handover.id,
            command=f"dutydesk --as {_shell_word(successor.name)} shift confirm {handover.id}",
        )
    )
    for line in _changes_lines(read[-1], ctx.config.zone):
        click.echo(line)


@shift_group.command("confirm")
@click.argument("handover_id", metavar="[ID]", type=ROW_ID, required=False)
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def shift_confirm_cmd(state: State, handover_id: int | None, as_json: bool) -> None:
    """Confirm, as the incoming officer, the handover ID (default: the one waiting for you).

    The incoming officer then holds the duty officer's post for the rest of the shift.
    """
    from console.acting import Acting, confirm_shift
    from console.timefmt import local

    ctx = state.ctx
    acting = ctx.acting or Acting(ctx.operator, None, "given")
    handover, _now_acting = confirm_shift(ctx.db, ctx.clock, acting, handover_id)
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
        from console.cli.render import listing_json

        emit_json(listing_json(_handover_json(h) for h in handovers))
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
