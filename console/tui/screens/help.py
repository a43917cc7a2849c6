"""Provides :class:`HelpScreen`: every key of the screen below it, shown on ``?``.

The list is read from Textual's own record of the bindings in force on that screen
(``Screen.active_bindings``: the focused widget's, the screen's and the app's), so it cannot
drift from what the keys really do. Keys bound to the same action are shown together
(``^c / super+c``); a key that does not apply right now (say, 回退 on a case not yet in
handling) is listed with "(not now)" in words (in the current language), not only dimmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from store.i18n import N_, _

Group = Literal["screen", "app"]
# (group, heading shown with _())
GROUPS: tuple[tuple[Group, str], ...] = (
    ("screen", N_("This screen")),
    ("app", N_("Everywhere")),
)
NOT_NOW = N_("not now")
"""Said (translated) after a key that does not apply right now."""

# Textual's own key descriptions that the help (and the footer) can show: the app's, the
# screens', and those of the widgets a screen focuses. Marked here so that the catalog holds
# them; console.tui.i18n translates them in place with every other binding.
TEXTUAL_STRINGS = (
    # App and Screen
    N_("Quit"),
    N_("Focus Next"),
    N_("Focus Previous"),
    N_("Copy selected text"),
    # scrolling containers (VerticalScroll, and every widget that scrolls)
    N_("Scroll Up"),
    N_("Scroll Down"),
    N_("Scroll Left"),
    N_("Scroll Right"),
    N_("Scroll Home"),
    N_("Scroll End"),
    N_("Page Up"),
    N_("Page Down"),
    N_("Page Left"),
    N_("Page Right"),
    # DataTable
    N_("Select"),
    N_("Cursor up"),
    N_("Cursor down"),
    N_("Cursor left"),
    N_("Cursor right"),
    N_("Page up"),
    N_("Page down"),
    N_("Top"),
    N_("Bottom"),
    N_("Home"),
    N_("End"),
    # Tree
    N_("Cursor Up"),
    N_("Cursor Down"),
    N_("Cursor to parent"),
    N_("Cursor to next ancestor"),
    N_("Cursor to previous sibling"),
    N_("Cursor to next sibling"),
    N_("Toggle"),
    N_("Expand or collapse all"),
    # Button, Select
    N_("Press button"),
    N_("Show menu"),
)


@dataclass(frozen=True)
class HelpEntry:
    """One line of the help: the keys, what they do, and whether they apply right now."""

    group: Group
    keys: str
    description: str
    enabled: bool
    shown: bool
    """Whether the footer shows it too."""


def help_entries(screen: Screen[Any]) -> list[HelpEntry]:
    """The keys in force on ``screen``: this screen's (and its focused widget's) first, then the
    app's; within each, the ones the footer shows first.

    System bindings (Textual's own ctrl+c handling) are left out. The descriptions are read
    as they are now: :func:`console.tui.i18n.translate_bindings` has put them in the current
    language.
    """
    app = screen.app
    merged: dict[tuple[Group, int, str, str], tuple[list[str], bool, bool]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system:
            continue
        group: Group = "app" if active.node is app else "screen"
        description = binding.description or _humanize(binding.action)
        slot = (group, id(active.node), binding.action, description)
        keys, enabled, shown = merged.get(slot, ([], active.enabled, False))
        keys.append(app.get_key_display(binding))
        # Shown when the footer shows any of its keys (q, not Textual's own ^q, for Quit).
        merged[slot] = (keys, enabled, shown or binding.show)
    entries = [
        HelpEntry(group, " / ".join(keys), description, enabled, shown)
        for (group, _node, _action, description), (keys, enabled, shown) in merged.items()
    ]
    order = {group: index for index, (group, _heading) in enumerate(GROUPS)}
    return sorted(entries, key=lambda e: (order[e.group], not e.shown))


def _humanize(action: str) -> str:
    return action.rpartition(".")[2].split("(")[0].replace("_", " ")


def _table(entries: list[HelpEntry], key_width: int) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0), expand=True)
    table.add_column("key", style="bold", no_wrap=True, min_width=key_width)
    table.add_column("action", ratio=1)
    for entry in entries:
        if entry.enabled:
            table.add_row(entry.keys, entry.description)
        else:
            what = Text.assemble(entry.description, " ", (f"({_(NOT_NOW)})", "italic"))
            table.add_row(Text(entry.keys, style="dim"), what)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of ``screen`` (the one it was opened over) and the app's, grouped; scrollable."""

    # Kept with the screen so the help looks the same over any screen it is opened on.
    CSS_PATH = "help.tcss"

    BINDINGS = [
        Binding("escape", "close", N_("Close")),
        Binding("question_mark", "close", N_("Close"), show=False),
        Binding("q", "close", N_("Close"), show=False),
    ]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.target = screen
        self.entries: list[HelpEntry] = []

    def compose(self) -> ComposeResult:
        self.entries = help_entries(self.target)
        # One key column width for both groups, so the descriptions line up.
        key_width = max((cell_len(e.keys) for e in self.entries), default=1)
        with Vertical(id="help-dialog", classes="dialog") as box:
            box.border_title = _("Keys")
            with VerticalScroll(id="help-keys"):
                first = True
                for group, heading in GROUPS:
                    rows = [e for e in self.entries if e.group == group]
                    if rows:
                        yield Static(
                            _(heading), classes="help--heading" + ("" if first else " -later")
                        )
                        first = False
                        yield Static(_table(rows, key_width), id=f"help-{group}")
            yield Static(
                f"esc ? q [@click=screen.close]{escape(_('Close'))}[/]"
                f" · ↑↓ pgup pgdn {escape(_('scroll'))}"
                f" · ^p {escape(_('command palette'))}",
                classes="help--hint",
            )

    def on_mount(self) -> None:
        self.query_one("#help-keys").focus()

    def on_click(self, event: events.Click) -> None:
        if event.widget is self:  # a click outside the box closes it, as Esc does
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
