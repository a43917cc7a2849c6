"""Provides the dialog that starts a mobilization (动员) from a case.

It asks what to call (grids and teams picked by name, pinyin or initials with the
:class:`~console.tui.widgets.picker.Picker`, one after the other, ``ctrl+r`` taking the last one
off; a tree node may be written ``node:CODE``), the message, cascade or broadcast, how many yes
answers are needed per grid or team, and whether it is an exercise. The message starts as the
case's category template filled from the case (place, time, what to do, where to report:
:mod:`mobilization.templates`).

Messages go out at once, so before anything is sent the dialog shows who would be called (the
people per grid and team, the mode, real or exercise), the SMS as a person receives it (with
the carriers' signature) and its length in SMS segments, and warns when the case already has a
mobilization running (``ctrl+g`` opens it) or when reply links would point at this machine
(``[serve] public_url`` unset). ``ctrl+s`` then asks to confirm. Each field is checked when it
is left and again on submit, and its error shows under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Checkbox, Input, Select, Static
from textual.worker import get_current_worker

from console.tui.dialogs.form import FormDialog, error_line, form_row
from console.tui.widgets.picker import Picker
from incidents.models import Incident, category_label, type_label
from jurisdiction.units import get_unit
from mobilization import (
    MAX_MESSAGE,
    TARGET_KINDS,
    CaseFacts,
    Mobilization,
    Mode,
    Preview,
    Target,
    TargetKind,
    ensure_default_tree,
    fill,
    is_loopback_url,
    preview_mobilization,
    running_for_incident,
    sample_sms,
)
from store.db import Database
from store.errors import DutydeskError, InvalidInput, NotFound
from store.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from console.tui.app import DutydeskApp

# (label, mode); the labels are translated where the select is built.
MODE_OPTIONS = [
    (N_("cascade: leaders first, then the people below"), Mode.CASCADE),
    (N_("broadcast: everyone at once"), Mode.BROADCAST),
]
# Spaces, commas and semicolons, ASCII or full-width (，；), and the enumeration comma (、).
_SEPARATORS = re.compile(r"[\s,\uff0c;\uff1b\u3001]+")
# The fields checked one by one -> (the widget, the line its error shows on).
FIELDS = {
    "message": ("mobilize-message", "message-error"),
    "need": ("mobilize-need", "need-error"),
}
ALERT = "⚠"
TARGET_KINDS_PICKED = ("grid", "team")  # what the picker offers (node:CODE may be typed)


@dataclass(frozen=True)
class MobilizeRequest:
    """What the dialog returns: the arguments of ``start_mobilization``, checked."""

    targets: tuple[Target, ...]
    message: str
    mode: str
    need: int | None
    exercise: bool


@dataclass(frozen=True)
class PreviewRead:
    """What the dialog's read found: who the targets call, and the case's running ones."""

    targets: tuple[Target, ...]
    preview: Preview | None
    error: str
    running: list[Mobilization]
    grid_name: str = ""  # the case's grid by name (the template's place when it has none)


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


_PARSERS = {"message": parse_message, "need": parse_need}


def case_facts(incident: Incident, zone_time: str, grid_name: str = "") -> CaseFacts:
    """A case in the words a template is filled with (``zone_time``: when, in the office's zone;
    ``grid_name``: its grid's name, the place when the case has no location)."""
    return CaseFacts(
        title=incident.title,
        place=incident.location or grid_name or incident.grid or "",
        time=zone_time,
        category=incident.category,
        category_label=category_label(incident.category),
        type_label=type_label(incident.type) if incident.type else "",
        number=incident.number,
        grid=incident.grid or "",
    )


def who_line(preview: Preview, mode: str, exercise: bool) -> Text:
    """``Calls 5 people: 一网格 4 · 救援队 1 · cascade · REAL call-out``."""
    text = Text()
    calls = ngettext("Calls {count} person", "Calls {count} people", preview.people).format(
        count=preview.people
    )
    text.append(calls, style="bold")
    if preview.groups:
        text.append(": ")
        text.append(" · ".join(f"{g.label} {g.people}" for g in preview.groups))
    text.append(f" · {Mode(mode).label} · ")
    if exercise:
        text.append(f" {_('EXERCISE')} ", style="bold black on yellow")
    else:
        text.append(_("REAL call-out, not a drill"), style="bold red")
    if preview.unfilled:
        text.append("\n")
        text.append(
            f"{ALERT} "
            + _("nobody on post now (their alternates are called): {nodes}").format(
                nodes=", ".join(preview.unfilled[:5]) + ("…" if len(preview.unfilled) > 5 else "")
            ),
            style="yellow",
        )
    return text


def _unit_name(db: Database, code: str) -> str:
    """A grid's name ("" when it is gone)."""
    try:
        return get_unit(db, code).name
    except NotFound:
        return ""


class MobilizeDialog(FormDialog[MobilizeRequest]):
    """动员 — start a mobilization; dismisses with a :class:`MobilizeRequest` or ``None``.

    Args:
        targets: the targets to start with, e.g. ``grid:G01``.
        message: the message to start with (``None``: the case's template, for a case).
        number: the case's number, shown in the title.
        incident: the case mobilized from (its template, its running mobilizations).
    """

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "save", N_("Mobilize")),
        Binding("ctrl+g", "open_running", N_("Open running")),
        Binding("ctrl+r", "remove_target", N_("Remove last target")),
    ]
    DIALOG_ID = "mobilize-dialog"
    CSS_PATH = "mobilize.tcss"
    SAVE_BUTTON = N_("Mobilize (ctrl+s)")
    SUBTITLE = N_("ctrl+s mobilize · esc cancel")

    def __init__(
        self,
        *,
        targets: str = "",
        message: str | None = None,
        number: str | None = None,
        incident: Incident | None = None,
    ):
        super().__init__()
        try:
            chosen = parse_targets(targets) if targets.strip() else ()
        except InvalidInput:
            chosen = ()
        # The targets chosen so far, with the words they are shown in (a code until known).
        self._chosen: list[tuple[Target, str]] = [(t, t.code) for t in chosen]
        self._picked_now = False  # a target was just taken with enter: stay in the picker
        self._message = message
        self._number = number
        self._incident = incident
        self.preview: PreviewRead | None = None

    @classmethod
    def for_incident(cls, incident: Incident) -> MobilizeDialog:
        """The dialog for a case: its grid as the target, its category's template as the
        message."""
        return cls(
            targets=f"grid:{incident.grid}" if incident.grid else "",
            number=incident.number,
            incident=incident,
        )

    @property
    def desk(self) -> DutydeskApp:
        return cast("DutydeskApp", self.app)

    def form_title(self) -> str:
        return _("Mobilize") + (f" · {self._number}" if self._number else "")

    def _initial_message(self, grid_name: str = "") -> str:
        if self._message is not None:
            return self._message
        if self._incident is None:
            return ""
        config = self.desk.ctx.config
        when = self._incident.reported_at.astimezone(config.zone).strftime("%m-%d %H:%M")
        facts = case_facts(self._incident, when, grid_name)
        return fill(facts, config.mobilize_templates)

    def fields(self) -> ComposeResult:
        yield Static("", id="mobilize-warnings", markup=False)
        targets = form_row(
            _("Targets"),
            Picker(
                self.desk.ctx.db,
                kinds=TARGET_KINDS_PICKED,
                placeholder=_("add a grid or team: name, pinyin or initials"),
                id="mobilize-targets",
            ),
        )
        targets.add_class("-picker")  # the row grows while the completion list is open
        yield targets
        yield Static("", id="mobilize-chosen", markup=False)
        yield error_line("targets-error")
        yield form_row(
            _("Message"),
            Input(
                self._initial_message(),
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
        yield Static("…", id="mobilize-who", markup=False)
        yield Static("", id="mobilize-sms", markup=False)
        yield Static("", id="mobilize-sms-text", markup=False)

    def on_mount(self) -> None:
        # Always the picker, even with the case's grid already chosen: what one types first
        # adds a team, and never replaces the prepared message (an Input selects all on focus).
        self.query_one("#mobilize-targets", Picker).focus()
        self._show_chosen()
        self._show_sms()
        self._read_preview()

    # ---- the targets ------------------------------------------------------------------------

    @property
    def targets(self) -> tuple[Target, ...]:
        """The targets chosen so far."""
        return tuple(target for target, _label in self._chosen)

    def add_target(self, target: Target, label: str) -> None:
        """Add a target (once), show it and read again who would be called."""
        if target not in self.targets:
            self._chosen.append((target, label))
        self.show_error("targets-error", "", "mobilize-targets")
        self._show_chosen()
        self._read_preview()

    def action_remove_target(self) -> None:
        """Take the last target chosen off the list."""
        if self._chosen:
            self._chosen.pop()
            self._show_chosen()
            self._read_preview()

    def _show_chosen(self) -> None:
        text = Text()
        if not self._chosen:
            text.append(_("no grid or team chosen yet"), style="dim")
        for index, (target, label) in enumerate(self._chosen):
            if index:
                text.append(" · ")
            text.append(label, style="bold")
            if label != target.code:
                text.append(f" ({target.code})", style="dim")
        if self._chosen:
            text.append("   " + _("ctrl+r removes the last"), style="dim")
        self.query_one("#mobilize-chosen", Static).update(text)

    @on(Picker.Picked, "#mobilize-targets")
    def _picked(self, event: Picker.Picked) -> None:
        event.stop()
        picked = event.target
        self._picked_now = True
        event.picker.clear()
        self.add_target(Target(TargetKind(picked.kind), picked.code), picked.label)

    @on(Input.Submitted, "#mobilize-targets--input")
    def _entered_target(self, event: Input.Submitted) -> None:
        """Enter in the picker: a target just taken, or one written as kind:CODE, is added and
        the picker stays for the next; on an empty picker enter moves on."""
        picker = self.query_one("#mobilize-targets", Picker)
        typed = event.value.strip()
        if self._picked_now:
            self._picked_now = False
        elif typed and ":" in typed:
            try:
                written = parse_targets(typed)
            except InvalidInput as exc:
                self.show_error("targets-error", exc.reason, "mobilize-targets")
            else:
                picker.clear()
                for target in written:
                    self.add_target(target, target.code)
        elif typed:
            self.show_error(
                "targets-error",
                _("{text!r}: pick a grid or team from the list").format(text=typed),
                "mobilize-targets",
            )
        else:
            return  # the form's own handler moves on to the next field
        event.stop()
        event.prevent_default()

    def _check_targets(self) -> bool:
        """Whether targets are chosen and nothing typed is left unpicked (the error shows)."""
        typed = self.query_one("#mobilize-targets", Picker).text.strip()
        if typed:
            message = _("{text!r}: pick a grid or team from the list").format(text=typed)
        elif not self._chosen:
            message = _("required: choose at least one grid or team")
        else:
            message = ""
        self.show_error("targets-error", message, "mobilize-targets")
        return not message

    # ---- what would happen ------------------------------------------------------------------

    def _values(self) -> tuple[str, bool]:
        mode = self.query_one("#mobilize-mode", Select).value
        return (
            str(mode) if isinstance(mode, str) else Mode.CASCADE,
            self.query_one("#mobilize-exercise", Checkbox).value,
        )

    def _read_preview(self) -> None:
        """Read who the targets would call, and the case's running mobilizations (a worker)."""
        self._preview_worker(self.targets)

    def preview_running(self) -> list[Mobilization]:
        return self.preview.running if self.preview is not None else []

    @work(thread=True, exclusive=True, exit_on_error=False, group="mobilize-preview")
    def _preview_worker(self, targets: tuple[Target, ...]) -> None:
        ctx = self.desk.ctx
        incident = self._incident
        error, preview, running, grid_name = "", None, [], ""
        try:
            with self.desk.db_lock:
                if incident is not None and incident.grid and not incident.location:
                    grid_name = _unit_name(ctx.db, incident.grid)
                ensure_default_tree(ctx.db, ctx.clock, ctx.operator)  # as starting would
                if incident is not None:
                    running = running_for_incident(ctx.db, incident.id)
                if targets:
                    preview = preview_mobilization(ctx.db, ctx.clock.now(), targets)
                else:
                    error = _("choose at least one grid or team")
        except DutydeskError as exc:
            error = str(exc.reason if isinstance(exc, InvalidInput) else exc)
        except Exception as exc:  # a locked database must not close the dialog
            error = str(exc) or type(exc).__name__
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(
                self._previewed, PreviewRead(targets, preview, error, running, grid_name)
            )

    def _previewed(self, read: PreviewRead) -> None:
        if not self.is_attached:
            return
        self.preview = read
        message = self.query_one("#mobilize-message", Input)
        if read.grid_name and message.value == self._initial_message():
            message.value = self._initial_message(read.grid_name)  # not edited yet: named
        if read.preview is not None:  # a target added by its code gets its name
            names = {g.code: g.label for g in read.preview.groups if g.code}
            self._chosen = [
                (t, names.get(t.code, label) if label == t.code else label)
                for t, label in self._chosen
            ]
            self._show_chosen()
        self._show_preview()

    def _show_preview(self) -> None:
        read = self.preview
        who = self.query_one("#mobilize-who", Static)
        mode, exercise = self._values()
        if read is None:
            who.update("…")
        elif read.preview is None:
            who.update(Text(f"{ALERT} {read.error}", style="yellow") if read.error else "…")
        else:
            who.update(who_line(read.preview, mode, exercise))
        self._show_warnings()
        self.refresh_bindings()

    def _show_sms(self) -> None:
        """The SMS as one person receives it: its signature, length and segments."""
        ctx = self.desk.ctx
        config = ctx.config
        sms = config.channels.sms
        _mode, exercise = self._values()
        message = " ".join(self.query_one("#mobilize-message", Input).value.split())
        text, length = sample_sms(
            message,
            exercise=exercise,
            now=ctx.clock.now(),
            base_url=config.base_url,
            ttl=config.ack_ttl,
            signature=sms.signature if sms else None,
            signature_at=sms.signature_at if sms else "start",
        )
        line = Text()
        line.append(_("SMS") + ": ", style="bold")
        segments = ngettext("{count} segment", "{count} segments", length.segments).format(
            count=length.segments
        )
        line.append(
            _("{chars} characters, {segments} ({encoding}, {per} per segment)").format(
                chars=length.chars,
                segments=segments,
                encoding=length.encoding,
                per=length.per_segment,
            ),
            style="bold yellow" if length.segments > 1 else "",
        )
        if sms is not None and sms.signature:
            line.append(" · " + _("signature {signature}").format(signature=sms.signature))
        elif sms is not None:
            line.append(
                f"  {ALERT} " + _("no signature: set [channels.sms] signature"), style="yellow"
            )
        self.query_one("#mobilize-sms", Static).update(line)
        self.query_one("#mobilize-sms-text", Static).update(text)

    def _show_warnings(self) -> None:
        config = self.desk.ctx.config
        text = Text()
        for mob in self.preview_running():
            if text:
                text.append("\n")
            text.append(
                f"{ALERT} "
                + _(
                    "mobilization #{id} is already running for this case (since {time}):"
                    " ctrl+g opens it"
                ).format(id=mob.id, time=mob.created_at.astimezone(config.zone).strftime("%H:%M")),
                style="bold red",
            )
        outgoing = config.channels.configured - {"log"}
        if outgoing and (config.public_url is None or is_loopback_url(config.base_url)):
            if text:
                text.append("\n")
            text.append(
                f"{ALERT} "
                + _(
                    "reply links would point at {url}, which phones cannot open:"
                    " set [serve] public_url"
                ).format(url=config.base_url),
                style="bold red",
            )
        widget = self.query_one("#mobilize-warnings", Static)
        widget.update(text)
        widget.set_class(bool(text), "-shown")

    @on(Input.Changed, "#mobilize-message")
    def _message_typed(self, _event: Input.Changed) -> None:
        self._show_sms()

    @on(Checkbox.Changed, "#mobilize-exercise")
    @on(Select.Changed, "#mobilize-mode")
    def _mode_changed(self) -> None:
        self._show_sms()
        self._show_preview()

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
        bad = ([] if self._check_targets() else ["targets"]) + [
            field for field in FIELDS if not self.check(field)
        ]
        if bad:
            first = "mobilize-targets" if bad[0] == "targets" else FIELDS[bad[0]][0]
            self.query_one(f"#{first}").focus()
            return None
        mode, exercise = self._values()
        return MobilizeRequest(
            targets=self.targets,
            message=parse_message(self.query_one("#mobilize-message", Input).value),
            mode=mode,
            need=parse_need(self.query_one("#mobilize-need", Input).value),
            exercise=exercise,
        )

    def action_save(self) -> None:
        """Check the fields, then ask to confirm, saying who is called and real or drill."""
        request = self.result()
        if request is None:
            return
        from console.tui.dialogs.yes_no import YesNoDialog

        read = self.preview
        known = read is not None and read.preview is not None and read.targets == request.targets
        people = read.preview.people if known and read and read.preview else None
        if people is None:
            who = _("Start the mobilization now?")
        else:
            who = ngettext("Call {count} person now?", "Call {count} people now?", people).format(
                count=people
            )
        kind = (
            _("This is an EXERCISE (a drill).")
            if request.exercise
            else _("This is a REAL call-out: messages go out at once.")
        )
        lines = [who, kind]
        if self.preview_running():
            lines.append(
                _("Mobilization #{id} is already running for this case.").format(
                    id=self.preview_running()[0].id
                )
            )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.dismiss(request)

        self.app.push_screen(
            YesNoDialog(
                _("Confirm mobilization"),
                "\n".join(lines),
                yes=_("Mobilize now"),
                no=_("Back"),
            ),
            confirmed,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_running":
            return bool(self.preview_running()) or None
        return True

    def action_open_running(self) -> None:
        """Leave the dialog for the case's running mobilization (the newest)."""
        running = self.preview_running()
        if not running:
            return
        from console.tui.screens.mobilization import MobilizationScreen

        self.dismiss(None)
        self.app.push_screen(MobilizationScreen(running[0].id))
