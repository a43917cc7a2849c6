"""Provides ``dutydesk incident ...``: logging cases and taking them through the closed loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click

from console.cli import render
from console.cli.common import MAX_ROW_ID, ROW_ID, State, emit_json, parse_time, pass_state
from console.cli.tables import out, pad
from console.timefmt import local, short
from console.timeline import written_targets
from contacts.directory import Target, describe, labels, resolve_target
from incidents import workflow as wf
from incidents.duplicates import WINDOW as DUPLICATE_WINDOW
from incidents.duplicates import (
    Call,
    Duplicate,
    add_call,
    caller_of,
    caller_text,
    find_duplicates,
)
from incidents.models import (
    CATEGORIES,
    Incident,
    Severity,
    Stage,
    Urgency,
    category_label,
    step_label,
    type_label,
)
from incidents.records import (
    ListFilter,
    NewIncident,
    create_incident,
    find_case,
    get_incident,
    list_incidents,
    list_tasks,
    record_reporter_phone_shown,
    search_incidents,
    tasks_of,
    timeline,
    validate_new,
)
from store.errors import InvalidInput
from store.i18n import N_, _

CASE = click.argument("case", metavar="CASE")
JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
UNMASKED = click.option(
    "--unmasked",
    is_flag=True,
    help=N_("Show reporters' full phone numbers (personal data: the showing is audited)."),
)


def _audit_unmasked(state: State, unmasked: bool, command: str, items: list[Incident]) -> None:
    """One ``personal_data_shown`` entry for an unmasked read, naming operator and cases."""
    if unmasked:
        ctx = state.ctx
        record_reporter_phone_shown(ctx.db, ctx.clock, ctx.operator, command, items)


def _named(code: str, label: str) -> str:
    """``code (label)``, or just the code where the label would only repeat it."""
    return code if label == code.replace("_", " ") else f"{code} ({label})"


def _choice_help() -> str:
    """Every category code with its type codes, each named in the current language."""
    return "\n".join(
        _named(code, category_label(code))
        + ": "
        + ", ".join(_named(t, type_label(t)) for t in types)
        for code, (_zh, types) in CATEGORIES.items()
    )


class _NewCommand(click.Command):
    """``incident new``, whose help ends with the categories and types, in the current language
    (built when the help is shown: the language is not known when the command is defined)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write_text(_("Categories and types (codes; the Chinese names work too):"))
        with formatter.indentation():
            for line in _choice_help().splitlines():
                formatter.write_text(line)


@click.group("incident")
def incident() -> None:
    """Cases: log, list, search and take them through the closed loop.

    CASE is a case number (2026-000123) or its id.
    """


def _done(state: State, item: Incident, as_json: bool, message: str) -> None:
    ctx = state.ctx
    if as_json:
        emit_json(item.to_json(ctx.clock.now()))
        return
    deadline = local(item.deadline, ctx.config.zone) if item.deadline else _("none")
    click.echo(
        _("{message}: now {stage}, deadline {deadline}").format(
            message=message, stage=item.stage.label, deadline=deadline
        )
    )


@incident.command("new", cls=_NewCommand)
@click.option("--title", required=True, help=N_("Short title, e.g. 'fire in building 3'."))
@click.option(
    "--category", help=N_("Category code or Chinese label (required unless --as-note-to).")
)
@click.option("--type", "type_", help=N_("Type within the category (default: other)."))
@click.option("--severity", default="IV", show_default=True, help=N_("Level I-IV (1-4)."))
@click.option(
    "--urgency", default="normal", show_default=True, help=N_("normal, urgent or very-urgent.")
)
@click.option("--description", default="", help=N_("What was reported."))
@click.option("--location", default="", help=N_("Address or place."))
@click.option("--lat", type=float, help=N_("Latitude (with --lon)."))
@click.option("--lon", type=float, help=N_("Longitude (with --lat)."))
@click.option("--grid", help=N_("Grid code, e.g. G001."))
@click.option("--reporter", help=N_("Reporter's name."))
@click.option("--phone", help=N_("Reporter's phone."))
@click.option(
    "--source",
    default="phone",
    show_default=True,
    help=N_("phone, hotline, grid-patrol, video, directive, sms, other."),
)
@click.option("--tag", "tags", multiple=True, help=N_("A tag (repeatable)."))
@click.option(
    "--as-note-to",
    "note_to",
    metavar="CASE",
    help=N_(
        "Add the call to this open case as a note naming the reporter as its caller, instead"
        " of logging a new case (for a likely duplicate)."
    ),
)
@JSON
@pass_state
def new(
    state: State,
    title: str,
    category: str,
    type_: str | None,
    severity: str,
    urgency: str,
    description: str,
    location: str,
    lat: float | None,
    lon: float | None,
    grid: str | None,
    reporter: str | None,
    phone: str | None,
    source: str,
    tags: tuple[str, ...],
    note_to: str | None,
    as_json: bool,
) -> None:
    """Log a reported case, and list the open cases it likely repeats.

    A call about a case already logged (same grid or place, similar words, last hours) is
    better added to it: --as-note-to CASE. A new case that turns out a duplicate is merged
    with `incident merge NEW ORIGINAL`.
    """
    ctx = state.ctx
    if note_to is not None:
        _add_call(state, note_to, title, description, reporter, phone, as_json)
        return
    if not category:
        raise click.UsageError(_("Missing option '--category' (needed unless --as-note-to)."))
    new_case = NewIncident(
        title=title,
        category=category,
        type=type_,
        severity=severity,
        urgency=urgency,
        description=description,
        location=location,
        lat=lat,
        lon=lon,
        grid=grid,
        reporter_name=reporter,
        reporter_phone=phone,
        source=source,
        tags=tags,
    )
    values = validate_new(new_case)
    call = Call(
        title=values["title"],
        description=values["description"],
        location=values["location"],
        grid=values["grid"],
        category=values["category"],
        type=values["type"],
    )
    found = find_duplicates(ctx.db, ctx.clock.now(), call)
    item = create_incident(ctx.db, ctx.clock, ctx.policy, ctx.operator, new_case)
    if as_json:
        emit_json({**item.to_json(ctx.clock.now()), "duplicates": [d.to_json() for d in found]})
        return
    _done(state, item, as_json, _("{number} logged").format(number=item.number))
    if found:
        _print_duplicates(state, found, item.number)


def _print_duplicates(state: State, found: list[Duplicate], number: str) -> None:
    """The likely duplicates of a case just logged, and what to do about them."""
    zone = state.ctx.config.zone
    click.echo(
        _("likely duplicates (open, same grid or place, similar words, last {hours} h):").format(
            hours=f"{DUPLICATE_WINDOW / timedelta(hours=1):g}"
        )
    )
    for dup in found:
        case = dup.incident
        place = " ".join(x for x in (case.grid or "", case.location) if x)
        click.echo(
            f"  {case.number}  {short(case.reported_at, zone)}  {pad(case.title, 24)}"
            f" {pad(place or '-', 20)} ({dup.reason_text()})"
        )
    click.echo(
        _(
            "the same call? merge it: dutydesk incident merge {number} {original}; next time add"
            " the call to the case with --as-note-to {original}"
        ).format(number=number, original=found[0].incident.number)
    )


def _add_call(
    state: State,
    case: str,
    title: str,
    description: str,
    reporter: str | None,
    phone: str | None,
    as_json: bool,
) -> None:
    """``incident new --as-note-to CASE``: the call becomes a note of CASE naming its caller."""
    ctx = state.ctx
    text = "\n".join(x for x in (title.strip(), description.strip()) if x)
    entry_id = add_call(
        ctx.db, ctx.clock, ctx.operator, case, text, caller_name=reporter, caller_phone=phone
    )
    number = get_incident(ctx.db, case).number
    caller = next((caller_of(e) for e in timeline(ctx.db, case) if e.id == entry_id), None)
    if as_json:
        emit_json({"entry": entry_id, "case": number, "caller": caller})
        return
    if caller:
        message = _("call added to {number} as a note (caller {caller})").format(
            number=number, caller=caller_text(caller)
        )
    else:
        message = _("call added to {number} as a note").format(number=number)
    click.echo(message)


def _parse_many(values: tuple[str, ...], parse: Callable[[str], Any], field: str) -> Any:
    out = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    out.append(parse(part))
                except ValueError as exc:
                    raise InvalidInput(str(exc), field) from exc
    return tuple(out) or None


def _stage(text: str) -> Stage:
    value = text.strip().lower()
    for stage in Stage:
        if value in (stage.value, stage.label_zh):
            return stage
    raise ValueError(
        _("unknown stage {text!r}; use one of {stages}").format(
            text=text, stages=", ".join(s.value for s in Stage)
        )
    )


@incident.command("list")
@click.option("--stage", "stages", multiple=True, help=N_("Stage(s), comma-separated or repeated."))
@click.option("--severity", "severities", multiple=True, help=N_("Level(s) I-IV."))
@click.option("--urgency", "urgencies", multiple=True, help=N_("Urgency(ies)."))
@click.option("--grid", help=N_("Grid code."))
@click.option("--overdue/--not-overdue", default=None, help=N_("Only (or no) overdue cases."))
@click.option(
    "--supervised/--not-supervised", default=None, help=N_("Only (or no) supervised cases.")
)
@click.option("--parked", is_flag=True, help=N_("Only parked cases."))
@click.option("--all", "include_all", is_flag=True, help=N_("Include parked and finished cases."))
@click.option("--text", help=N_("Full-text filter (Chinese and English)."))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--after", help=N_("Continue after this key (printed as next_after in --json)."))
@UNMASKED
@JSON
@pass_state
def list_cmd(
    state: State,
    stages: tuple[str, ...],
    severities: tuple[str, ...],
    urgencies: tuple[str, ...],
    grid: str | None,
    overdue: bool | None,
    supervised: bool | None,
    parked: bool,
    include_all: bool,
    text: str | None,
    limit: int,
    after: str | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """List cases sorted by deadline (the active queue unless told otherwise)."""
    ctx = state.ctx
    now = ctx.clock.now()
    flt = ListFilter(
        stages=_parse_many(stages, _stage, "stage"),
        severities=_parse_many(severities, Severity.parse, "severity"),
        urgencies=_parse_many(urgencies, Urgency.parse, "urgency"),
        grid=grid,
        overdue=overdue,
        supervised=supervised,
        parked=True if parked else (None if include_all else False),
        text=text,
        include_closed=include_all,
    )
    key = None
    if after:
        deadline, _sep, ident = after.rpartition("/")
        if not (ident.isascii() and ident.isdigit() and int(ident) <= MAX_ROW_ID):
            raise InvalidInput(
                _("{key!r} is not a key printed by a previous page").format(key=after), "after"
            )
        key = (deadline, int(ident))
    page = list_incidents(ctx.db, now, flt, after=key, limit=limit)
    _audit_unmasked(state, unmasked, "incident list", page.items)
    if as_json:
        emit_json(
            render.listing_json(
                (i.to_json(now, unmasked=unmasked) for i in page.items),
                f"{page.next_after[0]}/{page.next_after[1]}" if page.next_after else None,
            )
        )
        return
    if not page.items:
        click.echo(_("no cases match"))
        return
    shown = page.items if unmasked else [i.masked() for i in page.items]
    out().print(render.incident_table(shown, now, ctx.config.zone))
    if page.next_after:
        click.echo(
            _("more: --after {key}").format(key=f"{page.next_after[0]}/{page.next_after[1]}")
        )


@incident.command("show")
@CASE
@UNMASKED
@JSON
@pass_state
def show(state: State, case: str, unmasked: bool, as_json: bool) -> None:
    """Show one case with its timeline, tasks and extensions."""
    ctx = state.ctx
    now = ctx.clock.now()
    item = get_incident(ctx.db, find_case(ctx.db, case))
    _audit_unmasked(state, unmasked, "incident show", [item])
    entries = timeline(ctx.db, item.id)
    tasks = tasks_of(ctx.db, item.id)
    if as_json:
        data = item.to_json(now, unmasked=unmasked)
        data["allowed"] = wf.allowed_actions(item)
        data["timeline"] = [render.entry_json(e) for e in entries]
        data["tasks"] = [render.task_json(t, now) for t in tasks]
        data["extensions"] = [
            {
                "seq": e.seq,
                "status": e.status,
                "reason": e.reason,
                "until": render.iso(e.new_deadline),
                "requested_by": e.requested_by,
                "approvals": list(e.approvals),
                "approvals_needed": e.approvals_needed,
            }
            for e in wf.extensions_of(ctx.db, item.id)
        ]
        emit_json(data)
        return
    console = out()
    shown = item if unmasked else item.masked()
    names = labels(ctx.db, written_targets(item.assignee, entries))
    for part in render.incident_card(shown, entries, tasks, now, ctx.config.zone, names):
        console.print(part)
        console.print()
    steps = ", ".join(
        a if step_label(a) == a else _("{step} ({command})").format(step=step_label(a), command=a)
        for a in wf.allowed_actions(item)
    ) or _("none")
    console.print(_("next steps: {steps}").format(steps=steps))


def _step_command(
    name: str,
    help_text: str,
    func: Callable[..., Incident],
    message: str,
    *options: Callable[[Any], Any],
) -> None:
    def command(state: State, case: str, as_json: bool, **kwargs: Any) -> None:
        ctx = state.ctx
        item = func(ctx.db, ctx.clock, ctx.policy, ctx.operator, case, **kwargs)
        _done(state, item, as_json, _(message).format(number=item.number))

    command.__doc__ = help_text
    decorated: Any = command
    for option in reversed(options):
        decorated = option(decorated)
    incident.command(name)(pass_state(CASE(JSON(decorated))))


REASON = click.option("--reason", required=True, help=N_("Why (kept in the timeline)."))
NOTE = click.option("--note", help=N_("A note for the timeline."))

_step_command("register", N_("Register the case."), wf.register, N_("{number} registered"), NOTE)
TARGET_HELP = N_(
    "A grid, team, office or person: a name, code, key or phone, full pinyin or its initials"
    " (lj finds Liu Jing), or written grid:CODE, team:CODE, person:KEY. Refused, with the"
    " closest matches, unless it names exactly one."
)


def _resolved(state: State, text: str) -> Target:
    """The one target ``text`` names (:func:`contacts.directory.resolve_target`).

    Raises:
        InvalidInput: naming ``to``, with the closest matches: exit 2, nothing written.
    """
    ctx = state.ctx
    return resolve_target(
        ctx.db,
        text,
        field="to",
        offices=[ctx.policy.office_name],
        region=ctx.config.phone_region,
    )


@incident.command("dispatch")
@CASE
@click.option(
    "--to",
    "to",
    help=N_(
        "A grid, team, office or person: a name, code, key or phone, full pinyin or its"
        " initials, or written grid:CODE, team:CODE, person:KEY; refused, with the closest"
        " matches, unless it names exactly one. Default: the case's grid, else the duty office."
    ),
)
@JSON
@pass_state
def dispatch(state: State, case: str, to: str | None, as_json: bool) -> None:
    """Dispatch the case to a grid, team, office or person."""
    ctx = state.ctx
    target = _resolved(state, to).format() if to is not None and to.strip() else None
    item = wf.dispatch(ctx.db, ctx.clock, ctx.policy, ctx.operator, case, target)
    said = _("{number} dispatched to {target}").format(
        number=item.number, target=describe(ctx.db, item.assignee)
    )
    _done(state, item, as_json, said)


_step_command("handle", N_("Handling has started."), wf.handle, N_("{number} in handling"), NOTE)
_step_command(
    "feedback",
    N_("Report the result of handling."),
    wf.feedback,
    N_("{number} fed back"),
    click.option("--result", required=True, help=N_("What was done.")),
)
_step_command("close", N_("Close the case."), wf.close, N_("{number} closed"), NOTE)
_step_command(
    "void",
    N_("Void a false report, from reported/registered."),
    wf.void,
    N_("{number} voided"),
    REASON,
)
_step_command(
    "return",
    N_("Return to dispatched from handling/feedback."),
    wf.return_case,
    N_("{number} returned"),
    REASON,
)
_step_command(
    "park",
    N_("Park a long-running case: off the active queue, still visible."),
    wf.park,
    N_("{number} parked"),
    REASON,
)
_step_command(
    "unpark",
    N_("Bring a parked case back to the active queue."),
    wf.unpark,
    N_("{number} unparked"),
    NOTE,
)
_step_command(
    "reopen",
    N_("Reopen a closed case (back to handling)."),
    wf.reopen,
    N_("{number} reopened"),
    REASON,
)


@incident.command("verify")
@CASE
@click.option("--fail", "failed", is_flag=True, help=N_("Verification failed: back to handling."))
@click.option("--reason", help=N_("Why it failed (required with --fail), or a note."))
@JSON
@pass_state
def verify_cmd(state: State, case: str, failed: bool, reason: str | None, as_json: bool) -> None:
    """Verify the result; --fail sends the case back to handling."""
    ctx = state.ctx
    item = wf.verify(
        ctx.db, ctx.clock, ctx.policy, ctx.operator, case, passed=not failed, reason=reason
    )
    message = _("{number} failed verification") if failed else _("{number} verified")
    _done(state, item, as_json, message.format(number=item.number))


@incident.command("extend")
@CASE
@REASON
@click.option(
    "--until",
    "until",
    required=True,
    help=N_("New deadline: YYYY-MM-DD HH:MM (local), ISO-8601, or +4h / +2d."),
)
@JSON
@pass_state
def extend(state: State, case: str, reason: str, until: str, as_json: bool) -> None:
    """Request an extension of the current deadline; a shift lead approves it."""
    ctx = state.ctx
    when = parse_time(until, ctx.clock.now(), ctx.config.zone, "until")
    ext = wf.request_extension(
        ctx.db,
        ctx.clock,
        ctx.policy,
        ctx.operator,
        case,
        reason,
        when,
        max_extension=ctx.config.security.max_extension,
    )
    if as_json:
        emit_json(
            {
                "seq": ext.seq,
                "status": ext.status,
                "until": render.iso(ext.new_deadline),
                "approvals_needed": ext.approvals_needed,
            }
        )
        return
    click.echo(
        _(
            "extension {seq} requested until {until}; needs {count} approval(s) by a shift lead"
        ).format(
            seq=ext.seq,
            until=local(ext.new_deadline, ctx.config.zone),
            count=ext.approvals_needed,
        )
    )


@incident.command("approve-extension")
@CASE
@click.option("--reject", is_flag=True, help=N_("Reject instead of approving."))
@click.option("--reason", help=N_("Why (required with --reject)."))
@JSON
@pass_state
def approve_extension(
    state: State, case: str, reject: bool, reason: str | None, as_json: bool
) -> None:
    """Approve (or reject) the pending extension, acting as shift lead (--as NAME)."""
    ctx = state.ctx
    ext = wf.approve_extension(
        ctx.db, ctx.clock, ctx.policy, ctx.operator, case, reject=reject, reason=reason
    )
    if as_json:
        emit_json(
            {
                "seq": ext.seq,
                "status": ext.status,
                "approvals": list(ext.approvals),
                "approvals_needed": ext.approvals_needed,
                "until": render.iso(ext.new_deadline),
            }
        )
        return
    if ext.status == "granted":
        click.echo(
            _("extension {seq} granted: deadline now {until}").format(
                seq=ext.seq, until=local(ext.new_deadline, ctx.config.zone)
            )
        )
    elif ext.status == "rejected":
        click.echo(_("extension {seq} rejected").format(seq=ext.seq))
    else:
        click.echo(
            _("extension {seq} approved by {operator}; {count} more approval(s) needed").format(
                seq=ext.seq,
                operator=ctx.operator,
                count=ext.approvals_needed - len(ext.approvals),
            )
        )


@incident.command("merge")
@CASE
@click.argument("into_case", metavar="[INTO]", required=False)
@click.option("--into", "into", metavar="CASE", help=N_("The original case (or give it as INTO)."))
@JSON
@pass_state
def merge(state: State, case: str, into_case: str | None, into: str | None, as_json: bool) -> None:
    """Merge a duplicate CASE into its original INTO.

    The duplicate is finished with a link to the original, which refers to its notes and
    callers; nothing is copied or erased.
    """
    ctx = state.ctx
    if into_case and into and into_case.strip() != into.strip():
        raise InvalidInput(
            _("two different originals given ({a} and --into {b}); give one").format(
                a=into_case, b=into
            ),
            "into",
        )
    into = into or into_case
    if not into:
        raise click.UsageError(_("Missing the original case: INTO or --into CASE."))
    item = wf.merge(ctx.db, ctx.clock, ctx.policy, ctx.operator, case, into)
    original = get_incident(ctx.db, into).number
    _done(
        state,
        item,
        as_json,
        _("{number} merged into {original}").format(number=item.number, original=original),
    )


@incident.command("undo")
@CASE
@JSON
@pass_state
def undo(state: State, case: str, as_json: bool) -> None:
    """Take back your last step on CASE, within a few minutes of taking it.

    The case goes back to the stage it was in, with the time limit it had; the step and its
    undoing both stay in the timeline.
    """
    ctx = state.ctx
    item = wf.undo(ctx.db, ctx.clock, ctx.policy, ctx.operator, case)
    _done(state, item, as_json, _("{number}: last step undone").format(number=item.number))


@incident.command("note")
@CASE
@click.argument("text")
@JSON
@pass_state
def note(state: State, case: str, text: str, as_json: bool) -> None:
    """Add a note to the timeline (searchable)."""
    ctx = state.ctx
    entry_id = wf.add_note(ctx.db, ctx.clock, ctx.operator, case, text)
    if as_json:
        emit_json({"entry": entry_id, "case": get_incident(ctx.db, case).number})
        return
    click.echo(_("note added to {number}").format(number=get_incident(ctx.db, case).number))


@incident.command("assign")
@CASE
@click.option("--to", "to", required=True, help=TARGET_HELP)
@JSON
@pass_state
def assign(state: State, case: str, to: str, as_json: bool) -> None:
    """Name who is responsible for the case (stage unchanged)."""
    ctx = state.ctx
    item = wf.assign(ctx.db, ctx.clock, ctx.operator, case, _resolved(state, to).format())
    _done(
        state,
        item,
        as_json,
        _("{number} assigned to {assignee}").format(
            number=item.number, assignee=describe(ctx.db, item.assignee)
        ),
    )


@incident.command("edit")
@CASE
@click.option("--title")
@click.option("--description")
@click.option("--location")
@click.option("--severity")
@click.option("--urgency")
@click.option("--grid")
@click.option("--tag", "tags", multiple=True, help=N_("Replace the tags (repeatable)."))
@JSON
@pass_state
def edit(state: State, /, case: str, as_json: bool, tags: tuple[str, ...], **fields: Any) -> None:
    """Change fields of an open case; each change is kept in the timeline as old → new."""
    ctx = state.ctx
    changes = {k: v for k, v in fields.items() if v is not None}
    if tags:
        changes["tags"] = tags
    if not changes:
        raise InvalidInput(_("nothing to change; give at least one field option"), "field")
    item = wf.edit(ctx.db, ctx.clock, ctx.policy, ctx.operator, case, **changes)
    _done(state, item, as_json, _("{number} edited").format(number=item.number))


@incident.command("search")
@click.argument("text")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@UNMASKED
@JSON
@pass_state
def search(state: State, text: str, limit: int, unmasked: bool, as_json: bool) -> None:
    """Full-text search (title, description, location, notes), best match first."""
    ctx = state.ctx
    now = ctx.clock.now()
    hits = search_incidents(ctx.db, text, limit=limit + 1)  # one more: are there more?
    more, hits = len(hits) > limit, hits[:limit]
    _audit_unmasked(state, unmasked, "incident search", [h.incident for h in hits])
    if as_json:
        emit_json(
            render.listing_json(
                {**h.incident.to_json(now, unmasked=unmasked), "rank": h.rank} for h in hits
            )
        )
        return
    if not hits:
        click.echo(_("nothing found for {text!r}").format(text=text))
        return
    shown = [h.incident if unmasked else h.incident.masked() for h in hits]
    out().print(render.incident_table(shown, now, ctx.config.zone))
    if more:
        click.echo(
            _("the {limit} best matches; there are more: --limit {more}").format(
                limit=limit, more=min(limit * 5, 1000)
            )
        )


@incident.group("task")
def task() -> None:
    """Tasks of a case."""


@task.command("add")
@CASE
@click.option("--title", required=True)
@click.option("--owner")
@click.option("--due", help=N_("YYYY-MM-DD HH:MM (local), ISO-8601, or +4h / +2d."))
@JSON
@pass_state
def task_add(
    state: State, case: str, title: str, owner: str | None, due: str | None, as_json: bool
) -> None:
    """Add a task to a case."""
    ctx = state.ctx
    when = parse_time(due, ctx.clock.now(), ctx.config.zone, "due") if due else None
    item = wf.add_task(ctx.db, ctx.clock, ctx.operator, case, title, owner, when)
    if as_json:
        emit_json(render.task_json(item, ctx.clock.now()))
        return
    click.echo(_("task {id} added").format(id=item.id))


@task.command("done")
@click.argument("task_id", type=ROW_ID)
@JSON
@pass_state
def task_done(state: State, task_id: int, as_json: bool) -> None:
    """Mark a task done."""
    ctx = state.ctx
    item = wf.complete_task(ctx.db, ctx.clock, ctx.operator, task_id)
    if as_json:
        emit_json(render.task_json(item, ctx.clock.now()))
        return
    click.echo(_("task {id} done").format(id=item.id))


@task.command("list")
@click.option("--overdue", is_flag=True, help=N_("Only overdue tasks."))
@JSON
@pass_state
def task_list(state: State, overdue: bool, as_json: bool) -> None:
    """Open tasks (or only the overdue ones), earliest due first."""
    ctx = state.ctx
    now = ctx.clock.now()
    items = list_tasks(ctx.db, now, overdue_only=overdue)
    if as_json:
        emit_json(render.listing_json(render.task_json(t, now) for t in items))
        return
    if not items:
        click.echo(_("no open tasks") if not overdue else _("no overdue tasks"))
        return
    for t in items:
        flag = " " + _("OVERDUE") if t.overdue_at(now) else ""
        case = _("case {id}").format(id=t.incident_id)
        click.echo(
            f"{t.id:>5}  {pad(case, 11)} {local(t.due, ctx.config.zone):16}"
            f"  {pad(t.owner or '-', 10)} {t.title}{flag}"
        )
