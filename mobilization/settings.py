"""Provides the channels' settings: ``[channels.*]`` of the configuration, checked.

Kept apart from the senders (:mod:`mobilization.channels`) so that reading the configuration
(every command, the console's first frame) does not import the senders' SMTP, TLS, e-mail and
HTTP machinery: measured ~15 ms on the console's start and ~45 ms on each CLI command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from store.errors import InvalidInput

CHANNEL_NAMES = ("log", "sms", "webhook", "email")
MAX_BATCH = 1000
BATCH_REASON = f"must be an integer from 1 to {MAX_BATCH}"
MAX_HTTP_CONCURRENCY = 100
MAX_SMTP_CONCURRENCY = 20
MAX_SIGNATURE = 20
SIGNATURE_PLACES = ("start", "end")


@dataclass(frozen=True)
class LogSettings:
    """``[channels.log]``: ``path`` of the JSON-lines file; ``None`` lets the caller choose."""

    path: Path | None = None


@dataclass(frozen=True)
class SmsSettings:
    """``[channels.sms]``: the SMS gateway; ``batch`` 1 sends one message per request."""

    url: str
    batch: int = 1
    concurrency: int = 8
    rate: float = 0.0
    timeout_s: float = 10.0
    retry_window_s: float = 30.0
    token: str | None = None
    # The sender's name the carriers require (签名, e.g. 【青山街道】), and where it goes:
    # "start" (Chinese carriers) or "end". Counted in the text's length and segments.
    signature: str | None = None
    signature_at: str = "start"


@dataclass(frozen=True)
class WebhookSettings:
    """``[channels.webhook]``: chat-robot webhooks; each person's URL is their address."""

    concurrency: int = 8
    rate: float = 0.0
    timeout_s: float = 10.0
    retry_window_s: float = 30.0


@dataclass(frozen=True)
class EmailSettings:
    """``[channels.email]``: the SMTP relay (plain SMTP, optionally upgraded with STARTTLS)."""

    host: str
    sender: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    concurrency: int = 2
    timeout_s: float = 10.0


@dataclass(frozen=True)
class ChannelSettings:
    """The validated ``[channels]`` table; a channel without its table is not configured."""

    log: LogSettings = LogSettings()
    sms: SmsSettings | None = None
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None

    @property
    def configured(self) -> frozenset[str]:
        """The channels messages can go out on; ``log`` always can."""
        present = {"log"}
        present.update(
            name
            for name, value in (("sms", self.sms), ("webhook", self.webhook), ("email", self.email))
            if value is not None
        )
        return frozenset(present)


_KEYS = {
    "log": ("path",),
    "sms": (
        "url",
        "batch",
        "concurrency",
        "rate",
        "timeout_s",
        "retry_window_s",
        "token",
        "signature",
        "signature_at",
    ),
    "webhook": ("concurrency", "rate", "timeout_s", "retry_window_s"),
    "email": (
        "host",
        "port",
        "sender",
        "username",
        "password",
        "starttls",
        "concurrency",
        "timeout_s",
    ),
}


def parse_channels(raw: Mapping[str, Any] | None) -> ChannelSettings:
    """Validate the ``[channels]`` table of the configuration.

    Args:
        raw: the table as ``tomllib`` read it (``None`` or empty: only ``log``).

    Raises:
        InvalidInput: with ``field`` the dotted TOML path of the first bad value
            (``channels.sms.batch``) and ``reason`` what it must be.
    """
    if raw is None:
        return ChannelSettings()
    if not isinstance(raw, Mapping):
        raise InvalidInput("must be a table", "channels")
    for name in raw:
        if name not in _KEYS:
            raise InvalidInput(
                f"unknown channel; expected one of {', '.join(sorted(_KEYS))}", f"channels.{name}"
            )
    tables = {name: _table(raw, name) for name in raw}
    log = tables.get("log")
    sms = tables.get("sms")
    webhook = tables.get("webhook")
    email = tables.get("email")
    return ChannelSettings(
        log=_parse_log(log) if log is not None else LogSettings(),
        sms=_parse_sms(sms) if sms is not None else None,
        webhook=_parse_webhook(webhook) if webhook is not None else None,
        email=_parse_email(email) if email is not None else None,
    )


class _Table:
    """One ``[channels.NAME]`` table being read; every error names the dotted key."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self.name = name
        self.values = values
        for key in values:
            if key not in _KEYS[name]:
                raise InvalidInput(
                    f"unknown setting; expected one of {', '.join(sorted(_KEYS[name]))}",
                    self.field(key),
                )

    def field(self, key: str) -> str:
        return f"channels.{self.name}.{key}"

    def integer(
        self, key: str, default: int, low: int, high: int, reason: str | None = None
    ) -> int:
        value = self.values.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidInput(
                reason or f"must be an integer from {low} to {high}", self.field(key)
            )
        return value

    def number(self, key: str, default: float, low: float, high: float, reason: str) -> float:
        value = self.values.get(key, default)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise InvalidInput(reason, self.field(key))
        return float(value)

    def seconds(self, key: str, default: float) -> float:
        return self.number(
            key, default, 0.001, 3600, "must be a number of seconds greater than 0 (at most 3600)"
        )

    def rate(self) -> float:
        return self.number(
            "rate", 0.0, 0, 100_000, "must be a number of messages per second (0: no limit)"
        )

    def text(self, key: str) -> str | None:
        if key not in self.values:
            return None
        value = self.values[key]
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("must be a non-empty string", self.field(key))
        return value.strip()

    def required(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise InvalidInput("is required", self.field(key))
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            raise InvalidInput("must be true or false", self.field(key))
        return value


def _table(raw: Mapping[str, Any], name: str) -> _Table:
    values = raw[name]
    if not isinstance(values, Mapping):
        raise InvalidInput("must be a table", f"channels.{name}")
    return _Table(name, values)


def _http_url(table: _Table, key: str) -> str:
    url = table.required(key)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise InvalidInput("must be an http:// or https:// URL", table.field(key))
    return url


def _parse_log(table: _Table) -> LogSettings:
    path = table.text("path")
    return LogSettings(path=Path(path).expanduser() if path else None)


def _parse_sms(table: _Table) -> SmsSettings:
    url = _http_url(table, "url")
    token = table.text("token")
    if token is not None and any(c.isspace() for c in token):
        raise InvalidInput("must not contain spaces or line breaks", table.field("token"))
    signature = table.text("signature")
    if signature is not None and (len(signature) > MAX_SIGNATURE or "\n" in signature):
        raise InvalidInput(
            f"must be one line of at most {MAX_SIGNATURE} characters",
            table.field("signature"),
        )
    signature_at = table.text("signature_at") or "start"
    if signature_at not in SIGNATURE_PLACES:
        raise InvalidInput('must be "start" or "end"', table.field("signature_at"))
    return SmsSettings(
        url=url,
        # 0 and 1 both mean one message per request.
        batch=max(1, table.integer("batch", 1, 0, MAX_BATCH, BATCH_REASON)),
        concurrency=table.integer("concurrency", 8, 1, MAX_HTTP_CONCURRENCY),
        rate=table.rate(),
        timeout_s=table.seconds("timeout_s", 10.0),
        retry_window_s=table.number(
            "retry_window_s", 30.0, 0, 86_400, "must be a number of seconds (0: never retry)"
        ),
        token=token,
        signature=signature,
        signature_at=signature_at,
    )


def _parse_webhook(table: _Table) -> WebhookSettings:
    return WebhookSettings(
        concurrency=table.integer("concurrency", 8, 1, MAX_HTTP_CONCURRENCY),
        rate=table.rate(),
        timeout_s=table.seconds("timeout_s", 10.0),
        retry_window_s=table.number(
            "retry_window_s", 30.0, 0, 86_400, "must be a number of seconds (0: never retry)"
        ),
    )


def _parse_email(table: _Table) -> EmailSettings:
    host = table.required("host")
    sender = table.required("sender")
    if any(c.isspace() for c in host):
        raise InvalidInput("must be a host name or address", table.field("host"))
    from email.utils import parseaddr  # only when [channels.email] is configured

    address = parseaddr(sender)[1]
    if "@" not in address or any(c in sender for c in "\r\n"):
        raise InvalidInput(
            "must be an e-mail address (duty@example.com or Name <duty@example.com>)",
            table.field("sender"),
        )
    username = table.text("username")
    password = table.text("password")
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise InvalidInput("username and password go together", table.field(missing))
    return EmailSettings(
        host=host,
        sender=sender,
        port=table.integer("port", 25, 1, 65535),
        username=username,
        password=password,
        starttls=table.flag("starttls", False),
        concurrency=table.integer("concurrency", 2, 1, MAX_SMTP_CONCURRENCY),
        timeout_s=table.seconds("timeout_s", 10.0),
    )
