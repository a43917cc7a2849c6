"""Provides the acting officer's picker: who acts at the desk from now on.

The choices are the people on duty posts (:func:`console.acting.desk_people`), those on duty
now first, each with the posts they hold; the one acting now is marked and highlighted. The
console records the switch in the audit (``acting_switched``) once a person is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from console.acting import DeskPerson
from contacts.roster import PersonRef
from store.i18n import N_, _


class ActingDialog(ModalScreen[PersonRef | None]):
    """Pick the acting officer; dismisses with the person chosen, ``None`` when cancelled."""

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(self, people: Sequence[DeskPerson], current: str) -> None:
        """``current`` is the name of the officer acting now."""
        super().__init__()
        self.people = list(people)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="acting-dialog", classes="dialog") as box:
            box.border_title = _("Acting officer")
            yield Label(
                _("Who acts at this desk from now on? (enter: choose, escape: cancel)"),
                classes="dialog--prompt",
            )
            yield OptionList(*self._options(), id="acting-people")

    def _options(self) -> list[Option]:
        options = []
        for index, choice in enumerate(self.people):
            line = Text()
            acting = choice.person.name == self.current
            line.append("▶ " if acting else "  ", style="bold")
            line.append(choice.person.name, style="bold")
            line.append(f" ({choice.person.shown_key})", style="dim")
            if choice.on_duty:
                line.append("  ● " + _("on duty: {posts}").format(posts=" ".join(choice.on_duty)))
            elif choice.posts:
                line.append("  " + " ".join(choice.posts), style="dim")
            if acting:
                line.append("  " + _("(acting now)"), style="italic")
            options.append(Option(line, id=str(index)))
        return options

    def on_mount(self) -> None:
        listing = self.query_one("#acting-people", OptionList)
        current = next((i for i, c in enumerate(self.people) if c.person.name == self.current), 0)
        listing.highlighted = current
        listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = int(event.option.id or 0)
        self.dismiss(self.people[index].person)

    def action_cancel(self) -> None:
        self.dismiss(None)
