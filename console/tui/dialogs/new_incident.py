"""Provides the form that logs a new case, validated field by field with the domain's own rules.

Each field is checked when the officer leaves it, and the whole form again on save, with
:func:`incidents.records.validate_new`: the console never keeps rules of its own that could
drift from what the CLI and the database accept. An error shows under its field and the
dialog stays open until the form is valid or cancelled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Input, Label, Select, TextArea

from console.tui.dialogs.form import FormDialog, error_line, form_row
from incidents.models import CATEGORIES, Severity, Source, Urgency, category_label, type_label
from incidents.records import NewIncident, validate_new
from store.errors import InvalidInput
from store.i18n import N_, _

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


class NewIncidentDialog(FormDialog[NewIncident]):
    """The 新建事件 form; dismisses with a valid :class:`NewIncident`, or ``None`` on cancel."""

    DIALOG_ID = "new-incident-dialog"

    def __init__(self) -> None:
        super().__init__()
        self._errors: dict[str, str] = {}

    def form_title(self) -> str:
        return _("New case")

    def fields(self) -> ComposeResult:
        yield form_row(
            _("Title"),
            Input(placeholder=_("e.g. gas leak in building 3"), id="new-title", compact=True),
        )
        yield error_line("title-error")
        yield form_row(
            _("Category"),
            Select(
                [(category_label(code), code) for code in CATEGORIES],
                prompt=_("Category"),
                id="new-category",
                compact=True,
            ),
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
            Select(
                [(u.label, u.value) for u in Urgency],
                value=Urgency.NORMAL.value,
                allow_blank=False,
                id="new-urgency",
                compact=True,
            ),
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
        yield form_row(
            _("Grid"),
            Input(placeholder=_("grid code"), id="new-grid", compact=True),
            Input(placeholder=_("reporter"), id="new-reporter-name", compact=True),
            Input(placeholder=_("phone"), id="new-reporter-phone", compact=True),
        )
        yield error_line("reporter-error")
        yield Label(_("Description"), classes="form-label")
        yield TextArea(id="new-description", compact=True)
        yield error_line("description-error")

    def on_mount(self) -> None:
        self.query_one("#new-title", Input).focus()

    # ---- reading the form -------------------------------------------------------------------

    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

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
            grid=self._text("new-grid") or None,
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
        if field == "category" and not new.category:
            message: str | None = _("choose a category")
        else:
            message = field_error(new, field)
        self._show(field, message)
        return message is None

    @on(Input.Blurred)
    def _left_input(self, event: Input.Blurred) -> None:
        field = WIDGET_FIELDS.get(event.input.id or "")
        if field is not None:
            self.check(field)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        field = WIDGET_FIELDS.get(event.input.id or "")
        if field is not None and event.input.has_class("-invalid"):
            self.check(field)

    @on(Select.Changed, "#new-category")
    def _category_chosen(self, event: Select.Changed) -> None:
        category = None if event.value is Select.NULL else str(event.value)
        self.query_one("#new-type", Select).set_options(_type_options(category))
        self.check("category")
        self._show("type", None)

    @on(TextArea.Changed, "#new-description")
    def _described(self) -> None:
        if self.query_one("#new-description").has_class("-invalid"):
            self.check("description")

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
