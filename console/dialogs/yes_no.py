"""Provides a yes/no question that can also be cancelled."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class YesNoDialog(ModalScreen[bool | None]):
    """Ask a question; dismisses with ``True`` (yes), ``False`` (no) or ``None`` (escape)."""

    BINDINGS = [
        Binding("y", "answer(True)", "是 yes"),
        Binding("n", "answer(False)", "否 no"),
        Binding("escape", "cancel", "取消 cancel"),
    ]

    def __init__(self, title: str, question: str, *, yes: str = "是 Yes", no: str = "否 No"):
        super().__init__()
        self._title = title
        self._question = question
        self._yes = yes
        self._no = no

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
