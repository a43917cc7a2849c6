"""Provides how the states of a mobilization are drawn (:class:`Look`: a glyph, a word, a colour)
and the 演练 badge: used by the dashboard's first frame and by the mobilization screens, kept
apart from those screens so the dashboard does not import them before it is painted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rich.text import Text

from mobilization import MobilizationState, NodeStatus, RecipientState
from store.i18n import N_, _


@runtime_checkable
class Worded(Protocol):
    """A word of the domain (a state of :mod:`mobilization.vocabulary`): ``.label`` is
    translated."""

    @property
    def label(self) -> str: ...


@dataclass(frozen=True)
class Look:
    """How a state is drawn: a glyph, a word, a colour.

    ``label`` is a state of the domain, whose word is its own ``.label``, or an English message
    id marked with ``N_`` where the look is defined; either is translated when it is drawn. A
    state the console has no look for shows its code as it is.
    """

    glyph: str
    label: str | Worded
    style: str

    @property
    def word(self) -> str:
        """The label in the current language."""
        if isinstance(self.label, Worded):
            return self.label.label
        return _(self.label) if self.label else ""

    def text(self, word: str | None = None) -> Text:
        """``glyph word``; ``word`` (already translated) replaces the label when given."""
        return Text(f"{self.glyph} {word or self.word}", style=self.style)


def _looks(styles: Mapping[str, tuple[str, str]]) -> dict[str, Look]:
    """The looks of a domain vocabulary: its words, with these glyphs and colours."""
    return {state: Look(glyph, state, style) for state, (glyph, style) in styles.items()}


# Keyed by the domain's states (StrEnums: a stored code finds its look as well).
LOOKS = _looks(
    {
        RecipientState.QUEUED: ("·", "dim"),
        RecipientState.SENT: ("→", "cyan"),
        RecipientState.YES: ("✔", "bold green"),
        RecipientState.NO: ("✘", "bold red"),
        RecipientState.NO_ANSWER: ("⏳", "yellow"),
        RecipientState.ESCALATED: ("↑", "magenta"),
        RecipientState.UNREACHABLE: ("⊘", "bold red"),
        RecipientState.STOOD_DOWN: ("↓", "dim"),
        RecipientState.CANCELLED: ("×", "dim"),
    }
)
NODE_LOOKS = _looks(
    {
        NodeStatus.WAITING: ("·", "dim"),
        NodeStatus.ACTIVE: ("→", "cyan"),
        NodeStatus.YES: ("✔", "bold green"),
        NodeStatus.UNREACHABLE: ("⊘", "bold red"),
        NodeStatus.STOOD_DOWN: ("↓", "dim"),
        NodeStatus.CANCELLED: ("×", "dim"),
    }
)
MOB_LOOKS = _looks(
    {
        MobilizationState.ACTIVE: ("●", "bold cyan"),
        MobilizationState.COMPLETED: ("✔", "green"),
        MobilizationState.CANCELLED: ("×", "dim"),
    }
)
# What the counters count (Counts.silent, .notified): groups of states, worded here.
SILENT_LOOK = Look("⏳", N_("silent"), "yellow")
NOTIFIED_LOOK = Look("→", N_("notified"), "cyan")


def look_of(state: str) -> Look:
    """A recipient state's look (a code the console does not know shows as it is)."""
    return LOOKS.get(state, Look("?", state, ""))


def exercise_badge() -> Text:
    """The 演练 mark of an exercise, black on yellow and in words."""
    return Text(f" {_('EXERCISE')} ", style="bold black on yellow")
