"""Provides the extension (延期) request dialog: a reason and a new deadline in local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from textual.app import ComposeResult
from textual.widgets import Input, Label

from console.timefmt import local, parse_when
from console.tui.dialogs.form import FormDialog, error_line
from store.errors import InvalidInput
from store.i18n import N_, _


@dataclass(frozen=True)
class ExtensionRequest:
    """What the dialog returns: why, and the new deadline (aware)."""

    reason: str
    until: datetime


class ExtensionDialog(FormDialog[ExtensionRequest]):
    """Ask why a case needs more time and until when.

    Args:
        number: the case number (shown in the title).
        deadline: the current deadline, if the stage has one.
        now: the current time.
        zone: the office's time zone, in which the new deadline is typed.
    """

    DIALOG_ID = "extension-dialog"
    SAVE_BUTTON = N_("Request (enter)")
    SUBTITLE = ""
    ENTER_SAVES = frozenset({"extension-until"})

    def __init__(
        self, number: str, deadline: datetime | None, now: datetime, zone: ZoneInfo
    ) -> None:
        super().__init__()
        self._number = number
        self._base = max(deadline or now, now)
        self._deadline = deadline
        self._zone = zone

    def form_title(self) -> str:
        return _("Extend {number}").format(number=self._number)

    def fields(self) -> ComposeResult:
        current = local(self._deadline, self._zone) or "—"
        yield Label(_("Current deadline: {time}").format(time=current), classes="dialog--prompt")
        yield Label(_("Reason"))
        yield Input(placeholder=_("why more time is needed"), id="extension-reason")
        yield error_line("reason-error")
        yield Label(_("New deadline (YYYY-MM-DD HH:MM, or +12h / +2d after the current)"))
        suggested = local(self._base + timedelta(days=1), self._zone)
        yield Input(suggested, id="extension-until")
        yield error_line("until-error")

    def result(self) -> ExtensionRequest | None:
        reason_input = self.query_one("#extension-reason", Input)
        until_input = self.query_one("#extension-until", Input)
        reason = reason_input.value.strip()
        self.show_error(
            "reason-error", "" if reason else _("a reason is required"), "extension-reason"
        )
        until: datetime | None = None
        try:
            until = parse_when(until_input.value, self._base, self._zone, "until")
        except InvalidInput as exc:
            self.show_error("until-error", exc.reason, "extension-until")
        except (OverflowError, ValueError):  # +999999999d, or year 1 in a zone east of UTC
            self.show_error("until-error", _("out of range"), "extension-until")
        else:
            late_enough = until > self._base
            message = "" if late_enough else _("must be after the current deadline")
            self.show_error("until-error", message, "extension-until")
            until = until if late_enough else None
        if reason and until is not None:
            return ExtensionRequest(reason, until)
        (reason_input if not reason else until_input).focus()
        return None
