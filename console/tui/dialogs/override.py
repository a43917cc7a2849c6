"""Provides the roster override (调班) dialog: who holds which post from when to when, and why.

Times are typed in the office's zone (``YYYY-MM-DD HH:MM``), ISO-8601, or relative: the start
relative to now (``+2h``), the end relative to the start (``+12h`` is a twelve-hour shift). Each
field's error shows under it; whether the person exists is for
:func:`contacts.roster.add_override` to say when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from console.timefmt import local, parse_when
from store.errors import InvalidInput
from store.i18n import N_, _

# The inputs checked on submit -> the line their error shows on.
ERRORS = {
    "override-person": "override-person-error",
    "override-from": "override-from-error",
    "override-to": "override-to-error",
    "override-reason": "override-reason-error",
}


@dataclass(frozen=True)
class OverrideRequest:
    """What the dialog returns: the arguments of ``add_override``, checked."""

    post: str
    person: str
    starts_at: datetime
    ends_at: datetime
    reason: str


class OverrideDialog(ModalScreen[OverrideRequest | None]):
    """调班 — put a person on a post for one interval, over the rotation.

    Args:
        posts: ``(code, name)`` of every post; at least one.
        now: the current time (relative starts count from it).
        zone: the office's zone, in which times are typed and shown.
        post: the post to start with.
        start, end: the interval to start with (e.g. the highlighted shift or gap).
    """

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "save", N_("Save")),
    ]

    def __init__(
        self,
        posts: Sequence[tuple[str, str]],
        now: datetime,
        zone: ZoneInfo,
        *,
        post: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        super().__init__()
        self._posts = list(posts)
        self._now = now
        self._zone = zone
        codes = [code for code, _name in self._posts]
        if not codes:
            raise ValueError(_("an override needs a post; add one first (duty post-add)"))
        self._post = post if post in codes else codes[0]
        self._start = start
        self._end = end

    def compose(self) -> ComposeResult:
        with Vertical(id="override-dialog", classes="dialog") as box:
            box.border_title = _("Roster override")
            box.border_subtitle = _("ctrl+s save · esc cancel")
            with Horizontal(classes="form-row"):
                yield Label(_("Post"), classes="form-label")
                yield Select(
                    [(f"{code} {name}", code) for code, name in self._posts],
                    value=self._post,
                    allow_blank=False,
                    id="override-post",
                    compact=True,
                )
            with Horizontal(classes="form-row"):
                yield Label(_("Person on duty"), classes="form-label")
                yield Input(placeholder=_("key, phone or name"), id="override-person", compact=True)
            yield Static("", id="override-person-error", classes="field-error", markup=False)
            with Horizontal(classes="form-row"):
                yield Label(_("From"), classes="form-label")
                yield Input(
                    local(self._start, self._zone),
                    placeholder=_("YYYY-MM-DD HH:MM, or +2h from now"),
                    id="override-from",
                    compact=True,
                )
            yield Static("", id="override-from-error", classes="field-error", markup=False)
            with Horizontal(classes="form-row"):
                yield Label(_("To"), classes="form-label")
                yield Input(
                    local(self._end, self._zone),
                    placeholder=_("YYYY-MM-DD HH:MM, or +12h after the start"),
                    id="override-to",
                    compact=True,
                )
            yield Static("", id="override-to-error", classes="field-error", markup=False)
            with Horizontal(classes="form-row"):
                yield Label(_("Reason"), classes="form-label")
                yield Input(
                    placeholder=_("swap, sick leave, who asked"),
                    id="override-reason",
                    compact=True,
                )
            yield Static("", id="override-reason-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog--buttons"):
                yield Button(_("Save (ctrl+s)"), variant="primary", id="ok")
                yield Button(_("Cancel (esc)"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#override-person", Input).focus()

    # ---- checking ---------------------------------------------------------------------------

    def _value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value

    def _parse(self) -> tuple[OverrideRequest | None, dict[str, str]]:
        """The request when every field is valid, and each field's error ("" when none)."""
        errors = dict.fromkeys(ERRORS, "")
        person = self._value("override-person").strip()
        if not person:
            errors["override-person"] = _("a key, phone or name is required")
        reason = " ".join(self._value("override-reason").split())
        if not reason:
            errors["override-reason"] = _("say why (swap, sick leave, who asked)")
        start: datetime | None = None
        end: datetime | None = None
        try:
            start = parse_when(self._value("override-from"), self._now, self._zone, "from")
        except InvalidInput as exc:
            errors["override-from"] = exc.reason
        try:
            # "+12h" counts from the start when there is one: a shift's length.
            end = parse_when(self._value("override-to"), start or self._now, self._zone, "to")
        except InvalidInput as exc:
            errors["override-to"] = exc.reason
        if start is not None and end is not None and end <= start:
            errors["override-to"] = _("must be after the start")
        post = self.query_one("#override-post", Select).value
        if any(errors.values()) or start is None or end is None or not isinstance(post, str):
            return None, errors
        return OverrideRequest(post, person, start, end, reason), errors

    def _show_errors(self, errors: dict[str, str]) -> None:
        for input_id, message in errors.items():
            error = self.query_one(f"#{ERRORS[input_id]}", Static)
            error.update(message)
            error.set_class(bool(message), "-shown")
            self.query_one(f"#{input_id}").set_class(bool(message), "-invalid")

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "override-reason":
            self.action_save()
        else:
            self.focus_next()

    # ---- closing ----------------------------------------------------------------------------

    def action_save(self) -> None:
        """Check every field and show every error; close with the request when all are valid."""
        request, errors = self._parse()
        self._show_errors(errors)
        if request is not None:
            self.dismiss(request)
            return
        bad = next((input_id for input_id, message in errors.items() if message), None)
        self.query_one(f"#{bad}" if bad else "#override-post").focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_save()
        else:
            self.dismiss(None)
