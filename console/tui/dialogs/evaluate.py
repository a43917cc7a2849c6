"""Provides the evaluation form of a drill run (评估): ratings, strengths, areas for improvement.

One block per objective shows what it measures, the value the run measured and the rating
proposed from it (HSEEP's P/S/M/U); the evaluator confirms or changes the rating, and a changed
one needs a reason (the error shows under the field, as in the other forms). Below: strengths,
one per line, and areas for improvement, each becoming an improvement item (issue, corrective
action, capability element, the objective it is about, owner, due date); more areas are added
with a button.

The form saves itself: on ``ctrl+s`` it checks every field, then writes everything in one
transaction in a thread worker (:func:`save_evaluation`: :func:`drills.evaluation.rate`,
:func:`drills.runs.add_note`, :func:`drills.improvements.add_improvement`). Refused, nothing is
saved, the reason is a notification (and shows under the field it names), and the form stays
open with everything typed in it; saved, it closes with what it did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from console.timefmt import parse_when, short
from console.tui.dialogs.form import error_line, form_row
from drills.models import (
    Element,
    Evaluation,
    ImprovementState,
    Metric,
    NoteKind,
    ObjectiveResult,
    Rating,
)
from store.clock import Clock
from store.db import Database, write
from store.errors import DutydeskError, InvalidInput
from store.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from console.tui.app import DutydeskApp

# The fields of an area for improvement: (field, label shown with _(), placeholder shown with _()).
AREA_FIELDS = (
    ("issue", N_("Issue"), N_("what did not go well")),
    ("action", N_("Action"), N_("the corrective action")),
    ("element", N_("Element"), ""),
    ("objective", N_("Objective"), ""),
    ("owner", N_("Owner"), N_("person: key, name or phone")),
    ("due", N_("Due"), N_("YYYY-MM-DD, or +30d")),
)
TEXT_FIELDS = ("issue", "action", "owner", "due")


@dataclass(frozen=True)
class RatingChoice:
    """One objective's rating as the evaluator confirmed or changed it."""

    objective_id: int
    rating: Rating
    reason: str | None


@dataclass(frozen=True)
class AreaDraft:
    """One area for improvement, checked: the arguments of ``add_improvement``."""

    issue: str
    action: str
    element: Element
    owner: str
    due: datetime
    objective_id: int | None


@dataclass(frozen=True)
class EvaluationDraft:
    """What the form saves: the ratings to write, the strengths and the areas to add."""

    run_id: int
    ratings: tuple[RatingChoice, ...]
    strengths: tuple[str, ...]
    areas: tuple[AreaDraft, ...]

    @property
    def empty(self) -> bool:
        return not (self.ratings or self.strengths or self.areas)


@dataclass(frozen=True)
class EvaluationSaved:
    """What the form returns once saved: the run, and what was done in words."""

    run_id: int
    message: str


class SaveRefused(DutydeskError):
    """One part of the evaluation was refused (nothing was saved).

    Attributes:
        where: the part: ``objective-<id>``, ``strengths`` or ``area-<n>``.
        error: why, as the domain said it.
    """

    def __init__(self, where: str, error: DutydeskError) -> None:
        super().__init__(str(error))
        self.where = where
        self.error = error


def reason_required(result: ObjectiveResult, rating: Rating) -> bool:
    """A reason is asked when the rating is not the one proposed from the measures, and when
    an objective the evaluator rates alone is rated M or U (the rules of
    :func:`drills.evaluation.rate`)."""
    if result.objective.metric is Metric.FREE or result.proposed is None:
        return rating in (Rating.M, Rating.U)
    return rating is not result.proposed


def measure_line(result: ObjectiveResult) -> str:
    """What the objective measures, the value measured in its unit and the proposed rating:
    ``≥ 90 % answer yes within 10 min · measured 85 % · proposed S``."""
    objective = result.objective
    if objective.metric is Metric.FREE:
        return _("rated by the evaluator: no measure, no proposal")
    if result.value is None:
        found = _("not measured: no proposal")
    else:
        number = f"{result.value:.1f}".rstrip("0").rstrip(".")
        found = _("measured {value}").format(value=f"{number} {objective.metric.unit}")
    if result.proposed is not None:
        found += " · " + _("proposed {rating}").format(rating=result.proposed.value)
    return f"{objective.describe()} · {found}"


def rating_options() -> list[tuple[str, Rating]]:
    return [(f"{r.value} · {r.label}", r) for r in Rating]


def save_evaluation(db: Database, clock: Clock, operator: str, draft: EvaluationDraft) -> str:
    """Write the draft in one transaction: every part, or none.

    Raises:
        SaveRefused: naming the part that was refused, with the domain's error.
    """
    from drills.evaluation import rate
    from drills.improvements import add_improvement
    from drills.runs import add_note

    run = draft.run_id
    with write(db):
        for choice in draft.ratings:
            with _part(f"objective-{choice.objective_id}"):
                rate(db, clock, operator, run, choice.objective_id, choice.rating, choice.reason)
        for text in draft.strengths:
            with _part("strengths"):
                add_note(db, clock, operator, run, NoteKind.STRENGTH, text)
        for index, area in enumerate(draft.areas):
            with _part(f"area-{index}"):
                add_improvement(
                    db,
                    clock,
                    operator,
                    run,
                    issue=area.issue,
                    action=area.action,
                    element=area.element,
                    owner=area.owner,
                    due=area.due,
                    objective_id=area.objective_id,
                )
    parts = [
        ngettext("{count} rating", "{count} ratings", len(draft.ratings)),
        ngettext("{count} strength", "{count} strengths", len(draft.strengths)),
        ngettext("{count} improvement item", "{count} improvement items", len(draft.areas)),
    ]
    counts = (len(draft.ratings), len(draft.strengths), len(draft.areas))
    done = ", ".join(p.format(count=n) for p, n in zip(parts, counts, strict=True) if n)
    return _("drill #{id} evaluated: {done}").format(id=run, done=done)


class _part:
    """Name the part of the draft whose write raises (see :class:`SaveRefused`)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if isinstance(exc, DutydeskError) and not isinstance(exc, SaveRefused):
            raise SaveRefused(self.where, exc) from exc


class EvaluateDialog(ModalScreen[EvaluationSaved | None]):
    """评估 — rate a run's objectives, note its strengths and areas for improvement.

    Dismisses with an :class:`EvaluationSaved` once saved, or ``None`` when cancelled (or when
    there was nothing to save).

    Args:
        evaluation: the run's evaluation as read (measures, proposals, ratings so far).
    """

    CSS_PATH = "../screens/drills.tcss"
    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "save", N_("Save")),
    ]

    def __init__(self, evaluation: Evaluation) -> None:
        super().__init__()
        self.evaluation = evaluation
        self._areas = 0
        self._saving = False

    @property
    def desk(self) -> DutydeskApp:
        return cast("DutydeskApp", self.app)

    @property
    def zone(self) -> ZoneInfo:
        return self.desk.ctx.config.zone

    # ---- the form ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        ev = self.evaluation
        with Vertical(id="evaluate-dialog", classes="dialog") as box:
            box.border_title = _("Evaluate drill #{id} · {plan}").format(
                id=ev.run.id, plan=ev.plan.name
            )
            box.border_subtitle = _("ctrl+s save · esc cancel")
            with VerticalScroll(id="evaluate-fields"):
                yield Static(self._head(), id="evaluate-head")
                if not ev.results:
                    yield Static(
                        _("This plan has no objectives to rate."), classes="evaluate-measure"
                    )
                for index, result in enumerate(ev.results, 1):
                    yield from self._objective(index, result)
                yield Label(_("Strengths"), classes="section-title")
                yield from self._noted_strengths()
                yield TextArea(
                    id="evaluate-strengths",
                    soft_wrap=True,
                    compact=True,
                    placeholder=_("one strength per line"),
                )
                yield error_line("strengths-error")
                yield Label(_("Areas for improvement"), classes="section-title")
                yield from self._noted_improvements()
                yield Vertical(id="evaluate-areas")
                yield Button(
                    _("+ another area for improvement"), id="evaluate-add-area", compact=True
                )
            with Horizontal(classes="dialog--buttons"):
                yield Button(_("Save evaluation (ctrl+s)"), variant="primary", id="ok")
                yield Button(_("Cancel (esc)"), id="cancel")

    def _head(self) -> Text:
        """The run in one or two lines: kind, when, state, and what the call-out measured."""
        ev = self.evaluation
        run, metrics = ev.run, ev.metrics
        text = Text()
        text.append(f"{run.kind.label} · {short(run.started_at, self.zone)}")
        if run.ended_at is not None:
            text.append(f" → {short(run.ended_at, self.zone)}")
        text.append(f" · {run.state.label}")
        if run.stop_reason:
            text.append(" · " + _("stopped: {reason}").format(reason=run.stop_reason), style="red")
        if metrics.called:
            text.append("\n")
            text.append(
                _("called {called}: yes {yes} ({rate:.0f} %), no {no}, silent {silent}").format(
                    called=metrics.called,
                    yes=metrics.yes,
                    rate=metrics.answer_rate,
                    no=metrics.no,
                    silent=metrics.silent,
                )
            )
        return text

    def _objective(self, index: int, result: ObjectiveResult) -> Iterator[Any]:
        oid = result.objective.id
        yield Static(
            Text(f"{index}. {result.objective.text}", style="bold"), classes="evaluate-objective"
        )
        yield Static(Text(measure_line(result), style="dim"), classes="evaluate-measure")
        chosen = result.rating or result.proposed
        yield form_row(
            _("Rating"),
            Select(
                rating_options(),
                value=chosen if chosen is not None else Select.NULL,
                prompt=_("not rated"),
                id=f"rating-{oid}",
                compact=True,
            ),
            Input(
                result.reason or "",
                placeholder=_("reason (if changed)"),
                id=f"reason-{oid}",
                compact=True,
            ),
        )
        yield error_line(f"reason-{oid}-error")

    def _noted_strengths(self) -> Iterator[Static]:
        for note in self.evaluation.notes:
            if note.kind is NoteKind.STRENGTH:
                yield Static(Text(f"✔ {note.text}"), classes="evaluate-noted")

    def _noted_improvements(self) -> Iterator[Static]:
        for item in self.evaluation.improvements:
            line = Text(f"• {item.issue} → {item.action}")
            line.append(
                f"  ({item.element.label}, {item.owner_name or item.owner},"
                f" {short(item.due, self.zone)}, {item.state.label})",
                style="dim" if item.state is not ImprovementState.OPEN else "",
            )
            yield Static(line, classes="evaluate-noted")

    def area(self, n: int) -> Vertical:
        """The fields of area for improvement ``n`` (from 0)."""
        objectives = [
            (f"{i}. {r.objective.text}", r.objective.id)
            for i, r in enumerate(self.evaluation.results, 1)
        ]
        rows: list[Any] = [Label(_("Area {n}").format(n=n + 1), classes="evaluate-area-title")]
        for name, label, placeholder in AREA_FIELDS:
            widget_id = f"area-{n}-{name}"
            widget: Any
            if name == "element":
                widget = Select(
                    [(e.label, e) for e in Element],
                    prompt=_("capability element"),
                    id=widget_id,
                    compact=True,
                )
            elif name == "objective":
                widget = Select(objectives, prompt=_("none"), id=widget_id, compact=True)
            else:
                widget = Input(placeholder=_(placeholder), id=widget_id, compact=True)
            rows.append(form_row(_(label), widget))
            rows.append(error_line(f"{widget_id}-error"))
        return Vertical(*rows, classes="evaluate-area")

    def on_mount(self) -> None:
        self._add_area()
        first = self.query(Select).first() if self.evaluation.results else None
        (first or self.query_one("#evaluate-strengths")).focus()

    def _add_area(self) -> Vertical:
        box = self.area(self._areas)
        self._areas += 1
        self.query_one("#evaluate-areas", Vertical).mount(box)
        return box

    # ---- checking ---------------------------------------------------------------------------

    def show_error(self, error_id: str, message: str, *widget_ids: str) -> None:
        """Show ``message`` under a field (``""`` hides it) and mark the widgets it is about."""
        line = self.query_one(f"#{error_id}", Static)
        line.update(message)
        line.set_class(bool(message), "-shown")
        for widget_id in widget_ids:
            self.query_one(f"#{widget_id}").set_class(bool(message), "-invalid")

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _chosen(self, widget_id: str) -> Any:
        value = self.query_one(f"#{widget_id}", Select).value
        return None if value is Select.NULL else value

    def check_rating(self, result: ObjectiveResult) -> RatingChoice | None | bool:
        """The objective's choice; ``None`` when there is nothing to write; ``False`` (and the
        error shown) when a reason is missing."""
        oid = result.objective.id
        rating: Rating | None = self._chosen(f"rating-{oid}")
        reason = self._value(f"reason-{oid}") or None
        message = ""
        if rating is not None and not reason and reason_required(result, rating):
            if result.proposed is not None and rating is not result.proposed:
                message = _("a reason is required: the proposed rating is {rating}").format(
                    rating=result.proposed.value
                )
            else:
                message = _("a reason is required for a rating of M or U")
        self.show_error(f"reason-{oid}-error", message, f"reason-{oid}")
        if message:
            return False
        if rating is None or (rating is result.rating and reason == result.reason):
            return None
        return RatingChoice(oid, rating, reason)

    def check_area(self, n: int) -> AreaDraft | None | bool:
        """Area ``n``: ``None`` when left blank, ``False`` (errors shown) when incomplete."""
        prefix = f"area-{n}"
        values = {name: self._value(f"{prefix}-{name}") for name in TEXT_FIELDS}
        element: Element | None = self._chosen(f"{prefix}-element")
        objective: int | None = self._chosen(f"{prefix}-objective")
        if not any(values.values()) and element is None and objective is None:
            for name, _label, _hint in AREA_FIELDS:
                self.show_error(f"{prefix}-{name}-error", "", f"{prefix}-{name}")
            return None
        errors = {name: "" for name, _label, _hint in AREA_FIELDS}
        for name in TEXT_FIELDS:
            if not values[name]:
                errors[name] = _("required")
        if element is None:
            errors["element"] = _("required: what the corrective action fixes")
        due: datetime | None = None
        if values["due"]:
            try:
                due = parse_when(values["due"], self.desk.ctx.clock.now(), self.zone, "due")
            except InvalidInput as exc:
                errors["due"] = exc.reason
        for name, message in errors.items():
            self.show_error(f"{prefix}-{name}-error", message, f"{prefix}-{name}")
        if any(errors.values()) or due is None or element is None:
            return False
        return AreaDraft(
            issue=values["issue"],
            action=values["action"],
            element=element,
            owner=values["owner"],
            due=due,
            objective_id=objective,
        )

    def draft(self) -> EvaluationDraft | None:
        """Check every field and show every error; the draft when all are valid."""
        ok = True
        ratings: list[RatingChoice] = []
        for result in self.evaluation.results:
            choice = self.check_rating(result)
            if choice is False:
                ok = False
            elif isinstance(choice, RatingChoice):
                ratings.append(choice)
        areas: list[AreaDraft] = []
        for n in range(self._areas):
            area = self.check_area(n)
            if area is False:
                ok = False
            elif isinstance(area, AreaDraft):
                areas.append(area)
        if not ok:
            invalid = self.query(".-invalid")
            if invalid:
                invalid.first().focus()
            return None
        text = self.query_one("#evaluate-strengths", TextArea).text
        strengths = tuple(line.strip() for line in text.splitlines() if line.strip())
        return EvaluationDraft(self.evaluation.run.id, tuple(ratings), strengths, tuple(areas))

    # ---- saving -----------------------------------------------------------------------------

    def action_save(self) -> None:
        """Check the form; save it in a worker (the form stays open until it is saved)."""
        if self._saving:
            return
        draft = self.draft()
        if draft is None:
            return
        if draft.empty:
            self.notify(_("Nothing to save."), title=_("Evaluation"))
            self.dismiss(None)
            return
        self._saving = True
        self.query_one("#ok", Button).disabled = True
        self._save(draft)

    @work(thread=True, exit_on_error=False, group="evaluate-save")
    def _save(self, draft: EvaluationDraft) -> None:
        ctx = self.desk.ctx
        try:
            with self.desk.db_lock:
                done = save_evaluation(ctx.db, ctx.clock, ctx.operator, draft)
        except SaveRefused as exc:
            self.app.call_from_thread(self._refused, exc.where, exc.error)
            return
        except Exception as exc:  # a write that failed unexpectedly is still only a notice
            self.app.call_from_thread(self._refused, "", exc)
            return
        self.app.call_from_thread(self._saved, EvaluationSaved(draft.run_id, done))

    def _saved(self, saved: EvaluationSaved) -> None:
        self.dismiss(saved)

    def _refused(self, where: str, error: Exception) -> None:
        """Nothing was saved: say why, under the field it is about when it names one."""
        self._saving = False
        self.query_one("#ok", Button).disabled = False
        message = str(error) if isinstance(error, DutydeskError) else str(error) or repr(error)
        self.notify(message, title=_("Evaluation not saved"), severity="error", markup=False)
        reason = error.reason if isinstance(error, InvalidInput) else message
        field = error.field if isinstance(error, InvalidInput) else None
        if where.startswith("objective-"):
            oid = where.removeprefix("objective-")
            self.show_error(f"reason-{oid}-error", reason, f"reason-{oid}")
        elif where == "strengths":
            self.show_error("strengths-error", reason, "evaluate-strengths")
        elif where.startswith("area-"):
            name = field if field in {n for n, _label, _hint in AREA_FIELDS} else "issue"
            self.show_error(f"{where}-{name}-error", reason, f"{where}-{name}")

    # ---- keys and buttons -------------------------------------------------------------------

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_save()
        elif event.button.id == "evaluate-add-area":
            box = self._add_area()
            self.call_after_refresh(lambda: box.query(Input).first().focus())
        else:
            self.dismiss(None)

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        """A field marked wrong is checked again as it is typed in."""
        widget = event.input
        if not widget.has_class("-invalid") or widget.id is None:
            return
        if widget.id.startswith("reason-"):
            oid = int(widget.id.removeprefix("reason-"))
            result = next(r for r in self.evaluation.results if r.objective.id == oid)
            self.check_rating(result)
        elif widget.id.startswith("area-") and event.value.strip():
            self.show_error(f"{widget.id}-error", "", widget.id)
