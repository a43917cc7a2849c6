"""Provides the hub's HTTP surface for the units below: the uplink protocol v1, served.

``POST /v1/events`` takes a unit's batch, ``GET /v1/units/{code}/state`` tells a unit what the
hub holds of it (a page of subjects, or with ``?subject=`` one subject's events: to
resynchronise), ``GET /v1/units/{code}/inbox`` gives it the alerts and directives sent down
to it after its cursor (:mod:`uplink.downlink`), ``GET /v1/openapi.json`` describes them
(:func:`uplink.openapi.openapi`). The protocol is ``docs/uplink-protocol.md``; the domain work
(tokens, idempotent ingestion, the read model) is :mod:`uplink.hub`, run on the service's
connection off the event loop (:meth:`HttpService.db_call`).

Every request is checked in this order, cheapest first, and a refusal changes nothing:
the unit's bearer token (401 ``WWW-Authenticate: Bearer``; counted in the security ledger as
``bad_token``, never written one by one), the unit's rate (429), the ``Dutydesk-Protocol``
header (400), then what the endpoint needs: the ``Idempotency-Key`` (400), the body within
``[hub] max_body_kb`` (413) as shallow JSON (400) of a protocol version this hub speaks (400),
of the token's own unit (403), valid whole (422). A busy database is 503 with ``Retry-After``.

The rate is a token bucket per unit, in memory (:class:`UnitRate`): ``[hub]
requests_per_minute`` sustained and a burst of ten seconds' worth (at least
:data:`MIN_BURST`), so a unit catching up after an outage sends back-to-back batches for a
while and then at the sustained rate. The per-address guard of :mod:`console.http.guard` is in
front of it, as of every route.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.http.common import BodyRefused, HttpService, client_address, parse_json, read_body
from console.http.guard import Buckets
from console.http.security import Failure, address_source
from store.db import Database
from store.errors import DatabaseBusy, InvalidInput
from uplink import downlink
from uplink.hub import (
    HubUnit,
    Unauthorized,
    authenticate,
    ingest,
    replayed,
    subject_events,
    unit_state,
)
from uplink.models import (
    IDEMPOTENCY_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    REPLAYED_HEADER,
    Batch,
    EventResult,
)
from uplink.models import IDEMPOTENCY_KEY_PATTERN as KEY
from uplink.models import SUBJECT_PATTERN as SUBJECT
from uplink.openapi import STATE_AFTER_MAX, STATE_LIMIT, openapi

MAX_TOKEN = 256  # characters; a longer "token" is not looked up
MIN_BURST = 10
BURST_SECONDS = 10  # the burst is this many seconds' worth of the sustained rate
MAX_UNITS = 10_000  # buckets kept (least recently seen forgotten first)
BUSY_RETRY_S = 1


class UnitRate:
    """The per-unit token buckets: ``per_minute`` sustained, a burst of :func:`burst_for`."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.burst = burst_for(per_minute)
        self._buckets = Buckets(per_minute / 60.0, self.burst, MAX_UNITS)

    def take(self, unit: str, now: float | None = None) -> float:
        """Take a token for ``unit``: 0 when granted, else seconds until one is available."""
        return self._buckets.take(unit, time.monotonic() if now is None else now)


def burst_for(per_minute: int) -> int:
    """Requests a unit may send back to back: ten seconds' worth, at least :data:`MIN_BURST`."""
    return max(MIN_BURST, per_minute * BURST_SECONDS // 60)


class Refused(Exception):
    """A request refused with ``response`` (nothing was changed)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status, {PROTOCOL_HEADER: str(PROTOCOL_VERSION), **(headers or {})})


def refusal(
    status: int, error: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Refused:
    """The refusal ``{"error": ..., "field": ...}`` with ``status``."""
    body: dict[str, Any] = {"error": error}
    if field is not None:
        body["field"] = field
    return Refused(_answer(status, body, headers))


def invalid(status: int, exc: InvalidInput) -> Refused:
    return refusal(status, str(exc), exc.field)


Handler = Callable[[HttpService, UnitRate, Request], Awaitable[Response]]


def routes(service: HttpService) -> list[Route]:
    """The hub's routes over ``service``, sharing one per-unit rate."""
    rate = UnitRate(service.config.hub.requests_per_minute)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await handler(service, rate, request)
            except (Refused, BodyRefused) as refused:
                refused.response.headers.setdefault(PROTOCOL_HEADER, str(PROTOCOL_VERSION))
                return refused.response
            except DatabaseBusy:  # ours, not the unit's: it tries again
                return _answer(
                    503, {"error": "busy, try again"}, {"Retry-After": str(BUSY_RETRY_S)}
                )

        return run

    return [
        Route("/v1/events", endpoint(post_events), methods=["POST"]),
        Route("/v1/units/{code}/state", endpoint(get_state), methods=["GET"]),
        Route("/v1/units/{code}/inbox", endpoint(get_inbox), methods=["GET"]),
        Route("/v1/openapi.json", endpoint(get_openapi), methods=["GET"]),
    ]


def bearer(request: Request) -> str | None:
    """The bearer token of ``request``, or ``None`` when there is none (or it cannot be one)."""
    scheme, _sep, credential = request.headers.get("authorization", "").partition(" ")
    token = credential.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN:
        return None
    if not token.isascii() or not token.isprintable() or " " in token:
        return None
    return token


async def authenticated(service: HttpService, rate: UnitRate, request: Request) -> HubUnit:
    """The unit whose token ``request`` carries, within its rate.

    Raises:
        Refused: 401 (no token, unknown or revoked; counted in the ledger), 429 (over the rate).
        DatabaseBusy: the lookup could not be made.
    """
    source = address_source(client_address(request))
    challenge = {"WWW-Authenticate": "Bearer"}
    token = bearer(request)
    if token is None:
        service.refused(source, Failure.BAD_TOKEN)
        raise refusal(401, "a bearer token is required", "Authorization", challenge)
    now = service.clock.now()
    try:
        unit = await service.db_call(lambda db: authenticate(db, token, now))
    except Unauthorized as exc:
        service.refused(source, Failure.BAD_TOKEN)
        raise refusal(401, exc.reason, "Authorization", challenge) from None
    wait = rate.take(unit.code)
    if wait > 0:
        service.refused(source, Failure.RATE_LIMITED)
        raise refusal(
            429,
            f"too many requests for unit {unit.code}",
            None,
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return unit


def check_protocol(request: Request) -> None:
    """The ``Dutydesk-Protocol`` header says the version this hub speaks.

    Raises:
        Refused: 400, missing or another version.
    """
    given = request.headers.get(PROTOCOL_HEADER)
    if given is None:
        raise refusal(
            400,
            f"the {PROTOCOL_HEADER} header is required; this hub speaks {PROTOCOL_VERSION}",
            PROTOCOL_HEADER,
        )
    if given.strip() != str(PROTOCOL_VERSION):
        raise refusal(
            400,
            f"unsupported protocol version {given[:20]!r}; this hub speaks {PROTOCOL_VERSION}",
            PROTOCOL_HEADER,
        )


async def post_events(service: HttpService, rate: UnitRate, request: Request) -> Response:
    """``POST /v1/events``: one result per event, in the batch's order (or a refusal)."""
    unit = await authenticated(service, rate, request)
    check_protocol(request)
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if not KEY.fullmatch(key):
        raise refusal(
            400, "must be 8-64 letters, digits, '_' or '-', one per batch", IDEMPOTENCY_HEADER
        )
    body = await read_body(request, service.config.hub.max_body_bytes)
    try:
        data = parse_json(body)
    except InvalidInput as exc:
        raise invalid(400, exc) from None
    batch = _batch(data, unit.code)
    body_hash = hashlib.sha256(body).hexdigest()
    now = service.clock.now()

    def store(db: Database) -> tuple[list[EventResult], bool]:
        earlier = replayed(db, unit.code, key, body_hash, now)
        if earlier is not None:
            return earlier, True
        return ingest(db, unit.code, batch, now, key=key, body_hash=body_hash), False

    try:
        results, again = await service.db_call(store)
    except InvalidInput as exc:  # the key was used for another body
        raise invalid(422, exc) from None
    answer = {
        "version": PROTOCOL_VERSION,
        "unit": unit.code,
        "results": [result.to_json() for result in results],
    }
    return _answer(200, answer, {REPLAYED_HEADER: "true"} if again else None)


async def get_openapi(service: HttpService, rate: UnitRate, request: Request) -> Response:
    """``GET /v1/openapi.json``: the protocol's description, to any unit (no protocol header
    needed, so a tool can fetch it with the token alone)."""
    await authenticated(service, rate, request)
    return _answer(200, _document())


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return openapi()


def _batch(data: Any, unit: str) -> Batch:
    """The batch in ``data``, sent by ``unit``.

    Raises:
        Refused: 400 another protocol version, 403 another unit's batch, 422 anything invalid.
    """
    try:
        batch = Batch.from_json(data)
    except InvalidInput as exc:
        if exc.field == "version":
            raise invalid(400, exc) from None
        claimed = data.get("unit") if isinstance(data, dict) else None
        if isinstance(claimed, str) and claimed != unit:
            raise _not_yours(unit) from None
        raise invalid(422, exc) from None
    if batch.unit != unit:
        raise _not_yours(unit)
    return batch


def _not_yours(unit: str) -> Refused:
    return refusal(403, f"the token of unit {unit} sends only its own events", "unit")


async def get_state(service: HttpService, rate: UnitRate, request: Request) -> Response:
    """``GET /v1/units/{code}/state``: the unit's subjects as the hub holds them, a page."""
    unit = await authenticated(service, rate, request)
    check_protocol(request)
    code = request.path_params["code"]
    if code != unit.code:
        raise refusal(403, f"the token of unit {unit.code} reads only its own state", "code")
    subject = request.query_params.get("subject")
    if subject is not None:
        return await _subject_state(service, unit.code, subject)
    after = request.query_params.get("after")
    if after is not None and not 0 < len(after) <= STATE_AFTER_MAX:
        raise refusal(400, f"must be a subject of 1-{STATE_AFTER_MAX} characters", "after")
    least, most, default = STATE_LIMIT
    given = request.query_params.get("limit")
    limit = default
    if given is not None:
        if not (len(given) <= 6 and given.isascii() and given.isdigit()) or not (
            least <= int(given) <= most
        ):
            raise refusal(400, f"must be a whole number from {least} to {most}", "limit")
        limit = int(given)
    state = await service.db_call(lambda db: unit_state(db, unit.code, after=after, limit=limit))
    return _answer(200, {"version": PROTOCOL_VERSION, **state.to_json()})


async def get_inbox(service: HttpService, rate: UnitRate, request: Request) -> Response:
    """``GET /v1/units/{code}/inbox?after=CURSOR&limit=N``: the alerts and directives queued for
    the unit after its cursor, oldest first (:func:`uplink.downlink.inbox`). Reading changes
    nothing: the unit's receipts come up as events."""
    unit = await authenticated(service, rate, request)
    check_protocol(request)
    code = request.path_params["code"]
    if code != unit.code:
        raise refusal(403, f"the token of unit {unit.code} reads only its own inbox", "code")
    try:
        after = downlink.check_cursor(request.query_params.get("after"))
        limit = downlink.check_limit(request.query_params.get("limit"))
    except InvalidInput as exc:
        raise invalid(400, exc) from None
    items, following = await service.db_call(lambda db: downlink.inbox(db, unit.code, after, limit))
    body = downlink.inbox_json(unit.code, items, following, limit)
    return _answer(200, {"version": PROTOCOL_VERSION, **body})


async def _subject_state(service: HttpService, unit: str, subject: str) -> Response:
    """``?subject=S``: every event the hub holds of one subject (seq, id, state), what a unit
    restored from a backup needs to put its history after the hub's."""
    if not SUBJECT.fullmatch(subject):
        raise refusal(
            400,
            'must be "unit", "case:NUMBER", "mobilization:ID", "rollup:CODE",'
            ' "alert:IDENTIFIER" or "directive:ID"',
            "subject",
        )
    events = await service.db_call(lambda db: subject_events(db, unit, subject))
    applied = [int(e["seq"]) for e in events if e["state"] == "applied"]
    answer = {
        "version": PROTOCOL_VERSION,
        "unit": unit,
        "subject": subject,
        "seq": max(applied, default=0),
        "events": events,
    }
    return _answer(200, answer)
