"""Provides :class:`LiveScreen`: a screen that reads in a worker and re-reads when data changes.

The app sends ``IncidentsChanged`` to every screen on the stack whenever this console, another
process or the engine wrote. A live screen re-reads at once when it is the one shown, and
otherwise once, when it is shown again. Its ``load`` is a thread worker that calls
:meth:`LiveScreen.read_and_show`: the read runs under the app's database lock, the result is
handed to the UI thread, and an error becomes a notification instead of closing the console.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import Screen
from textual.worker import get_current_worker

from console.messages import IncidentsChanged
from store.i18n import _

if TYPE_CHECKING:
    from console.app import DutydeskApp

T = TypeVar("T")


class LiveScreen(Screen[None]):
    """Base of the screens that show database state; subclasses define ``load`` (a worker)."""

    READ_TITLE = ""
    """The title of the notification when a read fails: an English message id (marked with
    ``N_``), translated when shown."""

    def __init__(self) -> None:
        super().__init__()
        self._dirty = False

    @property
    def desk(self) -> DutydeskApp:
        return cast("DutydeskApp", self.app)

    def load(self) -> object:
        """Read and show this screen's data; subclasses make it a thread worker."""
        raise NotImplementedError(f"{type(self).__name__} defines no load()")

    def read_and_show(self, read: Callable[[], T], show: Callable[[T], object]) -> None:
        """From a thread worker: ``read()`` under the database lock, then ``show`` it."""
        try:
            with self.desk.db_lock:
                result = read()
        except Exception as exc:  # a locked or missing database must not close the console
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self.read_failed, exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(show, result)

    def read_failed(self, exc: Exception) -> None:
        # _("") would be the catalog's header: an empty title stays empty.
        title = _(self.READ_TITLE) if self.READ_TITLE else ""
        self.notify(str(exc), title=title, severity="error", markup=False)

    def on_incidents_changed(self, message: IncidentsChanged) -> None:
        if self.is_current:
            self.load()
        else:
            self._dirty = True

    def on_screen_resume(self) -> None:
        if self._dirty:
            self._dirty = False
            self.load()
