"""Provides the TOML configuration: loading, validation with file/line/key errors, and display.

The file is optional: every setting has a default, so a fresh install works. Sections:

* top level: ``operator`` (who is at the desk), ``timezone`` (IANA name, default Asia/Shanghai);
* ``[calendar]``: ``workdays``, ``hours``; the official holidays and make-up workdays come
  built in (``official = false`` turns them off); ``holidays``, ``extra_workdays`` add local
  days off and workdays over them; ``declared_years`` names years the built-in calendar does not
  cover yet whose official days are listed in full here;
* ``[limits]``: ``remind_every_minutes`` and ``[[limits.rule]]`` entries (category, type,
  urgency, unit, and hours per stage) that refine the built-in stage time limits;
* ``[shift]``: ``leads`` (who may approve extensions), ``second_extension_approvals``,
  ``office`` (where an undirected dispatch goes);
* ``[grid]``: ``households_min``/``households_max`` (moderate scale, default 300-500),
  ``overlap_tolerance_m2``/``gap_tolerance_m2`` (seamless coverage, default 1 m²);
* ``[ui]``: ``refresh_seconds`` (how often the console looks for others' writes, default 1),
  ``home`` (``dashboard`` or ``incidents``: the first screen), ``theme`` (``dark`` or
  ``light``, default dark), ``bell`` (ring the terminal bell for a
  severity I/II report, default true), ``language`` (``en`` or ``zh_CN``; default: the
  locale; ``--lang`` overrides it);
* ``[contacts]``: ``phone_region`` (ISO 3166 region of phone numbers written without a
  country code, default CN);
* ``[channels]``: the mobilization's channels (tokens and passwords shown as ``***``);
* ``[uplink]``: the level above: ``url`` (the hub's base URL), ``token`` or ``token_file``
  (the unit's bearer token; a file only the service may read), ``unit`` (the division code
  sent; default the township's code), ``batch`` (events per request, default 200),
  ``timeout_seconds`` (10), ``alarm_minutes`` (a backlog older than this raises an alarm,
  default 15), ``include_reporter`` (send the reporter's name and masked phone, default
  false), ``summary_seconds`` (a mobilization's summary at most this often, default 30),
  ``backoff_max_seconds`` (60), ``rollup`` (a hub also sends summaries of its units, default
  true), ``poll_seconds`` (how often the engine pulls its inbox of alerts and directives at the
  hub when no push came, default 60);
* ``[hub]``: ``enabled`` (``serve`` also receives from units below), ``silent_minutes`` (a
  unit not heard from for longer is flagged, default 30), ``max_body_kb`` (4096),
  ``requests_per_minute`` (per unit, default 600), ``rollup_seconds`` (a unit's roll-up sent
  up at most this often, default 60), ``call_start_minutes`` (a unit in a warning's area whose
  叫应 has not started this long after the alert was sent to it is flagged, default 15);
* ``[serve]``: ``host``/``port`` (default 127.0.0.1:8470), ``public_url`` (where links point),
  ``inbound_host``/``inbound_port`` (a separate listener for the SMS gateway's replies),
  ``inbound_secret_file`` (the gateway's shared signing secret), ``signature_window_seconds``
  (default 300), ``health_token_file`` (the bearer token of ``/healthz``), ``trusted_proxies``
  (reverse proxies whose ``X-Forwarded-For`` names the client; default none);
* ``[security]``: ``key_file`` (default: beside the database, ``<db stem>.keys``),
  ``max_extension_days`` (default 30), ``lockout_failures``/``lockout_window_minutes``/
  ``lockout_minutes`` (wrong reply codes from one phone, default 5 in 10 minutes lock it for 10).
* ``[sitrep]``: information reports up (初报/续报/终报): ``marked_minutes`` (the initial report of
  a case marked "to be reported" or sensitive, default 60), ``followup_minutes`` (after a
  change, 60), ``daily_hours`` (a follow-up at least this often while open, 24),
  ``final_hours`` (after the close, 24), who signs off: ``signers`` (names; when set, only
  they), else holders of ``signer_posts`` (roster post codes, default ``["SL"]``) and people
  with ``signer_roles`` (default ``["shift_lead", "office_head"]``); ``unit_name`` (报告单位,
  default the township's name), ``template`` (a .docx replacing the built-in one); and
  ``[[sitrep.rule]]`` entries (a ``category``, maybe with its ``type``, a ``severity`` 1-4 or
  I-IV, or both; ``initial_minutes`` and ``phone_minutes``) over the built-in deadlines (I/II
  30 minutes, III 60, IV only when marked): the most specific match wins, a later one a tie;
  a rule without ``initial_minutes`` exempts its cases unless marked.
* ``[reports]``: ``templates`` (a directory whose report templates, by file name, replace the
  built-in ones: ``report.html.j2``, ``report.md.j2``, ``report.css``, ``report.docx``).
* ``[field]``: a dispatch's delivery to the field (:mod:`uplink.field_rules`): ``accept_minutes``
  (default 30) and ``urgent_accept_minutes`` (10), ``keep_photo_location`` (false),
  ``photo_max_bytes``, ``photo_max_count``, ``photo_max_pixels`` and ``link_days`` (7).
* ``[inbound]``: citizens' SMS to the office's number (:mod:`incidents.citizen`):
  ``group_minutes`` (30: a number's messages within it join its case) and ``max_cases_per_day``
  (5: beyond it a number's messages become notes on its latest case, unanswered).
* ``[warning]``: the 叫应 (call and answer) of a received warning (:mod:`uplink.callanswer`):
  ``call_levels`` (the CAP severities, or colours, that start one at once on receipt: a list,
  default ``["Severe", "Extreme"]``, i.e. orange and red; or one level, meaning it and above),
  ``exercise_calls`` (an alert of status Exercise starts one too, default false), ``roles``
  (called in every covered unit, default ``["community_secretary", "grid_leader"]``), ``posts``
  (the township's roster posts called, default ``["LD", "DO"]``: the leader on duty, or the
  shift lead ``SL`` where there is no post LD, and the duty officer), ``answer_minutes`` (a
  person's time to answer before a re-send, then their alternates, default 5), ``repeats``
  (re-sends before escalating, default 1); and ``[[warning.rule]]`` entries: an ``event`` (the
  CAP event name, e.g. ``"暴雨"``; a trailing 预警 and spaces are ignored) with its own
  ``levels``, ``roles`` and ``posts`` (left out: the table's); the last rule naming an event wins.

Files named here are read relative to the configuration file's directory.
"""

from __future__ import annotations

import json
import math
import re
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incidents.calendar import WorkingCalendar, undeclared
from incidents.limits import BUILTIN_RULES, LIMITED_STAGES, UNITS, LimitRule, Policy
from incidents.models import CATEGORIES, InboundRules, Severity, Urgency
from store.errors import ConfigError, InvalidInput
from store.i18n import _, normalize
from store.text import clean_text

if TYPE_CHECKING:  # the deferred sections' rules: loaded when a section is parsed (Sections)
    from jurisdiction.models import GridRules
    from mobilization import ChannelSettings
    from uplink.callanswer_rules import WarningRules
    from uplink.field_rules import FieldRules
    from uplink.sitrep_rules import ReportRule, SitrepRules

T = TypeVar("T")

THEMES = ("dark", "light")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KNOWN = {
    "": {
        "operator",
        "timezone",
        "calendar",
        "limits",
        "shift",
        "channels",
        "uplink",
        "ui",
        "grid",
        "contacts",
        "serve",
        "mobilize",
        "security",
        "hub",
        "drills",
        "sitrep",
        "warning",
        "reports",
        "field",
        "inbound",
    },
    "inbound": {"group_minutes", "max_cases_per_day"},
    "field": {
        "accept_minutes",
        "urgent_accept_minutes",
        "keep_photo_location",
        "photo_max_bytes",
        "photo_max_count",
        "photo_max_pixels",
        "link_days",
    },
    "reports": {"templates", "folder"},
    "drills": {"grace_minutes", "reminders_minutes"},
    "warning": {
        "call_levels",
        "exercise_calls",
        "roles",
        "posts",
        "answer_minutes",
        "repeats",
        "rule",
    },
    "warning.rule": {"event", "levels", "roles", "posts"},
    "sitrep": {
        "marked_minutes",
        "followup_minutes",
        "daily_hours",
        "final_hours",
        "signers",
        "signer_posts",
        "signer_roles",
        "unit_name",
        "template",
        "rule",
    },
    "sitrep.rule": {"category", "type", "severity", "initial_minutes", "phone_minutes"},
    "uplink": {
        "url",
        "token",
        "token_file",
        "unit",
        "batch",
        "timeout_seconds",
        "alarm_minutes",
        "include_reporter",
        "summary_seconds",
        "backoff_max_seconds",
        "rollup",
        "poll_seconds",
    },
    "hub": {
        "enabled",
        "silent_minutes",
        "max_body_kb",
        "requests_per_minute",
        "rollup_seconds",
        "call_start_minutes",
    },
    "serve": {
        "host",
        "port",
        "public_url",
        "inbound_host",
        "inbound_port",
        "inbound_secret_file",
        "signature_window_seconds",
        "health_token_file",
        "calendar_token_file",
        "trusted_proxies",
    },
    "security": {
        "key_file",
        "max_extension_days",
        "lockout_failures",
        "lockout_window_minutes",
        "lockout_minutes",
    },
    "mobilize": {"interval_seconds", "ack_hours", "templates"},
    "contacts": {"phone_region"},
    "grid": {"households_min", "households_max", "overlap_tolerance_m2", "gap_tolerance_m2"},
    "calendar": {"workdays", "hours", "holidays", "extra_workdays", "official", "declared_years"},
    "limits": {"remind_every_minutes", "rule"},
    "limits.rule": {"category", "type", "urgency", "unit", *(s.value for s in LIMITED_STAGES)},
    "shift": {"leads", "second_extension_approvals", "office"},
    "ui": {"language", "refresh_seconds", "theme", "bell", "home"},
}

# [contacts] phone_region when the file names none (checked against phonenumbers only when named).
DEFAULT_PHONE_REGION = "CN"


@dataclass(frozen=True)
class SecuritySettings:
    """``[security]``: where the keys live, how far an extension may reach, reply lockouts."""

    key_file: Path | None = None  # None: beside the database, <db stem>.keys
    max_extension: timedelta = timedelta(days=30)
    lockout_failures: int = 5  # wrong codes from one phone within the window lock it
    lockout_window: timedelta = timedelta(minutes=10)
    lockout_for: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class UplinkSettings:
    """``[uplink]``: where status flows up to, as whom, and how."""

    url: str | None = None  # the hub's base URL; None: no uplink
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    unit: str | None = None  # None: the township's code in the jurisdiction
    batch: int = 200
    timeout_s: float = 10.0
    alarm: timedelta = timedelta(minutes=15)
    include_reporter: bool = False
    summary_every: timedelta = timedelta(seconds=30)
    backoff_max_s: float = 60.0
    rollup: bool = True
    poll_seconds: int = 60  # the inbox at the hub is pulled this often (and on a push)

    @property
    def enabled(self) -> bool:
        return self.url is not None


@dataclass(frozen=True)
class HubSettings:
    """``[hub]``: receiving from the units below."""

    enabled: bool = False
    silent: timedelta = timedelta(minutes=30)
    max_body_bytes: int = 4096 * 1024
    requests_per_minute: int = 600
    rollup_every: timedelta = timedelta(seconds=60)
    call_start: timedelta = timedelta(minutes=15)  # a unit's 叫应 not started by then: flagged


@dataclass(frozen=True)
class DrillSettings:
    """``[drills]``: the catch-up grace and the default reminders of new plans."""

    grace: timedelta = timedelta(minutes=30)  # late by less: fires late; by more: missed
    reminders_min: tuple[int, ...] = (7 * 24 * 60, 24 * 60, 60)


@dataclass(frozen=True)
class Config:
    """The effective configuration."""

    path: Path | None
    operator: str = "duty-officer"
    timezone: str = "Asia/Shanghai"
    policy: Policy = field(default_factory=Policy)
    raw: dict[str, Any] = field(default_factory=dict)
    refresh_seconds: float = 1.0
    theme: str = "dark"
    home: str = "dashboard"
    bell: bool = True
    language: str | None = None  # None: the locale decides
    phone_region: str = DEFAULT_PHONE_REGION
    serve_host: str = "127.0.0.1"
    serve_port: int = 8470
    public_url: str | None = None
    mobilize_interval_s: int = 60
    # [mobilize.templates]: category code (or "default") -> the call-out's template.
    mobilize_templates: dict[str, str] = field(default_factory=dict)
    ack_ttl: timedelta = timedelta(hours=24)
    inbound_host: str | None = None  # None: the gateway's replies come to serve_host:serve_port
    inbound_port: int | None = None
    inbound_secret_file: Path | None = None
    signature_window_s: int = 300
    health_token_file: Path | None = None
    trusted_proxies: tuple[str, ...] = ()  # whose X-Forwarded-For is believed (reverse proxies)
    security: SecuritySettings = field(default_factory=lambda: SecuritySettings())
    uplink: UplinkSettings = field(default_factory=lambda: UplinkSettings())
    hub: HubSettings = field(default_factory=lambda: HubSettings())
    drills: DrillSettings = field(default_factory=lambda: DrillSettings())
    inbound: InboundRules = field(default_factory=lambda: InboundRules())
    # The token of the calendar feeds (GET /calendar/*.ics?token=...), in a file only the
    # service may read; no file: no feeds.
    calendar_token_file: Path | None = None
    # [reports] templates: a directory whose files replace the built-in report templates.
    report_templates: Path | None = None
    # [reports] folder: where the console writes reports (None: store.paths.reports_dir()).
    report_folder: Path | None = None
    # [grid], [channels], [sitrep], [warning], [field]: parsed on first use (see Sections).
    sections: Sections = field(default_factory=lambda: Sections())

    @property
    def grid_rules(self) -> GridRules:
        return self.sections.grid_rules

    @property
    def channels(self) -> ChannelSettings:
        return self.sections.channels

    @property
    def sitrep(self) -> SitrepRules:
        return self.sections.sitrep

    @property
    def warning(self) -> WarningRules:
        return self.sections.warning

    @property
    def field_rules(self) -> FieldRules:
        return self.sections.field_rules

    def with_sections(
        self,
        *,
        grid_rules: GridRules | None = None,
        channels: ChannelSettings | None = None,
        sitrep: SitrepRules | None = None,
        warning: WarningRules | None = None,
        field_rules: FieldRules | None = None,
    ) -> Config:
        """This configuration with the sections given replaced (the rest as they are)."""
        given = {
            "grid_rules": grid_rules,
            "channels": channels,
            "sitrep": sitrep,
            "warning": warning,
            "field_rules": field_rules,
        }
        return replace(self, sections=self.sections.replaced(given))

    def key_path(self, db_path: Path) -> Path:
        """The key file of the database at ``db_path`` (``[security] key_file``, else beside it)."""
        from store.keys import key_path_for

        return key_path_for(db_path, self.security.key_file)

    @property
    def zone(self) -> ZoneInfo:
        return self.policy.calendar.zone

    def effective(self) -> dict[str, Any]:
        """Every setting with its effective value (defaults filled in), for ``config show``."""
        cal = self.policy.calendar
        user_rules = self.policy.rules[len(BUILTIN_RULES) :]
        return {
            "file": str(self.path) if self.path else None,
            "operator": self.operator,
            "timezone": self.timezone,
            "calendar": {
                "workdays": [DAYS[d] for d in sorted(cal.workdays)],
                "hours": [f"{a:%H:%M}-{b:%H:%M}" for a, b in cal.hours],
                "holidays": [d.isoformat() for d in sorted(cal.holidays)],
                "extra_workdays": [d.isoformat() for d in sorted(cal.extra_workdays)],
                "official": cal.official,
                "declared_years": sorted(cal.declared_years),
            },
            "limits": {
                "remind_every_minutes": self.policy.remind_every.total_seconds() / 60,
                "rule": [_rule_dict(r) for r in user_rules],
                "builtin_rule": [_rule_dict(r) for r in BUILTIN_RULES],
            },
            "shift": {
                "leads": list(self.policy.shift_leads),
                "second_extension_approvals": self.policy.second_extension_approvals,
                "office": self.policy.office_name,
            },
            "ui": {
                "refresh_seconds": self.refresh_seconds,
                "theme": self.theme,
                "bell": self.bell,
                "home": self.home,
                "language": self.language,
            },
            "grid": {
                "households_min": self.grid_rules.households_min,
                "households_max": self.grid_rules.households_max,
                "overlap_tolerance_m2": self.grid_rules.overlap_tolerance_m2,
                "gap_tolerance_m2": self.grid_rules.gap_tolerance_m2,
            },
            "contacts": {"phone_region": self.phone_region},
            "channels": _without_secrets(self.raw.get("channels", {})),
            "uplink": {
                **({"url": self.uplink.url} if self.uplink.url else {}),
                **({"token": "***"} if self.uplink.token else {}),
                **({"token_file": str(self.uplink.token_file)} if self.uplink.token_file else {}),
                **({"unit": self.uplink.unit} if self.uplink.unit else {}),
                "batch": self.uplink.batch,
                "timeout_seconds": self.uplink.timeout_s,
                "alarm_minutes": int(self.uplink.alarm.total_seconds() // 60),
                "include_reporter": self.uplink.include_reporter,
                "summary_seconds": int(self.uplink.summary_every.total_seconds()),
                "backoff_max_seconds": self.uplink.backoff_max_s,
                "rollup": self.uplink.rollup,
                "poll_seconds": self.uplink.poll_seconds,
            },
            "hub": {
                "enabled": self.hub.enabled,
                "silent_minutes": int(self.hub.silent.total_seconds() // 60),
                "max_body_kb": self.hub.max_body_bytes // 1024,
                "requests_per_minute": self.hub.requests_per_minute,
                "rollup_seconds": int(self.hub.rollup_every.total_seconds()),
                "call_start_minutes": int(self.hub.call_start.total_seconds() // 60),
            },
            "serve": {
                "host": self.serve_host,
                "port": self.serve_port,
                "public_url": self.base_url,
                **({"inbound_host": self.inbound_host} if self.inbound_host else {}),
                **({"inbound_port": self.inbound_port} if self.inbound_port is not None else {}),
                **(
                    {"inbound_secret_file": str(self.inbound_secret_file)}
                    if self.inbound_secret_file
                    else {}
                ),
                "signature_window_seconds": self.signature_window_s,
                "trusted_proxies": list(self.trusted_proxies),
                **(
                    {"health_token_file": str(self.health_token_file)}
                    if self.health_token_file
                    else {}
                ),
                **(
                    {"calendar_token_file": str(self.calendar_token_file)}
                    if self.calendar_token_file
                    else {}
                ),
            },
            "drills": {
                "grace_minutes": int(self.drills.grace.total_seconds() // 60),
                "reminders_minutes": list(self.drills.reminders_min),
            },
            "sitrep": _sitrep_dict(self.sitrep),
            "warning": self.warning.to_json(),
            "field": self.field_rules.to_json(),
            "inbound": self.inbound.to_json(),
            "security": {
                **({"key_file": str(self.security.key_file)} if self.security.key_file else {}),
                "max_extension_days": self.security.max_extension.days,
                "lockout_failures": self.security.lockout_failures,
                "lockout_window_minutes": int(self.security.lockout_window.total_seconds() // 60),
                "lockout_minutes": int(self.security.lockout_for.total_seconds() // 60),
            },
            "mobilize": {
                "interval_seconds": self.mobilize_interval_s,
                "ack_hours": self.ack_ttl.total_seconds() / 3600,
                "templates": dict(self.mobilize_templates),
            },
        }

    @property
    def base_url(self) -> str:
        """Where ack links point: ``[serve] public_url``, else the address ``serve`` listens on."""
        return self.public_url or f"http://{self.serve_host}:{self.serve_port}"


SECRET_KEYS = frozenset({"token", "password", "secret"})


def _without_secrets(table: Any) -> Any:
    """A configuration table as shown: secrets (tokens, passwords) replaced by ``***``."""
    if isinstance(table, dict):
        return {
            k: "***" if k in SECRET_KEYS and v else _without_secrets(v) for k, v in table.items()
        }
    if isinstance(table, list):
        return [_without_secrets(v) for v in table]
    return table


def _rule_dict(rule: LimitRule) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: v
        for k, v in (
            ("category", rule.category),
            ("type", rule.type),
            ("urgency", rule.urgency),
            ("unit", rule.unit),
        )
        if v is not None
    }
    out.update(rule.hours)
    return out


def locate(text: str, path: tuple[str | int, ...]) -> int | None:
    """Line number (1-based) of the key at ``path`` in TOML ``text``, when it can be found."""
    names = [p for p in path if isinstance(p, str)]
    index = next((p for p in path if isinstance(p, int)), None)
    key = names[-1]
    table = ".".join(names[:-1])
    current = ""
    seen = own = -1
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", stripped)
        if header:
            current = header.group(1).replace('"', "")
            if stripped.startswith("[[") and current == table:
                seen += 1
            if current == ".".join(names):
                own += stripped.startswith("[[")
                # the table itself, or the index-th entry of an array of tables ([[a.b]])
                if index is None or (path[-1] == index and own == index):
                    return number
            continue
        is_key = re.match(rf'^"?{re.escape(key)}"?\s*=', stripped)
        if current == table and is_key and (index is None or seen == index):
            return number
    return None


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def fail(self, path: tuple[str | int, ...], message: str) -> ConfigError:
        line = locate(self.text, path) if path else None
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        if line:
            text = _("{source}, line {line}, key '{key}': {message}").format(
                source=self.source, line=line, key=key, message=message
            )
        else:
            text = _("{source}, key '{key}': {message}").format(
                source=self.source, key=key, message=message
            )
        return ConfigError(text)

    def check_keys(self, table: dict[str, Any], section: str, path: tuple[str | int, ...]) -> None:
        allowed = KNOWN[section]
        for name in table:
            if name not in allowed:
                raise self.fail(
                    (*path, name),
                    _("unknown setting; expected one of {names}").format(
                        names=", ".join(sorted(allowed))
                    ),
                )


class Sections:
    """The sections that neither the console's first frame nor most commands read, each parsed
    from its table on first use: ``[grid]``, ``[channels]``, ``[sitrep]``, ``[warning]`` and
    ``[field]``.

    Their rules are the domains' (jurisdiction, mobilization, uplink), fifteen record types
    between them; loaded at once, they were about a tenth of what the console's start adds to
    Textual's. :func:`parse_config` still checks every one of them when it reads the file,
    unless asked to defer: the console does, and checks them right after its first frame
    (:meth:`check`). A problem is the same :class:`ConfigError` (file, line, key) either way.
    The engine's thread and the UI thread may ask first: a lock keeps it to one parse each.
    """

    NAMES = ("grid_rules", "channels", "sitrep", "warning", "field_rules")

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        reader: _Reader | None = None,
        path: Path | None = None,
        given: Mapping[str, object] | None = None,
    ) -> None:
        self._data = data if data is not None else {}
        self._reader = reader if reader is not None else _Reader("", "<config>")
        self._path = path
        self._parsed: dict[str, object] = {k: v for k, v in (given or {}).items() if v is not None}
        self._lock = threading.Lock()

    def _get(self, name: str, parse: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._parsed:
                self._parsed[name] = parse()
            return cast(T, self._parsed[name])

    @property
    def grid_rules(self) -> GridRules:
        return self._get(
            "grid_rules", lambda: _parse_grid(self._reader, self._data.get("grid", {}))
        )

    @property
    def channels(self) -> ChannelSettings:
        return self._get("channels", lambda: _parse_channels(self._reader, self._data))

    @property
    def sitrep(self) -> SitrepRules:
        return self._get(
            "sitrep",
            lambda: _parse_sitrep(
                self._reader, _table(self._reader, self._data, "sitrep"), self._path
            ),
        )

    @property
    def warning(self) -> WarningRules:
        return self._get(
            "warning",
            lambda: _parse_warning(self._reader, _table(self._reader, self._data, "warning")),
        )

    @property
    def field_rules(self) -> FieldRules:
        return self._get(
            "field_rules",
            lambda: _parse_field(self._reader, _table(self._reader, self._data, "field")),
        )

    def check(self) -> None:
        """Parse every section not parsed yet.

        Raises:
            ConfigError: naming the file, line and key of the first problem.
        """
        for name in self.NAMES:
            getattr(self, name)

    def replaced(self, given: Mapping[str, object | None]) -> Sections:
        """The same sections, those in ``given`` (not ``None``) replaced by the values given."""
        with self._lock:
            parsed = {**self._parsed, **{k: v for k, v in given.items() if v is not None}}
        return Sections(self._data, self._reader, self._path, parsed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sections):
            return NotImplemented
        self.check()
        other.check()
        return self._parsed == other._parsed

    __hash__ = None  # type: ignore[assignment]  # equal by value; unhashable, as Config's raw is

    def __repr__(self) -> str:
        return f"Sections(parsed={sorted(self._parsed)})"


def _parse_channels(r: _Reader, data: Mapping[str, Any]) -> ChannelSettings:
    """``[channels]``: the mobilization's senders (:mod:`mobilization.settings`)."""
    from mobilization import parse_channels

    if "channels" in data and not isinstance(data["channels"], dict):
        raise r.fail(("channels",), _("must be a table"))
    try:
        return parse_channels(data.get("channels", {}))
    except InvalidInput as exc:
        where = tuple(exc.field.split(".")) if exc.field else ("channels",)
        raise r.fail(where, exc.reason) from exc


def _time(value: str) -> time:
    return time.fromisoformat(value.strip())


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def peek_language(path: Path) -> str | None:
    """``[ui] language`` of the file at ``path`` if it can be read, else ``None`` (no errors:
    :func:`load_config` reports them when the file is really loaded)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    ui = data.get("ui")
    value = ui.get("language") if isinstance(ui, dict) else None
    return value if isinstance(value, str) else None


def load_config(path: Path | None, *, must_exist: bool = False, deferred: bool = False) -> Config:
    """Read and validate the configuration file at ``path``.

    A missing file gives the defaults, unless ``must_exist`` (the path was named explicitly).

    Raises:
        ConfigError: naming the file, line and key of the first problem.
    """
    if path is None or not path.exists():
        if must_exist and path is not None:
            raise ConfigError(_("configuration file {path} does not exist").format(path=path))
        return Config(path=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("cannot read configuration file {path}: {error}").format(path=path, error=exc)
        ) from exc
    return parse_config(text, str(path), path, deferred=deferred)


def parse_config(
    text: str, source: str = "<config>", path: Path | None = None, *, deferred: bool = False
) -> Config:
    """The configuration in ``text``, every section checked (``deferred``: all but those of
    :class:`Sections`, which are then checked on first use or by :meth:`Sections.check`).

    Raises:
        ConfigError: naming the file, line and key of the first problem.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            _("{source}: not valid TOML: {error}").format(source=source, error=exc)
        ) from exc
    r = _Reader(text, source)
    r.check_keys(data, "", ())

    operator = data.get("operator", "duty-officer")
    if not isinstance(operator, str) or not operator.strip():
        raise r.fail(("operator",), _("must be a non-empty string"))
    try:
        clean_text(operator, "operator", kind="operator")
    except InvalidInput as exc:
        raise r.fail(("operator",), exc.reason) from exc
    tz_name = data.get("timezone", "Asia/Shanghai")
    try:
        zone = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise r.fail(("timezone",), _("unknown time zone {name!r}").format(name=tz_name)) from exc

    cal = data.get("calendar", {})
    if not isinstance(cal, dict):
        raise r.fail(("calendar",), _("must be a table"))
    r.check_keys(cal, "calendar", ("calendar",))
    kwargs: dict[str, Any] = {"zone": zone}
    if "workdays" in cal:
        try:
            kwargs["workdays"] = frozenset(DAYS.index(str(d).lower()[:3]) for d in cal["workdays"])
        except (ValueError, TypeError) as exc:
            raise r.fail(("calendar", "workdays"), _("use day names like mon, tue, ...")) from exc
    if "hours" in cal:
        try:
            spans = []
            for span in cal["hours"]:
                start, end = str(span).split("-")
                spans.append((_time(start), _time(end)))
            kwargs["hours"] = tuple(spans)
        except (ValueError, TypeError) as exc:
            raise r.fail(("calendar", "hours"), _('use spans like "08:30-12:00"')) from exc
    for name in ("holidays", "extra_workdays"):
        if name in cal:
            try:
                kwargs[name] = frozenset(_date(d) for d in cal[name])
            except (ValueError, TypeError) as exc:
                raise r.fail(("calendar", name), _("use dates like 2026-10-01")) from exc
    if "official" in cal:
        if not isinstance(cal["official"], bool):
            raise r.fail(("calendar", "official"), _("must be true or false"))
        kwargs["official"] = cal["official"]
    if "declared_years" in cal:
        years = cal["declared_years"]
        if not isinstance(years, list) or not all(
            isinstance(y, int) and not isinstance(y, bool) and 1970 <= y < 2200 for y in years
        ):
            raise r.fail(("calendar", "declared_years"), _("use years like [2027]"))
        kwargs["declared_years"] = frozenset(years)
        for year in sorted(kwargs["declared_years"]):
            if not any(day.year == year for day in kwargs.get("holidays", ())):
                raise r.fail(("calendar", "declared_years"), undeclared(year))
    try:
        calendar = WorkingCalendar(**kwargs)
    except ValueError as exc:
        raise r.fail(("calendar", "hours"), str(exc)) from exc

    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise r.fail(("limits",), _("must be a table"))
    r.check_keys(limits, "limits", ("limits",))
    remind = limits.get("remind_every_minutes", 120)
    if not isinstance(remind, int | float) or isinstance(remind, bool) or remind <= 0:
        raise r.fail(("limits", "remind_every_minutes"), _("must be a positive number of minutes"))
    rules = list(BUILTIN_RULES)
    raw_rules = limits.get("rule", [])
    if not isinstance(raw_rules, list):
        raise r.fail(("limits", "rule"), _("use [[limits.rule]] tables"))
    for i, raw in enumerate(raw_rules):
        rules.append(_parse_rule(r, raw, i))

    shift = data.get("shift", {})
    if not isinstance(shift, dict):
        raise r.fail(("shift",), _("must be a table"))
    r.check_keys(shift, "shift", ("shift",))
    leads = shift.get("leads", [])
    if not isinstance(leads, list) or not all(isinstance(x, str) and x.strip() for x in leads):
        raise r.fail(("shift", "leads"), _("must be a list of operator names"))
    approvals = shift.get("second_extension_approvals", 2)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or approvals < 1:
        raise r.fail(("shift", "second_extension_approvals"), _("must be a whole number >= 1"))
    office = shift.get("office", "duty-office")
    if not isinstance(office, str) or not office.strip():
        raise r.fail(("shift", "office"), _("must be a non-empty string"))

    ui = data.get("ui", {})
    if not isinstance(ui, dict):
        raise r.fail(("ui",), _("must be a table"))
    r.check_keys(ui, "ui", ("ui",))
    refresh = ui.get("refresh_seconds", 1.0)
    if not isinstance(refresh, int | float) or isinstance(refresh, bool) or refresh <= 0:
        raise r.fail(("ui", "refresh_seconds"), _("must be a positive number"))
    theme = ui.get("theme", "dark")
    if theme not in THEMES:
        raise r.fail(("ui", "theme"), _('must be "dark" or "light"'))
    home = ui.get("home", "dashboard")
    if home not in ("dashboard", "incidents"):
        raise r.fail(("ui", "home"), _('must be "dashboard" or "incidents"'))
    bell = ui.get("bell", True)
    if not isinstance(bell, bool):
        raise r.fail(("ui", "bell"), _("must be true or false"))
    language = ui.get("language")
    if language is not None and (not isinstance(language, str) or normalize(language) is None):
        raise r.fail(("ui", "language"), _('must be "en" or "zh_CN"'))
    phone_region = _parse_contacts(r, data.get("contacts", {}))
    uplink = _parse_uplink(r, _table(r, data, "uplink"), path)
    hub = _parse_hub(r, _table(r, data, "hub"))
    drills = _parse_drills(r, _table(r, data, "drills"))
    inbound = _parse_inbound(r, _table(r, data, "inbound"))
    report_templates = _path(r, _table(r, data, "reports"), ("reports", "templates"), path)
    report_folder = _path(r, _table(r, data, "reports"), ("reports", "folder"), path)
    serve = _table(r, data, "serve")
    host = serve.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host.strip():
        raise r.fail(("serve", "host"), _("must be a non-empty string"))
    port = serve.get("port", 8470)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise r.fail(("serve", "port"), _("must be a port number from 0 to 65535"))
    public_url = serve.get("public_url")
    if public_url is not None and (
        not isinstance(public_url, str) or not public_url.startswith(("http://", "https://"))
    ):
        raise r.fail(("serve", "public_url"), _("must be an http:// or https:// address"))
    inbound_host = serve.get("inbound_host")
    if inbound_host is not None and (not isinstance(inbound_host, str) or not inbound_host.strip()):
        raise r.fail(("serve", "inbound_host"), _("must be a non-empty string"))
    inbound_port = serve.get("inbound_port")
    if inbound_port is not None and (
        not isinstance(inbound_port, int)
        or isinstance(inbound_port, bool)
        or not 0 <= inbound_port <= 65535
    ):
        raise r.fail(("serve", "inbound_port"), _("must be a port number from 0 to 65535"))
    inbound_secret_file = _path(r, serve, ("serve", "inbound_secret_file"), path)
    window = _whole(r, serve, ("serve", "signature_window_seconds"), 300, 10, 3600)
    health_token_file = _path(r, serve, ("serve", "health_token_file"), path)
    calendar_token_file = _path(r, serve, ("serve", "calendar_token_file"), path)
    proxies = serve.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(
        isinstance(p, str) and _is_address(p.strip()) for p in proxies
    ):
        raise r.fail(
            ("serve", "trusted_proxies"),
            _('must be a list of IP addresses or networks, e.g. ["127.0.0.1"]'),
        )
    security = _parse_security(r, _table(r, data, "security"), path)
    mob = _table(r, data, "mobilize")
    interval = mob.get("interval_seconds", 60)
    if not isinstance(interval, int) or isinstance(interval, bool) or not 0 <= interval <= 3600:
        raise r.fail(("mobilize", "interval_seconds"), _("must be a whole number from 0 to 3600"))
    ack_hours = mob.get("ack_hours", 24)
    if (
        not isinstance(ack_hours, int | float)
        or isinstance(ack_hours, bool)
        or not 0 < ack_hours <= 24 * 30
    ):
        raise r.fail(("mobilize", "ack_hours"), _("must be a number of hours from 0 to 720"))
    templates = _parse_templates(r, mob.get("templates", {}))

    sections = Sections(data, r, path)
    if not deferred:
        sections.check()
    policy = Policy(
        rules=tuple(rules),
        calendar=calendar,
        remind_every=timedelta(minutes=float(remind)),
        shift_leads=tuple(x.strip() for x in leads),
        second_extension_approvals=approvals,
        office_name=office.strip(),
    )
    return Config(
        path=path,
        operator=operator.strip(),
        timezone=str(tz_name),
        policy=policy,
        raw=data,
        refresh_seconds=float(refresh),
        theme=theme,
        home=home,
        bell=bell,
        language=normalize(language) if language else None,
        phone_region=phone_region,
        serve_host=host.strip(),
        serve_port=port,
        public_url=public_url.rstrip("/") if public_url else None,
        mobilize_interval_s=interval,
        mobilize_templates=templates,
        ack_ttl=timedelta(hours=float(ack_hours)),
        inbound_host=inbound_host.strip() if inbound_host else None,
        inbound_port=inbound_port,
        inbound_secret_file=inbound_secret_file,
        signature_window_s=window,
        health_token_file=health_token_file,
        trusted_proxies=tuple(p.strip() for p in proxies),
        security=security,
        uplink=uplink,
        hub=hub,
        drills=drills,
        inbound=inbound,
        calendar_token_file=calendar_token_file,
        report_templates=report_templates,
        report_folder=report_folder,
        sections=sections,
    )


def _parse_templates(r: _Reader, raw: Any) -> dict[str, str]:
    """``[mobilize.templates]``: category code (or ``default``) -> a template's text."""
    if raw == {}:  # none configured (the usual case): the templates' module is not loaded
        return {}
    from mobilization.templates import DEFAULT, check_templates

    try:
        templates = check_templates(raw, "mobilize.templates")
    except InvalidInput as exc:
        raise r.fail(tuple((exc.field or "mobilize.templates").split(".")), exc.reason) from exc
    for key in templates:
        if key != DEFAULT and key not in CATEGORIES:
            raise r.fail(
                ("mobilize", "templates", key),
                _("unknown category; expected default or one of {names}").format(
                    names=", ".join(CATEGORIES)
                ),
            )
    return templates


def _is_address(text: str) -> bool:
    import ipaddress  # only when addresses are configured

    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _whole(
    r: _Reader, table: dict[str, Any], where: tuple[str, str], default: int, low: int, high: int
) -> int:
    value = table.get(where[-1], default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise r.fail(
            where, _("must be a whole number from {low} to {high}").format(low=low, high=high)
        )
    return value


def _path(
    r: _Reader, table: dict[str, Any], where: tuple[str, str], config_path: Path | None
) -> Path | None:
    """A file named in the configuration; relative to the configuration file's directory."""
    value = table.get(where[-1])
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise r.fail(where, _("must be a file path"))
    named = Path(value.strip()).expanduser()
    if not named.is_absolute() and config_path is not None:
        named = config_path.parent / named
    return named


def _parse_security(r: _Reader, table: dict[str, Any], path: Path | None) -> SecuritySettings:
    return SecuritySettings(
        key_file=_path(r, table, ("security", "key_file"), path),
        max_extension=timedelta(
            days=_whole(r, table, ("security", "max_extension_days"), 30, 1, 365)
        ),
        lockout_failures=_whole(r, table, ("security", "lockout_failures"), 5, 1, 100),
        lockout_window=timedelta(
            minutes=_whole(r, table, ("security", "lockout_window_minutes"), 10, 1, 1440)
        ),
        lockout_for=timedelta(
            minutes=_whole(r, table, ("security", "lockout_minutes"), 10, 1, 1440)
        ),
    )


def _flag(r: _Reader, table: dict[str, Any], where: tuple[str, str], default: bool) -> bool:
    value = table.get(where[-1], default)
    if not isinstance(value, bool):
        raise r.fail(where, _("must be true or false"))
    return value


def _parse_uplink(r: _Reader, table: dict[str, Any], path: Path | None) -> UplinkSettings:
    url = table.get("url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://")) or " " in url
    ):
        raise r.fail(("uplink", "url"), _("must be an http:// or https:// address"))
    token = table.get("token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise r.fail(("uplink", "token"), _("must be a non-empty string"))
    token_file = _path(r, table, ("uplink", "token_file"), path)
    if token is not None and token_file is not None:
        raise r.fail(("uplink", "token_file"), _("give token or token_file, not both"))
    unit = table.get("unit")
    if unit is not None:
        from uplink.models import code_problem

        problem = code_problem(unit)
        if problem:
            raise r.fail(("uplink", "unit"), problem)
    return UplinkSettings(
        url=url.rstrip("/") if url else None,
        token=token.strip() if token else None,
        token_file=token_file,
        unit=unit,
        batch=_whole(r, table, ("uplink", "batch"), 200, 1, 500),
        timeout_s=float(_whole(r, table, ("uplink", "timeout_seconds"), 10, 1, 300)),
        alarm=timedelta(minutes=_whole(r, table, ("uplink", "alarm_minutes"), 15, 1, 10080)),
        include_reporter=_flag(r, table, ("uplink", "include_reporter"), False),
        summary_every=timedelta(
            seconds=_whole(r, table, ("uplink", "summary_seconds"), 30, 1, 3600)
        ),
        backoff_max_s=float(_whole(r, table, ("uplink", "backoff_max_seconds"), 60, 1, 86400)),
        rollup=_flag(r, table, ("uplink", "rollup"), True),
        poll_seconds=_whole(r, table, ("uplink", "poll_seconds"), 60, 1, 86400),
    )


def _parse_hub(r: _Reader, table: dict[str, Any]) -> HubSettings:
    return HubSettings(
        enabled=_flag(r, table, ("hub", "enabled"), False),
        silent=timedelta(minutes=_whole(r, table, ("hub", "silent_minutes"), 30, 1, 10080)),
        max_body_bytes=_whole(r, table, ("hub", "max_body_kb"), 4096, 16, 65536) * 1024,
        requests_per_minute=_whole(r, table, ("hub", "requests_per_minute"), 600, 1, 100000),
        rollup_every=timedelta(seconds=_whole(r, table, ("hub", "rollup_seconds"), 60, 1, 86400)),
        call_start=timedelta(minutes=_whole(r, table, ("hub", "call_start_minutes"), 15, 1, 10080)),
    )


def _parse_drills(r: _Reader, table: dict[str, Any]) -> DrillSettings:
    where = ("drills", "reminders_minutes")
    reminders = table.get("reminders_minutes", list(DrillSettings.reminders_min))
    if not isinstance(reminders, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 60 * 24 * 60 for m in reminders
    ):
        raise r.fail(where, _("must be a list of minutes before the drill, each from 1 to 86400"))
    return DrillSettings(
        grace=timedelta(minutes=_whole(r, table, ("drills", "grace_minutes"), 30, 1, 10080)),
        reminders_min=tuple(sorted(set(reminders), reverse=True)),
    )


def _names(
    r: _Reader, table: dict[str, Any], where: tuple[str, str], default: tuple[str, ...]
) -> tuple[str, ...]:
    """A list of names (people, post codes, roles) without blanks or repeats."""
    value = table.get(where[-1], list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise r.fail(where, _('must be a list of names, e.g. ["Li Ming"]'))
    names: list[str] = []
    for raw in value:
        try:
            name = clean_text(raw, where[-1], kind="name")
        except InvalidInput as exc:
            raise r.fail(where, exc.reason) from exc
        if name not in names:
            names.append(name)
    return tuple(names)


def _parse_sitrep(r: _Reader, table: dict[str, Any], path: Path | None) -> SitrepRules:
    from contacts.models import Role
    from uplink.sitrep_rules import DEFAULT_RULES, SitrepRules

    defaults = SitrepRules()
    roles = _names(r, table, ("sitrep", "signer_roles"), defaults.signer_roles)
    try:
        roles = tuple(dict.fromkeys(Role.parse(role).value for role in roles))
    except ValueError as exc:
        raise r.fail(("sitrep", "signer_roles"), str(exc)) from exc
    posts = _names(r, table, ("sitrep", "signer_posts"), defaults.signer_posts)
    unit_name = table.get("unit_name", "")
    if not isinstance(unit_name, str):
        raise r.fail(("sitrep", "unit_name"), _("must be a string"))
    if unit_name.strip():
        try:
            unit_name = clean_text(unit_name, "unit_name", kind="name")
        except InvalidInput as exc:
            raise r.fail(("sitrep", "unit_name"), exc.reason) from exc
    template = _path(r, table, ("sitrep", "template"), path)
    raw_rules = table.get("rule", [])
    if not isinstance(raw_rules, list):
        raise r.fail(("sitrep", "rule"), _("use [[sitrep.rule]] tables"))
    return SitrepRules(
        rules=(*DEFAULT_RULES, *(_parse_report_rule(r, raw, i) for i, raw in enumerate(raw_rules))),
        marked_minutes=_whole(r, table, ("sitrep", "marked_minutes"), 60, 1, 10080),
        followup_minutes=_whole(r, table, ("sitrep", "followup_minutes"), 60, 1, 10080),
        daily_hours=_whole(r, table, ("sitrep", "daily_hours"), 24, 1, 720),
        final_hours=_whole(r, table, ("sitrep", "final_hours"), 24, 1, 720),
        signers=_names(r, table, ("sitrep", "signers"), ()),
        signer_posts=posts,  # the roster finds a post whatever its case
        signer_roles=roles,
        unit_name=unit_name.strip(),
        template=str(template) if template is not None else None,
    )


def _parse_report_rule(r: _Reader, raw: Any, i: int) -> ReportRule:
    from uplink.sitrep_rules import ReportRule

    base: tuple[str | int, ...] = ("sitrep", "rule", i)
    if not isinstance(raw, dict):
        raise r.fail(base, _("must be a table"))
    r.check_keys(raw, "sitrep.rule", base)
    category, type_ = _classification(r, raw, base)
    severity: int | None = None
    if "severity" in raw:
        value = raw["severity"]
        try:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError(value)
            severity = int(Severity.parse(value))
        except ValueError as exc:
            raise r.fail((*base, "severity"), _("use I, II, III or IV (or 1-4)")) from exc
    if category is None and severity is None:
        # the built-in rules name every severity: a rule naming nothing would never decide
        raise r.fail(base, _("a rule must name a category or a severity"))
    minutes: dict[str, int | None] = {}
    for name in ("initial_minutes", "phone_minutes"):
        value = raw.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10080
        ):
            raise r.fail((*base, name), _("must be a whole number of minutes from 1 to 10080"))
        minutes[name] = value
    initial, phone = minutes["initial_minutes"], minutes["phone_minutes"]
    if initial is not None and phone is not None and phone > initial:
        raise r.fail(
            (*base, "phone_minutes"),
            _("the phone report cannot be due after the written one ({minutes} minutes)").format(
                minutes=initial
            ),
        )
    return ReportRule(
        category=category,
        type=type_,
        severity=severity,
        initial_minutes=initial,
        phone_minutes=phone,
    )


def _levels(r: _Reader, value: Any, where: tuple[str | int, ...]) -> tuple[str, ...]:
    """Warning levels: a list of CAP severities or colours (exactly those), or one of them (it
    and every level above), as CAP severity names, highest first."""
    from uplink.cap import Severity, parse_severity  # only when levels are configured

    message = _('use CAP severities or colours, e.g. ["Severe", "Extreme"] or "orange"')
    if isinstance(value, str):
        items, above = [value], True
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        items, above = list(value), False
    else:
        raise r.fail(where, message)
    try:
        chosen = [parse_severity(v) for v in items]
    except InvalidInput as exc:
        raise r.fail(where, exc.reason) from exc
    if any(s is Severity.UNKNOWN for s in chosen):
        raise r.fail(where, message)
    if above:
        chosen = [s for s in Severity if s.rank >= chosen[0].rank]
    ordered = sorted(set(chosen), key=lambda s: -s.rank)
    return tuple(s.value for s in ordered)


def _roles(r: _Reader, table: dict[str, Any], where: tuple[str | int, ...]) -> tuple[str, ...]:
    from contacts.models import Role

    value = table[str(where[-1])]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise r.fail(where, _('must be a list of roles, e.g. ["community_secretary"]'))
    try:
        return tuple(dict.fromkeys(Role.parse(v).value for v in value))
    except ValueError as exc:
        raise r.fail(where, str(exc)) from exc


def _posts(r: _Reader, table: dict[str, Any], where: tuple[str | int, ...]) -> tuple[str, ...]:
    value = table[str(where[-1])]
    if not isinstance(value, list) or not all(
        isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}", v.strip())
        for v in value
    ):
        raise r.fail(where, _('must be a list of roster post codes, e.g. ["LD", "DO"]'))
    return tuple(dict.fromkeys(v.strip().upper() for v in value))


def _parse_inbound(r: _Reader, table: dict[str, Any]) -> InboundRules:
    """``[inbound]``: citizens' SMS to the office (:mod:`incidents.citizen`)."""
    d = InboundRules()
    return InboundRules(
        group_minutes=_whole(r, table, ("inbound", "group_minutes"), d.group_minutes, 0, 1440),
        max_cases_per_day=_whole(
            r, table, ("inbound", "max_cases_per_day"), d.max_cases_per_day, 0, 1000
        ),
    )


def _parse_field(r: _Reader, table: dict[str, Any]) -> FieldRules:
    """``[field]``: a dispatch's delivery to the field (:mod:`uplink.field_rules`)."""
    from uplink.field_rules import FieldRules

    d = FieldRules()
    return FieldRules(
        accept_minutes=_whole(r, table, ("field", "accept_minutes"), d.accept_minutes, 1, 1440),
        urgent_accept_minutes=_whole(
            r, table, ("field", "urgent_accept_minutes"), d.urgent_accept_minutes, 1, 1440
        ),
        keep_photo_location=_flag(
            r, table, ("field", "keep_photo_location"), d.keep_photo_location
        ),
        photo_max_bytes=_whole(
            r, table, ("field", "photo_max_bytes"), d.photo_max_bytes, 10_000, 100_000_000
        ),
        photo_max_count=_whole(r, table, ("field", "photo_max_count"), d.photo_max_count, 0, 100),
        photo_max_pixels=_whole(
            r, table, ("field", "photo_max_pixels"), d.photo_max_pixels, 10_000, 200_000_000
        ),
        link_days=_whole(r, table, ("field", "link_days"), d.link_days, 1, 90),
    )


def _parse_warning(r: _Reader, table: dict[str, Any]) -> WarningRules:
    from uplink.callanswer_rules import CallRule, WarningRules

    defaults = WarningRules()
    levels = (
        _levels(r, table["call_levels"], ("warning", "call_levels"))
        if "call_levels" in table
        else defaults.call_levels
    )
    roles = _roles(r, table, ("warning", "roles")) if "roles" in table else defaults.roles
    posts = _posts(r, table, ("warning", "posts")) if "posts" in table else defaults.posts
    raw_rules = table.get("rule", [])
    if not isinstance(raw_rules, list):
        raise r.fail(("warning", "rule"), _("use [[warning.rule]] tables"))
    rules: list[CallRule] = []
    for i, raw in enumerate(raw_rules):
        base: tuple[str | int, ...] = ("warning", "rule", i)
        if not isinstance(raw, dict):
            raise r.fail(base, _("must be a table"))
        r.check_keys(raw, "warning.rule", base)
        event = raw.get("event")
        if not isinstance(event, str) or not event.strip():
            where = (*base, "event") if "event" in raw else base
            raise r.fail(where, _("the CAP event name is required, as the warnings write it"))
        try:
            event = clean_text(event, "event", kind="name")
        except InvalidInput as exc:
            raise r.fail((*base, "event"), exc.reason) from exc
        if not any(name in raw for name in ("levels", "roles", "posts")):
            raise r.fail(base, _("a rule must set levels, roles or posts"))
        rules.append(
            CallRule(
                event=event,
                levels=_levels(r, raw["levels"], (*base, "levels")) if "levels" in raw else None,
                roles=_roles(r, raw, (*base, "roles")) if "roles" in raw else None,
                posts=_posts(r, raw, (*base, "posts")) if "posts" in raw else None,
            )
        )
    return WarningRules(
        call_levels=levels,
        exercise_calls=_flag(r, table, ("warning", "exercise_calls"), False),
        roles=roles,
        posts=posts,
        answer_minutes=_whole(r, table, ("warning", "answer_minutes"), 5, 1, 1440),
        repeats=_whole(r, table, ("warning", "repeats"), 1, 0, 10),
        rules=tuple(rules),
    )


def _sitrep_dict(rules: SitrepRules) -> dict[str, Any]:
    from uplink.sitrep_rules import DEFAULT_RULES

    configured = (
        rules.rules[len(DEFAULT_RULES) :]
        if rules.rules[: len(DEFAULT_RULES)] == DEFAULT_RULES
        else rules.rules
    )
    return {
        "marked_minutes": rules.marked_minutes,
        "followup_minutes": rules.followup_minutes,
        "daily_hours": rules.daily_hours,
        "final_hours": rules.final_hours,
        "signers": list(rules.signers),
        "signer_posts": list(rules.signer_posts),
        "signer_roles": list(rules.signer_roles),
        "unit_name": rules.unit_name,
        **({"template": rules.template} if rules.template else {}),
        "rule": [_report_rule_dict(rule) for rule in configured],
        "builtin_rule": [_report_rule_dict(rule) for rule in DEFAULT_RULES],
    }


def _report_rule_dict(rule: ReportRule) -> dict[str, Any]:
    return {k: v for k, v in rule.to_json().items() if v is not None}


def _table(r: _Reader, data: Mapping[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise r.fail((name,), _("must be a table"))
    r.check_keys(table, name, (name,))
    return table


def _parse_contacts(r: _Reader, contacts: Any) -> str:
    if not isinstance(contacts, dict):
        raise r.fail(("contacts",), _("must be a table"))
    r.check_keys(contacts, "contacts", ("contacts",))
    if "phone_region" not in contacts:
        return DEFAULT_PHONE_REGION
    from phonenumbers import SUPPORTED_REGIONS  # ~30 ms: only when a region is configured

    region = contacts["phone_region"]
    if not isinstance(region, str) or region.strip().upper() not in SUPPORTED_REGIONS:
        raise r.fail(
            ("contacts", "phone_region"), _("must be a two-letter region code such as CN or HK")
        )
    return region.strip().upper()


def _parse_grid(r: _Reader, grid: Any) -> GridRules:
    from jurisdiction.models import GridRules

    if not isinstance(grid, dict):
        raise r.fail(("grid",), _("must be a table"))
    r.check_keys(grid, "grid", ("grid",))
    defaults = GridRules()
    bounds: dict[str, int] = {}
    for name in ("households_min", "households_max"):
        value = grid.get(name, getattr(defaults, name))
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise r.fail(("grid", name), _("must be a whole number >= 0"))
        bounds[name] = value
    if bounds["households_min"] > bounds["households_max"]:
        raise r.fail(("grid", "households_max"), _("must not be below households_min"))
    tolerances: dict[str, float] = {}
    for name in ("overlap_tolerance_m2", "gap_tolerance_m2"):
        value = grid.get(name, getattr(defaults, name))
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise r.fail(("grid", name), _("must be a number of square metres >= 0"))
        tolerances[name] = float(value)
    return GridRules(
        households_min=bounds["households_min"],
        households_max=bounds["households_max"],
        overlap_tolerance_m2=tolerances["overlap_tolerance_m2"],
        gap_tolerance_m2=tolerances["gap_tolerance_m2"],
    )


def _classification(
    r: _Reader, raw: dict[str, Any], base: tuple[str | int, ...]
) -> tuple[Any, Any]:
    """A rule's ``category`` and ``type`` (either may be absent), checked against the codes."""
    category = raw.get("category")
    type_ = raw.get("type")
    if category is not None and category not in CATEGORIES:
        raise r.fail(
            (*base, "category"), _("unknown category {category!r}").format(category=category)
        )
    if type_ is not None:
        if category is None:
            raise r.fail((*base, "type"), _("a type needs its category"))
        if type_ not in CATEGORIES[category][1]:
            raise r.fail(
                (*base, "type"),
                _("unknown type {type!r} in {category}").format(type=type_, category=category),
            )
    return category, type_


def _parse_rule(r: _Reader, raw: Any, i: int) -> LimitRule:
    base: tuple[str | int, ...] = ("limits", "rule", i)
    if not isinstance(raw, dict):
        raise r.fail(base, _("must be a table"))
    r.check_keys(raw, "limits.rule", base)
    category, type_ = _classification(r, raw, base)
    urgency = raw.get("urgency")
    if urgency is not None and urgency not in {u.value for u in Urgency}:
        raise r.fail((*base, "urgency"), _("use normal, urgent or very_urgent"))
    unit = raw.get("unit")
    if unit is not None and unit not in UNITS:
        raise r.fail((*base, "unit"), _("use natural or working"))
    hours: dict[str, float] = {}
    for stage in LIMITED_STAGES:
        if stage.value in raw:
            value = raw[stage.value]
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise r.fail((*base, stage.value), _("must be a positive number of hours"))
            hours[stage.value] = float(value)
    if not hours and unit is None:
        raise r.fail(base, _("a rule must set hours for at least one stage, or a unit"))
    return LimitRule(hours=hours, unit=unit, category=category, type=type_, urgency=urgency)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _toml_string(name)


def _toml_string(text: str) -> str:
    # JSON escapes are valid TOML escapes; TOML also forbids a raw DEL in a basic string.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    """One TOML value; tables nested below a section are written inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        items = (f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: dict[str, Any]) -> str:
    """Render the effective configuration as TOML (for ``config show``).

    Top-level tables become sections, lists of tables inside them ``[[section.key]]`` arrays,
    deeper tables inline tables; ``None`` (no TOML equivalent) is left out.
    """
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if key == "file" or value is None:
            continue
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{_toml_key(name)}]")
        arrays: list[tuple[str, list[dict[str, Any]]]] = []
        for key, value in table.items():
            if value is None:
                continue
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                arrays.append((key, value))
            else:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, items in arrays:
            for item in items:
                lines.append(f"\n[[{_toml_key(name)}.{_toml_key(key)}]]")
                lines.extend(
                    f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items() if v is not None
                )
    return "\n".join(lines).lstrip() + "\n"
