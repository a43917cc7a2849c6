"""Provides ``dutydesk serve``: the engine headless, with the HTTP endpoints people answer through.

Starlette on uvicorn, loopback by default. One module per surface, all over one
:class:`~console.http.common.HttpService`: the signed ack links (:mod:`console.http.acks`), the
field's case pages behind their signed links (:mod:`console.http.casepage`, ``/case/...``), the
SMS gateway's replies (:mod:`console.http.inbound`), with ``[hub] enabled`` (or ``serve
--hub``) the uplink protocol for the units below (:mod:`console.http.hub`, ``/v1/...``), with
``[uplink]`` the hub's poke that something waits in the unit's inbox
(:mod:`console.http.inbox`, ``POST /v1/inbox/poke``), and ``GET /healthz``, here. Every app is
wrapped in the rate limiter of :mod:`console.http.guard`.

Listeners: the public one (``[serve] host/port``) serves the links and the hub; with ``[serve]
inbound_port`` set, the gateway's replies get a listener of their own (``inbound_host``,
default the public host) and the public one no longer routes ``/inbound/sms``, so the port
the world reaches offers no way to record an SMS answer (nor does the gateway's listener serve
the hub). Each listener has the timeouts and the connection cap of :mod:`console.http.limits`.

``/healthz``: with ``Authorization: Bearer <token>`` (the token in ``[serve]
health_token_file``, a file only its owner may read) it tells the engine's state and holder;
without a token file configured a loopback client gets ``{"ok": true}`` only (alive); anything
else gets 401.

Stopping: SIGTERM or SIGINT stops the listeners first (requests in progress may finish within
:attr:`~console.http.limits.HttpLimits.graceful_s`), then the engine (in-flight sends finished
or released, the lease given back), and :func:`serve` returns the signal; ``dutydesk serve``
then exits 0. A second SIGINT stops waiting for open connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from enum import StrEnum
from functools import partial
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from console.config import Config
from console.engine import Engine
from console.http import acks, calendar, casepage, guard, hub, inbound, inbox
from console.http.common import HttpService
from console.http.limits import HttpLimits, bind, limits_for, uvicorn_options
from store.clock import Clock, SystemClock
from store.keys import TOKEN_MIN, read_token_file

HEALTH_TOKEN_MIN = TOKEN_MIN  # characters: a token shorter than this is guessable


class Surface(StrEnum):
    """Which routes a listener serves."""

    ALL = "all"  # one listener for everything (no [serve] inbound_port)
    PUBLIC = "public"  # ack links and health: what people's phones reach
    INBOUND = "inbound"  # the gateway's replies and health


def read_health_token(path: Path) -> str:
    """The bearer token of ``/healthz`` in the file at ``path`` (its first line).

    Raises:
        InvalidInput: missing, unreadable, readable by others, or too short.
    """
    return read_token_file(path, "serve.health_token_file", HEALTH_TOKEN_MIN)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def healthz(service: HttpService, token: str | None, request: Request) -> Response:
    """The engine's state to a holder of the token; "alive" to loopback without a token file."""
    given = request.headers.get("authorization", "")
    scheme, _sep, credential = given.partition(" ")
    if (
        token is not None
        and scheme.lower() == "bearer"
        and hmac.compare_digest(credential.strip().encode(), token.encode())
    ):
        engine = service.engine
        return JSONResponse(
            {
                "ok": True,
                "engine": engine.state if engine is not None else "none",
                "holder": engine.holder if engine is not None else None,
                "last_error": engine.last_error if engine is not None else None,
            }
        )
    if token is None and not given and _loopback(request):
        return JSONResponse({"ok": True})
    return JSONResponse({"ok": False}, 401, headers={"WWW-Authenticate": "Bearer"})


def _lifespan(service: HttpService | None):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if service is not None:
                service.close()

    return lifespan


def build_app(
    service: HttpService,
    surface: Surface = Surface.ALL,
    *,
    health_token: str | None = None,
    owns_service: bool = True,
) -> Starlette:
    """The ASGI app of one listener over ``service`` (closed at shutdown when it owns it)."""
    routes: list[BaseRoute] = []
    if surface in (Surface.ALL, Surface.PUBLIC):
        routes += acks.routes(service) + casepage.routes(service) + calendar.routes(service)
        if service.config.hub.enabled:
            routes += hub.routes(service)
        routes += inbox.routes(service)  # with [uplink]: the hub's poke
    if surface in (Surface.ALL, Surface.INBOUND):
        routes += inbound.routes(service)
    routes.append(Route("/healthz", partial(healthz, service, health_token), methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[*guard.middleware(service)],
        lifespan=_lifespan(service if owns_service else None),
    )
    app.state.service = service
    return app


def create_app(
    db_path: Path,
    config: Config,
    clock: Clock | None = None,
    engine: Engine | None = None,
    *,
    surface: Surface = Surface.ALL,
    health_token: str | None = None,
) -> Starlette:
    """The ASGI app of the endpoints; ``app.state.service`` is its :class:`HttpService`."""
    service = HttpService(db_path, config, clock or SystemClock(), engine)
    return build_app(service, surface, health_token=health_token)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the signals to :func:`serve`.

    uvicorn's own handler re-raises the captured signal once ``serve()`` returns, which killed
    the process before the engine gave its lease back; and with two listeners, each would
    install its handler over the other's.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listeners(config: Config, host: str, port: int) -> list[tuple[Surface, str, int]]:
    if config.inbound_port is None:
        return [(Surface.ALL, host, port)]
    return [
        (Surface.PUBLIC, host, port),
        (Surface.INBOUND, config.inbound_host or host, config.inbound_port),
    ]


async def serve(
    db_path: Path,
    config: Config,
    *,
    host: str,
    port: int,
    clock: Clock | None = None,
    engine: Engine | None = None,
    announce: Callable[[str], None] | None = None,
    limits: HttpLimits | None = None,
) -> int | None:
    """Run the engine and the HTTP listeners until SIGINT/SIGTERM; everything stops cleanly.

    Args:
        limits: the listeners' limits; by default computed from the file limit
            (:func:`~console.http.limits.limits_for`).

    Returns:
        The signal that stopped it, or ``None`` when the listeners stopped on their own.

    Raises:
        InvalidInput: the health token file cannot be used.
        DutydeskError: an address cannot be listened on, or the file limit is too low.
    """
    clock = clock or SystemClock()
    token = read_health_token(config.health_token_file) if config.health_token_file else None
    wanted = _listeners(config, host, port)
    limits = limits or limits_for(config, len(wanted))
    sockets: list[socket.socket] = []
    try:
        # Bound before anything starts: an address in use is one clear error, no engine ran.
        for _surface, where, number in wanted:
            sockets.append(bind(where, number))
        # Ack links point at this server unless the office set a public address for it.
        base_url = config.public_url or f"http://{host}:{port}"
        engine = engine or Engine(db_path, config, clock=clock, base_url=base_url)
        service = HttpService(db_path, config, clock, engine)
        apps = [
            build_app(service, surface, health_token=token, owns_service=False)
            for surface, _where, _number in wanted
        ]
        if announce is not None:
            hub_on = ", hub /v1" if config.hub.enabled else ""
            announce(f"dutydesk serve: {_addresses(wanted)}  (engine {engine.holder}{hub_on})")
        received = await _run(apps, sockets, engine, limits)
    finally:
        for sock in sockets:
            sock.close()
    if announce is not None:
        how = signal.Signals(received).name if received else "listeners closed"
        announce(f"dutydesk serve: stopped ({how}); engine {engine.state}")
    return received


def _addresses(wanted: list[tuple[Surface, str, int]]) -> str:
    if len(wanted) == 1:
        return f"http://{wanted[0][1]}:{wanted[0][2]}"
    return ", ".join(f"http://{where}:{number} ({surface})" for surface, where, number in wanted)


async def _run(
    apps: list[Starlette], sockets: list[socket.socket], engine: Engine, limits: HttpLimits
) -> int | None:
    """Serve ``apps`` on ``sockets`` and run ``engine`` until a signal; the signal, if any."""
    service: HttpService = apps[0].state.service
    servers = [
        _Server(
            uvicorn.Config(
                app,
                log_level="warning",
                lifespan="on",
                ws="none",
                server_header=False,
                # X-Forwarded-For is believed only from the proxies the office named: from
                # anyone else it would let one client pose as many and slip the rate limits.
                proxy_headers=bool(service.config.trusted_proxies),
                forwarded_allow_ips=",".join(service.config.trusted_proxies) or None,
                **uvicorn_options(limits),
            )
        )
        for app in apps
    ]
    received: list[int] = []

    def stop_listening() -> None:
        for server in servers:
            server.should_exit = True

    def on_signal(sig: int) -> None:
        received.append(sig)
        if sig == signal.SIGINT and any(s.should_exit for s in servers):
            for server in servers:  # a second Ctrl-C: stop waiting for open connections
                server.force_exit = True
        stop_listening()

    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(sig, on_signal, sig)  # main thread only
            handled.append(sig)

    async def listen(server: _Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            stop_listening()  # one listener down takes the others with it

    stop = asyncio.Event()
    runner = asyncio.ensure_future(engine.run(stop))
    # An engine that fails takes the listeners down too: no server answering for no engine.
    runner.add_done_callback(lambda _task: stop_listening())
    try:
        # Every listener runs to its end before the engine is told to stop: no answer
        # arrives for an engine that has stopped.
        outcomes = await asyncio.gather(
            *(listen(server, sock) for server, sock in zip(servers, sockets, strict=True)),
            return_exceptions=True,
        )
    finally:
        # Then the engine: in-flight sends finished or released, the lease given back.
        stop.set()
        await runner
        service.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return received[0] if received else None
