"""Provides the one check every piece of text a person types or a file holds goes through.

Text ends up on a duty officer's terminal and in the permanent audit log. A control character
(an ANSI escape clears the screen or retitles the terminal, a NUL cuts a C string, a bidi
override reverses what a name appears to say) or a 100 KB "title" does harm there, so
:func:`clean_text` refuses them with an error that names the field: newlines and tabs only
where the field is multi-line (notes), and every field has a length limit (:data:`LIMITS`,
documented in the README). Nothing is silently cut or stripped but surrounding spaces.
"""

from __future__ import annotations

import re
import unicodedata

from store.errors import InvalidInput
from store.i18n import _

# Field kind -> the most characters it may hold.
LIMITS: dict[str, int] = {
    "operator": 64,  # --as, operator names
    "name": 100,  # people, teams, units
    "code": 64,  # keys and codes
    "phone": 40,
    "email": 254,
    "address": 200,
    "title": 200,  # a case's title, a mobilization's subject
    "short": 200,  # categories, places, roles and other one-line values
    "message": 1000,  # a mobilization's message
    "note": 4000,  # notes, descriptions, reasons, feedback
}

# C0 and C1 controls but tab/newline/CR, DEL, and the bidi controls (Trojan Source).
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile("[\t\r\n\u2028\u2029]")
# Everything a one-line field refuses, in one pattern: what a bulk reader (the contacts import)
# looks for to skip the per-field check on clean rows, and what an export makes visible.
UNSAFE_IN_ONE_LINE = re.compile(f"{_CONTROL.pattern}|{_LINE_BREAKS.pattern}")


def clean_text(
    value: str, field: str, *, kind: str = "short", multiline: bool = False, required: bool = False
) -> str:
    """``value`` with surrounding spaces removed, or :class:`InvalidInput` naming ``field``.

    Args:
        value: the text as given.
        field: the field's name, for the error (``title``, ``--as``, ``name``...).
        kind: a key of :data:`LIMITS`: how long the field may be.
        multiline: newlines (and tabs) allowed, as in notes.
        required: an empty value is an error.

    Raises:
        InvalidInput: a control character (named by its code point), a line break in a one-line
            field, more characters than the field's limit, or empty when required.
    """
    text = unicodedata.normalize("NFC", value).strip()
    bad = _CONTROL.search(text)
    if bad is not None:
        raise InvalidInput(
            _("contains a control character (U+{code:04X}) at position {pos}").format(
                code=ord(bad.group()), pos=bad.start() + 1
            ),
            field,
        )
    if not multiline:
        brk = _LINE_BREAKS.search(text)
        if brk is not None:
            raise InvalidInput(
                _("must be one line (a line break or tab at position {pos})").format(
                    pos=brk.start() + 1
                ),
                field,
            )
    limit = LIMITS[kind]
    if len(text) > limit:
        raise InvalidInput(
            _("is {length} characters long; at most {limit} are allowed").format(
                length=len(text), limit=limit
            ),
            field,
        )
    if required and not text:
        raise InvalidInput(_("must not be empty"), field)
    return text
