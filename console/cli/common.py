"""Provides what every command module shares: the global options' state, JSON, one-line errors.

:class:`State` holds ``--db``/``--config``/``--as`` and opens the context on first use (so
``--help`` opens nothing); ``pass_state`` hands it to a command. :data:`ROW_ID`,
:func:`parse_time` and :func:`parse_date` read ids, times and dates so that an absurd value
(``99999999999999999999``, ``+999999999d``, year 0001 or 9999) is one line naming the option
and exit code 2, never an overflow deep in the datetime or SQLite code.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click

from console.context import Context, open_context
from console.timefmt import EARLIEST, LATEST, out_of_range, parse_when
from store.errors import InvalidInput
from store.i18n import _
from store.text import clean_text

MAX_ROW_ID = 2**63 - 1  # SQLite's largest INTEGER
ROW_ID = click.IntRange(1, MAX_ROW_ID)
"""The click type of an option or argument that names a row by id."""


def parse_time(text: str, now: datetime, zone: ZoneInfo, field: str) -> datetime:
    """:func:`console.timefmt.parse_when`: refuses what overflows or lies outside 1970-2199.

    Raises:
        InvalidInput: naming ``field``: not a time, or out of range.
    """
    return parse_when(text, now, zone, field)


def parse_date(text: str, field: str) -> date:
    """A ``YYYY-MM-DD`` date between 1970 and 2199.

    Raises:
        InvalidInput: naming ``field``.
    """
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            _("{text!r} is not a date; use YYYY-MM-DD").format(text=text), field
        ) from exc
    if not EARLIEST.date() <= day < LATEST.date():
        raise out_of_range(text, field)
    return day


class State:
    """Global options, and the context opened on first use (so ``--help`` opens nothing)."""

    def __init__(self, db: Path | None, config: Path | None, operator: str | None) -> None:
        self.db = db
        self.config = config
        self.operator = operator
        self.config_required = False
        # The console checks the configuration's deferred sections after its first frame.
        self.deferred_sections = False
        self._ctx: Context | None = None

    @property
    def ctx(self) -> Context:
        """The context, opened on first use; a malformed ``--as`` is refused before anything.

        Raises:
            InvalidInput: ``--as`` holds a control character or is over-long.
        """
        if self._ctx is None:
            if self.operator is not None:
                self.operator = clean_text(self.operator, "--as", kind="operator")
            self._ctx = open_context(
                self.db,
                self.config,
                self.operator,
                config_required=self.config_required,
                deferred_sections=self.deferred_sections,
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
