"""Provides the ``dutydesk`` command line: the public contract of the console's commands.

``dutydesk`` alone opens the console; ``dutydesk COMMAND`` runs one command and exits. Every
listing and ``show`` takes ``--json`` with stable keys. Errors are one line on stderr: exit code
2 for bad input and refused steps, 1 for other failures; a traceback only with ``--debug``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from console.cli.common import State, emit_json, fail, pass_state
from console.cli.i18n import translate_commands
from console.config import peek_language
from console.launch import started
from store.errors import DutydeskError
from store.i18n import N_, _, choose, normalize, set_language
from store.paths import default_config_path

if TYPE_CHECKING:
    from store.audit import Checkpoint
    from store.keys import KeyRing


def _lang_option(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """``--lang``: set before any other option is read, so that even ``--help`` speaks it."""
    if value is None:
        return
    try:
        set_language(value)
    except ValueError:
        raise click.BadParameter(
            _("unknown language {value!r}: use en or zh_CN").format(value=value)
        ) from None
    translate_commands(ctx.find_root().command)


def configured_language(args: list[str]) -> str | None:
    """``[ui] language`` of the configuration this command line will use, read ahead.

    Only a peek: a broken file is reported, where it belongs, when the command opens it.
    """
    path: Path | None = None
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            path = Path(args[i + 1])
        elif arg.startswith("--config="):
            path = Path(arg.partition("=")[2])
    return peek_language(path or default_config_path())


def choose_language(args: list[str]) -> None:
    """Set the process's language before anything is printed (``--lang`` comes later, eager)."""
    configured = configured_language(args)
    set_language(choose(None, configured if normalize(configured) else None))
    translate_commands(cli)


# The commands that live in modules of their own: name -> (module, attribute). They are
# imported when named (or when --help lists them), so that opening the console, or running
# a command of this module, does not import the contacts importer, openpyxl, numpy, httpx...
LAZY_COMMANDS = {
    "incident": ("console.cli.incidents", "incident"),
    "contacts": ("console.cli.contacts", "contacts"),
    "unit": ("console.cli.units", "unit"),
    "grid": ("console.cli.units", "grid"),
    "person": ("console.cli.people", "person"),
    "team": ("console.cli.people", "team"),
    "duty": ("console.cli.duty", "duty"),
    "tree": ("console.cli.trees", "tree_group"),
    "mobilize": ("console.cli.mobilize", "mobilize"),
    "mobilization": ("console.cli.mobilize", "mobilization"),
    "ack": ("console.cli.mobilize", "ack"),
    "serve": ("console.cli.serve", "serve_cmd"),
    "service": ("console.cli.service", "service"),
    "shift": ("console.cli.shift", "shift_group"),
    "doctor": ("console.cli.doctor", "doctor"),
    "keys": ("console.cli.keys", "keys_group"),
    "sync": ("console.cli.sync", "sync_group"),
    "hub": ("console.cli.hub", "hub_group"),
    "drill": ("console.cli.drills", "drill"),
    "calendar": ("console.cli.calendar", "calendar_group"),
    "sitrep": ("console.cli.sitrep", "sitrep_group"),
    "report": ("console.cli.report", "report_group"),
    "alert": ("console.cli.alert", "alert_group"),
    "directive": ("console.cli.directive", "directive_group"),
    "field": ("console.cli.field", "field_group"),
}

# Commands that open no database (or make it): no word about the demo before them.
NO_DATABASE = frozenset({"calendar", "config", "demo", "init"})
HELP = frozenset({"--help", "-h"})
COMMAND_ARGS = "dutydesk.command_args"


def _point_at_the_demo(command: str) -> None:
    """The default database does not exist but the demo does: say so on stderr, so that trying
    the demo's commands without --demo does not look like lost data."""
    from store.paths import default_db_path, demo_db_path

    if not default_db_path().exists() and demo_db_path().exists():
        click.echo(
            _(
                "note: {path} does not exist yet; the demo database is used with --demo"
                " (dutydesk --demo {command} ...)"
            ).format(path=default_db_path(), command=command),
            err=True,
        )


class LazyGroup(click.Group):
    """The root group: commands of :data:`LAZY_COMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # Kept for the root's callback, which runs after this and before the command: a
        # command's --help opens, builds and hints at nothing.
        ctx.meta[COMMAND_ARGS] = list(args)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, attribute = LAZY_COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            translate_commands(command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DUTYDESK_DB",
    help=N_("Database file (default: the user data dir; env DUTYDESK_DB)."),
)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DUTYDESK_CONFIG",
    help=N_("Configuration TOML (default: the user config dir; env DUTYDESK_CONFIG)."),
)
@click.option(
    "--as",
    "operator",
    metavar="OPERATOR",
    help=N_("Act as this operator (default: `operator` in the configuration)."),
)
@click.option(
    "--demo",
    is_flag=True,
    help=N_("Use the demo database (built if needed), for the console or any command."),
)
@click.option(
    "--lang",
    metavar="LANG",
    is_eager=True,
    expose_value=False,
    callback=_lang_option,
    help=N_(
        "Language: en or zh_CN (default: [ui] language in the configuration, else the locale)."
    ),
)
@click.option("--debug", is_flag=True, help=N_("Show tracebacks of unexpected errors."))
@click.version_option(package_name="dutydesk")
@click.pass_context
def cli(
    ctx: click.Context,
    db: Path | None,
    config: Path | None,
    operator: str | None,
    demo: bool,
    debug: bool,
) -> None:
    """dutydesk: the duty office's command console. With no command, opens the console."""
    state = State(db, config, operator)
    # Only a file named on the command line must exist; one from DUTYDESK_CONFIG or the user
    # config dir may be absent (defaults apply).
    state.config_required = (
        ctx.get_parameter_source("config") is click.core.ParameterSource.COMMANDLINE
    )
    ctx.obj = state
    ctx.call_on_close(state.close)
    command = ctx.invoked_subcommand
    if command is not None:
        started()  # a command's work begins: collect as usual (the console: after its first frame)
    if command is not None and HELP & set(ctx.meta.get(COMMAND_ARGS, ())):
        return  # a command's --help: nothing is opened, built or hinted at
    if demo and command != "demo":  # `dutydesk demo` builds it (with its own --db)
        from console.demo import ensure_demo

        started()  # building the demo is work, not start: collect as usual

        # Only a --db typed with --demo chooses the demo file: DUTYDESK_DB names the real
        # database, which --demo must never open (or build over) as if it were the demo.
        typed = ctx.get_parameter_source("db") is click.core.ParameterSource.COMMANDLINE
        path = ensure_demo(db if typed else None, echo=lambda line: click.echo(line, err=True))
        state.db = path
    elif command is not None and db is None and command not in NO_DATABASE:
        _point_at_the_demo(command)
    if command is not None:
        return
    from console.tui.app import run_console

    state.deferred_sections = True  # checked by the console right after its first frame
    run_console(state.ctx)


@cli.command()
@pass_state
def init(state: State) -> None:
    """Create the database, or migrate it to this version's schema."""
    from store.db import schema_version

    ctx = state.ctx
    click.echo(
        _("database ready: {path} (schema version {version})").format(
            path=ctx.db_path, version=schema_version(ctx.db)
        )
    )


@cli.command()
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    help=N_("Where to build it (default: demo.db in the user data dir)."),
)
@click.option("--force", is_flag=True, help=N_("Rebuild it if it exists."))
@click.option(
    "--cases",
    default=240,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help=N_("How many cases to log."),
)
@click.option(
    "--county",
    "county",
    is_flag=True,
    help=N_("Build a county hub and three townships (one offline) instead, in --dir."),
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help=N_("Where --county builds (default: county-demo in the user data dir)."),
)
def demo(db: Path | None, force: bool, cases: int, county: bool, directory: Path | None) -> None:
    """Build a realistic demo database and say where it is (opens nothing)."""
    from console.demo import build_demo, default_demo_path

    if county:
        _county_demo(directory, force)
        return

    path = db or default_demo_path()
    if path.exists() and not force:
        click.echo(_("demo database already at {path} (use --force to rebuild)").format(path=path))
        click.echo(_("open it with: dutydesk --db {path}").format(path=path))
        return
    summary = build_demo(path, cases=cases, replace=force)
    click.echo(_("demo database built at {path}").format(path=path))
    click.echo(summary)
    click.echo(_("open it with: dutydesk --db {path}    (or: dutydesk --demo)").format(path=path))


def _county_demo(directory: Path | None, force: bool) -> None:
    from console.demo import COUNTY_TOWNSHIPS, build_county_demo, default_county_demo_dir

    where = directory or default_county_demo_dir()
    try:
        summary = build_county_demo(where, replace=force)
    except FileExistsError:
        click.echo(_("county demo already in {dir} (use --force to rebuild)").format(dir=where))
    else:
        click.echo(_("county demo built in {dir}:").format(dir=where))
        click.echo(summary)
    county = f"--db {where / 'county.db'} --config {where / 'county.toml'}"
    town = where / "townships" / COUNTY_TOWNSHIPS[-1][0]
    click.echo(
        _("the county's console (press b for the units): dutydesk {args}").format(args=county)
    )
    click.echo(
        _("the warning and each township's call-and-answer: dutydesk {args} hub alerts").format(
            args=county
        )
    )
    click.echo(
        _("the offline township: dutydesk --db {db} --config {config}").format(
            db=town.with_suffix(".db"), config=town.with_suffix(".toml")
        )
    )
    click.echo(
        _("let status flow: dutydesk {args} serve --hub, then serve each township").format(
            args=county
        )
    )


@cli.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def config_show(state: State, as_json: bool) -> None:
    """Print the effective configuration (defaults filled in)."""
    from console.config import load_config, to_toml
    from store.paths import default_config_path

    config = load_config(state.config or default_config_path(), must_exist=state.config is not None)
    data = config.effective()
    if as_json:
        emit_json(data)
        return
    click.echo("# " + _("file: {file}").format(file=data["file"] or _("(none; defaults)")))
    click.echo(to_toml(data), nl=False)


@cli.group("audit")
def audit_group() -> None:
    """The hash-chained audit log and its signed checkpoints."""


def existing_db_path(state: State) -> Path:
    """The database the command names, which must exist: looking at it never creates one.

    Raises:
        NotFound: there is no such file (exit 2).
    """
    from store.db import MEMORY
    from store.errors import NotFound
    from store.paths import default_db_path

    path = state.db or default_db_path()
    if str(path) != MEMORY and not path.is_file():
        raise NotFound(_("database {path} does not exist").format(path=path))
    return path


def existing_keys(state: State, db_path: Path, key_file: Path | None = None) -> KeyRing | None:
    """The key ring of ``db_path`` if its key file exists (never created here), else ``None``.

    Args:
        state: the global options (the configuration names the key file).
        db_path: the database.
        key_file: a key file named explicitly (``--keys``): it must exist.
    """
    from console.config import load_config
    from store.keys import read_keys

    if key_file is not None:
        return read_keys(key_file)
    config = load_config(state.config or default_config_path(), must_exist=state.config_required)
    key_path = config.key_path(db_path)
    return read_keys(key_path) if key_path.exists() else None


def _checkpoint_after_verify(
    state: State, db_path: Path, keys: KeyRing | None
) -> Checkpoint | None:
    """Sign the head just verified, where the database can be written (not on a read-only
    mount, not an older schema: verifying never migrates); ``None`` where it cannot.

    Without a key file yet, the installation's key file is created here (0600), as the
    first signed link would create it: the database exists and is writable.
    """
    from console.config import load_config
    from console.context import keys_for
    from store.audit import checkpoint, head, latest_checkpoint
    from store.clock import SystemClock
    from store.db import SQLError, connect, schema_version
    from store.schema import SCHEMA_VERSION

    try:
        db = connect(db_path, migrate=False)
    except (DutydeskError, SQLError, OSError):
        return None
    try:
        if schema_version(db) != SCHEMA_VERSION:
            return None
        if keys is None:
            last = latest_checkpoint(db)
            if last is not None and (last.last_id, last.last_hash) == head(db):
                return None  # nothing to sign: no key file made beside a backup copy
            config_path = state.config or default_config_path()
            config = load_config(config_path, must_exist=state.config_required)
            keys = keys_for(db, db_path, config)
        return checkpoint(db, keys, SystemClock().now())
    except (DutydeskError, SQLError, OSError):
        return None
    finally:
        db.close()


def _head_json(point: Checkpoint | None) -> dict[str, object] | None:
    return None if point is None else point.to_json()


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@click.option(
    "--witness",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=N_("A signed head kept elsewhere (audit head --json): the chain must still hold it."),
)
@click.option(
    "--keys",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=N_("The key file to check signatures with (a backup's is its database's)."),
)
@pass_state
def audit_verify(state: State, as_json: bool, witness: Path | None, key_file: Path | None) -> None:
    """Check the audit chain, its signed checkpoints and head file; exit 1 naming the first
    bad entry. Opens the database read-only; signs the head when it verifies."""
    from store.audit import read_head_file, verify_history
    from store.db import SQLError, connect_readonly
    from store.errors import AuditBroken

    db_path = existing_db_path(state)
    witnessed = read_head_file(witness, signed=False) if witness is not None else None
    keys = existing_keys(state, db_path, key_file)
    db = connect_readonly(db_path)
    try:
        report = verify_history(db, keys, witness=witnessed)
    except SQLError as exc:
        raise DutydeskError(
            _("cannot read database {path}: {error}: run dutydesk doctor").format(
                path=db_path, error=exc
            )
        ) from exc
    finally:
        db.close()
    written = _checkpoint_after_verify(state, db_path, keys) if report.ok else None
    if as_json:
        from console.cli.render import check_json, problem_json

        broken = [] if report.ok else [problem_json("broken", str(report.problem), report.bad_id)]
        emit_json(
            check_json(
                broken,
                checked=report.checked,
                bad_id=report.bad_id,
                problem=report.problem,
                checkpoints=report.checkpoints,
                unsigned_checkpoints=report.unsigned,
                last_checkpoint=_head_json(report.last),
                head_file=_head_json(report.head_file),
                witness=_head_json(report.witness),
                notes=list(report.notes),
                checkpoint_written=_head_json(written),
            )
        )
        if not report.ok:
            sys.exit(AuditBroken.exit_code)
        return
    if not report.ok:
        raise AuditBroken(
            _("audit chain broken at entry {entry}: {problem}").format(
                entry=report.bad_id, problem=report.problem
            )
        )
    click.echo(_("audit chain intact: {count} entries verified").format(count=report.checked))
    if report.last is not None:
        click.echo(
            _(
                "checkpoints: {count} hold, {signed} with a valid signature; the last at {at}"
                " (entry {entry})"
            ).format(
                count=report.checkpoints + report.unsigned,
                signed=report.checkpoints,
                at=report.last.at,
                entry=report.last.last_id,
            )
        )
    if report.witness is not None:
        click.echo(
            _("witness: entry {entry} is in the chain as witnessed").format(
                entry=report.witness.last_id
            )
        )
    for note in report.notes:
        click.echo(_("warning: {note}").format(note=note), err=True)


@audit_group.command("head")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def audit_head(state: State, as_json: bool) -> None:
    """Sign the chain's head now and print it: what a witness (the county) keeps."""
    from store.audit import checkpoint, latest_checkpoint

    existing_db_path(state)
    ctx = state.ctx
    checkpoint(ctx.db, ctx.keys, ctx.clock.now())
    point = latest_checkpoint(ctx.db)
    assert point is not None  # checkpoint() always leaves one
    if as_json:
        emit_json(point.to_json())
        return
    click.echo(
        _("audit head: entry {entry} ({count} entries), hash {hash}").format(
            entry=point.last_id, count=point.count, hash=point.last_hash
        )
    )
    click.echo(
        _("signed at {at} with key {kid}: {mac}").format(at=point.at, kid=point.kid, mac=point.mac)
    )


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
def backup(state: State, path: Path) -> None:
    """Copy the database to PATH, consistently, even while it is in use; the copy is checked
    (integrity, audit history) before it is kept, and written 0600."""
    from store.backup import backup as backup_db

    existing_db_path(state)
    ctx = state.ctx
    result = backup_db(ctx.db, path, keys=ctx.keys, now=ctx.clock.now())
    click.echo(
        _("backup written: {path} ({size:.1f} MB)").format(path=result.path, size=result.size / 1e6)
    )
    click.echo(
        _("checked: integrity ok, {count} audit entries verified").format(count=result.entries)
    )
    if not result.recorded:
        click.echo(
            _("warning: the database was busy: the time of this backup was not recorded"),
            err=True,
        )


@cli.command()
@pass_state
def sweep(state: State) -> None:
    """Run the overdue sweep once (supervision, reminders, reports), as the engine every 30 s."""
    from incidents.supervision import sweep_overdue
    from uplink import field
    from uplink.sitreps import sweep as sitrep_sweep

    ctx = state.ctx
    result = sweep_overdue(ctx.db, ctx.clock, ctx.policy)
    overdue = sitrep_sweep(ctx.db, ctx.clock, ctx.config.sitrep)
    sent = field.catch_up(ctx.db, ctx.clock, ctx.config.field_rules, ctx.policy)
    field.accept_replies(ctx.db, ctx.clock, ctx.policy)
    late = field.sweep(ctx.db, ctx.clock)
    click.echo(
        _("newly supervised: {supervised}, reminders: {reminded}").format(
            supervised=result.supervised, reminded=result.reminded
        )
        + _(", reports newly overdue: {n}").format(n=len(overdue))
        + _(", field dispatches sent or ended: {sent}, not accepted in time: {late}").format(
            sent=sent, late=late
        )
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dutydesk`` script: runs the CLI, turning errors into one line."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    choose_language(args)
    try:
        result = cli.main(args=args, prog_name="dutydesk", standalone_mode=False)
        if isinstance(result, int) and result:
            sys.exit(result)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        fail(_("aborted"), 1)
    except click.ClickException as exc:
        if debug:
            raise
        fail(exc.format_message(), 2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except DutydeskError as exc:
        if debug:
            raise
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail(_("interrupted"), 130)
    except Exception as exc:  # the last line of defence: never a traceback to a duty officer
        if debug:
            raise
        fail(
            _("unexpected error: {kind}: {error} (run with --debug for details)").format(
                kind=type(exc).__name__, error=exc
            ),
            1,
        )


if __name__ == "__main__":
    main()
