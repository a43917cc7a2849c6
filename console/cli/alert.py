"""Provides ``dutydesk alert``: CAP 1.2 warnings issued here or received from above, and their 叫应.

``alert issue`` writes a CAP 1.2 alert (validated against the schema before anything is
stored), ``update`` and ``cancel`` follow it with msgType Update/Cancel referencing it, ``list``
and ``show`` read them (``show --xml`` prints the message exactly as stored), ``import`` takes a
CAP file received by other means (a bad one is refused with the schema's words and the
element's path, and nothing is stored), ``call`` starts a call-and-answer (叫应) by hand. At a
hub an alert issued, updated or cancelled is queued at once for the units in its area
(:func:`uplink.downlink.fan_out_alert`); at a unit one issued here starts the local 叫应 when
its level calls for it (:func:`uplink.callanswer.maybe_start`), as a received one does.

The domain is :mod:`uplink.alerts` (the records) and :mod:`uplink.cap` (the CAP vocabulary, the
colours). Times are typed and shown in the office's zone; a wrong value is one line naming the
option, exit code 2, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from console.cli import render
from console.cli.common import State, emit_json, parse_time, pass_state
from console.cli.tables import echo_fields, print_table
from console.timefmt import local, short
from store.db import write
from store.errors import InvalidInput
from store.i18n import N_, _
from store.text import clean_text

if TYPE_CHECKING:
    from uplink.alerts import AlertRecord
    from uplink.callanswer import CallProgress
    from uplink.cap import Colour

ALERT = click.argument("alert_ref", metavar="ID")
JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
MAX_POLYGON_BYTES = 1024 * 1024  # a district's outline is a few KB; a bigger file is a mistake
MAX_POLYGON_POINTS = 5000
WARNING_ZH = "预警"  # 橙色暴雨预警: the official word, whatever the language
FULLWIDTH_COMMA = chr(0xFF0C)  # the comma a Chinese keyboard types between codes
IDEOGRAPHIC_COMMA = chr(0x3001)  # 青山街道、和平街道
COLOUR_STYLE = {
    "red": "bold white on red",
    "orange": "bold black on dark_orange",
    "yellow": "black on yellow",
    "blue": "bold white on blue",
}


# ------------------------------------------------------------------------ reading the options


def parse_colour(text: str, field: str = "--severity") -> Colour:
    """The warning colour a ``--severity`` names: a CAP severity (Extreme, Severe, Moderate,
    Minor), a colour (red, orange, yellow, blue) or its Chinese name (红色 or 红).

    Raises:
        InvalidInput: naming ``field``.
    """
    from uplink.cap import Colour

    try:
        return Colour.parse(text)
    except InvalidInput:
        raise InvalidInput(
            _(
                "{value!r} is not a warning level: use Extreme, Severe, Moderate or Minor"
                " (or red, orange, yellow, blue; {names})"
            ).format(value=text, names=", ".join(c.label_zh for c in Colour)),
            field,
        ) from None


def _choice(text: str, allowed: Sequence[str], field: str) -> str:
    """A CAP word (``Immediate``) given in any case."""
    for word in allowed:
        if text.strip().casefold() == word.casefold():
            return word
    raise InvalidInput(
        _("{value!r} is not one of {words}").format(value=text, words=", ".join(allowed)), field
    )


Ring = tuple[tuple[float, float], ...]


def _point(lat: float, lon: float, where: str) -> tuple[float, float]:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InvalidInput(
            _("{lat},{lon} is not a WGS84 latitude,longitude").format(lat=lat, lon=lon), where
        )
    return (lat, lon)


def _closed(ring: list[tuple[float, float]], where: str) -> Ring:
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise InvalidInput(
            _("a polygon is a closed ring of at least 4 points, the first equal to the last"),
            where,
        )
    if len(ring) > MAX_POLYGON_POINTS:
        raise InvalidInput(
            _("more than {n} points in one polygon").format(n=MAX_POLYGON_POINTS), where
        )
    return tuple(ring)


def _cap_ring(text: str, where: str) -> Ring:
    """A CAP ``polygon``: ``lat,lon lat,lon ...`` (WGS84, latitude first), read by
    :func:`uplink.cap.parse_polygon`."""
    from uplink.cap import parse_polygon

    ring = parse_polygon(text, where)
    if len(ring) > MAX_POLYGON_POINTS:
        raise InvalidInput(
            _("more than {n} points in one polygon").format(n=MAX_POLYGON_POINTS), where
        )
    return ring


def _geojson_rings(data: Any, where: str) -> list[Ring]:
    """The outer rings of a GeoJSON Polygon or MultiPolygon (a Feature's or a collection's
    too), turned from GeoJSON's lon,lat into CAP's lat,lon."""
    if not isinstance(data, dict):
        raise InvalidInput(_("expected a GeoJSON object"), where)
    kind = data.get("type")
    if kind == "FeatureCollection":
        rings: list[Ring] = []
        for feature in data.get("features") or []:
            rings.extend(_geojson_rings(feature, where))
        return rings
    if kind == "Feature":
        return _geojson_rings(data.get("geometry"), where)
    coordinates = data.get("coordinates")
    if kind == "Polygon":
        polygons = [coordinates]
    elif kind == "MultiPolygon" and isinstance(coordinates, list):
        polygons = coordinates
    else:
        raise InvalidInput(
            _("expected a GeoJSON Polygon or MultiPolygon, not {kind}").format(kind=kind), where
        )
    rings = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon or not isinstance(polygon[0], list):
            raise InvalidInput(_("a Polygon's coordinates are a list of rings"), where)
        ring: list[tuple[float, float]] = []
        for position in polygon[0]:
            if (
                not isinstance(position, list)
                or len(position) < 2
                or not all(isinstance(v, int | float) for v in position[:2])
            ):
                raise InvalidInput(_("a position is [longitude, latitude]"), where)
            ring.append(_point(float(position[1]), float(position[0]), where))
        rings.append(_closed(ring, where))
    return rings


def read_polygons(path: Path, field: str = "--polygon") -> list[Ring]:
    """The polygons in ``path``: GeoJSON (a Polygon, MultiPolygon, Feature or collection of
    them) or CAP rings (``lat,lon lat,lon ...``, one polygon per line).

    Returns:
        each polygon's ring as (lat, lon) points, CAP's order.

    Raises:
        InvalidInput: naming ``field`` and the file: unreadable, too big, not a polygon.
    """
    where = f"{field} {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            _("cannot read {file}: {error}").format(file=path, error=exc.strerror or exc), field
        ) from None
    if len(data) > MAX_POLYGON_BYTES:
        raise InvalidInput(
            _("{file} is larger than {kb} KB").format(file=path, kb=MAX_POLYGON_BYTES // 1024),
            field,
        )
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise InvalidInput(_("not UTF-8 text"), where) from None
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                _("not valid JSON: {error}").format(error=exc.msg), f"{where}:{exc.lineno}"
            ) from None
        except RecursionError:
            raise InvalidInput(_("nested too deeply"), where) from None
        rings = _geojson_rings(parsed, where)
    else:
        rings = [
            _cap_ring(line, f"{where}:{number}")
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not rings:
        raise InvalidInput(_("no polygon in the file"), where)
    return rings


def split_codes(values: Sequence[str], field: str) -> list[str]:
    """Codes given with a repeatable option (also ``A,B`` or ``A，B`` in one), cleaned, in
    order, without repeats."""
    codes: list[str] = []
    for value in values:
        for part in value.replace(FULLWIDTH_COMMA, ",").split(","):
            code = clean_text(part, field, kind="code")
            if code and code not in codes:
                codes.append(code)
    return codes


def _expires(state: State, text: str, field: str = "--expires") -> datetime:
    ctx = state.ctx
    now = ctx.clock.now()
    when = parse_time(text, now, ctx.config.zone, field)
    if when <= now:
        raise InvalidInput(_("{time} is not in the future").format(time=text), field)
    return when


def _sender_code(state: State) -> str:
    """This office's division code: ``[uplink] unit``, else its top unit in the jurisdiction."""
    from jurisdiction.models import Level
    from jurisdiction.units import list_units

    ctx = state.ctx
    if ctx.config.uplink.unit:
        return ctx.config.uplink.unit
    for level in Level:
        units = list_units(ctx.db, level=level)
        if units:
            return units[0].code
    raise InvalidInput(
        _(
            "this office has no division code: add its unit (dutydesk unit add) or set"
            " [uplink] unit"
        ),
        "--area",
    )


# ------------------------------------------------------------------------ output


def colour_text(record: AlertRecord) -> Text:
    """``橙色`` on orange; the severity's name when it has no colour (Unknown)."""
    colour = record.colour
    if colour is None:
        return Text(str(record.severity))
    return Text(f" {colour.label_zh} ", style=COLOUR_STYLE.get(colour.value, ""))


def warning_title(colour: Colour | None, event: str) -> str:
    """``橙色暴雨预警``: the colour and the event, as the office says it."""
    return f"{colour.label_zh}{event}{WARNING_ZH}" if colour is not None else event


def alert_title(record: AlertRecord) -> str:
    return warning_title(record.colour, record.event)


def _state_words(record: AlertRecord, now: datetime) -> str:
    words = record.state(now).label
    return f"{words} ({_('exercise')})" if record.exercise else words


def _reason_words(code: str | None) -> str:
    from uplink.callanswer import CallReason

    try:
        return CallReason(code or "").label
    except ValueError:
        return code or ""


def _call_words(state: State, record: AlertRecord) -> str:
    """The 叫应 of an alert in one line: ``started automatically 12-07 09:02: 12/40 answered
    yes, 1 no, 3 silent (mobilization 7)``, or why it did not start."""
    from uplink import callanswer

    ctx = state.ctx
    progress = callanswer.call_of(ctx.db, record.id)
    if progress is None:
        if record.call_state == "skipped":
            return _("not started: {reason}").format(reason=_reason_words(record.call_reason))
        return _("not started")
    counts = progress.counts
    words = _(
        "{kind} {at}: {yes}/{total} answered yes, {no} no, {silent} silent (mobilization {id})"
    ).format(
        kind=_("started automatically") if progress.auto else _("started by hand"),
        at=short(progress.started_at, ctx.config.zone),
        yes=counts.yes,
        total=counts.total,
        no=counts.no,
        silent=counts.silent,
        id=progress.mobilization_id,
    )
    if progress.exercise:
        words += " " + _("(exercise)")
    if progress.stopped_at is not None:
        words += " " + _("stopped {at}").format(at=short(progress.stopped_at, ctx.config.zone))
    return words


def alert_json(record: AlertRecord, now: datetime, progress: CallProgress | None) -> dict[str, Any]:
    """The record's JSON; its ``call`` (the automatic decision: state, reason, at) gains
    ``progress``: the latest 叫应 of its thread with its counts, ``None`` when there is none."""
    data = record.to_json(now)
    data["call"] = {**data["call"], "progress": progress.to_json() if progress else None}
    return data


def _record_json(state: State, record: AlertRecord) -> dict[str, Any]:
    from uplink import callanswer

    progress = callanswer.call_of(state.ctx.db, record.id)
    return alert_json(record, state.ctx.clock.now(), progress)


def _done(state: State, record: AlertRecord, as_json: bool, message: str, **extra: Any) -> None:
    if as_json:
        emit_json({**_record_json(state, record), **extra})
        return
    click.echo(message)


def _find(state: State, ref: str) -> AlertRecord:
    from uplink import alerts

    return alerts.get_alert(state.ctx.db, ref.strip())


# ------------------------------------------------------------------------ after a write


def _after_write(state: State, record: AlertRecord) -> tuple[AlertRecord, dict[str, Any]]:
    """What follows an alert issued, updated, cancelled or imported here (in its transaction):
    at a hub, queued for the units of its area; at a unit, the local 叫应 started when the
    level calls for it, or stopped by a Cancel. Returns the record as it is then, and what was
    done (``units``: those it was queued for)."""
    from uplink import alerts, callanswer, downlink

    ctx = state.ctx
    if ctx.config.hub.enabled and record.origin == "issued":
        return record, {"units": list(downlink.fan_out_alert(ctx.db, ctx.clock.now(), record))}
    if record.msg_type == "Cancel":
        callanswer.stop_for_cancel(ctx.db, ctx.clock, record.id, operator=ctx.operator)
    else:
        callanswer.maybe_start(ctx.db, ctx.clock, record.id, rules=ctx.config.warning)
    return alerts.get_alert(ctx.db, record.id), {}


def _after_words(state: State, record: AlertRecord, done: dict[str, Any]) -> str:
    if "units" in done:
        units = done["units"]
        if not units:
            return _("no unit of this hub lies in its area")
        return _("sent down to {n} units: {units}").format(n=len(units), units=", ".join(units))
    if record.msg_type == "Cancel":
        return ""
    return _("call-and-answer: {words}").format(words=_call_words(state, record))


# ------------------------------------------------------------------------ the group


@click.group("alert")
def alert_group() -> None:
    """Warnings as CAP 1.2 alerts: issue, update, cancel, import; their 叫应.

    ID is an alert's identifier (330106000000_20261207093000_1) or its number in this database.
    """


def _content_options(command: Any) -> Any:
    """The options ``issue`` and ``update`` share (all optional for ``update``)."""
    options = [
        click.option(
            "--event",
            help=N_("What the warning is about: the CAP event, as the authority names it."),
        ),
        click.option(
            "--severity",
            "severity",
            metavar="LEVEL",
            help=N_(
                "Extreme, Severe, Moderate or Minor; or the colour: red, orange, yellow, blue"
                " (their Chinese names too)."
            ),
        ),
        click.option(
            "--urgency",
            metavar="WORD",
            help=N_("Immediate, Expected, Future, Past or Unknown (default: Expected)."),
        ),
        click.option(
            "--certainty",
            metavar="WORD",
            help=N_("Observed, Likely, Possible, Unlikely or Unknown (default: Likely)."),
        ),
        click.option("--headline", help=N_("One line: what, where, until when.")),
        click.option("--description", help=N_("What is happening and is expected.")),
        click.option("--instruction", help=N_("What the people warned must do.")),
        click.option(
            "--area",
            "areas",
            multiple=True,
            metavar="CODE",
            help=N_("A division code the warning covers (repeatable)."),
        ),
        click.option(
            "--area-desc",
            "area_desc",
            help=N_("The area in words (default: the names of the --area units)."),
        ),
        click.option(
            "--polygon",
            "polygon",
            type=click.Path(dir_okay=False, path_type=Path),
            help=N_(
                "A file with the area's outline: GeoJSON, or a CAP 'lat,lon lat,lon ...' ring."
            ),
        ),
        click.option("--expires", metavar="WHEN", help=N_("When the warning ends.")),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _clean(text: str | None, field: str, kind: str = "note") -> str | None:
    if text is None:
        return None
    return clean_text(text, field, kind=kind, multiline=kind == "note")


def _spec_values(
    state: State,
    *,
    event: str | None,
    severity: str | None,
    urgency: str | None,
    certainty: str | None,
    headline: str | None,
    description: str | None,
    instruction: str | None,
    areas: tuple[str, ...],
    area_desc: str | None,
    polygon: Path | None,
    expires: str | None,
) -> dict[str, Any]:
    """The AlertSpec fields the options give, each checked (naming its option); the ones
    not given are left out."""
    from uplink.cap import Certainty, Urgency

    values: dict[str, Any] = {}
    if event is not None:
        values["event"] = clean_text(event, "--event", kind="short", required=True)
    if severity is not None:
        values["severity"] = str(parse_colour(severity).severity)
    if urgency is not None:
        values["urgency"] = _choice(urgency, [u.value for u in Urgency], "--urgency")
    if certainty is not None:
        values["certainty"] = _choice(certainty, [c.value for c in Certainty], "--certainty")
    for name, value, kind in (
        ("headline", headline, "title"),
        ("description", description, "note"),
        ("instruction", instruction, "note"),
        ("area_desc", area_desc, "short"),
    ):
        if value is not None:
            values[name] = _clean(value, f"--{name.replace('_', '-')}", kind)
    if areas:
        values["area_codes"] = tuple(split_codes(areas, "--area"))
    if polygon is not None:
        values["polygons"] = tuple(read_polygons(polygon))
    if expires is not None:
        values["expires"] = _expires(state, expires)
    return values


def _area_words(state: State, codes: Sequence[str]) -> str:
    """The area in words when none is given: the names of the units it names that this
    database knows (``青山街道、和平街道``), else the codes."""
    from jurisdiction.units import get_unit
    from store.errors import NotFound

    names = []
    for code in codes:
        try:
            names.append(get_unit(state.ctx.db, code).name)
        except NotFound:
            names.append(code)
    return IDEOGRAPHIC_COMMA.join(names)


@alert_group.command("issue")
@_content_options
@click.option("--exercise", is_flag=True, help=N_("A drill: CAP status Exercise."))
@JSON
@pass_state
def issue_cmd(state: State, /, exercise: bool, as_json: bool, **options: Any) -> None:
    """Issue a warning: a CAP 1.2 alert, checked against the schema before it is kept; at a
    hub it goes down to the units in its area at once."""
    from uplink import alerts

    for name in ("event", "severity", "expires"):
        value = options[name]
        if value is None or not str(value).strip():
            raise InvalidInput(_("required"), f"--{name}")
    values = _spec_values(state, **options)
    if not values.get("area_codes") and not values.get("polygons"):
        raise InvalidInput(_("give the area: --area CODE (repeatable) or --polygon FILE"), "--area")
    if not values.get("area_desc"):
        values["area_desc"] = _area_words(state, values.get("area_codes", ()))
    values.setdefault("urgency", "Expected")
    values.setdefault("certainty", "Likely")
    if not values.get("headline"):
        colour = parse_colour(options["severity"])
        values["headline"] = warning_title(colour, values["event"])
    spec = alerts.AlertSpec(**values, exercise=exercise)
    ctx = state.ctx
    sender = _sender_code(state)
    with write(ctx.db):
        record = alerts.issue(ctx.db, ctx.clock, ctx.operator, spec, sender_code=sender)
        record, done = _after_write(state, record)
    _written(state, record, as_json, _("{title} issued: {id}"), done)


def _written(
    state: State, record: AlertRecord, as_json: bool, headline: str, done: dict[str, Any]
) -> None:
    _done(
        state,
        record,
        as_json,
        "\n".join(
            line
            for line in (
                headline.format(title=alert_title(record), id=record.identifier),
                _after_words(state, record, done),
            )
            if line
        ),
        **done,
    )


@alert_group.command("update")
@ALERT
@_content_options
@JSON
@pass_state
def update_cmd(state: State, /, alert_ref: str, as_json: bool, **options: Any) -> None:
    """Update an alert issued here: a CAP Update referencing it, with the changes given
    (the rest as it was); it replaces the old one."""
    from uplink import alerts

    changes = _spec_values(state, **options)
    if not changes:
        raise InvalidInput(_("give at least one change (--headline, --expires, ...)"), "ID")
    ctx = state.ctx
    old = _find(state, alert_ref)
    spec = replace(alerts.spec_of(old), **changes)
    if spec.expires is None or spec.expires <= ctx.clock.now():
        raise InvalidInput(_("the alert has expired: give a new --expires"), "--expires")
    with write(ctx.db):
        record = alerts.update(
            ctx.db, ctx.clock, ctx.operator, old.id, spec, sender_code=_sender_code(state)
        )
        record, done = _after_write(state, record)
    _written(state, record, as_json, _("updated: {title} {id}"), done)


@alert_group.command("cancel")
@ALERT
@click.option("--reason", help=N_("Why (sent in the Cancel's note)."))
@JSON
@pass_state
def cancel_cmd(state: State, alert_ref: str, reason: str | None, as_json: bool) -> None:
    """Cancel an alert issued here: a CAP Cancel referencing it; its 叫应 stops."""
    from uplink import alerts

    note = _clean(reason, "--reason") or ""
    ctx = state.ctx
    old = _find(state, alert_ref)
    with write(ctx.db):
        record = alerts.cancel(
            ctx.db, ctx.clock, ctx.operator, old.id, sender_code=_sender_code(state), note=note
        )
        record, done = _after_write(state, record)
    _written(state, record, as_json, _("cancelled: {title} {id}"), done)


@alert_group.command("list")
@click.option(
    "--active", is_flag=True, help=N_("Only alerts in force (not expired, cancelled or updated).")
)
@click.option(
    "--limit", default=200, show_default=True, type=click.IntRange(1, 10_000), help=N_("How many.")
)
@JSON
@pass_state
def list_cmd(state: State, active: bool, limit: int, as_json: bool) -> None:
    """The alerts issued here and received from above, newest first."""
    from uplink import alerts, callanswer

    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    found = alerts.list_alerts(ctx.db, active_only=active, now=now, limit=limit)
    calls = callanswer.calls_by_alert(ctx.db, [r.id for r in found])
    if as_json:
        emit_json(
            render.listing_json(
                (alert_json(r, now, calls.get(r.id)) for r in found),
                at=render.iso(now),
            )
        )
        return
    if not found:
        click.echo(_("no alerts in force") if active else _("no alerts"))
        return
    rows = []
    for r in found:
        words = _state_words(r, now)
        rows.append(
            (
                str(r.id),
                colour_text(r),
                r.event,
                r.headline,
                _("issued here") if r.origin == "issued" else r.sender,
                short(r.sent, zone),
                short(r.expires, zone),
                Text(words, style="" if r.is_active(now) else "dim"),
                _short_call(calls.get(r.id)),
            )
        )
    print_table(
        [
            _("id"),
            _("level"),
            _("event"),
            _("headline"),
            _("from"),
            _("sent"),
            _("expires"),
            _("state"),
            _("call"),
        ],
        rows,
    )


def _short_call(progress: CallProgress | None) -> str:
    if progress is None:
        return "-"
    return _("{yes}/{total} answered").format(yes=progress.counts.yes, total=progress.counts.total)


@alert_group.command("show")
@ALERT
@click.option("--xml", "as_xml", is_flag=True, help=N_("Print the CAP XML exactly as kept."))
@JSON
@pass_state
def show_cmd(state: State, alert_ref: str, as_xml: bool, as_json: bool) -> None:
    """An alert: its CAP fields, where it came from and its 叫应's progress."""
    if as_xml and as_json:
        raise InvalidInput(_("give --xml or --json, not both"), "--xml")
    record = _find(state, alert_ref)
    if as_xml:
        click.echo(record.xml.decode("utf-8"), nl=False)
        return
    if as_json:
        emit_json(_record_json(state, record))
        return
    ctx = state.ctx
    zone, now = ctx.config.zone, ctx.clock.now()
    rows = [
        (_("alert"), f"{alert_title(record)}  ({record.identifier})"),
        (_("state"), _state_words(record, now)),
        (_("status"), f"{record.status} / {record.msg_type}"),
        (_("sender"), record.sender),
        (_("sent"), local(record.sent, zone)),
        (
            _("level"),
            ", ".join(
                (
                    record.colour.label_zh if record.colour else record.severity.label,
                    f"{record.severity.value}",
                    record.urgency.label,
                    record.certainty.label,
                )
            ),
        ),
        (_("headline"), record.headline or "-"),
        (_("description"), record.description or "-"),
        (_("instruction"), record.instruction or "-"),
        (_("area"), record.area_desc or "-"),
        (_("area codes"), ", ".join(record.area_codes) or "-"),
        (_("polygons"), str(len(record.polygons)) if record.polygons else "-"),
        (_("effective"), local(record.effective, zone) or "-"),
        (_("expires"), local(record.expires, zone) or "-"),
    ]
    if record.references:
        rows.append((_("references"), " ".join(record.references)))
    if record.origin == "received":
        rows.append((_("received"), f"{local(record.received_at, zone)} ({record.via})"))
    else:
        rows.append((_("issued by"), record.issued_by or "-"))
    if record.superseded_by:
        rows.append((_("updated by"), record.superseded_by))
    if record.cancelled_at is not None:
        rows.append((_("cancelled"), local(record.cancelled_at, zone)))
    rows.append((_("call"), _call_words(state, record)))
    echo_fields(rows)


@alert_group.command("import")
@click.argument("path", metavar="FILE.xml", type=click.Path(dir_okay=False, path_type=Path))
@JSON
@pass_state
def import_cmd(state: State, path: Path, as_json: bool) -> None:
    """Take in a CAP 1.2 alert received by other means (a file); a bad one is refused with the
    schema's words and the element's path, and nothing is kept."""
    from uplink import alerts

    ctx = state.ctx
    with write(ctx.db):
        received = alerts.import_file(ctx.db, ctx.clock, path)
        record, done = received.record, dict[str, Any]()
        if received.new:
            record, done = _after_write(state, record)
    headline = _("{title} imported: {id}") if received.new else _("already here: {title} {id}")
    _written(state, record, as_json, headline, {"new": received.new, **done})


@alert_group.command("call")
@ALERT
@click.option(
    "--exercise", is_flag=True, help=N_("A drill: the people are told it is an exercise.")
)
@JSON
@pass_state
def call_cmd(state: State, alert_ref: str, exercise: bool, as_json: bool) -> None:
    """Start a 叫应 for an alert by hand: the responsible people of its area are called and
    must answer; silence goes to alternates, then to the duty officer's screen."""
    from uplink import callanswer

    ctx = state.ctx
    record = _find(state, alert_ref)
    mobilization = callanswer.start_call(
        ctx.db,
        ctx.clock,
        ctx.operator,
        record.id,
        auto=False,
        exercise=exercise,
        rules=ctx.config.warning,
    )
    _done(
        state,
        record,
        as_json,
        _("call-and-answer started for {title}: dutydesk mobilization show {id} --watch").format(
            title=alert_title(record), id=mobilization
        ),
        mobilization=mobilization,
    )


@alert_group.command("call-tree")
@click.option(
    "--tree",
    default="jiaoying-drill",
    show_default=True,
    help=N_("The contact tree to build (a drill's own, not narrowed by the next warning)."),
)
@JSON
@pass_state
def call_tree_cmd(state: State, tree: str, as_json: bool) -> None:
    """Build the 叫应's contact tree over the whole jurisdiction (the leader on duty, the duty
    officer, every community secretary and grid leader): what a drill of the 叫应 walks."""
    from uplink import callanswer

    ctx = state.ctx
    name = clean_text(tree, "--tree", kind="code", required=True)
    try:
        nodes = callanswer.build_call_tree(
            ctx.db, ctx.clock, ctx.operator, ctx.config.warning, tree=name
        )
    except InvalidInput as exc:
        raise InvalidInput(exc.reason, "--tree") from None
    if as_json:
        emit_json({"tree": name, "nodes": nodes})
        return
    click.echo(
        _(
            "tree {tree} built: {n} nodes; drill it with a call-tree drill plan: dutydesk drill"
            " plan add CODE --tree {tree} --scope node:root ..."
        ).format(tree=name, n=nodes)
    )
