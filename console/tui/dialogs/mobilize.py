"""Provides the dialog that starts a mobilization (动员) from a case.

It asks what to call (``grid:G01``, ``team:T-RESCUE``, ``node:CODE`` of the contact tree), the
message, cascade or broadcast, how many yes answers are needed per grid or team, and whether it
is an exercise. Each field is checked when it is left and again on submit, and its error shows
under it. Whether the targets exist in the contact tree is for
:func:`mobilization.start_mobilization` to say when it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Checkbox, Input, Select

from console.tui.dialogs.form import FormDialog, error_line, form_row
from incidents.models import Incident
from mobilization import MAX_MESSAGE, TARGET_KINDS, Mode, Target, TargetKind
from store.errors import InvalidInput
from store.i18n import N_, _

# (label, mode); the labels are translated where the select is built.
MODE_OPTIONS = [
    (N_("cascade: leaders first, then the people below"), Mode.CASCADE),
    (N_("broadcast: everyone at once"), Mode.BROADCAST),
]
# Spaces, commas and semicolons, ASCII or full-width (，；), and the enumeration comma (、).
_SEPARATORS = re.compile(r"[\s,\uff0c;\uff1b\u3001]+")
# The fields checked one by one -> (the widget, the line its error shows on).
FIELDS = {
    "targets": ("mobilize-targets", "targets-error"),
    "message": ("mobilize-message", "message-error"),
    "need": ("mobilize-need", "need-error"),
}


@dataclass(frozen=True)
class MobilizeRequest:
    """What the dialog returns: the arguments of ``start_mobilization``, checked."""

    targets: tuple[Target, ...]
    message: str
    mode: str
    need: int | None
    exercise: bool


def parse_targets(text: str) -> tuple[Target, ...]:
    """``grid:G01, team:T-RESCUE`` (commas or spaces between) as targets, without repeats.

    Raises:
        InvalidInput: nothing given, or an item that is not ``kind:CODE``.
    """
    items = [item for item in _SEPARATORS.split(text.strip()) if item]
    if not items:
        raise InvalidInput(
            _("required: name at least one grid:CODE, team:CODE or node:CODE"), "targets"
        )
    targets: list[Target] = []
    for item in items:
        kind, sep, code = item.partition(":")
        if not sep or kind not in TARGET_KINDS or not code:
            raise InvalidInput(
                _("{item!r} is not grid:CODE, team:CODE or node:CODE").format(item=item),
                "targets",
            )
        target = Target(TargetKind(kind), code)
        if target not in targets:
            targets.append(target)
    return tuple(targets)


def parse_message(text: str) -> str:
    """The message on one line, as it will be sent.

    Raises:
        InvalidInput: empty, or longer than the gateway takes.
    """
    message = " ".join(text.split())
    if not message:
        raise InvalidInput(_("a message is required"), "message")
    if len(message) > MAX_MESSAGE:
        raise InvalidInput(
            _("{length} characters; at most {max}").format(length=len(message), max=MAX_MESSAGE),
            "message",
        )
    return message


def parse_need(text: str) -> int | None:
    """How many yes answers each grid or team needs; blank for "everyone".

    Raises:
        InvalidInput: not a whole number of at least 1.
    """
    value = text.strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InvalidInput(_("a whole number ≥ 1, or blank to call everyone"), "need")
    return int(value)


_PARSERS = {"targets": parse_targets, "message": parse_message, "need": parse_need}


class MobilizeDialog(FormDialog[MobilizeRequest]):
    """动员 — start a mobilization; dismisses with a :class:`MobilizeRequest` or ``None``.

    Args:
        targets: the targets to start with, e.g. ``grid:G01``.
        message: the message to start with.
        number: the case's number, shown in the title.
    """

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "save", N_("Mobilize")),
    ]
    DIALOG_ID = "mobilize-dialog"
    SAVE_BUTTON = N_("Mobilize (ctrl+s)")
    SUBTITLE = N_("ctrl+s mobilize · esc cancel")

    def __init__(self, *, targets: str = "", message: str = "", number: str | None = None):
        super().__init__()
        self._targets = targets
        self._message = message
        self._number = number

    @classmethod
    def for_incident(cls, incident: Incident) -> MobilizeDialog:
        """The dialog for a case: its grid as the target, its title as the message."""
        return cls(
            targets=f"grid:{incident.grid}" if incident.grid else "",
            message=incident.title,
            number=incident.number,
        )

    def form_title(self) -> str:
        return _("Mobilize") + (f" · {self._number}" if self._number else "")

    def fields(self) -> ComposeResult:
        yield form_row(
            _("Targets"),
            Input(
                self._targets,
                placeholder="grid:G01, team:T-RESCUE, node:CODE",
                id="mobilize-targets",
                compact=True,
            ),
        )
        yield error_line("targets-error")
        yield form_row(
            _("Message"),
            Input(
                self._message,
                placeholder=_("what people are told"),
                id="mobilize-message",
                compact=True,
            ),
        )
        yield error_line("message-error")
        yield form_row(
            _("Mode"),
            Select(
                [(_(label), mode) for label, mode in MODE_OPTIONS],
                value="cascade",
                allow_blank=False,
                id="mobilize-mode",
                compact=True,
            ),
        )
        yield form_row(
            _("Need"),
            Input(
                placeholder=_("yes answers per grid/team; blank: everyone"),
                id="mobilize-need",
                compact=True,
            ),
        )
        yield error_line("need-error")
        yield form_row(
            _("Exercise"),
            Checkbox(
                _("exercise: a drill, not a real call-out"),
                id="mobilize-exercise",
                compact=True,
            ),
        )

    def on_mount(self) -> None:
        first = "mobilize-message" if self._targets else "mobilize-targets"
        self.query_one(f"#{first}", Input).focus()

    # ---- checking ---------------------------------------------------------------------------

    def check(self, field: str) -> bool:
        """Check one field on its own; show or clear its error. Returns whether it is valid."""
        widget_id, error_id = FIELDS[field]
        try:
            _PARSERS[field](self.query_one(f"#{widget_id}", Input).value)
        except InvalidInput as exc:
            message = exc.reason
        else:
            message = ""
        self.show_error(error_id, message, widget_id)
        return not message

    def _field_of(self, input_id: str | None) -> str | None:
        return next((field for field, (wid, _err) in FIELDS.items() if wid == input_id), None)

    @on(Input.Blurred)
    def _left_input(self, event: Input.Blurred) -> None:
        field = self._field_of(event.input.id)
        if field is not None:
            self.check(field)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        field = self._field_of(event.input.id)
        if field is not None and event.input.has_class("-invalid"):
            self.check(field)

    # ---- closing ----------------------------------------------------------------------------

    def result(self) -> MobilizeRequest | None:
        """Check every field and show every error; the request when all are valid."""
        bad = [field for field in FIELDS if not self.check(field)]
        if bad:
            self.query_one(f"#{FIELDS[bad[0]][0]}").focus()
            return None
        return MobilizeRequest(
            targets=parse_targets(self.query_one("#mobilize-targets", Input).value),
            message=parse_message(self.query_one("#mobilize-message", Input).value),
            mode=str(self.query_one("#mobilize-mode", Select).value),
            need=parse_need(self.query_one("#mobilize-need", Input).value),
            exercise=self.query_one("#mobilize-exercise", Checkbox).value,
        )
