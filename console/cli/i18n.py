"""Provides click's side of the translations: help texts shown in the chosen language.

Click reads help texts when the commands are defined (at import), before ``--lang`` is known,
so :func:`translate_commands` rewrites them in place once the language is chosen, keeping the
English originals to translate from. Click's own words ("Usage:", "Error: ...") come through
:mod:`gettext`'s global domain, which :func:`store.i18n.set_language` points at our catalog;
:data:`CLICK_STRINGS` lists them so that the catalog holds them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from functools import cache

import click
from rich.cells import cell_len

from store.i18n import N_, _, ngettext

CLICK_STRINGS = (
    N_("Usage:"),
    N_("Options"),
    N_("Commands"),
    N_("Positional arguments"),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Invalid value: {message}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing command."),
    N_("No such option {name!r}."),
    N_("No such command {name!r}."),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("Aborted!"),
    N_("default: {default}"),
    N_("env var: {var}"),
    N_("required"),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value} is not in the range {range}."),
    N_("Option {name!r} does not take a value."),
    N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."),
    N_("file"),
    N_("directory"),
    N_("path"),
    ngettext(
        "Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})", 2
    ),
    ngettext("{value!r} is not {choice}.", "{value!r} is not one of {choices}.", 2),
    ngettext(
        "Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments.", 2
    ),
)


# One breakable unit: a CJK character (or full-width punctuation), a run of other non-space
# characters (a word, an option, a number), or a run of spaces. Compiled on first use (help
# texts only): ~5 ms that opening the console need not pay.
@cache
def _token() -> re.Pattern[str]:
    return re.compile(
        r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]|[^\s\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]+|\s+"
    )


@cache
def _cjk() -> re.Pattern[str]:
    return re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")


# Never at the start of a line (kinsoku): closing punctuation stays with what it closes.
_NO_START = set("，。、；：！？）》」』】〕…,.;:!?)")


def wrap_cells(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` terminal cells, breaking between words or
    between any two Chinese characters (click's wrapping breaks at spaces only and counts
    characters, so a Chinese paragraph ran on as one line twice the terminal's width).
    Closing punctuation never starts a line: it hangs one character past the width, as in
    Chinese typesetting (click's formatter keeps two columns spare)."""
    lines: list[str] = []
    line = ""
    for token in _token().findall(" ".join(text.split())):
        if token.isspace():
            if line:
                line += " "
            continue
        if line and cell_len(line) + cell_len(token) > width and token not in _NO_START:
            lines.append(line.rstrip())
            line = ""
        line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


class HelpFormatter(click.HelpFormatter):
    """Click's formatter, wrapping text with Chinese in it by display width."""

    def write_text(self, text: str) -> None:
        if not _cjk().search(text):
            super().write_text(text)
            return
        indent = " " * self.current_indent
        width = max(20, (self.width or 80) - self.current_indent)
        blocks = []
        for paragraph in text.split("\n\n"):
            if paragraph.startswith("\b"):  # click's mark for "do not rewrap"
                kept = paragraph[1:].strip("\n").splitlines()
            else:
                kept = wrap_cells(paragraph, width)
            blocks.append("\n".join(indent + line for line in kept))
        self.write("\n\n".join(blocks))
        self.write("\n")

    def write_dl(
        self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        """Click's definition list (options, commands), its second column wrapped by display
        width when it holds Chinese; otherwise click's own."""
        rows = list(rows)
        if not any(_cjk().search(second) for _first, second in rows):
            super().write_dl(rows, col_max, col_spacing)
            return
        first_col = min(max((cell_len(first) for first, _s in rows), default=0), col_max)
        first_col += col_spacing
        text_width = max((self.width or 80) - first_col - 2, 10)
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if cell_len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - cell_len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = wrap_cells(second, text_width) or [""]
            self.write(f"{lines[0]}\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n")


class Context(click.Context):
    formatter_class = HelpFormatter


def _walk(command: click.Command) -> list[click.Command]:
    out = [command]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            out += _walk(sub)
    return out


def _original(obj: object, attr: str) -> str | None:
    """The English text of ``obj.attr``, remembered the first time it is translated."""
    memo = f"_dutydesk_en_{attr}"
    if memo not in obj.__dict__:
        obj.__dict__[memo] = getattr(obj, attr, None)
    value = obj.__dict__[memo]
    return value if isinstance(value, str) else None


def translate_commands(command: click.Command) -> None:
    """Put every help text of ``command`` and its subcommands in the current language."""
    for cmd in _walk(command):
        cmd.context_class = Context
        for attr in ("help", "short_help", "epilog"):
            text = _original(cmd, attr)
            if text:
                setattr(cmd, attr, _(inspect.cleandoc(text).partition("\f")[0].rstrip()))
        # click makes the --help option itself, once, when the command is first parsed (so
        # before --lang is read): it is not in cmd.params.
        made = getattr(cmd, "_help_option", None)
        params = [*cmd.params, made] if isinstance(made, click.Option) else cmd.params
        for param in params:
            if isinstance(param, click.Option):
                text = _original(param, "help")
                if text:
                    param.help = _(text)
