"""Provides ``dutydesk duty ...``: duty posts, rotations, overrides, who is on duty, iCalendar.

Times are read and shown in the configured time zone; a rotation's shift times are wall-clock
times in that zone too (so a 08:00 hand-over stays at 08:00 across daylight saving).
``duty check`` exits 1 when some post is unfilled some time, so a cron job can warn the office.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from console.cli import render
from console.cli.common import State, emit_json, parse_date, parse_time, pass_state
from console.cli.tables import pad, print_table
from console.timefmt import local
from contacts.roster import (
    MAX_EVERY_DAYS,
    Gap,
    Shift,
    add_override,
    add_post,
    add_rotation,
    gaps,
    list_posts,
    on_duty,
    shift_to_json,
    shifts,
    to_ical,
)
from store.clock import to_iso
from store.errors import InvalidInput
from store.i18n import N_, _

JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
# Where a shift comes from (a stored value): shown as a word, kept as the code in --json.
SOURCES = {"rotation": N_("rotation"), "override": N_("override")}


@click.group("duty")
def duty() -> None:
    """The duty roster: posts, rotations, overrides, and who is on duty."""


@duty.command("post-add")
@click.argument("code")
@click.argument("name")
@JSON
@pass_state
def post_add_cmd(state: State, code: str, name: str, as_json: bool) -> None:
    """Add a duty post, e.g. ``duty post-add DO "duty officer"``."""
    ctx = state.ctx
    post = add_post(ctx.db, ctx.clock, ctx.operator, code, name)
    if as_json:
        emit_json({"id": post.id, "code": post.code, "name": post.name})
        return
    click.echo(_("post {code} {name} added").format(code=post.code, name=post.name))


@duty.command("rotation-add")
@click.argument("post")
@click.option("--people", required=True, help=N_("Keys, ids, phones or names, in order: A,B,C."))
@click.option("--starts-on", required=True, help=N_("Local date of the first shift (YYYY-MM-DD)."))
@click.option("--shift-start", default="08:00", show_default=True, help=N_("Hand-over time HH:MM."))
@click.option(
    "--hours",
    type=click.FloatRange(0, 24 * MAX_EVERY_DAYS, min_open=True),
    default=24.0,
    show_default=True,
    help=N_("Shift length."),
)
@click.option(
    "--every-days",
    type=click.IntRange(1, MAX_EVERY_DAYS),
    default=1,
    show_default=True,
    help=N_("Days between shifts."),
)
@click.option("--name", default="", help=N_("A label for the rotation."))
@click.option("--until", help=N_("When the rotation stops (a running shift is cut there)."))
@JSON
@pass_state
def rotation_add_cmd(
    state: State,
    post: str,
    people: str,
    starts_on: str,
    shift_start: str,
    hours: float,
    every_days: int,
    name: str,
    until: str | None,
    as_json: bool,
) -> None:
    """Fill POST by a rotation: shift k starts on starts-on + k x every-days at shift-start.

    Shift k is held by the k-th person of --people (cycling). Day/night duty is two rotations:
    --shift-start 08:00 --hours 12 and --shift-start 20:00 --hours 12. Where rotations
    overlap, the one added later wins.
    """
    ctx = state.ctx
    zone = ctx.config.zone
    names = [p.strip() for p in people.split(",") if p.strip()]
    valid_to = parse_time(until, ctx.clock.now(), zone, "until") if until else None
    rotation = add_rotation(
        ctx.db,
        ctx.clock,
        ctx.operator,
        post,
        people=names,
        starts_on=parse_date(starts_on, "starts-on"),
        shift_start=shift_start,
        shift_hours=hours,
        every_days=every_days,
        zone=zone.key,
        name=name,
        valid_to=valid_to,
    )
    if as_json:
        emit_json(
            {
                "id": rotation.id,
                "post": rotation.post.code,
                "people": [p.shown_key for p in rotation.people],
                "starts_on": rotation.starts_on.isoformat(),
                "shift_start": rotation.shift_start.strftime("%H:%M"),
                "hours": rotation.shift_hours,
                "every_days": rotation.every_days,
                "zone": rotation.zone,
            }
        )
        return
    click.echo(
        _("rotation {id} on {post}: {people} from {start}, {hours:g} h every {days} day(s)").format(
            id=rotation.id,
            post=rotation.post.code,
            people=", ".join(p.name for p in rotation.people),
            start=f"{rotation.starts_on} {rotation.shift_start:%H:%M}",
            hours=rotation.shift_hours,
            days=rotation.every_days,
        )
    )


@duty.command("override")
@click.argument("post")
@click.option("--person", required=True, help=N_("Key, id, phone or name."))
@click.option("--from", "start", required=True, help=N_("Start (YYYY-MM-DD HH:MM local, or +2h)."))
@click.option("--to", "end", required=True, help=N_("End."))
@click.option("--reason", required=True, help=N_("Why (swap, sick leave, ...)."))
@JSON
@pass_state
def override_cmd(
    state: State, post: str, person: str, start: str, end: str, reason: str, as_json: bool
) -> None:
    """Put a person on POST for one shift or a date range, over the rotation."""
    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    item = add_override(
        ctx.db,
        ctx.clock,
        ctx.operator,
        post,
        person,
        parse_time(start, now, zone, "from"),
        parse_time(end, now, zone, "to"),
        reason,
    )
    if as_json:
        emit_json(
            {
                "id": item.id,
                "post": item.post.code,
                "person": item.person.shown_key,
                "starts_at": to_iso(item.starts_at),
                "ends_at": to_iso(item.ends_at),
                "reason": item.reason,
            }
        )
        return
    click.echo(
        _("override {id}: {person} holds {post} {start} → {end}").format(
            id=item.id,
            person=item.person.name,
            post=item.post.code,
            start=local(item.starts_at, zone),
            end=local(item.ends_at, zone),
        )
    )


def _print_holders(state: State, at: datetime, as_json: bool) -> None:
    ctx = state.ctx
    zone = ctx.config.zone
    held = {s.post.id: s for s in on_duty(ctx.db, at)}
    posts = list_posts(ctx.db)
    if as_json:
        emit_json(
            render.listing_json(
                (
                    {
                        "post": p.code,
                        "post_name": p.name,
                        "shift": shift_to_json(held[p.id], zone) if p.id in held else None,
                    }
                    for p in posts
                ),
                at=to_iso(at),
            )
        )
        return
    if not posts:
        click.echo(_("no duty posts yet (add one with: dutydesk duty post-add CODE NAME)"))
        return
    click.echo(_("on duty at {at}").format(at=local(at, zone)))
    for p in posts:
        shift = held.get(p.id)
        post = f"{pad(p.code, 8)} {p.name}"
        if shift is None:
            click.echo("  " + _("{post}: UNFILLED").format(post=post))
        else:
            click.echo(
                "  "
                + _("{post}: {person} ({key}) {start} → {end}").format(
                    post=post,
                    person=shift.person.name,
                    key=shift.person.shown_key,
                    start=local(shift.starts_at, zone),
                    end=local(shift.ends_at, zone),
                )
                + (" " + _("[override]") if shift.source == "override" else "")
            )


@duty.command("now")
@JSON
@pass_state
def now_cmd(state: State, as_json: bool) -> None:
    """Who holds each post now."""
    _print_holders(state, state.ctx.clock.now(), as_json)


@duty.command("at")
@click.argument("when")
@JSON
@pass_state
def at_cmd(state: State, when: str, as_json: bool) -> None:
    """Who holds each post at WHEN (YYYY-MM-DD HH:MM local, ISO-8601 or +4h)."""
    ctx = state.ctx
    _print_holders(state, parse_time(when, ctx.clock.now(), ctx.config.zone, "when"), as_json)


def _window(state: State, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    lo = parse_time(start, now, zone, "from") if start else now
    hi = parse_time(end, now, zone, "to") if end else lo + timedelta(days=7)
    return lo, hi


@duty.command("list")
@click.option("--from", "start", help=N_("Start (default: now)."))
@click.option("--to", "end", help=N_("End (default: 7 days after the start)."))
@click.option("--post", help=N_("Only this post."))
@click.option("--person", help=N_("Only this person's shifts."))
@JSON
@pass_state
def list_cmd(
    state: State,
    start: str | None,
    end: str | None,
    post: str | None,
    person: str | None,
    as_json: bool,
) -> None:
    """Print the roster: every shift overlapping the period, in time order."""
    ctx = state.ctx
    zone = ctx.config.zone
    lo, hi = _window(state, start, end)
    items = shifts(ctx.db, lo, hi, post, person)
    if as_json:
        emit_json(render.listing_json(shift_to_json(s, zone) for s in items))
        return
    print_table(
        [_(name) for name in (N_("from"), N_("to"), N_("post"), N_("person"), N_("source"))],
        [
            (
                local(s.starts_at, zone),
                local(s.ends_at, zone),
                f"{s.post.code} {s.post.name}",
                f"{s.person.name} ({s.person.shown_key})",
                _(SOURCES[s.source]) if s.source in SOURCES else s.source,
            )
            for s in items
        ],
    )
    click.echo(_("{count} shift(s)").format(count=len(items)))


def gap_text(g: Gap, zone: ZoneInfo) -> str:
    return _("gap: {code} {name} unfilled {start} → {end}").format(
        code=g.post.code,
        name=g.post.name,
        start=local(g.starts_at, zone),
        end=local(g.ends_at, zone),
    )


@duty.command("check")
@click.option("--from", "start", help=N_("Start (default: now)."))
@click.option("--to", "end", help=N_("End (default: 7 days after the start)."))
@click.option("--post", help=N_("Only this post."))
@JSON
@pass_state
def check_cmd(
    state: State, start: str | None, end: str | None, post: str | None, as_json: bool
) -> int:
    """Report gaps: times in which a post has nobody. Exit status 1 when there are any."""
    ctx = state.ctx
    zone = ctx.config.zone
    lo, hi = _window(state, start, end)
    found = gaps(ctx.db, lo, hi, post)
    if as_json:
        emit_json(
            render.check_json(
                render.problem_json(
                    "gap",
                    gap_text(g, zone),
                    {
                        "post": g.post.code,
                        "starts_at": to_iso(g.starts_at),
                        "ends_at": to_iso(g.ends_at),
                    },
                )
                for g in found
            )
        )
    else:
        for g in found:
            click.echo(gap_text(g, zone))
        if not found:
            click.echo(
                _("no gaps from {start} to {end}").format(
                    start=local(lo, zone), end=local(hi, zone)
                )
            )
    return 1 if found else 0


@duty.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--person", help=N_("Only this person's shifts (a personal calendar)."))
@click.option("--post", help=N_("Only this post."))
@click.option("--from", "start", help=N_("Start (default: now)."))
@click.option("--to", "end", help=N_("End (default: 7 days after the start)."))
@pass_state
def export_cmd(
    state: State,
    file: Path,
    person: str | None,
    post: str | None,
    start: str | None,
    end: str | None,
) -> None:
    """Write the roster as iCalendar (.ics) for calendar apps to import or subscribe to.

    Each shift keeps the same UID across exports, so a re-exported file updates events.
    """
    ctx = state.ctx
    lo, hi = _window(state, start, end)
    items: list[Shift] = shifts(ctx.db, lo, hi, post, person)
    data = to_ical(items, ctx.config.zone.key, stamp=ctx.clock.now())
    try:
        file.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(
            _("cannot write {file}: {error}").format(file=file, error=exc), "file"
        ) from exc
    click.echo(_("{count} shift(s) written to {file}").format(count=len(items), file=file))
