"""Provides the limits of ``dutydesk serve``'s listeners: timeouts, a connection cap, the socket.

Why: on uvicorn's defaults a connection that never finished its request was held forever, and
300 slow clients at a file limit of 256 took every file descriptor the process had; the engine
could no longer open a socket to the SMS gateway. Here every connection has a deadline for each
part of its request, and the connections one listener holds are capped below the process's file
limit, leaving room for the engine's senders and SQLite.

- :class:`HttpLimits`: the numbers, with defaults and the reason for each.
- :func:`limits_for`: the caps computed from ``RLIMIT_NOFILE`` and the configured channels.
- :func:`protocol_for`: uvicorn's h11 protocol with the read deadlines and the connection cap
  (uvicorn has neither for a connection that never completes its request head).
- :func:`bind`: the listening socket, bound before anything starts, so a port in use is one
  clear error and not a half-started server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from console.config import Config
from store.errors import DutydeskError
from store.i18n import _

# File descriptors the process needs besides its HTTP connections, before the channels' own
# sockets: SQLite (database, WAL and shm for each of a few connections), the message log, the
# key file being read, stdio, the event loop's selector and self-pipe, the worker threads, the
# listening sockets and DNS look-ups. Measured: an idle `serve` holds about 15.
ENGINE_FILES = 64
# The largest number of requests one listener serves at once: an office's traffic is people
# answering links and the gateway forwarding replies, a few per second at the peak of a
# 30,000-person mobilization; each request takes milliseconds.
MAX_REQUESTS = 64
SMALL_BODY = 16 * 1024  # bytes: the forms and JSON bodies; beyond it a body gets more time
MAX_REQUESTS_HUB = 256  # a hub: its units' connections on top of the office's
# The most connections accepted in one turn of the event loop (and the kernel's queue of
# connections not yet accepted). Connections accepted beyond the cap hold a descriptor until
# they are closed, a few turns later, so the budget counts ACCEPT_TURNS turns' worth of them.
BACKLOG = 32
ACCEPT_TURNS = 4

log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class HttpLimits:
    """How long a client may take and how many it may be, per listener.

    Attributes:
        max_requests: requests served at once (uvicorn's ``limit_concurrency``); one more is
            answered 503.
        max_connections: connections held open; a connection beyond them is closed as soon as
            it is accepted, so a flood of idle clients costs a descriptor for a moment only.
        backlog: the kernel's queue of connections waiting to be accepted, and the most
            accepted in one turn of the loop.
        header_timeout_s: from a connection's start (or the end of the previous response) to
            the end of the request head. A phone on a slow network sends a head of under
            1 KB well within it; a client trickling a header a byte at a time is cut off.
        body_timeout_s: from the end of the head to the end of the body, for a body of up to
            16 KB; a bigger declared body (a field photo) gets ``body_rate_bytes_s`` more
            time per byte declared, so a phone on a slow network can upload a photo while a
            client that declares a big body and trickles it is still cut off. The routes
            refuse a declared length above their own limit before reading it.
        body_rate_bytes_s: the slowest upload rate allowed for a big body (bytes a second).
        keep_alive_s: an idle connection between two requests (uvicorn's
            ``timeout_keep_alive``).
        max_head_bytes: how much of a request head is buffered while it is incomplete (h11's
            ``max_incomplete_event_size``); a head still incomplete past it gets 400.
        graceful_s: on a stop, how long requests in progress may take to finish.
    """

    max_requests: int = MAX_REQUESTS
    max_connections: int = MAX_REQUESTS + MAX_REQUESTS // 4
    backlog: int = BACKLOG
    header_timeout_s: float = 10.0
    body_timeout_s: float = 20.0
    body_rate_bytes_s: int = 32 * 1024
    keep_alive_s: float = 5.0
    max_head_bytes: int = 16 * 1024
    graceful_s: float = 5.0


def file_limit() -> int:
    """The process's soft limit of open files (``ulimit -n``)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def engine_files(config: Config) -> int:
    """Descriptors kept for everything but the HTTP connections: ENGINE_FILES + the channels'."""
    channels = config.channels
    senders = sum(
        settings.concurrency
        for settings in (channels.sms, channels.webhook, channels.email)
        if settings is not None
    )
    return ENGINE_FILES + senders


def limits_for(config: Config, listeners: int = 1, nofile: int | None = None) -> HttpLimits:
    """The limits for ``listeners`` listeners under the file limit ``nofile`` (the process's).

    The descriptors left after :func:`engine_files` are shared between the listeners; each
    keeps ACCEPT_TURNS turns of its backlog free for connections on their way to being closed.

    Raises:
        DutydeskError: the file limit leaves too little for even a few connections.
    """
    nofile = file_limit() if nofile is None else nofile
    reserve = engine_files(config)
    share = (nofile - reserve) // max(1, listeners)
    backlog = max(1, min(BACKLOG, share // 10))
    room = share - ACCEPT_TURNS * backlog
    # A quarter on top of the requests is held open and answered 503 rather than dropped.
    # A hub keeps a connection per unit below it (a county's townships, a city's counties).
    most = MAX_REQUESTS_HUB if config.hub.enabled else MAX_REQUESTS
    requests = min(most, room * 4 // 5)
    if requests < 4:
        raise DutydeskError(
            _(
                "the file limit (ulimit -n) of {limit} is too low for serve: raise it to"
                " {need} or more"
            ).format(limit=nofile, need=reserve + listeners * 2 * MAX_REQUESTS)
        )
    return HttpLimits(
        max_requests=requests, max_connections=requests + requests // 4, backlog=backlog
    )


@dataclass
class _Overload:
    """How many connections one listener closed over its cap, told once a minute at most."""

    closed: int = 0
    told_at: float = -1e9

    def count(self, cap: int) -> None:
        self.closed += 1
        now = time.monotonic()
        if now - self.told_at >= 60:
            log.warning(
                "connection cap of %d reached: %d new connection(s) closed at once",
                cap,
                self.closed,
            )
            self.told_at, self.closed = now, 0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and deadlines for the request head and body.

    The deadline runs from the moment the protocol starts waiting for a part of the request
    and is not pushed back by the bytes that arrive: a client sending a header a byte every
    few seconds is cut off as surely as one that sends nothing. Build a class with
    :func:`protocol_for`; ``limits`` is set on it.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()
    overload: ClassVar[_Overload] = _Overload()

    def __init__(
        self,
        config: UvicornConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "head", "body", or None (nothing to read)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            # Over the cap: close before it costs more than this moment's descriptor. It was
            # never added to the connections, so the server does not wait for it on a stop.
            self.overload.count(self.limits.max_connections)
            transport.close()
            return
        super().connection_made(transport)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.transport is None:  # closed over the cap: never started
            return
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._watch()

    def _watch(self) -> None:
        """Arm the deadline for what the connection waits for now, if that changed."""
        if self.transport is None or self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        waiting = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if waiting == self._waiting_for:
            return
        self._disarm()
        self._waiting_for = waiting
        if waiting is not None:
            seconds = self.limits.header_timeout_s if waiting == "head" else self._body_seconds()
            self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _body_seconds(self) -> float:
        """The body's deadline: ``body_timeout_s``, plus time for a declared length beyond
        16 KB at ``body_rate_bytes_s``."""
        declared = 0
        for name, value in (self.scope or {}).get("headers", ()):
            if name == b"content-length":
                with contextlib.suppress(ValueError):
                    declared = int(value)
                break
        extra = max(declared - SMALL_BODY, 0) / self.limits.body_rate_bytes_s
        return self.limits.body_timeout_s + extra

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = None

    def _too_slow(self) -> None:
        """The request's head or body did not arrive in time: drop the connection."""
        self._deadline = None
        if self.transport.is_closing():
            return
        log.debug("%s: request %s not complete in time, closed", self.client, self._waiting_for)
        self._waiting_for = None
        self.transport.close()


def protocol_for(limits: HttpLimits) -> type[GuardedH11Protocol]:
    """A protocol class for one listener (``http=`` of uvicorn's Config), with its own limits."""
    attributes = {"limits": limits, "overload": _Overload()}
    return type("ListenerProtocol", (GuardedH11Protocol,), attributes)


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """The keyword arguments of uvicorn's Config that carry ``limits``."""
    return {
        "http": protocol_for(limits),
        "limit_concurrency": limits.max_requests,
        "backlog": limits.backlog,
        "timeout_keep_alive": limits.keep_alive_s,
        "h11_max_incomplete_event_size": limits.max_head_bytes,
        "timeout_graceful_shutdown": limits.graceful_s,
    }


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not listening yet: uvicorn listens with its backlog).

    Raises:
        DutydeskError: the address cannot be resolved or bound (in use, not ours...).
    """
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise DutydeskError(
            _("could not listen on {host}:{port}: {error}").format(host=host, port=port, error=exc)
        ) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise DutydeskError(
            _("could not listen on {host}:{port}: {error}").format(
                host=host, port=port, error=exc.strerror or exc
            )
        ) from exc
    sock.set_inheritable(False)
    return sock
