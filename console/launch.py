"""Provides the ``dutydesk`` script's entry point: no garbage collection while the process starts.

Starting allocates what lives as long as the process: modules, classes, functions, the
configuration, the console's first screen. CPython's cyclic collector still runs every 700 new
container objects and walks them, finding nothing to free: ~25 ms of the console's start on
this machine kind, more than a tenth of what dutydesk adds to Textual's own (PITFALLS.md).

So the script turns the collector off before its first import (:func:`starting`) and the work
turns it back on (:func:`started`): a command when it begins (:func:`console.cli.main.cli`), the
console once its first frame is painted (:class:`console.tui.app.DutydeskApp`). What start made
is frozen then (:func:`gc.freeze`): no later collection walks it again, and the first one after
the first frame does not pay for the whole start at once.
"""

from __future__ import annotations

import gc


def starting() -> None:
    """The process begins: no cyclic collection until :func:`started`."""
    gc.disable()


def started() -> None:
    """Start is over: freeze what it made and collect as usual (nothing to do when the
    collector is on, as in tests and in commands run from Python)."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()


def main() -> None:
    """The ``dutydesk`` script (``pyproject.toml``): :func:`console.cli.main` started lean."""
    starting()
    from console.cli import main as run

    run()
