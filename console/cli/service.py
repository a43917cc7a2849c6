"""Provides ``dutydesk service``: run the engine as a systemd service, so it never stops with a
console.

``install`` writes a unit that runs ``dutydesk serve`` on this database and configuration with
this venv's interpreter (``Restart=on-failure``, a clean stop on SIGTERM, the sandboxing a
system unit can have), to ``/etc/systemd/system`` or, with ``--user``, to
``~/.config/systemd/user``; ``--dir`` writes it elsewhere (tests, packagers) and then systemd is
left alone. Otherwise, where ``systemctl`` exists and ``--no-start`` is not given, the unit is
enabled and started. ``status`` reads the unit file, the engine lease (who runs the engine,
since when, or since when none has) and ``systemctl``'s view; ``uninstall`` stops, disables and
removes the unit.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from console.cli.common import State, emit_json, fail, pass_state
from console.config import Config
from store.i18n import N_, _

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\$?$")
SYSTEM_DIR = Path("/etc/systemd/system")
SYSTEMCTL_TIMEOUT_S = 60.0


def user_unit_dir() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


@dataclass(frozen=True)
class Where:
    """Where the unit goes, and whether systemd is to be told (not for a ``--dir``)."""

    user: bool
    directory: Path
    name: str
    tell_systemd: bool

    @property
    def path(self) -> Path:
        return self.directory / f"{self.name}.service"

    def systemctl(self, *args: str) -> list[str]:
        return ["systemctl", *(["--user"] if self.user else []), *args]


def _where(user: bool, directory: Path | None, name: str) -> Where:
    if not NAME.match(name) or name.endswith(".service"):
        fail(
            _(
                "--name {name!r} is not a unit name: letters, digits and _ . @ - only,"
                " without .service"
            ).format(name=name),
            2,
        )
    if directory is not None and directory.exists() and not directory.is_dir():
        fail(_("--dir {dir} is not a directory").format(dir=directory), 2)
    default = user_unit_dir() if user else SYSTEM_DIR
    return Where(user, (directory or default).absolute(), name, directory is None)


def _quote(arg: str) -> str:
    """One argument of ``ExecStart=`` as systemd reads it (``%`` is a specifier there)."""
    arg = arg.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_./:@=+,-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serve_command(db_path: Path, config_path: Path | None) -> list[str]:
    """This venv's ``dutydesk serve`` on the database and configuration, absolute paths."""
    script = Path(sys.executable).parent / "dutydesk"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "console.cli"]
    command += ["--db", str(db_path.resolve())]
    if config_path is not None:
        command += ["--config", str(config_path.resolve())]
    return [*command, "serve"]


def unit_text(
    command: list[str],
    db_path: Path,
    *,
    user: bool,
    run_as: str | None,
    name: str,
    writable: tuple[Path, ...] = (),
) -> str:
    """The unit: ``dutydesk serve``, restarted on failure, stopped by SIGTERM (the engine
    gives its lease back), writing only beside its database when it is a system unit."""
    data_dir = db_path.resolve().parent
    lines = [
        "# Written by `dutydesk service install`; remove with `dutydesk service uninstall`.",
        "[Unit]",
        f"Description=dutydesk engine and endpoints ({name}: {db_path.resolve().name})",
    ]
    if not user:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=exec",
        "ExecStart=" + " ".join(_quote(arg) for arg in command),
        "WorkingDirectory=" + str(data_dir).replace("%", "%%"),
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        "RestartSec=5s",
        # SIGTERM: the listeners close, the engine finishes what is in flight and releases the
        # lease; allow for that before SIGKILL.
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30s",
        "UMask=0077",
        "NoNewPrivileges=yes",
    ]
    if not user:
        assert run_as is not None
        lines += [
            f"User={run_as}",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            # The database, its WAL, the key file and the message log live beside it.
            "ReadWritePaths="
            + " ".join(_quote(str(p)) for p in dict.fromkeys((data_dir, *writable))),
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
            "RestrictRealtime=yes",
            "RestrictNamespaces=yes",
            "LockPersonality=yes",
            "CapabilityBoundingSet=",
            "SystemCallArchitectures=native",
        ]
    lines += [
        "",
        "[Install]",
        f"WantedBy={'default.target' if user else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


def _run(command: list[str]) -> tuple[int, str]:
    """Run ``systemctl``; its exit code and what it said (stdout and stderr)."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def _has_systemctl() -> bool:
    return shutil.which("systemctl") is not None


USER = click.option(
    "--user",
    "user",
    is_flag=True,
    help=N_("A user unit (~/.config/systemd/user) instead of a system one (/etc/systemd/system)."),
)
DIR = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    help=N_("Write the unit to this directory instead (systemd is then left alone)."),
)
UNIT_NAME = click.option(
    "--name", default="dutydesk", show_default=True, help=N_("The unit's name (NAME.service).")
)


@click.group("service")
def service() -> None:
    """Run the engine as a systemd service: escalations go on whatever the consoles do."""


@service.command("install")
@USER
@DIR
@UNIT_NAME
@click.option(
    "--run-as",
    metavar="USER",
    help=N_("The account a system unit runs as (default: the one installing it, via sudo too)."),
)
@click.option("--no-start", is_flag=True, help=N_("Write the unit; do not enable or start it."))
@click.option("--force", is_flag=True, help=N_("Replace a unit of that name that differs."))
@pass_state
def install(
    state: State,
    user: bool,
    directory: Path | None,
    name: str,
    run_as: str | None,
    no_start: bool,
    force: bool,
) -> None:
    """Write a unit for `dutydesk serve` on this database, then enable and start it."""
    where = _where(user, directory, name)
    if user and run_as is not None:
        fail(_("--run-as is for a system unit; a user unit runs as its user"), 2)
    if not user:
        run_as = run_as or os.environ.get("SUDO_USER") or getpass.getuser()
        if not USER_NAME.match(run_as):
            fail(_("--run-as {name!r} is not an account name").format(name=run_as), 2)
    db_path, config = _named(state)
    if not db_path.exists():
        # Not created here: under sudo it would belong to root, and the service runs as run_as.
        fail(
            _(
                "no database at {path}: create it first, as the account the service runs as"
                " (dutydesk --db {path} init)"
            ).format(path=db_path),
            2,
        )
    command = serve_command(db_path, config.path)
    # The key file may live elsewhere ([security] key_file): the service creates it if need be.
    keys = config.key_path(db_path).resolve().parent
    text = unit_text(command, db_path, user=user, run_as=run_as, name=name, writable=(keys,))
    path = where.path
    if path.exists():
        try:
            same = path.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same and not force:
            fail(
                _("{path} exists and differs: --force replaces it, --name picks another").format(
                    path=path
                ),
                2,
            )
    try:
        where.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(path)
    except OSError as exc:
        hint = "" if user else " " + _("(a system unit needs root: sudo, or --user)")
        fail(_("cannot write {path}: {error}").format(path=path, error=exc.strerror) + hint, 1)
    click.echo(_("unit written: {path}").format(path=path))
    click.echo("  ExecStart=" + shlex.join(command))
    if not where.tell_systemd:
        click.echo(_("written to --dir: systemd was not told; enable it where it is installed"))
        return
    if no_start:
        click.echo(
            _("not started (--no-start): {command}").format(
                command=shlex.join(where.systemctl("enable", "--now", f"{name}.service"))
            )
        )
        return
    if not _has_systemctl():
        click.echo(_("systemctl is not here: start `dutydesk serve` with your service manager"))
        return
    for args in (("daemon-reload",), ("enable", "--now", f"{name}.service")):
        code, said = _run(where.systemctl(*args))
        if code != 0:
            fail(
                _("{command} failed: {said}").format(
                    command=shlex.join(where.systemctl(*args)), said=said or code
                ),
                1,
            )
    click.echo(_("enabled and started: {name}.service").format(name=name))
    if user:
        click.echo(
            _("to keep it running with nobody logged in: loginctl enable-linger {user}").format(
                user=getpass.getuser()
            )
        )


@service.command("uninstall")
@USER
@DIR
@UNIT_NAME
@click.option("--no-stop", is_flag=True, help=N_("Remove the unit; do not stop or disable it."))
def uninstall(user: bool, directory: Path | None, name: str, no_stop: bool) -> None:
    """Stop and disable the service, and remove its unit."""
    where = _where(user, directory, name)
    path = where.path
    if not path.exists():
        fail(_("no unit at {path}").format(path=path), 2)
    told = where.tell_systemd and not no_stop and _has_systemctl()
    if told:
        code, said = _run(where.systemctl("disable", "--now", f"{name}.service"))
        if code != 0:
            fail(_("could not stop {name}.service: {said}").format(name=name, said=said), 1)
    try:
        path.unlink()
    except OSError as exc:
        fail(_("cannot remove {path}: {error}").format(path=path, error=exc.strerror), 1)
    if told:
        _run(where.systemctl("daemon-reload"))
    click.echo(_("unit removed: {path}").format(path=path))


def _exec_start(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            return line.partition("=")[2]
    return None


def _named(state: State) -> tuple[Path, Config]:
    """The database and configuration the command line names, neither opened nor created."""
    from console.config import load_config
    from store.paths import default_config_path, default_db_path

    db_path = (state.db or default_db_path()).absolute()
    config = load_config(state.config or default_config_path(), must_exist=state.config_required)
    return db_path, config


def _engine_facts(db_path: Path, config: Config) -> tuple[dict[str, Any], str | None]:
    """Who holds the engine lease (read-only), and the paused line when nobody does."""
    from console.engine import paused_text
    from store import lease
    from store.clock import SystemClock
    from store.db import connect_readonly

    facts: dict[str, Any] = {"holder": None, "running": False, "since": None}
    facts |= {"stopped_at": None, "last_holder": None}
    if not db_path.exists():
        return facts, None
    now = SystemClock().now()
    db = connect_readonly(db_path)
    try:
        holder = lease.current_holder(db, now)
        since = lease.held_since(db, holder) if holder is not None else None
        vacancy = None if holder is not None else lease.vacancy(db, now)
    finally:
        db.close()
    facts["holder"], facts["running"] = holder, holder is not None
    facts["since"] = since.isoformat() if since else None
    if vacancy is None:
        return facts, None
    facts["stopped_at"] = vacancy.since.isoformat() if vacancy.since else None
    facts["last_holder"] = vacancy.last_holder
    return facts, paused_text(vacancy, now, config.zone)


@service.command("status")
@USER
@DIR
@UNIT_NAME
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def status(state: State, user: bool, directory: Path | None, name: str, as_json: bool) -> None:
    """The unit, who runs the engine on this database (since when none does), systemd's view."""
    where = _where(user, directory, name)
    path = where.path
    text: str | None = None
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(_("cannot read {path}: {error}").format(path=path, error=exc), 1)
    db_path, config = _named(state)
    exec_start = _exec_start(text) if text is not None else None
    serves_here = exec_start is not None and str(db_path.resolve()) in exec_start
    systemd: dict[str, str] | None = None
    if where.tell_systemd and text is not None and _has_systemctl():
        systemd = {
            what: _run(where.systemctl(what, f"{name}.service"))[1] or "unknown"
            for what in ("is-active", "is-enabled")
        }
    engine, paused = _engine_facts(db_path, config)
    if as_json:
        emit_json(
            {
                "unit": str(path),
                "database": str(db_path),
                "database_exists": db_path.exists(),
                "installed": text is not None,
                "exec_start": exec_start,
                "serves_this_database": serves_here,
                "systemd": systemd,
                "engine": engine,
            }
        )
        return
    if text is None:
        click.echo(_("unit: not installed ({path})").format(path=path))
    else:
        click.echo(_("unit: {path}").format(path=path))
        click.echo(f"  ExecStart={exec_start}")
        if not serves_here:
            click.echo(_("  ⚠ it serves another database, not {db}").format(db=db_path.resolve()))
    if systemd is not None:
        click.echo(
            _("systemd: {active}, {enabled}").format(
                active=systemd["is-active"], enabled=systemd["is-enabled"]
            )
        )
    if not db_path.exists():
        click.echo(_("no database at {path}").format(path=db_path))
    elif engine["holder"] is not None:
        if engine["since"] is not None:
            from console.timefmt import local

            click.echo(
                _("engine: running since {at}, held by {holder}").format(
                    at=local(datetime.fromisoformat(engine["since"]), config.zone),
                    holder=engine["holder"],
                )
            )
        else:
            click.echo(_("engine: running, held by {holder}").format(holder=engine["holder"]))
    else:
        click.echo(_("engine: ⚠ {paused}").format(paused=paused or "-"))
