"""Provides Textual's side of the translations: key descriptions in the chosen language.

Key bindings are class attributes, built when the screens are imported; their descriptions
are English message ids (marked with ``N_``). :func:`translate_bindings` rewrites the bindings
of every widget class in the current language — the app calls it before it builds a screen,
so the footer, the help screen and the command palette all read the translated words.
"""

from __future__ import annotations

from dataclasses import replace

from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode

from store.i18n import _, language

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
