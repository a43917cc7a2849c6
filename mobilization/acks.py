"""Provides what an answer to a mobilization is made of: signed ack tokens and SMS reply parsing.

A token names one recipient of one mobilization and when it stops being valid, and carries an
HMAC-SHA256 over both made with the installation's link key (:mod:`store.keys`: a file outside
the database, so a backup cannot mint links). Nothing in a token is secret, only unforgeable:
``<payload>.<mac>`` with the payload ``<recipient id>.<expiry as unix seconds>.<key id>`` and the
MAC truncated to 128 bits, all in canonical URL-safe base64 (one spelling only) so it fits an
SMS.

Replies by SMS look like ``4821 1`` (yes), ``4821 2`` (no) or ``4821 收到``; an ETA in minutes
may follow a yes (``4821 1 20``). :func:`parse_reply` reads them; words in Chinese and English
are both understood.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store.db import Database, write
from store.keys import Key, KeyRing, load_keys

SECRET_KEY = "ack_secret"  # where an older dutydesk kept the link secret (meta table)
LINKS = "links"  # the purpose the link key is derived for (store.keys.Key.derive)
LINK_LIFE_MAX = timedelta(hours=720)  # the longest [mobilize] ack_hours allows
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


def legacy_secret(db: Database) -> bytes | None:
    """The signing secret an older dutydesk kept in the database's ``meta`` table, if any.

    It is moved to the key file (as key ``legacy``) by :func:`adopt_legacy_secret`, so links
    already sent keep working for their lifetime, and removed from the database.
    """
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (SECRET_KEY,)).fetchone()
    return None if row is None else bytes.fromhex(row[0])


def adopt_legacy_secret(db: Database, key_path: Path) -> KeyRing:
    """The key ring at ``key_path`` (created if needed), with the database's old secret moved in."""
    old = legacy_secret(db)
    ring = load_keys(key_path, legacy=old)
    if old is not None and ring.get("legacy") is not None:
        with write(db):
            db.conn.execute("DELETE FROM meta WHERE key = ?", (SECRET_KEY,))
    return ring


def b64encode_token(data: bytes) -> str:
    """``data`` in URL-safe base64 without padding: a signed token's parts (links, forms)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64 = re.compile(r"[A-Za-z0-9_-]+")


def b64decode_token(text: str) -> bytes:
    """Strict URL-safe base64 without padding: only the one canonical spelling is accepted.

    Raises:
        ValueError: ``text`` is not the canonical spelling of any bytes.
    """
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not canonical base64")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64encode_token(data) != text:  # unused low bits set: another spelling of the same bytes
        raise ValueError("not canonical base64")
    return data


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()[:16]


def make_token(key: Key, recipient_id: int, expires_at: datetime) -> str:
    """A token for ``recipient_id`` valid until ``expires_at``, signed with ``key``."""
    payload = f"{recipient_id}.{int(expires_at.timestamp())}.{key.kid}"
    mac = _mac(key.derive(LINKS), payload)
    return f"{b64encode_token(payload.encode('ascii'))}.{b64encode_token(mac)}"


def read_token(keys: KeyRing, token: str, now: datetime) -> int:
    """The recipient id a valid token names.

    A token signed with an older key of the ring is valid only if it expires within
    :data:`LINK_LIFE_MAX` of that key's retirement: links sent before a rotation keep working,
    a link minted later with a leaked old key does not.

    Raises:
        TokenInvalid: malformed, a MAC that does not match (forged or altered), or expired.
    """
    if len(token) > 200 or token.count(".") != 1:
        raise TokenInvalid("malformed")
    body, mac_text = token.split(".")
    try:
        payload = b64decode_token(body).decode("ascii")
        mac = b64decode_token(mac_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalid("malformed") from exc
    match = re.fullmatch(r"([1-9]\d{0,11})\.([1-9]\d{0,11})(?:\.([A-Za-z0-9_-]{1,32}))?", payload)
    if match is None:
        raise TokenInvalid("malformed")
    kid = match.group(3)
    key = keys.get(kid or "legacy")
    if key is None:
        raise TokenInvalid("bad signature")
    # Tokens of the version before key files had no key id and a MAC made with the raw secret.
    secret = key.derive(LINKS) if kid else key.secret
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise TokenInvalid("bad signature")
    expires = datetime.fromtimestamp(int(match.group(2)), UTC)
    if expires <= now:
        raise TokenInvalid("expired")
    retired = keys.retired_at(key.kid)
    if retired is not None and expires > retired + LINK_LIFE_MAX:
        raise TokenInvalid("bad signature")
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
