"""Provides :class:`FormDialog`, the base of the console's forms, and its row helpers.

A form is a titled box of field rows, each field's error on a line under it, and save and
cancel as keys (``ctrl+s``, ``escape``) and as buttons. A subclass yields its rows from
:meth:`FormDialog.fields` and checks them in :meth:`FormDialog.result`, which shows every
error (in the officer's language, with :meth:`FormDialog.show_error`) and returns the typed
result once every field is valid; the dialog then dismisses with it (``None``: cancelled).
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from store.i18n import N_, _

T = TypeVar("T")


def form_row(label: str, *widgets: Widget) -> Horizontal:
    """One row of a form: its label (already translated), then its widgets side by side."""
    return Horizontal(Label(label, classes="form-label"), *widgets, classes="form-row")


def error_line(error_id: str) -> Static:
    """The line under a row where its error shows (hidden while there is none)."""
    return Static("", id=error_id, classes="field-error", markup=False)


class FormDialog(ModalScreen[T | None]):
    """A modal form that dismisses with a ``T`` once valid, or ``None`` when cancelled.

    Subclasses set ``DIALOG_ID`` (the box's id, for its CSS) and define :meth:`form_title`,
    :meth:`fields` and :meth:`result`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "save", N_("Save")),
    ]
    DIALOG_ID = ""
    SAVE_BUTTON = N_("Save (ctrl+s)")
    """The save button's words (an English message id, shown translated)."""
    SUBTITLE = N_("ctrl+s save · esc cancel")
    """The keys, on the box's lower border (an English message id; ``""``: none)."""
    ENTER_SAVES: frozenset[str] | None = frozenset()
    """The inputs in which enter saves the form (``None``: every input); in the others it
    moves on to the next field."""

    def form_title(self) -> str:
        """The box's title, already translated."""
        raise NotImplementedError(f"{type(self).__name__} defines no form_title()")

    def fields(self) -> ComposeResult:
        """The form's rows, prompts and error lines, top to bottom."""
        raise NotImplementedError(f"{type(self).__name__} defines no fields()")

    def result(self) -> T | None:
        """Check every field and show every error, focusing the first bad field; the result
        when all are valid, else ``None``."""
        raise NotImplementedError(f"{type(self).__name__} defines no result()")

    def compose(self) -> ComposeResult:
        with Vertical(id=self.DIALOG_ID, classes="dialog") as box:
            box.border_title = self.form_title()
            if self.SUBTITLE:
                box.border_subtitle = _(self.SUBTITLE)
            yield from self.fields()
            with Horizontal(classes="dialog--buttons"):
                yield Button(_(self.SAVE_BUTTON), variant="primary", id="ok")
                yield Button(_("Cancel (esc)"), id="cancel")

    # ---- errors -----------------------------------------------------------------------------

    def show_error(self, error_id: str, message: str, *widget_ids: str) -> None:
        """Show ``message`` on the error line ``error_id`` (``""`` hides it) and mark the
        widgets it is about."""
        line = self.query_one(f"#{error_id}", Static)
        line.update(message)
        line.set_class(bool(message), "-shown")
        for widget_id in widget_ids:
            self.query_one(f"#{widget_id}").set_class(bool(message), "-invalid")

    # ---- saving and cancelling --------------------------------------------------------------

    def action_save(self) -> None:
        """Close with the result when every field is valid; else the errors show."""
        value = self.result()
        if value is not None:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_save()
        else:
            self.dismiss(None)

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        if self.ENTER_SAVES is None or event.input.id in self.ENTER_SAVES:
            self.action_save()
        else:
            self.focus_next()
