"""Provides :func:`open_with_viewer`: hand a file to the system's viewer, detached.

``xdg-open`` on Linux (only with a display: ``DISPLAY`` or ``WAYLAND_DISPLAY``), ``open`` on
macOS, :func:`os.startfile` on Windows. The viewer is started on its own, its output thrown
away, and the console does not wait for it. When there is no viewer (no display, no
``xdg-open``) the caller tells the officer the file's path instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def viewer_command(platform: str = sys.platform) -> list[str] | None:
    """The command that opens a file on ``platform`` (before the file's path); ``None`` when
    there is none here (Windows uses :func:`os.startfile`, not a command)."""
    if platform == "darwin":
        return ["open"] if shutil.which("open") else None
    if platform.startswith("win"):
        return None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    found = shutil.which("xdg-open")
    return [found] if found else None


def open_with_viewer(path: Path) -> bool:
    """Open ``path`` with the system's viewer, detached; ``False`` when no viewer took it."""
    if sys.platform.startswith("win"):
        startfile = getattr(os, "startfile", None)
        if startfile is None:
            return False
        try:
            startfile(str(path))
        except OSError:
            return False
        return True
    command = viewer_command()
    if command is None:
        return False
    try:
        subprocess.Popen(  # noqa: S603 - a fixed program and a path we wrote
            [*command, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return False
    return True
