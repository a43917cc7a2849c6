"""Provides click's side of the translations: help texts shown in the chosen language.

Click reads help texts when the commands are defined (at import), before ``--lang`` is known,
so :func:`translate_commands` rewrites them in place once the language is chosen, keeping the
English originals to translate from. Click's own words ("Usage:", "Error: ...") come through
:mod:`gettext`'s global domain, which :func:`store.i18n.set_language` points at our catalog;
:data:`CLICK_STRINGS` lists them so that the catalog holds them.
"""

from __future__ import annotations

import inspect

import click

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
        for attr in ("help", "short_help", "epilog"):
            text = _original(cmd, attr)
            if text:
                setattr(cmd, attr, _(inspect.cleandoc(text).partition("\f")[0].rstrip()))
        for param in cmd.params:
            if isinstance(param, click.Option):
                text = _original(param, "help")
                if text:
                    param.help = _(text)
