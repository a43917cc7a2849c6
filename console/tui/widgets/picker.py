"""Provides :class:`Picker`: a text field that completes grids, teams, the office and people.

The officer types a name, a code, full pinyin or its initials (``xf`` → 消防志愿队, ``lj`` →
刘静) and picks from the list that opens below the field; nobody types ``grid:G01``. The
matching is :mod:`contacts.directory`'s, so the console finds what ``--to`` finds on the
command line.

Keys, while the field has focus: up/down move through the list; enter takes the highlighted
entry and submits the field (the dialog it sits in saves); tab takes it and moves on; escape
closes the list (a second escape reaches the dialog). A click on an entry takes it.

Use it in any dialog::

    yield Picker(db, kinds=("person",), people=duty_ids, id="handover-to")
    ...
    target = self.query_one("#handover-to", Picker).value  # Target | None

``value`` is the :class:`~contacts.directory.Target` taken (``None`` until one is); a
:class:`Picker.Picked` message is posted whenever one is taken, and :meth:`Picker.clear`
empties the field (to pick several, one after the other). The directory is read once, in a
thread worker under the app's database lock when the app has one (``db_lock``); ranking then
runs in a worker on each change (10,000 people rank in tens of milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from contacts.directory import (
    HOMOPHONE,
    KINDS,
    Candidate,
    Entry,
    Target,
    entries,
    kind_label,
    match,
)
from store.db import Database
from store.i18n import _

LIMIT = 20  # entries shown at most; typing more narrows them


class PickerInput(Input):
    """The picker's field: the keys that move through and take from the list."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
        Binding("tab", "complete", show=False),
        Binding("escape", "close_list", show=False),
    ]

    @property
    def picker(self) -> Picker:
        parent = self.parent
        assert isinstance(parent, Picker)
        return parent

    def action_move(self, step: int) -> None:
        if not self.picker.move(step):
            raise SkipAction()

    def action_complete(self) -> None:
        if not self.picker.take_highlighted():
            raise SkipAction()

    def action_close_list(self) -> None:
        if not self.picker.close_list():
            raise SkipAction()

    async def action_submit(self) -> None:
        self.picker.take_highlighted(submitting=True)
        await super().action_submit()


class PickerList(OptionList, can_focus=False):
    """The completion list under the field (focus stays in the field)."""


@dataclass
class _Shown:
    """What the list shows: the candidates for ``query``."""

    query: str
    found: list[Candidate]


class Picker(Widget):
    """A field with a completion list of targets: Chinese, pinyin, initials and codes.

    Args:
        db: the database (read in a worker, under the app's ``db_lock`` when it has one).
        kinds: the kinds offered, some of :data:`contacts.directory.KINDS`.
        people: only these people (ids); ``None``: every active person.
        offices: the office names of the policy (for ``office`` targets).
        value: the target to start with (a :class:`Target` or its written form, ``grid:G01``).
        placeholder: the hint in the empty field (a default one names what may be typed).
    """

    DEFAULT_CSS = """
    Picker {
        height: auto;
        & > PickerList {
            display: none;
            max-height: 8;
            border: round $primary 50%;
            padding: 0 1;
        }
        &.-open > PickerList { display: block; }
    }
    """

    @dataclass
    class Picked(Message):
        """A target was taken from the list (or typed exactly)."""

        picker: Picker
        target: Target

        @property
        def control(self) -> Picker:
            return self.picker

    def __init__(
        self,
        db: Database,
        *,
        kinds: Iterable[str] = KINDS,
        people: Iterable[int] | None = None,
        offices: Iterable[str] = (),
        value: Target | str | None = None,
        placeholder: str = "",
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._db = db
        self._kinds = tuple(kinds)
        self._people = None if people is None else tuple(people)
        self._offices = tuple(offices)
        self._initial = value
        self._placeholder = placeholder or _("name, pinyin or initials (e.g. lj)")
        self._items: list[Entry] | None = None
        self._shown = _Shown("", [])
        self._value: Target | None = None
        self._taken_text: str | None = None
        self._moved = False  # the officer moved the highlight since the list last changed

    # ---- the public surface -----------------------------------------------------------------

    @property
    def value(self) -> Target | None:
        """The target taken, or ``None`` while none is."""
        return self._value

    @property
    def text(self) -> str:
        """What the field holds now."""
        return self.query_one(PickerInput).value

    @property
    def loaded(self) -> bool:
        """Whether the directory has been read (the list can open)."""
        return self._items is not None

    def candidates(self) -> Sequence[Candidate]:
        """What the list shows now, best first."""
        return tuple(self._shown.found)

    def clear(self) -> None:
        """Empty the field and forget the target taken."""
        self._value = None
        self._taken_text = None
        self.query_one(PickerInput).value = ""
        self._show(_Shown("", []))

    def focus(self, scroll_visible: bool = True) -> Picker:
        self.query_one(PickerInput).focus(scroll_visible)
        return self

    # ---- composing and reading --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        start = self._initial.label if isinstance(self._initial, Target) else self._initial or ""
        if isinstance(self._initial, Target):
            self._value = self._initial
            self._taken_text = self._initial.label
        yield PickerInput(start, placeholder=self._placeholder, id=self._child_id("input"))
        yield PickerList(id=self._child_id("list"))

    def _child_id(self, part: str) -> str | None:
        return f"{self.id}--{part}" if self.id else None

    def on_mount(self) -> None:
        self._load()

    def _lock(self) -> AbstractContextManager[Any]:
        lock: AbstractContextManager[Any] | None = getattr(self.app, "db_lock", None)
        return lock if lock is not None else nullcontext()

    @work(thread=True, exclusive=True, exit_on_error=False, group="picker-load")
    def _load(self) -> None:
        """Read the directory once, and spell every name (cached for the process)."""
        try:
            with self._lock():
                items = entries(
                    self._db, kinds=self._kinds, people=self._people, offices=self._offices
                )
            for item in items:
                _spelled = item.spelling
        except Exception as exc:  # a failed read is a notice, never a closed console
            self.app.call_from_thread(
                self.notify, str(exc), title=_("Directory"), severity="error", markup=False
            )
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._loaded, items)

    def _loaded(self, items: list[Entry]) -> None:
        self._items = items
        if isinstance(self._initial, str) and self._initial:
            written = self._initial.strip()
            found = next((e for e in items if e.target.format() == written), None)
            # Only while the field still holds the value given: what the officer typed while
            # the directory was read is theirs (it is searched below), never overwritten.
            if found is not None and self.text == self._initial:
                self._take(found.target, post=False)
                return
        text = self.text
        if text and text != self._taken_text:
            self._search(text)

    # ---- typing and ranking -----------------------------------------------------------------

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value == self._taken_text:
            return
        self._value = None
        self._taken_text = None
        if not event.value.strip():
            self._show(_Shown("", []))
            return
        if self._items is not None:
            self._search(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="picker-search")
    def _search(self, query: str) -> None:
        items = self._items or []
        found = match(items, query, limit=LIMIT)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_if_current, _Shown(query, found))

    def _show_if_current(self, shown: _Shown) -> None:
        if shown.query == self.text and self._value is None:
            self._show(shown)

    def _show(self, shown: _Shown) -> None:
        self._shown = shown
        self._moved = False
        listing = self.query_one(PickerList)
        listing.clear_options()
        if shown.found:
            listing.add_options(_option(c) for c in shown.found)
            listing.highlighted = 0
        elif shown.query.strip():
            listing.add_option(
                Option(_("nothing matches {text!r}").format(text=shown.query), disabled=True)
            )
        self.set_class(bool(shown.query.strip()), "-open")

    # ---- taking -----------------------------------------------------------------------------

    def move(self, step: int) -> bool:
        """Move the highlight (opening the list for the text typed); ``False``: nothing to move."""
        if not self._shown.found:
            return False
        if not self.has_class("-open"):
            self.add_class("-open")
            return True
        listing = self.query_one(PickerList)
        current = listing.highlighted or 0
        listing.highlighted = max(0, min(len(self._shown.found) - 1, current + step))
        self._moved = True
        return True

    def close_list(self) -> bool:
        """Close the list; ``False`` when it was closed already."""
        if not self.has_class("-open"):
            return False
        self.remove_class("-open")
        return True

    def take_highlighted(self, *, submitting: bool = False) -> bool:
        """Take the highlighted entry (ranking the text now if the list lags behind it).

        Returns:
            Whether a target was taken (``False``: nothing to take, or already taken).
        """
        if self._value is not None:
            return False
        text = self.text
        if not text.strip() or self._items is None:
            return False
        if self._shown.query != text:
            self._show(_Shown(text, match(self._items, text, limit=LIMIT)))
        found = self._shown.found
        if not found:
            return False
        index = self.query_one(PickerList).highlighted
        chosen = found[index if index is not None and index < len(found) else 0]
        if submitting and not self._moved and chosen.score <= HOMOPHONE:
            # only near misses (a typo, a homophone): enter takes none of them unless the
            # officer moved onto it; the dialog then says what to do
            return False
        self._take(chosen.target)
        return True

    @on(OptionList.OptionSelected)
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self._shown.found):
            self._take(self._shown.found[event.option_index].target)
            self.query_one(PickerInput).focus()

    def _take(self, target: Target, *, post: bool = True) -> None:
        self._value = target
        self._taken_text = target.label
        field = self.query_one(PickerInput)
        field.value = target.label
        field.cursor_position = len(target.label)
        self.remove_class("-open")
        if post:
            self.post_message(self.Picked(self, target))


def _option(candidate: Candidate) -> Option:
    line = Text(candidate.label, style="bold")
    if candidate.detail:
        line.append("  " + candidate.detail, style="dim")
    line.append("  " + kind_label(candidate.target.kind), style="italic dim")
    return Option(line)
