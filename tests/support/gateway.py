"""Provides :class:`Gateway`, a real SMS gateway and chat-robot receiver on 127.0.0.1.

Tests and benchmarks start it themselves (``with Gateway() as gateway:``), point a sender at
``gateway.url`` (``/send``, the SMS gateway) or ``gateway.hook_url`` (``/hook``, a webhook
robot), and then read what arrived: ``requests``, ``messages``, ``keys``, ``max_in_flight``.

Behaviour can be switched while it runs, each switch applying to the next requests:

* ``fail(400, "bad number", to={...})`` — refuse every request, or only the messages to the
  given numbers (per message in a batch); ``fail(None)`` clears it;
* ``throttle(n, retry_after=1)`` — answer the next ``n`` requests 429 with ``Retry-After``;
* ``hang(n, seconds)`` — wait before answering the next ``n`` requests;
* ``error_5xx(n, status=503)`` — answer the next ``n`` requests with a server error;
* ``latency`` — seconds every request takes (0 by default), so overlapping requests show in
  ``max_in_flight``;
* ``drop(n)`` — leave the next ``n`` messages out of batch results (not accepted);
* ``dedupe=True`` — a message id (or ``Idempotency-Key``) seen before is answered 200 and not
  counted again; ``accepted`` holds each accepted message once;
* ``close_connections`` — answer with ``Connection: close``, so every request needs a new
  connection (and a new file descriptor on the sender's side).

Whatever the switches, ``seen_twice`` counts the message ids (or, for a message without one,
the ``Idempotency-Key``) that arrived more than once: the messages a sender sent twice.

A single message is any JSON object; a batch is ``{"messages": [...]}`` and is answered
``{"results": [{"id", "status", "error"?}]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    """One request as the gateway saw it."""

    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival
    client: tuple[str, int] | None = None  # the sender's address: one port per connection
    status: int = 0  # what it was answered; 0 while it is being handled (or hanging)


class Gateway:
    """An HTTP server in a background thread that records and answers like an SMS gateway."""

    def __init__(self, *, dedupe: bool = False, record: bool = True) -> None:
        self.dedupe = dedupe
        # Benchmarks turn recording off: a growing list of bodies slows the server (GC) over time.
        self.record = record
        self.count = 0  # requests received
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._accepted: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._in_flight = 0
        self.max_in_flight = 0
        self.duplicates = 0
        self._arrivals: Counter[str] = Counter()  # message id -> how many times it arrived
        self.close_connections = False
        self.latency = 0.0
        self.fail_status: int | None = None
        self.fail_error = "bad number"
        self.fail_to: set[str] | None = None
        self._throttle = 0
        self._retry_after = "1"
        self._hangs = 0
        self._hang_seconds = 0.0
        self._errors = 0
        self._error_status = 503
        self._drops = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None  # set: hanging answers go out now
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Gateway:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
        # and without it every answer waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        app = Starlette(
            routes=[
                Route("/send", self._handle, methods=["POST"]),
                Route("/hook", self._handle, methods=["POST"]),
                Route("/hook/{name}", self._handle, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(server, sock),), name="test-gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test gateway did not start")
            time.sleep(0.01)
        return self

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        await server.serve(sockets=[sock])

    def _release_hanging(self) -> None:
        """Let every answer that is waiting go out now (from any thread)."""

        def swap() -> None:
            if self._release is not None:
                released, self._release = self._release, asyncio.Event()
                released.set()

        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be gone already
                self._loop.call_soon_threadsafe(swap)

    def stop(self) -> None:
        self._release_hanging()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = self._loop = self._release = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The SMS gateway endpoint."""
        return f"{self.base_url}/send"

    @property
    def hook_url(self) -> str:
        """A chat-robot webhook endpoint."""
        return f"{self.base_url}/hook"

    # --- switches -------------------------------------------------------------------------

    def fail(
        self, status: int | None = 400, error: str = "bad number", to: set[str] | None = None
    ) -> None:
        """Refuse with ``status`` (every request, or the messages to ``to``); None clears."""
        with self._lock:
            self.fail_status, self.fail_error, self.fail_to = status, error, to

    def throttle(self, n: int, retry_after: float = 1) -> None:
        with self._lock:
            self._throttle = n
            self._retry_after = f"{retry_after:g}"

    def hang(self, n: int, seconds: float) -> None:
        with self._lock:
            self._hangs, self._hang_seconds = n, seconds

    def error_5xx(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._errors, self._error_status = n, status

    def drop(self, n: int) -> None:
        with self._lock:
            self._drops = n

    def reset(self) -> None:
        """Back to a fresh gateway: switches off, hanging answers released, nothing received.

        Lets one running gateway serve many tests (starting one takes ~0.2 s to stop).
        """
        with self._lock:
            self.latency = 0.0
            self.fail_status, self.fail_to = None, None
            self._throttle = self._hangs = self._errors = self._drops = 0
        self._release_hanging()
        deadline = time.monotonic() + 5
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            self._requests.clear()
            self._accepted.clear()
            self._seen.clear()
            self.count = 0
            self.max_in_flight = 0
            self.duplicates = 0
            self._arrivals.clear()
            self.close_connections = False

    # --- what arrived ---------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message received, single or in a batch, answered or not, in arrival order."""
        found: list[dict[str, Any]] = []
        for request in self.requests:
            found.extend(_messages(request.body))
        return found

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The messages answered with success (each once in ``dedupe`` mode)."""
        with self._lock:
            return list(self._accepted)

    @property
    def unique(self) -> int:
        """How many different message ids were accepted."""
        with self._lock:
            return len(self._seen)

    @property
    def seen_twice(self) -> dict[str, int]:
        """The message ids that arrived more than once, with how many times (recorded or not)."""
        with self._lock:
            return {ident: n for ident, n in self._arrivals.items() if n > 1}

    @property
    def arrived(self) -> set[str]:
        """Every message id that arrived, once each."""
        with self._lock:
            return set(self._arrivals)

    @property
    def keys(self) -> list[str | None]:
        """The ``Idempotency-Key`` header of every request, in arrival order."""
        return [r.headers.get("idempotency-key") for r in self.requests]

    @property
    def connections(self) -> set[tuple[str, int]]:
        """The distinct client connections requests came on."""
        return {r.client for r in self.requests if r.client is not None}

    # --- the application ------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        peer = (request.client.host, request.client.port) if request.client else None
        received = Received(
            request.url.path, dict(request.headers), body, time.monotonic(), client=peer
        )
        key = request.headers.get("idempotency-key")
        with self._lock:
            self.count += 1
            for message in _messages(body) or [{}]:
                ident = message.get("id") or (key if not _is_batch(body) else None)
                if ident is not None:
                    self._arrivals[str(ident)] += 1
            if self.record:
                self._requests.append(received)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            hang = self._take("_hangs")
            wait = self._hang_seconds if hang else self.latency
        try:
            if wait:
                assert self._release is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), wait)
            response = self._answer(received)
        finally:
            with self._lock:
                self._in_flight -= 1
        received.status = response.status_code
        if self.close_connections:
            response.headers["connection"] = "close"
        return response

    def _take(self, counter: str) -> bool:
        left = getattr(self, counter)
        if left > 0:
            setattr(self, counter, left - 1)
            return True
        return False

    def _answer(self, received: Received) -> Response:
        with self._lock:
            if self._take("_throttle"):
                return JSONResponse(
                    {"error": "slow down"},
                    status_code=429,
                    headers={"Retry-After": self._retry_after},
                )
            if self._take("_errors"):
                return JSONResponse({"error": "gateway busy"}, status_code=self._error_status)
            body = received.body
            batch = isinstance(body, dict) and isinstance(body.get("messages"), list)
            if self.fail_status is not None and self.fail_to is None:
                return JSONResponse({"error": self.fail_error}, status_code=self.fail_status)
            if not batch:
                message = body if isinstance(body, dict) else {}
                if self._refuses(message):
                    assert self.fail_status is not None
                    return JSONResponse({"error": self.fail_error}, status_code=self.fail_status)
                self._accept(message, received.headers.get("idempotency-key"))
                return JSONResponse({"status": "ok"})
            results: list[dict[str, Any]] = []
            for message in body["messages"]:
                if not isinstance(message, dict):
                    continue
                if self._take("_drops"):
                    continue
                if self._refuses(message):
                    assert self.fail_status is not None
                    status, error = self.fail_status, self.fail_error
                    results.append({"id": message.get("id"), "status": status, "error": error})
                    continue
                self._accept(message, None)
                results.append({"id": message.get("id"), "status": 200})
            return JSONResponse({"results": results})

    def _refuses(self, message: dict[str, Any]) -> bool:
        return (
            self.fail_status is not None
            and self.fail_to is not None
            and message.get("to") in self.fail_to
        )

    def _accept(self, message: dict[str, Any], key: str | None) -> None:
        ident = message.get("id") or key
        if ident is not None:
            if self.dedupe and ident in self._seen:
                self.duplicates += 1
                return
            self._seen.add(str(ident))
        if self.record:
            self._accepted.append(message)


def _is_batch(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("messages"), list)


def _messages(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        return [m for m in body["messages"] if isinstance(m, dict)]
    if isinstance(body, dict):
        return [body]
    return []
