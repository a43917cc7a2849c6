"""Fixtures of the end-to-end tests: a real SMS gateway and real ``dutydesk serve`` processes.

``gateway`` is a deduplicating :class:`tests.support.gateway.Gateway` on 127.0.0.1;
``serve_factory(db, config, port)`` makes a :class:`tests.support.serve.Serve` (not started
yet) and stops every one it made when the test ends. The small town (``town_db``) comes from
:mod:`tests.support.town`, registered for every directory by ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway
from tests.support.serve import Serve


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway(dedupe=True) as gw:
        yield gw


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def make(db: Path, config: Path, port: int) -> Serve:
        server = Serve(db, config, port, tmp_path / "serve.log")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
