"""Provides ``dutydesk mobilize``, ``mobilization ...``, ``ack`` and ``serve``.

``mobilize`` only writes the mobilization and its first recipients; the engine (the console, or
``dutydesk serve``) sends. When no engine holds the lease the command says so, so a duty officer
is never left believing messages went out that are still queued.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from console.cli import render, tables
from console.cli.common import ROW_ID, State, emit_json, pass_state
from console.cli.tables import pad
from console.timefmt import clock, local, seconds_text
from contacts.phones import mask_phone, shown_key
from incidents.records import get_incident
from mobilization import (
    DEFAULT_TREE,
    AttemptKind,
    AttemptState,
    MobilizationState,
    Mode,
    RecipientState,
    Summary,
    Target,
    TargetKind,
    attempts_of,
    cancel_mobilization,
    ensure_default_tree,
    list_mobilizations,
    recipient_rows,
    record_answer,
    resend_silent,
    start_mobilization,
    summary,
    totals,
)
from store import lease
from store.clock import to_iso
from store.errors import InvalidInput
from store.i18n import N_, _, ngettext

JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
SPARK = "▁▂▃▄▅▆▇█"


def _engine_note(state: State) -> None:
    ctx = state.ctx
    if lease.current_holder(ctx.db, ctx.clock.now()) is None:
        click.echo(
            _(
                "note: no engine is running on this database; the messages are queued and go"
                " out when the console or `dutydesk serve` starts"
            ),
            err=True,
        )


def _paused_note(state: State) -> None:
    """While no engine holds the lease, say since when: nobody silent is escalated meanwhile."""
    from console.engine import paused_now

    ctx = state.ctx
    paused = paused_now(ctx.db, ctx.clock.now(), ctx.config.zone)
    if paused is not None:
        click.echo("⚠ " + paused, err=True)


@click.command("mobilize")
@click.option("--incident", "case", help=N_("The case this mobilization answers (number or id)."))
@click.option("--grid", "grids", multiple=True, help=N_("A grid to mobilize (repeatable)."))
@click.option("--team", "teams", multiple=True, help=N_("A team to mobilize (repeatable)."))
@click.option("--tree", "nodes", multiple=True, help=N_("A contact-tree node code (repeatable)."))
@click.option(
    "--tree-name", default=DEFAULT_TREE, show_default=True, help=N_("Which contact tree.")
)
@click.option("--message", required=True, help=N_("What people are told (at most 500 characters)."))
@click.option(
    "--mode",
    type=click.Choice([m.value for m in Mode]),
    default=Mode.CASCADE.value,
    show_default=True,
    help=N_("cascade: down the tree level by level; broadcast: everyone at once."),
)
@click.option(
    "--need",
    type=click.IntRange(1, 100_000),
    help=N_("Stand a grid/team down once this many said yes."),
)
@click.option("--exercise", is_flag=True, help=N_("A drill: marked as such, counted apart."))
@click.option(
    "--preview",
    is_flag=True,
    help=N_(
        "Start nothing: show who would be called per grid and team, the SMS and its"
        " segments, and the warnings."
    ),
)
@JSON
@pass_state
def mobilize(
    state: State,
    case: str | None,
    grids: tuple[str, ...],
    teams: tuple[str, ...],
    nodes: tuple[str, ...],
    tree_name: str,
    message: str,
    mode: str,
    need: int | None,
    exercise: bool,
    preview: bool,
    as_json: bool,
) -> None:
    """Start a mobilization through the contact tree; prints its id (--preview: start nothing)."""
    ctx = state.ctx
    targets = (
        [Target(TargetKind.GRID, g) for g in grids]
        + [Target(TargetKind.TEAM, t) for t in teams]
        + [Target(TargetKind.NODE, n) for n in nodes]
    )
    if not targets:
        raise InvalidInput(_("give --grid, --team or --tree at least once"), "targets")
    incident_id = get_incident(ctx.db, case).id if case else None
    ensure_default_tree(ctx.db, ctx.clock, ctx.operator, tree_name)  # a fresh installation
    warnings = _start_warnings(state, incident_id)
    if preview:
        _show_preview(state, targets, tree_name, message, mode, exercise, warnings, as_json)
        return
    for warning in warnings:
        click.echo("⚠ " + warning, err=True)
    mob_id = start_mobilization(
        ctx.db,
        ctx.clock,
        ctx.operator,
        targets=targets,
        message=message,
        mode=mode,
        need=need,
        exercise=exercise,
        incident_id=incident_id,
        tree=tree_name,
        interval_s=ctx.config.mobilize_interval_s,
        ttl=ctx.config.ack_ttl,
    )
    if as_json:
        emit_json(_summary_json(state, summary(ctx.db, mob_id, ctx.clock.now())))
    else:
        click.echo(mob_id)
    _engine_note(state)


def _start_warnings(state: State, incident_id: int | None) -> list[str]:
    """What the officer must know before messages go: the case's running mobilizations, links
    that would point at this machine."""
    from mobilization import is_loopback_url, running_for_incident

    ctx = state.ctx
    config = ctx.config
    warnings = [
        _(
            "mobilization #{id} is already running for this case: dutydesk mobilization show {id}"
        ).format(id=mob.id)
        for mob in (running_for_incident(ctx.db, incident_id) if incident_id else [])
    ]
    if config.channels.configured - {"log"} and (
        config.public_url is None or is_loopback_url(config.base_url)
    ):
        warnings.append(
            _(
                "reply links would point at {url}, which phones cannot open: set [serve] public_url"
            ).format(url=config.base_url)
        )
    return warnings


def _show_preview(
    state: State,
    targets: list[Target],
    tree_name: str,
    message: str,
    mode: str,
    exercise: bool,
    warnings: list[str],
    as_json: bool,
) -> None:
    """``mobilize --preview``: who would be called, the SMS as received, the warnings."""
    from mobilization import preview_mobilization, sample_sms

    ctx = state.ctx
    config = ctx.config
    sms = config.channels.sms
    now = ctx.clock.now()
    found = preview_mobilization(ctx.db, now, targets, tree=tree_name)
    text, length = sample_sms(
        message,
        exercise=exercise,
        now=now,
        base_url=config.base_url,
        ttl=config.ack_ttl,
        signature=sms.signature if sms else None,
        signature_at=sms.signature_at if sms else "start",
    )
    if as_json:
        emit_json(
            {
                "people": found.people,
                "groups": [
                    {"code": g.code or None, "label": g.label, "people": g.people}
                    for g in found.groups
                ],
                "unfilled": list(found.unfilled),
                "mode": mode,
                "exercise": exercise,
                "sms": {
                    "text": text,
                    "chars": length.chars,
                    "encoding": length.encoding,
                    "segments": length.segments,
                    "per_segment": length.per_segment,
                },
                "warnings": warnings,
            }
        )
        return
    groups = ", ".join(f"{g.label} {g.people}" for g in found.groups)
    click.echo(
        _("would call {count} people ({groups}) · {mode} · {kind}").format(
            count=found.people,
            groups=groups or "—",
            mode=Mode(mode).label,
            kind=_("EXERCISE") if exercise else _("REAL call-out, not a drill"),
        )
    )
    if found.unfilled:
        click.echo(
            _("nobody on post now (their alternates are called): {nodes}").format(
                nodes=", ".join(found.unfilled)
            )
        )
    segments = ngettext("{count} segment", "{count} segments", length.segments).format(
        count=length.segments
    )
    counted = _("{chars} characters, {segments} ({encoding}, {per} per segment)").format(
        chars=length.chars, segments=segments, encoding=length.encoding, per=length.per_segment
    )
    click.echo(_("SMS") + ": " + counted)
    click.echo(text)
    for warning in warnings:
        click.echo("⚠ " + warning, err=True)


@click.group("mobilization")
def mobilization() -> None:
    """Mobilizations: show progress (live with --watch), list, cancel, resend, people."""


def _counts_row(label: str, c: Any) -> list[str]:
    return [
        label,
        str(c.total),
        str(c.notified),
        str(c.yes),
        str(c.no),
        str(c.silent),
        str(c.unreachable),
        str(c.queued + c.stood_down + c.cancelled),
    ]


def _spark(values: list[int]) -> str:
    if not values:
        return ""
    top = max(values) or 1
    return "".join(SPARK[min(len(SPARK) - 1, v * (len(SPARK) - 1) // top)] for v in values[-60:])


def _render(state: State, s: Summary) -> Group:
    ctx = state.ctx
    mob = s.mobilization
    zone = ctx.config.zone
    words = [
        _("mobilization {id}").format(id=mob.id),
        *([_("[EXERCISE]")] if mob.exercise else []),
        mob.state.label,
        mob.mode.label,
        *([_("need {count}").format(count=mob.need)] if mob.need else []),
        *([_("case {number}").format(number=mob.incident_number)] if mob.incident_number else []),
    ]
    started = _("started {at} by {operator}: {message}").format(
        at=local(mob.created_at, zone), operator=mob.created_by, message=mob.message
    )
    head = Text("  ".join(words) + "\n" + started)
    columns = (
        N_("people"),
        N_("notified"),
        N_("yes"),
        N_("no"),
        N_("silent"),
        N_("unreachable"),
        N_("other"),
    )
    table = tables.table(
        ["", *(_(col) for col in columns)], no_wrap=False, right=range(1, len(columns) + 1)
    )
    table.add_row(*_counts_row(_("total"), s.total))
    for level, c in sorted(s.by_level.items()):
        table.add_row(*_counts_row(_("level {level}").format(level=level), c))
    for group, c in sorted(s.by_group.items()):
        table.add_row(*_counts_row(_("group {group}").format(group=group), c))
    answers = Text(
        _("time to answer p50 {p50}  p90 {p90}   answers/min {spark}").format(
            p50=seconds_text(s.p50_s), p90=seconds_text(s.p90_s), spark=_spark(s.answers_by_minute)
        )
    )
    parts: list[Any] = [head, table, answers]
    if s.silent:
        now = ctx.clock.now()
        headers = (N_("name"), N_("node"), N_("ack code"), N_("silent for"), N_("sends"))
        silent = tables.table(
            [_(col) for col in headers],
            title=_("still silent"),
            no_wrap=False,
            edge=True,
        )
        for p in s.silent:
            minutes = int((now - p.since).total_seconds() // 60)
            silent.add_row(
                p.name,
                p.node,
                p.ack_code,
                _("{minutes} min").format(minutes=minutes),
                str(p.sends),
            )
        parts.append(silent)
    return Group(*parts)


def _summary_json(state: State, s: Summary) -> dict[str, Any]:
    mob = s.mobilization
    return {
        "id": mob.id,
        "incident": mob.incident_number,
        "state": mob.state,
        "mode": mob.mode,
        "need": mob.need,
        "exercise": mob.exercise,
        "message": mob.message,
        "targets": list(mob.targets),
        "created_at": mob.created_at.isoformat(),
        "finished_at": mob.finished_at.isoformat() if mob.finished_at else None,
        "total": s.total.to_json(),
        "levels": {str(k): v.to_json() for k, v in sorted(s.by_level.items())},
        "groups": {k: v.to_json() for k, v in sorted(s.by_group.items())},
        "time_to_answer_s": {"p50": s.p50_s, "p90": s.p90_s},
        "answers_by_minute": s.answers_by_minute,
        "silent": [
            {
                "name": p.name,
                "node": p.node,
                "code": p.ack_code,
                "since": p.since.isoformat(),
                "sends": p.sends,
            }
            for p in s.silent
        ],
    }


@mobilization.command("show")
@click.argument("mobilization_id", type=ROW_ID)
@click.option("--watch", is_flag=True, help=N_("Keep updating until it ends (Ctrl-C to stop)."))
@click.option(
    "--every",
    type=click.FloatRange(0.1, 3600),
    default=1.0,
    show_default=True,
    help=N_("Seconds per update."),
)
@JSON
@pass_state
def show(state: State, mobilization_id: int, watch: bool, every: float, as_json: bool) -> None:
    """Counts per level and group, time to answer, who is still silent."""
    ctx = state.ctx
    s = summary(ctx.db, mobilization_id, ctx.clock.now())
    if s.mobilization.state == MobilizationState.ACTIVE:
        _paused_note(state)
    if as_json:
        emit_json(_summary_json(state, s))
        return
    console = Console()
    if not watch:
        console.print(_render(state, s))
        return
    try:
        with Live(_render(state, s), console=console, refresh_per_second=4) as live:
            while s.mobilization.state == MobilizationState.ACTIVE:
                time.sleep(max(0.2, every))
                s = summary(ctx.db, mobilization_id, ctx.clock.now())
                live.update(_render(state, s))
    except KeyboardInterrupt:
        return


@mobilization.command("list")
@click.option(
    "--state",
    "state_",
    type=click.Choice([s.value for s in MobilizationState]),
    help=N_("Only mobilizations in this state."),
)
@click.option("--exercise/--real", "exercise", default=None, help=N_("Only drills, or only real."))
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help=N_("How many.")
)
@JSON
@pass_state
def list_cmd(
    state: State, state_: str | None, exercise: bool | None, limit: int, as_json: bool
) -> None:
    """Mobilizations, newest first."""
    ctx = state.ctx
    mobs = list_mobilizations(ctx.db, state=state_, exercise=exercise, limit=limit)
    rows = [(m, totals(ctx.db, m.id)) for m in mobs]
    if as_json:
        emit_json(
            render.listing_json(
                {
                    "id": m.id,
                    "incident": m.incident_number,
                    "state": m.state,
                    "mode": m.mode,
                    "exercise": m.exercise,
                    "message": m.message,
                    "created_at": to_iso(m.created_at),
                    "total": t.to_json(),
                }
                for m, t in rows
            )
        )
        return
    if not rows:
        click.echo(_("no mobilizations"))
        return
    for m, t in rows:
        drill = " " + _("[EXERCISE]") if m.exercise else ""
        counts = _("yes {yes} no {no} silent {silent} unreachable {unreachable} of {total}").format(
            yes=t.yes, no=t.no, silent=t.silent, unreachable=t.unreachable, total=t.total
        )
        click.echo(
            f"{m.id:>5} {local(m.created_at, ctx.config.zone)}"
            f" {pad(m.state.label, 9)}"
            f" {pad(m.mode.label, 9)}{drill} {counts}  {m.message[:40]}"
        )


@mobilization.command("cancel")
@click.argument("mobilization_id", type=ROW_ID)
@pass_state
def cancel(state: State, mobilization_id: int) -> None:
    """Cancel it: nobody else is called, those already called are told."""
    ctx = state.ctx
    told = cancel_mobilization(ctx.db, ctx.clock, ctx.operator, mobilization_id)
    click.echo(
        _("mobilization {id} cancelled; {count} people will be told").format(
            id=mobilization_id, count=told
        )
    )
    if told:
        _engine_note(state)


@mobilization.command("resend")
@click.argument("mobilization_id", type=ROW_ID)
@pass_state
def resend(state: State, mobilization_id: int) -> None:
    """Call everyone still silent again now (the per-person interval still holds)."""
    ctx = state.ctx
    count = resend_silent(ctx.db, ctx.clock, ctx.operator, mobilization_id)
    click.echo(_("{count} silent people will be called again").format(count=count))
    if count:
        _engine_note(state)


@mobilization.command("people")
@click.argument("mobilization_id", type=ROW_ID)
@click.option("--attempts", "with_attempts", is_flag=True, help=N_("Every attempt of each person."))
@JSON
@pass_state
def people(state: State, mobilization_id: int, with_attempts: bool, as_json: bool) -> None:
    """Everyone called: state, sends, answer; phones masked."""
    ctx = state.ctx
    region = ctx.config.phone_region
    summary(ctx.db, mobilization_id, ctx.clock.now())  # NotFound for an unknown id
    rows = recipient_rows(ctx.db, mobilization_id)
    for row in rows:
        row["phone"] = mask_phone(row["phone"], region) if row["phone"] else None
        if row["key"]:
            row["key"] = shown_key(row["key"], region)
        if with_attempts:
            row["attempts"] = attempts_of(ctx.db, row["id"])
    if as_json:
        emit_json(render.listing_json(rows))
        return
    zone = ctx.config.zone
    for row in rows:
        answered = (
            " "
            + _("answered {at} via {via}").format(
                at=clock(row["answered_at"], zone, seconds=True), via=row["via"]
            )
            if row["via"]
            else ""
        )
        error = "  " + _("error: {error}").format(error=row["error"]) if row["error"] else ""
        sends = _("sends {count}").format(count=row["sends"])
        click.echo(
            f"{row['code']:>8} {pad(row['name'], 10)} {row['phone'] or '-':<16}"
            f" {pad(RecipientState(row['state']).label, 11)} {sends}{answered}{error}"
        )
        for a in row.get("attempts", []):
            round_ = _("round {round}").format(round=a["round"])
            click.echo(
                f"{'':>10}{pad(AttemptKind(a['kind']).label, 10)} {round_}"
                f" {a['channel'] or '-':<8} {pad(AttemptState(a['state']).label, 9)}"
                f" {clock(a['created_at'], zone, seconds=True)} {a['error'] or ''}"
            )


@click.command("ack")
@click.argument("code")
@click.option("--no", "negative", is_flag=True, help=N_("Can't come (default: coming)."))
@click.option("--eta", type=click.IntRange(0, 1440), help=N_("Minutes until arrival."))
@JSON
@pass_state
def ack(state: State, code: str, negative: bool, eta: int | None, as_json: bool) -> None:
    """Record an answer by its ack code (from the message, or told on the phone)."""
    ctx = state.ctx
    answer = record_answer(
        ctx.db, ctx.clock, ctx.operator, yes=not negative, via="cli", code=code, eta_min=eta
    )
    if as_json:
        emit_json(answer.to_json())
        return
    word = _("coming") if answer.yes else _("can't come")
    note = (
        " " + _("(first answer)")
        if answer.first
        else (" " + _("(changed)") if answer.changed else "")
    )
    click.echo(
        _("{name}: {answer} — mobilization {id}").format(
            name=answer.name, answer=word + note, id=answer.mobilization_id
        )
    )
