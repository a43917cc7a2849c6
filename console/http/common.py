"""Provides what every HTTP surface of ``dutydesk serve`` shares: the service and its limits.

:class:`HttpService` holds the database path, configuration, clock and engine of one server.
Handlers touch the database on a worker thread through the service's own connection
(:meth:`HttpService.db_call`), never on the event loop the engine and the server share; every
recorded answer wakes the engine so the next level of a cascade goes out at once. Bodies are
read up to a limit (:func:`read_body`, 413 beyond) before anything parses them.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse

from console.config import Config
from console.engine import Engine
from store.clock import Clock
from store.db import Database, connect

T = TypeVar("T")


class BodyTooLarge(Exception):
    """A request body over its endpoint's limit: answered 413, never read further."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, or :class:`BodyTooLarge` as soon as it (or its header) is over."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return body


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
        self._lock = threading.Lock()

    async def db_call(self, fn: Callable[[Database], T]) -> T:
        """``fn(db)`` on a worker thread, one call at a time on the service's connection."""

        def call() -> T:
            with self._lock:
                if self._db is None:
                    self._db = connect(self.db_path)
                return fn(self._db)

        return await anyio.to_thread.run_sync(call)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def answered(self) -> None:
        """An answer was recorded: the engine sends what it released at once."""
        if self.engine is not None:
            self.engine.wake()
