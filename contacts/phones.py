"""Provides phone-number validation, E.164 normalisation and masking for people's numbers.

Numbers are parsed with Google's libphonenumber (the ``phonenumbers`` package) rather than a
regular expression: it knows every region's lengths and prefixes, so a mistyped digit is caught
at import, and ``138 0013 8000``, ``+86 138-0013-8000`` and ``8613800138000`` all become the
same stored ``+8613800138000``. Numbers are personal data: listings show them masked
(``138****8000``) unless an unmasked view is asked for explicitly. libphonenumber's metadata
costs ~30 ms to import: it loads on the first number handled, not with the console. The
masking rule itself lives in ``store.masking`` (cases' reporters are masked by it too) and is
re-exported here.
"""

from __future__ import annotations

from store.errors import InvalidInput
from store.i18n import _
from store.masking import DEFAULT_REGION, mask_phone

__all__ = ["DEFAULT_REGION", "mask_phone", "normalize_phone", "shown_key"]


def normalize_phone(text: str, region: str = DEFAULT_REGION, *, field: str = "phone") -> str:
    """The E.164 form of ``text`` (``+8613800138000``).

    Args:
        text: a number as people write it, with or without the country code.
        region: ISO 3166 region for numbers written without a country code.
        field: the field named in the error.

    Raises:
        InvalidInput: the text is not a possible and valid number for that region.
    """
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat

    raw = (text or "").strip()
    if not raw:
        raise InvalidInput(_("a phone number is required"), field)
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        raise InvalidInput(
            _("{text!r} is not a phone number ({reason})").format(text=raw, reason=exc), field
        ) from exc
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or region
        raise InvalidInput(
            _("{text!r} is not a valid phone number in {region}").format(text=raw, region=where),
            field,
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def shown_key(key: str, region: str = DEFAULT_REGION) -> str:
    """A person's key as listings and the audit log show it: masked when it is a phone number.

    A person added without a key of their own is keyed by their E.164 number (personal data);
    every other key is shown as it is.
    """
    if key.startswith("+") and key[1:].isdigit():
        return mask_phone(key, region)
    return key
