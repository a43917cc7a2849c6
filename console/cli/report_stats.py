"""The ``report duty-log`` and ``report stats`` commands (the group is console.cli.report's)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from console.cli.common import State, emit_json, pass_state
from console.cli.report import common_options, emit_document
from store.errors import InvalidInput
from store.i18n import N_, _


def _day(text: str | None, field: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            _("not a date {text!r}; use YYYY-MM-DD").format(text=text), field
        ) from None


@click.command("duty-log")
@click.option("--date", "day", default=None, help=N_("The day, YYYY-MM-DD (default: today)."))
@common_options
@pass_state
def duty_log_cmd(
    state: State,
    day: str | None,
    fmt: str | None,
    output: Path | None,
    templates: Path | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """The duty log (值班日志) of one day: who was on duty, handovers, cases, warnings."""
    from reports.duty_log import build_duty_log

    ctx = state.ctx
    zone = ctx.config.zone
    now: datetime = ctx.clock.now()
    when = _day(day, "date", now.astimezone(zone).date())
    doc = build_duty_log(ctx.db, when, zone=zone, now=now, masked=not unmasked)
    emit_document(
        state,
        doc,
        fmt,
        output,
        templates=templates,
        as_json=as_json,
        audit_what=_("duty log {day}").format(day=when.isoformat()),
    )


@click.command("stats")
@click.option("--from", "start", default=None, help=N_("First day, YYYY-MM-DD (default: the 1st)."))
@click.option("--to", "end", default=None, help=N_("Last day, YYYY-MM-DD (default: today)."))
@click.option(
    "--by",
    type=click.Choice(["grid", "community", "category"]),
    default=None,
    help=N_("Split the evaluation figures."),
)
@click.option("--hub", is_flag=True, help=N_("Per township, from the hub's copies (at a hub)."))
@click.option("--target", type=float, default=90.0, show_default=True, help=N_("On-time goal, %."))
@common_options
@pass_state
def stats_cmd(
    state: State,
    start: str | None,
    end: str | None,
    by: str | None,
    hub: bool,
    target: float,
    fmt: str | None,
    output: Path | None,
    templates: Path | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """The office's statistics for a period, with the trend against the period before.

    With --json and no -o, prints every figure as JSON.
    """
    from reports.stats import build_stats_report, compute_stats, previous_period

    ctx = state.ctx
    zone = ctx.config.zone
    now: datetime = ctx.clock.now()
    today = now.astimezone(zone).date()
    last = _day(end, "to", today)
    first = _day(start, "from", last.replace(day=1))
    if not 0 <= target <= 100:
        raise InvalidInput(_("must be from 0 to 100"), "target")
    if hub and by is not None:
        raise InvalidInput(_("--hub splits per township; leave --by out"), "by")
    if hub:
        _hub_stats(state, first, last, target, fmt, output, templates, as_json)
        return
    stats = compute_stats(ctx.db, first, last, by=by, zone=zone, policy=ctx.policy)
    if as_json and output is None:
        emit_json(stats.to_json())
        return
    p_start, p_end = previous_period(first, last)
    previous = compute_stats(ctx.db, p_start, p_end, zone=zone, policy=ctx.policy)
    doc = build_stats_report(stats, previous, now=now, target=target)
    emit_document(state, doc, fmt, output, templates=templates, as_json=as_json)


def _hub_stats(
    state: State,
    first: date,
    last: date,
    target: float,
    fmt: str | None,
    output: Path | None,
    templates: Path | None,
    as_json: bool,
) -> None:
    from reports.hub_stats import build_hub_stats_report, compute_hub_stats

    ctx = state.ctx
    now: datetime = ctx.clock.now()
    stats = compute_hub_stats(
        ctx.db, first, last, zone=ctx.config.zone, rules=ctx.config.sitrep, now=now
    )
    if as_json and output is None:
        emit_json(stats.to_json())
        return
    doc = build_hub_stats_report(stats, now=now, target=target)
    emit_document(state, doc, fmt, output, templates=templates, as_json=as_json)
