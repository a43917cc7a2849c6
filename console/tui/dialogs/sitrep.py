"""Provides the information report form (初报、续报、终报): its text, its figures, as a draft.

The form shows one report as the service drafted it (:func:`uplink.sitreps.draft` fills the
elements the record knows): the text elements under their Chinese labels
(:data:`uplink.reporting.FIELD_ZH`), long ones in text areas, and the five figures
(:data:`uplink.reporting.FIGURE_ZH`) with the time they were valid. A figure is checked when
the officer leaves it, and all of them again on save, with the domain's own rule
(:func:`uplink.reporting.parse_count`): a negative or non-numeric count is refused with the
field named, and nothing is saved. The form returns what changed (:class:`SitrepEdit`); the
case screen saves it as the draft, in a worker. On a short terminal the form scrolls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widget import Widget
from textual.widgets import Input, Label, TextArea

from console.timefmt import local, parse_when
from console.tui.dialogs.form import FormDialog, error_line, form_row
from store.errors import InvalidInput
from store.i18n import N_, _
from uplink.reporting import FIELD_ZH, FIGURE_NAMES, FIGURE_ZH, TEXT_FIELDS, Sitrep, parse_count

LONG_FIELDS = frozenset({"trend", "measures", "next_steps"})
"""The elements written as paragraphs: a text area each, not a one-line field."""
FIGURE_ROWS = (("dead", "injured", "missing"), ("trapped", "evacuated"))
"""The figures' rows: the second one ends with the time they were valid."""
AS_OF = "sitrep-as-of"


def field_id(name: str) -> str:
    return f"sitrep-{name.replace('_', '-')}"


def figure_id(name: str) -> str:
    return f"sitrep-figure-{name}"


@dataclass(frozen=True)
class SitrepEdit:
    """What the form changed: the text elements (name → text) and the figures (name → count,
    ``None`` unknown; all five when any changed) with their time; empty when nothing changed."""

    fields: dict[str, str] = field(default_factory=dict)
    figures: dict[str, int | None] = field(default_factory=dict)
    as_of: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.fields and not self.figures


class SitrepDialog(FormDialog[SitrepEdit]):
    """Edit one report that is not sent yet; dismisses with a :class:`SitrepEdit` (``None``:
    cancelled).

    Args:
        sitrep: the report as last read (a draft, or signed: saving a change voids the
            sign-off, which the service records).
        case_title: the case's number and title, for the box's title.
        now: the current time (a relative as-of time, ``+0m``, counts from it).
        zone: the office's zone, in which times are shown and typed.
    """

    DIALOG_ID = "sitrep-dialog"
    CSS_PATH = "sitrep.tcss"
    SAVE_BUTTON = N_("Save draft (ctrl+s)")
    SUBTITLE = N_("ctrl+s save draft · esc cancel · tab next field")
    BINDINGS: ClassVar[list[BindingType]] = [*FormDialog.BINDINGS]

    def __init__(self, sitrep: Sitrep, case_title: str, now: datetime, zone: ZoneInfo) -> None:
        super().__init__()
        self.sitrep = sitrep
        self._case_title = case_title
        self._now = now
        self._zone = zone
        self._errors: dict[str, str] = {}

    def form_title(self) -> str:
        return f"{self.sitrep.name} · {self._case_title}"

    # ---- the rows -----------------------------------------------------------------------------

    def _names(self) -> list[str]:
        """The text elements shown: all, the correction's note only on a correction."""
        fields = self.sitrep.fields
        return [
            name
            for name, _label in TEXT_FIELDS
            if name != "corrects" or self.sitrep.corrects is not None or fields.get(name)
        ]

    def fields(self) -> ComposeResult:
        if self.sitrep.signed_by:
            yield Label(
                _("Signed off by {name}: a change voids the sign-off.").format(
                    name=self.sitrep.signed_by
                ),
                classes="dialog--prompt sitrep--warning",
            )
        values = self.sitrep.fields
        for name in self._names():
            label = FIELD_ZH[name]
            if name in LONG_FIELDS:
                yield Label(label, classes="form-label")
                yield TextArea(values.get(name, ""), id=field_id(name), compact=True)
            else:
                yield form_row(label, Input(values.get(name, ""), id=field_id(name), compact=True))
        counts = self.sitrep.figures.counts()
        for index, names in enumerate(FIGURE_ROWS):
            widgets: list[Widget] = []
            for name in names:
                widgets.append(Label(FIGURE_ZH[name], classes="form-inline-label"))
                value = counts[name]
                widgets.append(
                    Input(
                        "" if value is None else str(value),
                        placeholder="—",
                        id=figure_id(name),
                        compact=True,
                        classes="sitrep--figure",
                    )
                )
            if index == len(FIGURE_ROWS) - 1:
                as_of = self.sitrep.figures.as_of
                widgets.append(Label(_("as of"), classes="form-inline-label"))
                widgets.append(
                    Input(
                        local(as_of, self._zone) if as_of else "",
                        placeholder=_("YYYY-MM-DD HH:MM"),
                        id=AS_OF,
                        compact=True,
                    )
                )
            label = _("People (count)") if index == 0 else ""
            row = form_row(label, *widgets)
            row.add_class("sitrep--figures", *(("-first",) if index == 0 else ()))
            yield row
        yield error_line("figures-error")

    def on_mount(self) -> None:
        names = self._names()
        if names:
            self.query_one(f"#{field_id(names[0])}").focus()

    # ---- checking -----------------------------------------------------------------------------

    def _show(self, key: str, message: str | None, widget_id: str) -> None:
        if message:
            self._errors[key] = message
        else:
            self._errors.pop(key, None)
        self.query_one(f"#{widget_id}").set_class(bool(message), "-invalid")
        self.show_error("figures-error", "\n".join(self._errors.values()))

    def check_figure(self, name: str) -> tuple[bool, int | None]:
        """Check one figure; show or clear its error. Returns (valid, count)."""
        raw = self.query_one(f"#{figure_id(name)}", Input).value
        try:
            value = parse_count(raw, FIGURE_ZH[name])
        except InvalidInput as exc:
            self._show(name, exc.reason, figure_id(name))
            return False, None
        self._show(name, None, figure_id(name))
        return True, value

    def check_as_of(self) -> tuple[bool, datetime | None]:
        raw = self.query_one(f"#{AS_OF}", Input).value.strip()
        if not raw:
            self._show("as_of", None, AS_OF)
            return True, None
        try:
            at = parse_when(raw, self._now, self._zone, "as_of")
        except InvalidInput as exc:
            self._show("as_of", f"{_('as of')}: {exc.reason}", AS_OF)
            return False, None
        self._show("as_of", None, AS_OF)
        return True, at

    @on(Input.Blurred)
    def _left(self, event: Input.Blurred) -> None:
        widget_id = event.input.id or ""
        if widget_id == AS_OF:
            self.check_as_of()
        elif widget_id.startswith("sitrep-figure-"):
            self.check_figure(widget_id.removeprefix("sitrep-figure-"))

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        """A figure marked wrong is checked again as it is corrected."""
        # Not by the widget's -invalid class: Input clears it itself on every change.
        widget_id = event.input.id or ""
        if widget_id == AS_OF and "as_of" in self._errors:
            self.check_as_of()
        elif widget_id.startswith("sitrep-figure-"):
            name = widget_id.removeprefix("sitrep-figure-")
            if name in self._errors:
                self.check_figure(name)

    def text_values(self) -> dict[str, str]:
        """The text elements as the form holds them now."""
        values: dict[str, str] = {}
        for name in self._names():
            widget = self.query_one(f"#{field_id(name)}")
            if isinstance(widget, TextArea):
                values[name] = widget.text
            elif isinstance(widget, Input):
                values[name] = widget.value
        return values

    def result(self) -> SitrepEdit | None:
        """Check every figure and the time; what changed, when all are valid."""
        counts: dict[str, int | None] = {}
        bad: list[str] = []
        for name in FIGURE_NAMES:
            ok, value = self.check_figure(name)
            counts[name] = value
            if not ok:
                bad.append(figure_id(name))
        ok, as_of = self.check_as_of()
        if not ok:
            bad.append(AS_OF)
        if bad:
            self.query_one(f"#{bad[0]}").focus()
            return None
        before = self.sitrep.fields
        changed = {
            name: text for name, text in self.text_values().items() if text != before.get(name, "")
        }
        old = self.sitrep.figures
        figures_changed = counts != old.counts() or (as_of is not None and as_of != old.as_of)
        return SitrepEdit(
            fields=changed,
            figures=counts if figures_changed else {},
            as_of=as_of if figures_changed else None,
        )
