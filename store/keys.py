"""Provides the installation's secret keys: one file outside the database, 0600, with rotation.

What the keys protect: ack links (a link is signed, so nobody can answer for someone else) and
the audit chain's checkpoints (signed, so a history rewritten without the key is detected). A
key kept in the database would be copied by every backup, and whoever holds a backup could mint
links and re-sign a rewritten history; so the keys live in a file of their own, created readable
by its owner only, and named in the configuration (``[security] key_file``; by default beside
the database, ``<db stem>.keys``). A file that others can read is refused, as ssh refuses a
private key.

The file is text, one key per line (``#`` comments allowed)::

    k3fa1c2 2026-12-07T05:18:26+00:00 9f86d081884c7d65...(64 hex digits)

that is: the key's id, when it was created, and 32 random bytes in hex. The newest key signs;
older keys still verify what they signed while it can still be valid (:meth:`KeyRing.retired_at`
is when the next key replaced one, and a link signed before then expires within the link's
lifetime). :func:`rotate_keys` adds a new key. Each use derives its own key from the file's
(:meth:`Key.derive`), so a link key never signs a checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from store.errors import DutydeskError, InvalidInput
from store.i18n import _
from store.paths import private_dir, write_private

HEADER = (
    "# dutydesk keys: keep this file secret (mode 0600), outside backups of the database.\n"
    "# One key per line: id, created (UTC), 32 bytes in hex. The last line signs.\n"
)
_LINE = re.compile(r"^([A-Za-z0-9_-]{1,32}) (\S+) ([0-9a-f]{64})$")


class KeyFileError(InvalidInput):
    """The key file cannot be used: unreadable, malformed, or readable by others."""


@dataclass(frozen=True)
class Key:
    """One key of the ring: its id, when it was made, its 32 secret bytes."""

    kid: str
    created: datetime
    secret: bytes
    # Derived keys, made once: a mobilization signs tens of thousands of links with one.
    _derived: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def derive(self, purpose: str) -> bytes:
        """The key for one use (``"links"``, ``"audit"``...), derived from this key."""
        derived = self._derived.get(purpose)
        if derived is None:
            derived = hmac.new(
                self.secret, b"dutydesk/" + purpose.encode("ascii"), hashlib.sha256
            ).digest()
            self._derived[purpose] = derived
        return derived

    def __repr__(self) -> str:  # never show the secret in a traceback or a log
        return f"Key(kid={self.kid!r}, created={self.created.isoformat()!r})"


@dataclass(frozen=True)
class KeyRing:
    """The keys of one installation, oldest first; the last one signs."""

    keys: tuple[Key, ...]
    path: Path | None = None

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """A ring that lives only in this process: for tests and throwaway databases."""
        return cls((Key("tmp", datetime.now(UTC), secrets.token_bytes(32)),))

    @property
    def current(self) -> Key:
        return self.keys[-1]

    def get(self, kid: str) -> Key | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def retired_at(self, kid: str) -> datetime | None:
        """When the key after ``kid`` replaced it; ``None`` for the current (or unknown) key."""
        for key, following in zip(self.keys, self.keys[1:], strict=False):
            if key.kid == kid:
                return following.created
        return None


def key_path_for(db_path: str | Path, configured: Path | None = None) -> Path:
    """Where the keys of the database at ``db_path`` live: the configured file, else beside it."""
    if configured is not None:
        return configured
    db_path = Path(db_path)
    return db_path.with_name(db_path.stem + ".keys")


def unsafe_permissions(path: Path) -> str | None:
    """Why the key file's permissions are unsafe (group/others may read or write), or ``None``."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return _("{path} is readable by others (mode {mode:o}): run chmod 600 {path}").format(
            path=path, mode=mode
        )
    return None


def _new_key(now: datetime) -> Key:
    # Short, since every link carries it (an SMS pays for each character); the file says when.
    return Key(
        f"k{secrets.token_hex(3)}",
        now.replace(microsecond=0),
        secrets.token_bytes(32),
    )


def _line(key: Key) -> str:
    return f"{key.kid} {key.created.isoformat(timespec='seconds')} {key.secret.hex()}\n"


def _write_new(path: Path, keys: tuple[Key, ...]) -> None:
    """Write the file whole, 0600 from its first byte, and move it into place atomically."""
    private_dir(path.parent)
    write_private(path, (HEADER + "".join(_line(k) for k in keys)).encode("ascii"))


TOKEN_MIN = 16  # characters: a bearer token shorter than this is guessable


def read_token_file(path: Path, field: str, minimum: int = TOKEN_MIN) -> str:
    """A bearer token kept in a file only its owner may read: the file's first line.

    What ``[serve] health_token_file`` and ``[uplink] token_file`` hold.

    Raises:
        InvalidInput: (for ``field``) missing, unreadable, readable by others, or not one word
            of ``minimum`` characters or more.
    """
    try:
        problem = unsafe_permissions(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            _("cannot read {path}: {error}").format(path=path, error=exc), field
        ) from exc
    if problem is not None:
        raise InvalidInput(problem, field)
    lines = text.strip().splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < minimum or any(c.isspace() for c in token):
        raise InvalidInput(
            _("{path}: the token must be one word of {n} characters or more").format(
                path=path, n=minimum
            ),
            field,
        )
    return token


def read_keys(path: Path) -> KeyRing:
    """The ring in the file at ``path``.

    Raises:
        KeyFileError: missing, readable by others, or a line that is not a key (names the line).
    """
    try:
        problem = unsafe_permissions(path)
        text = path.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise KeyFileError(_("key file {path} does not exist").format(path=path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(
            _("cannot read key file {path}: {error}").format(path=path, error=exc)
        ) from exc
    if problem is not None:
        raise KeyFileError(problem)
    keys: list[Key] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        try:
            if match is None:
                raise ValueError
            created = datetime.fromisoformat(match.group(2))
            if created.tzinfo is None:
                raise ValueError
        except ValueError:
            raise KeyFileError(
                _("{path}, line {line}: not a key (id, created, 64 hex digits)").format(
                    path=path, line=number
                )
            ) from None
        keys.append(Key(match.group(1), created.astimezone(UTC), bytes.fromhex(match.group(3))))
    if not keys:
        raise KeyFileError(_("key file {path} holds no key").format(path=path))
    if len({k.kid for k in keys}) != len(keys):
        raise KeyFileError(_("key file {path} names a key id twice").format(path=path))
    return KeyRing(tuple(keys), path)


def load_keys(path: Path, now: datetime | None = None, *, legacy: bytes | None = None) -> KeyRing:
    """The ring at ``path``, created (one new key, mode 0600) when the file does not exist yet.

    Args:
        path: the key file.
        now: the creation time of a new key (default: now).
        legacy: a secret an older dutydesk kept elsewhere; when the file is created it is kept
            as key ``legacy``, retired at once, so what it signed stays valid for its lifetime.
    """
    if path.exists():
        return read_keys(path)
    now = now or datetime.now(UTC)
    keys: tuple[Key, ...] = (_new_key(now),)
    if legacy is not None:
        keys = (Key("legacy", datetime.fromtimestamp(0, UTC), legacy), *keys)
    try:
        _write_new(path, keys)
    except FileExistsError:  # another process created it first: use theirs
        pass
    except OSError as exc:
        raise DutydeskError(
            _("cannot create key file {path}: {error}").format(path=path, error=exc)
        ) from exc
    return read_keys(path)


def rotate_keys(path: Path, now: datetime | None = None) -> KeyRing:
    """Add a new signing key to the file at ``path``; the older keys keep verifying."""
    ring = read_keys(path)
    now = now or datetime.now(UTC)
    key = _new_key(now)
    while ring.get(key.kid) is not None:  # one chance in millions: draw again
        key = _new_key(now)
    if key.created < ring.current.created:
        raise InvalidInput(
            _("the newest key was made at {then}, after now ({now}): check the clock").format(
                then=ring.current.created.isoformat(), now=key.created.isoformat()
            )
        )
    _write_new(path, (*ring.keys, key))
    return read_keys(path)
