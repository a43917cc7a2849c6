"""Provides ``dutydesk contacts import`` and ``dutydesk contacts export``.

The import prints one summary line per kind; every problem goes to stderr as
``file:row: column 'X' = 'value': message`` and the exit status is then 2 (with ``--skip-invalid``
the good rows were written all the same; with ``--dry-run`` nothing was). A dry run also prints
each update it would make, ``field: old -> new`` per unit, person or team (phones masked). A CSV
file read as GB18030/GBK says so and why; ``--encoding`` overrides the detection. A rich
progress bar shows on stderr for files of more than 500 rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from console.cli.common import State, emit_json, pass_state
from contacts.exporter import export_contacts
from contacts.importer import (
    KINDS,
    ImportProblem,
    ImportRejectedRows,
    RowChange,
    import_contacts,
)
from store.i18n import N_, _

PROGRESS_FROM = 500
FILE_IN = click.Path(dir_okay=False, exists=True, path_type=Path)
FILE_OUT = click.Path(dir_okay=False, path_type=Path)
# What a file holds, as people read it (the codes stay the command's arguments).
KIND_NAMES = {"units": N_("units"), "people": N_("people"), "teams": N_("teams")}


def kind_name(kind: str) -> str:
    """``units``, ``people`` or ``teams`` in the current language."""
    return _(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


@click.group("contacts")
def contacts() -> None:
    """Units, people and teams: import from and export to CSV/XLSX spreadsheets."""


class _Bar:
    """A progress callback that opens a rich progress bar once a file proves large."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total <= PROGRESS_FROM:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn(_("importing")),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("rows", total=total)
        self.progress.update(self.task, completed=done)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_problems(problems: tuple[ImportProblem, ...]) -> None:
    for problem in problems:
        click.echo(problem.line(), err=True)


def change_line(change: RowChange) -> str:
    """``people P001 (row 2): name: '张伟' -> '张卫'; phone: 138****8000 -> 139****9000``."""
    parts = []
    for f in change.fields:
        part = _("{field}: {old!r} -> {new!r}").format(field=f.field, old=f.old, new=f.new)
        if f.old == f.new:
            part += " " + _("(differs in the masked part)")
        parts.append(part)
    return _("{kind} {key} (row {row}): {changes}").format(
        kind=kind_name(change.kind), key=change.key, row=change.row, changes="; ".join(parts)
    )


@contacts.command("import")
@click.argument("file", type=FILE_IN)
@click.option(
    "--kind", type=click.Choice(KINDS), help=N_("What the file holds (default: by headers).")
)
@click.option("--dry-run", is_flag=True, help=N_("Validate only; write nothing."))
@click.option("--skip-invalid", is_flag=True, help=N_("Write the good rows, list the bad ones."))
@click.option(
    "--region",
    default="CN",
    show_default=True,
    help=N_("Region of numbers without a +country code."),
)
@click.option(
    "--encoding",
    help=N_("Encoding of a CSV file (e.g. utf-8, gbk); default: detected, never guessed silently."),
)
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def import_cmd(
    state: State,
    file: Path,
    kind: str | None,
    dry_run: bool,
    skip_invalid: bool,
    region: str,
    encoding: str | None,
    as_json: bool,
) -> int:
    """Import units, people or teams from a CSV or XLSX FILE (English or Chinese headers).

    Every row is checked first; by default one bad row means nothing is written. Rows are
    matched by code (units, teams), id or phone (people): importing a file again changes
    nothing.
    """
    ctx = state.ctx
    bar = _Bar()
    try:
        report = import_contacts(
            ctx.db,
            ctx.clock,
            ctx.operator,
            file,
            kind=kind,
            region=region.upper(),
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            progress=bar,
            encoding=encoding,
        )
    except ImportRejectedRows as exc:
        if as_json:
            emit_json(
                {
                    "file": str(file),
                    "written": False,
                    "problems": [p.to_json() for p in exc.problems],
                }
            )
        _print_problems(exc.problems)
        click.echo(
            _("{file}: {count} problem(s); nothing was written").format(
                file=file, count=len(exc.problems)
            ),
            err=True,
        )
        return 2
    finally:
        bar.close()
    if not as_json and report.encoding not in ("", "utf-8"):
        click.echo(
            _("{file}: read as {encoding}: {evidence}").format(
                file=file, encoding=report.encoding, evidence=report.encoding_evidence
            )
        )
    if as_json:
        emit_json({**report.to_json(), "written": not dry_run})
    else:
        summary = (
            _(
                "{kind}: {added} would be added, {updated} would be updated,"
                " {unchanged} unchanged, {skipped} skipped"
            )
            if dry_run
            else _(
                "{kind}: {added} added, {updated} updated, {unchanged} unchanged, {skipped} skipped"
            )
        )
        for c in report.counts:
            click.echo(
                summary.format(
                    kind=kind_name(c.kind),
                    added=c.added,
                    updated=c.updated,
                    unchanged=c.unchanged,
                    skipped=c.skipped,
                )
            )
        if dry_run:
            for change in report.changes:
                click.echo("  " + change_line(change))
    if report.problems:
        _print_problems(report.problems)
        message = (
            _("{file}: {count} problem(s); nothing was written (dry run)")
            if dry_run
            else _("{file}: {count} problem(s); the other rows were written")
        )
        click.echo(message.format(file=file, count=len(report.problems)), err=True)
        return 2
    if dry_run and not as_json:
        click.echo(_("{file}: no problems found; nothing was written (dry run)").format(file=file))
    return 0


@contacts.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", type=FILE_OUT)
@click.option(
    "--unmasked", is_flag=True, help=N_("Write phones in full (audited as a data export).")
)
@click.option("--chinese-headers", is_flag=True, help=N_("Write the Chinese header names."))
@pass_state
def export_cmd(state: State, kind: str, file: Path, unmasked: bool, chinese_headers: bool) -> None:
    """Write the current KIND (units, people, teams) to FILE (.csv or .xlsx).

    Phones are masked unless --unmasked; only an unmasked export can be imported back.
    """
    ctx = state.ctx
    report = export_contacts(
        ctx.db,
        ctx.clock,
        ctx.operator,
        kind,
        file,
        unmasked=unmasked,
        chinese_headers=chinese_headers,
    )
    message = (
        _("{count} {kind} row(s) written to {file}")
        if unmasked or kind == "units"
        else _("{count} {kind} row(s) written to {file} (phones masked)")
    )
    click.echo(message.format(count=report.rows, kind=kind_name(kind), file=file))
    if report.neutralized and file.suffix.lower() == ".csv":
        click.echo(
            _(
                "{count} cell(s) start with = + - or @ and were written with a leading ' so that"
                " spreadsheets show them as text and do not run them (the import removes it)"
            ).format(count=report.neutralized)
        )
    if report.replaced:
        click.echo(
            _(
                "{count} cell(s) held control characters or line breaks, written as visible"
                " symbols (such as {symbol} for ESC); correct those records"
            ).format(count=report.replaced, symbol="\u241b"),
            err=True,
        )
