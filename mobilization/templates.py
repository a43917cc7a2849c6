"""Provides the message templates of a mobilization from a case: what people are told.

A call-out must say where, when, what to do and where to report, not only the case's title.
Each incident category has a built-in template in Chinese and in English (the console's
language chooses), whose ``{what}`` (what to do) and ``{report}`` (where to report) are the
category's own; the office replaces any of them with ``[mobilize.templates]`` in the
configuration, keyed by category code or ``default``::

    [mobilize.templates]
    default = "{time} {place}：{title}。请{what}，到{report}报到。"
    accident_disaster = "{time} {place} {title}，请带灭火器到{report}集合。"

A template names only the fields of :data:`FIELDS`; :func:`check_template` refuses anything
else when the configuration is read, so a typo never reaches a person's phone. The case's words
(category and type labels, the time in the office's zone) are the caller's: this module knows
no incident vocabulary, only the category codes that key its built-in texts.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from mobilization.vocabulary import MAX_MESSAGE
from store.errors import InvalidInput
from store.i18n import CHINESE, language

DEFAULT = "default"
"""The key of the template used for a category without one of its own."""

FIELDS = ("title", "place", "time", "what", "report", "number", "category", "type", "grid")
"""The fields a template may name, each as ``{name}``."""


@dataclass(frozen=True)
class CaseFacts:
    """What a template is filled with: the case, in the words people read.

    Attributes:
        title: the case's title.
        place: where it is (the case's location, else its grid).
        time: when it was reported, already in the office's zone.
        category: the category's code (chooses the template).
        category_label: the category in words.
        type_label: the type in words.
        number: the case's number.
        grid: the grid's code or name ("" when none).
    """

    title: str
    place: str
    time: str
    category: str
    category_label: str = ""
    type_label: str = ""
    number: str = ""
    grid: str = ""


@dataclass(frozen=True)
class _Builtin:
    what: str
    report: str


_FRAMES = {
    CHINESE: "{time}，{place}：{title}。请{what}，到{report}报到。",
    "en": "{time}, {place}: {title}. Please {what}; report to {report}.",
}
# category -> what to do and where to report, per language.
_BUILTIN: dict[str, dict[str, _Builtin]] = {
    CHINESE: {
        "natural_disaster": _Builtin("立即到岗，转移危险区域群众，巡查隐患点", "社区应急物资点"),
        "accident_disaster": _Builtin(
            "携带灭火和救援器材赶赴现场，协助疏散群众、设置警戒", "现场指挥点"
        ),
        "public_health": _Builtin("做好个人防护，到岗开展排查和人员登记", "社区卫生服务站"),
        "social_security": _Builtin("立即到岗维持秩序，劝导疏散围观群众", "社区警务室"),
        "environment": _Builtin("到场查看并组织清理", "现场"),
        "facilities": _Builtin("到场设置警示、看护现场，等候维修", "现场"),
        "dispute": _Builtin("到场了解情况，劝解双方", "社区调解室"),
        "safety_hazard": _Builtin("到场核查隐患，设置警示", "现场"),
        DEFAULT: _Builtin("立即到岗待命", "网格工作站"),
    },
    "en": {
        "natural_disaster": _Builtin(
            "come on duty at once, move people out of danger zones and patrol the hazard spots",
            "the community emergency supplies point",
        ),
        "accident_disaster": _Builtin(
            "bring extinguishers and rescue kit to the scene, help evacuate people and cordon"
            " off the area",
            "the on-site command post",
        ),
        "public_health": _Builtin(
            "put on protective gear and come to trace and register people",
            "the community health station",
        ),
        "social_security": _Builtin(
            "come at once to keep order and move onlookers on", "the community police office"
        ),
        "environment": _Builtin("go and check the site and organise the clean-up", "the site"),
        "facilities": _Builtin(
            "go and put up warnings and guard the site until it is repaired", "the site"
        ),
        "dispute": _Builtin("go and hear both sides and calm them", "the mediation room"),
        "safety_hazard": _Builtin("go and check the hazard and put up warnings", "the site"),
        DEFAULT: _Builtin("come on duty at once and stand by", "the grid station"),
    },
}


def check_template(text: object, field: str) -> str:
    """A template as configured, checked: a non-empty string naming only :data:`FIELDS`.

    Raises:
        InvalidInput: not a string, empty, too long, unbalanced braces, or a field that is not
            one of :data:`FIELDS` (``field`` names the configuration key).
    """
    fields = ", ".join("{" + f + "}" for f in FIELDS)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"must be a non-empty text using {fields}", field)
    if len(text) > MAX_MESSAGE:
        raise InvalidInput(f"is {len(text)} characters; at most {MAX_MESSAGE}", field)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(f"{exc} (write {{{{ and }}}} for a brace)", field) from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            raise InvalidInput(f"{{{name}}} is not a field; use {fields}", field)
    return text.strip()


def check_templates(raw: object, field: str) -> dict[str, str]:
    """``[mobilize.templates]`` checked: category (or ``default``) -> template.

    Which keys are categories is the caller's to check (it knows the incident vocabulary).

    Raises:
        InvalidInput: not a table, or a bad template (``field`` dotted with its key).
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput("must be a table of category = template", field)
    return {str(key): check_template(value, f"{field}.{key}") for key, value in raw.items()}


def _builtin(category: str, lang: str) -> _Builtin:
    table = _BUILTIN.get(lang, _BUILTIN["en"])
    return table.get(category) or table[DEFAULT]


def template_for(
    category: str, overrides: Mapping[str, str] | None = None, *, lang: str | None = None
) -> str:
    """The template a case of ``category`` is told with: the office's own for the category,
    else its ``default``, else the built-in one in ``lang`` (by default the console's)."""
    overrides = overrides or {}
    found = overrides.get(category) or overrides.get(DEFAULT)
    if found:
        return found
    return _FRAMES.get(lang or language(), _FRAMES["en"])


def fill(
    facts: CaseFacts, overrides: Mapping[str, str] | None = None, *, lang: str | None = None
) -> str:
    """The message for a case: its category's template filled with the case's facts.

    ``{what}`` and ``{report}`` are the category's built-in words in ``lang`` (by default the
    console's); the result is one line, cut to :data:`~mobilization.vocabulary.MAX_MESSAGE`.
    """
    chosen = lang or language()
    builtin = _builtin(facts.category, chosen)
    values = {
        "title": facts.title,
        "place": facts.place or facts.grid,
        "time": facts.time,
        "what": builtin.what,
        "report": builtin.report,
        "number": facts.number,
        "category": facts.category_label or facts.category,
        "type": facts.type_label,
        "grid": facts.grid,
    }
    text = template_for(facts.category, overrides, lang=chosen).format_map(values)
    return " ".join(text.split())[:MAX_MESSAGE]
