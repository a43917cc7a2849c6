"""Provides raw-socket HTTP clients for tests of the server's limits: slow, idle and many.

An HTTP library finishes its requests; these do not. ``connect(port)`` opens a plain socket;
``until_closed(sock, timeout)`` waits for the server to close it and says after how long
(sending ``trickle`` bytes now and then, as a slowloris client does); ``get(sock, path)`` sends
one whole request on a kept-alive socket and reads its response. :class:`Flood` holds many
connections open with half a request head each, reopening every one the server closes, from a
thread, until it is stopped.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time

PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: never complete


def connect(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    """A connected socket to ``host:port``, blocking with ``timeout``."""
    return socket.create_connection((host, port), timeout=timeout)


def until_closed(
    sock: socket.socket, timeout: float, *, trickle: bytes = b"", every: float = 0.25
) -> float:
    """Seconds until the peer closes ``sock`` (EOF or reset), sending ``trickle`` every ``every`` s.

    Raises:
        AssertionError: still open after ``timeout`` seconds.
    """
    start = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - start < timeout:
        try:
            if not sock.recv(65536):
                return time.monotonic() - start
        except TimeoutError:
            if trickle:
                try:
                    sock.sendall(trickle)
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic() - start
        except ConnectionResetError:
            return time.monotonic() - start
    raise AssertionError(f"the server kept the connection open for {timeout:g}s")


def get(sock: socket.socket, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One keep-alive ``GET path`` on ``sock``: its status and body (read by Content-Length)."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _colon, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


class Flood(threading.Thread):
    """``size`` connections to ``port``, each with half a request head, reopened when closed.

    ``opened`` counts every connection made, ``closed_by_server`` those the server closed; a
    connection still waiting to be accepted (the server's queue is full) simply waits.
    ``kept`` is how many were open after the last refill (``open_now`` at an arbitrary moment
    also counts those the server has just closed and the loop has not reopened yet).
    """

    def __init__(self, port: int, size: int, host: str = "127.0.0.1") -> None:
        super().__init__(name="test-flood", daemon=True)
        self.port, self.size, self.host = port, size, host
        self.opened = 0
        self.closed_by_server = 0
        self.open_now = 0
        self.kept = 0
        self._halt = threading.Event()
        self._selector = selectors.DefaultSelector()

    def __enter__(self) -> Flood:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def _open(self) -> None:
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((self.host, self.port))  # in progress: writable once connected
        self._selector.register(sock, selectors.EVENT_WRITE, "connecting")
        self.opened += 1
        self.open_now += 1

    def _drop(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        sock.close()
        self.open_now -= 1

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                while self.open_now < self.size:
                    self._open()
                self.kept = self.open_now
                for key, _events in self._selector.select(timeout=0.2):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data == "connecting":
                        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            self._drop(sock)  # refused or reset: try again
                            continue
                        with contextlib.suppress(OSError):
                            sock.send(PARTIAL_HEAD)
                        self._selector.modify(sock, selectors.EVENT_READ, "waiting")
                        continue
                    try:
                        data = sock.recv(4096)
                    except OSError:
                        data = b""
                    if not data:  # the server closed it (or answered and closed)
                        self.closed_by_server += 1
                        self._drop(sock)
        finally:
            for key in list(self._selector.get_map().values()):
                with contextlib.suppress(OSError):
                    key.fileobj.close()  # type: ignore[union-attr]
            self._selector.close()
