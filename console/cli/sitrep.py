"""Provides ``dutydesk sitrep ...``: information reports (初报、续报、终报) from the command line.

The shell of :mod:`uplink.sitreps`: a report is drafted from the case, edited (text fields by
name or Chinese label, casualty figures as numbers), signed off by someone entitled and sent up
through the uplink; a report given by phone is recorded with its time and who took it. ``list
--due``/``--late`` shows the obligations, as the dashboard does (``初报 due in 12 min``). Times
are typed and shown in the office's zone; a wrong value is one line naming the option, exit
code 2, and nothing is written.

A report's fields can come from a file (``edit --from-file``): ``name: text`` lines, where a
line that starts with a space or tab continues the field above and ``#`` starts a comment, or
one JSON object. ``edit ID`` with no option opens that file in ``$EDITOR``, as ``git commit``
does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from console.cli import render
from console.cli.common import ROW_ID, State, emit_json, parse_time, pass_state
from console.cli.tables import echo_fields, print_table
from console.sitrep_words import next_followup, obligation_name, obligation_words
from console.timefmt import local, short
from store.errors import InvalidInput
from store.i18n import N_, _
from store.text import clean_text
from uplink.reporting import (
    FIELD_NAMES,
    FIELD_ZH,
    FIGURE_NAMES,
    FIGURE_ZH,
    Figures,
    Obligation,
    ReportKind,
    Sitrep,
)
from uplink.sitrep_rules import SitrepRules

CASE = click.argument("case", metavar="CASE")
REPORT = click.argument("sitrep_id", metavar="ID", type=ROW_ID)
JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
MAX_FILE_BYTES = 256 * 1024  # a report is a page; a bigger file is a mistake
FIGURE_HELP = {
    "dead": N_("Dead."),
    "injured": N_("Injured."),
    "missing": N_("Missing."),
    "trapped": N_("Trapped."),
    "evacuated": N_("People evacuated."),
}
_ZH_NAMES = {label: name for name, label in FIELD_ZH.items()} | {
    label: name for name, label in FIGURE_ZH.items()
}
AS_OF_NAMES = ("as_of", "as-of")
FULLWIDTH_COLON = chr(0xFF1A)  # the colon a Chinese keyboard types: "事发地点：…"


def figure_options(command: Any) -> Any:
    """``--dead N --injured N --missing N --trapped N --evacuated N --as-of WHEN``.

    Counts are taken as text and read by :meth:`Figures.parse`, so ``-3`` or ``two`` is refused
    with the figure named, never turned into a click usage error without it.
    """
    for name in reversed(FIGURE_NAMES):
        command = click.option(f"--{name}", name, metavar="N", help=FIGURE_HELP[name])(command)
    return click.option(
        "--as-of",
        "as_of",
        metavar="WHEN",
        help=N_("When the figures were valid (default: now)."),
    )(command)


# ------------------------------------------------------------------------ helpers


def _rules(state: State) -> SitrepRules:
    return state.ctx.config.sitrep


def _unit_name(state: State) -> str:
    """报告单位: ``[sitrep] unit_name``, else the name of the database's one top unit."""
    rules = _rules(state)
    if rules.unit_name:
        return rules.unit_name
    from jurisdiction.models import Level
    from jurisdiction.units import list_units

    db = state.ctx.db
    for level in Level:
        units = list_units(db, level=level)
        if units:
            return units[0].name if len(units) == 1 else ""
    return ""


def _case_id(state: State, text: str) -> int:
    from incidents.records import find_case

    return find_case(state.ctx.db, text.strip())


def _given_figures(values: Mapping[str, str | None]) -> dict[str, str]:
    """The figures typed on the command line (the others are left as they are)."""
    given = {name: value for name, value in values.items() if value is not None}
    Figures.parse(given, None)  # refuses -3, 2.5, "two" naming the figure, before any write
    return given


def _as_of(state: State, text: str | None) -> datetime | None:
    if text is None:
        return None
    ctx = state.ctx
    return parse_time(text, ctx.clock.now(), ctx.config.zone, "--as-of")


def _sitrep_json(sitrep: Sitrep, **extra: Any) -> dict[str, Any]:
    return {**sitrep.to_json(), **extra}


def _describe(sitrep: Sitrep) -> str:
    """``续报二 (id 7) of 2026-000241``."""
    return _("{name} (id {id}) of {case}").format(
        name=sitrep.name, id=sitrep.id, case=sitrep.case_number
    )


def _reporting(state: State, case_id: int) -> tuple[dict[str, Any], list[Obligation]]:
    """A case's reporting facts and its obligations now: the JSON of mark/received/figures,
    and the obligations themselves (brought up to date first)."""
    from uplink import sitreps

    ctx = state.ctx
    now = ctx.clock.now()
    sitreps.catch_up(ctx.db, ctx.clock, _rules(state))
    facts = sitreps.reporting_of(ctx.db, case_id)
    owed = sitreps.obligations_of(ctx.db, now, case_id)
    return {**facts.to_json(), "obligations": [o.to_json(now) for o in owed]}, owed


def _echo_reporting(state: State, data: Mapping[str, Any], owed: list[Obligation]) -> None:
    """The case's reporting facts and what it owes, a line each."""
    from store.clock import from_iso

    ctx = state.ctx
    zone, now = ctx.config.zone, ctx.clock.now()
    received = data["received_at"]
    flags = [
        word
        for word, on in ((_("to be reported"), data["marked"]), (_("sensitive"), data["sensitive"]))
        if on
    ]
    echo_fields(
        [
            (_("case"), str(data["case"])),
            (_("received at"), local(from_iso(received), zone) if received else "-"),
            (_("marked"), ", ".join(flags) or "-"),
            (_("figures"), _figures_words(Figures.from_json(data["figures"]), zone)),
        ]
    )
    for obligation in owed:
        click.echo("  " + obligation_words(obligation, now, zone))


def _figures_words(figures: Figures, zone: Any) -> str:
    """``死亡 0, 受伤 2, 转移疏散 30 (as of 12-07 09:40)``; ``-`` when none is known."""
    known = [
        f"{FIGURE_ZH[name]} {value}"
        for name, value in figures.counts().items()
        if value is not None
    ]
    if not known:
        return "-"
    text = ", ".join(known)
    if figures.as_of is not None:
        text += " " + _("(as of {time})").format(time=short(figures.as_of, zone))
    return text


def _done(state: State, sitrep: Sitrep, as_json: bool, message: str) -> None:
    if as_json:
        emit_json(_sitrep_json(sitrep))
        return
    click.echo(message)


# ------------------------------------------------------------------------ the group


@click.group("sitrep")
def sitrep_group() -> None:
    """Information reports up the chain (initial, follow-up, final): draft, sign off, send.

    CASE is a case number (2026-000123), its tail (123) or its id; ID is a report's id.
    """


@sitrep_group.command("draft")
@CASE
@click.option(
    "--kind",
    "kind_text",
    required=True,
    metavar="KIND",
    help=N_("initial, followup or final (the Chinese names work too)."),
)
@click.option(
    "--corrects",
    type=ROW_ID,
    metavar="ID",
    help=N_("The sent report this follow-up corrects (say what in its corrects field)."),
)
@JSON
@pass_state
def draft_cmd(state: State, case: str, kind_text: str, corrects: int | None, as_json: bool) -> None:
    """Draft a report of CASE, its fields filled in from the record."""
    from uplink import sitreps

    kind = ReportKind.parse(kind_text)
    ctx = state.ctx
    sitrep = sitreps.draft(
        ctx.db,
        ctx.clock,
        _rules(state),
        ctx.operator,
        _case_id(state, case),
        kind,
        corrects=corrects,
        unit_name=_unit_name(state),
    )
    _done(
        state,
        sitrep,
        as_json,
        _(
            "drafted {report}: check it with dutydesk sitrep show {id}, change it with"
            " dutydesk sitrep edit {id}, then sign and send"
        ).format(report=_describe(sitrep), id=sitrep.id),
    )


# ------------------------------------------------------------------------ editing


def field_name(text: str, where: str) -> str:
    """A report field or figure by its name (``place``) or Chinese label (事发地点).

    Raises:
        InvalidInput: naming ``where``: not a field of a report.
    """
    word = text.strip()
    key = word.lower().replace("-", "_")
    if key in FIELD_NAMES or key in FIGURE_NAMES or key in AS_OF_NAMES:
        return "as_of" if key in AS_OF_NAMES else key
    if word in _ZH_NAMES:
        return _ZH_NAMES[word]
    raise InvalidInput(
        _("unknown field {name!r}; use one of {names}").format(
            name=text, names=", ".join((*FIELD_NAMES, *FIGURE_NAMES, "as_of"))
        ),
        where,
    )


def _split_name(text: str, separators: tuple[str, ...]) -> tuple[str, str, str]:
    """``text`` cut at the first of ``separators`` (name, separator, rest); the rest keeps
    whatever colons it holds (``报告人：周建华``)."""
    found = [(text.find(sep), sep) for sep in separators if sep in text]
    if not found:
        return text, "", ""
    index, sep = min(found)
    return text[:index], sep, text[index + len(sep) :]


def parse_field_args(values: tuple[str, ...]) -> dict[str, str]:
    """``--field NAME=TEXT`` (or ``NAME:TEXT``, ``名称：内容``) as {field: text}."""
    fields: dict[str, str] = {}
    for value in values:
        name, sep, text = _split_name(value, ("=", ":", FULLWIDTH_COLON))
        if not sep:
            raise InvalidInput(
                _("{value!r}: give NAME=TEXT, e.g. trend=under control").format(value=value),
                "--field",
            )
        key = field_name(name, "--field")
        if key not in FIELD_NAMES:
            raise InvalidInput(
                _("{name!r} is a figure: give it with --{name}").format(name=key), "--field"
            )
        fields[key] = clean_text(text, f"--field {key}", kind="note", multiline=True)
    return fields


def parse_report_text(text: str, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """A report file's fields and figures: ``name: text`` lines, or one JSON object.

    In the line form, a line starting with a space or tab continues the field above (a blank
    line too, inside a field), ``#`` starts a comment line, and the name may be the Chinese
    label (``事发地点：…``, with a full-width colon). Figures (``dead: 0``) and ``as_of`` may be
    given too; an empty value clears a text field and leaves a figure unknown.

    Returns:
        (fields, figures), figures as text (with ``as_of`` when given).

    Raises:
        InvalidInput: naming ``source`` and the line: an unknown name, a line that is not
            ``name: text``, bad JSON, a field given twice.
    """
    stripped = text.lstrip("\ufeff")
    if stripped.lstrip().startswith("{"):
        return _parse_json_report(stripped, source)
    values: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    current: str | None = None
    for number, line in enumerate(stripped.splitlines(), start=1):
        where = f"{source}:{number}"
        if line.lstrip().startswith("#"):
            continue
        if current is not None and (line[:1] in (" ", "\t") or not line.strip()):
            values[current].append(line.strip())
            continue
        if not line.strip():
            continue
        name, sep, value = _split_name(line, (":", FULLWIDTH_COLON))
        if not sep:
            raise InvalidInput(
                _("expected 'name: text', not {line!r}").format(line=line[:60]), where
            )
        key = field_name(name, where)
        if key in values:
            raise InvalidInput(
                _("{name} is given twice (first on line {line})").format(name=key, line=lines[key]),
                where,
            )
        values[key] = [value.strip()]
        lines[key] = number
        current = key
    fields: dict[str, str] = {}
    figures: dict[str, str] = {}
    for key, parts in values.items():
        where = f"{source}:{lines[key]}"
        value = "\n".join(parts).strip()
        if key in FIELD_NAMES:
            fields[key] = clean_text(value, where, kind="note", multiline=True)
        else:
            figures[key] = clean_text(value, where)
    _check_figures(figures, lines, source)
    return fields, figures


def _parse_json_report(text: str, source: str) -> tuple[dict[str, str], dict[str, str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            _("not valid JSON: {error}").format(error=exc.msg), f"{source}:{exc.lineno}"
        ) from None
    except RecursionError:
        raise InvalidInput(_("nested too deeply"), source) from None
    if not isinstance(data, dict):
        raise InvalidInput(_("expected one JSON object of name: text"), source)
    fields: dict[str, str] = {}
    figures: dict[str, str] = {}
    for name, value in data.items():
        key = field_name(str(name), f"{source}: {name}")
        if value is None:
            value = ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInput(_("must be text or a number"), f"{source}: {name}")
        if key in FIELD_NAMES:
            fields[key] = clean_text(str(value), f"{source}: {name}", kind="note", multiline=True)
        else:
            figures[key] = str(value).strip()
    _check_figures(figures, {}, source)
    return fields, figures


def _check_figures(figures: Mapping[str, str], lines: Mapping[str, int], source: str) -> None:
    """Refuse a bad count in a file with the file and line (before anything is written)."""
    for name, value in figures.items():
        if name == "as_of":
            continue
        try:
            Figures.parse({name: value}, None)
        except InvalidInput as exc:
            where = f"{source}:{lines[name]}" if name in lines else f"{source}: {name}"
            raise InvalidInput(exc.reason, where) from None


def report_file_text(sitrep: Sitrep, case_title: str, zone: Any) -> str:
    """The ``name: text`` file ``sitrep edit ID`` opens in the editor: every field, its label."""
    lines = [
        "# "
        + _("{report} of {case} {title}").format(
            report=sitrep.name, case=sitrep.case_number, title=case_title
        ),
        "# "
        + _(
            "Lines 'name: text'; a line starting with a space continues the field above."
            " Save and quit to keep; empty the file to cancel."
        ),
        "",
    ]
    for name in FIELD_NAMES:
        text = sitrep.fields.get(name, "")
        lines.append(f"# {FIELD_ZH[name]}")
        head, *rest = text.splitlines() or [""]
        lines.append(f"{name}: {head}".rstrip())
        lines.extend(f"  {line}" if line else "  " for line in rest)
    lines.append("")
    lines.append("# " + _("figures (whole numbers; empty: not known)"))
    for name, value in sitrep.figures.counts().items():
        lines.append(f"# {FIGURE_ZH[name]}")
        lines.append(f"{name}: {'' if value is None else value}".rstrip())
    as_of = sitrep.figures.as_of
    lines.append("# " + _("when the figures were valid (YYYY-MM-DD HH:MM; empty: now)"))
    lines.append(f"as_of: {local(as_of, zone) if as_of else ''}".rstrip())
    return "\n".join(lines) + "\n"


def _read_report_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            _("cannot read {file}: {error}").format(file=path, error=exc.strerror or exc),
            "--from-file",
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(
            _("{file} is larger than {kb} KB").format(file=path, kb=MAX_FILE_BYTES // 1024),
            "--from-file",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(_("not UTF-8 text"), f"{path}:{line}") from None


@sitrep_group.command("edit")
@REPORT
@click.option(
    "--field",
    "field_args",
    multiple=True,
    metavar="NAME=TEXT",
    help=N_("A text field by name or Chinese label, e.g. trend=under control (repeatable)."),
)
@figure_options
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=N_("Fields from a file: 'name: text' lines, or a JSON object."),
)
@JSON
@pass_state
def edit_cmd(
    state: State,
    /,
    sitrep_id: int,
    field_args: tuple[str, ...],
    as_of: str | None,
    from_file: Path | None,
    as_json: bool,
    **figure_values: str | None,
) -> None:
    """Change a draft (or a signed report: its sign-off is then void).

    With no option, opens the report as a 'name: text' file in $EDITOR.
    """
    from uplink import sitreps

    ctx = state.ctx
    fields: dict[str, str] = {}
    figures: dict[str, str] = {}
    if from_file is not None:
        fields, figures = parse_report_text(_read_report_file(from_file), str(from_file))
    elif not field_args and not any(v is not None for v in figure_values.values()) and not as_of:
        edited = _edit_in_editor(state, sitrep_id)
        if edited is None:
            click.echo(_("nothing changed"))
            return
        fields, figures = edited
    file_as_of = figures.pop("as_of", None)
    as_of_text = as_of or file_as_of or None
    fields.update(parse_field_args(field_args))
    figures.update(_given_figures(figure_values))
    when = _as_of(state, as_of_text)
    sitrep = sitreps.edit(
        ctx.db,
        ctx.clock,
        ctx.operator,
        sitrep_id,
        fields=fields or None,
        figures=figures or None,
        as_of=when,
    )
    _done(state, sitrep, as_json, _("{report} saved").format(report=_describe(sitrep)))


def _edit_in_editor(state: State, sitrep_id: int) -> tuple[dict[str, str], dict[str, str]] | None:
    """The report in ``$EDITOR`` as a ``name: text`` file; None when it came back unchanged
    or empty."""
    from incidents.records import get_incident
    from uplink import sitreps

    ctx = state.ctx
    sitrep = sitreps.get_sitrep(ctx.db, sitrep_id)
    if sitrep.state.final:
        raise InvalidInput(
            _("{report} was sent and is never edited: draft a follow-up that corrects it").format(
                report=_describe(sitrep)
            ),
            "ID",
        )
    before = report_file_text(sitrep, get_incident(ctx.db, sitrep.case_id).title, ctx.config.zone)
    after = click.edit(before, extension=".txt", require_save=True)
    if after is None or not after.strip() or after == before:
        return None
    fields, figures = parse_report_text(after, _("the edited report"))
    fields = {k: v for k, v in fields.items() if v != sitrep.fields.get(k, "")}
    old = sitrep.figures.counts()
    as_of = figures.pop("as_of", "")
    figures = {k: v for k, v in figures.items() if v != ("" if old[k] is None else str(old[k]))}
    if as_of and figures:
        figures["as_of"] = as_of
    if not fields and not figures:
        return None
    return fields, figures


# ------------------------------------------------------------------------ show


@sitrep_group.command("show")
@REPORT
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "md", "docx"]),
    help=N_("text (what is sent), md (Markdown) or docx (Word); default: by -o's suffix."),
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help=N_("The file to write (default: stdout; a Word document needs one)."),
)
@JSON
@pass_state
def show_cmd(
    state: State, sitrep_id: int, fmt: str | None, output: Path | None, as_json: bool
) -> None:
    """A report: where it stands and its text, or its document (Markdown, Word)."""
    from uplink import sitrep_render, sitreps

    ctx = state.ctx
    if fmt is None and output is not None:
        fmt = {".docx": "docx", ".md": "md"}.get(output.suffix.lower(), "text")
    fmt = fmt or "text"
    if fmt == "docx" and output is None:
        raise InvalidInput(_("a Word document needs a file: -o report.docx"), "--output")
    doc = sitreps.document(ctx.db, sitrep_id, unit_name=_unit_name(state))
    sitrep = doc.sitrep
    if as_json:
        emit_json(_sitrep_json(sitrep, title=sitrep_render.title(doc)))
        return
    if output is not None:
        data: bytes | str
        if fmt == "docx":
            template = _rules(state).template
            data = sitrep_render.docx(doc, Path(template) if template else None)
        elif fmt == "md":
            data = sitrep_render.markdown(doc)
        else:
            data = sitrep_render.plain_text(doc)
        _write(output, data)
        click.echo(_("{report} written to {file}").format(report=_describe(sitrep), file=output))
        return
    if fmt == "md":
        click.echo(sitrep_render.markdown(doc), nl=False)
        return
    _echo_status(state, sitrep)
    click.echo()
    click.echo(sitrep.text if sitrep.text is not None else sitrep_render.plain_text(doc))


def _state_label(sitrep: Sitrep) -> str:
    """``已报送 sent``: the Chinese word the office uses, with its translation when it differs."""
    zh, label = sitrep.state.label_zh, sitrep.state.label
    return zh if label == zh else f"{zh} {label}"


def _write(path: Path, data: bytes | str) -> None:
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            _("cannot write {file}: {error}").format(file=path, error=exc.strerror or exc),
            "--output",
        ) from None


def _echo_status(state: State, sitrep: Sitrep) -> None:
    """Where a report stands: state, who drafted, signed, sent it, and the hub's receipt."""
    zone = state.ctx.config.zone
    rows = [
        (_("report"), _describe(sitrep)),
        (_("state"), _state_label(sitrep)),
        (
            _("drafted"),
            f"{sitrep.drafted_by} {local(sitrep.drafted_at, zone)}",
        ),
    ]
    if sitrep.corrects is not None:
        rows.append((_("corrects"), _("report {id}").format(id=sitrep.corrects)))
    if sitrep.phoned_to:
        rows.append((_("by phone"), f"{sitrep.phoned_to} {local(sitrep.sent_at, zone)}".strip()))
    if sitrep.signed_by:
        rows.append((_("signer"), f"{sitrep.signed_by} {local(sitrep.signed_at, zone)}"))
    if sitrep.sent_by and not sitrep.phoned_to:
        rows.append((_("sent"), f"{sitrep.sent_by} {local(sitrep.sent_at, zone)}"))
    if sitrep.received_at:
        rows.append((_("received"), local(sitrep.received_at, zone)))
    echo_fields(rows)


# ------------------------------------------------------------------------ sign, send, phone


@sitrep_group.command("sign")
@REPORT
@click.option(
    "--by",
    "by",
    metavar="NAME",
    help=N_("Who signs it off (key, name or pinyin; default: the acting officer)."),
)
@JSON
@pass_state
def sign_cmd(state: State, sitrep_id: int, by: str | None, as_json: bool) -> None:
    """Sign a report off: the shift lead or the office head, or [sitrep] signers."""
    from uplink import sitreps

    ctx = state.ctx
    rules = _rules(state)
    signer = _signer(state, by, rules) if by is not None else None
    sitrep = sitreps.sign(ctx.db, ctx.clock, rules, ctx.operator, sitrep_id, signer=signer)
    _done(
        state,
        sitrep,
        as_json,
        _("{report} signed off by {signer}: send it with dutydesk sitrep send {id}").format(
            report=_describe(sitrep), signer=sitrep.signed_by, id=sitrep.id
        ),
    )


def _signer(state: State, text: str, rules: SitrepRules) -> str:
    """The name ``--by`` gives: a configured signer as written, else a known person's name."""
    from console.acting import lookup_person

    name = clean_text(text, "--by", kind="name", required=True)
    if name in rules.signers:
        return name
    ctx = state.ctx
    return lookup_person(ctx.db, name, "--by", ctx.clock.now()).name


@sitrep_group.command("send")
@REPORT
@JSON
@pass_state
def send_cmd(state: State, sitrep_id: int, as_json: bool) -> None:
    """Send a signed report up: its exact text is kept in the audit and goes to the outbox."""
    from uplink import sitreps

    ctx = state.ctx
    sitrep = sitreps.send(ctx.db, ctx.clock, ctx.operator, sitrep_id, unit_name=_unit_name(state))
    _done(
        state,
        sitrep,
        as_json,
        _(
            "{report} sent: it is in the outbox and goes up with the next batch"
            " (dutydesk sync status); the county's receipt shows in dutydesk sitrep show {id}"
        ).format(report=_describe(sitrep), id=sitrep.id),
    )


@sitrep_group.command("phone")
@CASE
@click.option("--to", "to", required=True, help=N_("Who took the call at the level above."))
@click.option("--at", "at", required=True, metavar="WHEN", help=N_("When it was given."))
@click.option("--note", default="", help=N_("What was said, briefly."))
@click.option(
    "--kind",
    "kind_text",
    default="initial",
    show_default=True,
    metavar="KIND",
    help=N_("initial, followup or final."),
)
@JSON
@pass_state
def phone_cmd(
    state: State, case: str, to: str, at: str, note: str, kind_text: str, as_json: bool
) -> None:
    """Record a report given by phone: it meets a phone deadline, not the written one."""
    from uplink import sitreps

    ctx = state.ctx
    kind = ReportKind.parse(kind_text)
    to = clean_text(to, "--to", kind="name", required=True)
    note = clean_text(note, "--note", kind="note", multiline=True)
    when = parse_time(at, ctx.clock.now(), ctx.config.zone, "--at")
    if when > ctx.clock.now():
        raise InvalidInput(_("{time} is in the future").format(time=at), "--at")
    sitrep = sitreps.phone(
        ctx.db, ctx.clock, ctx.operator, _case_id(state, case), to=to, at=when, note=note,
        kind=kind,
    )  # fmt: skip
    _done(
        state,
        sitrep,
        as_json,
        _("report by phone to {name} at {time} recorded for {case} (id {id})").format(
            name=to,
            time=local(when, ctx.config.zone),
            case=sitrep.case_number,
            id=sitrep.id,
        ),
    )


@sitrep_group.command("discard")
@REPORT
@JSON
@pass_state
def discard_cmd(state: State, sitrep_id: int, as_json: bool) -> None:
    """Discard a draft or a signed report that was not sent (kept in the audit)."""
    from uplink import sitreps

    ctx = state.ctx
    sitrep = sitreps.get_sitrep(ctx.db, sitrep_id)
    sitreps.discard(ctx.db, ctx.clock, ctx.operator, sitrep_id)
    if as_json:
        emit_json(_sitrep_json(sitrep, discarded=True))
        return
    click.echo(_("{report} discarded").format(report=_describe(sitrep)))


# ------------------------------------------------------------------------ listing


@sitrep_group.command("list")
@click.option("--case", "case", metavar="CASE", help=N_("Only this case's reports."))
@click.option("--due", is_flag=True, help=N_("The reports owed: due and overdue, earliest first."))
@click.option("--late", is_flag=True, help=N_("Reports overdue or sent late."))
@click.option(
    "--limit", default=200, show_default=True, type=click.IntRange(1, 10_000), help=N_("How many.")
)
@JSON
@pass_state
def list_cmd(
    state: State, case: str | None, due: bool, late: bool, limit: int, as_json: bool
) -> None:
    """The reports, newest first; with --due or --late, the obligations to report."""
    from uplink import sitreps

    if due and late:
        raise InvalidInput(_("give --due or --late, not both"), "--late")
    ctx = state.ctx
    now, zone = ctx.clock.now(), ctx.config.zone
    case_id = _case_id(state, case) if case is not None else None
    if due or late:
        sitreps.catch_up(ctx.db, ctx.clock, _rules(state))
        if case_id is not None:
            owed = [
                o
                for o in sitreps.obligations_of(ctx.db, now, case_id)
                if (o.state_at(now).open if due else o.delay_at(now) is not None)
            ]
        elif due:
            owed = sitreps.open_obligations(ctx.db, now, limit=limit)
        else:
            owed = sitreps.late_obligations(ctx.db, now, limit=limit)
        owed = owed[:limit]
        if as_json:
            emit_json(render.listing_json([o.to_json(now) for o in owed], at=render.iso(now)))
            return
        if not owed:
            click.echo(_("no reports owed") if due else _("no report late or missing"))
            return
        _print_obligations(state, owed, now, zone)
        return
    items = sitreps.list_sitreps(ctx.db, case=case_id, limit=limit)
    if as_json:
        emit_json(render.listing_json(s.to_json() for s in items))
        return
    if not items:
        click.echo(_("no reports yet (draft one with: dutydesk sitrep draft CASE --kind initial)"))
        return
    print_table(
        [_("id"), _("case"), _("report"), _("state"), _("signer"), _("time")],
        (
            (
                str(s.id),
                s.case_number,
                s.name,
                _state_words(s),
                s.signed_by or "",
                short(s.received_at or s.sent_at or s.signed_at or s.updated_at, zone),
            )
            for s in items
        ),
    )


def _state_words(sitrep: Sitrep) -> str:
    if sitrep.phoned_to:
        return _("by phone to {name}").format(name=sitrep.phoned_to)
    return sitrep.state.label_zh


def _print_obligations(state: State, owed: list[Any], now: datetime, zone: Any) -> None:
    """``2026-000241  幸福社区3号楼发生火灾  初报 due in 12 min  (case received)``."""
    from incidents.records import get_incident
    from uplink import sitreps

    ctx = state.ctx
    titles: dict[int, str] = {}
    seqs: dict[int, int] = {}
    rows = []
    for obligation in owed:
        cid = obligation.case_id
        if cid not in titles:
            titles[cid] = get_incident(ctx.db, cid).title
            seqs[cid] = next_followup(sitreps.list_sitreps(ctx.db, case=cid))
        name = obligation_name(obligation, seqs[cid])
        rows.append(
            (
                obligation.case_number,
                titles[cid],
                obligation_words(obligation, now, zone, name=name),
                obligation.reason.label,
                short(obligation.due, zone),
            )
        )
    print_table([_("case"), _("title"), _("report"), _("why"), _("due")], rows)


# ------------------------------------------------------------------------ the case's facts


@sitrep_group.command("mark")
@CASE
@click.option(
    "--report/--no-report",
    "marked",
    default=None,
    help=N_("Mark the case to be reported up whatever its level (or take the mark off)."),
)
@click.option(
    "--sensitive/--no-sensitive",
    "sensitive",
    default=None,
    help=N_("Mark the case sensitive: reportable whatever its level."),
)
@JSON
@pass_state
def mark_cmd(
    state: State, case: str, marked: bool | None, sensitive: bool | None, as_json: bool
) -> None:
    """Mark a case to be reported, or sensitive (both make it reportable at any level)."""
    from uplink import sitreps

    if marked is None and sensitive is None:
        raise InvalidInput(
            _("give --report, --no-report, --sensitive or --no-sensitive"), "--report"
        )
    ctx = state.ctx
    case_id = _case_id(state, case)
    sitreps.mark(ctx.db, ctx.clock, ctx.operator, case_id, marked=marked, sensitive=sensitive)
    _reporting_done(state, case_id, as_json)


@sitrep_group.command("received")
@CASE
@click.option(
    "--at",
    "at",
    required=True,
    metavar="WHEN",
    help=N_("When the report of the case was received."),
)
@click.option("--reason", required=True, help=N_("Why the recorded time was wrong."))
@JSON
@pass_state
def received_cmd(state: State, case: str, at: str, reason: str, as_json: bool) -> None:
    """Correct when the case was received: the initial report's clock starts there (audited)."""
    from uplink import sitreps

    ctx = state.ctx
    reason = clean_text(reason, "--reason", kind="note", multiline=True, required=True)
    when = parse_time(at, ctx.clock.now(), ctx.config.zone, "--at")
    if when > ctx.clock.now():
        raise InvalidInput(_("{time} is in the future").format(time=at), "--at")
    case_id = _case_id(state, case)
    sitreps.correct_received(ctx.db, ctx.clock, ctx.operator, case_id, when, reason)
    _reporting_done(state, case_id, as_json)


@sitrep_group.command("figures")
@CASE
@figure_options
@JSON
@pass_state
def figures_cmd(
    state: State, /, case: str, as_of: str | None, as_json: bool, **figure_values: str | None
) -> None:
    """Record the case's casualty and evacuation figures (a change calls for a follow-up)."""
    from uplink import sitreps

    ctx = state.ctx
    given = _given_figures(figure_values)
    if not given:
        raise InvalidInput(
            _("give at least one of {options}").format(
                options=", ".join(f"--{name}" for name in FIGURE_NAMES)
            ),
            "--dead",
        )
    when = _as_of(state, as_of)
    case_id = _case_id(state, case)
    sitreps.record_figures(ctx.db, ctx.clock, ctx.operator, case_id, given, when)
    _reporting_done(state, case_id, as_json)


def _reporting_done(state: State, case_id: int, as_json: bool) -> None:
    data, owed = _reporting(state, case_id)
    if as_json:
        emit_json(data)
        return
    _echo_reporting(state, data, owed)
