"""Provides ``dutydesk drill ...``: plans, schedules, runs, evaluation, the improvement plan.

The shell of :mod:`drills`: times are read and shown in the office's zone (``timezone``), words
(kinds, hours, ratings, capability elements) are taken as codes or as the words shown, and every
listing and ``show`` prints the records' one JSON form with ``--json``. ``drill run`` only
writes the run and its exercise mobilization; the engine (the console, or ``dutydesk serve``)
sends, as for ``mobilize``. ``drill evaluate`` without options asks objective by objective,
Enter taking the proposed rating; with options it writes every rating, strength and
improvement item in one transaction, or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from console.cli import render
from console.cli.common import ROW_ID, State, emit_json, parse_date, parse_time, pass_state
from console.cli.tables import echo_fields
from console.cli.tables import print_table as print_rich_table
from console.timefmt import local, seconds_text, span
from drills import evaluation, improvements, plans, runs, schedules, trends
from drills.models import (
    DRILL_KIND_NAMES,
    ELEMENT_NAMES,
    HOURS_NAMES,
    DrillKind,
    Due,
    Element,
    Evaluation,
    Hours,
    Improvement,
    ImprovementState,
    Metric,
    Note,
    NoteKind,
    Objective,
    ObjectiveResult,
    Plan,
    Rating,
    RunState,
)
from store import lease
from store.clock import to_iso
from store.db import write
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import N_, _

W = TypeVar("W")
JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
EXPORT_DAYS = 400  # how far ahead the calendar file reaches
MAX_REMIND_MIN = 366 * 24 * 60
BAR_WIDTH = 20
FULLWIDTH_COLON = chr(0xFF1A)  # the colon a Chinese keyboard types: "2=S：理由"
_MINUTES = re.compile(r"^(\d{1,6})\s*([mhd]?)$")
# An epilog: console.cli.i18n translates it once the language is chosen. The leading \b
# keeps click from re-wrapping the examples.
PLAN_HELP = N_("""\b
Objectives: METRIC [TARGET%] [WITHINm] [level=N] [name=NAME] [: text]
  answer_rate 90% 10m level=1: ...  90 % at level 1 of the tree answer yes within 10 min
  reach 100% 5m                     somebody answers in every grid within 5 min
  first_answer 3m                   the first answer within 3 min
  milestone name=case_logged 3m     noted with: drill note RUN --milestone case_logged
  free: ...                         rated by the evaluator
Example:
  dutydesk drill plan add CT-MONTHLY --name "monthly call tree" --scope grid:G01
    --organizer A --message "drill: answer 1" --unannounced --hours after
    --objective "answer_rate 90% 10m: most answer within 10 min" --remind 1d""")
# What `plan edit --clear` may empty: the option's word -> the plan's keyword.
CLEARABLE = {
    "scope": "scope",
    "evaluators": "evaluators",
    "participants": "participants",
    "reminders": "reminders_min",
    "injects": "injects",
    "objectives": "objectives",
}


# ------------------------------------------------------------------------ reading words


def _word(text: str, choices: Iterable[tuple[W, Sequence[str]]], field: str) -> W:
    """The choice whose code or shown words match ``text`` (case and ``-``/``_`` ignored)."""

    def norm(word: str) -> str:
        return word.strip().lower().replace("-", "_").replace(" ", "_")

    wanted = norm(text)
    listed = list(choices)
    for value, words in listed:
        if wanted in {norm(w) for w in words}:
            return value
    raise InvalidInput(
        _("unknown value {value!r}: use one of {choices}").format(
            value=text, choices=", ".join(str(value) for value, _words in listed)
        ),
        field,
    )


def parse_kind(text: str) -> DrillKind:
    """A kind by its code (``notification``), its English word (``call-tree``), its shown
    word or its Chinese name (通信联络, 桌面推演, 单项演练, 综合演练)."""
    return _word(
        text,
        ((k, (k.value, DRILL_KIND_NAMES[k], k.label, k.label_zh)) for k in DrillKind),
        "kind",
    )


def parse_hours(text: str) -> Hours:
    return _word(text, ((h, (h.value, HOURS_NAMES[h], h.label)) for h in Hours), "hours")


def parse_element(text: str, field: str = "element") -> Element:
    return _word(text, ((e, (e.value, ELEMENT_NAMES[e], e.label)) for e in Element), field)


def parse_rating(text: str, field: str = "rating") -> Rating:
    try:
        return Rating(text.strip().upper())
    except ValueError:
        raise InvalidInput(
            _("{value!r} is not a rating: use P, S, M or U").format(value=text), field
        ) from None


def parse_minutes(text: str, field: str) -> int:
    """``90``, ``90m``, ``2h`` or ``7d`` as whole minutes (one minute to a year)."""
    match = _MINUTES.match(text.strip().lower())
    if match is None:
        raise InvalidInput(
            _("{text!r} is not a time before the drill; use minutes (90), 2h or 7d").format(
                text=text
            ),
            field,
        )
    minutes = int(match.group(1)) * {"": 1, "m": 1, "h": 60, "d": 1440}[match.group(2)]
    if not 1 <= minutes <= MAX_REMIND_MIN:
        raise InvalidInput(
            _("{text!r}: give between one minute and a year").format(text=text), field
        )
    return minutes


def minutes_text(minutes: int) -> str:
    """``7d``, ``1d``, ``1h``, ``90m``: a reminder's lead time, compactly."""
    if minutes % 1440 == 0:
        return _("{days}d").format(days=minutes // 1440)
    if minutes % 60 == 0:
        return _("{hours}h").format(hours=minutes // 60)
    return _("{minutes}m").format(minutes=minutes)


def parse_due(text: str, now: datetime, zone: ZoneInfo, field: str) -> datetime:
    """A due date: ``YYYY-MM-DD`` is the end of that local day; else a time (``+30d``)."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day: date = parse_date(value, field)
        return datetime.combine(day, time(23, 59), tzinfo=zone)
    return parse_time(value, now, zone, field)


def objective_number(objective: Objective) -> int:
    """The number people see and type for an objective: its position in the plan."""
    return objective.position


def find_objective(objectives: Sequence[Objective], ref: str, field: str) -> Objective:
    """An objective by its number, or by its metric or milestone name when only one has it."""
    word = ref.strip()
    if word.isdigit():
        for objective in objectives:
            if objective_number(objective) == int(word):
                return objective
    else:
        found = [o for o in objectives if word.lower() in {o.metric.value, (o.name or "").lower()}]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidInput(
                _("{ref!r} names several objectives: give its number ({numbers})").format(
                    ref=ref, numbers=", ".join(str(objective_number(o)) for o in found)
                ),
                field,
            )
    raise InvalidInput(
        _("no objective {ref!r}: the plan's are {numbers}").format(
            ref=ref,
            numbers=", ".join(str(objective_number(o)) for o in objectives) or _("none"),
        ),
        field,
    )


def needs_reason(result: ObjectiveResult, rating: Rating) -> bool:
    """A rating other than the proposal needs a reason; a free objective's only when M or U."""
    if result.objective.metric is Metric.FREE:
        return rating in (Rating.M, Rating.U)
    return rating is not result.proposed


# ------------------------------------------------------------------------ showing things


def value_text(result: ObjectiveResult) -> str:
    value, unit = result.value, result.objective.metric.unit
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.0f} %"
    return _("{minutes:.1f} min").format(minutes=value)


def measure_text(objective: Objective) -> str:
    """The objective's measure in words, or nothing where its text already says just that."""
    measure = objective.describe()
    return "" if measure == objective.text else measure


def rating_text(rating: Rating | None) -> str:
    return rating.value if rating is not None else "-"


def bar(rate: float, width: int = BAR_WIDTH) -> str:
    """``██████████░░░░░░░░░░  50 %``: a rate as a bar of ``width`` cells."""
    filled = max(0, min(width, round(rate * width / 100)))
    return "█" * filled + "░" * (width - filled) + f" {rate:3.0f} %"


def person_name(state: State, key: str) -> str:
    """``name (key)`` of a plan's person, or the key alone when the person is gone."""
    from contacts.people import get_person

    try:
        person = get_person(state.ctx.db, key, region=state.ctx.config.phone_region)
    except (NotFound, InvalidInput):
        return key
    return f"{person.name} ({key})" if person.name != key else key


def announced_text(plan: Plan) -> str:
    return _("announced") if plan.announced else _("unannounced")


def engine_note(state: State) -> None:
    ctx = state.ctx
    if lease.current_holder(ctx.db, ctx.clock.now()) is None:
        click.echo(
            _(
                "note: no engine is running on this database; the messages are queued and go"
                " out when the console or `dutydesk serve` starts"
            ),
            err=True,
        )


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A listing whose cells are plain text: a name or an issue "[like this]" is shown as
    typed, never read as rich markup."""
    from rich.text import Text

    print_rich_table(headers, [[Text(cell) for cell in row] for row in rows])


def write_file(path: Path, data: bytes | str, field: str) -> None:
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            _("cannot write {file}: {error}").format(file=path, error=exc), field
        ) from exc


# ------------------------------------------------------------------------ the group


@click.group("drill")
def drill() -> None:
    """Drills: plans, schedules and reminders, runs, evaluation, the improvement plan."""


@drill.group("plan")
def plan_group() -> None:
    """Drill plans: what is exercised, who takes part, the measurable objectives."""


def plan_options(edit: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of ``plan add`` and ``plan edit`` (on edit: a list given replaces it)."""
    options = [
        click.option("--name", required=not edit, help=N_("The plan's name.")),
        click.option(
            "--kind",
            metavar="KIND",
            help=N_(
                "What is exercised: notification (the call tree; the default), tabletop,"
                " functional or full_scale; the Chinese names are taken too."
            ),
        ),
        click.option("--scenario", help=N_("The case category/type exercised, e.g. flood.")),
        click.option(
            "--scope",
            "scopes",
            multiple=True,
            metavar="TARGET",
            help=N_("Who is called: grid:G01, team:CODE, node:CODE ... (repeatable)."),
        ),
        click.option(
            "--announced/--unannounced",
            "announced",
            default=None,
            help=N_("Whether participants know (unannounced: they get no reminders)."),
        ),
        click.option(
            "--hours",
            metavar="HOURS",
            help=N_("When it may fall: any, working or after (hours)."),
        ),
        click.option(
            "--organizer",
            required=not edit,
            metavar="PERSON",
            help=N_("Who organizes it (key, name or phone); reminded always."),
        ),
        click.option(
            "--evaluator",
            "evaluators",
            multiple=True,
            metavar="PERSON",
            help=N_("An evaluator (repeatable); reminded always."),
        ),
        click.option(
            "--participant",
            "participants",
            multiple=True,
            metavar="PERSON",
            help=N_("A participant (repeatable); reminded when the drill is announced."),
        ),
        click.option("--message", help=N_("The call-out text of the exercise mobilization.")),
        click.option("--tree", help=N_("The contact tree the call-out goes down.")),
        click.option(
            "--remind",
            "reminders",
            multiple=True,
            metavar="BEFORE",
            help=N_(
                "A reminder this long before: minutes, 2h or 7d (repeatable; default:"
                " [drills] reminders_minutes)."
            ),
        ),
        click.option(
            "--inject",
            "injects",
            multiple=True,
            metavar="TEXT",
            help=N_(
                'A scripted message: "10m text" (sent at 10 min), "show 25m text" (shown,'
                " not sent); repeatable."
            ),
        ),
        click.option(
            "--objective",
            "objectives",
            multiple=True,
            metavar="TEXT",
            help=N_(
                'An objective: "answer_rate 90% 10m level=1: text", "reach 100% 5m",'
                ' "first_answer 3m", "milestone name=case_logged 3m", "free: text"'
                " (repeatable)."
            ),
        ),
    ]
    if edit:
        options.append(
            click.option(
                "--clear",
                "cleared",
                multiple=True,
                type=click.Choice(sorted(CLEARABLE)),
                help=N_("Empty this list (repeatable)."),
            )
        )

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def plan_changes(options: dict[str, Any]) -> dict[str, Any]:
    """The keywords of :func:`drills.plans.add_plan` / ``edit_plan`` for the options given."""
    changes: dict[str, Any] = {}
    for key in ("name", "scenario", "organizer", "message", "tree", "announced"):
        if options.get(key) is not None:
            changes[key] = options[key]
    if options.get("kind") is not None:
        changes["kind"] = parse_kind(options["kind"])
    if options.get("hours") is not None:
        changes["hours"] = parse_hours(options["hours"])
    for key, keyword in (
        ("scopes", "scope"),
        ("evaluators", "evaluators"),
        ("participants", "participants"),
    ):
        if options.get(key):
            changes[keyword] = list(options[key])
    if options.get("reminders"):
        changes["reminders_min"] = sorted(
            {parse_minutes(text, "remind") for text in options["reminders"]}, reverse=True
        )
    if options.get("injects"):
        changes["injects"] = [plans.parse_inject(text, "inject") for text in options["injects"]]
    if options.get("objectives"):
        changes["objectives"] = [
            plans.parse_objective(text, "objective") for text in options["objectives"]
        ]
    for word in options.get("cleared") or ():
        keyword = CLEARABLE[word]
        if keyword in changes:
            raise InvalidInput(
                _("--clear {what} and new values at once: give one or the other").format(what=word),
                "clear",
            )
        changes[keyword] = []
    return changes


def print_plan(state: State, plan: Plan, as_json: bool) -> None:
    if as_json:
        emit_json(plan.to_json())
        return
    ctx = state.ctx
    people = ", ".join(person_name(state, key) for key in plan.participants)
    echo_fields(
        [
            (_("plan"), f"{plan.code} {plan.name}"),
            (_("kind"), f"{plan.kind.label}, {announced_text(plan)}, {plan.hours.label}"),
            (_("scenario"), plan.scenario or "-"),
            (_("scope"), ", ".join(plan.scope) or "-"),
            (_("organizer"), person_name(state, plan.organizer)),
            (_("evaluators"), ", ".join(person_name(state, k) for k in plan.evaluators) or "-"),
            (_("participants"), people or "-"),
            (_("message"), plan.message or "-"),
            (_("contact tree"), plan.tree),
            (_("reminders"), ", ".join(minutes_text(m) for m in plan.reminders_min) or "-"),
            (_("state"), _("in use") if plan.active else _("retired")),
        ]
    )
    if plan.objectives:
        click.echo()
        print_table(
            ["#", _("measure"), _("objective")],
            [(str(objective_number(o)), measure_text(o), o.text) for o in plan.objectives],
        )
    if plan.injects:
        click.echo()
        print_table(
            [_("at"), _("how"), _("inject")],
            [
                (
                    _("+{minutes:g} min").format(minutes=i.at_min),
                    _("sent") if i.send else _("shown"),
                    i.text,
                )
                for i in plan.injects
            ],
        )
    coming = schedules.upcoming(ctx.db, ctx.clock.now(), limit=3, plan=plan.code)
    if coming:
        click.echo()
        click.echo(
            _("next: {times}").format(times=", ".join(local(o.at, ctx.config.zone) for o in coming))
        )


@plan_group.command("add", epilog=PLAN_HELP)
@click.argument("code")
@plan_options(edit=False)
@JSON
@pass_state
def plan_add(state: State, /, code: str, as_json: bool, **options: Any) -> None:
    """Add a drill plan CODE: what is exercised, who takes part, how it is measured."""
    ctx = state.ctx
    changes = plan_changes(options)
    changes.setdefault("kind", DrillKind.NOTIFICATION)
    changes.setdefault("reminders_min", list(ctx.config.drills.reminders_min))
    plan = plans.add_plan(ctx.db, ctx.clock, ctx.operator, code=code, **changes)
    if as_json:
        emit_json(plan.to_json())
        return
    click.echo(
        _("plan {code} added: {name} ({kind}, {objectives} objective(s))").format(
            code=plan.code, name=plan.name, kind=plan.kind.label, objectives=len(plan.objectives)
        )
    )
    click.echo(_("schedule it with: dutydesk drill schedule {code} --at WHEN").format(code=code))


@plan_group.command("edit", epilog=PLAN_HELP)
@click.argument("plan")
@plan_options(edit=True)
@JSON
@pass_state
def plan_edit(state: State, /, plan: str, as_json: bool, **options: Any) -> None:
    """Change a plan (by code or id): only what is given changes; a list given replaces the
    plan's (new objectives replace the old, whose past ratings are kept)."""
    ctx = state.ctx
    changes = plan_changes(options)
    if not changes:
        raise InvalidInput(_("nothing to change: give at least one option"), "plan")
    edited = plans.edit_plan(ctx.db, ctx.clock, ctx.operator, plan, **changes)
    if as_json:
        emit_json(edited.to_json())
        return
    click.echo(
        _("plan {code} changed: {fields}").format(code=edited.code, fields=", ".join(changes))
    )


@plan_group.command("list")
@click.option("--all", "every", is_flag=True, help=N_("Retired plans too."))
@JSON
@pass_state
def plan_list(state: State, every: bool, as_json: bool) -> None:
    """Drill plans, by code."""
    ctx = state.ctx
    found = plans.list_plans(ctx.db, active=None if every else True)
    if as_json:
        emit_json(render.listing_json(p.to_json() for p in found))
        return
    if not found:
        click.echo(_("no drill plans (add one with: dutydesk drill plan add CODE ...)"))
        return
    print_table(
        [_("plan"), _("kind"), _("scope"), _("announced"), _("hours"), _("objectives")],
        [
            (
                f"{p.code} {p.name}" + ("" if p.active else " " + _("[retired]")),
                p.kind.label,
                ", ".join(p.scope) or "-",
                announced_text(p),
                p.hours.label,
                str(len(p.objectives)),
            )
            for p in found
        ],
    )


@plan_group.command("show")
@click.argument("plan")
@JSON
@pass_state
def plan_show(state: State, plan: str, as_json: bool) -> None:
    """A plan: its people, objectives, injects, reminders and next occurrences."""
    print_plan(state, plans.get_plan(state.ctx.db, plan), as_json)


@plan_group.command("retire")
@click.argument("plan")
@click.option("--undo", is_flag=True, help=N_("Make a retired plan active again."))
@JSON
@pass_state
def plan_retire(state: State, plan: str, undo: bool, as_json: bool) -> None:
    """Retire a plan: it can no longer run; its runs and schedules are kept."""
    ctx = state.ctx
    changed = plans.set_active(ctx.db, ctx.clock, ctx.operator, plan, undo)
    if as_json:
        emit_json(changed.to_json())
        return
    if undo:
        click.echo(_("plan {code} is active again").format(code=changed.code))
    else:
        click.echo(_("plan {code} retired").format(code=changed.code))


# ------------------------------------------------------------------------ schedules


@drill.command("schedule")
@click.argument("plan")
@click.option("--at", "at", metavar="WHEN", help=N_("One drill at WHEN (YYYY-MM-DD HH:MM, local)."))
@click.option(
    "--rrule",
    help=N_('Recurring, by an RFC 5545 rule: "FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9".'),
)
@click.option(
    "--start",
    metavar="WHEN",
    help=N_("With --rrule: the first day it may fall on (default: today)."),
)
@JSON
@pass_state
def schedule_cmd(
    state: State,
    plan: str,
    at: str | None,
    rrule: str | None,
    start: str | None,
    as_json: bool,
) -> None:
    """Schedule a plan once (--at) or recurring (--rrule), in the configured time zone."""
    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    if (at is None) == (rrule is None):
        raise InvalidInput(_("give --at WHEN or --rrule RULE (one of them)"), "at")
    if at is not None and start is not None:
        raise InvalidInput(_("--start goes with --rrule; --at is the time itself"), "start")
    first: datetime
    if at is not None:
        first = wall_time(parse_time(at, now, zone, "at"), zone)
    elif start is not None:
        first = wall_time(parse_time(start, now, zone, "start"), zone)
    else:
        if "BYHOUR" not in (rrule or "").upper():
            raise InvalidInput(
                _("say when in the day: BYHOUR=9 (and BYMINUTE) in the rule, or --start"),
                "rrule",
            )
        first = datetime.combine(now.astimezone(zone).date(), time())
    try:
        schedule = schedules.add_schedule(
            ctx.db,
            ctx.clock,
            ctx.operator,
            plan,
            start=first,
            zone=zone.key,
            rrule=rrule,
            working=ctx.config.policy.calendar.is_working,
        )
    except InvalidInput as exc:
        if at is not None and exc.field == "start":  # the time typed was --at's
            raise InvalidInput(exc.reason, "at") from exc
        raise
    coming = schedules.occurrences(schedule, now, now + timedelta(days=EXPORT_DAYS))[:3]
    if as_json:
        emit_json({**schedule.to_json(), "next": [to_iso(o) for o in coming]})
        return
    click.echo(
        _("schedule {id}: {plan} {rule}").format(
            id=schedule.id, plan=schedule.plan_code, rule=schedule.rrule or _("once")
        )
    )
    click.echo(
        _("next: {times}").format(times=", ".join(local(o, zone) for o in coming) or _("none"))
    )


def wall_time(parsed: datetime, zone: ZoneInfo) -> datetime:
    """A time typed as local wall time stays naive (the schedule keeps the wall time, even in
    a gap or a fold of daylight saving); one with an offset, or relative, is aware."""
    return parsed.replace(tzinfo=None) if parsed.tzinfo is zone else parsed


@drill.command("cancel")
@click.argument("schedule_id", type=ROW_ID)
@click.option(
    "--at",
    "at",
    metavar="WHEN",
    help=N_("Only the occurrence at WHEN (local), not the whole schedule."),
)
@JSON
@pass_state
def cancel_cmd(state: State, schedule_id: int, at: str | None, as_json: bool) -> None:
    """Cancel a schedule, or one of its occurrences: no run, no more reminders."""
    ctx = state.ctx
    zone = ctx.config.zone
    occurrence = parse_time(at, ctx.clock.now(), zone, "at") if at else None
    schedule = schedules.cancel_schedule(
        ctx.db, ctx.clock, ctx.operator, schedule_id, occurrence=occurrence
    )
    if as_json:
        emit_json(schedule.to_json())
        return
    if occurrence is None:
        click.echo(_("schedule {id} cancelled").format(id=schedule.id))
    else:
        click.echo(
            _("the drill of {at} (schedule {id}) cancelled").format(
                at=local(occurrence, zone), id=schedule.id
            )
        )


# ------------------------------------------------------------------------ runs


@drill.command("run")
@click.argument("plan")
@click.option("--now", "at_once", is_flag=True, help=N_("Start it now, without asking."))
@click.option("--yes", "-y", "yes", is_flag=True, help=N_("Do not ask for confirmation."))
@JSON
@pass_state
def run_cmd(state: State, plan: str, at_once: bool, yes: bool, as_json: bool) -> None:
    """Start a run of PLAN now; prints the run's id (and its exercise mobilization's)."""
    ctx = state.ctx
    found = plans.get_plan(ctx.db, plan)
    if not (at_once or yes):
        click.confirm(
            _("start drill {code} ({name}, {kind}, {scope}) now?").format(
                code=found.code,
                name=found.name,
                kind=found.kind.label,
                scope=", ".join(found.scope) or "-",
            ),
            abort=True,
            err=True,
        )
    run = runs.start_run(ctx.db, ctx.clock, ctx.operator, found)
    if as_json:
        emit_json(run.to_json())
    else:
        click.echo(
            _("run {id} started: {code} {name}").format(id=run.id, code=found.code, name=found.name)
        )
        if run.mobilization_id is not None:
            click.echo(
                _("exercise mobilization {id}: dutydesk mobilization show {id} --watch").format(
                    id=run.mobilization_id
                )
            )
    if run.mobilization_id is not None or any(i.send for i in found.injects):
        engine_note(state)


@drill.command("stop")
@click.argument("run_id", type=ROW_ID)
@click.option("--reason", required=True, help=N_("Why: the real emergency."))
@JSON
@pass_state
def stop_cmd(state: State, run_id: int, reason: str, as_json: bool) -> None:
    """Stop a running drill at once (a real emergency): its call-out is cancelled and
    everyone taking part is told."""
    ctx = state.ctx
    run = runs.stop_run(ctx.db, ctx.clock, ctx.operator, run_id, reason)
    if as_json:
        emit_json(run.to_json())
        return
    click.echo(
        _("run {id} stopped: {reason}; those taking part are told").format(id=run.id, reason=reason)
    )
    engine_note(state)


@drill.command("end")
@click.argument("run_id", type=ROW_ID)
@JSON
@pass_state
def end_cmd(state: State, run_id: int, as_json: bool) -> None:
    """End a running drill (its call-out stops); then evaluate it."""
    ctx = state.ctx
    run = runs.end_run(ctx.db, ctx.clock, ctx.operator, run_id)
    if as_json:
        emit_json(run.to_json())
        return
    click.echo(
        _("run {id} ended; evaluate it with: dutydesk drill evaluate {id}").format(id=run.id)
    )


@drill.command("list")
@click.option(
    "--upcoming",
    "view",
    flag_value="upcoming",
    default=True,
    help=N_("Coming drills, next reminders, missed moments (the default)."),
)
@click.option("--history", "view", flag_value="history", help=N_("Past runs with their ratings."))
@click.option("--running", "view", flag_value="running", help=N_("Runs going on now."))
@click.option("--plan", help=N_("Only this plan's."))
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help=N_("How many.")
)
@JSON
@pass_state
def list_cmd(state: State, view: str, plan: str | None, limit: int, as_json: bool) -> None:
    """Drills coming (--upcoming), past (--history) or going on (--running)."""
    only = plans.get_plan(state.ctx.db, plan) if plan is not None else None
    if view == "history":
        list_history(state, only, limit, as_json)
    elif view == "running":
        list_running(state, only, as_json)
    else:
        list_upcoming(state, only, limit, as_json)


def list_upcoming(state: State, plan: Plan | None, limit: int, as_json: bool) -> None:
    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    coming = schedules.upcoming(
        ctx.db, now, limit=limit, plan=plan.id if plan else None, include_cancelled=True
    )
    codes: dict[int, str] = {}

    def code_of(due: Due) -> str:
        if due.schedule_id not in codes:
            codes[due.schedule_id] = schedules.get_schedule(ctx.db, due.schedule_id).plan_code
        return codes[due.schedule_id]

    missed = [
        d
        for d in schedules.missed(ctx.db, since=now - timedelta(days=30), limit=limit)
        if plan is None or code_of(d) == plan.code
    ]
    if as_json:
        emit_json(
            render.listing_json((o.to_json() for o in coming), missed=[d.to_json() for d in missed])
        )
        return
    if not coming:
        click.echo(_("no drills scheduled"))
    else:
        print_table(
            [
                _("when"),
                _("in"),
                _("plan"),
                _("kind"),
                _("announced"),
                _("next reminder"),
                _("schedule"),
            ],
            [
                (
                    local(o.at, zone) + (" " + _("[cancelled]") if o.cancelled else ""),
                    span(o.at - now),
                    f"{o.plan_code} {o.plan_name}",
                    o.kind.label,
                    _("announced") if o.announced else _("unannounced"),
                    local(o.next_reminder, zone) or "-",
                    str(o.schedule_id),
                )
                for o in coming
            ],
        )
    if missed:
        click.echo()
        click.echo(_("missed in the last 30 days (no engine was running):"))
        print_table(
            [_("drill of"), _("plan"), _("what"), _("outcome"), _("late by")],
            [
                (
                    local(d.occurrence, zone),
                    code_of(d),
                    what_text(d.what),
                    d.outcome.label,
                    span(timedelta(seconds=d.late_s)) if d.late_s else "-",
                )
                for d in missed
            ],
        )


def what_text(what: str) -> str:
    """A claim's ``what``: the run itself, or the reminder so long before."""
    kind, _sep, minutes = what.partition(":")
    if kind == "remind" and minutes.isdigit():
        return _("reminder {before} before").format(before=minutes_text(int(minutes)))
    return _("the drill")


def ratings_summary(ev: Evaluation) -> str:
    """``P P S -``: each objective's confirmed rating, ``-`` where not yet rated."""
    return " ".join(rating_text(r.rating) for r in ev.results) or "-"


def list_history(state: State, plan: Plan | None, limit: int, as_json: bool) -> None:
    ctx = state.ctx
    zone = ctx.config.zone
    done = runs.list_runs(
        ctx.db,
        plan=plan.id if plan else None,
        states=[RunState.ENDED, RunState.STOPPED, RunState.EVALUATED],
        limit=limit,
    )
    evaluations = [evaluation.evaluation(ctx.db, r.id) for r in done]
    if as_json:
        emit_json(
            render.listing_json(
                {
                    **ev.run.to_json(),
                    "answer_rate": round(ev.metrics.answer_rate, 1) if ev.metrics.called else None,
                    "ratings": [r.to_json() for r in ev.results],
                }
                for ev in evaluations
            )
        )
        return
    if not evaluations:
        click.echo(_("no past drills"))
        return
    print_table(
        [
            _("run"),
            _("started"),
            _("plan"),
            _("state"),
            _("answer rate"),
            _("ratings"),
            _("open items"),
        ],
        [
            (
                str(ev.run.id),
                local(ev.run.started_at, zone),
                f"{ev.run.plan_code} {ev.run.plan_name}",
                ev.run.state.label,
                f"{ev.metrics.answer_rate:.0f} %" if ev.metrics.called else "-",
                ratings_summary(ev),
                str(sum(1 for i in ev.improvements if i.state is not ImprovementState.CLOSED)),
            )
            for ev in evaluations
        ],
    )


def list_running(state: State, plan: Plan | None, as_json: bool) -> None:
    from mobilization import totals

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    going = [r for r in runs.running(ctx.db) if plan is None or r.plan_id == plan.id]
    counts = {r.id: totals(ctx.db, r.mobilization_id) for r in going if r.mobilization_id}
    if as_json:
        emit_json(
            render.listing_json(
                {**r.to_json(), "answers": counts[r.id].to_json() if r.id in counts else None}
                for r in going
            )
        )
        return
    if not going:
        click.echo(_("no drill is running"))
        return
    rows = []
    for r in going:
        c = counts.get(r.id)
        answers = (
            bar(100.0 * c.yes / c.total if c.total else 0.0)
            + " "
            + _("yes {yes} no {no} silent {silent} of {total}").format(
                yes=c.yes, no=c.no, silent=c.silent, total=c.total
            )
            if c is not None
            else "-"
        )
        rows.append(
            (
                str(r.id),
                f"{r.plan_code} {r.plan_name}",
                local(r.started_at, zone),
                span(now - r.started_at),
                str(r.mobilization_id or "-"),
                answers,
            )
        )
    print_table(
        [_("run"), _("plan"), _("started"), _("for"), _("mobilization"), _("answers")], rows
    )


@drill.command("show")
@click.argument("run_id", type=ROW_ID)
@JSON
@pass_state
def show_cmd(state: State, run_id: int, as_json: bool) -> None:
    """A run: its figures, objectives (measured, proposed, confirmed), notes, improvements."""
    ctx = state.ctx
    ev = evaluation.evaluation(ctx.db, run_id)
    if as_json:
        emit_json(ev.to_json())
        return
    print_evaluation(state, ev)


def print_evaluation(state: State, ev: Evaluation) -> None:
    ctx = state.ctx
    zone = ctx.config.zone
    run, m = ev.run, ev.metrics
    fields = [
        (_("run"), f"{run.id}  {run.plan_code} {run.plan_name}  ({run.kind.label})"),
        (_("state"), run.state.label + (f": {run.stop_reason}" if run.stop_reason else "")),
        (
            _("started"),
            _("{at} by {operator}").format(at=local(run.started_at, zone), operator=run.started_by),
        ),
    ]
    if run.late_s:
        fields.append((_("late by"), span(timedelta(seconds=run.late_s))))
    if run.ended_at:
        fields.append((_("ended"), local(run.ended_at, zone)))
    if run.mobilization_id:
        fields.append((_("mobilization"), str(run.mobilization_id)))
    if m.called:
        fields += [
            (
                _("answers"),
                _("yes {yes} no {no} silent {silent} of {total}").format(
                    yes=m.yes, no=m.no, silent=m.silent, total=m.called
                ),
            ),
            (_("answer rate"), bar(m.answer_rate)),
            (
                _("time to answer"),
                _("first {first}  p50 {p50}  p90 {p90}").format(
                    first=seconds_text(m.first_answer_s),
                    p50=seconds_text(m.p50_s),
                    p90=seconds_text(m.p90_s),
                ),
            ),
        ]
    echo_fields(fields)
    figures = [*m.by_level, *m.by_group]
    if figures:
        click.echo()
        print_table(
            ["", _("called"), _("yes"), _("no"), _("silent"), _("answer rate"), "p50"],
            [
                (
                    g.key,
                    str(g.called),
                    str(g.yes),
                    str(g.no),
                    str(g.silent),
                    bar(g.rate, 10),
                    seconds_text(g.p50_s),
                )
                for g in figures
            ],
        )
    if ev.results:
        click.echo()
        print_table(
            [
                "#",
                _("objective"),
                _("measure"),
                _("measured"),
                _("proposed"),
                _("rating"),
                _("reason"),
            ],
            [
                (
                    str(objective_number(r.objective)),
                    r.objective.text,
                    measure_text(r.objective),
                    value_text(r),
                    rating_text(r.proposed),
                    rating_text(r.rating),
                    r.reason or "",
                )
                for r in ev.results
            ],
        )
    if m.never_answered:
        click.echo()
        click.echo(_("never answered ({count}):").format(count=len(m.never_answered)))
        for s in m.never_answered:
            click.echo(f"  {s.name}  {s.node}  {s.phone_masked}")
    if ev.notes:
        click.echo()
        print_table(
            [_("at"), _("note"), _("by"), _("text")],
            [(local(n.at, zone), n.kind.label, n.by, n.text) for n in ev.notes],
        )
    if ev.improvements:
        click.echo()
        print_improvements(state, list(ev.improvements))


@drill.command("note")
@click.argument("run_id", type=ROW_ID)
@click.argument("text", required=False)
@click.option("--strength", is_flag=True, help=N_("A strength, for the after-action report."))
@click.option(
    "--milestone",
    metavar="NAME",
    help=N_("A milestone an objective measures (case_logged): reached now, or --at."),
)
@click.option("--at", "at", metavar="WHEN", help=N_("When it happened (default: now)."))
@JSON
@pass_state
def note_cmd(
    state: State,
    run_id: int,
    text: str | None,
    strength: bool,
    milestone: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Note an observation on a run, a strength, or a milestone reached (with TEXT besides,
    an observation is noted with it); --json prints the notes written."""
    ctx = state.ctx
    if strength and milestone is not None:
        raise InvalidInput(_("a note is a strength or a milestone, not both"), "milestone")
    if text is None and milestone is None:
        raise InvalidInput(_("give the note's text"), "text")
    when = parse_time(at, ctx.clock.now(), ctx.config.zone, "at") if at else None
    written: list[Note] = []
    with write(ctx.db):
        if milestone is not None:
            written.append(
                runs.add_note(
                    ctx.db, ctx.clock, ctx.operator, run_id, NoteKind.MILESTONE, milestone, at=when
                )
            )
        if text is not None:
            kind = NoteKind.STRENGTH if strength else NoteKind.OBSERVATION
            written.append(
                runs.add_note(ctx.db, ctx.clock, ctx.operator, run_id, kind, text, at=when)
            )
    if as_json:
        emit_json(render.listing_json(n.to_json() for n in written))
        return
    for note in written:
        click.echo(
            _("{kind} noted on run {run} at {at}").format(
                kind=note.kind.label, run=run_id, at=local(note.at, ctx.config.zone)
            )
        )


# ------------------------------------------------------------------------ evaluation


def parse_rate(text: str, objectives: Sequence[Objective]) -> tuple[Objective, Rating, str | None]:
    """``OBJ=P`` or ``OBJ=S:reason`` (OBJ: the objective's number, metric or milestone)."""
    ref, sep, rest = text.partition("=")
    if not sep:
        raise InvalidInput(_("{text!r}: use OBJ=P or OBJ=S:reason").format(text=text), "rate")
    rest = rest.replace(FULLWIDTH_COLON, ":")
    code, _sep, reason = rest.partition(":")
    return (
        find_objective(objectives, ref, "rate"),
        parse_rating(code, "rate"),
        reason.strip() or None,
    )


def parse_improvement(
    text: str, objectives: Sequence[Objective], now: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """``issue | action | element | owner | due [| objective]`` as add_improvement's keywords."""
    parts = [p.strip() for p in text.split("|")]
    if len(parts) not in (5, 6) or not all(parts[:5]):
        raise InvalidInput(
            _('{text!r}: use "issue | action | element | owner | due [| objective]"').format(
                text=text
            ),
            "improve",
        )
    objective = (
        find_objective(objectives, parts[5], "improve") if len(parts) == 6 and parts[5] else None
    )
    return {
        "issue": parts[0],
        "action": parts[1],
        "element": parse_element(parts[2], "improve"),
        "owner": parts[3],
        "due": parse_due(parts[4], now, zone, "improve"),
        "objective_id": objective.id if objective is not None else None,
    }


@drill.command("evaluate")
@click.argument("run_id", type=ROW_ID)
@click.option(
    "--rate",
    "rates",
    multiple=True,
    metavar="OBJ=R[:REASON]",
    help=N_(
        "Confirm or change an objective's rating: 1=P, 2=S:reason (a rating other than the"
        " proposal needs a reason); repeatable."
    ),
)
@click.option(
    "--strength", "strengths", multiple=True, metavar="TEXT", help=N_("A strength (repeatable).")
)
@click.option(
    "--improve",
    "improve",
    multiple=True,
    metavar="ITEM",
    help=N_(
        'An improvement item: "issue | action | element | owner | due [| objective]";'
        " element: planning, organization, equipment, training or exercise (repeatable)."
    ),
)
@JSON
@pass_state
def evaluate_cmd(
    state: State,
    run_id: int,
    rates: tuple[str, ...],
    strengths: tuple[str, ...],
    improve: tuple[str, ...],
    as_json: bool,
) -> None:
    """Evaluate a run that ended: confirm or change each objective's proposed rating, note
    strengths and improvement items. Without options, asks objective by objective (Enter
    takes the proposal)."""
    ctx = state.ctx
    ev = evaluation.evaluation(ctx.db, run_id)
    if not (rates or strengths or improve):
        evaluate_interactively(state, ev)
    else:
        now, zone = ctx.clock.now(), ctx.config.zone
        objectives = [r.objective for r in ev.results]
        ratings = [parse_rate(text, objectives) for text in rates]
        items = [parse_improvement(text, objectives, now, zone) for text in improve]
        with write(ctx.db):  # all of it, or nothing
            for objective, rating, reason in ratings:
                evaluation.rate(
                    ctx.db, ctx.clock, ctx.operator, run_id, objective.id, rating, reason
                )
            for text in strengths:
                runs.add_note(ctx.db, ctx.clock, ctx.operator, run_id, NoteKind.STRENGTH, text)
            for item in items:
                improvements.add_improvement(ctx.db, ctx.clock, ctx.operator, run_id, **item)
    ev = evaluation.evaluation(ctx.db, run_id)
    if as_json:
        emit_json(ev.to_json())
        return
    rated = sum(1 for r in ev.results if r.rating is not None)
    click.echo(
        _(
            "run {id}: {rated} of {total} objectives rated ({ratings}); {items} improvement item(s)"
        ).format(
            id=run_id,
            rated=rated,
            total=len(ev.results),
            ratings=ratings_summary(ev),
            items=len(ev.improvements),
        )
    )
    if ev.complete:
        click.echo(
            _("the after-action report: dutydesk drill report {id} -o aar.md").format(id=run_id)
        )


def evaluate_interactively(state: State, ev: Evaluation) -> None:
    """Ask for each objective's rating (Enter: the proposal, or the rating already given),
    a reason where one is needed, then strengths and improvement items until an empty line."""
    ctx = state.ctx
    run_id = ev.run.id
    if ev.run.is_running:
        raise InvalidTransition(
            _("run {id} is still running: end it first (dutydesk drill end {id})").format(id=run_id)
        )
    for result in ev.results:
        objective = result.objective
        click.echo(err=True)
        click.echo(f"{objective_number(objective)}. {objective.text}", err=True)
        if result.proposed is not None or result.value is not None:
            click.echo(
                "   "
                + _("{measure}: measured {value}, proposed {proposed}").format(
                    measure=objective.describe(),
                    value=value_text(result),
                    proposed=rating_text(result.proposed),
                ),
                err=True,
            )
        elif measure_text(objective):
            click.echo("   " + measure_text(objective), err=True)
        default = result.rating or result.proposed
        while True:
            answer = click.prompt(
                _("rating (P/S/M/U)"), default=default.value if default else None, err=True
            )
            try:
                rating = parse_rating(answer)
                if result.rating is rating:
                    break  # already confirmed as it is
                reason = None
                if needs_reason(result, rating):
                    reason = click.prompt(
                        _("why {rating}, not the proposed {proposed}?").format(
                            rating=rating.value, proposed=rating_text(result.proposed)
                        ),
                        err=True,
                    )
                evaluation.rate(
                    ctx.db, ctx.clock, ctx.operator, run_id, objective.id, rating, reason
                )
            except (InvalidInput, InvalidTransition) as exc:
                click.echo(str(exc), err=True)
                continue
            break
    while text := ask_optional(_("a strength (Enter when done)")):
        try:
            runs.add_note(ctx.db, ctx.clock, ctx.operator, run_id, NoteKind.STRENGTH, text)
        except InvalidInput as exc:
            click.echo(str(exc), err=True)
    objectives = [r.objective for r in ev.results]
    while issue := ask_optional(_("an area for improvement (Enter when done)")):
        while True:
            try:
                item = ask_improvement(state, issue, objectives)
                improvements.add_improvement(ctx.db, ctx.clock, ctx.operator, run_id, **item)
            except (InvalidInput, NotFound) as exc:
                click.echo(str(exc), err=True)
                continue
            break


def ask_optional(prompt: str) -> str:
    answer: str = click.prompt(prompt, default="", show_default=False, err=True)
    return answer.strip()


def ask_improvement(state: State, issue: str, objectives: Sequence[Objective]) -> dict[str, Any]:
    ctx = state.ctx
    action = click.prompt(_("corrective action"), err=True)
    element = click.prompt(
        _("capability element"), type=click.Choice([e.value for e in Element]), err=True
    )
    owner = click.prompt(_("owner (key, name or phone)"), err=True)
    due = click.prompt(_("due (YYYY-MM-DD or +30d)"), err=True)
    ref = ask_optional(_("the objective a later run retests it by (its number; Enter: none)"))
    objective = find_objective(objectives, ref, "objective") if ref else None
    return {
        "issue": issue,
        "action": action,
        "element": Element(element),
        "owner": owner,
        "due": parse_due(due, ctx.clock.now(), ctx.config.zone, "due"),
        "objective_id": objective.id if objective is not None else None,
    }


# ------------------------------------------------------------------------ improvements


def print_improvements(state: State, items: Sequence[Improvement]) -> None:
    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    print_table(
        [
            _("item"),
            _("plan"),
            _("run"),
            _("element"),
            _("owner"),
            _("due"),
            _("state"),
            _("issue → action"),
        ],
        [
            (
                str(i.id),
                i.plan_code,
                str(i.run_id),
                i.element.label,
                i.owner_name,
                local(i.due, zone) + (" " + _("[overdue]") if i.overdue(now) else ""),
                i.state.label,
                f"{i.issue} → {i.action}",
            )
            for i in items
        ],
    )


@drill.command("improvements")
@click.option("--plan", help=N_("Only this plan's."))
@click.option("--open", "open_only", is_flag=True, help=N_("Only items not yet closed."))
@JSON
@pass_state
def improvements_cmd(state: State, plan: str | None, open_only: bool, as_json: bool) -> None:
    """The improvement plan: each corrective action, its owner and due date; an item closes
    only when a later run meets its objective again."""
    ctx = state.ctx
    items = improvements.list_improvements(ctx.db, plan=plan, open_only=open_only)
    if as_json:
        emit_json(render.listing_json(i.to_json() for i in items))
        return
    if not items:
        click.echo(_("no improvement items"))
        return
    print_improvements(state, items)


@drill.group("improvement")
def improvement_group() -> None:
    """One improvement item: report it done, close it by a retest."""


@improvement_group.command("done")
@click.argument("item_id", type=ROW_ID)
@click.option("--note", help=N_("What was done."))
@JSON
@pass_state
def improvement_done(state: State, item_id: int, note: str | None, as_json: bool) -> None:
    """The corrective action is taken: the item awaits its retest."""
    ctx = state.ctx
    item = improvements.mark_done(ctx.db, ctx.clock, ctx.operator, item_id, note)
    if as_json:
        emit_json(item.to_json())
        return
    click.echo(
        _("item {id} done; a later run closes it when it meets the objective").format(id=item.id)
    )


@improvement_group.command("close")
@click.argument("item_id", type=ROW_ID)
@click.option(
    "--run", "run_id", type=ROW_ID, required=True, help=N_("The later run that retested it.")
)
@JSON
@pass_state
def improvement_close(state: State, item_id: int, run_id: int, as_json: bool) -> None:
    """Close an item by a later run of its plan that retested it."""
    ctx = state.ctx
    item = improvements.close_by_retest(ctx.db, ctx.clock, ctx.operator, item_id, run_id)
    if as_json:
        emit_json(item.to_json())
        return
    click.echo(_("item {id} closed by run {run}").format(id=item.id, run=run_id))


# ------------------------------------------------------------------------ trend, report, export


@drill.command("trend")
@click.argument("plan")
@click.option(
    "--limit",
    type=click.IntRange(2, 1000),
    default=12,
    show_default=True,
    help=N_("How many runs."),
)
@JSON
@pass_state
def trend_cmd(state: State, plan: str, limit: int, as_json: bool) -> None:
    """A plan's runs side by side, and who missed the last two in a row."""
    ctx = state.ctx
    zone = ctx.config.zone
    found = trends.trend(ctx.db, plan, limit=limit)
    if as_json:
        emit_json(found.to_json())
        return
    if not found.points:
        click.echo(_("plan {code} has no runs yet").format(code=found.plan.code))
        return
    order = [o.id for o in found.plan.objectives]
    print_table(
        [
            _("run"),
            _("started"),
            _("called"),
            _("answer rate"),
            "p50",
            _("silent"),
            _("again"),
            _("ratings"),
        ],
        [
            (
                str(p.run_id),
                local(p.started_at, zone),
                str(p.called),
                bar(p.answer_rate),
                seconds_text(p.p50_s),
                str(p.silent),
                str(p.silent_again),
                " ".join(p.ratings.get(i, "-") for i in order)
                or " ".join(p.ratings.values())
                or "-",
            )
            for p in found.points
        ],
    )
    if found.missed_twice:
        click.echo()
        click.echo(
            _("missed the last two drills in a row ({count}):").format(
                count=len(found.missed_twice)
            )
        )
        for s in found.missed_twice:
            click.echo(f"  {s.name}  {s.node}  {s.phone_masked}")


@drill.command("report")
@click.argument("run_id", type=ROW_ID)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "docx", "html", "pdf"]),
    help=N_("md, docx, html or pdf; default: by the file's suffix, else md."),
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help=N_("The file to write (default: Markdown on stdout)."),
)
@pass_state
def report_cmd(state: State, run_id: int, fmt: str | None, output: Path | None) -> None:
    """The after-action report and improvement plan (AAR/IP) of a run."""
    from reports.aar import aar_docx, aar_markdown

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    ev = evaluation.evaluation(ctx.db, run_id)
    trend = trends.trend(ctx.db, ev.plan.id)
    if fmt is None:
        suffix = output.suffix.lower() if output is not None else ""
        fmt = {".docx": "docx", ".html": "html", ".htm": "html", ".pdf": "pdf"}.get(suffix, "md")
    if fmt == "docx" and output is None:
        raise InvalidInput(_("a Word document needs a file: -o aar.docx"), "output")
    if fmt in ("html", "pdf"):  # the common renderers: dutydesk report aar
        from console.cli.report import emit_document
        from reports.aar import aar_document

        doc = aar_document(ev, trend, zone, now=now)
        emit_document(state, doc, fmt, output, templates=None, as_json=False)
        return
    if not ev.complete:
        click.echo(
            _("note: not every objective is rated yet; the report shows the proposals"), err=True
        )
    if output is None:
        click.echo(aar_markdown(ev, trend, zone, now=now), nl=False)
        return
    data: bytes | str = (
        aar_docx(ev, trend, zone, now=now)
        if fmt == "docx"
        else aar_markdown(ev, trend, zone, now=now)
    )
    write_file(output, data, "output")
    click.echo(
        _("after-action report of run {id} written to {file}").format(id=run_id, file=output)
    )


@drill.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--all", "every", is_flag=True, help=N_("Unannounced drills too (not for participants).")
)
@pass_state
def export_cmd(state: State, file: Path, every: bool) -> None:
    """Write the coming drills (400 days) as iCalendar, with reminders; cancelled ones stay as
    CANCELLED so that calendars drop them. Unannounced drills are left out unless --all."""
    from drills.ical import to_ical

    ctx = state.ctx
    now = ctx.clock.now()
    coming = schedules.upcoming(
        ctx.db,
        now,
        until=now + timedelta(days=EXPORT_DAYS),
        limit=1_000_000,
        include_cancelled=True,
    )
    kept = [o for o in coming if every or o.announced]
    by_id = {p.id: p for p in plans.list_plans(ctx.db, active=None)}
    write_file(file, to_ical(kept, by_id, ctx.config.zone.key, stamp=now), "file")
    click.echo(_("{count} drill(s) written to {file}").format(count=len(kept), file=file))
    if len(kept) < len(coming):
        click.echo(
            _("{count} unannounced drill(s) left out (--all includes them)").format(
                count=len(coming) - len(kept)
            )
        )
