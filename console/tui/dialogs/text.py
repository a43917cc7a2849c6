"""Provides the one-line dialogs: text (a note, a result, a reason) and a target to pick.

:class:`TextDialog` asks for a line of text; :class:`TargetDialog` for a grid, team, office or
person, through the completing :class:`~console.tui.widgets.picker.Picker` (dispatch, assign).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Label

from console.tui.dialogs.form import FormDialog, error_line
from console.tui.widgets.picker import Picker
from contacts.directory import KINDS, Target
from store.db import Database
from store.i18n import N_, _


class TextDialog(FormDialog[str]):
    """Ask for one line of text; dismisses with the stripped text, or ``None`` on escape.

    Args:
        title: the dialog's title (the step it is for).
        prompt: what to type.
        placeholder: a hint shown in the empty field.
        value: text to start with.
        required: refuse an empty answer (the error shows under the field).
    """

    DIALOG_ID = "text-dialog"
    SAVE_BUTTON = N_("OK (enter)")
    SUBTITLE = ""
    ENTER_SAVES = None

    def __init__(
        self,
        title: str,
        prompt: str,
        *,
        placeholder: str = "",
        value: str = "",
        required: bool = True,
    ) -> None:
        super().__init__()
        self._title = title
        self._prompt = prompt
        self._placeholder = placeholder
        self._value = value
        self._required = required

    def form_title(self) -> str:
        return self._title

    def fields(self) -> ComposeResult:
        yield Label(self._prompt, classes="dialog--prompt", markup=False)
        yield Input(self._value, placeholder=self._placeholder, id="text-input")
        yield error_line("text-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.value.strip():
            self.show_error("text-error", "", "text-input")

    def result(self) -> str | None:
        text = self.query_one("#text-input", Input).value.strip()
        if self._required and not text:
            self.show_error("text-error", _("required"), "text-input")
            return None
        return text


class TargetDialog(FormDialog[Target]):
    """Ask for a grid, team, office or person with a :class:`~console.tui.widgets.picker.Picker`;
    dismisses with the :class:`~contacts.directory.Target` taken, or ``None`` on escape.

    Enter takes the highlighted entry and saves; a text that names nothing is refused under the
    field, with the closest matches, and the dialog stays open.

    Args:
        title: the dialog's title (the step it is for).
        prompt: what to choose.
        db: the database the picker reads (in a worker).
        kinds, people, offices: what the picker offers (see :class:`Picker`).
        value: the target to start with (written form or :class:`Target`).
    """

    DIALOG_ID = "text-dialog"
    SAVE_BUTTON = N_("OK (enter)")
    SUBTITLE = N_("name, pinyin or initials · ↑↓ choose · enter OK · esc cancel")
    ENTER_SAVES = None

    def __init__(
        self,
        title: str,
        prompt: str,
        db: Database,
        *,
        kinds: Iterable[str] = KINDS,
        people: Iterable[int] | None = None,
        offices: Iterable[str] = (),
        value: Target | str | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._prompt = prompt
        self._picker = Picker(
            db, kinds=kinds, people=people, offices=offices, value=value, id="target-picker"
        )

    def form_title(self) -> str:
        return self._title

    def fields(self) -> ComposeResult:
        yield Label(self._prompt, classes="dialog--prompt", markup=False)
        yield self._picker
        yield error_line("target-error")

    def on_mount(self) -> None:
        self._picker.focus()

    @on(Picker.Picked)
    def _picked(self) -> None:
        self.show_error("target-error", "", "target-picker")

    def result(self) -> Target | None:
        picker = self._picker
        if picker.value is not None:
            return picker.value
        if not picker.text.strip():
            message = _("required: choose from the list")
        elif not picker.loaded:
            message = _("still reading the directory; try again in a moment")
        else:
            closest = [c.label for c in picker.candidates()[:5]]
            message = _("nothing is called {text!r}").format(text=picker.text.strip())
            if closest:
                message += _("; closest: {names} (↑↓ to choose)").format(
                    names=_(", ").join(closest)
                )
        self.show_error("target-error", message, "target-picker")
        picker.focus()
        return None
