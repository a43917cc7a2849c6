"""Provides ``Serve``, a real ``dutydesk serve`` child process, and what starting one needs.

``free_port()`` finds a free port on 127.0.0.1; ``write_config(tmp_path, port, sms={...})``
writes a configuration for that port with the given channels (the mobilization loop without
a pause between rounds); ``Serve(db, config, port, log).start()`` runs the command and returns
once its engine holds the lease (or is in the state asked for).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.wait import wait_for


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, port: int, **channels: dict[str, Any]) -> Path:
    """``tmp_path/config.toml`` serving on ``port``, with a ``[channels.NAME]`` per keyword."""
    lines = [f"[serve]\nport = {port}\n", "[mobilize]\ninterval_seconds = 0\n"]
    for name, table in channels.items():
        lines.append(f"[channels.{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items())
        lines.append("")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Serve:
    """``dutydesk serve`` as a child process, its output appended to ``log``."""

    def __init__(self, db: Path, config: Path, port: int, log: Path) -> None:
        self.db, self.config, self.port, self.log = db, config, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 20.0, until: str = "here") -> Serve:
        """Start it and wait until its engine state is ``until`` (``here``: it holds the lease)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        code = "import sys; from console.cli import main; main(sys.argv[1:])"
        args = [
            "--db",
            str(self.db),
            "--config",
            str(self.config),
            "serve",
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", code, *args], stdout=log, stderr=log, env=env
            )
        self.proc = proc

        def engine_state_reached() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited with {proc.returncode}")
            try:
                health = httpx.get(f"{self.url}/healthz", timeout=1).json()
            except httpx.HTTPError:
                return False  # not listening yet: look again
            return bool(health["engine"] == until)

        try:
            wait_for(engine_state_reached, timeout, f"serve's engine to be {until!r}", 0.1)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; its log:\n{self.log.read_text(errors='replace')}"
            ) from None
        return self

    def kill(self) -> None:
        """SIGKILL: the process dies without releasing its lease."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 15 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
