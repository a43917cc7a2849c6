"""Provides ``Terminal``: a real command in a real terminal (a detached tmux session) to drive.

``Terminal(command, env)`` starts the command at 120x36 with exactly the given environment
variables on top of tmux's; ``keys`` types, ``screen`` reads the pane as text, ``wait_for``
waits (with a deadline) until the screen matches a pattern, ``click`` clicks what the screen
shows, ``pane_pid`` names the process.
Used by the terminal test (``tests/e2e/test_terminal.py``) and the console benchmark
(``bench/console.py``). ``TMUX`` is the tmux executable, ``None`` when it is not installed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import uuid

from rich.cells import cell_len

from tests.support.wait import wait_for

TMUX = shutil.which("tmux")

# Inherited from a test runner, these would override the terminal's real size or the locale
# the caller chose in ``env``.
_UNSET = ("COLUMNS", "LINES", "LANGUAGE", "LC_ALL", "LC_MESSAGES")


class Terminal:
    """One detached tmux session running one command."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        *,
        size: tuple[int, int] = (120, 36),
        prefix: str = "dd",
    ) -> None:
        if TMUX is None:
            raise RuntimeError("tmux is not installed")
        self.tmux = TMUX
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        unset = " ".join(f"-u {name}" for name in _UNSET)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        shell = f"env {unset} {exports} {shlex.join(command)}"
        width, height = size
        subprocess.run(
            [self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height)]
            + [shell],
            check=True,
        )

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def screen(self) -> str:
        """The pane's text as it shows now."""
        return subprocess.run(
            [self.tmux, "capture-pane", "-t", self.name, "-p"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def keys(self, *keys: str) -> None:
        """Type ``keys`` (tmux key names: ``"Escape"``, ``"q"``...)."""
        subprocess.run([self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def click(self, pattern: str, *, rows_above: int = 0) -> None:
        """Click the first place the screen shows ``pattern`` (``re.search``; its first group
        when it has one), or ``rows_above`` that many rows higher, as a mouse would
        (an SGR mouse press and release, which the console asks the terminal for).

        Raises:
            AssertionError: the screen does not show ``pattern``.
        """
        for row, line in enumerate(self.screen().splitlines()):
            found = re.search(pattern, line)
            if found:
                column = cell_len(line[: found.start(1 if found.re.groups else 0)]) + 1
                y = row + 1 - rows_above
                press = f"\x1b[<0;{column};{y}M\x1b[<0;{column};{y}m"
                subprocess.run([self.tmux, "send-keys", "-t", self.name, "-l", press], check=True)
                return
        raise AssertionError(f"nothing on the screen matches {pattern!r}:\n{self.screen()}")

    def pane_pid(self) -> int:
        """The process id of the command in the pane."""
        out = subprocess.run(
            [self.tmux, "display-message", "-p", "-t", self.name, "#{pane_pid}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return int(out.strip())

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The screen, once it matches ``pattern`` (``re.search``).

        Raises:
            AssertionError: it did not within ``timeout`` seconds; the message shows the screen.
        """
        shown = ""

        def matches() -> str:
            nonlocal shown
            shown = self.screen()
            return shown if re.search(pattern, shown) else ""

        try:
            return wait_for(matches, timeout, repr(pattern), interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen showed:\n{shown}") from None

    def close(self) -> None:
        """End the session (nothing to do when the command quit and took it along)."""
        subprocess.run(
            [self.tmux, "kill-session", "-t", self.name], check=False, capture_output=True
        )
