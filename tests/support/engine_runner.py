"""Provides a real engine process for fault tests: ``python -m tests.support.engine_runner``.

``dutydesk serve`` runs the engine next to the HTTP endpoints; the fault tests need the engine
alone, with a few knobs: a short lease (a SIGKILLed holder is taken over quickly), a short
back-off after local errors, and a way to make the process run out of file descriptors while
it runs. :class:`EngineProcess` starts it; the process stops cleanly on SIGTERM/SIGINT
(:func:`console.engine.run_until_signalled`) and prints one JSON line to stdout whenever what
it would tell an officer changes (``state``, ``local_error``, ``sent``): stdout is opened before
any descriptor runs out, so the lines get out even then.

Out of descriptors on demand: while the file ``<control>.hog`` exists the process holds every
file descriptor it may still open (``RLIMIT_NOFILE`` is lowered to 256 at start so that takes a
moment); once ``<control>.free`` exists it gives them back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from store.db import connect
from tests.support.wait import wait_for

FILE_LIMIT = 256


def _hog(control: Path, stop: threading.Event) -> None:
    """Hold every free file descriptor while ``<control>.hog`` exists and ``.free`` does not."""
    hog_file, free_file = control.with_suffix(".hog"), control.with_suffix(".free")
    held: list[int] = []
    while not stop.wait(0.02):
        if not held and hog_file.exists() and not free_file.exists():
            try:
                while True:
                    held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                pass
            print(json.dumps({"hogging": len(held)}), flush=True)
        elif held and free_file.exists():
            for fd in held:
                os.close(fd)
            held.clear()
            print(json.dumps({"freed": True}), flush=True)


async def _main(args: argparse.Namespace) -> None:
    from console.config import load_config
    from console.engine import Engine, EngineOptions, run_until_signalled

    options = EngineOptions(
        tick_s=0.05,
        idle_s=0.1,
        lease_ttl=timedelta(seconds=args.lease_ttl),
        renew_s=args.lease_ttl / 3,
        local_retry_s=args.local_retry,
    )
    config = load_config(Path(args.config), must_exist=True)
    engine = Engine(Path(args.db), config, options=options)
    shown: dict[str, object] = {}

    async def report() -> None:
        while True:
            now = {"state": engine.state, "local_error": engine.local_error, "sent": engine.sent}
            if now != shown:
                shown.update(now)
                print(json.dumps(now), flush=True)
            await asyncio.sleep(0.02)

    reporter = asyncio.ensure_future(report())
    try:
        await run_until_signalled(engine)
    finally:
        reporter.cancel()
        print(json.dumps({"state": engine.state, "sent": engine.sent}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("config")
    parser.add_argument("--control", default=None)
    parser.add_argument("--lease-ttl", type=float, default=6.0)
    parser.add_argument("--local-retry", type=float, default=5.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, FILE_LIMIT), hard))
    stop = threading.Event()
    if args.control:
        threading.Thread(target=_hog, args=(Path(args.control), stop), daemon=True).start()
    try:
        asyncio.run(_main(args))
    finally:
        stop.set()


class EngineProcess:
    """The runner as a child process; its stdout (JSON lines) goes to ``out``."""

    def __init__(self, db: Path, config: Path, out: Path, *extra: str) -> None:
        self.db, self.config, self.out, self.extra = db, config, out, extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EngineProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "tests.support.engine_runner", str(self.db)]
        command += [str(self.config), *self.extra]
        with self.out.open("ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=out, env=env)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def lines(self) -> list[dict[str, object]]:
        found = []
        for line in self.out.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def holds_lease(self) -> bool:
        """Whether the lease row names this process (read from the database)."""
        db = connect(self.db)
        try:
            row = db.conn.execute("SELECT holder FROM engine_lease WHERE id = 1").fetchone()
        finally:
            db.close()
        return row is not None and f":{self.pid}:" in row[0]

    def wait_holding(self, timeout: float = 20.0) -> EngineProcess:
        def holding() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the engine exited: {self.out.read_text(errors='replace')}")
            return self.holds_lease()

        wait_for(holding, timeout, "the engine to hold the lease", 0.02)
        return self

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


if __name__ == "__main__":
    main()
