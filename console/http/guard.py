"""Provides the guard in front of every route of ``dutydesk serve``: a rate per client address.

:func:`middleware` is what ``create_app`` mounts: one pure ASGI middleware (:class:`Guard`) that
gives each client address a token bucket (:class:`Limits`: a sustained rate and a burst; the
gateway's ``/inbound/`` routes get a larger one, since every SMS reply comes from its one
address) and answers a request over it with 429 and ``Retry-After``, before any handler reads a
byte of its body. An address locked out by the security ledger (too many forged links or bad
signatures, :mod:`console.http.security`) gets the same 429 until its lock ends. Each refusal is
counted in the ledger, never written one by one.

Memory is bounded: at most :attr:`Limits.max_addresses` buckets are kept, the least recently
seen address forgotten first (it comes back with a full bucket, which a burst allows anyway).

The middleware also runs the ledger's clock: when the app starts (ASGI lifespan) it starts a
ticker that writes the security summary when one is due (at most one a minute,
:meth:`HttpService.flush_security`); the last summary is written when the service closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.http.common import HttpService
from console.http.security import Failure, address_source

log = logging.getLogger("dutydesk.http")

TICK_S = 5.0  # how often the ticker asks whether a summary is due


@dataclass(frozen=True)
class Limits:
    """Requests per second per client address, sustained and in a burst."""

    rate: float = 10.0
    burst: int = 60
    inbound_rate: float = 100.0  # the SMS gateway: every reply comes from its address
    inbound_burst: int = 500
    inbound_prefix: str = "/inbound/"
    # The hub API: many units may come through one proxy; each is then limited per unit.
    hub_rate: float = 100.0
    hub_burst: int = 500
    hub_prefix: str = "/v1/"
    max_addresses: int = 10_000


class Buckets:
    """Token buckets by address, least recently seen first (bounded)."""

    def __init__(self, rate: float, burst: int, cap: int) -> None:
        self.rate, self.burst, self.cap = rate, burst, cap
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, address: str, now: float) -> float:
        """Take a token for ``address``: 0 when granted, else seconds until one is available."""
        tokens, last = self._buckets.pop(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > self.cap:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class Guard:
    """The pure ASGI middleware: rate limit per address, lockouts, the summary ticker."""

    def __init__(self, app: ASGIApp, service: HttpService, limits: Limits | None = None) -> None:
        self.app = app
        self.service = service
        self.limits = limits = limits or Limits()
        self.public = Buckets(limits.rate, limits.burst, limits.max_addresses)
        self.inbound = Buckets(limits.inbound_rate, limits.inbound_burst, limits.max_addresses)
        self.hub = Buckets(limits.hub_rate, limits.hub_burst, limits.max_addresses)
        self._ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else ""
        source = address_source(address)
        service = self.service
        locked = service.ledger.locked(source, service.now_s())
        if locked is not None:
            service.refused(source, Failure.LOCKED_OUT)
            await _too_many(locked)(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith(self.limits.inbound_prefix):
            buckets = self.inbound
        elif path.startswith(self.limits.hub_prefix):
            buckets = self.hub
        else:
            buckets = self.public
        wait = buckets.take(address, time.monotonic())
        if wait > 0:
            service.refused(source, Failure.RATE_LIMITED)
            await _too_many(wait)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _lifespan(self, receive: Receive) -> Receive:
        """``receive`` of the lifespan scope, starting the ticker at startup, stopping it after."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and not self.service.ticking:
                self.service.ticking = True
                self._ticker = asyncio.ensure_future(self._tick())
            elif message["type"] == "lifespan.shutdown" and self._ticker is not None:
                self._ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._ticker
                self._ticker = None
                self.service.ticking = False
            return message

        return wrapped

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.service.flush_security()
            except Exception as exc:  # a busy or full disk: say so, keep serving
                log.warning("dutydesk serve: a security summary was not written: %s", exc)


def _too_many(wait: float) -> JSONResponse:
    return JSONResponse(
        {"error": "too many requests"}, 429, {"retry-after": str(max(1, math.ceil(wait)))}
    )


def middleware(service: HttpService, limits: Limits | None = None) -> list[Middleware]:
    """The middleware that guards every route of an app over ``service`` (mount it outermost)."""
    return [Middleware(Guard, service=service, limits=limits)]
