"""Provides :class:`HelpScreen`: every key of the screen below it, shown on ``?``.

The list is read from Textual's own record of the bindings in force on that screen
(``Screen.active_bindings``: the focused widget's, the screen's and the app's), so it cannot
drift from what the keys really do. Keys bound to the same action are shown together
(``^c / super+c``); a key that does not apply right now (say, 回退 on a case not yet in
handling) is listed with "暂不可用 not now" in words, not only dimmed.
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
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

Group = Literal["screen", "app"]
GROUPS: tuple[tuple[Group, str], ...] = (
    ("screen", "本屏 This screen"),
    ("app", "全局 Everywhere"),
)
NOT_NOW = "暂不可用 not now"


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

    System bindings (Textual's own ctrl+c handling) are left out.
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
        keys, _, _ = merged.setdefault(slot, ([], active.enabled, binding.show))
        keys.append(app.get_key_display(binding))
    entries = [
        HelpEntry(group, " / ".join(keys), description, enabled, shown)
        for (group, _, _, description), (keys, enabled, shown) in merged.items()
    ]
    order = {group: index for index, (group, _) in enumerate(GROUPS)}
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
            what = Text.assemble(entry.description, " ", (f"({NOT_NOW})", "italic"))
            table.add_row(Text(entry.keys, style="dim"), what)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of ``screen`` (the one it was opened over) and the app's, grouped; scrollable."""

    # Kept with the screen so the help looks the same over any screen it is opened on.
    CSS_PATH = "help.tcss"

    BINDINGS = [
        Binding("escape", "close", "关闭 close"),
        Binding("question_mark", "close", "关闭 close", show=False),
        Binding("q", "close", "关闭 close", show=False),
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
            box.border_title = "帮助 Keys"
            with VerticalScroll(id="help-keys"):
                first = True
                for group, heading in GROUPS:
                    rows = [e for e in self.entries if e.group == group]
                    if rows:
                        yield Static(
                            heading, classes="help--heading" + ("" if first else " -later")
                        )
                        first = False
                        yield Static(_table(rows, key_width), id=f"help-{group}")
            yield Static(
                "esc ? q [@click=screen.close]关闭 close[/] · ↑↓ pgup pgdn 滚动 scroll"
                " · ^p 全部命令 palette",
                classes="help--hint",
            )

    def on_mount(self) -> None:
        self.query_one("#help-keys").focus()

    def on_click(self, event: events.Click) -> None:
        if event.widget is self:  # a click outside the box closes it, as Esc does
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
