"""Provides a one-line text dialog: a note, a feedback result, a reason to void, return or park."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from store.i18n import N_, _


class TextDialog(ModalScreen[str | None]):
    """Ask for one line of text; dismisses with the stripped text, or ``None`` on escape.

    Args:
        title: the dialog's title (the step it is for).
        prompt: what to type.
        placeholder: a hint shown in the empty field.
        value: text to start with.
        required: refuse an empty answer (the error shows under the field).
    """

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

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

    def compose(self) -> ComposeResult:
        with Vertical(id="text-dialog", classes="dialog") as box:
            box.border_title = self._title
            yield Label(self._prompt, classes="dialog--prompt", markup=False)
            yield Input(self._value, placeholder=self._placeholder, id="text-input")
            yield Static("", id="text-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button(_("OK (enter)"), variant="primary", id="ok")
                yield Button(_("Cancel (esc)"), id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.value.strip():
            self._show_error("")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        text = self.query_one("#text-input", Input).value.strip()
        if self._required and not text:
            self._show_error(_("required"))
            return
        self.dismiss(text)

    def _show_error(self, message: str) -> None:
        error = self.query_one("#text-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")
        self.query_one("#text-input", Input).set_class(bool(message), "-invalid")
