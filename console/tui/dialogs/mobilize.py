"""Provides the dialog that starts a mobilization (动员) from a case.

It asks what to call (``grid:G01``, ``team:T-RESCUE``, ``node:CODE`` of the contact tree), the
message, cascade or broadcast, how many yes answers are needed per grid or team, and whether it
is an exercise. Each field is checked when it is left and again on submit, and its error shows
under it. Whether the targets exist in the contact tree is for
:func:`mobilization.mobilize.start_mobilization` to say when it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from incidents.models import Incident
from mobilization.mobilize import MAX_MESSAGE, TARGET_KINDS, Target
from store.errors import InvalidInput
from store.i18n import N_, _

# (label, mode); the labels are translated where the select is built.
MODE_OPTIONS = [
    (N_("cascade: leaders first, then the people below"), "cascade"),
    (N_("broadcast: everyone at once"), "broadcast"),
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
        target = Target(kind, code)
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


class MobilizeDialog(ModalScreen[MobilizeRequest | None]):
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

    def compose(self) -> ComposeResult:
        with Vertical(id="mobilize-dialog", classes="dialog") as box:
            box.border_title = _("Mobilize") + (f" · {self._number}" if self._number else "")
            box.border_subtitle = _("ctrl+s mobilize · esc cancel")
            with Horizontal(classes="form-row"):
                yield Label(_("Targets"), classes="form-label")
                yield Input(
                    self._targets,
                    placeholder="grid:G01, team:T-RESCUE, node:CODE",
                    id="mobilize-targets",
                    compact=True,
                )
            yield Static("", id="targets-error", classes="field-error", markup=False)
            with Horizontal(classes="form-row"):
                yield Label(_("Message"), classes="form-label")
                yield Input(
                    self._message,
                    placeholder=_("what people are told"),
                    id="mobilize-message",
                    compact=True,
                )
            yield Static("", id="message-error", classes="field-error", markup=False)
            with Horizontal(classes="form-row"):
                yield Label(_("Mode"), classes="form-label")
                yield Select(
                    [(_(label), mode) for label, mode in MODE_OPTIONS],
                    value="cascade",
                    allow_blank=False,
                    id="mobilize-mode",
                    compact=True,
                )
            with Horizontal(classes="form-row"):
                yield Label(_("Need"), classes="form-label")
                yield Input(
                    placeholder=_("yes answers per grid/team; blank: everyone"),
                    id="mobilize-need",
                    compact=True,
                )
            yield Static("", id="need-error", classes="field-error", markup=False)
            with Horizontal(classes="form-row"):
                yield Label(_("Exercise"), classes="form-label")
                yield Checkbox(
                    _("exercise: a drill, not a real call-out"),
                    id="mobilize-exercise",
                    compact=True,
                )
            with Horizontal(classes="dialog--buttons"):
                yield Button(_("Mobilize (ctrl+s)"), variant="primary", id="ok")
                yield Button(_("Cancel (esc)"), id="cancel")

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
        error = self.query_one(f"#{error_id}", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")
        self.query_one(f"#{widget_id}").set_class(bool(message), "-invalid")
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

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    # ---- closing ----------------------------------------------------------------------------

    def action_save(self) -> None:
        """Check every field and show every error; close with the request when all are valid."""
        bad = [field for field in FIELDS if not self.check(field)]
        if bad:
            self.query_one(f"#{FIELDS[bad[0]][0]}").focus()
            return
        self.dismiss(
            MobilizeRequest(
                targets=parse_targets(self.query_one("#mobilize-targets", Input).value),
                message=parse_message(self.query_one("#mobilize-message", Input).value),
                mode=str(self.query_one("#mobilize-mode", Select).value),
                need=parse_need(self.query_one("#mobilize-need", Input).value),
                exercise=self.query_one("#mobilize-exercise", Checkbox).value,
            )
        )

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_save()
        else:
            self.dismiss(None)
