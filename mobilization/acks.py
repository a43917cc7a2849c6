"""Provides what an answer to a mobilization is made of: signed ack tokens and SMS reply parsing.

A token names one recipient of one mobilization and when it stops being valid, and carries an
HMAC-SHA256 over both made with the installation's secret (kept in the ``meta`` table, created
on first use). Nothing in a token is secret, only unforgeable: ``<payload>.<mac>`` with the
payload ``<recipient id>.<expiry as unix seconds>`` and the MAC truncated to 128 bits, all in
URL-safe base64 so it fits an SMS.

Replies by SMS look like ``4821 1`` (yes), ``4821 2`` (no) or ``4821 收到``; an ETA in minutes
may follow a yes (``4821 1 20``). :func:`parse_reply` reads them; words in Chinese and English
are both understood.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from store.db import Database, write

SECRET_KEY = "ack_secret"
MAX_ETA_MIN = 24 * 60

YES_WORDS = frozenset(
    {"1", "y", "yes", "ok", "coming", "收到", "到", "到岗", "能", "能到", "马上到", "好", "是"}
)
NO_WORDS = frozenset(
    {"2", "n", "no", "cannot", "can't", "不能", "不能到", "不到", "否", "无法", "来不了"}
)
_REPLY_RE = re.compile(r"^\s*(?:(\d{4,8})(?:[\s,，:：#]+|(?=\D)))?(\S+?)(?:[\s,，]+(\d{1,4}))?\s*$")


class TokenInvalid(Exception):
    """A token that is malformed, forged, altered or expired; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Reply:
    """An SMS reply read by :func:`parse_reply`; ``code`` is ``None`` when the sender gave none."""

    code: str | None
    yes: bool
    eta_min: int | None = None


def installation_secret(db: Database) -> bytes:
    """The per-installation signing key, created (32 random bytes) the first time it is needed."""
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (SECRET_KEY,)).fetchone()
    if row is not None:
        return bytes.fromhex(row[0])
    with write(db):
        db.conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
            (SECRET_KEY, secrets.token_bytes(32).hex()),
        )
        row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (SECRET_KEY,)).fetchone()
    return bytes.fromhex(row[0])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()[:16]


def make_token(secret: bytes, recipient_id: int, expires_at: datetime) -> str:
    """A signed token for ``recipient_id`` valid until ``expires_at``."""
    payload = f"{recipient_id}.{int(expires_at.timestamp())}"
    return f"{_b64(payload.encode('ascii'))}.{_b64(_mac(secret, payload))}"


def read_token(secret: bytes, token: str, now: datetime) -> int:
    """The recipient id a valid token names.

    Raises:
        TokenInvalid: malformed, a MAC that does not match (forged or altered), or expired.
    """
    if len(token) > 200 or token.count(".") != 1:
        raise TokenInvalid("malformed")
    body, mac_text = token.split(".")
    try:
        payload = _unb64(body).decode("ascii")
        mac = _unb64(mac_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalid("malformed") from exc
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise TokenInvalid("bad signature")
    match = re.fullmatch(r"(\d{1,12})\.(\d{1,12})", payload)
    if match is None:
        raise TokenInvalid("malformed")
    if datetime.fromtimestamp(int(match.group(2)), UTC) <= now:
        raise TokenInvalid("expired")
    return int(match.group(1))


def parse_reply(text: str) -> Reply | None:
    """Read an SMS reply; ``None`` when it is neither a yes nor a no.

    >>> parse_reply("4821 1")
    Reply(code='4821', yes=True, eta_min=None)
    >>> parse_reply("4821 收到")
    Reply(code='4821', yes=True, eta_min=None)
    >>> parse_reply("4821 2")
    Reply(code='4821', yes=False, eta_min=None)
    """
    if not text or len(text) > 160:
        return None
    match = _REPLY_RE.match(text.strip().lower())
    if match is None:
        return None
    code, word, eta = match.group(1), match.group(2), match.group(3)
    if word in YES_WORDS:
        minutes = int(eta) if eta is not None else None
        if minutes is not None and minutes > MAX_ETA_MIN:
            minutes = None
        return Reply(code, True, minutes)
    if word in NO_WORDS and eta is None:
        return Reply(code, False)
    return None
