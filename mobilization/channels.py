"""Provides the senders that carry mobilization messages: ``log``, ``sms``, ``webhook``, ``email``.

The mobilization engine (:mod:`mobilization.mobilize`) decides *what* goes to *whom*; a sender only
delivers a batch of :class:`Outgoing` messages on its channel and says, per message, what became
of it (:class:`Delivery`). Senders own their channel's rate limit, concurrency, retries and
batching, so a local phone network is never flooded whatever the engine hands them.

Every message carries its attempt's id; the ``sms`` gateway receives it as the
``Idempotency-Key`` header, so a message re-sent after a crash (same attempt, same id) is seen
once by a gateway that deduplicates.

* :class:`Outgoing`, :class:`Delivery` — frozen dataclasses.
* :class:`Sender` — protocol: ``name``; ``async send(messages, report=None, halt=None) ->
  list[Delivery]`` (one per message, same order); ``async aclose()``. A sender never raises for
  a failed delivery. With ``report``, it hands over each outcome as soon as it is known and
  awaits ``report`` before it sends anything more on that worker: the engine records outcomes
  as they arrive (letting a worker run at most one request ahead of its commit), so a crash
  re-sends at most the requests in flight and those just answered, not a whole chunk. Once
  ``halt`` is set it starts nothing new; what it never tried comes back ``NOT_SENT``.
* :func:`local_fault` — whether an error is this machine's own (file descriptors, disk, memory).
  A delivery that failed for such a reason is ``local``: nothing reached the recipient and it
  is not their fault, so it is tried again later and never counts against them.
* :func:`parse_channels` — validates the ``[channels]`` table of the configuration.
* :func:`build_senders` — the senders for the validated settings, ``log`` always present.
* :func:`signed` and :func:`sms_length` — the text an SMS carries once the carriers' signature
  (签名) is on it, and how long it is in characters and billed segments (GSM-7 or UCS-2).

The settings, with their defaults (a channel is configured when its table is present)::

    [channels.log]
    path = "..."             # default: chosen by the caller (next to the database)
    [channels.sms]
    url = "https://gw/send"  # required
    batch = 1                # messages per request, up to 1000 (0 or 1: one per request)
    concurrency = 8          # requests in flight
    rate = 0                 # messages per second, 0: no limit
    timeout_s = 10           # per request
    retry_window_s = 30      # how long one message may keep being retried
    token = "..."            # optional: Authorization: Bearer ...
    signature = "..."        # optional: the sender's name carriers require, e.g. 【青山街道】
    signature_at = "start"   # "start" (Chinese carriers) or "end"
    [channels.webhook]       # the URL is each person's address
    concurrency = 8, rate = 0, timeout_s = 10, retry_window_s = 30
    [channels.email]
    host = "smtp.example"    # required
    sender = "duty@example"  # required (From)
    port = 25, starttls = false, username/password (together), concurrency = 2, timeout_s = 10

The HTTP senders retry 429 (honouring ``Retry-After``), 408, 5xx, timeouts and connection errors
with exponential backoff (0.2 s doubling to 5 s) while the message's retry window lasts; the
window opens when the message is first tried, no new try starts after it closes, and a try
started inside it runs to its own timeout. Any other 4xx fails the message at once with the
gateway's reason.

Throughput: each HTTP worker owns one ``httpx.AsyncClient`` with a single connection, because
one client with many connections gets slower as concurrency grows (``PITFALLS.md``). ``httpx``
is imported only when a client is made: importing it loads ``rich`` (through its command-line
entry point), and the domain packages must import without the UI libraries.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import math
import os
import re
import smtplib
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mobilization.settings import (
    ChannelSettings,
    EmailSettings,
    SmsSettings,
    WebhookSettings,
)
from store.clock import Clock, SystemClock, to_iso

if TYPE_CHECKING:
    import httpx

BACKOFF_START_S = 0.2
BACKOFF_CAP_S = 5.0
MIN_RETRY_AFTER_S = 0.05  # "Retry-After: 0" must not turn into a busy loop
MAX_REASON = 200
RETRYABLE_STATUS = frozenset({408, 429})
NOT_SENT = "not sent"
# Errors that say this machine ran out of something, not that the recipient is unreachable.
LOCAL_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOSPC, errno.ENOBUFS, errno.ENOMEM})
LOG_TOKEN_KEEP = 6  # characters of an ack link's token the message log keeps

EMAIL_SUBJECTS = {
    "notify": "动员通知 Mobilization",
    "stand_down": "解除动员 Stand down",
    "cancel": "动员取消 Mobilization cancelled",
    "notice": "联络通知 Notice",
}
EXERCISE_PREFIX = "[演练 EXERCISE] "

ClientFactory = Callable[..., "httpx.AsyncClient"]


@dataclass(frozen=True)
class Outgoing:
    """One message to one person on one channel.

    ``attempt_id`` is the idempotency key; ``kind`` is ``notify`` (the call-out), ``stand_down``
    (enough people answered), ``cancel`` (the mobilization was cancelled) or ``notice`` (a node
    below this person was declared unreachable). ``ack_code``/``ack_url`` are empty for messages
    that expect no answer. ``ack_url`` is the link the text carries, as the delivery fixed it:
    the recipient's signed ack link, or the one ``Routing.link_for`` gave instead (a field
    dispatch's person's case link); a sender that appends or redacts the link uses this one.
    """

    attempt_id: str
    recipient_id: int
    channel: str
    address: str
    text: str
    kind: str = "notify"
    ack_code: str = ""
    ack_url: str = ""
    exercise: bool = False
    name: str = ""


@dataclass(frozen=True)
class Delivery:
    """What became of one :class:`Outgoing`; ``error`` says why when ``ok`` is false.

    ``local`` marks a failure of this machine (out of file descriptors, disk or memory, see
    :func:`local_fault`) or a message never tried (``error`` is ``NOT_SENT``): it did not
    reach the channel, so it is neither the recipient's nor the gateway's doing and goes again.
    """

    attempt_id: str
    ok: bool
    error: str | None = None
    local: bool = False


Report = Callable[[Sequence[Delivery]], Awaitable[None]]
"""Takes outcomes as they are known; returns once they are recorded (the engine's group commit)."""


class Sender(Protocol):
    name: str
    concurrency: int  # requests (or connections) it has in flight at most

    async def send(
        self,
        messages: list[Outgoing],
        report: Report | None = None,
        halt: asyncio.Event | None = None,
    ) -> list[Delivery]: ...

    async def aclose(self) -> None: ...


def local_fault(exc: BaseException) -> str | None:
    """The name of the local resource error behind ``exc`` (``EMFILE``...), or ``None``.

    Libraries wrap the operating system's error (httpx's ``ConnectError`` from httpcore's, from
    anyio's "All connection attempts failed", from the ``OSError``): the chain of causes and
    contexts, and the members of exception groups, are searched.
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in LOCAL_ERRNOS:
            return errno.errorcode[current.errno]
        if isinstance(current, MemoryError):
            return "ENOMEM"
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


# --- SMS length ---------------------------------------------------------------------------
# GSM 03.38: the default alphabet (one septet each) and its extension table (escape + one: two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Characters per segment: one message alone, and each part of a long (concatenated) message,
# whose header takes room. The carriers bill by segment.
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsLength:
    """How long an SMS text is as the carriers count it.

    Attributes:
        chars: its length in the encoding's units (GSM-7 septets, or UTF-16 code units).
        encoding: ``"GSM-7"`` when every character is in the GSM alphabet, else ``"UCS-2"``
            (any Chinese character makes the whole message UCS-2).
        segments: the messages it is sent (and billed) as.
        per_segment: the characters each segment holds (70/67 UCS-2, 160/153 GSM-7).
    """

    chars: int
    encoding: str
    segments: int
    per_segment: int


def sms_length(text: str) -> SmsLength:
    """The length of ``text`` in characters and SMS segments, as the carriers count them."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        chars = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        # UTF-16 code units: a character beyond the BMP (an emoji) takes two.
        chars = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    if chars <= single:
        return SmsLength(chars, encoding, 1 if chars else 0, single)
    return SmsLength(chars, encoding, math.ceil(chars / part), part)


def signed(text: str, signature: str | None, at: str = "start") -> str:
    """``text`` with the carriers' signature (签名) at its ``start`` or ``end``, once."""
    if not signature:
        return text
    if at == "end":
        return text if text.endswith(signature) else f"{text}{signature}"
    return text if text.startswith(signature) else f"{signature}{text}"


def redact_link(url: str) -> str:
    """``url`` with its last path segment (an ack link's token) cut to its first characters.

    The message log is kept for the record; a live link in it would let whoever reads the file
    answer for the person, so it keeps only enough of the token to tell links apart.
    """
    if not url:
        return url
    head, _sep, token = url.rpartition("/")
    if not _sep or not token:
        return url
    return f"{head}/{token[:LOG_TOKEN_KEEP]}…"


def build_senders(
    settings: ChannelSettings,
    *,
    log_path: Path,
    client_factory: ClientFactory | None = None,
) -> dict[str, Sender]:
    """The senders of the configured channels, keyed by channel name; ``log`` is always there.

    Args:
        settings: from :func:`parse_channels`.
        log_path: where ``log`` writes when ``[channels.log] path`` is not set.
        client_factory: makes the HTTP senders' clients (tests pass a mock transport here).
    """
    senders: dict[str, Sender] = {"log": LogSender(settings.log.path or log_path)}
    if settings.sms is not None:
        senders["sms"] = SmsSender(settings.sms, client_factory=client_factory)
    if settings.webhook is not None:
        senders["webhook"] = WebhookSender(settings.webhook, client_factory=client_factory)
    if settings.email is not None:
        senders["email"] = EmailSender(settings.email)
    return senders


# --- log --------------------------------------------------------------------------------------


class LogSender:
    """Appends one JSON line per message to a file: the channel of last resort and of tests."""

    name = "log"
    concurrency = 1

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self._clock: Clock = clock or SystemClock()

    async def send(
        self,
        messages: list[Outgoing],
        report: Report | None = None,
        halt: asyncio.Event | None = None,
    ) -> list[Delivery]:
        if not messages:
            return []
        if halt is not None and halt.is_set():
            return [Delivery(m.attempt_id, False, NOT_SENT, local=True) for m in messages]
        at = to_iso(self._clock.now())
        lines = [json.dumps(self._line(m, at), ensure_ascii=False) + "\n" for m in messages]
        try:
            await asyncio.to_thread(self._append, "".join(lines))
        except OSError as exc:
            # The file is ours: a full disk or a bad path is never the recipient's fault.
            out = [Delivery(m.attempt_id, False, f"log: {exc}", local=True) for m in messages]
        else:
            out = [Delivery(m.attempt_id, True) for m in messages]
        if report is not None:
            await report(out)
        return out

    @staticmethod
    def _line(m: Outgoing, at: str) -> dict[str, object]:
        """What the log keeps of a message: everything but the live part of its ack link."""
        url = redact_link(m.ack_url)
        text = m.text.replace(m.ack_url, url) if m.ack_url else m.text
        return {
            "at": at,
            "attempt_id": m.attempt_id,
            "channel": m.channel,
            "address": m.address,
            "kind": m.kind,
            "exercise": m.exercise,
            "text": text,
            "ack_code": m.ack_code,
            "ack_url": url,
        }

    def _append(self, text: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # 0600 from the start: the log names people and their numbers.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with open(fd, "a", encoding="utf-8") as file:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)  # a log an older version left readable by others
            file.write(text)
            file.flush()
            # One fsync per batch: a crash after send() returns cannot lose the lines.
            os.fsync(file.fileno())

    async def aclose(self) -> None:
        return None


# --- HTTP -------------------------------------------------------------------------------------


class _RateLimiter:
    """Spaces requests ``1/rate`` seconds apart per message (a token bucket holding one token)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def acquire(self, count: int) -> None:
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + count * self._interval
        if start > now:
            await asyncio.sleep(start - now)


@dataclass
class _Retry:
    """Messages of one request that may be tried again, and why."""

    indexes: list[int]
    reasons: list[str]
    after: float | None = None  # the gateway's Retry-After, seconds


class _Run:
    """One ``send`` call: what is left to send and what became of each message."""

    def __init__(
        self,
        messages: list[Outgoing],
        report: Report | None = None,
        halt: asyncio.Event | None = None,
    ) -> None:
        count = len(messages)
        self.messages = messages
        self.report = report
        self.halt = halt
        self.results: list[Delivery | None] = [None] * count
        self.reported = [False] * count
        self.bodies: list[bytes | None] = [None] * count
        self.tries = [0] * count
        self.deadlines = [0.0] * count
        self.ready: deque[int] = deque(range(count))
        self.unresolved = count
        self.changed = asyncio.Event()

    def resolve(self, index: int, delivery: Delivery) -> None:
        self.results[index] = delivery
        self.unresolved -= 1
        if not self.unresolved:
            self.changed.set()

    def ok(self, index: int) -> None:
        self.resolve(index, Delivery(self.messages[index].attempt_id, True))

    def fail(self, index: int, error: str) -> None:
        self.resolve(index, Delivery(self.messages[index].attempt_id, False, error))

    def fail_local(self, index: int, prefix: str, fault: str) -> None:
        """This machine could not send it (``fault``: ``EMFILE``...): it goes again later."""
        delivery = Delivery(
            self.messages[index].attempt_id, False, f"{prefix}: local error {fault}", local=True
        )
        self.resolve(index, delivery)

    @property
    def halted(self) -> bool:
        return self.halt is not None and self.halt.is_set()

    async def report_done(self, indexes: list[int]) -> None:
        """Hand the outcomes of ``indexes`` known by now to ``report``, each once."""
        if self.report is None:
            return
        done: list[Delivery] = []
        for index in indexes:
            result = self.results[index]
            if result is not None and not self.reported[index]:
                self.reported[index] = True
                done.append(result)
        if done:
            await self.report(done)


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _excerpt(response: httpx.Response) -> str:
    """The gateway's reason: its JSON ``error``/``message``/``errmsg``, else the body's start."""
    text = ""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "errmsg", "detail", "reason"):
            if isinstance(data.get(key), str) and data[key].strip():
                text = data[key]
                break
    if not text:
        text = response.text
    text = " ".join(text.split())
    return text[: MAX_REASON - 1] + "…" if len(text) > MAX_REASON else text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _with_link(text: str, ack_url: str) -> str:
    """The text a person reads, with the answer link appended unless it is already there."""
    if not ack_url or ack_url in text:
        return text
    return f"{text}\n{ack_url}"


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


class _HttpSender:
    """Workers, clients, rate limit and retries shared by the SMS and webhook senders.

    ``send`` runs up to ``concurrency`` workers; each takes an idle client (one connection)
    and pulls messages from the run's queue until none is left. A worker that must retry
    sleeps the backoff and puts the messages back at the head of the queue, so a throttling
    gateway slows the whole sender down rather than being hammered.
    """

    name = "http"
    _prefix = "http"

    def __init__(
        self,
        *,
        concurrency: int,
        rate: float,
        timeout_s: float,
        retry_window_s: float,
        batch: int = 1,
        headers: Mapping[str, str] | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self._concurrency = concurrency
        self.concurrency = concurrency
        self._timeout_s = timeout_s
        self._window_s = retry_window_s
        self._batch = max(1, batch)
        self._headers = {"Content-Type": "application/json", "User-Agent": "dutydesk"}
        self._headers.update(headers or {})
        self._factory = client_factory
        self._limiter = _RateLimiter(rate) if rate > 0 else None
        self._slots = asyncio.Semaphore(concurrency)
        self._idle: list[httpx.AsyncClient] = []
        self._clients: list[httpx.AsyncClient] = []
        self._tls: ssl.SSLContext | None = None

    async def send(
        self,
        messages: list[Outgoing],
        report: Report | None = None,
        halt: asyncio.Event | None = None,
    ) -> list[Delivery]:
        if not messages:
            return []
        run = _Run(messages, report, halt)
        workers = min(self._concurrency, math.ceil(len(messages) / self._batch))
        # Make the clients before any worker starts, so the first requests are not held up
        # (and bunched together past the rate limit) while the loop builds the others.
        missing = min(workers - len(self._idle), self._concurrency - len(self._clients))
        try:
            for _ in range(missing):
                self._idle.append(self._new_client())
        except Exception as exc:  # out of files making one: the workers find out for themselves
            if local_fault(exc) is None:
                raise
        await asyncio.gather(*(self._work(run) for _ in range(workers)))
        return [
            r if r is not None else Delivery(m.attempt_id, False, NOT_SENT, local=True)
            for m, r in zip(messages, run.results, strict=True)
        ]

    async def aclose(self) -> None:
        clients, self._clients, self._idle = self._clients, [], []
        for client in clients:
            await client.aclose()

    def _new_client(self) -> httpx.AsyncClient:
        import httpx

        if self._tls is None:
            # One TLS context for all the workers: building one costs ~20 ms of CPU.
            self._tls = httpx.create_ssl_context()
        factory = self._factory or httpx.AsyncClient
        client = factory(
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(self._timeout_s),
            headers=self._headers,
            verify=self._tls,
        )
        self._clients.append(client)
        return client

    async def _work(self, run: _Run) -> None:
        async with self._slots:
            try:
                client = self._idle.pop() if self._idle else self._new_client()
            except Exception as exc:
                fault = local_fault(exc)
                if fault is None:
                    raise
                # No client to send with (its TLS context needs files too): what nobody has
                # taken yet is held back here, with the others' requests left to finish.
                waiting = list(run.ready)
                run.ready.clear()
                for index in waiting:
                    run.fail_local(index, self._prefix, fault)
                await run.report_done(waiting)
                return
            try:
                await self._drain(run, client)
            finally:
                self._idle.append(client)

    async def _drain(self, run: _Run, client: httpx.AsyncClient) -> None:
        while True:
            if run.halted:
                run.changed.set()  # wake the workers waiting for others' retries: they stop too
                return
            if not run.ready:
                if not run.unresolved:
                    return
                # Other workers hold messages they will put back after their backoff.
                run.changed.clear()
                await run.changed.wait()
                continue
            take = min(self._batch, len(run.ready))
            chunk = [run.ready.popleft() for _ in range(take)]
            if self._limiter is not None:
                await self._limiter.acquire(len(chunk))
            now = time.monotonic()
            for index in chunk:
                if not run.tries[index]:
                    run.deadlines[index] = now + self._window_s
                run.tries[index] += 1
            try:
                retry = await self._post(client, run, chunk)
            except Exception as exc:  # a bug must not lose messages or raise out of send()
                fault = local_fault(exc)
                for index in chunk:
                    if run.results[index] is not None:
                        continue
                    if fault is not None:
                        run.fail_local(index, self._prefix, fault)
                    else:
                        run.fail(index, f"{self._prefix}: {type(exc).__name__}: {exc}")
                retry = None
            # Recorded before this worker sends anything more: what a crash can send twice is
            # at most the requests in flight, one per worker.
            await run.report_done(chunk)
            if retry is not None:
                await self._back_off(run, retry)
                await run.report_done(chunk)

    async def _back_off(self, run: _Run, retry: _Retry) -> None:
        now = time.monotonic()
        again: list[int] = []
        for index, reason in zip(retry.indexes, retry.reasons, strict=True):
            if run.deadlines[index] > now:
                again.append(index)
            else:
                run.fail(index, f"{self._prefix}: {reason} after {_tries(run.tries[index])}")
        if not again:
            return
        tries = min(run.tries[i] for i in again)
        delay = min(BACKOFF_START_S * 2 ** (tries - 1), BACKOFF_CAP_S)
        if retry.after is not None:
            delay = max(retry.after, MIN_RETRY_AFTER_S)
        await asyncio.sleep(min(delay, max(run.deadlines[i] for i in again) - now))
        run.ready.extendleft(reversed(again))
        run.changed.set()

    async def _post(self, client: httpx.AsyncClient, run: _Run, chunk: list[int]) -> _Retry | None:
        """Send ``chunk`` in one request; resolve what is final and return what to retry."""
        raise NotImplementedError

    def _body(self, message: Outgoing) -> object:
        raise NotImplementedError

    def _url(self, message: Outgoing) -> str:
        raise NotImplementedError

    def _refused(self, response: httpx.Response) -> str | None:
        """Why a 2xx answer still means "not delivered", if it does."""
        return None

    async def _post_one(self, client: httpx.AsyncClient, run: _Run, index: int) -> _Retry | None:
        import httpx

        message = run.messages[index]
        body = run.bodies[index]
        if body is None:
            body = run.bodies[index] = _dumps(self._body(message))
        try:
            response = await client.post(
                self._url(message), content=body, headers={"Idempotency-Key": message.attempt_id}
            )
        except httpx.TimeoutException:
            return _Retry([index], ["timed out"])
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            run.fail(index, f"{self._prefix}: bad URL: {exc}")
            return None
        except httpx.TransportError as exc:
            fault = local_fault(exc)
            if fault is not None:
                run.fail_local(index, self._prefix, fault)
                return None
            return _Retry([index], [f"connection failed ({type(exc).__name__})"])
        status = response.status_code
        if 200 <= status < 300:
            refused = self._refused(response)
            if refused is None:
                run.ok(index)
            else:
                run.fail(index, f"{self._prefix}: {refused}")
            return None
        if status >= 500 or status in RETRYABLE_STATUS:
            reason = "throttled (HTTP 429)" if status == 429 else f"HTTP {status}"
            return _Retry([index], [reason], _retry_after(response))
        run.fail(index, f"{self._prefix}: HTTP {status}: {_excerpt(response)}".rstrip(": "))
        return None


class SmsSender(_HttpSender):
    """Posts messages to the SMS gateway, one per request or ``batch`` per request.

    One message: ``{"id", "to", "text", "kind", "exercise", "ack_code", "ack_url"}`` with the
    header ``Idempotency-Key: <attempt id>``. A batch: ``{"messages": [...]}`` of those, the
    header being the sha256 (hex) of the sorted ids joined by ``,``; the gateway answers
    ``{"results": [{"id", "status", "error"}]}`` and a message missing from the results or
    answered 429/5xx goes out again in a later batch.
    """

    name = "sms"
    _prefix = "gateway"

    def __init__(
        self, settings: SmsSettings, *, client_factory: ClientFactory | None = None
    ) -> None:
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else None
        super().__init__(
            concurrency=settings.concurrency,
            rate=settings.rate,
            timeout_s=settings.timeout_s,
            retry_window_s=settings.retry_window_s,
            batch=settings.batch,
            headers=headers,
            client_factory=client_factory,
        )
        self.settings = settings

    def _url(self, message: Outgoing) -> str:
        return self.settings.url

    def _body(self, message: Outgoing) -> object:
        settings = self.settings
        return {
            "id": message.attempt_id,
            "to": message.address,
            "text": signed(message.text, settings.signature, settings.signature_at),
            "kind": message.kind,
            "exercise": message.exercise,
            "ack_code": message.ack_code,
            "ack_url": message.ack_url,
        }

    async def _post(self, client: httpx.AsyncClient, run: _Run, chunk: list[int]) -> _Retry | None:
        if self._batch == 1:
            return await self._post_one(client, run, chunk[0])
        return await self._post_batch(client, run, chunk)

    async def _post_batch(
        self, client: httpx.AsyncClient, run: _Run, chunk: list[int]
    ) -> _Retry | None:
        import httpx

        parts: list[bytes] = []
        for index in chunk:
            body = run.bodies[index]
            if body is None:
                body = run.bodies[index] = _dumps(self._body(run.messages[index]))
            parts.append(body)
        ids = [run.messages[i].attempt_id for i in chunk]
        key = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()
        content = b'{"messages":[' + b",".join(parts) + b"]}"
        every = len(chunk)
        try:
            response = await client.post(
                self.settings.url, content=content, headers={"Idempotency-Key": key}
            )
        except httpx.TimeoutException:
            return _Retry(chunk, ["timed out"] * every)
        except httpx.TransportError as exc:
            fault = local_fault(exc)
            if fault is not None:
                for index in chunk:
                    run.fail_local(index, self._prefix, fault)
                return None
            return _Retry(chunk, [f"connection failed ({type(exc).__name__})"] * every)
        status = response.status_code
        if status >= 500 or status in RETRYABLE_STATUS:
            reason = "throttled (HTTP 429)" if status == 429 else f"HTTP {status}"
            return _Retry(chunk, [reason] * every, _retry_after(response))
        if not 200 <= status < 300:
            error = f"{self._prefix}: HTTP {status}: {_excerpt(response)}".rstrip(": ")
            for index in chunk:
                run.fail(index, error)
            return None
        return self._results(run, chunk, response)

    def _results(self, run: _Run, chunk: list[int], response: httpx.Response) -> _Retry | None:
        try:
            data = response.json()
            listed = data["results"] if isinstance(data, dict) else None
        except (ValueError, KeyError):
            listed = None
        if not isinstance(listed, list):
            return _Retry(chunk, ["answer without results"] * len(chunk))
        by_id = {r.get("id"): r for r in listed if isinstance(r, dict)}
        retry = _Retry([], [])
        for index in chunk:
            result = by_id.get(run.messages[index].attempt_id)
            if result is None:
                retry.indexes.append(index)
                retry.reasons.append("missing from the results")
                continue
            error = result.get("error")
            status = result.get("status")
            if not isinstance(status, int) or isinstance(status, bool):
                status = 400 if error else 200
            if 200 <= status < 300:
                run.ok(index)
            elif status >= 500 or status in RETRYABLE_STATUS:
                retry.indexes.append(index)
                retry.reasons.append(f"HTTP {status}")
            else:
                reason = " ".join(str(error or "").split())[:MAX_REASON]
                run.fail(index, f"{self._prefix}: {status}: {reason}".rstrip(": "))
        return retry if retry.indexes else None


class WebhookSender(_HttpSender):
    """Posts each message to the person's chat-robot webhook (their address).

    The body has the usual robot shape, ``{"msgtype": "text", "text": {"content": ...}}``, the
    answer link appended to the content, plus ``id``/``ack_code``/``ack_url``. Robots answer
    HTTP 200 even when they refuse a message: a JSON ``errcode`` other than 0 is a failure.
    """

    name = "webhook"
    _prefix = "webhook"

    def __init__(
        self, settings: WebhookSettings, *, client_factory: ClientFactory | None = None
    ) -> None:
        super().__init__(
            concurrency=settings.concurrency,
            rate=settings.rate,
            timeout_s=settings.timeout_s,
            retry_window_s=settings.retry_window_s,
            client_factory=client_factory,
        )
        self.settings = settings

    def _url(self, message: Outgoing) -> str:
        return message.address

    def _body(self, message: Outgoing) -> object:
        return {
            "msgtype": "text",
            "text": {"content": _with_link(message.text, message.ack_url)},
            "id": message.attempt_id,
            "ack_code": message.ack_code,
            "ack_url": message.ack_url,
        }

    def _refused(self, response: httpx.Response) -> str | None:
        if b"errcode" not in response.content:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        code = data.get("errcode") if isinstance(data, dict) else None
        if not isinstance(code, int) or code == 0:
            return None
        return f"errcode {code}: {_excerpt(response)}".rstrip(": ")

    async def _post(self, client: httpx.AsyncClient, run: _Run, chunk: list[int]) -> _Retry | None:
        return await self._post_one(client, run, chunk[0])


# --- e-mail -----------------------------------------------------------------------------------


def email_subject(message: Outgoing) -> str:
    """``动员通知 Mobilization``, by kind, with ``[演练 EXERCISE]`` in front for a drill."""
    subject = EMAIL_SUBJECTS.get(message.kind, EMAIL_SUBJECTS["notify"])
    return EXERCISE_PREFIX + subject if message.exercise else subject


def message_id(attempt_id: str) -> str:
    """The ``Message-ID`` of an attempt's e-mail, the same on every re-send."""
    return "<" + re.sub(r"[^A-Za-z0-9._-]", "-", attempt_id) + "@dutydesk>"


class EmailSender:
    """Sends each message as an e-mail through an SMTP relay, ``concurrency`` connections at once.

    smtplib blocks, so every exchange runs in a thread; a worker keeps its connection for the
    messages it takes during one ``send`` and reconnects once if the relay dropped it.
    """

    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.concurrency)
        self.concurrency = settings.concurrency

    async def send(
        self,
        messages: list[Outgoing],
        report: Report | None = None,
        halt: asyncio.Event | None = None,
    ) -> list[Delivery]:
        results: list[Delivery | None] = [None] * len(messages)
        queue = deque(range(len(messages)))
        workers = min(self.settings.concurrency, len(messages))
        await asyncio.gather(
            *(self._work(messages, queue, results, report, halt) for _ in range(workers))
        )
        return [
            r if r is not None else Delivery(m.attempt_id, False, NOT_SENT, local=True)
            for m, r in zip(messages, results, strict=True)
        ]

    async def aclose(self) -> None:
        return None

    async def _work(
        self,
        messages: list[Outgoing],
        queue: deque[int],
        results: list[Delivery | None],
        report: Report | None,
        halt: asyncio.Event | None,
    ) -> None:
        async with self._slots:
            connection: smtplib.SMTP | None = None
            try:
                while queue and not (halt is not None and halt.is_set()):
                    index = queue.popleft()
                    try:
                        connection, delivery = await asyncio.to_thread(
                            self._deliver, connection, messages[index]
                        )
                    except Exception as exc:  # no thread to run it in (out of files...)
                        fault = local_fault(exc)
                        if fault is None:
                            raise
                        error = f"smtp: local error {fault}"
                        delivery = Delivery(messages[index].attempt_id, False, error, local=True)
                    results[index] = delivery
                    if report is not None:
                        await report([delivery])
            finally:
                if connection is not None:
                    await asyncio.to_thread(_quit, connection)

    def compose(self, message: Outgoing) -> EmailMessage:
        """The e-mail for ``message``; raises ``ValueError`` for an address that cannot be one."""
        mail = EmailMessage()
        mail["Subject"] = email_subject(message)
        mail["From"] = self.settings.sender
        mail["To"] = message.address
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id(message.attempt_id)
        mail.set_content(_with_link(message.text, message.ack_url) + "\n")
        return mail

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        connection = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            if s.starttls:
                connection.starttls(context=ssl.create_default_context())
            if s.username is not None and s.password is not None:
                connection.login(s.username, s.password)
        except BaseException:
            connection.close()
            raise
        return connection

    def _deliver(
        self, connection: smtplib.SMTP | None, message: Outgoing
    ) -> tuple[smtplib.SMTP | None, Delivery]:
        """Send one message, on ``connection`` when given; returns the connection to keep."""
        try:
            mail = self.compose(message)
        except (ValueError, TypeError) as exc:
            return connection, Delivery(message.attempt_id, False, f"smtp: bad message: {exc}")
        kept = connection is not None
        try:
            if connection is None:
                connection = self._connect()
            connection.send_message(mail)
        except smtplib.SMTPServerDisconnected as exc:
            if kept:
                # The relay closed a connection kept from an earlier message: once more, anew.
                return self._deliver(None, message)
            return None, Delivery(message.attempt_id, False, f"smtp: {_smtp_reason(exc)}")
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
            # smtplib has reset the transaction (or closed what it could not): keep what is left.
            return connection, Delivery(message.attempt_id, False, f"smtp: {_smtp_reason(exc)}")
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            if connection is not None:
                _quit(connection)
            fault = local_fault(exc)
            if fault is not None:
                error = f"smtp: local error {fault}"
                return None, Delivery(message.attempt_id, False, error, local=True)
            return None, Delivery(message.attempt_id, False, f"smtp: {_smtp_reason(exc)}")
        return connection, Delivery(message.attempt_id, True)


def _smtp_reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, refusal = next(iter(exc.recipients.values()))
        reason = f"{code} {refusal.decode(errors='replace')}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        reason = f"{exc.smtp_code} {text}"
    else:
        reason = str(exc) or type(exc).__name__
    reason = " ".join(reason.split())
    return reason[:MAX_REASON]


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
