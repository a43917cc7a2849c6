"""Provides the two small forms of a case's reporting facts: a report given by phone, and a
correction of the time the case was received.

:class:`PhoneReportDialog` records a report given by phone (电话报告): to whom, when (now
unless changed) and what was said. :class:`ReceivedDialog` corrects the received time
(接报时间), from which the initial report's deadline counts, with the reason the audit keeps.
Both take a time as ``YYYY-MM-DD HH:MM`` in the office's zone, or as a step from the time the
field started with (``-15m``, ``+1h``, ``-2d``: see :func:`parse_from`), and refuse a time in
the future. Each checks what it can before closing (an empty name or reason, a time that is
not one), with the error under the field and the field named, and returns a typed result; the
case screen saves it in a worker, where the service checks it again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, TextArea

from console.timefmt import local, parse_when
from console.tui.dialogs.form import FormDialog, error_line, form_row
from store.clock import Clock
from store.errors import InvalidInput
from store.i18n import N_, _
from store.text import clean_text

_STEP = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_from(text: str, base: datetime, zone: ZoneInfo, field: str) -> datetime:
    """A time typed in a field that started with ``base``: ``-15m``, ``+1h``, ``-2d`` step from
    ``base``; anything else is :func:`console.timefmt.parse_when`'s (``2026-05-20 13:50`` in
    ``zone``, ISO-8601).

    Raises:
        InvalidInput: naming ``field``: not a time, or out of range.
    """
    match = _STEP.match(text.strip())
    if match is None:
        return parse_when(text, base, zone, field)
    sign, amount, unit = match.groups()
    try:
        step = timedelta(**{_UNITS[unit]: float(amount)})
        at = base + step if sign == "+" else base - step
    except (OverflowError, ValueError):
        return parse_when(f"+{amount}{unit}", base, zone, field)  # says "out of range"
    return parse_when(at.isoformat(), base, zone, field)  # the range check


def _named(label: str, reason: str) -> str:
    """An error under a field, naming it: ``Phoned at: '12:61' is not a time…``."""
    return _("{field}: {reason}").format(field=label, reason=reason)


# ---- a report given by phone ------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneReport:
    """What :class:`PhoneReportDialog` returns: to whom, when (aware), what was said."""

    to: str
    at: datetime
    note: str


class PhoneReportDialog(FormDialog[PhoneReport]):
    """Record a report given by phone (电话报告): it meets a phone deadline, not the written one.

    Args:
        case_title: the case's number and title, for the box's title.
        received_at: when the case was received; a call before it is refused.
        clock: the console's clock (the time starts at now; a later one is refused).
        zone: the office's zone, in which times are shown and typed.
        recipients: whom reports of this case were phoned to before, the last first: the first
            fills the field, all of them complete what is typed.
    """

    DIALOG_ID = "phone-report-dialog"
    CSS_PATH = "case_reporting.tcss"
    SAVE_BUTTON = N_("Record (ctrl+s)")
    SUBTITLE = N_("ctrl+s record · esc cancel · tab next field")
    BINDINGS: ClassVar[list[BindingType]] = [*FormDialog.BINDINGS]

    def __init__(
        self,
        case_title: str,
        received_at: datetime,
        clock: Clock,
        zone: ZoneInfo,
        recipients: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._case_title = case_title
        self._received = received_at
        self._clock = clock
        self._zone = zone
        self._recipients = recipients or []
        self._opened = clock.now().replace(second=0, microsecond=0)

    def form_title(self) -> str:
        return _("Report by phone · {case}").format(case=self._case_title)

    def fields(self) -> ComposeResult:
        yield Label(
            _(
                "A report given by phone meets the phone deadline; the written initial report"
                " is still owed."
            ),
            classes="dialog--prompt",
        )
        suggester = SuggestFromList(self._recipients) if self._recipients else None
        first = self._recipients[0] if self._recipients else ""
        yield form_row(
            _("To whom"),
            Input(
                first,
                placeholder=_("e.g. the county emergency bureau's duty room"),
                suggester=suggester,
                id="phone-to",
                compact=True,
            ),
        )
        yield error_line("phone-to-error")
        yield form_row(
            _("Phoned at"),
            Input(
                local(self._opened, self._zone),
                placeholder=_("YYYY-MM-DD HH:MM"),
                id="phone-at",
                compact=True,
            ),
        )
        yield Label(
            _("YYYY-MM-DD HH:MM, or -10m / -1h from the time shown first"),
            classes="form-hint",
        )
        yield error_line("phone-at-error")
        yield Label(_("What was said"), classes="form-label")
        yield TextArea(id="phone-note", compact=True)
        yield error_line("phone-note-error")

    def on_mount(self) -> None:
        self.query_one("#phone-to", Input).focus()

    def result(self) -> PhoneReport | None:
        bad: list[str] = []
        to = note = ""
        try:
            to = clean_text(self.query_one("#phone-to", Input).value, "to", kind="name")
            if not to:
                raise InvalidInput(_("required"), "to")
        except InvalidInput as exc:
            self.show_error("phone-to-error", _named(_("To whom"), exc.reason), "phone-to")
            bad.append("phone-to")
        else:
            self.show_error("phone-to-error", "", "phone-to")
        at = self._check_at(bad)
        try:
            note = clean_text(
                self.query_one("#phone-note", TextArea).text, "note", kind="note", multiline=True
            )
        except InvalidInput as exc:
            reason = _named(_("What was said"), exc.reason)
            self.show_error("phone-note-error", reason, "phone-note")
            bad.append("phone-note")
        else:
            self.show_error("phone-note-error", "", "phone-note")
        if bad or at is None:
            self.query_one(f"#{bad[0]}").focus()
            return None
        return PhoneReport(to, at, note)

    def _check_at(self, bad: list[str]) -> datetime | None:
        label = _("Phoned at")
        raw = self.query_one("#phone-at", Input).value
        try:
            at = parse_from(raw, self._opened, self._zone, "at")
            if at > self._clock.now():
                raise InvalidInput(_("{time} is in the future").format(time=raw.strip()), "at")
            if at < self._received:
                raise InvalidInput(
                    _("before the case was received ({time})").format(
                        time=local(self._received, self._zone)
                    ),
                    "at",
                )
        except InvalidInput as exc:
            self.show_error("phone-at-error", _named(label, exc.reason), "phone-at")
            bad.append("phone-at")
            return None
        self.show_error("phone-at-error", "", "phone-at")
        return at


# ---- the received time ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedCorrection:
    """What :class:`ReceivedDialog` returns: the corrected received time (aware), and why."""

    at: datetime
    reason: str


class ReceivedDialog(FormDialog[ReceivedCorrection]):
    """Correct when the case was received (接报时间): the initial report's deadline counts
    from it; the reason goes into the audit.

    Args:
        case_title: the case's number and title, for the box's title.
        received_at: the received time recorded now.
        corrected: whether that time was corrected before (else it is the case's report time).
        clock: the console's clock (a time after now is refused).
        zone: the office's zone, in which times are shown and typed.
    """

    DIALOG_ID = "received-dialog"
    CSS_PATH = "case_reporting.tcss"
    SAVE_BUTTON = N_("Correct (ctrl+s)")
    SUBTITLE = N_("ctrl+s correct · esc cancel · tab next field")
    ENTER_SAVES = frozenset({"received-reason"})

    def __init__(
        self,
        case_title: str,
        received_at: datetime,
        corrected: bool,
        clock: Clock,
        zone: ZoneInfo,
    ) -> None:
        super().__init__()
        self._case_title = case_title
        self._received = received_at
        self._corrected = corrected
        self._clock = clock
        self._zone = zone

    def form_title(self) -> str:
        return _("Received time · {case}").format(case=self._case_title)

    def fields(self) -> ComposeResult:
        recorded = local(self._received, self._zone)
        said = (
            _("Recorded: {time} (corrected before).")
            if self._corrected
            else _("Recorded: {time} (when the case was logged).")
        )
        yield Label(
            said.format(time=recorded)
            + " "
            + _("The initial report's deadline counts from the received time."),
            classes="dialog--prompt",
        )
        yield form_row(
            _("Received at"),
            Input(recorded, placeholder=_("YYYY-MM-DD HH:MM"), id="received-at", compact=True),
        )
        yield Label(
            _("YYYY-MM-DD HH:MM, or -10m / -1h from the time recorded"),
            classes="form-hint",
        )
        yield error_line("received-at-error")
        yield form_row(
            _("Reason"),
            Input(
                placeholder=_("why the recorded time was wrong"),
                id="received-reason",
                compact=True,
            ),
        )
        yield error_line("received-reason-error")

    def on_mount(self) -> None:
        self.query_one("#received-at", Input).focus()

    def result(self) -> ReceivedCorrection | None:
        bad: list[str] = []
        reason = ""
        at = self._check_at(bad)
        try:
            reason = clean_text(
                self.query_one("#received-reason", Input).value, "reason", kind="note"
            )
            if not reason:
                raise InvalidInput(_("required"), "reason")
        except InvalidInput as exc:
            self.show_error(
                "received-reason-error", _named(_("Reason"), exc.reason), "received-reason"
            )
            bad.append("received-reason")
        else:
            self.show_error("received-reason-error", "", "received-reason")
        if bad or at is None:
            self.query_one(f"#{bad[0]}").focus()
            return None
        return ReceivedCorrection(at, reason)

    def _check_at(self, bad: list[str]) -> datetime | None:
        raw = self.query_one("#received-at", Input).value
        try:
            at = parse_from(raw, self._received, self._zone, "at")
            if at > self._clock.now():
                raise InvalidInput(_("{time} is in the future").format(time=raw.strip()), "at")
            if local(at, self._zone) == local(self._received, self._zone):
                raise InvalidInput(_("the same as the time recorded"), "at")
        except InvalidInput as exc:
            self.show_error(
                "received-at-error", _named(_("Received at"), exc.reason), "received-at"
            )
            bad.append("received-at")
            return None
        self.show_error("received-at-error", "", "received-at")
        return at
