"""Provides :class:`SmtpServer`, a real SMTP server on 127.0.0.1 that records what it receives.

``with SmtpServer() as smtp:`` starts aiosmtpd in its own thread; point a sender at
``smtp.host``/``smtp.port`` and read ``smtp.received`` (envelope and parsed message). Addresses
in ``reject`` are refused at ``RCPT TO`` with 550.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.owner.reject:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        message = message_from_bytes(content, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        with self.owner._lock:
            self.owner._received.append(
                ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on a free port of 127.0.0.1, recording every message."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.reject: set[str] = set()
        self._lock = threading.Lock()
        self._received: list[ReceivedMail] = []
        self.port = _free_port()
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="dutydesk-test",
            ready_timeout=10,
        )

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
