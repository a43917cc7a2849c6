"""Provides how a phone number is shown where it must not be read in full: ``138****8000``.

Staff numbers (``contacts``) and the numbers of people who report a case (``incidents``) are
personal data: listings, the audit log and every screen show them masked. Both packages sit
above the store and beside each other, so the one masking rule lives here, where both reach it
(``contacts.phones`` re-exports it). libphonenumber's metadata loads on the first number masked.
"""

from __future__ import annotations

import re

DEFAULT_REGION = "CN"
MASK = "*"
# A mainland mobile in E.164, the form nearly every stored number has: masked without
# libphonenumber's parse (~70 µs a number: 2 s of a 30,000-person drill's evaluation).
_CN_MOBILE = re.compile(r"\+861[3-9][0-9]{9}")


def mask_phone(e164: str | None, region: str = DEFAULT_REGION) -> str:
    """A number as listings show it: national form, all but the first 3 and last 4 digits hidden.

    ``+8613800138000`` → ``138****8000``; a number of another country keeps its ``+CC``. A
    number already masked (it holds a ``*``) is returned as it is, so masking twice is harmless.
    """
    if not e164:
        return ""
    if MASK in e164:
        return e164
    if region == "CN" and _CN_MOBILE.fullmatch(e164):
        return e164[3:6] + MASK * 4 + e164[-4:]
    import phonenumbers
    from phonenumbers import NumberParseException

    try:
        number = phonenumbers.parse(e164, region)
        own = phonenumbers.region_code_for_number(number) == region
        digits = str(number.national_number)
        prefix = "" if own else f"+{number.country_code} "
    except NumberParseException:
        digits, prefix = "".join(c for c in e164 if c.isdigit()), ""
    if len(digits) <= 7:
        return prefix + digits[:2] + MASK * max(len(digits) - 2, 0)
    return prefix + digits[:3] + MASK * (len(digits) - 7) + digits[-4:]
