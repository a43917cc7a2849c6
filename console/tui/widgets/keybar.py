"""Provides the key bar: the footer line of every screen, one key per action, in one widget.

Textual's ``Footer`` builds a widget per key and rebuilds them all whenever the screen's
bindings change (13-45 ms each time, several times while a screen opens: measured with
textual 8.2.8 on the incidents screen). The key bar draws the same line as one piece of text
and redraws it when the bindings change, which costs well under a millisecond. It shows what
the footer showed: every shown binding of the focused chain once per action, greyed when the
action is not possible now (the key then rings the bell), the command palette key at the
right end; a click on a key presses it. On a narrow terminal the words give way before the
keys do (:func:`fit_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.widget import Widget

PALETTE_GAP = "▏"
MIN_WORD = 6  # cells a shortened description keeps, "…" included


@dataclass(frozen=True)
class KeyWords:
    """How the keys are worded to fit: each key's description ("" for the key alone, ``None``
    when it is left out), the palette's ("" for its key alone), the space after each key."""

    descriptions: list[str | None]
    palette: str
    spaced: bool


def fit_keys(
    items: list[tuple[str, str, bool, bool]], palette: tuple[str, str] | None, width: int
) -> KeyWords:
    """Word ``items`` (key as shown, description, enabled, the screen's own) to fit ``width``.

    The keys give way in steps, each taken only when the line is still too long: the app's
    keys (not the screen's own; the palette lists them) leave from the end; the palette's
    word and the space after each key go; keys that do nothing now show as the key alone;
    the longest descriptions are cut with "…", down to MIN_WORD cells; last, keys at the end
    leave. The keys of the screen stay on the line as long as they can.
    """
    descriptions: list[str | None] = [d for _shown, d, _enabled, _own in items]
    palette_word = palette[1] if palette else ""
    spaced = True

    def length() -> int:
        pad = 1 if spaced else 0
        total = sum(
            1 + cell_len(shown) + (1 + cell_len(d) if d else 0) + pad
            for (shown, *_rest), d in zip(items, descriptions, strict=True)
            if d is not None
        )
        if palette is not None:
            total += len(PALETTE_GAP) + cell_len(palette[0])
            total += 2 + cell_len(palette_word) if palette_word else 0
        return total

    def done() -> KeyWords | None:
        return KeyWords(descriptions, palette_word, spaced) if length() <= width else None

    for index in reversed(range(len(items))):
        if (fits := done()) is not None:
            return fits
        if not items[index][3]:
            descriptions[index] = None
    if (fits := done()) is not None:
        return fits
    palette_word, spaced = "", False
    if (fits := done()) is not None:
        return fits
    descriptions = [
        None if d is None else d if item[2] else ""
        for item, d in zip(items, descriptions, strict=True)
    ]
    while length() > width:
        longest = max(range(len(descriptions)), key=lambda i: cell_len(descriptions[i] or ""))
        word = descriptions[longest]
        if not word or cell_len(word) <= MIN_WORD:
            break
        descriptions[longest] = shorten(word, cell_len(word) - 1)
    while length() > width and any(d is not None for d in descriptions):
        last = max(i for i, d in enumerate(descriptions) if d is not None)
        descriptions[last] = None
    return KeyWords(descriptions, palette_word, spaced)


def shorten(word: str, width: int) -> str:
    """``word`` cut to at most ``width`` cells at a character, ending in "…"."""
    kept = ""
    for char in word:
        if cell_len(kept + char) + 1 > width:
            break
        kept += char
    return kept.rstrip() + "…"


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

    def _items(
        self,
    ) -> tuple[list[tuple[str, str, str, bool, bool]], tuple[str, str, str, bool] | None]:
        """(key, key as shown, description, enabled, the screen's own rather than the app's)
        per action, and the palette's entry."""
        palette_key = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else None
        items: list[tuple[str, str, str, bool, bool]] = []
        palette: tuple[str, str, str, bool] | None = None
        seen: set[str] = set()
        for key, (node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            if key == palette_key:
                palette = (key, self.app.get_key_display(binding), binding.description, enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            shown = self.app.get_key_display(binding)
            items.append((key, shown, binding.description, enabled, node is not self.app))
        return items, palette

    def render(self) -> RenderResult:
        key_style = self.get_component_rich_style("key-bar--key")
        text_style = self.get_component_rich_style("key-bar--description")
        dim = self.get_component_rich_style("key-bar--disabled")
        items, palette = self._items()
        width = self.size.width
        words = fit_keys(
            [
                (shown, description, enabled, own)
                for _key, shown, description, enabled, own in items
            ],
            None if palette is None else (palette[1], palette[2]),
            width,
        )
        tail = Text(no_wrap=True)
        if palette is not None:
            tail.append(PALETTE_GAP)
            tail.append(palette[1], key_style)
            if words.palette:
                tail.append(f" {words.palette} ", text_style)
        room = max(0, width - tail.cell_len)
        line = Text(no_wrap=True, overflow="crop")
        spans: list[tuple[int, int, str, bool]] = []
        pad = " " if words.spaced else ""
        for (key, shown, _description, enabled, _own), description in zip(
            items, words.descriptions, strict=True
        ):
            if description is None:
                continue  # no room left for this key
            words_style = text_style + dim if not enabled else text_style
            piece = Text.assemble(
                (f" {shown}", key_style + dim if not enabled else key_style),
                (f" {description}{pad}" if description else pad, words_style),
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
