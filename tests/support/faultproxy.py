"""Provides :class:`FaultProxy`: a real HTTP proxy on 127.0.0.1 whose faults a test switches.

It stands where a provincial gateway or a reverse proxy would, between a unit's drain and its
hub: every request it receives is forwarded byte for byte (method, path and query, headers
but the hop-by-hop ones, body) to ``target`` with httpx, and the hub's status, headers and
body are copied back. What it does instead is a :class:`Fault`, switched while it runs:

* ``PASS`` — forward and answer (the default);
* ``DROP`` — read the request, close the connection without a byte of answer;
* ``delay(s)`` — wait ``s`` seconds, then forward and answer (the request still reaches the
  hub after a client gave up waiting: a late ingestion);
* ``status(500)``, ``status(429, retry_after=2)`` — answer that status (and ``Retry-After``)
  without forwarding; ``status(502, forward=True)`` forwards first (the hub stores the batch,
  the client hears an error);
* ``HANG`` — never answer, until the fault is switched (then the connection is closed) or
  the client hangs up;
* ``CUT`` — forward (so the hub DOES ingest), then send the answer's head and half of its
  body and close: the client sees a broken answer for a batch that was stored, the classic
  exactly-once trap;
* ``DOWN`` — stop listening: the port refuses connections, open ones are reset. ``set(DOWN)``
  stays down until the next ``set``; ``down(s)`` in a schedule comes back after ``s`` seconds.

``set(fault)`` switches the standing fault; ``schedule([...])`` queues faults consumed one per
request (``path=``: per request to that path; then the standing fault applies again).
``counts`` holds the requests seen per fault label and ``seen`` every request (times, path,
bodies, the fault, the status answered), so a test can show, for instance, that no request
came before a ``Retry-After`` ran out. An upstream that cannot be reached is answered 502 (504
when it does not answer within ``upstream_timeout``), as a gateway would.

The proxy runs an asyncio loop in a daemon thread; every public method is thread-safe and
waits on conditions, never a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# Headers that describe one hop, not the message: never forwarded either way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
GATEWAY_HEADER = "x-fault-proxy"  # on the proxy's own 502/504 answers
MAX_HEAD = 64 * 1024  # request line and headers
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, repr=False)
class Fault:
    """What the proxy does with one request (see the module docstring); its repr is the
    expression that makes it (``status(429, retry_after=2)``), as hypothesis prints it."""

    kind: str  # pass | drop | delay | status | hang | cut | down
    seconds: float = 0.0  # delay: before forwarding; down: how long (0: until switched)
    status: int = 0
    retry_after: int | None = None
    forward: bool = False  # status: forward to the hub first

    @property
    def label(self) -> str:
        """The key of :attr:`FaultProxy.counts`: ``pass``, ``status_429``, ``cut``..."""
        return f"status_{self.status}" if self.kind == "status" else self.kind

    def __str__(self) -> str:
        if self.kind == "delay":
            return f"delay({self.seconds:g})"
        if self.kind == "down" and self.seconds:
            return f"down({self.seconds:g})"
        if self.kind == "status":
            extra = f", retry_after={self.retry_after}" if self.retry_after is not None else ""
            extra += ", forward=True" if self.forward else ""
            return f"status({self.status}{extra})"
        return self.kind.upper()

    __repr__ = __str__


PASS = Fault("pass")
DROP = Fault("drop")
HANG = Fault("hang")
CUT = Fault("cut")
DOWN = Fault("down")


def delay(seconds: float) -> Fault:
    return Fault("delay", seconds=seconds)


def status(code: int, retry_after: int | None = None, *, forward: bool = False) -> Fault:
    return Fault("status", status=code, retry_after=retry_after, forward=forward)


def down(seconds: float) -> Fault:
    """Stop listening for ``seconds`` (a schedule's outage; ``DOWN`` lasts until switched)."""
    return Fault("down", seconds=seconds)


@dataclass
class Seen:
    """One request as the proxy handled it."""

    method: str
    path: str
    fault: Fault
    at: float  # time.monotonic() when its head was read
    key: str | None  # its Idempotency-Key
    body: bytes = b""  # the request's body
    answered_at: float | None = None  # when the answer (or the breaking of it) was written
    status: int | None = None  # the status the client was sent (None: none, or a broken one)
    upstream: int | None = None  # what the hub answered, when it was asked
    upstream_headers: dict[str, str] = field(default_factory=dict)  # its headers (lower case)
    upstream_body: bytes = b""  # and its body

    def json(self) -> Any:
        """The request's body as JSON (``None`` when it has none)."""
        return json.loads(self.body) if self.body else None

    def answer(self) -> Any:
        """What the hub answered, as JSON (``None`` when it was not asked or said nothing)."""
        return json.loads(self.upstream_body) if self.upstream_body else None


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    close: bool = False  # the client asked to close after this one

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass
class _Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def encode(self, close: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        for key, value in self.headers:
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                lines.append(f"{key}: {value}")
        lines.append(f"content-length: {len(self.body)}")
        lines.append(f"connection: {'close' if close else 'keep-alive'}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class _BadRequest(Exception):
    """The client's request could not be read as HTTP/1.1 (the proxy answers 400)."""


class FaultProxy:
    """The proxy; use as a context manager or ``start()``/``stop()``.

    Args:
        target: the base URL requests are forwarded to (``http://127.0.0.1:PORT``).
        upstream_timeout: seconds the hub may take before the proxy answers 504.
    """

    def __init__(self, target: str, *, upstream_timeout: float = 30.0) -> None:
        self.target = target.rstrip("/")
        self.upstream_timeout = upstream_timeout
        self.port = 0
        self._lock = threading.Lock()
        self._fault = PASS
        self._schedules: dict[str | None, deque[Fault]] = {None: deque()}  # by path
        self.counts: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()  # one per open connection
        self._switched: asyncio.Event | None = None  # set when the standing fault changes
        self._back: asyncio.TimerHandle | None = None
        self._up = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._close())
                loop.close()

        self._thread = threading.Thread(target=main, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise AssertionError("the fault proxy did not start within 10 s")
        if failure:
            raise failure[0]
        return self

    async def _open(self) -> None:
        self._switched = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.upstream_timeout),
            # A new upstream connection per request: a hub that was killed and restarted
            # never meets a stale pooled connection (which would be a fault of our making).
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, "127.0.0.1", self.port, reuse_address=True, limit=MAX_HEAD
        )
        if not self.port:
            self.port = int(self._server.sockets[0].getsockname()[1])
        self._up.set()

    async def _unlisten(self) -> None:
        self._up.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as when the machine goes away
        self._writers.clear()

    async def _close(self) -> None:
        if self._back is not None:
            self._back.cancel()
        await self._unlisten()
        if self._switched is not None:
            self._switched.set()
        # The connections were reset: their tasks end on their own (a task cancelled while
        # it reads trips asyncio 3.11's stream callback); only one stuck upstream is cancelled.
        if self._tasks:
            _done, stuck = await asyncio.wait(list(self._tasks), timeout=5)
            for task in stuck:
                task.cancel()
        if self._client is not None:
            await self._client.aclose()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- switching ------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, None], timeout: float = 10.0) -> None:
        assert self._loop is not None, "the proxy is not running"
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def set(self, fault: Fault) -> None:
        """Switch the standing fault; returns once the proxy acts on it (``DOWN``: the port
        refuses connections; from ``DOWN`` to anything else: it listens again)."""
        self._run(self._switch(fault))

    async def _switch(self, fault: Fault) -> None:
        with self._lock:
            self._fault = fault
        if self._back is not None:
            self._back.cancel()
            self._back = None
        assert self._switched is not None
        self._switched.set()  # hanging requests let go
        self._switched = asyncio.Event()
        if fault.kind == "down":
            await self._unlisten()
            if fault.seconds:
                self._come_back_after(fault.seconds)
        elif self._server is None:
            await self._listen()

    def _come_back_after(self, seconds: float) -> None:
        assert self._loop is not None

        def back() -> None:
            self._back = None
            if self._server is None:
                asyncio.ensure_future(self._listen())

        self._back = self._loop.call_later(seconds, back)

    def schedule(self, faults: Iterable[Fault], *, path: str | None = None) -> None:
        """Queue faults for the next requests (to ``path`` only, when given), one each; then
        the standing fault applies again."""
        with self._lock:
            self._schedules.setdefault(path, deque()).extend(faults)

    @property
    def scheduled(self) -> int:
        """Faults of the schedules not consumed yet."""
        with self._lock:
            return sum(len(queue) for queue in self._schedules.values())

    def clear_schedule(self) -> None:
        with self._lock:
            for queue in self._schedules.values():
                queue.clear()

    @property
    def fault(self) -> Fault:
        with self._lock:
            return self._fault

    def listening(self) -> bool:
        return self._up.is_set()

    def requests(self, path: str | None = None, method: str | None = None) -> list[Seen]:
        """The requests seen so far (those to ``path`` with ``method``, when given)."""
        with self._lock:
            return [
                s
                for s in self.seen
                if (path is None or s.path.split("?")[0] == path)
                and (method is None or s.method == method)
            ]

    def _next(self, request: _Request) -> Seen:
        with self._lock:
            queue = self._schedules.get(request.target.split("?")[0])
            if not queue:
                queue = self._schedules[None]
            fault = queue.popleft() if queue else self._fault
            self.counts[fault.label] += 1
            key = request.header("idempotency-key")
            seen = Seen(request.method, request.target, fault, time.monotonic(), key, request.body)
            self.seen.append(seen)
            return seen

    # --- serving --------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except _BadRequest:
                    writer.write(_Answer(400, "Bad Request").encode(close=True))
                    await writer.drain()
                    return
                if request is None:
                    return
                seen = self._next(request)
                if not await self._handle(request, seen, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _handle(
        self,
        request: _Request,
        seen: Seen,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Act out ``seen.fault``; True: the connection stays open for the next request."""
        fault = seen.fault
        if fault.kind == "drop":
            seen.answered_at = time.monotonic()
            return False
        if fault.kind == "down":
            await self._unlisten()
            if fault.seconds:
                self._come_back_after(fault.seconds)
            seen.answered_at = time.monotonic()
            return False
        if fault.kind == "hang":
            assert self._switched is not None
            switched = asyncio.ensure_future(self._switched.wait())
            hung_up = asyncio.ensure_future(reader.read(1))
            await asyncio.wait([switched, hung_up], return_when=asyncio.FIRST_COMPLETED)
            for task in (switched, hung_up):
                task.cancel()
            seen.answered_at = time.monotonic()
            return False
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        if fault.kind == "status":
            if fault.forward:
                _note(seen, await self._forward(request))
            headers = [("content-type", "application/json")]
            if fault.retry_after is not None:
                headers.append(("retry-after", str(fault.retry_after)))
            body = json.dumps({"error": f"fault proxy: HTTP {fault.status}"}).encode()
            answer = _Answer(fault.status, "Fault", headers, body)
        else:
            answer = await self._forward(request)
            _note(seen, answer)
        raw = answer.encode(close=request.close)
        if fault.kind == "cut":
            head = len(raw) - len(answer.body)
            writer.write(raw[: head + len(answer.body) // 2] if answer.body else raw[: head // 2])
            await writer.drain()
            seen.answered_at = time.monotonic()
            return False
        writer.write(raw)
        await writer.drain()
        seen.answered_at = time.monotonic()
        seen.status = answer.status
        return not request.close

    async def _forward(self, request: _Request) -> _Answer:
        """The hub's answer to ``request``, byte for byte (502/504 when it cannot be had)."""
        assert self._client is not None
        headers = [
            (k, v)
            for k, v in request.headers
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("host", "content-length")
        ]
        upstream = self._client.build_request(
            request.method, self.target + request.target, headers=headers, content=request.body
        )
        try:
            response = await self._client.send(upstream, stream=True)
            try:
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return _gateway_error(504, "upstream timed out")
        except httpx.HTTPError as exc:
            return _gateway_error(502, f"upstream failed: {type(exc).__name__}")
        return _Answer(
            response.status_code,
            response.reason_phrase or "-",
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
            body,
        )

    # --- waiting --------------------------------------------------------------------------

    def wait_requests(
        self, n: int, *, path: str | None = None, timeout: float = 15.0, labels: Sequence[str] = ()
    ) -> list[Seen]:
        """Wait until ``n`` requests (to ``path``; with a fault among ``labels``) were seen."""
        from tests.support.wait import wait_for

        def enough() -> list[Seen]:
            found = [s for s in self.requests(path) if not labels or s.fault.label in labels]
            return found if len(found) >= n else []

        what = f"{n} requests" + (f" to {path}" if path else "")
        return wait_for(enough, timeout, what + " at the fault proxy")


def _note(seen: Seen, answer: _Answer) -> None:
    if (GATEWAY_HEADER, "upstream failed") in answer.headers:
        return  # the hub was not reached: nothing to note of it
    seen.upstream = answer.status
    seen.upstream_headers = {k.lower(): v for k, v in answer.headers}
    seen.upstream_body = answer.body


def _gateway_error(code: int, message: str) -> _Answer:
    body = json.dumps({"error": f"fault proxy: {message}"}).encode()
    reason = "Bad Gateway" if code == 502 else "Gateway Timeout"
    headers = [("content-type", "application/json"), (GATEWAY_HEADER, "upstream failed")]
    return _Answer(code, reason, headers, body)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """The next request on the connection, or ``None`` at its end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise
    except asyncio.LimitOverrunError as exc:
        raise _BadRequest("head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise _BadRequest(lines[0]) from exc
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(line)
        headers.append((name.strip(), value.strip()))
    request = _Request(method, target, version, headers, b"")
    connection = (request.header("connection") or "").lower()
    request.close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
    if (request.header("transfer-encoding") or "").lower() == "chunked":
        request.body = await _read_chunked(reader)
    else:
        given = request.header("content-length") or "0"
        length = int(given) if given.isdigit() else -1
        if not 0 <= length <= MAX_BODY:
            raise _BadRequest("content-length")
        request.body = await reader.readexactly(length)
    return request


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError as exc:
            raise _BadRequest("chunk size") from exc
        if size == 0:
            trailer = await reader.readuntil(b"\r\n")
            while trailer != b"\r\n":  # trailer fields, read and dropped, up to the blank line
                trailer = await reader.readuntil(b"\r\n")
            return b"".join(parts)
        total += size
        if total > MAX_BODY:
            raise _BadRequest("body too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


__all__ = [
    "CUT",
    "DOWN",
    "DROP",
    "HANG",
    "PASS",
    "Fault",
    "FaultProxy",
    "Seen",
    "delay",
    "down",
    "status",
]
