"""``dutydesk report``: the reports as Markdown, a printable HTML page, PDF or Word.

Every kind builds a :class:`reports.document.Document` and hands it to :func:`emit_document`,
which renders it (:func:`reports.render.render`), audits an unmasked one and writes the file
atomically. :func:`common_options` gives every kind the same options: ``--format``, ``-o``,
``--templates``, ``--unmasked``, ``--json``. The kinds of other modules (the case report, the
duty log, the statistics) are added to the group at the bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from console.cli.common import ROW_ID, State, emit_json, pass_state
from reports.document import Document
from store.clock import to_iso
from store.errors import InvalidInput
from store.i18n import N_, _

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICES = ("md", "html", "pdf", "docx")  # reports.render.FORMATS, without importing it


def common_options(function: F) -> F:
    """The options of every report: ``fmt``, ``output``, ``templates``, ``unmasked``,
    ``as_json`` parameters of the command."""
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMAT_CHOICES),
            help=N_("md, html, pdf or docx; default: by -o's suffix, else md."),
        ),
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            help=N_("The file to write (md and html: stdout when not given)."),
        ),
        click.option(
            "--templates",
            type=click.Path(file_okay=False, path_type=Path),
            help=N_("A directory whose templates replace the built-in ones."),
        ),
        click.option(
            "--unmasked",
            is_flag=True,
            help=N_("Show personal data (phones) unmasked; this is audited."),
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help=N_("Print the key figures (and the file written) as JSON."),
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole (:func:`reports.render.write_file`).

    Raises:
        InvalidInput: the file cannot be written (field ``output``).
    """
    from reports.render import write_file

    write_file(path, data)


def choose_format(fmt: str | None, output: Path | None) -> str:
    """The format asked for, else the one -o's suffix names, else md.

    Raises:
        InvalidInput: pdf or docx without a file (field ``output``).
    """
    from reports.render import suffix_format

    chosen = fmt or suffix_format(output) or "md"
    if chosen in ("pdf", "docx") and output is None:
        raise InvalidInput(
            _("a {format} file needs a file to write: -o report.{format}").format(format=chosen),
            "output",
        )
    return chosen


def emit_document(
    state: State,
    doc: Document,
    fmt: str | None,
    output: Path | None,
    *,
    templates: Path | None,
    as_json: bool,
    audit_what: str = "",
    audit_count: int = 0,
    audit_cases: Sequence[str] = (),
    incident_id: int | None = None,
) -> None:
    """Render ``doc`` and print it (md, html) or write it to ``output``; with ``as_json``
    print its key figures (and the path written) as JSON instead of a message.

    The document is rendered before anything is written or audited: a bad template writes
    nothing. An unmasked document (``doc.masked`` False) is audited
    (:func:`store.audit.record_personal_data_shown`, ``what``/``count``/``cases`` from the
    ``audit_*`` arguments) before it is shown or written.

    Raises:
        InvalidInput: pdf/docx without ``output``; a bad template or template directory
            (``templates``); a file that cannot be written (``output``).
    """
    from reports.render import render
    from store.audit import record_personal_data_shown

    chosen = choose_format(fmt, output)
    ctx = state.ctx
    directory = templates if templates is not None else ctx.config.report_templates
    if directory is not None and not directory.is_dir():
        raise InvalidInput(_("not a directory: {path}").format(path=directory), "templates")
    data = render(doc, chosen, templates=directory)
    shown = output is not None or not as_json
    if shown and not doc.masked:
        record_personal_data_shown(
            ctx.db,
            at=to_iso(ctx.clock.now()),
            operator=ctx.operator,
            command=f"report {doc.kind}",
            what=audit_what or "report",
            count=audit_count,
            cases=audit_cases,
            incident_id=incident_id,
        )
    if output is not None:
        write_atomically(output, data)
    if as_json:
        result: dict[str, Any] = {
            "kind": doc.kind,
            "title": doc.title,
            "format": chosen,
            "masked": doc.masked,
            "figures": [
                {"label": label, "value": value, "note": note}
                for label, value, note in doc.key_figures()
            ],
        }
        if output is not None:
            result["path"] = str(output)
        emit_json(result)
        return
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    click.echo(_("{title} written to {file}").format(title=doc.title, file=output))


# ------------------------------------------------------------------------ the group


@click.group("report")
def report_group() -> None:
    """Reports: the after-action report, information reports, the case report, the duty log
    and the statistics, as Markdown, HTML, PDF or Word."""


@report_group.command("aar")
@click.argument("run_id", metavar="RUN", type=ROW_ID)
@common_options
@pass_state
def aar_cmd(
    state: State,
    run_id: int,
    fmt: str | None,
    output: Path | None,
    templates: Path | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """The after-action report and improvement plan (AAR/IP) of a drill run."""
    from drills import evaluation, trends
    from reports.aar import aar_document

    if unmasked:
        raise InvalidInput(_("the after-action report always masks personal data"), "unmasked")
    ctx = state.ctx
    ev = evaluation.evaluation(ctx.db, run_id)
    trend = trends.trend(ctx.db, ev.plan.id)
    doc = aar_document(ev, trend, ctx.config.zone, now=ctx.clock.now())
    emit_document(state, doc, fmt, output, templates=templates, as_json=as_json)


@report_group.command("sitrep")
@click.argument("sitrep_id", metavar="ID", type=ROW_ID)
@common_options
@pass_state
def sitrep_cmd(
    state: State,
    sitrep_id: int,
    fmt: str | None,
    output: Path | None,
    templates: Path | None,
    unmasked: bool,
    as_json: bool,
) -> None:
    """An information report (初报/续报/终报) as a document: also HTML and PDF."""
    from console.cli.sitrep import _unit_name
    from reports.sitrep import build_sitrep_report
    from uplink import sitreps

    ctx = state.ctx
    source = sitreps.document(ctx.db, sitrep_id, unit_name=_unit_name(state))
    doc = build_sitrep_report(
        source, now=ctx.clock.now(), zone=ctx.config.zone, masked=not unmasked
    )
    emit_document(
        state,
        doc,
        fmt,
        output,
        templates=templates,
        as_json=as_json,
        audit_what="contact phone",
        audit_count=1,
        audit_cases=(source.sitrep.case_number,),
        incident_id=source.sitrep.case_id,
    )


# The kinds of the other report modules (they import common_options and emit_document from here).
def _add_others() -> None:
    import importlib

    for module, names in (
        ("console.cli.report_case", ("case_cmd", "lesson_cmd", "action_cmd")),
        ("console.cli.report_stats", ("duty_log_cmd", "stats_cmd")),
    ):
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for name in names:
            command = getattr(loaded, name, None)
            if isinstance(command, click.Command):
                report_group.add_command(command)


_add_others()
