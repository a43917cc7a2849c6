"""Provides ``wait_for``: the one way a test waits for something, on a condition with a deadline.

Tests never sleep a fixed time and hope: they poll what they expect (``check`` returns a truthy
value once it holds) and fail with ``what`` when it does not hold in time. To prove something
does *not* happen, wait for a positive sign that the moment it would have happened has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T], timeout: float = 15.0, what: str = "condition", interval: float = 0.05
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    Raises:
        AssertionError: ``check`` stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


async def wait_until(
    check: Callable[[], T], within: float = 15.0, what: str = "condition", interval: float = 0.02
) -> T:
    """:func:`wait_for` inside a running event loop: the loop runs (an engine task, a server)
    between the checks instead of being blocked by them.

    Raises:
        AssertionError: ``check`` stayed falsy for ``within`` seconds.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(interval)
