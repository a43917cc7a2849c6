"""Provides the messages the console's screens and workers send each other.

They are past-tense events: something happened (a case was logged, a page was read), and
whoever cares reacts. Thread workers use them to hand results back to the UI thread, so no
worker touches a widget.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from incidents.models import Incident
from incidents.supervision import Counts


@dataclass
class IncidentsChanged(Message, bubble=False):
    """The incident data changed: our own write, another process, or the engine's sweep.

    The app sends it to every screen on the stack; it does not bubble back up.

    Attributes:
        own: the change was written by this console (refresh everything at once).
    """

    own: bool = False


@dataclass
class IncidentLogged(Message):
    """A new case was logged from this console."""

    incident_id: int
    number: str


@dataclass
class IncidentUpdated(Message):
    """A case took a step (or got a note, task, extension...) from this console."""

    incident_id: int
    action: str


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
