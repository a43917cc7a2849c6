"""Provides ``dutydesk report case``, ``report lesson`` and ``report action``.

The post-incident report of one case (:func:`reports.case.build_case_report`) in any format,
and the two entries a review adds to the case first: lessons learned and follow-up actions
(:mod:`incidents.review`). The group (:mod:`console.cli.report`) adds these commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.common import State, emit_json, parse_time, pass_state
from console.cli.report import common_options, emit_document
from store.i18n import N_, _

CASE = click.argument("case", metavar="CASE")


@click.command("case")
@CASE
@click.option(
    "--no-lessons", "no_lessons", is_flag=True, help=N_("Leave out lessons and follow-up actions.")
)
@common_options
@pass_state
def case_cmd(
    state: State,
    case: str,
    no_lessons: bool,
    fmt: str | None,
    output: Path | None,
    templates: Path | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """The post-incident report of a case: summary, stages against limits, mobilizations,
    information reports, lessons and the activity log."""
    from incidents.records import get_incident
    from reports.case import build_case_report

    ctx = state.ctx
    incident = get_incident(ctx.db, case)
    doc = build_case_report(
        ctx.db,
        incident.id,
        now=ctx.clock.now(),
        zone=ctx.config.zone,
        masked=not unmasked,
        lessons=not no_lessons,
        policy=ctx.policy,
    )
    emit_document(
        state,
        doc,
        fmt,
        output,
        templates=templates,
        as_json=as_json,
        audit_what="reporter_phone",
        audit_count=1,
        audit_cases=(incident.number,),
        incident_id=incident.id,
    )


@click.command("lesson")
@CASE
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def lesson_cmd(state: State, case: str, text: str, as_json: bool) -> None:
    """Add a lesson learned to a case (shown in its post-incident report)."""
    from incidents.records import get_incident
    from incidents.review import add_lesson

    ctx = state.ctx
    entry = add_lesson(ctx.db, ctx.clock, ctx.operator, case, text)
    number = get_incident(ctx.db, case).number
    if as_json:
        emit_json({"entry": entry, "case": number})
        return
    click.echo(_("lesson added to {number}").format(number=number))


@click.command("action")
@CASE
@click.argument("text")
@click.option("--owner", help=N_("Who carries the action out (a person, a unit)."))
@click.option("--due", help=N_("When it is due (2026-12-31, 2026-12-31 18:00, +7d)."))
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def action_cmd(
    state: State, case: str, text: str, owner: str | None, due: str | None, as_json: bool
) -> None:
    """Add a follow-up action to a case (shown in its post-incident report)."""
    from incidents.records import get_incident
    from incidents.review import add_action

    ctx = state.ctx
    when = parse_time(due, ctx.clock.now(), ctx.config.zone, "due") if due else None
    entry = add_action(ctx.db, ctx.clock, ctx.operator, case, text, owner=owner, due=when)
    number = get_incident(ctx.db, case).number
    if as_json:
        emit_json({"entry": entry, "case": number})
        return
    click.echo(_("follow-up action added to {number}").format(number=number))
