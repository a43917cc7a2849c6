"""Provides the messages the console's screens and workers send each other.

They are past-tense events: something happened (the data changed, a page was read), and
whoever cares reacts. Thread workers use them to hand results back to the UI thread, so no
worker touches a widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from incidents.models import Incident
    from incidents.supervision import Counts
    from reports.notices import Notice


@dataclass
class DataChanged(Message, bubble=False):
    """The data changed: any write of this console (cases, people, roster, mobilizations...),
    of another process, or of the engine's timers.

    The app sends it to every screen on the stack; it does not bubble back up.

    Attributes:
        own: the change was written by this console or its engine (refresh everything at once).
    """

    own: bool = False


@dataclass
class IncidentOpened(Message):
    """The duty officer asked to see one case in detail."""

    incident_id: int


@dataclass
class PageLoaded(Message):
    """A refresh worker read a page of the incidents table.

    Attributes:
        token: the reload the page was read for; pages of an older reload are dropped.
        items: the cases, in deadline order.
        next_after: the keyset key of the next page, ``None`` at the end.
        append: ``True`` for a further page, ``False`` for a reload from the top.
    """

    token: int
    items: list[Incident]
    next_after: tuple[str, int] | None
    append: bool


@dataclass
class CountsLoaded(Message):
    """The open/overdue/supervised/parked counts were read."""

    counts: Counts


@dataclass
class LoadFailed(Message):
    """A refresh worker could not read (e.g. a search with no searchable word)."""

    error: str


@dataclass
class EngineStateChanged(Message):
    """The engine took the lease (``here``), saw another holder (``elsewhere``) or stopped."""

    state: str


@dataclass
class EngineWrote(Message):
    """The engine's sweep changed cases (supervised, reminded): screens refresh at once."""


@dataclass
class DatabasePolled(Message):
    """The app's poll worker looked at the database.

    Attributes:
        changed: another connection committed something the screens show.
        notices: what to tell the officer about it (new reports, answers, overdue cases).
    """

    changed: bool
    notices: list[Notice]
