"""Provides what every HTTP surface of ``dutydesk serve`` shares: the service and its limits.

:class:`HttpService` holds the database path, configuration, clock and engine of one server,
and its :class:`~console.http.security.SecurityLedger` (refusals counted in memory, written as
one summary a minute: :meth:`HttpService.flush_security`, run by the guard's ticker and on
close). Handlers touch the database on a worker thread through the service's own connection
(:meth:`HttpService.db_call`), never on the event loop the engine and the server share; every
recorded answer wakes the engine so the next level of a cascade goes out at once.

Bodies are read up to a size limit (413 beyond) and within :data:`BODY_DEADLINE_S` (408 for a
client that trickles), and a client that goes away mid-body costs one log line, no traceback
(:func:`read_body`); JSON is parsed only once its nesting is known to be shallow
(:func:`parse_json`: 400, never a ``RecursionError``).
"""

from __future__ import annotations

import gettext
import html
import json
import logging
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from console.config import Config
from console.context import keys_for
from console.engine import Engine
from console.http.security import (
    SUMMARY_KIND,
    Failure,
    LockoutPolicy,
    ReplayGuard,
    SecurityLedger,
)
from contacts.phones import mask_phone
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, connect, write
from store.errors import InvalidInput
from store.i18n import CHINESE, DOMAIN, LOCALE_DIR
from store.keys import KeyRing

T = TypeVar("T")

log = logging.getLogger("dutydesk.http")

BODY_DEADLINE_S = 10.0  # the whole body must arrive within this, from the handler's first read
MAX_JSON_DEPTH = 16  # our bodies are flat objects; deeper is refused before json.loads


class BodyRefused(Exception):
    """A body that was not read whole: too large (413), too slow (408), or the client left.

    ``response`` is what the handler answers (nobody reads it when the client left).
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def read_body(request: Request, limit: int, deadline: float = BODY_DEADLINE_S) -> bytes:
    """The request's body, read whole within ``deadline`` seconds and ``limit`` bytes.

    Raises:
        BodyRefused: over the limit (or declared over it: nothing is read), not complete within
            the deadline, or the client disconnected (one log line, no traceback).
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyRefused(JSONResponse({"error": "body too large"}, 413))
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(JSONResponse({"error": "body too large"}, 413))
                chunks.append(chunk)
    except TimeoutError:
        log.warning(
            "dutydesk serve: %s %s from %s: body not complete within %gs (408); nothing changed",
            request.method,
            request.url.path[:80],
            client_address(request),
            deadline,
        )
        raise BodyRefused(
            JSONResponse({"error": "request body too slow"}, 408, {"connection": "close"})
        ) from None
    except ClientDisconnect:
        log.warning(
            "dutydesk serve: %s %s from %s: client went away while sending the body;"
            " nothing changed",
            request.method,
            request.url.path[:80],
            client_address(request),
        )
        raise BodyRefused(Response(status_code=400)) from None
    return b"".join(chunks)


# A JSON string (an unterminated one runs to the end), and a run of anything but a bracket.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth_over(text: str, limit: int) -> bool:
    """Whether ``text`` nests arrays/objects deeper than ``limit`` (strings are skipped).

    Regular expressions (in C) cut out the strings, then everything but the brackets, so
    Python looks only at the brackets: a hub's batch of 200 events (165 KB) in ~3.7 ms, where
    a loop over every character took ~8 (a fifth of the hub's time per event).
    """
    depth = 0
    for char in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``.

    Raises:
        InvalidInput: not UTF-8, not JSON, or nested deeper than :data:`MAX_JSON_DEPTH` (checked
            before parsing, so a body of 100,000 ``[`` is a 400 and not a ``RecursionError``).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("must be UTF-8", "body") from exc
    if json_depth_over(text, MAX_JSON_DEPTH):
        raise InvalidInput("is nested too deeply", "body")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("is not valid JSON", "body") from exc


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: as uvicorn was told)."""
    return request.client.host if request.client else ""


@lru_cache(maxsize=1)
def _chinese() -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[CHINESE])


def in_page_language(message: str, en: bool) -> str:
    """``message`` (an English message id) in the page's language, whatever the process's."""
    return message if en else _chinese().gettext(message)


def english(request: Request) -> bool:
    """Whether the reader's browser prefers English (pages are Chinese otherwise)."""
    accept = request.headers.get("accept-language", "").lower()
    return accept.startswith("en")


_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; }}
.drill {{ background: #fde68a; padding: .2rem .5rem; font-weight: bold; }}
button {{ font-size: 1.2rem; padding: .8rem 1.2rem; margin: .4rem .4rem .4rem 0; }}
.yes {{ background: #15803d; color: white; }} .no {{ background: #b91c1c; color: white; }}
</style></head><body>
{body}
</body></html>"""


def page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    """A small page for a phone: ``body`` is HTML the caller escaped."""
    return HTMLResponse(_PAGE.format(lang=lang, title=html.escape(title), body=body), status)


class HttpService:
    """One server's database, configuration, clock and engine; build with ``create_app``."""

    def __init__(self, db_path: Path, config: Config, clock: Clock, engine: Engine | None) -> None:
        self.db_path = db_path
        self.config = config
        self.clock = clock
        self.engine = engine
        self._db: Database | None = None
        self._keys: KeyRing | None = None
        self._lock = threading.Lock()
        security = config.security
        region = config.phone_region
        self.ledger = SecurityLedger(
            LockoutPolicy(security.lockout_failures, security.lockout_window, security.lockout_for),
            lambda phone: mask_phone(phone, region),
        )
        self.ticking = False  # the guard's summary ticker runs (console.http.guard)
        self.replays = ReplayGuard()  # inbound signatures seen (console.http.inbound)
        self._said: set[str] = set()

    def say_once(self, line: str) -> None:
        """Log ``line`` once in this server's life (a standing problem, not an event)."""
        if line not in self._said and len(self._said) < 100:
            self._said.add(line)
            log.warning("%s", line)

    def now_s(self) -> float:
        """Now, in seconds of the service's clock: the ledger's time."""
        return self.clock.now().timestamp()

    def refused(self, source: str, kind: Failure) -> bool:
        """Count one refusal (see :mod:`console.http.security`); whether a lockout began."""
        began = self.ledger.failed(source, kind, self.now_s())
        if began:
            log.warning(
                "dutydesk serve: %s locked out for %d min after repeated failures (%s)",
                self.ledger.shown(source),
                self.ledger.policy.lock_for.total_seconds() // 60,
                kind.value,
            )
        return began

    async def flush_security(self, *, force: bool = False) -> bool:
        """Write the security summary if one is due; whether one was written."""
        data = self.ledger.take_summary(self.now_s(), force=force)
        if data is None:
            return False
        await self.db_call(lambda db: _write_summary(db, self.clock, data))
        return True

    @property
    def keys(self) -> KeyRing:
        """The key ring that verifies ack links; loaded with the first database call."""
        assert self._keys is not None, "the keys are loaded by the first db_call"
        return self._keys

    async def db_call(self, fn: Callable[[Database], T]) -> T:
        """``fn(db)`` on a worker thread, one call at a time on the service's connection."""

        def call() -> T:
            with self._lock:
                if self._db is None:
                    self._db = connect(self.db_path)
                    self._keys = keys_for(self._db, self.db_path, self.config)
                return fn(self._db)

        return await anyio.to_thread.run_sync(call)

    def close(self) -> None:
        """Write what the ledger still holds (one last summary), then close the database."""
        data = self.ledger.take_summary(self.now_s(), force=True)
        with self._lock:
            if data is not None:
                try:
                    if self._db is None:
                        self._db = connect(self.db_path)
                    _write_summary(self._db, self.clock, data)
                except Exception as exc:  # closing must close; say what was lost
                    log.warning("dutydesk serve: the last security summary was lost: %s", exc)
            if self._db is not None:
                self._db.close()
                self._db = None

    def answered(self) -> None:
        """An answer was recorded: the engine sends what it released at once."""
        if self.engine is not None:
            self.engine.wake()


def _write_summary(db: Database, clock: Clock, data: dict[str, Any]) -> None:
    with write(db):
        append_event(
            db, at=to_iso(clock.now()), operator="dutydesk-serve", kind=SUMMARY_KIND, data=data
        )
