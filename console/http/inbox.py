"""Provides ``POST /v1/inbox/poke``: the hub tells a unit that something waits in its inbox.

Served by ``dutydesk serve`` on a unit with ``[uplink]`` configured. A poke carries nothing but
the news: the unit's engine then pulls ``GET /v1/units/{code}/inbox`` from the hub at once
(:meth:`console.engine.Engine.poke`), exactly as it does every ``[uplink] poll_seconds``. So a
forged or replayed poke can at most cause one extra pull, and a lost one delays the alert by at
most one poll.

The poke is signed like the SMS gateway's replies (:mod:`console.http.inbound`), with a key
both sides have without sharing anything new: the hex SHA-256 of the unit's uplink token (the
hub keeps exactly that hash; the unit computes it from its token file):

* the body: a small JSON object ``{"unit": "<code>", "nonce": "<random>"}`` (at most
  :data:`uplink.downlink.POKE_BODY_LIMIT` bytes);
* ``X-Dutydesk-Timestamp: <unix seconds>`` and ``X-Dutydesk-Signature: v1=<hex>``, where
  ``<hex>`` is ``HMAC-SHA256(sha256_hex(token), f"{timestamp}.".encode() + body)``;
* the timestamp within ``[serve] signature_window_seconds`` of our clock; each signature is
  accepted once (a replay within the window is refused).

Answers: 202 ``{"ok": true}`` (the pull is started), 401 unsigned, badly signed, stale or
replayed (counted in the security ledger, never written one by one), 400 a body that is not
that object, 403 a poke for another unit, 413 a larger body, 429 over the rate
(:data:`POKES_PER_MINUTE`, a burst of :data:`POKE_BURST`, for the whole endpoint: only the
hub pokes), 503 when the unit's token cannot be read. Nothing here writes to the database.
"""

from __future__ import annotations

import math
import time
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.context import uplink_token
from console.http.common import BodyRefused, HttpService, client_address, parse_json, read_body
from console.http.guard import Buckets
from console.http.security import Failure, address_source
from store.errors import InvalidInput
from uplink.downlink import (
    POKE_BODY_LIMIT,
    POKE_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    poke_key,
    poke_signed,
)

POKES_PER_MINUTE = 60
POKE_BURST = 10
_ENDPOINT = "poke"  # the one bucket of the endpoint


def routes(service: HttpService) -> list[Route]:
    """The poke's route (a unit with ``[uplink]`` only)."""
    if not service.config.uplink.enabled:
        return []
    rate = Buckets(POKES_PER_MINUTE / 60.0, POKE_BURST, 1)
    return [Route(POKE_PATH, partial(poke, service, rate), methods=["POST"])]


def _refused(status: int, error: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error}, status, headers)


async def poke(service: HttpService, rate: Buckets, request: Request) -> Response:
    """``POST /v1/inbox/poke``: verify, then wake the engine's pull."""
    address = address_source(client_address(request))
    wait = rate.take(_ENDPOINT, time.monotonic())
    if wait > 0:
        service.refused(address, Failure.RATE_LIMITED)
        return _refused(429, "too many pokes", {"Retry-After": str(max(1, math.ceil(wait)))})
    try:
        body = await read_body(request, POKE_BODY_LIMIT)
    except BodyRefused as refused:
        return refused.response
    try:
        token = uplink_token(service.config)
    except InvalidInput as exc:
        service.say_once(f"dutydesk serve: {POKE_PATH} refuses every poke (503): {exc}")
        return _refused(503, "the unit's uplink token cannot be read")
    if token is None:
        return _refused(503, "no uplink token is configured")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "").strip().lower()
    now = service.now_s()
    window = service.config.signature_window_s
    if not (
        timestamp.isascii()
        and timestamp.isdigit()
        and len(timestamp) <= 12
        and abs(now - int(timestamp)) <= window
        and poke_signed(poke_key(token), timestamp, signature, body)
    ):
        service.refused(address, Failure.BAD_SIGNATURE)
        return _refused(401, f"a valid {SIGNATURE_HEADER} is required")
    if not service.replays.first_time(signature, now, 2.0 * window + 1):
        service.refused(address, Failure.REPLAYED)
        return _refused(401, f"a valid {SIGNATURE_HEADER} is required")
    try:
        data = parse_json(body)
    except InvalidInput as exc:
        return _refused(400, str(exc))
    unit = data.get("unit") if isinstance(data, dict) else None
    if not isinstance(unit, str) or not unit:
        return _refused(400, "unit: must be the unit's code")
    ours = service.config.uplink.unit
    if ours and unit != ours:
        return _refused(403, f"this is unit {ours}, not {unit[:64]}")
    engine = service.engine
    if engine is not None:
        engine.poke()
    return JSONResponse({"ok": True}, 202)
