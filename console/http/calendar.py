"""Provides the calendar feeds: ``GET /calendar/drills.ics`` and ``GET /calendar/roster.ics``.

A calendar application subscribes to a URL and cannot send a header, so the token rides in the
query: ``?token=`` the first line of ``[serve] calendar_token_file`` (a file only its owner may
read, :func:`store.keys.read_token_file`; re-read on every request, so a new token takes effect
at once). Without that setting the routes do not exist (404); with an unusable file they answer
503 and the server log says why, once. A missing or wrong token gets 401 and is counted in the
security ledger (one summary a minute, never a row per request); the tokens are compared in
constant time. The per-address rate of :mod:`console.http.guard` applies, as to every route.

The drill feed holds the occurrences from 30 days back to a year ahead (at most
:data:`MAX_EVENTS`, soonest first), cancelled ones as ``STATUS:CANCELLED`` events, and never an
unannounced drill: it would announce itself (``dutydesk drill export --all`` has them). The
roster feed holds the shifts of the next :data:`ROSTER_DAYS` days. Both are ``no-store``: a
feed names people and must not sit in a proxy's cache.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from console.http.common import HttpService, client_address
from console.http.security import Failure, address_source
from contacts.roster import shifts
from contacts.roster import to_ical as roster_ical
from drills.ical import to_ical as drills_ical
from drills.plans import list_plans
from drills.schedules import upcoming
from store.db import Database
from store.errors import DatabaseBusy, InvalidInput
from store.keys import TOKEN_MIN, read_token_file

FIELD = "serve.calendar_token_file"
MAX_TOKEN = 256  # characters; a longer "token" is not compared
DRILLS_BACK = timedelta(days=30)  # cancelled (and past) occurrences this far back stay in the feed
DRILLS_AHEAD = timedelta(days=366)
MAX_EVENTS = 2000
ROSTER_DAYS = 35
BUSY_RETRY_S = 1
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CALENDAR_TYPE = "text/calendar; charset=utf-8"


def routes(service: HttpService) -> list[Route]:
    """The feeds' routes, when ``[serve] calendar_token_file`` is set (none otherwise).

    A file that cannot be used is said now, at startup, once.
    """
    path = service.config.calendar_token_file
    if path is None:
        return []
    try:
        read_token_file(path, FIELD, TOKEN_MIN)
    except InvalidInput as exc:
        service.say_once(_shut(exc))
    return [
        Route("/calendar/drills.ics", feed(service, path, drills_feed), methods=["GET"]),
        Route("/calendar/roster.ics", feed(service, path, roster_feed), methods=["GET"]),
    ]


def _shut(exc: InvalidInput) -> str:
    return f"dutydesk serve: /calendar/ refuses every request (503): {exc}"


Read = Callable[[Database, datetime, str], Callable[[], bytes]]
"""Reads what a feed holds (on the service's connection) and returns what writes it."""


def feed(service: HttpService, path: Path, read: Read) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one feed: the token checked first, then the feed read and written.

    The reading holds the service's connection; the writing of the iCalendar does not (it
    runs on a worker thread of its own, never on the event loop the engine shares).
    """

    async def endpoint(request: Request) -> Response:
        try:
            token = read_token_file(path, FIELD, TOKEN_MIN)
        except InvalidInput as exc:
            service.say_once(_shut(exc))
            return PlainTextResponse("calendar feeds unavailable\n", 503, headers=HEADERS)
        given = request.query_params.get("token", "")
        if (
            not given
            or len(given) > MAX_TOKEN
            or not hmac.compare_digest(given.encode(), token.encode())
        ):
            service.refused(address_source(client_address(request)), Failure.BAD_TOKEN)
            return PlainTextResponse("a valid token is required\n", 401, headers=HEADERS)
        now = service.clock.now()
        zone = service.config.timezone
        try:
            write = await service.db_call(lambda db: read(db, now, zone))
        except DatabaseBusy:
            headers = {**HEADERS, "Retry-After": str(BUSY_RETRY_S)}
            return PlainTextResponse("busy, try again\n", 503, headers=headers)
        body = await anyio.to_thread.run_sync(write)
        return Response(body, 200, headers=HEADERS, media_type=CALENDAR_TYPE)

    return endpoint


def drills_feed(db: Database, now: datetime, zone: str) -> Callable[[], bytes]:
    """The announced drills from :data:`DRILLS_BACK` ago to :data:`DRILLS_AHEAD` on, cancelled
    ones included (as cancelled)."""
    found = upcoming(
        db, now - DRILLS_BACK, until=now + DRILLS_AHEAD, limit=MAX_EVENTS, include_cancelled=True
    )
    shown = [o for o in found if o.announced]
    plans = {p.id: p for p in list_plans(db, active=None)}
    return partial(drills_ical, shown, plans, zone, stamp=now, name="dutydesk drills")


def roster_feed(db: Database, now: datetime, zone: str) -> Callable[[], bytes]:
    """The duty shifts of the next :data:`ROSTER_DAYS` days."""
    found = shifts(db, now, now + timedelta(days=ROSTER_DAYS))
    return partial(roster_ical, found, zone, stamp=now)
