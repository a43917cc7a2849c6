"""Provides the SMS gateway's side of ``POST /inbound/sms``: the shared secret and signed posts.

``write_secret(tmp_path)`` writes a secret file (mode 0600) and returns its name for ``[serve]
inbound_secret_file``; ``signed_headers(secret, body)`` are the headers the gateway sends
(the scheme of :mod:`console.http.inbound`, implemented again here from its description so
that a test of the server is not a test of the server's own signing code); ``post_reply``
posts one reply, signed unless told otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

SECRET_FILE = "inbound-secret"


def write_secret(tmp_path: Path, mode: int = 0o600) -> tuple[str, bytes]:
    """A new secret in ``tmp_path/inbound-secret``: (the name for the configuration, the secret)."""
    secret = secrets.token_hex(24)
    path = tmp_path / SECRET_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as out:
        out.write(f"# shared with the SMS gateway\n{secret}\n")
    os.chmod(path, mode)
    return SECRET_FILE, secret.encode()


def signed_headers(secret: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """``X-Dutydesk-Timestamp`` and ``X-Dutydesk-Signature`` for ``body``, sent now."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Dutydesk-Timestamp": ts,
        "X-Dutydesk-Signature": f"v1={mac}",
        "Content-Type": "application/json",
    }


def post_reply(
    base: str,
    secret: bytes | None,
    payload: Any,
    *,
    timestamp: int | None = None,
    client: httpx.Client | None = None,
) -> httpx.Response:
    """POST ``payload`` (JSON) to ``base``/inbound/sms, signed with ``secret`` (unsigned: None)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = (
        signed_headers(secret, body, timestamp)
        if secret is not None
        else {"Content-Type": "application/json"}
    )
    poster = client or httpx
    return poster.post(f"{base}/inbound/sms", content=body, headers=headers, timeout=10)
