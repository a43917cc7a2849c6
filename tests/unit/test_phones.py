"""Phone numbers: E.164 normalisation with libphonenumber, clear errors, masking."""

from __future__ import annotations

import pytest

from contacts.phones import mask_phone, normalize_phone
from store.errors import InvalidInput


@pytest.mark.parametrize(
    "text",
    ["13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+8613800138000"],
)
def test_ways_of_writing_one_mobile_number_give_one_e164(text: str) -> None:
    assert normalize_phone(text) == "+8613800138000"


def test_landline_with_area_code() -> None:
    assert normalize_phone("010-12345678") == "+861012345678"


def test_region_decides_numbers_without_a_country_code() -> None:
    assert normalize_phone("(202) 456-1111", "US") == "+12024561111"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "required"),
        ("abc", "not a phone number"),
        ("1380013800", "not a valid phone number in CN"),  # one digit short
        ("12345", "not a valid phone number"),
    ],
)
def test_bad_numbers_are_refused_naming_the_field(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as info:
        normalize_phone(text, field="电话")
    assert info.value.field == "电话"


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613800138000", "138****8000"),
        ("+861012345678", "101***5678"),
        ("+12024561111", "+1 202***1111"),
        ("", ""),
        (None, ""),
    ],
)
def test_masking_hides_the_middle_digits(e164: str | None, masked: str) -> None:
    assert mask_phone(e164) == masked
