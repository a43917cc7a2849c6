"""Provides what every command module shares: the global options' state, JSON, one-line errors.

:class:`State` holds ``--db``/``--config``/``--as`` and opens the context on first use (so
``--help`` opens nothing); ``pass_state`` hands it to a command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from console.context import Context, open_context


class State:
    """Global options, and the context opened on first use (so ``--help`` opens nothing)."""

    def __init__(self, db: Path | None, config: Path | None, operator: str | None) -> None:
        self.db = db
        self.config = config
        self.operator = operator
        self.config_required = False
        self._ctx: Context | None = None

    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            self._ctx = open_context(
                self.db, self.config, self.operator, config_required=self.config_required
            )
        return self._ctx

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()


pass_state = click.make_pass_decorator(State)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"dutydesk: {message}", err=True)
    sys.exit(code)
