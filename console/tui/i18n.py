"""Provides Textual's side of the translations: key descriptions and Textual's own palette
commands in the chosen language.

Key bindings are class attributes, built when the screens are imported; their descriptions
are English message ids (marked with ``N_``). :func:`translate_bindings` rewrites the bindings
of every widget class in the current language — the app calls it before it builds a screen,
so the footer, the help screen and the command palette all read the translated words.
Textual's built-in palette commands (Theme, Quit, Keys, Screenshot...) come in English;
:func:`translate_system_commands` puts them in the current language.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from textual.app import SystemCommand
from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode

from store.i18n import N_, _, language

# Textual's own palette commands (textual.app.App.get_system_commands, 8.x): its English title
# and help -> ours, as message ids. A command Textual adds later stays in English until listed.
SYSTEM_COMMANDS = {
    "Theme": N_("Theme"),
    "Change the current theme": N_("Change the colour theme"),
    "Quit": N_("Quit"),
    "Quit the application as soon as possible": N_("Quit the console"),
    "Keys": N_("Key panel"),
    "Hide the keys and widget help panel": N_("Hide the panel of keys and help"),
    "Show help for the focused widget and a summary of available keys": N_(
        "Show the help of the focused field and a summary of the keys"
    ),
    "Minimize": N_("Minimize"),
    "Minimize the widget and restore to normal size": N_("Restore the widget to its normal size"),
    "Maximize": N_("Maximize"),
    "Maximize the focused widget": N_("Maximize the focused widget"),
    "Screenshot": N_("Screenshot"),
    "Save an SVG 'screenshot' of the current screen": N_(
        "Save a picture (SVG) of the current screen"
    ),
}

# (class, key, action) -> the English description and tooltip.
_ORIGINALS: dict[tuple[type, str, str], tuple[str, str]] = {}
# class -> the language its bindings are in now.
_DONE: dict[type, str] = {}


def _classes(base: type) -> list[type]:
    out: list[type] = []
    subclasses: list[type] = base.__subclasses__()
    for sub in subclasses:
        out.append(sub)
        out += _classes(sub)
    return out


def translate_bindings() -> None:
    """Put the descriptions of every widget class's bindings in the current language.

    Cheap to call again: classes already in the current language are skipped, so a screen
    imported late (a dialog) is caught by the next call (the app calls it on every push).
    """
    lang = language()
    for cls in _classes(DOMNode):
        merged: BindingsMap | None = cls.__dict__.get("_merged_bindings")
        if merged is None or _DONE.get(cls) == lang:
            continue
        _DONE[cls] = lang
        for key, bindings in merged.key_to_bindings.items():
            changed: list[Binding] = []
            for binding in bindings:
                memo = (cls, key, binding.action)
                description, tooltip = _ORIGINALS.setdefault(
                    memo, (binding.description, binding.tooltip)
                )
                changed.append(
                    replace(
                        binding,
                        description=_(description) if description else description,
                        tooltip=_(tooltip) if tooltip else tooltip,
                    )
                )
            merged.key_to_bindings[key] = changed


def translate_system_commands(commands: Iterable[SystemCommand]) -> Iterator[SystemCommand]:
    """Textual's built-in palette commands with their title and help in the current language."""
    for command in commands:
        title = SYSTEM_COMMANDS.get(command.title)
        help_ = SYSTEM_COMMANDS.get(command.help)
        yield command._replace(
            title=_(title) if title else command.title,
            help=_(help_) if help_ else command.help,
        )
