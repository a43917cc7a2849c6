"""Provides ``dutydesk doctor``: what needs attention in this installation, one line per check.

A duty office finds out that escalation stopped, that the SMS gateway is unreachable or that the
database is damaged when it matters most; the doctor looks first. It checks the configuration
(loads it, reports its one-line error), the database (exists, ``quick_check``, file modes), the
audit history (chain, signed checkpoints, head file), the last backup's age, the engine lease
(held, by whom, until when, or left stale by a crashed engine), the key file's permissions,
whether ack links would point at a loopback address while they go out through real channels,
whether the channels answer (a ``HEAD`` of the SMS gateway's URL, an SMTP ``EHLO``/``NOOP``:
nothing is sent), and whether the official holidays of the coming weeks are known. Each check
is ``ok``, ``warn``, ``fail`` or ``skip`` (not applicable); exit 1 when any is ``warn`` or
``fail``. The database is opened read-only: the doctor never creates, migrates or writes it.
"""

from __future__ import annotations

import smtplib
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from console.cli.common import State, emit_json, pass_state
from console.config import Config, load_config
from console.timefmt import local
from store.clock import SystemClock, from_iso
from store.errors import DutydeskError
from store.i18n import N_, _
from store.paths import default_config_path, default_db_path

BACKUP_MAX_AGE = timedelta(hours=24)
PROBE_TIMEOUT_S = 3.0


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def needs_attention(self) -> bool:
        return self in (Status.WARN, Status.FAIL)


@dataclass(frozen=True)
class Finding:
    """One check's result: its stable name, status, one-line message and facts for ``--json``."""

    name: str
    status: Status
    message: str
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "message": self.message, **self.facts}


# Stable names (the keys of --json) -> the label shown on the line.
LABELS: dict[str, str] = {
    "config": N_("configuration"),
    "database": N_("database"),
    "integrity": N_("integrity"),
    "permissions": N_("file modes"),
    "audit": N_("audit history"),
    "backup": N_("last backup"),
    "lease": N_("engine lease"),
    "key_file": N_("key file"),
    "public_url": N_("public URL"),
    "channel_sms": N_("SMS gateway"),
    "channel_email": N_("e-mail relay"),
    "channel_webhook": N_("webhooks"),
    "uplink": N_("uplink"),
    "calendar": N_("holiday calendar"),
}


def diagnose(
    db_path: Path, config_path: Path, *, config_required: bool, now: datetime
) -> list[Finding]:
    """Run every check; never raises for what it finds (each problem is a finding)."""
    findings: list[Finding] = []
    try:
        config = load_config(config_path, must_exist=config_required)
        findings.append(
            Finding(
                "config",
                Status.OK,
                str(config.path) if config.path else _("no file; the defaults apply"),
            )
        )
        config_ok = True
    except DutydeskError as exc:
        findings.append(Finding("config", Status.FAIL, str(exc)))
        config, config_ok = Config(path=None), False
    findings.extend(_database_checks(db_path, config, now))
    findings.append(_key_file(config.key_path(db_path)))
    if config_ok:
        findings.append(_public_url(config))
        findings.extend(_channels(config))
    else:
        for name in ("public_url", "channel_sms", "channel_email", "channel_webhook"):
            findings.append(Finding(name, Status.SKIP, _("the configuration does not load")))
    findings.append(
        _uplink(db_path, config, now)
        if config_ok
        else Finding("uplink", Status.SKIP, _("the configuration does not load"))
    )
    findings.append(
        _calendar(config, now)
        if config_ok
        else Finding("calendar", Status.SKIP, _("the configuration does not load"))
    )
    return findings


def _calendar(config: Config, now: datetime) -> Finding:
    """The official holidays and make-up workdays: known for every year of the next weeks?

    A year the package does not cover (and the configuration does not declare) counts only the
    office's week and the configured days: working-hour deadlines there would miss its holidays.
    """
    from incidents.calendar import LOOKAHEAD, official_calendar

    calendar = config.policy.calendar
    if not calendar.official:
        return Finding(
            "calendar", Status.SKIP, _("official holidays off ([calendar] official = false)")
        )
    official = official_calendar()
    today = now.astimezone(calendar.zone).date()
    uncovered = calendar.uncovered_years(today, today + LOOKAHEAD)
    facts: dict[str, Any] = {
        "source": official.source,
        "first_year": official.first_year,
        "last_year": official.last_year,
        "declared_years": sorted(calendar.declared_years),
        "uncovered_years": uncovered,
    }
    if uncovered:
        years = ", ".join(str(year) for year in uncovered)
        return Finding(
            "calendar",
            Status.WARN,
            _(
                "{years} not in the official holidays ({source} covers {first}-{last}):"
                " working hours there count the office's week and the [calendar] days only;"
                " upgrade chinesecalendar, or list the year's holidays and make-up workdays in"
                " [calendar] and name it in declared_years"
            ).format(
                years=years,
                source=official.source,
                first=official.first_year,
                last=official.last_year,
            ),
            facts,
        )
    message = _("{source}, {first}-{last}").format(
        source=official.source, first=official.first_year, last=official.last_year
    )
    if calendar.declared_years:
        message += "; " + _("declared in [calendar]: {years}").format(
            years=", ".join(str(year) for year in sorted(calendar.declared_years))
        )
    return Finding("calendar", Status.OK, message, facts)


def _uplink(db_path: Path, config: Config, now: datetime) -> Finding:
    """The link to the level above: its token, its unit, and how it was last seen doing."""
    from console.context import uplink_token, uplink_unit
    from store.db import SQLError, connect_readonly
    from uplink.models import LinkState
    from uplink.status import link_status

    if not config.uplink.enabled:
        return Finding("uplink", Status.SKIP, _("not configured"))
    try:
        if uplink_token(config) is None:
            return Finding("uplink", Status.FAIL, _("no token: set token_file (or token)"))
    except DutydeskError as exc:
        return Finding("uplink", Status.FAIL, str(exc))
    try:
        db = connect_readonly(db_path)
    except DutydeskError as exc:
        return Finding("uplink", Status.SKIP, str(exc))
    try:
        unit = uplink_unit(db, config)
        link = link_status(db, config.uplink.url, unit)
    except (SQLError, DutydeskError) as exc:
        return Finding("uplink", Status.FAIL, _("cannot be checked: {error}").format(error=exc))
    finally:
        db.close()
    facts = link.to_json(now)
    if unit is None:
        return Finding(
            "uplink",
            Status.FAIL,
            _("set [uplink] unit: the jurisdiction has no single top unit to report as"),
            facts,
        )
    summary = _("{state} -> {url} as {unit}; backlog {n}, dead letters {dead}").format(
        state=link.state.label,
        url=link.url,
        unit=unit,
        n=link.backlog,
        dead=link.dead_letters,
    )
    age = link.oldest_age_s(now)
    if link.state is LinkState.UNAUTHORIZED:
        return Finding("uplink", Status.FAIL, summary, facts)
    if link.dead_letters or (age is not None and age > config.uplink.alarm.total_seconds()):
        return Finding("uplink", Status.WARN, summary, facts)
    return Finding("uplink", Status.OK, summary, facts)


def _database_checks(db_path: Path, config: Config, now: datetime) -> list[Finding]:
    from store.audit import head_file_for, verify_history
    from store.backup import last_backup
    from store.db import SQLError, connect_readonly
    from store.health import lease_state, quick_check
    from store.keys import read_keys

    names = ("integrity", "permissions", "audit", "backup", "lease")
    try:
        db = connect_readonly(db_path)
    except DutydeskError as exc:
        return [
            Finding("database", Status.FAIL, str(exc), {"path": str(db_path)}),
            *(Finding(name, Status.SKIP, _("no database to check")) for name in names),
        ]
    findings = [Finding("database", Status.OK, str(db_path), {"path": str(db_path)})]

    def guarded(name: str, check: Callable[[], Finding]) -> Finding:
        try:
            return check()
        except (SQLError, OSError, DutydeskError) as exc:
            return Finding(name, Status.FAIL, _("cannot be checked: {error}").format(error=exc))

    def integrity() -> Finding:
        problems = quick_check(db)
        if problems:
            return Finding(
                "integrity",
                Status.FAIL,
                _("SQLite's quick_check finds damage: {problems}").format(
                    problems="; ".join(problems)
                ),
                {"problems": problems},
            )
        return Finding("integrity", Status.OK, _("quick_check ok"))

    def permissions() -> Finding:
        files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"), head_file_for(db_path)]
        open_to_others = []
        for path in files:
            if path.exists():
                mode = stat.S_IMODE(path.stat().st_mode)
                if mode & 0o077:
                    open_to_others.append(f"{path} ({mode:o})")
        if open_to_others:
            return Finding(
                "permissions",
                Status.WARN,
                _("readable by others: {files}: run chmod 600 on them").format(
                    files=", ".join(open_to_others)
                ),
            )
        return Finding("permissions", Status.OK, _("the database files are private (0600)"))

    def audit() -> Finding:
        key_path = config.key_path(db_path)
        try:
            keys = read_keys(key_path) if key_path.exists() else None
        except DutydeskError:
            keys = None  # reported by the key file check
        report = verify_history(db, keys)
        facts: dict[str, Any] = {
            "entries": report.checked,
            "checkpoints": report.checkpoints,
            "unsigned_checkpoints": report.unsigned,
            "last_checkpoint": None if report.last is None else report.last.to_json(),
            "notes": list(report.notes),
        }
        if not report.ok:
            return Finding(
                "audit",
                Status.FAIL,
                _("broken at entry {entry}: {problem}").format(
                    entry=report.bad_id, problem=report.problem
                ),
                {**facts, "bad_id": report.bad_id},
            )
        summary = _("{entries} entries, {checkpoints} signed checkpoints hold").format(
            entries=report.checked, checkpoints=report.checkpoints
        )
        if report.notes:
            return Finding("audit", Status.WARN, f"{summary}; {'; '.join(report.notes)}", facts)
        return Finding("audit", Status.OK, summary, facts)

    def backup() -> Finding:
        last = last_backup(db)
        if last is None:
            return Finding(
                "backup",
                Status.WARN,
                _("never backed up: run dutydesk backup PATH (daily)"),
                {"at": None},
            )
        at, where = last
        age = now - from_iso(at)
        facts = {"at": at, "path": where, "age_hours": round(age.total_seconds() / 3600, 1)}
        if age > BACKUP_MAX_AGE:
            return Finding(
                "backup",
                Status.WARN,
                _("the last backup is {hours:.0f} hours old ({at}, {path})").format(
                    hours=age.total_seconds() / 3600,
                    at=local(from_iso(at), config.zone),
                    path=where,
                ),
                facts,
            )
        return Finding("backup", Status.OK, f"{local(from_iso(at), config.zone)} ({where})", facts)

    def lease() -> Finding:
        state = lease_state(db, now)
        if state is None:
            return Finding(
                "lease",
                Status.WARN,
                _(
                    "no engine is running: escalations and the overdue sweep wait until one"
                    " starts (dutydesk serve, or the console)"
                ),
                {"holder": None, "expires_at": None, "stale": None},
            )
        facts = {"holder": state.holder, "expires_at": state.expires_at, "stale": state.stale}
        if state.stale:
            return Finding(
                "lease",
                Status.WARN,
                _(
                    "stale: held by {holder} until {until}, which has passed: that engine stopped"
                    " without releasing it; the next engine to start takes over"
                ).format(holder=state.holder, until=local(from_iso(state.expires_at), config.zone)),
                facts,
            )
        return Finding(
            "lease",
            Status.OK,
            _("held by {holder} until {until}").format(
                holder=state.holder, until=local(from_iso(state.expires_at), config.zone)
            ),
            facts,
        )

    try:
        findings.append(guarded("integrity", integrity))
        findings.append(guarded("permissions", permissions))
        findings.append(guarded("audit", audit))
        findings.append(guarded("backup", backup))
        findings.append(guarded("lease", lease))
    finally:
        db.close()
    return findings


def _key_file(path: Path) -> Finding:
    from store.keys import read_keys, unsafe_permissions

    facts: dict[str, Any] = {"path": str(path)}
    if not path.exists():
        return Finding(
            "key_file",
            Status.WARN,
            _("{path} does not exist yet: it is created when links are first signed").format(
                path=path
            ),
            facts,
        )
    try:
        problem = unsafe_permissions(path)
        if problem is None:
            ring = read_keys(path)
    except (OSError, DutydeskError) as exc:
        return Finding("key_file", Status.FAIL, str(exc), facts)
    if problem is not None:
        return Finding("key_file", Status.FAIL, problem, facts)
    return Finding(
        "key_file",
        Status.OK,
        _("{path} (0600), signing key {kid}").format(path=path, kid=ring.current.kid),
        {**facts, "kid": ring.current.kid},
    )


def _public_url(config: Config) -> Finding:
    from mobilization.preview import is_loopback_url  # one owner of "only this machine"

    outgoing = sorted(config.channels.configured - {"log"})
    facts = {"public_url": config.public_url, "links_point_at": config.base_url}
    if not outgoing:
        return Finding(
            "public_url", Status.SKIP, _("no channel sends links out (only the log)"), facts
        )
    if config.public_url is None or is_loopback_url(config.base_url):
        return Finding(
            "public_url",
            Status.WARN,
            _(
                "links sent by {channels} would point at {url}, which nobody outside this"
                " machine can open: set [serve] public_url"
            ).format(channels=", ".join(outgoing), url=config.base_url),
            facts,
        )
    return Finding("public_url", Status.OK, config.base_url, facts)


def _channels(config: Config) -> list[Finding]:
    channels = config.channels
    found: list[Finding] = []
    if channels.sms is None:
        found.append(Finding("channel_sms", Status.SKIP, _("not configured")))
    else:
        found.append(_probe_http(channels.sms.url))
    if channels.email is None:
        found.append(Finding("channel_email", Status.SKIP, _("not configured")))
    else:
        email = channels.email
        found.append(_probe_smtp(email.host, email.port, starttls=email.starttls))
    if channels.webhook is None:
        found.append(Finding("channel_webhook", Status.SKIP, _("not configured")))
    else:
        found.append(
            Finding(
                "channel_webhook",
                Status.SKIP,
                _("each person's webhook URL is their own: not checked here"),
            )
        )
    return found


def _probe_http(url: str) -> Finding:
    """A ``HEAD`` of the gateway's URL: any HTTP answer means it is reachable (nothing is sent)."""
    import httpx

    facts: dict[str, Any] = {"url": url}
    try:
        with httpx.Client(timeout=PROBE_TIMEOUT_S, follow_redirects=False) as client:
            response = client.head(url)
    except httpx.HTTPError as exc:
        return Finding(
            "channel_sms",
            Status.FAIL,
            _("{url} does not answer: {error}").format(
                url=url, error=str(exc) or type(exc).__name__
            ),
            {**facts, "error": str(exc) or type(exc).__name__},
        )
    facts["http_status"] = response.status_code
    if response.status_code >= 500:
        return Finding(
            "channel_sms",
            Status.WARN,
            _("{url} answers HTTP {status}: the gateway reports an error").format(
                url=url, status=response.status_code
            ),
            facts,
        )
    return Finding(
        "channel_sms",
        Status.OK,
        _("{url} answers (HTTP {status})").format(url=url, status=response.status_code),
        facts,
    )


def _probe_smtp(host: str, port: int, *, starttls: bool) -> Finding:
    """Connect, ``EHLO``, ``NOOP``, ``QUIT``: the relay answers (nothing is sent)."""
    facts: dict[str, Any] = {"host": host, "port": port}
    try:
        with smtplib.SMTP(host, port, timeout=PROBE_TIMEOUT_S) as smtp:
            smtp.ehlo()
            if starttls and not smtp.has_extn("starttls"):
                return Finding(
                    "channel_email",
                    Status.FAIL,
                    _("{host}:{port} does not offer STARTTLS, which is configured").format(
                        host=host, port=port
                    ),
                    facts,
                )
            code, _reply = smtp.noop()
    except (OSError, smtplib.SMTPException) as exc:
        return Finding(
            "channel_email",
            Status.FAIL,
            _("{host}:{port} does not answer: {error}").format(
                host=host, port=port, error=str(exc) or type(exc).__name__
            ),
            {**facts, "error": str(exc) or type(exc).__name__},
        )
    facts["smtp_status"] = code
    return Finding(
        "channel_email",
        Status.OK if code == 250 else Status.WARN,
        _("{host}:{port} answers (SMTP {code})").format(host=host, port=port, code=code),
        facts,
    )


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def doctor(state: State, as_json: bool) -> None:
    """Check what needs attention: configuration, database, audit, backup, engine, keys,
    channels. Exit 1 when something does. Opens the database read-only."""
    findings = diagnose(
        state.db or default_db_path(),
        state.config or default_config_path(),
        config_required=state.config_required,
        now=SystemClock().now(),
    )
    attention = any(f.status.needs_attention for f in findings)
    if as_json:
        from console.cli.render import check_json, problem_json

        emit_json(
            check_json(
                (
                    problem_json(f.name, f.message) | {"status": f.status.value}
                    for f in findings
                    if f.status.needs_attention
                ),
                checks={f.name: f.to_json() for f in findings},
            )
        )
    else:
        for finding in findings:
            click.echo(f"{finding.status.value:<4}  {_(LABELS[finding.name])}: {finding.message}")
    if attention:
        raise SystemExit(1)
