"""Provides :class:`LiveScreen`: the base of every screen that shows database state.

No database work runs on the UI thread. A live screen's ``load`` is a thread worker that calls
:meth:`LiveScreen.read_and_show`: the read runs under the app's database lock, the result is
handed to the UI thread, and an error becomes a notification instead of closing the console.
Writes go the same way (:meth:`LiveScreen.write`): one step under the lock in a worker, then a
notification of what it did, or why it could not, and every screen is told the data changed.

The app sends :class:`~console.tui.messages.DataChanged` to every screen on the stack whenever
this console, its engine or another process wrote. A live screen reads again at once when it
is the one shown (:meth:`LiveScreen.reread`), and otherwise once, when it is shown again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual import work
from textual.screen import Screen
from textual.worker import get_current_worker

from console.tui.i18n import translate_bindings
from console.tui.messages import DataChanged
from store.clock import Clock
from store.db import Database
from store.errors import DutydeskError
from store.i18n import _

if TYPE_CHECKING:
    from console.tui.app import DutydeskApp

T = TypeVar("T")

Step = Callable[[Database, Clock, str], str]
"""One write: ``step(db, clock, operator)`` returns what it did, in words (already translated)."""


class LiveScreen(Screen[None]):
    """Base of the screens that show database state; subclasses define ``load`` (a worker)."""

    READ_TITLE = ""
    """The title of this screen's notifications (a read or write failed, a write done): an
    English message id (marked with ``N_``), translated when shown."""

    def __init__(self) -> None:
        # Screens are imported when first opened, after the app put the keys of those it knew
        # in the current language: this screen's own, before Textual copies them below.
        translate_bindings()
        super().__init__()
        self._dirty = False

    @property
    def desk(self) -> DutydeskApp:
        return cast("DutydeskApp", self.app)

    # ---- reading ----------------------------------------------------------------------------

    def load(self) -> object:
        """Read and show all of this screen's data; subclasses make it a thread worker."""
        raise NotImplementedError(f"{type(self).__name__} defines no load()")

    def reread(self, *, own: bool) -> None:
        """The data changed while this screen is shown: read again (by default, everything).

        Args:
            own: this console (or its engine) wrote, rather than another process.
        """
        self.load()

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
        self.notify(str(exc), title=self._title(), severity="error", markup=False)

    def _title(self) -> str:
        # _("") would be the catalog's header: an empty title stays empty.
        return _(self.READ_TITLE) if self.READ_TITLE else ""

    def reread_every(self, seconds: float) -> None:
        """Read again every ``seconds`` while shown (when it comes back, if hidden then): for
        what changes with the time alone (deadlines pass, warnings expire, silence grows)."""
        self.set_interval(seconds, self._time_passed)

    def _time_passed(self) -> None:
        if self.is_current:
            self.time_passed()
        else:
            self._dirty = True

    def time_passed(self) -> None:
        """What a tick of :meth:`reread_every` reads: by default, everything."""
        self.load()

    def on_data_changed(self, message: DataChanged) -> None:
        if self.is_current:
            self.reread(own=message.own)
        else:
            self._dirty = True

    def on_screen_resume(self) -> None:
        if self._dirty:
            self._dirty = False
            self.load()

    # ---- writing ----------------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="write")
    def write(
        self,
        step: Step,
        after: Callable[[], object] | None = None,
        *,
        title: str | None = None,
        error_title: str | None = None,
    ) -> None:
        """Run one write ``step(db, clock, operator)`` under the lock; say what it did (the
        string it returns; nothing for ``""``) or why it could not.

        Args:
            step: the write; a :class:`~store.errors.DutydeskError` it raises is the notice.
            after: runs on the UI thread once the step succeeded (e.g. clear the note saved).
            title: the title of the notice of what it did (by default the screen's).
            error_title: the title of the notice of why it could not (by default the screen's).
        """
        ctx = self.desk.ctx
        try:
            with self.desk.db_lock:
                done = step(ctx.db, ctx.clock, ctx.operator)
        except DutydeskError as exc:
            self.app.call_from_thread(
                self.notify,
                str(exc),
                title=self._title() if error_title is None else error_title,
                severity="error",
                markup=False,
            )
            return
        except Exception as exc:  # a write that failed unexpectedly is still only a notice
            self.app.call_from_thread(
                self.notify,
                _("Write failed: {error}").format(error=exc),
                severity="error",
                markup=False,
            )
            return
        self.app.call_from_thread(self.written, done, after, title)

    def written(
        self, done: str, after: Callable[[], object] | None = None, title: str | None = None
    ) -> None:
        """On the UI thread, after a write: tell what was done, and every screen to re-read."""
        if after is not None:
            after()
        if done:  # "": the screen shows what was done
            self.notify(done, title=self._title() if title is None else title, markup=False)
        self.desk.announce_change(own=True)
