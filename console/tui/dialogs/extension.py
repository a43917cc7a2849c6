"""Provides the extension (延期) request dialog: a reason and a new deadline in local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.timefmt import local, parse_when
from store.errors import InvalidInput
from store.i18n import N_, _


@dataclass(frozen=True)
class ExtensionRequest:
    """What the dialog returns: why, and the new deadline (aware)."""

    reason: str
    until: datetime


class ExtensionDialog(ModalScreen[ExtensionRequest | None]):
    """Ask why a case needs more time and until when.

    Args:
        number: the case number (shown in the title).
        deadline: the current deadline, if the stage has one.
        now: the current time.
        zone: the office's time zone, in which the new deadline is typed.
    """

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(
        self, number: str, deadline: datetime | None, now: datetime, zone: ZoneInfo
    ) -> None:
        super().__init__()
        self._number = number
        self._base = max(deadline or now, now)
        self._deadline = deadline
        self._zone = zone

    def compose(self) -> ComposeResult:
        current = local(self._deadline, self._zone) or "—"
        with Vertical(id="extension-dialog", classes="dialog") as box:
            box.border_title = _("Extend {number}").format(number=self._number)
            yield Label(
                _("Current deadline: {time}").format(time=current), classes="dialog--prompt"
            )
            yield Label(_("Reason"))
            yield Input(placeholder=_("why more time is needed"), id="extension-reason")
            yield Static("", id="reason-error", classes="field-error", markup=False)
            yield Label(_("New deadline (YYYY-MM-DD HH:MM, or +12h / +2d after the current)"))
            suggested = local(self._base + timedelta(days=1), self._zone)
            yield Input(suggested, id="extension-until")
            yield Static("", id="until-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button(_("Request (enter)"), variant="primary", id="ok")
                yield Button(_("Cancel (esc)"), id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "extension-reason":
            self.query_one("#extension-until", Input).focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        reason_input = self.query_one("#extension-reason", Input)
        until_input = self.query_one("#extension-until", Input)
        reason = reason_input.value.strip()
        self._error(reason_input, "reason-error", "" if reason else _("a reason is required"))
        until: datetime | None = None
        try:
            until = parse_when(until_input.value, self._base, self._zone, "until")
        except InvalidInput as exc:
            self._error(until_input, "until-error", exc.reason)
        else:
            late_enough = until > self._base
            message = "" if late_enough else _("must be after the current deadline")
            self._error(until_input, "until-error", message)
            until = until if late_enough else None
        if reason and until is not None:
            self.dismiss(ExtensionRequest(reason, until))
        elif not reason:
            reason_input.focus()
        else:
            until_input.focus()

    def _error(self, field: Input, error_id: str, message: str) -> None:
        error = self.query_one(f"#{error_id}", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")
        field.set_class(bool(message), "-invalid")
