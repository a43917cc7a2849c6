"""Provides the key bar: the footer line of every screen, one key per action, in one widget.

Textual's ``Footer`` builds a widget per key and rebuilds them all whenever the screen's
bindings change (13-45 ms each time, several times while a screen opens: measured with
textual 8.2.8 on the incidents screen). The key bar draws the same line as one piece of text
and redraws it when the bindings change, which costs well under a millisecond. It shows what
the footer showed: every shown binding of the focused chain once per action, greyed when the
action is not possible now (the key then rings the bell), the command palette key at the
right end; a click on a key presses it.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.widget import Widget

PALETTE_GAP = "▏"


class KeyBar(Widget, can_focus=False):
    """One line of ``key description`` pairs for the active bindings of the screen."""

    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        .key-bar--key {
            color: $footer-key-foreground;
            text-style: bold;
        }
        .key-bar--description {
            color: $footer-description-foreground;
        }
        .key-bar--disabled {
            text-style: dim;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        # (first cell, last cell + 1, key, enabled) of each key drawn, for clicks.
        self._spans: list[tuple[int, int, str, bool]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh()

    def _items(self) -> tuple[list[tuple[str, str, str, bool]], tuple[str, str, str, bool] | None]:
        """(key, key as shown, description, enabled) per action, and the palette's entry."""
        palette_key = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else None
        items: list[tuple[str, str, str, bool]] = []
        palette: tuple[str, str, str, bool] | None = None
        seen: set[str] = set()
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            if key == palette_key:
                palette = (key, self.app.get_key_display(binding), binding.description, enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            items.append((key, self.app.get_key_display(binding), binding.description, enabled))
        return items, palette

    def render(self) -> RenderResult:
        key_style = self.get_component_rich_style("key-bar--key")
        text_style = self.get_component_rich_style("key-bar--description")
        dim = self.get_component_rich_style("key-bar--disabled")
        items, palette = self._items()
        width = self.size.width
        tail = Text(no_wrap=True)
        if palette is not None:
            tail.append(PALETTE_GAP)
            tail.append(palette[1], key_style)
            tail.append(f" {palette[2]} ", text_style)
        room = max(0, width - tail.cell_len)
        line = Text(no_wrap=True, overflow="crop")
        spans: list[tuple[int, int, str, bool]] = []
        for key, shown, description, enabled in items:
            piece = Text.assemble(
                (f" {shown}", key_style + dim if not enabled else key_style),
                (f" {description} ", text_style + dim if not enabled else text_style),
            )
            if line.cell_len + piece.cell_len > room:
                break
            spans.append((line.cell_len, line.cell_len + piece.cell_len, key, enabled))
            line.append_text(piece)
        line.append(" " * (room - line.cell_len))
        if palette is not None:
            start = line.cell_len
            spans.append((start, start + tail.cell_len, palette[0], palette[3]))
            line.append_text(tail)
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key, enabled in self._spans:
            if start <= event.x < end:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return
