"""Provides the drain: the outbox sent to the hub in batches, in order, exactly once.

The engine (the console's or ``dutydesk serve``'s, whichever holds the lease) runs one
:class:`Drain` as a task of its loop. Each :meth:`Drain.step` projects new timeline entries
into the outbox (:func:`uplink.outbox.project`), adds a hub's roll-ups of its units, and, when
the link is not backing off, posts the next batch to ``<url>/v1/events``:

* ``accepted``, ``duplicate`` and ``held`` are done (the hub has the event);
* ``conflict`` asks for a resynchronisation (:meth:`Drain.resync`) before the next batch;
* ``rejected``, or a 4xx other than 408/429 for a single event, makes a dead letter: later
  events of the same subject wait behind it (order per subject is a promise), others flow. A
  4xx for a batch of several is narrowed down by halving the batch, so one bad event never
  condemns its neighbours;
* 401/403 stop the link (``unauthorized``) until the token is fixed; 408, 429, 5xx, timeouts and
  refused connections back off exponentially with full jitter, honouring ``Retry-After``
  (:attr:`StepReport.retry_after`: the engine holds the inbox's pulls as long, and a pull's
  ``Retry-After`` holds the drain through ``step(hold=True)``).

Every outcome is recorded in ``uplink_status`` (:mod:`uplink.status`) so every process shows
the same link state. The batch's ``Idempotency-Key`` is derived from its event ids: a batch
resent after a crash carries the same key. Resynchronisation runs at the first step of each
engine run and after a conflict: it reads ``GET /v1/units/{unit}/state`` and converges
(:func:`uplink.outbox.reconcile`, :func:`uplink.outbox.rebase`).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.clock import Clock
from store.db import Database, write
from store.errors import DutydeskError, UplinkRejected
from store.i18n import _
from store.keys import TOKEN_MIN, read_token_file
from uplink import outbox, status
from uplink.models import (
    IDEMPOTENCY_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    EventResult,
    LinkState,
    Result,
    encode_batch,
)
from uplink.outbox import OutboxEvent, Projection

if TYPE_CHECKING:
    import httpx

BACKOFF_BASE_S = 1.0
RETRY_AFTER_MAX_S = 86400.0
STATE_PAGE = 5000
# Besides each start and each conflict, compare with the hub this often: a hub restored from a
# backup may lack events of a subject in which nothing changes any more.
RESYNC_EVERY_S = 3600.0
# One step posts batches back to back for at most this long (then the engine looks again).
SEND_BUDGET_S = 2.0


def read_token(path: Path, field: str = "uplink.token_file") -> str:
    """The unit's bearer token: the first line of ``path``, a file only its owner may read.

    Raises:
        InvalidInput: missing, unreadable, readable by others, or not one word of 16+ characters.
    """
    return read_token_file(path, field, TOKEN_MIN)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), RETRY_AFTER_MAX_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), RETRY_AFTER_MAX_S)


def backoff_s(failures: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [base*2^(n-1)/2, base*2^(n-1)], capped."""
    top = min(cap, BACKOFF_BASE_S * float(2 ** max(0, min(failures - 1, 30))))
    return float(top / 2 + rand() * top / 2)


def batch_key(events: list[OutboxEvent]) -> str:
    """The batch's Idempotency-Key: the same events give the same key, whenever sent."""
    digest = hashlib.sha256("\n".join(e.id for e in events).encode()).hexdigest()
    return digest[:40]


@dataclass
class StepReport:
    """What one :meth:`Drain.step` did (for tests, the benchmark and the engine's wake-ups)."""

    projected: int = 0
    sent: int = 0
    dead: int = 0
    conflicts: int = 0
    waiting: bool = False  # backing off or unauthorized: nothing was tried
    more: bool = False  # there is more to do right away
    error: str | None = None
    # The hub's Retry-After, in seconds, when it answered 429 or 503 with one: the hub limits
    # each address over all its routes, so the engine holds the inbox's pulls as well.
    retry_after: float | None = None
    results: list[EventResult] = field(default_factory=list)


class Drain:
    """The sending side of one unit's uplink; see the module docstring.

    Args:
        url: the hub's base URL (``[uplink] url``).
        token: the unit's bearer token.
        projection: the unit's code and what to project.
        clock: the clock (backoff deadlines are stored as times).
        batch: events per request.
        timeout_s: per request.
        backoff_max_s: the longest wait between tries.
        hub_rollup_every: when this database is also a hub that sends its units' roll-ups up.
        client: an ``httpx.AsyncClient`` (tests hand in one with a mock transport).
    """

    def __init__(
        self,
        url: str,
        token: str,
        projection: Projection,
        clock: Clock,
        *,
        batch: int = 200,
        timeout_s: float = 10.0,
        backoff_max_s: float = 60.0,
        hub_rollup_every: timedelta | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        # httpx is imported where it is used: importing it loads its command line's rich and
        # click, which no domain package may bring into a process (test_import_hygiene).
        import httpx

        self.url = url.rstrip("/")
        self.projection = projection
        self.clock = clock
        self.batch = batch
        self.backoff_max_s = backoff_max_s
        self.hub_rollup_every = hub_rollup_every
        self._limit = batch
        self._headers = {
            "Authorization": f"Bearer {token}",
            PROTOCOL_HEADER: str(PROTOCOL_VERSION),
            "Content-Type": "application/json",
        }
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self._owns_client = client is None
        self._resynced_at: datetime | None = None
        # The next batch, read and encoded while the hub worked on the last one.
        self._ahead: tuple[list[OutboxEvent], bytes] | None = None

    @property
    def unit(self) -> str:
        return self.projection.unit

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # --- one step -----------------------------------------------------------------------------
    async def step(self, db: Database, *, hold: bool = False) -> StepReport:
        """Project, then send one batch if the link may try now. Never raises for the link's
        faults (they are recorded); a database error propagates to the engine.

        ``hold``: project only (the hub's ``Retry-After`` to another request still runs).
        """
        report = StepReport()
        now = self.clock.now()
        report.projected = outbox.project(db, self.projection, now)
        if self.hub_rollup_every is not None:
            from uplink import hub

            with write(db):
                outbox.enqueue(db, hub.rollups_due(db, now, self.hub_rollup_every))
        failures, next_try = status.failures(db)
        if hold or (next_try is not None and now < next_try and failures):
            report.waiting = True
            report.more = report.projected >= outbox.PROJECT_BATCH
            return report
        resync = (
            self._resynced_at is None
            or (now - self._resynced_at).total_seconds() >= RESYNC_EVERY_S
            or status.resync_due(db)
        )
        if resync:
            self._ahead = None  # a resync may renumber what was read ahead
            if not await self._guarded(db, self.resync(db), report):
                return report
        events = self._ahead[0] if self._ahead is not None else None
        if not events or len(events) > self._limit:
            self._ahead = None
            events = outbox.sendable(db, self.unit, self._limit)
        if not events:
            report.more = report.projected >= outbox.PROJECT_BATCH
            return report
        await self._guarded(db, self._send(db, events, report), report)
        return report

    async def _guarded(self, db: Database, work: Any, report: StepReport) -> bool:
        """Run one exchange; a transport fault or a refusal becomes a backoff. True: it went."""
        import httpx

        try:
            await work
        except httpx.HTTPError as exc:
            self._fail(db, LinkState.BACKING_OFF, _describe(exc), None, report)
            return False
        except _Refused as exc:
            self._fail(db, exc.state, exc.message, exc.retry_after, report)
            return False
        return True

    def _fail(
        self,
        db: Database,
        state: LinkState,
        message: str,
        wait_s: float | None,
        report: StepReport,
    ) -> None:
        now = self.clock.now()
        failures, _next = status.failures(db)
        delay = backoff_s(failures + 1, self.backoff_max_s)
        if wait_s is not None:
            delay = max(delay, wait_s)
        # Times are stored to the second: round the next try up, never down (a wait cut short
        # by up to a second would break a Retry-After).
        until = now + timedelta(seconds=delay)
        if until.microsecond:
            until = until.replace(microsecond=0) + timedelta(seconds=1)
        with write(db):
            status.record_failure(db, now, state, message, until)
        report.error = message
        report.waiting = True
        report.retry_after = wait_s

    def _encode(self, events: list[OutboxEvent]) -> bytes:
        rows = ((e.id, e.subject, e.seq, e.kind.value, e.at, e.payload_json) for e in events)
        return encode_batch(self.unit, rows)

    async def _send(self, db: Database, events: list[OutboxEvent], report: StepReport) -> None:
        """Post batches back to back, for up to :data:`SEND_BUDGET_S`, while each is wholly done.

        The drain keeps the hub busy: once a batch's body is on the wire, the loop uses the
        time the hub takes on it to commit the previous batch's answers and to read and
        encode the next batch (:attr:`_ahead`); the next batch goes as soon as this one is
        answered. A batch not wholly done (a dead letter, a conflict, a held event), a fault
        or a refusal ends the run: its answers are committed first, and the read-ahead is
        dropped. Answers received are always committed, even when the next post fails: a
        crash in between only sends that batch again (same ids: ``duplicate``).
        """
        ahead, self._ahead = self._ahead, None
        body = ahead[1] if ahead is not None and ahead[0] == events else self._encode(events)
        deadline = time.monotonic() + SEND_BUDGET_S
        unrecorded: tuple[list[OutboxEvent], list[EventResult]] | None = None
        try:
            while True:
                response = await self._post(db, events, body, unrecorded, report)
                unrecorded = None
                results = self._answer(db, response, events, report)
                if results is None:
                    self._ahead = None
                    return
                self._limit = self.batch
                whole = all(r.result in (Result.ACCEPTED, Result.DUPLICATE) for r in results)
                if not whole or self._ahead is None or time.monotonic() > deadline:
                    self._record(db, events, results, report)
                    if report.dead or report.conflicts:
                        self._ahead = None
                    report.more = self._ahead is not None or bool(outbox.sendable(db, self.unit, 1))
                    return
                unrecorded = (events, results)
                (events, body), self._ahead = self._ahead, None
        except BaseException:
            self._ahead = None
            if unrecorded is not None:
                self._record(db, *unrecorded, report)
            raise

    async def _post(
        self,
        db: Database,
        events: list[OutboxEvent],
        body: bytes,
        unrecorded: tuple[list[OutboxEvent], list[EventResult]] | None,
        report: StepReport,
    ) -> httpx.Response:
        """Post one batch; while it travels, commit ``unrecorded`` and read the next batch."""
        written = asyncio.Event()

        async def stream() -> AsyncIterator[bytes]:
            yield body
            written.set()  # httpx asks for more only once the body is written

        headers = {
            **self._headers,
            IDEMPOTENCY_HEADER: batch_key(events),
            "Content-Length": str(len(body)),
        }
        post = asyncio.ensure_future(
            self._client.post(f"{self.url}/v1/events", content=stream(), headers=headers)
        )
        try:
            waiter = asyncio.ensure_future(written.wait())
            await asyncio.wait([waiter, post], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if unrecorded is not None:
                self._record(db, *unrecorded, report)
            if not post.done():
                following = outbox.sendable_after(db, self.unit, events[-1].row, self.batch)
                if following:
                    self._ahead = (following, self._encode(following))
            return await post
        except BaseException:
            post.cancel()
            raise

    def _answer(
        self, db: Database, response: httpx.Response, events: list[OutboxEvent], report: StepReport
    ) -> list[EventResult] | None:
        """The per-event results of a 200; otherwise handle the refusal (raise to back off, or
        narrow a 4xx batch down, or dead-letter its one event) and return ``None``."""
        now = self.clock.now()
        code = response.status_code
        if code == 200:
            return _results(response, events)
        reason = _error_text(response)
        if code in (401, 403):
            raise _Refused(
                LinkState.UNAUTHORIZED,
                _("the hub refused our token (HTTP {code}: {reason})").format(
                    code=code, reason=reason
                ),
                None,
            )
        if code in (408, 429) or code >= 500:
            raise _Refused(
                LinkState.BACKING_OFF,
                _("the hub answered HTTP {code}: {reason}").format(code=code, reason=reason),
                retry_after(response.headers.get("retry-after"), now),
            )
        # Another 4xx: something in this batch is wrong. Halve until the one event is found.
        if len(events) > 1:
            self._limit = max(1, len(events) // 2)
            report.more = True
            return None
        with write(db):
            outbox.mark_dead(
                db, events[0].row, _("HTTP {code}: {reason}").format(code=code, reason=reason)
            )
            status.record_ok(db, now, 0)
        report.dead += 1
        report.more = True
        return None

    def _record(
        self,
        db: Database,
        events: list[OutboxEvent],
        results: list[EventResult],
        report: StepReport,
    ) -> None:
        now = self.clock.now()
        done: list[tuple[int, str]] = []
        with write(db):
            for event, result in zip(events, results, strict=True):
                if result.result is Result.HELD and outbox.predecessor_sent(
                    db, event.subject, event.seq
                ):
                    # The hub waits for an event it was given before: it lost it (restored
                    # from a backup). Compare and send it again before the next batch.
                    report.conflicts += 1
                if result.result.done:
                    done.append((event.row, result.result.value))
                elif result.result is Result.CONFLICT:
                    report.conflicts += 1
                else:
                    outbox.mark_dead(db, event.row, result.reason or result.result.value)
                    report.dead += 1
            outbox.mark_sent(db, done, now)
            status.record_ok(db, now, len(done))
            if report.conflicts:
                status.set_resync_due(db, True)
        report.sent += len(done)
        report.results = results

    # --- resynchronisation --------------------------------------------------------------------
    async def hub_state(self, subject: str | None = None) -> dict[str, Any]:
        """The hub's state of this unit, every page (or one subject's events)."""
        url = f"{self.url}/v1/units/{self.unit}/state"
        if subject is not None:
            response = await self._client.get(
                url, params={"subject": subject}, headers=self._headers
            )
            return _json_or_refuse(response, self.clock.now())
        subjects: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": STATE_PAGE}
            if after is not None:
                params["after"] = after
            response = await self._client.get(url, params=params, headers=self._headers)
            page = _json_or_refuse(response, self.clock.now())
            subjects.extend(page.get("subjects") or [])
            after = page.get("next")
            if not after:
                page["subjects"] = subjects
                return page

    async def resync(self, db: Database) -> int:
        """Converge with the hub (see the module docstring); returns events requeued/rebased."""
        state = await self.hub_state()
        hub = {
            str(s["subject"]): (int(s["seq"]), str(s.get("id") or ""))
            for s in state["subjects"]
            if isinstance(s, dict) and "subject" in s and "seq" in s
        }
        with write(db):
            found = outbox.reconcile(db, hub)
        moved = found.requeued
        for subject, hub_seq in found.diverged:
            detail = await self.hub_state(subject)
            ids = {str(e["id"]) for e in detail.get("events") or [] if isinstance(e, dict)}
            now = self.clock.now()
            with write(db):
                moved += outbox.rebase(db, subject, hub_seq, ids, now, self.projection)
        with write(db):
            status.set_resync_due(db, False)
        self._resynced_at = self.clock.now()
        return moved


class _Refused(Exception):
    def __init__(self, state: LinkState, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.state = state
        self.message = message
        self.retry_after = retry_after


def _describe(exc: httpx.HTTPError) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return _("the hub did not answer in time ({error})").format(error=type(exc).__name__)
    if isinstance(exc, httpx.ConnectError):
        return _("cannot connect to the hub ({error})").format(error=exc)
    return _("the exchange with the hub failed ({error})").format(error=type(exc).__name__)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or str(response.status_code)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        where = data.get("field")
        return f"{where}: {data['error']}" if isinstance(where, str) else data["error"]
    return response.reason_phrase or str(response.status_code)


def _results(response: httpx.Response, events: list[OutboxEvent]) -> list[EventResult]:
    """The per-event results, checked against what was sent (a hub answering something else is
    a fault of the link, retried, never a reason to lose an event)."""
    try:
        data = response.json()
        raw = data["results"]
        results = [EventResult.from_json(r, f"results[{i}]") for i, r in enumerate(raw)]
    except (ValueError, KeyError, TypeError, DutydeskError) as exc:
        raise _Refused(
            LinkState.BACKING_OFF,
            _("the hub's answer cannot be read ({error})").format(error=exc),
            None,
        ) from exc
    if [r.id for r in results] != [e.id for e in events]:
        raise _Refused(
            LinkState.BACKING_OFF, _("the hub answered for other events than were sent"), None
        )
    return results


def _json_or_refuse(response: httpx.Response, now: datetime) -> dict[str, Any]:
    code = response.status_code
    if code == 200:
        try:
            data = response.json()
        except ValueError as exc:
            raise _Refused(LinkState.BACKING_OFF, _("the hub's answer is not JSON"), None) from exc
        if isinstance(data, dict):
            return data
        raise _Refused(LinkState.BACKING_OFF, _("the hub's answer is not a JSON object"), None)
    reason = _error_text(response)
    if code in (401, 403):
        raise _Refused(
            LinkState.UNAUTHORIZED,
            _("the hub refused our token (HTTP {code}: {reason})").format(code=code, reason=reason),
            None,
        )
    raise _Refused(
        LinkState.BACKING_OFF,
        _("the hub answered HTTP {code}: {reason}").format(code=code, reason=reason),
        retry_after(response.headers.get("retry-after"), now),
    )


def check_rejected(report: StepReport) -> None:
    """Raise :class:`UplinkRejected` when a step dead-lettered events (for ``sync now``)."""
    if report.dead:
        raise UplinkRejected(
            _("{n} events were refused by the hub; see `dutydesk sync dead-letters`").format(
                n=report.dead
            )
        )
