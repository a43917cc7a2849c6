"""Provides the stage bar: the closed loop 上报→立案→派遣→处置→反馈→核查→结案, current stage lit."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from incidents.models import LOOP, Stage

# The bar's forms, widest first: the first that fits is drawn, the last is cut with "…".
FORMS = ("wide", "tight", "short")


class StageBar(Static):
    """One line showing where a case stands in the closed loop.

    Stages already passed are marked done, the current one is highlighted, the ones ahead are
    dim. A voided or merged case shows the loop up to where it left, then its end. Where the
    line is narrow, the arrows lose their spaces, then the stages passed their names.
    """

    COMPONENT_CLASSES = {
        "stage-bar--done",
        "stage-bar--current",
        "stage-bar--todo",
        "stage-bar--end",
    }

    DEFAULT_CSS = """
    StageBar {
        height: 1;
        width: 1fr;
        & > .stage-bar--done { color: $success; }
        & > .stage-bar--current { background: $accent; color: $text; text-style: bold; }
        & > .stage-bar--todo { color: $text-muted; }
        & > .stage-bar--end { background: $error; color: $text; text-style: bold; }
    }
    """

    stage: reactive[Stage] = reactive(Stage.REPORTED, layout=True)
    left_from: reactive[Stage | None] = reactive(None, layout=True)

    def __init__(self, stage: Stage = Stage.REPORTED, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(StageBar.stage, stage)

    def show(self, stage: Stage, left_from: Stage | None = None) -> None:
        """Show ``stage``; for a voided/merged case ``left_from`` is the loop stage it left."""
        self.left_from = left_from
        self.stage = stage

    def render(self) -> Text:
        width = self.size.width
        for form in FORMS:
            text = self._drawn(form)
            if not width or text.cell_len <= width:
                return text
        text.truncate(width, overflow="ellipsis")
        return text

    def _drawn(self, form: str) -> Text:
        """The bar in one of FORMS: ``wide`` (" → " between stages), ``tight`` ("→"), or
        ``short`` (stages passed as a bare ✓)."""
        done = self.get_component_rich_style("stage-bar--done")
        current = self.get_component_rich_style("stage-bar--current")
        todo = self.get_component_rich_style("stage-bar--todo")
        end = self.get_component_rich_style("stage-bar--end")
        arrow = " → " if form == "wide" else "→"
        in_loop = self.stage in LOOP
        reached = self.stage if in_loop else (self.left_from or Stage.REPORTED)
        position = LOOP.index(reached)
        text = Text(no_wrap=True)
        for index, stage in enumerate(LOOP):
            if index:
                text.append(arrow, style=todo if index > position else done)
            if index < position or (index == position and not in_loop):
                text.append("✓" if form == "short" else f"✓{stage.label}", style=done)
            elif index == position:
                closed = stage is Stage.CLOSED
                text.append(f" {stage.label} ", style=done + current if closed else current)
            else:
                text.append(stage.label, style=todo)
        if not in_loop:
            text.append("  ✗ " if form == "wide" else " ✗", style=todo)
            text.append(f" {self.stage.label} ", style=end)
        return text
