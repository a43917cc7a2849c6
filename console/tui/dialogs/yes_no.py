"""Provides a yes/no question that can also be cancelled."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from store.i18n import N_, _


class YesNoDialog(ModalScreen[bool | None]):
    """Ask a question; dismisses with ``True`` (yes), ``False`` (no) or ``None`` (escape)."""

    BINDINGS = [
        Binding("y", "answer(True)", N_("Yes")),
        Binding("n", "answer(False)", N_("No")),
        Binding("escape", "cancel", N_("Cancel")),
    ]

    def __init__(self, title: str, question: str, *, yes: str | None = None, no: str | None = None):
        """``yes`` and ``no`` label the buttons (already translated); by default Yes and No."""
        super().__init__()
        self._title = title
        self._question = question
        self._yes = yes if yes is not None else _("Yes")
        self._no = no if no is not None else _("No")

    def compose(self) -> ComposeResult:
        with Vertical(id="yes-no-dialog", classes="dialog") as box:
            box.border_title = self._title
            yield Label(self._question, classes="dialog--prompt", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button(f"{self._yes} (y)", variant="primary", id="yes")
                yield Button(f"{self._no} (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)
