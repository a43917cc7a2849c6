"""Provides the form that logs a new case, validated field by field with the domain's own rules.

Each field is checked when the officer leaves it, and the whole form again on save, with
:func:`incidents.records.validate_new`: the console never keeps rules of its own that could
drift from what the CLI and the database accept. An error shows under its field and the
dialog stays open until the form is valid or cancelled.

As the officer types, the open cases the call likely repeats show under the title
(:func:`incidents.duplicates.find_duplicates`, read in a worker). ``ctrl+n`` adds the call to
the highlighted one as a note naming the caller, ``ctrl+g`` logs the case and merges it into
that one; ``up``/``down`` in a text field move the highlight. Either write is done here, and the
dialog then closes with ``None``: the caller has nothing left to log.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Select, TextArea
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from console.timefmt import clock
from console.tui.dialogs.form import FormDialog, error_line, form_row
from console.tui.widgets.picker import Picker
from contacts.directory import Entry, entries, resolve_entry
from incidents import workflow
from incidents.duplicates import Call, Duplicate, add_call, caller_text, find_duplicates
from incidents.models import CATEGORIES, Severity, Source, Urgency, category_label, type_label
from incidents.records import NewIncident, create_incident, validate_new
from store.db import write
from store.errors import DutydeskError, InvalidInput
from store.i18n import N_, _
from store.masking import mask_phone

if TYPE_CHECKING:
    from console.tui.app import DutydeskApp

DUPLICATES_SETTLE_SECONDS = 0.3
"""How long typing rests before the likely duplicates are read again."""

# validate_new's field names -> the widget holding the value.
FIELD_WIDGETS = {
    "title": "new-title",
    "category": "new-category",
    "type": "new-type",
    "severity": "new-severity",
    "urgency": "new-urgency",
    "source": "new-source",
    "location": "new-location",
    "grid": "new-grid",
    "reporter_name": "new-reporter-name",
    "reporter_phone": "new-reporter-phone",
    "description": "new-description",
}
WIDGET_FIELDS = {widget: field for field, widget in FIELD_WIDGETS.items()}
GRID_INPUT = "new-grid--input"  # the grid picker's own field (the picker names it so)
# validate_new's field names -> how an error line names them (translated where shown).
FIELD_LABELS = {
    "title": N_("Title"),
    "category": N_("Category"),
    "type": N_("Type"),
    "severity": N_("Level"),
    "urgency": N_("Urgency"),
    "source": N_("Source"),
    "location": N_("Location"),
    "grid": N_("Grid"),
    "reporter_name": N_("Reporter"),
    "reporter_phone": N_("Reporter's phone"),
    "description": N_("Description"),
}
# Fields whose errors share one line under a row of several widgets.
ERROR_LINES = {
    "title": "title-error",
    "category": "class-error",
    "type": "class-error",
    "severity": "level-error",
    "urgency": "level-error",
    "source": "level-error",
    "location": "location-error",
    "grid": "reporter-error",
    "reporter_name": "reporter-error",
    "reporter_phone": "reporter-error",
    "description": "description-error",
}
# A valid case to check one field against: only the field under test can fail.
_PROBE = NewIncident(title="probe", category="natural_disaster")


def field_error(new: NewIncident, field: str) -> str | None:
    """The domain's complaint about ``field`` of ``new`` alone, or ``None`` when it is fine."""
    values: dict[str, Any] = {field: getattr(new, field)}
    if field == "type":
        values["category"] = new.category
    try:
        validate_new(replace(_PROBE, **values))
    except InvalidInput as exc:
        if exc.field == field:
            return _message(exc)
    return None


def _message(exc: InvalidInput) -> str:
    return exc.reason if exc.field else str(exc)


def _type_options(category: str | None) -> list[tuple[str, str]]:
    if category not in CATEGORIES:
        return []
    return [(type_label(code), code) for code in CATEGORIES[category][1]]


def duplicate_line(dup: Duplicate, zone: Any) -> Text:
    """One likely duplicate as the form lists it, on one line: number, time, title, place,
    why (cut with "…" where the box ends)."""
    case = dup.incident
    place = " ".join(x for x in (case.grid or "", case.location) if x)
    parts = (case.number, clock(case.reported_at, zone), case.title, place)
    line = "  ".join(x for x in parts if x) + f"  ({dup.reason_text()})"
    return Text(line.replace("\n", " "), no_wrap=True, overflow="ellipsis")  # never markup


class NewIncidentDialog(FormDialog[NewIncident]):
    """The 新建事件 form; dismisses with a valid :class:`NewIncident`, or ``None`` on cancel
    (or when the call went to an existing case instead)."""

    DIALOG_ID = "new-incident-dialog"
    CSS_PATH = "new_incident.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *FormDialog.BINDINGS,
        Binding("ctrl+n", "add_to_case", N_("Add to case")),
        Binding("ctrl+g", "log_and_merge", N_("Log and merge")),
        Binding("down", "duplicate(1)", show=False),
        Binding("up", "duplicate(-1)", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._errors: dict[str, str] = {}
        self._duplicates: list[Duplicate] = []
        self._dup_timer: Timer | None = None
        self._busy = False
        self._grids: list[Entry] | None = None  # the current grids, read once in a worker

    @property
    def desk(self) -> DutydeskApp:
        return cast("DutydeskApp", self.app)

    def form_title(self) -> str:
        return _("New case")

    def fields(self) -> ComposeResult:
        yield form_row(
            _("Title"),
            Input(placeholder=_("e.g. gas leak in building 3"), id="new-title", compact=True),
        )
        yield error_line("title-error")
        with Vertical(id="new-duplicates-box"):
            with Horizontal(id="new-duplicates-head"):
                yield Label(_("The same call?"), id="new-duplicates-title")
                # Not in the tab order (ctrl+n, ctrl+g and a click reach them): the panel comes
                # and goes as the officer types, and tab must keep going from field to field.
                for label, button_id in (
                    (_("Add to case (ctrl+n)"), "dup-add"),
                    (_("Log and merge (ctrl+g)"), "dup-merge"),
                ):
                    button = Button(label, id=button_id, compact=True)
                    button.can_focus = False
                    yield button
            duplicates = OptionList(id="new-duplicates", compact=True)
            duplicates.can_focus = False  # tab keeps going from field to field; up/down choose
            yield duplicates
        yield form_row(
            _("Category"),
            Select(
                [(category_label(code), code) for code in CATEGORIES],
                prompt=_("Category"),
                id="new-category",
                compact=True,
            ),
            Label(_("Type"), classes="form-inline-label"),
            Select([], prompt=_("Type"), id="new-type", compact=True),
        )
        yield error_line("class-error")
        yield form_row(
            _("Level"),
            Select(
                [(f"{s.roman} {s.label}", s.roman) for s in Severity],
                value=Severity.IV.roman,
                allow_blank=False,
                id="new-severity",
                compact=True,
            ),
            Label(_("Urgency"), classes="form-inline-label"),
            Select(
                [(u.label, u.value) for u in Urgency],
                value=Urgency.NORMAL.value,
                allow_blank=False,
                id="new-urgency",
                compact=True,
            ),
            Label(_("Source"), classes="form-inline-label"),
            Select(
                [(s.label, s.value) for s in Source],
                value=Source.PHONE.value,
                allow_blank=False,
                id="new-source",
                compact=True,
            ),
        )
        yield error_line("level-error")
        yield form_row(
            _("Location"),
            Input(placeholder=_("address / landmark"), id="new-location", compact=True),
        )
        yield error_line("location-error")
        grid_row = form_row(
            _("Grid"),
            Picker(
                self.desk.ctx.db,
                kinds=("grid",),
                placeholder=_("name, code or pinyin (xf)"),
                id="new-grid",
            ),
            Input(placeholder=_("reporter"), id="new-reporter-name", compact=True),
            Input(placeholder=_("phone"), id="new-reporter-phone", compact=True),
        )
        grid_row.add_class("-picker")  # the row grows while the grid's list is open
        yield grid_row
        yield error_line("reporter-error")
        yield Label(_("Description"), classes="form-label")
        yield TextArea(id="new-description", compact=True)
        yield error_line("description-error")

    def on_mount(self) -> None:
        self.query_one("#new-title", Input).focus()
        self._read_grids()

    @work(thread=True, exclusive=True, exit_on_error=False, group="new-case-grids")
    def _read_grids(self) -> None:
        """The current grids, to take a grid typed but not picked from the list (``G01``)."""
        desk = self.desk
        try:
            with desk.db_lock:
                grids = entries(desk.ctx.db, kinds=("grid",))
        except Exception:  # a locked database: the domain checks the code on save
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(setattr, self, "_grids", grids)

    # ---- reading the form -------------------------------------------------------------------

    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _grid(self) -> tuple[str | None, str | None]:
        """The grid's code and the complaint about it: the grid picked from the list, else
        the one the text names exactly (a code, a name; unique pinyin) among the grids read;
        before they are read, or where there are none, the text as typed (the domain decides).
        """
        picker = self.query_one("#new-grid", Picker)
        if picker.value is not None:
            return picker.value.code, None
        text = " ".join(picker.text.split())
        if not text:
            return None, None
        if not self._grids:
            return text, None
        try:
            found = resolve_entry(self._grids, text, field="grid", kinds=("grid",))
        except InvalidInput as exc:
            return text, _message(exc)
        return found.target.code, None

    def _choice(self, widget_id: str) -> str:
        value = self.query_one(f"#{widget_id}", Select).value
        return "" if value is Select.NULL else str(value)

    def form(self) -> NewIncident:
        """The form's current content (not yet validated)."""
        return NewIncident(
            title=self._text("new-title"),
            category=self._choice("new-category"),
            type=self._choice("new-type") or None,
            severity=self._choice("new-severity"),
            urgency=self._choice("new-urgency"),
            source=self._choice("new-source"),
            location=self._text("new-location"),
            grid=self._grid()[0],
            reporter_name=self._text("new-reporter-name") or None,
            reporter_phone=self._text("new-reporter-phone") or None,
            description=self.query_one("#new-description", TextArea).text,
        )

    # ---- validation ---------------------------------------------------------------------------

    def _show(self, field: str, message: str | None) -> None:
        """Show (or clear) the error of ``field`` under its row and mark its widget."""
        if message:
            self._errors[field] = message
        else:
            self._errors.pop(field, None)
        self.query_one(f"#{FIELD_WIDGETS[field]}").set_class(bool(message), "-invalid")
        line_id = ERROR_LINES[field]
        text = "  ".join(
            f"{_(FIELD_LABELS[name])}: {error}"
            for name, error in self._errors.items()
            if ERROR_LINES[name] == line_id
        )
        self.show_error(line_id, text)

    def check(self, field: str) -> bool:
        """Check one field on its own; show or clear its error. Returns whether it is valid."""
        new = self.form()
        message: str | None = None
        if field == "category" and not new.category:
            message = _("choose a category")
        elif field == "grid":
            message = self._grid()[1]
        if message is None:
            message = field_error(new, field)
        self._show(field, message)
        return message is None

    @on(Input.Blurred)
    def _left_input(self, event: Input.Blurred) -> None:
        if event.input.id == GRID_INPUT:  # the grid picker's field: typed but maybe not picked
            self.check("grid")
            self._look_for_duplicates()
            return
        field = WIDGET_FIELDS.get(event.input.id or "")
        if field is not None:
            self.check(field)

    @on(Picker.Picked, "#new-grid")
    def _grid_picked(self) -> None:
        self.check("grid")
        self._look_for_duplicates()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        field = WIDGET_FIELDS.get(event.input.id or "")
        if field is not None and event.input.has_class("-invalid"):
            self.check(field)
        if field in ("title", "location", "grid"):
            self._look_for_duplicates()

    @on(Select.Changed, "#new-category")
    def _category_chosen(self, event: Select.Changed) -> None:
        category = None if event.value is Select.NULL else str(event.value)
        self.query_one("#new-type", Select).set_options(_type_options(category))
        self.check("category")
        self._show("type", None)
        self._look_for_duplicates()

    @on(Select.Changed, "#new-type")
    def _type_chosen(self) -> None:
        self._look_for_duplicates()

    @on(TextArea.Changed, "#new-description")
    def _described(self) -> None:
        if self.query_one("#new-description").has_class("-invalid"):
            self.check("description")
        self._look_for_duplicates()

    # ---- likely duplicates --------------------------------------------------------------------

    def call(self) -> Call:
        """What the form knows of the call so far, as the duplicate search takes it."""
        new = self.form()
        return Call(
            title=new.title,
            description=new.description,
            location=new.location,
            grid=(new.grid or "").strip() or None,
            category=new.category or None,
            type=new.type,
        )

    def _look_for_duplicates(self) -> None:
        """Read the likely duplicates again once typing rests."""
        if self._dup_timer is not None:
            self._dup_timer.stop()
        self._dup_timer = self.set_timer(DUPLICATES_SETTLE_SECONDS, self._read_duplicates)

    def _read_duplicates(self) -> None:
        self._dup_timer = None
        self._find_duplicates(self.call())

    @work(thread=True, exclusive=True, exit_on_error=False, group="new-case-duplicates")
    def _find_duplicates(self, call: Call) -> None:
        desk = self.desk
        try:
            with desk.db_lock:
                found = find_duplicates(desk.ctx.db, desk.ctx.clock.now(), call)
        except Exception:  # a locked database: the form works without the hint
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_duplicates, found)

    def _show_duplicates(self, found: list[Duplicate]) -> None:
        if not self.is_attached:
            return
        chosen = self.highlighted_duplicate()  # kept when a read again still finds it
        self._duplicates = found
        listing = self.query_one("#new-duplicates", OptionList)
        listing.clear_options()
        zone = self.desk.ctx.config.zone
        listing.add_options(Option(duplicate_line(d, zone), id=d.incident.number) for d in found)
        if found:
            ids = [d.incident.id for d in found]
            kept = chosen.incident.id if chosen is not None else None
            listing.highlighted = ids.index(kept) if kept in ids else 0
        self.query_one("#new-duplicates-box").set_class(bool(found), "-shown")
        self.refresh_bindings()

    def highlighted_duplicate(self) -> Duplicate | None:
        """The likely duplicate the call would go to (the highlighted one)."""
        if not self._duplicates:
            return None
        index = self.query_one("#new-duplicates", OptionList).highlighted or 0
        return self._duplicates[min(index, len(self._duplicates) - 1)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("add_to_case", "log_and_merge"):
            return True if self._duplicates else None
        if action == "duplicate":
            # Only from a one-line field: lists and the description use up/down themselves.
            return bool(self._duplicates) and isinstance(self.focused, Input)
        return super().check_action(action, parameters)

    def action_duplicate(self, step: int) -> None:
        listing = self.query_one("#new-duplicates", OptionList)
        current = listing.highlighted or 0
        listing.highlighted = max(0, min(len(self._duplicates) - 1, current + step))

    @on(Button.Pressed, "#dup-add, #dup-merge")
    def _duplicate_button(self, event: Button.Pressed) -> None:
        event.stop()
        event.prevent_default()  # not the form's cancel
        if event.button.id == "dup-add":
            self.action_add_to_case()
        else:
            self.action_log_and_merge()

    def action_add_to_case(self) -> None:
        """Add the call to the highlighted case as a note naming the caller; then close."""
        dup = self.highlighted_duplicate()
        if dup is None or self._busy:
            return
        new = self.form()
        ok = all(self.check(f) for f in ("title", "reporter_name", "reporter_phone"))
        if not ok:
            return
        text = "\n".join(x for x in (new.title.strip(), new.description.strip()) if x)
        self._busy = True
        self._add_call(dup.incident.id, dup.incident.number, text, new)

    @work(thread=True, exit_on_error=False, group="new-case-write")
    def _add_call(self, case_id: int, number: str, text: str, new: NewIncident) -> None:
        ctx = self.desk.ctx

        def step() -> str:
            add_call(
                ctx.db,
                ctx.clock,
                ctx.operator,
                case_id,
                text,
                caller_name=new.reporter_name,
                caller_phone=new.reporter_phone,
            )
            caller = caller_text(
                {"name": new.reporter_name, "phone": mask_phone(new.reporter_phone) or None}
            )
            if caller:
                return _("call added to {number} as a note (caller {caller})").format(
                    number=number, caller=caller
                )
            return _("call added to {number} as a note").format(number=number)

        self._write(step)

    def action_log_and_merge(self) -> None:
        """Log the case (the whole form must be valid) and merge it into the highlighted one."""
        dup = self.highlighted_duplicate()
        if dup is None or self._busy:
            return
        new = self.result()
        if new is None:
            return
        self._busy = True
        self._log_and_merge(new, dup.incident.id, dup.incident.number)

    @work(thread=True, exit_on_error=False, group="new-case-write")
    def _log_and_merge(self, new: NewIncident, into: int, number: str) -> None:
        ctx = self.desk.ctx

        def step() -> str:
            with write(ctx.db):  # both or neither
                case = create_incident(ctx.db, ctx.clock, ctx.policy, ctx.operator, new)
                workflow.merge(ctx.db, ctx.clock, ctx.policy, ctx.operator, case.id, into)
            return _("{number} logged and merged into {original}").format(
                number=case.number, original=number
            )

        self._write(step)

    def _write(self, step: Any) -> None:
        """From a worker: run ``step()`` under the lock; close and say so, or show why not."""
        desk = self.desk
        try:
            with desk.db_lock:
                done = step()
        except DutydeskError as exc:
            self.app.call_from_thread(self._write_failed, exc)
            return
        except Exception as exc:  # a write that failed unexpectedly is still only a notice
            self.app.call_from_thread(
                self._write_failed, DutydeskError(_("Write failed: {error}").format(error=exc))
            )
            return
        self.app.call_from_thread(self._written, done)

    def _write_failed(self, exc: DutydeskError) -> None:
        self._busy = False
        if isinstance(exc, InvalidInput) and exc.field in FIELD_WIDGETS:
            self._show(exc.field, _message(exc))
            return
        self.notify(str(exc), title=_("New case"), severity="error", markup=False)

    def _written(self, done: str) -> None:
        self.notify(done, title=_("Logged"), markup=False)
        self.desk.announce_change(own=True)
        self.dismiss(None)

    def result(self) -> NewIncident | None:
        """Check every field and show every error; the case when all are valid."""
        bad = [field for field in FIELD_WIDGETS if not self.check(field)]
        new = self.form()
        if not bad:
            try:
                validate_new(new)  # the whole case once more, as create_incident will
            except InvalidInput as exc:
                if exc.field not in FIELD_WIDGETS:
                    self.notify(str(exc), severity="error", markup=False)
                    return None
                self._show(exc.field, _message(exc))
                bad.append(exc.field)
        if bad:
            widget: Widget = self.query_one(f"#{FIELD_WIDGETS[bad[0]]}")
            widget.focus()
            return None
        return new
