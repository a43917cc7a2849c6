"""Provides the translations: English message ids, Simplified Chinese from a gettext catalog.

Every user-visible string of the console and the CLI is written in English in the code and
wrapped in :func:`_` (translated where it is used) or marked with :func:`N_` (translated later,
where it is shown: click help texts, key bindings, tables of labels built at import). The
Chinese lives in ``store/locale/zh_CN/LC_MESSAGES/dutydesk.po`` and its compiled ``.mo``, read
with the standard library's :mod:`gettext`; ``python -m tools.i18n`` extracts, checks and
compiles them (``tests/unit/test_i18n.py`` fails on any string without a translation).

The language is chosen once per process, before anything is shown: ``--lang``, else ``[ui]
language`` in the configuration, else the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
``LANG``, the order gettext uses: ``LANG=zh_CN.UTF-8`` gives Chinese), else English.

Placeholders are named, ``_("case {number} is overdue").format(number=...)``, so a
translation can move them; never build a message id with an f-string.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "dutydesk"
LOCALE_DIR = Path(__file__).parent / "locale"
ENGLISH = "en"
CHINESE = "zh_CN"
LANGUAGES = (ENGLISH, CHINESE)
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_current = ENGLISH
_catalogs: dict[str, gettext.NullTranslations] = {}


def normalize(value: str | None) -> str | None:
    """``zh``, ``zh_CN``, ``zh-cn``, ``zh_CN.UTF-8``, ``zh_Hans`` -> ``zh_CN``; ``en*``, ``C``,
    ``POSIX`` -> ``en``; anything else (or nothing) -> ``None``."""
    if not value:
        return None
    tag = value.strip().split(".")[0].split("@")[0].replace("-", "_").lower()
    if tag in ("zh", "zh_cn", "zh_hans", "zh_hans_cn", "zh_sg", "chinese"):
        return CHINESE
    if tag in ("c", "posix", "en", "english") or tag.startswith("en_"):
        return ENGLISH
    return None


def from_locale(environ: Mapping[str, str] | None = None) -> str | None:
    """The language the locale asks for, gettext's way (first variable set wins)."""
    env = os.environ if environ is None else environ
    for name in LOCALE_VARIABLES:
        value = env.get(name, "")
        if not value:
            continue
        # LANGUAGE may list several ("zh_CN:en"); the first one we have wins.
        for part in value.split(":"):
            found = normalize(part)
            if found is not None:
                return found
        return None
    return None


def choose(
    flag: str | None = None,
    configured: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``--lang``, else the configuration's ``[ui] language``, else the locale, else English.

    ``flag`` and ``configured`` must name a language we have (they are checked where they are
    read); an unknown locale just means English.
    """
    for given in (flag, configured):
        found = normalize(given)
        if found is not None:
            return found
    return from_locale(environ) or ENGLISH


def _catalog(lang: str) -> gettext.NullTranslations:
    if lang not in _catalogs:
        if lang == ENGLISH:
            _catalogs[lang] = gettext.NullTranslations()
        else:
            # fallback=False: a missing catalog is a broken install, and must say so.
            _catalogs[lang] = gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])
    return _catalogs[lang]


def set_language(lang: str) -> str:
    """Make ``lang`` (anything :func:`normalize` takes) the language of this process."""
    global _current
    found = normalize(lang)
    if found is None:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    _catalog(found)
    _current = found
    # Libraries that call gettext.gettext() (click: "Usage:", "Error: ...") look in the global
    # domain, in the language the environment names: point both at ours.
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = found
    return found


def language() -> str:
    """The language of this process: ``en`` or ``zh_CN``."""
    return _current


def _(message: str) -> str:
    """``message`` in the current language (itself in English, or when it has no entry)."""
    if _current == ENGLISH:
        return message
    return _catalogs[_current].gettext(message)


def N_(message: str) -> str:
    """Mark ``message`` for translation where it is shown; returns it unchanged."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count``, in the current language."""
    if _current == ENGLISH:
        return singular if count == 1 else plural
    return _catalogs[_current].ngettext(singular, plural, count)
