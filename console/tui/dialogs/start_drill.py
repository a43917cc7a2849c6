"""Provides the dialog that starts a drill now: the officer picks one of the active plans.

Under the list it says what starting the picked plan does: which targets its exercise
call-out reaches (every message marked as a drill), or that a tabletop run calls nobody out,
and whether the drill is announced. The screen starts the run with
:func:`drills.runs.start_run`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Select, Static

from console.tui.dialogs.form import FormDialog, form_row
from drills.models import Plan
from store.i18n import N_, _


def plan_option(plan: Plan) -> str:
    """``CODE name · kind``: one line of the list."""
    return f"{plan.code} {plan.name} · {plan.kind.label}"


def plan_summary(plan: Plan) -> Text:
    """What starting ``plan`` does, in words."""
    text = Text()
    if plan.kind.calls_out:
        text.append(_("Calls out, as an exercise:") + " ", style="bold")
        text.append(", ".join(plan.scope) or "—")
        if plan.message:
            text.append("\n" + _("Message: {message}").format(message=plan.message))
    else:
        text.append(_("A tabletop drill: nobody is called out."), style="bold")
    if plan.injects:
        text.append("\n" + _("{count} injects on its timeline").format(count=len(plan.injects)))
    text.append("\n" + (_("announced") if plan.announced else _("unannounced")))
    text.append(" · " + _("{count} objectives").format(count=len(plan.objectives)))
    return text


class StartDrillDialog(FormDialog[int]):
    """开始演练 — pick an active plan; dismisses with its id, or ``None``.

    Args:
        plans: the active plans to choose from (at least one).
    """

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "save", N_("Start drill")),
    ]
    DIALOG_ID = "start-drill-dialog"
    SAVE_BUTTON = N_("Start now (ctrl+s)")
    SUBTITLE = N_("ctrl+s start · esc cancel")
    ENTER_SAVES = None

    def __init__(self, plans: Sequence[Plan]) -> None:
        super().__init__()
        self._plans = {plan.id: plan for plan in plans}

    def form_title(self) -> str:
        return _("Start a drill now")

    def fields(self) -> ComposeResult:
        first = next(iter(self._plans), None)
        yield form_row(
            _("Plan"),
            Select(
                [(plan_option(p), p.id) for p in self._plans.values()],
                value=first if first is not None else Select.NULL,
                allow_blank=False,
                id="start-plan",
                compact=True,
            ),
        )
        yield Static(id="start-summary", classes="dialog--prompt")

    def on_mount(self) -> None:
        self._describe()
        self.query_one("#start-plan", Select).focus()

    @on(Select.Changed, "#start-plan")
    def _picked(self, _event: Select.Changed) -> None:
        self._describe()

    def _describe(self) -> None:
        value = self._value()
        plan = self._plans.get(value) if value is not None else None
        summary = self.query_one("#start-summary", Static)
        summary.update(plan_summary(plan) if plan is not None else "")

    def _value(self) -> int | None:
        value = self.query_one("#start-plan", Select).value
        return value if isinstance(value, int) else None

    def result(self) -> int | None:
        return self._value()
