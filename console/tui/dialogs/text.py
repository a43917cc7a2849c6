"""Provides a one-line text dialog: a note, a feedback result, a reason to void, return or park."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Label

from console.tui.dialogs.form import FormDialog, error_line
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
