"""Provides ``Serve``, a real ``dutydesk serve`` child process, and what starting one needs.

``free_port()`` finds a free port on 127.0.0.1; ``write_config(tmp_path, port, sms={...})``
writes a configuration for that port with the given channels (the mobilization loop without
a pause between rounds) and a health token (``/healthz`` tells the engine's state only to its
holder); ``Serve(db, config, port, log).start()`` runs the command and returns once its engine
holds the lease (or is in the state asked for); ``Serve.health()`` is ``/healthz`` with the
token. ``Serve(..., limits={...})`` runs :func:`console.http.server.serve` with other
:class:`~console.http.limits.HttpLimits` (short deadlines for a test) instead of the command,
and ``nofile=N`` starts the child with a file limit of N.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx

from tests.support.wait import wait_for


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


HEALTH_TOKEN = "health-token"  # the token's file, beside the configuration


def write_config(
    tmp_path: Path, port: int, *, serve: dict[str, Any] | None = None, **channels: dict[str, Any]
) -> Path:
    """``tmp_path/config.toml`` serving on ``port``, with a ``[channels.NAME]`` per keyword.

    ``serve`` adds keys to ``[serve]`` (``None`` leaves one out). The health token is written
    to ``tmp_path/health-token`` (mode 0600, once per directory) and named in ``[serve]
    health_token_file``.
    """
    token = tmp_path / HEALTH_TOKEN
    if not token.exists():  # one token per directory: servers already running keep theirs
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24) + "\n")
    served = {"port": port, "health_token_file": HEALTH_TOKEN, **(serve or {})}
    lines = [
        "[serve]",
        *(f"{k} = {json.dumps(v)}" for k, v in served.items() if v is not None),
        "",
        "[mobilize]\ninterval_seconds = 0\n",
    ]
    for name, table in channels.items():
        lines.append(f"[channels.{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items())
        lines.append("")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def health_token(config: Path) -> str | None:
    """The token ``/healthz`` wants, from the file ``config`` names (``None`` if none)."""
    named = tomllib.loads(config.read_text("utf-8")).get("serve", {}).get("health_token_file")
    if named is None:
        return None
    path = Path(named) if Path(named).is_absolute() else config.parent / named
    return path.read_text("utf-8").strip()


_SERVE_WITH_LIMITS = """
import asyncio, json, sys
from pathlib import Path
from console.context import open_context
from console.http.limits import HttpLimits
from console.http.server import serve
db, config, port, limits = sys.argv[1:]
ctx = open_context(Path(db), Path(config))
asyncio.run(serve(ctx.db_path, ctx.config, host="127.0.0.1", port=int(port), clock=ctx.clock,
                  announce=lambda line: print(line, file=sys.stderr),
                  limits=HttpLimits(**json.loads(limits))))
"""


class Serve:
    """``dutydesk serve`` as a child process, its output appended to ``log``."""

    def __init__(
        self,
        db: Path,
        config: Path,
        port: int,
        log: Path,
        *,
        limits: dict[str, Any] | None = None,
        nofile: int | None = None,
    ) -> None:
        self.db, self.config, self.port, self.log = db, config, port, log
        self.limits, self.nofile = limits, nofile
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.token = health_token(config)

    def health(self, url: str | None = None) -> dict[str, Any]:
        """``GET /healthz`` with the health token (of this listener, or of ``url``)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        answer = httpx.get(f"{url or self.url}/healthz", headers=headers, timeout=5)
        return dict(answer.json())

    def _command(self) -> list[str]:
        if self.limits is not None:
            args = [str(self.db), str(self.config), str(self.port), json.dumps(self.limits)]
            return [sys.executable, "-c", _SERVE_WITH_LIMITS, *args]
        code = "import sys; from console.cli import main; main(sys.argv[1:])"
        args = ["--db", str(self.db), "--config", str(self.config), "serve"]
        return [sys.executable, "-c", code, *args, "--port", str(self.port)]

    def _limit_files(self) -> None:  # in the child, before it runs Python
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self, timeout: float = 20.0, until: str = "here") -> Serve:
        """Start it and wait until its engine state is ``until`` (``here``: it holds the lease).

        ``until="alive"``: until ``/healthz`` answers 200 without a token (no token configured).
        """
        if until != "alive":
            assert self.token is not None, "the configuration names no health token"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=log,
                env=env,
                preexec_fn=self._limit_files if self.nofile is not None else None,
            )
        self.proc = proc

        def engine_state_reached() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited with {proc.returncode}")
            try:
                if until == "alive":
                    return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
                health = self.health()
            except httpx.HTTPError:
                return False  # not listening yet: look again
            return bool(health.get("engine") == until)

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
