"""Provides ``dutydesk hub``: the units that report to this hub, their cases and what they sent.

``hub unit add|list|revoke|rotate`` manages the units below and their bearer tokens (a token is
printed once, when it is made: the hub keeps only its hash). ``hub units`` is the overview a
county duty officer watches (open cases by severity, overdue, supervised, mobilizations, last
contact; a unit silent for longer than ``[hub] silent_minutes`` is flagged), ``hub cases`` and
``hub timeline`` drill down, ``hub reports`` lists the information reports received and the
ones due, late or missing, ``hub timeliness --from --to`` sums each unit's reporting in a period
(obligations, on time, late, missing, median and worst delay: what a county assesses its
townships by, computed under this hub's own ``[sitrep]`` rules), and ``hub witness`` prints
a unit's last signed audit head for ``dutydesk audit verify --witness``. Down the chain:
``hub alerts`` and ``hub alert ID`` follow the warnings sent to the units (per unit: received,
叫应 started, answered and how fast, still silent, flagged after ``[hub]
call_start_minutes``), ``hub directive send|show`` sends a directive (通知/指令) and follows its
receipts and replies; ``hub unit add --push-url`` lets the hub poke a unit. All of it reads
:mod:`uplink.hub`, :mod:`uplink.timeliness` and :mod:`uplink.downlink`; the HTTP side that
receives the events is ``console.http.hub``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
from rich.text import Text

from console.cli import render
from console.cli.common import State, emit_json, parse_time, pass_state
from console.cli.tables import print_table
from console.timefmt import local, short, span, time_left
from incidents.models import Severity, Stage
from store.errors import InvalidInput, NotFound
from store.i18n import N_, _
from store.text import clean_text
from uplink.hub import HubCase, HubReport, HubUnit, ReceivedEvent, UnitOverview
from uplink.reporting import ObligationState

if TYPE_CHECKING:
    from uplink.hub import AlertUnit, AlertView
    from uplink.timeliness import HubObligation, UnitTimeliness

JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
UNITS_HINT = N_("no units registered yet (add one with: dutydesk hub unit add CODE --name NAME)")


@click.group("hub")
def hub_group() -> None:
    """The hub: the units that report to this database, their cases and received events."""


@hub_group.group("unit")
def unit_group() -> None:
    """Register the units that send to this hub; revoke or rotate their tokens."""


def _severity(roman: str) -> Text:
    try:
        level = Severity[roman]
    except KeyError:
        return Text(roman)
    return Text(f" {roman:<3}", style=render.SEVERITY_STYLE[int(level)])


def _stage(code: str) -> str:
    try:
        return Stage(code).label
    except ValueError:
        return code


def _token_lines(token: str, headline: str) -> None:
    click.echo(headline)
    click.echo(_("token: {token}").format(token=token))
    click.echo(
        _(
            "the token is shown only this once: put it in the unit's configuration now"
            " ([uplink] token, or a file named by token_file)"
        )
    )


def _token_json(unit: HubUnit, token: str) -> dict[str, Any]:
    return {
        "unit": unit.code,
        "name": unit.name,
        "token": token,
        "created_at": render.iso(unit.created_at),
        "rotated_at": render.iso(unit.rotated_at),
    }


@unit_group.command("add")
@click.argument("code")
@click.option("--name", required=True, help=N_("The unit's name (e.g. the township's)."))
@click.option(
    "--push-url",
    "push_url",
    metavar="URL",
    help=N_(
        "Where the unit's serve takes pushes (https://host:port): warnings and directives"
        " are announced there at once; without it the unit polls."
    ),
)
@JSON
@pass_state
def unit_add_cmd(state: State, code: str, name: str, push_url: str | None, as_json: bool) -> None:
    """Register unit CODE (its division code) and print its token, shown only this once."""
    from store.db import write
    from uplink import downlink
    from uplink.hub import add_unit

    ctx = state.ctx
    with write(ctx.db):
        unit, token = add_unit(ctx.db, ctx.clock.now(), code, name, operator=ctx.operator)
        if push_url is not None:
            try:
                downlink.set_push_url(ctx.db, unit.code, push_url.strip() or None)
            except InvalidInput as exc:  # nothing is registered: the transaction rolls back
                raise InvalidInput(exc.reason, "--push-url") from None
    if as_json:
        stored = push_url.strip().rstrip("/") if push_url else None
        emit_json({**_token_json(unit, token), "push_url": stored or None})
        return
    _token_lines(
        token,
        _("unit {code} ({name}) registered at this hub").format(code=unit.code, name=unit.name),
    )


@unit_group.command("list")
@JSON
@pass_state
def unit_list_cmd(state: State, as_json: bool) -> None:
    """The registered units: created, token rotated, revoked, last contact (never a token)."""
    from uplink.hub import list_units

    ctx = state.ctx
    units = list_units(ctx.db)
    if as_json:
        emit_json(render.listing_json(u.to_json() for u in units))
        return
    if not units:
        click.echo(_(UNITS_HINT))
        return
    zone = ctx.config.zone
    print_table(
        [
            _("unit"),
            _("unit name"),
            _("created"),
            _("token rotated"),
            _("last contact"),
            _("status"),
            _("inbox"),
        ],
        [
            (
                u.code,
                u.name,
                local(u.created_at, zone),
                local(u.rotated_at, zone),
                local(u.last_contact_at, zone) or _("never"),
                Text(_("revoked"), style="bold red") if u.revoked_at else _("active"),
                _("pushed to {url}").format(url=u.push_url) if u.push_url else _("polls"),
            )
            for u in units
        ],
    )


@unit_group.command("revoke")
@click.argument("code")
@JSON
@pass_state
def unit_revoke_cmd(state: State, code: str, as_json: bool) -> None:
    """Refuse unit CODE's token from now on (its data stays; rotate gives it a new token)."""
    from uplink.hub import revoke_unit

    ctx = state.ctx
    unit = revoke_unit(ctx.db, ctx.clock.now(), code, operator=ctx.operator)
    if as_json:
        emit_json(unit.to_json())
        return
    click.echo(
        _("unit {code} revoked: its token is refused from now on (401 token revoked)").format(
            code=unit.code
        )
    )


@unit_group.command("rotate")
@click.argument("code")
@JSON
@pass_state
def unit_rotate_cmd(state: State, code: str, as_json: bool) -> None:
    """Give unit CODE a new token (printed once); the old one stops working at once."""
    from uplink.hub import rotate_token

    ctx = state.ctx
    unit, token = rotate_token(ctx.db, ctx.clock.now(), code, operator=ctx.operator)
    if as_json:
        emit_json(_token_json(unit, token))
        return
    _token_lines(
        token,
        _("unit {code}: new token; the old one no longer works").format(code=unit.code),
    )


def _flags(view: UnitOverview) -> Text:
    text = Text()
    if view.unit.revoked_at is not None:
        text.append(_("revoked"), style="bold red")
    elif view.silent:
        text.append(_("SILENT"), style="bold red")
    if view.children:
        text.append((" " if text else "") + _("hub of {count}").format(count=view.children))
    return text


@hub_group.command("units")
@JSON
@pass_state
def units_cmd(state: State, as_json: bool) -> None:
    """Each unit at a glance: open cases by severity, overdue, supervised, active
    mobilizations, last contact; SILENT when not heard from for [hub] silent_minutes."""
    from uplink.hub import overview

    ctx = state.ctx
    views = overview(ctx.db, ctx.clock.now(), ctx.config.hub.silent)
    if as_json:
        emit_json(render.listing_json(v.to_json() for v in views))
        return
    if not views:
        click.echo(_(UNITS_HINT))
        return
    zone = ctx.config.zone
    print_table(
        [
            _("unit"),
            _("unit name"),
            *(level.roman for level in Severity),
            _("open"),
            _("overdue"),
            _("supervised"),
            _("mobilizations"),
            _("last contact"),
            _("status"),
        ],
        [
            (
                v.unit.code,
                v.unit.name,
                *(str(v.by_severity.get(level.roman, 0)) for level in Severity),
                str(v.open_cases),
                Text(str(v.overdue), style="bold red" if v.overdue else ""),
                str(v.supervised),
                str(v.active_mobilizations),
                local(v.unit.last_contact_at, zone) or _("never"),
                _flags(v),
            )
            for v in views
        ],
    )


def _case_flags(case: HubCase) -> str:
    names = (
        (N_("overdue"), case.overdue),
        (N_("supervised"), case.supervised),
        (N_("LOST"), case.lost),
    )
    return " ".join(_(name) for name, on in names if on)


def _case_rows(items: list[HubCase], now: datetime, zone: ZoneInfo) -> list[tuple[Any, ...]]:
    rows = []
    for case in items:
        left, late = time_left(case.deadline if case.active else None, now)
        rows.append(
            (
                case.unit,
                case.number,
                _severity(case.severity),
                _stage(case.stage),
                case.title,
                short(case.deadline, zone),
                Text(left, style="bold red" if late else ""),
                Text(_case_flags(case), style="bold red" if case.lost or case.overdue else ""),
            )
        )
    return rows


@hub_group.command("cases")
@click.option("--unit", "unit", metavar="CODE", help=N_("Only this unit's cases."))
@click.option("--overdue", is_flag=True, help=N_("Only overdue cases."))
@click.option("--all", "show_all", is_flag=True, help=N_("Closed and voided cases too."))
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help=N_("How many at most."),
)
@JSON
@pass_state
def cases_cmd(
    state: State, unit: str | None, overdue: bool, show_all: bool, limit: int, as_json: bool
) -> None:
    """The units' open cases as they last reported them, by unit and severity."""
    from uplink.hub import cases

    ctx = state.ctx
    now = ctx.clock.now()
    found = cases(ctx.db, now, unit=unit, overdue_only=overdue, open_only=not show_all, limit=limit)
    if as_json:
        emit_json(render.listing_json(c.to_json() for c in found))
        return
    if not found:
        click.echo(_("no cases"))
        return
    print_table(
        [
            _("unit"),
            _("number"),
            _("sev"),
            _("stage"),
            _("title"),
            _("deadline"),
            _("left"),
            _("flags"),
        ],
        _case_rows(found, now, ctx.config.zone),
    )


def _what(event: ReceivedEvent) -> str:
    change = event.payload.get("change")
    if isinstance(change, dict):
        kind = str(change.get("kind", ""))
        stage_to = change.get("stage_to")
        return f"{kind} → {_stage(str(stage_to))}" if stage_to else kind
    if event.kind == "resync":
        return _("resync: the unit had up to {seq}").format(seq=event.payload.get("known"))
    return ""


@hub_group.command("timeline")
@click.argument("unit")
@click.argument("case")
@JSON
@pass_state
def timeline_cmd(state: State, unit: str, case: str, as_json: bool) -> None:
    """What the hub received about case CASE of unit UNIT, in order (superseded ones too)."""
    from uplink.hub import case_timeline

    ctx = state.ctx
    events = case_timeline(ctx.db, unit, case)
    if as_json:
        emit_json(render.listing_json(e.to_json() for e in events))
        return
    zone = ctx.config.zone
    print_table(
        [_("seq"), _("at"), _("received"), _("kind"), _("state"), _("what")],
        [
            (
                str(e.seq),
                local(e.at, zone),
                local(e.received_at, zone),
                e.kind,
                Text(e.state, style="dim" if e.state == "superseded" else ""),
                _what(e),
            )
            for e in events
        ],
    )


# --- information reports ----------------------------------------------------------------------

LISTING_DAYS = 30  # `hub reports --late/--missing/--due` look at obligations due this far back


def _report_rows(items: list[HubReport], zone: ZoneInfo) -> list[tuple[Any, ...]]:
    return [
        (
            r.unit,
            r.number,
            r.name,
            r.channel.label,
            local(r.at, zone),
            local(r.received_at, zone),
            str(r.data.get("signed_by") or r.data.get("to") or ""),
        )
        for r in items
    ]


def _delay(minutes: float | None) -> str:
    return span(timedelta(minutes=minutes)) if minutes is not None else ""


def _obligation_headers() -> list[str]:
    return [
        _("unit"),
        _("case"),
        _("sev"),
        _("report"),
        _("why"),
        _("due"),
        _("state"),
        _("left / late by"),
        _("met by"),
        _("title"),
    ]


def _obligation_rows(
    items: list[HubObligation], now: datetime, zone: ZoneInfo
) -> list[tuple[Any, ...]]:
    rows = []
    for item in items:
        ob = item.obligation
        state = ob.state_at(now)
        bad = state in (ObligationState.OVERDUE, ObligationState.LATE)
        words = _("MISSING") if item.missing(now) else state.label
        left = span(ob.due - now) if state is ObligationState.PENDING else _delay(ob.delay_at(now))
        rows.append(
            (
                item.unit,
                item.number,
                _severity(item.severity),
                ob.kind.label_zh,
                ob.reason.label,
                local(ob.due, zone),
                Text(words, style="bold red" if bad else ""),
                Text(left, style="bold red" if bad else ""),
                item.met_by or "",
                item.title,
            )
        )
    return rows


def _wanted(show: str, item: HubObligation, now: datetime) -> bool:
    state = item.state(now)
    if show == "late":
        return state in (ObligationState.LATE, ObligationState.OVERDUE)
    if show == "missing":
        return item.missing(now)
    return state.open


@hub_group.command("reports")
@click.option("--unit", "unit", metavar="CODE", help=N_("Only this unit's."))
@click.option("--case", "case", metavar="NUMBER", help=N_("Only this case's (with --unit)."))
@click.option(
    "--late",
    "show",
    flag_value="late",
    help=N_("Reports owed that came late or are still overdue, with the delay."),
)
@click.option(
    "--missing",
    "show",
    flag_value="missing",
    help=N_("Reportable cases with no initial report after its deadline."),
)
@click.option(
    "--due", "show", flag_value="due", help=N_("Reports owed and not yet made, by deadline.")
)
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help=N_("How many at most."),
)
@JSON
@pass_state
def reports_cmd(
    state: State,
    unit: str | None,
    case: str | None,
    show: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The information reports the units sent up; with --late, --missing or --due the reports
    owed (of the last 30 days), computed under this hub's [sitrep] rules."""
    from uplink.hub import reports
    from uplink.timeliness import obligations

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    if case is not None and unit is None:
        raise InvalidInput(_("give the case's unit too (--unit CODE)"), "--case")
    if show is None:
        found = reports(ctx.db, unit=unit, case=case, limit=limit)
        if as_json:
            emit_json(render.listing_json(r.to_json() for r in found))
            return
        if not found:
            click.echo(_("no reports received"))
            return
        print_table(
            [
                _("unit"),
                _("case"),
                _("report"),
                _("channel"),
                _("sent"),
                _("received"),
                _("signed off by / to"),
            ],
            _report_rows(found, zone),
        )
        return
    since = now - timedelta(days=LISTING_DAYS)
    owed = obligations(ctx.db, ctx.config.sitrep, now, unit=unit, case=case, since=since)
    picked = [o for o in owed if _wanted(show, o, now)][:limit]
    if as_json:
        emit_json(render.listing_json(o.to_json(now) for o in picked))
        return
    if not picked:
        click.echo(
            {
                "late": _("no late reports"),
                "missing": _("no missing reports"),
                "due": _("no reports due"),
            }[show]
        )
        return
    print_table(
        _obligation_headers(),
        _obligation_rows(picked, now, zone),
    )


def _figure_row(view: UnitTimeliness) -> tuple[Any, ...]:
    def bad(count: int) -> Text:
        return Text(str(count), style="bold red" if count else "")

    pct = view.on_time_pct
    return (
        view.unit,
        view.name,
        str(view.obligations),
        str(view.on_time),
        bad(view.late),
        bad(view.missing),
        bad(view.overdue - view.missing),
        str(view.due),
        _delay(view.median_delay),
        _delay(view.worst_delay),
        f"{pct:.1f}%" if pct is not None else "",
        str(view.reports),
    )


@hub_group.command("timeliness")
@click.option(
    "--from",
    "start",
    required=True,
    help=N_("Start of the period: YYYY-MM-DD [HH:MM] local (included)."),
)
@click.option(
    "--to", "end", required=True, help=N_("End of the period: YYYY-MM-DD [HH:MM] (excluded).")
)
@JSON
@pass_state
def timeliness_cmd(state: State, start: str, end: str, as_json: bool) -> None:
    """Each unit's reporting in a period: the reports owed that fell due, on time, late,
    missing (no initial report after its deadline), still owed, the median and worst delay
    of the late ones, under this hub's [sitrep] rules, as of now."""
    from uplink.timeliness import timeliness

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    begin = parse_time(start, now, zone, "--from")
    until = parse_time(end, now, zone, "--to")
    if until <= begin:
        raise InvalidInput(_("must be after --from"), "--to")
    found = timeliness(ctx.db, ctx.config.sitrep, begin, until, now)
    if as_json:
        emit_json(
            render.listing_json(
                (u.to_json() for u in found.units),
                **{k: v for k, v in found.to_json().items() if k != "units"},
            )
        )
        return
    if not found.units:
        click.echo(_(UNITS_HINT))
        return
    click.echo(
        _("reports owed falling due {start} – {end}, as of {now}").format(
            start=local(begin, zone), end=local(until, zone), now=local(now, zone)
        )
    )
    print_table(
        [
            _("unit"),
            _("unit name"),
            _("owed"),
            _("on time"),
            _("reported late"),
            _("missing"),
            _("overdue"),
            _("still due"),
            _("median delay"),
            _("worst delay"),
            _("on time %"),
            _("reports"),
        ],
        [_figure_row(u) for u in found.units],
    )
    bad = [
        o
        for o in found.obligations
        if o.state(now) in (ObligationState.LATE, ObligationState.OVERDUE)
    ]
    if bad:
        click.echo()
        click.echo(_("late and missing:"))
        print_table(
            _obligation_headers(),
            _obligation_rows(bad, now, zone),
        )


# --- warnings and directives down the chain ---------------------------------------------------


def _call_cell(row: AlertUnit, zone: ZoneInfo) -> Text:
    """When the unit's 叫应 started, or why it did not (red when the hub flagged it)."""
    from uplink.callanswer import CallReason

    if row.call_started_at is not None:
        return Text(short(row.call_started_at, zone))
    if row.call_state == "skipped":
        try:
            reason = CallReason(row.call_reason or "").label
        except ValueError:
            reason = row.call_reason or ""
        return Text(_("not started: {reason}").format(reason=reason), style="yellow")
    return Text(_("not started"), style="bold red" if row.flag else "")


def _seconds(value: float | None) -> str:
    return span(timedelta(seconds=value)) if value is not None else ""


def _alert_unit_rows(view: AlertView, zone: ZoneInfo) -> list[tuple[Any, ...]]:
    from uplink.hub import AlertFlag

    rows = []
    for row in view.units:
        waiting = _seconds(row.waiting_for_s)
        rows.append(
            (
                row.unit,
                row.name,
                local(row.received_at, zone) or Text(_("not yet"), style="bold red"),
                row.via or "",
                _call_cell(row, zone),
                f"{row.yes}/{row.total}" if row.total else "",
                str(row.no) if row.total else "",
                _seconds(row.first_answer_s),
                _seconds(row.median_answer_s),
                Text(
                    f"{row.not_answered} ({waiting})" if waiting else str(row.not_answered or ""),
                    style="bold red" if row.not_answered else "",
                ),
                Text(AlertFlag.label(row.flag) if row.flag else "", style="bold red"),
            )
        )
    return rows


@hub_group.command("alerts")
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, 10_000), help=N_("How many.")
)
@JSON
@pass_state
def alerts_cmd(state: State, limit: int, as_json: bool) -> None:
    """The warnings this hub sent down, newest first: how many units received each, started
    their 叫应, how many people answered, how many units are flagged."""
    from uplink.hub import alert_list

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    found = alert_list(ctx.db, now, ctx.config.hub.call_start, limit=limit)
    if as_json:
        emit_json(render.listing_json((a.to_json() for a in found), at=render.iso(now)))
        return
    if not found:
        click.echo(_("no warnings sent down yet (issue one with: dutydesk alert issue ...)"))
        return
    rows: list[tuple[Any, ...]] = []
    for a in found:
        totals = a.totals
        rows.append(
            (
                a.identifier,
                _colour_cell(a.colour),
                a.event or "",
                short(a.sent, zone),
                str(totals["units"]),
                str(totals["received"]),
                str(totals["started"]),
                f"{totals['yes']}/{totals['people']}",
                Text(str(totals["silent"]), style="bold red" if totals["silent"] else ""),
                Text(str(totals["flagged"]), style="bold red" if totals["flagged"] else ""),
            )
        )
    print_table(
        [
            _("alert"),
            _("level"),
            _("event"),
            _("sent"),
            _("units"),
            _("received"),
            _("call started"),
            _("answered yes"),
            _("silent"),
            _("flagged"),
        ],
        rows,
    )


def _colour_cell(colour: Any) -> Text:
    from console.cli.alert import COLOUR_STYLE
    from uplink.cap import Colour

    if not colour:
        return Text("")
    value = Colour(colour)
    return Text(f" {value.label_zh} ", style=COLOUR_STYLE[value.value])


def _alert_identifier(state: State, ref: str) -> str:
    """The identifier of the alert ``ref`` names: an identifier, or its number here."""
    from uplink.alerts import find_alert

    text = ref.strip()
    if text.isdigit():
        found = find_alert(state.ctx.db, text)
        if found is not None:
            return found.identifier
    return text


@hub_group.command("alert")
@click.argument("identifier", metavar="ID")
@JSON
@pass_state
def alert_cmd(state: State, identifier: str, as_json: bool) -> None:
    """A warning across the units of its area: when each received it, when its 叫应 started,
    how many answered and how fast, who is still silent and for how long; a unit whose 叫应
    has not started within [hub] call_start_minutes is flagged."""
    from uplink.hub import alert_view

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    view = alert_view(
        ctx.db,
        _alert_identifier(state, identifier),
        now,
        ctx.config.hub.call_start,
        call_levels=ctx.config.warning.call_levels,
    )
    if as_json:
        emit_json(view.to_json())
        return
    click.echo(
        _("{identifier}: {event} {headline} (sent {sent}, expires {expires})").format(
            identifier=view.identifier,
            event=view.event,
            headline=view.headline,
            sent=local(view.sent, zone),
            expires=local(view.expires, zone) or "-",
        )
    )
    totals = view.totals
    click.echo(
        _(
            "{received}/{units} units received it, {started} started their call-and-answer,"
            " {flagged} flagged; people: {yes} yes, {no} no, {silent} silent of {people}"
        ).format(**totals)
    )
    if not view.units:
        click.echo(_("no unit of this hub lies in its area"))
        return
    print_table(
        [
            _("unit"),
            _("unit name"),
            _("received"),
            _("via"),
            _("call started"),
            _("answered yes"),
            _("no"),
            _("first answer"),
            _("median answer"),
            _("silent (for)"),
            _("flag"),
        ],
        _alert_unit_rows(view, zone),
    )


@hub_group.group("directive")
def directive_group() -> None:
    """Send notices and instructions (通知/指令) down to the units; follow their replies."""


def _attachment(text: str) -> dict[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name.strip() or not url.strip():
        raise InvalidInput(
            _("{value!r}: give NAME=URL, e.g. plan=https://example.org/plan.pdf").format(
                value=text
            ),
            "--attach",
        )
    return {
        "name": clean_text(name, "--attach", kind="title", required=True),
        "url": clean_text(url, "--attach", kind="address", required=True),
    }


OPTION_OF = {
    "title": "--title",
    "text": "--text",
    "reply_by": "--reply-by",
    "unit": "--unit",
    "action": "--open-case",
    "alert": "--alert",
}


@directive_group.command("send")
@click.option(
    "--unit",
    "units",
    multiple=True,
    required=True,
    metavar="CODE",
    help=N_("A unit to send it to (repeatable)."),
)
@click.option("--title", required=True, help=N_("The directive's title."))
@click.option("--text", "text", required=True, help=N_("What the units must do or know."))
@click.option("--reply-by", "reply_by", metavar="WHEN", help=N_("When the reply is due."))
@click.option(
    "--open-case",
    "action",
    flag_value="case",
    help=N_("Open a case for it at each unit."),
)
@click.option(
    "--open-task",
    "action",
    flag_value="task",
    help=N_("Open a case and a task due at the reply deadline at each unit."),
)
@click.option(
    "--attach",
    "attachments",
    multiple=True,
    metavar="NAME=URL",
    help=N_("A document by reference (never fetched automatically; repeatable)."),
)
@click.option("--alert", "alert", metavar="ID", help=N_("The warning it belongs to."))
@click.option("--exercise", is_flag=True, help=N_("A drill."))
@JSON
@pass_state
def directive_send_cmd(
    state: State,
    units: tuple[str, ...],
    title: str,
    text: str,
    reply_by: str | None,
    action: str | None,
    attachments: tuple[str, ...],
    alert: str | None,
    exercise: bool,
    as_json: bool,
) -> None:
    """Send a directive down to the units named; each receipt and reply comes back up."""
    from uplink import downlink

    ctx = state.ctx
    now = ctx.clock.now()
    title = clean_text(title, "--title", kind="title", required=True)
    body = clean_text(text, "--text", kind="note", multiline=True, required=True)
    deadline = parse_time(reply_by, now, ctx.config.zone, "--reply-by") if reply_by else None
    if deadline is not None and deadline <= now:
        raise InvalidInput(_("{time} is not in the future").format(time=reply_by), "--reply-by")
    if action == "task" and deadline is None:
        raise InvalidInput(_("a task needs a deadline: give --reply-by"), "--reply-by")
    from console.cli.alert import split_codes

    codes = split_codes(units, "--unit")
    if not codes:
        raise InvalidInput(_("required"), "--unit")
    files = [_attachment(a) for a in attachments]
    sender, sender_name = _hub_identity(state)
    try:
        directive_id, sent = downlink.issue_directive(
            ctx.db,
            now,
            ctx.operator,
            sender=sender,
            sender_name=sender_name,
            title=title,
            text=body,
            attachments=files,
            reply_by=deadline,
            action=action or "none",
            alert=alert.strip() if alert else None,
            exercise=exercise,
            units=codes,
        )
    except InvalidInput as exc:  # the domain names its fields; the command line, its options
        field = exc.field or ""
        option = OPTION_OF.get(field, "--attach" if field.startswith("attachments") else field)
        raise InvalidInput(exc.reason, option or None) from None
    if as_json:
        emit_json({"id": directive_id, "units": list(sent)})
        return
    click.echo(
        _("directive {id} sent down to {n} units: {units}").format(
            id=directive_id, n=len(sent), units=", ".join(sent)
        )
    )


def _hub_identity(state: State) -> tuple[str, str]:
    """This hub's division code and name: its top unit in the jurisdiction, else ``[uplink]
    unit`` (a hub that reports further up), else ``hub``."""
    from jurisdiction.models import Level
    from jurisdiction.units import list_units

    ctx = state.ctx
    for level in Level:
        units = list_units(ctx.db, level=level)
        if units:
            return units[0].code, units[0].name
    return ctx.config.uplink.unit or "hub", ""


@directive_group.command("show")
@click.argument("directive_id", metavar="ID")
@JSON
@pass_state
def directive_show_cmd(state: State, directive_id: str, as_json: bool) -> None:
    """A directive sent down: each unit's receipt (签收) and reply (反馈), late ones marked."""
    from uplink.hub import directive_view

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    view = directive_view(ctx.db, directive_id.strip(), now)
    if as_json:
        emit_json(view.to_json())
        return
    click.echo(
        _("{id}: {title} (reply by {due})").format(
            id=view.id, title=view.title or "", due=local(view.reply_by, zone) or "-"
        )
    )
    rows = []
    for row in view.units:
        rows.append(
            (
                row.unit,
                row.name,
                local(row.received_at, zone) or Text(_("not yet"), style="bold red"),
                Text(
                    local(row.replied_at, zone) or (_("overdue") if row.overdue else _("no reply")),
                    style="bold red" if row.overdue else "",
                ),
                row.replied_by or "",
                row.reply or "",
            )
        )
    print_table([_("unit"), _("unit name"), _("received"), _("replied"), _("by"), _("reply")], rows)


@hub_group.command("witness")
@click.argument("unit")
@pass_state
def witness_cmd(state: State, unit: str) -> None:
    """Print unit UNIT's last signed audit head as JSON: keep it, and check the unit's
    chain with it later (dutydesk audit verify --witness FILE on the unit's database)."""
    from uplink.hub import witness

    head = witness(state.ctx.db, unit)
    if head is None:
        raise NotFound(_("no signed audit head received from unit {unit} yet").format(unit=unit))
    emit_json(head)


@hub_group.command("serve")
@click.option("--host", help=N_("Address to listen on (default: [serve] host, else 127.0.0.1)."))
@click.option("--port", type=int, help=N_("Port (default: [serve] port, else 8470)."))
@pass_state
def hub_serve(state: State, host: str | None, port: int | None) -> None:
    """Run serve with the hub's routes on (as dutydesk serve --hub), until SIGTERM or Ctrl-C."""
    from console.cli.serve import run_serve

    run_serve(state, host, port, hub=True)
