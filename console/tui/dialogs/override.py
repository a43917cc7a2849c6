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

from textual.app import ComposeResult
from textual.widgets import Input, Select

from console.timefmt import local, parse_when
from console.tui.dialogs.form import FormDialog, error_line, form_row
from store.errors import InvalidInput
from store.i18n import _

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


class OverrideDialog(FormDialog[OverrideRequest]):
    """调班 — put a person on a post for one interval, over the rotation.

    Args:
        posts: ``(code, name)`` of every post; at least one.
        now: the current time (relative starts count from it).
        zone: the office's zone, in which times are typed and shown.
        post: the post to start with.
        start, end: the interval to start with (e.g. the highlighted shift or gap).
    """

    DIALOG_ID = "override-dialog"
    ENTER_SAVES = frozenset({"override-reason"})

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

    def form_title(self) -> str:
        return _("Roster override")

    def fields(self) -> ComposeResult:
        yield form_row(
            _("Post"),
            Select(
                [(f"{code} {name}", code) for code, name in self._posts],
                value=self._post,
                allow_blank=False,
                id="override-post",
                compact=True,
            ),
        )
        yield form_row(
            _("Person on duty"),
            Input(placeholder=_("key, phone or name"), id="override-person", compact=True),
        )
        yield error_line("override-person-error")
        yield form_row(
            _("From"),
            Input(
                local(self._start, self._zone),
                placeholder=_("YYYY-MM-DD HH:MM, or +2h from now"),
                id="override-from",
                compact=True,
            ),
        )
        yield error_line("override-from-error")
        yield form_row(
            _("To"),
            Input(
                local(self._end, self._zone),
                placeholder=_("YYYY-MM-DD HH:MM, or +12h after the start"),
                id="override-to",
                compact=True,
            ),
        )
        yield error_line("override-to-error")
        yield form_row(
            _("Reason"),
            Input(placeholder=_("swap, sick leave, who asked"), id="override-reason", compact=True),
        )
        yield error_line("override-reason-error")

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
        except (OverflowError, ValueError):  # +999999999d, or year 1 in a zone east of UTC
            errors["override-from"] = _("out of range")
        try:
            # "+12h" counts from the start when there is one: a shift's length.
            end = parse_when(self._value("override-to"), start or self._now, self._zone, "to")
        except InvalidInput as exc:
            errors["override-to"] = exc.reason
        except (OverflowError, ValueError):
            errors["override-to"] = _("out of range")
        if start is not None and end is not None and end <= start:
            errors["override-to"] = _("must be after the start")
        post = self.query_one("#override-post", Select).value
        if any(errors.values()) or start is None or end is None or not isinstance(post, str):
            return None, errors
        return OverrideRequest(post, person, start, end, reason), errors

    def result(self) -> OverrideRequest | None:
        """Check every field and show every error; the request when all are valid."""
        request, errors = self._parse()
        for input_id, message in errors.items():
            self.show_error(ERRORS[input_id], message, input_id)
        if request is None:
            bad = next((input_id for input_id, message in errors.items() if message), None)
            self.query_one(f"#{bad}" if bad else "#override-post").focus()
        return request
