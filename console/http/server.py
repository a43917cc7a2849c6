"""Provides ``dutydesk serve``: the engine headless, with the HTTP endpoints people answer through.

Starlette on uvicorn, loopback by default. One module per surface, all over one
:class:`~console.http.common.HttpService`: the signed ack links (:mod:`console.http.acks`), the
SMS gateway's replies (:mod:`console.http.inbound`) and ``GET /healthz`` (the engine's state,
for monitoring), here. The hub's routes for the units below will be mounted beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.config import Config
from console.engine import Engine
from console.http import acks, inbound
from console.http.common import HttpService
from mobilization import Routing
from store.clock import Clock, SystemClock
from store.errors import DutydeskError


async def healthz(service: HttpService, request: Request) -> Response:
    state = service.engine.state if service.engine is not None else "none"
    return JSONResponse({"ok": True, "engine": state})


def _lifespan(service: HttpService):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            service.close()

    return lifespan


def create_app(
    db_path: Path, config: Config, clock: Clock | None = None, engine: Engine | None = None
) -> Starlette:
    """The ASGI app of the endpoints; ``app.state.service`` is its :class:`HttpService`."""
    service = HttpService(db_path, config, clock or SystemClock(), engine)
    app = Starlette(
        routes=[
            *acks.routes(service),
            *inbound.routes(service),
            Route("/healthz", partial(healthz, service), methods=["GET"]),
        ],
        lifespan=_lifespan(service),
    )
    app.state.service = service
    return app


async def serve(
    db_path: Path,
    config: Config,
    *,
    host: str,
    port: int,
    clock: Clock | None = None,
    engine: Engine | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the engine and the HTTP endpoints until SIGINT/SIGTERM; the engine stops cleanly."""
    clock = clock or SystemClock()
    # Ack links point at this server unless the office set a public address for it.
    base_url = config.public_url or f"http://{host}:{port}"
    routing = Routing(configured=config.channels.configured, base_url=base_url)
    engine = engine or Engine(db_path, config, clock=clock, routing=routing)
    app = create_app(db_path, config, clock, engine)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", ws="none")
    )
    stop = asyncio.Event()
    runner = asyncio.ensure_future(engine.run(stop))
    if announce is not None:
        announce(f"dutydesk serve: http://{host}:{port}  (engine {engine.holder})")
    try:
        await server.serve()
    finally:
        stop.set()
        await runner
    if server.started is False and not server.should_exit:
        raise DutydeskError(f"could not listen on {host}:{port}")
